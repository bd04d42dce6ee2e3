#include "addon_engine.h"

#include <dlfcn.h>

#include <filesystem>

#include "addon_state.h"
#include "args.h"
#include "backends/cpu/cpu_backend.h"
#include "core/backend_registry.h"
#include "models/pixart_dit/pixart_dit.h"
#include "models/t5/t5_encoder.h"
#include "models/vae/vae.h"

namespace pixart::addon {

std::string AddonDir() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&AddonDir), &info) && info.dli_fname) {
    return std::filesystem::path(info.dli_fname).parent_path().string();
  }
  return "";
}

namespace {

template <class Model, Napi::Object (*Wrap)(Napi::Env, std::shared_ptr<EngineCore>, std::shared_ptr<Model>)>
class LoadJob final : public Job {
 public:
  using Loader = std::function<std::unique_ptr<Model>(Backend&)>;
  LoadJob(Napi::Env env, std::shared_ptr<EngineCore> core, Loader loader)
      : Job(env), core_(std::move(core)), loader_(std::move(loader)) {}
  void Execute() override { model_ = std::shared_ptr<Model>(loader_(*core_->backend).release()); }
  Napi::Value Result(Napi::Env env) override { return Wrap(env, core_, model_); }

 private:
  std::shared_ptr<EngineCore> core_;
  Loader loader_;
  std::shared_ptr<Model> model_;
};

// emptyCache(): the backend's cached device memory back to the device, in queue order.
class EmptyCacheJob final : public Job {
 public:
  EmptyCacheJob(Napi::Env env, std::shared_ptr<EngineCore> core) : Job(env), core_(std::move(core)) {}
  void Execute() override { core_->backend->empty_cache(); }
  Napi::Value Result(Napi::Env env) override { return env.Undefined(); }

 private:
  std::shared_ptr<EngineCore> core_;
};

// loadX(folder, weights?): `weights` names a specific weights file or index (a variant).
std::pair<std::string, std::string> FolderAndWeights(const Napi::CallbackInfo& info) {
  std::string folder = ArgString(info[0], "folder");
  std::string weights = info.Length() > 1 && !info[1].IsUndefined() ? ArgString(info[1], "weights") : "";
  return {folder, weights};
}
}  // namespace

Napi::Function Engine::Init(Napi::Env env) {
  return DefineClass(env, "Engine",
                     {InstanceMethod<&Engine::LoadT5>("loadT5"), InstanceMethod<&Engine::LoadDiT>("loadDiT"),
                      InstanceMethod<&Engine::LoadVAE>("loadVAE"), InstanceMethod<&Engine::Pending>("pending"),
                      InstanceMethod<&Engine::EmptyCache>("emptyCache"),
                      InstanceMethod<&Engine::MemoryStats>("memoryStats"),
                      InstanceMethod<&Engine::ResetPeakMemory>("resetPeakMemory"),
                      InstanceMethod<&Engine::UploadState>("uploadState"),
                      InstanceMethod<&Engine::RunStateProgram>("runStateProgram"),
                      InstanceMethod<&Engine::GatherState>("gatherState"),
                      InstanceMethod<&Engine::Dispose>("dispose"), InstanceAccessor<&Engine::Device>("device"),
                      InstanceAccessor<&Engine::Threads>("threads")});
}

Engine::Engine(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Engine>(info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw TypeError(env, "Engine options must be an object");
  Napi::Object o = info[0].As<Napi::Object>();
  BackendOptions opts;
  opts.device = o.Has("device") ? ArgString(o.Get("device"), "device") : "cpu";
  if (o.Has("threads") && !o.Get("threads").IsUndefined()) {
    if (!o.Get("threads").IsNumber()) throw TypeError(env, "threads must be a number");
    opts.threads = o.Get("threads").As<Napi::Number>().Int32Value();
    if (opts.threads < 0 || opts.threads > 1024) throw TypeError(env, "threads must be between 0 and 1024");
  }
  if (o.Has("dtype") && !o.Get("dtype").IsUndefined()) {
    opts.dtype = ArgString(o.Get("dtype"), "dtype");
    if (opts.dtype != "float16" && opts.dtype != "bfloat16" && opts.dtype != "float32") {
      throw TypeError(env, "dtype must be 'float16', 'bfloat16' or 'float32'");
    }
  }
  if (o.Has("allowTf32") && !o.Get("allowTf32").IsUndefined()) opts.allow_tf32 = o.Get("allowTf32").ToBoolean();
  opts.library_dir = AddonDir();
  std::shared_ptr<Backend> backend;
  Status s = guarded([&] { backend = create_backend(opts); });
  if (!s.ok()) throw MakeError(env, s);
  core_ = std::make_shared<EngineCore>();
  core_->backend = backend;
  core_->thread = std::make_shared<EngineThread>(env, "pixart-engine-" + opts.device);
  device_ = opts.device;
  if (auto* cpu = dynamic_cast<cpu::CpuBackend*>(backend.get())) threads_ = cpu->threads();
}

Engine::~Engine() {
  if (core_) core_->thread->Shutdown();
}

std::shared_ptr<EngineCore> Engine::Core(Napi::Env env) {
  if (!core_) throw MakeError(env, Status(StatusCode::kInvalidArgument, "the engine was disposed"));
  return core_;
}

Napi::Value Engine::LoadT5(const Napi::CallbackInfo& info) {
  auto core = Core(info.Env());
  auto [folder, weights] = FolderAndWeights(info);
  // Third argument: weight-only quantisation of the linear weights, "none" | "int8" | "int4".
  WeightQuant quant = WeightQuant::kNone;
  if (info.Length() > 2 && !info[2].IsUndefined()) {
    const std::string q = ArgString(info[2], "quantization");
    if (q != "none" && q != "int8" && q != "int4" && q != "int4-mixed")
      throw TypeError(info.Env(), "quantization must be 'none', 'int8', 'int4' or 'int4-mixed'");
    quant = parse_weight_quant(q);
  }
  return core->thread->Submit(info.Env(), std::make_unique<LoadJob<T5Encoder, NewT5Handle>>(info.Env(), core, [folder, weights, quant](Backend& be) {
    return T5Encoder::load(be, folder, weights, quant);
  }));
}
Napi::Value Engine::LoadDiT(const Napi::CallbackInfo& info) {
  auto core = Core(info.Env());
  auto [folder, weights] = FolderAndWeights(info);
  return core->thread->Submit(info.Env(), std::make_unique<LoadJob<PixArtDiT, NewDiTHandle>>(info.Env(), core, [folder, weights](Backend& be) {
    return PixArtDiT::load(be, folder, weights);
  }));
}
Napi::Value Engine::LoadVAE(const Napi::CallbackInfo& info) {
  auto core = Core(info.Env());
  auto [folder, weights] = FolderAndWeights(info);
  return core->thread->Submit(info.Env(), std::make_unique<LoadJob<AutoencoderKL, NewVAEHandle>>(info.Env(), core, [folder, weights](Backend& be) {
    return AutoencoderKL::load(be, folder, VAEParts::kBoth, weights);
  }));
}

Napi::Value Engine::EmptyCache(const Napi::CallbackInfo& info) {
  auto core = Core(info.Env());
  return core->thread->Submit(info.Env(), std::make_unique<EmptyCacheJob>(info.Env(), core));
}

Napi::Value Engine::Pending(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), core_ ? double(core_->thread->pending()) : 0.0);
}

// memoryStats(): the backend's device memory now (not queued: the pool's counters are read
// under its lock while the engine thread runs); null for the CPU backend.
Napi::Value Engine::MemoryStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto core = Core(env);
  Backend::MemoryStats m;
  bool have = false;
  Status s = guarded([&] { have = core->backend->memory_usage(&m); });
  if (!s.ok()) throw MakeError(env, s);
  if (!have) return env.Null();
  Napi::Object o = Napi::Object::New(env);
  o.Set("inUseBytes", double(m.in_use));
  o.Set("peakInUseBytes", double(m.peak_in_use));
  o.Set("reservedBytes", double(m.reserved));
  o.Set("deviceFreeBytes", double(m.device_free));
  o.Set("deviceTotalBytes", double(m.device_total));
  return o;
}

Napi::Value Engine::ResetPeakMemory(const Napi::CallbackInfo& info) {
  auto core = Core(info.Env());
  core->backend->reset_peak_memory();
  return info.Env().Undefined();
}

Napi::Value Engine::UploadState(const Napi::CallbackInfo& info) { return addon::UploadState(info, Core(info.Env())); }
Napi::Value Engine::RunStateProgram(const Napi::CallbackInfo& info) {
  return addon::RunStateProgram(info, Core(info.Env()));
}
Napi::Value Engine::GatherState(const Napi::CallbackInfo& info) { return addon::GatherState(info, Core(info.Env())); }

// Models already loaded keep the backend alive; the engine thread finishes queued jobs first.
Napi::Value Engine::Dispose(const Napi::CallbackInfo& info) {
  if (core_) {
    core_->thread->Shutdown();
    core_.reset();
  }
  return info.Env().Undefined();
}

Napi::Value Engine::Device(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), device_); }
Napi::Value Engine::Threads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), threads_); }

}  // namespace pixart::addon
