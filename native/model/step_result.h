// What a training step reports, and the per-op times the CPU network keeps (for the benchmark's layer table).
#pragma once

#include <cstddef>
#include <vector>

namespace engine {

struct StepResult {
  double loss_sum = 0;           // summed loss over the batch
  int correct = 0;               // images whose predicted class is the label
  size_t non_finite_params = 0;  // train_step: NaN/Inf parameters after the update (a diverged step)
};

// Seconds per op since the last reset, summed over images and averaged over threads (threads run side by side,
// so this approximates wall time). A fused step is booked on its first op forward and its last op backward.
struct LayerTimes {
  std::vector<double> forward, backward;  // [ops]
  double preprocess = 0;                  // augmentation warp or scaling
  double update = 0;                      // summing the threads' gradients + the optimizer (one thread)
  double kernels = 0;                     // rearranging the kernels for the step (packing, one thread)
  double idle = 0;                        // threads waiting for the batch's slowest thread (mean over threads)
  double step = 0;                        // wall time of the native steps, all of the above included
};

}  // namespace engine
