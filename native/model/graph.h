// A model is data: a graph of ops over tensors, and its layout (shapes, parameters, dropout regions, initial
// weights), derived once here for every backend (the CPU network and the CUDA network alike).
//
// Tensor 0 is the preprocessed input image; op i writes tensor i + 1 and reads the tensors named by its inputs,
// which must come before it, so the op list is a topological order. A sequential spec names no inputs: each op
// reads the tensor written just before it. Shapes are per image, HWC (activations are NHWC, as Keras).
//
// Parameter order: for each op with parameters, in op order, its tensors in the order of its ParamInfo list
// (conv/dense: kernel then bias; batch norm: gamma then beta). Layouts as in kernels/ref/ref.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace engine {

enum class OpType { Conv, Relu, MaxPool2x2, Flatten, Dense, Dropout, GlobalAvgPool, Add, BatchNorm };
enum class Padding { Valid, Same };
// How the last tensor (the logits) becomes a loss: one logit through a sigmoid (binary cross-entropy, the seed's)
// or N logits through a softmax (cross-entropy).
enum class Head { Sigmoid, Softmax };

const char* op_type_name(OpType t);

struct OpSpec {
  OpType type = OpType::Relu;
  std::string name;         // unique; empty: <type><n>, counted per type (conv1, dense2, ...)
  std::vector<std::string> inputs;  // op names ("input": the image); empty: the tensor written just before
  int units = 0;            // Conv: filters; Dense: units
  int kernel = 3, stride = 1;
  Padding padding = Padding::Valid;
  double rate = 0.0;        // Dropout: probability of dropping a unit
  double momentum = 0.99;   // BatchNorm: running statistics' decay (Keras' default)
  double epsilon = 1e-3;    // BatchNorm: added to the variance (Keras' default)
};

struct ModelSpec {
  int height = 0, width = 0, channels = 0;  // input image, HWC
  std::vector<OpSpec> ops;
  Head head = Head::Sigmoid;
};

struct Shape {
  int h = 0, w = 0, c = 0;
  size_t size() const { return size_t(h) * w * c; }
};

struct ParamInfo {
  std::string name;        // e.g. "conv1.kernel", "dense2.bias"
  std::vector<int> shape;  // conv kernel [k,k,Cin,Cout], dense kernel [In,Out], bias/gamma/beta [C]
  size_t offset = 0, size = 0;
};

// An error in the spec or the options; the binding turns it into a JS RangeError whose message starts with the
// field at fault ("spec", or an option's name).
struct SpecError : std::invalid_argument {
  explicit SpecError(const std::string& what, const char* field = "spec") : std::invalid_argument(what), field(field) {}
  const char* field;
};

constexpr size_t kNone = size_t(-1);

struct Layout {
  ModelSpec spec;
  std::vector<std::string> names;             // [ops] resolved op names
  std::vector<std::vector<int>> inputs;       // [ops] the tensor ids each op reads
  std::vector<Shape> shapes;                  // [ops + 1] tensor shapes of one image
  std::vector<std::vector<int>> consumers;    // [ops + 1] the ops reading each tensor, in op order
  std::vector<ParamInfo> params;
  std::vector<size_t> param_offset;           // [ops] the op's first parameter, or kNone
  size_t param_count = 0;
  // Non-trained per-op state (batch norm's running mean, then its running variance, as <op>.moving_mean and
  // <op>.moving_variance): [ops] offset or kNone, the entries, and their total size
  std::vector<size_t> state_offset;
  std::vector<ParamInfo> state;
  size_t state_count = 0;
  std::vector<size_t> mask_offset;            // [ops] dropout: its mask's offset in one image's masks, or kNone
  size_t mask_size = 0;
  std::vector<bool> needs_grad;               // [ops + 1] whether training needs the tensor's gradient
  std::vector<bool> batch_coupled;            // [ops] ops whose training forward mixes the images of a batch

  size_t ops() const { return spec.ops.size(); }
  const OpSpec& op(size_t i) const { return spec.ops[i]; }
  size_t image_size() const { return shapes[0].size(); }
  const Shape& in(size_t i, size_t k = 0) const { return shapes[input(i, k)]; }
  const Shape& out(size_t i) const { return shapes[i + 1]; }
  int input(size_t i, size_t k = 0) const { return inputs[i][k]; }
  // the single consumer of op i's output, or -1 when it has none or several
  int only_consumer(size_t i) const { return consumers[i + 1].size() == 1 ? consumers[i + 1][0] : -1; }
  int classes() const { return spec.head == Head::Sigmoid ? 2 : shapes.back().c; }
  int logits() const { return shapes.back().c; }
  bool has_batch_coupling() const;
};

// Checks the spec (SpecError naming the op) and derives its layout.
Layout make_layout(const ModelSpec& spec);

// Glorot-uniform kernels, zero biases and betas, unit gammas; each parameter tensor draws from its own
// sub-stream of `seed` (model/rng.h). state [state_count] gets batch norm's initial running mean 0, variance 1.
template <typename T>
void init_params(const Layout& layout, uint64_t seed, T* params, T* state);

}  // namespace engine
