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
// through index [N] (may be null: image b's label is label_u8[b]). With label smoothing e the target y is
// label * (1 - e) + e / 2, as ref::sigmoid_bce.
struct LossOut {
  double loss_sum;
  int correct;
  int non_finite;  // NaN/Inf parameters after the update (count_non_finite_cuda; 0 when none ran)
};
void sigmoid_bce_cuda(float* dlogit, LossOut* result, const float* logit, const float* label, const uint8_t* label_u8,
                      const int32_t* index, int N, float scale, float smoothing, cudaStream_t stream);

// Per image: dlogits [N, K] (may be null) = scale * (softmax(z) - target), the softmax cross-entropy summed over N
// (in double) to *loss_sum and the right answers (argmax, first maximum) to *correct, as ref::softmax_ce (target:
// onehot(label), or with label smoothing e, (1 - e) * onehot + e / K); labels as sigmoid_bce_cuda's
void softmax_ce_cuda(float* dlogits, LossOut* result, const float* logits, const float* label, const uint8_t* label_u8,
                     const int32_t* index, int N, int K, float scale, float smoothing, cudaStream_t stream);

// result->non_finite = the number of NaN/Inf elements of x [n] (one block; run after the update)
void count_non_finite_cuda(LossOut* result, const float* x, size_t n, cudaStream_t stream);

// ---------- the optimizers (optimizers_cuda.cu) ----------
// Each updates param [n] and its state from grad [n] as the reference does, with the float constants formed on the
// host exactly as the reference forms them. decay [n] (may be null: no weight decay) is 1 where weight decay
// applies (the kernels) and 0 elsewhere, as Network::update applies weight_decay tensor by tensor.

// Keras RMSprop (ref::rmsprop_update); with decay, of the coupled gradient g + wd * p (wd 0 off the kernels)
void rmsprop_update_cuda(float* param, float* accum, const float* grad, const uint8_t* decay, size_t n, double lr,
                         double rho, double eps, double weight_decay, cudaStream_t stream);
// SGD with momentum, plain or Nesterov's (ref::sgd_update): velocity [n]; the decay coupled, g + wd * p
void sgd_update_cuda(float* param, float* velocity, const float* grad, const uint8_t* decay, size_t n, double lr,
                     double momentum, bool nesterov, double weight_decay, cudaStream_t stream);
// AdamW (ref::adamw_update): moments m [n], v [n]; the decay decoupled, p *= 1 - lr * wd. corrections [2] (device,
// float) = 1 - beta1^t, 1 - beta2^t of the step count t from 1, read on the device so that a captured graph
// replays with each step's (adamw_corrections forms them on the host as the reference does)
void adamw_update_cuda(float* param, float* m, float* v, const float* grad, const uint8_t* decay,
                       const float* corrections, size_t n, double lr, double beta1, double beta2, double eps,
                       double weight_decay, cudaStream_t stream);
void adamw_corrections(float* corrections, double beta1, double beta2, uint64_t t);
// Gradient-norm clipping (Network::update's): grad [n] *= clip_norm / ||grad|| where the global L2 norm is larger;
// the norm summed in double over fixed slices (deterministic), in scratch of clip_scratch(n) doubles
size_t clip_scratch(size_t n);
void clip_gradients_cuda(float* grad, size_t n, double clip_norm, double* scratch, cudaStream_t stream);
// The moving average of the weights: ema [n] = decay * ema + (1 - decay) * param [n]
void ema_update_cuda(float* ema, const float* param, size_t n, double decay, cudaStream_t stream);

// ---------- batch norm (batchnorm_cuda.cu), as ref::batchnorm_* over P pixels (N * H * W) of C channels ----------
// The per-channel sums run in double over fixed slices of the pixels, added in slice order (deterministic). stats
// [2C] (double, device): the mean, then 1 / sqrt(variance + epsilon), as the forward formed them; the backward reads
// them. relu: a ReLU that reads only the batch norm, fused both ways (as the CPU plan fuses it).

// Doubles of scratch the batch-norm launchers need for P pixels of C channels
size_t batchnorm_scratch(size_t P, int C);
// Training: stats of the batch in [P, C] (biased variance); out [P, C] = gamma [C] * xhat + beta [C] (ReLU of it
// with relu), xhat = (in - mean) * invstd; with update, running [2C] (mean, then variance) = momentum * running +
// (1 - momentum) * the batch's (its variance unbiased), as Network::run_coupled
void batchnorm_forward_train_cuda(float* out, double* stats, float* running, const float* in, const float* gamma,
                                  const float* beta, size_t P, int C, double momentum, double epsilon, bool update,
                                  bool relu, double* scratch, cudaStream_t stream);
// Inference: stats from running [2C] (mean, variance), then out as in training
void batchnorm_forward_infer_cuda(float* out, double* stats, const float* in, const float* running, const float* gamma,
                                  const float* beta, size_t P, int C, double epsilon, bool relu, cudaStream_t stream);
// din [P, C] (overwritten; may be null), dgamma [C] +=, dbeta [C] += from dout [P, C], in [P, C] and the forward's
// stats; relu_out [P, C] (may be null): the fused ReLU's output, dout then being the ReLU's output gradient, taken
// as 0 where relu_out is not positive
void batchnorm_backward_cuda(float* din, float* dgamma, float* dbeta, const float* dout, const float* relu_out,
                             const float* in, const double* stats, const float* gamma, size_t P, int C,
                             double* scratch, cudaStream_t stream);

// The warp of one image, as the host precomputes it from (shear, zx, zy, flip): the CPU's double-precision
// coefficients, so the device needs no sin/cos of its own.
struct WarpCoeffs {
  double a00, a01, a11, flip;
};
WarpCoeffs warp_coeffs(double shear, double zx, double zy, bool flip);

// out [N, H, W, C] = scale * warp of image index[b] (or b when index is null) of images [*, H, W, C] uint8,
// with coeffs [N] (null: no warp, plain scaling as scale_pixels). Bit-identical to augment_warp/scale_pixels.
// norm [2C] (device; null: none): the input normalisation after the scaling, (x - mean) * inv_std per channel
// (mean, then 1 / std, as float), as ref::normalize_channels.
void augment_warp_cuda(float* out, const uint8_t* images, const int32_t* index, const WarpCoeffs* coeffs,
                       const float* norm, int N, int H, int W, int C, float scale, cudaStream_t stream);

// The small-image augmentation of one image (ref::augment_crop's 8 numbers: shift rows, shift columns, flip,
// rotation, erased row, column, rows, columns), its cosine and sine formed on the host as the reference forms them
struct CropCoeffs {
  double dy, dx, cs, sn;
  int flip, rotate, ey, ex, eh, ew;
};
CropCoeffs crop_coeffs(const double* a);

// out [N, H, W, C] = ref::augment_crop of image index[b] (or b) of images [*, H, W, C] uint8 with coeffs [N], then
// normalised by norm as augment_warp_cuda (null: none); the erased rectangle 0 (as the CPU network leaves it with
// or without normalisation). Bit-identical to the CPU network's preprocessing.
void augment_crop_cuda(float* out, const uint8_t* images, const int32_t* index, const CropCoeffs* coeffs,
                       const float* norm, int N, int H, int W, int C, float scale, cudaStream_t stream);

}  // namespace engine::ENGINE_CUDA_NS
