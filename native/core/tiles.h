// Tiled decoding's two data movements (AutoencoderKL::decode_tiled, diffusers' tiled_decode) as
// backend ops, so a GPU backend keeps the tiles on the device: cropping a latent tile out of the
// latents, and diffusers' blending of the decoded tiles followed by their assembly.
//
//   crop(x, top, left, h, w):  x [B, C, H, W] -> x[:, :, top:top+h, left:left+w]
//   blend_tiles(rows, blend, limit): rows[i][j] [B, O, H_ij, W_ij], a row-major grid. In
//     diffusers' order, each tile is blended with the (already blended) tile above over its top
//     e = min(H_above, H, blend) rows, then with the one to its left over its first
//     e = min(W_left, W, blend) columns: t[k] = a[end - e + k] * float(1 - k/e) + t[k] * float(k/e),
//     the weights from Python floats rounded to float32, two float32 products and a sum (no FMA).
//     The output [B, O, sum of row heights, sum of column widths] takes each tile's top-left
//     min(limit, H) x min(limit, W) block.
//
// The defaults here run on the host (to_host / from_host, in float32): the reference, and what
// the CPU backend uses. The CUDA backend blends in its compute dtype on the device (in float32
// mode the same bits as here).
#pragma once
#include <cstdint>
#include <vector>

#include "tensor.h"

namespace pixart {

class Backend;

// The blend of one element: a (the neighbour's value) and t (this tile's) at offset k of e.
inline float tile_blend(float a, float t, int64_t k, int64_t e) {
  const double r = double(k) / double(e);
  const volatile float wa = float(1.0 - r), wb = float(r);  // volatile: no contraction into an FMA
  const volatile float pa = a * wa, pb = t * wb;
  return pa + pb;
}

// The arguments are checked by OpChecks::crop / blend_tiles (core/op_checks.h), like every op's.
Tensor default_crop(Backend& be, const Tensor& x, int64_t top, int64_t left, int64_t h, int64_t w);
Tensor default_blend_tiles(Backend& be, const std::vector<std::vector<Tensor>>& rows, int64_t blend, int64_t limit);

}  // namespace pixart
