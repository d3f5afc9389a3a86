// Fast fp32 dense kernels, one namespace per instruction set, with the reference's sums and roundings exactly
// (dense_simd.inc). Shapes they take: dense_forward, dense_backward_weight: O a multiple of kLanes;
// dense_backward_input: I a multiple of kLanes, with the kernel transposed, wT [O, I].
#pragma once

namespace engine {

#define ENGINE_DECLARE_FAST_DENSE(ns)                                                                           \
  namespace ns {                                                                                                \
  void dense_forward(float* out, const float* in, const float* w, const float* b, int N, int I, int O);         \
  void dense_backward_weight(float* dw, float* db, const float* dout, const float* in, int N, int I, int O);    \
  void dense_backward_input(float* din, const float* dout, const float* wT, int N, int I, int O);              \
  }

ENGINE_DECLARE_FAST_DENSE(avx512)
ENGINE_DECLARE_FAST_DENSE(avx2)

#undef ENGINE_DECLARE_FAST_DENSE

}  // namespace engine
