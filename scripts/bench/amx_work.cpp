// The AMX kernels' work apart from the tile arithmetic, measurable on any CPU: conv_amx.inc compiled against
// a tile backend whose operations do nothing but count the TDPBF16PS it would issue. For each conv block of the
// seed's model (conv -> ReLU -> max-pool, all on tiles: the first block's forward and weight gradient, conv2-conv5's
// forward and backward, as the network calls them) it prints the time of everything else (bf16 conversion of
// the operands, transposes, bias sums, pooling, routing the pool's gradient, writing results) in ms per epoch of
// 500 images on 2 threads (one image per call, on buffers that stay in cache), and the tile dot products per
// image with the share of their arithmetic that is useful. Built and run by amx-work.mjs.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include <immintrin.h>

#include "kernels/bf16/bf16_bits.h"
#include "kernels/bf16/bf16_convert.h"
#include "kernels/amx/conv_amx.h"

namespace engine::amx_counted {
namespace {
struct Tiles {
  static inline long dots = 0;
  static void start() {}
  static void stop() {}
  template <int T>
  static void zero() {}
  // the buffers escape, so the compiler keeps the stores that fill them
  template <int T>
  static void load(const void* p, size_t) { asm volatile("" ::"r"(p) : "memory"); }
  template <int T>
  static void store(void* p, size_t) { asm volatile("" ::"r"(p) : "memory"); }
  template <int C, int A, int B>
  static void dot() { dots++; }
};
}  // namespace
namespace convert = CONVERT;
#ifdef __AVX512BF16__
inline void bf16_lanes(uint16_t* dst, const float* src) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(src)));
}
#else
inline void bf16_lanes(uint16_t* dst, const float* src) {
  for (int i = 0; i < 16; i++) dst[i] = bf16_bits(src[i]);
}
#endif
}  // namespace engine::amx_counted

#define AMX_NAMESPACE amx_counted
#include "kernels/amx/conv_amx.inc"

using namespace engine::amx_counted;

static double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int main() {
  struct Layer {
    const char* name;
    int H, W, Cin, Cout;
  } layers[] = {{"conv2", 74, 74, 32, 32}, {"conv3", 36, 36, 32, 32}, {"conv4", 17, 17, 32, 64}, {"conv5", 7, 7, 64, 64}};
  constexpr int kReps = 200;
  constexpr double kImagesPerThread = 250;  // an epoch of 500 images on 2 threads
  std::mt19937 gen(1);
  std::uniform_real_distribution<float> u(-1, 1);
  double total_ms = 0, useful = 0, issued = 0;
  printf("%-6s %28s %34s\n", "layer", "ms/epoch fwd / bwd", "tile dots/image fwd / bwd");
  auto report = [&](const char* name, const double* t, const long* dots, double useful_madds) {
    const double k = kImagesPerThread / kReps * 1e3;
    printf("%-6s %12.1f / %5.1f %20ld / %5ld\n", name, t[0] * k, t[1] * k, dots[0], dots[1]);
    total_ms += (t[0] + t[1]) * k;
    useful += useful_madds;
    issued += double(dots[0] + dots[1]) * 16 * 16 * 32;
  };
  {  // conv1, the first block: its forward (pooled output in fp32 and, for conv2, bf16) and its weight gradient
    const int H = 150, W = 150, Cin = 3, Cout = 32, Ho = H - 2, Wo = W - 2;
    const size_t pooled = size_t(Ho / 2) * (Wo / 2) * Cout;
    std::vector<float> in(size_t(H) * W * Cin), out(pooled), dpool(pooled), b(Cout), dw(size_t(9) * Cin * Cout), db(Cout);
    std::vector<uint16_t> out16(pooled);
    std::vector<uint8_t> code(pooled);
    std::vector<uint32_t> wpn(size_t(16) * Cout);
    for (float& v : in) v = u(gen);
    for (float& v : dpool) v = u(gen);
    double t[2] = {};
    long dots[2] = {};
    for (int rep = 0; rep <= kReps; rep++) {  // the first round warms the caches and the scratch memory
      const double t0 = now();
      Tiles::dots = 0;
      conv3x3_relu_maxpool_forward_narrow_packed(out.data(), out16.data(), code.data(), in.data(), wpn.data(), b.data(),
                                                 1, H, W, Cin, Cout);
      const double t1 = now();
      dots[0] = Tiles::dots;
      Tiles::dots = 0;
      relu_maxpool_conv3x3_backward_weight_narrow(dw.data(), db.data(), dpool.data(), code.data(), in.data(), 1, H, W,
                                                  Cin, Cout);
      const double t2 = now();
      dots[1] = Tiles::dots;
      if (rep) t[0] += t1 - t0, t[1] += t2 - t1;
    }
    report("conv1", t, dots, 2.0 * Ho * Wo * 27 * Cout);
  }
  for (const Layer& l : layers) {  // a later block: forward from the bf16 input, backward (input and weight gradients)
    const int Ho = l.H - 2, Wo = l.W - 2;
    const size_t pooled = size_t(Ho / 2) * (Wo / 2) * l.Cout;
    std::vector<float> in(size_t(l.H) * l.W * l.Cin), din(in.size()), out(pooled), dpool(pooled), b(l.Cout);
    std::vector<float> dw(size_t(9) * l.Cin * l.Cout), db(l.Cout);
    std::vector<uint16_t> in16(engine::amx_block_input_size(l.H, l.W, l.Cin) + 32), out16(pooled);
    uint16_t* in16_aligned = in16.data() + (64 - reinterpret_cast<uintptr_t>(in16.data()) % 64) % 64 / 2;
    std::vector<uint8_t> code(pooled);
    std::vector<uint32_t> wp(size_t(9) * l.Cin / 2 * l.Cout);
    for (float& v : in) v = u(gen);
    for (float& v : dpool) v = u(gen);
    double t[2] = {};
    long dots[2] = {};
    for (int rep = 0; rep <= kReps; rep++) {
      const double t0 = now();
      Tiles::dots = 0;
      conv3x3_relu_maxpool_forward_packed(out.data(), out16.data(), code.data(), in.data(), in16_aligned, wp.data(),
                                          b.data(), 1, l.H, l.W, l.Cin, l.Cout);
      const double t1 = now();
      dots[0] = Tiles::dots;
      Tiles::dots = 0;
      relu_maxpool_conv3x3_backward_packed(din.data(), dw.data(), db.data(), dpool.data(), code.data(), in.data(),
                                           in16_aligned, wp.data(), 1, l.H, l.W, l.Cin, l.Cout);
      const double t2 = now();
      dots[1] = Tiles::dots;
      if (rep) t[0] += t1 - t0, t[1] += t2 - t1;
    }
    report(l.name, t, dots, 3.0 * Ho * Wo * 9 * l.Cin * l.Cout);  // multiply-adds of the three passes
  }
  printf("total: %.1f ms/epoch besides the tiles; %.0f M tile multiply-adds per image, %.0f%% of them useful\n",
         total_ms, issued / 1e6, 100 * useful / issued);
}
