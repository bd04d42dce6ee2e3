// The exported C factory of libpixart_cuda.so (cuda_abi.h): creates and destroys
// CudaBackend objects and exposes the extras the engine needs beyond pixart::Backend.
#include <cstdio>
#include <exception>
#include <new>

#include "../../core/status.h"
#include "cuda_abi.h"
#include "cuda_backend.h"

#define PIXART_EXPORT __attribute__((visibility("default")))

namespace {

void report(pixart::StatusCode code, const char* msg, int* status_code, char* err, size_t err_len) {
  if (status_code) *status_code = static_cast<int>(code);
  if (err && err_len) std::snprintf(err, err_len, "%s", msg);
}

// Runs fn, turning exceptions into a status code and message; returns whether it succeeded.
template <class Fn>
bool guard(Fn&& fn, int* status_code, char* err, size_t err_len) noexcept {
  try {
    fn();
    if (status_code) *status_code = static_cast<int>(pixart::StatusCode::kOk);
    return true;
  } catch (const pixart::EngineError& e) {
    report(e.code(), e.what(), status_code, err, err_len);
  } catch (const std::bad_alloc&) {
    report(pixart::StatusCode::kOutOfMemory, "out of host memory", status_code, err, err_len);
  } catch (const std::exception& e) {
    report(pixart::StatusCode::kInternal, e.what(), status_code, err, err_len);
  } catch (...) {
    report(pixart::StatusCode::kInternal, "unknown exception in the CUDA backend", status_code, err, err_len);
  }
  return false;
}

pixart::cuda::CudaBackend* as_cuda(pixart::Backend* b) { return dynamic_cast<pixart::cuda::CudaBackend*>(b); }

}  // namespace

extern "C" {

PIXART_EXPORT pixart::Backend* pixart_cuda_create_backend(int device, int compute, int allow_tf32, int* status_code,
                                                          char* err, size_t err_len) {
  pixart::Backend* out = nullptr;
  guard(
      [&] {
        if (compute < 0 || compute > 2) {
          pixart::fail(pixart::StatusCode::kInvalidArgument,
                       "cuda backend: compute dtype must be 0 (f32), 1 (f16) or 2 (bf16), got " + std::to_string(compute));
        }
        pixart::cuda::CudaBackendOptions o;
        o.device = device;
        o.compute = static_cast<pixart::cuda::CudaBackendOptions::Compute>(compute);
        o.allow_tf32 = allow_tf32 != 0;
        out = new pixart::cuda::CudaBackend(o);
      },
      status_code, err, err_len);
  return out;
}

PIXART_EXPORT void pixart_cuda_destroy_backend(pixart::Backend* backend) { delete backend; }

PIXART_EXPORT int pixart_cuda_has_non_finite(pixart::Backend* backend, const pixart::Tensor* t, int* status_code,
                                             char* err, size_t err_len) {
  int result = -1;
  guard(
      [&] {
        auto* cb = as_cuda(backend);
        if (!cb || !t) pixart::fail(pixart::StatusCode::kInvalidArgument, "has_non_finite: not a CUDA backend tensor");
        result = cb->has_non_finite(*t) ? 1 : 0;
      },
      status_code, err, err_len);
  return result;
}

PIXART_EXPORT int pixart_cuda_memory_stats(pixart::Backend* backend, PixartCudaMemoryStats* out) {
  auto* cb = as_cuda(backend);
  if (!cb || !out) return -1;
  const pixart::cuda::PoolStats s = cb->memory_stats();
  out->in_use = s.in_use;
  out->peak_in_use = s.peak_in_use;
  out->cached = s.cached;
  out->reserved = s.reserved;
  out->device_allocs = s.device_allocs;
  out->cache_hits = s.cache_hits;
  return 0;
}

PIXART_EXPORT int pixart_cuda_empty_cache(pixart::Backend* backend, int* status_code, char* err, size_t err_len) {
  return guard(
             [&] {
               auto* cb = as_cuda(backend);
               if (!cb) pixart::fail(pixart::StatusCode::kInvalidArgument, "empty_cache: not a CUDA backend");
               cb->empty_cache();
             },
             status_code, err, err_len)
             ? 0
             : -1;
}

PIXART_EXPORT int pixart_cuda_synchronize(pixart::Backend* backend, int* status_code, char* err, size_t err_len) {
  return guard(
             [&] {
               auto* cb = as_cuda(backend);
               if (!cb) pixart::fail(pixart::StatusCode::kInvalidArgument, "synchronize: not a CUDA backend");
               cb->synchronize();
             },
             status_code, err, err_len)
             ? 0
             : -1;
}

PIXART_EXPORT void* pixart_cuda_stream(pixart::Backend* backend) {
  auto* cb = as_cuda(backend);
  return cb ? cb->stream_handle() : nullptr;
}

PIXART_EXPORT int pixart_cuda_device(pixart::Backend* backend) {
  auto* cb = as_cuda(backend);
  return cb ? cb->options().device : -1;
}

}  // extern "C"
