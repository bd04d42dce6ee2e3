// Tiled decoding on the device (core/tiles.h): a window copy (crop a latent tile, place a decoded
// tile's block in the output, clone a tile) and diffusers' edge blend of two neighbouring tiles.
// Back CudaBackend::crop and CudaBackend::blend_tiles.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda_types.h"

namespace pixart::cuda {

// For each of `planes` planes: dst[p, dy + y, dx + x] = src[p, sy + y, sx + x], y < h, x < w;
// src planes are [sh, sw], dst planes [dh, dw].
void launch_copy_window(DT dt, const void* src, int64_t sh, int64_t sw, int64_t sy, int64_t sx, void* dst, int64_t dh,
                        int64_t dw, int64_t dy, int64_t dx, int64_t planes, int64_t h, int64_t w, cudaStream_t s);

// In place on t (planes [th, tw]) with its neighbour a (planes [ah, aw]) over e rows (vertical:
// a above t, t[y] with a[ah - e + y]) or e columns (a left of t, t[.., x] with a[.., aw - e + x]):
// t = a * float(1 - k/e) + t * float(k/e), computed in float32 and stored in the dtype.
void launch_blend_edge(DT dt, const void* a, int64_t ah, int64_t aw, void* t, int64_t th, int64_t tw, int64_t planes,
                       int64_t e, bool vertical, cudaStream_t s);

}  // namespace pixart::cuda
