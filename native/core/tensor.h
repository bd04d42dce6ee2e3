// Tensor: a shaped handle to backend-owned storage.
//
// Model code only ever sees Tensors and hands them to Backend ops; it never dereferences
// device memory. All tensors are contiguous, row-major, and hold float32 values unless a
// backend says otherwise (the CPU backend is fp32 only).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace pixart {

using Shape = std::vector<int64_t>;

inline int64_t numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

std::string shape_str(const Shape& s);

// Backend-specific storage; the backend that made it knows what `data` is.
struct Storage {
  virtual ~Storage() = default;
  void* data = nullptr;
  size_t bytes = 0;
};

struct Tensor {
  Shape shape;
  std::shared_ptr<Storage> storage;
  size_t offset_bytes = 0;  // views into a larger storage (e.g. a memory-mapped weight file)

  bool defined() const { return storage != nullptr; }
  int64_t numel() const { return pixart::numel(shape); }
  int64_t dim(int i) const { return shape[i < 0 ? shape.size() + i : i]; }
  int rank() const { return static_cast<int>(shape.size()); }
  void* raw() const { return static_cast<char*>(storage->data) + offset_bytes; }
  float* f32() const { return static_cast<float*>(raw()); }
  // Same storage, new shape with the same element count (a reshape is free: contiguous).
  Tensor view(Shape s) const;
};

}  // namespace pixart
