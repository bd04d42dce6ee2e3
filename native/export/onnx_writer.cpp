// ONNX protobuf wire encoding; see onnx_writer.h. Field numbers from onnx.proto (IR v10).
#include "onnx_writer.h"

#include <cerrno>
#include <cstring>
#include <fstream>

#include "../core/status.h"
#include "../core/tensor.h"

namespace pixart::onnx {

namespace {

// Protobuf wire primitives. Messages are built bottom-up as byte strings.
void put_varint(std::string& b, uint64_t v) {
  while (v >= 0x80) {
    b.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  b.push_back(static_cast<char>(v));
}
void put_tag(std::string& b, int field, int wire) { put_varint(b, (uint64_t(field) << 3) | uint64_t(wire)); }
void put_int(std::string& b, int field, int64_t v) {
  put_tag(b, field, 0);
  put_varint(b, static_cast<uint64_t>(v));
}
void put_bytes(std::string& b, int field, const std::string& s) {
  put_tag(b, field, 2);
  put_varint(b, s.size());
  b.append(s);
}
void put_float(std::string& b, int field, float f) {
  put_tag(b, field, 5);
  char c[4];
  std::memcpy(c, &f, 4);
  b.append(c, 4);
}

constexpr size_t kExternalThreshold = 1024;

// TensorProto fields.
enum { kTDims = 1, kTDataType = 2, kTName = 8, kTRawData = 9, kTExternalData = 13, kTDataLocation = 14 };

std::string tensor_header(const std::string& name, ElemType type, const std::vector<int64_t>& dims) {
  std::string t;
  for (int64_t d : dims) put_int(t, kTDims, d);
  put_int(t, kTDataType, static_cast<int32_t>(type));
  put_bytes(t, kTName, name);
  return t;
}

std::string encode_tensor(const TensorData& td) {
  std::string t = tensor_header(td.name, td.type, td.dims);
  put_bytes(t, kTRawData, td.raw);
  return t;
}

std::string encode_attribute(const Attribute& a) {
  std::string m;
  put_bytes(m, 1, a.name);
  switch (a.kind) {
    case Attribute::kFloat: put_float(m, 2, a.f); break;
    case Attribute::kInt: put_int(m, 3, a.i); break;
    case Attribute::kString: put_bytes(m, 4, a.s); break;
    case Attribute::kTensor: put_bytes(m, 5, encode_tensor(a.t)); break;
    case Attribute::kFloats:
      for (float f : a.floats) put_float(m, 7, f);
      break;
    case Attribute::kInts:
      for (int64_t v : a.ints) put_int(m, 8, v);
      break;
  }
  put_int(m, 20, a.kind);
  return m;
}

std::string encode_node(const Node& n) {
  std::string m;
  for (const std::string& s : n.inputs) put_bytes(m, 1, s);
  for (const std::string& s : n.outputs) put_bytes(m, 2, s);
  if (!n.name.empty()) put_bytes(m, 3, n.name);
  put_bytes(m, 4, n.op_type);
  for (const Attribute& a : n.attrs) put_bytes(m, 5, encode_attribute(a));
  return m;
}

std::string encode_value_info(const ValueInfo& v) {
  std::string shape;
  for (const Dim& d : v.dims) {
    std::string dim;
    if (!d.param.empty()) put_bytes(dim, 2, d.param);
    else put_int(dim, 1, d.value);
    put_bytes(shape, 1, dim);
  }
  std::string tensor_type;
  put_int(tensor_type, 1, static_cast<int32_t>(v.type));
  put_bytes(tensor_type, 2, shape);
  std::string type;
  put_bytes(type, 1, tensor_type);
  std::string m;
  put_bytes(m, 1, v.name);
  put_bytes(m, 2, type);
  return m;
}

std::string entry(const std::string& k, const std::string& v) {
  std::string e;
  put_bytes(e, 1, k);
  put_bytes(e, 2, v);
  return e;
}

[[noreturn]] void io_fail(const std::string& what, const std::string& path) {
  fail(StatusCode::kInternal, "ONNX export: cannot " + what + " " + path + ": " + std::strerror(errno));
}

}  // namespace

const char* elem_type_name(ElemType t) {
  switch (t) {
    case ElemType::kFloat: return "float32";
    case ElemType::kUint8: return "uint8";
    case ElemType::kInt8: return "int8";
    case ElemType::kInt32: return "int32";
    case ElemType::kInt64: return "int64";
    case ElemType::kBool: return "bool";
    case ElemType::kFloat16: return "float16";
    case ElemType::kBFloat16: return "bfloat16";
    case ElemType::kInt4: return "int4";
  }
  return "?";
}

int elem_bits(ElemType t) {
  switch (t) {
    case ElemType::kFloat: case ElemType::kInt32: return 32;
    case ElemType::kInt64: return 64;
    case ElemType::kFloat16: case ElemType::kBFloat16: return 16;
    case ElemType::kInt4: return 4;
    default: return 8;
  }
}

int64_t elem_bytes(ElemType t, int64_t n) { return (n * elem_bits(t) + 7) / 8; }

Attribute attr_int(const std::string& name, int64_t v) {
  Attribute a;
  a.name = name, a.kind = Attribute::kInt, a.i = v;
  return a;
}
Attribute attr_float(const std::string& name, float v) {
  Attribute a;
  a.name = name, a.kind = Attribute::kFloat, a.f = v;
  return a;
}
Attribute attr_ints(const std::string& name, std::vector<int64_t> v) {
  Attribute a;
  a.name = name, a.kind = Attribute::kInts, a.ints = std::move(v);
  return a;
}
Attribute attr_string(const std::string& name, const std::string& v) {
  Attribute a;
  a.name = name, a.kind = Attribute::kString, a.s = v;
  return a;
}
Attribute attr_tensor(const std::string& name, TensorData t) {
  Attribute a;
  a.name = name, a.kind = Attribute::kTensor, a.t = std::move(t);
  return a;
}

WriteResult write_model(const std::string& path, const Graph& g, const ModelInfo& info, bool external_data,
                        const std::atomic<bool>* cancel) {
  WriteResult res;
  const std::string tmp = path + ".partial";
  const std::string data_path = path + ".data", data_tmp = data_path + ".partial";
  // The data file's name as the model refers to it: relative to the model's folder.
  const std::string data_name = data_path.substr(data_path.find_last_of('/') + 1);

  // Removes the temporary files unless both were renamed into place.
  struct Cleanup {
    std::string a, b;
    bool done = false;
    ~Cleanup() {
      if (!done) std::remove(a.c_str()), std::remove(b.c_str());
    }
  } cleanup{tmp, data_tmp};

  std::string graph;
  for (const Node& n : g.nodes) put_bytes(graph, 1, encode_node(n));
  put_bytes(graph, 2, g.name);
  {
    std::ofstream data;
    if (external_data) {
      data.open(data_tmp, std::ios::binary | std::ios::trunc);
      if (!data) io_fail("create", data_tmp);
    }
    int64_t offset = 0;
    std::string bytes;
    for (const Initializer& init : g.initializers) {
      if (cancel && cancel->load()) fail(StatusCode::kCancelled, "ONNX export cancelled; nothing was written");
      const int64_t n = numel(init.dims);
      bytes.clear();
      init.fill(bytes);
      if (static_cast<int64_t>(bytes.size()) != elem_bytes(init.type, n))
        fail(StatusCode::kInternal, "ONNX export: initializer " + init.name + " produced " + std::to_string(bytes.size()) +
                                        " bytes, expected " + std::to_string(elem_bytes(init.type, n)));
      std::string t = tensor_header(init.name, init.type, init.dims);
      // Small tensors (shapes, axes, scalars) stay inline even with external data: shape
      // inference needs their values, and onnx's own converter keeps them too (1 KiB threshold).
      if (external_data && bytes.size() >= kExternalThreshold) {
        const int64_t pad = (64 - offset % 64) % 64;  // aligned so a loader can map tensors in place
        if (pad) data.write(std::string(size_t(pad), '\0').data(), pad);
        offset += pad;
        data.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        if (!data) io_fail("write", data_tmp);
        put_bytes(t, kTExternalData, entry("location", data_name));
        put_bytes(t, kTExternalData, entry("offset", std::to_string(offset)));
        put_bytes(t, kTExternalData, entry("length", std::to_string(bytes.size())));
        put_int(t, kTDataLocation, 1);
        offset += static_cast<int64_t>(bytes.size());
      } else {
        put_bytes(t, kTRawData, bytes);
        if (graph.size() + t.size() > (size_t(2000) << 20))
          fail(StatusCode::kInvalidArgument,
               "ONNX export: the weights exceed protobuf's 2 GB limit; export with external data");
      }
      put_bytes(graph, 5, t);
    }
    if (external_data) {
      data.close();
      if (!data) io_fail("write", data_tmp);
      res.data_bytes = offset;
      res.data_file = data_name;
    }
  }
  for (const ValueInfo& v : g.inputs) put_bytes(graph, 11, encode_value_info(v));
  for (const ValueInfo& v : g.outputs) put_bytes(graph, 12, encode_value_info(v));

  std::string model;
  put_int(model, 1, info.ir_version);
  put_bytes(model, 2, info.producer_name);
  if (!info.producer_version.empty()) put_bytes(model, 3, info.producer_version);
  if (!info.doc.empty()) put_bytes(model, 6, info.doc);
  put_bytes(model, 7, graph);
  std::string opset;
  put_bytes(opset, 1, "");
  put_int(opset, 2, info.opset);
  put_bytes(model, 8, opset);
  for (const auto& [k, v] : info.metadata) put_bytes(model, 14, entry(k, v));

  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) io_fail("create", tmp);
    out.write(model.data(), static_cast<std::streamsize>(model.size()));
    out.close();
    if (!out) io_fail("write", tmp);
  }
  if (external_data && std::rename(data_tmp.c_str(), data_path.c_str()) != 0) io_fail("rename", data_tmp);
  if (!external_data) std::remove(data_path.c_str());  // a stale side file from an earlier export
  if (std::rename(tmp.c_str(), path.c_str()) != 0) io_fail("rename", tmp);
  cleanup.done = true;
  res.model_bytes = static_cast<int64_t>(model.size());
  return res;
}

}  // namespace pixart::onnx
