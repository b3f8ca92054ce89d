//! conv2d and conv_transpose2d against a direct float64 convolution written here (every output,
//! every tap): stride, padding (sizes, "same", "valid"), dilation, groups (depthwise too), 1x1
//! kernels, unbatched and non-contiguous inputs, f32 / f64 / f16 / bf16; their gradients against
//! the same loops and against finite differences (first and second order); PyTorch's errors.

use crate::common::*;
use tiny_torch::autograd::{self, gradcheck};
use tiny_torch::{Backend, DType, Error, Padding, Tensor};

pub fn check_conv<B: Backend>(b: &B) {
    // A backend without convolution kernels yet is skipped by name (never passed silently).
    let probe = f32_tensor(&[1.0; 9], &[1, 1, 3, 3], b);
    if let Err(Error::Unsupported { .. }) = probe.conv2d(&probe, None, 1, 0, 1, 1) {
        eprintln!(
            "skipping conv on the {} backend: conv2d is unsupported",
            b.name()
        );
        return;
    }
    run_checks(
        "conv",
        b,
        &[
            ("geometries", geometries::<B>),
            ("non_contiguous_inputs", non_contiguous_inputs::<B>),
            ("same_and_valid_padding", same_and_valid_padding::<B>),
            ("reduced_precision", reduced_precision::<B>),
            ("gradients", gradients::<B>),
            ("finite_differences", finite_differences::<B>),
            ("transposed", transposed::<B>),
            ("zero_channels", zero_channels::<B>),
            ("errors", errors::<B>),
        ],
    );
}

/// One convolution's geometry: padding before the input (after it, the output size decides).
#[derive(Clone, Copy, Debug)]
struct Geo {
    x: [usize; 4],
    w: [usize; 4],
    stride: [usize; 2],
    pad: [usize; 2],
    dilation: [usize; 2],
    groups: usize,
    out: [usize; 2],
}

impl Geo {
    /// Symmetric padding, PyTorch's output size.
    fn new(
        x: [usize; 4],
        w: [usize; 4],
        stride: usize,
        pad: usize,
        dilation: usize,
        groups: usize,
    ) -> Geo {
        let size = |i: usize, k: usize| (i + 2 * pad - dilation * (k - 1) - 1) / stride + 1;
        Geo {
            x,
            w,
            stride: [stride; 2],
            pad: [pad; 2],
            dilation: [dilation; 2],
            groups,
            out: [size(x[2], w[2]), size(x[3], w[3])],
        }
    }

    fn out_dims(&self) -> [usize; 4] {
        [self.x[0], self.w[0], self.out[0], self.out[1]]
    }

    /// Calls `f(x_index, w_index, out_index)` for every product of the direct convolution that
    /// reads the input (padding reads contribute nothing).
    fn each(&self, mut f: impl FnMut(usize, usize, usize)) {
        let [n, _, h, w] = self.x;
        let [o, cg, kh, kw] = self.w;
        let og = o / self.groups;
        let [oh, ow] = self.out;
        for ni in 0..n {
            for oi in 0..o {
                let g = oi / og;
                for y in 0..oh {
                    for xo in 0..ow {
                        for ci in 0..cg {
                            for i in 0..kh {
                                for j in 0..kw {
                                    let iy = (y * self.stride[0] + i * self.dilation[0]) as isize
                                        - self.pad[0] as isize;
                                    let ix = (xo * self.stride[1] + j * self.dilation[1]) as isize
                                        - self.pad[1] as isize;
                                    if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                        continue;
                                    }
                                    let xi = ravel(
                                        &[ni, g * cg + ci, iy as usize, ix as usize],
                                        &self.x,
                                    );
                                    let wi = ravel(&[oi, ci, i, j], &self.w);
                                    let yi = ravel(&[ni, oi, y, xo], &self.out_dims());
                                    f(xi, wi, yi);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    fn forward(&self, x: &[f64], w: &[f64], bias: Option<&[f64]>) -> Vec<f64> {
        let dims = self.out_dims();
        let mut out: Vec<f64> = (0..numel(&dims))
            .map(|i| bias.map_or(0.0, |b| b[unravel(i, &dims)[1]]))
            .collect();
        self.each(|xi, wi, yi| out[yi] += x[xi] * w[wi]);
        out
    }

    /// `(dx, dw)` for the output gradient `dy`.
    fn backward(&self, x: &[f64], w: &[f64], dy: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let (mut dx, mut dw) = (vec![0.0; x.len()], vec![0.0; w.len()]);
        self.each(|xi, wi, yi| {
            dx[xi] += dy[yi] * w[wi];
            dw[wi] += dy[yi] * x[xi];
        });
        (dx, dw)
    }
}

/// Input, weight and bias values of `g` (f32-exact).
fn operands(g: &Geo, seed: u64) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    (
        data_f32(numel(&g.x), seed, -1.0, 1.0),
        data_f32(numel(&g.w), seed + 1, -1.0, 1.0),
        data_f32(g.w[0], seed + 2, -1.0, 1.0),
    )
}

fn geometries<B: Backend>(b: &B) {
    let cases = [
        Geo::new([2, 3, 7, 6], [4, 3, 3, 3], 1, 1, 1, 1),
        Geo::new([2, 4, 9, 8], [6, 2, 3, 3], 2, 1, 1, 2),
        Geo::new([1, 3, 11, 10], [2, 3, 3, 3], 3, 2, 2, 1),
        Geo::new([2, 6, 6, 5], [6, 1, 3, 3], 1, 1, 1, 6), // depthwise
        Geo::new([2, 6, 6, 5], [12, 1, 3, 3], 2, 1, 1, 6), // depthwise, channel multiplier 2
        Geo::new([2, 5, 4, 6], [7, 5, 1, 1], 1, 0, 1, 1), // 1x1
        Geo::new([2, 8, 7, 7], [4, 8, 1, 1], 2, 0, 1, 1), // 1x1, stride 2
        Geo::new([3, 4, 5, 5], [5, 4, 5, 5], 1, 0, 1, 1), // 1x1 output
        Geo::new([4, 8, 16, 16], [32, 8, 3, 3], 1, 1, 1, 1), // large enough for threads
        Geo::new([2, 16, 12, 13], [20, 16, 3, 3], 1, 1, 1, 1), // Winograd F(2x2, 3x3) on the CPU
        Geo::new([2, 18, 9, 8], [16, 18, 3, 3], 1, 2, 1, 1), // the same, padded by 2
        Geo {
            x: [2, 2, 8, 5],
            w: [3, 2, 2, 3],
            stride: [2, 1],
            pad: [0, 2],
            dilation: [1, 3],
            groups: 1,
            out: [4, 3],
        },
    ];
    for (k, g) in cases.iter().enumerate() {
        let (x, w, bias) = operands(g, 10 + k as u64);
        let want = g.forward(&x, &w, Some(&bias));
        for dtype in [DType::F32, DType::F64] {
            let (xt, wt, bt) = (
                tensor(&x, &g.x, dtype, b),
                tensor(&w, &g.w, dtype, b),
                tensor(&bias, &[g.w[0]], dtype, b),
            );
            let got = xt
                .conv2d(&wt, Some(&bt), g.stride, g.pad, g.dilation, g.groups)
                .unwrap();
            let tol = if dtype == DType::F32 { 1e-5 } else { 1e-12 };
            assert_close(
                &format!("conv2d {g:?} {dtype}"),
                &got,
                &want,
                &g.out_dims(),
                dtype,
                tol,
                tol,
            );
        }
    }
    // Unbatched [C, H, W] input, no bias.
    let g = Geo::new([1, 3, 6, 6], [2, 3, 3, 3], 1, 1, 1, 1);
    let (x, w, _) = operands(&g, 30);
    let got = f32_tensor(&x, &[3, 6, 6], b)
        .conv2d(&f32_tensor(&w, &g.w, b), None, 1, 1, 1, 1)
        .unwrap();
    assert_close(
        "unbatched conv2d",
        &got,
        &g.forward(&x, &w, None),
        &[2, 6, 6],
        DType::F32,
        1e-5,
        1e-5,
    );
}

fn non_contiguous_inputs<B: Backend>(b: &B) {
    let g = Geo::new([2, 4, 6, 5], [3, 4, 3, 3], 1, 1, 1, 1);
    let (x, w, bias) = operands(&g, 40);
    let want = g.forward(&x, &w, Some(&bias));
    let (wt, bt) = (f32_tensor(&w, &g.w, b), f32_tensor(&bias, &[3], b));
    // Channels-last storage [N, H, W, C] viewed as NCHW.
    let mut nhwc = vec![0.0; x.len()];
    for (i, &v) in x.iter().enumerate() {
        let idx = unravel(i, &g.x);
        nhwc[ravel(&[idx[0], idx[2], idx[3], idx[1]], &[2, 6, 5, 4])] = v;
    }
    let cl = f32_tensor(&nhwc, &[2, 6, 5, 4], b)
        .permute(&[0, 3, 1, 2])
        .unwrap();
    assert!(!cl.is_contiguous());
    let got = cl.conv2d(&wt, Some(&bt), 1, 1, 1, 1).unwrap();
    assert_close(
        "conv2d of channels-last",
        &got,
        &want,
        &g.out_dims(),
        DType::F32,
        1e-5,
        1e-5,
    );
    // Every other column of a wider input, and a transposed weight.
    let mut wide = vec![0.0; 2 * 4 * 6 * 10];
    for (i, &v) in x.iter().enumerate() {
        let idx = unravel(i, &g.x);
        wide[ravel(&[idx[0], idx[1], idx[2], 2 * idx[3]], &[2, 4, 6, 10])] = v;
    }
    let sliced = f32_tensor(&wide, &[2, 4, 6, 10], b)
        .slice(3, 0, 10, 2)
        .unwrap();
    let mut w_t = vec![0.0; w.len()];
    for (i, &v) in w.iter().enumerate() {
        let idx = unravel(i, &g.w);
        w_t[ravel(&[idx[0], idx[1], idx[3], idx[2]], &g.w)] = v;
    }
    let w_view = f32_tensor(&w_t, &g.w, b).transpose(2, 3).unwrap();
    let got = sliced.conv2d(&w_view, Some(&bt), 1, 1, 1, 1).unwrap();
    assert_close(
        "conv2d of strided views",
        &got,
        &want,
        &g.out_dims(),
        DType::F32,
        1e-5,
        1e-5,
    );
}

fn same_and_valid_padding<B: Backend>(b: &B) {
    // (kernel, dilation): odd and even extents; an odd total puts the extra zero after.
    for (k, d) in [(3, 1), (4, 1), (2, 3), (5, 2), (1, 1)] {
        let x_dims = [2, 3, 7, 6];
        let total = d * (k - 1);
        let g = Geo {
            x: x_dims,
            w: [4, 3, k, k],
            stride: [1, 1],
            pad: [total / 2; 2],
            dilation: [d, d],
            groups: 1,
            out: [7, 6],
        };
        let (x, w, bias) = operands(&g, 50 + k as u64);
        let got = f64_conv(b, &g, &x, &w, Some(&bias), Padding::Same);
        assert_close(
            &format!("same k={k} d={d}"),
            &got,
            &g.forward(&x, &w, Some(&bias)),
            &g.out_dims(),
            DType::F64,
            1e-12,
            1e-12,
        );
    }
    let g = Geo::new([1, 2, 6, 5], [3, 2, 3, 2], 1, 0, 1, 1);
    let (x, w, _) = operands(&g, 60);
    let got = f64_conv(b, &g, &x, &w, None, Padding::Valid);
    assert_close(
        "valid",
        &got,
        &g.forward(&x, &w, None),
        &g.out_dims(),
        DType::F64,
        1e-12,
        1e-12,
    );
}

fn f64_conv<B: Backend>(
    b: &B,
    g: &Geo,
    x: &[f64],
    w: &[f64],
    bias: Option<&[f64]>,
    padding: Padding,
) -> Tensor<B> {
    let bias = bias.map(|v| tensor(v, &[g.w[0]], DType::F64, b));
    tensor(x, &g.x, DType::F64, b)
        .conv2d(
            &tensor(w, &g.w, DType::F64, b),
            bias.as_ref(),
            g.stride,
            padding,
            g.dilation,
            g.groups,
        )
        .unwrap()
}

fn reduced_precision<B: Backend>(b: &B) {
    let g = Geo::new([2, 4, 6, 6], [4, 2, 3, 3], 1, 1, 1, 2);
    for dtype in [DType::F16, DType::BF16] {
        let (x, w, bias) = operands(&g, 70);
        let (x, w, bias): (Vec<f64>, Vec<f64>, Vec<f64>) = (
            x.iter().map(|&v| round_to(dtype, v)).collect(),
            w.iter().map(|&v| round_to(dtype, v)).collect(),
            bias.iter().map(|&v| round_to(dtype, v)).collect(),
        );
        // Computed in f32, rounded once: within one rounding of the exact value.
        let want = g.forward(&x, &w, Some(&bias));
        let got = tensor(&x, &g.x, dtype, b)
            .conv2d(
                &tensor(&w, &g.w, dtype, b),
                Some(&tensor(&bias, &[4], dtype, b)),
                1,
                1,
                1,
                2,
            )
            .unwrap();
        let rtol = if dtype == DType::F16 { 1e-3 } else { 8e-3 };
        assert_close(
            &format!("conv2d {dtype}"),
            &got,
            &want,
            &g.out_dims(),
            dtype,
            rtol,
            1e-2,
        );
    }
}

fn gradients<B: Backend>(b: &B) {
    let cases = [
        Geo::new([2, 4, 9, 8], [6, 2, 3, 3], 2, 1, 1, 2),
        Geo::new([2, 3, 8, 8], [4, 3, 3, 3], 1, 2, 2, 1),
        Geo::new([2, 6, 5, 5], [6, 1, 3, 3], 1, 1, 1, 6),
        Geo::new([3, 5, 4, 4], [7, 5, 1, 1], 1, 0, 1, 1),
        Geo::new([4, 8, 16, 16], [32, 8, 3, 3], 1, 1, 1, 1), // threads
        Geo::new([2, 16, 12, 13], [20, 16, 3, 3], 1, 1, 1, 1), // Winograd on the CPU
    ];
    for (k, g) in cases.iter().enumerate() {
        let (x, w, bias) = operands(g, 80 + k as u64);
        let dy = data_f32(numel(&g.out_dims()), 90 + k as u64, -1.0, 1.0);
        let (dx, dw) = g.backward(&x, &w, &dy);
        // Output planes are [N, O] in order: plane p belongs to channel p % O.
        let mut db = vec![0.0; g.w[0]];
        for (p, plane) in dy.chunks(g.out[0] * g.out[1]).enumerate() {
            db[p % g.w[0]] += plane.iter().sum::<f64>();
        }
        for dtype in [DType::F32, DType::F64] {
            let leaf =
                |v: &[f64], s: &[usize]| tensor(v, s, dtype, b).requires_grad_(true).unwrap();
            let (xt, wt, bt) = (leaf(&x, &g.x), leaf(&w, &g.w), leaf(&bias, &[g.w[0]]));
            let y = xt
                .conv2d(&wt, Some(&bt), g.stride, g.pad, g.dilation, g.groups)
                .unwrap();
            y.backward_with(&tensor(&dy, &g.out_dims(), dtype, b))
                .unwrap();
            let tol = if dtype == DType::F32 { 2e-5 } else { 1e-12 };
            let what = |name: &str| format!("{name} of {g:?} {dtype}");
            assert_close(&what("dx"), &xt.grad().unwrap(), &dx, &g.x, dtype, tol, tol);
            assert_close(&what("dw"), &wt.grad().unwrap(), &dw, &g.w, dtype, tol, tol);
            assert_close(
                &what("db"),
                &bt.grad().unwrap(),
                &db,
                &[g.w[0]],
                dtype,
                tol,
                tol,
            );
        }
    }
}

fn finite_differences<B: Backend>(b: &B) {
    let input = |shape: &[usize], seed: u64| {
        tensor(&data(numel(shape), seed, -1.0, 1.0), shape, DType::F64, b)
    };
    // First order: groups, stride, padding, dilation differing per dim.
    let inputs = [
        input(&[2, 4, 5, 4], 100),
        input(&[4, 2, 3, 2], 101),
        input(&[4], 102),
    ];
    gradcheck(
        |t| t[0].conv2d(&t[1], Some(&t[2]), [2, 1], [1, 0], [1, 2], 2),
        &inputs,
        1e-6,
        1e-6,
        1e-4,
    )
    .unwrap();
    // "same" with an even kernel (asymmetric padding).
    let inputs = [input(&[1, 2, 4, 5], 103), input(&[3, 2, 2, 4], 104)];
    gradcheck(
        |t| t[0].conv2d(&t[1], None, 1, Padding::Same, 1, 1),
        &inputs,
        1e-6,
        1e-6,
        1e-4,
    )
    .unwrap();
    // Transposed, with output padding and groups.
    let inputs = [
        input(&[1, 4, 3, 2], 105),
        input(&[4, 2, 3, 3], 106),
        input(&[4], 107),
    ];
    gradcheck(
        |t| t[0].conv_transpose2d(&t[1], Some(&t[2]), 2, 1, 1, 2, 1),
        &inputs,
        1e-6,
        1e-6,
        1e-4,
    )
    .unwrap();
    // Second order: the gradient (with create_graph) differentiated again, in x and w.
    let inputs = [input(&[1, 2, 5, 4], 108), input(&[2, 2, 3, 3], 109)];
    gradcheck(
        |t| {
            let _grad = autograd::enable_grad();
            // During the finite differences the inputs are plain tensors: make x a leaf.
            let x = if t[0].requires_grad() {
                t[0].clone()
            } else {
                t[0].detach().requires_grad_(true)?
            };
            let y = x.conv2d(&t[1], None, 2, 1, 1, 1)?.square()?.sum()?;
            let dx = autograd::grad(&[&y], &[&x], None, true, true)?.remove(0);
            dx.ok_or_else(|| Error::autograd("test", "no gradient"))
        },
        &inputs,
        1e-6,
        1e-6,
        1e-4,
    )
    .unwrap();
}

/// Direct transposed convolution: every input pixel scatters `x * w` onto the output.
#[allow(clippy::too_many_arguments)]
fn reference_transposed(
    x: &[f64],
    xd: [usize; 4],
    w: &[f64],
    wd: [usize; 4],
    bias: &[f64],
    s: usize,
    p: usize,
    op: usize,
    groups: usize,
    d: usize,
) -> (Vec<f64>, [usize; 4]) {
    let [n, c_in, h, ww] = xd;
    let [_, cog, kh, kw] = wd;
    let (oh, ow) = (
        (h - 1) * s + d * (kh - 1) + op + 1 - 2 * p,
        (ww - 1) * s + d * (kw - 1) + op + 1 - 2 * p,
    );
    let od = [n, cog * groups, oh, ow];
    let mut out: Vec<f64> = (0..numel(&od)).map(|i| bias[unravel(i, &od)[1]]).collect();
    let cig = c_in / groups;
    for ni in 0..n {
        for ci in 0..c_in {
            let g = ci / cig;
            for y in 0..h {
                for xx in 0..ww {
                    for co in 0..cog {
                        for i in 0..kh {
                            for j in 0..kw {
                                let oy = (y * s + i * d) as isize - p as isize;
                                let ox = (xx * s + j * d) as isize - p as isize;
                                if oy < 0 || ox < 0 || oy >= oh as isize || ox >= ow as isize {
                                    continue;
                                }
                                out[ravel(&[ni, g * cog + co, oy as usize, ox as usize], &od)] += x
                                    [ravel(&[ni, ci, y, xx], &xd)]
                                    * w[ravel(&[ci, co, i, j], &wd)];
                            }
                        }
                    }
                }
            }
        }
    }
    (out, od)
}

fn transposed<B: Backend>(b: &B) {
    // (input, weight, stride, padding, output_padding, groups, dilation)
    let cases = [
        ([2, 3, 4, 5], [3, 2, 3, 3], 2, 1, 1, 1, 1),
        ([1, 4, 3, 3], [4, 3, 2, 2], 2, 0, 0, 2, 1),
        ([2, 2, 5, 4], [2, 3, 3, 3], 1, 1, 0, 1, 2),
        ([1, 2, 3, 3], [2, 2, 3, 3], 1, 0, 1, 1, 2), // output_padding >= stride (< dilation)
        ([2, 6, 4, 4], [6, 1, 3, 3], 3, 1, 2, 6, 1), // depthwise
    ];
    for (k, (xd, wd, s, p, op, groups, d)) in cases.into_iter().enumerate() {
        let x = data_f32(numel(&xd), 120 + k as u64, -1.0, 1.0);
        let w = data_f32(numel(&wd), 130 + k as u64, -1.0, 1.0);
        let bias = data_f32(wd[1] * groups, 140 + k as u64, -1.0, 1.0);
        let (want, od) = reference_transposed(&x, xd, &w, wd, &bias, s, p, op, groups, d);
        for dtype in [DType::F32, DType::F64] {
            let got = tensor(&x, &xd, dtype, b)
                .conv_transpose2d(
                    &tensor(&w, &wd, dtype, b),
                    Some(&tensor(&bias, &[od[1]], dtype, b)),
                    s,
                    p,
                    op,
                    groups,
                    d,
                )
                .unwrap();
            let tol = if dtype == DType::F32 { 1e-5 } else { 1e-12 };
            assert_close(
                &format!("conv_transpose2d case {k} {dtype}"),
                &got,
                &want,
                &od,
                dtype,
                tol,
                tol,
            );
        }
    }
}

/// An input with no channels sums nothing: the output is the bias (or zeros) at every position
/// of `[N, O, Ho, Wo]`, with zero-size input and weight gradients and the bias gradient
/// `sum(g)`. (PyTorch 2.15 returns a `[N, 0, H, W]` tensor here instead, dropping the output
/// channels; we keep the convolution's definition, documented in docs/nn.md.) Shapes
/// that would take a backend's fast paths (a 64 x 64 plane, a 3 x 3 kernel on a 1 x 1 plane).
/// A weight with fewer output channels than groups is an error.
fn zero_channels<B: Backend>(b: &B) {
    let bias_values = [0.5, -1.0, 2.0, 0.25];
    let bias = f32_tensor(&bias_values, &[4], b)
        .requires_grad_(true)
        .unwrap();
    for (n, hw) in [(27, 1), (1, 64), (2, 5)] {
        let x = f32_tensor(&[], &[n, 0, hw, hw], b)
            .requires_grad_(true)
            .unwrap();
        let w = f32_tensor(&[], &[4, 0, 3, 3], b)
            .requires_grad_(true)
            .unwrap();
        let out = x.conv2d(&w, Some(&bias), 1, 1, 1, 1).unwrap();
        let want: Vec<f64> = (0..n * 4 * hw * hw)
            .map(|i| bias_values[(i / (hw * hw)) % 4])
            .collect();
        let what = format!("[{n}, 0, {hw}, {hw}] with a bias");
        assert_exact(&what, &out, &want, &[n, 4, hw, hw], DType::F32);
        let plain = x.conv2d(&w, None, 1, 1, 1, 1).unwrap();
        let zeros = vec![0.0; n * 4 * hw * hw];
        assert_exact(
            "without a bias",
            &plain,
            &zeros,
            &[n, 4, hw, hw],
            DType::F32,
        );
        bias.clear_grad();
        out.sum().unwrap().backward().unwrap();
        assert_eq!(x.grad().unwrap().dims(), &[n, 0, hw, hw]);
        assert_eq!(w.grad().unwrap().dims(), &[4, 0, 3, 3]);
        let per_channel = (n * hw * hw) as f64;
        assert_exact(
            "bias gradient",
            &bias.grad().unwrap(),
            &[per_channel; 4],
            &[4],
            DType::F32,
        );
    }
    let x = f32_tensor(&[0.5; 75], &[1, 3, 5, 5], b);
    let no_outputs = f32_tensor(&[], &[0, 3, 3, 3], b);
    assert_err(
        "no output channels",
        x.conv2d(&no_outputs, None, 1, 0, 1, 1),
        &["expected weight to be at least 1 at dimension 0"],
    );
}

fn errors<B: Backend>(b: &B) {
    let x = f32_tensor(&[0.5; 75], &[1, 3, 5, 5], b);
    let w = f32_tensor(&[0.5; 288], &[8, 4, 3, 3], b);
    assert_err(
        "channels",
        x.conv2d(&w, None, 1, 0, 1, 1),
        &["expected input[1, 3, 5, 5] to have 4 channels, but got 3 channels instead"],
    );
    let w3 = f32_tensor(&[0.5; 27 * 2], &[2, 3, 3, 3], b);
    assert_err(
        "kernel too big",
        x.conv2d(&w3, None, 1, 0, 3, 1),
        &["Kernel size can't be greater than actual input size"],
    );
    assert_err(
        "same with stride",
        x.conv2d(&w3, None, 2, Padding::Same, 1, 1),
        &["padding='same' is not supported for strided convolutions"],
    );
    assert_err("groups", x.conv2d(&w3, None, 1, 0, 1, 2), &["groups=2"]);
    assert_err(
        "zero groups",
        x.conv2d(&w3, None, 1, 0, 1, 0),
        &["non-positive groups"],
    );
    assert_err(
        "zero stride",
        x.conv2d(&w3, None, 0, 0, 1, 1),
        &["non-positive stride"],
    );
    let bias = f32_tensor(&[0.0; 3], &[3], b);
    assert_err(
        "bias",
        x.conv2d(&w3, Some(&bias), 1, 0, 1, 1),
        &["expected bias to be 1-dimensional with 2 elements"],
    );
    let x2 = f32_tensor(&[0.5; 25], &[5, 5], b);
    assert_err(
        "2-D input",
        x2.conv2d(&w3, None, 1, 0, 1, 1),
        &["Expected 3D (unbatched) or 4D (batched) input to conv2d"],
    );
    let w64 = tensor(&[0.5; 54], &[2, 3, 3, 3], DType::F64, b);
    assert_err(
        "dtypes",
        x.conv2d(&w64, None, 1, 0, 1, 1),
        &["conv2d", "float64"],
    );
    let xi = tensor(&[1.0; 75], &[1, 3, 5, 5], DType::I64, b);
    assert_err(
        "integers",
        xi.conv2d(&xi, None, 1, 0, 1, 1),
        &["floating-point"],
    );
    assert_err(
        "output padding",
        x.conv_transpose2d(
            &f32_tensor(&[0.5; 27], &[3, 1, 3, 3], b),
            None,
            1,
            0,
            1,
            1,
            1,
        ),
        &["output padding must be smaller than either stride or dilation"],
    );
    assert_err(
        "transposed channels",
        x.conv_transpose2d(&w, None, 1, 0, 0, 1, 1),
        &["expected input[1, 3, 5, 5] to have 8 channels"],
    );
}
