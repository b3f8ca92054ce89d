//! A quick timing of the hot kernels through the `Backend` trait (no tensor layer):
//! `cargo run --release -p tiny-torch-cpu --example quick_bench [filter]`. The criterion benches
//! in the repository's `benches/` are the reference; this is for fast iteration on kernels.

use std::time::Instant;
use tiny_torch_core::{Backend, BinaryOp, DType, Distribution, Layout, ReduceOp, Result, UnaryOp};
use tiny_torch_core::{View, ViewMut};
use tiny_torch_cpu::{Cpu, CpuStorage};

/// Best-of-`reps` seconds of `f`.
fn time(reps: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?;
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let t = Instant::now();
        f()?;
        best = best.min(t.elapsed().as_secs_f64());
    }
    Ok(best)
}

fn randn(cpu: &Cpu, n: usize, seed: u64) -> Result<CpuStorage> {
    let mut s = cpu.alloc(DType::F32, n)?;
    let l = Layout::contiguous([n]);
    let normal = Distribution::Normal {
        mean: 0.0,
        std: 1.0,
    };
    cpu.random(ViewMut::new(&mut s, &l), normal, seed, 0)?;
    Ok(s)
}

fn main() -> Result<()> {
    let filter = std::env::args().nth(1).unwrap_or_default();
    let cpu = Cpu;
    let n = 16 << 20;
    let l = Layout::contiguous([n]);
    let (x, y) = (randn(&cpu, n, 1)?, randn(&cpu, n, 2)?);
    let mut out = cpu.alloc(DType::F32, n)?;
    let (sq, sqt) = (
        Layout::contiguous([4096, 4096]),
        Layout::contiguous([4096, 4096]).transpose(0, 1)?,
    );
    let (rows, row_l) = (
        randn(&cpu, 4096 * 1024, 3)?,
        Layout::contiguous([4096, 1024]),
    );
    let gb = |bytes: f64, t: f64| bytes * n as f64 / t / 1e9;
    let mut run = |name: &str, unit: &str, f: &mut dyn FnMut(&mut CpuStorage) -> Result<f64>| {
        if name.contains(filter.as_str()) {
            match f(&mut out) {
                Ok(v) => println!("{name}: {v:.1} {unit}"),
                Err(e) => println!("{name}: error {e}"),
            }
        }
    };
    run("add_out", "GB/s", &mut |o| {
        let t = time(20, || {
            cpu.binary(
                BinaryOp::Add,
                View::new(&x, &l),
                View::new(&y, &l),
                ViewMut::new(o, &l),
            )
        })?;
        Ok(gb(12.0, t))
    });
    run("add_new", "GB/s", &mut |_| {
        let t = time(20, || {
            let mut o = cpu.alloc(DType::F32, n)?;
            cpu.binary(
                BinaryOp::Add,
                View::new(&x, &l),
                View::new(&y, &l),
                ViewMut::new(&mut o, &l),
            )
        })?;
        Ok(gb(12.0, t))
    });
    run("relu_inplace", "GB/s", &mut |o| {
        cpu.copy(View::new(&x, &l), ViewMut::new(o, &l))?;
        let t = time(20, || cpu.unary_inplace(UnaryOp::Relu, ViewMut::new(o, &l)))?;
        Ok(gb(8.0, t))
    });
    run("sum", "GB/s", &mut |_| {
        let t = time(20, || {
            cpu.reduce(ReduceOp::Sum, View::new(&x, &l), &[0]).map(drop)
        })?;
        Ok(gb(4.0, t))
    });
    run("softmax", "GB/s", &mut |_| {
        let t = time(20, || {
            cpu.softmax(View::new(&rows, &row_l), 1, false).map(drop)
        })?;
        Ok(gb(8.0, t) / 4.0)
    });
    run("sum_dim0", "GB/s", &mut |_| {
        let t = time(20, || {
            cpu.reduce(ReduceOp::Sum, View::new(&rows, &row_l), &[0])
                .map(drop)
        })?;
        Ok(gb(4.0, t) / 4.0)
    });
    run("transpose_copy", "GB/s", &mut |o| {
        let t = time(10, || cpu.copy(View::new(&x, &sqt), ViewMut::new(o, &sq)))?;
        Ok(gb(8.0, t))
    });
    run("add_transposed", "GB/s", &mut |o| {
        let t = time(10, || {
            cpu.binary(
                BinaryOp::Add,
                View::new(&x, &sq),
                View::new(&y, &sqt),
                ViewMut::new(o, &sq),
            )
        })?;
        Ok(gb(12.0, t))
    });
    for (name, op) in [
        ("exp", UnaryOp::Exp),
        ("sigmoid", UnaryOp::Sigmoid),
        ("tanh", UnaryOp::Tanh),
        ("gelu", UnaryOp::Gelu),
    ] {
        run(name, "GB/s", &mut |o| {
            let t = time(5, || cpu.unary(op, View::new(&x, &l), ViewMut::new(o, &l)))?;
            Ok(gb(8.0, t))
        });
    }
    // Batch norm in training, forward and backward, on the shapes of the ResNet-18 step at 32²
    // (batch 32): microseconds per call.
    for [c, side] in [[64usize, 16], [64, 8], [128, 4], [256, 2], [512, 1]] {
        let dims = [32, c, side, side];
        let count = dims.iter().product();
        let (xl, cl) = (Layout::contiguous(dims), Layout::contiguous([c]));
        let (bx, by) = (randn(&cpu, count, 7)?, randn(&cpu, count, 8)?);
        let (w, b) = (randn(&cpu, c, 9)?, randn(&cpu, c, 10)?);
        let (mut mean, mut var) = (randn(&cpu, c, 11)?, randn(&cpu, c, 12)?);
        let mut forward = || {
            cpu.batch_norm(
                View::new(&bx, &xl),
                Some(View::new(&w, &cl)),
                Some(View::new(&b, &cl)),
                Some(ViewMut::new(&mut mean, &cl)),
                Some(ViewMut::new(&mut var, &cl)),
                true,
                0.1,
                1e-5,
            )
        };
        let (_, saved) = forward()?;
        run(&format!("batch_norm_{c}x{side}x{side}"), "us", &mut |_| {
            Ok(time(50, || forward().map(drop))? * 1e6)
        });
        run(
            &format!("batch_norm_backward_{c}x{side}x{side}"),
            "us",
            &mut |_| {
                let t = time(50, || {
                    cpu.batch_norm_backward(
                        View::new(&by, &xl),
                        View::new(&bx, &xl),
                        Some(View::new(&w, &cl)),
                        &saved,
                        true,
                    )
                    .map(drop)
                })?;
                Ok(t * 1e6)
            },
        );
    }
    for m in [256usize, 512, 1024, 2048] {
        run(&format!("matmul_{m}"), "GFLOP/s", &mut |_| {
            let ml = Layout::contiguous([1, m, m]);
            let (a, b) = (randn(&cpu, m * m, 5)?, randn(&cpu, m * m, 6)?);
            let t = time(if m >= 1024 { 5 } else { 20 }, || {
                cpu.matmul(View::new(&a, &ml), View::new(&b, &ml)).map(drop)
            })?;
            Ok(2.0 * (m * m * m) as f64 / t / 1e9)
        });
    }
    Ok(())
}
