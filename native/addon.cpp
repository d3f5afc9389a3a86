// Node-API boundary: the Trainer class (one async native call per training step) and the raw kernels
// (for tests). Arguments are checked here once more than in TypeScript, because a wrong length would be a
// buffer overrun: errors are TypeError/RangeError naming the argument. Native failures become JS exceptions;
// nothing here exits or aborts, and worker threads never touch JS values.
#include <napi.h>

#include <memory>
#include <string>
#include <vector>

#include "augment.h"
#include "conv_amx.h"
#include "bf16_convert.h"
#include "conv_bf16.h"
#include "kernels.h"
#include "napi_args.h"
#include "network.h"
#include "peak.h"
#include "rng.h"

namespace engine {
#if ENGINE_CUDA
void register_cuda(Napi::Env env, Napi::Object exports);
#endif
void register_cuda_emulation(Napi::Env env, Napi::Object exports);
namespace {

// ---------- Trainer ----------

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
                        InstanceMethod("info", &Trainer::Info),
                        InstanceMethod("layerTimes", &Trainer::LayerTimesJs),
                        InstanceMethod("dispose", &Trainer::Dispose)});
  }

  // new Trainer({spec, seed, threads, dtype: 'float32'|'float64', isa, precision: 'fp32'|'bf16',
  //              conv: 'winograd'|'direct'})
  explicit Trainer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Trainer>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsObject()) throw_type(env, "options must be an object {spec, seed, threads}");
    Napi::Object o = info[0].As<Napi::Object>();
    const NetSpec spec = parse_spec(o.Get("spec"));
    const double seed = o.Get("seed").IsUndefined() ? 0 : number(o.Get("seed"), "seed");
    if (seed < 0 || seed > 9007199254740991.0 || std::trunc(seed) != seed)
      throw_range(env, "seed must be a non-negative safe integer");
    const int threads = o.Get("threads").IsUndefined() ? 1 : integer(o.Get("threads"), "threads", 1, 256);
    const std::string dtype = o.Get("dtype").IsUndefined() ? "float32" : o.Get("dtype").ToString().Utf8Value();
    const Isa isa = isa_arg(o.Get("isa"));
    const std::string prec = o.Get("precision").IsUndefined() ? "fp32" : o.Get("precision").ToString().Utf8Value();
    if (prec != "fp32" && prec != "bf16") throw_range(env, "precision must be 'fp32' or 'bf16', got '" + prec + "'");
    const Precision precision = prec == "bf16" ? Precision::Bf16 : Precision::Fp32;
    // conv: 'winograd' by default where it applies (float32, fp32), else 'direct'
    const bool winograd_applies = dtype == "float32" && precision == Precision::Fp32;
    const std::string conv = o.Get("conv").IsUndefined() ? (winograd_applies ? "winograd" : "direct")
                                                         : o.Get("conv").ToString().Utf8Value();
    if (conv != "winograd" && conv != "direct") throw_range(env, "conv must be 'winograd' or 'direct', got '" + conv + "'");
    const ConvAlgorithm algo = conv == "winograd" ? ConvAlgorithm::Winograd : ConvAlgorithm::Direct;
    if (dtype != "float32" && dtype != "float64")
      throw_range(env, "dtype must be 'float32' or 'float64', got '" + dtype + "'");
    guarded(env, [&] {  // a workspace too large for memory, or threads the system refuses, become JS errors
      try {
        if (dtype == "float32")
          f32_ = std::make_unique<Network<float>>(spec, uint64_t(seed), threads, isa, precision, algo);
        else f64_ = std::make_unique<Network<double>>(spec, uint64_t(seed), threads, isa, precision, algo);
      } catch (const SpecError& e) {
        throw_range(env, std::string(e.field) + ": " + e.what());
      }
    });
  }

  // Runs fn on whichever network this trainer holds.
  template <typename F>
  void with(F&& fn) {
    if (f32_) fn(*f32_);
    else fn(*f64_);
  }

  bool busy_ = false;

 private:
  friend class BatchWorker;

  void check_usable(Napi::Env env) {
    if (!f32_ && !f64_) throw Napi::Error::New(env, "Trainer has been disposed");
    if (busy_) throw Napi::Error::New(env, "Trainer is busy: await the pending trainStep/evaluate/predict first");
  }
  size_t image_size() { size_t n = 0; with([&](auto& net) { n = net.image_size(); }); return n; }
  size_t param_count() { size_t n = 0; with([&](auto& net) { n = net.param_count(); }); return n; }

  // Copies and checks (images, labels[, augment]) for a batch.
  void read_batch(const Napi::CallbackInfo& info, bool with_labels, std::vector<uint8_t>* images,
                  std::vector<uint8_t>* labels, std::vector<double>* augment, int* B);

  Napi::Value TrainStep(const Napi::CallbackInfo& info);
  Napi::Value UploadImages(const Napi::CallbackInfo& info);
  Napi::Value TrainStepIndexed(const Napi::CallbackInfo& info);
  Napi::Value Evaluate(const Napi::CallbackInfo& info);
  Napi::Value Predict(const Napi::CallbackInfo& info);
  Napi::Value ComputeGradients(const Napi::CallbackInfo& info);
  Napi::Value GetParams(const Napi::CallbackInfo& info);
  void SetParams(const Napi::CallbackInfo& info);
  Napi::Value GetState(const Napi::CallbackInfo& info);
  void SetState(const Napi::CallbackInfo& info);
  Napi::Value ParamLayout(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value LayerTimesJs(const Napi::CallbackInfo& info);
  void Dispose(const Napi::CallbackInfo& info) {
    if (busy_) throw Napi::Error::New(info.Env(), "Trainer is busy: await the pending call before dispose()");
    f32_.reset();
    f64_.reset();
  }

  std::unique_ptr<Network<float>> f32_;
  std::unique_ptr<Network<double>> f64_;
  // uploadImages' copy of a dataset, [N, H, W, C] and [N], that trainStepIndexed reads in place; replaced only
  // while no step runs (check_usable)
  std::vector<uint8_t> dataset_images_, dataset_labels_;
};

void Trainer::read_batch(const Napi::CallbackInfo& info, bool with_labels, std::vector<uint8_t>* images,
                         std::vector<uint8_t>* labels, std::vector<double>* augment, int* B) {
  Napi::Env env = info.Env();
  const size_t isz = image_size();
  auto img = typed<uint8_t>(info[0], "images");
  *B = image_count(env, img.ElementLength(), isz);
  images->assign(img.Data(), img.Data() + img.ElementLength());
  if (!with_labels) return;
  read_labels(info[1], size_t(*B), labels);
  if (augment) read_augment(info[2], *B, augment);
}

// Runs one batch operation off the JS thread and settles a promise with its result.
class BatchWorker : public Napi::AsyncWorker {
 public:
  enum Kind { kTrain, kEvaluate, kPredict };

  // With indices (kTrain only), the batch is those images of the trainer's uploaded dataset, and images and
  // labels are empty.
  BatchWorker(Napi::Env env, Trainer* trainer, Kind kind, std::vector<uint8_t> images, std::vector<uint8_t> labels,
              std::vector<double> augment, int B, Optimizer opt = {}, std::vector<int32_t> indices = {})
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), trainer_(trainer), kind_(kind),
        images_(std::move(images)), labels_(std::move(labels)), augment_(std::move(augment)),
        indices_(std::move(indices)), B_(B), opt_(opt) {
    self_ = Napi::Persistent(trainer->Value());  // keep the Trainer alive while we run
    trainer_->busy_ = true;
  }

  // Queues the worker (which then owns itself) and returns its promise.
  static Napi::Promise Start(BatchWorker* w) {
    Napi::Promise p = w->deferred_.Promise();
    w->Queue();
    return p;
  }

  void Execute() override {
    try {
      trainer_->with([&](auto& net) {
        using T = std::remove_reference_t<decltype(*net.params())>;
        const double* aug = augment_.empty() ? nullptr : augment_.data();
        if (kind_ == kTrain) {
          result_ = indices_.empty()
                        ? net.train_step(images_.data(), labels_.data(), aug, B_, opt_.lr, opt_.rho, opt_.eps)
                        : net.train_step(trainer_->dataset_images_.data(), trainer_->dataset_labels_.data(), aug, B_,
                                         opt_.lr, opt_.rho, opt_.eps, indices_.data());
          return;
        }
        std::vector<T> logits(B_);
        net.predict_logits(logits.data(), images_.data(), B_);
        probs_.resize(B_);
        for (int b = 0; b < B_; b++) {
          probs_[b] = double(ref::sigmoid(logits[b]));
          if (kind_ == kEvaluate) {
            const T label = T(labels_[b]);
            result_.loss_sum += double(ref::sigmoid_bce<T>(nullptr, &logits[b], &label, 1, T(1)));
            result_.correct += (ref::sigmoid(logits[b]) > T(0.5)) == (labels_[b] != 0);
          }
        }
      });
    } catch (const std::bad_alloc&) {
      SetError("out of memory in the native engine");
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    trainer_->busy_ = false;
    Napi::Object r = Napi::Object::New(env);
    if (kind_ != kPredict) {
      r.Set("loss", result_.loss_sum / B_);
      r.Set("correct", result_.correct);
      if (kind_ == kTrain) r.Set("nonFiniteWeights", double(result_.non_finite_params));
    }
    if (kind_ != kTrain) {
      auto p = Napi::Float32Array::New(env, B_);
      for (int b = 0; b < B_; b++) p[b] = float(probs_[b]);
      if (kind_ == kPredict) return deferred_.Resolve(p);
      r.Set("probabilities", p);
    }
    deferred_.Resolve(r);
  }

  void OnError(const Napi::Error& e) override {
    trainer_->busy_ = false;
    deferred_.Reject(e.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference self_;
  Trainer* trainer_;
  Kind kind_;
  std::vector<uint8_t> images_, labels_;
  std::vector<double> augment_;
  std::vector<int32_t> indices_;
  int B_;
  Optimizer opt_;
  StepResult result_;
  std::vector<double> probs_;
};

// trainStep(images: Uint8Array [B*H*W*C], labels: Uint8Array [B], augment?: Float64Array [B*4] | null,
//           {lr, rho, epsilon}) -> Promise<{loss, correct, nonFiniteWeights}>
Napi::Value Trainer::TrainStep(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  check_usable(env);
  std::vector<uint8_t> images, labels;
  std::vector<double> augment;
  int B;
  read_batch(info, true, &images, &labels, &augment, &B);
  const Optimizer opt = read_optimizer(info[3]);
  return BatchWorker::Start(new BatchWorker(env, this, BatchWorker::kTrain, std::move(images), std::move(labels),
                                            std::move(augment), B, opt));
}

// uploadImages(images: Uint8Array [N*H*W*C], labels: Uint8Array [N]) -> N: copies a dataset that trainStepIndexed
// then reads in place, so that a step copies no images (replaces any earlier one)
Napi::Value Trainer::UploadImages(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  check_usable(env);
  auto img = typed<uint8_t>(info[0], "images");
  const int N = image_count(env, img.ElementLength(), image_size());
  std::vector<uint8_t> labels;
  read_labels(info[1], size_t(N), &labels);
  dataset_images_.assign(img.Data(), img.Data() + img.ElementLength());
  dataset_labels_ = std::move(labels);
  return Napi::Number::New(env, N);
}

// trainStepIndexed(indices: Int32Array [B], augment?: Float64Array [B*4] | null, {lr, rho, epsilon})
//   -> Promise<{loss, correct, nonFiniteWeights}>: trainStep on the uploaded images that indices pick
Napi::Value Trainer::TrainStepIndexed(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  check_usable(env);
  const size_t N = dataset_labels_.size();
  if (N == 0) throw Napi::Error::New(env, "trainStepIndexed needs uploadImages(images, labels) first");
  std::vector<int32_t> indices = read_indices(info[0], N);
  const int B = int(indices.size());
  std::vector<double> augment;
  read_augment(info[1], B, &augment);
  const Optimizer opt = read_optimizer(info[2]);
  return BatchWorker::Start(
      new BatchWorker(env, this, BatchWorker::kTrain, {}, {}, std::move(augment), B, opt, std::move(indices)));
}

// evaluate(images, labels) -> Promise<{loss, correct, probabilities: Float32Array}>, no dropout, no warp
Napi::Value Trainer::Evaluate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  check_usable(env);
  std::vector<uint8_t> images, labels;
  int B;
  read_batch(info, true, &images, &labels, nullptr, &B);
  return BatchWorker::Start(
      new BatchWorker(env, this, BatchWorker::kEvaluate, std::move(images), std::move(labels), {}, B));
}

// predict(images) -> Promise<Float32Array [B]> of P(class 1)
Napi::Value Trainer::Predict(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  check_usable(env);
  std::vector<uint8_t> images;
  int B;
  read_batch(info, false, &images, nullptr, nullptr, &B);
  return BatchWorker::Start(new BatchWorker(env, this, BatchWorker::kPredict, std::move(images), {}, {}, B));
}

// computeGradients(images, labels, augment?) -> {loss, correct, gradients} (synchronous; for gradient checks):
// the gradient of the mean loss with this step's dropout masks, without an update.
Napi::Value Trainer::ComputeGradients(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  check_usable(env);
  std::vector<uint8_t> images, labels;
  std::vector<double> augment;
  int B;
  read_batch(info, true, &images, &labels, &augment, &B);
  Napi::Object r = Napi::Object::New(env);
  with([&](auto& net) {
    using T = std::remove_reference_t<decltype(*net.params())>;
    const StepResult s = guarded(env, [&] {
      return net.compute_gradients(images.data(), labels.data(), augment.empty() ? nullptr : augment.data(), B);
    });
    auto g = Napi::TypedArrayOf<T>::New(env, net.param_count());
    std::copy(net.gradients(), net.gradients() + net.param_count(), g.Data());
    r.Set("loss", s.loss_sum / B);
    r.Set("correct", s.correct);
    r.Set("gradients", g);
  });
  return r;
}

Napi::Value Trainer::GetParams(const Napi::CallbackInfo& info) {
  check_usable(info.Env());
  Napi::Value out;
  with([&](auto& net) {
    using T = std::remove_reference_t<decltype(*net.params())>;
    auto a = Napi::TypedArrayOf<T>::New(info.Env(), net.param_count());
    std::copy(net.params(), net.params() + net.param_count(), a.Data());
    out = a;
  });
  return out;
}

void Trainer::SetParams(const Napi::CallbackInfo& info) {
  check_usable(info.Env());
  with([&](auto& net) {
    using T = std::remove_reference_t<decltype(*net.params())>;
    auto a = typed<T>(info[0], "params", net.param_count());
    for (size_t i = 0; i < a.ElementLength(); i++)
      if (!std::isfinite(a[i])) throw_range(info.Env(), "params[" + std::to_string(i) + "] is not finite");
    std::copy(a.Data(), a.Data() + a.ElementLength(), net.params());
  });
}

// getState() -> {step, accumulators}: with the seed (fixed at construction) and the params, all a resumed run needs
Napi::Value Trainer::GetState(const Napi::CallbackInfo& info) {
  check_usable(info.Env());
  Napi::Object r = Napi::Object::New(info.Env());
  with([&](auto& net) {
    using T = std::remove_reference_t<decltype(*net.params())>;
    auto a = Napi::TypedArrayOf<T>::New(info.Env(), net.param_count());
    std::copy(net.accumulators(), net.accumulators() + net.param_count(), a.Data());
    r.Set("step", double(net.step()));
    r.Set("accumulators", a);
  });
  return r;
}

void Trainer::SetState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  check_usable(env);
  if (!info[0].IsObject()) throw_type(env, "state must be an object {step, accumulators}");
  Napi::Object s = info[0].As<Napi::Object>();
  const double step = number(s.Get("step"), "state.step");
  if (step < 0 || std::trunc(step) != step || step > 9007199254740991.0)
    throw_range(env, "state.step must be a non-negative safe integer");
  with([&](auto& net) {
    using T = std::remove_reference_t<decltype(*net.params())>;
    auto a = typed<T>(s.Get("accumulators"), "state.accumulators", net.param_count());
    for (size_t i = 0; i < a.ElementLength(); i++)
      if (!(a[i] >= 0) || !std::isfinite(a[i]))
        throw_range(env, "state.accumulators[" + std::to_string(i) + "] must be finite and >= 0");
    std::copy(a.Data(), a.Data() + a.ElementLength(), net.accumulators());
    net.set_step(uint64_t(step));
  });
}

// paramLayout() -> [{name, shape, offset, size}]
Napi::Value Trainer::ParamLayout(const Napi::CallbackInfo& info) {
  check_usable(info.Env());
  Napi::Array out = Napi::Array::New(info.Env());
  with([&](auto& net) {
    uint32_t i = 0;
    for (const ParamInfo& p : net.param_info()) {
      Napi::Object o = Napi::Object::New(info.Env());
      Napi::Array shape = Napi::Array::New(info.Env(), p.shape.size());
      for (uint32_t k = 0; k < p.shape.size(); k++) shape[k] = p.shape[k];
      o.Set("name", p.name);
      o.Set("shape", shape);
      o.Set("offset", double(p.offset));
      o.Set("size", double(p.size));
      out[i++] = o;
    }
  });
  return out;
}

Napi::Value Trainer::Info(const Napi::CallbackInfo& info) {
  check_usable(info.Env());
  Napi::Object r = Napi::Object::New(info.Env());
  with([&](auto& net) {
    r.Set("dtype", f32_ ? "float32" : "float64");
    r.Set("isa", isa_name(net.isa()));
    r.Set("precision", precision_name(net.precision()));
    r.Set("conv", conv_algorithm_name(net.conv_algorithm()));
    if (net.precision() == Precision::Bf16) r.Set("bf16Kernels", bf16_kernels_name(net.bf16_kernels()));
    else r.Set("bf16Kernels", info.Env().Null());
    r.Set("threads", net.threads());
    r.Set("params", double(net.param_count()));
    r.Set("seed", double(net.seed()));
  });
  return r;
}

// layerTimes(reset?: boolean) -> {layers: [{type, forward, backward}], preprocess, update} in seconds since the
// last reset, averaged over threads
Napi::Value Trainer::LayerTimesJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  check_usable(env);
  const bool reset = info.Length() > 0 && info[0].ToBoolean();
  Napi::Object r = Napi::Object::New(env);
  with([&](auto& net) {
    const LayerTimes t = net.layer_times();
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
    if (reset) net.reset_layer_times();
  });
  return r;
}

// ---------- raw kernels (for tests: fast vs reference, finite differences in double) ----------
// Each takes typed arrays of one element type (Float32Array or Float64Array) and checks every length.

template <typename T>
using Arr = Napi::TypedArrayOf<T>;

bool is_f64(const Napi::Value& v) {
  return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_float64_array;
}

template <typename T>
T* opt_data(const Napi::Value& v, const char* name, size_t need) {
  if (v.IsNull() || v.IsUndefined()) return nullptr;
  return typed<T>(v, name, need).Data();
}

template <typename T>
void conv_forward_k(const Napi::CallbackInfo& a) {
  const int N = integer(a[4], "N", 1, 1 << 16), H = integer(a[5], "H", 3, 1 << 16), W = integer(a[6], "W", 3, 1 << 16),
            Ci = integer(a[7], "Cin", 1, 4096), Co = integer(a[8], "Cout", 1, 4096);
  const size_t no = size_t(N) * (H - 2) * (W - 2) * Co, ni = size_t(N) * H * W * Ci;
  conv3x3_forward(isa_arg(a[9]), typed<T>(a[0], "out", no).Data(), typed<T>(a[1], "in", ni).Data(),
                  typed<T>(a[2], "w", size_t(9) * Ci * Co).Data(), typed<T>(a[3], "b", Co).Data(), N, H, W, Ci, Co);
}

template <typename T>
void conv_backward_input_k(const Napi::CallbackInfo& a) {
  const int N = integer(a[3], "N", 1, 1 << 16), H = integer(a[4], "H", 3, 1 << 16), W = integer(a[5], "W", 3, 1 << 16),
            Ci = integer(a[6], "Cin", 1, 4096), Co = integer(a[7], "Cout", 1, 4096);
  conv3x3_backward_input(isa_arg(a[8]), typed<T>(a[0], "din", size_t(N) * H * W * Ci).Data(),
                         typed<T>(a[1], "dout", size_t(N) * (H - 2) * (W - 2) * Co).Data(),
                         typed<T>(a[2], "w", size_t(9) * Ci * Co).Data(), N, H, W, Ci, Co);
}

template <typename T>
void conv_backward_weight_k(const Napi::CallbackInfo& a) {
  const int N = integer(a[4], "N", 1, 1 << 16), H = integer(a[5], "H", 3, 1 << 16), W = integer(a[6], "W", 3, 1 << 16),
            Ci = integer(a[7], "Cin", 1, 4096), Co = integer(a[8], "Cout", 1, 4096);
  conv3x3_backward_weight(isa_arg(a[9]), typed<T>(a[0], "dw", size_t(9) * Ci * Co).Data(), typed<T>(a[1], "db", Co).Data(),
                          typed<T>(a[2], "dout", size_t(N) * (H - 2) * (W - 2) * Co).Data(),
                          typed<T>(a[3], "in", size_t(N) * H * W * Ci).Data(), N, H, W, Ci, Co);
}

template <typename T>
void maxpool_forward_k(const Napi::CallbackInfo& a) {
  const int N = integer(a[2], "N", 1, 1 << 16), H = integer(a[3], "H", 2, 1 << 16), W = integer(a[4], "W", 2, 1 << 16),
            C = integer(a[5], "C", 1, 4096);
  maxpool2x2_forward(isa_arg(a[6]), typed<T>(a[0], "out", size_t(N) * (H / 2) * (W / 2) * C).Data(),
                     typed<T>(a[1], "in", size_t(N) * H * W * C).Data(), N, H, W, C);
}

template <typename T>
void conv_relu_forward_k(const Napi::CallbackInfo& a) {
  const int N = integer(a[4], "N", 1, 1 << 16), H = integer(a[5], "H", 3, 1 << 16), W = integer(a[6], "W", 3, 1 << 16),
            Ci = integer(a[7], "Cin", 1, 4096), Co = integer(a[8], "Cout", 1, 4096);
  const size_t no = size_t(N) * (H - 2) * (W - 2) * Co, ni = size_t(N) * H * W * Ci;
  conv3x3_relu_forward(isa_arg(a[9]), typed<T>(a[0], "out", no).Data(), typed<T>(a[1], "in", ni).Data(),
                       typed<T>(a[2], "w", size_t(9) * Ci * Co).Data(), typed<T>(a[3], "b", Co).Data(), N, H, W, Ci, Co);
}

template <typename T>
void relu_maxpool_backward_k(const Napi::CallbackInfo& a) {
  const int N = integer(a[3], "N", 1, 1 << 16), H = integer(a[4], "H", 2, 1 << 16), W = integer(a[5], "W", 2, 1 << 16),
            C = integer(a[6], "C", 1, 4096);
  const size_t ni = size_t(N) * H * W * C;
  relu_maxpool2x2_backward(isa_arg(a[7]), typed<T>(a[0], "din", ni).Data(),
                           typed<T>(a[1], "dout", size_t(N) * (H / 2) * (W / 2) * C).Data(),
                           typed<T>(a[2], "in", ni).Data(), N, H, W, C);
}

// bf16 convolutions (AVX512-BF16; a RangeError on CPUs without it): the fp32 kernels' arguments, float32 only
void require_bf16(Napi::Env env) {
  if (!cpu_has_bf16()) throw_range(env, "the bf16 kernels need a CPU with AVX512-BF16");
}

void conv_forward_bf16_k(const Napi::CallbackInfo& a) {
  require_bf16(a.Env());
  const int N = integer(a[4], "N", 1, 1 << 16), H = integer(a[5], "H", 3, 1 << 16), W = integer(a[6], "W", 3, 1 << 16),
            Ci = integer(a[7], "Cin", 1, 4096), Co = integer(a[8], "Cout", 1, 4096);
  conv3x3_forward_bf16(Isa::Avx512, typed<float>(a[0], "out", size_t(N) * (H - 2) * (W - 2) * Co).Data(),
                       typed<float>(a[1], "in", size_t(N) * H * W * Ci).Data(),
                       typed<float>(a[2], "w", size_t(9) * Ci * Co).Data(), typed<float>(a[3], "b", Co).Data(), N, H,
                       W, Ci, Co, a[9].ToBoolean().Value());
}

void conv_backward_input_bf16_k(const Napi::CallbackInfo& a) {
  require_bf16(a.Env());
  const int N = integer(a[3], "N", 1, 1 << 16), H = integer(a[4], "H", 3, 1 << 16), W = integer(a[5], "W", 3, 1 << 16),
            Ci = integer(a[6], "Cin", 1, 4096), Co = integer(a[7], "Cout", 1, 4096);
  conv3x3_backward_input_bf16(Isa::Avx512, typed<float>(a[0], "din", size_t(N) * H * W * Ci).Data(),
                              typed<float>(a[1], "dout", size_t(N) * (H - 2) * (W - 2) * Co).Data(),
                              typed<float>(a[2], "w", size_t(9) * Ci * Co).Data(), N, H, W, Ci, Co);
}

void conv_backward_weight_bf16_k(const Napi::CallbackInfo& a) {
  require_bf16(a.Env());
  const int N = integer(a[4], "N", 1, 1 << 16), H = integer(a[5], "H", 3, 1 << 16), W = integer(a[6], "W", 3, 1 << 16),
            Ci = integer(a[7], "Cin", 1, 4096), Co = integer(a[8], "Cout", 1, 4096);
  conv3x3_backward_weight_bf16(Isa::Avx512, typed<float>(a[0], "dw", size_t(9) * Ci * Co).Data(),
                               typed<float>(a[1], "db", Co).Data(),
                               typed<float>(a[2], "dout", size_t(N) * (H - 2) * (W - 2) * Co).Data(),
                               typed<float>(a[3], "in", size_t(N) * H * W * Ci).Data(), N, H, W, Ci, Co);
}

// The bf16 operand conversions (bf16_convert.h), impl 'avx512-bf16' (a RangeError on CPUs without it) or
// 'portable', so that tests hold both to one rounding
template <typename Fn>
Fn* bf16_convert_impl(const Napi::Value& v, Fn* avx512, Fn* portable) {
  const std::string k = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
  if (k == "portable") return portable;
  if (k != "avx512-bf16") throw_range(v.Env(), "impl must be 'avx512-bf16' or 'portable', got '" + k + "'");
  require_bf16(v.Env());
  return avx512;
}

// toBf16(dst: Uint16Array [n], src: Float32Array [n], impl)
void to_bf16_k(const Napi::CallbackInfo& a) {
  auto src = typed<float>(a[1], "src");
  bf16_convert_impl(a[2], avx512bf16::to_bf16, portable::to_bf16)(
      typed<uint16_t>(a[0], "dst", src.ElementLength()).Data(), src.Data(), src.ElementLength());
}

// interleaveBf16(dst: Uint32Array [n], a: Float32Array [n] | null, b: Float32Array [n] | null, impl)
void interleave_bf16_k(const Napi::CallbackInfo& a) {
  auto dst = typed<uint32_t>(a[0], "dst");
  const size_t n = dst.ElementLength();
  const float* x = a[1].IsNull() ? nullptr : typed<float>(a[1], "a", n).Data();
  const float* y = a[2].IsNull() ? nullptr : typed<float>(a[2], "b", n).Data();
  bf16_convert_impl(a[3], avx512bf16::interleave_bf16, portable::interleave_bf16)(dst.Data(), x, y, n);
}

// routePairsBf16(top: Uint32Array [n], bottom: Uint32Array [n], d: Float32Array [n], code: Uint8Array [n], impl)
void route_pairs_bf16_k(const Napi::CallbackInfo& a) {
  auto top = typed<uint32_t>(a[0], "top");
  const size_t n = top.ElementLength();
  bf16_convert_impl(a[4], avx512bf16::route_pairs_bf16, portable::route_pairs_bf16)(
      top.Data(), typed<uint32_t>(a[1], "bottom", n).Data(), typed<float>(a[2], "d", n).Data(),
      typed<uint8_t>(a[3], "code", n).Data(), n);
}

// pairPixelsBf16(dst: Uint32Array [pairs * C], src: Float32Array [2 * pairs * C], pairs, C, impl)
void pair_pixels_bf16_k(const Napi::CallbackInfo& a) {
  const int pairs = integer(a[2], "pairs", 0, 1 << 24), C = integer(a[3], "C", 1, 4096);
  bf16_convert_impl(a[4], avx512bf16::pair_pixels_bf16, portable::pair_pixels_bf16)(
      typed<uint32_t>(a[0], "dst", size_t(pairs) * C).Data(), typed<float>(a[1], "src", size_t(2) * pairs * C).Data(),
      size_t(pairs), C);
}

// transposeToBf16(dst: Uint16Array [C * dstStride], dstStride, src: Float32Array [pixels * C], pixels, C, impl)
void transpose_to_bf16_k(const Napi::CallbackInfo& a) {
  const int pixels = integer(a[3], "pixels", 0, 1 << 24), C = integer(a[4], "C", 1, 4096);
  const int stride = integer(a[1], "dstStride", pixels, 1 << 24);
  bf16_convert_impl(a[5], avx512bf16::transpose_to_bf16, portable::transpose_to_bf16)(
      typed<uint16_t>(a[0], "dst", size_t(C) * stride).Data(), size_t(stride),
      typed<float>(a[2], "src", size_t(pixels) * C).Data(), size_t(pixels), C);
}

void transpose_bf16_k(const Napi::CallbackInfo& a) {
  const int pixels = integer(a[3], "pixels", 0, 1 << 24), C = integer(a[4], "C", 1, 4096);
  const int stride = integer(a[1], "dstStride", pixels, 1 << 24);
  bf16_convert_impl(a[5], avx512bf16::transpose_bf16, portable::transpose_bf16)(
      typed<uint16_t>(a[0], "dst", size_t(C) * stride).Data(), size_t(stride),
      typed<uint16_t>(a[2], "src", size_t(pixels) * C).Data(), size_t(pixels), C);
}

// AMX bf16 convolutions (float32 only): the fp32 kernels' arguments plus kernels 'amx' (a RangeError where
// amx_usable() is false) or 'amx-emulated' (any CPU); a RangeError for shapes they do not take (conv_amx.h)
bool amx_real(const Napi::CallbackInfo& a, const Napi::Value& v, bool fits) {
  const std::string k = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
  if (k != "amx" && k != "amx-emulated") throw_range(a.Env(), "kernels must be 'amx' or 'amx-emulated', got '" + k + "'");
  if (k == "amx" && !amx_usable()) throw_range(a.Env(), "this CPU has no AMX-BF16 or the kernel refused the tile state");
  if (!fits)
    throw_range(a.Env(), "the AMX kernels need Cin and Cout multiples of 32 (the first block's forward and the weight "
                         "gradient also take Cin <= 3 with Cout a multiple of 32)");
  return k == "amx";
}

void conv_forward_amx_k(const Napi::CallbackInfo& a) {
  const int N = integer(a[4], "N", 1, 1 << 16), H = integer(a[5], "H", 3, 1 << 16), W = integer(a[6], "W", 3, 1 << 16),
            Ci = integer(a[7], "Cin", 1, 4096), Co = integer(a[8], "Cout", 1, 4096);
  const bool real = amx_real(a, a[10], amx_fits(Ci, Co));
  std::vector<uint32_t> wp(avx512bf16::packed_kernel_size(Ci, Co));
  avx512bf16::pack_kernel(wp.data(), typed<float>(a[2], "w", size_t(9) * Ci * Co).Data(), Ci, Co);
  auto fn = real ? amx::conv3x3_forward_packed : amx_emulated::conv3x3_forward_packed;
  require_scratch(fn(typed<float>(a[0], "out", size_t(N) * (H - 2) * (W - 2) * Co).Data(),
                     typed<float>(a[1], "in", size_t(N) * H * W * Ci).Data(), wp.data(),
                     typed<float>(a[3], "b", Co).Data(), N, H, W, Ci, Co, a[9].ToBoolean().Value()));
}

// (out, code, in, w, b, N, H, W, Cin, Cout, kernels[, out16[, in16]]): a conv block (conv -> ReLU -> max-pool)
// with its convolution on tiles, as conv3x3ReluMaxpoolForward: the first (amx_fits_narrow) or a later one
// (amx_fits); out16 gets out in bf16, and a later block reads its input from in16 (conv_amx.h) where given
void conv_relu_maxpool_forward_amx_k(const Napi::CallbackInfo& a) {
  const int N = integer(a[5], "N", 1, 1 << 16), H = integer(a[6], "H", 4, 1 << 16), W = integer(a[7], "W", 4, 1 << 16),
            Ci = integer(a[8], "Cin", 1, 4096), Co = integer(a[9], "Cout", 1, 4096);
  const bool narrow = amx_fits_narrow(Ci, Co), real = amx_real(a, a[10], narrow || amx_fits(Ci, Co));
  const size_t npool = size_t(N) * ((H - 2) / 2) * ((W - 2) / 2) * Co, nin = size_t(H) * W * Ci;
  float* out = typed<float>(a[0], "out", npool).Data();
  uint8_t* code = typed<uint8_t>(a[1], "code", npool).Data();
  const float* in = typed<float>(a[2], "in", N * nin).Data();
  const float* w = typed<float>(a[3], "w", size_t(9) * Ci * Co).Data();
  const float* b = typed<float>(a[4], "b", Co).Data();
  uint16_t* out16 = opt_data<uint16_t>(a[11], "out16", npool);
  const uint16_t* in16 = opt_data<uint16_t>(a[12], "in16", amx_block_input_size(N * H, W, Ci));
  if (narrow && in16) throw_range(a.Env(), "in16 is for a later block (Cin a multiple of 32): the first converts its image");
  std::vector<uint32_t> wp(narrow ? amx_narrow_kernel_size(Co) : avx512bf16::packed_kernel_size(Ci, Co));
  if (narrow) {
    amx_pack_kernel_narrow(wp.data(), w, Ci, Co);
    auto fn = real ? amx::conv3x3_relu_maxpool_forward_narrow_packed
                   : amx_emulated::conv3x3_relu_maxpool_forward_narrow_packed;
    return require_scratch(fn(out, out16, code, in, wp.data(), b, N, H, W, Ci, Co));
  }
  avx512bf16::pack_kernel(wp.data(), w, Ci, Co);
  auto fn = real ? amx::conv3x3_relu_maxpool_forward_packed : amx_emulated::conv3x3_relu_maxpool_forward_packed;
  require_scratch(fn(out, out16, code, in, in16, wp.data(), b, N, H, W, Ci, Co));
}

void conv_backward_input_amx_k(const Napi::CallbackInfo& a) {
  const int N = integer(a[3], "N", 1, 1 << 16), H = integer(a[4], "H", 3, 1 << 16), W = integer(a[5], "W", 3, 1 << 16),
            Ci = integer(a[6], "Cin", 1, 4096), Co = integer(a[7], "Cout", 1, 4096);
  const bool real = amx_real(a, a[8], amx_fits(Ci, Co));
  std::vector<uint32_t> wp(avx512bf16::packed_kernel_size(Co, Ci));
  avx512bf16::pack_kernel_for_input_gradient(wp.data(), typed<float>(a[2], "w", size_t(9) * Ci * Co).Data(), Ci, Co);
  auto fn = real ? amx::conv3x3_backward_input_packed : amx_emulated::conv3x3_backward_input_packed;
  require_scratch(fn(typed<float>(a[0], "din", size_t(N) * H * W * Ci).Data(),
                     typed<float>(a[1], "dout", size_t(N) * (H - 2) * (W - 2) * Co).Data(), wp.data(), N, H, W, Ci, Co));
}

void conv_backward_weight_amx_k(const Napi::CallbackInfo& a) {
  const int N = integer(a[4], "N", 1, 1 << 16), H = integer(a[5], "H", 3, 1 << 16), W = integer(a[6], "W", 3, 1 << 16),
            Ci = integer(a[7], "Cin", 1, 4096), Co = integer(a[8], "Cout", 1, 4096);
  const bool narrow = amx_fits_narrow(Ci, Co), real = amx_real(a, a[9], narrow || amx_fits(Ci, Co));
  auto fn = narrow ? (real ? amx::conv3x3_backward_weight_narrow : amx_emulated::conv3x3_backward_weight_narrow)
                   : (real ? amx::conv3x3_backward_weight : amx_emulated::conv3x3_backward_weight);
  require_scratch(fn(typed<float>(a[0], "dw", size_t(9) * Ci * Co).Data(), typed<float>(a[1], "db", Co).Data(),
                     typed<float>(a[2], "dout", size_t(N) * (H - 2) * (W - 2) * Co).Data(),
                     typed<float>(a[3], "in", size_t(N) * H * W * Ci).Data(), N, H, W, Ci, Co));
}

// (dw, db, dpool, code, in, N, H, W, Cin, Cout, kernels): the first conv block's weight gradient on tiles
// (amx_fits_narrow), as reluMaxpoolConv3x3BackwardWeight
void relu_maxpool_conv_backward_weight_amx_k(const Napi::CallbackInfo& a) {
  const int N = integer(a[5], "N", 1, 1 << 16), H = integer(a[6], "H", 4, 1 << 16), W = integer(a[7], "W", 4, 1 << 16),
            Ci = integer(a[8], "Cin", 1, 4096), Co = integer(a[9], "Cout", 1, 4096);
  const bool real = amx_real(a, a[10], amx_fits_narrow(Ci, Co));
  const size_t npool = size_t(N) * ((H - 2) / 2) * ((W - 2) / 2) * Co;
  auto fn = real ? amx::relu_maxpool_conv3x3_backward_weight_narrow
                 : amx_emulated::relu_maxpool_conv3x3_backward_weight_narrow;
  require_scratch(fn(typed<float>(a[0], "dw", size_t(9) * Ci * Co).Data(), typed<float>(a[1], "db", Co).Data(),
                     typed<float>(a[2], "dpool", npool).Data(), typed<uint8_t>(a[3], "code", npool).Data(),
                     typed<float>(a[4], "in", size_t(N) * H * W * Ci).Data(), N, H, W, Ci, Co));
}

// (din | null, dw, db, dpool, code, in, w, N, H, W, Cin, Cout, kernels[, in16]): a conv -> ReLU -> max-pool
// block's backward on tiles from the pool's gradient and code (amx_fits), the raw kernel w packed as the network
// does; in16 (conv_amx.h) is the input in bf16, read instead of converting in
void relu_maxpool_conv_backward_amx_k(const Napi::CallbackInfo& a) {
  const int N = integer(a[7], "N", 1, 1 << 16), H = integer(a[8], "H", 4, 1 << 16), W = integer(a[9], "W", 4, 1 << 16),
            Ci = integer(a[10], "Cin", 1, 4096), Co = integer(a[11], "Cout", 1, 4096);
  const bool real = amx_real(a, a[12], amx_fits(Ci, Co));
  const size_t npool = size_t(N) * ((H - 2) / 2) * ((W - 2) / 2) * Co;
  float* din = a[0].IsNull() ? nullptr : typed<float>(a[0], "din", size_t(N) * H * W * Ci).Data();
  std::vector<uint32_t> wp(avx512bf16::packed_kernel_size(Co, Ci));
  avx512bf16::pack_kernel_for_input_gradient(wp.data(), typed<float>(a[6], "w", size_t(9) * Ci * Co).Data(), Ci, Co);
  auto fn = real ? amx::relu_maxpool_conv3x3_backward_packed : amx_emulated::relu_maxpool_conv3x3_backward_packed;
  const uint16_t* in16 = opt_data<uint16_t>(a[13], "in16", amx_block_input_size(N * H, W, Ci));
  require_scratch(fn(din, typed<float>(a[1], "dw", size_t(9) * Ci * Co).Data(), typed<float>(a[2], "db", Co).Data(),
                     typed<float>(a[3], "dpool", npool).Data(), typed<uint8_t>(a[4], "code", npool).Data(),
                     typed<float>(a[5], "in", size_t(N) * H * W * Ci).Data(), in16, wp.data(), N, H, W, Ci, Co));
}

// Winograd convolutions (float32 only; a RangeError where winograd_fits says no): the fp32 kernels' arguments
// with the raw kernel w, which the binding transforms as the network does once per step
Isa require_winograd(const Napi::CallbackInfo& a, const Napi::Value& isa_v, int H, int W, int Ci, int Co) {
  const Isa isa = isa_arg(isa_v);
  if (!winograd_fits(isa, H, W, Ci, Co))
    throw_range(a.Env(), "the Winograd kernels need an avx2 or avx512 tier and channel counts that are multiples of its "
                         "vector; got " + std::string(isa_name(isa)) + ", Cin=" + std::to_string(Ci) + " Cout=" + std::to_string(Co));
  return isa;
}

void conv_forward_winograd_k(const Napi::CallbackInfo& a) {
  const int N = integer(a[4], "N", 1, 1 << 16), H = integer(a[5], "H", 3, 1 << 16), W = integer(a[6], "W", 3, 1 << 16),
            Ci = integer(a[7], "Cin", 1, 4096), Co = integer(a[8], "Cout", 1, 4096);
  const Isa isa = require_winograd(a, a[10], H, W, Ci, Co);
  std::vector<float> v(size_t(16) * Ci * Co);
  winograd_kernel_transform(v.data(), typed<float>(a[2], "w", size_t(9) * Ci * Co).Data(), Ci, Co);
  conv3x3_forward_winograd(isa, typed<float>(a[0], "out", size_t(N) * (H - 2) * (W - 2) * Co).Data(),
                           typed<float>(a[1], "in", size_t(N) * H * W * Ci).Data(), v.data(),
                           typed<float>(a[3], "b", Co).Data(), N, H, W, Ci, Co, a[9].ToBoolean().Value());
}

void conv_backward_input_winograd_k(const Napi::CallbackInfo& a) {
  const int N = integer(a[3], "N", 1, 1 << 16), H = integer(a[4], "H", 3, 1 << 16), W = integer(a[5], "W", 3, 1 << 16),
            Ci = integer(a[6], "Cin", 1, 4096), Co = integer(a[7], "Cout", 1, 4096);
  const Isa isa = require_winograd(a, a[8], H, W, Ci, Co);
  std::vector<float> flipped(size_t(9) * Ci * Co), v(size_t(16) * Ci * Co);
  flip_kernel_for_input_gradient(flipped.data(), typed<float>(a[2], "w", size_t(9) * Ci * Co).Data(), Ci, Co);
  winograd_kernel_transform(v.data(), flipped.data(), Co, Ci);
  conv3x3_backward_input_winograd(isa, typed<float>(a[0], "din", size_t(N) * H * W * Ci).Data(),
                                  typed<float>(a[1], "dout", size_t(N) * (H - 2) * (W - 2) * Co).Data(), v.data(), N,
                                  H, W, Ci, Co);
}

void conv_backward_weight_winograd_k(const Napi::CallbackInfo& a) {
  const int N = integer(a[4], "N", 1, 1 << 16), H = integer(a[5], "H", 3, 1 << 16), W = integer(a[6], "W", 3, 1 << 16),
            Ci = integer(a[7], "Cin", 1, 4096), Co = integer(a[8], "Cout", 1, 4096);
  const Isa isa = require_winograd(a, a[9], H, W, Ci, Co);
  conv3x3_backward_weight_winograd(isa, typed<float>(a[0], "dw", size_t(9) * Ci * Co).Data(),
                                   typed<float>(a[1], "db", Co).Data(),
                                   typed<float>(a[2], "dout", size_t(N) * (H - 2) * (W - 2) * Co).Data(),
                                   typed<float>(a[3], "in", size_t(N) * H * W * Ci).Data(), N, H, W, Ci, Co);
}

// (dw, db, dpool, act, in, N, H, W, Cin, Cout, isa?): H, W are the conv's input size
template <typename T>
void relu_maxpool_conv_backward_weight_k(const Napi::CallbackInfo& a) {
  const int N = integer(a[5], "N", 1, 1 << 16), H = integer(a[6], "H", 4, 1 << 16), W = integer(a[7], "W", 4, 1 << 16),
            Ci = integer(a[8], "Cin", 1, 4096), Co = integer(a[9], "Cout", 1, 4096);
  const size_t npool = size_t(N) * ((H - 2) / 2) * ((W - 2) / 2) * Co;
  relu_maxpool_conv3x3_backward_weight(isa_arg(a[10]), Precision::Fp32, Bf16Kernels::Avx512Bf16,
                                       typed<T>(a[0], "dw", size_t(9) * Ci * Co).Data(),
                                       typed<T>(a[1], "db", Co).Data(), typed<T>(a[2], "dpool", npool).Data(),
                                       typed<uint8_t>(a[3], "code", npool).Data(),
                                       typed<T>(a[4], "in", size_t(N) * H * W * Ci).Data(), N, H, W, Ci, Co);
}

// (out, code, in, w, b, N, H, W, Cin, Cout, isa?): H, W are the conv's input size; out and code [N, (H-2)/2,
// (W-2)/2, Cout]
template <typename T>
void conv_relu_maxpool_forward_k(const Napi::CallbackInfo& a) {
  const int N = integer(a[5], "N", 1, 1 << 16), H = integer(a[6], "H", 4, 1 << 16), W = integer(a[7], "W", 4, 1 << 16),
            Ci = integer(a[8], "Cin", 1, 4096), Co = integer(a[9], "Cout", 1, 4096);
  const size_t npool = size_t(N) * ((H - 2) / 2) * ((W - 2) / 2) * Co;
  conv3x3_relu_maxpool_forward(isa_arg(a[10]), typed<T>(a[0], "out", npool).Data(),
                               typed<uint8_t>(a[1], "code", npool).Data(),
                               typed<T>(a[2], "in", size_t(N) * H * W * Ci).Data(),
                               typed<T>(a[3], "w", size_t(9) * Ci * Co).Data(), typed<T>(a[4], "b", Co).Data(), N, H, W,
                               Ci, Co);
}

// (din, dout, code, N, H, W, C, isa?)
template <typename T>
void maxpool_backward_code_k(const Napi::CallbackInfo& a) {
  const int N = integer(a[3], "N", 1, 1 << 16), H = integer(a[4], "H", 2, 1 << 16), W = integer(a[5], "W", 2, 1 << 16),
            C = integer(a[6], "C", 1, 4096);
  const size_t npool = size_t(N) * (H / 2) * (W / 2) * C;
  maxpool2x2_backward_code(isa_arg(a[7]), typed<T>(a[0], "din", size_t(N) * H * W * C).Data(),
                           typed<T>(a[1], "dout", npool).Data(), typed<uint8_t>(a[2], "code", npool).Data(), N, H, W, C);
}

template <typename T>
void maxpool_backward_k(const Napi::CallbackInfo& a) {
  const int N = integer(a[3], "N", 1, 1 << 16), H = integer(a[4], "H", 2, 1 << 16), W = integer(a[5], "W", 2, 1 << 16),
            C = integer(a[6], "C", 1, 4096);
  const size_t ni = size_t(N) * H * W * C;
  ref::maxpool2x2_backward(typed<T>(a[0], "din", ni).Data(), typed<T>(a[1], "dout", size_t(N) * (H / 2) * (W / 2) * C).Data(),
                           typed<T>(a[2], "in", ni).Data(), N, H, W, C);
}

template <typename T>
void relu_forward_k(const Napi::CallbackInfo& a) {
  auto in = typed<T>(a[1], "in");
  ref::relu_forward(typed<T>(a[0], "out", in.ElementLength()).Data(), in.Data(), in.ElementLength());
}

template <typename T>
void relu_backward_k(const Napi::CallbackInfo& a) {
  auto out = typed<T>(a[2], "out");
  const size_t n = out.ElementLength();
  ref::relu_backward(typed<T>(a[0], "din", n).Data(), typed<T>(a[1], "dout", n).Data(), out.Data(), n);
}

template <typename T>
void dense_forward_k(const Napi::CallbackInfo& a) {
  const int N = integer(a[4], "N", 1, 1 << 20), I = integer(a[5], "I", 1, 1 << 20), O = integer(a[6], "O", 1, 1 << 20);
  ref::dense_forward(typed<T>(a[0], "out", size_t(N) * O).Data(), typed<T>(a[1], "in", size_t(N) * I).Data(),
                     typed<T>(a[2], "w", size_t(I) * O).Data(), typed<T>(a[3], "b", O).Data(), N, I, O);
}

template <typename T>
void dense_backward_k(const Napi::CallbackInfo& a) {
  const int N = integer(a[6], "N", 1, 1 << 20), I = integer(a[7], "I", 1, 1 << 20), O = integer(a[8], "O", 1, 1 << 20);
  ref::dense_backward(opt_data<T>(a[0], "din", size_t(N) * I), typed<T>(a[1], "dw", size_t(I) * O).Data(),
                      typed<T>(a[2], "db", O).Data(), typed<T>(a[3], "dout", size_t(N) * O).Data(),
                      typed<T>(a[4], "in", size_t(N) * I).Data(), typed<T>(a[5], "w", size_t(I) * O).Data(), N, I, O);
}

template <typename T>
void dropout_mask_k(const Napi::CallbackInfo& a) {
  auto mask = typed<T>(a[0], "mask");
  const double rate = number(a[1], "rate");
  if (!(rate >= 0 && rate < 1)) throw_range(a.Env(), "rate must be in [0, 1)");
  dropout_mask(mask.Data(), mask.ElementLength(), rate, uint64_t(integer(a[2], "seed", 0, INT32_MAX)),
               uint64_t(integer(a[3], "key", 0, INT32_MAX)));
}

template <typename T>
Napi::Value sigmoid_bce_k(const Napi::CallbackInfo& a) {
  auto logit = typed<T>(a[1], "logit");
  const size_t n = logit.ElementLength();
  const T s = ref::sigmoid_bce(opt_data<T>(a[0], "dlogit", n), logit.Data(), typed<T>(a[2], "label", n).Data(), int(n),
                               T(number(a[3], "scale")));
  return Napi::Number::New(a.Env(), double(s));
}

template <typename T>
void rmsprop_k(const Napi::CallbackInfo& a) {
  auto p = typed<T>(a[0], "param");
  const size_t n = p.ElementLength();
  ref::rmsprop_update(p.Data(), typed<T>(a[1], "accum", n).Data(), typed<T>(a[2], "grad", n).Data(), n,
                      number(a[3], "lr"), number(a[4], "rho"), number(a[5], "epsilon"));
}

template <typename T>
void augment_k(const Napi::CallbackInfo& a) {
  const int H = integer(a[6], "H", 1, 1 << 16), W = integer(a[7], "W", 1, 1 << 16), C = integer(a[8], "C", 1, 4096);
  const size_t n = size_t(H) * W * C;
  // isa 'scalar' runs the reference; any other the version the network uses for that tier (same results, faster)
  const Isa isa = isa_arg(a[10]);
  T* out = typed<T>(a[0], "out", n).Data();
  const uint8_t* in = typed<uint8_t>(a[1], "in", n).Data();
  const double shear = number(a[2], "shear"), zx = number(a[3], "zx"), zy = number(a[4], "zy");
  const bool flip = a[5].ToBoolean().Value();
  const T scale = T(number(a[9], "scale"));
  if (isa == Isa::Scalar) ref::augment_warp(out, in, shear, zx, zy, flip, H, W, C, scale);
  else augment_warp_fast(isa, out, in, shear, zx, zy, flip, H, W, C, scale);
}

// Binds `name` to the float or double instantiation, chosen by the type of the argument at `probe`; the kernels'
// C++ exceptions (scratch memory refused, a shape no kernel takes) become JS ones.
template <void (*F32)(const Napi::CallbackInfo&), void (*F64)(const Napi::CallbackInfo&)>
Napi::Value by_dtype(const Napi::CallbackInfo& a) {
  guarded(a.Env(), [&] {
    if (is_f64(a[0]) || is_f64(a[1])) F64(a);
    else F32(a);
  });
  return a.Env().Undefined();
}

template <Napi::Value (*F32)(const Napi::CallbackInfo&), Napi::Value (*F64)(const Napi::CallbackInfo&)>
Napi::Value by_dtype_value(const Napi::CallbackInfo& a) {
  return guarded(a.Env(), [&] { return (is_f64(a[0]) || is_f64(a[1])) ? F64(a) : F32(a); });
}

Napi::Object Kernels(Napi::Env env) {
  Napi::Object k = Napi::Object::New(env);
#define ENGINE_KERNEL(js, fn) k.Set(js, Napi::Function::New(env, by_dtype<fn<float>, fn<double>>, js))
  ENGINE_KERNEL("conv3x3Forward", conv_forward_k);
  ENGINE_KERNEL("conv3x3BackwardInput", conv_backward_input_k);
  ENGINE_KERNEL("conv3x3BackwardWeight", conv_backward_weight_k);
  ENGINE_KERNEL("maxpool2x2Forward", maxpool_forward_k);
  ENGINE_KERNEL("maxpool2x2Backward", maxpool_backward_k);
  ENGINE_KERNEL("conv3x3ReluForward", conv_relu_forward_k);
  ENGINE_KERNEL("reluMaxpool2x2Backward", relu_maxpool_backward_k);
  ENGINE_KERNEL("reluMaxpoolConv3x3BackwardWeight", relu_maxpool_conv_backward_weight_k);
  ENGINE_KERNEL("conv3x3ReluMaxpoolForward", conv_relu_maxpool_forward_k);
  ENGINE_KERNEL("maxpool2x2BackwardCode", maxpool_backward_code_k);
  ENGINE_KERNEL("reluForward", relu_forward_k);
  ENGINE_KERNEL("reluBackward", relu_backward_k);
  ENGINE_KERNEL("denseForward", dense_forward_k);
  ENGINE_KERNEL("denseBackward", dense_backward_k);
  ENGINE_KERNEL("dropoutMask", dropout_mask_k);
  ENGINE_KERNEL("rmspropUpdate", rmsprop_k);
  ENGINE_KERNEL("augmentWarp", augment_k);
#undef ENGINE_KERNEL
  for (auto [js, fn] : {std::pair{"conv3x3ForwardBf16", conv_forward_bf16_k},
                        std::pair{"conv3x3BackwardInputBf16", conv_backward_input_bf16_k},
                        std::pair{"conv3x3BackwardWeightBf16", conv_backward_weight_bf16_k},
                        std::pair{"conv3x3ForwardWinograd", conv_forward_winograd_k},
                        std::pair{"conv3x3BackwardInputWinograd", conv_backward_input_winograd_k},
                        std::pair{"conv3x3BackwardWeightWinograd", conv_backward_weight_winograd_k},
                        std::pair{"conv3x3ForwardAmx", conv_forward_amx_k},
                        std::pair{"conv3x3BackwardInputAmx", conv_backward_input_amx_k},
                        std::pair{"conv3x3ReluMaxpoolForwardAmx", conv_relu_maxpool_forward_amx_k},
                        std::pair{"conv3x3BackwardWeightAmx", conv_backward_weight_amx_k},
                        std::pair{"reluMaxpoolConv3x3BackwardWeightAmx", relu_maxpool_conv_backward_weight_amx_k},
                        std::pair{"reluMaxpoolConv3x3BackwardAmx", relu_maxpool_conv_backward_amx_k},
                        std::pair{"toBf16", to_bf16_k},
                        std::pair{"interleaveBf16", interleave_bf16_k},
                        std::pair{"pairPixelsBf16", pair_pixels_bf16_k},
                        std::pair{"routePairsBf16", route_pairs_bf16_k},
                        std::pair{"transposeToBf16", transpose_to_bf16_k},
                        std::pair{"transposeBf16", transpose_bf16_k}})
    k.Set(js, Napi::Function::New(env, [fn = fn](const Napi::CallbackInfo& a) -> Napi::Value {
      guarded(a.Env(), [&] { fn(a); });
      return a.Env().Undefined();
    }, js));
  k.Set("sigmoidBce", Napi::Function::New(env, by_dtype_value<sigmoid_bce_k<float>, sigmoid_bce_k<double>>, "sigmoidBce"));
  return k;
}

// measurePeak(kind: 'fp32' | 'bf16', threads, seconds) -> Promise<GFLOP/s>, for the benchmark
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

Napi::Value MeasurePeak(const Napi::CallbackInfo& info) {
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

Napi::Value BuildInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object r = Napi::Object::New(env);
  r.Set("isa", isa_name(detect_isa()));
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

#if !ENGINE_CUDA
Napi::Value CudaDevicesUnavailable(const Napi::CallbackInfo& info) {
  Napi::Object r = Napi::Object::New(info.Env());
  r.Set("devices", Napi::Array::New(info.Env()));
  r.Set("reason", "the addon was built without CUDA (no nvcc found at build time, or ENGINE_CUDA=OFF)");
  return r;
}
#endif

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Trainer", Trainer::Define(env));
  exports.Set("kernels", Kernels(env));
  exports.Set("buildInfo", Napi::Function::New(env, BuildInfo, "buildInfo"));
  exports.Set("measurePeak", Napi::Function::New(env, MeasurePeak, "measurePeak"));
  register_cuda_emulation(env, exports);  // cudaKernelsEmulated: the CUDA kernels on a CPU emulator, for tests
#if ENGINE_CUDA
  register_cuda(env, exports);  // GpuTrainer, cudaKernels, cudaDevices (native/cuda/addon_cuda.cpp)
#else
  exports.Set("cudaDevices", Napi::Function::New(env, CudaDevicesUnavailable, "cudaDevices"));
#endif
  return exports;
}

}  // namespace
}  // namespace engine

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return engine::Init(env, exports); }

NODE_API_MODULE(engine_addon, InitAddon)
