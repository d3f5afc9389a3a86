// The optimizers' updates on the GPU, mirroring ref::rmsprop_update, ref::sgd_update, ref::adamw_update and
// Network::update's clipping, weight decay and moving average (see kernels_cuda.h for each launcher's contract).
//
// Every update repeats the reference's float operations in its order with explicitly rounded intrinsics (no FMA
// contraction), the hyperparameters rounded to float on the host as the reference rounds them, so that from the
// same gradient they give the CPU's bits. The gradient's norm is summed in double over fixed slices, added in
// slice order: deterministic, no atomics.
#include <cmath>
#include <cstdint>

#include "cuda/kernels_cuda.h"
#include "cuda/launch.h"

namespace engine::ENGINE_CUDA_NS {

namespace {

using launch::blocks_for;
using launch::kThreads;

constexpr size_t kPerSlice = 16 * kThreads;
constexpr unsigned kMostSlices = 256;

launch::Slices norm_slices(size_t n) { return launch::slices_for(n, kPerSlice, kMostSlices); }

// the weight decay of element i: wd where decay marks it (a kernel), else 0
__device__ __forceinline__ float decay_of(const uint8_t* decay, size_t i, float wd) { return decay[i] ? wd : 0.f; }

__global__ void rmsprop_k(float* param, float* accum, const float* grad, const uint8_t* decay, size_t n, float lr,
                          float rho, float one_minus_rho, float eps, float wd) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    float g = grad[i];
    // with decay, the coupled gradient g + wd * p that Network::update hands to RMSprop (wd 0 off the kernels)
    if (decay) g = __fadd_rn(g, __fmul_rn(decay_of(decay, i, wd), param[i]));
    // accum = rho*accum + (1-rho)*g*g;  param -= lr*g / (sqrt(accum) + eps), rounded step by step as the CPU
    const float a = __fadd_rn(__fmul_rn(rho, accum[i]), __fmul_rn(__fmul_rn(one_minus_rho, g), g));
    accum[i] = a;
    param[i] = __fsub_rn(param[i], __fdiv_rn(__fmul_rn(lr, g), __fadd_rn(__fsqrt_rn(a), eps)));
  }
}

__global__ void sgd_k(float* param, float* velocity, const float* grad, const uint8_t* decay, size_t n, float lr,
                      float mu, bool nesterov, float wd) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    const float g = decay && decay[i] ? __fadd_rn(grad[i], __fmul_rn(wd, param[i])) : grad[i];
    const float v = __fadd_rn(__fmul_rn(mu, velocity[i]), g);
    velocity[i] = v;
    param[i] = __fsub_rn(param[i], __fmul_rn(lr, nesterov ? __fadd_rn(g, __fmul_rn(mu, v)) : v));
  }
}

// corrections [2] = 1 - beta1^t, 1 - beta2^t (float, formed on the host), read here so that a graph replays them
__global__ void adamw_k(float* param, float* m, float* v, const float* grad, const uint8_t* decay,
                        const float* corrections, size_t n, float lr, float b1, float b2, float one_b1, float one_b2,
                        float eps, float shrink) {
  const float c1 = corrections[0], c2 = corrections[1];
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    const float g = grad[i];
    float p = param[i];
    if (decay && decay[i]) p = __fmul_rn(p, shrink);
    const float mi = __fadd_rn(__fmul_rn(b1, m[i]), __fmul_rn(one_b1, g));
    const float vi = __fadd_rn(__fmul_rn(b2, v[i]), __fmul_rn(__fmul_rn(one_b2, g), g));
    m[i] = mi;
    v[i] = vi;
    param[i] = __fsub_rn(p, __fdiv_rn(__fmul_rn(lr, __fdiv_rn(mi, c1)), __fadd_rn(__fsqrt_rn(__fdiv_rn(vi, c2)), eps)));
  }
}

// partial [slices]: the sum of g^2 in double over slice blockIdx.x of grad, its threads' sums added in a fixed tree
__global__ void sum_squares_k(double* partial, const float* grad, size_t n, size_t chunk) {
  __shared__ double sum_s[kThreads];
  const size_t p0 = size_t(blockIdx.x) * chunk, p1 = p0 + chunk < n ? p0 + chunk : n;
  double sum = 0;
  for (size_t i = p0 + threadIdx.x; i < p1; i += blockDim.x) sum = __dadd_rn(sum, __dmul_rn(double(grad[i]), double(grad[i])));
  sum_s[threadIdx.x] = sum;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s /= 2) {
    if (threadIdx.x < unsigned(s)) sum_s[threadIdx.x] = __dadd_rn(sum_s[threadIdx.x], sum_s[threadIdx.x + s]);
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = sum_s[0];
}

// *scale = clip / norm where the norm (the slices added in order) is larger, else 1
__global__ void clip_scale_k(double* scale, const double* partial, int slices, double clip) {
  if (threadIdx.x != 0 || blockIdx.x != 0) return;
  double sq = 0;
  for (int s = 0; s < slices; s++) sq = __dadd_rn(sq, partial[s]);
  const double norm = __dsqrt_rn(sq);
  *scale = norm > clip ? double(float(__ddiv_rn(clip, norm))) : 1.0;
}

// (multiplying by 1 where nothing is clipped leaves every value as it was)
__global__ void scale_k(float* grad, const double* scale, size_t n) {
  const float s = float(*scale);
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    grad[i] = __fmul_rn(grad[i], s);
}

__global__ void ema_k(float* ema, const float* param, size_t n, float d, float one_d) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    ema[i] = __fadd_rn(__fmul_rn(d, ema[i]), __fmul_rn(one_d, param[i]));
}

}  // namespace

void rmsprop_update_cuda(float* param, float* accum, const float* grad, const uint8_t* decay, size_t n, double lr,
                         double rho, double eps, double weight_decay, cudaStream_t stream) {
  ENGINE_LAUNCH(blocks_for(n), kThreads, stream, rmsprop_k)(param, accum, grad, decay, n, float(lr), float(rho),
                                                            float(1.0 - rho), float(eps), float(weight_decay));
  CUDA_CHECK_LAUNCH("rmsprop_k");
}

void sgd_update_cuda(float* param, float* velocity, const float* grad, const uint8_t* decay, size_t n, double lr,
                     double momentum, bool nesterov, double weight_decay, cudaStream_t stream) {
  ENGINE_LAUNCH(blocks_for(n), kThreads, stream, sgd_k)(param, velocity, grad, decay, n, float(lr), float(momentum),
                                                        nesterov, float(weight_decay));
  CUDA_CHECK_LAUNCH("sgd_k");
}

void adamw_corrections(float* corrections, double beta1, double beta2, uint64_t t) {
  corrections[0] = float(1.0 - std::pow(beta1, double(t)));
  corrections[1] = float(1.0 - std::pow(beta2, double(t)));
}

void adamw_update_cuda(float* param, float* m, float* v, const float* grad, const uint8_t* decay,
                       const float* corrections, size_t n, double lr, double beta1, double beta2, double eps,
                       double weight_decay, cudaStream_t stream) {
  ENGINE_LAUNCH(blocks_for(n), kThreads, stream, adamw_k)(param, m, v, grad, decay, corrections, n, float(lr),
                                                          float(beta1), float(beta2), float(1.0 - beta1),
                                                          float(1.0 - beta2), float(eps),
                                                          float(1.0 - lr * weight_decay));
  CUDA_CHECK_LAUNCH("adamw_k");
}

size_t clip_scratch(size_t n) { return size_t(norm_slices(n).count) + 1; }

void clip_gradients_cuda(float* grad, size_t n, double clip_norm, double* scratch, cudaStream_t stream) {
  const launch::Slices s = norm_slices(n);
  double* scale = scratch + s.count;
  ENGINE_LAUNCH(s.count, kThreads, stream, sum_squares_k)(scratch, grad, n, s.chunk);
  CUDA_CHECK_LAUNCH("sum_squares_k");
  ENGINE_LAUNCH(1, 1, stream, clip_scale_k)(scale, scratch, int(s.count), clip_norm);
  CUDA_CHECK_LAUNCH("clip_scale_k");
  ENGINE_LAUNCH(blocks_for(n), kThreads, stream, scale_k)(grad, scale, n);
  CUDA_CHECK_LAUNCH("scale_k");
}

void ema_update_cuda(float* ema, const float* param, size_t n, double decay, cudaStream_t stream) {
  ENGINE_LAUNCH(blocks_for(n), kThreads, stream, ema_k)(ema, param, n, float(decay), float(1.0 - decay));
  CUDA_CHECK_LAUNCH("ema_k");
}

}  // namespace engine::ENGINE_CUDA_NS
