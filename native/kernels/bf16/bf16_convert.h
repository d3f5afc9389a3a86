// fp32 activations and gradients to the bf16 operands of the bf16 kernels, rounded to nearest even, in two builds:
// avx512bf16:: (vcvtneps2bf16, compiled into conv_bf16_avx512.cpp; called only where the CPU has AVX512-BF16) and
// portable:: (plain C++, bf16_pack.cpp, for the AMX tile model that runs on any CPU). Their results are the same
// bits for normal and zero inputs; vcvtneps2bf16 turns denormals into zero, as the bf16 dot instructions read them.
#pragma once

#include <cstddef>
#include <cstdint>

namespace engine {

#define ENGINE_DECLARE_BF16_CONVERT(ns)                                                                     \
  namespace ns {                                                                                            \
  /* dst [n] = bf16(src [n]) */                                                                             \
  void to_bf16(uint16_t* dst, const float* src, size_t n);                                                  \
  /* dst [n] dwords = (bf16(a[i]), bf16(b[i])), the low half from a; a or b null: zeros */                  \
  void interleave_bf16(uint32_t* dst, const float* a, const float* b, size_t n);                            \
  /* dst [pairs][C] dwords = (bf16(src[2k][c]), bf16(src[2k+1][c])) from src [2 * pairs][C] */              \
  void pair_pixels_bf16(uint32_t* dst, const float* src, size_t pairs, int C);                              \
  /* dst [C][dst_stride] bf16: columns [0, pixels) src [pixels][C] transposed, the rest zero */           \
  void transpose_to_bf16(uint16_t* dst, size_t dst_stride, const float* src, size_t pixels, int C);         \
  /* the same from src already in bf16 (no conversion) */                                                  \
  void transpose_bf16(uint16_t* dst, size_t dst_stride, const uint16_t* src, size_t pixels, int C);         \
  /* a 2x2 max-pool's gradient d [n] routed by its code [n] (0-3: the window's row-major position of its     \
     maximum; 4: none) to the pixel pairs of its two conv rows: top [n] dwords hold bf16(d[i]) in the low    \
     half where code[i] is 0, in the high half where it is 1, zero elsewhere; bottom likewise for 2 and 3 */ \
  void route_pairs_bf16(uint32_t* top, uint32_t* bottom, const float* d, const uint8_t* code, size_t n);   \
  }

ENGINE_DECLARE_BF16_CONVERT(avx512bf16)
ENGINE_DECLARE_BF16_CONVERT(portable)

namespace portable {
// transpose_bf16's channels from c0 on, then the zeros past the pixels of every channel (the AVX-512 version's
// tail: channels past the last 32)
void transpose_bf16_channels(uint16_t* dst, size_t dst_stride, const uint16_t* src, size_t pixels, int C, int c0);
}

#undef ENGINE_DECLARE_BF16_CONVERT

}  // namespace engine
