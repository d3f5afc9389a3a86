// How a model learns, beyond its layers: fixed for a trainer (the optimizer, and with it the state it keeps; label
// smoothing; an exponential moving average of the weights; the input normalisation; the kind of augmentation its
// steps take) and given per step (the optimizer's settings, which a schedule changes from step to step).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace engine {

enum class OptimizerKind { RmsProp, Sgd, AdamW };
const char* optimizer_name(OptimizerKind k);

// The seed's warp (shear, zoom rows, zoom columns, flip: 4 numbers an image), or a random crop of the zero-padded
// image with a flip, a small rotation and random erasing (kCropParams numbers an image, see ref::augment_crop).
enum class AugmentKind { Keras, Crop };
constexpr int kKerasParams = 4, kCropParams = 8;
inline int augment_params(AugmentKind k) { return k == AugmentKind::Crop ? kCropParams : kKerasParams; }

struct Recipe {
  OptimizerKind optimizer = OptimizerKind::RmsProp;
  double label_smoothing = 0;  // targets (1 - e) * onehot + e / classes (sigmoid: e / 2)
  double ema_decay = 0;        // the weights' moving average keeps this share each step; 0: none
  // per channel: inputs (pixels / 255 - mean) / std; empty: pixels / 255 (the seed's)
  std::vector<double> mean, std;
  AugmentKind augment = AugmentKind::Keras;

  // buffers of optimizer state per parameter: RMSprop's accumulator, SGD's velocity, AdamW's two moments
  int state_buffers() const { return optimizer == OptimizerKind::AdamW ? 2 : 1; }
};

// One update's settings (the schedule's lr of this step). RMSprop: rho, eps (outside the square root, as Keras);
// SGD: momentum, nesterov; AdamW: beta1, beta2, eps, bias-corrected by the step count. Weight decay applies to the
// kernels only (not to biases or batch norm's parameters): coupled (added to the gradient) for RMSprop and SGD,
// decoupled for AdamW. clip_norm > 0 scales the summed gradient down to that global L2 norm where it is larger.
struct OptimizerStep {
  double lr = 0, rho = 0.9, eps = 1e-7, momentum = 0, beta1 = 0.9, beta2 = 0.999, weight_decay = 0, clip_norm = 0;
  bool nesterov = false;
};

}  // namespace engine
