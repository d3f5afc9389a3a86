// AVX-512 build of the fast convolution kernels (compiled with -mavx512f -mfma; called only after a CPU check).
#include "kernels/fp32/conv_fast.h"
#define VBYTES 64
#define FAST_NAMESPACE avx512
#include "kernels/fp32/conv_simd.inc"
