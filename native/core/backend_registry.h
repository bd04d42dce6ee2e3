// Finding a backend for a device name. The CPU backend is built in; GPU backends are shared
// libraries next to the addon, loaded on first use (as onnxruntime loads its providers), so
// one package works on machines with and without CUDA.
#pragma once
#include <memory>
#include <string>

#include "backend.h"

namespace pixart {

struct BackendOptions {
  std::string device = "cpu";  // "cpu" | "cuda" | "cuda:N"
  int threads = 0;             // CPU threads; 0 = all hardware threads
  std::string dtype = "float16";  // GPU compute dtype: "float16" | "bfloat16" | "float32"
  bool allow_tf32 = false;        // GPU float32 mode: allow TF32 tensor-core GEMMs
  std::string library_dir;     // where GPU backend libraries live (the addon's folder)
};

// Throws kNoDevice / kUnsupported / kInvalidArgument with a message that says what to do.
std::shared_ptr<Backend> create_backend(const BackendOptions& opts);

// What a GPU backend library reports about this machine, without creating a backend.
struct DeviceProbe {
  bool library_found = false;
  std::string library_path;
  std::string error;  // why the library could not be loaded or no device is usable
  int device_count = 0;
  std::string devices;  // human-readable list
};
DeviceProbe probe_cuda(const std::string& library_dir);

}  // namespace pixart
