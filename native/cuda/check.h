// Every CUDA runtime call and kernel launch is checked; a failure becomes a CudaError (a std::runtime_error the
// addon turns into a JS exception) naming the file, the line, the call and a hint. Nothing here exits or aborts.
#pragma once

#include "cuda/namespace.h"

#if ENGINE_CUDA_EMULATION
#include "cuda/emulate.h"
#else
#include <cuda_runtime.h>
#endif

#include <stdexcept>
#include <string>

namespace engine::ENGINE_CUDA_NS {

struct CudaError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

inline const char* cuda_hint(cudaError_t e) {
  switch (e) {
    case cudaErrorInsufficientDriver:
      return "the NVIDIA driver is missing or older than the CUDA runtime this addon was built with";
    case cudaErrorNoDevice: return "no CUDA device is visible (check CUDA_VISIBLE_DEVICES and nvidia-smi)";
    case cudaErrorMemoryAllocation: return "the GPU is out of memory: use a smaller --batch-size";
    case cudaErrorNoKernelImageForDevice:
    case cudaErrorUnsupportedPtxVersion:
      return "the addon has no code for this GPU: rebuild with CMAKE_CUDA_ARCHITECTURES set for it";
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
      return "a kernel faulted (a bug in the engine): the device is unusable until the process restarts";
    default: return "the CUDA context may be unusable: restart the process";
  }
}

[[noreturn]] inline void throw_cuda(cudaError_t e, const char* call, const char* file, int line) {
  throw CudaError(std::string("CUDA error at ") + file + ":" + std::to_string(line) + " in " + call + ": " +
                  cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + "); hint: " + cuda_hint(e));
}

}  // namespace engine::ENGINE_CUDA_NS

#define CUDA_CHECK(call)                                                              \
  do {                                                                                \
    const cudaError_t engine_cuda_err_ = (call);                                      \
    if (engine_cuda_err_ != cudaSuccess)                                              \
      ::engine::ENGINE_CUDA_NS::throw_cuda(engine_cuda_err_, #call, __FILE__, __LINE__);        \
  } while (0)

// After a launch: configuration errors show at once (cudaGetLastError); faults show at the next synchronisation.
#define CUDA_CHECK_LAUNCH(name)                                                       \
  do {                                                                                \
    const cudaError_t engine_cuda_err_ = cudaGetLastError();                          \
    if (engine_cuda_err_ != cudaSuccess)                                              \
      ::engine::ENGINE_CUDA_NS::throw_cuda(engine_cuda_err_, "launch of " name, __FILE__, __LINE__); \
  } while (0)
