#include <string>

#include "binding/trainer.h"

namespace engine {

namespace {

const char* packing_name(Packing p) {
  switch (p) {
    case Packing::Bf16: return "bf16";
    case Packing::AmxNarrow: return "amx-narrow";
    case Packing::Flipped: return "flipped";
    case Packing::Winograd: return "winograd";
    case Packing::Winograd4: return "winograd4";
    case Packing::WinogradBf16: return "winograd-bf16";
    case Packing::Transposed: return "transposed";
    case Packing::None: break;
  }
  return "none";
}

Napi::Object step_to_js(Napi::Env env, const Layout& L, const Plan& p, const Step& s) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("direction", s.dir == Dir::Forward ? "forward" : "backward");
  o.Set("op", L.names[size_t(s.op)]);
  Napi::Array ops = Napi::Array::New(env, size_t(s.ops));
  for (int k = 0; k < s.ops; k++) ops[uint32_t(k)] = L.names[size_t(s.op + k)];
  o.Set("ops", ops);
  o.Set("kind", step_kind_name(s.kind));
  o.Set("kernel", impl_name(s.impl));
  if (s.dir == Dir::Backward && (s.kind == StepKind::Conv || s.kind == StepKind::ConvBlock))
    o.Set("inputGradient", s.input_impl == Impl::None ? env.Null() : Napi::String::New(env, impl_name(s.input_impl)));
  if (s.relu) o.Set("relu", true);
  if (s.accumulate) o.Set("accumulates", true);
  if (s.chunk > 0) o.Set("chunkImages", s.chunk);
  if (s.relu_mask != kNone) o.Set("reluMask", true);
  if (s.pool_code != kNone) o.Set("poolCode", true);
  // the gradient slots the step reads and writes (a slot number per input; -1: none): equal numbers, one buffer
  if (s.dir == Dir::Backward) {
    Napi::Object slots = Napi::Object::New(env);
    Napi::Array in = Napi::Array::New(env, 2);
    for (uint32_t k = 0; k < 2; k++) in[k] = s.grad_in[k];
    slots.Set("out", s.grad_out);
    slots.Set("in", in);
    o.Set("gradientSlots", slots);
  }
  // the op whose output a batch norm's pass adds (the input image: "input")
  if (s.residual >= 0) o.Set("residual", s.residual == 0 ? std::string("input") : L.names[size_t(s.residual) - 1]);
  if (s.bf16_in) o.Set("bf16In", true);
  if (s.bf16_out) o.Set("bf16Out", true);
  if (s.packed >= 0) {
    const PackedWeights& w = p.packing[size_t(s.packed)];
    o.Set("packing", packing_name(w.kind));
    o.Set("packedBytes", double(w.size * 4));
  } else {
    o.Set("packing", env.Null());
    o.Set("packedBytes", 0);
  }
  o.Set("workspaceBytes", double(s.workspace));
  return o;
}

}  // namespace

Napi::Array params_to_js(Napi::Env env, const std::vector<ParamInfo>& params) {
  Napi::Array out = Napi::Array::New(env, params.size());
  for (uint32_t i = 0; i < params.size(); i++) {
    const ParamInfo& p = params[i];
    Napi::Object o = Napi::Object::New(env);
    Napi::Array shape = Napi::Array::New(env, p.shape.size());
    for (uint32_t k = 0; k < p.shape.size(); k++) shape[k] = p.shape[k];
    o.Set("name", p.name);
    o.Set("shape", shape);
    o.Set("offset", double(p.offset));
    o.Set("size", double(p.size));
    out[i] = o;
  }
  return out;
}

Napi::Object layout_to_js(Napi::Env env, const Layout& L) {
  Napi::Object r = Napi::Object::New(env);
  r.Set("params", params_to_js(env, L.params));
  r.Set("state", params_to_js(env, L.state));
  r.Set("paramCount", double(L.param_count));
  r.Set("stateCount", double(L.state_count));
  Napi::Array ops = Napi::Array::New(env, L.ops());
  for (uint32_t i = 0; i < L.ops(); i++) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", L.names[i]);
    o.Set("type", op_type_name(L.op(i).type));
    const Shape& s = L.out(i);
    Napi::Array shape = Napi::Array::New(env, 3);
    shape[0u] = s.h;
    shape[1u] = s.w;
    shape[2u] = s.c;
    o.Set("shape", shape);
    ops[i] = o;
  }
  r.Set("ops", ops);
  r.Set("classes", L.classes());
  return r;
}

Napi::Object plan_to_js(Napi::Env env, const Layout& L, const Plan& p) {
  const PlanOptions& o = p.options;
  Napi::Object opts = Napi::Object::New(env);
  opts.Set("backend", o.backend == BackendKind::Cpu ? "cpu" : "cuda");
  opts.Set("dtype", o.double_precision ? "float64" : "float32");
  opts.Set("isa", isa_name(o.isa));
  opts.Set("precision", precision_name(o.precision));
  opts.Set("conv", conv_algorithm_name(o.conv));
  opts.Set("bf16Kernels", o.precision == Precision::Bf16 ? Napi::Value(Napi::String::New(env, bf16_kernels_name(o.bf16))) : env.Null());
  opts.Set("threads", o.threads);
  Napi::Object envs = Napi::Object::New(env);
  envs.Set("ENGINE_ISA", o.env_isa.empty() ? env.Null() : Napi::Value(Napi::String::New(env, o.env_isa)));
  envs.Set("ENGINE_BF16", o.env_bf16.empty() ? env.Null() : Napi::Value(Napi::String::New(env, o.env_bf16)));
  envs.Set("ENGINE_CHUNK", o.env_chunk.empty() ? env.Null() : Napi::Value(Napi::String::New(env, o.env_chunk)));
  opts.Set("env", envs);
  Napi::Object r = Napi::Object::New(env);
  r.Set("options", opts);
  r.Set("microBatch", p.micro_batch == 0 ? Napi::Value(Napi::String::New(env, "share")) : Napi::Number::New(env, p.micro_batch));
  Napi::Array steps = Napi::Array::New(env);
  uint32_t n = 0;
  for (const Step& s : p.forward) steps[n++] = step_to_js(env, L, p, s);
  for (const Step& s : p.backward) steps[n++] = step_to_js(env, L, p, s);
  r.Set("steps", steps);
  return r;
}

}  // namespace engine
