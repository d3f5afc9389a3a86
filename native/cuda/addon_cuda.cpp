// Node-API surface of the CUDA backend (compiled only when the addon is built with CUDA):
//   GpuTrainer   the CPU Trainer's surface on a CUDA device, plus uploadImages/trainStepIndexed (data on the device)
//   cudaKernels  each launcher of kernels_cuda.h on host arrays (copy in, run, copy out), for tests against the
//                CPU `kernels` binding
//   cudaDevices  the visible devices, or why there are none
// CUDA and spec errors become JS exceptions (CudaError messages carry file, line and a hint); nothing here exits.
#include <napi.h>

#include <cuda_runtime.h>

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

using cuda::CudaError;
using cuda::GpuNetwork;

// Runs fn, turning C++ exceptions into JS ones (node-addon-api rethrows only Napi::Error by itself).
template <typename F>
auto guarded(Napi::Env env, F&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (const SpecError& e) {
    throw Napi::RangeError::New(env, e.what());
  } catch (const std::bad_alloc&) {
    throw Napi::Error::New(env, "out of host memory in the CUDA backend");
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

// ---------- GpuTrainer ----------

class GpuTrainer : public Napi::ObjectWrap<GpuTrainer> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "GpuTrainer",
                       {InstanceMethod("trainStep", &GpuTrainer::TrainStep),
                        InstanceMethod("uploadImages", &GpuTrainer::UploadImages),
                        InstanceMethod("trainStepIndexed", &GpuTrainer::TrainStepIndexed),
                        InstanceMethod("evaluate", &GpuTrainer::Evaluate),
                        InstanceMethod("predict", &GpuTrainer::Predict),
                        InstanceMethod("computeGradients", &GpuTrainer::ComputeGradients),
                        InstanceMethod("getParams", &GpuTrainer::GetParams),
                        InstanceMethod("setParams", &GpuTrainer::SetParams),
                        InstanceMethod("getState", &GpuTrainer::GetState),
                        InstanceMethod("setState", &GpuTrainer::SetState),
                        InstanceMethod("paramLayout", &GpuTrainer::ParamLayout),
                        InstanceMethod("info", &GpuTrainer::Info),
                        InstanceMethod("dispose", &GpuTrainer::Dispose)});
  }

  // new GpuTrainer({spec, seed, device = 0})
  explicit GpuTrainer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<GpuTrainer>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsObject()) throw_type(env, "options must be an object {spec, seed, device}");
    Napi::Object o = info[0].As<Napi::Object>();
    const NetSpec spec = parse_spec(o.Get("spec"));
    const double seed = o.Get("seed").IsUndefined() ? 0 : number(o.Get("seed"), "seed");
    if (seed < 0 || seed > 9007199254740991.0 || std::trunc(seed) != seed)
      throw_range(env, "seed must be a non-negative safe integer");
    const int device = o.Get("device").IsUndefined() ? 0 : integer(o.Get("device"), "device", 0, 1024);
    guarded(env, [&] {
      try {
        net_ = std::make_unique<GpuNetwork>(spec, uint64_t(seed), device);
      } catch (const SpecError& e) {
        throw Napi::RangeError::New(env, std::string("spec: ") + e.what());
      }
    });
  }

  bool busy_ = false;

 private:
  // A native call off the JS thread: `work` runs on a worker thread, `done` builds the result on the JS thread.
  class Worker : public Napi::AsyncWorker {
   public:
    Worker(Napi::Env env, GpuTrainer* t, std::function<void()> work, std::function<Napi::Value(Napi::Env)> done)
        : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), trainer_(t), work_(std::move(work)),
          done_(std::move(done)) {
      self_ = Napi::Persistent(t->Value());
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
        SetError("out of host memory in the CUDA backend");
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
    GpuTrainer* trainer_;
    std::function<void()> work_;
    std::function<Napi::Value(Napi::Env)> done_;
  };

  struct Batch {
    std::vector<uint8_t> images, labels;
    std::vector<double> augment;
    std::vector<int32_t> indices;
    int B = 0;
    double lr = 0, rho = 0, eps = 0;
    StepResult result;
    std::vector<float> logits;
    const double* aug() const { return augment.empty() ? nullptr : augment.data(); }
  };

  GpuNetwork& net(Napi::Env env) {
    if (!net_) throw Napi::Error::New(env, "GpuTrainer has been disposed");
    if (busy_) throw Napi::Error::New(env, "GpuTrainer is busy: await the pending call first");
    return *net_;
  }

  void read_images(const Napi::CallbackInfo& info, Batch* b) {
    const size_t isz = net_->image_size();
    auto img = typed<uint8_t>(info[0], "images");
    if (img.ElementLength() == 0 || img.ElementLength() % isz != 0)
      throw_range(info.Env(), "images must hold a whole number (>= 1) of " + std::to_string(isz) +
                                  "-byte images (H*W*C uint8), got " + std::to_string(img.ElementLength()) + " bytes");
    b->B = int(img.ElementLength() / isz);
    b->images.assign(img.Data(), img.Data() + img.ElementLength());
  }
  static void read_labels(const Napi::Value& v, size_t n, std::vector<uint8_t>* out) {
    auto lab = typed<uint8_t>(v, "labels", n);
    for (size_t i = 0; i < n; i++)
      if (lab[i] > 1) throw_range(v.Env(), "labels[" + std::to_string(i) + "] must be 0 or 1, got " + std::to_string(lab[i]));
    out->assign(lab.Data(), lab.Data() + n);
  }
  static void read_augment(const Napi::Value& v, int B, std::vector<double>* out) {
    if (v.IsUndefined() || v.IsNull()) return;
    auto aug = typed<double>(v, "augment", 4 * size_t(B));
    out->assign(aug.Data(), aug.Data() + aug.ElementLength());
  }
  static void read_optimizer(const Napi::Value& v, Batch* b) {
    Napi::Env env = v.Env();
    if (!v.IsObject()) throw_type(env, "optimizer must be an object {lr, rho, epsilon}");
    Napi::Object opt = v.As<Napi::Object>();
    b->lr = number(opt.Get("lr"), "lr");
    b->rho = number(opt.Get("rho"), "rho");
    b->eps = number(opt.Get("epsilon"), "epsilon");
    if (!(b->lr > 0)) throw_range(env, "lr must be > 0");
    if (!(b->rho >= 0 && b->rho < 1)) throw_range(env, "rho must be in [0, 1)");
    if (!(b->eps >= 0)) throw_range(env, "epsilon must be >= 0");
  }

  static Napi::Value step_result(Napi::Env env, const Batch& b) {
    Napi::Object r = Napi::Object::New(env);
    r.Set("loss", b.result.loss_sum / b.B);
    r.Set("correct", b.result.correct);
    return r;
  }

  // trainStep(images u8 [B*H*W*C], labels u8 [B], augment f64 [B*4] | null, {lr, rho, epsilon}) -> Promise<{loss, correct}>
  Napi::Value TrainStep(const Napi::CallbackInfo& info) {
    GpuNetwork& n = net(info.Env());
    auto b = std::make_shared<Batch>();
    read_images(info, b.get());
    read_labels(info[1], size_t(b->B), &b->labels);
    read_augment(info[2], b->B, &b->augment);
    read_optimizer(info[3], b.get());
    return Worker::Start(new Worker(
        info.Env(), this,
        [&n, b] { b->result = n.train_step(b->images.data(), b->labels.data(), b->aug(), b->B, b->lr, b->rho, b->eps); },
        [b](Napi::Env env) { return step_result(env, *b); }));
  }

  // uploadImages(images u8 [N*H*W*C], labels u8 [N]): the dataset trainStepIndexed reads from (synchronous)
  Napi::Value UploadImages(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    GpuNetwork& n = net(env);
    const size_t isz = n.image_size();
    auto img = typed<uint8_t>(info[0], "images");
    if (img.ElementLength() == 0 || img.ElementLength() % isz != 0 || img.ElementLength() / isz > size_t(INT32_MAX))
      throw_range(env, "images must hold a whole number (>= 1) of " + std::to_string(isz) + "-byte images, got " +
                           std::to_string(img.ElementLength()) + " bytes");
    const int N = int(img.ElementLength() / isz);
    std::vector<uint8_t> labels;
    read_labels(info[1], size_t(N), &labels);
    guarded(env, [&] { n.upload_dataset(img.Data(), labels.data(), N); });
    return Napi::Number::New(env, N);
  }

  // trainStepIndexed(indices i32 [B], augment f64 [B*4] | null, {lr, rho, epsilon}) -> Promise<{loss, correct}>
  Napi::Value TrainStepIndexed(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    GpuNetwork& n = net(env);
    if (n.dataset_size() == 0) throw Napi::Error::New(env, "trainStepIndexed needs uploadImages(images, labels) first");
    auto b = std::make_shared<Batch>();
    auto idx = typed<int32_t>(info[0], "indices");
    if (idx.ElementLength() == 0) throw_range(env, "indices must hold at least one index");
    b->B = int(idx.ElementLength());
    for (int i = 0; i < b->B; i++)
      if (idx[i] < 0 || idx[i] >= n.dataset_size())
        throw_range(env, "indices[" + std::to_string(i) + "] must be in [0, " + std::to_string(n.dataset_size()) +
                             "), got " + std::to_string(idx[i]));
    b->indices.assign(idx.Data(), idx.Data() + b->B);
    read_augment(info[1], b->B, &b->augment);
    read_optimizer(info[2], b.get());
    return Worker::Start(new Worker(
        env, this, [&n, b] { b->result = n.train_step_indexed(b->indices.data(), b->aug(), b->B, b->lr, b->rho, b->eps); },
        [b](Napi::Env e) { return step_result(e, *b); }));
  }

  // evaluate(images, labels) -> Promise<{loss, correct, probabilities}>; predict(images) -> Promise<Float32Array>
  Napi::Value Evaluate(const Napi::CallbackInfo& info) { return Infer(info, true); }
  Napi::Value Predict(const Napi::CallbackInfo& info) { return Infer(info, false); }
  Napi::Value Infer(const Napi::CallbackInfo& info, bool with_labels) {
    GpuNetwork& n = net(info.Env());
    auto b = std::make_shared<Batch>();
    read_images(info, b.get());
    if (with_labels) read_labels(info[1], size_t(b->B), &b->labels);
    return Worker::Start(new Worker(
        info.Env(), this,
        [&n, b] {
          b->logits.resize(b->B);
          n.predict_logits(b->logits.data(), b->images.data(), b->B);
        },
        [b, with_labels](Napi::Env env) -> Napi::Value {
          // the loss and the probabilities as the CPU Trainer computes them from its logits
          auto p = Napi::Float32Array::New(env, b->B);
          double loss = 0;
          int correct = 0;
          for (int i = 0; i < b->B; i++) {
            const float z = b->logits[i];
            p[i] = ref::sigmoid(z);
            if (!with_labels) continue;
            const float label = float(b->labels[i]);
            loss += double(ref::sigmoid_bce<float>(nullptr, &z, &label, 1, 1.f));
            correct += (ref::sigmoid(z) > 0.5f) == (b->labels[i] != 0);
          }
          if (!with_labels) return p;
          Napi::Object r = Napi::Object::New(env);
          r.Set("loss", loss / b->B);
          r.Set("correct", correct);
          r.Set("probabilities", p);
          return r;
        }));
  }

  // computeGradients(images, labels, augment?) -> {loss, correct, gradients: Float32Array} (synchronous)
  Napi::Value ComputeGradients(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    GpuNetwork& n = net(env);
    Batch b;
    read_images(info, &b);
    read_labels(info[1], size_t(b.B), &b.labels);
    read_augment(info[2], b.B, &b.augment);
    auto g = Napi::Float32Array::New(env, n.param_count());
    guarded(env, [&] {
      b.result = n.compute_gradients(b.images.data(), b.labels.data(), b.aug(), b.B);
      n.get_gradients(g.Data());
    });
    Napi::Object r = step_result(env, b).As<Napi::Object>();
    r.Set("gradients", g);
    return r;
  }

  Napi::Value GetParams(const Napi::CallbackInfo& info) {
    GpuNetwork& n = net(info.Env());
    auto a = Napi::Float32Array::New(info.Env(), n.param_count());
    guarded(info.Env(), [&] { n.get_params(a.Data()); });
    return a;
  }

  void SetParams(const Napi::CallbackInfo& info) {
    GpuNetwork& n = net(info.Env());
    auto a = typed<float>(info[0], "params", n.param_count());
    for (size_t i = 0; i < a.ElementLength(); i++)
      if (!std::isfinite(a[i])) throw_range(info.Env(), "params[" + std::to_string(i) + "] is not finite");
    guarded(info.Env(), [&] { n.set_params(a.Data()); });
  }

  Napi::Value GetState(const Napi::CallbackInfo& info) {
    GpuNetwork& n = net(info.Env());
    auto a = Napi::Float32Array::New(info.Env(), n.param_count());
    guarded(info.Env(), [&] { n.get_accumulators(a.Data()); });
    Napi::Object r = Napi::Object::New(info.Env());
    r.Set("step", double(n.step()));
    r.Set("accumulators", a);
    return r;
  }

  void SetState(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    GpuNetwork& n = net(env);
    if (!info[0].IsObject()) throw_type(env, "state must be an object {step, accumulators}");
    Napi::Object s = info[0].As<Napi::Object>();
    const double step = number(s.Get("step"), "state.step");
    if (step < 0 || std::trunc(step) != step || step > 9007199254740991.0)
      throw_range(env, "state.step must be a non-negative safe integer");
    auto a = typed<float>(s.Get("accumulators"), "state.accumulators", n.param_count());
    for (size_t i = 0; i < a.ElementLength(); i++)
      if (!(a[i] >= 0) || !std::isfinite(a[i]))
        throw_range(env, "state.accumulators[" + std::to_string(i) + "] must be finite and >= 0");
    guarded(env, [&] { n.set_accumulators(a.Data()); });
    n.set_step(uint64_t(step));
  }

  Napi::Value ParamLayout(const Napi::CallbackInfo& info) {
    GpuNetwork& n = net(info.Env());
    Napi::Array out = Napi::Array::New(info.Env());
    uint32_t i = 0;
    for (const ParamInfo& p : n.param_info()) {
      Napi::Object o = Napi::Object::New(info.Env());
      Napi::Array shape = Napi::Array::New(info.Env(), p.shape.size());
      for (uint32_t k = 0; k < p.shape.size(); k++) shape[k] = p.shape[k];
      o.Set("name", p.name);
      o.Set("shape", shape);
      o.Set("offset", double(p.offset));
      o.Set("size", double(p.size));
      out[i++] = o;
    }
    return out;
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    GpuNetwork& n = net(info.Env());
    Napi::Object r = Napi::Object::New(info.Env());
    r.Set("dtype", "float32");
    r.Set("device", "cuda");
    r.Set("cudaDevice", n.device());
    r.Set("deviceName", n.device_name());
    r.Set("cudaGraphs", n.graphs_enabled());
    r.Set("params", double(n.param_count()));
    r.Set("seed", double(n.seed()));
    r.Set("datasetImages", n.dataset_size());
    return r;
  }

  void Dispose(const Napi::CallbackInfo& info) {
    if (busy_) throw Napi::Error::New(info.Env(), "GpuTrainer is busy: await the pending call before dispose()");
    net_.reset();
  }

  std::unique_ptr<GpuNetwork> net_;
};

// ---------- cudaKernels: host arrays in and out ----------

// A device copy of a host typed array (or scratch of a given size), freed on scope exit.
class DeviceArray {
 public:
  explicit DeviceArray(size_t bytes) { CUDA_CHECK(cudaMalloc(&p_, bytes ? bytes : 1)); }
  template <typename T>
  explicit DeviceArray(const Napi::TypedArrayOf<T>& a) : DeviceArray(a.ElementLength() * sizeof(T)) {
    CUDA_CHECK(cudaMemcpy(p_, a.Data(), a.ElementLength() * sizeof(T), cudaMemcpyHostToDevice));
  }
  ~DeviceArray() { cudaFree(p_); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  template <typename T = float>
  T* get() const { return static_cast<T*>(p_); }
  template <typename T>
  void to_host(Napi::TypedArrayOf<T>& a) const {
    CUDA_CHECK(cudaDeviceSynchronize());  // a kernel fault shows here, checked
    CUDA_CHECK(cudaMemcpy(a.Data(), p_, a.ElementLength() * sizeof(T), cudaMemcpyDeviceToHost));
  }

 private:
  void* p_ = nullptr;
};

using F32 = Napi::TypedArrayOf<float>;

void k_conv_forward(const Napi::CallbackInfo& a) {
  const int N = integer(a[4], "N", 1, 1 << 16), H = integer(a[5], "H", 3, 1 << 16), W = integer(a[6], "W", 3, 1 << 16),
            Ci = integer(a[7], "Cin", 1, 4096), Co = integer(a[8], "Cout", 1, 4096);
  F32 out = typed<float>(a[0], "out", size_t(N) * (H - 2) * (W - 2) * Co);
  const DeviceArray in(typed<float>(a[1], "in", size_t(N) * H * W * Ci)), w(typed<float>(a[2], "w", size_t(9) * Ci * Co)),
      b(typed<float>(a[3], "b", Co)), o(out.ElementLength() * 4);
  cuda::conv3x3_forward_cuda(o.get(), in.get(), w.get(), b.get(), N, H, W, Ci, Co, a[9].ToBoolean().Value(), nullptr);
  o.to_host(out);
}

void k_conv_backward_input(const Napi::CallbackInfo& a) {
  const int N = integer(a[3], "N", 1, 1 << 16), H = integer(a[4], "H", 3, 1 << 16), W = integer(a[5], "W", 3, 1 << 16),
            Ci = integer(a[6], "Cin", 1, 4096), Co = integer(a[7], "Cout", 1, 4096);
  F32 din = typed<float>(a[0], "din", size_t(N) * H * W * Ci);
  const DeviceArray d(din.ElementLength() * 4), dout(typed<float>(a[1], "dout", size_t(N) * (H - 2) * (W - 2) * Co)),
      w(typed<float>(a[2], "w", size_t(9) * Ci * Co));
  cuda::conv3x3_backward_input_cuda(d.get(), dout.get(), w.get(), N, H, W, Ci, Co, nullptr);
  d.to_host(din);
}

void k_conv_backward_weight(const Napi::CallbackInfo& a) {
  const int N = integer(a[4], "N", 1, 1 << 16), H = integer(a[5], "H", 3, 1 << 16), W = integer(a[6], "W", 3, 1 << 16),
            Ci = integer(a[7], "Cin", 1, 4096), Co = integer(a[8], "Cout", 1, 4096);
  F32 dw = typed<float>(a[0], "dw", size_t(9) * Ci * Co), db = typed<float>(a[1], "db", Co);
  const DeviceArray ddw(dw), ddb(db), dout(typed<float>(a[2], "dout", size_t(N) * (H - 2) * (W - 2) * Co)),
      in(typed<float>(a[3], "in", size_t(N) * H * W * Ci)),
      scratch(cuda::conv3x3_backward_weight_scratch(N, H, W, Ci, Co) * 4);
  cuda::conv3x3_backward_weight_cuda(ddw.get(), ddb.get(), dout.get(), in.get(), N, H, W, Ci, Co, scratch.get(),
                                     nullptr);
  ddw.to_host(dw);
  ddb.to_host(db);
}

void k_maxpool_forward(const Napi::CallbackInfo& a) {
  const int N = integer(a[2], "N", 1, 1 << 16), H = integer(a[3], "H", 2, 1 << 16), W = integer(a[4], "W", 2, 1 << 16),
            C = integer(a[5], "C", 1, 4096);
  F32 out = typed<float>(a[0], "out", size_t(N) * (H / 2) * (W / 2) * C);
  const DeviceArray o(out.ElementLength() * 4), in(typed<float>(a[1], "in", size_t(N) * H * W * C));
  cuda::maxpool2x2_forward_cuda(o.get(), in.get(), N, H, W, C, nullptr);
  o.to_host(out);
}

void k_maxpool_backward(const Napi::CallbackInfo& a) {
  const int N = integer(a[3], "N", 1, 1 << 16), H = integer(a[4], "H", 2, 1 << 16), W = integer(a[5], "W", 2, 1 << 16),
            C = integer(a[6], "C", 1, 4096);
  F32 din = typed<float>(a[0], "din", size_t(N) * H * W * C);
  const DeviceArray d(din.ElementLength() * 4), dout(typed<float>(a[1], "dout", size_t(N) * (H / 2) * (W / 2) * C)),
      in(typed<float>(a[2], "in", din.ElementLength()));
  cuda::maxpool2x2_backward_cuda(d.get(), dout.get(), in.get(), N, H, W, C, nullptr);
  d.to_host(din);
}

void k_relu_forward(const Napi::CallbackInfo& a) {
  F32 inh = typed<float>(a[1], "in");
  F32 out = typed<float>(a[0], "out", inh.ElementLength());
  const DeviceArray in(inh), o(out.ElementLength() * 4);
  cuda::relu_forward_cuda(o.get(), in.get(), inh.ElementLength(), nullptr);
  o.to_host(out);
}

void k_relu_backward(const Napi::CallbackInfo& a) {
  F32 outh = typed<float>(a[2], "out");
  const size_t n = outh.ElementLength();
  F32 din = typed<float>(a[0], "din", n);
  const DeviceArray d(n * 4), dout(typed<float>(a[1], "dout", n)), out(outh);
  cuda::relu_backward_cuda(d.get(), dout.get(), out.get(), n, nullptr);
  d.to_host(din);
}

void k_dense_forward(const Napi::CallbackInfo& a) {
  const int N = integer(a[4], "N", 1, 1 << 20), I = integer(a[5], "I", 1, 1 << 20), O = integer(a[6], "O", 1, 1 << 20);
  F32 out = typed<float>(a[0], "out", size_t(N) * O);
  const DeviceArray o(out.ElementLength() * 4), in(typed<float>(a[1], "in", size_t(N) * I)),
      w(typed<float>(a[2], "w", size_t(I) * O)), b(typed<float>(a[3], "b", O));
  cuda::dense_forward_cuda(o.get(), in.get(), w.get(), b.get(), N, I, O, nullptr);
  o.to_host(out);
}

void k_dense_backward(const Napi::CallbackInfo& a) {
  const int N = integer(a[6], "N", 1, 1 << 20), I = integer(a[7], "I", 1, 1 << 20), O = integer(a[8], "O", 1, 1 << 20);
  const bool with_din = !a[0].IsNull() && !a[0].IsUndefined();
  F32 dw = typed<float>(a[1], "dw", size_t(I) * O), db = typed<float>(a[2], "db", O);
  const DeviceArray d(with_din ? size_t(N) * I * 4 : 4), ddw(dw), ddb(db), dout(typed<float>(a[3], "dout", size_t(N) * O)),
      in(typed<float>(a[4], "in", size_t(N) * I)), w(typed<float>(a[5], "w", size_t(I) * O)),
      scratch(cuda::dense_backward_scratch(N, I, O) * 4);
  cuda::dense_backward_cuda(with_din ? d.get() : nullptr, ddw.get(), ddb.get(), dout.get(), in.get(), w.get(), N, I, O,
                            scratch.get(), nullptr);
  if (with_din) {
    F32 din = typed<float>(a[0], "din", size_t(N) * I);
    d.to_host(din);
  }
  ddw.to_host(dw);
  ddb.to_host(db);
}

uint64_t u64_arg(const Napi::Value& v, const char* name) {
  const double d = number(v, name);
  if (d < 0 || d > 9007199254740991.0 || std::trunc(d) != d)
    throw_range(v.Env(), std::string(name) + " must be a non-negative safe integer");
  return uint64_t(d);
}

double rate_arg(const Napi::Value& v) {
  const double rate = number(v, "rate");
  if (!(rate >= 0 && rate < 1)) throw_range(v.Env(), "rate must be in [0, 1)");
  return rate;
}

// dropoutMask(mask, rate, seed, key): as kernels.dropoutMask
void k_dropout_mask(const Napi::CallbackInfo& a) {
  F32 mask = typed<float>(a[0], "mask");
  const DeviceArray m(mask.ElementLength() * 4);
  cuda::dropout_mask_cuda(m.get(), mask.ElementLength(), rate_arg(a[1]), u64_arg(a[2], "seed"), u64_arg(a[3], "key"),
                          nullptr);
  m.to_host(mask);
}

// dropoutForward(out [N*n], mask [N*n], in [N*n], N, rate, seed, step, layer): the training layer, whose image b
// uses the mask of dropout_key(step, b, layer)
void k_dropout_forward(const Napi::CallbackInfo& a) {
  F32 inh = typed<float>(a[2], "in");
  const int N = integer(a[3], "N", 1, 1 << 20);
  if (inh.ElementLength() % N != 0) throw_range(a.Env(), "in must hold N equal parts");
  F32 out = typed<float>(a[0], "out", inh.ElementLength()), mask = typed<float>(a[1], "mask", inh.ElementLength());
  const uint64_t step = u64_arg(a[6], "step");
  const DeviceArray o(out.ElementLength() * 4), m(mask.ElementLength() * 4), in(inh), s(8);
  CUDA_CHECK(cudaMemcpy(s.get<uint64_t>(), &step, 8, cudaMemcpyHostToDevice));
  cuda::dropout_forward_cuda(o.get(), m.get(), in.get(), N, inh.ElementLength() / N, rate_arg(a[4]),
                             u64_arg(a[5], "seed"), s.get<uint64_t>(), u64_arg(a[7], "layer"), nullptr);
  o.to_host(out);
  m.to_host(mask);
}

void k_dropout_backward(const Napi::CallbackInfo& a) {
  F32 maskh = typed<float>(a[2], "mask");
  const size_t n = maskh.ElementLength();
  F32 din = typed<float>(a[0], "din", n);
  const DeviceArray d(n * 4), dout(typed<float>(a[1], "dout", n)), mask(maskh);
  cuda::dropout_backward_cuda(d.get(), dout.get(), mask.get(), n, nullptr);
  d.to_host(din);
}

// sigmoidBce(dlogit | null, logit, label, scale) -> {loss (sum), correct}
Napi::Value k_sigmoid_bce(const Napi::CallbackInfo& a) {
  F32 logith = typed<float>(a[1], "logit");
  const size_t n = logith.ElementLength();
  if (n == 0 || n > size_t(INT32_MAX)) throw_range(a.Env(), "logit must hold 1 or more values");
  const bool with_d = !a[0].IsNull() && !a[0].IsUndefined();
  const DeviceArray d(n * 4), logit(logith), label(typed<float>(a[2], "label", n)), r(sizeof(cuda::LossOut));
  cuda::sigmoid_bce_cuda(with_d ? d.get() : nullptr, r.get<cuda::LossOut>(), logit.get(), label.get(), nullptr, nullptr,
                         int(n), float(number(a[3], "scale")), nullptr);
  if (with_d) {
    F32 dlogit = typed<float>(a[0], "dlogit", n);
    d.to_host(dlogit);
  }
  cuda::LossOut out;
  CUDA_CHECK(cudaDeviceSynchronize());
  CUDA_CHECK(cudaMemcpy(&out, r.get(), sizeof out, cudaMemcpyDeviceToHost));
  Napi::Object res = Napi::Object::New(a.Env());
  res.Set("loss", out.loss_sum);
  res.Set("correct", out.correct);
  return res;
}

void k_rmsprop(const Napi::CallbackInfo& a) {
  F32 p = typed<float>(a[0], "param");
  const size_t n = p.ElementLength();
  F32 acc = typed<float>(a[1], "accum", n);
  const DeviceArray dp(p), da(acc), g(typed<float>(a[2], "grad", n));
  cuda::rmsprop_update_cuda(dp.get(), da.get(), g.get(), n, number(a[3], "lr"), number(a[4], "rho"),
                            number(a[5], "epsilon"), nullptr);
  dp.to_host(p);
  da.to_host(acc);
}

// augmentWarp(out, in u8, shear, zx, zy, flip, H, W, C, scale): one image, as kernels.augmentWarp; with
// shear = null, plain scaling (scale_pixels)
void k_augment(const Napi::CallbackInfo& a) {
  const int H = integer(a[6], "H", 1, 1 << 16), W = integer(a[7], "W", 1, 1 << 16), C = integer(a[8], "C", 1, 4096);
  const size_t n = size_t(H) * W * C;
  F32 out = typed<float>(a[0], "out", n);
  const DeviceArray o(n * 4), in(typed<uint8_t>(a[1], "in", n)), k(sizeof(cuda::WarpCoeffs));
  const bool warp = !a[2].IsNull();
  if (warp) {
    const cuda::WarpCoeffs c =
        cuda::warp_coeffs(number(a[2], "shear"), number(a[3], "zx"), number(a[4], "zy"), a[5].ToBoolean().Value());
    CUDA_CHECK(cudaMemcpy(k.get(), &c, sizeof c, cudaMemcpyHostToDevice));
  }
  cuda::augment_warp_cuda(o.get(), in.get<uint8_t>(), nullptr, warp ? k.get<cuda::WarpCoeffs>() : nullptr, 1, H, W, C,
                          float(number(a[9], "scale")), nullptr);
  o.to_host(out);
}

template <void (*F)(const Napi::CallbackInfo&)>
Napi::Value run_kernel(const Napi::CallbackInfo& a) {
  guarded(a.Env(), [&] { F(a); });
  return a.Env().Undefined();
}

template <Napi::Value (*F)(const Napi::CallbackInfo&)>
Napi::Value run_kernel_value(const Napi::CallbackInfo& a) {
  return guarded(a.Env(), [&] { return F(a); });
}

Napi::Object CudaKernels(Napi::Env env) {
  Napi::Object k = Napi::Object::New(env);
#define ENGINE_CUDA_KERNEL(js, fn) k.Set(js, Napi::Function::New(env, run_kernel<fn>, js))
  ENGINE_CUDA_KERNEL("conv3x3Forward", k_conv_forward);
  ENGINE_CUDA_KERNEL("conv3x3BackwardInput", k_conv_backward_input);
  ENGINE_CUDA_KERNEL("conv3x3BackwardWeight", k_conv_backward_weight);
  ENGINE_CUDA_KERNEL("maxpool2x2Forward", k_maxpool_forward);
  ENGINE_CUDA_KERNEL("maxpool2x2Backward", k_maxpool_backward);
  ENGINE_CUDA_KERNEL("reluForward", k_relu_forward);
  ENGINE_CUDA_KERNEL("reluBackward", k_relu_backward);
  ENGINE_CUDA_KERNEL("denseForward", k_dense_forward);
  ENGINE_CUDA_KERNEL("denseBackward", k_dense_backward);
  ENGINE_CUDA_KERNEL("dropoutMask", k_dropout_mask);
  ENGINE_CUDA_KERNEL("dropoutForward", k_dropout_forward);
  ENGINE_CUDA_KERNEL("dropoutBackward", k_dropout_backward);
  ENGINE_CUDA_KERNEL("rmspropUpdate", k_rmsprop);
  ENGINE_CUDA_KERNEL("augmentWarp", k_augment);
#undef ENGINE_CUDA_KERNEL
  k.Set("sigmoidBce", Napi::Function::New(env, run_kernel_value<k_sigmoid_bce>, "sigmoidBce"));
  return k;
}

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
