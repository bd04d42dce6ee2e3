#include "cuda_common.cuh"
#include "tiles.cuh"

namespace pixart::cuda {

namespace {

template <class T>
__global__ void copy_window_kernel(const T* __restrict__ src, int64_t sh, int64_t sw, int64_t sy, int64_t sx,
                                   T* __restrict__ dst, int64_t dh, int64_t dw, int64_t dy, int64_t dx, int64_t h,
                                   int64_t w, int64_t n) {
  PIXART_GRID_STRIDE(i, n) {
    const int64_t x = i % w, y = (i / w) % h, p = i / (w * h);
    dst[(p * dh + dy + y) * dw + dx + x] = src[(p * sh + sy + y) * sw + sx + x];
  }
}

// core/tiles.h's tile_blend with every rounding spelled out (no contraction).
__device__ __forceinline__ float blend(float a, float t, int64_t k, int64_t e) {
  const double r = __ddiv_rn(double(k), double(e));
  const float wa = __double2float_rn(__dsub_rn(1.0, r)), wb = __double2float_rn(r);
  return __fadd_rn(__fmul_rn(a, wa), __fmul_rn(t, wb));
}

template <class T>
__global__ void blend_edge_kernel(const T* __restrict__ a, int64_t ah, int64_t aw, T* __restrict__ t, int64_t th,
                                  int64_t tw, int64_t e, bool vertical, int64_t n) {
  // n = planes * (vertical ? e * tw : th * e)
  PIXART_GRID_STRIDE(i, n) {
    int64_t p, y, x, k;
    const T* src;
    if (vertical) {
      x = i % tw;
      y = (i / tw) % e;
      p = i / (tw * e);
      k = y;
      src = a + (p * ah + ah - e + y) * aw + x;
    } else {
      x = i % e;
      y = (i / e) % th;
      p = i / (e * th);
      k = x;
      src = a + (p * ah + y) * aw + aw - e + x;
    }
    T* dst = t + (p * th + y) * tw + x;
    *dst = from_f<T>(blend(to_f(*src), to_f(*dst), k, e));
  }
}

}  // namespace

void launch_copy_window(DT dt, const void* src, int64_t sh, int64_t sw, int64_t sy, int64_t sx, void* dst, int64_t dh,
                        int64_t dw, int64_t dy, int64_t dx, int64_t planes, int64_t h, int64_t w, cudaStream_t s) {
  const int64_t n = planes * h * w;
  if (n == 0) return;
  dispatch(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    copy_window_kernel<T><<<grid_for(n), kThreads, 0, s>>>(static_cast<const T*>(src), sh, sw, sy, sx, static_cast<T*>(dst), dh,
                                                           dw, dy, dx, h, w, n);
  });
  check_launch("copy_window");
}

void launch_blend_edge(DT dt, const void* a, int64_t ah, int64_t aw, void* t, int64_t th, int64_t tw, int64_t planes,
                       int64_t e, bool vertical, cudaStream_t s) {
  const int64_t n = planes * (vertical ? e * tw : th * e);
  if (n == 0) return;
  dispatch(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    blend_edge_kernel<T><<<grid_for(n), kThreads, 0, s>>>(static_cast<const T*>(a), ah, aw, static_cast<T*>(t), th, tw, e,
                                                          vertical, n);
  });
  check_launch("blend_tiles");
}

}  // namespace pixart::cuda
