// Tiled decoding's ops (core/tiles.h) on the CPU backend (the host defaults): crop against direct
// indexing, blend_tiles on a 2 x 3 grid of uneven tiles against the blend written out per
// element in diffusers' order, and the checks. The VAE's tiled decode against diffusers is in
// test/components.test.ts; the CUDA kernels against these defaults in cuda_ops_test.cpp.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <random>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "core/status.h"
#include "core/tiles.h"

using namespace pixart;

namespace {
std::vector<float> rnd(size_t n, unsigned seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d;
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}
std::vector<float> host(Backend& be, const Tensor& t) {
  std::vector<float> v(size_t(t.numel()));
  be.to_host(t, v.data());
  return v;
}
StatusCode code_of(const std::function<void()>& fn) { return guarded(fn).code(); }
}  // namespace

TEST_CASE("crop takes the window") {
  cpu::CpuBackend be(1);
  const auto v = rnd(2 * 3 * 7 * 9, 1);
  const Tensor x = be.from_host(v.data(), {2, 3, 7, 9});
  const Tensor c = be.crop(x, 2, 3, 4, 5);
  CHECK(c.shape == Shape{2, 3, 4, 5});
  const auto got = host(be, c);
  bool same = true;
  for (int p = 0; p < 6; p++)
    for (int y = 0; y < 4; y++)
      for (int x0 = 0; x0 < 5; x0++) same &= got[size_t((p * 4 + y) * 5 + x0)] == v[size_t((p * 7 + 2 + y) * 9 + 3 + x0)];
  CHECK(same);
  CHECK(code_of([&] { be.crop(x, 4, 0, 4, 9); }) == StatusCode::kInvalidArgument);
  CHECK(code_of([&] { be.crop(x, 0, 0, 0, 9); }) == StatusCode::kInvalidArgument);
  CHECK(code_of([&] { be.crop(x.view({6, 7, 9}), 0, 0, 1, 1); }) == StatusCode::kInvalidArgument);
}

TEST_CASE("blend_tiles: diffusers' blend order and assembly on uneven tiles") {
  cpu::CpuBackend be(1);
  const int64_t B = 1, O = 2, blend = 3, limit = 5;
  const int64_t hs[2] = {8, 6}, ws[3] = {8, 8, 4};  // the last row and column are short, as at an image's edge
  std::vector<std::vector<std::vector<float>>> v(2);
  std::vector<std::vector<Tensor>> rows(2);
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 3; j++) {
      v[i].push_back(rnd(size_t(B * O * hs[i] * ws[j]), unsigned(10 + 3 * i + j)));
      rows[i].push_back(be.from_host(v[i][j].data(), {B, O, hs[i], ws[j]}));
    }
  const Tensor out = be.blend_tiles(rows, blend, limit);
  CHECK(out.shape == Shape{B, O, 5 + 5, 5 + 5 + 4});
  // The same blend, written out: vertical with the blended tile above, then horizontal with the
  // blended tile to the left.
  auto at = [&](int i, int j, int64_t o, int64_t y, int64_t x) -> float& { return v[i][j][size_t((o * hs[i] + y) * ws[j] + x)]; };
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 3; j++) {
      if (i > 0) {
        const int64_t e = std::min({hs[i - 1], hs[i], blend});
        for (int64_t o = 0; o < O; o++)
          for (int64_t y = 0; y < e; y++)
            for (int64_t x = 0; x < ws[j]; x++) at(i, j, o, y, x) = tile_blend(at(i - 1, j, o, hs[i - 1] - e + y, x), at(i, j, o, y, x), y, e);
      }
      if (j > 0) {
        const int64_t e = std::min({ws[j - 1], ws[j], blend});
        for (int64_t o = 0; o < O; o++)
          for (int64_t y = 0; y < hs[i]; y++)
            for (int64_t x = 0; x < e; x++) at(i, j, o, y, x) = tile_blend(at(i, j - 1, o, y, ws[j - 1] - e + x), at(i, j, o, y, x), x, e);
      }
    }
  const auto got = host(be, out);
  size_t mismatches = 0;
  for (int64_t o = 0; o < O; o++)
    for (int64_t Y = 0; Y < 10; Y++)
      for (int64_t X = 0; X < 14; X++) {
        const int i = Y < 5 ? 0 : 1, j = X < 5 ? 0 : X < 10 ? 1 : 2;
        const float want = at(i, j, o, Y - 5 * i, X - 5 * j);
        mismatches += std::memcmp(&got[size_t((o * 10 + Y) * 14 + X)], &want, 4) != 0;
      }
  CHECK(mismatches == 0);
  // Checks: a ragged grid, a tile of another batch, no tiles.
  std::vector<std::vector<Tensor>> ragged = rows;
  ragged[1].pop_back();
  CHECK(code_of([&] { be.blend_tiles(ragged, blend, limit); }) == StatusCode::kInvalidArgument);
  std::vector<std::vector<Tensor>> other = rows;
  const auto w = rnd(size_t(2 * O * hs[1] * ws[1]), 99);
  other[1][1] = be.from_host(w.data(), {2, O, hs[1], ws[1]});
  CHECK(code_of([&] { be.blend_tiles(other, blend, limit); }) == StatusCode::kInvalidArgument);
  CHECK(code_of([&] { be.blend_tiles({}, blend, limit); }) == StatusCode::kInvalidArgument);
}
