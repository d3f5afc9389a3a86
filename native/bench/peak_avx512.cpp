// Peak-throughput loops for the benchmark (see peak.h): independent chains of fp32 FMAs (AVX-512) and of bf16 dot products
// (AVX512-BF16 vdpbf16ps: 32 multiplies and 32 adds per instruction), enough independent chains to cover the
// latency of both pipes. Compiled with -mavx512f -mfma -mavx512bf16; called only after a CPU check.
#include <immintrin.h>

namespace engine::peak {

namespace {
// 12 named accumulators (>= latency 4 x 2 pipes, plus slack), so they stay in registers
#define ENGINE_CHAINS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

float sum_lanes(__m512 v) {
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, v);
  float s = 0;
  for (float x : lanes) s += x;
  return s;
}
}  // namespace

// Returns a value that depends on every chain, so nothing can be optimised away. flops = iters*12*16*2.
float fp32_fma(long iters) {
#define INIT(i) __m512 a##i = _mm512_set1_ps(1.0f + 0.001f * i);
#define STEP(i) a##i = _mm512_fmadd_ps(a##i, x, y);
#define ADD(i) s = _mm512_add_ps(s, a##i);
  ENGINE_CHAINS(INIT)
  const __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
  for (long k = 0; k < iters; k++) {
    ENGINE_CHAINS(STEP)
  }
  __m512 s = _mm512_setzero_ps();
  ENGINE_CHAINS(ADD)
  return sum_lanes(s);
#undef INIT
#undef STEP
}

// flops = iters*12*16*4 (each lane: two products and two sums)
float bf16_dot(long iters) {
#define INIT(i) __m512 a##i = _mm512_set1_ps(0.001f * i);
#define STEP(i) a##i = _mm512_dpbf16_ps(a##i, x, y);
  ENGINE_CHAINS(INIT)
  const __m512bh x = (__m512bh)_mm512_set1_epi16(0x3f80);  // 1.0
  const __m512bh y = (__m512bh)_mm512_set1_epi16(0x3380);  // 2^-24
  for (long k = 0; k < iters; k++) {
    ENGINE_CHAINS(STEP)
  }
  __m512 s = _mm512_setzero_ps();
  ENGINE_CHAINS(ADD)
  return sum_lanes(s);
#undef INIT
#undef STEP
#undef ADD
}

#undef ENGINE_CHAINS

}  // namespace engine::peak
