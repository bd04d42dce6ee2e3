#include "op_checks.h"

#include <algorithm>

#include "status.h"

namespace pixart {

void OpChecks::check(bool ok, const std::string& what) const {
  if (!ok) fail(StatusCode::kInvalidArgument, prefix_ + what);
}

void OpChecks::shape(const Shape& s) const {
  for (int64_t d : s) check(d >= 0, "negative dimension in " + shape_str(s));
}

void OpChecks::broadcast(const Tensor& a, const Tensor& b, const char* op) const {
  bool ok = b.rank() <= a.rank();
  for (int i = 1; ok && i <= b.rank(); i++) ok = b.shape[b.rank() - i] == a.shape[a.rank() - i];
  check(ok, std::string(op) + ": cannot broadcast " + shape_str(b.shape) + " onto " + shape_str(a.shape));
}

LinearDims OpChecks::linear(const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor* residual) const {
  check(w.rank() == 2 && x.rank() >= 1, "linear: weight must be [N, K]");
  LinearDims d;
  d.K = x.dim(-1);
  d.N = w.dim(0);
  check(w.dim(1) == d.K, "linear: x " + shape_str(x.shape) + " does not match weight " + shape_str(w.shape));
  check(!bias || bias->numel() == d.N, "linear: bias size");
  d.out = x.shape;
  d.out.back() = d.N;
  check(!residual || residual->shape == d.out, "linear: residual shape");
  d.M = x.numel() / std::max<int64_t>(d.K, 1);
  return d;
}

AttentionDims OpChecks::attention(const Tensor& q, const Tensor& k, const Tensor& v, int heads,
                                  const Tensor* pos_bias, const Tensor* key_bias) const {
  check(q.rank() == 3 && k.rank() == 3 && v.rank() == 3, "attention: q, k, v must be [B, L, H*D]");
  AttentionDims d{q.dim(0), q.dim(1), k.dim(1), q.dim(2), 0};
  check(heads > 0 && d.HD % heads == 0, "attention: width not divisible by heads");
  check(k.dim(0) == d.B && v.dim(0) == d.B && k.dim(2) == d.HD && v.shape == k.shape, "attention: k/v shapes");
  check(!pos_bias || pos_bias->shape == Shape{heads, d.Lq, d.Lk}, "attention: pos_bias must be [H, Lq, Lk]");
  check(!key_bias || key_bias->shape == Shape{d.B, d.Lk}, "attention: key_bias must be [B, Lk]");
  d.D = d.HD / heads;
  return d;
}

void OpChecks::gated_gelu(const Tensor& gate, const Tensor& up) const {
  check(gate.shape == up.shape, "gated_gelu: shapes differ");
}

int64_t OpChecks::rms_norm(const Tensor& x, const Tensor& weight) const {
  check(x.rank() >= 1, "rms_norm: x must have a last dim");
  check(weight.numel() == x.dim(-1), "rms_norm: weight size");
  return x.dim(-1);
}

int64_t OpChecks::layer_norm(const Tensor& x, const Tensor* weight, const Tensor* bias) const {
  check(x.rank() >= 1, "layer_norm: x must have a last dim");
  const int64_t D = x.dim(-1);
  check(!weight || weight->numel() == D, "layer_norm: weight size");
  check(!bias || bias->numel() == D, "layer_norm: bias size");
  return D;
}

void OpChecks::modulate(const Tensor& x, const Tensor& mod, int shift_idx, int scale_idx) const {
  check(x.rank() == 3 && mod.rank() == 3 && mod.dim(0) == x.dim(0) && mod.dim(2) == x.dim(2), "modulate: shapes");
  check(shift_idx >= 0 && shift_idx < mod.dim(1) && scale_idx >= 0 && scale_idx < mod.dim(1), "modulate: index");
}

void OpChecks::gated_residual(const Tensor& x, const Tensor& y, const Tensor& mod, int gate_idx) const {
  check(x.shape == y.shape && x.rank() == 3, "gated_residual: shapes");
  check(mod.rank() == 3 && mod.dim(0) == x.dim(0) && mod.dim(2) == x.dim(2) && gate_idx >= 0 && gate_idx < mod.dim(1),
        "gated_residual: mod shape");
}

void OpChecks::group_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, int groups) const {
  check(x.rank() == 4, "group_norm: x must be [B, C, H, W]");
  const int64_t C = x.dim(1);
  check(groups > 0 && C % groups == 0, "group_norm: channels not divisible by groups");
  check(weight.numel() == C && bias.numel() == C, "group_norm: affine size");
}

Conv2dDims OpChecks::conv2d(const Tensor& x, const Tensor& w, const Tensor* bias, int stride, int pt, int pl, int pb,
                            int pr) const {
  check(x.rank() == 4 && w.rank() == 4, "conv2d: x must be [B,C,H,W], w [O,C,kh,kw]");
  Conv2dDims d{x.dim(0), x.dim(1), x.dim(2), x.dim(3), w.dim(0), w.dim(2), w.dim(3), 0, 0};
  check(w.dim(1) == d.C, "conv2d: x has " + std::to_string(d.C) + " channels, weight expects " + std::to_string(w.dim(1)));
  check(stride >= 1 && pt >= 0 && pl >= 0 && pb >= 0 && pr >= 0, "conv2d: stride/padding");
  check(!bias || bias->numel() == d.O, "conv2d: bias size");
  d.Ho = (d.H + pt + pb - d.kh) / stride + 1;
  d.Wo = (d.W + pl + pr - d.kw) / stride + 1;
  check(d.Ho > 0 && d.Wo > 0, "conv2d: input smaller than kernel");
  return d;
}

void OpChecks::image(const Tensor& x, const char* what) const {
  check(x.rank() == 4, std::string(what) + ": x must be [B,C,H,W]");
}

void OpChecks::nlc_to_nchw(const Tensor& x, int64_t h, int64_t w) const {
  check(x.rank() == 3 && x.dim(1) == h * w, "nlc_to_nchw: x must be [B, h*w, C]");
}

void OpChecks::patchify(const Tensor& x, int p) const {
  check(x.rank() == 4 && p > 0 && x.dim(2) % p == 0 && x.dim(3) % p == 0,
        "patchify: H and W must be multiples of the patch size");
}

void OpChecks::unpatchify(const Tensor& x, int64_t h, int64_t w, int p, int c) const {
  check(x.rank() == 3 && x.dim(1) == h * w && x.dim(2) == int64_t(p) * p * c, "unpatchify: x must be [B, h*w, p*p*C]");
}

void OpChecks::slice_channels(const Tensor& x, int64_t start, int64_t count) const {
  check(x.rank() == 4 && start >= 0 && count >= 0 && start + count <= x.dim(1), "slice_channels: range");
}

void OpChecks::embedding(const Tensor& table, const int32_t* ids, int64_t n) const {
  check(table.rank() == 2, "embedding: table must be [V, D]");
  token_ids(ids, n, table.dim(0));
}

void OpChecks::add_rows(const Tensor& x, const Tensor& table) const {
  if (x.rank() != 2 || table.rank() != 2 || x.dim(1) != table.dim(1))
    check(false, "add_rows: x must be [B, D] and table [M, D], got " + shape_str(x.shape) + " and " + shape_str(table.shape));
}

void OpChecks::crop(const Tensor& x, int64_t top, int64_t left, int64_t h, int64_t w) const {
  if (x.rank() != 4) check(false, "crop: x must be [B, C, H, W], got " + shape_str(x.shape));
  if (top < 0 || left < 0 || h < 1 || w < 1 || top + h > x.dim(2) || left + w > x.dim(3))
    check(false, "crop: rows [" + std::to_string(top) + ", " + std::to_string(top + h) + ") and columns [" +
                     std::to_string(left) + ", " + std::to_string(left + w) + ") do not fit in " + shape_str(x.shape));
}

Shape OpChecks::blend_tiles(const std::vector<std::vector<Tensor>>& rows, int64_t blend, int64_t limit) const {
  if (rows.empty() || rows[0].empty()) check(false, "blend_tiles: no tiles");
  if (blend < 0 || limit < 1) check(false, "blend_tiles: blend must be >= 0 and limit >= 1");
  const Tensor& t0 = rows[0][0];
  if (t0.rank() != 4) check(false, "blend_tiles: tiles must be [B, O, H, W], got " + shape_str(t0.shape));
  int64_t H = 0, W = 0;
  for (size_t i = 0; i < rows.size(); i++) {
    if (rows[i].size() != rows[0].size()) check(false, "blend_tiles: every row of tiles must have as many tiles");
    for (size_t j = 0; j < rows[i].size(); j++) {
      const Tensor& t = rows[i][j];
      if (t.rank() != 4 || t.dim(0) != t0.dim(0) || t.dim(1) != t0.dim(1))
        check(false, "blend_tiles: tile " + std::to_string(i) + "," + std::to_string(j) + " is " + shape_str(t.shape) +
                         ", not [" + std::to_string(t0.dim(0)) + ", " + std::to_string(t0.dim(1)) + ", H, W]");
      if (t.dim(2) != rows[i][0].dim(2) || t.dim(3) != rows[0][j].dim(3))
        check(false, "blend_tiles: tile " + std::to_string(i) + "," + std::to_string(j) +
                         " does not share its row's height and its column's width");
    }
    H += std::min(limit, rows[i][0].dim(2));
  }
  for (const Tensor& t : rows[0]) W += std::min(limit, t.dim(3));
  return {t0.dim(0), t0.dim(1), H, W};
}

void OpChecks::token_ids(const int32_t* ids, int64_t n, int64_t vocab) {
  for (int64_t i = 0; i < n; i++) {
    if (ids[i] < 0 || ids[i] >= vocab) {
      fail(StatusCode::kInvalidArgument,
           "token id " + std::to_string(ids[i]) + " is outside the vocabulary (size " + std::to_string(vocab) + ")");
    }
  }
}

}  // namespace pixart
