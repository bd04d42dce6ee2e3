// The exported C functions of libpixart_tensorrt.so (trt_abi.h): argument checks, conversion
// between PixartTrtTensor and the runner's types, and exceptions turned into status codes.
#include "trt_abi.h"

#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "../../core/status.h"
#include "trt_library.h"
#include "trt_runtime.h"

#define PIXART_EXPORT __attribute__((visibility("default")))

struct PixartTrtRunner {
  pixart::trt::TrtRunner runner;
  std::vector<std::string> output_names;  // what pixart_trt_output_shapes' name pointers point at
  explicit PixartTrtRunner(pixart::trt::RunnerOptions o) : runner(std::move(o)) {}
};

namespace {

using pixart::StatusCode;

// Runs fn through the core's guarded() (every exception becomes a Status) and reports the status
// the C way; returns whether it succeeded.
template <class Fn>
bool guard(Fn&& fn, int* status_code, char* err, size_t err_len) noexcept {
  const pixart::Status s = pixart::guarded(std::forward<Fn>(fn));
  if (status_code) *status_code = static_cast<int>(s.code());
  if (!s.ok() && err && err_len) std::snprintf(err, err_len, "%s", s.message().c_str());
  return s.ok();
}

const char* const kDtypes[] = {"float32", "float16", "bfloat16", "int64", "int32", "int8", "uint8", "bool"};

std::string dtype_name(int d) {
  if (d < 0 || d >= int(sizeof kDtypes / sizeof *kDtypes)) {
    pixart::fail(StatusCode::kInvalidArgument, "TensorRT backend: unknown dtype code " + std::to_string(d));
  }
  return kDtypes[d];
}

int dtype_code(const std::string& name) {
  for (int i = 0; i < int(sizeof kDtypes / sizeof *kDtypes); i++)
    if (name == kDtypes[i]) return i;
  pixart::fail(StatusCode::kInternal, "TensorRT backend: the engine uses dtype " + name + ", which the C interface lacks");
}

std::vector<pixart::trt::DeviceTensor> to_tensors(const PixartTrtTensor* t, int n, const char* what) {
  if (n < 0 || (n > 0 && !t)) pixart::fail(StatusCode::kInvalidArgument, std::string(what) + ": no tensors given");
  std::vector<pixart::trt::DeviceTensor> out;
  for (int i = 0; i < n; i++) {
    if (!t[i].name) pixart::fail(StatusCode::kInvalidArgument, std::string(what) + " " + std::to_string(i) + " has no name");
    if (t[i].rank < 0 || t[i].rank > PIXART_TRT_MAX_RANK) {
      pixart::fail(StatusCode::kInvalidArgument, std::string(what) + " " + t[i].name + ": rank " +
                                                     std::to_string(t[i].rank) + " outside 0.." +
                                                     std::to_string(PIXART_TRT_MAX_RANK));
    }
    pixart::trt::DeviceTensor d;
    d.name = t[i].name;
    d.dtype = dtype_name(t[i].dtype);
    d.shape.assign(t[i].dims, t[i].dims + t[i].rank);
    d.data = t[i].data;
    out.push_back(std::move(d));
  }
  return out;
}

const char* str_or_empty(const char* s) { return s ? s : ""; }

}  // namespace

extern "C" {

PIXART_EXPORT int pixart_trt_abi_version(void) { return PIXART_TRT_ABI_VERSION; }

PIXART_EXPORT int pixart_trt_library_version(int* status_code, char* err, size_t err_len) {
  int v = -1;
  guard([&] { v = pixart::trt::trt_library().version; }, status_code, err, err_len);
  return v;
}

PIXART_EXPORT void pixart_trt_runner_options_init(PixartTrtRunnerOptions* o) {
  if (!o) return;
  std::memset(o, 0, sizeof *o);
  const pixart::trt::RunnerOptions defaults;
  o->device = defaults.device;
  o->workspace_bytes = defaults.build.workspace_bytes;
  o->optimization_level = defaults.build.optimization_level;
  o->build_missing = defaults.build_missing ? 1 : 0;
}

PIXART_EXPORT PixartTrtRunner* pixart_trt_create_runner(const PixartTrtRunnerOptions* o, int* status_code, char* err,
                                                        size_t err_len) {
  PixartTrtRunner* out = nullptr;
  guard(
      [&] {
        if (!o) pixart::fail(StatusCode::kInvalidArgument, "TensorRT runner: no options");
        pixart::trt::RunnerOptions r;
        r.export_dir = str_or_empty(o->export_dir);
        r.kind = str_or_empty(o->model_kind);
        r.cache_dir = str_or_empty(o->cache_dir);
        r.profiles_path = str_or_empty(o->profiles_path);
        r.recipe = str_or_empty(o->recipe);
        r.model_label = str_or_empty(o->model_label);
        r.device = o->device;
        r.build.workspace_bytes = o->workspace_bytes;
        r.build.optimization_level = o->optimization_level;
        r.build_missing = o->build_missing != 0;
        r.rebuild_corrupt = o->rebuild_corrupt != 0;
        r.verify_model_hashes = o->verify_model_hashes != 0;
        out = new PixartTrtRunner(std::move(r));
      },
      status_code, err, err_len);
  return out;
}

PIXART_EXPORT void pixart_trt_destroy_runner(PixartTrtRunner* r) { delete r; }

PIXART_EXPORT int pixart_trt_prepare(PixartTrtRunner* r, void* stream, int* status_code, char* err, size_t err_len) {
  return guard(
             [&] {
               if (!r) pixart::fail(StatusCode::kInvalidArgument, "TensorRT runner: null runner");
               r->runner.prepare(stream);
             },
             status_code, err, err_len)
             ? 0
             : -1;
}

PIXART_EXPORT int pixart_trt_output_shapes(PixartTrtRunner* r, const PixartTrtTensor* inputs, int n_inputs,
                                           PixartTrtTensor* outputs, int capacity, void* stream, int* status_code,
                                           char* err, size_t err_len) {
  int n = -1;
  guard(
      [&] {
        if (!r) pixart::fail(StatusCode::kInvalidArgument, "TensorRT runner: null runner");
        pixart::trt::ShapeMap shapes;
        for (const auto& t : to_tensors(inputs, n_inputs, "input")) shapes[t.name] = t.shape;
        const auto outs = r->runner.output_shapes(shapes, stream);
        if (int(outs.size()) > capacity || (!outputs && !outs.empty())) {
          pixart::fail(StatusCode::kInvalidArgument, "TensorRT runner: the model has " + std::to_string(outs.size()) +
                                                         " output(s), room for " + std::to_string(capacity));
        }
        r->output_names.clear();
        for (const auto& o : outs) r->output_names.push_back(o.name);
        for (size_t i = 0; i < outs.size(); i++) {
          if (outs[i].shape.size() > PIXART_TRT_MAX_RANK) {
            pixart::fail(StatusCode::kInternal, "TensorRT runner: output " + outs[i].name + " has rank above 8");
          }
          PixartTrtTensor& t = outputs[i];
          t.name = r->output_names[i].c_str();
          t.dtype = dtype_code(outs[i].dtype);
          t.rank = int(outs[i].shape.size());
          for (size_t d = 0; d < outs[i].shape.size(); d++) t.dims[d] = outs[i].shape[d];
          t.data = nullptr;
        }
        n = int(outs.size());
      },
      status_code, err, err_len);
  return n;
}

PIXART_EXPORT int pixart_trt_run(PixartTrtRunner* r, const PixartTrtTensor* inputs, int n_inputs,
                                 const PixartTrtTensor* outputs, int n_outputs, void* stream, int* status_code,
                                 char* err, size_t err_len) {
  return guard(
             [&] {
               if (!r) pixart::fail(StatusCode::kInvalidArgument, "TensorRT runner: null runner");
               r->runner.run(to_tensors(inputs, n_inputs, "input"), to_tensors(outputs, n_outputs, "output"), stream);
             },
             status_code, err, err_len)
             ? 0
             : -1;
}

PIXART_EXPORT size_t pixart_trt_take_log(PixartTrtRunner* r, char* out, size_t out_len) {
  if (!r) return 0;
  std::string log;
  try {
    log = r->runner.take_log();
  } catch (...) {
    return 0;
  }
  if (out && out_len) std::snprintf(out, out_len, "%s", log.c_str());
  return log.size();
}

}  // extern "C"
