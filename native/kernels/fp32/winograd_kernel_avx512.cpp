// AVX512 build of the Winograd kernel transforms (compiled with -mavx512f -ffp-contract=off; called only where cpu_isa() has it).
#define VBYTES 64
#define FAST_NAMESPACE avx512
#include "kernels/fp32/winograd_kernel_simd.inc"
