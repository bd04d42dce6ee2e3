// ONNX export: the tiny fixture models export with dynamic axes, the files are well formed,
// and what cannot be exported fails with a typed error. Running the exported graphs against
// the CPU backend is test/onnx.test.ts (onnxruntime-node).
#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <sys/stat.h>

#include "core/status.h"
#include "export/graph_recorder.h"
#include "export/model_export.h"
#include "test_support.h"

namespace pixart::onnx {
namespace {

std::string tmp_path(const std::string& name) {
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir && *dir ? dir : "/tmp") + "/pixart_export_test_" + name;
}

int64_t file_size(const std::string& p) {
  struct stat st {};
  return stat(p.c_str(), &st) == 0 ? int64_t(st.st_size) : -1;
}

std::string dims_str(const ValueInfo& v) {
  std::string s = v.name + ":" + elem_type_name(v.type) + "[";
  for (size_t i = 0; i < v.dims.size(); i++) s += (i ? "," : "") + (v.dims[i].param.empty() ? std::to_string(v.dims[i].value) : v.dims[i].param);
  return s + "]";
}

StatusCode code_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const EngineError& e) {
    return e.code();
  }
  return StatusCode::kOk;
}

std::string message_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const EngineError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("export: the tiny transformer has dynamic batch, height, width and sequence") {
  ExportOptions o;
  o.kind = ModelKind::kTransformer;
  o.folder = test::fixtures_dir() + "/pixart-tiny/transformer";
  o.out = tmp_path("transformer.onnx");
  const ExportSummary s = export_model(o);
  REQUIRE(s.inputs.size() == 6);
  CHECK(dims_str(s.inputs[0]) == "hidden_states:float32[batch,4,height,width]");
  CHECK(dims_str(s.inputs[1]) == "timestep:float32[batch]");
  CHECK(dims_str(s.inputs[3]) == "encoder_attention_mask:float32[batch,sequence]");
  CHECK(dims_str(s.inputs[4]) == "resolution:float32[batch,2]");
  REQUIRE(s.outputs.size() == 1);
  CHECK(dims_str(s.outputs[0]) == "sample:float32[batch,8,height,width]");
  CHECK(s.files.data_file.empty());
  CHECK(file_size(o.out) == s.files.model_bytes);
  CHECK(s.opset == 21);
  std::remove(o.out.c_str());
}

TEST_CASE("export: float16 transformer and VAE decoder keep float32 conditioning inputs") {
  ExportOptions o;
  o.kind = ModelKind::kTransformer;
  o.folder = test::fixtures_dir() + "/pixart-tiny/transformer";
  o.out = tmp_path("transformer16.onnx");
  o.dtype = ElemType::kFloat16;
  ExportSummary s = export_model(o);
  CHECK(dims_str(s.inputs[0]) == "hidden_states:float16[batch,4,height,width]");
  CHECK(dims_str(s.inputs[1]) == "timestep:float32[batch]");
  CHECK(dims_str(s.outputs[0]) == "sample:float16[batch,8,height,width]");
  std::remove(o.out.c_str());

  o.kind = ModelKind::kVaeDecoder;
  o.folder = test::fixtures_dir() + "/pixart-tiny/vae";
  o.out = tmp_path("vae16.onnx");
  s = export_model(o);
  REQUIRE(s.inputs.size() == 1);
  CHECK(dims_str(s.inputs[0]) == "latent_sample:float16[batch,4,height,width]");
  // The tiny VAE has four blocks: three 2x upsamplings.
  CHECK(dims_str(s.outputs[0]) == "sample:float16[batch,3,8*height,8*width]");
  std::remove(o.out.c_str());
}

TEST_CASE("export: the text encoder, quantised, with external data") {
  for (WeightQuant q : {WeightQuant::kNone, WeightQuant::kInt8, WeightQuant::kInt4}) {
    ExportOptions o;
    o.kind = ModelKind::kTextEncoder;
    o.folder = test::fixtures_dir() + "/pixart-tiny/text_encoder";
    o.out = tmp_path(std::string("t5_") + weight_quant_name(q) + ".onnx");
    o.quant = q;
    o.external = ExternalData::kAlways;
    const ExportSummary s = export_model(o);
    REQUIRE(s.inputs.size() == 2);
    CHECK(dims_str(s.inputs[0]) == "input_ids:int64[batch,sequence]");
    CHECK(dims_str(s.outputs[0]) == "last_hidden_state:float32[batch,sequence,64]");
    CHECK(s.files.data_file == std::string("pixart_export_test_t5_") + weight_quant_name(q) + ".onnx.data");
    CHECK(file_size(o.out + ".data") == s.files.data_bytes);
    CHECK(s.files.data_bytes > 0);
    std::remove(o.out.c_str());
    std::remove((o.out + ".data").c_str());
  }
}

TEST_CASE("export: options a model does not take are typed errors, and nothing is written") {
  ExportOptions o;
  o.kind = ModelKind::kTransformer;
  o.folder = test::fixtures_dir() + "/pixart-tiny/transformer";
  o.out = tmp_path("bad.onnx");
  o.quant = WeightQuant::kInt8;
  CHECK(code_of([&] { export_model(o); }) == StatusCode::kInvalidArgument);
  o.quant = WeightQuant::kNone;
  o.kind = ModelKind::kTextEncoder;
  o.folder = test::fixtures_dir() + "/pixart-tiny/text_encoder";
  o.dtype = ElemType::kFloat16;
  CHECK(message_of([&] { export_model(o); }).find("overflows in float16") != std::string::npos);
  o.dtype = ElemType::kBFloat16;
  o.out = tmp_path("t5_bf16.onnx");
  const ExportSummary bf = export_model(o);
  CHECK(dims_str(bf.outputs[0]) == "last_hidden_state:bfloat16[batch,sequence,64]");
  std::remove(o.out.c_str());
  o.out = tmp_path("bad.onnx");
  o.dtype = ElemType::kFloat;
  o.folder = test::fixtures_dir() + "/no-such-model";
  CHECK(code_of([&] { export_model(o); }) == StatusCode::kModelLoad);
  CHECK(code_of([] { parse_model_kind("unet"); }) == StatusCode::kInvalidArgument);
  CHECK(file_size(o.out) == -1);
  CHECK(file_size(o.out + ".partial") == -1);
}

TEST_CASE("export: the recorder rejects graphs it cannot express and names the op") {
  // Reading a value back (what tiled decoding does) cannot be a graph.
  {
    GraphRecorder r(ElemType::kFloat);
    r.begin_trace({{"n", 2}});
    Tensor x = r.input("x", ElemType::kFloat, {"n", "3"});
    std::vector<float> out(6);
    const std::string msg = message_of([&] { r.to_host(x, out.data()); });
    CHECK(msg.find("to_host") != std::string::npos);
  }
  // Host data that changes with the sizes (a constant baked per trace) is caught at finish().
  {
    GraphRecorder r(ElemType::kFloat);
    for (int64_t n : {2, 3, 4}) {
      r.begin_trace({{"n", n}});
      Tensor x = r.input("x", ElemType::kFloat, {"n", "3"});
      std::vector<int32_t> ids(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; i++) ids[size_t(i)] = int32_t(i);
      r.output("y", r.embedding(x, ids.data(), n));
      r.end_trace();
    }
    const std::string msg = message_of([&] { r.finish("g"); });
    CHECK(msg.find("depends on the input sizes") != std::string::npos);
  }
  // A view whose dims are products of the symbols becomes a computed Reshape.
  {
    GraphRecorder r(ElemType::kFloat);
    for (auto [a, b] : std::vector<std::pair<int64_t, int64_t>>{{2, 3}, {5, 3}, {2, 7}, {4, 5}}) {
      r.begin_trace({{"a", a}, {"b", b}});
      Tensor x = r.input("x", ElemType::kFloat, {"a", "b", "6"});
      r.output("y", r.scale(x.view({a * b * 2, 3}), 2.f));
      r.end_trace();
    }
    const Graph g = r.finish("g");
    REQUIRE(g.outputs.size() == 1);
    CHECK(g.outputs[0].dims[0].param == "2*a*b");
    CHECK(g.outputs[0].dims[1].value == 3);
  }
  // A dim that is not a product of powers of the sizes (a + b) is refused.
  {
    GraphRecorder r(ElemType::kFloat);
    for (auto [a, b] : std::vector<std::pair<int64_t, int64_t>>{{2, 3}, {5, 3}, {2, 7}, {4, 5}}) {
      r.begin_trace({{"a", a}, {"b", b}});
      Tensor x = r.input("x", ElemType::kFloat, {"a", "4"});
      Tensor y = r.input("y", ElemType::kFloat, {"b", "4"});
      r.output("z", r.node1("Concat", {&x, &y}, {attr_int("axis", 0)}, ElemType::kFloat, {a + b, 4}));
      r.end_trace();
    }
    CHECK(message_of([&] { r.finish("g"); }).find("not a product of powers") != std::string::npos);
  }
}

}  // namespace pixart::onnx
