//! A quick timing of the convolution kernels through the `Backend` trait, for iterating on them:
//! `cargo run --release -p tiny-torch-cpu --example conv_bench [case filter] [pass filter]`.
//! Prints, per case and pass, the best wall time of a few runs and the process CPU time per run
//! (which moves less than wall time when other work shares the machine). The criterion benches
//! in `benches/` are the reference figures.

use std::time::Instant;
use tiny_torch_core::{Backend, Conv2dParams, DType, Distribution, Layout, Result};
use tiny_torch_core::{View, ViewMut};
use tiny_torch_cpu::{Cpu, CpuStorage};

/// Seconds of CPU time this process has used (all threads).
fn cpu_seconds() -> f64 {
    // /proc/self/stat fields 14 and 15: user and system time in clock ticks (100 per second
    // on Linux); elsewhere no CPU time is reported.
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let after = s.rsplit_once(')')?.1;
            let f: Vec<&str> = after.split_whitespace().collect();
            Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / 100.0)
        })
        .unwrap_or(f64::NAN)
}

/// (best wall seconds, CPU seconds per run) of `reps` runs of `f`, after one warm-up run.
fn time(reps: usize, mut f: impl FnMut() -> Result<CpuStorage>) -> Result<(f64, f64)> {
    f()?;
    let mut best = f64::INFINITY;
    let cpu0 = cpu_seconds();
    for _ in 0..reps {
        let t = Instant::now();
        f()?;
        best = best.min(t.elapsed().as_secs_f64());
    }
    Ok((best, (cpu_seconds() - cpu0) / reps as f64))
}

fn randn(cpu: &Cpu, dims: &[usize], seed: u64) -> Result<CpuStorage> {
    let n = dims.iter().product();
    let mut s = cpu.alloc(DType::F32, n)?;
    let l = Layout::contiguous([n]);
    let normal = Distribution::Normal {
        mean: 0.0,
        std: 1.0,
    };
    cpu.random(ViewMut::new(&mut s, &l), normal, seed, 0)?;
    Ok(s)
}

/// A convolution: name, input and weight dims, stride, padding.
type Case = (&'static str, [usize; 4], [usize; 4], usize, usize);

fn main() -> Result<()> {
    let filter = std::env::args().nth(1).unwrap_or_default();
    // An optional second argument keeps the passes whose name contains it ("weight").
    let pass_filter = std::env::args().nth(2).unwrap_or_default();
    let reps: usize = std::env::var("REPS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(10);
    let cpu = Cpu;
    // ResNet-50's three benchmark shapes at batch 8, ResNet-18's deeper 3x3 layers at batch 8
    // on 224x224 images, 3x3 layers at batch 32 on 32x32 to 4x4 planes, and every layer of the
    // ResNet-18 step on 32x32 images (`s32_*`).
    let cases: [Case; 19] = [
        ("stem_7x7s2_8x224", [8, 3, 224, 224], [64, 3, 7, 7], 2, 3),
        ("3x3_64_8x56", [8, 64, 56, 56], [64, 64, 3, 3], 1, 1),
        (
            "1x1s2_256to512_8x56",
            [8, 256, 56, 56],
            [512, 256, 1, 1],
            2,
            0,
        ),
        ("r18_3x3_128_8x28", [8, 128, 28, 28], [128, 128, 3, 3], 1, 1),
        ("r18_3x3_256_8x14", [8, 256, 14, 14], [256, 256, 3, 3], 1, 1),
        ("r18_3x3_512_8x7", [8, 512, 7, 7], [512, 512, 3, 3], 1, 1),
        ("r18_3x3_64_32x32", [32, 64, 32, 32], [64, 64, 3, 3], 1, 1),
        (
            "r18_3x3_128_32x16",
            [32, 128, 16, 16],
            [128, 128, 3, 3],
            1,
            1,
        ),
        ("r18_3x3_256_32x8", [32, 256, 8, 8], [256, 256, 3, 3], 1, 1),
        ("r18_3x3_512_32x4", [32, 512, 4, 4], [512, 512, 3, 3], 1, 1),
        // The layers of the ResNet-18 training step on 32x32 images (batch 32).
        ("s32_stem", [32, 3, 32, 32], [64, 3, 7, 7], 2, 3),
        ("s32_l1", [32, 64, 8, 8], [64, 64, 3, 3], 1, 1),
        ("s32_l2_down3x3", [32, 64, 8, 8], [128, 64, 3, 3], 2, 1),
        ("s32_l2_down1x1", [32, 64, 8, 8], [128, 64, 1, 1], 2, 0),
        ("s32_l2", [32, 128, 4, 4], [128, 128, 3, 3], 1, 1),
        ("s32_l3_down3x3", [32, 128, 4, 4], [256, 128, 3, 3], 2, 1),
        ("s32_l3", [32, 256, 2, 2], [256, 256, 3, 3], 1, 1),
        ("s32_l4_down3x3", [32, 256, 2, 2], [512, 256, 3, 3], 2, 1),
        ("s32_l4", [32, 512, 1, 1], [512, 512, 3, 3], 1, 1),
    ];
    for (name, input, weight, stride, padding) in cases {
        if !name.contains(filter.as_str()) {
            continue;
        }
        let p = Conv2dParams {
            stride: [stride, stride],
            padding: [padding, padding],
            dilation: [1, 1],
            groups: 1,
        };
        let (x, w) = (randn(&cpu, &input, 1)?, randn(&cpu, &weight, 2)?);
        let (lx, lw) = (Layout::contiguous(input), Layout::contiguous(weight));
        let y = cpu.conv2d(View::new(&x, &lx), View::new(&w, &lw), None, &p)?;
        let oh = (input[2] + 2 * padding - weight[2]) / stride + 1;
        let ow = (input[3] + 2 * padding - weight[3]) / stride + 1;
        let ly = Layout::contiguous([input[0], weight[0], oh, ow]);
        let gflop = 2.0 * (ly.numel() * weight[1] * weight[2] * weight[3]) as f64 / 1e9;
        let passes: [(&str, &dyn Fn() -> Result<CpuStorage>); 3] = [
            ("forward", &|| {
                cpu.conv2d(View::new(&x, &lx), View::new(&w, &lw), None, &p)
            }),
            ("grad input", &|| {
                cpu.conv2d_backward_input(View::new(&y, &ly), View::new(&w, &lw), input, &p)
            }),
            ("grad weight", &|| {
                cpu.conv2d_backward_weight(View::new(&y, &ly), View::new(&x, &lx), weight, &p)
            }),
        ];
        for (pass, f) in passes {
            if !pass.contains(pass_filter.as_str()) {
                continue;
            }
            let (wall, cpu_time) = time(reps, f)?;
            println!(
                "{name:<22} {pass:<12} {:8.2} ms  {:6.1} GFLOP/s  cpu {:8.2} ms/run",
                wall * 1e3,
                gflop / wall,
                cpu_time * 1e3
            );
        }
    }
    Ok(())
}
