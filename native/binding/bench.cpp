// The peak probe for the benchmarks: measurePeak(kind, threads, seconds) -> Promise<GFLOP/s> of fp32 FMA
// (AVX-512), bf16 dot products (AVX512-BF16) or AMX bf16 tile dot products, off the JS thread.
#include <napi.h>

#include "bench/peak.h"
#include "binding/args.h"
#include "binding/bindings.h"

namespace engine {

namespace {

class PeakWorker : public Napi::AsyncWorker {
 public:
  PeakWorker(Napi::Env env, PeakKind kind, int threads, double seconds)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), kind_(kind), threads_(threads),
        seconds_(seconds) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      gflops_ = measure_peak_gflops(kind_, threads_, seconds_);
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }
  void OnOK() override { deferred_.Resolve(Napi::Number::New(Env(), gflops_)); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  PeakKind kind_;
  int threads_;
  double seconds_, gflops_ = 0;
};

}  // namespace

Napi::Value measure_peak(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string kind = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  if (kind != "fp32" && kind != "bf16" && kind != "amx") throw_type(env, "kind must be 'fp32', 'bf16' or 'amx'");
  const int threads = integer(info[1], "threads", 1, 1024);
  const double seconds = number(info[2], "seconds");
  if (!(seconds > 0 && seconds <= 10)) throw_range(env, "seconds must be in (0, 10]");
  auto* w = new PeakWorker(env,
                           kind == "fp32"   ? PeakKind::Fp32Fma
                           : kind == "bf16" ? PeakKind::Bf16Dot
                                            : PeakKind::AmxBf16,
                           threads, seconds);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

}  // namespace engine
