"""Times PyTorch on the CUDA cases of benches/ops.rs, on the same GPU, and prints the ratios
against Tiny-Torch's criterion output (`--ours bench.log`): ratio = PyTorch time / ours, so
above 1 means Tiny-Torch is faster. Each timed call ends with torch.cuda.synchronize(), as the
Rust benches end with backend.synchronize(). Used by scripts/cuda-check.sh."""

import argparse
import json
import os
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


def cases(groups):
    """PyTorch's times of the `groups` ("ops": benches/ops.rs, "train": benches/train.rs)."""
    out = {}
    if "ops" in groups:
        out.update(op_cases("cuda"))
    if "train" in groups:
        out.update(training_steps("cuda"))
    return out


def overhead(dev):
    """benches/ops.rs `bench_overhead`: 100 x (x + b).relu() on one-element tensors, without and
    with autograd (forward + backward), per op."""
    b = torch.full((1,), 0.5, device=dev)
    x = torch.full((1,), 1.0, device=dev)
    leaf = x.clone().requires_grad_()

    def chain(y):
        for _ in range(100):
            y = (y + b).relu()
        return y

    def with_grad():
        chain(leaf).sum().backward()

    with torch.no_grad():
        plain = timeit(lambda: chain(x))
    return {
        f"{dev}/overhead/add_relu_1elem": (plain, 200, "op"),
        f"{dev}/overhead/add_relu_1elem_autograd": (timeit(with_grad), 200, "op"),
    }


def op_cases(dev):
    torch.manual_seed(0)
    out = overhead(dev)
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
    out.update(convolutions(dev))
    out.update(pooling_and_batch_norm(dev))
    return out


def convolutions(dev):
    """benches/ops.rs `bench_conv`: three ResNet-50 layer shapes at batch 8, forward (no grad)
    and forward + backward (gradients of input and weight), PyTorch's defaults (TF32 in cuDNN)."""
    out = {}
    for name, xs, cout, k, s, p in [
        ("3to64_k7s2", (8, 3, 224, 224), 64, 7, 2, 3),
        ("64to64_k3s1", (8, 64, 56, 56), 64, 3, 1, 1),
        ("256to512_k1s2", (8, 256, 56, 56), 512, 1, 2, 0),
    ]:
        n, cin, h, w = xs
        ho, wo = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        flop = 2 * n * cout * ho * wo * cin * k * k
        x = torch.randn(xs, device=dev)
        wt = torch.randn(cout, cin, k, k, device=dev) * 0.05
        gout = torch.randn(n, cout, ho, wo, device=dev)
        conv = torch.nn.functional.conv2d
        with torch.no_grad():
            out[f"cuda/conv2d/{name}_8x{h}_fwd"] = (timeit(lambda: conv(x, wt, None, s, p)), flop, "flop")
        xg, wg = x.detach().requires_grad_(), wt.detach().requires_grad_()
        out[f"cuda/conv2d/{name}_8x{h}_fwdbwd"] = (
            timeit(lambda: torch.autograd.grad(conv(xg, wg, None, s, p), (xg, wg), gout)), 3 * flop, "flop")
    return out


def pooling_and_batch_norm(dev):
    """benches/ops.rs `bench_pool_batch_norm`; throughput in input elements per second."""
    out = {}
    F = torch.nn.functional
    x = torch.randn(32, 64, 112, 112, device=dev)
    with torch.no_grad():
        out["cuda/nn/max_pool2d_k3s2p1_32x64x112x112"] = (timeit(lambda: F.max_pool2d(x, 3, 2, 1)), x.numel(), "elem")
        y = torch.randn(64, 64, 24, 24, device=dev)
        out["cuda/nn/max_pool2d_k2s2_64x64x24x24"] = (timeit(lambda: F.max_pool2d(y, 2, 2)), y.numel(), "elem")
    x = torch.randn(32, 64, 56, 56, device=dev, requires_grad=True)
    weight = torch.ones(64, device=dev, requires_grad=True)
    bias = torch.zeros(64, device=dev, requires_grad=True)
    rm, rv = torch.zeros(64, device=dev), torch.ones(64, device=dev)
    gout = torch.randn_like(x)
    bn = lambda: F.batch_norm(x, rm, rv, weight, bias, True, 0.1, 1e-5)
    with torch.no_grad():
        out["cuda/nn/batch_norm_train_fwd_32x64x56x56"] = (timeit(bn), x.numel(), "elem")
    out["cuda/nn/batch_norm_train_fwdbwd_32x64x56x56"] = (
        timeit(lambda: torch.autograd.grad(bn(), (x, weight, bias), gout)), x.numel(), "elem")
    return out


def resnet_step(build, batch, size, classes, dev):
    """One training step of benches/train.rs's cases, as a function: zero_grad, train-mode
    forward, cross-entropy, backward and SGD(lr=1e-3, momentum=0.9).step() on fixed random
    inputs (seed 0). Also used by torch_profile_step.py."""
    torch.manual_seed(0)
    model = build(num_classes=classes).to(dev).train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    x = torch.randn(batch, 3, size, size, device=dev)
    y = torch.randint(0, classes, (batch,), device=dev)

    def step():
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    return step


def training_steps(dev):
    """benches/train.rs's cases: zero_grad, train-mode forward, cross-entropy, backward and
    SGD(lr=1e-3, momentum=0.9).step() on fixed random inputs, with PyTorch's eager defaults
    (no torch.compile, cudnn.benchmark off, TF32 in convolutions but not in matmuls)."""
    try:
        import torchvision
    except ImportError:
        print("torchvision not found: no training-step timings")
        return {}
    out = {}
    for name, build, batch, size, classes in [
        ("resnet18_8x224", torchvision.models.resnet18, 8, 224, 1000),
        ("resnet18_32x32", torchvision.models.resnet18, 32, 32, 10),
        ("resnet50_8x224", torchvision.models.resnet50, 8, 224, 1000),
    ]:
        step = resnet_step(build, batch, size, classes, dev)
        out[f"cuda/train/{name}"] = (timeit(step, min_time=1.0), batch, "img")
        if size == 224:
            # The same with torch.backends.cudnn.benchmark (step_phases' `benchmark` run).
            torch.backends.cudnn.benchmark = True
            step()  # times the algorithms of every new shape
            out[f"cuda/train_cudnn_benchmark/{name}"] = (timeit(step, min_time=1.0), batch, "img")
            torch.backends.cudnn.benchmark = False
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
    if unit == "flop":
        return f"{work / seconds / 1e12:8.1f} TFLOP/s"
    if unit == "img":
        return f"{work / seconds:8.0f} img/s"
    if unit == "op":
        return f"{seconds / work * 1e6:8.2f} us/op"
    if unit == "elem":
        return f"{work / seconds / 1e9:8.2f} Gelem/s"
    return f"{work / seconds / 1e9:8.1f} GB/s"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ours", action="append", default=[],
                        help="criterion output of `ops --bench cuda/` or `train --bench cuda/train` (repeatable)")
    parser.add_argument("--json", help="write PyTorch's times here")
    parser.add_argument("--only", choices=["ops", "train"], help="time only these cases")
    args = parser.parse_args()
    print(f"PyTorch {torch.__version__} on {torch.cuda.get_device_name()}")
    torch_times = cases([args.only] if args.only else ["ops", "train"])
    ours = {}
    for path in args.ours:
        if os.path.exists(path):  # a quick run has no train_bench.log
            ours.update(parse_criterion(path))
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
