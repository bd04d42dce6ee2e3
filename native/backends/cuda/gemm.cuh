// GEMMs through cuBLASLt, in row-major terms. Descriptors, layouts and the chosen algorithm
// are cached per shape/dtype/epilogue/alignment, so a denoising step does no heuristic query
// after the first. Bias and GELU(tanh) are fused as cuBLASLt epilogues, a residual through
// beta = 1 with C = residual; where cuBLASLt offers no algorithm with the epilogue, the plain
// GEMM runs and an elementwise kernel applies it.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "cuda_types.h"
#include "device_buffer.h"
#include "memory_pool.h"

namespace pixart::cuda {

// D[M, N] = epilogue(alpha * A[M, K] · op(B) + beta * C + bias[N]), row-major, optionally batched.
struct GemmArgs {
  int64_t M = 0, N = 0, K = 0;
  const void* A = nullptr;
  int64_t lda = 0;
  DT a_type = DT::kF32;
  const void* B = nullptr;
  int64_t ldb = 0;
  DT b_type = DT::kF32;
  bool b_is_nk = true;  // true: B stored [N, K] (a linear weight, D = A·B^T); false: B stored [K, N]
  void* D = nullptr;
  int64_t ldd = 0;
  DT d_type = DT::kF32;
  const void* C = nullptr;  // read when beta != 0; same dtype, ld and batch stride as D
  float alpha = 1.f, beta = 0.f;
  const void* bias = nullptr;  // [N], d_type; needs batch == 1 and ldd == N
  bool gelu = false;           // GELU (tanh approximation) after bias (not combined with beta != 0)
  int64_t batch = 1, stride_a = 0, stride_b = 0, stride_d = 0;
};

class Gemm {
 public:
  // allow_tf32: float32 GEMMs may use TF32 tensor cores (CUBLAS_COMPUTE_32F_FAST_TF32).
  // fuse_gelu: use cuBLASLt's GELU epilogue (if false, GELU runs as a separate kernel).
  Gemm(MemoryPool& pool, bool allow_tf32, bool fuse_gelu);
  ~Gemm();
  Gemm(const Gemm&) = delete;
  Gemm& operator=(const Gemm&) = delete;
  void run(const GemmArgs& g, cudaStream_t s);
  size_t cached_plans() const { return plans_.size(); }

 private:
  struct Plan;
  Plan& plan_for(const GemmArgs& g);
  void* handle_ = nullptr;  // cublasLtHandle_t
  DeviceBuffer workspace_;
  bool allow_tf32_, fuse_gelu_;
  std::map<std::vector<int64_t>, std::unique_ptr<Plan>> plans_;
};

}  // namespace pixart::cuda
