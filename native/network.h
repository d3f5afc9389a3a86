// A sequential binary classifier built from a layer spec (data, not code), trained one batch per call.
//
// Every image of a batch runs forward and backward on its own (no layer mixes images), so the batch is split
// into one contiguous chunk per thread; each thread sums its images' gradients into its own buffer and the
// buffers are added in thread order before the RMSprop update. Same seed + same thread count = same bits.
//
// Buffers (P = parameter count):
//   params_ [P]  accum_ [P] (RMSprop accumulators)  grad_ [P] (last step's summed gradient)
//   per thread: activations of one image, two gradient buffers of the largest activation, dparams [P]
// Parameter order: for each conv/dense layer in spec order, its kernel then its bias (layouts in kernels_ref.h).
#pragma once

#include <cstdint>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels.h"
#include "thread_pool.h"

namespace engine {

enum class LayerType { Conv3x3, Relu, MaxPool2x2, Flatten, Dense, Dropout };

struct LayerSpec {
  LayerType type;
  int units = 0;      // Conv3x3: filters; Dense: output units
  double rate = 0.0;  // Dropout: probability of dropping a unit
};

struct NetSpec {
  int height = 0, width = 0, channels = 0;  // input image, HWC
  std::vector<LayerSpec> layers;            // the last layer must be Dense with 1 unit (the logit)
};

struct Shape {
  int h = 0, w = 0, c = 0;
  size_t size() const { return size_t(h) * w * c; }
};

struct ParamInfo {
  std::string name;          // e.g. "conv1.kernel", "dense2.bias"
  std::vector<int> shape;    // conv kernel [3,3,Cin,Cout], dense kernel [In,Out], bias [Out]
  size_t offset = 0, size = 0;
};

// Seconds spent per layer since the last reset, summed over images and averaged over threads (threads run
// side by side, so this approximates wall time). For the benchmark's per-layer table.
struct LayerTimes {
  std::vector<double> forward, backward;  // [layers]
  double preprocess = 0;                  // augmentation warp or scaling
  double update = 0;                      // summing the threads' gradients + RMSprop (one thread)
  double kernels = 0;                     // rearranging the kernels for the step (prepare_step_kernels, one thread)
  double idle = 0;                        // threads waiting for the batch's slowest thread (mean over threads)
  double step = 0;                        // wall time of the native steps, all of the above included
};

struct StepResult {
  double loss_sum = 0;  // summed clipped binary cross-entropy over the batch
  int correct = 0;      // images whose P(class 1) > 0.5 agrees with the label
  size_t non_finite_params = 0;  // train_step: NaN/Inf parameters after the update (a diverged step)
};

// An error in the spec or the arguments; the addon turns it into a JS RangeError whose message starts with the
// option at fault (field: "spec", or "precision" / "conv" for the Trainer's options of those names).
struct SpecError : std::invalid_argument {
  explicit SpecError(const std::string& what, const char* field = "spec") : std::invalid_argument(what), field(field) {}
  const char* field;
};

// Allocates on 64-byte boundaries: the kernels' vector loads and stores and AMX tile rows of 64 bytes then
// never straddle two cache lines where a buffer's layout keeps them aligned (a straddling tile load runs at
// about half speed; measured, conv2's bf16 forward: 11-12 ms an epoch aligned, 15 ms where malloc's 16-byte
// alignment fell badly).
template <typename T>
struct Aligned64 {
  using value_type = T;
  Aligned64() = default;
  template <typename U>
  Aligned64(const Aligned64<U>&) {}
  T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(64))); }
  void deallocate(T* p, size_t) { ::operator delete(p, std::align_val_t(64)); }
  template <typename U>
  bool operator==(const Aligned64<U>&) const { return true; }
  template <typename U>
  bool operator!=(const Aligned64<U>&) const { return false; }
};
template <typename T>
using AlignedVector = std::vector<T, Aligned64<T>>;

template <typename T>
class Network {
 public:
  // precision Bf16 (float networks on CPUs with AVX512-BF16 and isa Avx512 only) runs the convolutions with
  // bf16 operands; a SpecError otherwise. conv Winograd (float networks in fp32 only, else a SpecError) runs the
  // convolutions that winograd_fits with Winograd F(2x2, 3x3) and the others direct.
  Network(const NetSpec& spec, uint64_t seed, int threads, Isa isa, Precision precision = Precision::Fp32,
          ConvAlgorithm conv = ConvAlgorithm::Direct);

  const NetSpec& spec() const { return spec_; }
  const std::vector<ParamInfo>& param_info() const { return params_info_; }
  size_t param_count() const { return params_.size(); }
  size_t image_size() const { return shapes_[0].size(); }
  int threads() const { return pool_.size(); }
  Isa isa() const { return isa_; }
  Precision precision() const { return precision_; }
  ConvAlgorithm conv_algorithm() const { return conv_; }
  Bf16Kernels bf16_kernels() const { return bf16_kernels_; }

  T* params() { return params_.data(); }
  T* accumulators() { return accum_.data(); }
  const T* gradients() const { return grad_.data(); }
  uint64_t seed() const { return seed_; }
  uint64_t step() const { return step_; }
  void set_step(uint64_t step) { step_ = step; }

  // One training step on B images [B, H, W, C] uint8 with labels [B] in {0,1}: preprocess (augment [B,4] =
  // shear radians, zoom rows, zoom cols, flip; or null for plain scaling), forward, backward, RMSprop update.
  // With indices [B], images and labels are a whole dataset [N, H, W, C] and [N], and the batch is the images
  // they pick (read in place: no copy of the batch).
  StepResult train_step(const uint8_t* images, const uint8_t* labels, const double* augment, int B, double lr,
                        double rho, double eps, const int32_t* indices = nullptr);

  // Loss and gradient (into grad_) of the mean loss over the batch, with the dropout masks of the current
  // step, without updating anything: for gradient checks.
  StepResult compute_gradients(const uint8_t* images, const uint8_t* labels, const double* augment, int B);

  // Inference: logits [B] of uint8 images, no dropout.
  void predict_logits(T* logits, const uint8_t* images, int B);

  LayerTimes layer_times() const;
  void reset_layer_times();

 private:
  struct Workspace {
    AlignedVector<T> storage;  // every non-aliased activation of one image, each from a 64-byte boundary
    std::vector<T*> act;       // act[i] = input of layer i; act[L] = logit
    AlignedVector<T> grad_a, grad_b;
    std::vector<T> mask;       // dropout masks, one region per dropout layer
    std::vector<uint8_t> code; // pool codes [H/2, W/2, C] of the blocks that keep them, at code_offset_
    AlignedVector<uint16_t> act16;  // bf16 inputs of the blocks on tiles that take them, at act16_offset_
    std::vector<T> dparams;    // [P] this thread's gradient sum
    LayerTimes times;
  };

  bool bf16() const { return precision_ == Precision::Bf16; }
  // Kernels rearranged once per step for all threads and images: bf16 forward (and input-gradient) kernels at
  // packed_[packed_offset_[i]] (forward) and packed_[packed_offset_[i] + packed_kernel_size] (input gradient);
  // fp32 flipped input-gradient kernels at flipped_[flipped_offset_[i]]; Winograd-transformed kernels at
  // winograd_[winograd_offset_[i]] (forward, [16][Cin][Cout]) and right after it (input gradient, [16][Cout][Cin]);
  // the AMX first block's narrow kernel at packed_[packed_offset_[first_param_layer_]] (amx_first_block()).
  bool bf16_forward(size_t layer) const;
  bool amx_first_block() const;
  bool amx_pooled_block(size_t layer) const;
  bool amx_block(size_t layer) const;
  bool winograd(size_t layer) const;
  void prepare_step_kernels();
  void build_shapes();
  void init_params();
  void preprocess(T* out, const uint8_t* image, const double* augment) const;
  void forward(Workspace& ws, bool train, uint64_t step, int image_index);
  void backward(Workspace& ws, T dlogit);
  StepResult run_batch(const uint8_t* images, const uint8_t* labels, const double* augment, int B,
                       const int32_t* indices = nullptr);

  NetSpec spec_;
  uint64_t seed_;
  uint64_t step_ = 0;
  Isa isa_;
  Precision precision_;
  ConvAlgorithm conv_;
  Bf16Kernels bf16_kernels_ = Bf16Kernels::Avx512Bf16;  // with precision Bf16: detect_bf16_kernels()
  std::vector<Shape> shapes_;          // shapes_[i] = input shape of layer i; shapes_[L] = output
  std::vector<size_t> param_offset_;   // per layer: offset of its kernel (bias follows), or SIZE_MAX
  size_t first_param_layer_ = 0;       // backward stops here
  // A ReLU right after a conv runs inside the conv's forward; one right before a max-pool runs inside the
  // pool's backward. These flag such ReLU layers (per layer index).
  std::vector<bool> relu_in_conv_forward_, relu_in_pool_backward_;
  // The first trained layer is a conv followed by ReLU and max-pool: those three run as one block that never
  // stores the conv's full-resolution output, only the pool's and a 1-byte code per pooled value
  // (kernels.h conv3x3_relu_maxpool_forward). The ReLU's and the pool's own outputs are then unused.
  bool first_block_fused_ = false;
  // per conv layer: offset into Workspace::code of the code of the max-pool two layers on, where the block keeps
  // one (the fused first block, amx_pooled_block), else SIZE_MAX
  std::vector<size_t> code_offset_;
  // per conv layer: offset into Workspace::act16 of its bf16 input (amx_block_input_size), where the block before
  // it ran on tiles and writes it, else SIZE_MAX
  std::vector<size_t> act16_offset_;
  uint16_t* block_input16(Workspace& ws, size_t layer) const {
    if (layer >= act16_offset_.size() || act16_offset_[layer] == SIZE_MAX) return nullptr;
    return ws.act16.data() + act16_offset_[layer];
  }
  std::vector<size_t> mask_offset_;    // per dropout layer: offset into Workspace::mask
  size_t mask_size_ = 0;
  std::vector<ParamInfo> params_info_;
  std::vector<T> params_, accum_, grad_;
  AlignedVector<uint32_t> packed_;  // each kernel from a 64-byte boundary (their sizes are multiples of 16)
  std::vector<size_t> packed_offset_;
  std::vector<float> flipped_;
  std::vector<size_t> flipped_offset_;
  std::vector<float> winograd_;
  std::vector<size_t> winograd_offset_;
  std::vector<Workspace> ws_;
  double update_seconds_ = 0, kernels_seconds_ = 0, idle_seconds_ = 0, step_seconds_ = 0;
  ThreadPool pool_;
};

extern template class Network<float>;
extern template class Network<double>;

}  // namespace engine
