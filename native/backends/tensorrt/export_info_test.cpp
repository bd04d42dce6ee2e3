// Reading an export folder's export.json (export_info.h) in the form lib/export/exportOnnx.ts
// writes: signature with named axes, recorded or computed file hashes, the model hash, and the
// errors for another format, a missing model or file, and an ONNX changed after export.
#include <doctest/doctest.h>

#include "export_info.h"
#include "sha256.h"
#include "test_util.h"

using namespace pixart;
using namespace pixart::trt;

namespace {

// An export folder with a fake transformer.onnx (+ .data) and an export.json describing it.
// `fields` are extra members of the model entry ("sha256", "bytes", "dataSha256", ...).
struct FakeExport {
  test::TempDir dir;
  std::string onnx = "not really onnx", data = "weights";
  void write(const std::string& fields, bool with_data = true, const std::string& header = R"("format": "pixart-node-onnx", "version": 1)") {
    test::write_file(dir / "transformer.onnx", onnx);
    if (with_data) test::write_file(dir / "transformer.onnx.data", data);
    const std::string data_field = with_data ? R"("dataFile": "transformer.onnx.data", )" : "";
    test::write_file(dir / "export.json", "{" + header + R"(, "source": "/models/PixArt", "created": "2026-11-26T00:00:00Z",
      "models": {"transformer": {"file": "transformer.onnx", )" + data_field + fields +
                                              R"("dtype": "float16", "quantization": "none", "opset": 21, "nodes": 9,
      "inputs": [{"name": "hidden_states", "dtype": "float16", "shape": ["batch", 4, "height", "width"]},
                 {"name": "timestep", "dtype": "float32", "shape": ["batch"]}],
      "outputs": [{"name": "sample", "dtype": "float16", "shape": ["batch", 8, "height", "width"]}]}}})");
  }
  std::string hashes() const {
    return R"("sha256": ")" + sha256_hex(onnx) + R"(", "dataSha256": ")" + sha256_hex(data) + R"(", )";
  }
};

}  // namespace

TEST_CASE("export.json: signature, dtypes, recorded hashes and sizes") {
  FakeExport e;
  e.write(e.hashes() + R"("bytes": 15, "dataBytes": 7, )");
  const ExportedModel m = read_export(e.dir.path(), "transformer");
  CHECK(m.kind == "transformer");
  CHECK(m.dtype == "float16");
  CHECK(m.quantization == "none");
  CHECK(m.onnx_path == e.dir / "transformer.onnx");
  CHECK(m.data_path == e.dir / "transformer.onnx.data");
  CHECK(m.onnx_sha256 == sha256_hex(e.onnx));
  CHECK(m.data_sha256 == sha256_hex(e.data));
  CHECK(m.model_hash() == sha256_hex("onnx=" + sha256_hex(e.onnx) + "\ndata=" + sha256_hex(e.data) + "\n"));
  REQUIRE(m.inputs.size() == 2);
  CHECK(m.inputs[0].shape_string() == "[batch, 4, height, width]");
  CHECK(m.inputs[0].dims[1].value == 4);
  CHECK(m.inputs[0].dims[2].axis == "height");
  CHECK(m.inputs[1].dtype == "float32");
  REQUIRE(m.output("sample"));
  CHECK(m.output("sample")->dims[1].value == 8);
  CHECK(m.input("nope") == nullptr);
  CHECK(canonical_dtype("float") == "float32");
  CHECK(canonical_dtype("half") == "float16");
  CHECK(canonical_dtype("complex64").empty());
}

TEST_CASE("export.json: missing hashes are computed; a changed ONNX is caught by size, or by hash with verify") {
  FakeExport e;
  e.write("");
  const ExportedModel m = read_export(e.dir.path(), "transformer");
  CHECK(m.onnx_sha256 == sha256_hex(e.onnx));
  CHECK(m.data_sha256 == sha256_hex(e.data));

  // Same size, other bytes: the recorded hash is trusted unless verify_hashes.
  const std::string old_hash = sha256_hex(std::string("NOT REALLY ONNX"));
  e.write(R"("sha256": ")" + old_hash + R"(", "bytes": 15, )");
  CHECK(read_export(e.dir.path(), "transformer").onnx_sha256 == old_hash);
  test::check_fails([&] { read_export(e.dir.path(), "transformer", true); }, StatusCode::kModelLoad,
                    "models.transformer.sha256: " + (e.dir / "transformer.onnx") + " has sha256 " + sha256_hex(e.onnx));
  // Another size: caught without hashing.
  e.write(R"("sha256": ")" + old_hash + R"(", "bytes": 16, )");
  test::check_fails([&] { read_export(e.dir.path(), "transformer"); }, StatusCode::kModelLoad,
                    "has 15 bytes, not the recorded 16 (the file changed after export; export again)");
  e.write(R"("dataBytes": 70, )");
  test::check_fails([&] { read_export(e.dir.path(), "transformer"); }, StatusCode::kModelLoad,
                    "models.transformer.dataBytes: " + (e.dir / "transformer.onnx.data") + " has 7 bytes");
}

TEST_CASE("export.json: no data file means an empty data hash, and a different model hash") {
  FakeExport e;
  e.write("", false);
  const ExportedModel m = read_export(e.dir.path(), "transformer");
  CHECK(m.data_path.empty());
  CHECK(m.data_sha256.empty());
  CHECK(m.model_hash() == sha256_hex("onnx=" + sha256_hex(e.onnx) + "\ndata=\n"));
}

TEST_CASE("export.json: errors name the file and the field") {
  FakeExport e;
  e.write("");
  test::check_fails([&] { read_export(e.dir.path(), "vae_decoder"); }, StatusCode::kModelLoad,
                    "models: no model \"vae_decoder\" (the export has: transformer)");
  test::check_fails([&] { read_export(e.dir / "missing", "transformer"); }, StatusCode::kModelLoad, "cannot open file");
  e.write(R"("sha256": "ABC", )");
  test::check_fails([&] { read_export(e.dir.path(), "transformer"); }, StatusCode::kModelLoad,
                    "models.transformer.sha256: not a sha256");
  e.write("");
  std::filesystem::remove(e.dir / "transformer.onnx.data");
  test::check_fails([&] { read_export(e.dir.path(), "transformer"); }, StatusCode::kModelLoad,
                    "models.transformer.dataFile: " + (e.dir / "transformer.onnx.data") + " does not exist");
  e.write("", true, R"("format": "something-else", "version": 1)");
  test::check_fails([&] { read_export(e.dir.path(), "transformer"); }, StatusCode::kModelLoad,
                    "format: not pixart-node-onnx");
  e.write("", true, R"("format": "pixart-node-onnx", "version": 2)");
  test::check_fails([&] { read_export(e.dir.path(), "transformer"); }, StatusCode::kModelLoad, "version 2 is not 1");
  test::write_file(e.dir / "export.json", R"({"format": "pixart-node-onnx", "version": 1, "models": {"transformer": {
      "file": "transformer.onnx", "dtype": "float16",
      "inputs": [{"name": "x", "dtype": "complex64", "shape": [1]}], "outputs": []}}})");
  test::check_fails([&] { read_export(e.dir.path(), "transformer"); }, StatusCode::kModelLoad,
                    "models.transformer.inputs[0].dtype: unknown dtype \"complex64\"");
}
