// Normalisation kernels: T5's RMS norm and LayerNorm over the last dim (one block per row),
// GroupNorm over NCHW with an optional fused SiLU (partial statistics per chunk, combined in
// double, then one elementwise pass). Statistics are accumulated in float32 or better.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda_types.h"
#include "memory_pool.h"

namespace pixart::cuda {

// y = x * rsqrt(mean(x^2) + eps) * w over rows of D
void launch_rms_norm(DT dt, const void* x, const void* w, void* y, int64_t rows, int64_t D, float eps, cudaStream_t s);
// y = (x - mean) * rsqrt(var + eps) [* w] [+ b]
void launch_layer_norm(DT dt, const void* x, const void* w, const void* b, void* y, int64_t rows, int64_t D, float eps,
                       cudaStream_t s);
// x [B, C, HW] -> y, groups over C; weight/bias [C]; optional SiLU. Scratch from `pool`.
void launch_group_norm(DT dt, const void* x, const void* w, const void* b, void* y, int64_t B, int64_t C, int64_t HW,
                       int groups, float eps, bool silu, MemoryPool& pool, cudaStream_t s);

}  // namespace pixart::cuda
