// What the TensorRT backend needs from an ONNX export folder's export.json: for one model
// (text_encoder, transformer, vae_decoder), its files, their sha256, and its input/output
// signature with named dynamic axes.
//
// export.json is written by lib/export/exportOnnx.ts (OnnxExportManifest). The fields read
// (everything else is ignored):
//   { "format": "pixart-node-onnx", "version": 1,
//     "models": { "<kind>": {
//       "file": "transformer.onnx", "sha256": "<hex>", "bytes": 123,         (sha256, bytes optional)
//       "dataFile": "transformer.onnx.data", "dataSha256": "<hex>", "dataBytes": 456,   (only with external data)
//       "dtype": "float16", "quantization": "none",                           (quantization optional)
//       "inputs":  [ { "name": "hidden_states", "dtype": "float16", "shape": ["batch", 4, "height", "width"] } ],
//       "outputs": [ ... same form ... ] } } }
// A shape entry is a fixed size (integer) or the name of a dynamic axis (string).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace pixart::trt {

// One dimension: a fixed size, or a named dynamic axis ("batch", "height", ...).
struct AxisDim {
  int64_t value = -1;  // fixed size when axis is empty
  std::string axis;
  bool dynamic() const { return !axis.empty(); }
};

struct TensorSpec {
  std::string name;
  std::string dtype;  // canonical: float32 float16 bfloat16 int64 int32 int8 uint8 bool
  std::vector<AxisDim> dims;
  std::string shape_string() const;  // e.g. "[batch, 4, height, width]"
};

struct ExportedModel {
  std::string kind;   // the key under "models"
  std::string dtype;         // the export's compute dtype as written (informational)
  std::string quantization;  // the text encoder's weight quantisation ("none", "int8", "int4")
  std::string onnx_path;
  std::string data_path;  // empty when the weights are inside the .onnx file
  std::string onnx_sha256;
  std::string data_sha256;  // empty when there is no data file
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;

  // One hash for the model's bytes: sha256 over both file hashes. Part of the cache key.
  std::string model_hash() const;
  const TensorSpec* input(const std::string& name) const;
  const TensorSpec* output(const std::string& name) const;
};

// Reads <export_dir>/export.json for `kind`. Missing sha256 values are computed from the files;
// a file whose size differs from the recorded bytes fails at once (cheap), and with verify_hashes
// the recorded sha256 are recomputed and a mismatch fails (the ONNX changed after export).
// Failures: EngineError(kModelLoad) naming the file and field.
ExportedModel read_export(const std::string& export_dir, const std::string& kind, bool verify_hashes = false);

// "float" -> "float32", "half"/"fp16" -> "float16", ...; empty for a type the backend does not know.
std::string canonical_dtype(const std::string& name);

}  // namespace pixart::trt
