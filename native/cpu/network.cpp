#include "cpu/network.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <functional>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <type_traits>

#include "cpu/spin_barrier.h"
#include "kernels/amx/conv_amx.h"
#include "kernels/augment/augment.h"
#include "kernels/bf16/conv_bf16.h"
#include "kernels/bf16/winograd_bf16.h"
#include "kernels/fp32/kernels.h"
#include "model/rng.h"

namespace engine {

namespace {

double now_seconds() {
#ifdef ENGINE_PROFILE_CPU_TIME
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
#else
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
#endif
}

size_t round16(size_t n) { return (n + 15) / 16 * 16; }  // elements, so that the next buffer starts on 64 bytes

// Batch norm on the plan's tier (float) or the reference (double)
template <typename T>
void bn_sums(Impl k, double* sum, double* sumsq, const T* in, size_t P, int C) {
  if constexpr (std::is_same_v<T, float>) batchnorm_sums(k, sum, sumsq, in, P, C);
  else ref::batchnorm_sums(sum, sumsq, in, P, C);
}
// (relu_mask: float only, where the plan keeps one)
template <typename T>
void bn_backward_sums(Impl k, double* dsum, double* dxhat, const T* dout, const T* relu_out, const uint8_t* relu_mask,
                      const T* in, const double* mean, const double* invstd, size_t P, int C) {
  if constexpr (std::is_same_v<T, float>)
    batchnorm_backward_sums(k, dsum, dxhat, dout, relu_out, relu_mask, in, mean, invstd, P, C);
  else ref::batchnorm_backward_sums(dsum, dxhat, dout, relu_out, in, mean, invstd, P, C);
}
template <typename T>
void bn_backward_input(Impl k, T* din, const T* dout, const T* relu_out, const uint8_t* relu_mask, const T* in,
                       const double* mean, const double* invstd, const T* gamma, const double* dsum,
                       const double* dxhat, double count, size_t P, int C) {
  if constexpr (std::is_same_v<T, float>)
    batchnorm_backward_input(k, din, dout, relu_out, relu_mask, in, mean, invstd, gamma, dsum, dxhat, count, P, C);
  else ref::batchnorm_backward_input(din, dout, relu_out, in, mean, invstd, gamma, dsum, dxhat, count, P, C);
}

}  // namespace

template <typename T>
Network<T>::Network(const Layout& layout, const PlanOptions& options, const Recipe& recipe, uint64_t seed)
    : layout_(layout), plan_(make_plan(layout, options)), recipe_(recipe), seed_(seed), pool_(options.threads) {
  params_.assign(layout_.param_count, T(0));
  state_.assign(layout_.state_count, T(0));
  init_params(layout_, seed_, params_.data(), state_.data());
  accum_.assign(size_t(recipe_.state_buffers()) * params_.size(), T(0));
  grad_.assign(params_.size(), T(0));
  if (recipe_.ema_decay > 0) ema_ = params_;
  for (size_t c = 0; c < recipe_.mean.size(); c++) {
    mean_.push_back(T(recipe_.mean[c]));
    inv_std_.push_back(T(1.0 / recipe_.std[c]));
  }
  packed_words_.assign(plan_.packed_words, 0);
  packed_floats_.assign(plan_.packed_floats, 0.0f);
  ws_.resize(pool_.size());
  winograd_scratch_.resize(size_t(pool_.size()));
  for (auto& ws : ws_) ws.dparams.assign(params_.size(), T(0));
  // the plan's images per kernel call; a batch-coupled model grows them to a thread's share at its first step
  for (auto& ws : ws_) ensure_capacity(ws, std::max(plan_.micro_batch, 1));
  reset_layer_times();
}

template <typename T>
void Network<T>::ensure_capacity(Workspace& ws, int images) {
  if (images <= ws.capacity) return;
  const size_t M = size_t(images), tensors = layout_.ops() + 1;
  std::vector<size_t> offset(tensors, kNone);
  size_t total = 0;
  for (size_t t = 0; t < tensors; t++) {
    if (!plan_.stored[t] || plan_.storage_of[t] != int(t)) continue;
    offset[t] = total;
    total += round16(M * layout_.shapes[t].size());
  }
  ws.storage.assign(total, T(0));
  ws.act.assign(tensors, nullptr);
  for (size_t t = 0; t < tensors; t++) {
    const int s = plan_.storage_of[t];
    if (plan_.stored[t] && offset[size_t(s)] != kNone) ws.act[t] = ws.storage.data() + offset[size_t(s)];
  }
  ws.grads.assign(size_t(plan_.grad_slots) * round16(M * plan_.grad_slot_size), T(0));
  ws.mask.assign(M * layout_.mask_size, T(0));
  ws.code.assign(M * plan_.code_size, 0);
  ws.act16.assign(M * plan_.bf16_size, 0);  // the zeros past each input stay: the blocks write only the pixels
  ws.padded.assign(M * plan_.padded_size, T(0));  // (their borders stay zero: only the interiors are written)
  ws.padded_grad.assign(M * plan_.padded_grad_size, T(0));
  ws.capacity = images;
}

template <typename T>
T* Network<T>::grad(Workspace& ws, int slot) const {
  return ws.grads.data() + size_t(slot) * round16(size_t(ws.capacity) * plan_.grad_slot_size);
}

template <typename T>
bool Network<T>::conv3x3_valid(size_t op) const {
  const OpSpec& o = layout_.op(op);
  return o.kernel == 3 && o.stride == 1 && o.padding == Padding::Valid;
}

template <typename T>
bool Network<T>::winograd_same(const Step& s) const {
  return (s.impl == Impl::WinogradAvx2 || s.impl == Impl::WinogradAvx512) && !s.pad &&
         layout_.op(size_t(s.op)).padding == Padding::Same;
}

template <typename T>
ref::ConvGeom Network<T>::geometry(size_t op) const {
  const OpSpec& o = layout_.op(op);
  const Shape& in = layout_.in(op);
  return ref::conv_geometry(in.h, in.w, o.kernel, o.stride, o.padding == Padding::Same);
}

template <typename T>
Shape Network<T>::kernel_input(const Step& s) const {
  Shape k = layout_.in(size_t(s.op));
  k.h += s.pad;
  k.w += s.pad;
  return k;
}

template <typename T>
T* Network<T>::padded_input(const Step& s, Workspace& ws) const {
  return ws.padded.data() + size_t(ws.capacity) * s.padded + ws.n0 * kernel_input(s).size();
}

template <typename T>
T* Network<T>::padded_gradient(Workspace& ws) const {
  return ws.padded_grad.data();
}

template <typename T>
const T* Network<T>::pad_input(const Step& s, Workspace& ws, const T* x, int N) const {
  // the border stays zero: only the interior is written, here
  const Shape &in = layout_.in(size_t(s.op)), k = kernel_input(s);
  const int top = s.pad / 2;
  T* p = padded_input(s, ws);
  for (int n = 0; n < N; n++)
    for (int y = 0; y < in.h; y++)
      std::memcpy(p + ((size_t(n) * k.h + y + top) * k.w + top) * k.c, x + (size_t(n) * in.h + y) * in.w * in.c,
                  sizeof(T) * in.w * in.c);
  return p;
}

template <typename T>
void Network<T>::crop_gradient(const Step& s, T* din, const T* padded, int N) const {
  const Shape &in = layout_.in(size_t(s.op)), k = kernel_input(s);
  const int top = s.pad / 2;
  for (int n = 0; n < N; n++)
    for (int y = 0; y < in.h; y++)
      std::memcpy(din + (size_t(n) * in.h + y) * in.w * in.c, padded + ((size_t(n) * k.h + y + top) * k.w + top) * k.c,
                  sizeof(T) * in.w * in.c);
}

template <typename T>
uint16_t* Network<T>::bf16_copy(Workspace& ws, int tensor, int n) const {
  const Shape& s = layout_.shapes[size_t(tensor)];
  const size_t stride = (amx_block_input_size(s.h, s.w, s.c) + 31) / 32 * 32;  // 64-byte steps
  return ws.act16.data() + size_t(ws.capacity) * plan_.bf16_offset[size_t(tensor)] + (ws.n0 + size_t(n)) * stride;
}

template <typename T>
void Network<T>::prepare_step_kernels(int t, int nt) {
  if constexpr (std::is_same_v<T, float>) {
    const size_t n = plan_.packing.size();
    std::vector<size_t> order(n);
    for (size_t k = 0; k < n; k++) order[k] = k;
    auto size = [&](size_t k) { return plan_.packing[k].size; };
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return size(a) > size(b); });
    std::vector<size_t> load(size_t(nt), 0);
    for (size_t k : order) {
      const int to = int(std::min_element(load.begin(), load.end()) - load.begin());
      load[size_t(to)] += size(k);
      if (to == t) prepare_packing(plan_.packing[k], winograd_scratch_[size_t(t)]);
    }
  }
}

template <typename T>
void Network<T>::prepare_packing(const PackedWeights& pw, std::vector<float>& scratch) {
  if constexpr (std::is_same_v<T, float>) {
    const Shape &in = layout_.in(size_t(pw.op)), &out = layout_.out(size_t(pw.op));
    const int Cin = in.c, Cout = out.c;
    const float* w = params_.data() + layout_.param_offset[size_t(pw.op)];
    switch (pw.kind) {
      case Packing::AmxNarrow: amx_pack_kernel_narrow(packed_words_.data() + pw.offset, w, Cin, Cout); break;
      case Packing::Bf16: {
        uint32_t* wp = packed_words_.data() + pw.offset;
        avx512bf16::pack_kernel(wp, w, Cin, Cout);
        avx512bf16::pack_kernel_for_input_gradient(wp + avx512bf16::packed_kernel_size(Cin, Cout), w, Cin, Cout);
        break;
      }
      case Packing::Flipped: flip_kernel_for_input_gradient(packed_floats_.data() + pw.offset, w, Cin, Cout); break;
      case Packing::Winograd:
      case Packing::Winograd4: {
        float* wflip = packed_floats_.data() + pw.offset;  // [9][Cout][Cin], then v [P][Cin][Cout], vflip
        float* v = wflip + size_t(9) * Cin * Cout;
        const auto transform = pw.kind == Packing::Winograd4 ? winograd4_kernel_transform : winograd_kernel_transform;
        flip_kernel_for_input_gradient(wflip, w, Cin, Cout);
        transform(v, w, Cin, Cout, plan_.options.isa);
        transform(v + size_t(winograd_positions(pw.kind)) * Cin * Cout, wflip, Cout, Cin, plan_.options.isa);
        break;
      }
      case Packing::WinogradBf16: {
        scratch.resize(size_t(9 + 16) * Cin * Cout);
        float* wflip = scratch.data();  // [9][Cout][Cin], then v [16][Cin][Cout] of either
        float* v = wflip + size_t(9) * Cin * Cout;
        uint32_t* vp = packed_words_.data() + pw.offset;
        flip_kernel_for_input_gradient(wflip, w, Cin, Cout);
        winograd_kernel_transform(v, w, Cin, Cout, plan_.options.isa);
        avx512bf16::pack_winograd_kernel(vp, v, Cin, Cout);
        winograd_kernel_transform(v, wflip, Cout, Cin, plan_.options.isa);
        avx512bf16::pack_winograd_kernel(vp + avx512bf16::winograd_packed_size(Cin, Cout), v, Cout, Cin);
        break;
      }
      case Packing::Transposed: transpose_dense_kernel(packed_floats_.data() + pw.offset, w, Cin, Cout); break;
      case Packing::None: break;
    }
  }
}

template <typename T>
void Network<T>::reset_layer_times() {
  for (auto& ws : ws_) ws.times = {std::vector<double>(layout_.ops()), std::vector<double>(layout_.ops())};
  update_seconds_ = kernels_seconds_ = idle_seconds_ = step_seconds_ = 0;
}

template <typename T>
LayerTimes Network<T>::layer_times() const {
  const size_t L = layout_.ops();
  const double nt = double(ws_.size());
  LayerTimes r{std::vector<double>(L), std::vector<double>(L)};
  for (const auto& ws : ws_) {
    for (size_t i = 0; i < L; i++) {
      r.forward[i] += ws.times.forward[i] / nt;
      r.backward[i] += ws.times.backward[i] / nt;
    }
    r.preprocess += ws.times.preprocess / nt;
  }
  r.update = update_seconds_;
  r.kernels = kernels_seconds_;
  r.idle = idle_seconds_;
  r.step = step_seconds_;
  return r;
}

template <typename T>
void Network<T>::preprocess(T* out, const uint8_t* image, const double* a) const {
  const T scale = T(1.0 / 255.0);
  const Shape& s = layout_.shapes[0];
  const bool normalized = !mean_.empty();
  if (!a) ref::scale_pixels(out, image, s.size(), scale);
  else if (recipe_.augment == AugmentKind::Keras)
    augment_warp_fast(plan_.options.isa, out, image, a[0], a[1], a[2], a[3] != 0.0, s.h, s.w, s.c, scale);
  else  // (erased to 0 after the normalisation below, which is the channels' mean)
    ref::augment_crop(out, image, a, s.h, s.w, s.c, scale, normalized ? std::numeric_limits<T>::quiet_NaN() : T(0));
  if (!normalized) return;
  ref::normalize_channels(out, size_t(s.h) * s.w, s.c, mean_.data(), inv_std_.data());
  if (a && recipe_.augment == AugmentKind::Crop)  // the erased rectangle: 0, the channels' mean
    for (size_t i = 0; i < s.size(); i++)
      if (std::isnan(out[i])) out[i] = T(0);
}

template <typename T>
uint8_t* Network<T>::codes(Workspace& ws, size_t offset, size_t bytes) const {
  return ws.code.data() + size_t(ws.capacity) * offset + ws.n0 * bytes;
}

template <typename T>
uint8_t* Network<T>::relu_mask(const Step& s, Workspace& ws) const {
  return s.relu_mask == kNone ? nullptr : codes(ws, s.relu_mask, layout_.in(size_t(s.op)).size() / 8);
}

template <typename T>
uint8_t* Network<T>::pool_code(const Step& s, Workspace& ws, size_t pool) const {
  return codes(ws, s.pool_code, layout_.out(pool).size());
}

template <typename T>
void Network<T>::batchnorm_pass(const Step& s, Workspace& ws, int N, const double* mean, const double* invstd,
                                bool train) const {
  const size_t i = size_t(s.op);
  const Shape& in = layout_.in(i);
  const T* x = act(ws, size_t(layout_.input(i)));
  T* y = act(ws, i + size_t(s.ops));  // the last op's output: the ReLU's or the add's, run in this pass
  const T* residual = s.residual >= 0 ? act(ws, size_t(s.residual)) : nullptr;
  const T* gamma = params_.data() + layout_.param_offset[i];
  const T* beta = gamma + in.c;
  const size_t P = size_t(N) * in.h * in.w;
  if constexpr (std::is_same_v<T, float>)
    batchnorm_forward(s.impl, y, x, residual, mean, invstd, gamma, beta, P, in.c, s.relu,
                      train ? relu_mask(s, ws) : nullptr);
  else ref::batchnorm_forward(y, x, residual, mean, invstd, gamma, beta, P, in.c, s.relu);
}

template <typename T>
void Network<T>::forward_step(const Step& s, Workspace& ws, int N, bool train, uint64_t step, int image0) {
  const size_t i = size_t(s.op);
  const Shape &in = layout_.in(i), &out = layout_.out(i);
  const T* x = act(ws, size_t(layout_.input(i)));
  T* y = act(ws, i + 1);
  const T* w = layout_.param_offset[i] == kNone ? nullptr : params_.data() + layout_.param_offset[i];
  switch (s.kind) {
    case StepKind::ConvBlock: {
      const T* b = w + size_t(9) * in.c * out.c;
      T* pooled = act(ws, i + 3);
      uint8_t* code = codes(ws, plan_.code_offset[i], layout_.out(i + 2).size());
      const Shape k = kernel_input(s);
      if (s.pad) x = pad_input(s, ws, x, N);
      if constexpr (std::is_same_v<T, float>) {
        if (s.impl == Impl::Amx || s.impl == Impl::AmxEmulated) {
          // bf16 in from the block before where it ran on tiles too, bf16 out for the next one
          const size_t q = layout_.out(i + 2).size();
          for (int n = 0; n < N; n++)  // (one image per call: each has its own bf16 copies)
            conv3x3_relu_maxpool_forward_amx(bf16_kernels_of(s.impl), pooled + n * q,
                                             s.bf16_out ? bf16_copy(ws, i + 3, n) : nullptr, code + n * q,
                                             x + n * k.size(), s.bf16_in ? bf16_copy(ws, layout_.input(i), n) : nullptr,
                                             packed(s), b, k.h, k.w, k.c, out.c);
          return;
        }
      }
      conv3x3_relu_maxpool_forward(s.impl, pooled, code, x, w, b, N, k.h, k.w, k.c, out.c);
      return;
    }
    case StepKind::Conv: {
      const OpSpec& op = layout_.op(i);
      const T* b = w + size_t(op.kernel) * op.kernel * in.c * out.c;
      if constexpr (std::is_same_v<T, float>) {
        if (s.impl == Impl::GemmAvx2 || s.impl == Impl::GemmAvx512)
          return gemm_conv_forward(s.impl, y, x, w, b, N, in.h, in.w, in.c, out.c, geometry(i), s.relu);
        if (is_winograd4(s.impl))
          return conv3x3_same_forward_winograd4(s.impl, y, x, winograd_kernel(s, false), b, N, in.h, in.w, in.c, out.c,
                                                s.relu);
        if (s.impl == Impl::WinogradBf16)
          return conv3x3_same_forward_winograd_bf16(y, x, packed(s), b, N, in.h, in.w, in.c, out.c, s.relu);
      }
      if (winograd_same(s)) {
        if constexpr (std::is_same_v<T, float>)
          conv3x3_same_forward_winograd(s.impl, y, x, winograd_kernel(s, false), b, N, in.h, in.w, in.c, out.c,
                                        s.relu);
        return;
      }
      if (!s.pad && !conv3x3_valid(i)) {  // the reference takes the geometry itself
        ref::conv_forward(y, x, w, b, N, in.h, in.w, in.c, out.c, geometry(i));
        if (s.relu) ref::relu_forward(y, y, size_t(N) * out.size());
        return;
      }
      const Shape k = kernel_input(s);
      if (s.pad) x = pad_input(s, ws, x, N);
      if constexpr (std::is_same_v<T, float>) {
        switch (s.impl) {
          case Impl::Avx512Bf16:
          case Impl::Amx:
          case Impl::AmxEmulated:
            for (int n = 0; n < N; n++)
              conv3x3_forward_bf16_packed(bf16_kernels_of(s.impl), y + n * out.size(), x + n * k.size(), packed(s), b,
                                          k.h, k.w, k.c, out.c, s.relu);
            return;
          case Impl::WinogradAvx2:
          case Impl::WinogradAvx512:
            conv3x3_forward_winograd(s.impl, y, x, winograd_kernel(s, false), b, N, k.h, k.w, k.c, out.c, s.relu);
            return;
          default: break;
        }
      }
      if (s.relu) conv3x3_relu_forward(s.impl, y, x, w, b, N, k.h, k.w, k.c, out.c);
      else conv3x3_forward(s.impl, y, x, w, b, N, k.h, k.w, k.c, out.c);
      return;
    }
    case StepKind::Relu:
      ref::relu_forward(y, x, size_t(N) * in.size());
      return;
    case StepKind::MaxPool:
      if constexpr (std::is_same_v<T, float>)
        if (s.pool_code != kNone) return maxpool2x2_forward_code(s.impl, y, pool_code(s, ws, i), x, N, in.h, in.w, in.c, s.relu);
      maxpool2x2_forward(s.impl, y, x, N, in.h, in.w, in.c);
      return;
    case StepKind::Flatten:
      return;
    case StepKind::Dense:
      if constexpr (std::is_same_v<T, float>) dense_forward(s.impl, y, x, w, w + size_t(in.c) * out.c, N, in.c, out.c);
      else ref::dense_forward(y, x, w, w + size_t(in.c) * out.c, N, in.c, out.c);
      return;
    case StepKind::Dropout: {
      T* mask = ws.mask.data() + size_t(ws.capacity) * layout_.mask_offset[i] + ws.n0 * in.size();
      if (!train) {
        std::memcpy(y, x, sizeof(T) * N * in.size());
        return;
      }
      for (int n = 0; n < N; n++)
        dropout_mask(mask + n * in.size(), in.size(), layout_.op(i).rate, seed_,
                     dropout_key(step, uint64_t(image0 + n), i));
      ref::dropout_forward(y, x, mask, size_t(N) * in.size());
      return;
    }
    case StepKind::GlobalAvgPool:
      global_avgpool_forward(s.impl, y, x, N, in.h * in.w, in.c);
      return;
    case StepKind::Add:
      ref::add_forward(y, x, act(ws, size_t(layout_.input(i, 1))), size_t(N) * in.size());
      return;
    case StepKind::BatchNorm: {
      // (training normalises by the batch's statistics, at the network's barrier: run_coupled)
      if (train) throw std::logic_error("batch norm in training runs at the network's barrier");
      const size_t C = size_t(in.c);
      const T* running = state_.data() + layout_.state_offset[i];  // [mean C, variance C]
      std::vector<double> mean(C), invstd(C);
      for (size_t c = 0; c < C; c++) {
        mean[c] = double(running[c]);
        invstd[c] = 1.0 / std::sqrt(double(running[C + c]) + layout_.op(i).epsilon);
      }
      batchnorm_pass(s, ws, N, mean.data(), invstd.data(), false);
      return;
    }
    default:
      throw std::logic_error(std::string("no CPU forward for ") + step_kind_name(s.kind));
  }
}

template <typename T>
void Network<T>::backward_step(const Step& s, Workspace& ws, int N) {
  const size_t i = size_t(s.op);
  const Shape &in = layout_.in(i), &out = layout_.out(i);
  const T* x = ws.act[size_t(layout_.input(i))];
  const T* g = s.grad_out >= 0 ? grad(ws, s.grad_out) : nullptr;
  T* gin = s.grad_in[0] >= 0 ? grad(ws, s.grad_in[0]) : nullptr;
  const size_t po = layout_.param_offset[i];
  const T* w = po == kNone ? nullptr : params_.data() + po;
  T* dw = po == kNone ? nullptr : ws.dparams.data() + po;
  switch (s.kind) {
    case StepKind::ConvBlock: {
      // from the pool's gradient and code: the ReLU's and the conv's gradients are never stored
      T* db = dw + size_t(9) * in.c * out.c;
      const uint8_t* code = codes(ws, plan_.code_offset[i], layout_.out(i + 2).size());
      const Shape& pooled = layout_.out(i + 2);
      const Shape k = kernel_input(s);
      if (s.pad) x = padded_input(s, ws);
      T* dk = s.pad && gin ? padded_gradient(ws) : gin;
      if constexpr (std::is_same_v<T, float>) {
        if (s.input_impl != Impl::None) {  // a block on tiles that passes the gradient on
          for (int n = 0; n < N; n++)
            relu_maxpool_conv3x3_backward_amx(bf16_kernels_of(s.impl), dk + n * k.size(), dw, db,
                                              g + n * pooled.size(), code + n * pooled.size(), x + n * k.size(),
                                              s.bf16_in ? bf16_copy(ws, layout_.input(i), n) : nullptr,
                                              packed(s) + avx512bf16::packed_kernel_size(in.c, out.c), k.h, k.w,
                                              k.c, out.c);
          if (s.pad) crop_gradient(s, gin, dk, N);
          return;
        }
      }
      relu_maxpool_conv3x3_backward_weight(s.impl, dw, db, g, code, x, N, k.h, k.w, k.c, out.c);
      return;
    }
    case StepKind::Conv: {
      const OpSpec& op = layout_.op(i);
      T* db = dw + size_t(op.kernel) * op.kernel * in.c * out.c;
      if constexpr (std::is_same_v<T, float>) {
        if (s.impl == Impl::GemmAvx2 || s.impl == Impl::GemmAvx512) {
          gemm_conv_backward_weight(s.impl, dw, db, g, x, N, in.h, in.w, in.c, out.c, geometry(i));
          if (gin) gemm_conv_backward_input(s.input_impl, gin, g, w, N, in.h, in.w, in.c, out.c, geometry(i));
          return;
        }
        // a 'same' convolution on Winograd: each gradient on F(4x4) or F(2x2), as the plan chose
        if (is_winograd4(s.impl) || winograd_same(s)) {
          if (is_winograd4(s.impl) && gin && s.input_impl == s.impl) {
            conv3x3_same_backward_winograd4(s.impl, dw, db, gin, g, x, winograd_kernel(s, true), N, in.h, in.w, in.c,
                                            out.c, s.accumulate);
            return;
          }
          if (is_winograd4(s.impl))
            conv3x3_same_backward_weight_winograd4(s.impl, dw, db, g, x, N, in.h, in.w, in.c, out.c);
          else
            conv3x3_same_backward_weight_winograd(s.impl, dw, db, g, x, N, in.h, in.w, in.c, out.c);
          if (gin && s.input_impl == Impl::WinogradBf16)
            conv3x3_same_backward_input_winograd_bf16(gin, g, packed(s) + avx512bf16::winograd_packed_size(in.c, out.c), N,
                                                      in.h, in.w, in.c, out.c);
          else if (gin && is_winograd4(s.input_impl))
            conv3x3_same_backward_input_winograd4(s.input_impl, gin, g, winograd_kernel(s, true), N, in.h, in.w, in.c,
                                                  out.c, s.accumulate);
          else if (gin)
            conv3x3_same_backward_input_winograd(s.input_impl, gin, g, winograd_kernel(s, true), N, in.h, in.w, in.c,
                                                 out.c);
          return;
        }
      }
      if (!s.pad && !conv3x3_valid(i)) {  // the reference takes the geometry itself
        ref::conv_backward_weight(dw, db, g, x, N, in.h, in.w, in.c, out.c, geometry(i));
        if (gin) ref::conv_backward_input(gin, g, w, N, in.h, in.w, in.c, out.c, geometry(i));
        return;
      }
      const Shape k = kernel_input(s);
      if (s.pad) x = padded_input(s, ws);
      T* dk = s.pad && gin ? padded_gradient(ws) : gin;
      if constexpr (std::is_same_v<T, float>) {
        {
          // the weight gradient
          switch (s.impl) {
            case Impl::Avx512Bf16:
            case Impl::Amx:
            case Impl::AmxEmulated:
              for (int n = 0; n < N; n++)
                conv3x3_backward_weight_bf16(bf16_kernels_of(s.impl), dw, db, g + n * out.size(), x + n * k.size(), k.h,
                                             k.w, k.c, out.c);
              break;
            case Impl::WinogradAvx2:
            case Impl::WinogradAvx512:
              conv3x3_backward_weight_winograd(s.impl, dw, db, g, x, N, k.h, k.w, k.c, out.c);
              break;
            default: conv3x3_backward_weight(s.impl, dw, db, g, x, N, k.h, k.w, k.c, out.c);
          }
          // the input gradient
          switch (s.input_impl) {
            case Impl::None: break;
            case Impl::Avx512Bf16:
            case Impl::Amx:
            case Impl::AmxEmulated:
              for (int n = 0; n < N; n++)
                conv3x3_backward_input_bf16_packed(bf16_kernels_of(s.input_impl), dk + n * k.size(), g + n * out.size(),
                                                   packed(s) + avx512bf16::packed_kernel_size(in.c, out.c), k.h, k.w,
                                                   k.c, out.c);
              break;
            case Impl::WinogradAvx2:
            case Impl::WinogradAvx512:
              conv3x3_backward_input_winograd(s.input_impl, dk, g, winograd_kernel(s, true), N, k.h, k.w, k.c, out.c);
              break;
            default:
              if (s.packed >= 0) conv3x3_backward_input_flipped(s.input_impl, dk, g, packed_floats(s), N, k.h, k.w, k.c, out.c);
              else conv3x3_backward_input(s.input_impl, dk, g, w, N, k.h, k.w, k.c, out.c);
          }
        }
      } else {
        conv3x3_backward_weight(s.impl, dw, db, g, x, N, k.h, k.w, k.c, out.c);
        if (gin) conv3x3_backward_input(s.input_impl, dk, g, w, N, k.h, k.w, k.c, out.c);
      }
      if (s.pad && gin) crop_gradient(s, gin, dk, N);
      return;
    }
    case StepKind::Relu:
      // (in place where the gradient slots are one)
      ref::relu_backward(gin, g, ws.act[i + 1], size_t(N) * in.size());
      return;
    case StepKind::MaxPool: {
      // with `relu` the step runs the ReLU (op i) and the pool (op i + 1); x is the ReLU's output then
      const size_t pool = s.relu ? i + 1 : i;
      const Shape& pin = layout_.in(pool);
      if (s.pool_code != kNone)
        return maxpool2x2_backward_code(s.impl, gin, g, pool_code(s, ws, pool), N, pin.h, pin.w, pin.c, s.relu);
      const T* px = ws.act[size_t(layout_.input(pool))];
      if (s.relu) relu_maxpool2x2_backward(s.impl, gin, g, px, N, pin.h, pin.w, pin.c);
      else maxpool2x2_backward(s.impl, gin, g, px, N, pin.h, pin.w, pin.c);
      return;
    }
    case StepKind::Flatten:
      if (gin != g) std::memcpy(gin, g, sizeof(T) * N * in.size());
      return;
    case StepKind::Dense:
      if constexpr (std::is_same_v<T, float>) {
        dense_backward_weight(s.impl, dw, dw + size_t(in.c) * out.c, g, x, N, in.c, out.c);
        if (gin) dense_backward_input(s.input_impl, gin, g, s.packed >= 0 ? packed_floats(s) : w, N, in.c, out.c);
      } else {
        ref::dense_backward(gin, dw, dw + size_t(in.c) * out.c, g, x, w, N, in.c, out.c);
      }
      return;
    case StepKind::Dropout:
      ref::dropout_backward(gin, g, ws.mask.data() + size_t(ws.capacity) * layout_.mask_offset[i], size_t(N) * in.size());
      return;
    case StepKind::GlobalAvgPool:
      global_avgpool_backward(s.impl, gin, g, N, in.h * in.w, in.c);
      return;
    case StepKind::Add:
      // the gradient passes unchanged to both inputs (one of them may hold it already: the plan's in place)
      for (int k = 0; k < 2; k++)
        if (s.grad_in[k] >= 0 && s.grad_in[k] != s.grad_out) std::memcpy(grad(ws, s.grad_in[k]), g, sizeof(T) * N * in.size());
      return;
    case StepKind::GradAdd: {
      const size_t n = size_t(N) * in.size();  // (the op's inputs, whose gradient it adds, have one shape)
      T* acc = grad(ws, s.grad_in[0]);
      for (size_t k = 0; k < n; k++) acc[k] += g[k];
      return;
    }
    default:
      throw std::logic_error(std::string("no CPU backward for ") + step_kind_name(s.kind));
  }
}

template <typename T>
void Network<T>::run_images(Workspace& ws, const uint8_t* images, const uint8_t* labels, const double* augment, int B,
                            const int32_t* indices, int b0, int N, uint64_t step, StepResult* result) {
  double t0 = now_seconds();
  const size_t isz = image_size();
  for (int n = 0; n < N; n++) {
    const size_t b = size_t(b0 + n), img = indices ? size_t(indices[b]) : b;
    preprocess(ws.act[0] + n * isz, images + img * isz, augment ? augment + augment_params(recipe_.augment) * b : nullptr);
  }
  double t1 = now_seconds();
  ws.times.preprocess += t1 - t0;
  t0 = t1;
  for (const Step& s : plan_.forward) {
    forward_step(s, ws, N, true, step, b0);
    t1 = now_seconds();
    ws.times.forward[size_t(s.op)] += t1 - t0;
    t0 = t1;
  }
  loss(ws, labels, indices, B, b0, N, result);
  for (const Step& s : plan_.backward) {
    backward_step(s, ws, N);
    t1 = now_seconds();
    ws.times.backward[size_t(s.kind == StepKind::GradAdd ? s.op : s.op + s.ops - 1)] += t1 - t0;
    t0 = t1;
  }
}

template <typename T>
void Network<T>::loss(Workspace& ws, const uint8_t* labels, const int32_t* indices, int B, int b0, int N,
                      StepResult* result) {
  // the loss and its gradient of the logits, scaled for the mean over the batch
  const int K = layout_.logits();
  const T* logits = ws.act[layout_.ops()];
  T* dlogits = grad(ws, plan_.grad_slot[layout_.ops()]);
  for (int n = 0; n < N; n++) {
    const size_t b = size_t(b0 + n), img = indices ? size_t(indices[b]) : b;
    const T label = T(labels[img]);
    const T* z = logits + size_t(n) * K;
    const T smoothing = T(recipe_.label_smoothing);
    if (layout_.spec.head == Head::Sigmoid) {
      result->loss_sum += double(ref::sigmoid_bce(dlogits + n, z, &label, 1, T(1) / T(B), smoothing));
      result->correct += (ref::sigmoid(z[0]) > T(0.5)) == (labels[img] != 0);
    } else {
      result->loss_sum += double(ref::softmax_ce(dlogits + size_t(n) * K, z, &label, 1, K, T(1) / T(B), smoothing));
      result->correct += int(std::max_element(z, z + K) - z) == int(labels[img]);
    }
  }
}

template <typename T>
void Network<T>::run_coupled(const uint8_t* images, const uint8_t* labels, const double* augment, int B,
                             const int32_t* indices, uint64_t step, bool update_statistics,
                             std::vector<StepResult>& part, std::vector<double>& busy) {
  const int nt = pool_.size();
  auto begin = [&](int t) { return int(int64_t(B) * t / nt); };  // B * nt may pass INT_MAX
  auto count = [&](int t) { return begin(t + 1) - begin(t); };
  for (int t = 0; t < nt; t++) {
    ensure_capacity(ws_[size_t(t)], std::max(count(t), 1));
    std::fill(ws_[size_t(t)].dparams.begin(), ws_[size_t(t)].dparams.end(), T(0));
  }
  auto timed = [&](std::vector<double>& book, size_t op, const std::function<void()>& fn) {
    const double t0 = now_seconds();
    fn();
    book[op] += now_seconds() - t0;
  };
  const size_t isz = image_size();
  std::vector<std::vector<double>> sums(static_cast<size_t>(nt));  // [threads][2C] a share's partial sums
  std::vector<double> total;                          // [2C] the batch's, summed in thread order
  auto reduce = [&](size_t C) {
    total.assign(2 * C, 0.0);
    for (int t = 0; t < nt; t++)
      if (!sums[size_t(t)].empty())
        for (size_t c = 0; c < 2 * C; c++) total[c] += sums[size_t(t)][c];
  };
  // a batch norm's statistics, as the phases read them (thread 0 inserts them in a combine, the others waiting)
  auto stats_of = [&](size_t op) -> const BatchStatistics& { return batch_stats_.at(op); };

  // One pool run for the whole step: every thread takes its share through each phase, and the threads meet at a
  // barrier wherever a batch norm needs the whole batch's sums, which thread 0 then combines while the others
  // wait. The control flow depends on the plan only, so every thread meets every barrier; after a failure the
  // threads skip their work but still meet, and the first error is rethrown.
  SpinBarrier barrier(nt);
  std::atomic<bool> failed{false};
  std::mutex error_mutex;
  std::exception_ptr error;
  std::vector<double> preparing(static_cast<size_t>(nt));  // [threads] seconds rearranging the step's kernels
  pool_.run([&](int t) {
    Workspace& ws = ws_[size_t(t)];
    const int b0 = begin(t), N = count(t);
    auto guarded = [&](const std::function<void()>& fn) {
      if (failed.load(std::memory_order_relaxed)) return;
      const double t0 = now_seconds();
      try {
        fn();
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
        failed.store(true, std::memory_order_relaxed);
      }
      busy[size_t(t)] += now_seconds() - t0;
    };
    // this thread's share of a phase
    auto share = [&](const std::function<void()>& fn) {
      if (N > 0) guarded(fn);
    };
    // after every thread's share so far: thread 0 alone runs fn
    auto combine = [&](const std::function<void()>& fn) {
      barrier.wait();
      if (t == 0) guarded(fn);
      barrier.wait();
    };

    // A phase takes the thread's share from one barrier to the next in chunks of images (the plan's, on the batch
    // norm step that ends it; 0: the whole share), each through all the phase's steps while its tensors are in
    // cache. Every kernel of a chunked phase treats the images apart, or continues its sums image by image, so the
    // results do not depend on the chunks.
    auto chunks = [&](int chunk, const std::function<void(int, int)>& fn) {
      const int M = chunk > 0 ? chunk : N;
      for (int n0 = 0; n0 < N; n0 += M) {
        ws.n0 = size_t(n0);
        fn(n0, std::min(M, N - n0));
      }
      ws.n0 = 0;
    };

    // the step's rearranged kernels (transforms, packings), shared out between the threads, before any step reads
    // them
    const double t_prepare = now_seconds();
    guarded([&] { prepare_step_kernels(t, nt); });
    preparing[size_t(t)] = now_seconds() - t_prepare;
    barrier.wait();

    // forward: a phase is the normalising pass of the batch norm before it (the images' preprocessing, first), the
    // steps up to the next batch norm and that one's statistics, which thread 0 then combines
    const Step* normalise = nullptr;  // the batch norm whose pass opens the phase
    for (size_t f = 0;;) {
      size_t g = f;
      while (g < plan_.forward.size() && plan_.forward[g].kind != StepKind::BatchNorm) g++;
      const bool bn = g < plan_.forward.size();
      const size_t op = bn ? size_t(plan_.forward[g].op) : 0;
      const size_t C = bn ? size_t(layout_.in(op).c) : 0, hw = bn ? layout_.in(op).h * size_t(layout_.in(op).w) : 0;
      share([&] {
        if (bn) sums[size_t(t)].assign(2 * C, 0.0);
        chunks(bn ? plan_.forward[g].chunk : 0, [&](int n0, int m) {
          if (!normalise) {
            const double t0 = now_seconds();
            for (int n = n0; n < n0 + m; n++) {
              const size_t b = size_t(b0 + n), img = indices ? size_t(indices[b]) : b;
              preprocess(ws.act[0] + n * isz, images + img * isz, augment ? augment + augment_params(recipe_.augment) * b : nullptr);
            }
            ws.times.preprocess += now_seconds() - t0;
          } else {
            const BatchStatistics& st = stats_of(size_t(normalise->op));
            timed(ws.times.forward, size_t(normalise->op), [&] { batchnorm_pass(*normalise, ws, m, st.mean.data(), st.invstd.data(), true); });
          }
          for (size_t k = f; k < g; k++)
            timed(ws.times.forward, size_t(plan_.forward[k].op), [&] { forward_step(plan_.forward[k], ws, m, true, step, b0 + n0); });
          if (bn)
            timed(ws.times.forward, op, [&] {
              bn_sums(plan_.forward[g].impl, sums[size_t(t)].data(), sums[size_t(t)].data() + C,
                      act(ws, size_t(layout_.input(op))), size_t(m) * hw, int(C));
            });
        });
      });
      if (!bn) break;
      combine([&] {
        reduce(C);
        BatchStatistics& st = batch_stats_[op];
        const double n = double(B) * double(hw);
        st.mean.resize(C);
        st.invstd.resize(C);
        T* running = state_.data() + layout_.state_offset[op];  // [mean C, variance C]
        const double momentum = layout_.op(op).momentum;
        for (size_t c = 0; c < C; c++) {
          const double mean = total[c] / n, var = std::max(total[C + c] / n - mean * mean, 0.0);
          st.mean[c] = mean;
          st.invstd[c] = 1.0 / std::sqrt(var + layout_.op(op).epsilon);
          if (update_statistics) {  // the running variance unbiased, as PyTorch keeps it
            running[c] = T(momentum * double(running[c]) + (1 - momentum) * mean);
            running[C + c] = T(momentum * double(running[C + c]) + (1 - momentum) * (n > 1 ? var * n / (n - 1) : var));
          }
        }
      });
      normalise = &plan_.forward[g];
      f = g + 1;
    }

    // the loss, then backward: the steps between batch norms, each batch norm's sums, combined, then its input gradient
    for (size_t k0 = 0;;) {
      size_t g = k0;
      while (g < plan_.backward.size() && plan_.backward[g].kind != StepKind::BatchNorm) g++;
      const bool bn = g < plan_.backward.size();
      const Step* s = bn ? &plan_.backward[g] : nullptr;
      const size_t op = bn ? size_t(s->op) : 0;
      const size_t C = bn ? size_t(layout_.in(op).c) : 0, hw = bn ? layout_.in(op).h * size_t(layout_.in(op).w) : 0;
      // what gates the batch norm's gradient by its ReLU: the bits the forward kept, else the ReLU's output
      const uint8_t* mask = bn ? relu_mask(*s, ws) : nullptr;
      const T* relu_out = bn && s->relu && !mask ? ws.act[op + 2] : nullptr;
      share([&] {
        if (k0 == 0) loss(ws, labels, indices, B, b0, N, &part[size_t(t)]);
        for (size_t k = k0; k < g; k++) {
          const Step& b = plan_.backward[k];
          timed(ws.times.backward, size_t(b.kind == StepKind::GradAdd ? b.op : b.op + b.ops - 1), [&] { backward_step(b, ws, N); });
        }
        if (!bn) return;
        const BatchStatistics& st = stats_of(op);
        timed(ws.times.backward, op, [&] {
          std::vector<double>& p = sums[size_t(t)];
          p.assign(2 * C, 0.0);
          bn_backward_sums(s->impl, p.data(), p.data() + C, grad(ws, s->grad_out), relu_out, mask,
                           ws.act[size_t(layout_.input(op))], st.mean.data(), st.invstd.data(), size_t(N) * hw, int(C));
          T* dgamma = ws.dparams.data() + layout_.param_offset[op];
          for (size_t c = 0; c < C; c++) {
            dgamma[c] += T(p[C + c]);
            dgamma[C + c] += T(p[c]);  // dbeta
          }
        });
      });
      if (!bn) break;
      combine([&] { reduce(C); });
      if (s->grad_in[0] >= 0) {
        const T* gamma = params_.data() + layout_.param_offset[op];
        share([&] {
          const BatchStatistics& st = stats_of(op);
          timed(ws.times.backward, op, [&] {
            bn_backward_input(s->impl, grad(ws, s->grad_in[0]), grad(ws, s->grad_out), relu_out, mask,
                              ws.act[size_t(layout_.input(op))], st.mean.data(), st.invstd.data(), gamma, total.data(),
                              total.data() + C, double(B) * double(hw), size_t(N) * hw, int(C));
          });
        });
      }
      k0 = g + 1;
    }
  });
  for (int t = 0; t < nt; t++) kernels_seconds_ += preparing[size_t(t)] / nt;
  if (error) std::rethrow_exception(error);
}

template <typename T>
StepResult Network<T>::run_batch(const uint8_t* images, const uint8_t* labels, const double* augment, int B,
                                 const int32_t* indices, bool update_statistics) {
  const int nt = pool_.size();
  const double t_kernels = now_seconds();
  if (plan_.micro_batch != 0) prepare_step_kernels();  // (a batch-coupled step's threads share it: run_coupled)
  const double t_pool = now_seconds();
  kernels_seconds_ += t_pool - t_kernels;
  std::vector<StepResult> part(nt);
  std::vector<double> busy(nt);  // [threads] seconds each thread worked in this batch
  const uint64_t step = step_;
  if (plan_.micro_batch == 0) {
    run_coupled(images, labels, augment, B, indices, step, update_statistics, part, busy);
  } else {
    pool_.run([&](int t) {
      const double t_start = now_seconds();
      Workspace& ws = ws_[t];
      std::fill(ws.dparams.begin(), ws.dparams.end(), T(0));
      const int begin = int(int64_t(B) * t / nt), end = int(int64_t(B) * (t + 1) / nt);  // B * nt may pass INT_MAX
      for (int b = begin; b < end; b += ws.capacity)
        run_images(ws, images, labels, augment, B, indices, b, std::min(ws.capacity, end - b), step, &part[t]);
      busy[t] = now_seconds() - t_start;
    });
  }
  const double t0 = now_seconds();
  for (int t = 0; t < nt; t++) idle_seconds_ += (t0 - t_pool - busy[t]) / nt;
  StepResult r;
  std::copy(ws_[0].dparams.begin(), ws_[0].dparams.end(), grad_.begin());
  for (int t = 1; t < nt; t++)
    for (size_t i = 0; i < grad_.size(); i++) grad_[i] += ws_[t].dparams[i];
  for (const StepResult& p : part) {
    r.loss_sum += p.loss_sum;
    r.correct += p.correct;
  }
  update_seconds_ += now_seconds() - t0;
  return r;
}

template <typename T>
void Network<T>::update(const OptimizerStep& o) {
  const size_t P = params_.size();
  if (o.clip_norm > 0) {  // the global L2 norm, summed in order in double
    double sq = 0;
    for (size_t i = 0; i < P; i++) sq += double(grad_[i]) * double(grad_[i]);
    if (std::sqrt(sq) > o.clip_norm) {
      const T scale = T(o.clip_norm / std::sqrt(sq));
      for (size_t i = 0; i < P; i++) grad_[i] *= scale;
    }
  }
  const bool decay = o.weight_decay != 0;
  // weight decay applies to the kernels, not to biases or batch norm's parameters: tensor by tensor where it is on
  auto each_tensor = [&](auto&& fn) {
    if (!decay) return fn(size_t(0), P, 0.0);
    for (const ParamInfo& p : layout_.params) {
      const bool kernel = p.name.size() > 7 && p.name.compare(p.name.size() - 7, 7, ".kernel") == 0;
      fn(p.offset, p.size, kernel ? o.weight_decay : 0.0);
    }
  };
  T *w = params_.data(), *a = accum_.data();
  const T* g = grad_.data();
  switch (recipe_.optimizer) {
    case OptimizerKind::RmsProp:
      if (!decay) {  // (the seed's update, over all the parameters at once)
        ref::rmsprop_update(w, a, g, P, o.lr, o.rho, o.eps);
        break;
      }
      each_tensor([&](size_t at, size_t n, double wd) {
        std::vector<T> gw(g + at, g + at + n);
        for (size_t i = 0; i < n; i++) gw[i] += T(wd) * w[at + i];
        ref::rmsprop_update(w + at, a + at, gw.data(), n, o.lr, o.rho, o.eps);
      });
      break;
    case OptimizerKind::Sgd:
      each_tensor([&](size_t at, size_t n, double wd) { ref::sgd_update(w + at, a + at, g + at, n, o.lr, o.momentum, o.nesterov, wd); });
      break;
    case OptimizerKind::AdamW:
      each_tensor([&](size_t at, size_t n, double wd) {
        ref::adamw_update(w + at, a + at, a + P + at, g + at, n, o.lr, o.beta1, o.beta2, o.eps, wd, step_ + 1);
      });
      break;
  }
  if (!ema_.empty()) {  // the moving average of the weights, after the update
    const T d = T(recipe_.ema_decay), one_d = T(1.0 - recipe_.ema_decay);
    for (size_t i = 0; i < P; i++) ema_[i] = d * ema_[i] + one_d * params_[i];
  }
}

template <typename T>
StepResult Network<T>::train_step(const uint8_t* images, const uint8_t* labels, const double* augment, int B,
                                  const OptimizerStep& o, const int32_t* indices) {
  const double t_step = now_seconds();
  StepResult r = run_batch(images, labels, augment, B, indices, true);
  const double t0 = now_seconds();
  update(o);
  // A NaN or Inf gradient turns into a NaN weight; counted here so that JS need not copy the weights each step.
  for (const T p : params_) r.non_finite_params += !std::isfinite(p);
  const double t1 = now_seconds();
  update_seconds_ += t1 - t0;
  step_seconds_ += t1 - t_step;
  step_++;
  return r;
}

template <typename T>
StepResult Network<T>::compute_gradients(const uint8_t* images, const uint8_t* labels, const double* augment, int B) {
  return run_batch(images, labels, augment, B, nullptr, false);
}

template <typename T>
void Network<T>::predict_logits(T* logits, const uint8_t* images, int B, bool ema) {
  const int nt = pool_.size();
  const size_t K = size_t(layout_.logits()), isz = image_size();
  // the moving average's weights stand in for the weights while it runs
  if (ema && ema_.empty()) throw std::invalid_argument("this trainer keeps no moving average of its weights");
  struct Swap {
    std::vector<T>* a;
    std::vector<T>* b;
    ~Swap() {
      if (a) std::swap(*a, *b);
    }
  } swap{ema ? &params_ : nullptr, &ema_};
  if (ema) std::swap(params_, ema_);
  prepare_step_kernels();
  pool_.run([&](int t) {
    Workspace& ws = ws_[t];
    const int begin = int(int64_t(B) * t / nt), end = int(int64_t(B) * (t + 1) / nt);
    for (int b = begin; b < end; b += ws.capacity) {
      const int N = std::min(ws.capacity, end - b);
      for (int n = 0; n < N; n++) preprocess(ws.act[0] + n * isz, images + size_t(b + n) * isz, nullptr);
      for (const Step& s : plan_.forward) forward_step(s, ws, N, false, 0, b);
      std::copy(ws.act[layout_.ops()], ws.act[layout_.ops()] + N * K, logits + size_t(b) * K);
    }
  });
}

template class Network<float>;
template class Network<double>;

}  // namespace engine
