// A minimal writer of ONNX model files (the protobuf wire format of onnx.proto's ModelProto).
//
// Only what the exporter emits: nodes with int/float/ints/floats/string/tensor attributes,
// initializers (inline raw_data, or external data streamed into a side file so models over
// protobuf's 2 GB limit work), and graph inputs/outputs with named dynamic dims. Why not
// libprotobuf + onnx.proto: a prebuilt npm addon cannot carry a libprotobuf whose ABI matches
// whatever else the process loads, and the handful of messages here are stable since IR v3.
// The field numbers are onnx.proto's (IR version 10, opset 21).
#pragma once
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace pixart::onnx {

// TensorProto.DataType values.
enum class ElemType : int32_t {
  kFloat = 1,
  kUint8 = 2,
  kInt8 = 3,
  kInt32 = 6,
  kInt64 = 7,
  kBool = 9,
  kFloat16 = 10,
  kBFloat16 = 16,
  kInt4 = 22,
};
const char* elem_type_name(ElemType t);
// Bits per element (4 for int4).
int elem_bits(ElemType t);
// Bytes of n elements as ONNX packs them (int4: two per byte, low nibble first).
int64_t elem_bytes(ElemType t, int64_t n);

// One dimension of a graph input/output: a value, or a named symbolic dim.
struct Dim {
  int64_t value = -1;
  std::string param;  // used when non-empty
};

struct ValueInfo {
  std::string name;
  ElemType type = ElemType::kFloat;
  std::vector<Dim> dims;
};

struct TensorData {
  std::string name;
  ElemType type = ElemType::kFloat;
  std::vector<int64_t> dims;
  std::string raw;  // little-endian raw_data (inline attributes and small constants)
};

struct Attribute {
  enum Kind { kFloat = 1, kInt = 2, kString = 3, kTensor = 4, kFloats = 6, kInts = 7 };
  std::string name;
  Kind kind = kInt;
  float f = 0.f;
  int64_t i = 0;
  std::string s;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  TensorData t;
};
Attribute attr_int(const std::string& name, int64_t v);
Attribute attr_float(const std::string& name, float v);
Attribute attr_ints(const std::string& name, std::vector<int64_t> v);
Attribute attr_string(const std::string& name, const std::string& v);
Attribute attr_tensor(const std::string& name, TensorData t);

struct Node {
  std::string op_type;
  std::string name;
  std::vector<std::string> inputs;  // "" = an omitted optional input
  std::vector<std::string> outputs;
  std::vector<Attribute> attrs;
};

// An initializer whose bytes are produced when the file is written (weights are converted
// one at a time, never all held in memory). fill(out) must write exactly elem_bytes(type, numel) bytes.
struct Initializer {
  std::string name;
  ElemType type = ElemType::kFloat;
  std::vector<int64_t> dims;
  std::function<void(std::string& out)> fill;
};

struct Graph {
  std::string name;
  std::vector<Node> nodes;
  std::vector<Initializer> initializers;
  std::vector<ValueInfo> inputs, outputs;
};

struct ModelInfo {
  std::string producer_name = "pixart-node";
  std::string producer_version;
  std::string doc;
  std::vector<std::pair<std::string, std::string>> metadata;
  int64_t opset = 21;
  int64_t ir_version = 10;
};

struct WriteResult {
  int64_t model_bytes = 0;
  int64_t data_bytes = 0;     // bytes in the external data file (0 = all inline)
  std::string data_file;      // file name beside the model, empty when inline
};

// Writes `path` (and, with external_data, `path + ".data"` holding every initializer's
// bytes, 64-byte aligned). Both are written to temporary names and renamed at the end, so a
// failure leaves no half-written model. Throws EngineError (kInvalidArgument for a model that
// must use external data but was asked not to, kInternal for I/O errors).
// `cancel` (optional) is polled between initializers; when set, the write stops with kCancelled
// and removes its temporary files.
WriteResult write_model(const std::string& path, const Graph& g, const ModelInfo& info, bool external_data,
                        const std::atomic<bool>* cancel = nullptr);

}  // namespace pixart::onnx
