#include <cublasLt.h>

#include <string>

#include "cuda_common.cuh"
#include "elementwise.cuh"
#include "gemm.cuh"

namespace pixart::cuda {

namespace {

constexpr size_t kWorkspaceBytes = size_t(32) << 20;  // what cuBLAS recommends for Hopper

[[noreturn]] void throw_lt(cublasStatus_t st, const std::string& what) {
  const StatusCode code = st == CUBLAS_STATUS_ALLOC_FAILED ? StatusCode::kOutOfMemory
                          : st == CUBLAS_STATUS_NOT_SUPPORTED ? StatusCode::kUnsupported
                                                              : StatusCode::kInternal;
  fail(code, "cuBLASLt " + what + ": " + cublasLtGetStatusName(st) + " (" + cublasLtGetStatusString(st) + ")");
}
void check_lt(cublasStatus_t st, const char* what) {
  if (st != CUBLAS_STATUS_SUCCESS) throw_lt(st, what);
}

cudaDataType_t cuda_type(DT d) {
  switch (d) {
    case DT::kF32: return CUDA_R_32F;
    case DT::kF16: return CUDA_R_16F;
    case DT::kBF16: return CUDA_R_16BF;
  }
  return CUDA_R_32F;
}

// Largest power of two (<= 256) dividing the address; cuBLASLt picks kernels by it.
int64_t alignment(const void* p) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  if (a == 0) return 256;
  int64_t al = 1;
  while (al < 256 && (a % uintptr_t(al * 2)) == 0) al *= 2;
  return al;
}

cublasLtMatrixLayout_t make_layout(DT t, uint64_t rows, uint64_t cols, int64_t ld, int64_t batch, int64_t stride) {
  cublasLtMatrixLayout_t l = nullptr;
  check_lt(cublasLtMatrixLayoutCreate(&l, cuda_type(t), rows, cols, ld), "layout");
  if (batch > 1) {
    const int32_t bc = int32_t(batch);
    check_lt(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &bc, sizeof bc), "layout batch");
    check_lt(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof stride),
             "layout stride");
  }
  return l;
}

}  // namespace

struct Gemm::Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo{};
  bool fused = true;  // bias/GELU applied by the epilogue; else by a kernel after the GEMM
  ~Plan() {
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (c) cublasLtMatrixLayoutDestroy(c);
    if (d) cublasLtMatrixLayoutDestroy(d);
    if (desc) cublasLtMatmulDescDestroy(desc);
  }
};

Gemm::Gemm(MemoryPool& pool, bool allow_tf32, bool fuse_gelu) : allow_tf32_(allow_tf32), fuse_gelu_(fuse_gelu) {
  cublasLtHandle_t h = nullptr;
  check_lt(cublasLtCreate(&h), "create");
  handle_ = h;
  try {
    workspace_ = DeviceBuffer(pool, kWorkspaceBytes);
  } catch (...) {
    cublasLtDestroy(h);
    throw;
  }
}

Gemm::~Gemm() {
  plans_.clear();
  if (handle_) cublasLtDestroy(static_cast<cublasLtHandle_t>(handle_));
}

Gemm::Plan& Gemm::plan_for(const GemmArgs& g) {
  const bool has_c = g.beta != 0.f;
  const bool gelu = g.gelu && fuse_gelu_;
  std::vector<int64_t> key = {g.M,          g.N,          g.K,          g.lda,         g.ldb,        g.ldd,
                              int64_t(g.a_type), int64_t(g.b_type), int64_t(g.d_type), g.b_is_nk, has_c,
                              g.bias != nullptr, gelu,      g.batch,      g.stride_a,    g.stride_b,   g.stride_d,
                              alignment(g.A), alignment(g.B), alignment(g.D), has_c ? alignment(g.C) : 0,
                              g.bias ? alignment(g.bias) : 0};
  auto it = plans_.find(key);
  if (it != plans_.end()) return *it->second;

  auto p = std::make_unique<Plan>();
  const bool all_f32 = g.a_type == DT::kF32 && g.b_type == DT::kF32 && g.d_type == DT::kF32;
  const cublasComputeType_t compute = all_f32 && allow_tf32_ ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  check_lt(cublasLtMatmulDescCreate(&p->desc, compute, CUDA_R_32F), "matmul desc");
  // Column-major view of the row-major problem: D^T[N, M] = op(B)^T[N, K] · A^T[K, M].
  const cublasOperation_t ta = g.b_is_nk ? CUBLAS_OP_T : CUBLAS_OP_N, tb = CUBLAS_OP_N;
  check_lt(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta), "transa");
  check_lt(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb), "transb");
  p->a = g.b_is_nk ? make_layout(g.b_type, g.K, g.N, g.ldb, g.batch, g.stride_b)
                   : make_layout(g.b_type, g.N, g.K, g.ldb, g.batch, g.stride_b);
  p->b = make_layout(g.a_type, g.K, g.M, g.lda, g.batch, g.stride_a);
  p->c = make_layout(g.d_type, g.N, g.M, g.ldd, g.batch, g.stride_d);
  p->d = make_layout(g.d_type, g.N, g.M, g.ldd, g.batch, g.stride_d);

  cublasLtMatmulPreference_t pref = nullptr;
  check_lt(cublasLtMatmulPreferenceCreate(&pref), "preference");
  const uint64_t ws = kWorkspaceBytes;
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws);
  const uint32_t al_a = uint32_t(alignment(g.B)), al_b = uint32_t(alignment(g.A)), al_d = uint32_t(alignment(g.D));
  const uint32_t al_c = has_c ? uint32_t(alignment(g.C)) : al_d;
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al_a, sizeof al_a);
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al_b, sizeof al_b);
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al_c, sizeof al_c);
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al_d, sizeof al_d);

  auto query = [&](cublasLtEpilogue_t epi) {
    cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi);
    if (epi != CUBLASLT_EPILOGUE_DEFAULT) {
      const int32_t bt = int32_t(cuda_type(g.d_type));
      cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bt, sizeof bt);
      // The heuristic reads the pointer's alignment; run() sets it again for every call.
      cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &g.bias, sizeof g.bias);
    }
    cublasLtMatmulHeuristicResult_t r{};
    int n = 0;
    const cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(static_cast<cublasLtHandle_t>(handle_), p->desc, p->a,
                                                             p->b, p->c, p->d, pref, 1, &r, &n);
    if (st == CUBLAS_STATUS_SUCCESS && n > 0 && r.state == CUBLAS_STATUS_SUCCESS) {
      p->algo = r.algo;
      return true;
    }
    return false;
  };
  cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_DEFAULT;
  if (g.bias && gelu) epi = CUBLASLT_EPILOGUE_GELU_BIAS;
  else if (g.bias) epi = CUBLASLT_EPILOGUE_BIAS;
  else if (gelu) epi = CUBLASLT_EPILOGUE_GELU;
  bool ok = query(epi);
  if (!ok && epi != CUBLASLT_EPILOGUE_DEFAULT) {
    p->fused = false;
    ok = query(CUBLASLT_EPILOGUE_DEFAULT);
  }
  cublasLtMatmulPreferenceDestroy(pref);
  if (!ok) {
    fail(StatusCode::kUnsupported, "cuBLASLt has no algorithm for a " + std::string(dt_name(g.a_type)) + " GEMM of " +
                                       std::to_string(g.M) + "x" + std::to_string(g.N) + "x" + std::to_string(g.K));
  }
  p->fused = p->fused && (g.bias || gelu);
  return *plans_.emplace(std::move(key), std::move(p)).first->second;
}

void Gemm::run(const GemmArgs& g, cudaStream_t s) {
  if (g.M == 0 || g.N == 0 || g.batch == 0) return;
  if ((g.bias || g.gelu) && (g.batch != 1 || g.ldd != g.N)) {
    fail(StatusCode::kInternal, "cuda gemm: bias/GELU epilogue needs a single contiguous output");
  }
  if (g.gelu && g.beta != 0.f) fail(StatusCode::kInternal, "cuda gemm: GELU epilogue cannot follow a residual");
  if (g.K == 0) {
    // cuBLASLt wants k >= 1: D = beta * C (+ epilogue) by hand.
    const size_t es = dt_size(g.d_type);
    for (int64_t b = 0; b < g.batch; b++) {
      char* d = static_cast<char*>(g.D) + b * g.stride_d * es;
      check_cuda(cudaMemset2DAsync(d, g.ldd * es, 0, g.N * es, g.M, s), "gemm k=0");
    }
    launch_bias_act_residual(g.d_type, g.D, g.bias, g.beta != 0.f ? g.C : nullptr, g.M, g.N,
                             g.gelu ? Act::kGeluTanh : Act::kNone, s);
    return;
  }
  Plan& p = plan_for(g);
  const bool use_epilogue = p.fused;
  if (use_epilogue && g.bias) {
    cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &g.bias, sizeof g.bias);
  }
  const float alpha = g.alpha, beta = g.beta;
  const void* c = g.beta != 0.f ? g.C : g.D;
  check_lt(cublasLtMatmul(static_cast<cublasLtHandle_t>(handle_), p.desc, &alpha, g.B, p.a, g.A, p.b, &beta, c, p.c,
                          g.D, p.d, &p.algo, workspace_.get(), workspace_.size(), s),
           "matmul");
  const bool need_bias = g.bias && !use_epilogue;
  const bool need_gelu = g.gelu && !(use_epilogue && fuse_gelu_);
  if (need_bias || need_gelu) {
    launch_bias_act_residual(g.d_type, g.D, need_bias ? g.bias : nullptr, nullptr, g.M, g.N,
                             need_gelu ? Act::kGeluTanh : Act::kNone, s);
  }
}

}  // namespace pixart::cuda
