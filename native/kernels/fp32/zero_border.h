// Zeroes the 2-pixel border of padded [Hp][Wp] pixels of pixel_bytes each: the input gradients' padded output
// gradient, whose interior every image overwrites. In an unnamed namespace for the reason given in
// thread_scratch.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace engine {
namespace {

inline void zero_border(void* padded, int Hp, int Wp, size_t pixel_bytes) {
  uint8_t* p = static_cast<uint8_t*>(padded);
  const size_t row = size_t(Wp) * pixel_bytes;
  std::memset(p, 0, 2 * row);
  std::memset(p + size_t(Hp - 2) * row, 0, 2 * row);
  for (int y = 2; y < Hp - 2; y++) {
    std::memset(p + size_t(y) * row, 0, 2 * pixel_bytes);
    std::memset(p + size_t(y) * row + size_t(Wp - 2) * pixel_bytes, 0, 2 * pixel_bytes);
  }
}

}  // namespace
}  // namespace engine
