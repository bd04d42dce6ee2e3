// Weight-only quantisation (core/quant.h): the rounding, the packing, the edge cases, and the
// CPU backend's load_linear_weight (the dense form the GPU kernels are checked against).
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "core/quant.h"
#include "core/status.h"

using namespace pixart;

TEST_CASE("int8: per-row scale max|w|/127, rint, exact dequantisation of the grid") {
  const std::vector<float> w = {0.5f, -1.27f, 0.01f, 0.f,    // row 0: amax 1.27 -> s = 0.01
                                0.f, 0.f, 0.f, 0.f,          // row 1: all zero -> s = 0
                                3.f, -2.f, 1.f, 0.0049f};    // row 2: s = 3/127
  const QuantizedWeight q = quantize_weight(w.data(), 3, 4, WeightQuant::kInt8);
  REQUIRE(q.scales.size() == 3);
  CHECK(q.scales[0] == 1.27f / 127.f);
  CHECK(q.scales[1] == 0.f);
  CHECK(int8_t(q.data[0]) == int(std::rint(0.5f / (1.27f / 127.f))));
  CHECK(int8_t(q.data[1]) == -127);
  CHECK(int8_t(q.data[2]) == 1);
  CHECK(int8_t(q.data[8]) == 127);
  CHECK(int8_t(q.data[11]) == 0);  // 0.0049 / (3/127) = 0.207 -> 0
  const std::vector<float> d = dequantize_weight(q);
  for (int k = 0; k < 4; k++) CHECK(d[4 + k] == 0.f);
  for (size_t i = 0; i < w.size(); i++) CHECK(std::fabs(d[i] - w[i]) <= 0.5f * q.scales[i / 4] * (1 + 1e-6f));
}

TEST_CASE("int4: groups of 64 along K, a short last group, two values per byte") {
  const int64_t N = 3, K = 64 + 64 + 10;  // groups 64, 64, 10
  std::mt19937 g(5);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> w(N * K);
  for (auto& v : w) v = nd(g);
  for (int64_t k = 64; k < 128; k++) w[1 * K + k] = 0.f;  // a zero group
  const QuantizedWeight q = quantize_weight(w.data(), N, K, WeightQuant::kInt4);
  REQUIRE(quant_groups(WeightQuant::kInt4, K) == 3);
  REQUIRE(q.data.size() == size_t(N * ((K + 1) / 2)));
  REQUIRE(q.scales.size() == size_t(N * 3));
  CHECK(q.scales[1 * 3 + 1] == 0.f);
  for (int64_t n = 0; n < N; n++)
    for (int64_t gi = 0; gi < 3; gi++) {
      float amax = 0.f;
      for (int64_t k = gi * 64; k < std::min(K, gi * 64 + 64); k++) amax = std::max(amax, std::fabs(w[n * K + k]));
      CHECK(q.scales[n * 3 + gi] == amax / 7.f);
    }
  // Packing: element 2j in the low nibble, 2j+1 in the high one, signed.
  const std::vector<float> d = dequantize_weight(q);
  for (int64_t n = 0; n < N; n++)
    for (int64_t k = 0; k < K; k++) {
      const float s = q.scales[n * 3 + k / 64];
      const int expect = s > 0 ? int(std::max(-7.f, std::min(7.f, std::rint(w[n * K + k] / s)))) : 0;
      const uint8_t b = q.data[n * ((K + 1) / 2) + k / 2];
      const int nib = k % 2 ? b >> 4 : b & 15;
      REQUIRE((nib >= 8 ? nib - 16 : nib) == expect);
      CHECK(d[n * K + k] == float(expect) * s);
    }
  // An odd K pads the last byte's high nibble with zero.
  const std::vector<float> w3 = {1.f, -1.f, 0.5f};
  const QuantizedWeight q3 = quantize_weight(w3.data(), 1, 3, WeightQuant::kInt4);
  REQUIRE(q3.data.size() == 2);
  CHECK((q3.data[1] >> 4) == 0);
}

TEST_CASE("parse_weight_quant and the CPU backend's quantised linear weights") {
  CHECK(parse_weight_quant("int8") == WeightQuant::kInt8);
  CHECK(parse_weight_quant("int4") == WeightQuant::kInt4);
  CHECK(parse_weight_quant("none") == WeightQuant::kNone);
  CHECK(guarded([] { parse_weight_quant("int3"); }).code() == StatusCode::kInvalidArgument);

  cpu::CpuBackend be(1);
  const int64_t N = 5, K = 70;
  std::vector<float> w(N * K);
  std::mt19937 g(9);
  std::normal_distribution<float> nd(0.f, 0.2f);
  for (auto& v : w) v = nd(g);
  WeightView view;
  view.name = "w";
  view.file = "mem";
  view.dtype = DType::kF32;
  view.shape = {N, K};
  view.data = w.data();
  view.bytes = w.size() * 4;
  for (WeightQuant q : {WeightQuant::kInt8, WeightQuant::kInt4}) {
    const Tensor t = be.load_linear_weight(view, q);
    const std::vector<float> expect = dequantize_weight(quantize_weight(w.data(), N, K, q));
    std::vector<float> got(N * K);
    be.to_host(t, got.data());
    CHECK(std::memcmp(got.data(), expect.data(), got.size() * 4) == 0);
  }
  const Tensor plain = be.load_linear_weight(view, WeightQuant::kNone);
  std::vector<float> got(N * K);
  be.to_host(plain, got.data());
  CHECK(std::memcmp(got.data(), w.data(), got.size() * 4) == 0);
  WeightView v1 = view;
  v1.shape = {N * K};
  CHECK(guarded([&] { be.load_linear_weight(v1, WeightQuant::kInt8); }).code() == StatusCode::kModelLoad);
}
