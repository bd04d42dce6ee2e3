#include "trt_runtime.h"

#include <cuda_runtime_api.h>
#include <limits.h>
#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <set>

#include "../../core/status.h"
#include "NvInfer.h"
#include "NvOnnxParser.h"
#include "trt_library.h"

namespace pixart::trt {
namespace {

namespace nv = nvinfer1;

// Collects TensorRT's messages. Errors are appended to the EngineError of the call that failed
// (TensorRT reports *why* only through the logger); warnings go to the runner's log.
// PIXART_TRT_LOG=0..4 also prints messages up to that severity (4 = verbose) to stderr.
class Logger final : public nv::ILogger {
 public:
  Logger() {
    if (const char* v = std::getenv("PIXART_TRT_LOG")) print_up_to_ = std::atoi(v);
  }
  void log(Severity s, const char* msg) noexcept override {
    try {
      std::lock_guard<std::mutex> g(mu_);
      if (s <= Severity::kERROR) {
        errors_.push_back(msg);
      } else if (s == Severity::kWARNING) {
        warnings_.push_back(msg);
      }
      if (static_cast<int>(s) <= print_up_to_) std::fprintf(stderr, "[tensorrt] %s\n", msg);
    } catch (...) {
      // Out of memory while logging: drop the message; TensorRT must not see an exception.
    }
  }
  std::string take_errors() {
    std::lock_guard<std::mutex> g(mu_);
    std::string s;
    for (const std::string& e : errors_) s += "\n  " + e;
    errors_.clear();
    return s;
  }
  std::vector<std::string> take_warnings() {
    std::lock_guard<std::mutex> g(mu_);
    return std::exchange(warnings_, {});
  }

 private:
  std::mutex mu_;
  std::vector<std::string> errors_, warnings_;
  int print_up_to_ = -1;
};

[[noreturn]] void trt_fail(StatusCode code, const std::string& what, Logger& logger) {
  const std::string said = logger.take_errors();
  fail(code, what + (said.empty() ? "" : "; TensorRT reported:" + said));
}

void cuda_check(cudaError_t e, const std::string& what) {
  if (e == cudaSuccess) return;
  const bool no_device = e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver || e == cudaErrorInvalidDevice;
  fail(no_device ? StatusCode::kNoDevice : StatusCode::kInternal, what + ": " + cudaGetErrorString(e));
}

// Makes `device` current for the scope and restores the caller's device after.
class DeviceScope {
 public:
  explicit DeviceScope(int device) {
    cuda_check(cudaGetDevice(&previous_), "cudaGetDevice");
    if (previous_ != device) cuda_check(cudaSetDevice(device), "cudaSetDevice(" + std::to_string(device) + ")");
    device_ = device;
  }
  ~DeviceScope() {
    if (previous_ != device_) cudaSetDevice(previous_);
  }
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int previous_ = 0, device_ = 0;
};

std::string from_trt(nv::DataType t) {
  switch (t) {
    case nv::DataType::kFLOAT: return "float32";
    case nv::DataType::kHALF: return "float16";
    case nv::DataType::kBF16: return "bfloat16";
    case nv::DataType::kINT64: return "int64";
    case nv::DataType::kINT32: return "int32";
    case nv::DataType::kINT8: return "int8";
    case nv::DataType::kUINT8: return "uint8";
    case nv::DataType::kBOOL: return "bool";
    default: return "tensorrt-type-" + std::to_string(static_cast<int>(t));
  }
}

nv::Dims to_dims(const std::vector<int64_t>& v, const std::string& what) {
  if (v.size() > size_t(nv::Dims::MAX_DIMS)) {
    fail(StatusCode::kInvalidArgument, what + ": rank " + std::to_string(v.size()) + " is above TensorRT's " +
                                           std::to_string(nv::Dims::MAX_DIMS));
  }
  nv::Dims d{};
  d.nbDims = static_cast<int32_t>(v.size());
  for (size_t i = 0; i < v.size(); i++) d.d[i] = v[i];
  return d;
}

std::vector<int64_t> from_dims(const nv::Dims& d) {
  std::vector<int64_t> v;
  for (int32_t i = 0; i < d.nbDims; i++) v.push_back(d.d[i]);
  return v;
}

std::string shape_text(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); i++) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// One deserialized engine with its execution context.
struct Loaded {
  EngineKey key;
  std::vector<OptimizationProfile> profiles;
  std::unique_ptr<nv::ICudaEngine> engine;
  std::unique_ptr<nv::IExecutionContext> context;  // declared after engine: destroyed first
  int active_profile = -1;
  cudaStream_t last_stream = nullptr;
  bool ran = false;
};

}  // namespace

struct TrtRunner::Impl {
  RunnerOptions opts;
  ExportedModel model;
  RecipeBook book;
  std::vector<OptimizationProfile> recipe_set;
  std::unique_ptr<EngineCache> cache;
  const TrtLibrary* lib = nullptr;
  std::string gpu_name, compute_capability;
  std::string version;
  Logger logger;  // declared before everything TensorRT creates with it, so it is destroyed last
  std::unique_ptr<nv::IRuntime> runtime;
  std::unique_ptr<Loaded> loaded;
  std::vector<std::string> events;

  explicit Impl(RunnerOptions o);
  ~Impl() { unload(); }
  void note(const std::string& line) { events.push_back(line); }
  EngineKey key_for(const std::vector<OptimizationProfile>& set) const;
  std::vector<uint8_t> build(const std::vector<OptimizationProfile>& set);
  std::unique_ptr<Loaded> deserialize(const std::vector<uint8_t>& bytes, const std::vector<OptimizationProfile>& set,
                                      std::string* mismatch);
  void unload();
  void use(const std::vector<OptimizationProfile>& set);
  int select(const ShapeMap& shapes);
  void apply_shapes(int profile, const ShapeMap& shapes, cudaStream_t stream);
};

TrtRunner::Impl::Impl(RunnerOptions o) : opts(std::move(o)) {
  for (const auto& [field, value] : {std::pair<const char*, const std::string*>{"export_dir", &opts.export_dir},
                                     {"kind", &opts.kind},
                                     {"cache_dir", &opts.cache_dir},
                                     {"profiles_path", &opts.profiles_path},
                                     {"recipe", &opts.recipe}}) {
    if (value->empty()) fail(StatusCode::kInvalidArgument, std::string("TensorRT runner: ") + field + " is required");
  }
  opts.build.canonical();  // validates
  model = read_export(opts.export_dir, opts.kind, opts.verify_model_hashes);
  book = load_recipe_book(opts.profiles_path);
  recipe_set = recipe_profiles(book, book.recipe(opts.recipe), opts.kind, model.inputs);
  if (opts.model_label.empty()) {
    char real[PATH_MAX];
    opts.model_label = std::string(::realpath(opts.export_dir.c_str(), real) ? real : opts.export_dir.c_str()) + "#" +
                       opts.kind;
  }
  cache = std::make_unique<EngineCache>(opts.cache_dir);
  lib = &trt_library();
  version = lib->version_string();

  int count = 0;
  cuda_check(cudaGetDeviceCount(&count), "TensorRT runner: no usable CUDA device");
  if (opts.device < 0 || opts.device >= count) {
    fail(StatusCode::kNoDevice, "TensorRT runner: CUDA device " + std::to_string(opts.device) + " does not exist (" +
                                    std::to_string(count) + " device(s))");
  }
  cudaDeviceProp prop{};
  cuda_check(cudaGetDeviceProperties(&prop, opts.device), "cudaGetDeviceProperties");
  gpu_name = prop.name;
  compute_capability = std::to_string(prop.major) + "." + std::to_string(prop.minor);

  const DeviceScope scope(opts.device);
  runtime.reset(static_cast<nv::IRuntime*>(lib->create_runtime(&logger, NV_TENSORRT_VERSION)));
  if (!runtime) trt_fail(StatusCode::kUnsupported, "TensorRT " + version + " could not create a runtime", logger);
}

EngineKey TrtRunner::Impl::key_for(const std::vector<OptimizationProfile>& set) const {
  EngineKey k;
  k.gpu_name = gpu_name;
  k.compute_capability = compute_capability;
  k.tensorrt_version = version;
  k.model_hash = model.model_hash();
  k.model_label = opts.model_label;
  k.profiles = canonical_set(set);
  k.build_options = opts.build.canonical();
  return k;
}

std::vector<uint8_t> TrtRunner::Impl::build(const std::vector<OptimizationProfile>& set) {
  const auto t0 = std::chrono::steady_clock::now();
  note("building a TensorRT " + version + " engine for " + opts.model_label + " on " + gpu_name + " with " +
       std::to_string(set.size()) + " profile(s): " + canonical_set(set));
  std::unique_ptr<nv::IBuilder> builder(static_cast<nv::IBuilder*>(lib->create_builder(&logger, NV_TENSORRT_VERSION)));
  if (!builder) trt_fail(StatusCode::kUnsupported, "TensorRT " + version + " could not create a builder", logger);
  nv::NetworkDefinitionCreationFlags flags = 0;
#if NV_TENSORRT_MAJOR < 11
  // TensorRT 10 needs this to take precision from the ONNX types; 11 always does (the flag is deprecated there).
  flags |= 1U << static_cast<uint32_t>(nv::NetworkDefinitionCreationFlag::kSTRONGLY_TYPED);
#endif
  std::unique_ptr<nv::INetworkDefinition> network(builder->createNetworkV2(flags));
  if (!network) trt_fail(StatusCode::kInternal, "TensorRT could not create a network", logger);
  std::unique_ptr<nvonnxparser::IParser> parser(
      static_cast<nvonnxparser::IParser*>(lib->create_parser(network.get(), &logger, NV_ONNX_PARSER_VERSION)));
  if (!parser) trt_fail(StatusCode::kUnsupported, "TensorRT could not create its ONNX parser", logger);
  // From the file, not from memory: the parser finds the external .data file beside it.
  if (!parser->parseFromFile(model.onnx_path.c_str(), static_cast<int>(nv::ILogger::Severity::kWARNING))) {
    std::string errs;
    for (int i = 0; i < parser->getNbErrors(); i++) {
      const nvonnxparser::IParserError* e = parser->getError(i);
      errs += std::string("\n  ") + e->desc() + " (node " + std::to_string(e->node()) + " " + e->nodeName() + ", " +
              e->nodeOperator() + ")";
    }
    trt_fail(StatusCode::kModelLoad, "TensorRT's ONNX parser cannot read " + model.onnx_path + ":" + errs, logger);
  }
  // The network's inputs are export.json's: a mismatch means export.json belongs to another file.
  if (network->getNbInputs() != static_cast<int32_t>(model.inputs.size())) {
    fail(StatusCode::kModelLoad, model.onnx_path + " has " + std::to_string(network->getNbInputs()) +
                                     " inputs, export.json lists " + std::to_string(model.inputs.size()));
  }
  for (int32_t i = 0; i < network->getNbInputs(); i++) {
    const nv::ITensor* t = network->getInput(i);
    const TensorSpec* spec = model.input(t->getName());
    if (!spec || from_trt(t->getType()) != spec->dtype || t->getDimensions().nbDims != int32_t(spec->dims.size())) {
      fail(StatusCode::kModelLoad, model.onnx_path + ": input " + t->getName() + " (" + from_trt(t->getType()) +
                                       ", rank " + std::to_string(t->getDimensions().nbDims) +
                                       ") is not what export.json lists");
    }
  }
  std::unique_ptr<nv::IBuilderConfig> config(builder->createBuilderConfig());
  if (!config) trt_fail(StatusCode::kInternal, "TensorRT could not create a builder config", logger);
  if (opts.build.workspace_bytes > 0) {
    config->setMemoryPoolLimit(nv::MemoryPoolType::kWORKSPACE, static_cast<size_t>(opts.build.workspace_bytes));
  }
  config->setBuilderOptimizationLevel(opts.build.optimization_level);
  for (size_t k = 0; k < set.size(); k++) {
    nv::IOptimizationProfile* p = builder->createOptimizationProfile();  // owned by the builder
    if (!p) trt_fail(StatusCode::kInternal, "TensorRT could not create an optimization profile", logger);
    for (const auto& [name, r] : set[k].inputs()) {
      const std::string what = "profile " + std::to_string(k) + " input " + name;
      if (!p->setDimensions(name.c_str(), nv::OptProfileSelector::kMIN, to_dims(r.min, what)) ||
          !p->setDimensions(name.c_str(), nv::OptProfileSelector::kOPT, to_dims(r.opt, what)) ||
          !p->setDimensions(name.c_str(), nv::OptProfileSelector::kMAX, to_dims(r.max, what))) {
        trt_fail(StatusCode::kInvalidArgument, "TensorRT rejected " + what + " (" + shape_text(r.min) + " .. " +
                                                   shape_text(r.max) + ")",
                 logger);
      }
    }
    if (config->addOptimizationProfile(p) < 0) {
      trt_fail(StatusCode::kInvalidArgument, "TensorRT rejected profile " + std::to_string(k) + ": " + set[k].canonical(),
               logger);
    }
  }
  std::unique_ptr<nv::IHostMemory> plan(builder->buildSerializedNetwork(*network, *config));
  if (!plan || plan->size() == 0) {
    trt_fail(StatusCode::kInternal, "TensorRT could not build the engine for " + opts.model_label, logger);
  }
  const auto* p = static_cast<const uint8_t*>(plan->data());
  std::vector<uint8_t> bytes(p, p + plan->size());
  char secs[32];
  std::snprintf(secs, sizeof secs, "%.1f", seconds_since(t0));
  note(std::string("built in ") + secs + " s, " + std::to_string(bytes.size() >> 20) + " MiB");
  return bytes;
}

std::unique_ptr<Loaded> TrtRunner::Impl::deserialize(const std::vector<uint8_t>& bytes,
                                                     const std::vector<OptimizationProfile>& set, std::string* mismatch) {
  auto out = std::make_unique<Loaded>();
  out->engine.reset(runtime->deserializeCudaEngine(bytes.data(), bytes.size()));
  if (!out->engine) {
    *mismatch = "TensorRT " + version + " cannot deserialize it:" + logger.take_errors();
    return nullptr;
  }
  const nv::ICudaEngine& e = *out->engine;
  // The engine's I/O must be export.json's, and its profiles the ones it was stored for.
  if (e.getNbIOTensors() != static_cast<int32_t>(model.inputs.size() + model.outputs.size())) {
    *mismatch = "it has " + std::to_string(e.getNbIOTensors()) + " I/O tensors, export.json lists " +
                std::to_string(model.inputs.size() + model.outputs.size());
    return nullptr;
  }
  for (int32_t i = 0; i < e.getNbIOTensors(); i++) {
    const char* name = e.getIOTensorName(i);
    const bool input = e.getTensorIOMode(name) == nv::TensorIOMode::kINPUT;
    const TensorSpec* spec = input ? model.input(name) : model.output(name);
    if (!spec) {
      *mismatch = std::string(input ? "input " : "output ") + name + " is not in export.json";
      return nullptr;
    }
    const std::string dt = from_trt(e.getTensorDataType(name));
    if (dt != spec->dtype || e.getTensorShape(name).nbDims != static_cast<int32_t>(spec->dims.size())) {
      *mismatch = std::string(name) + " is " + dt + " of rank " + std::to_string(e.getTensorShape(name).nbDims) +
                  ", export.json has " + spec->dtype + " " + spec->shape_string();
      return nullptr;
    }
  }
  if (e.getNbOptimizationProfiles() != static_cast<int32_t>(set.size())) {
    *mismatch = "it has " + std::to_string(e.getNbOptimizationProfiles()) + " profiles, not " + std::to_string(set.size());
    return nullptr;
  }
  // Activation memory for the selected profile only, reallocated when the profile changes.
  out->context.reset(out->engine->createExecutionContext(nv::ExecutionContextAllocationStrategy::kON_PROFILE_CHANGE));
  if (!out->context) {
    trt_fail(StatusCode::kOutOfMemory, "TensorRT could not create an execution context for " + opts.model_label, logger);
  }
  out->profiles = set;
  return out;
}

void TrtRunner::Impl::unload() {
  if (!loaded) return;
  // Work enqueued with this engine may still be running: let it finish before freeing.
  if (loaded->ran) cudaStreamSynchronize(loaded->last_stream);
  loaded.reset();
}

void TrtRunner::Impl::use(const std::vector<OptimizationProfile>& set) {
  const EngineKey key = key_for(set);
  if (loaded && loaded->key.digest() == key.digest()) return;
  unload();  // free the old engine's memory before building or loading the next
  std::vector<uint8_t> bytes;
  CacheLookup found;
  try {
    found = cache->lookup(key);
    if (found.status == CacheStatus::kHit) bytes = cache->read_engine(found);
  } catch (const EngineError& e) {
    if (e.code() != StatusCode::kModelLoad || !opts.rebuild_corrupt) throw;
    note(std::string("rebuilding a corrupt cache entry (rebuild_corrupt): ") + e.what());
    cache->forget(key.digest());
    found = CacheLookup{};
  }
  std::unique_ptr<Loaded> next;
  if (!bytes.empty()) {
    std::string why;
    next = deserialize(bytes, set, &why);
    if (next) {
      note("loaded cached engine " + found.engine_path);
    } else {
      note("cached engine " + found.engine_path + " does not fit (" + why + "): rebuilding it");
    }
  } else if (found.status == CacheStatus::kStale) {
    note("cached engine " + found.entry.file + " is stale (" + found.reason + "): rebuilding it");
  }
  if (!next) {
    bytes = build(set);
    const CacheEntry stored = cache->store(key, bytes.data(), bytes.size());
    note("stored " + cache->dir() + "/" + stored.file);
    std::string why;
    next = deserialize(bytes, set, &why);
    if (!next) fail(StatusCode::kInternal, "the engine TensorRT just built for " + opts.model_label + " does not fit: " + why);
  }
  next->key = key;
  loaded = std::move(next);
}

int TrtRunner::Impl::select(const ShapeMap& shapes) {
  // Candidates in order of preference: the engine in memory, this model's cached engines (built
  // for earlier requests; a stale one is rebuilt if chosen), then the recipe's.
  std::vector<std::vector<OptimizationProfile>> candidates;
  std::set<std::string> seen;
  auto add = [&](std::vector<OptimizationProfile> set) {
    if (seen.insert(canonical_set(set)).second) candidates.push_back(std::move(set));
  };
  if (loaded) add(loaded->profiles);
  const std::string options = opts.build.canonical();
  for (const CacheEntry& e : cache->entries()) {
    if (e.key.model_label != opts.model_label || e.key.build_options != options) continue;
    try {
      add(parse_set(e.key.profiles));
    } catch (const EngineError& err) {
      fail(StatusCode::kModelLoad, cache->manifest_path() + ": entry " + e.digest + " has unreadable profiles: " + err.what());
    }
  }
  add(recipe_set);
  const ProfileChoice choice = select_profile(candidates, model.inputs, shapes, book.batch_axis);
  if (choice.candidate < 0) {
    if (!opts.build_missing) {
      fail(StatusCode::kUnsupported, opts.model_label + ": " + choice.reason + "; building engines on demand is off");
    }
    note(choice.reason);
    use({choice.created});
    return 0;
  }
  const bool switching = !loaded || canonical_set(loaded->profiles) != canonical_set(candidates[choice.candidate]);
  if (switching) note(choice.reason);
  use(candidates[choice.candidate]);
  return choice.profile;
}

void TrtRunner::Impl::apply_shapes(int profile, const ShapeMap& shapes, cudaStream_t stream) {
  nv::IExecutionContext& ctx = *loaded->context;
  if (loaded->active_profile != profile) {
    if (!ctx.setOptimizationProfileAsync(profile, stream)) {
      trt_fail(StatusCode::kInternal, "TensorRT could not select optimization profile " + std::to_string(profile), logger);
    }
    loaded->active_profile = profile;
  }
  for (const auto& [name, dims] : shapes) {
    if (!ctx.setInputShape(name.c_str(), to_dims(dims, name))) {
      trt_fail(StatusCode::kInvalidArgument, "TensorRT refused shape " + shape_text(dims) + " for input " + name +
                                                 " under profile " + loaded->profiles[profile].canonical(),
               logger);
    }
  }
}

TrtRunner::TrtRunner(RunnerOptions opts) : impl_(std::make_unique<Impl>(std::move(opts))) {}
TrtRunner::~TrtRunner() {
  // TensorRT objects are freed on their device; no throwing here (DeviceScope could).
  int previous = -1;
  if (cudaGetDevice(&previous) == cudaSuccess && previous != impl_->opts.device) cudaSetDevice(impl_->opts.device);
  impl_.reset();
  if (previous >= 0) cudaSetDevice(previous);
}

void TrtRunner::prepare(void* stream) {
  Impl& m = *impl_;
  const DeviceScope scope(m.opts.device);
  m.logger.take_errors();
  m.use(m.recipe_set);
  if (m.loaded->active_profile < 0) {
    if (!m.loaded->context->setOptimizationProfileAsync(0, static_cast<cudaStream_t>(stream))) {
      trt_fail(StatusCode::kInternal, "TensorRT could not select optimization profile 0", m.logger);
    }
    m.loaded->active_profile = 0;
  }
}

std::vector<DeviceTensor> TrtRunner::output_shapes(const ShapeMap& inputs, void* stream) {
  Impl& m = *impl_;
  const DeviceScope scope(m.opts.device);
  m.logger.take_errors();
  const int profile = m.select(inputs);
  m.apply_shapes(profile, inputs, static_cast<cudaStream_t>(stream));
  std::vector<DeviceTensor> out;
  const nv::ICudaEngine& e = *m.loaded->engine;
  for (int32_t i = 0; i < e.getNbIOTensors(); i++) {
    const char* name = e.getIOTensorName(i);
    if (e.getTensorIOMode(name) != nv::TensorIOMode::kOUTPUT) continue;
    DeviceTensor t;
    t.name = name;
    t.dtype = from_trt(e.getTensorDataType(name));
    t.shape = from_dims(m.loaded->context->getTensorShape(name));
    for (int64_t d : t.shape) {
      if (d < 0) trt_fail(StatusCode::kInternal, std::string("TensorRT could not infer the shape of output ") + name, m.logger);
    }
    out.push_back(std::move(t));
  }
  return out;
}

void TrtRunner::run(const std::vector<DeviceTensor>& inputs, const std::vector<DeviceTensor>& outputs, void* stream) {
  Impl& m = *impl_;
  const DeviceScope scope(m.opts.device);
  m.logger.take_errors();
  ShapeMap shapes;
  for (const DeviceTensor& t : inputs) {
    const TensorSpec* spec = m.model.input(t.name);
    if (!spec) fail(StatusCode::kInvalidArgument, m.opts.kind + " has no input " + t.name);
    if (t.dtype != spec->dtype) {
      fail(StatusCode::kInvalidArgument, "input " + t.name + " is " + t.dtype + ", the engine takes " + spec->dtype);
    }
    if (!t.data) fail(StatusCode::kInvalidArgument, "input " + t.name + " has no device buffer");
    if (!shapes.emplace(t.name, t.shape).second) fail(StatusCode::kInvalidArgument, "input " + t.name + " given twice");
  }
  const std::vector<DeviceTensor> expected = output_shapes(shapes, stream);  // selects, loads, sets shapes
  nv::IExecutionContext& ctx = *m.loaded->context;
  for (const DeviceTensor& t : inputs) {
    if (!ctx.setTensorAddress(t.name.c_str(), t.data)) {
      trt_fail(StatusCode::kInvalidArgument, "TensorRT refused the buffer of input " + t.name, m.logger);
    }
  }
  if (outputs.size() != expected.size()) {
    fail(StatusCode::kInvalidArgument, m.opts.kind + " has " + std::to_string(expected.size()) + " output(s), " +
                                           std::to_string(outputs.size()) + " given");
  }
  for (const DeviceTensor& want : expected) {
    const DeviceTensor* got = nullptr;
    for (const DeviceTensor& o : outputs)
      if (o.name == want.name) got = &o;
    if (!got) fail(StatusCode::kInvalidArgument, "output " + want.name + " has no buffer");
    if (got->dtype != want.dtype || got->shape != want.shape || !got->data) {
      fail(StatusCode::kInvalidArgument, "output " + want.name + ": the buffer is " + got->dtype + " " +
                                             shape_text(got->shape) + ", the engine writes " + want.dtype + " " +
                                             shape_text(want.shape));
    }
    if (!ctx.setTensorAddress(want.name.c_str(), got->data)) {
      trt_fail(StatusCode::kInvalidArgument, "TensorRT refused the buffer of output " + want.name, m.logger);
    }
  }
  if (!ctx.enqueueV3(static_cast<cudaStream_t>(stream))) {
    trt_fail(StatusCode::kInternal, "TensorRT could not enqueue " + m.opts.model_label, m.logger);
  }
  m.loaded->ran = true;
  m.loaded->last_stream = static_cast<cudaStream_t>(stream);
}

std::string TrtRunner::take_log() {
  Impl& m = *impl_;
  std::string s;
  for (const std::string& e : m.events) s += e + "\n";
  for (const std::string& w : m.logger.take_warnings()) s += "TensorRT warning: " + w + "\n";
  m.events.clear();
  return s;
}

const ExportedModel& TrtRunner::model() const { return impl_->model; }
const std::string& TrtRunner::tensorrt_version() const { return impl_->version; }

}  // namespace pixart::trt
