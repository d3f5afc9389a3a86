// The augmentation warp's rows (augment.h) 8 output columns at a time with AVX-512 doubles, bit-identical to the
// scalar rows: each lane forms every double with the same expression in the same order (this file is compiled
// with -ffp-contract=off, so no product is fused into an add), the clamps are compares and blends (so -0.0 stays
// -0.0 and NaN becomes 0 as in the scalar code), and the truncation to a source row is cvttpd.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace engine::avx512 {
namespace {

// The 3 bytes of the pixels at byte offsets idx of in, in the low 24 bits of each lane: 4-byte gathers that
// start one byte early (at the byte before the pixel) so they never read past the image's end; a pixel at
// offset 0 is gathered from 0 and not shifted, so nothing before the image is read either.
inline __m256i gather_rgb(const uint8_t* in, __m256i idx) {
  const __m256i one = _mm256_set1_epi32(1);
  const __m256i at_start = _mm256_cmpgt_epi32(one, idx);  // idx < 1
  const __m256i from = _mm256_max_epi32(_mm256_sub_epi32(idx, one), _mm256_setzero_si256());
  const __m256i word = _mm256_i32gather_epi32(reinterpret_cast<const int*>(in), from, 1);
  const __m256i shift = _mm256_andnot_si256(at_start, _mm256_set1_epi32(8));
  return _mm256_srlv_epi32(word, shift);
}

inline __m512d channel(__m256i rgb, int ch) {
  const __m256i v = _mm256_and_si256(_mm256_srli_epi32(rgb, 8 * ch), _mm256_set1_epi32(0xff));
  return _mm512_cvtepi32_pd(v);
}

// The horizontal interpolation of source row R at every column c < Wp8 (W rounded up to 8, as the tables):
// hi [3][Wp8], hi[ch][c] = (1 - fc) * in[R][c0[c]][ch] + fc * in[R][c1[c]][ch], the expression of the scalar
// rows' top (source row r0) and bottom (r1) terms, which depend on the output column and the source row only
void interpolate_row(double* hi, const uint8_t* in, int R, const double* fc, const int32_t* c0, const int32_t* c1,
                     int W, int Wp8) {
  const __m512d one = _mm512_set1_pd(1.0);
  const __m256i row = _mm256_set1_epi32(R * 3 * W), three = _mm256_set1_epi32(3);
  for (int c = 0; c < Wp8; c += 8) {
    const __m256i col0 = _mm256_mullo_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(c0 + c)), three);
    const __m256i col1 = _mm256_mullo_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(c1 + c)), three);
    const __m256i p0 = gather_rgb(in, _mm256_add_epi32(row, col0)), p1 = gather_rgb(in, _mm256_add_epi32(row, col1));
    const __m512d fcv = _mm512_loadu_pd(fc + c), wc0 = _mm512_sub_pd(one, fcv);
    for (int ch = 0; ch < 3; ch++)
      _mm512_storeu_pd(hi + size_t(ch) * Wp8 + c,
                       _mm512_add_pd(_mm512_mul_pd(wc0, channel(p0, ch)), _mm512_mul_pd(fcv, channel(p1, ch))));
  }
}

}  // namespace

// Each source row's horizontal interpolations are computed once (interpolate_row, on first use) and shared by the
// output rows that sample it, as their top or bottom term; a block of 8 output columns whose source rows r0 span
// two rows (the shear tilts the sampled line) blends the two rows' terms per lane. r0 is monotone along a row (the
// source row is linear in the column before the clamps and the truncation, all monotone), so its end lanes
// bound it; a block spanning more than two rows (a shear of more than 1/8 row a column) gathers its pixels itself.
// The last block of a row (W % 8 columns) is computed whole and stored masked.
void augment_warp_rows_rgb(float* out, const uint8_t* in, const double* term, const double* fc, const int32_t* c0,
                           const int32_t* c1, const int32_t* to, bool flip, double a00, double orow, int H, int W,
                           float scale) {
  const __m512d zero = _mm512_setzero_pd(), one = _mm512_set1_pd(1.0), last_row = _mm512_set1_pd(H - 1),
                orow_v = _mm512_set1_pd(orow);
  const __m256i W3 = _mm256_set1_epi32(3 * W), three = _mm256_set1_epi32(3), max_row = _mm256_set1_epi32(H - 1);
  const __m256 scale_v = _mm256_set1_ps(scale);
  const int Wp8 = (W + 7) / 8 * 8;  // the columns of the tables, the last block's past the image included
  thread_local std::vector<double> table;  // [H][3][Wp8] interpolate_row of each source row, where ready
  thread_local std::vector<uint8_t> ready;  // [H]
  table.resize(size_t(H) * 3 * Wp8);
  ready.assign(size_t(H), 0);
  auto source_row = [&](int R) -> const double* {
    double* hi = table.data() + size_t(R) * 3 * Wp8;
    if (!ready[R]) interpolate_row(hi, in, R, fc, c0, c1, W, Wp8), ready[R] = 1;
    return hi;
  };
  // Interleaving indices into (rg = R0..R7 G0..G7, b = B0..B7): output float 3j + ch is channel ch of pixel j, or
  // where the row is mirrored of pixel n - 1 - j, n the block's columns in the image (8, or W % 8 for the last)
  struct Interleave {
    __m512i lo, hi;
    __mmask16 keep_lo, keep_hi;  // the 3 n floats of the block's pixels
  };
  auto interleave = [flip](int n) {
    alignas(64) int lo[16] = {}, hi[16] = {};
    for (int f = 0; f < 3 * n; f++) {
      const int j = f / 3, ch = f % 3, k = flip ? n - 1 - j : j;
      (f < 16 ? lo[f] : hi[f - 16]) = ch == 0 ? k : ch == 1 ? 8 + k : 16 + k;
    }
    return Interleave{_mm512_load_si512(lo), _mm512_load_si512(hi), __mmask16(3 * n >= 16 ? 0xffff : (1u << 3 * n) - 1),
                      __mmask16(3 * n > 16 ? (1u << (3 * n - 16)) - 1 : 0)};
  };
  const Interleave whole = interleave(8), last = interleave(W - (Wp8 - 8));
  for (int r = 0; r < H; r++) {
    const double rterm = a00 * (r - orow);
    const __m512d rterm_v = _mm512_set1_pd(rterm);
    float* orow_out = out + size_t(r) * W * 3;
    for (int c = 0; c < W; c += 8) {
      __m512d sr = _mm512_add_pd(_mm512_add_pd(rterm_v, _mm512_loadu_pd(term + c)), orow_v);
      sr = _mm512_mask_blend_pd(_mm512_cmp_pd_mask(sr, last_row, _CMP_GT_OQ), sr, last_row);
      sr = _mm512_mask_blend_pd(_mm512_cmp_pd_mask(sr, zero, _CMP_NGE_UQ), sr, zero);  // !(sr >= 0): NaN too
      const __m256i r0 = _mm512_cvttpd_epi32(sr);
      const __m512d fr = _mm512_sub_pd(sr, _mm512_cvtepi32_pd(r0));
      const __m512d wr0 = _mm512_sub_pd(one, fr);
      const int first = _mm256_cvtsi256_si32(r0), end = _mm256_extract_epi32(r0, 7);
      const int low = first < end ? first : end, high = first < end ? end : first;
      __m256 rgb[3];
      if (high - low <= 1) {
        // lanes at row low + 1 take the next row's terms; r1 = min(r0 + 1, H - 1) as below
        const __mmask8 next = _mm512_cmp_pd_mask(_mm512_cvtepi32_pd(r0), _mm512_set1_pd(low), _CMP_GT_OQ);
        const int below = low + 1 < H ? low + 1 : H - 1, below2 = low + 2 < H ? low + 2 : H - 1;
        const double *t0 = source_row(low), *t1 = source_row(below);
        const double* b1 = next ? source_row(below2) : nullptr;  // only where some lanes are a row further
        for (int ch = 0; ch < 3; ch++) {
          const size_t o = size_t(ch) * Wp8 + c;
          __m512d top = _mm512_loadu_pd(t0 + o), bottom = _mm512_loadu_pd(t1 + o);
          if (b1) {
            top = _mm512_mask_blend_pd(next, top, bottom);
            bottom = _mm512_mask_blend_pd(next, bottom, _mm512_loadu_pd(b1 + o));
          }
          const __m512d v = _mm512_add_pd(_mm512_mul_pd(wr0, top), _mm512_mul_pd(fr, bottom));
          rgb[ch] = _mm256_mul_ps(_mm512_cvtpd_ps(v), scale_v);
        }
      } else {
        const __m256i r1 = _mm256_min_epi32(_mm256_add_epi32(r0, _mm256_set1_epi32(1)), max_row);
        const __m512d fcv = _mm512_loadu_pd(fc + c);
        const __m512d wc0 = _mm512_sub_pd(one, fcv);
        const __m256i col0 = _mm256_mullo_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(c0 + c)), three);
        const __m256i col1 = _mm256_mullo_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(c1 + c)), three);
        const __m256i row0 = _mm256_mullo_epi32(r0, W3), row1 = _mm256_mullo_epi32(r1, W3);
        const __m256i p00 = gather_rgb(in, _mm256_add_epi32(row0, col0)), p01 = gather_rgb(in, _mm256_add_epi32(row0, col1));
        const __m256i p10 = gather_rgb(in, _mm256_add_epi32(row1, col0)), p11 = gather_rgb(in, _mm256_add_epi32(row1, col1));
        for (int ch = 0; ch < 3; ch++) {
          // (1 - fr) * ((1 - fc) * v00 + fc * v01) + fr * ((1 - fc) * v10 + fc * v11), as the scalar code
          const __m512d top = _mm512_add_pd(_mm512_mul_pd(wc0, channel(p00, ch)), _mm512_mul_pd(fcv, channel(p01, ch)));
          const __m512d bottom = _mm512_add_pd(_mm512_mul_pd(wc0, channel(p10, ch)), _mm512_mul_pd(fcv, channel(p11, ch)));
          const __m512d v = _mm512_add_pd(_mm512_mul_pd(wr0, top), _mm512_mul_pd(fr, bottom));
          rgb[ch] = _mm256_mul_ps(_mm512_cvtpd_ps(v), scale_v);
        }
      }
      // the block's pixels interleaved to 3 n floats (16 then the rest), stored at their (mirrored) columns: the
      // first of them is c, or where mirrored to[c + n - 1]
      const int n = W - c < 8 ? W - c : 8;
      const Interleave& il = n == 8 ? whole : last;
      const __m512 rg = _mm512_castpd_ps(
          _mm512_insertf64x4(_mm512_castpd256_pd512(_mm256_castps_pd(rgb[0])), _mm256_castps_pd(rgb[1]), 1));
      const __m512 b = _mm512_castps256_ps512(rgb[2]);
      float* o = orow_out + size_t(flip ? to[c + n - 1] : to[c]) * 3;
      _mm512_mask_storeu_ps(o, il.keep_lo, _mm512_permutex2var_ps(rg, il.lo, b));
      _mm512_mask_storeu_ps(o + 16, il.keep_hi, _mm512_permutex2var_ps(rg, il.hi, b));
    }
  }
}

}  // namespace engine::avx512
