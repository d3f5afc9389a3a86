// JPEG files decoded to 8-bit RGB by the system's libjpeg-turbo, opened at run time (libjpeg.so.62), the way
// libvips (sharp) and PIL decode them: islow IDCT, fancy upsampling, grey replicated to RGB, no colour
// management, no EXIF orientation. The same bytes as sharp's decode (test/jpeg-decode.test.mjs), without
// libvips' per-image pipeline: several times faster for the small images this tool trains on.
// Anything it does not decode exactly as sharp would (CMYK, YCCK, Adobe RGB, a warning such as truncated
// data, an error, an image above the caller's pixel limit) is left to sharp: the result says why.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace engine::image {

struct JpegImage {
  bool ok = false;
  std::string why;           // when !ok: why the image is left to the caller's other decoder
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;  // [height, width, 3]
};

// Empty when libjpeg.so.62 could be opened (and this build has the decoder); otherwise the reason.
const std::string& jpeg_unavailable_reason();

// Decodes one JPEG file's bytes; never throws for bad input (the result says why), and never prints.
JpegImage decode_jpeg_rgb(const uint8_t* bytes, size_t size, double max_pixels);

}  // namespace engine::image
