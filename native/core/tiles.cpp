#include "tiles.h"

#include <algorithm>
#include <string>

#include "backend.h"
#include "op_checks.h"
#include "status.h"

namespace pixart {

Tensor default_crop(Backend& be, const Tensor& x, int64_t top, int64_t left, int64_t h, int64_t w) {
  OpChecks(be.name()).crop(x, top, left, h, w);
  const int64_t B = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  std::vector<float> xh(size_t(x.numel())), out(size_t(B * C * h * w));
  be.to_host(x, xh.data());
  for (int64_t p = 0; p < B * C; p++)
    for (int64_t y = 0; y < h; y++)
      std::copy_n(&xh[size_t((p * H + top + y) * W + left)], w, &out[size_t((p * h + y) * w)]);
  return be.from_host(out.data(), {B, C, h, w});
}

Tensor default_blend_tiles(Backend& be, const std::vector<std::vector<Tensor>>& rows, int64_t blend, int64_t limit) {
  const Shape out_shape = OpChecks(be.name()).blend_tiles(rows, blend, limit);
  const int64_t B = out_shape[0], O = out_shape[1];
  struct Tile {
    int64_t H = 0, W = 0;
    std::vector<float> v;  // [B, O, H, W]
    float& at(int64_t O, int64_t b, int64_t o, int64_t y, int64_t x) { return v[size_t(((b * O + o) * H + y) * W + x)]; }
  };
  std::vector<std::vector<Tile>> t(rows.size());
  for (size_t i = 0; i < rows.size(); i++)
    for (const Tensor& x : rows[i]) {
      Tile tile;
      tile.H = x.dim(2);
      tile.W = x.dim(3);
      tile.v.resize(size_t(x.numel()));
      be.to_host(x, tile.v.data());
      t[i].push_back(std::move(tile));
    }
  for (size_t i = 0; i < t.size(); i++) {
    for (size_t j = 0; j < t[i].size(); j++) {
      Tile& c = t[i][j];
      if (i > 0) {
        Tile& a = t[i - 1][j];
        const int64_t e = std::min({a.H, c.H, blend});
        for (int64_t b = 0; b < B; b++)
          for (int64_t o = 0; o < O; o++)
            for (int64_t y = 0; y < e; y++)
              for (int64_t x = 0; x < c.W; x++)
                c.at(O, b, o, y, x) = tile_blend(a.at(O, b, o, a.H - e + y, x), c.at(O, b, o, y, x), y, e);
      }
      if (j > 0) {
        Tile& a = t[i][j - 1];
        const int64_t e = std::min({a.W, c.W, blend});
        for (int64_t b = 0; b < B; b++)
          for (int64_t o = 0; o < O; o++)
            for (int64_t y = 0; y < c.H; y++)
              for (int64_t x = 0; x < e; x++)
                c.at(O, b, o, y, x) = tile_blend(a.at(O, b, o, y, a.W - e + x), c.at(O, b, o, y, x), x, e);
      }
    }
  }
  const int64_t H = out_shape[2], W = out_shape[3];
  std::vector<float> out(size_t(B * O * H * W));
  int64_t y0 = 0;
  for (auto& r : t) {
    int64_t x0 = 0;
    const int64_t rh = std::min(limit, r[0].H);
    for (Tile& c : r) {
      const int64_t cw = std::min(limit, c.W);
      for (int64_t b = 0; b < B; b++)
        for (int64_t o = 0; o < O; o++)
          for (int64_t y = 0; y < rh; y++) std::copy_n(&c.at(O, b, o, y, 0), cw, &out[size_t(((b * O + o) * H + y0 + y) * W + x0)]);
      x0 += cw;
    }
    y0 += rh;
  }
  return be.from_host(out.data(), out_shape);
}

}  // namespace pixart
