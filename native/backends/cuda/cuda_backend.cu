#include "cuda_backend.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "../../core/op_checks.h"
#include "attention.cuh"
#include "cuda_backend_impl.h"
#include "conv2d.cuh"
#include "cudnn_conv.h"
#include "convert.cuh"
#include "cuda_common.cuh"
#include "device_buffer.h"
#include "elementwise.cuh"
#include "gemm.cuh"
#include "layout.cuh"
#include "norms.cuh"
#include "quant_gemm.cuh"
#include "rgb.cuh"
#include "state_program.cuh"
#include "tiles.cuh"
#include "rowwise.cuh"

namespace pixart::cuda {

namespace {

// Device memory of one tensor, from the backend's pool; returned to it when the last Tensor
// referring to it goes away (possibly after the backend: the pool is shared).
struct DeviceStorage final : Storage {
  std::shared_ptr<MemoryPool> pool;
  size_t granted = 0;
  bool exact = false;
  bool state = false;           // float32 state (core/backend.h) in a f16/bf16 backend
  const void* owner = nullptr;  // the CudaBackend::Impl that made it
  ~DeviceStorage() override { pool->release(data, granted, exact); }
};

// A quantised linear weight [N, K] (core/quant.h): packed values and scales in device memory.
// linear() recognises it; every other op rejects it like a foreign tensor.
struct QuantStorage final : Storage {
  std::shared_ptr<MemoryPool> pool;
  const void* owner = nullptr;
  WeightQuant quant = WeightQuant::kInt8;
  int64_t N = 0, K = 0;
  uint8_t* values = nullptr;
  float* scales = nullptr;
  size_t values_granted = 0, scales_granted = 0;
  ~QuantStorage() override {
    if (values) pool->release(values, values_granted, true);
    if (scales) pool->release(scales, scales_granted, true);
  }
};

// The same argument checks (and messages) as every other backend.
const OpChecks kChecks("cuda");

Act to_act(Activation a) {
  switch (a) {
    case Activation::kNone: return Act::kNone;
    case Activation::kGeluTanh: return Act::kGeluTanh;
    case Activation::kGelu: return Act::kGelu;
    case Activation::kSilu: return Act::kSilu;
    case Activation::kRelu: return Act::kRelu;
  }
  return Act::kNone;
}

}  // namespace

bool env_flag(const char* name, bool dflt) {
  const char* v = std::getenv(name);
  if (!v || !*v) return dflt;
  return !(std::strcmp(v, "0") == 0 || std::strcmp(v, "false") == 0 || std::strcmp(v, "off") == 0);
}

CudaBackend::CudaBackend(const CudaBackendOptions& opts) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.opts = opts;
  m.device = opts.device;
  m.dt = opts.compute == CudaBackendOptions::kF32 ? DT::kF32 : opts.compute == CudaBackendOptions::kBF16 ? DT::kBF16 : DT::kF16;
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    cudaGetLastError();
    int driver = 0;
    cudaDriverGetVersion(&driver);
    fail(StatusCode::kNoDevice,
         driver == 0 ? std::string("no CUDA device: no NVIDIA driver is installed (libcuda.so.1 not found), so no GPU can be used (") +
                           cudaGetErrorName(e) + ")"
                     : std::string("no CUDA device: ") + cudaGetErrorString(e) + " (" + cudaGetErrorName(e) + ")");
  }
  if (opts.device < 0 || opts.device >= count) {
    fail(StatusCode::kNoDevice, "no CUDA device " + std::to_string(opts.device) + " (this machine has " +
                                    std::to_string(count) + ")");
  }
  cudaDeviceProp prop{};
  check_cuda(cudaGetDeviceProperties(&prop, opts.device), "cudaGetDeviceProperties");
  if (prop.major < 8) {
    fail(StatusCode::kUnsupported, std::string("CUDA device ") + prop.name + " has compute capability " +
                                       std::to_string(prop.major) + "." + std::to_string(prop.minor) +
                                       "; the CUDA backend needs 8.0 (Ampere) or newer");
  }
  m.device_name = prop.name;
  check_cuda(cudaSetDevice(opts.device), "cudaSetDevice");
  check_cuda(cudaStreamCreateWithFlags(&m.stream, cudaStreamNonBlocking), "cudaStreamCreate");
  m.pool = std::make_shared<MemoryPool>(opts.device);
  // PIXART_CUDA_GELU_EPILOGUE=0 runs GELU as a kernel after the GEMM instead of cuBLASLt's epilogue.
  m.gemm = std::make_unique<Gemm>(*m.pool, opts.allow_tf32, env_flag("PIXART_CUDA_GELU_EPILOGUE", true));
  m.flag = DeviceBuffer(*m.pool, sizeof(int));
  // PIXART_CUDA_UNFUSED_ATTENTION=1: every attention through GEMM-softmax-GEMM (tests, triage).
  m.force_unfused_attention = env_flag("PIXART_CUDA_UNFUSED_ATTENTION", false);
  m.profile = env_flag("PIXART_CUDA_PROFILE", false);
}

CudaBackend::~CudaBackend() = default;

std::string CudaBackend::name() const {
  return "cuda:" + std::to_string(impl_->device) + " (" + impl_->device_name + ", " + dt_name(impl_->dt) +
         (impl_->dt == DT::kF32 && impl_->opts.allow_tf32 ? ", tf32" : "") + ")";
}

const CudaBackendOptions& CudaBackend::options() const { return impl_->opts; }
void* CudaBackend::stream_handle() const { return impl_->stream; }
void CudaBackend::set_force_unfused_attention(bool on) { impl_->force_unfused_attention = on; }


void CudaBackend::enter() const {
  int cur = -1;
  if (cudaGetDevice(&cur) != cudaSuccess || cur != impl_->device) check_cuda(cudaSetDevice(impl_->device), "cudaSetDevice");
}

Tensor CudaBackend::alloc(const Shape& shape, bool exact, bool state) {
  kChecks.shape(shape);
  auto s = std::make_shared<DeviceStorage>();
  s->pool = impl_->pool;
  s->owner = impl_.get();
  s->exact = exact;
  s->state = state;
  s->bytes = size_t(numel(shape)) * (state ? 4 : dt_size(impl_->dt));
  s->data = impl_->pool->allocate(std::max<size_t>(s->bytes, 1), &s->granted, exact);
  Tensor t;
  t.shape = shape;
  t.storage = std::move(s);
  return t;
}

namespace {
// The memory of a tensor made by the backend `owner`, checked to be of the kind asked for (compute
// dtype, or float32 state) and to lie within its storage.
void* checked_raw(const Tensor& t, const void* owner, bool state, size_t elem_size, const char* op, const char* what) {
  const auto* s = dynamic_cast<const DeviceStorage*>(t.storage.get());
  const std::string where = std::string("cuda backend: ") + op + ": " + what;
  if (!s || s->owner != owner)
    fail(StatusCode::kInvalidArgument, where + (t.defined() ? " is not a tensor of this CUDA backend" : " is undefined"));
  if (s->state != state)
    fail(StatusCode::kInvalidArgument, where + (s->state ? " is a float32 state tensor; from_state() converts it to the compute dtype"
                                                         : " is a compute tensor, not float32 state; to_state() converts it"));
  if (t.offset_bytes + size_t(t.numel()) * elem_size > s->bytes)
    fail(StatusCode::kInternal, where + " " + shape_str(t.shape) + " is larger than its storage");
  return t.raw();
}
}  // namespace

const void* CudaBackend::dev(const Tensor& t, const char* op, const char* what) const {
  return checked_raw(t, impl_.get(), false, dt_size(impl_->dt), op, what);
}

Tensor CudaBackend::alloc_state(const Shape& shape) { return alloc(shape, false, impl_->dt != DT::kF32); }

float* CudaBackend::state_dev(const Tensor& t, const char* op, const char* what) const {
  return static_cast<float*>(checked_raw(t, impl_.get(), impl_->dt != DT::kF32, 4, op, what));
}

// --- memory ---

Tensor CudaBackend::empty(const Shape& shape) {
  enter();
  return alloc(shape);
}

Tensor CudaBackend::from_host(const float* data, const Shape& shape) {
  enter();
  PIXART_PROFILE("from_host");
  Tensor t = alloc(shape);
  const int64_t n = t.numel();
  if (n == 0) return t;
  cudaStream_t s = impl_->stream;
  if (impl_->dt == DT::kF32) {
    check_cuda(cudaMemcpyAsync(t.raw(), data, size_t(n) * 4, cudaMemcpyHostToDevice, s), "from_host");
  } else {
    DeviceBuffer staging(*impl_->pool, size_t(n) * 4);
    check_cuda(cudaMemcpyAsync(staging.get(), data, size_t(n) * 4, cudaMemcpyHostToDevice, s), "from_host");
    launch_convert(DT::kF32, staging.get(), impl_->dt, t.raw(), n, s);
  }
  return t;
}

void CudaBackend::to_host(const Tensor& t, float* out) {
  enter();
  PIXART_PROFILE("to_host");
  const void* p = dev(t, "to_host", "tensor");
  const int64_t n = t.numel();
  cudaStream_t s = impl_->stream;
  DeviceBuffer staging;
  if (n > 0) {
    const void* src = p;
    if (impl_->dt != DT::kF32) {
      staging = DeviceBuffer(*impl_->pool, size_t(n) * 4);
      launch_convert(impl_->dt, p, DT::kF32, staging.get(), n, s);
      src = staging.get();
    }
    check_cuda(cudaMemcpyAsync(out, src, size_t(n) * 4, cudaMemcpyDeviceToHost, s), "to_host");
  }
  check_cuda(cudaStreamSynchronize(s), "to_host (work queued before it failed)");
}

// --- tiled decoding ---

Tensor CudaBackend::crop(const Tensor& x, int64_t top, int64_t left, int64_t h, int64_t w) {
  enter();
  kChecks.crop(x, top, left, h, w);
  const void* p = dev(x, "crop", "x");
  Tensor out = alloc({x.dim(0), x.dim(1), h, w});
  launch_copy_window(impl_->dt, p, x.dim(2), x.dim(3), top, left, out.raw(), h, w, 0, 0, x.dim(0) * x.dim(1), h, w,
                     impl_->stream);
  return out;
}

Tensor CudaBackend::blend_tiles(const std::vector<std::vector<Tensor>>& rows, int64_t blend, int64_t limit) {
  enter();
  PIXART_PROFILE("blend_tiles");
  const Shape out_shape = kChecks.blend_tiles(rows, blend, limit);
  const int64_t planes = out_shape[0] * out_shape[1];
  // Blended clones of the tiles (the inputs stay as they are), in diffusers' order.
  std::vector<std::vector<Tensor>> t(rows.size());
  for (size_t i = 0; i < rows.size(); i++)
    for (size_t j = 0; j < rows[i].size(); j++) {
      const Tensor& x = rows[i][j];
      const int64_t H = x.dim(2), W = x.dim(3);
      Tensor c = alloc(x.shape);
      launch_copy_window(impl_->dt, dev(x, "blend_tiles", "a tile"), H, W, 0, 0, c.raw(), H, W, 0, 0, planes, H, W,
                         impl_->stream);
      if (i > 0) {
        const Tensor& a = t[i - 1][j];
        const int64_t e = std::min({a.dim(2), H, blend});
        launch_blend_edge(impl_->dt, a.raw(), a.dim(2), a.dim(3), c.raw(), H, W, planes, e, true, impl_->stream);
      }
      if (j > 0) {
        const Tensor& a = t[i][j - 1];
        const int64_t e = std::min({a.dim(3), W, blend});
        launch_blend_edge(impl_->dt, a.raw(), a.dim(2), a.dim(3), c.raw(), H, W, planes, e, false, impl_->stream);
      }
      t[i].push_back(std::move(c));
    }
  Tensor out = alloc(out_shape);
  int64_t y0 = 0;
  for (auto& r : t) {
    int64_t x0 = 0;
    const int64_t rh = std::min(limit, r[0].dim(2));
    for (const Tensor& c : r) {
      const int64_t cw = std::min(limit, c.dim(3));
      launch_copy_window(impl_->dt, c.raw(), c.dim(2), c.dim(3), 0, 0, out.raw(), out_shape[2], out_shape[3], y0, x0, planes,
                         rh, cw, impl_->stream);
      x0 += cw;
    }
    y0 += rh;
  }
  return out;
}

// --- float32 state ---

Tensor CudaBackend::state_from_host(const float* data, const Shape& shape) {
  enter();
  PIXART_PROFILE("state_from_host");
  Tensor t = alloc_state(shape);
  if (t.numel() > 0)
    check_cuda(cudaMemcpyAsync(t.raw(), data, size_t(t.numel()) * 4, cudaMemcpyHostToDevice, impl_->stream),
               "state_from_host");
  return t;
}

void CudaBackend::state_to_host(const Tensor& t, float* out) {
  enter();
  PIXART_PROFILE("state_to_host");
  const float* p = state_dev(t, "state_to_host", "tensor");
  if (t.numel() > 0)
    check_cuda(cudaMemcpyAsync(out, p, size_t(t.numel()) * 4, cudaMemcpyDeviceToHost, impl_->stream), "state_to_host");
  check_cuda(cudaStreamSynchronize(impl_->stream), "state_to_host (work queued before it failed)");
}

Tensor CudaBackend::to_state(const Tensor& x) {
  enter();
  const void* p = dev(x, "to_state", "x");
  if (impl_->dt == DT::kF32) return x;
  Tensor t = alloc_state(x.shape);
  launch_convert(impl_->dt, p, DT::kF32, t.raw(), t.numel(), impl_->stream);
  return t;
}

Tensor CudaBackend::from_state(const Tensor& x) {
  enter();
  const float* p = state_dev(x, "from_state", "x");
  if (impl_->dt == DT::kF32) return x;
  Tensor t = alloc(x.shape);
  launch_convert(DT::kF32, p, impl_->dt, t.raw(), t.numel(), impl_->stream);
  return t;
}

std::vector<Tensor> CudaBackend::run_state_program(const StateProgram& p, const std::vector<Tensor>& inputs) {
  enter();
  PIXART_PROFILE("run_state_program");
  check_state_program(p, inputs);
  StateTensors ptrs{};
  for (size_t k = 0; k < inputs.size(); k++) ptrs.in[k] = state_dev(inputs[k], "run_state_program", "an input");
  std::vector<Tensor> out;
  for (int32_t k = 0; k < p.num_outputs; k++) {
    out.push_back(alloc_state(p.shape));
    ptrs.out[k] = static_cast<float*>(out.back().raw());
  }
  const int64_t n = numel(p.shape);
  if (n > 0) {
    // The program is a few hundred bytes: up with the launch, on the stream (freed after it).
    DeviceBuffer code(*impl_->pool, p.code.size() * sizeof(StateInstr));
    check_cuda(cudaMemcpyAsync(code.get(), p.code.data(), p.code.size() * sizeof(StateInstr), cudaMemcpyHostToDevice,
                               impl_->stream),
               "run_state_program");
    launch_state_program(code.as<StateInstr>(), int32_t(p.code.size()), ptrs, n, impl_->stream);
  }
  return out;
}

Tensor CudaBackend::gather_state_rows(const std::vector<StatePart>& parts,
                                      const std::vector<std::pair<int32_t, int64_t>>& rows) {
  enter();
  PIXART_PROFILE("gather_state_rows");
  const Shape out_shape = check_gather_state_rows(parts, rows);
  // The other CUDA engines whose streams this gather touches (events and waits here; their
  // state_to_host's synchronize on the host path) must not be capturing a graph meanwhile: hold
  // their capture locks, in address order so that two gathers cannot deadlock. Never this one's.
  // (Inside this engine's own capture a gather cannot be recorded, and locking others there could
  // deadlock against a gather of theirs: refused up front, record_step then runs the step plainly.)
  if (stream_capturing(impl_->stream))
    fail(StatusCode::kUnsupported, "cuda backend: gather_state_rows cannot be recorded into a CUDA graph");
  std::vector<CudaBackend*> others;
  for (const StatePart& part : parts)
    if (auto* c = dynamic_cast<CudaBackend*>(part.backend); c && c != this) others.push_back(c);
  std::sort(others.begin(), others.end());
  others.erase(std::unique(others.begin(), others.end()), others.end());
  std::vector<std::unique_lock<std::mutex>> capture_locks;
  for (CudaBackend* c : others) capture_locks.emplace_back(c->impl_->capture_mu);
  std::vector<CudaBackend*> src(parts.size());
  for (size_t k = 0; k < parts.size(); k++) {
    auto* c = dynamic_cast<CudaBackend*>(parts[k].backend);
    if (!c || c->impl_->device != impl_->device) return default_gather_state_rows(*this, parts, rows);
    src[k] = c;
  }
  std::vector<const float*> ptr(parts.size());
  for (size_t k = 0; k < parts.size(); k++) ptr[k] = src[k]->state_dev(parts[k].tensor, "gather_state_rows", "a part");
  Tensor out = alloc_state(out_shape);
  const int64_t row = numel(out_shape) / out_shape[0];
  cudaStream_t s = impl_->stream;
  // Another backend's part (`others`: here every part is a CUDA backend on this device): this
  // stream waits for the work that made it, and that backend's stream waits for these copies
  // before it can reuse the memory.
  std::vector<cudaStream_t> foreign;
  for (CudaBackend* c : others) foreign.push_back(c->impl_->stream);
  // An event destroyed once recorded and waited on is released when it completes; the holder
  // destroys it on every path, a failing check included.
  struct Event {
    cudaEvent_t e = nullptr;
    Event() { check_cuda(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "gather_state_rows"); }
    ~Event() { cudaEventDestroy(e); }
    Event(const Event&) = delete;
    Event& operator=(const Event&) = delete;
  };
  for (cudaStream_t f : foreign) {
    Event made;
    check_cuda(cudaEventRecord(made.e, f), "gather_state_rows");
    check_cuda(cudaStreamWaitEvent(s, made.e, 0), "gather_state_rows");
  }
  float* dst = static_cast<float*>(out.raw());
  for (size_t k = 0; k < rows.size(); k++) {
    const auto [p, r] = rows[k];
    check_cuda(cudaMemcpyAsync(dst + int64_t(k) * row, ptr[size_t(p)] + r * row, size_t(row) * 4, cudaMemcpyDeviceToDevice, s),
               "gather_state_rows");
  }
  if (!foreign.empty()) {
    Event copied;
    check_cuda(cudaEventRecord(copied.e, s), "gather_state_rows");
    for (cudaStream_t f : foreign) check_cuda(cudaStreamWaitEvent(f, copied.e, 0), "gather_state_rows");
  }
  return out;
}

bool CudaBackend::to_host_rgb8(const Tensor& x, uint8_t* out) {
  enter();
  PIXART_PROFILE("to_host_rgb8");
  kChecks.image(x, "to_host_rgb8");
  const void* p = dev(x, "to_host_rgb8", "x");
  const int64_t n = x.numel();
  cudaStream_t s = impl_->stream;
  int flag = 0;
  DeviceBuffer bytes;
  check_cuda(cudaMemsetAsync(impl_->flag.get(), 0, sizeof(int), s), "to_host_rgb8");
  if (n > 0) {
    bytes = DeviceBuffer(*impl_->pool, size_t(n));
    launch_rgb8(impl_->dt, p, x.dim(0), x.dim(1), x.dim(2) * x.dim(3), bytes.as<uint8_t>(), impl_->flag.as<int>(), s);
    check_cuda(cudaMemcpyAsync(out, bytes.get(), size_t(n), cudaMemcpyDeviceToHost, s), "to_host_rgb8");
  }
  check_cuda(cudaMemcpyAsync(&flag, impl_->flag.get(), sizeof(int), cudaMemcpyDeviceToHost, s), "to_host_rgb8");
  check_cuda(cudaStreamSynchronize(s), "to_host_rgb8 (work queued before it failed)");
  return flag != 0;
}

// The device dtype of a checkpoint tensor (F32/F16/BF16), with its size checked against its shape.
static DT checkpoint_dt(const WeightView& w) {
  DT src;
  switch (w.dtype) {
    case DType::kF32: src = DT::kF32; break;
    case DType::kF16: src = DT::kF16; break;
    case DType::kBF16: src = DT::kBF16; break;
    default:
      fail(StatusCode::kModelLoad, w.file + ": tensor " + w.name + " has a dtype the cuda backend cannot load (" +
                                       std::string(dtype_name(w.dtype)) + "; it loads F32, F16 and BF16)");
  }
  const int64_t n = numel(w.shape);
  if (w.bytes != size_t(n) * dt_size(src) || (n > 0 && !w.data)) {
    fail(StatusCode::kModelLoad, w.file + ": tensor " + w.name + " has " + std::to_string(w.bytes) +
                                     " bytes, its shape " + shape_str(w.shape) + " needs " +
                                     std::to_string(size_t(n) * dt_size(src)));
  }
  return src;
}

Tensor CudaBackend::load_weight(const WeightView& w) {
  enter();
  const DT src = checkpoint_dt(w);
  const int64_t n = numel(w.shape);
  Tensor t = alloc(w.shape, /*exact=*/true);
  if (n == 0) return t;
  cudaStream_t s = impl_->stream;
  if (src == impl_->dt) {
    check_cuda(cudaMemcpyAsync(t.raw(), w.data, w.bytes, cudaMemcpyHostToDevice, s), "load_weight");
  } else {
    DeviceBuffer staging(*impl_->pool, w.bytes);
    check_cuda(cudaMemcpyAsync(staging.get(), w.data, w.bytes, cudaMemcpyHostToDevice, s), "load_weight");
    launch_convert(src, staging.get(), impl_->dt, t.raw(), n, s);
  }
  return t;
}

Tensor CudaBackend::load_linear_weight(const WeightView& w, WeightQuant q) {
  check_storage_quant(q, "load_linear_weight");
  if (q == WeightQuant::kNone) return load_weight(w);
  enter();
  if (w.shape.size() != 2)
    fail(StatusCode::kModelLoad, w.file + ": " + w.name + " is not a [out, in] linear weight; it cannot be quantised");
  const int64_t N = w.shape[0], K = w.shape[1];
  cudaStream_t s = impl_->stream;
  // The checkpoint tensor widened to f32 on the device, then quantised there (the host's rounding).
  DeviceBuffer staging(*impl_->pool, std::max<size_t>(w.bytes, 1)), wide(*impl_->pool, size_t(std::max<int64_t>(N * K, 1)) * 4);
  const DT src = checkpoint_dt(w);
  auto qs = std::make_shared<QuantStorage>();
  qs->pool = impl_->pool;
  qs->owner = impl_.get();
  qs->quant = q;
  qs->N = N;
  qs->K = K;
  const size_t vbytes = size_t(std::max<int64_t>(N * quant_row_bytes(q, K), 1));
  const size_t sbytes = size_t(std::max<int64_t>(N * quant_groups(q, K), 1)) * 4;
  qs->values = static_cast<uint8_t*>(impl_->pool->allocate(vbytes, &qs->values_granted, true));
  qs->scales = static_cast<float*>(impl_->pool->allocate(sbytes, &qs->scales_granted, true));
  qs->bytes = vbytes + sbytes;
  if (N * K > 0) {
    check_cuda(cudaMemcpyAsync(staging.get(), w.data, w.bytes, cudaMemcpyHostToDevice, s), "load_linear_weight");
    launch_convert(src, staging.get(), DT::kF32, wide.get(), N * K, s);
    launch_quantize(wide.as<float>(), N, K, q, qs->values, qs->scales, s);
  }
  Tensor t;
  t.shape = w.shape;
  if (impl_->dt == DT::kF32) {
    // f32 compute: the quantised weight's values as a dense f32 tensor (the CPU backend's form).
    t = alloc(w.shape, /*exact=*/true);
    launch_dequantize(qs->values, qs->scales, N, K, q, DT::kF32, t.raw(), s);
    synchronize();  // qs (and the staging buffers) go away before the kernels could finish otherwise
    return t;
  }
  t.storage = std::move(qs);
  synchronize();  // the host mapping and the staging buffers must outlive the copies and kernels
  return t;
}

// --- linear algebra ---

Tensor CudaBackend::linear(const Tensor& x, const Tensor& w, const Tensor* bias, Activation act,
                           const Tensor* residual) {
  enter();
  PIXART_PROFILE("linear");
  const LinearDims d = kChecks.linear(x, w, bias, residual);
  const int64_t M = d.M, N = d.N, K = d.K;
  const Shape& out_shape = d.out;
  const void* xp = dev(x, "linear", "x");
  const void* bp = bias ? dev(*bias, "linear", "bias") : nullptr;
  const void* rp = residual ? dev(*residual, "linear", "residual") : nullptr;
  const auto* qs = dynamic_cast<const QuantStorage*>(w.storage.get());
  if (qs && qs->owner == impl_.get()) {
    Tensor y = alloc(out_shape);
    if (M == 0 || N == 0) return y;
    if (launch_quant_gemm(impl_->dt, xp, qs->values, qs->scales, qs->quant, bp, rp, y.raw(), M, N, K, to_act(act),
                          impl_->stream))
      return y;
    // Shapes the packed kernel does not take: a dense copy of the weight for this call.
    Tensor dense = alloc({N, K});
    launch_dequantize(qs->values, qs->scales, N, K, qs->quant, impl_->dt, dense.raw(), impl_->stream);
    return linear(x, dense, bias, act, residual);
  }
  const void* wp = dev(w, "linear", "weight");
  Tensor y = alloc(out_shape);
  if (M == 0 || N == 0) return y;
  GemmArgs g;
  g.M = M;
  g.N = N;
  g.K = K;
  g.A = xp;
  g.lda = K;
  g.B = wp;
  g.ldb = K;
  g.b_is_nk = true;
  g.D = y.raw();
  g.ldd = N;
  g.a_type = g.b_type = g.d_type = impl_->dt;
  g.bias = bp;
  // Epilogue order is act(xW + b) + r. cuBLASLt adds C before its activation, so a residual
  // is fused (beta = 1) only without an activation; GELU-tanh is fused only without a residual.
  Act post = to_act(act);
  const void* post_res = nullptr;
  if (act == Activation::kNone && rp) {
    g.C = rp;
    g.beta = 1.f;
  } else if (act == Activation::kGeluTanh && !rp) {
    g.gelu = true;
    post = Act::kNone;
  } else {
    post_res = rp;
  }
  impl_->gemm->run(g, impl_->stream);
  launch_bias_act_residual(impl_->dt, y.raw(), nullptr, post_res, M, N, post, impl_->stream);
  return y;
}

Tensor CudaBackend::attention(const Tensor& q, const Tensor& k, const Tensor& v, int heads, float scale,
                              const Tensor* pos_bias, const Tensor* key_bias) {
  enter();
  PIXART_PROFILE("attention");
  const AttentionDims dims = kChecks.attention(q, k, v, heads, pos_bias, key_bias);
  const int64_t B = dims.B, Lq = dims.Lq, HD = dims.HD, Lk = dims.Lk;
  AttentionArgs a;
  a.q = dev(q, "attention", "q");
  a.k = dev(k, "attention", "k");
  a.v = dev(v, "attention", "v");
  a.pos_bias = pos_bias ? dev(*pos_bias, "attention", "pos_bias") : nullptr;
  a.key_bias = key_bias ? dev(*key_bias, "attention", "key_bias") : nullptr;
  Tensor out = alloc({B, Lq, HD});
  a.o = out.raw();
  a.B = B;
  a.H = heads;
  a.Lq = Lq;
  a.Lk = Lk;
  a.D = HD / heads;
  a.scale = scale;
  run_attention(impl_->dt, a, *impl_->gemm, *impl_->pool, impl_->stream, impl_->force_unfused_attention);
  return out;
}

// --- elementwise ---

Tensor CudaBackend::add(const Tensor& a, const Tensor& b) {
  enter();
  PIXART_PROFILE("add");
  kChecks.broadcast(a, b, "add");
  const void* ap = dev(a, "add", "a");
  const void* bp = dev(b, "add", "b");
  Tensor y = alloc(a.shape);
  launch_add(impl_->dt, ap, bp, y.raw(), a.numel(), std::max<int64_t>(b.numel(), 1), impl_->stream);
  return y;
}

Tensor CudaBackend::mul(const Tensor& a, const Tensor& b) {
  enter();
  PIXART_PROFILE("mul");
  kChecks.broadcast(a, b, "mul");
  const void* ap = dev(a, "mul", "a");
  const void* bp = dev(b, "mul", "b");
  Tensor y = alloc(a.shape);
  launch_mul(impl_->dt, ap, bp, y.raw(), a.numel(), std::max<int64_t>(b.numel(), 1), impl_->stream);
  return y;
}

Tensor CudaBackend::scale(const Tensor& a, float s) {
  enter();
  PIXART_PROFILE("scale");
  const void* ap = dev(a, "scale", "a");
  Tensor y = alloc(a.shape);
  launch_scale(impl_->dt, ap, s, y.raw(), a.numel(), impl_->stream);
  return y;
}

Tensor CudaBackend::activation(const Tensor& x, Activation act) {
  enter();
  PIXART_PROFILE("activation");
  const void* xp = dev(x, "activation", "x");
  Tensor y = alloc(x.shape);
  launch_activation(impl_->dt, xp, y.raw(), x.numel(), to_act(act), impl_->stream);
  return y;
}

Tensor CudaBackend::gated_gelu(const Tensor& gate, const Tensor& up) {
  enter();
  PIXART_PROFILE("gated_gelu");
  kChecks.gated_gelu(gate, up);
  const void* gp = dev(gate, "gated_gelu", "gate");
  const void* up_p = dev(up, "gated_gelu", "up");
  Tensor y = alloc(gate.shape);
  launch_gated_gelu(impl_->dt, gp, up_p, y.raw(), y.numel(), impl_->stream);
  return y;
}

// --- normalisation ---

Tensor CudaBackend::rms_norm(const Tensor& x, const Tensor& weight, float eps) {
  enter();
  PIXART_PROFILE("rms_norm");
  const int64_t D = kChecks.rms_norm(x, weight), rows = x.numel() / std::max<int64_t>(D, 1);
  const void* xp = dev(x, "rms_norm", "x");
  const void* wp = dev(weight, "rms_norm", "weight");
  Tensor y = alloc(x.shape);
  launch_rms_norm(impl_->dt, xp, wp, y.raw(), rows, D, eps, impl_->stream);
  return y;
}

Tensor CudaBackend::layer_norm(const Tensor& x, const Tensor* weight, const Tensor* bias, float eps) {
  enter();
  PIXART_PROFILE("layer_norm");
  const int64_t D = kChecks.layer_norm(x, weight, bias), rows = x.numel() / std::max<int64_t>(D, 1);
  const void* xp = dev(x, "layer_norm", "x");
  const void* wp = weight ? dev(*weight, "layer_norm", "weight") : nullptr;
  const void* bp = bias ? dev(*bias, "layer_norm", "bias") : nullptr;
  Tensor y = alloc(x.shape);
  if (!launch_layer_norm_modulate_fast(impl_->dt, xp, wp, bp, nullptr, y.raw(), rows, D, 0, 0, 0, 0, eps,
                                       impl_->stream))
    launch_layer_norm(impl_->dt, xp, wp, bp, y.raw(), rows, D, eps, impl_->stream);
  return y;
}

Tensor CudaBackend::modulate(const Tensor& x, const Tensor& mod, int shift_idx, int scale_idx) {
  enter();
  PIXART_PROFILE("modulate");
  kChecks.modulate(x, mod, shift_idx, scale_idx);
  const void* xp = dev(x, "modulate", "x");
  const void* mp = dev(mod, "modulate", "mod");
  Tensor y = alloc(x.shape);
  if (!launch_mod_vec_fast(impl_->dt, xp, nullptr, mp, y.raw(), x.dim(0), x.dim(1), x.dim(2), mod.dim(1), -1, shift_idx,
                           scale_idx, impl_->stream))
    launch_modulate(impl_->dt, xp, mp, y.raw(), x.dim(0), x.dim(1), x.dim(2), mod.dim(1), shift_idx, scale_idx,
                    impl_->stream);
  return y;
}

Tensor CudaBackend::layer_norm_modulate(const Tensor& x, const Tensor* weight, const Tensor* bias, float eps,
                                        const Tensor& mod, int shift_idx, int scale_idx) {
  enter();
  PIXART_PROFILE("layer_norm_modulate");
  const int64_t D = kChecks.layer_norm(x, weight, bias);
  kChecks.modulate(x, mod, shift_idx, scale_idx);
  const void* xp = dev(x, "layer_norm_modulate", "x");
  const void* wp = weight ? dev(*weight, "layer_norm_modulate", "weight") : nullptr;
  const void* bp = bias ? dev(*bias, "layer_norm_modulate", "bias") : nullptr;
  const void* mp = dev(mod, "layer_norm_modulate", "mod");
  Tensor y = alloc(x.shape);
  if (launch_layer_norm_modulate_fast(impl_->dt, xp, wp, bp, mp, y.raw(), x.numel() / std::max<int64_t>(D, 1), D,
                                      x.dim(1), mod.dim(1), shift_idx, scale_idx, eps, impl_->stream))
    return y;
  return Backend::layer_norm_modulate(x, weight, bias, eps, mod, shift_idx, scale_idx);  // the composition
}

Tensor CudaBackend::gated_residual(const Tensor& x, const Tensor& y, const Tensor& mod, int gate_idx) {
  enter();
  PIXART_PROFILE("gated_residual");
  kChecks.gated_residual(x, y, mod, gate_idx);
  const void* xp = dev(x, "gated_residual", "x");
  const void* yp = dev(y, "gated_residual", "y");
  const void* mp = dev(mod, "gated_residual", "mod");
  Tensor out = alloc(x.shape);
  if (!launch_mod_vec_fast(impl_->dt, xp, yp, mp, out.raw(), x.dim(0), x.dim(1), x.dim(2), mod.dim(1), gate_idx, 0, 0,
                           impl_->stream))
    launch_gated_residual(impl_->dt, xp, yp, mp, out.raw(), x.dim(0), x.dim(1), x.dim(2), mod.dim(1), gate_idx,
                          impl_->stream);
  return out;
}

Tensor CudaBackend::group_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, int groups, float eps,
                               bool silu) {
  enter();
  PIXART_PROFILE("group_norm");
  kChecks.group_norm(x, weight, bias, groups);
  const int64_t B = x.dim(0), C = x.dim(1), HW = x.dim(2) * x.dim(3);
  kChecks.check(B * groups <= 65535, "group_norm: more than 65535 (batch, group) pairs");
  const void* xp = dev(x, "group_norm", "x");
  const void* wp = dev(weight, "group_norm", "weight");
  const void* bp = dev(bias, "group_norm", "bias");
  Tensor y = alloc(x.shape);
  launch_group_norm(impl_->dt, xp, wp, bp, y.raw(), B, C, HW, groups, eps, silu, *impl_->pool, impl_->stream);
  return y;
}

// --- images and layout ---

Tensor CudaBackend::conv2d(const Tensor& x, const Tensor& w, const Tensor* bias, int stride, int pt, int pl, int pb,
                           int pr) {
  enter();
  PIXART_PROFILE("conv2d");
  const Conv2dDims d = kChecks.conv2d(x, w, bias, stride, pt, pl, pb, pr);
  const int64_t B = d.B, C = d.C, H = d.H, W = d.W, O = d.O, kh = d.kh, kw = d.kw, Ho = d.Ho, Wo = d.Wo;
  ConvArgs a;
  a.x = dev(x, "conv2d", "x");
  a.w = dev(w, "conv2d", "weight");
  a.bias = bias ? dev(*bias, "conv2d", "bias") : nullptr;
  Tensor y = alloc({B, O, Ho, Wo});
  a.y = y.raw();
  a.B = B;
  a.C = C;
  a.H = H;
  a.W = W;
  a.O = O;
  a.kh = kh;
  a.kw = kw;
  a.Ho = Ho;
  a.Wo = Wo;
  a.stride = stride;
  a.pad_top = pt;
  a.pad_left = pl;
  // cuDNN on first use: cudnnCreate takes time and memory, and may synchronise, which a stream
  // being captured into a graph does not allow (that conv takes im2col; a later plain one creates it).
  if (!impl_->cudnn && !stream_capturing(impl_->stream)) impl_->cudnn = std::make_unique<CudnnConv>();
  if (impl_->cudnn && impl_->cudnn->run(impl_->dt, a, pb, pr, *impl_->pool, impl_->stream)) {
    if (a.bias) launch_channel_bias(impl_->dt, a.y, a.bias, B, O, Ho * Wo, impl_->stream);
    return y;
  }
  run_conv2d(impl_->dt, a, *impl_->gemm, *impl_->pool, impl_->stream);
  return y;
}

Tensor CudaBackend::upsample_nearest2x(const Tensor& x) {
  enter();
  PIXART_PROFILE("upsample_nearest2x");
  kChecks.image(x, "upsample");
  const void* xp = dev(x, "upsample_nearest2x", "x");
  Tensor y = alloc({x.dim(0), x.dim(1), 2 * x.dim(2), 2 * x.dim(3)});
  launch_upsample_nearest2x(impl_->dt, xp, y.raw(), x.dim(0) * x.dim(1), x.dim(2), x.dim(3), impl_->stream);
  return y;
}

Tensor CudaBackend::nchw_to_nlc(const Tensor& x) {
  enter();
  PIXART_PROFILE("nchw_to_nlc");
  kChecks.image(x, "nchw_to_nlc");
  const int64_t B = x.dim(0), C = x.dim(1), L = x.dim(2) * x.dim(3);
  const void* xp = dev(x, "nchw_to_nlc", "x");
  Tensor y = alloc({B, L, C});
  launch_transpose(impl_->dt, xp, y.raw(), B, C, L, impl_->stream);
  return y;
}

Tensor CudaBackend::nlc_to_nchw(const Tensor& x, int64_t h, int64_t w) {
  enter();
  PIXART_PROFILE("nlc_to_nchw");
  kChecks.nlc_to_nchw(x, h, w);
  const int64_t B = x.dim(0), L = x.dim(1), C = x.dim(2);
  const void* xp = dev(x, "nlc_to_nchw", "x");
  Tensor y = alloc({B, C, h, w});
  launch_transpose(impl_->dt, xp, y.raw(), B, L, C, impl_->stream);
  return y;
}

Tensor CudaBackend::patchify(const Tensor& x, int p) {
  enter();
  PIXART_PROFILE("patchify");
  kChecks.patchify(x, p);
  const int64_t B = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  const void* xp = dev(x, "patchify", "x");
  Tensor y = alloc({B, (H / p) * (W / p), C * p * p});
  launch_patchify(impl_->dt, xp, y.raw(), B, C, H, W, p, impl_->stream);
  return y;
}

Tensor CudaBackend::unpatchify(const Tensor& x, int64_t h, int64_t w, int p, int c) {
  enter();
  PIXART_PROFILE("unpatchify");
  kChecks.unpatchify(x, h, w, p, c);
  const void* xp = dev(x, "unpatchify", "x");
  Tensor y = alloc({x.dim(0), c, h * p, w * p});
  launch_unpatchify(impl_->dt, xp, y.raw(), x.dim(0), h, w, p, c, impl_->stream);
  return y;
}

Tensor CudaBackend::slice_channels(const Tensor& x, int64_t start, int64_t count) {
  enter();
  PIXART_PROFILE("slice_channels");
  kChecks.slice_channels(x, start, count);
  const int64_t B = x.dim(0), C = x.dim(1), HW = x.dim(2) * x.dim(3);
  const char* xp = static_cast<const char*>(dev(x, "slice_channels", "x"));
  Tensor y = alloc({B, count, x.dim(2), x.dim(3)});
  const size_t es = dt_size(impl_->dt), row = size_t(count * HW) * es;
  if (row > 0 && B > 0) {
    check_cuda(cudaMemcpy2DAsync(y.raw(), row, xp + size_t(start * HW) * es, size_t(C * HW) * es, row, size_t(B),
                                 cudaMemcpyDeviceToDevice, impl_->stream),
               "slice_channels");
  }
  return y;
}

Tensor CudaBackend::embedding(const Tensor& table, const int32_t* ids, int64_t n) {
  enter();
  PIXART_PROFILE("embedding");
  kChecks.embedding(table, ids, n);
  const int64_t D = table.dim(1);
  const void* tp = dev(table, "embedding", "table");
  Tensor y = alloc({n, D});
  if (n == 0 || D == 0) return y;
  DeviceBuffer ids_dev(*impl_->pool, size_t(n) * sizeof(int32_t));
  check_cuda(cudaMemcpyAsync(ids_dev.get(), ids, size_t(n) * sizeof(int32_t), cudaMemcpyHostToDevice, impl_->stream),
             "embedding ids");
  launch_embedding(impl_->dt, tp, ids_dev.as<int32_t>(), y.raw(), n, D, impl_->stream);
  return y;
}

Tensor CudaBackend::add_rows(const Tensor& x, const Tensor& table) {
  enter();
  PIXART_PROFILE("add_rows");
  kChecks.add_rows(x, table);
  const void* xp = dev(x, "add_rows", "x");
  const void* tp = dev(table, "add_rows", "table");
  const int64_t B = x.dim(0), M = table.dim(0), D = x.dim(1);
  Tensor y = alloc({B, M, D});
  launch_add_rows(impl_->dt, xp, tp, y.raw(), B, M, D, impl_->stream);
  return y;
}

// --- beyond Backend ---

bool CudaBackend::has_non_finite(const Tensor& t) {
  enter();
  const void* p = dev(t, "has_non_finite", "tensor");
  cudaStream_t s = impl_->stream;
  int flag = 0;
  check_cuda(cudaMemsetAsync(impl_->flag.get(), 0, sizeof(int), s), "has_non_finite");
  launch_non_finite(impl_->dt, p, t.numel(), impl_->flag.as<int>(), s);
  check_cuda(cudaMemcpyAsync(&flag, impl_->flag.get(), sizeof(int), cudaMemcpyDeviceToHost, s), "has_non_finite");
  check_cuda(cudaStreamSynchronize(s), "has_non_finite");
  return flag != 0;
}

PoolStats CudaBackend::memory_stats() const { return impl_->pool->stats(); }

bool CudaBackend::memory_usage(MemoryStats* out) const {
  enter();  // cudaMemGetInfo reports the calling thread's current device
  const PoolStats s = impl_->pool->stats();
  out->in_use = s.in_use;
  out->peak_in_use = s.peak_in_use;
  out->reserved = s.reserved;
  size_t free_b = 0, total_b = 0;
  if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) {
    cudaGetLastError();
    free_b = total_b = 0;
  }
  out->device_free = free_b;
  out->device_total = total_b;
  return true;
}

void CudaBackend::reset_peak_memory() { impl_->pool->reset_peak(); }

void CudaBackend::empty_cache() {
  enter();
  check_cuda(cudaStreamSynchronize(impl_->stream), "empty_cache");
  impl_->pool->empty_cache();
}

void CudaBackend::synchronize() {
  enter();
  check_cuda(cudaStreamSynchronize(impl_->stream), "synchronize");
}

}  // namespace pixart::cuda
