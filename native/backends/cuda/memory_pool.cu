#include "memory_pool.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include "cuda_common.cuh"

namespace pixart::cuda {

namespace {
std::string mib(size_t b) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", double(b) / (1024.0 * 1024.0));
  return buf;
}
}  // namespace

size_t MemoryPool::size_class(size_t bytes) {
  if (bytes <= 512) return 512;
  if (bytes <= (size_t(1) << 20)) {
    size_t c = 512;
    while (c < bytes) c <<= 1;
    return c;
  }
  size_t p = size_t(1) << 20;
  while ((p << 1) <= bytes) p <<= 1;
  const size_t step = p / 8;
  return (bytes + step - 1) / step * step;
}

MemoryPool::MemoryPool(int device) : device_(device) {
  const char* trim = std::getenv("PIXART_CUDA_POOL_TRIM");
  trim_ = trim && std::strcmp(trim, "1") == 0;
}

MemoryPool::~MemoryPool() { empty_cache(); }

void* MemoryPool::device_malloc(size_t bytes) {
  int cur = -1;
  if (cudaGetDevice(&cur) != cudaSuccess || cur != device_) check_cuda(cudaSetDevice(device_), "cudaSetDevice");
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, bytes);
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();  // not sticky: clear it so the next check does not see it
    return nullptr;
  }
  check_cuda(e, "cudaMalloc");
  st_.device_allocs++;
  st_.reserved += bytes;
  return p;
}

void* MemoryPool::allocate(size_t bytes, size_t* granted, bool exact) {
  const size_t want = exact ? std::max<size_t>(bytes, 256) : size_class(bytes);
  std::lock_guard<std::mutex> lock(mu_);
  if (capturing_ && std::this_thread::get_id() == capture_thread_) return allocate_private_locked(bytes, granted);
  if (!exact) {
    auto it = free_.find(want);
    if (it != free_.end() && !it->second.empty()) {
      void* p = it->second.back().p;  // the youngest: most likely still in L2
      it->second.pop_back();
      st_.cached -= want;
      st_.in_use += want;
      st_.peak_in_use = std::max(st_.peak_in_use, st_.in_use);
      st_.cache_hits++;
      *granted = want;
      return p;
    }
  }
  if (trim_ && st_.cached - private_cached_ >= want) trim_locked(want);  // graphs' free blocks are not the cache's
  void* p = device_malloc(want);
  if (!p) {
    empty_cache_locked();
    p = device_malloc(want);
  }
  if (!p) {
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    cudaGetLastError();
    fail(StatusCode::kOutOfMemory, "CUDA out of memory on device " + std::to_string(device_) + ": tried to allocate " +
                                       mib(want) + " (" + mib(st_.in_use) + " in use by this backend, " +
                                       mib(free_b) + " free of " + mib(total_b) + ")");
  }
  st_.in_use += want;
  st_.peak_in_use = std::max(st_.peak_in_use, st_.in_use);
  *granted = want;
  return p;
}

void* MemoryPool::allocate_private_locked(size_t bytes, size_t* granted) {
  const size_t want = size_class(bytes);
  PrivateSet& set = private_[capturing_];
  void* p = nullptr;
  auto own = set.free.find(want);
  if (own != set.free.end() && !own->second.empty()) {  // released earlier in this capture
    p = own->second.back();
    own->second.pop_back();
    st_.cached -= want;
    private_cached_ -= want;
    st_.cache_hits++;
  } else {
    auto shared = free_.find(want);
    if (shared != free_.end() && !shared->second.empty()) {  // the shared cache's: now the graph's
      p = shared->second.back().p;
      shared->second.pop_back();
      st_.cached -= want;
      st_.cache_hits++;
    } else {
      // cudaMalloc is not a stream operation; relaxed mode lets the capturing thread call it (the
      // address is fixed at capture and the graph never allocates on replay).
      struct RelaxedCapture {  // restored on every path, a throwing device_malloc included
        cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;
        RelaxedCapture() { cudaThreadExchangeStreamCaptureMode(&mode); }
        ~RelaxedCapture() { cudaThreadExchangeStreamCaptureMode(&mode); }
      } relaxed;
      p = device_malloc(want);
      if (!p) {  // no cache to free here: cudaFree is not allowed while capturing
        size_t free_b = 0, total_b = 0;
        cudaMemGetInfo(&free_b, &total_b);
        cudaGetLastError();
        fail(StatusCode::kOutOfMemory, "CUDA out of memory on device " + std::to_string(device_) +
                                           " while capturing a graph: tried to allocate " + mib(want) + " (" +
                                           mib(st_.in_use) + " in use by this backend, " + mib(free_b) + " free of " +
                                           mib(total_b) + ")");
      }
    }
    private_owner_[p] = capturing_;
  }
  st_.in_use += want;
  st_.peak_in_use = std::max(st_.peak_in_use, st_.in_use);
  *granted = want;
  return p;
}

uint64_t MemoryPool::begin_private() {
  std::lock_guard<std::mutex> lock(mu_);
  if (capturing_) fail(StatusCode::kInternal, "memory pool: a graph capture is already open");
  capturing_ = ++next_private_;
  capture_thread_ = std::this_thread::get_id();
  private_[capturing_];
  return capturing_;
}

void MemoryPool::end_private() noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  capturing_ = 0;
}

void MemoryPool::release_private(uint64_t id) noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = private_.find(id);
  if (it == private_.end()) return;
  if (capturing_ == id) capturing_ = 0;
  for (auto& [size, blocks] : it->second.free) {
    for (void* p : blocks) {
      free_[size].push_back(Cached{p, ++seq_});
      private_owner_.erase(p);
      private_cached_ -= size;
    }
  }
  // Blocks still in use (a graph output someone holds) go to the shared cache when released.
  for (auto o = private_owner_.begin(); o != private_owner_.end();) o = o->second == id ? private_owner_.erase(o) : std::next(o);
  private_.erase(it);
}

void MemoryPool::release(void* p, size_t granted, bool exact) noexcept {
  if (!p) return;
  std::lock_guard<std::mutex> lock(mu_);
  st_.in_use -= granted;
  bool graph_block = false;
  try {
    auto priv = private_owner_.find(p);
    if (priv == private_owner_.end() && capturing_ && std::this_thread::get_id() == capture_thread_) {
      // A block from before the capture whose last holder lets go inside it: the recorded ops may
      // still use its address on every replay, so it becomes the graph's too (and cudaFree, for an
      // exact block, is not allowed while capturing anyway).
      priv = private_owner_.emplace(p, capturing_).first;
    }
    if (priv != private_owner_.end()) {  // a graph's block: back to its set only
      graph_block = true;
      private_[priv->second].free[granted].push_back(p);
      st_.cached += granted;
      private_cached_ += granted;
      return;
    }
    if (!exact) {
      free_[granted].push_back(Cached{p, ++seq_});
      st_.cached += granted;
      return;
    }
  } catch (const std::bad_alloc&) {
    // No host memory for the bookkeeping. A graph's block (replays may still use it) and any
    // block while capturing (cudaFree is not allowed) stay allocated, unused; others go back to
    // the driver instead of the cache.
    if (graph_block || capturing_) return;
  }
  {
    // cudaFree waits for the device, so queued work that still reads the block finishes first.
    int cur = -1;
    if (cudaGetDevice(&cur) == cudaSuccess && cur != device_) cudaSetDevice(device_);
    cudaFree(p);
    cudaGetLastError();
    st_.reserved -= granted;
  }
}

void MemoryPool::reset_peak() noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  st_.peak_in_use = st_.in_use;
}

void MemoryPool::trim_locked(size_t bytes) noexcept {
  int cur = -1;
  if (cudaGetDevice(&cur) == cudaSuccess && cur != device_) cudaSetDevice(device_);
  size_t freed = 0;
  while (freed < bytes && st_.cached > private_cached_) {
    // The oldest block over all size classes (each class's list is in release order).
    auto oldest = free_.end();
    for (auto it = free_.begin(); it != free_.end(); ++it)
      if (!it->second.empty() && (oldest == free_.end() || it->second.front().seq < oldest->second.front().seq)) oldest = it;
    if (oldest == free_.end()) break;
    cudaFree(oldest->second.front().p);  // waits for queued work: nothing still reads the block
    oldest->second.erase(oldest->second.begin());
    st_.reserved -= oldest->first;
    st_.cached -= oldest->first;
    st_.trimmed++;
    freed += oldest->first;
    if (oldest->second.empty()) free_.erase(oldest);
  }
  cudaGetLastError();
}

void MemoryPool::empty_cache_locked() noexcept {
  int cur = -1;
  if (cudaGetDevice(&cur) == cudaSuccess && cur != device_) cudaSetDevice(device_);
  for (auto& [size, blocks] : free_) {
    for (const Cached& b : blocks) {
      void* p = b.p;
      cudaFree(p);
      st_.reserved -= size;
      st_.cached -= size;
    }
    blocks.clear();
  }
  free_.clear();
  cudaGetLastError();  // errors at teardown (context already gone) are not interesting
}

void MemoryPool::empty_cache() noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  empty_cache_locked();
}

PoolStats MemoryPool::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return st_;
}

}  // namespace pixart::cuda
