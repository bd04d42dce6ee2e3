// AutoencoderKL: the VAE that maps PixArt latents to images (decode) and images to latent
// distributions (encode), written once on the Backend op interface.
//
// The module tree mirrors diffusers' AutoencoderKL (Encoder / Decoder / UNetMidBlock2D /
// DownEncoderBlock2D / UpDecoderBlock2D / ResnetBlock2D), and every block is named by its
// checkpoint key prefix, so loading is a lookup plus a shape check derived from config.json.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/json.h"

namespace pixart {

namespace vae {
class Encoder;
class Decoder;
struct Conv2d;
}  // namespace vae

struct VAEConfig {
  int64_t in_channels = 3;
  int64_t out_channels = 3;
  int64_t latent_channels = 4;
  std::vector<int64_t> block_out_channels;
  int64_t layers_per_block = 1;
  int64_t norm_num_groups = 32;
  std::string act_fn = "silu";
  bool use_quant_conv = true;
  bool use_post_quant_conv = true;
  bool mid_block_add_attention = true;
  double scaling_factor = 0.18215;
  int64_t sample_size = 32;  // diffusers' default; with tiling, the decoded tile size in pixels
  std::optional<double> shift_factor;  // null for the SD/PixArt VAE; the pipeline only scales

  // Pixels per latent along each axis: one 2x resampling between consecutive blocks.
  int64_t scale_factor() const { return int64_t(1) << (block_out_channels.size() - 1); }

  // Missing keys take diffusers' AutoencoderKL defaults, so older configs load as diffusers
  // loads them. Throws kModelLoad for inconsistent values, kUnsupported for block types or
  // activations this engine does not implement.
  static VAEConfig from_json(const JsonConfig& c);
};

// Which halves to load. The text-to-image pipeline only decodes, and the encoder is about a
// third of the weights, so callers that never encode can skip it.
enum class VAEParts { kDecoder = 1, kEncoder = 2, kBoth = 3 };

class AutoencoderKL {
 public:
  // `folder` is a diffusers vae/ folder (config.json + diffusion_pytorch_model.safetensors).
  // Every tensor the config implies is checked and loaded here, so a bad checkpoint fails at
  // load naming the tensor, not halfway through a decode.
  static std::unique_ptr<AutoencoderKL> load(Backend& be, const std::string& folder,
                                             VAEParts parts = VAEParts::kBoth, const std::string& weights = "");
  ~AutoencoderKL();

  const VAEConfig& config() const { return cfg_; }
  bool has_encoder() const { return encoder_ != nullptr; }
  bool has_decoder() const { return decoder_ != nullptr; }

  // z [B, latent_channels, h, w] = latents / scaling_factor (what diffusers' vae.decode gets)
  //   -> [B, out_channels, h*s, w*s] with s = scale_factor(); raw, unclamped.
  Tensor decode(const Tensor& z);
  // diffusers' tiled decode (AutoencoderKL.enable_tiling()): overlapping latent tiles of
  // tile_latent = sample_size / scale_factor() (stride 3/4 of that), decoded one at a time and
  // blended linearly over a quarter tile, so peak memory follows the tile, not the image.
  // Tiles only when z is larger than one tile (as diffusers); otherwise the same as decode().
  // The blending runs on the host (float32), as do the tile crops.
  Tensor decode_tiled(const Tensor& z);
  // x [B, in_channels, H, W] in [-1, 1], H and W >= scale_factor()
  //   -> moments [B, 2*latent_channels, H/s, W/s] (floor, as the stride-2 convs give):
  //      channels [0, latent) are the mean, [latent, 2*latent) the unclamped logvar.
  Tensor encode(const Tensor& x);

 private:
  AutoencoderKL(Backend& be, VAEConfig cfg);
  Backend& be_;
  VAEConfig cfg_;
  std::unique_ptr<vae::Encoder> encoder_;
  std::unique_ptr<vae::Decoder> decoder_;
  std::unique_ptr<vae::Conv2d> quant_conv_;       // only with the encoder and use_quant_conv
  std::unique_ptr<vae::Conv2d> post_quant_conv_;  // only with the decoder and use_post_quant_conv
};

// encode()'s moments read back and split the way diffusers' DiagonalGaussianDistribution
// does: logvar clamped to [-30, 20], std = exp(0.5 * logvar). Each vector is [B, latent, h, w].
struct LatentDistribution {
  Shape shape;
  std::vector<float> mean, logvar, std;
};
LatentDistribution split_moments(Backend& be, const Tensor& moments);

}  // namespace pixart
