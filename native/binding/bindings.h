// The addon's function tables besides the Trainer: the raw kernels for tests and the peak probe for the
// benchmarks; the CUDA kernels' tables live with the CUDA source (cuda/kernel_bindings.cpp), once per build of it.
#pragma once

#include <napi.h>

namespace engine {

// kernels: each CPU kernel on typed arrays, for tests against the reference (test_kernels.cpp)
Napi::Object test_kernels(Napi::Env env);
// measurePeak(kind: 'fp32' | 'bf16' | 'amx', threads, seconds) -> Promise<GFLOP/s> (bench.cpp)
Napi::Value measure_peak(const Napi::CallbackInfo& info);

namespace cuda {
Napi::Object kernel_bindings(Napi::Env env);
}
namespace cuda_emulated {
Napi::Object kernel_bindings(Napi::Env env);
}

}  // namespace engine
