// Layout kernels: nearest 2x upsampling, NCHW <-> NLC (a batched 2-D transpose), PixArt's
// patchify / unpatchify, and the embedding row gather. Pure data movement in the compute dtype.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda_types.h"

namespace pixart::cuda {

// [BC, H, W] -> [BC, 2H, 2W]
void launch_upsample_nearest2x(DT dt, const void* x, void* y, int64_t BC, int64_t H, int64_t W, cudaStream_t s);
// in [B, R, C] -> out [B, C, R]  (nchw_to_nlc: R = channels, C = H*W; nlc_to_nchw: the reverse)
void launch_transpose(DT dt, const void* in, void* out, int64_t B, int64_t R, int64_t C, cudaStream_t s);
// [B, C, H, W] -> [B, (H/p)*(W/p), C*p*p], each token laid out (C, p, p)
void launch_patchify(DT dt, const void* x, void* y, int64_t B, int64_t C, int64_t H, int64_t W, int p, cudaStream_t s);
// [B, h*w, p*p*c] with tokens laid out (p, p, c) -> [B, c, h*p, w*p]
void launch_unpatchify(DT dt, const void* x, void* y, int64_t B, int64_t h, int64_t w, int p, int c, cudaStream_t s);
// y[i, :] = table[ids[i], :] (ids on the device, already range-checked)
void launch_embedding(DT dt, const void* table, const int32_t* ids, void* y, int64_t n, int64_t D, cudaStream_t s);

}  // namespace pixart::cuda
