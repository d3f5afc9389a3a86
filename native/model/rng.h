// Counter-based randomness: every random number is a pure function of (seed, stream, counter), so results do
// not depend on thread scheduling, and the whole RNG state of a trainer is its seed and its step counter.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

namespace engine {

// splitmix64's finaliser: a bijective mix with good avalanche, enough for dropout masks and init
inline uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

inline uint64_t hash3(uint64_t seed, uint64_t stream, uint64_t counter) {
  return mix64(mix64(mix64(seed) ^ stream) ^ counter);
}

// uniform in [0, 1) with 53 random bits
inline double uniform01(uint64_t seed, uint64_t stream, uint64_t counter) {
  return double(hash3(seed, stream, counter) >> 11) * (1.0 / 9007199254740992.0);
}

// Streams keep the uses of one seed apart.
enum RngStream : uint64_t { kStreamInit = 1, kStreamDropout = 2 };

// Glorot/Xavier uniform: w ~ U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out)); `tensor` picks the
// sub-stream so that each parameter tensor gets its own numbers.
template <typename T>
void glorot_uniform(T* w, size_t n, int fan_in, int fan_out, uint64_t seed, uint64_t tensor) {
  const double limit = std::sqrt(6.0 / (double(fan_in) + fan_out));  // (a flattened fan_in may be near INT_MAX)
  for (size_t i = 0; i < n; i++)
    w[i] = T((2.0 * uniform01(seed, (kStreamInit << 32) | tensor, i) - 1.0) * limit);
}

// Inverted-dropout mask [n]: 0 with probability `rate`, else 1/(1-rate). `key` names the mask (the network
// hashes step, image and layer into it, see dropout_key); distinct keys give independent masks.
template <typename T>
void dropout_mask(T* mask, size_t n, double rate, uint64_t seed, uint64_t key) {
  const T keep_scale = T(1.0 / (1.0 - rate));
  const uint64_t stream = mix64(key ^ (uint64_t(kStreamDropout) << 56));
  for (size_t i = 0; i < n; i++) mask[i] = uniform01(seed, stream, i) < rate ? T(0) : keep_scale;
}

inline uint64_t dropout_key(uint64_t step, uint64_t image, uint64_t layer) { return mix64(mix64(mix64(step) ^ image) ^ layer); }

}  // namespace engine
