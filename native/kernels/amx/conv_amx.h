// bf16 3x3 convolutions on AMX tiles (conv_amx.inc), the bf16 tier for CPUs with AMX; same arguments and packed
// kernels as avx512bf16 (conv_bf16.h), and false when their scratch memory cannot be allocated. engine::amx runs
// the real instructions (only where amx_usable(), see kernels.h); engine::amx_emulated runs the same code on a
// C++ model of the tiles, on any CPU, for tests.
#pragma once

#include <cstddef>
#include <cstdint>

namespace engine {

// Shapes the AMX kernels take (the network uses the AVX512-BF16 ones elsewhere): channel counts in blocks of 32.
inline bool amx_fits(int Cin, int Cout) { return Cin % 32 == 0 && Cout % 32 == 0; }
// ... and the first block (conv -> ReLU -> max-pool, its forward and weight gradient) with few input channels (the
// image's), whose 9 * Cin kernel inputs fit one tile row
inline bool amx_fits_narrow(int Cin, int Cout) { return 9 * Cin <= 32 && Cout % 32 == 0; }

// The narrow forward's kernel, bf16 pairs [16][Cout]: pair j holds the kernel inputs 2j and 2j + 1, input f =
// (ky * 3 + kx) * Cin + c being w[ky][kx][c][co], zero past 9 * Cin (bf16_pack.cpp)
inline size_t amx_narrow_kernel_size(int Cout) { return size_t(16) * Cout; }
void amx_pack_kernel_narrow(uint32_t* wpn, const float* w, int Cin, int Cout);

// The bf16 input a block's forward reads in place (conv3x3_relu_maxpool_forward_packed's in16): [H][W][Cin] and
// 32 pixels of zeros past it, which the last block of outputs reads. A block forward's out16 (null: none) is its
// pooled output in bf16, the next block's in16.
constexpr int kAmxOverrunPixels = 32;
inline size_t amx_block_input_size(int H, int W, int Cin) { return (size_t(H) * W + kAmxOverrunPixels) * Cin; }

#define ENGINE_DECLARE_AMX_CONV(ns)                                                                            \
  namespace ns {                                                                                               \
  bool conv3x3_forward_packed(float* out, const float* in, const uint32_t* wp, const float* b, int N, int H,    \
                              int W, int Cin, int Cout, bool relu);                                            \
  bool conv3x3_relu_maxpool_forward_narrow_packed(float* out, uint16_t* out16, uint8_t* code, const float* in, \
                                                  const uint32_t* wpn, const float* b, int N, int H, int W,    \
                                                  int Cin, int Cout);                                          \
  bool conv3x3_backward_input_packed(float* din, const float* dout, const uint32_t* wp, int N, int H, int W,   \
                                     int Cin, int Cout);                                                       \
  bool conv3x3_backward_weight(float* dw, float* db, const float* dout, const float* in, int N, int H, int W,   \
                               int Cin, int Cout);                                                             \
  bool conv3x3_backward_weight_narrow(float* dw, float* db, const float* dout, const float* in, int N, int H,   \
                                      int W, int Cin, int Cout);                                               \
  bool relu_maxpool_conv3x3_backward_weight_narrow(float* dw, float* db, const float* dpool,                   \
                                                   const uint8_t* code, const float* in, int N, int H, int W,  \
                                                   int Cin, int Cout);                                         \
  bool conv3x3_relu_maxpool_forward_packed(float* out, uint16_t* out16, uint8_t* code, const float* in,        \
                                           const uint16_t* in16, const uint32_t* wp, const float* b, int N,    \
                                           int H, int W, int Cin, int Cout);                                   \
  bool relu_maxpool_conv3x3_backward_packed(float* din, float* dw, float* db, const float* dpool,              \
                                            const uint8_t* code, const float* in, const uint16_t* in16,        \
                                            const uint32_t* wp, int N, int H, int W, int Cin, int Cout);       \
  }

ENGINE_DECLARE_AMX_CONV(amx)
ENGINE_DECLARE_AMX_CONV(amx_emulated)

#undef ENGINE_DECLARE_AMX_CONV

}  // namespace engine
