#include "tensor.h"

#include "status.h"

namespace pixart {

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); i++) out += (i ? "," : "") + std::to_string(s[i]);
  return out + "]";
}

Tensor Tensor::view(Shape s) const {
  if (pixart::numel(s) != numel()) {
    fail(StatusCode::kInternal, "view " + shape_str(s) + " of tensor " + shape_str(shape) + " changes the element count");
  }
  Tensor t = *this;
  t.shape = std::move(s);
  return t;
}

}  // namespace pixart
