// AVX-512 build of the dense kernels (compiled with -mavx512f -ffp-contract=off; called only where the plan says).
#include "kernels/fp32/dense_fast.h"
#define VBYTES 64
#define FAST_NAMESPACE avx512
#include "kernels/fp32/dense_simd.inc"
