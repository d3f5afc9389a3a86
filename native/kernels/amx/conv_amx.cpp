// The AMX kernels with the real tile instructions (compiled with -mamx-tile -mamx-bf16); called only where
// amx_usable() (kernels.cpp: the CPU has AMX-TILE, AMX-BF16 and AVX512-BF16 and Linux granted the tile state).
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels/bf16/bf16_convert.h"

namespace engine::amx {
namespace {

// The 64-byte tile configuration (palette 1) of the Intel SDM, volume 1, 3.2
struct alignas(64) TileConfig {
  uint8_t palette = 1, start_row = 0, reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// GCC's tile intrinsics are macros that paste their tile number into the instruction text, so every tile
// number used gets its own specialisation.
struct Tiles {
  static void start() {
    TileConfig c;
    for (int t = 0; t < 8; t++) {
      c.colsb[t] = 64;
      c.rows[t] = 16;
    }
    _tile_loadconfig(&c);
  }
  static void stop() { _tile_release(); }
  template <int T>
  static void zero();
  template <int T>
  static void load(const void* p, size_t stride);
  template <int T>
  static void store(void* p, size_t stride);
  template <int C, int A, int B>
  static void dot();
};

// Tiles 0-3 accumulate (zero, store); tiles 4-7 hold operands (load).
#define ENGINE_AMX_ACCUMULATOR(t)                      \
  template <>                                          \
  void Tiles::zero<t>() {                              \
    _tile_zero(t);                                     \
  }                                                    \
  template <>                                          \
  void Tiles::store<t>(void* p, size_t stride) {       \
    _tile_stored(t, p, stride);                        \
  }
#define ENGINE_AMX_OPERAND(t)                          \
  template <>                                          \
  void Tiles::load<t>(const void* p, size_t stride) {  \
    _tile_loadd(t, p, stride);                         \
  }
ENGINE_AMX_ACCUMULATOR(0)
ENGINE_AMX_ACCUMULATOR(1)
ENGINE_AMX_ACCUMULATOR(2)
ENGINE_AMX_ACCUMULATOR(3)
ENGINE_AMX_OPERAND(4)
ENGINE_AMX_OPERAND(5)
ENGINE_AMX_OPERAND(6)
ENGINE_AMX_OPERAND(7)
#undef ENGINE_AMX_ACCUMULATOR
#undef ENGINE_AMX_OPERAND

#define ENGINE_AMX_DOT(c, a, b)  \
  template <>                    \
  void Tiles::dot<c, a, b>() {   \
    _tile_dpbf16ps(c, a, b);     \
  }
ENGINE_AMX_DOT(0, 4, 6)
ENGINE_AMX_DOT(1, 4, 7)
ENGINE_AMX_DOT(2, 5, 6)
ENGINE_AMX_DOT(3, 5, 7)
#undef ENGINE_AMX_DOT

}  // namespace

namespace convert = avx512bf16;  // every CPU with AMX-BF16 has AVX512-BF16 (amx_usable checks both)
// dst [16] = bf16(src [16]), as convert::to_bf16, inline
inline void bf16_lanes(uint16_t* dst, const float* src) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(src)));
}
}  // namespace engine::amx

#define AMX_NAMESPACE amx
#include "kernels/amx/conv_amx.inc"

namespace engine::peak {
// The benchmark's AMX peak (peak.h): four independent accumulator tiles, each dot 16 x 16 x 32 multiply-adds,
// enough to cover the dot's latency; returns a value that depends on every dot.
float amx_bf16(long iters) {
  alignas(64) uint16_t ones[16 * 32];  // bf16 1.0: each dot adds 32; the sums stop growing at 2^29, never inf
  for (uint16_t& x : ones) x = 0x3f80;
  alignas(64) float out[16 * 16];
  amx::Tiles::start();
  amx::Tiles::zero<0>();
  amx::Tiles::zero<1>();
  amx::Tiles::zero<2>();
  amx::Tiles::zero<3>();
  amx::Tiles::load<4>(ones, 64);
  amx::Tiles::load<5>(ones, 64);
  amx::Tiles::load<6>(ones, 64);
  amx::Tiles::load<7>(ones, 64);
  for (long k = 0; k < iters; k++) amx::dot_block();
  amx::Tiles::store<3>(out, 64);
  amx::Tiles::stop();
  return out[0] + out[255];
}
}  // namespace engine::peak
