// The cudaKernels binding: each launcher of kernels_cuda.h on host typed arrays (copied to the device, run,
// copied back), argument for argument as the CPU `kernels` binding, for tests. Built with the rest of the CUDA
// source, once for the GPU (cudaKernels) and once for the emulator (cudaKernelsEmulated), see namespace.h.
#include <napi.h>

#include <string>
#include <vector>

#include "binding/args.h"
#include "binding/bindings.h"
#include "cuda/check.h"
#include "cuda/kernels_cuda.h"
#include "model/recipe.h"
#include "model/rng.h"

namespace engine::ENGINE_CUDA_NS {

namespace {

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
  const auto [N, H, W, Ci, Co] = conv_shape(a[4]);
  F32 out = typed<float>(a[0], "out", size_t(N) * (H - 2) * (W - 2) * Co);
  const DeviceArray in(typed<float>(a[1], "in", size_t(N) * H * W * Ci)), w(typed<float>(a[2], "w", size_t(9) * Ci * Co)),
      b(typed<float>(a[3], "b", Co)), o(out.ElementLength() * 4);
  conv3x3_forward_cuda(o.get(), in.get(), w.get(), b.get(), N, H, W, Ci, Co, a[5].ToBoolean().Value(), nullptr);
  o.to_host(out);
}

void k_conv_backward_input(const Napi::CallbackInfo& a) {
  const auto [N, H, W, Ci, Co] = conv_shape(a[3]);
  F32 din = typed<float>(a[0], "din", size_t(N) * H * W * Ci);
  const DeviceArray d(din.ElementLength() * 4), dout(typed<float>(a[1], "dout", size_t(N) * (H - 2) * (W - 2) * Co)),
      w(typed<float>(a[2], "w", size_t(9) * Ci * Co));
  conv3x3_backward_input_cuda(d.get(), dout.get(), w.get(), N, H, W, Ci, Co, nullptr);
  d.to_host(din);
}

void k_conv_backward_weight(const Napi::CallbackInfo& a) {
  const auto [N, H, W, Ci, Co] = conv_shape(a[4]);
  F32 dw = typed<float>(a[0], "dw", size_t(9) * Ci * Co), db = typed<float>(a[1], "db", Co);
  const DeviceArray ddw(dw), ddb(db), dout(typed<float>(a[2], "dout", size_t(N) * (H - 2) * (W - 2) * Co)),
      in(typed<float>(a[3], "in", size_t(N) * H * W * Ci)),
      scratch(conv3x3_backward_weight_scratch(N, H, W, Ci, Co) * 4);
  conv3x3_backward_weight_cuda(ddw.get(), ddb.get(), dout.get(), in.get(), N, H, W, Ci, Co, scratch.get(),
                                     nullptr);
  ddw.to_host(dw);
  ddb.to_host(db);
}

void k_maxpool_forward(const Napi::CallbackInfo& a) {
  const auto [N, H, W, C] = pool_shape(a[2]);
  F32 out = typed<float>(a[0], "out", size_t(N) * (H / 2) * (W / 2) * C);
  const DeviceArray o(out.ElementLength() * 4), in(typed<float>(a[1], "in", size_t(N) * H * W * C));
  maxpool2x2_forward_cuda(o.get(), in.get(), N, H, W, C, nullptr);
  o.to_host(out);
}

void k_maxpool_backward(const Napi::CallbackInfo& a) {
  const auto [N, H, W, C] = pool_shape(a[3]);
  F32 din = typed<float>(a[0], "din", size_t(N) * H * W * C);
  const DeviceArray d(din.ElementLength() * 4), dout(typed<float>(a[1], "dout", size_t(N) * (H / 2) * (W / 2) * C)),
      in(typed<float>(a[2], "in", din.ElementLength()));
  maxpool2x2_backward_cuda(d.get(), dout.get(), in.get(), N, H, W, C, nullptr);
  d.to_host(din);
}

void k_relu_forward(const Napi::CallbackInfo& a) {
  F32 inh = typed<float>(a[1], "in");
  F32 out = typed<float>(a[0], "out", inh.ElementLength());
  const DeviceArray in(inh), o(out.ElementLength() * 4);
  relu_forward_cuda(o.get(), in.get(), inh.ElementLength(), nullptr);
  o.to_host(out);
}

void k_relu_backward(const Napi::CallbackInfo& a) {
  F32 outh = typed<float>(a[2], "out");
  const size_t n = outh.ElementLength();
  F32 din = typed<float>(a[0], "din", n);
  const DeviceArray d(n * 4), dout(typed<float>(a[1], "dout", n)), out(outh);
  relu_backward_cuda(d.get(), dout.get(), out.get(), n, nullptr);
  d.to_host(din);
}

void k_dense_forward(const Napi::CallbackInfo& a) {
  const auto [N, I, O] = dense_shape(a[4]);
  F32 out = typed<float>(a[0], "out", size_t(N) * O);
  const DeviceArray o(out.ElementLength() * 4), in(typed<float>(a[1], "in", size_t(N) * I)),
      w(typed<float>(a[2], "w", size_t(I) * O)), b(typed<float>(a[3], "b", O));
  dense_forward_cuda(o.get(), in.get(), w.get(), b.get(), N, I, O, nullptr);
  o.to_host(out);
}

void k_dense_backward(const Napi::CallbackInfo& a) {
  const auto [N, I, O] = dense_shape(a[6]);
  const bool with_din = !a[0].IsNull() && !a[0].IsUndefined();
  F32 dw = typed<float>(a[1], "dw", size_t(I) * O), db = typed<float>(a[2], "db", O);
  const DeviceArray d(with_din ? size_t(N) * I * 4 : 4), ddw(dw), ddb(db), dout(typed<float>(a[3], "dout", size_t(N) * O)),
      in(typed<float>(a[4], "in", size_t(N) * I)), w(typed<float>(a[5], "w", size_t(I) * O)),
      scratch(dense_backward_scratch(N, I, O) * 4);
  dense_backward_cuda(with_din ? d.get() : nullptr, ddw.get(), ddb.get(), dout.get(), in.get(), w.get(), N, I, O,
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
  dropout_mask_cuda(m.get(), mask.ElementLength(), rate_arg(a[1]), u64_arg(a[2], "seed"), u64_arg(a[3], "key"),
                          nullptr);
  m.to_host(mask);
}

// dropoutForward(out [N*n], mask [N*n], in [N*n], {N}, rate, seed, step, layer): the training layer, whose image b
// uses the mask of dropout_key(step, b, layer)
void k_dropout_forward(const Napi::CallbackInfo& a) {
  F32 inh = typed<float>(a[2], "in");
  const int N = shape_field(shape_object(a[3], "{N}"), "N", 1, 1 << 20);
  if (inh.ElementLength() % N != 0) throw_range(a.Env(), "in must hold N equal parts");
  F32 out = typed<float>(a[0], "out", inh.ElementLength()), mask = typed<float>(a[1], "mask", inh.ElementLength());
  const uint64_t step = u64_arg(a[6], "step");
  const DeviceArray o(out.ElementLength() * 4), m(mask.ElementLength() * 4), in(inh), s(8);
  CUDA_CHECK(cudaMemcpy(s.get<uint64_t>(), &step, 8, cudaMemcpyHostToDevice));
  dropout_forward_cuda(o.get(), m.get(), in.get(), N, inh.ElementLength() / N, rate_arg(a[4]),
                             u64_arg(a[5], "seed"), s.get<uint64_t>(), u64_arg(a[7], "layer"), nullptr);
  o.to_host(out);
  m.to_host(mask);
}

void k_dropout_backward(const Napi::CallbackInfo& a) {
  F32 maskh = typed<float>(a[2], "mask");
  const size_t n = maskh.ElementLength();
  F32 din = typed<float>(a[0], "din", n);
  const DeviceArray d(n * 4), dout(typed<float>(a[1], "dout", n)), mask(maskh);
  dropout_backward_cuda(d.get(), dout.get(), mask.get(), n, nullptr);
  d.to_host(din);
}

bool given(const Napi::Value& v) { return !v.IsNull() && !v.IsUndefined(); }

// The result of a loss kernel, read back: {loss (sum), correct}
Napi::Value loss_result(Napi::Env env, const DeviceArray& r) {
  LossOut out;
  CUDA_CHECK(cudaDeviceSynchronize());
  CUDA_CHECK(cudaMemcpy(&out, r.get(), sizeof out, cudaMemcpyDeviceToHost));
  Napi::Object res = Napi::Object::New(env);
  res.Set("loss", out.loss_sum);
  res.Set("correct", out.correct);
  return res;
}

// sigmoidBce(dlogit | null, logit, label, scale, smoothing?) -> {loss (sum), correct}
Napi::Value k_sigmoid_bce(const Napi::CallbackInfo& a) {
  F32 logith = typed<float>(a[1], "logit");
  const size_t n = logith.ElementLength();
  if (n == 0 || n > size_t(INT32_MAX)) throw_range(a.Env(), "logit must hold 1 or more values");
  const bool with_d = given(a[0]);
  const float smoothing = a[4].IsUndefined() ? 0.f : float(number(a[4], "smoothing"));
  const DeviceArray d(n * 4), logit(logith), label(typed<float>(a[2], "label", n)), r(sizeof(LossOut));
  sigmoid_bce_cuda(with_d ? d.get() : nullptr, r.get<LossOut>(), logit.get(), label.get(), nullptr, nullptr, int(n),
                   float(number(a[3], "scale")), smoothing, nullptr);
  if (with_d) {
    F32 dlogit = typed<float>(a[0], "dlogit", n);
    d.to_host(dlogit);
  }
  return loss_result(a.Env(), r);
}

// softmaxCe(dlogits | null, logits [N, K], label [N], {N, K}, scale, smoothing?) -> {loss (sum), correct}
Napi::Value k_softmax_ce(const Napi::CallbackInfo& a) {
  const Napi::Object shape = shape_object(a[3], "{N, K}");
  const int N = shape_field(shape, "N", 1, 1 << 20), K = shape_field(shape, "K", 1, 1 << 16);
  const size_t n = size_t(N) * K;
  const bool with_d = given(a[0]);
  const float smoothing = a[5].IsUndefined() ? 0.f : float(number(a[5], "smoothing"));
  const DeviceArray d(n * 4), logits(typed<float>(a[1], "logits", n)), label(typed<float>(a[2], "label", N)),
      r(sizeof(LossOut));
  softmax_ce_cuda(with_d ? d.get() : nullptr, r.get<LossOut>(), logits.get(), label.get(), nullptr, nullptr, N, K,
                  float(number(a[4], "scale")), smoothing, nullptr);
  if (with_d) {
    F32 dlogits = typed<float>(a[0], "dlogits", n);
    d.to_host(dlogits);
  }
  return loss_result(a.Env(), r);
}

// The decay mask of the optimizer bindings: a Uint8Array [n] (1 where weight decay applies), or null (everywhere)
std::vector<uint8_t> decay_mask(const Napi::Value& v, size_t n) {
  if (!given(v)) return std::vector<uint8_t>(n, 1);
  auto m = typed<uint8_t>(v, "decay", n);
  return std::vector<uint8_t>(m.Data(), m.Data() + n);
}

// a device copy of the mask, or none where weight decay is 0 (as GpuNetwork passes it)
struct DecayArg {
  DeviceArray dev;
  bool on;
  DecayArg(const Napi::Value& v, size_t n, double wd) : dev(n), on(wd != 0) {
    const std::vector<uint8_t> m = decay_mask(v, n);
    CUDA_CHECK(cudaMemcpy(dev.get(), m.data(), n, cudaMemcpyHostToDevice));
  }
  const uint8_t* get() const { return on ? dev.get<uint8_t>() : nullptr; }
};

// rmspropUpdate(param, accum, grad, lr, rho, epsilon, weightDecay?, decay?)
void k_rmsprop(const Napi::CallbackInfo& a) {
  F32 p = typed<float>(a[0], "param");
  const size_t n = p.ElementLength();
  F32 acc = typed<float>(a[1], "accum", n);
  const double wd = a[6].IsUndefined() ? 0.0 : number(a[6], "weightDecay");
  const DeviceArray dp(p), da(acc), g(typed<float>(a[2], "grad", n));
  const DecayArg decay(a[7], n, wd);
  rmsprop_update_cuda(dp.get(), da.get(), g.get(), decay.get(), n, number(a[3], "lr"), number(a[4], "rho"),
                      number(a[5], "epsilon"), wd, nullptr);
  dp.to_host(p);
  da.to_host(acc);
}

// sgdUpdate(param, velocity, grad, lr, momentum, nesterov, weightDecay, decay?)
void k_sgd(const Napi::CallbackInfo& a) {
  F32 p = typed<float>(a[0], "param");
  const size_t n = p.ElementLength();
  F32 vel = typed<float>(a[1], "velocity", n);
  const double wd = number(a[6], "weightDecay");
  const DeviceArray dp(p), dv(vel), g(typed<float>(a[2], "grad", n));
  const DecayArg decay(a[7], n, wd);
  sgd_update_cuda(dp.get(), dv.get(), g.get(), decay.get(), n, number(a[3], "lr"), number(a[4], "momentum"),
                  a[5].ToBoolean().Value(), wd, nullptr);
  dp.to_host(p);
  dv.to_host(vel);
}

// adamwUpdate(param, m, v, grad, lr, beta1, beta2, epsilon, weightDecay, t, decay?)
void k_adamw(const Napi::CallbackInfo& a) {
  F32 p = typed<float>(a[0], "param");
  const size_t n = p.ElementLength();
  F32 m = typed<float>(a[1], "m", n), v = typed<float>(a[2], "v", n);
  const double beta1 = number(a[5], "beta1"), beta2 = number(a[6], "beta2"), wd = number(a[8], "weightDecay");
  const DeviceArray dp(p), dm(m), dv(v), g(typed<float>(a[3], "grad", n)), corrections(2 * sizeof(float));
  const DecayArg decay(a[10], n, wd);
  float c[2];
  adamw_corrections(c, beta1, beta2, uint64_t(integer(a[9], "t", 1, INT32_MAX)));
  CUDA_CHECK(cudaMemcpy(corrections.get(), c, sizeof c, cudaMemcpyHostToDevice));
  adamw_update_cuda(dp.get(), dm.get(), dv.get(), g.get(), decay.get(), corrections.get(), n, number(a[4], "lr"), beta1,
                    beta2, number(a[7], "epsilon"), wd, nullptr);
  dp.to_host(p);
  dm.to_host(m);
  dv.to_host(v);
}

// clipGradients(grad, clipNorm): grad scaled down to the norm where its L2 norm is larger
void k_clip(const Napi::CallbackInfo& a) {
  F32 g = typed<float>(a[0], "grad");
  const size_t n = g.ElementLength();
  const DeviceArray dg(g), scratch(clip_scratch(n) * sizeof(double));
  clip_gradients_cuda(dg.get(), n, number(a[1], "clipNorm"), scratch.get<double>(), nullptr);
  dg.to_host(g);
}

// emaUpdate(ema, param, decay)
void k_ema(const Napi::CallbackInfo& a) {
  F32 e = typed<float>(a[0], "ema");
  const size_t n = e.ElementLength();
  const DeviceArray de(e), dp(typed<float>(a[1], "param", n));
  ema_update_cuda(de.get(), dp.get(), n, number(a[2], "decay"), nullptr);
  de.to_host(e);
}

// the normalisation argument: a Float32Array [2C] (mean, then 1 / std) on the device, or none
struct NormArg {
  DeviceArray dev;
  bool on;
  NormArg(const Napi::Value& v, int C) : dev(given(v) ? 2 * size_t(C) * 4 : 4), on(given(v)) {
    if (on) {
      F32 norm = typed<float>(v, "norm", 2 * size_t(C));
      CUDA_CHECK(cudaMemcpy(dev.get(), norm.Data(), norm.ElementLength() * 4, cudaMemcpyHostToDevice));
    }
  }
  const float* get() const { return on ? dev.get() : nullptr; }
};

// augmentWarp(out, in u8, {H, W, C}, shear, zx, zy, flip, scale, norm?): one image, as kernels.augmentWarp; with
// shear = null, plain scaling (scale_pixels); norm: the normalisation after it
void k_augment(const Napi::CallbackInfo& a) {
  const auto [H, W, C] = image_shape(a[2]);
  const size_t n = size_t(H) * W * C;
  F32 out = typed<float>(a[0], "out", n);
  const DeviceArray o(n * 4), in(typed<uint8_t>(a[1], "in", n)), k(sizeof(WarpCoeffs));
  const NormArg norm(a[8], C);
  const bool warp = !a[3].IsNull();
  if (warp) {
    const WarpCoeffs c =
        warp_coeffs(number(a[3], "shear"), number(a[4], "zx"), number(a[5], "zy"), a[6].ToBoolean().Value());
    CUDA_CHECK(cudaMemcpy(k.get(), &c, sizeof c, cudaMemcpyHostToDevice));
  }
  augment_warp_cuda(o.get(), in.get<uint8_t>(), nullptr, warp ? k.get<WarpCoeffs>() : nullptr, norm.get(), 1, H, W, C,
                    float(number(a[7], "scale")), nullptr);
  o.to_host(out);
}

// augmentCrop(out, in u8 [N, H, W, C], {H, W, C}, params f64 [N, 8], scale, norm?): N images, as
// kernels.augmentCrop each (the erased rectangle 0)
void k_augment_crop(const Napi::CallbackInfo& a) {
  const auto [H, W, C] = image_shape(a[2]);
  const size_t isz = size_t(H) * W * C;
  auto params = typed<double>(a[3], "params");
  require_finite(params, "params");
  if (params.ElementLength() == 0 || params.ElementLength() % kCropParams != 0)
    throw_range(a.Env(), "params must hold 8 numbers per image");
  const int N = int(params.ElementLength() / kCropParams);
  F32 out = typed<float>(a[0], "out", N * isz);
  const DeviceArray o(N * isz * 4), in(typed<uint8_t>(a[1], "in", N * isz)), k(sizeof(CropCoeffs) * size_t(N));
  const NormArg norm(a[5], C);
  std::vector<CropCoeffs> coeffs(static_cast<size_t>(N));
  for (int b = 0; b < N; b++) coeffs[size_t(b)] = crop_coeffs(params.Data() + kCropParams * size_t(b));
  CUDA_CHECK(cudaMemcpy(k.get(), coeffs.data(), sizeof(CropCoeffs) * size_t(N), cudaMemcpyHostToDevice));
  augment_crop_cuda(o.get(), in.get<uint8_t>(), nullptr, k.get<CropCoeffs>(), norm.get(), N, H, W, C,
                    float(number(a[4], "scale")), nullptr);
  o.to_host(out);
}

// batchnormTrain(out, stats f64 [2C], running [2C], in, gamma, beta, {P, C}, momentum, epsilon, update, relu):
// stats out; running updated where update
void k_batchnorm_train(const Napi::CallbackInfo& a) {
  const auto [P, C] = channel_shape(a[6]);
  const size_t n = size_t(P) * C;
  F32 out = typed<float>(a[0], "out", n), running = typed<float>(a[2], "running", 2 * size_t(C));
  auto stats = typed<double>(a[1], "stats", 2 * size_t(C));
  const DeviceArray o(n * 4), st(2 * size_t(C) * 8), run(running), in(typed<float>(a[3], "in", n)),
      gamma(typed<float>(a[4], "gamma", C)), beta(typed<float>(a[5], "beta", C)),
      scratch(batchnorm_scratch(size_t(P), C) * 8);
  batchnorm_forward_train_cuda(o.get(), st.get<double>(), run.get(), in.get(), gamma.get(), beta.get(), size_t(P), C,
                               number(a[7], "momentum"), number(a[8], "epsilon"), a[9].ToBoolean().Value(),
                               a[10].ToBoolean().Value(), scratch.get<double>(), nullptr);
  o.to_host(out);
  st.to_host(stats);
  run.to_host(running);
}

// batchnormInfer(out, stats f64 [2C], in, running [2C], gamma, beta, {P, C}, epsilon, relu): stats out
void k_batchnorm_infer(const Napi::CallbackInfo& a) {
  const auto [P, C] = channel_shape(a[6]);
  const size_t n = size_t(P) * C;
  F32 out = typed<float>(a[0], "out", n);
  auto stats = typed<double>(a[1], "stats", 2 * size_t(C));
  const DeviceArray o(n * 4), st(2 * size_t(C) * 8), in(typed<float>(a[2], "in", n)),
      running(typed<float>(a[3], "running", 2 * size_t(C))), gamma(typed<float>(a[4], "gamma", C)),
      beta(typed<float>(a[5], "beta", C));
  batchnorm_forward_infer_cuda(o.get(), st.get<double>(), in.get(), running.get(), gamma.get(), beta.get(), size_t(P),
                               C, number(a[7], "epsilon"), a[8].ToBoolean().Value(), nullptr);
  o.to_host(out);
  st.to_host(stats);
}

// batchnormBackward(din | null, dgamma, dbeta, dout, reluOut | null, in, stats f64 [2C], gamma, {P, C}): dgamma +=,
// dbeta +=
void k_batchnorm_backward(const Napi::CallbackInfo& a) {
  const auto [P, C] = channel_shape(a[8]);
  const size_t n = size_t(P) * C;
  const bool with_din = given(a[0]), with_relu = given(a[4]);
  F32 dgamma = typed<float>(a[1], "dgamma", C), dbeta = typed<float>(a[2], "dbeta", C);
  const DeviceArray d(with_din ? n * 4 : 4), dg(dgamma), db(dbeta), dout(typed<float>(a[3], "dout", n)),
      relu(with_relu ? n * 4 : 4), in(typed<float>(a[5], "in", n)), stats(typed<double>(a[6], "stats", 2 * size_t(C))),
      gamma(typed<float>(a[7], "gamma", C)), scratch(batchnorm_scratch(size_t(P), C) * 8);
  if (with_relu) {
    F32 r = typed<float>(a[4], "reluOut", n);
    CUDA_CHECK(cudaMemcpy(relu.get(), r.Data(), n * 4, cudaMemcpyHostToDevice));
  }
  batchnorm_backward_cuda(with_din ? d.get() : nullptr, dg.get(), db.get(), dout.get(), with_relu ? relu.get() : nullptr,
                          in.get(), stats.get<double>(), gamma.get(), size_t(P), C, scratch.get<double>(), nullptr);
  if (with_din) {
    F32 din = typed<float>(a[0], "din", n);
    d.to_host(din);
  }
  dg.to_host(dgamma);
  db.to_host(dbeta);
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

}  // namespace

Napi::Object kernel_bindings(Napi::Env env) {
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
  ENGINE_CUDA_KERNEL("sgdUpdate", k_sgd);
  ENGINE_CUDA_KERNEL("adamwUpdate", k_adamw);
  ENGINE_CUDA_KERNEL("clipGradients", k_clip);
  ENGINE_CUDA_KERNEL("emaUpdate", k_ema);
  ENGINE_CUDA_KERNEL("augmentWarp", k_augment);
  ENGINE_CUDA_KERNEL("augmentCrop", k_augment_crop);
  ENGINE_CUDA_KERNEL("batchnormTrain", k_batchnorm_train);
  ENGINE_CUDA_KERNEL("batchnormInfer", k_batchnorm_infer);
  ENGINE_CUDA_KERNEL("batchnormBackward", k_batchnorm_backward);
#undef ENGINE_CUDA_KERNEL
  k.Set("sigmoidBce", Napi::Function::New(env, run_kernel_value<k_sigmoid_bce>, "sigmoidBce"));
  k.Set("softmaxCe", Napi::Function::New(env, run_kernel_value<k_softmax_ce>, "softmaxCe"));
  return k;
}

}  // namespace engine::ENGINE_CUDA_NS
