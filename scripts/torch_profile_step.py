"""PyTorch's side of `step_phases ... profile`: the same ResNet training step (zero_grad,
train-mode forward, cross-entropy, backward, SGD with momentum 0.9; PyTorch's eager defaults),
profiled with torch.profiler over STEPS steps after 3 warm-up steps, printed as
key_averages() tables: the ops by their own device time (what the GPU spent in each op's
kernels), then by host time. Used by scripts/cuda-check.sh; `--device cpu` runs it anywhere.

Usage: torch_profile_step.py [--device cuda|cpu] [--steps N] [CASE ...]
(cases: resnet18_8x224 resnet50_8x224 resnet18_32x32; default resnet50_8x224)"""

import argparse

import torch
import torchvision
from torch.profiler import ProfilerActivity, profile
from torch_cuda_bench import resnet_step

CASES = {
    "resnet18_8x224": (torchvision.models.resnet18, 8, 224, 1000),
    "resnet50_8x224": (torchvision.models.resnet50, 8, 224, 1000),
    "resnet18_32x32": (torchvision.models.resnet18, 32, 32, 10),
}


def sort_key(averages, device):
    """The column to sort by: the ops' own device time (its name changed in PyTorch 2.4)."""
    if device == "cpu":
        return "self_cpu_time_total"
    first = averages[0] if len(averages) else None
    return "self_device_time_total" if hasattr(first, "self_device_time_total") else "self_cuda_time_total"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("cases", nargs="*", default=["resnet50_8x224"])
    args = parser.parse_args()
    dev = args.device
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev == "cuda" else [])
    for name in args.cases:
        build, batch, size, classes = CASES[name]
        train_step = resnet_step(build, batch, size, classes, dev)

        def step():
            train_step()
            if dev == "cuda":
                torch.cuda.synchronize()

        for _ in range(3):
            step()
        with profile(activities=activities) as prof:
            for _ in range(args.steps):
                step()
        averages = prof.key_averages()
        print(f"== PyTorch {torch.__version__}, {name}, {args.steps} steps, by own {dev} time")
        print(averages.table(sort_by=sort_key(averages, dev), row_limit=30))
        if dev == "cuda":
            print(f"== {name}, by host time")
            print(averages.table(sort_by="self_cpu_time_total", row_limit=20))


if __name__ == "__main__":
    main()
