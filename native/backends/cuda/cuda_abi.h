// The C interface of the CUDA backend library (libpixart_cuda.so). Kept tiny and versioned
// so the addon and a separately built library can check they agree before anything else.
//
// Version 2 adds the backend factory. Its functions pass C++ types (pixart::Backend,
// pixart::Tensor): the addon and the library are built from the same headers by the same
// compiler, and the version number guards that. Nothing here throws: failures come back as a
// status code (a pixart::StatusCode value) and a message. pixart_cuda_stream and
// pixart_cuda_device came later without a bump: they only add symbols, so a caller resolves them
// with dlsym and treats a missing one as an older library. Version 3: pixart::Backend gained the
// virtual to_host_rgb8, which changes the vtable the addon calls through. Version 4: the float32
// state ops (state_from_host ... run_state_program), more virtuals. Version 5: crop / blend_tiles,
// gather_state_rows and record_step, more virtuals again (a library built in between must not
// pass the check).
#pragma once
#include <stddef.h>

#define PIXART_CUDA_ABI_VERSION 5

#ifdef __cplusplus
extern "C" {
#endif

typedef struct PixartCudaDeviceInfo {
  char name[256];
  int compute_major;
  int compute_minor;
  size_t total_memory;
} PixartCudaDeviceInfo;

// The backend's device memory pool (bytes).
typedef struct PixartCudaMemoryStats {
  size_t in_use;       // held by live tensors and scratch buffers
  size_t peak_in_use;  // high-water mark of in_use
  size_t cached;       // freed blocks kept for reuse
  size_t reserved;     // obtained from cudaMalloc: in_use + cached
  unsigned long long device_allocs;  // cudaMalloc calls so far
  unsigned long long cache_hits;     // allocations served from the cache
} PixartCudaMemoryStats;

// Returns PIXART_CUDA_ABI_VERSION.
int pixart_cuda_abi_version(void);
// Number of usable CUDA devices (>= 0), or -1 with a message in err (e.g. no driver).
int pixart_cuda_device_count(char* err, size_t err_len);
// Fills info for device `index`; returns 0 on success, -1 with a message in err.
int pixart_cuda_device_info(int index, PixartCudaDeviceInfo* info, char* err, size_t err_len);
// CUDA driver version as reported by the driver (e.g. 13000), or -1 if no driver.
int pixart_cuda_driver_version(void);
// Free and total memory of device `index` as the driver reports it (every process and context
// counted); 0 on success, -1 on error.
int pixart_cuda_device_memory(int index, size_t* free_bytes, size_t* total_bytes);

#ifdef __cplusplus
}  // extern "C"

namespace pixart {
class Backend;
struct Tensor;
}  // namespace pixart

extern "C" {
// Compute dtypes for pixart_cuda_create_backend.
enum { PIXART_CUDA_F32 = 0, PIXART_CUDA_F16 = 1, PIXART_CUDA_BF16 = 2 };

// A CUDA backend on `device` computing in `compute` (PIXART_CUDA_*); allow_tf32 != 0 lets f32
// GEMMs use TF32. Returns nullptr on failure with *status_code (if given) set to the
// pixart::StatusCode (kNoDevice, kUnsupported, kOutOfMemory, kInvalidArgument, kInternal) and
// the reason in err. Free it with pixart_cuda_destroy_backend (never with delete from another
// module); tensors it made may outlive it.
pixart::Backend* pixart_cuda_create_backend(int device, int compute, int allow_tf32, int* status_code, char* err,
                                            size_t err_len);
void pixart_cuda_destroy_backend(pixart::Backend* backend);
// 1 if t (a tensor of this backend) holds NaN or +-Inf, 0 if not, -1 on error (status/err set).
int pixart_cuda_has_non_finite(pixart::Backend* backend, const pixart::Tensor* t, int* status_code, char* err,
                               size_t err_len);
// 0 on success, -1 if backend is not a CUDA backend.
int pixart_cuda_memory_stats(pixart::Backend* backend, PixartCudaMemoryStats* out);
// Returns the pool's cached blocks to the device (waits for the stream). 0 on success, -1 on error.
int pixart_cuda_empty_cache(pixart::Backend* backend, int* status_code, char* err, size_t err_len);
// Waits for all work enqueued on the backend's stream. 0 on success, -1 on error (status/err set).
int pixart_cuda_synchronize(pixart::Backend* backend, int* status_code, char* err, size_t err_len);
// The backend's cudaStream_t, where all its work is enqueued, so another library (the TensorRT
// backend) can enqueue on the same stream and buffers; nullptr if backend is not a CUDA backend.
// Valid as long as the backend.
void* pixart_cuda_stream(pixart::Backend* backend);
// The CUDA device ordinal the backend runs on, or -1 if backend is not a CUDA backend.
int pixart_cuda_device(pixart::Backend* backend);
}  // extern "C"
#endif
