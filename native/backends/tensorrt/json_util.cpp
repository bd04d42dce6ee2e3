#include "json_util.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace pixart::trt {

std::string read_text_file(const std::string& path, StatusCode code) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(code, path + ": cannot open file");
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) fail(code, path + ": read error");
  return ss.str();
}

std::unique_ptr<JsonDoc> JsonDoc::load(const std::string& path, StatusCode code) {
  return parse(read_text_file(path, code), path, code);
}

std::unique_ptr<JsonDoc> JsonDoc::parse(const std::string& text, const std::string& origin, StatusCode code) {
  std::unique_ptr<JsonDoc> d(new JsonDoc());
  d->origin_ = origin;
  d->code_ = code;
  if (auto err = d->parser_.parse(text).get(d->root_)) {
    fail(code, origin + ": invalid JSON (" + simdjson::error_message(err) + ")");
  }
  return d;
}

void JsonNode::bad(const std::string& what) const { fail(doc_->code(), doc_->origin() + ": " + path_ + ": " + what); }

JsonNode JsonNode::at(const std::string& key) const {
  auto v = find(key);
  if (!v) bad("missing \"" + key + "\"");
  return *v;
}

std::optional<JsonNode> JsonNode::find(const std::string& key) const {
  if (!el_.is_object()) bad("expected an object");
  simdjson::dom::element child;
  if (el_.get_object().value().at_key(key).get(child) || child.is_null()) return std::nullopt;
  return JsonNode(child, doc_, path_ == "(top level)" ? key : path_ + "." + key);
}

std::vector<JsonNode> JsonNode::items() const {
  simdjson::dom::array a;
  if (el_.get_array().get(a)) bad("expected an array");
  std::vector<JsonNode> out;
  size_t i = 0;
  for (simdjson::dom::element e : a) out.emplace_back(e, doc_, path_ + "[" + std::to_string(i++) + "]");
  return out;
}

std::vector<std::pair<std::string, JsonNode>> JsonNode::members() const {
  simdjson::dom::object o;
  if (el_.get_object().get(o)) bad("expected an object");
  std::vector<std::pair<std::string, JsonNode>> out;
  for (auto kv : o) {
    std::string key(kv.key);
    out.emplace_back(key, JsonNode(kv.value, doc_, path_ == "(top level)" ? key : path_ + "." + key));
  }
  return out;
}

std::string JsonNode::str() const {
  std::string_view s;
  if (el_.get_string().get(s)) bad("expected a string");
  return std::string(s);
}

int64_t JsonNode::i64() const {
  int64_t v;
  if (!el_.get_int64().get(v)) return v;
  double d;
  if (!el_.get_double().get(d) && std::isfinite(d) && std::fabs(d) < 9.0e15 && d == std::floor(d)) {
    return static_cast<int64_t>(d);
  }
  bad("expected an integer");
}

double JsonNode::num() const {
  double d;
  if (el_.get_double().get(d)) bad("expected a number");
  return d;
}

std::vector<int64_t> JsonNode::i64_array() const {
  std::vector<int64_t> out;
  for (const JsonNode& n : items()) out.push_back(n.i64());
  return out;
}

std::string json_quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

}  // namespace pixart::trt
