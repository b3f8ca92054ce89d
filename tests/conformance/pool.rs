//! max_pool2d (values and indices), avg_pool2d and adaptive_avg_pool2d against float64 loops
//! written here from PyTorch's definitions: kernels, strides, padding, dilation, ceil_mode,
//! count_include_pad, divisor_override; NaN and -inf; unbatched, channels-last, sliced and
//! transposed inputs; f32 / f64 / f16 / bf16; their gradients against the same loops and
//! against finite differences (first and second order); PyTorch's errors.

use crate::common::*;
use tiny_torch::autograd::{self, gradcheck};
use tiny_torch::{Backend, DType, Error, Tensor};

/// A function of tensors, as `gradcheck` takes it.
type Op<'a, B> = dyn Fn(&[Tensor<B>]) -> tiny_torch::Result<Tensor<B>> + 'a;

pub fn check_pool<B: Backend>(b: &B) {
    // A backend without pooling kernels yet is skipped by name (never passed silently).
    let probe = f32_tensor(&[1.0; 4], &[1, 1, 2, 2], b);
    if let Err(Error::Unsupported { .. }) = probe.max_pool2d(2, 2, 0, 1, false) {
        eprintln!(
            "skipping pool on the {} backend: max_pool2d is unsupported",
            b.name()
        );
        return;
    }
    run_checks(
        "pool",
        b,
        &[
            ("max_pool_geometries", max_pool_geometries::<B>),
            ("max_pool_nan_and_infinity", max_pool_nan_and_infinity::<B>),
            ("avg_pool_geometries", avg_pool_geometries::<B>),
            ("adaptive_geometries", adaptive_geometries::<B>),
            ("non_contiguous_inputs", non_contiguous_inputs::<B>),
            ("reduced_precision", reduced_precision::<B>),
            ("gradients", gradients::<B>),
            ("finite_differences", finite_differences::<B>),
            ("errors", errors::<B>),
        ],
    );
}

/// One pooling geometry (PyTorch's arguments; avg ignores `dilation`).
#[derive(Clone, Copy, Debug)]
struct Pool {
    k: [usize; 2],
    s: [usize; 2],
    p: [usize; 2],
    d: [usize; 2],
    ceil: bool,
}

impl Pool {
    fn new(k: usize, s: usize, p: usize) -> Pool {
        Pool {
            k: [k, k],
            s: [s, s],
            p: [p, p],
            d: [1, 1],
            ceil: false,
        }
    }

    fn ceil(mut self) -> Pool {
        self.ceil = true;
        self
    }

    /// PyTorch's `pooling_output_shape`.
    fn out(&self, dim: usize, input: usize) -> usize {
        let num = (input + 2 * self.p[dim]) as f64 - (self.d[dim] * (self.k[dim] - 1) + 1) as f64;
        let q = num / self.s[dim] as f64;
        let mut out = if self.ceil { q.ceil() } else { q.floor() } as usize + 1;
        if self.ceil && (out - 1) * self.s[dim] >= input + self.p[dim] {
            out -= 1;
        }
        out
    }

    fn out_dims(&self, x: [usize; 4]) -> [usize; 4] {
        [x[0], x[1], self.out(0, x[2]), self.out(1, x[3])]
    }
}

/// Reference max pooling: values and flat indices; each window read in row-major order,
/// padding skipped (it is -inf), `v > best || v is NaN` replaces, as PyTorch's kernel.
fn ref_max(x: &[f64], dims: [usize; 4], g: &Pool) -> (Vec<f64>, Vec<f64>) {
    let [n, c, h, w] = dims;
    let o = g.out_dims(dims);
    let (mut values, mut indices) = (Vec::new(), Vec::new());
    for plane in 0..n * c {
        for oh in 0..o[2] {
            for ow in 0..o[3] {
                let (mut best, mut at) = (f64::NEG_INFINITY, None);
                for i in 0..g.k[0] {
                    for j in 0..g.k[1] {
                        let ih = (oh * g.s[0] + i * g.d[0]) as isize - g.p[0] as isize;
                        let iw = (ow * g.s[1] + j * g.d[1]) as isize - g.p[1] as isize;
                        if ih < 0 || iw < 0 || ih >= h as isize || iw >= w as isize {
                            continue;
                        }
                        let flat = ih as usize * w + iw as usize;
                        let v = x[plane * h * w + flat];
                        // The first element read starts the window (PyTorch starts at -inf with
                        // the first valid index, which gives the same result).
                        if at.is_none() || v > best || v.is_nan() {
                            best = v;
                            at = Some(flat);
                        }
                    }
                }
                // A window of padding only keeps -inf and PyTorch's first index: its start moved
                // into the input by whole dilation steps (past the plane here).
                let first = |o: usize, d: usize| {
                    let mut start = (o * g.s[d]) as isize - g.p[d] as isize;
                    while start < 0 {
                        start += g.d[d] as isize;
                    }
                    start as usize
                };
                values.push(best);
                indices.push(at.unwrap_or(first(oh, 0) * w + first(ow, 1)) as f64);
            }
        }
    }
    (values, indices)
}

/// The window of output `o` along one dim for average pooling: `[start, end)` inside the input
/// and the size PyTorch divides by with `count_include_pad` (cut at the end of the padding).
fn avg_window(o: usize, input: usize, k: usize, s: usize, p: usize) -> (usize, usize, usize) {
    let start = (o * s) as isize - p as isize;
    let end = (start + k as isize).min((input + p) as isize);
    let padded = (end - start) as usize;
    (
        start.max(0) as usize,
        end.min(input as isize).max(0) as usize,
        padded,
    )
}

/// Reference average pooling and its backward (`dy` given: the gradient of the input).
fn ref_avg(
    x: &[f64],
    dims: [usize; 4],
    g: &Pool,
    include_pad: bool,
    divisor: Option<usize>,
    dy: Option<&[f64]>,
) -> Vec<f64> {
    let [n, c, h, w] = dims;
    let o = g.out_dims(dims);
    let mut y = Vec::new();
    let mut dx = vec![0.0; x.len()];
    for plane in 0..n * c {
        for oh in 0..o[2] {
            for ow in 0..o[3] {
                let (h0, h1, ph) = avg_window(oh, h, g.k[0], g.s[0], g.p[0]);
                let (w0, w1, pw) = avg_window(ow, w, g.k[1], g.s[1], g.p[1]);
                let count = (h1.saturating_sub(h0) * w1.saturating_sub(w0)) as f64;
                let div = match divisor {
                    Some(d) => d as f64,
                    None if include_pad => (ph * pw) as f64,
                    None => count,
                };
                let mut sum = 0.0;
                let out_at = (plane * o[2] + oh) * o[3] + ow;
                for ih in h0..h1 {
                    for iw in w0..w1 {
                        sum += x[plane * h * w + ih * w + iw];
                        if let Some(dy) = dy {
                            dx[plane * h * w + ih * w + iw] += dy[out_at] / div;
                        }
                    }
                }
                y.push(if count == 0.0 { 0.0 } else { sum / div });
            }
        }
    }
    if dy.is_some() { dx } else { y }
}

/// Reference adaptive average pooling and its backward (`dy` given).
fn ref_adaptive(x: &[f64], dims: [usize; 4], out: [usize; 2], dy: Option<&[f64]>) -> Vec<f64> {
    let [n, c, h, w] = dims;
    let window = |o: usize, input: usize, size: usize| {
        let start = (o as f64 * input as f64 / size as f64).floor() as usize;
        let end = ((o + 1) as f64 * input as f64 / size as f64).ceil() as usize;
        (start, end)
    };
    let mut y = Vec::new();
    let mut dx = vec![0.0; x.len()];
    for plane in 0..n * c {
        for oh in 0..out[0] {
            for ow in 0..out[1] {
                let (h0, h1) = window(oh, h, out[0]);
                let (w0, w1) = window(ow, w, out[1]);
                let count = ((h1 - h0) * (w1 - w0)) as f64;
                let out_at = (plane * out[0] + oh) * out[1] + ow;
                let mut sum = 0.0;
                for ih in h0..h1 {
                    for iw in w0..w1 {
                        sum += x[plane * h * w + ih * w + iw];
                        if let Some(dy) = dy {
                            dx[plane * h * w + ih * w + iw] += dy[out_at] / count;
                        }
                    }
                }
                y.push(sum / count);
            }
        }
    }
    if dy.is_some() { dx } else { y }
}

/// Distinct values (so that maxima are unique), as f32 values.
fn distinct(n: usize, seed: u64) -> Vec<f64> {
    let mut v = data(n, seed, -3.0, 3.0);
    for (i, x) in v.iter_mut().enumerate() {
        *x = (*x + i as f64 * 1e-3) as f32 as f64;
    }
    v
}

fn max_cases() -> Vec<([usize; 4], Pool)> {
    let dilated = Pool {
        k: [3, 2],
        s: [1, 2],
        p: [1, 0],
        d: [2, 1],
        ceil: false,
    };
    let rect = Pool {
        k: [2, 3],
        s: [2, 1],
        p: [1, 1],
        d: [1, 1],
        ceil: true,
    };
    vec![
        ([2, 3, 9, 9], Pool::new(3, 2, 1)),
        ([2, 3, 8, 8], Pool::new(2, 2, 0)),
        ([1, 2, 8, 8], Pool::new(3, 2, 1).ceil()),
        ([1, 2, 10, 7], Pool::new(2, 3, 0).ceil()),
        ([2, 2, 7, 6], dilated),
        ([3, 1, 6, 7], rect),
        ([1, 1, 5, 5], Pool::new(5, 1, 2)),
        ([2, 64, 12, 12], Pool::new(3, 2, 1)),
        // ceil_mode with a window wider than the padded input: one output (PyTorch: a 3x3
        // stride-2 pool of a 2x2 map is 1x1).
        ([1, 2, 2, 2], Pool::new(3, 2, 0).ceil()),
        ([1, 1, 5, 5], Pool::new(6, 6, 0).ceil()),
        // Dilation 3 over a padded 2x2 map: some windows hold only padding (-inf; their index
        // lies past the plane and gets no gradient).
        (
            [1, 2, 2, 2],
            Pool {
                k: [2, 2],
                s: [1, 1],
                p: [1, 1],
                d: [3, 3],
                ceil: false,
            },
        ),
    ]
}

fn max_pool_geometries<B: Backend>(b: &B) {
    for (k, (dims, g)) in max_cases().into_iter().enumerate() {
        let x = distinct(numel(&dims), k as u64);
        let (want, want_idx) = ref_max(&x, dims, &g);
        for dtype in [DType::F32, DType::F64] {
            let t = tensor(&x, &dims, dtype, b);
            let (y, idx) = t
                .max_pool2d_with_indices(g.k, g.s, g.p, g.d, g.ceil)
                .unwrap();
            let what = format!("max_pool2d {dims:?} {g:?} {dtype}");
            assert_exact(&what, &y, &want, &g.out_dims(dims), dtype);
            assert_exact(&what, &idx, &want_idx, &g.out_dims(dims), DType::I64);
        }
    }
    // Unbatched [C, H, W] gives [C, Ho, Wo].
    let x = distinct(3 * 6 * 5, 20);
    let g = Pool::new(2, 2, 1);
    let (want, _) = ref_max(&x, [1, 3, 6, 5], &g);
    let y = f32_tensor(&x, &[3, 6, 5], b)
        .max_pool2d(2, 2, 1, 1, false)
        .unwrap();
    let o = g.out_dims([1, 3, 6, 5]);
    assert_exact("unbatched max_pool2d", &y, &want, &o[1..], DType::F32);
}

fn max_pool_nan_and_infinity<B: Backend>(b: &B) {
    // Padding is -inf: an all-negative input still gives its own maxima at the borders.
    let x: Vec<f64> = (0..16).map(|i| -1.0 - i as f64).collect();
    let g = Pool::new(3, 2, 1);
    let (want, want_idx) = ref_max(&x, [1, 1, 4, 4], &g);
    let (y, idx) = f32_tensor(&x, &[1, 1, 4, 4], b)
        .max_pool2d_with_indices(3, 2, 1, 1, false)
        .unwrap();
    assert_exact(
        "max_pool2d of negatives",
        &y,
        &want,
        &[1, 1, 2, 2],
        DType::F32,
    );
    assert_exact(
        "indices of negatives",
        &idx,
        &want_idx,
        &[1, 1, 2, 2],
        DType::I64,
    );
    // NaN propagates, with its own index; -inf and +inf are ordinary values.
    let mut x = distinct(16, 21);
    x[5] = f64::NAN;
    x[10] = f64::INFINITY;
    x[15] = f64::NEG_INFINITY;
    let g = Pool::new(2, 2, 0);
    let (want, want_idx) = ref_max(&x, [1, 1, 4, 4], &g);
    assert!(want[0].is_nan() && want_idx[0] == 5.0, "test bug: {want:?}");
    for dtype in [DType::F32, DType::F64] {
        let (y, idx) = tensor(&x, &[1, 1, 4, 4], dtype, b)
            .max_pool2d_with_indices(2, 2, 0, 1, false)
            .unwrap();
        assert_exact("max_pool2d with NaN", &y, &want, &[1, 1, 2, 2], dtype);
        assert_exact(
            "indices with NaN",
            &idx,
            &want_idx,
            &[1, 1, 2, 2],
            DType::I64,
        );
    }
}

fn avg_pool_geometries<B: Backend>(b: &B) {
    let cases = [
        ([2, 3, 9, 9], Pool::new(3, 2, 1)),
        ([1, 2, 8, 8], Pool::new(3, 2, 1).ceil()),
        ([1, 2, 5, 5], Pool::new(2, 2, 0).ceil()),
        ([2, 2, 7, 6], Pool::new(3, 3, 1).ceil()),
        ([1, 2, 2, 2], Pool::new(3, 2, 0).ceil()),
        ([1, 1, 5, 5], Pool::new(6, 6, 0).ceil()),
        (
            [1, 3, 6, 7],
            Pool {
                k: [2, 3],
                s: [1, 2],
                p: [1, 1],
                d: [1, 1],
                ceil: true,
            },
        ),
        ([2, 64, 10, 10], Pool::new(2, 2, 0)),
    ];
    for (k, (dims, g)) in cases.into_iter().enumerate() {
        let x = data_f32(numel(&dims), 30 + k as u64, -2.0, 2.0);
        for include_pad in [true, false] {
            for divisor in [None, Some(5)] {
                let want = ref_avg(&x, dims, &g, include_pad, divisor, None);
                for (dtype, tol) in [(DType::F32, 1e-6), (DType::F64, 1e-13)] {
                    let y = tensor(&x, &dims, dtype, b)
                        .avg_pool2d(g.k, g.s, g.p, g.ceil, include_pad, divisor)
                        .unwrap();
                    let what = format!(
                        "avg_pool2d {dims:?} {g:?} include_pad {include_pad} divisor {divisor:?} \
                         {dtype}"
                    );
                    assert_close(&what, &y, &want, &g.out_dims(dims), dtype, tol, tol);
                }
            }
        }
    }
}

fn adaptive_geometries<B: Backend>(b: &B) {
    let cases: [([usize; 4], [usize; 2]); 6] = [
        ([2, 5, 7, 7], [1, 1]),
        ([2, 2, 8, 7], [3, 3]),
        ([1, 3, 7, 5], [3, 2]),
        ([1, 1, 3, 3], [5, 4]),
        ([2, 2, 6, 6], [6, 6]),
        ([2, 64, 14, 14], [7, 7]),
    ];
    for (k, (dims, out)) in cases.into_iter().enumerate() {
        let x = data_f32(numel(&dims), 40 + k as u64, -2.0, 2.0);
        let want = ref_adaptive(&x, dims, out, None);
        for (dtype, tol) in [(DType::F32, 1e-6), (DType::F64, 1e-13)] {
            let y = tensor(&x, &dims, dtype, b)
                .adaptive_avg_pool2d(out)
                .unwrap();
            let what = format!("adaptive_avg_pool2d {dims:?} -> {out:?} {dtype}");
            let shape = [dims[0], dims[1], out[0], out[1]];
            assert_close(&what, &y, &want, &shape, dtype, tol, tol);
        }
    }
}

/// A view of `x` (logical `[N, C, H, W]` values) whose memory is laid out otherwise.
fn layouts<B: Backend>(x: &[f64], dims: [usize; 4], b: &B) -> Vec<(&'static str, Tensor<B>)> {
    let [n, c, h, w] = dims;
    // Channels-last: memory [N, H, W, C], permuted to NCHW.
    let nhwc: Vec<f64> = (0..numel(&dims))
        .map(|i| {
            let idx = unravel(i, &[n, h, w, c]);
            x[ravel(&[idx[0], idx[3], idx[1], idx[2]], &dims)]
        })
        .collect();
    let channels_last = f32_tensor(&nhwc, &[n, h, w, c], b)
        .permute(&[0, 3, 1, 2])
        .unwrap();
    // Every other column of a twice-as-wide tensor.
    let wide: Vec<f64> = (0..n * c * h * 2 * w)
        .map(|i| {
            let idx = unravel(i, &[n, c, h, 2 * w]);
            if idx[3].is_multiple_of(2) {
                x[ravel(&[idx[0], idx[1], idx[2], idx[3] / 2], &dims)]
            } else {
                1e6
            }
        })
        .collect();
    let sliced = f32_tensor(&wide, &[n, c, h, 2 * w], b)
        .slice(3, 0, isize::MAX, 2)
        .unwrap();
    // H and W swapped in memory.
    let swapped: Vec<f64> = (0..numel(&dims))
        .map(|i| {
            let idx = unravel(i, &[n, c, w, h]);
            x[ravel(&[idx[0], idx[1], idx[3], idx[2]], &dims)]
        })
        .collect();
    let transposed = f32_tensor(&swapped, &[n, c, w, h], b)
        .transpose(2, 3)
        .unwrap();
    vec![
        ("channels-last", channels_last),
        ("sliced", sliced),
        ("transposed", transposed),
    ]
}

fn non_contiguous_inputs<B: Backend>(b: &B) {
    let dims = [2, 3, 7, 6];
    let x = distinct(numel(&dims), 50);
    let g = Pool::new(3, 2, 1).ceil();
    let (want_max, want_idx) = ref_max(&x, dims, &g);
    let want_avg = ref_avg(&x, dims, &g, false, None, None);
    let want_adaptive = ref_adaptive(&x, dims, [4, 3], None);
    for (name, t) in layouts(&x, dims, b) {
        assert!(!t.is_contiguous(), "test bug: {name} is contiguous");
        let (y, idx) = t
            .max_pool2d_with_indices(g.k, g.s, g.p, g.d, g.ceil)
            .unwrap();
        assert_exact(name, &y, &want_max, &g.out_dims(dims), DType::F32);
        assert_exact(name, &idx, &want_idx, &g.out_dims(dims), DType::I64);
        let y = t.avg_pool2d(g.k, g.s, g.p, g.ceil, false, None).unwrap();
        assert_close(
            name,
            &y,
            &want_avg,
            &g.out_dims(dims),
            DType::F32,
            1e-6,
            1e-6,
        );
        let y = t.adaptive_avg_pool2d([4, 3]).unwrap();
        assert_close(
            name,
            &y,
            &want_adaptive,
            &[2, 3, 4, 3],
            DType::F32,
            1e-6,
            1e-6,
        );
    }
}

fn reduced_precision<B: Backend>(b: &B) {
    let dims = [2, 3, 8, 8];
    for dtype in [DType::F16, DType::BF16] {
        let x: Vec<f64> = distinct(numel(&dims), 60)
            .into_iter()
            .map(|v| round_to(dtype, v))
            .collect();
        let t = tensor(&x, &dims, dtype, b);
        let g = Pool::new(3, 2, 1);
        // Max pooling is exact in any dtype (ties between rounded values aside: the values are
        // compared as stored, so the first maximum in window order wins, as in the reference).
        let (want, _) = ref_max(&x, dims, &g);
        let y = t.max_pool2d(g.k, g.s, g.p, g.d, g.ceil).unwrap();
        assert_exact("max_pool2d", &y, &want, &g.out_dims(dims), dtype);
        // Averages are computed in f32 and rounded once.
        let want: Vec<f64> = ref_avg(&x, dims, &g, true, None, None)
            .into_iter()
            .map(|v| round_to(dtype, v))
            .collect();
        let y = t.avg_pool2d(g.k, g.s, g.p, false, true, None).unwrap();
        let tol = if dtype == DType::F16 { 1e-3 } else { 8e-3 };
        assert_close("avg_pool2d", &y, &want, &g.out_dims(dims), dtype, tol, tol);
        let want = ref_adaptive(&x, dims, [3, 3], None);
        let y = t.adaptive_avg_pool2d(3).unwrap();
        assert_close("adaptive", &y, &want, &[2, 3, 3, 3], dtype, tol, tol);
    }
}

fn gradients<B: Backend>(b: &B) {
    for (k, (dims, g)) in max_cases().into_iter().enumerate() {
        let x = distinct(numel(&dims), 70 + k as u64);
        let o = g.out_dims(dims);
        let dy = data_f32(numel(&o), 80 + k as u64, -1.0, 1.0);
        // Max: each gradient goes to its window's maximum (overlapping windows add).
        let (_, idx) = ref_max(&x, dims, &g);
        let per_out = o[2] * o[3];
        let mut dx_max = vec![0.0; x.len()];
        let per_in = dims[2] * dims[3];
        for (i, (&d, &at)) in dy.iter().zip(&idx).enumerate() {
            // (An index past the plane marks a window of padding only: no gradient.)
            if (at as usize) < per_in {
                dx_max[(i / per_out) * per_in + at as usize] += d;
            }
        }
        for dtype in [DType::F32, DType::F64] {
            let xt = tensor(&x, &dims, dtype, b).requires_grad_(true).unwrap();
            let y = xt.max_pool2d(g.k, g.s, g.p, g.d, g.ceil).unwrap();
            y.backward_with(&tensor(&dy, &o, dtype, b)).unwrap();
            let what = format!("max_pool2d grad {dims:?} {g:?} {dtype}");
            assert_close(
                &what,
                &xt.grad().unwrap(),
                &dx_max,
                &dims,
                dtype,
                1e-6,
                1e-6,
            );
        }
        // Avg without dilation, both divisor rules.
        if g.d != [1, 1] {
            continue;
        }
        for include_pad in [true, false] {
            let dx = ref_avg(&x, dims, &g, include_pad, None, Some(&dy));
            let xt = f32_tensor(&x, &dims, b).requires_grad_(true).unwrap();
            let y = xt
                .avg_pool2d(g.k, g.s, g.p, g.ceil, include_pad, None)
                .unwrap();
            y.backward_with(&f32_tensor(&dy, &o, b)).unwrap();
            let what = format!("avg_pool2d grad {dims:?} {g:?} include_pad {include_pad}");
            assert_close(
                &what,
                &xt.grad().unwrap(),
                &dx,
                &dims,
                DType::F32,
                1e-5,
                1e-6,
            );
        }
    }
    for (dims, out) in [([2, 3, 7, 5], [3, 2]), ([1, 2, 3, 4], [5, 6])] {
        let x = data_f32(numel(&dims), 90, -1.0, 1.0);
        let o = [dims[0], dims[1], out[0], out[1]];
        let dy = data_f32(numel(&o), 91, -1.0, 1.0);
        let dx = ref_adaptive(&x, dims, out, Some(&dy));
        let xt = f32_tensor(&x, &dims, b).requires_grad_(true).unwrap();
        xt.adaptive_avg_pool2d(out)
            .unwrap()
            .backward_with(&f32_tensor(&dy, &o, b))
            .unwrap();
        let what = format!("adaptive grad {dims:?} -> {out:?}");
        assert_close(
            &what,
            &xt.grad().unwrap(),
            &dx,
            &dims,
            DType::F32,
            1e-5,
            1e-6,
        );
    }
    // A broadcast (stride-0) gradient, as `sum()` gives, read through its layout.
    let x = distinct(2 * 2 * 6 * 6, 92);
    let xt = f32_tensor(&x, &[2, 2, 6, 6], b)
        .requires_grad_(true)
        .unwrap();
    xt.avg_pool2d(2, 2, 0, false, true, None)
        .unwrap()
        .sum()
        .unwrap()
        .backward()
        .unwrap();
    assert_close(
        "grad of avg_pool2d().sum()",
        &xt.grad().unwrap(),
        &[0.25; 144],
        &[2, 2, 6, 6],
        DType::F32,
        0.0,
        0.0,
    );
}

fn finite_differences<B: Backend>(b: &B) {
    let input =
        |shape: &[usize], seed: u64| tensor(&distinct(numel(shape), seed), shape, DType::F64, b);
    let check = |what: &str, f: &Op<'_, B>, x: Tensor<B>| {
        if let Err(e) = gradcheck(f, &[x], 1e-6, 1e-6, 1e-4) {
            panic!("{what}: {e}");
        }
    };
    check(
        "max_pool2d",
        &|t| t[0].max_pool2d([3, 2], [2, 1], [1, 1], [1, 2], true),
        input(&[2, 2, 6, 5], 100),
    );
    check(
        "avg_pool2d",
        &|t| t[0].avg_pool2d(3, 2, 1, true, false, None),
        input(&[1, 2, 6, 5], 101),
    );
    check(
        "avg_pool2d divisor",
        &|t| t[0].avg_pool2d([2, 3], 1, [1, 0], false, true, Some(4)),
        input(&[1, 2, 4, 5], 102),
    );
    check(
        "adaptive_avg_pool2d",
        &|t| t[0].adaptive_avg_pool2d([3, 4]),
        input(&[1, 2, 5, 7], 103),
    );
    // Second order: the gradient (with create_graph) differentiated again.
    let second = |pool: fn(&Tensor<B>) -> tiny_torch::Result<Tensor<B>>| {
        move |t: &[Tensor<B>]| -> tiny_torch::Result<Tensor<B>> {
            let _grad = autograd::enable_grad();
            let x = if t[0].requires_grad() {
                t[0].clone()
            } else {
                t[0].detach().requires_grad_(true)?
            };
            let y = pool(&x)?.pow(3.0)?.sum()?;
            let dx = autograd::grad(&[&y], &[&x], None, true, true)?.remove(0);
            dx.ok_or_else(|| Error::autograd("test", "no gradient"))
        }
    };
    check(
        "max_pool2d second order",
        &second(|x| x.max_pool2d(2, 1, 1, 1, false)),
        input(&[1, 2, 4, 4], 104),
    );
    check(
        "avg_pool2d second order",
        &second(|x| x.avg_pool2d(3, 2, 1, true, true, None)),
        input(&[1, 2, 5, 5], 105),
    );
    check(
        "adaptive_avg_pool2d second order",
        &second(|x| x.adaptive_avg_pool2d([2, 3])),
        input(&[1, 2, 5, 4], 106),
    );
}

fn errors<B: Backend>(b: &B) {
    // An empty plane has no windows (padding would otherwise make one of pure padding).
    let empty_plane = f32_tensor(&[], &[1, 1, 0, 4], b);
    assert_err(
        "empty plane",
        empty_plane.max_pool2d(2, 2, 1, 1, false),
        &["max_pool2d", "[1, 1, 0, 4]"],
    );
    let x = f32_tensor(&[0.0; 2 * 3 * 4 * 4], &[2, 3, 4, 4], b);
    assert_err(
        "kernel 0",
        x.max_pool2d(0, 1, 0, 1, false),
        &["max_pool2d", "kernel size should be greater than zero"],
    );
    assert_err(
        "stride 0",
        x.avg_pool2d(2, 0, 0, false, true, None),
        &["avg_pool2d", "stride should be greater than zero"],
    );
    assert_err(
        "dilation 0",
        x.max_pool2d(2, 1, 0, 0, false),
        &["dilation should be greater than zero"],
    );
    assert_err(
        "padding above half the kernel",
        x.max_pool2d(3, 1, 2, 1, false),
        &["pad should be smaller than or equal to half of kernel size"],
    );
    assert_err(
        "output too small",
        x.max_pool2d(3, 1, 0, 3, false),
        &["Given input size: (3x4x4)", "Output size is too small"],
    );
    assert_err(
        "2-D input",
        f32_tensor(&[0.0; 16], &[4, 4], b).max_pool2d(2, 2, 0, 1, false),
        &["max_pool2d", "3D or 4D", "[4, 4]"],
    );
    assert_err(
        "empty plane",
        f32_tensor(&[], &[1, 0, 4, 4], b).avg_pool2d(2, 2, 0, false, true, None),
        &["avg_pool2d", "3D or 4D"],
    );
    assert_err(
        "integer input",
        tensor(&[0.0; 16], &[1, 1, 4, 4], DType::I64, b).max_pool2d(2, 2, 0, 1, false),
        &["max_pool2d", "floating-point"],
    );
    assert_err(
        "divisor 0",
        x.avg_pool2d(2, 2, 0, false, true, Some(0)),
        &["divisor must be not zero"],
    );
    assert_err(
        "adaptive to 0",
        x.adaptive_avg_pool2d([0, 2]),
        &["adaptive_avg_pool2d", "output_size"],
    );
    // An empty batch is fine and gives an empty output.
    let y = f32_tensor(&[], &[0, 3, 4, 4], b)
        .max_pool2d(2, 2, 0, 1, false)
        .unwrap();
    assert_eq!(y.dims(), [0, 3, 2, 2]);
}
