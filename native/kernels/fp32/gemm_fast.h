// Convolutions as matrix products (gemm_simd.inc), one namespace per instruction set: any kernel size, stride and
// zero padding, the pixels of all the images as the product's rows (im2col in chunks that stay in L2; a 1x1
// convolution of stride 1 reads its input as the matrix). For the small images' convolutions, whatever their
// channel counts. False when scratch memory cannot be had.
#pragma once

namespace engine {

// A convolution's geometry (as ref::ConvGeom, without the header's templates): k x k kernel, stride s, padding pt
// rows on top and pl columns on the left, Ho x Wo outputs
struct GemmConv {
  int k, s, pt, pl, Ho, Wo;
};

#define ENGINE_DECLARE_GEMM_CONV(ns)                                                                          \
  namespace ns {                                                                                              \
  bool gemm_conv_forward(float* out, const float* in, const float* w, const float* b, int N, int H, int W,    \
                         int Cin, int Cout, const GemmConv& g, bool relu);                                    \
  bool gemm_conv_backward_input(float* din, const float* dout, const float* w, int N, int H, int W, int Cin,   \
                                int Cout, const GemmConv& g);                                                 \
  bool gemm_conv_backward_weight(float* dw, float* db, const float* dout, const float* in, int N, int H, int W, \
                                 int Cin, int Cout, const GemmConv& g);                                       \
  }

ENGINE_DECLARE_GEMM_CONV(avx512)
ENGINE_DECLARE_GEMM_CONV(avx2)

#undef ENGINE_DECLARE_GEMM_CONV

}  // namespace engine
