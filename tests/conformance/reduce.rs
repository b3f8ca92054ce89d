//! Reductions: sum, mean, prod, max/min (+ indices), amax/amin, argmax/argmin, var/std,
//! logsumexp, all/any, norm; over one, several, negative or all dims, with and without keepdim;
//! integer and bool inputs; strided inputs; accuracy of long sums.

use crate::common::*;
use tiny_torch::{Backend, DType, Tensor};

pub fn check_reduce<B: Backend>(b: &B) {
    run_checks(
        "reduce",
        b,
        &[
            ("sum_and_mean", sum_and_mean::<B>),
            ("prod", prod::<B>),
            ("max_min_and_indices", max_min_and_indices::<B>),
            (
                "argmax_ties_take_the_first",
                argmax_ties_take_the_first::<B>,
            ),
            ("var_and_std", var_and_std::<B>),
            (
                "var_without_degrees_of_freedom",
                var_without_degrees_of_freedom::<B>,
            ),
            ("logsumexp", logsumexp::<B>),
            ("all_and_any", all_and_any::<B>),
            ("norm", norm::<B>),
            ("int_and_bool_inputs", int_and_bool_inputs::<B>),
            ("strided_inputs", strided_inputs::<B>),
            (
                "accuracy_of_long_reductions",
                accuracy_of_long_reductions::<B>,
            ),
        ],
    );
}

const SHAPE: [usize; 3] = [3, 4, 5];

/// The dim lists tried, as given to the API and normalized.
const DIMS: [(&[isize], &[usize]); 7] = [
    (&[0], &[0]),
    (&[1], &[1]),
    (&[2], &[2]),
    (&[-1], &[2]),
    (&[0, 2], &[0, 2]),
    (&[-3, -2], &[0, 1]),
    (&[0, 1, 2], &[0, 1, 2]),
];

fn out_shape(shape: &[usize], dims: &[usize], keepdim: bool) -> Vec<usize> {
    shape
        .iter()
        .enumerate()
        .filter_map(|(d, &n)| match (dims.contains(&d), keepdim) {
            (true, true) => Some(1),
            (true, false) => None,
            (false, _) => Some(n),
        })
        .collect()
}

fn reference(x: &[f64], shape: &[usize], dims: &[usize], f: impl Fn(&[f64]) -> f64) -> Vec<f64> {
    groups(x, shape, dims).iter().map(|g| f(g)).collect()
}

fn sum(g: &[f64]) -> f64 {
    g.iter().sum()
}

fn mean(g: &[f64]) -> f64 {
    sum(g) / g.len() as f64
}

fn var(g: &[f64], correction: f64) -> f64 {
    let m = mean(g);
    g.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (g.len() as f64 - correction)
}

fn argmax(g: &[f64]) -> f64 {
    let mut best = 0;
    for (i, &v) in g.iter().enumerate() {
        if v > g[best] {
            best = i;
        }
    }
    best as f64
}

fn argmin(g: &[f64]) -> f64 {
    let mut best = 0;
    for (i, &v) in g.iter().enumerate() {
        if v < g[best] {
            best = i;
        }
    }
    best as f64
}

fn sum_and_mean<B: Backend>(b: &B) {
    for (dtype, rtol, atol) in [(DType::F32, 1e-5, 1e-6), (DType::F64, 1e-12, 1e-13)] {
        let x: Vec<f64> = data(60, 1, -2.0, 2.0)
            .into_iter()
            .map(|v| round_to(dtype, v))
            .collect();
        let t = tensor(&x, &SHAPE, dtype, b);
        assert_close(
            "sum()",
            &t.sum().unwrap(),
            &[sum(&x)],
            &[],
            dtype,
            rtol,
            atol,
        );
        assert_close(
            "mean()",
            &t.mean().unwrap(),
            &[mean(&x)],
            &[],
            dtype,
            rtol,
            atol,
        );
        for (dims, norm) in DIMS {
            for keepdim in [false, true] {
                let shape = out_shape(&SHAPE, norm, keepdim);
                let what = format!("sum_dim({dims:?}, {keepdim}) {dtype}");
                let got = t.sum_dim(dims, keepdim).unwrap();
                assert_close(
                    &what,
                    &got,
                    &reference(&x, &SHAPE, norm, sum),
                    &shape,
                    dtype,
                    rtol,
                    atol,
                );
                let what = format!("mean_dim({dims:?}, {keepdim}) {dtype}");
                let got = t.mean_dim(dims, keepdim).unwrap();
                assert_close(
                    &what,
                    &got,
                    &reference(&x, &SHAPE, norm, mean),
                    &shape,
                    dtype,
                    rtol,
                    atol,
                );
            }
        }
    }
}

fn prod<B: Backend>(b: &B) {
    let x = data_f32(60, 2, 0.5, 1.5);
    let t = f32_tensor(&x, &SHAPE, b);
    let p = |g: &[f64]| g.iter().product::<f64>();
    assert_close(
        "prod()",
        &t.prod().unwrap(),
        &[p(&x)],
        &[],
        DType::F32,
        1e-5,
        1e-7,
    );
    for dim in 0..3 {
        for keepdim in [false, true] {
            let got = t.prod_dim(dim as isize, keepdim).unwrap();
            let shape = out_shape(&SHAPE, &[dim], keepdim);
            let what = format!("prod_dim({dim}, {keepdim})");
            assert_close(
                &what,
                &got,
                &reference(&x, &SHAPE, &[dim], p),
                &shape,
                DType::F32,
                1e-5,
                1e-7,
            );
        }
    }
}

fn max_min_and_indices<B: Backend>(b: &B) {
    let x = data_f32(60, 3, -5.0, 5.0); // distinct values: no ties
    let t = f32_tensor(&x, &SHAPE, b);
    let max = |g: &[f64]| g.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let min = |g: &[f64]| g.iter().cloned().fold(f64::INFINITY, f64::min);
    assert_exact("max()", &t.max().unwrap(), &[max(&x)], &[], DType::F32);
    assert_exact("min()", &t.min().unwrap(), &[min(&x)], &[], DType::F32);
    assert_exact(
        "argmax(None)",
        &t.argmax(None, false).unwrap(),
        &[argmax(&x)],
        &[],
        DType::I64,
    );
    assert_exact(
        "argmin(None)",
        &t.argmin(None, false).unwrap(),
        &[argmin(&x)],
        &[],
        DType::I64,
    );
    for dim in 0..3usize {
        for keepdim in [false, true] {
            let shape = out_shape(&SHAPE, &[dim], keepdim);
            let d = dim as isize - 3; // negative dims too
            let (v, i) = t.max_dim(d, keepdim).unwrap();
            assert_exact(
                &format!("max_dim({d}).values"),
                &v,
                &reference(&x, &SHAPE, &[dim], max),
                &shape,
                DType::F32,
            );
            assert_exact(
                &format!("max_dim({d}).indices"),
                &i,
                &reference(&x, &SHAPE, &[dim], argmax),
                &shape,
                DType::I64,
            );
            let (v, i) = t.min_dim(dim as isize, keepdim).unwrap();
            assert_exact(
                &format!("min_dim({dim}).values"),
                &v,
                &reference(&x, &SHAPE, &[dim], min),
                &shape,
                DType::F32,
            );
            assert_exact(
                &format!("min_dim({dim}).indices"),
                &i,
                &reference(&x, &SHAPE, &[dim], argmin),
                &shape,
                DType::I64,
            );
            let got = t.argmax(Some(dim as isize), keepdim).unwrap();
            assert_exact(
                &format!("argmax({dim})"),
                &got,
                &reference(&x, &SHAPE, &[dim], argmax),
                &shape,
                DType::I64,
            );
            let got = t.argmin(Some(dim as isize), keepdim).unwrap();
            assert_exact(
                &format!("argmin({dim})"),
                &got,
                &reference(&x, &SHAPE, &[dim], argmin),
                &shape,
                DType::I64,
            );
        }
    }
    for (dims, norm) in DIMS {
        let shape = out_shape(&SHAPE, norm, false);
        assert_exact(
            &format!("amax({dims:?})"),
            &t.amax(dims, false).unwrap(),
            &reference(&x, &SHAPE, norm, max),
            &shape,
            DType::F32,
        );
        assert_exact(
            &format!("amin({dims:?})"),
            &t.amin(dims, false).unwrap(),
            &reference(&x, &SHAPE, norm, min),
            &shape,
            DType::F32,
        );
    }
}

fn argmax_ties_take_the_first<B: Backend>(b: &B) {
    let t = f32_tensor(&[1.0, 3.0, 3.0, 2.0, 0.0, 0.0, -1.0, 0.0], &[2, 4], b);
    assert_exact(
        "argmax ties",
        &t.argmax(Some(1), false).unwrap(),
        &[1.0, 0.0],
        &[2],
        DType::I64,
    );
    assert_exact(
        "argmin ties",
        &t.argmin(Some(1), false).unwrap(),
        &[0.0, 2.0],
        &[2],
        DType::I64,
    );
    assert_exact(
        "argmax all ties",
        &t.argmax(None, false).unwrap(),
        &[1.0],
        &[],
        DType::I64,
    );
    let i = tensor(&[4.0, 9.0, 9.0, 1.0], &[4], DType::I64, b);
    assert_exact(
        "argmax i64",
        &i.argmax(Some(0), false).unwrap(),
        &[1.0],
        &[],
        DType::I64,
    );
}

fn var_and_std<B: Backend>(b: &B) {
    for (dtype, rtol, atol) in [(DType::F32, 1e-5, 1e-6), (DType::F64, 1e-12, 1e-13)] {
        let x: Vec<f64> = data(60, 4, -2.0, 3.0)
            .into_iter()
            .map(|v| round_to(dtype, v))
            .collect();
        let t = tensor(&x, &SHAPE, dtype, b);
        for (dims, norm) in DIMS {
            for correction in [0.0, 1.0] {
                for keepdim in [false, true] {
                    let shape = out_shape(&SHAPE, norm, keepdim);
                    let want = reference(&x, &SHAPE, norm, |g| var(g, correction));
                    let what = format!("var({dims:?}, {correction}, {keepdim}) {dtype}");
                    assert_close(
                        &what,
                        &t.var(dims, correction, keepdim).unwrap(),
                        &want,
                        &shape,
                        dtype,
                        rtol,
                        atol,
                    );
                    let want: Vec<f64> = want.iter().map(|v| v.sqrt()).collect();
                    let what = format!("std({dims:?}, {correction}, {keepdim}) {dtype}");
                    assert_close(
                        &what,
                        &t.std(dims, correction, keepdim).unwrap(),
                        &want,
                        &shape,
                        dtype,
                        rtol,
                        atol,
                    );
                }
            }
        }
    }
}

/// A correction at least the element count divides by `max(N - correction, 0)` (PyTorch's
/// rule): a positive sum of squares over 0 is +inf, an empty reduction 0 / 0 is NaN; never a
/// negative variance.
fn var_without_degrees_of_freedom<B: Backend>(b: &B) {
    let inf = f64::INFINITY;
    for dtype in [DType::F32, DType::F64] {
        let t = tensor(&[1.0, 2.0, 3.0], &[3], dtype, b);
        for correction in [3.0, 5.0] {
            let what = format!("var(correction {correction}) {dtype}");
            assert_exact(
                &what,
                &t.var(&[0], correction, false).unwrap(),
                &[inf],
                &[],
                dtype,
            );
            assert_exact(
                &what,
                &t.std(&[0], correction, false).unwrap(),
                &[inf],
                &[],
                dtype,
            );
        }
        let empty = tensor(&[], &[2, 0], dtype, b);
        let nan = [f64::NAN, f64::NAN];
        let what = format!("var over an empty dim {dtype}");
        assert_exact(
            &what,
            &empty.var(&[1], 1.0, false).unwrap(),
            &nan,
            &[2],
            dtype,
        );
    }
}

fn logsumexp<B: Backend>(b: &B) {
    let mut x = data_f32(60, 5, -3.0, 3.0);
    // Large values must not overflow (computed as max + log(sum(exp(x - max)))).
    x[0] = 1000.0;
    x[7] = 1000.5;
    x[20] = -1000.0;
    let t = f32_tensor(&x, &SHAPE, b);
    let lse = |g: &[f64]| {
        let m = g.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        m + g.iter().map(|v| (v - m).exp()).sum::<f64>().ln()
    };
    for (dims, norm) in DIMS {
        for keepdim in [false, true] {
            let shape = out_shape(&SHAPE, norm, keepdim);
            let what = format!("logsumexp({dims:?}, {keepdim})");
            let got = t.logsumexp(dims, keepdim).unwrap();
            assert_close(
                &what,
                &got,
                &reference(&x, &SHAPE, norm, lse),
                &shape,
                DType::F32,
                1e-5,
                1e-6,
            );
        }
    }
}

fn all_and_any<B: Backend>(b: &B) {
    let x = [1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0];
    let t = tensor(&x, &[3, 3], DType::Bool, b);
    assert_exact("all()", &t.all().unwrap(), &[0.0], &[], DType::Bool);
    assert_exact("any()", &t.any().unwrap(), &[1.0], &[], DType::Bool);
    assert_exact(
        "all_dim(1)",
        &t.all_dim(1, false).unwrap(),
        &[0.0, 1.0, 0.0],
        &[3],
        DType::Bool,
    );
    assert_exact(
        "any_dim(1)",
        &t.any_dim(1, true).unwrap(),
        &[1.0, 1.0, 0.0],
        &[3, 1],
        DType::Bool,
    );
    assert_exact(
        "all_dim(0)",
        &t.all_dim(0, false).unwrap(),
        &[0.0, 0.0, 0.0],
        &[3],
        DType::Bool,
    );
    assert_exact(
        "any_dim(-2)",
        &t.any_dim(-2, false).unwrap(),
        &[1.0, 1.0, 1.0],
        &[3],
        DType::Bool,
    );
    // Numbers: non-zero is true.
    let f = f32_tensor(&[0.5, -1.0, 2.0], &[3], b);
    assert_exact(
        "all() of floats",
        &f.all().unwrap(),
        &[1.0],
        &[],
        DType::Bool,
    );
}

fn norm<B: Backend>(b: &B) {
    let x = data_f32(60, 6, -2.0, 2.0);
    let t = f32_tensor(&x, &SHAPE, b);
    let want = x.iter().map(|v| v * v).sum::<f64>().sqrt();
    assert_close(
        "norm()",
        &t.norm().unwrap(),
        &[want],
        &[],
        DType::F32,
        1e-5,
        1e-6,
    );
}

fn int_and_bool_inputs<B: Backend>(b: &B) {
    let x = [3.0, -1.0, 4.0, 1.0, -5.0, 9.0];
    for dtype in [DType::I32, DType::I64, DType::U8] {
        let x: Vec<f64> = if dtype == DType::U8 {
            x.map(f64::abs).to_vec()
        } else {
            x.to_vec()
        };
        let t = tensor(&x, &[2, 3], dtype, b);
        // Sums and products of integers are int64, as in PyTorch.
        assert_exact(
            &format!("sum {dtype}"),
            &t.sum().unwrap(),
            &[sum(&x)],
            &[],
            DType::I64,
        );
        let want = reference(&x, &[2, 3], &[1], sum);
        assert_exact(
            &format!("sum_dim {dtype}"),
            &t.sum_dim(&[1], false).unwrap(),
            &want,
            &[2],
            DType::I64,
        );
        let p = x.iter().product::<f64>();
        assert_exact(
            &format!("prod {dtype}"),
            &t.prod().unwrap(),
            &[p],
            &[],
            DType::I64,
        );
        let m = x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        assert_exact(&format!("max {dtype}"), &t.max().unwrap(), &[m], &[], dtype);
        let (v, i) = t.max_dim(0, false).unwrap();
        assert_exact(
            &format!("max_dim values {dtype}"),
            &v,
            &reference(&x, &[2, 3], &[0], |g| g[0].max(g[1])),
            &[3],
            dtype,
        );
        assert_exact(
            &format!("max_dim indices {dtype}"),
            &i,
            &reference(&x, &[2, 3], &[0], argmax),
            &[3],
            DType::I64,
        );
    }
    let t = tensor(&[1.0, 0.0, 1.0, 1.0], &[4], DType::Bool, b);
    assert_exact(
        "sum of bools counts",
        &t.sum().unwrap(),
        &[3.0],
        &[],
        DType::I64,
    );
    let big = tensor(&[3e9, 3e9, 3e9], &[3], DType::I64, b);
    assert_exact(
        "sum of int64 beyond int32",
        &big.sum().unwrap(),
        &[9e9],
        &[],
        DType::I64,
    );
}

fn strided_inputs<B: Backend>(b: &B) {
    let x = data_f32(60, 7, -2.0, 2.0);
    let t = f32_tensor(&x, &SHAPE, b);
    // p = x.permute(2, 0, 1): p[k, i, j] = x[i, j, k]; shape [5, 3, 4].
    let p = t.permute(&[2, 0, 1]).unwrap();
    let pv: Vec<f64> = (0..60)
        .map(|f| {
            let idx = unravel(f, &[5, 3, 4]);
            x[ravel(&[idx[1], idx[2], idx[0]], &SHAPE)]
        })
        .collect();
    let pshape = [5, 3, 4];
    for (dims, norm) in DIMS {
        let shape = out_shape(&pshape, norm, false);
        let what = format!("sum_dim({dims:?}) of a permuted tensor");
        assert_close(
            &what,
            &p.sum_dim(dims, false).unwrap(),
            &reference(&pv, &pshape, norm, sum),
            &shape,
            DType::F32,
            1e-5,
            1e-6,
        );
        let what = format!("amax({dims:?}) of a permuted tensor");
        let max = |g: &[f64]| g.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        assert_exact(
            &what,
            &p.amax(dims, false).unwrap(),
            &reference(&pv, &pshape, norm, max),
            &shape,
            DType::F32,
        );
    }
    let (_, i) = p.max_dim(1, false).unwrap();
    assert_exact(
        "max_dim indices of a permuted tensor",
        &i,
        &reference(&pv, &pshape, &[1], argmax),
        &[5, 4],
        DType::I64,
    );
    // A narrowed (offset) and stepped view.
    let s = t
        .narrow(1, 1, 2)
        .unwrap()
        .slice(2, 0, isize::MAX, 2)
        .unwrap(); // [3, 2, 3]
    let sv: Vec<f64> = (0..18)
        .map(|f| {
            let idx = unravel(f, &[3, 2, 3]);
            x[ravel(&[idx[0], idx[1] + 1, idx[2] * 2], &SHAPE)]
        })
        .collect();
    let want = reference(&sv, &[3, 2, 3], &[0, 2], mean);
    assert_close(
        "mean_dim of a stepped view",
        &s.mean_dim(&[0, 2], false).unwrap(),
        &want,
        &[2],
        DType::F32,
        1e-5,
        1e-6,
    );
    // An expanded (stride 0) input.
    let e = f32_tensor(&x[..5], &[1, 5], b).expand(&[7, 5]).unwrap();
    let want: Vec<f64> = x[..5].iter().map(|v| v * 7.0).collect();
    assert_close(
        "sum_dim(0) of an expanded tensor",
        &e.sum_dim(&[0], false).unwrap(),
        &want,
        &[5],
        DType::F32,
        1e-5,
        1e-6,
    );
}

fn accuracy_of_long_reductions<B: Backend>(b: &B) {
    // PyTorch sums f32 with cascaded (pairwise) accumulation; a plain running sum of 2^20
    // values is off by ~1e-2 relative here. Allow 1e-4.
    let n = 1 << 20;
    let t = Tensor::full(&[n], 0.1, DType::F32, b).unwrap();
    let exact = 0.1f32 as f64 * n as f64;
    assert_close(
        "sum of 2^20 x 0.1f32",
        &t.sum().unwrap(),
        &[exact],
        &[],
        DType::F32,
        1e-4,
        0.0,
    );
    assert_close(
        "mean of 2^20 x 0.1f32",
        &t.mean().unwrap(),
        &[0.1f32 as f64],
        &[],
        DType::F32,
        1e-4,
        0.0,
    );
    let rows = t.reshape(&[1024, 1024]).unwrap().t().unwrap();
    let want = vec![0.1f32 as f64 * 1024.0; 1024];
    assert_close(
        "sum_dim(1) of a transposed [1024, 1024]",
        &rows.sum_dim(&[1], false).unwrap(),
        &want,
        &[1024],
        DType::F32,
        1e-5,
        0.0,
    );
    // The variance of values with a large mean must not cancel catastrophically
    // (E[x²] - E[x]² in f32 loses every digit here).
    let x: Vec<f64> = data_f32(4096, 8, 10_000.0, 10_001.0);
    let t = f32_tensor(&x, &[4096], b);
    assert_close(
        "var of values near 1e4",
        &t.var(&[0], 1.0, false).unwrap(),
        &[var(&x, 1.0)],
        &[],
        DType::F32,
        1e-3,
        0.0,
    );
}
