// Kernel dispatch: picks the fast fp32 kernel (convolution, max-pool) for the CPU's instruction set, or the reference.
// Double precision always runs the reference (it exists for gradient checks).
#pragma once

#include <cstdint>
#include <new>
#include <string>

#include "kernels_ref.h"

namespace engine {

// The fast kernels return false when their scratch memory cannot be allocated; their callers pass that on as
// std::bad_alloc (which the addon reports as "out of host memory").
inline void require_scratch(bool allocated) {
  if (!allocated) throw std::bad_alloc();
}

enum class Isa : int { Scalar = 0, Avx2 = 1, Avx512 = 2 };

const char* isa_name(Isa isa);
// Parses "scalar" | "avx2" | "avx512"; false for anything else.
bool parse_isa(const std::string& name, Isa* out);
// The best instruction set this CPU supports, capped by the ENGINE_ISA environment variable when set.
Isa detect_isa();
// What the CPU itself supports, ignoring ENGINE_ISA.
Isa cpu_isa();

void conv3x3_forward(Isa isa, float* out, const float* in, const float* w, const float* b, int N, int H, int W,
                     int Cin, int Cout);
void conv3x3_backward_input(Isa isa, float* din, const float* dout, const float* w, int N, int H, int W, int Cin,
                            int Cout);
void conv3x3_backward_weight(Isa isa, float* dw, float* db, const float* dout, const float* in, int N, int H, int W,
                             int Cin, int Cout);

void conv3x3_relu_forward(Isa isa, float* out, const float* in, const float* w, const float* b, int N, int H,
                          int W, int Cin, int Cout);
void maxpool2x2_forward(Isa isa, float* out, const float* in, int N, int H, int W, int C);
void relu_maxpool2x2_backward(Isa isa, float* din, const float* dout, const float* in, int N, int H, int W, int C);

// The input gradient with the kernel already flipped and transposed (flip_kernel_for_input_gradient), so a
// network does that once per step rather than once per image; only where fast_backward_input(isa, Cin).
bool fast_backward_input(Isa isa, int Cin);
void flip_kernel_for_input_gradient(float* wflip, const float* w, int Cin, int Cout);
void conv3x3_backward_input_flipped(Isa isa, float* din, const float* dout, const float* wflip, int N, int H, int W,
                                    int Cin, int Cout);

// Winograd F(2x2, 3x3) convolutions (fp32): 16 products per 2x2 output tile and channel pair instead of 36,
// with results equal to the direct kernels' up to rounding. They take the kernel already transformed
// (winograd_kernel_transform: v [16][Cin][Cout] = G g G^T), so a network does that once per step; the input
// gradient takes the transform of the flipped kernel (flip_kernel_for_input_gradient, then the transform with
// Cin and Cout swapped). An odd output size is padded to whole tiles. Only where winograd_fits: an AVX2 or
// AVX-512 tier and channel counts that are multiples of its vector.
bool winograd_fits(Isa isa, int H, int W, int Cin, int Cout);
// How a network runs its fp32 convolutions: Winograd where winograd_fits (direct elsewhere), or direct everywhere.
enum class ConvAlgorithm : int { Direct = 0, Winograd = 1 };
const char* conv_algorithm_name(ConvAlgorithm a);
void winograd_kernel_transform(float* v, const float* w, int Cin, int Cout);
void conv3x3_forward_winograd(Isa isa, float* out, const float* in, const float* v, const float* b, int N, int H,
                              int W, int Cin, int Cout, bool relu);
void conv3x3_backward_input_winograd(Isa isa, float* din, const float* dout, const float* vflip, int N, int H, int W,
                                     int Cin, int Cout);
void conv3x3_backward_weight_winograd(Isa isa, float* dw, float* db, const float* dout, const float* in, int N, int H,
                                      int W, int Cin, int Cout);

// Precision of the convolutions' operands: fp32, or bf16 (AVX512-BF16) with fp32 sums. Everything else (ReLU,
// pooling, dense, loss, optimizer, master weights) stays fp32 either way.
enum class Precision : int { Fp32 = 0, Bf16 = 1 };
const char* precision_name(Precision p);
bool cpu_has_bf16();  // AVX512-BF16 (with AVX512-BW and -VL), the bf16 kernels' instruction set

// Which kernels run bf16 convolutions: AMX tiles (conv_amx.h) where the CPU has AMX and Linux grants the tile
// state, else AVX512-BF16 (conv_bf16.h); AmxEmulated runs the AMX code on a C++ model of the tiles (tests).
// Chosen by detect_bf16_kernels: ENGINE_BF16=avx512-bf16|amx|amx-emulated, else the best the CPU allows.
enum class Bf16Kernels : int { Avx512Bf16 = 0, Amx = 1, AmxEmulated = 2 };
const char* bf16_kernels_name(Bf16Kernels k);
// AMX-TILE, AMX-BF16 and AVX512-BF16 in cpuid, and the tile data state granted (arch_prctl ARCH_REQ_XCOMP_PERM,
// asked once).
bool amx_usable();
// The ENGINE_BF16 choice (refused, with the reason, when it names AMX on a CPU without it or an unknown value),
// or AMX where usable, else AVX512-BF16. Throws std::invalid_argument.
Bf16Kernels detect_bf16_kernels();

// bf16 convolutions with kernels packed once per step (avx512bf16::pack_kernel*); AMX where k says so and the
// shape fits (conv_amx.h), else AVX512-BF16
void conv3x3_forward_bf16_packed(Bf16Kernels k, float* out, const float* in, const uint32_t* wp, const float* b,
                                 int H, int W, int Cin, int Cout, bool relu);
void conv3x3_backward_input_bf16_packed(Bf16Kernels k, float* din, const float* dout, const uint32_t* wp, int H,
                                        int W, int Cin, int Cout);
void conv3x3_backward_weight_bf16(Bf16Kernels k, float* dw, float* db, const float* dout, const float* in, int H,
                                  int W, int Cin, int Cout);
// A conv -> ReLU -> max-pool block's forward (conv3x3_relu_maxpool_forward below) on AMX tiles (k Amx or
// AmxEmulated), each block of tile outputs pooled as it is made: the first block (amx_fits_narrow; wp packed by
// amx_pack_kernel_narrow) or a later one (amx_fits; wp packed by avx512bf16::pack_kernel)
// out16 and in16 (null: none): the bf16 output and input of conv_amx.h (a later block only takes in16)
void conv3x3_relu_maxpool_forward_amx(Bf16Kernels k, float* out, uint16_t* out16, uint8_t* code, const float* in,
                                      const uint16_t* in16, const uint32_t* wp, const float* b, int H, int W, int Cin,
                                      int Cout);
// The backward of a conv -> ReLU -> max-pool block on AMX tiles (k Amx or AmxEmulated, amx_fits) from the pool's
// gradient and its code (maxpool2x2_forward_code): din (null: not wanted) with the input-gradient kernel packed by
// avx512bf16::pack_kernel_for_input_gradient, dw and db (+=); the conv's full-resolution gradient is never stored;
// in16 (null: none) is the forward's bf16 input
void relu_maxpool_conv3x3_backward_amx(Bf16Kernels k, float* din, float* dw, float* db, const float* dpool,
                                       const uint8_t* code, const float* in, const uint16_t* in16, const uint32_t* wp,
                                       int H, int W, int Cin, int Cout);

// bf16 convolutions; shapes the bf16 kernels do not take (conv_bf16.h) run the fp32 kernel of `isa`
void conv3x3_forward_bf16(Isa isa, float* out, const float* in, const float* w, const float* b, int N, int H, int W,
                          int Cin, int Cout, bool relu);
void conv3x3_backward_input_bf16(Isa isa, float* din, const float* dout, const float* w, int N, int H, int W, int Cin,
                                 int Cout);
void conv3x3_backward_weight_bf16(Isa isa, float* dw, float* db, const float* dout, const float* in, int N, int H,
                                  int W, int Cin, int Cout);

// The first conv block (conv -> ReLU -> max-pool, no input gradient needed) without its full-resolution
// activation: the forward computes two conv rows at a time into a buffer that stays in cache and pools them,
// keeping a 1-byte code per pooled value (ref::maxpool2x2_forward_code); the backward routes the pool's
// gradient a band of rows at a time by that code into a buffer the weight gradient consumes while in cache.
void conv3x3_relu_maxpool_forward(Isa isa, float* out, uint8_t* code, const float* in, const float* w, const float* b,
                                  int N, int H, int W, int Cin, int Cout);
void maxpool2x2_forward_code(Isa isa, float* out, uint8_t* code, const float* in, int N, int H, int W, int C);
void maxpool2x2_backward_code(Isa isa, float* din, const float* dout, const uint8_t* code, int N, int H, int W, int C);
// (in bf16, k's kernels: AMX tiles where they fit)
void relu_maxpool_conv3x3_backward_weight(Isa isa, Precision prec, Bf16Kernels k, float* dw, float* db,
                                          const float* dpool, const uint8_t* code, const float* in, int N, int H,
                                          int W, int Cin, int Cout);
inline void conv3x3_relu_maxpool_forward(Isa, double* out, uint8_t* code, const double* in, const double* w,
                                         const double* b, int N, int H, int W, int Cin, int Cout) {
  ref::conv3x3_relu_maxpool_forward(out, code, in, w, b, N, H, W, Cin, Cout);
}
inline void maxpool2x2_backward_code(Isa, double* din, const double* dout, const uint8_t* code, int N, int H, int W,
                                     int C) {
  ref::maxpool2x2_backward_code(din, dout, code, N, H, W, C);
}
inline void relu_maxpool_conv3x3_backward_weight(Isa, Precision, Bf16Kernels, double* dw, double* db,
                                                 const double* dpool, const uint8_t* code, const double* in, int N,
                                                 int H, int W, int Cin, int Cout) {
  ref::relu_maxpool_conv3x3_backward_weight(dw, db, dpool, code, in, N, H, W, Cin, Cout);
}

inline void conv3x3_relu_forward(Isa, double* out, const double* in, const double* w, const double* b, int N, int H,
                                 int W, int Cin, int Cout) {
  ref::conv3x3_relu_forward(out, in, w, b, N, H, W, Cin, Cout);
}
inline void maxpool2x2_forward(Isa, double* out, const double* in, int N, int H, int W, int C) {
  ref::maxpool2x2_forward(out, in, N, H, W, C);
}
inline void relu_maxpool2x2_backward(Isa, double* din, const double* dout, const double* in, int N, int H, int W,
                                     int C) {
  ref::relu_maxpool2x2_backward(din, dout, in, N, H, W, C);
}
inline void conv3x3_forward(Isa, double* out, const double* in, const double* w, const double* b, int N, int H,
                            int W, int Cin, int Cout) {
  ref::conv3x3_forward(out, in, w, b, N, H, W, Cin, Cout);
}
inline void conv3x3_backward_input(Isa, double* din, const double* dout, const double* w, int N, int H, int W,
                                   int Cin, int Cout) {
  ref::conv3x3_backward_input(din, dout, w, N, H, W, Cin, Cout);
}
inline void conv3x3_backward_weight(Isa, double* dw, double* db, const double* dout, const double* in, int N, int H,
                                    int W, int Cin, int Cout) {
  ref::conv3x3_backward_weight(dw, db, dout, in, N, H, W, Cin, Cout);
}

}  // namespace engine
