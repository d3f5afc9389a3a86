#include "image/fit.h"

#include <algorithm>

namespace engine::image {

void nearest_indices_pil(int32_t* out, int src, int dst) {
  // the same double arithmetic as the JS reference, so the same truncations
  const double step = double(src) / double(dst);
  double centre = step * 0.5;
  for (int i = 0; i < dst; i++, centre += step) out[i] = std::min(int32_t(centre), int32_t(src - 1));
}

// PIL's rgb2l: ITU-R 601-2 luma in 16-bit fixed point, rounded to nearest (preprocess.ts' rgbToGreyPIL).
static inline uint8_t grey_pil(const uint8_t* p) { return uint8_t((p[0] * 19595u + p[1] * 38470u + p[2] * 7471u + 0x8000u) >> 16); }

void fit_nearest_pil(uint8_t* dst, const uint8_t* rgb, int src_w, int src_h, int dst_w, int dst_h, int channels, int32_t* xs, int32_t* ys) {
  nearest_indices_pil(xs, src_w, dst_w);
  nearest_indices_pil(ys, src_h, dst_h);
  for (int y = 0; y < dst_h; y++) {
    const uint8_t* row = rgb + size_t(ys[y]) * src_w * 3;
    if (channels == 3) {
      for (int x = 0; x < dst_w; x++, dst += 3) std::copy_n(row + size_t(xs[x]) * 3, 3, dst);
    } else {
      for (int x = 0; x < dst_w; x++) *dst++ = grey_pil(row + size_t(xs[x]) * 3);
    }
  }
}

}  // namespace engine::image
