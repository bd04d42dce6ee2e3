// Weight-only quantisation of linear weights [N, K] (T5's projections): the format the GPU
// kernels read, and the rounding every backend shares.
//
//   int8: one scale per output row n: s = max_k |w[n,k]| / 127, q = rint(w / s) in [-127, 127]
//   int4: one scale per row and group of kInt4Group inputs along K (the last group may be
//         shorter): s = max |w| / 7, q = rint(w / s) in [-7, 7], two per byte (low nibble = even k)
// A zero row or group gets s = 0 and q = 0. The dequantised weight is q * s (float32).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace pixart {

// kInt4Mixed is a model-level choice, not a storage format: T5 resolves it per linear weight to
// kInt4 or kInt8 (t5_linear_quant); backends store only kInt8 / kInt4 and refuse it.
enum class WeightQuant { kNone = 0, kInt8 = 1, kInt4 = 2, kInt4Mixed = 3 };
constexpr int64_t kInt4Group = 64;

const char* weight_quant_name(WeightQuant q);
// "none" / "int8" / "int4" / "int4-mixed"; throws kInvalidArgument otherwise.
WeightQuant parse_weight_quant(const std::string& s);
// Throws kInvalidArgument unless q is a storage format (kNone, kInt8, kInt4); `where` names the caller.
void check_storage_quant(WeightQuant q, const char* where);

inline int64_t quant_groups(WeightQuant q, int64_t K) {
  return q == WeightQuant::kInt4 ? (K + kInt4Group - 1) / kInt4Group : 1;
}
inline int64_t quant_row_bytes(WeightQuant q, int64_t K) { return q == WeightQuant::kInt4 ? (K + 1) / 2 : K; }

struct QuantizedWeight {
  WeightQuant quant = WeightQuant::kInt8;
  int64_t N = 0, K = 0;
  std::vector<uint8_t> data;   // N * quant_row_bytes(K): int8 values, or packed signed nibbles
  std::vector<float> scales;   // N * quant_groups(K)
};

// w: [N, K] float32, row-major.
QuantizedWeight quantize_weight(const float* w, int64_t N, int64_t K, WeightQuant q);
// The float32 weight the quantised one stands for (q * s), [N, K].
std::vector<float> dequantize_weight(const QuantizedWeight& qw);

}  // namespace pixart
