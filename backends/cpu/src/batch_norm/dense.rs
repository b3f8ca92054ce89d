//! Batch norm of contiguous `[N, C, S]` tensors, by blocks of channels.
//!
//! Deep layers on small images have small planes (`S` from 64 down to 1 in a ResNet on 32x32
//! images). There a channel is `N` runs of `S` elements, `C * S` apart: walking one channel per
//! task spends its time building walks and tasks, and neighbouring channels, which share cache
//! lines, are written by different threads. Here a task takes a block of consecutive channels
//! and reads, item after item, the block's `block * S` consecutive elements. Each channel's sums
//! still run in a fixed order (items, then positions, as the strided path adds them), so the
//! result does not depend on the number of threads.

use super::{run_grad_sums, run_sum};
use crate::num::{FloatStore, Real};
use crate::strided::{PAR_THRESHOLD, SendPtr};
use rayon::prelude::*;
use std::ops::Range;
use tiny_torch_core::Layout;

/// A contiguous `[N, C, *]` tensor as `[N, C, S]`.
#[derive(Clone, Copy)]
pub(super) struct Dense {
    n: usize,
    c: usize,
    s: usize,
}

impl Dense {
    /// The `[N, C, S]` shape of `dims` when every layout is contiguous (each then read from
    /// its own offset) and the tensor is not empty.
    pub(super) fn of(dims: &[usize], layouts: &[&Layout]) -> Option<Dense> {
        let (n, c) = (dims[0], dims[1]);
        let s = dims[2..].iter().product();
        (n * c * s > 0 && layouts.iter().all(|l| l.is_contiguous())).then_some(Dense { n, c, s })
    }

    /// `f(block)` for blocks of consecutive channels (in parallel unless the tensor is small),
    /// each returning one value per channel; the values in channel order.
    pub(super) fn per_block<R: Send>(
        &self,
        f: impl Fn(Range<usize>) -> Vec<R> + Sync + Send,
    ) -> Vec<R> {
        if self.n * self.c * self.s < PAR_THRESHOLD {
            return f(0..self.c);
        }
        let blocks = self.c.min(4 * rayon::current_num_threads());
        let per = self.c.div_ceil(blocks);
        (0..self.c.div_ceil(per))
            .into_par_iter()
            .flat_map_iter(|b| f(b * per..((b + 1) * per).min(self.c)))
            .collect()
    }

    /// The elements of item `n` in the channels `block` (`block.len() * S` of them).
    #[inline(always)]
    fn rows(&self, n: usize, block: &Range<usize>) -> Range<usize> {
        (n * self.c + block.start) * self.s..(n * self.c + block.end) * self.s
    }

    /// Per channel `j` of `block` (numbered from 0): `Σ f(j, x)` over its elements.
    #[inline(always)]
    pub(super) fn sums<T: FloatStore>(
        &self,
        x: &[T],
        block: &Range<usize>,
        f: impl Fn(usize, f64) -> f64 + Copy,
    ) -> Vec<f64> {
        let mut sums = vec![0.0; block.len()];
        for n in 0..self.n {
            let rows = &x[self.rows(n, block)];
            if self.s == 1 {
                for (j, (sum, &v)) in sums.iter_mut().zip(rows).enumerate() {
                    *sum += f(j, v.up().f64());
                }
            } else {
                for (j, (sum, run)) in sums.iter_mut().zip(rows.chunks_exact(self.s)).enumerate() {
                    *sum += run_sum(run, |v| f(j, v));
                }
            }
        }
        sums
    }

    /// Per channel `j` of `block`: `(Σ g, Σ (x - mean[j]) g)`.
    #[inline(always)]
    pub(super) fn grad_sums<T: FloatStore>(
        &self,
        x: &[T],
        g: &[T],
        block: &Range<usize>,
        mean: &[f64],
    ) -> Vec<(f64, f64)> {
        let mut sums = vec![(0.0, 0.0); block.len()];
        for n in 0..self.n {
            let (xs, gs) = (&x[self.rows(n, block)], &g[self.rows(n, block)]);
            if self.s == 1 {
                for (j, ((sum, dot), (&xv, &gv))) in
                    sums.iter_mut().zip(xs.iter().zip(gs)).enumerate()
                {
                    let gv = gv.up().f64();
                    *sum += gv;
                    *dot += (xv.up().f64() - mean[j]) * gv;
                }
            } else {
                let runs = xs.chunks_exact(self.s).zip(gs.chunks_exact(self.s));
                for (j, ((sum, dot), (xr, gr))) in sums.iter_mut().zip(runs).enumerate() {
                    let (s, d) = run_grad_sums(xr, gr, mean[j]);
                    *sum += s;
                    *dot += d;
                }
            }
        }
        sums
    }

    /// `out = f(j)(x, y)` over the channels `block` (`j` numbered from 0), where `out` is a
    /// contiguous output of the same shape. `f(j)` takes the channel's coefficients out of
    /// their vectors once per run, so that the loop over a run vectorizes.
    ///
    /// # Safety
    /// `out` points to `N * C * S` elements, of which no other thread touches this block's.
    #[inline(always)]
    pub(super) unsafe fn map<T: FloatStore, F: Fn(T::C, T::C) -> T::C>(
        &self,
        out: SendPtr<T>,
        x: &[T],
        y: &[T],
        block: &Range<usize>,
        f: impl Fn(usize) -> F,
    ) {
        for n in 0..self.n {
            let at = self.rows(n, block);
            // SAFETY: the caller's contract: these elements are this block's, inside `out`.
            let dst = unsafe { std::slice::from_raw_parts_mut(out.get().add(at.start), at.len()) };
            let (xs, ys) = (&x[at.clone()], &y[at]);
            if self.s == 1 {
                for (j, ((d, &a), &b)) in dst.iter_mut().zip(xs).zip(ys).enumerate() {
                    *d = T::down(f(j)(a.up(), b.up()));
                }
            } else {
                let runs = dst.chunks_exact_mut(self.s).zip(xs.chunks_exact(self.s));
                for (j, ((dr, xr), yr)) in runs.zip(ys.chunks_exact(self.s)).enumerate() {
                    let f = f(j);
                    for ((d, &a), &b) in dr.iter_mut().zip(xr).zip(yr) {
                        *d = T::down(f(a.up(), b.up()));
                    }
                }
            }
        }
    }
}

/// Per-channel coefficients of a block as the compute type, for the element-wise passes.
pub(super) fn coefficients<C: Real>(values: impl IntoIterator<Item = f64>) -> Vec<C> {
    values.into_iter().map(C::of).collect()
}
