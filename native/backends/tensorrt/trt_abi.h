// The C interface of the TensorRT backend library (libpixart_tensorrt.so). Tiny and versioned,
// like cuda_abi.h: the addon checks pixart_trt_abi_version() before anything else.
//
// A runner is one exported model (export folder + model kind) with its engine cache. Buffers are
// device pointers the caller owns (the CUDA backend's tensors) and work is enqueued on the
// caller's stream (the CUDA backend's, from pixart_cuda_stream), so the scheduler loop, CFG and
// VAE post-processing stay in the core on the same stream. Nothing here throws: failures come
// back as a pixart::StatusCode value in *status_code and a message in err.
#pragma once
#include <stddef.h>
#include <stdint.h>

#define PIXART_TRT_ABI_VERSION 1
#define PIXART_TRT_MAX_RANK 8

#ifdef __cplusplus
extern "C" {
#endif

// Element types of PixartTrtTensor.dtype.
enum {
  PIXART_TRT_FLOAT32 = 0,
  PIXART_TRT_FLOAT16 = 1,
  PIXART_TRT_BFLOAT16 = 2,
  PIXART_TRT_INT64 = 3,
  PIXART_TRT_INT32 = 4,
  PIXART_TRT_INT8 = 5,
  PIXART_TRT_UINT8 = 6,
  PIXART_TRT_BOOL = 7
};

typedef struct PixartTrtTensor {
  const char* name;  // a model input/output name (export.json)
  int dtype;         // PIXART_TRT_*
  int rank;
  int64_t dims[PIXART_TRT_MAX_RANK];
  void* data;  // device pointer on the runner's device; unused by pixart_trt_output_shapes
} PixartTrtTensor;

typedef struct PixartTrtRunnerOptions {
  const char* export_dir;     // folder with export.json and the .onnx files
  const char* model_kind;     // "text_encoder", "transformer" or "vae_decoder"
  const char* cache_dir;      // engine cache folder (created if missing)
  const char* profiles_path;  // engines/profiles.json
  const char* recipe;         // recipe name in it, e.g. "1024"
  const char* model_label;    // NULL: "<real path of export_dir>#<model_kind>"
  int device;                 // CUDA device ordinal (the CUDA backend's, pixart_cuda_device)
  long long workspace_bytes;  // TensorRT workspace pool limit; 0 = TensorRT's default
  int optimization_level;     // builder optimisation level 0..5
  int build_missing;          // != 0: build an engine when none covers a request (else an error)
  int rebuild_corrupt;        // != 0: replace a corrupt cache entry instead of failing
  int verify_model_hashes;    // != 0: recompute the ONNX files' sha256 against export.json
} PixartTrtRunnerOptions;

typedef struct PixartTrtRunner PixartTrtRunner;

// Returns PIXART_TRT_ABI_VERSION.
int pixart_trt_abi_version(void);
// The TensorRT this process loads, as (major * 100 + minor) * 100 + patch (e.g. 110100), or -1
// with status/err set (kUnsupported: TensorRT is not installed or is another major version).
int pixart_trt_library_version(int* status_code, char* err, size_t err_len);
// Fills o with the defaults: device 0, workspace 0, optimisation level 3, build_missing 1, the rest 0/NULL.
void pixart_trt_runner_options_init(PixartTrtRunnerOptions* o);
// Reads export.json and the recipe, loads TensorRT, checks the device; builds nothing yet.
// NULL on failure (kInvalidArgument, kModelLoad, kUnsupported, kNoDevice).
PixartTrtRunner* pixart_trt_create_runner(const PixartTrtRunnerOptions* o, int* status_code, char* err, size_t err_len);
// Waits for the runner's last enqueued work, then frees its engine. Destroy runners before the
// backend whose stream they ran on. NULL is ignored.
void pixart_trt_destroy_runner(PixartTrtRunner* r);
// Loads the recipe's engine now, building and caching it if needed (minutes for a large model).
int pixart_trt_prepare(PixartTrtRunner* r, void* stream, int* status_code, char* err, size_t err_len);
// For these input shapes (names, dtypes, ranks, dims; data unused), writes the outputs' names,
// dtypes and shapes into outputs[0..capacity) and returns their number, or -1 on error. Output
// names point into the runner and stay valid until its next call. May build an engine.
int pixart_trt_output_shapes(PixartTrtRunner* r, const PixartTrtTensor* inputs, int n_inputs, PixartTrtTensor* outputs,
                             int capacity, void* stream, int* status_code, char* err, size_t err_len);
// Enqueues the model on `stream` (a cudaStream_t) reading inputs and writing outputs (every one,
// with the shapes pixart_trt_output_shapes reports). 0 once enqueued, -1 on error.
int pixart_trt_run(PixartTrtRunner* r, const PixartTrtTensor* inputs, int n_inputs, const PixartTrtTensor* outputs,
                   int n_outputs, void* stream, int* status_code, char* err, size_t err_len);
// Copies what the runner did since the last call (engines built, loaded, found stale; new
// profiles; TensorRT warnings), one event per line, into out (truncated to out_len - 1 bytes and
// NUL-terminated), clears it, and returns its full length.
size_t pixart_trt_take_log(PixartTrtRunner* r, char* out, size_t out_len);

#ifdef __cplusplus
}  // extern "C"
#endif
