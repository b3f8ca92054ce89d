//! Criterion benches of the core ops, per backend, with the cases of PyTorch's reference figures
//! (`torch-cpu.tsv`): square matmul, add and relu on 16M elements (new tensor, `out=`, in place),
//! sum of 16M elements and softmax over [4096, 1024]. Throughput is reported as PyTorch's script
//! counts it: matmul `2n³` flop (criterion's "elem/s" are flop/s), add 12 bytes per element, relu
//! 8, sum 4, softmax 8.
//!
//! Every timed call ends with `synchronize()`, so queued (CUDA) work is measured, not just its
//! launch; on the CPU that call does nothing. CUDA cases run when a GPU is present (add
//! `-- cuda/` to pick them), with larger and reduced-precision matrix products besides.
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

fn benches(c: &mut Criterion) {
    bench_backend(c, &Cpu);
    #[cfg(feature = "cuda")]
    match tiny_torch::cuda::Cuda::new(0) {
        Ok(cuda) => {
            bench_backend(c, &cuda);
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
}

criterion_group!(ops, benches);
criterion_main!(ops);
