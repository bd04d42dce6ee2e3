// The C interface of the CUDA backend library (libpixart_cuda.so). Kept tiny and versioned
// so the addon and a separately built library can check they agree before anything else.
#pragma once
#include <stddef.h>

#define PIXART_CUDA_ABI_VERSION 1

#ifdef __cplusplus
extern "C" {
#endif

typedef struct PixartCudaDeviceInfo {
  char name[256];
  int compute_major;
  int compute_minor;
  size_t total_memory;
} PixartCudaDeviceInfo;

// Returns PIXART_CUDA_ABI_VERSION.
int pixart_cuda_abi_version(void);
// Number of usable CUDA devices (>= 0), or -1 with a message in err (e.g. no driver).
int pixart_cuda_device_count(char* err, size_t err_len);
// Fills info for device `index`; returns 0 on success, -1 with a message in err.
int pixart_cuda_device_info(int index, PixartCudaDeviceInfo* info, char* err, size_t err_len);
// CUDA driver version as reported by the driver (e.g. 13000), or -1 if no driver.
int pixart_cuda_driver_version(void);

#ifdef __cplusplus
}
#endif
