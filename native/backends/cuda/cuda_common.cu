#include "cuda_common.cuh"

#include <map>
#include <mutex>
#include <utility>

namespace pixart::cuda {

void set_max_dynamic_smem(const void* kernel, size_t smem, const char* what) {
  if (smem <= 48 * 1024) return;
  int device = 0;
  check_cuda(cudaGetDevice(&device), what);
  static std::mutex mu;
  static std::map<std::pair<const void*, int>, size_t> raised;  // (kernel, device) -> the limit set
  std::lock_guard<std::mutex> lock(mu);
  size_t& limit = raised[{kernel, device}];
  if (limit >= smem) return;
  check_cuda(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)), what);
  limit = smem;
}

void throw_cuda(cudaError_t e, const std::string& what) {
  StatusCode code = StatusCode::kInternal;
  if (e == cudaErrorMemoryAllocation) code = StatusCode::kOutOfMemory;
  else if (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver || e == cudaErrorInvalidDevice)
    code = StatusCode::kNoDevice;
  // Clear the thread's last error, or the next kernel launch's check_launch() would report this
  // one again; a sticky error (a kernel fault) is reported by every later call regardless.
  cudaGetLastError();
  fail(code, "cuda backend: " + what + ": " + cudaGetErrorString(e) + " (" + cudaGetErrorName(e) + ")");
}

}  // namespace pixart::cuda
