// Multi-head attention for the CUDA backend (Backend::attention semantics):
//   q [B, Lq, H*D], k/v [B, Lk, H*D] -> o [B, Lq, H*D]
//   scores = scale * q·k + pos_bias[h, i, j] (optional) + key_bias[b, j] (optional), softmax over j.
//
// D <= 128: one fused flash-style kernel (online softmax, K/V tiles in shared memory, nothing
// of size Lq x Lk in memory). f16/bf16 run on tensor cores (mma.sync m16n8k16, fp32
// accumulation, head dim padded to a multiple of 16: 72 -> 80); f32 runs a SIMT kernel in
// full fp32. D > 128 (the VAE's mid-block attention, 512 channels, one head): GEMM (scores in
// fp32) -> softmax kernel -> GEMM through cuBLASLt, in chunks of query rows.
//
// A row whose every key is masked with -inf (possible in f16, where T5's -FLT_MAX mask
// becomes -inf) gives zeros here; the CPU backend's finite mask averages instead.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda_types.h"
#include "gemm.cuh"
#include "memory_pool.h"

namespace pixart::cuda {

struct AttentionArgs {
  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;
  void* o = nullptr;
  const void* pos_bias = nullptr;  // [H, Lq, Lk] or null
  const void* key_bias = nullptr;  // [B, Lk] or null
  int64_t B = 0, H = 0, Lq = 0, Lk = 0, D = 0;
  float scale = 1.f;
};

// Picks the fused kernel or the unfused path; force_unfused is for tests.
// variant >= 0 forces one of the fused f16/bf16 kernel's schedules (tests); -1 lets it choose.
void run_attention(DT dt, const AttentionArgs& a, Gemm& gemm, MemoryPool& pool, cudaStream_t s,
                   bool force_unfused = false, int variant = -1);

// The fused kernels (D <= 128). Defined in flash_attention_mma.cu / flash_attention_f32.cu.
// kF16 / kBF16. Without biases, for head dims 64, 72 and 128, one of flash_attention_variants()
// schedules runs: `variant` if >= 0, else PIXART_CUDA_ATTENTION_VARIANT, else the fastest for
// the shape, timed on its first call.
void flash_attention_mma(DT dt, const AttentionArgs& a, cudaStream_t s, int variant = -1);
int flash_attention_variants();
void flash_attention_f32(const AttentionArgs& a, cudaStream_t s);

}  // namespace pixart::cuda
