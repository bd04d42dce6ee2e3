#include "cuda_common.cuh"
#include "device_buffer.h"
#include "norms.cuh"

namespace pixart::cuda {

namespace {

constexpr int kRowThreads = 256;

// Sum of v over the block; every thread gets the result. `red` holds 32 floats.
__device__ float block_sum(float v, float* red) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nw = (blockDim.x + 31) >> 5;
  __syncthreads();  // red may still be read from a previous call
  if (lane == 0) red[warp] = v;
  __syncthreads();
  v = lane < nw ? red[lane] : 0.f;
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

template <class T>
__global__ void __launch_bounds__(kRowThreads) rms_norm_kernel(const T* __restrict__ x, const T* __restrict__ w,
                                                               T* __restrict__ y, int64_t D, float eps) {
  __shared__ float red[32];
  const T* xr = x + int64_t(blockIdx.x) * D;
  T* yr = y + int64_t(blockIdx.x) * D;
  float ss = 0.f;
  for (int64_t j = threadIdx.x; j < D; j += blockDim.x) {
    const float v = to_f(xr[j]);
    ss += v * v;
  }
  ss = block_sum(ss, red);
  const float inv = 1.f / sqrtf(ss / float(D) + eps);
  for (int64_t j = threadIdx.x; j < D; j += blockDim.x) yr[j] = from_f<T>(to_f(w[j]) * (to_f(xr[j]) * inv));
}

template <class T>
__global__ void __launch_bounds__(kRowThreads) layer_norm_kernel(const T* __restrict__ x, const T* __restrict__ w,
                                                                 const T* __restrict__ b, T* __restrict__ y, int64_t D,
                                                                 float eps) {
  __shared__ float red[32];
  const T* xr = x + int64_t(blockIdx.x) * D;
  T* yr = y + int64_t(blockIdx.x) * D;
  float s = 0.f;
  for (int64_t j = threadIdx.x; j < D; j += blockDim.x) s += to_f(xr[j]);
  const float mean = block_sum(s, red) / float(D);
  float ss = 0.f;  // second pass over the (cached) row: no cancellation from E[x^2] - mean^2
  for (int64_t j = threadIdx.x; j < D; j += blockDim.x) {
    const float d = to_f(xr[j]) - mean;
    ss += d * d;
  }
  const float inv = 1.f / sqrtf(block_sum(ss, red) / float(D) + eps);
  for (int64_t j = threadIdx.x; j < D; j += blockDim.x) {
    float v = (to_f(xr[j]) - mean) * inv;
    if (w) v *= to_f(w[j]);
    if (b) v += to_f(b[j]);
    yr[j] = from_f<T>(v);
  }
}

// GroupNorm, pass 1: (count, mean, M2) of each chunk of each group's contiguous range.
constexpr int64_t kGroupChunk = 16384;
struct Moments {
  double n, mean, m2;
};

template <class T>
__global__ void __launch_bounds__(kRowThreads) group_partial_kernel(const T* __restrict__ x, int64_t group_size,
                                                                    int64_t chunks, Moments* __restrict__ out) {
  __shared__ float red[32];
  const int64_t bg = blockIdx.y, c = blockIdx.x;
  const int64_t begin = c * kGroupChunk, end = min(group_size, begin + kGroupChunk);
  const T* xs = x + bg * group_size;
  float s = 0.f;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) s += to_f(xs[i]);
  const float cnt = float(end - begin);
  const float mean = block_sum(s, red) / cnt;
  float ss = 0.f;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
    const float d = to_f(xs[i]) - mean;
    ss += d * d;
  }
  ss = block_sum(ss, red);
  if (threadIdx.x == 0) out[bg * chunks + c] = Moments{double(end - begin), double(mean), double(ss)};
}

// Pass 2: Chan's combination of the chunks of one group -> mean and 1/std (float).
__global__ void group_finalize_kernel(const Moments* __restrict__ parts, int64_t chunks, int64_t groups_total,
                                      float eps, float2* __restrict__ stats) {
  const int64_t g = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (g >= groups_total) return;
  double n = 0, mean = 0, m2 = 0;
  for (int64_t c = 0; c < chunks; c++) {
    const Moments p = parts[g * chunks + c];
    const double tot = n + p.n, d = p.mean - mean;
    mean += d * p.n / tot;
    m2 += p.m2 + d * d * n * p.n / tot;
    n = tot;
  }
  stats[g] = make_float2(float(mean), float(1.0 / sqrt(m2 / n + double(eps))));
}

// Pass 3: y = x * a + (bias - mean * a), a = w * inv, then SiLU (same formula as the CPU backend).
template <class T>
__global__ void group_apply_kernel(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ b,
                                   const float2* __restrict__ stats, T* __restrict__ y, int64_t n, int64_t C,
                                   int64_t HW, int64_t cg, bool silu) {
  PIXART_GRID_STRIDE(i, n) {
    const int64_t bc = i / HW, c = bc % C, g = (bc / C) * (C / cg) + c / cg;
    const float2 st = stats[g];
    const float a = to_f(w[c]) * st.y, sh = to_f(b[c]) - st.x * a;
    float v = to_f(x[i]) * a + sh;
    if (silu) v = act_silu(v);
    y[i] = from_f<T>(v);
  }
}

}  // namespace

void launch_rms_norm(DT dt, const void* x, const void* w, void* y, int64_t rows, int64_t D, float eps, cudaStream_t s) {
  if (rows == 0 || D == 0) return;
  const int threads = D >= 2048 ? 256 : 128;
  dispatch(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    rms_norm_kernel<T><<<unsigned(rows), threads, 0, s>>>(static_cast<const T*>(x), static_cast<const T*>(w),
                                                          static_cast<T*>(y), D, eps);
  });
  check_launch("rms_norm");
}

void launch_layer_norm(DT dt, const void* x, const void* w, const void* b, void* y, int64_t rows, int64_t D, float eps,
                       cudaStream_t s) {
  if (rows == 0 || D == 0) return;
  const int threads = D >= 2048 ? 256 : 128;
  dispatch(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    layer_norm_kernel<T><<<unsigned(rows), threads, 0, s>>>(static_cast<const T*>(x), static_cast<const T*>(w),
                                                            static_cast<const T*>(b), static_cast<T*>(y), D, eps);
  });
  check_launch("layer_norm");
}

void launch_group_norm(DT dt, const void* x, const void* w, const void* b, void* y, int64_t B, int64_t C, int64_t HW,
                       int groups, float eps, bool silu, MemoryPool& pool, cudaStream_t s) {
  const int64_t n = B * C * HW, cg = C / groups, group_size = cg * HW, G = B * groups;
  if (n == 0) return;
  const int64_t chunks = (group_size + kGroupChunk - 1) / kGroupChunk;
  DeviceBuffer parts(pool, size_t(G * chunks) * sizeof(Moments));
  DeviceBuffer stats(pool, size_t(G) * sizeof(float2));
  dispatch(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    group_partial_kernel<T><<<dim3(unsigned(chunks), unsigned(G)), kRowThreads, 0, s>>>(
        static_cast<const T*>(x), group_size, chunks, parts.as<Moments>());
    check_launch("group_norm statistics");
    group_finalize_kernel<<<grid_for(G, 128), 128, 0, s>>>(parts.as<Moments>(), chunks, G, eps, stats.as<float2>());
    check_launch("group_norm statistics");
    group_apply_kernel<T><<<grid_for(n), kThreads, 0, s>>>(static_cast<const T*>(x), static_cast<const T*>(w),
                                                           static_cast<const T*>(b), stats.as<float2>(),
                                                           static_cast<T*>(y), n, C, HW, cg, silu);
  });
  check_launch("group_norm");
}

}  // namespace pixart::cuda

