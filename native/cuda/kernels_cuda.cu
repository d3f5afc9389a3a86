// CUDA kernels mirroring native/kernels_ref.h (see kernels_cuda.h for the contract of each launcher).
//
// Convolutions and dense layers are one tiled implicit GEMM, C[m][n] = sum_k A(m, k) * B(k, n), whose operands
// are gathered on the fly by small loader functors (no im2col buffer in device memory):
//   conv forward         m = output pixel (N*Ho*Wo), n = Cout, k = (ky*3 + kx)*Cin + ci   (the HWIO row)
//   conv input gradient  m = input pixel (N*H*W),    n = Cin,  k = (ky*3 + kx)*Cout + co  (dout shifted back)
//   conv weight gradient m = HWIO row (+1 bias row), n = Cout, k = output pixel           (split over k)
//   dense                the same three with pixels replaced by images
// Weight gradients split the long pixel reduction into fixed slices whose partial sums one more kernel adds in
// slice order: deterministic, no float atomics.
//
// Elementwise kernels that have an exact CPU counterpart (ReLU, max-pool, dropout, RMSprop, the warp) use the
// same operations in the same order with explicitly rounded intrinsics (no FMA contraction), so they give the
// CPU reference's bits.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "kernels/ref/ref.h"
#include "model/rng.h"
#include "cuda/check.h"
#include "cuda/kernels_cuda.h"
#include "cuda/launch.h"

namespace engine::ENGINE_CUDA_NS {

namespace {

using launch::blocks_for;
using launch::kThreads;
constexpr int BK = 16;  // reduction depth of one shared-memory tile

// ---------- the implicit GEMM ----------

// Block tile BM x BN, each thread 4x4 outputs strided across the tile (rows ty + i*TY, columns tx + j*TX) so a
// warp's shared-memory reads are broadcasts or consecutive words. blockIdx.z picks a slice of the reduction.
template <int BM, int BN, class LoadA, class LoadB, class Store>
__global__ void __launch_bounds__((BM / 4) * (BN / 4))
    gemm_kernel(int M, int Ncols, int K, int k_chunk, LoadA la, LoadB lb, Store st) {
  constexpr int TX = BN / 4, TY = BM / 4, NT = TX * TY;
  __shared__ float As[BK][BM + 1];  // [k][m]
  __shared__ float Bs[BK][BN];      // [k][n]
  const int tid = threadIdx.x, tx = tid % TX, ty = tid / TX;
  const int m0 = blockIdx.x * BM, n0 = blockIdx.y * BN;
  const int kbeg = blockIdx.z * k_chunk, kend = min(K, kbeg + k_chunk);
  float acc[4][4];
#pragma unroll
  for (int i = 0; i < 4; i++)
#pragma unroll
    for (int j = 0; j < 4; j++) acc[i][j] = 0.f;
  for (int k0 = kbeg; k0 < kend; k0 += BK) {
    for (int t = tid; t < BM * BK; t += NT) {  // k fastest: consecutive channels are consecutive in memory
      const int kk = t % BK, mm = t / BK, m = m0 + mm, k = k0 + kk;
      As[kk][mm] = (m < M && k < kend) ? la(m, k) : 0.f;
    }
    for (int t = tid; t < BN * BK; t += NT) {
      const int nn = t % BN, kk = t / BN, n = n0 + nn, k = k0 + kk;
      Bs[kk][nn] = (n < Ncols && k < kend) ? lb(k, n) : 0.f;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < BK; kk++) {
      float a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; i++) a[i] = As[kk][ty + i * TY];
#pragma unroll
      for (int j = 0; j < 4; j++) b[j] = Bs[kk][tx + j * TX];
#pragma unroll
      for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; i++)
#pragma unroll
    for (int j = 0; j < 4; j++) {
      const int m = m0 + ty + i * TY, n = n0 + tx + j * TX;
      if (m < M && n < Ncols) st(m, n, acc[i][j], int(blockIdx.z));
    }
}

// How a reduction of length K is cut into slices: enough blocks to fill a large GPU, slices a whole number of
// BK tiles and at least 256 long. Depends on the sizes only, so results repeat on any GPU.
struct Split {
  int slices, chunk;
};
Split split_plan(long long K, int M, int Ncols, int BM, int BN) {
  const long long tiles = ((M + BM - 1) / BM) * (long long)((Ncols + BN - 1) / BN);
  long long s = std::max<long long>(1, (512 + tiles - 1) / tiles);
  s = std::min<long long>(s, std::max<long long>(1, K / 256));
  long long chunk = (K + s - 1) / s;
  chunk = (chunk + BK - 1) / BK * BK;
  return {int((K + chunk - 1) / chunk), int(chunk)};
}

template <class LoadA, class LoadB, class Store>
void gemm(int M, int Ncols, int K, Split split, LoadA la, LoadB lb, Store st, cudaStream_t stream) {
  constexpr int BM = 64;
  if (Ncols <= 32) {
    constexpr int BN = 32;
    const dim3 grid((M + BM - 1) / BM, (Ncols + BN - 1) / BN, split.slices);
    ENGINE_LAUNCH(grid, (BM / 4) * (BN / 4), stream, gemm_kernel<BM, BN>)(M, Ncols, K, split.chunk, la, lb, st);
  } else {
    constexpr int BN = 64;
    const dim3 grid((M + BM - 1) / BM, (Ncols + BN - 1) / BN, split.slices);
    ENGINE_LAUNCH(grid, (BM / 4) * (BN / 4), stream, gemm_kernel<BM, BN>)(M, Ncols, K, split.chunk, la, lb, st);
  }
  CUDA_CHECK_LAUNCH("gemm_kernel");
}

Split whole(int K) { return {1, std::max(K, 1)}; }
int bn_for(int Ncols) { return Ncols <= 32 ? 32 : 64; }

// A GEMM's rows or reduction length, formed in int64 from the batch, as the int the GEMM takes
int gemm_size(long long n, const char* what) {
  if (n > kMaxGemmSize)
    throw std::length_error(std::string(what) + ": a GEMM of " + std::to_string(n) +
                            " pixels, more than its int indices take (" + std::to_string(kMaxGemmSize) +
                            "): use a smaller batch");
  return int(n);
}

// ---------- operand loaders ----------

// in [N, H, W, Cin] seen as the im2col matrix A(pixel m of [N, Ho, Wo], HWIO row k) of a k x k convolution at
// stride s over the input padded by pt rows and pl columns (zero outside the image)
struct ConvPatch {
  const float* in;
  int H, W, Cin, Ho, Wo, k, s, pt, pl;
  __device__ float operator()(int m, int kk) const {
    const int hw = Ho * Wo, n = m / hw, p = m - n * hw, y = p / Wo, x = p - y * Wo;
    const int tap = kk / Cin, ci = kk - tap * Cin, ky = tap / k, kx = tap - ky * k;
    const int iy = y * s + ky - pt, ix = x * s + kx - pl;
    if (iy < 0 || iy >= H || ix < 0 || ix >= W) return 0.f;
    return in[((size_t(n) * H + iy) * W + ix) * Cin + ci];
  }
};

// dout [N, Ho, Wo, Cout] seen from input pixel m of [N, H, W]: A(m, (ky*k+kx)*Cout + co) = dout[n, y, x, co] for
// the output (y, x) whose tap (ky, kx) reads that pixel (y*s + ky - pt = Y), 0 where there is none
struct ConvGradPatch {
  const float* dout;
  int H, W, Cout, Ho, Wo, k, s, pt, pl;
  __device__ float operator()(int m, int kk) const {
    const int hw = H * W, n = m / hw, p = m - n * hw, Y = p / W, X = p - Y * W;
    const int tap = kk / Cout, co = kk - tap * Cout, ky = tap / k, kx = tap - ky * k;
    const int ys = Y + pt - ky, xs = X + pl - kx;
    if (ys < 0 || xs < 0 || ys % s || xs % s) return 0.f;
    const int y = ys / s, x = xs / s;
    if (y >= Ho || x >= Wo) return 0.f;
    return dout[((size_t(n) * Ho + y) * Wo + x) * Cout + co];
  }
};

// w [k,k,Cin,Cout] as B(kk = tap*Cout + co, ci): the kernel transposed per tap
struct ConvWeightT {
  const float* w;
  int Cin, Cout;
  __device__ float operator()(int kk, int ci) const {
    const int tap = kk / Cout, co = kk - tap * Cout;
    return w[(size_t(tap) * Cin + ci) * Cout + co];
  }
};

// A row-major [rows, cols] matrix read as (r, c), or transposed as (c, r)
struct RowMajor {
  const float* a;
  int cols;
  __device__ float operator()(int r, int c) const { return a[size_t(r) * cols + c]; }
};
struct ColMajor {
  const float* a;
  int cols;
  __device__ float operator()(int r, int c) const { return a[size_t(c) * cols + r]; }
};

// A transposed, with one extra row of ones: A'(i, m) = A(m, i) for i < rows, 1 for i == rows (the bias gradient)
template <class A>
struct TransposedWithOnes {
  A a;
  int rows;
  __device__ float operator()(int i, int m) const { return i < rows ? a(m, i) : 1.f; }
};

// ---------- stores ----------

struct StoreBias {
  float* out;
  const float* b;
  int cols;
  bool relu;
  __device__ void operator()(int m, int n, float v, int) const {
    v += b[n];
    out[size_t(m) * cols + n] = relu ? fmaxf(v, 0.f) : v;
  }
};

struct StorePlain {
  float* out;
  int cols;
  __device__ void operator()(int m, int n, float v, int) const { out[size_t(m) * cols + n] = v; }
};

struct StorePartial {
  float* partial;  // [slices, rows, cols]
  int rows, cols;
  __device__ void operator()(int m, int n, float v, int z) const {
    partial[(size_t(z) * rows + m) * cols + n] = v;
  }
};

// dw [rows-1, cols] += and db [cols] += the slice sums of partial [slices, rows, cols], added in slice order
__global__ void reduce_weight_grad(float* dw, float* db, const float* partial, int slices, int rows, int cols) {
  const size_t n = size_t(rows) * cols;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    float s = 0.f;
    for (int z = 0; z < slices; z++) s += partial[z * n + i];
    const size_t r = i / cols;
    if (r + 1 < size_t(rows)) dw[i] += s;
    else db[i - r * cols] += s;
  }
}

template <class A>
void weight_grad(float* dw, float* db, int rows, int cols, long long K, A a, RowMajor dout, float* scratch,
                 cudaStream_t stream) {
  const Split split = split_plan(K, rows + 1, cols, 64, bn_for(cols));
  gemm(rows + 1, cols, gemm_size(K, "weight gradient"), split, TransposedWithOnes<A>{a, rows}, dout,
       StorePartial{scratch, rows + 1, cols}, stream);
  ENGINE_LAUNCH(blocks_for(size_t(rows + 1) * cols), kThreads, stream, reduce_weight_grad)(dw, db, scratch, split.slices,
                                                                                   rows + 1, cols);
  CUDA_CHECK_LAUNCH("reduce_weight_grad");
}

size_t weight_grad_scratch(int rows, int cols, long long K) {
  const Split split = split_plan(K, rows + 1, cols, 64, bn_for(cols));
  return size_t(split.slices) * (rows + 1) * cols;
}

// ---------- elementwise ----------

__global__ void relu_forward_k(float* out, const float* in, size_t n) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    out[i] = in[i] > 0.f ? in[i] : 0.f;
}

__global__ void relu_backward_k(float* din, const float* dout, const float* out, size_t n) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    din[i] = out[i] > 0.f ? dout[i] : 0.f;
}

// One thread per (image, channel): the pixels summed in order, then divided once, as the reference does.
__global__ void global_avgpool_forward_k(float* out, const float* in, int N, int HW, int C) {
  const size_t n = size_t(N) * C;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    const size_t img = i / C, c = i % C;
    float acc = 0.f;
    for (int p = 0; p < HW; p++) acc = __fadd_rn(acc, in[(img * HW + p) * C + c]);
    out[i] = __fdiv_rn(acc, float(HW));
  }
}

__global__ void global_avgpool_backward_k(float* din, const float* dout, int N, int HW, int C) {
  const size_t n = size_t(N) * HW * C;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    const size_t c = i % C, img = i / (size_t(HW) * C);
    din[i] = __fdiv_rn(dout[img * C + c], float(HW));
  }
}

__global__ void add_forward_k(float* out, const float* a, const float* b, size_t n) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    out[i] = __fadd_rn(a[i], b[i]);
}

__global__ void maxpool_forward_k(float* out, const float* in, int N, int H, int W, int C) {
  const int Ho = H / 2, Wo = W / 2;
  const size_t n = size_t(N) * Ho * Wo * C;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    const int c = int(i % C);
    size_t r = i / C;
    const int x = int(r % Wo);
    r /= Wo;
    const int y = int(r % Ho);
    const size_t img = r / Ho;
    const float* p = in + ((img * H + 2 * y) * W + 2 * x) * C + c;
    float m = p[0];
    if (p[C] > m) m = p[C];
    if (p[size_t(W) * C] > m) m = p[size_t(W) * C];
    if (p[size_t(W) * C + C] > m) m = p[size_t(W) * C + C];
    out[i] = m;
  }
}

// One thread per input element: windows do not overlap, so each element takes its window's gradient if it is
// the window's first maximum and 0 otherwise (also 0 in a dropped odd row or column). No atomics, no memset.
__global__ void maxpool_backward_k(float* din, const float* dout, const float* in, int N, int H, int W, int C) {
  const int Ho = H / 2, Wo = W / 2;
  const size_t n = size_t(N) * H * W * C;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    const int c = int(i % C);
    size_t r = i / C;
    const int x = int(r % W);
    r /= W;
    const int y = int(r % H);
    const size_t img = r / H;
    const int oy = y / 2, ox = x / 2;
    float g = 0.f;
    if (oy < Ho && ox < Wo) {
      const size_t base = ((img * H + 2 * oy) * W + 2 * ox) * C + c;
      const size_t cand[4] = {base, base + C, base + size_t(W) * C, base + size_t(W) * C + C};
      size_t best = cand[0];
#pragma unroll
      for (int k = 1; k < 4; k++)
        if (in[cand[k]] > in[best]) best = cand[k];
      if (best == i) g = dout[((img * Ho + oy) * Wo + ox) * C + c];
    }
    din[i] = g;
  }
}

// rng.h, on the device: the same integer arithmetic, so the same numbers
__device__ __forceinline__ uint64_t mix64_d(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
__device__ __forceinline__ double uniform01_d(uint64_t seed, uint64_t stream, uint64_t counter) {
  const uint64_t h = mix64_d(mix64_d(mix64_d(seed) ^ stream) ^ counter);
  return double(h >> 11) * (1.0 / 9007199254740992.0);
}
__device__ __forceinline__ uint64_t dropout_stream_d(uint64_t key) {
  return mix64_d(key ^ (uint64_t(kStreamDropout) << 56));
}

__global__ void dropout_forward_k(float* out, float* mask, const float* in, int N, size_t n, double rate,
                                  float keep_scale, uint64_t seed, const uint64_t* step, uint64_t layer) {
  const size_t total = size_t(N) * n;
  const uint64_t s = *step;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < total; i += size_t(gridDim.x) * blockDim.x) {
    const uint64_t b = i / n, j = i - b * n;
    const uint64_t key = mix64_d(mix64_d(mix64_d(s) ^ b) ^ layer);  // dropout_key(step, image, layer)
    const float m = uniform01_d(seed, dropout_stream_d(key), j) < rate ? 0.f : keep_scale;
    mask[i] = m;
    out[i] = __fmul_rn(in[i], m);
  }
}

__global__ void dropout_mask_k(float* mask, size_t n, double rate, float keep_scale, uint64_t seed, uint64_t key) {
  const uint64_t stream = dropout_stream_d(key);
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    mask[i] = uniform01_d(seed, stream, i) < rate ? 0.f : keep_scale;
}

__global__ void dropout_backward_k(float* din, const float* dout, const float* mask, size_t n) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    din[i] = __fmul_rn(dout[i], mask[i]);
}

// The end of a one-block loss kernel: the threads' losses (double) and right answers summed in a fixed tree order,
// the same for every run, into *result.
__device__ void write_loss_sum(LossOut* result, double loss, int correct) {
  __shared__ double loss_s[kThreads];
  __shared__ int correct_s[kThreads];
  loss_s[threadIdx.x] = loss;
  correct_s[threadIdx.x] = correct;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s /= 2) {
    if (threadIdx.x < unsigned(s)) {
      loss_s[threadIdx.x] += loss_s[threadIdx.x + s];
      correct_s[threadIdx.x] += correct_s[threadIdx.x + s];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    result->loss_sum = loss_s[0];
    result->correct = correct_s[0];
    result->non_finite = 0;
  }
}

// One block: per-image losses in float (as the CPU computes them), summed in double in a fixed tree order. With
// label smoothing e the target is y (1 - e) + e / 2 (one_minus_e and half_e formed on the host, as the reference
// forms them in float); the right answers count against the label itself.
__global__ void sigmoid_bce_k(float* dlogit, LossOut* result, const float* logit, const float* label,
                              const uint8_t* label_u8, const int32_t* index, int N, float scale, float L,
                              float smoothing, float one_minus_e, float half_e) {
  double loss = 0;
  int correct = 0;
  for (int b = threadIdx.x; b < N; b += blockDim.x) {
    const float z = logit[b];
    const float label_b = label_u8 ? float(label_u8[index ? index[b] : b]) : label[b];
    const float y = smoothing == 0.f ? label_b : __fadd_rn(__fmul_rn(label_b, one_minus_e), half_e);
    const float zc = z > L ? L : (z < -L ? -L : z);
    const float softplus = (zc > 0.f ? zc : 0.f) + log1pf(expf(-fabsf(zc)));
    loss += double(softplus - y * zc);
    if (dlogit) {
      const float p = 1.f / (1.f + expf(-zc));
      dlogit[b] = (z > -L && z < L) ? scale * (p - y) : 0.f;
    }
    correct += ((1.f / (1.f + expf(-z))) > 0.5f) == (label_b != 0.f);
  }
  write_loss_sum(result, loss, correct);
}

// Softmax cross-entropy per image as ref::softmax_ce (log-sum-exp from the row's maximum), one thread per image,
// the losses summed in double and the right answers (argmax, first maximum) counted as sigmoid_bce_k does. With
// label smoothing the targets are on (the label's class) and off (the others), formed on the host as the
// reference forms them in float.
__global__ void softmax_ce_k(float* dlogits, LossOut* result, const float* logits, const float* label,
                             const uint8_t* label_u8, const int32_t* index, int N, int K, float scale, bool smoothed,
                             float on, float off) {
  double loss = 0;
  int correct = 0;
  for (int b = threadIdx.x; b < N; b += blockDim.x) {
    const float* z = logits + size_t(b) * K;
    const int y = label_u8 ? int(label_u8[index ? index[b] : b]) : int(label[b]);
    float m = z[0];
    int arg = 0;
    for (int k = 1; k < K; k++)
      if (z[k] > m) {
        m = z[k];
        arg = k;
      }
    float sum = 0.f;
    for (int k = 0; k < K; k++) sum = __fadd_rn(sum, expf(__fsub_rn(z[k], m)));
    if (!smoothed) {
      loss += double(__fsub_rn(logf(sum), __fsub_rn(z[y], m)));
    } else {
      float target = 0.f;
      for (int k = 0; k < K; k++) target = __fadd_rn(target, __fmul_rn(k == y ? on : off, __fsub_rn(z[k], m)));
      loss += double(__fsub_rn(logf(sum), target));
    }
    const float hit = smoothed ? on : 1.f, miss = smoothed ? off : 0.f;
    if (dlogits)
      for (int k = 0; k < K; k++)
        dlogits[size_t(b) * K + k] = __fmul_rn(scale, __fsub_rn(__fdiv_rn(expf(__fsub_rn(z[k], m)), sum), k == y ? hit : miss));
    correct += arg == y;
  }
  write_loss_sum(result, loss, correct);
}

// One block: the parameters are few (the seed's 91k), and a single block needs no atomics to sum its count.
__global__ void count_non_finite_k(LossOut* result, const float* x, size_t n) {
  __shared__ int count_s[kThreads];
  int count = 0;
  for (size_t i = threadIdx.x; i < n; i += blockDim.x) count += !isfinite(x[i]);
  count_s[threadIdx.x] = count;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s /= 2) {
    if (threadIdx.x < unsigned(s)) count_s[threadIdx.x] += count_s[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) result->non_finite = count_s[0];
}

// The input normalisation of channel ch of a scaled pixel x: (x - mean) * (1 / std), norm [2C] = mean, 1 / std
// (as ref::normalize_channels); x itself where norm is null
__device__ __forceinline__ float normalized(float x, const float* norm, int ch, int C) {
  return norm ? __fmul_rn(__fsub_rn(x, norm[ch]), norm[C + ch]) : x;
}

// Output pixel i of [N, H, W] as (image, row, column): the augmentation kernels run a thread per pixel.
struct Pixel {
  int b, r, c;
};
__device__ Pixel pixel_of(size_t i, int H, int W) {
  const size_t rows = i / W;
  return {int(rows / H), int(rows % H), int(i % W)};
}

// One thread per output pixel; the arithmetic of ref::augment_warp, each double operation rounded on its own.
__global__ void augment_warp_k(float* out, const uint8_t* images, const int32_t* index, const WarpCoeffs* coeffs,
                               const float* norm, int N, int H, int W, int C, float scale) {
  const size_t pixels = size_t(N) * H * W, isz = size_t(H) * W * C;
  const double orow = H / 2.0 + 0.5, ocol = W / 2.0 + 0.5;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < pixels; i += size_t(gridDim.x) * blockDim.x) {
    const auto [b, r, c] = pixel_of(i, H, W);
    const uint8_t* in = images + size_t(index ? index[b] : b) * isz;
    const WarpCoeffs k = coeffs[b];
    double sr = __dadd_rn(__dadd_rn(__dmul_rn(k.a00, double(r) - orow), __dmul_rn(k.a01, double(c) - ocol)), orow);
    double sc = __dadd_rn(__dmul_rn(k.a11, double(c) - ocol), ocol);
    sr = !(sr >= 0) ? 0 : (sr > H - 1 ? H - 1 : sr);  // NaN -> 0, as ref::augment_warp
    sc = !(sc >= 0) ? 0 : (sc > W - 1 ? W - 1 : sc);
    const int r0 = int(sr), c0 = int(sc);
    const int r1 = r0 + 1 < H ? r0 + 1 : r0, c1 = c0 + 1 < W ? c0 + 1 : c0;
    const double fr = sr - r0, fc = sc - c0, gr = 1 - fr, gc = 1 - fc;
    float* o = out + (size_t(b) * H * W + size_t(r) * W + (k.flip != 0.0 ? W - 1 - c : c)) * C;
    for (int ch = 0; ch < C; ch++) {
      const double v00 = in[(size_t(r0) * W + c0) * C + ch], v01 = in[(size_t(r0) * W + c1) * C + ch];
      const double v10 = in[(size_t(r1) * W + c0) * C + ch], v11 = in[(size_t(r1) * W + c1) * C + ch];
      const double top = __dadd_rn(__dmul_rn(gc, v00), __dmul_rn(fc, v01));
      const double bottom = __dadd_rn(__dmul_rn(gc, v10), __dmul_rn(fc, v11));
      const double v = __dadd_rn(__dmul_rn(gr, top), __dmul_rn(fr, bottom));
      o[ch] = normalized(__fmul_rn(float(v), scale), norm, ch, C);
    }
  }
}

__global__ void scale_pixels_k(float* out, const uint8_t* images, const int32_t* index, const float* norm, int N,
                               size_t isz, int C, float scale) {
  const size_t n = size_t(N) * isz;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    const size_t b = i / isz, j = i - b * isz;
    const float x = __fmul_rn(float(images[size_t(index ? index[b] : int32_t(b)) * isz + j]), scale);
    out[i] = normalized(x, norm, int(j % size_t(C)), C);
  }
}

// One thread per output pixel (r, c): ref::augment_crop's source of it (the inverse rotation of the shifted
// position about the centre; nearest without a rotation, else bilinear, 0 outside the image), each double
// operation rounded on its own, then the normalisation; written to the mirrored column where the image is
// flipped, and 0 inside the erased rectangle (as the reference's erasing, which a normalised network applies
// after the normalisation).
__global__ void augment_crop_k(float* out, const uint8_t* images, const int32_t* index, const CropCoeffs* coeffs,
                               const float* norm, int N, int H, int W, int C, float scale) {
  const size_t pixels = size_t(N) * H * W, isz = size_t(H) * W * C;
  const double cy = (H - 1) / 2.0, cx = (W - 1) / 2.0;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < pixels; i += size_t(gridDim.x) * blockDim.x) {
    const auto [b, r, c] = pixel_of(i, H, W);
    const uint8_t* in = images + size_t(index ? index[b] : b) * isz;
    const CropCoeffs k = coeffs[b];
    const int oc = k.flip ? W - 1 - c : c;
    float* o = out + (size_t(b) * H * W + size_t(r) * W + oc) * C;
    if (r >= k.ey && r < k.ey + k.eh && oc >= k.ex && oc < k.ex + k.ew) {
      for (int ch = 0; ch < C; ch++) o[ch] = 0.f;
      continue;
    }
    const double y = __dsub_rn(__dsub_rn(double(r), k.dy), cy), x = __dsub_rn(__dsub_rn(double(c), k.dx), cx);
    const double sy = __dadd_rn(__dadd_rn(__dmul_rn(k.cs, y), __dmul_rn(k.sn, x)), cy);
    const double sx = __dadd_rn(__dadd_rn(__dmul_rn(-k.sn, y), __dmul_rn(k.cs, x)), cx);
    if (!k.rotate) {
      const long iy = lround(sy), ix = lround(sx);
      const bool inside = iy >= 0 && iy < H && ix >= 0 && ix < W;
      for (int ch = 0; ch < C; ch++) {
        const float v = inside ? __fmul_rn(float(in[(size_t(iy) * W + size_t(ix)) * C + ch]), scale) : 0.f;
        o[ch] = normalized(v, norm, ch, C);
      }
      continue;
    }
    const int y0 = int(floor(sy)), x0 = int(floor(sx));
    const double fy = __dsub_rn(sy, double(y0)), fx = __dsub_rn(sx, double(x0));
    const double gy = __dsub_rn(1.0, fy), gx = __dsub_rn(1.0, fx);
    for (int ch = 0; ch < C; ch++) {
      auto px = [&](int yy, int xx) {
        return yy >= 0 && yy < H && xx >= 0 && xx < W ? double(in[(size_t(yy) * W + size_t(xx)) * C + ch]) : 0.0;
      };
      const double top = __dadd_rn(__dmul_rn(gx, px(y0, x0)), __dmul_rn(fx, px(y0, x0 + 1)));
      const double bottom = __dadd_rn(__dmul_rn(gx, px(y0 + 1, x0)), __dmul_rn(fx, px(y0 + 1, x0 + 1)));
      const double v = __dadd_rn(__dmul_rn(gy, top), __dmul_rn(fy, bottom));
      o[ch] = normalized(__fmul_rn(float(v), scale), norm, ch, C);
    }
  }
}

}  // namespace

// ---------- launchers ----------

void conv_forward_cuda(float* out, const float* in, const float* w, const float* b, int N, int H, int W, int Cin,
                       int Cout, const ref::ConvGeom& g, bool fuse_relu, cudaStream_t stream) {
  // (M fitting int, so do the loaders' per-image pixel counts Ho * Wo and H * W)
  const int M = gemm_size((long long)N * g.Ho * g.Wo, "conv_forward_cuda"), K = g.k * g.k * Cin;
  gemm(M, Cout, K, whole(K), ConvPatch{in, H, W, Cin, g.Ho, g.Wo, g.k, g.s, g.pt, g.pl}, RowMajor{w, Cout},
       StoreBias{out, b, Cout, fuse_relu}, stream);
}

void conv_backward_input_cuda(float* din, const float* dout, const float* w, int N, int H, int W, int Cin, int Cout,
                              const ref::ConvGeom& g, cudaStream_t stream) {
  const int M = gemm_size((long long)N * H * W, "conv_backward_input_cuda"), K = g.k * g.k * Cout;
  gemm(M, Cin, K, whole(K), ConvGradPatch{dout, H, W, Cout, g.Ho, g.Wo, g.k, g.s, g.pt, g.pl}, ConvWeightT{w, Cin, Cout},
       StorePlain{din, Cin}, stream);
}

size_t conv_backward_weight_scratch(int N, int Cin, int Cout, const ref::ConvGeom& g) {
  return weight_grad_scratch(g.k * g.k * Cin, Cout, (long long)N * g.Ho * g.Wo);
}

void conv_backward_weight_cuda(float* dw, float* db, const float* dout, const float* in, int N, int H, int W, int Cin,
                               int Cout, const ref::ConvGeom& g, float* scratch, cudaStream_t stream) {
  weight_grad(dw, db, g.k * g.k * Cin, Cout, (long long)N * g.Ho * g.Wo,
              ConvPatch{in, H, W, Cin, g.Ho, g.Wo, g.k, g.s, g.pt, g.pl}, RowMajor{dout, Cout}, scratch, stream);
}

void conv3x3_forward_cuda(float* out, const float* in, const float* w, const float* b, int N, int H, int W, int Cin,
                          int Cout, bool fuse_relu, cudaStream_t stream) {
  conv_forward_cuda(out, in, w, b, N, H, W, Cin, Cout, ref::conv_geometry(H, W, 3, 1, false), fuse_relu, stream);
}

void conv3x3_backward_input_cuda(float* din, const float* dout, const float* w, int N, int H, int W, int Cin, int Cout,
                                 cudaStream_t stream) {
  conv_backward_input_cuda(din, dout, w, N, H, W, Cin, Cout, ref::conv_geometry(H, W, 3, 1, false), stream);
}

size_t conv3x3_backward_weight_scratch(int N, int H, int W, int Cin, int Cout) {
  return conv_backward_weight_scratch(N, Cin, Cout, ref::conv_geometry(H, W, 3, 1, false));
}

void conv3x3_backward_weight_cuda(float* dw, float* db, const float* dout, const float* in, int N, int H, int W,
                                  int Cin, int Cout, float* scratch, cudaStream_t stream) {
  conv_backward_weight_cuda(dw, db, dout, in, N, H, W, Cin, Cout, ref::conv_geometry(H, W, 3, 1, false), scratch, stream);
}

void relu_forward_cuda(float* out, const float* in, size_t n, cudaStream_t stream) {
  ENGINE_LAUNCH(blocks_for(n), kThreads, stream, relu_forward_k)(out, in, n);
  CUDA_CHECK_LAUNCH("relu_forward_k");
}

void global_avgpool_forward_cuda(float* out, const float* in, int N, int HW, int C, cudaStream_t stream) {
  ENGINE_LAUNCH(blocks_for(size_t(N) * C), kThreads, stream, global_avgpool_forward_k)(out, in, N, HW, C);
  CUDA_CHECK_LAUNCH("global_avgpool_forward_k");
}

void global_avgpool_backward_cuda(float* din, const float* dout, int N, int HW, int C, cudaStream_t stream) {
  ENGINE_LAUNCH(blocks_for(size_t(N) * HW * C), kThreads, stream, global_avgpool_backward_k)(din, dout, N, HW, C);
  CUDA_CHECK_LAUNCH("global_avgpool_backward_k");
}

void add_forward_cuda(float* out, const float* a, const float* b, size_t n, cudaStream_t stream) {
  ENGINE_LAUNCH(blocks_for(n), kThreads, stream, add_forward_k)(out, a, b, n);
  CUDA_CHECK_LAUNCH("add_forward_k");
}

void relu_backward_cuda(float* din, const float* dout, const float* out, size_t n, cudaStream_t stream) {
  ENGINE_LAUNCH(blocks_for(n), kThreads, stream, relu_backward_k)(din, dout, out, n);
  CUDA_CHECK_LAUNCH("relu_backward_k");
}

void maxpool2x2_forward_cuda(float* out, const float* in, int N, int H, int W, int C, cudaStream_t stream) {
  ENGINE_LAUNCH(blocks_for(size_t(N) * (H / 2) * (W / 2) * C), kThreads, stream, maxpool_forward_k)(out, in, N, H, W, C);
  CUDA_CHECK_LAUNCH("maxpool_forward_k");
}

void maxpool2x2_backward_cuda(float* din, const float* dout, const float* in, int N, int H, int W, int C,
                              cudaStream_t stream) {
  ENGINE_LAUNCH(blocks_for(size_t(N) * H * W * C), kThreads, stream, maxpool_backward_k)(din, dout, in, N, H, W, C);
  CUDA_CHECK_LAUNCH("maxpool_backward_k");
}

void dense_forward_cuda(float* out, const float* in, const float* w, const float* b, int N, int I, int O,
                        cudaStream_t stream) {
  gemm(N, O, I, whole(I), RowMajor{in, I}, RowMajor{w, O}, StoreBias{out, b, O, false}, stream);
}

size_t dense_backward_scratch(int N, int I, int O) { return weight_grad_scratch(I, O, N); }

void dense_backward_cuda(float* din, float* dw, float* db, const float* dout, const float* in, const float* w, int N,
                         int I, int O, float* scratch, cudaStream_t stream) {
  weight_grad(dw, db, I, O, N, RowMajor{in, I}, RowMajor{dout, O}, scratch, stream);
  // din [N, I] = dout [N, O] . w^T
  if (din) gemm(N, I, O, whole(O), RowMajor{dout, O}, ColMajor{w, O}, StorePlain{din, I}, stream);
}

void dropout_forward_cuda(float* out, float* mask, const float* in, int N, size_t n, double rate, uint64_t seed,
                          const uint64_t* step, uint64_t layer, cudaStream_t stream) {
  const float keep = float(1.0 / (1.0 - rate));
  ENGINE_LAUNCH(blocks_for(size_t(N) * n), kThreads, stream, dropout_forward_k)(out, mask, in, N, n, rate, keep, seed, step,
                                                                        layer);
  CUDA_CHECK_LAUNCH("dropout_forward_k");
}

void dropout_mask_cuda(float* mask, size_t n, double rate, uint64_t seed, uint64_t key, cudaStream_t stream) {
  ENGINE_LAUNCH(blocks_for(n), kThreads, stream, dropout_mask_k)(mask, n, rate, float(1.0 / (1.0 - rate)), seed, key);
  CUDA_CHECK_LAUNCH("dropout_mask_k");
}

void dropout_backward_cuda(float* din, const float* dout, const float* mask, size_t n, cudaStream_t stream) {
  ENGINE_LAUNCH(blocks_for(n), kThreads, stream, dropout_backward_k)(din, dout, mask, n);
  CUDA_CHECK_LAUNCH("dropout_backward_k");
}

void sigmoid_bce_cuda(float* dlogit, LossOut* result, const float* logit, const float* label, const uint8_t* label_u8,
                      const int32_t* index, int N, float scale, float smoothing, cudaStream_t stream) {
  // (as ref::sigmoid_bce: y * (1 - e) + e / 2 in float)
  const float one_minus_e = 1.f - smoothing, half_e = smoothing / 2.f;
  ENGINE_LAUNCH(1, kThreads, stream, sigmoid_bce_k)(dlogit, result, logit, label, label_u8, index, N, scale,
                                                    float(ref::logit_clip()), smoothing, one_minus_e, half_e);
  CUDA_CHECK_LAUNCH("sigmoid_bce_k");
}

void softmax_ce_cuda(float* dlogits, LossOut* result, const float* logits, const float* label, const uint8_t* label_u8,
                     const int32_t* index, int N, int K, float scale, float smoothing, cudaStream_t stream) {
  // (as ref::softmax_ce: off = e / K, on = 1 - e + off in float)
  const float off = smoothing / float(K), on = 1.f - smoothing + off;
  ENGINE_LAUNCH(1, kThreads, stream, softmax_ce_k)(dlogits, result, logits, label, label_u8, index, N, K, scale,
                                                   smoothing != 0.f, on, off);
  CUDA_CHECK_LAUNCH("softmax_ce_k");
}

void count_non_finite_cuda(LossOut* result, const float* x, size_t n, cudaStream_t stream) {
  ENGINE_LAUNCH(1, kThreads, stream, count_non_finite_k)(result, x, n);
  CUDA_CHECK_LAUNCH("count_non_finite_k");
}

WarpCoeffs warp_coeffs(double shear, double zx, double zy, bool flip) {
  // as ref::augment_warp forms them: Shear . Zoom = [[zx, -sin(s)*zy], [0, cos(s)*zy]]
  return {zx, -std::sin(shear) * zy, std::cos(shear) * zy, flip ? 1.0 : 0.0};
}

void augment_warp_cuda(float* out, const uint8_t* images, const int32_t* index, const WarpCoeffs* coeffs,
                       const float* norm, int N, int H, int W, int C, float scale, cudaStream_t stream) {
  if (coeffs) {
    ENGINE_LAUNCH(blocks_for(size_t(N) * H * W), kThreads, stream, augment_warp_k)(out, images, index, coeffs, norm, N,
                                                                                   H, W, C, scale);
    CUDA_CHECK_LAUNCH("augment_warp_k");
  } else {
    ENGINE_LAUNCH(blocks_for(size_t(N) * H * W * C), kThreads, stream, scale_pixels_k)(out, images, index, norm, N,
                                                                                       size_t(H) * W * C, C, scale);
    CUDA_CHECK_LAUNCH("scale_pixels_k");
  }
}

CropCoeffs crop_coeffs(const double* a) {
  // as ref::augment_crop reads its 8 numbers
  CropCoeffs k;
  k.dy = a[0];
  k.dx = a[1];
  k.cs = std::cos(a[3]);
  k.sn = std::sin(a[3]);
  k.flip = a[2] != 0;
  k.rotate = a[3] != 0;
  k.ey = int(a[4]);
  k.ex = int(a[5]);
  k.eh = int(a[6]);
  k.ew = int(a[7]);
  return k;
}

void augment_crop_cuda(float* out, const uint8_t* images, const int32_t* index, const CropCoeffs* coeffs,
                       const float* norm, int N, int H, int W, int C, float scale, cudaStream_t stream) {
  ENGINE_LAUNCH(blocks_for(size_t(N) * H * W), kThreads, stream, augment_crop_k)(out, images, index, coeffs, norm, N, H,
                                                                                 W, C, scale);
  CUDA_CHECK_LAUNCH("augment_crop_k");
}

}  // namespace engine::ENGINE_CUDA_NS
