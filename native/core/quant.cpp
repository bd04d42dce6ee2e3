#include "quant.h"

#include <algorithm>
#include <cmath>

#include "status.h"

namespace pixart {

const char* weight_quant_name(WeightQuant q) {
  switch (q) {
    case WeightQuant::kInt8: return "int8";
    case WeightQuant::kInt4: return "int4";
    case WeightQuant::kInt4Mixed: return "int4-mixed";
    default: return "none";
  }
}

WeightQuant parse_weight_quant(const std::string& s) {
  if (s.empty() || s == "none") return WeightQuant::kNone;
  if (s == "int8") return WeightQuant::kInt8;
  if (s == "int4") return WeightQuant::kInt4;
  if (s == "int4-mixed") return WeightQuant::kInt4Mixed;
  fail(StatusCode::kInvalidArgument, "weight quantisation must be 'none', 'int8', 'int4' or 'int4-mixed', got '" + s + "'");
}

void check_storage_quant(WeightQuant q, const char* where) {
  if (q != WeightQuant::kNone && q != WeightQuant::kInt8 && q != WeightQuant::kInt4) {
    fail(StatusCode::kInvalidArgument, std::string(where) + ": " + weight_quant_name(q) +
                                           " is a per-model choice; pass each weight's own format (int8 or int4)");
  }
}

QuantizedWeight quantize_weight(const float* w, int64_t N, int64_t K, WeightQuant q) {
  if (q == WeightQuant::kNone) fail(StatusCode::kInternal, "quantize_weight: no quantisation asked for");
  check_storage_quant(q, "quantize_weight");
  QuantizedWeight r;
  r.quant = q;
  r.N = N;
  r.K = K;
  const int64_t groups = quant_groups(q, K), gsize = q == WeightQuant::kInt4 ? kInt4Group : K;
  const int64_t row_bytes = quant_row_bytes(q, K);
  const float qmax = q == WeightQuant::kInt4 ? 7.f : 127.f;
  r.data.assign(size_t(N * row_bytes), 0);
  r.scales.assign(size_t(N * groups), 0.f);
  for (int64_t n = 0; n < N; n++) {
    const float* row = w + n * K;
    for (int64_t g = 0; g < groups; g++) {
      const int64_t k0 = g * gsize, k1 = std::min(K, k0 + gsize);
      float amax = 0.f;
      for (int64_t k = k0; k < k1; k++) amax = std::max(amax, std::fabs(row[k]));
      const float s = amax / qmax;
      r.scales[size_t(n * groups + g)] = s;
      for (int64_t k = k0; k < k1; k++) {
        const float v = s > 0.f ? std::rint(row[k] / s) : 0.f;
        const int qi = int(std::max(-qmax, std::min(qmax, v)));
        if (q == WeightQuant::kInt8) {
          r.data[size_t(n * row_bytes + k)] = uint8_t(int8_t(qi));
        } else {
          uint8_t& b = r.data[size_t(n * row_bytes + k / 2)];
          b = uint8_t(k % 2 == 0 ? (b & 0xf0) | (qi & 0x0f) : (b & 0x0f) | ((qi & 0x0f) << 4));
        }
      }
    }
  }
  return r;
}

std::vector<float> dequantize_weight(const QuantizedWeight& qw) {
  const int64_t groups = quant_groups(qw.quant, qw.K), gsize = qw.quant == WeightQuant::kInt4 ? kInt4Group : qw.K;
  const int64_t row_bytes = quant_row_bytes(qw.quant, qw.K);
  std::vector<float> out(size_t(qw.N * qw.K));
  for (int64_t n = 0; n < qw.N; n++) {
    for (int64_t k = 0; k < qw.K; k++) {
      int qi;
      if (qw.quant == WeightQuant::kInt8) {
        qi = int8_t(qw.data[size_t(n * row_bytes + k)]);
      } else {
        const uint8_t b = qw.data[size_t(n * row_bytes + k / 2)];
        const int nib = k % 2 == 0 ? (b & 0x0f) : (b >> 4);
        qi = nib >= 8 ? nib - 16 : nib;
      }
      out[size_t(n * qw.K + k)] = float(qi) * qw.scales[size_t(n * groups + k / gsize)];
    }
  }
  return out;
}

}  // namespace pixart
