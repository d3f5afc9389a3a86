// An image brought to a model's input as data/preprocess.ts' fitToInput does it, for the rules the native loader
// takes: PIL's NEAREST resize (or none, at the model's size), RGB or grey (PIL's convert('L')). preprocess.ts is
// the reference; test/image-load.test.mjs holds the two to the same bytes.
#pragma once

#include <cstdint>

namespace engine::image {

// PIL's NEAREST source index of each of `dst` outputs along an axis of `src` pixels (preprocess.ts'
// nearestIndicesPIL: a running sum of src/dst from half a step, truncated).
void nearest_indices_pil(int32_t* out, int src, int dst);

// dst [dst_h, dst_w, channels] <- the pixels of rgb [src_h, src_w, 3] that PIL's NEAREST picks, converted to grey
// when channels is 1. `xs` and `ys` hold dst_w and dst_h indices of scratch.
void fit_nearest_pil(uint8_t* dst, const uint8_t* rgb, int src_w, int src_h, int dst_w, int dst_h, int channels, int32_t* xs, int32_t* ys);

}  // namespace engine::image
