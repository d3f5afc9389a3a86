// The addon's exports: Trainer (trainer.cpp), the raw kernels for tests (test_kernels.cpp, and the CUDA ones in
// cuda/kernel_bindings.cpp), the peak probe for the benchmarks (bench.cpp), the JPEG decoder (image.cpp), what
// the build and the machine offer, and the CUDA devices. Native failures become JS exceptions; nothing here exits or aborts.
#include <napi.h>

#include "backend/backend.h"
#include "binding/args.h"
#include "binding/bindings.h"
#include "binding/trainer.h"
#include "model/plan.h"

namespace engine {
namespace {

// buildInfo() -> {isa, cpuIsa, amx, bf16, compiler, napiVersion, cuda, cudaArchitectures?, cudaCompiler?}
// isa: what a network gets by default here (the CPU's best, capped by ENGINE_ISA)
Napi::Value BuildInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object r = Napi::Object::New(env);
  const PlanOptions o = guarded(env, [] { return plan_options(BackendKind::Cpu, false, nullptr, Precision::Fp32, nullptr, 1); });
  r.Set("isa", isa_name(o.isa));
  r.Set("cpuIsa", isa_name(cpu_isa()));
  r.Set("amx", amx_usable());
  r.Set("compiler", __VERSION__);
  r.Set("napiVersion", NAPI_VERSION);
#if ENGINE_CUDA
  r.Set("cuda", true);
  r.Set("cudaArchitectures", ENGINE_CUDA_ARCHITECTURES);
  r.Set("cudaCompiler", ENGINE_CUDA_COMPILER_VERSION);
#else
  r.Set("cuda", false);
#endif
  r.Set("bf16", cpu_has_bf16());
  return r;
}

// cudaDevices() -> {devices: [{index, name, computeCapability, memoryBytes, multiprocessors}], reason?,
//                   runtimeVersion, driverVersion}
Napi::Value CudaDevices(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object r = Napi::Object::New(env);
#if ENGINE_CUDA
  const DeviceList list = cuda::list_devices();
#else
  DeviceList list;
  list.reason = "the addon was built without CUDA (no nvcc found at build time, or ENGINE_CUDA=OFF)";
#endif
  Napi::Array devs = Napi::Array::New(env, list.devices.size());
  for (uint32_t i = 0; i < list.devices.size(); i++) {
    const DeviceInfo& d = list.devices[i];
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
#if ENGINE_CUDA
  r.Set("runtimeVersion", list.runtime_version);
  r.Set("driverVersion", list.driver_version);
#endif
  return r;
}

// layout(spec) -> {params, paramCount, stateCount, ops, classes}: the layout every backend derives from a spec
Napi::Value LayoutJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ModelSpec spec = parse_spec(info[0]);
  return guarded(env, [&] {
    try {
      return layout_to_js(env, make_layout(spec));
    } catch (const SpecError& e) {
      throw_range(env, std::string(e.field) + ": " + e.what());
    }
  });
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Trainer", define_trainer(env));
  exports.Set("layout", Napi::Function::New(env, LayoutJs, "layout"));
  exports.Set("kernels", test_kernels(env));
  exports.Set("buildInfo", Napi::Function::New(env, BuildInfo, "buildInfo"));
  exports.Set("measurePeak", Napi::Function::New(env, measure_peak, "measurePeak"));
  exports.Set("decodeJpeg", Napi::Function::New(env, decode_jpeg, "decodeJpeg"));
  exports.Set("loadJpegFiles", Napi::Function::New(env, load_jpeg_files, "loadJpegFiles"));
  exports.Set("jpegDecoder", Napi::Function::New(env, jpeg_decoder, "jpegDecoder"));
  exports.Set("cudaDevices", Napi::Function::New(env, CudaDevices, "cudaDevices"));
  exports.Set("cudaKernelsEmulated", cuda_emulated::kernel_bindings(env));  // the CUDA kernels on the CPU emulator
#if ENGINE_CUDA
  exports.Set("cudaKernels", cuda::kernel_bindings(env));
#endif
  return exports;
}

}  // namespace
}  // namespace engine

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return engine::Init(env, exports); }

NODE_API_MODULE(engine_addon, InitAddon)
