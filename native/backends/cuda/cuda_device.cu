// Device discovery for the CUDA backend library (libpixart_cuda.so): the part of the C ABI
// in cuda_abi.h that the addon calls before creating anything, so a machine without a
// driver gets a clear "no CUDA device" instead of a crash.
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstdio>
#include <cstring>

#include "cuda_abi.h"

namespace {
void put(char* err, size_t len, const char* what, cudaError_t e) {
  if (err && len) std::snprintf(err, len, "%s: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
}
}  // namespace

extern "C" {

__attribute__((visibility("default"))) int pixart_cuda_abi_version(void) { return PIXART_CUDA_ABI_VERSION; }

__attribute__((visibility("default"))) int pixart_cuda_driver_version(void) {
  int v = 0;
  return cudaDriverGetVersion(&v) == cudaSuccess && v > 0 ? v : -1;
}

__attribute__((visibility("default"))) int pixart_cuda_device_memory(int index, size_t* free_bytes, size_t* total_bytes) {
  int prev = -1;
  if (cudaGetDevice(&prev) != cudaSuccess) {
    cudaGetLastError();
    return -1;
  }
  size_t f = 0, t = 0;
  const bool ok = cudaSetDevice(index) == cudaSuccess && cudaMemGetInfo(&f, &t) == cudaSuccess;
  cudaSetDevice(prev);
  cudaGetLastError();
  if (!ok) return -1;
  if (free_bytes) *free_bytes = f;
  if (total_bytes) *total_bytes = t;
  return 0;
}

__attribute__((visibility("default"))) int pixart_cuda_device_count(char* err, size_t err_len) {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    int driver = 0;
    cudaDriverGetVersion(&driver);
    if (driver == 0 && err && err_len) {
      // cudart reports a missing libcuda as "insufficient driver"; say what it means.
      std::snprintf(err, err_len, "no NVIDIA driver is installed (libcuda.so.1 not found), so no GPU can be used (%s)",
                    cudaGetErrorName(e));
    } else {
      put(err, err_len, "cudaGetDeviceCount failed", e);
    }
    return -1;
  }
  int runtime = 0, driver = 0;
  cudaRuntimeGetVersion(&runtime);
  cudaDriverGetVersion(&driver);
  if (driver < runtime && err && err_len) {
    std::snprintf(err, err_len, "the CUDA driver (%d) is older than the runtime this library was built with (%d); update the driver", driver, runtime);
    return -1;
  }
  return n;
}

__attribute__((visibility("default"))) int pixart_cuda_device_info(int index, PixartCudaDeviceInfo* info, char* err,
                                                                     size_t err_len) {
  if (!info) return -1;
  cudaDeviceProp p{};
  cudaError_t e = cudaGetDeviceProperties(&p, index);
  if (e != cudaSuccess) {
    put(err, err_len, "cudaGetDeviceProperties failed", e);
    return -1;
  }
  std::snprintf(info->name, sizeof info->name, "%s (cuBLASLt %zu)", p.name, cublasLtGetVersion());
  info->compute_major = p.major;
  info->compute_minor = p.minor;
  info->total_memory = p.totalGlobalMem;
  return 0;
}

}  // extern "C"
