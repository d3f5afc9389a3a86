// The last, partial register tile of a row of tiles: with_tile_size<MAX>(r, f) calls f(TileSize<r>{}) for a
// run-time r in [1, MAX] (nothing for r = 0), so that the tile's size is a compile-time constant there, as in
// the full tiles. In an unnamed namespace for the reason given in thread_scratch.h.
#pragma once

namespace engine {
namespace {

template <int N>
struct TileSize {
  static constexpr int value = N;
};

template <int MAX, typename F>
inline void with_tile_size(int r, F&& f) {
  if constexpr (MAX > 0) {
    if (r == MAX) f(TileSize<MAX>{});
    else with_tile_size<MAX - 1>(r, f);
  }
}

}  // namespace
}  // namespace engine
