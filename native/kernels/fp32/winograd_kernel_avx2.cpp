// AVX2 build of the Winograd kernel transforms (compiled with -mavx2 -ffp-contract=off; called only where cpu_isa() has it).
#define VBYTES 32
#define FAST_NAMESPACE avx2
#include "kernels/fp32/winograd_kernel_simd.inc"
