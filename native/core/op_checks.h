// Argument checks for the Backend ops, shared by every backend so that all of them accept and
// reject exactly the same calls with the same messages. Each check throws
// EngineError(kInvalidArgument, "<backend> backend: <op>: ...") and returns the sizes the op
// needs. Shapes are as documented in backend.h.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tensor.h"

namespace pixart {

struct LinearDims {
  int64_t M, N, K;  // x viewed as [M, K], weight [N, K]
  Shape out;        // x's shape with the last dim N
};
struct AttentionDims {
  int64_t B, Lq, Lk, HD, D;  // D = HD / heads
};
struct Conv2dDims {
  int64_t B, C, H, W, O, kh, kw, Ho, Wo;
};

class OpChecks {
 public:
  explicit OpChecks(std::string backend) : prefix_(std::move(backend) + " backend: ") {}

  void check(bool ok, const std::string& what) const;
  void shape(const Shape& s) const;  // no negative dimensions
  void broadcast(const Tensor& a, const Tensor& b, const char* op) const;
  LinearDims linear(const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor* residual) const;
  AttentionDims attention(const Tensor& q, const Tensor& k, const Tensor& v, int heads, const Tensor* pos_bias,
                          const Tensor* key_bias) const;
  void gated_gelu(const Tensor& gate, const Tensor& up) const;
  int64_t rms_norm(const Tensor& x, const Tensor& weight) const;  // returns D
  int64_t layer_norm(const Tensor& x, const Tensor* weight, const Tensor* bias) const;  // returns D
  void modulate(const Tensor& x, const Tensor& mod, int shift_idx, int scale_idx) const;
  void gated_residual(const Tensor& x, const Tensor& y, const Tensor& mod, int gate_idx) const;
  void group_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, int groups) const;
  Conv2dDims conv2d(const Tensor& x, const Tensor& w, const Tensor* bias, int stride, int pad_top, int pad_left,
                    int pad_bottom, int pad_right) const;
  void image(const Tensor& x, const char* what) const;  // x is [B, C, H, W]
  void nlc_to_nchw(const Tensor& x, int64_t h, int64_t w) const;
  void patchify(const Tensor& x, int p) const;
  void unpatchify(const Tensor& x, int64_t h, int64_t w, int p, int c) const;
  void slice_channels(const Tensor& x, int64_t start, int64_t count) const;
  void embedding(const Tensor& table, const int32_t* ids, int64_t n) const;
  void add_rows(const Tensor& x, const Tensor& table) const;  // x [B, D], table [M, D]
  // Tiled decoding (core/tiles.h): the crop fits in x [B, C, H, W]; the grid of tiles is regular.
  void crop(const Tensor& x, int64_t top, int64_t left, int64_t h, int64_t w) const;
  Shape blend_tiles(const std::vector<std::vector<Tensor>>& rows, int64_t blend, int64_t limit) const;  // the output's [B, O, H, W]
  // Every id in [0, vocab) (the embedding op's check; also for rows gathered on the host).
  static void token_ids(const int32_t* ids, int64_t n, int64_t vocab);

 private:
  std::string prefix_;
};

}  // namespace pixart
