// Reading an export folder's export.json (export_info.h): signature with named axes, recorded or
// computed file hashes, the model hash, and the errors for a missing model, file or a changed ONNX.
#include <doctest/doctest.h>

#include "export_info.h"
#include "sha256.h"
#include "test_util.h"

using namespace pixart;
using namespace pixart::trt;

namespace {

// An export folder with a fake transformer.onnx (+ .data) and an export.json describing it.
struct FakeExport {
  test::TempDir dir;
  std::string onnx = "not really onnx", data = "weights";
  void write(const std::string& onnx_hash_field, const std::string& data_hash_field, bool with_data = true) {
    test::write_file(dir / "transformer.onnx", onnx);
    if (with_data) test::write_file(dir / "transformer.onnx.data", data);
    const std::string ext = with_data ? R"(, "external_data": {"file": "transformer.onnx.data")" + data_hash_field + "}" : "";
    test::write_file(dir / "export.json", R"({"models": {"transformer": {"file": "transformer.onnx", "dtype": "float16")" +
                                              onnx_hash_field + ext + R"(,
      "inputs": [{"name": "hidden_states", "dtype": "float16", "shape": ["batch", 4, "height", "width"]},
                 {"name": "timestep", "dtype": "float", "shape": ["batch"]}],
      "outputs": [{"name": "sample", "dtype": "float16", "shape": ["batch", 8, "height", "width"]}]}}})");
  }
};

}  // namespace

TEST_CASE("export.json: signature, dtypes canonicalised, hashes recorded") {
  FakeExport e;
  const std::string h1 = sha256_hex(e.onnx), h2 = sha256_hex(e.data);
  e.write(R"(, "sha256": ")" + h1 + "\"", R"(, "sha256": ")" + h2 + "\"");
  const ExportedModel m = read_export(e.dir.path(), "transformer");
  CHECK(m.kind == "transformer");
  CHECK(m.dtype == "float16");
  CHECK(m.onnx_path == e.dir / "transformer.onnx");
  CHECK(m.data_path == e.dir / "transformer.onnx.data");
  CHECK(m.onnx_sha256 == h1);
  CHECK(m.data_sha256 == h2);
  CHECK(m.model_hash() == sha256_hex("onnx=" + h1 + "\ndata=" + h2 + "\n"));
  REQUIRE(m.inputs.size() == 2);
  CHECK(m.inputs[0].shape_string() == "[batch, 4, height, width]");
  CHECK(m.inputs[0].dims[1].value == 4);
  CHECK(m.inputs[1].dtype == "float32");  // "float" -> float32
  REQUIRE(m.output("sample"));
  CHECK(m.output("sample")->dims[1].value == 8);
  CHECK(m.input("nope") == nullptr);
}

TEST_CASE("export.json: missing hashes are computed; verify catches an ONNX changed after export") {
  FakeExport e;
  e.write("", "");
  const ExportedModel m = read_export(e.dir.path(), "transformer");
  CHECK(m.onnx_sha256 == sha256_hex(e.onnx));
  CHECK(m.data_sha256 == sha256_hex(e.data));

  e.write(R"(, "sha256": ")" + sha256_hex(std::string("the old file")) + "\"", "");
  CHECK(read_export(e.dir.path(), "transformer").onnx_sha256 == sha256_hex(std::string("the old file")));  // trusted
  test::check_fails([&] { read_export(e.dir.path(), "transformer", true); }, StatusCode::kModelLoad,
                    "the file changed after export");
}

TEST_CASE("export.json: no data file means an empty data hash, and a different model hash") {
  FakeExport e;
  e.write("", "", false);
  const ExportedModel m = read_export(e.dir.path(), "transformer");
  CHECK(m.data_path.empty());
  CHECK(m.data_sha256.empty());
  CHECK(m.model_hash() == sha256_hex("onnx=" + sha256_hex(e.onnx) + "\ndata=\n"));
}

TEST_CASE("export.json: errors name the file and the field") {
  FakeExport e;
  e.write("", "");
  test::check_fails([&] { read_export(e.dir.path(), "vae_decoder"); }, StatusCode::kModelLoad,
                    "models: no model \"vae_decoder\" (the export has: transformer)");
  test::check_fails([&] { read_export(e.dir / "missing", "transformer"); }, StatusCode::kModelLoad, "cannot open file");
  e.write(R"(, "sha256": "ABC")", "");
  test::check_fails([&] { read_export(e.dir.path(), "transformer"); }, StatusCode::kModelLoad,
                    "models.transformer.sha256: not a sha256");
  e.write("", "");
  std::filesystem::remove(e.dir / "transformer.onnx.data");
  test::check_fails([&] { read_export(e.dir.path(), "transformer"); }, StatusCode::kModelLoad,
                    "transformer.onnx.data does not exist");
  test::write_file(e.dir / "export.json", R"({"models": {"transformer": {"file": "transformer.onnx", "dtype": "float16",
      "inputs": [{"name": "x", "dtype": "complex64", "shape": [1]}], "outputs": []}}})");
  test::check_fails([&] { read_export(e.dir.path(), "transformer"); }, StatusCode::kModelLoad,
                    "models.transformer.inputs[0].dtype: unknown dtype \"complex64\"");
}
