// CUDA launchers mirroring native/kernels_ref.h function for function: the same names with a _cuda suffix, the
// same argument order (outputs, inputs, sizes) and layouts (activations NHWC, conv kernel HWIO [3,3,Cin,Cout],
// dense kernel [In, Out]), the same accumulate-or-overwrite rule. Every pointer is device memory; trailing
// arguments after the sizes are the GPU's own (stream, scratch, fusion flags). Launches are asynchronous on
// `stream`; each is checked (CudaError with file and line on failure).
//
// Reductions are deterministic: weight gradients sum fixed slices of the batch into scratch partials that one
// more kernel adds in slice order (no float atomics), so the same inputs give the same bits on the same GPU.
// This header is plain C++ (no CUDA syntax) so host code compiled by the C++ compiler can include it.
#pragma once

#include "cuda/namespace.h"

#include <cstddef>
#include <cstdint>

#include "kernels/ref/ref.h"

#if ENGINE_CUDA_EMULATION
#include "cuda/emulate.h"
#else
typedef struct CUstream_st* cudaStream_t;
#endif

namespace engine::ENGINE_CUDA_NS {

// The implicit GEMM indexes its rows and its reduction with int, with a tile of headroom for its loops' last step:
// a convolution's N * H * W (input pixels of the batch) may not exceed this. GpuNetwork::ensure_batch refuses
// larger batches; the conv launchers throw std::length_error.
constexpr long long kMaxGemmSize = 2147483647LL - 64;

// Convolutions of any geometry (kernels/ref/ref.h ConvGeom: k x k kernel, stride, padding): out [N, Ho, Wo, Cout]
// (+ ReLU), din [N, H, W, Cin] (overwritten), dw [k,k,Cin,Cout] += and db += with scratch of
// conv_backward_weight_scratch floats; the conv3x3 launchers below are these with 3x3 valid geometry
void conv_forward_cuda(float* out, const float* in, const float* w, const float* b, int N, int H, int W, int Cin,
                       int Cout, const ref::ConvGeom& g, bool fuse_relu, cudaStream_t stream);
void conv_backward_input_cuda(float* din, const float* dout, const float* w, int N, int H, int W, int Cin, int Cout,
                              const ref::ConvGeom& g, cudaStream_t stream);
size_t conv_backward_weight_scratch(int N, int Cin, int Cout, const ref::ConvGeom& g);
void conv_backward_weight_cuda(float* dw, float* db, const float* dout, const float* in, int N, int H, int W, int Cin,
                               int Cout, const ref::ConvGeom& g, float* scratch, cudaStream_t stream);

// out [N, H-2, W-2, Cout] = conv3x3(in [N, H, W, Cin], w [3,3,Cin,Cout]) + b [Cout]; with fuse_relu the ReLU of
// it (the next layer's in-place ReLU folded into the store)
void conv3x3_forward_cuda(float* out, const float* in, const float* w, const float* b, int N, int H, int W, int Cin,
                          int Cout, bool fuse_relu, cudaStream_t stream);

// din [N, H, W, Cin] (overwritten) from dout [N, H-2, W-2, Cout] and w [3,3,Cin,Cout]
void conv3x3_backward_input_cuda(float* din, const float* dout, const float* w, int N, int H, int W, int Cin, int Cout,
                                 cudaStream_t stream);

// Floats of scratch conv3x3_backward_weight_cuda needs for these sizes.
size_t conv3x3_backward_weight_scratch(int N, int H, int W, int Cin, int Cout);
// dw [3,3,Cin,Cout] += and db [Cout] += from dout [N, H-2, W-2, Cout] and in [N, H, W, Cin]
void conv3x3_backward_weight_cuda(float* dw, float* db, const float* dout, const float* in, int N, int H, int W,
                                  int Cin, int Cout, float* scratch, cudaStream_t stream);

// out [n] = max(in, 0); may alias
void relu_forward_cuda(float* out, const float* in, size_t n, cudaStream_t stream);
// din [n] = dout where out > 0; din and dout may alias
void relu_backward_cuda(float* din, const float* dout, const float* out, size_t n, cudaStream_t stream);

// out [N, C] = mean of in [N, HW, C] over its pixels (summed in order, divided once); din [N, HW, C] = dout / HW
void global_avgpool_forward_cuda(float* out, const float* in, int N, int HW, int C, cudaStream_t stream);
void global_avgpool_backward_cuda(float* din, const float* dout, int N, int HW, int C, cudaStream_t stream);
// out [n] = a + b
void add_forward_cuda(float* out, const float* a, const float* b, size_t n, cudaStream_t stream);

// out [N, H/2, W/2, C] = 2x2 max of in [N, H, W, C]
void maxpool2x2_forward_cuda(float* out, const float* in, int N, int H, int W, int C, cudaStream_t stream);
// din [N, H, W, C] (overwritten): each window's gradient to its first maximum in row-major order
void maxpool2x2_backward_cuda(float* din, const float* dout, const float* in, int N, int H, int W, int C,
                              cudaStream_t stream);

// out [N, O] = in [N, I] . w [I, O] + b [O]
void dense_forward_cuda(float* out, const float* in, const float* w, const float* b, int N, int I, int O,
                        cudaStream_t stream);
size_t dense_backward_scratch(int N, int I, int O);
// din [N, I] (overwritten; may be null), dw [I, O] +=, db [O] += from dout [N, O], in [N, I], w [I, O]
void dense_backward_cuda(float* din, float* dw, float* db, const float* dout, const float* in, const float* w, int N,
                         int I, int O, float* scratch, cudaStream_t stream);

// mask [N, n]: image b's mask is dropout_mask(n, rate, seed, dropout_key(*step, b, layer)) of rng.h (the same
// bits as the CPU's); out = in * mask. `step` is read on the device so a captured graph can replay it.
void dropout_forward_cuda(float* out, float* mask, const float* in, int N, size_t n, double rate, uint64_t seed,
                          const uint64_t* step, uint64_t layer, cudaStream_t stream);
// mask [n] alone, for one key (the dropoutMask test binding)
void dropout_mask_cuda(float* mask, size_t n, double rate, uint64_t seed, uint64_t key, cudaStream_t stream);
void dropout_backward_cuda(float* din, const float* dout, const float* mask, size_t n, cudaStream_t stream);

// Per image: dlogit [N] (may be null) = scale * (sigmoid(zc) - y), 0 where clipped; the sum of the clipped BCE
// over N (summed in double, fixed order) to *loss_sum, and the count of right answers (P > 0.5 agrees with the
// label) to *correct. label [N] is float (the kernel binding) or, when label_u8 is set, uint8 labels gathered
// through index [N] (may be null: image b's label is label_u8[b]).
struct LossOut {
  double loss_sum;
  int correct;
  int non_finite;  // NaN/Inf parameters after the update (count_non_finite_cuda; 0 when none ran)
};
void sigmoid_bce_cuda(float* dlogit, LossOut* result, const float* logit, const float* label, const uint8_t* label_u8,
                      const int32_t* index, int N, float scale, cudaStream_t stream);

// Per image: dlogits [N, K] (may be null) = scale * (softmax(z) - onehot(label)), the softmax cross-entropy summed
// over N (in double) to *loss_sum and the right answers (argmax, first maximum) to *correct, as ref::softmax_ce;
// labels as sigmoid_bce_cuda's
void softmax_ce_cuda(float* dlogits, LossOut* result, const float* logits, const float* label, const uint8_t* label_u8,
                     const int32_t* index, int N, int K, float scale, cudaStream_t stream);

// result->non_finite = the number of NaN/Inf elements of x [n] (one block; run after the update)
void count_non_finite_cuda(LossOut* result, const float* x, size_t n, cudaStream_t stream);

// Keras RMSprop, with the float constants formed on the host exactly as rmsprop_update forms them
void rmsprop_update_cuda(float* param, float* accum, const float* grad, size_t n, double lr, double rho, double eps,
                         cudaStream_t stream);

// The warp of one image, as the host precomputes it from (shear, zx, zy, flip): the CPU's double-precision
// coefficients, so the device needs no sin/cos of its own.
struct WarpCoeffs {
  double a00, a01, a11, flip;
};
WarpCoeffs warp_coeffs(double shear, double zx, double zy, bool flip);

// out [N, H, W, C] = scale * warp of image index[b] (or b when index is null) of images [*, H, W, C] uint8,
// with coeffs [N] (null: no warp, plain scaling as scale_pixels). Bit-identical to augment_warp/scale_pixels.
void augment_warp_cuda(float* out, const uint8_t* images, const int32_t* index, const WarpCoeffs* coeffs, int N,
                       int H, int W, int C, float scale, cudaStream_t stream);

}  // namespace engine::ENGINE_CUDA_NS
