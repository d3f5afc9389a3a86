// Winograd F(2x2, 3x3) with bf16 products (winograd_bf16.h). Compiled with -mavx512f -mavx512bw -mavx512vl
// -mavx512bf16; called only after a CPU check. No inline templates from shared headers (see conv_simd.inc).
//
// Forward: a tile row at a time, as the fp32 kernel: u [16][T][Cin] = B^T d B (in fp32, stored rounded to bf16:
// stages::winograd_input_row_bf16), so that a dword of it is a tile's pair of adjacent channels; m [16][T][Cout] =
// u x vp position by position (vdpbf16ps: acc[co] += u[2k] vp[k][co][0] + u[2k+1] vp[k][co][1]); then A^T m A + b
// (fp32, stages::winograd_output_row).
#include <immintrin.h>

#include "kernels/bf16/bf16_convert.h"
#include "kernels/bf16/winograd_bf16.h"
#include "cpu/thread_scratch.h"
#include "kernels/fp32/conv_fast.h"
#include "kernels/fp32/tile_size.h"

namespace engine::avx512bf16 {
namespace {

constexpr int L = 16;  // fp32 lanes
// tiles a register tile: PX x NV accumulators, NV kernel vectors and a broadcast in 32 registers
constexpr int tile_for(int nv) { return (32 - nv - 2) / nv; }

typedef float vf __attribute__((vector_size(64)));

// m [PX][Cout] (at column co0) = u [PX][K] pairs x vp [K][Cout] pairs (at column co0). KC > 0 fixes K at compile
// time (16, 32 and 64 channels), so the tiles' pair offsets are immediates, as in the fp32 kernels.
template <int NV, int PX, int KC>
inline void products_tile(float* m, const uint32_t* u, const uint32_t* vp, int K_, int Cout) {
  const int K = KC > 0 ? KC : K_;
  vf acc[PX][NV];
  for (int p = 0; p < PX; p++)
    for (int j = 0; j < NV; j++) acc[p][j] = vf{};
  for (int k = 0; k < K; k++) {
    __m512bh wv[NV];
    for (int j = 0; j < NV; j++) wv[j] = (__m512bh)_mm512_loadu_si512(vp + size_t(k) * Cout + j * L);
    for (int p = 0; p < PX; p++) {
      const __m512bh a = (__m512bh)_mm512_set1_epi32(int(u[p * K + k]));
      for (int j = 0; j < NV; j++) acc[p][j] = (vf)_mm512_dpbf16_ps((__m512)acc[p][j], a, wv[j]);
    }
  }
  for (int p = 0; p < PX; p++)
    for (int j = 0; j < NV; j++) _mm512_storeu_ps(m + size_t(p) * Cout + j * L, (__m512)acc[p][j]);
}

// m [16][T][Cout] = u [16][T][K] x vp [16][K][Cout], K = Cin / 2 pairs
template <int NV, int KC>
void products_nv(float* m, const uint32_t* u, const uint32_t* vp, int T, int K, int Cout) {
  constexpr int PX = tile_for(NV);
  for (int p = 0; p < 16; p++) {
    const uint32_t* up = u + size_t(p) * T * K;
    const uint32_t* vq = vp + size_t(p) * K * Cout;
    float* mp = m + size_t(p) * T * Cout;
    for (int co0 = 0; co0 < Cout; co0 += NV * L) {
      int t = 0;
      for (; t + PX <= T; t += PX)
        products_tile<NV, PX, KC>(mp + size_t(t) * Cout + co0, up + size_t(t) * K, vq + co0, K, Cout);
      with_tile_size<PX - 1>(T - t, [&](auto px) {
        products_tile<NV, decltype(px)::value, KC>(mp + size_t(t) * Cout + co0, up + size_t(t) * K, vq + co0, K, Cout);
      });
    }
  }
}

template <int KC>
void products_k(float* m, const uint32_t* u, const uint32_t* vp, int T, int K, int Cout) {
  if (Cout % (4 * L) == 0) products_nv<4, KC>(m, u, vp, T, K, Cout);
  else if (Cout % (2 * L) == 0) products_nv<2, KC>(m, u, vp, T, K, Cout);
  else products_nv<1, KC>(m, u, vp, T, K, Cout);
}

void products(float* m, const uint32_t* u, const uint32_t* vp, int T, int K, int Cout) {
  switch (K) {
    case 8: return products_k<8>(m, u, vp, T, K, Cout);
    case 16: return products_k<16>(m, u, vp, T, K, Cout);
    case 32: return products_k<32>(m, u, vp, T, K, Cout);
    default: return products_k<0>(m, u, vp, T, K, Cout);
  }
}

}  // namespace

size_t winograd_packed_size(int Cin, int Cout) { return size_t(16) * (Cin / 2) * Cout; }

void pack_winograd_kernel(uint32_t* vp, const float* v, int Cin, int Cout) {
  for (int p = 0; p < 16; p++)
    for (int k = 0; k < Cin / 2; k++) {
      const float* row = v + (size_t(p) * Cin + 2 * k) * Cout;  // v [p][2k][.], then v [p][2k+1][.]
      interleave_bf16(vp + (size_t(p) * (Cin / 2) + k) * Cout, row, row + Cout, size_t(Cout));
    }
}

bool conv3x3_same_forward_winograd(float* out, const float* in, const uint32_t* vp, const float* b, int N, int H, int W,
                                   int Cin, int Cout, bool relu) {
  const int T = W / 2;
  const size_t pos = size_t(T) * Cin;
  thread_local ThreadScratch u_s, m_s;
  uint16_t* u = u_s.get<uint16_t>(16 * pos);         // [16][T][Cin] one tile row's transformed input, in bf16
  float* m = m_s.get<float>(size_t(16) * T * Cout);  // [16][T][Cout] its transformed output
  if (!u || !m) return false;
  for (int n = 0; n < N; n++)
    for (int ty = 0; ty < H / 2; ty++) {
      avx512::stages::winograd_input_row_bf16(u, in + size_t(n) * H * W * Cin, T, 2 * ty - 1, -1, H, W, Cin, pos);
      products(m, reinterpret_cast<const uint32_t*>(u), vp, T, Cin / 2, Cout);
      avx512::stages::winograd_output_row(out + (size_t(n) * H + 2 * ty) * W * Cout, m, b, T, W, Cout, relu);
    }
  return true;
}

}  // namespace engine::avx512bf16
