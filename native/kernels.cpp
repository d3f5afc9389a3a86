#include "kernels.h"

#include <cstdlib>
#include <cstring>
#if defined(__x86_64__) && defined(__linux__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif
#include <new>
#include <stdexcept>
#include <string>

#include <vector>

#include "conv_amx.h"
#include "conv_bf16.h"
#include "conv_fast.h"

namespace engine {

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return "avx512";
    case Isa::Avx2: return "avx2";
    default: return "scalar";
  }
}

bool parse_isa(const std::string& name, Isa* out) {
  if (name == "scalar") *out = Isa::Scalar;
  else if (name == "avx2") *out = Isa::Avx2;
  else if (name == "avx512") *out = Isa::Avx512;
  else return false;
  return true;
}

Isa cpu_isa() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return Isa::Avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::Avx2;
#endif
  return Isa::Scalar;
}

Isa detect_isa() {
  Isa best = cpu_isa(), cap;
  const char* env = std::getenv("ENGINE_ISA");
  if (env && parse_isa(env, &cap) && cap < best) return cap;
  return best;
}

void conv3x3_forward(Isa isa, float* out, const float* in, const float* w, const float* b, int N, int H, int W,
                     int Cin, int Cout) {
  if (isa == Isa::Avx512 && Cout % avx512::kLanes == 0) return avx512::conv3x3_forward(out, in, w, b, N, H, W, Cin, Cout);
  if (isa >= Isa::Avx2 && Cout % avx2::kLanes == 0) return avx2::conv3x3_forward(out, in, w, b, N, H, W, Cin, Cout);
  ref::conv3x3_forward(out, in, w, b, N, H, W, Cin, Cout);
}

void conv3x3_relu_forward(Isa isa, float* out, const float* in, const float* w, const float* b, int N, int H,
                          int W, int Cin, int Cout) {
  if (isa == Isa::Avx512 && Cout % avx512::kLanes == 0)
    return avx512::conv3x3_relu_forward(out, in, w, b, N, H, W, Cin, Cout);
  if (isa >= Isa::Avx2 && Cout % avx2::kLanes == 0) return avx2::conv3x3_relu_forward(out, in, w, b, N, H, W, Cin, Cout);
  ref::conv3x3_relu_forward(out, in, w, b, N, H, W, Cin, Cout);
}

void maxpool2x2_forward(Isa isa, float* out, const float* in, int N, int H, int W, int C) {
  if (isa == Isa::Avx512 && C % avx512::kLanes == 0) return avx512::maxpool2x2_forward(out, in, N, H, W, C);
  if (isa >= Isa::Avx2 && C % avx2::kLanes == 0) return avx2::maxpool2x2_forward(out, in, N, H, W, C);
  ref::maxpool2x2_forward(out, in, N, H, W, C);
}

void relu_maxpool2x2_backward(Isa isa, float* din, const float* dout, const float* in, int N, int H, int W, int C) {
  if (isa == Isa::Avx512 && C % avx512::kLanes == 0) return avx512::relu_maxpool2x2_backward(din, dout, in, N, H, W, C);
  if (isa >= Isa::Avx2 && C % avx2::kLanes == 0) return avx2::relu_maxpool2x2_backward(din, dout, in, N, H, W, C);
  ref::relu_maxpool2x2_backward(din, dout, in, N, H, W, C);
}

void flip_kernel_for_input_gradient(float* wflip, const float* w, int Cin, int Cout) {
  for (int ky = 0; ky < 3; ky++)
    for (int kx = 0; kx < 3; kx++)
      for (int ci = 0; ci < Cin; ci++)
        for (int co = 0; co < Cout; co++)
          wflip[((size_t(ky) * 3 + kx) * Cout + co) * Cin + ci] = w[((size_t(2 - ky) * 3 + (2 - kx)) * Cin + ci) * Cout + co];
}

bool fast_backward_input(Isa isa, int Cin) {
  return (isa == Isa::Avx512 && Cin % avx512::kLanes == 0) || (isa >= Isa::Avx2 && Cin % avx2::kLanes == 0);
}

void conv3x3_backward_input_flipped(Isa isa, float* din, const float* dout, const float* wflip, int N, int H, int W,
                                    int Cin, int Cout) {
  if (isa == Isa::Avx512 && Cin % avx512::kLanes == 0)
    return require_scratch(avx512::conv3x3_backward_input_flipped(din, dout, wflip, N, H, W, Cin, Cout));
  if (isa >= Isa::Avx2 && Cin % avx2::kLanes == 0)
    return require_scratch(avx2::conv3x3_backward_input_flipped(din, dout, wflip, N, H, W, Cin, Cout));
  throw std::logic_error("conv3x3_backward_input_flipped: no fast kernel for this ISA and Cin (check fast_backward_input)");
}

bool winograd_fits(Isa isa, int H, int W, int Cin, int Cout) {
  const int lanes = isa == Isa::Avx512 ? avx512::kLanes : avx2::kLanes;
  return isa >= Isa::Avx2 && Cin % lanes == 0 && Cout % lanes == 0 && H > 2 && W > 2;
}

const char* conv_algorithm_name(ConvAlgorithm a) { return a == ConvAlgorithm::Winograd ? "winograd" : "direct"; }

void winograd_kernel_transform(float* v, const float* w, int Cin, int Cout) {
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

static void require_winograd(Isa isa, int H, int W, int Cin, int Cout, const char* fn) {
  if (!winograd_fits(isa, H, W, Cin, Cout))
    throw std::logic_error(std::string(fn) + ": no Winograd kernel for this ISA and shape (check winograd_fits)");
}

void conv3x3_forward_winograd(Isa isa, float* out, const float* in, const float* v, const float* b, int N, int H,
                              int W, int Cin, int Cout, bool relu) {
  require_winograd(isa, H, W, Cin, Cout, "conv3x3_forward_winograd");
  require_scratch(isa == Isa::Avx512 ? avx512::conv3x3_forward_winograd(out, in, v, b, N, H, W, Cin, Cout, relu)
                                     : avx2::conv3x3_forward_winograd(out, in, v, b, N, H, W, Cin, Cout, relu));
}

void conv3x3_backward_input_winograd(Isa isa, float* din, const float* dout, const float* vflip, int N, int H, int W,
                                     int Cin, int Cout) {
  require_winograd(isa, H, W, Cin, Cout, "conv3x3_backward_input_winograd");
  require_scratch(isa == Isa::Avx512 ? avx512::conv3x3_backward_input_winograd(din, dout, vflip, N, H, W, Cin, Cout)
                                     : avx2::conv3x3_backward_input_winograd(din, dout, vflip, N, H, W, Cin, Cout));
}

void conv3x3_backward_weight_winograd(Isa isa, float* dw, float* db, const float* dout, const float* in, int N, int H,
                                      int W, int Cin, int Cout) {
  require_winograd(isa, H, W, Cin, Cout, "conv3x3_backward_weight_winograd");
  require_scratch(isa == Isa::Avx512 ? avx512::conv3x3_backward_weight_winograd(dw, db, dout, in, N, H, W, Cin, Cout)
                                     : avx2::conv3x3_backward_weight_winograd(dw, db, dout, in, N, H, W, Cin, Cout));
}

const char* precision_name(Precision p) { return p == Precision::Bf16 ? "bf16" : "fp32"; }

bool cpu_has_bf16() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bf16");
#else
  return false;
#endif
}

const char* bf16_kernels_name(Bf16Kernels k) {
  switch (k) {
    case Bf16Kernels::Amx: return "amx";
    case Bf16Kernels::AmxEmulated: return "amx-emulated";
    default: return "avx512-bf16";
  }
}

bool amx_usable() {
  static const bool usable = [] {
#if defined(__x86_64__) && defined(__linux__)
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    if (!((d >> 22) & 1u) || !((d >> 24) & 1u)) return false;  // AMX-BF16, AMX-TILE
    if (!cpu_has_bf16()) return false;  // the AMX kernels convert their operands with AVX512-BF16
    constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
    return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
    return false;
#endif
  }();
  return usable;
}

Bf16Kernels detect_bf16_kernels() {
  const char* env = std::getenv("ENGINE_BF16");
  if (!env || !*env) return amx_usable() ? Bf16Kernels::Amx : Bf16Kernels::Avx512Bf16;
  if (!std::strcmp(env, "avx512-bf16")) return Bf16Kernels::Avx512Bf16;
  if (!std::strcmp(env, "amx-emulated")) return Bf16Kernels::AmxEmulated;
  if (!std::strcmp(env, "amx")) {
    if (!amx_usable())
      throw std::invalid_argument("ENGINE_BF16=amx, but this CPU has no AMX-BF16 or the kernel refused the tile state");
    return Bf16Kernels::Amx;
  }
  throw std::invalid_argument(std::string("ENGINE_BF16 must be avx512-bf16, amx or amx-emulated, got '") + env + "'");
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
  conv3x3_backward_weight_bf16(Isa::Avx512, dw, db, dout, in, 1, H, W, Cin, Cout);
}

void conv3x3_forward_bf16(Isa isa, float* out, const float* in, const float* w, const float* b, int N, int H, int W,
                          int Cin, int Cout, bool relu) {
  if (Cout % avx512bf16::kLanes == 0)
    return require_scratch(avx512bf16::conv3x3_forward(out, in, w, b, N, H, W, Cin, Cout, relu));
  if (relu) conv3x3_relu_forward(isa, out, in, w, b, N, H, W, Cin, Cout);
  else conv3x3_forward(isa, out, in, w, b, N, H, W, Cin, Cout);
}

void conv3x3_backward_input_bf16(Isa isa, float* din, const float* dout, const float* w, int N, int H, int W, int Cin,
                                 int Cout) {
  if (Cin % avx512bf16::kLanes == 0)
    return require_scratch(avx512bf16::conv3x3_backward_input(din, dout, w, N, H, W, Cin, Cout));
  conv3x3_backward_input(isa, din, dout, w, N, H, W, Cin, Cout);
}

void conv3x3_backward_weight_bf16(Isa isa, float* dw, float* db, const float* dout, const float* in, int N, int H,
                                  int W, int Cin, int Cout) {
  if (Cout % avx512bf16::kLanes == 0)
    return require_scratch(avx512bf16::conv3x3_backward_weight(dw, db, dout, in, N, H, W, Cin, Cout));
  conv3x3_backward_weight(isa, dw, db, dout, in, N, H, W, Cin, Cout);
}

void conv3x3_relu_maxpool_forward(Isa isa, float* out, uint8_t* code, const float* in, const float* w, const float* b,
                                  int N, int H, int W, int Cin, int Cout) {
  if (isa == Isa::Avx512 && Cout % avx512::kLanes == 0)
    return require_scratch(avx512::conv3x3_relu_maxpool_forward(out, code, in, w, b, N, H, W, Cin, Cout));
  if (isa >= Isa::Avx2 && Cout % avx2::kLanes == 0)
    return require_scratch(avx2::conv3x3_relu_maxpool_forward(out, code, in, w, b, N, H, W, Cin, Cout));
  ref::conv3x3_relu_maxpool_forward(out, code, in, w, b, N, H, W, Cin, Cout);
}

void maxpool2x2_forward_code(Isa isa, float* out, uint8_t* code, const float* in, int N, int H, int W, int C) {
  if (isa == Isa::Avx512 && C % avx512::kLanes == 0) return avx512::maxpool2x2_forward_code(out, code, in, N, H, W, C);
  if (isa >= Isa::Avx2 && C % avx2::kLanes == 0) return avx2::maxpool2x2_forward_code(out, code, in, N, H, W, C);
  ref::maxpool2x2_forward_code(out, code, in, N, H, W, C);
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

void maxpool2x2_backward_code(Isa isa, float* din, const float* dout, const uint8_t* code, int N, int H, int W, int C) {
  if (isa == Isa::Avx512 && C % avx512::kLanes == 0) return avx512::maxpool2x2_backward_code(din, dout, code, N, H, W, C);
  if (isa >= Isa::Avx2 && C % avx2::kLanes == 0) return avx2::maxpool2x2_backward_code(din, dout, code, N, H, W, C);
  ref::maxpool2x2_backward_code(din, dout, code, N, H, W, C);
}

void relu_maxpool_conv3x3_backward_weight(Isa isa, Precision prec, Bf16Kernels k, float* dw, float* db,
                                          const float* dpool, const uint8_t* code, const float* in, int N, int H,
                                          int W, int Cin, int Cout) {
  // The fast fp32 kernels run these bands themselves, with the same sums.
  const bool fp32 = prec == Precision::Fp32;
  if (fp32 && isa == Isa::Avx512 && Cout % avx512::kLanes == 0)
    return require_scratch(avx512::relu_maxpool_conv3x3_backward_weight(dw, db, dpool, code, in, N, H, W, Cin, Cout));
  if (fp32 && isa >= Isa::Avx2 && Cout % avx2::kLanes == 0)
    return require_scratch(avx2::relu_maxpool_conv3x3_backward_weight(dw, db, dpool, code, in, N, H, W, Cin, Cout));
  if (prec == Precision::Bf16 && k != Bf16Kernels::Avx512Bf16 && amx_fits_narrow(Cin, Cout))
    return require_scratch((k == Bf16Kernels::Amx ? amx::relu_maxpool_conv3x3_backward_weight_narrow
                                                  : amx_emulated::relu_maxpool_conv3x3_backward_weight_narrow)(
        dw, db, dpool, code, in, N, H, W, Cin, Cout));
  const int Ho = H - 2, Wo = W - 2, Hq = Ho / 2, Wq = Wo / 2;
  thread_local std::vector<float> band;  // [2*kFirstBlockBand, Wo, Cout] gradient of the conv output
  band.resize(size_t(2 * kFirstBlockBand) * Wo * Cout);
  for (int n = 0; n < N; n++)
    for (int qy = 0; qy < Hq; qy += kFirstBlockBand) {
      const int rows = 2 * (Hq - qy < kFirstBlockBand ? Hq - qy : kFirstBlockBand);  // conv output rows in this band
      const size_t q = (size_t(n) * Hq + qy) * Wq * Cout;
      maxpool2x2_backward_code(isa, band.data(), dpool + q, code + q, 1, rows, Wo, Cout);
      const float* x = in + (size_t(n) * H + 2 * qy) * W * Cin;
      if (prec == Precision::Bf16) conv3x3_backward_weight_bf16(k, dw, db, band.data(), x, rows + 2, W, Cin, Cout);
      else conv3x3_backward_weight(isa, dw, db, band.data(), x, 1, rows + 2, W, Cin, Cout);
    }
}

void conv3x3_backward_input(Isa isa, float* din, const float* dout, const float* w, int N, int H, int W, int Cin,
                            int Cout) {
  if (isa == Isa::Avx512 && Cin % avx512::kLanes == 0)
    return require_scratch(avx512::conv3x3_backward_input(din, dout, w, N, H, W, Cin, Cout));
  if (isa >= Isa::Avx2 && Cin % avx2::kLanes == 0)
    return require_scratch(avx2::conv3x3_backward_input(din, dout, w, N, H, W, Cin, Cout));
  ref::conv3x3_backward_input(din, dout, w, N, H, W, Cin, Cout);
}

void conv3x3_backward_weight(Isa isa, float* dw, float* db, const float* dout, const float* in, int N, int H, int W,
                             int Cin, int Cout) {
  if (isa == Isa::Avx512 && Cout % avx512::kLanes == 0)
    return avx512::conv3x3_backward_weight(dw, db, dout, in, N, H, W, Cin, Cout);
  if (isa >= Isa::Avx2 && Cout % avx2::kLanes == 0)
    return avx2::conv3x3_backward_weight(dw, db, dout, in, N, H, W, Cin, Cout);
  ref::conv3x3_backward_weight(dw, db, dout, in, N, H, W, Cin, Cout);
}

}  // namespace engine
