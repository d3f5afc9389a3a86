// The bf16 kernels' packed layout (conv_bf16.h), shared by the AVX512-BF16 and AMX kernels: plain C++ for the
// baseline ISA, run once per step, so that the AMX emulator (and its tests) never execute AVX-512 code.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "bf16_bits.h"
#include "conv_bf16.h"

namespace engine::avx512bf16 {
namespace {

void pack_kernel_impl(uint32_t* wp, const float* w, int Cin, int Cout, bool transpose_flip) {
  const int Ci = transpose_flip ? Cout : Cin, Co = transpose_flip ? Cin : Cout;
  const int Cp2 = (Ci + 1) / 2;
  auto at = [&](int ky, int kx, int ci, int co) -> float {
    if (ci >= Ci) return 0.0f;
    return transpose_flip ? w[((size_t(2 - ky) * 3 + (2 - kx)) * Cin + co) * Cout + ci]
                          : w[((size_t(ky) * 3 + kx) * Cin + ci) * Cout + co];
  };
  for (int ky = 0; ky < 3; ky++)
    for (int kx = 0; kx < 3; kx++)
      for (int c2 = 0; c2 < Cp2; c2++)
        for (int co = 0; co < Co; co++)
          wp[((size_t(ky) * 3 * Cp2) + size_t(kx) * Cp2 + c2) * Co + co] =
              uint32_t(bf16_bits(at(ky, kx, 2 * c2, co))) | (uint32_t(bf16_bits(at(ky, kx, 2 * c2 + 1, co))) << 16);
}

}  // namespace

size_t packed_kernel_size(int Cin, int Cout) { return size_t(9) * ((Cin + 1) / 2) * Cout; }

void pack_kernel(uint32_t* wp, const float* w, int Cin, int Cout) { pack_kernel_impl(wp, w, Cin, Cout, false); }

void pack_kernel_for_input_gradient(uint32_t* wp, const float* w, int Cin, int Cout) {
  pack_kernel_impl(wp, w, Cin, Cout, true);
}

}  // namespace engine::avx512bf16
