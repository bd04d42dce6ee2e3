#include "backend_registry.h"

#include <dlfcn.h>

#include <filesystem>

#include "../backends/cpu/cpu_backend.h"
#include "../backends/cuda/cuda_abi.h"
#include "status.h"

namespace pixart {

namespace {
struct CudaLibrary {
  void* handle = nullptr;
  std::string path, error;
  decltype(&pixart_cuda_abi_version) abi_version = nullptr;
  decltype(&pixart_cuda_device_count) device_count = nullptr;
  decltype(&pixart_cuda_device_info) device_info = nullptr;
  decltype(&pixart_cuda_driver_version) driver_version = nullptr;
  decltype(&pixart_cuda_create_backend) create = nullptr;
  decltype(&pixart_cuda_destroy_backend) destroy = nullptr;
};

CudaLibrary load_cuda_library(const std::string& dir) {
  CudaLibrary lib;
  lib.path = (std::filesystem::path(dir) / "libpixart_cuda.so").string();
  std::error_code ec;
  if (dir.empty() || !std::filesystem::exists(lib.path, ec)) {
    lib.error = "this installation has no CUDA backend library (" + lib.path +
                "); install a CUDA build of pixart-node or build from source with nvcc and cuBLAS present";
    return lib;
  }
  lib.handle = dlopen(lib.path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib.handle) {
    const char* e = dlerror();
    lib.error = std::string("the CUDA backend library could not be loaded: ") + (e ? e : "unknown error") +
                " (is the CUDA runtime / cuBLAS on the library path?)";
    return lib;
  }
  lib.abi_version = reinterpret_cast<decltype(lib.abi_version)>(dlsym(lib.handle, "pixart_cuda_abi_version"));
  lib.device_count = reinterpret_cast<decltype(lib.device_count)>(dlsym(lib.handle, "pixart_cuda_device_count"));
  lib.device_info = reinterpret_cast<decltype(lib.device_info)>(dlsym(lib.handle, "pixart_cuda_device_info"));
  lib.driver_version = reinterpret_cast<decltype(lib.driver_version)>(dlsym(lib.handle, "pixart_cuda_driver_version"));
  lib.create = reinterpret_cast<decltype(lib.create)>(dlsym(lib.handle, "pixart_cuda_create_backend"));
  lib.destroy = reinterpret_cast<decltype(lib.destroy)>(dlsym(lib.handle, "pixart_cuda_destroy_backend"));
  if (!lib.abi_version || !lib.device_count || !lib.device_info || !lib.driver_version || !lib.create || !lib.destroy) {
    lib.error = lib.path + " is not a pixart CUDA backend (missing symbols)";
  } else if (lib.abi_version() != PIXART_CUDA_ABI_VERSION) {
    lib.error = lib.path + " has ABI version " + std::to_string(lib.abi_version()) + ", expected " +
                std::to_string(PIXART_CUDA_ABI_VERSION) + "; reinstall pixart-node";
  }
  return lib;
}
}  // namespace

DeviceProbe probe_cuda(const std::string& library_dir) {
  DeviceProbe p;
  CudaLibrary lib = load_cuda_library(library_dir);
  p.library_path = lib.path;
  p.library_found = lib.handle != nullptr;
  if (!lib.error.empty()) {
    p.error = lib.error;
    return p;
  }
  char err[512] = {0};
  int n = lib.device_count(err, sizeof err);
  if (n < 0) {
    p.error = std::string("no CUDA device is usable: ") + err;
    return p;
  }
  p.device_count = n;
  if (n == 0) p.error = "no CUDA device is present on this machine";
  for (int i = 0; i < n; i++) {
    PixartCudaDeviceInfo info{};
    if (lib.device_info(i, &info, err, sizeof err) == 0) {
      p.devices += (i ? "; " : "") + std::to_string(i) + ": " + info.name + " (sm_" + std::to_string(info.compute_major) +
                   std::to_string(info.compute_minor) + ", " + std::to_string(info.total_memory >> 20) + " MiB)";
    }
  }
  return p;
}

std::shared_ptr<Backend> create_backend(const BackendOptions& opts) {
  if (opts.device == "cpu") return std::make_shared<cpu::CpuBackend>(opts.threads);
  if (opts.device == "cuda" || opts.device.rfind("cuda:", 0) == 0) {
    DeviceProbe p = probe_cuda(opts.library_dir);
    if (!p.library_found && p.error.find("no CUDA backend library") != std::string::npos) {
      fail(StatusCode::kUnsupported, p.error);
    }
    if (!p.error.empty()) fail(StatusCode::kNoDevice, p.error);
    int index = 0;
    if (opts.device.size() > 5) {  // "cuda:N"
      const std::string n = opts.device.substr(5);
      if (n.empty() || n.size() > 4 || n.find_first_not_of("0123456789") != std::string::npos) {
        fail(StatusCode::kInvalidArgument, "unknown device \"" + opts.device + "\"; use \"cuda\" or \"cuda:N\"");
      }
      index = std::stoi(n);
    }
    if (index >= p.device_count) fail(StatusCode::kNoDevice, "no CUDA device " + std::to_string(index) + " (devices: " + p.devices + ")");
    const int compute = opts.dtype == "float16" ? PIXART_CUDA_F16 : opts.dtype == "bfloat16" ? PIXART_CUDA_BF16
                      : opts.dtype == "float32" ? PIXART_CUDA_F32 : -1;
    if (compute < 0) fail(StatusCode::kInvalidArgument, "dtype must be \"float16\", \"bfloat16\" or \"float32\"");
    // The library stays loaded for the life of the process (its backends may outlive any caller).
    CudaLibrary lib = load_cuda_library(opts.library_dir);
    char err[1024] = {0};
    int code = 0;
    Backend* b = lib.create(index, compute, opts.allow_tf32 ? 1 : 0, &code, err, sizeof err);
    if (!b) fail(code > 0 ? static_cast<StatusCode>(code) : StatusCode::kInternal, err);
    auto destroy = lib.destroy;
    return std::shared_ptr<Backend>(b, [destroy](Backend* x) { destroy(x); });
  }
  fail(StatusCode::kInvalidArgument, "unknown device \"" + opts.device + "\"; use \"cpu\" or \"cuda\"");
}

}  // namespace pixart
