// bf16 3x3 convolutions with AVX512-BF16 (vdpbf16ps): operands rounded to bf16 (round to nearest even), products
// summed in fp32, fp32 in and out. They mirror the fp32 kernels of conv_simd.inc function for function; the
// reference they are tested against is ref::conv3x3_* in double on bf16-rounded operands (a bf16 x bf16
// product is exact in fp32, so the only difference is the fp32 summation). Compiled with -mavx512f -mavx512bw
// -mavx512vl -mavx512bf16; called only after a CPU check. No inline templates from shared headers (see
// conv_simd.inc). The file also holds the AVX512-BF16 build of the operand conversions (bf16_convert.h), which
// the AMX kernels call too.
//
// vdpbf16ps acc, a, b: acc[i] += a[2i]*b[2i] + a[2i+1]*b[2i+1], 16 fp32 lanes i. The lanes hold 16 output
// channels; the pair (2i, 2i+1) runs along the reduction:
//   forward / input gradient: pairs of adjacent input channels, so the input keeps its NHWC layout (Cin padded
//     to even) and a broadcast dword is one pixel's channel pair; the kernel is packed [ky][pair][Cout][2].
//   weight gradient: pairs of horizontally adjacent output pixels, so the output gradient is packed
//     [y][x/2][Cout][2] and the input [y][x][Cin][2] = (in[y][x][ci], in[y][x+1][ci]).
#include <immintrin.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "kernels/bf16/bf16_bits.h"
#include "kernels/bf16/bf16_convert.h"
#include "kernels/bf16/conv_bf16.h"
#include "cpu/thread_scratch.h"
#include "kernels/fp32/tile_size.h"
#include "kernels/fp32/zero_border.h"

namespace engine::avx512bf16 {

constexpr int L = 16;  // fp32 lanes

void to_bf16(uint16_t* dst, const float* src, size_t n) {
  size_t i = 0;
  for (; i + L <= n; i += L)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(src + i)));
  for (; i < n; i++) dst[i] = bf16_bits(src[i]);
}

void interleave_bf16(uint32_t* dst, const float* a, const float* b, size_t n) {
  auto half = [](const float* x) {  // 16 bf16 in the low halves of 16 dwords; zeros for a null x
    return x ? _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(x))) : _mm512_setzero_si512();
  };
  size_t i = 0;
  for (; i + L <= n; i += L)
    _mm512_storeu_si512(dst + i, _mm512_or_si512(half(a ? a + i : nullptr), _mm512_slli_epi32(half(b ? b + i : nullptr), 16)));
  for (; i < n; i++)
    dst[i] = (a ? uint32_t(bf16_bits(a[i])) : 0u) | (b ? uint32_t(bf16_bits(b[i])) << 16 : 0u);
}

void pair_pixels_bf16(uint32_t* dst, const float* src, size_t pairs, int C) {
  for (size_t k = 0; k < pairs; k++) interleave_bf16(dst + k * C, src + 2 * k * C, src + (2 * k + 1) * C, size_t(C));
}

void route_pairs_bf16(uint32_t* top, uint32_t* bottom, const float* d, const uint8_t* code, size_t n) {
  auto route = [](const __m512i h, __mmask16 low, __mmask16 high) {
    return _mm512_mask_mov_epi32(_mm512_maskz_mov_epi32(low, h), high, _mm512_slli_epi32(h, 16));
  };
  size_t i = 0;
  for (; i + L <= n; i += L) {
    const __m512i h = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(d + i)));
    const __m128i k = _mm_loadu_si128(reinterpret_cast<const __m128i*>(code + i));
    auto is = [&](int v) { return _mm_cmpeq_epi8_mask(k, _mm_set1_epi8(char(v))); };
    _mm512_storeu_si512(top + i, route(h, is(0), is(1)));
    _mm512_storeu_si512(bottom + i, route(h, is(2), is(3)));
  }
  portable::route_pairs_bf16(top + i, bottom + i, d + i, code + i, n - i);  // the tail, one by one
}

namespace {

// r [16] rows of 16 dwords to its transpose: unpacks of dwords and of qwords within 128-bit lanes, then a 4 x 4
// transpose of the lanes
inline void transpose16x16_epi32(__m512i r[16]) {
  __m512i a[16], b[16];
  for (int i = 0; i < 8; i++) {
    a[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
    a[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; i++) {  // b[4i + m], lane l: column 4l + m of rows 4i .. 4i + 3
    b[4 * i] = _mm512_unpacklo_epi64(a[4 * i], a[4 * i + 2]);
    b[4 * i + 1] = _mm512_unpackhi_epi64(a[4 * i], a[4 * i + 2]);
    b[4 * i + 2] = _mm512_unpacklo_epi64(a[4 * i + 1], a[4 * i + 3]);
    b[4 * i + 3] = _mm512_unpackhi_epi64(a[4 * i + 1], a[4 * i + 3]);
  }
  for (int m = 0; m < 4; m++) {
    const __m512i c0 = _mm512_shuffle_i32x4(b[m], b[4 + m], 0x44), c1 = _mm512_shuffle_i32x4(b[m], b[4 + m], 0xEE);
    const __m512i c2 = _mm512_shuffle_i32x4(b[8 + m], b[12 + m], 0x44);
    const __m512i c3 = _mm512_shuffle_i32x4(b[8 + m], b[12 + m], 0xEE);
    r[m] = _mm512_shuffle_i32x4(c0, c2, 0x88);
    r[4 + m] = _mm512_shuffle_i32x4(c0, c2, 0xDD);
    r[8 + m] = _mm512_shuffle_i32x4(c1, c3, 0x88);
    r[12 + m] = _mm512_shuffle_i32x4(c1, c3, 0xDD);
  }
}

}  // namespace

namespace {
// The image's case, 3 channels: 16 pixels' 48 floats in three vectors, each channel picked out by two permutes
// (indices 3 j + c, j < 16, of the 48)
void transpose_rgb_to_bf16(uint16_t* dst, size_t dst_stride, const float* src, size_t pixels) {
  alignas(64) int first[3][16], second[3][16];
  for (int c = 0; c < 3; c++)
    for (int j = 0; j < 16; j++) {
      const int f = 3 * j + c;                          // of the 48
      first[c][j] = f < 32 ? f : 0;                     // from (v0, v1); the rest filled next
      second[c][j] = f < 32 ? j : 16 + (f - 32);        // from (first pick, v2)
    }
  __m512i a[3], b[3];
  for (int c = 0; c < 3; c++) a[c] = _mm512_load_si512(first[c]), b[c] = _mm512_load_si512(second[c]);
  size_t p = 0;
  for (; p + L <= pixels; p += L) {
    const float* s = src + p * 3;
    const __m512 v0 = _mm512_loadu_ps(s), v1 = _mm512_loadu_ps(s + 16), v2 = _mm512_loadu_ps(s + 32);
    for (int c = 0; c < 3; c++) {
      const __m512 ch = _mm512_permutex2var_ps(_mm512_permutex2var_ps(v0, a[c], v1), b[c], v2);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + size_t(c) * dst_stride + p), (__m256i)_mm512_cvtneps_pbh(ch));
    }
  }
  for (; p < pixels; p++)
    for (int c = 0; c < 3; c++) dst[size_t(c) * dst_stride + p] = bf16_bits(src[p * 3 + c]);
  for (int c = 0; c < 3; c++) std::memset(dst + size_t(c) * dst_stride + pixels, 0, (dst_stride - pixels) * 2);
}

// 16 pixels x 32 channels at a time: each pixel's channels become one register of 16 channel pairs (dwords),
// a 16 x 16 dword transpose makes each register one pair's 16 pixels, and a word permutation separates the
// pair's two channels into the halves stored to their rows.
// r [16]: the bf16 channels c0 .. c0 + 31 of pixels p .. p + 15 (dword j of r[i]: channels c0 + 2j and + 1 of
// pixel p + i), the first np of them kept, to the rows of dst [C][dst_stride]
inline void store_transposed(uint16_t* dst, size_t dst_stride, size_t p, int np, int c0, __m512i r[16]) {
  alignas(64) static constexpr uint16_t kSeparate[32] = {0,  2,  4,  6,  8,  10, 12, 14, 16, 18, 20,
                                                          22, 24, 26, 28, 30, 1,  3,  5,  7,  9,  11,
                                                          13, 15, 17, 19, 21, 23, 25, 27, 29, 31};
  const __m512i separate = _mm512_load_si512(kSeparate);
  const __mmask16 keep = __mmask16((1u << np) - 1);
  transpose16x16_epi32(r);
  for (int j = 0; j < 16; j++) {
    const __m512i v = _mm512_permutexvar_epi16(separate, r[j]);
    uint16_t* d = dst + size_t(c0 + 2 * j) * dst_stride + p;
    _mm256_mask_storeu_epi16(d, keep, _mm512_castsi512_si256(v));
    _mm256_mask_storeu_epi16(d + dst_stride, keep, _mm512_extracti64x4_epi64(v, 1));
  }
}
}  // namespace

void transpose_bf16(uint16_t* dst, size_t dst_stride, const uint16_t* src, size_t pixels, int C) {
  const int Cv = C / 32 * 32;
  for (size_t p = 0; p < pixels; p += L) {
    const int np = pixels - p < size_t(L) ? int(pixels - p) : L;
    for (int c0 = 0; c0 < Cv; c0 += 32) {
      __m512i r[16];
      for (int i = 0; i < 16; i++) r[i] = i < np ? _mm512_loadu_si512(src + (p + i) * C + c0) : _mm512_setzero_si512();
      store_transposed(dst, dst_stride, p, np, c0, r);
    }
  }
  portable::transpose_bf16_channels(dst, dst_stride, src, pixels, C, Cv);
}

void transpose_to_bf16(uint16_t* dst, size_t dst_stride, const float* src, size_t pixels, int C) {
  if (C == 3) return transpose_rgb_to_bf16(dst, dst_stride, src, pixels);
  const int Cv = C / 32 * 32;
  for (size_t p = 0; p < pixels; p += L) {
    const int np = pixels - p < size_t(L) ? int(pixels - p) : L;
    const __mmask16 keep = __mmask16((1u << np) - 1);
    for (int c0 = 0; c0 < Cv; c0 += 32) {
      __m512i r[16];
      for (int i = 0; i < 16; i++) {
        const float* s = src + (p + i) * C + c0;
        r[i] = i < np ? (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(s + 16), _mm512_loadu_ps(s)) : _mm512_setzero_si512();
      }
      store_transposed(dst, dst_stride, p, np, c0, r);
    }
    // the channels past the last 32: 16 pixels of one channel gathered at a time
    const __m512i at = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                          _mm512_set1_epi32(C));
    for (int c = Cv; c < C; c++) {
      const __m512 v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), keep, at, src + p * C + c, 4);
      _mm256_mask_storeu_epi16(dst + size_t(c) * dst_stride + p, keep, (__m256i)_mm512_cvtneps_pbh(v));
    }
  }
  for (int c = 0; c < C; c++) std::memset(dst + size_t(c) * dst_stride + pixels, 0, (dst_stride - pixels) * 2);
}

namespace {

struct Scratch {
  void* p;
  explicit Scratch(size_t bytes) : p(std::aligned_alloc(64, ((bytes + 63) / 64) * 64)) {}
  ~Scratch() { std::free(p); }
  uint32_t* u32() const { return static_cast<uint32_t*>(p); }
};

inline __m512bh broadcast_pair(const uint32_t* p) { return (__m512bh)_mm512_set1_epi32(int(*p)); }
inline __m512bh load_pairs(const uint32_t* p) { return (__m512bh)_mm512_loadu_si512(p); }

// ---- forward: out[y, x0 + p, co0 + 16v] for p < PX, v < NV ----
// in: bf16 pairs [H][W][Cp/2] at pixel (y, x0); wp: packed kernel [3][3*Cp/2][Cout] dwords at column co0.
template <int NV, int PX>
inline void conv_tile(float* out, const uint32_t* in, const uint32_t* wp, const float* b, bool relu, int W, int Cp2,
                      int Cout) {
  __m512 acc[PX][NV];
  for (int v = 0; v < NV; v++) {
    const __m512 bv = _mm512_loadu_ps(b + v * L);
    for (int p = 0; p < PX; p++) acc[p][v] = bv;
  }
  const int span = 3 * Cp2;  // pairs of one kernel row: (kx, channel pair), contiguous in the input row
  for (int ky = 0; ky < 3; ky++) {
    const uint32_t* row = in + size_t(ky) * W * Cp2;
    const uint32_t* wr = wp + size_t(ky) * span * Cout;
    for (int j = 0; j < span; j++) {
      __m512bh wv[NV];
      for (int v = 0; v < NV; v++) wv[v] = load_pairs(wr + size_t(j) * Cout + v * L);
      for (int p = 0; p < PX; p++) {
        const __m512bh s = broadcast_pair(row + p * Cp2 + j);
        for (int v = 0; v < NV; v++) acc[p][v] = _mm512_dpbf16_ps(acc[p][v], s, wv[v]);
      }
    }
  }
  const __m512 zero = _mm512_setzero_ps();
  for (int p = 0; p < PX; p++)
    for (int v = 0; v < NV; v++) {
      __m512 a = acc[p][v];
      if (relu) a = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(a, zero, _CMP_GT_OQ), a);  // x > 0 ? x : 0
      _mm512_storeu_ps(out + size_t(p) * Cout + v * L, a);
    }
}

constexpr int tile_for(int nv) { return (32 - nv - 2) / nv; }

// One image: in [H][W][Cp/2] pairs, out [H-2][W-2][Cout] fp32.
template <int NV>
void conv_image(float* out, const uint32_t* in, const uint32_t* wp, const float* b, bool relu, int H, int W, int Cp2,
                int Cout) {
  constexpr int PX = tile_for(NV);
  const int Ho = H - 2, Wo = W - 2;
  for (int y = 0; y < Ho; y++)
    for (int co0 = 0; co0 < Cout; co0 += NV * L) {
      const uint32_t* irow = in + size_t(y) * W * Cp2;
      float* orow = out + size_t(y) * Wo * Cout + co0;
      int x = 0;
      for (; x + PX <= Wo; x += PX)
        conv_tile<NV, PX>(orow + size_t(x) * Cout, irow + size_t(x) * Cp2, wp + co0, b + co0, relu, W, Cp2, Cout);
      with_tile_size<PX - 1>(Wo - x, [&](auto px) {
        conv_tile<NV, decltype(px)::value>(orow + size_t(x) * Cout, irow + size_t(x) * Cp2, wp + co0, b + co0, relu, W,
                                           Cp2, Cout);
      });
    }
}

void conv_image_any(float* out, const uint32_t* in, const uint32_t* wp, const float* b, bool relu, int H, int W,
                    int Cp2, int Cout) {
  if (Cout % (4 * L) == 0) conv_image<4>(out, in, wp, b, relu, H, W, Cp2, Cout);
  else if (Cout % (2 * L) == 0) conv_image<2>(out, in, wp, b, relu, H, W, Cp2, Cout);
  else conv_image<1>(out, in, wp, b, relu, H, W, Cp2, Cout);
}

// pairs [H][W][Cp/2] of one image from in [H][W][C] (C odd: a zero channel appended)
void pack_channels(uint32_t* pairs, const float* in, size_t pixels, int C) {
  if (C % 2 == 0) {
    to_bf16(reinterpret_cast<uint16_t*>(pairs), in, pixels * C);
    return;
  }
  const int Cp2 = (C + 1) / 2;
  uint16_t* h = reinterpret_cast<uint16_t*>(pairs);
  for (size_t p = 0; p < pixels; p++) {
    for (int c = 0; c < C; c++) h[p * 2 * Cp2 + c] = bf16_bits(in[p * C + c]);
    h[p * 2 * Cp2 + C] = 0;
  }
}

// ---- weight gradient: dw[ky, j0 + k, co0 + 16v] for k < KB over pixel pairs ----
// inp: input pairs (in[y][x][c], in[y][x+1][c]) as [H][W*Cin] dwords, at row ky, tap j0; g: output gradient
// pairs [Ho][Wo2][Cout] dwords at column co0.
template <int NV, int KB>
inline void dw_tile(float* dw, const uint32_t* inp, const uint32_t* g, int Ho, int Wo2, int W, int Cin, int Cout) {
  __m512 acc[KB][NV];
  for (int k = 0; k < KB; k++)
    for (int v = 0; v < NV; v++) acc[k][v] = _mm512_setzero_ps();
  for (int y = 0; y < Ho; y++) {
    const uint32_t* irow = inp + size_t(y) * W * Cin;
    const uint32_t* grow = g + size_t(y) * Wo2 * Cout;
    for (int x2 = 0; x2 < Wo2; x2++) {
      __m512bh gv[NV];
      for (int v = 0; v < NV; v++) gv[v] = load_pairs(grow + size_t(x2) * Cout + v * L);
      const uint32_t* ip = irow + size_t(2 * x2) * Cin;
      for (int k = 0; k < KB; k++) {
        const __m512bh s = broadcast_pair(ip + k);
        for (int v = 0; v < NV; v++) acc[k][v] = _mm512_dpbf16_ps(acc[k][v], s, gv[v]);
      }
    }
  }
  for (int k = 0; k < KB; k++)
    for (int v = 0; v < NV; v++) {
      float* d = dw + size_t(k) * Cout + v * L;
      _mm512_storeu_ps(d, _mm512_add_ps(_mm512_loadu_ps(d), acc[k][v]));
    }
}

template <int NV>
void dw_image(float* dw, const uint32_t* g, const uint32_t* inp, int H, int W, int Cin, int Cout) {
  constexpr int KB = tile_for(NV);
  const int Ho = H - 2, Wo2 = (W - 1) / 2, span = 3 * Cin;  // Wo2 = ceil((W-2)/2)
  for (int ky = 0; ky < 3; ky++)
    for (int co0 = 0; co0 < Cout; co0 += NV * L) {
      const uint32_t* irow = inp + size_t(ky) * W * Cin;
      float* dwr = dw + size_t(ky) * span * Cout + co0;
      int j = 0;
      for (; j + KB <= span; j += KB) dw_tile<NV, KB>(dwr + size_t(j) * Cout, irow + j, g + co0, Ho, Wo2, W, Cin, Cout);
      with_tile_size<KB - 1>(span - j, [&](auto kb) {
        dw_tile<NV, decltype(kb)::value>(dwr + size_t(j) * Cout, irow + j, g + co0, Ho, Wo2, W, Cin, Cout);
      });
    }
}

// db [Cout] += the sum over pixels of g [pixels, Cout], each channel's in pixel order: NV vectors of channels at a
// time, their running sums in registers (summed through memory, every pixel waited on the last one's store).
template <int NV>
void add_channel_sums_in_order(float* db, const float* g, size_t pixels, int Cout) {
  for (int c = 0; c < Cout; c += NV * L) {
    __m512 a[NV];
    for (int v = 0; v < NV; v++) a[v] = _mm512_loadu_ps(db + c + v * L);
    for (size_t p = 0; p < pixels; p++)
      for (int v = 0; v < NV; v++) a[v] = _mm512_add_ps(a[v], _mm512_loadu_ps(g + p * Cout + c + v * L));
    for (int v = 0; v < NV; v++) _mm512_storeu_ps(db + c + v * L, a[v]);
  }
}

}  // namespace

bool conv3x3_forward_packed(float* out, const float* in, const uint32_t* wp, const float* b, int N, int H, int W,
                            int Cin, int Cout, bool relu) {
  const int Cp2 = (Cin + 1) / 2;
  thread_local ThreadScratch pairs_s;
  uint32_t* pairs = pairs_s.get<uint32_t>(size_t(H) * W * Cp2);
  if (!pairs) return false;
  for (int n = 0; n < N; n++) {
    pack_channels(pairs, in + size_t(n) * H * W * Cin, size_t(H) * W, Cin);
    conv_image_any(out + size_t(n) * (H - 2) * (W - 2) * Cout, pairs, wp, b, relu, H, W, Cp2, Cout);
  }
  return true;
}

bool conv3x3_forward(float* out, const float* in, const float* w, const float* b, int N, int H, int W, int Cin,
                     int Cout, bool relu) {
  Scratch wp{packed_kernel_size(Cin, Cout) * 4};
  if (!wp.p) return false;
  pack_kernel(wp.u32(), w, Cin, Cout);
  return conv3x3_forward_packed(out, in, wp.u32(), b, N, H, W, Cin, Cout, relu);
}

// As in conv_simd.inc: a forward pass over the output gradient padded by 2, with the kernel flipped in space
// and transposed in channels.
bool conv3x3_backward_input_packed(float* din, const float* dout, const uint32_t* wp, int N, int H, int W, int Cin,
                                   int Cout) {
  const int Ho = H - 2, Wo = W - 2, Hp = Ho + 4, Wp = Wo + 4, Cp2 = (Cout + 1) / 2;
  thread_local ThreadScratch padded_s, zero_s;
  uint32_t* padded = padded_s.get<uint32_t>(size_t(Hp) * Wp * Cp2);
  float* zero = zero_s.get<float>(size_t(Cin));
  if (!padded || !zero) return false;
  std::memset(zero, 0, size_t(Cin) * 4);
  zero_border(padded, Hp, Wp, size_t(Cp2) * 4);
  for (int n = 0; n < N; n++) {
    for (int y = 0; y < Ho; y++)
      pack_channels(padded + ((size_t(y) + 2) * Wp + 2) * Cp2, dout + (size_t(n) * Ho + y) * Wo * Cout, Wo, Cout);
    conv_image_any(din + size_t(n) * H * W * Cin, padded, wp, zero, false, Hp, Wp,
                   Cp2, Cin);
  }
  return true;
}

bool conv3x3_backward_input(float* din, const float* dout, const float* w, int N, int H, int W, int Cin, int Cout) {
  Scratch wp{packed_kernel_size(Cout, Cin) * 4};
  if (!wp.p) return false;
  pack_kernel_for_input_gradient(wp.u32(), w, Cin, Cout);
  return conv3x3_backward_input_packed(din, dout, wp.u32(), N, H, W, Cin, Cout);
}

bool conv3x3_backward_weight(float* dw, float* db, const float* dout, const float* in, int N, int H, int W, int Cin,
                             int Cout) {
  const int Ho = H - 2, Wo = W - 2, Wo2 = (Wo + 1) / 2;
  const size_t in_n = size_t(H) * W * Cin;
  thread_local ThreadScratch inp_s, g_s;
  uint32_t* inp = inp_s.get<uint32_t>(in_n);
  uint32_t* gp = g_s.get<uint32_t>(size_t(Ho) * Wo2 * Cout);
  if (!inp || !gp) return false;
  for (int n = 0; n < N; n++) {
    const float* x = in + size_t(n) * in_n;
    const float* gn = dout + size_t(n) * Ho * Wo * Cout;
    if (Cout % (4 * L) == 0) add_channel_sums_in_order<4>(db, gn, size_t(Ho) * Wo, Cout);
    else if (Cout % (2 * L) == 0) add_channel_sums_in_order<2>(db, gn, size_t(Ho) * Wo, Cout);
    else add_channel_sums_in_order<1>(db, gn, size_t(Ho) * Wo, Cout);
    // input pairs along x; the last element's partner lies past the image and is taken as 0 (it only ever
    // meets a zero gradient: the partner of the last pixel of an odd-width row)
    interleave_bf16(inp, x, x + Cin, in_n - Cin);
    interleave_bf16(inp + in_n - Cin, x + in_n - Cin, nullptr, size_t(Cin));
    for (int y = 0; y < Ho; y++) {
      const float* grow = gn + size_t(y) * Wo * Cout;
      uint32_t* prow = gp + size_t(y) * Wo2 * Cout;
      pair_pixels_bf16(prow, grow, size_t(Wo / 2), Cout);
      if (Wo % 2)
        interleave_bf16(prow + size_t(Wo / 2) * Cout, grow + size_t(Wo - 1) * Cout, nullptr, Cout);
    }
    if (Cout % (4 * L) == 0) dw_image<4>(dw, gp, inp, H, W, Cin, Cout);
    else if (Cout % (2 * L) == 0) dw_image<2>(dw, gp, inp, H, W, Cin, Cout);
    else dw_image<1>(dw, gp, inp, H, W, Cin, Cout);
  }
  return true;
}

}  // namespace engine::avx512bf16
