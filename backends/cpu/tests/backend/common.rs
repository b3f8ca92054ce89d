//! Helpers: storages from `f64` values, reading them back, tolerances per dtype.

use half::{bf16, f16};
use tiny_torch_core::{Backend, DType, Element, Error, Layout, View, ViewMut};
pub use tiny_torch_cpu::{Cpu, CpuStorage};

pub const FLOATS: [DType; 4] = [DType::F32, DType::F64, DType::F16, DType::BF16];
pub const INTS: [DType; 3] = [DType::U8, DType::I32, DType::I64];

pub fn cpu() -> Cpu {
    Cpu
}

fn bytes_of<T: Element>(values: &[f64]) -> Vec<u8> {
    let v: Vec<T> = values.iter().map(|&x| T::from_f64(x)).collect();
    T::to_bytes(&v)
}

/// Halves from values: `from_f32` when the value is an `f32` (correctly rounded; `half`'s
/// `from_f64` misrounds some ties), else `from_f64` (tests compare those with a tolerance).
fn half_bytes<T: Element>(values: &[f64], from_f32: fn(f32) -> T) -> Vec<u8> {
    let v: Vec<T> = values
        .iter()
        .map(|&x| {
            if (x as f32) as f64 == x || x.is_nan() {
                from_f32(x as f32)
            } else {
                T::from_f64(x)
            }
        })
        .collect();
    T::to_bytes(&v)
}

/// A storage holding `values` converted to `dtype`.
pub fn store(values: &[f64], dtype: DType) -> CpuStorage {
    let bytes = match dtype {
        DType::Bool => bytes_of::<bool>(values),
        DType::U8 => bytes_of::<u8>(values),
        DType::I32 => bytes_of::<i32>(values),
        DType::I64 => bytes_of::<i64>(values),
        DType::F16 => half_bytes::<f16>(values, f16::from_f32),
        DType::BF16 => half_bytes::<bf16>(values, bf16::from_f32),
        DType::F32 => bytes_of::<f32>(values),
        DType::F64 => bytes_of::<f64>(values),
    };
    cpu().from_bytes(dtype, &bytes).unwrap()
}

/// `values` as they read back after a round trip through `dtype`.
pub fn rounded(values: &[f64], dtype: DType) -> Vec<f64> {
    read(&store(values, dtype), &Layout::contiguous([values.len()]))
}

fn values_of<T: Element>(bytes: &[u8]) -> Vec<f64> {
    T::from_bytes(bytes)
        .into_iter()
        .map(|x| x.to_f64())
        .collect()
}

/// The elements of `s` under `layout`, in row-major order, as `f64`.
pub fn read(s: &CpuStorage, layout: &Layout) -> Vec<f64> {
    use tiny_torch_core::BackendStorage;
    let bytes = cpu().to_bytes(View::new(s, layout)).unwrap();
    match s.dtype() {
        DType::Bool => values_of::<bool>(&bytes),
        DType::U8 => values_of::<u8>(&bytes),
        DType::I32 => values_of::<i32>(&bytes),
        DType::I64 => values_of::<i64>(&bytes),
        DType::F16 => values_of::<f16>(&bytes),
        DType::BF16 => values_of::<bf16>(&bytes),
        DType::F32 => values_of::<f32>(&bytes),
        DType::F64 => values_of::<f64>(&bytes),
    }
}

/// All elements of a contiguous storage.
pub fn read_all(s: &CpuStorage) -> Vec<f64> {
    use tiny_torch_core::BackendStorage;
    read(s, &Layout::contiguous([s.len()]))
}

pub fn contiguous(dims: &[usize]) -> Layout {
    Layout::contiguous(dims.to_vec())
}

pub fn view<'a>(s: &'a CpuStorage, l: &'a Layout) -> View<'a, CpuStorage> {
    View::new(s, l)
}

pub fn view_mut<'a>(s: &'a mut CpuStorage, l: &'a Layout) -> ViewMut<'a, CpuStorage> {
    ViewMut::new(s, l)
}

/// A new contiguous storage of `n` elements of `dtype`.
pub fn empty(dtype: DType, n: usize) -> CpuStorage {
    cpu().alloc(dtype, n).unwrap()
}

/// Relative tolerance of `dtype`'s rounding (a few units in the last place).
pub fn rtol(dtype: DType) -> f64 {
    match dtype {
        DType::F64 => 1e-12,
        DType::F32 => 2e-6,
        DType::F16 => 2e-3,
        DType::BF16 => 1.6e-2,
        _ => 0.0,
    }
}

/// Asserts `got ≈ want` element-wise (NaN matches NaN, infinities must be equal).
#[track_caller]
pub fn assert_close(got: &[f64], want: &[f64], rtol: f64, atol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let ok = if w.is_nan() {
            g.is_nan()
        } else if w.is_infinite() {
            g == w
        } else {
            (g - w).abs() <= atol + rtol * w.abs()
        };
        if !ok {
            let (lo, hi) = (i.saturating_sub(3), (i + 4).min(got.len()));
            panic!(
                "{what}: element {i} of {}: got {g}, want {w}\n got[{lo}..{hi}] = {:?}\nwant[{lo}..{hi}] = {:?}",
                got.len(),
                &got[lo..hi],
                &want[lo..hi]
            );
        }
    }
}

/// Asserts an `Unsupported` error naming `op` and `dtype`.
#[track_caller]
pub fn assert_unsupported<T: std::fmt::Debug>(r: Result<T, Error>, op: &str, dtype: DType) {
    match r {
        Err(Error::Unsupported {
            op: o,
            dtype: d,
            backend,
        }) => {
            assert_eq!((o.as_str(), d, backend), (op, dtype, "cpu"));
        }
        other => panic!("expected Unsupported {{ {op}, {dtype} }}, got {other:?}"),
    }
}

/// Deterministic test values in `[-scale, scale]` (a fixed linear congruential sequence).
pub fn values(n: usize, seed: u64, scale: f64) -> Vec<f64> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * scale
        })
        .collect()
}

/// Row-major index -> multi-index of `dims`.
pub fn unravel(mut i: usize, dims: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; dims.len()];
    for d in (0..dims.len()).rev() {
        idx[d] = i % dims[d];
        i /= dims[d];
    }
    idx
}

/// Multi-index -> row-major index of `dims`.
pub fn ravel(idx: &[usize], dims: &[usize]) -> usize {
    idx.iter().zip(dims).fold(0, |acc, (&i, &n)| acc * n + i)
}

/// Asserts exact equality, reporting the first difference only.
#[track_caller]
pub fn assert_same(got: &[f64], want: &[f64], what: &str) {
    assert_close(got, want, 0.0, 0.0, what);
}
