// Scratch device memory from the backend's pool, returned to it when the buffer goes out of
// scope (stream-ordered reuse: see memory_pool.h). For im2col columns, staging copies,
// attention score chunks, the GEMM workspace.
#pragma once
#include <cstddef>
#include <utility>

#include "memory_pool.h"

namespace pixart::cuda {

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(MemoryPool& pool, size_t bytes) : pool_(&pool) { p_ = pool.allocate(bytes, &granted_); }
  ~DeviceBuffer() { reset(); }
  DeviceBuffer(DeviceBuffer&& o) noexcept { *this = std::move(o); }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      std::swap(pool_, o.pool_);
      std::swap(p_, o.p_);
      std::swap(granted_, o.granted_);
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* get() const { return p_; }
  template <class T>
  T* as() const {
    return static_cast<T*>(p_);
  }
  size_t size() const { return granted_; }
  void reset() noexcept {
    if (pool_ && p_) pool_->release(p_, granted_);
    p_ = nullptr;
    granted_ = 0;
  }

 private:
  MemoryPool* pool_ = nullptr;
  void* p_ = nullptr;
  size_t granted_ = 0;
};

}  // namespace pixart::cuda
