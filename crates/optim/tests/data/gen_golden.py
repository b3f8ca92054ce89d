"""Golden values for crates/optim/tests from PyTorch itself.

Run with a PyTorch install (2.15 made the committed files):

    python crates/optim/tests/data/gen_golden.py

It writes two text files next to itself, one value series per line:

    <case> <series> <v1> <v2> ...

Floats are written with Python's repr (shortest round trip), so Rust's `str::parse::<f64>`
reads back the exact values; float32 values are widened to float64 first, exactly.

- optim_golden.txt: float32 parameter trajectories of each optimizer (single-tensor path,
  foreach=False). Series: p0 (initial), g1..gN (the gradients given before step k), p1..pN;
  for the cases in DUMP_STATE also torch's state dict after step 3: one series
  state3.<key> per state tensor, and the param group as a comment line.
- sched_golden.txt: learning rates (and OneCycleLR's momentum) of two param groups: the
  series lr0 / lr1 (mom0 / mom1) hold get_last_lr() after creation, then after each step.
"""

import os
import warnings

import torch

warnings.filterwarnings("ignore")
HERE = os.path.dirname(os.path.abspath(__file__))
STEPS = 6
DUMP_STATE = ("sgd_momentum_wd", "adam_amsgrad", "rmsprop_all")


def series(name, key, values):
    return f"{name} {key} " + " ".join(repr(float(v)) for v in values)


def optimizer_cases():
    O = torch.optim
    return {
        "sgd_plain": lambda p: O.SGD(p, lr=0.1, foreach=False),
        "sgd_momentum_wd": lambda p: O.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01, foreach=False),
        "sgd_dampening": lambda p: O.SGD(p, lr=0.05, momentum=0.8, dampening=0.3, foreach=False),
        "sgd_nesterov_max": lambda p: O.SGD(
            p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1, maximize=True, foreach=False
        ),
        "adam": lambda p: O.Adam(p, lr=0.01, foreach=False),
        "adam_l2_eps": lambda p: O.Adam(p, lr=0.01, weight_decay=0.1, eps=1e-3, foreach=False),
        "adam_amsgrad": lambda p: O.Adam(p, lr=0.02, betas=(0.8, 0.99), amsgrad=True, foreach=False),
        "adam_low_beta1": lambda p: O.Adam(p, lr=0.01, betas=(0.3, 0.999), foreach=False),
        "adamw": lambda p: O.AdamW(p, lr=0.01, foreach=False),
        "adamw_max": lambda p: O.AdamW(p, lr=0.01, weight_decay=0.1, maximize=True, foreach=False),
        "rmsprop": lambda p: O.RMSprop(p, foreach=False),
        "rmsprop_centered": lambda p: O.RMSprop(p, lr=0.01, centered=True, foreach=False),
        "rmsprop_momentum": lambda p: O.RMSprop(p, lr=0.01, momentum=0.9, foreach=False),
        "rmsprop_all": lambda p: O.RMSprop(
            p, lr=0.005, alpha=0.9, eps=1e-6, weight_decay=0.05, momentum=0.5,
            centered=True, maximize=True, foreach=False,
        ),
    }


def optim_golden():
    gen = torch.Generator().manual_seed(0)
    p0 = torch.randn(2, 3, generator=gen)
    grads = [torch.randn(2, 3, generator=gen) for _ in range(STEPS)]
    lines = []
    for name, make in optimizer_cases().items():
        p = torch.nn.Parameter(p0.clone())
        opt = make([p])
        lines.append(series(name, "p0", p0.flatten()))
        for k, g in enumerate(grads, 1):
            p.grad = g.clone()
            opt.step()
            lines.append(series(name, f"g{k}", g.flatten()))
            lines.append(series(name, f"p{k}", p.detach().flatten()))
            if k == 3 and name in DUMP_STATE:
                sd = opt.state_dict()
                for key, value in sd["state"][0].items():
                    lines.append(series(name, f"state3.{key}", value.flatten()))
                lines.append(f"# {name} param_groups {sd['param_groups']}")
    return lines


def two_groups(kind="sgd"):
    a, b = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    groups = [{"params": [a], "lr": 0.1}, {"params": [b], "lr": 0.01}]
    if kind == "adam":
        return torch.optim.Adam(groups, betas=(0.9, 0.999))
    return torch.optim.SGD(groups, momentum=0.9)


def scheduler_cases():
    S = torch.optim.lr_scheduler

    def sequential(opt):
        warm = S.LinearLR(opt, start_factor=0.1, end_factor=1.0, total_iters=5)
        cos = S.CosineAnnealingLR(opt, T_max=15, eta_min=1e-4)
        return S.SequentialLR(opt, [warm, cos], milestones=[5])

    def sequential3(opt):
        first = S.LinearLR(opt, start_factor=0.5, total_iters=3)
        second = S.StepLR(opt, step_size=2, gamma=0.5)
        third = S.MultiStepLR(opt, milestones=[3, 6], gamma=0.1)
        return S.SequentialLR(opt, [first, second, third], milestones=[3, 8])

    return {
        # name: (optimizer kind, scheduler factory, steps, has momentum series)
        "steplr": ("sgd", lambda o: S.StepLR(o, step_size=3, gamma=0.5), 25, False),
        "multisteplr": ("sgd", lambda o: S.MultiStepLR(o, milestones=[2, 5, 5, 9], gamma=0.3), 20, False),
        "cosine": ("sgd", lambda o: S.CosineAnnealingLR(o, T_max=10, eta_min=0.001), 30, False),
        "cosine_eta0": ("sgd", lambda o: S.CosineAnnealingLR(o, T_max=7), 25, False),
        "linear": ("sgd", lambda o: S.LinearLR(o, start_factor=0.25, total_iters=6), 12, False),
        "linear_decay": ("sgd", lambda o: S.LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=8), 12, False),
        "sequential": ("sgd", sequential, 25, False),
        "sequential3": ("sgd", sequential3, 20, False),
        "onecycle_cos": ("sgd", lambda o: S.OneCycleLR(o, max_lr=[1.0, 0.5], total_steps=20), 20, True),
        "onecycle_linear_3phase": ("sgd", lambda o: S.OneCycleLR(
            o, max_lr=0.4, total_steps=24, pct_start=0.25, anneal_strategy="linear",
            div_factor=10.0, final_div_factor=100.0, three_phase=True), 24, True),
        "onecycle_adam": ("adam", lambda o: S.OneCycleLR(
            o, max_lr=0.01, total_steps=15, base_momentum=0.8, max_momentum=0.9), 15, True),
        "onecycle_no_momentum": ("sgd", lambda o: S.OneCycleLR(
            o, max_lr=0.3, total_steps=10, cycle_momentum=False), 10, True),
    }


def momentum(opt, g):
    group = opt.param_groups[g]
    return group["betas"][0] if "betas" in group else group["momentum"]


def sched_golden():
    lines = []
    for name, (kind, make, steps, with_momentum) in scheduler_cases().items():
        opt = two_groups(kind)
        sched = make(opt)
        lrs, moms = [sched.get_last_lr()], [[momentum(opt, 0), momentum(opt, 1)]]
        for _ in range(steps):
            opt.step()
            sched.step()
            lrs.append(sched.get_last_lr())
            moms.append([momentum(opt, 0), momentum(opt, 1)])
        for g in range(2):
            lines.append(series(name, f"lr{g}", [l[g] for l in lrs]))
            if with_momentum:
                lines.append(series(name, f"mom{g}", [m[g] for m in moms]))
    return lines


def write(file, lines):
    header = f"# generated by gen_golden.py with torch {torch.__version__}\n"
    with open(os.path.join(HERE, file), "w") as f:
        f.write(header + "\n".join(lines) + "\n")


if __name__ == "__main__":
    write("optim_golden.txt", optim_golden())
    write("sched_golden.txt", sched_golden())
