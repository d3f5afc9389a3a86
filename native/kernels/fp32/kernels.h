// The CPU kernels by family (kernels/impl.h): the plan (model/plan.h) picks the family of every step, and these
// run exactly that one. An fp32 direct tier that does not take the shape throws std::logic_error (a planning bug),
// never falls back silently. Double precision always runs the reference (it exists for gradient checks).
#pragma once

#include <cstdint>
#include <new>
#include <string>

#include "kernels/impl.h"
#include "kernels/ref/ref.h"

namespace engine {

// The fast kernels return false when their scratch memory cannot be allocated; their callers pass that on as
// std::bad_alloc (which the addon reports as "out of host memory").
inline void require_scratch(bool allocated) {
  if (!allocated) throw std::bad_alloc();
}

// fp32 direct kernels: k is Impl::Reference, Avx2 or Avx512 (fp32_impl of the channels they vectorize).
void conv3x3_forward(Impl k, float* out, const float* in, const float* w, const float* b, int N, int H, int W,
                     int Cin, int Cout);
void conv3x3_backward_input(Impl k, float* din, const float* dout, const float* w, int N, int H, int W, int Cin,
                            int Cout);
void conv3x3_backward_weight(Impl k, float* dw, float* db, const float* dout, const float* in, int N, int H, int W,
                             int Cin, int Cout);

void conv3x3_relu_forward(Impl k, float* out, const float* in, const float* w, const float* b, int N, int H,
                          int W, int Cin, int Cout);
void maxpool2x2_forward(Impl k, float* out, const float* in, int N, int H, int W, int C);
void relu_maxpool2x2_backward(Impl k, float* din, const float* dout, const float* in, int N, int H, int W, int C);
// din = dout routed to each 2x2 window's first maximum of in (ref::maxpool2x2_backward's bits)
void maxpool2x2_backward(Impl k, float* din, const float* dout, const float* in, int N, int H, int W, int C);

// dense layers (the reference's sums exactly, whichever tier): k Reference, Avx2 or Avx512 by O (forward, weight
// gradient) or I (input gradient, which takes the kernel transposed, wT [O, I], when k is not the reference; the
// reference takes w [I, O])
void dense_forward(Impl k, float* out, const float* in, const float* w, const float* b, int N, int I, int O);
void dense_backward_weight(Impl k, float* dw, float* db, const float* dout, const float* in, int N, int I, int O);
void dense_backward_input(Impl k, float* din, const float* dout, const float* w_or_wT, int N, int I, int O);
// wT [O, I] = w [I, O] transposed
void transpose_dense_kernel(float* wT, const float* w, int I, int O);

// Convolutions of any geometry as matrix products (gemm_fast.h), k GemmAvx2 or GemmAvx512 (any channel counts: the
// products' tails are masked) or Reference (the reference of that geometry)
void gemm_conv_forward(Impl k, float* out, const float* in, const float* w, const float* b, int N, int H, int W,
                       int Cin, int Cout, const ref::ConvGeom& g, bool relu);
void gemm_conv_backward_input(Impl k, float* din, const float* dout, const float* w, int N, int H, int W, int Cin,
                              int Cout, const ref::ConvGeom& g);
void gemm_conv_backward_weight(Impl k, float* dw, float* db, const float* dout, const float* in, int N, int H, int W,
                               int Cin, int Cout, const ref::ConvGeom& g);

// batch norm (ref.h's batchnorm_*), k Avx2, Avx512 (any channel count; the reference's bits) or Reference. On the
// fast tiers with a ReLU and C a multiple of 8, relu_mask [P * C / 8] may stand for the ReLU's output: the forward
// sets bit e (byte e / 8, bit e % 8) of it where output element e is positive, the backward reads that instead of
// relu_out (null then); the Reference takes none.
void batchnorm_sums(Impl k, double* sum, double* sumsq, const float* in, size_t P, int C);
void batchnorm_forward(Impl k, float* out, const float* in, const float* residual, const double* mean,
                       const double* invstd, const float* gamma, const float* beta, size_t P, int C, bool relu,
                       uint8_t* relu_mask = nullptr);
void batchnorm_backward_sums(Impl k, double* dsum, double* dxhat, const float* dout, const float* relu_out,
                             const uint8_t* relu_mask, const float* in, const double* mean, const double* invstd,
                             size_t P, int C);
void batchnorm_backward_input(Impl k, float* din, const float* dout, const float* relu_out, const uint8_t* relu_mask,
                              const float* in, const double* mean, const double* invstd, const float* gamma,
                              const double* dsum, const double* dxhat, double count, size_t P, int C);

// global average pooling: out [N, C] = mean of in [N, HW, C] over the pixels; din [N, HW, C] = dout / HW
void global_avgpool_forward(Impl k, float* out, const float* in, int N, int HW, int C);
void global_avgpool_backward(Impl k, float* din, const float* dout, int N, int HW, int C);
inline void global_avgpool_forward(Impl, double* out, const double* in, int N, int HW, int C) {
  ref::global_avgpool_forward(out, in, N, HW, C);
}
inline void global_avgpool_backward(Impl, double* din, const double* dout, int N, int HW, int C) {
  ref::global_avgpool_backward(din, dout, N, HW, C);
}

// The input gradient with the kernel already flipped and transposed (flip_kernel_for_input_gradient), so a
// network does that once per step rather than once per image; k Avx2 or Avx512.
void flip_kernel_for_input_gradient(float* wflip, const float* w, int Cin, int Cout);
void conv3x3_backward_input_flipped(Impl k, float* din, const float* dout, const float* wflip, int N, int H, int W,
                                    int Cin, int Cout);

// Winograd F(2x2, 3x3) convolutions (fp32): 16 products per 2x2 output tile and channel pair instead of 36,
// with results equal to the direct kernels' up to rounding. They take the kernel already transformed
// (winograd_kernel_transform: v [16][Cin][Cout] = G g G^T), so a network does that once per step; the input
// gradient takes the transform of the flipped kernel (flip_kernel_for_input_gradient, then the transform with
// Cin and Cout swapped). An odd output size is padded to whole tiles. k WinogradAvx2 or WinogradAvx512, only where
// winograd_fits: an AVX2 or AVX-512 tier and channel counts that are multiples of its vector.
bool winograd_fits(Isa isa, int H, int W, int Cin, int Cout);
// isa: the tier that runs the transform (every tier gives the same bits; scalar: the plain loops)
void winograd_kernel_transform(float* v, const float* w, int Cin, int Cout, Isa isa = cpu_isa());
void conv3x3_forward_winograd(Impl k, float* out, const float* in, const float* v, const float* b, int N, int H,
                              int W, int Cin, int Cout, bool relu);
void conv3x3_backward_input_winograd(Impl k, float* din, const float* dout, const float* vflip, int N, int H, int W,
                                     int Cin, int Cout);
void conv3x3_backward_weight_winograd(Impl k, float* dw, float* db, const float* dout, const float* in, int N, int H,
                                      int W, int Cin, int Cout);
// The same on a 'same' convolution's unpadded tensors (H x W both the input's and the output's size): the tiles and
// bits of the kernels above on a copy padded with a pixel of zeros, without the copy; where winograd_same_fits
// (winograd_fits and H, W even).
bool winograd_same_fits(Isa isa, int H, int W, int Cin, int Cout);
void conv3x3_same_forward_winograd(Impl k, float* out, const float* in, const float* v, const float* b, int N, int H,
                                   int W, int Cin, int Cout, bool relu);
void conv3x3_same_backward_input_winograd(Impl k, float* din, const float* dout, const float* vflip, int N, int H,
                                          int W, int Cin, int Cout);
void conv3x3_same_backward_weight_winograd(Impl k, float* dw, float* db, const float* dout, const float* in, int N,
                                           int H, int W, int Cin, int Cout);
// Winograd F(4x4, 3x3) on a 'same' convolution's unpadded tensors of any size: 36 products per 4x4 output tile and
// channel pair (F(2x2): 64), a product taking the tiles of several images on small maps, a band of tile rows on
// large ones. The kernel comes transformed (winograd4_kernel_transform: v [36][Cin][Cout]), the input gradient's
// flipped as above; with accumulate, the input gradient is added into din (din's value + the gradient, the bits of
// a separate add), where another consumer of the input formed its gradient first. k Winograd4Avx2 or
// Winograd4Avx512, where winograd_fits.
void winograd4_kernel_transform(float* v, const float* w, int Cin, int Cout, Isa isa = cpu_isa());
void conv3x3_same_forward_winograd4(Impl k, float* out, const float* in, const float* v, const float* b, int N, int H,
                                    int W, int Cin, int Cout, bool relu);
void conv3x3_same_backward_input_winograd4(Impl k, float* din, const float* dout, const float* vflip, int N, int H,
                                           int W, int Cin, int Cout, bool accumulate = false);
void conv3x3_same_backward_weight_winograd4(Impl k, float* dw, float* db, const float* dout, const float* in, int N,
                                            int H, int W, int Cin, int Cout);
// Both gradients in one pass over the images (the bits of the two calls above): each group of images' input
// gradient right after its weight products, while its output gradient is in cache
void conv3x3_same_backward_winograd4(Impl k, float* dw, float* db, float* din, const float* dout, const float* in,
                                     const float* vflip, int N, int H, int W, int Cin, int Cout, bool accumulate);
// Winograd F(2x2) 'same' convolutions with bf16 products (winograd_bf16.h) on a CPU with AVX512-BF16, where
// winograd_same_fits(Isa::Avx512, ...): the kernel's transform packed by avx512bf16::pack_winograd_kernel (the
// input gradient's: the flipped kernel's, Cin and Cout swapped)
void conv3x3_same_forward_winograd_bf16(float* out, const float* in, const uint32_t* vp, const float* b, int N, int H,
                                        int W, int Cin, int Cout, bool relu);
void conv3x3_same_backward_input_winograd_bf16(float* din, const float* dout, const uint32_t* vpflip, int N, int H,
                                               int W, int Cin, int Cout);



// bf16 convolutions with kernels packed once per step (avx512bf16::pack_kernel*); AMX where k says so and the
// shape fits (conv_amx.h), else AVX512-BF16
void conv3x3_forward_bf16_packed(Bf16Kernels k, float* out, const float* in, const uint32_t* wp, const float* b,
                                 int H, int W, int Cin, int Cout, bool relu);
void conv3x3_backward_input_bf16_packed(Bf16Kernels k, float* din, const float* dout, const uint32_t* wp, int H,
                                        int W, int Cin, int Cout);
void conv3x3_backward_weight_bf16(Bf16Kernels k, float* dw, float* db, const float* dout, const float* in, int H,
                                  int W, int Cin, int Cout);
// A conv -> ReLU -> max-pool block's forward (conv3x3_relu_maxpool_forward below) on AMX tiles (k Amx or
// AmxEmulated), each block of tile outputs pooled as it is made: the first block (amx_fits_narrow; wp packed by
// amx_pack_kernel_narrow) or a later one (amx_fits; wp packed by avx512bf16::pack_kernel)
// out16 and in16 (null: none): the bf16 output and input of conv_amx.h (a later block only takes in16)
void conv3x3_relu_maxpool_forward_amx(Bf16Kernels k, float* out, uint16_t* out16, uint8_t* code, const float* in,
                                      const uint16_t* in16, const uint32_t* wp, const float* b, int H, int W, int Cin,
                                      int Cout);
// The backward of a conv -> ReLU -> max-pool block on AMX tiles (k Amx or AmxEmulated, amx_fits) from the pool's
// gradient and its code (maxpool2x2_forward_code): din (null: not wanted) with the input-gradient kernel packed by
// avx512bf16::pack_kernel_for_input_gradient, dw and db (+=); the conv's full-resolution gradient is never stored;
// in16 (null: none) is the forward's bf16 input
void relu_maxpool_conv3x3_backward_amx(Bf16Kernels k, float* din, float* dw, float* db, const float* dpool,
                                       const uint8_t* code, const float* in, const uint16_t* in16, const uint32_t* wp,
                                       int H, int W, int Cin, int Cout);

// bf16 convolutions (AVX512-BF16) with unpacked kernels; shapes they do not take (conv_bf16.h) run the AVX-512
// tier's fp32 kernel
void conv3x3_forward_bf16(float* out, const float* in, const float* w, const float* b, int N, int H, int W, int Cin,
                          int Cout, bool relu);
void conv3x3_backward_input_bf16(float* din, const float* dout, const float* w, int N, int H, int W, int Cin, int Cout);
void conv3x3_backward_weight_bf16(float* dw, float* db, const float* dout, const float* in, int N, int H, int W,
                                  int Cin, int Cout);

// The first conv block (conv -> ReLU -> max-pool, no input gradient needed) without its full-resolution
// activation: the forward computes two conv rows at a time into a buffer that stays in cache and pools them,
// keeping a 1-byte code per pooled value (ref::maxpool2x2_forward_code); the backward routes the pool's
// gradient a band of rows at a time by that code into a buffer the weight gradient consumes while in cache.
void conv3x3_relu_maxpool_forward(Impl k, float* out, uint8_t* code, const float* in, const float* w, const float* b,
                                  int N, int H, int W, int Cin, int Cout);
// relu: the pool reads a ReLU's output, and its backward is the ReLU's too (ref::maxpool2x2_forward_code)
void maxpool2x2_forward_code(Impl k, float* out, uint8_t* code, const float* in, int N, int H, int W, int C, bool relu);
void maxpool2x2_backward_code(Impl k, float* din, const float* dout, const uint8_t* code, int N, int H, int W, int C,
                              bool relu);
// k Avx512 or Avx2: fused, band by band; Amx or AmxEmulated: on tiles where amx_fits_narrow, else band by band
// with the tiles' weight gradient; Avx512Bf16: band by band in bf16; Reference: band by band in the reference
void relu_maxpool_conv3x3_backward_weight(Impl k, float* dw, float* db, const float* dpool, const uint8_t* code,
                                          const float* in, int N, int H, int W, int Cin, int Cout);
inline void conv3x3_relu_maxpool_forward(Impl, double* out, uint8_t* code, const double* in, const double* w,
                                         const double* b, int N, int H, int W, int Cin, int Cout) {
  ref::conv3x3_relu_maxpool_forward(out, code, in, w, b, N, H, W, Cin, Cout);
}
inline void maxpool2x2_backward_code(Impl, double* din, const double* dout, const uint8_t* code, int N, int H, int W,
                                     int C, bool relu) {
  ref::maxpool2x2_backward_code(din, dout, code, N, H, W, C, relu);
}
inline void relu_maxpool_conv3x3_backward_weight(Impl, double* dw, double* db, const double* dpool,
                                                 const uint8_t* code, const double* in, int N, int H, int W, int Cin,
                                                 int Cout) {
  ref::relu_maxpool_conv3x3_backward_weight(dw, db, dpool, code, in, N, H, W, Cin, Cout);
}

inline void conv3x3_relu_forward(Impl, double* out, const double* in, const double* w, const double* b, int N, int H,
                                 int W, int Cin, int Cout) {
  ref::conv3x3_relu_forward(out, in, w, b, N, H, W, Cin, Cout);
}
inline void maxpool2x2_forward(Impl, double* out, const double* in, int N, int H, int W, int C) {
  ref::maxpool2x2_forward(out, in, N, H, W, C);
}
inline void relu_maxpool2x2_backward(Impl, double* din, const double* dout, const double* in, int N, int H, int W,
                                     int C) {
  ref::relu_maxpool2x2_backward(din, dout, in, N, H, W, C);
}
inline void maxpool2x2_backward(Impl, double* din, const double* dout, const double* in, int N, int H, int W, int C) {
  ref::maxpool2x2_backward(din, dout, in, N, H, W, C);
}
inline void conv3x3_forward(Impl, double* out, const double* in, const double* w, const double* b, int N, int H,
                            int W, int Cin, int Cout) {
  ref::conv3x3_forward(out, in, w, b, N, H, W, Cin, Cout);
}
inline void conv3x3_backward_input(Impl, double* din, const double* dout, const double* w, int N, int H, int W,
                                   int Cin, int Cout) {
  ref::conv3x3_backward_input(din, dout, w, N, H, W, Cin, Cout);
}
inline void conv3x3_backward_weight(Impl, double* dw, double* db, const double* dout, const double* in, int N, int H,
                                    int W, int Cin, int Cout) {
  ref::conv3x3_backward_weight(dw, db, dout, in, N, H, W, Cin, Cout);
}

}  // namespace engine
