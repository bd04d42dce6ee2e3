// TensorRT loaded at run time: libnvinfer and libnvonnxparser are dlopen'ed on first use, never
// linked, so libpixart_tensorrt.so loads (and reports a clear error) on machines without
// TensorRT, and builds on machines that only have its headers.
//
// Only the four C entry points the headers' inline factories call are resolved:
// createInferBuilder_INTERNAL, createInferRuntime_INTERNAL (libnvinfer), createNvOnnxParser_INTERNAL
// (libnvonnxparser) and getInferLibVersion. Everything else is reached through the C++
// interfaces those return, which is how TensorRT's own headers work.
#pragma once
#include <cstdint>
#include <string>

namespace pixart::trt {

struct TrtLibrary {
  void* (*create_builder)(void* logger, int32_t version) = nullptr;
  void* (*create_runtime)(void* logger, int32_t version) = nullptr;
  void* (*create_parser)(void* network, void* logger, int version) = nullptr;
  int32_t version = 0;     // getInferLibVersion(): (major * 100 + minor) * 100 + patch
  std::string nvinfer;     // the file names that loaded, e.g. "libnvinfer.so.11"
  std::string onnxparser;
  std::string version_string() const;  // "11.1.0"
};

// The process's TensorRT, loaded once (thread-safe). Tries libnvinfer.so.<major of the headers
// this was compiled with> and then the other supported major (11, 10) so the error can say what
// was found. Throws EngineError(kUnsupported) when TensorRT is not installed, its ONNX parser is
// missing, or the library's major version differs from the headers'; the failure is remembered
// and reported again on later calls.
const TrtLibrary& trt_library();

// The headers' version as "11.1.0" (what this library was compiled against).
std::string trt_header_version();

}  // namespace pixart::trt
