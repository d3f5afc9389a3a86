// Reference kernels: the plain, readable source of truth for every layer.
//
// Layout (everywhere in the engine):
//   activations  NHWC, row-major: x[((n*H + y)*W + x)*C + c]  (channels-last, as Keras; flatten is H,W,C order)
//   conv kernel  [3, 3, Cin, Cout]  (Keras' HWIO)          conv bias [Cout]
//   dense kernel [In, Out]          (Keras)                dense bias [Out]
// Signatures: outputs first, then inputs, then sizes. Gradients are prefixed `d`.
// Backward kernels that produce a weight gradient accumulate (+=) so a batch can be summed image by image;
// those that produce an input gradient overwrite.
// Templated on the scalar so that the same code runs in float (training) and double (gradient checks).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace engine::ref {

// out [N, H-2, W-2, Cout] = valid 3x3 convolution of in [N, H, W, Cin] with w [3,3,Cin,Cout], b [Cout]
template <typename T>
void conv3x3_forward(T* out, const T* in, const T* w, const T* b, int N, int H, int W, int Cin, int Cout) {
  const int Ho = H - 2, Wo = W - 2;
  for (int n = 0; n < N; n++)
    for (int y = 0; y < Ho; y++)
      for (int x = 0; x < Wo; x++) {
        T* o = out + ((size_t(n) * Ho + y) * Wo + x) * Cout;
        for (int co = 0; co < Cout; co++) o[co] = b[co];
        for (int ky = 0; ky < 3; ky++)
          for (int kx = 0; kx < 3; kx++) {
            const T* px = in + ((size_t(n) * H + y + ky) * W + x + kx) * Cin;
            const T* wk = w + size_t(ky * 3 + kx) * Cin * Cout;
            for (int ci = 0; ci < Cin; ci++)
              for (int co = 0; co < Cout; co++) o[co] += px[ci] * wk[size_t(ci) * Cout + co];
          }
      }
}

// din [N, H, W, Cin] (overwritten) from dout [N, H-2, W-2, Cout] and w [3,3,Cin,Cout]
template <typename T>
void conv3x3_backward_input(T* din, const T* dout, const T* w, int N, int H, int W, int Cin, int Cout) {
  const int Ho = H - 2, Wo = W - 2;
  for (size_t i = 0; i < size_t(N) * H * W * Cin; i++) din[i] = 0;
  for (int n = 0; n < N; n++)
    for (int y = 0; y < Ho; y++)
      for (int x = 0; x < Wo; x++) {
        const T* g = dout + ((size_t(n) * Ho + y) * Wo + x) * Cout;
        for (int ky = 0; ky < 3; ky++)
          for (int kx = 0; kx < 3; kx++) {
            T* d = din + ((size_t(n) * H + y + ky) * W + x + kx) * Cin;
            const T* wk = w + size_t(ky * 3 + kx) * Cin * Cout;
            for (int ci = 0; ci < Cin; ci++) {
              T s = 0;
              for (int co = 0; co < Cout; co++) s += g[co] * wk[size_t(ci) * Cout + co];
              d[ci] += s;
            }
          }
      }
}

// dw [3,3,Cin,Cout] += and db [Cout] += from dout [N, H-2, W-2, Cout] and in [N, H, W, Cin]
template <typename T>
void conv3x3_backward_weight(T* dw, T* db, const T* dout, const T* in, int N, int H, int W, int Cin, int Cout) {
  const int Ho = H - 2, Wo = W - 2;
  for (int n = 0; n < N; n++)
    for (int y = 0; y < Ho; y++)
      for (int x = 0; x < Wo; x++) {
        const T* g = dout + ((size_t(n) * Ho + y) * Wo + x) * Cout;
        for (int co = 0; co < Cout; co++) db[co] += g[co];
        for (int ky = 0; ky < 3; ky++)
          for (int kx = 0; kx < 3; kx++) {
            const T* px = in + ((size_t(n) * H + y + ky) * W + x + kx) * Cin;
            T* dwk = dw + size_t(ky * 3 + kx) * Cin * Cout;
            for (int ci = 0; ci < Cin; ci++)
              for (int co = 0; co < Cout; co++) dwk[size_t(ci) * Cout + co] += px[ci] * g[co];
          }
      }
}

// The geometry of a convolution: a k x k kernel at stride s over the input zero-padded by pt rows on top and pl
// columns on the left (and whatever the Ho x Wo outputs need below and on the right). conv_geometry gives it for
// Keras' paddings: 'valid' (no padding, Ho = (H - k) / s + 1) and 'same' (Ho = ceil(H / s), the padding split
// with the smaller half on top and left, as TensorFlow does).
struct ConvGeom {
  int k = 3, s = 1, pt = 0, pl = 0, Ho = 0, Wo = 0;
};
inline ConvGeom conv_geometry(int H, int W, int k, int s, bool same) {
  ConvGeom g;
  g.k = k;
  g.s = s;
  if (!same) {
    g.Ho = (H - k) / s + 1;
    g.Wo = (W - k) / s + 1;
    return g;
  }
  g.Ho = (H + s - 1) / s;
  g.Wo = (W + s - 1) / s;
  const int ph = (g.Ho - 1) * s + k - H, pw = (g.Wo - 1) * s + k - W;
  g.pt = ph > 0 ? ph / 2 : 0;
  g.pl = pw > 0 ? pw / 2 : 0;
  return g;
}

// out [N, Ho, Wo, Cout] = convolution of in [N, H, W, Cin] with w [k,k,Cin,Cout], b [Cout] (geometry g); with
// k = 3, s = 1 and no padding, conv3x3_forward's sums in its order
template <typename T>
void conv_forward(T* out, const T* in, const T* w, const T* b, int N, int H, int W, int Cin, int Cout,
                  const ConvGeom& g) {
  for (int n = 0; n < N; n++)
    for (int y = 0; y < g.Ho; y++)
      for (int x = 0; x < g.Wo; x++) {
        T* o = out + ((size_t(n) * g.Ho + y) * g.Wo + x) * Cout;
        for (int co = 0; co < Cout; co++) o[co] = b[co];
        for (int ky = 0; ky < g.k; ky++) {
          const int iy = y * g.s + ky - g.pt;
          if (iy < 0 || iy >= H) continue;
          for (int kx = 0; kx < g.k; kx++) {
            const int ix = x * g.s + kx - g.pl;
            if (ix < 0 || ix >= W) continue;
            const T* px = in + ((size_t(n) * H + iy) * W + ix) * Cin;
            const T* wk = w + size_t(ky * g.k + kx) * Cin * Cout;
            for (int ci = 0; ci < Cin; ci++)
              for (int co = 0; co < Cout; co++) o[co] += px[ci] * wk[size_t(ci) * Cout + co];
          }
        }
      }
}

// din [N, H, W, Cin] (overwritten) from dout [N, Ho, Wo, Cout] and w [k,k,Cin,Cout]
template <typename T>
void conv_backward_input(T* din, const T* dout, const T* w, int N, int H, int W, int Cin, int Cout, const ConvGeom& g) {
  for (size_t i = 0; i < size_t(N) * H * W * Cin; i++) din[i] = 0;
  for (int n = 0; n < N; n++)
    for (int y = 0; y < g.Ho; y++)
      for (int x = 0; x < g.Wo; x++) {
        const T* gr = dout + ((size_t(n) * g.Ho + y) * g.Wo + x) * Cout;
        for (int ky = 0; ky < g.k; ky++) {
          const int iy = y * g.s + ky - g.pt;
          if (iy < 0 || iy >= H) continue;
          for (int kx = 0; kx < g.k; kx++) {
            const int ix = x * g.s + kx - g.pl;
            if (ix < 0 || ix >= W) continue;
            T* d = din + ((size_t(n) * H + iy) * W + ix) * Cin;
            const T* wk = w + size_t(ky * g.k + kx) * Cin * Cout;
            for (int ci = 0; ci < Cin; ci++) {
              T s = 0;
              for (int co = 0; co < Cout; co++) s += gr[co] * wk[size_t(ci) * Cout + co];
              d[ci] += s;
            }
          }
        }
      }
}

// dw [k,k,Cin,Cout] += and db [Cout] += from dout [N, Ho, Wo, Cout] and in [N, H, W, Cin]
template <typename T>
void conv_backward_weight(T* dw, T* db, const T* dout, const T* in, int N, int H, int W, int Cin, int Cout,
                          const ConvGeom& g) {
  for (int n = 0; n < N; n++)
    for (int y = 0; y < g.Ho; y++)
      for (int x = 0; x < g.Wo; x++) {
        const T* gr = dout + ((size_t(n) * g.Ho + y) * g.Wo + x) * Cout;
        for (int co = 0; co < Cout; co++) db[co] += gr[co];
        for (int ky = 0; ky < g.k; ky++) {
          const int iy = y * g.s + ky - g.pt;
          if (iy < 0 || iy >= H) continue;
          for (int kx = 0; kx < g.k; kx++) {
            const int ix = x * g.s + kx - g.pl;
            if (ix < 0 || ix >= W) continue;
            const T* px = in + ((size_t(n) * H + iy) * W + ix) * Cin;
            T* dwk = dw + size_t(ky * g.k + kx) * Cin * Cout;
            for (int ci = 0; ci < Cin; ci++)
              for (int co = 0; co < Cout; co++) dwk[size_t(ci) * Cout + co] += px[ci] * gr[co];
          }
        }
      }
}

// out [n] = max(in, 0); in and out may alias
template <typename T>
void relu_forward(T* out, const T* in, size_t n) {
  if (out == in) {  // in place, as relu_backward
    for (size_t i = 0; i < n; i++) out[i] = out[i] > 0 ? out[i] : T(0);
    return;
  }
  for (size_t i = 0; i < n; i++) out[i] = in[i] > 0 ? in[i] : T(0);
}

// din [n] = dout where the forward output was positive; din and dout may alias
template <typename T>
void relu_backward(T* din, const T* dout, const T* out, size_t n) {
  if (din == dout) {  // in place, written so that the compiler sees one array and vectorises
    for (size_t i = 0; i < n; i++) din[i] = out[i] > 0 ? din[i] : T(0);
    return;
  }
  for (size_t i = 0; i < n; i++) din[i] = out[i] > 0 ? dout[i] : T(0);
}

// out [N, H/2, W/2, C] = 2x2 max of in [N, H, W, C], stride 2, floor (an odd last row/column is dropped)
template <typename T>
void maxpool2x2_forward(T* out, const T* in, int N, int H, int W, int C) {
  const int Ho = H / 2, Wo = W / 2;
  for (int n = 0; n < N; n++)
    for (int y = 0; y < Ho; y++)
      for (int x = 0; x < Wo; x++)
        for (int c = 0; c < C; c++) {
          const T* p = in + ((size_t(n) * H + 2 * y) * W + 2 * x) * C + c;
          T m = p[0];
          if (p[C] > m) m = p[C];
          if (p[size_t(W) * C] > m) m = p[size_t(W) * C];
          if (p[size_t(W) * C + C] > m) m = p[size_t(W) * C + C];
          out[((size_t(n) * Ho + y) * Wo + x) * C + c] = m;
        }
}

// Offset of element k (0..3, row-major) of a 2x2 window from its top-left, in an [.., W, C] layout
inline size_t window_offset(int k, int W, int C) { return size_t(k >> 1) * W * C + size_t(k & 1) * C; }

// Which element of the 2x2 window at p (its top-left) holds the window's first maximum, row-major
template <typename T>
int window_first_max(const T* p, int W, int C) {
  int k = 0;
  for (int i = 1; i < 4; i++)
    if (p[window_offset(i, W, C)] > p[window_offset(k, W, C)]) k = i;
  return k;
}

// din [N, H, W, C] (overwritten): each window's gradient goes to its first maximum in row-major order
template <typename T>
void maxpool2x2_backward(T* din, const T* dout, const T* in, int N, int H, int W, int C) {
  const int Ho = H / 2, Wo = W / 2;
  for (size_t i = 0; i < size_t(N) * H * W * C; i++) din[i] = 0;
  for (int n = 0; n < N; n++)
    for (int y = 0; y < Ho; y++)
      for (int x = 0; x < Wo; x++)
        for (int c = 0; c < C; c++) {
          const size_t base = ((size_t(n) * H + 2 * y) * W + 2 * x) * C + c;
          din[base + window_offset(window_first_max(in + base, W, C), W, C)] +=
              dout[((size_t(n) * Ho + y) * Wo + x) * C + c];
        }
}

// Fused pairs the network uses where one layer feeds the next; the fast kernels do each in one pass.
// out = relu(conv3x3(in)): a conv layer followed by ReLU
template <typename T>
void conv3x3_relu_forward(T* out, const T* in, const T* w, const T* b, int N, int H, int W, int Cin, int Cout) {
  conv3x3_forward(out, in, w, b, N, H, W, Cin, Cout);
  relu_forward(out, out, size_t(N) * (H - 2) * (W - 2) * Cout);
}

// din [N, H, W, C] = gradient through max-pool and then the ReLU before it; in = the ReLU's output (>= 0)
template <typename T>
void relu_maxpool2x2_backward(T* din, const T* dout, const T* in, int N, int H, int W, int C) {
  maxpool2x2_backward(din, dout, in, N, H, W, C);
  relu_backward(din, din, in, size_t(N) * H * W * C);
}

// out [N, H/2, W/2, C] = 2x2 max of in, as maxpool2x2_forward; code [N, H/2, W/2, C] = which of the window's four
// (row-major) holds its first maximum, or with `relu` (in: a ReLU's output) 4 where that maximum is not positive
// (no gradient)
template <typename T>
void maxpool2x2_forward_code(T* out, uint8_t* code, const T* in, int N, int H, int W, int C, bool relu) {
  const int Ho = H / 2, Wo = W / 2;
  for (int n = 0; n < N; n++)
    for (int y = 0; y < Ho; y++)
      for (int x = 0; x < Wo; x++)
        for (int c = 0; c < C; c++) {
          const T* p = in + ((size_t(n) * H + 2 * y) * W + 2 * x) * C + c;
          const int k = window_first_max(p, W, C);
          const T m = p[window_offset(k, W, C)];
          const size_t o = ((size_t(n) * Ho + y) * Wo + x) * C + c;
          out[o] = m;
          code[o] = uint8_t(!relu || m > 0 ? k : 4);
        }
}

// din [N, H, W, C] (overwritten) = dout routed to the position code names (0 elsewhere, in an odd last
// row/column, and where code is 4): the backward of maxpool2x2_forward_code, with `relu` of the ReLU before it
// too; without, the routed value is 0 + dout, as maxpool2x2_backward's sum into zeros gives it
template <typename T>
void maxpool2x2_backward_code(T* din, const T* dout, const uint8_t* code, int N, int H, int W, int C, bool relu) {
  const int Ho = H / 2, Wo = W / 2;
  for (size_t i = 0; i < size_t(N) * H * W * C; i++) din[i] = 0;
  for (int n = 0; n < N; n++)
    for (int y = 0; y < Ho; y++)
      for (int x = 0; x < Wo; x++)
        for (int c = 0; c < C; c++) {
          const size_t o = ((size_t(n) * Ho + y) * Wo + x) * C + c;
          if (code[o] > 3) continue;
          din[((size_t(n) * H + 2 * y) * W + 2 * x) * C + c + window_offset(code[o], W, C)] = relu ? dout[o] : T(0) + dout[o];
        }
}

// The first conv block (conv -> ReLU -> max-pool) in one pass: out [N, (H-2)/2, (W-2)/2, Cout] and code as
// maxpool2x2_forward_code; the full-resolution activation is never stored
template <typename T>
void conv3x3_relu_maxpool_forward(T* out, uint8_t* code, const T* in, const T* w, const T* b, int N, int H, int W,
                                  int Cin, int Cout) {
  std::vector<T> conv(size_t(N) * (H - 2) * (W - 2) * Cout);
  conv3x3_relu_forward(conv.data(), in, w, b, N, H, W, Cin, Cout);
  maxpool2x2_forward_code(out, code, conv.data(), N, H - 2, W - 2, Cout, true);
}

// dw [3,3,Cin,Cout] +=, db [Cout] += of that block from the pool's gradient dpool and its code; in [N, H, W, Cin]
template <typename T>
void relu_maxpool_conv3x3_backward_weight(T* dw, T* db, const T* dpool, const uint8_t* code, const T* in, int N,
                                          int H, int W, int Cin, int Cout) {
  std::vector<T> dconv(size_t(N) * (H - 2) * (W - 2) * Cout);
  maxpool2x2_backward_code(dconv.data(), dpool, code, N, H - 2, W - 2, Cout, true);
  conv3x3_backward_weight(dw, db, dconv.data(), in, N, H, W, Cin, Cout);
}

// out [N, O] = in [N, I] . w [I, O] + b [O]
template <typename T>
void dense_forward(T* out, const T* in, const T* w, const T* b, int N, int I, int O) {
  for (int n = 0; n < N; n++) {
    T* o = out + size_t(n) * O;
    for (int j = 0; j < O; j++) o[j] = b[j];
    for (int i = 0; i < I; i++) {
      const T v = in[size_t(n) * I + i];
      for (int j = 0; j < O; j++) o[j] += v * w[size_t(i) * O + j];
    }
  }
}

// dw [I, O] +=, db [O] += from dout [N, O] and in [N, I]
template <typename T>
void dense_backward_weight(T* dw, T* db, const T* dout, const T* in, int N, int I, int O) {
  for (int n = 0; n < N; n++) {
    const T* g = dout + size_t(n) * O;
    for (int j = 0; j < O; j++) db[j] += g[j];
    for (int i = 0; i < I; i++) {
      const T v = in[size_t(n) * I + i];
      for (int j = 0; j < O; j++) dw[size_t(i) * O + j] += v * g[j];
    }
  }
}

// din [N, I] (overwritten) from dout [N, O] and w [I, O]
template <typename T>
void dense_backward_input(T* din, const T* dout, const T* w, int N, int I, int O) {
  for (int n = 0; n < N; n++) {
    const T* g = dout + size_t(n) * O;
    for (int i = 0; i < I; i++) {
      T s = 0;
      for (int j = 0; j < O; j++) s += g[j] * w[size_t(i) * O + j];
      din[size_t(n) * I + i] = s;
    }
  }
}

// din [N, I] (overwritten; may be null), dw [I, O] +=, db [O] += from dout [N, O]
template <typename T>
void dense_backward(T* din, T* dw, T* db, const T* dout, const T* in, const T* w, int N, int I, int O) {
  dense_backward_weight(dw, db, dout, in, N, I, O);
  if (din) dense_backward_input(din, dout, w, N, I, O);
}

// Inverted dropout: out = in * mask, where mask [n] holds 0 or 1/(1-rate) (see dropout_mask in rng.h)
template <typename T>
void dropout_forward(T* out, const T* in, const T* mask, size_t n) {
  for (size_t i = 0; i < n; i++) out[i] = in[i] * mask[i];
}

template <typename T>
void dropout_backward(T* din, const T* dout, const T* mask, size_t n) {
  for (size_t i = 0; i < n; i++) din[i] = dout[i] * mask[i];
}

// out [N, C] = mean over the H*W pixels of in [N, H, W, C] (global average pooling), summed in pixel order
template <typename T>
void global_avgpool_forward(T* out, const T* in, int N, int HW, int C) {
  for (int n = 0; n < N; n++) {
    T* o = out + size_t(n) * C;
    for (int c = 0; c < C; c++) o[c] = 0;
    for (int p = 0; p < HW; p++) {
      const T* x = in + (size_t(n) * HW + p) * C;
      for (int c = 0; c < C; c++) o[c] += x[c];
    }
    for (int c = 0; c < C; c++) o[c] = o[c] / T(HW);
  }
}

// din [N, H, W, C] (overwritten) = dout [N, C] / (H*W) at every pixel
template <typename T>
void global_avgpool_backward(T* din, const T* dout, int N, int HW, int C) {
  for (int n = 0; n < N; n++)
    for (int p = 0; p < HW; p++)
      for (int c = 0; c < C; c++) din[(size_t(n) * HW + p) * C + c] = dout[size_t(n) * C + c] / T(HW);
}

// out [n] = a + b (a residual connection); its backward hands dout to both inputs unchanged
template <typename T>
void add_forward(T* out, const T* a, const T* b, size_t n) {
  for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

// Batch normalisation over the pixels and images of a batch, per channel, in pieces that a network can run on
// several threads' shares of the batch and combine at a barrier:
//   batchnorm_sums: sum [C] +=, sumsq [C] += of x and x^2 over in [P, C] (P pixels of a share), in double
//   (the statistics: mean = sum / count, var = sumsq / count - mean^2, biased, as training normalises with)
//   batchnorm_forward: out = gamma * (in - mean) * invstd + beta, invstd = 1 / sqrt(var + epsilon); plus residual
//   where not null (a residual add that reads the batch norm, run in the same pass); with relu, ReLU of that (a ReLU
//   that reads only the batch norm or the add)
//   batchnorm_backward_sums: dsum [C] += of dout, dxhat [C] += of dout * xhat over a share (also dbeta, dgamma)
//   batchnorm_backward_input: din = gamma * invstd * (dout - dsum / count - xhat * dxhat / count), with the whole
//   batch's dsum and dxhat (count = pixels of the batch)
// relu_out (the backward's; may be null): the fused ReLU's output, dout being the ReLU's output gradient, which is
// taken as zero where relu_out is not positive (as relu_backward). The fast tiers (batchnorm_fast.h) give the same
// bits: each channel's sums run in pixel order.
template <typename T>
void batchnorm_sums(double* sum, double* sumsq, const T* in, size_t P, int C) {
  for (size_t p = 0; p < P; p++)
    for (int c = 0; c < C; c++) {
      const double x = double(in[p * C + c]);
      sum[c] += x;
      sumsq[c] += x * x;
    }
}

template <typename T>
void batchnorm_forward(T* out, const T* in, const T* residual, const double* mean, const double* invstd,
                       const T* gamma, const T* beta, size_t P, int C, bool relu = false) {
  for (size_t p = 0; p < P; p++)
    for (int c = 0; c < C; c++) {
      const T xhat = T((double(in[p * C + c]) - mean[c]) * invstd[c]);
      T y = gamma[c] * xhat + beta[c];
      if (residual) y = y + residual[p * C + c];
      out[p * C + c] = !relu || y > 0 ? y : T(0);
    }
}

template <typename T>
void batchnorm_backward_sums(double* dsum, double* dxhat, const T* dout, const T* relu_out, const T* in,
                             const double* mean, const double* invstd, size_t P, int C) {
  for (size_t p = 0; p < P; p++)
    for (int c = 0; c < C; c++) {
      const size_t i = p * C + c;
      const double g = double(!relu_out || relu_out[i] > 0 ? dout[i] : T(0));
      const double xhat = (double(in[i]) - mean[c]) * invstd[c];
      dsum[c] += g;
      dxhat[c] += g * xhat;
    }
}

template <typename T>
void batchnorm_backward_input(T* din, const T* dout, const T* relu_out, const T* in, const double* mean,
                              const double* invstd, const T* gamma, const double* dsum, const double* dxhat,
                              double count, size_t P, int C) {
  for (size_t p = 0; p < P; p++)
    for (int c = 0; c < C; c++) {
      const size_t i = p * C + c;
      const double g = double(!relu_out || relu_out[i] > 0 ? dout[i] : T(0));
      const double xhat = (double(in[i]) - mean[c]) * invstd[c];
      din[i] = T(double(gamma[c]) * invstd[c] * (g - dsum[c] / count - xhat * dxhat[c] / count));
    }
}

// Softmax cross-entropy of logits [N, K] against class indices label [N] (as T), computed stably by
// log-sum-exp: loss_n = log(sum_k exp(z_k - m)) - (z_label - m), m = max_k z_k; dlogits [N, K] (may be null) =
// scale * (softmax(z) - onehot(label)). With label smoothing e, the target is (1 - e) * onehot + e / K: the loss
// is log(sum) - sum_k q_k (z_k - m) and dlogits = scale * (softmax - q). Returns the sum of losses over N.
template <typename T>
T softmax_ce(T* dlogits, const T* logits, const T* label, int N, int K, T scale, T smoothing = 0) {
  T total = 0;
  for (int n = 0; n < N; n++) {
    const T* z = logits + size_t(n) * K;
    const int y = int(label[n]);
    T m = z[0];
    for (int k = 1; k < K; k++) m = z[k] > m ? z[k] : m;
    T sum = 0;
    for (int k = 0; k < K; k++) sum += std::exp(z[k] - m);
    const T off = smoothing / T(K), on = T(1) - smoothing + off;
    if (smoothing == 0) {
      total += std::log(sum) - (z[y] - m);
    } else {
      T target = 0;
      for (int k = 0; k < K; k++) target += (k == y ? on : off) * (z[k] - m);
      total += std::log(sum) - target;
    }
    if (dlogits)
      for (int k = 0; k < K; k++)
        dlogits[size_t(n) * K + k] = scale * (std::exp(z[k] - m) / sum - (smoothing == 0 ? (k == y ? T(1) : T(0)) : (k == y ? on : off)));
  }
  return total;
}

// probabilities [K] = softmax of logits [K], as the exported Softmax computes them
template <typename T>
void softmax(T* p, const T* z, int K) {
  T m = z[0];
  for (int k = 1; k < K; k++) m = z[k] > m ? z[k] : m;
  T sum = 0;
  for (int k = 0; k < K; k++) sum += std::exp(z[k] - m);
  for (int k = 0; k < K; k++) p[k] = std::exp(z[k] - m) / sum;
}

// Keras clips probabilities to [eps, 1-eps] before the log; in logit space that is |z| <= log((1-eps)/eps).
constexpr double kProbEpsilon = 1e-7;
inline double logit_clip() { return std::log((1.0 - kProbEpsilon) / kProbEpsilon); }

// Binary cross-entropy of sigmoid(logit) against labels in {0,1}, computed stably from the logit:
// loss_i = softplus(zc) - y*zc with zc = clamp(z); dlogit_i = scale * (sigmoid(zc) - y), 0 where clipped
// (the clip has no gradient there). Returns the sum of losses over N (not scaled).
template <typename T>
T sigmoid_bce(T* dlogit, const T* logit, const T* label, int N, T scale, T smoothing = 0) {
  const T L = T(logit_clip());
  T total = 0;
  for (int n = 0; n < N; n++) {
    // label smoothing as Keras does it: y (1 - e) + e / 2 (exactly y where e is 0)
    const T z = logit[n], y = smoothing == 0 ? label[n] : label[n] * (T(1) - smoothing) + smoothing / T(2);
    const T zc = z > L ? L : (z < -L ? -L : z);
    // softplus(zc) = max(zc,0) + log1p(exp(-|zc|))
    const T softplus = (zc > 0 ? zc : T(0)) + std::log1p(std::exp(-std::fabs(zc)));
    total += softplus - y * zc;
    if (dlogit) {
      const T p = T(1) / (T(1) + std::exp(-zc));
      dlogit[n] = (z > -L && z < L) ? scale * (p - y) : T(0);
    }
  }
  return total;
}

// P(class 1) from the logit, as the exported Sigmoid computes it
template <typename T>
T sigmoid(T z) {
  return T(1) / (T(1) + std::exp(-z));
}

// Keras RMSprop: a = rho*a + (1-rho)*g^2; p -= lr*g / (sqrt(a) + eps). The hyperparameters come in as
// doubles and are rounded to T once, as Keras' float32 constants are (1-rho is formed before rounding).
template <typename T>
void rmsprop_update(T* param, T* accum, const T* grad, size_t n, double lr, double rho, double eps) {
  const T lr_t = T(lr), rho_t = T(rho), one_minus_rho = T(1.0 - rho), eps_t = T(eps);
  for (size_t i = 0; i < n; i++) {
    const T g = grad[i];
    accum[i] = rho_t * accum[i] + one_minus_rho * g * g;
    param[i] -= lr_t * g / (std::sqrt(accum[i]) + eps_t);
  }
}

// SGD with momentum (PyTorch's): g += wd * p; v = momentum * v + g; p -= lr * (nesterov ? g + momentum * v : v)
template <typename T>
void sgd_update(T* param, T* velocity, const T* grad, size_t n, double lr, double momentum, bool nesterov,
                double weight_decay) {
  const T lr_t = T(lr), mu = T(momentum), wd = T(weight_decay);
  for (size_t i = 0; i < n; i++) {
    const T g = weight_decay != 0 ? grad[i] + wd * param[i] : grad[i];
    velocity[i] = mu * velocity[i] + g;
    param[i] -= lr_t * (nesterov ? g + mu * velocity[i] : velocity[i]);
  }
}

// AdamW (PyTorch's): p *= 1 - lr * wd; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
// p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps), t the step count from 1
template <typename T>
void adamw_update(T* param, T* m, T* v, const T* grad, size_t n, double lr, double beta1, double beta2, double eps,
                  double weight_decay, uint64_t t) {
  const T b1 = T(beta1), b2 = T(beta2), one_b1 = T(1.0 - beta1), one_b2 = T(1.0 - beta2), eps_t = T(eps);
  const T c1 = T(1.0 - std::pow(beta1, double(t))), c2 = T(1.0 - std::pow(beta2, double(t)));
  const T step = T(lr), decay = T(1.0 - lr * weight_decay);
  for (size_t i = 0; i < n; i++) {
    const T g = grad[i];
    if (weight_decay != 0) param[i] *= decay;
    m[i] = b1 * m[i] + one_b1 * g;
    v[i] = b2 * v[i] + one_b2 * g * g;
    param[i] -= step * (m[i] / c1) / (std::sqrt(v[i] / c2) + eps_t);
  }
}

// The augmentation of small images (AugmentKind::Crop), for one image: out [H, W, C] = scale * the image [H, W, C]
// rotated by a[3] radians about its centre, shifted by a[0] rows and a[1] columns (the pixels it leaves behind
// are 0, as a random crop of the zero-padded image gives), mirrored left-right when a[2] != 0, bilinear where the
// rotation is not 0 (else exact); then the rectangle of a[6] rows and a[7] columns from row a[4], column a[5] is
// erased to `erased` (a[6] = 0: none).
template <typename T>
void augment_crop(T* out, const uint8_t* in, const double* a, int H, int W, int C, T scale, T erased) {
  const double dy = a[0], dx = a[1], angle = a[3];
  const bool flip = a[2] != 0;
  const double cy = (H - 1) / 2.0, cx = (W - 1) / 2.0, cs = std::cos(angle), sn = std::sin(angle);
  for (int r = 0; r < H; r++)
    for (int c = 0; c < W; c++) {
      T* o = out + (size_t(r) * W + (flip ? W - 1 - c : c)) * C;
      // the source of output (r, c): the inverse rotation of (r - dy, c - dx) about the centre
      const double y = r - dy - cy, x = c - dx - cx;
      const double sy = cs * y + sn * x + cy, sx = -sn * y + cs * x + cx;
      if (angle == 0) {
        const int iy = int(std::lround(sy)), ix = int(std::lround(sx));
        for (int ch = 0; ch < C; ch++)
          o[ch] = iy >= 0 && iy < H && ix >= 0 && ix < W ? T(in[(size_t(iy) * W + ix) * C + ch]) * scale : T(0);
        continue;
      }
      const int y0 = int(std::floor(sy)), x0 = int(std::floor(sx));
      const double fy = sy - y0, fx = sx - x0;
      for (int ch = 0; ch < C; ch++) {
        auto px = [&](int yy, int xx) { return yy >= 0 && yy < H && xx >= 0 && xx < W ? double(in[(size_t(yy) * W + xx) * C + ch]) : 0.0; };
        const double v = (1 - fy) * ((1 - fx) * px(y0, x0) + fx * px(y0, x0 + 1)) + fy * ((1 - fx) * px(y0 + 1, x0) + fx * px(y0 + 1, x0 + 1));
        o[ch] = T(v) * scale;
      }
    }
  const int ey = int(a[4]), ex = int(a[5]), eh = int(a[6]), ew = int(a[7]);
  for (int r = ey; r < ey + eh && r < H; r++)
    for (int c = ex; c < ex + ew && c < W; c++)
      for (int ch = 0; ch < C; ch++) out[(size_t(r) * W + c) * C + ch] = erased;
}

// x [P, C] = (x - mean) * inv_std per channel, in place: the input normalisation after the scaling to [0, 1]
template <typename T>
void normalize_channels(T* x, size_t P, int C, const T* mean, const T* inv_std) {
  for (size_t p = 0; p < P; p++)
    for (int c = 0; c < C; c++) x[p * C + c] = (x[p * C + c] - mean[c]) * inv_std[c];
}

// Keras' augmentation warp (SPEC §3) fused with the scaling to float, for one image.
// out [H, W, C] = scale * bilinear sample of in [H, W, C] (uint8) at T(row, col), edge-clamped, then
// mirrored left-right if flip. T = offset . Shear . Zoom . reset, centred at o = H/2 + 0.5 (Keras' own
// centre), mapping output (row, col) to input (row, col) as scipy's affine_transform does.
template <typename T>
void augment_warp(T* out, const uint8_t* in, double shear, double zx, double zy, bool flip, int H, int W, int C,
                  T scale) {
  const double orow = H / 2.0 + 0.5, ocol = W / 2.0 + 0.5;
  // Shear . Zoom = [[zx, -sin(s)*zy], [0, cos(s)*zy]]
  const double a00 = zx, a01 = -std::sin(shear) * zy, a11 = std::cos(shear) * zy;
  for (int r = 0; r < H; r++)
    for (int c = 0; c < W; c++) {
      double sr = a00 * (r - orow) + a01 * (c - ocol) + orow;
      double sc = a11 * (c - ocol) + ocol;
      // mode 'nearest': coordinates outside the image sample the edge; NaN (from Inf - Inf in an extreme zoom)
      // samples row or column 0 (`!(v >= 0)` is `v < 0` but for NaN, so -0.0 stays -0.0 as before)
      sr = !(sr >= 0) ? 0 : (sr > H - 1 ? H - 1 : sr);
      sc = !(sc >= 0) ? 0 : (sc > W - 1 ? W - 1 : sc);
      const int r0 = int(sr), c0 = int(sc);
      const int r1 = r0 + 1 < H ? r0 + 1 : r0, c1 = c0 + 1 < W ? c0 + 1 : c0;
      const double fr = sr - r0, fc = sc - c0;
      T* o = out + (size_t(r) * W + (flip ? W - 1 - c : c)) * C;
      for (int ch = 0; ch < C; ch++) {
        const double v00 = in[(size_t(r0) * W + c0) * C + ch], v01 = in[(size_t(r0) * W + c1) * C + ch];
        const double v10 = in[(size_t(r1) * W + c0) * C + ch], v11 = in[(size_t(r1) * W + c1) * C + ch];
        const double v = (1 - fr) * ((1 - fc) * v00 + fc * v01) + fr * ((1 - fc) * v10 + fc * v11);
        o[ch] = T(v) * scale;
      }
    }
}

// out [n] = scale * in [n]: the evaluation-time preprocessing (no warp)
template <typename T>
void scale_pixels(T* out, const uint8_t* in, size_t n, T scale) {
  for (size_t i = 0; i < n; i++) out[i] = T(in[i]) * scale;
}

}  // namespace engine::ref
