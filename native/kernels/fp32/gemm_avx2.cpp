// AVX2 build of the matrix-product convolutions (compiled with -mavx2 -mfma; called only where the plan says).
#include "kernels/fp32/gemm_fast.h"
#define VBYTES 32
#define FAST_NAMESPACE avx2
#include "kernels/fp32/gemm_simd.inc"
