// Weight-only quantised linear layers on the GPU (core/quant.h's formats): quantisation at
// load time on the device, dequantisation to a dense weight (fallback), and a GEMM that reads
// the packed int8 / int4 weights directly (tensor cores, f16/bf16 activations, fp32
// accumulation; int8's per-row scale is applied in the epilogue, int4's per-group scale when
// the weights are unpacked into registers).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "../../core/quant.h"
#include "cuda_types.h"

namespace pixart::cuda {

// w [N, K] float32 on the device -> values (N * quant_row_bytes) and scales (N * quant_groups);
// the same rounding as quantize_weight on the host.
void launch_quantize(const float* w, int64_t N, int64_t K, WeightQuant q, uint8_t* values, float* scales,
                     cudaStream_t s);
// -> out [N, K] in dt (q * s, rounded to dt).
void launch_dequantize(const uint8_t* values, const float* scales, int64_t N, int64_t K, WeightQuant q, DT dt, void* out,
                       cudaStream_t s);
// y[M, N] = act(x[M, K] · dequant(W)^T + bias) + residual, for f16/bf16 with N and K multiples
// of 64 and 16-byte aligned x. Returns false (launching nothing) otherwise.
bool launch_quant_gemm(DT dt, const void* x, const uint8_t* values, const float* scales, WeightQuant q,
                       const void* bias, const void* residual, void* y, int64_t M, int64_t N, int64_t K, Act act,
                       cudaStream_t s);

}  // namespace pixart::cuda
