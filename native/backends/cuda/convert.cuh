// Dtype conversion on the device (host float32 <-> compute dtype, checkpoint F32/F16/BF16 ->
// compute dtype) and the NaN/Inf scan.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda_types.h"

namespace pixart::cuda {

// out[i] = (dst) in[i] for n elements; src == dst is a device copy.
void launch_convert(DT src, const void* in, DT dst, void* out, int64_t n, cudaStream_t s);
// *flag (device memory, zeroed by the caller) becomes 1 if any of x's n elements is NaN or +-Inf.
void launch_non_finite(DT dt, const void* x, int64_t n, int* flag, cudaStream_t s);

}  // namespace pixart::cuda
