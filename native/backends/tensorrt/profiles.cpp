#include "profiles.h"

#include <cmath>
#include <cstdlib>
#include <limits>
#include <set>

#include "../../core/status.h"
#include "json_util.h"

namespace pixart::trt {
namespace {

[[noreturn]] void invalid(const std::string& msg) { fail(StatusCode::kInvalidArgument, msg); }

std::string dims_text(const std::vector<int64_t>& d) {
  std::string s;
  for (size_t i = 0; i < d.size(); i++) s += (i ? "x" : "") + std::to_string(d[i]);
  return s;
}

std::vector<std::string> split(const std::string& s, const std::string& sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t at; (at = s.find(sep, start)) != std::string::npos; start = at + sep.size()) {
    out.push_back(s.substr(start, at - start));
  }
  out.push_back(s.substr(start));
  return out;
}

std::vector<int64_t> parse_dims(const std::string& s, const std::string& whole) {
  std::vector<int64_t> d;
  if (s.empty()) return d;  // rank 0
  for (const std::string& part : split(s, "x")) {
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(part, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (part.empty() || used != part.size()) invalid("malformed profile \"" + whole + "\": bad dims \"" + s + "\"");
    d.push_back(v);
  }
  return d;
}

Range read_range(const JsonNode& n) {
  const std::vector<int64_t> v = n.i64_array();
  if (v.size() != 3 || v[0] < 1 || v[0] > v[1] || v[1] > v[2]) n.bad("expected [min, opt, max] with 1 <= min <= opt <= max");
  return {v[0], v[1], v[2]};
}

}  // namespace

// --- OptimizationProfile ---

void OptimizationProfile::set(const std::string& input, std::vector<int64_t> min, std::vector<int64_t> opt,
                              std::vector<int64_t> max) {
  if (input.empty() || input.find_first_of("=;/| \t\n") != std::string::npos) {
    invalid("profile input name \"" + input + "\" is empty or holds one of = ; / | or whitespace");
  }
  if (min.size() != opt.size() || opt.size() != max.size()) invalid("profile for " + input + ": min/opt/max ranks differ");
  for (size_t i = 0; i < min.size(); i++) {
    if (min[i] < 1 || min[i] > opt[i] || opt[i] > max[i]) {
      invalid("profile for " + input + ": dim " + std::to_string(i) + " is not 1 <= min <= opt <= max (" +
              std::to_string(min[i]) + ", " + std::to_string(opt[i]) + ", " + std::to_string(max[i]) + ")");
    }
  }
  inputs_[input] = InputRange{std::move(min), std::move(opt), std::move(max)};
}

bool OptimizationProfile::covers(const ShapeMap& shapes, std::string* why) const {
  auto no = [&](const std::string& m) {
    if (why) *why = m;
    return false;
  };
  for (const auto& [name, dims] : shapes)
    if (!inputs_.count(name)) return no("input " + name + " is not in the profile");
  for (const auto& [name, r] : inputs_) {
    auto it = shapes.find(name);
    if (it == shapes.end()) return no("input " + name + " is not given");
    const std::vector<int64_t>& d = it->second;
    if (d.size() != r.min.size()) return no(name + " has rank " + std::to_string(d.size()) + ", the profile " +
                                            std::to_string(r.min.size()));
    for (size_t i = 0; i < d.size(); i++) {
      if (d[i] < r.min[i] || d[i] > r.max[i]) {
        return no(name + " dim " + std::to_string(i) + " = " + std::to_string(d[i]) + " is outside " +
                  std::to_string(r.min[i]) + ".." + std::to_string(r.max[i]));
      }
    }
  }
  return true;
}

std::string OptimizationProfile::canonical() const {
  std::string s;
  for (const auto& [name, r] : inputs_) {
    if (!s.empty()) s += ";";
    s += name + "=" + dims_text(r.min) + "/" + dims_text(r.opt) + "/" + dims_text(r.max);
  }
  return s;
}

OptimizationProfile OptimizationProfile::parse(const std::string& text) {
  OptimizationProfile p;
  if (text.empty()) invalid("malformed profile: empty");
  for (const std::string& entry : split(text, ";")) {
    const size_t eq = entry.find('=');
    if (eq == std::string::npos) invalid("malformed profile \"" + text + "\": no '=' in \"" + entry + "\"");
    const std::vector<std::string> mom = split(entry.substr(eq + 1), "/");
    if (mom.size() != 3) invalid("malformed profile \"" + text + "\": \"" + entry + "\" is not name=min/opt/max");
    const std::string name = entry.substr(0, eq);
    if (p.inputs_.count(name)) invalid("malformed profile \"" + text + "\": " + name + " twice");
    p.set(name, parse_dims(mom[0], text), parse_dims(mom[1], text), parse_dims(mom[2], text));
  }
  return p;
}

std::string canonical_set(const std::vector<OptimizationProfile>& set) {
  std::string s;
  for (size_t i = 0; i < set.size(); i++) s += (i ? " | " : "") + set[i].canonical();
  return s;
}

std::vector<OptimizationProfile> parse_set(const std::string& text) {
  std::vector<OptimizationProfile> out;
  for (const std::string& p : split(text, " | ")) out.push_back(OptimizationProfile::parse(p));
  return out;
}

// --- axes <-> profiles ---

OptimizationProfile profile_from_axes(const std::vector<TensorSpec>& inputs, const AxisRanges& ranges) {
  OptimizationProfile p;
  for (const TensorSpec& t : inputs) {
    std::vector<int64_t> mn, op, mx;
    for (const AxisDim& d : t.dims) {
      if (!d.dynamic()) {
        mn.push_back(d.value), op.push_back(d.value), mx.push_back(d.value);
        continue;
      }
      auto it = ranges.find(d.axis);
      if (it == ranges.end()) {
        std::string have;
        for (const auto& [k, r] : ranges) have += (have.empty() ? "" : ", ") + k;
        invalid("input " + t.name + " " + t.shape_string() + ": axis \"" + d.axis + "\" has no range (ranges given: " +
                have + ")");
      }
      mn.push_back(it->second.min), op.push_back(it->second.opt), mx.push_back(it->second.max);
    }
    p.set(t.name, mn, op, mx);
  }
  return p;
}

AxisValues bind_axes(const std::vector<TensorSpec>& inputs, const ShapeMap& shapes) {
  for (const auto& [name, dims] : shapes) {
    bool known = false;
    for (const TensorSpec& t : inputs) known = known || t.name == name;
    if (!known) invalid("the model has no input named " + name);
  }
  AxisValues v;
  for (const TensorSpec& t : inputs) {
    auto it = shapes.find(t.name);
    if (it == shapes.end()) invalid("input " + t.name + " " + t.shape_string() + " is missing");
    const std::vector<int64_t>& d = it->second;
    if (d.size() != t.dims.size()) {
      invalid("input " + t.name + " has rank " + std::to_string(d.size()) + ", expected " + t.shape_string());
    }
    for (size_t i = 0; i < d.size(); i++) {
      const AxisDim& a = t.dims[i];
      if (d[i] < 1) invalid("input " + t.name + " dim " + std::to_string(i) + " is " + std::to_string(d[i]));
      if (!a.dynamic()) {
        if (d[i] != a.value) {
          invalid("input " + t.name + " dim " + std::to_string(i) + " is " + std::to_string(d[i]) + ", the model has " +
                  t.shape_string());
        }
        continue;
      }
      auto [pos, fresh] = v.emplace(a.axis, d[i]);
      if (!fresh && pos->second != d[i]) {
        invalid("inputs disagree on axis " + a.axis + ": " + std::to_string(pos->second) + " and " +
                std::to_string(d[i]) + " (at " + t.name + " dim " + std::to_string(i) + ")");
      }
    }
  }
  return v;
}

std::string describe(const AxisValues& v) {
  std::string s;
  for (const auto& [k, x] : v) s += (s.empty() ? "" : " ") + k + "=" + std::to_string(x);
  return s;
}

// --- recipes ---

const Recipe& RecipeBook::recipe(const std::string& name) const {
  std::string have;
  for (const Recipe& r : recipes) {
    if (r.name == name) return r;
    have += (have.empty() ? "" : ", ") + r.name;
  }
  invalid(origin + ": no recipe \"" + name + "\" (recipes: " + have + ")");
}

std::map<std::string, BinTable> load_bin_tables(const std::string& path) {
  const auto doc = JsonDoc::load(path, StatusCode::kInvalidArgument);
  std::map<std::string, BinTable> out;
  for (const auto& [name, table] : doc->root().at("tables").members()) {
    BinTable t;
    t.name = name;
    for (const auto& [key, hw] : table.members()) {
      const std::vector<int64_t> v = hw.i64_array();
      if (v.size() != 2 || v[0] < 1 || v[1] < 1) hw.bad("expected [height, width] in pixels");
      char* end = nullptr;
      std::strtod(key.c_str(), &end);
      if (key.empty() || *end) table.bad("bin key \"" + key + "\" is not a number");
      t.bins.push_back({key, {v[0], v[1]}});
    }
    if (t.bins.empty()) table.bad("empty table");
    out[name] = std::move(t);
  }
  return out;
}

RecipeBook load_recipe_book(const std::string& profiles_json) {
  const auto doc = JsonDoc::load(profiles_json, StatusCode::kInvalidArgument);
  const JsonNode root = doc->root();
  RecipeBook b;
  b.origin = profiles_json;
  const size_t slash = profiles_json.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : profiles_json.substr(0, slash);
  b.tables = load_bin_tables(dir + "/" + root.at("bins_file").str());
  b.batch_axis = root.at("batch_axis").str();
  const std::vector<JsonNode> la = root.at("latent_axes").items();
  if (la.size() != 2) root.at("latent_axes").bad("expected [height axis, width axis]");
  b.latent_axes = {la[0].str(), la[1].str()};
  b.vae_scale_factor = root.at("vae_scale_factor").i64();
  if (b.vae_scale_factor < 1) root.at("vae_scale_factor").bad("must be >= 1");
  for (const auto& [kind, factors] : root.at("batch_factors").members()) {
    for (const JsonNode& f : factors.items()) b.batch_factors[kind].push_back(f.str());
    if (b.batch_factors[kind].empty()) factors.bad("no factors");
  }
  if (b.batch_factors.empty()) root.at("batch_factors").bad("no model kinds");
  for (const JsonNode& rn : root.at("recipes").items()) {
    Recipe r;
    r.name = rn.at("name").str();
    for (const Recipe& other : b.recipes)
      if (other.name == r.name) rn.at("name").bad("recipe name \"" + r.name + "\" used twice");
    r.bins = rn.at("bins").str();
    auto table = b.tables.find(r.bins);
    if (table == b.tables.end()) rn.at("bins").bad("no bin table \"" + r.bins + "\" in " + root.at("bins_file").str());
    for (const auto& [hw_key, hw] : table->second.bins) {
      if (hw[0] % b.vae_scale_factor || hw[1] % b.vae_scale_factor) {
        rn.at("bins").bad("bin " + hw_key + " (" + std::to_string(hw[0]) + "x" + std::to_string(hw[1]) +
                          ") is not a multiple of vae_scale_factor " + std::to_string(b.vae_scale_factor));
      }
    }
    for (const JsonNode& g : rn.at("aspect_ratio_groups").items()) {
      const std::vector<JsonNode> lohi = g.items();
      if (lohi.size() != 2 || lohi[0].num() > lohi[1].num()) g.bad("expected [lowest ratio, highest ratio]");
      r.aspect_ratio_groups.push_back({lohi[0].num(), lohi[1].num()});
    }
    if (r.aspect_ratio_groups.empty()) rn.at("aspect_ratio_groups").bad("no groups");
    r.opt_aspect_ratio = rn.at("opt_aspect_ratio").num();
    for (const auto& [factor, range] : rn.at("batch").members()) r.batch[factor] = read_range(range);
    for (const auto& [axis, range] : rn.at("axes").members()) {
      if (axis == b.batch_axis || axis == b.latent_axes[0] || axis == b.latent_axes[1]) {
        range.bad("axis " + axis + " comes from the batch factors or the bins, not from \"axes\"");
      }
      r.axes[axis] = read_range(range);
    }
    for (const auto& [kind, factors] : b.batch_factors)
      for (const std::string& f : factors)
        if (!r.batch.count(f)) rn.at("batch").bad("no range for factor \"" + f + "\" (used by " + kind + ")");
    b.recipes.push_back(std::move(r));
    recipe_axes(b, b.recipes.back(), b.batch_factors.begin()->first);  // every group must hold a bin
  }
  if (b.recipes.empty()) root.at("recipes").bad("no recipes");
  return b;
}

std::vector<AxisRanges> recipe_axes(const RecipeBook& book, const Recipe& recipe, const std::string& kind) {
  auto factors = book.batch_factors.find(kind);
  if (factors == book.batch_factors.end()) {
    invalid(book.origin + ": batch_factors has no entry for model kind \"" + kind + "\"");
  }
  Range batch{1, 1, 1};
  for (const std::string& f : factors->second) {
    const Range& r = recipe.batch.at(f);
    batch = {batch.min * r.min, batch.opt * r.opt, batch.max * r.max};
  }
  const BinTable& table = book.tables.at(recipe.bins);
  const int64_t s = book.vae_scale_factor;
  std::vector<AxisRanges> out;
  for (const auto& [lo, hi] : recipe.aspect_ratio_groups) {
    Range h{std::numeric_limits<int64_t>::max(), 0, 0}, w = h;
    double best = std::numeric_limits<double>::infinity();
    for (const auto& [key, hw] : table.bins) {
      const double ar = std::strtod(key.c_str(), nullptr);
      if (ar < lo || ar > hi) continue;
      h.min = std::min(h.min, hw[0] / s), h.max = std::max(h.max, hw[0] / s);
      w.min = std::min(w.min, hw[1] / s), w.max = std::max(w.max, hw[1] / s);
      if (std::fabs(ar - recipe.opt_aspect_ratio) < best) {  // the first bin wins ties, as in classify_height_width_bin
        best = std::fabs(ar - recipe.opt_aspect_ratio);
        h.opt = hw[0] / s, w.opt = hw[1] / s;
      }
    }
    if (h.max == 0) {
      invalid(book.origin + ": recipe " + recipe.name + ": aspect-ratio group [" + std::to_string(lo) + ", " +
              std::to_string(hi) + "] holds no bin of " + recipe.bins);
    }
    AxisRanges a = recipe.axes;
    a[book.batch_axis] = batch;
    a[book.latent_axes[0]] = h;
    a[book.latent_axes[1]] = w;
    out.push_back(std::move(a));
  }
  return out;
}

std::vector<OptimizationProfile> recipe_profiles(const RecipeBook& book, const Recipe& recipe, const std::string& kind,
                                                 const std::vector<TensorSpec>& inputs) {
  std::vector<OptimizationProfile> out;
  std::set<std::string> seen;
  for (const AxisRanges& a : recipe_axes(book, recipe, kind)) {
    OptimizationProfile p = profile_from_axes(inputs, a);
    if (seen.insert(p.canonical()).second) out.push_back(std::move(p));
  }
  return out;
}

// --- selection ---

ProfileChoice select_profile(const std::vector<std::vector<OptimizationProfile>>& candidates,
                             const std::vector<TensorSpec>& inputs, const ShapeMap& shapes,
                             const std::string& batch_axis) {
  const AxisValues req = bind_axes(inputs, shapes);  // validates the request against the signature
  ProfileChoice c;
  for (size_t i = 0; i < candidates.size(); i++) {
    for (size_t j = 0; j < candidates[i].size(); j++) {
      if (candidates[i][j].covers(shapes)) {
        c.candidate = int(i);
        c.profile = int(j);
        c.reason = "request " + describe(req) + ": engine candidate " + std::to_string(i) + ", profile " +
                   std::to_string(j) + " covers it";
        return c;
      }
    }
  }
  AxisRanges exact;
  for (const auto& [axis, v] : req) exact[axis] = axis == batch_axis ? Range{1, v, v} : Range{v, v, v};
  c.created = profile_from_axes(inputs, exact);
  c.profile = 0;
  c.reason = "request " + describe(req) + ": no profile of the " + std::to_string(candidates.size()) +
             " engine candidate(s) covers it; a new profile is made for it (" + c.created.canonical() + ")";
  return c;
}

}  // namespace pixart::trt
