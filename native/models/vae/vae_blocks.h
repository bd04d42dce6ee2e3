// The VAE's building blocks: convolutions, group norms, ResnetBlock2D and UNetMidBlock2D.
// Each is loaded from its checkpoint key prefix (e.g. "decoder.mid_block.resnets.0.") with the
// shapes the config implies, and runs as a handful of Backend ops.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/weights.h"

namespace pixart::vae {

// Tensors of one checkpoint, fetched by key with a shape check, as compute tensors.
class ParamLoader {
 public:
  ParamLoader(Backend& be, const WeightStore& store) : be_(be), store_(store) {}
  Tensor get(const std::string& name, const Shape& shape) const { return be_.load_weight(store_.require(name, shape)); }
  bool has(const std::string& name) const { return store_.has(name); }

 private:
  Backend& be_;
  const WeightStore& store_;
};

struct Conv2d {
  Tensor weight, bias;  // [out, in, k, k], [out]
  int stride = 1;
  int pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;

  // A stride-1 "same" conv (padding k/2 on every side), as every VAE conv but the downsampler.
  static Conv2d load(const ParamLoader& p, const std::string& prefix, int64_t in, int64_t out, int64_t k);
  Tensor operator()(Backend& be, const Tensor& x) const;
};

// GroupNorm followed by the block's activation (none, or act_fn; SiLU is fused into the norm).
struct GroupNorm {
  Tensor weight, bias;  // [C]
  int groups = 32;
  float eps = 1e-6f;

  static GroupNorm load(const ParamLoader& p, const std::string& prefix, int64_t channels, int64_t groups, float eps);
  Tensor operator()(Backend& be, const Tensor& x, Activation act) const;
};

// diffusers ResnetBlock2D without a time embedding (temb_channels=None), pre-norm,
// output_scale_factor 1: out = shortcut(x) + conv2(act(norm2(conv1(act(norm1(x)))))).
struct ResnetBlock2D {
  GroupNorm norm1, norm2;
  Conv2d conv1, conv2;
  std::optional<Conv2d> conv_shortcut;  // 1x1, present when the channel count changes
  Activation act = Activation::kSilu;

  static ResnetBlock2D load(const ParamLoader& p, const std::string& prefix, int64_t in, int64_t out, int64_t groups,
                            float eps, Activation act);
  Tensor operator()(Backend& be, const Tensor& x) const;
};

// diffusers Attention as UNetMidBlock2D builds it for the VAE: group norm, then attention over
// the H*W pixels as tokens, output projection, residual add.
struct SpatialSelfAttention {
  GroupNorm group_norm;
  Tensor to_q_w, to_q_b, to_k_w, to_k_b, to_v_w, to_v_b, to_out_w, to_out_b;  // [C, C], [C]
  int heads = 1;
  float scale = 1.f;

  static SpatialSelfAttention load(const ParamLoader& p, const std::string& prefix, int64_t channels, int64_t head_dim,
                                   int64_t groups, float eps);
  Tensor operator()(Backend& be, const Tensor& x) const;
};

// UNetMidBlock2D with one layer: resnet, (attention), resnet, all at constant width.
struct MidBlock2D {
  std::vector<ResnetBlock2D> resnets;
  std::optional<SpatialSelfAttention> attention;

  static MidBlock2D load(const ParamLoader& p, const std::string& prefix, int64_t channels, int64_t groups, float eps,
                         Activation act, bool add_attention);
  Tensor operator()(Backend& be, const Tensor& x) const;
};

}  // namespace pixart::vae
