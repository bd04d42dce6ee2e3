// Backend: the one op interface every model is written against.
//
// A model (native/models/*) is written once as calls to these ops; the CPU backend is the
// reference implementation, GPU backends implement the same interface, and an exporter can
// implement it by recording a graph. Ops take and return Tensors on this backend; ops
// never expose device memory to model code. Any failure is thrown as EngineError.
//
// Adding an op: declare it here with its shapes in the comment, implement it in every
// backend under native/backends/*, and add a case to native/backends/cpu/ops_test.cpp
// (the CPU result is checked against a naive loop there; other backends are checked
// against the CPU backend).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "op_checks.h"
#include "quant.h"
#include "rgb8.h"
#include "state_program.h"
#include "step_graph.h"
#include "status.h"
#include "tiles.h"
#include "tensor.h"
#include "weights.h"

namespace pixart {

enum class Activation { kNone, kGeluTanh, kGelu, kSilu, kRelu };

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;

  // --- memory ---
  virtual Tensor empty(const Shape& shape) = 0;
  virtual Tensor from_host(const float* data, const Shape& shape) = 0;
  virtual void to_host(const Tensor& t, float* out) = 0;
  // A decoded image x [B, C, H, W] (C = 3: RGB) as 8-bit bytes out [B, H, W, C] (x.numel() of
  // them) in host memory: diffusers' postprocess to 'pil' in float32, after widening x from the
  // backend's dtype, v = clamp(x / 2 + 0.5, 0, 1), byte = round_half_even(v * 255), NaN -> 0
  // (core/rgb8.h; the same bytes as lib/pipeline/images.ts gives from to_host's floats).
  // Returns true if any element of x is NaN or +-Inf. The default downloads x with to_host and
  // converts on the host; a GPU backend converts on the device and downloads only the bytes.
  virtual bool to_host_rgb8(const Tensor& x, uint8_t* out) { return default_to_host_rgb8(*this, x, out); }
  // A checkpoint tensor (any storage dtype) as a compute tensor. May alias the mapped file.
  virtual Tensor load_weight(const WeightView& w) = 0;

  // A linear weight [N, K] for linear(), quantised as `q` says (core/quant.h). The default
  // (the CPU backend, and any f32 backend) keeps the quantised values q * s as a dense tensor:
  // the same function as the packed kernels, and the reference they are checked against.
  virtual Tensor load_linear_weight(const WeightView& w, WeightQuant q) {
    if (q == WeightQuant::kNone) return load_weight(w);
    if (w.shape.size() != 2)
      fail(StatusCode::kModelLoad, w.file + ": " + w.name + " is not a [out, in] linear weight; it cannot be quantised");
    std::vector<float> dense(static_cast<size_t>(numel(w.shape)));
    convert_to_f32(w, dense.data());
    const std::vector<float> deq = dequantize_weight(quantize_weight(dense.data(), w.shape[0], w.shape[1], q));
    return from_host(deq.data(), w.shape);
  }

  // Returns memory the backend caches for reuse to the system (a GPU backend's pool of freed
  // blocks); tensors still alive are untouched. A no-op for backends without a cache.
  virtual void empty_cache() {}

  // Device memory as the backend sees it; false for backends that keep tensors in host memory.
  struct MemoryStats {
    size_t in_use = 0;        // bytes held by live tensors and weights
    size_t peak_in_use = 0;   // high-water mark of in_use since creation or reset_peak_memory()
    size_t reserved = 0;      // bytes obtained from the device (in_use + cached free blocks)
    size_t device_free = 0;   // the whole device's free memory (every process), from the driver
    size_t device_total = 0;
  };
  virtual bool memory_usage(MemoryStats* /*out*/) const { return false; }
  // Whether models should keep embedding tables in host memory, gather the rows there and
  // upload only those (a GPU backend: T5-XXL's 32128 x 4096 table is 263 MB of device memory in
  // bf16, the rows of a 2 x 120-token batch 4 MB of upload).
  virtual bool host_embedding_tables() const { return false; }
  // Starts a new high-water mark at the current in_use.
  virtual void reset_peak_memory() {}

  // --- float32 state: a sampler's tensors kept on the backend between denoising steps ---
  // State tensors hold float32 whatever the compute dtype, so a scheduler step evaluated here
  // (run_state_program, core/state_program.h) rounds exactly as the TypeScript schedulers do on
  // the host. A backend that computes in float32 uses its ordinary tensors (these defaults).
  virtual Tensor state_from_host(const float* data, const Shape& shape) { return from_host(data, shape); }
  virtual void state_to_host(const Tensor& t, float* out) { to_host(t, out); }
  // A compute tensor (e.g. the model's eps) as a float32 state tensor, and back (rounded to the
  // compute dtype, e.g. the latents going into the model).
  virtual Tensor to_state(const Tensor& x) { return x; }
  virtual Tensor from_state(const Tensor& x) { return x; }
  // p over p.num_inputs state tensors of p.shape -> p.num_outputs new state tensors. The default
  // evaluates on the host (state_to_host / state_from_host); a GPU backend runs it in a kernel.
  virtual std::vector<Tensor> run_state_program(const StateProgram& p, const std::vector<Tensor>& inputs) {
    return default_run_state_program(*this, p, inputs);
  }
  // out[k] = parts[rows[k].first].tensor[rows[k].second]: rows of state tensors gathered into a new
  // state tensor of this backend; parts may belong to other backends (the text encoder's engine),
  // whose state_to_host is then called from this backend's thread. The default goes through host
  // memory; a GPU backend copies device to device where the parts are on its device.
  virtual Tensor gather_state_rows(const std::vector<StatePart>& parts, const std::vector<std::pair<int32_t, int64_t>>& rows) {
    return default_gather_state_rows(*this, parts, rows);
  }

  // --- recorded steps (core/step_graph.h) ---
  // fn recorded for inputs of these shapes. The default runs fn on every run() (nothing is
  // recorded); a GPU backend captures fn's ops into a graph and replays it, and where it cannot
  // (a capture failed) returns the default with the reason in *why_not.
  virtual std::unique_ptr<StepGraph> record_step(const std::vector<Shape>& input_shapes, StepFn fn, std::string* why_not) {
    if (why_not) *why_not = name() + " runs the ops of every step (it does not record graphs)";
    return make_direct_step_graph(input_shapes, std::move(fn));
  }

  // --- linear algebra ---
  // y[..., N] = act(x[..., K] · w[N, K]^T + bias[N]) + residual[..., N]   (bias, residual optional)
  virtual Tensor linear(const Tensor& x, const Tensor& w, const Tensor* bias,
                        Activation act = Activation::kNone, const Tensor* residual = nullptr) = 0;
  // Multi-head attention with heads packed in the last dim:
  //   q [B, Lq, H*Dh], k and v [B, Lk, H*Dh]  ->  [B, Lq, H*Dh]
  //   scores[b,h,i,j] = scale * q·k + pos_bias[h,i,j] (if given, [H, Lq, Lk]) + key_bias[b,j] (if given, [B, Lk])
  virtual Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, int heads, float scale,
                           const Tensor* pos_bias, const Tensor* key_bias) = 0;

  // --- elementwise; b broadcasts over a's leading dims (b's shape = a's trailing dims) ---
  virtual Tensor add(const Tensor& a, const Tensor& b) = 0;
  virtual Tensor mul(const Tensor& a, const Tensor& b) = 0;
  virtual Tensor scale(const Tensor& a, float s) = 0;
  virtual Tensor activation(const Tensor& x, Activation act) = 0;
  // gelu_tanh(gate) * up, same shapes (T5's gated-GELU FFN)
  virtual Tensor gated_gelu(const Tensor& gate, const Tensor& up) = 0;

  // --- normalisation over the last dim ---
  // T5LayerNorm: x * rsqrt(mean(x^2) + eps) * weight   (no mean subtraction, no bias)
  virtual Tensor rms_norm(const Tensor& x, const Tensor& weight, float eps) = 0;
  // LayerNorm; weight and bias optional (PixArt's blocks use none)
  virtual Tensor layer_norm(const Tensor& x, const Tensor* weight, const Tensor* bias, float eps) = 0;
  // adaLN: x [B, N, D], mod [B, M, D]: x * (1 + mod[b, scale_idx]) + mod[b, shift_idx]
  virtual Tensor modulate(const Tensor& x, const Tensor& mod, int shift_idx, int scale_idx) = 0;
  // layer_norm then modulate, in one pass where a backend fuses them (the composition otherwise):
  //   LN(x) [* weight + bias] * (1 + mod[b, scale_idx]) + mod[b, shift_idx],  x [B, N, D], mod [B, M, D]
  virtual Tensor layer_norm_modulate(const Tensor& x, const Tensor* weight, const Tensor* bias, float eps,
                                     const Tensor& mod, int shift_idx, int scale_idx) {
    return modulate(layer_norm(x, weight, bias, eps), mod, shift_idx, scale_idx);
  }
  // x + mod[b, gate_idx] * y, with x, y [B, N, D], mod [B, M, D]
  virtual Tensor gated_residual(const Tensor& x, const Tensor& y, const Tensor& mod, int gate_idx) = 0;
  // GroupNorm over NCHW x [B, C, H, W] with affine weight/bias [C]; optional fused SiLU after it
  virtual Tensor group_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, int groups, float eps,
                            bool silu) = 0;

  // --- images and layout ---
  // x [B, C, H, W], w [O, C, kh, kw], bias [O] (optional) -> [B, O, Ho, Wo]; zero padding per side
  virtual Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor* bias, int stride, int pad_top,
                        int pad_left, int pad_bottom, int pad_right) = 0;
  virtual Tensor upsample_nearest2x(const Tensor& x) = 0;          // [B,C,H,W] -> [B,C,2H,2W]
  virtual Tensor nchw_to_nlc(const Tensor& x) = 0;                  // [B,C,H,W] -> [B,H*W,C]
  virtual Tensor nlc_to_nchw(const Tensor& x, int64_t h, int64_t w) = 0;  // [B,H*W,C] -> [B,C,H,W]
  // [B, C, H, W] -> [B, (H/p)*(W/p), C*p*p], each patch laid out (C, p, p) like a conv weight [D, C, p, p]
  virtual Tensor patchify(const Tensor& x, int p) = 0;
  // [B, h*w, p*p*C] with each token laid out (p, p, C) -> [B, C, h*p, w*p]   (diffusers' unpatchify)
  virtual Tensor unpatchify(const Tensor& x, int64_t h, int64_t w, int p, int c) = 0;
  // channels [start, start+count) of x [B, C, H, W]
  virtual Tensor slice_channels(const Tensor& x, int64_t start, int64_t count) = 0;
  // Tiled decoding (core/tiles.h): a crop of x [B, C, H, W], and diffusers' blending and assembly
  // of a grid of decoded tiles. The defaults run on the host; a GPU backend keeps them on the device.
  virtual Tensor crop(const Tensor& x, int64_t top, int64_t left, int64_t h, int64_t w) {
    return default_crop(*this, x, top, left, h, w);
  }
  virtual Tensor blend_tiles(const std::vector<std::vector<Tensor>>& rows, int64_t blend, int64_t limit) {
    return default_blend_tiles(*this, rows, blend, limit);
  }
  // table [V, D], ids [n] (host) -> [n, D]; ids are checked against V
  virtual Tensor embedding(const Tensor& table, const int32_t* ids, int64_t n) = 0;
  // out[b, m] = x[b] + table[m]: x [B, D], table [M, D] -> [B, M, D]. The default gathers each
  // row of x M times and adds the table (no broadcast-over-a-middle-dim op needed); the ONNX
  // exporter emits a broadcast, so the graph does not depend on B.
  virtual Tensor add_rows(const Tensor& x, const Tensor& table) {
    OpChecks(name()).add_rows(x, table);
    const int64_t B = x.dim(0), M = table.dim(0), D = x.dim(1);
    std::vector<int32_t> ids(static_cast<size_t>(B * M));
    for (int64_t i = 0; i < B * M; i++) ids[size_t(i)] = static_cast<int32_t>(i / M);
    return add(embedding(x, ids.data(), B * M).view({B, M, D}), table);  // [B*M, D] -> [B, M, D]
  }
};

}  // namespace pixart
