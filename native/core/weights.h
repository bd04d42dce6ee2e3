// Checkpoint weights: memory-mapped safetensors files, single or sharded.
//
// A WeightStore opens one model folder (or file) and validates every header up front:
// size bounds, known dtypes, offsets inside the file, no overlapping tensors. Tensors are
// then looked up by their checkpoint key; model code names exactly the keys diffusers /
// transformers write, so loading is a lookup and a shape check.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tensor.h"

namespace pixart {

enum class DType { kF32, kF16, kBF16, kF64, kI64, kI32, kI16, kI8, kU8, kBool };
const char* dtype_name(DType d);
size_t dtype_size(DType d);

class MappedFile;  // an mmap of a whole file; shared by every WeightView into it

struct WeightView {
  std::string name;
  std::string file;  // path, for error messages
  DType dtype = DType::kF32;
  Shape shape;
  const void* data = nullptr;  // inside the mapping
  size_t bytes = 0;
  std::shared_ptr<MappedFile> mapping;  // keeps the mapping alive
};

class SafetensorsFile {
 public:
  // Maps and validates `path`; throws EngineError(kModelLoad) naming the file and what is wrong.
  static std::shared_ptr<SafetensorsFile> open(const std::string& path);
  const std::string& path() const { return path_; }
  const std::map<std::string, WeightView>& tensors() const { return tensors_; }
  size_t file_size() const;

 private:
  std::string path_;
  std::shared_ptr<MappedFile> mapping_;
  std::map<std::string, WeightView> tensors_;
};

class WeightStore {
 public:
  // `path` is a .safetensors file, a *.safetensors.index.json, or a folder holding one of:
  // model.safetensors(.index.json), diffusion_pytorch_model.safetensors(.index.json).
  static WeightStore open(const std::string& path);

  bool has(const std::string& name) const { return tensors_.count(name) != 0; }
  // Throws kModelLoad "<folder>: tensor <name> missing" if absent.
  const WeightView& get(const std::string& name) const;
  // get() plus a shape check: "<file>: tensor <name> has shape [..], the config implies [..]".
  const WeightView& require(const std::string& name, const Shape& expected) const;
  std::vector<std::string> names() const;
  size_t total_bytes() const;
  const std::string& location() const { return location_; }

 private:
  std::string location_;
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::map<std::string, const WeightView*> tensors_;
};

// Widens one checkpoint tensor to float32 (F32/F16/BF16 storage; other dtypes throw).
void convert_to_f32(const WeightView& w, float* out);

}  // namespace pixart
