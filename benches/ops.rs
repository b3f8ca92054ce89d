//! Criterion benches of the core ops, per backend, with the cases of PyTorch's reference figures
//! (`torch-cpu.tsv`): square matmul, add and relu on 16M elements (new tensor, `out=`, in place),
//! sum of 16M elements and softmax over [4096, 1024], and conv2d forward and forward + backward
//! on three ResNet-50 layer shapes (CPU). Throughput is reported as PyTorch's script counts it:
//! matmul `2n³` flop (criterion's "elem/s" are flop/s), add 12 bytes per element, relu 8, sum 4,
//! softmax 8, conv2d `2 N O Ho Wo C kh kw` flop forward and three times that with the backward;
//! the ResNet stem's max pooling on [32, 64, 112, 112], the MNIST CNN's 2x2 max pooling on
//! [64, 64, 24, 24], and batch norm in training (forward, and
//! forward + backward) on [32, 64, 56, 56], in input elements per second (CPU).
//!
//! `overhead` cases time a chain of ops on one-element tensors (with and without autograd): what
//! an op costs apart from its work.
//!
//! Every timed call ends with `synchronize()`, so queued (CUDA) work is measured, not just its
//! launch; on the CPU that call does nothing. CUDA cases run when a GPU is present (add
//! `-- cuda/` to pick them), with larger and reduced-precision matrix products besides.
//!
//! wgpu cases (`-- wgpu/`) run on the first adapter: the full set on a GPU, smaller sizes on a
//! CPU adapter such as lavapipe.
//!
//! Run: `cargo bench --bench ops` (add `-- matmul` to pick cases). Results: docs/PERFORMANCE.md.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use tiny_torch::prelude::*;

const BIG: usize = 16 * 1024 * 1024;

/// Runs `op` and waits for the device, so that the time covers the work itself.
fn synced<B: Backend, T>(backend: &B, op: impl Fn() -> T) -> impl FnMut() -> T {
    move || {
        let out = op();
        backend.synchronize().unwrap();
        out
    }
}

fn bench_matmul<B: Backend>(c: &mut Criterion, backend: &B, dtype: DType, sizes: &[usize]) {
    let group_name = match dtype {
        DType::F32 => format!("{}/matmul", backend.name()),
        other => format!("{}/matmul_{}", backend.name(), other.torch_name()),
    };
    let mut group = c.benchmark_group(group_name);
    group.sample_size(10);
    for &n in sizes {
        let a = Tensor::randn(&[n, n], DType::F32, backend)
            .unwrap()
            .to_dtype(dtype)
            .unwrap();
        let b = Tensor::randn(&[n, n], DType::F32, backend)
            .unwrap()
            .to_dtype(dtype)
            .unwrap();
        group.throughput(Throughput::Elements(2 * (n * n * n) as u64));
        group.bench_function(BenchmarkId::from_parameter(n), |bench| {
            bench.iter(synced(backend, || black_box(a.matmul(&b).unwrap())))
        });
    }
    group.finish();
}

fn bench_backend<B: Backend>(c: &mut Criterion, backend: &B) {
    let name = backend.name();
    manual_seed(0);

    bench_matmul(c, backend, DType::F32, &[256, 512, 1024, 2048]);

    let x = Tensor::randn(&[BIG], DType::F32, backend).unwrap();
    let y = Tensor::randn(&[BIG], DType::F32, backend).unwrap();
    let out = Tensor::empty(&[BIG], DType::F32, backend).unwrap();
    let mut group = c.benchmark_group(format!("{name}/elementwise_16M"));
    group.sample_size(20);
    group.throughput(Throughput::BytesDecimal(12 * BIG as u64));
    group.bench_function("add", |bench| {
        bench.iter(synced(backend, || black_box(x.add(&y).unwrap())))
    });
    group.bench_function("add_out", |bench| {
        bench.iter(synced(backend, || x.add_out(&y, &out).unwrap()))
    });
    group.throughput(Throughput::BytesDecimal(8 * BIG as u64));
    group.bench_function("relu", |bench| {
        bench.iter(synced(backend, || black_box(x.relu().unwrap())))
    });
    group.bench_function("relu_out", |bench| {
        bench.iter(synced(backend, || x.relu_out(&out).unwrap()))
    });
    let z = x.contiguous().unwrap().add(0.0).unwrap();
    group.bench_function("relu_inplace", |bench| {
        bench.iter(synced(backend, || z.relu_().unwrap()))
    });
    group.finish();

    let mut group = c.benchmark_group(format!("{name}/reduce"));
    group.sample_size(20);
    group.throughput(Throughput::BytesDecimal(4 * BIG as u64));
    group.bench_function("sum_16M", |bench| {
        bench.iter(synced(backend, || black_box(x.sum().unwrap())))
    });
    let s = Tensor::randn(&[4096, 1024], DType::F32, backend).unwrap();
    group.throughput(Throughput::BytesDecimal(8 * 4096 * 1024));
    group.bench_function("softmax_4096x1024", |bench| {
        bench.iter(synced(backend, || black_box(s.softmax(-1).unwrap())))
    });
    group.finish();
}

/// conv2d forward (no grad) and forward + backward (`autograd::grad` with respect to input and
/// weight) on the three ResNet-50 layer shapes of PyTorch's reference figures, at batch 8: the
/// 7x7 stride-2 stem, a 3x3 layer1 conv and a 1x1 stride-2 downsample. Throughput as PyTorch's
/// script counts it: `2 N O Ho Wo C kh kw` flop forward, three times that forward + backward.
fn bench_conv<B: Backend>(c: &mut Criterion, backend: &B) {
    bench_conv_batch(c, backend, 8);
}

/// [`bench_conv`] at batch `batch` (1 on a CPU Vulkan adapter, where batch 8 takes minutes).
fn bench_conv_batch<B: Backend>(c: &mut Criterion, backend: &B, batch: usize) {
    let mut group = c.benchmark_group(format!("{}/conv2d", backend.name()));
    group.sample_size(10);
    // (name, input, out channels, kernel, stride, padding)
    let cases = [
        ("3to64_k7s2", [batch, 3, 224, 224], 64, 7, 2, 3),
        ("64to64_k3s1", [batch, 64, 56, 56], 64, 3, 1, 1),
        ("256to512_k1s2", [batch, 256, 56, 56], 512, 1, 2, 0),
    ];
    for (name, xs, cout, k, s, p) in cases {
        let name = format!("{name}_{batch}x{}", xs[2]);
        let [n, cin, h, w] = xs;
        let (ho, wo) = ((h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1);
        let flop = 2 * n * cout * ho * wo * cin * k * k;
        let x = Tensor::randn(&xs, DType::F32, backend).unwrap();
        let wt = Tensor::randn(&[cout, cin, k, k], DType::F32, backend)
            .unwrap()
            .mul(0.05)
            .unwrap();
        group.throughput(Throughput::Elements(flop as u64));
        group.bench_function(format!("{name}_fwd"), |bench| {
            let _guard = no_grad();
            bench.iter(synced(backend, || {
                black_box(x.conv2d(&wt, None, s, p, 1, 1).unwrap())
            }))
        });
        let (xg, wg) = (
            x.detach().requires_grad_(true).unwrap(),
            wt.detach().requires_grad_(true).unwrap(),
        );
        let gout = Tensor::randn(&[n, cout, ho, wo], DType::F32, backend).unwrap();
        group.throughput(Throughput::Elements(3 * flop as u64));
        group.bench_function(format!("{name}_fwdbwd"), |bench| {
            bench.iter(synced(backend, || {
                let out = xg.conv2d(&wg, None, s, p, 1, 1).unwrap();
                black_box(
                    autograd::grad(&[&out], &[&xg, &wg], Some(&[&gout]), false, false).unwrap(),
                )
            }))
        });
    }
    group.finish();
}

/// The ResNet stem's max pooling (3x3, stride 2, padding 1) on [32, 64, 112, 112], and batch
/// norm in training on [32, 64, 56, 56]: forward alone, and forward + backward (`autograd::grad`
/// with respect to input, weight and bias). Throughput in input elements per second.
fn bench_pool_batch_norm<B: Backend>(c: &mut Criterion, backend: &B) {
    let mut group = c.benchmark_group(format!("{}/nn", backend.name()));
    group.sample_size(10);
    let dims = [32, 64, 112, 112];
    let x = Tensor::randn(&dims, DType::F32, backend).unwrap();
    group.throughput(Throughput::Elements(x.numel() as u64));
    group.bench_function("max_pool2d_k3s2p1_32x64x112x112", |bench| {
        let _guard = no_grad();
        bench.iter(synced(backend, || {
            black_box(x.max_pool2d(3, 2, 1, 1, false).unwrap())
        }))
    });
    drop(x);
    // The MNIST CNN's pooling (2x2, stride 2) on its training batch.
    let x = Tensor::randn(&[64, 64, 24, 24], DType::F32, backend).unwrap();
    group.throughput(Throughput::Elements(x.numel() as u64));
    group.bench_function("max_pool2d_k2s2_64x64x24x24", |bench| {
        let _guard = no_grad();
        bench.iter(synced(backend, || {
            black_box(x.max_pool2d(2, 2, 0, 1, false).unwrap())
        }))
    });
    drop(x);
    let dims = [32, 64, 56, 56];
    let x = Tensor::randn(&dims, DType::F32, backend)
        .unwrap()
        .requires_grad_(true)
        .unwrap();
    let weight = Tensor::ones(&[64], DType::F32, backend)
        .unwrap()
        .requires_grad_(true)
        .unwrap();
    let bias = Tensor::zeros(&[64], DType::F32, backend)
        .unwrap()
        .requires_grad_(true)
        .unwrap();
    let (running_mean, running_var) = (
        Tensor::zeros(&[64], DType::F32, backend).unwrap(),
        Tensor::ones(&[64], DType::F32, backend).unwrap(),
    );
    let bn = || {
        x.batch_norm(
            Some(&running_mean),
            Some(&running_var),
            Some(&weight),
            Some(&bias),
            true,
            0.1,
            1e-5,
        )
        .unwrap()
    };
    let gout = Tensor::randn(&dims, DType::F32, backend).unwrap();
    group.throughput(Throughput::Elements(x.numel() as u64));
    group.bench_function("batch_norm_train_fwd_32x64x56x56", |bench| {
        let _guard = no_grad();
        bench.iter(synced(backend, || black_box(bn())))
    });
    group.bench_function("batch_norm_train_fwdbwd_32x64x56x56", |bench| {
        bench.iter(synced(backend, || {
            let out = bn();
            let wrt = [&x, &weight, &bias];
            black_box(autograd::grad(&[&out], &wrt, Some(&[&gout]), false, false).unwrap())
        }))
    });
    group.finish();
}

/// The cost of an op itself, apart from its work: 100 times `(x + b).relu()` on one-element
/// tensors, without autograd and with it (the forward records the graph, then a backward
/// through all 200 ops), one synchronization at the end. Throughput counts ops, so criterion's
/// "elem/s" are ops per second. On CUDA this is the host's side of a launch: what bounds a
/// step of many small kernels.
fn bench_overhead<B: Backend>(c: &mut Criterion, backend: &B) {
    const CHAIN: usize = 100;
    let mut group = c.benchmark_group(format!("{}/overhead", backend.name()));
    group.throughput(Throughput::Elements(2 * CHAIN as u64));
    let b = Tensor::full(&[1], 0.5, DType::F32, backend).unwrap();
    let chain = |x: &Tensor<B>| {
        let mut y = x.clone();
        for _ in 0..CHAIN {
            y = (&y + &b).unwrap().relu().unwrap();
        }
        y
    };
    let x = Tensor::full(&[1], 1.0, DType::F32, backend).unwrap();
    group.bench_function("add_relu_1elem", |bench| {
        bench.iter(synced(backend, || black_box(chain(&x))))
    });
    let leaf = x.requires_grad_(true).unwrap();
    group.bench_function("add_relu_1elem_autograd", |bench| {
        bench.iter(synced(backend, || {
            chain(&leaf).sum().unwrap().backward().unwrap();
        }))
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    bench_overhead(c, &Cpu);
    bench_backend(c, &Cpu);
    bench_conv(c, &Cpu);
    bench_pool_batch_norm(c, &Cpu);
    #[cfg(feature = "cuda")]
    match tiny_torch::cuda::Cuda::new(0) {
        Ok(cuda) => {
            bench_overhead(c, &cuda);
            bench_backend(c, &cuda);
            // PyTorch's defaults: TF32 convolutions (cudnn.allow_tf32), f32 matrix products.
            bench_conv(c, &cuda);
            bench_pool_batch_norm(c, &cuda);
            bench_matmul(c, &cuda, DType::F32, &[4096, 8192]);
            bench_matmul(c, &cuda, DType::BF16, &[2048, 4096, 8192]);
            bench_matmul(c, &cuda, DType::F16, &[4096, 8192]);
            tiny_torch::cuda::set_allow_tf32(true);
            let mut group = c.benchmark_group("cuda/matmul_tf32");
            group.sample_size(10);
            for n in [4096usize, 8192] {
                let a = Tensor::randn(&[n, n], DType::F32, &cuda).unwrap();
                let b = Tensor::randn(&[n, n], DType::F32, &cuda).unwrap();
                group.throughput(Throughput::Elements(2 * (n * n * n) as u64));
                group.bench_function(BenchmarkId::from_parameter(n), |bench| {
                    bench.iter(synced(&cuda, || black_box(a.matmul(&b).unwrap())))
                });
            }
            group.finish();
            tiny_torch::cuda::set_allow_tf32(false);
        }
        Err(e) => eprintln!("skipping the CUDA benches: {e}"),
    }
    #[cfg(feature = "wgpu")]
    match Wgpu::try_default() {
        Ok(wgpu) if tiny_torch::wgpu::adapters()[wgpu.index()].device_type == "Cpu" => {
            bench_wgpu_small(c, &wgpu)
        }
        Ok(wgpu) => {
            bench_backend(c, &wgpu);
            bench_conv(c, &wgpu);
            bench_pool_batch_norm(c, &wgpu);
        }
        Err(e) => eprintln!("skipping the wgpu benches: {e}"),
    }
}

/// The wgpu cases on a CPU adapter (Mesa lavapipe, far slower than any GPU): the same ops as
/// `bench_backend` at sizes it finishes in seconds (matmul up to 512, the three convolutions at
/// batch 1, 1M elements, a [256, 1024] softmax). On a GPU adapter the wgpu backend runs the full set instead.
#[cfg(feature = "wgpu")]
fn bench_wgpu_small(c: &mut Criterion, wgpu: &Wgpu) {
    const N: usize = 1 << 20;
    manual_seed(0);
    bench_matmul(c, wgpu, DType::F32, &[128, 256, 512]);
    bench_conv_batch(c, wgpu, 1);
    let x = Tensor::randn(&[N], DType::F32, wgpu).unwrap();
    let y = Tensor::randn(&[N], DType::F32, wgpu).unwrap();
    let mut group = c.benchmark_group("wgpu/elementwise_1M");
    group.sample_size(10);
    group.throughput(Throughput::BytesDecimal(12 * N as u64));
    group.bench_function("add", |bench| {
        bench.iter(synced(wgpu, || black_box(x.add(&y).unwrap())))
    });
    group.throughput(Throughput::BytesDecimal(8 * N as u64));
    group.bench_function("relu", |bench| {
        bench.iter(synced(wgpu, || black_box(x.relu().unwrap())))
    });
    group.finish();
    let mut group = c.benchmark_group("wgpu/reduce");
    group.sample_size(10);
    group.throughput(Throughput::BytesDecimal(4 * N as u64));
    group.bench_function("sum_1M", |bench| {
        bench.iter(synced(wgpu, || black_box(x.sum().unwrap())))
    });
    let s = Tensor::randn(&[256, 1024], DType::F32, wgpu).unwrap();
    group.throughput(Throughput::BytesDecimal(8 * 256 * 1024));
    group.bench_function("softmax_256x1024", |bench| {
        bench.iter(synced(wgpu, || black_box(s.softmax(-1).unwrap())))
    });
    group.finish();
}

criterion_group!(ops, benches);
criterion_main!(ops);
