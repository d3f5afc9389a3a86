// Fast fp32 3x3 convolution kernels, one namespace per instruction set, mirroring engine::ref::conv3x3_*.
// Shapes they accept (the dispatcher in kernels.cpp falls back to the reference otherwise):
//   conv3x3_forward, conv3x3_backward_weight: Cout a multiple of kLanes
//   conv3x3_backward_input: Cin a multiple of kLanes (it runs the forward kernel with Cin and Cout swapped)
//   maxpool2x2_forward, maxpool2x2_backward, relu_maxpool2x2_backward, maxpool2x2_forward_code,
//     maxpool2x2_backward_code: C a multiple of kLanes
//   conv3x3_relu_maxpool_forward, relu_maxpool_conv3x3_backward_weight: Cout a multiple of kLanes (false when
//     their scratch cannot be allocated)
// conv3x3_backward_input returns false when its scratch memory cannot be allocated.
//   conv3x3_*_winograd: Cin and Cout multiples of kLanes (false when scratch cannot be allocated); the
//     conv3x3_same_* ones also H and W even (H x W the input's and the output's size)
//   global_avgpool_forward, global_avgpool_backward: C a multiple of kLanes
#pragma once

#include <cstddef>
#include <cstdint>

namespace engine {

// wflip [3][3][Cout][Cin] = w [2-ky][2-kx][Cin][Cout]: the kernel of the input gradient's forward pass (defined
// once, in kernels.cpp, for the baseline ISA)
void flip_kernel_for_input_gradient(float* wflip, const float* w, int Cin, int Cout);

// Pooled rows per band of the first block's weight gradient: one partial sum of dw and db per band, so the band
// fixes the rounding (relu_maxpool_conv3x3_backward_weight here and in kernels.cpp)
constexpr int kFirstBlockBand = 2;

// Winograd F(4x4, 3x3)'s G (6x3): the kernel's transform G g G^T (winograd4_kernel_transform, kernels.cpp) and the
// weight gradient's G^T s G (conv_simd.inc)
inline constexpr float kWinograd4G[6][3] = {{1.f / 4, 0, 0},           {-1.f / 6, -1.f / 6, -1.f / 6},
                                            {-1.f / 6, 1.f / 6, -1.f / 6}, {1.f / 24, 1.f / 12, 1.f / 6},
                                            {1.f / 24, -1.f / 12, 1.f / 6}, {0, 0, 1}};

#define ENGINE_DECLARE_FAST_CONV(ns, lanes)                                                                  \
  namespace ns {                                                                                             \
  constexpr int kLanes = lanes;                                                                              \
  void conv3x3_forward(float* out, const float* in, const float* w, const float* b, int N, int H, int W,     \
                       int Cin, int Cout);                                                                   \
  void conv3x3_relu_forward(float* out, const float* in, const float* w, const float* b, int N, int H, int W,\
                            int Cin, int Cout);                                                              \
  void maxpool2x2_forward(float* out, const float* in, int N, int H, int W, int C);                          \
  void relu_maxpool2x2_backward(float* din, const float* dout, const float* in, int N, int H, int W, int C); \
  void maxpool2x2_backward(float* din, const float* dout, const float* in, int N, int H, int W, int C);      \
  bool conv3x3_relu_maxpool_forward(float* out, uint8_t* code, const float* in, const float* w,              \
                                    const float* b, int N, int H, int W, int Cin, int Cout);                 \
  void maxpool2x2_forward_code(float* out, uint8_t* code, const float* in, int N, int H, int W, int C,     \
                               bool relu);                                                                   \
  void maxpool2x2_backward_code(float* din, const float* dout, const uint8_t* code, int N, int H, int W,     \
                                int C, bool relu);                                                           \
  bool relu_maxpool_conv3x3_backward_weight(float* dw, float* db, const float* dpool, const uint8_t* code,   \
                                            const float* in, int N, int H, int W, int Cin, int Cout);        \
  bool conv3x3_backward_input(float* din, const float* dout, const float* w, int N, int H, int W, int Cin,   \
                              int Cout);                                                                     \
  bool conv3x3_backward_input_flipped(float* din, const float* dout, const float* wflip, int N, int H, int W,\
                                      int Cin, int Cout);                                                    \
  void conv3x3_backward_weight(float* dw, float* db, const float* dout, const float* in, int N, int H, int W, \
                               int Cin, int Cout);                                                           \
  bool conv3x3_forward_winograd(float* out, const float* in, const float* v, const float* b, int N, int H,   \
                                int W, int Cin, int Cout, bool relu);                                        \
  bool conv3x3_backward_input_winograd(float* din, const float* dout, const float* vflip, int N, int H,      \
                                       int W, int Cin, int Cout);                                            \
  bool conv3x3_backward_weight_winograd(float* dw, float* db, const float* dout, const float* in, int N,     \
                                        int H, int W, int Cin, int Cout);                                    \
  bool conv3x3_same_forward_winograd(float* out, const float* in, const float* v, const float* b, int N,     \
                                     int H, int W, int Cin, int Cout, bool relu);                            \
  bool conv3x3_same_backward_input_winograd(float* din, const float* dout, const float* vflip, int N, int H, \
                                            int W, int Cin, int Cout);                                       \
  bool conv3x3_same_backward_weight_winograd(float* dw, float* db, const float* dout, const float* in, int N,\
                                             int H, int W, int Cin, int Cout);                               \
  bool conv3x3_same_forward_winograd4(float* out, const float* in, const float* v, const float* b, int N,    \
                                      int H, int W, int Cin, int Cout, bool relu);                           \
  bool conv3x3_same_backward_input_winograd4(float* din, const float* dout, const float* vflip, int N, int H,\
                                             int W, int Cin, int Cout, bool accumulate);                     \
  bool conv3x3_same_backward_winograd4(float* dw, float* db, float* din, const float* dout, const float* in, \
                                       const float* vflip, int N, int H, int W, int Cin, int Cout,          \
                                       bool accumulate);                                                    \
  /* the Winograd F(2x2) stages (conv_simd.inc) that the bf16-product kernels run around their products: */ \
  /* one tile row's input transform, stored rounded to bf16, and its output transform */                     \
  namespace stages {                                                                                         \
  void winograd_input_row_bf16(uint16_t* u, const float* img, int T, int y0, int x0, int H, int W, int Cin,  \
                               size_t pos);                                                                  \
  void winograd_output_row(float* out, const float* m, const float* b, int T, int Wo, int Cout, bool relu);  \
  }                                                                                                          \
  void global_avgpool_forward(float* out, const float* in, int N, int HW, int C);                           \
  void global_avgpool_backward(float* din, const float* dout, int N, int HW, int C);                        \
  }

ENGINE_DECLARE_FAST_CONV(avx512, 16)
ENGINE_DECLARE_FAST_CONV(avx2, 8)

#undef ENGINE_DECLARE_FAST_CONV

}  // namespace engine
