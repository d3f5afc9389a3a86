#include "model/graph.h"

#include <algorithm>
#include <climits>
#include <map>

#include "model/rng.h"

namespace engine {

const char* op_type_name(OpType t) {
  switch (t) {
    case OpType::Conv: return "conv";
    case OpType::Relu: return "relu";
    case OpType::MaxPool2x2: return "maxpool2x2";
    case OpType::Flatten: return "flatten";
    case OpType::Dense: return "dense";
    case OpType::Dropout: return "dropout";
    case OpType::GlobalAvgPool: return "globalavgpool";
    case OpType::Add: return "add";
    case OpType::BatchNorm: return "batchnorm";
  }
  return "?";
}

namespace {

// Default names count per kind, as Keras does: conv1, dense2, bn1
const char* name_stem(OpType t) {
  switch (t) {
    case OpType::MaxPool2x2: return "pool";
    case OpType::GlobalAvgPool: return "gap";
    case OpType::BatchNorm: return "bn";
    default: return op_type_name(t);
  }
}

std::string dims(const Shape& s) { return std::to_string(s.h) + "x" + std::to_string(s.w) + "x" + std::to_string(s.c); }

// Output size of a convolution along one axis
int conv_extent(int n, int k, int s, Padding p) { return p == Padding::Same ? (n + s - 1) / s : (n - k) / s + 1; }

}  // namespace

bool Layout::has_batch_coupling() const { return std::find(batch_coupled.begin(), batch_coupled.end(), true) != batch_coupled.end(); }

Layout make_layout(const ModelSpec& spec) {
  if (spec.height < 1 || spec.width < 1 || spec.channels < 1)
    throw SpecError("input shape must be positive, got " + std::to_string(spec.height) + "x" +
                    std::to_string(spec.width) + "x" + std::to_string(spec.channels));
  if (spec.ops.empty()) throw SpecError("the model has no layers");
  Layout L;
  L.spec = spec;
  const size_t n = spec.ops.size();
  L.shapes = {Shape{spec.height, spec.width, spec.channels}};
  L.consumers.assign(n + 1, {});
  L.param_offset.assign(n, kNone);
  L.state_offset.assign(n, kNone);
  L.mask_offset.assign(n, kNone);
  L.batch_coupled.assign(n, false);
  std::map<std::string, int> tensor_of{{"input", 0}};
  std::map<OpType, int> count;
  for (size_t i = 0; i < n; i++) {
    const OpSpec& op = spec.ops[i];
    std::string name = op.name.empty() ? name_stem(op.type) + std::to_string(++count[op.type]) : op.name;
    if (op.name.empty() && tensor_of.count(name))  // a default name taken by a user's name: count on
      while (tensor_of.count(name)) name = name_stem(op.type) + std::to_string(++count[op.type]);
    const std::string where = "layer " + std::to_string(i) + " '" + name + "' (" + op_type_name(op.type) + "): ";
    if (tensor_of.count(name)) throw SpecError(where + "the name '" + name + "' is used twice");
    L.names.push_back(name);

    // inputs
    std::vector<int> in;
    if (op.inputs.empty()) in.push_back(int(i));
    for (const std::string& s : op.inputs) {
      auto it = tensor_of.find(s);
      if (it == tensor_of.end()) throw SpecError(where + "input '" + s + "' names no earlier layer (nor 'input')");
      in.push_back(it->second);
    }
    const size_t arity = op.type == OpType::Add ? 2 : 1;
    if (in.size() != arity)
      throw SpecError(where + "takes " + std::to_string(arity) + " input" + (arity > 1 ? "s" : "") + ", got " +
                      std::to_string(in.size()));
    for (int t : in) L.consumers[t].push_back(int(i));
    L.inputs.push_back(in);

    const Shape s = L.shapes[in[0]];
    Shape o = s;
    auto add_param = [&](const std::string& suffix, std::vector<int> shape, size_t size) {
      if (L.param_offset[i] == kNone) L.param_offset[i] = L.param_count;
      L.params.push_back({name + "." + suffix, std::move(shape), L.param_count, size});
      L.param_count += size;
    };
    switch (op.type) {
      case OpType::Conv: {
        const int k = op.kernel, st = op.stride;
        if (k < 1 || k > 15) throw SpecError(where + "kernel must be 1 to 15, got " + std::to_string(k));
        if (st < 1 || st > 8) throw SpecError(where + "stride must be 1 to 8, got " + std::to_string(st));
        if (op.units < 1) throw SpecError(where + "filters must be >= 1");
        if (op.padding == Padding::Valid && (s.h < k || s.w < k))
          throw SpecError(where + "input " + std::to_string(s.h) + "x" + std::to_string(s.w) + " is smaller than the " +
                          std::to_string(k) + "x" + std::to_string(k) + " kernel");
        const size_t kk = size_t(k) * k * s.c * op.units;
        add_param("kernel", {k, k, s.c, op.units}, kk);
        add_param("bias", {op.units}, size_t(op.units));
        o = {conv_extent(s.h, k, st, op.padding), conv_extent(s.w, k, st, op.padding), op.units};
        break;
      }
      case OpType::MaxPool2x2:
        if (s.h < 2 || s.w < 2)
          throw SpecError(where + "input " + std::to_string(s.h) + "x" + std::to_string(s.w) + " is smaller than 2x2");
        o = {s.h / 2, s.w / 2, s.c};
        break;
      case OpType::Flatten:
        if (s.size() > size_t(INT_MAX))  // (before the narrowing to int)
          throw SpecError(where + "output " + dims(s) + " has " + std::to_string(s.size()) +
                          " values, more than 2^31 - 1");
        o = {1, 1, int(s.size())};
        break;
      case OpType::Dense:
        if (s.h != 1 || s.w != 1)
          throw SpecError(where + "needs a flat input: put a flatten or globalavgpool layer before it");
        if (op.units < 1) throw SpecError(where + "units must be >= 1");
        add_param("kernel", {s.c, op.units}, size_t(s.c) * op.units);
        add_param("bias", {op.units}, size_t(op.units));
        o = {1, 1, op.units};
        break;
      case OpType::Dropout:
        if (!(op.rate >= 0.0 && op.rate < 1.0)) throw SpecError(where + "rate must be in [0, 1)");
        L.mask_offset[i] = L.mask_size;
        L.mask_size += s.size();
        break;
      case OpType::GlobalAvgPool:
        o = {1, 1, s.c};
        break;
      case OpType::Add: {
        const Shape& b = L.shapes[in[1]];
        if (b.h != s.h || b.w != s.w || b.c != s.c)
          throw SpecError(where + "adds tensors of different shapes: " + dims(s) + " and " + dims(b));
        break;
      }
      case OpType::BatchNorm:
        if (!(op.momentum >= 0 && op.momentum < 1)) throw SpecError(where + "momentum must be in [0, 1)");
        if (!(op.epsilon > 0)) throw SpecError(where + "epsilon must be > 0");
        add_param("gamma", {s.c}, size_t(s.c));
        add_param("beta", {s.c}, size_t(s.c));
        L.state_offset[i] = L.state_count;
        L.state.push_back({name + ".moving_mean", {s.c}, L.state_count, size_t(s.c)});
        L.state.push_back({name + ".moving_variance", {s.c}, L.state_count + s.c, size_t(s.c)});
        L.state_count += 2 * size_t(s.c);
        L.batch_coupled[i] = true;
        break;
      case OpType::Relu:
        break;
    }
    // The kernels index one image's activations with int.
    if (o.h < 1 || o.w < 1) throw SpecError(where + "output " + dims(o) + " is empty");
    if (o.size() > size_t(INT_MAX))
      throw SpecError(where + "output " + dims(o) + " has " + std::to_string(o.size()) + " values, more than 2^31 - 1");
    L.shapes.push_back(o);
    tensor_of[name] = int(i + 1);
  }
  for (size_t t = 1; t < n; t++)
    if (L.consumers[t].empty())
      throw SpecError("layer " + std::to_string(t - 1) + " '" + L.names[t - 1] + "': its output is not used; " +
                      "only the last layer's output may be left (it is the logits)");

  const Shape& logits = L.shapes.back();
  if (logits.h != 1 || logits.w != 1) throw SpecError("the last layer must give flat logits (dense), got " + dims(logits));
  if (spec.head == Head::Sigmoid && logits.c != 1)
    throw SpecError("the last layer must be dense with 1 unit (the logit of class 1) for a sigmoid head, got " +
                    std::to_string(logits.c) + " units");
  if (spec.head == Head::Softmax && logits.c < 2)
    throw SpecError("a softmax head needs a last layer of at least 2 units (one per class), got " +
                    std::to_string(logits.c));

  // A tensor's gradient is needed where it depends on a parameter: the image and what is computed from it
  // alone are not trained.
  L.needs_grad.assign(n + 1, false);
  for (size_t i = 0; i < n; i++) {
    bool g = L.param_offset[i] != kNone;
    for (int t : L.inputs[i]) g = g || L.needs_grad[t];
    L.needs_grad[i + 1] = g;
  }
  if (!L.needs_grad[n]) throw SpecError("the model has no parameters to train");
  return L;
}

template <typename T>
void init_params(const Layout& L, uint64_t seed, T* params, T* state) {
  uint64_t tensor = 0;
  for (const ParamInfo& p : L.params) {
    tensor++;
    T* w = params + p.offset;
    const std::string suffix = p.name.substr(p.name.rfind('.') + 1);
    if (suffix == "kernel") {
      // Glorot over the receptive field, as Keras: conv [k,k,Cin,Cout] fan in k*k*Cin, fan out k*k*Cout
      const bool conv = p.shape.size() == 4;
      const int field = conv ? p.shape[0] * p.shape[1] : 1;
      const int fan_in = field * (conv ? p.shape[2] : p.shape[0]);
      const int fan_out = field * (conv ? p.shape[3] : p.shape[1]);
      glorot_uniform(w, p.size, fan_in, fan_out, seed, tensor);
    } else {
      std::fill(w, w + p.size, T(suffix == "gamma" ? 1 : 0));
    }
  }
  for (size_t i = 0; i < L.ops(); i++) {
    if (L.state_offset[i] == kNone) continue;
    const size_t C = size_t(L.out(i).c);
    std::fill(state + L.state_offset[i], state + L.state_offset[i] + C, T(0));          // running mean
    std::fill(state + L.state_offset[i] + C, state + L.state_offset[i] + 2 * C, T(1));  // running variance
  }
}

template void init_params<float>(const Layout&, uint64_t, float*, float*);
template void init_params<double>(const Layout&, uint64_t, double*, double*);

}  // namespace engine
