// Winograd F(2x2, 3x3) 'same' convolutions with bf16 products (AVX512-BF16; winograd_bf16_avx512.cpp): the input
// and output transforms are the fp32 kernels' (conv_simd.inc), in fp32; the transformed input and kernel are
// rounded to bf16 (nearest even) and each position's channel sums run on vdpbf16ps with fp32 sums. A bf16
// network's forward and input gradient of its 'same' convolutions. Shapes they take: Cin and Cout multiples of 16,
// H and W even (H x W the input's and the output's size). False when scratch memory cannot be allocated.
#pragma once

#include <cstddef>
#include <cstdint>

namespace engine::avx512bf16 {

// The products' kernel, bf16 pairs of input channels [16][Cin/2][Cout], from v [16][Cin][Cout] =
// winograd_kernel_transform's (the input gradient's: the transform of the flipped kernel, Cin and Cout swapped)
size_t winograd_packed_size(int Cin, int Cout);
void pack_winograd_kernel(uint32_t* vp, const float* v, int Cin, int Cout);
bool conv3x3_same_forward_winograd(float* out, const float* in, const uint32_t* vp, const float* b, int N, int H, int W,
                                   int Cin, int Cout, bool relu);

}  // namespace engine::avx512bf16
