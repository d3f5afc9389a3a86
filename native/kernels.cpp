#include "kernels.h"

#include <cstdlib>
#include <new>

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

void relu_maxpool_conv3x3_backward_weight(Isa isa, float* dw, float* db, const float* dpool, const float* act,
                                          const float* in, int N, int H, int W, int Cin, int Cout) {
  bool done = false;
  if (isa == Isa::Avx512 && Cout % avx512::kLanes == 0)
    done = avx512::relu_maxpool_conv3x3_backward_weight(dw, db, dpool, act, in, N, H, W, Cin, Cout);
  else if (isa >= Isa::Avx2 && Cout % avx2::kLanes == 0)
    done = avx2::relu_maxpool_conv3x3_backward_weight(dw, db, dpool, act, in, N, H, W, Cin, Cout);
  else {
    ref::relu_maxpool_conv3x3_backward_weight(dw, db, dpool, act, in, N, H, W, Cin, Cout);
    done = true;
  }
  if (!done) throw std::bad_alloc();
}

void conv3x3_backward_input(Isa isa, float* din, const float* dout, const float* w, int N, int H, int W, int Cin,
                            int Cout) {
  bool done = false;
  if (isa == Isa::Avx512 && Cin % avx512::kLanes == 0)
    done = avx512::conv3x3_backward_input(din, dout, w, N, H, W, Cin, Cout);
  else if (isa >= Isa::Avx2 && Cin % avx2::kLanes == 0)
    done = avx2::conv3x3_backward_input(din, dout, w, N, H, W, Cin, Cout);
  else {
    ref::conv3x3_backward_input(din, dout, w, N, H, W, Cin, Cout);
    done = true;
  }
  if (!done) throw std::bad_alloc();
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
