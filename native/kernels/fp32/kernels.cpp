#include "kernels/fp32/kernels.h"

#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

#include <vector>

#include "kernels/amx/conv_amx.h"
#include "kernels/bf16/conv_bf16.h"
#include "kernels/bf16/winograd_bf16.h"
#include "kernels/fp32/batchnorm_fast.h"
#include "kernels/fp32/conv_fast.h"
#include "kernels/fp32/dense_fast.h"
#include "kernels/fp32/gemm_fast.h"
#include "kernels/fp32/winograd_kernel_fast.h"

namespace engine {

namespace {

// The vector tier of an fp32 direct kernel: 2 AVX-512, 1 AVX2, 0 the reference; a tier whose vectors the
// channels do not fill is a planning bug.
int tier(Impl k, int channels, const char* fn) {
  const int lanes = k == Impl::Avx512 ? 16 : k == Impl::Avx2 ? 8 : k == Impl::Reference ? 1 : 0;
  if (lanes == 0 || channels % lanes != 0)
    throw std::logic_error(std::string(fn) + ": no " + impl_name(k) + " kernel for " + std::to_string(channels) +
                           " channels (the plan picks tiers with fp32_impl)");
  return k == Impl::Avx512 ? 2 : k == Impl::Avx2 ? 1 : 0;
}

}  // namespace

void conv3x3_forward(Impl k, float* out, const float* in, const float* w, const float* b, int N, int H, int W,
                     int Cin, int Cout) {
  switch (tier(k, Cout, "conv3x3_forward")) {
    case 2: return avx512::conv3x3_forward(out, in, w, b, N, H, W, Cin, Cout);
    case 1: return avx2::conv3x3_forward(out, in, w, b, N, H, W, Cin, Cout);
    default: return ref::conv3x3_forward(out, in, w, b, N, H, W, Cin, Cout);
  }
}

void conv3x3_relu_forward(Impl k, float* out, const float* in, const float* w, const float* b, int N, int H,
                          int W, int Cin, int Cout) {
  switch (tier(k, Cout, "conv3x3_relu_forward")) {
    case 2: return avx512::conv3x3_relu_forward(out, in, w, b, N, H, W, Cin, Cout);
    case 1: return avx2::conv3x3_relu_forward(out, in, w, b, N, H, W, Cin, Cout);
    default: return ref::conv3x3_relu_forward(out, in, w, b, N, H, W, Cin, Cout);
  }
}

void maxpool2x2_forward(Impl k, float* out, const float* in, int N, int H, int W, int C) {
  switch (tier(k, C, "maxpool2x2_forward")) {
    case 2: return avx512::maxpool2x2_forward(out, in, N, H, W, C);
    case 1: return avx2::maxpool2x2_forward(out, in, N, H, W, C);
    default: return ref::maxpool2x2_forward(out, in, N, H, W, C);
  }
}

void relu_maxpool2x2_backward(Impl k, float* din, const float* dout, const float* in, int N, int H, int W, int C) {
  switch (tier(k, C, "relu_maxpool2x2_backward")) {
    case 2: return avx512::relu_maxpool2x2_backward(din, dout, in, N, H, W, C);
    case 1: return avx2::relu_maxpool2x2_backward(din, dout, in, N, H, W, C);
    default: return ref::relu_maxpool2x2_backward(din, dout, in, N, H, W, C);
  }
}

void maxpool2x2_backward(Impl k, float* din, const float* dout, const float* in, int N, int H, int W, int C) {
  switch (tier(k, C, "maxpool2x2_backward")) {
    case 2: return avx512::maxpool2x2_backward(din, dout, in, N, H, W, C);
    case 1: return avx2::maxpool2x2_backward(din, dout, in, N, H, W, C);
    default: return ref::maxpool2x2_backward(din, dout, in, N, H, W, C);
  }
}

void flip_kernel_for_input_gradient(float* wflip, const float* w, int Cin, int Cout) {
  for (int ky = 0; ky < 3; ky++)
    for (int kx = 0; kx < 3; kx++)
      for (int ci = 0; ci < Cin; ci++)
        for (int co = 0; co < Cout; co++)
          wflip[((size_t(ky) * 3 + kx) * Cout + co) * Cin + ci] = w[((size_t(2 - ky) * 3 + (2 - kx)) * Cin + ci) * Cout + co];
}

void dense_forward(Impl k, float* out, const float* in, const float* w, const float* b, int N, int I, int O) {
  switch (tier(k, O, "dense_forward")) {
    case 2: return avx512::dense_forward(out, in, w, b, N, I, O);
    case 1: return avx2::dense_forward(out, in, w, b, N, I, O);
    default: return ref::dense_forward(out, in, w, b, N, I, O);
  }
}

void dense_backward_weight(Impl k, float* dw, float* db, const float* dout, const float* in, int N, int I, int O) {
  switch (tier(k, O, "dense_backward_weight")) {
    case 2: return avx512::dense_backward_weight(dw, db, dout, in, N, I, O);
    case 1: return avx2::dense_backward_weight(dw, db, dout, in, N, I, O);
    default: return ref::dense_backward_weight(dw, db, dout, in, N, I, O);
  }
}

void dense_backward_input(Impl k, float* din, const float* dout, const float* w_or_wT, int N, int I, int O) {
  switch (tier(k, I, "dense_backward_input")) {
    case 2: return avx512::dense_backward_input(din, dout, w_or_wT, N, I, O);
    case 1: return avx2::dense_backward_input(din, dout, w_or_wT, N, I, O);
    default: return ref::dense_backward_input(din, dout, w_or_wT, N, I, O);
  }
}

void transpose_dense_kernel(float* wT, const float* w, int I, int O) {
  for (int i = 0; i < I; i++)
    for (int o = 0; o < O; o++) wT[size_t(o) * I + i] = w[size_t(i) * O + o];
}

namespace {
GemmConv gemm_geometry(const ref::ConvGeom& g) { return {g.k, g.s, g.pt, g.pl, g.Ho, g.Wo}; }
}  // namespace

void gemm_conv_forward(Impl k, float* out, const float* in, const float* w, const float* b, int N, int H, int W,
                       int Cin, int Cout, const ref::ConvGeom& g, bool relu) {
  if (k == Impl::GemmAvx512) return require_scratch(avx512::gemm_conv_forward(out, in, w, b, N, H, W, Cin, Cout, gemm_geometry(g), relu));
  if (k == Impl::GemmAvx2) return require_scratch(avx2::gemm_conv_forward(out, in, w, b, N, H, W, Cin, Cout, gemm_geometry(g), relu));
  ref::conv_forward(out, in, w, b, N, H, W, Cin, Cout, g);
  if (relu) ref::relu_forward(out, out, size_t(N) * g.Ho * g.Wo * Cout);
}

void gemm_conv_backward_input(Impl k, float* din, const float* dout, const float* w, int N, int H, int W, int Cin,
                              int Cout, const ref::ConvGeom& g) {
  if (k == Impl::GemmAvx512) return require_scratch(avx512::gemm_conv_backward_input(din, dout, w, N, H, W, Cin, Cout, gemm_geometry(g)));
  if (k == Impl::GemmAvx2) return require_scratch(avx2::gemm_conv_backward_input(din, dout, w, N, H, W, Cin, Cout, gemm_geometry(g)));
  ref::conv_backward_input(din, dout, w, N, H, W, Cin, Cout, g);
}

void gemm_conv_backward_weight(Impl k, float* dw, float* db, const float* dout, const float* in, int N, int H, int W,
                               int Cin, int Cout, const ref::ConvGeom& g) {
  if (k == Impl::GemmAvx512) return require_scratch(avx512::gemm_conv_backward_weight(dw, db, dout, in, N, H, W, Cin, Cout, gemm_geometry(g)));
  if (k == Impl::GemmAvx2) return require_scratch(avx2::gemm_conv_backward_weight(dw, db, dout, in, N, H, W, Cin, Cout, gemm_geometry(g)));
  ref::conv_backward_weight(dw, db, dout, in, N, H, W, Cin, Cout, g);
}

// A ReLU mask is the fast tiers' alone (the reference reads the ReLU's output), on whole bytes of channels
static void check_relu_mask(Impl k, const uint8_t* relu_mask, int C, const char* fn) {
  if (relu_mask && k != Impl::Avx512 && k != Impl::Avx2)
    throw std::logic_error(std::string(fn) + ": the reference kernel takes no ReLU mask");
  if (relu_mask && C % 8 != 0) throw std::logic_error(std::string(fn) + ": a ReLU mask needs channels in 8s");
}

void batchnorm_sums(Impl k, double* sum, double* sumsq, const float* in, size_t P, int C) {
  if (k == Impl::Avx512) return avx512::batchnorm_sums(sum, sumsq, in, P, C);
  if (k == Impl::Avx2) return avx2::batchnorm_sums(sum, sumsq, in, P, C);
  ref::batchnorm_sums(sum, sumsq, in, P, C);
}

void batchnorm_forward(Impl k, float* out, const float* in, const float* residual, const double* mean,
                       const double* invstd, const float* gamma, const float* beta, size_t P, int C, bool relu,
                       uint8_t* relu_mask) {
  check_relu_mask(k, relu_mask, C, "batchnorm_forward");
  if (k == Impl::Avx512)
    return avx512::batchnorm_forward(out, in, residual, mean, invstd, gamma, beta, P, C, relu, relu_mask);
  if (k == Impl::Avx2)
    return avx2::batchnorm_forward(out, in, residual, mean, invstd, gamma, beta, P, C, relu, relu_mask);
  ref::batchnorm_forward(out, in, residual, mean, invstd, gamma, beta, P, C, relu);
}

void batchnorm_backward_sums(Impl k, double* dsum, double* dxhat, const float* dout, const float* relu_out,
                             const uint8_t* relu_mask, const float* in, const double* mean, const double* invstd,
                             size_t P, int C) {
  check_relu_mask(k, relu_mask, C, "batchnorm_backward_sums");
  if (k == Impl::Avx512)
    return avx512::batchnorm_backward_sums(dsum, dxhat, dout, relu_out, relu_mask, in, mean, invstd, P, C);
  if (k == Impl::Avx2)
    return avx2::batchnorm_backward_sums(dsum, dxhat, dout, relu_out, relu_mask, in, mean, invstd, P, C);
  ref::batchnorm_backward_sums(dsum, dxhat, dout, relu_out, in, mean, invstd, P, C);
}

void batchnorm_backward_input(Impl k, float* din, const float* dout, const float* relu_out, const uint8_t* relu_mask,
                              const float* in, const double* mean, const double* invstd, const float* gamma,
                              const double* dsum, const double* dxhat, double count, size_t P, int C) {
  check_relu_mask(k, relu_mask, C, "batchnorm_backward_input");
  if (k == Impl::Avx512)
    return avx512::batchnorm_backward_input(din, dout, relu_out, relu_mask, in, mean, invstd, gamma, dsum, dxhat,
                                            count, P, C);
  if (k == Impl::Avx2)
    return avx2::batchnorm_backward_input(din, dout, relu_out, relu_mask, in, mean, invstd, gamma, dsum, dxhat,
                                          count, P, C);
  ref::batchnorm_backward_input(din, dout, relu_out, in, mean, invstd, gamma, dsum, dxhat, count, P, C);
}

void global_avgpool_forward(Impl k, float* out, const float* in, int N, int HW, int C) {
  switch (tier(k, C, "global_avgpool_forward")) {
    case 2: return avx512::global_avgpool_forward(out, in, N, HW, C);
    case 1: return avx2::global_avgpool_forward(out, in, N, HW, C);
    default: return ref::global_avgpool_forward(out, in, N, HW, C);
  }
}

void global_avgpool_backward(Impl k, float* din, const float* dout, int N, int HW, int C) {
  switch (tier(k, C, "global_avgpool_backward")) {
    case 2: return avx512::global_avgpool_backward(din, dout, N, HW, C);
    case 1: return avx2::global_avgpool_backward(din, dout, N, HW, C);
    default: return ref::global_avgpool_backward(din, dout, N, HW, C);
  }
}

void conv3x3_backward_input_flipped(Impl k, float* din, const float* dout, const float* wflip, int N, int H, int W,
                                    int Cin, int Cout) {
  switch (tier(k, Cin, "conv3x3_backward_input_flipped")) {
    case 2: return require_scratch(avx512::conv3x3_backward_input_flipped(din, dout, wflip, N, H, W, Cin, Cout));
    case 1: return require_scratch(avx2::conv3x3_backward_input_flipped(din, dout, wflip, N, H, W, Cin, Cout));
    default: throw std::logic_error("conv3x3_backward_input_flipped: the reference takes the kernel unflipped");
  }
}

bool winograd_fits(Isa isa, int H, int W, int Cin, int Cout) {
  const int lanes = isa == Isa::Avx512 ? avx512::kLanes : avx2::kLanes;
  return isa >= Isa::Avx2 && Cin % lanes == 0 && Cout % lanes == 0 && H > 2 && W > 2;
}

// The Winograd kernel transforms run every step: on vectors where the tier allows (winograd_kernel_simd.inc, the
// same bits), else the plain loops below
static Isa transform_tier(Isa isa, int Cin, int Cout) {
  const size_t pos = size_t(Cin) * Cout;
  if (isa == Isa::Avx512 && pos % avx512::kLanes == 0) return Isa::Avx512;
  return isa >= Isa::Avx2 && pos % avx2::kLanes == 0 ? Isa::Avx2 : Isa::Scalar;
}

void winograd_kernel_transform(float* v, const float* w, int Cin, int Cout, Isa isa) {
  switch (transform_tier(isa, Cin, Cout)) {
    case Isa::Avx512: return avx512::winograd_kernel_transform(v, w, Cin, Cout);
    case Isa::Avx2: return avx2::winograd_kernel_transform(v, w, Cin, Cout);
    case Isa::Scalar: break;
  }
  const size_t pos = size_t(Cin) * Cout;
  for (size_t e = 0; e < pos; e++) {
    float g[3][3], t[4][3];
    for (int k = 0; k < 9; k++) g[k / 3][k % 3] = w[k * pos + e];
    for (int j = 0; j < 3; j++) {  // G g, G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
      t[0][j] = g[0][j];
      t[1][j] = 0.5f * (g[0][j] + g[1][j] + g[2][j]);
      t[2][j] = 0.5f * (g[0][j] - g[1][j] + g[2][j]);
      t[3][j] = g[2][j];
    }
    for (int i = 0; i < 4; i++) {  // (G g) G^T
      v[(4 * i + 0) * pos + e] = t[i][0];
      v[(4 * i + 1) * pos + e] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
      v[(4 * i + 2) * pos + e] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
      v[(4 * i + 3) * pos + e] = t[i][2];
    }
  }
}

// The ISA of a Winograd family (F(2x2) unless its two tiers are given), checked against the shape
static Isa require_winograd(Impl k, int H, int W, int Cin, int Cout, const char* fn,
                            Impl avx512 = Impl::WinogradAvx512, Impl avx2 = Impl::WinogradAvx2) {
  const Isa isa = k == avx512 ? Isa::Avx512 : k == avx2 ? Isa::Avx2 : Isa::Scalar;
  if (!winograd_fits(isa, H, W, Cin, Cout))
    throw std::logic_error(std::string(fn) + ": no " + impl_name(k) + " kernel for this shape (check winograd_fits)");
  return isa;
}

void conv3x3_forward_winograd(Impl k, float* out, const float* in, const float* v, const float* b, int N, int H,
                              int W, int Cin, int Cout, bool relu) {
  const Isa isa = require_winograd(k, H, W, Cin, Cout, "conv3x3_forward_winograd");
  require_scratch(isa == Isa::Avx512 ? avx512::conv3x3_forward_winograd(out, in, v, b, N, H, W, Cin, Cout, relu)
                                     : avx2::conv3x3_forward_winograd(out, in, v, b, N, H, W, Cin, Cout, relu));
}

void conv3x3_backward_input_winograd(Impl k, float* din, const float* dout, const float* vflip, int N, int H, int W,
                                     int Cin, int Cout) {
  const Isa isa = require_winograd(k, H, W, Cin, Cout, "conv3x3_backward_input_winograd");
  require_scratch(isa == Isa::Avx512 ? avx512::conv3x3_backward_input_winograd(din, dout, vflip, N, H, W, Cin, Cout)
                                     : avx2::conv3x3_backward_input_winograd(din, dout, vflip, N, H, W, Cin, Cout));
}

void conv3x3_backward_weight_winograd(Impl k, float* dw, float* db, const float* dout, const float* in, int N, int H,
                                      int W, int Cin, int Cout) {
  const Isa isa = require_winograd(k, H, W, Cin, Cout, "conv3x3_backward_weight_winograd");
  require_scratch(isa == Isa::Avx512 ? avx512::conv3x3_backward_weight_winograd(dw, db, dout, in, N, H, W, Cin, Cout)
                                     : avx2::conv3x3_backward_weight_winograd(dw, db, dout, in, N, H, W, Cin, Cout));
}

bool winograd_same_fits(Isa isa, int H, int W, int Cin, int Cout) {
  return winograd_fits(isa, H + 2, W + 2, Cin, Cout) && H % 2 == 0 && W % 2 == 0;
}

static Isa require_winograd_same(Impl k, int H, int W, int Cin, int Cout, const char* fn) {
  const Isa isa = require_winograd(k, H + 2, W + 2, Cin, Cout, fn);
  if (H % 2 || W % 2) throw std::logic_error(std::string(fn) + ": H and W must be even (check winograd_same_fits)");
  return isa;
}

void conv3x3_same_forward_winograd(Impl k, float* out, const float* in, const float* v, const float* b, int N, int H,
                                   int W, int Cin, int Cout, bool relu) {
  const Isa isa = require_winograd_same(k, H, W, Cin, Cout, "conv3x3_same_forward_winograd");
  require_scratch(isa == Isa::Avx512 ? avx512::conv3x3_same_forward_winograd(out, in, v, b, N, H, W, Cin, Cout, relu)
                                     : avx2::conv3x3_same_forward_winograd(out, in, v, b, N, H, W, Cin, Cout, relu));
}

void conv3x3_same_backward_input_winograd(Impl k, float* din, const float* dout, const float* vflip, int N, int H,
                                          int W, int Cin, int Cout) {
  const Isa isa = require_winograd_same(k, H, W, Cin, Cout, "conv3x3_same_backward_input_winograd");
  require_scratch(isa == Isa::Avx512 ? avx512::conv3x3_same_backward_input_winograd(din, dout, vflip, N, H, W, Cin, Cout)
                                     : avx2::conv3x3_same_backward_input_winograd(din, dout, vflip, N, H, W, Cin, Cout));
}

void conv3x3_same_backward_weight_winograd(Impl k, float* dw, float* db, const float* dout, const float* in, int N,
                                           int H, int W, int Cin, int Cout) {
  const Isa isa = require_winograd_same(k, H, W, Cin, Cout, "conv3x3_same_backward_weight_winograd");
  require_scratch(isa == Isa::Avx512
                      ? avx512::conv3x3_same_backward_weight_winograd(dw, db, dout, in, N, H, W, Cin, Cout)
                      : avx2::conv3x3_same_backward_weight_winograd(dw, db, dout, in, N, H, W, Cin, Cout));
}

void winograd4_kernel_transform(float* v, const float* w, int Cin, int Cout, Isa isa) {
  switch (transform_tier(isa, Cin, Cout)) {
    case Isa::Avx512: return avx512::winograd4_kernel_transform(v, w, Cin, Cout);
    case Isa::Avx2: return avx2::winograd4_kernel_transform(v, w, Cin, Cout);
    case Isa::Scalar: break;
  }
  const auto& G = kWinograd4G;
  const size_t pos = size_t(Cin) * Cout;
  constexpr size_t B = 64;  // channel pairs at a time, innermost so that the loops vectorise
  for (size_t e0 = 0; e0 < pos; e0 += B) {
    const size_t n = pos - e0 < B ? pos - e0 : B;
    float t[6][3][B];  // G g
    for (int i = 0; i < 6; i++)
      for (int j = 0; j < 3; j++)
        for (size_t e = 0; e < n; e++)
          t[i][j][e] = G[i][0] * w[(0 + j) * pos + e0 + e] + G[i][1] * w[(3 + j) * pos + e0 + e] +
                       G[i][2] * w[(6 + j) * pos + e0 + e];
    for (int i = 0; i < 6; i++)  // (G g) G^T
      for (int j = 0; j < 6; j++)
        for (size_t e = 0; e < n; e++)
          v[(6 * i + j) * pos + e0 + e] = t[i][0][e] * G[j][0] + t[i][1][e] * G[j][1] + t[i][2][e] * G[j][2];
  }
}

// F(4x4)'s 'same' kernels take any H and W where a padded copy would fit winograd_fits
static Isa require_winograd4(Impl k, int H, int W, int Cin, int Cout, const char* fn) {
  return require_winograd(k, H + 2, W + 2, Cin, Cout, fn, Impl::Winograd4Avx512, Impl::Winograd4Avx2);
}

void conv3x3_same_forward_winograd4(Impl k, float* out, const float* in, const float* v, const float* b, int N, int H,
                                    int W, int Cin, int Cout, bool relu) {
  const Isa isa = require_winograd4(k, H, W, Cin, Cout, "conv3x3_same_forward_winograd4");
  require_scratch(isa == Isa::Avx512 ? avx512::conv3x3_same_forward_winograd4(out, in, v, b, N, H, W, Cin, Cout, relu)
                                     : avx2::conv3x3_same_forward_winograd4(out, in, v, b, N, H, W, Cin, Cout, relu));
}

void conv3x3_same_backward_input_winograd4(Impl k, float* din, const float* dout, const float* vflip, int N, int H,
                                           int W, int Cin, int Cout, bool accumulate) {
  const Isa isa = require_winograd4(k, H, W, Cin, Cout, "conv3x3_same_backward_input_winograd4");
  require_scratch(isa == Isa::Avx512
                      ? avx512::conv3x3_same_backward_input_winograd4(din, dout, vflip, N, H, W, Cin, Cout, accumulate)
                      : avx2::conv3x3_same_backward_input_winograd4(din, dout, vflip, N, H, W, Cin, Cout, accumulate));
}

static void backward_winograd4(const char* fn, Impl k, float* dw, float* db, float* din, const float* dout,
                               const float* in, const float* vflip, int N, int H, int W, int Cin, int Cout,
                               bool accumulate) {
  const Isa isa = require_winograd4(k, H, W, Cin, Cout, fn);
  require_scratch(isa == Isa::Avx512 ? avx512::conv3x3_same_backward_winograd4(dw, db, din, dout, in, vflip, N, H, W,
                                                                               Cin, Cout, accumulate)
                                     : avx2::conv3x3_same_backward_winograd4(dw, db, din, dout, in, vflip, N, H, W,
                                                                             Cin, Cout, accumulate));
}

void conv3x3_same_backward_weight_winograd4(Impl k, float* dw, float* db, const float* dout, const float* in, int N,
                                            int H, int W, int Cin, int Cout) {
  backward_winograd4("conv3x3_same_backward_weight_winograd4", k, dw, db, nullptr, dout, in, nullptr, N, H, W, Cin,
                     Cout, false);
}

void conv3x3_same_backward_winograd4(Impl k, float* dw, float* db, float* din, const float* dout, const float* in,
                                     const float* vflip, int N, int H, int W, int Cin, int Cout, bool accumulate) {
  backward_winograd4("conv3x3_same_backward_winograd4", k, dw, db, din, dout, in, vflip, N, H, W, Cin, Cout,
                     accumulate);
}

static void require_winograd_bf16(int H, int W, int Cin, int Cout, const char* fn) {
  if (!cpu_has_bf16()) throw std::logic_error(std::string(fn) + ": this CPU has no AVX512-BF16");
  require_winograd_same(Impl::WinogradAvx512, H, W, Cin, Cout, fn);
}

void conv3x3_same_forward_winograd_bf16(float* out, const float* in, const uint32_t* vp, const float* b, int N, int H,
                                        int W, int Cin, int Cout, bool relu) {
  require_winograd_bf16(H, W, Cin, Cout, "conv3x3_same_forward_winograd_bf16");
  require_scratch(avx512bf16::conv3x3_same_forward_winograd(out, in, vp, b, N, H, W, Cin, Cout, relu));
}

// A 'same' convolution's input gradient is the 'same' convolution of the output gradient with the flipped kernel
void conv3x3_same_backward_input_winograd_bf16(float* din, const float* dout, const uint32_t* vpflip, int N, int H,
                                               int W, int Cin, int Cout) {
  require_winograd_bf16(H, W, Cout, Cin, "conv3x3_same_backward_input_winograd_bf16");
  require_scratch(avx512bf16::conv3x3_same_forward_winograd(din, dout, vpflip, nullptr, N, H, W, Cout, Cin, false));
}

void conv3x3_forward_bf16_packed(Bf16Kernels k, float* out, const float* in, const uint32_t* wp, const float* b,
                                 int H, int W, int Cin, int Cout, bool relu) {
  if (k != Bf16Kernels::Avx512Bf16 && amx_fits(Cin, Cout))
    return require_scratch((k == Bf16Kernels::Amx ? amx::conv3x3_forward_packed : amx_emulated::conv3x3_forward_packed)(
        out, in, wp, b, 1, H, W, Cin, Cout, relu));
  require_scratch(avx512bf16::conv3x3_forward_packed(out, in, wp, b, 1, H, W, Cin, Cout, relu));
}

void conv3x3_backward_input_bf16_packed(Bf16Kernels k, float* din, const float* dout, const uint32_t* wp, int H,
                                        int W, int Cin, int Cout) {
  if (k != Bf16Kernels::Avx512Bf16 && amx_fits(Cin, Cout))
    return require_scratch(
        (k == Bf16Kernels::Amx ? amx::conv3x3_backward_input_packed : amx_emulated::conv3x3_backward_input_packed)(
            din, dout, wp, 1, H, W, Cin, Cout));
  require_scratch(avx512bf16::conv3x3_backward_input_packed(din, dout, wp, 1, H, W, Cin, Cout));
}

void conv3x3_backward_weight_bf16(Bf16Kernels k, float* dw, float* db, const float* dout, const float* in, int H,
                                  int W, int Cin, int Cout) {
  if (k != Bf16Kernels::Avx512Bf16 && amx_fits(Cin, Cout))
    return require_scratch((k == Bf16Kernels::Amx ? amx::conv3x3_backward_weight : amx_emulated::conv3x3_backward_weight)(
        dw, db, dout, in, 1, H, W, Cin, Cout));
  if (k != Bf16Kernels::Avx512Bf16 && amx_fits_narrow(Cin, Cout)) {
    auto fn = k == Bf16Kernels::Amx ? amx::conv3x3_backward_weight_narrow : amx_emulated::conv3x3_backward_weight_narrow;
    return require_scratch(fn(dw, db, dout, in, 1, H, W, Cin, Cout));
  }
  conv3x3_backward_weight_bf16(dw, db, dout, in, 1, H, W, Cin, Cout);
}

void conv3x3_forward_bf16(float* out, const float* in, const float* w, const float* b, int N, int H, int W, int Cin,
                          int Cout, bool relu) {
  if (Cout % avx512bf16::kLanes == 0)
    return require_scratch(avx512bf16::conv3x3_forward(out, in, w, b, N, H, W, Cin, Cout, relu));
  const Impl k = fp32_impl(Isa::Avx512, Cout);
  if (relu) conv3x3_relu_forward(k, out, in, w, b, N, H, W, Cin, Cout);
  else conv3x3_forward(k, out, in, w, b, N, H, W, Cin, Cout);
}

void conv3x3_backward_input_bf16(float* din, const float* dout, const float* w, int N, int H, int W, int Cin,
                                 int Cout) {
  if (Cin % avx512bf16::kLanes == 0)
    return require_scratch(avx512bf16::conv3x3_backward_input(din, dout, w, N, H, W, Cin, Cout));
  conv3x3_backward_input(fp32_impl(Isa::Avx512, Cin), din, dout, w, N, H, W, Cin, Cout);
}

void conv3x3_backward_weight_bf16(float* dw, float* db, const float* dout, const float* in, int N, int H, int W,
                                  int Cin, int Cout) {
  if (Cout % avx512bf16::kLanes == 0)
    return require_scratch(avx512bf16::conv3x3_backward_weight(dw, db, dout, in, N, H, W, Cin, Cout));
  conv3x3_backward_weight(fp32_impl(Isa::Avx512, Cout), dw, db, dout, in, N, H, W, Cin, Cout);
}

void conv3x3_relu_maxpool_forward(Impl k, float* out, uint8_t* code, const float* in, const float* w, const float* b,
                                  int N, int H, int W, int Cin, int Cout) {
  switch (tier(k, Cout, "conv3x3_relu_maxpool_forward")) {
    case 2: return require_scratch(avx512::conv3x3_relu_maxpool_forward(out, code, in, w, b, N, H, W, Cin, Cout));
    case 1: return require_scratch(avx2::conv3x3_relu_maxpool_forward(out, code, in, w, b, N, H, W, Cin, Cout));
    default: return ref::conv3x3_relu_maxpool_forward(out, code, in, w, b, N, H, W, Cin, Cout);
  }
}

void maxpool2x2_forward_code(Impl k, float* out, uint8_t* code, const float* in, int N, int H, int W, int C,
                             bool relu) {
  switch (tier(k, C, "maxpool2x2_forward_code")) {
    case 2: return avx512::maxpool2x2_forward_code(out, code, in, N, H, W, C, relu);
    case 1: return avx2::maxpool2x2_forward_code(out, code, in, N, H, W, C, relu);
    default: return ref::maxpool2x2_forward_code(out, code, in, N, H, W, C, relu);
  }
}

void conv3x3_relu_maxpool_forward_amx(Bf16Kernels k, float* out, uint16_t* out16, uint8_t* code, const float* in,
                                      const uint16_t* in16, const uint32_t* wp, const float* b, int H, int W, int Cin,
                                      int Cout) {
  const bool real = k == Bf16Kernels::Amx;
  if (amx_fits_narrow(Cin, Cout))
    return require_scratch((real ? amx::conv3x3_relu_maxpool_forward_narrow_packed
                                 : amx_emulated::conv3x3_relu_maxpool_forward_narrow_packed)(
        out, out16, code, in, wp, b, 1, H, W, Cin, Cout));
  require_scratch((real ? amx::conv3x3_relu_maxpool_forward_packed : amx_emulated::conv3x3_relu_maxpool_forward_packed)(
      out, out16, code, in, in16, wp, b, 1, H, W, Cin, Cout));
}

void relu_maxpool_conv3x3_backward_amx(Bf16Kernels k, float* din, float* dw, float* db, const float* dpool,
                                       const uint8_t* code, const float* in, const uint16_t* in16, const uint32_t* wp,
                                       int H, int W, int Cin, int Cout) {
  require_scratch((k == Bf16Kernels::Amx ? amx::relu_maxpool_conv3x3_backward_packed
                                         : amx_emulated::relu_maxpool_conv3x3_backward_packed)(
      din, dw, db, dpool, code, in, in16, wp, 1, H, W, Cin, Cout));
}

void maxpool2x2_backward_code(Impl k, float* din, const float* dout, const uint8_t* code, int N, int H, int W, int C,
                              bool relu) {
  switch (tier(k, C, "maxpool2x2_backward_code")) {
    case 2: return avx512::maxpool2x2_backward_code(din, dout, code, N, H, W, C, relu);
    case 1: return avx2::maxpool2x2_backward_code(din, dout, code, N, H, W, C, relu);
    default: return ref::maxpool2x2_backward_code(din, dout, code, N, H, W, C, relu);
  }
}

void relu_maxpool_conv3x3_backward_weight(Impl k, float* dw, float* db, const float* dpool, const uint8_t* code,
                                          const float* in, int N, int H, int W, int Cin, int Cout) {
  // The fast fp32 kernels run these bands themselves, with the same sums.
  if (k == Impl::Avx512 || k == Impl::Avx2) {
    const bool v512 = tier(k, Cout, "relu_maxpool_conv3x3_backward_weight") == 2;
    return require_scratch(v512 ? avx512::relu_maxpool_conv3x3_backward_weight(dw, db, dpool, code, in, N, H, W, Cin, Cout)
                                : avx2::relu_maxpool_conv3x3_backward_weight(dw, db, dpool, code, in, N, H, W, Cin, Cout));
  }
  const bool amx = k == Impl::Amx || k == Impl::AmxEmulated;
  if (amx && amx_fits_narrow(Cin, Cout))
    return require_scratch((k == Impl::Amx ? amx::relu_maxpool_conv3x3_backward_weight_narrow
                                           : amx_emulated::relu_maxpool_conv3x3_backward_weight_narrow)(
        dw, db, dpool, code, in, N, H, W, Cin, Cout));
  const bool bf16 = amx || k == Impl::Avx512Bf16;
  if (!bf16 && k != Impl::Reference)
    throw std::logic_error(std::string("relu_maxpool_conv3x3_backward_weight: no ") + impl_name(k) + " kernel");
  // band by band: the pool's gradient routed into a band of conv rows, then that band's weight gradient
  const int Ho = H - 2, Wo = W - 2, Hq = Ho / 2, Wq = Wo / 2;
  const Impl route = bf16 ? fp32_impl(Isa::Avx512, Cout) : Impl::Reference;
  thread_local std::vector<float> band;  // [2*kFirstBlockBand, Wo, Cout] gradient of the conv output
  band.resize(size_t(2 * kFirstBlockBand) * Wo * Cout);
  for (int n = 0; n < N; n++)
    for (int qy = 0; qy < Hq; qy += kFirstBlockBand) {
      const int rows = 2 * (Hq - qy < kFirstBlockBand ? Hq - qy : kFirstBlockBand);  // conv output rows in this band
      const size_t q = (size_t(n) * Hq + qy) * Wq * Cout;
      maxpool2x2_backward_code(route, band.data(), dpool + q, code + q, 1, rows, Wo, Cout, true);
      const float* x = in + (size_t(n) * H + 2 * qy) * W * Cin;
      if (bf16) conv3x3_backward_weight_bf16(bf16_kernels_of(k), dw, db, band.data(), x, rows + 2, W, Cin, Cout);
      else ref::conv3x3_backward_weight(dw, db, band.data(), x, 1, rows + 2, W, Cin, Cout);
    }
}

void conv3x3_backward_input(Impl k, float* din, const float* dout, const float* w, int N, int H, int W, int Cin,
                            int Cout) {
  switch (tier(k, Cin, "conv3x3_backward_input")) {
    case 2: return require_scratch(avx512::conv3x3_backward_input(din, dout, w, N, H, W, Cin, Cout));
    case 1: return require_scratch(avx2::conv3x3_backward_input(din, dout, w, N, H, W, Cin, Cout));
    default: return ref::conv3x3_backward_input(din, dout, w, N, H, W, Cin, Cout);
  }
}

void conv3x3_backward_weight(Impl k, float* dw, float* db, const float* dout, const float* in, int N, int H, int W,
                             int Cin, int Cout) {
  switch (tier(k, Cout, "conv3x3_backward_weight")) {
    case 2: return avx512::conv3x3_backward_weight(dw, db, dout, in, N, H, W, Cin, Cout);
    case 1: return avx2::conv3x3_backward_weight(dw, db, dout, in, N, H, W, Cin, Cout);
    default: return ref::conv3x3_backward_weight(dw, db, dout, in, N, H, W, Cin, Cout);
  }
}

}  // namespace engine
