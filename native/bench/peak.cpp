#include "bench/peak.h"

#include <atomic>
#include <chrono>
#include <stdexcept>

#include "kernels/fp32/kernels.h"
#include "cpu/thread_pool.h"

namespace engine {

double measure_peak_gflops(PeakKind kind, int threads, double seconds) {
#if defined(__x86_64__)
  __builtin_cpu_init();
  const bool fp32_ok = __builtin_cpu_supports("avx512f");
  const bool bf16_ok = fp32_ok && __builtin_cpu_supports("avx512bf16");
#else
  const bool fp32_ok = false, bf16_ok = false;
#endif
  if (kind == PeakKind::Fp32Fma && !fp32_ok) throw std::runtime_error("the fp32 peak probe needs AVX-512F");
  if (kind == PeakKind::Bf16Dot && !bf16_ok) throw std::runtime_error("the bf16 peak probe needs AVX512-BF16");
  if (kind == PeakKind::AmxBf16 && !amx_usable())
    throw std::runtime_error("the AMX peak probe needs AMX-BF16 tiles, which this CPU (or its kernel) does not offer");
  const double flops_per_iter = kind == PeakKind::Fp32Fma   ? 12.0 * 16 * 2
                                : kind == PeakKind::Bf16Dot ? 12.0 * 16 * 4
                                                            : 4.0 * 16 * 16 * 32 * 2;
  ThreadPool pool(threads);
  std::atomic<float> sink{0};
  auto run = [&](long iters) {
    const auto t0 = std::chrono::steady_clock::now();
    pool.run([&](int) {
      const float r = kind == PeakKind::Fp32Fma   ? peak::fp32_fma(iters)
                      : kind == PeakKind::Bf16Dot ? peak::bf16_dot(iters)
                                                  : peak::amx_bf16(iters);
      sink.store(r, std::memory_order_relaxed);
    });
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  long iters = 1 << 16;
  double t = run(iters);
  while (t < 0.05) t = run(iters *= 4);  // calibrate to a measurable time
  iters = long(iters * (seconds / t)) + 1;
  t = run(iters);
  return flops_per_iter * double(iters) * pool.size() / t / 1e9;
}

}  // namespace engine
