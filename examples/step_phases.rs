//! Where a ResNet training step spends its time: the median wall time of the forward pass (with
//! the loss), the backward pass and the optimizer step, each ended by a device synchronization,
//! for the cases of `benches/train.rs` (ResNet-18 and ResNet-50 at batch 8 × 224², ResNet-18 at
//! batch 32 × 32²), then the median of whole steps with one synchronization each (the bench's
//! measure), and the mean step of a loop that uploads each batch from host memory and
//! synchronizes only at the end (as a training loop runs). The split says which part to look at
//! first.
//!
//! Run: `cargo run --release --example step_phases -- [cpu|cuda] [STEPS] [CASE] [benchmark|profile]`
//! (default cuda, 20 timed steps after 5 warm-up steps, every case; CASE picks those whose name
//! contains it; `benchmark` turns on `cuda::set_cudnn_benchmark`; `profile` prints, instead of
//! the phases, the time of every backend op over STEPS steps, host side and device side, from a
//! [`Profiled`] backend).

use std::time::{Duration, Instant};
use tiny_torch::nn::models::{ResNet, ResNetConfig, resnet18, resnet50};
use tiny_torch::optim::{Sgd, SgdOptions};
use tiny_torch::prelude::*;
use tiny_torch::profiler::{Profiled, Timing};

fn median(mut times: Vec<Duration>) -> f64 {
    times.sort();
    times[times.len() / 2].as_secs_f64() * 1e3
}

/// (name, Bottleneck ResNet-50 rather than ResNet-18, batch, image side, classes)
const CASES: [(&str, bool, usize, usize, usize); 3] = [
    ("resnet18_8x224", false, 8, 224, 1000),
    ("resnet50_8x224", true, 8, 224, 1000),
    ("resnet18_32x32", false, 32, 32, 10),
];

/// A case on one backend: the model (in training mode), its SGD optimizer, a batch and its
/// labels.
struct Setup<B: Backend> {
    model: ResNet<B>,
    opt: Sgd<B>,
    x: Tensor<B>,
    y: Tensor<B>,
}

fn build<B: Backend>(
    backend: &B,
    deep: bool,
    batch: usize,
    size: usize,
    classes: usize,
) -> Result<Setup<B>> {
    manual_seed(0);
    let config = ResNetConfig {
        num_classes: classes,
        ..ResNetConfig::default()
    };
    let model = if deep {
        resnet50(config, backend)?
    } else {
        resnet18(config, backend)?
    };
    model.train();
    let options = SgdOptions {
        lr: 1e-3,
        momentum: 0.9,
        ..SgdOptions::default()
    };
    let opt = Sgd::new(model.parameters(), options)?;
    let x = Tensor::randn(&[batch, 3, size, size], DType::F32, backend)?;
    let y = Tensor::randint(0, classes as i64, &[batch], backend)?;
    Ok(Setup { model, opt, x, y })
}

fn phases<B: Backend>(backend: &B, steps: usize, only: &str) -> Result<()> {
    for (name, deep, batch, size, classes) in CASES {
        if !name.contains(only) {
            continue;
        }
        let Setup {
            model,
            mut opt,
            x,
            y,
        } = build(backend, deep, batch, size, classes)?;
        let (mut forward, mut backward, mut update, mut whole) = (vec![], vec![], vec![], vec![]);
        for step in 0..steps + 5 {
            opt.zero_grad();
            let t0 = Instant::now();
            let loss = F::cross_entropy(&model.forward(&x)?, &y)?;
            backend.synchronize()?;
            let t1 = Instant::now();
            loss.backward()?;
            backend.synchronize()?;
            let t2 = Instant::now();
            opt.step()?;
            backend.synchronize()?;
            let t3 = Instant::now();
            if step >= 5 {
                forward.push(t1 - t0);
                backward.push(t2 - t1);
                update.push(t3 - t2);
            }
        }
        // Whole steps, one synchronization each, as the bench times them.
        for _ in 0..steps {
            let t0 = Instant::now();
            opt.zero_grad();
            F::cross_entropy(&model.forward(&x)?, &y)?.backward()?;
            opt.step()?;
            backend.synchronize()?;
            whole.push(t0.elapsed());
        }
        // Steps as a training loop runs them: each uploads its batch from host memory and
        // nothing waits for the device until the last one (so the host can queue a step while
        // the device still runs the one before, if the upload does not wait).
        let host: Vec<f32> = x.to_vec()?;
        let t0 = Instant::now();
        for _ in 0..steps {
            let xb = Tensor::from_slice(&host, &[batch, 3, size, size], backend)?;
            opt.zero_grad();
            F::cross_entropy(&model.forward(&xb)?, &y)?.backward()?;
            opt.step()?;
        }
        backend.synchronize()?;
        let streamed = t0.elapsed().as_secs_f64() * 1e3 / steps as f64;
        let (f, b, u) = (median(forward), median(backward), median(update));
        let step = median(whole);
        println!(
            "{} {name}: forward {f:.2} ms, backward {b:.2} ms, optimizer {u:.2} ms (sum {:.2} ms); \
             whole step {step:.2} ms = {:.0} img/s; with host batches, unsynchronized: \
             {streamed:.2} ms = {:.0} img/s",
            backend.name(),
            f + b + u,
            batch as f64 / step * 1e3,
            batch as f64 / streamed * 1e3
        );
    }
    Ok(())
}

/// Each case's ops as the device sees them: `steps` steps (after 3 warm-up steps) on a
/// [`Profiled`] backend, once timing the host's side of each call and once each call's device
/// work (every call synchronized).
fn profile<B: Backend>(backend: &B, steps: usize, only: &str) -> Result<()> {
    for (name, deep, batch, size, classes) in CASES {
        if !name.contains(only) {
            continue;
        }
        for timing in [Timing::Host, Timing::Device] {
            let profiled = Profiled::new(backend.clone(), timing);
            let Setup {
                model,
                mut opt,
                x,
                y,
            } = build(&profiled, deep, batch, size, classes)?;
            for step in 0..steps + 3 {
                if step == 3 {
                    profiled.reset();
                }
                opt.zero_grad();
                F::cross_entropy(&model.forward(&x)?, &y)?.backward()?;
                opt.step()?;
                profiled.synchronize()?;
            }
            println!("{name}, {steps} steps:\n{}", profiled.profile());
        }
    }
    Ok(())
}

fn run<B: Backend>(backend: &B, steps: usize, only: &str, mode: &str) -> Result<()> {
    match mode {
        "profile" => profile(backend, steps, only),
        _ => phases(backend, steps, only),
    }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let steps = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(20);
    let device = args.first().map(String::as_str).unwrap_or("cuda");
    let only = args.get(2).map(String::as_str).unwrap_or("");
    let mode = args.get(3).map(String::as_str).unwrap_or("");
    #[cfg(feature = "cuda")]
    if mode == "benchmark" {
        println!("cuDNN benchmark mode (algorithms timed on the first step)");
        tiny_torch::cuda::set_cudnn_benchmark(true);
    }
    match device {
        "cpu" => run(&Cpu, steps, only, mode),
        #[cfg(feature = "cuda")]
        "cuda" => run(&tiny_torch::Cuda::new(0)?, steps, only, mode),
        other => {
            eprintln!("unknown device {other:?}: expected cpu or cuda");
            std::process::exit(2)
        }
    }
}
