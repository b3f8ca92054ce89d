//! softmax and log_softmax along every dim, stable for large inputs, with -inf entries,
//! NaN and infinite rows, on strided inputs, rows of every width around a warp's and a
//! block's, in every float dtype.

use crate::common::*;
use tiny_torch::{Backend, DType};

pub fn check_softmax<B: Backend>(b: &B) {
    run_checks(
        "softmax",
        b,
        &[
            ("every_dim", every_dim::<B>),
            ("large_and_infinite_inputs", large_and_infinite_inputs::<B>),
            ("strided_input", strided_input::<B>),
            ("rows_of_every_width", rows_of_every_width::<B>),
            ("nan_and_infinite_rows", nan_and_infinite_rows::<B>),
        ],
    );
}

/// Reference softmax (or log-softmax) of `x` [shape] along `dim`.
fn reference(x: &[f64], shape: &[usize], dim: usize, log: bool) -> Vec<f64> {
    let mut out = vec![0.0; x.len()];
    let st = strides(shape);
    for i in 0..x.len() {
        let idx = unravel(i, shape);
        let start = i - idx[dim] * st[dim];
        let lane: Vec<f64> = (0..shape[dim]).map(|j| x[start + j * st[dim]]).collect();
        let m = lane.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let s: f64 = lane.iter().map(|v| (v - m).exp()).sum();
        out[i] = if log {
            x[i] - m - s.ln()
        } else {
            (x[i] - m).exp() / s
        };
    }
    out
}

fn every_dim<B: Backend>(b: &B) {
    let shape = [3, 4, 5];
    for (dtype, rtol, atol) in [(DType::F32, 1e-5, 1e-6), (DType::F64, 1e-12, 1e-14)] {
        let x: Vec<f64> = data(60, 1, -4.0, 4.0)
            .into_iter()
            .map(|v| round_to(dtype, v))
            .collect();
        let t = tensor(&x, &shape, dtype, b);
        for dim in [0isize, 1, 2, -1, -3] {
            let d = dim.rem_euclid(3) as usize;
            let what = format!("softmax({dim}) {dtype}");
            assert_close(
                &what,
                &t.softmax(dim).unwrap(),
                &reference(&x, &shape, d, false),
                &shape,
                dtype,
                rtol,
                atol,
            );
            let what = format!("log_softmax({dim}) {dtype}");
            assert_close(
                &what,
                &t.log_softmax(dim).unwrap(),
                &reference(&x, &shape, d, true),
                &shape,
                dtype,
                rtol,
                atol,
            );
        }
    }
    // A long row (crosses any vector width) and a 1-D input.
    let x = data_f32(1000, 2, -10.0, 10.0);
    let t = f32_tensor(&x, &[1000], b);
    assert_close(
        "softmax of 1000",
        &t.softmax(0).unwrap(),
        &reference(&x, &[1000], 0, false),
        &[1000],
        DType::F32,
        1e-5,
        1e-8,
    );
    assert_close(
        "log_softmax of 1000",
        &t.log_softmax(-1).unwrap(),
        &reference(&x, &[1000], 0, true),
        &[1000],
        DType::F32,
        1e-5,
        1e-5,
    );
}

fn large_and_infinite_inputs<B: Backend>(b: &B) {
    // exp(1000) overflows: a stable softmax subtracts the max first.
    let x = [1000.0, 1001.0, 999.0, -1000.0, 0.0, 1.0];
    let t = f32_tensor(&x, &[2, 3], b);
    let got = t.softmax(1).unwrap();
    assert_close(
        "softmax of large values",
        &got,
        &reference(&x, &[2, 3], 1, false),
        &[2, 3],
        DType::F32,
        1e-5,
        1e-7,
    );
    let got = t.log_softmax(1).unwrap();
    assert_close(
        "log_softmax of large values",
        &got,
        &reference(&x, &[2, 3], 1, true),
        &[2, 3],
        DType::F32,
        1e-5,
        1e-5,
    );
    // -inf entries get probability 0 (masked attention).
    let x = [f64::NEG_INFINITY, 0.0, 1.0, f64::NEG_INFINITY];
    let t = f32_tensor(&x, &[1, 4], b);
    let e = 1.0f64.exp();
    let want = [0.0, 1.0 / (1.0 + e), e / (1.0 + e), 0.0];
    assert_close(
        "softmax with -inf",
        &t.softmax(-1).unwrap(),
        &want,
        &[1, 4],
        DType::F32,
        1e-6,
        1e-7,
    );
    let got = host(&t.log_softmax(-1).unwrap());
    assert!(
        got[0] == f64::NEG_INFINITY && got[3] == f64::NEG_INFINITY,
        "log_softmax of -inf is -inf: {got:?}"
    );
    // Rows sum to one.
    let x = data_f32(64 * 33, 3, -20.0, 20.0);
    let p = host(&f32_tensor(&x, &[64, 33], b).softmax(1).unwrap());
    for (r, row) in p.chunks(33).enumerate() {
        let s: f64 = row.iter().sum();
        assert!((s - 1.0).abs() < 1e-5, "row {r} of softmax sums to {s}");
    }
}

fn strided_input<B: Backend>(b: &B) {
    let x = data_f32(40, 4, -3.0, 3.0); // [5, 8]
    let t = f32_tensor(&x, &[5, 8], b).t().unwrap(); // [8, 5]
    let xt: Vec<f64> = (0..40).map(|i| x[(i % 5) * 8 + i / 5]).collect();
    for dim in [0, 1] {
        let what = format!("softmax({dim}) of a transpose");
        assert_close(
            &what,
            &t.softmax(dim).unwrap(),
            &reference(&xt, &[8, 5], dim as usize, false),
            &[8, 5],
            DType::F32,
            1e-5,
            1e-6,
        );
    }
    let s = f32_tensor(&x, &[5, 8], b)
        .slice(1, 1, isize::MAX, 2)
        .unwrap(); // [5, 4]
    let xs: Vec<f64> = (0..20).map(|i| x[(i / 4) * 8 + 1 + 2 * (i % 4)]).collect();
    assert_close(
        "log_softmax of a stepped slice",
        &s.log_softmax(1).unwrap(),
        &reference(&xs, &[5, 4], 1, true),
        &[5, 4],
        DType::F32,
        1e-5,
        1e-6,
    );
}

/// Rows along the last dim of widths around the multiples of a warp, up to and past 1024
/// (CUDA reads rows up to 1024 into one warp's registers, longer ones in a loop), in every
/// float dtype, and rows read out of a wider tensor (an offset, a row stride past the row).
fn rows_of_every_width<B: Backend>(b: &B) {
    for width in [1, 5, 31, 32, 33, 100, 511, 513, 1000, 1024, 1025] {
        for (dtype, rtol, atol) in [
            (DType::F32, 1e-5, 1e-7),
            (DType::F64, 1e-12, 1e-15),
            (DType::F16, 2e-3, 1e-5),
            (DType::BF16, 1.6e-2, 1e-4),
        ] {
            let x: Vec<f64> = data(3 * width, width as u64, -6.0, 6.0)
                .into_iter()
                .map(|v| round_to(dtype, v))
                .collect();
            let t = tensor(&x, &[3, width], dtype, b);
            for log in [false, true] {
                let got = if log { t.log_softmax(1) } else { t.softmax(1) };
                if matches!(dtype, DType::F16 | DType::BF16)
                    && matches!(got, Err(tiny_torch::Error::Unsupported { .. }))
                {
                    continue; // (a backend without half-precision softmax says so)
                }
                let what = format!("log_softmax: {log}, width {width}, {dtype}");
                let want = reference(&x, &[3, width], 1, log);
                // Log-probabilities near 0 carry the absolute error of their terms.
                let atol: f64 = if log {
                    f64::max(atol, rtol * 8.0)
                } else {
                    atol
                };
                assert_close(&what, &got.unwrap(), &want, &[3, width], dtype, rtol, atol);
            }
        }
    }
    let x = data_f32(4 * 40, 5, -5.0, 5.0);
    let rows = f32_tensor(&x, &[4, 40], b).narrow(1, 3, 30).unwrap(); // [4, 30]
    let xs: Vec<f64> = (0..120).map(|i| x[(i / 30) * 40 + 3 + i % 30]).collect();
    assert_close(
        "softmax of rows narrowed out of wider ones",
        &rows.softmax(1).unwrap(),
        &reference(&xs, &[4, 30], 1, false),
        &[4, 30],
        DType::F32,
        1e-5,
        1e-7,
    );
}

/// A NaN anywhere in a row, a row of all -inf, or a +inf entry (exp(inf - inf)) makes the whole
/// row NaN, as in PyTorch; the other rows are untouched. Short rows and long ones.
fn nan_and_infinite_rows<B: Backend>(b: &B) {
    let (nan, inf) = (f64::NAN, f64::INFINITY);
    for width in [40, 2000] {
        let mut x = data_f32(4 * width, 6, -3.0, 3.0);
        x[width + 7] = nan;
        x[2 * width..3 * width].fill(-inf);
        x[3 * width + width - 1] = inf;
        let t = f32_tensor(&x, &[4, width], b);
        for log in [false, true] {
            let got = host(&if log { t.log_softmax(1) } else { t.softmax(1) }.unwrap());
            let want = reference(&x[..width], &[1, width], 1, log);
            let what = format!("width {width}, log_softmax: {log}");
            assert_values(
                &format!("{what}, finite row"),
                &got[..width],
                &want,
                1e-5,
                1e-5,
            );
            for (r, kind) in [(1, "a NaN"), (2, "all -inf"), (3, "a +inf")] {
                let row = &got[r * width..(r + 1) * width];
                assert!(
                    row.iter().all(|v| v.is_nan()),
                    "{what}: the row with {kind} should be all NaN, got {:?}",
                    &row[..4]
                );
            }
        }
    }
}
