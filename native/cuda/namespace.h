// The CUDA backend's source is built twice, each as its own target: for the GPU (namespace engine::cuda, kernels
// through nvcc) and for the CPU emulator of emulate.h (engine::cuda_emulated, ENGINE_CUDA_EMULATION=1), so that
// every machine runs the backend's own code against the CPU reference.
#pragma once

#ifndef ENGINE_CUDA_NS
#define ENGINE_CUDA_NS cuda
#endif
