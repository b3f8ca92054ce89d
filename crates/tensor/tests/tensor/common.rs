//! Helpers shared by the tests: the backend, deterministic data, f64 references, assertions.

use std::fmt::Debug;
use tiny_torch_cpu::Cpu;
use tiny_torch_tensor::{DType, Result, Tensor};

pub type T = Tensor<Cpu>;

/// A reference function of one f64 and of two.
pub type Unary = fn(f64) -> f64;
pub type Binary = fn(f64, f64) -> f64;

pub fn cpu() -> Cpu {
    Cpu
}

/// `n` deterministic values in `[-2, 2)` (a small LCG; no dependence on the code under test).
pub fn data(n: usize, seed: u64) -> Vec<f64> {
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            // Multiples of 1/64 so that f32 holds them exactly.
            ((state >> 40) % 256) as f64 / 64.0 - 2.0
        })
        .collect()
}

/// A tensor of `shape` and `dtype` holding `values` (converted from f64).
pub fn tensor(values: &[f64], shape: &[usize], dtype: DType) -> T {
    Tensor::from_slice(values, shape, &cpu())
        .unwrap()
        .to_dtype(dtype)
        .unwrap()
}

/// A float32 tensor of `shape` with deterministic values, and those values.
pub fn random_f32(shape: &[usize], seed: u64) -> (T, Vec<f64>) {
    let n = shape.iter().product();
    let values = data(n, seed);
    (tensor(&values, shape, DType::F32), values)
}

/// Row-major strides of `shape`.
pub fn strides_of(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![1; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        strides[d] = strides[d + 1] * shape[d + 1];
    }
    strides
}

/// The multi-index of row-major position `i` in `shape`.
pub fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        index[d] = i % shape[d];
        i /= shape[d];
    }
    index
}

/// The row-major position of `index` in `shape`.
pub fn ravel(index: &[usize], shape: &[usize]) -> usize {
    index
        .iter()
        .zip(strides_of(shape))
        .map(|(&i, s)| i * s)
        .sum()
}

/// The position in `shape` that output `index` reads when `shape` is broadcast to the output.
pub fn broadcast_ravel(index: &[usize], shape: &[usize]) -> usize {
    let lead = index.len() - shape.len();
    let own: Vec<usize> = shape
        .iter()
        .enumerate()
        .map(|(d, &n)| if n == 1 { 0 } else { index[lead + d] })
        .collect();
    ravel(&own, shape)
}

/// Builds the row-major values of `shape` from a function of the multi-index.
pub fn reference(shape: &[usize], f: impl Fn(&[usize]) -> f64) -> Vec<f64> {
    let n: usize = shape.iter().product();
    (0..n).map(|i| f(&unravel(i, shape))).collect()
}

pub fn values(t: &T) -> Vec<f64> {
    t.to_f64_vec().unwrap()
}

#[track_caller]
pub fn assert_close(got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "lengths differ: {got:?} vs {want:?}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let ok = (g.is_nan() && w.is_nan()) || g == w || (g - w).abs() <= tol * (1.0 + w.abs());
        assert!(
            ok,
            "element {i}: got {g}, want {w}\n got {got:?}\nwant {want:?}"
        );
    }
}

/// Checks a tensor's shape, dtype and values.
#[track_caller]
pub fn assert_tensor(t: &T, shape: &[usize], dtype: DType, want: &[f64], tol: f64) {
    assert_eq!(t.dims(), shape, "shape");
    assert_eq!(t.dtype(), dtype, "dtype");
    assert_close(&values(t), want, tol);
}

/// The message of an error result, asserting it contains every one of `parts`.
#[track_caller]
pub fn assert_err<V: Debug>(result: Result<V>, parts: &[&str]) -> String {
    let message = result.unwrap_err().to_string();
    for part in parts {
        assert!(
            message.contains(part),
            "error message {message:?} lacks {part:?}"
        );
    }
    message
}
