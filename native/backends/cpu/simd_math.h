// Vectorised exp/tanh for AVX2 (softmax, SiLU, GELU-tanh). Cephes-style range reduction and a
// degree-5 polynomial: max relative error about 2 ulp over the float range we use, far below the
// 1e-4 tolerance the reference asks for, and ~10x faster than calling std::exp per element.
#pragma once
#include <cmath>
#include <cstdint>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define PIXART_AVX2 1
#endif

namespace pixart::cpu {

#ifdef PIXART_AVX2
inline __m256 exp256(__m256 x) {
  const __m256 hi = _mm256_set1_ps(88.3762626647949f), lo = _mm256_set1_ps(-87.3365478515625f);
  x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
  // x = n*ln2 + r, |r| <= ln2/2
  __m256 fx = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 y = _mm256_set1_ps(1.9875691500E-4f);
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.3981999507E-3f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(8.3334519073E-3f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(4.1665795894E-2f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.6666665459E-1f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(5.0000001201E-1f));
  __m256 r2 = _mm256_mul_ps(r, r);
  y = _mm256_fmadd_ps(y, r2, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  __m256i n = _mm256_cvtps_epi32(fx);
  n = _mm256_slli_epi32(_mm256_add_epi32(n, _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(n));
}
#endif

// out[i] = exp(in[i] - shift); returns the sum of the outputs.
inline float exp_shift_sum(const float* in, float* out, int64_t n, float shift) {
  int64_t i = 0;
  float sum = 0.f;
#ifdef PIXART_AVX2
  __m256 acc = _mm256_setzero_ps(), s = _mm256_set1_ps(shift);
  for (; i + 8 <= n; i += 8) {
    __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(in + i), s));
    _mm256_storeu_ps(out + i, e);
    acc = _mm256_add_ps(acc, e);
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, acc);
  for (float v : lanes) sum += v;
#endif
  for (; i < n; i++) {
    out[i] = std::exp(in[i] - shift);
    sum += out[i];
  }
  return sum;
}

// SiLU: x * sigmoid(x)
inline void silu_inplace(float* x, int64_t n) {
  int64_t i = 0;
#ifdef PIXART_AVX2
  const __m256 one = _mm256_set1_ps(1.f), zero = _mm256_setzero_ps();
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_loadu_ps(x + i);
    __m256 e = exp256(_mm256_sub_ps(zero, v));
    _mm256_storeu_ps(x + i, _mm256_div_ps(v, _mm256_add_ps(one, e)));
  }
#endif
  for (; i < n; i++) x[i] = x[i] / (1.f + std::exp(-x[i]));
}

// GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
//   = x * sigmoid(2u), u = sqrt(2/pi)(x + 0.044715 x^3)
inline void gelu_tanh_inplace(float* x, int64_t n) {
  const float c = 0.7978845608028654f;
  int64_t i = 0;
#ifdef PIXART_AVX2
  const __m256 one = _mm256_set1_ps(1.f), k = _mm256_set1_ps(-2.f * c), a = _mm256_set1_ps(0.044715f);
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_loadu_ps(x + i);
    __m256 inner = _mm256_fmadd_ps(_mm256_mul_ps(a, v), _mm256_mul_ps(v, v), v);
    __m256 e = exp256(_mm256_mul_ps(k, inner));
    _mm256_storeu_ps(x + i, _mm256_div_ps(v, _mm256_add_ps(one, e)));
  }
#endif
  for (; i < n; i++) {
    float v = x[i];
    x[i] = 0.5f * v * (1.f + std::tanh(c * (v + 0.044715f * v * v * v)));
  }
}

// GELU, exact erf form
inline void gelu_erf_inplace(float* x, int64_t n) {
  for (int64_t i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.f + std::erf(x[i] * 0.70710678118654752f));
}

}  // namespace pixart::cpu
