//! Reductions against f64 references: every op over several dim sets of contiguous, permuted
//! and sliced inputs, the parallel paths, accuracy of long sums, dtypes, zero-size inputs.

use crate::common::*;
use tiny_torch_core::{Backend, BackendStorage, DType, Error, Layout, ReduceOp};

/// Groups the row-major `x` of shape `dims` by the kept coordinates and folds each group.
fn reference(x: &[f64], dims: &[usize], red: &[usize], f: impl Fn(&[f64]) -> f64) -> Vec<f64> {
    let out_dims: Vec<usize> = dims
        .iter()
        .enumerate()
        .map(|(d, &n)| if red.contains(&d) { 1 } else { n })
        .collect();
    let out_n: usize = out_dims.iter().product();
    let mut groups = vec![Vec::new(); out_n];
    for (i, &v) in x.iter().enumerate() {
        let mut idx = unravel(i, dims);
        for &d in red {
            idx[d] = 0;
        }
        groups[ravel(&idx, &out_dims)].push(v);
    }
    groups.iter().map(|g| f(g)).collect()
}

/// A reduction of one group of values.
type Fold = Box<dyn Fn(&[f64]) -> f64>;

fn op_reference(op: ReduceOp) -> Fold {
    use ReduceOp::*;
    match op {
        Sum => Box::new(|g| g.iter().sum()),
        Mean => Box::new(|g| g.iter().sum::<f64>() / g.len() as f64),
        Prod => Box::new(|g| g.iter().product()),
        Max => Box::new(|g| g.iter().cloned().fold(f64::NEG_INFINITY, f64::max)),
        Min => Box::new(|g| g.iter().cloned().fold(f64::INFINITY, f64::min)),
        ArgMax => Box::new(|g| {
            let m = g.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            g.iter().position(|&v| v == m).unwrap() as f64
        }),
        ArgMin => Box::new(|g| {
            let m = g.iter().cloned().fold(f64::INFINITY, f64::min);
            g.iter().position(|&v| v == m).unwrap() as f64
        }),
        Var { correction } => Box::new(move |g| {
            let mean = g.iter().sum::<f64>() / g.len() as f64;
            g.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (g.len() as f64 - correction)
        }),
        LogSumExp => Box::new(|g| g.iter().map(|v| v.exp()).sum::<f64>().ln()),
        All => Box::new(|g| g.iter().all(|&v| v != 0.0) as u8 as f64),
        Any => Box::new(|g| g.iter().any(|&v| v != 0.0) as u8 as f64),
    }
}

fn out_dtype(op: ReduceOp, dtype: DType) -> DType {
    match op {
        ReduceOp::ArgMax | ReduceOp::ArgMin => DType::I64,
        ReduceOp::All | ReduceOp::Any => DType::Bool,
        ReduceOp::Sum | ReduceOp::Prod if !dtype.is_float() => DType::I64,
        _ => dtype,
    }
}

/// Runs `op` over `red` and checks values, output dtype and length.
fn check(op: ReduceOp, dtype: DType, s: &CpuStorage, layout: &Layout, red: &[usize], tol: f64) {
    let out = cpu().reduce(op, view(s, layout), red).unwrap();
    assert_eq!(out.dtype(), out_dtype(op, dtype), "{op:?} {dtype}");
    let x = read(s, layout);
    let want = reference(&x, layout.dims(), red, op_reference(op));
    let want = if out.dtype() == dtype {
        rounded(&want, dtype)
    } else {
        want
    };
    let what = format!("{op:?} {dtype} {red:?} {layout:?}");
    let got = read_all(&out);
    if matches!(op, ReduceOp::Sum | ReduceOp::Mean) && dtype != DType::F64 && dtype.is_float() {
        // Float sums add runs of 16 elements in f32 before f64 (as PyTorch sums in f32): the
        // error bound of such a sum is ~16 ε₃₂ Σ|x|, which matters where the sum cancels.
        let abs: Vec<f64> = x.iter().map(|v| v.abs()).collect();
        let bound = reference(&abs, layout.dims(), red, op_reference(op));
        for (i, ((&g, &w), &b)) in got.iter().zip(&want).zip(&bound).enumerate() {
            let atol = tol * 0.1 + 16.0 * f32::EPSILON as f64 * b;
            assert!(
                (g - w).abs() <= atol + tol * w.abs(),
                "{what}: element {i}: got {g}, want {w}"
            );
        }
        return;
    }
    assert_close(&got, &want, tol, tol * 0.1, &what);
}

fn layouts() -> Vec<Layout> {
    let base = contiguous(&[4, 6, 5]);
    vec![
        contiguous(&[3, 4, 5]),
        base.permute(&[2, 0, 1]).unwrap().narrow(2, 1, 4).unwrap(), // [5, 4, 4]
        base.slice(1, 0, 6, 2).unwrap(),                            // [4, 3, 5]
        contiguous(&[4, 1, 1]).expand(&[4, 3, 5]).unwrap(),         // broadcast
    ]
}

const DIM_SETS: [&[usize]; 7] = [&[0], &[1], &[2], &[0, 2], &[1, 2], &[0, 1], &[0, 1, 2]];

#[test]
fn float_reductions_over_dim_sets_and_layouts() {
    use ReduceOp::*;
    for dtype in FLOATS {
        let x = values(120, 3, 2.0);
        let s = store(&x, dtype);
        for l in layouts() {
            for red in DIM_SETS {
                let tol = rtol(dtype) * 4.0;
                for op in [
                    Sum,
                    Mean,
                    Max,
                    Min,
                    Var { correction: 1.0 },
                    Var { correction: 0.0 },
                    LogSumExp,
                    All,
                    Any,
                ] {
                    check(op, dtype, &s, &l, red, tol);
                }
            }
            for red in [&[0usize][..], &[1], &[2]] {
                check(ArgMax, dtype, &s, &l, red, 0.0);
                check(ArgMin, dtype, &s, &l, red, 0.0);
            }
        }
        // prod of values near 1 (no overflow)
        let p: Vec<f64> = values(120, 4, 0.3).iter().map(|v| 1.0 + v).collect();
        let sp = store(&p, dtype);
        for l in layouts() {
            for red in DIM_SETS {
                check(Prod, dtype, &sp, &l, red, rtol(dtype) * 8.0);
            }
        }
    }
}

#[test]
fn integer_and_bool_reductions() {
    use ReduceOp::*;
    let x: Vec<f64> = values(120, 5, 50.0)
        .iter()
        .map(|v| v.round().abs())
        .collect();
    let small: Vec<f64> = values(120, 6, 2.0)
        .iter()
        .map(|v| v.round().abs())
        .collect();
    for dtype in INTS {
        let s = store(&x, dtype);
        let sp = store(&small, dtype);
        for l in layouts() {
            for red in DIM_SETS {
                for op in [Sum, Max, Min, All, Any] {
                    check(op, dtype, &s, &l, red, 0.0);
                }
                check(Prod, dtype, &sp, &l, red, 0.0);
            }
            check(ArgMax, dtype, &s, &l, &[1], 0.0);
            check(ArgMin, dtype, &s, &l, &[2], 0.0);
        }
        for op in [Mean, Var { correction: 1.0 }, LogSumExp] {
            assert_unsupported(
                cpu().reduce(op, view(&s, &contiguous(&[120])), &[0]),
                op.name(),
                dtype,
            );
        }
    }
    let b: Vec<f64> = small.iter().map(|&v| (v > 0.5) as u8 as f64).collect();
    let s = store(&b, DType::Bool);
    for l in layouts() {
        for red in DIM_SETS {
            for op in [Sum, Prod, Max, Min, All, Any] {
                check(op, DType::Bool, &s, &l, red, 0.0);
            }
        }
    }
    // i64 sums wrap rather than panic
    let big = store(&[i64::MAX as f64, 1.0], DType::I64);
    let out = cpu()
        .reduce(Sum, view(&big, &contiguous(&[2])), &[0])
        .unwrap();
    assert_eq!(read_all(&out), vec![i64::MIN as f64]);
}

#[test]
fn large_reductions_take_the_parallel_paths() {
    use ReduceOp::*;
    // many outputs (row sums), columns (sum over rows), few large outputs, and one output
    let (m, n) = (300, 700);
    let x = values(m * n, 7, 1.0);
    for dtype in [DType::F32, DType::F64] {
        let s = store(&x, dtype);
        let l = contiguous(&[m, n]);
        let tol = rtol(dtype) * 4.0;
        for red in [&[0usize][..], &[1], &[0, 1]] {
            for op in [Sum, Mean, Max, Var { correction: 1.0 }, LogSumExp] {
                check(op, dtype, &s, &l, red, tol);
            }
        }
        check(ArgMax, dtype, &s, &l, &[0], 0.0);
        check(ArgMin, dtype, &s, &l, &[1], 0.0);
        let t = l.transpose(0, 1).unwrap();
        check(Sum, dtype, &s, &t, &[0], tol);
        let wide = contiguous(&[2, m * n / 2]);
        check(Sum, dtype, &s, &wide, &[1], tol);
        check(Max, dtype, &s, &wide, &[1], tol);
        check(Var { correction: 1.0 }, dtype, &s, &wide, &[1], tol);
        let tall = contiguous(&[m * n / 2, 2]);
        check(Sum, dtype, &s, &tall, &[0], tol);
        check(Min, dtype, &s, &tall, &[0], tol);
    }
}

#[test]
fn long_float32_sums_are_accurate() {
    // 2^22 values of 0.1 + a tiny ramp: a naive f32 running sum is off by percents.
    let n = 1 << 22;
    let x: Vec<f64> = (0..n).map(|i| 0.1 + (i % 1000) as f64 * 1e-6).collect();
    let s = store(&x, DType::F32);
    let xs = read_all(&s);
    let want: f64 = xs.iter().sum();
    let out = cpu()
        .reduce(ReduceOp::Sum, view(&s, &contiguous(&[n])), &[0])
        .unwrap();
    let got = read_all(&out)[0];
    assert!(((got - want) / want).abs() < 1e-6, "{got} vs {want}");
    let mean = cpu()
        .reduce(ReduceOp::Mean, view(&s, &contiguous(&[n])), &[0])
        .unwrap();
    assert!(((read_all(&mean)[0] - want / n as f64) / (want / n as f64)).abs() < 1e-6);
    // variance of values with a large mean (a naive E[x²] - E[x]² loses everything)
    let y: Vec<f64> = (0..100_000).map(|i| 1e4 + (i % 7) as f64).collect();
    let sy = store(&y, DType::F32);
    let v = cpu()
        .reduce(
            ReduceOp::Var { correction: 0.0 },
            view(&sy, &contiguous(&[100_000])),
            &[0],
        )
        .unwrap();
    let mean = y.iter().sum::<f64>() / y.len() as f64;
    let want = y.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / y.len() as f64;
    assert!(
        (read_all(&v)[0] - want).abs() < 1e-4 * want,
        "{:?} vs {want}",
        read_all(&v)
    );
}

#[test]
fn nan_ties_and_infinities() {
    let l = contiguous(&[2, 4]);
    let nan = f64::NAN;
    let x = [1.0, nan, 3.0, nan, 2.0, 5.0, 5.0, -1.0];
    for dtype in FLOATS {
        let s = store(&x, dtype);
        let run = |op| read_all(&cpu().reduce(op, view(&s, &l), &[1]).unwrap());
        let max = run(ReduceOp::Max);
        assert!(max[0].is_nan() && max[1] == 5.0);
        let min = run(ReduceOp::Min);
        assert!(min[0].is_nan() && min[1] == -1.0);
        assert_eq!(run(ReduceOp::ArgMax), vec![1.0, 1.0]); // first NaN; first of tied maxima
        assert_eq!(run(ReduceOp::ArgMin), vec![1.0, 3.0]);
        assert!(run(ReduceOp::Sum)[0].is_nan());
        assert!(run(ReduceOp::LogSumExp)[0].is_nan());
    }
    let inf = f64::INFINITY;
    let y = [inf, 1.0, -inf, -inf, 1000.0, 1000.0];
    let s = store(&y, DType::F64);
    let out = cpu()
        .reduce(ReduceOp::LogSumExp, view(&s, &contiguous(&[3, 2])), &[1])
        .unwrap();
    assert_close(
        &read_all(&out),
        &[inf, -inf, 1000.0 + 2f64.ln()],
        1e-15,
        0.0,
        "lse",
    );
}

#[test]
fn zero_size_and_zero_dim() {
    use ReduceOp::*;
    let be = cpu();
    let s = empty(DType::F32, 0);
    let l = contiguous(&[0, 3]);
    let run = |op, red: &[usize]| be.reduce(op, view(&s, &l), red).map(|o| read_all(&o));
    assert_eq!(run(Sum, &[0]).unwrap(), vec![0.0; 3]);
    assert_eq!(run(Prod, &[0]).unwrap(), vec![1.0; 3]);
    assert!(run(Mean, &[0]).unwrap().iter().all(|v| v.is_nan()));
    assert_eq!(run(All, &[0]).unwrap(), vec![1.0; 3]);
    assert_eq!(run(Any, &[0]).unwrap(), vec![0.0; 3]);
    assert_eq!(run(LogSumExp, &[0]).unwrap(), vec![f64::NEG_INFINITY; 3]);
    for op in [Max, Min, ArgMax, ArgMin] {
        assert!(
            matches!(run(op, &[0]), Err(Error::InvalidArgument { .. })),
            "{op:?}"
        );
    }
    // reducing the non-empty dim of an empty tensor is an empty result, not an error
    assert_eq!(run(Max, &[1]).unwrap(), Vec::<f64>::new());
    let i = empty(DType::I32, 0);
    let o = be.reduce(Sum, view(&i, &l), &[0, 1]).unwrap();
    assert_eq!((o.dtype(), read_all(&o)), (DType::I64, vec![0.0]));
    // a zero-dim tensor
    let z = store(&[4.5], DType::F64);
    let zl = contiguous(&[]);
    for (op, want) in [
        (Sum, 4.5),
        (Max, 4.5),
        (ArgMax, 0.0),
        (Mean, 4.5),
        (Var { correction: 0.0 }, 0.0),
    ] {
        for dims in [&[][..], &[0]] {
            assert_eq!(
                read_all(&be.reduce(op, view(&z, &zl), dims).unwrap()),
                vec![want],
                "{op:?}"
            );
        }
    }
}

#[test]
fn bad_dims_are_errors() {
    let be = cpu();
    let s = store(&values(6, 1, 1.0), DType::F32);
    let l = contiguous(&[2, 3]);
    assert!(matches!(
        be.reduce(ReduceOp::Sum, view(&s, &l), &[2]),
        Err(Error::DimOutOfRange { .. })
    ));
    assert!(be.reduce(ReduceOp::Sum, view(&s, &l), &[1, 0]).is_err());
    assert!(be.reduce(ReduceOp::Sum, view(&s, &l), &[1, 1]).is_err());
    assert!(be.reduce(ReduceOp::ArgMax, view(&s, &l), &[0, 1]).is_err());
    assert!(be.reduce(ReduceOp::ArgMax, view(&s, &l), &[]).is_err());
}
