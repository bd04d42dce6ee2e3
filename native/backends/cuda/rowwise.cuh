// Vectorised fast paths for row-wise ops (rowwise.cu). Each returns false, having launched
// nothing, when the shape or alignment does not qualify (width not a multiple of 8, width over
// 4096, unaligned pointers); the caller then launches the general kernel.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda_types.h"

namespace pixart::cuda {

// y = LN(x) [* w + b] [* (1 + mod[b, scale_idx]) + mod[b, shift_idx]] over rows of width D;
// mod [B, M, D] with `tokens` rows of x per batch entry, or nullptr for a plain layer norm.
bool launch_layer_norm_modulate_fast(DT dt, const void* x, const void* w, const void* b, const void* mod, void* y,
                                     int64_t rows, int64_t D, int64_t tokens, int64_t M, int shift_idx, int scale_idx,
                                     float eps, cudaStream_t s);
// gate_idx >= 0: out = x + mod[b, gate_idx] * y; gate_idx < 0: out = x * (1 + mod[b, scale_idx]) + mod[b, shift_idx].
// x, y, out [B, N, D], mod [B, M, D].
bool launch_mod_vec_fast(DT dt, const void* x, const void* y, const void* mod, void* out, int64_t B, int64_t N,
                         int64_t D, int64_t M, int gate_idx, int shift_idx, int scale_idx, cudaStream_t s);

}  // namespace pixart::cuda
