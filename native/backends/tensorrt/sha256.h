// SHA-256 (FIPS 180-4) for the TensorRT engine cache: cache keys, model hashes, and the check
// that an engine file is the one the manifest recorded.
//
// Why our own: the engine cache must build without OpenSSL, and engine files are large (a T5-XXL
// engine is ~10 GB, hashed on every load), so blocks go through the x86 SHA extensions when the
// CPU has them (sha_ni: Ice Lake / Zen and later) and a portable loop otherwise; the tests check
// both paths against the FIPS vectors and each other.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace pixart::trt {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t n);
  void update(const std::string& s) { update(s.data(), s.size()); }
  // The digest of everything passed to update; the object then starts over.
  std::array<uint8_t, 32> finish();
  std::string finish_hex();  // 64 lowercase hex digits

 private:
  void reset();
  uint32_t state_[8];
  uint8_t block_[64];
  size_t fill_ = 0;     // bytes waiting in block_
  uint64_t total_ = 0;  // bytes seen
};

std::string sha256_hex(const void* data, size_t n);
std::string sha256_hex(const std::string& s);
// Hashes a file in 4 MiB reads; throws EngineError(kModelLoad) naming the file if it cannot be read.
std::string sha256_file(const std::string& path);
// True for 64 lowercase hex digits (what the manifest and export.json hold).
bool is_sha256_hex(const std::string& s);

// Whether blocks use the SHA extensions (on by default when the CPU has them). Test hook: force
// the portable path to compare the two; returns the previous setting.
bool sha256_accelerated();
bool set_sha256_acceleration(bool on);

}  // namespace pixart::trt
