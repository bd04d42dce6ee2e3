// The exporters: each declares its inputs, builds the host-side preparation as graph ops,
// then calls the model's own forward on the GraphRecorder. See model_export.h.
#include "model_export.h"

#include <cmath>
#include <functional>
#include <map>
#include <memory>

#include "../core/status.h"
#include "../core/tensor.h"
#include "../models/pixart_dit/pixart_dit.h"
#include "../models/pixart_dit/sincos.h"
#include "../models/t5/t5_encoder.h"
#include "../models/vae/vae.h"
#include "graph_recorder.h"

namespace pixart::onnx {

namespace {

using Sym = std::map<std::string, int64_t>;

// Base sizes, one probe per symbol, one check with every symbol changed (see GraphRecorder).
std::vector<Sym> trace_plan(const Sym& base, const Sym& probe, const Sym& check) {
  std::vector<Sym> plan{base};
  for (const auto& [s, v] : probe) {
    Sym t = base;
    t[s] = v;
    plan.push_back(t);
  }
  plan.push_back(check);
  return plan;
}

// Shorthands for the preludes.
struct Ops {
  GraphRecorder& r;
  Tensor i64(std::vector<int64_t> v) { return r.const_i64(v, {int64_t(v.size())}); }
  Tensor scalar_i64(int64_t v) { return r.const_i64({v}, {}); }
  Tensor f32(std::vector<float> v) { return r.const_f32(v, {int64_t(v.size())}); }
  Tensor scalar_f32(float v) { return r.const_f32({v}, {}); }
  Tensor op(const std::string& op, std::vector<const Tensor*> in, ElemType t, const Shape& s,
            std::vector<Attribute> attrs = {}) {
    return r.node1(op, in, std::move(attrs), t, s);
  }
  Tensor unsqueeze(const Tensor& x, std::vector<int64_t> axes, const Shape& s) {
    Tensor a = i64(std::move(axes));
    return op("Unsqueeze", {&x, &a}, r.type_of(x), s);
  }
  // Shape(x)[axis] as int64 [1].
  Tensor dim(const Tensor& x, int64_t axis) {
    return op("Shape", {&x}, ElemType::kInt64, {1}, {attr_int("start", axis), attr_int("end", axis + 1)});
  }
  // sinusoid rows [cos(x f), sin(x f)] along a new last axis: x [..., 1] float32 -> [..., 2n]
  Tensor cos_sin(const Tensor& x, const std::vector<float>& freq) {
    Tensor f = f32(freq);
    Shape s = x.shape;
    s.back() = int64_t(freq.size());
    Tensor a = op("Mul", {&x, &f}, ElemType::kFloat, s);
    Tensor c = op("Cos", {&a}, ElemType::kFloat, s), sn = op("Sin", {&a}, ElemType::kFloat, s);
    Shape o = s;
    o.back() *= 2;
    return op("Concat", {&c, &sn}, ElemType::kFloat, o, {attr_int("axis", int64_t(s.size()) - 1)});
  }
};

// ---------------------------------------------------------------- text encoder

void trace_t5(GraphRecorder& r, T5Encoder& t5, const Tensor& bucket_table, const Tensor& rel_table,
              int64_t max_distance) {
  Ops o{r};
  const T5Config& c = t5.config();
  Tensor ids = r.input("input_ids", ElemType::kInt64, {"batch", "sequence"});
  Tensor mask = r.input("attention_mask", ElemType::kInt64, {"batch", "sequence"});
  const int64_t B = ids.dim(0), L = ids.dim(1), H = c.num_heads;
  // The embedding lookup of encode(), on the graph's ids.
  Tensor x = o.op("Gather", {&t5.embed_tokens(), &ids}, r.compute_type(), {B, L, c.d_model}, {attr_int("axis", 0)});
  // key_bias = (1 - mask) * finfo(dtype).min, as transformers builds it for its dtype (float32's
  // min would round to -inf in bfloat16).
  Tensor mf = r.cast(mask, ElemType::kFloat);
  const float masked = r.compute_type() == ElemType::kBFloat16 ? -3.38953139e38f : kT5MaskedKeyBias;
  Tensor one = o.scalar_f32(1.f), minf = o.scalar_f32(masked);
  Tensor inv = o.op("Sub", {&one, &mf}, ElemType::kFloat, {B, L});
  Tensor kb = r.cast(o.op("Mul", {&inv, &minf}, ElemType::kFloat, {B, L}), r.compute_type());
  // Position bias [H, L, L] = table[bucket(j - i)]: the bucket of every clamped relative
  // position comes from a table the engine's own bucket function filled, so it is exact.
  Tensor Lt = o.dim(ids, 1);
  Tensor ax0 = o.i64({0});
  Tensor Ls = o.op("Squeeze", {&Lt, &ax0}, ElemType::kInt64, {});
  Tensor zero = o.scalar_i64(0), step = o.scalar_i64(1);
  Tensor pos = o.op("Range", {&zero, &Ls, &step}, ElemType::kInt64, {L});
  Tensor row = o.unsqueeze(pos, {0}, {1, L}), col = o.unsqueeze(pos, {1}, {L, 1});
  Tensor rel = o.op("Sub", {&row, &col}, ElemType::kInt64, {L, L});  // j - i
  Tensor lo = o.scalar_i64(-max_distance), hi = o.scalar_i64(max_distance);
  Tensor above = o.op("Max", {&rel, &lo}, ElemType::kInt64, {L, L});
  Tensor clamped = o.op("Min", {&above, &hi}, ElemType::kInt64, {L, L});
  Tensor idx = o.op("Add", {&clamped, &hi}, ElemType::kInt64, {L, L});
  Tensor bucket = o.op("Gather", {&bucket_table, &idx}, ElemType::kInt64, {L, L}, {attr_int("axis", 0)});
  Tensor bias = r.cast(o.op("Gather", {&rel_table, &bucket}, ElemType::kFloat, {L, L, H}, {attr_int("axis", 0)}), r.compute_type());
  Tensor pb = o.op("Transpose", {&bias}, r.compute_type(), {H, L, L}, {attr_ints("perm", {2, 0, 1})});
  r.output("last_hidden_state", t5.encode_graph(x, pb, &kb));
}

// ---------------------------------------------------------------- transformer

void trace_dit(GraphRecorder& r, PixArtDiT& dit) {
  Ops o{r};
  const DiTConfig& c = dit.config();
  const ElemType T = r.compute_type();
  const int64_t p = c.patch_size, D = c.inner_dim(), q = D / 4;
  const int64_t text_width = c.caption_channels > 0 ? c.caption_channels : c.cross_attention_dim;
  DiTGraphInputs g;
  g.latents = r.input("hidden_states", T, {"batch", std::to_string(c.in_channels), "height", "width"});
  Tensor t = r.input("timestep", ElemType::kFloat, {"batch"});
  g.text = r.input("encoder_hidden_states", T, {"batch", "sequence", std::to_string(text_width)});
  Tensor mask = r.input("encoder_attention_mask", ElemType::kFloat, {"batch", "sequence"});
  const int64_t B = g.latents.dim(0), L = g.text.dim(1), gh = g.latents.dim(2) / p, gw = g.latents.dim(3) / p;
  const std::vector<float> freq = dit::timestep_frequencies(dit::kTimestepChannels);

  g.timestep_features = r.cast(o.cos_sin(o.unsqueeze(t, {1}, {B, 1}), freq), T);  // [B, 256]
  if (c.use_additional_conditions) {
    Tensor res = r.input("resolution", ElemType::kFloat, {"batch", "2"});
    Tensor ar = r.input("aspect_ratio", ElemType::kFloat, {"batch"});
    Tensor ar1 = o.unsqueeze(ar, {1}, {B, 1});
    Tensor vals = o.op("Concat", {&res, &ar1}, ElemType::kFloat, {B, 3}, {attr_int("axis", 1)});  // [h, w, ar]
    Tensor f = o.cos_sin(o.unsqueeze(vals, {2}, {B, 3, 1}), freq);                              // [B, 3, 256]
    Tensor shape = o.i64({0, 3 * dit::kTimestepChannels});
    g.size_features = r.cast(o.op("Reshape", {&f, &shape}, ElemType::kFloat, {B, 3 * dit::kTimestepChannels}), T);
  }
  // key_bias = (1 - mask) * -10000
  Tensor one = o.scalar_f32(1.f), big = o.scalar_f32(-10000.f);
  Tensor inv = o.op("Sub", {&one, &mask}, ElemType::kFloat, {B, L});
  g.key_bias = r.cast(o.op("Mul", {&inv, &big}, ElemType::kFloat, {B, L}), T);

  // Position table of the gh x gw patch grid (dit::sincos_pos_embed_2d, in float32):
  // coordinate i / (g / base_size) / interpolation_scale, rows [sin x, cos x, sin y, cos y].
  std::vector<float> omega;
  for (double w : dit::pos_embed_omega(D)) omega.push_back(float(w));
  Tensor pt = o.i64({p});
  auto grid = [&](int64_t axis, int64_t n, Tensor& g_out) {
    Tensor size = o.dim(g.latents, axis);
    g_out = o.op("Div", {&size, &pt}, ElemType::kInt64, {1});
    Tensor ax0 = o.i64({0});
    Tensor gs = o.op("Squeeze", {&g_out, &ax0}, ElemType::kInt64, {});
    Tensor zero = o.scalar_i64(0), one_i = o.scalar_i64(1);
    Tensor idx = r.cast(o.op("Range", {&zero, &gs, &one_i}, ElemType::kInt64, {n}), ElemType::kFloat);
    Tensor gf = r.cast(g_out, ElemType::kFloat);
    Tensor base = o.scalar_f32(float(c.base_size())), scale = o.scalar_f32(float(c.interpolation_scale));
    Tensor stepv = o.op("Div", {&gf, &base}, ElemType::kFloat, {1});
    Tensor scaled = o.op("Div", {&idx, &stepv}, ElemType::kFloat, {n});
    Tensor coord = o.op("Div", {&scaled, &scale}, ElemType::kFloat, {n});
    Tensor col = o.unsqueeze(coord, {1}, {n, 1}), om = o.f32(omega);
    Tensor a = o.op("Mul", {&col, &om}, ElemType::kFloat, {n, q});
    Tensor sn = o.op("Sin", {&a}, ElemType::kFloat, {n, q}), cs = o.op("Cos", {&a}, ElemType::kFloat, {n, q});
    return o.op("Concat", {&sn, &cs}, ElemType::kFloat, {n, 2 * q}, {attr_int("axis", 1)});
  };
  Tensor ght, gwt;
  Tensor ey = grid(2, gh, ght), ex = grid(3, gw, gwt);
  Tensor half = o.i64({2 * q});
  Tensor full = o.op("Concat", {&ght, &gwt, &half}, ElemType::kInt64, {3}, {attr_int("axis", 0)});
  Tensor ex3 = o.unsqueeze(ex, {0}, {1, gw, 2 * q}), ey3 = o.unsqueeze(ey, {1}, {gh, 1, 2 * q});
  Tensor EX = o.op("Expand", {&ex3, &full}, ElemType::kFloat, {gh, gw, 2 * q});
  Tensor EY = o.op("Expand", {&ey3, &full}, ElemType::kFloat, {gh, gw, 2 * q});
  Tensor table = o.op("Concat", {&EX, &EY}, ElemType::kFloat, {gh, gw, 4 * q}, {attr_int("axis", 2)});
  Tensor flat = o.i64({-1, D});
  g.pos = r.cast(o.op("Reshape", {&table, &flat}, ElemType::kFloat, {gh * gw, D}), T);

  r.output("sample", dit.forward_graph(g));
}

// ---------------------------------------------------------------- vae decoder

void trace_vae(GraphRecorder& r, AutoencoderKL& vae) {
  Tensor z = r.input("latent_sample", r.compute_type(),
                     {"batch", std::to_string(vae.config().latent_channels), "height", "width"});
  r.output("sample", vae.decode(z));
}

}  // namespace

const char* model_kind_name(ModelKind k) {
  switch (k) {
    case ModelKind::kTextEncoder: return "text_encoder";
    case ModelKind::kTransformer: return "transformer";
    case ModelKind::kVaeDecoder: return "vae_decoder";
  }
  return "?";
}

ModelKind parse_model_kind(const std::string& s) {
  if (s == "text_encoder") return ModelKind::kTextEncoder;
  if (s == "transformer") return ModelKind::kTransformer;
  if (s == "vae_decoder") return ModelKind::kVaeDecoder;
  fail(StatusCode::kInvalidArgument, "ONNX export: unknown model \"" + s + "\" (text_encoder, transformer, vae_decoder)");
}

ExportSummary export_model(const ExportOptions& opt) {
  if (opt.out.empty()) fail(StatusCode::kInvalidArgument, "ONNX export: no output path");
  if (opt.dtype != ElemType::kFloat && opt.dtype != ElemType::kFloat16 && opt.dtype != ElemType::kBFloat16)
    fail(StatusCode::kInvalidArgument, "ONNX export: dtype must be float32, float16 or bfloat16");
  if (opt.quant != WeightQuant::kNone && opt.kind != ModelKind::kTextEncoder)
    fail(StatusCode::kInvalidArgument, std::string("ONNX export: weight quantization is for the text_encoder only, not ") +
                                           model_kind_name(opt.kind));
  if (opt.kind == ModelKind::kVaeDecoder && opt.dtype == ElemType::kBFloat16)
    fail(StatusCode::kInvalidArgument, "ONNX export: the vae_decoder cannot be exported in bfloat16: op Conv has no bfloat16 "
                                       "in ONNX opset 21; use float16 or float32");
  if (opt.kind == ModelKind::kTextEncoder && opt.dtype == ElemType::kFloat16)
    fail(StatusCode::kInvalidArgument, "ONNX export: the text_encoder cannot be exported in float16 (T5 overflows "
                                       "in float16); use float32 or bfloat16, with int8 or int4 weights if smaller weights are wanted");

  auto check_cancel = [&] {
    if (opt.cancel && opt.cancel->load()) fail(StatusCode::kCancelled, "ONNX export cancelled; nothing was written");
  };
  check_cancel();
  GraphRecorder r(opt.dtype);
  std::vector<Sym> plan;
  std::function<void()> trace;
  std::unique_ptr<T5Encoder> t5;
  std::unique_ptr<PixArtDiT> dit;
  std::unique_ptr<AutoencoderKL> vae;
  Tensor bucket_table, rel_table;
  int64_t max_distance = 0;
  ModelInfo info;
  switch (opt.kind) {
    case ModelKind::kTextEncoder: {
      t5 = T5Encoder::load(r, opt.folder, opt.weights, opt.quant);
      const T5Config& c = t5->config();
      max_distance = c.relative_attention_max_distance;
      std::vector<int64_t> buckets;
      for (int64_t d = -max_distance; d <= max_distance; d++)
        buckets.push_back(t5_relative_position_bucket(d, true, c.relative_attention_num_buckets, max_distance));
      bucket_table = r.initializer_i64("relative_position_bucket", buckets, {int64_t(buckets.size())});
      rel_table = r.initializer_f32("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                                    t5->relative_bias_table(), {c.relative_attention_num_buckets, c.num_heads});
      plan = trace_plan({{"batch", 1}, {"sequence", 3}}, {{"batch", 2}, {"sequence", 5}}, {{"batch", 3}, {"sequence", 4}});
      trace = [&] { trace_t5(r, *t5, bucket_table, rel_table, max_distance); };
      info.metadata.push_back({"pixart.quantization", weight_quant_name(opt.quant)});
      break;
    }
    case ModelKind::kTransformer: {
      dit = PixArtDiT::load(r, opt.folder, opt.weights);
      const int64_t p = dit->config().patch_size;
      plan = trace_plan({{"batch", 1}, {"height", 4 * p}, {"width", 6 * p}, {"sequence", 3}},
                        {{"batch", 2}, {"height", 6 * p}, {"width", 10 * p}, {"sequence", 5}},
                        {{"batch", 3}, {"height", 8 * p}, {"width", 4 * p}, {"sequence", 4}});
      trace = [&] { trace_dit(r, *dit); };
      break;
    }
    case ModelKind::kVaeDecoder: {
      vae = AutoencoderKL::load(r, opt.folder, VAEParts::kDecoder, opt.weights);
      plan = trace_plan({{"batch", 1}, {"height", 4}, {"width", 5}}, {{"batch", 2}, {"height", 6}, {"width", 7}},
                        {{"batch", 3}, {"height", 5}, {"width", 3}});
      trace = [&] { trace_vae(r, *vae); };
      info.metadata.push_back({"pixart.scaling_factor", std::to_string(vae->config().scaling_factor)});
      break;
    }
  }
  for (const Sym& s : plan) {
    check_cancel();
    r.begin_trace(s);
    trace();
    r.end_trace();
  }
  Graph g = r.finish(model_kind_name(opt.kind));
  info.doc = std::string("PixArt-alpha ") + model_kind_name(opt.kind) + " exported by pixart-node from " + opt.folder;
  info.metadata.push_back({"pixart.model", model_kind_name(opt.kind)});
  info.metadata.push_back({"pixart.dtype", elem_type_name(opt.dtype)});

  // Weights' bytes decide inline vs external data (protobuf caps a file at 2 GB).
  int64_t weight_bytes = 0;
  for (const Initializer& i : g.initializers) weight_bytes += elem_bytes(i.type, numel(i.dims));
  const bool external = opt.external == ExternalData::kAlways ||
                        (opt.external == ExternalData::kAuto && weight_bytes > (int64_t(1) << 30));
  ExportSummary sum;
  sum.kind = opt.kind, sum.dtype = opt.dtype, sum.quant = opt.quant;
  sum.inputs = g.inputs, sum.outputs = g.outputs;
  sum.nodes = int64_t(g.nodes.size()), sum.initializers = int64_t(g.initializers.size()), sum.opset = info.opset;
  sum.files = write_model(opt.out, g, info, external, opt.cancel);
  return sum;
}

}  // namespace pixart::onnx
