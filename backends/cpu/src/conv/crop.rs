//! Kernel taps that read only padding. On small planes a kernel can hang over the padding at
//! every output position: a 3x3 "same" convolution of a 1x1 plane (the last stage of a ResNet
//! on 32x32 images) reads the input through its centre tap only, and a 3x3 stride-2 one from a
//! 2x2 plane through four taps of nine. The other taps multiply zeros in the forward pass and
//! the input gradient, and their weight gradient is zero. So the convolution runs with its
//! kernel cropped to the rows and columns of taps that read the input somewhere, the padding
//! reduced to match (as oneDNN does): 9x less work for that 1x1 plane.
//!
//! The cropped kernel is a copy of the live taps (and the weight gradient is scattered back
//! from one), which reads the whole weight: it pays off only when each weight element saves
//! enough multiply-adds ([`MIN_SAVED_MACS`]).

use super::Geom;
use crate::num::Real;
use crate::storage::{CpuStorage, Native, alloc_typed};
use crate::strided::{PAR_THRESHOLD, for_each_chunk};
use std::ops::Range;
use tiny_torch_core::Result;

/// Crop when the multiply-adds saved per weight element (`N * L * dead taps / taps`) are at
/// least this many. Measured on ResNet-18's last stage at 32x32, batch 32, 2 threads: the 3x3
/// layers on 1x1 planes (28 saved per element) ran 1.4-2x faster in all three passes, the
/// stride-2 one from 2x2 planes (18) 1.1-1.3x slower in the forward and input gradient.
const MIN_SAVED_MACS: usize = 24;

/// The live part of a kernel: rows `rows` and columns `cols` of the `[kh, kw]` taps.
pub(super) struct Crop {
    pub(super) rows: Range<usize>,
    pub(super) cols: Range<usize>,
}

/// The taps `lo..hi` of one spatial dim that read the input at some output position (those
/// outside read only padding), or `None` when none does or when cropping the low taps would
/// need negative padding.
fn live_taps(g: &Geom, dim: usize) -> Option<Range<usize>> {
    let (input, outputs, kernel) = match dim {
        0 => (g.h, g.oh, g.kh),
        _ => (g.w, g.ow, g.kw),
    };
    let (s, p, d) = (g.p.stride[dim], g.p.padding[dim], g.p.dilation[dim]);
    // Tap `k` reads `o * s + k * d - p` at output `o`: inside `0..input` for some `o`?
    let reads_input = |k: usize| {
        let (lo, hi) = super::im2col::inside(outputs, s, k * d, p, input);
        lo < hi
    };
    let lo = (0..kernel).find(|&k| reads_input(k))?;
    let hi = (lo..kernel).rfind(|&k| reads_input(k))? + 1;
    (lo * d <= p).then_some(lo..hi)
}

impl Geom {
    /// [`Geom::cropped`] when the crop pays off ([`MIN_SAVED_MACS`]).
    pub(super) fn cropped_if_faster(&self) -> Option<(Geom, Crop)> {
        self.cropped()
            .filter(|(live, _)| self.crop_saves_enough(live))
    }

    /// Whether running `live`, cropped from this convolution, saves [`MIN_SAVED_MACS`] per
    /// weight element.
    pub(super) fn crop_saves_enough(&self, live: &Geom) -> bool {
        let (taps, live_taps) = (self.kh * self.kw, live.kh * live.kw);
        let saved = self.n * self.positions() * (taps - live_taps) / taps.max(1);
        saved >= MIN_SAVED_MACS
    }

    /// This convolution with its kernel cropped to the taps that read the input, and the crop;
    /// `None` when there is nothing to crop.
    pub(super) fn cropped(&self) -> Option<(Geom, Crop)> {
        let rows = live_taps(self, 0)?;
        let cols = live_taps(self, 1)?;
        if rows.len() == self.kh && cols.len() == self.kw {
            return None;
        }
        let [dh, dw] = self.p.dilation;
        let mut g = *self;
        (g.kh, g.kw) = (rows.len(), cols.len());
        g.p.padding[0] -= rows.start * dh;
        g.p.padding[1] -= cols.start * dw;
        Some((g, Crop { rows, cols }))
    }
}

impl Crop {
    /// The live taps of `w` (`[O, Cg, kh, kw]` of `g`, the uncropped geometry), as a new
    /// contiguous `[O, Cg, rows, cols]` storage.
    pub(super) fn live_weight<C: Native>(&self, g: &Geom, w: &[C]) -> Result<CpuStorage> {
        let mut live = alloc_typed::<C>(self.weight_len(g))?;
        self.weight(g, w, live.data_mut::<C>("conv2d")?);
        Ok(live)
    }

    /// The live taps of `w` into `into` (see [`Crop::live_weight`]).
    fn weight<C: Copy + Send + Sync>(&self, g: &Geom, w: &[C], into: &mut [C]) {
        let (full, live) = (g.kh * g.kw, self.rows.len() * self.cols.len());
        let per_channel = g.cg() * live;
        let channel = |o: usize, dst: &mut [C]| {
            let kernels = w[o * g.cg() * full..(o + 1) * g.cg() * full].chunks_exact(full);
            for (kernel, dst) in kernels.zip(dst.chunks_exact_mut(live)) {
                let taps = self.rows.clone().flat_map(|i| {
                    let row = &kernel[i * g.kw..(i + 1) * g.kw];
                    row[self.cols.clone()].iter()
                });
                for (d, &v) in dst.iter_mut().zip(taps) {
                    *d = v;
                }
            }
        };
        for_each_chunk(into, per_channel, w.len() >= PAR_THRESHOLD, channel);
    }

    /// The weight gradient of `g` (uncropped) from that of its cropped kernel, `dw_live`
    /// (`[O, Cg, rows, cols]`): zero for the taps that read only padding.
    pub(super) fn weight_grad<C: Real>(&self, g: &Geom, dw_live: &[C], dw: &mut [C]) {
        let (full, live_taps) = (g.kh * g.kw, self.rows.len() * self.cols.len());
        let kernel = |k: usize, kernel: &mut [C]| {
            kernel.fill(C::ZERO);
            let mut live = dw_live[k * live_taps..(k + 1) * live_taps].iter();
            for i in self.rows.clone() {
                for (d, &v) in kernel[i * g.kw..(i + 1) * g.kw][self.cols.clone()]
                    .iter_mut()
                    .zip(live.by_ref())
                {
                    *d = v;
                }
            }
        };
        let parallel = dw.len() >= PAR_THRESHOLD;
        for_each_chunk(dw, full, parallel, kernel);
    }

    /// Elements of the cropped `[O, Cg, rows, cols]` kernel of `g` (uncropped).
    pub(super) fn weight_len(&self, g: &Geom) -> usize {
        g.o * g.cg() * self.rows.len() * self.cols.len()
    }
}
