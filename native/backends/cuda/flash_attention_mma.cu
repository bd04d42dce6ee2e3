// Flash attention on tensor cores for f16/bf16 (sm_80+): FlashAttention-2's schedule.
// One CTA = 4 warps = 64 query rows of one (batch, head); each warp owns 16 rows. K and V
// tiles of 64 keys stream through shared memory with cp.async (V_j loads while S = Q K_j^T is
// computed, K_{j+1} while the softmax and P V_j run). Scores, the running max / sum and the
// output accumulate in fp32 registers; P is rounded to the input type for the P·V mma, as
// FlashAttention does.
#include <cstdint>

#include "attention.cuh"
#include "cuda_common.cuh"

namespace pixart::cuda {

namespace {

constexpr int kBM = 64;   // query rows per CTA
constexpr int kBN = 64;   // keys per tile
constexpr int kWarps = 4;
constexpr int kCta = kWarps * 32;
constexpr float kLog2e = 1.4426950408889634f;

struct FlashParams {
  const void* q;
  const void* k;
  const void* v;
  void* o;
  const void* pos_bias;
  const void* key_bias;
  int64_t Lq, Lk, ld;  // ld = H * D, the row stride of q, k, v, o
  int D;
  float scale;
  bool vec;         // 16-byte cp.async loads allowed (D % 8 == 0, ld % 8 == 0, 16-byte aligned bases)
  bool pair_store;  // output pairs may be stored as one 32-bit word (D, ld even, 4-byte aligned o)
};

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
__device__ __forceinline__ void cp_async16(void* dst, const void* src, bool valid) {
  const int n = valid ? 16 : 0;  // src-size 0: zero-fill, nothing read
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src), "r"(n));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}
__device__ __forceinline__ void ldmatrix_x4(uint32_t* r, const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t* r, const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}

// c += a (16x16, row) * b (16x8, col), fp32 accumulators.
__device__ __forceinline__ void mma16816(float* c, const uint32_t* a, uint32_t b0, uint32_t b1, TypeTag<__half>) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
__device__ __forceinline__ void mma16816(float* c, const uint32_t* a, uint32_t b0, uint32_t b1,
                                         TypeTag<__nv_bfloat16>) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t pack2(float lo, float hi, TypeTag<__half>) {
  __half2 h = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&h);
}
__device__ __forceinline__ uint32_t pack2(float lo, float hi, TypeTag<__nv_bfloat16>) {
  __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&h);
}

// rows x DP tile from global (row stride ld, `valid` rows, D real columns) into shared memory
// (row stride DP + 8: ldmatrix rows land in distinct bank groups). Zero-fills padding.
template <class T, int DP>
__device__ __forceinline__ void load_tile(T* sm, const T* g, int64_t valid, const FlashParams& p) {
  constexpr int kStride = DP + 8;
  if (p.vec) {
    constexpr int kChunks = DP / 8;
    for (int idx = threadIdx.x; idx < kBM * kChunks; idx += kCta) {
      const int r = idx / kChunks, c = (idx % kChunks) * 8;
      const bool ok = r < valid && c < p.D;
      cp_async16(sm + r * kStride + c, ok ? g + r * p.ld + c : g, ok);
    }
  } else {
    for (int idx = threadIdx.x; idx < kBM * DP; idx += kCta) {
      const int r = idx / DP, c = idx % DP;
      sm[r * kStride + c] = (r < valid && c < p.D) ? g[r * p.ld + c] : from_f<T>(0.f);
    }
  }
}

template <class T, int DP>
__global__ void __launch_bounds__(kCta) flash_mma_kernel(const FlashParams p) {
  static_assert(DP % 16 == 0 && DP <= 128, "head dim padding");
  constexpr int kStride = DP + 8;
  constexpr int kKC = DP / 16;  // 16-wide chunks of the head dim
  constexpr TypeTag<T> tag{};
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* Qs = reinterpret_cast<T*>(smem_raw);
  T* Ks = Qs + kBM * kStride;
  T* Vs = Ks + kBN * kStride;

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t m0 = int64_t(blockIdx.x) * kBM;
  const int h = blockIdx.y;
  const int64_t b = blockIdx.z;
  const T* q = static_cast<const T*>(p.q) + (b * p.Lq + m0) * p.ld + int64_t(h) * p.D;
  const T* k = static_cast<const T*>(p.k) + b * p.Lk * p.ld + int64_t(h) * p.D;
  const T* v = static_cast<const T*>(p.v) + b * p.Lk * p.ld + int64_t(h) * p.D;
  const T* pos_bias = static_cast<const T*>(p.pos_bias);
  const T* key_bias = static_cast<const T*>(p.key_bias);
  const int nkb = int((p.Lk + kBN - 1) / kBN);

  load_tile<T, DP>(Qs, q, min(int64_t(kBM), p.Lq - m0), p);
  load_tile<T, DP>(Ks, k, min(int64_t(kBN), p.Lk), p);
  cp_async_commit();

  uint32_t qf[kKC][4];
  float o[DP / 8][4];
#pragma unroll
  for (int i = 0; i < DP / 8; i++) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
  float row_m[2] = {-INFINITY, -INFINITY}, row_l[2] = {0.f, 0.f};
  // This thread's two rows (g and g + 8 of the warp's 16) and its column pair in an 8-wide tile.
  const int64_t row0 = m0 + warp * 16 + (lane >> 2);
  const int col_in_tile = (lane & 3) * 2;

  for (int j = 0; j < nkb; j++) {
    const int64_t k0 = int64_t(j) * kBN;
    load_tile<T, DP>(Vs, v + k0 * p.ld, min(int64_t(kBN), p.Lk - k0), p);
    cp_async_commit();
    cp_async_wait<1>();  // Q and K_j have landed
    __syncthreads();
    if (j == 0) {
#pragma unroll
      for (int kk = 0; kk < kKC; kk++)
        ldmatrix_x4(qf[kk], Qs + (warp * 16 + (lane & 15)) * kStride + kk * 16 + (lane >> 4) * 8);
    }

    // S = Q K_j^T: 16 rows x 64 keys per warp = 8 accumulator tiles of 16x8.
    float s[kBN / 8][4];
#pragma unroll
    for (int i = 0; i < kBN / 8; i++) s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < kKC; kk++) {
#pragma unroll
      for (int np = 0; np < kBN / 16; np++) {
        uint32_t bk[4];
        ldmatrix_x4(bk, Ks + (np * 16 + (lane & 7) + ((lane >> 4) << 3)) * kStride + kk * 16 + ((lane >> 3) & 1) * 8);
        mma16816(s[2 * np], qf[kk], bk[0], bk[1], tag);
        mma16816(s[2 * np + 1], qf[kk], bk[2], bk[3], tag);
      }
    }
    __syncthreads();  // every warp is done with K_j
    if (j + 1 < nkb) load_tile<T, DP>(Ks, k + (k0 + kBN) * p.ld, min(int64_t(kBN), p.Lk - k0 - kBN), p);
    cp_async_commit();  // (possibly empty) keeps the group count uniform

    // Biases, masking of keys past Lk, online softmax in base 2.
    float mx[2] = {row_m[0], row_m[1]};
#pragma unroll
    for (int nt = 0; nt < kBN / 8; nt++) {
#pragma unroll
      for (int e = 0; e < 4; e++) {
        const int64_t col = k0 + nt * 8 + col_in_tile + (e & 1);
        const int64_t row = row0 + (e >> 1) * 8;
        float val = -INFINITY;
        if (col < p.Lk) {
          val = s[nt][e] * p.scale;
          if (pos_bias && row < p.Lq) val += to_f(pos_bias[(int64_t(h) * p.Lq + row) * p.Lk + col]);
          if (key_bias) val += to_f(key_bias[b * p.Lk + col]);
          val *= kLog2e;
        }
        s[nt][e] = val;
        mx[e >> 1] = fmaxf(mx[e >> 1], val);
      }
    }
    float alpha[2];
#pragma unroll
    for (int r = 0; r < 2; r++) {
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
      const float use = mx[r] == -INFINITY ? 0.f : mx[r];  // a fully masked row so far: keep zeros, no NaN
      alpha[r] = exp2f(row_m[r] - use);
      row_m[r] = mx[r];
      mx[r] = use;
    }
    float part[2] = {0.f, 0.f};
#pragma unroll
    for (int nt = 0; nt < kBN / 8; nt++) {
#pragma unroll
      for (int e = 0; e < 4; e++) {
        const float pe = exp2f(s[nt][e] - mx[e >> 1]);
        s[nt][e] = pe;
        part[e >> 1] += pe;
      }
    }
#pragma unroll
    for (int r = 0; r < 2; r++) row_l[r] = row_l[r] * alpha[r] + part[r];
#pragma unroll
    for (int i = 0; i < DP / 8; i++) {
      o[i][0] *= alpha[0];
      o[i][1] *= alpha[0];
      o[i][2] *= alpha[1];
      o[i][3] *= alpha[1];
    }

    cp_async_wait<1>();  // V_j has landed (K_{j+1} may still be in flight)
    __syncthreads();
    // O += P V_j: P's accumulator layout is the A-operand layout, 16 keys per mma.
#pragma unroll
    for (int kc = 0; kc < kBN / 16; kc++) {
      uint32_t pa[4];
      pa[0] = pack2(s[2 * kc][0], s[2 * kc][1], tag);
      pa[1] = pack2(s[2 * kc][2], s[2 * kc][3], tag);
      pa[2] = pack2(s[2 * kc + 1][0], s[2 * kc + 1][1], tag);
      pa[3] = pack2(s[2 * kc + 1][2], s[2 * kc + 1][3], tag);
#pragma unroll
      for (int dp = 0; dp < DP / 16; dp++) {
        uint32_t bv[4];
        ldmatrix_x4_trans(bv, Vs + (kc * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * kStride + dp * 16 + (lane >> 4) * 8);
        mma16816(o[2 * dp], pa, bv[0], bv[1], tag);
        mma16816(o[2 * dp + 1], pa, bv[2], bv[3], tag);
      }
    }
    __syncthreads();  // every warp is done with V_j before the next tile overwrites it
  }
  cp_async_wait<0>();

  T* out = static_cast<T*>(p.o) + b * p.Lq * p.ld + int64_t(h) * p.D;
#pragma unroll
  for (int r = 0; r < 2; r++) {
    float l = row_l[r];
    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);
    const float inv = l > 0.f ? 1.f / l : 0.f;
    const int64_t row = row0 + r * 8;
    if (row >= p.Lq) continue;
#pragma unroll
    for (int nt = 0; nt < DP / 8; nt++) {
      const int col = nt * 8 + col_in_tile;
      T* dst = out + row * p.ld + col;
      if (p.pair_store && col + 1 < p.D) {  // both elements in one 4-byte store
        *reinterpret_cast<uint32_t*>(dst) = pack2(o[nt][2 * r] * inv, o[nt][2 * r + 1] * inv, tag);
      } else {
        if (col < p.D) dst[0] = from_f<T>(o[nt][2 * r] * inv);
        if (col + 1 < p.D) dst[1] = from_f<T>(o[nt][2 * r + 1] * inv);
      }
    }
  }
}

template <class T, int DP>
void launch_dp(const FlashParams& p, int64_t B, int64_t H, cudaStream_t s) {
  const size_t smem = size_t(kBM + 2 * kBN) * (DP + 8) * sizeof(T);
  auto kernel = flash_mma_kernel<T, DP>;
  if (smem > 48 * 1024) {
    check_cuda(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)),
               "attention shared memory");
  }
  const dim3 grid(unsigned((p.Lq + kBM - 1) / kBM), unsigned(H), unsigned(B));
  kernel<<<grid, kCta, smem, s>>>(p);
  check_launch("attention");
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

}  // namespace

void flash_attention_mma(DT dt, const AttentionArgs& a, cudaStream_t s) {
  if (a.D < 1 || a.D > 128) fail(StatusCode::kInternal, "flash attention: head dim out of range");
  if (a.H > 65535 || a.B > 65535) fail(StatusCode::kUnsupported, "attention: more than 65535 heads or batch entries");
  FlashParams p{a.q, a.k, a.v, a.o, a.pos_bias, a.key_bias, a.Lq, a.Lk, a.H * a.D, int(a.D), a.scale, false, false};
  p.vec = a.D % 8 == 0 && p.ld % 8 == 0 && aligned16(a.q) && aligned16(a.k) && aligned16(a.v);
  p.pair_store = a.D % 2 == 0 && p.ld % 2 == 0 && (reinterpret_cast<uintptr_t>(a.o) & 3) == 0;
  const int dp = int((a.D + 15) / 16) * 16;
  auto go = [&](auto tag) {
    using T = typename decltype(tag)::type;
    switch (dp) {
      case 16: launch_dp<T, 16>(p, a.B, a.H, s); break;
      case 32: launch_dp<T, 32>(p, a.B, a.H, s); break;
      case 48: launch_dp<T, 48>(p, a.B, a.H, s); break;
      case 64: launch_dp<T, 64>(p, a.B, a.H, s); break;
      case 80: launch_dp<T, 80>(p, a.B, a.H, s); break;
      case 96: launch_dp<T, 96>(p, a.B, a.H, s); break;
      case 112: launch_dp<T, 112>(p, a.B, a.H, s); break;
      default: launch_dp<T, 128>(p, a.B, a.H, s); break;
    }
  };
  if (dt == DT::kF16) go(TypeTag<__half>{});
  else if (dt == DT::kBF16) go(TypeTag<__nv_bfloat16>{});
  else fail(StatusCode::kInternal, "flash_attention_mma: f16/bf16 only");
}

}  // namespace pixart::cuda
