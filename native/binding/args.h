// Argument checks shared by the addon's bindings (CPU and CUDA): typed arrays of an exact type and length,
// integers and numbers in range, the instruction set, the layer spec. Errors are TypeError/RangeError naming
// the argument.
#pragma once

#include <napi.h>

#include <cmath>
#include <new>
#include <stdexcept>
#include <string>
#include <initializer_list>
#include <vector>

#include "cpu/features.h"
#include "backend/backend.h"
#include "model/recipe.h"
#include "model/graph.h"

namespace engine {

// ---------- argument helpers ----------

[[noreturn]] inline void throw_type(Napi::Env env, const std::string& msg) { throw Napi::TypeError::New(env, msg); }
[[noreturn]] inline void throw_range(Napi::Env env, const std::string& msg) { throw Napi::RangeError::New(env, msg); }

template <typename T>
struct ArrayKind;
template <>
struct ArrayKind<float> {
  static constexpr napi_typedarray_type type = napi_float32_array;
  static constexpr const char* name = "Float32Array";
};
template <>
struct ArrayKind<double> {
  static constexpr napi_typedarray_type type = napi_float64_array;
  static constexpr const char* name = "Float64Array";
};
template <>
struct ArrayKind<int32_t> {
  static constexpr napi_typedarray_type type = napi_int32_array;
  static constexpr const char* name = "Int32Array";
};
template <>
struct ArrayKind<uint32_t> {
  static constexpr napi_typedarray_type type = napi_uint32_array;
  static constexpr const char* name = "Uint32Array";
};
template <>
struct ArrayKind<uint16_t> {
  static constexpr napi_typedarray_type type = napi_uint16_array;
  static constexpr const char* name = "Uint16Array";
};
template <>
struct ArrayKind<uint8_t> {
  static constexpr napi_typedarray_type type = napi_uint8_array;
  static constexpr const char* name = "Uint8Array";
};

// A typed array of element type T; `need` (if not SIZE_MAX) is the exact length required.
template <typename T>
Napi::TypedArrayOf<T> typed(const Napi::Value& v, const char* name, size_t need = SIZE_MAX) {
  Napi::Env env = v.Env();
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != ArrayKind<T>::type)
    throw_type(env, std::string(name) + " must be a " + ArrayKind<T>::name);
  auto a = v.As<Napi::TypedArrayOf<T>>();
  if (need != SIZE_MAX && a.ElementLength() != need)
    throw_range(env, std::string(name) + " must have " + std::to_string(need) + " elements, got " +
                         std::to_string(a.ElementLength()));
  return a;
}

inline int integer(const Napi::Value& v, const char* name, int lo, int hi) {
  Napi::Env env = v.Env();
  if (!v.IsNumber()) throw_type(env, std::string(name) + " must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::trunc(d) != d || d < lo || d > hi)
    throw_range(env, std::string(name) + " must be an integer in [" + std::to_string(lo) + ", " +
                         std::to_string(hi) + "], got " + v.ToString().Utf8Value());
  return int(d);
}

// ---------- shape objects ----------
// The raw-kernel bindings take their sizes as one object ({N, H, W, Cin, Cout}, {pairs, C}, ...): a TypeError
// where it is not an object, and each field read as integer() reads a number, named "shape.<field>".

inline Napi::Object shape_object(const Napi::Value& v, const char* fields) {
  if (!v.IsObject()) throw_type(v.Env(), std::string("shape must be an object ") + fields);
  return v.As<Napi::Object>();
}

inline int shape_field(const Napi::Object& shape, const char* field, int lo, int hi) {
  return integer(shape.Get(field), ("shape." + std::string(field)).c_str(), lo, hi);
}

// A 3x3 convolution's {N, H, W, Cin, Cout}: H, W its input, at least min_hw (3; 4 where a 2x2 max-pool follows)
struct ConvShape {
  int N, H, W, Cin, Cout;
};
inline ConvShape conv_shape(const Napi::Value& v, int min_hw = 3) {
  const Napi::Object s = shape_object(v, "{N, H, W, Cin, Cout}");
  return {shape_field(s, "N", 1, 1 << 16), shape_field(s, "H", min_hw, 1 << 16), shape_field(s, "W", min_hw, 1 << 16),
          shape_field(s, "Cin", 1, 4096), shape_field(s, "Cout", 1, 4096)};
}

// A 2x2 max-pool's {N, H, W, C}: H, W its input
struct PoolShape {
  int N, H, W, C;
};
inline PoolShape pool_shape(const Napi::Value& v) {
  const Napi::Object s = shape_object(v, "{N, H, W, C}");
  return {shape_field(s, "N", 1, 1 << 16), shape_field(s, "H", 2, 1 << 16), shape_field(s, "W", 2, 1 << 16),
          shape_field(s, "C", 1, 4096)};
}

// A dense layer's {N, I, O}: N rows of I inputs to O outputs
struct DenseShape {
  int N, I, O;
};
inline DenseShape dense_shape(const Napi::Value& v) {
  const Napi::Object s = shape_object(v, "{N, I, O}");
  return {shape_field(s, "N", 1, 1 << 20), shape_field(s, "I", 1, 1 << 20), shape_field(s, "O", 1, 1 << 20)};
}

// One image's {H, W, C} (the augmentation warp)
struct ImageShape {
  int H, W, C;
};
inline ImageShape image_shape(const Napi::Value& v) {
  const Napi::Object s = shape_object(v, "{H, W, C}");
  return {shape_field(s, "H", 1, 1 << 16), shape_field(s, "W", 1, 1 << 16), shape_field(s, "C", 1, 4096)};
}

// Batch norm's {P, C}: P pixels (of all the images) of C channels
struct ChannelShape {
  int P, C;
};
inline ChannelShape channel_shape(const Napi::Value& v) {
  const Napi::Object s = shape_object(v, "{P, C}");
  return {shape_field(s, "P", 1, 1 << 30), shape_field(s, "C", 1, 1 << 16)};
}

inline double number(const Napi::Value& v, const char* name) {
  if (!v.IsNumber()) throw_type(v.Env(), std::string(name) + " must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d)) throw_range(v.Env(), std::string(name) + " must be finite");
  return d;
}

// Every element of a Float64Array finite: the augmentation warp's clamps would otherwise meet NaN
inline void require_finite(const Napi::TypedArrayOf<double>& a, const char* name) {
  for (size_t i = 0; i < a.ElementLength(); i++)
    if (!std::isfinite(a[i]))
      throw_range(a.Env(), std::string(name) + "[" + std::to_string(i) + "] must be finite, got " +
                               Napi::Number::New(a.Env(), a[i]).ToString().Utf8Value());
}

// The batch size of `bytes` of images of `image_size` bytes each: a whole number from 1 to INT32_MAX
inline int image_count(Napi::Env env, size_t bytes, size_t image_size) {
  if (bytes == 0 || bytes % image_size != 0 || bytes / image_size > size_t(INT32_MAX))
    throw_range(env, "images must hold a whole number (1 to 2^31 - 1) of " + std::to_string(image_size) +
                         "-byte images (H*W*C uint8), got " + std::to_string(bytes) + " bytes");
  return int(bytes / image_size);
}

// labels [n] u8, each a class index below `classes`, copied
inline void read_labels(const Napi::Value& v, size_t n, int classes, std::vector<uint8_t>* labels) {
  auto lab = typed<uint8_t>(v, "labels", n);
  for (size_t i = 0; i < lab.ElementLength(); i++)
    if (lab[i] >= classes)
      throw_range(v.Env(), "labels[" + std::to_string(i) + "] must be " +
                               (classes == 2 ? std::string("0 or 1") : "in [0, " + std::to_string(classes) + ")") +
                               ", got " + std::to_string(lab[i]));
  labels->assign(lab.Data(), lab.Data() + lab.ElementLength());
}

// augment [B*per_image] f64, finite, copied; nothing for undefined or null (no augmentation)
inline void read_augment(const Napi::Value& v, int B, int per_image, std::vector<double>* augment) {
  if (v.IsUndefined() || v.IsNull()) return;
  auto aug = typed<double>(v, "augment", size_t(per_image) * size_t(B));
  require_finite(aug, "augment");
  augment->assign(aug.Data(), aug.Data() + aug.ElementLength());
}

// indices [B] i32 into a dataset of N images: 1 to 2^31 - 1 of them, each in [0, N), copied
inline std::vector<int32_t> read_indices(const Napi::Value& v, size_t N) {
  auto idx = typed<int32_t>(v, "indices");
  if (idx.ElementLength() == 0 || idx.ElementLength() > size_t(INT32_MAX))
    throw_range(v.Env(), "indices must hold 1 to 2^31 - 1 indices, got " + std::to_string(idx.ElementLength()));
  for (size_t i = 0; i < idx.ElementLength(); i++)
    if (idx[i] < 0 || size_t(idx[i]) >= N)
      throw_range(v.Env(), "indices[" + std::to_string(i) + "] must be in [0, " + std::to_string(N) + "), got " +
                               std::to_string(idx[i]));
  return std::vector<int32_t>(idx.Data(), idx.Data() + idx.ElementLength());
}

// A step's optimizer settings {lr, rho?, epsilon?, momentum?, nesterov?, beta1?, beta2?, weightDecay?, clipNorm?}
// (model/recipe.h OptimizerStep; what is not given keeps its value there)
inline OptimizerStep read_optimizer(const Napi::Value& v) {
  Napi::Env env = v.Env();
  if (!v.IsObject()) throw_type(env, "optimizer must be an object {lr, ...}");
  Napi::Object opt = v.As<Napi::Object>();
  OptimizerStep o;
  auto field = [&](const char* name, double* out) {
    if (!opt.Get(name).IsUndefined()) *out = number(opt.Get(name), name);
  };
  o.lr = number(opt.Get("lr"), "lr");
  field("rho", &o.rho);
  field("epsilon", &o.eps);
  field("momentum", &o.momentum);
  field("beta1", &o.beta1);
  field("beta2", &o.beta2);
  field("weightDecay", &o.weight_decay);
  field("clipNorm", &o.clip_norm);
  if (!opt.Get("nesterov").IsUndefined()) o.nesterov = opt.Get("nesterov").ToBoolean();
  if (!(o.lr > 0)) throw_range(env, "lr must be > 0");
  if (!(o.rho >= 0 && o.rho < 1)) throw_range(env, "rho must be in [0, 1)");
  if (!(o.eps >= 0)) throw_range(env, "epsilon must be >= 0");
  if (!(o.momentum >= 0 && o.momentum < 1)) throw_range(env, "momentum must be in [0, 1)");
  if (!(o.beta1 >= 0 && o.beta1 < 1) || !(o.beta2 >= 0 && o.beta2 < 1)) throw_range(env, "beta1 and beta2 must be in [0, 1)");
  if (!(o.weight_decay >= 0) || !(o.clip_norm >= 0)) throw_range(env, "weightDecay and clipNorm must be >= 0");
  return o;
}

// One of a few strings: "<name> must be 'a' or 'b', got 'x'"
inline std::string choice(const Napi::Value& v, const char* name, std::initializer_list<const char*> allowed) {
  const std::string got = v.IsString() ? v.As<Napi::String>().Utf8Value() : v.IsUndefined() ? "undefined" : v.ToString().Utf8Value();
  for (const char* a : allowed)
    if (v.IsString() && got == a) return got;
  std::string list;
  size_t i = 0;
  for (const char* a : allowed) list += (i++ == 0 ? "'" : i == allowed.size() ? " or '" : ", '") + std::string(a) + "'";
  throw_range(v.Env(), std::string(name) + " must be " + list + ", got '" + got + "'");
}

// An ISA the CPU has: 'scalar', 'avx2' or 'avx512'
inline Isa isa_arg(const Napi::Value& v) {
  if (!v.IsString()) throw_type(v.Env(), "isa must be 'scalar', 'avx2' or 'avx512'");
  Isa isa;
  if (!parse_isa(v.As<Napi::String>().Utf8Value(), &isa))
    throw_range(v.Env(), "isa must be 'scalar', 'avx2' or 'avx512', got '" + v.As<Napi::String>().Utf8Value() + "'");
  if (isa > cpu_isa())
    throw_range(v.Env(), std::string("isa '") + isa_name(isa) + "' is not supported by this CPU (best: " +
                             isa_name(cpu_isa()) + ")");
  return isa;
}

// A model spec {input: [h, w, c], layers: [...], head?}: types and ranges here, the graph's rules in make_layout
inline ModelSpec parse_spec(const Napi::Value& v) {
  Napi::Env env = v.Env();
  if (!v.IsObject()) throw_type(env, "spec must be an object {input: [h, w, c], layers: [...]}");
  Napi::Object o = v.As<Napi::Object>();
  Napi::Value input = o.Get("input");
  if (!input.IsArray() || input.As<Napi::Array>().Length() != 3) throw_type(env, "spec.input must be [height, width, channels]");
  Napi::Array in = input.As<Napi::Array>();
  ModelSpec spec;
  spec.height = integer(in.Get(0u), "spec.input[0]", 1, 1 << 16);
  spec.width = integer(in.Get(1u), "spec.input[1]", 1, 1 << 16);
  spec.channels = integer(in.Get(2u), "spec.input[2]", 1, 4096);
  if (!o.Get("head").IsUndefined())
    spec.head = choice(o.Get("head"), "spec.head", {"sigmoid", "softmax"}) == "softmax" ? Head::Softmax : Head::Sigmoid;
  Napi::Value layers = o.Get("layers");
  if (!layers.IsArray()) throw_type(env, "spec.layers must be an array");
  Napi::Array ls = layers.As<Napi::Array>();
  for (uint32_t i = 0; i < ls.Length(); i++) {
    const std::string where = "spec.layers[" + std::to_string(i) + "]";
    Napi::Value lv = ls.Get(i);
    if (!lv.IsObject()) throw_type(env, where + " must be an object");
    Napi::Object l = lv.As<Napi::Object>();
    auto field = [&](const char* f) { return where + "." + f; };
    const std::string type = choice(l.Get("type"), field("type").c_str(),
                                    {"conv3x3", "conv", "relu", "maxpool2x2", "flatten", "dense", "dropout",
                                     "globalavgpool", "add", "batchnorm"});
    OpSpec s;
    if (!l.Get("name").IsUndefined()) {
      if (!l.Get("name").IsString()) throw_type(env, field("name") + " must be a string");
      s.name = l.Get("name").As<Napi::String>().Utf8Value();
    }
    if (!l.Get("inputs").IsUndefined()) {
      if (!l.Get("inputs").IsArray()) throw_type(env, field("inputs") + " must be an array of layer names");
      Napi::Array ins = l.Get("inputs").As<Napi::Array>();
      for (uint32_t k = 0; k < ins.Length(); k++) {
        if (!ins.Get(k).IsString()) throw_type(env, field("inputs") + " must be an array of layer names");
        s.inputs.push_back(ins.Get(k).As<Napi::String>().Utf8Value());
      }
    }
    if (type == "conv3x3" || type == "conv") {
      s.type = OpType::Conv;
      s.units = integer(l.Get("filters"), field("filters").c_str(), 1, 4096);
      if (type == "conv") {
        s.kernel = integer(l.Get("kernel"), field("kernel").c_str(), 1, 15);
        s.stride = l.Get("stride").IsUndefined() ? 1 : integer(l.Get("stride"), field("stride").c_str(), 1, 8);
        if (!l.Get("padding").IsUndefined())
          s.padding = choice(l.Get("padding"), field("padding").c_str(), {"valid", "same"}) == "same" ? Padding::Same : Padding::Valid;
      }
    } else if (type == "dense") {
      s.type = OpType::Dense;
      s.units = integer(l.Get("units"), field("units").c_str(), 1, 1 << 20);
    } else if (type == "dropout") {
      s.type = OpType::Dropout;
      s.rate = number(l.Get("rate"), field("rate").c_str());
    } else if (type == "batchnorm") {
      s.type = OpType::BatchNorm;
      if (!l.Get("momentum").IsUndefined()) s.momentum = number(l.Get("momentum"), field("momentum").c_str());
      if (!l.Get("epsilon").IsUndefined()) s.epsilon = number(l.Get("epsilon"), field("epsilon").c_str());
    } else {
      s.type = type == "relu" ? OpType::Relu : type == "maxpool2x2" ? OpType::MaxPool2x2 : type == "flatten" ? OpType::Flatten
             : type == "globalavgpool" ? OpType::GlobalAvgPool : OpType::Add;
    }
    spec.ops.push_back(s);
  }
  return spec;
}

// The recipe fields of a Trainer's config (model/recipe.h): types and lengths here, their sense in TypeScript
inline Recipe read_recipe(const Napi::Object& o, int channels) {
  Napi::Env env = o.Env();
  Recipe r;
  if (!o.Get("optimizer").IsUndefined()) {
    const std::string k = choice(o.Get("optimizer"), "optimizer", {"rmsprop", "sgd", "adamw"});
    r.optimizer = k == "sgd" ? OptimizerKind::Sgd : k == "adamw" ? OptimizerKind::AdamW : OptimizerKind::RmsProp;
  }
  if (!o.Get("labelSmoothing").IsUndefined()) {
    r.label_smoothing = number(o.Get("labelSmoothing"), "labelSmoothing");
    if (!(r.label_smoothing >= 0 && r.label_smoothing < 1)) throw_range(env, "labelSmoothing must be in [0, 1)");
  }
  if (!o.Get("ema").IsUndefined()) {
    r.ema_decay = number(o.Get("ema"), "ema");
    if (!(r.ema_decay >= 0 && r.ema_decay < 1)) throw_range(env, "ema must be in [0, 1)");
  }
  if (!o.Get("augment").IsUndefined())
    r.augment = choice(o.Get("augment"), "augment", {"keras", "crop"}) == "crop" ? AugmentKind::Crop : AugmentKind::Keras;
  const Napi::Value n = o.Get("normalize");
  if (!n.IsUndefined() && !n.IsNull()) {
    if (!n.IsObject()) throw_type(env, "normalize must be an object {mean, std}");
    for (const char* key : {"mean", "std"}) {
      const Napi::Value a = n.As<Napi::Object>().Get(key);
      if (!a.IsArray() || a.As<Napi::Array>().Length() != uint32_t(channels))
        throw_type(env, std::string("normalize.") + key + " must be an array of " + std::to_string(channels) + " numbers (one per channel)");
      std::vector<double>& out = std::string(key) == "mean" ? r.mean : r.std;
      for (uint32_t c = 0; c < uint32_t(channels); c++) out.push_back(number(a.As<Napi::Array>().Get(c), key));
    }
    for (double s : r.std)
      if (!(s > 0)) throw_range(env, "normalize.std must be > 0");
  }
  return r;
}

// Runs fn, turning C++ exceptions into JS ones (node-addon-api rethrows only Napi::Error by itself).
template <typename F>
inline auto guarded(Napi::Env env, F&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (const SpecError& e) {
    throw Napi::RangeError::New(env, e.what());
  } catch (const std::bad_alloc&) {
    throw Napi::Error::New(env, "out of host memory");
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

}  // namespace engine
