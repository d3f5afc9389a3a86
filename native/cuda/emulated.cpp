// The CUDA backend compiled by the host C++ compiler and run on the CPU emulator of emulate.h: the kernels of
// kernels_cuda.cu, GpuNetwork (gpu_network.cpp) and its bindings, exported as `cudaKernelsEmulated` and
// `GpuTrainerEmulated` (the surfaces of `cudaKernels` and `GpuTrainer`). Every machine, CI included, thereby runs
// the backend's own source against the CPU reference (test/gpu-kernels, test/gpu-train): indexing, tiling, the
// split reductions, the exact kernels' rounding, the network's buffers, layer order, fusion, dropout keys and
// the indexed step. What it cannot check: real-GPU timing, races between real warps, CUDA graphs (off here).
#include <napi.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "../napi_args.h"
#include "../network.h"
#include "../rng.h"

#define ENGINE_CUDA_EMULATION 1
// Everything below lives in engine::cuda_emulated, apart from the real backend's engine::cuda.
#define cuda cuda_emulated
#include "kernels_cuda.cu"
#include "gpu_network.cpp"

namespace engine {
namespace {
#include "gpu_trainer.inc"
#include "kernel_bindings.inc"
}  // namespace

void register_cuda_emulation(Napi::Env env, Napi::Object exports) {
  exports.Set("cudaKernelsEmulated", CudaKernels(env));
  exports.Set("GpuTrainerEmulated", GpuTrainer::Define(env));
}

}  // namespace engine
