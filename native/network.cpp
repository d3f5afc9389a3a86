#include "network.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <ctime>
#include <cstring>

#include "augment.h"
#include "conv_amx.h"
#include "conv_bf16.h"
#include "rng.h"

namespace engine {

namespace {

constexpr size_t kNoParams = size_t(-1);

const char* layer_name(LayerType t) {
  switch (t) {
    case LayerType::Conv3x3: return "conv3x3";
    case LayerType::Relu: return "relu";
    case LayerType::MaxPool2x2: return "maxpool2x2";
    case LayerType::Flatten: return "flatten";
    case LayerType::Dense: return "dense";
    case LayerType::Dropout: return "dropout";
  }
  return "?";
}

// ReLU works in place and Flatten is a no-op on NHWC memory, so their outputs alias their inputs.
bool aliases_input(LayerType t) { return t == LayerType::Relu || t == LayerType::Flatten; }

// The bf16 kernels exist for float only; a double network never takes that branch (the constructor refuses
// bf16 for it), so the casts below are never executed with T = double.
template <typename T>
float* f32(T* p) { return reinterpret_cast<float*>(p); }
template <typename T>
const float* f32(const T* p) { return reinterpret_cast<const float*>(p); }

double now_seconds() {
#ifdef ENGINE_PROFILE_CPU_TIME
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
#else
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
#endif
}

}  // namespace

template <typename T>
Network<T>::Network(const NetSpec& spec, uint64_t seed, int threads, Isa isa, Precision precision, ConvAlgorithm conv)
    : spec_(spec), seed_(seed), isa_(isa), precision_(precision), conv_(conv), pool_(threads < 1 ? 1 : threads) {
  if (conv == ConvAlgorithm::Winograd) {
    if (sizeof(T) != sizeof(float)) throw SpecError("conv winograd is for float32 networks only", "conv");
    if (precision != Precision::Fp32)
      throw SpecError("conv winograd runs fp32 convolutions; bf16 ones are direct", "conv");
  }
  if (precision == Precision::Bf16) {
    if (sizeof(T) != sizeof(float)) throw SpecError("precision bf16 is for float32 networks only", "precision");
    if (!cpu_has_bf16())
      throw SpecError("precision bf16 needs a CPU with AVX512-BF16, and this one has none", "precision");
    if (isa != Isa::Avx512)
      throw SpecError(std::string("precision bf16 needs the avx512 kernels, but isa is ") + isa_name(isa), "precision");
    try {
      bf16_kernels_ = detect_bf16_kernels();
    } catch (const std::invalid_argument& e) {
      throw SpecError(e.what(), "precision");
    }
  }
  build_shapes();
  init_params();
  accum_.assign(params_.size(), T(0));
  grad_.assign(params_.size(), T(0));

  // Per-thread workspaces: one image's activations (aliasing where the layer allows) and gradients.
  const size_t L = spec_.layers.size();
  size_t code_size = 0;
  code_offset_.assign(L, kNoParams);
  for (size_t i = 0; i < L; i++)
    if ((first_block_fused_ && i == first_param_layer_) || amx_pooled_block(i)) {
      code_offset_[i] = code_size;
      code_size += shapes_[i + 3].size();
    }
  // a block on tiles whose input is the pooled output of a block on tiles reads it in bf16
  size_t act16_size = 0;
  act16_offset_.assign(L, kNoParams);
  for (size_t i = 3; i < L; i++) {
    if (amx_pooled_block(i) && amx_block(i - 3)) {
      act16_offset_[i] = act16_size;
      act16_size += (amx_block_input_size(shapes_[i].h, shapes_[i].w, shapes_[i].c) + 31) / 32 * 32;  // 64-byte steps
    }
  }
  std::vector<size_t> offset(L + 1);
  size_t total = 0, largest = 0;
  for (size_t i = 0; i <= L; i++) {
    largest = std::max(largest, shapes_[i].size());
    if (i > 0 && aliases_input(spec_.layers[i - 1].type)) {
      offset[i] = offset[i - 1];
    } else {
      offset[i] = total;
      total += (shapes_[i].size() + 15) / 16 * 16;  // the next from a 64-byte boundary (float)
    }
  }
  ws_.resize(pool_.size());
  for (auto& ws : ws_) {
    ws.storage.assign(total, T(0));
    ws.act.resize(L + 1);
    for (size_t i = 0; i <= L; i++) ws.act[i] = ws.storage.data() + offset[i];
    ws.grad_a.assign(largest, T(0));
    ws.grad_b.assign(largest, T(0));
    ws.mask.assign(mask_size_, T(0));
    ws.code.assign(code_size, 0);
    ws.act16.assign(act16_size, 0);  // the zeros past each input stay: the blocks write only the pixels
    ws.dparams.assign(params_.size(), T(0));
  }
  reset_layer_times();
}

// Convolutions whose channel counts are not multiples of 16 (the first, on the 3-channel image) stay fp32 in the
// forward pass of the AVX512-BF16 kernels: packing a 3-channel image into bf16 pairs costs about what the bf16
// arithmetic saves (measured: conv1 137 vs 138 GFLOP/s). On AMX tiles the first block runs in bf16
// (amx_first_block).
template <typename T>
bool Network<T>::bf16_forward(size_t layer) const {
  return bf16() && shapes_[layer].c % avx512bf16::kLanes == 0 && shapes_[layer + 1].c % avx512bf16::kLanes == 0;
}

// The first block's convolution on AMX tiles: one tile dot per kernel row of 9 inputs (conv_amx.inc).
template <typename T>
bool Network<T>::amx_first_block() const {
  const size_t f = first_param_layer_;
  return first_block_fused_ && bf16() && bf16_kernels_ != Bf16Kernels::Avx512Bf16 &&
         amx_fits_narrow(shapes_[f].c, shapes_[f + 1].c);
}

// A later conv -> ReLU -> max-pool block on AMX tiles: its pool keeps a code, and its backward routes the pool's
// gradient by it straight into the conv's bf16 gradients (relu_maxpool_conv3x3_backward_amx).
template <typename T>
bool Network<T>::amx_pooled_block(size_t layer) const {
  const auto& ls = spec_.layers;
  return bf16() && bf16_kernels_ != Bf16Kernels::Avx512Bf16 && layer > first_param_layer_ && layer + 2 < ls.size() &&
         ls[layer].type == LayerType::Conv3x3 && ls[layer + 1].type == LayerType::Relu &&
         ls[layer + 2].type == LayerType::MaxPool2x2 && bf16_forward(layer) &&
         amx_fits(shapes_[layer].c, shapes_[layer + 1].c);
}

// A conv -> ReLU -> max-pool block that runs on tiles as one call each way: the first (amx_first_block) or a later
// one (amx_pooled_block).
template <typename T>
bool Network<T>::amx_block(size_t layer) const {
  return (first_block_fused_ && layer == first_param_layer_ && amx_first_block()) || amx_pooled_block(layer);
}

// The first conv block is fused (and its 3-channel input suits no Winograd kernel); the later convolutions run
// Winograd when their output is at least 8x8. Below that, padding to whole tiles and the transforms cost more
// than they save (measured, the seed's conv5 with a 5x5 output: 5.4+12.8 ms per epoch against 2.8+9.3 direct).
template <typename T>
bool Network<T>::winograd(size_t layer) const {
  constexpr int kMinOutput = 8;
  return conv_ == ConvAlgorithm::Winograd && layer > first_param_layer_ && shapes_[layer + 1].h >= kMinOutput &&
         shapes_[layer + 1].w >= kMinOutput &&
         winograd_fits(isa_, shapes_[layer].h, shapes_[layer].w, shapes_[layer].c, shapes_[layer + 1].c);
}

template <typename T>
void Network<T>::prepare_step_kernels() {
  if (sizeof(T) != sizeof(float)) return;  // double networks run the reference
  const size_t L = spec_.layers.size();
  if (packed_offset_.empty()) {
    size_t packed = 0, flipped = 0, wino = 0;
    packed_offset_.assign(L, kNoParams);
    flipped_offset_.assign(L, kNoParams);
    winograd_offset_.assign(L, kNoParams);
    for (size_t i = first_param_layer_; i < L; i++) {
      if (spec_.layers[i].type != LayerType::Conv3x3) continue;
      const int Cin = shapes_[i].c, Cout = shapes_[i + 1].c;
      if (i == first_param_layer_ && amx_first_block()) {
        packed_offset_[i] = packed;
        packed += amx_narrow_kernel_size(Cout);
      } else if (bf16_forward(i)) {
        packed_offset_[i] = packed;
        packed += 2 * avx512bf16::packed_kernel_size(Cin, Cout);
      } else if (i > first_param_layer_ && fast_backward_input(isa_, Cin)) {
        flipped_offset_[i] = flipped;
        flipped += size_t(9) * Cin * Cout;
      }
      if (winograd(i)) {
        winograd_offset_[i] = wino;
        wino += size_t(2) * 16 * Cin * Cout;
      }
    }
    packed_.assign(packed, 0);
    flipped_.assign(flipped, 0.0f);
    winograd_.assign(wino, 0.0f);
  }
  for (size_t i = 0; i < L; i++) {
    if (packed_offset_[i] == kNoParams && flipped_offset_[i] == kNoParams) continue;
    const int Cin = shapes_[i].c, Cout = shapes_[i + 1].c;
    const float* w = f32(params_.data() + param_offset_[i]);
    if (packed_offset_[i] != kNoParams && i == first_param_layer_ && amx_first_block()) {
      amx_pack_kernel_narrow(packed_.data() + packed_offset_[i], w, Cin, Cout);
    } else if (packed_offset_[i] != kNoParams) {
      uint32_t* wp = packed_.data() + packed_offset_[i];
      avx512bf16::pack_kernel(wp, w, Cin, Cout);
      avx512bf16::pack_kernel_for_input_gradient(wp + avx512bf16::packed_kernel_size(Cin, Cout), w, Cin, Cout);
    }
    if (flipped_offset_[i] == kNoParams) continue;  // (every Winograd layer has a flipped kernel: see winograd())
    float* wflip = flipped_.data() + flipped_offset_[i];
    flip_kernel_for_input_gradient(wflip, w, Cin, Cout);
    if (winograd_offset_[i] != kNoParams) {
      float* v = winograd_.data() + winograd_offset_[i];
      winograd_kernel_transform(v, w, Cin, Cout);
      winograd_kernel_transform(v + size_t(16) * Cin * Cout, wflip, Cout, Cin);
    }
  }
}

template <typename T>
void Network<T>::reset_layer_times() {
  for (auto& ws : ws_) ws.times = {std::vector<double>(spec_.layers.size()), std::vector<double>(spec_.layers.size())};
  update_seconds_ = kernels_seconds_ = idle_seconds_ = step_seconds_ = 0;
}

template <typename T>
LayerTimes Network<T>::layer_times() const {
  const size_t L = spec_.layers.size();
  const double nt = double(ws_.size());
  LayerTimes r{std::vector<double>(L), std::vector<double>(L)};
  for (const auto& ws : ws_) {
    for (size_t i = 0; i < L; i++) {
      r.forward[i] += ws.times.forward[i] / nt;
      r.backward[i] += ws.times.backward[i] / nt;
    }
    r.preprocess += ws.times.preprocess / nt;
  }
  r.update = update_seconds_;
  r.kernels = kernels_seconds_;
  r.idle = idle_seconds_;
  r.step = step_seconds_;
  return r;
}

template <typename T>
void Network<T>::build_shapes() {
  if (spec_.height < 1 || spec_.width < 1 || spec_.channels < 1)
    throw SpecError("input shape must be positive, got " + std::to_string(spec_.height) + "x" +
                    std::to_string(spec_.width) + "x" + std::to_string(spec_.channels));
  if (spec_.layers.empty() || spec_.layers.back().type != LayerType::Dense || spec_.layers.back().units != 1)
    throw SpecError("the last layer must be dense with 1 unit (the logit of class 1)");
  Shape s{spec_.height, spec_.width, spec_.channels};
  shapes_ = {s};
  size_t params = 0;
  int conv_n = 0, dense_n = 0;
  for (size_t i = 0; i < spec_.layers.size(); i++) {
    const LayerSpec& l = spec_.layers[i];
    const std::string where = "layer " + std::to_string(i) + " (" + layer_name(l.type) + "): ";
    // The kernels index one image's activations with int, and flatten makes the size a channel count.
    auto require_int_size = [&](const Shape& o) {
      if (o.size() > size_t(INT_MAX))
        throw SpecError(where + "output " + std::to_string(o.h) + "x" + std::to_string(o.w) + "x" +
                        std::to_string(o.c) + " has " + std::to_string(o.size()) + " values, more than 2^31 - 1");
    };
    param_offset_.push_back(kNoParams);
    switch (l.type) {
      case LayerType::Conv3x3: {
        if (s.h < 3 || s.w < 3)
          throw SpecError(where + "input " + std::to_string(s.h) + "x" + std::to_string(s.w) +
                          " is smaller than the 3x3 kernel");
        if (l.units < 1) throw SpecError(where + "filters must be >= 1");
        param_offset_.back() = params;
        const std::string name = "conv" + std::to_string(++conv_n);
        const size_t k = size_t(9) * s.c * l.units;
        params_info_.push_back({name + ".kernel", {3, 3, s.c, l.units}, params, k});
        params_info_.push_back({name + ".bias", {l.units}, params + k, size_t(l.units)});
        params += k + l.units;
        s = {s.h - 2, s.w - 2, l.units};
        break;
      }
      case LayerType::MaxPool2x2:
        if (s.h < 2 || s.w < 2)
          throw SpecError(where + "input " + std::to_string(s.h) + "x" + std::to_string(s.w) + " is smaller than 2x2");
        s = {s.h / 2, s.w / 2, s.c};
        break;
      case LayerType::Flatten:
        require_int_size(s);  // before the narrowing
        s = {1, 1, int(s.size())};
        break;
      case LayerType::Dense: {
        if (s.h != 1 || s.w != 1) throw SpecError(where + "needs a flat input: put a flatten layer before it");
        if (l.units < 1) throw SpecError(where + "units must be >= 1");
        param_offset_.back() = params;
        const std::string name = "dense" + std::to_string(++dense_n);
        const size_t k = size_t(s.c) * l.units;
        params_info_.push_back({name + ".kernel", {s.c, l.units}, params, k});
        params_info_.push_back({name + ".bias", {l.units}, params + k, size_t(l.units)});
        params += k + l.units;
        s = {1, 1, l.units};
        break;
      }
      case LayerType::Dropout:
        if (!(l.rate >= 0.0 && l.rate < 1.0)) throw SpecError(where + "rate must be in [0, 1)");
        mask_offset_.push_back(mask_size_);
        mask_size_ += s.size();
        break;
      case LayerType::Relu:
        break;
    }
    require_int_size(s);
    shapes_.push_back(s);
  }
  params_.assign(params, T(0));
  const size_t L = spec_.layers.size();
  relu_in_conv_forward_.assign(L, false);
  relu_in_pool_backward_.assign(L, false);
  for (size_t i = 0; i < L; i++) {
    if (spec_.layers[i].type != LayerType::Relu) continue;
    relu_in_conv_forward_[i] = i > 0 && spec_.layers[i - 1].type == LayerType::Conv3x3;
    relu_in_pool_backward_[i] = i + 1 < L && spec_.layers[i + 1].type == LayerType::MaxPool2x2;
  }
  // Layers up to the first one with parameters need no input gradient: the image is not trained.
  while (param_offset_[first_param_layer_] == kNoParams) first_param_layer_++;
  const size_t f = first_param_layer_;
  first_block_fused_ = f + 2 < L && spec_.layers[f].type == LayerType::Conv3x3 && spec_.layers[f + 1].type == LayerType::Relu &&
                       spec_.layers[f + 2].type == LayerType::MaxPool2x2;
}

template <typename T>
void Network<T>::init_params() {
  // Glorot-uniform kernels, zero biases; each kernel tensor draws from its own sub-stream.
  uint64_t tensor = 0;
  for (const ParamInfo& p : params_info_) {
    tensor++;
    if (p.shape.size() == 1) continue;  // bias: stays zero
    const bool conv = p.shape.size() == 4;
    const int fan_in = conv ? 9 * p.shape[2] : p.shape[0];
    const int fan_out = conv ? 9 * p.shape[3] : p.shape[1];
    glorot_uniform(params_.data() + p.offset, p.size, fan_in, fan_out, seed_, tensor);
  }
}

template <typename T>
void Network<T>::preprocess(T* out, const uint8_t* image, const double* a) const {
  const T scale = T(1.0 / 255.0);
  if (a) augment_warp_fast(isa_, out, image, a[0], a[1], a[2], a[3] != 0.0, spec_.height, spec_.width, spec_.channels, scale);
  else ref::scale_pixels(out, image, image_size(), scale);
}

template <typename T>
void Network<T>::forward(Workspace& ws, bool train, uint64_t step, int image_index) {
  int dropout_i = 0;
  double t0 = now_seconds();
  for (size_t i = 0; i < spec_.layers.size(); i++) {
    const LayerSpec& l = spec_.layers[i];
    const Shape& in = shapes_[i];
    const Shape& out = shapes_[i + 1];
    T* x = ws.act[i];
    T* y = ws.act[i + 1];
    const T* w = params_.data() + (param_offset_[i] == kNoParams ? 0 : param_offset_[i]);
    const bool on_tiles = amx_block(i);
    if (on_tiles || (first_block_fused_ && i == first_param_layer_)) {
      const T* b = w + size_t(9) * in.c * out.c;
      uint8_t* code = ws.code.data() + code_offset_[i];
      if (on_tiles)  // bf16 in from the block before where it ran on tiles too, bf16 out for the next one
        conv3x3_relu_maxpool_forward_amx(bf16_kernels_, f32(ws.act[i + 3]), block_input16(ws, i + 3), code, f32(x),
                                         block_input16(ws, i), packed_.data() + packed_offset_[i], f32(b), in.h, in.w,
                                         in.c, out.c);
      else conv3x3_relu_maxpool_forward(isa_, ws.act[i + 3], code, x, w, b, 1, in.h, in.w, in.c, out.c);
      const double t1 = now_seconds();
      ws.times.forward[i] += t1 - t0;
      t0 = t1;
      i += 2;  // the ReLU and the pool ran inside
      continue;
    }
    switch (l.type) {
      case LayerType::Conv3x3: {
        const T* b = w + size_t(9) * in.c * out.c;
        const bool relu = i + 1 < spec_.layers.size() && relu_in_conv_forward_[i + 1];
        if (bf16_forward(i))
          conv3x3_forward_bf16_packed(bf16_kernels_, f32(y), f32(x), packed_.data() + packed_offset_[i], f32(b), in.h,
                                      in.w, in.c, out.c, relu);
        else if (winograd(i))
          conv3x3_forward_winograd(isa_, f32(y), f32(x), winograd_.data() + winograd_offset_[i], f32(b), 1, in.h, in.w,
                                   in.c, out.c, relu);
        else if (relu) conv3x3_relu_forward(isa_, y, x, w, b, 1, in.h, in.w, in.c, out.c);
        else conv3x3_forward(isa_, y, x, w, b, 1, in.h, in.w, in.c, out.c);
        break;
      }
      case LayerType::Relu:
        if (!relu_in_conv_forward_[i]) ref::relu_forward(y, x, in.size());
        break;
      case LayerType::MaxPool2x2:
        maxpool2x2_forward(isa_, y, x, 1, in.h, in.w, in.c);
        break;
      case LayerType::Flatten:
        break;
      case LayerType::Dense:
        ref::dense_forward(y, x, w, w + size_t(in.c) * out.c, 1, in.c, out.c);
        break;
      case LayerType::Dropout: {
        T* mask = ws.mask.data() + mask_offset_[dropout_i++];
        if (train) {
          dropout_mask(mask, in.size(), l.rate, seed_, dropout_key(step, uint64_t(image_index), i));
          ref::dropout_forward(y, x, mask, in.size());
        } else {
          std::memcpy(y, x, sizeof(T) * in.size());
        }
        break;
      }
    }
    const double t1 = now_seconds();
    ws.times.forward[i] += t1 - t0;
    t0 = t1;
  }
}

template <typename T>
void Network<T>::backward(Workspace& ws, T dlogit) {
  T* g = ws.grad_a.data();    // gradient of the current layer's output
  T* gin = ws.grad_b.data();  // gradient of its input
  g[0] = dlogit;
  int dropout_i = int(mask_offset_.size());
  double t0 = now_seconds();
  for (size_t i = spec_.layers.size(); i-- > first_param_layer_;) {
    const LayerSpec& l = spec_.layers[i];
    const Shape& in = shapes_[i];
    const Shape& out = shapes_[i + 1];
    const bool need_din = i > first_param_layer_;
    const T* x = ws.act[i];
    const size_t po = param_offset_[i] == kNoParams ? 0 : param_offset_[i];
    const T* w = params_.data() + po;
    T* dw = ws.dparams.data() + po;
    if (l.type == LayerType::MaxPool2x2 && i >= 2 && amx_pooled_block(i - 2)) {
      // the pool, its ReLU and the conv in one pass from the pool's gradient and code
      const size_t c = i - 2;
      const Shape& cin = shapes_[c];
      T* cdw = ws.dparams.data() + param_offset_[c];
      relu_maxpool_conv3x3_backward_amx(
          bf16_kernels_, c > first_param_layer_ ? f32(gin) : nullptr, f32(cdw), f32(cdw + size_t(9) * cin.c * in.c),
          f32(g), ws.code.data() + code_offset_[c], f32(ws.act[c]), block_input16(ws, c),
          packed_.data() + packed_offset_[c] + avx512bf16::packed_kernel_size(cin.c, in.c), cin.h, cin.w, cin.c, in.c);
      std::swap(g, gin);
      const double t1 = now_seconds();
      ws.times.backward[i] += t1 - t0;
      t0 = t1;
      i -= 2;  // the ReLU and the conv ran inside
      continue;
    }
    switch (l.type) {
      case LayerType::Conv3x3: {
        T* db = dw + size_t(9) * in.c * out.c;
        if (bf16()) {
          conv3x3_backward_weight_bf16(bf16_kernels_, f32(dw), f32(db), f32(g), f32(x), in.h, in.w, in.c, out.c);
          if (need_din && bf16_forward(i))
            conv3x3_backward_input_bf16_packed(
                bf16_kernels_, f32(gin), f32(g), packed_.data() + packed_offset_[i] + avx512bf16::packed_kernel_size(in.c, out.c),
                in.h, in.w, in.c, out.c);
          else if (need_din)
            conv3x3_backward_input(isa_, gin, g, w, 1, in.h, in.w, in.c, out.c);
        } else if (winograd(i)) {
          conv3x3_backward_weight_winograd(isa_, f32(dw), f32(db), f32(g), f32(x), 1, in.h, in.w, in.c, out.c);
          if (need_din)
            conv3x3_backward_input_winograd(isa_, f32(gin), f32(g),
                                            winograd_.data() + winograd_offset_[i] + size_t(16) * in.c * out.c, 1,
                                            in.h, in.w, in.c, out.c);
        } else {
          conv3x3_backward_weight(isa_, dw, db, g, x, 1, in.h, in.w, in.c, out.c);
          if (need_din && flipped_offset_.size() && flipped_offset_[i] != kNoParams)
            conv3x3_backward_input_flipped(isa_, f32(gin), f32(g), flipped_.data() + flipped_offset_[i], 1, in.h, in.w,
                                           in.c, out.c);
          else if (need_din)
            conv3x3_backward_input(isa_, gin, g, w, 1, in.h, in.w, in.c, out.c);
        }
        break;
      }
      case LayerType::Relu:
        if (!relu_in_pool_backward_[i]) ref::relu_backward(g, g, ws.act[i + 1], in.size());
        break;
      case LayerType::MaxPool2x2:
        // x is the ReLU's output when one precedes the pool (ReLU works in place)
        if (first_block_fused_ && i == first_param_layer_ + 2) {
          // The first conv block needs no input gradient: one fused pass gives its weight gradient.
          const Shape& cin = shapes_[i - 2];
          T* cdw = ws.dparams.data() + param_offset_[i - 2];
          relu_maxpool_conv3x3_backward_weight(isa_, precision_, bf16_kernels_, cdw, cdw + size_t(9) * cin.c * in.c, g,
                                               ws.code.data() + code_offset_[i - 2], ws.act[i - 2], 1, cin.h, cin.w,
                                               cin.c, in.c);
          ws.times.backward[i] += now_seconds() - t0;
          return;
        }
        if (i > 0 && relu_in_pool_backward_[i - 1]) relu_maxpool2x2_backward(isa_, gin, g, x, 1, in.h, in.w, in.c);
        else ref::maxpool2x2_backward(gin, g, x, 1, in.h, in.w, in.c);
        break;
      case LayerType::Flatten:
        break;
      case LayerType::Dense: {
        T* db = dw + size_t(in.c) * out.c;
        ref::dense_backward(need_din ? gin : static_cast<T*>(nullptr), dw, db, g, x, w, 1, in.c, out.c);
        break;
      }
      case LayerType::Dropout:
        ref::dropout_backward(gin, g, ws.mask.data() + mask_offset_[--dropout_i], in.size());
        break;
    }
    if (!aliases_input(l.type)) std::swap(g, gin);  // ReLU and Flatten work in place: g stays current
    const double t1 = now_seconds();
    ws.times.backward[i] += t1 - t0;
    t0 = t1;
  }
}

template <typename T>
StepResult Network<T>::run_batch(const uint8_t* images, const uint8_t* labels, const double* augment, int B,
                                 const int32_t* indices) {
  const int nt = pool_.size();
  const double t_kernels = now_seconds();
  prepare_step_kernels();
  const double t_pool = now_seconds();
  kernels_seconds_ += t_pool - t_kernels;
  std::vector<StepResult> part(nt);
  std::vector<double> busy(nt);  // [threads] seconds each thread worked in this batch
  const uint64_t step = step_;
  pool_.run([&](int t) {
    const double t_start = now_seconds();
    Workspace& ws = ws_[t];
    std::fill(ws.dparams.begin(), ws.dparams.end(), T(0));
    for (int b = int(int64_t(B) * t / nt); b < int(int64_t(B) * (t + 1) / nt); b++) {  // B * nt may pass INT_MAX
      const double t0 = now_seconds();
      const size_t i = indices ? size_t(indices[b]) : size_t(b);
      preprocess(ws.act[0], images + i * image_size(), augment ? augment + 4 * size_t(b) : nullptr);
      ws.times.preprocess += now_seconds() - t0;
      forward(ws, true, step, b);
      const T logit = ws.act.back()[0], label = T(labels[i]);
      T dlogit;
      part[t].loss_sum += double(ref::sigmoid_bce(&dlogit, &logit, &label, 1, T(1) / T(B)));
      part[t].correct += (ref::sigmoid(logit) > T(0.5)) == (labels[i] != 0);
      backward(ws, dlogit);
    }
    busy[t] = now_seconds() - t_start;
  });
  const double t0 = now_seconds();
  for (int t = 0; t < nt; t++) idle_seconds_ += (t0 - t_pool - busy[t]) / nt;
  StepResult r;
  std::copy(ws_[0].dparams.begin(), ws_[0].dparams.end(), grad_.begin());
  for (int t = 1; t < nt; t++)
    for (size_t i = 0; i < grad_.size(); i++) grad_[i] += ws_[t].dparams[i];
  for (const StepResult& p : part) {
    r.loss_sum += p.loss_sum;
    r.correct += p.correct;
  }
  update_seconds_ += now_seconds() - t0;
  return r;
}

template <typename T>
StepResult Network<T>::train_step(const uint8_t* images, const uint8_t* labels, const double* augment, int B,
                                  double lr, double rho, double eps, const int32_t* indices) {
  const double t_step = now_seconds();
  StepResult r = run_batch(images, labels, augment, B, indices);
  const double t0 = now_seconds();
  ref::rmsprop_update(params_.data(), accum_.data(), grad_.data(), params_.size(), lr, rho, eps);
  // A NaN or Inf gradient turns into a NaN weight; counted here so that JS need not copy the weights each step.
  for (const T p : params_) r.non_finite_params += !std::isfinite(p);
  const double t1 = now_seconds();
  update_seconds_ += t1 - t0;
  step_seconds_ += t1 - t_step;
  step_++;
  return r;
}

template <typename T>
StepResult Network<T>::compute_gradients(const uint8_t* images, const uint8_t* labels, const double* augment, int B) {
  return run_batch(images, labels, augment, B);
}

template <typename T>
void Network<T>::predict_logits(T* logits, const uint8_t* images, int B) {
  const int nt = pool_.size();
  prepare_step_kernels();
  pool_.run([&](int t) {
    Workspace& ws = ws_[t];
    for (int b = int(int64_t(B) * t / nt); b < int(int64_t(B) * (t + 1) / nt); b++) {
      preprocess(ws.act[0], images + size_t(b) * image_size(), nullptr);
      forward(ws, false, 0, b);
      logits[b] = ws.act.back()[0];
    }
  });
}

template class Network<float>;
template class Network<double>;

}  // namespace engine
