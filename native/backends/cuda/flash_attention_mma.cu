// Flash attention on tensor cores for f16/bf16 (sm_80+): FlashAttention-2's schedule.
// A CTA of kWarps warps owns kWarps * 16 * kMT query rows of one (batch, head); each warp owns
// 16 * kMT rows (kMT m16 tiles share every K/V fragment it loads). K and V tiles of kBN keys
// stream through shared memory with cp.async (V_j loads while S = Q K_j^T is computed,
// K_{j+1} while the softmax and P V_j run). Scores, the running max / sum and the output
// accumulate in fp32 registers; P is rounded to the input type for the P·V mma, as
// FlashAttention does. The softmax runs in base 2 on the MUFU unit (ex2.approx), with the
// 1/sqrt(d) scale folded into one FMA per score when there is no bias.
//
// Head dims: the QK^T contraction is padded to DP (a multiple of 16, zeros), the output to DN
// (a multiple of 8): D = 72 runs 5 k-chunks for S and 9 n-tiles for O.
//
// Schedules (kMT, kWarps, kBN) differ in speed by GPU and shape, so the first call for a shape
// times the candidates once and remembers the fastest (PIXART_CUDA_ATTENTION_VARIANT=N forces
// one). Calls with a bias or mask use the general schedule 0 with per-element bias terms.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <tuple>

#include "attention.cuh"
#include "cuda_common.cuh"
#include "mma_common.cuh"

namespace pixart::cuda {

namespace {

using namespace mma;

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
  float scale_log2;  // scale * log2(e)
  bool vec;          // 16-byte cp.async loads allowed (D % 8 == 0, ld % 8 == 0, 16-byte aligned bases)
  bool pair_store;   // output pairs may be stored as one 32-bit word (D, ld even, 4-byte aligned o)
};

__device__ __forceinline__ float ex2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

// ROWS x DP tile from global (row stride ld, `valid` rows, D real columns) into shared memory
// (row stride DP + 8: ldmatrix rows land in distinct bank groups). Zero-fills padding.
template <class T, int DP, int ROWS, int THREADS>
__device__ __forceinline__ void load_tile(T* sm, const T* g, int64_t valid, const FlashParams& p) {
  constexpr int kStride = DP + 8;
  if (p.vec) {
    constexpr int kChunks = DP / 8;
#pragma unroll 4
    for (int idx = threadIdx.x; idx < ROWS * kChunks; idx += THREADS) {
      const int r = idx / kChunks, c = (idx % kChunks) * 8;
      const bool ok = r < valid && c < p.D;
      cp_async16(sm + r * kStride + c, ok ? g + r * p.ld + c : g, ok);
    }
  } else {
    for (int idx = threadIdx.x; idx < ROWS * DP; idx += THREADS) {
      const int r = idx / DP, c = idx % DP;
      sm[r * kStride + c] = (r < valid && c < p.D) ? g[r * p.ld + c] : from_f<T>(0.f);
    }
  }
}

// kQSmem: Q's fragments are re-read from shared memory every key tile instead of living in
// registers (fewer registers, so kMinBlocks CTAs fit on an SM).
template <class T, int DP, int DN, int kMT, int kWarps, int kBN, bool kBias, bool kQSmem = false, int kMinBlocks = 1>
__global__ void __launch_bounds__(kWarps * 32, kMinBlocks) flash_mma_kernel(const FlashParams p) {
  static_assert(DP % 16 == 0 && DP <= 128 && DN % 8 == 0 && DN <= DP && DN > DP - 16, "head dim padding");
  static_assert(kBN % 16 == 0, "key tile");
  constexpr int kThreads = kWarps * 32;
  constexpr int kBM = kWarps * 16 * kMT;
  constexpr int kStride = DP + 8;
  constexpr int kKC = DP / 16;  // 16-wide chunks of the padded head dim (S = Q K^T)
  constexpr int kNT = DN / 8;   // 8-wide output tiles (O = P V)
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

  load_tile<T, DP, kBM, kThreads>(Qs, q, min(int64_t(kBM), p.Lq - m0), p);
  load_tile<T, DP, kBN, kThreads>(Ks, k, min(int64_t(kBN), p.Lk), p);
  cp_async_commit();

  uint32_t qf[kQSmem ? 1 : kMT][kQSmem ? 1 : kKC][4];
  float o[kMT][kNT][4];
#pragma unroll
  for (int mt = 0; mt < kMT; mt++)
#pragma unroll
    for (int i = 0; i < kNT; i++) o[mt][i][0] = o[mt][i][1] = o[mt][i][2] = o[mt][i][3] = 0.f;
  float row_m[kMT][2], row_l[kMT][2];
#pragma unroll
  for (int mt = 0; mt < kMT; mt++) row_m[mt][0] = row_m[mt][1] = -INFINITY, row_l[mt][0] = row_l[mt][1] = 0.f;
  // This thread's rows (g and g + 8 of each of its m16 tiles) and its column pair in an 8-wide tile.
  const int64_t row0 = m0 + warp * 16 * kMT + (lane >> 2);
  const int col_in_tile = (lane & 3) * 2;

  for (int j = 0; j < nkb; j++) {
    const int64_t k0 = int64_t(j) * kBN;
    load_tile<T, DP, kBN, kThreads>(Vs, v + k0 * p.ld, min(int64_t(kBN), p.Lk - k0), p);
    cp_async_commit();
    cp_async_wait<1>();  // Q and K_j have landed
    __syncthreads();
    if constexpr (!kQSmem) {
      if (j == 0) {
#pragma unroll
        for (int mt = 0; mt < kMT; mt++)
#pragma unroll
          for (int kk = 0; kk < kKC; kk++)
            ldmatrix_x4(qf[mt][kk], Qs + ((warp * kMT + mt) * 16 + (lane & 15)) * kStride + kk * 16 + (lane >> 4) * 8);
      }
    }

    // S = Q K_j^T: per m16 tile, 16 rows x kBN keys = kBN / 8 accumulator tiles of 16x8.
    float s[kMT][kBN / 8][4];
#pragma unroll
    for (int mt = 0; mt < kMT; mt++)
#pragma unroll
      for (int i = 0; i < kBN / 8; i++) s[mt][i][0] = s[mt][i][1] = s[mt][i][2] = s[mt][i][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < kKC; kk++) {
      uint32_t qs[kQSmem ? kMT : 1][4];
      if constexpr (kQSmem) {
#pragma unroll
        for (int mt = 0; mt < kMT; mt++)
          ldmatrix_x4(qs[mt], Qs + ((warp * kMT + mt) * 16 + (lane & 15)) * kStride + kk * 16 + (lane >> 4) * 8);
      }
#pragma unroll
      for (int np = 0; np < kBN / 16; np++) {
        uint32_t bk[4];
        ldmatrix_x4(bk, Ks + (np * 16 + (lane & 7) + ((lane >> 4) << 3)) * kStride + kk * 16 + ((lane >> 3) & 1) * 8);
#pragma unroll
        for (int mt = 0; mt < kMT; mt++) {
          const uint32_t* a = kQSmem ? qs[kQSmem ? mt : 0] : qf[kQSmem ? 0 : mt][kQSmem ? 0 : kk];
          mma16816(s[mt][2 * np], a, bk[0], bk[1], tag);
          mma16816(s[mt][2 * np + 1], a, bk[2], bk[3], tag);
        }
      }
    }
    __syncthreads();  // every warp is done with K_j
    if (j + 1 < nkb) load_tile<T, DP, kBN, kThreads>(Ks, k + (k0 + kBN) * p.ld, min(int64_t(kBN), p.Lk - k0 - kBN), p);
    cp_async_commit();  // (possibly empty) keeps the group count uniform

    // Online softmax in base 2. Without bias the row max is taken on the raw scores and the
    // scale folded into the exponent's FMA (scale > 0 is guaranteed by the launcher).
    const bool ragged = k0 + kBN > p.Lk;  // the last tile: mask keys past Lk
#pragma unroll
    for (int mt = 0; mt < kMT; mt++) {
      float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
      for (int nt = 0; nt < kBN / 8; nt++) {
#pragma unroll
        for (int e = 0; e < 4; e++) {
          float val = s[mt][nt][e];
          if constexpr (kBias) {
            const int64_t col = k0 + nt * 8 + col_in_tile + (e & 1);
            const int64_t row = row0 + mt * 16 + (e >> 1) * 8;
            val *= p.scale_log2;
            if (col < p.Lk) {
              if (pos_bias && row < p.Lq) val += to_f(pos_bias[(int64_t(h) * p.Lq + row) * p.Lk + col]) * kLog2e;
              if (key_bias) val += to_f(key_bias[b * p.Lk + col]) * kLog2e;
            } else {
              val = -INFINITY;
            }
          } else {
            if (ragged && k0 + nt * 8 + col_in_tile + (e & 1) >= p.Lk) val = -INFINITY;
          }
          s[mt][nt][e] = val;
          mx[e >> 1] = fmaxf(mx[e >> 1], val);
        }
      }
      float alpha[2], neg_m[2];
#pragma unroll
      for (int r = 0; r < 2; r++) {
        mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
        mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
        // Scores kept in log2 units: kBias already scaled them; otherwise scale the max here.
        const float m_new = fmaxf(row_m[mt][r], kBias ? mx[r] : mx[r] * p.scale_log2);
        const float use = m_new == -INFINITY ? 0.f : m_new;  // a fully masked row so far: zeros, no NaN
        alpha[r] = ex2(row_m[mt][r] - use);
        row_m[mt][r] = m_new;
        neg_m[r] = -use;
      }
      float part[2] = {0.f, 0.f};
#pragma unroll
      for (int nt = 0; nt < kBN / 8; nt++) {
#pragma unroll
        for (int e = 0; e < 4; e++) {
          const float pe = kBias ? ex2(s[mt][nt][e] + neg_m[e >> 1]) : ex2(fmaf(s[mt][nt][e], p.scale_log2, neg_m[e >> 1]));
          s[mt][nt][e] = pe;
          part[e >> 1] += pe;
        }
      }
#pragma unroll
      for (int r = 0; r < 2; r++) row_l[mt][r] = row_l[mt][r] * alpha[r] + part[r];
#pragma unroll
      for (int i = 0; i < kNT; i++) {
        o[mt][i][0] *= alpha[0];
        o[mt][i][1] *= alpha[0];
        o[mt][i][2] *= alpha[1];
        o[mt][i][3] *= alpha[1];
      }
    }

    cp_async_wait<1>();  // V_j has landed (K_{j+1} may still be in flight)
    __syncthreads();
    // O += P V_j: P's accumulator layout is the A-operand layout, 16 keys per mma.
#pragma unroll
    for (int kc = 0; kc < kBN / 16; kc++) {
      uint32_t pa[kMT][4];
#pragma unroll
      for (int mt = 0; mt < kMT; mt++) {
        pa[mt][0] = pack2(s[mt][2 * kc][0], s[mt][2 * kc][1], tag);
        pa[mt][1] = pack2(s[mt][2 * kc][2], s[mt][2 * kc][3], tag);
        pa[mt][2] = pack2(s[mt][2 * kc + 1][0], s[mt][2 * kc + 1][1], tag);
        pa[mt][3] = pack2(s[mt][2 * kc + 1][2], s[mt][2 * kc + 1][3], tag);
      }
#pragma unroll
      for (int dp = 0; dp < (kNT + 1) / 2; dp++) {
        uint32_t bv[4];
        ldmatrix_x4_trans(bv, Vs + (kc * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * kStride + dp * 16 + (lane >> 4) * 8);
#pragma unroll
        for (int mt = 0; mt < kMT; mt++) {
          mma16816(o[mt][2 * dp], pa[mt], bv[0], bv[1], tag);
          if (2 * dp + 1 < kNT) mma16816(o[mt][2 * dp + 1], pa[mt], bv[2], bv[3], tag);
        }
      }
    }
    __syncthreads();  // every warp is done with V_j before the next tile overwrites it
  }
  cp_async_wait<0>();

  T* out = static_cast<T*>(p.o) + b * p.Lq * p.ld + int64_t(h) * p.D;
#pragma unroll
  for (int mt = 0; mt < kMT; mt++) {
#pragma unroll
    for (int r = 0; r < 2; r++) {
      float l = row_l[mt][r];
      l += __shfl_xor_sync(0xffffffffu, l, 1);
      l += __shfl_xor_sync(0xffffffffu, l, 2);
      const float inv = l > 0.f ? 1.f / l : 0.f;
      const int64_t row = row0 + mt * 16 + r * 8;
      if (row >= p.Lq) continue;
#pragma unroll
      for (int nt = 0; nt < kNT; nt++) {
        const int col = nt * 8 + col_in_tile;
        T* dst = out + row * p.ld + col;
        if (p.pair_store && col + 1 < p.D) {  // both elements in one 4-byte store
          *reinterpret_cast<uint32_t*>(dst) = pack2(o[mt][nt][2 * r] * inv, o[mt][nt][2 * r + 1] * inv, tag);
        } else {
          if (col < p.D) dst[0] = from_f<T>(o[mt][nt][2 * r] * inv);
          if (col + 1 < p.D) dst[1] = from_f<T>(o[mt][nt][2 * r + 1] * inv);
        }
      }
    }
  }
}

template <class T, int DP, int DN, int kMT, int kWarps, int kBN, bool kBias, bool kQSmem = false, int kMinBlocks = 1>
void launch_one(const FlashParams& p, int64_t B, int64_t H, cudaStream_t s) {
  constexpr int kBM = kWarps * 16 * kMT;
  const size_t smem = size_t(kBM + 2 * kBN) * (DP + 8) * sizeof(T);
  auto kernel = flash_mma_kernel<T, DP, DN, kMT, kWarps, kBN, kBias, kQSmem, kMinBlocks>;
  set_max_dynamic_smem(reinterpret_cast<const void*>(kernel), smem, "attention shared memory");
  const dim3 grid(unsigned((p.Lq + kBM - 1) / kBM), unsigned(H), unsigned(B));
  kernel<<<grid, kWarps * 32, smem, s>>>(p);
  check_launch("attention");
}

// The schedules the tuner chooses among (no bias, scale > 0, head dims 64, 72 and 128):
//   0: 4 warps x 16 rows, 64-key tiles (FlashAttention-2's sm80 default for small head dims)
//   1: 8 warps x 16 rows, 64-key tiles (K/V tiles shared by twice the rows)
//   2: 4 warps x 32 rows, 64-key tiles (each K/V fragment feeds two m16 tiles)
//   3: 4 warps x 32 rows, 32-key tiles (fewer score registers)
//   4: as 2, Q re-read from shared memory each tile, capped at 168 registers (3 CTAs per SM)
constexpr int kVariants = 5;

template <class T, int DP, int DN>
void launch_fast(int variant, const FlashParams& p, int64_t B, int64_t H, cudaStream_t s) {
  switch (variant) {
    case 1: launch_one<T, DP, DN, 1, 8, 64, false>(p, B, H, s); break;
    case 2:
      if constexpr (DP < 128) launch_one<T, DP, DN, 2, 4, 64, false>(p, B, H, s);
      break;
    case 3:
      if constexpr (DP < 128) launch_one<T, DP, DN, 2, 4, 32, false>(p, B, H, s);
      break;
    case 4:
      if constexpr (DP < 128) launch_one<T, DP, DN, 2, 4, 64, false, true, 3>(p, B, H, s);
      break;
    default: launch_one<T, DP, DN, 1, 4, 64, false>(p, B, H, s); break;
  }
}

// General path: every head dim up to 128 (DN = D rounded up to 8), biases and masks.
template <class T>
void launch_general(int dn, const FlashParams& p, int64_t B, int64_t H, cudaStream_t s) {
  switch (dn) {
#define PIXART_DN(n) \
  case n: launch_one<T, (n + 15) / 16 * 16, n, 1, 4, 64, true>(p, B, H, s); break;
    PIXART_DN(8) PIXART_DN(16) PIXART_DN(24) PIXART_DN(32) PIXART_DN(40) PIXART_DN(48) PIXART_DN(56) PIXART_DN(64)
    PIXART_DN(72) PIXART_DN(80) PIXART_DN(88) PIXART_DN(96) PIXART_DN(104) PIXART_DN(112) PIXART_DN(120)
    PIXART_DN(128)
#undef PIXART_DN
    default: fail(StatusCode::kInternal, "flash attention: head dim out of range");
  }
}

// Launches the no-bias kernel for a tuned head dim; false if dn has no fast instantiation.
template <class T>
bool launch_fast_dn(int dn, int variant, const FlashParams& p, int64_t B, int64_t H, cudaStream_t s) {
  switch (dn) {
    case 64: launch_fast<T, 64, 64>(variant, p, B, H, s); return true;
    case 72: launch_fast<T, 80, 72>(variant, p, B, H, s); return true;
    case 128:  // two m16 tiles per warp would need more than 255 registers at this width
      if (variant >= 2) return false;
      launch_fast<T, 128, 128>(variant, p, B, H, s);
      return true;
    default: return false;
  }
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

// Tuning results: (device, dtype, head dim, batch*heads, Lq, Lk) -> variant.
std::mutex g_tune_mutex;
std::map<std::tuple<int, int, int, int64_t, int64_t, int64_t>, int> g_tuned;

int env_variant() {
  const char* e = std::getenv("PIXART_CUDA_ATTENTION_VARIANT");
  if (!e || !*e) return -1;
  const int v = std::atoi(e);
  return v >= 0 && v < kVariants ? v : -1;
}

}  // namespace

int flash_attention_variants() { return kVariants; }

void flash_attention_mma(DT dt, const AttentionArgs& a, cudaStream_t s, int variant) {
  if (a.D < 1 || a.D > 128) fail(StatusCode::kInternal, "flash attention: head dim out of range");
  if (a.H > 65535 || a.B > 65535) fail(StatusCode::kUnsupported, "attention: more than 65535 heads or batch entries");
  FlashParams p{a.q, a.k, a.v, a.o, a.pos_bias, a.key_bias, a.Lq, a.Lk, a.H * a.D, int(a.D), a.scale * kLog2e,
                false, false};
  p.vec = a.D % 8 == 0 && p.ld % 8 == 0 && aligned16(a.q) && aligned16(a.k) && aligned16(a.v);
  p.pair_store = a.D % 2 == 0 && p.ld % 2 == 0 && (reinterpret_cast<uintptr_t>(a.o) & 3) == 0;
  const int dn = int((a.D + 7) / 8) * 8;
  const bool fast_ok = !a.pos_bias && !a.key_bias && a.scale > 0.f && p.vec;
  auto go = [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (fast_ok) {
      int v = variant >= 0 && variant < kVariants ? variant : env_variant();
      if (v < 0) {
        int device = 0;
        cudaGetDevice(&device);
        const auto key = std::make_tuple(device, int(dt), dn, a.B * a.H, a.Lq, a.Lk);
        {
          std::lock_guard<std::mutex> lock(g_tune_mutex);
          auto it = g_tuned.find(key);
          if (it != g_tuned.end()) v = it->second;
        }
        if (v < 0 && a.Lq * a.Lk * a.B * a.H < (int64_t(1) << 22)) v = 0;  // small: not worth timing
        // Never time inside a CUDA-graph capture (events and a sync cannot be captured): schedule 0
        // is recorded, and the shape is tuned at its first use outside capture.
        if (v < 0 && stream_capturing(s)) v = 0;
        if (v < 0) {
          // Time each schedule on this call's own buffers (each writes the same output) and keep
          // the fastest. Runs once per shape; synchronises the stream.
          cudaEvent_t e0, e1;
          check_cuda(cudaEventCreate(&e0), "attention tuning");
          check_cuda(cudaEventCreate(&e1), "attention tuning");
          float best = 0.f;
          for (int c = 0; c < kVariants; c++) {
            if (!launch_fast_dn<T>(dn, c, p, a.B, a.H, s)) break;  // warm-up (and the fast-dn check)
            check_cuda(cudaEventRecord(e0, s), "attention tuning");
            for (int r = 0; r < 3; r++) launch_fast_dn<T>(dn, c, p, a.B, a.H, s);
            check_cuda(cudaEventRecord(e1, s), "attention tuning");
            check_cuda(cudaEventSynchronize(e1), "attention tuning");
            float ms = 0.f;
            check_cuda(cudaEventElapsedTime(&ms, e0, e1), "attention tuning");
            if (v < 0 || ms < best) best = ms, v = c;
          }
          cudaEventDestroy(e0);
          cudaEventDestroy(e1);
          if (v < 0) v = 0;
          std::lock_guard<std::mutex> lock(g_tune_mutex);
          g_tuned[key] = v;
          if (env_flag("PIXART_CUDA_VERBOSE", false))
            std::fprintf(stderr, "pixart cuda: attention B*H=%lld Lq=%lld Lk=%lld D=%lld -> schedule %d (%.3f ms)\n",
                         (long long)(a.B * a.H), (long long)a.Lq, (long long)a.Lk, (long long)a.D, v, best / 3);
          // The chosen schedule writes the output once more, so every call's result comes from it.
        }
      }
      if (launch_fast_dn<T>(dn, v, p, a.B, a.H, s)) return;
    }
    launch_general<T>(dn, p, a.B, a.H, s);
  };
  if (dt == DT::kF16) go(TypeTag<__half>{});
  else if (dt == DT::kBF16) go(TypeTag<__nv_bfloat16>{});
  else fail(StatusCode::kInternal, "flash_attention_mma: f16/bf16 only");
}

}  // namespace pixart::cuda
