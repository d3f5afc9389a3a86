// A network on the CPU: the layout of a model (model/graph.h) run by its kernel plan (model/plan.h), trained one
// batch per call.
//
// The batch is split into one contiguous share per thread. A model without batch-coupled ops runs each image of a
// share forward and backward on its own (its activations stay in cache); a model with them (batch norm) runs a
// thread's whole share through each step, and the threads meet at a barrier where a step needs the statistics of
// the whole batch, which are reduced in thread order. Each thread sums its images' parameter gradients into its own
// buffer and the buffers are added in thread order before the update: same seed + same thread count = same bits.
//
// Buffers (P = parameter count):
//   params_ [P]  accum_ [P] (RMSprop accumulators)  grad_ [P] (last step's summed gradient)  state_ (batch norm's
//   running statistics); per thread: the stored tensors of its images, the gradient slots, dropout masks, pool
//   codes, bf16 copies of block inputs, dparams [P].
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "cpu/thread_pool.h"
#include "kernels/ref/ref.h"
#include "model/graph.h"
#include "model/plan.h"
#include "model/recipe.h"
#include "model/step_result.h"

namespace engine {

// Allocates on 64-byte boundaries, so that vector stores and AMX tile rows of 64 bytes never straddle two cache
// lines where a buffer's layout keeps them aligned (a straddling tile load runs at about half speed).
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
  // options from plan_options(BackendKind::Cpu, ...); float or double as T says
  Network(const Layout& layout, const PlanOptions& options, const Recipe& recipe, uint64_t seed);

  const Layout& layout() const { return layout_; }
  const Plan& plan() const { return plan_; }
  size_t param_count() const { return params_.size(); }
  size_t state_count() const { return state_.size(); }
  size_t image_size() const { return layout_.image_size(); }
  int threads() const { return pool_.size(); }

  T* params() { return params_.data(); }
  const Recipe& recipe() const { return recipe_; }
  // the optimizer's state, state_buffers() buffers of param_count() each (RMSprop's accumulators first)
  T* accumulators() { return accum_.data(); }
  size_t accumulator_count() const { return accum_.size(); }
  // the moving average of the weights (empty where the recipe keeps none)
  T* ema() { return ema_.data(); }
  size_t ema_count() const { return ema_.size(); }
  T* state() { return state_.data(); }
  const T* gradients() const { return grad_.data(); }
  uint64_t seed() const { return seed_; }
  uint64_t step() const { return step_; }
  void set_step(uint64_t step) { step_ = step; }

  // One training step on B images [B, H, W, C] uint8 with labels [B] (class indices): preprocess (augment [B,4] =
  // shear radians, zoom rows, zoom cols, flip; or null for plain scaling), forward, loss, backward, RMSprop update.
  // With indices [B], images and labels are a whole dataset [N, H, W, C] and [N], and the batch is the images
  // they pick (read in place: no copy of the batch).
  StepResult train_step(const uint8_t* images, const uint8_t* labels, const double* augment, int B,
                        const OptimizerStep& optimizer, const int32_t* indices = nullptr);

  // Loss and gradient (into gradients()) of the mean loss over the batch, with the dropout masks of the current
  // step, without updating anything: for gradient checks.
  StepResult compute_gradients(const uint8_t* images, const uint8_t* labels, const double* augment, int B);

  // Inference: logits [B, layout().logits()] of uint8 images, no dropout, batch norm by its running statistics;
  // with ema, by the moving average of the weights.
  void predict_logits(T* logits, const uint8_t* images, int B, bool ema = false);

  LayerTimes layer_times() const;
  void reset_layer_times();

 private:
  struct Workspace {
    int capacity = 0;               // images the buffers below hold
    AlignedVector<T> storage;       // stored tensors, each [capacity, shape] from a 64-byte boundary
    std::vector<T*> act;            // [tensors]
    AlignedVector<T> grads;         // [slots][capacity, slot size]
    std::vector<T> mask;            // [capacity, mask size] dropout masks, one region per dropout op
    std::vector<uint8_t> code;      // [capacity, code size] pool codes of the blocks that keep them
    AlignedVector<uint16_t> act16;  // [capacity, bf16 size] bf16 inputs of the blocks on tiles that take them
    AlignedVector<T> padded;        // [capacity, padded size] zero-padded inputs of 'same' convolutions
    AlignedVector<T> padded_grad;   // [capacity, padded gradient size] a padded input gradient, before its crop
    std::vector<T> dparams;         // [P] this thread's gradient sum
    LayerTimes times;
    // the first image of the chunk the forward steps run on (run_coupled takes a thread's share through a forward
    // phase in chunks of images); act() points there
    size_t n0 = 0;
  };

  void ensure_capacity(Workspace& ws, int images);
  // the step's rearranged kernels (Plan::packing): thread t of nt prepares its part, the larger ones shared out
  // first, each to the thread with the least so far (every thread computes the same split)
  void prepare_step_kernels(int t = 0, int nt = 1);
  void prepare_packing(const PackedWeights& pw, std::vector<float>& scratch);
  void preprocess(T* out, const uint8_t* image, const double* augment) const;
  T* grad(Workspace& ws, int slot) const;
  // tensor t from the workspace's chunk (its image n0)
  T* act(const Workspace& ws, size_t t) const { return ws.act[t] + ws.n0 * layout_.shapes[t].size(); }
  // image n's bf16 copy of a tensor (kept by blocks on tiles for the next block), n counted from the chunk's n0
  uint16_t* bf16_copy(Workspace& ws, int tensor, int n) const;
  // convolutions: 3x3 valid of stride 1 (the seed's kernels run on the input itself); the geometry of any other;
  // the input the kernels see ('same': the zero-padded copy); the copy and the padded input gradient's scratch
  bool conv3x3_valid(size_t op) const;
  // a Winograd step on a 'same' convolution with no padded copy (the plan's choice): its kernels read the border
  bool winograd_same(const Step& s) const;
  ref::ConvGeom geometry(size_t op) const;
  Shape kernel_input(const Step& s) const;
  T* padded_input(const Step& s, Workspace& ws) const;
  T* padded_gradient(Workspace& ws) const;
  const T* pad_input(const Step& s, Workspace& ws, const T* x, int N) const;
  void crop_gradient(const Step& s, T* din, const T* padded, int N) const;
  void forward_step(const Step& s, Workspace& ws, int N, bool train, uint64_t step, int image0);
  // a batch norm step's normalising pass over N images with these statistics (and the add and ReLU it runs)
  // train: keeps the ReLU's bits where the plan says (Step::relu_mask), for the backward
  void batchnorm_pass(const Step& s, Workspace& ws, int N, const double* mean, const double* invstd, bool train) const;
  // the region of the code buffer at the plan's offset, `bytes` an image, from the workspace's chunk (its image
  // n0): a block's pool codes, a batch norm's ReLU bits, a max-pool's codes
  uint8_t* codes(Workspace& ws, size_t offset, size_t bytes) const;
  // a batch norm step's ReLU bits of the workspace's chunk (its image n0), null where the plan keeps none
  uint8_t* relu_mask(const Step& s, Workspace& ws) const;
  // a max-pool step's codes (Step::pool_code) of the chunk's first image; pool: the max-pool's op
  uint8_t* pool_code(const Step& s, Workspace& ws, size_t pool) const;
  void backward_step(const Step& s, Workspace& ws, int N);
  // forward, loss and backward of images [b0, b0 + N) of the batch (N at most the workspace's capacity)
  void run_images(Workspace& ws, const uint8_t* images, const uint8_t* labels, const double* augment, int B,
                  const int32_t* indices, int b0, int N, uint64_t step, StepResult* result);
  // the optimizer's update of the weights from grad_ (with clipping, weight decay and the moving average)
  void update(const OptimizerStep& o);
  void loss(Workspace& ws, const uint8_t* labels, const int32_t* indices, int B, int b0, int N, StepResult* result);
  // a batch of a model with batch-coupled ops: each thread's share through each step, meeting at the batch norms
  void run_coupled(const uint8_t* images, const uint8_t* labels, const double* augment, int B, const int32_t* indices,
                   uint64_t step, bool update_statistics, std::vector<StepResult>& part, std::vector<double>& busy);
  // update_statistics: batch norm's running statistics follow this batch (training steps, not gradient checks)
  StepResult run_batch(const uint8_t* images, const uint8_t* labels, const double* augment, int B,
                       const int32_t* indices, bool update_statistics);
  const uint32_t* packed(const Step& s) const { return packed_words_.data() + plan_.packing[s.packed].offset; }
  const float* packed_floats(const Step& s) const { return packed_floats_.data() + plan_.packing[s.packed].offset; }
  // a Winograd step's transformed kernel, v or (flipped) vflip, in its packing (winograd_positions)
  const float* winograd_kernel(const Step& s, bool flipped) const {
    const PackedWeights& pw = plan_.packing[size_t(s.packed)];
    const size_t pair = size_t(layout_.in(size_t(pw.op)).c) * layout_.out(size_t(pw.op)).c;
    return packed_floats(s) + (9 + (flipped ? winograd_positions(pw.kind) : 0)) * pair;
  }

  Layout layout_;
  Plan plan_;
  Recipe recipe_;
  uint64_t seed_;
  uint64_t step_ = 0;
  std::vector<T> params_, accum_, grad_, state_, ema_;
  std::vector<T> mean_, inv_std_;  // the input normalisation per channel (empty: none)
  AlignedVector<uint32_t> packed_words_;  // bf16 and AMX kernels, each from a 64-byte boundary
  std::vector<float> packed_floats_;      // flipped and Winograd-transformed kernels
  // [threads]: a kernel's fp32 transforms on the way to its WinogradBf16 packing
  std::vector<std::vector<float>> winograd_scratch_;
  std::vector<Workspace> ws_;
  // per batch-norm op: the batch's mean and 1 / sqrt(variance + epsilon), per channel
  struct BatchStatistics {
    std::vector<double> mean, invstd;
  };
  std::map<size_t, BatchStatistics> batch_stats_;
  double update_seconds_ = 0, kernels_seconds_ = 0, idle_seconds_ = 0, step_seconds_ = 0;
  ThreadPool pool_;
};

extern template class Network<float>;
extern template class Network<double>;

}  // namespace engine
