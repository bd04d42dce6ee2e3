#include "vae_blocks.h"

#include <cmath>

#include "core/status.h"

namespace pixart::vae {

Conv2d Conv2d::load(const ParamLoader& p, const std::string& prefix, int64_t in, int64_t out, int64_t k) {
  Conv2d c;
  c.weight = p.get(prefix + "weight", {out, in, k, k});
  c.bias = p.get(prefix + "bias", {out});
  c.pad_top = c.pad_left = c.pad_bottom = c.pad_right = int(k / 2);
  return c;
}

Tensor Conv2d::operator()(Backend& be, const Tensor& x) const {
  return be.conv2d(x, weight, &bias, stride, pad_top, pad_left, pad_bottom, pad_right);
}

GroupNorm GroupNorm::load(const ParamLoader& p, const std::string& prefix, int64_t channels, int64_t groups,
                          float eps) {
  GroupNorm n;
  n.weight = p.get(prefix + "weight", {channels});
  n.bias = p.get(prefix + "bias", {channels});
  n.groups = int(groups);
  n.eps = eps;
  return n;
}

Tensor GroupNorm::operator()(Backend& be, const Tensor& x, Activation act) const {
  if (act == Activation::kNone || act == Activation::kSilu) {
    return be.group_norm(x, weight, bias, groups, eps, act == Activation::kSilu);
  }
  return be.activation(be.group_norm(x, weight, bias, groups, eps, false), act);
}

ResnetBlock2D ResnetBlock2D::load(const ParamLoader& p, const std::string& prefix, int64_t in, int64_t out,
                                  int64_t groups, float eps, Activation act) {
  ResnetBlock2D r;
  r.norm1 = GroupNorm::load(p, prefix + "norm1.", in, groups, eps);
  r.conv1 = Conv2d::load(p, prefix + "conv1.", in, out, 3);
  r.norm2 = GroupNorm::load(p, prefix + "norm2.", out, groups, eps);
  r.conv2 = Conv2d::load(p, prefix + "conv2.", out, out, 3);
  if (in != out) r.conv_shortcut = Conv2d::load(p, prefix + "conv_shortcut.", in, out, 1);
  r.act = act;
  return r;
}

Tensor ResnetBlock2D::operator()(Backend& be, const Tensor& x) const {
  // Reassigning h drops each intermediate as soon as the next op has consumed it; at 1024px
  // the last decoder stage's maps are 128 x 1024 x 1024 floats (512 MiB) each.
  Tensor h = norm1(be, x, act);
  h = conv1(be, h);
  h = norm2(be, h, act);
  h = conv2(be, h);
  if (conv_shortcut) return be.add((*conv_shortcut)(be, x), h);
  return be.add(x, h);
}

SpatialSelfAttention SpatialSelfAttention::load(const ParamLoader& p, const std::string& prefix, int64_t channels,
                                                int64_t head_dim, int64_t groups, float eps) {
  SpatialSelfAttention a;
  a.group_norm = GroupNorm::load(p, prefix + "group_norm.", channels, groups, eps);
  // Checkpoints written before diffusers 0.14 name the projections query/key/value/proj_attn;
  // diffusers renames them on load (_from_deprecated_attn_block), so accept both spellings.
  const bool legacy = !p.has(prefix + "to_q.weight") && p.has(prefix + "query.weight");
  const std::string q = legacy ? "query." : "to_q.", k = legacy ? "key." : "to_k.", v = legacy ? "value." : "to_v.",
                    o = legacy ? "proj_attn." : "to_out.0.";
  const Shape w{channels, channels}, b{channels};
  a.to_q_w = p.get(prefix + q + "weight", w);
  a.to_q_b = p.get(prefix + q + "bias", b);
  a.to_k_w = p.get(prefix + k + "weight", w);
  a.to_k_b = p.get(prefix + k + "bias", b);
  a.to_v_w = p.get(prefix + v + "weight", w);
  a.to_v_b = p.get(prefix + v + "bias", b);
  a.to_out_w = p.get(prefix + o + "weight", w);
  a.to_out_b = p.get(prefix + o + "bias", b);
  a.heads = int(channels / head_dim);
  a.scale = float(1.0 / std::sqrt(double(head_dim)));
  return a;
}

Tensor SpatialSelfAttention::operator()(Backend& be, const Tensor& x) const {
  const int64_t h = x.dim(2), w = x.dim(3);
  Tensor tokens = be.nchw_to_nlc(group_norm(be, x, Activation::kNone));  // [B, C, H, W] -> [B, H*W, C]
  Tensor q = be.linear(tokens, to_q_w, &to_q_b);
  Tensor k = be.linear(tokens, to_k_w, &to_k_b);
  Tensor v = be.linear(tokens, to_v_w, &to_v_b);
  tokens = Tensor();
  Tensor a = be.attention(q, k, v, heads, scale, nullptr, nullptr);
  q = k = v = Tensor();
  const Tensor residual = be.nchw_to_nlc(x);  // [B, H*W, C]
  a = be.linear(a, to_out_w, &to_out_b, Activation::kNone, &residual);
  return be.nlc_to_nchw(a, h, w);  // [B, H*W, C] -> [B, C, H, W]
}

MidBlock2D MidBlock2D::load(const ParamLoader& p, const std::string& prefix, int64_t channels, int64_t groups,
                            float eps, Activation act, bool add_attention) {
  MidBlock2D m;
  m.resnets.push_back(ResnetBlock2D::load(p, prefix + "resnets.0.", channels, channels, groups, eps, act));
  // The VAE passes attention_head_dim = channels, i.e. one head spanning every channel.
  if (add_attention) m.attention = SpatialSelfAttention::load(p, prefix + "attentions.0.", channels, channels, groups, eps);
  m.resnets.push_back(ResnetBlock2D::load(p, prefix + "resnets.1.", channels, channels, groups, eps, act));
  return m;
}

Tensor MidBlock2D::operator()(Backend& be, const Tensor& x) const {
  Tensor h = resnets[0](be, x);
  if (attention) h = (*attention)(be, h);
  return resnets[1](be, h);
}

}  // namespace pixart::vae
