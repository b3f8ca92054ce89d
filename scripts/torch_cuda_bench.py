"""Times PyTorch on the CUDA cases of benches/ops.rs, on the same GPU, and prints the ratios
against Tiny-Torch's criterion output (`--ours bench.log`): ratio = PyTorch time / ours, so
above 1 means Tiny-Torch is faster. Each timed call ends with torch.cuda.synchronize(), as the
Rust benches end with backend.synchronize(). Used by scripts/cuda-check.sh."""

import argparse
import json
import re
import statistics
import time

import torch

BIG = 16 * 1024 * 1024


def timeit(fn, min_time=0.3, reps=3):
    """Median over `reps` runs of the mean time of one synchronized call, in seconds."""
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    start = time.perf_counter()
    n = 0
    while time.perf_counter() - start < 0.1:
        fn()
        torch.cuda.synchronize()
        n += 1
    per_rep = max(1, int(n * min_time / 0.1 / reps))
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(per_rep):
            fn()
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) / per_rep)
    return statistics.median(times)


def cases():
    dev = "cuda"
    torch.manual_seed(0)
    out = {}
    torch.backends.cuda.matmul.allow_tf32 = False
    for n in [256, 512, 1024, 2048, 4096, 8192]:
        a, b = torch.randn(n, n, device=dev), torch.randn(n, n, device=dev)
        out[f"cuda/matmul/{n}"] = (timeit(lambda: a @ b), 2 * n**3, "flop")
    for dtype, name, sizes in [(torch.bfloat16, "bfloat16", [2048, 4096, 8192]), (torch.float16, "float16", [4096, 8192])]:
        for n in sizes:
            a = torch.randn(n, n, device=dev).to(dtype)
            b = torch.randn(n, n, device=dev).to(dtype)
            out[f"cuda/matmul_{name}/{n}"] = (timeit(lambda: a @ b), 2 * n**3, "flop")
    torch.backends.cuda.matmul.allow_tf32 = True
    for n in [4096, 8192]:
        a, b = torch.randn(n, n, device=dev), torch.randn(n, n, device=dev)
        out[f"cuda/matmul_tf32/{n}"] = (timeit(lambda: a @ b), 2 * n**3, "flop")
    torch.backends.cuda.matmul.allow_tf32 = False
    x, y = torch.randn(BIG, device=dev), torch.randn(BIG, device=dev)
    o = torch.empty(BIG, device=dev)
    z = x.clone()
    g = "cuda/elementwise_16M"
    out[f"{g}/add"] = (timeit(lambda: x + y), 12 * BIG, "B")
    out[f"{g}/add_out"] = (timeit(lambda: torch.add(x, y, out=o)), 12 * BIG, "B")
    out[f"{g}/relu"] = (timeit(lambda: torch.relu(x)), 8 * BIG, "B")
    out[f"{g}/relu_out"] = (timeit(lambda: torch.clamp_min(x, 0, out=o)), 8 * BIG, "B")
    out[f"{g}/relu_inplace"] = (timeit(lambda: z.relu_()), 8 * BIG, "B")
    out["cuda/reduce/sum_16M"] = (timeit(lambda: x.sum()), 4 * BIG, "B")
    s = torch.randn(4096, 1024, device=dev)
    out["cuda/reduce/softmax_4096x1024"] = (timeit(lambda: s.softmax(-1)), 8 * 4096 * 1024, "B")
    return out


UNITS = {"ps": 1e-12, "ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def parse_criterion(path):
    """{bench id: mean seconds} from criterion's text output."""
    ours, current = {}, None
    pattern = re.compile(r"time:\s+\[\S+ \S+ (\S+) (\S+) \S+ \S+\]")
    for line in open(path, encoding="utf-8", errors="replace"):
        head = line.split()
        if head and head[0].startswith("cuda/"):
            current = head[0]
        m = pattern.search(line)
        if m and current:
            ours[current] = float(m.group(1)) * UNITS[m.group(2)]
            current = None
    return ours


def rate(work, unit, seconds):
    return f"{work / seconds / 1e12:8.1f} TFLOP/s" if unit == "flop" else f"{work / seconds / 1e9:8.1f} GB/s"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ours", help="criterion output of `ops --bench cuda/`")
    parser.add_argument("--json", help="write PyTorch's times here")
    args = parser.parse_args()
    print(f"PyTorch {torch.__version__} on {torch.cuda.get_device_name()}")
    torch_times = cases()
    ours = parse_criterion(args.ours) if args.ours else {}
    print(f"{'case':36} {'PyTorch':>16} {'Tiny-Torch':>16} {'ratio':>7}")
    for name, (t, work, unit) in torch_times.items():
        mine = ours.get(name)
        mine_s = rate(work, unit, mine) if mine else "-"
        ratio = f"{t / mine:7.2f}" if mine else "-"
        print(f"{name:36} {rate(work, unit, t):>16} {mine_s:>16} {ratio:>7}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({k: v[0] for k, v in torch_times.items()}, f, indent=1)


if __name__ == "__main__":
    main()
