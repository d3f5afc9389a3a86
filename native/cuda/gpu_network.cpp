// GpuNetwork: see gpu_network.h. Host code (compiled by the C++ compiler) that owns the device buffers and
// enqueues the launchers of kernels_cuda.h on one stream, mirroring Network<float>'s forward and backward.
#include "gpu_network.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "../rng.h"
#include "check.h"  // the CUDA runtime (or, under ENGINE_CUDA_EMULATION, its CPU emulation)

namespace engine::cuda {

namespace {

constexpr size_t kNoParams = size_t(-1);

bool aliases_input(LayerType t) { return t == LayerType::Relu || t == LayerType::Flatten; }

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

GpuNetwork::GpuNetwork(const NetSpec& spec, uint64_t seed, int device) : spec_(spec), seed_(seed), device_(device) {
  // The CPU network checks the spec, lays out the parameters and draws the Glorot init: a GPU run starts from
  // exactly the weights of a CPU run with the same seed.
  Network<float> twin(spec, seed, 1, Isa::Scalar);
  params_info_ = twin.param_info();
  param_count_ = twin.param_count();

  // Shapes, parameter offsets and dropout regions, as Network::build_shapes derives them.
  Shape s{spec.height, spec.width, spec.channels};
  shapes_ = {s};
  size_t params = 0;
  for (const LayerSpec& l : spec.layers) {
    param_offset_.push_back(kNoParams);
    mask_offset_.push_back(kNoParams);
    switch (l.type) {
      case LayerType::Conv3x3:
        param_offset_.back() = params;
        params += size_t(9) * s.c * l.units + l.units;
        s = {s.h - 2, s.w - 2, l.units};
        break;
      case LayerType::MaxPool2x2: s = {s.h / 2, s.w / 2, s.c}; break;
      case LayerType::Flatten: s = {1, 1, int(s.size())}; break;  // the twin has checked that it fits
      case LayerType::Dense:
        param_offset_.back() = params;
        params += size_t(s.c) * l.units + l.units;
        s = {1, 1, l.units};
        break;
      case LayerType::Dropout:
        mask_offset_.back() = mask_size_;
        mask_size_ += s.size();
        break;
      case LayerType::Relu: break;
    }
    shapes_.push_back(s);
  }
  if (params != param_count_) throw SpecError("internal: GPU and CPU parameter layouts disagree");
  for (size_t i = 0; i < spec.layers.size(); i++)  // a dense layer's inputs are rows of its weight-gradient GEMM
    if (spec.layers[i].type == LayerType::Dense && shapes_[i].c > kMaxGemmSize)
      throw SpecError("layer " + std::to_string(i) + " (dense): " + std::to_string(shapes_[i].c) +
                      " inputs pass the GPU GEMM's int indices (at most " + std::to_string(kMaxGemmSize) + ")");
  for (const Shape& sh : shapes_) largest_ = std::max(largest_, sh.size());
  while (param_offset_[first_param_layer_] == kNoParams) first_param_layer_++;
  const char* graphs = std::getenv("ENGINE_CUDA_GRAPHS");
  use_graphs_ = !(graphs && std::strcmp(graphs, "0") == 0);
#if ENGINE_CUDA_EMULATION
  use_graphs_ = false;  // the emulator has no graphs
#endif

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
    device_alloc(&params_, param_count_);
    device_alloc(&accum_, param_count_);
    device_alloc(&grad_, param_count_);
    CUDA_CHECK(cudaMemcpy(params_, twin.params(), param_count_ * sizeof(float), cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemset(accum_, 0, param_count_ * sizeof(float)));
    CUDA_CHECK(cudaMemset(grad_, 0, param_count_ * sizeof(float)));
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
  device_free(grad_a_);
  device_free(grad_b_);
  device_free(masks_);
  device_free(scratch_);
  device_free(batch_images_);
  device_free(batch_labels_);
  device_free(staging_dev_);
  if (staging_host_) cudaFreeHost(staging_host_);
  staging_host_ = nullptr;
  capacity_ = 0;
}

void GpuNetwork::ensure_batch(int B) {
  if (B <= capacity_) return;
  for (size_t i = 0; i < spec_.layers.size(); i++)
    if (spec_.layers[i].type == LayerType::Conv3x3 && (long long)B * shapes_[i].h * shapes_[i].w > kMaxGemmSize)
      throw SpecError("a batch of " + std::to_string(B) + " images is too large for layer " + std::to_string(i) +
                      " (conv3x3) on the GPU: its " + std::to_string((long long)B * shapes_[i].h * shapes_[i].w) +
                      " input pixels pass the GEMM's int indices (at most " + std::to_string(kMaxGemmSize) +
                      "); use a smaller batch size");
  CUDA_CHECK(cudaStreamSynchronize(stream_));
  clear_graphs();  // they hold the old pointers
  free_batch();
  try {
    const size_t L = spec_.layers.size();
    act_.assign(L + 1, nullptr);
    for (size_t i = 0; i <= L; i++) {
      if (i > 0 && aliases_input(spec_.layers[i - 1].type)) {
        act_[i] = act_[i - 1];
      } else {
        act_alloc_.push_back(nullptr);
        device_alloc(&act_alloc_.back(), size_t(B) * shapes_[i].size());
        act_[i] = act_alloc_.back();
      }
    }
    device_alloc(&grad_a_, size_t(B) * largest_);
    device_alloc(&grad_b_, size_t(B) * largest_);
    device_alloc(&masks_, size_t(B) * mask_size_);
    size_t scratch = 0;
    for (size_t i = 0; i < L; i++) {
      const Shape &in = shapes_[i], &out = shapes_[i + 1];
      if (spec_.layers[i].type == LayerType::Conv3x3)
        scratch = std::max(scratch, conv3x3_backward_weight_scratch(B, in.h, in.w, in.c, out.c));
      if (spec_.layers[i].type == LayerType::Dense)
        scratch = std::max(scratch, dense_backward_scratch(B, in.c, out.c));
    }
    device_alloc(&scratch_, scratch);
    device_alloc(&batch_images_, size_t(B) * image_size());
    device_alloc(&batch_labels_, size_t(B));
    staging_bytes_ = 8 + align8(4 * size_t(B)) + sizeof(WarpCoeffs) * size_t(B);
    CUDA_CHECK(cudaMallocHost(&staging_host_, staging_bytes_));
    CUDA_CHECK(cudaMalloc(&staging_dev_, staging_bytes_));
    capacity_ = B;
  } catch (...) {
    free_batch();
    throw;
  }
}

void GpuNetwork::get_params(float* out) {
  CUDA_CHECK(cudaSetDevice(device_));
  CUDA_CHECK(cudaMemcpy(out, params_, param_count_ * sizeof(float), cudaMemcpyDeviceToHost));
}
void GpuNetwork::set_params(const float* in) {
  CUDA_CHECK(cudaSetDevice(device_));
  CUDA_CHECK(cudaMemcpy(params_, in, param_count_ * sizeof(float), cudaMemcpyHostToDevice));
}
void GpuNetwork::get_accumulators(float* out) {
  CUDA_CHECK(cudaSetDevice(device_));
  CUDA_CHECK(cudaMemcpy(out, accum_, param_count_ * sizeof(float), cudaMemcpyDeviceToHost));
}
void GpuNetwork::set_accumulators(const float* in) {
  CUDA_CHECK(cudaSetDevice(device_));
  CUDA_CHECK(cudaMemcpy(accum_, in, param_count_ * sizeof(float), cudaMemcpyHostToDevice));
}
void GpuNetwork::get_gradients(float* out) {
  CUDA_CHECK(cudaSetDevice(device_));
  CUDA_CHECK(cudaMemcpy(out, grad_, param_count_ * sizeof(float), cudaMemcpyDeviceToHost));
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

// Writes step, indices and warp coefficients into the pinned staging buffer (read by the next enqueued copy).
void GpuNetwork::stage(const int32_t* indices, const double* augment, int B) {
  auto* base = static_cast<uint8_t*>(staging_host_);
  const uint64_t step = step_;
  std::memcpy(base, &step, 8);
  if (indices) std::memcpy(base + 8, indices, 4 * size_t(B));
  auto* coeffs = reinterpret_cast<WarpCoeffs*>(base + 8 + align8(4 * size_t(capacity_)));
  if (augment)
    for (int b = 0; b < B; b++) {
      const double* a = augment + 4 * size_t(b);
      coeffs[b] = warp_coeffs(a[0], a[1], a[2], a[3] != 0.0);
    }
}

void GpuNetwork::upload_batch(const uint8_t* images, const uint8_t* labels, int B) {
  CUDA_CHECK(cudaMemcpyAsync(batch_images_, images, size_t(B) * image_size(), cudaMemcpyHostToDevice, stream_));
  if (labels) CUDA_CHECK(cudaMemcpyAsync(batch_labels_, labels, size_t(B), cudaMemcpyHostToDevice, stream_));
}

void GpuNetwork::enqueue_forward(int B, bool train) {
  const uint64_t* d_step = static_cast<const uint64_t*>(staging_dev_);
  bool relu_fused = false;
  for (size_t i = 0; i < spec_.layers.size(); i++) {
    const LayerSpec& l = spec_.layers[i];
    const Shape &in = shapes_[i], &out = shapes_[i + 1];
    float* x = act_[i];
    float* y = act_[i + 1];
    const float* w = params_ + (param_offset_[i] == kNoParams ? 0 : param_offset_[i]);
    const bool next_is_relu = i + 1 < spec_.layers.size() && spec_.layers[i + 1].type == LayerType::Relu;
    switch (l.type) {
      case LayerType::Conv3x3:
        // The following ReLU works in place on this output, so it is folded into the store.
        conv3x3_forward_cuda(y, x, w, w + size_t(9) * in.c * out.c, B, in.h, in.w, in.c, out.c, next_is_relu,
                             stream_);
        relu_fused = next_is_relu;
        continue;
      case LayerType::Relu:
        if (!relu_fused) relu_forward_cuda(y, x, size_t(B) * in.size(), stream_);
        break;
      case LayerType::MaxPool2x2: maxpool2x2_forward_cuda(y, x, B, in.h, in.w, in.c, stream_); break;
      case LayerType::Flatten: break;
      case LayerType::Dense:
        dense_forward_cuda(y, x, w, w + size_t(in.c) * out.c, B, in.c, out.c, stream_);
        break;
      case LayerType::Dropout:
        if (train)
          dropout_forward_cuda(y, masks_ + size_t(B) * mask_offset_[i], x, B, in.size(), l.rate, seed_, d_step, i,
                               stream_);
        else
          CUDA_CHECK(cudaMemcpyAsync(y, x, sizeof(float) * B * in.size(), cudaMemcpyDeviceToDevice, stream_));
        break;
    }
    relu_fused = false;
  }
}

void GpuNetwork::enqueue_backward(int B) {
  float* g = grad_a_;    // gradient of the current layer's output [B, ...]; starts as dlogit [B]
  float* gin = grad_b_;  // gradient of its input
  for (size_t i = spec_.layers.size(); i-- > first_param_layer_;) {
    const LayerSpec& l = spec_.layers[i];
    const Shape &in = shapes_[i], &out = shapes_[i + 1];
    const bool need_din = i > first_param_layer_;
    const float* x = act_[i];
    const size_t po = param_offset_[i] == kNoParams ? 0 : param_offset_[i];
    const float* w = params_ + po;
    float* dw = grad_ + po;
    switch (l.type) {
      case LayerType::Conv3x3:
        conv3x3_backward_weight_cuda(dw, dw + size_t(9) * in.c * out.c, g, x, B, in.h, in.w, in.c, out.c, scratch_,
                                     stream_);
        if (need_din) conv3x3_backward_input_cuda(gin, g, w, B, in.h, in.w, in.c, out.c, stream_);
        break;
      case LayerType::Relu:
        relu_backward_cuda(g, g, act_[i + 1], size_t(B) * in.size(), stream_);
        continue;  // in place
      case LayerType::MaxPool2x2: maxpool2x2_backward_cuda(gin, g, x, B, in.h, in.w, in.c, stream_); break;
      case LayerType::Flatten: continue;
      case LayerType::Dense:
        dense_backward_cuda(need_din ? gin : nullptr, dw, dw + size_t(in.c) * out.c, g, x, w, B, in.c, out.c, scratch_,
                            stream_);
        break;
      case LayerType::Dropout:
        dropout_backward_cuda(gin, g, masks_ + size_t(B) * mask_offset_[i], size_t(B) * in.size(), stream_);
        break;
    }
    std::swap(g, gin);
  }
}

void GpuNetwork::enqueue_step(const uint8_t* images, const uint8_t* labels, const int32_t* index, bool augment,
                              int B, bool update, double lr, double rho, double eps) {
  auto* dev = static_cast<uint8_t*>(staging_dev_);
  // step, indices and coefficients travel in one copy (index and coefficients only where used)
  CUDA_CHECK(cudaMemcpyAsync(staging_dev_, staging_host_, staging_bytes_, cudaMemcpyHostToDevice, stream_));
  const auto* coeffs = reinterpret_cast<const WarpCoeffs*>(dev + 8 + align8(4 * size_t(capacity_)));
  const int H = spec_.height, W = spec_.width, C = spec_.channels;
  augment_warp_cuda(act_[0], images, index, augment ? coeffs : nullptr, B, H, W, C, float(1.0 / 255.0), stream_);
  enqueue_forward(B, true);
  sigmoid_bce_cuda(grad_a_, result_dev_, act_.back(), nullptr, labels, index, B, 1.f / float(B), stream_);
  CUDA_CHECK(cudaMemsetAsync(grad_, 0, param_count_ * sizeof(float), stream_));
  enqueue_backward(B);
  if (update) {
    rmsprop_update_cuda(params_, accum_, grad_, param_count_, lr, rho, eps, stream_);
    count_non_finite_cuda(result_dev_, params_, param_count_, stream_);
  }
  CUDA_CHECK(cudaMemcpyAsync(result_host_, result_dev_, sizeof(LossOut), cudaMemcpyDeviceToHost, stream_));
}

StepResult GpuNetwork::finish_step(int B) {
  CUDA_CHECK(cudaStreamSynchronize(stream_));
  return {result_host_->loss_sum, result_host_->correct, size_t(result_host_->non_finite)};
}

StepResult GpuNetwork::train_step(const uint8_t* images, const uint8_t* labels, const double* augment, int B,
                                  double lr, double rho, double eps) {
  CUDA_CHECK(cudaSetDevice(device_));
  ensure_batch(B);
  stage(nullptr, augment, B);
  upload_batch(images, labels, B);
  enqueue_step(batch_images_, batch_labels_, nullptr, augment != nullptr, B, true, lr, rho, eps);
  const StepResult r = finish_step(B);
  step_++;
  return r;
}

StepResult GpuNetwork::compute_gradients(const uint8_t* images, const uint8_t* labels, const double* augment, int B) {
  CUDA_CHECK(cudaSetDevice(device_));
  ensure_batch(B);
  stage(nullptr, augment, B);
  upload_batch(images, labels, B);
  enqueue_step(batch_images_, batch_labels_, nullptr, augment != nullptr, B, false, 0, 0, 0);
  return finish_step(B);
}

StepResult GpuNetwork::train_step_indexed(const int32_t* indices, const double* augment, int B, double lr, double rho,
                                          double eps) {
  CUDA_CHECK(cudaSetDevice(device_));
  if (!dataset_) throw CudaError("trainStepIndexed needs the dataset on the device: call uploadImages first");
  for (int b = 0; b < B; b++)
    if (indices[b] < 0 || indices[b] >= dataset_n_)
      throw SpecError("indices[" + std::to_string(b) + "] must be in [0, " + std::to_string(dataset_n_) + "), got " +
                      std::to_string(indices[b]));
  ensure_batch(B);
  stage(indices, augment, B);
  const int32_t* d_index = reinterpret_cast<const int32_t*>(static_cast<uint8_t*>(staging_dev_) + 8);
  const StepKey key{B, augment != nullptr, lr, rho, eps};
  if (!use_graphs_) {
    enqueue_step(dataset_, dataset_labels_, d_index, augment != nullptr, B, true, lr, rho, eps);
  } else {
    auto it = graphs_.find(key);
    if (it == graphs_.end()) {
      // Capture the whole step once for this shape; replays differ only in what the staging copy brings.
      CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
      cudaGraph_t graph = nullptr;
      try {
        enqueue_step(dataset_, dataset_labels_, d_index, augment != nullptr, B, true, lr, rho, eps);
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

void GpuNetwork::predict_logits(float* logits, const uint8_t* images, int B) {
  CUDA_CHECK(cudaSetDevice(device_));
  ensure_batch(B);
  upload_batch(images, nullptr, B);
  const int H = spec_.height, W = spec_.width, C = spec_.channels;
  augment_warp_cuda(act_[0], batch_images_, nullptr, nullptr, B, H, W, C, float(1.0 / 255.0), stream_);
  enqueue_forward(B, false);
  CUDA_CHECK(cudaMemcpyAsync(logits, act_.back(), sizeof(float) * B, cudaMemcpyDeviceToHost, stream_));
  CUDA_CHECK(cudaStreamSynchronize(stream_));
}

}  // namespace engine::cuda
