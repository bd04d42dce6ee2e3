// Registration only: the JS-visible surface is described by lib/native/AddonTypes.ts.
#include <napi.h>

#include "addon_engine.h"
#include "addon_state.h"
#include "core/backend_registry.h"

namespace pixart::addon {

namespace {
Napi::Value ProbeCuda(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string dir = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : AddonDir();
  DeviceProbe p;
  Status s = guarded([&] { p = probe_cuda(dir); });
  if (!s.ok()) throw MakeError(env, s);
  Napi::Object o = Napi::Object::New(env);
  o.Set("libraryFound", p.library_found);
  o.Set("libraryPath", p.library_path);
  o.Set("error", p.error);
  o.Set("deviceCount", p.device_count);
  o.Set("devices", p.devices);
  return o;
}
}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Engine", Engine::Init(env));
  exports.Set("probeCuda", Napi::Function::New(env, ProbeCuda));
  exports.Set("abiVersion", Napi::Number::New(env, 1));
  InitExport(env, exports);
  InitState(env);
  return InitModels(env, exports);
}

}  // namespace pixart::addon

static Napi::Object InitPixart(Napi::Env env, Napi::Object exports) { return pixart::addon::Init(env, exports); }
NODE_API_MODULE(pixart, InitPixart)
