// The TensorRT runner: one exported model (text_encoder, transformer or vae_decoder) run as a
// TensorRT engine on the caller's CUDA stream and device buffers.
//
// What it does, per request (the input shapes):
//   1. choose a profile: the loaded engine's, a cached engine's, the recipe's (engines/profiles.json),
//      or a new one made for the request (profiles.h: select_profile), never running out of range;
//   2. get that engine: the cache's (hit), or build it from the ONNX with TensorRT's builder and
//      store it (miss; stale: TensorRT, GPU or model changed; an engine whose I/O no longer matches
//      export.json); a corrupt cache entry is an error unless rebuild_corrupt is set;
//   3. set the profile and input shapes, bind the device pointers, enqueueV3 on the stream.
// Everything around the model stays in the core: the scheduler loop, CFG and VAE
// post-processing run on the same stream and buffers (the CUDA backend's, via pixart_cuda_stream).
//
// One engine is loaded at a time per runner; switching waits for the stream the old one last ran
// on. Calls on one runner must not overlap (the addon's engine thread serialises them).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine_cache.h"
#include "profiles.h"

namespace pixart::trt {

struct RunnerOptions {
  std::string export_dir;     // holds export.json and the .onnx (+ .data) files
  std::string kind;           // text_encoder | transformer | vae_decoder
  std::string cache_dir;      // the engine cache folder
  std::string profiles_path;  // engines/profiles.json (or a copy with other recipes)
  std::string recipe;         // a recipe name in it, e.g. "1024" for PixArt-XL-2-1024-MS
  std::string model_label;    // empty: "<real path of export_dir>#<kind>"
  int device = 0;             // CUDA device ordinal
  BuildOptions build;
  bool build_missing = true;         // build an engine for a request no engine covers (else kUnsupported)
  bool rebuild_corrupt = false;      // replace a corrupt cache entry instead of failing
  bool verify_model_hashes = false;  // recompute the ONNX files' sha256 against export.json
};

// A device buffer handed to run(): the pointer stays the caller's.
struct DeviceTensor {
  std::string name;
  std::string dtype;  // canonical (export_info.h), checked against the engine
  std::vector<int64_t> shape;
  void* data = nullptr;
};

class TrtRunner {
 public:
  // Reads export.json and the recipe, loads TensorRT, checks the device. Builds nothing yet.
  // Throws kUnsupported (TensorRT not installed), kNoDevice, kModelLoad, kInvalidArgument.
  explicit TrtRunner(RunnerOptions opts);
  ~TrtRunner();
  TrtRunner(const TrtRunner&) = delete;
  TrtRunner& operator=(const TrtRunner&) = delete;

  // Loads (building if needed) the recipe's engine now, so the first request does not wait for a
  // build. `stream` is where its profile is first set.
  void prepare(void* stream);
  // The output shapes for these input shapes (selects the profile; may build an engine).
  std::vector<DeviceTensor> output_shapes(const ShapeMap& inputs, void* stream);
  // Enqueues the model on `stream` (a cudaStream_t). Every input and output of the model must be
  // given, outputs with the shapes output_shapes reports. Returns once enqueued.
  void run(const std::vector<DeviceTensor>& inputs, const std::vector<DeviceTensor>& outputs, void* stream);
  // What happened since the last call (engines built, loaded, found stale, new profiles), one
  // event per line; then cleared.
  std::string take_log();

  const ExportedModel& model() const;
  const std::string& tensorrt_version() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pixart::trt
