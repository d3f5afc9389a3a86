// The augmentation warp of kernels_ref.h (ref::augment_warp), restructured for speed with identical results:
// the source column, its clamp and its weight depend only on the output column, and the row term of the source
// row only on the output row, so both are tabulated once per image; every double is formed by the same
// expression in the same order as the reference (this file is compiled without FMA contraction).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace engine {

template <typename T>
void augment_warp_tabled(T* out, const uint8_t* in, double shear, double zx, double zy, bool flip, int H, int W,
                         int C, T scale) {
  const double orow = H / 2.0 + 0.5, ocol = W / 2.0 + 0.5;
  const double a00 = zx, a01 = -std::sin(shear) * zy, a11 = std::cos(shear) * zy;
  struct Column {
    double term;  // a01 * (c - ocol): the column's part of the source row
    double fc;    // weight of the right neighbour
    int c0, c1;   // source columns
    int to;       // output column after the flip
  };
  thread_local std::vector<Column> cols;
  cols.resize(size_t(W));
  for (int c = 0; c < W; c++) {
    double sc = a11 * (c - ocol) + ocol;
    sc = sc < 0 ? 0 : (sc > W - 1 ? W - 1 : sc);
    const int c0 = int(sc);
    cols[c] = {a01 * (c - ocol), sc - c0, c0, c0 + 1 < W ? c0 + 1 : c0, flip ? W - 1 - c : c};
  }
  for (int r = 0; r < H; r++) {
    const double rterm = a00 * (r - orow);
    T* orow_out = out + size_t(r) * W * C;
    for (int c = 0; c < W; c++) {
      const Column& col = cols[c];
      double sr = rterm + col.term + orow;
      sr = sr < 0 ? 0 : (sr > H - 1 ? H - 1 : sr);
      const int r0 = int(sr), r1 = r0 + 1 < H ? r0 + 1 : r0;
      const double fr = sr - r0, fc = col.fc;
      const uint8_t* p00 = in + (size_t(r0) * W + col.c0) * C;
      const uint8_t* p01 = in + (size_t(r0) * W + col.c1) * C;
      const uint8_t* p10 = in + (size_t(r1) * W + col.c0) * C;
      const uint8_t* p11 = in + (size_t(r1) * W + col.c1) * C;
      T* o = orow_out + size_t(col.to) * C;
      for (int ch = 0; ch < C; ch++) {
        const double v00 = p00[ch], v01 = p01[ch], v10 = p10[ch], v11 = p11[ch];
        const double v = (1 - fr) * ((1 - fc) * v00 + fc * v01) + fr * ((1 - fc) * v10 + fc * v11);
        o[ch] = T(v) * scale;
      }
    }
  }
}

}  // namespace engine
