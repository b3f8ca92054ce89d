//! The three convolution kernels against a direct float64 loop over every output and tap, on
//! geometries that exercise each path (im2col, pointwise, groups, stride, dilation, padding,
//! strided inputs), and the weight gradient's parallel sum reproducible bit for bit.

use super::*;
use crate::storage::from_vec;
use crate::test_values::values;

/// Calls `f(n, o, oy, ox, c, i, j, x_index)` for every multiply of the direct convolution
/// that reads the input (not the padding); `x_index` is into the contiguous input.
fn direct(g: &Geom, mut f: impl FnMut([usize; 4], [usize; 3], usize)) {
    let [sh, sw] = g.p.stride;
    let [ph, pw] = g.p.padding;
    let [dh, dw] = g.p.dilation;
    for n in 0..g.n {
        for o in 0..g.o {
            let group = o / g.og();
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    for c in 0..g.cg() {
                        for i in 0..g.kh {
                            for j in 0..g.kw {
                                let y = (oy * sh + i * dh) as isize - ph as isize;
                                let x = (ox * sw + j * dw) as isize - pw as isize;
                                if y < 0 || x < 0 || y >= g.h as isize || x >= g.w as isize {
                                    continue;
                                }
                                let ch = group * g.cg() + c;
                                let xi = ((n * g.c + ch) * g.h + y as usize) * g.w + x as usize;
                                f([n, o, oy, ox], [c, i, j], xi);
                            }
                        }
                    }
                }
            }
        }
    }
}

fn index(dims: [usize; 4], at: [usize; 4]) -> usize {
    ((at[0] * dims[1] + at[1]) * dims[2] + at[2]) * dims[3] + at[3]
}

fn assert_close(what: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (k, (a, b)) in got.iter().zip(want).enumerate() {
        assert!(
            (a - b).abs() <= 1e-12 * (1.0 + b.abs()),
            "{what}[{k}]: {a} vs {b}"
        );
    }
}

fn run(input: [usize; 4], weight: [usize; 4], p: Conv2dParams) {
    let g = Geom::new("test", input, &weight, &p).unwrap();
    let what = format!("input {input:?} weight {weight:?} {p:?}");
    let (xs, ws, bs) = (
        values(input.iter().product(), 1),
        values(weight.iter().product(), 2),
        values(g.o, 3),
    );
    let dys = values(g.output_dims().iter().product(), 4);
    let (mut out, mut dx, mut dw) = (
        vec![0.0; dys.len()],
        vec![0.0; xs.len()],
        vec![0.0; ws.len()],
    );
    for (n, o, oy, ox) in (0..g.n).flat_map(|n| {
        (0..g.o).flat_map(move |o| {
            (0..g.oh).flat_map(move |oy| (0..g.ow).map(move |ox| (n, o, oy, ox)))
        })
    }) {
        out[index(g.output_dims(), [n, o, oy, ox])] = bs[o];
    }
    direct(&g, |at, [c, i, j], xi| {
        let wi = index(g.weight_dims(), [at[1], c, i, j]);
        let oi = index(g.output_dims(), at);
        out[oi] += xs[xi] * ws[wi];
        dx[xi] += dys[oi] * ws[wi];
        dw[wi] += dys[oi] * xs[xi];
    });

    let (x, w, b, dy) = (
        from_vec(xs.clone()),
        from_vec(ws.clone()),
        from_vec(bs),
        from_vec(dys),
    );
    let (lx, lw, lb, ly) = (
        Layout::contiguous(input),
        Layout::contiguous(weight),
        Layout::contiguous([g.o]),
        Layout::contiguous(g.output_dims()),
    );
    let got = conv2d(
        View::new(&x, &lx),
        View::new(&w, &lw),
        Some(View::new(&b, &lb)),
        &p,
    )
    .unwrap();
    assert_close(
        &format!("conv2d {what}"),
        got.data::<f64>("t").unwrap(),
        &out,
    );
    let got = conv2d_backward_input(View::new(&dy, &ly), View::new(&w, &lw), input, &p).unwrap();
    assert_close(&format!("dx {what}"), got.data::<f64>("t").unwrap(), &dx);
    let got = conv2d_backward_weight(View::new(&dy, &ly), View::new(&x, &lx), weight, &p).unwrap();
    assert_close(&format!("dw {what}"), got.data::<f64>("t").unwrap(), &dw);

    // The same input read through a transposed (non-contiguous) view: [N, C, W, H] storage.
    let mut xt = vec![0.0; xs.len()];
    let [_, c, h, wd] = input;
    for (k, v) in xs.iter().enumerate() {
        let (ni, ci, yi, xi) = (k / (c * h * wd), k / (h * wd) % c, k / wd % h, k % wd);
        xt[((ni * c + ci) * wd + xi) * h + yi] = *v;
    }
    let xt = from_vec(xt);
    let lt = Layout::new(input, vec![c * h * wd, h * wd, 1, h], 0).unwrap();
    let got = conv2d(
        View::new(&xt, &lt),
        View::new(&w, &lw),
        Some(View::new(&b, &lb)),
        &p,
    )
    .unwrap();
    assert_close(
        &format!("conv2d of a transpose {what}"),
        got.data::<f64>("t").unwrap(),
        &out,
    );
}

const fn params(stride: usize, padding: usize, dilation: usize, groups: usize) -> Conv2dParams {
    Conv2dParams {
        stride: [stride, stride],
        padding: [padding, padding],
        dilation: [dilation, dilation],
        groups,
    }
}

#[test]
fn kernels_match_the_direct_convolution() {
    run([2, 3, 7, 6], [4, 3, 3, 3], params(1, 1, 1, 1));
    run([2, 4, 9, 8], [6, 2, 3, 2], params(2, 1, 1, 2));
    run([1, 3, 10, 9], [2, 3, 3, 3], params(3, 2, 2, 1));
    run([3, 4, 5, 5], [4, 1, 3, 3], params(1, 1, 1, 4)); // depthwise
    run([2, 5, 4, 6], [7, 5, 1, 1], params(1, 0, 1, 1)); // pointwise
    run([2, 5, 7, 7], [3, 5, 1, 1], params(2, 0, 1, 1)); // 1x1 stride 2
    run([1, 2, 3, 3], [2, 2, 3, 3], params(1, 0, 1, 1)); // 1x1 output
    let asym = Conv2dParams {
        stride: [2, 1],
        padding: [0, 2],
        dilation: [1, 3],
        groups: 1,
    };
    run([2, 2, 8, 5], [3, 2, 2, 3], asym);
}

#[test]
fn large_enough_to_run_in_parallel() {
    // Over PAR_MACS: the parallel paths (items across threads).
    run([4, 8, 20, 20], [16, 8, 3, 3], params(1, 1, 1, 1));
    run([4, 16, 24, 24], [16, 16, 1, 1], params(1, 0, 1, 1));
    run([1, 16, 30, 30], [32, 16, 3, 3], params(1, 1, 1, 1)); // one item: threaded GEMM
    // Few positions per item: 4 items per product (64 positions each), the last part of 2.
    run([18, 16, 8, 8], [32, 16, 3, 3], params(1, 1, 1, 1));
    run([9, 32, 3, 3], [16, 32, 1, 1], params(2, 0, 1, 1)); // 1x1 stride 2, 4 positions
}

#[test]
fn one_folded_product_with_its_copies_on_all_threads() {
    // The whole batch folds into a single product, which then runs on every thread, and so do
    // the im2col, col2im, gathers and scatters around it (`copies_in_parallel`). Three
    // threads whatever this machine has, so that the blocks split unevenly.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap();
    pool.install(|| {
        run([8, 64, 4, 4], [64, 64, 3, 3], params(1, 1, 1, 1)); // 16 positions, 8 items
        run([32, 64, 4, 4], [128, 64, 3, 3], params(2, 1, 1, 1)); // 4 positions, 32 items
        run([12, 96, 3, 3], [48, 96, 3, 3], params(1, 0, 1, 1)); // 1 position, no padding
        run([32, 64, 1, 1], [64, 64, 3, 3], params(1, 1, 1, 1)); // 1x1 planes: centre tap
    });
}

/// Input dims, weight dims, parameters, and the live taps (rows, columns).
type CropCase = (
    [usize; 4],
    [usize; 4],
    Conv2dParams,
    [std::ops::Range<usize>; 2],
);

/// Kernels that hang over the padding at every output position, so that some of their taps
/// are cropped (`crop.rs`; batches large enough for the crop to pay off), and the crop.
const CROPPED: [CropCase; 5] = [
    // 1x1 planes, 3x3 "same": the centre tap only.
    (
        [32, 8, 1, 1],
        [6, 8, 3, 3],
        params(1, 1, 1, 1),
        [1..2, 1..2],
    ),
    // 2x2 -> 1x1, 3x3 stride 2: the lower-right four taps.
    (
        [48, 5, 2, 2],
        [4, 5, 3, 3],
        params(2, 1, 1, 1),
        [1..3, 1..3],
    ),
    // Dilation 2 on 2x2 planes: the centre tap, padding 2 -> 0.
    ([8, 3, 2, 2], [4, 3, 3, 3], params(1, 2, 2, 1), [1..2, 1..2]),
    // Groups, and a 5x5 kernel over 2x2 planes with padding 2: the middle 3x3 taps.
    (
        [32, 4, 1, 1],
        [6, 2, 3, 3],
        params(1, 1, 1, 2),
        [1..2, 1..2],
    ),
    (
        [10, 3, 2, 2],
        [5, 3, 5, 5],
        params(1, 2, 1, 1),
        [1..4, 1..4],
    ),
];

#[test]
fn taps_over_padding_only_are_cropped() {
    for (input, weight, p, [rows, cols]) in CROPPED {
        let g = Geom::new("test", input, &weight, &p).unwrap();
        let (live, crop) = g.cropped().expect("a crop");
        assert_eq!((crop.rows.clone(), crop.cols.clone()), (rows, cols));
        assert_eq!((live.kh, live.kw), (crop.rows.len(), crop.cols.len()));
        assert!(
            live.cropped().is_none(),
            "cropped twice: {input:?} {weight:?}"
        );
        assert!(g.crop_saves_enough(&live), "{input:?} {weight:?}");
        run(input, weight, p);
    }
    // A batch too small for the copy of the live taps to pay off.
    let g = Geom::new("test", [4, 8, 1, 1], &[6, 8, 3, 3], &params(1, 1, 1, 1)).unwrap();
    assert!(g.cropped().is_some() && g.cropped_if_faster().is_none());
    // Every tap reads the input somewhere: nothing to crop.
    let g = Geom::new("test", [1, 2, 2, 2], &[3, 2, 3, 3], &params(1, 1, 1, 1)).unwrap();
    assert!(g.cropped().is_none());
    // Asymmetric: rows cropped (1-row planes), columns not.
    let p = Conv2dParams {
        stride: [1, 1],
        padding: [1, 2],
        dilation: [1, 1],
        groups: 1,
    };
    let g = Geom::new("test", [6, 3, 1, 6], &[4, 3, 3, 5], &p).unwrap();
    let (_, crop) = g.cropped_if_faster().expect("a crop");
    assert_eq!((crop.rows, crop.cols), (1..2, 0..5));
    run([6, 3, 1, 6], [4, 3, 3, 5], p);
}

#[test]
fn weight_gradient_is_reproducible() {
    let (input, weight, p) = ([6, 8, 24, 24], [16, 8, 3, 3], params(1, 1, 1, 1));
    let dy = from_vec(
        values(6 * 16 * 24 * 24, 5)
            .into_iter()
            .map(|v| v as f32)
            .collect(),
    );
    let x = from_vec(
        values(6 * 8 * 24 * 24, 6)
            .into_iter()
            .map(|v| v as f32)
            .collect(),
    );
    let (ly, lx) = (
        Layout::contiguous([6, 16, 24, 24]),
        Layout::contiguous(input),
    );
    let grad = || {
        conv2d_backward_weight(View::new(&dy, &ly), View::new(&x, &lx), weight, &p)
            .unwrap()
            .data::<f32>("t")
            .unwrap()
            .to_vec()
    };
    let first = grad();
    for _ in 0..3 {
        assert_eq!(grad(), first, "run to run");
    }
}

#[test]
fn half_precision_computes_in_f32() {
    let (input, weight, p) = ([1, 2, 5, 5], [3, 2, 3, 3], params(1, 1, 1, 1));
    let xs: Vec<f16> = values(50, 7).into_iter().map(f16::from_f64).collect();
    let ws: Vec<f16> = values(54, 8).into_iter().map(f16::from_f64).collect();
    let want = {
        let x = from_vec(xs.iter().map(|v| v.to_f32()).collect::<Vec<f32>>());
        let w = from_vec(ws.iter().map(|v| v.to_f32()).collect::<Vec<f32>>());
        let out = conv2d(
            View::new(&x, &Layout::contiguous(input)),
            View::new(&w, &Layout::contiguous(weight)),
            None,
            &p,
        )
        .unwrap();
        out.data::<f32>("t")
            .unwrap()
            .iter()
            .map(|&v| f16::from_f32(v))
            .collect::<Vec<f16>>()
    };
    let (x, w) = (from_vec(xs), from_vec(ws));
    let got = conv2d(
        View::new(&x, &Layout::contiguous(input)),
        View::new(&w, &Layout::contiguous(weight)),
        None,
        &p,
    )
    .unwrap();
    assert_eq!(got.data::<f16>("t").unwrap(), &want[..]);
}

#[test]
fn bad_geometry_and_dtypes_are_errors() {
    let x = from_vec(vec![0.0f32; 2 * 3 * 4 * 4]);
    let lx = Layout::contiguous([2, 3, 4, 4]);
    let w = from_vec(vec![0.0f32; 4 * 3 * 5 * 5]);
    let lw = Layout::contiguous([4, 3, 5, 5]);
    let err = conv2d(
        View::new(&x, &lx),
        View::new(&w, &lw),
        None,
        &params(1, 0, 1, 1),
    );
    assert!(err.unwrap_err().to_string().contains("does not fit"));
    let err = conv2d(
        View::new(&x, &lx),
        View::new(&w, &lw),
        None,
        &params(1, 1, 1, 2),
    );
    assert!(err.unwrap_err().to_string().contains("groups"));
    let i = from_vec(vec![0i64; 2 * 3 * 4 * 4]);
    let err = conv2d(
        View::new(&i, &lx),
        View::new(&i, &lx),
        None,
        &params(1, 1, 1, 1),
    );
    assert!(matches!(err, Err(Error::Unsupported { .. })));
    let err = conv2d(
        View::new(&x, &lx),
        View::new(&i, &lw),
        None,
        &params(1, 1, 1, 1),
    );
    assert!(matches!(err, Err(Error::DType { .. })));
}

/// The `f32` forward (the packed kernels on AVX2 + FMA) against the `f64` direct convolution,
/// within `f32` rounding of the sum of `|x * w|`: full and edge tiles (channels not a multiple
/// of 6, positions not a multiple of 16), several tap blocks (K > 256), groups, strides,
/// dilation, padding, with and without bias, and sizes that run in parallel.
#[test]
fn f32_forward_matches_the_direct_convolution() {
    let cases = [
        ([1, 3, 7, 6], [4, 3, 3, 3], params(1, 1, 1, 1)),
        ([2, 4, 9, 8], [6, 2, 3, 2], params(2, 1, 1, 2)),
        ([1, 3, 10, 9], [2, 3, 3, 3], params(3, 2, 2, 1)),
        ([3, 4, 5, 5], [4, 1, 3, 3], params(1, 1, 1, 4)),
        ([1, 5, 4, 6], [7, 5, 1, 1], params(1, 0, 1, 1)),
        ([1, 40, 17, 19], [13, 40, 3, 3], params(1, 1, 1, 1)), // K = 360: two tap blocks
        ([2, 3, 40, 38], [8, 3, 7, 7], params(2, 3, 1, 1)),    // stem-like, parallel
        ([2, 16, 20, 20], [32, 16, 3, 3], params(1, 1, 1, 1)), // > 256 positions, parallel
        ([1, 4, 10, 34], [6, 4, 3, 3], params(1, 0, 1, 1)),    // rows of 32: plain copies
        ([1, 3, 20, 66], [5, 3, 3, 3], params(2, 0, 1, 1)),    // rows of 32, stride 2
        // Strips across items: 25 positions per item, two tap blocks; rows of 19, stride 2.
        ([5, 30, 5, 5], [9, 30, 3, 3], params(1, 1, 1, 1)),
        ([4, 3, 9, 40], [5, 3, 3, 3], params(2, 0, 1, 1)),
        // Padded, dilated, stride 1: masked runs across rows and items (planes of 9x11).
        ([3, 3, 9, 11], [4, 3, 3, 3], params(1, 2, 2, 1)),
        // Cropped kernels (taps over padding only): 1x1 planes, 2x2 -> 1x1 with stride 2.
        ([32, 20, 1, 1], [12, 20, 3, 3], params(1, 1, 1, 1)),
        ([48, 20, 2, 2], [12, 20, 3, 3], params(2, 1, 1, 1)),
    ];
    for (input, weight, p) in cases {
        let g = Geom::new("test", input, &weight, &p).unwrap();
        let (xs, ws, bs) = (
            values(input.iter().product(), 11),
            values(weight.iter().product(), 12),
            values(g.o, 13),
        );
        for with_bias in [false, true] {
            let mut want = vec![0.0; g.output_dims().iter().product()];
            let mut scale = vec![0.0; want.len()];
            direct(&g, |at, [c, i, j], xi| {
                let (x, w) = (
                    xs[xi] as f32 as f64,
                    ws[index(g.weight_dims(), [at[1], c, i, j])] as f32 as f64,
                );
                let oi = index(g.output_dims(), at);
                want[oi] += x * w;
                scale[oi] += (x * w).abs();
            });
            let f32s = |v: &[f64]| from_vec(v.iter().map(|&v| v as f32).collect::<Vec<f32>>());
            let (x, w, b) = (f32s(&xs), f32s(&ws), f32s(&bs));
            let lb = Layout::contiguous([g.o]);
            let got = conv2d(
                View::new(&x, &Layout::contiguous(input)),
                View::new(&w, &Layout::contiguous(weight)),
                with_bias.then(|| View::new(&b, &lb)),
                &p,
            )
            .unwrap();
            let mut results = vec![got.data::<f32>("t").unwrap().to_vec()];
            // The packed kernels themselves, whatever path `conv2d` chose on this machine.
            if packed::available(&g) {
                let (x, w, b) = (
                    x.data::<f32>("t").unwrap(),
                    w.data::<f32>("t").unwrap(),
                    b.data::<f32>("t").unwrap(),
                );
                let mut out = vec![f32::NAN; want.len()];
                packed::forward(&g, x, w, with_bias.then_some(b), &mut out).unwrap();
                results.push(out);
            }
            for got in &results {
                for (k, (&v, (&want, &scale))) in
                    got.iter().zip(want.iter().zip(&scale)).enumerate()
                {
                    let o = k / g.positions() % g.o;
                    let bias = if with_bias { bs[o] as f32 as f64 } else { 0.0 };
                    let tol =
                        4.0 * f32::EPSILON as f64 * (scale + bias.abs()) * (g.taps() as f64).sqrt();
                    assert!(
                        (v as f64 - (want + bias)).abs() <= tol + 1e-30,
                        "input {input:?} weight {weight:?} {p:?} bias {with_bias} [{k}]: {v} vs {}",
                        want + bias
                    );
                }
            }
        }
    }
}

/// The `f32` input gradient (the packed kernels with col2im in their epilogue, on AVX2 + FMA)
/// against the `f64` direct convolution, within `f32` rounding of the sum of `|dy * w|`.
#[test]
fn f32_input_gradient_matches_the_direct_convolution() {
    let cases = [
        ([2, 3, 7, 6], [4, 3, 3, 3], params(1, 1, 1, 1)),
        ([2, 4, 9, 8], [6, 2, 3, 2], params(2, 1, 1, 2)),
        ([2, 3, 10, 9], [2, 3, 3, 3], params(3, 2, 2, 1)),
        ([3, 4, 5, 5], [4, 1, 3, 3], params(1, 1, 1, 4)),
        ([2, 5, 4, 6], [7, 5, 1, 1], params(1, 0, 1, 1)),
        ([2, 40, 17, 19], [13, 40, 3, 3], params(1, 1, 1, 1)),
        ([2, 3, 40, 38], [8, 3, 7, 7], params(2, 3, 1, 1)),
        ([4, 16, 20, 20], [32, 16, 3, 3], params(1, 1, 1, 1)),
        ([2, 4, 10, 34], [6, 4, 3, 3], params(1, 0, 1, 1)),
        ([2, 3, 20, 66], [5, 3, 3, 3], params(2, 0, 1, 1)),
        ([2, 8, 12, 12], [300, 8, 3, 3], params(1, 1, 1, 1)), // many output channels
        // Several items per task (small planes), strips across items.
        ([8, 6, 5, 5], [7, 6, 3, 3], params(1, 1, 1, 1)),
        ([6, 4, 7, 7], [260, 4, 3, 3], params(1, 1, 1, 1)),
        // Cropped kernels (taps over padding only).
        ([32, 20, 1, 1], [12, 20, 3, 3], params(1, 1, 1, 1)),
        ([48, 20, 2, 2], [12, 20, 3, 3], params(2, 1, 1, 1)),
    ];
    for (input, weight, p) in cases {
        let g = Geom::new("test", input, &weight, &p).unwrap();
        let (dys, ws) = (
            values(g.output_dims().iter().product(), 21),
            values(weight.iter().product(), 22),
        );
        let mut want = vec![0.0; input.iter().product()];
        let mut scale = vec![0.0; want.len()];
        direct(&g, |at, [c, i, j], xi| {
            let dy = dys[index(g.output_dims(), at)] as f32 as f64;
            let w = ws[index(g.weight_dims(), [at[1], c, i, j])] as f32 as f64;
            want[xi] += dy * w;
            scale[xi] += (dy * w).abs();
        });
        let f32s = |v: &[f64]| from_vec(v.iter().map(|&v| v as f32).collect::<Vec<f32>>());
        let (dy, w) = (f32s(&dys), f32s(&ws));
        let got = conv2d_backward_input(
            View::new(&dy, &Layout::contiguous(g.output_dims())),
            View::new(&w, &Layout::contiguous(weight)),
            input,
            &p,
        )
        .unwrap();
        let mut results = vec![got.data::<f32>("t").unwrap().to_vec()];
        // The packed kernels themselves, whatever path the op chose on this machine.
        if packed::available(&g) {
            let (dy, w) = (dy.data::<f32>("t").unwrap(), w.data::<f32>("t").unwrap());
            let mut dx = vec![f32::NAN; want.len()];
            packed::backward_input(&g, dy, w, &mut dx).unwrap();
            results.push(dx);
        }
        for got in &results {
            let reach = (g.o * g.kh * g.kw) as f64;
            for (k, (&v, (&want, &scale))) in got.iter().zip(want.iter().zip(&scale)).enumerate() {
                let tol = 4.0 * f32::EPSILON as f64 * scale * reach.sqrt();
                assert!(
                    (v as f64 - want).abs() <= tol + 1e-30,
                    "input {input:?} weight {weight:?} {p:?} [{k}]: {v} vs {want}"
                );
            }
        }
    }
}

/// The Winograd F(2x2, 3x3) forward and input gradient against the `f64` direct convolution:
/// odd and even planes (edge tiles cut short), padding 0, 1 and 2, channels not a multiple of
/// the micro-tile's six and more than one block of 128, tiles across items, bias, and sizes
/// that run in parallel on several strips per task. Within the direct kernels' bound: the
/// transforms add at most four terms each way (measured: at most 0.14 of the bound).
#[test]
fn winograd_matches_the_direct_convolution() {
    let cases = [
        ([1, 16, 6, 6], [16, 16, 3, 3], params(1, 1, 1, 1)),
        ([2, 17, 9, 7], [19, 17, 3, 3], params(1, 1, 1, 1)),
        ([3, 20, 5, 8], [22, 20, 3, 3], params(1, 0, 1, 1)),
        ([2, 18, 7, 9], [16, 18, 3, 3], params(1, 2, 1, 1)),
        ([2, 130, 6, 5], [20, 130, 3, 3], params(1, 1, 1, 1)), // two channel blocks
        ([4, 24, 20, 22], [40, 24, 3, 3], params(1, 1, 1, 1)), // parallel, many strips
        ([2, 16, 17, 19], [16, 16, 3, 3], params(1, 1, 1, 1)), // rows of 8 tiles, odd plane
        ([8, 32, 7, 7], [140, 32, 3, 3], params(1, 1, 1, 1)),  // tiles across items
        ([4, 200, 8, 8], [180, 200, 3, 3], params(1, 1, 1, 1)), // U past L2: 4 strips a task
    ];
    for (input, weight, p) in cases {
        let g = Geom::new("test", input, &weight, &p).unwrap();
        if !winograd::applies(&g) {
            eprintln!("skipping the Winograd kernels: this CPU lacks AVX2 + FMA");
            return;
        }
        let (xs, ws, bs, dys) = (
            values(input.iter().product(), 31),
            values(weight.iter().product(), 32),
            values(g.o, 33),
            values(g.output_dims().iter().product(), 34),
        );
        let f32s = |v: &[f64]| v.iter().map(|&v| v as f32).collect::<Vec<f32>>();
        let (x, w, b, dy) = (f32s(&xs), f32s(&ws), f32s(&bs), f32s(&dys));
        let (mut want_y, mut scale_y) = (vec![0.0; dys.len()], vec![0.0; dys.len()]);
        let (mut want_dx, mut scale_dx) = (vec![0.0; xs.len()], vec![0.0; xs.len()]);
        direct(&g, |at, [c, i, j], xi| {
            let (xv, wv) = (
                x[xi] as f64,
                w[index(g.weight_dims(), [at[1], c, i, j])] as f64,
            );
            let oi = index(g.output_dims(), at);
            want_y[oi] += xv * wv;
            scale_y[oi] += (xv * wv).abs();
            want_dx[xi] += dy[oi] as f64 * wv;
            scale_dx[xi] += (dy[oi] as f64 * wv).abs();
        });
        let mut y = vec![f32::NAN; dys.len()];
        winograd::forward(&g, &x, &w, Some(&b), &mut y).unwrap();
        let mut dx = vec![f32::NAN; xs.len()];
        assert!(winograd::transposed(&g).is_some_and(|t| winograd::applies(&t)));
        winograd::backward_input(&g, &dy, &w, &mut dx).unwrap();
        let check = |what: &str,
                     got: &[f32],
                     want: &[f64],
                     scale: &[f64],
                     k: f64,
                     bias: &dyn Fn(usize) -> f64| {
            for (e, (&v, (&want, &scale))) in got.iter().zip(want.iter().zip(scale)).enumerate() {
                let want = want + bias(e);
                let tol = 4.0 * f32::EPSILON as f64 * (scale + bias(e).abs()) * k.sqrt();
                assert!(
                    (v as f64 - want).abs() <= tol + 1e-30,
                    "{what} input {input:?} weight {weight:?} {p:?} [{e}]: {v} vs {want}"
                );
            }
        };
        let bias_of = |e: usize| b[e / g.positions() % g.o] as f64;
        check("forward", &y, &want_y, &scale_y, g.taps() as f64, &bias_of);
        check(
            "input gradient",
            &dx,
            &want_dx,
            &scale_dx,
            (g.o * 9) as f64,
            &|_| 0.0,
        );
    }
}
