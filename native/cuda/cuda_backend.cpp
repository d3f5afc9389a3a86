// The CUDA backend: a GpuNetwork behind the Backend interface (built once for the GPU and once for the emulator,
// see namespace.h). The probabilities, loss and right answers of an inference come from the device's float logits,
// computed on the host as the CPU backend computes them.
#include <cstring>
#include <memory>
#include <stdexcept>

#include "backend/backend.h"
#include "cuda/check.h"
#include "cuda/gpu_network.h"

namespace engine::ENGINE_CUDA_NS {

namespace {

class CudaBackend final : public Backend {
 public:
  CudaBackend(const Layout& layout, const PlanOptions& options, const Recipe& recipe, uint64_t seed, int device)
      : net_(layout, make_plan(layout, options), recipe, seed, device) {}

  const Layout& layout() const override { return net_.layout(); }
  const Plan& plan() const override { return net_.plan(); }
  const Recipe& recipe() const override { return net_.recipe(); }
  void read(Buffer b, void* out) override {
    float* o = static_cast<float*>(out);
    switch (b) {
      case Buffer::Params: return net_.get_params(o);
      case Buffer::Accumulators: return net_.get_accumulators(o);
      case Buffer::Gradients: return net_.get_gradients(o);
      case Buffer::State: return net_.get_state(o);
      case Buffer::Ema: return net_.get_ema(o);
    }
  }
  void write(Buffer b, const void* in) override {
    const float* i = static_cast<const float*>(in);
    switch (b) {
      case Buffer::Params: return net_.set_params(i);
      case Buffer::Accumulators: return net_.set_accumulators(i);
      case Buffer::State: return net_.set_state(i);
      case Buffer::Ema: return net_.set_ema(i);
      case Buffer::Gradients: throw std::logic_error("the gradients are not written");
    }
  }
  uint64_t seed() const override { return net_.seed(); }
  uint64_t step() const override { return net_.step(); }
  void set_step(uint64_t step) override { net_.set_step(step); }
  void upload(std::vector<uint8_t> images, std::vector<uint8_t> labels, int n) override {
    net_.upload_dataset(images.data(), labels.data(), n);
  }
  int uploaded() const override { return net_.dataset_size(); }
  StepResult train(const Batch& b, const OptimizerStep& o) override {
    if (b.indices.empty()) return net_.train_step(b.images.data(), b.labels.data(), b.aug(), b.B, o);
    return net_.train_step_indexed(b.indices.data(), b.aug(), b.B, o);
  }
  StepResult compute_gradients(const Batch& b) override {
    return net_.compute_gradients(b.images.data(), b.labels.data(), b.aug(), b.B);
  }
  Inference infer(const Batch& b, bool with_labels, bool ema) override {
    std::vector<float> logits(size_t(b.B) * size_t(net_.layout().logits()));
    net_.predict_logits(logits.data(), b.images.data(), b.B, ema);
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
    text("optimizer", optimizer_name(net_.recipe().optimizer));
    num("cudaDevice", net_.device());
    text("deviceName", net_.device_name());
    r.push_back(InfoValue::flag("cudaGraphs", net_.graphs_enabled()));
    num("params", double(net_.param_count()));
    num("seed", double(net_.seed()));
    num("datasetImages", net_.dataset_size());
    return r;
  }

 private:
  GpuNetwork net_;
};

}  // namespace

std::unique_ptr<Backend> make_backend(const Layout& layout, const PlanOptions& options, const Recipe& recipe,
                                      uint64_t seed, int device) {
  // (every field of the recipe has its CUDA kernels: optimizers, weight decay, clipping, label smoothing, the moving
  // average, the normalisation and both augmentations)
  return std::make_unique<CudaBackend>(layout, options, recipe, seed, device);
}

}  // namespace engine::ENGINE_CUDA_NS
