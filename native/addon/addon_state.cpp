#include "addon_state.h"

#include <string>
#include <variant>
#include <vector>

#include "args.h"
#include "core/state_program.h"

namespace pixart::addon {

namespace {

Napi::FunctionReference* g_state = nullptr;

class StateTensorHandle final : public Napi::ObjectWrap<StateTensorHandle> {
 public:
  explicit StateTensorHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<StateTensorHandle>(info) {}
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "StateTensor",
                       {InstanceMethod("read", &StateTensorHandle::Read), InstanceMethod("dispose", &StateTensorHandle::Dispose),
                        InstanceAccessor("disposed", &StateTensorHandle::Disposed, nullptr),
                        InstanceAccessor("shape", &StateTensorHandle::ShapeJs, nullptr)});
  }
  void Attach(std::shared_ptr<EngineCore> core, Tensor t) {
    core_ = std::move(core);
    shape_ = t.shape;
    t_ = std::move(t);
  }
  ForeignState Any(const std::string& name) const {
    if (!t_.defined()) throw TypeError(Env(), name + " was disposed");
    return {core_, t_};
  }
  Tensor For(const EngineCore& core, const std::string& name) const {
    ForeignState f = Any(name);
    if (f.core->backend.get() != core.backend.get()) throw TypeError(Env(), name + " belongs to another engine");
    return f.tensor;
  }

 private:
  // read() -> Promise<Float32Array>: the values copied into JS memory, after the queued work.
  Napi::Value Read(const Napi::CallbackInfo& info) {
    if (!t_.defined()) throw TypeError(info.Env(), "this state tensor was disposed");
    Tensor t = t_;
    class ReadJob final : public Job {
     public:
      ReadJob(Napi::Env env, std::shared_ptr<EngineCore> core, Tensor t) : Job(env), core_(std::move(core)), t_(std::move(t)) {}
      void Execute() override {
        out_.resize(size_t(t_.numel()));
        core_->backend->state_to_host(t_, out_.data());
      }
      Napi::Value Result(Napi::Env env) override {
        auto arr = Napi::Float32Array::New(env, out_.size());
        std::copy(out_.begin(), out_.end(), arr.Data());
        return arr;
      }

     private:
      std::shared_ptr<EngineCore> core_;
      Tensor t_;
      std::vector<float> out_;
    };
    return core_->thread->Submit(info.Env(), std::make_unique<ReadJob>(info.Env(), core_, std::move(t)));
  }
  // Drops this handle's reference; a job still using the tensor holds its own.
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    t_ = Tensor();
    core_.reset();
    return info.Env().Undefined();
  }
  Napi::Value Disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !t_.defined()); }
  Napi::Value ShapeJs(const Napi::CallbackInfo& info) {
    Napi::Array a = Napi::Array::New(info.Env(), shape_.size());
    for (size_t i = 0; i < shape_.size(); i++) a.Set(uint32_t(i), Napi::Number::New(info.Env(), double(shape_[i])));
    return a;
  }

  Shape shape_;  // kept after dispose(), like a typed array's length
  std::shared_ptr<EngineCore> core_;
  Tensor t_;
};

// A shape of any rank 1..8 (each dimension >= 1).
Shape AnyShape(const Napi::Value& v, const char* name) {
  if (!v.IsArray() || v.As<Napi::Array>().Length() < 1 || v.As<Napi::Array>().Length() > 8)
    throw TypeError(v.Env(), std::string(name) + " must be an array of 1 to 8 positive integers");
  return ArgShape(v, name, v.As<Napi::Array>().Length());
}

class ProgramJob final : public Job {
 public:
  using Input = std::variant<Tensor, std::vector<float>>;
  ProgramJob(Napi::Env env, std::shared_ptr<EngineCore> core, StateProgram p, std::vector<Input> inputs)
      : Job(env), core_(std::move(core)), p_(std::move(p)), inputs_(std::move(inputs)) {}
  void Execute() override {
    Backend& be = *core_->backend;
    std::vector<Tensor> in;
    for (auto& x : inputs_)
      in.push_back(std::holds_alternative<Tensor>(x) ? std::get<Tensor>(x)
                                                     : be.state_from_host(std::get<std::vector<float>>(x).data(), p_.shape));
    inputs_.clear();  // host copies and references released on the engine thread
    out_ = be.run_state_program(p_, in);
  }
  Napi::Value Result(Napi::Env env) override {
    Napi::Array a = Napi::Array::New(env, out_.size());
    for (size_t k = 0; k < out_.size(); k++) a.Set(uint32_t(k), NewStateTensor(env, core_, std::move(out_[k])));
    return a;
  }

 private:
  std::shared_ptr<EngineCore> core_;
  StateProgram p_;
  std::vector<Input> inputs_;
  std::vector<Tensor> out_;
};

}  // namespace

void InitState(Napi::Env env) {
  g_state = new Napi::FunctionReference(Napi::Persistent(StateTensorHandle::Init(env)));
  env.AddCleanupHook([] {
    delete g_state;
    g_state = nullptr;
  });
}

Napi::Object NewStateTensor(Napi::Env env, std::shared_ptr<EngineCore> core, Tensor t) {
  Napi::Object obj = g_state->New({});
  StateTensorHandle::Unwrap(obj)->Attach(std::move(core), std::move(t));
  return obj;
}

bool IsStateTensor(const Napi::Value& v) { return v.IsObject() && v.As<Napi::Object>().InstanceOf(g_state->Value()); }

Tensor StateTensorArg(const Napi::Value& v, const EngineCore& core, const std::string& name) {
  if (!IsStateTensor(v)) throw TypeError(v.Env(), name + " must be a StateTensor");
  return StateTensorHandle::Unwrap(v.As<Napi::Object>())->For(core, name);
}

void F32OrStateArg(const Napi::Value& v, const EngineCore& core, const std::string& name, const Shape& shape,
                   const std::string& shape_name, Tensor* state, std::vector<float>* data) {
  if (!IsStateTensor(v)) {
    *data = ArgF32(v, name.c_str(), numel(shape));
    return;
  }
  *state = StateTensorArg(v, core, name);
  if (state->numel() != numel(shape))
    throw TypeError(v.Env(), name + " has " + std::to_string(state->numel()) + " values; " + shape_name + " " + shape_str(shape) +
                                 " needs " + std::to_string(numel(shape)));
}

ForeignState StateTensorAnyEngine(const Napi::Value& v, const std::string& name) {
  if (!IsStateTensor(v)) throw TypeError(v.Env(), name + " must be a StateTensor");
  return StateTensorHandle::Unwrap(v.As<Napi::Object>())->Any(name);
}

Napi::Value GatherState(const Napi::CallbackInfo& info, std::shared_ptr<EngineCore> core) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray()) throw TypeError(env, "parts must be an array of StateTensors");
  Napi::Array arr = info[0].As<Napi::Array>();
  std::vector<ForeignState> parts;
  for (uint32_t k = 0; k < arr.Length(); k++) parts.push_back(StateTensorAnyEngine(arr.Get(k), "parts[" + std::to_string(k) + "]"));
  const std::vector<int32_t> flat = ArgI32(info[1], "rows", -1);
  if (flat.empty() || flat.size() % 2 != 0) throw TypeError(env, "rows must hold (part, row) pairs");
  std::vector<std::pair<int32_t, int64_t>> rows;
  for (size_t k = 0; k < flat.size(); k += 2) rows.emplace_back(flat[k], int64_t(flat[k + 1]));
  // The parts keep their engines alive while the job runs.
  return core->thread->Submit(env, std::make_unique<StateJob>(env, core, [parts, rows](Backend& be) {
    std::vector<StatePart> ps;
    for (const ForeignState& f : parts) ps.push_back({f.core->backend.get(), f.tensor});
    return be.gather_state_rows(ps, rows);
  }));
}

Napi::Value UploadState(const Napi::CallbackInfo& info, std::shared_ptr<EngineCore> core) {
  Napi::Env env = info.Env();
  Shape shape = AnyShape(info[1], "shape");
  auto data = std::make_shared<std::vector<float>>(ArgF32(info[0], "data", numel(shape)));
  return core->thread->Submit(env, std::make_unique<StateJob>(env, core, [data, shape](Backend& be) {
    return be.state_from_host(data->data(), shape);
  }));
}

Napi::Value RunStateProgram(const Napi::CallbackInfo& info, std::shared_ptr<EngineCore> core) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw TypeError(env, "runStateProgram() takes { shape, code, scalars, inputs, outputs }");
  Napi::Object o = info[0].As<Napi::Object>();
  StateProgram p;
  p.shape = AnyShape(o.Get("shape"), "shape");
  const std::vector<int32_t> code = ArgI32(o.Get("code"), "code", -1);
  const Napi::Value sv = o.Get("scalars");
  if (!sv.IsTypedArray() || sv.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
    throw TypeError(env, "scalars must be a Float64Array");
  Napi::Float64Array scalars = sv.As<Napi::Float64Array>();
  if (code.size() % 4 != 0 || scalars.ElementLength() * 2 != code.size())
    throw TypeError(env, "code must hold 4 integers and scalars 2 numbers per instruction");
  if (code.size() / 4 > size_t(kStateMaxCode))
    throw TypeError(env, "a state program has at most " + std::to_string(kStateMaxCode) + " instructions");
  for (size_t k = 0; k < code.size() / 4; k++) {
    p.code.push_back(state_instr(static_cast<StateOp>(code[4 * k]), code[4 * k + 1], code[4 * k + 2], code[4 * k + 3],
                                 scalars[2 * k], scalars[2 * k + 1]));
  }
  if (!o.Get("outputs").IsNumber()) throw TypeError(env, "outputs must be a number");
  const double outs = o.Get("outputs").As<Napi::Number>().DoubleValue();
  if (!(outs >= 1 && outs <= kStateMaxTensors && outs == double(int32_t(outs))))
    throw TypeError(env, "outputs must be an integer in 1.." + std::to_string(kStateMaxTensors));
  p.num_outputs = int32_t(outs);
  if (!o.Get("inputs").IsArray()) throw TypeError(env, "inputs must be an array of StateTensors and Float32Arrays");
  Napi::Array arr = o.Get("inputs").As<Napi::Array>();
  if (arr.Length() > uint32_t(kStateMaxTensors))
    throw TypeError(env, "a state program takes at most " + std::to_string(kStateMaxTensors) + " inputs");
  std::vector<ProgramJob::Input> inputs;
  for (uint32_t k = 0; k < arr.Length(); k++) {
    const std::string name = "inputs[" + std::to_string(k) + "]";
    Napi::Value v = arr.Get(k);
    if (v.IsTypedArray()) inputs.emplace_back(ArgF32(v, name.c_str(), numel(p.shape)));
    else inputs.emplace_back(StateTensorArg(v, *core, name));
  }
  p.num_inputs = int32_t(inputs.size());
  return core->thread->Submit(env, std::make_unique<ProgramJob>(env, core, std::move(p), std::move(inputs)));
}

}  // namespace pixart::addon
