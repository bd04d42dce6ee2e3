// Elementwise kernels of the CUDA backend: broadcast add/mul, scale, activations, gated GELU,
// adaLN modulate / gated residual, and the epilogues that the GEMM paths apply when cuBLASLt
// cannot fuse them. All read and write the compute dtype and compute in float32.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda_types.h"

namespace pixart::cuda {

// y[i] = a[i] (+|*) b[i % nb]   (b broadcasts over a's leading dims)
void launch_add(DT dt, const void* a, const void* b, void* y, int64_t n, int64_t nb, cudaStream_t s);
void launch_mul(DT dt, const void* a, const void* b, void* y, int64_t n, int64_t nb, cudaStream_t s);
// y[b, m, :] = x[b, :] + table[m, :]   (x [B, D], table [M, D]; Backend::add_rows without its host-built gather)
void launch_add_rows(DT dt, const void* x, const void* table, void* y, int64_t B, int64_t M, int64_t D, cudaStream_t s);
void launch_scale(DT dt, const void* a, float k, void* y, int64_t n, cudaStream_t s);
void launch_activation(DT dt, const void* x, void* y, int64_t n, Act act, cudaStream_t s);
// y = gelu_tanh(gate) * up
void launch_gated_gelu(DT dt, const void* gate, const void* up, void* y, int64_t n, cudaStream_t s);
// x, y [B, N, D], mod [B, M, D]: y = x * (1 + mod[b, scale_idx]) + mod[b, shift_idx]
void launch_modulate(DT dt, const void* x, const void* mod, void* y, int64_t B, int64_t N, int64_t D, int64_t M,
                     int shift_idx, int scale_idx, cudaStream_t s);
// out = x + mod[b, gate_idx] * y
void launch_gated_residual(DT dt, const void* x, const void* y, const void* mod, void* out, int64_t B, int64_t N,
                           int64_t D, int64_t M, int gate_idx, cudaStream_t s);
// In place on y [rows, N]: y = act(y + bias[j]) + res   (bias, res may be null)
void launch_bias_act_residual(DT dt, void* y, const void* bias, const void* res, int64_t rows, int64_t N, Act act,
                              cudaStream_t s);
// In place on y [B, C, HW]: y += bias[c]
void launch_channel_bias(DT dt, void* y, const void* bias, int64_t B, int64_t C, int64_t HW, cudaStream_t s);

}  // namespace pixart::cuda
