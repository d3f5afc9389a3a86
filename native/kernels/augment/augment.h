// The augmentation warp of kernels_ref.h (ref::augment_warp), restructured for speed with identical results:
// the source column, its clamp and its weight depend only on the output column, and the row term of the source
// row only on the output row, so both are tabulated once per image; every double is formed by the same
// expression in the same order as the reference (this file is compiled without FMA contraction, and
// augment_avx512.cpp with -ffp-contract=off). With float output, 3 channels and the avx512 tier, the rows run 8
// output columns at a time (augment_avx512.cpp).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "kernels/fp32/kernels.h"

namespace engine {

namespace avx512 {
// The rows of augment_warp_fast for float output and 3 channels, from the column table (one entry per output
// column, W rounded up to 8 of them: term = a01 * (c - ocol), fc = weight of the right neighbour, c0/c1 = source
// columns, to = output column after the flip; flip: to[] runs mirrored). Needs H * W * 3 < 2^31.
void augment_warp_rows_rgb(float* out, const uint8_t* in, const double* term, const double* fc, const int32_t* c0,
                           const int32_t* c1, const int32_t* to, bool flip, double a00, double orow, int H, int W,
                           float scale);
}  // namespace avx512

template <typename T>
void augment_warp_fast(Isa isa, T* out, const uint8_t* in, double shear, double zx, double zy, bool flip, int H,
                       int W, int C, T scale) {
  const double orow = H / 2.0 + 0.5, ocol = W / 2.0 + 0.5;
  const double a00 = zx, a01 = -std::sin(shear) * zy, a11 = std::cos(shear) * zy;
  struct Columns {
    std::vector<double> term, fc;
    std::vector<int32_t> c0, c1, to;
  };
  thread_local Columns cols;
  // (up to a whole number of 8-column blocks: the AVX-512 rows compute the last block whole, from columns past the
  // image that the formulas still place inside it, and store only the image's)
  const int Wp8 = (W + 7) / 8 * 8;
  for (auto* v : {&cols.term, &cols.fc}) v->resize(size_t(Wp8));
  for (auto* v : {&cols.c0, &cols.c1, &cols.to}) v->resize(size_t(Wp8));
  for (int c = 0; c < Wp8; c++) {
    double sc = a11 * (c - ocol) + ocol;
    sc = !(sc >= 0) ? 0 : (sc > W - 1 ? W - 1 : sc);  // NaN -> 0, as the reference
    const int c0 = int(sc);
    cols.term[c] = a01 * (c - ocol);
    cols.fc[c] = sc - c0;
    cols.c0[c] = c0;
    cols.c1[c] = c0 + 1 < W ? c0 + 1 : c0;
    cols.to[c] = flip ? W - 1 - c : c;
  }
  if constexpr (std::is_same_v<T, float>) {
    if (isa == Isa::Avx512 && C == 3 && double(H) * W * 3 < 2147483648.0)
      return avx512::augment_warp_rows_rgb(out, in, cols.term.data(), cols.fc.data(), cols.c0.data(), cols.c1.data(),
                                           cols.to.data(), flip, a00, orow, H, W, scale);
  }
  for (int r = 0; r < H; r++) {
    const double rterm = a00 * (r - orow);
    T* orow_out = out + size_t(r) * W * C;
    for (int c = 0; c < W; c++) {
      double sr = rterm + cols.term[c] + orow;
      sr = !(sr >= 0) ? 0 : (sr > H - 1 ? H - 1 : sr);
      const int r0 = int(sr), r1 = r0 + 1 < H ? r0 + 1 : r0;
      const double fr = sr - r0, fc = cols.fc[c];
      const uint8_t* p00 = in + (size_t(r0) * W + cols.c0[c]) * C;
      const uint8_t* p01 = in + (size_t(r0) * W + cols.c1[c]) * C;
      const uint8_t* p10 = in + (size_t(r1) * W + cols.c0[c]) * C;
      const uint8_t* p11 = in + (size_t(r1) * W + cols.c1[c]) * C;
      T* o = orow_out + size_t(cols.to[c]) * C;
      for (int ch = 0; ch < C; ch++) {
        const double v00 = p00[ch], v01 = p01[ch], v10 = p10[ch], v11 = p11[ch];
        const double v = (1 - fr) * ((1 - fc) * v00 + fc * v01) + fr * ((1 - fc) * v10 + fc * v11);
        o[ch] = T(v) * scale;
      }
    }
  }
}

}  // namespace engine
