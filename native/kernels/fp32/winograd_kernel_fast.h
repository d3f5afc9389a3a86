// The Winograd kernel transforms on vectors (winograd_kernel_simd.inc), one namespace per instruction set: the
// plain ones' bits (kernels.cpp), for Cin * Cout a multiple of kLanes.
#pragma once

namespace engine {

#define ENGINE_DECLARE_FAST_WINOGRAD_KERNEL(ns)                               \
  namespace ns {                                                              \
  void winograd_kernel_transform(float* v, const float* w, int Cin, int Cout);  \
  void winograd4_kernel_transform(float* v, const float* w, int Cin, int Cout); \
  }

ENGINE_DECLARE_FAST_WINOGRAD_KERNEL(avx512)
ENGINE_DECLARE_FAST_WINOGRAD_KERNEL(avx2)

#undef ENGINE_DECLARE_FAST_WINOGRAD_KERNEL

}  // namespace engine
