// T5 encoder: the tiny fixture against transformers' reference outputs, a synthetic T5 of
// another shape against a naive float64 forward written out here, and bad inputs.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "core/quant.h"
#include "core/status.h"
#include "core/weights.h"
#include "models/t5/t5_encoder.h"
#include "test_support.h"

namespace fs = std::filesystem;
using namespace pixart;

namespace {

using test::backend;
using test::check_close;
using test::host;

const std::string kFixture = test::fixtures_dir() + "/pixart-tiny";

std::vector<float> read_f32(const WeightStore& s, const std::string& key) { return test::read_f32(s.get(key)); }
// Reference ids and masks are int64; the engine takes int32.
std::vector<int32_t> read_i64(const WeightStore& s, const std::string& key) { return test::read_i64<int32_t>(s.get(key)); }

std::vector<float> slice(const std::vector<float>& v, size_t row, size_t row_size) {
  return std::vector<float>(v.begin() + row * row_size, v.begin() + (row + 1) * row_size);
}

}  // namespace

TEST_CASE("relative position buckets match transformers at every edge") {
  // torch: T5Attention._relative_position_bucket(rp, bidirectional=True, 32, 128)
  const std::vector<int64_t> rp = {-1000, -128, -127, -91, -90, -64, -63, -46, -45, -32, -31, -23, -22, -16,
                                   -15,   -12,  -11,  -9,  -8,  -7,  -1,  0,   1,   7,   8,   11,  12,  15,
                                   16,    22,   23,   31,  32,  45,  46,  63,  64,  90,  91,  127, 128, 1000};
  const std::vector<int64_t> torch = {15, 15, 15, 15, 14, 14, 13, 13, 12, 12, 11, 11, 10, 10, 9,  9,  8,  8,  8,  7,  1,
                                      0,  17, 23, 24, 24, 25, 25, 26, 26, 27, 27, 28, 28, 29, 29, 30, 30, 31, 31, 31, 31};
  for (size_t i = 0; i < rp.size(); i++) {
    CHECK_MESSAGE(t5_relative_position_bucket(rp[i], true, 32, 128) == torch[i], "relative position " << rp[i]);
  }
}

TEST_CASE("tiny fixture: text_encoder/batch matches transformers") {
  auto enc = T5Encoder::load(backend(), kFixture + "/text_encoder");
  const T5Config& c = enc->config();
  CHECK(c.d_model == 64);
  CHECK(c.is_gated_act);
  CHECK(c.dense_act_fn == "gelu_new");
  CHECK(c.dtype == "float32");

  const auto ref = WeightStore::open(kFixture + "/reference/text_encoder.safetensors");
  const auto ids = read_i64(ref, "text_encoder/batch/input_ids");
  const auto mask = read_i64(ref, "text_encoder/batch/attention_mask");
  const auto expected = read_f32(ref, "text_encoder/batch/last_hidden_state");
  Tensor out = enc->encode(ids.data(), mask.data(), 3, 120);
  CHECK(out.shape == Shape{3, 120, 64});
  check_close(host(out), expected, "text_encoder/batch last_hidden_state");

  // Same length again: the cached position bias must give the same answer.
  Tensor again = enc->encode(ids.data(), mask.data(), 3, 120);
  CHECK(host(again) == host(out));
}

TEST_CASE("embedding rows gathered on the host (what a GPU backend does) give the same output") {
  const auto ref = WeightStore::open(kFixture + "/reference/text_encoder.safetensors");
  const auto ids = read_i64(ref, "text_encoder/batch/input_ids");
  const auto mask = read_i64(ref, "text_encoder/batch/attention_mask");
  auto device_table = T5Encoder::load(backend(), kFixture + "/text_encoder");
  cpu::CpuBackend host_tables(2);
  host_tables.set_host_embedding_tables(true);
  auto host_table = T5Encoder::load(host_tables, kFixture + "/text_encoder");
  CHECK_FALSE(host_table->embed_tokens().defined());  // no table on the backend
  CHECK(host(host_table->encode(ids.data(), mask.data(), 3, 120)) == host(device_table->encode(ids.data(), mask.data(), 3, 120)));
  std::vector<int32_t> bad(ids.begin(), ids.begin() + 4);
  bad[2] = int32_t(host_table->config().vocab_size);
  const Status s = guarded([&] { host_table->encode(bad.data(), nullptr, 1, 4); });
  CHECK(s.code() == StatusCode::kInvalidArgument);
  CHECK(s.message().find("outside the vocabulary") != std::string::npos);
  bad[2] = -1;
  CHECK(guarded([&] { host_table->encode(bad.data(), nullptr, 1, 4); }).code() == StatusCode::kInvalidArgument);
}

TEST_CASE("tiny fixture quantised at load: int8 and int4 weights stay close to float32") {
  const auto ref = WeightStore::open(kFixture + "/reference/text_encoder.safetensors");
  const auto ids = read_i64(ref, "text_encoder/batch/input_ids");
  const auto mask = read_i64(ref, "text_encoder/batch/attention_mask");
  const auto expected = read_f32(ref, "text_encoder/batch/last_hidden_state");
  struct Q {
    WeightQuant q;
    double min_cosine;
  };
  // The tiny model (d_model 64: one int4 group per row, 2 layers of random weights) is a harsh case
  // for int4; measured: int8 cosine 0.99966; int4 (every linear) 0.9494; int4-mixed 0.9677 (with
  // t5_linear_quant's int8 exceptions: block 0 all but q/k, block 1 v/o).
  for (const Q& c : {Q{WeightQuant::kInt8, 0.999}, Q{WeightQuant::kInt4, 0.93}, Q{WeightQuant::kInt4Mixed, 0.96}}) {
    auto enc = T5Encoder::load(backend(), kFixture + "/text_encoder", "", c.q);
    const std::vector<float> got = host(enc->encode(ids.data(), mask.data(), 3, 120));
    REQUIRE(got.size() == expected.size());
    double dot = 0, ng = 0, nr = 0, max_abs = 0;
    for (size_t i = 0; i < got.size(); i++) {
      dot += double(got[i]) * expected[i];
      ng += double(got[i]) * got[i];
      nr += double(expected[i]) * expected[i];
      max_abs = std::max(max_abs, std::fabs(double(got[i]) - expected[i]));
    }
    const double cosine = dot / std::sqrt(ng * nr);
    MESSAGE(weight_quant_name(c.q) << ": cosine " << cosine << ", max abs " << max_abs);
    CHECK(cosine >= c.min_cosine);
    CHECK(max_abs > 0);  // the weights really were rounded
  }
}

TEST_CASE("int4-mixed keeps v/o, the first half's non-q/k and the first sixth's linears in int8") {
  using L = T5Linear;
  const L kinds[] = {L::kQ, L::kK, L::kV, L::kO, L::kWi, L::kWo};
  for (WeightQuant q : {WeightQuant::kNone, WeightQuant::kInt8, WeightQuant::kInt4})
    for (int64_t b = 0; b < 24; b++)
      for (L k : kinds) CHECK(t5_linear_quant(q, k, b, 24) == q);
  // T5-XXL, 24 blocks: 0-3 all int8; 4-11 q/k int4, the rest int8; 12-23 v/o int8, the rest int4.
  auto expect24 = [](L k, int64_t b) {
    if (b < 4 || k == L::kV || k == L::kO) return WeightQuant::kInt8;
    if (b < 12 && k != L::kQ && k != L::kK) return WeightQuant::kInt8;
    return WeightQuant::kInt4;
  };
  for (int64_t b = 0; b < 24; b++)
    for (L k : kinds) CHECK_MESSAGE(t5_linear_quant(WeightQuant::kInt4Mixed, k, b, 24) == expect24(k, b), "block " << b);
  // Two blocks (the tiny fixture): no block is all int8; block 0 int8 but q/k, block 1 only v/o.
  for (L k : kinds) {
    const bool qk = k == L::kQ || k == L::kK, vo = k == L::kV || k == L::kO;
    CHECK(t5_linear_quant(WeightQuant::kInt4Mixed, k, 0, 2) == (qk ? WeightQuant::kInt4 : WeightQuant::kInt8));
    CHECK(t5_linear_quant(WeightQuant::kInt4Mixed, k, 1, 2) == (vo ? WeightQuant::kInt8 : WeightQuant::kInt4));
  }
  // One block: v/o int8, the rest int4.
  CHECK(t5_linear_quant(WeightQuant::kInt4Mixed, L::kWi, 0, 1) == WeightQuant::kInt4);
  CHECK(t5_linear_quant(WeightQuant::kInt4Mixed, L::kO, 0, 1) == WeightQuant::kInt8);
}

TEST_CASE("tiny fixture: encode_prompt embeddings (pipeline-tokenized ids)") {
  auto enc = T5Encoder::load(backend(), kFixture + "/text_encoder");
  const auto ref = WeightStore::open(kFixture + "/reference/encode_prompt.safetensors");
  const auto tok = WeightStore::open(kFixture + "/reference/tokenizer.safetensors");
  const int64_t L = 120, D = 64;

  // Prompt 0 (the cactus) is tokenizer/00 in cases.json. The other two were tokenized with the
  // fixture's T5 tokenizer; their lengths agree with the stored masks (13 and 9 tokens).
  auto cactus = read_i64(tok, "tokenizer/00/clean_caption_false/input_ids");
  auto pad = [&](std::vector<int32_t> v) {
    v.resize(size_t(L), 0);
    return v;
  };
  const auto astronaut = pad({46, 30059, 7494, 3, 9, 4952, 30, 8113, 6, 1202, 6644, 3040, 1});
  const auto fox = pad({3, 9, 1131, 3, 20400, 16, 8, 2983, 1});

  {
    std::vector<int32_t> ids = cactus;
    ids.insert(ids.end(), astronaut.begin(), astronaut.end());
    const auto mask = read_i64(ref, "encode_prompt/two_prompts/prompt_attention_mask");
    Tensor out = enc->encode(ids.data(), mask.data(), 2, L);
    check_close(host(out), read_f32(ref, "encode_prompt/two_prompts/prompt_embeds"), "two_prompts prompt_embeds");
  }
  {
    const auto mask = read_i64(ref, "encode_prompt/num_images_per_prompt_2/prompt_attention_mask");
    const auto expected = read_f32(ref, "encode_prompt/num_images_per_prompt_2/prompt_embeds");
    Tensor out = enc->encode(fox.data(), mask.data(), 1, L);
    const auto got = host(out);
    for (size_t r = 0; r < 2; r++) check_close(got, slice(expected, r, size_t(L * D)), "num_images_per_prompt_2 row");
  }
  {
    // The empty negative prompt is [</s>, pad...] with mask [1, 0...].
    std::vector<int32_t> ids(static_cast<size_t>(L), 0), mask(static_cast<size_t>(L), 0);
    ids[0] = 1;
    mask[0] = 1;
    const auto stored_mask = read_i64(ref, "encode_prompt/two_prompts/negative_prompt_attention_mask");  // [2, L]
    CHECK(std::vector<int32_t>(stored_mask.begin(), stored_mask.begin() + L) == mask);
    const auto got = host(enc->encode(ids.data(), mask.data(), 1, L));
    const auto expected = read_f32(ref, "encode_prompt/two_prompts/negative_prompt_embeds");
    check_close(got, slice(expected, 1, size_t(L * D)), "negative_prompt_embeds");
  }
}

// ---------------------------------------------------------------------------------------------
// A synthetic T5 of another shape, written to a temp folder, checked against a float64 forward.

namespace {

fs::path tmpdir() {
  static fs::path d = [] {
    fs::path p = fs::temp_directory_path() / ("pixart_t5_test_" + std::to_string(::getpid()));
    fs::create_directories(p);
    return p;
  }();
  return d;
}

struct SynthT5 {
  int64_t vocab = 50, d_model = 32, heads = 3, d_kv = 8, d_ff = 48, layers = 3, buckets = 8, max_distance = 12;
  std::string proj = "gated-gelu";
  std::map<std::string, std::pair<Shape, std::vector<float>>> tensors;  // checkpoint key -> (shape, values)

  void add(const std::string& key, const Shape& shape, float mean, float stddev, std::mt19937& g) {
    std::normal_distribution<float> d(mean, stddev);
    std::vector<float> v(static_cast<size_t>(numel(shape)));
    for (auto& x : v) x = d(g);
    tensors[key] = {shape, v};
  }
  const std::vector<float>& t(const std::string& key) const { return tensors.at(key).second; }

  // Random weights like the fixture's: linears N(0, 1/fan_in), norms 1+N(0, 0.1^2).
  void randomize(uint32_t seed) {
    std::mt19937 g(seed);
    const int64_t I = heads * d_kv;
    add("shared.weight", {vocab, d_model}, 0, 1, g);
    add("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", {buckets, heads}, 0, 0.5f, g);
    for (int64_t l = 0; l < layers; l++) {
      const std::string p = "encoder.block." + std::to_string(l) + ".";
      for (const char* n : {"q", "k", "v"}) add(p + "layer.0.SelfAttention." + n + ".weight", {I, d_model}, 0, 1 / std::sqrt(float(d_model)), g);
      add(p + "layer.0.SelfAttention.o.weight", {d_model, I}, 0, 1 / std::sqrt(float(I)), g);
      add(p + "layer.0.layer_norm.weight", {d_model}, 1, 0.1f, g);
      if (proj.rfind("gated-", 0) == 0) {
        for (const char* n : {"wi_0", "wi_1"}) add(p + "layer.1.DenseReluDense." + n + ".weight", {d_ff, d_model}, 0, 1 / std::sqrt(float(d_model)), g);
      } else {
        add(p + "layer.1.DenseReluDense.wi.weight", {d_ff, d_model}, 0, 1 / std::sqrt(float(d_model)), g);
      }
      add(p + "layer.1.DenseReluDense.wo.weight", {d_model, d_ff}, 0, 1 / std::sqrt(float(d_ff)), g);
      add(p + "layer.1.layer_norm.weight", {d_model}, 1, 0.1f, g);
    }
    add("encoder.final_layer_norm.weight", {d_model}, 1, 0.1f, g);
  }

  // config.json (4.x style: torch_dtype) + model.safetensors (f32) into a fresh folder.
  fs::path write(const std::string& name) const {
    fs::path dir = tmpdir() / name;
    fs::remove_all(dir);
    fs::create_directories(dir);
    std::ofstream(dir / "config.json")
        << "{\"architectures\":[\"T5EncoderModel\"],\"vocab_size\":" << vocab << ",\"d_model\":" << d_model
        << ",\"d_kv\":" << d_kv << ",\"d_ff\":" << d_ff << ",\"num_layers\":" << layers << ",\"num_heads\":" << heads
        << ",\"relative_attention_num_buckets\":" << buckets << ",\"relative_attention_max_distance\":" << max_distance
        << ",\"layer_norm_epsilon\":1e-6,\"feed_forward_proj\":\"" << proj << "\",\"torch_dtype\":\"float32\"}";
    std::string header = "{", data;
    for (const auto& [key, tv] : tensors) {
      std::string shape;
      for (int64_t d : tv.first) shape += (shape.empty() ? "" : ",") + std::to_string(d);
      const size_t begin = data.size();
      data.append(reinterpret_cast<const char*>(tv.second.data()), tv.second.size() * sizeof(float));
      header += (header.size() > 1 ? "," : "") + std::string("\"") + key + "\":{\"dtype\":\"F32\",\"shape\":[" + shape +
                "],\"data_offsets\":[" + std::to_string(begin) + "," + std::to_string(data.size()) + "]}";
    }
    header += "}";
    std::ofstream f(dir / "model.safetensors", std::ios::binary);
    const uint64_t n = header.size();
    f.write(reinterpret_cast<const char*>(&n), 8);
    f << header << data;
    return dir;
  }

  // The T5 encoder written out in float64 loops, straight from the transformers math.
  std::vector<double> forward(const std::vector<int32_t>& ids, const std::vector<int32_t>& mask, int64_t B,
                              int64_t L) const {
    const int64_t D = d_model, H = heads, K = d_kv, I = H * K, F = d_ff;
    auto rms = [&](const std::vector<double>& x, const std::vector<float>& w) {
      std::vector<double> y(x.size());
      for (int64_t r = 0; r < B * L; r++) {
        double ss = 0;
        for (int64_t j = 0; j < D; j++) ss += x[r * D + j] * x[r * D + j];
        const double inv = 1 / std::sqrt(ss / D + 1e-6);
        for (int64_t j = 0; j < D; j++) y[r * D + j] = w[j] * x[r * D + j] * inv;
      }
      return y;
    };
    auto lin = [&](const std::vector<double>& x, const std::vector<float>& w, int64_t N, int64_t Kin) {
      std::vector<double> y(static_cast<size_t>(B * L * N));
      for (int64_t r = 0; r < B * L; r++)
        for (int64_t n = 0; n < N; n++) {
          double s = 0;
          for (int64_t k = 0; k < Kin; k++) s += x[r * Kin + k] * w[n * Kin + k];
          y[r * N + n] = s;
        }
      return y;
    };
    const bool gated = proj.rfind("gated-", 0) == 0;
    const std::string act_name = gated ? proj.substr(6) : proj;
    auto act = [&](double v) {
      if (act_name == "gelu" && !gated) return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));  // gated-gelu is gelu_new
      if (act_name == "relu") return v > 0 ? v : 0.0;
      return 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
    };
    std::vector<double> x(static_cast<size_t>(B * L * D));
    const auto& emb = t("shared.weight");
    for (int64_t r = 0; r < B * L; r++)
      for (int64_t j = 0; j < D; j++) x[r * D + j] = emb[ids[r] * D + j];
    const auto& rel = t("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight");
    for (int64_t l = 0; l < layers; l++) {
      const std::string p = "encoder.block." + std::to_string(l) + ".";
      const auto h = rms(x, t(p + "layer.0.layer_norm.weight"));
      const auto q = lin(h, t(p + "layer.0.SelfAttention.q.weight"), I, D);
      const auto k = lin(h, t(p + "layer.0.SelfAttention.k.weight"), I, D);
      const auto v = lin(h, t(p + "layer.0.SelfAttention.v.weight"), I, D);
      std::vector<double> a(static_cast<size_t>(B * L * I), 0.0);
      for (int64_t b = 0; b < B; b++)
        for (int64_t hh = 0; hh < H; hh++)
          for (int64_t i = 0; i < L; i++) {
            std::vector<double> w(static_cast<size_t>(L));
            double mx = -1e300, sum = 0;
            for (int64_t j = 0; j < L; j++) {
              if (!mask[b * L + j]) continue;  // masked keys get exactly zero weight
              double s = 0;
              for (int64_t c = 0; c < K; c++) s += q[(b * L + i) * I + hh * K + c] * k[(b * L + j) * I + hh * K + c];
              s += rel[t5_relative_position_bucket(j - i, true, buckets, max_distance) * H + hh];
              w[j] = s;
              mx = std::max(mx, s);
            }
            for (int64_t j = 0; j < L; j++) sum += mask[b * L + j] ? (w[j] = std::exp(w[j] - mx)) : (w[j] = 0);
            for (int64_t j = 0; j < L; j++)
              for (int64_t c = 0; c < K; c++) a[(b * L + i) * I + hh * K + c] += w[j] / sum * v[(b * L + j) * I + hh * K + c];
          }
      const auto o = lin(a, t(p + "layer.0.SelfAttention.o.weight"), D, I);
      for (size_t i = 0; i < x.size(); i++) x[i] += o[i];
      const auto h2 = rms(x, t(p + "layer.1.layer_norm.weight"));
      std::vector<double> inner;
      if (gated) {
        inner = lin(h2, t(p + "layer.1.DenseReluDense.wi_0.weight"), F, D);
        const auto up = lin(h2, t(p + "layer.1.DenseReluDense.wi_1.weight"), F, D);
        for (size_t i = 0; i < inner.size(); i++) inner[i] = act(inner[i]) * up[i];
      } else {
        inner = lin(h2, t(p + "layer.1.DenseReluDense.wi.weight"), F, D);
        for (auto& z : inner) z = act(z);
      }
      const auto f = lin(inner, t(p + "layer.1.DenseReluDense.wo.weight"), D, F);
      for (size_t i = 0; i < x.size(); i++) x[i] += f[i];
    }
    return rms(x, t("encoder.final_layer_norm.weight"));
  }
};

StatusCode code_of(const std::function<void()>& fn) { return guarded(fn).code(); }
std::string message_of(const std::function<void()>& fn) { return guarded(fn).message(); }

// Two sequences of 17 tokens (longer than max_exact, so log buckets are used); the second is padded.
void synthetic_inputs(const SynthT5& s, std::vector<int32_t>& ids, std::vector<int32_t>& mask, int64_t B, int64_t L) {
  std::mt19937 g(7);
  ids.resize(size_t(B * L));
  mask.assign(size_t(B * L), 1);
  for (auto& id : ids) id = int32_t(g() % uint32_t(s.vocab));
  for (int64_t j = 11; j < L; j++) mask[size_t(L + j)] = 0;
}

void check_against_naive(SynthT5& s, const std::string& name) {
  s.randomize(42);
  s.tensors["decoder.block.0.layer.0.SelfAttention.q.weight"] = {{2, 2}, {1, 2, 3, 4}};  // unknown: ignored
  auto enc = T5Encoder::load(backend(), s.write(name).string());
  const int64_t B = 2, L = 17;
  std::vector<int32_t> ids, mask;
  synthetic_inputs(s, ids, mask, B, L);
  Tensor out = enc->encode(ids.data(), mask.data(), B, L);
  REQUIRE(out.shape == Shape{B, L, s.d_model});
  const auto ref = s.forward(ids, mask, B, L);
  check_close(host(out), std::vector<float>(ref.begin(), ref.end()), name);

  // A new length must rebuild the cached position bias.
  const int64_t L2 = 5;
  std::vector<int32_t> ids2(ids.begin(), ids.begin() + B * L2), mask2(static_cast<size_t>(B * L2), 1);
  mask2.back() = 0;
  const auto ref2 = s.forward(ids2, mask2, B, L2);
  check_close(host(enc->encode(ids2.data(), mask2.data(), B, L2)), std::vector<float>(ref2.begin(), ref2.end()),
              name + " at length 5");
}

}  // namespace

TEST_CASE("synthetic T5 (d_model 32, 3 heads x 8, d_ff 48, 3 layers, gated-gelu) matches a float64 forward") {
  SynthT5 s;
  check_against_naive(s, "gated");
}

TEST_CASE("synthetic T5 with relu and gated-relu feed-forwards (T5 v1.0's default) matches a float64 forward") {
  for (const char* proj : {"relu", "gated-relu"}) {
    SynthT5 s;
    s.proj = proj;
    check_against_naive(s, proj);
  }
}

TEST_CASE("synthetic T5 of 6 blocks loaded with int4-mixed: each linear quantised as t5_linear_quant says") {
  // The int4-mixed load against the float32 load of a checkpoint whose linears were replaced on the host
  // by their dequantised values (core/quant), chosen per linear: equal to the last bit on the CPU
  // backend (it keeps q * s as dense float32). Block 0 is all int8, 1-2 all but q/k, 3-5 only v/o.
  SynthT5 s;
  s.d_model = 64;
  s.d_ff = 96;
  s.heads = 4;
  s.d_kv = 16;
  s.layers = 6;
  s.randomize(43);
  const int64_t B = 2, L = 17;
  std::vector<int32_t> ids, mask;
  synthetic_inputs(s, ids, mask, B, L);
  auto encode = [&](const SynthT5& t, const std::string& name, WeightQuant q) {
    auto enc = T5Encoder::load(backend(), t.write(name).string(), "", q);
    return host(enc->encode(ids.data(), mask.data(), B, L));
  };
  const std::pair<const char*, T5Linear> linears[] = {
      {"layer.0.SelfAttention.q.weight", T5Linear::kQ},      {"layer.0.SelfAttention.k.weight", T5Linear::kK},
      {"layer.0.SelfAttention.v.weight", T5Linear::kV},      {"layer.0.SelfAttention.o.weight", T5Linear::kO},
      {"layer.1.DenseReluDense.wi_0.weight", T5Linear::kWi}, {"layer.1.DenseReluDense.wi_1.weight", T5Linear::kWi},
      {"layer.1.DenseReluDense.wo.weight", T5Linear::kWo}};
  // The checkpoint with every block linear replaced by its dequantised value under choose(kind, block).
  auto replaced = [&](const std::function<WeightQuant(T5Linear, int64_t)>& choose) {
    SynthT5 r = s;
    for (int64_t b = 0; b < s.layers; b++)
      for (const auto& [suffix, kind] : linears) {
        auto& [shape, v] = r.tensors.at("encoder.block." + std::to_string(b) + "." + suffix);
        v = dequantize_weight(quantize_weight(v.data(), shape[0], shape[1], choose(kind, b)));
      }
    return r;
  };
  const auto got = encode(s, "int4_policy", WeightQuant::kInt4Mixed);
  int int8 = 0;
  const auto expect = encode(replaced([&](T5Linear k, int64_t b) {
                               const WeightQuant q = t5_linear_quant(WeightQuant::kInt4Mixed, k, b, s.layers);
                               int8 += q == WeightQuant::kInt8;
                               return q;
                             }),
                             "int4_policy_expected", WeightQuant::kNone);
  CHECK(int8 == 7 + 2 * 5 + 3 * 2);
  REQUIRE(got.size() == expect.size());
  CHECK(std::memcmp(got.data(), expect.data(), got.size() * sizeof(float)) == 0);
  // Really mixed: neither every linear in int4 nor every one in int8.
  for (WeightQuant all : {WeightQuant::kInt4, WeightQuant::kInt8}) {
    const auto uniform = encode(replaced([&](T5Linear, int64_t) { return all; }), "int4_policy_uniform", WeightQuant::kNone);
    CHECK(std::memcmp(got.data(), uniform.data(), got.size() * sizeof(float)) != 0);
  }
  // int8 and int4 are int8 / int4 everywhere.
  for (WeightQuant all : {WeightQuant::kInt8, WeightQuant::kInt4}) {
    const auto expected_all = encode(replaced([&](T5Linear, int64_t) { return all; }), "uniform_expected", WeightQuant::kNone);
    const auto loaded = encode(s, "uniform_load", all);
    CHECK(std::memcmp(loaded.data(), expected_all.data(), expected_all.size() * sizeof(float)) == 0);
  }
  // A backend is never handed the per-model choice itself.
  CHECK(guarded([&] { quantize_weight(s.tensors.begin()->second.second.data(), 1, 1, WeightQuant::kInt4Mixed); }).code() ==
        StatusCode::kInvalidArgument);
}

TEST_CASE("synthetic non-gated T5 with exact gelu and a separate encoder.embed_tokens") {
  SynthT5 s;
  s.proj = "gelu";
  s.d_model = 24;
  s.heads = 2;
  s.d_kv = 16;
  s.layers = 2;
  s.randomize(5);
  s.tensors["encoder.embed_tokens.weight"] = s.tensors["shared.weight"];
  auto enc = T5Encoder::load(backend(), s.write("nongated").string());
  CHECK_FALSE(enc->config().is_gated_act);
  CHECK(enc->config().activation == Activation::kGelu);
  CHECK(enc->config().dtype == "float32");
  const int64_t B = 2, L = 17;
  std::vector<int32_t> ids, mask;
  synthetic_inputs(s, ids, mask, B, L);
  const auto ref = s.forward(ids, mask, B, L);
  check_close(host(enc->encode(ids.data(), mask.data(), B, L)), std::vector<float>(ref.begin(), ref.end()), "non-gated");
  // No mask means every key is attended: same as an all-ones mask.
  std::vector<int32_t> ones(static_cast<size_t>(B * L), 1);
  CHECK(host(enc->encode(ids.data(), nullptr, B, L)) == host(enc->encode(ids.data(), ones.data(), B, L)));
}

TEST_CASE("a missing tensor or a wrong shape fails to load, naming the tensor") {
  SynthT5 s;
  s.randomize(1);
  s.tensors.erase("encoder.block.2.layer.1.DenseReluDense.wo.weight");
  const auto dir = s.write("missing").string();
  CHECK(code_of([&] { T5Encoder::load(backend(), dir); }) == StatusCode::kModelLoad);
  CHECK(message_of([&] { T5Encoder::load(backend(), dir); }).find("encoder.block.2.layer.1.DenseReluDense.wo.weight") !=
        std::string::npos);

  s.randomize(1);
  s.tensors["encoder.block.1.layer.0.SelfAttention.k.weight"].first = {32, 24};  // d_model x inner, transposed
  const auto dir2 = s.write("shape").string();
  const auto m = message_of([&] { T5Encoder::load(backend(), dir2); });
  CHECK(code_of([&] { T5Encoder::load(backend(), dir2); }) == StatusCode::kModelLoad);
  CHECK(m.find("tensor encoder.block.1.layer.0.SelfAttention.k.weight has shape [32,24], the config implies [24,32]") !=
        std::string::npos);
  CHECK(m.find("model.safetensors") != std::string::npos);
}

TEST_CASE("bad configs are refused") {
  SynthT5 s;
  s.randomize(1);
  s.proj = "mish";  // an activation the backend has no op for
  CHECK(code_of([&] { T5Encoder::load(backend(), s.write("mish").string()); }) == StatusCode::kUnsupported);
  s.proj = "gated-gelu-x";
  CHECK(code_of([&] { T5Encoder::load(backend(), s.write("badproj").string()); }) == StatusCode::kModelLoad);
  s.proj = "gated-gelu";
  s.heads = 0;
  CHECK(code_of([&] { T5Encoder::load(backend(), s.write("noheads").string()); }) == StatusCode::kModelLoad);
  CHECK(code_of([&] { T5Encoder::load(backend(), (tmpdir() / "does-not-exist").string()); }) == StatusCode::kModelLoad);
}

TEST_CASE("bad inputs: ids outside the vocabulary, empty batch, bad mask") {
  SynthT5 s;
  s.randomize(3);
  auto enc = T5Encoder::load(backend(), s.write("inputs").string());
  std::vector<int32_t> ids = {1, 2, 3, 4}, mask = {1, 1, 1, 0};
  CHECK(enc->encode(ids.data(), mask.data(), 2, 2).shape == Shape{2, 2, 32});
  ids[2] = int32_t(s.vocab);
  CHECK(code_of([&] { enc->encode(ids.data(), mask.data(), 2, 2); }) == StatusCode::kInvalidArgument);
  CHECK(message_of([&] { enc->encode(ids.data(), mask.data(), 2, 2); }).find("outside the vocabulary") != std::string::npos);
  ids[2] = -1;
  CHECK(code_of([&] { enc->encode(ids.data(), mask.data(), 2, 2); }) == StatusCode::kInvalidArgument);
  ids[2] = 3;
  CHECK(code_of([&] { enc->encode(ids.data(), mask.data(), 0, 2); }) == StatusCode::kInvalidArgument);
  CHECK(code_of([&] { enc->encode(ids.data(), mask.data(), 2, -1); }) == StatusCode::kInvalidArgument);
  CHECK(code_of([&] { enc->encode(nullptr, mask.data(), 2, 2); }) == StatusCode::kInvalidArgument);
  mask[1] = 2;
  CHECK(code_of([&] { enc->encode(ids.data(), mask.data(), 2, 2); }) == StatusCode::kInvalidArgument);
}
