// float -> bf16 bits, rounded to nearest even (as vcvtneps2bf16 does for finite values): the one rounding of the
// bf16 kernels (AVX512-BF16, AMX and its model) and their packed kernels. In an unnamed namespace for the reason
// given in thread_scratch.h.
#pragma once

#include <cstdint>
#include <cstring>

namespace engine {
namespace {

inline uint16_t bf16_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

}  // namespace
}  // namespace engine
