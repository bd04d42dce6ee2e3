// PixArt DiT: the tiny fixtures against diffusers' reference outputs, a config-derived DiT of
// another shape (legacy config, random weights written here), and bad inputs / checkpoints.
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "core/status.h"
#include "core/weights.h"
#include "models/pixart_dit/pixart_dit.h"
#include "test_support.h"
#include "models/pixart_dit/sincos.h"

namespace fs = std::filesystem;
using namespace pixart;

namespace {

const std::string kFixtures = test::fixtures_dir();
const std::string kTinyDiT = kFixtures + "/pixart-tiny/transformer";
const std::string kTiny512DiT = kFixtures + "/pixart-tiny-512/transformer";
const std::string kReference = kFixtures + "/pixart-tiny/reference/transformer.safetensors";

using test::backend;
using test::host;

const WeightStore& reference() {
  static WeightStore ws = WeightStore::open(kReference);
  return ws;
}

std::vector<float> ref_f32(const std::string& key) { return test::read_f32(reference().get(key)); }
// int64 tensors (timesteps, masks) as floats.
std::vector<float> ref_i64(const std::string& key) { return test::read_i64<float>(reference().get(key)); }

Tensor upload(const std::vector<float>& v, const Shape& s) { return backend().from_host(v.data(), s); }

// Runs one transformer case of reference/cases.json and checks the whole output against
// |a-b| <= 1e-4 + 1e-4 * max|ref|.
void check_case(const std::string& id, const std::string& model, bool conditions) {
  auto dit = PixArtDiT::load(backend(), model);
  const WeightView& hs = reference().get(id + "/hidden_states");
  const WeightView& ehs = reference().get(id + "/encoder_hidden_states");
  DiTInputs in;
  in.latents = upload(ref_f32(id + "/hidden_states"), hs.shape);
  in.timesteps = ref_i64(id + "/timestep");
  in.text = upload(ref_f32(id + "/encoder_hidden_states"), ehs.shape);
  in.text_mask = ref_i64(id + "/encoder_attention_mask");
  if (conditions) {
    in.resolution = ref_f32(id + "/resolution");
    in.aspect_ratio = ref_f32(id + "/aspect_ratio");
  }
  Tensor out;
  Status st = guarded([&] { out = dit->forward(in); });
  REQUIRE_MESSAGE(st.ok(), st.message());
  const WeightView& ref_view = reference().get(id + "/sample");
  REQUIRE(out.shape == ref_view.shape);
  test::check_close(host(out), ref_f32(id + "/sample"), id);
}

// ---- a synthetic checkpoint: config.json + one safetensors file of random f32 tensors

struct FakeTensor {
  std::string name;
  Shape shape;
};

// One folder per test process, removed when the process exits.
struct TmpRoot {
  fs::path path = fs::temp_directory_path() / ("pixart_dit_test_" + std::to_string(::getpid()));
  ~TmpRoot() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

fs::path tmpdir(const std::string& name) {
  static TmpRoot root;
  fs::path p = root.path / name;
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

void write_safetensors(const fs::path& file, const std::vector<FakeTensor>& tensors, uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::string header = "{", data;
  for (const FakeTensor& t : tensors) {
    const int64_t n = numel(t.shape);
    // Scaled like the fixtures' init (weights ~ 1/sqrt(fan_in)) so activations stay O(1).
    const float scale = t.shape.size() >= 2 ? 1.f / std::sqrt(float(n / t.shape[0])) : 0.1f;
    std::vector<float> v(n);
    for (float& x : v) x = nd(g) * scale;
    std::string shape;
    for (size_t i = 0; i < t.shape.size(); i++) shape += (i ? "," : "") + std::to_string(t.shape[i]);
    if (header.size() > 1) header += ",";
    header += "\"" + t.name + "\":{\"dtype\":\"F32\",\"shape\":[" + shape + "],\"data_offsets\":[" +
              std::to_string(data.size()) + "," + std::to_string(data.size() + n * 4) + "]}";
    data.append(reinterpret_cast<const char*>(v.data()), n * 4);
  }
  header += "}";
  std::ofstream f(file, std::ios::binary);
  uint64_t len = header.size();
  f.write(reinterpret_cast<const char*>(&len), 8);
  f << header << data;
}

// Every tensor a PixArtTransformer2DModel of these sizes stores (plus the legacy converter's
// unused caption_projection.y_embedding).
std::vector<FakeTensor> dit_tensors(int64_t D, int64_t layers, int64_t in_ch, int64_t out_ch, int64_t p,
                                    int64_t caption, bool conditions) {
  std::vector<FakeTensor> t = {
      {"pos_embed.proj.weight", {D, in_ch, p, p}},
      {"pos_embed.proj.bias", {D}},
      {"adaln_single.emb.timestep_embedder.linear_1.weight", {D, 256}},
      {"adaln_single.emb.timestep_embedder.linear_1.bias", {D}},
      {"adaln_single.emb.timestep_embedder.linear_2.weight", {D, D}},
      {"adaln_single.emb.timestep_embedder.linear_2.bias", {D}},
      {"adaln_single.linear.weight", {6 * D, D}},
      {"adaln_single.linear.bias", {6 * D}},
      {"caption_projection.linear_1.weight", {D, caption}},
      {"caption_projection.linear_1.bias", {D}},
      {"caption_projection.linear_2.weight", {D, D}},
      {"caption_projection.linear_2.bias", {D}},
      {"caption_projection.y_embedding", {5, caption}},
      {"scale_shift_table", {2, D}},
      {"proj_out.weight", {p * p * out_ch, D}},
      {"proj_out.bias", {p * p * out_ch}},
  };
  if (conditions) {
    for (const char* e : {"resolution_embedder", "aspect_ratio_embedder"}) {
      const std::string k = std::string("adaln_single.emb.") + e;
      t.push_back({k + ".linear_1.weight", {D / 3, 256}});
      t.push_back({k + ".linear_1.bias", {D / 3}});
      t.push_back({k + ".linear_2.weight", {D / 3, D / 3}});
      t.push_back({k + ".linear_2.bias", {D / 3}});
    }
  }
  for (int64_t i = 0; i < layers; i++) {
    const std::string b = "transformer_blocks." + std::to_string(i);
    t.push_back({b + ".scale_shift_table", {6, D}});
    for (const char* a : {".attn1", ".attn2"})
      for (const char* l : {".to_q", ".to_k", ".to_v", ".to_out.0"}) {
        t.push_back({b + a + l + ".weight", {D, D}});
        t.push_back({b + a + l + ".bias", {D}});
      }
    t.push_back({b + ".ff.net.0.proj.weight", {4 * D, D}});
    t.push_back({b + ".ff.net.0.proj.bias", {4 * D}});
    t.push_back({b + ".ff.net.2.weight", {D, 4 * D}});
    t.push_back({b + ".ff.net.2.bias", {D}});
  }
  return t;
}

// A legacy-style config ("Transformer2DModel", no interpolation_scale / use_additional_conditions):
// 3 heads x 8, 1 layer, patch 2, in 4, out 8, caption 16.
std::string legacy_config(int64_t sample_size, const std::string& norm_type = "ada_norm_single") {
  return R"({"_class_name": "Transformer2DModel", "_diffusers_version": "0.22.0.dev0",
    "activation_fn": "gelu-approximate", "attention_bias": true, "attention_head_dim": 8,
    "attention_type": "default", "caption_channels": 16, "cross_attention_dim": 24,
    "double_self_attention": false, "dropout": 0.0, "in_channels": 4, "norm_elementwise_affine": false,
    "norm_eps": 1e-06, "norm_num_groups": 32, "norm_type": ")" + norm_type + R"(", "num_attention_heads": 3,
    "num_embeds_ada_norm": 1000, "num_layers": 1, "num_vector_embeds": null, "only_cross_attention": false,
    "out_channels": 8, "patch_size": 2, "sample_size": )" + std::to_string(sample_size) + R"(,
    "upcast_attention": false, "use_linear_projection": false})";
}

fs::path write_model(const std::string& name, const std::string& config, const std::vector<FakeTensor>& tensors) {
  fs::path dir = tmpdir(name);
  std::ofstream(dir / "config.json") << config;
  write_safetensors(dir / "diffusion_pytorch_model.safetensors", tensors, 1234);
  return dir;
}

std::vector<float> random_values(int64_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> v(n);
  for (float& x : v) x = nd(g);
  return v;
}

// Inputs for the synthetic model: batch B, latent H x W, L text tokens.
DiTInputs synthetic_inputs(int64_t B, int64_t H, int64_t W, int64_t L, bool conditions) {
  DiTInputs in;
  in.latents = upload(random_values(B * 4 * H * W, 7), {B, 4, H, W});
  in.text = upload(random_values(B * L * 16, 8), {B, L, 16});
  for (int64_t b = 0; b < B; b++) in.timesteps.push_back(float(999 - 300 * b));
  in.text_mask.assign(B * L, 1.f);
  in.text_mask.back() = 0.f;
  if (conditions) {
    for (int64_t b = 0; b < B; b++) {
      in.resolution.insert(in.resolution.end(), {float(H * 8), float(W * 8)});
      in.aspect_ratio.push_back(float(H) / float(W));
    }
  }
  return in;
}

Status status_of(const std::function<void()>& fn) { return guarded(fn); }

}  // namespace

TEST_CASE("reference: transformer/square_batch2") { check_case("transformer/square_batch2", kTinyDiT, true); }
TEST_CASE("reference: transformer/nonsquare_8x12") { check_case("transformer/nonsquare_8x12", kTinyDiT, true); }
TEST_CASE("reference: transformer/native_grid_128x128") { check_case("transformer/native_grid_128x128", kTinyDiT, true); }
TEST_CASE("reference: transformer/cfg_batch_neg_pos") { check_case("transformer/cfg_batch_neg_pos", kTinyDiT, true); }
TEST_CASE("reference: transformer512/square_batch2") { check_case("transformer512/square_batch2", kTiny512DiT, false); }
TEST_CASE("reference: transformer512/nonsquare_8x12") { check_case("transformer512/nonsquare_8x12", kTiny512DiT, false); }

TEST_CASE("config: fixture configs and the real legacy configs") {
  DiTConfig tiny = DiTConfig::from_json(JsonConfig::load(kTinyDiT + "/config.json"));
  CHECK(tiny.inner_dim() == 48);
  CHECK(tiny.interpolation_scale == 2.0);
  CHECK(tiny.use_additional_conditions);
  CHECK(tiny.caption_channels == 64);
  DiTConfig t512 = DiTConfig::from_json(JsonConfig::load(kTiny512DiT + "/config.json"));
  CHECK(t512.interpolation_scale == 1.0);
  CHECK_FALSE(t512.use_additional_conditions);
  // Real PixArt-alpha configs lack both keys; diffusers derives them from sample_size.
  struct Expect {
    const char* repo;
    double interpolation_scale;
    bool conditions;
  };
  for (const Expect& e : {Expect{"PixArt-XL-2-1024-MS", 2.0, true}, Expect{"PixArt-XL-2-512x512", 1.0, false},
                          Expect{"PixArt-XL-2-256x256", 1.0, false}}) {
    DiTConfig c = DiTConfig::from_json(JsonConfig::load(kFixtures + "/configs/" + e.repo + "/transformer/config.json"));
    CHECK(c.interpolation_scale == e.interpolation_scale);
    CHECK(c.use_additional_conditions == e.conditions);
    CHECK(c.inner_dim() == 1152);
    CHECK(c.num_layers == 28);
    CHECK(c.caption_channels == 4096);
  }
}

TEST_CASE("sin-cos tables: timestep features and the position grid") {
  // t = 0: cos(0) = 1 in the first half, sin(0) = 0 in the second.
  std::vector<float> f = dit::timestep_features({0.f, 1.f}, 8);
  CHECK(f[0] == 1.f);
  CHECK(f[4] == 0.f);
  CHECK(f[8] == doctest::Approx(std::cos(1.0)));   // k = 0: frequency 1
  CHECK(f[12] == doctest::Approx(std::sin(1.0)));
  // Token (0, 1) of a 2x3 grid, base 2, scale 1: x = 1 / (3/2), y = 0.
  std::vector<float> p = dit::sincos_pos_embed_2d(8, 2, 3, 2, 1.0);
  const float x = 1.f / 1.5f;
  CHECK(p.size() == 6 * 8);
  CHECK(p[8 + 0] == doctest::Approx(std::sin(x)));
  CHECK(p[8 + 2] == doctest::Approx(std::cos(x)));
  CHECK(p[8 + 4] == 0.f);
  CHECK(p[8 + 6] == 1.f);
}

TEST_CASE("config-derived: a legacy-config DiT of another size loads and runs") {
  // sample_size 16: interpolation_scale = 1, no additional conditions.
  fs::path dir = write_model("legacy16", legacy_config(16), dit_tensors(24, 1, 4, 8, 2, 16, false));
  std::unique_ptr<PixArtDiT> dit;
  Status st = status_of([&] { dit = PixArtDiT::load(backend(), dir.string()); });
  REQUIRE_MESSAGE(st.ok(), st.message());
  CHECK(dit->config().interpolation_scale == 1.0);
  CHECK_FALSE(dit->config().use_additional_conditions);
  CHECK(dit->config().inner_dim() == 24);

  // Non-square latent, not the native grid; batch 2 must equal two batch-1 runs.
  DiTInputs in = synthetic_inputs(2, 6, 10, 5, false);
  Tensor out;
  st = status_of([&] { out = dit->forward(in); });
  REQUIRE_MESSAGE(st.ok(), st.message());
  CHECK(out.shape == Shape{2, 8, 6, 10});
  const std::vector<float> both = host(out);
  for (float v : both) REQUIRE(std::isfinite(v));
  CHECK(host(dit->forward(in)) == both);  // second run: cached position table, same result
  const int64_t per = 8 * 6 * 10;
  const std::vector<float> lat = host(in.latents), txt = host(in.text);
  for (int64_t b = 0; b < 2; b++) {
    DiTInputs one;
    one.latents = upload(std::vector<float>(lat.begin() + b * 4 * 60, lat.begin() + (b + 1) * 4 * 60), {1, 4, 6, 10});
    one.text = upload(std::vector<float>(txt.begin() + b * 5 * 16, txt.begin() + (b + 1) * 5 * 16), {1, 5, 16});
    one.timesteps = {in.timesteps[b]};
    one.text_mask.assign(in.text_mask.begin() + b * 5, in.text_mask.begin() + (b + 1) * 5);
    const std::vector<float> single = host(dit->forward(one));
    float err = 0.f;
    for (int64_t i = 0; i < per; i++) err = std::max(err, std::fabs(single[i] - both[b * per + i]));
    CHECK(err < 1e-5f);
  }
}

TEST_CASE("config-derived: legacy sample_size 128 turns additional conditions on") {
  fs::path dir = write_model("legacy128", legacy_config(128), dit_tensors(24, 1, 4, 8, 2, 16, true));
  std::unique_ptr<PixArtDiT> dit;
  Status st = status_of([&] { dit = PixArtDiT::load(backend(), dir.string()); });
  REQUIRE_MESSAGE(st.ok(), st.message());
  CHECK(dit->config().interpolation_scale == 2.0);
  CHECK(dit->config().use_additional_conditions);
  DiTInputs in = synthetic_inputs(1, 4, 8, 3, true);
  Tensor out;
  st = status_of([&] { out = dit->forward(in); });
  REQUIRE_MESSAGE(st.ok(), st.message());
  CHECK(out.shape == Shape{1, 8, 4, 8});
  // The conditions change the output.
  DiTInputs other = in;
  other.resolution = {64.f, 128.f};
  const std::vector<float> a = host(out), b = host(dit->forward(other));
  float diff = 0.f;
  for (size_t i = 0; i < a.size(); i++) diff = std::max(diff, std::fabs(a[i] - b[i]));
  CHECK(diff > 1e-3f);
}

TEST_CASE("bad inputs are kInvalidArgument") {
  auto dit = PixArtDiT::load(backend(), kTinyDiT);
  auto valid = [] {
    DiTInputs in;
    in.latents = upload(random_values(4 * 8 * 8, 1), {1, 4, 8, 8});
    in.text = upload(random_values(3 * 64, 2), {1, 3, 64});
    in.timesteps = {500.f};
    in.resolution = {64.f, 64.f};
    in.aspect_ratio = {1.f};
    return in;
  };
  REQUIRE(status_of([&] { dit->forward(valid()); }).ok());

  auto expect = [&](DiTInputs in, const std::string& needle) {
    Status st = status_of([&] { dit->forward(in); });
    CHECK(st.code() == StatusCode::kInvalidArgument);
    CHECK_MESSAGE(st.message().find(needle) != std::string::npos, st.message());
  };
  DiTInputs in = valid();
  in.latents = upload(random_values(4 * 7 * 8, 1), {1, 4, 7, 8});
  expect(in, "multiples of the patch size 2");
  in = valid();
  in.latents = upload(random_values(3 * 8 * 8, 1), {1, 3, 8, 8});
  expect(in, "channels");
  in = valid();
  in.resolution.clear();
  in.aspect_ratio.clear();
  expect(in, "resolution [B*2] and aspect_ratio [B] are required");
  in = valid();
  in.aspect_ratio = {1.f, 1.f};
  expect(in, "aspect_ratio");
  in = valid();
  in.timesteps = {1.f, 2.f};
  expect(in, "2 timesteps for a batch of 1");
  in = valid();
  in.text = upload(random_values(2 * 3 * 64, 2), {2, 3, 64});
  expect(in, "text must be [1, L, 64]");
  in = valid();
  in.text = upload(random_values(3 * 32, 2), {1, 3, 32});
  expect(in, "text must be");
  in = valid();
  in.text_mask = {1.f, 0.f};
  expect(in, "text_mask");
}

TEST_CASE("bad checkpoints and configs are reported by name") {
  auto tensors = dit_tensors(24, 1, 4, 8, 2, 16, false);
  // A missing tensor is named.
  auto missing = tensors;
  missing.erase(std::remove_if(missing.begin(), missing.end(),
                               [](const FakeTensor& t) { return t.name == "transformer_blocks.0.attn2.to_v.weight"; }),
                missing.end());
  fs::path dir = write_model("missing", legacy_config(16), missing);
  Status st = status_of([&] { PixArtDiT::load(backend(), dir.string()); });
  CHECK(st.code() == StatusCode::kModelLoad);
  CHECK_MESSAGE(st.message().find("transformer_blocks.0.attn2.to_v.weight") != std::string::npos, st.message());

  // A tensor whose shape disagrees with the config is named.
  auto wrong = tensors;
  for (FakeTensor& t : wrong)
    if (t.name == "proj_out.weight") t.shape = {16, 24};
  dir = write_model("wrong_shape", legacy_config(16), wrong);
  st = status_of([&] { PixArtDiT::load(backend(), dir.string()); });
  CHECK(st.code() == StatusCode::kModelLoad);
  CHECK_MESSAGE(st.message().find("proj_out.weight") != std::string::npos, st.message());

  // With sample_size 128 the legacy config needs the size embedders.
  dir = write_model("no_size_embedders", legacy_config(128), tensors);
  st = status_of([&] { PixArtDiT::load(backend(), dir.string()); });
  CHECK(st.code() == StatusCode::kModelLoad);
  CHECK_MESSAGE(st.message().find("adaln_single.emb.resolution_embedder") != std::string::npos, st.message());

  dir = write_model("other_norm", legacy_config(16, "ada_norm_zero"), tensors);
  st = status_of([&] { PixArtDiT::load(backend(), dir.string()); });
  CHECK(st.code() == StatusCode::kUnsupported);
  CHECK_MESSAGE(st.message().find("ada_norm_zero") != std::string::npos, st.message());
}

TEST_CASE("guided forward: CFG on the backend equals the host's u + g (c - u) on the first channels") {
  // The cfg_batch_neg_pos case: rows [uncond; cond] with the same latents, as the pipeline runs it.
  const std::string id = "transformer/cfg_batch_neg_pos";
  auto dit = PixArtDiT::load(backend(), kTinyDiT);
  const WeightView& hs = reference().get(id + "/hidden_states");
  const WeightView& ehs = reference().get(id + "/encoder_hidden_states");
  const std::vector<float> lat = ref_f32(id + "/hidden_states");
  const int64_t N = hs.shape[0], B = N / 2, C = hs.shape[1], H = hs.shape[2], W = hs.shape[3];
  REQUIRE(N == 2);
  DiTInputs full;
  // both rows get the first sample's latents (the fixture's rows may differ)
  std::vector<float> dup(lat.begin(), lat.begin() + C * H * W);
  dup.insert(dup.end(), lat.begin(), lat.begin() + C * H * W);
  full.latents = upload(dup, {N, C, H, W});
  full.timesteps = {ref_i64(id + "/timestep")[0], ref_i64(id + "/timestep")[0]};
  full.text = upload(ref_f32(id + "/encoder_hidden_states"), ehs.shape);
  full.text_mask = ref_i64(id + "/encoder_attention_mask");
  full.resolution = ref_f32(id + "/resolution");
  full.aspect_ratio = ref_f32(id + "/aspect_ratio");
  const std::vector<float> out = host(dit->forward(full));  // [2, 8, H, W]
  const int64_t O = 8, plane = O * H * W;
  const float g = 4.5f;

  DiTInputs half = full;
  half.latents = upload(std::vector<float>(lat.begin(), lat.begin() + C * H * W), {B, C, H, W});
  const Tensor eps = dit->forward_guided(half, g, C);
  REQUIRE(eps.shape == Shape{B, C, H, W});
  const std::vector<float> got = host(eps);
  for (int64_t i = 0; i < C * H * W; i++) {
    const float u = out[size_t(i)], c = out[size_t(plane + i)];
    const volatile float d = c - u, gd = g * d;  // no FMA contraction: the backend rounds each op
    REQUIRE(got[size_t(i)] == u + gd);  // the same float32 rounding, bit for bit
  }
  // all output channels kept when asked
  CHECK(dit->forward_guided(half, g, O).shape == Shape{B, O, H, W});
  // a text batch that is not 2B, or a channel count out of range, is a typed error
  CHECK(status_of([&] { dit->forward_guided(full, g, C); }).code() == StatusCode::kInvalidArgument);
  CHECK(status_of([&] { dit->forward_guided(half, g, O + 1); }).code() == StatusCode::kInvalidArgument);
}

TEST_CASE("prepared conditioning: forward_conditioned equals forward / forward_guided bit for bit") {
  const std::string id = "transformer/cfg_batch_neg_pos";
  auto dit = PixArtDiT::load(backend(), kTinyDiT);
  const WeightView& hs = reference().get(id + "/hidden_states");
  const WeightView& ehs = reference().get(id + "/encoder_hidden_states");
  const int64_t C = hs.shape[1], H = hs.shape[2], W = hs.shape[3];
  const std::vector<float> lat = ref_f32(id + "/hidden_states");
  DiTInputs in;
  in.latents = upload(lat, hs.shape);
  in.timesteps = ref_i64(id + "/timestep");
  in.text = upload(ref_f32(id + "/encoder_hidden_states"), ehs.shape);
  in.text_mask = ref_i64(id + "/encoder_attention_mask");
  in.resolution = ref_f32(id + "/resolution");
  in.aspect_ratio = ref_f32(id + "/aspect_ratio");
  const DiTConditioning cond = dit->prepare_conditioning(in.text, in.text_mask, in.resolution, in.aspect_ratio);
  CHECK(cond.batch == 2);
  CHECK(cond.text.shape == Shape{2, ehs.shape[1], dit->config().inner_dim()});  // caption-projected
  // unguided: the whole model batch
  CHECK(host(dit->forward_conditioned(in.latents, in.timesteps, cond)) == host(dit->forward(in)));
  // guided: one sample
  DiTInputs half = in;
  half.latents = upload(std::vector<float>(lat.begin(), lat.begin() + C * H * W), {1, C, H, W});
  const float g = 4.5f;
  CHECK(host(dit->forward_conditioned(half.latents, in.timesteps, cond, &g, C)) == host(dit->forward_guided(half, g, C)));
  // the batch must match the conditioning's; bad text is caught when preparing
  CHECK(status_of([&] { dit->forward_conditioned(half.latents, in.timesteps, cond); }).code() == StatusCode::kInvalidArgument);
  CHECK(status_of([&] { dit->forward_conditioned(in.latents, {1.f}, cond); }).code() == StatusCode::kInvalidArgument);
  CHECK(status_of([&] { dit->prepare_conditioning(in.text, {1.f, 0.f}, in.resolution, in.aspect_ratio); }).code() ==
        StatusCode::kInvalidArgument);
}

TEST_CASE("recorded steps: a conditioning's recording gives the plain calls' values and counts its calls") {
  auto dit = PixArtDiT::load(backend(), kTinyDiT);
  REQUIRE(dit->config().use_additional_conditions);
  const int64_t B = 1, C = 4, H = 8, W = 6, L = 5;
  const Tensor text = upload(random_values(2 * B * L * 64, 3), {2 * B, L, 64});
  std::vector<float> mask(2 * B * L, 1.f);
  mask[L - 1] = 0.f;
  const std::vector<float> res = {64.f, 48.f, 64.f, 48.f}, ar = {4.f / 3.f, 4.f / 3.f};
  const DiTConditioning plain = dit->prepare_conditioning(text, mask, res, ar);
  const DiTConditioning rec = dit->prepare_conditioning(text, mask, res, ar, true);
  CHECK_FALSE(plain.steps);
  REQUIRE(rec.steps);
  const float scale = 4.5f;
  // Every step new latents and a new timestep: a recording that kept the first step's inputs fails this.
  for (int step = 0; step < 4; step++) {
    const Tensor z = upload(random_values(B * C * H * W, 20 + step), {B, C, H, W});
    const std::vector<float> t(2 * B, 999.f - 211.f * float(step));
    const std::vector<float> want = host(dit->forward_conditioned(z, t, plain, &scale, C));
    const std::vector<float> got = host(dit->forward_conditioned(z, t, rec, &scale, C));
    CAPTURE(step);
    CHECK(got == want);
  }
  DiTStepStats st = rec.steps->stats();
  CHECK(st.plain == 1);       // the warm-up call
  CHECK(st.recordings == 1);  // then one recording served the other three
  CHECK(st.runs == 3);
  CHECK_FALSE(st.recorded);   // the CPU backend runs the ops of every step
  CHECK(st.reason.find("does not record") != std::string::npos);

  // Another guidance scale is another step: a warm-up call, then a new recording.
  const float other = 2.f;
  for (int step = 0; step < 2; step++) {
    const Tensor z = upload(random_values(B * C * H * W, 40 + step), {B, C, H, W});
    const std::vector<float> t(2 * B, 500.f - 100.f * float(step));
    CHECK(host(dit->forward_conditioned(z, t, rec, &other, C)) == host(dit->forward_conditioned(z, t, plain, &other, C)));
  }
  st = rec.steps->stats();
  CHECK(st.plain == 2);
  CHECK(st.recordings == 2);
  CHECK(st.runs == 4);

  // Without guidance the model batch is the 2B rows of the conditioning.
  const Tensor z2 = upload(random_values(2 * B * C * H * W, 50), {2 * B, C, H, W});
  const std::vector<float> t2 = {300.f, 300.f};
  const std::vector<float> a = host(dit->forward_conditioned(z2, t2, plain));
  CHECK(host(dit->forward_conditioned(z2, t2, rec)) == a);
  CHECK(host(dit->forward_conditioned(z2, t2, rec)) == a);
  st = rec.steps->stats();
  CHECK(st.plain == 3);
  CHECK(st.runs == 5);
}

TEST_CASE("recorded steps: run() checks its inputs against the recorded shapes") {
  int calls = 0;
  std::string why;
  auto g = backend().record_step({{2, 3}}, [&](const std::vector<Tensor>& in) {
    calls++;
    return std::vector<Tensor>{backend().scale(in[0], 2.f)};
  }, &why);
  REQUIRE(g);
  CHECK_FALSE(g->recorded());
  CHECK_FALSE(why.empty());
  const std::vector<float> x = {1, 2, 3, 4, 5, 6};
  CHECK(host(g->run({upload(x, {2, 3})})[0]) == std::vector<float>{2, 4, 6, 8, 10, 12});
  CHECK(calls == 1);
  Status st = status_of([&] { g->run({upload(x, {3, 2})}); });
  CHECK(st.code() == StatusCode::kInvalidArgument);
  CHECK(st.message().find("recorded as [2,3]") != std::string::npos);
  st = status_of([&] { g->run({}); });
  CHECK(st.code() == StatusCode::kInvalidArgument);
  CHECK(calls == 1);
}
