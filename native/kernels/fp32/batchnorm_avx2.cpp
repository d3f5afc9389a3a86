// AVX2 build of the batch norm kernels (compiled with -mavx2 -ffp-contract=off; called only where the plan says).
#include "kernels/fp32/batchnorm_fast.h"
#define VBYTES 32
#define FAST_NAMESPACE avx2
#include "kernels/fp32/batchnorm_simd.inc"
