//! 2-D convolution (`conv2d`) and its two gradients, as im2col + GEMM.
//!
//! Per batch item `n` and group `g`, a convolution is one matrix product
//!
//! ```text
//! out[n, g]  [Og, L] = weight[g] [Og, K] @ cols [K, L]
//! ```
//!
//! with `L = Ho * Wo` output positions, `K = Cg * kh * kw` kernel taps, and `cols` (im2col)
//! holding in row `(c, i, j)` the input pixel each output position sees through tap `(i, j)` of
//! channel `c`. The gradients are the two other products of the same three matrices:
//!
//! ```text
//! d cols      [K, L]  = weight[g]ᵀ @ d out[n, g], added back onto the input (col2im)
//! d weight[g] [Og, K] = Σ_n d out[n, g] @ colsᵀ
//! ```
//!
//! A 1x1, stride-1, unpadded convolution needs no im2col: `cols` is the input itself.
//! Kernel taps that read only padding at every output position (a 3x3 kernel over 1x1 planes)
//! are cropped off first ([`crop`]): they add nothing. `f32` 3x3 stride-1 convolutions with
//! channels and tiles enough run by Winograd's F(2x2, 3x3) instead ([`winograd`]), forward and
//! input gradient; on AVX2 + FMA the other `f32` forwards fuse im2col into the GEMM's packing
//! ([`packed`]).
//!
//! Deep layers have few output positions per item (ResNet on 32x32 images: 64 down to 1): a
//! product with `L = 4` columns keeps a GEMM kernel mostly idle and pays its packing for little
//! work. There, `B` items are folded into one product of `B * L` columns (their im2col blocks
//! side by side, `[K, B * L]`), which is then scattered back to `[B, O, L]` ([`fold`]; groups of
//! 1 only). `B` depends on the shape and the thread count (parts are balanced between the
//! threads), never on scheduling.
//!
//! Inputs of any strides are packed into contiguous buffers first (a contiguous `f32`/`f64`
//! input is read in place); `f16` and `bf16` are widened to `f32`, computed there and rounded
//! once at the end. Work runs in parallel over (batch item, group) pairs, each thread with its
//! own im2col buffer and a single-threaded GEMM; with fewer pairs than threads, the pairs run
//! one after the other and each GEMM uses every thread instead.
//!
//! The weight gradient sums over the batch: when it runs in parallel, each thread sums a fixed,
//! contiguous slice of the batch into its own partial, and the partials are added in slice
//! order. The result depends on the batch size and the number of threads only, never on
//! scheduling, so a run is reproducible bit for bit.

mod crop;
mod im2col;
mod packed;
#[cfg(test)]
mod tests;
mod winograd;

use crate::copy;
use crate::num::{FloatStore, Real, float_dispatch};
use crate::storage::{CpuStorage, Native, alloc_typed};
use crate::strided::{check_extent, for_each_chunk};
use gemm::Parallelism;
use half::{bf16, f16};
use im2col::{Mat, col2im, col2im_folded, gemm_into, im2col, im2col_folded};
use rayon::prelude::*;
use std::any::TypeId;
use tiny_torch_core::{
    Conv2dParams, Error, Layout, Result, View, ViewMut, check_conv_dims, check_same_dtype,
    conv_dims,
};

/// Convolutions with fewer multiply-adds than this run on one thread.
const PAR_MACS: usize = 1 << 21;

/// Below this many output positions per item, the items are folded into one wider product
/// (see [`fold`]).
const FOLD_POSITIONS: usize = 256;

/// The sizes of one convolution, checked against each other.
#[derive(Clone, Copy, Debug)]
struct Geom {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    o: usize,
    kh: usize,
    kw: usize,
    oh: usize,
    ow: usize,
    p: Conv2dParams,
}

impl Geom {
    /// Checks `input [N, C, H, W]`, `weight [O, C / groups, kh, kw]` and the parameters
    /// ([`Conv2dParams::check_shapes`]), and that the im2col buffer's size fits a `usize`.
    fn new(
        op: &'static str,
        input: [usize; 4],
        weight: &[usize],
        p: &Conv2dParams,
    ) -> Result<Self> {
        let [n, o, oh, ow] = p.check_shapes(op, input, weight)?;
        let [_, c, h, w] = input;
        let (kh, kw) = (weight[2], weight[3]);
        let g = Geom {
            n,
            c,
            h,
            w,
            o,
            kh,
            kw,
            oh,
            ow,
            p: *p,
        };
        if g.taps().checked_mul(g.positions()).is_none() {
            return Err(Error::shape(
                op,
                format!("sizes overflow: input {input:?}, weight {weight:?}"),
            ));
        }
        Ok(g)
    }

    fn groups(&self) -> usize {
        self.p.groups
    }

    /// Input channels per group.
    fn cg(&self) -> usize {
        self.c / self.p.groups
    }

    /// Output channels per group.
    fn og(&self) -> usize {
        self.o / self.p.groups
    }

    /// `K`: the kernel taps of one output channel.
    fn taps(&self) -> usize {
        self.cg() * self.kh * self.kw
    }

    /// No input channels (nothing to sum per output) or no output channels: every fast path
    /// assumes at least one of each, and the answer is the bias or zeros.
    fn sums_nothing(&self) -> bool {
        self.taps() == 0 || self.og() == 0
    }

    /// `L`: the output positions of one plane.
    fn positions(&self) -> usize {
        self.oh * self.ow
    }

    fn plane(&self) -> usize {
        self.h * self.w
    }

    /// A 1x1, stride-1, unpadded convolution: the input is its own im2col matrix.
    fn pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.p.stride == [1, 1] && self.p.padding == [0, 0]
    }

    /// Elements of the im2col buffer (none for a pointwise convolution).
    fn scratch(&self) -> usize {
        if self.pointwise() {
            0
        } else {
            self.taps() * self.positions()
        }
    }

    fn macs(&self) -> usize {
        self.n
            .saturating_mul(self.o)
            .saturating_mul(self.taps())
            .saturating_mul(self.positions())
    }

    #[cfg(test)]
    fn weight_dims(&self) -> [usize; 4] {
        [self.o, self.cg(), self.kh, self.kw]
    }

    fn output_dims(&self) -> [usize; 4] {
        [self.n, self.o, self.oh, self.ow]
    }
}

/// `conv2d(input, weight, bias)` into a new contiguous `[N, O, Ho, Wo]`.
pub(crate) fn conv2d(
    input: View<'_, CpuStorage>,
    weight: View<'_, CpuStorage>,
    bias: Option<View<'_, CpuStorage>>,
    p: &Conv2dParams,
) -> Result<CpuStorage> {
    let op = "conv2d";
    let mut storages = vec![input.storage, weight.storage];
    storages.extend(bias.map(|b| b.storage));
    let dtype = check_same_dtype(op, &storages)?;
    let g = Geom::new(
        op,
        conv_dims(op, "input", input.layout)?,
        weight.layout.dims(),
        p,
    )?;
    if let Some(b) = bias
        && b.layout.dims() != [g.o]
    {
        return Err(Error::shape(
            op,
            format!(
                "expected a bias of shape [{}], got {:?}",
                g.o,
                b.layout.dims()
            ),
        ));
    }
    float_dispatch!(dtype, op, T => {
        let x = Packed::<T>::new(op, input)?;
        let w = Packed::<T>::new(op, weight)?;
        let b = bias.map(|b| Packed::<T>::new(op, b)).transpose()?;
        output::<T>(op, g.output_dims(), |out| {
            forward(&g, x.get(), w.get(), b.as_ref().map(|b| b.get()), out)
        })
    })
}

/// The gradient of `conv2d` with respect to its input `[N, C, H, W]` (`input_dims`).
pub(crate) fn conv2d_backward_input(
    grad_output: View<'_, CpuStorage>,
    weight: View<'_, CpuStorage>,
    input_dims: [usize; 4],
    p: &Conv2dParams,
) -> Result<CpuStorage> {
    let op = "conv2d_backward_input";
    let dtype = check_same_dtype(op, &[grad_output.storage, weight.storage])?;
    let g = Geom::new(op, input_dims, weight.layout.dims(), p)?;
    check_conv_dims(op, "grad_output", grad_output.layout, g.output_dims())?;
    float_dispatch!(dtype, op, T => {
        let go = Packed::<T>::new(op, grad_output)?;
        let w = Packed::<T>::new(op, weight)?;
        output::<T>(op, input_dims, |dx| backward_input(&g, go.get(), w.get(), dx))
    })
}

/// The gradient of `conv2d` with respect to its weight `[O, C / groups, kh, kw]`
/// (`weight_dims`).
pub(crate) fn conv2d_backward_weight(
    grad_output: View<'_, CpuStorage>,
    input: View<'_, CpuStorage>,
    weight_dims: [usize; 4],
    p: &Conv2dParams,
) -> Result<CpuStorage> {
    let op = "conv2d_backward_weight";
    let dtype = check_same_dtype(op, &[grad_output.storage, input.storage])?;
    let g = Geom::new(op, conv_dims(op, "input", input.layout)?, &weight_dims, p)?;
    check_conv_dims(op, "grad_output", grad_output.layout, g.output_dims())?;
    float_dispatch!(dtype, op, T => {
        let go = Packed::<T>::new(op, grad_output)?;
        let x = Packed::<T>::new(op, input)?;
        output::<T>(op, weight_dims, |dw| backward_weight(&g, go.get(), x.get(), dw))
    })
}

// ---------------------------------------------------------------- dtypes and packing

/// A stored float type and the `f32` / `f64` its convolutions compute in.
trait ConvFloat: FloatStore<C: Native> {
    /// The elements as the compute type, when they already are (`f32`, `f64`): read and
    /// written in place, without a copy.
    fn as_compute(s: &[Self]) -> Option<&[Self::C]>;
    fn as_compute_mut(s: &mut [Self]) -> Option<&mut [Self::C]>;
}

macro_rules! compute_in_place {
    ($($t:ty),*) => {$(
        impl ConvFloat for $t {
            fn as_compute(s: &[Self]) -> Option<&[Self]> {
                Some(s)
            }
            fn as_compute_mut(s: &mut [Self]) -> Option<&mut [Self]> {
                Some(s)
            }
        }
    )*};
}
compute_in_place!(f32, f64);

macro_rules! compute_widened {
    ($($t:ty),*) => {$(
        impl ConvFloat for $t {
            fn as_compute(_: &[Self]) -> Option<&[f32]> {
                None
            }
            fn as_compute_mut(_: &mut [Self]) -> Option<&mut [f32]> {
                None
            }
        }
    )*};
}
compute_widened!(f16, bf16);

/// An operand as a contiguous slice of the compute type: borrowed when it already is one,
/// otherwise a packed copy (strided views, `f16` / `bf16`).
enum Packed<'a, T: ConvFloat> {
    Borrowed(&'a [T::C]),
    Owned(CpuStorage),
}

impl<'a, T: ConvFloat> Packed<'a, T> {
    fn new(op: &'static str, v: View<'a, CpuStorage>) -> Result<Self> {
        let data = v.storage.data::<T>(op)?;
        check_extent(op, v.layout, data.len())?;
        if let Some(range) = v.layout.contiguous_range()
            && let Some(s) = T::as_compute(&data[range])
        {
            return Ok(Packed::Borrowed(s));
        }
        let mut packed = alloc_typed::<T::C>(v.layout.numel())?;
        let dense = Layout::contiguous(v.layout.dims());
        copy::copy(v, ViewMut::new(&mut packed, &dense))?;
        Ok(Packed::Owned(packed))
    }

    fn get(&self) -> &[T::C] {
        match self {
            Packed::Borrowed(s) => s,
            // The storage was allocated as `T::C` just above.
            Packed::Owned(s) => s.slice::<T::C>().unwrap_or(&[]),
        }
    }
}

/// A new contiguous storage of `T` and `dims`, written by `f` in the compute type: in place for
/// `f32` / `f64`, through an `f32` buffer rounded once for `f16` / `bf16`.
fn output<T: ConvFloat>(
    op: &'static str,
    dims: [usize; 4],
    f: impl FnOnce(&mut [T::C]) -> Result<()>,
) -> Result<CpuStorage> {
    let len = dims.iter().product();
    let mut out = alloc_typed::<T>(len)?;
    if let Some(o) = T::as_compute_mut(out.data_mut::<T>(op)?) {
        f(o)?;
        return Ok(out);
    }
    let mut wide = alloc_typed::<T::C>(len)?;
    f(wide.data_mut::<T::C>(op)?)?;
    let layout = Layout::contiguous(dims);
    copy::copy(View::new(&wide, &layout), ViewMut::new(&mut out, &layout))?;
    Ok(out)
}

/// `s` as `f32`s when `C` is `f32` (for the [`packed`] kernels, which exist for `f32` only).
fn as_f32<C: 'static>(s: &[C]) -> Option<&[f32]> {
    // SAFETY: `C` is `f32` itself (same type id), so the slice is reinterpreted as itself.
    (TypeId::of::<C>() == TypeId::of::<f32>())
        .then(|| unsafe { std::slice::from_raw_parts(s.as_ptr().cast::<f32>(), s.len()) })
}

fn as_f32_mut<C: 'static>(s: &mut [C]) -> Option<&mut [f32]> {
    // SAFETY: as in `as_f32`.
    (TypeId::of::<C>() == TypeId::of::<f32>())
        .then(|| unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr().cast::<f32>(), s.len()) })
}

// ---------------------------------------------------------------- the three products

/// How one item's GEMM runs: alone on a thread, or across all threads.
fn plan(g: &Geom, items: usize) -> (bool, Parallelism) {
    let threads = rayon::current_num_threads();
    let big = g.macs() >= PAR_MACS && threads > 1;
    if big && items >= threads {
        (true, Parallelism::None)
    } else if big {
        (false, Parallelism::Rayon(threads))
    } else {
        (false, Parallelism::None)
    }
}

/// Calls `f(item, out_item, scratch, gemm_parallelism)` for every item, where item `i` owns
/// `out[i * chunk..(i + 1) * chunk]` and `scratch` is an im2col buffer of `scratch_len`: in
/// parallel over contiguous runs of items (one buffer per run, from the caching allocator), or
/// one item at a time. About four runs per thread let idle threads steal work from busy ones.
fn for_each_item<C: Native>(
    g: &Geom,
    out: &mut [C],
    chunk: usize,
    scratch_len: usize,
    f: impl Fn(usize, &mut [C], &mut [C], Parallelism) + Sync,
) -> Result<()> {
    if out.is_empty() || chunk == 0 {
        return Ok(());
    }
    let items = out.len() / chunk;
    let run = |first: usize, part: &mut [C], par: Parallelism| -> Result<()> {
        let mut scratch = alloc_typed::<C>(scratch_len)?;
        let scratch = scratch.data_mut::<C>("conv2d")?;
        for (i, item) in part.chunks_exact_mut(chunk).enumerate() {
            f(first + i, item, scratch, par);
        }
        Ok(())
    };
    match plan(g, items) {
        (true, par) => {
            let per = items.div_ceil(4 * rayon::current_num_threads());
            out.par_chunks_mut(per * chunk)
                .enumerate()
                .try_for_each(|(t, part)| run(t * per, part, par))
        }
        (false, par) => run(0, out, par),
    }
}

/// How many items go into one product: enough for `FOLD_POSITIONS` columns when an item has
/// fewer positions (groups of 1), else 1. When that makes several parts, their number is
/// rounded up to a multiple of the thread count, so that the threads get equal shares.
fn fold(g: &Geom) -> usize {
    let l = g.positions();
    if g.groups() > 1 || l == 0 || l >= FOLD_POSITIONS || g.n <= 1 {
        return 1;
    }
    let fold = FOLD_POSITIONS.div_ceil(l).min(g.n);
    let parts = g.n.div_ceil(fold);
    if parts == 1 {
        return fold;
    }
    let threads = rayon::current_num_threads().max(1);
    g.n.div_ceil(parts.div_ceil(threads) * threads).max(1)
}

/// Runs `f(first item, out part, gemm parallelism)` on parts of `fold` items of `out` (`chunk`
/// elements per item): in parallel over parts when the convolution is big and there are parts
/// enough, otherwise one part after the other with each GEMM on every thread (if big).
fn for_each_fold<C: Native>(
    g: &Geom,
    out: &mut [C],
    chunk: usize,
    fold: usize,
    f: impl Fn(usize, &mut [C], Parallelism) -> Result<()> + Sync,
) -> Result<()> {
    if out.is_empty() || chunk == 0 {
        return Ok(());
    }
    let parts = g.n.div_ceil(fold);
    match plan(g, parts) {
        (true, par) => out
            .par_chunks_mut(fold * chunk)
            .enumerate()
            .try_for_each(|(p, part)| f(p * fold, part, par)),
        (false, par) => out
            .chunks_mut(fold * chunk)
            .enumerate()
            .try_for_each(|(p, part)| f(p * fold, part, par)),
    }
}

/// Whether the copies around a folded product run on all threads: yes when the product runs
/// alone on all of them (one part at a time), no when the parts themselves run in parallel.
fn copies_in_parallel(par: Parallelism) -> bool {
    matches!(par, Parallelism::Rayon(_))
}

/// Gathers `dy` of items `first..first + items` (`[items, O, L]`) into `[O, items * L]`, in
/// parallel over the rows of `into` when `parallel`.
fn gather_items<C: Copy + Send + Sync>(
    dy: &[C],
    first: usize,
    items: usize,
    (o, l): (usize, usize),
    into: &mut [C],
    parallel: bool,
) {
    let row = |oo: usize, into_row: &mut [C]| {
        for (b, dst) in into_row.chunks_exact_mut(l).enumerate() {
            dst.copy_from_slice(&dy[((first + b) * o + oo) * l..][..l]);
        }
    };
    for_each_chunk(&mut into[..o * items * l], items * l, parallel, row);
}

/// [`forward`] with `fold` items per product (groups of 1).
fn forward_folded<C: Real + Native>(
    g: &Geom,
    x: &[C],
    w: &[C],
    bias: Option<&[C]>,
    out: &mut [C],
    fold: usize,
) -> Result<()> {
    let (o, k, l) = (g.o, g.taps(), g.positions());
    let weight = Mat::row_major(&w[..o * k], o, k);
    for_each_fold(g, out, o * l, fold, |first, part, par| {
        let items = part.len() / (o * l);
        let width = items * l;
        let mut cols = alloc_typed::<C>(k * width)?;
        let cols = cols.data_mut::<C>("conv2d")?;
        let mut wide = alloc_typed::<C>(o * width)?;
        let wide = wide.data_mut::<C>("conv2d")?;
        let parallel = copies_in_parallel(par);
        im2col_folded(g, x, first, items, cols, parallel);
        gemm_into(wide, weight, Mat::row_major(cols, k, width), false, par);
        let wide = &*wide;
        let scatter = |b: usize, item: &mut [C]| {
            for (oo, row) in item.chunks_exact_mut(l).enumerate() {
                let src = &wide[oo * width + b * l..][..l];
                match bias {
                    Some(bias) => {
                        for (d, &v) in row.iter_mut().zip(src) {
                            *d = bias[oo] + v;
                        }
                    }
                    None => row.copy_from_slice(src),
                }
            }
        };
        for_each_chunk(part, o * l, parallel, scatter);
        Ok(())
    })
}

/// `out [N, O, L] = weight @ im2col(x) + bias`, per (item, group).
fn forward<C: Real + Native>(
    g: &Geom,
    x: &[C],
    w: &[C],
    bias: Option<&[C]>,
    out: &mut [C],
) -> Result<()> {
    if g.sums_nothing() {
        // PyTorch: the bias (or zeros) at every position.
        for (row, channel) in out
            .chunks_exact_mut(g.positions().max(1))
            .zip((0..g.o).cycle())
        {
            row.fill(bias.map_or(C::ZERO, |b| b[channel]));
        }
        return Ok(());
    }
    if let Some((live, crop)) = g.cropped_if_faster() {
        let w_live = crop.live_weight(g, w)?;
        return forward(&live, x, w_live.data::<C>("conv2d")?, bias, out);
    }
    if let (Some(x), Some(w), Some(out)) = (as_f32(x), as_f32(w), as_f32_mut(out)) {
        if winograd::suits(g) {
            return winograd::forward(g, x, w, bias.and_then(as_f32), out);
        }
        if packed::available(g) && packed::suits_forward(g) {
            return packed::forward(g, x, w, bias.and_then(as_f32), out);
        }
    }
    let fold = fold(g);
    if fold > 1 {
        return forward_folded(g, x, w, bias, out, fold);
    }
    let (cg, og, k, l) = (g.cg(), g.og(), g.taps(), g.positions());
    let x_item = cg * g.plane();
    for_each_item(g, out, og * l, g.scratch(), |i, out_i, cols, par| {
        let group = i % g.groups();
        let xi = &x[i * x_item..(i + 1) * x_item];
        let a = Mat::row_major(&w[group * og * k..(group + 1) * og * k], og, k);
        let b = if g.pointwise() {
            Mat::row_major(xi, cg, l)
        } else {
            im2col(g, xi, cols);
            Mat::row_major(cols, k, l)
        };
        if let Some(bias) = bias {
            for (row, &v) in out_i.chunks_exact_mut(l).zip(&bias[group * og..]) {
                row.fill(v);
            }
        }
        gemm_into(out_i, a, b, bias.is_some(), par);
    })
}

/// `dx [N, C, H, W] = col2im(weightᵀ @ dy)`, per (item, group).
fn backward_input<C: Real + Native>(g: &Geom, dy: &[C], w: &[C], dx: &mut [C]) -> Result<()> {
    if g.sums_nothing() {
        dx.fill(C::ZERO);
        return Ok(());
    }
    if let Some((live, crop)) = g.cropped_if_faster() {
        let w_live = crop.live_weight(g, w)?;
        return backward_input(&live, dy, w_live.data::<C>("conv2d_backward_input")?, dx);
    }
    if let (Some(dy), Some(w), Some(dx)) = (as_f32(dy), as_f32(w), as_f32_mut(dx)) {
        if winograd::suits_backward_input(g) {
            return winograd::backward_input(g, dy, w, dx);
        }
        if packed::available(g) && packed::suits_backward_input(g) {
            return packed::backward_input(g, dy, w, dx);
        }
    }
    let fold = fold(g);
    if fold > 1 {
        let (o, k, l) = (g.o, g.taps(), g.positions());
        let weight_t = Mat::transposed(&w[..o * k], k, o);
        return for_each_fold(g, dx, g.cg() * g.plane(), fold, |first, part, par| {
            let x_item = g.cg() * g.plane();
            let items = part.len() / x_item;
            let width = items * l;
            let mut dy_wide = alloc_typed::<C>(o * width)?;
            let dy_wide = dy_wide.data_mut::<C>("conv2d_backward_input")?;
            let parallel = copies_in_parallel(par);
            gather_items(dy, first, items, (o, l), dy_wide, parallel);
            let mut cols = alloc_typed::<C>(k * width)?;
            let cols = cols.data_mut::<C>("conv2d_backward_input")?;
            gemm_into(
                cols,
                weight_t,
                Mat::row_major(dy_wide, o, width),
                false,
                par,
            );
            col2im_folded(g, cols, part, parallel);
            Ok(())
        });
    }
    let (cg, og, k, l) = (g.cg(), g.og(), g.taps(), g.positions());
    for_each_item(g, dx, cg * g.plane(), g.scratch(), |i, dx_i, cols, par| {
        let group = i % g.groups();
        let wt = Mat::transposed(&w[group * og * k..(group + 1) * og * k], k, og);
        let dyi = Mat::row_major(&dy[i * og * l..(i + 1) * og * l], og, l);
        if g.pointwise() {
            gemm_into(dx_i, wt, dyi, false, par);
        } else {
            gemm_into(cols, wt, dyi, false, par);
            dx_i.fill(C::ZERO);
            col2im(g, cols, dx_i);
        }
    })
}

/// `dw [O, K] = Σ_n dy[n] @ im2col(x[n])ᵀ`: per-thread partial sums over contiguous slices of
/// the batch, added in slice order (see the module documentation).
fn backward_weight<C: Real + Native>(g: &Geom, dy: &[C], x: &[C], dw: &mut [C]) -> Result<()> {
    if g.sums_nothing() {
        dw.fill(C::ZERO);
        return Ok(());
    }
    if let Some((live, crop)) = g.cropped_if_faster() {
        let mut dw_live = alloc_typed::<C>(crop.weight_len(g))?;
        let dw_live = dw_live.data_mut::<C>("conv2d_backward_weight")?;
        backward_weight(&live, dy, x, dw_live)?;
        crop.weight_grad(g, dw_live, dw);
        return Ok(());
    }
    let (cg, og, k, l) = (g.cg(), g.og(), g.taps(), g.positions());
    let x_item = cg * g.plane();
    let fold = fold(g);
    // Sums items `batch` into `acc` ([O, K]), the first one overwriting it.
    let sum_into = |batch: std::ops::Range<usize>, acc: &mut [C], par: Parallelism| -> Result<()> {
        if batch.is_empty() {
            acc.fill(C::ZERO);
        }
        if fold > 1 {
            // `fold` items per product: dy [O, B * L] @ colsᵀ [B * L, K].
            let width = fold * l;
            let mut cols = alloc_typed::<C>(k * width)?;
            let cols = cols.data_mut::<C>("conv2d_backward_weight")?;
            let mut dy_wide = alloc_typed::<C>(og * width)?;
            let dy_wide = dy_wide.data_mut::<C>("conv2d_backward_weight")?;
            let (start, end) = (batch.start, batch.end);
            let parallel = copies_in_parallel(par);
            for (j, first) in (start..end).step_by(fold).enumerate() {
                let items = fold.min(end - first);
                let width = items * l;
                im2col_folded(g, x, first, items, cols, parallel);
                gather_items(dy, first, items, (og, l), dy_wide, parallel);
                let dyf = Mat::row_major(&dy_wide[..og * width], og, width);
                gemm_into(
                    acc,
                    dyf,
                    Mat::transposed(&cols[..k * width], width, k),
                    j > 0,
                    par,
                );
            }
            return Ok(());
        }
        let mut cols = alloc_typed::<C>(g.scratch())?;
        let cols = cols.data_mut::<C>("conv2d_backward_weight")?;
        for (j, n) in batch.enumerate() {
            for group in 0..g.groups() {
                let i = n * g.groups() + group;
                let xi = &x[i * x_item..(i + 1) * x_item];
                let dyi = Mat::row_major(&dy[i * og * l..(i + 1) * og * l], og, l);
                let b = if g.pointwise() {
                    Mat::transposed(xi, l, cg)
                } else {
                    im2col(g, xi, cols);
                    Mat::transposed(cols, l, k)
                };
                let acc_g = &mut acc[group * og * k..(group + 1) * og * k];
                gemm_into(acc_g, dyi, b, j > 0, par);
            }
        }
        Ok(())
    };
    match plan(g, g.n) {
        (true, par) => {
            let slices = g.n.min(rayon::current_num_threads());
            let bounds = |s: usize| s * g.n / slices..(s + 1) * g.n / slices;
            let partials = (0..slices)
                .into_par_iter()
                .map(|s| {
                    let mut partial = alloc_typed::<C>(dw.len())?;
                    sum_into(
                        bounds(s),
                        partial.data_mut::<C>("conv2d_backward_weight")?,
                        par,
                    )?;
                    Ok(partial)
                })
                .collect::<Result<Vec<CpuStorage>>>()?;
            let partials = partials
                .iter()
                .map(|p| p.data::<C>("conv2d_backward_weight"))
                .collect::<Result<Vec<&[C]>>>()?;
            // Fixed order, whatever thread finished first: dw = p0 + p1 + ..., element by
            // element, in parallel over blocks of `dw` (a serial sum of 2.4 M elements for
            // a 512-channel 3x3 layer would leave the other threads waiting).
            const BLOCK: usize = 16 * 1024;
            dw.par_chunks_mut(BLOCK).enumerate().for_each(|(b, block)| {
                let at = b * BLOCK..b * BLOCK + block.len();
                block.copy_from_slice(&partials[0][at.clone()]);
                for p in &partials[1..] {
                    for (d, &v) in block.iter_mut().zip(&p[at.clone()]) {
                        *d = *d + v;
                    }
                }
            });
            Ok(())
        }
        (false, par) => sum_into(0..g.n, dw, par),
    }
}
