// Reading config.json files (simdjson's DOM underneath; no hand-written parser).
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace pixart {

// A parsed JSON object with typed accessors that throw EngineError(kModelLoad) naming the
// file and key when a value is missing or of the wrong type.
class JsonConfig {
 public:
  static JsonConfig load(const std::string& path);
  static JsonConfig parse(const std::string& text, const std::string& origin);
  ~JsonConfig();
  JsonConfig(JsonConfig&&) noexcept;
  JsonConfig& operator=(JsonConfig&&) noexcept;

  bool has(const std::string& key) const;      // present and not null
  int64_t get_int(const std::string& key) const;
  int64_t get_int(const std::string& key, int64_t fallback) const;
  double get_double(const std::string& key) const;
  double get_double(const std::string& key, double fallback) const;
  bool get_bool(const std::string& key, bool fallback) const;
  std::string get_string(const std::string& key) const;
  std::string get_string(const std::string& key, const std::string& fallback) const;
  std::vector<int64_t> get_int_array(const std::string& key) const;
  std::vector<std::string> get_string_array(const std::string& key) const;
  // For index files: {"weight_map": {"tensor": "file", ...}}
  std::vector<std::pair<std::string, std::string>> get_string_map(const std::string& key) const;
  const std::string& origin() const { return origin_; }

 private:
  JsonConfig();
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string origin_;
};

}  // namespace pixart
