#!/usr/bin/env bash
# Builds, on a machine with Rust (no GPU needed), the binaries that scripts/cuda-check.sh runs on
# a GPU machine without Rust, stripped, into gpu-bundle/ (ignored by git):
#   conformance, golden, mlp_train   the test binaries (CUDA cases run where a GPU is)
#   ops, train                       the criterion benches (CPU, CUDA, wgpu; ResNet training steps)
#   tiny-torch                       the CLI (`conformance --device cuda`)
#   kernels                          the NVRTC compile test of every kernel file
#   nccl                             NCCL collectives and DDP on CUDA tensors (a world of 1)
#   mnist, step_phases               the MNIST training example (`--device cuda`), the phases of a
#                                    ResNet training step
# and packs them into gpu-bundle.tar.xz (~40 MB with the MNIST data, from ~170: what travels to
# a GPU machine is size-limited). Usage: scripts/build-gpu-bundle.sh, then carry gpu-bundle.tar.xz with the repo;
# scripts/cuda-check.sh unpacks it.
set -euo pipefail
cd "$(dirname "$0")/.."
out=gpu-bundle
rm -rf "$out" && mkdir -p "$out"

# The executable of each artifact named in cargo's JSON messages.
executables() {
  python3 -c '
import json, sys
for line in sys.stdin:
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    if msg.get("reason") == "compiler-artifact" and msg.get("executable"):
        print(msg["target"]["name"], msg["executable"])
'
}

{
  cargo test --release -j2 --no-run --message-format=json \
    --test conformance --test golden --test mlp_train --test cli
  cargo test --release -j2 --no-run --message-format=json -p tiny-torch-cuda --test kernels
  cargo test --release -j2 --no-run --message-format=json -p tiny-torch-distributed --features nccl --test nccl
  cargo bench -j2 --no-run --message-format=json --bench ops --bench train
  cargo build --release -j2 --message-format=json --example mnist --example step_phases
} | executables | while read -r name path; do
  [ "$name" = cli ] && continue   # built only for the tiny-torch binary it needs
  cp "$path" "$out/$name"
  strip "$out/$name"
done
# The full MNIST set, when this machine has it, travels with the bundle (11 MB of .gz files).
[ -d ../shared/data/mnist ] && mkdir -p "$out/mnist-data" && cp ../shared/data/mnist/*.gz "$out/mnist-data/"
# The test binaries read tests/data through the path they were built in; record it.
echo "$PWD" > "$out/BUILD_ROOT"
tar -cJf gpu-bundle.tar.xz "$out"
ls -la "$out" gpu-bundle.tar.xz
