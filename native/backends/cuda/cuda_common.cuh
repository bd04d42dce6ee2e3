// Shared bits of the CUDA backend's kernels and launchers: the compute dtypes, float
// conversion on the device, dispatch from a run-time dtype to a template, error checks that
// throw EngineError, and grid sizing. Included by every .cu file of the backend.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "../../core/status.h"
#include "cuda_types.h"

namespace pixart::cuda {

// Throws EngineError for a failed CUDA call: kOutOfMemory for allocation failures,
// kNoDevice for a missing device/driver, kInternal otherwise. `what` names the operation.
[[noreturn]] void throw_cuda(cudaError_t e, const std::string& what);
inline void check_cuda(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw_cuda(e, what);
}
// After a kernel launch: catches bad launch configurations (and earlier asynchronous faults).
inline void check_launch(const char* what) { check_cuda(cudaGetLastError(), what); }
// Whether s is being captured into a CUDA graph (CudaBackend::record_step); an error asking counts
// as capturing (and is cleared). Work that times or synchronises (tuners) must not run then.
// An on/off environment switch: unset or empty -> dflt; "0", "false", "off" -> false; else true.
bool env_flag(const char* name, bool dflt);

inline bool stream_capturing(cudaStream_t s) {
  cudaStreamCaptureStatus cs = cudaStreamCaptureStatusNone;
  if (cudaStreamIsCapturing(s, &cs) != cudaSuccess) {
    (void)cudaGetLastError();
    return true;
  }
  return cs != cudaStreamCaptureStatusNone;
}

// A kernel's dynamic shared memory limit raised to `smem` bytes (when above the 48 KB default),
// once per kernel and device: the attribute stays set, so later launches (and CUDA-graph
// captures of them) make no attribute call. Defined in cuda_common.cu.
void set_max_dynamic_smem(const void* kernel, size_t smem, const char* what);

// --- float <-> storage type on the device ---
__device__ __forceinline__ float to_f(float v) { return v; }
__device__ __forceinline__ float to_f(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_f(__nv_bfloat16 v) { return __bfloat162float(v); }

template <class T>
__device__ __forceinline__ T from_f(float v);
template <>
__device__ __forceinline__ float from_f<float>(float v) { return v; }
template <>
__device__ __forceinline__ __half from_f<__half>(float v) { return __float2half_rn(v); }
template <>
__device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

// --- run-time dtype -> template ---
template <class T>
struct TypeTag {
  using type = T;
};
// fn(TypeTag<T>{}) with T the storage type of dt.
template <class Fn>
void dispatch(DT dt, Fn&& fn) {
  switch (dt) {
    case DT::kF32: fn(TypeTag<float>{}); return;
    case DT::kF16: fn(TypeTag<__half>{}); return;
    case DT::kBF16: fn(TypeTag<__nv_bfloat16>{}); return;
  }
}

// --- activations, the formulas of the CPU backend (simd_math.h) ---

__device__ __forceinline__ float act_gelu_tanh(float x) {
  // x * sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3)  ==  0.5 x (1 + tanh(u))
  const float u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
  return x / (1.f + expf(-2.f * u));
}
__device__ __forceinline__ float act_gelu_erf(float x) { return 0.5f * x * (1.f + erff(x * 0.70710678118654752f)); }
__device__ __forceinline__ float act_silu(float x) { return x / (1.f + expf(-x)); }
__device__ __forceinline__ float apply_act(float x, Act a) {
  switch (a) {
    case Act::kGeluTanh: return act_gelu_tanh(x);
    case Act::kGelu: return act_gelu_erf(x);
    case Act::kSilu: return act_silu(x);
    case Act::kRelu: return x < 0.f ? 0.f : x;  // NaN stays NaN, as torch's
    default: return x;
  }
}

// --- launch geometry ---
constexpr int kThreads = 256;
// Blocks for a grid-stride loop over n elements (capped; the loop covers the rest).
inline unsigned grid_for(int64_t n, int threads = kThreads) {
  const int64_t b = (n + threads - 1) / threads;
  return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>(b, int64_t(1) << 16)));
}
#define PIXART_GRID_STRIDE(i, n) \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); i += int64_t(blockDim.x) * gridDim.x)

}  // namespace pixart::cuda
