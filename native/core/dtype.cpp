// Checkpoint dtypes: names, sizes, and widening to float32. Kept apart from the safetensors
// reader (weights.cpp) so that the CUDA backend library can use it without the JSON parser.
#include <cstring>

#include "status.h"
#include "weights.h"

namespace pixart {

const char* dtype_name(DType d) {
  switch (d) {
    case DType::kF32: return "F32";
    case DType::kF16: return "F16";
    case DType::kBF16: return "BF16";
    case DType::kF64: return "F64";
    case DType::kI64: return "I64";
    case DType::kI32: return "I32";
    case DType::kI16: return "I16";
    case DType::kI8: return "I8";
    case DType::kU8: return "U8";
    case DType::kBool: return "BOOL";
  }
  return "?";
}

size_t dtype_size(DType d) {
  switch (d) {
    case DType::kF64: case DType::kI64: return 8;
    case DType::kF32: case DType::kI32: return 4;
    case DType::kF16: case DType::kBF16: case DType::kI16: return 2;
    default: return 1;
  }
}

namespace {
float half_to_float(uint16_t h) {
  uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while (!(man & 0x400)) { man <<= 1; exp--; }
      man &= 0x3ff;
      bits = sign | (exp << 23) | (man << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (man << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
}  // namespace

void convert_to_f32(const WeightView& w, float* out) {
  const int64_t n = numel(w.shape);
  switch (w.dtype) {
    case DType::kF32: std::memcpy(out, w.data, n * 4); return;
    case DType::kF16: {
      const uint8_t* p = static_cast<const uint8_t*>(w.data);
      for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        out[i] = half_to_float(h);
      }
      return;
    }
    case DType::kBF16: {
      const uint8_t* p = static_cast<const uint8_t*>(w.data);
      for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        uint32_t bits = uint32_t(h) << 16;
        std::memcpy(out + i, &bits, 4);
      }
      return;
    }
    default:
      fail(StatusCode::kModelLoad, w.file + ": tensor " + w.name + " has dtype " + dtype_name(w.dtype) + ", not a float type");
  }
}

}  // namespace pixart
