// diffusers' image postprocess to 8-bit (VaeImageProcessor with output_type 'pil'), on the host:
// the float32 arithmetic of lib/pipeline/images.ts (toFloatNHWC then toImages), so a backend's
// to_host_rgb8 (core/backend.h) gives exactly the bytes the host path gives.
//
//   v = clamp(x / 2 + 0.5, 0, 1)          each step rounded to float32; NaN stays NaN
//   byte = round_half_even(v * 255)       the product rounded to float32; NaN -> 0
//
// GPU backends implement the same formula in their kernels (backends/cuda/rgb.cu).
#pragma once
#include <cmath>
#include <cstdint>

namespace pixart {

class Backend;
struct Tensor;

// One value. x * 0.5f is x / 2 exactly (a contraction into an FMA cannot change the sum: the
// product is exact unless it underflows, and then the sum rounds to 0.5 either way).
inline uint8_t rgb8_byte(float x) {
  float v = x * 0.5f + 0.5f;
  if (std::isnan(v)) return 0;  // numpy's NaN -> uint8 is 0 here, as a Uint8Array stores NaN
  v = v < 0.f ? 0.f : v > 1.f ? 1.f : v;
  const float s = v * 255.f;  // in [0, 255]
  const float fl = std::floor(s);
  const float frac = s - fl;  // exact
  int r = static_cast<int>(fl);
  if (frac > 0.5f || (frac == 0.5f && (r & 1))) r++;
  return static_cast<uint8_t>(r);
}

// x [B, C, H, W] float32 (host) -> out [B, H, W, C] bytes. Returns true if any x is NaN or +-Inf.
bool nchw_to_rgb8(const float* x, int64_t B, int64_t C, int64_t H, int64_t W, uint8_t* out);

// Backend::to_host_rgb8's default: to_host (float32) then nchw_to_rgb8. Checks x is 4-D.
bool default_to_host_rgb8(Backend& be, const Tensor& x, uint8_t* out);

}  // namespace pixart
