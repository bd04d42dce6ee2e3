// diffusers' Encoder and Decoder (autoencoders/vae.py) as the AutoencoderKL builds them:
// DownEncoderBlock2D / UpDecoderBlock2D stacks around a UNetMidBlock2D, all derived from VAEConfig.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "vae.h"
#include "vae_blocks.h"

namespace pixart::vae {

// One DownEncoderBlock2D: layers_per_block resnets, then (except in the last block) a stride-2
// 3x3 conv. UpDecoderBlock2D is the mirror: layers_per_block + 1 resnets, then (except in the
// last block) a nearest-2x upsample and a 3x3 conv.
struct ResampleBlock {
  std::vector<ResnetBlock2D> resnets;
  std::optional<Conv2d> resample;  // downsamplers.0.conv or upsamplers.0.conv
  bool upsample = false;

  Tensor operator()(Backend& be, Tensor x) const;
};

// image [B, in, H, W] -> [B, 2*latent, H/s, W/s] (before quant_conv)
class Encoder {
 public:
  Encoder(const ParamLoader& p, const VAEConfig& cfg, const std::string& prefix);
  Tensor operator()(Backend& be, const Tensor& x) const;

 private:
  Conv2d conv_in_, conv_out_;
  std::vector<ResampleBlock> down_blocks_;
  MidBlock2D mid_block_;
  GroupNorm conv_norm_out_;
};

// z [B, latent, h, w] (after post_quant_conv) -> [B, out, h*s, w*s]
class Decoder {
 public:
  Decoder(const ParamLoader& p, const VAEConfig& cfg, const std::string& prefix);
  Tensor operator()(Backend& be, const Tensor& z) const;

 private:
  Conv2d conv_in_, conv_out_;
  MidBlock2D mid_block_;
  std::vector<ResampleBlock> up_blocks_;
  GroupNorm conv_norm_out_;
};

// act_fn as a backend activation; throws kUnsupported for ones the backend lacks.
Activation activation_from_name(const std::string& act_fn);

}  // namespace pixart::vae
