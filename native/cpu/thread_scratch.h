// Grow-only scratch memory kept by a thread for one purpose (a thread_local in the kernel that uses it): the
// network calls the kernels once per image, and a fresh buffer there costs a page fault per 4 KiB each time (glibc
// returns blocks over 128 KiB to the system on free). Nothing is kept from one call to the next but the memory.
//
// In an unnamed namespace, so every translation unit that includes it gets its own copy compiled with its own
// flags: an inline function with external linkage could be merged by the linker into the copy built for a newer
// instruction set (see conv_simd.inc).
#pragma once

#include <cstddef>
#include <cstdlib>

namespace engine {
namespace {

struct ThreadScratch {
  void* p = nullptr;
  size_t bytes = 0;
  ~ThreadScratch() { std::free(p); }
  // count elements of T, 64-byte aligned; null when the memory cannot be had
  template <typename T>
  T* get(size_t count) {
    const size_t need = ((count * sizeof(T) + 63) / 64) * 64;
    if (need > bytes) {
      std::free(p);
      p = std::aligned_alloc(64, need);
      bytes = p ? need : 0;
    }
    return static_cast<T*>(p);
  }
};

}  // namespace
}  // namespace engine
