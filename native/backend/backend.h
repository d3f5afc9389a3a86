// What a Trainer (binding/trainer.cpp) drives: a network on the CPU (float, or double for gradient checks) or on a
// CUDA device (the GPU, or the CUDA source on its CPU emulator). One interface, so that the binding has one
// Trainer class, one baton and one AsyncWorker for all of them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "model/graph.h"
#include "model/plan.h"
#include "model/recipe.h"
#include "model/step_result.h"

namespace engine {

// A model's buffers, as the binding reads and writes them (elements of the backend's precision): the parameters,
// the optimizer's state (Recipe::state_buffers() buffers of the parameters' size), batch norm's running
// statistics, the last step's gradient, the moving average of the weights (empty without one).
enum class Buffer { Params, Accumulators, State, Gradients, Ema };

// A batch: images [B, H, W, C] uint8 and labels [B], or (with indices) the uploaded dataset's images they pick;
// augment [B, 4] or empty (no warp).
struct Batch {
  std::vector<uint8_t> images, labels;
  std::vector<int32_t> indices;
  std::vector<double> augment;
  int B = 0;
  const double* aug() const { return augment.empty() ? nullptr : augment.data(); }
};

// Inference on a batch: probabilities [B, classes] (sigmoid head: [B] = P(class 1)), computed in the backend's
// precision; with labels, the summed loss and the count of right answers.
struct Inference {
  std::vector<double> probabilities;
  double loss_sum = 0;
  int correct = 0;
};

// A (key, value) of what the backend reports about itself (info())
struct InfoValue {
  enum Kind { Text, Number, Bool, Null } kind = Null;
  std::string key;
  double number = 0;  // Number; Bool: 0 or 1
  std::string text;
  static InfoValue of(const char* k, const std::string& v) { return {Text, k, 0, v}; }
  static InfoValue of(const char* k, double v) { return {Number, k, v, ""}; }
  static InfoValue flag(const char* k, bool v) { return {Bool, k, v ? 1.0 : 0.0, ""}; }
  static InfoValue null(const char* k) { return {Null, k, 0, ""}; }
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const Layout& layout() const = 0;
  virtual const Plan& plan() const = 0;
  virtual bool is_double() const { return false; }
  virtual const Recipe& recipe() const = 0;
  size_t count(Buffer b) const {
    switch (b) {
      case Buffer::State: return layout().state_count;
      case Buffer::Accumulators: return size_t(recipe().state_buffers()) * layout().param_count;
      case Buffer::Ema: return recipe().ema_decay > 0 ? layout().param_count : 0;
      default: return layout().param_count;
    }
  }
  // out/in hold count(b) elements of float (double where is_double)
  virtual void read(Buffer b, void* out) = 0;
  virtual void write(Buffer b, const void* in) = 0;
  virtual uint64_t seed() const = 0;
  virtual uint64_t step() const = 0;
  virtual void set_step(uint64_t step) = 0;
  // Keeps a dataset (images [n, H, W, C], labels [n]) that indexed batches read in place.
  virtual void upload(std::vector<uint8_t> images, std::vector<uint8_t> labels, int n) = 0;
  virtual int uploaded() const = 0;
  virtual StepResult train(const Batch& batch, const OptimizerStep& opt) = 0;
  // the gradient of the mean loss (read(Buffer::Gradients)) with this step's dropout masks, no update
  virtual StepResult compute_gradients(const Batch& batch) = 0;
  // with ema, by the moving average of the weights
  virtual Inference infer(const Batch& batch, bool with_labels, bool ema) = 0;
  virtual std::vector<InfoValue> info() const = 0;
  virtual bool has_layer_times() const { return false; }
  virtual LayerTimes layer_times() const { return {}; }
  virtual void reset_layer_times() {}
};

// Probabilities, loss and right answers from logits [B, K] in T, as training computes them
template <typename T>
Inference infer_from_logits(const Layout& layout, const T* logits, const uint8_t* labels, int B);

std::unique_ptr<Backend> make_cpu_backend(const Layout& layout, const PlanOptions& options, const Recipe& recipe,
                                          uint64_t seed);

// The CUDA backends: on a device, and the same source on the CPU emulator (every build). The device list says why
// there are none where there are none.
struct DeviceInfo {
  int index = 0;
  std::string name;
  int major = 0, minor = 0;  // compute capability
  double memory_bytes = 0;
  int multiprocessors = 0;
};
struct DeviceList {
  std::vector<DeviceInfo> devices;
  std::string reason;
  int runtime_version = 0, driver_version = 0;
};
namespace cuda {
std::unique_ptr<Backend> make_backend(const Layout& layout, const PlanOptions& options, const Recipe& recipe,
                                      uint64_t seed, int device);
DeviceList list_devices();
}  // namespace cuda
namespace cuda_emulated {
std::unique_ptr<Backend> make_backend(const Layout& layout, const PlanOptions& options, const Recipe& recipe,
                                      uint64_t seed, int device);
}  // namespace cuda_emulated

}  // namespace engine
