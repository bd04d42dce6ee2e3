#include "cudnn_conv.h"

#if __has_include(<cudnn.h>)
#include <cudnn.h>
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <vector>

#include "../../core/status.h"
#include "cuda_common.cuh"
#include "device_buffer.h"
#include "nhwc_transpose.cuh"

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

bool verbose() { return env_flag("PIXART_CUDA_VERBOSE", false); }

constexpr size_t kMaxWorkspace = size_t(512) << 20;   // per algorithm
constexpr int64_t kNhwcBandBytes = int64_t(256) << 20;  // x + y of one NHWC band (default)
constexpr int kMaxNchw = 4, kMaxNhwc = 3;             // candidates per layout
constexpr double kShapeBudgetMs = 300;                // no further candidates of a shape after this
constexpr double kTotalBudgetMs = 10000;              // no new shapes tuned after this
constexpr float kNhwcMargin = 0.95f;                  // NHWC must beat NCHW by more than 5%
constexpr float kPruneFactor = 3.f, kPruneSlackMs = 5.f;  // warm-up slower than 3x best + 5 ms: not timed further
constexpr float kSecondRunFactor = 1.3f;              // slower than this x the best: one timed run only

// GEMM-type algorithms only: FFT and Winograd trade accuracy (in f16) for speed.
bool exactish(cudnnConvolutionFwdAlgo_t al) {
  return al == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM || al == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM ||
         al == CUDNN_CONVOLUTION_FWD_ALGO_GEMM || al == CUDNN_CONVOLUTION_FWD_ALGO_DIRECT;
}

const char* algo_name(cudnnConvolutionFwdAlgo_t al) {
  switch (al) {
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM: return "IMPLICIT_GEMM";
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM: return "IMPLICIT_PRECOMP_GEMM";
    case CUDNN_CONVOLUTION_FWD_ALGO_GEMM: return "GEMM";
    case CUDNN_CONVOLUTION_FWD_ALGO_DIRECT: return "DIRECT";
    default: return "other";
  }
}

const char* math_name(cudnnMathType_t m) {
  switch (m) {
    case CUDNN_DEFAULT_MATH: return "default-math";
    case CUDNN_TENSOR_OP_MATH: return "tensor-op";
    case CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION: return "tensor-op-conversion";
    case CUDNN_FMA_MATH: return "fma";
    default: return "math?";
  }
}

// A failed CUDA runtime call here must not leave its (non-sticky) error for the next
// check_launch of another kernel to find.
bool cuda_ok(cudaError_t e) {
  if (e == cudaSuccess) return true;
  (void)cudaGetLastError();
  return false;
}

// A convolution descriptor (cross-correlation, float accumulation) with the given padding and
// math type.
cudnnConvolutionDescriptor_t make_conv_desc(const ConvArgs& c, int pad_h, int pad_w, cudnnMathType_t math) {
  const Api& a = api();
  cudnnConvolutionDescriptor_t d = nullptr;
  if (a.createConv(&d) != CUDNN_STATUS_SUCCESS) return nullptr;
  if (a.setConv2d(d, pad_h, pad_w, c.stride, c.stride, 1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT) !=
          CUDNN_STATUS_SUCCESS ||
      a.setMathType(d, math) != CUDNN_STATUS_SUCCESS) {
    a.destroyConv(d);
    return nullptr;
  }
  return d;
}

// How the NHWC path walks the output: n bands of `rows` output rows, each computed from
// `rows_in` input rows (rows (band * rows) * stride - pad_top on, zero where past the image:
// the band convolution has no vertical padding). The last band may reach past Ho; its extra
// rows are computed from zero rows and not copied back. Bands keep the NHWC temporaries of x
// and y within `budget` bytes. n == 0: no band fits.
struct Bands {
  int64_t n = 0, rows = 0, rows_in = 0;
};

Bands plan_bands(const ConvArgs& c, int64_t budget) {
  for (int64_t n = 1; n <= c.Ho; n++) {
    const int64_t rows = (c.Ho + n - 1) / n, rows_in = (rows - 1) * c.stride + c.kh;
    if ((c.B * c.C * rows_in * c.W + c.B * c.O * rows * c.Wo) * 2 <= budget)
      return {(c.Ho + rows - 1) / rows, rows, rows_in};  // no band left without rows of its own
    if (rows == 1) break;
  }
  return {};
}

// x, w, y descriptors of one memory layout (NCHW: filter OIHW; NHWC: filter OHWI = KRSC, x and
// y one band of xH and yH rows).
struct Layout {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  bool ok = false;
  Layout() = default;
  Layout(const Layout&) = delete;
  Layout& operator=(const Layout&) = delete;
  ~Layout() {
    const Api& a = api();
    if (x) a.destroyTensor(x);
    if (y) a.destroyTensor(y);
    if (w) a.destroyFilter(w);
  }
  bool init(cudnnTensorFormat_t f, cudnnDataType_t t, const ConvArgs& c, int64_t xH, int64_t yH) {
    const Api& a = api();
    ok = a.createTensor(&x) == CUDNN_STATUS_SUCCESS && a.createTensor(&y) == CUDNN_STATUS_SUCCESS &&
         a.createFilter(&w) == CUDNN_STATUS_SUCCESS;
    ok = ok && a.setTensor4d(x, f, t, int(c.B), int(c.C), int(xH), int(c.W)) == CUDNN_STATUS_SUCCESS;
    ok = ok && a.setTensor4d(y, f, t, int(c.B), int(c.O), int(yH), int(c.Wo)) == CUDNN_STATUS_SUCCESS;
    ok = ok && a.setFilter4d(w, t, f, int(c.O), int(c.C), int(c.kh), int(c.kw)) == CUDNN_STATUS_SUCCESS;
    return ok;
  }
};

// One way to run the convolution: layout, algorithm, math type, workspace.
struct Cand {
  bool nhwc = false;
  cudnnConvolutionFwdAlgo_t algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
  cudnnMathType_t math = CUDNN_TENSOR_OP_MATH;
  size_t workspace = 0;
  cudnnConvolutionDescriptor_t conv = nullptr;  // owned
  float ms = -1.f;                              // tuned time; < 0: not timed or failed
  Cand() = default;
  Cand(const Cand&) = delete;
  Cand& operator=(const Cand&) = delete;
  ~Cand() {
    if (conv) api().destroyConv(conv);
  }
};

// The timing events, destroyed with this object.
struct Events {
  cudaEvent_t a = nullptr, b = nullptr;
  bool ok = false;
  Events() {
    ok = cuda_ok(cudaEventCreate(&a));
    ok = ok && cuda_ok(cudaEventCreate(&b));
  }
  Events(const Events&) = delete;
  Events& operator=(const Events&) = delete;
  ~Events() {
    if (a) cudaEventDestroy(a);
    if (b) cudaEventDestroy(b);
  }
  // Milliseconds that launch() takes on stream s, or -1 when it (or the timing) failed. Waits
  // for the stream either way, so a failed launch leaves nothing of its own queued behind.
  template <class Fn>
  float time(cudaStream_t s, Fn&& launch) {
    if (!cuda_ok(cudaEventRecord(a, s))) return -1.f;
    const bool launched = launch();
    if (!cuda_ok(cudaEventRecord(b, s))) return -1.f;
    if (!cuda_ok(cudaEventSynchronize(b))) return -1.f;
    float ms = 0.f;
    if (!launched || !cuda_ok(cudaEventElapsedTime(&ms, a, b))) return -1.f;
    return ms;
  }
};

std::string shape_str(DT dt, const ConvArgs& c) {
  char buf[192];
  std::snprintf(buf, sizeof buf, "%s B%lld C%lld %lldx%lld -> O%lld k%lldx%lld s%d p%d,%d",
                dt == DT::kF16 ? "f16" : "bf16", (long long)c.B, (long long)c.C, (long long)c.H, (long long)c.W,
                (long long)c.O, (long long)c.kh, (long long)c.kw, c.stride, c.pad_top, c.pad_left);
  return buf;
}

std::string cand_str(const Cand& k, const Bands& bands) {
  char buf[160];
  char layout[48] = "NCHW";
  if (k.nhwc) std::snprintf(layout, sizeof layout, "NHWC (%lld band%s)", (long long)bands.n, bands.n == 1 ? "" : "s");
  std::snprintf(buf, sizeof buf, "%s %s %s ws %.1f MiB", layout, algo_name(k.algo), math_name(k.math),
                double(k.workspace) / (1 << 20));
  return buf;
}

}  // namespace

struct CudnnConv::Plan {
  Layout nchw, nhwc;  // nhwc: one band's descriptors, set up when the shape is tuned
  Bands bands;
  std::vector<std::unique_ptr<Cand>> cands;  // cands[0] is the heuristics' pick when there is one
  Cand* choice = nullptr;                    // what run() launches; null: im2col
  bool tuned = false;                        // the choice is final
};

namespace {

// Device buffers of one launch of a candidate (released when this goes out of scope; the pool's
// stream-ordered reuse makes that safe right after the launch).
struct Temps {
  DeviceBuffer ws, x, w, y;
};

Temps alloc_temps(const Cand& k, const Bands& bands, const ConvArgs& c, MemoryPool& pool) {
  Temps t;
  if (k.workspace) t.ws = DeviceBuffer(pool, k.workspace);
  if (k.nhwc) {
    t.x = DeviceBuffer(pool, size_t(c.B * c.C * bands.rows_in * c.W) * 2);
    t.w = DeviceBuffer(pool, size_t(c.O * c.C * c.kh * c.kw) * 2);
    t.y = DeviceBuffer(pool, size_t(c.B * c.O * bands.rows * c.Wo) * 2);
  }
  return t;
}

// Queues candidate k on stream s (the handle's stream); false when a launch or a cuDNN call
// failed. NHWC: w (OIHW) -> t.w (OHWI), then per band: x's rows -> t.x (NHWC, zero rows past
// the image), conv into t.y, t.y's rows that are in the output -> y (NCHW).
bool launch_cand(cudnnHandle_t h, const Layout& nchw, const Layout& nhwc, const Bands& bands, const Cand& k,
                 const ConvArgs& c, const Temps& t, cudaStream_t s) {
  const Api& a = api();
  const float one = 1.f, zero = 0.f;
  if (!k.nhwc)
    return a.forward(h, &one, nchw.x, c.x, nchw.w, c.w, k.conv, k.algo, t.ws.get(), k.workspace, &zero, nchw.y, c.y) ==
           CUDNN_STATUS_SUCCESS;
  const int64_t kk = c.kh * c.kw, HW = c.H * c.W, HWo = c.Ho * c.Wo;
  Transpose2Args tw;  // [O][C][kk] -> [O][kk][C]
  tw.in = c.w;
  tw.out = t.w.get();
  tw.B = c.O;
  tw.R = c.C;
  tw.C = kk;
  tw.in_bs = c.C * kk;
  tw.in_ld = kk;
  tw.in_col_end = kk;
  tw.out_bs = kk * c.C;
  tw.out_ld = c.C;
  if (!cuda_ok(launch_transpose_2byte(tw, s))) return false;
  for (int64_t i = 0; i < bands.n; i++) {
    const int64_t r0 = i * bands.rows, valid = std::min(bands.rows, c.Ho - r0);
    Transpose2Args tx;  // [B][C][rows_in * W] (from input row r0 * stride - pad_top) -> [B][rows_in * W][C]
    tx.in = c.x;
    tx.out = t.x.get();
    tx.B = c.B;
    tx.R = c.C;
    tx.C = bands.rows_in * c.W;
    tx.in_bs = c.C * HW;
    tx.in_ld = HW;
    tx.in_col0 = (r0 * c.stride - c.pad_top) * c.W;
    tx.in_col_end = HW;
    tx.out_bs = bands.rows_in * c.W * c.C;
    tx.out_ld = c.C;
    if (!cuda_ok(launch_transpose_2byte(tx, s))) return false;
    if (a.forward(h, &one, nhwc.x, t.x.get(), nhwc.w, t.w.get(), k.conv, k.algo, t.ws.get(), k.workspace, &zero,
                  nhwc.y, t.y.get()) != CUDNN_STATUS_SUCCESS)
      return false;
    Transpose2Args ty;  // [B][valid * Wo][O] -> y's [B][O][rows r0 .. r0 + valid)
    ty.in = t.y.get();
    ty.out = static_cast<char*>(c.y) + r0 * c.Wo * 2;
    ty.B = c.B;
    ty.R = valid * c.Wo;
    ty.C = c.O;
    ty.in_bs = bands.rows * c.Wo * c.O;
    ty.in_ld = c.O;
    ty.in_col_end = c.O;
    ty.out_bs = c.O * HWo;
    ty.out_ld = HWo;
    if (!cuda_ok(launch_transpose_2byte(ty, s))) return false;
  }
  return true;
}

bool is_oom(const EngineError& e) { return e.code() == StatusCode::kOutOfMemory; }

}  // namespace

CudnnConv::CudnnConv() {
  const char* tune = std::getenv("PIXART_CUDA_CONV_TUNE");
  tune_ = !(tune && std::strcmp(tune, "0") == 0);
  const char* layout = std::getenv("PIXART_CUDA_CONV_LAYOUT");
  if (layout && std::strcmp(layout, "nchw") == 0) layout_ = 1;
  else if (layout && std::strcmp(layout, "nhwc") == 0) layout_ = 2;
  band_bytes_ = kNhwcBandBytes;
  if (const char* band = std::getenv("PIXART_CUDA_CONV_BAND_BYTES")) {
    const long long b = std::atoll(band);
    if (b > 0) band_bytes_ = b;
  }
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
  if (verbose())
    std::fprintf(stderr, "pixart cuda: convolutions through cuDNN %zu (%s%s)\n", a.getVersion(),
                 tune_ ? "timed per shape" : "heuristic pick, PIXART_CUDA_CONV_TUNE=0",
                 layout_ == 1 ? ", NCHW only" : layout_ == 2 ? ", NHWC only" : "");
}

CudnnConv::~CudnnConv() {
  plans_.clear();
  if (handle_) api().destroy(static_cast<cudnnHandle_t>(handle_));
}

// Times the candidates of one shape (stream s must not be capturing) and sets p.choice.
void CudnnConv::tune(Plan& p, DT dt, const ConvArgs& c, MemoryPool& pool, cudaStream_t s,
                     const std::function<void()>& im2col) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point t0 = Clock::now();
  const Api& a = api();
  const cudnnHandle_t h = static_cast<cudnnHandle_t>(handle_);
  const bool v = verbose();
  const std::string shape = v ? shape_str(dt, c) : std::string();
  const cudnnDataType_t t = dt == DT::kF16 ? CUDNN_DATA_HALF : CUDNN_DATA_BFLOAT16;
  p.tuned = true;  // whatever happens below, this shape is not tuned again
  Cand* const heuristic = p.choice;

  // The candidates of one layout, in the heuristics' order: GEMM-type algorithms that the
  // heuristics report as runnable, workspace within budget, each (algorithm, math type) once.
  auto add_layout = [&](bool nhwc, int limit, std::vector<Cand*>& out) {
    const Layout& l = nhwc ? p.nhwc : p.nchw;
    if (!l.ok) return;
    for (const auto& k : p.cands)  // the heuristics' pick (NCHW, tensor-op descriptor) comes first
      if (k->nhwc == nhwc && int(out.size()) < limit) out.push_back(k.get());
    const int pad_h = nhwc ? 0 : c.pad_top;  // NHWC bands carry their vertical padding as zero rows
    cudnnConvolutionDescriptor_t probe = make_conv_desc(c, pad_h, c.pad_left, CUDNN_TENSOR_OP_MATH);
    if (!probe) return;
    cudnnConvolutionFwdAlgoPerf_t perf[2 * CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int n = 0;
    const bool got = a.getAlgo(h, l.x, l.w, probe, l.y, 2 * CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf) ==
                     CUDNN_STATUS_SUCCESS;
    a.destroyConv(probe);
    if (!got) return;
    for (int i = 0; i < n && int(out.size()) < limit; i++) {
      const cudnnConvolutionFwdAlgoPerf_t& r = perf[i];
      if (!exactish(r.algo) || r.status != CUDNN_STATUS_SUCCESS || r.memory > kMaxWorkspace) continue;
      bool seen = false;
      for (const Cand* k : out) seen = seen || (k->algo == r.algo && k->math == r.mathType);
      if (seen) continue;
      auto k = std::make_unique<Cand>();
      k->nhwc = nhwc;
      k->algo = r.algo;
      k->math = r.mathType;
      k->workspace = r.memory;
      k->conv = make_conv_desc(c, pad_h, c.pad_left, r.mathType);
      if (!k->conv) continue;
      out.push_back(k.get());
      p.cands.push_back(std::move(k));
    }
  };

  // (The workspace passed is what the heuristics report, as untuned: cuDNN picks its kernel by
  // the workspace it gets, and a larger one was seen to pick a slower kernel.)
  std::vector<Cand*> nchw, nhwc;
  if (layout_ != 2) add_layout(false, kMaxNchw, nchw);
  if (layout_ != 1) {
    p.bands = plan_bands(c, band_bytes_);
    if (p.bands.n > 0 && p.nhwc.init(CUDNN_TENSOR_NHWC, t, c, p.bands.rows_in, p.bands.rows))
      add_layout(true, kMaxNhwc, nhwc);
    else if (v)
      std::fprintf(stderr, "pixart cuda: conv tune %s: no NHWC candidate (%s)\n", shape.c_str(),
                   p.bands.n > 0 ? "descriptors failed" : "one output row's temporaries exceed the band budget");
  }
  std::vector<Cand*> order;  // alternating, each layout's likeliest first
  for (size_t i = 0; i < std::max(nchw.size(), nhwc.size()); i++) {
    if (i < nchw.size()) order.push_back(nchw[i]);
    if (i < nhwc.size()) order.push_back(nhwc[i]);
  }

  Events ev;
  if (!ev.ok) {
    if (v) std::fprintf(stderr, "pixart cuda: conv tune %s: no CUDA events, heuristic pick kept\n", shape.c_str());
    return;
  }
  if (a.setStream(h, s) != CUDNN_STATUS_SUCCESS) return;  // run() then fails the same way
  float best = -1.f;
  // Warm-up, one timed run, a second one unless clearly slower than the best so far. A warm-up
  // far slower than the best (beyond what first-use loading could add) ends it there.
  auto measure = [&](auto&& fn) -> float {
    const float warm = ev.time(s, fn);
    if (warm < 0.f) return -1.f;
    if (best > 0.f && warm > kPruneFactor * best + kPruneSlackMs) return warm;
    const float t1 = ev.time(s, fn);
    if (t1 < 0.f) return -1.f;
    if (best > 0.f && t1 > kSecondRunFactor * best) return t1;
    const float t2 = ev.time(s, fn);
    return t2 < 0.f ? -1.f : std::min(t1, t2);
  };
  auto elapsed_ms = [&] { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); };
  size_t tried = 0;
  for (Cand* k : order) {
    // Untuned this shape runs im2col (its heuristic pick, always timed first, is missing or
    // failed): without a timed im2col to compare with, it stays there (below), so stop here.
    if (layout_ != 2 && !im2col && (!heuristic || (tried > 0 && heuristic->ms < 0.f))) break;
    if (tried >= 2 && elapsed_ms() > kShapeBudgetMs) {
      if (v)
        std::fprintf(stderr, "pixart cuda: conv tune %s: %s not timed (shape budget)\n", shape.c_str(),
                     cand_str(*k, p.bands).c_str());
      continue;
    }
    tried++;
    k->ms = -1.f;
    const char* why = "failed";
    try {
      Temps tm = alloc_temps(*k, p.bands, c, pool);
      k->ms = measure([&] { return launch_cand(h, p.nchw, p.nhwc, p.bands, *k, c, tm, s); });
    } catch (const EngineError& e) {
      if (!is_oom(e)) throw;
      why = "out of memory";
    }
    if (k->ms >= 0.f && (best < 0.f || k->ms < best)) best = k->ms;
    if (v && k->ms >= 0.f)
      std::fprintf(stderr, "pixart cuda: conv tune %s: %s: %.4f ms\n", shape.c_str(), cand_str(*k, p.bands).c_str(),
                   k->ms);
    else if (v)
      std::fprintf(stderr, "pixart cuda: conv tune %s: %s: %s\n", shape.c_str(), cand_str(*k, p.bands).c_str(), why);
  }
  float im2col_ms = -1.f;
  if (im2col && layout_ == 0) {
    im2col_ms = measure([&] {
      try {
        im2col();
        return true;
      } catch (const std::exception&) {
        return false;
      }
    });
    if (v)
      std::fprintf(stderr, "pixart cuda: conv tune %s: im2col: %.4f ms%s\n", shape.c_str(), im2col_ms,
                   im2col_ms < 0.f ? " (failed)" : "");
  }

  Cand *best_nchw = nullptr, *best_nhwc = nullptr;
  for (Cand* k : order) {
    if (k->ms < 0.f) continue;
    Cand*& b = k->nhwc ? best_nhwc : best_nchw;
    if (!b || k->ms < b->ms) b = k;
  }
  Cand* win = best_nchw;
  if (best_nhwc && (!win || best_nhwc->ms < kNhwcMargin * win->ms)) win = best_nhwc;
  const bool use_im2col = im2col_ms >= 0.f && (!win || im2col_ms < win->ms);
  // Untuned, a shape whose heuristic pick is missing or fails runs im2col. Without a timed
  // im2col that stays so: on an H200, such a shape (a 1x1 convolution at 1024x1024 whose pick
  // fails for want of workspace) ran 8x faster in im2col's direct GEMM than in any cuDNN candidate.
  const bool baseline_im2col = layout_ != 2 && (!heuristic || heuristic->ms < 0.f) && im2col_ms < 0.f;
  if (use_im2col || baseline_im2col) p.choice = nullptr;
  else if (win) p.choice = win;
  else if (layout_ == 2) p.choice = heuristic;  // NHWC only, none ran: the untimed NCHW pick stays
  else p.choice = nullptr;                      // every candidate failed: im2col, as when cuDNN fails
  const double took = elapsed_ms();
  tune_ms_ += took;
  if (v)
    std::fprintf(stderr,
                 "pixart cuda: conv tune %s: chose %s (%.4f ms; best NCHW %.4f, best NHWC %.4f, im2col %.4f), "
                 "%.1f ms tuning\n",
                 shape.c_str(),
                 p.choice          ? cand_str(*p.choice, p.bands).c_str()
                 : baseline_im2col ? "im2col (untimed: the heuristic pick fails or is missing)"
                                   : "im2col",
                 p.choice ? p.choice->ms : im2col_ms, best_nchw ? best_nchw->ms : -1.f,
                 best_nhwc ? best_nhwc->ms : -1.f, im2col_ms, took);
}

bool CudnnConv::run(DT dt, const ConvArgs& c, int pad_bottom, int pad_right, MemoryPool& pool, cudaStream_t s,
                    const std::function<void()>& im2col) {
  if (!handle_ || dt == DT::kF32 || c.pad_top != pad_bottom || c.pad_left != pad_right) return false;
  const int64_t lim = int64_t(1) << 31;
  if (c.B * c.C * c.H * c.W >= lim || c.B * c.O * c.Ho * c.Wo >= lim) return false;
  const Api& a = api();
  const cudnnHandle_t h = static_cast<cudnnHandle_t>(handle_);
  const auto key = std::make_tuple(int(dt), c.B, c.C, c.H, c.W, c.O, c.kh, c.kw, c.stride, c.pad_top, c.pad_left);
  auto it = plans_.find(key);
  if (it == plans_.end()) {
    // The heuristics' ranking (NCHW, tensor-op math); the first GEMM-type algorithm that the
    // heuristics report as runnable within the workspace budget. Untuned, this is the choice.
    auto p = std::make_unique<Plan>();
    const cudnnDataType_t t = dt == DT::kF16 ? CUDNN_DATA_HALF : CUDNN_DATA_BFLOAT16;
    cudnnConvolutionDescriptor_t conv = nullptr;
    if (p->nchw.init(CUDNN_TENSOR_NCHW, t, c, c.H, c.Ho))
      conv = make_conv_desc(c, c.pad_top, c.pad_left, CUDNN_TENSOR_OP_MATH);
    if (conv) {
      cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
      int n = 0;
      if (a.getAlgo(h, p->nchw.x, p->nchw.w, conv, p->nchw.y, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf) ==
          CUDNN_STATUS_SUCCESS) {
        for (int i = 0; i < n; i++) {
          if (exactish(perf[i].algo) && perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= kMaxWorkspace) {
            auto k = std::make_unique<Cand>();
            k->algo = perf[i].algo;
            k->math = CUDNN_TENSOR_OP_MATH;  // the descriptor's
            k->workspace = perf[i].memory;
            k->conv = conv;
            conv = nullptr;
            p->choice = k.get();
            p->cands.push_back(std::move(k));
            break;
          }
        }
      }
      if (conv) a.destroyConv(conv);
    }
    p->tuned = !tune_;
    if (verbose())
      std::fprintf(stderr, "pixart cuda: cuDNN conv %s: heuristic pick %s\n", shape_str(dt, c).c_str(),
                   p->choice ? cand_str(*p->choice, p->bands).c_str() : "none (im2col)");
    it = plans_.emplace(key, std::move(p)).first;
  }
  Plan& p = *it->second;
  if (!p.tuned) {
    // Never time while the stream is being captured into a graph: the current choice is used and
    // the shape is tuned at its first use outside capture.
    if (!stream_capturing(s)) {
      if (tune_ms_ > kTotalBudgetMs) {
        p.tuned = true;
        if (verbose())
          std::fprintf(stderr, "pixart cuda: conv tune %s: tuning budget spent, heuristic pick kept\n",
                       shape_str(dt, c).c_str());
      } else {
        tune(p, dt, c, pool, s, im2col);
      }
    }
  }
  if (!p.choice) return false;
  const Cand& k = *p.choice;
  if (a.setStream(h, s) != CUDNN_STATUS_SUCCESS) return false;
  Temps tm = alloc_temps(k, p.bands, c, pool);
  if (!launch_cand(h, p.nchw, p.nhwc, p.bands, k, c, tm, s)) {
    if (verbose())
      std::fprintf(stderr, "pixart cuda: cuDNN convolution %s (%s) failed; using im2col\n", shape_str(dt, c).c_str(),
                   cand_str(k, p.bands).c_str());
    // This shape goes through im2col from now on; not for a failure while the stream is being
    // captured (the graph is abandoned and the step runs plainly, where the choice is tried again).
    if (!stream_capturing(s)) {
      p.choice = nullptr;
      p.tuned = true;
    }
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
bool CudnnConv::run(DT, const ConvArgs&, int, int, MemoryPool&, cudaStream_t, const std::function<void()>&) {
  return false;
}
void CudnnConv::tune(Plan&, DT, const ConvArgs&, MemoryPool&, cudaStream_t, const std::function<void()>&) {}
}  // namespace pixart::cuda

#endif
