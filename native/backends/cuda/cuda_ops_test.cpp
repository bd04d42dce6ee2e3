// CUDA backend conformance: every op on random inputs, and the three tiny fixture models end
// to end, on the CUDA backend (f32 with TF32 off, f16, bf16) against the CPU backend.
//
// The library is linked directly and driven through its C factory (cuda_abi.h). Where no
// usable GPU is present every case prints "no CUDA device: <why>" and passes.
//
// Op inputs are first rounded to the mode's dtype (a round trip through the GPU backend) and
// the CPU gets the same rounded values, so each check measures the op, not input
// quantisation. Errors are reported as max|gpu - cpu| / max|cpu| ("rel") and cosine
// similarity; every comparison prints them (run with -s to see passing ones too).
//
// Environment: PIXART_CUDA_TEST_DEVICE=N picks the device (default 0); PIXART_SOURCE_DIR points
// at the repository (for test/fixtures) when the binary runs away from where it was built.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "backends/cuda/cuda_abi.h"
#include "core/state_program.h"
#include "core/status.h"
#include "models/pixart_dit/pixart_dit.h"
#include "models/t5/t5_encoder.h"
#include "models/vae/vae.h"

using namespace pixart;

namespace {

// PIXART_SOURCE_DIR in the environment overrides the build's (binaries carried to a GPU machine).
std::string source_dir() {
  const char* e = std::getenv("PIXART_SOURCE_DIR");
  return e && *e ? std::string(e) : std::string(PIXART_SOURCE_DIR);
}
const std::string kFixtures = source_dir() + "/test/fixtures";

// ---------------------------------------------------------------- device, backends

struct Probe {
  bool ok = false;
  std::string reason;
};

const Probe& probe() {
  static const Probe p = [] {
    Probe r;
    char err[512] = {0};
    const int n = pixart_cuda_device_count(err, sizeof err);
    if (n < 0) r.reason = err;
    else if (n == 0) r.reason = "the CUDA runtime reports 0 devices";
    else r.ok = true;
    return r;
  }();
  return p;
}

#define REQUIRE_CUDA()                                   \
  do {                                                   \
    if (!probe().ok) {                                   \
      MESSAGE("no CUDA device: " << probe().reason);     \
      return;                                            \
    }                                                    \
  } while (0)

int test_device() {
  const char* d = std::getenv("PIXART_CUDA_TEST_DEVICE");
  return d ? std::atoi(d) : 0;
}

struct BackendDeleter {
  void operator()(Backend* b) const { pixart_cuda_destroy_backend(b); }
};
using CudaPtr = std::unique_ptr<Backend, BackendDeleter>;

CudaPtr make_cuda(int compute, bool tf32 = false) {
  char err[1024] = {0};
  int code = 0;
  Backend* b = pixart_cuda_create_backend(test_device(), compute, tf32 ? 1 : 0, &code, err, sizeof err);
  if (!b) FAIL("creating the CUDA backend failed (" << status_code_name(StatusCode(code)) << "): " << err);
  return CudaPtr(b);
}

// One backend per compute mode for the whole run.
Backend& cuda(int compute) {
  static std::map<int, CudaPtr> cache;
  auto it = cache.find(compute);
  if (it == cache.end()) it = cache.emplace(compute, make_cuda(compute)).first;
  return *it->second;
}

cpu::CpuBackend& cpu_be() {
  static cpu::CpuBackend be(0);
  return be;
}

struct Mode {
  const char* name;
  int compute;
  float tol;  // max|gpu - cpu| / max|cpu| allowed for a single op
};
const Mode kModes[] = {{"f32", PIXART_CUDA_F32, 2e-5f}, {"f16", PIXART_CUDA_F16, 4e-3f}, {"bf16", PIXART_CUDA_BF16, 3e-2f}};

// ---------------------------------------------------------------- host data, comparison

std::vector<float> rnd(int64_t n, uint32_t seed, float scale = 1.f, float offset = 0.f) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(g) + offset;
  return v;
}

std::vector<float> down(Backend& be, const Tensor& t) {
  std::vector<float> v(static_cast<size_t>(t.numel()));
  be.to_host(t, v.data());
  return v;
}

// The values as the GPU backend stores them (rounded to its compute dtype).
std::vector<float> roundtrip(Backend& g, const std::vector<float>& v, const Shape& s) { return down(g, g.from_host(v.data(), s)); }

struct Diff {
  double max_abs = 0, max_ref = 0, rel = 0, cosine = 1;
  bool finite = true;
};

Diff diff(const std::vector<float>& got, const std::vector<float>& ref) {
  Diff d;
  double dot = 0, ng = 0, nr = 0;
  for (size_t i = 0; i < ref.size(); i++) {
    if (!std::isfinite(got[i])) d.finite = false;
    d.max_abs = std::max(d.max_abs, std::fabs(double(got[i]) - ref[i]));
    d.max_ref = std::max(d.max_ref, std::fabs(double(ref[i])));
    dot += double(got[i]) * ref[i];
    ng += double(got[i]) * got[i];
    nr += double(ref[i]) * ref[i];
  }
  d.rel = d.max_abs / std::max(d.max_ref, 1e-12);
  d.cosine = (ng > 0 && nr > 0) ? dot / std::sqrt(ng * nr) : (ng == nr ? 1.0 : 0.0);
  return d;
}

void expect_close(const std::string& what, const Mode& m, const std::vector<float>& got, const std::vector<float>& ref,
                  float tol) {
  REQUIRE(got.size() == ref.size());
  const Diff d = diff(got, ref);
  MESSAGE(what << " [" << m.name << "]: rel " << d.rel << " (max abs " << d.max_abs << ", max ref " << d.max_ref
               << "), cosine " << d.cosine);
  CHECK_MESSAGE(d.finite, what << " [" << m.name << "]: non-finite output");
  CHECK_MESSAGE(d.rel <= tol, what << " [" << m.name << "]: rel " << d.rel << " > " << tol);
}

struct In {
  std::vector<float> v;
  Shape shape;
};

// Runs fn on both backends with the same (mode-rounded) inputs and compares the outputs.
void op_case(const std::string& what, const std::vector<In>& ins,
             const std::function<Tensor(Backend&, const std::vector<Tensor>&)>& fn, float tol_scale = 1.f) {
  for (const Mode& m : kModes) {
    Backend& g = cuda(m.compute);
    std::vector<Tensor> gi, ci;
    for (const In& in : ins) {
      const std::vector<float> q = roundtrip(g, in.v, in.shape);
      gi.push_back(g.from_host(q.data(), in.shape));
      ci.push_back(cpu_be().from_host(q.data(), in.shape));
    }
    const Tensor gy = fn(g, gi), cy = fn(cpu_be(), ci);
    REQUIRE_MESSAGE(gy.shape == cy.shape, what << ": shape " << shape_str(gy.shape) << " vs " << shape_str(cy.shape));
    expect_close(what, m, down(g, gy), down(cpu_be(), cy), m.tol * tol_scale);
  }
}

StatusCode code_of(const std::function<void()>& fn) { return guarded(fn).code(); }

uint16_t to_half_bits(float f) {  // round-to-nearest-even, normal range and zero only (test data)
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const int exp = int((x >> 23) & 0xff) - 127 + 15;
  uint32_t mant = x & 0x7fffffu;
  if ((x & 0x7fffffffu) == 0 || exp <= 0) return uint16_t(sign);
  uint32_t h = (uint32_t(exp) << 10) | (mant >> 13);
  const uint32_t rest = mant & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h++;
  return uint16_t(sign | h);
}
uint16_t to_bf16_bits(float f) {  // truncation: exact in both backends
  uint32_t x;
  std::memcpy(&x, &f, 4);
  return uint16_t(x >> 16);
}

}  // namespace

// ================================================================ linear algebra

TEST_CASE("cuda linear: bias, activations, residual, fused and unfused epilogues") {
  REQUIRE_CUDA();
  struct C {
    int64_t M, K, N;
    bool bias;
    Activation act;
    bool residual;
  };
  const C cases[] = {
      {5, 7, 3, true, Activation::kGeluTanh, true},    // odd sizes, act + residual (unfused)
      {37, 72, 40, true, Activation::kNone, false},    // bias epilogue
      {37, 72, 40, false, Activation::kNone, true},    // residual through beta = 1
      {37, 72, 40, true, Activation::kNone, true},     // bias + residual
      {64, 96, 384, true, Activation::kGeluTanh, false},  // GELU_BIAS epilogue
      {64, 96, 384, false, Activation::kGeluTanh, false}, // GELU epilogue
      {33, 64, 48, true, Activation::kGelu, false},    // erf GELU (kernel)
      {33, 64, 48, true, Activation::kSilu, true},     // SiLU + residual (kernel)
      {17, 40, 24, true, Activation::kRelu, false},    // ReLU (T5 v1.0, a VAE act_fn): the epilogue kernel
      {512, 1152, 1152, true, Activation::kNone, false},  // PixArt width
  };
  for (const C& c : cases) {
    std::vector<In> ins = {{rnd(c.M * c.K, 1), {c.M, c.K}}, {rnd(c.N * c.K, 2, 0.1f), {c.N, c.K}}};
    if (c.bias) ins.push_back({rnd(c.N, 3), {c.N}});
    if (c.residual) ins.push_back({rnd(c.M * c.N, 4), {c.M, c.N}});
    const std::string what = "linear " + std::to_string(c.M) + "x" + std::to_string(c.K) + "->" + std::to_string(c.N) +
                             " act " + std::to_string(int(c.act)) + (c.bias ? " +bias" : "") + (c.residual ? " +res" : "");
    op_case(what, ins, [&](Backend& be, const std::vector<Tensor>& t) {
      const Tensor* b = c.bias ? &t[2] : nullptr;
      const Tensor* r = c.residual ? &t[c.bias ? 3 : 2] : nullptr;
      return be.linear(t[0], t[1], b, c.act, r);
    });
  }
  // 3-D activations, as the models pass them.
  op_case("linear [2,33,64]->80", {{rnd(2 * 33 * 64, 5), {2, 33, 64}}, {rnd(80 * 64, 6, 0.1f), {80, 64}}, {rnd(80, 7), {80}}},
          [](Backend& be, const std::vector<Tensor>& t) { return be.linear(t[0], t[1], &t[2], Activation::kNone, nullptr); });
}

TEST_CASE("cuda attention: head dims, masks, position bias, long and short keys") {
  REQUIRE_CUDA();
  struct C {
    int64_t B, Lq, Lk, H, D;
    bool pos, key;
    float mask;  // value of masked key_bias entries (0: none masked)
  };
  const C cases[] = {
      {2, 70, 5, 2, 3, true, true, -10000.f},       // the CPU op test's shape (D = 3: scalar loads)
      {2, 65, 77, 4, 16, true, true, -3.4028234663852886e38f},  // T5-like: pos bias + -FLT_MAX mask
      {1, 128, 128, 2, 24, false, false, 0.f},      // tiny DiT self-attention
      {2, 128, 6, 2, 24, false, true, -10000.f},    // tiny DiT cross-attention with a text mask
      {1, 64, 64, 1, 64, false, false, 0.f},        // tiny VAE mid-block
      {2, 300, 120, 4, 72, false, true, -10000.f},  // PixArt cross-attention (D = 72)
      {1, 257, 257, 4, 72, false, false, 0.f},      // PixArt self-attention, ragged tiles
      {1, 100, 100, 2, 128, true, true, -10000.f},  // largest fused head dim
      {1, 33, 200, 2, 40, false, true, -10000.f},   // D % 8 != 0 -> scalar loads, padded to 48
      {1, 50, 90, 1, 160, true, true, -10000.f},    // D > 128 -> unfused GEMM-softmax-GEMM
  };
  for (const C& c : cases) {
    const int64_t HD = c.H * c.D;
    std::vector<In> ins = {{rnd(c.B * c.Lq * HD, 11), {c.B, c.Lq, HD}},
                           {rnd(c.B * c.Lk * HD, 12), {c.B, c.Lk, HD}},
                           {rnd(c.B * c.Lk * HD, 13), {c.B, c.Lk, HD}}};
    if (c.pos) ins.push_back({rnd(c.H * c.Lq * c.Lk, 14), {c.H, c.Lq, c.Lk}});
    if (c.key) {
      std::vector<float> kb = rnd(c.B * c.Lk, 15, 0.5f);
      if (c.mask != 0.f) {  // mask the last third of the keys of the last batch entry, and one key of the first
        for (int64_t j = c.Lk - c.Lk / 3; j < c.Lk; j++) kb[(c.B - 1) * c.Lk + j] = c.mask;
        if (c.Lk > 1) kb[0] = c.mask;
      }
      ins.push_back({kb, {c.B, c.Lk}});
    }
    const float scale = 1.f / std::sqrt(float(c.D));
    const std::string what = "attention B" + std::to_string(c.B) + " Lq" + std::to_string(c.Lq) + " Lk" +
                             std::to_string(c.Lk) + " H" + std::to_string(c.H) + " D" + std::to_string(c.D) +
                             (c.pos ? " +pos" : "") + (c.key ? " +key" : "");
    op_case(what, ins, [&](Backend& be, const std::vector<Tensor>& t) {
      const Tensor* pb = c.pos ? &t[3] : nullptr;
      const Tensor* kb = c.key ? &t[c.pos ? 4 : 3] : nullptr;
      return be.attention(t[0], t[1], t[2], int(c.H), scale, pb, kb);
    });
  }
}

TEST_CASE("cuda attention: every schedule of the fused kernel, and the tuned choice") {
  REQUIRE_CUDA();
  struct C {
    int64_t B, Lq, Lk, H, D;
  };
  // No bias, head dims with several schedules (64, 72, 128); ragged query and key tiles.
  const C cases[] = {{2, 257, 190, 2, 72}, {1, 130, 77, 3, 64}, {1, 100, 33, 2, 128}, {1, 1100, 1100, 4, 72}};
  auto run_cases = [&](const std::string& tag) {
    for (const C& c : cases) {
      const int64_t HD = c.H * c.D;
      const std::vector<In> ins = {{rnd(c.B * c.Lq * HD, 31), {c.B, c.Lq, HD}},
                                   {rnd(c.B * c.Lk * HD, 32), {c.B, c.Lk, HD}},
                                   {rnd(c.B * c.Lk * HD, 33), {c.B, c.Lk, HD}}};
      op_case(tag + " attention B" + std::to_string(c.B) + " Lq" + std::to_string(c.Lq) + " Lk" + std::to_string(c.Lk) +
                  " H" + std::to_string(c.H) + " D" + std::to_string(c.D),
              ins, [&](Backend& be, const std::vector<Tensor>& t) {
                return be.attention(t[0], t[1], t[2], int(c.H), 1.f / std::sqrt(float(c.D)), nullptr, nullptr);
              });
    }
  };
  for (int v = 0; v < 5; v++) {
    setenv("PIXART_CUDA_ATTENTION_VARIANT", std::to_string(v).c_str(), 1);
    run_cases("schedule " + std::to_string(v));
  }
  unsetenv("PIXART_CUDA_ATTENTION_VARIANT");
  run_cases("tuned");  // the 1100x1100 case is timed on its first call, then reused
  run_cases("tuned again");
}

TEST_CASE("cuda attention: the unfused path agrees with the fused kernel") {
  REQUIRE_CUDA();
  // A backend created with PIXART_CUDA_UNFUSED_ATTENTION=1 routes every head dim through GEMMs.
  setenv("PIXART_CUDA_UNFUSED_ATTENTION", "1", 1);
  CudaPtr f32 = make_cuda(PIXART_CUDA_F32), f16 = make_cuda(PIXART_CUDA_F16);
  unsetenv("PIXART_CUDA_UNFUSED_ATTENTION");
  const int64_t B = 2, Lq = 96, Lk = 40, H = 2, D = 72, HD = H * D;
  const auto q = rnd(B * Lq * HD, 21), k = rnd(B * Lk * HD, 22), v = rnd(B * Lk * HD, 23), kb = rnd(B * Lk, 24);
  for (auto [mode, unfused] : {std::pair<const Mode*, Backend*>{&kModes[0], f32.get()}, {&kModes[1], f16.get()}}) {
    Backend& fused = cuda(mode->compute);
    auto run = [&](Backend& be) {
      return down(be, be.attention(be.from_host(q.data(), {B, Lq, HD}), be.from_host(k.data(), {B, Lk, HD}),
                                   be.from_host(v.data(), {B, Lk, HD}), int(H), 0.1f, nullptr,
                                   &*std::make_unique<Tensor>(be.from_host(kb.data(), {B, Lk}))));
    };
    expect_close("unfused vs fused attention", *mode, run(*unfused), run(fused), 2 * mode->tol);
  }
}

// ================================================================ elementwise

TEST_CASE("cuda add / mul with trailing broadcast, scale") {
  REQUIRE_CUDA();
  op_case("add same shape", {{rnd(2 * 6 * 8, 1), {2, 6, 8}}, {rnd(2 * 6 * 8, 2), {2, 6, 8}}},
          [](Backend& be, const std::vector<Tensor>& t) { return be.add(t[0], t[1]); });
  op_case("add [2,6,8]+[6,8]", {{rnd(2 * 6 * 8, 3), {2, 6, 8}}, {rnd(6 * 8, 4), {6, 8}}},
          [](Backend& be, const std::vector<Tensor>& t) { return be.add(t[0], t[1]); });
  op_case("add [4,1025]+[1025]", {{rnd(4 * 1025, 5), {4, 1025}}, {rnd(1025, 6), {1025}}},
          [](Backend& be, const std::vector<Tensor>& t) { return be.add(t[0], t[1]); });
  op_case("mul [3,5,7]*[7]", {{rnd(3 * 5 * 7, 7), {3, 5, 7}}, {rnd(7, 8), {7}}},
          [](Backend& be, const std::vector<Tensor>& t) { return be.mul(t[0], t[1]); });
  op_case("scale", {{rnd(1000, 9), {10, 100}}},
          [](Backend& be, const std::vector<Tensor>& t) { return be.scale(t[0], -0.37f); });
  Backend& g = cuda(PIXART_CUDA_F32);
  const auto a = rnd(12, 1), b = rnd(5, 2);
  CHECK(code_of([&] { g.add(g.from_host(a.data(), {3, 4}), g.from_host(b.data(), {5})); }) == StatusCode::kInvalidArgument);
}

TEST_CASE("cuda activations and gated GELU") {
  REQUIRE_CUDA();
  for (Activation act : {Activation::kNone, Activation::kGeluTanh, Activation::kGelu, Activation::kSilu, Activation::kRelu}) {
    op_case("activation " + std::to_string(int(act)), {{rnd(3000, 31, 3.f), {3, 1000}}},
            [act](Backend& be, const std::vector<Tensor>& t) { return be.activation(t[0], act); });
  }
  op_case("gated_gelu", {{rnd(2 * 9 * 128, 32, 2.f), {2, 9, 128}}, {rnd(2 * 9 * 128, 33), {2, 9, 128}}},
          [](Backend& be, const std::vector<Tensor>& t) { return be.gated_gelu(t[0], t[1]); });
}

// ================================================================ normalisation

TEST_CASE("cuda rms_norm and layer_norm") {
  REQUIRE_CUDA();
  op_case("rms_norm [3,7,64]", {{rnd(3 * 7 * 64, 41), {3, 7, 64}}, {rnd(64, 42), {64}}},
          [](Backend& be, const std::vector<Tensor>& t) { return be.rms_norm(t[0], t[1], 1e-6f); });
  op_case("rms_norm [3,4096]", {{rnd(3 * 4096, 43), {3, 4096}}, {rnd(4096, 44), {4096}}},
          [](Backend& be, const std::vector<Tensor>& t) { return be.rms_norm(t[0], t[1], 1e-6f); });
  // An offset mean checks the two-pass variance (no E[x^2] - mean^2 cancellation).
  op_case("layer_norm [2,50,1152] no affine", {{rnd(2 * 50 * 1152, 45, 2.f, 5.f), {2, 50, 1152}}},
          [](Backend& be, const std::vector<Tensor>& t) { return be.layer_norm(t[0], nullptr, nullptr, 1e-6f); });
  op_case("layer_norm [9,48] affine", {{rnd(9 * 48, 46), {9, 48}}, {rnd(48, 47), {48}}, {rnd(48, 48), {48}}},
          [](Backend& be, const std::vector<Tensor>& t) { return be.layer_norm(t[0], &t[1], &t[2], 1e-5f); });
}

TEST_CASE("cuda layer_norm_modulate: the fused kernel and the fallback match the CPU's composition") {
  REQUIRE_CUDA();
  // 1152 and 48: the warp-per-row kernel (width a multiple of 8); 36 and 4104 (> 4096): the fallback.
  for (int64_t D : {1152, 48, 36, 4104}) {
    const int64_t B = 2, N = 37, M = 6;
    const std::vector<In> in = {{rnd(B * N * D, 61, 2.f, 3.f), {B, N, D}}, {rnd(B * M * D, 62, 0.5f), {B, M, D}},
                                {rnd(D, 63), {D}}, {rnd(D, 64), {D}}};
    op_case("layer_norm_modulate D=" + std::to_string(D), in, [](Backend& be, const std::vector<Tensor>& t) {
      return be.layer_norm_modulate(t[0], nullptr, nullptr, 1e-6f, t[1], 3, 4);
    });
    op_case("layer_norm_modulate affine D=" + std::to_string(D), in, [](Backend& be, const std::vector<Tensor>& t) {
      return be.layer_norm_modulate(t[0], &t[2], &t[3], 1e-5f, t[1], 0, 1);
    });
    op_case("layer_norm D=" + std::to_string(D), in,
            [](Backend& be, const std::vector<Tensor>& t) { return be.layer_norm(t[0], &t[2], nullptr, 1e-6f); });
    op_case("modulate / gated_residual D=" + std::to_string(D), in, [](Backend& be, const std::vector<Tensor>& t) {
      return be.gated_residual(t[0], be.modulate(t[0], t[1], 0, 1), t[1], 5);
    });
  }
}

TEST_CASE("cuda modulate and gated_residual (adaLN)") {
  REQUIRE_CUDA();
  const std::vector<In> xm = {{rnd(2 * 10 * 48, 51), {2, 10, 48}}, {rnd(2 * 6 * 48, 52, 0.5f), {2, 6, 48}}};
  op_case("modulate 0,1", xm, [](Backend& be, const std::vector<Tensor>& t) { return be.modulate(t[0], t[1], 0, 1); });
  op_case("modulate 3,4", xm, [](Backend& be, const std::vector<Tensor>& t) { return be.modulate(t[0], t[1], 3, 4); });
  op_case("gated_residual 5",
          {{rnd(2 * 10 * 48, 53), {2, 10, 48}}, {rnd(2 * 10 * 48, 54), {2, 10, 48}}, {rnd(2 * 6 * 48, 55), {2, 6, 48}}},
          [](Backend& be, const std::vector<Tensor>& t) { return be.gated_residual(t[0], t[1], t[2], 5); });
}

TEST_CASE("cuda group_norm with and without fused SiLU") {
  REQUIRE_CUDA();
  for (bool silu : {false, true}) {
    op_case(std::string("group_norm [2,32,9,7] g8") + (silu ? " +silu" : ""),
            {{rnd(2 * 32 * 9 * 7, 61, 1.f, 0.5f), {2, 32, 9, 7}}, {rnd(32, 62), {32}}, {rnd(32, 63), {32}}},
            [silu](Backend& be, const std::vector<Tensor>& t) { return be.group_norm(t[0], t[1], t[2], 8, 1e-6f, silu); });
  }
  // Groups of 36864 elements: statistics from several chunks combined.
  op_case("group_norm [1,32,96,96] g8 +silu",
          {{rnd(32 * 96 * 96, 64, 3.f, 2.f), {1, 32, 96, 96}}, {rnd(32, 65), {32}}, {rnd(32, 66), {32}}},
          [](Backend& be, const std::vector<Tensor>& t) { return be.group_norm(t[0], t[1], t[2], 8, 1e-6f, true); });
}

// ================================================================ images and layout

// One conv2d case of the tests below: batch, channels, size, outputs, kernel, stride, per-side padding.
struct ConvCase {
  int64_t B, C, H, W, O, k;
  int stride, pt, pl, pb, pr;
  bool bias;
};

TEST_CASE("cuda conv2d: kernels, strides, per-side padding, chunked im2col") {
  REQUIRE_CUDA();
  using C = ConvCase;
  const C cases[] = {
      {2, 4, 8, 8, 16, 3, 1, 1, 1, 1, 1, true},     // VAE conv_in
      {1, 8, 9, 11, 8, 3, 2, 0, 0, 1, 1, true},     // VAE downsample: pad right/bottom only
      {2, 16, 6, 5, 12, 1, 1, 0, 0, 0, 0, true},    // 1x1: direct GEMM
      {1, 4, 8, 8, 6, 1, 1, 0, 0, 0, 0, false},     // 1x1 without bias
      {1, 4, 16, 16, 32, 2, 2, 0, 0, 0, 0, true},   // patch conv
      {1, 3, 7, 6, 5, 3, 1, 2, 0, 1, 2, false},     // odd padding
      {1, 64, 256, 256, 8, 3, 1, 1, 1, 1, 1, true}, // CKK * HWo > column budget: several chunks
  };
  for (const C& c : cases) {
    std::vector<In> ins = {{rnd(c.B * c.C * c.H * c.W, 71), {c.B, c.C, c.H, c.W}},
                           {rnd(c.O * c.C * c.k * c.k, 72, 0.2f), {c.O, c.C, c.k, c.k}}};
    if (c.bias) ins.push_back({rnd(c.O, 73), {c.O}});
    const std::string what = "conv2d C" + std::to_string(c.C) + " " + std::to_string(c.H) + "x" + std::to_string(c.W) +
                             " k" + std::to_string(c.k) + " s" + std::to_string(c.stride);
    op_case(what, ins, [&](Backend& be, const std::vector<Tensor>& t) {
      return be.conv2d(t[0], t[1], c.bias ? &t[2] : nullptr, c.stride, c.pt, c.pl, c.pb, c.pr);
    });
  }
}

namespace {

using EnvVars = std::vector<std::pair<std::string, std::string>>;

// Sets environment variables for the lifetime of this object, then restores what was there.
class ScopedEnv {
 public:
  explicit ScopedEnv(const EnvVars& vars) {
    for (const auto& [name, value] : vars) {
      const char* old = std::getenv(name.c_str());
      saved_.push_back({name, old != nullptr, old ? old : ""});
      setenv(name.c_str(), value.c_str(), 1);
    }
  }
  ~ScopedEnv() {
    for (const Saved& s : saved_) {
      if (s.had) setenv(s.name.c_str(), s.value.c_str(), 1);
      else unsetenv(s.name.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  struct Saved {
    std::string name;
    bool had;
    std::string value;
  };
  std::vector<Saved> saved_;
};

}  // namespace

// The cuDNN path (when libcudnn.so.9 loads; otherwise every case runs im2col and still has to
// match): a backend reads PIXART_CUDA_CONV_* when its first conv2d creates its cuDNN state, so
// each configuration gets fresh f16 and bf16 backends. Every shape runs twice: the first call
// tunes it, the second runs the kept choice. Odd channel counts and H*W exercise the NHWC
// transposes' edges; a 30000-byte band budget splits the NHWC path into bands of rows (several
// shapes here; those whose single row exceeds it fall back to the heuristics' NCHW pick); the
// stride-2 case with bottom/right padding only goes to im2col.
TEST_CASE("cuda conv2d through cuDNN: tuned choice, NCHW only, NHWC only (whole and in bands), untuned") {
  REQUIRE_CUDA();
  using C = ConvCase;
  const C cases[] = {
      {2, 5, 7, 9, 6, 1, 1, 0, 0, 0, 0, true},         // 1x1
      {1, 48, 20, 30, 40, 1, 1, 0, 0, 0, 0, false},    // 1x1, 4 bands of 5 rows
      {2, 33, 13, 11, 17, 3, 1, 1, 1, 1, 1, true},     // 3x3, stride 1, pad 1; 2 bands, the last past Ho
      {1, 70, 40, 37, 96, 3, 1, 1, 1, 1, 1, false},    // several 64-wide transpose tiles each way; 40 bands
      {2, 130, 33, 33, 3, 3, 1, 1, 1, 1, 1, true},     // VAE conv_out-like: 3 outputs
      {1, 16, 10, 12, 8, 3, 2, 1, 1, 1, 1, false},     // stride 2, symmetric padding
      {1, 40, 31, 29, 24, 3, 2, 1, 1, 1, 1, true},     // stride 2, 4 bands of 4 rows
      {2, 8, 9, 11, 8, 3, 2, 0, 0, 1, 1, true},        // stride 2, bottom/right padding: im2col
  };
  const std::vector<std::pair<std::string, EnvVars>> configs = {
      {"tuned", {}},
      {"NCHW only", {{"PIXART_CUDA_CONV_LAYOUT", "nchw"}}},
      {"NHWC only", {{"PIXART_CUDA_CONV_LAYOUT", "nhwc"}}},
      {"NHWC in bands", {{"PIXART_CUDA_CONV_LAYOUT", "nhwc"}, {"PIXART_CUDA_CONV_BAND_BYTES", "30000"}}},
      {"untuned", {{"PIXART_CUDA_CONV_TUNE", "0"}}},
  };
  for (const auto& [tag, env] : configs) {
    ScopedEnv scoped(env);
    for (const Mode& m : {kModes[1], kModes[2]}) {
      CudaPtr g = make_cuda(m.compute);
      for (const C& c : cases) {
        const Shape xs{c.B, c.C, c.H, c.W}, ws{c.O, c.C, c.k, c.k}, bs{c.O};
        const auto x = roundtrip(*g, rnd(c.B * c.C * c.H * c.W, 91), xs);
        const auto w = roundtrip(*g, rnd(c.O * c.C * c.k * c.k, 92, 0.2f), ws);
        const auto b = roundtrip(*g, rnd(c.O, 93), bs);
        auto conv = [&](Backend& be) {
          const Tensor tx = be.from_host(x.data(), xs), tw = be.from_host(w.data(), ws), tb = be.from_host(b.data(), bs);
          return down(be, be.conv2d(tx, tw, c.bias ? &tb : nullptr, c.stride, c.pt, c.pl, c.pb, c.pr));
        };
        const std::vector<float> ref = conv(cpu_be());
        const std::string what = tag + " conv2d B" + std::to_string(c.B) + " C" + std::to_string(c.C) + " " +
                                 std::to_string(c.H) + "x" + std::to_string(c.W) + " O" + std::to_string(c.O) + " k" +
                                 std::to_string(c.k) + " s" + std::to_string(c.stride) + " pad " +
                                 std::to_string(c.pt) + std::to_string(c.pl) + std::to_string(c.pb) +
                                 std::to_string(c.pr);
        expect_close(what + " (first call)", m, conv(*g), ref, m.tol);
        expect_close(what + " (kept choice)", m, conv(*g), ref, m.tol);
      }
    }
  }
}

// Timings of the VAE decoder's convolution shapes at 1024x1024 (f16, batch 1), tuned and with
// PIXART_CUDA_CONV_TUNE=0: a tool for a GPU run (PIXART_CUDA_CONV_BENCH=1), skipped otherwise.
// "decoder total" weights each shape by how often a decode runs it.
TEST_CASE("cuda conv2d timings at the VAE decoder's 1024x1024 shapes (PIXART_CUDA_CONV_BENCH=1)") {
  REQUIRE_CUDA();
  if (!std::getenv("PIXART_CUDA_CONV_BENCH")) {
    MESSAGE("skipped: set PIXART_CUDA_CONV_BENCH=1 to time the VAE decoder's convolution shapes");
    return;
  }
  struct S {
    int64_t C, HW, O, k;
    int count;  // convolutions of this shape in one 1024x1024 decode
  };
  const S shapes[] = {{4, 128, 4, 1, 1},       {4, 128, 512, 3, 1},     {512, 128, 512, 3, 10},
                      {512, 256, 512, 3, 7},   {512, 512, 512, 3, 1},   {512, 512, 256, 3, 1},
                      {256, 512, 256, 3, 5},   {512, 512, 256, 1, 1},   {256, 1024, 256, 3, 1},
                      {256, 1024, 128, 3, 1},  {128, 1024, 128, 3, 5},  {256, 1024, 128, 1, 1},
                      {128, 1024, 3, 3, 1}};
  using Clock = std::chrono::steady_clock;
  for (const std::string tune : {"1", "0"}) {
    ScopedEnv scoped(EnvVars{{"PIXART_CUDA_CONV_TUNE", tune}});
    CudaPtr g = make_cuda(PIXART_CUDA_F16);
    auto sync = [&] { REQUIRE(pixart_cuda_synchronize(g.get(), nullptr, nullptr, 0) == 0); };
    double total = 0, first_total = 0;
    for (const S& s : shapes) {
      const Tensor x = g->empty({1, s.C, s.HW, s.HW});
      const auto wv = rnd(s.O * s.C * s.k * s.k, 5, 0.05f);
      const Tensor w = g->from_host(wv.data(), {s.O, s.C, s.k, s.k});
      const int p = int(s.k / 2);
      sync();
      Clock::time_point t0 = Clock::now();
      { Tensor y = g->conv2d(x, w, nullptr, 1, p, p, p, p); }
      sync();
      const double first = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      const int reps = 5;
      t0 = Clock::now();
      for (int i = 0; i < reps; i++) Tensor y = g->conv2d(x, w, nullptr, 1, p, p, p, p);
      sync();
      const double per = std::chrono::duration<double, std::milli>(Clock::now() - t0).count() / reps;
      total += per * s.count;
      first_total += first;
      MESSAGE("conv bench [tune " << tune << "] C" << s.C << " -> O" << s.O << " k" << s.k << " at " << s.HW << "x"
                                  << s.HW << ": first call " << first << " ms, then " << per << " ms per call (x"
                                  << s.count << " per decode)");
    }
    MESSAGE("conv bench [tune " << tune << "] decoder total " << total << " ms per decode; first calls " << first_total
                                << " ms");
  }
}

TEST_CASE("cuda layout ops: upsample, NCHW<->NLC, patchify, unpatchify, slice, embedding") {
  REQUIRE_CUDA();
  op_case("upsample_nearest2x", {{rnd(2 * 3 * 5 * 7, 81), {2, 3, 5, 7}}},
          [](Backend& be, const std::vector<Tensor>& t) { return be.upsample_nearest2x(t[0]); });
  op_case("nchw_to_nlc", {{rnd(2 * 35 * 9 * 7, 82), {2, 35, 9, 7}}},
          [](Backend& be, const std::vector<Tensor>& t) { return be.nchw_to_nlc(t[0]); });
  op_case("nlc_to_nchw", {{rnd(2 * 63 * 35, 83), {2, 63, 35}}},
          [](Backend& be, const std::vector<Tensor>& t) { return be.nlc_to_nchw(t[0], 9, 7); });
  op_case("patchify p2", {{rnd(2 * 4 * 6 * 10, 84), {2, 4, 6, 10}}},
          [](Backend& be, const std::vector<Tensor>& t) { return be.patchify(t[0], 2); });
  op_case("unpatchify p2 c8", {{rnd(2 * 15 * 32, 85), {2, 15, 32}}},
          [](Backend& be, const std::vector<Tensor>& t) { return be.unpatchify(t[0], 3, 5, 2, 8); });
  op_case("slice_channels", {{rnd(2 * 8 * 5 * 3, 86), {2, 8, 5, 3}}},
          [](Backend& be, const std::vector<Tensor>& t) { return be.slice_channels(t[0], 3, 4); });
  const int32_t ids[] = {5, 0, 9, 5, 2};
  op_case("embedding", {{rnd(10 * 24, 87), {10, 24}}},
          [&](Backend& be, const std::vector<Tensor>& t) { return be.embedding(t[0], ids, 5); });
  op_case("add_rows", {{rnd(3 * 24, 88), {3, 24}}, {rnd(6 * 24, 89), {6, 24}}},
          [](Backend& be, const std::vector<Tensor>& t) { return be.add_rows(t[0], t[1]); });
  for (const Mode& m : kModes) {  // the kernel against Backend's default (gather + add) on the device: same bits
    CAPTURE(m.name);
    Backend& g = cuda(m.compute);
    const auto x = rnd(3 * 24, 90), t = rnd(6 * 24, 91);
    const Tensor tx = g.from_host(x.data(), {3, 24}), tt = g.from_host(t.data(), {6, 24});
    const Tensor k = g.add_rows(tx, tt);
    CHECK(k.shape == Shape{3, 6, 24});
    CHECK(down(g, k) == down(g, g.Backend::add_rows(tx, tt)));
  }
  Backend& g = cuda(PIXART_CUDA_F16);
  const auto table = rnd(10 * 4, 1);
  const int32_t bad[] = {3, 10};
  CHECK(code_of([&] { g.embedding(g.from_host(table.data(), {10, 4}), bad, 2); }) == StatusCode::kInvalidArgument);
}

// ================================================================ memory, weights, faults

TEST_CASE("cuda load_weight converts F32/F16/BF16 checkpoints to the compute dtype") {
  REQUIRE_CUDA();
  const Shape shape = {6, 5};
  const auto v = rnd(30, 91, 3.f);
  std::vector<uint16_t> h(30), bf(30);
  for (size_t i = 0; i < 30; i++) {
    h[i] = to_half_bits(v[i]);
    bf[i] = to_bf16_bits(v[i]);
  }
  struct W {
    DType dt;
    const void* data;
    size_t bytes;
  };
  for (const W& w : {W{DType::kF32, v.data(), 120}, W{DType::kF16, h.data(), 60}, W{DType::kBF16, bf.data(), 60}}) {
    WeightView view;
    view.name = "w";
    view.file = "memory";
    view.dtype = w.dt;
    view.shape = shape;
    view.data = w.data;
    view.bytes = w.bytes;
    const std::vector<float> ref = down(cpu_be(), cpu_be().load_weight(view));
    for (const Mode& m : kModes) {
      Backend& g = cuda(m.compute);
      // The CPU result rounded to the mode: what an exact conversion gives.
      expect_close("load_weight " + std::string(dtype_name(w.dt)), m, down(g, g.load_weight(view)), roundtrip(g, ref, shape),
                   0.f);
    }
  }
  WeightView i64;
  i64.name = "ids";
  i64.file = "memory";
  i64.dtype = DType::kI64;
  i64.shape = {2};
  const int64_t raw[2] = {1, 2};
  i64.data = raw;
  i64.bytes = 16;
  CHECK(code_of([&] { cuda(PIXART_CUDA_F16).load_weight(i64); }) == StatusCode::kModelLoad);
}

TEST_CASE("cuda has_non_finite finds NaN and Inf") {
  REQUIRE_CUDA();
  for (const Mode& m : kModes) {
    CAPTURE(m.name);
    Backend& g = cuda(m.compute);
    char err[256] = {0};
    int code = 0;
    std::vector<float> v = rnd(100000, 92);
    Tensor clean = g.from_host(v.data(), {100000});
    CHECK(pixart_cuda_has_non_finite(&g, &clean, &code, err, sizeof err) == 0);
    v[77777] = std::nanf("");
    Tensor nan = g.from_host(v.data(), {100000});
    CHECK(pixart_cuda_has_non_finite(&g, &nan, &code, err, sizeof err) == 1);
    v[77777] = -INFINITY;
    Tensor inf = g.from_host(v.data(), {100000});
    CHECK(pixart_cuda_has_non_finite(&g, &inf, &code, err, sizeof err) == 1);
    Tensor host = cpu_be().from_host(v.data(), {100000});
    CHECK(pixart_cuda_has_non_finite(&g, &host, &code, err, sizeof err) == -1);
  }
  // f16 overflow on upload (70000 > 65504) is reported, not hidden.
  Backend& g = cuda(PIXART_CUDA_F16);
  const float big[2] = {1.f, 70000.f};
  Tensor t = g.from_host(big, {2});
  CHECK(pixart_cuda_has_non_finite(&g, &t, nullptr, nullptr, 0) == 1);
}

// The device conversion against Backend's default (to_host, then core/rgb8.h on the host) on
// the same tensor: both see the values the backend stores, so the bytes must be equal, not close.
TEST_CASE("cuda to_host_rgb8: bytes and NaN/Inf flag equal to the default implementation (f32, f16, bf16)") {
  REQUIRE_CUDA();
  auto bits = [](uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  };
  // Exact .5 products (round half to even), clamps at both ends, +-0, tiny, huge (core/rgb8_test.cpp).
  const uint32_t special[] = {0x00000000u, 0x80000000u, 0xbe58d8d6u, 0xbe58d8d5u, 0xbe50d0ceu, 0x3c00807eu,
                              0xbc00807eu, 0x3f129292u, 0x3f7cfcfbu, 0x3f7efefeu, 0x3f800000u, 0x3f7fffffu,
                              0x3fc00000u, 0x42c80000u, 0x7f7fc99eu, 0xbf800000u, 0xbf7fffffu, 0xbfc00000u,
                              0xc2c80000u, 0xff7fc99eu, 0x0da24260u};
  struct Img {
    Shape shape;
    std::vector<float> v;
    bool non_finite;  // as float32 (in f16/bf16, +-3.4e38 overflows to +-Inf on upload as well)
  };
  std::vector<Img> imgs;
  {  // [2, 3, 37, 53]: a pixel count that is no multiple of the block; decode-like range with clamps
    Img a{{2, 3, 37, 53}, rnd(2 * 3 * 37 * 53, 131, 0.7f), false};
    for (size_t i = 0; i < a.v.size(); i += 13) a.v[i] = float(int(i % 255)) / 255.f * 2.f - 1.f;  // grid points
    for (size_t i = 0; i < sizeof special / sizeof special[0]; i++) a.v[i * 97] = bits(special[i]);
    imgs.push_back(a);
  }
  for (uint32_t bad : {0x7fc00000u, 0x7f800000u, 0xff800000u}) {  // NaN, +Inf, -Inf at one place
    Img b{{1, 3, 64, 64}, rnd(3 * 64 * 64, 132), true};
    b.v[5000] = bits(bad);
    imgs.push_back(b);
  }
  imgs.push_back(Img{{1, 3, 1, 1}, {0.f, 1.f, -1.f}, false});
  imgs.push_back(Img{{1, 3, 1000, 1000}, rnd(3 * 1000 * 1000, 133, 0.6f), false});  // grid-stride loop
  for (const Mode& m : kModes) {
    CAPTURE(m.name);
    Backend& g = cuda(m.compute);
    for (const Img& im : imgs) {
      CAPTURE(shape_str(im.shape));
      const Tensor t = g.from_host(im.v.data(), im.shape);
      const std::vector<float> q = down(g, t);  // the values as this backend stores them
      bool stored_non_finite = false;
      for (float v : q) stored_non_finite |= !std::isfinite(v);
      CHECK((stored_non_finite || !im.non_finite));  // NaN/Inf survive the upload
      if (m.compute == PIXART_CUDA_F32) CHECK(stored_non_finite == im.non_finite);
      std::vector<uint8_t> got(im.v.size(), 1), ref(im.v.size(), 2);
      const bool got_flag = g.to_host_rgb8(t, got.data());
      const bool ref_flag = g.Backend::to_host_rgb8(t, ref.data());
      CHECK(got_flag == ref_flag);
      CHECK(got_flag == stored_non_finite);
      size_t mismatches = 0, first = 0;
      for (size_t i = got.size(); i-- > 0;)
        if (got[i] != ref[i]) {
          mismatches++;
          first = i;
        }
      if (mismatches)
        FAIL_CHECK(mismatches << " bytes differ, first at " << first << ": " << int(got[first]) << " vs " << int(ref[first]));
      // and the CPU backend on the same values: the host path of today
      std::vector<uint8_t> cpu_bytes(q.size());
      CHECK(cpu_be().to_host_rgb8(cpu_be().from_host(q.data(), im.shape), cpu_bytes.data()) == stored_non_finite);
      CHECK(cpu_bytes == got);
    }
  }
  // f16 overflow on upload (70000 > 65504 -> Inf) is flagged, as has_non_finite does.
  Backend& h = cuda(PIXART_CUDA_F16);
  const float big[3] = {0.f, 70000.f, 0.f};
  uint8_t out[3];
  CHECK(h.to_host_rgb8(h.from_host(big, {1, 3, 1, 1}), out));
  CHECK(int(out[1]) == 255);
  // Wrong rank and foreign tensors are typed errors.
  CHECK(code_of([&] { h.to_host_rgb8(h.from_host(big, {3}), out); }) == StatusCode::kInvalidArgument);
  CHECK(code_of([&] { h.to_host_rgb8(cpu_be().from_host(big, {1, 3, 1, 1}), out); }) == StatusCode::kInvalidArgument);
}

TEST_CASE("cuda to_host_rgb8 of a VAE decode (tiny fixture) equals the default implementation's bytes") {
  REQUIRE_CUDA();
  const std::string folder = kFixtures + "/pixart-tiny/vae";
  const auto z = rnd(2 * 4 * 8 * 12, 134, 2.f);
  for (const Mode& m : kModes) {
    CAPTURE(m.name);
    Backend& g = cuda(m.compute);
    auto vae = AutoencoderKL::load(g, folder);
    const Tensor img = vae->decode(g.from_host(z.data(), {2, 4, 8, 12}));
    std::vector<uint8_t> got(size_t(img.numel())), ref(size_t(img.numel()));
    CHECK(g.to_host_rgb8(img, got.data()) == g.Backend::to_host_rgb8(img, ref.data()));
    CHECK(got == ref);
  }
}

TEST_CASE("cuda state programs: float32 state in every compute dtype, bit for bit like the CPU") {
  REQUIRE_CUDA();
  auto bits = [](const std::vector<float>& v) {
    std::vector<uint32_t> b(v.size());
    std::memcpy(b.data(), v.data(), v.size() * 4);
    return b;
  };
  // A DPM-Solver++-like step with non-float32 scalars and a clamp, over a size no block divides.
  const Shape shape{2, 4, 61, 67};
  const int64_t n = numel(shape);
  const auto x = rnd(n, 301, 3.f), e = rnd(n, 302), h = rnd(n, 303), noise = rnd(n, 304);
  StateProgram p;
  p.shape = shape;
  p.num_inputs = 4;
  p.num_outputs = 2;
  p.code = {state_instr(StateOp::kLoad, 0, 0), state_instr(StateOp::kLoad, 1, 1), state_instr(StateOp::kScale, 1, 1, 0, -0.8134),
            state_instr(StateOp::kAdd, 0, 0, 1), state_instr(StateOp::kDiv, 0, 0, 0, 0.5817), state_instr(StateOp::kStore, 1, 0),
            state_instr(StateOp::kLoad, 2, 2), state_instr(StateOp::kSub, 2, 0, 2), state_instr(StateOp::kScale, 2, 2, 0, 1.0 / 3),
            state_instr(StateOp::kScale, 0, 0, 0, 0.1), state_instr(StateOp::kAdd, 0, 0, 2), state_instr(StateOp::kLoad, 3, 3),
            state_instr(StateOp::kScale, 3, 3, 0, 0.05), state_instr(StateOp::kAdd, 0, 0, 3), state_instr(StateOp::kClamp, 0, 0, 0, -2.5, 2.5),
            state_instr(StateOp::kStore, 0, 0)};
  auto run = [&](Backend& be) {
    std::vector<Tensor> in;
    for (const auto* v : {&x, &e, &h, &noise}) in.push_back(be.state_from_host(v->data(), shape));
    std::vector<std::vector<float>> out;
    for (const Tensor& t : be.run_state_program(p, in)) {
      out.emplace_back(size_t(n));
      be.state_to_host(t, out.back().data());
    }
    return out;
  };
  const auto ref = run(cpu_be());
  for (const Mode& m : kModes) {
    CAPTURE(m.name);
    Backend& g = cuda(m.compute);
    const auto got = run(g);
    REQUIRE(got.size() == 2);
    CHECK(bits(got[0]) == bits(ref[0]));
    CHECK(bits(got[1]) == bits(ref[1]));
    // state round trip is exact in every dtype; to_state/from_state convert like from_host/to_host
    const Tensor s = g.state_from_host(x.data(), shape);
    std::vector<float> back(static_cast<size_t>(n), 0.f);
    g.state_to_host(s, back.data());
    CHECK(bits(back) == bits(x));
    const Tensor c = g.from_state(s);
    CHECK(bits(down(g, c)) == bits(roundtrip(g, x, shape)));
    g.state_to_host(g.to_state(c), back.data());
    CHECK(bits(back) == bits(down(g, c)));
    if (m.compute != PIXART_CUDA_F32) {
      // a state tensor is not a compute tensor (and the reverse) in f16/bf16
      CHECK(code_of([&] { g.scale(s, 2.f); }) == StatusCode::kInvalidArgument);
      CHECK(code_of([&] { g.state_to_host(c, back.data()); }) == StatusCode::kInvalidArgument);
    }
  }
  // signed zeros: Math.max(-0, +0) is +0, Math.min(+0, -0) is -0, and -1 * +0 is -0, bit for bit
  {
    std::vector<float> z(static_cast<size_t>(n));
    for (size_t i = 0; i < z.size(); i++) z[i] = i % 3 == 0 ? 0.f : i % 3 == 1 ? -0.f : x[i];
    StateProgram pz;
    pz.shape = shape;
    pz.num_inputs = 1;
    pz.num_outputs = 3;
    pz.code = {state_instr(StateOp::kLoad, 0, 0), state_instr(StateOp::kClamp, 1, 0, 0, 0.0, 1.0), state_instr(StateOp::kStore, 0, 1),
               state_instr(StateOp::kScale, 2, 0, 0, -1.0), state_instr(StateOp::kClamp, 2, 2, 0, -0.0, 0.5),
               state_instr(StateOp::kStore, 1, 2), state_instr(StateOp::kClamp, 3, 0, 0, -1.0, -0.0), state_instr(StateOp::kStore, 2, 3)};
    auto run0 = [&](Backend& be) {
      std::vector<std::vector<float>> out;
      for (const Tensor& t : be.run_state_program(pz, {be.state_from_host(z.data(), shape)})) {
        out.emplace_back(size_t(n));
        be.state_to_host(t, out.back().data());
      }
      return out;
    };
    const auto zref = run0(cpu_be());
    REQUIRE(zref.size() == 3);
    CHECK(std::signbit(zref[0][1]) == false);  // max(-0, +0) = +0
    CHECK(std::signbit(zref[1][0]) == true);   // -1 * +0 = -0, max(-0, -0) = -0
    CHECK(std::signbit(zref[2][0]) == true);   // min(+0, -0) = -0
    for (const Mode& m : kModes) {
      CAPTURE(m.name);
      const auto got = run0(cuda(m.compute));
      REQUIRE(got.size() == 3);
      for (size_t k = 0; k < 3; k++) CHECK(bits(got[k]) == bits(zref[k]));
    }
  }
  // a malformed program is a typed error on the GPU too
  StateProgram bad = p;
  bad.code[5].a = 31;  // stores a register never written
  CHECK(code_of([&] {
          std::vector<Tensor> in;
          for (const auto* v : {&x, &e, &h, &noise}) in.push_back(cuda(PIXART_CUDA_F16).state_from_host(v->data(), shape));
          cuda(PIXART_CUDA_F16).run_state_program(bad, in);
        }) == StatusCode::kInvalidArgument);
}

TEST_CASE("cuda gather_state_rows: device to device from another CUDA backend, equal to the host path") {
  REQUIRE_CUDA();
  // The text encoder's engine (bf16) hands its embeddings to the transformer's (f16): rows of two
  // parts, repeated and reordered as the pipeline asks for [negative x n; positive x n].
  Backend& text = cuda(PIXART_CUDA_BF16);
  Backend& main = cuda(PIXART_CUDA_F16);
  const Shape s{2, 7, 33};
  const auto a = rnd(numel(s), 501), b = rnd(numel(s), 502);
  const std::vector<StatePart> parts = {{&text, text.state_from_host(a.data(), s)}, {&text, text.state_from_host(b.data(), s)},
                                        {&main, main.state_from_host(a.data(), s)}};
  const std::vector<std::pair<int32_t, int64_t>> rows = {{1, 0}, {1, 0}, {1, 1}, {1, 1}, {0, 0}, {2, 1}, {0, 1}};
  const Tensor got = main.gather_state_rows(parts, rows), ref = main.Backend::gather_state_rows(parts, rows);
  CHECK(got.shape == Shape{7, 7, 33});
  std::vector<float> g(size_t(got.numel())), r(size_t(ref.numel()));
  main.state_to_host(got, g.data());
  main.state_to_host(ref, r.data());
  CHECK(g == r);
  const size_t row = size_t(7 * 33);
  CHECK(std::equal(g.begin() + 5 * row, g.begin() + 6 * row, a.begin() + row));  // {2, 1}: part 2 is a, row 1
  CHECK(code_of([&] { main.gather_state_rows(parts, {{0, 2}}); }) == StatusCode::kInvalidArgument);
  // the source engine can go on using (and freeing) its memory: ordered after the copies
  const Tensor again = text.state_from_host(b.data(), s);
  std::vector<float> back(size_t(again.numel()));
  text.state_to_host(again, back.data());
  CHECK(back == b);
}

TEST_CASE("cuda crop and blend_tiles (tiled decoding on the device) equal the host defaults") {
  REQUIRE_CUDA();
  const int64_t B = 2, O = 3, limit = 48;
  // Grids of tile heights x widths and blend extents: overlaps of exactly `blend`; tiles shorter /
  // narrower than `blend` (a last tile of a decode, where min(a.H, H, blend) < blend); blend 0.
  struct Grid {
    std::vector<int64_t> hs, ws;
    int64_t blend;
  };
  const Grid grids[] = {{{64, 64, 40}, {64, 29}, 16}, {{64, 10}, {64, 12, 30}, 16}, {{64, 40}, {50, 64}, 0}};
  for (const Mode& m : kModes) {
    CAPTURE(m.name);
    Backend& g = cuda(m.compute);
    const auto zv = rnd(B * 4 * 70 * 90, 401);
    const Tensor z = g.from_host(zv.data(), {B, 4, 70, 90});
    // crop is a copy: the same values in every dtype
    CHECK(down(g, g.crop(z, 5, 17, 64, 61)) == down(g, g.Backend::crop(z, 5, 17, 64, 61)));
    CHECK(code_of([&] { g.crop(z, 10, 0, 64, 90); }) == StatusCode::kInvalidArgument);
    unsigned seed = 410;
    for (const Grid& grid : grids) {
      CAPTURE(grid.blend);
      CAPTURE(grid.hs.back());
      std::vector<std::vector<Tensor>> rows(grid.hs.size());
      int64_t H = 0, W = 0;
      for (size_t i = 0; i < grid.hs.size(); i++) {
        H += std::min(limit, grid.hs[i]);
        for (const int64_t w : grid.ws) {
          const auto v = rnd(B * O * grid.hs[i] * w, seed++);
          rows[i].push_back(g.from_host(v.data(), {B, O, grid.hs[i], w}));
        }
      }
      for (const int64_t w : grid.ws) W += std::min(limit, w);
      const std::vector<float> before = down(g, rows[1][1]);
      const Tensor got = g.blend_tiles(rows, grid.blend, limit), ref = g.Backend::blend_tiles(rows, grid.blend, limit);
      REQUIRE(got.shape == ref.shape);
      CHECK(got.shape == Shape{B, O, H, W});
      CHECK(down(g, rows[1][1]) == before);  // the inputs are not blended in place
      if (m.compute == PIXART_CUDA_F32) CHECK(down(g, got) == down(g, ref));
      // f16/bf16: the device rounds after each blend, the host default once at the end
      else expect_close("blend_tiles", m, down(g, got), down(g, ref), m.tol);
    }
  }
}

TEST_CASE("cuda out of memory is a typed error and the backend stays usable") {
  REQUIRE_CUDA();
  Backend& g = cuda(PIXART_CUDA_F16);
  const Status st = guarded([&] { g.empty({int64_t(1) << 40}); });  // 2 TiB of f16
  CHECK(st.code() == StatusCode::kOutOfMemory);
  MESSAGE("OOM message: " << st.message());
  const auto a = rnd(64, 1);
  const std::vector<float> r = down(g, g.scale(g.from_host(a.data(), {64}), 2.f));
  CHECK(std::fabs(r[3] - 2.f * a[3]) <= 1e-2f * (1.f + std::fabs(a[3])));
}

TEST_CASE("cuda rejects tensors of other backends and bad options") {
  REQUIRE_CUDA();
  Backend& g = cuda(PIXART_CUDA_F32);
  const auto a = rnd(8, 1);
  Tensor host = cpu_be().from_host(a.data(), {8});
  CHECK(code_of([&] { g.scale(host, 2.f); }) == StatusCode::kInvalidArgument);
  CHECK(code_of([&] { cuda(PIXART_CUDA_F16).scale(g.from_host(a.data(), {8}), 2.f); }) == StatusCode::kInvalidArgument);
  char err[512] = {0};
  int code = 0;
  CHECK(pixart_cuda_create_backend(1000, PIXART_CUDA_F16, 0, &code, err, sizeof err) == nullptr);
  CHECK(code == int(StatusCode::kNoDevice));
  MESSAGE("bad device: " << err);
  CHECK(pixart_cuda_create_backend(test_device(), 7, 0, &code, err, sizeof err) == nullptr);
  CHECK(code == int(StatusCode::kInvalidArgument));
}

TEST_CASE("cuda memory pool: a repeated step allocates nothing new") {
  REQUIRE_CUDA();
  Backend& g = cuda(PIXART_CUDA_F16);
  const auto x = rnd(4 * 64 * 96, 1), w = rnd(96 * 96, 2), b = rnd(96, 3);
  Tensor tw = g.from_host(w.data(), {96, 96}), tb = g.from_host(b.data(), {96});
  auto step = [&] {
    Tensor tx = g.from_host(x.data(), {4, 64, 96});
    Tensor h = g.layer_norm(tx, nullptr, nullptr, 1e-6f);
    h = g.linear(h, tw, &tb, Activation::kGeluTanh, nullptr);
    h = g.attention(h, h, h, 4, 0.2f, nullptr, nullptr);
    std::vector<float> out(static_cast<size_t>(h.numel()));
    g.to_host(h, out.data());
  };
  step();
  PixartCudaMemoryStats s1{}, s2{};
  REQUIRE(pixart_cuda_memory_stats(&g, &s1) == 0);
  for (int i = 0; i < 5; i++) step();
  REQUIRE(pixart_cuda_memory_stats(&g, &s2) == 0);
  MESSAGE("pool: " << s2.device_allocs << " cudaMalloc calls, " << s2.cache_hits << " cache hits, " << s2.reserved
                   << " bytes reserved, peak in use " << s2.peak_in_use);
  CHECK(s2.device_allocs == s1.device_allocs);
  CHECK(s2.cache_hits > s1.cache_hits);
  CHECK(pixart_cuda_empty_cache(&g, nullptr, nullptr, 0) == 0);
  PixartCudaMemoryStats s3{};
  pixart_cuda_memory_stats(&g, &s3);
  CHECK(s3.cached == 0);
}

// ================================================================ the fixture models end to end

namespace {

struct ModelTol {
  float rel;     // max|gpu - cpu| / max|cpu|
  float cosine;  // minimum cosine similarity
};
// f32 (TF32 off) must meet the fixtures' own bar: |a - b| <= 1e-4 + 1e-4 * max|ref| everywhere.
const ModelTol kModelTol[] = {{0.f, 0.99999f}, {2e-2f, 0.999f}, {6e-2f, 0.995f}};

void expect_model_close(const std::string& what, const Mode& m, const std::vector<float>& got,
                        const std::vector<float>& ref) {
  REQUIRE(got.size() == ref.size());
  const Diff d = diff(got, ref);
  MESSAGE(what << " [" << m.name << "]: rel " << d.rel << " (max abs " << d.max_abs << ", max ref " << d.max_ref
               << "), cosine " << d.cosine);
  CHECK_MESSAGE(d.finite, what << " [" << m.name << "]: non-finite output");
  const ModelTol& t = kModelTol[m.compute];
  if (m.compute == PIXART_CUDA_F32) {
    CHECK_MESSAGE(d.max_abs <= 1e-4 + 1e-4 * d.max_ref, what << " [f32]: max abs " << d.max_abs << " > 1e-4 + 1e-4 * "
                                                             << d.max_ref);
  } else {
    CHECK_MESSAGE(d.rel <= t.rel, what << " [" << m.name << "]: rel " << d.rel << " > " << t.rel);
  }
  CHECK_MESSAGE(d.cosine >= t.cosine, what << " [" << m.name << "]: cosine " << d.cosine << " < " << t.cosine);
}

std::vector<float> encode_t5(Backend& be, const std::vector<int32_t>& ids, const std::vector<int32_t>& mask, int64_t B,
                             int64_t L) {
  auto enc = T5Encoder::load(be, kFixtures + "/pixart-tiny/text_encoder");
  return down(be, enc->encode(ids.data(), mask.data(), B, L));
}

std::vector<float> run_dit(Backend& be, const std::string& folder, bool conditions) {
  auto dit = PixArtDiT::load(be, folder);
  const int64_t B = 2, H = 8, W = 12, L = 7, Cc = dit->config().caption_channels;
  const auto lat = rnd(B * 4 * H * W, 101), txt = rnd(B * L * Cc, 102);
  DiTInputs in;
  in.latents = be.from_host(lat.data(), {B, 4, H, W});
  in.text = be.from_host(txt.data(), {B, L, Cc});
  in.timesteps = {999.f, 421.f};
  in.text_mask.assign(B * L, 1.f);
  for (int64_t j = 4; j < L; j++) in.text_mask[L + j] = 0.f;  // second prompt is shorter
  if (conditions) {
    in.resolution = {float(H * 8), float(W * 8), float(H * 8), float(W * 8)};
    in.aspect_ratio = {float(H) / float(W), float(H) / float(W)};
  }
  return down(be, dit->forward(in));
}

}  // namespace

namespace {
// B x L random token ids; the second prompt is padded from position `pad_from` on.
void random_tokens(int64_t B, int64_t L, uint32_t seed, int64_t pad_from, std::vector<int32_t>& ids,
                   std::vector<int32_t>& mask) {
  ids.assign(size_t(B * L), 0);
  mask.assign(size_t(B * L), 1);
  std::mt19937 g(seed);
  for (auto& id : ids) id = int32_t(g() % 32000);
  for (int64_t j = pad_from; j < L; j++) mask[size_t(L + j)] = 0;
}

// A float32 checkpoint tensor over host data (what WeightStore hands the loaders).
WeightView f32_view(const std::vector<float>& v, const Shape& shape) {
  WeightView w;
  w.name = "w";
  w.file = "test";
  w.dtype = DType::kF32;
  w.shape = shape;
  w.data = v.data();
  w.bytes = v.size() * 4;
  return w;
}
}  // namespace

TEST_CASE("cuda quantised linear (int8, int4): the packed kernel and the fallback match the CPU's dequantised weights") {
  REQUIRE_CUDA();
  struct C {
    int64_t M, N, K;
    bool bias, residual;
    Activation act;
  };
  // 64-multiples take the packed kernel (ragged M), the others the dense fallback.
  const C cases[] = {{70, 192, 128, true, false, Activation::kNone},  {240, 128, 256, false, true, Activation::kNone},
                     {3, 64, 64, true, false, Activation::kGeluTanh}, {5, 33, 70, true, true, Activation::kNone},
                     {130, 256, 4096, false, false, Activation::kNone}};
  for (const C& c : cases) {
    const auto wv = rnd(c.N * c.K, 71, 0.05f);
    const WeightView view = f32_view(wv, {c.N, c.K});
    for (WeightQuant q : {WeightQuant::kInt8, WeightQuant::kInt4}) {
      const std::vector<In> ins = {{rnd(c.M * c.K, 72), {c.M, c.K}}, {rnd(c.N, 73, 0.1f), {c.N}}, {rnd(c.M * c.N, 74), {c.M, c.N}}};
      op_case(std::string(weight_quant_name(q)) + " linear M" + std::to_string(c.M) + " N" + std::to_string(c.N) + " K" +
                  std::to_string(c.K),
              ins, [&](Backend& be, const std::vector<Tensor>& t) {
                const Tensor w = be.load_linear_weight(view, q);
                return be.linear(t[0], w, c.bias ? &t[1] : nullptr, c.act, c.residual ? &t[2] : nullptr);
              });
    }
  }
  // A quantised weight is not a plain tensor for other ops.
  const auto wv = rnd(64 * 64, 75);
  const WeightView view = f32_view(wv, {64, 64});
  Backend& g = cuda(PIXART_CUDA_F16);
  const Tensor w = g.load_linear_weight(view, WeightQuant::kInt8);
  CHECK(code_of([&] { g.scale(w, 2.f); }) == StatusCode::kInvalidArgument);
}

TEST_CASE("cuda T5 encoder (tiny fixture) with int8 / int4 weights matches the CPU's quantised model") {
  REQUIRE_CUDA();
  const int64_t B = 2, L = 16;
  std::vector<int32_t> ids, mask;
  random_tokens(B, L, 8, 9, ids, mask);
  for (WeightQuant q : {WeightQuant::kInt8, WeightQuant::kInt4}) {
    auto run = [&](Backend& be) {
      auto enc = T5Encoder::load(be, kFixtures + "/pixart-tiny/text_encoder", "", q);
      return down(be, enc->encode(ids.data(), mask.data(), B, L));
    };
    const auto ref = run(cpu_be());
    for (const Mode& m : kModes) expect_model_close(std::string("T5 encode ") + weight_quant_name(q), m, run(cuda(m.compute)), ref);
  }
}

TEST_CASE("cuda T5 encoder (tiny fixture) matches the CPU backend") {
  REQUIRE_CUDA();
  const int64_t B = 2, L = 16;
  std::vector<int32_t> ids, mask;
  random_tokens(B, L, 7, 10, ids, mask);
  const auto ref = encode_t5(cpu_be(), ids, mask, B, L);
  for (const Mode& m : kModes) expect_model_close("T5 encode", m, encode_t5(cuda(m.compute), ids, mask, B, L), ref);
}

TEST_CASE("cuda PixArt DiT (tiny fixtures, both variants) matches the CPU backend") {
  REQUIRE_CUDA();
  const std::string tiny = kFixtures + "/pixart-tiny/transformer", tiny512 = kFixtures + "/pixart-tiny-512/transformer";
  const auto ref = run_dit(cpu_be(), tiny, true), ref512 = run_dit(cpu_be(), tiny512, false);
  for (const Mode& m : kModes) {
    expect_model_close("DiT pixart-tiny", m, run_dit(cuda(m.compute), tiny, true), ref);
    expect_model_close("DiT pixart-tiny-512", m, run_dit(cuda(m.compute), tiny512, false), ref512);
  }
}

TEST_CASE("cuda VAE decode and encode (tiny fixture) match the CPU backend") {
  REQUIRE_CUDA();
  const std::string folder = kFixtures + "/pixart-tiny/vae";
  const auto z = rnd(1 * 4 * 8 * 12, 111), x = rnd(1 * 3 * 64 * 48, 112, 0.5f);
  auto decode = [&](Backend& be) {
    auto vae = AutoencoderKL::load(be, folder);
    return down(be, vae->decode(be.from_host(z.data(), {1, 4, 8, 12})));
  };
  auto encode = [&](Backend& be) {
    auto vae = AutoencoderKL::load(be, folder);
    return down(be, vae->encode(be.from_host(x.data(), {1, 3, 64, 48})));
  };
  const auto dref = decode(cpu_be()), eref = encode(cpu_be());
  for (const Mode& m : kModes) {
    expect_model_close("VAE decode", m, decode(cuda(m.compute)), dref);
    expect_model_close("VAE encode", m, encode(cuda(m.compute)), eref);
  }
}

// ================================================================ recorded steps (CUDA graphs)

TEST_CASE("cuda recorded steps: the DiT step as a CUDA graph gives the plain steps' bits, and its memory comes back") {
  REQUIRE_CUDA();
  for (const Mode& m : kModes) {
    CAPTURE(m.name);
    CudaPtr owned = make_cuda(m.compute);  // a backend of its own: the pool figures below are this case's
    Backend& g = *owned;
    auto dit = PixArtDiT::load(g, kFixtures + "/pixart-tiny/transformer");
    const int64_t B = 1, C = 4, H = 8, W = 12, L = 7, Cc = dit->config().caption_channels;
    const auto txt = rnd(2 * B * L * Cc, 102);
    const Tensor text = g.from_host(txt.data(), {2 * B, L, Cc});
    std::vector<float> mask(size_t(2 * B * L), 1.f);
    mask[size_t(L - 1)] = 0.f;
    const std::vector<float> res = {64.f, 96.f, 64.f, 96.f}, ar = {8.f / 12.f, 8.f / 12.f};
    const float scale = 4.5f;
    auto latents = [&](int step) {
      const auto z = rnd(B * C * H * W, 200 + uint32_t(step));
      return g.from_host(z.data(), {B, C, H, W});
    };
    auto timesteps = [&](int step) { return std::vector<float>(size_t(2 * B), 999.f - 200.f * float(step)); };
    {  // warm-up outside the figures: GEMM plans, the position table of this grid, attention tuning
      const DiTConditioning c = dit->prepare_conditioning(text, mask, res, ar);
      down(g, dit->forward_conditioned(latents(0), timesteps(0), c, &scale, C));
    }
    PixartCudaMemoryStats before{}, during{}, after{};
    REQUIRE(pixart_cuda_memory_stats(&g, &before) == 0);
    {
      const DiTConditioning plain = dit->prepare_conditioning(text, mask, res, ar);
      const DiTConditioning rec = dit->prepare_conditioning(text, mask, res, ar, true);
      Tensor kept;
      std::vector<float> kept_values;
      for (int step = 0; step < 6; step++) {  // new latents and timesteps every step
        CAPTURE(step);
        // Blocks freed since the recording are handed out again and filled with NaN: a graph that
        // read a tensor it did not keep alive (the step's size features, say) would see them.
        std::vector<Tensor> junk;
        for (int64_t n : {int64_t(2 * 768), int64_t(2 * 256), int64_t(64), int64_t(256), int64_t(1024), int64_t(4096),
                          int64_t(16384), int64_t(65536), int64_t(2 * L), int64_t(2 * L * Cc)}) {
          const std::vector<float> nan(size_t(n), std::nanf(""));
          for (int k = 0; k < 3; k++) junk.push_back(g.from_host(nan.data(), {n}));
        }
        const Tensor z = latents(step);
        const std::vector<float> want = down(g, dit->forward_conditioned(z, timesteps(step), plain, &scale, C));
        const Tensor got = dit->forward_conditioned(z, timesteps(step), rec, &scale, C);
        const std::vector<float> got_v = down(g, got);
        CHECK(got_v == want);
        if (step == 2) kept = got, kept_values = got_v;
      }
      CHECK(down(g, kept) == kept_values);  // later replays did not write over an earlier step's output
      const DiTStepStats st = rec.steps->stats();
      MESSAGE("recorded " << st.recorded << ", recordings " << st.recordings << ", runs " << st.runs << ", plain "
                          << st.plain << (st.reason.empty() ? "" : ", reason: ") << st.reason);
      CHECK(st.recorded);
      CHECK(st.reason.empty());
      CHECK(st.recordings == 1);
      CHECK(st.runs == 5);
      CHECK(st.plain == 1);
      // The graph's temporaries stay the graph's: emptying the cache does not free them.
      REQUIRE(pixart_cuda_empty_cache(&g, nullptr, nullptr, 0) == 0);
      REQUIRE(pixart_cuda_memory_stats(&g, &during) == 0);
      CHECK(during.cached > 0);
    }
    // The conditionings (and the graph) gone: every block is back in the shared cache, none in use.
    REQUIRE(pixart_cuda_memory_stats(&g, &after) == 0);
    CHECK(after.in_use == before.in_use);
    REQUIRE(pixart_cuda_empty_cache(&g, nullptr, nullptr, 0) == 0);
    REQUIRE(pixart_cuda_memory_stats(&g, &after) == 0);
    CHECK(after.cached == 0);
    CHECK(after.reserved == after.in_use);
    MESSAGE("graph temporaries held while it lived: " << during.cached << " bytes");
  }
}

TEST_CASE("cuda recorded steps: a step that cannot be captured runs plainly, says why, and the backend stays usable") {
  REQUIRE_CUDA();
  Backend& g = cuda(PIXART_CUDA_F16);
  int calls = 0;
  std::string why;
  auto step = g.record_step({{4}}, [&](const std::vector<Tensor>& in) {
    calls++;
    std::vector<float> host(4);
    g.to_host(in[0], host.data());  // a synchronisation: not allowed while capturing
    return std::vector<Tensor>{g.scale(in[0], 2.f)};
  }, &why);
  REQUIRE(step);
  MESSAGE("reason: " << why);
  CHECK_FALSE(step->recorded());
  CHECK(why.find("could not be captured") != std::string::npos);
  const std::vector<float> x = {1.f, 2.f, 3.f, 4.f};
  CHECK(down(g, step->run({g.from_host(x.data(), {4})})[0]) == std::vector<float>{2.f, 4.f, 6.f, 8.f});
  CHECK(down(g, g.scale(g.from_host(x.data(), {4}), 3.f)) == std::vector<float>{3.f, 6.f, 9.f, 12.f});
  CHECK(code_of([&] { step->run({g.from_host(x.data(), {2, 2})}); }) == StatusCode::kInvalidArgument);

  // A capturable step: replays on new inputs, and rejects tensors of the wrong shape.
  auto twice = g.record_step({{4}}, [&](const std::vector<Tensor>& in) { return std::vector<Tensor>{g.scale(in[0], 2.f)}; }, &why);
  REQUIRE(twice->recorded());
  CHECK(why.empty());
  for (float k : {1.f, -3.f, 0.5f}) {
    const std::vector<float> v = {k, 2 * k, 3 * k, 4 * k};
    CHECK(down(g, twice->run({g.from_host(v.data(), {4})})[0]) == std::vector<float>{2 * k, 4 * k, 6 * k, 8 * k});
  }
  CHECK(code_of([&] { twice->run({g.from_host(x.data(), {2, 2})}); }) == StatusCode::kInvalidArgument);

  // A step that throws something not derived from std::exception: capture ended, pool set
  // closed, the step runs plainly (and throws that again), the backend goes on.
  int thrown = 0;
  auto odd = g.record_step({{4}}, [&](const std::vector<Tensor>& in) -> std::vector<Tensor> {
    if (thrown++ == 0) throw 42;
    return {g.scale(in[0], 2.f)};
  }, &why);
  CHECK_FALSE(odd->recorded());
  CHECK(why.find("non-standard exception") != std::string::npos);
  CHECK(down(g, odd->run({g.from_host(x.data(), {4})})[0]) == std::vector<float>{2.f, 4.f, 6.f, 8.f});
  CHECK(down(g, twice->run({g.from_host(x.data(), {4})})[0]) == std::vector<float>{2.f, 4.f, 6.f, 8.f});

  // Gathering another engine's rows cannot be recorded (its stream's events would join the graph):
  // refused inside the capture, so the step runs plainly with the right rows.
  Backend& text = cuda(PIXART_CUDA_BF16);
  const std::vector<float> rows_v = {1.f, 2.f, 3.f, 4.f, 5.f, 6.f, 7.f, 8.f};
  const Tensor held = text.state_from_host(rows_v.data(), {2, 4});
  auto gather = g.record_step({{1, 4}}, [&](const std::vector<Tensor>& in) {
    const Tensor r = g.gather_state_rows({{&text, held}}, {{0, 1}});
    return std::vector<Tensor>{g.add(in[0], g.from_state(r))};
  }, &why);
  CHECK_FALSE(gather->recorded());
  CHECK(why.find("gather_state_rows") != std::string::npos);
  CHECK(down(g, gather->run({g.from_host(x.data(), {1, 4})})[0]) == std::vector<float>{6.f, 8.f, 10.f, 12.f});

  // PIXART_CUDA_GRAPHS=0 turns recording off.
  setenv("PIXART_CUDA_GRAPHS", "0", 1);
  auto off = g.record_step({{4}}, [&](const std::vector<Tensor>& in) { return std::vector<Tensor>{g.scale(in[0], 2.f)}; }, &why);
  unsetenv("PIXART_CUDA_GRAPHS");
  CHECK_FALSE(off->recorded());
  CHECK(why.find("PIXART_CUDA_GRAPHS=0") != std::string::npos);
}
