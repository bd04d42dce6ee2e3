// JS classes: Engine (a backend + its engine thread) and the three model handles it loads.
#pragma once
#include <napi.h>

#include <memory>

#include "core/backend.h"
#include "engine_thread.h"

namespace pixart {
class T5Encoder;
class PixArtDiT;
class AutoencoderKL;
}  // namespace pixart

namespace pixart::addon {

// What every model handle shares: the backend, the engine thread, disposal.
struct EngineCore {
  std::shared_ptr<Backend> backend;
  std::shared_ptr<EngineThread> thread;
};

class Engine : public Napi::ObjectWrap<Engine> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit Engine(const Napi::CallbackInfo& info);
  ~Engine() override;

 private:
  Napi::Value LoadT5(const Napi::CallbackInfo& info);
  Napi::Value LoadDiT(const Napi::CallbackInfo& info);
  Napi::Value LoadVAE(const Napi::CallbackInfo& info);
  Napi::Value Pending(const Napi::CallbackInfo& info);
  Napi::Value EmptyCache(const Napi::CallbackInfo& info);
  Napi::Value MemoryStats(const Napi::CallbackInfo& info);
  Napi::Value ResetPeakMemory(const Napi::CallbackInfo& info);
  Napi::Value UploadState(const Napi::CallbackInfo& info);
  Napi::Value RunStateProgram(const Napi::CallbackInfo& info);
  Napi::Value GatherState(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value Device(const Napi::CallbackInfo& info);
  Napi::Value Threads(const Napi::CallbackInfo& info);
  std::shared_ptr<EngineCore> Core(Napi::Env env);

  std::shared_ptr<EngineCore> core_;
  std::string device_;
  int threads_ = 0;
};

// The folder this addon was loaded from: GPU backend libraries are looked up next to it.
std::string AddonDir();

Napi::Object InitModels(Napi::Env env, Napi::Object exports);
// exportOnnx (addon_export.cpp).
void InitExport(Napi::Env env, Napi::Object exports);
// Constructors for model handles (set up by InitModels), used by Engine's load jobs.
Napi::Object NewT5Handle(Napi::Env env, std::shared_ptr<EngineCore> core, std::shared_ptr<T5Encoder> model);
Napi::Object NewDiTHandle(Napi::Env env, std::shared_ptr<EngineCore> core, std::shared_ptr<PixArtDiT> model);
Napi::Object NewVAEHandle(Napi::Env env, std::shared_ptr<EngineCore> core, std::shared_ptr<AutoencoderKL> model);

}  // namespace pixart::addon
