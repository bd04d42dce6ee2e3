// Batched 2-D transposes of 2-byte elements (f16 / bf16, pure data movement) for the NHWC
// convolution path of cudnn_conv.cu: NCHW x -> NHWC (a band of rows at a time, with zero rows
// where the band reaches past the image), OIHW weight -> OHWI, NHWC y -> NCHW.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace pixart::cuda {

// For b < B, r < R, c < C (strides in elements):
//   out[b * out_bs + c * out_ld + r] = in[b * in_bs + r * in_ld + in_col0 + c]
//                                      if 0 <= in_col0 + c < in_col_end, else 0.
// in and out must not overlap. Returns the launch's error (cudaSuccess, or what
// cudaGetLastError reported); never throws.
struct Transpose2Args {
  const void* in = nullptr;
  void* out = nullptr;
  int64_t B = 1, R = 0, C = 0;
  int64_t in_bs = 0, in_ld = 0, in_col0 = 0, in_col_end = 0;
  int64_t out_bs = 0, out_ld = 0;
};
cudaError_t launch_transpose_2byte(const Transpose2Args& a, cudaStream_t s);

}  // namespace pixart::cuda
