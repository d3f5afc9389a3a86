// The bf16 kernels' packed layout (conv_bf16.h), shared by the AVX512-BF16 and AMX kernels, and the portable
// conversions (bf16_convert.h) of the AMX tile model: plain C++ for the baseline ISA, so that the AMX emulator
// (and its tests) never execute AVX-512 code. The packing runs once per step.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/bf16/bf16_bits.h"
#include "kernels/bf16/bf16_convert.h"
#include "kernels/amx/conv_amx.h"
#include "kernels/bf16/conv_bf16.h"

namespace engine::avx512bf16 {
namespace {

// wp [3][3*Cp/2][Cout] dword = (w[ky][kx][2c][co], w[ky][kx][2c+1][co]) from w [3][3][Cin][Cout] (HWIO), with a
// zero for the channel past an odd Cin. With transpose_flip, the kernel of the input gradient instead:
// w'[ky][kx][co][ci] = w[2-ky][2-kx][ci][co], whose "input channels" are the Cout of w.
void pack_kernel_impl(uint32_t* wp, const float* w, int Cin, int Cout, bool transpose_flip) {
  const int Ci = transpose_flip ? Cout : Cin, Co = transpose_flip ? Cin : Cout;
  const int Cp2 = (Ci + 1) / 2;
  if (Ci % 2 == 0) {  // the network's shapes: whole pairs, read along rows of w (the loops vectorise)
    for (int tap = 0; tap < 9; tap++) {
      uint32_t* d = wp + size_t(tap) * Cp2 * Co;  // [Cp2][Co]
      if (!transpose_flip) {
        for (int c2 = 0; c2 < Cp2; c2++) {
          const float* a = w + (size_t(tap) * Cin + 2 * c2) * Cout;  // w[tap][2 c2][.], then w[tap][2 c2 + 1][.]
          for (int co = 0; co < Co; co++) d[size_t(c2) * Co + co] = uint32_t(bf16_bits(a[co])) | uint32_t(bf16_bits(a[Cout + co])) << 16;
        }
      } else {
        const float* f = w + size_t(8 - tap) * Cin * Cout;  // the flipped tap: w'[tap][co][ci] = w[8 - tap][ci][co]
        for (int co = 0; co < Co; co++)
          for (int c2 = 0; c2 < Cp2; c2++)
            d[size_t(c2) * Co + co] = uint32_t(bf16_bits(f[size_t(co) * Cout + 2 * c2])) |
                                      uint32_t(bf16_bits(f[size_t(co) * Cout + 2 * c2 + 1])) << 16;
      }
    }
    return;
  }
  auto at = [&](int ky, int kx, int ci, int co) -> float {
    if (ci >= Ci) return 0.0f;
    return transpose_flip ? w[((size_t(2 - ky) * 3 + (2 - kx)) * Cin + co) * Cout + ci]
                          : w[((size_t(ky) * 3 + kx) * Cin + ci) * Cout + co];
  };
  for (int ky = 0; ky < 3; ky++)
    for (int kx = 0; kx < 3; kx++)
      for (int c2 = 0; c2 < Cp2; c2++)
        for (int co = 0; co < Co; co++)
          wp[((size_t(ky) * 3 * Cp2) + size_t(kx) * Cp2 + c2) * Co + co] =
              uint32_t(bf16_bits(at(ky, kx, 2 * c2, co))) | (uint32_t(bf16_bits(at(ky, kx, 2 * c2 + 1, co))) << 16);
}

}  // namespace

size_t packed_kernel_size(int Cin, int Cout) { return size_t(9) * ((Cin + 1) / 2) * Cout; }

void pack_kernel(uint32_t* wp, const float* w, int Cin, int Cout) { pack_kernel_impl(wp, w, Cin, Cout, false); }

void pack_kernel_for_input_gradient(uint32_t* wp, const float* w, int Cin, int Cout) {
  pack_kernel_impl(wp, w, Cin, Cout, true);
}

}  // namespace engine::avx512bf16

namespace engine {

void amx_pack_kernel_narrow(uint32_t* wpn, const float* w, int Cin, int Cout) {
  const int inputs = 9 * Cin;  // w [ky][kx][c][co] = w [f][co]
  auto at = [&](int f, int co) { return f < inputs ? w[size_t(f) * Cout + co] : 0.0f; };
  for (int j = 0; j < 16; j++)
    for (int co = 0; co < Cout; co++)
      wpn[size_t(j) * Cout + co] = uint32_t(bf16_bits(at(2 * j, co))) | (uint32_t(bf16_bits(at(2 * j + 1, co))) << 16);
}

}  // namespace engine

namespace engine::portable {

void to_bf16(uint16_t* dst, const float* src, size_t n) {
  for (size_t i = 0; i < n; i++) dst[i] = bf16_bits(src[i]);
}

void interleave_bf16(uint32_t* dst, const float* a, const float* b, size_t n) {
  for (size_t i = 0; i < n; i++)
    dst[i] = (a ? uint32_t(bf16_bits(a[i])) : 0u) | (b ? uint32_t(bf16_bits(b[i])) << 16 : 0u);
}

void pair_pixels_bf16(uint32_t* dst, const float* src, size_t pairs, int C) {
  for (size_t k = 0; k < pairs; k++) interleave_bf16(dst + k * C, src + 2 * k * C, src + (2 * k + 1) * C, size_t(C));
}

void route_pairs_bf16(uint32_t* top, uint32_t* bottom, const float* d, const uint8_t* code, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const uint32_t h = bf16_bits(d[i]), k = code[i];
    top[i] = k == 0 ? h : k == 1 ? h << 16 : 0u;
    bottom[i] = k == 2 ? h : k == 3 ? h << 16 : 0u;
  }
}

void transpose_to_bf16(uint16_t* dst, size_t dst_stride, const float* src, size_t pixels, int C) {
  for (int c = 0; c < C; c++) {
    uint16_t* row = dst + size_t(c) * dst_stride;
    for (size_t p = 0; p < pixels; p++) row[p] = bf16_bits(src[p * C + c]);
    std::memset(row + pixels, 0, (dst_stride - pixels) * 2);
  }
}

void transpose_bf16_channels(uint16_t* dst, size_t dst_stride, const uint16_t* src, size_t pixels, int C, int c0) {
  for (int c = c0; c < C; c++)
    for (size_t p = 0; p < pixels; p++) dst[size_t(c) * dst_stride + p] = src[p * C + c];
  for (int c = 0; c < C; c++) std::memset(dst + size_t(c) * dst_stride + pixels, 0, (dst_stride - pixels) * 2);
}

void transpose_bf16(uint16_t* dst, size_t dst_stride, const uint16_t* src, size_t pixels, int C) {
  transpose_bf16_channels(dst, dst_stride, src, pixels, C, 0);
}

}  // namespace engine::portable
