// The AMX kernels' work apart from the tile arithmetic, measurable on any CPU: conv_amx.inc compiled against
// a tile backend whose operations do nothing but count the TDPBF16PS it would issue. For each convolution of the
// seed's model that runs on tiles (conv2-conv5, and the first block's forward and weight gradient) it prints the
// time of everything else (bf16 conversion of the operands, transposes, bias sums, pooling, writing results, the
// first block's routing of the pool's gradient) in ms per epoch of 500 images
// on 2 threads (one image per call, as the network calls them, on buffers that stay in cache), and the tile
// dot products per image with the share of their arithmetic that is useful. Built and run by amx-work.mjs.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "bf16_convert.h"

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
}  // namespace engine::amx_counted

#define AMX_NAMESPACE amx_counted
#include "conv_amx.inc"

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
  printf("%-6s %28s %34s\n", "layer", "ms/epoch fwd / dX / dW", "tile dots/image fwd / dX / dW");
  for (const Layer& l : layers) {
    const int Ho = l.H - 2, Wo = l.W - 2;
    std::vector<float> in(size_t(l.H) * l.W * l.Cin), out(size_t(Ho) * Wo * l.Cout), b(l.Cout);
    std::vector<float> dw(size_t(9) * l.Cin * l.Cout), db(l.Cout);
    std::vector<uint32_t> wp(size_t(9) * l.Cin / 2 * l.Cout);
    for (float& v : in) v = u(gen);
    for (float& v : out) v = u(gen);
    double t[3] = {};
    long dots[3] = {};
    for (int rep = 0; rep <= kReps; rep++) {  // the first round warms the caches and the scratch memory
      double t0 = now();
      Tiles::dots = 0;
      conv3x3_forward_packed(out.data(), in.data(), wp.data(), b.data(), 1, l.H, l.W, l.Cin, l.Cout, true);
      double t1 = now();
      dots[0] = Tiles::dots;
      Tiles::dots = 0;
      conv3x3_backward_input_packed(in.data(), out.data(), wp.data(), 1, l.H, l.W, l.Cin, l.Cout);
      double t2 = now();
      dots[1] = Tiles::dots;
      Tiles::dots = 0;
      conv3x3_backward_weight(dw.data(), db.data(), out.data(), in.data(), 1, l.H, l.W, l.Cin, l.Cout);
      double t3 = now();
      dots[2] = Tiles::dots;
      if (rep) t[0] += t1 - t0, t[1] += t2 - t1, t[2] += t3 - t2;
    }
    const double k = kImagesPerThread / kReps * 1e3;
    printf("%-6s %8.1f / %5.1f / %5.1f %14ld / %5ld / %5ld\n", l.name, t[0] * k, t[1] * k, t[2] * k, dots[0], dots[1],
           dots[2]);
    total_ms += (t[0] + t[1] + t[2]) * k;
    useful += 3.0 * Ho * Wo * 9 * l.Cin * l.Cout;  // multiply-adds of the three passes
    issued += double(dots[0] + dots[1] + dots[2]) * 16 * 16 * 32;
  }
  {  // conv1, the first block (conv -> ReLU -> max-pool): its forward and its weight gradient, one image a call
    const int H = 150, W = 150, Cin = 3, Cout = 32, Ho = H - 2, Wo = W - 2;
    const size_t pooled = size_t(Ho / 2) * (Wo / 2) * Cout;
    std::vector<float> in(size_t(H) * W * Cin), out(pooled), dpool(pooled), b(Cout), dw(size_t(9) * Cin * Cout), db(Cout);
    std::vector<uint8_t> code(pooled);
    std::vector<uint32_t> wpn(size_t(16) * Cout);
    for (float& v : in) v = u(gen);
    for (float& v : dpool) v = u(gen);
    double t[2] = {};
    long dots[2] = {};
    for (int rep = 0; rep <= kReps; rep++) {
      const double t0 = now();
      Tiles::dots = 0;
      conv3x3_relu_maxpool_forward_narrow_packed(out.data(), code.data(), in.data(), wpn.data(), b.data(), 1, H, W, Cin,
                                                 Cout);
      const double t1 = now();
      dots[0] = Tiles::dots;
      Tiles::dots = 0;
      relu_maxpool_conv3x3_backward_weight_narrow(dw.data(), db.data(), dpool.data(), code.data(), in.data(), 1, H, W,
                                                  Cin, Cout);
      const double t2 = now();
      dots[1] = Tiles::dots;
      if (rep) t[0] += t1 - t0, t[1] += t2 - t1;
    }
    const double k = kImagesPerThread / kReps * 1e3;
    printf("%-6s %8.1f /   -   / %5.1f %14ld /     - / %5ld\n", "conv1", t[0] * k, t[1] * k, dots[0], dots[1]);
    total_ms += (t[0] + t[1]) * k;
    useful += 2.0 * Ho * Wo * 27 * Cout;
    issued += double(dots[0] + dots[1]) * 16 * 16 * 32;
  }
  printf("total: %.1f ms/epoch besides the tiles; %.0f M tile multiply-adds per image, %.0f%% of them useful\n",
         total_ms, issued / 1e6, 100 * useful / issued);
}
