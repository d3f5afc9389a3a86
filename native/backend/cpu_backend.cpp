// The CPU backend: a Network<float> (training) or Network<double> (gradient checks) behind the Backend interface.
#include <algorithm>
#include <cstring>
#include <type_traits>

#include "backend/backend.h"
#include "cpu/network.h"
#include "kernels/ref/ref.h"

namespace engine {

template <typename T>
Inference infer_from_logits(const Layout& layout, const T* logits, const uint8_t* labels, int B) {
  Inference r;
  const int K = layout.logits();
  if (layout.spec.head == Head::Sigmoid) {
    r.probabilities.resize(size_t(B));
    for (int b = 0; b < B; b++) {
      const T z = logits[b];
      r.probabilities[size_t(b)] = double(ref::sigmoid(z));
      if (!labels) continue;
      const T label = T(labels[b]);
      r.loss_sum += double(ref::sigmoid_bce<T>(nullptr, &z, &label, 1, T(1)));
      r.correct += (ref::sigmoid(z) > T(0.5)) == (labels[b] != 0);
    }
    return r;
  }
  r.probabilities.resize(size_t(B) * K);
  std::vector<T> p(static_cast<size_t>(K));
  for (int b = 0; b < B; b++) {
    const T* z = logits + size_t(b) * K;
    ref::softmax(p.data(), z, K);
    std::copy(p.begin(), p.end(), r.probabilities.begin() + size_t(b) * K);
    if (!labels) continue;
    const T label = T(labels[b]);
    r.loss_sum += double(ref::softmax_ce<T>(nullptr, z, &label, 1, K, T(1)));
    r.correct += int(std::max_element(z, z + K) - z) == int(labels[b]);
  }
  return r;
}
template Inference infer_from_logits<float>(const Layout&, const float*, const uint8_t*, int);
template Inference infer_from_logits<double>(const Layout&, const double*, const uint8_t*, int);

namespace {

template <typename T>
class CpuBackend final : public Backend {
 public:
  CpuBackend(const Layout& layout, const PlanOptions& options, const Recipe& recipe, uint64_t seed)
      : net_(layout, options, recipe, seed) {}

  const Layout& layout() const override { return net_.layout(); }
  const Plan& plan() const override { return net_.plan(); }
  const Recipe& recipe() const override { return net_.recipe(); }
  bool is_double() const override { return std::is_same_v<T, double>; }
  void read(Buffer b, void* out) override {
    const T* p = b == Buffer::Params ? net_.params() : b == Buffer::Accumulators ? net_.accumulators()
                 : b == Buffer::State ? net_.state() : b == Buffer::Ema ? net_.ema() : net_.gradients();
    std::memcpy(out, p, count(b) * sizeof(T));
  }
  void write(Buffer b, const void* in) override {
    if (b == Buffer::Gradients) throw std::logic_error("the gradients are not written");
    T* p = b == Buffer::Params ? net_.params() : b == Buffer::Accumulators ? net_.accumulators()
           : b == Buffer::Ema ? net_.ema() : net_.state();
    std::memcpy(p, in, count(b) * sizeof(T));
  }
  uint64_t seed() const override { return net_.seed(); }
  uint64_t step() const override { return net_.step(); }
  void set_step(uint64_t step) override { net_.set_step(step); }
  void upload(std::vector<uint8_t> images, std::vector<uint8_t> labels, int n) override {
    dataset_images_ = std::move(images);
    dataset_labels_ = std::move(labels);
    (void)n;
  }
  int uploaded() const override { return int(dataset_labels_.size()); }
  StepResult train(const Batch& b, const OptimizerStep& o) override {
    if (b.indices.empty()) return net_.train_step(b.images.data(), b.labels.data(), b.aug(), b.B, o);
    return net_.train_step(dataset_images_.data(), dataset_labels_.data(), b.aug(), b.B, o, b.indices.data());
  }
  StepResult compute_gradients(const Batch& b) override {
    return net_.compute_gradients(b.images.data(), b.labels.data(), b.aug(), b.B);
  }
  Inference infer(const Batch& b, bool with_labels, bool ema) override {
    std::vector<T> logits(size_t(b.B) * size_t(net_.layout().logits()));
    net_.predict_logits(logits.data(), b.images.data(), b.B, ema);
    return infer_from_logits(net_.layout(), logits.data(), with_labels ? b.labels.data() : nullptr, b.B);
  }
  std::vector<InfoValue> info() const override {
    const PlanOptions& o = net_.plan().options;
    std::vector<InfoValue> r;
    auto text = [&](const char* k, const std::string& v) { r.push_back(InfoValue::of(k, v)); };
    auto num = [&](const char* k, double v) { r.push_back(InfoValue::of(k, v)); };
    text("backend", "cpu");
    text("dtype", std::is_same_v<T, double> ? "float64" : "float32");
    text("isa", isa_name(o.isa));
    text("precision", precision_name(o.precision));
    text("conv", conv_algorithm_name(o.conv));
    text("optimizer", optimizer_name(net_.recipe().optimizer));
    if (o.precision == Precision::Bf16) text("bf16Kernels", bf16_kernels_name(o.bf16));
    else r.push_back(InfoValue::null("bf16Kernels"));
    num("threads", net_.threads());
    num("params", double(net_.param_count()));
    num("seed", double(net_.seed()));
    return r;
  }
  bool has_layer_times() const override { return true; }
  LayerTimes layer_times() const override { return net_.layer_times(); }
  void reset_layer_times() override { net_.reset_layer_times(); }

 private:
  Network<T> net_;
  // the uploaded dataset [n, H, W, C] and [n], which indexed steps read in place
  std::vector<uint8_t> dataset_images_, dataset_labels_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(const Layout& layout, const PlanOptions& options, const Recipe& recipe,
                                          uint64_t seed) {
  if (options.double_precision) return std::make_unique<CpuBackend<double>>(layout, options, recipe, seed);
  return std::make_unique<CpuBackend<float>>(layout, options, recipe, seed);
}

}  // namespace engine
