//! Softmax and log-softmax along every dim of strided inputs, against f64 references.

use crate::common::*;
use tiny_torch_core::{Backend, DType, Layout};

/// Softmax of `x` (shape `dims`, row-major) along `dim`, in f64, lane by lane.
fn reference(x: &[f64], dims: &[usize], dim: usize, log: bool) -> Vec<f64> {
    let size = dims[dim];
    let inner: usize = dims[dim + 1..].iter().product();
    let outer: usize = dims[..dim].iter().product();
    let mut out = vec![0.0; x.len()];
    for o in 0..outer {
        for i in 0..inner {
            let at = |k: usize| (o * size + k) * inner + i;
            let m = (0..size)
                .map(|k| x[at(k)])
                .fold(f64::NEG_INFINITY, f64::max);
            let s: f64 = (0..size).map(|k| (x[at(k)] - m).exp()).sum();
            for k in 0..size {
                out[at(k)] = if log {
                    x[at(k)] - m - s.ln()
                } else {
                    (x[at(k)] - m).exp() / s
                };
            }
        }
    }
    out
}

fn check(dtype: DType, s: &CpuStorage, l: &Layout, dim: usize, log: bool) {
    let out = cpu().softmax(view(s, l), dim, log).unwrap();
    let x = read(s, l);
    let want = rounded(&reference(&x, l.dims(), dim, log), dtype);
    let tol = rtol(dtype) * 2.0;
    assert_close(
        &read_all(&out),
        &want,
        tol,
        tol * 0.1,
        &format!("{dtype} {l:?} dim {dim} log {log}"),
    );
}

#[test]
fn softmax_along_every_dim_of_strided_inputs() {
    let base = contiguous(&[5, 4, 3]);
    let layouts = [
        contiguous(&[3, 4, 19]),
        base.permute(&[2, 0, 1]).unwrap(), // [3, 5, 4]
        contiguous(&[6, 8, 3]).slice(1, 1, 8, 2).unwrap(), // [6, 4, 3]
        contiguous(&[1, 4, 1]).expand(&[2, 4, 3]).unwrap(),
    ];
    for dtype in FLOATS {
        let x = values(3 * 4 * 19, 2, 6.0);
        let s = store(&x, dtype);
        for l in &layouts {
            for dim in 0..3 {
                for log in [false, true] {
                    check(dtype, &s, l, dim, log);
                }
            }
        }
    }
}

#[test]
fn large_rows_run_in_parallel_and_large_values_are_stable() {
    let (m, n) = (257, 1031);
    let x: Vec<f64> = values(m * n, 3, 30.0).iter().map(|v| v + 1000.0).collect();
    for dtype in [DType::F32, DType::F64] {
        let s = store(&x, dtype);
        let l = contiguous(&[m, n]);
        for log in [false, true] {
            check(dtype, &s, &l, 1, log);
            check(dtype, &s, &l, 0, log);
        }
    }
}

#[test]
fn masked_rows_nan_and_zero_size() {
    let inf = f64::INFINITY;
    let l = contiguous(&[3, 3]);
    let x = [0.0, -inf, -inf, -inf, -inf, -inf, 1.0, f64::NAN, 2.0];
    for dtype in FLOATS {
        let s = store(&x, dtype);
        let out = read_all(&cpu().softmax(view(&s, &l), 1, false).unwrap());
        assert_eq!(&out[..3], &[1.0, 0.0, 0.0], "{dtype}"); // exp(-inf) is exactly 0
        assert!(out[3..].iter().all(|v| v.is_nan()), "{dtype}: {out:?}");
        let lout = read_all(&cpu().softmax(view(&s, &l), 1, true).unwrap());
        assert_eq!(&lout[..3], &[0.0, -inf, -inf]);
    }
    let e = empty(DType::F32, 0);
    for dims in [[0usize, 4], [4, 0]] {
        let l = contiguous(&dims);
        for dim in 0..2 {
            let out = cpu().softmax(view(&e, &l), dim, false).unwrap();
            assert!(read_all(&out).is_empty());
        }
    }
    // a zero-dim tensor: softmax 1, log-softmax 0
    let z = store(&[3.0], DType::F32);
    let zl = contiguous(&[]);
    assert_eq!(
        read_all(&cpu().softmax(view(&z, &zl), 0, false).unwrap()),
        vec![1.0]
    );
    assert_eq!(
        read_all(&cpu().softmax(view(&z, &zl), 0, true).unwrap()),
        vec![0.0]
    );
}

#[test]
fn integers_are_unsupported_and_bad_dims_are_errors() {
    let l = contiguous(&[2, 2]);
    for dtype in [DType::I64, DType::Bool, DType::U8, DType::I32] {
        let s = store(&[1.0, 0.0, 1.0, 1.0], dtype);
        assert_unsupported(cpu().softmax(view(&s, &l), 1, false), "softmax", dtype);
        assert_unsupported(cpu().softmax(view(&s, &l), 1, true), "log_softmax", dtype);
    }
    let s = store(&[1.0; 4], DType::F32);
    assert!(cpu().softmax(view(&s, &l), 2, false).is_err());
}
