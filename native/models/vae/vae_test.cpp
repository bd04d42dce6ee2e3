// AutoencoderKL: decode/encode against diffusers references for the tiny fixture VAE, a VAE of
// another shape built from its config alone, and the errors bad inputs and checkpoints give.
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "core/status.h"
#include "core/weights.h"
#include "models/vae/vae.h"
#include "test_support.h"

namespace fs = std::filesystem;
using namespace pixart;

namespace {
const std::string kFixture = test::fixtures_dir() + "/pixart-tiny";

using test::backend;
using test::host;

AutoencoderKL& fixture_vae() {
  static std::unique_ptr<AutoencoderKL> m = AutoencoderKL::load(backend(), kFixture + "/vae");
  return *m;
}

struct HostTensor {
  Shape shape;
  std::vector<float> data;
};

// A reference tensor from reference/vae.safetensors; keys are "<case id>/<name>" (cases.json).
HostTensor reference(const std::string& key) {
  static WeightStore store = WeightStore::open(kFixture + "/reference/vae.safetensors");
  const WeightView& w = store.get(key);
  return HostTensor{w.shape, test::read_f32(w)};
}

// The fixtures' tolerance (test::check_close) against a reference tensor.
double check_close(const std::vector<float>& got, const HostTensor& ref, const std::string& what) {
  return test::check_close(got, ref.data, what);
}

void check_decode_case(const std::string& id) {
  const HostTensor z = reference(id + "/decoder_input");
  const HostTensor sample = reference(id + "/sample");
  Tensor y = fixture_vae().decode(backend().from_host(z.data.data(), z.shape));
  CHECK(y.shape == sample.shape);
  check_close(host(y), sample, id + " sample");
}

void check_encode_case(const std::string& id) {
  const HostTensor image = reference(id + "/image");
  Tensor moments = fixture_vae().encode(backend().from_host(image.data.data(), image.shape));
  const LatentDistribution d = split_moments(backend(), moments);
  const HostTensor mean = reference(id + "/mean");
  CHECK(d.shape == mean.shape);
  check_close(d.mean, mean, id + " mean");
  check_close(d.logvar, reference(id + "/logvar"), id + " logvar");
  check_close(d.std, reference(id + "/std"), id + " std");
}

Status status_of(const std::function<void()>& fn) { return guarded(fn); }

// ---- a random-weight VAE of any shape, written the way diffusers saves one ----

struct TinyVaeSpec {
  int64_t in_channels = 2, out_channels = 5, latent_channels = 3;
  std::vector<int64_t> block_out_channels{16, 32, 32};
  int64_t layers_per_block = 2, norm_num_groups = 8;
  bool quant_convs = false, attention = true;
  std::string act_fn = "silu";
};

using ParamList = std::vector<std::pair<std::string, Shape>>;

// Every checkpoint tensor diffusers' AutoencoderKL has for `s`, written out independently of
// the model code so that a wrong derivation there fails to load.
ParamList vae_params(const TinyVaeSpec& s) {
  ParamList out;
  auto conv = [&](const std::string& p, int64_t in, int64_t o, int64_t k) {
    out.push_back({p + ".weight", {o, in, k, k}});
    out.push_back({p + ".bias", {o}});
  };
  auto norm = [&](const std::string& p, int64_t c) {
    out.push_back({p + ".weight", {c}});
    out.push_back({p + ".bias", {c}});
  };
  auto resnet = [&](const std::string& p, int64_t in, int64_t o) {
    norm(p + ".norm1", in);
    conv(p + ".conv1", in, o, 3);
    norm(p + ".norm2", o);
    conv(p + ".conv2", o, o, 3);
    if (in != o) conv(p + ".conv_shortcut", in, o, 1);
  };
  auto mid = [&](const std::string& p, int64_t c) {
    resnet(p + ".resnets.0", c, c);
    resnet(p + ".resnets.1", c, c);
    if (!s.attention) return;
    norm(p + ".attentions.0.group_norm", c);
    for (const char* l : {"to_q", "to_k", "to_v", "to_out.0"}) {
      out.push_back({p + ".attentions.0." + l + ".weight", {c, c}});
      out.push_back({p + ".attentions.0." + l + ".bias", {c}});
    }
  };
  const auto& ch = s.block_out_channels;
  const size_t n = ch.size();
  conv("encoder.conv_in", s.in_channels, ch[0], 3);
  for (size_t i = 0; i < n; i++) {
    const std::string p = "encoder.down_blocks." + std::to_string(i);
    for (int64_t j = 0; j < s.layers_per_block; j++) {
      resnet(p + ".resnets." + std::to_string(j), j == 0 ? ch[i == 0 ? 0 : i - 1] : ch[i], ch[i]);
    }
    if (i + 1 < n) conv(p + ".downsamplers.0.conv", ch[i], ch[i], 3);
  }
  mid("encoder.mid_block", ch[n - 1]);
  norm("encoder.conv_norm_out", ch[n - 1]);
  conv("encoder.conv_out", ch[n - 1], 2 * s.latent_channels, 3);
  conv("decoder.conv_in", s.latent_channels, ch[n - 1], 3);
  mid("decoder.mid_block", ch[n - 1]);
  for (size_t i = 0; i < n; i++) {
    const std::string p = "decoder.up_blocks." + std::to_string(i);
    const int64_t o = ch[n - 1 - i], prev = ch[i == 0 ? n - 1 : n - i];
    for (int64_t j = 0; j <= s.layers_per_block; j++) resnet(p + ".resnets." + std::to_string(j), j == 0 ? prev : o, o);
    if (i + 1 < n) conv(p + ".upsamplers.0.conv", o, o, 3);
  }
  norm("decoder.conv_norm_out", ch[0]);
  conv("decoder.conv_out", ch[0], s.out_channels, 3);
  if (s.quant_convs) {
    conv("quant_conv", 2 * s.latent_channels, 2 * s.latent_channels, 1);
    conv("post_quant_conv", s.latent_channels, s.latent_channels, 1);
  }
  return out;
}

std::string json_ints(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); i++) s += (i ? "," : "") + std::to_string(v[i]);
  return s + "]";
}

std::string json_strings(const std::string& name, size_t n) {
  std::string s = "[";
  for (size_t i = 0; i < n; i++) s += (i ? ",\"" : "\"") + name + "\"";
  return s + "]";
}

std::string vae_config_json(const TinyVaeSpec& s) {
  const bool q = s.quant_convs;
  return std::string("{\"_class_name\": \"AutoencoderKL\", \"act_fn\": \"") + s.act_fn + "\"" +
         ", \"block_out_channels\": " + json_ints(s.block_out_channels) +
         ", \"down_block_types\": " + json_strings("DownEncoderBlock2D", s.block_out_channels.size()) +
         ", \"up_block_types\": " + json_strings("UpDecoderBlock2D", s.block_out_channels.size()) +
         ", \"in_channels\": " + std::to_string(s.in_channels) + ", \"out_channels\": " + std::to_string(s.out_channels) +
         ", \"latent_channels\": " + std::to_string(s.latent_channels) +
         ", \"layers_per_block\": " + std::to_string(s.layers_per_block) +
         ", \"norm_num_groups\": " + std::to_string(s.norm_num_groups) + ", \"scaling_factor\": 0.5, \"shift_factor\": null" +
         ", \"use_quant_conv\": " + (q ? "true" : "false") + ", \"use_post_quant_conv\": " + (q ? "true" : "false") +
         ", \"mid_block_add_attention\": " + (s.attention ? "true" : "false") + "}";
}

// Writes config.json and diffusion_pytorch_model.safetensors (float32, seeded random values:
// weights N(0, 1/fan_in), biases N(0, 0.05^2), norm weights 1 + N(0, 0.1^2)) into a fresh folder.
// This process's scratch folder, removed when the tests exit.
const fs::path& scratch() {
  struct Scratch {
    fs::path path = fs::temp_directory_path() / ("pixart_vae_test_" + std::to_string(::getpid()));
    ~Scratch() {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  };
  static Scratch s;
  return s.path;
}

fs::path write_vae(const std::string& name, const TinyVaeSpec& s, const ParamList& params) {
  const fs::path dir = scratch() / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << vae_config_json(s);

  std::mt19937 g(1234);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::string header = "{", data;
  for (const auto& [key, shape] : params) {
    const int64_t n = numel(shape);
    const bool is_norm = key.find("norm") != std::string::npos && shape.size() == 1;
    const bool is_bias = key.size() > 5 && key.compare(key.size() - 5, 5, ".bias") == 0;
    const float sd = shape.size() > 1 ? 1.f / std::sqrt(float(n / shape[0])) : (is_norm && !is_bias ? 0.1f : 0.05f);
    std::vector<float> v(static_cast<size_t>(n));
    for (auto& x : v) x = (is_norm && !is_bias ? 1.f : 0.f) + sd * nd(g);
    if (header.size() > 1) header += ",";
    header += "\"" + key + "\":{\"dtype\":\"F32\",\"shape\":" + json_ints(shape) + ",\"data_offsets\":[" +
              std::to_string(data.size()) + "," + std::to_string(data.size() + v.size() * 4) + "]}";
    data.append(reinterpret_cast<const char*>(v.data()), v.size() * 4);
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');  // keeps the float data 8-byte aligned
  std::ofstream f(dir / "diffusion_pytorch_model.safetensors", std::ios::binary);
  const uint64_t len = header.size();
  f.write(reinterpret_cast<const char*>(&len), 8);
  f << header << data;
  return dir;
}

fs::path write_vae(const std::string& name, const TinyVaeSpec& s) { return write_vae(name, s, vae_params(s)); }

Tensor random_input(const Shape& shape, uint32_t seed) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> v(static_cast<size_t>(numel(shape)));
  for (auto& x : v) x = u(g);
  return backend().from_host(v.data(), shape);
}

bool all_finite(const Tensor& t) {
  for (float x : host(t))
    if (!std::isfinite(x)) return false;
  return true;
}
}  // namespace

TEST_CASE("fixture VAE config is read from config.json") {
  const VAEConfig& c = fixture_vae().config();
  CHECK(c.block_out_channels == std::vector<int64_t>{32, 64, 64, 64});
  CHECK(c.scale_factor() == 8);
  CHECK(c.latent_channels == 4);
  CHECK(c.norm_num_groups == 16);
  CHECK(c.layers_per_block == 1);
  CHECK(c.use_quant_conv);
  CHECK(c.use_post_quant_conv);
  CHECK(c.mid_block_add_attention);
  CHECK(c.scaling_factor == doctest::Approx(0.18215));
  CHECK(!c.shift_factor.has_value());
}

TEST_CASE("decode matches diffusers: vae/decode_8x8") { check_decode_case("vae/decode_8x8"); }
TEST_CASE("decode matches diffusers: vae/decode_8x12") { check_decode_case("vae/decode_8x12"); }
TEST_CASE("encode matches diffusers: vae/encode_64x64") { check_encode_case("vae/encode_64x64"); }
TEST_CASE("encode matches diffusers: vae/encode_64x96") { check_encode_case("vae/encode_64x96"); }

TEST_CASE("a batch decodes as its items do") {
  const HostTensor z = reference("vae/decode_8x8/decoder_input");
  std::vector<float> both = z.data;
  for (float x : z.data) both.push_back(-0.5f * x);
  const Shape one = z.shape;
  Shape two = one;
  two[0] = 2;
  const auto batch = host(fixture_vae().decode(backend().from_host(both.data(), two)));
  const auto first = host(fixture_vae().decode(backend().from_host(both.data(), one)));
  const auto second = host(fixture_vae().decode(backend().from_host(both.data() + z.data.size(), one)));
  REQUIRE(batch.size() == 2 * first.size());
  check_close(std::vector<float>(batch.begin(), batch.begin() + first.size()), {one, first}, "batch item 0");
  check_close(std::vector<float>(batch.begin() + first.size(), batch.end()), {one, second}, "batch item 1");
}

TEST_CASE("a VAE of another shape is built from its config alone") {
  TinyVaeSpec s;  // 3 blocks [16, 32, 32], 2 layers per block, 8 groups, in 2, out 5, latent 3, no quant convs
  auto vae = AutoencoderKL::load(backend(), write_vae("shape", s).string());
  CHECK(vae->config().scale_factor() == 4);
  CHECK_FALSE(vae->config().use_quant_conv);

  Tensor y = vae->decode(random_input({1, 3, 5, 7}, 1));
  CHECK(y.shape == Shape{1, 5, 20, 28});
  CHECK(all_finite(y));

  Tensor m = vae->encode(random_input({2, 2, 20, 28}, 2));
  CHECK(m.shape == Shape{2, 6, 5, 7});
  CHECK(all_finite(m));
  const LatentDistribution d = split_moments(backend(), m);
  CHECK(d.shape == Shape{2, 3, 5, 7});
  CHECK(d.mean.size() == 2 * 3 * 5 * 7);

  // Sizes that are not multiples of the scale factor shrink by floor at each stride-2 conv.
  CHECK(vae->encode(random_input({1, 2, 21, 30}, 3)).shape == Shape{1, 6, 5, 7});
}

TEST_CASE("quant convs, the mid-block attention and the encoder are optional") {
  TinyVaeSpec s;
  s.block_out_channels = {8, 16};
  s.layers_per_block = 1;
  s.norm_num_groups = 4;
  s.quant_convs = true;
  s.attention = false;
  s.act_fn = "gelu";
  auto vae = AutoencoderKL::load(backend(), write_vae("no_attention", s).string());
  CHECK(vae->decode(random_input({1, 3, 3, 4}, 4)).shape == Shape{1, 5, 6, 8});
  CHECK(vae->encode(random_input({1, 2, 6, 8}, 5)).shape == Shape{1, 6, 3, 4});

  // A decoder-only checkpoint loads with VAEParts::kDecoder and refuses to encode.
  ParamList decoder_only;
  for (auto& p : vae_params(s))
    if (p.first.rfind("encoder.", 0) != 0 && p.first.rfind("quant_conv.", 0) != 0) decoder_only.push_back(p);
  const auto dir = write_vae("decoder_only", s, decoder_only).string();
  CHECK(status_of([&] { AutoencoderKL::load(backend(), dir); }).code() == StatusCode::kModelLoad);
  auto dec = AutoencoderKL::load(backend(), dir, VAEParts::kDecoder);
  CHECK(dec->has_decoder());
  CHECK_FALSE(dec->has_encoder());
  CHECK(dec->decode(random_input({1, 3, 3, 4}, 4)).shape == Shape{1, 5, 6, 8});
  CHECK(status_of([&] { dec->encode(random_input({1, 2, 6, 8}, 5)); }).code() == StatusCode::kInvalidArgument);
}

TEST_CASE("bad inputs are rejected with the expected shape named") {
  AutoencoderKL& vae = fixture_vae();
  Status st = status_of([&] { vae.decode(random_input({1, 3, 8, 8}, 6)); });
  CHECK(st.code() == StatusCode::kInvalidArgument);
  CHECK(st.message().find("[B, 4, h, w]") != std::string::npos);
  CHECK(st.message().find("[1,3,8,8]") != std::string::npos);
  CHECK(status_of([&] { vae.decode(random_input({4, 8, 8}, 6)); }).code() == StatusCode::kInvalidArgument);

  st = status_of([&] { vae.encode(random_input({1, 4, 64, 64}, 7)); });
  CHECK(st.code() == StatusCode::kInvalidArgument);
  CHECK(st.message().find("[B, 3, H, W]") != std::string::npos);
  // Three stride-2 downsamples need at least 8 pixels per side.
  CHECK(status_of([&] { vae.encode(random_input({1, 3, 7, 64}, 8)); }).code() == StatusCode::kInvalidArgument);
  CHECK(status_of([&] { split_moments(backend(), random_input({1, 3, 2, 2}, 9)); }).code() ==
        StatusCode::kInvalidArgument);
}

TEST_CASE("bad checkpoints and configs fail at load, naming what is wrong") {
  TinyVaeSpec s;
  const std::string missing = "decoder.up_blocks.1.resnets.2.conv2.weight";
  ParamList params = vae_params(s);
  params.erase(std::remove_if(params.begin(), params.end(), [&](const auto& p) { return p.first == missing; }),
               params.end());
  Status st = status_of([&] { AutoencoderKL::load(backend(), write_vae("missing", s, params).string()); });
  CHECK(st.code() == StatusCode::kModelLoad);
  CHECK(st.message().find(missing) != std::string::npos);

  params = vae_params(s);
  for (auto& p : params)
    if (p.first == "encoder.conv_in.weight") p.second = {16, 3, 3, 3};
  st = status_of([&] { AutoencoderKL::load(backend(), write_vae("wrong_shape", s, params).string()); });
  CHECK(st.code() == StatusCode::kModelLoad);
  CHECK(st.message().find("encoder.conv_in.weight") != std::string::npos);
  CHECK(st.message().find("config implies [16,2,3,3]") != std::string::npos);

  TinyVaeSpec bad_groups = s;
  bad_groups.norm_num_groups = 5;
  st = status_of([&] { AutoencoderKL::load(backend(), write_vae("bad_groups", bad_groups).string()); });
  CHECK(st.code() == StatusCode::kModelLoad);
  CHECK(st.message().find("norm_num_groups") != std::string::npos);

  TinyVaeSpec bad_act = s;
  bad_act.act_fn = "mish";
  CHECK(status_of([&] { AutoencoderKL::load(backend(), write_vae("bad_act", bad_act).string()); }).code() ==
        StatusCode::kUnsupported);

  const fs::path dir = write_vae("attn_down_block", s);
  std::string cfg = vae_config_json(s);
  cfg.replace(cfg.find("DownEncoderBlock2D"), 18, "AttnDownEncoderBlock2D");
  std::ofstream(dir / "config.json") << cfg;
  st = status_of([&] { AutoencoderKL::load(backend(), dir.string()); });
  CHECK(st.code() == StatusCode::kUnsupported);
  CHECK(st.message().find("AttnDownEncoderBlock2D") != std::string::npos);

  CHECK(status_of([&] { AutoencoderKL::load(backend(), kFixture + "/transformer"); }).code() == StatusCode::kModelLoad);
  CHECK(status_of([&] { AutoencoderKL::load(backend(), kFixture + "/no_such_vae"); }).code() == StatusCode::kModelLoad);
}
