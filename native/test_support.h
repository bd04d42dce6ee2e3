// Shared by the native model test suites (doctest): the fixtures folder, the CPU backend the
// tests run on, reading tensors back, reference tensors from the fixtures' safetensors files,
// and the fixtures' fp32 tolerance check.
#pragma once
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "core/tensor.h"
#include "core/weights.h"

namespace pixart::test {

// <repository>/test/fixtures (PIXART_SOURCE_DIR is set by the build).
inline const std::string& fixtures_dir() {
  static const std::string dir = std::string(PIXART_SOURCE_DIR) + "/test/fixtures";
  return dir;
}

inline cpu::CpuBackend& backend() {
  static cpu::CpuBackend be(2);
  return be;
}

inline std::vector<float> host(const Tensor& t) {
  std::vector<float> v(static_cast<size_t>(t.numel()));
  backend().to_host(t, v.data());
  return v;
}

// A float tensor of a reference file, widened to float32.
inline std::vector<float> read_f32(const WeightView& w) {
  std::vector<float> v(static_cast<size_t>(numel(w.shape)));
  convert_to_f32(w, v.data());
  return v;
}

// An int64 tensor of a reference file (ids, masks, timesteps) converted to T.
template <class T>
std::vector<T> read_i64(const WeightView& w) {
  REQUIRE(w.dtype == DType::kI64);
  std::vector<int64_t> raw(static_cast<size_t>(numel(w.shape)));
  std::memcpy(raw.data(), w.data, raw.size() * sizeof(int64_t));
  return std::vector<T>(raw.begin(), raw.end());
}

// The fixtures' tolerance, |a-b| <= 1e-4 + 1e-4*max|ref| element-wise (a NaN fails it);
// returns the max abs error.
inline double check_close(const std::vector<float>& got, const std::vector<float>& ref, const std::string& what) {
  REQUIRE(got.size() == ref.size());
  double max_ref = 0, max_err = 0;
  for (float r : ref) max_ref = std::max(max_ref, double(std::fabs(r)));
  const double tol = double(1e-4f) + double(1e-4f) * max_ref;
  size_t worst = 0;
  for (size_t i = 0; i < got.size(); i++) {
    const double e = std::fabs(double(got[i]) - ref[i]);
    if (!(e <= max_err)) max_err = e, worst = i;
  }
  MESSAGE(what << ": max abs error " << max_err << " (tolerance " << tol << ", max|ref| " << max_ref << ")");
  CHECK_MESSAGE(max_err <= tol, what << " index " << worst << ": " << got[worst] << " vs " << ref[worst]);
  return max_err;
}

}  // namespace pixart::test
