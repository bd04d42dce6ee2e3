#include "rgb8.h"

#include <vector>

#include "backend.h"
#include "op_checks.h"

namespace pixart {

bool nchw_to_rgb8(const float* x, int64_t B, int64_t C, int64_t H, int64_t W, uint8_t* out) {
  const int64_t HW = H * W;
  bool bad = false;
  for (int64_t b = 0; b < B; b++)
    for (int64_t c = 0; c < C; c++) {
      const float* plane = x + (b * C + c) * HW;
      uint8_t* o = out + b * HW * C + c;
      for (int64_t i = 0; i < HW; i++) {
        bad |= !std::isfinite(plane[i]);
        o[i * C] = rgb8_byte(plane[i]);
      }
    }
  return bad;
}

bool default_to_host_rgb8(Backend& be, const Tensor& x, uint8_t* out) {
  OpChecks(be.name()).image(x, "to_host_rgb8");
  std::vector<float> host(static_cast<size_t>(x.numel()));
  be.to_host(x, host.data());
  return nchw_to_rgb8(host.data(), x.dim(0), x.dim(1), x.dim(2), x.dim(3), out);
}

}  // namespace pixart
