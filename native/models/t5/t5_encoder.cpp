#include "t5_encoder.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/op_checks.h"
#include "core/status.h"
#include "core/weights.h"

namespace pixart {

namespace t5 {

// encoder.block.N.layer.0.SelfAttention: no biases, inner width num_heads * d_kv.
struct SelfAttention {
  Tensor q, k, v;  // [inner, d_model]
  Tensor o;        // [d_model, inner]
};

// encoder.block.N.layer.1.DenseReluDense: wi_0/wi_1 when gated, wi otherwise.
struct DenseReluDense {
  Tensor wi, wi_0, wi_1;  // [d_ff, d_model]
  Tensor wo;              // [d_model, d_ff]
};

// encoder.block.N
struct Block {
  Tensor attention_norm;  // layer.0.layer_norm [d_model]
  SelfAttention attention;
  Tensor ff_norm;  // layer.1.layer_norm [d_model]
  DenseReluDense ff;
};

}  // namespace t5

namespace {

// transformers adds (1 - mask) * finfo(float32).min to the scores of padded keys.
constexpr float kMaskedKeyBias = kT5MaskedKeyBias;

// Looks a tensor up by its checkpoint key, checks the shape the config implies, and makes it
// a backend tensor. WeightStore's errors name the file and the tensor.
struct Loader {
  Backend& be;
  const WeightStore& store;
  WeightQuant quant = WeightQuant::kNone;  // applied to the blocks' linear weights only
  int64_t num_layers = 0;
  Tensor operator()(const std::string& name, const Shape& shape) const {
    return be.load_weight(store.require(name, shape));
  }
  Tensor linear(const std::string& name, const Shape& shape, T5Linear kind, int64_t block) const {
    return be.load_linear_weight(store.require(name, shape), t5_linear_quant(quant, kind, block, num_layers));
  }
};

Activation activation_for(const std::string& act, const std::string& origin) {
  // gelu_new (T5 v1.1) and gelu_pytorch_tanh are the same tanh approximation.
  if (act == "gelu_new" || act == "gelu_pytorch_tanh") return Activation::kGeluTanh;
  if (act == "gelu") return Activation::kGelu;
  if (act == "silu" || act == "swish") return Activation::kSilu;
  if (act == "relu") return Activation::kRelu;  // T5 v1.0's DenseReluDense
  fail(StatusCode::kUnsupported,
       origin + ": T5 feed-forward activation '" + act + "' is not supported (the backend has no op for it)");
}

int64_t positive_int(const JsonConfig& c, const std::string& key) {
  const int64_t v = c.get_int(key);
  if (v <= 0) fail(StatusCode::kModelLoad, c.origin() + ": " + key + " must be positive, got " + std::to_string(v));
  return v;
}

t5::Block load_block(const Loader& w, const T5Config& c, int64_t index) {
  const std::string p = "encoder.block." + std::to_string(index) + ".";
  const std::string attn = p + "layer.0.SelfAttention.";
  const std::string ff = p + "layer.1.DenseReluDense.";
  const int64_t D = c.d_model, I = c.inner_dim(), F = c.d_ff;
  t5::Block b;
  b.attention_norm = w(p + "layer.0.layer_norm.weight", {D});
  b.attention.q = w.linear(attn + "q.weight", {I, D}, T5Linear::kQ, index);
  b.attention.k = w.linear(attn + "k.weight", {I, D}, T5Linear::kK, index);
  b.attention.v = w.linear(attn + "v.weight", {I, D}, T5Linear::kV, index);
  b.attention.o = w.linear(attn + "o.weight", {D, I}, T5Linear::kO, index);
  b.ff_norm = w(p + "layer.1.layer_norm.weight", {D});
  if (c.is_gated_act) {
    b.ff.wi_0 = w.linear(ff + "wi_0.weight", {F, D}, T5Linear::kWi, index);
    b.ff.wi_1 = w.linear(ff + "wi_1.weight", {F, D}, T5Linear::kWi, index);
  } else {
    b.ff.wi = w.linear(ff + "wi.weight", {F, D}, T5Linear::kWi, index);
  }
  b.ff.wo = w.linear(ff + "wo.weight", {D, F}, T5Linear::kWo, index);
  return b;
}

// x + o(attention(rms_norm(x))): T5LayerSelfAttention with the residual fused into o.
Tensor self_attention(Backend& be, const t5::Block& b, const T5Config& c, const Tensor& x, const Tensor& pos_bias,
                      const Tensor* key_bias) {
  const Tensor h = be.rms_norm(x, b.attention_norm, float(c.layer_norm_epsilon));
  const Tensor q = be.linear(h, b.attention.q, nullptr);  // [B, L, H*d_kv]
  const Tensor k = be.linear(h, b.attention.k, nullptr);
  const Tensor v = be.linear(h, b.attention.v, nullptr);
  // T5 does not scale q·k (the 1/sqrt(d_kv) is folded into its initialisation).
  const Tensor a = be.attention(q, k, v, int(c.num_heads), 1.f, &pos_bias, key_bias);
  return be.linear(a, b.attention.o, nullptr, Activation::kNone, &x);
}

// x + wo(act(wi_0(h)) * wi_1(h)) with h = rms_norm(x): T5LayerFF, residual fused into wo.
Tensor feed_forward(Backend& be, const t5::Block& b, const T5Config& c, const Tensor& x) {
  const Tensor h = be.rms_norm(x, b.ff_norm, float(c.layer_norm_epsilon));
  Tensor inner;  // [B, L, d_ff]
  if (!c.is_gated_act) {
    inner = be.linear(h, b.ff.wi, nullptr, c.activation);
  } else if (c.activation == Activation::kGeluTanh) {
    inner = be.gated_gelu(be.linear(h, b.ff.wi_0, nullptr), be.linear(h, b.ff.wi_1, nullptr));
  } else {
    inner = be.mul(be.linear(h, b.ff.wi_0, nullptr, c.activation), be.linear(h, b.ff.wi_1, nullptr));
  }
  return be.linear(inner, b.ff.wo, nullptr, Activation::kNone, &x);
}

}  // namespace

T5Config T5Config::from_json(const JsonConfig& c) {
  T5Config t;
  t.vocab_size = positive_int(c, "vocab_size");
  t.d_model = positive_int(c, "d_model");
  t.d_kv = positive_int(c, "d_kv");
  t.d_ff = positive_int(c, "d_ff");
  t.num_layers = positive_int(c, "num_layers");
  t.num_heads = positive_int(c, "num_heads");
  t.relative_attention_num_buckets = c.get_int("relative_attention_num_buckets", 32);
  t.relative_attention_max_distance = c.get_int("relative_attention_max_distance", 128);
  t.layer_norm_epsilon = c.get_double("layer_norm_epsilon", 1e-6);
  t.feed_forward_proj = c.get_string("feed_forward_proj", "relu");
  t.dtype = c.get_string("dtype", c.get_string("torch_dtype", "float32"));

  // The bidirectional bucket function halves num_buckets, then needs max_exact = half / 2 >= 1
  // and max_distance > max_exact (it divides by log(max_distance / max_exact)).
  const int64_t max_exact = t.relative_attention_num_buckets / 4;
  if (max_exact < 1 || t.relative_attention_max_distance <= max_exact) {
    fail(StatusCode::kModelLoad, c.origin() + ": relative_attention_num_buckets " +
                                     std::to_string(t.relative_attention_num_buckets) + " / max_distance " +
                                     std::to_string(t.relative_attention_max_distance) + " are not usable");
  }
  if (!(t.layer_norm_epsilon >= 0) || !std::isfinite(t.layer_norm_epsilon)) {
    fail(StatusCode::kModelLoad, c.origin() + ": layer_norm_epsilon must be a finite number >= 0");
  }

  // Same parsing as transformers' T5Config: "ACT" or "gated-ACT".
  const std::string& proj = t.feed_forward_proj;
  const size_t dash = proj.find('-');
  if (dash == std::string::npos) {
    t.dense_act_fn = proj;
  } else if (proj.compare(0, dash, "gated") == 0 && proj.find('-', dash + 1) == std::string::npos) {
    t.is_gated_act = true;
    t.dense_act_fn = proj.substr(dash + 1);
  } else {
    fail(StatusCode::kModelLoad, c.origin() + ": feed_forward_proj '" + proj + "' is not 'ACT' or 'gated-ACT'");
  }
  if (proj == "gated-gelu") t.dense_act_fn = "gelu_new";  // backwards compatibility in transformers
  t.activation = activation_for(t.dense_act_fn, c.origin());
  return t;
}

int64_t t5_relative_position_bucket(int64_t relative_position, bool bidirectional, int64_t num_buckets,
                                    int64_t max_distance) {
  int64_t bucket = 0;
  int64_t distance = 0;
  if (bidirectional) {
    num_buckets /= 2;
    if (relative_position > 0) bucket += num_buckets;
    distance = relative_position < 0 ? -relative_position : relative_position;
  } else {
    distance = relative_position < 0 ? -relative_position : 0;
  }
  const int64_t max_exact = num_buckets / 2;
  if (distance < max_exact) return bucket + distance;
  // Logarithmic buckets up to max_distance. Each step is a float32 op, as in torch (the
  // python-float divisor is rounded to float32 first), so the edges (e.g. 16, 32, 64) match.
  const float ratio = float(distance) / float(max_exact);
  const float log_span = float(std::log(double(max_distance) / double(max_exact)));
  const float scaled = (std::log(ratio) / log_span) * float(num_buckets - max_exact);
  const int64_t large = max_exact + int64_t(scaled);  // .to(torch.long) truncates
  return bucket + std::min(large, num_buckets - 1);
}

WeightQuant t5_linear_quant(WeightQuant requested, T5Linear kind, int64_t block, int64_t num_layers) {
  if (requested != WeightQuant::kInt4Mixed) return requested;
  const bool qk = kind == T5Linear::kQ || kind == T5Linear::kK, vo = kind == T5Linear::kV || kind == T5Linear::kO;
  if (vo || block < num_layers / kT5Int4AllInt8Divisor || (!qk && block < num_layers / kT5Int4FfInt8Divisor))
    return WeightQuant::kInt8;
  return WeightQuant::kInt4;
}

T5Encoder::T5Encoder(Backend& be, T5Config config) : be_(be), config_(std::move(config)) {}
T5Encoder::~T5Encoder() = default;

std::unique_ptr<T5Encoder> T5Encoder::load(Backend& be, const std::string& folder, const std::string& weights,
                                           WeightQuant quant) {
  T5Config config = T5Config::from_json(JsonConfig::load(folder + "/config.json"));
  const WeightStore store = WeightStore::open(weights.empty() ? folder : weights);
  const Loader w{be, store, quant, config.num_layers};
  const T5Config& c = config;
  std::unique_ptr<T5Encoder> enc(new T5Encoder(be, config));

  // transformers ties encoder.embed_tokens to shared; checkpoints store one or both.
  const std::string embed_key = store.has("encoder.embed_tokens.weight") ? "encoder.embed_tokens.weight" : "shared.weight";
  if (be.host_embedding_tables()) {
    enc->host_embed_ = store.require(embed_key, {c.vocab_size, c.d_model});  // holds the mapping
    if (enc->host_embed_.dtype != DType::kF32 && enc->host_embed_.dtype != DType::kF16 &&
        enc->host_embed_.dtype != DType::kBF16) {
      fail(StatusCode::kModelLoad, enc->host_embed_.file + ": tensor " + embed_key + " is not F32, F16 or BF16");
    }
  } else {
    enc->embed_tokens_ = w(embed_key, {c.vocab_size, c.d_model});
  }

  // Only block 0 owns the relative-position table; every layer reuses its bias. It is small
  // ([buckets, heads]) and the bias is built on the host, so keep a host copy.
  const WeightView& rel = store.require("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                                        {c.relative_attention_num_buckets, c.num_heads});
  enc->relative_bias_.resize(size_t(numel(rel.shape)));
  convert_to_f32(rel, enc->relative_bias_.data());

  enc->blocks_.reserve(size_t(c.num_layers));
  for (int64_t i = 0; i < c.num_layers; i++) enc->blocks_.push_back(load_block(w, c, i));
  enc->final_layer_norm_ = w("encoder.final_layer_norm.weight", {c.d_model});
  return enc;
}

const Tensor& T5Encoder::position_bias(int64_t length) {
  if (length == cached_length_) return cached_position_bias_;
  const int64_t H = config_.num_heads, L = length;
  // The bucket depends only on j - i, in [-(L-1), L-1].
  std::vector<int64_t> bucket(static_cast<size_t>(2 * L - 1));
  for (int64_t d = -(L - 1); d <= L - 1; d++) {
    bucket[size_t(d + L - 1)] = t5_relative_position_bucket(d, true, config_.relative_attention_num_buckets,
                                                            config_.relative_attention_max_distance);
  }
  std::vector<float> bias(static_cast<size_t>(H * L * L));  // [H, L, L]
  for (int64_t h = 0; h < H; h++)
    for (int64_t i = 0; i < L; i++) {
      float* row = bias.data() + (h * L + i) * L;
      for (int64_t j = 0; j < L; j++) row[j] = relative_bias_[size_t(bucket[size_t(j - i + L - 1)] * H + h)];
    }
  cached_position_bias_ = be_.from_host(bias.data(), {H, L, L});
  cached_length_ = L;
  return cached_position_bias_;
}

Tensor T5Encoder::encode(const int32_t* ids, const int32_t* mask, int64_t batch, int64_t length) {
  if (batch <= 0 || length <= 0) {
    fail(StatusCode::kInvalidArgument, "T5 encode: batch and length must be positive (got batch " +
                                           std::to_string(batch) + ", length " + std::to_string(length) + ")");
  }
  if (!ids) fail(StatusCode::kInvalidArgument, "T5 encode: input ids are missing");
  if (batch > std::numeric_limits<int32_t>::max() / length) {
    fail(StatusCode::kInvalidArgument, "T5 encode: batch * length is too large");
  }
  const int64_t n = batch * length;

  // key_bias [B, L]: (1 - mask) * finfo.min. Skipped when nothing is masked (it would add 0).
  Tensor key_bias;
  if (mask) {
    std::vector<float> kb(static_cast<size_t>(n));
    bool any_masked = false;
    for (int64_t i = 0; i < n; i++) {
      if (mask[i] != 0 && mask[i] != 1) {
        fail(StatusCode::kInvalidArgument, "T5 encode: attention mask values must be 0 or 1, got " +
                                               std::to_string(mask[i]) + " at " + std::to_string(i));
      }
      kb[size_t(i)] = mask[i] ? 0.f : kMaskedKeyBias;
      any_masked |= mask[i] == 0;
    }
    if (any_masked) key_bias = be_.from_host(kb.data(), {batch, length});
  }

  // The embedding op rejects ids outside the vocabulary (kInvalidArgument); so does the host gather.
  Tensor x;
  if (host_embed_.data) {
    const int64_t V = config_.vocab_size, D = config_.d_model;
    OpChecks::token_ids(ids, n, V);
    const size_t row_bytes = host_embed_.bytes / size_t(V);
    std::vector<float> rows(static_cast<size_t>(n * D));
    WeightView row = host_embed_;
    row.shape = {D};
    row.bytes = row_bytes;
    for (int64_t i = 0; i < n; i++) {
      row.data = static_cast<const char*>(host_embed_.data) + size_t(ids[i]) * row_bytes;
      convert_to_f32(row, rows.data() + i * D);
    }
    x = be_.from_host(rows.data(), {batch, length, D});
  } else {
    x = be_.embedding(embed_tokens_, ids, n).view({batch, length, config_.d_model});  // [B*L, D] -> [B, L, D]
  }
  return encode_graph(x, position_bias(length), key_bias.defined() ? &key_bias : nullptr);
}

Tensor T5Encoder::encode_graph(const Tensor& embedded, const Tensor& pos_bias, const Tensor* key_bias) {
  Tensor x = embedded;
  for (const t5::Block& b : blocks_) {
    x = self_attention(be_, b, config_, x, pos_bias, key_bias);
    x = feed_forward(be_, b, config_, x);
  }
  return be_.rms_norm(x, final_layer_norm_, float(config_.layer_norm_epsilon));
}

}  // namespace pixart
