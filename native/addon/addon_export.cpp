// exportOnnx(options) -> { promise: Promise<summary>, cancel() }: ONNX export of one component (native/export) on the
// libuv thread pool, so the event loop keeps turning while weights are converted and written.
#include <napi.h>

#include <atomic>
#include <memory>

#include "addon_engine.h"
#include "args.h"
#include "core/status.h"
#include "export/model_export.h"

namespace pixart::addon {

namespace {

class ExportWorker final : public Napi::AsyncWorker {
 public:
  ExportWorker(Napi::Env env, onnx::ExportOptions opt, std::shared_ptr<std::atomic<bool>> cancel)
      : Napi::AsyncWorker(env), opt_(std::move(opt)), cancel_(std::move(cancel)),
        deferred_(Napi::Promise::Deferred::New(env)) {
    opt_.cancel = cancel_.get();
  }
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override { status_ = guarded([&] { summary_ = onnx::export_model(opt_); }); }

  void OnOK() override {
    Napi::Env env = Env();
    if (!status_.ok()) {
      deferred_.Reject(MakeError(env, status_).Value());
      return;
    }
    auto infos = [&](const std::vector<onnx::ValueInfo>& vs) {
      Napi::Array a = Napi::Array::New(env, vs.size());
      for (size_t i = 0; i < vs.size(); i++) {
        Napi::Object o = Napi::Object::New(env);
        o.Set("name", vs[i].name);
        o.Set("dtype", onnx::elem_type_name(vs[i].type));
        Napi::Array dims = Napi::Array::New(env, vs[i].dims.size());
        for (size_t d = 0; d < vs[i].dims.size(); d++) {
          if (vs[i].dims[d].param.empty()) dims.Set(uint32_t(d), Napi::Number::New(env, double(vs[i].dims[d].value)));
          else dims.Set(uint32_t(d), Napi::String::New(env, vs[i].dims[d].param));
        }
        o.Set("shape", dims);
        a.Set(uint32_t(i), o);
      }
      return a;
    };
    Napi::Object o = Napi::Object::New(env);
    o.Set("model", onnx::model_kind_name(summary_.kind));
    o.Set("dtype", onnx::elem_type_name(summary_.dtype));
    o.Set("quantization", weight_quant_name(summary_.quant));
    o.Set("inputs", infos(summary_.inputs));
    o.Set("outputs", infos(summary_.outputs));
    o.Set("nodes", double(summary_.nodes));
    o.Set("initializers", double(summary_.initializers));
    o.Set("opset", double(summary_.opset));
    o.Set("modelBytes", double(summary_.files.model_bytes));
    o.Set("dataBytes", double(summary_.files.data_bytes));
    o.Set("dataFile", summary_.files.data_file);
    deferred_.Resolve(o);
  }

 private:
  onnx::ExportOptions opt_;
  std::shared_ptr<std::atomic<bool>> cancel_;  // shared with the job's cancel() function
  Napi::Promise::Deferred deferred_;
  Status status_;
  onnx::ExportSummary summary_{};
};

// exportOnnx({ model, folder, weights?, out, dtype?, quantization?, externalData? })
Napi::Value ExportOnnx(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw TypeError(env, "exportOnnx: options must be an object");
  Napi::Object a = info[0].As<Napi::Object>();
  auto opt_string = [&](const char* key, const char* fallback) {
    return a.Has(key) && !a.Get(key).IsUndefined() ? ArgString(a.Get(key), key) : std::string(fallback);
  };
  // Type errors throw here (TypeError); value errors below become typed engine errors.
  const std::string model = ArgString(a.Get("model"), "model"), folder = ArgString(a.Get("folder"), "folder"),
                    out = ArgString(a.Get("out"), "out"), weights = opt_string("weights", ""),
                    dtype = opt_string("dtype", "float32"), quant = opt_string("quantization", "none"),
                    ext = opt_string("externalData", "auto");
  onnx::ExportOptions opt;
  const Status s = guarded([&] {
    opt.kind = onnx::parse_model_kind(model);
    opt.folder = folder, opt.out = out, opt.weights = weights;
    if (dtype == "float32") opt.dtype = onnx::ElemType::kFloat;
    else if (dtype == "float16") opt.dtype = onnx::ElemType::kFloat16;
    else if (dtype == "bfloat16") opt.dtype = onnx::ElemType::kBFloat16;
    else fail(StatusCode::kInvalidArgument, "exportOnnx: dtype must be float32, float16 or bfloat16, got " + dtype);
    opt.quant = parse_weight_quant(quant);
    if (ext == "auto") opt.external = onnx::ExternalData::kAuto;
    else if (ext == "always") opt.external = onnx::ExternalData::kAlways;
    else if (ext == "never") opt.external = onnx::ExternalData::kNever;
    else fail(StatusCode::kInvalidArgument, "exportOnnx: externalData must be auto, always or never, got " + ext);
  });
  if (!s.ok()) throw MakeError(env, s);
  auto cancel = std::make_shared<std::atomic<bool>>(false);
  auto* w = new ExportWorker(env, std::move(opt), cancel);
  Napi::Object job = Napi::Object::New(env);
  job.Set("promise", w->Promise());
  // cancel(): the export stops at its next step (between traces or weights) and rejects with
  // ERR_PIXART_CANCELLED; the flag outlives the worker through the shared_ptr.
  job.Set("cancel", Napi::Function::New(env, [cancel](const Napi::CallbackInfo&) { cancel->store(true); }));
  w->Queue();
  return job;
}

}  // namespace

void InitExport(Napi::Env env, Napi::Object exports) { exports.Set("exportOnnx", Napi::Function::New(env, ExportOnnx)); }

}  // namespace pixart::addon
