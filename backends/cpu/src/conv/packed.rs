//! The `f32` convolution on AVX2 + FMA with im2col fused into the GEMM's packing (forward) and
//! col2im fused into its epilogue (input gradient).
//!
//! im2col + a library GEMM writes the whole `[K, L]` column matrix to memory, and the GEMM
//! then reads it back to copy it once more into its own packed panels. Here the columns are
//! written straight into the panels the micro-kernel reads, one cache-sized block at a time,
//! so they are produced in L1/L2 and never travel through main memory:
//!
//! ```text
//! for each (item, group, block of NC output positions):      // parallel tasks
//!     for each block of KC taps:
//!         pack the [KC, NC] columns as strips of NR positions  // im2col, ~KC * NC * 4 bytes
//!         for each block of MC output channels:                // weights, packed once; L2
//!             for each strip of NR positions:                  // stays in L1
//!                 for each strip of MR output channels in the block:
//!                     out[MR, NR] (+)= weights[MR, KC] @ columns[KC, NR]
//! ```
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
use crate::strided::SendPtr;
use rayon::prelude::*;
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Output channels per micro-tile.
const MR: usize = 6;
/// Output positions per micro-tile (two 8-lane vectors).
const NR: usize = 16;
/// Taps per block: one strip of columns (`KC x NR`, 16 KiB) stays in L1.
const KC: usize = 256;
/// Positions per block: the block's columns (`KC x NC`, 256 KiB) stay in L2.
const NC: usize = 256;
/// Output channels per block: the block's weights (`MC x KC`, 96 KiB) stay in L2 while the
/// strips of columns pass.
const MC: usize = 96;
/// A padding tap in a strip's offset table.
const PADDING: i32 = -1;

/// Whether this path can run: the CPU has AVX2 and FMA, and input offsets fit an `i32`.
pub(super) fn available(g: &Geom) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        crate::math::has_avx2_fma() && g.plane() < i32::MAX as usize
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = g;
        false
    }
}

/// Whether an item's output positions fill the micro-tiles' `NR` lanes well (at least three
/// quarters of them): any plane of 256 positions or more, and smaller ones such as 8x8 or 7x7,
/// but not 2x2 or 1x1 (those fold several items into one product instead).
pub(super) fn fills_tiles(g: &Geom) -> bool {
    let l = g.positions();
    4 * l >= 3 * l.next_multiple_of(NR)
}

/// Whether [`forward`] suits the convolution: the positions fill the tiles, and there are
/// tasks (item, group, block of positions) enough for every thread. With fewer (one image
/// through a deep layer), the im2col + GEMM path spreads one product over the threads instead.
pub(super) fn suits_forward(g: &Geom) -> bool {
    fills_tiles(g) && g.n * g.groups() * g.positions().div_ceil(NC) >= rayon::current_num_threads()
}

/// The weights `[O, K]` as strips of `MR` output channels per group: strip `s` of group `gi`
/// holds, tap after tap, the `MR` weights of channels `s * MR..` (zero past the group's last).
fn pack_weights(g: &Geom, w: &[f32]) -> Vec<f32> {
    let (og, k) = (g.og(), g.taps());
    let strips = og.div_ceil(MR);
    let mut packed = vec![0.0; g.groups() * strips * k * MR];
    for gi in 0..g.groups() {
        for o in 0..og {
            let (s, r) = (o / MR, o % MR);
            let row = &w[(gi * og + o) * k..][..k];
            let strip = &mut packed[(gi * strips + s) * k * MR..][..k * MR];
            for (t, &v) in row.iter().enumerate() {
                strip[t * MR + r] = v;
            }
        }
    }
    packed
}

/// How the `NR` positions of a strip read one kernel tap's input.
#[derive(Clone, Copy, PartialEq)]
enum Reads {
    /// Consecutive pixels from the first offset (stride 1, no padding, one output row).
    Consecutive,
    /// Every other pixel from the first offset (stride 2, no padding, one output row).
    EveryOther,
    /// Anything else: padding, a strip across two output rows, other strides.
    Gather,
}

/// For the `NR` positions `first..` of one strip (those past the last are padding) and each
/// kernel tap `(i, j)`: the offset in an input plane each position reads, or [`PADDING`], and
/// how they lie.
#[derive(Clone)]
struct StripTable {
    offsets: Vec<[i32; NR]>,
    reads: Vec<Reads>,
}

impl StripTable {
    fn new(g: &Geom) -> Self {
        let taps = g.kh * g.kw;
        StripTable {
            offsets: vec![[PADDING; NR]; taps],
            reads: vec![Reads::Gather; taps],
        }
    }

    fn fill(&mut self, g: &Geom, first: usize) {
        let [sh, sw] = g.p.stride;
        let [ph, pw] = g.p.padding;
        let [dh, dw] = g.p.dilation;
        let (h, w) = (g.h as i64, g.w as i64);
        // The input pixel tap (0, 0) reads for each position; past the end: far outside.
        let mut y0 = [i64::MIN / 4; NR];
        let mut x0 = [i64::MIN / 4; NR];
        for q in 0..NR.min(g.positions().saturating_sub(first)) {
            let p = first + q;
            y0[q] = ((p / g.ow) * sh) as i64 - ph as i64;
            x0[q] = ((p % g.ow) * sw) as i64 - pw as i64;
        }
        for i in 0..g.kh {
            for j in 0..g.kw {
                let tap = i * g.kw + j;
                let offsets = &mut self.offsets[tap];
                for q in 0..NR {
                    let (y, x) = (y0[q] + (i * dh) as i64, x0[q] + (j * dw) as i64);
                    // Fits an i32: `available` checked the plane's size.
                    offsets[q] = if (0..h).contains(&y) && (0..w).contains(&x) {
                        (y * w + x) as i32
                    } else {
                        PADDING
                    };
                }
                let run = |step: i32| {
                    offsets[0] != PADDING
                        && (0..NR).all(|q| offsets[q] == offsets[0] + step * q as i32)
                };
                self.reads[tap] = if run(1) {
                    Reads::Consecutive
                } else if run(2) && offsets[0] as usize + 2 * NR <= g.plane() {
                    Reads::EveryOther
                } else {
                    Reads::Gather
                };
            }
        }
    }
}

/// Packs taps `k0..k0 + kc` of the strip described by `table` into `strip` (`[kc, NR]`),
/// reading the group's input planes `x` (`[Cg, H, W]`).
///
/// # Safety
/// The CPU must support AVX2 and FMA, and `table` must describe planes of `x`'s geometry.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn pack_strip(
    g: &Geom,
    x: &[f32],
    table: &StripTable,
    k0: usize,
    kc: usize,
    strip: &mut [f32],
) {
    let (taps, plane) = (g.kh * g.kw, g.plane());
    for (kk, dst) in strip[..kc * NR].chunks_exact_mut(NR).enumerate() {
        let (c, tap) = ((k0 + kk) / taps, (k0 + kk) % taps);
        let src = &x[c * plane..(c + 1) * plane];
        let offsets = &table.offsets[tap];
        let (d, first) = (dst.as_mut_ptr(), offsets[0] as usize);
        // SAFETY: every offset read is inside the plane (`fill` checked the bounds, and
        // `EveryOther` runs that 2 * NR elements fit); `dst` holds NR floats.
        unsafe {
            match table.reads[tap] {
                Reads::Consecutive => dst.copy_from_slice(&src[first..first + NR]),
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
unsafe fn pack_strip(_: &Geom, _: &[f32], _: &StripTable, _: usize, _: usize, _: &mut [f32]) {
    unreachable!("`available` is false off x86_64")
}

/// `out [N, O, L] = weight @ im2col(x) (+ bias)`, as the module documentation describes.
/// Callers check [`available`] first.
pub(super) fn forward(g: &Geom, x: &[f32], w: &[f32], bias: Option<&[f32]>, out: &mut [f32]) {
    let (og, k, l) = (g.og(), g.taps(), g.positions());
    let (groups, strips) = (g.groups(), og.div_ceil(MR));
    let x_group = g.cg() * g.plane();
    let weights = pack_weights(g, w);
    let blocks = l.div_ceil(NC);
    let tasks = g.n * groups * blocks;
    let out_ptr = SendPtr::new(out);
    let task = |(tables, panel): &mut (Vec<StripTable>, Vec<f32>), t: usize| {
        let (ig, block) = (t / blocks, t % blocks);
        let (n, gi) = (ig / groups, ig % groups);
        let xg = &x[ig * x_group..(ig + 1) * x_group];
        let (p0, p1) = (block * NC, (block * NC + NC).min(l));
        let block_strips = (p1 - p0).div_ceil(NR);
        // This task's outputs: channels of group `gi`, positions p0..p1 of item `n`.
        let out_base = (n * g.o + gi * og) * l;
        if let Some(bias) = bias {
            for o in 0..og {
                // SAFETY: tasks write disjoint (item, channel, position range) cells of `out`.
                let row = unsafe { out_ptr.get().add(out_base + o * l + p0) };
                for q in 0..p1 - p0 {
                    unsafe { *row.add(q) = bias[gi * og + o] };
                }
            }
        }
        for (s, table) in tables.iter_mut().take(block_strips).enumerate() {
            table.fill(g, p0 + s * NR);
        }
        for k0 in (0..k).step_by(KC) {
            let kc = KC.min(k - k0);
            for (s, table) in tables.iter().take(block_strips).enumerate() {
                // SAFETY: AVX2 + FMA are present (`available`); the table is this geometry's.
                unsafe { pack_strip(g, xg, table, k0, kc, &mut panel[s * KC * NR..]) };
            }
            let accumulate = k0 > 0 || bias.is_some();
            for m0 in (0..strips).step_by(MC / MR) {
                for s in 0..block_strips {
                    let cols = NR.min(p1 - p0 - s * NR);
                    let b = &panel[s * KC * NR..][..kc * NR];
                    for ms in m0..strips.min(m0 + MC / MR) {
                        let rows = MR.min(og - ms * MR);
                        let a = &weights[((gi * strips + ms) * k + k0) * MR..][..kc * MR];
                        let c = out_base + ms * MR * l + p0 + s * NR;
                        // SAFETY: AVX2 + FMA are present (`available`); the tile's `rows x cols`
                        // cells lie inside this task's part of `out`, rows `l` apart.
                        unsafe {
                            tile(kc, a, b, out_ptr.get().add(c), l, rows, cols, accumulate);
                        }
                    }
                }
            }
        }
    };
    let init = || {
        let strips = NC.div_ceil(NR);
        (
            vec![StripTable::new(g); strips],
            vec![0.0f32; strips * KC * NR],
        )
    };
    if g.macs() >= super::PAR_MACS && rayon::current_num_threads() > 1 {
        (0..tasks).into_par_iter().for_each_init(init, task);
    } else {
        let mut scratch = init();
        (0..tasks).for_each(|t| task(&mut scratch, t));
    }
}

/// The transposed weights `[K, Og]` of each group as strips of `MR` taps: strip `s` of group
/// `gi` holds, output channel after output channel, the weights of taps `s * MR..` (zero past
/// the last tap).
fn pack_weights_transposed(g: &Geom, w: &[f32]) -> Vec<f32> {
    let (og, k) = (g.og(), g.taps());
    let strips = k.div_ceil(MR);
    let mut packed = vec![0.0; g.groups() * strips * og * MR];
    for gi in 0..g.groups() {
        for o in 0..og {
            let row = &w[(gi * og + o) * k..][..k];
            for (t, &v) in row.iter().enumerate() {
                let (s, r) = (t / MR, t % MR);
                packed[((gi * strips + s) * og + o) * MR + r] = v;
            }
        }
    }
    packed
}

/// Whether [`backward_input`] suits the convolution: the positions fill the tiles, there are
/// (item, group) pairs enough to keep every thread busy (each pair is one task), and either
/// each tile sums over 256 output channels or more, or the planes are small (where im2col +
/// GEMM would fold items together). With fewer channels, the tile's scattered additions onto
/// the input cost more than the column matrix they save: A/B runs of `conv_bench` had the
/// GEMM + col2im path 5-10 % faster for 64 and 128 channels, this one 30-45 % faster for 256
/// channels on 8x8 and 512 on 4x4.
pub(super) fn suits_backward_input(g: &Geom) -> bool {
    fills_tiles(g)
        && g.n * g.groups() >= rayon::current_num_threads()
        && (g.og() >= 256 || g.positions() < super::FOLD_POSITIONS)
}

/// `dx [N, C, H, W] = col2im(weightᵀ @ dy)`, with col2im fused into the micro-kernel's
/// epilogue: each `MR x NR` tile of the column gradient (taps x positions) is added straight
/// onto the input pixels its taps read, through the same strip tables as the forward. One task
/// per (item, group) owns its part of `dx`, so the additions need no synchronisation and run in
/// a fixed order. The sum over output channels is not split into blocks: it completes in the
/// registers before the tile is added. Callers check [`available`] first.
pub(super) fn backward_input(g: &Geom, dy: &[f32], w: &[f32], dx: &mut [f32]) {
    let (og, k, l) = (g.og(), g.taps(), g.positions());
    let (groups, tap_strips) = (g.groups(), k.div_ceil(MR));
    let (taps, plane, x_group) = (g.kh * g.kw, g.plane(), g.cg() * g.plane());
    let weights = pack_weights_transposed(g, w);
    // Strips of dy per block: the block (`og x NR` each) within about 256 KiB.
    let block_strips = ((256 << 10) / (og * NR * 4)).clamp(1, NC / NR);
    // Taps per block: their weights (`og x MR` per strip) within about 128 KiB.
    let mc_strips = ((128 << 10) / (og * MR * 4)).max(1);
    let task = |(tables, panel): &mut (Vec<StripTable>, Vec<f32>), ig: usize, dxg: &mut [f32]| {
        let (n, gi) = (ig / groups, ig % groups);
        dxg.fill(0.0);
        let dy_group = &dy[(n * g.o + gi * og) * l..][..og * l];
        for p0 in (0..l).step_by(block_strips * NR) {
            let strips = (l - p0).div_ceil(NR).min(block_strips);
            for (s, table) in tables.iter_mut().take(strips).enumerate() {
                table.fill(g, p0 + s * NR);
                let first = p0 + s * NR;
                let cols = NR.min(l - first);
                let strip = &mut panel[s * og * NR..][..og * NR];
                for (o, dst) in strip.chunks_exact_mut(NR).enumerate() {
                    dst[..cols].copy_from_slice(&dy_group[o * l + first..][..cols]);
                    dst[cols..].fill(0.0);
                }
            }
            for m0 in (0..tap_strips).step_by(mc_strips) {
                for (s, table) in tables.iter().take(strips).enumerate() {
                    let cols = NR.min(l - p0 - s * NR);
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
                            let dst = &mut dxg[c * plane..(c + 1) * plane];
                            let offsets = &table.offsets[tap];
                            if table.reads[tap] == Reads::Consecutive && cols == NR {
                                let o = offsets[0] as usize;
                                for (d, &v) in dst[o..o + NR].iter_mut().zip(row) {
                                    *d += v;
                                }
                            } else {
                                for (&o, &v) in offsets.iter().zip(row).take(cols) {
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
        let strips = block_strips;
        (
            vec![StripTable::new(g); strips],
            vec![0.0f32; strips * og * NR],
        )
    };
    if g.macs() >= super::PAR_MACS && rayon::current_num_threads() > 1 {
        dx.par_chunks_mut(x_group)
            .enumerate()
            .for_each_init(init, |scratch, (ig, dxg)| task(scratch, ig, dxg));
    } else {
        let mut scratch = init();
        for (ig, dxg) in dx.chunks_mut(x_group).enumerate() {
            task(&mut scratch, ig, dxg);
        }
    }
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
unsafe fn tile(
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
unsafe fn tile(_: usize, _: &[f32], _: &[f32], _: *mut f32, _: usize, _: usize, _: usize, _: bool) {
    unreachable!("`available` is false off x86_64")
}
