// Helpers shared by the TensorRT backend's CPU tests: a temporary folder, small files, and a
// check that a call fails with a given StatusCode and message fragment.
#pragma once
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "../../core/status.h"

namespace pixart::trt::test {

// <repository>/<rel> (PIXART_SOURCE_DIR is set by the build).
inline std::string source_path(const std::string& rel) { return std::string(PIXART_SOURCE_DIR) + "/" + rel; }

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "pixart-trt-test-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  REQUIRE(out.good());
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Runs fn and checks it throws EngineError with `code` and a message containing `fragment`.
template <class Fn>
void check_fails(Fn&& fn, StatusCode code, const std::string& fragment) {
  try {
    fn();
    FAIL("expected EngineError containing \"" << fragment << "\"");
  } catch (const EngineError& e) {
    CHECK(static_cast<int>(e.code()) == static_cast<int>(code));
    const std::string msg = e.what();
    INFO("message: " << msg);
    CHECK(msg.find(fragment) != std::string::npos);
  }
}

}  // namespace pixart::trt::test
