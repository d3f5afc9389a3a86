// The kernel plan: for every op and direction, which kernel runs it, which ops it runs fused, which prepared
// (packed) weights it reads and what workspace it owns, chosen once when a network is built from the layout's
// shapes, the machine's features and the resolved options. The networks (CPU and CUDA) run their plan's steps
// in order and decide nothing themselves; tests ask the plan which kernel runs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "cpu/features.h"
#include "kernels/impl.h"
#include "model/graph.h"

namespace engine {


enum class Precision : int { Fp32 = 0, Bf16 = 1 };
const char* precision_name(Precision p);

// How fp32 convolutions run on the CPU: Winograd where it fits and pays (direct elsewhere), or direct everywhere.
enum class ConvAlgorithm : int { Direct = 0, Winograd = 1 };
const char* conv_algorithm_name(ConvAlgorithm a);

enum class BackendKind { Cpu, Cuda };

// The resolved options a network is planned from (TypeScript resolves the user's flags into these; the
// environment caps ENGINE_ISA and ENGINE_BF16, and ENGINE_CHUNK, are read by plan_options, once, and recorded).
struct PlanOptions {
  BackendKind backend = BackendKind::Cpu;
  bool double_precision = false;  // the CPU reference in double, for gradient checks
  Isa isa = Isa::Scalar;
  Precision precision = Precision::Fp32;
  ConvAlgorithm conv = ConvAlgorithm::Direct;
  Bf16Kernels bf16 = Bf16Kernels::Avx512Bf16;
  int threads = 1;
  std::string env_isa, env_bf16, env_chunk;  // ENGINE_ISA / ENGINE_BF16 / ENGINE_CHUNK as read ("" when unset)
  // bytes of a chunk of images in a batch-coupled CPU network's forward phases (plan_chunks); ENGINE_CHUNK sets
  // it, 0 for none: the same bits either way, a check that tests make
  size_t chunk_bytes = size_t(1) << 19;
};

// Checks the requested options against the machine and the environment (SpecError naming the field):
// isa (nullptr: the best this CPU has, capped by ENGINE_ISA), precision, conv (nullptr: winograd where the
// network is float fp32 on the CPU, else direct), bf16 kernels (ENGINE_BF16, else AMX where usable).
PlanOptions plan_options(BackendKind backend, bool double_precision, const Isa* isa, Precision precision,
                         const ConvAlgorithm* conv, int threads);

enum class Dir : uint8_t { Forward, Backward };

// What a step computes.
enum class StepKind : uint8_t {
  Conv,         // forward: conv (+ ReLU); backward: weight and bias gradient (+ input gradient)
  ConvBlock,    // conv -> ReLU -> max-pool in one pass each way, storing only the pool's output and a 1-byte code
  Relu,         // in place
  MaxPool,      // backward with `relu`: the ReLU before it too
  Flatten,      // a view: no work
  Dense,
  Dropout,
  GlobalAvgPool,
  Add,
  BatchNorm,
  GradAdd,      // backward: adds a second consumer's contribution into a tensor's gradient
};
const char* step_kind_name(StepKind k);

// Weights rearranged once per training step, for all threads and images.
enum class Packing : uint8_t {
  None,
  Bf16,        // avx512bf16::pack_kernel, then pack_kernel_for_input_gradient when `input` (AVX512-BF16 and AMX)
  AmxNarrow,   // amx_pack_kernel_narrow: the first block on tiles
  Flipped,     // flip_kernel_for_input_gradient (fp32 direct input gradient)
  Winograd,    // flipped, then the Winograd transforms of the kernel and of the flipped kernel
  Winograd4,   // the same with F(4x4)'s transforms
  WinogradBf16,  // F(2x2)'s transforms of the kernel and of the flipped kernel in bf16 pairs (winograd_bf16.h)
  Transposed,  // transpose_dense_kernel (fast dense input gradients)
};
// The transform positions of a Winograd packing: [9][Cout][Cin] flipped, then v [P][Cin][Cout], vflip [P][Cout][Cin]
inline int winograd_positions(Packing k) { return k == Packing::Winograd4 ? 36 : 16; }

struct Step {
  Dir dir = Dir::Forward;
  StepKind kind = StepKind::Relu;
  int op = 0;                  // the first op it runs (in op order)
  int ops = 1;                 // it runs ops [op, op + ops)
  Impl impl = Impl::None;      // the kernel (backward conv: of the weight gradient)
  Impl input_impl = Impl::None;  // backward: the input gradient's kernel; None: the input needs no gradient
  bool relu = false;           // forward conv: stores ReLU(conv); backward max-pool: the ReLU before it too;
                               // batch norm: the ReLU after it, both ways (forward, with residual: after the add)
  int residual = -1;           // forward batch norm: the tensor added to its output in its pass (the residual add
                               // that reads it, op + 1; -1: none)
  bool bf16_out = false;       // forward block on tiles: also stores its output in bf16 for the next block
  bool bf16_in = false;        // block on tiles: reads its input's bf16 copy
  int packed = -1;             // index into Plan::packing, or -1
  size_t workspace = 0;        // bytes per image of the buffers the network keeps for this step (codes, bf16 copies)
  // a stride-1 'same' convolution run on a zero-padded copy of its input: the padding (k - 1 in all, the smaller
  // half on top and left) and the copy's offset in the network's per-image buffer of them; 0 / kNone otherwise
  int pad = 0;
  size_t padded = kNone;
  // backward: the gradient slots it reads (out) and writes (in, per input of `op`); -1: none. GradAdd adds slot
  // `out` into slot `in[0]`.
  int grad_out = -1;
  int grad_in[2] = {-1, -1};
  bool accumulate = false;     // backward conv: adds its input gradient into slot in[0] (formed first by another
                               // consumer of its input) instead of a GradAdd after it
  int chunk = 0;               // batch norm (CPU, float): the phase that ends at it runs a thread's share in chunks
                               // of this many images (run_coupled); 0: all at once
  size_t relu_mask = kNone;    // batch norm with a ReLU on the fast CPU tiers: where it keeps which outputs were
                               // positive (a bit an element) in the network's per-image buffer of codes, which its
                               // backward reads instead of the ReLU's output; kNone: none kept
  size_t pool_code = kNone;    // max-pool on the fast CPU tiers: where its forward keeps which of each window's four
                               // inputs is its output (a byte per output; with `relu`, 4 where that is not positive),
                               // so that its backward need not read the input again; kNone: none kept
};

struct PackedWeights {
  int op = 0;
  Packing kind = Packing::None;
  bool input = false;  // Bf16: also the input-gradient kernel
  size_t offset = 0;   // in 32-bit words (Bf16, AmxNarrow, WinogradBf16) or floats (Flipped, Winograd*) of its buffer
  size_t size = 0;
};

struct Plan {
  PlanOptions options;
  std::vector<Step> forward, backward;
  std::vector<PackedWeights> packing;
  size_t packed_words = 0, packed_floats = 0;  // buffers for the Bf16/AmxNarrow/WinogradBf16 and the Flipped/Winograd/Winograd4 packing
  // [tensors]: whether a tensor is stored (not only inside a fused step), and the tensor whose storage it shares
  // (ReLU in place, flatten), else itself
  std::vector<bool> stored;
  std::vector<int> storage_of;
  // [tensors]: the gradient slot of each tensor (-1: never formed); slots hold the largest gradient
  std::vector<int> grad_slot;
  int grad_slots = 0;
  size_t grad_slot_size = 0;   // elements per image
  int micro_batch = 1;         // images per kernel call (batch-coupled models: a thread's whole share)
  // [tensors]: where a block on tiles keeps its bf16 copy of a tensor (elements per image from the start of the
  // bf16 buffer), kNone where there is none; and the size of that buffer per image
  std::vector<size_t> bf16_offset;
  size_t bf16_size = 0;
  // elements per image of the padded input copies, and of the largest padded input gradient (scratch)
  size_t padded_size = 0, padded_grad_size = 0;
  // [ops]: where a block keeps its pool's code (bytes per image), kNone where it keeps none (a batch norm's ReLU
  // bits: Step::relu_mask; a max-pool's codes: Step::pool_code)
  std::vector<size_t> code_offset;
  size_t code_size = 0;
};

// Builds the plan of a layout for the options (the only place that decides which kernel runs).
Plan make_plan(const Layout& layout, const PlanOptions& options);

}  // namespace engine
