#include "convert.cuh"
#include "cuda_common.cuh"

namespace pixart::cuda {

namespace {

template <class S, class D>
__global__ void convert_kernel(const S* __restrict__ in, D* __restrict__ out, int64_t n) {
  PIXART_GRID_STRIDE(i, n) out[i] = from_f<D>(to_f(in[i]));
}

template <class T>
__global__ void non_finite_kernel(const T* __restrict__ x, int64_t n, int* flag) {
  bool bad = false;
  PIXART_GRID_STRIDE(i, n) bad |= !isfinite(to_f(x[i]));
  // One write per warp that saw something; the host only reads 0 / non-zero.
  if (__any_sync(0xffffffffu, bad) && (threadIdx.x & 31) == 0) atomicOr(flag, 1);
}

}  // namespace

void launch_convert(DT src, const void* in, DT dst, void* out, int64_t n, cudaStream_t s) {
  if (n == 0) return;
  if (src == dst) {
    check_cuda(cudaMemcpyAsync(out, in, size_t(n) * dt_size(src), cudaMemcpyDeviceToDevice, s), "device copy");
    return;
  }
  dispatch(src, [&](auto stag) {
    using S = typename decltype(stag)::type;
    dispatch(dst, [&](auto dtag) {
      using D = typename decltype(dtag)::type;
      convert_kernel<S, D><<<grid_for(n), kThreads, 0, s>>>(static_cast<const S*>(in), static_cast<D*>(out), n);
    });
  });
  check_launch("dtype conversion");
}

void launch_non_finite(DT dt, const void* x, int64_t n, int* flag, cudaStream_t s) {
  if (n == 0) return;
  dispatch(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    non_finite_kernel<T><<<grid_for(n), kThreads, 0, s>>>(static_cast<const T*>(x), n, flag);
  });
  check_launch("non-finite check");
}

}  // namespace pixart::cuda
