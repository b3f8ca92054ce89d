//! Criterion benches of whole training steps, PyTorch's cases in `torch-cpu.tsv`: ResNet-18 at
//! batch 8 × 224² (1000 classes) and batch 32 × 32² (10 classes), ResNet-50 at batch 8 × 224².
//! A step is what PyTorch's script times: `zero_grad` (set to none), forward in train mode,
//! cross-entropy, backward, `SGD(lr=1e-3, momentum=0.9).step()`, on fixed random inputs and
//! labels. Throughput is in images per second (criterion's "elem/s").
//!
//! CPU always; CUDA too when a GPU is present (the GPU script runs `-- cuda/`).
//! Run: `cargo bench --bench train` (add `-- resnet18` to pick cases). Results:
//! docs/PERFORMANCE.md.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::time::Duration;
use tiny_torch::nn::models::{ResNetConfig, resnet18, resnet50};
use tiny_torch::optim::{Sgd, SgdOptions};
use tiny_torch::prelude::*;

struct Case {
    name: &'static str,
    deep: bool,
    batch: usize,
    size: usize,
    classes: usize,
}

const CASES: [Case; 3] = [
    Case {
        name: "resnet18_8x224",
        deep: false,
        batch: 8,
        size: 224,
        classes: 1000,
    },
    Case {
        name: "resnet18_32x32",
        deep: false,
        batch: 32,
        size: 32,
        classes: 10,
    },
    Case {
        name: "resnet50_8x224",
        deep: true,
        batch: 8,
        size: 224,
        classes: 1000,
    },
];

fn bench_training<B: Backend>(c: &mut Criterion, backend: &B) {
    let mut group = c.benchmark_group(format!("{}/train", backend.name()));
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(3))
        .measurement_time(Duration::from_secs(20));
    for case in &CASES {
        manual_seed(0);
        let config = ResNetConfig {
            num_classes: case.classes,
            ..ResNetConfig::default()
        };
        let model = if case.deep {
            resnet50(config, backend)
        } else {
            resnet18(config, backend)
        };
        let Ok(model) = model else {
            eprintln!(
                "skipping {}: the model could not be built on {}",
                case.name,
                backend.name()
            );
            continue;
        };
        model.train();
        let mut opt = Sgd::new(
            model.parameters(),
            SgdOptions {
                lr: 1e-3,
                momentum: 0.9,
                ..SgdOptions::default()
            },
        )
        .expect("SGD");
        let x = Tensor::randn(&[case.batch, 3, case.size, case.size], DType::F32, backend).unwrap();
        let y = Tensor::randint(0, case.classes as i64, &[case.batch], backend).unwrap();
        let mut step = || -> Result<()> {
            opt.zero_grad();
            F::cross_entropy(&model.forward(&x)?, &y)?.backward()?;
            opt.step()?;
            backend.synchronize()
        };
        if let Err(e) = step() {
            eprintln!("skipping {}: {e}", case.name);
            continue;
        }
        group.throughput(Throughput::Elements(case.batch as u64));
        group.bench_function(case.name, |b| b.iter(|| step().unwrap()));
    }
    group.finish();
}

fn benches(c: &mut Criterion) {
    bench_training(c, &Cpu);
    #[cfg(feature = "cuda")]
    if tiny_torch::cuda::is_available() {
        bench_training(c, &Cuda::new(0).expect("cuda:0"));
    }
}

criterion_group!(train, benches);
criterion_main!(train);
