#include "cuda_common.cuh"
#include "mma_common.cuh"
#include "quant_gemm.cuh"

namespace pixart::cuda {

namespace {

using namespace mma;

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// One warp per (row, group). int8: the group is the whole row.
__global__ void quantize_kernel(const float* __restrict__ w, int64_t N, int64_t K, int64_t gsize, int64_t groups,
                                int64_t row_bytes, bool int4, uint8_t* __restrict__ values,
                                float* __restrict__ scales) {
  const int64_t task = int64_t(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5);
  if (task >= N * groups) return;
  const int lane = threadIdx.x & 31;
  const int64_t n = task / groups, g = task % groups;
  const int64_t k0 = g * gsize, k1 = min(K, k0 + gsize);
  const float* row = w + n * K;
  float amax = 0.f;
  for (int64_t k = k0 + lane; k < k1; k += 32) amax = fmaxf(amax, fabsf(row[k]));
  amax = warp_max(amax);
  const float qmax = int4 ? 7.f : 127.f;
  const float sc = __fdiv_rn(amax, qmax);
  if (lane == 0) scales[task] = sc;
  auto qz = [&](float v) {
    const float r = sc > 0.f ? rintf(__fdiv_rn(v, sc)) : 0.f;
    return int(fmaxf(-qmax, fminf(qmax, r)));
  };
  if (!int4) {
    for (int64_t k = k0 + lane; k < k1; k += 32) values[n * row_bytes + k] = uint8_t(int8_t(qz(row[k])));
  } else {
    // k0 is even (gsize is), so pairs (k, k+1) never straddle groups.
    for (int64_t k = k0 + 2 * lane; k < k1; k += 64) {
      const int lo = qz(row[k]), hi = k + 1 < k1 ? qz(row[k + 1]) : 0;
      values[n * row_bytes + k / 2] = uint8_t((lo & 0x0f) | ((hi & 0x0f) << 4));
    }
  }
}

__device__ __forceinline__ int nibble(uint32_t b, int hi) { return int(b << (28 - 4 * hi)) >> 28; }

template <class T>
__global__ void dequantize_kernel(const uint8_t* __restrict__ values, const float* __restrict__ scales, int64_t N,
                                  int64_t K, int64_t gsize, int64_t groups, int64_t row_bytes, bool int4,
                                  T* __restrict__ out) {
  PIXART_GRID_STRIDE(i, N * K) {
    const int64_t n = i / K, k = i % K;
    const int q = int4 ? nibble(values[n * row_bytes + k / 2], int(k & 1)) : int(int8_t(values[n * row_bytes + k]));
    out[i] = from_f<T>(float(q) * scales[n * groups + k / gsize]);
  }
}

// ---------------------------------------------------------------- the GEMM

constexpr int kBM = 64, kBN = 64, kBK = 64;
constexpr int kAStride = kBK + 8;  // elements; ldmatrix rows land in distinct bank groups

// A CTA computes a 64x64 tile of y with 4 warps in a 2x2 layout (32x32 each: 2 m16 x 4 n8
// mma tiles). x tiles arrive by cp.async (two stages); the packed weight tile too, as bytes,
// and each thread unpacks the two k-pairs of its B fragments from shared memory.
template <class T, bool kInt4>
__global__ void __launch_bounds__(128) quant_gemm_kernel(const T* __restrict__ x, const uint8_t* __restrict__ values,
                                                         const float* __restrict__ scales, const T* __restrict__ bias,
                                                         const T* __restrict__ res, T* __restrict__ y, int64_t M,
                                                         int64_t N, int64_t K, Act act) {
  constexpr int kWBytes = kInt4 ? kBK / 2 : kBK;   // weight bytes per row per k-tile
  constexpr int kWStride = kWBytes + 16;            // padded: the 8 rows a warp reads hit distinct banks
  constexpr TypeTag<T> tag{};
  __shared__ __align__(16) T As[2][kBM * kAStride];
  __shared__ __align__(16) uint8_t Ws[2][kBN * kWStride];

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int wm = warp >> 1, wn = warp & 1;
  const int64_t m0 = int64_t(blockIdx.y) * kBM, n0 = int64_t(blockIdx.x) * kBN;
  const int64_t row_bytes = kInt4 ? K / 2 : K, groups = kInt4 ? K / kInt4Group : 1;
  const int ktiles = int(K / kBK);

  auto load = [&](int stage, int kt) {
    const int64_t k0 = int64_t(kt) * kBK;
#pragma unroll
    for (int i = 0; i < (kBM * kBK / 8) / 128; i++) {  // x: 64 rows x 8 chunks of 8 elements
      const int idx = threadIdx.x + i * 128, r = idx >> 3, c = (idx & 7) * 8;
      const bool ok = m0 + r < M;
      cp_async16(&As[stage][r * kAStride + c], ok ? x + (m0 + r) * K + k0 + c : x, ok);
    }
    constexpr int kChunks = kWBytes / 16;  // 16-byte chunks per weight row
#pragma unroll
    for (int i = 0; i < (kBN * kChunks + 127) / 128; i++) {
      const int idx = threadIdx.x + i * 128;
      if (idx < kBN * kChunks) {
        const int r = idx / kChunks, c = (idx % kChunks) * 16;
        cp_async16(&Ws[stage][r * kWStride + c], values + (n0 + r) * row_bytes + (kInt4 ? k0 / 2 : k0) + c, true);
      }
    }
    cp_async_commit();
  };

  float acc[2][4][4];
#pragma unroll
  for (int a = 0; a < 2; a++)
#pragma unroll
    for (int b = 0; b < 4; b++) acc[a][b][0] = acc[a][b][1] = acc[a][b][2] = acc[a][b][3] = 0.f;

  load(0, 0);
  for (int kt = 0; kt < ktiles; kt++) {
    const int st = kt & 1;
    if (kt + 1 < ktiles) load(st ^ 1, kt + 1);
    else cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();
    // int4: this k-tile is exactly one scale group (kBK == kInt4Group).
    float gs[4] = {1.f, 1.f, 1.f, 1.f};
    if constexpr (kInt4) {
#pragma unroll
      for (int nt = 0; nt < 4; nt++) gs[nt] = scales[(n0 + wn * 32 + nt * 8 + (lane >> 2)) * groups + kt];
    }
#pragma unroll
    for (int kk = 0; kk < kBK / 16; kk++) {
      uint32_t af[2][4];
#pragma unroll
      for (int mt = 0; mt < 2; mt++)
        ldmatrix_x4(af[mt], &As[st][(wm * 32 + mt * 16 + (lane & 15)) * kAStride + kk * 16 + (lane >> 4) * 8]);
#pragma unroll
      for (int nt = 0; nt < 4; nt++) {
        const int n = wn * 32 + nt * 8 + (lane >> 2);
        const int k = kk * 16 + (lane & 3) * 2;  // this thread's pairs: (k, k+1) and (k+8, k+9)
        float w0, w1, w2, w3;
        if constexpr (kInt4) {
          const uint32_t b0 = Ws[st][n * kWStride + k / 2], b1 = Ws[st][n * kWStride + k / 2 + 4];
          w0 = float(nibble(b0, 0)) * gs[nt];
          w1 = float(nibble(b0, 1)) * gs[nt];
          w2 = float(nibble(b1, 0)) * gs[nt];
          w3 = float(nibble(b1, 1)) * gs[nt];
        } else {
          const uint16_t p0 = *reinterpret_cast<const uint16_t*>(&Ws[st][n * kWStride + k]);
          const uint16_t p1 = *reinterpret_cast<const uint16_t*>(&Ws[st][n * kWStride + k + 8]);
          w0 = float(int8_t(p0 & 0xff));
          w1 = float(int8_t(p0 >> 8));
          w2 = float(int8_t(p1 & 0xff));
          w3 = float(int8_t(p1 >> 8));
        }
        const uint32_t bf0 = pack2(w0, w1, tag), bf1 = pack2(w2, w3, tag);
#pragma unroll
        for (int mt = 0; mt < 2; mt++) mma16816(acc[mt][nt], af[mt], bf0, bf1, tag);
      }
    }
    __syncthreads();  // the stage is overwritten by the load two iterations on
  }
  cp_async_wait<0>();

#pragma unroll
  for (int nt = 0; nt < 4; nt++) {
    const int64_t col = n0 + wn * 32 + nt * 8 + (lane & 3) * 2;
    const float s0 = kInt4 ? 1.f : scales[col], s1 = kInt4 ? 1.f : scales[col + 1];
    const float b0 = bias ? to_f(bias[col]) : 0.f, b1 = bias ? to_f(bias[col + 1]) : 0.f;
#pragma unroll
    for (int mt = 0; mt < 2; mt++) {
#pragma unroll
      for (int r = 0; r < 2; r++) {
        const int64_t row = m0 + wm * 32 + mt * 16 + (lane >> 2) + r * 8;
        if (row >= M) continue;
        float v0 = apply_act(acc[mt][nt][2 * r] * s0 + b0, act), v1 = apply_act(acc[mt][nt][2 * r + 1] * s1 + b1, act);
        if (res) {
          v0 += to_f(res[row * N + col]);
          v1 += to_f(res[row * N + col + 1]);
        }
        *reinterpret_cast<uint32_t*>(y + row * N + col) = pack2(v0, v1, tag);
      }
    }
  }
}

}  // namespace

void launch_quantize(const float* w, int64_t N, int64_t K, WeightQuant q, uint8_t* values, float* scales,
                     cudaStream_t s) {
  const bool int4 = q == WeightQuant::kInt4;
  const int64_t groups = quant_groups(q, K), gsize = int4 ? kInt4Group : K;
  const int64_t tasks = N * groups;
  if (tasks == 0) return;
  const int warps = 8;
  quantize_kernel<<<unsigned((tasks + warps - 1) / warps), warps * 32, 0, s>>>(w, N, K, gsize, groups,
                                                                               quant_row_bytes(q, K), int4, values,
                                                                               scales);
  check_launch("quantize weight");
}

void launch_dequantize(const uint8_t* values, const float* scales, int64_t N, int64_t K, WeightQuant q, DT dt, void* out,
                       cudaStream_t s) {
  const bool int4 = q == WeightQuant::kInt4;
  if (N * K == 0) return;
  dispatch(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    dequantize_kernel<T><<<grid_for(N * K), kThreads, 0, s>>>(values, scales, N, K, int4 ? kInt4Group : K,
                                                              quant_groups(q, K), quant_row_bytes(q, K), int4,
                                                              static_cast<T*>(out));
  });
  check_launch("dequantize weight");
}

bool launch_quant_gemm(DT dt, const void* x, const uint8_t* values, const float* scales, WeightQuant q,
                       const void* bias, const void* residual, void* y, int64_t M, int64_t N, int64_t K, Act act,
                       cudaStream_t s) {
  static_assert(kBK == kInt4Group, "an int4 k-tile is one scale group");
  if (dt == DT::kF32 || N % kBN != 0 || K % kBK != 0 || (reinterpret_cast<uintptr_t>(x) & 15) ||
      (reinterpret_cast<uintptr_t>(values) & 15) || (reinterpret_cast<uintptr_t>(y) & 3) ||
      (residual && (reinterpret_cast<uintptr_t>(residual) & 3)) || M > int64_t(65535) * kBM)
    return false;
  if (M == 0) return true;
  const dim3 grid(unsigned(N / kBN), unsigned((M + kBM - 1) / kBM));
  auto go = [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (q == WeightQuant::kInt4)
      quant_gemm_kernel<T, true><<<grid, 128, 0, s>>>(static_cast<const T*>(x), values, scales, static_cast<const T*>(bias),
                                                      static_cast<const T*>(residual), static_cast<T*>(y), M, N, K, act);
    else
      quant_gemm_kernel<T, false><<<grid, 128, 0, s>>>(static_cast<const T*>(x), values, scales,
                                                       static_cast<const T*>(bias), static_cast<const T*>(residual),
                                                       static_cast<T*>(y), M, N, K, act);
  };
  if (dt == DT::kF16) go(TypeTag<__half>{});
  else go(TypeTag<__nv_bfloat16>{});
  check_launch("quantised linear");
  return true;
}

}  // namespace pixart::cuda
