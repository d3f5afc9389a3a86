// The Trainer class (trainer.cpp), and a model's layout and plan as JS data (model_js.cpp).
#pragma once

#include <napi.h>

#include "model/graph.h"
#include "model/plan.h"

namespace engine {

Napi::Function define_trainer(Napi::Env env);

// {options: {backend, dtype, isa, precision, conv, bf16Kernels, threads, env: {ENGINE_ISA, ENGINE_BF16}},
//  microBatch, steps: [{direction, op, ops: [names], kind, kernel, inputGradient, packing, packedBytes,
//  workspaceBytes}]}: what runs each op, in the order it runs
Napi::Object plan_to_js(Napi::Env env, const Layout& layout, const Plan& plan);
// [{name, shape, offset, size}] of parameters (or of state)
Napi::Array params_to_js(Napi::Env env, const std::vector<ParamInfo>& params);
// {params, state, paramCount, stateCount, ops: [{name, type, shape}], classes}
Napi::Object layout_to_js(Napi::Env env, const Layout& layout);

}  // namespace engine
