// GraphRecorder: a Backend that records the ops a model calls into an ONNX graph instead of
// computing them, so the exporter runs the SAME model code (native/models/*) as the CPU and
// CUDA backends.
//
// Dynamic axes. Model code computes with concrete shapes (views, the h/w of unpatchify), so a
// single trace would bake the example sizes into every reshape. The recorder therefore traces
// the model several times: once with base sizes, once per symbol (batch, height, ...) with
// only that symbol changed, and once more with every symbol changed. Every value's dims are
// fitted as c * prod(symbol^e) from those traces (c rational, e small integers) and checked
// against the last trace; reshapes then get shape tensors computed in the graph from the
// inputs' Shape. A graph whose structure or constants change with the sizes fails with a
// typed error naming the op, never exports silently wrong.
//
// Values never hold data: to_host and anything that reads values throw kUnsupported.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "../core/backend.h"
#include "onnx_writer.h"

namespace pixart::onnx {

class GraphRecorder : public Backend {
 public:
  // compute: the float type of activations and weights (kFloat or kFloat16).
  explicit GraphRecorder(ElemType compute);
  ~GraphRecorder() override;
  std::string name() const override { return "onnx-export"; }
  ElemType compute_type() const { return compute_; }

  // --- tracing ---
  // Symbols and their values for the next trace. Every trace must declare the same symbols.
  void begin_trace(const std::map<std::string, int64_t>& symbols);
  void end_trace();
  // A graph input. dim_names[i] names a symbol (its value this trace is the concrete dim) or
  // is a number for a fixed dim ("4").
  Tensor input(const std::string& name, ElemType type, const std::vector<std::string>& dim_names);
  void output(const std::string& name, const Tensor& t);
  // Any ONNX node (for the preludes the exporters build around a model): out_shapes are the
  // concrete shapes of the outputs this trace.
  std::vector<Tensor> node(const std::string& op_type, const std::vector<const Tensor*>& inputs,
                           std::vector<Attribute> attrs, const std::vector<ElemType>& out_types,
                           const std::vector<Shape>& out_shapes);
  Tensor node1(const std::string& op_type, const std::vector<const Tensor*>& inputs, std::vector<Attribute> attrs,
               ElemType out_type, const Shape& out_shape) {
    return node(op_type, inputs, std::move(attrs), {out_type}, {out_shape})[0];
  }
  Tensor const_i64(const std::vector<int64_t>& v, const Shape& shape);
  Tensor const_f32(const std::vector<float>& v, const Shape& shape);
  // A constant weight-like table (stored as an initializer, not traced): e.g. T5's bucket map.
  Tensor initializer_i64(const std::string& name, const std::vector<int64_t>& v, const Shape& shape);
  Tensor initializer_f32(const std::string& name, const std::vector<float>& v, const Shape& shape);
  ElemType type_of(const Tensor& t) const;
  Tensor cast(const Tensor& t, ElemType to);

  // Fits the traces' shapes and builds the graph (static weights first, then the trace).
  // Throws kUnsupported when the traces disagree (a size-dependent graph).
  Graph finish(const std::string& graph_name);

  // --- Backend ---
  Tensor empty(const Shape& shape) override;
  Tensor from_host(const float* data, const Shape& shape) override;
  void to_host(const Tensor& t, float* out) override;
  Tensor load_weight(const WeightView& w) override;
  Tensor load_linear_weight(const WeightView& w, WeightQuant q) override;
  Tensor linear(const Tensor& x, const Tensor& w, const Tensor* bias, Activation act,
                const Tensor* residual) override;
  Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, int heads, float scale, const Tensor* pos_bias,
                   const Tensor* key_bias) override;
  Tensor add(const Tensor& a, const Tensor& b) override;
  Tensor mul(const Tensor& a, const Tensor& b) override;
  Tensor scale(const Tensor& a, float s) override;
  Tensor activation(const Tensor& x, Activation act) override;
  Tensor gated_gelu(const Tensor& gate, const Tensor& up) override;
  Tensor rms_norm(const Tensor& x, const Tensor& weight, float eps) override;
  Tensor layer_norm(const Tensor& x, const Tensor* weight, const Tensor* bias, float eps) override;
  Tensor modulate(const Tensor& x, const Tensor& mod, int shift_idx, int scale_idx) override;
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
  Tensor add_rows(const Tensor& x, const Tensor& table) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  ElemType compute_;
};

}  // namespace pixart::onnx
