//! Softmax and log-softmax along one dim, numerically stable (the row max is subtracted first).
//!
//! The input is viewed as *lanes*: one per position of the other dims, each running along `dim`
//! in the input (any stride) and in the contiguous output (stride = the size of the dims after
//! `dim`). A lane is computed in the compute type (`f32` for `f16`/`bf16`/`f32`, `f64`) in a
//! scratch row, with a branch-free `exp` for `f32` so that the passes vectorize; contiguous
//! last-dim rows (the common case) read their input as a slice; for `f32` they go straight
//! from input to output through the AVX2 kernel of `simd_f32` (bit-identical to the scratch
//! row), which leaves rows with NaN to the scratch-row code. Lanes run in parallel chunks.
//! A row of all `-inf` gives NaN and a NaN anywhere in a row gives a NaN row, as in PyTorch.

use crate::math::simd;
use crate::num::{FloatStore, Real};
use crate::simd_f32;
use crate::storage::{CpuStorage, alloc_typed, dispatch};
use crate::strided::{PAR_THRESHOLD, SendPtr, Walk, check_extent};
use rayon::prelude::*;
use tiny_torch_core::{BackendStorage, Error, Layout, Result, View};

/// `Σ xs` in 8 independent lanes (vectorizes without reassociation flags).
#[inline(always)]
fn lane_sum<C: Real>(xs: &[C]) -> C {
    let mut lanes = [C::ZERO; 8];
    let chunks = xs.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for (s, &v) in lanes.iter_mut().zip(c) {
            *s = *s + v;
        }
    }
    lanes.iter().chain(rest).fold(C::ZERO, |a, &b| a + b)
}

/// The max of `xs` in 8 lanes; NaN wins.
#[inline(always)]
#[allow(clippy::eq_op)]
fn lane_max<C: Real>(xs: &[C]) -> C {
    let pick = |m: C, v: C| if v != v || v > m { v } else { m };
    let mut lanes = [-C::INFINITY; 8];
    let chunks = xs.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for (m, &v) in lanes.iter_mut().zip(c) {
            *m = pick(*m, v);
        }
    }
    lanes
        .iter()
        .chain(rest)
        .fold(-C::INFINITY, |m, &v| pick(m, v))
}

/// Softmax (or log-softmax) of the row `x` in place; `tmp` is scratch of the same length.
/// Each pass is a plain loop over the row (which stays in L1), so each vectorizes.
#[inline(always)]
pub(crate) fn row<C: Real>(x: &mut [C], tmp: &mut [C], log: bool) {
    let max = lane_max(x);
    if log {
        for (t, &v) in tmp.iter_mut().zip(x.iter()) {
            *t = (v - max).fast_exp();
        }
        // (x - max) - log(sum), in that order: x - max is exact for nearby values.
        let lse = lane_sum(tmp).ln();
        for v in x.iter_mut() {
            *v = (*v - max) - lse;
        }
    } else {
        for v in x.iter_mut() {
            *v = (*v - max).fast_exp();
        }
        let inv = C::ONE / lane_sum(x);
        for v in x.iter_mut() {
            *v = *v * inv;
        }
    }
}

/// Where the lanes of a softmax lie.
struct Geometry {
    /// One element per lane (the input without `dim`), at the input's offset.
    lanes: Layout,
    /// Length of a lane, and its stride in the input.
    size: usize,
    stride: usize,
    /// Product of the dims after `dim`: the lane stride in the contiguous output.
    inner: usize,
}

/// Softmax along `dim` into a new contiguous buffer.
pub(crate) fn softmax(src: View<'_, CpuStorage>, dim: usize, log: bool) -> Result<CpuStorage> {
    let op = if log { "log_softmax" } else { "softmax" };
    let layout = src.layout;
    let nd = layout.ndim();
    let dtype = src.storage.dtype();
    if !dtype.is_float() {
        return Err(Error::unsupported(op, dtype, "cpu"));
    }
    check_extent(op, layout, src.storage.len())?;
    // A zero-dim tensor is one lane of one element.
    let (size, stride, inner) = if nd == 0 {
        (1, 0, 1)
    } else if dim >= nd {
        return Err(Error::DimOutOfRange {
            op,
            dim: dim as isize,
            ndim: nd,
        });
    } else {
        let inner: usize = layout.dims()[dim + 1..].iter().product();
        (layout.dims()[dim], layout.strides()[dim], inner)
    };
    let mut lane_dims = layout.dims().to_vec();
    let mut lane_strides = layout.strides().to_vec();
    if nd > 0 {
        lane_dims.remove(dim);
        lane_strides.remove(dim);
    }
    let geometry = Geometry {
        lanes: Layout::new(lane_dims, lane_strides, layout.offset())?,
        size,
        stride,
        inner,
    };
    dispatch!(dtype, T => T::run(op, src.storage.data::<T>(op)?, layout.numel(), &geometry, log))
}

/// Softmax per element type (`Unsupported` for integers, which are rejected before anyway).
trait SoftmaxKernel: Sized {
    fn run(
        op: &'static str,
        data: &[Self],
        numel: usize,
        g: &Geometry,
        log: bool,
    ) -> Result<CpuStorage>;
}

fn softmax_typed<T: FloatStore>(
    op: &'static str,
    data: &[T],
    numel: usize,
    g: &Geometry,
    log: bool,
) -> Result<CpuStorage> {
    let Geometry {
        lanes,
        size,
        stride,
        inner,
    } = g;
    let (size, stride, inner) = (*size, *stride, *inner);
    let mut out = alloc_typed::<T>(numel)?;
    if numel == 0 {
        return Ok(out);
    }
    let o = out.data_mut::<T>(op)?;
    let walk = Walk::new([lanes]);
    let [lane_stride] = walk.inner();
    let n_lanes = walk.numel();
    let dst = SendPtr::new(o);
    // Lanes `start..end`: output lane `l` starts at `(l / inner) * size * inner + l % inner`.
    let work = |start: usize, end: usize| {
        let mut scratch: Vec<T::C> = vec![<T::C as Real>::ZERO; size];
        let mut tmp: Vec<T::C> = vec![<T::C as Real>::ZERO; if log { size } else { 0 }];
        let mut l = start;
        walk.runs(start, end, |[base], len| {
            for j in 0..len {
                let b = base + j * lane_stride;
                let ob = (l / inner) * size * inner + l % inner;
                l += 1;
                if stride == 1 && inner == 1 {
                    // SAFETY: as below (the lane's output elements are `ob..ob + size`).
                    let out = unsafe { std::slice::from_raw_parts_mut(dst.get().add(ob), size) };
                    // `f32` rows go from input to output by the AVX2 kernel, unless it leaves
                    // the row (NaN) to the code below.
                    if let (Some(x), Some(out)) = (
                        simd_f32::as_f32(&data[b..b + size]),
                        simd_f32::as_f32_mut(out),
                    ) && simd_f32::softmax_row(x, out, log)
                    {
                        continue;
                    }
                }
                if stride == 1 {
                    for (s, &x) in scratch.iter_mut().zip(&data[b..b + size]) {
                        *s = x.up();
                    }
                } else {
                    for (k, s) in scratch.iter_mut().enumerate() {
                        *s = data[b + k * stride].up();
                    }
                }
                simd!(row(&mut scratch, &mut tmp, log));
                let p = dst.get();
                // SAFETY: lane `l` owns output elements `ob + k * inner` for `k < size`, inside
                // the `numel`-element output; lanes are disjoint, so chunks write disjoint parts.
                unsafe {
                    if inner == 1 {
                        let out = std::slice::from_raw_parts_mut(p.add(ob), size);
                        for (o, &s) in out.iter_mut().zip(&scratch) {
                            *o = T::down(s);
                        }
                    } else {
                        for (k, &s) in scratch.iter().enumerate() {
                            *p.add(ob + k * inner) = T::down(s);
                        }
                    }
                }
            }
        });
    };
    let threads = rayon::current_num_threads();
    if numel < PAR_THRESHOLD || threads <= 1 || n_lanes == 1 {
        work(0, n_lanes);
    } else {
        let per = (PAR_THRESHOLD / size.max(1))
            .max(n_lanes.div_ceil(8 * threads))
            .max(1);
        (0..n_lanes.div_ceil(per))
            .into_par_iter()
            .for_each(|c| work(c * per, ((c + 1) * per).min(n_lanes)));
    }
    Ok(out)
}

macro_rules! kernels {
    (float: $($t:ty),*) => {$(
        impl SoftmaxKernel for $t {
            fn run(
                op: &'static str,
                data: &[Self],
                numel: usize,
                g: &Geometry,
                log: bool,
            ) -> Result<CpuStorage> {
                softmax_typed::<$t>(op, data, numel, g, log)
            }
        }
    )*};
    (other: $($t:ty),*) => {$(
        impl SoftmaxKernel for $t {
            fn run(
                op: &'static str,
                _data: &[Self],
                _numel: usize,
                _g: &Geometry,
                _log: bool,
            ) -> Result<CpuStorage> {
                Err(Error::unsupported(op, <$t as tiny_torch_core::Element>::DTYPE, "cpu"))
            }
        }
    )*};
}
kernels!(float: f32, f64, half::f16, half::bf16);
kernels!(other: u8, i32, i64, bool);
