// The CUDA backend's private state, shared by the files that implement CudaBackend
// (cuda_backend.cu, cuda_step_graph.cu). Not part of the library's interface.
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cuda_backend.h"
#include "cuda_types.h"
#include "cudnn_conv.h"
#include "device_buffer.h"
#include "gemm.cuh"
#include "memory_pool.h"

namespace pixart::cuda {

// An environment switch: unset or empty -> dflt; "0", "false", "off" -> false; anything else -> true.
bool env_flag(const char* name, bool dflt);

struct CudaBackend::Impl {
  // Declaration order is destruction order in reverse: the pool outlives everything using it.
  std::shared_ptr<MemoryPool> pool;
  CudaBackendOptions opts;
  DT dt = DT::kF16;
  int device = 0;
  std::string device_name;
  cudaStream_t stream = nullptr;
  std::unique_ptr<Gemm> gemm;
  DeviceBuffer flag;  // one int for has_non_finite
  bool force_unfused_attention = false;
  std::unique_ptr<CudnnConv> cudnn;  // created by the first conv2d
  // Held while `stream` is being captured into a graph (record_step), and by another engine's
  // gather_state_rows while it enqueues on `stream`: such work must run now, not join the graph.
  std::mutex capture_mu;
  // PIXART_CUDA_PROFILE=1: GPU time per op (CUDA events around each op, no added syncs),
  // printed to stderr when the backend is destroyed.
  bool profile = false;
  struct Span {
    const char* op;
    cudaEvent_t a, b;
  };
  std::vector<Span> spans;
  std::map<std::string, std::pair<double, int64_t>> totals;  // op -> (ms, calls)
  void flush_profile() {
    if (spans.empty()) return;
    cudaEventSynchronize(spans.back().b);
    for (Span& sp : spans) {
      float ms = 0.f;
      if (cudaEventElapsedTime(&ms, sp.a, sp.b) == cudaSuccess) {
        auto& t = totals[sp.op];
        t.first += ms;
        t.second++;
      }
      cudaEventDestroy(sp.a);
      cudaEventDestroy(sp.b);
    }
    spans.clear();
  }

  ~Impl() {
    int cur = -1;
    if (cudaGetDevice(&cur) == cudaSuccess && cur != device) cudaSetDevice(device);
    if (stream) cudaStreamSynchronize(stream);
    if (profile) {
      flush_profile();
      std::vector<std::pair<std::string, std::pair<double, int64_t>>> v(totals.begin(), totals.end());
      std::sort(v.begin(), v.end(), [](const auto& x, const auto& y) { return x.second.first > y.second.first; });
      double all = 0;
      for (auto& e : v) all += e.second.first;
      std::fprintf(stderr, "pixart cuda profile (%s): %.2f ms of GPU time in ops\n", dt_name(dt), all);
      for (auto& e : v)
        std::fprintf(stderr, "  %-22s %10.2f ms %7lld calls\n", e.first.c_str(), e.second.first, (long long)e.second.second);
    }
    flag.reset();
    cudnn.reset();
    gemm.reset();
    if (stream) cudaStreamDestroy(stream);
    cudaGetLastError();
  }
};

// Records CUDA events around one op when profiling (PIXART_CUDA_PROFILE=1).
struct CudaBackend::ProfileScope {
  Impl* m;
  const char* op;
  cudaEvent_t a = nullptr;
  ProfileScope(Impl* impl, const char* name) : m(impl->profile ? impl : nullptr), op(name) {
    if (m && cudaEventCreate(&a) == cudaSuccess) cudaEventRecord(a, m->stream);
  }
  ~ProfileScope() {
    if (!m || !a) return;
    cudaEvent_t b = nullptr;
    if (cudaEventCreate(&b) != cudaSuccess) return;
    cudaEventRecord(b, m->stream);
    m->spans.push_back({op, a, b});
    if (m->spans.size() >= 4096) m->flush_profile();
  }
};
#define PIXART_PROFILE(name) ProfileScope profile_scope_(impl_.get(), name)

}  // namespace pixart::cuda
