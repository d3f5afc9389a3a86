// The AMX kernels on a C++ model of the eight tile registers, for tests on any CPU. TDPBF16PS is modelled as the
// Intel SDM describes it: per output element, for each of the 16 pairs, the two bf16 x bf16 products (exact in
// fp32) are added to the fp32 sum one after the other, rounded to nearest even (this file is compiled with
// -ffp-contract=off). The hardware also flushes denormals to zero, which this model does not; the tests' error
// bound holds either way.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/bf16/bf16_bits.h"
#include "kernels/bf16/bf16_convert.h"

namespace engine::amx_emulated {
namespace {

struct Tiles {
  struct Registers {
    alignas(64) uint8_t t[8][16][64];
  };
  static Registers& r() {
    thread_local Registers regs;
    return regs;
  }
  static float from_bf16(uint16_t h) {
    const uint32_t u = uint32_t(h) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
  static void start() { std::memset(r().t, 0, sizeof(r().t)); }
  static void stop() {}
  template <int T>
  static void zero() { std::memset(r().t[T], 0, sizeof(r().t[T])); }
  template <int T>
  static void load(const void* p, size_t stride) {
    for (int row = 0; row < 16; row++) std::memcpy(r().t[T][row], static_cast<const uint8_t*>(p) + row * stride, 64);
  }
  template <int T>
  static void store(void* p, size_t stride) {
    for (int row = 0; row < 16; row++) std::memcpy(static_cast<uint8_t*>(p) + row * stride, r().t[T][row], 64);
  }
  // Each element's sum runs over k, then j, as above; the 16 columns of a row are independent, so they are
  // computed side by side (vectorisable) from the B tile converted to float once.
  template <int C, int A, int B>
  static void dot() {
    float b[16][2][16];  // [k][j][n]
    for (int k = 0; k < 16; k++)
      for (int n = 0; n < 16; n++)
        for (int j = 0; j < 2; j++) {
          uint16_t h;
          std::memcpy(&h, &r().t[B][k][4 * n + 2 * j], 2);
          b[k][j][n] = from_bf16(h);
        }
    for (int m = 0; m < 16; m++) {
      float c[16];
      std::memcpy(c, r().t[C][m], 64);
      for (int k = 0; k < 16; k++)
        for (int j = 0; j < 2; j++) {
          uint16_t h;
          std::memcpy(&h, &r().t[A][m][4 * k + 2 * j], 2);
          const float a = from_bf16(h);
          for (int n = 0; n < 16; n++) c[n] += a * b[k][j][n];
        }
      std::memcpy(r().t[C][m], c, 64);
    }
  }
};

}  // namespace

namespace convert = portable;
// dst [16] = bf16(src [16]), as convert::to_bf16, inline
inline void bf16_lanes(uint16_t* dst, const float* src) {
  for (int i = 0; i < 16; i++) dst[i] = bf16_bits(src[i]);
}
}  // namespace engine::amx_emulated

#define AMX_NAMESPACE amx_emulated
#include "kernels/amx/conv_amx.inc"
