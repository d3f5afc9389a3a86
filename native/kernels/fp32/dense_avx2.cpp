// AVX2 build of the dense kernels (compiled with -mavx2 -ffp-contract=off; called only where the plan says).
#include "kernels/fp32/dense_fast.h"
#define VBYTES 32
#define FAST_NAMESPACE avx2
#include "kernels/fp32/dense_simd.inc"
