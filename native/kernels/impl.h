// The kernel families, as the plan names them (model/plan.h) and the dispatchers below it take them. The fp32
// direct tiers run Cout (forward, weight gradient) or Cin (input gradient) in vectors of 16 (AVX-512) or 8 (AVX2);
// Winograd F(2x2, 3x3) needs both multiples of the vector; AVX512-BF16 and AMX take bf16 operands with fp32 sums.
#pragma once

#include <cstdint>

#include "cpu/features.h"

namespace engine {

enum class Impl : uint8_t {
  None,
  Reference,
  Avx2,
  Avx512,
  WinogradAvx2,
  WinogradAvx512,
  Winograd4Avx2,  // Winograd F(4x4, 3x3) on small 'same' maps
  Winograd4Avx512,
  WinogradBf16,  // F(2x2) 'same', bf16 products (AVX512-BF16; winograd_bf16.h)
  GemmAvx2,     // convolutions as matrix products (gemm_fast.h)
  GemmAvx512,
  Avx512Bf16,
  Amx,
  AmxEmulated,
  Cuda,
};
const char* impl_name(Impl k);
inline bool is_winograd4(Impl k) { return k == Impl::Winograd4Avx2 || k == Impl::Winograd4Avx512; }

// Which kernels run a network's bf16 convolutions (the plan's choice, from ENGINE_BF16 or the CPU): AVX512-BF16,
// AMX tiles, or the AMX code on a C++ model of the tiles (tests).
enum class Bf16Kernels : int { Avx512Bf16 = 0, Amx = 1, AmxEmulated = 2 };
const char* bf16_kernels_name(Bf16Kernels k);
// the family that runs a step in bf16 with these kernels
inline Impl bf16_impl(Bf16Kernels k) {
  return k == Bf16Kernels::Amx ? Impl::Amx : k == Bf16Kernels::AmxEmulated ? Impl::AmxEmulated : Impl::Avx512Bf16;
}
// ... and back: the bf16 kernels of a bf16 family
inline Bf16Kernels bf16_kernels_of(Impl k) {
  return k == Impl::Amx ? Bf16Kernels::Amx : k == Impl::AmxEmulated ? Bf16Kernels::AmxEmulated : Bf16Kernels::Avx512Bf16;
}

// The fp32 direct tier for a vector dimension of `channels` under an ISA cap: AVX-512 for multiples of 16, AVX2 for
// multiples of 8, else the reference. The plan picks tiers with it; the raw-kernel test bindings too.
inline Impl fp32_impl(Isa isa, int channels) {
  if (isa == Isa::Avx512 && channels % 16 == 0) return Impl::Avx512;
  if (isa >= Isa::Avx2 && channels % 8 == 0) return Impl::Avx2;
  return Impl::Reference;
}

}  // namespace engine
