// The PixArt-alpha diffusion transformer (diffusers' PixArtTransformer2DModel) on the Backend ops.
//
// Block and weight names follow the checkpoint keys of a diffusers `transformer/` folder
// (pos_embed.proj, adaln_single.*, caption_projection.*, transformer_blocks.N.*, scale_shift_table,
// proj_out), so loading is a lookup plus a shape check against config.json.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "../../core/backend.h"
#include "../../core/json.h"

namespace pixart {

struct DiTConfig {
  // Defaults are diffusers' PixArtTransformer2DModel defaults, used when a key is absent.
  int64_t sample_size = 128;
  int64_t patch_size = 2;
  int64_t in_channels = 4;
  int64_t out_channels = 8;
  int64_t num_layers = 28;
  int64_t num_attention_heads = 16;
  int64_t attention_head_dim = 72;
  int64_t cross_attention_dim = 1152;
  int64_t caption_channels = 0;  // 0: no caption projection; the text must already be cross_attention_dim wide
  double norm_eps = 1e-6;
  bool norm_elementwise_affine = false;
  bool attention_bias = true;
  double interpolation_scale = 2.0;
  bool use_additional_conditions = true;
  std::string activation_fn = "gelu-approximate";
  std::string norm_type = "ada_norm_single";
  std::string attention_type = "default";

  int64_t inner_dim() const { return num_attention_heads * attention_head_dim; }
  int64_t ff_inner_dim() const { return 4 * inner_dim(); }  // diffusers FeedForward(mult=4)
  // geglu / swiglu: ff.net.0.proj is [2F, D], its output chunked into (hidden, gate) -> hidden * act(gate)
  bool ff_gated() const { return activation_fn == "geglu" || activation_fn == "swiglu"; }
  int64_t size_emb_dim() const { return inner_dim() / 3; }  // resolution / aspect-ratio embedders
  int64_t base_size() const { return sample_size / patch_size; }  // pos-embed grid the model was trained on

  // Reads a transformer config.json, filling the legacy "Transformer2DModel" gaps the way
  // diffusers does; throws kModelLoad for inconsistent sizes and kUnsupported for variants
  // this engine does not implement.
  static DiTConfig from_json(const JsonConfig& c);
};

struct DiTInputs {
  Tensor latents;                  // [B, in_channels, H, W] on the backend
  std::vector<float> timesteps;    // [B]
  Tensor text;                     // [B, L, caption_channels] on the backend
  std::vector<float> text_mask;    // [B*L] 0/1, empty = all ones
  std::vector<float> resolution;   // [B*2] (height, width) in pixels; required iff use_additional_conditions
  std::vector<float> aspect_ratio; // [B] height/width; required iff use_additional_conditions
};

// The model's inputs after the host-side preparation every backend shares (sinusoids,
// position table, mask bias): forward_graph() is then pure ops, which is what the ONNX exporter
// records. Shapes with N = (H/p)*(W/p) latent patches.
struct DiTGraphInputs {
  Tensor latents;            // [B, in_channels, H, W]
  Tensor timestep_features;  // [B, 256]: dit::timestep_features of the timesteps
  Tensor size_features;      // [B, 768]: sinusoids of (height, width, aspect ratio); only with use_additional_conditions
  Tensor pos;                // [N, D]: dit::sincos_pos_embed_2d of the patch grid
  Tensor text;               // [B, L, caption_channels (or cross_attention_dim)]
  Tensor key_bias;           // [B, L]: (1 - mask) * -10000, or undefined (every token attended)
  bool text_projected = false;  // text is already caption-projected ([B, L, D], a DiTConditioning's)
};

// The text side of a denoising loop, fixed across its steps and kept on the backend: the
// caption-projected text, the mask bias and the size conditions (PixArtDiT::prepare_conditioning).
// Only the latents and timesteps then cross to the backend each step.
struct DiTStepRecording;
struct DiTConditioning {
  Tensor text;      // [N, L, D]
  Tensor key_bias;  // [N, L] or undefined
  std::vector<float> resolution, aspect_ratio;  // [N*2], [N] (with use_additional_conditions)
  int64_t batch = 0;  // N: the model batch (2B with guidance, uncond rows first)
  std::shared_ptr<DiTStepRecording> steps;  // set when prepared with record_steps
};

// What a conditioning's recorded steps did (DiTStepRecording::stats()).
struct DiTStepStats {
  bool recorded = false;   // the current recording replays on the device (Backend::record_step)
  int64_t recordings = 0;  // recordings made (a new latent shape or guidance records again)
  int64_t runs = 0;        // forward_conditioned calls served by a recording
  int64_t plain = 0;       // calls that ran the ops plainly (the warm-up call before each recording)
  std::string reason;      // why the backend did not record on the device ("" when it did)
};

// A conditioning's denoising step recorded for replay (prepare_conditioning with record_steps):
// the model forward and the guidance over the step's two inputs, the model batch's latents and
// the timestep features. The first call with a latent shape and guidance runs the ops plainly
// (lazy set-up such as kernel tuning happens outside the recording); the second records them
// (Backend::record_step, a CUDA graph on a GPU) and runs the recording; later calls replay it.
// Everything else the step reads is fixed by the conditioning (text, mask bias, size features,
// the position table), and the recording holds it.
struct DiTStepRecording {
  DiTStepStats stats() const;

  mutable std::mutex mu;  // the engine thread writes, stats() may read from another thread
  std::unique_ptr<StepGraph> graph;
  std::vector<int64_t> key;       // the recorded step's: model latents shape, guidance, eps channels
  std::vector<int64_t> warm_key;  // the last plain call's
  DiTStepStats st;
};

namespace dit {

// diffusers fixes the sinusoid width of Timesteps(256, ...) in PixArtAlphaCombinedTimestepSizeEmbeddings.
constexpr int64_t kTimestepChannels = 256;

// nn.Linear: weight [out, in], optional bias [out].
struct Linear {
  Tensor weight, bias;
  static Linear load(Backend& be, const WeightStore& ws, const std::string& prefix, int64_t out, int64_t in,
                     bool has_bias = true);
  // Output rows [start, start + out) of a [total_out, in] linear (and its bias), loaded as their own.
  static Linear load_rows(Backend& be, const WeightStore& ws, const std::string& prefix, int64_t total_out, int64_t start,
                          int64_t out, int64_t in);
  Tensor operator()(Backend& be, const Tensor& x, Activation act = Activation::kNone,
                    const Tensor* residual = nullptr) const;
};

// diffusers Attention (to_q, to_k, to_v, to_out.0) with heads packed in the last dim.
struct Attention {
  Linear to_q, to_k, to_v, to_out;
  int heads = 0;
  float scale = 0.f;
  static Attention load(Backend& be, const WeightStore& ws, const std::string& prefix, const DiTConfig& cfg,
                        int64_t kv_dim);
};

// BasicTransformerBlock with norm_type "ada_norm_single".
struct TransformerBlock {
  Tensor scale_shift_table;  // [6, D]: shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp
  Tensor norm1_weight, norm1_bias, norm2_weight, norm2_bias;  // only with norm_elementwise_affine
  Attention attn1, attn2;
  Linear ff_proj, ff_out;  // ff.net.0.proj, ff.net.2 (gated: ff_proj is the first half of net.0.proj's rows)
  Linear ff_gate;          // gated feed-forwards only: the second half of net.0.proj's rows
  static TransformerBlock load(Backend& be, const WeightStore& ws, const std::string& prefix, const DiTConfig& cfg);
};

}  // namespace dit

class PixArtDiT {
 public:
  // `folder` is a diffusers transformer/ folder (config.json + safetensors). Throws EngineError.
  // `weights` overrides the weights file/index found in `folder` (e.g. a variant like *.fp16.safetensors).
  static std::unique_ptr<PixArtDiT> load(Backend& be, const std::string& folder, const std::string& weights = "");
  const DiTConfig& config() const { return cfg_; }
  // -> [B, out_channels, H, W] (all channels, incl. learned sigma). Throws EngineError
  // (kInvalidArgument for inputs that disagree with each other or with the config).
  Tensor forward(const DiTInputs& in);
  // Classifier-free guidance on the backend (diffusers' order): `in` holds B latents and a
  // model batch of 2B for everything else (text, mask, timesteps, sizes), uncond rows first.
  // The latents are duplicated on the backend, the model runs once on the 2B batch, and
  // eps = u + g * (c - u) is formed over every output channel, keeping the first eps_channels
  // (the learned variance dropped) -> [B, eps_channels, H, W]. Only that leaves the device.
  Tensor forward_guided(const DiTInputs& in, float guidance_scale, int64_t eps_channels);
  // The text side prepared once (validated as forward() would; caption projection run once).
  // record_steps: forward_conditioned() records its step for replay (DiTStepRecording).
  DiTConditioning prepare_conditioning(const Tensor& text, const std::vector<float>& text_mask,
                                       const std::vector<float>& resolution, const std::vector<float>& aspect_ratio,
                                       bool record_steps = false);
  // forward() on a prepared conditioning; with guidance_scale, forward_guided()'s contract
  // (B latents, a conditioning of 2B rows) -> [B, eps_channels, H, W].
  Tensor forward_conditioned(const Tensor& latents, const std::vector<float>& timesteps, const DiTConditioning& c,
                             const float* guidance_scale = nullptr, int64_t eps_channels = 0);
  // The two halves of forward(): validation and the host-side inputs uploaded, then the ops.
  DiTGraphInputs prepare(const DiTInputs& in);
  Tensor forward_graph(const DiTGraphInputs& in);

 private:
  PixArtDiT(Backend& be, DiTConfig cfg) : be_(be), cfg_(std::move(cfg)) {}
  void validate(const DiTInputs& in) const;
  void check_latents(const Tensor& latents) const;
  // validate()'s text side for a model batch of B: text [B, L, text width], mask, size conditions.
  void check_text(int64_t B, const Tensor& text, const std::vector<float>& text_mask, const std::vector<float>& resolution,
                  const std::vector<float>& aspect_ratio) const;
  void check_guidance(float guidance_scale, int64_t eps_channels) const;
  // timestep / size sinusoids and the position table for these latents
  DiTGraphInputs step_inputs(const Tensor& latents, const std::vector<float>& timesteps,
                             const std::vector<float>& resolution, const std::vector<float>& aspect_ratio);
  Tensor key_bias(const std::vector<float>& text_mask, int64_t batch, int64_t length);  // undefined when no mask
  Tensor duplicate_rows(const Tensor& latents);  // [B, ...] -> [2B, ...]: rows 0..B-1 twice
  Tensor guide(const Tensor& out, float guidance_scale, int64_t eps_channels);  // [2B, O, H, W] -> [B, eps, H, W]
  // forward_graph(g), then guide() when guidance_scale is given.
  Tensor guided_forward(const DiTGraphInputs& g, const float* guidance_scale, int64_t eps_channels);
  // guided_forward of g through the conditioning's recording.
  Tensor recorded_step(DiTStepRecording& rec, const DiTGraphInputs& g, const float* guidance_scale, int64_t eps_channels);
  Tensor pos_embed(int64_t gh, int64_t gw);                 // [gh*gw, D], cached per grid

  Backend& be_;
  DiTConfig cfg_;

  // pos_embed.proj: the patch conv as a linear over (C, p, p) patches.
  dit::Linear patch_proj;
  // adaln_single.emb.timestep_embedder
  dit::Linear t_linear_1, t_linear_2;
  // adaln_single.emb.{resolution,aspect_ratio}_embedder packed block-diagonally so that one
  // linear pair maps [f(h), f(w), f(ar)] straight to their concatenation [B, D].
  dit::Linear size_linear_1, size_linear_2;
  dit::Linear adaln_linear;  // adaln_single.linear: D -> 6D
  dit::Linear caption_linear_1, caption_linear_2;  // caption_projection
  std::vector<dit::TransformerBlock> blocks;
  Tensor scale_shift_table;  // [2, D]: shift, scale of the output modulation
  dit::Linear proj_out;

  std::map<std::pair<int64_t, int64_t>, Tensor> pos_cache_;
};

}  // namespace pixart
