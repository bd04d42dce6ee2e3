#include "nhwc_transpose.cuh"

#include <algorithm>

namespace pixart::cuda {

namespace {

constexpr int kTile = 64;        // a 64x64 tile: each warp row moves 64 contiguous elements (128 bytes)
constexpr int kRowsPerPass = 8;  // block 32 x 8

// One 64x64 tile per block (blockIdx.x = row tile * ctiles + column tile), batches strided over
// blockIdx.y. The shared tile's rows are 66 elements (33 words) long, so both the row-wise
// stores and the column-wise loads of a warp fall in 32 different banks.
__global__ void __launch_bounds__(32 * kRowsPerPass) transpose_2byte_kernel(Transpose2Args a, int64_t ctiles) {
  __shared__ uint16_t tile[kTile][kTile + 2];
  const uint16_t* __restrict__ in = static_cast<const uint16_t*>(a.in);
  uint16_t* __restrict__ out = static_cast<uint16_t*>(a.out);
  const int64_t r0 = (int64_t(blockIdx.x) / ctiles) * kTile, c0 = (int64_t(blockIdx.x) % ctiles) * kTile;
  const int tx = threadIdx.x, ty = threadIdx.y;
  for (int64_t b = blockIdx.y; b < a.B; b += gridDim.y) {
    const uint16_t* src = in + b * a.in_bs;
    uint16_t* dst = out + b * a.out_bs;
    for (int k = ty; k < kTile; k += kRowsPerPass) {
      const int64_t r = r0 + k;
      if (r < a.R) {
#pragma unroll
        for (int j = 0; j < kTile; j += 32) {
          const int64_t c = c0 + j + tx, q = a.in_col0 + c;
          if (c < a.C) tile[k][j + tx] = (q >= 0 && q < a.in_col_end) ? src[r * a.in_ld + q] : uint16_t(0);
        }
      }
    }
    __syncthreads();
    for (int k = ty; k < kTile; k += kRowsPerPass) {
      const int64_t c = c0 + k;
      if (c < a.C) {
#pragma unroll
        for (int j = 0; j < kTile; j += 32) {
          const int64_t r = r0 + j + tx;
          if (r < a.R) dst[c * a.out_ld + r] = tile[j + tx][k];
        }
      }
    }
    __syncthreads();  // the next batch overwrites the tile
  }
}

}  // namespace

cudaError_t launch_transpose_2byte(const Transpose2Args& a, cudaStream_t s) {
  if (a.B <= 0 || a.R <= 0 || a.C <= 0) return cudaSuccess;
  const int64_t ctiles = (a.C + kTile - 1) / kTile, tiles = ((a.R + kTile - 1) / kTile) * ctiles;
  if (tiles > 0x7fffffff) return cudaErrorInvalidValue;
  const dim3 grid(unsigned(tiles), unsigned(std::min<int64_t>(a.B, 65535)), 1u), block(32u, unsigned(kRowsPerPass), 1u);
  transpose_2byte_kernel<<<grid, block, 0, s>>>(a, ctiles);
  return cudaGetLastError();
}

}  // namespace pixart::cuda
