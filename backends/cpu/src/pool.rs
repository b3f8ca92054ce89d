//! Max, average and adaptive average pooling over the `H x W` planes of `[N, C, H, W]` views,
//! forward and backward.
//!
//! Every `(n, c)` plane is independent: planes run in parallel (rayon), each one on a single
//! thread, so the results do not depend on the number of threads. Inputs are read through their
//! layouts (NCHW, channels-last or any other strides); outputs are contiguous NCHW. The input
//! rows and columns each output position reads are computed once per dim ([`Window`]), clipped
//! exactly as PyTorch's CPU kernels clip them. Floats only; `f16` and `bf16` compute in `f32`.
//! A backward pass accumulates one plane at a time in a scratch plane of the compute type, in
//! output order, so overlapping windows always add up in the same order.

use crate::num::{FloatStore, Real, float_dispatch};
use crate::storage::{CpuStorage, alloc_typed};
use crate::strided::PAR_THRESHOLD;
use rayon::prelude::*;
use tiny_torch_core::{
    BackendStorage, Layout, Pool2dParams, Result, View, check_adaptive_avg_pool2d,
    check_adaptive_avg_pool2d_backward, check_max_pool2d_backward,
};

/// Where the planes of a 4-D view lie: plane `p = n * C + c` starts at [`Planes::base`], and
/// its element `(h, w)` is at [`Planes::at`].
#[derive(Clone, Copy, Debug)]
struct Planes {
    dims: [usize; 4],
    strides: [usize; 4],
    offset: usize,
}

impl Planes {
    /// The planes of a 4-D `layout` of `dims`, checked by the core crate's pooling checks
    /// (4-D, inside its storage).
    fn of(dims: [usize; 4], layout: &Layout) -> Self {
        Planes {
            dims,
            strides: std::array::from_fn(|d| layout.strides()[d]),
            offset: layout.offset(),
        }
    }

    fn count(&self) -> usize {
        self.dims[0] * self.dims[1]
    }

    fn base(&self, p: usize) -> usize {
        let c = self.dims[1];
        self.offset + (p / c) * self.strides[0] + (p % c) * self.strides[1]
    }

    #[inline(always)]
    fn at(&self, base: usize, h: usize, w: usize) -> usize {
        base + h * self.strides[2] + w * self.strides[3]
    }
}

/// The input positions one output position reads along one spatial dim: `start`, `start +
/// step`, ... below `end` (empty when `start >= end`), and the length of the window clipped to
/// the padded input, which `count_include_pad` divides by.
#[derive(Clone, Copy, Debug)]
struct Window {
    start: usize,
    end: usize,
    padded_len: usize,
}

impl Window {
    fn len(&self) -> usize {
        self.end.saturating_sub(self.start)
    }
}

/// Max pooling windows of one dim, as PyTorch's `max_pool2d_with_indices`: the dilated window
/// at `o * stride - pad`, cut at the input's end, its positions in the left padding skipped in
/// steps of the dilation (so that the positions read stay on the dilation grid).
fn max_windows(out: usize, input: usize, p: &Pool2dParams, dim: usize) -> Vec<Window> {
    let (k, s, pad, d) = (
        p.kernel[dim] as isize,
        p.stride[dim] as isize,
        p.padding[dim] as isize,
        p.dilation[dim] as isize,
    );
    (0..out as isize)
        .map(|o| {
            let mut start = o * s - pad;
            let end = (start + (k - 1) * d + 1).min(input as isize);
            while start < 0 {
                start += d;
            }
            Window {
                start: start as usize,
                end: end.max(start) as usize,
                padded_len: 0,
            }
        })
        .collect()
}

/// Average pooling windows of one dim, as PyTorch's `avg_pool2d`: the window at `o * stride -
/// pad` is first cut at the end of the right padding (this length is the `count_include_pad`
/// divisor: with `ceil_mode` a last window may reach past it), then clipped to the input.
fn avg_windows(out: usize, input: usize, p: &Pool2dParams, dim: usize) -> Vec<Window> {
    let (k, s, pad) = (
        p.kernel[dim] as isize,
        p.stride[dim] as isize,
        p.padding[dim] as isize,
    );
    let input = input as isize;
    (0..out as isize)
        .map(|o| {
            let start = o * s - pad;
            let end = (start + k).min(input + pad);
            let padded_len = (end - start) as usize;
            let (start, end) = (start.max(0), end.min(input));
            Window {
                start: start as usize,
                end: end.max(start) as usize,
                padded_len,
            }
        })
        .collect()
}

/// Adaptive pooling windows of one dim: `[floor(o * in / out), ceil((o + 1) * in / out))`.
fn adaptive_windows(out: usize, input: usize) -> Vec<Window> {
    (0..out)
        .map(|o| {
            let start = o * input / out;
            let end = ((o + 1) * input).div_ceil(out);
            Window {
                start,
                end,
                padded_len: end - start,
            }
        })
        .collect()
}

/// Fills the contiguous output `out` (`per` elements per plane) plane by plane, in parallel
/// unless `work` (elements read) is small.
fn par_planes<T: Send>(work: usize, out: &mut [T], per: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    if per == 0 {
        return;
    }
    if work < PAR_THRESHOLD {
        out.chunks_mut(per).enumerate().for_each(|(p, o)| f(p, o));
    } else {
        out.par_chunks_mut(per)
            .enumerate()
            .for_each(|(p, o)| f(p, o));
    }
}

/// A backward pass: a contiguous `[N, C, H, W]` gradient of `T`, each plane accumulated by
/// `f(plane, scratch)` into a zeroed scratch plane of the compute type, then stored.
fn backward_planes<T: FloatStore>(
    op: &'static str,
    input_dims: [usize; 4],
    work: usize,
    f: impl Fn(usize, &mut [T::C]) -> Result<()> + Sync,
) -> Result<CpuStorage> {
    let hw = input_dims[2] * input_dims[3];
    let total = input_dims.iter().product();
    let mut out = alloc_typed::<T>(total)?;
    if total == 0 {
        return Ok(out);
    }
    let o = out.data_mut::<T>(op)?;
    let zero = <T::C as Real>::ZERO;
    let plane = |scratch: &mut Vec<T::C>, (p, dst): (usize, &mut [T])| -> Result<()> {
        scratch.clear();
        scratch.resize(hw, zero);
        f(p, scratch)?;
        for (d, &s) in dst.iter_mut().zip(scratch.iter()) {
            *d = T::down(s);
        }
        Ok(())
    };
    if work + total < PAR_THRESHOLD {
        let mut scratch = Vec::new();
        o.chunks_mut(hw)
            .enumerate()
            .try_for_each(|item| plane(&mut scratch, item))?;
    } else {
        o.par_chunks_mut(hw)
            .enumerate()
            .try_for_each_init(Vec::new, plane)?;
    }
    Ok(out)
}

// ---------------------------------------------------------------- max pooling

/// `max_pool2d`: the values and the flat index of each maximum in its `H * W` plane.
pub(crate) fn max_pool2d(
    input: View<'_, CpuStorage>,
    params: &Pool2dParams,
) -> Result<(CpuStorage, CpuStorage)> {
    let op = "max_pool2d";
    let (dims, [oh, ow]) = params.check_max_pool2d(input)?;
    let src = Planes::of(dims, input.layout);
    let hwin = max_windows(oh, src.dims[2], params, 0);
    let wwin = max_windows(ow, src.dims[3], params, 1);
    let data = input.storage;
    // ResNet's and the MNIST CNN's pooling: 2x2 windows, stride 2, all inside the input.
    let two_by_two = params.kernel == [2, 2]
        && params.stride == [2, 2]
        && params.padding == [0, 0]
        && params.dilation == [1, 1]
        && src.strides[3] == 1
        && 2 * oh <= src.dims[2]
        && 2 * ow <= src.dims[3];
    float_dispatch!(data.dtype(), op, T => {
        if two_by_two {
            max_pool_2x2::<T>(data.data::<T>(op)?, &src, [oh, ow])
        } else {
            max_pool_typed::<T>(data.data::<T>(op)?, &src, &hwin, &wwin, params.dilation)
        }
    })
}

/// `max_pool2d` with 2x2 windows at stride 2 that all lie inside the input, on rows of unit
/// stride: each output reads two pairs of adjacent elements, so it is computed straight from
/// the two input rows, with PyTorch's choice of index (the first maximum in scan order, or the
/// last NaN).
fn max_pool_2x2<T: FloatStore>(
    data: &[T],
    src: &Planes,
    [oh, ow]: [usize; 2],
) -> Result<(CpuStorage, CpuStorage)> {
    let op = "max_pool2d";
    let per = oh * ow;
    let total = src.count() * per;
    let mut values = alloc_typed::<T>(total)?;
    let mut indices = alloc_typed::<i64>(total)?;
    if total == 0 {
        return Ok((values, indices));
    }
    let width = src.dims[3];
    let plane = |p: usize, (out, idx): (&mut [T], &mut [i64])| {
        let base = src.base(p);
        for r in 0..oh {
            let top = base + 2 * r * src.strides[2];
            let (row0, row1) = (
                &data[top..top + 2 * ow],
                &data[top + src.strides[2]..top + src.strides[2] + 2 * ow],
            );
            let (out_row, idx_row) = (
                &mut out[r * ow..(r + 1) * ow],
                &mut idx[r * ow..(r + 1) * ow],
            );
            let first = 2 * r * width;
            for (o, ((pair0, pair1), (v_out, i_out))) in row0
                .chunks_exact(2)
                .zip(row1.chunks_exact(2))
                .zip(out_row.iter_mut().zip(idx_row.iter_mut()))
                .enumerate()
            {
                let at0 = first + 2 * o;
                let [a, b] = [pair0[0].up(), pair0[1].up()];
                let [c, d] = [pair1[0].up(), pair1[1].up()];
                // Branch-free (selects): on random data a running `v > best` test mispredicts
                // about every other element. The maximum, then its first position by a
                // backward scan; NaN (rare, so a predictable branch) takes the last NaN.
                let max2 = |x: T::C, y: T::C| if y > x { y } else { x };
                let mut best = max2(max2(a, b), max2(c, d));
                let mut at = at0 + width + 1;
                at = if c == best { at0 + width } else { at };
                at = if b == best { at0 + 1 } else { at };
                at = if a == best { at0 } else { at };
                if a.is_nan() || b.is_nan() || c.is_nan() || d.is_nan() {
                    best = <T::C as Real>::of(f64::NAN);
                    at = [
                        (d, at0 + width + 1),
                        (c, at0 + width),
                        (b, at0 + 1),
                        (a, at0),
                    ]
                    .into_iter()
                    .find(|(v, _)| v.is_nan())
                    .map_or(at, |(_, i)| i);
                }
                *v_out = T::down(best);
                *i_out = at as i64;
            }
        }
    };
    let out = values.data_mut::<T>(op)?;
    let idx = indices.data_mut::<i64>(op)?;
    if 4 * total < PAR_THRESHOLD {
        out.chunks_mut(per)
            .zip(idx.chunks_mut(per))
            .enumerate()
            .for_each(|(p, pair)| plane(p, pair));
    } else {
        out.par_chunks_mut(per)
            .zip(idx.par_chunks_mut(per))
            .enumerate()
            .for_each(|(p, pair)| plane(p, pair));
    }
    Ok((values, indices))
}

/// Calls `f(value, flat index in the plane)` on each input element of the window `(h, w)` of
/// the plane at `base`, in window order (row by row) or in reverse.
#[inline(always)]
fn visit_window<T: FloatStore>(
    data: &[T],
    src: &Planes,
    base: usize,
    (h, w): (&Window, &Window),
    dilation: [usize; 2],
    reverse: bool,
    mut f: impl FnMut(T::C, usize),
) {
    let width = src.dims[3];
    // Adjacent columns (no dilation along W, unit W stride: NCHW) are read as one slice per row,
    // without index arithmetic or bounds checks per element.
    let slices = dilation[1] == 1 && src.strides[3] == 1;
    let mut row = |ih: usize| {
        if slices {
            let start = base + ih * src.strides[2];
            let cols = data[start + w.start..start + w.end].iter().enumerate();
            let at = ih * width + w.start;
            if reverse {
                cols.rev().for_each(|(j, &x)| f(x.up(), at + j));
            } else {
                cols.for_each(|(j, &x)| f(x.up(), at + j));
            }
        } else {
            let cols = (w.start..w.end).step_by(dilation[1]);
            let read = |iw: usize| (data[src.at(base, ih, iw)].up(), ih * width + iw);
            if reverse {
                cols.rev().map(read).for_each(|(v, i)| f(v, i));
            } else {
                cols.map(read).for_each(|(v, i)| f(v, i));
            }
        }
    };
    let rows = (h.start..h.end).step_by(dilation[0]);
    if reverse {
        rows.rev().for_each(&mut row);
    } else {
        rows.for_each(&mut row);
    }
}

fn max_pool_typed<T: FloatStore>(
    data: &[T],
    src: &Planes,
    hwin: &[Window],
    wwin: &[Window],
    dilation: [usize; 2],
) -> Result<(CpuStorage, CpuStorage)> {
    let op = "max_pool2d";
    let (ow, per) = (wwin.len(), hwin.len() * wwin.len());
    let total = src.count() * per;
    let mut values = alloc_typed::<T>(total)?;
    let mut indices = alloc_typed::<i64>(total)?;
    if total == 0 {
        return Ok((values, indices));
    }
    let width = src.dims[3];
    let nan = <T::C as Real>::of(f64::NAN);
    // Two passes over each (small, cached) window, both free of data-dependent branches: a
    // running `v > best` test with the index alongside mispredicts about twice per window on
    // random data, which costs more than reading the window twice.
    let plane = |p: usize, (out, idx): (&mut [T], &mut [i64])| {
        let base = src.base(p);
        for (oh, h) in hwin.iter().enumerate() {
            for (o, w) in wwin.iter().enumerate() {
                let window = (h, w);
                // The maximum; NaN (which comparisons skip) is noted apart.
                let mut best = -<T::C as Real>::INFINITY;
                let mut any_nan = false;
                visit_window(data, src, base, window, dilation, false, |v, _| {
                    best = if v > best { v } else { best };
                    any_nan |= v.is_nan();
                });
                // PyTorch's index (its loop replaces on `v > best || v is NaN`): the last NaN,
                // else the first maximum in window order, found scanning backwards. A window
                // of -inf keeps its first element, as PyTorch's initial index.
                let mut at = h.start * width + w.start;
                if any_nan {
                    best = nan;
                    visit_window(data, src, base, window, dilation, false, |v, i| {
                        at = if v.is_nan() { i } else { at }
                    });
                } else {
                    visit_window(data, src, base, window, dilation, true, |v, i| {
                        at = if v == best { i } else { at }
                    });
                }
                out[oh * ow + o] = T::down(best);
                idx[oh * ow + o] = at as i64;
            }
        }
    };
    let out = values.data_mut::<T>(op)?;
    let idx = indices.data_mut::<i64>(op)?;
    let chunks = out.chunks_mut(per).zip(idx.chunks_mut(per));
    if total * hwin[0].len().max(1) * wwin[0].len().max(1) < PAR_THRESHOLD {
        chunks.enumerate().for_each(|(p, pair)| plane(p, pair));
    } else {
        out.par_chunks_mut(per)
            .zip(idx.par_chunks_mut(per))
            .enumerate()
            .for_each(|(p, pair)| plane(p, pair));
    }
    Ok((values, indices))
}

/// Adds each gradient to the element its window's maximum came from.
pub(crate) fn max_pool2d_backward(
    grad_output: View<'_, CpuStorage>,
    indices: View<'_, CpuStorage>,
    input_dims: [usize; 4],
) -> Result<CpuStorage> {
    let op = "max_pool2d_backward";
    let dims = check_max_pool2d_backward(grad_output, indices, input_dims)?;
    let g = Planes::of(dims, grad_output.layout);
    let ix = Planes::of(dims, indices.layout);
    let index = indices.storage.data::<i64>(op)?;
    let hw = input_dims[2] * input_dims[3];
    let [_, _, oh, ow] = g.dims;
    let gs = grad_output.storage;
    float_dispatch!(gs.dtype(), op, T => {
        let grad = gs.data::<T>(op)?;
        backward_planes::<T>(op, input_dims, g.count() * oh * ow, |p, acc| {
            let (gb, ib) = (g.base(p), ix.base(p));
            for h in 0..oh {
                for w in 0..ow {
                    // An index outside the plane marks a window that covered only padding
                    // (its value is -inf; PyTorch records a position past the plane): no input
                    // element gets its gradient.
                    let i = index[ix.at(ib, h, w)];
                    if let Some(slot) = usize::try_from(i).ok().filter(|&i| i < hw) {
                        acc[slot] += grad[g.at(gb, h, w)].up();
                    }
                }
            }
            Ok(())
        })
    })
}

// ---------------------------------------------------------------- average pooling

/// The divisor of the window `(h, w)` (PyTorch's rules: `divisor_override`, else the padded
/// window with `count_include_pad`, else the elements inside the input).
fn avg_divisor(params: &Pool2dParams, h: &Window, w: &Window) -> usize {
    match params.divisor_override {
        Some(d) => d,
        None if params.count_include_pad => h.padded_len * w.padded_len,
        None => h.len() * w.len(),
    }
}

/// `avg_pool2d`.
pub(crate) fn avg_pool2d(input: View<'_, CpuStorage>, params: &Pool2dParams) -> Result<CpuStorage> {
    let op = "avg_pool2d";
    let (dims, [oh, ow]) = params.check_avg_pool2d(input)?;
    let src = Planes::of(dims, input.layout);
    let hwin = avg_windows(oh, src.dims[2], params, 0);
    let wwin = avg_windows(ow, src.dims[3], params, 1);
    let data = input.storage;
    float_dispatch!(data.dtype(), op, T => {
        mean_pool::<T>(op, data.data::<T>(op)?, &src, &hwin, &wwin, |h, w| {
            [avg_divisor(params, h, w) as f64, 1.0]
        })
    })
}

/// The gradient of `avg_pool2d`: each output's gradient, divided by its divisor, added to the
/// input elements of its window.
pub(crate) fn avg_pool2d_backward(
    grad_output: View<'_, CpuStorage>,
    input_dims: [usize; 4],
    params: &Pool2dParams,
) -> Result<CpuStorage> {
    let op = "avg_pool2d_backward";
    let dims = params.check_avg_pool2d_backward(grad_output, input_dims)?;
    let g = Planes::of(dims, grad_output.layout);
    let [_, _, oh, ow] = dims;
    let hwin = avg_windows(oh, input_dims[2], params, 0);
    let wwin = avg_windows(ow, input_dims[3], params, 1);
    let gs = grad_output.storage;
    float_dispatch!(gs.dtype(), op, T => {
        spread_pool::<T>(op, gs.data::<T>(op)?, &g, input_dims, &hwin, &wwin, |h, w| {
            [avg_divisor(params, h, w) as f64, 1.0]
        })
    })
}

/// `adaptive_avg_pool2d` to `[oh, ow]`.
pub(crate) fn adaptive_avg_pool2d(
    input: View<'_, CpuStorage>,
    output_size: [usize; 2],
) -> Result<CpuStorage> {
    let op = "adaptive_avg_pool2d";
    let src = Planes::of(check_adaptive_avg_pool2d(input, output_size)?, input.layout);
    let hwin = adaptive_windows(output_size[0], src.dims[2]);
    let wwin = adaptive_windows(output_size[1], src.dims[3]);
    let data = input.storage;
    float_dispatch!(data.dtype(), op, T => {
        // PyTorch divides by each window dim in turn.
        mean_pool::<T>(op, data.data::<T>(op)?, &src, &hwin, &wwin, |h, w| {
            [h.len() as f64, w.len() as f64]
        })
    })
}

/// The gradient of `adaptive_avg_pool2d`.
pub(crate) fn adaptive_avg_pool2d_backward(
    grad_output: View<'_, CpuStorage>,
    input_dims: [usize; 4],
) -> Result<CpuStorage> {
    let op = "adaptive_avg_pool2d_backward";
    let dims = check_adaptive_avg_pool2d_backward(grad_output, input_dims)?;
    let g = Planes::of(dims, grad_output.layout);
    let output_size = [dims[2], dims[3]];
    let hwin = adaptive_windows(output_size[0], input_dims[2]);
    let wwin = adaptive_windows(output_size[1], input_dims[3]);
    let gs = grad_output.storage;
    float_dispatch!(gs.dtype(), op, T => {
        spread_pool::<T>(op, gs.data::<T>(op)?, &g, input_dims, &hwin, &wwin, |h, w| {
            [h.len() as f64, w.len() as f64]
        })
    })
}

/// Divides `v` by both divisors in turn (a divisor of 1 changes nothing).
#[inline(always)]
fn divide<C: Real>(v: C, [a, b]: [f64; 2]) -> C {
    v / C::of(a) / C::of(b)
}

/// The mean-like pools: for each output, the sum of its window in the compute type divided by
/// `divisors(h, w)`; an empty window gives 0 (as PyTorch).
fn mean_pool<T: FloatStore>(
    op: &'static str,
    data: &[T],
    src: &Planes,
    hwin: &[Window],
    wwin: &[Window],
    divisors: impl Fn(&Window, &Window) -> [f64; 2] + Sync,
) -> Result<CpuStorage> {
    let (ow, per) = (wwin.len(), hwin.len() * wwin.len());
    let total = src.count() * per;
    let mut out = alloc_typed::<T>(total)?;
    let o = out.data_mut::<T>(op)?;
    let work = total * hwin.first().map_or(0, Window::len) * wwin.first().map_or(0, Window::len);
    par_planes(work, o, per, |p, dst| {
        let base = src.base(p);
        for (oh, h) in hwin.iter().enumerate() {
            for (j, w) in wwin.iter().enumerate() {
                let mut sum = <T::C as Real>::ZERO;
                for ih in h.start..h.end {
                    for iw in w.start..w.end {
                        sum = sum + data[src.at(base, ih, iw)].up();
                    }
                }
                let empty = h.len() == 0 || w.len() == 0;
                dst[oh * ow + j] = if empty {
                    T::down(<T::C as Real>::ZERO)
                } else {
                    T::down(divide(sum, divisors(h, w)))
                };
            }
        }
    });
    Ok(out)
}

/// The backward of the mean-like pools: each output's gradient, divided by `divisors(h, w)`,
/// added to every input element of its window.
fn spread_pool<T: FloatStore>(
    op: &'static str,
    grad: &[T],
    g: &Planes,
    input_dims: [usize; 4],
    hwin: &[Window],
    wwin: &[Window],
    divisors: impl Fn(&Window, &Window) -> [f64; 2] + Sync,
) -> Result<CpuStorage> {
    let work = g.count() * hwin.len() * wwin.len();
    backward_planes::<T>(op, input_dims, work, |p, acc| {
        let base = g.base(p);
        let width = input_dims[3];
        for (oh, h) in hwin.iter().enumerate() {
            for (ow, w) in wwin.iter().enumerate() {
                if h.len() == 0 || w.len() == 0 {
                    continue;
                }
                let delta = divide(grad[g.at(base, oh, ow)].up(), divisors(h, w));
                for ih in h.start..h.end {
                    for a in &mut acc[ih * width + w.start..ih * width + w.end] {
                        *a = *a + delta;
                    }
                }
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(k: usize, s: usize, p: usize, ceil_mode: bool) -> Pool2dParams {
        Pool2dParams {
            kernel: [k, k],
            stride: [s, s],
            padding: [p, p],
            dilation: [1, 1],
            ceil_mode,
            count_include_pad: true,
            divisor_override: None,
        }
    }

    #[test]
    fn avg_windows_clip_as_pytorch() {
        // in 5, k 3, s 2, p 1, ceil: outputs 3; the last window starts at 3 and is cut at
        // in + pad = 6, so it counts 3 padded positions but reads only 3..5.
        let p = params(3, 2, 1, true);
        let w = avg_windows(p.output_size(0, 5).unwrap(), 5, &p, 0);
        let got: Vec<_> = w.iter().map(|w| (w.start, w.end, w.padded_len)).collect();
        assert_eq!(got, [(0, 2, 3), (1, 4, 3), (3, 5, 3)]);
        // in 4, k 2, s 2, p 0, ceil on 5: last window starts at 4 and has one element.
        let p = params(2, 2, 0, true);
        let w = avg_windows(p.output_size(0, 5).unwrap(), 5, &p, 0);
        assert_eq!((w[2].start, w[2].end, w[2].padded_len), (4, 5, 1));
    }

    #[test]
    fn adaptive_windows_overlap_as_pytorch() {
        let w = adaptive_windows(3, 8);
        let got: Vec<_> = w.iter().map(|w| (w.start, w.end)).collect();
        assert_eq!(got, [(0, 3), (2, 6), (5, 8)]);
    }

    /// The 2x2 fast path against the general windows, on values with ties, NaN and -inf, on
    /// NCHW planes and on a channels-last view, odd sizes included (a last row and column that
    /// no window reads).
    #[test]
    fn two_by_two_path_matches_the_general_one() {
        let (n, c, h, w) = (2, 3, 7, 9);
        let specials = [f32::NAN, f32::NEG_INFINITY, 1.0, 1.0, -2.0];
        let values: Vec<f32> = (0..n * c * h * w)
            .map(|i| {
                if i % 7 == 3 {
                    specials[(i / 7) % 5]
                } else {
                    ((i * 37 % 11) as f32) - 5.0
                }
            })
            .collect();
        let storage = crate::storage::from_vec(values);
        let p = params(2, 2, 0, false);
        for strides in [vec![c * h * w, h * w, w, 1], vec![h * w * c, 1, w * c, c]] {
            let layout = Layout::new(vec![n, c, h, w], strides, 0).unwrap();
            let (dims, [oh, ow]) = p.check_max_pool2d(View::new(&storage, &layout)).unwrap();
            let src = Planes::of(dims, &layout);
            let general = max_pool_typed::<f32>(
                storage.data::<f32>("test").unwrap(),
                &src,
                &max_windows(oh, h, &p, 0),
                &max_windows(ow, w, &p, 1),
                [1, 1],
            )
            .unwrap();
            let (fast_v, fast_i) = max_pool2d(View::new(&storage, &layout), &p).unwrap();
            let bits = |s: &CpuStorage| {
                s.data::<f32>("t")
                    .unwrap()
                    .iter()
                    .map(|x| x.to_bits())
                    .collect::<Vec<_>>()
            };
            assert_eq!(bits(&fast_v), bits(&general.0));
            assert_eq!(
                fast_i.data::<i64>("t").unwrap(),
                general.1.data::<i64>("t").unwrap()
            );
        }
    }

    #[test]
    fn max_windows_skip_padding_on_the_dilation_grid() {
        let mut p = params(3, 1, 1, false);
        p.dilation = [2, 2];
        // in 5: span 5, out 3; window 0 starts at -1 -> 1 (step 2), reads 1, 3.
        let w = max_windows(p.output_size(0, 5).unwrap(), 5, &p, 0);
        let got: Vec<_> = w.iter().map(|w| (w.start, w.end)).collect();
        assert_eq!(got, [(1, 4), (0, 5), (1, 5)]);
    }
}
