#include "cuda_common.cuh"
#include "rgb.cuh"

namespace pixart::cuda {

namespace {

// core/rgb8.h's rgb8_byte with explicit float32 roundings (no FMA contraction; it could not
// change the result, but the host formula is the contract). __float2int_rn rounds half to even.
__device__ __forceinline__ uint8_t rgb8_byte(float x) {
  float v = __fadd_rn(__fmul_rn(x, 0.5f), 0.5f);
  if (isnan(v)) return 0;
  v = v < 0.f ? 0.f : v > 1.f ? 1.f : v;
  return static_cast<uint8_t>(__float2int_rn(__fmul_rn(v, 255.f)));
}

// One thread per pixel: C coalesced reads (one per channel plane), C bytes written side by side.
template <class T>
__global__ void rgb8_kernel(const T* __restrict__ x, int64_t C, int64_t HW, int64_t pixels, uint8_t* __restrict__ out,
                            int* flag) {
  bool bad = false;
  PIXART_GRID_STRIDE(p, pixels) {
    const int64_t b = p / HW, i = p - b * HW;
    const T* src = x + b * C * HW + i;
    uint8_t* dst = out + p * C;
    for (int64_t c = 0; c < C; c++) {
      const float v = to_f(src[c * HW]);
      bad |= !isfinite(v);
      dst[c] = rgb8_byte(v);
    }
  }
  // One write per warp that saw something (every thread of the block gets here).
  if (__any_sync(0xffffffffu, bad) && (threadIdx.x & 31) == 0) atomicOr(flag, 1);
}

}  // namespace

void launch_rgb8(DT dt, const void* x, int64_t B, int64_t C, int64_t HW, uint8_t* out, int* flag, cudaStream_t s) {
  const int64_t pixels = B * HW;
  if (pixels == 0 || C == 0) return;
  dispatch(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    rgb8_kernel<T><<<grid_for(pixels), kThreads, 0, s>>>(static_cast<const T*>(x), C, HW, pixels, out, flag);
  });
  check_launch("to_host_rgb8");
}

}  // namespace pixart::cuda
