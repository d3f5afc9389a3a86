// Node-API surface of the CUDA backend (compiled only when the addon is built with CUDA):
//   GpuTrainer   the CPU Trainer's surface on a CUDA device, plus uploadImages/trainStepIndexed (data on the device)
//   cudaKernels  each launcher of kernels_cuda.h on host arrays (copy in, run, copy out), for tests against the
//                CPU `kernels` binding
//   cudaDevices  the visible devices, or why there are none
// CUDA and spec errors become JS exceptions (CudaError messages carry file, line and a hint); nothing here exits.
#include <napi.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "../napi_args.h"
#include "../rng.h"
#include "check.h"
#include "gpu_network.h"
#include "kernels_cuda.h"

namespace engine {

namespace {

#include "gpu_trainer.inc"     // GpuTrainer
#include "kernel_bindings.inc"  // cudaKernels

// cudaDevices() -> {devices: [{index, name, computeCapability, memoryBytes, multiprocessors}], reason?,
//                   runtimeVersion, driverVersion}
Napi::Value CudaDevices(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const cuda::DeviceList list = cuda::list_devices();
  Napi::Object r = Napi::Object::New(env);
  Napi::Array devs = Napi::Array::New(env, list.devices.size());
  for (uint32_t i = 0; i < list.devices.size(); i++) {
    const cuda::DeviceInfo& d = list.devices[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("index", d.index);
    o.Set("name", d.name);
    o.Set("computeCapability", std::to_string(d.major) + "." + std::to_string(d.minor));
    o.Set("memoryBytes", d.memory_bytes);
    o.Set("multiprocessors", d.multiprocessors);
    devs[i] = o;
  }
  r.Set("devices", devs);
  if (!list.reason.empty()) r.Set("reason", list.reason);
  r.Set("runtimeVersion", list.runtime_version);
  r.Set("driverVersion", list.driver_version);
  return r;
}

}  // namespace

void register_cuda(Napi::Env env, Napi::Object exports) {
  exports.Set("GpuTrainer", GpuTrainer::Define(env));
  exports.Set("cudaKernels", CudaKernels(env));
  exports.Set("cudaDevices", Napi::Function::New(env, CudaDevices, "cudaDevices"));
}

}  // namespace engine
