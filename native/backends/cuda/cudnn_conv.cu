#include "cudnn_conv.h"

#if __has_include(<cudnn.h>)
#include <cudnn.h>
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "device_buffer.h"

namespace pixart::cuda {

namespace {

// The cuDNN entry points we use, resolved from the shared library.
struct Api {
  decltype(&cudnnGetVersion) getVersion = nullptr;
  decltype(&cudnnCreate) create = nullptr;
  decltype(&cudnnDestroy) destroy = nullptr;
  decltype(&cudnnSetStream) setStream = nullptr;
  decltype(&cudnnCreateTensorDescriptor) createTensor = nullptr;
  decltype(&cudnnDestroyTensorDescriptor) destroyTensor = nullptr;
  decltype(&cudnnSetTensor4dDescriptor) setTensor4d = nullptr;
  decltype(&cudnnCreateFilterDescriptor) createFilter = nullptr;
  decltype(&cudnnDestroyFilterDescriptor) destroyFilter = nullptr;
  decltype(&cudnnSetFilter4dDescriptor) setFilter4d = nullptr;
  decltype(&cudnnCreateConvolutionDescriptor) createConv = nullptr;
  decltype(&cudnnDestroyConvolutionDescriptor) destroyConv = nullptr;
  decltype(&cudnnSetConvolution2dDescriptor) setConv2d = nullptr;
  decltype(&cudnnSetConvolutionMathType) setMathType = nullptr;
  decltype(&cudnnGetConvolutionForwardAlgorithm_v7) getAlgo = nullptr;
  decltype(&cudnnConvolutionForward) forward = nullptr;
  std::string error;  // why loading failed
};

const Api& api() {
  static const Api a = [] {
    Api r;
    const char* off = std::getenv("PIXART_CUDA_CUDNN");
    if (off && std::strcmp(off, "0") == 0) {
      r.error = "turned off (PIXART_CUDA_CUDNN=0)";
      return r;
    }
    const char* path = std::getenv("PIXART_CUDNN_LIBRARY");
    void* lib = dlopen(path && *path ? path : "libcudnn.so.9", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      r.error = std::string("libcudnn.so.9 not loadable (") + dlerror() + ")";
      return r;
    }
    bool ok = true;
    auto sym = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib, name));
      if (!fn) ok = false;
    };
    sym(r.getVersion, "cudnnGetVersion");
    sym(r.create, "cudnnCreate");
    sym(r.destroy, "cudnnDestroy");
    sym(r.setStream, "cudnnSetStream");
    sym(r.createTensor, "cudnnCreateTensorDescriptor");
    sym(r.destroyTensor, "cudnnDestroyTensorDescriptor");
    sym(r.setTensor4d, "cudnnSetTensor4dDescriptor");
    sym(r.createFilter, "cudnnCreateFilterDescriptor");
    sym(r.destroyFilter, "cudnnDestroyFilterDescriptor");
    sym(r.setFilter4d, "cudnnSetFilter4dDescriptor");
    sym(r.createConv, "cudnnCreateConvolutionDescriptor");
    sym(r.destroyConv, "cudnnDestroyConvolutionDescriptor");
    sym(r.setConv2d, "cudnnSetConvolution2dDescriptor");
    sym(r.setMathType, "cudnnSetConvolutionMathType");
    sym(r.getAlgo, "cudnnGetConvolutionForwardAlgorithm_v7");
    sym(r.forward, "cudnnConvolutionForward");
    std::string err;
    if (!ok) err = "libcudnn.so.9 lacks the convolution API";
    else if (r.getVersion() / 10000 != CUDNN_MAJOR)
      err = "libcudnn reports version " + std::to_string(r.getVersion()) + ", built for " + std::to_string(CUDNN_MAJOR);
    if (!err.empty()) {
      r = Api();
      r.error = err;
    }
    return r;
  }();
  return a;
}

bool verbose() { return std::getenv("PIXART_CUDA_VERBOSE") != nullptr; }

}  // namespace

struct CudnnConv::Plan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  cudnnConvolutionFwdAlgo_t algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
  size_t workspace = 0;
  bool usable = false;
  ~Plan() {
    const Api& a = api();
    if (x) a.destroyTensor(x);
    if (y) a.destroyTensor(y);
    if (w) a.destroyFilter(w);
    if (conv) a.destroyConv(conv);
  }
};

CudnnConv::CudnnConv() {
  const Api& a = api();
  if (!a.create) {
    why_not_ = a.error;
    return;
  }
  cudnnHandle_t h = nullptr;
  if (a.create(&h) != CUDNN_STATUS_SUCCESS) {
    why_not_ = "cudnnCreate failed";
    return;
  }
  handle_ = h;
  if (verbose()) std::fprintf(stderr, "pixart cuda: convolutions through cuDNN %zu\n", a.getVersion());
}

CudnnConv::~CudnnConv() {
  plans_.clear();
  if (handle_) api().destroy(static_cast<cudnnHandle_t>(handle_));
}

bool CudnnConv::run(DT dt, const ConvArgs& c, int pad_bottom, int pad_right, MemoryPool& pool, cudaStream_t s) {
  if (!handle_ || dt == DT::kF32 || c.pad_top != pad_bottom || c.pad_left != pad_right) return false;
  const int64_t lim = int64_t(1) << 31;
  if (c.B * c.C * c.H * c.W >= lim || c.B * c.O * c.Ho * c.Wo >= lim) return false;
  const Api& a = api();
  const auto key = std::make_tuple(int(dt), c.B, c.C, c.H, c.W, c.O, c.kh, c.kw, c.stride, c.pad_top, c.pad_left);
  auto it = plans_.find(key);
  if (it == plans_.end()) {
    auto p = std::make_unique<Plan>();
    const cudnnDataType_t t = dt == DT::kF16 ? CUDNN_DATA_HALF : CUDNN_DATA_BFLOAT16;
    bool ok = a.createTensor(&p->x) == CUDNN_STATUS_SUCCESS && a.createTensor(&p->y) == CUDNN_STATUS_SUCCESS &&
              a.createFilter(&p->w) == CUDNN_STATUS_SUCCESS && a.createConv(&p->conv) == CUDNN_STATUS_SUCCESS;
    ok = ok && a.setTensor4d(p->x, CUDNN_TENSOR_NCHW, t, int(c.B), int(c.C), int(c.H), int(c.W)) == CUDNN_STATUS_SUCCESS;
    ok = ok && a.setTensor4d(p->y, CUDNN_TENSOR_NCHW, t, int(c.B), int(c.O), int(c.Ho), int(c.Wo)) == CUDNN_STATUS_SUCCESS;
    ok = ok && a.setFilter4d(p->w, t, CUDNN_TENSOR_NCHW, int(c.O), int(c.C), int(c.kh), int(c.kw)) == CUDNN_STATUS_SUCCESS;
    ok = ok && a.setConv2d(p->conv, c.pad_top, c.pad_left, c.stride, c.stride, 1, 1, CUDNN_CROSS_CORRELATION,
                           CUDNN_DATA_FLOAT) == CUDNN_STATUS_SUCCESS;
    ok = ok && a.setMathType(p->conv, CUDNN_TENSOR_OP_MATH) == CUDNN_STATUS_SUCCESS;
    if (ok) {
      // The heuristics' ranking; the first that succeeds within a workspace budget.
      cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
      int n = 0;
      if (a.getAlgo(static_cast<cudnnHandle_t>(handle_), p->x, p->w, p->conv, p->y, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n,
                    perf) == CUDNN_STATUS_SUCCESS) {
        for (int i = 0; i < n; i++) {
          // GEMM-type algorithms only: FFT and Winograd trade accuracy (in f16) for speed.
          const cudnnConvolutionFwdAlgo_t al = perf[i].algo;
          const bool exactish = al == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM ||
                                al == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM ||
                                al == CUDNN_CONVOLUTION_FWD_ALGO_GEMM || al == CUDNN_CONVOLUTION_FWD_ALGO_DIRECT;
          if (exactish && perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= (size_t(512) << 20)) {
            p->algo = perf[i].algo;
            p->workspace = perf[i].memory;
            p->usable = true;
            break;
          }
        }
      }
    }
    if (verbose())
      std::fprintf(stderr, "pixart cuda: cuDNN conv B%lld C%lld %lldx%lld -> O%lld k%lldx%lld s%d p%d,%d: %s (algo %d, workspace %zu)\n",
                   (long long)c.B, (long long)c.C, (long long)c.H, (long long)c.W, (long long)c.O, (long long)c.kh,
                   (long long)c.kw, c.stride, c.pad_top, c.pad_left, p->usable ? "cuDNN" : "im2col", int(p->algo),
                   p->workspace);
    it = plans_.emplace(key, std::move(p)).first;
  }
  Plan& p = *it->second;
  if (!p.usable) return false;
  DeviceBuffer ws;
  if (p.workspace) ws = DeviceBuffer(pool, p.workspace);
  const float one = 1.f, zero = 0.f;
  if (a.setStream(static_cast<cudnnHandle_t>(handle_), s) != CUDNN_STATUS_SUCCESS) return false;
  const cudnnStatus_t st = a.forward(static_cast<cudnnHandle_t>(handle_), &one, p.x, c.x, p.w, c.w, p.conv, p.algo,
                                     ws.get(), p.workspace, &zero, p.y, c.y);
  if (st != CUDNN_STATUS_SUCCESS) {
    p.usable = false;  // this shape goes through im2col from now on
    if (verbose())
      std::fprintf(stderr, "pixart cuda: cuDNN convolution B%lld C%lld %lldx%lld -> O%lld k%lld s%d failed (status %d); using im2col\n",
                   (long long)c.B, (long long)c.C, (long long)c.H, (long long)c.W, (long long)c.O, (long long)c.kh,
                   c.stride, int(st));
    return false;
  }
  return true;
}

}  // namespace pixart::cuda

#else  // built without cuDNN's headers: convolutions always take the im2col path

namespace pixart::cuda {
struct CudnnConv::Plan {};
CudnnConv::CudnnConv() : why_not_("built without cuDNN headers") {}
CudnnConv::~CudnnConv() = default;
bool CudnnConv::run(DT, const ConvArgs&, int, int, MemoryPool&, cudaStream_t) { return false; }
}  // namespace pixart::cuda

#endif
