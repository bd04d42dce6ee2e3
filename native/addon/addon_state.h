// StateTensor: a float32 tensor a denoising loop keeps on the engine (core/backend.h, "float32
// state": the latents, the model output, the scheduler's history), and the engine calls that make
// and combine them (Engine.uploadState, Engine.runStateProgram). Reading one back into JS is
// explicit (read()).
#pragma once
#include <napi.h>

#include <memory>
#include <string>
#include <vector>

#include "addon_engine.h"
#include "core/tensor.h"

namespace pixart::addon {

void InitState(Napi::Env env);
Napi::Object NewStateTensor(Napi::Env env, std::shared_ptr<EngineCore> core, Tensor t);
bool IsStateTensor(const Napi::Value& v);
// The tensor of a StateTensor object, checked to be live and to belong to `core`'s engine.
Tensor StateTensorArg(const Napi::Value& v, const EngineCore& core, const std::string& name);

// An argument that is either a Float32Array or a StateTensor of `core`'s engine, of numel(shape)
// values (`shape_name` names the shape argument in the message): a StateTensor goes to *state, an
// array's values to *data.
void F32OrStateArg(const Napi::Value& v, const EngineCore& core, const std::string& name, const Shape& shape,
                   const std::string& shape_name, Tensor* state, std::vector<float>* data);
// What F32OrStateArg read, as a compute tensor of `shape` on `be` (on the engine thread).
inline Tensor F32OrStateTensor(Backend& be, const Tensor& state, const std::vector<float>& data, const Shape& shape) {
  return state.defined() ? be.from_state(state).view(shape) : be.from_host(data.data(), shape);
}

// A StateTensor of any engine with the engine core that keeps its backend alive.
struct ForeignState {
  std::shared_ptr<EngineCore> core;
  Tensor tensor;
};
ForeignState StateTensorAnyEngine(const Napi::Value& v, const std::string& name);

// Engine.gatherState(parts: StateTensor[] (of any engine), rows: Int32Array of (part, row) pairs)
//   -> Promise<StateTensor> on this engine (Backend::gather_state_rows).
Napi::Value GatherState(const Napi::CallbackInfo& info, std::shared_ptr<EngineCore> core);

// Engine.uploadState(data: Float32Array, shape) -> Promise<StateTensor>
Napi::Value UploadState(const Napi::CallbackInfo& info, std::shared_ptr<EngineCore> core);
// Engine.runStateProgram({ shape, code: Int32Array, scalars: Float64Array, inputs, outputs })
//   -> Promise<StateTensor[]>; code holds (op, dst, a, b) per instruction, scalars (c, d), inputs
//   are StateTensors or Float32Arrays (uploaded with the job) of numel(shape) values.
Napi::Value RunStateProgram(const Napi::CallbackInfo& info, std::shared_ptr<EngineCore> core);

// A job producing one float32 state tensor that stays on the engine and resolves to its
// StateTensor (a compute result is made state with Backend::to_state inside `fn`).
class StateJob final : public Job {
 public:
  using Fn = std::function<Tensor(Backend&)>;
  StateJob(Napi::Env env, std::shared_ptr<EngineCore> core, Fn fn) : Job(env), core_(std::move(core)), fn_(std::move(fn)) {}
  void Execute() override { out_ = fn_(*core_->backend); }
  Napi::Value Result(Napi::Env env) override { return NewStateTensor(env, core_, std::move(out_)); }

 private:
  std::shared_ptr<EngineCore> core_;
  Fn fn_;
  Tensor out_;
};

}  // namespace pixart::addon
