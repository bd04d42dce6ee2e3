// The CUDA backend: pixart::Backend on one GPU, in one compute dtype (f32, f16 or bf16).
//
// Every tensor of a backend holds its compute dtype in device memory from the backend's
// caching pool (memory_pool.h); weights are converted on upload (load_weight), host arrays
// are float32 both ways (from_host / to_host; to_host_rgb8 downloads bytes). All work is enqueued on the backend's one
// stream; to_host and has_non_finite synchronise. Accumulation is fp32 throughout (GEMM
// compute type, softmax, norm statistics); with compute kF32 and TF32 off, results match the
// CPU backend to float32 rounding.
//
// This class lives inside libpixart_cuda.so; the addon reaches it through the C factory in
// cuda_abi.h. No CUDA types appear here.
#pragma once
#include <memory>
#include <string>

#include "../../core/backend.h"
#include "memory_pool.h"

namespace pixart::cuda {

struct CudaBackendOptions {
  int device = 0;
  enum Compute { kF32 = 0, kF16 = 1, kBF16 = 2 } compute = kF16;
  bool allow_tf32 = false;  // f32 GEMMs on TF32 tensor cores (faster, ~1e-3 relative)
};

class CudaBackend final : public Backend {
 public:
  // Throws kNoDevice (no driver, no such device), kUnsupported (compute capability < 8.0),
  // kOutOfMemory (not even the GEMM workspace fits).
  explicit CudaBackend(const CudaBackendOptions& opts);
  ~CudaBackend() override;
  std::string name() const override;

  Tensor empty(const Shape& shape) override;
  Tensor from_host(const float* data, const Shape& shape) override;
  void to_host(const Tensor& t, float* out) override;
  // The bytes are made on the device (rgb.cuh, with the NaN/Inf flag in the same kernel); only
  // they (a quarter of to_host's floats) and the flag are downloaded. Synchronises.
  bool to_host_rgb8(const Tensor& x, uint8_t* out) override;
  Tensor load_weight(const WeightView& w) override;
  // float32 state tensors (core/backend.h): in f16/bf16 compute they are storage of their own
  // that only these ops accept; in f32 compute, ordinary tensors.
  Tensor state_from_host(const float* data, const Shape& shape) override;
  void state_to_host(const Tensor& t, float* out) override;
  Tensor to_state(const Tensor& x) override;
  Tensor from_state(const Tensor& x) override;
  // One kernel (state_program.cuh) over all elements; the program goes up with the launch.
  std::vector<Tensor> run_state_program(const StateProgram& p, const std::vector<Tensor>& inputs) override;
  // Device to device when every part is a CUDA backend's on this device (stream-ordered with events
  // both ways); through the host otherwise.
  Tensor gather_state_rows(const std::vector<StatePart>& parts, const std::vector<std::pair<int32_t, int64_t>>& rows) override;
  // Quantised weights stay packed on the device (int8 / int4) and linear() reads them with its
  // own kernel; in f32 compute the dequantised values are kept dense, as on the CPU.
  Tensor load_linear_weight(const WeightView& w, WeightQuant q) override;

  Tensor linear(const Tensor& x, const Tensor& w, const Tensor* bias, Activation act,
                const Tensor* residual) override;
  Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, int heads, float scale,
                   const Tensor* pos_bias, const Tensor* key_bias) override;

  Tensor add(const Tensor& a, const Tensor& b) override;
  Tensor mul(const Tensor& a, const Tensor& b) override;
  Tensor scale(const Tensor& a, float s) override;
  Tensor activation(const Tensor& x, Activation act) override;
  Tensor gated_gelu(const Tensor& gate, const Tensor& up) override;

  Tensor rms_norm(const Tensor& x, const Tensor& weight, float eps) override;
  Tensor layer_norm(const Tensor& x, const Tensor* weight, const Tensor* bias, float eps) override;
  Tensor modulate(const Tensor& x, const Tensor& mod, int shift_idx, int scale_idx) override;
  Tensor layer_norm_modulate(const Tensor& x, const Tensor* weight, const Tensor* bias, float eps, const Tensor& mod,
                             int shift_idx, int scale_idx) override;
  Tensor gated_residual(const Tensor& x, const Tensor& y, const Tensor& mod, int gate_idx) override;
  Tensor group_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, int groups, float eps,
                    bool silu) override;

  Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor* bias, int stride, int pad_top, int pad_left,
                int pad_bottom, int pad_right) override;
  Tensor upsample_nearest2x(const Tensor& x) override;
  Tensor nchw_to_nlc(const Tensor& x) override;
  Tensor nlc_to_nchw(const Tensor& x, int64_t h, int64_t w) override;
  Tensor patchify(const Tensor& x, int p) override;
  Tensor unpatchify(const Tensor& x, int64_t h, int64_t w, int p, int c) override;
  Tensor slice_channels(const Tensor& x, int64_t start, int64_t count) override;
  Tensor embedding(const Tensor& table, const int32_t* ids, int64_t n) override;
  // Tiled decoding on the device (tiles.cuh): window copies and in-place edge blends of tile clones.
  Tensor crop(const Tensor& x, int64_t top, int64_t left, int64_t h, int64_t w) override;
  Tensor blend_tiles(const std::vector<std::vector<Tensor>>& rows, int64_t blend, int64_t limit) override;

  // out[b, m] = x[b] + table[m] in one kernel (the default gathers rows through host-built ids).
  Tensor add_rows(const Tensor& x, const Tensor& table) override;
  // fn captured into a CUDA graph on this backend's stream, its temporaries in a private set of
  // the pool (memory_pool.h) held until the graph is destroyed; run() copies the inputs into the
  // recorded input tensors, launches the graph and copies the outputs out (device to device).
  // Falls back to the default (fn every step) with the reason when capture fails or is disabled:
  // PIXART_CUDA_GRAPHS=0, or PIXART_CUDA_PROFILE=1 (its events cannot be captured).
  std::unique_ptr<StepGraph> record_step(const std::vector<Shape>& input_shapes, StepFn fn, std::string* why_not) override;

  // --- beyond Backend ---
  // True if t holds a NaN or +-Inf (a reduction kernel; synchronises).
  bool has_non_finite(const Tensor& t);
  PoolStats memory_stats() const;
  bool memory_usage(MemoryStats* out) const override;  // the pool's figures + the driver's free/total
  void reset_peak_memory() override;
  bool host_embedding_tables() const override { return true; }
  void empty_cache() override;  // returns the pool's cached blocks to the device
  void synchronize();   // waits for the stream; throws what the device reported
  const CudaBackendOptions& options() const;
  void* stream_handle() const;  // the cudaStream_t everything above is enqueued on
  // Test hook: route attention through the unfused GEMM-softmax-GEMM path for every head dim.
  void set_force_unfused_attention(bool on);

 private:
  struct Impl;
  struct ProfileScope;
  friend class CudaStepGraph;
  std::unique_ptr<Impl> impl_;

  void enter() const;  // makes this backend's device current for the calling thread
  // state: float32 storage in a f16/bf16 backend (see alloc_state), only the state ops accept it.
  Tensor alloc(const Shape& shape, bool exact = false, bool state = false);
  // The device pointer of a tensor of this backend; throws kInvalidArgument naming op/what otherwise.
  const void* dev(const Tensor& t, const char* op, const char* what) const;
  // A float32 state tensor's storage (an ordinary tensor in f32 compute), and its checked pointer.
  Tensor alloc_state(const Shape& shape);
  float* state_dev(const Tensor& t, const char* op, const char* what) const;
};

}  // namespace pixart::cuda
