// AVX2 build of the fast convolution kernels (compiled with -mavx2 -mfma; called only after a CPU check).
#include "kernels/fp32/conv_fast.h"
#define VBYTES 32
#define FAST_NAMESPACE avx2
#include "kernels/fp32/conv_simd.inc"
