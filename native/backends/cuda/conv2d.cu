#include <algorithm>

#include "conv2d.cuh"
#include "cuda_common.cuh"
#include "device_buffer.h"
#include "elementwise.cuh"

namespace pixart::cuda {

namespace {

constexpr int64_t kColBudget = int64_t(32) << 20;  // elements of the im2col buffer

// col[kk, r * Wo + ox] = x[c, (oy0 + r) * stride + ky - pt, ox * stride + kx - pl], kk = (c, ky, kx)
template <class T>
__global__ void im2col_kernel(const T* __restrict__ x, T* __restrict__ col, int64_t n, int64_t ncol, int64_t H,
                              int64_t W, int64_t Wo, int kh, int kw, int stride, int pt, int pl, int64_t oy0) {
  PIXART_GRID_STRIDE(i, n) {
    const int64_t kk = i / ncol, rem = i % ncol;
    const int64_t r = rem / Wo, ox = rem % Wo;
    const int64_t c = kk / (kh * kw), ky = (kk / kw) % kh, kx = kk % kw;
    const int64_t iy = (oy0 + r) * stride + ky - pt, ix = ox * stride + kx - pl;
    col[i] = (iy >= 0 && iy < H && ix >= 0 && ix < W) ? x[(c * H + iy) * W + ix] : from_f<T>(0.f);
  }
}

}  // namespace

void run_conv2d(DT dt, const ConvArgs& a, Gemm& gemm, MemoryPool& pool, cudaStream_t s) {
  const int64_t CKK = a.C * a.kh * a.kw, HWo = a.Ho * a.Wo, HW = a.H * a.W;
  const size_t es = dt_size(dt);
  if (a.B == 0 || a.O == 0 || HWo == 0) return;
  const bool direct = a.kh == 1 && a.kw == 1 && a.stride == 1 && a.Ho == a.H && a.Wo == a.W && a.pad_top == 0 &&
                      a.pad_left == 0;
  GemmArgs g;
  g.M = a.O;
  g.K = CKK;
  g.A = a.w;
  g.lda = CKK;
  g.a_type = g.b_type = g.d_type = dt;
  g.b_is_nk = false;
  g.ldd = HWo;
  if (direct) {
    for (int64_t b = 0; b < a.B; b++) {
      g.N = HWo;
      g.B = static_cast<const char*>(a.x) + b * a.C * HW * es;
      g.ldb = HWo;
      g.D = static_cast<char*>(a.y) + b * a.O * HWo * es;
      gemm.run(g, s);
    }
  } else {
    const int64_t rows_per_chunk = std::max<int64_t>(1, std::min<int64_t>(a.Ho, kColBudget / std::max<int64_t>(1, CKK * a.Wo)));
    DeviceBuffer col(pool, size_t(CKK * rows_per_chunk * a.Wo) * es);
    for (int64_t b = 0; b < a.B; b++) {
      const char* xb = static_cast<const char*>(a.x) + b * a.C * HW * es;
      char* yb = static_cast<char*>(a.y) + b * a.O * HWo * es;
      for (int64_t oy0 = 0; oy0 < a.Ho; oy0 += rows_per_chunk) {
        const int64_t rows = std::min(rows_per_chunk, a.Ho - oy0), ncol = rows * a.Wo, n = CKK * ncol;
        dispatch(dt, [&](auto tag) {
          using T = typename decltype(tag)::type;
          im2col_kernel<T><<<grid_for(n), kThreads, 0, s>>>(reinterpret_cast<const T*>(xb), col.as<T>(), n, ncol, a.H,
                                                            a.W, a.Wo, int(a.kh), int(a.kw), a.stride, a.pad_top,
                                                            a.pad_left, oy0);
        });
        check_launch("conv2d im2col");
        g.N = ncol;
        g.B = col.get();
        g.ldb = ncol;
        g.D = yb + oy0 * a.Wo * es;
        gemm.run(g, s);
      }
    }
  }
  if (a.bias) launch_channel_bias(dt, a.y, a.bias, a.B, a.O, HWo, s);
}

}  // namespace pixart::cuda
