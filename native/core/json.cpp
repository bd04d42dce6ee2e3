#include "json.h"

#include <fstream>
#include <sstream>

#include "simdjson.h"
#include "status.h"

namespace pixart {

struct JsonConfig::Impl {
  simdjson::dom::parser parser;
  simdjson::dom::object root;
};

JsonConfig::JsonConfig() : impl_(std::make_unique<Impl>()) {}
JsonConfig::~JsonConfig() = default;
JsonConfig::JsonConfig(JsonConfig&&) noexcept = default;
JsonConfig& JsonConfig::operator=(JsonConfig&&) noexcept = default;

JsonConfig JsonConfig::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(StatusCode::kModelLoad, path + ": cannot open file");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse(ss.str(), path);
}

JsonConfig JsonConfig::parse(const std::string& text, const std::string& origin) {
  JsonConfig c;
  c.origin_ = origin;
  simdjson::dom::element el;
  auto err = c.impl_->parser.parse(text).get(el);
  if (err) fail(StatusCode::kModelLoad, origin + ": invalid JSON (" + simdjson::error_message(err) + ")");
  if (el.get_object().get(c.impl_->root)) fail(StatusCode::kModelLoad, origin + ": top level is not a JSON object");
  return c;
}

namespace {
[[noreturn]] void bad(const std::string& origin, const std::string& key, const char* want) {
  fail(StatusCode::kModelLoad, origin + ": key \"" + key + "\" is missing or not " + want);
}
}  // namespace

bool JsonConfig::has(const std::string& key) const {
  simdjson::dom::element el;
  if (impl_->root.at_key(key).get(el)) return false;
  return !el.is_null();
}

int64_t JsonConfig::get_int(const std::string& key) const {
  simdjson::dom::element el;
  if (impl_->root.at_key(key).get(el)) bad(origin_, key, "an integer");
  int64_t v;
  if (!el.get_int64().get(v)) return v;
  double d;
  if (!el.get_double().get(d) && d == static_cast<double>(static_cast<int64_t>(d))) return static_cast<int64_t>(d);
  bad(origin_, key, "an integer");
}
int64_t JsonConfig::get_int(const std::string& key, int64_t fallback) const { return has(key) ? get_int(key) : fallback; }

double JsonConfig::get_double(const std::string& key) const {
  simdjson::dom::element el;
  if (impl_->root.at_key(key).get(el)) bad(origin_, key, "a number");
  double d;
  if (!el.get_double().get(d)) return d;
  int64_t i;
  if (!el.get_int64().get(i)) return static_cast<double>(i);
  bad(origin_, key, "a number");
}
double JsonConfig::get_double(const std::string& key, double fallback) const {
  return has(key) ? get_double(key) : fallback;
}

bool JsonConfig::get_bool(const std::string& key, bool fallback) const {
  if (!has(key)) return fallback;
  bool b;
  if (impl_->root.at_key(key).get_bool().get(b)) bad(origin_, key, "a boolean");
  return b;
}

std::string JsonConfig::get_string(const std::string& key) const {
  std::string_view s;
  if (impl_->root.at_key(key).get_string().get(s)) bad(origin_, key, "a string");
  return std::string(s);
}
std::string JsonConfig::get_string(const std::string& key, const std::string& fallback) const {
  return has(key) ? get_string(key) : fallback;
}

std::vector<int64_t> JsonConfig::get_int_array(const std::string& key) const {
  simdjson::dom::array arr;
  if (impl_->root.at_key(key).get_array().get(arr)) bad(origin_, key, "an array of integers");
  std::vector<int64_t> out;
  for (auto el : arr) {
    int64_t v;
    if (el.get_int64().get(v)) bad(origin_, key, "an array of integers");
    out.push_back(v);
  }
  return out;
}

std::vector<std::string> JsonConfig::get_string_array(const std::string& key) const {
  simdjson::dom::array arr;
  if (impl_->root.at_key(key).get_array().get(arr)) bad(origin_, key, "an array of strings");
  std::vector<std::string> out;
  for (auto el : arr) {
    std::string_view s;
    if (el.get_string().get(s)) bad(origin_, key, "an array of strings");
    out.emplace_back(s);
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> JsonConfig::get_string_map(const std::string& key) const {
  simdjson::dom::object obj;
  if (impl_->root.at_key(key).get_object().get(obj)) bad(origin_, key, "an object of strings");
  std::vector<std::pair<std::string, std::string>> out;
  for (auto field : obj) {
    std::string_view s;
    if (field.value.get_string().get(s)) bad(origin_, key, "an object of strings");
    out.emplace_back(std::string(field.key), std::string(s));
  }
  return out;
}

}  // namespace pixart
