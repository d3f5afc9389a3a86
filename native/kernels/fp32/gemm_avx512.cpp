// AVX-512 build of the matrix-product convolutions (compiled with -mavx512f -mfma; called only where the plan says).
#include "kernels/fp32/gemm_fast.h"
#define VBYTES 64
#define FAST_NAMESPACE avx512
#include "kernels/fp32/gemm_simd.inc"
