// Measured peak arithmetic throughput of this machine, for the benchmark's "achieved vs peak" column:
// fp32 FMA (AVX-512), bf16 dot products (AVX512-BF16) and bf16 tile dot products (AMX), on `threads` threads
// side by side.
#pragma once

#include <string>

namespace engine {

enum class PeakKind { Fp32Fma, Bf16Dot, AmxBf16 };

// GFLOP/s summed over the threads, measured for about `seconds`; throws std::runtime_error naming the missing
// CPU feature when the CPU lacks it.
double measure_peak_gflops(PeakKind kind, int threads, double seconds);

namespace peak {
float fp32_fma(long iters);  // iters * 12 * 16 * 2 flops
float bf16_dot(long iters);  // iters * 12 * 16 * 4 flops
float amx_bf16(long iters);  // iters * 4 * 16 * 16 * 32 * 2 flops (conv_amx.cpp; only where amx_usable())
}  // namespace peak

}  // namespace engine
