//! Criterion benches of the core ops, per backend, with the cases of PyTorch's reference figures
//! (`torch-cpu.tsv`): square matmul, add and relu on 16M elements (new tensor, `out=`, in place),
//! sum of 16M elements and softmax over [4096, 1024]. Throughput is reported as PyTorch's script
//! counts it: matmul `2n³` flop (criterion's "elem/s" are flop/s), add 12 bytes per element, relu
//! 8, sum 4, softmax 8.
//!
//! Run: `cargo bench --bench ops` (add `-- matmul` to pick cases). Results: docs/PERFORMANCE.md.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use tiny_torch::prelude::*;

const BIG: usize = 16 * 1024 * 1024;

fn bench_backend<B: Backend>(c: &mut Criterion, backend: &B) {
    let name = backend.name();
    manual_seed(0);

    let mut group = c.benchmark_group(format!("{name}/matmul"));
    group.sample_size(10);
    for n in [256usize, 512, 1024, 2048] {
        let a = Tensor::randn(&[n, n], DType::F32, backend).unwrap();
        let b = Tensor::randn(&[n, n], DType::F32, backend).unwrap();
        group.throughput(Throughput::Elements(2 * (n * n * n) as u64));
        group.bench_function(BenchmarkId::from_parameter(n), |bench| {
            bench.iter(|| black_box(a.matmul(&b).unwrap()))
        });
    }
    group.finish();

    let x = Tensor::randn(&[BIG], DType::F32, backend).unwrap();
    let y = Tensor::randn(&[BIG], DType::F32, backend).unwrap();
    let out = Tensor::empty(&[BIG], DType::F32, backend).unwrap();
    let mut group = c.benchmark_group(format!("{name}/elementwise_16M"));
    group.sample_size(20);
    group.throughput(Throughput::BytesDecimal(12 * BIG as u64));
    group.bench_function("add", |bench| bench.iter(|| black_box(x.add(&y).unwrap())));
    group.bench_function("add_out", |bench| {
        bench.iter(|| x.add_out(&y, &out).unwrap())
    });
    group.throughput(Throughput::BytesDecimal(8 * BIG as u64));
    group.bench_function("relu", |bench| bench.iter(|| black_box(x.relu().unwrap())));
    group.bench_function("relu_out", |bench| bench.iter(|| x.relu_out(&out).unwrap()));
    let z = x.contiguous().unwrap().add(0.0).unwrap();
    group.bench_function("relu_inplace", |bench| bench.iter(|| z.relu_().unwrap()));
    group.finish();

    let mut group = c.benchmark_group(format!("{name}/reduce"));
    group.sample_size(20);
    group.throughput(Throughput::BytesDecimal(4 * BIG as u64));
    group.bench_function("sum_16M", |bench| {
        bench.iter(|| black_box(x.sum().unwrap()))
    });
    let s = Tensor::randn(&[4096, 1024], DType::F32, backend).unwrap();
    group.throughput(Throughput::BytesDecimal(8 * 4096 * 1024));
    group.bench_function("softmax_4096x1024", |bench| {
        bench.iter(|| black_box(s.softmax(-1).unwrap()))
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    bench_backend(c, &Cpu);
}

criterion_group!(ops, benches);
criterion_main!(ops);
