// Flash attention in full fp32 (compute dtype kF32; the reference-accuracy path, no tensor
// cores). One CTA = 4 warps = 32 query rows of one (batch, head), 8 rows per warp; key tiles
// of 32. Lane j scores key j of the tile against the warp's 8 rows; for P·V, lane l owns head
// dims l, l+32, l+64, l+96. Online softmax with the running sum kept per lane and reduced once
// at the end.
#include <cstdint>

#include "attention.cuh"
#include "cuda_common.cuh"

namespace pixart::cuda {

namespace {

constexpr int kRows = 32;  // query rows per CTA
constexpr int kKeys = 32;  // keys per tile
constexpr int kWarps = 4;
constexpr int kRowsPerWarp = kRows / kWarps;
constexpr int kCta = kWarps * 32;

template <int DC>  // head dim padded to DC * 32
__global__ void __launch_bounds__(kCta) flash_f32_kernel(const float* __restrict__ q, const float* __restrict__ k,
                                                         const float* __restrict__ v, float* __restrict__ o,
                                                         const float* __restrict__ pos_bias,
                                                         const float* __restrict__ key_bias, int64_t Lq, int64_t Lk,
                                                         int64_t ld, int D, float scale) {
  constexpr int DP = DC * 32;
  extern __shared__ __align__(16) float sm[];
  float* Qs = sm;                        // [kRows][DP]       (broadcast reads)
  float* Ks = Qs + kRows * DP;           // [kKeys][DP + 1]   (lane j reads row j: conflict-free)
  float* Vs = Ks + kKeys * (DP + 1);     // [kKeys][DP]
  float* Ps = Vs + kKeys * DP;           // [kWarps][kRowsPerWarp][kKeys]

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t m0 = int64_t(blockIdx.x) * kRows;
  const int h = blockIdx.y;
  const int64_t b = blockIdx.z;
  const float* qg = q + (b * Lq + m0) * ld + int64_t(h) * D;
  const float* kg = k + b * Lk * ld + int64_t(h) * D;
  const float* vg = v + b * Lk * ld + int64_t(h) * D;
  const int Dr = (D + 3) & ~3;  // dot products run to D rounded up to 4 (padding is zero)

  const int64_t qvalid = min(int64_t(kRows), Lq - m0);
  for (int idx = threadIdx.x; idx < kRows * DP; idx += kCta) {
    const int r = idx / DP, c = idx % DP;
    Qs[idx] = (r < qvalid && c < D) ? qg[r * ld + c] : 0.f;
  }

  float acc_o[kRowsPerWarp][DC];
  float row_m[kRowsPerWarp], row_l[kRowsPerWarp];
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; r++) {
    row_m[r] = -INFINITY;
    row_l[r] = 0.f;
#pragma unroll
    for (int i = 0; i < DC; i++) acc_o[r][i] = 0.f;
  }
  const float* qw = Qs + warp * kRowsPerWarp * DP;
  float* pw = Ps + warp * kRowsPerWarp * kKeys;

  for (int64_t k0 = 0; k0 < Lk; k0 += kKeys) {
    const int64_t kvalid = min(int64_t(kKeys), Lk - k0);
    __syncthreads();  // previous tile fully consumed (and Qs written, on the first pass)
    for (int idx = threadIdx.x; idx < kKeys * DP; idx += kCta) {
      const int r = idx / DP, c = idx % DP;
      const bool ok = r < kvalid && c < D;
      Ks[r * (DP + 1) + c] = ok ? kg[(k0 + r) * ld + c] : 0.f;
      Vs[idx] = ok ? vg[(k0 + r) * ld + c] : 0.f;
    }
    __syncthreads();

    // Scores of key (k0 + lane) against the warp's rows.
    float s[kRowsPerWarp];
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; r++) s[r] = 0.f;
    const float* kr = Ks + lane * (DP + 1);
    for (int c = 0; c < Dr; c += 4) {
      const float k0v = kr[c], k1v = kr[c + 1], k2v = kr[c + 2], k3v = kr[c + 3];
#pragma unroll
      for (int r = 0; r < kRowsPerWarp; r++) {
        const float4 qv = *reinterpret_cast<const float4*>(qw + r * DP + c);
        s[r] = fmaf(qv.x, k0v, s[r]);
        s[r] = fmaf(qv.y, k1v, s[r]);
        s[r] = fmaf(qv.z, k2v, s[r]);
        s[r] = fmaf(qv.w, k3v, s[r]);
      }
    }
    const int64_t col = k0 + lane;
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; r++) {
      const int64_t row = m0 + warp * kRowsPerWarp + r;
      float val = -INFINITY;
      if (col < Lk) {
        val = s[r] * scale;
        if (pos_bias && row < Lq) val += pos_bias[(int64_t(h) * Lq + row) * Lk + col];
        if (key_bias) val += key_bias[b * Lk + col];
      }
      float mx = val;
      for (int off = 16; off > 0; off >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
      mx = fmaxf(mx, row_m[r]);
      const float use = mx == -INFINITY ? 0.f : mx;
      const float alpha = expf(row_m[r] - use);
      row_m[r] = mx;
      const float pe = expf(val - use);
      row_l[r] = row_l[r] * alpha + pe;
#pragma unroll
      for (int i = 0; i < DC; i++) acc_o[r][i] *= alpha;
      pw[r * kKeys + lane] = pe;
    }
    __syncwarp();
    // O += P V over the tile's keys.
    for (int jj = 0; jj < kKeys; jj += 4) {
      float vv[4][DC];
#pragma unroll
      for (int u = 0; u < 4; u++)
#pragma unroll
        for (int i = 0; i < DC; i++) vv[u][i] = Vs[(jj + u) * DP + lane + 32 * i];
#pragma unroll
      for (int r = 0; r < kRowsPerWarp; r++) {
        const float4 p4 = *reinterpret_cast<const float4*>(pw + r * kKeys + jj);
#pragma unroll
        for (int i = 0; i < DC; i++) {
          float a = acc_o[r][i];
          a = fmaf(p4.x, vv[0][i], a);
          a = fmaf(p4.y, vv[1][i], a);
          a = fmaf(p4.z, vv[2][i], a);
          a = fmaf(p4.w, vv[3][i], a);
          acc_o[r][i] = a;
        }
      }
    }
    __syncwarp();  // pw is rewritten by the next tile
  }

  float* og = o + b * Lq * ld + int64_t(h) * D;
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; r++) {
    float l = row_l[r];
    for (int off = 16; off > 0; off >>= 1) l += __shfl_xor_sync(0xffffffffu, l, off);
    const int64_t row = m0 + warp * kRowsPerWarp + r;
    if (row >= Lq) continue;
    const float inv = l > 0.f ? 1.f / l : 0.f;
#pragma unroll
    for (int i = 0; i < DC; i++) {
      const int c = lane + 32 * i;
      if (c < D) og[row * ld + c] = acc_o[r][i] * inv;
    }
  }
}

template <int DC>
void launch_dc(const AttentionArgs& a, cudaStream_t s) {
  constexpr int DP = DC * 32;
  const size_t smem = (size_t(kRows) * DP + size_t(kKeys) * (DP + 1) + size_t(kKeys) * DP + kRows * kKeys) * sizeof(float);
  auto kernel = flash_f32_kernel<DC>;
  set_max_dynamic_smem(reinterpret_cast<const void*>(kernel), smem, "attention shared memory");
  const dim3 grid(unsigned((a.Lq + kRows - 1) / kRows), unsigned(a.H), unsigned(a.B));
  kernel<<<grid, kCta, smem, s>>>(static_cast<const float*>(a.q), static_cast<const float*>(a.k),
                                  static_cast<const float*>(a.v), static_cast<float*>(a.o),
                                  static_cast<const float*>(a.pos_bias), static_cast<const float*>(a.key_bias), a.Lq,
                                  a.Lk, a.H * a.D, int(a.D), a.scale);
  check_launch("attention (f32)");
}

}  // namespace

void flash_attention_f32(const AttentionArgs& a, cudaStream_t s) {
  if (a.D < 1 || a.D > 128) fail(StatusCode::kInternal, "flash attention: head dim out of range");
  if (a.H > 65535 || a.B > 65535) fail(StatusCode::kUnsupported, "attention: more than 65535 heads or batch entries");
  switch ((a.D + 31) / 32) {
    case 1: launch_dc<1>(a, s); break;
    case 2: launch_dc<2>(a, s); break;
    case 3: launch_dc<3>(a, s); break;
    default: launch_dc<4>(a, s); break;
  }
}

}  // namespace pixart::cuda
