#include "vae.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/status.h"
#include "core/weights.h"
#include "vae_blocks.h"
#include "vae_coder.h"

namespace pixart {

namespace {
[[noreturn]] void bad_config(const JsonConfig& c, const std::string& what) {
  fail(StatusCode::kModelLoad, c.origin() + ": " + what);
}

void check_block_types(const JsonConfig& c, const char* key, const char* expected, size_t count) {
  const auto types = c.get_string_array(key);
  if (types.size() != count) {
    bad_config(c, std::string(key) + " lists " + std::to_string(types.size()) + " blocks but block_out_channels " +
                      std::to_string(count));
  }
  for (const auto& t : types) {
    if (t != expected) {
      fail(StatusCode::kUnsupported, c.origin() + ": " + key + " entry \"" + t + "\" is not supported (only " +
                                         expected + ")");
    }
  }
}

std::string shape_of(const Tensor& t) { return shape_str(t.shape); }
}  // namespace

VAEConfig VAEConfig::from_json(const JsonConfig& c) {
  const std::string cls = c.get_string("_class_name", "AutoencoderKL");
  if (cls != "AutoencoderKL") bad_config(c, "_class_name is \"" + cls + "\", expected AutoencoderKL");
  VAEConfig v;
  v.in_channels = c.get_int("in_channels", v.in_channels);
  v.out_channels = c.get_int("out_channels", v.out_channels);
  v.latent_channels = c.get_int("latent_channels", v.latent_channels);
  v.block_out_channels = c.get_int_array("block_out_channels");
  v.layers_per_block = c.get_int("layers_per_block", v.layers_per_block);
  v.norm_num_groups = c.get_int("norm_num_groups", v.norm_num_groups);
  v.act_fn = c.get_string("act_fn", v.act_fn);
  v.use_quant_conv = c.get_bool("use_quant_conv", v.use_quant_conv);
  v.use_post_quant_conv = c.get_bool("use_post_quant_conv", v.use_post_quant_conv);
  v.mid_block_add_attention = c.get_bool("mid_block_add_attention", v.mid_block_add_attention);
  v.scaling_factor = c.get_double("scaling_factor", v.scaling_factor);
  if (c.has("shift_factor")) v.shift_factor = c.get_double("shift_factor");
  // sample_size may be an int or [h, w] (diffusers uses the first entry for the latent tile).
  if (c.has("sample_size")) {
    const auto& root = c;
    try {
      v.sample_size = root.get_int("sample_size");
    } catch (const EngineError&) {
      const std::vector<int64_t> ss = root.get_int_array("sample_size");
      if (ss.empty()) bad_config(c, "sample_size must be a number or a non-empty list");
      v.sample_size = ss[0];
    }
  }
  if (v.sample_size <= 0) bad_config(c, "sample_size must be positive");

  const auto& ch = v.block_out_channels;
  if (ch.empty() || ch.size() > 16) bad_config(c, "block_out_channels must list 1 to 16 widths");
  if (v.in_channels <= 0 || v.out_channels <= 0 || v.latent_channels <= 0) {
    bad_config(c, "in_channels, out_channels and latent_channels must be positive");
  }
  if (v.layers_per_block < 1) bad_config(c, "layers_per_block must be at least 1");
  if (v.norm_num_groups <= 0) bad_config(c, "norm_num_groups must be positive");
  for (int64_t w : ch) {
    if (w <= 0 || w % v.norm_num_groups != 0) {
      bad_config(c, "block_out_channels entry " + std::to_string(w) + " is not a positive multiple of norm_num_groups " +
                        std::to_string(v.norm_num_groups));
    }
  }
  if (!(v.scaling_factor > 0) || !std::isfinite(v.scaling_factor)) bad_config(c, "scaling_factor must be positive");
  // diffusers builds one block per *_block_types entry but sizes them from block_out_channels;
  // the two only describe the same model when their lengths agree.
  check_block_types(c, "down_block_types", "DownEncoderBlock2D", ch.size());
  check_block_types(c, "up_block_types", "UpDecoderBlock2D", ch.size());
  vae::activation_from_name(v.act_fn);  // rejects unsupported activations at load
  return v;
}

AutoencoderKL::AutoencoderKL(Backend& be, VAEConfig cfg) : be_(be), cfg_(std::move(cfg)) {}
AutoencoderKL::~AutoencoderKL() = default;

std::unique_ptr<AutoencoderKL> AutoencoderKL::load(Backend& be, const std::string& folder, VAEParts parts,
                                                    const std::string& weights) {
  const auto config_path = (std::filesystem::path(folder) / "config.json").string();
  std::unique_ptr<AutoencoderKL> m(new AutoencoderKL(be, VAEConfig::from_json(JsonConfig::load(config_path))));
  const VAEConfig& cfg = m->cfg_;
  // The store only has to outlive loading: the loaded tensors keep their own storage (or the
  // file mapping they alias) alive.
  const WeightStore store = WeightStore::open(weights.empty() ? folder : weights);
  const vae::ParamLoader p(be, store);
  const int64_t moments = 2 * cfg.latent_channels;
  if (int(parts) & int(VAEParts::kEncoder)) {
    m->encoder_ = std::make_unique<vae::Encoder>(p, cfg, "encoder.");
    if (cfg.use_quant_conv) {
      m->quant_conv_ = std::make_unique<vae::Conv2d>(vae::Conv2d::load(p, "quant_conv.", moments, moments, 1));
    }
  }
  if (int(parts) & int(VAEParts::kDecoder)) {
    m->decoder_ = std::make_unique<vae::Decoder>(p, cfg, "decoder.");
    if (cfg.use_post_quant_conv) {
      const int64_t lc = cfg.latent_channels;
      m->post_quant_conv_ = std::make_unique<vae::Conv2d>(vae::Conv2d::load(p, "post_quant_conv.", lc, lc, 1));
    }
  }
  return m;
}

Tensor AutoencoderKL::decode(const Tensor& z) {
  if (!decoder_) fail(StatusCode::kInvalidArgument, "VAE decode: this AutoencoderKL was loaded without its decoder");
  if (z.rank() != 4 || z.dim(1) != cfg_.latent_channels || z.dim(0) < 1 || z.dim(2) < 1 || z.dim(3) < 1) {
    fail(StatusCode::kInvalidArgument, "VAE decode: latents must be [B, " + std::to_string(cfg_.latent_channels) +
                                           ", h, w] with B, h, w >= 1, got " + shape_of(z));
  }
  if (!post_quant_conv_) return (*decoder_)(be_, z);
  return (*decoder_)(be_, (*post_quant_conv_)(be_, z));
}

Tensor AutoencoderKL::decode_tiled(const Tensor& z) {
  if (!decoder_) fail(StatusCode::kInvalidArgument, "VAE decode: this AutoencoderKL was loaded without its decoder");
  const int64_t tile_sample = cfg_.sample_size, tile_latent = cfg_.sample_size / cfg_.scale_factor();
  if (z.rank() != 4 || tile_latent < 1 || (z.dim(2) <= tile_latent && z.dim(3) <= tile_latent)) return decode(z);
  // diffusers' numbers (tile_overlap_factor 0.25), including its integer truncations.
  const int64_t overlap = int64_t(double(tile_latent) * (1 - 0.25));
  const int64_t blend = int64_t(double(tile_sample) * 0.25);
  const int64_t limit = tile_sample - blend;
  const int64_t h = z.dim(2), w = z.dim(3);
  // The tiles stay on the backend: cropped there, decoded, blended and assembled there.
  std::vector<std::vector<Tensor>> rows;
  for (int64_t i = 0; i < h; i += overlap) {
    std::vector<Tensor> row;
    for (int64_t j = 0; j < w; j += overlap) {
      const int64_t th = std::min(tile_latent, h - i), tw = std::min(tile_latent, w - j);
      row.push_back(decode(be_.crop(z, i, j, th, tw)));
    }
    rows.push_back(std::move(row));
  }
  return be_.blend_tiles(rows, blend, limit);
}

Tensor AutoencoderKL::encode(const Tensor& x) {
  if (!encoder_) fail(StatusCode::kInvalidArgument, "VAE encode: this AutoencoderKL was loaded without its encoder");
  const int64_t s = cfg_.scale_factor();
  // Each stride-2 downsample needs an input of at least 2 pixels (it pads by one and reads 3).
  if (x.rank() != 4 || x.dim(1) != cfg_.in_channels || x.dim(0) < 1 || x.dim(2) < s || x.dim(3) < s) {
    fail(StatusCode::kInvalidArgument, "VAE encode: images must be [B, " + std::to_string(cfg_.in_channels) +
                                           ", H, W] with B >= 1 and H, W >= " + std::to_string(s) + ", got " +
                                           shape_of(x));
  }
  Tensor h = (*encoder_)(be_, x);
  if (quant_conv_) h = (*quant_conv_)(be_, h);
  return h;
}

LatentDistribution split_moments(Backend& be, const Tensor& moments) {
  if (moments.rank() != 4 || moments.dim(1) % 2 != 0) {
    fail(StatusCode::kInvalidArgument, "split_moments: moments must be [B, 2*latent, h, w], got " + shape_of(moments));
  }
  const int64_t B = moments.dim(0), lc = moments.dim(1) / 2, hw = moments.dim(2) * moments.dim(3);
  std::vector<float> all(static_cast<size_t>(moments.numel()));
  be.to_host(moments, all.data());
  LatentDistribution d;
  d.shape = {B, lc, moments.dim(2), moments.dim(3)};
  const size_t n = static_cast<size_t>(B * lc * hw);
  d.mean.resize(n);
  d.logvar.resize(n);
  d.std.resize(n);
  for (int64_t b = 0; b < B; b++) {
    // moments[b] is [mean (lc channels), logvar (lc channels)], each channel hw floats.
    const float* src = all.data() + b * 2 * lc * hw;
    const size_t dst = static_cast<size_t>(b * lc * hw);
    std::copy(src, src + lc * hw, d.mean.begin() + dst);
    for (int64_t i = 0; i < lc * hw; i++) {
      const float lv = std::clamp(src[lc * hw + i], -30.f, 20.f);
      d.logvar[dst + i] = lv;
      d.std[dst + i] = std::exp(0.5f * lv);
    }
  }
  return d;
}

}  // namespace pixart
