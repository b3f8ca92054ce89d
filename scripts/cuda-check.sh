#!/usr/bin/env bash
# The GPU check: run on a machine with an NVIDIA GPU and no Rust toolchain, from the repository
# root, with gpu-bundle/ (or gpu-bundle.tar.xz) built beforehand by scripts/build-gpu-bundle.sh. It
#   1. finds libcuda, NVRTC, cuBLAS (and cuDNN, NCCL) itself: ldconfig, the driver's folder,
#      /usr/local/cuda, and the NVIDIA wheels' nvidia/*/lib folders of any Python environment;
#   2. prints `tiny-torch env`, then runs the CUDA conformance suite, PyTorch's golden ops and
#      gradients (autograd on CUDA), the MLP training run against PyTorch's losses, the CLI
#      conformance report, and the NVRTC compile test of every kernel, all with
#      TINY_TORCH_REQUIRE=cuda (a skip is a failure);
#   3. runs the criterion benches of the CUDA backend and, when PyTorch is installed, times the
#      same cases with PyTorch on the same GPU and prints the ratios.
# Logs go to $OUT (or gpu-logs/). Exit status: the number of failed steps.
# QUICK=1: a short run for a small device budget (no CLI, NCCL, MNIST, wgpu or kernel compile
# test; of the whole-step criterion benches ResNet-50 alone). BUDGET=S (below) ends the run
# after S seconds: `QUICK=1 BUDGET=420 bash scripts/cuda-check.sh` (about 3 minutes on an
# H200, 2026-11-27).
set -uo pipefail
cd "$(dirname "$0")/.."
bundle=gpu-bundle
[ -d "$bundle" ] || tar -xJf gpu-bundle.tar.xz
logs=${OUT:-gpu-logs}
mkdir -p "$logs"
summary="$logs/summary.txt"
: > "$summary"

# ---------------------------------------------------------------- libraries
lib_dirs=()
for dir in /usr/local/nvidia/lib64 /usr/lib/x86_64-linux-gnu /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
  [ -d "$dir" ] && lib_dirs+=("$dir")
done
while IFS= read -r dir; do lib_dirs+=("$dir"); done < <(
  find /opt /usr/local /root -maxdepth 9 -type d -path '*site-packages/nvidia/*/lib' 2>/dev/null | sort)
# cudarc opens libnccl.so, the NCCL wheel ships only libnccl.so.2: link it in a folder of ours.
mkdir -p gpu-libs
for dir in "${lib_dirs[@]}"; do
  if [ -e "$dir/libnccl.so.2" ] && [ ! -e "$dir/libnccl.so" ]; then
    ln -sfn "$dir/libnccl.so.2" gpu-libs/libnccl.so && lib_dirs+=("$PWD/gpu-libs") && break
  fi
done
export LD_LIBRARY_PATH="$(IFS=:; echo "${lib_dirs[*]}")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
find_lib() {
  local name=$1 dir
  ldconfig -p 2>/dev/null | grep -q "$name" && { echo "$name: $(ldconfig -p | grep -m1 "$name" | awk '{print $NF}')"; return; }
  for dir in "${lib_dirs[@]}"; do
    [ -e "$dir/$name" ] && { echo "$name: $dir/$name"; return; }
  done
  echo "$name: NOT FOUND"
}
{
  echo "== $(date -u) on $(hostname)"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1
  for lib in libcuda.so.1 libnvrtc.so.13 libcublas.so.13 libcublasLt.so.13 libcudnn.so.9 libnccl.so.2; do
    find_lib "$lib"
  done
} | tee "$logs/environment.txt"

# The test binaries read tests/data under the path they were built in.
build_root=$(cat "$bundle/BUILD_ROOT")
if [ ! -e "$build_root/tests/data" ]; then
  mkdir -p "$(dirname "$build_root")" && ln -sfn "$PWD" "$build_root"
fi
export TINY_TORCH_REQUIRE=cuda TINY_TORCH_KERNEL_CACHE="$PWD/gpu-kernel-cache" RUST_BACKTRACE=1

failed=0
skipped=0
# BUDGET=S: the run ends S seconds after its start (a lent GPU's time is short): a step's
# limit is cut to the time left, and a step that finds under 15 s left is skipped (listed in
# the summary; not a failure). The steps come most telling first.
step() {
  local name=$1 limit=$2
  shift 2
  local cut=""
  if [ -n "${BUDGET:-}" ]; then
    local left=$((BUDGET - SECONDS))
    if [ "$left" -lt 15 ]; then
      printf '%-16s %s\n' "$name" "skipped (budget)" | tee -a "$summary"
      skipped=$((skipped + 1))
      return 0
    fi
    [ "$left" -lt "$limit" ] && { limit=$left; cut=1; }
  fi
  local start=$SECONDS
  # -k: a process that ignores SIGTERM (stuck in a driver call) is killed 5 s later.
  timeout -k 5 "$limit" "$@" > "$logs/$name.log" 2>&1
  local status=$?
  local verdict=ok
  if [ $status -eq 124 ] || [ $status -eq 137 ]; then
    if [ -n "$cut" ]; then
      verdict="stopped (budget)"   # cut short by BUDGET: not a failure
      skipped=$((skipped + 1))
      status=0
    else
      verdict="TIMED OUT (${limit}s)"
    fi
  elif [ $status -ne 0 ]; then
    verdict="FAILED ($status)"
  fi
  [ $status -ne 0 ] && failed=$((failed + 1))
  printf '%-16s %-18s %4ss\n' "$name" "$verdict" $((SECONDS - start)) | tee -a "$summary"
  [ $status -ne 0 ] && tail -n 60 "$logs/$name.log"
  return 0
}

# Prints a step's log, when the step ran.
show() {
  [ -f "$logs/$1.log" ] && cat "$logs/$1.log"
  return 0
}

quick=""
[ "${QUICK:-0}" != 0 ] && quick=1

# A step the QUICK mode leaves out.
full_step() {
  [ -n "$quick" ] || step "$@"
}

python=""
for p in /opt/torch/.venv/bin/python python3; do
  if command -v "$p" >/dev/null &&
     timeout -k 5 60 "$p" -c 'import torch, torchvision; assert torch.cuda.is_available()' 2>/dev/null; then
    python=$p; break
  fi
done
[ -n "$python" ] || echo "PyTorch with CUDA and torchvision not found: no PyTorch timings" | tee -a "$summary"
# A step that needs PyTorch.
torch_step() {
  [ -n "$python" ] && step "$@"
  return 0
}

# ---------------------------------------------------------------- correctness
# What the binaries find here: libraries and their versions, devices (`tiny-torch env`).
step env         30 "$bundle/tiny-torch" env
show env
step conformance 90 "$bundle/conformance" cuda::
step golden      40 "$bundle/golden" cuda

# ---------------------------------------------------------------- the ResNet step
# Whole ResNet training steps (cuDNN convolutions and batch norm, our pooling, foreach SGD),
# split into forward, backward and optimizer (each ended by a synchronization).
step phases      60 "$bundle/step_phases" cuda 20
show phases
# The criterion step bench (QUICK: ResNet-50 alone), which PyTorch's steps are set against.
train_cases="cuda/train"; [ -n "$quick" ] && train_cases="cuda/train/resnet50"
step train_bench 100 "$bundle/train" --bench "$train_cases" --warm-up-time 1 --measurement-time 3 --noplot
# PyTorch's steps on the same GPU (ratios against train_bench.log when it ran).
torch_step torch_train 90 "$python" scripts/torch_cuda_bench.py --only train --ours "$logs/train_bench.log" --json "$logs/torch_train.json"
show torch_train
# Convolutions on cuDNN's legacy API (TINY_TORCH_CUDNN_GRAPH=0; by default it runs only a
# forward with a bias and shapes without a graph plan), and in benchmark mode (graph plans
# timed per shape; see docs/cuda.md).
TINY_TORCH_CUDNN_GRAPH=0 step legacy_conv 90 "$bundle/conformance" cuda::conv
TINY_TORCH_CUDNN_GRAPH=0 step legacy_golden 40 "$bundle/golden" cuda
step benchmark_conv 90 "$bundle/conformance" cuda_benchmark::
TINY_TORCH_CUDNN_GRAPH=0 step phases_legacy 60 "$bundle/step_phases" cuda 20
show phases_legacy
# Where the ResNet-50 step's time goes, op by op, ours and PyTorch's (torch.profiler).
step profile     60 "$bundle/step_phases" cuda 5 50_8x224 profile
torch_step torch_profile 60 "$python" scripts/torch_profile_step.py --steps 5 resnet50_8x224
step mlp_train   30 "$bundle/mlp_train" cuda
# Training-mode f32/f64 batch norm runs on cuDNN; this checks our own kernels for it too.
TINY_TORCH_CUDNN_BATCH_NORM=0 step own_bn 60 "$bundle/conformance" cuda::batch_norm
# The 224² steps with cuDNN's benchmark mode (PyTorch's torch.backends.cudnn.benchmark).
step phases_benchmark 60 "$bundle/step_phases" cuda 20 8x224 benchmark
show phases_benchmark

# ---------------------------------------------------------------- op benches
# BENCH_FILTER picks cases (a regex; default: the headline ones) to keep the run short.
step bench       60 "$bundle/ops" --bench "${BENCH_FILTER:-cuda/(matmul/(1024|4096)|matmul_bfloat16/8192|matmul_tf32/8192|elementwise|reduce|conv2d|nn)}" --warm-up-time 0.5 --measurement-time 1 --noplot
torch_step torch_ops 90 "$python" scripts/torch_cuda_bench.py --only ops --ours "$logs/bench.log" --json "$logs/torch_ops.json"
show torch_ops
# Batch norm on our own kernels instead of cuDNN's, to compare with the cuda/nn cases above.
TINY_TORCH_CUDNN_BATCH_NORM=0 step own_bn_bench 30 "$bundle/ops" --bench "cuda/nn/batch_norm" --warm-up-time 0.5 --measurement-time 1 --noplot
grep -h "time:" -B1 "$logs/own_bn_bench.log" 2>/dev/null | head -8
# The convolution benches on the legacy API (compare with bench.log).
TINY_TORCH_CUDNN_GRAPH=0 step legacy_bench 40 "$bundle/ops" --bench "cuda/conv2d" --warm-up-time 0.5 --measurement-time 1 --noplot
grep -h "time:" -B1 "$logs/legacy_bench.log" 2>/dev/null | head -12

# ---------------------------------------------------------------- the rest (full runs)
full_step cli    20 "$bundle/tiny-torch" conformance --golden tests/data/golden --device cuda
[ -f "$logs/cli.log" ] && head -40 "$logs/cli.log"
# NCCL with one GPU is a world of 1: every collective and DDP go through NCCL for real, but a
# world of several ranks needs several GPUs (tiny-torch run --nproc-per-node N there).
if [ -z "$quick" ]; then
  echo "nccl: one GPU here, so a world of 1 process" | tee -a "$summary"
  step nccl      60 "$bundle/nccl" --test-threads=1
fi
# A short MNIST training run on the GPU: one epoch of the full set when the bundle carries it,
# else of the 10,000 images embedded in the example.
mnist_data=(); [ -d "$bundle/mnist-data" ] && mnist_data=(--data "$bundle/mnist-data")
full_step mnist  75 "$bundle/mnist" --device cuda --epochs 1 "${mnist_data[@]}" --out gpu-runs/mnist
[ -f "$logs/mnist.log" ] && tail -n 4 "$logs/mnist.log"
# The wgpu backend on the GPU's own Vulkan driver, when the machine has one.
if [ -z "$quick" ] && ls /usr/share/vulkan/icd.d/*nvidia* /etc/vulkan/icd.d/*nvidia* >/dev/null 2>&1; then
  TINY_TORCH_REQUIRE=wgpu step wgpu_conformance 120 "$bundle/conformance" wgpu::
  step wgpu_bench 90 "$bundle/ops" --bench "wgpu/" --warm-up-time 0.5 --measurement-time 1 --noplot
elif [ -z "$quick" ]; then
  echo "no NVIDIA Vulkan driver (ICD) here: wgpu steps skipped" | tee -a "$summary"
fi
# The NVRTC + ptxas compile test (CI runs it too), with the machine's own NVRTC.
export PATH="/usr/local/cuda/bin:$PATH"
full_step kernels 150 "$bundle/kernels" --test-threads=1
echo "== summary"; cat "$summary"
exit $failed
