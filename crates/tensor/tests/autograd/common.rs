//! Helpers shared by the autograd tests.

use tiny_torch_cpu::Cpu;
use tiny_torch_tensor::{DType, Tensor};

pub type T = Tensor<Cpu>;

pub fn cpu() -> Cpu {
    Cpu
}

/// `n` deterministic values in about `[-1.9, 1.9]`, none of them 0 or equal to another by
/// construction of the offset (kinks of relu/abs/clamp stay away from the samples).
pub fn values(n: usize, seed: u64) -> Vec<f64> {
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..n)
        .map(|i| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 40) % 256) as f64 / 64.0 * 0.93 - 1.86 + 0.0173 + i as f64 * 1e-4
        })
        .collect()
}

/// A float64 tensor of `shape` with [`values`].
pub fn input(shape: &[usize], seed: u64) -> T {
    let n = shape.iter().product();
    Tensor::from_slice(&values(n, seed), shape, &cpu()).unwrap()
}

/// A float64 tensor of `shape` with values in about `[0.3, 2.2]`.
pub fn positive(shape: &[usize], seed: u64) -> T {
    let n = shape.iter().product();
    let v: Vec<f64> = values(n, seed).iter().map(|x| x.abs() + 0.3).collect();
    Tensor::from_slice(&v, shape, &cpu()).unwrap()
}

/// A float64 leaf that requires grad.
pub fn leaf(values: &[f64], shape: &[usize]) -> T {
    Tensor::from_slice(values, shape, &cpu())
        .unwrap()
        .requires_grad_(true)
        .unwrap()
}

/// An int64 tensor.
pub fn index(values: &[i64], shape: &[usize]) -> T {
    Tensor::from_slice(values, shape, &cpu()).unwrap()
}

pub fn to_vec(t: &T) -> Vec<f64> {
    t.to_dtype(DType::F64).unwrap().to_vec::<f64>().unwrap()
}

pub fn assert_close(ours: &[f64], expected: &[f64], tol: f64) {
    assert_eq!(ours.len(), expected.len(), "{ours:?} vs {expected:?}");
    for (i, (a, b)) in ours.iter().zip(expected).enumerate() {
        assert!(
            (a - b).abs() <= tol * (1.0 + b.abs()),
            "element {i}: {a} vs {b} (all: {ours:?} vs {expected:?})"
        );
    }
}
