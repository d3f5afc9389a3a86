// What this CPU offers the kernels, read from cpuid (and, for AMX, granted by Linux) once per process. The
// environment's caps (ENGINE_ISA, ENGINE_BF16) are not read here but by the plan (model/plan.h), once per network.
#pragma once

#include <string>

namespace engine {

// The fp32 vector tiers of the direct kernels.
enum class Isa : int { Scalar = 0, Avx2 = 1, Avx512 = 2 };
const char* isa_name(Isa isa);
// "scalar" | "avx2" | "avx512"; false for anything else
bool parse_isa(const std::string& name, Isa* out);

// The best fp32 tier this CPU supports.
Isa cpu_isa();
// AVX512-BF16 with AVX512-BW and -VL: the bf16 kernels' instruction set.
bool cpu_has_bf16();
// AMX-TILE, AMX-BF16 and AVX512-BF16 in cpuid, and the tile data state granted (arch_prctl, asked once).
bool amx_usable();

}  // namespace engine
