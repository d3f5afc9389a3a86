// The addon's function tables besides the Trainer: the raw kernels for tests, the peak probe for the
// benchmarks and the JPEG decoder; the CUDA kernels' tables live with the CUDA source (cuda/kernel_bindings.cpp),
// once per build of it.
#pragma once

#include <napi.h>

namespace engine {

// kernels: each CPU kernel on typed arrays, for tests against the reference (test_kernels.cpp)
Napi::Object test_kernels(Napi::Env env);
// measurePeak(kind: 'fp32' | 'bf16' | 'amx', threads, seconds) -> Promise<GFLOP/s> (bench.cpp)
Napi::Value measure_peak(const Napi::CallbackInfo& info);
// decodeJpeg(bytes, maxPixels) -> Promise<{data, width, height} | {why}>; jpegDecoder() -> {available, reason?} (image.cpp)
Napi::Value decode_jpeg(const Napi::CallbackInfo& info);
Napi::Value jpeg_decoder(const Napi::CallbackInfo& info);
// loadJpegFiles(paths, dst, {height, width, channels, resize, maxPixels, maxBytes}) -> Promise<Uint8Array> (image.cpp)
Napi::Value load_jpeg_files(const Napi::CallbackInfo& info);

namespace cuda {
Napi::Object kernel_bindings(Napi::Env env);
}
namespace cuda_emulated {
Napi::Object kernel_bindings(Napi::Env env);
}

}  // namespace engine
