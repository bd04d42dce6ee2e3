// Host-side sinusoidal embeddings of the DiT: timestep / size features and the 2D position
// table. They depend only on small host inputs (timesteps, resolution, grid size), so they are
// computed here and uploaded. The rounding steps mirror diffusers' torch code: the position
// table equals torch's bit for bit (checked against torch when this was written). The timestep
// frequencies are correctly rounded exp() values; torch's CPU exp (MKL) is 1 ulp off for 2 of
// the 128, which is the main source of the ~5e-6 output difference on the fixtures.
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

namespace pixart::dit {

// diffusers Timesteps(channels, flip_sin_to_cos=True, downscale_freq_shift=0): row i is
// [cos(t_i * f_k), sin(t_i * f_k)] with f_k = exp(-ln(10000) * k / half), k < half, then a zero
// pad column when `channels` is odd. Out: [n, channels].
// The frequencies f_k, k < channels / 2, as float32 (what torch multiplies the timesteps by).
inline std::vector<float> timestep_frequencies(int64_t channels) {
  const int64_t half = channels / 2;
  // torch forms the exponent in float32: float(-ln 10000) * k, then / half.
  const float neg_log_period = static_cast<float>(-std::log(10000.0));
  std::vector<float> freq(half);
  for (int64_t k = 0; k < half; k++) {
    const float e = neg_log_period * static_cast<float>(k) / static_cast<float>(half);
    freq[k] = static_cast<float>(std::exp(static_cast<double>(e)));
  }
  return freq;
}

inline std::vector<float> timestep_features(const std::vector<float>& t, int64_t channels) {
  const int64_t half = channels / 2;
  const std::vector<float> freq = timestep_frequencies(channels);
  std::vector<float> out(t.size() * channels, 0.f);
  for (size_t i = 0; i < t.size(); i++) {
    float* row = out.data() + i * channels;
    for (int64_t k = 0; k < half; k++) {
      const double arg = static_cast<float>(t[i] * freq[k]);  // the product is rounded to float32 in torch
      row[k] = static_cast<float>(std::cos(arg));
      row[half + k] = static_cast<float>(std::sin(arg));
    }
  }
  return out;
}

// w_k = 10000^(-k / (dim/4)), k < dim / 4: the position table's frequencies.
inline std::vector<double> pos_embed_omega(int64_t dim) {
  const int64_t q = dim / 4;
  std::vector<double> omega(q);
  for (int64_t k = 0; k < q; k++) omega[k] = 1.0 / std::pow(10000.0, static_cast<double>(k) / (dim / 4.0));
  return omega;
}

// diffusers get_2d_sincos_pos_embed(dim, (gh, gw), base_size, interpolation_scale) for a
// gh x gw token grid, row-major like the patch tokens. Out: [gh*gw, dim], dim % 4 == 0.
// Grid coordinates are float32 (pos / (g / base) / scale); the sin/cos math is float64.
// Token (i, j) gets [sin(x*w), cos(x*w), sin(y*w), cos(y*w)] with x the column coordinate,
// y the row coordinate, w_k = 10000^(-k / (dim/4)).
inline std::vector<float> sincos_pos_embed_2d(int64_t dim, int64_t gh, int64_t gw, int64_t base_size,
                                              double interpolation_scale) {
  const int64_t q = dim / 4;
  const std::vector<double> omega = pos_embed_omega(dim);
  auto coords = [&](int64_t g) {
    const float step = static_cast<float>(static_cast<double>(g) / static_cast<double>(base_size));
    const float s = static_cast<float>(interpolation_scale);
    std::vector<float> c(g);
    for (int64_t i = 0; i < g; i++) c[i] = static_cast<float>(i) / step / s;
    return c;
  };
  const std::vector<float> ys = coords(gh), xs = coords(gw);
  std::vector<float> out(gh * gw * dim);
  for (int64_t i = 0; i < gh; i++) {
    for (int64_t j = 0; j < gw; j++) {
      float* row = out.data() + (i * gw + j) * dim;
      for (int64_t k = 0; k < q; k++) {
        const double a = static_cast<double>(xs[j]) * omega[k];
        const double b = static_cast<double>(ys[i]) * omega[k];
        row[k] = static_cast<float>(std::sin(a));
        row[q + k] = static_cast<float>(std::cos(a));
        row[2 * q + k] = static_cast<float>(std::sin(b));
        row[3 * q + k] = static_cast<float>(std::cos(b));
      }
    }
  }
  return out;
}

}  // namespace pixart::dit
