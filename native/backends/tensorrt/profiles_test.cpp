// Optimisation profiles (profiles.h): the canonical form and its parser, coverage, binding request
// shapes to axes, the shipped recipes in engines/profiles.json derived from the bin tables (real
// numbers: the 1024 table's latents run 64..256), and choosing or making a profile for a request.
#include <doctest/doctest.h>

#include <sstream>

#include "json_util.h"
#include "profiles.h"
#include "test_util.h"

using namespace pixart;
using namespace pixart::trt;

namespace {

// "batch,4,height,width" -> dims (numbers are fixed sizes, names are axes).
TensorSpec spec(const std::string& name, const std::string& dtype, const std::string& dims) {
  TensorSpec t{name, dtype, {}};
  std::stringstream ss(dims);
  for (std::string d; std::getline(ss, d, ',');) {
    AxisDim a;
    if (std::isdigit(static_cast<unsigned char>(d[0]))) {
      a.value = std::stoll(d);
    } else {
      a.axis = d;
    }
    t.dims.push_back(a);
  }
  return t;
}

// The exported interfaces (PixArt-XL-2-1024-MS: additional conditions, caption_channels 4096).
std::vector<TensorSpec> transformer_inputs() {
  return {spec("hidden_states", "float16", "batch,4,height,width"), spec("timestep", "float32", "batch"),
          spec("encoder_hidden_states", "float16", "batch,sequence,4096"),
          spec("encoder_attention_mask", "float32", "batch,sequence"), spec("resolution", "float32", "batch,2"),
          spec("aspect_ratio", "float32", "batch")};
}
std::vector<TensorSpec> vae_inputs() { return {spec("latent_sample", "float16", "batch,4,height,width")}; }
std::vector<TensorSpec> t5_inputs() {
  return {spec("input_ids", "int64", "batch,sequence"), spec("attention_mask", "int64", "batch,sequence")};
}

// Request shapes for the transformer.
ShapeMap dit_request(int64_t b, int64_t h, int64_t w, int64_t s) {
  return {{"hidden_states", {b, 4, h, w}}, {"timestep", {b}},           {"encoder_hidden_states", {b, s, 4096}},
          {"encoder_attention_mask", {b, s}}, {"resolution", {b, 2}}, {"aspect_ratio", {b}}};
}

const RecipeBook& shipped() {
  static const RecipeBook book = load_recipe_book(test::source_path("engines/profiles.json"));
  return book;
}

}  // namespace

TEST_CASE("profile: canonical form is sorted by input name and parses back to the same profile") {
  OptimizationProfile p;
  p.set("timestep", {1}, {2}, {16});
  p.set("hidden_states", {1, 4, 64, 64}, {2, 4, 128, 128}, {16, 4, 160, 160});
  p.set("scalar", {}, {}, {});
  const std::string c = p.canonical();
  CHECK(c == "hidden_states=1x4x64x64/2x4x128x128/16x4x160x160;scalar=//;timestep=1/2/16");
  CHECK(OptimizationProfile::parse(c) == p);
  CHECK(OptimizationProfile::parse(c).inputs().at("hidden_states").max == std::vector<int64_t>{16, 4, 160, 160});

  OptimizationProfile q;
  q.set("timestep", {1}, {1}, {8});
  const std::vector<OptimizationProfile> set = {p, q};
  CHECK(canonical_set(set) == c + " | timestep=1/1/8");
  const auto back = parse_set(canonical_set(set));
  REQUIRE(back.size() == 2);
  CHECK(back[0] == p);
  CHECK(back[1] == q);
}

TEST_CASE("profile: set() and parse() reject what TensorRT or the canonical form cannot carry") {
  OptimizationProfile p;
  test::check_fails([&] { p.set("a;b", {1}, {1}, {1}); }, StatusCode::kInvalidArgument, "a;b");
  test::check_fails([&] { p.set("x", {1}, {1, 2}, {1}); }, StatusCode::kInvalidArgument, "ranks differ");
  test::check_fails([&] { p.set("x", {2}, {1}, {4}); }, StatusCode::kInvalidArgument, "1 <= min <= opt <= max");
  test::check_fails([&] { p.set("x", {0}, {1}, {4}); }, StatusCode::kInvalidArgument, "1 <= min <= opt <= max");
  test::check_fails([] { OptimizationProfile::parse("x=1/2"); }, StatusCode::kInvalidArgument, "name=min/opt/max");
  test::check_fails([] { OptimizationProfile::parse("x=1/2/3q"); }, StatusCode::kInvalidArgument, "bad dims");
  test::check_fails([] { OptimizationProfile::parse("x"); }, StatusCode::kInvalidArgument, "no '='");
  test::check_fails([] { OptimizationProfile::parse("x=1/1/1;x=1/1/1"); }, StatusCode::kInvalidArgument, "twice");
}

TEST_CASE("profile: covers() checks every input, rank and dim, and says why not") {
  const OptimizationProfile p = profile_from_axes(vae_inputs(), {{"batch", {1, 1, 8}}, {"height", {96, 128, 160}},
                                                                 {"width", {96, 128, 160}}});
  CHECK(p.canonical() == "latent_sample=1x4x96x96/1x4x128x128/8x4x160x160");
  std::string why;
  CHECK(p.covers({{"latent_sample", {8, 4, 96, 160}}}));
  CHECK_FALSE(p.covers({{"latent_sample", {9, 4, 128, 128}}}, &why));
  CHECK(why == "latent_sample dim 0 = 9 is outside 1..8");
  CHECK_FALSE(p.covers({{"latent_sample", {1, 4, 128}}}, &why));
  CHECK(why == "latent_sample has rank 3, the profile 4");
  CHECK_FALSE(p.covers({}, &why));
  CHECK(why == "input latent_sample is not given");
  CHECK_FALSE(p.covers({{"latent_sample", {1, 4, 128, 128}}, {"extra", {1}}}, &why));
  CHECK(why == "input extra is not in the profile");
}

TEST_CASE("bind_axes: request shapes give axis values; mismatches are kInvalidArgument") {
  const AxisValues v = bind_axes(transformer_inputs(), dit_request(2, 128, 96, 120));
  CHECK(describe(v) == "batch=2 height=128 sequence=120 width=96");
  ShapeMap bad = dit_request(2, 128, 96, 120);
  bad["timestep"] = {3};
  test::check_fails([&] { bind_axes(transformer_inputs(), bad); }, StatusCode::kInvalidArgument,
                    "inputs disagree on axis batch: 2 and 3");
  bad = dit_request(2, 128, 96, 120);
  bad["hidden_states"][1] = 8;
  test::check_fails([&] { bind_axes(transformer_inputs(), bad); }, StatusCode::kInvalidArgument,
                    "hidden_states dim 1 is 8, the model has [batch, 4, height, width]");
  bad = dit_request(2, 128, 96, 120);
  bad.erase("resolution");
  test::check_fails([&] { bind_axes(transformer_inputs(), bad); }, StatusCode::kInvalidArgument,
                    "input resolution [batch, 2] is missing");
  bad = dit_request(2, 128, 96, 120);
  bad["guidance"] = {2};
  test::check_fails([&] { bind_axes(transformer_inputs(), bad); }, StatusCode::kInvalidArgument, "no input named guidance");
}

TEST_CASE("profile_from_axes names the input and axis a recipe forgot") {
  test::check_fails([] { profile_from_axes(t5_inputs(), {{"batch", {1, 1, 2}}}); }, StatusCode::kInvalidArgument,
                    "input input_ids [batch, sequence]: axis \"sequence\" has no range (ranges given: batch)");
}

TEST_CASE("bins: engines/aspect_ratio_bins.json is diffusers' tables (the reference fixture), in order") {
  const auto tables = load_bin_tables(test::source_path("engines/aspect_ratio_bins.json"));
  const auto ref = JsonDoc::load(test::source_path("test/fixtures/pixart-tiny/reference/aspect_ratio_bins.json"),
                                 StatusCode::kModelLoad);
  REQUIRE(tables.size() == 3);
  for (const auto& [name, bins] : ref->root().members()) {
    INFO(name);
    REQUIRE(tables.count(name));
    const auto ref_bins = bins.members();
    const auto& ours = tables.at(name).bins;
    REQUIRE(ours.size() == ref_bins.size());
    for (size_t i = 0; i < ours.size(); i++) {
      CHECK(ours[i].first == ref_bins[i].first);
      CHECK(ours[i].second[0] == ref_bins[i].second.i64_array()[0]);
      CHECK(ours[i].second[1] == ref_bins[i].second.i64_array()[1]);
    }
  }
  CHECK(tables.at("ASPECT_RATIO_1024_BIN").bins.size() == 33);
}

TEST_CASE("recipes: the 1024 recipe's transformer profiles, derived from ASPECT_RATIO_1024_BIN") {
  const RecipeBook& b = shipped();
  CHECK(b.vae_scale_factor == 8);
  const std::vector<AxisRanges> axes = recipe_axes(b, b.recipe("1024"), "transformer");
  REQUIRE(axes.size() == 3);
  // Batch = prompts x images_per_prompt x cfg: min 1*1*1, opt 1*1*2 (CFG doubles), max 2*4*2.
  for (const AxisRanges& a : axes) {
    CHECK(a.at("batch").min == 1);
    CHECK(a.at("batch").opt == 2);
    CHECK(a.at("batch").max == 16);
    CHECK(a.at("sequence").min == 1);
    CHECK(a.at("sequence").opt == 120);
    CHECK(a.at("sequence").max == 300);
  }
  // Wide bins 0.25..0.57: 512x2048 .. 768x1344 pixels -> latent height 64..96, width 168..256;
  // opt is the bin closest to ratio 1.0 in the group, 0.57 = 768x1344.
  CHECK(axes[0].at("height").min == 64);
  CHECK(axes[0].at("height").opt == 96);
  CHECK(axes[0].at("height").max == 96);
  CHECK(axes[0].at("width").min == 168);
  CHECK(axes[0].at("width").opt == 168);
  CHECK(axes[0].at("width").max == 256);
  // Near-square bins 0.6..1.67: 768..1280 both ways -> 96..160; opt 1.0 = 1024x1024 -> 128.
  CHECK(axes[1].at("height").min == 96);
  CHECK(axes[1].at("height").opt == 128);
  CHECK(axes[1].at("height").max == 160);
  CHECK(axes[1].at("width").min == 96);
  CHECK(axes[1].at("width").max == 160);
  // Tall bins 1.75..4.0: mirror of the wide ones.
  CHECK(axes[2].at("height").min == 168);
  CHECK(axes[2].at("height").max == 256);
  CHECK(axes[2].at("width").min == 64);
  CHECK(axes[2].at("width").opt == 96);
  CHECK(axes[2].at("width").max == 96);

  const auto profiles = recipe_profiles(b, b.recipe("1024"), "transformer", transformer_inputs());
  REQUIRE(profiles.size() == 3);
  CHECK(profiles[1].canonical() ==
        "aspect_ratio=1/2/16;encoder_attention_mask=1x1/2x120/16x300;encoder_hidden_states=1x1x4096/2x120x4096/"
        "16x300x4096;hidden_states=1x4x96x96/2x4x128x128/16x4x160x160;resolution=1x2/2x2/16x2;timestep=1/2/16");
}

TEST_CASE("recipes: latent range of each table is its smallest and largest bin side / 8") {
  const RecipeBook& b = shipped();
  const std::pair<const char*, std::array<int64_t, 2>> expect[] = {{"1024", {64, 256}}, {"512", {32, 128}}, {"256", {16, 64}}};
  for (const auto& [name, lohi] : expect) {
    INFO(name);
    int64_t hmin = 1 << 30, hmax = 0, wmin = 1 << 30, wmax = 0;
    for (const AxisRanges& a : recipe_axes(b, b.recipe(name), "transformer")) {
      hmin = std::min(hmin, a.at("height").min), hmax = std::max(hmax, a.at("height").max);
      wmin = std::min(wmin, a.at("width").min), wmax = std::max(wmax, a.at("width").max);
    }
    CHECK(hmin == lohi[0]);
    CHECK(hmax == lohi[1]);
    CHECK(wmin == lohi[0]);
    CHECK(wmax == lohi[1]);
  }
}

TEST_CASE("recipes: per model kind, batch factors and axes; the text encoder's groups collapse to one profile") {
  const RecipeBook& b = shipped();
  const auto vae = recipe_profiles(b, b.recipe("512"), "vae_decoder", vae_inputs());
  REQUIRE(vae.size() == 3);
  CHECK(vae[1].canonical() == "latent_sample=1x4x48x48/1x4x64x64/8x4x80x80");  // batch 1..8 (no CFG); 384..640 px
  const auto t5 = recipe_profiles(b, b.recipe("512"), "text_encoder", t5_inputs());
  REQUIRE(t5.size() == 1);
  CHECK(t5[0].canonical() == "attention_mask=1x1/1x120/2x300;input_ids=1x1/1x120/2x300");
  test::check_fails([&] { recipe_axes(b, b.recipe("512"), "unet"); }, StatusCode::kInvalidArgument,
                    "batch_factors has no entry for model kind \"unet\"");
  test::check_fails([&] { b.recipe("2048"); }, StatusCode::kInvalidArgument, "recipes: 1024, 512, 256");
}

TEST_CASE("recipes: every bin of every table is served by its recipe's engine without a new profile") {
  const RecipeBook& b = shipped();
  for (const Recipe& r : b.recipes) {
    const std::vector<std::vector<OptimizationProfile>> candidates = {
        recipe_profiles(b, r, "transformer", transformer_inputs())};
    for (const auto& [key, hw] : b.tables.at(r.bins).bins) {
      INFO(r.name << " bin " << key);
      for (int64_t batch : {1, 2, 16}) {
        const ProfileChoice c = select_profile(candidates, transformer_inputs(),
                                               dit_request(batch, hw[0] / 8, hw[1] / 8, 120), "batch");
        CHECK(c.candidate == 0);
      }
    }
  }
}

TEST_CASE("select_profile: first covering candidate, else a new profile that covers the request") {
  const RecipeBook& b = shipped();
  const auto recipe = recipe_profiles(b, b.recipe("1024"), "transformer", transformer_inputs());
  OptimizationProfile small = profile_from_axes(
      transformer_inputs(), {{"batch", {1, 2, 2}}, {"height", {128, 128, 128}}, {"width", {128, 128, 128}},
                             {"sequence", {120, 120, 120}}});
  const std::vector<std::vector<OptimizationProfile>> candidates = {{small}, recipe};

  ProfileChoice c = select_profile(candidates, transformer_inputs(), dit_request(2, 128, 128, 120), "batch");
  CHECK(c.candidate == 0);  // the first candidate wins even though the recipe covers it too
  CHECK(c.profile == 0);
  c = select_profile(candidates, transformer_inputs(), dit_request(4, 128, 128, 120), "batch");
  CHECK(c.candidate == 1);
  CHECK(c.profile == 1);  // the near-square group
  c = select_profile(candidates, transformer_inputs(), dit_request(2, 72, 200, 77), "batch");
  CHECK(c.candidate == 1);
  CHECK(c.profile == 0);  // the wide group

  // 32 images at once is past every profile's batch: a new profile, batch 1..32, the rest exact.
  c = select_profile(candidates, transformer_inputs(), dit_request(32, 128, 128, 120), "batch");
  CHECK(c.candidate == -1);
  CHECK(c.profile == 0);
  CHECK(c.created.covers(dit_request(32, 128, 128, 120)));
  CHECK(c.created.covers(dit_request(1, 128, 128, 120)));
  CHECK_FALSE(c.created.covers(dit_request(32, 128, 136, 120)));
  CHECK(c.created.inputs().at("hidden_states").min == std::vector<int64_t>{1, 4, 128, 128});
  CHECK(c.created.inputs().at("hidden_states").max == std::vector<int64_t>{32, 4, 128, 128});
  CHECK(c.reason.find("no profile of the 2 engine candidate(s) covers it") != std::string::npos);
  // A size outside every bin (a no-binning request) also gets its own profile.
  c = select_profile(candidates, transformer_inputs(), dit_request(2, 300, 40, 120), "batch");
  CHECK(c.candidate == -1);
  CHECK(c.created.inputs().at("hidden_states").opt == std::vector<int64_t>{2, 4, 300, 40});
  // A request that does not fit the signature is an error, not a profile.
  ShapeMap bad = dit_request(2, 128, 128, 120);
  bad["encoder_hidden_states"] = {2, 120, 1024};
  test::check_fails([&] { select_profile(candidates, transformer_inputs(), bad, "batch"); },
                    StatusCode::kInvalidArgument, "encoder_hidden_states dim 2 is 1024");
}

TEST_CASE("recipes: a bad profiles.json fails with kInvalidArgument naming the file and field") {
  test::TempDir dir;
  test::write_file(dir / "bins.json", R"({"tables": {"T": {"0.5": [512, 1024], "1.0": [768, 768], "2.0": [1020, 512]}}})");
  auto book = [&](const std::string& recipe, const std::string& bins_key = "T") {
    test::write_file(dir / "profiles.json", R"({"bins_file": "bins.json", "batch_axis": "batch",
      "latent_axes": ["height", "width"], "vae_scale_factor": 8,
      "batch_factors": {"transformer": ["n", "cfg"]},
      "recipes": [{"name": "r", "bins": ")" + bins_key + R"(", "opt_aspect_ratio": 1.0, )" + recipe + "}]}");
    return load_recipe_book(dir / "profiles.json");
  };
  const std::string ok_batch = R"("batch": {"n": [1, 1, 4], "cfg": [1, 2, 2]}, "axes": {"sequence": [1, 120, 300]})";
  // 1020 is not a multiple of 8.
  test::check_fails([&] { book(R"("aspect_ratio_groups": [[0.5, 2.0]], )" + ok_batch); }, StatusCode::kInvalidArgument,
                    "bin 2.0 (1020x512) is not a multiple of vae_scale_factor 8");
  test::write_file(dir / "bins.json", R"({"tables": {"T": {"0.5": [512, 1024], "1.0": [768, 768], "2.0": [1024, 512]}}})");
  test::check_fails([&] { book(R"("aspect_ratio_groups": [[0.5, 2.0]], )" + ok_batch, "U"); },
                    StatusCode::kInvalidArgument, "no bin table \"U\"");
  test::check_fails([&] { book(R"("aspect_ratio_groups": [[3.0, 4.0]], )" + ok_batch); }, StatusCode::kInvalidArgument,
                    "holds no bin of T");
  test::check_fails(
      [&] { book(R"("aspect_ratio_groups": [[0.5, 2.0]], "batch": {"n": [1, 1, 4]}, "axes": {})"); },
      StatusCode::kInvalidArgument, "recipes[0].batch: no range for factor \"cfg\"");
  test::check_fails(
      [&] { book(R"("aspect_ratio_groups": [[0.5, 2.0]], "batch": {"n": [1, 5, 4], "cfg": [1, 2, 2]}, "axes": {})"); },
      StatusCode::kInvalidArgument, "recipes[0].batch.n: expected [min, opt, max]");
  test::check_fails(
      [&] { book(R"("aspect_ratio_groups": [[0.5, 2.0]], "batch": {"n": [1, 1, 4], "cfg": [1, 2, 2]}, "axes": {"height": [1, 2, 3]})"); },
      StatusCode::kInvalidArgument, "axis height comes from the batch factors or the bins");
  // And a good one: one group over the whole table.
  const RecipeBook b = book(R"("aspect_ratio_groups": [[0.5, 2.0]], )" + ok_batch);
  const auto a = recipe_axes(b, b.recipe("r"), "transformer");
  REQUIRE(a.size() == 1);
  CHECK(a[0].at("height").min == 64);
  CHECK(a[0].at("height").opt == 96);
  CHECK(a[0].at("height").max == 128);
  CHECK(a[0].at("batch").max == 8);
}
