//! Batched matrix products against an f64 triple loop: transposed operands, stride-0 batches,
//! every dtype, degenerate sizes and errors.

use crate::common::*;
use tiny_torch_core::{Backend, DType, Error, Layout};

/// `[b, m, k] x [b, k, n]` in f64 over logical (row-major read) values.
fn reference(a: &[f64], b: &[f64], (bs, m, k, n): (usize, usize, usize, usize)) -> Vec<f64> {
    let mut out = vec![0.0; bs * m * n];
    for q in 0..bs {
        for i in 0..m {
            for j in 0..n {
                out[(q * m + i) * n + j] = (0..k)
                    .map(|p| a[(q * m + i) * k + p] * b[(q * k + p) * n + j])
                    .sum();
            }
        }
    }
    out
}

fn check(dtype: DType, sa: &CpuStorage, la: &Layout, sb: &CpuStorage, lb: &Layout, tol: f64) {
    let out = cpu().matmul(view(sa, la), view(sb, lb)).unwrap();
    let (a, b) = (read(sa, la), read(sb, lb));
    let d = (la.dims()[0], la.dims()[1], la.dims()[2], lb.dims()[2]);
    let want = reference(&a, &b, d);
    // scale tolerance by the size of the terms: |a||b| k
    let atol = tol * d.2 as f64 * 4.0;
    assert_close(
        &read_all(&out),
        &want,
        tol,
        atol,
        &format!("{dtype} {la:?} x {lb:?}"),
    );
}

/// Layout cases for `[b, m, k] x [b, k, n]`: contiguous, transposed, broadcast batch.
fn cases(b: usize, m: usize, k: usize, n: usize) -> Vec<(Layout, Layout)> {
    vec![
        (contiguous(&[b, m, k]), contiguous(&[b, k, n])),
        (
            contiguous(&[b, k, m]).transpose(1, 2).unwrap(),
            contiguous(&[b, n, k]).transpose(1, 2).unwrap(),
        ),
        (
            contiguous(&[1, m, k]).expand(&[b, m, k]).unwrap(),
            contiguous(&[b, k, n]),
        ),
        (
            contiguous(&[m, k]).expand(&[b, m, k]).unwrap(),
            contiguous(&[k, b, n]).transpose(0, 1).unwrap(),
        ),
    ]
}

#[test]
fn float_products_with_strided_operands() {
    for (b, m, k, n) in [(2, 3, 4, 5), (3, 17, 33, 9), (1, 70, 65, 80), (2, 1, 7, 1)] {
        let a = values(b * m * k, 1, 1.0);
        let c = values(b * k * n, 2, 1.0);
        for dtype in FLOATS {
            let (sa, sc) = (store(&a, dtype), store(&c, dtype));
            let tol = match dtype {
                DType::F64 => 1e-13,
                DType::F32 => 1e-6,
                DType::F16 => 2e-3,
                _ => 1e-2,
            };
            for (la, lc) in cases(b, m, k, n) {
                check(dtype, &sa, &la, &sc, &lc, tol);
            }
        }
    }
}

#[test]
fn large_products_use_threads() {
    let (m, k, n) = (130, 150, 140);
    let a = values(m * k, 3, 1.0);
    let c = values(k * n, 4, 1.0);
    for dtype in [DType::F32, DType::F64] {
        let (sa, sc) = (store(&a, dtype), store(&c, dtype));
        let tol = if dtype == DType::F64 { 1e-13 } else { 1e-6 };
        check(
            dtype,
            &sa,
            &contiguous(&[1, m, k]),
            &sc,
            &contiguous(&[1, k, n]),
            tol,
        );
    }
    // many small matrices in parallel
    let (b, m, k, n) = (64, 8, 16, 8);
    let a = values(b * m * k, 5, 1.0);
    let c = values(b * k * n, 6, 1.0);
    let (sa, sc) = (store(&a, DType::F32), store(&c, DType::F32));
    check(
        DType::F32,
        &sa,
        &contiguous(&[b, m, k]),
        &sc,
        &contiguous(&[b, k, n]),
        1e-6,
    );
}

#[test]
fn integer_products_wrap() {
    let (b, m, k, n) = (2, 3, 4, 5);
    let a: Vec<f64> = values(b * m * k, 7, 9.0)
        .iter()
        .map(|v| v.round())
        .collect();
    let c: Vec<f64> = values(b * k * n, 8, 9.0)
        .iter()
        .map(|v| v.round())
        .collect();
    for dtype in [DType::I32, DType::I64] {
        let (sa, sc) = (store(&a, dtype), store(&c, dtype));
        for (la, lc) in cases(b, m, k, n) {
            check(dtype, &sa, &la, &sc, &lc, 0.0);
        }
    }
    let ua: Vec<f64> = a.iter().map(|v| v.abs()).collect();
    let uc: Vec<f64> = c.iter().map(|v| v.abs()).collect();
    let (sa, sc) = (store(&ua, DType::U8), store(&uc, DType::U8));
    let out = cpu()
        .matmul(
            view(&sa, &contiguous(&[b, m, k])),
            view(&sc, &contiguous(&[b, k, n])),
        )
        .unwrap();
    let want: Vec<f64> = reference(&ua, &uc, (b, m, k, n))
        .iter()
        .map(|v| (*v as u64 % 256) as f64)
        .collect();
    assert_eq!(read_all(&out), want);
    let big = store(&[i64::MAX as f64, 2.0], DType::I64);
    let out = cpu()
        .matmul(
            view(&big, &contiguous(&[1, 1, 2])),
            view(&big, &contiguous(&[1, 2, 1])),
        )
        .unwrap();
    // i64::MAX * i64::MAX + 4 wraps to 5
    assert_eq!(read_all(&out), vec![5.0]);
}

#[test]
fn degenerate_sizes_and_errors() {
    let be = cpu();
    // k = 0 gives zeros; m = 0 or b = 0 gives an empty result
    for dtype in [DType::F32, DType::F64, DType::F16, DType::BF16, DType::I64] {
        let e = empty(dtype, 0);
        let out = be
            .matmul(
                view(&e, &contiguous(&[2, 3, 0])),
                view(&e, &contiguous(&[2, 0, 4])),
            )
            .unwrap();
        assert_eq!(read_all(&out), vec![0.0; 24], "{dtype}");
        let out = be
            .matmul(
                view(&e, &contiguous(&[2, 0, 3])),
                view(
                    &empty(dtype, 6),
                    &contiguous(&[1, 3, 2]).expand(&[2, 3, 2]).unwrap(),
                ),
            )
            .unwrap();
        assert!(read_all(&out).is_empty());
    }
    let s = store(&[1.0; 12], DType::Bool);
    assert_unsupported(
        be.matmul(
            view(&s, &contiguous(&[1, 3, 4])),
            view(&s, &contiguous(&[1, 4, 3])),
        ),
        "matmul",
        DType::Bool,
    );
    let f = store(&[1.0; 12], DType::F32);
    assert!(matches!(
        be.matmul(
            view(&f, &contiguous(&[1, 3, 4])),
            view(&f, &contiguous(&[1, 3, 4]))
        ),
        Err(Error::Shape { .. })
    ));
    assert!(matches!(
        be.matmul(
            view(&f, &contiguous(&[3, 4])),
            view(&f, &contiguous(&[4, 3]))
        ),
        Err(Error::Shape { .. })
    ));
    let d = store(&[1.0; 12], DType::F64);
    assert!(matches!(
        be.matmul(
            view(&f, &contiguous(&[1, 3, 4])),
            view(&d, &contiguous(&[1, 4, 3]))
        ),
        Err(Error::DType { .. })
    ));
    // an operand layout reaching past its storage
    assert!(
        be.matmul(
            view(&f, &contiguous(&[1, 4, 4])),
            view(&f, &contiguous(&[1, 4, 3]))
        )
        .is_err()
    );
}

#[test]
fn half_products_accumulate_in_f32_over_long_k() {
    // Positive terms, k = 4096: rounding the running sum to f16/bf16 along k would show.
    let (m, k, n) = (3, 4096, 2);
    let a: Vec<f64> = values(m * k, 9, 1.0).iter().map(|v| v.abs()).collect();
    let c: Vec<f64> = values(k * n, 10, 1.0).iter().map(|v| v.abs()).collect();
    for (dtype, rtol) in [(DType::F16, 1e-3), (DType::BF16, 8e-3)] {
        let (sa, sc) = (store(&a, dtype), store(&c, dtype));
        let (la, lc) = (contiguous(&[1, m, k]), contiguous(&[1, k, n]));
        let out = cpu().matmul(view(&sa, &la), view(&sc, &lc)).unwrap();
        let want = reference(&read(&sa, &la), &read(&sc, &lc), (1, m, k, n));
        assert_close(&read_all(&out), &want, rtol, 0.0, &format!("{dtype}"));
    }
}
