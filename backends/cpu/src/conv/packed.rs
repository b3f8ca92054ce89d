//! The `f32` convolution on AVX2 + FMA with im2col fused into the GEMM's packing (forward) and
//! col2im fused into its epilogue (input gradient).
//!
//! im2col + a library GEMM writes the whole `[K, L]` column matrix to memory, and the GEMM
//! then reads it back to copy it once more into its own packed panels. Here the columns are
//! written straight into the panels the micro-kernel reads, one cache-sized block at a time,
//! so they are produced in L1/L2 and never travel through main memory:
//!
//! ```text
//! for each (group, block of about NC output positions):      // parallel tasks
//!     for each block of KC taps:
//!         pack the [KC, NC] columns as strips of NR positions  // im2col, ~KC * NC * 4 bytes
//!         for each block of MC output channels:                // weights, packed once; L2
//!             for each strip of NR positions:                  // stays in L1
//!                 for each strip of MR output channels in the block:
//!                     out[MR, NR] (+)= weights[MR, KC] @ columns[KC, NR]
//! ```
//!
//! The output positions of all batch items are numbered one after the other, and strips of
//! `NR` run across items where a plane ends mid-strip ([`StripTable`]): a 7x7 plane (49
//! positions) alone would leave a quarter of the lanes of its last strip idle.
//!
//! The micro-kernel keeps an `MR x NR = 6 x 16` output tile in twelve 8-lane registers: per tap
//! it loads two vectors of columns and broadcasts six weights (12 fused multiply-adds). The
//! output positions are the vector lanes, so each tile row is stored contiguously in the
//! `[O, Ho * Wo]` output.
//!
//! The input gradient runs the same micro-kernel on the transposed weights and `dy`, and
//! instead of writing the column gradient to memory for col2im, adds each finished tile onto the
//! input pixels its taps read ([`backward_input`]).
//!
//! Each output is a sum over taps in a fixed order (KC blocks in order, taps in order inside a
//! block): the result does not depend on the thread count or scheduling.

use super::Geom;
use crate::storage::{CpuStorage, alloc_typed};
use crate::strided::SendPtr;
use rayon::prelude::*;
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;
use tiny_torch_core::Result;

/// Output channels per micro-tile.
pub(super) const MR: usize = 6;
/// Output positions per micro-tile (two 8-lane vectors).
pub(super) const NR: usize = 16;
/// Taps per block: one strip of columns (`KC x NR`, 16 KiB) stays in L1.
const KC: usize = 256;
/// Positions per block: the block's columns (`KC x NC`, 256 KiB) stay in L2.
const NC: usize = 256;
/// Output channels per block: the block's weights (`MC x KC`, 96 KiB) stay in L2 while the
/// strips of columns pass.
const MC: usize = 96;
/// A padding tap in a strip's offset table.
const PADDING: i32 = -1;

/// Whether this path can run: the CPU has AVX2 and FMA, and the input offsets of one batch item
/// fit an `i32` (the gather instructions' index type).
pub(super) fn available(g: &Geom) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        crate::math::has_avx2_fma() && item_len(g) < i32::MAX as usize
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = g;
        false
    }
}

/// Elements of one batch item of the input (`C * H * W`).
fn item_len(g: &Geom) -> usize {
    g.c * g.plane()
}

/// How many consecutive batch items one run of positions may span: their input offsets must
/// fit an `i32` ([`available`] checked that one item's do).
fn items_per_offset_range(g: &Geom) -> usize {
    (i32::MAX as usize / item_len(g).max(1)).max(1)
}

/// Whether an item's output positions fill the micro-tiles' `NR` lanes well on their own (at
/// least three quarters of them): any plane of 256 positions or more, and smaller ones such as
/// 8x8, 7x7 or 4x4, but not 3x3, 2x2 or 1x1. On those, im2col + GEMM with the items folded into
/// one product stays faster: letting this path take them (strips across many items) made a
/// ResNet-18 step at 32x32 (planes down to 1x1) 20-25 % slower.
pub(super) fn fills_tiles(g: &Geom) -> bool {
    let l = g.positions();
    4 * l >= 3 * l.next_multiple_of(NR)
}

/// Whether [`forward`] suits the convolution: the positions fill the tiles, and there are
/// strips of positions enough for every thread. With fewer (one small image through a deep
/// layer), the im2col + GEMM path spreads one product over the threads instead.
pub(super) fn suits_forward(g: &Geom) -> bool {
    fills_tiles(g) && g.n * g.positions() >= NR * rayon::current_num_threads()
}

/// The weights `[O, K]` as strips of `MR` output channels per group: strip `s` of group `gi`
/// holds, tap after tap, the `MR` weights of channels `s * MR..` (zero past the group's last).
fn pack_weights(g: &Geom, w: &[f32]) -> Result<CpuStorage> {
    let (og, k) = (g.og(), g.taps());
    let strips = og.div_ceil(MR);
    pack_in_parallel(g, g.groups() * strips, k * MR, |i, strip| {
        let (gi, s) = (i / strips, i % strips);
        for (t, taps) in strip.chunks_exact_mut(MR).enumerate() {
            for (r, v) in taps.iter_mut().enumerate() {
                let o = s * MR + r;
                *v = if o < og {
                    w[(gi * og + o) * k + t]
                } else {
                    0.0
                };
            }
        }
    })
}

/// A buffer of `chunks` chunks of `len` floats from the caching allocator, chunk `i` written by
/// `fill(i, chunk)` (every element of it): in parallel for convolutions big enough to run in
/// parallel, where packing the weights on one thread left the others idle for 5-10 % of a
/// 512-channel 3x3 convolution on 7x7 planes.
pub(super) fn pack_in_parallel(
    g: &Geom,
    chunks: usize,
    len: usize,
    fill: impl Fn(usize, &mut [f32]) + Sync,
) -> Result<CpuStorage> {
    let mut packed = alloc_typed::<f32>(chunks * len)?;
    let data = packed.data_mut::<f32>("conv2d")?;
    if len == 0 {
        return Ok(packed);
    }
    if g.macs() >= super::PAR_MACS && rayon::current_num_threads() > 1 {
        data.par_chunks_mut(len)
            .enumerate()
            .for_each(|(i, chunk)| fill(i, chunk));
    } else {
        data.chunks_mut(len)
            .enumerate()
            .for_each(|(i, chunk)| fill(i, chunk));
    }
    Ok(packed)
}

/// How the `NR` positions of a strip read one kernel tap's input.
#[derive(Clone, Copy, PartialEq)]
enum Reads {
    /// Consecutive pixels from the first offset (stride 1, no padding, one output row).
    Consecutive,
    /// Every other pixel from the first offset (stride 2, no padding, one output row).
    EveryOther,
    /// Stride 1 with padding lanes, or across two rows or two items: lane `q` reads pixel
    /// `anchors[0] + q` below lane `split` and `anchors[1] + q` from it on, except the padding
    /// lanes (zero). A padded 3x3 layer whose output plane is as wide as its input ("same")
    /// reads one run even across rows, so each tap is two masked loads rather than two gathers.
    Runs { anchors: [i32; 2], split: usize },
    /// Every lane reads padding.
    Padding,
    /// Anything else: other strides, or more than two runs.
    Gather,
}

impl Reads {
    /// How the strip reads a tap whose per-lane `offsets` are not one run of consecutive or
    /// every-other pixels: as at most two runs with padding lanes between or around them,
    /// else by a gather.
    fn runs_or_gather(offsets: &[i32; NR]) -> Reads {
        let (mut anchors, mut found, mut split) = ([0i32; 2], 0, NR);
        for (q, &o) in offsets.iter().enumerate() {
            if o == PADDING {
                continue;
            }
            let anchor = o - q as i32;
            if found > 0 && anchor == anchors[found - 1] {
                continue;
            }
            if found == 2 {
                return Reads::Gather;
            }
            if found == 1 {
                split = q;
            }
            anchors[found] = anchor;
            found += 1;
        }
        match found {
            0 => Reads::Padding,
            1 => Reads::Runs {
                anchors: [anchors[0]; 2],
                split: NR,
            },
            _ => Reads::Runs { anchors, split },
        }
    }
}

/// One strip of `NR` output positions of a run of consecutive batch items. The positions of a
/// run are numbered item after item (`item * L + position in the plane`), so a strip may end in
/// one item and go on in the next: planes of 7x7 or 14x14 positions, which are not multiples
/// of 16, still fill every vector lane.
#[derive(Clone)]
struct StripTable {
    /// Per kernel tap `(i, j)`: the input offset each position reads, counted from the start of
    /// its channel's plane in the run's first item (`item * C * H * W + pixel`), or [`PADDING`].
    offsets: Vec<[i32; NR]>,
    reads: Vec<Reads>,
    /// Per position of the strip: its item within the run, and its position in that plane.
    item: [usize; NR],
    local: [usize; NR],
    /// How many of the `NR` positions exist (the run's last strip may be short).
    cols: usize,
}

impl StripTable {
    fn new(g: &Geom) -> Self {
        let taps = g.kh * g.kw;
        StripTable {
            offsets: vec![[PADDING; NR]; taps],
            reads: vec![Reads::Gather; taps],
            item: [0; NR],
            local: [0; NR],
            cols: 0,
        }
    }

    /// Whether all `NR` positions exist and lie in one item (so they are consecutive in its
    /// plane, and in the output).
    fn within_one_item(&self) -> bool {
        self.cols == NR && self.item[0] == self.item[NR - 1]
    }

    /// Describes positions `first..first + NR` of a run of `total` positions (those past the
    /// end are padding).
    fn fill(&mut self, g: &Geom, first: usize, total: usize) {
        let [sh, sw] = g.p.stride;
        let [ph, pw] = g.p.padding;
        let [dh, dw] = g.p.dilation;
        let (h, w, l) = (g.h as i64, g.w as i64, g.positions());
        self.cols = NR.min(total.saturating_sub(first));
        // Per position: its item's offset, and the input pixel tap (0, 0) reads (far outside
        // the plane past the run's end).
        let mut base = [0i64; NR];
        let mut y0 = [i64::MIN / 4; NR];
        let mut x0 = [i64::MIN / 4; NR];
        for q in 0..self.cols {
            let (item, local) = ((first + q) / l, (first + q) % l);
            (self.item[q], self.local[q]) = (item, local);
            base[q] = (item * item_len(g)) as i64;
            y0[q] = ((local / g.ow) * sh) as i64 - ph as i64;
            x0[q] = ((local % g.ow) * sw) as i64 - pw as i64;
        }
        let one_item = self.within_one_item();
        // All positions in one output row of one item (the common case): each tap then reads
        // one input row, at offsets `sw` apart unless the row or an end lies in the padding.
        // Worked out per tap rather than per position: for the 7x7 stem (49 taps, 3 channels)
        // the general loop below took a quarter of the forward's time.
        let one_row = one_item && self.local[0] % g.ow + NR <= g.ow;
        for i in 0..g.kh {
            for j in 0..g.kw {
                let tap = i * g.kw + j;
                let offsets = &mut self.offsets[tap];
                if one_row {
                    let y = y0[0] + (i * dh) as i64;
                    let x_first = x0[0] + (j * dw) as i64;
                    let x_last = x0[NR - 1] + (j * dw) as i64;
                    if !(0..h).contains(&y) {
                        *offsets = [PADDING; NR];
                        self.reads[tap] = Reads::Padding;
                        continue;
                    }
                    if x_first >= 0 && x_last < w {
                        let pixel = y * w + x_first;
                        for (q, o) in offsets.iter_mut().enumerate() {
                            *o = (base[0] + pixel + (q * sw) as i64) as i32;
                        }
                        self.reads[tap] = match sw {
                            1 => Reads::Consecutive,
                            2 if pixel as usize + 2 * NR <= g.plane() => Reads::EveryOther,
                            _ => Reads::Gather,
                        };
                        continue;
                    }
                }
                for q in 0..NR {
                    let (y, x) = (y0[q] + (i * dh) as i64, x0[q] + (j * dw) as i64);
                    // Fits an i32: runs span `items_per_offset_range` items at most.
                    offsets[q] = if (0..h).contains(&y) && (0..w).contains(&x) {
                        (base[q] + y * w + x) as i32
                    } else {
                        PADDING
                    };
                }
                let run = |step: i32| {
                    offsets[0] != PADDING
                        && (0..NR).all(|q| offsets[q] == offsets[0] + step * q as i32)
                };
                let pixel = offsets[0] as i64 - base[0];
                self.reads[tap] = if run(1) {
                    Reads::Consecutive
                } else if run(2) && one_item && pixel as usize + 2 * NR <= g.plane() {
                    Reads::EveryOther
                } else {
                    Reads::runs_or_gather(offsets)
                };
            }
        }
    }
}

/// Packs taps `k0..k0 + kc` of the strip described by `table` into `strip` (`[kc, NR]`),
/// reading channels `channel0..` of the run's input `x` (`[items, C, H, W]`).
///
/// # Safety
/// The CPU must support AVX2 and FMA, and `table` must describe a run of `x`'s items.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn pack_strip(
    g: &Geom,
    x: &[f32],
    channel0: usize,
    table: &StripTable,
    k0: usize,
    kc: usize,
    strip: &mut [f32],
) {
    let (taps, plane) = (g.kh * g.kw, g.plane());
    for (kk, dst) in strip[..kc * NR].chunks_exact_mut(NR).enumerate() {
        let (c, tap) = ((k0 + kk) / taps, (k0 + kk) % taps);
        let src = &x[(channel0 + c) * plane..];
        let offsets = &table.offsets[tap];
        let (d, first) = (dst.as_mut_ptr(), offsets[0] as usize);
        // SAFETY: every offset read lies inside the run's input (`fill` checked the bounds,
        // and `EveryOther` runs that 2 * NR elements fit the plane; masked loads and gathers
        // skip the padding lanes, whose addresses are never touched); `dst` holds NR floats.
        unsafe {
            match table.reads[tap] {
                Reads::Consecutive => {
                    // Two vector copies (a slice copy of runtime length calls memmove).
                    let s = src[first..first + NR].as_ptr();
                    _mm256_storeu_ps(d, _mm256_loadu_ps(s));
                    _mm256_storeu_ps(d.add(8), _mm256_loadu_ps(s.add(8)));
                }
                Reads::EveryOther => {
                    let s = src.as_ptr().add(first);
                    for half in 0..2 {
                        let (a, b) = (
                            _mm256_loadu_ps(s.add(16 * half)),
                            _mm256_loadu_ps(s.add(16 * half + 8)),
                        );
                        // [a0 a2 b0 b2 | a4 a6 b4 b6] -> [a0 a2 a4 a6 b0 b2 b4 b6]
                        let evens = _mm256_shuffle_ps::<0b10_00_10_00>(a, b);
                        let ordered =
                            _mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(evens));
                        _mm256_storeu_ps(d.add(8 * half), _mm256_castpd_ps(ordered));
                    }
                }
                Reads::Runs { anchors, split } => {
                    let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
                    for half in 0..2 {
                        let index = _mm256_loadu_si256(offsets.as_ptr().add(8 * half).cast());
                        let inside = _mm256_cmpgt_epi32(index, _mm256_set1_epi32(PADDING));
                        // Lanes below `split` read the first run, the others the second.
                        let first = _mm256_cmpgt_epi32(
                            _mm256_set1_epi32(split as i32 - 8 * half as i32),
                            lane,
                        );
                        // Masked-off lanes are not read, wherever their addresses point.
                        let run = |r: usize, mask: __m256i| {
                            let at = (anchors[r] as isize) + 8 * half as isize;
                            _mm256_maskload_ps(src.as_ptr().wrapping_offset(at), mask)
                        };
                        let v = if split >= 8 * (half + 1) {
                            run(0, inside)
                        } else if split <= 8 * half {
                            run(1, inside)
                        } else {
                            _mm256_or_ps(
                                run(0, _mm256_and_si256(inside, first)),
                                run(1, _mm256_andnot_si256(first, inside)),
                            )
                        };
                        _mm256_storeu_ps(d.add(8 * half), v);
                    }
                }
                Reads::Padding => {
                    _mm256_storeu_ps(d, _mm256_setzero_ps());
                    _mm256_storeu_ps(d.add(8), _mm256_setzero_ps());
                }
                Reads::Gather => {
                    for half in 0..2 {
                        let index = _mm256_loadu_si256(offsets.as_ptr().add(8 * half).cast());
                        // Lanes with offset -1 (padding) keep the zero.
                        let inside = _mm256_cmpgt_epi32(index, _mm256_set1_epi32(PADDING));
                        let v = _mm256_mask_i32gather_ps::<4>(
                            _mm256_setzero_ps(),
                            src.as_ptr(),
                            index,
                            _mm256_castsi256_ps(inside),
                        );
                        _mm256_storeu_ps(d.add(8 * half), v);
                    }
                }
            }
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[allow(clippy::too_many_arguments)]
unsafe fn pack_strip(
    _: &Geom,
    _: &[f32],
    _: usize,
    _: &StripTable,
    _: usize,
    _: usize,
    _: &mut [f32],
) {
    unreachable!("`available` is false off x86_64")
}

/// How many blocks the forward splits a run's strips into: enough that a block's columns stay
/// in L2 (`NC / NR` strips at most), and at least four per thread when the convolution is
/// small, so that a thread slowed by other work on the machine leaves the rest to the others.
/// Blocks differ in size by one strip at most.
fn forward_blocks(run_strips: usize, runs_and_groups: usize) -> usize {
    let wanted = (4 * rayon::current_num_threads()).div_ceil(runs_and_groups.max(1));
    run_strips
        .div_ceil(NC / NR)
        .max(wanted)
        .min(run_strips)
        .max(1)
}

/// `out [N, O, L] = weight @ im2col(x) (+ bias)`, as the module documentation describes, over
/// the positions of all the batch items at once (see [`StripTable`]). Callers check
/// [`available`] first.
pub(super) fn forward(
    g: &Geom,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
) -> Result<()> {
    let (og, k, l) = (g.og(), g.taps(), g.positions());
    let (groups, strips) = (g.groups(), og.div_ceil(MR));
    let weights = pack_weights(g, w)?;
    let weights = weights.data::<f32>("conv2d")?;
    let run_items = items_per_offset_range(g).min(g.n.max(1));
    let runs = g.n.div_ceil(run_items);
    let run_strips = (run_items * l).div_ceil(NR);
    let blocks = forward_blocks(run_strips, runs * groups);
    let block_strips = run_strips.div_ceil(blocks);
    let out_ptr = SendPtr::new(out);
    let task = |(tables, panel): &mut (Vec<StripTable>, Vec<f32>), t: usize| {
        let (rg, block) = (t / blocks, t % blocks);
        let (run, gi) = (rg / groups, rg % groups);
        let n0 = run * run_items;
        let items = run_items.min(g.n - n0);
        let total = items * l;
        // Strips `first_strip..` of this run: block `b` of `blocks` holds strips
        // `b * run_strips / blocks..(b + 1) * run_strips / blocks` (all of them that exist).
        let first_strip = block * run_strips / blocks;
        let end_strip = ((block + 1) * run_strips / blocks).min(total.div_ceil(NR));
        let here = end_strip.saturating_sub(first_strip);
        let x_run = &x[n0 * item_len(g)..(n0 + items) * item_len(g)];
        // Where position `q` of a strip lands in `out`, at output channel 0.
        let out_at = |table: &StripTable, q: usize| (n0 + table.item[q]) * g.o * l + table.local[q];
        for (s, table) in tables.iter_mut().take(here).enumerate() {
            table.fill(g, (first_strip + s) * NR, total);
        }
        if let Some(bias) = bias {
            for table in tables.iter().take(here) {
                for q in 0..table.cols {
                    let channels = gi * og..(gi + 1) * og;
                    for (o, &b) in channels.clone().zip(&bias[channels]) {
                        // SAFETY: tasks write disjoint (item, channel, position) cells of `out`.
                        unsafe { *out_ptr.get().add(out_at(table, q) + o * l) = b };
                    }
                }
            }
        }
        for k0 in (0..k).step_by(KC) {
            let kc = KC.min(k - k0);
            for (s, table) in tables.iter().take(here).enumerate() {
                // SAFETY: AVX2 + FMA are present (`available`); the table describes this run.
                unsafe {
                    pack_strip(
                        g,
                        x_run,
                        gi * g.cg(),
                        table,
                        k0,
                        kc,
                        &mut panel[s * KC * NR..],
                    )
                };
            }
            let accumulate = k0 > 0 || bias.is_some();
            for m0 in (0..strips).step_by(MC / MR) {
                for (s, table) in tables.iter().take(here).enumerate() {
                    let b = &panel[s * KC * NR..][..kc * NR];
                    for ms in m0..strips.min(m0 + MC / MR) {
                        let rows = MR.min(og - ms * MR);
                        let a = &weights[((gi * strips + ms) * k + k0) * MR..][..kc * MR];
                        let row0 = (gi * og + ms * MR) * l;
                        if table.within_one_item() {
                            // SAFETY: AVX2 + FMA are present; the tile's `rows x NR` cells lie
                            // inside this task's part of `out`, rows `l` apart.
                            unsafe {
                                let c = out_ptr.get().add(out_at(table, 0) + row0);
                                tile(kc, a, b, c, l, rows, NR, accumulate);
                            }
                            continue;
                        }
                        // A strip across two items, or the run's short last one: compute the
                        // tile aside and store the cells that exist one by one.
                        let mut spill = [[0.0f32; NR]; MR];
                        // SAFETY: AVX2 + FMA are present; `spill` is a full MR x NR tile.
                        unsafe { tile(kc, a, b, spill.as_mut_ptr().cast(), NR, MR, NR, false) };
                        for (r, row) in spill.iter().enumerate().take(rows) {
                            for (q, &v) in row.iter().enumerate().take(table.cols) {
                                // SAFETY: a cell of this task's part of `out`, as above.
                                unsafe {
                                    let d = out_ptr.get().add(out_at(table, q) + row0 + r * l);
                                    *d = if accumulate { *d + v } else { v };
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    let tasks = runs * groups * blocks;
    let init = || {
        (
            vec![StripTable::new(g); block_strips],
            vec![0.0f32; block_strips * KC * NR],
        )
    };
    if g.macs() >= super::PAR_MACS && rayon::current_num_threads() > 1 {
        (0..tasks).into_par_iter().for_each_init(init, task);
    } else {
        let mut scratch = init();
        (0..tasks).for_each(|t| task(&mut scratch, t));
    }
    Ok(())
}

/// The transposed weights `[K, Og]` of each group as strips of `MR` taps: strip `s` of group
/// `gi` holds, output channel after output channel, the weights of taps `s * MR..` (zero past
/// the last tap).
fn pack_weights_transposed(g: &Geom, w: &[f32]) -> Result<CpuStorage> {
    let (og, k) = (g.og(), g.taps());
    let strips = k.div_ceil(MR);
    pack_in_parallel(g, g.groups() * strips, og * MR, |i, strip| {
        let (gi, s) = (i / strips, i % strips);
        let taps = s * MR..(s * MR + MR).min(k);
        for (o, dst) in strip.chunks_exact_mut(MR).enumerate() {
            let row = &w[(gi * og + o) * k..][..k];
            dst[..taps.len()].copy_from_slice(&row[taps.clone()]);
            dst[taps.len()..].fill(0.0);
        }
    })
}

/// Batch items per [`backward_input`] task: enough for `NC` positions when planes are small
/// (7x7: four items make 196 positions and fill 98 % of the lanes), but no fewer tasks than
/// threads; one item per task with groups (a task then owns one group of one item).
fn items_per_input_task(g: &Geom) -> usize {
    if g.groups() > 1 {
        return 1;
    }
    let by_threads = g.n.div_ceil(rayon::current_num_threads());
    let by_positions = NC.div_ceil(g.positions().max(1));
    by_threads
        .min(by_positions)
        .min(items_per_offset_range(g))
        .max(1)
}

/// Whether [`backward_input`] suits the convolution: the positions fill the tiles, there are
/// tasks enough to keep every thread busy, and either each tile sums over 256 output channels or more, or the planes are
/// small (where im2col + GEMM would fold items together). With fewer channels, the tile's
/// scattered additions onto the input cost more than the column matrix they save: A/B runs of
/// `conv_bench` had the GEMM + col2im path 5-10 % faster for 64 and 128 channels, this one
/// 30-45 % faster for 256 channels on 8x8 and 512 on 4x4.
pub(super) fn suits_backward_input(g: &Geom) -> bool {
    fills_tiles(g)
        && g.n.div_ceil(items_per_input_task(g)) * g.groups() >= rayon::current_num_threads()
        && (g.og() >= 256 || g.positions() < super::FOLD_POSITIONS)
}

/// `dx [N, C, H, W] = col2im(weightᵀ @ dy)`, with col2im fused into the micro-kernel's
/// epilogue: each `MR x NR` tile of the column gradient (taps x positions) is added straight
/// onto the input pixels its taps read, through the same strip tables as the forward. One task
/// per run of items (or per group of one item) owns its part of `dx`, so the additions need no
/// synchronisation and run in a fixed order. The sum over output channels is not split into
/// blocks: it completes in the registers before the tile is added. Callers check [`available`]
/// first.
pub(super) fn backward_input(g: &Geom, dy: &[f32], w: &[f32], dx: &mut [f32]) -> Result<()> {
    let (og, k, l) = (g.og(), g.taps(), g.positions());
    let (groups, tap_strips) = (g.groups(), k.div_ceil(MR));
    let (taps, plane, x_group) = (g.kh * g.kw, g.plane(), g.cg() * g.plane());
    let weights = pack_weights_transposed(g, w)?;
    let weights = weights.data::<f32>("conv2d_backward_input")?;
    let per = items_per_input_task(g);
    // Strips of dy per block: the block (`og x NR` each) within about 256 KiB.
    let block_strips = ((256 << 10) / (og * NR * 4)).clamp(1, NC / NR);
    // Taps per block: their weights (`og x MR` per strip) within about 128 KiB.
    let mc_strips = ((128 << 10) / (og * MR * 4)).max(1);
    // Task `t` owns `dxg`: items `n0..` whole (`per` > 1, groups of 1), or group `gi` of item
    // `n0` (`per` = 1).
    let task = |(tables, panel): &mut (Vec<StripTable>, Vec<f32>), t: usize, dxg: &mut [f32]| {
        let (n0, gi) = (t * per / groups, t * per % groups);
        let total = dxg.len() / x_group * l;
        dxg.fill(0.0);
        // Where position `q` of a strip is in `dy`, at output channel 0 of the group.
        let dy_at = |table: &StripTable, q: usize| {
            ((n0 + table.item[q]) * g.o + gi * og) * l + table.local[q]
        };
        for p0 in (0..total).step_by(block_strips * NR) {
            let strips = (total - p0).div_ceil(NR).min(block_strips);
            for (s, table) in tables.iter_mut().take(strips).enumerate() {
                table.fill(g, p0 + s * NR, total);
                let strip = &mut panel[s * og * NR..][..og * NR];
                for (o, dst) in strip.chunks_exact_mut(NR).enumerate() {
                    if table.within_one_item() {
                        dst.copy_from_slice(&dy[dy_at(table, 0) + o * l..][..NR]);
                    } else {
                        for (q, d) in dst.iter_mut().enumerate() {
                            *d = if q < table.cols {
                                dy[dy_at(table, q) + o * l]
                            } else {
                                0.0
                            };
                        }
                    }
                }
            }
            for m0 in (0..tap_strips).step_by(mc_strips) {
                for (s, table) in tables.iter().take(strips).enumerate() {
                    let b = &panel[s * og * NR..][..og * NR];
                    for ts in m0..tap_strips.min(m0 + mc_strips) {
                        let a = &weights[(gi * tap_strips + ts) * og * MR..][..og * MR];
                        let mut spill = [[0.0f32; NR]; MR];
                        // SAFETY: AVX2 + FMA are present (`available`); `spill` is a full
                        // MR x NR tile with rows NR apart.
                        unsafe {
                            tile(og, a, b, spill.as_mut_ptr().cast(), NR, MR, NR, false);
                        }
                        for (r, row) in spill.iter().enumerate().take(k - ts * MR) {
                            let (c, tap) = ((ts * MR + r) / taps, (ts * MR + r) % taps);
                            let dst = &mut dxg[c * plane..];
                            let offsets = &table.offsets[tap];
                            if table.reads[tap] == Reads::Consecutive && table.cols == NR {
                                let o = offsets[0] as usize;
                                for (d, &v) in dst[o..o + NR].iter_mut().zip(row) {
                                    *d += v;
                                }
                            } else {
                                for (&o, &v) in offsets.iter().zip(row).take(table.cols) {
                                    if o != PADDING {
                                        dst[o as usize] += v;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    let init = || {
        (
            vec![StripTable::new(g); block_strips],
            vec![0.0f32; block_strips * og * NR],
        )
    };
    let chunk = per * x_group;
    if g.macs() >= super::PAR_MACS && rayon::current_num_threads() > 1 {
        dx.par_chunks_mut(chunk)
            .enumerate()
            .for_each_init(init, |scratch, (t, dxg)| task(scratch, t, dxg));
    } else {
        let mut scratch = init();
        for (t, dxg) in dx.chunks_mut(chunk).enumerate() {
            task(&mut scratch, t, dxg);
        }
    }
    Ok(())
}

/// `c[rows, cols] (+)= a[kc, MR]ᵀ-strip @ b[kc, NR]-strip`: the `MR x NR` micro-kernel, of which
/// the first `rows x cols` cells are stored (`ldc` elements between rows); with `accumulate`,
/// added to what `c` holds.
///
/// # Safety
/// The CPU must support AVX2 and FMA, and `c` must be valid for the `rows x cols` cells.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn tile(
    kc: usize,
    a: &[f32],
    b: &[f32],
    c: *mut f32,
    ldc: usize,
    rows: usize,
    cols: usize,
    accumulate: bool,
) {
    let mut acc = [[_mm256_setzero_ps(); 2]; MR];
    for (ak, bk) in a[..kc * MR]
        .chunks_exact(MR)
        .zip(b[..kc * NR].chunks_exact(NR))
    {
        // SAFETY: `bk` holds NR = 16 floats: two unaligned 8-lane loads.
        let (b0, b1) = unsafe {
            (
                _mm256_loadu_ps(bk.as_ptr()),
                _mm256_loadu_ps(bk.as_ptr().add(8)),
            )
        };
        for (r, acc_r) in acc.iter_mut().enumerate() {
            let ar = _mm256_set1_ps(ak[r]);
            acc_r[0] = _mm256_fmadd_ps(ar, b0, acc_r[0]);
            acc_r[1] = _mm256_fmadd_ps(ar, b1, acc_r[1]);
        }
    }
    if rows == MR && cols == NR {
        for (r, acc_r) in acc.iter().enumerate() {
            // SAFETY: the caller guarantees a full 6 x 16 tile at `c`.
            unsafe {
                let row = c.add(r * ldc);
                let (mut v0, mut v1) = (acc_r[0], acc_r[1]);
                if accumulate {
                    v0 = _mm256_add_ps(_mm256_loadu_ps(row), v0);
                    v1 = _mm256_add_ps(_mm256_loadu_ps(row.add(8)), v1);
                }
                _mm256_storeu_ps(row, v0);
                _mm256_storeu_ps(row.add(8), v1);
            }
        }
        return;
    }
    // An edge tile: spill the registers and store the cells that exist.
    let mut spill = [[0.0f32; NR]; MR];
    for (row, acc_r) in spill.iter_mut().zip(&acc) {
        // SAFETY: each spill row holds 16 floats.
        unsafe {
            _mm256_storeu_ps(row.as_mut_ptr(), acc_r[0]);
            _mm256_storeu_ps(row.as_mut_ptr().add(8), acc_r[1]);
        }
    }
    for (r, row) in spill.iter().enumerate().take(rows) {
        for (q, &v) in row.iter().enumerate().take(cols) {
            // SAFETY: `r < rows`, `q < cols`: inside the caller's tile.
            unsafe {
                let d = c.add(r * ldc + q);
                *d = if accumulate { *d + v } else { v };
            }
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn tile(
    _: usize,
    _: &[f32],
    _: &[f32],
    _: *mut f32,
    _: usize,
    _: usize,
    _: usize,
    _: bool,
) {
    unreachable!("`available` is false off x86_64")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Offsets `anchor + q` for the lanes in `lanes`, padding elsewhere.
    fn run(anchor: i32, lanes: std::ops::Range<usize>, offsets: &mut [i32; NR]) {
        for q in lanes {
            offsets[q] = anchor + q as i32;
        }
    }

    #[test]
    fn lanes_are_read_as_masked_runs_or_gathered() {
        let mut one = [PADDING; NR];
        run(-1, 1..15, &mut one); // padding at both ends of a row
        assert!(matches!(
            Reads::runs_or_gather(&one),
            Reads::Runs {
                anchors: [-1, -1],
                split: NR
            }
        ));
        let mut two = [PADDING; NR];
        run(100, 0..5, &mut two);
        run(37, 6..NR, &mut two); // the next item: another anchor, after a padding lane
        assert!(matches!(
            Reads::runs_or_gather(&two),
            Reads::Runs {
                anchors: [100, 37],
                split: 6
            }
        ));
        let mut three = two;
        run(500, 12..NR, &mut three);
        assert!(Reads::runs_or_gather(&three) == Reads::Gather);
        assert!(Reads::runs_or_gather(&[PADDING; NR]) == Reads::Padding);
        // Stride 2: every lane its own anchor.
        let strided: [i32; NR] = std::array::from_fn(|q| 2 * q as i32);
        assert!(Reads::runs_or_gather(&strided) == Reads::Gather);
    }
}
