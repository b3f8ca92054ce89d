//! Walking several strided layouts of one shape together, in parallel chunks.
//!
//! Kernels never copy a strided or broadcast input to contiguous memory first. A [`Walk`] merges
//! adjacent dims that are contiguous with each other in every operand (so a contiguous tensor is
//! one long dim, and `[m, n] + [n]` is an outer dim with stride 0 over an inner contiguous one),
//! then hands the kernel *runs*: the storage offsets of each operand at the start of a stretch of
//! the innermost dim, and its length. Kernels specialize the inner loop on the inner strides
//! (all 1: slices that vectorize; 0: a broadcast scalar; otherwise a strided loop).
//! [`par_ranges`] splits the logical elements into chunks for rayon above a size threshold.

use rayon::prelude::*;
use tiny_torch_core::Layout;

/// Below this many elements an op runs on the calling thread.
pub(crate) const PAR_THRESHOLD: usize = 32 * 1024;
/// The smallest chunk handed to one rayon task.
const MIN_CHUNK: usize = 16 * 1024;

/// `N` layouts of one shape, with mergeable dims merged. Dims run outer to inner.
pub(crate) struct Walk<const N: usize> {
    dims: Vec<usize>,
    strides: Vec<[usize; N]>,
    base: [usize; N],
    numel: usize,
}

impl<const N: usize> Walk<N> {
    /// The layouts must have the same dims (checked by [`same_dims`]).
    pub(crate) fn new(layouts: [&Layout; N]) -> Self {
        let shape = layouts[0].dims();
        if shape.contains(&0) {
            // Nothing to walk; merging could multiply the other dims' huge strides.
            return Walk {
                dims: vec![0],
                strides: vec![[0; N]],
                base: std::array::from_fn(|k| layouts[k].offset()),
                numel: 0,
            };
        }
        let mut dims: Vec<usize> = Vec::with_capacity(shape.len());
        let mut strides: Vec<[usize; N]> = Vec::with_capacity(shape.len());
        for (d, &size) in shape.iter().enumerate() {
            if size == 1 {
                continue;
            }
            let s: [usize; N] = std::array::from_fn(|k| layouts[k].strides()[d]);
            if let (Some(outer_size), Some(outer)) = (dims.last_mut(), strides.last_mut())
                && (0..N).all(|k| outer[k] == s[k] * size)
            {
                *outer_size *= size;
                *outer = s;
                continue;
            }
            dims.push(size);
            strides.push(s);
        }
        if dims.is_empty() {
            dims.push(1);
            strides.push([0; N]);
        }
        Walk {
            numel: layouts[0].numel(),
            dims,
            strides,
            base: std::array::from_fn(|k| layouts[k].offset()),
        }
    }

    pub(crate) fn numel(&self) -> usize {
        self.numel
    }

    /// Strides of the innermost (merged) dim.
    pub(crate) fn inner(&self) -> [usize; N] {
        self.strides[self.strides.len() - 1]
    }

    /// Calls `f(offsets, len)` for each run of the logical elements `start..end`, with the
    /// layouts' own offsets.
    pub(crate) fn runs(&self, start: usize, end: usize, f: impl FnMut([usize; N], usize)) {
        self.runs_at(self.base, start, end, f)
    }

    /// As [`Walk::runs`], with `base` in place of the layouts' offsets.
    pub(crate) fn runs_at(
        &self,
        base: [usize; N],
        start: usize,
        end: usize,
        mut f: impl FnMut([usize; N], usize),
    ) {
        let end = end.min(self.numel);
        if start >= end {
            return;
        }
        let nd = self.dims.len();
        let inner = self.dims[nd - 1];
        let mut idx = vec![0usize; nd];
        let mut rem = start;
        let mut off = base;
        for d in (0..nd).rev() {
            idx[d] = rem % self.dims[d];
            rem /= self.dims[d];
            for (o, s) in off.iter_mut().zip(self.strides[d]) {
                *o += idx[d] * s;
            }
        }
        let mut pos = start;
        loop {
            let len = (inner - idx[nd - 1]).min(end - pos);
            f(off, len);
            pos += len;
            if pos >= end {
                return;
            }
            // Back to the start of the row, then one step of the outer odometer.
            for (o, s) in off.iter_mut().zip(self.strides[nd - 1]) {
                *o -= idx[nd - 1] * s;
            }
            idx[nd - 1] = 0;
            for d in (0..nd - 1).rev() {
                idx[d] += 1;
                for (o, s) in off.iter_mut().zip(self.strides[d]) {
                    *o += s;
                }
                if idx[d] < self.dims[d] {
                    break;
                }
                for (o, s) in off.iter_mut().zip(self.strides[d]) {
                    *o -= self.dims[d] * s;
                }
                idx[d] = 0;
            }
        }
    }
}

/// Side of the square tiles of [`Tiles`].
const TILE: usize = 32;

/// A transposing walk in square tiles: the destination (operand 0) is contiguous along the inner
/// dim while an input is contiguous along another dim (`x.t().contiguous()`, `a + b.t()`). Going
/// row by row would read that input one element per cache line; a `TILE x TILE` tile of the two
/// dims reads and writes whole lines that stay in L1.
pub(crate) struct Tiles<const N: usize> {
    /// The other dims: one tile grid per element.
    outer: Walk<N>,
    rows: usize,
    cols: usize,
    row_stride: [usize; N],
    col_stride: [usize; N],
}

impl<const N: usize> Walk<N> {
    /// The tiling of this walk, when an input is contiguous along a dim other than the
    /// destination's inner one and both dims are long enough to matter.
    pub(crate) fn tiles(&self) -> Option<Tiles<N>> {
        let nd = self.dims.len();
        let inner = self.inner();
        if nd < 2 || self.numel == 0 || inner[0] != 1 || self.dims[nd - 1] < 8 {
            return None;
        }
        let k = (1..N).find(|&k| inner[k] > 1)?;
        let d = (0..nd - 1).find(|&d| self.strides[d][k] == 1 && self.dims[d] >= 8)?;
        let mut dims: Vec<usize> = Vec::with_capacity(nd);
        let mut strides: Vec<[usize; N]> = Vec::with_capacity(nd);
        for e in (0..nd - 1).filter(|&e| e != d) {
            dims.push(self.dims[e]);
            strides.push(self.strides[e]);
        }
        if dims.is_empty() {
            dims.push(1);
            strides.push([0; N]);
        }
        Some(Tiles {
            outer: Walk {
                numel: dims.iter().product(),
                dims,
                strides,
                base: self.base,
            },
            rows: self.dims[d],
            cols: self.dims[nd - 1],
            row_stride: self.strides[d],
            col_stride: inner,
        })
    }
}

impl<const N: usize> Tiles<N> {
    /// Independent work items: one band of `TILE` rows of one tile grid each.
    pub(crate) fn items(&self) -> usize {
        self.outer.numel * self.rows.div_ceil(TILE)
    }

    /// Strides of the inner (column) dim; the destination's is 1.
    pub(crate) fn col_stride(&self) -> [usize; N] {
        self.col_stride
    }

    /// Calls `f(offsets, len)` for each row segment of work item `item`, tile by tile: the
    /// elements at `offsets + c * col_stride()` for `c < len`.
    pub(crate) fn item(&self, item: usize, mut f: impl FnMut([usize; N], usize)) {
        let bands = self.rows.div_ceil(TILE);
        let (o, band) = (item / bands, item % bands);
        let mut base = self.outer.base;
        self.outer.runs(o, o + 1, |off, _| base = off);
        let (r0, r1) = (band * TILE, ((band + 1) * TILE).min(self.rows));
        for c0 in (0..self.cols).step_by(TILE) {
            let c1 = (c0 + TILE).min(self.cols);
            for r in r0..r1 {
                f(
                    std::array::from_fn(|k| {
                        base[k] + r * self.row_stride[k] + c0 * self.col_stride[k]
                    }),
                    c1 - c0,
                );
            }
        }
    }

    /// Runs every item, in parallel unless small or `serial`.
    pub(crate) fn run(&self, serial: bool, f: impl Fn([usize; N], usize) + Sync) {
        let items = self.items();
        let threads = rayon::current_num_threads();
        if serial || threads <= 1 || self.outer.numel * self.rows * self.cols < PAR_THRESHOLD {
            (0..items).for_each(|i| self.item(i, &f));
        } else {
            (0..items).into_par_iter().for_each(|i| self.item(i, &f));
        }
    }
}

/// Calls `f(start, end)` over `0..numel`: once on this thread when small or `serial`, else in
/// parallel chunks (multiples of 64 elements, at least [`MIN_CHUNK`]).
pub(crate) fn par_ranges(numel: usize, serial: bool, f: impl Fn(usize, usize) + Sync) {
    let threads = rayon::current_num_threads();
    if serial || numel < PAR_THRESHOLD || threads <= 1 {
        f(0, numel);
        return;
    }
    let chunks = (numel / MIN_CHUNK).clamp(1, threads * 4);
    let per = numel.div_ceil(chunks).next_multiple_of(64);
    let chunks = numel.div_ceil(per);
    (0..chunks)
        .into_par_iter()
        .for_each(|c| f(c * per, ((c + 1) * per).min(numel)));
}

/// Calls `f(i, chunk)` for the `size`-element chunks of `data` in order (the last may be
/// shorter): on all threads when `parallel`, else one after the other on this one.
pub(crate) fn for_each_chunk<T: Send>(
    data: &mut [T],
    size: usize,
    parallel: bool,
    f: impl Fn(usize, &mut [T]) + Sync + Send,
) {
    if parallel {
        data.par_chunks_mut(size)
            .enumerate()
            .for_each(|(i, chunk)| f(i, chunk));
    } else {
        for (i, chunk) in data.chunks_mut(size).enumerate() {
            f(i, chunk);
        }
    }
}

/// A raw pointer that may cross threads: parallel chunks write disjoint elements through it.
pub(crate) struct SendPtr<T>(*mut T);

impl<T> Clone for SendPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for SendPtr<T> {}
// SAFETY: only used to write disjoint elements from parallel chunks (see `par_ranges` callers).
unsafe impl<T: Send> Send for SendPtr<T> {}
unsafe impl<T: Send> Sync for SendPtr<T> {}

impl<T> SendPtr<T> {
    pub(crate) fn new(slice: &mut [T]) -> Self {
        SendPtr(slice.as_mut_ptr())
    }

    /// The pointer (a method, so that closures capture the `Send` wrapper, not the field).
    #[inline(always)]
    pub(crate) fn get(self) -> *mut T {
        self.0
    }
}

// The checks every backend makes before it walks a layout, shared through the core crate.
pub(crate) use tiny_torch_core::{check_extent, check_same_dims as same_dims};

/// Whether no two elements of `layout` share a storage slot (so parallel writes are disjoint).
/// Conservative: sorts dims by stride and requires each stride to clear the inner dims' span.
pub(crate) fn non_overlapping(layout: &Layout) -> bool {
    let mut dims: Vec<(usize, usize)> = layout
        .strides()
        .iter()
        .copied()
        .zip(layout.dims().iter().copied())
        .filter(|&(_, n)| n > 1)
        .collect();
    dims.sort_unstable();
    let mut span = 1usize;
    for (stride, n) in dims {
        if stride < span {
            return false;
        }
        span = stride.saturating_mul(n - 1).saturating_add(span);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect<const N: usize>(w: &Walk<N>, start: usize, end: usize) -> Vec<[usize; N]> {
        let inner = w.inner();
        let mut out = Vec::new();
        w.runs(start, end, |off, len| {
            for i in 0..len {
                out.push(std::array::from_fn(|k| off[k] + i * inner[k]));
            }
        });
        out
    }

    #[test]
    fn walks_match_layout_offsets_for_any_range() {
        let base = Layout::contiguous([3, 4, 5]);
        let cases = [
            base.clone(),
            base.permute(&[2, 0, 1]).unwrap(),
            base.slice(2, 1, 5, 2).unwrap(),
            Layout::contiguous([4, 1]).expand(&[3, 4, 5]).unwrap(),
            Layout::new([3, 4, 5], vec![0, 0, 0], 7).unwrap(),
        ];
        for l in &cases {
            let want: Vec<usize> = l.offsets().collect();
            let c = Layout::contiguous(l.dims().to_vec());
            let w = Walk::new([l, &c]);
            let n = want.len();
            for (start, end) in [(0, n), (3, 17), (7, 8), (n - 1, n), (0, 0)] {
                let got = collect(&w, start, end);
                let expect: Vec<[usize; 2]> = (start..end).map(|i| [want[i], i]).collect();
                assert_eq!(got, expect, "{l:?} {start}..{end}");
            }
        }
        // A contiguous layout is one run.
        let w = Walk::new([&base]);
        assert_eq!(w.inner(), [1]);
        let mut runs = 0;
        w.runs(0, 60, |_, _| runs += 1);
        assert_eq!(runs, 1);
        // Zero-dim and empty layouts.
        let s = Layout::contiguous([0usize; 0]);
        assert_eq!(collect(&Walk::new([&s]), 0, 1), vec![[0]]);
        let e = Layout::contiguous([2, 0]);
        assert!(collect(&Walk::new([&e]), 0, 0).is_empty());
    }

    #[test]
    fn tiles_visit_every_element_once() {
        let base = Layout::contiguous([3, 40, 50]);
        let src = base.permute(&[0, 2, 1]).unwrap(); // [3, 50, 40], contiguous along dim 1
        let dst = Layout::contiguous([3, 50, 40]);
        let w = Walk::new([&dst, &src]);
        let tiles = w.tiles().expect("a transpose tiles");
        let mut seen = vec![usize::MAX; 6000];
        for i in 0..tiles.items() {
            let [dc, sc] = tiles.col_stride();
            tiles.item(i, |[d, s], len| {
                for c in 0..len {
                    assert_eq!(seen[d + c * dc], usize::MAX);
                    seen[d + c * dc] = s + c * sc;
                }
            });
        }
        let want: Vec<usize> = src.offsets().collect();
        assert_eq!(seen, want);
        // contiguous and broadcast walks do not tile
        assert!(Walk::new([&dst, &dst]).tiles().is_none());
        let row = Layout::contiguous([40]).expand(&[3, 50, 40]).unwrap();
        assert!(Walk::new([&dst, &row]).tiles().is_none());
    }

    #[test]
    fn overlap_and_extent_checks() {
        let l = Layout::contiguous([3, 4]);
        assert!(non_overlapping(&l));
        assert!(non_overlapping(&l.transpose(0, 1).unwrap()));
        assert!(!non_overlapping(
            &Layout::contiguous([1, 4]).expand(&[3, 4]).unwrap()
        ));
        assert!(check_extent("t", &l, 12).is_ok());
        assert!(check_extent("t", &l, 11).is_err());
        let huge = Layout::new([2, 2], vec![usize::MAX, 1], 0).unwrap();
        assert!(check_extent("t", &huge, 12).is_err());
    }
}
