// Plain C++ enums shared by the CUDA backend's host code and kernels (no CUDA headers here,
// so cuda_backend.h stays includable from host-only translation units).
#pragma once
#include <cstddef>

namespace pixart::cuda {

// The dtype every tensor of one backend holds (the backend's compute dtype).
enum class DT { kF32 = 0, kF16 = 1, kBF16 = 2 };
inline size_t dt_size(DT d) { return d == DT::kF32 ? 4 : 2; }
inline const char* dt_name(DT d) { return d == DT::kF32 ? "f32" : d == DT::kF16 ? "f16" : "bf16"; }

// Activations as the kernels see them (values match pixart::Activation).
enum class Act { kNone = 0, kGeluTanh = 1, kGelu = 2, kSilu = 3, kRelu = 4 };

}  // namespace pixart::cuda
