//! The two building blocks of convolution by matrix products: `im2col` (lay the input pixels
//! each output position sees out as the columns of a matrix) and its adjoint `col2im` (add such
//! a matrix back onto the input), plus a bounds-checked call of the `gemm` crate.

use super::Geom;
use crate::num::Real;
use crate::strided::for_each_chunk;
use gemm::Parallelism;

/// The outputs `lo..hi` of one spatial dim whose input index `o * stride + shift - pad` lies
/// inside `0..input` (the others read padding).
pub(super) fn inside(
    outputs: usize,
    stride: usize,
    shift: usize,
    pad: usize,
    input: usize,
) -> (usize, usize) {
    // o * stride + shift >= pad  <=>  o >= ceil((pad - shift) / stride)
    let lo = pad.saturating_sub(shift).div_ceil(stride).min(outputs);
    // o * stride + shift - pad < input  <=>  o * stride < input + pad - shift
    let hi = (input + pad)
        .saturating_sub(shift)
        .div_ceil(stride)
        .min(outputs);
    (lo, hi.max(lo))
}

/// Outputs of at most this many positions (deep layers on small images: 8x8 down to 1x1) are
/// gathered through a table of source offsets: with rows that short, the row-by-row copies
/// below spend their time on bounds and padding arithmetic instead of copying.
const SMALL_OUTPUT: usize = 64;

/// A padding position in a [`gather_table`].
const PADDING: usize = usize::MAX;

/// For each tap `(i, j)` of a channel (row-major) and output position: the offset in the input
/// plane it reads, or [`PADDING`].
fn gather_table(g: &Geom) -> Vec<usize> {
    let [sh, sw] = g.p.stride;
    let [ph, pw] = g.p.padding;
    let [dh, dw] = g.p.dilation;
    let mut table = Vec::with_capacity(g.kh * g.kw * g.positions());
    for i in 0..g.kh {
        for j in 0..g.kw {
            for oy in 0..g.oh {
                let y = (oy * sh + i * dh).checked_sub(ph).filter(|&y| y < g.h);
                for ox in 0..g.ow {
                    let x = (ox * sw + j * dw).checked_sub(pw).filter(|&x| x < g.w);
                    table.push(match (y, x) {
                        (Some(y), Some(x)) => y * g.w + x,
                        _ => PADDING,
                    });
                }
            }
        }
    }
    table
}

/// The [`gather_table`] of a convolution whose output is small enough to use one.
fn small_output_table(g: &Geom) -> Option<Vec<usize>> {
    (g.positions() <= SMALL_OUTPUT).then(|| gather_table(g))
}

/// Fills `cols` (`[Cg * kh * kw, Ho * Wo]`, row-major) from one group's input plane stack
/// `x` (`[Cg, H, W]`, contiguous): row `(c, i, j)` holds, for every output position, the input
/// pixel that kernel tap `(i, j)` of channel `c` multiplies there, or zero in the padding.
pub(super) fn im2col<C: Real>(g: &Geom, x: &[C], cols: &mut [C]) {
    let table = small_output_table(g);
    im2col_planes(g, table.as_deref(), x, cols, g.positions());
}

/// [`im2col`] of items `first..first + items` of the batch `x` (`[N, C, H, W]`, groups of 1)
/// side by side: `cols` is `[K, items * L]`, item `b` in columns `b * L..(b + 1) * L`. With
/// `parallel`, the channels' row blocks are filled on all threads: this runs when the product
/// it feeds is the only one and takes every thread, and would otherwise run on one thread while
/// the others wait.
pub(super) fn im2col_folded<C: Real>(
    g: &Geom,
    x: &[C],
    first: usize,
    items: usize,
    cols: &mut [C],
    parallel: bool,
) {
    let (hw, l, taps) = (g.h * g.w, g.positions(), g.kh * g.kw);
    let width = items * l;
    let table = small_output_table(g);
    let channel_rows = |c: usize, rows: &mut [C]| {
        for b in 0..items {
            let plane = &x[((first + b) * g.c + c) * hw..][..hw];
            im2col_planes(g, table.as_deref(), plane, &mut rows[b * l..], width);
        }
    };
    let blocks = &mut cols[..g.c * taps * width];
    for_each_chunk(blocks, taps * width, parallel, channel_rows);
}

/// [`im2col`] of the planes `x` (`[channels, H, W]`) into rows `row_stride` elements apart,
/// through `table` when the output is small.
fn im2col_planes<C: Real>(
    g: &Geom,
    table: Option<&[usize]>,
    x: &[C],
    cols: &mut [C],
    row_stride: usize,
) {
    let (h, w, ow) = (g.h, g.w, g.ow);
    let (l, taps) = (g.positions(), g.kh * g.kw);
    if let Some(table) = table {
        for (c, plane) in x.chunks_exact(h * w).enumerate() {
            for (t, sources) in table.chunks_exact(l).enumerate() {
                let row = &mut cols[(c * taps + t) * row_stride..][..l];
                for (d, &s) in row.iter_mut().zip(sources) {
                    *d = if s == PADDING { C::ZERO } else { plane[s] };
                }
            }
        }
        return;
    }
    let [sh, sw] = g.p.stride;
    let [ph, pw] = g.p.padding;
    let [dh, dw] = g.p.dilation;
    let channels = x.len() / (h * w);
    let rows = cols.chunks_mut(row_stride).map(|row| &mut row[..l]);
    let taps =
        (0..channels).flat_map(|c| (0..g.kh).flat_map(move |i| (0..g.kw).map(move |j| (c, i, j))));
    for (row, (c, i, j)) in rows.zip(taps) {
        let plane = &x[c * h * w..(c + 1) * h * w];
        let (y_lo, y_hi) = inside(g.oh, sh, i * dh, ph, h);
        let (x_lo, x_hi) = inside(ow, sw, j * dw, pw, w);
        row[..y_lo * ow].fill(C::ZERO);
        row[y_hi * ow..].fill(C::ZERO);
        for oy in y_lo..y_hi {
            let src = &plane[(oy * sh + i * dh - ph) * w..][..w];
            let dst = &mut row[oy * ow..(oy + 1) * ow];
            dst[..x_lo].fill(C::ZERO);
            dst[x_hi..].fill(C::ZERO);
            let first = x_lo * sw + j * dw - pw;
            if sw == 1 {
                dst[x_lo..x_hi].copy_from_slice(&src[first..first + (x_hi - x_lo)]);
            } else {
                for (d, s) in dst[x_lo..x_hi]
                    .iter_mut()
                    .zip(src[first..].iter().step_by(sw))
                {
                    *d = *s;
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: adds every entry of `cols` onto the input pixel it was read from
/// (padding entries are dropped). `x` must be zeroed (or hold what the sums start from).
/// Taps are visited in a fixed order, so the sums are deterministic.
pub(super) fn col2im<C: Real>(g: &Geom, cols: &[C], x: &mut [C]) {
    let table = small_output_table(g);
    col2im_planes(g, table.as_deref(), cols, x, g.positions());
}

/// The adjoint of [`im2col_folded`]: overwrites `dx` (`[items, C, H, W]`) with the col2im of
/// each item's columns of `cols` (`[K, items * L]`), in parallel over the items when
/// `parallel`.
pub(super) fn col2im_folded<C: Real>(g: &Geom, cols: &[C], dx: &mut [C], parallel: bool) {
    let (l, x_item) = (g.positions(), g.c * g.h * g.w);
    let width = dx.len() / x_item * l;
    let table = small_output_table(g);
    let item = |b: usize, dx_b: &mut [C]| {
        dx_b.fill(C::ZERO);
        col2im_planes(g, table.as_deref(), &cols[b * l..], dx_b, width);
    };
    for_each_chunk(dx, x_item, parallel, item);
}

/// [`col2im`] onto the planes `x` (`[channels, H, W]`) from rows `row_stride` elements apart.
fn col2im_planes<C: Real>(
    g: &Geom,
    table: Option<&[usize]>,
    cols: &[C],
    x: &mut [C],
    row_stride: usize,
) {
    let (h, w, ow) = (g.h, g.w, g.ow);
    let (l, taps) = (g.positions(), g.kh * g.kw);
    if let Some(table) = table {
        // The same additions in the same order as below: taps in order, positions ascending.
        for (c, plane) in x.chunks_exact_mut(h * w).enumerate() {
            for (t, sources) in table.chunks_exact(l).enumerate() {
                let row = &cols[(c * taps + t) * row_stride..][..l];
                for (&v, &s) in row.iter().zip(sources) {
                    if s != PADDING {
                        plane[s] = plane[s] + v;
                    }
                }
            }
        }
        return;
    }
    let [sh, sw] = g.p.stride;
    let [ph, pw] = g.p.padding;
    let [dh, dw] = g.p.dilation;
    let channels = x.len() / (h * w);
    let rows = cols.chunks(row_stride).map(|row| &row[..l]);
    let taps =
        (0..channels).flat_map(|c| (0..g.kh).flat_map(move |i| (0..g.kw).map(move |j| (c, i, j))));
    for (row, (c, i, j)) in rows.zip(taps) {
        let plane = &mut x[c * h * w..(c + 1) * h * w];
        let (y_lo, y_hi) = inside(g.oh, sh, i * dh, ph, h);
        let (x_lo, x_hi) = inside(ow, sw, j * dw, pw, w);
        for oy in y_lo..y_hi {
            let dst = &mut plane[(oy * sh + i * dh - ph) * w..][..w];
            let src = &row[oy * ow + x_lo..oy * ow + x_hi];
            let first = x_lo * sw + j * dw - pw;
            if sw == 1 {
                for (d, &s) in dst[first..first + src.len()].iter_mut().zip(src) {
                    *d = *d + s;
                }
            } else {
                for (d, &s) in dst[first..].iter_mut().step_by(sw).zip(src) {
                    *d = *d + s;
                }
            }
        }
    }
}

/// A matrix inside a slice: element `(r, c)` is `data[r * rs + c * cs]`.
#[derive(Clone, Copy)]
pub(super) struct Mat<'a, C> {
    data: &'a [C],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a, C> Mat<'a, C> {
    /// `data` read as a row-major `[rows, cols]` matrix.
    pub(super) fn row_major(data: &'a [C], rows: usize, cols: usize) -> Self {
        Mat {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }

    /// The transpose of a row-major `[cols, rows]` matrix: `[rows, cols]` stored column-major.
    pub(super) fn transposed(data: &'a [C], rows: usize, cols: usize) -> Self {
        Mat {
            data,
            rows,
            cols,
            rs: 1,
            cs: rows,
        }
    }

    /// Whether every element lies inside `data` (what makes the `gemm` call sound).
    fn fits(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.rows - 1) * self.rs + (self.cols - 1) * self.cs < self.data.len()
    }
}

/// `dst = a @ b`, or `dst += a @ b` when `accumulate`, with `dst` a contiguous row-major
/// `[a.rows, b.cols]`. Panics on mismatched sizes: callers derive them from one checked
/// geometry, so a mismatch is a bug here, never a user error.
pub(super) fn gemm_into<C: Real>(
    dst: &mut [C],
    a: Mat<'_, C>,
    b: Mat<'_, C>,
    accumulate: bool,
    par: Parallelism,
) {
    assert!(
        a.cols == b.rows && dst.len() == a.rows * b.cols && a.fits() && b.fits(),
        "conv: internal GEMM size mismatch"
    );
    if dst.is_empty() {
        return;
    }
    if a.cols == 0 {
        if !accumulate {
            dst.fill(C::ZERO);
        }
        return;
    }
    let (alpha, beta) = (if accumulate { C::ONE } else { C::ZERO }, C::ONE);
    // SAFETY: `fits` checked that every element of `a` and `b` (at its row and column strides)
    // lies inside its slice, and `dst` holds exactly the `a.rows * b.cols` elements written at
    // row stride `b.cols`; `dst` is a unique borrow, so it aliases neither operand. `C` is `f32`
    // or `f64`, which `gemm` supports.
    unsafe {
        gemm::gemm(
            a.rows,
            b.cols,
            a.cols,
            dst.as_mut_ptr(),
            1,
            b.cols as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            alpha,
            beta,
            false,
            false,
            false,
            par,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_ranges_match_a_scan() {
        for outputs in 0..6 {
            for stride in 1..4 {
                for shift in 0..5 {
                    for pad in 0..4 {
                        for input in 0..7 {
                            let ok: Vec<usize> = (0..outputs)
                                .filter(|&o| {
                                    let i = (o * stride + shift) as isize - pad as isize;
                                    i >= 0 && (i as usize) < input
                                })
                                .collect();
                            let (lo, hi) = inside(outputs, stride, shift, pad, input);
                            assert_eq!(
                                (lo..hi).collect::<Vec<_>>(),
                                ok,
                                "{outputs} {stride} {shift} {pad} {input}"
                            );
                        }
                    }
                }
            }
        }
    }
}
