// PixArtTransformer2DModel forward: patch embed + sin-cos positions, adaLN-single conditioning,
// N x (self-attn, cross-attn, FFN) blocks, modulated output projection, unpatchify.
#include "pixart_dit.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "../../core/status.h"
#include "../../core/weights.h"
#include "sincos.h"

namespace pixart {

using dit::kTimestepChannels;

namespace {

// The final norm_out is nn.LayerNorm(eps=1e-6) in diffusers regardless of config.norm_eps.
constexpr float kNormOutEps = 1e-6f;

// diffusers FeedForward: gelu / geglu use exact GELU, gelu-approximate the tanh form, swiglu and
// linear-silu SiLU.
Activation ff_activation(const DiTConfig& c) {
  if (c.activation_fn == "gelu" || c.activation_fn == "geglu") return Activation::kGelu;
  if (c.activation_fn == "swiglu" || c.activation_fn == "linear-silu") return Activation::kSilu;
  return Activation::kGeluTanh;
}

// Rows [start, start + count) of a [rows, ...] weight, a view into the same mapping.
WeightView row_range(const WeightView& w, int64_t start, int64_t count) {
  WeightView v = w;
  const int64_t row = w.shape.size() > 1 ? numel(w.shape) / w.shape[0] : 1;
  const size_t bytes = static_cast<size_t>(row) * dtype_size(w.dtype);
  v.data = static_cast<const char*>(w.data) + static_cast<size_t>(start) * bytes;
  v.bytes = static_cast<size_t>(count) * bytes;
  v.shape[0] = count;
  v.name = w.name + ".rows_" + std::to_string(start) + "_" + std::to_string(start + count);  // also an ONNX initializer name
  return v;
}

std::vector<float> host_copy(const WeightView& w) {
  std::vector<float> v(numel(w.shape));
  convert_to_f32(w, v.data());
  return v;
}

std::string shape_of(const Tensor& t) { return t.defined() ? shape_str(t.shape) : "(none)"; }

}  // namespace

// ---------------------------------------------------------------- config

DiTConfig DiTConfig::from_json(const JsonConfig& c) {
  DiTConfig d;
  const std::string& where = c.origin();
  d.sample_size = c.get_int("sample_size", d.sample_size);
  d.patch_size = c.get_int("patch_size", d.patch_size);
  d.in_channels = c.get_int("in_channels", d.in_channels);
  // diffusers: out_channels None means "same as in_channels".
  d.out_channels = c.has("out_channels") ? c.get_int("out_channels") : d.in_channels;
  d.num_layers = c.get_int("num_layers", d.num_layers);
  d.num_attention_heads = c.get_int("num_attention_heads", d.num_attention_heads);
  d.attention_head_dim = c.get_int("attention_head_dim", d.attention_head_dim);
  d.caption_channels = c.get_int("caption_channels", 0);
  d.norm_eps = c.get_double("norm_eps", d.norm_eps);
  d.norm_elementwise_affine = c.get_bool("norm_elementwise_affine", d.norm_elementwise_affine);
  d.attention_bias = c.get_bool("attention_bias", d.attention_bias);
  d.activation_fn = c.get_string("activation_fn", d.activation_fn);
  d.norm_type = c.get_string("norm_type", d.norm_type);
  d.attention_type = c.get_string("attention_type", d.attention_type);
  // Legacy "Transformer2DModel" configs (the real PixArt repos) lack these two keys; diffusers
  // derives them from sample_size exactly like this.
  d.interpolation_scale = c.has("interpolation_scale") ? c.get_double("interpolation_scale")
                                                       : static_cast<double>(std::max<int64_t>(d.sample_size / 64, 1));
  d.use_additional_conditions =
      c.has("use_additional_conditions") ? c.get_bool("use_additional_conditions", false) : d.sample_size == 128;

  if (d.norm_type != "ada_norm_single")
    fail(StatusCode::kUnsupported, where + ": norm_type \"" + d.norm_type + "\" is not supported (PixArt uses ada_norm_single)");
  if (d.activation_fn != "gelu-approximate" && d.activation_fn != "gelu" && d.activation_fn != "geglu" &&
      d.activation_fn != "swiglu" && d.activation_fn != "linear-silu")
    fail(StatusCode::kUnsupported, where + ": activation_fn \"" + d.activation_fn +
                                       "\" is not supported (gelu-approximate, gelu, geglu, swiglu, linear-silu)");
  if (d.attention_type != "default")
    fail(StatusCode::kUnsupported, where + ": attention_type \"" + d.attention_type + "\" is not supported");
  if (c.get_bool("only_cross_attention", false) || c.get_bool("double_self_attention", false))
    fail(StatusCode::kUnsupported, where + ": only_cross_attention / double_self_attention are not supported");
  if (!c.has("cross_attention_dim"))
    fail(StatusCode::kUnsupported, where + ": cross_attention_dim is missing; a DiT without cross-attention is not supported");
  d.cross_attention_dim = c.get_int("cross_attention_dim");

  auto positive = [&](const char* key, int64_t v) {
    if (v <= 0) fail(StatusCode::kModelLoad, where + ": " + key + " must be positive, got " + std::to_string(v));
  };
  positive("sample_size", d.sample_size);
  positive("patch_size", d.patch_size);
  positive("in_channels", d.in_channels);
  positive("out_channels", d.out_channels);
  positive("num_attention_heads", d.num_attention_heads);
  positive("attention_head_dim", d.attention_head_dim);
  positive("cross_attention_dim", d.cross_attention_dim);
  if (d.num_layers < 0 || d.caption_channels < 0 || !(d.interpolation_scale > 0) || !(d.norm_eps >= 0))
    fail(StatusCode::kModelLoad, where + ": num_layers, caption_channels, interpolation_scale or norm_eps out of range");
  if (d.sample_size < d.patch_size)
    fail(StatusCode::kModelLoad, where + ": sample_size is smaller than patch_size");
  const int64_t D = d.inner_dim();
  if (D % 4 != 0)
    fail(StatusCode::kModelLoad, where + ": inner dim " + std::to_string(D) +
                                     " (heads x head_dim) must be a multiple of 4 for the 2D sin-cos position embedding");
  if (d.use_additional_conditions && D % 3 != 0)
    fail(StatusCode::kModelLoad, where + ": with use_additional_conditions the inner dim " + std::to_string(D) +
                                     " must be a multiple of 3 (resolution h, w and aspect-ratio embeddings)");
  if (d.caption_channels > 0 && d.cross_attention_dim != D)
    fail(StatusCode::kModelLoad, where + ": cross_attention_dim " + std::to_string(d.cross_attention_dim) +
                                     " must equal the inner dim " + std::to_string(D) + " when captions are projected");
  return d;
}

// ---------------------------------------------------------------- blocks

namespace dit {

Linear Linear::load(Backend& be, const WeightStore& ws, const std::string& prefix, int64_t out, int64_t in,
                    bool has_bias) {
  Linear l;
  l.weight = be.load_weight(ws.require(prefix + ".weight", {out, in}));
  if (has_bias) l.bias = be.load_weight(ws.require(prefix + ".bias", {out}));
  return l;
}

Linear Linear::load_rows(Backend& be, const WeightStore& ws, const std::string& prefix, int64_t total_out,
                         int64_t start, int64_t out, int64_t in) {
  Linear l;
  l.weight = be.load_weight(row_range(ws.require(prefix + ".weight", {total_out, in}), start, out));
  l.bias = be.load_weight(row_range(ws.require(prefix + ".bias", {total_out}), start, out));
  return l;
}

Tensor Linear::operator()(Backend& be, const Tensor& x, Activation act, const Tensor* residual) const {
  return be.linear(x, weight, bias.defined() ? &bias : nullptr, act, residual);
}

Attention Attention::load(Backend& be, const WeightStore& ws, const std::string& prefix, const DiTConfig& cfg,
                          int64_t kv_dim) {
  const int64_t D = cfg.inner_dim();
  Attention a;
  a.to_q = Linear::load(be, ws, prefix + ".to_q", D, D, cfg.attention_bias);
  a.to_k = Linear::load(be, ws, prefix + ".to_k", D, kv_dim, cfg.attention_bias);
  a.to_v = Linear::load(be, ws, prefix + ".to_v", D, kv_dim, cfg.attention_bias);
  a.to_out = Linear::load(be, ws, prefix + ".to_out.0", D, D, true);
  a.heads = static_cast<int>(cfg.num_attention_heads);
  a.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(cfg.attention_head_dim)));
  return a;
}

// to_out(softmax(q k^T * scale + key_bias) v) + residual, q from x [B, Lq, D], k/v from ctx [B, Lk, kv_dim].
static Tensor attend(Backend& be, const Attention& a, const Tensor& x, const Tensor& ctx, const Tensor* key_bias,
                     const Tensor* residual) {
  Tensor q = a.to_q(be, x);
  Tensor k = a.to_k(be, ctx);
  Tensor v = a.to_v(be, ctx);
  Tensor o = be.attention(q, k, v, a.heads, a.scale, nullptr, key_bias);
  return a.to_out(be, o, Activation::kNone, residual);
}

TransformerBlock TransformerBlock::load(Backend& be, const WeightStore& ws, const std::string& prefix,
                                        const DiTConfig& cfg) {
  const int64_t D = cfg.inner_dim();
  TransformerBlock b;
  b.scale_shift_table = be.load_weight(ws.require(prefix + ".scale_shift_table", {6, D}));
  if (cfg.norm_elementwise_affine) {
    b.norm1_weight = be.load_weight(ws.require(prefix + ".norm1.weight", {D}));
    b.norm1_bias = be.load_weight(ws.require(prefix + ".norm1.bias", {D}));
    b.norm2_weight = be.load_weight(ws.require(prefix + ".norm2.weight", {D}));
    b.norm2_bias = be.load_weight(ws.require(prefix + ".norm2.bias", {D}));
  }
  b.attn1 = Attention::load(be, ws, prefix + ".attn1", cfg, D);
  b.attn2 = Attention::load(be, ws, prefix + ".attn2", cfg, cfg.cross_attention_dim);
  const int64_t F = cfg.ff_inner_dim();
  if (cfg.ff_gated()) {  // diffusers GEGLU / SwiGLU: hidden_states, gate = proj(x).chunk(2, dim=-1)
    b.ff_proj = Linear::load_rows(be, ws, prefix + ".ff.net.0.proj", 2 * F, 0, F, D);
    b.ff_gate = Linear::load_rows(be, ws, prefix + ".ff.net.0.proj", 2 * F, F, F, D);
  } else {
    b.ff_proj = Linear::load(be, ws, prefix + ".ff.net.0.proj", F, D);
  }
  b.ff_out = Linear::load(be, ws, prefix + ".ff.net.2", D, cfg.ff_inner_dim());
  return b;
}

// One ada_norm_single BasicTransformerBlock. x [B, N, D]; t6 [B, 6, D] (adaln_single output);
// text [B, L, cross_attention_dim]; key_bias [B, L] or null.
static Tensor block_forward(Backend& be, const TransformerBlock& blk, const DiTConfig& cfg, const Tensor& x_in,
                            const Tensor& t6, const Tensor& text, const Tensor* key_bias) {
  const float eps = static_cast<float>(cfg.norm_eps);
  const Tensor* n1w = blk.norm1_weight.defined() ? &blk.norm1_weight : nullptr;
  const Tensor* n1b = blk.norm1_bias.defined() ? &blk.norm1_bias : nullptr;
  const Tensor* n2w = blk.norm2_weight.defined() ? &blk.norm2_weight : nullptr;
  const Tensor* n2b = blk.norm2_bias.defined() ? &blk.norm2_bias : nullptr;
  // Rows of mod: 0 shift_msa, 1 scale_msa, 2 gate_msa, 3 shift_mlp, 4 scale_mlp, 5 gate_mlp.
  Tensor mod = be.add(t6, blk.scale_shift_table);  // [B, 6, D] + [6, D]

  Tensor h = be.layer_norm_modulate(x_in, n1w, n1b, eps, mod, 0, 1);
  Tensor x = be.gated_residual(x_in, attend(be, blk.attn1, h, h, nullptr, nullptr), mod, 2);

  // PixArt applies no norm before cross-attention (diffusers skips norm2 here for ada_norm_single).
  x = attend(be, blk.attn2, x, text, key_bias, &x);

  h = be.layer_norm_modulate(x, n2w, n2b, eps, mod, 3, 4);
  Tensor f = cfg.ff_gated() ? blk.ff_out(be, be.mul(blk.ff_proj(be, h), blk.ff_gate(be, h, ff_activation(cfg))))
                            : blk.ff_out(be, blk.ff_proj(be, h, ff_activation(cfg)));
  return be.gated_residual(x, f, mod, 5);
}

}  // namespace dit

// ---------------------------------------------------------------- model

std::unique_ptr<PixArtDiT> PixArtDiT::load(Backend& be, const std::string& folder, const std::string& weights) {
  DiTConfig cfg = DiTConfig::from_json(JsonConfig::load(folder + "/config.json"));
  WeightStore ws = WeightStore::open(weights.empty() ? folder : weights);
  std::unique_ptr<PixArtDiT> m(new PixArtDiT(be, cfg));
  const int64_t D = cfg.inner_dim(), C = cfg.in_channels, p = cfg.patch_size;
  using dit::Linear;

  // The patch conv has stride == kernel, so it is a linear over patches laid out (C, p, p).
  m->patch_proj.weight = be.load_weight(ws.require("pos_embed.proj.weight", {D, C, p, p})).view({D, C * p * p});  // [D, C, p, p] -> [D, C*p*p]
  m->patch_proj.bias = be.load_weight(ws.require("pos_embed.proj.bias", {D}));

  m->t_linear_1 = Linear::load(be, ws, "adaln_single.emb.timestep_embedder.linear_1", D, kTimestepChannels);
  m->t_linear_2 = Linear::load(be, ws, "adaln_single.emb.timestep_embedder.linear_2", D, D);
  if (cfg.use_additional_conditions) {
    // diffusers concatenates [resolution_embedder(h), resolution_embedder(w), aspect_ratio_embedder(ar)];
    // packing the two MLPs block-diagonally produces that concatenation with two GEMMs and no
    // concat op. The zero blocks add exact zeros, so values match the separate MLPs.
    const int64_t S = cfg.size_emb_dim(), F = kTimestepChannels;
    const std::string r = "adaln_single.emb.resolution_embedder", a = "adaln_single.emb.aspect_ratio_embedder";
    const std::vector<float> r1w = host_copy(ws.require(r + ".linear_1.weight", {S, F}));
    const std::vector<float> r1b = host_copy(ws.require(r + ".linear_1.bias", {S}));
    const std::vector<float> r2w = host_copy(ws.require(r + ".linear_2.weight", {S, S}));
    const std::vector<float> r2b = host_copy(ws.require(r + ".linear_2.bias", {S}));
    const std::vector<float> a1w = host_copy(ws.require(a + ".linear_1.weight", {S, F}));
    const std::vector<float> a1b = host_copy(ws.require(a + ".linear_1.bias", {S}));
    const std::vector<float> a2w = host_copy(ws.require(a + ".linear_2.weight", {S, S}));
    const std::vector<float> a2b = host_copy(ws.require(a + ".linear_2.bias", {S}));
    // A [3*rows, 3*cols] matrix with the three [rows, cols] blocks on its diagonal.
    auto block_diag = [](const std::vector<const std::vector<float>*>& blocks, int64_t rows, int64_t cols) {
      std::vector<float> m(9 * rows * cols, 0.f);
      for (int64_t s = 0; s < 3; s++)
        for (int64_t i = 0; i < rows; i++)
          std::copy_n(blocks[s]->data() + i * cols, cols, m.data() + (s * rows + i) * 3 * cols + s * cols);
      return m;
    };
    auto stack3 = [](const std::vector<float>& x, const std::vector<float>& y, const std::vector<float>& z) {
      std::vector<float> v(x);
      v.insert(v.end(), y.begin(), y.end());
      v.insert(v.end(), z.begin(), z.end());
      return v;
    };
    const std::vector<float> w1 = block_diag({&r1w, &r1w, &a1w}, S, F), b1 = stack3(r1b, r1b, a1b);
    const std::vector<float> w2 = block_diag({&r2w, &r2w, &a2w}, S, S), b2 = stack3(r2b, r2b, a2b);
    m->size_linear_1 = {be.from_host(w1.data(), {3 * S, 3 * F}), be.from_host(b1.data(), {3 * S})};
    m->size_linear_2 = {be.from_host(w2.data(), {3 * S, 3 * S}), be.from_host(b2.data(), {3 * S})};
  }
  m->adaln_linear = Linear::load(be, ws, "adaln_single.linear", 6 * D, D);
  if (cfg.caption_channels > 0) {
    m->caption_linear_1 = Linear::load(be, ws, "caption_projection.linear_1", D, cfg.caption_channels);
    m->caption_linear_2 = Linear::load(be, ws, "caption_projection.linear_2", D, D);
  }
  m->blocks.reserve(cfg.num_layers);
  for (int64_t i = 0; i < cfg.num_layers; i++)
    m->blocks.push_back(dit::TransformerBlock::load(be, ws, "transformer_blocks." + std::to_string(i), cfg));
  m->scale_shift_table = be.load_weight(ws.require("scale_shift_table", {2, D}));
  m->proj_out = Linear::load(be, ws, "proj_out", p * p * cfg.out_channels, D);
  return m;
}

void PixArtDiT::check_latents(const Tensor& x) const {
  auto bad = [](const std::string& msg) { fail(StatusCode::kInvalidArgument, "PixArtDiT: " + msg); };
  if (!x.defined() || x.rank() != 4) bad("latents must be [B, C, H, W], got " + shape_of(x));
  const int64_t B = x.dim(0), H = x.dim(2), W = x.dim(3), p = cfg_.patch_size;
  if (B < 1) bad("latents have an empty batch");
  if (x.dim(1) != cfg_.in_channels)
    bad("latents have " + std::to_string(x.dim(1)) + " channels, the model takes " + std::to_string(cfg_.in_channels));
  if (H < p || W < p || H % p != 0 || W % p != 0)
    bad("latent height " + std::to_string(H) + " and width " + std::to_string(W) +
        " must be positive multiples of the patch size " + std::to_string(p));
}

void PixArtDiT::validate(const DiTInputs& in) const {
  auto bad = [](const std::string& msg) { fail(StatusCode::kInvalidArgument, "PixArtDiT: " + msg); };
  check_latents(in.latents);
  const int64_t B = in.latents.dim(0);
  if (static_cast<int64_t>(in.timesteps.size()) != B)
    bad(std::to_string(in.timesteps.size()) + " timesteps for a batch of " + std::to_string(B));
  check_text(B, in.text, in.text_mask, in.resolution, in.aspect_ratio);
}

void PixArtDiT::check_text(int64_t B, const Tensor& t, const std::vector<float>& text_mask,
                           const std::vector<float>& resolution, const std::vector<float>& aspect_ratio) const {
  auto bad = [](const std::string& msg) { fail(StatusCode::kInvalidArgument, "PixArtDiT: " + msg); };
  const int64_t text_width = cfg_.caption_channels > 0 ? cfg_.caption_channels : cfg_.cross_attention_dim;
  if (!t.defined() || t.rank() != 3 || t.dim(0) != B || t.dim(1) < 1 || t.dim(2) != text_width)
    bad("text must be [" + std::to_string(B) + ", L, " + std::to_string(text_width) + "], got " + shape_of(t));
  const int64_t L = t.dim(1);
  if (!text_mask.empty() && static_cast<int64_t>(text_mask.size()) != B * L)
    bad("text_mask has " + std::to_string(text_mask.size()) + " values, expected B*L = " + std::to_string(B * L));
  if (cfg_.use_additional_conditions) {
    if (resolution.empty() || aspect_ratio.empty())
      bad("this model uses additional conditions (use_additional_conditions): resolution [B*2] and aspect_ratio [B] are required");
    if (static_cast<int64_t>(resolution.size()) != 2 * B || static_cast<int64_t>(aspect_ratio.size()) != B)
      bad("resolution must hold B*2 = " + std::to_string(2 * B) + " values and aspect_ratio B = " + std::to_string(B) +
          ", got " + std::to_string(resolution.size()) + " and " + std::to_string(aspect_ratio.size()));
  }
}

Tensor PixArtDiT::pos_embed(int64_t gh, int64_t gw) {
  auto key = std::make_pair(gh, gw);
  auto it = pos_cache_.find(key);
  if (it != pos_cache_.end()) return it->second;
  // A pipeline uses one grid per generation; bound the cache so cycling through many binned
  // resolutions cannot pile up tables (18 MB each at 1024px).
  if (pos_cache_.size() >= 4) pos_cache_.clear();
  const int64_t D = cfg_.inner_dim();
  std::vector<float> table = dit::sincos_pos_embed_2d(D, gh, gw, cfg_.base_size(), cfg_.interpolation_scale);
  return pos_cache_.emplace(key, be_.from_host(table.data(), {gh * gw, D})).first->second;
}

DiTGraphInputs PixArtDiT::step_inputs(const Tensor& latents, const std::vector<float>& timesteps,
                                      const std::vector<float>& resolution, const std::vector<float>& aspect_ratio) {
  const int64_t B = latents.dim(0), p = cfg_.patch_size;
  DiTGraphInputs g;
  g.latents = latents;
  const std::vector<float> tf = dit::timestep_features(timesteps, kTimestepChannels);
  g.timestep_features = be_.from_host(tf.data(), {B, kTimestepChannels});
  if (cfg_.use_additional_conditions) {
    // Per sample the three scalars (height, width, aspect ratio), each to a 256-wide sinusoid.
    std::vector<float> vals(3 * B);
    for (int64_t b = 0; b < B; b++) {
      vals[3 * b] = resolution[2 * b];
      vals[3 * b + 1] = resolution[2 * b + 1];
      vals[3 * b + 2] = aspect_ratio[b];
    }
    const std::vector<float> sf = dit::timestep_features(vals, kTimestepChannels);
    g.size_features = be_.from_host(sf.data(), {B, 3 * kTimestepChannels});  // [3B, 256] rows read as [B, 3*256]
  }
  g.pos = pos_embed(latents.dim(2) / p, latents.dim(3) / p);
  return g;
}

Tensor PixArtDiT::key_bias(const std::vector<float>& text_mask, int64_t B, int64_t L) {
  if (text_mask.empty()) return Tensor();
  std::vector<float> kb(B * L);
  for (int64_t i = 0; i < B * L; i++) kb[i] = (1.f - text_mask[i]) * -10000.f;
  return be_.from_host(kb.data(), {B, L});
}

DiTGraphInputs PixArtDiT::prepare(const DiTInputs& in) {
  validate(in);
  DiTGraphInputs g = step_inputs(in.latents, in.timesteps, in.resolution, in.aspect_ratio);
  g.text = in.text;
  g.key_bias = key_bias(in.text_mask, in.text.dim(0), in.text.dim(1));
  return g;
}

DiTConditioning PixArtDiT::prepare_conditioning(const Tensor& text, const std::vector<float>& text_mask,
                                                const std::vector<float>& resolution,
                                                const std::vector<float>& aspect_ratio, bool record_steps) {
  if (!text.defined() || text.rank() != 3 || text.dim(0) < 1)
    fail(StatusCode::kInvalidArgument, "PixArtDiT: text must be [N, L, C], got " + shape_of(text));
  const int64_t N = text.dim(0), L = text.dim(1);
  check_text(N, text, text_mask, resolution, aspect_ratio);
  DiTConditioning c;
  c.batch = N;
  c.text = text;
  if (cfg_.caption_channels > 0)  // the caption projection runs once per conditioning, not per step
    c.text = caption_linear_2(be_, caption_linear_1(be_, text, Activation::kGeluTanh));  // [N, L, D]
  c.key_bias = key_bias(text_mask, N, L);
  c.resolution = resolution;
  c.aspect_ratio = aspect_ratio;
  if (record_steps) c.steps = std::make_shared<DiTStepRecording>();
  return c;
}

DiTStepStats DiTStepRecording::stats() const {
  std::lock_guard<std::mutex> lock(mu);
  return st;
}

Tensor PixArtDiT::recorded_step(DiTStepRecording& rec, const DiTGraphInputs& g, const float* guidance_scale,
                                int64_t eps_channels) {
  // The recording is specific to the model batch's latent shape and to the guidance it applies.
  std::vector<int64_t> key = g.latents.shape;
  float scale = guidance_scale ? *guidance_scale : 0.f;
  int32_t scale_bits = 0;
  std::memcpy(&scale_bits, &scale, sizeof scale_bits);
  key.insert(key.end(), {guidance_scale ? 1 : 0, scale_bits, eps_channels});
  // Only the engine thread changes the recording; the lock is for stats() readers, and is not
  // held while the ops run or are captured.
  std::unique_lock<std::mutex> lock(rec.mu);
  if (rec.graph && rec.key != key) rec.graph.reset();
  const bool warm_up = !rec.graph && rec.warm_key != key;
  if (warm_up) {  // the first call of this kind: plain ops (lazy set-up happens outside the recording)
    rec.warm_key = key;
    rec.st.plain++;
  }
  StepGraph* graph = rec.graph.get();
  lock.unlock();
  if (warm_up) return guided_forward(g, guidance_scale, eps_channels);
  if (!graph) {
    // The inputs that change every step; the closure holds the rest (fixed by the conditioning).
    DiTGraphInputs fixed = g;
    fixed.latents = Tensor();
    fixed.timestep_features = Tensor();
    const bool guided = guidance_scale != nullptr;
    StepFn fn = [this, fixed, guided, scale, eps_channels](const std::vector<Tensor>& in) {
      DiTGraphInputs gi = fixed;
      gi.latents = in[0];
      gi.timestep_features = in[1];
      return std::vector<Tensor>{guided_forward(gi, guided ? &scale : nullptr, eps_channels)};
    };
    std::string why_not;
    std::unique_ptr<StepGraph> made = be_.record_step({g.latents.shape, g.timestep_features.shape}, std::move(fn), &why_not);
    lock.lock();
    rec.graph = std::move(made);
    rec.key = key;
    rec.st.recordings++;
    rec.st.recorded = rec.graph->recorded();
    rec.st.reason = rec.st.recorded ? "" : why_not;
    graph = rec.graph.get();
    lock.unlock();
  }
  Tensor out = graph->run({g.latents, g.timestep_features})[0];
  lock.lock();
  rec.st.runs++;
  return out;
}

Tensor PixArtDiT::forward_conditioned(const Tensor& latents, const std::vector<float>& timesteps,
                                      const DiTConditioning& c, const float* guidance_scale, int64_t eps_channels) {
  check_latents(latents);
  const int64_t B = latents.dim(0), N = guidance_scale ? 2 * B : B;
  if (c.batch != N)
    fail(StatusCode::kInvalidArgument, "PixArtDiT: the conditioning holds " + std::to_string(c.batch) + " rows; " +
                                           std::to_string(B) + " latents " + (guidance_scale ? "with guidance need " : "need ") +
                                           std::to_string(N));
  if (static_cast<int64_t>(timesteps.size()) != N)
    fail(StatusCode::kInvalidArgument, "PixArtDiT: " + std::to_string(timesteps.size()) + " timesteps for a model batch of " +
                                           std::to_string(N));
  if (guidance_scale) check_guidance(*guidance_scale, eps_channels);
  DiTGraphInputs g = step_inputs(guidance_scale ? duplicate_rows(latents) : latents, timesteps, c.resolution, c.aspect_ratio);
  g.text = c.text;
  g.text_projected = true;
  g.key_bias = c.key_bias;
  if (c.steps) return recorded_step(*c.steps, g, guidance_scale, eps_channels);
  return guided_forward(g, guidance_scale, eps_channels);
}

Tensor PixArtDiT::forward(const DiTInputs& in) { return forward_graph(prepare(in)); }

Tensor PixArtDiT::guided_forward(const DiTGraphInputs& g, const float* guidance_scale, int64_t eps_channels) {
  const Tensor out = forward_graph(g);
  return guidance_scale ? guide(out, *guidance_scale, eps_channels) : out;
}

void PixArtDiT::check_guidance(float guidance_scale, int64_t eps_channels) const {
  if (eps_channels < 1 || eps_channels > cfg_.out_channels)
    fail(StatusCode::kInvalidArgument, "PixArtDiT: eps_channels must be in [1, " + std::to_string(cfg_.out_channels) +
                                           "], got " + std::to_string(eps_channels));
  if (!std::isfinite(guidance_scale)) fail(StatusCode::kInvalidArgument, "PixArtDiT: guidance_scale must be finite");
}

Tensor PixArtDiT::duplicate_rows(const Tensor& z) {
  // [uncond; cond] model batch: each latent row twice, gathered on the backend.
  const int64_t B = z.dim(0), C = z.dim(1), H = z.dim(2), W = z.dim(3);
  std::vector<int32_t> ids(size_t(2 * B));
  for (int64_t i = 0; i < 2 * B; i++) ids[size_t(i)] = int32_t(i % B);
  return be_.embedding(z.view({B, C * H * W}), ids.data(), 2 * B).view({2 * B, C, H, W});  // [B, CHW] -> [2B, C, H, W]
}

Tensor PixArtDiT::guide(const Tensor& out, float guidance_scale, int64_t eps_channels) {
  const int64_t B = out.dim(0) / 2, O = out.dim(1), H = out.dim(2), W = out.dim(3);
  // The two halves as channels of one [1, 2, B*O*H, W] tensor: u = rows [0, B), c = rows [B, 2B).
  const Tensor halves = out.view({1, 2, B * O * H, W});
  const Tensor u = be_.slice_channels(halves, 0, 1), c = be_.slice_channels(halves, 1, 1);
  // u + g * (c - u), each op rounded like torch's (c - u is c + (-u), exact negation).
  const Tensor d = be_.add(c, be_.scale(u, -1.f));
  Tensor guided = be_.add(u, be_.scale(d, guidance_scale)).view({B, O, H, W});  // [1, 1, B*O*H, W] -> [B, O, H, W]
  if (eps_channels < O) guided = be_.slice_channels(guided, 0, eps_channels);
  return guided;
}

Tensor PixArtDiT::forward_guided(const DiTInputs& in, float guidance_scale, int64_t eps_channels) {
  check_latents(in.latents);
  const int64_t B = in.latents.dim(0);
  if (!in.text.defined() || in.text.rank() != 3 || in.text.dim(0) != 2 * B)
    fail(StatusCode::kInvalidArgument, "PixArtDiT: guided forward takes " + std::to_string(2 * B) + " text rows (uncond; cond) for " +
                                           std::to_string(B) + " latents, got " + shape_of(in.text));
  check_guidance(guidance_scale, eps_channels);
  DiTInputs both = in;
  both.latents = duplicate_rows(in.latents);
  return guide(forward(both), guidance_scale, eps_channels);
}

Tensor PixArtDiT::forward_graph(const DiTGraphInputs& in) {
  const int64_t B = in.latents.dim(0), p = cfg_.patch_size, D = cfg_.inner_dim();
  const int64_t gh = in.latents.dim(2) / p, gw = in.latents.dim(3) / p;

  Tensor x = be_.patchify(in.latents, static_cast<int>(p));  // [B, C, H, W] -> [B, gh*gw, C*p*p]
  x = be_.add(patch_proj(be_, x), in.pos);                   // [B, N, D] + [N, D]

  // embedded_timestep [B, D]; with additional conditions + [res_h, res_w, ar] embeddings.
  Tensor emb = t_linear_2(be_, t_linear_1(be_, in.timestep_features, Activation::kSilu));
  if (cfg_.use_additional_conditions)
    emb = size_linear_2(be_, size_linear_1(be_, in.size_features, Activation::kSilu), Activation::kNone, &emb);
  Tensor t6 = adaln_linear(be_, be_.activation(emb, Activation::kSilu)).view({B, 6, D});  // [B, 6D] -> [B, 6, D]

  Tensor text = in.text;
  if (cfg_.caption_channels > 0 && !in.text_projected)
    text = caption_linear_2(be_, caption_linear_1(be_, text, Activation::kGeluTanh));  // [B, L, D]

  for (const dit::TransformerBlock& blk : blocks)
    x = dit::block_forward(be_, blk, cfg_, x, t6, text, in.key_bias.defined() ? &in.key_bias : nullptr);

  // Output modulation rows (shift, scale) = scale_shift_table + embedded_timestep: [B, 2, D].
  Tensor mod = be_.add_rows(emb, scale_shift_table);
  Tensor y = be_.layer_norm_modulate(x, nullptr, nullptr, kNormOutEps, mod, 0, 1);
  y = proj_out(be_, y);  // [B, N, p*p*out_channels], each token laid out (p, p, C)
  return be_.unpatchify(y, gh, gw, static_cast<int>(p), static_cast<int>(cfg_.out_channels));
}

}  // namespace pixart
