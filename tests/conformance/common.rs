//! Helpers shared by the families: backend selection, host data, f64 references, assertions.

#![allow(dead_code)]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use tiny_torch::{Backend, DType, Element, Tensor, bf16, f16};

/// Serializes the tests that use the global default generator (tests run in parallel threads).
pub static GLOBAL_RNG: Mutex<()> = Mutex::new(());

/// Backends named in `TINY_TORCH_REQUIRE` (comma list, case-insensitive, blanks ignored).
pub fn required_backends() -> Vec<String> {
    std::env::var("TINY_TORCH_REQUIRE")
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The backend, or `None` (with a printed reason) when it is unavailable on this machine; a
/// backend named in `TINY_TORCH_REQUIRE` that is unavailable fails the test.
pub fn backend_or_skip<B: Backend>(
    name: &str,
    make: impl FnOnce() -> Result<B, String>,
) -> Option<B> {
    match make() {
        Ok(b) => Some(b),
        Err(reason) => {
            if required_backends().iter().any(|r| r == name) {
                panic!(
                    "the {name} backend is required (TINY_TORCH_REQUIRE) but unavailable: {reason}"
                );
            }
            eprintln!("skipping the {name} backend: {reason}");
            None
        }
    }
}

/// A named check of a family.
pub type Check<B> = (&'static str, fn(&B));

/// Runs every check (each may panic on its first failed assertion) and fails listing all the
/// checks that failed. On a backend other than the CPU (which must support everything), a check
/// that stopped on `Error::Unsupported` from that backend is skipped with the reason printed:
/// a backend may lack an op or a dtype (an adapter without f16 or f64), never return wrong
/// numbers.
pub fn run_checks<B: Backend>(family: &str, b: &B, checks: &[Check<B>]) {
    let mut failed = Vec::new();
    for (name, check) in checks {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| check(b))) {
            match unsupported_reason(panic.as_ref(), b.name()) {
                Some(reason) if b.name() != "cpu" => {
                    eprintln!(
                        "skipping {family}/{name} on {}: unsupported: {reason}",
                        b.name()
                    );
                }
                _ => failed.push(*name),
            }
        }
    }
    assert!(
        failed.is_empty(),
        "{family} on {}: {} of {} checks failed: {failed:?} (see the panic messages above)",
        b.name(),
        failed.len(),
        checks.len()
    );
}

/// The message of a panic caused by `Error::Unsupported` from `backend` (its `Display` or
/// `Debug` form), if that is what it was.
fn unsupported_reason(panic: &(dyn std::any::Any + Send), backend: &str) -> Option<String> {
    let msg = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))?;
    let display = msg.contains("is not supported for dtype")
        && msg.contains(&format!("on the {backend} backend"));
    let debug = msg.contains("Unsupported {") && msg.contains(&format!("backend: \"{backend}\""));
    (display || debug).then_some(msg)
}

// ------------------------------------------------------------------ host data

/// Deterministic values in `[lo, hi)` from a small LCG (independent of the library's RNG).
pub fn data(n: usize, seed: u64, lo: f64, hi: f64) -> Vec<f64> {
    let mut state = seed
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let u = (state >> 11) as f64 / (1u64 << 53) as f64;
            lo + (hi - lo) * u
        })
        .collect()
}

/// `data` rounded to f32 (and returned as the f64 values of those f32, so that references
/// start from exactly the tensor's elements).
pub fn data_f32(n: usize, seed: u64, lo: f64, hi: f64) -> Vec<f64> {
    data(n, seed, lo, hi)
        .into_iter()
        .map(|v| v as f32 as f64)
        .collect()
}

pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// A tensor of `dtype` holding `values` (converted from f64 on the host).
pub fn tensor<B: Backend>(values: &[f64], shape: &[usize], dtype: DType, b: &B) -> Tensor<B> {
    fn make<T: Element, B: Backend>(v: &[f64], shape: &[usize], b: &B) -> Tensor<B> {
        let host: Vec<T> = v.iter().map(|&x| T::from_f64(x)).collect();
        Tensor::from_vec(host, shape, b).unwrap()
    }
    match dtype {
        DType::Bool => make::<bool, B>(values, shape, b),
        DType::U8 => make::<u8, B>(values, shape, b),
        DType::I32 => make::<i32, B>(values, shape, b),
        DType::I64 => make::<i64, B>(values, shape, b),
        DType::F16 => make::<f16, B>(values, shape, b),
        DType::BF16 => make::<bf16, B>(values, shape, b),
        DType::F32 => make::<f32, B>(values, shape, b),
        DType::F64 => make::<f64, B>(values, shape, b),
    }
}

pub fn f32_tensor<B: Backend>(values: &[f64], shape: &[usize], b: &B) -> Tensor<B> {
    tensor(values, shape, DType::F32, b)
}

/// The elements of `t` on the host as f64, read in the tensor's own dtype (no device-side
/// conversion, so that backends without f64 can be checked).
pub fn host<B: Backend>(t: &Tensor<B>) -> Vec<f64> {
    fn read<T: Element, B: Backend>(t: &Tensor<B>) -> Vec<f64> {
        t.to_vec::<T>()
            .unwrap()
            .into_iter()
            .map(T::to_f64)
            .collect()
    }
    match t.dtype() {
        DType::Bool => read::<bool, B>(t),
        DType::U8 => read::<u8, B>(t),
        DType::I32 => read::<i32, B>(t),
        DType::I64 => read::<i64, B>(t),
        DType::F16 => read::<f16, B>(t),
        DType::BF16 => read::<bf16, B>(t),
        DType::F32 => read::<f32, B>(t),
        DType::F64 => read::<f64, B>(t),
    }
}

// ------------------------------------------------------------------ index helpers

/// Row-major strides of `shape`.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Multi-index of flat element `i`.
pub fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        if shape[d] > 0 {
            idx[d] = i % shape[d];
            i /= shape[d];
        }
    }
    idx
}

/// Flat index of `idx` in a row-major tensor of `shape`.
pub fn ravel(idx: &[usize], shape: &[usize]) -> usize {
    idx.iter().zip(strides(shape)).map(|(i, s)| i * s).sum()
}

/// Flat index, in a tensor of `shape`, of the element that output index `out_idx` (of a
/// broadcast result) reads.
pub fn broadcast_index(out_idx: &[usize], shape: &[usize]) -> usize {
    let skip = out_idx.len() - shape.len();
    let idx: Vec<usize> = shape
        .iter()
        .enumerate()
        .map(|(d, &n)| if n == 1 { 0 } else { out_idx[skip + d] })
        .collect();
    ravel(&idx, shape)
}

/// NumPy broadcasting of two shapes (the test's own version).
pub fn broadcast(a: &[usize], b: &[usize]) -> Vec<usize> {
    let n = a.len().max(b.len());
    (0..n)
        .map(|i| {
            let x = if i + a.len() >= n {
                a[i + a.len() - n]
            } else {
                1
            };
            let y = if i + b.len() >= n {
                b[i + b.len() - n]
            } else {
                1
            };
            assert!(
                x == y || x == 1 || y == 1,
                "test bug: {a:?} and {b:?} do not broadcast"
            );
            if x == 1 { y } else { x }
        })
        .collect()
}

/// Reference of an element-wise binary op with broadcasting.
pub fn ref_binary(
    a: &[f64],
    a_shape: &[usize],
    b: &[f64],
    b_shape: &[usize],
    f: impl Fn(f64, f64) -> f64,
) -> (Vec<f64>, Vec<usize>) {
    let out_shape = broadcast(a_shape, b_shape);
    let out = (0..numel(&out_shape))
        .map(|i| {
            let idx = unravel(i, &out_shape);
            f(
                a[broadcast_index(&idx, a_shape)],
                b[broadcast_index(&idx, b_shape)],
            )
        })
        .collect();
    (out, out_shape)
}

/// Reference reduction of `x` (row-major, `shape`) over `dims` (kept as size 1): returns the
/// groups of elements each output element reduces, in row-major order of the output.
pub fn groups(x: &[f64], shape: &[usize], dims: &[usize]) -> Vec<Vec<f64>> {
    let out_shape: Vec<usize> = shape
        .iter()
        .enumerate()
        .map(|(d, &n)| if dims.contains(&d) { 1 } else { n })
        .collect();
    let mut out = vec![Vec::new(); numel(&out_shape)];
    for (i, &v) in x.iter().enumerate() {
        let mut idx = unravel(i, shape);
        for &d in dims {
            idx[d] = 0;
        }
        out[ravel(&idx, &out_shape)].push(v);
    }
    out
}

// ------------------------------------------------------------------ assertions

/// Asserts shape, dtype and values: `|got - want| <= atol + rtol * |want|` (NaN matches NaN).
#[track_caller]
pub fn assert_close<B: Backend>(
    what: &str,
    t: &Tensor<B>,
    want: &[f64],
    shape: &[usize],
    dtype: DType,
    rtol: f64,
    atol: f64,
) {
    assert_eq!(t.dims(), shape, "{what}: shape");
    assert_eq!(t.dtype(), dtype, "{what}: dtype");
    assert_values(what, &host(t), want, rtol, atol);
}

/// Asserts shape, dtype and exact values.
#[track_caller]
pub fn assert_exact<B: Backend>(
    what: &str,
    t: &Tensor<B>,
    want: &[f64],
    shape: &[usize],
    dtype: DType,
) {
    assert_close(what, t, want, shape, dtype, 0.0, 0.0);
}

#[track_caller]
pub fn assert_values(what: &str, got: &[f64], want: &[f64], rtol: f64, atol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: number of elements");
    let mut bad = Vec::new();
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let ok = g == w || (g.is_nan() && w.is_nan()) || (g - w).abs() <= atol + rtol * w.abs();
        if !ok {
            bad.push((i, g, w));
        }
    }
    assert!(
        bad.is_empty(),
        "{what}: {} of {} elements differ (index, got, want), first ones: {:?}",
        bad.len(),
        got.len(),
        &bad[..bad.len().min(5)]
    );
}

/// Asserts that `result` is an error whose message contains every one of `words`.
#[track_caller]
pub fn assert_err<T: std::fmt::Debug>(what: &str, result: tiny_torch::Result<T>, words: &[&str]) {
    match result {
        Ok(v) => panic!("{what}: expected an error mentioning {words:?}, got Ok({v:?})"),
        Err(e) => {
            let msg = e.to_string();
            for w in words {
                assert!(
                    msg.contains(w),
                    "{what}: error message {msg:?} does not mention {w:?}"
                );
            }
        }
    }
}

// ------------------------------------------------------------------ f64 math the std lacks

/// The error function to ~1e-15 relative for |x| <= 4 (Maclaurin series; the tests stay
/// inside that range), and by its continued fraction beyond.
pub fn erf(x: f64) -> f64 {
    if x.abs() > 4.0 {
        return x.signum() * (1.0 - erfc_cf(x.abs()));
    }
    let mut sum = 0.0;
    let mut term = x; // x^(2n+1) (-1)^n / n!
    let mut n = 0.0;
    loop {
        let add = term / (2.0 * n + 1.0);
        sum += add;
        if add.abs() < 1e-17 * sum.abs().max(1e-300) {
            break;
        }
        n += 1.0;
        term *= -x * x / n;
    }
    sum * 2.0 / std::f64::consts::PI.sqrt()
}

/// erfc(x) for x > 4 by Lentz's continued fraction.
fn erfc_cf(x: f64) -> f64 {
    // erfc(x) = exp(-x²)/√π · 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...))))
    let mut f = x;
    for k in (1..60).rev() {
        f = x + (k as f64 / 2.0) / f;
    }
    (-x * x).exp() / std::f64::consts::PI.sqrt() / f
}

/// Round to the nearest value of `dtype` (f64 values of an f32, f16, bf16 element).
pub fn round_to(dtype: DType, v: f64) -> f64 {
    match dtype {
        DType::F32 => v as f32 as f64,
        DType::F16 => f16::from_f64(v).to_f64(),
        DType::BF16 => bf16::from_f64(v).to_f64(),
        _ => v,
    }
}
