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
  if (!lib.abi_version || !lib.device_count || !lib.device_info || !lib.driver_version) {
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
    fail(StatusCode::kUnsupported,
         "CUDA device found (" + p.devices + ") but this version's CUDA backend does not run models yet; use device 'cpu'");
  }
  fail(StatusCode::kInvalidArgument, "unknown device \"" + opts.device + "\"; use \"cpu\" or \"cuda\"");
}

}  // namespace pixart
