// The raw kernels, for tests: each CPU kernel on typed arrays (fast tiers against the reference, finite
// differences in double). Each takes typed arrays of one element type (Float32Array or Float64Array) and checks
// every length; an `isa` argument caps the fp32 tier (default: the CPU's best), which fp32_impl then picks by the
// channels, as the plan does. Arguments: the buffers (outputs, then inputs), then the sizes as one shape object
// ({N, H, W, Cin, Cout}, {N, H, W, C}, {N, I, O}, ...: conv_shape and the others in args.h), then the options.
#include <napi.h>

#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "binding/args.h"
#include "binding/bindings.h"
#include "kernels/amx/conv_amx.h"
#include "kernels/augment/augment.h"
#include "kernels/bf16/bf16_convert.h"
#include "kernels/bf16/conv_bf16.h"
#include "kernels/bf16/winograd_bf16.h"
#include "kernels/fp32/kernels.h"
#include "model/recipe.h"
#include "model/rng.h"

namespace engine {

namespace {

// the isa argument: undefined or null is the CPU's best
Isa isa_or_best(const Napi::Value& v) { return v.IsUndefined() || v.IsNull() ? cpu_isa() : isa_arg(v); }


template <typename T>
using Arr = Napi::TypedArrayOf<T>;

bool is_f64(const Napi::Value& v) {
  return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_float64_array;
}

template <typename T>
T* opt_data(const Napi::Value& v, const char* name, size_t need) {
  if (v.IsNull() || v.IsUndefined()) return nullptr;
  return typed<T>(v, name, need).Data();
}

template <typename T>
void conv_forward_k(const Napi::CallbackInfo& a) {
  const auto [N, H, W, Ci, Co] = conv_shape(a[4]);
  const size_t no = size_t(N) * (H - 2) * (W - 2) * Co, ni = size_t(N) * H * W * Ci;
  conv3x3_forward(fp32_impl(isa_or_best(a[5]), Co), typed<T>(a[0], "out", no).Data(), typed<T>(a[1], "in", ni).Data(),
                  typed<T>(a[2], "w", size_t(9) * Ci * Co).Data(), typed<T>(a[3], "b", Co).Data(), N, H, W, Ci, Co);
}

template <typename T>
void conv_backward_input_k(const Napi::CallbackInfo& a) {
  const auto [N, H, W, Ci, Co] = conv_shape(a[3]);
  conv3x3_backward_input(fp32_impl(isa_or_best(a[4]), Ci), typed<T>(a[0], "din", size_t(N) * H * W * Ci).Data(),
                         typed<T>(a[1], "dout", size_t(N) * (H - 2) * (W - 2) * Co).Data(),
                         typed<T>(a[2], "w", size_t(9) * Ci * Co).Data(), N, H, W, Ci, Co);
}

template <typename T>
void conv_backward_weight_k(const Napi::CallbackInfo& a) {
  const auto [N, H, W, Ci, Co] = conv_shape(a[4]);
  conv3x3_backward_weight(fp32_impl(isa_or_best(a[5]), Co), typed<T>(a[0], "dw", size_t(9) * Ci * Co).Data(), typed<T>(a[1], "db", Co).Data(),
                          typed<T>(a[2], "dout", size_t(N) * (H - 2) * (W - 2) * Co).Data(),
                          typed<T>(a[3], "in", size_t(N) * H * W * Ci).Data(), N, H, W, Ci, Co);
}

template <typename T>
void maxpool_forward_k(const Napi::CallbackInfo& a) {
  const auto [N, H, W, C] = pool_shape(a[2]);
  maxpool2x2_forward(fp32_impl(isa_or_best(a[3]), C), typed<T>(a[0], "out", size_t(N) * (H / 2) * (W / 2) * C).Data(),
                     typed<T>(a[1], "in", size_t(N) * H * W * C).Data(), N, H, W, C);
}

template <typename T>
void conv_relu_forward_k(const Napi::CallbackInfo& a) {
  const auto [N, H, W, Ci, Co] = conv_shape(a[4]);
  const size_t no = size_t(N) * (H - 2) * (W - 2) * Co, ni = size_t(N) * H * W * Ci;
  conv3x3_relu_forward(fp32_impl(isa_or_best(a[5]), Co), typed<T>(a[0], "out", no).Data(), typed<T>(a[1], "in", ni).Data(),
                       typed<T>(a[2], "w", size_t(9) * Ci * Co).Data(), typed<T>(a[3], "b", Co).Data(), N, H, W, Ci, Co);
}

template <typename T>
void relu_maxpool_backward_k(const Napi::CallbackInfo& a) {
  const auto [N, H, W, C] = pool_shape(a[3]);
  const size_t ni = size_t(N) * H * W * C;
  relu_maxpool2x2_backward(fp32_impl(isa_or_best(a[4]), C), typed<T>(a[0], "din", ni).Data(),
                           typed<T>(a[1], "dout", size_t(N) * (H / 2) * (W / 2) * C).Data(),
                           typed<T>(a[2], "in", ni).Data(), N, H, W, C);
}

// bf16 convolutions (AVX512-BF16; a RangeError on CPUs without it): the fp32 kernels' arguments, float32 only
void require_bf16(Napi::Env env) {
  if (!cpu_has_bf16()) throw_range(env, "the bf16 kernels need a CPU with AVX512-BF16");
}

void conv_forward_bf16_k(const Napi::CallbackInfo& a) {
  require_bf16(a.Env());
  const auto [N, H, W, Ci, Co] = conv_shape(a[4]);
  conv3x3_forward_bf16(typed<float>(a[0], "out", size_t(N) * (H - 2) * (W - 2) * Co).Data(),
                       typed<float>(a[1], "in", size_t(N) * H * W * Ci).Data(),
                       typed<float>(a[2], "w", size_t(9) * Ci * Co).Data(), typed<float>(a[3], "b", Co).Data(), N, H,
                       W, Ci, Co, a[5].ToBoolean().Value());
}

void conv_backward_input_bf16_k(const Napi::CallbackInfo& a) {
  require_bf16(a.Env());
  const auto [N, H, W, Ci, Co] = conv_shape(a[3]);
  conv3x3_backward_input_bf16(typed<float>(a[0], "din", size_t(N) * H * W * Ci).Data(),
                              typed<float>(a[1], "dout", size_t(N) * (H - 2) * (W - 2) * Co).Data(),
                              typed<float>(a[2], "w", size_t(9) * Ci * Co).Data(), N, H, W, Ci, Co);
}

void conv_backward_weight_bf16_k(const Napi::CallbackInfo& a) {
  require_bf16(a.Env());
  const auto [N, H, W, Ci, Co] = conv_shape(a[4]);
  conv3x3_backward_weight_bf16(typed<float>(a[0], "dw", size_t(9) * Ci * Co).Data(),
                               typed<float>(a[1], "db", Co).Data(),
                               typed<float>(a[2], "dout", size_t(N) * (H - 2) * (W - 2) * Co).Data(),
                               typed<float>(a[3], "in", size_t(N) * H * W * Ci).Data(), N, H, W, Ci, Co);
}

// The bf16 operand conversions (bf16_convert.h), impl 'avx512-bf16' (a RangeError on CPUs without it) or
// 'portable', so that tests hold both to one rounding
template <typename Fn>
Fn* bf16_convert_impl(const Napi::Value& v, Fn* avx512, Fn* portable) {
  const std::string k = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
  if (k == "portable") return portable;
  if (k != "avx512-bf16") throw_range(v.Env(), "impl must be 'avx512-bf16' or 'portable', got '" + k + "'");
  require_bf16(v.Env());
  return avx512;
}

// toBf16(dst: Uint16Array [n], src: Float32Array [n], impl)
void to_bf16_k(const Napi::CallbackInfo& a) {
  auto src = typed<float>(a[1], "src");
  bf16_convert_impl(a[2], avx512bf16::to_bf16, portable::to_bf16)(
      typed<uint16_t>(a[0], "dst", src.ElementLength()).Data(), src.Data(), src.ElementLength());
}

// interleaveBf16(dst: Uint32Array [n], a: Float32Array [n] | null, b: Float32Array [n] | null, impl)
void interleave_bf16_k(const Napi::CallbackInfo& a) {
  auto dst = typed<uint32_t>(a[0], "dst");
  const size_t n = dst.ElementLength();
  const float* x = a[1].IsNull() ? nullptr : typed<float>(a[1], "a", n).Data();
  const float* y = a[2].IsNull() ? nullptr : typed<float>(a[2], "b", n).Data();
  bf16_convert_impl(a[3], avx512bf16::interleave_bf16, portable::interleave_bf16)(dst.Data(), x, y, n);
}

// routePairsBf16(top: Uint32Array [n], bottom: Uint32Array [n], d: Float32Array [n], code: Uint8Array [n], impl)
void route_pairs_bf16_k(const Napi::CallbackInfo& a) {
  auto top = typed<uint32_t>(a[0], "top");
  const size_t n = top.ElementLength();
  bf16_convert_impl(a[4], avx512bf16::route_pairs_bf16, portable::route_pairs_bf16)(
      top.Data(), typed<uint32_t>(a[1], "bottom", n).Data(), typed<float>(a[2], "d", n).Data(),
      typed<uint8_t>(a[3], "code", n).Data(), n);
}

// pairPixelsBf16(dst: Uint32Array [pairs * C], src: Float32Array [2 * pairs * C], {pairs, C}, impl)
void pair_pixels_bf16_k(const Napi::CallbackInfo& a) {
  const Napi::Object shape = shape_object(a[2], "{pairs, C}");
  const int pairs = shape_field(shape, "pairs", 0, 1 << 24), C = shape_field(shape, "C", 1, 4096);
  bf16_convert_impl(a[3], avx512bf16::pair_pixels_bf16, portable::pair_pixels_bf16)(
      typed<uint32_t>(a[0], "dst", size_t(pairs) * C).Data(), typed<float>(a[1], "src", size_t(2) * pairs * C).Data(),
      size_t(pairs), C);
}

// The {pixels, C, dstStride} of a transpose: dstStride at least pixels
struct TransposeShape {
  int pixels, C, stride;
};
TransposeShape transpose_shape(const Napi::Value& v) {
  const Napi::Object shape = shape_object(v, "{pixels, C, dstStride}");
  const int pixels = shape_field(shape, "pixels", 0, 1 << 24), C = shape_field(shape, "C", 1, 4096);
  return {pixels, C, shape_field(shape, "dstStride", pixels, 1 << 24)};
}

// transposeToBf16(dst: Uint16Array [C * dstStride], src: Float32Array [pixels * C], {pixels, C, dstStride}, impl)
void transpose_to_bf16_k(const Napi::CallbackInfo& a) {
  const auto [pixels, C, stride] = transpose_shape(a[2]);
  bf16_convert_impl(a[3], avx512bf16::transpose_to_bf16, portable::transpose_to_bf16)(
      typed<uint16_t>(a[0], "dst", size_t(C) * stride).Data(), size_t(stride),
      typed<float>(a[1], "src", size_t(pixels) * C).Data(), size_t(pixels), C);
}

void transpose_bf16_k(const Napi::CallbackInfo& a) {
  const auto [pixels, C, stride] = transpose_shape(a[2]);
  bf16_convert_impl(a[3], avx512bf16::transpose_bf16, portable::transpose_bf16)(
      typed<uint16_t>(a[0], "dst", size_t(C) * stride).Data(), size_t(stride),
      typed<uint16_t>(a[1], "src", size_t(pixels) * C).Data(), size_t(pixels), C);
}

// AMX bf16 convolutions (float32 only): the fp32 kernels' arguments plus kernels 'amx' (a RangeError where
// amx_usable() is false) or 'amx-emulated' (any CPU); a RangeError for shapes they do not take (conv_amx.h)
bool amx_real(const Napi::CallbackInfo& a, const Napi::Value& v, bool fits) {
  const std::string k = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
  if (k != "amx" && k != "amx-emulated") throw_range(a.Env(), "kernels must be 'amx' or 'amx-emulated', got '" + k + "'");
  if (k == "amx" && !amx_usable()) throw_range(a.Env(), "this CPU has no AMX-BF16 or the kernel refused the tile state");
  if (!fits)
    throw_range(a.Env(), "the AMX kernels need Cin and Cout multiples of 32 (the first block's forward and the weight "
                         "gradient also take Cin <= 3 with Cout a multiple of 32)");
  return k == "amx";
}

void conv_forward_amx_k(const Napi::CallbackInfo& a) {
  const auto [N, H, W, Ci, Co] = conv_shape(a[4]);
  const bool real = amx_real(a, a[6], amx_fits(Ci, Co));
  std::vector<uint32_t> wp(avx512bf16::packed_kernel_size(Ci, Co));
  avx512bf16::pack_kernel(wp.data(), typed<float>(a[2], "w", size_t(9) * Ci * Co).Data(), Ci, Co);
  auto fn = real ? amx::conv3x3_forward_packed : amx_emulated::conv3x3_forward_packed;
  require_scratch(fn(typed<float>(a[0], "out", size_t(N) * (H - 2) * (W - 2) * Co).Data(),
                     typed<float>(a[1], "in", size_t(N) * H * W * Ci).Data(), wp.data(),
                     typed<float>(a[3], "b", Co).Data(), N, H, W, Ci, Co, a[5].ToBoolean().Value()));
}

// (out, code, in, w, b, {N, H, W, Cin, Cout}, kernels[, out16[, in16]]): a conv block (conv -> ReLU -> max-pool)
// with its convolution on tiles, as conv3x3ReluMaxpoolForward: the first (amx_fits_narrow) or a later one
// (amx_fits); out16 gets out in bf16, and a later block reads its input from in16 (conv_amx.h) where given
void conv_relu_maxpool_forward_amx_k(const Napi::CallbackInfo& a) {
  const auto [N, H, W, Ci, Co] = conv_shape(a[5], 4);
  const bool narrow = amx_fits_narrow(Ci, Co), real = amx_real(a, a[6], narrow || amx_fits(Ci, Co));
  const size_t npool = size_t(N) * ((H - 2) / 2) * ((W - 2) / 2) * Co, nin = size_t(H) * W * Ci;
  float* out = typed<float>(a[0], "out", npool).Data();
  uint8_t* code = typed<uint8_t>(a[1], "code", npool).Data();
  const float* in = typed<float>(a[2], "in", N * nin).Data();
  const float* w = typed<float>(a[3], "w", size_t(9) * Ci * Co).Data();
  const float* b = typed<float>(a[4], "b", Co).Data();
  uint16_t* out16 = opt_data<uint16_t>(a[7], "out16", npool);
  const uint16_t* in16 = opt_data<uint16_t>(a[8], "in16", amx_block_input_size(N * H, W, Ci));
  if (narrow && in16) throw_range(a.Env(), "in16 is for a later block (Cin a multiple of 32): the first converts its image");
  std::vector<uint32_t> wp(narrow ? amx_narrow_kernel_size(Co) : avx512bf16::packed_kernel_size(Ci, Co));
  if (narrow) {
    amx_pack_kernel_narrow(wp.data(), w, Ci, Co);
    auto fn = real ? amx::conv3x3_relu_maxpool_forward_narrow_packed
                   : amx_emulated::conv3x3_relu_maxpool_forward_narrow_packed;
    return require_scratch(fn(out, out16, code, in, wp.data(), b, N, H, W, Ci, Co));
  }
  avx512bf16::pack_kernel(wp.data(), w, Ci, Co);
  auto fn = real ? amx::conv3x3_relu_maxpool_forward_packed : amx_emulated::conv3x3_relu_maxpool_forward_packed;
  require_scratch(fn(out, out16, code, in, in16, wp.data(), b, N, H, W, Ci, Co));
}

void conv_backward_input_amx_k(const Napi::CallbackInfo& a) {
  const auto [N, H, W, Ci, Co] = conv_shape(a[3]);
  const bool real = amx_real(a, a[4], amx_fits(Ci, Co));
  std::vector<uint32_t> wp(avx512bf16::packed_kernel_size(Co, Ci));
  avx512bf16::pack_kernel_for_input_gradient(wp.data(), typed<float>(a[2], "w", size_t(9) * Ci * Co).Data(), Ci, Co);
  auto fn = real ? amx::conv3x3_backward_input_packed : amx_emulated::conv3x3_backward_input_packed;
  require_scratch(fn(typed<float>(a[0], "din", size_t(N) * H * W * Ci).Data(),
                     typed<float>(a[1], "dout", size_t(N) * (H - 2) * (W - 2) * Co).Data(), wp.data(), N, H, W, Ci, Co));
}

void conv_backward_weight_amx_k(const Napi::CallbackInfo& a) {
  const auto [N, H, W, Ci, Co] = conv_shape(a[4]);
  const bool narrow = amx_fits_narrow(Ci, Co), real = amx_real(a, a[5], narrow || amx_fits(Ci, Co));
  auto fn = narrow ? (real ? amx::conv3x3_backward_weight_narrow : amx_emulated::conv3x3_backward_weight_narrow)
                   : (real ? amx::conv3x3_backward_weight : amx_emulated::conv3x3_backward_weight);
  require_scratch(fn(typed<float>(a[0], "dw", size_t(9) * Ci * Co).Data(), typed<float>(a[1], "db", Co).Data(),
                     typed<float>(a[2], "dout", size_t(N) * (H - 2) * (W - 2) * Co).Data(),
                     typed<float>(a[3], "in", size_t(N) * H * W * Ci).Data(), N, H, W, Ci, Co));
}

// (dw, db, dpool, code, in, {N, H, W, Cin, Cout}, kernels): the first conv block's weight gradient on tiles
// (amx_fits_narrow), as reluMaxpoolConv3x3BackwardWeight
void relu_maxpool_conv_backward_weight_amx_k(const Napi::CallbackInfo& a) {
  const auto [N, H, W, Ci, Co] = conv_shape(a[5], 4);
  const bool real = amx_real(a, a[6], amx_fits_narrow(Ci, Co));
  const size_t npool = size_t(N) * ((H - 2) / 2) * ((W - 2) / 2) * Co;
  auto fn = real ? amx::relu_maxpool_conv3x3_backward_weight_narrow
                 : amx_emulated::relu_maxpool_conv3x3_backward_weight_narrow;
  require_scratch(fn(typed<float>(a[0], "dw", size_t(9) * Ci * Co).Data(), typed<float>(a[1], "db", Co).Data(),
                     typed<float>(a[2], "dpool", npool).Data(), typed<uint8_t>(a[3], "code", npool).Data(),
                     typed<float>(a[4], "in", size_t(N) * H * W * Ci).Data(), N, H, W, Ci, Co));
}

// (din | null, dw, db, dpool, code, in, w, {N, H, W, Cin, Cout}, kernels[, in16]): a conv -> ReLU -> max-pool
// block's backward on tiles from the pool's gradient and code (amx_fits), the raw kernel w packed as the network
// does; in16 (conv_amx.h) is the input in bf16, read instead of converting in
void relu_maxpool_conv_backward_amx_k(const Napi::CallbackInfo& a) {
  const auto [N, H, W, Ci, Co] = conv_shape(a[7], 4);
  const bool real = amx_real(a, a[8], amx_fits(Ci, Co));
  const size_t npool = size_t(N) * ((H - 2) / 2) * ((W - 2) / 2) * Co;
  float* din = a[0].IsNull() ? nullptr : typed<float>(a[0], "din", size_t(N) * H * W * Ci).Data();
  std::vector<uint32_t> wp(avx512bf16::packed_kernel_size(Co, Ci));
  avx512bf16::pack_kernel_for_input_gradient(wp.data(), typed<float>(a[6], "w", size_t(9) * Ci * Co).Data(), Ci, Co);
  auto fn = real ? amx::relu_maxpool_conv3x3_backward_packed : amx_emulated::relu_maxpool_conv3x3_backward_packed;
  const uint16_t* in16 = opt_data<uint16_t>(a[9], "in16", amx_block_input_size(N * H, W, Ci));
  require_scratch(fn(din, typed<float>(a[1], "dw", size_t(9) * Ci * Co).Data(), typed<float>(a[2], "db", Co).Data(),
                     typed<float>(a[3], "dpool", npool).Data(), typed<uint8_t>(a[4], "code", npool).Data(),
                     typed<float>(a[5], "in", size_t(N) * H * W * Ci).Data(), in16, wp.data(), N, H, W, Ci, Co));
}

// Winograd convolutions (float32 only; a RangeError where winograd_fits says no): the fp32 kernels' arguments
// with the raw kernel w, which the binding transforms as the network does once per step
Impl require_winograd(const Napi::CallbackInfo& a, const Napi::Value& isa_v, int H, int W, int Ci, int Co) {
  const Isa isa = isa_or_best(isa_v);
  if (!winograd_fits(isa, H, W, Ci, Co))
    throw_range(a.Env(), "the Winograd kernels need an avx2 or avx512 tier and channel counts that are multiples of its "
                         "vector; got " + std::string(isa_name(isa)) + ", Cin=" + std::to_string(Ci) + " Cout=" + std::to_string(Co));
  return isa == Isa::Avx512 ? Impl::WinogradAvx512 : Impl::WinogradAvx2;
}

// The kernel transforms of F(2x2) (16 positions) and F(4x4) (36)
struct WinogradTransform {
  int positions;
  void (*transform)(float* v, const float* w, int Cin, int Cout, Isa isa);
};
constexpr WinogradTransform kF2{16, winograd_kernel_transform}, kF4{36, winograd4_kernel_transform};

// v [positions][Ci][Co]: the raw kernel w transformed, as the network does once per step
std::vector<float> winograd_kernel(const Napi::Value& w, int Ci, int Co, WinogradTransform f = kF2) {
  std::vector<float> v(size_t(f.positions) * Ci * Co);
  f.transform(v.data(), typed<float>(w, "w", size_t(9) * Ci * Co).Data(), Ci, Co, cpu_isa());
  return v;
}

// v [positions][Co][Ci]: the raw kernel w flipped for the input gradient, then transformed
std::vector<float> winograd_flipped_kernel(const Napi::Value& w, int Ci, int Co, WinogradTransform f = kF2) {
  std::vector<float> flipped(size_t(9) * Ci * Co), v(size_t(f.positions) * Ci * Co);
  flip_kernel_for_input_gradient(flipped.data(), typed<float>(w, "w", size_t(9) * Ci * Co).Data(), Ci, Co);
  f.transform(v.data(), flipped.data(), Co, Ci, cpu_isa());
  return v;
}

// (v, w, {Cin, Cout}, 'f2' | 'f4', isa?): v [positions][Cin][Cout] = the kernel transform of w [3][3][Cin][Cout] on a
// tier (scalar: the plain loops)
void winograd_kernel_transform_k(const Napi::CallbackInfo& a) {
  const Napi::Object shape = shape_object(a[2], "{Cin, Cout}");
  const int Ci = shape_field(shape, "Cin", 1, 4096), Co = shape_field(shape, "Cout", 1, 4096);
  const std::string which = a[3].IsString() ? a[3].As<Napi::String>().Utf8Value() : "";
  if (which != "f2" && which != "f4") throw_range(a.Env(), "the transform must be 'f2' or 'f4', got '" + which + "'");
  const WinogradTransform f = which == "f2" ? kF2 : kF4;
  f.transform(typed<float>(a[0], "v", size_t(f.positions) * Ci * Co).Data(),
              typed<float>(a[1], "w", size_t(9) * Ci * Co).Data(), Ci, Co, isa_or_best(a[4]));
}

void conv_forward_winograd_k(const Napi::CallbackInfo& a) {
  const auto [N, H, W, Ci, Co] = conv_shape(a[4]);
  const Impl isa = require_winograd(a, a[6], H, W, Ci, Co);
  const std::vector<float> v = winograd_kernel(a[2], Ci, Co);
  conv3x3_forward_winograd(isa, typed<float>(a[0], "out", size_t(N) * (H - 2) * (W - 2) * Co).Data(),
                           typed<float>(a[1], "in", size_t(N) * H * W * Ci).Data(), v.data(),
                           typed<float>(a[3], "b", Co).Data(), N, H, W, Ci, Co, a[5].ToBoolean().Value());
}

void conv_backward_input_winograd_k(const Napi::CallbackInfo& a) {
  const auto [N, H, W, Ci, Co] = conv_shape(a[3]);
  const Impl isa = require_winograd(a, a[4], H, W, Ci, Co);
  const std::vector<float> v = winograd_flipped_kernel(a[2], Ci, Co);
  conv3x3_backward_input_winograd(isa, typed<float>(a[0], "din", size_t(N) * H * W * Ci).Data(),
                                  typed<float>(a[1], "dout", size_t(N) * (H - 2) * (W - 2) * Co).Data(), v.data(), N,
                                  H, W, Ci, Co);
}

void conv_backward_weight_winograd_k(const Napi::CallbackInfo& a) {
  const auto [N, H, W, Ci, Co] = conv_shape(a[4]);
  const Impl isa = require_winograd(a, a[5], H, W, Ci, Co);
  conv3x3_backward_weight_winograd(isa, typed<float>(a[0], "dw", size_t(9) * Ci * Co).Data(),
                                   typed<float>(a[1], "db", Co).Data(),
                                   typed<float>(a[2], "dout", size_t(N) * (H - 2) * (W - 2) * Co).Data(),
                                   typed<float>(a[3], "in", size_t(N) * H * W * Ci).Data(), N, H, W, Ci, Co);
}

// The 'same' Winograd kernels: the arguments of the three above, H and W the input's and the output's size (even)
Impl require_winograd_same(const Napi::CallbackInfo& a, const Napi::Value& isa_v, int H, int W, int Ci, int Co) {
  const Impl k = require_winograd(a, isa_v, H + 2, W + 2, Ci, Co);
  if (H % 2 || W % 2)
    throw_range(a.Env(), "the 'same' Winograd kernels need an even H and W; got " + std::to_string(H) + "x" + std::to_string(W));
  return k;
}

void conv_same_forward_winograd_k(const Napi::CallbackInfo& a) {
  const auto [N, H, W, Ci, Co] = conv_shape(a[4]);
  const Impl isa = require_winograd_same(a, a[6], H, W, Ci, Co);
  const std::vector<float> v = winograd_kernel(a[2], Ci, Co);
  conv3x3_same_forward_winograd(isa, typed<float>(a[0], "out", size_t(N) * H * W * Co).Data(),
                                typed<float>(a[1], "in", size_t(N) * H * W * Ci).Data(), v.data(),
                                typed<float>(a[3], "b", Co).Data(), N, H, W, Ci, Co, a[5].ToBoolean().Value());
}

void conv_same_backward_input_winograd_k(const Napi::CallbackInfo& a) {
  const auto [N, H, W, Ci, Co] = conv_shape(a[3]);
  const Impl isa = require_winograd_same(a, a[4], H, W, Ci, Co);
  const std::vector<float> v = winograd_flipped_kernel(a[2], Ci, Co);
  conv3x3_same_backward_input_winograd(isa, typed<float>(a[0], "din", size_t(N) * H * W * Ci).Data(),
                                       typed<float>(a[1], "dout", size_t(N) * H * W * Co).Data(), v.data(), N, H, W,
                                       Ci, Co);
}

void conv_same_backward_weight_winograd_k(const Napi::CallbackInfo& a) {
  const auto [N, H, W, Ci, Co] = conv_shape(a[4]);
  const Impl isa = require_winograd_same(a, a[5], H, W, Ci, Co);
  conv3x3_same_backward_weight_winograd(isa, typed<float>(a[0], "dw", size_t(9) * Ci * Co).Data(),
                                        typed<float>(a[1], "db", Co).Data(),
                                        typed<float>(a[2], "dout", size_t(N) * H * W * Co).Data(),
                                        typed<float>(a[3], "in", size_t(N) * H * W * Ci).Data(), N, H, W, Ci, Co);
}

// The F(4x4) 'same' kernels: the arguments of the 'same' ones above, any H and W; the input gradient's takes
// accumulate last (din += the gradient)
Impl require_winograd4(const Napi::CallbackInfo& a, const Napi::Value& isa_v, int H, int W, int Ci, int Co) {
  return require_winograd(a, isa_v, H + 2, W + 2, Ci, Co) == Impl::WinogradAvx512 ? Impl::Winograd4Avx512
                                                                                   : Impl::Winograd4Avx2;
}

void conv_same_forward_winograd4_k(const Napi::CallbackInfo& a) {
  const auto [N, H, W, Ci, Co] = conv_shape(a[4]);
  const Impl isa = require_winograd4(a, a[6], H, W, Ci, Co);
  const std::vector<float> v = winograd_kernel(a[2], Ci, Co, kF4);
  conv3x3_same_forward_winograd4(isa, typed<float>(a[0], "out", size_t(N) * H * W * Co).Data(),
                                 typed<float>(a[1], "in", size_t(N) * H * W * Ci).Data(), v.data(),
                                 typed<float>(a[3], "b", Co).Data(), N, H, W, Ci, Co, a[5].ToBoolean().Value());
}

void conv_same_backward_input_winograd4_k(const Napi::CallbackInfo& a) {
  const auto [N, H, W, Ci, Co] = conv_shape(a[3]);
  const Impl isa = require_winograd4(a, a[4], H, W, Ci, Co);
  const std::vector<float> v = winograd_flipped_kernel(a[2], Ci, Co, kF4);
  conv3x3_same_backward_input_winograd4(isa, typed<float>(a[0], "din", size_t(N) * H * W * Ci).Data(),
                                        typed<float>(a[1], "dout", size_t(N) * H * W * Co).Data(), v.data(), N, H, W,
                                        Ci, Co, a[5].ToBoolean().Value());
}

void conv_same_backward_weight_winograd4_k(const Napi::CallbackInfo& a) {
  const auto [N, H, W, Ci, Co] = conv_shape(a[4]);
  const Impl isa = require_winograd4(a, a[5], H, W, Ci, Co);
  conv3x3_same_backward_weight_winograd4(isa, typed<float>(a[0], "dw", size_t(9) * Ci * Co).Data(),
                                         typed<float>(a[1], "db", Co).Data(),
                                         typed<float>(a[2], "dout", size_t(N) * H * W * Co).Data(),
                                         typed<float>(a[3], "in", size_t(N) * H * W * Ci).Data(), N, H, W, Ci, Co);
}

// (dw, db, din, dout, in, w, shape, isa, accumulate): both gradients in one pass, w the raw kernel
void conv_same_backward_winograd4_k(const Napi::CallbackInfo& a) {
  const auto [N, H, W, Ci, Co] = conv_shape(a[6]);
  const Impl isa = require_winograd4(a, a[7], H, W, Ci, Co);
  const std::vector<float> v = winograd_flipped_kernel(a[5], Ci, Co, kF4);
  conv3x3_same_backward_winograd4(isa, typed<float>(a[0], "dw", size_t(9) * Ci * Co).Data(),
                                  typed<float>(a[1], "db", Co).Data(),
                                  typed<float>(a[2], "din", size_t(N) * H * W * Ci).Data(),
                                  typed<float>(a[3], "dout", size_t(N) * H * W * Co).Data(),
                                  typed<float>(a[4], "in", size_t(N) * H * W * Ci).Data(), v.data(), N, H, W, Ci, Co,
                                  a[8].ToBoolean().Value());
}

// The F(2x2) 'same' kernels with bf16 products: the arguments of the fp32 'same' ones without the isa (AVX-512 and
// AVX512-BF16 only); the binding transforms and packs the raw kernel as the network does once per step
std::vector<uint32_t> winograd_bf16_kernel(const Napi::CallbackInfo& a, const std::vector<float>& v, int Ci, int Co) {
  require_bf16(a.Env());
  std::vector<uint32_t> vp(avx512bf16::winograd_packed_size(Ci, Co));
  avx512bf16::pack_winograd_kernel(vp.data(), v.data(), Ci, Co);
  return vp;
}

void conv_same_forward_winograd_bf16_k(const Napi::CallbackInfo& a) {
  const auto [N, H, W, Ci, Co] = conv_shape(a[4]);
  require_winograd_same(a, Napi::String::New(a.Env(), "avx512"), H, W, Ci, Co);
  const std::vector<uint32_t> vp = winograd_bf16_kernel(a, winograd_kernel(a[2], Ci, Co), Ci, Co);
  conv3x3_same_forward_winograd_bf16(typed<float>(a[0], "out", size_t(N) * H * W * Co).Data(),
                                     typed<float>(a[1], "in", size_t(N) * H * W * Ci).Data(), vp.data(),
                                     typed<float>(a[3], "b", Co).Data(), N, H, W, Ci, Co, a[5].ToBoolean().Value());
}

void conv_same_backward_input_winograd_bf16_k(const Napi::CallbackInfo& a) {
  const auto [N, H, W, Ci, Co] = conv_shape(a[3]);
  require_winograd_same(a, Napi::String::New(a.Env(), "avx512"), H, W, Ci, Co);
  const std::vector<uint32_t> vp = winograd_bf16_kernel(a, winograd_flipped_kernel(a[2], Ci, Co), Co, Ci);
  conv3x3_same_backward_input_winograd_bf16(typed<float>(a[0], "din", size_t(N) * H * W * Ci).Data(),
                                            typed<float>(a[1], "dout", size_t(N) * H * W * Co).Data(), vp.data(), N, H,
                                            W, Ci, Co);
}

// (dw, db, dpool, code, in, {N, H, W, Cin, Cout}, isa?): H, W are the conv's input size
template <typename T>
void relu_maxpool_conv_backward_weight_k(const Napi::CallbackInfo& a) {
  const auto [N, H, W, Ci, Co] = conv_shape(a[5], 4);
  const size_t npool = size_t(N) * ((H - 2) / 2) * ((W - 2) / 2) * Co;
  relu_maxpool_conv3x3_backward_weight(fp32_impl(isa_or_best(a[6]), Co),
                                       typed<T>(a[0], "dw", size_t(9) * Ci * Co).Data(),
                                       typed<T>(a[1], "db", Co).Data(), typed<T>(a[2], "dpool", npool).Data(),
                                       typed<uint8_t>(a[3], "code", npool).Data(),
                                       typed<T>(a[4], "in", size_t(N) * H * W * Ci).Data(), N, H, W, Ci, Co);
}

// (out, code, in, w, b, {N, H, W, Cin, Cout}, isa?): H, W are the conv's input size; out and code [N, (H-2)/2,
// (W-2)/2, Cout]
template <typename T>
void conv_relu_maxpool_forward_k(const Napi::CallbackInfo& a) {
  const auto [N, H, W, Ci, Co] = conv_shape(a[5], 4);
  const size_t npool = size_t(N) * ((H - 2) / 2) * ((W - 2) / 2) * Co;
  conv3x3_relu_maxpool_forward(fp32_impl(isa_or_best(a[6]), Co), typed<T>(a[0], "out", npool).Data(),
                               typed<uint8_t>(a[1], "code", npool).Data(),
                               typed<T>(a[2], "in", size_t(N) * H * W * Ci).Data(),
                               typed<T>(a[3], "w", size_t(9) * Ci * Co).Data(), typed<T>(a[4], "b", Co).Data(), N, H, W,
                               Ci, Co);
}

// (din, dout, code, {N, H, W, C}, isa?): the codes of a pool after a ReLU (4: no gradient)
template <typename T>
void maxpool_backward_code_k(const Napi::CallbackInfo& a) {
  const auto [N, H, W, C] = pool_shape(a[3]);
  const size_t npool = size_t(N) * (H / 2) * (W / 2) * C;
  maxpool2x2_backward_code(fp32_impl(isa_or_best(a[4]), C), typed<T>(a[0], "din", size_t(N) * H * W * C).Data(),
                           typed<T>(a[1], "dout", npool).Data(), typed<uint8_t>(a[2], "code", npool).Data(), N, H, W, C,
                           true);
}

template <typename T>
void maxpool_backward_k(const Napi::CallbackInfo& a) {
  const auto [N, H, W, C] = pool_shape(a[3]);
  const size_t ni = size_t(N) * H * W * C;
  maxpool2x2_backward(fp32_impl(isa_or_best(a[4]), C), typed<T>(a[0], "din", ni).Data(),
                      typed<T>(a[1], "dout", size_t(N) * (H / 2) * (W / 2) * C).Data(), typed<T>(a[2], "in", ni).Data(), N,
                      H, W, C);
}

template <typename T>
void relu_forward_k(const Napi::CallbackInfo& a) {
  auto in = typed<T>(a[1], "in");
  ref::relu_forward(typed<T>(a[0], "out", in.ElementLength()).Data(), in.Data(), in.ElementLength());
}

template <typename T>
void relu_backward_k(const Napi::CallbackInfo& a) {
  auto out = typed<T>(a[2], "out");
  const size_t n = out.ElementLength();
  ref::relu_backward(typed<T>(a[0], "din", n).Data(), typed<T>(a[1], "dout", n).Data(), out.Data(), n);
}

// (out, in, w, b, {N, I, O}, isa?): with isa (float32), the tier fp32_impl picks for O, else the reference
template <typename T>
void dense_forward_k(const Napi::CallbackInfo& a) {
  const auto [N, I, O] = dense_shape(a[4]);
  T* out = typed<T>(a[0], "out", size_t(N) * O).Data();
  const T *in = typed<T>(a[1], "in", size_t(N) * I).Data(), *w = typed<T>(a[2], "w", size_t(I) * O).Data(),
          *b = typed<T>(a[3], "b", O).Data();
  if constexpr (std::is_same_v<T, float>)
    if (!a[5].IsUndefined()) return dense_forward(fp32_impl(isa_or_best(a[5]), O), out, in, w, b, N, I, O);
  ref::dense_forward(out, in, w, b, N, I, O);
}

// (din | null, dw, db, dout, in, w, {N, I, O}, isa?): with isa (float32), the tiers fp32_impl picks for O (the
// weight gradient) and I (the input gradient, from the kernel transposed as a network packs it)
template <typename T>
void dense_backward_k(const Napi::CallbackInfo& a) {
  const auto [N, I, O] = dense_shape(a[6]);
  T* din = opt_data<T>(a[0], "din", size_t(N) * I);
  T *dw = typed<T>(a[1], "dw", size_t(I) * O).Data(), *db = typed<T>(a[2], "db", O).Data();
  const T *dout = typed<T>(a[3], "dout", size_t(N) * O).Data(), *in = typed<T>(a[4], "in", size_t(N) * I).Data(),
          *w = typed<T>(a[5], "w", size_t(I) * O).Data();
  if constexpr (std::is_same_v<T, float>) {
    if (!a[7].IsUndefined()) {
      const Isa isa = isa_or_best(a[7]);
      dense_backward_weight(fp32_impl(isa, O), dw, db, dout, in, N, I, O);
      if (!din) return;
      const Impl k = fp32_impl(isa, I);
      std::vector<float> wT(size_t(I) * O);
      transpose_dense_kernel(wT.data(), w, I, O);
      return dense_backward_input(k, din, dout, k == Impl::Reference ? w : wT.data(), N, I, O);
    }
  }
  ref::dense_backward(din, dw, db, dout, in, w, N, I, O);
}

template <typename T>
void dropout_mask_k(const Napi::CallbackInfo& a) {
  auto mask = typed<T>(a[0], "mask");
  const double rate = number(a[1], "rate");
  if (!(rate >= 0 && rate < 1)) throw_range(a.Env(), "rate must be in [0, 1)");
  dropout_mask(mask.Data(), mask.ElementLength(), rate, uint64_t(integer(a[2], "seed", 0, INT32_MAX)),
               uint64_t(integer(a[3], "key", 0, INT32_MAX)));
}

// (dlogit | null, logit, label, scale, smoothing?) -> the summed loss
template <typename T>
Napi::Value sigmoid_bce_k(const Napi::CallbackInfo& a) {
  auto logit = typed<T>(a[1], "logit");
  const size_t n = logit.ElementLength();
  const T smoothing = a[4].IsUndefined() ? T(0) : T(number(a[4], "smoothing"));
  const T s = ref::sigmoid_bce(opt_data<T>(a[0], "dlogit", n), logit.Data(), typed<T>(a[2], "label", n).Data(), int(n),
                               T(number(a[3], "scale")), smoothing);
  return Napi::Number::New(a.Env(), double(s));
}

// (dlogits | null, logits [N, K], label [N], {N, K}, scale, smoothing?) -> the summed loss (ref::softmax_ce)
template <typename T>
Napi::Value softmax_ce_k(const Napi::CallbackInfo& a) {
  const Napi::Object shape = shape_object(a[3], "{N, K}");
  const int N = shape_field(shape, "N", 1, 1 << 20), K = shape_field(shape, "K", 1, 1 << 16);
  const T smoothing = a[5].IsUndefined() ? T(0) : T(number(a[5], "smoothing"));
  const T s = ref::softmax_ce(opt_data<T>(a[0], "dlogits", size_t(N) * K), typed<T>(a[1], "logits", size_t(N) * K).Data(),
                              typed<T>(a[2], "label", N).Data(), N, K, T(number(a[4], "scale")), smoothing);
  return Napi::Number::New(a.Env(), double(s));
}

// Batch norm's pieces (ref::batchnorm_*), the statistics as Float64Array whatever T:
// batchnormSums(sum [C], sumsq [C], in [P, C], {P, C}): sum +=, sumsq +=
template <typename T>
void batchnorm_sums_k(const Napi::CallbackInfo& a) {
  const auto [P, C] = channel_shape(a[3]);
  ref::batchnorm_sums(typed<double>(a[0], "sum", C).Data(), typed<double>(a[1], "sumsq", C).Data(),
                      typed<T>(a[2], "in", size_t(P) * C).Data(), size_t(P), C);
}

// batchnormForward(out, in, mean, invstd, gamma, beta, {P, C}, relu, residual?)
template <typename T>
void batchnorm_forward_k(const Napi::CallbackInfo& a) {
  const auto [P, C] = channel_shape(a[6]);
  const size_t n = size_t(P) * C;
  ref::batchnorm_forward(typed<T>(a[0], "out", n).Data(), typed<T>(a[1], "in", n).Data(),
                         a[8].IsUndefined() ? nullptr : opt_data<T>(a[8], "residual", n),
                         typed<double>(a[2], "mean", C).Data(), typed<double>(a[3], "invstd", C).Data(),
                         typed<T>(a[4], "gamma", C).Data(), typed<T>(a[5], "beta", C).Data(), size_t(P), C,
                         a[7].ToBoolean().Value());
}

// batchnormBackwardSums(dsum, dxhat, dout, reluOut | null, in, mean, invstd, {P, C}): dsum +=, dxhat +=
template <typename T>
void batchnorm_backward_sums_k(const Napi::CallbackInfo& a) {
  const auto [P, C] = channel_shape(a[7]);
  const size_t n = size_t(P) * C;
  ref::batchnorm_backward_sums(typed<double>(a[0], "dsum", C).Data(), typed<double>(a[1], "dxhat", C).Data(),
                               typed<T>(a[2], "dout", n).Data(), opt_data<T>(a[3], "reluOut", n),
                               typed<T>(a[4], "in", n).Data(), typed<double>(a[5], "mean", C).Data(),
                               typed<double>(a[6], "invstd", C).Data(), size_t(P), C);
}

// batchnormBackwardInput(din, dout, reluOut | null, in, mean, invstd, gamma, dsum, dxhat, count, {P, C})
template <typename T>
void batchnorm_backward_input_k(const Napi::CallbackInfo& a) {
  const auto [P, C] = channel_shape(a[10]);
  const size_t n = size_t(P) * C;
  ref::batchnorm_backward_input(typed<T>(a[0], "din", n).Data(), typed<T>(a[1], "dout", n).Data(),
                                opt_data<T>(a[2], "reluOut", n), typed<T>(a[3], "in", n).Data(),
                                typed<double>(a[4], "mean", C).Data(), typed<double>(a[5], "invstd", C).Data(),
                                typed<T>(a[6], "gamma", C).Data(), typed<double>(a[7], "dsum", C).Data(),
                                typed<double>(a[8], "dxhat", C).Data(), number(a[9], "count"), size_t(P), C);
}

// sgdUpdate(param, velocity, grad, lr, momentum, nesterov, weightDecay)
template <typename T>
void sgd_k(const Napi::CallbackInfo& a) {
  auto p = typed<T>(a[0], "param");
  const size_t n = p.ElementLength();
  ref::sgd_update(p.Data(), typed<T>(a[1], "velocity", n).Data(), typed<T>(a[2], "grad", n).Data(), n,
                  number(a[3], "lr"), number(a[4], "momentum"), a[5].ToBoolean().Value(), number(a[6], "weightDecay"));
}

// adamwUpdate(param, m, v, grad, lr, beta1, beta2, epsilon, weightDecay, t)
template <typename T>
void adamw_k(const Napi::CallbackInfo& a) {
  auto p = typed<T>(a[0], "param");
  const size_t n = p.ElementLength();
  ref::adamw_update(p.Data(), typed<T>(a[1], "m", n).Data(), typed<T>(a[2], "v", n).Data(),
                    typed<T>(a[3], "grad", n).Data(), n, number(a[4], "lr"), number(a[5], "beta1"),
                    number(a[6], "beta2"), number(a[7], "epsilon"), number(a[8], "weightDecay"),
                    uint64_t(integer(a[9], "t", 1, INT32_MAX)));
}

template <typename T>
void rmsprop_k(const Napi::CallbackInfo& a) {
  auto p = typed<T>(a[0], "param");
  const size_t n = p.ElementLength();
  ref::rmsprop_update(p.Data(), typed<T>(a[1], "accum", n).Data(), typed<T>(a[2], "grad", n).Data(), n,
                      number(a[3], "lr"), number(a[4], "rho"), number(a[5], "epsilon"));
}

// (out, in, {H, W, C}, shear, zx, zy, flip, scale, isa?)
template <typename T>
void augment_k(const Napi::CallbackInfo& a) {
  const auto [H, W, C] = image_shape(a[2]);
  const size_t n = size_t(H) * W * C;
  // isa 'scalar' runs the reference; any other the version the network uses for that tier (same results, faster)
  const Isa isa = isa_or_best(a[8]);
  T* out = typed<T>(a[0], "out", n).Data();
  const uint8_t* in = typed<uint8_t>(a[1], "in", n).Data();
  const double shear = number(a[3], "shear"), zx = number(a[4], "zx"), zy = number(a[5], "zy");
  const bool flip = a[6].ToBoolean().Value();
  const T scale = T(number(a[7], "scale"));
  if (isa == Isa::Scalar) ref::augment_warp(out, in, shear, zx, zy, flip, H, W, C, scale);
  else augment_warp_fast(isa, out, in, shear, zx, zy, flip, H, W, C, scale);
}

// (out, in, {H, W, C}, params: Float64Array [8], scale, erased): the crop/flip/rotation/erasing augmentation of
// one image (ref::augment_crop)
template <typename T>
void augment_crop_k(const Napi::CallbackInfo& a) {
  const auto [H, W, C] = image_shape(a[2]);
  const size_t n = size_t(H) * W * C;
  auto params = typed<double>(a[3], "params", kCropParams);
  require_finite(params, "params");
  ref::augment_crop(typed<T>(a[0], "out", n).Data(), typed<uint8_t>(a[1], "in", n).Data(), params.Data(), H, W, C,
                    T(number(a[4], "scale")), T(number(a[5], "erased")));
}

// Binds `name` to the float or double instantiation, chosen by the type of the argument at `probe`; the kernels'
// C++ exceptions (scratch memory refused, a shape no kernel takes) become JS ones.
template <void (*F32)(const Napi::CallbackInfo&), void (*F64)(const Napi::CallbackInfo&)>
Napi::Value by_dtype(const Napi::CallbackInfo& a) {
  guarded(a.Env(), [&] {
    if (is_f64(a[0]) || is_f64(a[1])) F64(a);
    else F32(a);
  });
  return a.Env().Undefined();
}

template <Napi::Value (*F32)(const Napi::CallbackInfo&), Napi::Value (*F64)(const Napi::CallbackInfo&)>
Napi::Value by_dtype_value(const Napi::CallbackInfo& a) {
  return guarded(a.Env(), [&] { return (is_f64(a[0]) || is_f64(a[1])) ? F64(a) : F32(a); });
}

}  // namespace

Napi::Object test_kernels(Napi::Env env) {
  Napi::Object k = Napi::Object::New(env);
#define ENGINE_KERNEL(js, fn) k.Set(js, Napi::Function::New(env, by_dtype<fn<float>, fn<double>>, js))
  ENGINE_KERNEL("conv3x3Forward", conv_forward_k);
  ENGINE_KERNEL("conv3x3BackwardInput", conv_backward_input_k);
  ENGINE_KERNEL("conv3x3BackwardWeight", conv_backward_weight_k);
  ENGINE_KERNEL("maxpool2x2Forward", maxpool_forward_k);
  ENGINE_KERNEL("maxpool2x2Backward", maxpool_backward_k);
  ENGINE_KERNEL("conv3x3ReluForward", conv_relu_forward_k);
  ENGINE_KERNEL("reluMaxpool2x2Backward", relu_maxpool_backward_k);
  ENGINE_KERNEL("reluMaxpoolConv3x3BackwardWeight", relu_maxpool_conv_backward_weight_k);
  ENGINE_KERNEL("conv3x3ReluMaxpoolForward", conv_relu_maxpool_forward_k);
  ENGINE_KERNEL("maxpool2x2BackwardCode", maxpool_backward_code_k);
  ENGINE_KERNEL("reluForward", relu_forward_k);
  ENGINE_KERNEL("reluBackward", relu_backward_k);
  ENGINE_KERNEL("denseForward", dense_forward_k);
  ENGINE_KERNEL("denseBackward", dense_backward_k);
  ENGINE_KERNEL("dropoutMask", dropout_mask_k);
  ENGINE_KERNEL("rmspropUpdate", rmsprop_k);
  ENGINE_KERNEL("sgdUpdate", sgd_k);
  ENGINE_KERNEL("adamwUpdate", adamw_k);
  ENGINE_KERNEL("augmentWarp", augment_k);
  ENGINE_KERNEL("augmentCrop", augment_crop_k);
#undef ENGINE_KERNEL
  for (auto [js, fn] : {std::pair{"conv3x3ForwardBf16", conv_forward_bf16_k},
                        std::pair{"conv3x3BackwardInputBf16", conv_backward_input_bf16_k},
                        std::pair{"conv3x3BackwardWeightBf16", conv_backward_weight_bf16_k},
                        std::pair{"winogradKernelTransform", winograd_kernel_transform_k},
                        std::pair{"conv3x3ForwardWinograd", conv_forward_winograd_k},
                        std::pair{"conv3x3BackwardInputWinograd", conv_backward_input_winograd_k},
                        std::pair{"conv3x3BackwardWeightWinograd", conv_backward_weight_winograd_k},
                        std::pair{"conv3x3SameForwardWinograd", conv_same_forward_winograd_k},
                        std::pair{"conv3x3SameBackwardInputWinograd", conv_same_backward_input_winograd_k},
                        std::pair{"conv3x3SameBackwardWeightWinograd", conv_same_backward_weight_winograd_k},
                        std::pair{"conv3x3SameForwardWinograd4", conv_same_forward_winograd4_k},
                        std::pair{"conv3x3SameBackwardInputWinograd4", conv_same_backward_input_winograd4_k},
                        std::pair{"conv3x3SameBackwardWeightWinograd4", conv_same_backward_weight_winograd4_k},
                        std::pair{"conv3x3SameBackwardWinograd4", conv_same_backward_winograd4_k},
                        std::pair{"conv3x3SameForwardWinogradBf16", conv_same_forward_winograd_bf16_k},
                        std::pair{"conv3x3SameBackwardInputWinogradBf16", conv_same_backward_input_winograd_bf16_k},
                        std::pair{"conv3x3ForwardAmx", conv_forward_amx_k},
                        std::pair{"conv3x3BackwardInputAmx", conv_backward_input_amx_k},
                        std::pair{"conv3x3ReluMaxpoolForwardAmx", conv_relu_maxpool_forward_amx_k},
                        std::pair{"conv3x3BackwardWeightAmx", conv_backward_weight_amx_k},
                        std::pair{"reluMaxpoolConv3x3BackwardWeightAmx", relu_maxpool_conv_backward_weight_amx_k},
                        std::pair{"reluMaxpoolConv3x3BackwardAmx", relu_maxpool_conv_backward_amx_k},
                        std::pair{"toBf16", to_bf16_k},
                        std::pair{"interleaveBf16", interleave_bf16_k},
                        std::pair{"pairPixelsBf16", pair_pixels_bf16_k},
                        std::pair{"routePairsBf16", route_pairs_bf16_k},
                        std::pair{"transposeToBf16", transpose_to_bf16_k},
                        std::pair{"transposeBf16", transpose_bf16_k}})
    k.Set(js, Napi::Function::New(env, [fn = fn](const Napi::CallbackInfo& a) -> Napi::Value {
      guarded(a.Env(), [&] { fn(a); });
      return a.Env().Undefined();
    }, js));
  k.Set("sigmoidBce", Napi::Function::New(env, by_dtype_value<sigmoid_bce_k<float>, sigmoid_bce_k<double>>, "sigmoidBce"));
  k.Set("softmaxCe", Napi::Function::New(env, by_dtype_value<softmax_ce_k<float>, softmax_ce_k<double>>, "softmaxCe"));
  // (the batch-norm kernels take the statistics as Float64Array whatever the element type: chosen by `in`)
  auto by_in = [&](const char* js, void (*f32)(const Napi::CallbackInfo&), void (*f64)(const Napi::CallbackInfo&),
                   int probe) {
    k.Set(js, Napi::Function::New(env, [f32, f64, probe](const Napi::CallbackInfo& a) -> Napi::Value {
      guarded(a.Env(), [&] { is_f64(a[size_t(probe)]) ? f64(a) : f32(a); });
      return a.Env().Undefined();
    }, js));
  };
  by_in("batchnormSums", batchnorm_sums_k<float>, batchnorm_sums_k<double>, 2);
  by_in("batchnormForward", batchnorm_forward_k<float>, batchnorm_forward_k<double>, 1);
  by_in("batchnormBackwardSums", batchnorm_backward_sums_k<float>, batchnorm_backward_sums_k<double>, 2);
  by_in("batchnormBackwardInput", batchnorm_backward_input_k<float>, batchnorm_backward_input_k<double>, 1);
  return k;
}

}  // namespace engine
