// GraphRecorder: see graph_recorder.h. Each Backend op appends ONNX nodes with the concrete
// output shapes of this trace; finish() fits symbolic dims across traces and emits the graph.
#include "graph_recorder.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <set>

#include "../core/status.h"
#include "../core/weights.h"

namespace pixart::onnx {

namespace {

constexpr int kTraceBase = 1 << 30;  // value ids at or above this belong to the current trace

struct RecStorage : Storage {
  int id = -1;
};

uint16_t float_to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u) return uint16_t(sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u : 0u));  // inf / nan
  if (absx >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // rounds past 65504: inf
  if (absx < 0x38800000u) {  // subnormal half (or zero): round to nearest even at 2^-24
    float a;
    std::memcpy(&a, &absx, 4);
    const float scaled = a * 16777216.f;  // exact: a power of two
    return uint16_t(sign | uint32_t(std::nearbyint(scaled)));
  }
  const uint32_t mant = absx & 0x7fffffu;
  uint32_t h = ((absx >> 23) - 112) << 10 | (mant >> 13);
  const uint32_t rest = mant & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h++;  // carries into the exponent correctly
  return uint16_t(sign | h);
}

// bfloat16: the upper half of the float32, rounded to nearest even (NaN stays NaN).
uint16_t float_to_bfloat16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return uint16_t((x >> 16) | 0x40u);
  x += 0x7fffu + ((x >> 16) & 1u);
  return uint16_t(x >> 16);
}

// float32 values -> raw bytes of `type` (kFloat, kFloat16 or kBFloat16).
void append_floats(std::string& out, const float* v, size_t n, ElemType type) {
  if (type == ElemType::kFloat) {
    out.append(reinterpret_cast<const char*>(v), n * 4);
    return;
  }
  if (type != ElemType::kFloat16 && type != ElemType::kBFloat16)
    fail(StatusCode::kInternal, "ONNX export: float data as " + std::string(elem_type_name(type)));
  const size_t at = out.size();
  out.resize(at + n * 2);
  for (size_t i = 0; i < n; i++) {
    const uint16_t h = type == ElemType::kFloat16 ? float_to_half(v[i]) : float_to_bfloat16(v[i]);
    std::memcpy(&out[at + 2 * i], &h, 2);
  }
}

// The little-endian bytes of a vector (ONNX raw_data).
template <class T>
std::string raw_bytes(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

bool same_attr(const Attribute& a, const Attribute& b) {
  return a.name == b.name && a.kind == b.kind && a.i == b.i && (a.f == b.f || (std::isnan(a.f) && std::isnan(b.f))) &&
         a.s == b.s && a.ints == b.ints && a.floats == b.floats && a.t.raw == b.t.raw && a.t.dims == b.t.dims &&
         a.t.type == b.t.type;
}

int64_t ipow(int64_t v, int e) {
  int64_t r = 1;
  while (e-- > 0) r *= v;
  return r;
}

}  // namespace

struct GraphRecorder::Impl {
  enum class Kind { kNode, kInput, kConst, kInit, kVirtual };
  struct Value {
    Shape shape;
    ElemType type = ElemType::kFloat;
    Kind kind = Kind::kNode;
    std::string name;                    // inputs and initializers
    std::vector<std::string> dim_names;  // inputs
    std::string raw;                     // trace constants (compared across traces)
    int transposed = -1;                 // static weights: the id of their [K, N] form
  };
  struct RNode {
    std::string op;
    std::vector<int> in;  // -1: omitted optional input
    std::vector<int> out;
    std::vector<Attribute> attrs;
    int shape_of = -1;  // >= 0: one more input, the shape of that value (fitted symbolically)
    std::string what;   // the Backend op that emitted it, for error messages
  };
  struct Trace {
    std::map<std::string, int64_t> symbols;
    std::vector<Value> values;
    std::vector<RNode> nodes;
    std::vector<std::pair<std::string, int>> outputs;
    std::map<std::pair<int, Shape>, int> views;
  };

  std::vector<Value> statics;
  std::vector<Initializer> inits;      // one per static kInit value, in creation order
  std::vector<RNode> static_nodes;     // weight dequantisation and layouts
  std::map<std::pair<int, Shape>, int> transposed_cache;
  std::map<std::string, int> init_names;
  std::vector<Trace> traces;
  bool tracing = false;
  std::string current_op = "?";

  Trace& cur() { return traces.back(); }
  Value& val(int id) { return id >= kTraceBase ? cur().values.at(size_t(id - kTraceBase)) : statics.at(size_t(id)); }

  std::string unique_init_name(const std::string& base) {
    int& n = init_names[base];
    return n++ == 0 ? base : base + "." + std::to_string(n - 1);
  }

  Tensor tensor(int id) {
    auto s = std::make_shared<RecStorage>();
    s->id = id;
    Tensor t;
    t.shape = val(id).shape;
    t.storage = s;
    return t;
  }

  int new_value(Value v) {
    if (tracing) {
      cur().values.push_back(std::move(v));
      return kTraceBase + int(cur().values.size()) - 1;
    }
    statics.push_back(std::move(v));
    return int(statics.size()) - 1;
  }

  int add_static_init(const std::string& name, ElemType type, const Shape& shape, std::function<void(std::string&)> fill) {
    Value v;
    v.shape = shape, v.type = type, v.kind = Kind::kInit, v.name = unique_init_name(name);
    Initializer init;
    init.name = v.name, init.type = type, init.dims = shape, init.fill = std::move(fill);
    inits.push_back(std::move(init));
    statics.push_back(std::move(v));
    return int(statics.size()) - 1;
  }

  std::vector<int> emit(const std::string& op, std::vector<int> in, std::vector<Attribute> attrs,
                        const std::vector<ElemType>& types, const std::vector<Shape>& shapes, int shape_of = -1) {
    RNode n;
    n.op = op, n.in = std::move(in), n.attrs = std::move(attrs), n.shape_of = shape_of, n.what = current_op;
    for (size_t i = 0; i < types.size(); i++) {
      Value v;
      v.shape = shapes[i], v.type = types[i];
      n.out.push_back(new_value(std::move(v)));
    }
    std::vector<int> out = n.out;
    (tracing ? cur().nodes : static_nodes).push_back(std::move(n));
    return out;
  }
  int emit1(const std::string& op, std::vector<int> in, std::vector<Attribute> attrs, ElemType type, const Shape& shape) {
    return emit(op, std::move(in), std::move(attrs), {type}, {shape})[0];
  }

  int constant(std::string raw, ElemType type, const Shape& shape) {
    Value v;
    v.shape = shape, v.type = type, v.kind = Kind::kConst, v.raw = std::move(raw);
    return new_value(std::move(v));
  }
  int const_i64(const std::vector<int64_t>& v) {
    return constant(std::string(reinterpret_cast<const char*>(v.data()), v.size() * 8), ElemType::kInt64,
                    {int64_t(v.size())});
  }
  int scalar(float f, ElemType type) {
    std::string raw;
    append_floats(raw, &f, 1, type);
    return constant(std::move(raw), type, {});
  }

  // The value a tensor stands for, with a Reshape when model code viewed it with a new shape.
  int use(const Tensor& t) {
    auto* rs = dynamic_cast<RecStorage*>(t.storage.get());
    if (!rs) fail(StatusCode::kInvalidArgument, "ONNX export: op " + current_op + " got a tensor of another backend");
    const int id = rs->id;
    if (id >= kTraceBase && !tracing) fail(StatusCode::kInternal, "ONNX export: a traced tensor used outside its trace");
    if (id >= kTraceBase && size_t(id - kTraceBase) >= cur().values.size())
      fail(StatusCode::kInternal, "ONNX export: a tensor from an earlier trace was used");
    Value& v = val(id);
    if (v.kind == Kind::kVirtual) {  // a quantised weight outside linear(): transpose its [K, N] form back
      const int T = v.transposed;
      const Shape s = v.shape;
      auto it = transposed_cache.find({T, s});
      if (it != transposed_cache.end()) return it->second;
      const bool was = tracing;
      tracing = false;
      const int r = emit1("Transpose", {T}, {attr_ints("perm", {1, 0})}, v.type, s);
      tracing = was;
      transposed_cache[{T, s}] = r;
      return r;
    }
    if (t.shape == v.shape) return id;
    if (numel(t.shape) != numel(v.shape))
      fail(StatusCode::kInternal, "ONNX export: a view changes the element count (" + shape_str(v.shape) + " -> " +
                                      shape_str(t.shape) + ")");
    if (!tracing) fail(StatusCode::kInternal, "ONNX export: a weight view outside a trace");
    auto key = std::make_pair(id, t.shape);
    auto it = cur().views.find(key);
    if (it != cur().views.end()) return it->second;
    const ElemType type = v.type;
    const int out = emit1("Reshape", {id}, {}, type, t.shape);
    cur().nodes.back().shape_of = out;
    cur().views[key] = out;
    return out;
  }

  // A Reshape of `id` to `shape` whose target is fitted symbolically across traces.
  int reshape_sym(int id, const Shape& shape) {
    const int out = emit1("Reshape", {id}, {}, val(id).type, shape);
    cur().nodes.back().shape_of = out;
    return out;
  }
  int reshape_const(int id, const std::vector<int64_t>& target, const Shape& shape) {
    const int s = const_i64(target);
    return emit1("Reshape", {id, s}, {}, val(id).type, shape);
  }
  int transpose(int id, const std::vector<int64_t>& perm) {
    const Shape& in = val(id).shape;
    Shape s(perm.size());
    for (size_t i = 0; i < perm.size(); i++) s[i] = in[size_t(perm[i])];
    return emit1("Transpose", {id}, {attr_ints("perm", perm)}, val(id).type, s);
  }
  int binary(const char* op, int a, int b, const Shape& shape) { return emit1(op, {a, b}, {}, val(a).type, shape); }
  int slice1(int id, int64_t axis, int64_t start, int64_t end) {
    Shape s = val(id).shape;
    s[size_t(axis)] = end - start;
    const int st = const_i64({start}), en = const_i64({end}), ax = const_i64({axis});
    return emit1("Slice", {id, st, en, ax}, {}, val(id).type, s);
  }

  int activation(int x, Activation act) {
    const Shape s = val(x).shape;
    const ElemType T = val(x).type;
    switch (act) {
      case Activation::kNone: return x;
      case Activation::kSilu: return binary("Mul", x, emit1("Sigmoid", {x}, {}, T, s), s);
      case Activation::kRelu: return emit1("Relu", {x}, {}, T, s);
      case Activation::kGelu: {  // 0.5 x (1 + erf(x / sqrt 2))
        const int e = emit1("Erf", {binary("Mul", x, scalar(float(M_SQRT1_2), T), s)}, {}, T, s);
        return binary("Mul", binary("Mul", x, scalar(0.5f, T), s), binary("Add", e, scalar(1.f, T), s), s);
      }
      case Activation::kGeluTanh: {  // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        const int x3 = binary("Mul", binary("Mul", x, x, s), x, s);
        const int inner = binary("Add", x, binary("Mul", x3, scalar(0.044715f, T), s), s);
        const int th = emit1("Tanh", {binary("Mul", inner, scalar(float(std::sqrt(2.0 / M_PI)), T), s)}, {}, T, s);
        return binary("Mul", binary("Mul", x, scalar(0.5f, T), s), binary("Add", th, scalar(1.f, T), s), s);
      }
    }
    fail(StatusCode::kUnsupported, "ONNX export: op activation: unknown activation");
  }

  // The [K, N] form of a linear weight w [N, K] (an initializer transposed when written).
  int weight_t(const Tensor& w) {
    auto* rs = dynamic_cast<RecStorage*>(w.storage.get());
    if (rs && rs->id < kTraceBase) {
      Value& v = statics.at(size_t(rs->id));
      if (v.transposed >= 0 && v.kind == Kind::kVirtual) return v.transposed;
      if (v.kind == Kind::kInit && w.rank() == 2) {
        auto key = std::make_pair(rs->id, w.shape);
        auto it = transposed_cache.find(key);
        if (it != transposed_cache.end()) return it->second;
        const Initializer& src = inits.at(size_t(std::find_if(inits.begin(), inits.end(), [&](const Initializer& i) {
                                                    return i.name == v.name;
                                                  }) - inits.begin()));
        const int64_t N = w.dim(0), K = w.dim(1);
        const ElemType T = v.type;
        auto fill_src = src.fill;
        const int bytes = elem_bits(T) / 8;
        const int id = add_static_init(v.name + ".T", T, {K, N}, [fill_src, N, K, bytes](std::string& out) {
          std::string a;
          fill_src(a);
          out.resize(a.size());
          for (int64_t n = 0; n < N; n++)
            for (int64_t k = 0; k < K; k++) std::memcpy(&out[size_t((k * N + n) * bytes)], &a[size_t((n * K + k) * bytes)], size_t(bytes));
        });
        transposed_cache[key] = id;
        return id;
      }
    }
    return transpose(use(w), {1, 0});
  }
};

GraphRecorder::GraphRecorder(ElemType compute) : impl_(new Impl), compute_(compute) {
  if (compute != ElemType::kFloat && compute != ElemType::kFloat16 && compute != ElemType::kBFloat16)
    fail(StatusCode::kInvalidArgument, "ONNX export: compute type must be float32, float16 or bfloat16");
}
GraphRecorder::~GraphRecorder() = default;

void GraphRecorder::begin_trace(const std::map<std::string, int64_t>& symbols) {
  if (impl_->tracing) fail(StatusCode::kInternal, "ONNX export: begin_trace inside a trace");
  impl_->traces.emplace_back();
  impl_->cur().symbols = symbols;
  impl_->tracing = true;
}

void GraphRecorder::end_trace() { impl_->tracing = false; }

Tensor GraphRecorder::input(const std::string& name, ElemType type, const std::vector<std::string>& dim_names) {
  Impl& m = *impl_;
  if (!m.tracing) fail(StatusCode::kInternal, "ONNX export: input() outside a trace");
  Impl::Value v;
  v.kind = Impl::Kind::kInput, v.type = type, v.name = name, v.dim_names = dim_names;
  for (std::string& d : v.dim_names) {
    if (!d.empty() && d[0] >= '0' && d[0] <= '9') {  // a fixed dim, written as its value
      v.shape.push_back(std::stoll(d));
      d.clear();
      continue;
    }
    auto it = m.cur().symbols.find(d);
    if (it == m.cur().symbols.end()) fail(StatusCode::kInternal, "ONNX export: input " + name + " names unknown dim " + d);
    v.shape.push_back(it->second);
  }
  return m.tensor(m.new_value(std::move(v)));
}

void GraphRecorder::output(const std::string& name, const Tensor& t) {
  impl_->current_op = "output";
  impl_->cur().outputs.emplace_back(name, impl_->use(t));
}

std::vector<Tensor> GraphRecorder::node(const std::string& op_type, const std::vector<const Tensor*>& inputs,
                                        std::vector<Attribute> attrs, const std::vector<ElemType>& out_types,
                                        const std::vector<Shape>& out_shapes) {
  Impl& m = *impl_;
  m.current_op = op_type;
  std::vector<int> in;
  for (const Tensor* t : inputs) in.push_back(t ? m.use(*t) : -1);
  std::vector<Tensor> out;
  for (int id : m.emit(op_type, std::move(in), std::move(attrs), out_types, out_shapes)) out.push_back(m.tensor(id));
  return out;
}

Tensor GraphRecorder::const_i64(const std::vector<int64_t>& v, const Shape& shape) {
  if (int64_t(v.size()) != numel(shape)) fail(StatusCode::kInternal, "ONNX export: constant size");
  return impl_->tensor(impl_->constant(raw_bytes(v), ElemType::kInt64, shape));
}

Tensor GraphRecorder::const_f32(const std::vector<float>& v, const Shape& shape) {
  if (int64_t(v.size()) != numel(shape)) fail(StatusCode::kInternal, "ONNX export: constant size");
  return impl_->tensor(impl_->constant(raw_bytes(v), ElemType::kFloat, shape));
}

// Initializers are static values whether or not a trace is being recorded (add_static_init).
Tensor GraphRecorder::initializer_i64(const std::string& name, const std::vector<int64_t>& v, const Shape& shape) {
  const std::string raw = raw_bytes(v);
  return impl_->tensor(impl_->add_static_init(name, ElemType::kInt64, shape, [raw](std::string& out) { out += raw; }));
}

Tensor GraphRecorder::initializer_f32(const std::string& name, const std::vector<float>& v, const Shape& shape) {
  const std::string raw = raw_bytes(v);
  return impl_->tensor(impl_->add_static_init(name, ElemType::kFloat, shape, [raw](std::string& out) { out += raw; }));
}

ElemType GraphRecorder::type_of(const Tensor& t) const { return impl_->val(impl_->use(t)).type; }

Tensor GraphRecorder::cast(const Tensor& t, ElemType to) {
  impl_->current_op = "cast";
  const int id = impl_->use(t);
  if (impl_->val(id).type == to) return impl_->tensor(id);
  return impl_->tensor(impl_->emit1("Cast", {id}, {attr_int("to", int64_t(to))}, to, impl_->val(id).shape));
}

// ---------------------------------------------------------------- Backend ops

Tensor GraphRecorder::empty(const Shape&) {
  fail(StatusCode::kUnsupported, "ONNX export: op empty (an uninitialised buffer) cannot be exported");
}

Tensor GraphRecorder::from_host(const float* data, const Shape& shape) {
  Impl& m = *impl_;
  const size_t n = size_t(numel(shape));
  if (m.tracing) {  // a constant of this trace; finish() rejects it if it changes with the sizes
    std::string raw;
    append_floats(raw, data, n, compute_);
    return m.tensor(m.constant(std::move(raw), compute_, shape));
  }
  std::vector<float> v(data, data + n);
  const ElemType T = compute_;
  return m.tensor(m.add_static_init("constant", T, shape, [v, T](std::string& out) { append_floats(out, v.data(), v.size(), T); }));
}

void GraphRecorder::to_host(const Tensor&, float*) {
  fail(StatusCode::kUnsupported, "ONNX export: op to_host (reading values on the host) cannot be exported; "
                                 "the exported graph must not depend on computed values");
}

Tensor GraphRecorder::load_weight(const WeightView& w) {
  const ElemType T = compute_;
  return impl_->tensor(impl_->add_static_init(w.name, T, w.shape, [w, T](std::string& out) {
    std::vector<float> f(size_t(numel(w.shape)));
    convert_to_f32(w, f.data());
    append_floats(out, f.data(), f.size(), T);
  }));
}

Tensor GraphRecorder::load_linear_weight(const WeightView& w, WeightQuant q) {
  check_storage_quant(q, "load_linear_weight");
  if (q == WeightQuant::kNone) return load_weight(w);
  if (w.shape.size() != 2)
    fail(StatusCode::kModelLoad, w.file + ": " + w.name + " is not a [out, in] linear weight; it cannot be quantised");
  Impl& m = *impl_;
  const bool was = m.tracing;
  m.tracing = false;
  const int64_t N = w.shape[0], K = w.shape[1];
  const ElemType T = compute_;
  // Stored transposed, [K, N], so DequantizeLinear feeds MatMul directly (the layout TensorRT
  // fuses for weight-only quantisation): int8 with a scale per column n (axis 1); int4 with a
  // scale per block of kInt4Group along K and column n (axis 0, block_size), the last block shorter.
  auto quantized = [w, q]() {
    std::vector<float> f(size_t(numel(w.shape)));
    convert_to_f32(w, f.data());
    return quantize_weight(f.data(), w.shape[0], w.shape[1], q);
  };
  const ElemType qt = q == WeightQuant::kInt8 ? ElemType::kInt8 : ElemType::kInt4;
  const int data = m.add_static_init(w.name + (q == WeightQuant::kInt8 ? ".int8" : ".int4"), qt, {K, N},
                                     [quantized, q, N, K](std::string& out) {
    const QuantizedWeight qw = quantized();
    std::vector<int8_t> v(size_t(N * K));  // [K, N]
    const int64_t rb = quant_row_bytes(q, K);
    for (int64_t n = 0; n < N; n++)
      for (int64_t k = 0; k < K; k++) {
        int8_t x;
        if (q == WeightQuant::kInt8) {
          x = int8_t(qw.data[size_t(n * rb + k)]);
        } else {
          const uint8_t b = qw.data[size_t(n * rb + k / 2)];
          const int nib = (k % 2 == 0) ? (b & 0xf) : (b >> 4);
          x = int8_t(nib >= 8 ? nib - 16 : nib);
        }
        v[size_t(k * N + n)] = x;
      }
    if (q == WeightQuant::kInt8) {
      out.append(reinterpret_cast<const char*>(v.data()), v.size());
    } else {
      out.resize(size_t((N * K + 1) / 2), '\0');
      for (size_t i = 0; i < v.size(); i++) out[i / 2] |= char((uint8_t(v[i]) & 0xf) << (i % 2 ? 4 : 0));
    }
  });
  const int64_t G = quant_groups(q, K);
  const Shape scale_shape = q == WeightQuant::kInt8 ? Shape{N} : Shape{G, N};
  const int scale = m.add_static_init(w.name + ".scale", T, scale_shape, [quantized, N, G, T](std::string& out) {
    const QuantizedWeight qw = quantized();
    std::vector<float> s(size_t(N * G));  // [G, N] from the row-major [N, G]
    for (int64_t n = 0; n < N; n++)
      for (int64_t g = 0; g < G; g++) s[size_t(g * N + n)] = qw.scales[size_t(n * G + g)];
    append_floats(out, s.data(), s.size(), T);
  });
  std::vector<Attribute> attrs;
  if (q == WeightQuant::kInt8) {
    attrs.push_back(attr_int("axis", 1));
  } else {
    attrs.push_back(attr_int("axis", 0));
    attrs.push_back(attr_int("block_size", kInt4Group));
  }
  m.current_op = "load_linear_weight";
  const int dq = m.emit1("DequantizeLinear", {data, scale}, std::move(attrs), T, {K, N});
  Impl::Value v;
  v.shape = {N, K}, v.type = T, v.kind = Impl::Kind::kVirtual, v.transposed = dq, v.name = w.name;
  const int id = m.new_value(std::move(v));
  m.tracing = was;
  return m.tensor(id);
}

Tensor GraphRecorder::linear(const Tensor& x, const Tensor& w, const Tensor* bias, Activation act,
                             const Tensor* residual) {
  Impl& m = *impl_;
  m.current_op = "linear";
  const int xi = m.use(x), wt = m.weight_t(w);
  Shape s = x.shape;
  s.back() = w.dim(0);
  int y = m.emit1("MatMul", {xi, wt}, {}, compute_, s);
  if (bias) y = m.binary("Add", y, m.use(*bias), s);
  y = m.activation(y, act);
  if (residual) y = m.binary("Add", y, m.use(*residual), s);
  return m.tensor(y);
}

Tensor GraphRecorder::attention(const Tensor& q, const Tensor& k, const Tensor& v, int heads, float scale,
                                const Tensor* pos_bias, const Tensor* key_bias) {
  Impl& m = *impl_;
  m.current_op = "attention";
  const int64_t B = q.dim(0), Lq = q.dim(1), Lk = k.dim(1), H = heads, Dh = q.dim(2) / heads;
  const ElemType T = compute_;
  auto heads_of = [&](const Tensor& t, const std::vector<int64_t>& perm) {  // [B, L, H*Dh] -> [B, L, H, Dh] -> perm
    const int r = m.reshape_const(m.use(t), {0, 0, H, -1}, {t.dim(0), t.dim(1), H, Dh});
    return m.transpose(r, perm);
  };
  const int q4 = heads_of(q, {0, 2, 1, 3});   // [B, H, Lq, Dh]
  const int kt = heads_of(k, {0, 2, 3, 1});   // [B, H, Dh, Lk]
  const int v4 = heads_of(v, {0, 2, 1, 3});   // [B, H, Lk, Dh]
  const Shape ss{B, H, Lq, Lk};
  int s = m.emit1("MatMul", {q4, kt}, {}, T, ss);
  if (scale != 1.f) s = m.binary("Mul", s, m.scalar(scale, T), ss);
  if (pos_bias) s = m.binary("Add", s, m.use(*pos_bias), ss);  // [H, Lq, Lk] broadcasts
  if (key_bias) {
    const int kb = m.emit1("Unsqueeze", {m.use(*key_bias), m.const_i64({1, 2})}, {}, m.val(m.use(*key_bias)).type,
                           {key_bias->dim(0), 1, 1, key_bias->dim(1)});  // [B, Lk] -> [B, 1, 1, Lk]
    s = m.binary("Add", s, kb, ss);
  }
  const int p = m.emit1("Softmax", {s}, {attr_int("axis", -1)}, T, ss);
  const int o = m.emit1("MatMul", {p, v4}, {}, T, {B, H, Lq, Dh});
  const int ot = m.transpose(o, {0, 2, 1, 3});  // [B, Lq, H, Dh]
  return m.tensor(m.reshape_const(ot, {0, 0, -1}, {B, Lq, H * Dh}));
}

Tensor GraphRecorder::add(const Tensor& a, const Tensor& b) {
  impl_->current_op = "add";
  return impl_->tensor(impl_->binary("Add", impl_->use(a), impl_->use(b), a.shape));
}

Tensor GraphRecorder::mul(const Tensor& a, const Tensor& b) {
  impl_->current_op = "mul";
  return impl_->tensor(impl_->binary("Mul", impl_->use(a), impl_->use(b), a.shape));
}

Tensor GraphRecorder::scale(const Tensor& a, float s) {
  impl_->current_op = "scale";
  return impl_->tensor(impl_->binary("Mul", impl_->use(a), impl_->scalar(s, compute_), a.shape));
}

Tensor GraphRecorder::activation(const Tensor& x, Activation act) {
  impl_->current_op = "activation";
  return impl_->tensor(impl_->activation(impl_->use(x), act));
}

Tensor GraphRecorder::gated_gelu(const Tensor& gate, const Tensor& up) {
  impl_->current_op = "gated_gelu";
  const int g = impl_->activation(impl_->use(gate), Activation::kGeluTanh);
  return impl_->tensor(impl_->binary("Mul", g, impl_->use(up), gate.shape));
}

Tensor GraphRecorder::rms_norm(const Tensor& x, const Tensor& weight, float eps) {
  Impl& m = *impl_;
  m.current_op = "rms_norm";
  // transformers' T5LayerNorm: the mean of squares in float32 whatever the dtype, x * rsqrt in
  // float32, then back to the weight's dtype before the scale.
  const ElemType F = ElemType::kFloat;
  int xi = m.use(x);
  if (compute_ != F) xi = m.emit1("Cast", {xi}, {attr_int("to", int64_t(F))}, F, x.shape);
  const Shape s = x.shape;
  Shape r = s;
  r.back() = 1;
  const int ms = m.emit1("ReduceMean", {m.binary("Mul", xi, xi, s), m.const_i64({-1})}, {attr_int("keepdims", 1)}, F, r);
  const int rs = m.emit1("Reciprocal", {m.emit1("Sqrt", {m.binary("Add", ms, m.scalar(eps, F), r)}, {}, F, r)}, {}, F, r);
  int y = m.binary("Mul", xi, rs, s);
  if (compute_ != F) y = m.emit1("Cast", {y}, {attr_int("to", int64_t(compute_))}, compute_, s);
  return m.tensor(m.binary("Mul", y, m.use(weight), s));
}

Tensor GraphRecorder::layer_norm(const Tensor& x, const Tensor* weight, const Tensor* bias, float eps) {
  Impl& m = *impl_;
  m.current_op = "layer_norm";
  const int64_t D = x.dim(-1);
  // LayerNormalization takes scale and an optional bias; absent ones become ones / zeros
  // (one initializer per width). The bias is always given: onnxruntime's SkipLayerNorm fusion
  // crashes on a LayerNormalization without one (seen with 1.30).
  auto filled = [&](const char* what, float value) {
    const std::string name = std::string("layer_norm.") + what + "." + std::to_string(D);
    for (size_t i = 0; i < m.statics.size(); i++)
      if (m.statics[i].kind == Impl::Kind::kInit && m.statics[i].name == name) return int(i);
    const ElemType T = compute_;
    return m.add_static_init(name, T, {D}, [D, T, value](std::string& out) {
      std::vector<float> v(size_t(D), value);
      append_floats(out, v.data(), v.size(), T);
    });
  };
  const int w = weight ? m.use(*weight) : filled("ones", 1.f);
  const int b = bias ? m.use(*bias) : filled("zeros", 0.f);
  return m.tensor(m.emit1("LayerNormalization", {m.use(x), w, b}, {attr_int("axis", -1), attr_float("epsilon", eps)},
                          compute_, x.shape));
}

Tensor GraphRecorder::modulate(const Tensor& x, const Tensor& mod, int shift_idx, int scale_idx) {
  Impl& m = *impl_;
  m.current_op = "modulate";
  const int mi = m.use(mod);
  const int sh = m.slice1(mi, 1, shift_idx, shift_idx + 1), sc = m.slice1(mi, 1, scale_idx, scale_idx + 1);  // [B, 1, D]
  const Shape r = m.val(sc).shape;
  const int one_plus = m.binary("Add", sc, m.scalar(1.f, compute_), r);
  return m.tensor(m.binary("Add", m.binary("Mul", m.use(x), one_plus, x.shape), sh, x.shape));
}

Tensor GraphRecorder::gated_residual(const Tensor& x, const Tensor& y, const Tensor& mod, int gate_idx) {
  Impl& m = *impl_;
  m.current_op = "gated_residual";
  const int g = m.slice1(m.use(mod), 1, gate_idx, gate_idx + 1);  // [B, 1, D]
  return m.tensor(m.binary("Add", m.use(x), m.binary("Mul", g, m.use(y), y.shape), x.shape));
}

Tensor GraphRecorder::group_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, int groups, float eps,
                                 bool silu) {
  Impl& m = *impl_;
  m.current_op = "group_norm";
  // opset 21 GroupNormalization: per-channel scale/bias, statistics in float32 (stash_type 1).
  int y = m.emit1("GroupNormalization", {m.use(x), m.use(weight), m.use(bias)},
                  {attr_int("num_groups", groups), attr_float("epsilon", eps), attr_int("stash_type", 1)}, compute_,
                  x.shape);
  if (silu) y = m.activation(y, Activation::kSilu);
  return m.tensor(y);
}

Tensor GraphRecorder::conv2d(const Tensor& x, const Tensor& w, const Tensor* bias, int stride, int pad_top,
                             int pad_left, int pad_bottom, int pad_right) {
  Impl& m = *impl_;
  m.current_op = "conv2d";
  const int64_t kh = w.dim(2), kw = w.dim(3);
  const int64_t Ho = (x.dim(2) + pad_top + pad_bottom - kh) / stride + 1;
  const int64_t Wo = (x.dim(3) + pad_left + pad_right - kw) / stride + 1;
  std::vector<int> in{m.use(x), m.use(w)};
  if (bias) in.push_back(m.use(*bias));
  return m.tensor(m.emit1("Conv", std::move(in),
                          {attr_ints("kernel_shape", {kh, kw}), attr_ints("strides", {stride, stride}),
                           attr_ints("pads", {pad_top, pad_left, pad_bottom, pad_right})},
                          compute_, {x.dim(0), w.dim(0), Ho, Wo}));
}

Tensor GraphRecorder::upsample_nearest2x(const Tensor& x) {
  Impl& m = *impl_;
  m.current_op = "upsample_nearest2x";
  const std::vector<float> sc{1.f, 1.f, 2.f, 2.f};
  const int scales = m.constant(std::string(reinterpret_cast<const char*>(sc.data()), 16), ElemType::kFloat, {4});
  return m.tensor(m.emit1("Resize", {m.use(x), -1, scales},
                          {attr_string("mode", "nearest"), attr_string("coordinate_transformation_mode", "asymmetric"),
                           attr_string("nearest_mode", "floor")},
                          compute_, {x.dim(0), x.dim(1), 2 * x.dim(2), 2 * x.dim(3)}));
}

Tensor GraphRecorder::nchw_to_nlc(const Tensor& x) {
  Impl& m = *impl_;
  m.current_op = "nchw_to_nlc";
  const int r = m.reshape_const(m.use(x), {0, 0, -1}, {x.dim(0), x.dim(1), x.dim(2) * x.dim(3)});  // [B, C, H*W]
  return m.tensor(m.transpose(r, {0, 2, 1}));
}

Tensor GraphRecorder::nlc_to_nchw(const Tensor& x, int64_t h, int64_t w) {
  Impl& m = *impl_;
  m.current_op = "nlc_to_nchw";
  const int t = m.transpose(m.use(x), {0, 2, 1});  // [B, C, H*W]
  return m.tensor(m.reshape_sym(t, {x.dim(0), x.dim(2), h, w}));
}

Tensor GraphRecorder::patchify(const Tensor& x, int p) {
  Impl& m = *impl_;
  m.current_op = "patchify";
  const int64_t B = x.dim(0), C = x.dim(1), gh = x.dim(2) / p, gw = x.dim(3) / p;
  const int r = m.reshape_sym(m.use(x), {B, C, gh, p, gw, p});
  const int t = m.transpose(r, {0, 2, 4, 1, 3, 5});  // [B, gh, gw, C, p, p]
  return m.tensor(m.reshape_const(t, {0, -1, C * p * p}, {B, gh * gw, C * p * p}));
}

Tensor GraphRecorder::unpatchify(const Tensor& x, int64_t h, int64_t w, int p, int c) {
  Impl& m = *impl_;
  m.current_op = "unpatchify";
  const int64_t B = x.dim(0);
  const int r = m.reshape_sym(m.use(x), {B, h, w, p, p, c});
  const int t = m.transpose(r, {0, 5, 1, 3, 2, 4});  // [B, C, h, p, w, p]
  return m.tensor(m.reshape_sym(t, {B, c, h * p, w * p}));
}

Tensor GraphRecorder::slice_channels(const Tensor& x, int64_t start, int64_t count) {
  impl_->current_op = "slice_channels";
  return impl_->tensor(impl_->slice1(impl_->use(x), 1, start, start + count));
}

Tensor GraphRecorder::embedding(const Tensor& table, const int32_t* ids, int64_t n) {
  Impl& m = *impl_;
  m.current_op = "embedding";
  std::vector<int64_t> v(ids, ids + n);
  const int idx = m.constant(std::string(reinterpret_cast<const char*>(v.data()), v.size() * 8), ElemType::kInt64, {n});
  return m.tensor(m.emit1("Gather", {m.use(table), idx}, {attr_int("axis", 0)}, compute_, {n, table.dim(1)}));
}

Tensor GraphRecorder::add_rows(const Tensor& x, const Tensor& table) {
  Impl& m = *impl_;
  m.current_op = "add_rows";
  const int u = m.emit1("Unsqueeze", {m.use(x), m.const_i64({1})}, {}, compute_, {x.dim(0), 1, x.dim(1)});
  return m.tensor(m.binary("Add", u, m.use(table), {x.dim(0), table.dim(0), x.dim(1)}));
}

// ---------------------------------------------------------------- fitting and emission

Graph GraphRecorder::finish(const std::string& graph_name) {
  Impl& m = *impl_;
  if (m.tracing) fail(StatusCode::kInternal, "ONNX export: finish() inside a trace");
  if (m.traces.size() < 2) fail(StatusCode::kInternal, "ONNX export: at least two traces are needed");
  const Impl::Trace& base = m.traces[0];

  // 1. Every trace must have recorded the same graph.
  for (size_t t = 1; t < m.traces.size(); t++) {
    const Impl::Trace& tr = m.traces[t];
    if (tr.nodes.size() != base.nodes.size() || tr.values.size() != base.values.size() || tr.outputs != base.outputs) {
      fail(StatusCode::kUnsupported, "ONNX export: the model records a different graph for other input sizes "
                                     "(" + std::to_string(base.nodes.size()) + " vs " + std::to_string(tr.nodes.size()) +
                                         " nodes); it cannot be exported with dynamic axes");
    }
    for (size_t i = 0; i < base.nodes.size(); i++) {
      const Impl::RNode &a = base.nodes[i], &b = tr.nodes[i];
      bool same = a.op == b.op && a.in == b.in && a.out == b.out && a.shape_of == b.shape_of && a.attrs.size() == b.attrs.size();
      for (size_t k = 0; same && k < a.attrs.size(); k++) same = same_attr(a.attrs[k], b.attrs[k]);
      if (!same)
        fail(StatusCode::kUnsupported, "ONNX export: op " + a.what + " (" + a.op + ") changes with the input sizes; "
                                       "it cannot be exported with dynamic axes");
    }
    for (size_t i = 0; i < base.values.size(); i++) {
      const Impl::Value &a = base.values[i], &b = tr.values[i];
      if (a.kind != b.kind || a.type != b.type || a.raw != b.raw || a.shape.size() != b.shape.size())
        fail(StatusCode::kUnsupported, "ONNX export: a constant or value of the graph depends on the input sizes "
                                       "(value " + std::to_string(i) + "); it cannot be exported with dynamic axes");
    }
  }

  // 2. Which trace probes which symbol: exactly one symbol differs from the base trace.
  std::map<std::string, size_t> probe;
  std::vector<size_t> checks;
  for (size_t t = 1; t < m.traces.size(); t++) {
    std::vector<std::string> diff;
    for (const auto& [s, v] : base.symbols)
      if (m.traces[t].symbols.at(s) != v) diff.push_back(s);
    if (diff.size() == 1 && !probe.count(diff[0])) probe[diff[0]] = t;
    else checks.push_back(t);
  }
  for (const auto& [s, v] : base.symbols)
    if (!probe.count(s)) fail(StatusCode::kInternal, "ONNX export: no trace varies symbol " + s);

  // 3. Fit each dim of each value: d = num/den * prod(sym^e).
  struct SymDim {
    int64_t num = 0, den = 1;
    std::map<std::string, int> exps;
    bool is_const() const { return exps.empty(); }
  };
  auto fit = [&](size_t vi, size_t d) {
    SymDim f;
    const int64_t b = base.values[vi].shape[d];
    int64_t den = 1;
    for (const auto& [s, t] : probe) {
      const int64_t v0 = base.symbols.at(s), v1 = m.traces[t].symbols.at(s), dv = m.traces[t].values[vi].shape[d];
      int e = -1;
      for (int k = 0; k <= 3 && e < 0; k++)
        if (dv * ipow(v0, k) == b * ipow(v1, k)) e = k;
      if (e < 0)
        fail(StatusCode::kUnsupported, "ONNX export: a dim of the graph is not a product of powers of the input sizes");
      if (e > 0) f.exps[s] = e, den *= ipow(v0, e);
    }
    const int64_t g = std::gcd(b, den);
    f.num = b / g, f.den = den / g;
    for (size_t t : checks) {
      int64_t p = f.num;
      for (const auto& [s, e] : f.exps) p *= ipow(m.traces[t].symbols.at(s), e);
      if (p % f.den != 0 || p / f.den != m.traces[t].values[vi].shape[d])
        fail(StatusCode::kUnsupported, "ONNX export: a dim of the graph does not follow the input sizes consistently");
    }
    return f;
  };

  // 4. Emit.
  Graph g;
  g.name = graph_name;
  g.initializers = m.inits;
  auto sname = [&](int id) -> std::string {
    if (id < 0) return "";
    if (id < kTraceBase) return m.statics[size_t(id)].kind == Impl::Kind::kInit ? m.statics[size_t(id)].name
                                                                               : "w" + std::to_string(id);
    const Impl::Value& v = base.values[size_t(id - kTraceBase)];
    if (v.kind == Impl::Kind::kInput) return v.name;
    for (const auto& [name, oid] : base.outputs)
      if (oid == id) return name;
    return "v" + std::to_string(id - kTraceBase);
  };
  auto add_node = [&](const Impl::RNode& n, std::vector<std::string> extra = {}) {
    Node o;
    o.op_type = n.op;
    for (int i : n.in) o.inputs.push_back(sname(i));
    for (std::string& e : extra) o.inputs.push_back(std::move(e));
    for (int i : n.out) o.outputs.push_back(sname(i));
    o.attrs = n.attrs;
    o.name = n.what + "_" + std::to_string(g.nodes.size());
    g.nodes.push_back(std::move(o));
  };
  for (const Impl::RNode& n : m.static_nodes) add_node(n);
  // Constants of the trace become initializers.
  for (size_t i = 0; i < base.values.size(); i++) {
    const Impl::Value& v = base.values[i];
    if (v.kind != Impl::Kind::kConst) continue;
    Initializer init;
    init.name = sname(kTraceBase + int(i)), init.type = v.type, init.dims = v.shape;
    const std::string raw = v.raw;
    init.fill = [raw](std::string& out) { out += raw; };
    g.initializers.push_back(std::move(init));
  }
  // Symbols come from the inputs that name them: Shape(input)[axis], as int64 [1].
  std::map<std::string, std::pair<std::string, int64_t>> sym_src;
  for (const Impl::Value& v : base.values)
    if (v.kind == Impl::Kind::kInput)
      for (size_t a = 0; a < v.dim_names.size(); a++)
        if (!v.dim_names[a].empty() && !sym_src.count(v.dim_names[a])) sym_src[v.dim_names[a]] = {v.name, int64_t(a)};
  std::map<std::string, std::string> exprs;  // expression key -> tensor name
  int shape_count = 0;
  auto const_init = [&](const std::vector<int64_t>& v) {
    Initializer init;
    init.name = "shape_const_" + std::to_string(shape_count++), init.type = ElemType::kInt64, init.dims = {int64_t(v.size())};
    init.fill = [v](std::string& out) { out.append(reinterpret_cast<const char*>(v.data()), v.size() * 8); };
    g.initializers.push_back(init);
    return init.name;
  };
  auto expr_node = [&](const std::string& op, std::vector<std::string> in, std::vector<Attribute> attrs = {}) {
    Node o;
    o.op_type = op, o.inputs = std::move(in), o.attrs = std::move(attrs);
    o.outputs = {"shape_expr_" + std::to_string(shape_count++)};
    o.name = o.outputs[0];
    g.nodes.push_back(o);
    return o.outputs[0];
  };
  std::function<std::string(const SymDim&)> dim_tensor = [&](const SymDim& f) -> std::string {
    std::string key = std::to_string(f.num) + "/" + std::to_string(f.den);
    for (const auto& [s, e] : f.exps) key += "*" + s + "^" + std::to_string(e);
    auto it = exprs.find(key);
    if (it != exprs.end()) return it->second;
    std::string cur;
    if (f.is_const()) {
      cur = const_init({f.num / f.den});
    } else {
      for (const auto& [s, e] : f.exps) {
        const std::string skey = "sym:" + s;
        if (!exprs.count(skey)) {
          const auto& [in, axis] = sym_src.at(s);
          exprs[skey] = expr_node("Shape", {in}, {attr_int("start", axis), attr_int("end", axis + 1)});
        }
        for (int k = 0; k < e; k++) cur = cur.empty() ? exprs[skey] : expr_node("Mul", {cur, exprs[skey]});
      }
      if (f.num != 1) cur = expr_node("Mul", {cur, const_init({f.num})});
      if (f.den != 1) cur = expr_node("Div", {cur, const_init({f.den})});
    }
    exprs[key] = cur;
    return cur;
  };
  for (const Impl::RNode& n : base.nodes) {
    if (n.shape_of < 0) {
      add_node(n);
      continue;
    }
    const size_t vi = size_t(n.shape_of - kTraceBase);
    std::vector<SymDim> dims;
    bool all_const = true;
    for (size_t d = 0; d < base.values[vi].shape.size(); d++) {
      dims.push_back(fit(vi, d));
      all_const &= dims.back().is_const();
    }
    std::string shape;
    if (all_const) {
      std::vector<int64_t> v;
      for (const SymDim& f : dims) v.push_back(f.num / f.den);
      shape = const_init(v);
    } else {
      std::vector<std::string> parts;
      for (const SymDim& f : dims) parts.push_back(dim_tensor(f));
      shape = expr_node("Concat", parts, {attr_int("axis", 0)});
    }
    add_node(n, {shape});
  }
  // Weights only referenced through their transposed or quantised forms are not written.
  {
    std::set<std::string> used;
    for (const Node& n : g.nodes)
      for (const std::string& i : n.inputs) used.insert(i);
    std::vector<Initializer> kept;
    for (Initializer& i : g.initializers)
      if (used.count(i.name)) kept.push_back(std::move(i));
    g.initializers = std::move(kept);
  }
  // Inputs and outputs with their symbolic dims.
  for (const Impl::Value& v : base.values) {
    if (v.kind != Impl::Kind::kInput) continue;
    ValueInfo vi;
    vi.name = v.name, vi.type = v.type;
    for (size_t a = 0; a < v.shape.size(); a++) {
      Dim d;
      if (!v.dim_names[a].empty() && probe.count(v.dim_names[a])) d.param = v.dim_names[a];
      else d.value = v.shape[a];
      vi.dims.push_back(d);
    }
    g.inputs.push_back(vi);
  }
  for (const auto& [name, id] : base.outputs) {
    if (id < kTraceBase) fail(StatusCode::kUnsupported, "ONNX export: output " + name + " is a weight, not a computed value");
    const size_t vi = size_t(id - kTraceBase);
    ValueInfo o;
    o.name = name, o.type = base.values[vi].type;
    for (size_t d = 0; d < base.values[vi].shape.size(); d++) {
      const SymDim f = fit(vi, d);
      Dim dim;
      if (f.is_const()) {
        dim.value = f.num / f.den;
      } else {
        std::string p = f.num != 1 ? std::to_string(f.num) + "*" : "";
        bool first = true;
        for (const auto& [s, e] : f.exps)
          for (int k = 0; k < e; k++) p += (first ? "" : "*") + s, first = false;
        if (f.den != 1) p += "/" + std::to_string(f.den);
        dim.param = p;
      }
      o.dims.push_back(dim);
    }
    g.outputs.push_back(o);
  }
  return g;
}

}  // namespace pixart::onnx
