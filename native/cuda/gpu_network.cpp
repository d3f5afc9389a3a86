// GpuNetwork: see gpu_network.h. Host code (compiled by the C++ compiler) that owns the device buffers and
// enqueues the launchers of kernels_cuda.h on one stream, step by step as the plan lists them.
#include "cuda/gpu_network.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "cuda/check.h"  // the CUDA runtime (or, under ENGINE_CUDA_EMULATION, its CPU emulation)

namespace engine::ENGINE_CUDA_NS {

namespace {

template <typename T>
void device_alloc(T** p, size_t count) {
  *p = nullptr;
  if (count == 0) count = 1;
  CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(p), count * sizeof(T)));
}

template <typename T>
void device_free(T*& p) {
  if (p) cudaFree(p);  // errors on release are not actionable; a sticky error shows at the next checked call
  p = nullptr;
}

size_t align8(size_t n) { return (n + 7) / 8 * 8; }

const char* no_device_reason(cudaError_t e) {
  switch (e) {
    case cudaErrorInsufficientDriver:
      return "no usable NVIDIA driver: libcuda is missing or older than the CUDA runtime this addon was built with";
    case cudaErrorNoDevice: return "the NVIDIA driver sees no CUDA device (check CUDA_VISIBLE_DEVICES)";
    default: return nullptr;
  }
}

}  // namespace

DeviceList list_devices() {
  DeviceList list;
  cudaRuntimeGetVersion(&list.runtime_version);
  cudaDriverGetVersion(&list.driver_version);  // 0 when no driver is installed
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    const char* why = no_device_reason(e);
    list.reason = why ? why : std::string("cudaGetDeviceCount failed: ") + cudaGetErrorName(e) + " (" +
                                  cudaGetErrorString(e) + ")";
    cudaGetLastError();  // clear it so later calls start clean
    return list;
  }
  if (count == 0) list.reason = "the NVIDIA driver sees no CUDA device (check CUDA_VISIBLE_DEVICES)";
  for (int i = 0; i < count; i++) {
    cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
    list.devices.push_back({i, p.name, p.major, p.minor, double(p.totalGlobalMem), p.multiProcessorCount});
  }
  return list;
}

GpuNetwork::GpuNetwork(const Layout& layout, const Plan& plan, const Recipe& recipe, uint64_t seed, int device)
    : layout_(layout), plan_(plan), recipe_(recipe), seed_(seed), device_(device) {
  for (size_t i = 0; i < layout_.ops(); i++)  // a dense layer's inputs are rows of its weight-gradient GEMM
    if (layout_.op(i).type == OpType::Dense && layout_.in(i).c > kMaxGemmSize)
      throw SpecError("layer " + std::to_string(i) + " (dense): " + std::to_string(layout_.in(i).c) +
                      " inputs pass the GPU GEMM's int indices (at most " + std::to_string(kMaxGemmSize) + ")");
  const char* graphs = std::getenv("ENGINE_CUDA_GRAPHS");
  use_graphs_ = !(graphs && std::strcmp(graphs, "0") == 0);
#if ENGINE_CUDA_EMULATION
  use_graphs_ = false;  // the emulator has no graphs
#endif
  // the initial weights of a CPU network with the same seed
  std::vector<float> init(layout_.param_count), state(layout_.state_count);
  init_params(layout_, seed_, init.data(), state.data());

  int count = 0;
  CUDA_CHECK(cudaGetDeviceCount(&count));
  if (device < 0 || device >= count)
    throw CudaError("CUDA device " + std::to_string(device) + " does not exist (" + std::to_string(count) +
                    " visible)");
  CUDA_CHECK(cudaSetDevice(device_));
  cudaDeviceProp prop;
  CUDA_CHECK(cudaGetDeviceProperties(&prop, device_));
  device_name_ = prop.name;
  try {
    CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    const size_t P = layout_.param_count, A = size_t(recipe_.state_buffers()) * P;
    device_alloc(&params_, P);
    device_alloc(&accum_, A);
    device_alloc(&grad_, P);
    CUDA_CHECK(cudaMemcpy(params_, init.data(), P * sizeof(float), cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemset(accum_, 0, A * sizeof(float)));
    CUDA_CHECK(cudaMemset(grad_, 0, P * sizeof(float)));
    if (recipe_.ema_decay > 0) {  // the moving average starts at the initial weights, as the CPU's
      device_alloc(&ema_, P);
      CUDA_CHECK(cudaMemcpy(ema_, init.data(), P * sizeof(float), cudaMemcpyHostToDevice));
    }
    device_alloc(&state_, layout_.state_count);
    if (layout_.state_count)
      CUDA_CHECK(cudaMemcpy(state_, state.data(), layout_.state_count * sizeof(float), cudaMemcpyHostToDevice));
    // weight decay applies to the kernels only (Network::update): marked by the parameters' names
    std::vector<uint8_t> decay(P, 0);
    for (const ParamInfo& p : layout_.params)
      if (p.name.size() > 7 && p.name.compare(p.name.size() - 7, 7, ".kernel") == 0)
        std::fill(decay.begin() + long(p.offset), decay.begin() + long(p.offset + p.size), uint8_t(1));
    device_alloc(&decay_, P);
    CUDA_CHECK(cudaMemcpy(decay_, decay.data(), P, cudaMemcpyHostToDevice));
    if (!recipe_.mean.empty()) {  // as the CPU network rounds them: the mean, and 1 / std
      const size_t C = recipe_.mean.size();
      std::vector<float> norm(2 * C);
      for (size_t c = 0; c < C; c++) {
        norm[c] = float(recipe_.mean[c]);
        norm[C + c] = float(1.0 / recipe_.std[c]);
      }
      device_alloc(&norm_, 2 * C);
      CUDA_CHECK(cudaMemcpy(norm_, norm.data(), 2 * C * sizeof(float), cudaMemcpyHostToDevice));
    }
    bn_stats_offset_.assign(layout_.ops(), kNone);
    size_t stats = 0;
    for (size_t i = 0; i < layout_.ops(); i++)
      if (layout_.op(i).type == OpType::BatchNorm) {
        bn_stats_offset_[i] = stats;
        stats += 2 * size_t(layout_.in(i).c);
      }
    device_alloc(&bn_stats_, stats);
    device_alloc(&clip_scratch_, clip_scratch(P));
    CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&result_host_), sizeof(LossOut)));
    device_alloc(&result_dev_, 1);
  } catch (...) {
    release();
    throw;
  }
}

GpuNetwork::~GpuNetwork() { release(); }

void GpuNetwork::release() {
  cudaSetDevice(device_);
  if (stream_) cudaStreamSynchronize(stream_);
  clear_graphs();
  free_batch();
  device_free(params_);
  device_free(accum_);
  device_free(grad_);
  device_free(ema_);
  device_free(state_);
  device_free(decay_);
  device_free(norm_);
  device_free(bn_stats_);
  device_free(clip_scratch_);
  device_free(result_dev_);
  device_free(dataset_);
  device_free(dataset_labels_);
  if (result_host_) cudaFreeHost(result_host_);
  result_host_ = nullptr;
  if (stream_) cudaStreamDestroy(stream_);
  stream_ = nullptr;
}

void GpuNetwork::clear_graphs() {
  for (auto& kv : graphs_) cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(kv.second));
  graphs_.clear();
}

void GpuNetwork::free_batch() {
  for (float*& p : act_alloc_) device_free(p);
  act_alloc_.clear();
  act_.clear();
  device_free(grads_);
  device_free(masks_);
  device_free(scratch_);
  device_free(bn_scratch_);
  device_free(batch_images_);
  device_free(batch_labels_);
  device_free(staging_dev_);
  if (staging_host_) cudaFreeHost(staging_host_);
  staging_host_ = nullptr;
  capacity_ = 0;
}

void GpuNetwork::ensure_batch(int B) {
  if (B <= capacity_) return;
  for (size_t i = 0; i < layout_.ops(); i++) {
    const Shape& in = layout_.in(i);
    if (layout_.op(i).type == OpType::Conv && (long long)B * in.h * in.w > kMaxGemmSize)
      throw SpecError("a batch of " + std::to_string(B) + " images is too large for layer " + std::to_string(i) +
                      " (conv) on the GPU: its " + std::to_string((long long)B * in.h * in.w) +
                      " input pixels pass the GEMM's int indices (at most " + std::to_string(kMaxGemmSize) +
                      "); use a smaller batch size");
  }
  CUDA_CHECK(cudaStreamSynchronize(stream_));
  clear_graphs();  // they hold the old pointers
  free_batch();
  try {
    const size_t T = layout_.ops() + 1;
    act_.assign(T, nullptr);
    for (size_t t = 0; t < T; t++) {
      const int s = plan_.storage_of[t];
      if (s != int(t)) {
        act_[t] = act_[size_t(s)];
      } else {
        act_alloc_.push_back(nullptr);
        device_alloc(&act_alloc_.back(), size_t(B) * layout_.shapes[t].size());
        act_[t] = act_alloc_.back();
      }
    }
    device_alloc(&grads_, size_t(plan_.grad_slots) * B * plan_.grad_slot_size);
    device_alloc(&masks_, size_t(B) * layout_.mask_size);
    size_t scratch = 0, bn_scratch = 0;
    for (size_t i = 0; i < layout_.ops(); i++) {
      const Shape &in = layout_.in(i), &out = layout_.out(i);
      if (layout_.op(i).type == OpType::Conv)
        scratch = std::max(scratch, conv_backward_weight_scratch(B, in.c, out.c, geometry(i)));
      if (layout_.op(i).type == OpType::Dense) scratch = std::max(scratch, dense_backward_scratch(B, in.c, out.c));
      if (layout_.op(i).type == OpType::BatchNorm)
        bn_scratch = std::max(bn_scratch, batchnorm_scratch(size_t(B) * in.h * in.w, in.c));
    }
    device_alloc(&scratch_, scratch);
    device_alloc(&bn_scratch_, bn_scratch);
    device_alloc(&batch_images_, size_t(B) * image_size());
    device_alloc(&batch_labels_, size_t(B));
    capacity_ = B;  // (the staging layout depends on it)
    staging_bytes_ = coeff_offset() + coeff_size() * size_t(B);
    CUDA_CHECK(cudaMallocHost(&staging_host_, staging_bytes_));
    CUDA_CHECK(cudaMalloc(&staging_dev_, staging_bytes_));
  } catch (...) {
    free_batch();
    throw;
  }
}

void GpuNetwork::copy_to_host(float* out, const float* dev, size_t n) {
  CUDA_CHECK(cudaSetDevice(device_));
  CUDA_CHECK(cudaStreamSynchronize(stream_));
  if (n) CUDA_CHECK(cudaMemcpy(out, dev, n * sizeof(float), cudaMemcpyDeviceToHost));
}
void GpuNetwork::copy_to_device(float* dev, const float* in, size_t n) {
  CUDA_CHECK(cudaSetDevice(device_));
  CUDA_CHECK(cudaStreamSynchronize(stream_));
  if (n) CUDA_CHECK(cudaMemcpy(dev, in, n * sizeof(float), cudaMemcpyHostToDevice));
}
void GpuNetwork::get_params(float* out) { copy_to_host(out, params_, layout_.param_count); }
void GpuNetwork::set_params(const float* in) { copy_to_device(params_, in, layout_.param_count); }
void GpuNetwork::get_accumulators(float* out) {
  copy_to_host(out, accum_, size_t(recipe_.state_buffers()) * layout_.param_count);
}
void GpuNetwork::set_accumulators(const float* in) {
  copy_to_device(accum_, in, size_t(recipe_.state_buffers()) * layout_.param_count);
}
void GpuNetwork::get_gradients(float* out) { copy_to_host(out, grad_, layout_.param_count); }
void GpuNetwork::get_state(float* out) { copy_to_host(out, state_, layout_.state_count); }
void GpuNetwork::set_state(const float* in) { copy_to_device(state_, in, layout_.state_count); }
void GpuNetwork::get_ema(float* out) {
  if (ema_) copy_to_host(out, ema_, layout_.param_count);
}
void GpuNetwork::set_ema(const float* in) {
  if (ema_) copy_to_device(ema_, in, layout_.param_count);
}

void GpuNetwork::upload_dataset(const uint8_t* images, const uint8_t* labels, int n) {
  CUDA_CHECK(cudaSetDevice(device_));
  CUDA_CHECK(cudaStreamSynchronize(stream_));
  clear_graphs();
  device_free(dataset_);
  device_free(dataset_labels_);
  dataset_n_ = 0;
  device_alloc(&dataset_, size_t(n) * image_size());
  device_alloc(&dataset_labels_, size_t(n));
  CUDA_CHECK(cudaMemcpy(dataset_, images, size_t(n) * image_size(), cudaMemcpyHostToDevice));
  CUDA_CHECK(cudaMemcpy(dataset_labels_, labels, size_t(n), cudaMemcpyHostToDevice));
  dataset_n_ = n;
}

size_t GpuNetwork::coeff_offset() const { return 16 + align8(4 * size_t(capacity_)); }
size_t GpuNetwork::coeff_size() const {
  return recipe_.augment == AugmentKind::Crop ? sizeof(CropCoeffs) : sizeof(WarpCoeffs);
}

// Writes step, AdamW's corrections (with o), indices and augmentation coefficients into the pinned staging buffer
// (read by the next enqueued copy).
void GpuNetwork::stage(const int32_t* indices, const double* augment, int B, const OptimizerStep* o) {
  auto* base = static_cast<uint8_t*>(staging_host_);
  const uint64_t step = step_;
  std::memcpy(base, &step, 8);
  float corrections[2] = {1.f, 1.f};
  if (o && recipe_.optimizer == OptimizerKind::AdamW) adamw_corrections(corrections, o->beta1, o->beta2, step_ + 1);
  std::memcpy(base + 8, corrections, sizeof corrections);
  if (indices) std::memcpy(base + 16, indices, 4 * size_t(B));
  if (!augment) return;
  const int stride = augment_params(recipe_.augment);
  if (recipe_.augment == AugmentKind::Crop) {
    auto* coeffs = reinterpret_cast<CropCoeffs*>(base + coeff_offset());
    for (int b = 0; b < B; b++) coeffs[b] = crop_coeffs(augment + stride * size_t(b));
    return;
  }
  auto* coeffs = reinterpret_cast<WarpCoeffs*>(base + coeff_offset());
  for (int b = 0; b < B; b++) {
    const double* a = augment + stride * size_t(b);
    coeffs[b] = warp_coeffs(a[0], a[1], a[2], a[3] != 0.0);
  }
}

void GpuNetwork::upload_batch(const uint8_t* images, const uint8_t* labels, int B) {
  CUDA_CHECK(cudaMemcpyAsync(batch_images_, images, size_t(B) * image_size(), cudaMemcpyHostToDevice, stream_));
  if (labels) CUDA_CHECK(cudaMemcpyAsync(batch_labels_, labels, size_t(B), cudaMemcpyHostToDevice, stream_));
}

ref::ConvGeom GpuNetwork::geometry(size_t op) const {
  const OpSpec& o = layout_.op(op);
  return ref::conv_geometry(layout_.in(op).h, layout_.in(op).w, o.kernel, o.stride, o.padding == Padding::Same);
}

void GpuNetwork::forward_step(const Step& s, int B, bool train) {
  const uint64_t* d_step = static_cast<const uint64_t*>(staging_dev_);
  const size_t i = size_t(s.op);
  const Shape &in = layout_.in(i), &out = layout_.out(i);
  const float* x = act_[size_t(layout_.input(i))];
  float* y = act_[i + 1];
  const float* w = layout_.param_offset[i] == kNone ? nullptr : params_ + layout_.param_offset[i];
  switch (s.kind) {
    case StepKind::Conv: {
      // a following ReLU works in place on this output, so it is folded into the store
      const int k = layout_.op(i).kernel;
      conv_forward_cuda(y, x, w, w + size_t(k) * k * in.c * out.c, B, in.h, in.w, in.c, out.c, geometry(i), s.relu,
                        stream_);
      return;
    }
    case StepKind::Relu: relu_forward_cuda(y, x, size_t(B) * in.size(), stream_); return;
    case StepKind::MaxPool: maxpool2x2_forward_cuda(y, x, B, in.h, in.w, in.c, stream_); return;
    case StepKind::Flatten: return;
    case StepKind::Dense: dense_forward_cuda(y, x, w, w + size_t(in.c) * out.c, B, in.c, out.c, stream_); return;
    case StepKind::Dropout:
      if (train)
        dropout_forward_cuda(y, masks_ + size_t(B) * layout_.mask_offset[i], x, B, in.size(), layout_.op(i).rate,
                             seed_, d_step, i, stream_);
      else CUDA_CHECK(cudaMemcpyAsync(y, x, sizeof(float) * B * in.size(), cudaMemcpyDeviceToDevice, stream_));
      return;
    case StepKind::GlobalAvgPool: global_avgpool_forward_cuda(y, x, B, in.h * in.w, in.c, stream_); return;
    case StepKind::Add:
      add_forward_cuda(y, x, act_[size_t(layout_.input(i, 1))], size_t(B) * in.size(), stream_);
      return;
    case StepKind::BatchNorm: {
      // training: the batch's statistics (the running ones follow on update steps); inference: the running ones
      const size_t P = size_t(B) * in.h * in.w;
      const OpSpec& op = layout_.op(i);
      double* stats = bn_stats_ + bn_stats_offset_[i];
      float* running = state_ + layout_.state_offset[i];  // [mean C, variance C]
      if (train)
        batchnorm_forward_train_cuda(y, stats, running, x, w, w + in.c, P, in.c, op.momentum, op.epsilon,
                                     update_statistics_, s.relu, bn_scratch_, stream_);
      else batchnorm_forward_infer_cuda(y, stats, x, running, w, w + in.c, P, in.c, op.epsilon, s.relu, stream_);
      return;
    }
    default: throw CudaError(std::string("no CUDA forward for ") + step_kind_name(s.kind));
  }
}

void GpuNetwork::enqueue_forward(int B, bool train) {
  for (const Step& s : plan_.forward) forward_step(s, B, train);
}

void GpuNetwork::backward_step(const Step& s, int B) {
  const size_t i = size_t(s.op);
  const Shape &in = layout_.in(i), &out = layout_.out(i);
  const float* x = act_[size_t(layout_.input(i))];
  const float* g = grad(s.grad_out);  // gradient of the step's output [B, ...]
  float* gin = s.grad_in[0] >= 0 ? grad(s.grad_in[0]) : nullptr;
  const size_t po = layout_.param_offset[i];
  const float* w = po == kNone ? nullptr : params_ + po;
  float* dw = po == kNone ? nullptr : grad_ + po;
  switch (s.kind) {
    case StepKind::Conv: {
      const int k = layout_.op(i).kernel;
      conv_backward_weight_cuda(dw, dw + size_t(k) * k * in.c * out.c, g, x, B, in.h, in.w, in.c, out.c, geometry(i),
                                scratch_, stream_);
      if (gin) conv_backward_input_cuda(gin, g, w, B, in.h, in.w, in.c, out.c, geometry(i), stream_);
      return;
    }
    case StepKind::Relu: relu_backward_cuda(gin, g, act_[i + 1], size_t(B) * in.size(), stream_); return;
    case StepKind::MaxPool: maxpool2x2_backward_cuda(gin, g, x, B, in.h, in.w, in.c, stream_); return;
    case StepKind::Flatten:
      if (gin != g) CUDA_CHECK(cudaMemcpyAsync(gin, g, sizeof(float) * B * in.size(), cudaMemcpyDeviceToDevice, stream_));
      return;
    case StepKind::Dense:
      dense_backward_cuda(gin, dw, dw + size_t(in.c) * out.c, g, x, w, B, in.c, out.c, scratch_, stream_);
      return;
    case StepKind::Dropout:
      dropout_backward_cuda(gin, g, masks_ + size_t(B) * layout_.mask_offset[i], size_t(B) * in.size(), stream_);
      return;
    case StepKind::GlobalAvgPool: global_avgpool_backward_cuda(gin, g, B, in.h * in.w, in.c, stream_); return;
    case StepKind::Add:  // the gradient passes unchanged to both inputs (one may hold it already: in place)
      for (int k = 0; k < 2; k++)
        if (s.grad_in[k] >= 0 && s.grad_in[k] != s.grad_out)
          CUDA_CHECK(cudaMemcpyAsync(grad(s.grad_in[k]), g, sizeof(float) * B * in.size(), cudaMemcpyDeviceToDevice, stream_));
      return;
    case StepKind::GradAdd:  // (the op's inputs, whose gradient it adds, have one shape)
      add_forward_cuda(grad(s.grad_in[0]), grad(s.grad_in[0]), g, size_t(B) * in.size(), stream_);
      return;
    case StepKind::BatchNorm:
      // g is the fused ReLU's output gradient where the step runs one (its output, in place, masks it)
      batchnorm_backward_cuda(gin, dw, dw + in.c, g, s.relu ? act_[i + 2] : nullptr, x, bn_stats_ + bn_stats_offset_[i],
                              w, size_t(B) * in.h * in.w, in.c, bn_scratch_, stream_);
      return;
    default: throw CudaError(std::string("no CUDA backward for ") + step_kind_name(s.kind));
  }
}

void GpuNetwork::enqueue_backward(int B) {
  for (const Step& s : plan_.backward) backward_step(s, B);
}

void GpuNetwork::enqueue_preprocess(const uint8_t* images, const int32_t* index, bool augment, int B) {
  const Shape& s = layout_.shapes[0];
  const float scale = float(1.0 / 255.0);
  const uint8_t* coeffs = static_cast<const uint8_t*>(staging_dev_) + coeff_offset();
  if (augment && recipe_.augment == AugmentKind::Crop)
    augment_crop_cuda(act_[0], images, index, reinterpret_cast<const CropCoeffs*>(coeffs), norm_, B, s.h, s.w, s.c,
                      scale, stream_);
  else
    augment_warp_cuda(act_[0], images, index, augment ? reinterpret_cast<const WarpCoeffs*>(coeffs) : nullptr, norm_, B,
                      s.h, s.w, s.c, scale, stream_);
}

void GpuNetwork::enqueue_step(const uint8_t* images, const uint8_t* labels, const int32_t* index, bool augment,
                              int B, bool update, const OptimizerStep& o) {
  // step, corrections, indices and coefficients travel in one copy (index and coefficients only where used)
  CUDA_CHECK(cudaMemcpyAsync(staging_dev_, staging_host_, staging_bytes_, cudaMemcpyHostToDevice, stream_));
  enqueue_preprocess(images, index, augment, B);
  update_statistics_ = update;
  enqueue_forward(B, true);
  float* dlogits = grad(plan_.grad_slot[layout_.ops()]);
  const float smoothing = float(recipe_.label_smoothing);
  if (layout_.spec.head == Head::Softmax)
    softmax_ce_cuda(dlogits, result_dev_, act_.back(), nullptr, labels, index, B, layout_.logits(), 1.f / float(B),
                    smoothing, stream_);
  else sigmoid_bce_cuda(dlogits, result_dev_, act_.back(), nullptr, labels, index, B, 1.f / float(B), smoothing, stream_);
  CUDA_CHECK(cudaMemsetAsync(grad_, 0, layout_.param_count * sizeof(float), stream_));
  enqueue_backward(B);
  if (update) {
    enqueue_update(o);
    count_non_finite_cuda(result_dev_, params_, layout_.param_count, stream_);
  }
  CUDA_CHECK(cudaMemcpyAsync(result_host_, result_dev_, sizeof(LossOut), cudaMemcpyDeviceToHost, stream_));
}

// Network::update's order: clipping, the optimizer (weight decay on the kernels), the moving average
void GpuNetwork::enqueue_update(const OptimizerStep& o) {
  const size_t P = layout_.param_count;
  if (o.clip_norm > 0) clip_gradients_cuda(grad_, P, o.clip_norm, clip_scratch_, stream_);
  const uint8_t* decay = o.weight_decay != 0 ? decay_ : nullptr;
  switch (recipe_.optimizer) {
    case OptimizerKind::RmsProp:
      rmsprop_update_cuda(params_, accum_, grad_, decay, P, o.lr, o.rho, o.eps, o.weight_decay, stream_);
      break;
    case OptimizerKind::Sgd:
      sgd_update_cuda(params_, accum_, grad_, decay, P, o.lr, o.momentum, o.nesterov, o.weight_decay, stream_);
      break;
    case OptimizerKind::AdamW: {
      const auto* corrections = reinterpret_cast<const float*>(static_cast<const uint8_t*>(staging_dev_) + 8);
      adamw_update_cuda(params_, accum_, accum_ + P, grad_, decay, corrections, P, o.lr, o.beta1, o.beta2, o.eps,
                        o.weight_decay, stream_);
      break;
    }
  }
  if (ema_) ema_update_cuda(ema_, params_, P, recipe_.ema_decay, stream_);
}

StepResult GpuNetwork::finish_step(int B) {
  CUDA_CHECK(cudaStreamSynchronize(stream_));
  return {result_host_->loss_sum, result_host_->correct, size_t(result_host_->non_finite)};
}

StepResult GpuNetwork::train_step(const uint8_t* images, const uint8_t* labels, const double* augment, int B,
                                  const OptimizerStep& o) {
  CUDA_CHECK(cudaSetDevice(device_));
  ensure_batch(B);
  stage(nullptr, augment, B, &o);
  upload_batch(images, labels, B);
  enqueue_step(batch_images_, batch_labels_, nullptr, augment != nullptr, B, true, o);
  const StepResult r = finish_step(B);
  step_++;
  return r;
}

StepResult GpuNetwork::compute_gradients(const uint8_t* images, const uint8_t* labels, const double* augment, int B) {
  CUDA_CHECK(cudaSetDevice(device_));
  ensure_batch(B);
  stage(nullptr, augment, B, nullptr);
  upload_batch(images, labels, B);
  enqueue_step(batch_images_, batch_labels_, nullptr, augment != nullptr, B, false, OptimizerStep{});
  return finish_step(B);
}

StepResult GpuNetwork::train_step_indexed(const int32_t* indices, const double* augment, int B,
                                          const OptimizerStep& o) {
  CUDA_CHECK(cudaSetDevice(device_));
  if (!dataset_) throw CudaError("trainStepIndexed needs the dataset on the device: call uploadImages first");
  for (int b = 0; b < B; b++)
    if (indices[b] < 0 || indices[b] >= dataset_n_)
      throw SpecError("indices[" + std::to_string(b) + "] must be in [0, " + std::to_string(dataset_n_) + "), got " +
                      std::to_string(indices[b]));
  ensure_batch(B);
  stage(indices, augment, B, &o);
  const int32_t* d_index = reinterpret_cast<const int32_t*>(static_cast<uint8_t*>(staging_dev_) + 16);
  const StepKey key{B, augment != nullptr, o};
  if (!use_graphs_) {
    enqueue_step(dataset_, dataset_labels_, d_index, augment != nullptr, B, true, o);
  } else {
    auto it = graphs_.find(key);
    if (it == graphs_.end()) {
      // Capture the whole step once for this shape; replays differ only in what the staging copy brings.
      CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
      cudaGraph_t graph = nullptr;
      try {
        enqueue_step(dataset_, dataset_labels_, d_index, augment != nullptr, B, true, o);
      } catch (...) {
        cudaStreamEndCapture(stream_, &graph);
        if (graph) cudaGraphDestroy(graph);
        throw;
      }
      CUDA_CHECK(cudaStreamEndCapture(stream_, &graph));
      cudaGraphExec_t exec = nullptr;
      const cudaError_t e = cudaGraphInstantiate(&exec, graph, 0);
      cudaGraphDestroy(graph);
      CUDA_CHECK(e);
      it = graphs_.emplace(key, exec).first;
    }
    CUDA_CHECK(cudaGraphLaunch(static_cast<cudaGraphExec_t>(it->second), stream_));
  }
  const StepResult r = finish_step(B);
  step_++;
  return r;
}

void GpuNetwork::predict_logits(float* logits, const uint8_t* images, int B, bool ema) {
  CUDA_CHECK(cudaSetDevice(device_));
  if (ema && !ema_) throw SpecError("this trainer keeps no moving average of its weights", "ema");
  ensure_batch(B);
  upload_batch(images, nullptr, B);
  // the moving average's weights stand in for the weights while the forward pass is enqueued
  struct Swap {
    float** a;
    float** b;
    ~Swap() {
      if (a) std::swap(*a, *b);
    }
  } swap{ema ? &params_ : nullptr, &ema_};
  if (ema) std::swap(params_, ema_);
  enqueue_preprocess(batch_images_, nullptr, false, B);
  enqueue_forward(B, false);
  CUDA_CHECK(cudaMemcpyAsync(logits, act_.back(), sizeof(float) * B * layout_.logits(), cudaMemcpyDeviceToHost, stream_));
  CUDA_CHECK(cudaStreamSynchronize(stream_));
}

}  // namespace engine::ENGINE_CUDA_NS
