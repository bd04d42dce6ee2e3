#include "cpu_backend.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "../../core/host_memory.h"
#include "../../core/op_checks.h"
#include "../../core/status.h"
#include "simd_math.h"

extern "C" void openblas_set_num_threads(int);

namespace pixart::cpu {

namespace {

struct HostStorage final : Storage {
  explicit HostStorage(size_t n_bytes) {
    bytes = n_bytes;
    const size_t rounded = (std::max<size_t>(n_bytes, 1) + 63) / 64 * 64;
    data = std::aligned_alloc(64, rounded);
    if (!data) throw std::bad_alloc();
  }
  ~HostStorage() override { std::free(data); }
};

// A float32 weight used in place inside its memory-mapped checkpoint (no second copy).
struct MappedStorage final : Storage {
  std::shared_ptr<MappedFile> keep;
};

const OpChecks kChecks("cpu");

Tensor alloc(const Shape& shape) {
  kChecks.shape(shape);
  const int64_t bytes = numel(shape) * int64_t(sizeof(float));
  // A tensor beyond the memory left would be an OOM kill at its first write: refuse it (host_memory.h).
  if (bytes >= kHostCheckMinBytes && host_memory_check_enabled()) check_host_allocation(bytes, host_available_bytes(), shape);
  Tensor t;
  t.shape = shape;
  t.storage = std::make_shared<HostStorage>(static_cast<size_t>(bytes));
  return t;
}

// RAII: run OpenBLAS single-threaded while our own pool parallelises around it.
struct BlasSingleThread {
  explicit BlasSingleThread(int restore) : restore_(restore) { openblas_set_num_threads(1); }
  ~BlasSingleThread() { openblas_set_num_threads(restore_); }
  int restore_;
};

}  // namespace

CpuBackend::CpuBackend(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  pool_ = std::make_unique<ThreadPool>(threads);
  openblas_set_num_threads(threads);
}

Tensor CpuBackend::empty(const Shape& shape) { return alloc(shape); }

Tensor CpuBackend::from_host(const float* data, const Shape& shape) {
  Tensor t = alloc(shape);
  std::memcpy(t.f32(), data, t.numel() * sizeof(float));
  return t;
}

void CpuBackend::to_host(const Tensor& t, float* out) { std::memcpy(out, t.f32(), t.numel() * sizeof(float)); }

Tensor CpuBackend::load_weight(const WeightView& w) {
  if (w.dtype == DType::kF32 && reinterpret_cast<uintptr_t>(w.data) % alignof(float) == 0) {
    auto s = std::make_shared<MappedStorage>();
    s->data = const_cast<void*>(w.data);
    s->bytes = w.bytes;
    s->keep = w.mapping;
    Tensor t;
    t.shape = w.shape;
    t.storage = s;
    return t;
  }
  Tensor t = alloc(w.shape);
  convert_to_f32(w, t.f32());
  return t;
}

void CpuBackend::apply_activation(float* data, int64_t n, Activation act) {
  switch (act) {
    case Activation::kNone: return;
    case Activation::kGeluTanh: gelu_tanh_inplace(data, n); return;
    case Activation::kGelu: gelu_erf_inplace(data, n); return;
    case Activation::kSilu: silu_inplace(data, n); return;
    case Activation::kRelu:
      for (int64_t i = 0; i < n; i++) data[i] = data[i] < 0.f ? 0.f : data[i];  // NaN stays NaN, as torch's
      return;
  }
}

Tensor CpuBackend::linear(const Tensor& x, const Tensor& w, const Tensor* bias, Activation act,
                          const Tensor* residual) {
  const LinearDims d = kChecks.linear(x, w, bias, residual);
  const int64_t M = d.M, N = d.N, K = d.K;
  Tensor y = alloc(d.out);
  if (M == 0 || N == 0) return y;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)N, (int)K, 1.f, x.f32(), (int)K, w.f32(),
              (int)K, 0.f, y.f32(), (int)N);
  if (bias || act != Activation::kNone || residual) {
    float* yp = y.f32();
    const float* bp = bias ? bias->f32() : nullptr;
    const float* rp = residual ? residual->f32() : nullptr;
    pool_->parallel_for(M, 16, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; r++) {
        float* row = yp + r * N;
        if (bp) for (int64_t j = 0; j < N; j++) row[j] += bp[j];
        apply_activation(row, N, act);
        if (rp) {
          const float* rr = rp + r * N;
          for (int64_t j = 0; j < N; j++) row[j] += rr[j];
        }
      }
    });
  }
  return y;
}

Tensor CpuBackend::attention(const Tensor& q, const Tensor& k, const Tensor& v, int heads, float scale,
                             const Tensor* pos_bias, const Tensor* key_bias) {
  const AttentionDims dims = kChecks.attention(q, k, v, heads, pos_bias, key_bias);
  const int64_t B = dims.B, Lq = dims.Lq, HD = dims.HD, Lk = dims.Lk, D = dims.D;
  Tensor out = alloc({B, Lq, HD});
  if (Lq == 0) return out;
  // Blocks of query rows keep the score tile in cache and give the pool enough work items.
  const int64_t rb = std::min<int64_t>(Lq, 64);
  const int64_t nblk = (Lq + rb - 1) / rb;
  const int64_t items = B * heads * nblk;
  const float* qp = q.f32();
  const float* kp = k.f32();
  const float* vp = v.f32();
  float* op = out.f32();
  BlasSingleThread single(pool_->size());
  pool_->parallel_for(items, 1, [&](int64_t i0, int64_t i1) {
    std::vector<float> s(static_cast<size_t>(rb * Lk));
    for (int64_t it = i0; it < i1; it++) {
      const int64_t b = it / (heads * nblk), h = (it / nblk) % heads, blk = it % nblk;
      const int64_t r0 = blk * rb, rows = std::min(rb, Lq - r0);
      const float* qb = qp + (b * Lq + r0) * HD + h * D;
      const float* kb = kp + b * Lk * HD + h * D;
      const float* vb = vp + b * Lk * HD + h * D;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)Lk, (int)D, scale, qb, (int)HD, kb,
                  (int)HD, 0.f, s.data(), (int)Lk);
      for (int64_t r = 0; r < rows; r++) {
        float* row = s.data() + r * Lk;
        if (pos_bias) {
          const float* pb = pos_bias->f32() + (h * Lq + r0 + r) * Lk;
          for (int64_t j = 0; j < Lk; j++) row[j] += pb[j];
        }
        if (key_bias) {
          const float* kb2 = key_bias->f32() + b * Lk;
          for (int64_t j = 0; j < Lk; j++) row[j] += kb2[j];
        }
        float mx = -INFINITY;
        for (int64_t j = 0; j < Lk; j++) mx = std::max(mx, row[j]);
        const float sum = exp_shift_sum(row, row, Lk, mx);
        const float inv = 1.f / sum;
        for (int64_t j = 0; j < Lk; j++) row[j] *= inv;
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)D, (int)Lk, 1.f, s.data(), (int)Lk,
                  vb, (int)HD, 0.f, op + (b * Lq + r0) * HD + h * D, (int)HD);
    }
  });
  return out;
}

// y = op(a, b) with b broadcast over a's leading dims.
template <class Op>
Tensor broadcast_binary(ThreadPool& pool, const Tensor& a, const Tensor& b, const char* name, Op op) {
  kChecks.broadcast(a, b, name);
  Tensor y = alloc(a.shape);
  const int64_t n = a.numel(), nb = std::max<int64_t>(b.numel(), 1);
  const float *ap = a.f32(), *bp = b.f32();
  float* yp = y.f32();
  pool.parallel_for(n / nb, std::max<int64_t>(1, 16384 / nb), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++)
      for (int64_t j = 0; j < nb; j++) yp[r * nb + j] = op(ap[r * nb + j], bp[j]);
  });
  return y;
}

Tensor CpuBackend::add(const Tensor& a, const Tensor& b) {
  return broadcast_binary(*pool_, a, b, "add", [](float x, float y) { return x + y; });
}

Tensor CpuBackend::mul(const Tensor& a, const Tensor& b) {
  return broadcast_binary(*pool_, a, b, "mul", [](float x, float y) { return x * y; });
}

Tensor CpuBackend::scale(const Tensor& a, float s) {
  Tensor y = alloc(a.shape);
  const float* ap = a.f32();
  float* yp = y.f32();
  pool_->parallel_for(a.numel(), 16384, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++) yp[i] = ap[i] * s;
  });
  return y;
}

Tensor CpuBackend::activation(const Tensor& x, Activation act) {
  Tensor y = alloc(x.shape);
  const float* xp = x.f32();
  float* yp = y.f32();
  pool_->parallel_for(x.numel(), 16384, [&](int64_t i0, int64_t i1) {
    std::memcpy(yp + i0, xp + i0, (i1 - i0) * sizeof(float));
    apply_activation(yp + i0, i1 - i0, act);
  });
  return y;
}

Tensor CpuBackend::gated_gelu(const Tensor& gate, const Tensor& up) {
  kChecks.gated_gelu(gate, up);
  Tensor y = activation(gate, Activation::kGeluTanh);
  float* yp = y.f32();
  const float* up_p = up.f32();
  pool_->parallel_for(y.numel(), 16384, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++) yp[i] *= up_p[i];
  });
  return y;
}

Tensor CpuBackend::rms_norm(const Tensor& x, const Tensor& weight, float eps) {
  const int64_t D = kChecks.rms_norm(x, weight), rows = x.numel() / std::max<int64_t>(D, 1);
  Tensor y = alloc(x.shape);
  const float *xp = x.f32(), *wp = weight.f32();
  float* yp = y.f32();
  pool_->parallel_for(rows, 8, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      const float* xr = xp + r * D;
      float* yr = yp + r * D;
      double ss = 0;
      for (int64_t j = 0; j < D; j++) ss += double(xr[j]) * xr[j];
      const float inv = 1.f / std::sqrt(float(ss / D) + eps);
      for (int64_t j = 0; j < D; j++) yr[j] = wp[j] * (xr[j] * inv);
    }
  });
  return y;
}

Tensor CpuBackend::layer_norm(const Tensor& x, const Tensor* weight, const Tensor* bias, float eps) {
  const int64_t D = kChecks.layer_norm(x, weight, bias), rows = x.numel() / std::max<int64_t>(D, 1);
  Tensor y = alloc(x.shape);
  const float* xp = x.f32();
  float* yp = y.f32();
  pool_->parallel_for(rows, 8, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      const float* xr = xp + r * D;
      float* yr = yp + r * D;
      double s = 0;
      for (int64_t j = 0; j < D; j++) s += xr[j];
      const double mean = s / D;
      double ss = 0;
      for (int64_t j = 0; j < D; j++) ss += (xr[j] - mean) * (xr[j] - mean);
      const float inv = float(1.0 / std::sqrt(ss / D + eps));
      const float m = float(mean);
      for (int64_t j = 0; j < D; j++) {
        float v = (xr[j] - m) * inv;
        if (weight) v *= weight->f32()[j];
        if (bias) v += bias->f32()[j];
        yr[j] = v;
      }
    }
  });
  return y;
}

Tensor CpuBackend::modulate(const Tensor& x, const Tensor& mod, int shift_idx, int scale_idx) {
  kChecks.modulate(x, mod, shift_idx, scale_idx);
  const int64_t B = x.dim(0), N = x.dim(1), D = x.dim(2), M = mod.dim(1);
  Tensor y = alloc(x.shape);
  const float *xp = x.f32(), *mp = mod.f32();
  float* yp = y.f32();
  pool_->parallel_for(B * N, 8, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      const int64_t b = r / N;
      const float* sh = mp + (b * M + shift_idx) * D;
      const float* sc = mp + (b * M + scale_idx) * D;
      for (int64_t j = 0; j < D; j++) yp[r * D + j] = xp[r * D + j] * (1.f + sc[j]) + sh[j];
    }
  });
  return y;
}

Tensor CpuBackend::gated_residual(const Tensor& x, const Tensor& y, const Tensor& mod, int gate_idx) {
  kChecks.gated_residual(x, y, mod, gate_idx);
  const int64_t B = x.dim(0), N = x.dim(1), D = x.dim(2), M = mod.dim(1);
  Tensor out = alloc(x.shape);
  const float *xp = x.f32(), *yp = y.f32(), *mp = mod.f32();
  float* op = out.f32();
  pool_->parallel_for(B * N, 8, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      const float* g = mp + ((r / N) * M + gate_idx) * D;
      for (int64_t j = 0; j < D; j++) op[r * D + j] = xp[r * D + j] + g[j] * yp[r * D + j];
    }
  });
  return out;
}

Tensor CpuBackend::group_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, int groups, float eps,
                              bool silu) {
  kChecks.group_norm(x, weight, bias, groups);
  const int64_t B = x.dim(0), C = x.dim(1), HW = x.dim(2) * x.dim(3);
  const int64_t cg = C / groups;
  Tensor y = alloc(x.shape);
  const float *xp = x.f32(), *wp = weight.f32(), *bp = bias.f32();
  float* yp = y.f32();
  pool_->parallel_for(B * groups, 1, [&](int64_t g0, int64_t g1) {
    for (int64_t bg = g0; bg < g1; bg++) {
      const int64_t b = bg / groups, g = bg % groups;
      const float* xs = xp + (b * C + g * cg) * HW;
      float* ys = yp + (b * C + g * cg) * HW;
      const int64_t n = cg * HW;
      double s = 0;
      for (int64_t i = 0; i < n; i++) s += xs[i];
      const double mean = s / n;
      double ss = 0;
      for (int64_t i = 0; i < n; i++) ss += (xs[i] - mean) * (xs[i] - mean);
      const float inv = float(1.0 / std::sqrt(ss / n + eps));
      const float m = float(mean);
      for (int64_t c = 0; c < cg; c++) {
        const float a = wp[g * cg + c] * inv, sh = bp[g * cg + c] - m * a;
        float* yc = ys + c * HW;
        const float* xc = xs + c * HW;
        for (int64_t i = 0; i < HW; i++) yc[i] = xc[i] * a + sh;
        if (silu) silu_inplace(yc, HW);
      }
    }
  });
  return y;
}

Tensor CpuBackend::conv2d(const Tensor& x, const Tensor& w, const Tensor* bias, int stride, int pt, int pl, int pb,
                          int pr) {
  const Conv2dDims d = kChecks.conv2d(x, w, bias, stride, pt, pl, pb, pr);
  const int64_t B = d.B, C = d.C, H = d.H, W = d.W, O = d.O, kh = d.kh, kw = d.kw, Ho = d.Ho, Wo = d.Wo;
  Tensor y = alloc({B, O, Ho, Wo});
  const int64_t CKK = C * kh * kw, HWo = Ho * Wo;
  const float* wp = w.f32();
  const bool direct = kh == 1 && kw == 1 && stride == 1 && pt == 0 && pl == 0 && pb == 0 && pr == 0;
  // im2col in row chunks so the column buffer stays around 32 MiB even for 1024x1024 decodes.
  const int64_t rows_per_chunk = std::max<int64_t>(1, (int64_t(8) << 20) / std::max<int64_t>(1, CKK * Wo));
  std::vector<float> col;
  if (!direct) col.resize(static_cast<size_t>(CKK * std::min(Ho, rows_per_chunk) * Wo));
  for (int64_t b = 0; b < B; b++) {
    const float* xb = x.f32() + b * C * H * W;
    float* yb = y.f32() + b * O * HWo;
    if (direct) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)O, (int)HWo, (int)C, 1.f, wp, (int)C, xb, (int)HWo,
                  0.f, yb, (int)HWo);
    } else {
      for (int64_t oy0 = 0; oy0 < Ho; oy0 += rows_per_chunk) {
        const int64_t rows = std::min(rows_per_chunk, Ho - oy0), ncol = rows * Wo;
        pool_->parallel_for(CKK, 4, [&](int64_t k0, int64_t k1) {
          for (int64_t kk = k0; kk < k1; kk++) {
            const int64_t c = kk / (kh * kw), ky = (kk / kw) % kh, kx = kk % kw;
            float* dst = col.data() + kk * ncol;
            for (int64_t r = 0; r < rows; r++) {
              const int64_t iy = (oy0 + r) * stride + ky - pt;
              float* d = dst + r * Wo;
              if (iy < 0 || iy >= H) {
                std::fill(d, d + Wo, 0.f);
                continue;
              }
              const float* src = xb + (c * H + iy) * W;
              if (stride == 1) {
                // ix = ox + kx - pl: zero the columns that fall in the padding, copy the rest at once
                const int64_t lo = std::clamp<int64_t>(pl - kx, 0, Wo), hi = std::clamp<int64_t>(W + pl - kx, lo, Wo);
                std::fill(d, d + lo, 0.f);
                std::memcpy(d + lo, src + lo + kx - pl, (hi - lo) * sizeof(float));
                std::fill(d + hi, d + Wo, 0.f);
                continue;
              }
              for (int64_t ox = 0; ox < Wo; ox++) {
                const int64_t ix = ox * stride + kx - pl;
                d[ox] = (ix >= 0 && ix < W) ? src[ix] : 0.f;
              }
            }
          }
        });
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)O, (int)ncol, (int)CKK, 1.f, wp, (int)CKK,
                    col.data(), (int)ncol, 0.f, yb + oy0 * Wo, (int)HWo);
      }
    }
    if (bias) {
      const float* bp = bias->f32();
      pool_->parallel_for(O, 1, [&](int64_t o0, int64_t o1) {
        for (int64_t o = o0; o < o1; o++)
          for (int64_t i = 0; i < HWo; i++) yb[o * HWo + i] += bp[o];
      });
    }
  }
  return y;
}

Tensor CpuBackend::upsample_nearest2x(const Tensor& x) {
  kChecks.image(x, "upsample");
  const int64_t BC = x.dim(0) * x.dim(1), H = x.dim(2), W = x.dim(3);
  Tensor y = alloc({x.dim(0), x.dim(1), 2 * H, 2 * W});
  const float* xp = x.f32();
  float* yp = y.f32();
  pool_->parallel_for(BC * H, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      const float* src = xp + r * W;
      float* d0 = yp + (r * 2) * (2 * W);
      for (int64_t j = 0; j < W; j++) d0[2 * j] = d0[2 * j + 1] = src[j];
      std::memcpy(d0 + 2 * W, d0, 2 * W * sizeof(float));
    }
  });
  return y;
}

Tensor CpuBackend::nchw_to_nlc(const Tensor& x) {
  kChecks.image(x, "nchw_to_nlc");
  const int64_t B = x.dim(0), C = x.dim(1), L = x.dim(2) * x.dim(3);
  Tensor y = alloc({B, L, C});
  const float* xp = x.f32();
  float* yp = y.f32();
  pool_->parallel_for(B * L, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      const int64_t b = r / L, l = r % L;
      for (int64_t c = 0; c < C; c++) yp[r * C + c] = xp[(b * C + c) * L + l];
    }
  });
  return y;
}

Tensor CpuBackend::nlc_to_nchw(const Tensor& x, int64_t h, int64_t w) {
  kChecks.nlc_to_nchw(x, h, w);
  const int64_t B = x.dim(0), L = x.dim(1), C = x.dim(2);
  Tensor y = alloc({B, C, h, w});
  const float* xp = x.f32();
  float* yp = y.f32();
  pool_->parallel_for(B * C, 4, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      const int64_t b = r / C, c = r % C;
      for (int64_t l = 0; l < L; l++) yp[r * L + l] = xp[(b * L + l) * C + c];
    }
  });
  return y;
}

Tensor CpuBackend::patchify(const Tensor& x, int p) {
  kChecks.patchify(x, p);
  const int64_t B = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3), h = H / p, w = W / p;
  const int64_t F = C * p * p;
  Tensor y = alloc({B, h * w, F});
  const float* xp = x.f32();
  float* yp = y.f32();
  pool_->parallel_for(B * h * w, 64, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; t++) {
      const int64_t b = t / (h * w), i = (t / w) % h, j = t % w;
      float* d = yp + t * F;
      for (int64_t c = 0; c < C; c++)
        for (int64_t u = 0; u < p; u++)
          for (int64_t v = 0; v < p; v++) *d++ = xp[((b * C + c) * H + i * p + u) * W + j * p + v];
    }
  });
  return y;
}

Tensor CpuBackend::unpatchify(const Tensor& x, int64_t h, int64_t w, int p, int c) {
  kChecks.unpatchify(x, h, w, p, c);
  const int64_t B = x.dim(0), H = h * p, W = w * p;
  Tensor y = alloc({B, c, H, W});
  const float* xp = x.f32();
  float* yp = y.f32();
  pool_->parallel_for(B * h * w, 64, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; t++) {
      const int64_t b = t / (h * w), i = (t / w) % h, j = t % w;
      const float* s = xp + t * p * p * c;
      for (int64_t u = 0; u < p; u++)
        for (int64_t v = 0; v < p; v++)
          for (int64_t ch = 0; ch < c; ch++) yp[((b * c + ch) * H + i * p + u) * W + j * p + v] = *s++;
    }
  });
  return y;
}

Tensor CpuBackend::slice_channels(const Tensor& x, int64_t start, int64_t count) {
  kChecks.slice_channels(x, start, count);
  const int64_t B = x.dim(0), C = x.dim(1), HW = x.dim(2) * x.dim(3);
  Tensor y = alloc({B, count, x.dim(2), x.dim(3)});
  for (int64_t b = 0; b < B; b++)
    std::memcpy(y.f32() + b * count * HW, x.f32() + (b * C + start) * HW, count * HW * sizeof(float));
  return y;
}

Tensor CpuBackend::embedding(const Tensor& table, const int32_t* ids, int64_t n) {
  kChecks.embedding(table, ids, n);
  const int64_t D = table.dim(1);
  Tensor y = alloc({n, D});
  for (int64_t i = 0; i < n; i++) std::memcpy(y.f32() + i * D, table.f32() + int64_t(ids[i]) * D, D * sizeof(float));
  return y;
}

}  // namespace pixart::cpu
