// Fast paths for the DiT's row-wise ops on f16/bf16/f32 rows whose width is a multiple of 8:
// one warp per row, the row held in registers and read once in 16-byte vectors.
//   layer_norm (+ affine) (+ adaLN modulation), one pass over x
//   gated_residual and modulate, 8 elements per thread
// The launchers return false when a shape or alignment does not qualify; the caller then uses
// the general kernels (norms.cu, elementwise.cu).
#include "cuda_common.cuh"
#include "rowwise.cuh"

namespace pixart::cuda {

namespace {

constexpr int kVec = 8;  // elements per vector

// 8 elements of T <-> 8 floats. Half/bf16: one 16-byte access; float: two.
template <class T>
__device__ __forceinline__ void load8(const T* p, float* f) {
  if constexpr (sizeof(T) == 4) {
    const float4 a = reinterpret_cast<const float4*>(p)[0], b = reinterpret_cast<const float4*>(p)[1];
    f[0] = a.x; f[1] = a.y; f[2] = a.z; f[3] = a.w; f[4] = b.x; f[5] = b.y; f[6] = b.z; f[7] = b.w;
  } else {
    const uint4 u = *reinterpret_cast<const uint4*>(p);
    const T* h = reinterpret_cast<const T*>(&u);
#pragma unroll
    for (int i = 0; i < 8; i++) f[i] = to_f(h[i]);
  }
}
template <class T>
__device__ __forceinline__ void store8(T* p, const float* f) {
  if constexpr (sizeof(T) == 4) {
    reinterpret_cast<float4*>(p)[0] = make_float4(f[0], f[1], f[2], f[3]);
    reinterpret_cast<float4*>(p)[1] = make_float4(f[4], f[5], f[6], f[7]);
  } else {
    uint4 u;
    T* h = reinterpret_cast<T*>(&u);
#pragma unroll
    for (int i = 0; i < 8; i++) h[i] = from_f<T>(f[i]);
    *reinterpret_cast<uint4*>(p) = u;
  }
}


// 8 elements held as 16-byte words (by value, so the row can stay in registers) -> 8 floats.
__device__ __forceinline__ float2 word2(uint32_t w, TypeTag<__half>) {
  __half2 h;
  memcpy(&h, &w, 4);
  return __half22float2(h);
}
__device__ __forceinline__ float2 word2(uint32_t w, TypeTag<__nv_bfloat16>) {
  return make_float2(__uint_as_float(w << 16), __uint_as_float(w & 0xffff0000u));
}
template <class T, int kWords>
__device__ __forceinline__ void unpack8(const uint4 (&u)[kWords], float* f) {
  if constexpr (sizeof(T) == 4) {
    f[0] = __uint_as_float(u[0].x); f[1] = __uint_as_float(u[0].y); f[2] = __uint_as_float(u[0].z);
    f[3] = __uint_as_float(u[0].w); f[4] = __uint_as_float(u[1 % kWords].x); f[5] = __uint_as_float(u[1 % kWords].y);
    f[6] = __uint_as_float(u[1 % kWords].z); f[7] = __uint_as_float(u[1 % kWords].w);
  } else {
    const float2 a = word2(u[0].x, TypeTag<T>{}), b = word2(u[0].y, TypeTag<T>{}), c = word2(u[0].z, TypeTag<T>{}),
                 d = word2(u[0].w, TypeTag<T>{});
    f[0] = a.x; f[1] = a.y; f[2] = b.x; f[3] = b.y; f[4] = c.x; f[5] = c.y; f[6] = d.x; f[7] = d.y;
  }
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

constexpr int kRowsPerBlock = 4;  // warps per block, one row each

// y = LN(x) [* w + b] [* (1 + mod[b, scale]) + mod[b, shift]], rows of D = nv * 8 elements,
// `tokens` rows per batch entry (mod is [B, M, D]; mod == nullptr: no modulation).
template <class T, int kMaxV>
__global__ void __launch_bounds__(32 * kRowsPerBlock)
    ln_mod_kernel(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ bias,
                  const T* __restrict__ mod, T* __restrict__ y, int64_t rows, int nv, int64_t tokens, int64_t M,
                  int shift_idx, int scale_idx, float eps) {
  const int64_t row = int64_t(blockIdx.x) * kRowsPerBlock + (threadIdx.x >> 5);
  if (row >= rows) return;
  const int lane = threadIdx.x & 31;
  const int64_t D = int64_t(nv) * kVec;
  const T* xr = x + row * D;
  // The row stays in registers in its storage type (half the registers of floats for f16/bf16).
  constexpr int kWords = sizeof(T) * kVec / 16;  // 16-byte words per vector
  uint4 raw[kMaxV][kWords];
  float s = 0.f;
#pragma unroll
  for (int i = 0; i < kMaxV; i++) {
    const int c = lane + i * 32;
    if (c < nv) {
#pragma unroll
      for (int k = 0; k < kWords; k++) raw[i][k] = reinterpret_cast<const uint4*>(xr + c * kVec)[k];
      float f[kVec];
      unpack8<T, kWords>(raw[i], f);
#pragma unroll
      for (int e = 0; e < kVec; e++) s += f[e];
    }
  }
  const float mean = warp_sum(s) / float(D);
  float ss = 0.f;
#pragma unroll
  for (int i = 0; i < kMaxV; i++) {
    if (lane + i * 32 < nv) {
      float f[kVec];
      unpack8<T, kWords>(raw[i], f);
#pragma unroll
      for (int e = 0; e < kVec; e++) {
        const float d = f[e] - mean;
        ss += d * d;
      }
    }
  }
  const float inv = rsqrtf(warp_sum(ss) / float(D) + eps);
  const T* shift = mod ? mod + ((row / tokens) * M + shift_idx) * D : nullptr;
  const T* scale = mod ? mod + ((row / tokens) * M + scale_idx) * D : nullptr;
  T* yr = y + row * D;
#pragma unroll
  for (int i = 0; i < kMaxV; i++) {
    const int c = lane + i * 32;
    if (c < nv) {
      float o[kVec], a[kVec], b[kVec];
      unpack8<T, kWords>(raw[i], o);
#pragma unroll
      for (int e = 0; e < kVec; e++) o[e] = (o[e] - mean) * inv;
      if (w) {
        load8(w + c * kVec, a);
#pragma unroll
        for (int e = 0; e < kVec; e++) o[e] *= a[e];
      }
      if (bias) {
        load8(bias + c * kVec, b);
#pragma unroll
        for (int e = 0; e < kVec; e++) o[e] += b[e];
      }
      if (mod) {
        load8(scale + c * kVec, a);
        load8(shift + c * kVec, b);
#pragma unroll
        for (int e = 0; e < kVec; e++) o[e] = o[e] * (1.f + a[e]) + b[e];
      }
      store8(yr + c * kVec, o);
    }
  }
}

// out = x + mod[b, gate] * y     (gate_idx >= 0)
// out = x * (1 + mod[b, scale]) + mod[b, shift]    (gate_idx < 0: modulate; y unused)
template <class T>
__global__ void mod_vec_kernel(const T* __restrict__ x, const T* __restrict__ y, const T* __restrict__ mod,
                               T* __restrict__ out, int64_t nvec, int64_t nv_row, int64_t tokens, int64_t M, int gate_idx,
                               int shift_idx, int scale_idx) {
  PIXART_GRID_STRIDE(iv, nvec) {
    const int64_t c = iv % nv_row, b = iv / (nv_row * tokens), D = nv_row * kVec;
    float a[kVec], g[kVec], o[kVec];
    load8(x + iv * kVec, a);
    if (gate_idx >= 0) {
      load8(y + iv * kVec, o);
      load8(mod + (b * M + gate_idx) * D + c * kVec, g);
#pragma unroll
      for (int e = 0; e < kVec; e++) o[e] = a[e] + g[e] * o[e];
    } else {
      load8(mod + (b * M + scale_idx) * D + c * kVec, g);
      load8(mod + (b * M + shift_idx) * D + c * kVec, o);
#pragma unroll
      for (int e = 0; e < kVec; e++) o[e] = a[e] * (1.f + g[e]) + o[e];
    }
    store8(out + iv * kVec, o);
  }
}

bool aligned16(const void* p) { return p == nullptr || (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

}  // namespace

bool launch_layer_norm_modulate_fast(DT dt, const void* x, const void* w, const void* b, const void* mod, void* y,
                                     int64_t rows, int64_t D, int64_t tokens, int64_t M, int shift_idx, int scale_idx,
                                     float eps, cudaStream_t s) {
  if (D % kVec != 0 || D > 16 * 32 * kVec || rows == 0 || !aligned16(x) || !aligned16(w) || !aligned16(b) ||
      !aligned16(mod) || !aligned16(y) || (mod && tokens <= 0)) {
    return false;
  }
  const int nv = int(D / kVec);
  const unsigned blocks = unsigned((rows + kRowsPerBlock - 1) / kRowsPerBlock);
  if (blocks > 0x7fffffffu) return false;
  dispatch(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    auto go = [&](auto kmax) {
      constexpr int K = decltype(kmax)::value;
      ln_mod_kernel<T, K><<<blocks, 32 * kRowsPerBlock, 0, s>>>(
          static_cast<const T*>(x), static_cast<const T*>(w), static_cast<const T*>(b), static_cast<const T*>(mod),
          static_cast<T*>(y), rows, nv, tokens > 0 ? tokens : 1, M, shift_idx, scale_idx, eps);
    };
    if (nv <= 32 * 2) go(std::integral_constant<int, 2>{});
    else if (nv <= 32 * 3) go(std::integral_constant<int, 3>{});
    else if (nv <= 32 * 4) go(std::integral_constant<int, 4>{});
    else if (nv <= 32 * 5) go(std::integral_constant<int, 5>{});  // PixArt-XL: D = 1152, 144 vectors
    else if (nv <= 32 * 8) go(std::integral_constant<int, 8>{});
    else go(std::integral_constant<int, 16>{});
  });
  check_launch("layer_norm");
  return true;
}

bool launch_mod_vec_fast(DT dt, const void* x, const void* y, const void* mod, void* out, int64_t B, int64_t N,
                         int64_t D, int64_t M, int gate_idx, int shift_idx, int scale_idx, cudaStream_t s) {
  if (D % kVec != 0 || !aligned16(x) || !aligned16(y) || !aligned16(mod) || !aligned16(out)) return false;
  const int64_t nvec = B * N * D / kVec;
  if (nvec == 0) return true;
  dispatch(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    mod_vec_kernel<T><<<grid_for(nvec), kThreads, 0, s>>>(static_cast<const T*>(x), static_cast<const T*>(y),
                                                          static_cast<const T*>(mod), static_cast<T*>(out), nvec,
                                                          D / kVec, N, M, gate_idx, shift_idx, scale_idx);
  });
  check_launch(gate_idx >= 0 ? "gated_residual" : "modulate");
  return true;
}

}  // namespace pixart::cuda
