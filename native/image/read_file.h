// Reads a whole file for the native image loader: a regular file of at most `max_bytes`, else nothing. The
// loader hands any file it does not read back to the JS reader (io/read.ts), which words the refusal.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace engine::image {

// true with the file's bytes in `out` (resized to them); false when it cannot be opened or read, is not a
// regular file, or holds more than max_bytes (also when it grows past that while being read).
bool read_regular_file(const char* path, size_t max_bytes, std::vector<uint8_t>& out);

}  // namespace engine::image
