#!/usr/bin/env bash
# The GPU check: run on a machine with an NVIDIA GPU and no Rust toolchain, from the repository
# root, with gpu-bundle/ (or gpu-bundle.tar.xz) built beforehand by scripts/build-gpu-bundle.sh. It
#   1. finds libcuda, NVRTC, cuBLAS (and cuDNN, NCCL) itself: ldconfig, the driver's folder,
#      /usr/local/cuda, and the NVIDIA wheels' nvidia/*/lib folders of any Python environment;
#   2. runs the CUDA conformance suite, PyTorch's golden ops and gradients (autograd on CUDA),
#      the MLP training run against PyTorch's losses, the CLI conformance report, and the NVRTC
#      compile test of every kernel, all with TINY_TORCH_REQUIRE=cuda (a skip is a failure);
#   3. runs the criterion benches of the CUDA backend and, when PyTorch is installed, times the
#      same cases with PyTorch on the same GPU and prints the ratios.
# Logs go to $OUT (or gpu-logs/). Exit status: the number of failed steps.
# QUICK=1: a short run for a small device budget (no CLI, NCCL, MNIST, whole-step criterion
# bench or kernel compile test; step_phases gives the step times).
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
step() {
  local name=$1 limit=$2
  shift 2
  local start=$SECONDS
  timeout "$limit" "$@" > "$logs/$name.log" 2>&1
  local status=$?
  local verdict=ok
  [ $status -ne 0 ] && { verdict="FAILED ($status)"; failed=$((failed + 1)); }
  printf '%-14s %-12s %4ss\n' "$name" "$verdict" $((SECONDS - start)) | tee -a "$summary"
  [ $status -ne 0 ] && tail -n 60 "$logs/$name.log"
  return 0
}

# A step the QUICK mode leaves out.
full_step() {
  [ -n "${QUICK:-}" ] || step "$@"
}

# ---------------------------------------------------------------- correctness
step conformance 90 "$bundle/conformance" cuda::
step golden      40 "$bundle/golden" cuda
# Training-mode f32/f64 batch norm runs on cuDNN; this checks our own kernels for it too.
TINY_TORCH_CUDNN_BATCH_NORM=0 step own_bn 60 "$bundle/conformance" cuda::batch_norm
# Convolutions through cuDNN's graph API (opt-in until checked here; see docs/cuda.md).
TINY_TORCH_CUDNN_GRAPH=1 step graph_conv 90 "$bundle/conformance" cuda::conv
TINY_TORCH_CUDNN_GRAPH=1 step graph_golden 40 "$bundle/golden" cuda
step mlp_train   30 "$bundle/mlp_train" cuda
full_step cli    20 "$bundle/tiny-torch" conformance --golden tests/data/golden --device cuda
# NCCL with one GPU is a world of 1: every collective and DDP go through NCCL for real, but a
# world of several ranks needs several GPUs (tiny-torch run --nproc-per-node N there).
if [ -z "${QUICK:-}" ]; then
  echo "nccl: one GPU here, so a world of 1 process" | tee -a "$summary"
  step nccl      60 "$bundle/nccl" --test-threads=1
  head -40 "$logs/cli.log"
fi
# A short MNIST training run on the GPU: one epoch of the full set when the bundle carries it,
# else of the 10,000 images embedded in the example.
mnist_data=(); [ -d "$bundle/mnist-data" ] && mnist_data=(--data "$bundle/mnist-data")
full_step mnist  75 "$bundle/mnist" --device cuda --epochs 1 "${mnist_data[@]}" --out gpu-runs/mnist
[ -f "$logs/mnist.log" ] && tail -n 4 "$logs/mnist.log"

# ---------------------------------------------------------------- speed
# BENCH_FILTER picks cases (a regex; default: the headline ones) to keep the run short.
step bench       60 "$bundle/ops" --bench "${BENCH_FILTER:-cuda/(matmul/(1024|4096)|matmul_bfloat16/8192|matmul_tf32/8192|elementwise|reduce|conv2d|nn)}" --warm-up-time 0.5 --measurement-time 1 --noplot
# Batch norm on our own kernels instead of cuDNN's, to compare with the cuda/nn cases above.
TINY_TORCH_CUDNN_BATCH_NORM=0 step own_bn_bench 30 "$bundle/ops" --bench "cuda/nn/batch_norm" --warm-up-time 0.5 --measurement-time 1 --noplot
grep -h "time:" -B1 "$logs/own_bn_bench.log" | head -8
# Whole ResNet training steps on the GPU (cuDNN convolutions and batch norm, our pooling).
full_step train_bench 100 "$bundle/train" --bench "cuda/train" --warm-up-time 1 --measurement-time 3 --noplot
# The same steps split into forward, backward and optimizer (each ended by a synchronization).
step phases      60 "$bundle/step_phases" cuda 20
cat "$logs/phases.log"
# The 224² steps with cuDNN's benchmark mode (PyTorch's torch.backends.cudnn.benchmark).
step phases_benchmark 60 "$bundle/step_phases" cuda 20 8x224 benchmark
cat "$logs/phases_benchmark.log"
# The convolution benches and the steps with the graph API (compare with bench.log, phases.log).
TINY_TORCH_CUDNN_GRAPH=1 step graph_bench 40 "$bundle/ops" --bench "cuda/conv2d" --warm-up-time 0.5 --measurement-time 1 --noplot
grep -h "time:" -B1 "$logs/graph_bench.log" | head -12
TINY_TORCH_CUDNN_GRAPH=1 step phases_graph 60 "$bundle/step_phases" cuda 20
cat "$logs/phases_graph.log"
python=""
for p in /opt/torch/.venv/bin/python python3; do
  if command -v "$p" >/dev/null && "$p" -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
    python=$p; break
  fi
done
if [ -n "$python" ]; then
  step torch_bench 90 "$python" scripts/torch_cuda_bench.py --ours "$logs/bench.log" --ours "$logs/train_bench.log" --json "$logs/torch_bench.json"
  cat "$logs/torch_bench.log"
else
  echo "PyTorch with CUDA not found: no PyTorch timings" | tee -a "$summary"
fi
# The wgpu backend on the GPU's own Vulkan driver, when the machine has one.
if ls /usr/share/vulkan/icd.d/*nvidia* /etc/vulkan/icd.d/*nvidia* >/dev/null 2>&1; then
  TINY_TORCH_REQUIRE=wgpu step wgpu_conformance 120 "$bundle/conformance" wgpu::
  step wgpu_bench 90 "$bundle/ops" --bench "wgpu/" --warm-up-time 0.5 --measurement-time 1 --noplot
else
  echo "no NVIDIA Vulkan driver (ICD) here: wgpu steps skipped" | tee -a "$summary"
fi
# The NVRTC + ptxas compile test (CI runs it too), with the machine's own NVRTC.
export PATH="/usr/local/cuda/bin:$PATH"
full_step kernels 150 "$bundle/kernels" --test-threads=1
echo "== summary"; cat "$summary"
exit $failed
