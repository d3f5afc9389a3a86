// The Trainer class: one model on one backend (CPU float or double, CUDA, or the CUDA source on its CPU emulator),
// one native call per training step, run off the JS thread by one AsyncWorker. Arguments are checked here for
// memory safety (types, lengths, ranges); the options' policy (defaults, which combinations make sense for a user)
// is TypeScript's, and the machine's limits are the plan's (model/plan.h), which names the field at fault.
#include <napi.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "binding/args.h"
#include "binding/trainer.h"

namespace engine {

namespace {

class Trainer : public Napi::ObjectWrap<Trainer> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Trainer",
                       {InstanceMethod("trainStep", &Trainer::TrainStep),
                        InstanceMethod("uploadImages", &Trainer::UploadImages),
                        InstanceMethod("trainStepIndexed", &Trainer::TrainStepIndexed),
                        InstanceMethod("evaluate", &Trainer::Evaluate),
                        InstanceMethod("predict", &Trainer::Predict),
                        InstanceMethod("computeGradients", &Trainer::ComputeGradients),
                        InstanceMethod("getParams", &Trainer::GetParams),
                        InstanceMethod("setParams", &Trainer::SetParams),
                        InstanceMethod("getState", &Trainer::GetState),
                        InstanceMethod("setState", &Trainer::SetState),
                        InstanceMethod("paramLayout", &Trainer::ParamLayout),
                        InstanceMethod("plan", &Trainer::PlanJs),
                        InstanceMethod("info", &Trainer::Info),
                        InstanceMethod("layerTimes", &Trainer::LayerTimesJs),
                        InstanceMethod("dispose", &Trainer::Dispose)});
  }

  // new Trainer({spec, seed, threads, dtype, backend, precision, conv, isa?, device?, optimizer?, labelSmoothing?,
  // ema?, normalize?: {mean, std}, augment?: 'keras' | 'crop'}): the complete config that TypeScript resolves
  // (src/native.ts trainerConfig)
  explicit Trainer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Trainer>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsObject()) throw_type(env, "options must be an object {spec, seed, threads, dtype, backend, ...}");
    Napi::Object o = info[0].As<Napi::Object>();
    const ModelSpec spec = parse_spec(o.Get("spec"));
    const double seed = number(o.Get("seed"), "seed");
    if (seed < 0 || seed > 9007199254740991.0 || std::trunc(seed) != seed)
      throw_range(env, "seed must be a non-negative safe integer");
    const int threads = integer(o.Get("threads"), "threads", 1, 256);
    const std::string dtype = choice(o.Get("dtype"), "dtype", {"float32", "float64"});
    const std::string backend = choice(o.Get("backend"), "backend", {"cpu", "cuda", "cuda-emulated"});
    const Precision precision = choice(o.Get("precision"), "precision", {"fp32", "bf16"}) == "bf16" ? Precision::Bf16 : Precision::Fp32;
    const ConvAlgorithm conv = choice(o.Get("conv"), "conv", {"winograd", "direct"}) == "winograd" ? ConvAlgorithm::Winograd : ConvAlgorithm::Direct;
    Isa isa_cap;
    const bool has_isa = !(o.Get("isa").IsUndefined() || o.Get("isa").IsNull());
    if (has_isa) isa_cap = isa_arg(o.Get("isa"));
    const int device = o.Get("device").IsUndefined() ? 0 : integer(o.Get("device"), "device", 0, 1024);
    if (backend != "cpu" && dtype != "float32") throw_range(env, "dtype: the CUDA backend is float32 only");
    const Recipe recipe = read_recipe(o, spec.channels);
    guarded(env, [&] {
      try {
        const Layout layout = make_layout(spec);
        const PlanOptions options = plan_options(backend == "cpu" ? BackendKind::Cpu : BackendKind::Cuda, dtype == "float64",
                                                 has_isa ? &isa_cap : nullptr, precision, &conv, threads);
        if (backend == "cpu") backend_ = make_cpu_backend(layout, options, recipe, uint64_t(seed));
        else if (backend == "cuda-emulated")
          backend_ = cuda_emulated::make_backend(layout, options, recipe, uint64_t(seed), device);
#if ENGINE_CUDA
        else backend_ = cuda::make_backend(layout, options, recipe, uint64_t(seed), device);
#else
        else throw SpecError("the addon was built without CUDA (no nvcc found at build time, or ENGINE_CUDA=OFF)", "backend");
#endif
      } catch (const SpecError& e) {
        throw_range(env, std::string(e.field) + ": " + e.what());
      }
    });
  }

 private:
  // A native call off the JS thread: `work` runs on a worker thread, `done` builds the result on the JS thread.
  class Worker : public Napi::AsyncWorker {
   public:
    Worker(Napi::Env env, Trainer* t, std::function<void()> work, std::function<Napi::Value(Napi::Env)> done)
        : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), trainer_(t), work_(std::move(work)),
          done_(std::move(done)) {
      self_ = Napi::Persistent(t->Value());  // keep the Trainer alive while we run
      trainer_->busy_ = true;
    }
    static Napi::Promise Start(Worker* w) {
      Napi::Promise p = w->deferred_.Promise();
      w->Queue();
      return p;
    }
    void Execute() override {
      try {
        work_();
      } catch (const std::bad_alloc&) {
        SetError("out of memory in the native engine");
      } catch (const std::exception& e) {
        SetError(e.what());
      }
    }
    void OnOK() override {
      trainer_->busy_ = false;
      deferred_.Resolve(done_(Env()));
    }
    void OnError(const Napi::Error& e) override {
      trainer_->busy_ = false;
      deferred_.Reject(e.Value());
    }

   private:
    Napi::Promise::Deferred deferred_;
    Napi::ObjectReference self_;
    Trainer* trainer_;
    std::function<void()> work_;
    std::function<Napi::Value(Napi::Env)> done_;
  };

  Backend& backend(Napi::Env env) {
    if (!backend_) throw Napi::Error::New(env, "Trainer has been disposed");
    if (busy_) throw Napi::Error::New(env, "Trainer is busy: await the pending trainStep/evaluate/predict first");
    return *backend_;
  }

  // images (and labels, augment) of a batch, copied: the step runs after this call returns
  void read_batch(const Napi::CallbackInfo& info, Batch* b, bool labels, bool augment) {
    auto img = typed<uint8_t>(info[0], "images");
    b->B = image_count(info.Env(), img.ElementLength(), backend_->layout().image_size());
    b->images.assign(img.Data(), img.Data() + img.ElementLength());
    if (labels) read_labels(info[1], size_t(b->B), backend_->layout().classes(), &b->labels);
    if (augment) read_augment(info[2], b->B, augment_params(backend_->recipe().augment), &b->augment);
  }

  static Napi::Value step_result(Napi::Env env, const StepResult& s, int B, bool train) {
    Napi::Object r = Napi::Object::New(env);
    r.Set("loss", s.loss_sum / B);
    r.Set("correct", s.correct);
    if (train) r.Set("nonFiniteWeights", double(s.non_finite_params));
    return r;
  }

  Napi::Value train(Napi::Env env, std::shared_ptr<Batch> b, OptimizerStep opt) {
    Backend& be = backend(env);
    auto result = std::make_shared<StepResult>();
    return Worker::Start(new Worker(
        env, this, [&be, b, opt, result] { *result = be.train(*b, opt); },
        [b, result](Napi::Env e) { return step_result(e, *result, b->B, true); }));
  }

  // trainStep(images u8 [B*H*W*C], labels u8 [B], augment f64 [B*4] | null, {lr, rho, epsilon})
  //   -> Promise<{loss, correct, nonFiniteWeights}>
  Napi::Value TrainStep(const Napi::CallbackInfo& info) {
    backend(info.Env());
    auto b = std::make_shared<Batch>();
    read_batch(info, b.get(), true, true);
    return train(info.Env(), b, read_optimizer(info[3]));
  }

  // uploadImages(images u8 [N*H*W*C], labels u8 [N]) -> N: keeps a dataset that trainStepIndexed reads in place
  // (on the device for CUDA), so that a step copies no images; replaces any earlier one
  Napi::Value UploadImages(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Backend& be = backend(env);
    auto img = typed<uint8_t>(info[0], "images");
    const int N = image_count(env, img.ElementLength(), be.layout().image_size());
    std::vector<uint8_t> labels;
    read_labels(info[1], size_t(N), be.layout().classes(), &labels);
    guarded(env, [&] { be.upload(std::vector<uint8_t>(img.Data(), img.Data() + img.ElementLength()), std::move(labels), N); });
    return Napi::Number::New(env, N);
  }

  // trainStepIndexed(indices i32 [B], augment f64 [B*4] | null, {lr, rho, epsilon}): trainStep on the uploaded
  // images that indices pick
  Napi::Value TrainStepIndexed(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Backend& be = backend(env);
    if (be.uploaded() == 0) throw Napi::Error::New(env, "trainStepIndexed needs uploadImages(images, labels) first");
    auto b = std::make_shared<Batch>();
    b->indices = read_indices(info[0], size_t(be.uploaded()));
    b->B = int(b->indices.size());
    read_augment(info[1], b->B, augment_params(be.recipe().augment), &b->augment);
    return train(env, b, read_optimizer(info[2]));
  }

  // evaluate(images, labels) -> Promise<{loss, correct, probabilities}>; predict(images) -> Promise<Float32Array>
  // of P(class 1) for a sigmoid head, [B * classes] for a softmax head; no dropout, no warp
  // (a last argument {ema: true} runs the moving average of the weights)
  Napi::Value Evaluate(const Napi::CallbackInfo& info) { return Infer(info, true); }
  Napi::Value Predict(const Napi::CallbackInfo& info) { return Infer(info, false); }
  Napi::Value Infer(const Napi::CallbackInfo& info, bool with_labels) {
    Backend& be = backend(info.Env());
    auto b = std::make_shared<Batch>();
    read_batch(info, b.get(), with_labels, false);
    const Napi::Value opts = info[with_labels ? 2 : 1];
    const bool ema = opts.IsObject() && opts.As<Napi::Object>().Get("ema").ToBoolean();
    if (ema && be.count(Buffer::Ema) == 0) throw_range(info.Env(), "ema: this trainer keeps no moving average of its weights");
    auto result = std::make_shared<Inference>();
    return Worker::Start(new Worker(
        info.Env(), this, [&be, b, result, with_labels, ema] { *result = be.infer(*b, with_labels, ema); },
        [b, result, with_labels](Napi::Env env) -> Napi::Value {
          auto p = Napi::Float32Array::New(env, result->probabilities.size());
          for (size_t i = 0; i < result->probabilities.size(); i++) p[i] = float(result->probabilities[i]);
          if (!with_labels) return p;
          Napi::Object r = Napi::Object::New(env);
          r.Set("loss", result->loss_sum / b->B);
          r.Set("correct", result->correct);
          r.Set("probabilities", p);
          return r;
        }));
  }

  // A buffer as a Float32Array (Float64Array for a float64 trainer)
  Napi::Value buffer(Napi::Env env, Buffer which) {
    Backend& be = backend(env);
    const size_t n = be.count(which);
    if (be.is_double()) {
      auto a = Napi::Float64Array::New(env, n);
      guarded(env, [&] { be.read(which, a.Data()); });
      return a;
    }
    auto a = Napi::Float32Array::New(env, n);
    guarded(env, [&] { be.read(which, a.Data()); });
    return a;
  }

  // Writes a buffer from a typed array of the trainer's element type and exact length; `name` names a bad value.
  // Elements from `non_negative_from` on must be >= 0 (squared-gradient averages), those before may be negative.
  static constexpr size_t kAnySign = SIZE_MAX;
  template <typename T>
  void set_buffer(Napi::Env env, Buffer which, const Napi::Value& v, const char* name, size_t non_negative_from) {
    Backend& be = backend(env);
    auto a = typed<T>(v, name, be.count(which));
    for (size_t i = 0; i < a.ElementLength(); i++) {
      const bool non_negative = i >= non_negative_from;
      if (!std::isfinite(a[i]) || (non_negative && !(a[i] >= 0)))
        throw_range(env, std::string(name) + "[" + std::to_string(i) + "] " +
                             (non_negative ? "must be finite and >= 0" : "is not finite"));
    }
    guarded(env, [&] { be.write(which, a.Data()); });
  }
  void write_buffer(Napi::Env env, Buffer which, const Napi::Value& v, const char* name, size_t non_negative_from) {
    if (backend(env).is_double()) set_buffer<double>(env, which, v, name, non_negative_from);
    else set_buffer<float>(env, which, v, name, non_negative_from);
  }
  // Where the optimizer's state turns non-negative: RMSprop's accumulators all are; SGD's velocity may have any
  // sign; AdamW's first moment may, its second (the buffers' second half) may not.
  size_t accumulators_non_negative_from(Napi::Env env) {
    Backend& be = backend(env);
    switch (be.recipe().optimizer) {
      case OptimizerKind::RmsProp: return 0;
      case OptimizerKind::Sgd: return kAnySign;
      case OptimizerKind::AdamW: return be.count(Buffer::Accumulators) / 2;
    }
    return 0;
  }

  // computeGradients(images, labels, augment?) -> {loss, correct, gradients} (synchronous; for gradient checks):
  // the gradient of the mean loss with this step's dropout masks, without an update
  Napi::Value ComputeGradients(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Backend& be = backend(env);
    Batch b;
    read_batch(info, &b, true, true);
    const StepResult s = guarded(env, [&] { return be.compute_gradients(b); });
    Napi::Object r = step_result(env, s, b.B, false).As<Napi::Object>();
    r.Set("gradients", buffer(env, Buffer::Gradients));
    return r;
  }

  Napi::Value GetParams(const Napi::CallbackInfo& info) { return buffer(info.Env(), Buffer::Params); }
  void SetParams(const Napi::CallbackInfo& info) { write_buffer(info.Env(), Buffer::Params, info[0], "params", kAnySign); }

  // getState() -> {step, accumulators, state, ema?}: with the seed (fixed at construction) and the params, all a
  // resumed run needs (accumulators: the optimizer's state buffers one after another; state: batch norm's running
  // statistics, empty without batch norm; ema: the weights' moving average, where the recipe keeps one)
  Napi::Value GetState(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object r = Napi::Object::New(env);
    r.Set("step", double(backend(env).step()));
    r.Set("accumulators", buffer(env, Buffer::Accumulators));
    r.Set("state", buffer(env, Buffer::State));
    if (backend(env).count(Buffer::Ema)) r.Set("ema", buffer(env, Buffer::Ema));
    return r;
  }

  void SetState(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Backend& be = backend(env);
    if (!info[0].IsObject()) throw_type(env, "state must be an object {step, accumulators, state?}");
    Napi::Object s = info[0].As<Napi::Object>();
    const double step = number(s.Get("step"), "state.step");
    if (step < 0 || std::trunc(step) != step || step > 9007199254740991.0)
      throw_range(env, "state.step must be a non-negative safe integer");
    write_buffer(env, Buffer::Accumulators, s.Get("accumulators"), "state.accumulators", accumulators_non_negative_from(env));
    if (!s.Get("state").IsUndefined()) write_buffer(env, Buffer::State, s.Get("state"), "state.state", kAnySign);
    if (!s.Get("ema").IsUndefined()) write_buffer(env, Buffer::Ema, s.Get("ema"), "state.ema", kAnySign);
    be.set_step(uint64_t(step));
  }

  // paramLayout() -> [{name, shape, offset, size}]
  Napi::Value ParamLayout(const Napi::CallbackInfo& info) { return params_to_js(info.Env(), backend(info.Env()).layout().params); }

  // plan() -> {options, steps: [{direction, ops, kernel, ...}]} (binding/trainer.h)
  Napi::Value PlanJs(const Napi::CallbackInfo& info) {
    Backend& be = backend(info.Env());
    return plan_to_js(info.Env(), be.layout(), be.plan());
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object r = Napi::Object::New(env);
    for (const InfoValue& v : backend(env).info()) {
      switch (v.kind) {
        case InfoValue::Text: r.Set(v.key, v.text); break;
        case InfoValue::Number: r.Set(v.key, v.number); break;
        case InfoValue::Bool: r.Set(v.key, v.number != 0); break;
        case InfoValue::Null: r.Set(v.key, env.Null()); break;
      }
    }
    return r;
  }

  // layerTimes(reset?: boolean) -> {layers: [{forward, backward}], preprocess, update, kernels, idle, step} in
  // seconds since the last reset, averaged over threads (CPU only)
  Napi::Value LayerTimesJs(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Backend& be = backend(env);
    if (!be.has_layer_times()) throw Napi::Error::New(env, "layerTimes: the CUDA backend keeps no per-layer times");
    const bool reset = info.Length() > 0 && info[0].ToBoolean();
    const LayerTimes t = be.layer_times();
    Napi::Object r = Napi::Object::New(env);
    Napi::Array layers = Napi::Array::New(env, t.forward.size());
    for (uint32_t i = 0; i < t.forward.size(); i++) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("forward", t.forward[i]);
      o.Set("backward", t.backward[i]);
      layers[i] = o;
    }
    r.Set("layers", layers);
    r.Set("preprocess", t.preprocess);
    r.Set("update", t.update);
    r.Set("kernels", t.kernels);
    r.Set("idle", t.idle);
    r.Set("step", t.step);
    if (reset) be.reset_layer_times();
    return r;
  }

  void Dispose(const Napi::CallbackInfo& info) {
    if (busy_) throw Napi::Error::New(info.Env(), "Trainer is busy: await the pending call before dispose()");
    backend_.reset();
  }

  std::unique_ptr<Backend> backend_;
  bool busy_ = false;
};

}  // namespace

Napi::Function define_trainer(Napi::Env env) { return Trainer::Define(env); }

}  // namespace engine
