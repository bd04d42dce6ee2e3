// Backend::to_host_rgb8 on the CPU backend (its default implementation: to_host, then the host
// loop of core/rgb8.h) against the arithmetic of lib/pipeline/images.ts written out in double
// precision with explicit float32 roundings, as JavaScript computes it (Math.fround), and against
// hand-chosen values whose bytes were computed by images.ts: exact .5 products (round half to
// even), the clamp at both ends, NaN and +-Inf. test/rgb8.test.ts checks the same table in JS.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "core/rgb8.h"
#include "core/status.h"

using namespace pixart;

namespace {

float bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// images.ts, step by step: Math.fround(Math.fround(x / 2) + 0.5), clamped; then
// roundHalfEven(Math.fround(v * 255)) stored into a Uint8Array (NaN -> 0).
uint8_t js_byte(float x) {
  double v = double(float(double(float(double(x) / 2)) + 0.5));
  v = v < 0 ? 0 : v > 1 ? 1 : v;  // NaN passes through, as in toFloatNHWC
  const double s = double(float(v * 255));
  if (std::isnan(s)) return 0;
  double r = std::floor(s + 0.5);                                     // Math.round
  if (std::fabs(std::fmod(s, 1.0)) == 0.5 && std::fmod(r, 2.0) != 0) r -= 1;  // roundHalfEven
  return static_cast<uint8_t>(r);
}

struct Case {
  uint32_t x;  // float32 bits
  int byte;    // what toImages(toFloatNHWC(...)) gives
};
// Bytes computed with lib/pipeline/images.ts; the same table is in test/rgb8.test.ts.
const Case kCases[] = {
    {0x00000000u, 128},  // v = 0.5, v*255 = 127.5 -> 128 (even)
    {0x80000000u, 128},  // -0
    {0xbe58d8d6u, 100},  // v*255 = 100.5 exactly -> 100
    {0xbe58d8d5u, 101},  // the next float towards 0: 100.50000763 -> 101
    {0xbe50d0ceu, 102},  // 101.5 -> 102
    {0x3c00807eu, 128},  // 128.5 -> 128
    {0xbc00807eu, 126},  // 126.5 -> 126
    {0x3f129292u, 200},  // 200.5 -> 200
    {0x3f7cfcfbu, 254},  // 253.5 -> 254
    {0x3f7efefeu, 254},  // 254.5 -> 254
    {0x3f800000u, 255},  // 1
    {0x3f7fffffu, 255},  // 0.99999994: v rounds to 1
    {0x3fc00000u, 255},  // 1.5: clamped
    {0x42c80000u, 255},  // 100
    {0x7f7fc99eu, 255},  // 3.4e38
    {0xbf800000u, 0},    // -1
    {0xbf7fffffu, 0},    // -0.99999994
    {0xbfc00000u, 0},    // -1.5: clamped
    {0xc2c80000u, 0},    // -100
    {0xff7fc99eu, 0},    // -3.4e38
    {0x0da24260u, 128},  // 1e-30
    {0x7fc00000u, 0},    // NaN
    {0x7f800000u, 255},  // +Inf
    {0xff800000u, 0},    // -Inf
};

}  // namespace

TEST_CASE("to_host_rgb8 (default, CPU backend): hand-chosen values, .5 cases, clamps, NaN/Inf, NCHW -> NHWC") {
  cpu::CpuBackend be(1);
  for (const Case& c : kCases) {
    CAPTURE(c.x);
    CHECK(int(rgb8_byte(bits(c.x))) == c.byte);
    CHECK(int(js_byte(bits(c.x))) == c.byte);
  }
  // The finite cases as one image [1, 3, 1, W] (W = finite / 3): bytes land at [0, w, c].
  std::vector<Case> finite;
  for (const Case& c : kCases)
    if (std::isfinite(bits(c.x))) finite.push_back(c);
  const int64_t W = int64_t(finite.size()) / 3;
  std::vector<float> x(size_t(3 * W));
  for (int64_t c = 0; c < 3; c++)
    for (int64_t w = 0; w < W; w++) x[size_t(c * W + w)] = bits(finite[size_t(c * W + w)].x);
  std::vector<uint8_t> out(x.size(), 7);
  CHECK_FALSE(be.to_host_rgb8(be.from_host(x.data(), {1, 3, 1, W}), out.data()));
  for (int64_t c = 0; c < 3; c++)
    for (int64_t w = 0; w < W; w++) {
      CAPTURE(c);
      CAPTURE(w);
      CHECK(int(out[size_t(w * 3 + c)]) == finite[size_t(c * W + w)].byte);
    }
  // Each non-finite value alone raises the flag, and still converts as the host path does.
  for (const Case& c : kCases) {
    if (std::isfinite(bits(c.x))) continue;
    CAPTURE(c.x);
    std::vector<float> v(12, 0.25f);
    v[7] = bits(c.x);
    std::vector<uint8_t> o(12);
    CHECK(be.to_host_rgb8(be.from_host(v.data(), {1, 3, 2, 2}), o.data()));
    CHECK(int(o[size_t(3 * 3 + 1)]) == c.byte);  // channel 1, pixel 3
  }
}

TEST_CASE("to_host_rgb8 (default, CPU backend): random values and batches match the JS arithmetic byte for byte") {
  cpu::CpuBackend be(1);
  const int64_t B = 2, C = 3, H = 17, W = 23, HW = H * W;
  std::mt19937 g(5);
  std::normal_distribution<float> d(0.f, 0.8f);
  std::uniform_int_distribution<int> k(0, 254);
  std::vector<float> x(size_t(B * C * HW));
  for (size_t i = 0; i < x.size(); i++) {
    // every fourth value an exact k/255 grid point mapped back through v = x/2 + 0.5
    x[i] = i % 4 == 0 ? (float(k(g)) / 255.f - 0.5f) * 2.f : d(g);
  }
  std::vector<uint8_t> out(x.size());
  CHECK_FALSE(be.to_host_rgb8(be.from_host(x.data(), {B, C, H, W}), out.data()));
  int mismatches = 0, clamped = 0;
  for (int64_t b = 0; b < B; b++)
    for (int64_t c = 0; c < C; c++)
      for (int64_t i = 0; i < HW; i++) {
        const float xv = x[size_t((b * C + c) * HW + i)];
        mismatches += out[size_t((b * HW + i) * C + c)] != js_byte(xv);
        clamped += std::fabs(xv) > 1.f;
      }
  CHECK(mismatches == 0);
  CHECK(clamped > 0);
}

TEST_CASE("to_host_rgb8 rejects a tensor that is not [B, C, H, W]") {
  cpu::CpuBackend be(1);
  const float v[6] = {0, 0, 0, 0, 0, 0};
  uint8_t out[6];
  try {
    be.to_host_rgb8(be.from_host(v, {2, 3}), out);
    FAIL("no error");
  } catch (const EngineError& e) {
    CHECK(e.code() == StatusCode::kInvalidArgument);
    CHECK(std::string(e.what()).find("to_host_rgb8") != std::string::npos);
  }
}
