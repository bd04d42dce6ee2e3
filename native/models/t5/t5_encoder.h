// T5 encoder (transformers' T5EncoderModel, T5 v1.1 style), written once on the Backend op
// interface. PixArt uses its last_hidden_state as the caption embedding.
//
// The module tree mirrors transformers' T5Stack: encoder.block.N.layer.0 (self-attention),
// encoder.block.N.layer.1 (feed-forward), encoder.final_layer_norm; every block is named by
// its checkpoint key prefix, so loading is a lookup plus a shape check derived from config.json.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/json.h"
#include "core/weights.h"

namespace pixart {

struct T5Config {
  int64_t vocab_size = 0;
  int64_t d_model = 0;
  int64_t d_kv = 0;
  int64_t d_ff = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t relative_attention_num_buckets = 32;
  int64_t relative_attention_max_distance = 128;
  double layer_norm_epsilon = 1e-6;
  std::string feed_forward_proj = "relu";
  // Derived from feed_forward_proj exactly as transformers does (config.json's own
  // dense_act_fn is overwritten there too): "gated-X" -> gated FFN with X, "gated-gelu" -> gelu_new.
  std::string dense_act_fn;
  bool is_gated_act = false;
  std::string dtype;  // "dtype" (transformers 5) or "torch_dtype" (4.x); informational only
  Activation activation = Activation::kNone;  // dense_act_fn as a backend activation

  int64_t inner_dim() const { return num_heads * d_kv; }
  // Throws kModelLoad naming the file for missing/invalid sizes, kUnsupported for an
  // activation the backend has no op for (e.g. original T5's "relu").
  static T5Config from_json(const JsonConfig& c);
};

// transformers' T5 bucket for relative_position = key_pos - query_pos, computed with the
// same float32 operations so the bucket edges agree with torch exactly.
int64_t t5_relative_position_bucket(int64_t relative_position, bool bidirectional, int64_t num_buckets,
                                    int64_t max_distance);

// The additive bias of a masked key: transformers' (1 - mask) * torch.finfo(float32).min.
inline constexpr float kT5MaskedKeyBias = -3.4028234663852886e38f;

// The block linears, for t5_linear_quant.
enum class T5Linear { kQ, kK, kV, kO, kWi, kWo };  // kWi: wi, wi_0 and wi_1

// int4 stores every block linear in int4 (groups of 64). int4-mixed keeps the projections where a
// 4-bit error costs the most in int8:
//   v and o in every block (under a tenth of the weights each, near a quarter of int4's error each),
//   every linear but q and k in the first num_layers / kT5Int4FfInt8Divisor blocks,
//   every linear in the first num_layers / kT5Int4AllInt8Divisor blocks (the first blocks'
//   errors grow through all the later ones: block 0 alone is a third of int4's error);
// the rest (q and k after the first sixth, the feed-forward of the second half) in int4. Measured
// by bench/t5_quant_study.py on random T5-XXL weights (fp32 activations, cosine vs fp32):
// int4 everywhere 0.908 in 2.87 GB, this mix 0.9927 in 3.94 GB, int8 everywhere 0.9993 in 4.90 GB.
inline constexpr int64_t kT5Int4AllInt8Divisor = 6;
inline constexpr int64_t kT5Int4FfInt8Divisor = 2;

// The quantisation block `block` (of num_layers) gives linear `kind` when the encoder is loaded
// with `requested`: none, int8 and int4 apply to every linear; int4-mixed as above.
WeightQuant t5_linear_quant(WeightQuant requested, T5Linear kind, int64_t block, int64_t num_layers);

namespace t5 {
struct Block;
}

class T5Encoder {
 public:
  // folder: a text_encoder/ directory with config.json and (sharded) safetensors.
  // `weights` overrides the weights file/index found in `folder` (e.g. a variant). `quant`
  // quantises the blocks' linear weights at load (int8 per channel / int4 per group of 64,
  // core/quant.h; int4-mixed keeps some of them in int8, t5_linear_quant); embeddings, norms and the
  // position bias stay in the compute dtype.
  static std::unique_ptr<T5Encoder> load(Backend& be, const std::string& folder, const std::string& weights = "",
                                         WeightQuant quant = WeightQuant::kNone);
  ~T5Encoder();

  const T5Config& config() const { return config_; }

  // ids, mask: [batch * length] row-major; mask is 0/1 or nullptr (attend everywhere).
  // Returns last_hidden_state [batch, length, d_model] on the backend. Padded positions are
  // computed too, as transformers does. Not thread-safe (caches the position bias per length).
  Tensor encode(const int32_t* ids, const int32_t* mask, int64_t batch, int64_t length);
  // encode() after its host-side part (token embedding lookup, mask and position bias): pure
  // ops, which the ONNX exporter records. embedded [B, L, d_model]; pos_bias [H, L, L];
  // key_bias [B, L] (0 attended, kT5MaskedKeyBias masked) or null.
  Tensor encode_graph(const Tensor& embedded, const Tensor& pos_bias, const Tensor* key_bias);

  const Tensor& embed_tokens() const { return embed_tokens_; }
  // Block 0's relative_attention_bias.weight [num_buckets, num_heads], float32 on the host.
  const std::vector<float>& relative_bias_table() const { return relative_bias_; }

 private:
  T5Encoder(Backend& be, T5Config config);
  // [H, L, L] bias shared by every layer: relative_attention_bias[bucket(j - i), h].
  const Tensor& position_bias(int64_t length);

  Backend& be_;
  T5Config config_;
  Tensor embed_tokens_;  // [vocab, d_model] on the backend, unless it keeps embedding tables on the host:
  WeightView host_embed_;  // then the checkpoint tensor itself (mapped file), rows gathered on the host
  std::vector<t5::Block> blocks_;
  Tensor final_layer_norm_;            // [d_model]
  std::vector<float> relative_bias_;   // host copy of block 0's [num_buckets, num_heads] table
  int64_t cached_length_ = -1;
  Tensor cached_position_bias_;
};

}  // namespace pixart
