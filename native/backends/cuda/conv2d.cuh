// 2-D convolution (NCHW, weight [O, C, kh, kw], zero padding per side, stride) as im2col +
// cuBLASLt GEMM, in chunks of output rows so the column buffer stays bounded (the VAE's last
// blocks run at 1024x1024). 1x1 stride-1 unpadded convolutions are a GEMM on x directly.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda_types.h"
#include "gemm.cuh"
#include "memory_pool.h"

namespace pixart::cuda {

struct ConvArgs {
  const void* x = nullptr;
  const void* w = nullptr;
  const void* bias = nullptr;  // [O] or null
  void* y = nullptr;
  int64_t B = 0, C = 0, H = 0, W = 0, O = 0, kh = 0, kw = 0, Ho = 0, Wo = 0;
  int stride = 1, pad_top = 0, pad_left = 0;
};

void run_conv2d(DT dt, const ConvArgs& a, Gemm& gemm, MemoryPool& pool, cudaStream_t s);

}  // namespace pixart::cuda
