// bf16-operand 3x3 convolutions (AVX512-BF16), fp32 in and out; see conv_bf16_avx512.cpp. They mirror the fp32
// kernels of conv_fast.h. Shapes they accept (kernels.cpp falls back to fp32 otherwise): Cout a multiple of 16
// (forward, weight gradient), Cin a multiple of 16 (input gradient). Any Cin for the forward (an odd one is
// padded with a zero channel). The convolutions return false when their scratch memory cannot be allocated.
#pragma once

#include <cstddef>
#include <cstdint>

namespace engine::avx512bf16 {

constexpr int kLanes = 16;

// The kernel in the layout of the forward (and input-gradient) loops, bf16 pairs [3][3*ceil(Cin/2)][Cout]; a
// network packs each kernel once per step and shares it between its threads and images.
size_t packed_kernel_size(int Cin, int Cout);
void pack_kernel(uint32_t* wp, const float* w, int Cin, int Cout);
// ... of the input gradient's forward pass: the kernel flipped and transposed, [3][3*ceil(Cout/2)][Cin]
// (size packed_kernel_size(Cout, Cin))
void pack_kernel_for_input_gradient(uint32_t* wp, const float* w, int Cin, int Cout);
bool conv3x3_forward_packed(float* out, const float* in, const uint32_t* wp, const float* b, int N, int H, int W,
                            int Cin, int Cout, bool relu);
bool conv3x3_backward_input_packed(float* din, const float* dout, const uint32_t* wp, int N, int H, int W, int Cin,
                                   int Cout);

bool conv3x3_forward(float* out, const float* in, const float* w, const float* b, int N, int H, int W, int Cin,
                     int Cout, bool relu);
bool conv3x3_backward_input(float* din, const float* dout, const float* w, int N, int H, int W, int Cin, int Cout);
bool conv3x3_backward_weight(float* dw, float* db, const float* dout, const float* in, int N, int H, int W, int Cin,
                             int Cout);

}  // namespace engine::avx512bf16
