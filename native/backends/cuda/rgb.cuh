// A decoded image to 8-bit on the device: diffusers' postprocess to 'pil' in float32 (the
// formula of core/rgb8.h), NCHW in the compute dtype -> NHWC bytes, with the NaN/Inf scan in the
// same pass. Backs CudaBackend::to_host_rgb8.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda_types.h"

namespace pixart::cuda {

// x [B, C, HW] (dtype dt) -> out [B, HW, C] uint8 (device memory):
//   v = clamp(float(x) / 2 + 0.5, 0, 1), out = round_half_even(v * 255), NaN -> 0.
// *flag (device memory, zeroed by the caller) becomes 1 if any element of x is NaN or +-Inf.
void launch_rgb8(DT dt, const void* x, int64_t B, int64_t C, int64_t HW, uint8_t* out, int* flag, cudaStream_t s);

}  // namespace pixart::cuda
