#include <algorithm>

#include "attention.cuh"
#include "cuda_common.cuh"
#include "device_buffer.h"

namespace pixart::cuda {

namespace {

constexpr int kSoftmaxThreads = 256;
constexpr size_t kScoreBudget = size_t(256) << 20;  // bytes of fp32 scores per chunk

template <bool kMax>
__device__ float block_reduce(float v, float* red) {
  for (int o = 16; o > 0; o >>= 1) {
    const float w = __shfl_xor_sync(0xffffffffu, v, o);
    v = kMax ? fmaxf(v, w) : v + w;
  }
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nw = blockDim.x >> 5;
  __syncthreads();
  if (lane == 0) red[warp] = v;
  __syncthreads();
  v = lane < nw ? red[lane] : (kMax ? -INFINITY : 0.f);
  for (int o = 16; o > 0; o >>= 1) {
    const float w = __shfl_xor_sync(0xffffffffu, v, o);
    v = kMax ? fmaxf(v, w) : v + w;
  }
  return v;
}

// One block per score row: s (fp32, already scaled) + biases -> softmax -> p (compute dtype).
// Rows are (b, i) with i in [r0, r0 + rows) of the query; s/p are [B][rows][Lk].
template <class T>
__global__ void __launch_bounds__(kSoftmaxThreads) softmax_rows_kernel(float* s, T* p,  // may alias (f32)
                                                                       const T* __restrict__ pos_bias,
                                                                       const T* __restrict__ key_bias, int64_t rows,
                                                                       int64_t r0, int64_t Lq, int64_t Lk, int h) {
  __shared__ float red[32];
  const int64_t row = blockIdx.x, b = row / rows, i = r0 + row % rows;
  float* sr = s + row * Lk;
  T* pr = p + row * Lk;
  const T* pb = pos_bias ? pos_bias + (int64_t(h) * Lq + i) * Lk : nullptr;
  const T* kb = key_bias ? key_bias + b * Lk : nullptr;
  float mx = -INFINITY;
  for (int64_t j = threadIdx.x; j < Lk; j += blockDim.x) {
    float v = sr[j];
    if (pb) v += to_f(pb[j]);
    if (kb) v += to_f(kb[j]);
    sr[j] = v;
    mx = fmaxf(mx, v);
  }
  mx = block_reduce<true>(mx, red);
  const float use = mx == -INFINITY ? 0.f : mx;
  float sum = 0.f;
  for (int64_t j = threadIdx.x; j < Lk; j += blockDim.x) {
    const float e = expf(sr[j] - use);
    sr[j] = e;
    sum += e;
  }
  sum = block_reduce<false>(sum, red);
  const float inv = sum > 0.f ? 1.f / sum : 0.f;
  for (int64_t j = threadIdx.x; j < Lk; j += blockDim.x) pr[j] = from_f<T>(sr[j] * inv);
}

// scores -> softmax -> P·V through cuBLASLt, per head and per chunk of query rows.
void unfused_attention(DT dt, const AttentionArgs& a, Gemm& gemm, MemoryPool& pool, cudaStream_t s) {
  const int64_t HD = a.H * a.D;
  const size_t es = dt_size(dt);
  const int64_t per_row = a.B * a.Lk * int64_t(sizeof(float));
  const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(a.Lq, int64_t(kScoreBudget) / std::max<int64_t>(per_row, 1)));
  DeviceBuffer scores(pool, size_t(a.B * chunk * a.Lk) * sizeof(float));
  DeviceBuffer probs;
  if (dt != DT::kF32) probs = DeviceBuffer(pool, size_t(a.B * chunk * a.Lk) * es);
  for (int64_t h = 0; h < a.H; h++) {
    for (int64_t r0 = 0; r0 < a.Lq; r0 += chunk) {
      const int64_t rows = std::min(chunk, a.Lq - r0);
      GemmArgs g1;  // S[b] = scale * Q[b, r0:r0+rows, h] · K[b, :, h]^T
      g1.M = rows;
      g1.N = a.Lk;
      g1.K = a.D;
      g1.A = static_cast<const char*>(a.q) + (r0 * HD + h * a.D) * es;
      g1.lda = HD;
      g1.a_type = dt;
      g1.B = static_cast<const char*>(a.k) + h * a.D * es;
      g1.ldb = HD;
      g1.b_type = dt;
      g1.b_is_nk = true;
      g1.D = scores.get();
      g1.ldd = a.Lk;
      g1.d_type = DT::kF32;
      g1.alpha = a.scale;
      g1.batch = a.B;
      g1.stride_a = a.Lq * HD;
      g1.stride_b = a.Lk * HD;
      g1.stride_d = rows * a.Lk;
      gemm.run(g1, s);

      void* p = dt == DT::kF32 ? scores.get() : probs.get();
      dispatch(dt, [&](auto tag) {
        using T = typename decltype(tag)::type;
        softmax_rows_kernel<T><<<unsigned(a.B * rows), kSoftmaxThreads, 0, s>>>(
            scores.as<float>(), static_cast<T*>(p), static_cast<const T*>(a.pos_bias),
            static_cast<const T*>(a.key_bias), rows, r0, a.Lq, a.Lk, int(h));
      });
      check_launch("attention softmax");

      GemmArgs g2;  // O[b, r0:r0+rows, h] = P[b] · V[b, :, h]
      g2.M = rows;
      g2.N = a.D;
      g2.K = a.Lk;
      g2.A = p;
      g2.lda = a.Lk;
      g2.a_type = dt;
      g2.B = static_cast<const char*>(a.v) + h * a.D * es;
      g2.ldb = HD;
      g2.b_type = dt;
      g2.b_is_nk = false;
      g2.D = static_cast<char*>(a.o) + (r0 * HD + h * a.D) * es;
      g2.ldd = HD;
      g2.d_type = dt;
      g2.batch = a.B;
      g2.stride_a = rows * a.Lk;
      g2.stride_b = a.Lk * HD;
      g2.stride_d = a.Lq * HD;
      gemm.run(g2, s);
    }
  }
}

}  // namespace

void run_attention(DT dt, const AttentionArgs& a, Gemm& gemm, MemoryPool& pool, cudaStream_t s, bool force_unfused,
                   int variant) {
  if (a.B == 0 || a.Lq == 0 || a.H == 0 || a.D == 0) return;
  if (a.Lk == 0) {  // softmax over nothing: the CPU backend's GEMM with k = 0 gives zeros
    check_cuda(cudaMemsetAsync(a.o, 0, size_t(a.B * a.Lq * a.H * a.D) * dt_size(dt), s), "attention");
    return;
  }
  if (a.D <= 128 && !force_unfused) {
    if (dt == DT::kF32) flash_attention_f32(a, s);
    else flash_attention_mma(dt, a, s, variant);
    return;
  }
  unfused_attention(dt, a, gemm, pool, s);
}

}  // namespace pixart::cuda
