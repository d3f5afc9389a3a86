// What the CUDA kernel files (kernels_cuda.cu, batchnorm_cuda.cu, optimizers_cuda.cu) share: the launch macro
// (CUDA's <<<...>>> under nvcc, the emulator's launcher under ENGINE_CUDA_EMULATION), the block size and the
// grid of the elementwise kernels. Included by those .cu files only.
#pragma once

#include <algorithm>
#include <cstddef>

#include "cuda/check.h"

#if !ENGINE_CUDA_EMULATION
#define ENGINE_LAUNCH(grid, block, stream, ...) __VA_ARGS__<<<grid, block, 0, stream>>>
#endif

namespace engine::ENGINE_CUDA_NS::launch {

constexpr int kThreads = 256;

// Elementwise kernels loop over their range (grid-stride), so the grid is capped; under emulation, hard.
#if ENGINE_CUDA_EMULATION
constexpr size_t kMaxBlocks = 8;
#else
constexpr size_t kMaxBlocks = 65535u * 16;
#endif
inline unsigned blocks_for(size_t n) {
  return unsigned(std::min<size_t>((n + kThreads - 1) / kThreads, kMaxBlocks));
}

// How a deterministic reduction over n items is cut into fixed slices, each summed by one block: from the size
// alone (never from the GPU), so that the same inputs give the same bits on any GPU and on the emulator.
struct Slices {
  unsigned count;
  size_t chunk;  // items per slice (the last may hold fewer)
};
inline Slices slices_for(size_t n, size_t per_slice, unsigned most) {
  size_t s = std::max<size_t>(1, (n + per_slice - 1) / per_slice);
  s = std::min<size_t>(s, most);
  const size_t chunk = std::max<size_t>(1, (n + s - 1) / s);
  return {unsigned(std::max<size_t>(1, (n + chunk - 1) / chunk)), chunk};
}

}  // namespace engine::ENGINE_CUDA_NS::launch
