#include "cuda_common.cuh"

namespace pixart::cuda {

void throw_cuda(cudaError_t e, const std::string& what) {
  StatusCode code = StatusCode::kInternal;
  if (e == cudaErrorMemoryAllocation) code = StatusCode::kOutOfMemory;
  else if (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver || e == cudaErrorInvalidDevice)
    code = StatusCode::kNoDevice;
  if (e == cudaErrorMemoryAllocation) cudaGetLastError();  // not sticky: leave the runtime clean
  fail(code, "cuda backend: " + what + ": " + cudaGetErrorString(e) + " (" + cudaGetErrorName(e) + ")");
}

}  // namespace pixart::cuda
