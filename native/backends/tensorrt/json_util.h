// Reading the TensorRT backend's JSON files (profiles.json, the bin tables, export.json, the
// engine cache's manifest.json) with simdjson's DOM, the parser the core uses, plus the one
// quoting function the manifest writer needs.
//
// Why not core/json.h: JsonConfig reads flat config.json objects; these files nest objects and
// arrays. Every accessor fails with EngineError(code) naming the file and the JSON path, e.g.
// "engines/profiles.json: recipes[1].batch.cfg: expected [min, opt, max]".
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "../../core/status.h"
#include "simdjson.h"

namespace pixart::trt {

class JsonDoc;

class JsonNode {
 public:
  JsonNode(simdjson::dom::element el, const JsonDoc* doc, std::string path)
      : el_(el), doc_(doc), path_(std::move(path)) {}

  bool is_object() const { return el_.is_object(); }
  bool is_array() const { return el_.is_array(); }
  bool is_string() const { return el_.is_string(); }
  bool is_number() const { return el_.is_number(); }
  bool is_null() const { return el_.is_null(); }

  // A member that must be present (and not null).
  JsonNode at(const std::string& key) const;
  // A member that may be absent; null counts as absent.
  std::optional<JsonNode> find(const std::string& key) const;
  std::vector<JsonNode> items() const;                              // array elements
  std::vector<std::pair<std::string, JsonNode>> members() const;    // object members, file order
  std::string str() const;
  int64_t i64() const;  // an integer, or a float with an integral value (Python writes 512.0)
  double num() const;
  std::vector<int64_t> i64_array() const;

  const std::string& path() const { return path_; }
  // Fails with the document's code: "<origin>: <path>: <what>".
  [[noreturn]] void bad(const std::string& what) const;

 private:
  simdjson::dom::element el_;
  const JsonDoc* doc_;
  std::string path_;
};

class JsonDoc {
 public:
  // A missing file or invalid JSON fails with `code` naming the file.
  static std::unique_ptr<JsonDoc> load(const std::string& path, StatusCode code);
  static std::unique_ptr<JsonDoc> parse(const std::string& text, const std::string& origin, StatusCode code);
  JsonNode root() const { return JsonNode(root_, this, "(top level)"); }
  const std::string& origin() const { return origin_; }
  StatusCode code() const { return code_; }

 private:
  JsonDoc() = default;
  simdjson::dom::parser parser_;
  simdjson::dom::element root_;
  std::string origin_;
  StatusCode code_ = StatusCode::kModelLoad;
};

// s as a JSON string literal, quotes included (control characters escaped as \u00XX).
std::string json_quote(const std::string& s);

// The whole file as bytes; fails with `code` naming the file if it cannot be read.
std::string read_text_file(const std::string& path, StatusCode code);

}  // namespace pixart::trt
