// The CUDA backend: a GpuNetwork behind the Backend interface (built once for the GPU and once for the emulator,
// see namespace.h). The probabilities, loss and right answers of an inference come from the device's float logits,
// computed on the host as the CPU backend computes them.
#include <cstring>
#include <memory>

#include "backend/backend.h"
#include "cuda/check.h"
#include "cuda/gpu_network.h"

namespace engine::ENGINE_CUDA_NS {

namespace {

class CudaBackend final : public Backend {
 public:
  CudaBackend(const Layout& layout, const PlanOptions& options, const Recipe& recipe, uint64_t seed, int device)
      : recipe_(recipe), net_(layout, make_plan(layout, options), seed, device) {}

  const Layout& layout() const override { return net_.layout(); }
  const Plan& plan() const override { return net_.plan(); }
  const Recipe& recipe() const override { return recipe_; }
  void read(Buffer b, void* out) override {
    float* o = static_cast<float*>(out);
    switch (b) {
      case Buffer::Params: return net_.get_params(o);
      case Buffer::Accumulators: return net_.get_accumulators(o);
      case Buffer::Gradients: return net_.get_gradients(o);
      case Buffer::State:  // (no batch norm on the GPU yet: empty)
      case Buffer::Ema: return;  // (nor a moving average)
    }
  }
  void write(Buffer b, const void* in) override {
    const float* i = static_cast<const float*>(in);
    if (b == Buffer::Params) net_.set_params(i);
    else if (b == Buffer::Accumulators) net_.set_accumulators(i);
  }
  uint64_t seed() const override { return net_.seed(); }
  uint64_t step() const override { return net_.step(); }
  void set_step(uint64_t step) override { net_.set_step(step); }
  void upload(std::vector<uint8_t> images, std::vector<uint8_t> labels, int n) override {
    net_.upload_dataset(images.data(), labels.data(), n);
  }
  int uploaded() const override { return net_.dataset_size(); }
  StepResult train(const Batch& b, const OptimizerStep& o) override {
    if (o.weight_decay != 0 || o.clip_norm != 0)
      throw SpecError("the CUDA backend has no weight decay or gradient clipping so far", "optimizer");
    if (b.indices.empty()) return net_.train_step(b.images.data(), b.labels.data(), b.aug(), b.B, o.lr, o.rho, o.eps);
    return net_.train_step_indexed(b.indices.data(), b.aug(), b.B, o.lr, o.rho, o.eps);
  }
  StepResult compute_gradients(const Batch& b) override {
    return net_.compute_gradients(b.images.data(), b.labels.data(), b.aug(), b.B);
  }
  Inference infer(const Batch& b, bool with_labels, bool ema) override {
    if (ema) throw SpecError("the CUDA backend keeps no moving average of the weights", "ema");
    std::vector<float> logits(size_t(b.B) * size_t(net_.layout().logits()));
    net_.predict_logits(logits.data(), b.images.data(), b.B);
    return infer_from_logits(net_.layout(), logits.data(), with_labels ? b.labels.data() : nullptr, b.B);
  }
  std::vector<InfoValue> info() const override {
    std::vector<InfoValue> r;
    auto text = [&](const char* k, const std::string& v) { r.push_back(InfoValue::of(k, v)); };
    auto num = [&](const char* k, double v) { r.push_back(InfoValue::of(k, v)); };
#if ENGINE_CUDA_EMULATION
    text("backend", "cuda-emulated");
#else
    text("backend", "cuda");
#endif
    text("dtype", "float32");
    text("device", "cuda");
    num("cudaDevice", net_.device());
    text("deviceName", net_.device_name());
    r.push_back(InfoValue::flag("cudaGraphs", net_.graphs_enabled()));
    num("params", double(net_.param_count()));
    num("seed", double(net_.seed()));
    num("datasetImages", net_.dataset_size());
    return r;
  }

 private:
  Recipe recipe_;
  GpuNetwork net_;
};

}  // namespace

std::unique_ptr<Backend> make_backend(const Layout& layout, const PlanOptions& options, const Recipe& recipe,
                                      uint64_t seed, int device) {
  // (the GPU trains with the seed's recipe so far: RMSprop, its warp, no smoothing, averaging or normalisation)
  const char* missing = recipe.optimizer != OptimizerKind::RmsProp ? "optimizer"
                        : recipe.augment != AugmentKind::Keras     ? "augment"
                        : recipe.label_smoothing != 0              ? "labelSmoothing"
                        : recipe.ema_decay != 0                    ? "ema"
                        : !recipe.mean.empty()                     ? "normalize"
                                                                   : nullptr;
  if (missing)
    throw SpecError(std::string("the CUDA backend trains with RMSprop, the seed's augmentation, no label smoothing, moving ") +
                        "average or normalisation so far",
                    missing);
  return std::make_unique<CudaBackend>(layout, options, recipe, seed, device);
}

}  // namespace engine::ENGINE_CUDA_NS
