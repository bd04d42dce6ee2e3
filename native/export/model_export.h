// Export of the three PixArt components to ONNX from the same model code the engine runs
// (native/models/*, recorded by GraphRecorder), with dynamic batch / size / sequence axes.
//
// Interfaces (every dim named here is dynamic):
//   text_encoder  input_ids int64 [batch, sequence], attention_mask int64 [batch, sequence]
//                 -> last_hidden_state T [batch, sequence, d_model]. T float32 or bfloat16 (T5
//                 overflows in float16; its norms compute in float32 either way); weights in T,
//                 or int8 / int4 through DequantizeLinear (per output channel / blocks of 64).
//   transformer   hidden_states T [batch, C, height, width] (latent size), timestep float32 [batch],
//                 encoder_hidden_states T [batch, sequence, caption_channels],
//                 encoder_attention_mask float32 [batch, sequence] (1 attend, 0 padding),
//                 and with use_additional_conditions resolution float32 [batch, 2] (pixels h, w)
//                 and aspect_ratio float32 [batch] -> sample T [batch, out_channels, height, width].
//   vae_decoder   latent_sample T [batch, latent_channels, height, width] (latents / scaling_factor)
//                 -> sample T [batch, out_channels, s*height, s*width], s = the VAE's scale factor.
// T is the export's dtype: float32, float16 or bfloat16 (not float16 for the text encoder, not
// bfloat16 for the VAE decoder: opset 21's Conv has no bfloat16). The host-side preparation every backend shares
// (timestep / size sinusoids, position table, mask biases, T5's position buckets) is built
// in the graph from these inputs, so the files run on their own in any ONNX runtime.
#pragma once
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "../core/quant.h"
#include "onnx_writer.h"

namespace pixart::onnx {

enum class ModelKind { kTextEncoder, kTransformer, kVaeDecoder };
const char* model_kind_name(ModelKind k);
ModelKind parse_model_kind(const std::string& s);  // throws kInvalidArgument

enum class ExternalData { kAuto, kAlways, kNever };

struct ExportOptions {
  ModelKind kind = ModelKind::kTransformer;
  std::string folder;    // the component's diffusers/transformers folder (config.json + safetensors)
  std::string weights;   // optional weights file/index overriding the folder's
  std::string out;       // the .onnx path to write
  ElemType dtype = ElemType::kFloat;  // kFloat, kFloat16 or kBFloat16
  WeightQuant quant = WeightQuant::kNone;  // text_encoder only
  ExternalData external = ExternalData::kAuto;  // auto: external above 1 GiB of weights
  // Polled between the steps (load, each trace, each weight written); when set the export
  // stops with kCancelled and leaves no file behind.
  const std::atomic<bool>* cancel = nullptr;
};

struct ExportSummary {
  ModelKind kind;
  ElemType dtype;
  WeightQuant quant;
  std::vector<ValueInfo> inputs, outputs;
  int64_t nodes = 0, initializers = 0, opset = 0;
  WriteResult files;
};

// Throws EngineError: kInvalidArgument for options the kind does not take, kModelLoad for a bad
// folder, kUnsupported for a model (or op) the exporter cannot express with dynamic axes.
ExportSummary export_model(const ExportOptions& opt);

}  // namespace pixart::onnx
