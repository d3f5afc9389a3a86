// A model's layout (model/graph.h) on one CUDA device, run by its plan (model/plan.h, backend cuda) with its recipe
// (model/recipe.h): the same parameter layout, Glorot init (from the same seed), dropout masks, augmentation,
// batch norm, losses and optimizers as the CPU network, with the whole batch in each kernel instead of one image
// per thread.
//
// Device buffers (P = parameter count, B = batch capacity, S(t) = size of tensor t for one image):
//   params_ [P]  accum_ [state_buffers * P] (the optimizer's state: RMSprop's accumulator, SGD's velocity, AdamW's
//   two moments)  grad_ [P]  ema_ [P] (the weights' moving average, where the recipe keeps one)  state_ (batch
//   norm's running statistics)  decay_ [P] (1 on the kernels: where weight decay applies)  norm_ [2C] (the input
//   normalisation: mean, 1 / std)  bn_stats_ (double: each batch norm's mean and 1 / sqrt(var + eps) of the step)
//   act_[t] [B, S(t)] (stored where the plan says, aliases shared)
//   grads_ [slots][B * slot size] (the plan's gradient slots)  masks_ [B, sum of dropout sizes]
//   scratch_ (weight-gradient slice sums)  bn_scratch_, clip_scratch_ (double: batch norm's and the gradient
//   norm's slice sums)
//   input staging: images [B, H, W, C] u8, labels [B]; the uploaded dataset [n, H, W, C] u8 and labels [n]
// Per step only the batch's indices, augmentation coefficients, the step counter and AdamW's bias corrections go
// up (one pinned buffer) and {loss, correct} comes back; the indexed step is captured in a CUDA graph per (B,
// augment, optimizer settings) and replayed (ENGINE_CUDA_GRAPHS=0 turns that off).
// Plain C++ header: the addon's host code includes it; only the .cu files are compiled by nvcc. The same
// source also runs on the CPU emulator (emulate.h), for tests where no GPU exists.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "backend/backend.h"
#include "cuda/kernels_cuda.h"
#include "model/graph.h"
#include "model/plan.h"
#include "model/recipe.h"
#include "model/step_result.h"

namespace engine::ENGINE_CUDA_NS {

DeviceList list_devices();

class GpuNetwork {
 public:
  // Throws SpecError for a batch too large for a layer, CudaError when the device cannot be used.
  GpuNetwork(const Layout& layout, const Plan& plan, const Recipe& recipe, uint64_t seed, int device);
  ~GpuNetwork();
  GpuNetwork(const GpuNetwork&) = delete;
  GpuNetwork& operator=(const GpuNetwork&) = delete;

  const Layout& layout() const { return layout_; }
  const Plan& plan() const { return plan_; }
  const Recipe& recipe() const { return recipe_; }
  size_t param_count() const { return layout_.param_count; }
  size_t image_size() const { return layout_.image_size(); }
  uint64_t seed() const { return seed_; }
  uint64_t step() const { return step_; }
  void set_step(uint64_t step) { step_ = step; }
  int device() const { return device_; }
  const std::string& device_name() const { return device_name_; }
  int dataset_size() const { return dataset_n_; }
  bool graphs_enabled() const { return use_graphs_; }

  // host copies of the device buffers: params, accumulators (state_buffers * P), gradients [P], state
  // [state_count] (batch norm's running statistics), ema [P] (only where the recipe keeps a moving average)
  void get_params(float* out);
  void set_params(const float* in);
  void get_accumulators(float* out);
  void set_accumulators(const float* in);
  void get_gradients(float* out);
  void get_state(float* out);
  void set_state(const float* in);
  void get_ema(float* out);
  void set_ema(const float* in);

  // Uploads the dataset once: images [n, H, W, C] uint8, labels [n] in {0,1}.
  void upload_dataset(const uint8_t* images, const uint8_t* labels, int n);

  // One step on host images [B, H, W, C] u8, labels [B], augment [B, augment_params(recipe.augment)] or null (as
  // Network::train_step).
  StepResult train_step(const uint8_t* images, const uint8_t* labels, const double* augment, int B,
                        const OptimizerStep& o);
  // One step on dataset images indices [B] (each in [0, dataset_size())), augment as train_step's.
  StepResult train_step_indexed(const int32_t* indices, const double* augment, int B, const OptimizerStep& o);
  // Gradient of the mean loss (into the gradient buffer, see get_gradients) with this step's masks, no update (batch
  // norm's running statistics stay).
  StepResult compute_gradients(const uint8_t* images, const uint8_t* labels, const double* augment, int B);
  // logits [B, K] of host images, no dropout, no augmentation, batch norm by its running statistics; with ema, by
  // the moving average of the weights
  void predict_logits(float* logits, const uint8_t* images, int B, bool ema);

 private:
  struct StepKey {
    int B;
    bool augment;
    OptimizerStep o;
    auto tied() const {
      return std::tie(B, augment, o.lr, o.rho, o.eps, o.momentum, o.beta1, o.beta2, o.weight_decay, o.clip_norm,
                      o.nesterov);
    }
    bool operator<(const StepKey& k) const { return tied() < k.tied(); }
  };

  void release();  // frees every device resource (destructor, failed constructor)
  void ensure_batch(int B);
  void free_batch();
  void clear_graphs();
  // the staging buffer: step (u64), AdamW's corrections (2 floats), indices [capacity], coefficients [capacity]
  size_t coeff_offset() const;
  size_t coeff_size() const;
  void stage(const int32_t* indices, const double* augment, int B, const OptimizerStep* o);
  void upload_batch(const uint8_t* images, const uint8_t* labels, int B);
  // tensor 0 of B images read through index: scaled (augmented where augment), normalised where the recipe says
  void enqueue_preprocess(const uint8_t* images, const int32_t* index, bool augment, int B);
  // Enqueues preprocessing, forward, loss, backward and (if update) the optimizer's update for B images read
  // through index; update also moves batch norm's running statistics.
  void enqueue_step(const uint8_t* images, const uint8_t* labels, const int32_t* index, bool augment, int B,
                    bool update, const OptimizerStep& o);
  void enqueue_update(const OptimizerStep& o);
  void enqueue_forward(int B, bool train);
  void enqueue_backward(int B);
  void forward_step(const Step& s, int B, bool train);
  ref::ConvGeom geometry(size_t op) const;
  void backward_step(const Step& s, int B);
  StepResult finish_step(int B);
  void copy_to_host(float* out, const float* dev, size_t n);
  void copy_to_device(float* dev, const float* in, size_t n);

  Layout layout_;
  Plan plan_;
  Recipe recipe_;
  uint64_t seed_;
  uint64_t step_ = 0;
  int device_;
  std::string device_name_;
  cudaStream_t stream_ = nullptr;

  float *params_ = nullptr, *accum_ = nullptr, *grad_ = nullptr, *ema_ = nullptr, *state_ = nullptr;
  uint8_t* decay_ = nullptr;
  float* norm_ = nullptr;
  double *bn_stats_ = nullptr, *clip_scratch_ = nullptr;
  std::vector<size_t> bn_stats_offset_;  // [ops] each batch norm's stats in bn_stats_ (doubles), or kNone
  bool update_statistics_ = false;       // whether the forward being enqueued moves the running statistics
  // batch buffers, for capacity_ images
  int capacity_ = 0;
  std::vector<float*> act_;               // act_[t]: tensor t of the batch (aliases share one allocation)
  std::vector<float*> act_alloc_;
  float *grads_ = nullptr, *masks_ = nullptr, *scratch_ = nullptr;
  double* bn_scratch_ = nullptr;
  float* grad(int slot) const { return grads_ + size_t(slot) * capacity_ * plan_.grad_slot_size; }
  uint8_t *batch_images_ = nullptr, *batch_labels_ = nullptr;
  // what goes up per step (pinned on the host, mirrored on the device): see coeff_offset
  void* staging_host_ = nullptr;
  void* staging_dev_ = nullptr;
  size_t staging_bytes_ = 0;
  LossOut* result_host_ = nullptr;
  LossOut* result_dev_ = nullptr;
  uint8_t *dataset_ = nullptr, *dataset_labels_ = nullptr;
  int dataset_n_ = 0;

  bool use_graphs_ = true;
  std::map<StepKey, void*> graphs_;       // cudaGraphExec_t per step shape
};

}  // namespace engine::ENGINE_CUDA_NS
