#include "export_info.h"

#include <sys/stat.h>

#include <set>

#include "json_util.h"
#include "sha256.h"

namespace pixart::trt {

std::string canonical_dtype(const std::string& name) {
  static const std::pair<const char*, const char*> kAliases[] = {
      {"float32", "float32"}, {"float", "float32"},   {"fp32", "float32"},    {"float16", "float16"},
      {"half", "float16"},    {"fp16", "float16"},    {"bfloat16", "bfloat16"}, {"bf16", "bfloat16"},
      {"int64", "int64"},     {"int32", "int32"},     {"int8", "int8"},       {"uint8", "uint8"},
      {"bool", "bool"}};
  for (const auto& [alias, canon] : kAliases)
    if (name == alias) return canon;
  return {};
}

std::string TensorSpec::shape_string() const {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); i++) {
    if (i) s += ", ";
    s += dims[i].dynamic() ? dims[i].axis : std::to_string(dims[i].value);
  }
  return s + "]";
}

std::string ExportedModel::model_hash() const {
  return sha256_hex("onnx=" + onnx_sha256 + "\ndata=" + data_sha256 + "\n");
}

const TensorSpec* ExportedModel::input(const std::string& name) const {
  for (const TensorSpec& t : inputs)
    if (t.name == name) return &t;
  return nullptr;
}

const TensorSpec* ExportedModel::output(const std::string& name) const {
  for (const TensorSpec& t : outputs)
    if (t.name == name) return &t;
  return nullptr;
}

namespace {

std::vector<TensorSpec> read_specs(const JsonNode& list) {
  std::vector<TensorSpec> out;
  std::set<std::string> seen;
  for (const JsonNode& n : list.items()) {
    TensorSpec t;
    t.name = n.at("name").str();
    if (t.name.empty() || !seen.insert(t.name).second) n.bad("empty or repeated tensor name \"" + t.name + "\"");
    const std::string dt = n.at("dtype").str();
    t.dtype = canonical_dtype(dt);
    if (t.dtype.empty()) n.at("dtype").bad("unknown dtype \"" + dt + "\"");
    for (const JsonNode& d : n.at("shape").items()) {
      AxisDim a;
      if (d.is_string()) {
        a.axis = d.str();
        if (a.axis.empty()) d.bad("empty axis name");
      } else {
        a.value = d.i64();
        if (a.value < 1) d.bad("a fixed dimension must be >= 1");
      }
      t.dims.push_back(a);
    }
    out.push_back(std::move(t));
  }
  if (out.empty()) list.bad("no tensors listed");
  return out;
}

constexpr const char* kFormat = "pixart-node-onnx";
constexpr int64_t kVersion = 1;

// The size of a regular file, or -1.
int64_t file_size(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) ? int64_t(st.st_size) : -1;
}

// The path of the file named by owner[name_key], which must exist with the size in owner[bytes_key]
// when that is recorded.
std::string existing_file(const std::string& dir, const JsonNode& owner, const char* name_key, const char* bytes_key) {
  const JsonNode name = owner.at(name_key);
  const std::string path = dir + "/" + name.str();
  const int64_t size = file_size(path);
  if (size < 0) name.bad(path + " does not exist");
  if (auto bytes = owner.find(bytes_key); bytes && bytes->i64() != size) {
    bytes->bad(path + " has " + std::to_string(size) + " bytes, not the recorded " + std::to_string(bytes->i64()) +
               " (the file changed after export; export again)");
  }
  return path;
}

// The recorded hash (checked with verify), or the file's own when none is recorded.
std::string file_hash(const JsonNode& owner, const char* key, const std::string& path, bool verify) {
  auto rec = owner.find(key);
  if (!rec) return sha256_file(path);
  const std::string h = rec->str();
  if (!is_sha256_hex(h)) rec->bad("not a sha256 (64 lowercase hex digits)");
  if (verify) {
    const std::string actual = sha256_file(path);
    if (actual != h) {
      rec->bad(path + " has sha256 " + actual + ", not the recorded " + h +
               " (the file changed after export; export again)");
    }
  }
  return h;
}

}  // namespace

ExportedModel read_export(const std::string& export_dir, const std::string& kind, bool verify_hashes) {
  const auto doc = JsonDoc::load(export_dir + "/export.json", StatusCode::kModelLoad);
  const JsonNode root = doc->root();
  if (root.at("format").str() != kFormat) root.at("format").bad(std::string("not ") + kFormat);
  if (root.at("version").i64() != kVersion) {
    root.at("version").bad("version " + std::to_string(root.at("version").i64()) + " is not " +
                           std::to_string(kVersion) + " (written by another pixart-node; export again)");
  }
  const JsonNode models = root.at("models");
  auto m = models.find(kind);
  if (!m) {
    std::string have;
    for (const auto& [k, v] : models.members()) have += (have.empty() ? "" : ", ") + k;
    models.bad("no model \"" + kind + "\" (the export has: " + have + ")");
  }
  ExportedModel out;
  out.kind = kind;
  out.dtype = m->at("dtype").str();
  out.quantization = m->find("quantization") ? m->at("quantization").str() : "none";
  out.onnx_path = existing_file(export_dir, *m, "file", "bytes");
  out.onnx_sha256 = file_hash(*m, "sha256", out.onnx_path, verify_hashes);
  if (auto data = m->find("dataFile"); data && !data->str().empty()) {
    out.data_path = existing_file(export_dir, *m, "dataFile", "dataBytes");
    out.data_sha256 = file_hash(*m, "dataSha256", out.data_path, verify_hashes);
  }
  out.inputs = read_specs(m->at("inputs"));
  out.outputs = read_specs(m->at("outputs"));
  return out;
}

}  // namespace pixart::trt
