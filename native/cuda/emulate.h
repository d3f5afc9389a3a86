// A CPU emulator for the CUDA kernels of kernels_cuda.cu, so that their source runs (and is tested against the
// reference) on machines without a GPU, CI included. Not a performance path and not a general CUDA: exactly the
// subset kernels_cuda.cu uses.
//
// Each block's threads are fibers (ucontext) on the calling thread, run round by round: a thread runs until it
// reaches __syncthreads() or returns, then the next; when every thread has reached the barrier the next round
// starts. Blocks run one after another, so __shared__ arrays (function statics here) belong to one block at a
// time. Device memory is host memory; the runtime calls below are the few the kernel bindings need.
#pragma once

#include <ucontext.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <vector>

#define dim3 engine_emu_dim3  // not CUDA's own dim3 (one definition rule)
struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

// Per OS thread, so that trainers on different worker threads emulate independently.
inline thread_local dim3 gridDim, blockDim, blockIdx, threadIdx;

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define __launch_bounds__(...)
#define __syncthreads() ::engine_emu::sync()

// Correctly rounded single operations: the same as the host's IEEE float/double arithmetic (this file is
// compiled with -ffp-contract=off, so nothing is fused behind our back); fmaf is fused, as the GPU's FFMA.
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fsqrt_rn(float a) { return std::sqrt(a); }
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dsub_rn(double a, double b) { return a - b; }
inline double __ddiv_rn(double a, double b) { return a / b; }
inline double __dsqrt_rn(double a) { return std::sqrt(a); }
inline int min(int a, int b) { return a < b ? a : b; }
using std::isfinite;  // a device function in CUDA

// ---------- the runtime API subset ----------

enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInsufficientDriver = 35,
  cudaErrorNoDevice = 100,
  cudaErrorNoKernelImageForDevice = 209,
  cudaErrorUnsupportedPtxVersion = 222,
  cudaErrorIllegalAddress = 700,
  cudaErrorLaunchFailure = 719,
  cudaErrorNotSupported = 801,
};
enum cudaMemcpyKind { cudaMemcpyHostToDevice = 1, cudaMemcpyDeviceToHost = 2, cudaMemcpyDeviceToDevice = 3 };
enum { cudaStreamNonBlocking = 1 };
enum cudaStreamCaptureMode { cudaStreamCaptureModeThreadLocal = 1 };
typedef struct CUstream_st* cudaStream_t;
typedef struct CUgraph_st* cudaGraph_t;
typedef struct CUgraphExec_st* cudaGraphExec_t;
struct cudaDeviceProp {
  char name[256];
  size_t totalGlobalMem;
  int major, minor, multiProcessorCount;
};
inline const char* cudaGetErrorName(cudaError_t e) {
  return e == cudaErrorMemoryAllocation ? "cudaErrorMemoryAllocation" : "cudaErrorNotSupported";
}
inline const char* cudaGetErrorString(cudaError_t e) {
  return e == cudaErrorMemoryAllocation ? "out of host memory (CUDA emulation)" : "not supported by the CUDA emulation";
}
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
inline cudaError_t cudaMalloc(void** p, size_t bytes) {
  *p = std::calloc(bytes, 1);
  return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
inline cudaError_t cudaFree(void* p) {
  std::free(p);
  return cudaSuccess;
}
inline cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind) {
  std::memcpy(dst, src, bytes);
  return cudaSuccess;
}
// Streams are the calling thread: everything runs at once, in order.
inline cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind k, cudaStream_t) {
  return cudaMemcpy(dst, src, bytes, k);
}
inline cudaError_t cudaMemset(void* p, int v, size_t bytes) {
  std::memset(p, v, bytes);
  return cudaSuccess;
}
inline cudaError_t cudaMemsetAsync(void* p, int v, size_t bytes, cudaStream_t) { return cudaMemset(p, v, bytes); }
inline cudaError_t cudaMallocHost(void** p, size_t bytes) { return cudaMalloc(p, bytes); }
inline cudaError_t cudaFreeHost(void* p) { return cudaFree(p); }
inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned) {
  *s = nullptr;
  return cudaSuccess;
}
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
inline cudaError_t cudaStreamDestroy(cudaStream_t) { return cudaSuccess; }
inline cudaError_t cudaSetDevice(int) { return cudaSuccess; }
inline cudaError_t cudaGetDeviceCount(int* n) {
  *n = 1;
  return cudaSuccess;
}
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int) {
  std::memset(p, 0, sizeof *p);
  std::strcpy(p->name, "CUDA emulation on the CPU");
  p->multiProcessorCount = 1;
  return cudaSuccess;
}
inline cudaError_t cudaRuntimeGetVersion(int* v) {
  *v = 0;
  return cudaSuccess;
}
inline cudaError_t cudaDriverGetVersion(int* v) {
  *v = 0;
  return cudaSuccess;
}
// No graphs: the emulated network runs its steps eagerly (GpuNetwork turns graphs off under emulation).
inline cudaError_t cudaStreamBeginCapture(cudaStream_t, cudaStreamCaptureMode) { return cudaErrorNotSupported; }
inline cudaError_t cudaStreamEndCapture(cudaStream_t, cudaGraph_t* g) {
  *g = nullptr;
  return cudaErrorNotSupported;
}
inline cudaError_t cudaGraphInstantiate(cudaGraphExec_t*, cudaGraph_t, unsigned long long) { return cudaErrorNotSupported; }
inline cudaError_t cudaGraphLaunch(cudaGraphExec_t, cudaStream_t) { return cudaErrorNotSupported; }
inline cudaError_t cudaGraphDestroy(cudaGraph_t) { return cudaSuccess; }
inline cudaError_t cudaGraphExecDestroy(cudaGraphExec_t) { return cudaSuccess; }

namespace engine_emu {

struct Fiber {
  ucontext_t ctx;
  std::unique_ptr<char[]> stack;
  bool done = false;
};

constexpr size_t kStack = 64 * 1024;
inline thread_local ucontext_t scheduler;
inline thread_local std::vector<Fiber> fibers;
inline thread_local size_t current = 0;
inline thread_local const std::function<void()>* body = nullptr;

inline void entry() {
  (*body)();
  fibers[current].done = true;
  swapcontext(&fibers[current].ctx, &scheduler);
}

inline void sync() { swapcontext(&fibers[current].ctx, &scheduler); }

// Runs fn as the kernel body of every thread of every block of grid x block.
inline void run(dim3 grid, dim3 block, const std::function<void()>& fn) {
  const size_t nt = size_t(block.x) * block.y * block.z;
  if (fibers.size() < nt) {
    fibers.resize(nt);
    for (Fiber& f : fibers)
      if (!f.stack) f.stack.reset(new char[kStack]);
  }
  body = &fn;
  gridDim = grid;
  blockDim = block;
  for (unsigned bz = 0; bz < grid.z; bz++)
    for (unsigned by = 0; by < grid.y; by++)
      for (unsigned bx = 0; bx < grid.x; bx++) {
        blockIdx = dim3(bx, by, bz);
        for (size_t t = 0; t < nt; t++) {
          Fiber& f = fibers[t];
          getcontext(&f.ctx);
          f.ctx.uc_stack.ss_sp = f.stack.get();
          f.ctx.uc_stack.ss_size = kStack;
          f.ctx.uc_link = &scheduler;
          makecontext(&f.ctx, entry, 0);
          f.done = false;
        }
        for (bool live = true; live;) {  // one round: every live thread to its next barrier or its end
          live = false;
          for (size_t t = 0; t < nt; t++) {
            if (fibers[t].done) continue;
            current = t;
            threadIdx = dim3(unsigned(t % block.x), unsigned(t / block.x % block.y), unsigned(t / (size_t(block.x) * block.y)));
            swapcontext(&scheduler, &fibers[t].ctx);
            live = live || !fibers[t].done;
          }
        }
      }
}

// ENGINE_LAUNCH(grid, block, stream, kernel)(args...): the kernel with copies of args, on every emulated thread
struct Launcher {
  dim3 grid, block;
  template <typename K>
  auto operator+(K kernel) const {
    return [grid = grid, block = block, kernel](auto... args) { run(grid, block, [&] { kernel(args...); }); };
  }
};

}  // namespace engine_emu

#define ENGINE_LAUNCH(grid, block, stream, ...) \
  (::engine_emu::Launcher{dim3(grid), dim3(block)} + [](auto... a) { __VA_ARGS__(a...); })
