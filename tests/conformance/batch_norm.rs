//! batch_norm against float64 loops written here: training (batch statistics, biased variance
//! for normalizing, unbiased for the running update, momentum) and evaluation (running
//! statistics), with and without affine parameters, on [N, C], [N, C, L] and [N, C, H, W];
//! channels-last and sliced inputs, strided and aliased running statistics; f32 / f64 / f16 /
//! bf16; shapes large enough to run in parallel; a large mean (stable statistics); gradients of input, weight and bias against the
//! closed forms and finite differences (first and second order); PyTorch's errors.

use crate::common::*;
use tiny_torch::autograd::{self, gradcheck};
use tiny_torch::{Backend, DType, Error, Tensor};

/// A function of tensors, as `gradcheck` takes it.
type Op<'a, B> = dyn Fn(&[Tensor<B>]) -> tiny_torch::Result<Tensor<B>> + 'a;

pub fn check_batch_norm<B: Backend>(b: &B) {
    // A backend without batch-norm kernels yet is skipped by name (never passed silently).
    let probe = f32_tensor(&[1.0, 2.0], &[2, 1], b);
    if let Err(Error::Unsupported { .. }) =
        probe.batch_norm(None, None, None, None, true, 0.1, 1e-5)
    {
        eprintln!(
            "skipping batch_norm on the {} backend: batch_norm is unsupported",
            b.name()
        );
        return;
    }
    run_checks(
        "batch_norm",
        b,
        &[
            ("training", training::<B>),
            ("evaluation", evaluation::<B>),
            ("non_contiguous", non_contiguous::<B>),
            ("running_stat_views", running_stat_views::<B>),
            ("reduced_precision", reduced_precision::<B>),
            ("large_mean", large_mean::<B>),
            ("gradients", gradients::<B>),
            ("mixed_layouts", mixed_layouts::<B>),
            ("finite_differences", finite_differences::<B>),
            ("errors", errors::<B>),
        ],
    );
}

/// The elements of channel `c` of a row-major `[N, C, *]` tensor.
fn channel(x: &[f64], dims: &[usize], c: usize) -> Vec<f64> {
    (0..x.len())
        .filter(|&i| unravel(i, dims)[1] == c)
        .map(|i| x[i])
        .collect()
}

/// Per channel: mean and biased variance.
fn stats(x: &[f64], dims: &[usize]) -> Vec<(f64, f64)> {
    (0..dims[1])
        .map(|c| {
            let v = channel(x, dims, c);
            let m = v.len() as f64;
            let mean = v.iter().sum::<f64>() / m;
            let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / m;
            (mean, var)
        })
        .collect()
}

/// `(x - mean) / sqrt(var + eps) * w + b` with per-channel `(mean, var)`.
fn normalize(
    x: &[f64],
    dims: &[usize],
    st: &[(f64, f64)],
    w: Option<&[f64]>,
    bias: Option<&[f64]>,
    eps: f64,
) -> Vec<f64> {
    (0..x.len())
        .map(|i| {
            let c = unravel(i, dims)[1];
            let (mean, var) = st[c];
            let y = (x[i] - mean) / (var + eps).sqrt();
            y * w.map_or(1.0, |w| w[c]) + bias.map_or(0.0, |b| b[c])
        })
        .collect()
}

/// `(1 - momentum) * running + momentum * batch` (the variance unbiased).
fn updated(
    dims: &[usize],
    st: &[(f64, f64)],
    mean: &[f64],
    var: &[f64],
    momentum: f64,
) -> (Vec<f64>, Vec<f64>) {
    let m = (numel(dims) / dims[1]) as f64;
    let new_mean = st
        .iter()
        .zip(mean)
        .map(|(s, r)| momentum * s.0 + (1.0 - momentum) * r)
        .collect();
    let new_var = st
        .iter()
        .zip(var)
        .map(|(s, r)| momentum * s.1 * m / (m - 1.0) + (1.0 - momentum) * r)
        .collect();
    (new_mean, new_var)
}

const SHAPES: [&[usize]; 4] = [&[8, 3], &[4, 3, 5], &[2, 4, 5, 6], &[3, 2, 3, 1, 4]];

/// Shapes large enough for a backend to split the channels between threads (over 32 K
/// elements), with short rows (ResNet's small planes): 1, 3 and 16 elements per item and
/// channel, channel counts that split unevenly.
const LARGE_SHAPES: [&[usize]; 3] = [&[2048, 17], &[528, 21, 3], &[300, 9, 4, 4]];

fn training<B: Backend>(b: &B) {
    for (k, dims) in SHAPES.into_iter().chain(LARGE_SHAPES).enumerate() {
        let c = dims[1];
        let x = data_f32(numel(dims), k as u64, -2.0, 3.0);
        let (w, bias) = (data_f32(c, 10, 0.5, 1.5), data_f32(c, 11, -1.0, 1.0));
        let (rm, rv) = (data_f32(c, 12, -0.5, 0.5), data_f32(c, 13, 0.5, 2.0));
        let st = stats(&x, dims);
        for (dtype, tol) in [(DType::F32, 2e-5), (DType::F64, 1e-12)] {
            for affine in [true, false] {
                for momentum in [0.1, 0.35] {
                    let (w_t, b_t) = (tensor(&w, &[c], dtype, b), tensor(&bias, &[c], dtype, b));
                    let (rm_t, rv_t) = (tensor(&rm, &[c], dtype, b), tensor(&rv, &[c], dtype, b));
                    let y = tensor(&x, dims, dtype, b)
                        .batch_norm(
                            Some(&rm_t),
                            Some(&rv_t),
                            affine.then_some(&w_t),
                            affine.then_some(&b_t),
                            true,
                            momentum,
                            1e-5,
                        )
                        .unwrap();
                    let what = format!("train {dims:?} {dtype} affine {affine} m {momentum}");
                    let (wr, br) = (affine.then_some(&w[..]), affine.then_some(&bias[..]));
                    let want = normalize(&x, dims, &st, wr, br, 1e-5);
                    assert_close(&what, &y, &want, dims, dtype, tol, tol);
                    let (want_m, want_v) = updated(dims, &st, &rm, &rv, momentum);
                    assert_close(&what, &rm_t, &want_m, &[c], dtype, tol, tol);
                    assert_close(&what, &rv_t, &want_v, &[c], dtype, tol, tol);
                }
            }
        }
        // Without running statistics: batch statistics, nothing else changes.
        let y = f32_tensor(&x, dims, b)
            .batch_norm(None, None, None, None, true, 0.1, 1e-3)
            .unwrap();
        let want = normalize(&x, dims, &st, None, None, 1e-3);
        assert_close(
            "train without stats",
            &y,
            &want,
            dims,
            DType::F32,
            2e-5,
            2e-5,
        );
    }
}

fn evaluation<B: Backend>(b: &B) {
    for (k, dims) in SHAPES.into_iter().enumerate() {
        let c = dims[1];
        let x = data_f32(numel(dims), 20 + k as u64, -2.0, 3.0);
        let (w, bias) = (data_f32(c, 21, 0.5, 1.5), data_f32(c, 22, -1.0, 1.0));
        let (rm, rv) = (data_f32(c, 23, -0.5, 0.5), data_f32(c, 24, 0.5, 2.0));
        let st: Vec<(f64, f64)> = rm.iter().zip(&rv).map(|(&m, &v)| (m, v)).collect();
        for (dtype, tol) in [(DType::F32, 1e-5), (DType::F64, 1e-12)] {
            let (rm_t, rv_t) = (tensor(&rm, &[c], dtype, b), tensor(&rv, &[c], dtype, b));
            let (w_t, b_t) = (tensor(&w, &[c], dtype, b), tensor(&bias, &[c], dtype, b));
            let versions = (rm_t.version(), rv_t.version());
            let y = tensor(&x, dims, dtype, b)
                .batch_norm(
                    Some(&rm_t),
                    Some(&rv_t),
                    Some(&w_t),
                    Some(&b_t),
                    false,
                    0.1,
                    1e-5,
                )
                .unwrap();
            let what = format!("eval {dims:?} {dtype}");
            let want = normalize(&x, dims, &st, Some(&w), Some(&bias), 1e-5);
            assert_close(&what, &y, &want, dims, dtype, tol, tol);
            // The running statistics are read, never written.
            assert_close(&what, &rm_t, &rm, &[c], dtype, 0.0, 0.0);
            assert_close(&what, &rv_t, &rv, &[c], dtype, 0.0, 0.0);
            assert_eq!(
                (rm_t.version(), rv_t.version()),
                versions,
                "{what}: versions"
            );
        }
    }
}

fn non_contiguous<B: Backend>(b: &B) {
    let dims = [3, 4, 5, 6];
    let [n, c, h, w] = dims;
    let x = data_f32(numel(&dims), 30, -2.0, 3.0);
    let st = stats(&x, &dims);
    let want = normalize(&x, &dims, &st, None, None, 1e-5);
    // Channels-last: memory [N, H, W, C], permuted to NCHW.
    let nhwc: Vec<f64> = (0..x.len())
        .map(|i| {
            let idx = unravel(i, &[n, h, w, c]);
            x[ravel(&[idx[0], idx[3], idx[1], idx[2]], &dims)]
        })
        .collect();
    let channels_last = f32_tensor(&nhwc, &[n, h, w, c], b)
        .permute(&[0, 3, 1, 2])
        .unwrap();
    // Every other batch element of a twice-as-large batch.
    let doubled: Vec<f64> = (0..2 * x.len())
        .map(|i| {
            let idx = unravel(i, &[2 * n, c, h, w]);
            if idx[0].is_multiple_of(2) {
                x[ravel(&[idx[0] / 2, idx[1], idx[2], idx[3]], &dims)]
            } else {
                1e6
            }
        })
        .collect();
    let sliced = f32_tensor(&doubled, &[2 * n, c, h, w], b)
        .slice(0, 0, isize::MAX, 2)
        .unwrap();
    for (name, t) in [("channels-last", channels_last), ("sliced", sliced)] {
        assert!(!t.is_contiguous(), "test bug: {name}");
        let y = t
            .batch_norm(None, None, None, None, true, 0.1, 1e-5)
            .unwrap();
        assert_close(name, &y, &want, &dims, DType::F32, 2e-5, 2e-5);
        // The gradient, read through the same layout, matches the contiguous one.
        let dy = data_f32(x.len(), 31, -1.0, 1.0);
        let leaf = t.detach().requires_grad_(true).unwrap();
        let y = leaf
            .batch_norm(None, None, None, None, true, 0.1, 1e-5)
            .unwrap();
        y.backward_with(&f32_tensor(&dy, &dims, b)).unwrap();
        let want_dx = grads(&x, &dims, &dy, None, true, None).0;
        assert_close(
            name,
            &leaf.grad().unwrap(),
            &want_dx,
            &dims,
            DType::F32,
            1e-4,
            1e-5,
        );
    }
}

fn running_stat_views<B: Backend>(b: &B) {
    let dims = [6, 3, 4];
    let x = data_f32(numel(&dims), 40, -1.0, 2.0);
    let st = stats(&x, &dims);
    let (want_m, want_v) = updated(&dims, &st, &[0.0; 3], &[1.0; 3], 0.1);
    // Strided: every other element of a [6] buffer.
    let buf = f32_tensor(&[0.0, 9.0, 0.0, 9.0, 0.0, 9.0], &[6], b);
    let rm = buf.slice(0, 0, isize::MAX, 2).unwrap();
    let rv = f32_tensor(&[1.0; 3], &[3], b);
    f32_tensor(&x, &dims, b)
        .batch_norm(Some(&rm), Some(&rv), None, None, true, 0.1, 1e-5)
        .unwrap();
    let mut want_buf = vec![9.0; 6];
    for (i, &m) in want_m.iter().enumerate() {
        want_buf[2 * i] = m;
    }
    assert_close(
        "strided running_mean",
        &buf,
        &want_buf,
        &[6],
        DType::F32,
        1e-6,
        1e-6,
    );
    assert_close("running_var", &rv, &want_v, &[3], DType::F32, 1e-6, 1e-6);
    // Aliased: both statistics are rows of one [2, 3] tensor.
    let both = f32_tensor(&[0.0, 0.0, 0.0, 1.0, 1.0, 1.0], &[2, 3], b);
    let (rm, rv) = (both.select(0, 0).unwrap(), both.select(0, 1).unwrap());
    f32_tensor(&x, &dims, b)
        .batch_norm(Some(&rm), Some(&rv), None, None, true, 0.1, 1e-5)
        .unwrap();
    let want: Vec<f64> = want_m.iter().chain(&want_v).copied().collect();
    assert_close(
        "aliased running stats",
        &both,
        &want,
        &[2, 3],
        DType::F32,
        1e-6,
        1e-6,
    );
    // One statistic alone is updated alone (the other is not tracked).
    let rm = f32_tensor(&[0.0; 3], &[3], b);
    f32_tensor(&x, &dims, b)
        .batch_norm(Some(&rm), None, None, None, true, 0.1, 1e-5)
        .unwrap();
    assert_close(
        "running_mean alone",
        &rm,
        &want_m,
        &[3],
        DType::F32,
        1e-6,
        1e-6,
    );
    let rv = f32_tensor(&[1.0; 3], &[3], b);
    f32_tensor(&x, &dims, b)
        .batch_norm(None, Some(&rv), None, None, true, 0.1, 1e-5)
        .unwrap();
    assert_close(
        "running_var alone",
        &rv,
        &want_v,
        &[3],
        DType::F32,
        1e-6,
        1e-6,
    );
}

fn reduced_precision<B: Backend>(b: &B) {
    let dims = [4, 3, 5, 5];
    let c = dims[1];
    for dtype in [DType::F16, DType::BF16] {
        let x: Vec<f64> = data(numel(&dims), 50, -2.0, 3.0)
            .into_iter()
            .map(|v| round_to(dtype, v))
            .collect();
        let st = stats(&x, &dims);
        let (rm, rv) = (
            tensor(&[0.0; 3], &[c], dtype, b),
            tensor(&[1.0; 3], &[c], dtype, b),
        );
        let y = tensor(&x, &dims, dtype, b)
            .batch_norm(Some(&rm), Some(&rv), None, None, true, 0.1, 1e-5)
            .unwrap();
        let tol = if dtype == DType::F16 { 2e-3 } else { 1e-2 };
        let want = normalize(&x, &dims, &st, None, None, 1e-5);
        assert_close("f16/bf16 train", &y, &want, &dims, dtype, tol, tol);
        let (want_m, want_v) = updated(&dims, &st, &[0.0; 3], &[1.0; 3], 0.1);
        assert_close("f16/bf16 running_mean", &rm, &want_m, &[c], dtype, tol, tol);
        assert_close("f16/bf16 running_var", &rv, &want_v, &[c], dtype, tol, tol);
        // Gradients come back in the input's dtype.
        let leaf = tensor(&x, &dims, dtype, b).requires_grad_(true).unwrap();
        let dy = data(numel(&dims), 51, -1.0, 1.0);
        let dy_r: Vec<f64> = dy.iter().map(|&v| round_to(dtype, v)).collect();
        leaf.batch_norm(None, None, None, None, true, 0.1, 1e-5)
            .unwrap()
            .backward_with(&tensor(&dy_r, &dims, dtype, b))
            .unwrap();
        let want_dx = grads(&x, &dims, &dy_r, None, true, None).0;
        assert_close(
            "f16/bf16 grad",
            &leaf.grad().unwrap(),
            &want_dx,
            &dims,
            dtype,
            3.0 * tol,
            tol,
        );
    }
}

fn large_mean<B: Backend>(b: &B) {
    // A mean 1e4 times the spread: a one-pass E[x²] - E[x]² in f32 would lose every digit.
    // With and without affine parameters (a backend may take the two down different paths).
    let dims = [64, 2, 8];
    let x: Vec<f64> = data(numel(&dims), 60, -1.0, 1.0)
        .into_iter()
        .map(|v| (1e4 + v) as f32 as f64)
        .collect();
    let st = stats(&x, &dims);
    let (w, bias) = ([0.5, 2.0], [1.0, -3.0]);
    for affine in [false, true] {
        let what = |name: &str| format!("large mean, affine {affine}: {name}");
        let rv = f32_tensor(&[0.0; 2], &[2], b);
        let rm = f32_tensor(&[0.0; 2], &[2], b);
        let (w_t, b_t) = (f32_tensor(&w, &[2], b), f32_tensor(&bias, &[2], b));
        let y = f32_tensor(&x, &dims, b)
            .batch_norm(
                Some(&rm),
                Some(&rv),
                affine.then_some(&w_t),
                affine.then_some(&b_t),
                true,
                1.0,
                1e-5,
            )
            .unwrap();
        let (wr, br) = (affine.then_some(&w[..]), affine.then_some(&bias[..]));
        let want = normalize(&x, &dims, &st, wr, br, 1e-5);
        // Up to 2e-3 of the normalized value (the f32 input's rounding), times |w| <= 2.
        assert_close(&what("y"), &y, &want, &dims, DType::F32, 4e-3, 4e-3);
        let m = (numel(&dims) / 2) as f64;
        let want_v: Vec<f64> = st.iter().map(|s| s.1 * m / (m - 1.0)).collect();
        assert_close(&what("variance"), &rv, &want_v, &[2], DType::F32, 1e-4, 0.0);
    }
}

/// Closed-form gradients `(dx, dw, db)` (PyTorch's batch_norm backward).
fn grads(
    x: &[f64],
    dims: &[usize],
    dy: &[f64],
    w: Option<&[f64]>,
    training: bool,
    running: Option<(&[f64], &[f64])>,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let c = dims[1];
    let m = (numel(dims) / c) as f64;
    let st: Vec<(f64, f64)> = match running {
        Some((rm, rv)) if !training => rm.iter().zip(rv).map(|(&a, &b)| (a, b)).collect(),
        _ => stats(x, dims),
    };
    let eps = 1e-5;
    let mut dx = vec![0.0; x.len()];
    let (mut dw, mut db) = (vec![0.0; c], vec![0.0; c]);
    for ch in 0..c {
        let (mean, var) = st[ch];
        let invstd = 1.0 / (var + eps).sqrt();
        let idx: Vec<usize> = (0..x.len())
            .filter(|&i| unravel(i, dims)[1] == ch)
            .collect();
        let sum: f64 = idx.iter().map(|&i| dy[i]).sum();
        let dot: f64 = idx.iter().map(|&i| dy[i] * (x[i] - mean) * invstd).sum();
        dw[ch] = dot;
        db[ch] = sum;
        let scale = invstd * w.map_or(1.0, |w| w[ch]);
        for &i in &idx {
            let xhat = (x[i] - mean) * invstd;
            dx[i] = if training {
                (dy[i] - sum / m - xhat * dot / m) * scale
            } else {
                dy[i] * scale
            };
        }
    }
    (dx, dw, db)
}

fn gradients<B: Backend>(b: &B) {
    for (k, dims) in SHAPES.into_iter().chain(LARGE_SHAPES).enumerate() {
        let c = dims[1];
        let x = data_f32(numel(dims), 70 + k as u64, -2.0, 3.0);
        let dy = data_f32(numel(dims), 80 + k as u64, -1.0, 1.0);
        let (w, bias) = (data_f32(c, 90, 0.5, 1.5), data_f32(c, 91, -1.0, 1.0));
        let (rm, rv) = (data_f32(c, 92, -0.5, 0.5), data_f32(c, 93, 0.5, 2.0));
        for training in [true, false] {
            let (dx, dw, db) = grads(&x, dims, &dy, Some(&w), training, Some((&rm, &rv)));
            for (dtype, tol) in [(DType::F32, 1e-4), (DType::F64, 1e-10)] {
                let leaf =
                    |v: &[f64], s: &[usize]| tensor(v, s, dtype, b).requires_grad_(true).unwrap();
                let (xt, wt, bt) = (leaf(&x, dims), leaf(&w, &[c]), leaf(&bias, &[c]));
                let (rmt, rvt) = (tensor(&rm, &[c], dtype, b), tensor(&rv, &[c], dtype, b));
                let y = xt
                    .batch_norm(
                        Some(&rmt),
                        Some(&rvt),
                        Some(&wt),
                        Some(&bt),
                        training,
                        0.1,
                        1e-5,
                    )
                    .unwrap();
                y.backward_with(&tensor(&dy, dims, dtype, b)).unwrap();
                let what = |name: &str| format!("{name} of {dims:?} training {training} {dtype}");
                assert_close(&what("dx"), &xt.grad().unwrap(), &dx, dims, dtype, tol, tol);
                assert_close(&what("dw"), &wt.grad().unwrap(), &dw, &[c], dtype, tol, tol);
                assert_close(&what("db"), &bt.grad().unwrap(), &db, &[c], dtype, tol, tol);
            }
        }
    }
}

/// Forward and backward that a backend may send down different paths (the CUDA backend's
/// cuDNN batch norm takes contiguous, affine cases; its own kernels the rest): an affine
/// forward whose gradient arrives transposed or expanded (both packed for cuDNN), and a forward
/// with a weight but no bias whose gradient is contiguous.
fn mixed_layouts<B: Backend>(b: &B) {
    for (k, dims) in [&[2usize, 4, 5, 6][..], &[300, 9, 4, 4]]
        .into_iter()
        .enumerate()
    {
        let c = dims[1];
        let x = data_f32(numel(dims), 200 + k as u64, -2.0, 3.0);
        let dy = data_f32(numel(dims), 210 + k as u64, -1.0, 1.0);
        let (w, bias) = (data_f32(c, 220, 0.5, 1.5), data_f32(c, 221, -1.0, 1.0));
        let (dx, dw, db) = grads(&x, dims, &dy, Some(&w), true, None);
        // dy laid out channel-major, then viewed as `dims`: a non-contiguous gradient.
        let mut swapped = dims.to_vec();
        swapped.swap(0, 1);
        let dy_swapped: Vec<f64> = (0..dy.len())
            .map(|i| {
                let mut at = unravel(i, &swapped);
                at.swap(0, 1);
                dy[ravel(&at, dims)]
            })
            .collect();
        for (dtype, tol) in [(DType::F32, 1e-4), (DType::F64, 1e-10)] {
            let leaf =
                |v: &[f64], s: &[usize]| tensor(v, s, dtype, b).requires_grad_(true).unwrap();
            let close = |case: &str, name: &str, t: Tensor<B>, want: &[f64], shape: &[usize]| {
                let what = format!("{case}: {name} of {dims:?} {dtype}");
                assert_close(&what, &t, want, shape, dtype, tol, tol);
            };

            let (xt, wt, bt) = (leaf(&x, dims), leaf(&w, &[c]), leaf(&bias, &[c]));
            let y = xt
                .batch_norm(None, None, Some(&wt), Some(&bt), true, 0.1, 1e-5)
                .unwrap();
            let g = tensor(&dy_swapped, &swapped, dtype, b)
                .transpose(0, 1)
                .unwrap();
            assert!(!g.is_contiguous(), "test bug: the gradient is contiguous");
            y.backward_with(&g).unwrap();
            let case = "transposed gradient";
            close(case, "dx", xt.grad().unwrap(), &dx, dims);
            close(case, "dw", wt.grad().unwrap(), &dw, &[c]);
            close(case, "db", bt.grad().unwrap(), &db, &[c]);

            let (xt, wt) = (leaf(&x, dims), leaf(&w, &[c]));
            let y = xt
                .batch_norm(None, None, Some(&wt), None, true, 0.1, 1e-5)
                .unwrap();
            y.backward_with(&tensor(&dy, dims, dtype, b)).unwrap();
            let case = "weight without bias";
            close(case, "dx", xt.grad().unwrap(), &dx, dims);
            close(case, "dw", wt.grad().unwrap(), &dw, &[c]);

            // `y.sum().backward()`: the gradient arrives expanded from one element (stride 0).
            let ones = vec![1.0; x.len()];
            let (dx1, dw1, db1) = grads(&x, dims, &ones, Some(&w), true, None);
            let (xt, wt, bt) = (leaf(&x, dims), leaf(&w, &[c]), leaf(&bias, &[c]));
            let y = xt
                .batch_norm(None, None, Some(&wt), Some(&bt), true, 0.1, 1e-5)
                .unwrap();
            y.sum().unwrap().backward().unwrap();
            let case = "expanded gradient";
            close(case, "dx", xt.grad().unwrap(), &dx1, dims);
            close(case, "db", bt.grad().unwrap(), &db1, &[c]);
            // dw = Σ x̂ cancels to 0 over m terms of size ~1: the rounding of the sum is
            // relative to their scale, √m for a sum in the input's precision.
            let m = (numel(dims) / c) as f64;
            let what = format!("{case}: dw of {dims:?} {dtype}");
            let dw_tol = tol * m.sqrt();
            assert_close(
                &what,
                &wt.grad().unwrap(),
                &dw1,
                &[c],
                dtype,
                dw_tol,
                dw_tol,
            );
        }
    }
}

fn finite_differences<B: Backend>(b: &B) {
    let input = |shape: &[usize], seed: u64, lo: f64| {
        tensor(
            &data(numel(shape), seed, lo, lo + 2.0),
            shape,
            DType::F64,
            b,
        )
    };
    let run = |what: &str, f: &Op<'_, B>, inputs: &[Tensor<B>]| {
        if let Err(e) = gradcheck(f, inputs, 1e-6, 1e-6, 1e-4) {
            panic!("{what}: {e}");
        }
    };
    let inputs = [
        input(&[3, 2, 2, 3], 100, -1.0),
        input(&[2], 101, 0.5),
        input(&[2], 102, -1.0),
    ];
    run(
        "training",
        &|t| t[0].batch_norm(None, None, Some(&t[1]), Some(&t[2]), true, 0.1, 1e-5),
        &inputs,
    );
    let (rm, rv) = (input(&[2], 103, -1.0), input(&[2], 104, 0.5));
    run(
        "evaluation",
        &|t| {
            t[0].batch_norm(
                Some(&rm),
                Some(&rv),
                Some(&t[1]),
                Some(&t[2]),
                false,
                0.1,
                1e-5,
            )
        },
        &inputs,
    );
    run(
        "[N, C] without affine",
        &|t| t[0].batch_norm(None, None, None, None, true, 0.1, 1e-5),
        &[input(&[5, 3], 105, -1.0)],
    );
    // Second order, in x and the weight: the gradient with create_graph differentiated again.
    let r = input(&[3, 2, 4], 106, -1.0);
    run(
        "second order",
        &|t| {
            let _grad = autograd::enable_grad();
            let x = if t[0].requires_grad() {
                t[0].clone()
            } else {
                t[0].detach().requires_grad_(true)?
            };
            let y = x
                .batch_norm(None, None, Some(&t[1]), None, true, 0.1, 1e-5)?
                .mul(&r)?
                .square()?
                .sum()?;
            let dx = autograd::grad(&[&y], &[&x], None, true, true)?.remove(0);
            dx.ok_or_else(|| Error::autograd("test", "no gradient"))
        },
        &[input(&[3, 2, 4], 107, -1.0), input(&[2], 108, 0.5)],
    );
}

fn errors<B: Backend>(b: &B) {
    let x = f32_tensor(&[0.5; 2 * 3 * 4], &[2, 3, 4], b);
    let three = f32_tensor(&[1.0; 3], &[3], b);
    let four = f32_tensor(&[1.0; 4], &[4], b);
    assert_err(
        "running_mean of the wrong size",
        x.batch_norm(Some(&four), Some(&three), None, None, true, 0.1, 1e-5),
        &["batch_norm", "running_mean should contain 3 elements not 4"],
    );
    assert_err(
        "weight of the wrong size",
        x.batch_norm(None, None, Some(&four), None, true, 0.1, 1e-5),
        &["weight should contain 3 elements not 4"],
    );
    assert_err(
        "eval without running statistics",
        x.batch_norm(None, None, None, None, false, 0.1, 1e-5),
        &["running_mean must be defined in evaluation mode"],
    );
    assert_err(
        "one value per channel",
        f32_tensor(&[1.0, 2.0, 3.0], &[1, 3], b)
            .batch_norm(None, None, None, None, true, 0.1, 1e-5),
        &[
            "Expected more than 1 value per channel when training",
            "[1, 3]",
        ],
    );
    assert_err(
        "1-D input",
        three.batch_norm(None, None, None, None, true, 0.1, 1e-5),
        &["batch_norm", "[N, C, *]"],
    );
    assert_err(
        "mixed dtypes",
        x.batch_norm(
            None,
            None,
            Some(&tensor(&[1.0; 3], &[3], DType::F64, b)),
            None,
            true,
            0.1,
            1e-5,
        ),
        &["batch_norm", "weight", "float64"],
    );
    assert_err(
        "integer input",
        tensor(&[1.0; 6], &[2, 3], DType::I64, b)
            .batch_norm(None, None, None, None, true, 0.1, 1e-5),
        &["batch_norm", "floating-point"],
    );
    // A failed call leaves the running statistics alone.
    let rm = f32_tensor(&[0.0; 3], &[3], b);
    let _ = x.batch_norm(Some(&rm), Some(&four), None, None, true, 0.1, 1e-5);
    assert_close("untouched", &rm, &[0.0; 3], &[3], DType::F32, 0.0, 0.0);
}
