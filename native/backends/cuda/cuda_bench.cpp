// pixart_cuda_bench: full-size checks and timings of the CUDA backend on a GPU machine (a tool,
// not a test; bench/gpu/run.sh drives it). Never run in CI.
//
//   pixart_cuda_bench --model <transformer folder> --inputs <dir> [--threads N] [--sections check,bench,micro,t5,vae,memory,graph]
//
// <dir> holds what bench/gpu/dit_reference.py wrote: inputs (float32 .bin files) and diffusers'
// fp32 outputs on the same random weights. Sections:
//   check  the CPU backend (fp32) against diffusers' fp32 output, then the CUDA backend in f16,
//          bf16 and f32 (TF32 off) against the CPU backend: cosine and max|a-b|/max|ref|, at
//          1024x1024 and at a non-square bin (768x1344)
//   bench  f16 DiT forward at 1024x1024, batch 2 (CFG) and batch 8, and a 20-step CFG loop two
//          ways: host guidance (latents up, the 2B prediction down, guidance on the host), and as
//          the pipeline now drives it (conditioning prepared once, guidance on the device, only
//          the guided eps down), with the difference of their final latents
//   micro  the forward's ops one by one at the batch-2 1024x1024 shapes, with FLOP rates
// One JSON object per line on stdout (key "section"); a failed section prints {"error": ...}
// and the others still run.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "backends/cuda/cuda_abi.h"
#include "core/status.h"
#include "models/pixart_dit/pixart_dit.h"
#include "models/t5/t5_encoder.h"
#include "models/vae/vae.h"

using namespace pixart;

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

struct Args {
  std::string model, inputs, sections = "check,bench,micro";
  std::string t5, t5_inputs, vae, vae_inputs;
  int threads = 0;
  bool no_cpu = false;
};

// n values of T from a raw little-endian file.
template <class T>
std::vector<T> read_raw(const std::string& path, size_t n) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(StatusCode::kModelLoad, "cannot open " + path);
  std::vector<T> v(n);
  f.read(reinterpret_cast<char*>(v.data()), std::streamsize(n * sizeof(T)));
  if (size_t(f.gcount()) != n * sizeof(T)) fail(StatusCode::kModelLoad, path + ": expected " + std::to_string(n) + " values");
  return v;
}
std::vector<float> read_f32(const std::string& path, size_t n) { return read_raw<float>(path, n); }

struct Deleter {
  void operator()(Backend* b) const { pixart_cuda_destroy_backend(b); }
};
using CudaPtr = std::unique_ptr<Backend, Deleter>;

CudaPtr make_cuda(int compute) {
  char err[1024] = {0};
  int code = 0;
  Backend* b = pixart_cuda_create_backend(0, compute, 0, &code, err, sizeof err);
  if (!b) fail(StatusCode(code), std::string("creating the CUDA backend: ") + err);
  return CudaPtr(b);
}

void sync(Backend& be) {
  char err[512] = {0};
  int code = 0;
  if (pixart_cuda_synchronize(&be, &code, err, sizeof err) != 0) fail(StatusCode(code), err);
}

size_t peak_bytes(Backend& be) {
  PixartCudaMemoryStats s{};
  pixart_cuda_memory_stats(&be, &s);
  return s.peak_in_use;
}

std::vector<float> down(Backend& be, const Tensor& t) {
  std::vector<float> v(size_t(t.numel()));
  be.to_host(t, v.data());
  return v;
}

struct Diff {
  double rel = 0, cosine = 0, max_abs = 0;
  bool finite = true;
};
Diff diff(const std::vector<float>& got, const std::vector<float>& ref) {
  Diff d;
  double dot = 0, ng = 0, nr = 0, mr = 0;
  for (size_t i = 0; i < ref.size(); i++) {
    if (!std::isfinite(got[i])) d.finite = false;
    d.max_abs = std::max(d.max_abs, std::fabs(double(got[i]) - ref[i]));
    mr = std::max(mr, std::fabs(double(ref[i])));
    dot += double(got[i]) * ref[i];
    ng += double(got[i]) * got[i];
    nr += double(ref[i]) * ref[i];
  }
  d.rel = d.max_abs / std::max(mr, 1e-30);
  d.cosine = dot / std::sqrt(std::max(ng * nr, 1e-300));
  return d;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// The data dit_reference.py wrote: latents for the square and non-square cases, text [2, L, C]
// (row 0 unconditional, row 1 conditional), mask [2, L], diffusers' fp32 outputs for row 1.
struct Case {
  std::string name;
  int64_t h, w;  // latent size
  std::vector<float> latents, ref;
};
struct Data {
  int64_t L = 0, C = 0, out_c = 0;
  float timestep = 0;
  std::vector<float> text, mask;
  Case sq, ns;
};

Data load_data(const std::string& dir, const DiTConfig& cfg) {
  Data d;
  std::ifstream meta(dir + "/meta.txt");
  if (!meta) fail(StatusCode::kModelLoad, "no " + dir + "/meta.txt");
  meta >> d.L >> d.timestep >> d.sq.h >> d.sq.w >> d.ns.h >> d.ns.w;
  d.C = cfg.caption_channels > 0 ? cfg.caption_channels : cfg.cross_attention_dim;
  d.out_c = cfg.out_channels;
  d.text = read_f32(dir + "/text.bin", size_t(2 * d.L * d.C));
  d.mask = read_f32(dir + "/mask.bin", size_t(2 * d.L));
  for (Case* c : {&d.sq, &d.ns}) {
    c->name = c == &d.sq ? "square" : "nonsquare";
    c->latents = read_f32(dir + "/latents_" + c->name + ".bin", size_t(cfg.in_channels * c->h * c->w));
    c->ref = read_f32(dir + "/ref_" + c->name + ".bin", size_t(d.out_c * c->h * c->w));
  }
  return d;
}

// A batch of `B` rows: latents repeated, text/mask rows alternating uncond/cond (row 1 when B == 1).
DiTInputs make_inputs(Backend& be, const DiTConfig& cfg, const Data& d, const Case& c, int64_t B) {
  DiTInputs in;
  std::vector<float> lat, text, mask;
  const size_t ln = size_t(cfg.in_channels * c.h * c.w), tn = size_t(d.L * d.C);
  for (int64_t b = 0; b < B; b++) {
    const int64_t row = B == 1 ? 1 : b % 2;
    lat.insert(lat.end(), c.latents.begin(), c.latents.begin() + ln);
    text.insert(text.end(), d.text.begin() + row * tn, d.text.begin() + (row + 1) * tn);
    mask.insert(mask.end(), d.mask.begin() + row * d.L, d.mask.begin() + (row + 1) * d.L);
  }
  in.latents = be.from_host(lat.data(), {B, cfg.in_channels, c.h, c.w});
  in.text = be.from_host(text.data(), {B, d.L, d.C});
  in.text_mask = mask;
  in.timesteps.assign(size_t(B), d.timestep);
  if (cfg.use_additional_conditions) {
    for (int64_t b = 0; b < B; b++) {
      in.resolution.push_back(float(c.h * 8));
      in.resolution.push_back(float(c.w * 8));
      in.aspect_ratio.push_back(float(c.h) / float(c.w));
    }
  }
  return in;
}

void print_diff(const char* section, const std::string& what, const std::string& against, const Diff& d, double ms) {
  std::printf(
      "{\"section\":\"%s\",\"case\":\"%s\",\"against\":\"%s\",\"cosine\":%.7f,\"rel\":%.3e,\"max_abs\":%.3e,"
      "\"finite\":%s,\"ms\":%.1f}\n",
      section, what.c_str(), against.c_str(), d.cosine, d.rel, d.max_abs, d.finite ? "true" : "false", ms);
  std::fflush(stdout);
}

// ---------------------------------------------------------------- check

void section_check(const Args& a) {
  const DiTConfig cfg = DiTConfig::from_json(JsonConfig::load(a.model + "/config.json"));
  const Data d = load_data(a.inputs, cfg);
  const Case* cases[] = {&d.sq, &d.ns};
  // Our CPU fp32 output, unless --no-cpu 1 (then only diffusers' fp32 is the reference; the CPU
  // matched it in an earlier run).
  std::vector<float> cpu_out[2];
  if (!a.no_cpu) {
    cpu::CpuBackend cpu(a.threads);
    auto t0 = Clock::now();
    auto model = PixArtDiT::load(cpu, a.model);
    std::printf("{\"section\":\"check\",\"cpu_load_ms\":%.0f}\n", ms_since(t0));
    for (int i = 0; i < 2; i++) {
      t0 = Clock::now();
      cpu_out[i] = down(cpu, model->forward(make_inputs(cpu, cfg, d, *cases[i], 1)));
      print_diff("check", "cpu-f32 " + cases[i]->name, "diffusers-f32", diff(cpu_out[i], cases[i]->ref), ms_since(t0));
    }
  }
  const struct {
    const char* name;
    int compute;
  } modes[] = {{"cuda-f16", PIXART_CUDA_F16}, {"cuda-bf16", PIXART_CUDA_BF16}, {"cuda-f32", PIXART_CUDA_F32}};
  for (const auto& m : modes) {
    CudaPtr g = make_cuda(m.compute);
    auto gm = PixArtDiT::load(*g, a.model);
    for (int i = 0; i < 2; i++) {
      const Case& c = *cases[i];
      down(*g, gm->forward(make_inputs(*g, cfg, d, c, 1)));  // warm-up (kernels, plans, pool)
      const auto t0 = Clock::now();
      const std::vector<float> out = down(*g, gm->forward(make_inputs(*g, cfg, d, c, 1)));
      const double ms = ms_since(t0);
      if (!a.no_cpu) print_diff("check", std::string(m.name) + " " + c.name, "cpu-f32", diff(out, cpu_out[i]), ms);
      print_diff("check", std::string(m.name) + " " + c.name, "diffusers-f32", diff(out, c.ref), ms);
    }
  }
}

// ---------------------------------------------------------------- bench

void section_bench(const Args& a) {
  CudaPtr g = make_cuda(PIXART_CUDA_F16);
  auto t0 = Clock::now();
  auto model = PixArtDiT::load(*g, a.model);
  sync(*g);
  const DiTConfig cfg = model->config();
  const Data d = load_data(a.inputs, cfg);
  std::printf("{\"section\":\"bench\",\"load_ms\":%.0f,\"weights_bytes\":%zu}\n", ms_since(t0), peak_bytes(*g));

  // 3 warm-ups, then 15 timed forwards: GPU time (synchronised) and the host time to launch the
  // whole forward (what a CUDA graph of it would save at most).
  auto time_forward = [&](const DiTInputs& in, std::vector<double>& ts, std::vector<double>& enqueue) {
    for (int w = 0; w < 3; w++) down(*g, model->forward(in));
    for (int r = 0; r < 15; r++) {
      const auto start = Clock::now();
      Tensor y = model->forward(in);
      enqueue.push_back(ms_since(start));
      sync(*g);
      ts.push_back(ms_since(start));
    }
  };
  for (int64_t B : {2, 8}) {
    const DiTInputs in = make_inputs(*g, cfg, d, d.sq, B);
    std::vector<double> ts, enqueue;
    time_forward(in, ts, enqueue);
    std::printf("{\"section\":\"bench\",\"what\":\"dit forward 1024x1024\",\"batch\":%lld,\"median_ms\":%.2f,"
                "\"min_ms\":%.2f,\"host_enqueue_median_ms\":%.2f,\"peak_bytes\":%zu}\n",
                (long long)B, median(ts), *std::min_element(ts.begin(), ts.end()), median(enqueue), peak_bytes(*g));
    std::fflush(stdout);
  }
  // Smaller images at batch 2: where the host's launch time nears the GPU time, a CUDA graph of
  // the step would pay; the enqueue figure says how close it is.
  for (int64_t side : {64, 32}) {
    Case c{std::to_string(side * 8), side, side, {}, {}};
    c.latents.assign(d.sq.latents.begin(), d.sq.latents.begin() + size_t(cfg.in_channels * side * side));
    const DiTInputs in = make_inputs(*g, cfg, d, c, 2);
    std::vector<double> ts, enqueue;
    time_forward(in, ts, enqueue);
    std::printf("{\"section\":\"bench\",\"what\":\"dit forward %lldx%lld\",\"batch\":2,\"median_ms\":%.3f,"
                "\"host_enqueue_median_ms\":%.3f}\n",
                (long long)(side * 8), (long long)(side * 8), median(ts), median(enqueue));
    std::fflush(stdout);
  }

  // 20 steps with CFG, driven like the pipeline: latents (f32 on the host) go up, the noise
  // prediction comes down, guidance and a first-order update run on the host.
  const int64_t C = cfg.in_channels, H = d.sq.h, W = d.sq.w, n = C * H * W;
  std::vector<double> loops;
  std::vector<float> host_final;  // its final latents, compared with the device-guidance loop below
  for (int rep = 0; rep < 4; rep++) {
    std::vector<float> lat(d.sq.latents), pred(size_t(2 * cfg.out_channels * H * W)), two(size_t(2 * n));
    t0 = Clock::now();
    for (int step = 0; step < 20; step++) {
      std::copy(lat.begin(), lat.end(), two.begin());
      std::copy(lat.begin(), lat.end(), two.begin() + n);
      DiTInputs in = make_inputs(*g, cfg, d, d.sq, 2);
      in.latents = g->from_host(two.data(), {2, C, H, W});
      in.timesteps.assign(2, 999.f - 50.f * step);
      g->to_host(model->forward(in), pred.data());
      const float* u = pred.data();
      const float* c = pred.data() + cfg.out_channels * H * W;
      for (int64_t k = 0; k < n; k++) lat[size_t(k)] -= 0.05f * (u[k] + 4.5f * (c[k] - u[k]));
    }
    if (rep > 0) loops.push_back(ms_since(t0));  // rep 0 warms up
    host_final = lat;
  }
  std::printf("{\"section\":\"bench\",\"what\":\"20-step CFG loop 1024x1024\",\"median_ms\":%.1f,\"peak_bytes\":%zu}\n",
              median(loops), peak_bytes(*g));

  // The same loop as the pipeline now drives it: the text side prepared once on the device
  // (prepare_conditioning), one latent row up per step, guidance on the device, only the guided
  // eps [1, C, H, W] down. Reports its time and how far its final latents are from the loop above.
  std::vector<float> dev_final;
  std::vector<double> guided_loops;
  const float scale = 4.5f;
  for (int rep = 0; rep < 4; rep++) {
    std::vector<float> lat(d.sq.latents), eps(static_cast<size_t>(n));
    t0 = Clock::now();
    const DiTInputs both = make_inputs(*g, cfg, d, d.sq, 2);
    const DiTConditioning cond = model->prepare_conditioning(both.text, both.text_mask, both.resolution, both.aspect_ratio);
    for (int step = 0; step < 20; step++) {
      const Tensor z = g->from_host(lat.data(), {1, C, H, W});
      g->to_host(model->forward_conditioned(z, std::vector<float>(2, 999.f - 50.f * step), cond, &scale, C), eps.data());
      for (int64_t k = 0; k < n; k++) lat[size_t(k)] -= 0.05f * eps[size_t(k)];
    }
    if (rep > 0) guided_loops.push_back(ms_since(t0));
    dev_final = lat;
  }
  double max_abs = 0, max_ref = 0;
  for (int64_t k = 0; k < n; k++) {
    max_abs = std::max(max_abs, double(std::fabs(dev_final[size_t(k)] - host_final[size_t(k)])));
    max_ref = std::max(max_ref, double(std::fabs(host_final[size_t(k)])));
  }
  std::printf("{\"section\":\"bench\",\"what\":\"20-step CFG loop 1024x1024, conditioning + guidance on the device\","
              "\"median_ms\":%.1f,\"vs_host_guidance_max_abs\":%.3g,\"max_ref\":%.3g,\"peak_bytes\":%zu}\n",
              median(guided_loops), max_abs, max_ref, peak_bytes(*g));
}

// ---------------------------------------------------------------- graph

// The 20-step CFG loop with everything on the device and no sync until the end (how the
// pipeline's engine loop runs: latents, eps and the update stay there), with the step recorded as
// a CUDA graph (prepare_conditioning(record_steps)) against the same loop running its ops every
// step, at 1024, 512 and 256. The final latents must be the same bits.
void section_graph(const Args& a) {
  CudaPtr g = make_cuda(PIXART_CUDA_F16);
  auto model = PixArtDiT::load(*g, a.model);
  const DiTConfig cfg = model->config();
  const Data d = load_data(a.inputs, cfg);
  const int64_t C = cfg.in_channels;
  const float scale = 4.5f;
  for (int64_t side : {128, 64, 32}) {
    Case c{std::to_string(side * 8), side, side, {}, {}};
    c.latents.assign(d.sq.latents.begin(), d.sq.latents.begin() + size_t(C * side * side));
    const DiTInputs both = make_inputs(*g, cfg, d, c, 2);
    // A generation prepares its conditioning, so its loop has 1 plain step, 1 capture and 18
    // replays (graph_ms); `kept` is one recording conditioning used for every rep, so after rep 0
    // its loops are 20 replays (replay_ms: the steady state of a recording that is kept).
    const DiTConditioning kept =
        model->prepare_conditioning(both.text, both.text_mask, both.resolution, both.aspect_ratio, true);
    auto loop = [&](bool record, std::vector<float>* final_latents, DiTStepStats* stats, double* enqueue_ms,
                    const DiTConditioning* reuse = nullptr) {
      const DiTConditioning fresh =
          reuse ? DiTConditioning{} : model->prepare_conditioning(both.text, both.text_mask, both.resolution, both.aspect_ratio, record);
      const DiTConditioning& cond = reuse ? *reuse : fresh;
      Tensor z = g->from_host(c.latents.data(), {1, C, side, side});
      sync(*g);
      const auto t0 = Clock::now();
      for (int step = 0; step < 20; step++) {
        const Tensor eps = model->forward_conditioned(z, std::vector<float>(2, 999.f - 50.f * step), cond, &scale, C);
        z = g->add(z, g->scale(eps, -0.05f));
      }
      if (enqueue_ms) *enqueue_ms = ms_since(t0);
      sync(*g);
      const double ms = ms_since(t0);
      if (final_latents) *final_latents = down(*g, z);
      if (stats && cond.steps) *stats = cond.steps->stats();
      return ms;
    };
    std::vector<double> plain_ms, graph_ms, replay_ms, plain_enq, graph_enq, replay_enq;
    std::vector<float> plain_final, graph_final, replay_final;
    DiTStepStats st, kept_st;
    for (int rep = 0; rep < 4; rep++) {  // rep 0 warms up all three (and records `kept`)
      double e1 = 0, e2 = 0, e3 = 0;
      const double p = loop(false, &plain_final, nullptr, &e1);
      const double q = loop(true, &graph_final, &st, &e2);
      const double r = loop(true, &replay_final, &kept_st, &e3, &kept);
      if (rep == 0) continue;
      plain_ms.push_back(p), graph_ms.push_back(q), replay_ms.push_back(r);
      plain_enq.push_back(e1), graph_enq.push_back(e2), replay_enq.push_back(e3);
    }
    size_t differ = 0, replay_differ = 0;
    for (size_t k = 0; k < plain_final.size(); k++) {
      differ += std::memcmp(&plain_final[k], &graph_final[k], 4) != 0;
      replay_differ += std::memcmp(&plain_final[k], &replay_final[k], 4) != 0;
    }
    std::printf("{\"section\":\"graph\",\"what\":\"20-step CFG loop on the device %lldx%lld\",\"plain_ms\":%.2f,"
                "\"graph_ms\":%.2f,\"speedup\":%.3f,\"replay_ms\":%.2f,\"replay_speedup\":%.3f,"
                "\"plain_enqueue_ms\":%.2f,\"graph_enqueue_ms\":%.2f,\"replay_enqueue_ms\":%.2f,"
                "\"differing_values\":%zu,\"replay_differing_values\":%zu,\"recorded\":%s,\"recordings\":%lld,"
                "\"runs\":%lld,\"kept_recordings\":%lld,\"kept_runs\":%lld,\"reason\":\"%s\"}\n",
                (long long)(side * 8), (long long)(side * 8), median(plain_ms), median(graph_ms),
                median(plain_ms) / median(graph_ms), median(replay_ms), median(plain_ms) / median(replay_ms),
                median(plain_enq), median(graph_enq), median(replay_enq), differ, replay_differ,
                st.recorded ? "true" : "false", (long long)st.recordings, (long long)st.runs,
                (long long)kept_st.recordings, (long long)kept_st.runs, st.reason.c_str());
    std::fflush(stdout);
  }
}

// ---------------------------------------------------------------- micro

void section_micro(const Args& a) {
  CudaPtr gp = make_cuda(PIXART_CUDA_F16);
  Backend& g = *gp;
  // PixArt-XL shapes at 1024x1024 with CFG, from the model's config.
  const DiTConfig cfg = DiTConfig::from_json(JsonConfig::load(a.model + "/config.json"));
  const int64_t B = 2, N = (cfg.sample_size / cfg.patch_size) * (cfg.sample_size / cfg.patch_size), D = cfg.inner_dim(),
                F = cfg.ff_inner_dim(), L = 120, Hh = cfg.num_attention_heads, Dh = cfg.attention_head_dim;
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.f, 1.f);
  auto rnd = [&](Shape s, float scale) {
    std::vector<float> v(size_t(numel(s)));
    for (auto& x : v) x = nd(rng) * scale;
    return g.from_host(v.data(), s);
  };
  const Tensor x = rnd({B, N, D}, 1.f), xf = rnd({B, N, F}, 1.f), txt = rnd({B, L, D}, 1.f);
  const Tensor wDD = rnd({D, D}, 0.03f), wFD = rnd({F, D}, 0.03f), wDF = rnd({D, F}, 0.015f), bD = rnd({D}, 0.1f),
               bF = rnd({F}, 0.1f), mod = rnd({B, 6, D}, 0.1f), kb = rnd({B, L}, 1.f);
  const Tensor w3D = rnd({3 * D, D}, 0.03f), b3D = rnd({3 * D}, 0.1f);
  const float scale = 1.f / std::sqrt(float(Dh));
  struct Op {
    const char* name;
    double flops;
    int per_layer;
    std::function<Tensor()> fn;
  };
  const double M = double(B * N);
  const std::vector<Op> ops = {
      {"linear D->D +bias (q,k,v,out,cross q,cross out)", 2 * M * D * D, 6, [&] { return g.linear(x, wDD, &bD, Activation::kNone, nullptr); }},
      {"linear D->3D +bias (fused qkv, not used yet)", 2 * M * D * 3 * D, 0, [&] { return g.linear(x, w3D, &b3D, Activation::kNone, nullptr); }},
      {"linear D->4D +bias +gelu (ff up)", 2 * M * D * F, 1, [&] { return g.linear(x, wFD, &bF, Activation::kGeluTanh, nullptr); }},
      {"linear 4D->D +bias (ff down)", 2 * M * F * D, 1, [&] { return g.linear(xf, wDF, &bD, Activation::kNone, nullptr); }},
      {"linear D->D +bias +residual", 2 * M * D * D, 0, [&] { return g.linear(x, wDD, &bD, Activation::kNone, &x); }},
      {"self-attention", 4.0 * B * Hh * double(N) * N * Dh, 1, [&] { return g.attention(x, x, x, int(Hh), scale, nullptr, nullptr); }},
      {"cross-attention (masked, 120 keys)", 4.0 * B * Hh * double(N) * L * Dh, 1, [&] { return g.attention(x, txt, txt, int(Hh), scale, nullptr, &kb); }},
      {"layer_norm_modulate (fused)", 0, 2, [&] { return g.layer_norm_modulate(x, nullptr, nullptr, 1e-6f, mod, 0, 1); }},
      {"layer_norm", 0, 0, [&] { return g.layer_norm(x, nullptr, nullptr, 1e-6f); }},
      {"modulate", 0, 0, [&] { return g.modulate(x, mod, 0, 1); }},
      {"gated_residual", 0, 2, [&] { return g.gated_residual(x, x, mod, 2); }},
      {"add (cross-attn residual)", 0, 0, [&] { return g.add(x, x); }},
  };
  double layer_ms = 0;
  std::vector<Op> all = ops;
  static const char* kSchedules[] = {"self-attention schedule 0", "self-attention schedule 1", "self-attention schedule 2",
                                     "self-attention schedule 3", "self-attention schedule 4"};
  for (int v = 0; v < 5; v++) {
    all.push_back({kSchedules[v], 4.0 * B * Hh * double(N) * N * Dh, 0, [&, v] {
                     setenv("PIXART_CUDA_ATTENTION_VARIANT", std::to_string(v).c_str(), 1);
                     Tensor t = g.attention(x, x, x, int(Hh), scale, nullptr, nullptr);
                     unsetenv("PIXART_CUDA_ATTENTION_VARIANT");
                     return t;
                   }});
  }
  for (const Op& op : all) {
    for (int w = 0; w < 3; w++) op.fn();
    sync(g);
    std::vector<double> ts;
    for (int r = 0; r < 7; r++) {
      auto t0 = Clock::now();
      for (int k = 0; k < 10; k++) op.fn();
      sync(g);
      ts.push_back(ms_since(t0) / 10);
    }
    const double ms = median(ts);
    layer_ms += ms * op.per_layer;
    std::printf("{\"section\":\"micro\",\"op\":\"%s\",\"ms\":%.4f,\"tflops\":%.1f,\"per_layer\":%d}\n", op.name, ms,
                op.flops > 0 ? op.flops / (ms * 1e9) : 0.0, op.per_layer);
    std::fflush(stdout);
  }
  std::printf("{\"section\":\"micro\",\"op\":\"sum of one layer x %lld layers\",\"ms\":%.2f}\n",
              (long long)cfg.num_layers, layer_ms * double(cfg.num_layers));
}

// ---------------------------------------------------------------- T5, VAE, memory

std::vector<int32_t> read_i32(const std::string& path, size_t n) { return read_raw<int32_t>(path, n); }

size_t device_used() {
  size_t f = 0, t = 0;
  pixart_cuda_device_memory(0, &f, &t);
  return t - f;
}

size_t in_use(Backend& be) {
  PixartCudaMemoryStats s{};
  pixart_cuda_memory_stats(&be, &s);
  return s.in_use;
}

// Full-size T5-XXL (random, bf16 checkpoint): bf16 / int8 / int4 weights against transformers'
// fp32 output on the same weights; load time, weight bytes, encode time.
void section_t5(const Args& a) {
  const int64_t B = 2, L = 120;
  const auto ids = read_i32(a.t5_inputs + "/ids.bin", size_t(B * L)), mask = read_i32(a.t5_inputs + "/mask.bin", size_t(B * L));
  std::vector<float> ref;
  const struct {
    const char* name;
    int compute;
    WeightQuant q;
  } modes[] = {{"f32", PIXART_CUDA_F32, WeightQuant::kNone},
               {"bf16", PIXART_CUDA_BF16, WeightQuant::kNone},
               {"bf16+int8", PIXART_CUDA_BF16, WeightQuant::kInt8},
               {"bf16+int4", PIXART_CUDA_BF16, WeightQuant::kInt4},
               {"bf16+int4-mixed", PIXART_CUDA_BF16, WeightQuant::kInt4Mixed},
               {"f16", PIXART_CUDA_F16, WeightQuant::kNone}};
  for (const auto& m : modes) {
    CudaPtr g = make_cuda(m.compute);
    auto t0 = Clock::now();
    auto enc = T5Encoder::load(*g, a.t5, "", m.q);
    sync(*g);
    const double load_ms = ms_since(t0);
    const size_t weights = in_use(*g);
    if (ref.empty()) ref = read_f32(a.t5_inputs + "/ref.bin", size_t(B * L * enc->config().d_model));
    std::vector<float> out = down(*g, enc->encode(ids.data(), mask.data(), B, L));
    std::vector<double> ts;
    for (int r = 0; r < 3; r++) {
      t0 = Clock::now();
      down(*g, enc->encode(ids.data(), mask.data(), B, L));
      ts.push_back(ms_since(t0));
    }
    const Diff d = diff(out, ref);
    std::printf("{\"section\":\"t5\",\"mode\":\"%s\",\"cosine\":%.6f,\"rel\":%.3e,\"finite\":%s,\"load_ms\":%.0f,"
                "\"encode_ms\":%.1f,\"weight_bytes\":%zu,\"peak_bytes\":%zu}\n",
                m.name, d.cosine, d.rel, d.finite ? "true" : "false", load_ms, median(ts), weights, peak_bytes(*g));
    std::fflush(stdout);
  }
}

double psnr01(const std::vector<float>& a, const std::vector<float>& b) {  // images in [-1, 1] -> [0, 1]
  double se = 0;
  for (size_t i = 0; i < a.size(); i++) {
    auto c = [](float v) { return std::min(1.0, std::max(0.0, double(v) * 0.5 + 0.5)); };
    const double d = c(a[i]) - c(b[i]);
    se += d * d;
  }
  const double mse = se / double(a.size());
  return mse > 0 ? 10.0 * std::log10(1.0 / mse) : 999.0;
}

// Full-size VAE decode at 1024x1024 (random weights) against diffusers' fp32 decode.
void section_vae(const Args& a) {
  const Shape zs = {1, 4, 128, 128};
  const auto z = read_f32(a.vae_inputs + "/latents.bin", size_t(numel(zs)));
  const auto ref = read_f32(a.vae_inputs + "/ref.bin", size_t(3 * 1024 * 1024));
  for (const auto& m : {std::make_pair("f16", PIXART_CUDA_F16), std::make_pair("bf16", PIXART_CUDA_BF16),
                        std::make_pair("f32", PIXART_CUDA_F32)}) {
    CudaPtr g = make_cuda(m.second);
    auto vae = AutoencoderKL::load(*g, a.vae, VAEParts::kDecoder);
    const size_t weights = in_use(*g);
    std::vector<float> out = down(*g, vae->decode(g->from_host(z.data(), zs)));
    std::vector<double> ts;
    for (int r = 0; r < 3; r++) {
      auto t0 = Clock::now();
      down(*g, vae->decode(g->from_host(z.data(), zs)));
      ts.push_back(ms_since(t0));
    }
    const Diff d = diff(out, ref);
    std::printf("{\"section\":\"vae\",\"mode\":\"%s\",\"psnr_db\":%.2f,\"cosine\":%.6f,\"finite\":%s,\"decode_ms\":%.1f,"
                "\"weight_bytes\":%zu,\"peak_bytes\":%zu}\n",
                m.first, psnr01(out, ref), d.cosine, d.finite ? "true" : "false", median(ts), weights, peak_bytes(*g));
    std::fflush(stdout);
    if (m.second != PIXART_CUDA_F16) continue;
    // Tiled (diffusers' enable_tiling): memory and time; its blend differs from the plain decode by design.
    pixart_cuda_empty_cache(g.get(), nullptr, nullptr, 0);
    PixartCudaMemoryStats st{};
    const size_t before = in_use(*g);
    std::vector<float> tiled = down(*g, vae->decode_tiled(g->from_host(z.data(), zs)));
    ts.clear();
    for (int r = 0; r < 3; r++) {
      auto t0 = Clock::now();
      down(*g, vae->decode_tiled(g->from_host(z.data(), zs)));
      ts.push_back(ms_since(t0));
    }
    pixart_cuda_memory_stats(g.get(), &st);
    std::printf("{\"section\":\"vae\",\"mode\":\"f16 tiled\",\"psnr_vs_untiled_fp32_db\":%.2f,\"finite\":%s,"
                "\"decode_ms\":%.1f,\"weight_bytes\":%zu,\"reserved_bytes\":%zu}\n",
                psnr01(tiled, ref), diff(tiled, ref).finite ? "true" : "false", median(ts), before, st.reserved);
    std::fflush(stdout);
  }
}

// Device memory of a 1024x1024 generation: T5 (bf16 backend, int4 / int8 weights) encodes two
// prompts, the DiT (f16) runs a CFG step, the VAE (f16) decodes. "resident": all three stay
// loaded; "low-memory": T5 is freed before the DiT loads. Device-wide use from the driver
// (CUDA contexts and cuBLAS workspaces included), peak over the stages.
void section_memory(const Args& a) {
  const int64_t B = 2, L = 120;
  const auto ids = read_i32(a.t5_inputs + "/ids.bin", size_t(B * L)), mask = read_i32(a.t5_inputs + "/mask.bin", size_t(B * L));
  const DiTConfig dcfg = DiTConfig::from_json(JsonConfig::load(a.model + "/config.json"));
  const Data d = load_data(a.inputs, dcfg);
  const Shape zs = {1, 4, 128, 128};
  std::vector<float> z(size_t(numel(zs)), 0.5f);
  struct Run {
    WeightQuant q;
    bool resident, tiled;
  };
  for (const Run& run : {Run{WeightQuant::kInt4, true, false}, Run{WeightQuant::kInt4, true, true},
                         Run{WeightQuant::kInt4, false, true}, Run{WeightQuant::kInt8, true, true},
                         Run{WeightQuant::kInt8, false, true}}) {
    const WeightQuant q = run.q;
    const bool resident = run.resident;
    const size_t base = device_used();
    size_t peak = 0;
    auto note = [&] { peak = std::max(peak, device_used() - base); };
    CudaPtr tb = make_cuda(PIXART_CUDA_BF16);
    auto t5 = T5Encoder::load(*tb, a.t5, "", q);
    std::vector<float> emb = down(*tb, t5->encode(ids.data(), mask.data(), B, L));
    note();
    pixart_cuda_empty_cache(tb.get(), nullptr, nullptr, 0);  // T5's activations: the engine's emptyCache()
    if (!resident) {
      t5.reset();
      tb.reset();
    }
    CudaPtr g = make_cuda(PIXART_CUDA_F16);
    auto dit = PixArtDiT::load(*g, a.model);
    note();
    down(*g, dit->forward(make_inputs(*g, dcfg, d, d.sq, 2)));
    note();
    auto vae = AutoencoderKL::load(*g, a.vae, VAEParts::kDecoder);
    const Tensor zt = g->from_host(z.data(), zs);
    down(*g, run.tiled ? vae->decode_tiled(zt) : vae->decode(zt));
    note();
    std::printf("{\"section\":\"memory\",\"t5\":\"%s\",\"workflow\":\"%s\",\"vae\":\"%s\",\"peak_device_bytes\":%zu,"
                "\"baseline_device_bytes\":%zu,\"dit_vae_pool_peak\":%zu,\"t5_pool_peak\":%zu}\n",
                weight_quant_name(q), resident ? "resident" : "low-memory", run.tiled ? "tiled" : "untiled", peak, base,
                peak_bytes(*g), tb ? peak_bytes(*tb) : size_t(0));
    std::fflush(stdout);
  }
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--model") a.model = v;
    else if (k == "--inputs") a.inputs = v;
    else if (k == "--threads") a.threads = std::atoi(v.c_str());
    else if (k == "--sections") a.sections = v;
    else if (k == "--no-cpu") a.no_cpu = v == "1";
    else if (k == "--t5") a.t5 = v;
    else if (k == "--t5-inputs") a.t5_inputs = v;
    else if (k == "--vae") a.vae = v;
    else if (k == "--vae-inputs") a.vae_inputs = v;
    else {
      std::fprintf(stderr, "unknown argument %s\n", k.c_str());
      return 2;
    }
  }
  if (a.model.empty()) {
    std::fprintf(stderr, "usage: pixart_cuda_bench --model <transformer folder> --inputs <dir> [--threads N] [--sections check,bench,micro,t5,vae,memory,graph]\n");
    return 2;
  }
  int failures = 0;
  const std::pair<const char*, void (*)(const Args&)> sections[] = {
      {"micro", section_micro}, {"bench", section_bench}, {"check", section_check},
      {"t5", section_t5},       {"vae", section_vae},     {"memory", section_memory}, {"graph", section_graph}};
  for (const auto& s : sections) {
    if (a.sections.find(s.first) == std::string::npos) continue;
    const Status st = guarded([&] { s.second(a); });
    if (!st.ok()) {
      std::printf("{\"section\":\"%s\",\"error\":\"%s: %s\"}\n", s.first, status_code_name(st.code()), st.message().c_str());
      std::fflush(stdout);
      failures++;
    }
  }
  return failures ? 1 : 0;
}
