#include "trt_library.h"

#include <dlfcn.h>

#include <mutex>
#include <vector>

#include "../../core/status.h"
// Only for NV_TENSORRT_MAJOR/MINOR/PATCH; nothing from libnvinfer is referenced at link time.
#include "NvInferVersion.h"

namespace pixart::trt {
namespace {

std::string version_text(int32_t v) {
  return std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." + std::to_string(v % 100);
}

// The sonames to try, the headers' major first; 10 and 11 share the ABI shape used here
// (the *_INTERNAL factories and the interface classes), but a library of another major than the
// headers is refused below: TensorRT's interface classes change between majors.
std::vector<int> majors() {
  std::vector<int> m = {NV_TENSORRT_MAJOR};
  for (int other : {11, 10})
    if (other != NV_TENSORRT_MAJOR) m.push_back(other);
  return m;
}

std::string dl_error() {
  const char* e = dlerror();
  return e ? e : "unknown error";
}

TrtLibrary load() {
  TrtLibrary lib;
  void* nvinfer = nullptr;
  int major = 0;
  std::string tried;
  for (int m : majors()) {
    const std::string name = "libnvinfer.so." + std::to_string(m);
    nvinfer = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (nvinfer) {
      lib.nvinfer = name;
      major = m;
      break;
    }
    tried += "\n  " + dl_error();
  }
  const std::string install = "install TensorRT " + std::to_string(NV_TENSORRT_MAJOR) +
                              " (NVIDIA's tar or deb packages, or pip's tensorrt wheels) and put its lib folder on "
                              "LD_LIBRARY_PATH";
  if (!nvinfer) fail(StatusCode::kUnsupported, "TensorRT is not installed (cannot load libnvinfer):" + tried + "\n" + install);
  auto sym = [&](void* handle, const char* name, const std::string& file) {
    dlerror();
    void* p = dlsym(handle, name);
    if (!p) fail(StatusCode::kUnsupported, file + " has no " + name + " (" + dl_error() + "); " + install);
    return p;
  };
  auto version_fn = reinterpret_cast<int32_t (*)()>(sym(nvinfer, "getInferLibVersion", lib.nvinfer));
  lib.version = version_fn();
  if (lib.version / 10000 != NV_TENSORRT_MAJOR) {
    fail(StatusCode::kUnsupported, lib.nvinfer + " is TensorRT " + lib.version_string() +
                                       "; this backend was compiled against TensorRT " + trt_header_version() +
                                       " headers: " + install + ", or rebuild libpixart_tensorrt against the installed "
                                       "version's headers");
  }
  lib.create_builder = reinterpret_cast<void* (*)(void*, int32_t)>(sym(nvinfer, "createInferBuilder_INTERNAL", lib.nvinfer));
  lib.create_runtime = reinterpret_cast<void* (*)(void*, int32_t)>(sym(nvinfer, "createInferRuntime_INTERNAL", lib.nvinfer));
  lib.onnxparser = "libnvonnxparser.so." + std::to_string(major);
  void* parser = dlopen(lib.onnxparser.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!parser) {
    fail(StatusCode::kUnsupported, "TensorRT's ONNX parser is not installed (" + dl_error() + "); " + install);
  }
  lib.create_parser = reinterpret_cast<void* (*)(void*, void*, int)>(sym(parser, "createNvOnnxParser_INTERNAL", lib.onnxparser));
  // The handles stay open for the life of the process: engines and contexts hold code from them.
  return lib;
}

}  // namespace

std::string TrtLibrary::version_string() const { return version_text(version); }

std::string trt_header_version() {
  return std::to_string(NV_TENSORRT_MAJOR) + "." + std::to_string(NV_TENSORRT_MINOR) + "." +
         std::to_string(NV_TENSORRT_PATCH);
}

const TrtLibrary& trt_library() {
  static std::once_flag once;
  static TrtLibrary lib;
  static std::string error;
  std::call_once(once, [] {
    try {
      lib = load();
    } catch (const EngineError& e) {
      error = e.what();
    }
  });
  if (!error.empty()) fail(StatusCode::kUnsupported, error);
  return lib;
}

}  // namespace pixart::trt
