// A caching device allocator: freed blocks go to a free list keyed by size class and are handed
// out again without cudaMalloc/cudaFree, so the alloc/free of activations in every step costs
// a map lookup. One pool per backend, used from that backend's one stream: a block freed while
// queued kernels still read it can be reused at once, because every later use is on the same
// stream and so runs after them (the same argument as PyTorch's caching allocator).
//
// On cudaErrorMemoryAllocation the pool frees its cache and retries once; if that fails too it
// throws EngineError(kOutOfMemory) and stays usable.
//
// PIXART_CUDA_POOL_TRIM=1 (off by default) trades speed for memory: a miss that would grow the
// pool while it caches at least as many bytes as the request first returns the blocks cached
// longest ago (the least recently released) to the device, until the request's size has been
// given back. A pipeline's phases use different shapes (the DiT loop, then the VAE decode); by
// default each phase's freed blocks stay cached through the other and the pool holds both working
// sets at once. Measured on an H200 (bench/results/gpu-h200-2026-11-26-s4.md): all three models
// resident with int4 T5 and a tiled decode peak at 4.83 GB instead of 5.60, but a 1024x1024
// generation takes 1.15-1.32 s instead of 0.88: every cudaFree synchronises the device, and a
// working set that grows while older blocks are cached evicts blocks it needs again.
//
// CUDA graphs (CudaBackend::record_step): while a capture is open, the capturing thread's
// allocations come from a private set of blocks (begin_private): from that set's own free list,
// else taken from the shared cache, else from cudaMalloc (in relaxed capture mode, as PyTorch
// does). Blocks the captured ops release go back to the set only (a block from before the capture
// whose last holder lets go inside it joins the set: the recorded ops may use its address on every
// replay), so within the capture a block
// is handed out again exactly as a replay will reuse it (a replay runs the ops in the recorded
// order). After the capture the set belongs to the graph: every replay writes its blocks, so
// nothing else is given them until the graph is destroyed and release_private() returns them to
// the shared cache (stream-ordered like every reuse: later work on the stream runs after the
// graph's last launch). Private blocks are never trimmed or freed by empty_cache().
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

namespace pixart::cuda {

struct PoolStats {
  size_t in_use = 0;       // bytes handed out (size classes) and not yet released
  size_t peak_in_use = 0;  // high-water mark of in_use
  size_t cached = 0;       // bytes in free lists
  size_t reserved = 0;     // bytes currently obtained from cudaMalloc (in_use + cached)
  uint64_t device_allocs = 0;  // cudaMalloc calls so far
  uint64_t cache_hits = 0;     // allocations served from a free list
  uint64_t trimmed = 0;        // cached blocks returned to the device to make room (see below)
};

class MemoryPool {
 public:
  explicit MemoryPool(int device);
  ~MemoryPool();
  MemoryPool(const MemoryPool&) = delete;
  MemoryPool& operator=(const MemoryPool&) = delete;

  // A block of at least `bytes` (256-byte aligned). `*granted` receives the size to pass back
  // to release(). `exact`: no rounding to a size class, and release() frees it to the device
  // instead of caching it (weights: long-lived, and rounding them would waste memory).
  void* allocate(size_t bytes, size_t* granted, bool exact = false);
  void release(void* p, size_t granted, bool exact = false) noexcept;
  // Returns every cached block to the device (cudaFree synchronises the device first).
  void empty_cache() noexcept;
  PoolStats stats() const;
  // A new high-water mark starting at the current in_use.
  void reset_peak() noexcept;
  int device() const { return device_; }

  // The size class of a request: powers of two up to 1 MiB, then 8 classes per octave.
  static size_t size_class(size_t bytes);

  // Graph capture (above). begin_private: the calling thread's allocations (exact ones too) go to a
  // new private set until end_private(); one capture at a time per pool. release_private: the
  // set's blocks go to the shared cache; its blocks still in use go there when released.
  uint64_t begin_private();
  void end_private() noexcept;
  void release_private(uint64_t id) noexcept;

 private:
  void* device_malloc(size_t bytes);  // nullptr on cudaErrorMemoryAllocation; throws on other errors
  void empty_cache_locked() noexcept;
  void trim_locked(size_t bytes) noexcept;  // frees the oldest cached blocks, at least `bytes` of them

  void* allocate_private_locked(size_t bytes, size_t* granted);

  struct Cached {
    void* p;
    uint64_t seq;  // when it was released: a pool-wide counter
  };
  struct PrivateSet {
    std::map<size_t, std::vector<void*>> free;  // per size class
  };
  int device_;
  bool trim_ = false;
  uint64_t seq_ = 0;
  mutable std::mutex mu_;
  std::map<size_t, std::vector<Cached>> free_;  // per size class, in release order (oldest first)
  PoolStats st_;
  std::map<uint64_t, PrivateSet> private_;
  std::unordered_map<void*, uint64_t> private_owner_;  // a private block -> its set
  size_t private_cached_ = 0;  // of st_.cached: free blocks of private sets (not trimmable)
  uint64_t capturing_ = 0;  // the open set (0: none) and the thread it serves
  std::thread::id capture_thread_;
  uint64_t next_private_ = 0;
};

}  // namespace pixart::cuda
