// JS handles for loaded models. Each async call copies its inputs into a job (the baton), runs
// on the engine thread holding references to the model and backend, and copies the result
// back into a new Float32Array (or, for the VAE's rgb8 decode, a Uint8Array). dispose() drops
// this handle's reference; a running job keeps its own, so memory is released when the last user
// is done.
#include <memory>

#include "addon_engine.h"
#include "addon_state.h"
#include "args.h"
#include "models/pixart_dit/pixart_dit.h"
#include "models/t5/t5_encoder.h"
#include "models/vae/vae.h"

namespace pixart::addon {

namespace {

template <class Derived, class Model>
class ModelHandle : public Napi::ObjectWrap<Derived> {
 public:
  explicit ModelHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Derived>(info) {}
  void Attach(std::shared_ptr<EngineCore> core, std::shared_ptr<Model> model) {
    core_ = std::move(core);
    model_ = std::move(model);
  }

 protected:
  std::pair<std::shared_ptr<EngineCore>, std::shared_ptr<Model>> Live(Napi::Env env) {
    if (!model_) throw MakeError(env, Status(StatusCode::kInvalidArgument, "this model was disposed"));
    return {core_, model_};
  }

 public:
  Napi::Value DisposeJs(const Napi::CallbackInfo& info) {
    model_.reset();
    core_.reset();
    return info.Env().Undefined();
  }
  Napi::Value DisposedJs(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !model_); }

 protected:
  std::shared_ptr<EngineCore> core_;
  std::shared_ptr<Model> model_;
};

// A job that runs `fn(backend, model)` producing a host tensor.
template <class Model>
class ComputeJob final : public Job {
 public:
  using Fn = std::function<Tensor(Backend&, Model&)>;
  ComputeJob(Napi::Env env, std::shared_ptr<EngineCore> core, std::shared_ptr<Model> model, Fn fn)
      : Job(env), core_(std::move(core)), model_(std::move(model)), fn_(std::move(fn)) {}
  void Execute() override {
    Tensor t = fn_(*core_->backend, *model_);
    shape_ = t.shape;
    out_.resize(size_t(t.numel()));
    core_->backend->to_host(t, out_.data());
  }
  Napi::Value Result(Napi::Env env) override { return HostArrayObject(env, out_, shape_); }

 private:
  std::shared_ptr<EngineCore> core_;
  std::shared_ptr<Model> model_;
  Fn fn_;
  std::vector<float> out_;
  Shape shape_;
};

// A job that runs `fn(backend, model)` producing a decoded image [B, C, H, W] and returns it as
// 8-bit NHWC bytes made by the backend (Backend::to_host_rgb8: on a GPU the conversion runs on
// the device and only the bytes come down), with whether the image held NaN/Inf.
template <class Model>
class Rgb8Job final : public Job {
 public:
  using Fn = std::function<Tensor(Backend&, Model&)>;
  Rgb8Job(Napi::Env env, std::shared_ptr<EngineCore> core, std::shared_ptr<Model> model, Fn fn)
      : Job(env), core_(std::move(core)), model_(std::move(model)), fn_(std::move(fn)) {}
  void Execute() override {
    Tensor t = fn_(*core_->backend, *model_);
    if (t.rank() != 4) fail(StatusCode::kInternal, "rgb8 output of a " + shape_str(t.shape) + " tensor; expected [B, C, H, W]");
    shape_ = {t.dim(0), t.dim(2), t.dim(3), t.dim(1)};
    out_.resize(size_t(t.numel()));
    non_finite_ = core_->backend->to_host_rgb8(t, out_.data());
  }
  Napi::Value Result(Napi::Env env) override {
    Napi::Object o = HostArrayObject(env, out_, shape_);
    o.Set("nonFinite", Napi::Boolean::New(env, non_finite_));
    return o;
  }

 private:
  std::shared_ptr<EngineCore> core_;
  std::shared_ptr<Model> model_;
  Fn fn_;
  std::vector<uint8_t> out_;
  Shape shape_;
  bool non_finite_ = false;
};

template <class Model>
Napi::Promise Submit(Napi::Env env, std::pair<std::shared_ptr<EngineCore>, std::shared_ptr<Model>> live,
                     typename ComputeJob<Model>::Fn fn) {
  auto core = live.first;
  return core->thread->Submit(env, std::make_unique<ComputeJob<Model>>(env, core, live.second, std::move(fn)));
}

// --- DiT conditioning: the text side of a denoising loop, prepared once and kept on the backend ---
Napi::FunctionReference* g_dit_cond = nullptr;

class DiTConditioningHandle final : public Napi::ObjectWrap<DiTConditioningHandle> {
 public:
  explicit DiTConditioningHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DiTConditioningHandle>(info) {}
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "DiTConditioning",
                       {InstanceMethod("dispose", &DiTConditioningHandle::Dispose),
                        InstanceAccessor("disposed", &DiTConditioningHandle::Disposed, nullptr),
                        InstanceAccessor("batch", &DiTConditioningHandle::Batch, nullptr),
                        InstanceAccessor("stepStats", &DiTConditioningHandle::StepStats, nullptr)});
  }
  void Attach(std::shared_ptr<EngineCore> core, std::shared_ptr<PixArtDiT> model, std::shared_ptr<DiTConditioning> c) {
    core_ = std::move(core);
    model_ = std::move(model);
    cond_ = std::move(c);
  }
  // The conditioning, checked to belong to `model` (tensors of another engine cannot be used).
  std::shared_ptr<DiTConditioning> For(Napi::Env env, const PixArtDiT* model) const {
    if (!cond_) throw MakeError(env, Status(StatusCode::kInvalidArgument, "this conditioning was disposed"));
    if (model_.get() != model)
      throw MakeError(env, Status(StatusCode::kInvalidArgument, "this conditioning was prepared by another transformer"));
    return cond_;
  }

 private:
  // Dropping the references frees the tensors (a forward still running holds its own).
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    cond_.reset();
    model_.reset();
    core_.reset();
    return info.Env().Undefined();
  }
  Napi::Value Disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !cond_); }
  Napi::Value Batch(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), cond_ ? double(cond_->batch) : 0.0);
  }
  // { recorded, recordings, runs, plain, reason } of a conditioning prepared with recordSteps; null otherwise.
  Napi::Value StepStats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!cond_ || !cond_->steps) return env.Null();
    const DiTStepStats st = cond_->steps->stats();
    Napi::Object o = Napi::Object::New(env);
    o.Set("recorded", Napi::Boolean::New(env, st.recorded));
    o.Set("recordings", Napi::Number::New(env, double(st.recordings)));
    o.Set("runs", Napi::Number::New(env, double(st.runs)));
    o.Set("plain", Napi::Number::New(env, double(st.plain)));
    o.Set("reason", Napi::String::New(env, st.reason));
    return o;
  }
  std::shared_ptr<EngineCore> core_;
  std::shared_ptr<PixArtDiT> model_;
  std::shared_ptr<DiTConditioning> cond_;
};

// prepareConditioning on the engine thread; resolves to a DiTConditioning handle.
class ConditioningJob final : public Job {
 public:
  struct Args {
    std::vector<float> text, mask, resolution, aspect;
    Tensor text_state;  // or the text as a state tensor of this engine
    Shape ts;
    bool record_steps = false;
  };
  ConditioningJob(Napi::Env env, std::shared_ptr<EngineCore> core, std::shared_ptr<PixArtDiT> model, Args args)
      : Job(env), core_(std::move(core)), model_(std::move(model)), args_(std::move(args)) {}
  void Execute() override {
    Backend& be = *core_->backend;
    const Tensor text = F32OrStateTensor(be, args_.text_state, args_.text, args_.ts);
    cond_ = std::make_shared<DiTConditioning>(
        model_->prepare_conditioning(text, args_.mask, args_.resolution, args_.aspect, args_.record_steps));
  }
  Napi::Value Result(Napi::Env env) override {
    Napi::Object obj = g_dit_cond->New({});
    DiTConditioningHandle::Unwrap(obj)->Attach(core_, model_, cond_);
    return obj;
  }

 private:
  std::shared_ptr<EngineCore> core_;
  std::shared_ptr<PixArtDiT> model_;
  Args args_;
  std::shared_ptr<DiTConditioning> cond_;
};

// --- T5 ---
class T5Handle final : public ModelHandle<T5Handle, T5Encoder> {
 public:
  using ModelHandle::ModelHandle;
  using ModelHandle::DisposeJs;
  using ModelHandle::DisposedJs;
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "T5Encoder",
                       {InstanceMethod("encode", &T5Handle::Encode), InstanceMethod("dispose", &T5Handle::DisposeJs),
                        InstanceAccessor("disposed", &T5Handle::DisposedJs, nullptr)});
  }
  // encode(ids: Int32Array, mask: Int32Array, [batch, length], options?: { output: 'host' | 'state' })
  //   -> { data, shape: [B, L, d_model] }, or with output 'state' a StateTensor [B, L, d_model]
  Napi::Value Encode(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto live = Live(env);
    Shape bl = ArgShape(info[2], "[batch, length]", 2);
    const int64_t n = bl[0] * bl[1];
    auto ids = std::make_shared<std::vector<int32_t>>(ArgI32(info[0], "ids", n));
    auto mask = std::make_shared<std::vector<int32_t>>(ArgI32(info[1], "mask", n));
    auto fn = [ids, mask, bl](Backend&, T5Encoder& m) { return m.encode(ids->data(), mask->data(), bl[0], bl[1]); };
    // options { output: 'state' }: the embeddings stay on the engine as a float32 StateTensor.
    if (info.Length() > 3 && !info[3].IsUndefined()) {
      const Napi::Value out = info[3].IsObject() ? info[3].As<Napi::Object>().Get("output") : info[3];
      const std::string o = out.IsString() ? out.As<Napi::String>().Utf8Value() : "";
      if (o != "host" && o != "state") throw TypeError(env, "encode options must be { output: 'host' | 'state' }");
      if (o == "state") {
        auto model = live.second;
        return live.first->thread->Submit(env, std::make_unique<StateJob>(env, live.first, [model, fn](Backend& be) {
          return be.to_state(fn(be, *model));
        }));
      }
    }
    return Submit<T5Encoder>(env, live, fn);
  }
};

// --- DiT ---
class DiTHandle final : public ModelHandle<DiTHandle, PixArtDiT> {
 public:
  using ModelHandle::ModelHandle;
  using ModelHandle::DisposeJs;
  using ModelHandle::DisposedJs;
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "PixArtDiT",
                       {InstanceMethod("forward", &DiTHandle::Forward),
                        InstanceMethod("prepareConditioning", &DiTHandle::PrepareConditioning),
                        InstanceMethod("dispose", &DiTHandle::DisposeJs),
                        InstanceAccessor("disposed", &DiTHandle::DisposedJs, nullptr)});
  }
  // forward({ latents, latentShape: [B,C,H,W], timesteps, text, textShape: [N,L,Ct], textMask?, resolution?,
  //           aspectRatio?, guidance?: { scale, epsChannels }, channels?, output? }): N = B, or 2B with guidance
  //           (CFG on the engine, PixArtDiT::forward_guided: the latents are the B samples, the rest the model
  //           batch). latents: a Float32Array or a StateTensor of the engine; channels (without guidance): keep
  //           the first `channels` output channels; output 'host' (default): resolves to { data, shape },
  //           'state': to a StateTensor that stays on the engine.
  Napi::Value Forward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto live = Live(env);
    if (!info[0].IsObject()) throw TypeError(env, "forward() takes an options object");
    Napi::Object o = info[0].As<Napi::Object>();
    Shape ls = ArgShape(o.Get("latentShape"), "latentShape", 4);
    auto baton = std::make_shared<Baton>();
    if (!o.Get("guidance").IsUndefined()) {
      if (!o.Get("guidance").IsObject()) throw TypeError(env, "guidance must be { scale, epsChannels }");
      Napi::Object g = o.Get("guidance").As<Napi::Object>();
      if (!g.Get("scale").IsNumber() || !g.Get("epsChannels").IsNumber())
        throw TypeError(env, "guidance must be { scale: number, epsChannels: number }");
      baton->guided = true;
      baton->scale = g.Get("scale").As<Napi::Number>().FloatValue();
      baton->eps_channels = g.Get("epsChannels").As<Napi::Number>().Int64Value();
    }
    if (!o.Get("channels").IsUndefined()) {
      if (baton->guided) throw TypeError(env, "channels is for calls without guidance (guidance has epsChannels)");
      if (!o.Get("channels").IsNumber()) throw TypeError(env, "channels must be a number");
      baton->channels = o.Get("channels").As<Napi::Number>().Int64Value();
    }
    bool to_state = false;
    if (!o.Get("output").IsUndefined()) {
      const std::string out = o.Get("output").IsString() ? o.Get("output").As<Napi::String>().Utf8Value() : "";
      if (out != "host" && out != "state") throw TypeError(env, "output must be 'host' or 'state'");
      to_state = out == "state";
    }
    const int64_t batch = baton->guided ? 2 * ls[0] : ls[0];
    F32OrStateArg(o.Get("latents"), *live.first, "latents", ls, "latentShape", &baton->latent_state, &baton->latents);
    baton->ls = ls;
    std::function<Tensor(Backend&, PixArtDiT&)> fn;
    if (!o.Get("conditioning").IsUndefined()) {
      // A prepared conditioning replaces text, textShape, textMask, resolution and aspectRatio.
      if (!o.Get("conditioning").IsObject() || !o.Get("conditioning").As<Napi::Object>().InstanceOf(g_dit_cond->Value()))
        throw TypeError(env, "conditioning must come from prepareConditioning()");
      baton->cond = DiTConditioningHandle::Unwrap(o.Get("conditioning").As<Napi::Object>())->For(env, live.second.get());
      baton->timesteps = ArgF32(o.Get("timesteps"), "timesteps", batch);
      fn = [baton](Backend& be, PixArtDiT& m) {
        return baton->finish(be, m.forward_conditioned(baton->latents_on(be), baton->timesteps, *baton->cond,
                                                       baton->guided ? &baton->scale : nullptr, baton->eps_channels));
      };
    } else {
      Shape ts = ArgShape(o.Get("textShape"), "textShape", 3);
      if (ts[0] != batch)
        throw TypeError(env, "text batch " + std::to_string(ts[0]) + " must be " + std::to_string(batch) + " for " +
                                 std::to_string(ls[0]) + " latents" + (baton->guided ? " with guidance (uncond; cond)" : ""));
      baton->text = ArgF32(o.Get("text"), "text", numel(ts));
      baton->timesteps = ArgF32(o.Get("timesteps"), "timesteps", batch);
      if (!o.Get("textMask").IsUndefined()) baton->mask = ArgF32(o.Get("textMask"), "textMask", ts[0] * ts[1]);
      if (!o.Get("resolution").IsUndefined()) baton->resolution = ArgF32(o.Get("resolution"), "resolution", batch * 2);
      if (!o.Get("aspectRatio").IsUndefined()) baton->aspect = ArgF32(o.Get("aspectRatio"), "aspectRatio", batch);
      baton->ts = ts;
      fn = [baton](Backend& be, PixArtDiT& m) {
        DiTInputs in;
        in.latents = baton->latents_on(be);
        in.text = be.from_host(baton->text.data(), baton->ts);
        in.timesteps = baton->timesteps;
        in.text_mask = baton->mask;
        in.resolution = baton->resolution;
        in.aspect_ratio = baton->aspect;
        return baton->finish(be, baton->guided ? m.forward_guided(in, baton->scale, baton->eps_channels) : m.forward(in));
      };
    }
    if (!to_state) return Submit<PixArtDiT>(env, live, fn);
    auto model = live.second;
    return live.first->thread->Submit(env, std::make_unique<StateJob>(env, live.first, [model, fn](Backend& be) {
      return be.to_state(fn(be, *model));
    }));
  }

  // prepareConditioning({ text, textShape: [N,L,Ct], textMask?, resolution?, aspectRatio?, recordSteps? }) -> DiTConditioning
  // recordSteps: forward() with this conditioning records its step and replays it (a CUDA graph on a GPU).
  Napi::Value PrepareConditioning(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto live = Live(env);
    if (!info[0].IsObject()) throw TypeError(env, "prepareConditioning() takes an options object");
    Napi::Object o = info[0].As<Napi::Object>();
    ConditioningJob::Args a;
    a.ts = ArgShape(o.Get("textShape"), "textShape", 3);
    F32OrStateArg(o.Get("text"), *live.first, "text", a.ts, "textShape", &a.text_state, &a.text);  // or already on this engine
    if (!o.Get("textMask").IsUndefined()) a.mask = ArgF32(o.Get("textMask"), "textMask", a.ts[0] * a.ts[1]);
    if (!o.Get("resolution").IsUndefined()) a.resolution = ArgF32(o.Get("resolution"), "resolution", a.ts[0] * 2);
    if (!o.Get("aspectRatio").IsUndefined()) a.aspect = ArgF32(o.Get("aspectRatio"), "aspectRatio", a.ts[0]);
    if (!o.Get("recordSteps").IsUndefined()) {
      if (!o.Get("recordSteps").IsBoolean()) throw TypeError(env, "recordSteps must be a boolean");
      a.record_steps = o.Get("recordSteps").As<Napi::Boolean>().Value();
    }
    auto core = live.first;
    return core->thread->Submit(env, std::make_unique<ConditioningJob>(env, core, live.second, std::move(a)));
  }

 private:
  struct Baton {
    std::vector<float> latents, text, timesteps, mask, resolution, aspect;
    Tensor latent_state;  // latents that already live on the engine (float32 state)
    Shape ls, ts;
    std::shared_ptr<DiTConditioning> cond;
    bool guided = false;
    float scale = 1.f;
    int64_t eps_channels = 0;
    int64_t channels = 0;  // without guidance: keep the first `channels` output channels (0: all)
    Tensor latents_on(Backend& be) const {
      return F32OrStateTensor(be, latent_state, latents, ls);
    }
    Tensor finish(Backend& be, Tensor out) const { return channels > 0 ? be.slice_channels(out, 0, channels) : out; }
  };
};

// --- VAE ---
class VAEHandle final : public ModelHandle<VAEHandle, AutoencoderKL> {
 public:
  using ModelHandle::ModelHandle;
  using ModelHandle::DisposeJs;
  using ModelHandle::DisposedJs;
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "AutoencoderKL",
                       {InstanceMethod("decode", &VAEHandle::Decode), InstanceMethod("encode", &VAEHandle::Encode),
                        InstanceMethod("dispose", &VAEHandle::DisposeJs),
                        InstanceAccessor("disposed", &VAEHandle::DisposedJs, nullptr)});
  }
  // decode(z: Float32Array | StateTensor, shape [B, C, h, w], options?: { tiled?: boolean, output?: 'float' | 'rgb8' });
  // z is latents / scaling_factor; tiled: diffusers' tiled decode (AutoencoderKL::decode_tiled).
  // output 'float' (default): the raw image [B, 3, 8h, 8w] as { data: Float32Array, shape };
  // 'rgb8': diffusers' postprocess to 8-bit made by the backend (Backend::to_host_rgb8),
  // { data: Uint8Array, shape: [B, 8h, 8w, 3], nonFinite: boolean }.
  Napi::Value Decode(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto live = Live(env);
    Shape s = ArgShape(info[1], "shape", 4);
    bool tiled = false, rgb8 = false;
    if (info.Length() > 2 && !info[2].IsUndefined()) {
      if (!info[2].IsObject()) throw TypeError(env, "decode options must be an object { tiled?, output? }");
      Napi::Object o = info[2].As<Napi::Object>();
      if (!o.Get("tiled").IsUndefined()) {
        if (!o.Get("tiled").IsBoolean()) throw TypeError(env, "decode option tiled must be a boolean");
        tiled = o.Get("tiled").As<Napi::Boolean>().Value();
      }
      if (!o.Get("output").IsUndefined()) {
        const std::string out = o.Get("output").IsString() ? o.Get("output").As<Napi::String>().Utf8Value() : "";
        if (out != "float" && out != "rgb8") throw TypeError(env, "decode option output must be 'float' or 'rgb8'");
        rgb8 = out == "rgb8";
      }
    }
    auto data = std::make_shared<std::vector<float>>();
    Tensor state;  // z already on the engine
    F32OrStateArg(info[0], *live.first, "latents", s, "shape", &state, data.get());
    auto fn = [data, state, s, tiled](Backend& be, AutoencoderKL& m) {
      Tensor x = F32OrStateTensor(be, state, *data, s);
      return tiled ? m.decode_tiled(x) : m.decode(x);
    };
    if (!rgb8) return Submit<AutoencoderKL>(env, live, fn);
    return live.first->thread->Submit(env, std::make_unique<Rgb8Job<AutoencoderKL>>(env, live.first, live.second, fn));
  }
  // encode(x: Float32Array, shape [B, 3, H, W]) -> moments [B, 2*latent, H/8, W/8]
  Napi::Value Encode(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto live = Live(env);
    Shape s = ArgShape(info[1], "shape", 4);
    auto data = std::make_shared<std::vector<float>>(ArgF32(info[0], "image", numel(s)));
    return Submit<AutoencoderKL>(env, live, [data, s](Backend& be, AutoencoderKL& m) {
      return m.encode(be.from_host(data->data(), s));
    });
  }
};

Napi::FunctionReference* g_t5 = nullptr;
Napi::FunctionReference* g_dit = nullptr;
Napi::FunctionReference* g_vae = nullptr;

template <class Handle, class Model>
Napi::Object NewHandle(Napi::Env env, Napi::FunctionReference* ctor, std::shared_ptr<EngineCore> core,
                       std::shared_ptr<Model> model) {
  Napi::Object obj = ctor->New({});
  Handle::Unwrap(obj)->Attach(std::move(core), std::move(model));
  return obj;
}

}  // namespace

Napi::Object InitModels(Napi::Env env, Napi::Object exports) {
  // Per-environment constructor references, freed with the environment (worker threads too).
  auto make = [&](Napi::Function f) {
    auto* ref = new Napi::FunctionReference(Napi::Persistent(f));
    env.AddCleanupHook([ref] { delete ref; });
    return ref;
  };
  g_t5 = make(T5Handle::Init(env));
  g_dit = make(DiTHandle::Init(env));
  g_dit_cond = make(DiTConditioningHandle::Init(env));
  g_vae = make(VAEHandle::Init(env));
  return exports;
}

Napi::Object NewT5Handle(Napi::Env env, std::shared_ptr<EngineCore> core, std::shared_ptr<T5Encoder> model) {
  return NewHandle<T5Handle>(env, g_t5, std::move(core), std::move(model));
}
Napi::Object NewDiTHandle(Napi::Env env, std::shared_ptr<EngineCore> core, std::shared_ptr<PixArtDiT> model) {
  return NewHandle<DiTHandle>(env, g_dit, std::move(core), std::move(model));
}
Napi::Object NewVAEHandle(Napi::Env env, std::shared_ptr<EngineCore> core, std::shared_ptr<AutoencoderKL> model) {
  return NewHandle<VAEHandle>(env, g_vae, std::move(core), std::move(model));
}

}  // namespace pixart::addon
