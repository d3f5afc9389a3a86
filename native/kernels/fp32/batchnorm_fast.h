// Fast fp32 batch norm kernels (batchnorm_simd.inc), one namespace per instruction set: ref::batchnorm_*'s
// arithmetic on vectors of channels, each channel's sums in pixel order, so the bits are the reference's. Any
// channel count (a tail of scalars).
#pragma once

#include <cstddef>
#include <cstdint>

namespace engine {

#define ENGINE_DECLARE_FAST_BATCHNORM(ns)                                                                         \
  namespace ns {                                                                                                  \
  void batchnorm_sums(double* sum, double* sumsq, const float* in, size_t P, int C);                              \
  void batchnorm_forward(float* out, const float* in, const float* residual, const double* mean,               \
                         const double* invstd, const float* gamma, const float* beta, size_t P, int C, bool relu,  \
                         uint8_t* relu_mask);                                                                     \
  void batchnorm_backward_sums(double* dsum, double* dxhat, const float* dout, const float* relu_out,            \
                               const uint8_t* relu_mask, const float* in, const double* mean,                    \
                               const double* invstd, size_t P, int C);                                            \
  void batchnorm_backward_input(float* din, const float* dout, const float* relu_out, const uint8_t* relu_mask,  \
                                const float* in, const double* mean, const double* invstd, const float* gamma,   \
                                const double* dsum, const double* dxhat, double count, size_t P, int C);          \
  }

ENGINE_DECLARE_FAST_BATCHNORM(avx512)
ENGINE_DECLARE_FAST_BATCHNORM(avx2)

#undef ENGINE_DECLARE_FAST_BATCHNORM

}  // namespace engine
