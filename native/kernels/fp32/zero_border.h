// Zeroes the border (2 pixels by default: a 3x3 kernel's) of padded [Hp][Wp] pixels of pixel_bytes each: the input
// gradients' padded output gradient, whose interior every image overwrites. In an unnamed namespace for the reason given in
// thread_scratch.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace engine {
namespace {

inline void zero_border(void* padded, int Hp, int Wp, size_t pixel_bytes, int border = 2) {
  uint8_t* p = static_cast<uint8_t*>(padded);
  const size_t row = size_t(Wp) * pixel_bytes, b = size_t(border);
  std::memset(p, 0, b * row);
  std::memset(p + size_t(Hp - border) * row, 0, b * row);
  for (int y = border; y < Hp - border; y++) {
    std::memset(p + size_t(y) * row, 0, b * pixel_bytes);
    std::memset(p + size_t(y) * row + size_t(Wp - border) * pixel_bytes, 0, b * pixel_bytes);
  }
}

}  // namespace
}  // namespace engine
