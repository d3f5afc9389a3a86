// Batch norm on the GPU, mirroring ref::batchnorm_* (see kernels_cuda.h for each launcher's contract).
//
// The per-channel sums run in double, as the reference's: each block sums a fixed slice of the pixels for 32
// channels (8 rows of threads over the slice's pixels, the rows then added in row order), writing its partial
// sums to scratch; one more kernel adds the slices in slice order per channel. No float atomics: the same inputs
// give the same bits on any GPU. The elementwise passes repeat the reference's operations with explicitly
// rounded intrinsics (no FMA contraction), so from the same statistics they give its bits.
#include <cstdint>

#include "cuda/kernels_cuda.h"
#include "cuda/launch.h"

namespace engine::ENGINE_CUDA_NS {

namespace {

using launch::blocks_for;
using launch::kThreads;

constexpr int kLanes = 32;                   // channels per block of the sums
constexpr int kRows = kThreads / kLanes;     // pixel rows per block of the sums
constexpr size_t kPixelsPerSlice = 1024;
constexpr unsigned kMostSlices = 256;

launch::Slices pixel_slices(size_t P) { return launch::slices_for(P, kPixelsPerSlice, kMostSlices); }

// partial [slices][2C]: over pixel slice blockIdx.x of x [P, C], for channels from blockIdx.y * 32, the sum of
// x and of x^2 in double (forward), or with dout (backward) the sum of g and of g * xhat, g the output gradient
// (0 where the fused ReLU's output relu_out is not positive), xhat = (x - mean) * invstd
template <bool kBackward>
__global__ void bn_sums_k(double* partial, const float* x, const float* dout, const float* relu_out,
                          const double* stats, size_t P, int C, size_t chunk) {
  __shared__ double first_s[kThreads];
  __shared__ double second_s[kThreads];
  const int lane = int(threadIdx.x) % kLanes, row = int(threadIdx.x) / kLanes;
  const int c = int(blockIdx.y) * kLanes + lane;
  const size_t p0 = size_t(blockIdx.x) * chunk, p1 = p0 + chunk < P ? p0 + chunk : P;
  double first = 0, second = 0;
  if (c < C) {
    const double mean = kBackward ? stats[c] : 0, invstd = kBackward ? stats[C + c] : 0;
    for (size_t p = p0 + size_t(row); p < p1; p += kRows) {
      const size_t i = p * size_t(C) + size_t(c);
      if (kBackward) {
        const double g = double(!relu_out || relu_out[i] > 0.f ? dout[i] : 0.f);
        const double xhat = __dmul_rn(__dsub_rn(double(x[i]), mean), invstd);
        first = __dadd_rn(first, g);
        second = __dadd_rn(second, __dmul_rn(g, xhat));
      } else {
        const double v = double(x[i]);
        first = __dadd_rn(first, v);
        second = __dadd_rn(second, __dmul_rn(v, v));
      }
    }
  }
  first_s[threadIdx.x] = first;
  second_s[threadIdx.x] = second;
  __syncthreads();
  if (row == 0 && c < C) {
    for (int r = 1; r < kRows; r++) {
      first = __dadd_rn(first, first_s[r * kLanes + lane]);
      second = __dadd_rn(second, second_s[r * kLanes + lane]);
    }
    double* out = partial + size_t(blockIdx.x) * 2 * size_t(C);
    out[c] = first;
    out[C + c] = second;
  }
}

// total [2C] = partial [slices][2C] added in slice order, per channel
__device__ __forceinline__ void add_slices(double* first, double* second, const double* partial, int slices, int C,
                                           int c) {
  double a = 0, b = 0;
  for (int s = 0; s < slices; s++) {
    a = __dadd_rn(a, partial[size_t(s) * 2 * C + c]);
    b = __dadd_rn(b, partial[size_t(s) * 2 * C + C + c]);
  }
  *first = a;
  *second = b;
}

// The batch's statistics per channel from the slices' sums, as Network::run_coupled forms them; with update, the
// running statistics follow (the variance unbiased)
__global__ void bn_statistics_k(double* stats, float* running, const double* partial, int slices, int C, double count,
                                double momentum, double one_minus_momentum, double epsilon, bool update) {
  for (int c = int(blockIdx.x * blockDim.x + threadIdx.x); c < C; c += int(gridDim.x * blockDim.x)) {
    double sum, sumsq;
    add_slices(&sum, &sumsq, partial, slices, C, c);
    const double mean = __ddiv_rn(sum, count);
    double var = __dsub_rn(__ddiv_rn(sumsq, count), __dmul_rn(mean, mean));
    var = var < 0.0 ? 0.0 : var;  // (std::max(var, 0.0): a NaN stays)
    stats[c] = mean;
    stats[C + c] = __ddiv_rn(1.0, __dsqrt_rn(__dadd_rn(var, epsilon)));
    if (update) {
      const double unbiased = count > 1 ? __ddiv_rn(__dmul_rn(var, count), __dsub_rn(count, 1.0)) : var;
      running[c] = float(__dadd_rn(__dmul_rn(momentum, double(running[c])), __dmul_rn(one_minus_momentum, mean)));
      running[C + c] =
          float(__dadd_rn(__dmul_rn(momentum, double(running[C + c])), __dmul_rn(one_minus_momentum, unbiased)));
    }
  }
}

// Inference's statistics: the running mean, and 1 / sqrt(running variance + epsilon)
__global__ void bn_running_statistics_k(double* stats, const float* running, int C, double epsilon) {
  for (int c = int(blockIdx.x * blockDim.x + threadIdx.x); c < C; c += int(gridDim.x * blockDim.x)) {
    stats[c] = double(running[c]);
    stats[C + c] = __ddiv_rn(1.0, __dsqrt_rn(__dadd_rn(double(running[C + c]), epsilon)));
  }
}

// dgamma [C] +=, dbeta [C] += the batch's sums of g * xhat and of g; totals [2C] = those sums in double
__global__ void bn_backward_statistics_k(double* totals, float* dgamma, float* dbeta, const double* partial,
                                         int slices, int C) {
  for (int c = int(blockIdx.x * blockDim.x + threadIdx.x); c < C; c += int(gridDim.x * blockDim.x)) {
    double dsum, dxhat;
    add_slices(&dsum, &dxhat, partial, slices, C, c);
    totals[c] = dsum;
    totals[C + c] = dxhat;
    dgamma[c] = __fadd_rn(dgamma[c], float(dxhat));
    dbeta[c] = __fadd_rn(dbeta[c], float(dsum));
  }
}

__global__ void bn_forward_k(float* out, const float* in, const double* stats, const float* gamma, const float* beta,
                             size_t P, int C, bool relu) {
  const size_t n = P * size_t(C);
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    const int c = int(i % size_t(C));
    const float xhat = float(__dmul_rn(__dsub_rn(double(in[i]), stats[c]), stats[C + c]));
    const float y = __fadd_rn(__fmul_rn(gamma[c], xhat), beta[c]);
    out[i] = !relu || y > 0.f ? y : 0.f;
  }
}

// din = gamma * invstd * (g - dsum / count - xhat * dxhat / count), in double as the reference
__global__ void bn_backward_input_k(float* din, const float* dout, const float* relu_out, const float* in,
                                    const double* stats, const float* gamma, const double* totals, double count,
                                    size_t P, int C) {
  const size_t n = P * size_t(C);
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    const int c = int(i % size_t(C));
    const double g = double(!relu_out || relu_out[i] > 0.f ? dout[i] : 0.f);
    const double invstd = stats[C + c];
    const double xhat = __dmul_rn(__dsub_rn(double(in[i]), stats[c]), invstd);
    const double centred = __dsub_rn(__dsub_rn(g, __ddiv_rn(totals[c], count)), __ddiv_rn(__dmul_rn(xhat, totals[C + c]), count));
    din[i] = float(__dmul_rn(__dmul_rn(double(gamma[c]), invstd), centred));
  }
}

unsigned channel_blocks(int C) { return unsigned((C + kThreads - 1) / kThreads); }

// the slices' partial sums of x (forward) or of the output gradient (backward) into scratch
template <bool kBackward>
launch::Slices sums(double* scratch, const float* x, const float* dout, const float* relu_out, const double* stats,
                    size_t P, int C, cudaStream_t stream) {
  const launch::Slices s = pixel_slices(P);
  const dim3 grid(s.count, unsigned((C + kLanes - 1) / kLanes));
  ENGINE_LAUNCH(grid, kThreads, stream, bn_sums_k<kBackward>)(scratch, x, dout, relu_out, stats, P, C, s.chunk);
  CUDA_CHECK_LAUNCH("bn_sums_k");
  return s;
}

}  // namespace

size_t batchnorm_scratch(size_t P, int C) { return (size_t(pixel_slices(P).count) + 1) * 2 * size_t(C); }

void batchnorm_forward_train_cuda(float* out, double* stats, float* running, const float* in, const float* gamma,
                                  const float* beta, size_t P, int C, double momentum, double epsilon, bool update,
                                  bool relu, double* scratch, cudaStream_t stream) {
  const launch::Slices s = sums<false>(scratch, in, nullptr, nullptr, nullptr, P, C, stream);
  ENGINE_LAUNCH(channel_blocks(C), kThreads, stream, bn_statistics_k)(stats, running, scratch, int(s.count), C,
                                                                      double(P), momentum, 1 - momentum, epsilon,
                                                                      update);
  CUDA_CHECK_LAUNCH("bn_statistics_k");
  ENGINE_LAUNCH(blocks_for(P * size_t(C)), kThreads, stream, bn_forward_k)(out, in, stats, gamma, beta, P, C, relu);
  CUDA_CHECK_LAUNCH("bn_forward_k");
}

void batchnorm_forward_infer_cuda(float* out, double* stats, const float* in, const float* running, const float* gamma,
                                  const float* beta, size_t P, int C, double epsilon, bool relu, cudaStream_t stream) {
  ENGINE_LAUNCH(channel_blocks(C), kThreads, stream, bn_running_statistics_k)(stats, running, C, epsilon);
  CUDA_CHECK_LAUNCH("bn_running_statistics_k");
  ENGINE_LAUNCH(blocks_for(P * size_t(C)), kThreads, stream, bn_forward_k)(out, in, stats, gamma, beta, P, C, relu);
  CUDA_CHECK_LAUNCH("bn_forward_k");
}

void batchnorm_backward_cuda(float* din, float* dgamma, float* dbeta, const float* dout, const float* relu_out,
                             const float* in, const double* stats, const float* gamma, size_t P, int C,
                             double* scratch, cudaStream_t stream) {
  const launch::Slices s = sums<true>(scratch, in, dout, relu_out, stats, P, C, stream);
  double* totals = scratch + size_t(s.count) * 2 * size_t(C);  // [2C] dsum, dxhat: after the partial sums
  ENGINE_LAUNCH(channel_blocks(C), kThreads, stream, bn_backward_statistics_k)(totals, dgamma, dbeta, scratch,
                                                                               int(s.count), C);
  CUDA_CHECK_LAUNCH("bn_backward_statistics_k");
  if (!din) return;
  ENGINE_LAUNCH(blocks_for(P * size_t(C)), kThreads, stream, bn_backward_input_k)(din, dout, relu_out, in, stats,
                                                                                  gamma, totals, double(P), P, C);
  CUDA_CHECK_LAUNCH("bn_backward_input_k");
}

}  // namespace engine::ENGINE_CUDA_NS
