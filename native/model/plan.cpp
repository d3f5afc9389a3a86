#include "model/plan.h"
#include "model/recipe.h"

#include <algorithm>
#include <cstdlib>

#include "kernels/amx/conv_amx.h"
#include "kernels/bf16/conv_bf16.h"
#include "kernels/bf16/winograd_bf16.h"
#include "kernels/fp32/kernels.h"

namespace engine {

const char* impl_name(Impl k) {
  switch (k) {
    case Impl::None: return "none";
    case Impl::Reference: return "reference";
    case Impl::Avx2: return "avx2";
    case Impl::Avx512: return "avx512";
    case Impl::WinogradAvx2: return "winograd-avx2";
    case Impl::WinogradAvx512: return "winograd-avx512";
    case Impl::Winograd4Avx2: return "winograd4-avx2";
    case Impl::Winograd4Avx512: return "winograd4-avx512";
    case Impl::WinogradBf16: return "winograd-bf16";
    case Impl::GemmAvx2: return "gemm-avx2";
    case Impl::GemmAvx512: return "gemm-avx512";
    case Impl::Avx512Bf16: return "avx512-bf16";
    case Impl::Amx: return "amx";
    case Impl::AmxEmulated: return "amx-emulated";
    case Impl::Cuda: return "cuda";
  }
  return "?";
}

const char* optimizer_name(OptimizerKind k) {
  switch (k) {
    case OptimizerKind::Sgd: return "sgd";
    case OptimizerKind::AdamW: return "adamw";
    default: return "rmsprop";
  }
}

const char* precision_name(Precision p) { return p == Precision::Bf16 ? "bf16" : "fp32"; }
const char* conv_algorithm_name(ConvAlgorithm a) { return a == ConvAlgorithm::Winograd ? "winograd" : "direct"; }

const char* bf16_kernels_name(Bf16Kernels k) {
  switch (k) {
    case Bf16Kernels::Amx: return "amx";
    case Bf16Kernels::AmxEmulated: return "amx-emulated";
    default: return "avx512-bf16";
  }
}

const char* step_kind_name(StepKind k) {
  switch (k) {
    case StepKind::Conv: return "conv";
    case StepKind::ConvBlock: return "conv-relu-maxpool";
    case StepKind::Relu: return "relu";
    case StepKind::MaxPool: return "maxpool";
    case StepKind::Flatten: return "flatten";
    case StepKind::Dense: return "dense";
    case StepKind::Dropout: return "dropout";
    case StepKind::GlobalAvgPool: return "globalavgpool";
    case StepKind::Add: return "add";
    case StepKind::BatchNorm: return "batchnorm";
    case StepKind::GradAdd: return "grad-add";
  }
  return "?";
}

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

}  // namespace

PlanOptions plan_options(BackendKind backend, bool double_precision, const Isa* isa, Precision precision,
                         const ConvAlgorithm* conv, int threads) {
  PlanOptions o;
  o.backend = backend;
  o.double_precision = double_precision;
  o.precision = precision;
  o.threads = threads < 1 ? 1 : threads;
  o.env_isa = env("ENGINE_ISA");
  o.env_bf16 = env("ENGINE_BF16");
  o.env_chunk = env("ENGINE_CHUNK");
  if (!o.env_chunk.empty()) {
    char* end = nullptr;
    const unsigned long long bytes = std::strtoull(o.env_chunk.c_str(), &end, 10);
    if (o.env_chunk[0] < '0' || o.env_chunk[0] > '9' || *end != '\0' || bytes > (1ull << 40))
      throw SpecError("ENGINE_CHUNK must be a number of bytes (0: no chunks), got '" + o.env_chunk + "'", "ENGINE_CHUNK");
    o.chunk_bytes = size_t(bytes);
  }
  const Isa best = cpu_isa();
  if (isa) {
    if (*isa > best)
      throw SpecError(std::string("isa '") + isa_name(*isa) + "' is not supported by this CPU (best: " +
                          isa_name(best) + ")",
                      "isa");
    o.isa = *isa;
  } else {
    o.isa = best;  // capped by ENGINE_ISA, which only lowers the default
    Isa cap;
    if (!o.env_isa.empty()) {
      if (!parse_isa(o.env_isa, &cap))
        throw SpecError("ENGINE_ISA must be scalar, avx2 or avx512, got '" + o.env_isa + "'", "isa");
      if (cap < best) o.isa = cap;
    }
  }
  if (backend == BackendKind::Cuda) {
    if (precision != Precision::Fp32) throw SpecError("the CUDA backend trains in fp32", "precision");
    if (conv && *conv == ConvAlgorithm::Winograd)
      throw SpecError("conv chooses the CPU convolutions; the CUDA backend runs its own", "conv");
    o.conv = ConvAlgorithm::Direct;
    return o;
  }
  if (precision == Precision::Bf16) {
    if (double_precision) throw SpecError("precision bf16 is for float32 networks only", "precision");
    if (!cpu_has_bf16()) throw SpecError("precision bf16 needs a CPU with AVX512-BF16, and this one has none", "precision");
    if (o.isa != Isa::Avx512)
      throw SpecError(std::string("precision bf16 needs the avx512 kernels, but isa is ") + isa_name(o.isa), "precision");
    if (o.env_bf16.empty()) o.bf16 = amx_usable() ? Bf16Kernels::Amx : Bf16Kernels::Avx512Bf16;
    else if (o.env_bf16 == "avx512-bf16") o.bf16 = Bf16Kernels::Avx512Bf16;
    else if (o.env_bf16 == "amx-emulated") o.bf16 = Bf16Kernels::AmxEmulated;
    else if (o.env_bf16 == "amx") {
      if (!amx_usable())
        throw SpecError("ENGINE_BF16=amx, but this CPU has no AMX-BF16 or the kernel refused the tile state", "precision");
      o.bf16 = Bf16Kernels::Amx;
    } else {
      throw SpecError("ENGINE_BF16 must be avx512-bf16, amx or amx-emulated, got '" + o.env_bf16 + "'", "precision");
    }
  }
  if (conv && *conv == ConvAlgorithm::Winograd && double_precision)
    throw SpecError("conv winograd is for float32 networks only", "conv");
  o.conv = conv ? *conv : (!double_precision ? ConvAlgorithm::Winograd : ConvAlgorithm::Direct);
  return o;
}

namespace {

// The planner's view of one layout under one set of options.
class Planner {
 public:
  Planner(const Layout& L, const PlanOptions& o) : L_(L), o_(o) {}

  Plan run() {
    p_.options = o_;
    const size_t T = L_.ops() + 1;
    p_.stored.assign(T, true);
    p_.storage_of.resize(T);
    for (size_t t = 0; t < T; t++) p_.storage_of[t] = int(t);
    p_.bf16_offset.assign(T, kNone);
    p_.code_offset.assign(L_.ops(), kNone);
    p_.grad_slot.assign(T, -1);
    if (o_.backend == BackendKind::Cuda) plan_cuda();
    else plan_cpu();
    plan_gradients();
    if (cpu_float() && L_.has_batch_coupling() && o_.chunk_bytes > 0) plan_chunks();
    // Batch norm needs the statistics of the whole batch: a thread then runs its whole share through each step
    // (the network meets at a barrier there). Otherwise a kernel call takes as many images as keep their
    // buffers within kMicroBatchBytes (a dense layer then reuses each row of weights across them), at least
    // one: the seed's 150x150 images take a call each.
    constexpr size_t kMicroBatchBytes = size_t(1) << 20;
    constexpr size_t kMaxMicroBatch = 32;
    p_.micro_batch = L_.has_batch_coupling() ? 0 : int(std::clamp<size_t>(kMicroBatchBytes / image_bytes(), 1, kMaxMicroBatch));
    return p_;
  }

 private:
  const Layout& L_;
  const PlanOptions& o_;
  Plan p_;

  bool cpu_float() const { return o_.backend == BackendKind::Cpu && !o_.double_precision; }
  bool bf16() const { return cpu_float() && o_.precision == Precision::Bf16; }
  bool amx() const { return bf16() && o_.bf16 != Bf16Kernels::Avx512Bf16; }
  Impl amx_impl() const { return o_.bf16 == Bf16Kernels::Amx ? Impl::Amx : Impl::AmxEmulated; }

  // op i + 1 is of type t and reads only op i's output, which nothing else reads
  bool chained(size_t i, OpType t) const {
    return i + 1 < L_.ops() && L_.op(i + 1).type == t && L_.inputs[i + 1].size() == 1 &&
           L_.input(i + 1) == int(i + 1) && L_.only_consumer(i) == int(i + 1);
  }
  // Where op i + 1 is an add that alone reads op i's output, and its other input another tensor: that tensor
  // (formed before op i + 1 runs); else -1
  int residual_input(size_t i) const {
    if (i + 1 >= L_.ops() || L_.op(i + 1).type != OpType::Add || L_.only_consumer(i) != int(i + 1)) return -1;
    const int a = L_.input(i + 1, 0), b = L_.input(i + 1, 1);
    if (a == b) return -1;
    return a == int(i + 1) ? b : b == int(i + 1) ? a : -1;
  }
  // Whether op i's forward runs in the pass of a batch norm before it: a residual add that alone reads the batch
  // norm, and a ReLU that alone reads that add (plan_cpu's batch norm step runs them)
  bool in_batchnorm_pass(size_t i) const {
    if (i < 1 || i >= L_.ops()) return false;
    if (L_.op(i).type == OpType::Add) return L_.op(i - 1).type == OpType::BatchNorm && residual_input(i - 1) >= 0;
    return L_.op(i).type == OpType::Relu && chained(i - 1, OpType::Relu) && in_batchnorm_pass(i - 1);
  }
  bool conv3x3_valid(size_t i) const { return conv3x3(i) && L_.op(i).padding == Padding::Valid; }
  // a 3x3 convolution of stride 1, valid or same (the same ones run the 3x3 kernels on a zero-padded copy)
  bool conv3x3(size_t i) const {
    const OpSpec& op = L_.op(i);
    return op.type == OpType::Conv && op.kernel == 3 && op.stride == 1;
  }
  // the zero padding a 'same' 3x3 convolution's input gets for the 3x3 kernels (a pixel on each side)
  int padding(size_t i) const {
    const OpSpec& op = L_.op(i);
    return conv3x3(i) && op.padding == Padding::Same ? 2 : 0;
  }
  // the input the kernels see: padded where the convolution is 'same'
  Shape kin(size_t i) const {
    Shape s = L_.in(i);
    s.h += padding(i);
    s.w += padding(i);
    return s;
  }
  // conv -> ReLU -> max-pool, each reading only the one before
  bool block(size_t i) const { return conv3x3(i) && chained(i, OpType::Relu) && chained(i + 1, OpType::MaxPool2x2); }
  bool input_needs_grad(size_t i, size_t k = 0) const { return L_.needs_grad[L_.input(i, k)]; }
  // A block whose input needs no gradient (the first, on the image) runs fused: its backward is only the weight
  // gradient, routed from the pool's gradient by the code.
  bool first_block(size_t i) const { return block(i) && !input_needs_grad(i); }
  bool bf16_operands(size_t i) const {
    return bf16() && L_.in(i).c % avx512bf16::kLanes == 0 && L_.out(i).c % avx512bf16::kLanes == 0;
  }
  bool amx_first_block(size_t i) const { return first_block(i) && amx() && amx_fits_narrow(L_.in(i).c, L_.out(i).c); }
  // A later block on tiles: its forward pools from the tiles, its backward routes the pool's gradient by the code
  // straight into the conv's bf16 gradients.
  bool amx_pooled_block(size_t i) const {
    return block(i) && input_needs_grad(i) && amx() && bf16_operands(i) && amx_fits(L_.in(i).c, L_.out(i).c);
  }
  bool on_tiles(size_t i) const { return amx_first_block(i) || amx_pooled_block(i); }
  // Winograd for the convolutions with an output of at least 8x8 (below that the padding to whole tiles and the
  // transforms cost more than they save) whose input needs a gradient (the first conv, on 3 channels, suits it not)
  static constexpr int kMinWinogradOutput = 8;
  bool winograd(size_t i) const {
    const Shape &in = kin(i), &out = L_.out(i);
    return cpu_float() && o_.conv == ConvAlgorithm::Winograd && conv3x3(i) && input_needs_grad(i) &&
           out.h >= kMinWinogradOutput && out.w >= kMinWinogradOutput && winograd_fits(o_.isa, in.h, in.w, in.c, out.c);
  }
  // Whether conv i runs Winograd: where it takes the conv, but for a bf16 network's convolutions that its bf16
  // kernels take, unless Winograd with bf16 products takes them (below) or they have one bf16 vector of channels
  // each way (16), where those kernels are slower than Winograd (fmnist-res's first stage beside AMX)
  bool winograd_runs(size_t i) const {
    const bool narrow = L_.in(i).c <= avx512bf16::kLanes && L_.out(i).c <= avx512bf16::kLanes;
    return winograd(i) && (!bf16_operands(i) || narrow || winograd_bf16(i));
  }
  // A bf16 network on AVX512-BF16 runs the forward and input gradient of its even 'same' convolutions as F(2x2)
  // with bf16 products (winograd_bf16.h), and their weight gradients as a float32 network would: 2.25x fewer
  // products than its direct bf16 kernels (docs/benchmarks.md). Not on AMX, whose tiles run the direct ones; not
  // F(4x4), whose transforms magnify bf16's rounding: relative error 2.7e-2, F(2x2)'s 4.1e-3, the direct bf16
  // kernels' 2.2e-3 (scripts/check/winograd-bf16-error.mjs).
  bool winograd_bf16(size_t i) const {
    const Shape& in = L_.in(i);
    return bf16_operands(i) && !amx() && winograd(i) && padding(i) &&
           winograd_same_fits(o_.isa, in.h, in.w, in.c, L_.out(i).c);
  }
  // A Winograd 'same' convolution of even size reads its input's border as zeros: no padded copy, forward or back
  bool winograd_same(size_t i) const {
    const Shape& in = L_.in(i);
    return winograd_runs(i) && padding(i) && winograd_same_fits(o_.isa, in.h, in.w, in.c, L_.out(i).c);
  }
  // A float32 'same' 3x3 convolution with an output under F(2x2)'s minimum (fmnist-res's 7x7 stage)
  bool small_same(size_t i) const {
    return !bf16() && conv3x3(i) && padding(i) &&
           (L_.out(i).h < kMinWinogradOutput || L_.out(i).w < kMinWinogradOutput);
  }
  // Winograd F(4x4, 3x3) for a float32 network's 'same' 3x3 convolutions, all three ways, on the unpadded tensors:
  // 0.51-1.03x F(2x2)'s time a call in each direction, 16 to 64 channels on 8x8 to 36x36 maps (docs/benchmarks.md),
  // and it takes maps under F(2x2)'s 8x8 (fmnist-res's 7x7 stage) and odd ones without a padded copy. Its larger
  // rounding (relative rms 7e-7 against F(2x2)'s 1.6e-7) is no training concern: bf16 products, thousands of times
  // coarser, train face-res and fmnist-res as well. A bf16 network runs the weight gradients of its Winograd 'same'
  // convolutions on it, and on AVX512-BF16 without AMX the 'same' convolutions that bf16 products do not take (odd or
  // small maps: fmnist-res's 7x7 stage) all three ways, faster than its direct bf16 kernels there.
  bool winograd4_fits(size_t i) const {
    const Shape& in = L_.in(i);
    return cpu_float() && o_.conv == ConvAlgorithm::Winograd && conv3x3(i) && padding(i) &&
           winograd_fits(o_.isa, in.h + 2, in.w + 2, in.c, L_.out(i).c);
  }
  bool winograd4(size_t i) const { return winograd4_fits(i) && (!bf16() || (!amx() && !winograd_bf16(i))); }
  bool winograd4_weight(size_t i) const { return winograd4(i) || (winograd4_fits(i) && winograd_same(i)); }
  // Convolutions as matrix products over the pixels of all the images: those other than 3x3 of stride 1 (1x1,
  // 5x5, strided), and small 'same' 3x3 ones that F(4x4) does not take, where the direct kernels' row tiles are
  // ragged. The 3x3 valid convolutions (the seed's) keep their direct, Winograd and bf16 kernels and their bits.
  bool gemm(size_t i) const {
    if (!cpu_float() || o_.isa == Isa::Scalar || L_.op(i).type != OpType::Conv) return false;
    if (!conv3x3(i)) return true;
    return small_same(i) && !winograd4(i);
  }
  Impl gemm_impl() const { return o_.isa == Isa::Avx512 ? Impl::GemmAvx512 : Impl::GemmAvx2; }
  // Whether an op may overwrite tensor t in place: nothing else reads it, nor the tensor whose storage it shares.
  bool exclusive(int t) const {
    if (L_.consumers[size_t(t)].size() != 1) return false;
    return p_.storage_of[size_t(t)] == t || exclusive(L_.input(size_t(t) - 1));
  }
  Impl direct(int channels) const { return cpu_float() ? fp32_impl(o_.isa, channels) : Impl::Reference; }

  // Bytes of one image's buffers in a CPU network: its stored tensors, gradient slots, dropout masks, padded
  // copies (floats), pool codes and bf16 copies
  size_t image_bytes() const {
    size_t floats = L_.mask_size + p_.padded_size + size_t(p_.grad_slots) * p_.grad_slot_size;
    for (size_t t = 0; t <= L_.ops(); t++)
      if (p_.stored[t] && p_.storage_of[t] == int(t)) floats += L_.shapes[t].size();
    return 4 * floats + p_.code_size + 2 * p_.bf16_size;
  }

  int pack(int op, Packing kind, bool input = false) {
    const Shape &in = L_.in(op), &out = L_.out(op);
    PackedWeights w{op, kind, input, 0, 0};
    switch (kind) {
      case Packing::Bf16: w.size = size_t(2) * avx512bf16::packed_kernel_size(in.c, out.c); break;
      case Packing::AmxNarrow: w.size = amx_narrow_kernel_size(out.c); break;
      case Packing::Flipped: w.size = size_t(9) * in.c * out.c; break;
      case Packing::Winograd:
      case Packing::Winograd4: w.size = size_t(9 + 2 * winograd_positions(kind)) * in.c * out.c; break;
      case Packing::WinogradBf16:
        w.size = avx512bf16::winograd_packed_size(in.c, out.c) + avx512bf16::winograd_packed_size(out.c, in.c);
        break;
      case Packing::Transposed: w.size = size_t(in.c) * out.c; break;
      case Packing::None: break;
    }
    const bool words = kind == Packing::Bf16 || kind == Packing::AmxNarrow || kind == Packing::WinogradBf16;
    size_t& total = words ? p_.packed_words : p_.packed_floats;
    w.offset = total;
    total += (w.size + 15) / 16 * 16;  // each from a 64-byte boundary
    p_.packing.push_back(w);
    return int(p_.packing.size() - 1);
  }

  Step step(Dir d, StepKind k, size_t op, int ops, Impl impl) const {
    Step s;
    s.dir = d;
    s.kind = k;
    s.op = int(op);
    s.ops = ops;
    s.impl = impl;
    return s;
  }

  void keep_code(size_t i) {
    p_.code_offset[i] = p_.code_size;
    p_.code_size += L_.out(i + 2).size();
  }

  // A convolution whose fast kernels run on a zero-padded copy of its input: the copy's place in the network's
  // per-image buffer of them (it stays for the backward), and the padded input gradient's scratch.
  void pad_input(Step& f, Step& b, size_t i) {
    f.pad = b.pad = padding(i);
    f.padded = b.padded = p_.padded_size;
    p_.padded_size += (kin(i).size() + 15) / 16 * 16;
    if (input_needs_grad(i)) p_.padded_grad_size = std::max(p_.padded_grad_size, kin(i).size());
    f.workspace += sizeof(float) * kin(i).size();
  }

  void plan_cpu() {
    const size_t n = L_.ops();
    for (size_t i = 0; i < n; i++) {
      const OpSpec& op = L_.op(i);
      const Shape &in = kin(i), &out = L_.out(i);
      if (block(i) && (first_block(i) || amx_pooled_block(i)) && (cpu_float() || !padding(i))) {
        Step f = step(Dir::Forward, StepKind::ConvBlock, i, 3, Impl::Reference);
        Step b = step(Dir::Backward, StepKind::ConvBlock, i, 3, Impl::Reference);
        keep_code(i);
        f.workspace = b.workspace = L_.out(i + 2).size();
        if (on_tiles(i)) {
          f.impl = b.impl = amx_impl();
          if (amx_pooled_block(i)) {
            f.packed = b.packed = pack(i, Packing::Bf16, true);
            b.input_impl = amx_impl();
            // its input in bf16 where the block before ran on tiles and left it so
            const int t = L_.input(i);
            if (t >= 3 && on_tiles(size_t(t) - 3) && p_.bf16_offset[t] != kNone) f.bf16_in = b.bf16_in = true;
          } else {
            f.packed = pack(i, Packing::AmxNarrow);
          }
          // the next block on tiles reads this one's output in bf16 (unless it reads a padded copy)
          const int next = L_.only_consumer(i + 2);
          if (next >= 0 && amx_pooled_block(size_t(next)) && !padding(size_t(next))) {
            f.bf16_out = true;
            const Shape& s = L_.out(i + 2);
            p_.bf16_offset[i + 3] = p_.bf16_size;
            p_.bf16_size += (amx_block_input_size(s.h, s.w, s.c) + 31) / 32 * 32;  // 64-byte steps
            f.workspace += sizeof(uint16_t) * amx_block_input_size(s.h, s.w, s.c);
          }
        } else if (cpu_float()) {
          f.impl = direct(out.c);
          // the weight gradient: fused in the fp32 tiers; a bf16 network's runs band by band with its bf16 kernels
          b.impl = !bf16() ? direct(out.c) : amx() && amx_fits(in.c, out.c) ? amx_impl() : Impl::Avx512Bf16;
        }
        p_.stored[i + 1] = p_.stored[i + 2] = false;  // the conv's and the ReLU's outputs are never formed
        if (padding(i)) pad_input(f, b, i);
        p_.forward.push_back(f);
        p_.backward.push_back(b);
        i += 2;
        continue;
      }
      switch (op.type) {
        case OpType::Conv: {
          const bool relu = chained(i, OpType::Relu);
          Step f = step(Dir::Forward, StepKind::Conv, i, relu ? 2 : 1, direct(out.c));
          Step b = step(Dir::Backward, StepKind::Conv, i, 1, direct(out.c));
          f.relu = relu;
          const bool din = input_needs_grad(i);
          if (winograd4(i)) {
            f.impl = b.impl = o_.isa == Isa::Avx512 ? Impl::Winograd4Avx512 : Impl::Winograd4Avx2;
            if (din) b.input_impl = f.impl;
            f.packed = b.packed = pack(i, Packing::Winograd4);
          } else if (gemm(i)) {
            f.impl = b.impl = gemm_impl();
            if (din) b.input_impl = gemm_impl();
          } else if (!conv3x3(i)) {  // (a double or scalar network) the reference takes any geometry
            f.impl = b.impl = Impl::Reference;
            if (din) b.input_impl = Impl::Reference;
          } else if (bf16_operands(i) && !winograd_runs(i)) {
            const Impl k = amx() && amx_fits(in.c, out.c) ? amx_impl() : Impl::Avx512Bf16;
            f.impl = k;
            f.packed = b.packed = pack(i, Packing::Bf16, true);
            if (din) b.input_impl = k;
          } else if (winograd_runs(i)) {
            f.impl = b.impl = b.input_impl = o_.isa == Isa::Avx512 ? Impl::WinogradAvx512 : Impl::WinogradAvx2;
            if (winograd4_weight(i))
              b.impl = o_.isa == Isa::Avx512 ? Impl::Winograd4Avx512 : Impl::Winograd4Avx2;
            if (winograd_bf16(i)) f.impl = b.input_impl = Impl::WinogradBf16;
            f.packed = b.packed = pack(i, winograd_bf16(i) ? Packing::WinogradBf16 : Packing::Winograd);
          } else if (din) {
            b.input_impl = direct(in.c);
            // the fp32 fast tiers take the kernel flipped once per step
            if (!bf16() && b.input_impl != Impl::Reference) b.packed = pack(i, Packing::Flipped);
          }
          if (bf16() && conv3x3(i) && !winograd_runs(i) && !winograd4(i)) {  // the weight gradient in bf16 wherever a bf16 kernel takes the shape
            if (amx() && amx_fits(in.c, out.c)) b.impl = amx_impl();
            else if (amx() && amx_fits_narrow(in.c, out.c)) b.impl = amx_impl();
            else if (out.c % avx512bf16::kLanes == 0) b.impl = Impl::Avx512Bf16;
            else b.impl = fp32_impl(Isa::Avx512, out.c);
          }
          // a 'same' convolution: the kernels run on a padded copy, or the reference takes the geometry itself
          // (a double network's reference, gemm and Winograd's 'same' and F(4x4) kernels take the geometry)
          if (padding(i) && cpu_float() && !gemm(i) && !winograd_same(i) && !winograd4(i)) pad_input(f, b, i);
          if (relu) p_.storage_of[i + 2] = int(i + 1);
          p_.forward.push_back(f);
          p_.backward.push_back(b);
          if (relu) {  // the ReLU's backward, unless a max-pool's backward takes it
            if (!chained(i + 1, OpType::MaxPool2x2)) p_.backward.push_back(step(Dir::Backward, StepKind::Relu, i + 1, 1, Impl::Reference));
            i++;
          }
          break;
        }
        case OpType::Relu: {
          if (!in_batchnorm_pass(i)) p_.forward.push_back(step(Dir::Forward, StepKind::Relu, i, 1, Impl::Reference));
          if (exclusive(L_.input(i))) p_.storage_of[i + 1] = p_.storage_of[L_.input(i)];
          if (!chained(i, OpType::MaxPool2x2)) p_.backward.push_back(step(Dir::Backward, StepKind::Relu, i, 1, Impl::Reference));
          break;
        }
        case OpType::MaxPool2x2: {
          Step f = step(Dir::Forward, StepKind::MaxPool, i, 1, direct(in.c));
          // after a ReLU that feeds only it: one backward pass for both
          const int r = L_.input(i) - 1;
          const bool relu = r >= 0 && L_.op(size_t(r)).type == OpType::Relu && chained(size_t(r), OpType::MaxPool2x2);
          Step b = step(Dir::Backward, StepKind::MaxPool, relu ? size_t(r) : i, relu ? 2 : 1, direct(in.c));
          b.relu = relu;
          // where a thread's whole share goes through each step (batch norm), the backward would read the window's
          // four inputs from memory long after the forward: the fast tiers keep each output's position, a byte
          // (with a micro-batch the inputs are still in cache, and the codes only cost)
          if (f.impl != Impl::Reference && L_.has_batch_coupling()) {
            f.pool_code = b.pool_code = p_.code_size;
            p_.code_size += L_.out(i).size();
            f.relu = relu;  // (its codes mark the maxima the ReLU's backward stops)
          }
          p_.forward.push_back(f);
          p_.backward.push_back(b);
          break;
        }
        case OpType::Flatten:
          p_.storage_of[i + 1] = p_.storage_of[L_.input(i)];
          p_.forward.push_back(step(Dir::Forward, StepKind::Flatten, i, 1, Impl::None));
          p_.backward.push_back(step(Dir::Backward, StepKind::Flatten, i, 1, Impl::None));
          break;
        case OpType::Dense: {
          // (the fast dense kernels give the reference's bits: their tier changes the speed only)
          Step b = step(Dir::Backward, StepKind::Dense, i, 1, direct(out.c));
          if (input_needs_grad(i)) {
            b.input_impl = direct(in.c);
            if (b.input_impl != Impl::Reference) b.packed = pack(i, Packing::Transposed);
          }
          p_.forward.push_back(step(Dir::Forward, StepKind::Dense, i, 1, direct(out.c)));
          p_.backward.push_back(b);
          break;
        }
        case OpType::Dropout:
          p_.forward.push_back(step(Dir::Forward, StepKind::Dropout, i, 1, Impl::Reference));
          p_.backward.push_back(step(Dir::Backward, StepKind::Dropout, i, 1, Impl::Reference));
          break;
        case OpType::GlobalAvgPool:
          p_.forward.push_back(step(Dir::Forward, StepKind::GlobalAvgPool, i, 1, direct(in.c)));
          p_.backward.push_back(step(Dir::Backward, StepKind::GlobalAvgPool, i, 1, direct(in.c)));
          break;
        case OpType::Add:
          if (!in_batchnorm_pass(i)) p_.forward.push_back(step(Dir::Forward, StepKind::Add, i, 1, Impl::Reference));
          p_.backward.push_back(step(Dir::Backward, StepKind::Add, i, 1, Impl::Reference));
          break;
        case OpType::BatchNorm: {
          const Impl k = !cpu_float() ? Impl::Reference : o_.isa == Isa::Avx512 ? Impl::Avx512
                         : o_.isa == Isa::Avx2 ? Impl::Avx2 : Impl::Reference;
          // a residual add that reads only it (and a ReLU that reads only the add) runs in its forward pass
          // (in_batchnorm_pass): the batch norm's output is never formed, the add's is ReLU'd in place; the add's
          // and the ReLU's own cases plan their backward steps and storage
          if (const int other = residual_input(i); other >= 0) {
            Step f = step(Dir::Forward, StepKind::BatchNorm, i, in_batchnorm_pass(i + 2) ? 3 : 2, k);
            f.residual = other;
            f.relu = f.ops == 3;
            p_.forward.push_back(f);
            p_.backward.push_back(step(Dir::Backward, StepKind::BatchNorm, i, 1, k));
            p_.stored[i + 1] = false;
            break;
          }
          // a ReLU that reads only it runs in its passes (in place), both ways; the fast tiers take any channels.
          // Where a max-pool alone reads that ReLU, the pool's backward takes the ReLU's (as after a conv).
          const bool relu = chained(i, OpType::Relu);
          const bool relu_back = relu && !chained(i + 1, OpType::MaxPool2x2);
          Step f = step(Dir::Forward, StepKind::BatchNorm, i, relu ? 2 : 1, k);
          Step b = step(Dir::Backward, StepKind::BatchNorm, i, relu_back ? 2 : 1, k);
          f.relu = relu;
          b.relu = relu_back;
          // the ReLU's positive bits for the backward: a 32nd of the bytes of its output, which the backward's two
          // passes otherwise stream (with the gradient and the input) only to test; whole bytes an image and
          // vector of channels
          if (relu_back && k != Impl::Reference && L_.in(i).c % 8 == 0) {
            f.relu_mask = b.relu_mask = p_.code_size;
            p_.code_size += L_.in(i).size() / 8;
          }
          p_.forward.push_back(f);
          p_.backward.push_back(b);
          if (relu) {
            p_.storage_of[i + 2] = int(i + 1);
            i++;
          }
          break;
        }
      }
    }
    // (the backward steps were listed in op order; they run in reverse)
    std::reverse(p_.backward.begin(), p_.backward.end());
  }

  void plan_cuda() {
    const size_t n = L_.ops();
    for (size_t i = 0; i < n; i++) {
      const OpSpec& op = L_.op(i);
      StepKind k = StepKind::Relu;
      switch (op.type) {
        case OpType::Conv: k = StepKind::Conv; break;
        case OpType::Relu: k = StepKind::Relu; break;
        case OpType::MaxPool2x2: k = StepKind::MaxPool; break;
        case OpType::Flatten: k = StepKind::Flatten; break;
        case OpType::Dense: k = StepKind::Dense; break;
        case OpType::Dropout: k = StepKind::Dropout; break;
        case OpType::GlobalAvgPool: k = StepKind::GlobalAvgPool; break;
        case OpType::Add: k = StepKind::Add; break;
        case OpType::BatchNorm: k = StepKind::BatchNorm; break;
      }
      const Impl impl = k == StepKind::Flatten ? Impl::None : Impl::Cuda;
      Step f = step(Dir::Forward, k, i, 1, impl), b = step(Dir::Backward, k, i, 1, impl);
      // a ReLU after a conv is folded into the conv's store, and works in place
      if (k == StepKind::Conv && chained(i, OpType::Relu)) {
        f.relu = true;
        f.ops = 2;
      }
      // a ReLU that reads only a batch norm runs in its passes both ways (in place), as plan_cpu fuses it
      if (k == StepKind::BatchNorm && chained(i, OpType::Relu)) {
        f.relu = b.relu = true;
        f.ops = b.ops = 2;
        p_.storage_of[i + 2] = int(i + 1);
        p_.forward.push_back(f);
        p_.backward.push_back(b);
        i++;
        continue;
      }
      if (k == StepKind::Conv && input_needs_grad(i)) b.input_impl = Impl::Cuda;
      if (k == StepKind::Flatten || (k == StepKind::Relu && exclusive(L_.input(i))))
        p_.storage_of[i + 1] = p_.storage_of[L_.input(i)];
      if (!(i > 0 && k == StepKind::Relu && p_.forward.back().relu && p_.forward.back().op == int(i) - 1))
        p_.forward.push_back(f);
      p_.backward.push_back(b);
    }
    std::reverse(p_.backward.begin(), p_.backward.end());
  }

  // Whether the backward of conv step s may add its input gradient into the slot another consumer formed (no
  // GradAdd step after it): the float32 F(4x4) input gradient, which writes each element once
  static bool accumulates_input(const Step& s) { return s.kind == StepKind::Conv && is_winograd4(s.input_impl); }
  // Whether add op a's output gradient, held in place by the input that op a - 1 produced, may also stand as the
  // gradient of its other input (no copy): op a - 1 is a batch norm, whose backward step comes next and reads the
  // slot without writing it; every step that later adds into it or passes it on in place belongs to the other
  // input's ops, which come before a - 1
  bool shares_add_gradient(size_t a) const {
    return L_.op(a).type == OpType::Add && a > 0 && L_.op(a - 1).type == OpType::BatchNorm &&
           (L_.input(a, 0) == int(a) || L_.input(a, 1) == int(a));
  }

  // A batch-coupled network's forward phases run from one batch norm's barrier to the next: the normalising pass of
  // the batch norm before, the steps between and the next one's statistics. Taken a few images at a time, a phase's
  // tensors stay in cache from step to step (the 28x28 stage of fmnist-res: 50 KB an image each, a 64-image share
  // 3.2 MB): chunks of about the options' chunk_bytes (512 KB, half of L2) of the phase's inputs and outputs.
  // (Backward, chunks gained in the convolutions what they lost in the batch norms, whose inputs come from the
  // forward long before.)
  void plan_chunks() {
    size_t bytes = 0;  // an image's, of the phase so far
    auto add_step = [&](const Step& s) {
      bytes += 4 * (L_.shapes[size_t(L_.input(size_t(s.op)))].size() + L_.shapes[size_t(s.op + s.ops)].size());
    };
    for (Step& s : p_.forward) {
      if (s.kind != StepKind::BatchNorm) {
        add_step(s);
        continue;
      }
      bytes += 4 * L_.shapes[size_t(L_.input(size_t(s.op)))].size();
      s.chunk = int(std::clamp<size_t>(o_.chunk_bytes / bytes, 1, 1 << 20));
      bytes = 0;
      add_step(s);  // its pass opens the next phase
    }
  }

  // The backward steps that are needed (their output tensor depends on parameters), with their gradient slots:
  // a slot is taken when a gradient is formed and given back when the steps of all the tensors whose gradient it
  // holds are done, so a chain uses two. A ReLU's and a flatten's input gradient is their output gradient, in
  // place, where nothing else reads their input; so is one input's of an add, and the other's where
  // shares_add_gradient. A tensor read by several ops gets its gradient from the first of them run backward, and
  // the others' contributions are added into it: by the conv step itself where accumulates_input, else by a
  // GradAdd step.
  void plan_gradients() {
    std::vector<Step> backward;
    std::vector<int> free_slots, holders;  // [slots] tensors whose gradient a slot holds, until their producer's step
    auto take = [&]() {
      if (free_slots.empty()) {
        holders.push_back(0);
        return p_.grad_slots++;
      }
      const int s = free_slots.back();
      free_slots.pop_back();
      return s;
    };
    auto release = [&](int slot) {
      if (--holders[size_t(slot)] == 0) free_slots.push_back(slot);
    };
    const size_t n = L_.ops();
    p_.grad_slot[n] = take();  // the loss's gradient of the logits
    holders[size_t(p_.grad_slot[n])] = 1;
    for (Step s : p_.backward) {
      const size_t last = size_t(s.op + s.ops - 1);
      if (!L_.needs_grad[last + 1]) continue;
      const int out_slot = p_.grad_slot[last + 1];
      s.grad_out = out_slot;
      std::vector<Step> adds;
      bool released = false;
      for (size_t k = 0; k < L_.inputs[size_t(s.op)].size(); k++) {
        const int t = L_.input(size_t(s.op), k);
        if (!L_.needs_grad[t]) continue;
        // (an add passes its gradient unchanged: one input, read by nothing else, takes it in place; the other
        // shares it where shares_add_gradient)
        const bool passes = s.kind == StepKind::Relu || s.kind == StepKind::Flatten || (s.kind == StepKind::Add && !released);
        const bool in_place = passes && L_.consumers[t].size() == 1;
        const bool shared = !in_place && s.kind == StepKind::Add && p_.grad_slot[t] < 0 && shares_add_gradient(size_t(s.op));
        if (p_.grad_slot[t] >= 0 && accumulates_input(s)) {  // another consumer formed it first: add into it
          s.grad_in[k] = p_.grad_slot[t];
          s.accumulate = true;
          continue;
        }
        int slot;
        if (in_place || shared) {
          slot = out_slot;
          released |= in_place;
        } else {
          slot = take();
        }
        holders[size_t(slot)]++;
        if (p_.grad_slot[t] < 0) {
          p_.grad_slot[t] = slot;
        } else {  // another consumer formed it first: add this contribution into it
          Step a;
          a.dir = Dir::Backward;
          a.kind = StepKind::GradAdd;
          a.op = s.op;
          a.impl = Impl::Reference;
          a.grad_out = slot;
          a.grad_in[0] = p_.grad_slot[t];
          adds.push_back(a);
        }
        s.grad_in[k] = slot;
      }
      backward.push_back(s);
      release(out_slot);
      for (const Step& a : adds) {
        backward.push_back(a);
        release(a.grad_out);
      }
    }
    p_.backward = backward;
    size_t largest = 0;
    for (size_t t = 0; t <= n; t++)
      if (p_.grad_slot[t] >= 0) largest = std::max(largest, L_.shapes[t].size());
    p_.grad_slot_size = largest;
  }
};

}  // namespace

Plan make_plan(const Layout& layout, const PlanOptions& options) { return Planner(layout, options).run(); }

}  // namespace engine
