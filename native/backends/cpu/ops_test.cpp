// CPU op conformance: every op against a naive loop written out here.
// How to add an op: declare it in core/backend.h, implement it in cpu_backend.cpp, then add a
// TEST_CASE below computing the same thing with plain loops on random inputs.
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <memory>
#include <random>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "core/status.h"

using namespace pixart;

namespace {
std::vector<float> rnd(int64_t n, uint32_t seed, float scale = 1.f) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}
std::vector<float> host(cpu::CpuBackend& be, const Tensor& t) {
  std::vector<float> v(t.numel());
  be.to_host(t, v.data());
  return v;
}
void check_close(const std::vector<float>& a, const std::vector<float>& b, float tol = 1e-4f) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); i++) {
    if (std::fabs(a[i] - b[i]) > tol * (1.f + std::fabs(b[i]))) {
      FAIL("index " << i << ": " << a[i] << " vs " << b[i]);
    }
  }
}
}  // namespace

TEST_CASE("linear with bias, gelu-tanh and residual") {
  cpu::CpuBackend be(2);
  const int M = 5, K = 7, N = 3;
  auto x = rnd(M * K, 1), w = rnd(N * K, 2), b = rnd(N, 3), r = rnd(M * N, 4);
  auto y = be.linear(be.from_host(x.data(), {M, K}), be.from_host(w.data(), {N, K}), &*std::make_unique<Tensor>(be.from_host(b.data(), {N})),
                     Activation::kGeluTanh, &*std::make_unique<Tensor>(be.from_host(r.data(), {M, N})));
  std::vector<float> ref(M * N);
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      double s = b[j];
      for (int k = 0; k < K; k++) s += double(x[i * K + k]) * w[j * K + k];
      double g = 0.5 * s * (1 + std::tanh(0.7978845608028654 * (s + 0.044715 * s * s * s)));
      ref[i * N + j] = float(g + r[i * N + j]);
    }
  check_close(host(be, y), ref);
}

TEST_CASE("attention with position bias and key bias, 2 heads") {
  cpu::CpuBackend be(2);
  const int B = 2, Lq = 70, Lk = 5, H = 2, D = 3;
  auto q = rnd(B * Lq * H * D, 5), k = rnd(B * Lk * H * D, 6), v = rnd(B * Lk * H * D, 7);
  auto pb = rnd(H * Lq * Lk, 8), kb = rnd(B * Lk, 9);
  kb[3] = -10000.f;
  Tensor tpb = be.from_host(pb.data(), {H, Lq, Lk}), tkb = be.from_host(kb.data(), {B, Lk});
  auto out = be.attention(be.from_host(q.data(), {B, Lq, H * D}), be.from_host(k.data(), {B, Lk, H * D}),
                          be.from_host(v.data(), {B, Lk, H * D}), H, 0.5f, &tpb, &tkb);
  std::vector<float> ref(B * Lq * H * D);
  for (int b = 0; b < B; b++)
    for (int h = 0; h < H; h++)
      for (int i = 0; i < Lq; i++) {
        std::vector<double> s(Lk);
        double mx = -1e300, sum = 0;
        for (int j = 0; j < Lk; j++) {
          double d = 0;
          for (int c = 0; c < D; c++) d += double(q[(b * Lq + i) * H * D + h * D + c]) * k[(b * Lk + j) * H * D + h * D + c];
          s[j] = 0.5 * d + pb[(h * Lq + i) * Lk + j] + kb[b * Lk + j];
          mx = std::max(mx, s[j]);
        }
        for (auto& x : s) sum += (x = std::exp(x - mx));
        for (int c = 0; c < D; c++) {
          double o = 0;
          for (int j = 0; j < Lk; j++) o += s[j] / sum * v[(b * Lk + j) * H * D + h * D + c];
          ref[(b * Lq + i) * H * D + h * D + c] = float(o);
        }
      }
  check_close(host(be, out), ref);
}

TEST_CASE("norms: rms, layer, group (+silu), modulate, gated residual") {
  cpu::CpuBackend be(2);
  const int B = 2, N = 3, D = 8;
  auto x = rnd(B * N * D, 10), w = rnd(D, 11), mod = rnd(B * 3 * D, 12), y = rnd(B * N * D, 13);
  Tensor tx = be.from_host(x.data(), {B, N, D}), tw = be.from_host(w.data(), {D});
  Tensor tm = be.from_host(mod.data(), {B, 3, D});
  std::vector<float> rms(B * N * D), ln(B * N * D), modu(B * N * D), gr(B * N * D);
  for (int r = 0; r < B * N; r++) {
    double ss = 0, s = 0, v = 0;
    for (int j = 0; j < D; j++) ss += x[r * D + j] * x[r * D + j], s += x[r * D + j];
    double mean = s / D;
    for (int j = 0; j < D; j++) v += (x[r * D + j] - mean) * (x[r * D + j] - mean);
    int b = r / N;
    for (int j = 0; j < D; j++) {
      rms[r * D + j] = float(w[j] * x[r * D + j] / std::sqrt(ss / D + 1e-6));
      ln[r * D + j] = float((x[r * D + j] - mean) / std::sqrt(v / D + 1e-6));
      modu[r * D + j] = x[r * D + j] * (1 + mod[(b * 3 + 2) * D + j]) + mod[(b * 3 + 0) * D + j];
      gr[r * D + j] = x[r * D + j] + mod[(b * 3 + 1) * D + j] * y[r * D + j];
    }
  }
  check_close(host(be, be.rms_norm(tx, tw, 1e-6f)), rms);
  check_close(host(be, be.layer_norm(tx, nullptr, nullptr, 1e-6f)), ln);
  check_close(host(be, be.modulate(tx, tm, 0, 2)), modu);
  {  // the fused op's default: layer_norm then modulate
    std::vector<float> lnm(B * N * D);
    for (int r = 0; r < B * N; r++)
      for (int j = 0; j < D; j++) {
        const int b = r / N;
        lnm[r * D + j] = ln[r * D + j] * (1 + mod[(b * 3 + 2) * D + j]) + mod[(b * 3 + 0) * D + j];
      }
    check_close(host(be, be.layer_norm_modulate(tx, nullptr, nullptr, 1e-6f, tm, 0, 2)), lnm);
  }
  check_close(host(be, be.gated_residual(tx, be.from_host(y.data(), {B, N, D}), tm, 1)), gr);

  const int C = 4, G = 2, HW = 6;
  auto gx = rnd(B * C * HW, 14), gw = rnd(C, 15), gb = rnd(C, 16);
  std::vector<float> gref(B * C * HW);
  for (int b = 0; b < B; b++)
    for (int g = 0; g < G; g++) {
      double s = 0, v = 0;
      const int n = (C / G) * HW;
      const float* p = gx.data() + (b * C + g * (C / G)) * HW;
      for (int i = 0; i < n; i++) s += p[i];
      for (int i = 0; i < n; i++) v += (p[i] - s / n) * (p[i] - s / n);
      for (int i = 0; i < n; i++) {
        int c = g * (C / G) + i / HW;
        double t = (p[i] - s / n) / std::sqrt(v / n + 1e-6) * gw[c] + gb[c];
        gref[(b * C + g * (C / G)) * HW + i] = float(t / (1 + std::exp(-t)));
      }
    }
  check_close(host(be, be.group_norm(be.from_host(gx.data(), {B, C, 2, 3}), be.from_host(gw.data(), {C}),
                                     be.from_host(gb.data(), {C}), G, 1e-6f, true)),
              gref);
}

TEST_CASE("conv2d: 3x3 pad 1, stride 2 asymmetric pad, 1x1") {
  cpu::CpuBackend be(2);
  const int B = 2, C = 3, H = 5, W = 6, O = 4;
  auto x = rnd(B * C * H * W, 20);
  for (auto [k, s, pt, pl, pb, pr] : std::vector<std::array<int, 6>>{{3, 1, 1, 1, 1, 1}, {3, 2, 0, 0, 1, 1}, {1, 1, 0, 0, 0, 0}}) {
    auto w = rnd(O * C * k * k, 21 + k), bias = rnd(O, 30);
    Tensor tb = be.from_host(bias.data(), {O});
    auto y = be.conv2d(be.from_host(x.data(), {B, C, H, W}), be.from_host(w.data(), {O, C, k, k}), &tb, s, pt, pl, pb, pr);
    const int Ho = (H + pt + pb - k) / s + 1, Wo = (W + pl + pr - k) / s + 1;
    REQUIRE(y.shape == Shape{B, O, Ho, Wo});
    std::vector<float> ref(B * O * Ho * Wo);
    for (int b = 0; b < B; b++)
      for (int o = 0; o < O; o++)
        for (int oy = 0; oy < Ho; oy++)
          for (int ox = 0; ox < Wo; ox++) {
            double acc = bias[o];
            for (int c = 0; c < C; c++)
              for (int ky = 0; ky < k; ky++)
                for (int kx = 0; kx < k; kx++) {
                  int iy = oy * s + ky - pt, ix = ox * s + kx - pl;
                  if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                  acc += double(w[((o * C + c) * k + ky) * k + kx]) * x[((b * C + c) * H + iy) * W + ix];
                }
            ref[((b * O + o) * Ho + oy) * Wo + ox] = float(acc);
          }
    check_close(host(be, y), ref);
  }
}

TEST_CASE("layout ops round-trip: patchify/unpatchify, nchw/nlc, upsample, slice, embedding") {
  cpu::CpuBackend be(2);
  const int B = 2, C = 3, H = 4, W = 6, p = 2;
  auto x = rnd(B * C * H * W, 40);
  Tensor tx = be.from_host(x.data(), {B, C, H, W});
  auto pt = be.patchify(tx, p);
  REQUIRE(pt.shape == Shape{B, (H / p) * (W / p), C * p * p});
  auto ph = host(be, pt);
  // token (i=1, j=2) of batch 1, element (c=2, u=1, v=0)
  CHECK(ph[(1 * 6 + 1 * 3 + 2) * 12 + (2 * 4 + 1 * 2 + 0)] == x[((1 * C + 2) * H + 3) * W + 4]);
  // unpatchify takes (p, p, C) order: build it from x and check the round trip
  std::vector<float> tok(B * 6 * 12);
  for (int b = 0; b < B; b++)
    for (int i = 0; i < 2; i++)
      for (int j = 0; j < 3; j++)
        for (int u = 0; u < p; u++)
          for (int v = 0; v < p; v++)
            for (int c = 0; c < C; c++)
              tok[((b * 6 + i * 3 + j) * p * p + u * p + v) * C + c] = x[((b * C + c) * H + i * p + u) * W + j * p + v];
  check_close(host(be, be.unpatchify(be.from_host(tok.data(), {B, 6, 12}), 2, 3, p, C)), x, 0);
  check_close(host(be, be.nlc_to_nchw(be.nchw_to_nlc(tx), H, W)), x, 0);
  auto up = host(be, be.upsample_nearest2x(tx));
  CHECK(up[((1 * C + 2) * 2 * H + 5) * 2 * W + 7] == x[((1 * C + 2) * H + 2) * W + 3]);
  auto sl = host(be, be.slice_channels(tx, 1, 2));
  CHECK(sl[((1 * 2 + 1) * H + 2) * W + 3] == x[((1 * C + 2) * H + 2) * W + 3]);
  auto tab = rnd(10 * 4, 41);
  int32_t ids[3] = {9, 0, 4};
  auto e = host(be, be.embedding(be.from_host(tab.data(), {10, 4}), ids, 3));
  CHECK(e[2 * 4 + 1] == tab[4 * 4 + 1]);
  int32_t bad[1] = {10};
  CHECK(guarded([&] { be.embedding(be.from_host(tab.data(), {10, 4}), bad, 1); }).code() == StatusCode::kInvalidArgument);
}

TEST_CASE("shape errors are typed, not crashes") {
  cpu::CpuBackend be(1);
  auto a = be.empty({2, 3}), w = be.empty({4, 5});
  CHECK(guarded([&] { be.linear(a, w, nullptr, Activation::kNone, nullptr); }).code() == StatusCode::kInvalidArgument);
  CHECK(guarded([&] { be.add(a, be.empty({2})); }).code() == StatusCode::kInvalidArgument);
}
