#include "vae_coder.h"

#include "core/status.h"

namespace pixart::vae {

namespace {
// diffusers' Encoder/Decoder pass resnet_eps=1e-6 to every block and use it for the output
// norm too; it is not a config key.
constexpr float kEps = 1e-6f;

std::string index_key(const std::string& prefix, const char* list, size_t i) {
  return prefix + list + "." + std::to_string(i) + ".";
}
}  // namespace

Activation activation_from_name(const std::string& act_fn) {
  // diffusers' get_activation: "swish" and "silu" are both nn.SiLU, "gelu" is exact (erf) GELU.
  if (act_fn == "silu" || act_fn == "swish") return Activation::kSilu;
  if (act_fn == "gelu") return Activation::kGelu;
  if (act_fn == "relu") return Activation::kRelu;
  fail(StatusCode::kUnsupported, "VAE act_fn \"" + act_fn + "\" is not supported (silu, swish, gelu or relu)");
}

Tensor ResampleBlock::operator()(Backend& be, Tensor x) const {
  for (const auto& r : resnets) x = r(be, x);
  if (!resample) return x;
  if (upsample) x = be.upsample_nearest2x(x);
  return (*resample)(be, x);
}

Encoder::Encoder(const ParamLoader& p, const VAEConfig& cfg, const std::string& prefix) {
  const auto& ch = cfg.block_out_channels;
  const int64_t g = cfg.norm_num_groups;
  const Activation act = activation_from_name(cfg.act_fn);
  conv_in_ = Conv2d::load(p, prefix + "conv_in.", cfg.in_channels, ch[0], 3);
  int64_t in = ch[0];
  for (size_t i = 0; i < ch.size(); i++) {
    const std::string bp = index_key(prefix, "down_blocks", i);
    ResampleBlock b;
    for (int64_t j = 0; j < cfg.layers_per_block; j++) {
      b.resnets.push_back(ResnetBlock2D::load(p, index_key(bp, "resnets", j), j == 0 ? in : ch[i], ch[i], g, kEps, act));
    }
    if (i + 1 < ch.size()) {
      // Downsample2D with padding=0: F.pad(x, (0, 1, 0, 1)) (right and bottom only), then a
      // stride-2 3x3 conv, so H -> floor(H / 2).
      Conv2d c = Conv2d::load(p, bp + "downsamplers.0.conv.", ch[i], ch[i], 3);
      c.stride = 2;
      c.pad_top = c.pad_left = 0;
      c.pad_bottom = c.pad_right = 1;
      b.resample = c;
    }
    down_blocks_.push_back(std::move(b));
    in = ch[i];
  }
  mid_block_ = MidBlock2D::load(p, prefix + "mid_block.", ch.back(), g, kEps, act, cfg.mid_block_add_attention);
  conv_norm_out_ = GroupNorm::load(p, prefix + "conv_norm_out.", ch.back(), g, kEps);
  conv_out_ = Conv2d::load(p, prefix + "conv_out.", ch.back(), 2 * cfg.latent_channels, 3);  // double_z
}

Tensor Encoder::operator()(Backend& be, const Tensor& x) const {
  Tensor h = conv_in_(be, x);
  for (const auto& b : down_blocks_) h = b(be, std::move(h));
  h = mid_block_(be, h);
  h = conv_norm_out_(be, h, Activation::kSilu);  // conv_act is nn.SiLU whatever act_fn says
  return conv_out_(be, h);
}

Decoder::Decoder(const ParamLoader& p, const VAEConfig& cfg, const std::string& prefix) {
  const auto& ch = cfg.block_out_channels;
  const int64_t g = cfg.norm_num_groups;
  const Activation act = activation_from_name(cfg.act_fn);
  conv_in_ = Conv2d::load(p, prefix + "conv_in.", cfg.latent_channels, ch.back(), 3);
  mid_block_ = MidBlock2D::load(p, prefix + "mid_block.", ch.back(), g, kEps, act, cfg.mid_block_add_attention);
  // Up blocks walk block_out_channels backwards: block i outputs ch[n-1-i].
  int64_t in = ch.back();
  for (size_t i = 0; i < ch.size(); i++) {
    const int64_t out = ch[ch.size() - 1 - i];
    const std::string bp = index_key(prefix, "up_blocks", i);
    ResampleBlock b;
    for (int64_t j = 0; j <= cfg.layers_per_block; j++) {
      b.resnets.push_back(ResnetBlock2D::load(p, index_key(bp, "resnets", j), j == 0 ? in : out, out, g, kEps, act));
    }
    if (i + 1 < ch.size()) {
      b.resample = Conv2d::load(p, bp + "upsamplers.0.conv.", out, out, 3);
      b.upsample = true;
    }
    up_blocks_.push_back(std::move(b));
    in = out;
  }
  conv_norm_out_ = GroupNorm::load(p, prefix + "conv_norm_out.", ch.front(), g, kEps);
  conv_out_ = Conv2d::load(p, prefix + "conv_out.", ch.front(), cfg.out_channels, 3);
}

Tensor Decoder::operator()(Backend& be, const Tensor& z) const {
  Tensor h = conv_in_(be, z);
  h = mid_block_(be, h);
  for (const auto& b : up_blocks_) h = b(be, std::move(h));
  h = conv_norm_out_(be, h, Activation::kSilu);  // conv_act is nn.SiLU whatever act_fn says
  return conv_out_(be, h);
}

}  // namespace pixart::vae
