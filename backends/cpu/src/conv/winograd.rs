//! 3x3, stride-1 `f32` convolutions by Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray,
//! "Fast Algorithms for Convolutional Neural Networks", 2015), on the forward micro-kernel.
//!
//! A 2x2 tile of outputs of one channel pair `(o, c)` needs 36 multiplies directly. Winograd
//! computes it from the 4x4 input patch `d` under the tile and the 3x3 kernel `g` with 16:
//!
//! ```text
//! y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A        Bᵀ = | 1  0 -1  0 |   G = | 1    0    0  |   Aᵀ = | 1  1  1  0 |
//!                                              | 0  1  1  0 |       | 1/2  1/2  1/2|        | 0  1 -1 -1 |
//!                                              | 0 -1  1  0 |       | 1/2 -1/2  1/2|
//!                                              | 0  1  0 -1 |       | 0    0    1  |
//! ```
//!
//! Summed over input channels, the element-wise product becomes sixteen matrix products, one
//! per point `p` of the 4x4 transform:
//!
//! ```text
//! M[p] [O, tiles] = U[p] [O, C] @ V[p] [C, tiles]      U = G g Gᵀ,  V = Bᵀ d B
//! ```
//!
//! and each output tile is `Aᵀ M A` of its sixteen `M` values: 2.25 times fewer multiply-adds
//! than the direct convolution, for transforms that only add and subtract. The products run on
//! the forward's `MR x NR` micro-kernel ([`packed`]), whose `NR` lanes are sixteen tiles here.
//! The work is split into blocks of strips of tiles (numbered across batch items, like the
//! forward's positions), and each block goes through three steps whose buffers stay in L2:
//!
//! ```text
//! for each block of strips of NR tiles:                     // parallel tasks
//!     for each block of KC input channels:
//!         V[p, strip, c, lane] = Bᵀ d B                     // input transform
//!         for each point p, block of output channels, strip:
//!             M[strip, p, o, lane] (+)= U[p, o, c] @ V[p, strip, c, lane]
//!     out tile = Aᵀ M A (+ bias)                            // output transform
//! ```
//!
//! The input gradient of a stride-1 convolution is itself one, of `dy` with the kernel turned
//! by 180° and its channel axes swapped, padded by `2 - padding` ([`backward_input`]).
//!
//! Rounding: the transforms add at most four terms of `d` (or of `M`), so the result differs
//! from the direct convolution by a small multiple of `f32` rounding of the sum of `|x * w|`
//! (the tests bound it). Each output is summed in a fixed order: the result does not depend
//! on the thread count or scheduling.

use super::Geom;
use super::packed::{self, MR, NR, tile};
use crate::storage::CpuStorage;
use crate::strided::SendPtr;
use rayon::prelude::*;
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;
use tiny_torch_core::{Conv2dParams, Result};

/// Points of the 4x4 transform: one matrix product each.
const POINTS: usize = 16;
/// Input channels per block: a block's transformed input (`POINTS x KC x NR` floats per strip,
/// 128 KiB) stays in L2.
const KC: usize = 128;
/// Floats of products `M` one task keeps (256 KiB): strips per task are chosen to fit.
const PRODUCTS: usize = 64 << 10;
/// Floats of transformed weights `U` that stay in L2 (2 MiB: up to 128 channels in and out).
const WEIGHTS_IN_L2: usize = 512 << 10;
/// Output-channel strips per block of `U[p]`: `MC_STRIPS * MR x KC` weights (48 KiB) stay in
/// L1/L2 while the task's strips pass.
const MC_STRIPS: usize = 16;
/// Fewer input or output channels than this leave the transforms a large share of the work:
/// the direct kernels run those.
const MIN_CHANNELS: usize = 16;
/// Fewer tiles than this leave the weight transform (a few dozen operations per pair of
/// channels, against one multiply-add per tile and point) too large a share: a 256-channel
/// layer on 2x2 planes, batch 32 (32 tiles), was 1.1x slower than the direct kernels; at 128
/// tiles (128 channels on 4x4 planes, batch 32) it is 1.3x faster.
const MIN_TILES: usize = 64;

/// Whether `g` is a 3x3, stride-1, undilated, ungrouped kernel with padding of at most 2 (so
/// that its input gradient is one too, see [`transposed`]).
fn is_3x3_stride_1(g: &Geom) -> bool {
    g.kh == 3
        && g.kw == 3
        && g.p.stride == [1, 1]
        && g.p.dilation == [1, 1]
        && g.groups() == 1
        && g.p.padding.iter().all(|&p| p <= 2)
}

/// Whether the Winograd forward can compute `g`: [`is_3x3_stride_1`], on a CPU with AVX2 + FMA.
pub(super) fn applies(g: &Geom) -> bool {
    is_3x3_stride_1(g) && packed::available(g)
}

/// Whether the Winograd forward suits `g`: it [`applies`], and there are channels and tiles
/// enough to amortize the transforms (and strips of tiles for every thread).
pub(super) fn suits(g: &Geom) -> bool {
    enabled()
        && applies(g)
        && g.c >= MIN_CHANNELS
        && g.o >= MIN_CHANNELS
        && Tiles::new(g).total(g.n) >= MIN_TILES.max(NR * rayon::current_num_threads())
}

/// Whether the Winograd path may run: unless `TINY_TORCH_CONV_WINOGRAD=0` (read once), which
/// leaves every convolution to the direct kernels (to compare them, or to get their rounding).
fn enabled() -> bool {
    static ENABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ENABLED.get_or_init(|| std::env::var("TINY_TORCH_CONV_WINOGRAD").map_or(true, |v| v != "0"))
}

/// The input gradient of `g` as a forward convolution: `dy [N, O, Ho, Wo]` with the weights
/// `[C, O, 3, 3]` turned by 180°, padded by `2 - padding`, gives `dx [N, C, H, W]`. `None`
/// unless [`is_3x3_stride_1`].
pub(super) fn transposed(g: &Geom) -> Option<Geom> {
    if !is_3x3_stride_1(g) {
        return None;
    }
    let p = Conv2dParams {
        padding: [2 - g.p.padding[0], 2 - g.p.padding[1]],
        ..g.p
    };
    let t = Geom::new(
        "conv2d_backward_input",
        g.output_dims(),
        &[g.c, g.o, 3, 3],
        &p,
    )
    .ok()?;
    debug_assert_eq!(t.output_dims(), [g.n, g.c, g.h, g.w]);
    Some(t)
}

/// Whether [`backward_input`] suits `g`: its [`transposed`] convolution suits the forward.
pub(super) fn suits_backward_input(g: &Geom) -> bool {
    transposed(g).is_some_and(|t| suits(&t))
}

/// `out = conv2d(x, w) (+ bias)` for a geometry that the forward [`applies`] to.
pub(super) fn forward(
    g: &Geom,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
) -> Result<()> {
    let u = transform_weights(g, |o, c| &w[(o * g.c + c) * 9..][..9], false)?;
    run(g, x, u.data::<f32>("conv2d")?, bias, out)
}

/// `dx = conv2d_backward_input(dy, w)` for a geometry whose [`transposed`] convolution the
/// forward [`applies`] to.
pub(super) fn backward_input(g: &Geom, dy: &[f32], w: &[f32], dx: &mut [f32]) -> Result<()> {
    let Some(t) = transposed(g) else {
        return Err(tiny_torch_core::Error::invalid(
            "conv2d_backward_input",
            "the Winograd kernels got a geometry they do not apply to",
        ));
    };
    // Output channel `c` of the transposed convolution reads input channel `o` through
    // `w[o, c]` turned by 180°.
    let u = transform_weights(&t, |c, o| &w[(o * g.c + c) * 9..][..9], true)?;
    run(&t, dy, u.data::<f32>("conv2d_backward_input")?, None, dx)
}

/// The 2x2 output tiles of one plane: `th` rows of `tw`, the last row and column cut short
/// when the plane's size is odd.
#[derive(Clone, Copy)]
struct Tiles {
    th: usize,
    tw: usize,
}

impl Tiles {
    fn new(g: &Geom) -> Self {
        Tiles {
            th: g.oh.div_ceil(2),
            tw: g.ow.div_ceil(2),
        }
    }

    fn per_item(&self) -> usize {
        self.th * self.tw
    }

    fn total(&self, items: usize) -> usize {
        items * self.per_item()
    }

    /// `(item, tile row, tile column)` of tile `t`, numbered across items.
    fn at(&self, t: usize) -> (usize, usize, usize) {
        let (n, r) = (t / self.per_item(), t % self.per_item());
        (n, r / self.tw, r % self.tw)
    }
}

/// `U = G g Gᵀ` of every `(o, c)` pair, laid out for the micro-kernel: `[o strip, p, c, MR]`
/// (zero past the last output channel). `kernel(o, c)` gives the 3x3 taps, row-major; `turned`
/// reads them turned by 180°. Computed in `f64`, rounded once.
fn transform_weights<'w>(
    g: &Geom,
    kernel: impl Fn(usize, usize) -> &'w [f32] + Sync,
    turned: bool,
) -> Result<CpuStorage> {
    let (o, c) = (g.o, g.c);
    packed::pack_in_parallel(g, o.div_ceil(MR), POINTS * c * MR, |s, strip| {
        for r in 0..MR {
            let oi = s * MR + r;
            for ci in 0..c {
                let u = if oi < o {
                    let k = kernel(oi, ci);
                    let tap = |i: usize, j: usize| {
                        f64::from(if turned {
                            k[8 - (3 * i + j)]
                        } else {
                            k[3 * i + j]
                        })
                    };
                    filter_transform(tap)
                } else {
                    [0.0; POINTS]
                };
                for (p, &v) in u.iter().enumerate() {
                    strip[(p * c + ci) * MR + r] = v as f32;
                }
            }
        }
    })
}

/// `G g Gᵀ` of one 3x3 kernel, `tap(i, j)` = `g[i][j]`: a 4x4 matrix, row-major.
fn filter_transform(tap: impl Fn(usize, usize) -> f64) -> [f64; POINTS] {
    // Rows of `G g`, then columns of `(G g) Gᵀ`: (a, b, c) -> (a, (a+b+c)/2, (a-b+c)/2, c).
    let spread = |a: f64, b: f64, c: f64| [a, 0.5 * (a + b + c), 0.5 * (a - b + c), c];
    let cols: [[f64; 4]; 3] = std::array::from_fn(|j| spread(tap(0, j), tap(1, j), tap(2, j)));
    let mut u = [0.0; POINTS];
    for i in 0..4 {
        let row = spread(cols[0][i], cols[1][i], cols[2][i]);
        u[4 * i..4 * i + 4].copy_from_slice(&row);
    }
    u
}

/// Per-task buffers: the transformed input `V` of a block of channels, the products `M`, and
/// the rows of one segment of input patches ([`transform_input`]).
struct Scratch {
    v: Vec<f32>,
    m: Vec<f32>,
    rows: RowScratch,
}

/// Runs the Winograd convolution of `g` with transformed weights `u` (see the module docs).
fn run(g: &Geom, x: &[f32], u: &[f32], bias: Option<&[f32]>, out: &mut [f32]) -> Result<()> {
    let tiles = Tiles::new(g);
    let total = tiles.total(g.n);
    let strips = total.div_ceil(NR);
    let o_strips = g.o.div_ceil(MR);
    let o_pad = o_strips * MR;
    let threads = rayon::current_num_threads();
    // Strips per task: their products within `PRODUCTS`, and four tasks per thread or more.
    // Each task reads all of `U`; where it outgrows L2 (256 channels and more: 4 MiB and
    // more), four strips per task (two tasks per thread or more) read it a quarter as often.
    let task_strips = if POINTS * o_pad * g.c > WEIGHTS_IN_L2 {
        4.min(strips.div_ceil(threads))
    } else {
        (PRODUCTS / (POINTS * o_pad * NR))
            .clamp(1, 8)
            .min(strips.div_ceil(4 * threads))
    }
    .max(1);
    let tasks = strips.div_ceil(task_strips);
    let kc_max = KC.min(g.c);
    let out_ptr = SendPtr::new(out);
    let task = |scratch: &mut Scratch, t: usize| {
        let first = t * task_strips;
        let here = task_strips.min(strips - first);
        let (t0, t1) = (first * NR, ((first + here) * NR).min(total));
        for k0 in (0..g.c).step_by(KC) {
            let kc = KC.min(g.c - k0);
            let v = &mut scratch.v[..POINTS * here * kc * NR];
            transform_input(g, tiles, x, (t0, t1), k0..k0 + kc, v, &mut scratch.rows);
            for p in 0..POINTS {
                for m0 in (0..o_strips).step_by(MC_STRIPS) {
                    for s in 0..here {
                        let b = &v[(p * here + s) * kc * NR..][..kc * NR];
                        for ms in m0..o_strips.min(m0 + MC_STRIPS) {
                            let a = &u[((ms * POINTS + p) * g.c + k0) * MR..][..kc * MR];
                            let m = &mut scratch.m[((s * POINTS + p) * o_pad + ms * MR) * NR..];
                            // SAFETY: AVX2 + FMA are present (`applies` checked `available`);
                            // `m` holds a full MR x NR tile, rows NR apart.
                            unsafe { tile(kc, a, b, m.as_mut_ptr(), NR, MR, NR, k0 > 0) };
                        }
                    }
                }
            }
        }
        // SAFETY: AVX2 + FMA are present; this task alone writes its tiles' cells of `out`;
        // `m` holds its products.
        unsafe { transform_output(g, tiles, &scratch.m, (t0, t1), o_pad, bias, out_ptr) };
    };
    let init = || Scratch {
        v: vec![0.0; POINTS * task_strips * kc_max * NR],
        m: vec![0.0; task_strips * POINTS * o_pad * NR],
        rows: RowScratch::new(tiles.tw),
    };
    if g.macs() >= super::PAR_MACS && threads > 1 {
        (0..tasks).into_par_iter().for_each_init(init, task);
    } else {
        let mut scratch = init();
        (0..tasks).for_each(|t| task(&mut scratch, t));
    }
    Ok(())
}

/// The four input rows under one segment of a tile row ([`transform_input`]), staged with the
/// padding as zeros: columns `2 tx - pw..`, `pitch` floats apart.
struct RowScratch {
    staged: Vec<f32>,
}

impl RowScratch {
    fn new(tw: usize) -> Self {
        RowScratch {
            staged: vec![0.0; 4 * pitch(tw.div_ceil(8))],
        }
    }
}

/// Where [`transform_groups`] writes the points of a segment's tiles: `v [p, strip, c, lane]`
/// of the task, channel `ci` of its block of `kc`, lanes `first..first + len`.
struct Lanes<'a> {
    v: &'a mut [f32],
    strips: usize,
    kc: usize,
    ci: usize,
    first: usize,
    len: usize,
}

/// Floats per staged row for `groups` groups of 8 tiles: a group reads 18 pixels from its
/// first, 16 further than the previous group's.
fn pitch(groups: usize) -> usize {
    16 * groups + 2
}

/// Writes `V = Bᵀ d B` of tiles `t0..t1` and input channels `channels` into
/// `v [p, strip, c, lane]` (lane `t - t0`), zero in the lanes past `t1`.
fn transform_input(
    g: &Geom,
    tiles: Tiles,
    x: &[f32],
    (t0, t1): (usize, usize),
    channels: std::ops::Range<usize>,
    v: &mut [f32],
    rows: &mut RowScratch,
) {
    let kc = channels.len();
    let here = v.len() / (POINTS * kc * NR);
    if t1 - t0 < here * NR {
        v.fill(0.0);
    }
    let mut t = t0;
    while t < t1 {
        // A segment: the task's tiles in one tile row.
        let (n, ty, tx) = tiles.at(t);
        let len = (tiles.tw - tx).min(t1 - t);
        let groups = len.div_ceil(8);
        for (ci, c) in channels.clone().enumerate() {
            let plane = &x[(n * g.c + c) * g.plane()..][..g.plane()];
            stage_rows(g, plane, ty, tx, groups, &mut rows.staged);
            let lanes = Lanes {
                v: &mut *v,
                strips: here,
                kc,
                ci,
                first: t - t0,
                len,
            };
            // SAFETY: AVX2 + FMA are present (`applies`); `staged` holds 4 rows of
            // `pitch(groups)`.
            unsafe { transform_groups(&rows.staged, groups, lanes) };
        }
        t += len;
    }
}

/// Copies the four input rows `2 ty - ph..` under the tiles `tx..tx + 8 * groups` of `plane`
/// into `staged` (rows `pitch(groups)` apart, from column `2 tx - pw`), zero where the rows or
/// columns lie outside the plane.
fn stage_rows(g: &Geom, plane: &[f32], ty: usize, tx: usize, groups: usize, staged: &mut [f32]) {
    let [ph, pw] = g.p.padding;
    let width = pitch(groups);
    let start = (2 * tx) as isize - pw as isize;
    // The plane's columns in the staged span, and where they land in it.
    let (lo, hi) = (start.max(0), (start + width as isize).min(g.w as isize));
    for (i, dst) in staged[..4 * width].chunks_exact_mut(width).enumerate() {
        let y = (2 * ty + i).wrapping_sub(ph);
        if y >= g.h || lo >= hi {
            dst.fill(0.0);
            continue;
        }
        let (at, end) = ((lo - start) as usize, (hi - start) as usize);
        dst[..at].fill(0.0);
        dst[at..end].copy_from_slice(&plane[y * g.w + lo as usize..y * g.w + hi as usize]);
        dst[end..].fill(0.0);
    }
}

/// Writes `(Bᵀ d B)[p]` of the segment's tiles `k < lanes.len` into their lanes of `v`, for
/// the `groups` groups of 8 tiles whose 4x4 patches `d` start at column `2 k` of the staged
/// rows: per row, the patch's pixels `d0..d3` of eight tiles are the even and odd columns of two
/// 16-pixel loads, 2 apart; the row transform is `(d0 - d2, d1 + d2, d2 - d1, d1 - d3)`, and
/// the same combination of the four rows' transforms gives the points. A group's eight lanes
/// are stored with masks where they cross into the next strip or pass the segment's end.
///
/// # Safety
/// The CPU must support AVX2 and FMA; `staged` must hold 4 rows of `pitch(groups)` floats.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn transform_groups(staged: &[f32], groups: usize, lanes: Lanes<'_>) {
    let width = pitch(groups);
    assert!(staged.len() >= 4 * width && lanes.len <= 8 * groups);
    assert!(lanes.v.len() >= POINTS * lanes.strips * lanes.kc * NR);
    assert!(lanes.first + lanes.len <= lanes.strips * NR && lanes.ci < lanes.kc);
    // Lanes [0, 2, 4, 6 | 8, 10, 12, 14] (or the odd ones) of `a ++ b`: a shuffle within
    // 128-bit halves, then the halves' 64-bit pairs put in order.
    let evens = |a: __m256, b: __m256| {
        let s = _mm256_shuffle_ps::<0b10_00_10_00>(a, b);
        _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(s)))
    };
    let odds = |a: __m256, b: __m256| {
        let s = _mm256_shuffle_ps::<0b11_01_11_01>(a, b);
        _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(s)))
    };
    let lane_ids = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    // Lanes `lo..hi` of 0..8 set.
    let mask = |lo: usize, hi: usize| {
        let above = _mm256_cmpgt_epi32(lane_ids, _mm256_set1_epi32(lo as i32 - 1));
        let below = _mm256_cmpgt_epi32(_mm256_set1_epi32(hi as i32), lane_ids);
        _mm256_and_si256(above, below)
    };
    let base = lanes.v.as_mut_ptr();
    // Index in `v` of point `p`, strip `s`, lane 0 (of this channel).
    let at = |p: usize, s: usize| ((p * lanes.strips + s) * lanes.kc + lanes.ci) * NR;
    for gi in 0..groups {
        let mut across = [[_mm256_setzero_ps(); 4]; 4];
        for (i, row) in across.iter_mut().enumerate() {
            // SAFETY: the loads read columns 16 gi..16 gi + 18 of row i, inside `staged`.
            let (d0, d1, d2, d3) = unsafe {
                let p = staged.as_ptr().add(i * width + 16 * gi);
                let (a, b) = (_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8)));
                let (c, d) = (_mm256_loadu_ps(p.add(2)), _mm256_loadu_ps(p.add(10)));
                (evens(a, b), odds(a, b), evens(c, d), odds(c, d))
            };
            *row = [
                _mm256_sub_ps(d0, d2),
                _mm256_add_ps(d1, d2),
                _mm256_sub_ps(d2, d1),
                _mm256_sub_ps(d1, d3),
            ];
        }
        // This group's tiles: lanes `lane..lane + count`, the first `split` in strip `s`.
        let count = 8.min(lanes.len - 8 * gi);
        let lane = lanes.first + 8 * gi;
        let (s, q) = (lane / NR, lane % NR);
        let split = count.min(NR - q);
        let (head, tail) = (mask(0, split), mask(split, count));
        let [r0s, r1s, r2s, r3s] = across;
        for (j, (((r0, r1), r2), r3)) in r0s.into_iter().zip(r1s).zip(r2s).zip(r3s).enumerate() {
            let columns = [
                _mm256_sub_ps(r0, r2),
                _mm256_add_ps(r1, r2),
                _mm256_sub_ps(r2, r1),
                _mm256_sub_ps(r1, r3),
            ];
            for (i, &value) in columns.iter().enumerate() {
                let p = 4 * i + j;
                // SAFETY: lanes `q..q + split` of strip `s` and `0..count - split` of strip
                // `s + 1` lie in `v` (asserted above); masked-off lanes are not touched.
                unsafe {
                    let dst = base.add(at(p, s) + q);
                    if split == 8 {
                        _mm256_storeu_ps(dst, value);
                    } else {
                        _mm256_maskstore_ps(dst, head, value);
                        if count > split {
                            // Lane `split` goes to lane 0 of the next strip.
                            _mm256_maskstore_ps(base.add(at(p, s + 1)).sub(split), tail, value);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn transform_groups(_: &[f32], _: usize, _: Lanes<'_>) {
    unreachable!("`applies` is false off x86_64")
}

/// Writes `Aᵀ M A (+ bias)` of the task's tiles `t0..t1` into `out [N, O, Ho, Wo]`, leaving
/// out the cells of edge tiles past the plane. Eight tiles side by side in one tile row, all
/// whole, give two output rows of 16 consecutive cells: their values are interleaved in
/// registers and stored as vectors; other groups are stored cell by cell.
///
/// # Safety
/// The CPU must support AVX2 and FMA; `out` must be valid for the tiles' cells, which no other
/// thread writes; `m` must hold the task's products (`[strip, p, o_pad, NR]`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn transform_output(
    g: &Geom,
    tiles: Tiles,
    m: &[f32],
    (t0, t1): (usize, usize),
    o_pad: usize,
    bias: Option<&[f32]>,
    out: SendPtr<f32>,
) {
    let l = g.positions();
    assert!(m.len() >= (t1 - t0).div_ceil(NR) * POINTS * o_pad * NR && g.o <= o_pad);
    // `a0 b0 a1 b1 ..` of `a` and `b`, 16 lanes as two vectors.
    let interleave = |a: __m256, b: __m256| {
        let (lo, hi) = (_mm256_unpacklo_ps(a, b), _mm256_unpackhi_ps(a, b));
        (
            _mm256_permute2f128_ps::<0x20>(lo, hi),
            _mm256_permute2f128_ps::<0x31>(lo, hi),
        )
    };
    for (s, first) in (t0..t1).step_by(NR).enumerate() {
        let lanes = NR.min(t1 - first);
        // Per lane: offset of the tile's top-left output at channel 0, and which of its
        // other three cells exist.
        let mut at = [(0usize, false, false); NR];
        for (q, a) in at.iter_mut().enumerate().take(lanes) {
            let (n, ty, tx) = tiles.at(first + q);
            let (oy, ox) = (2 * ty, 2 * tx);
            *a = (n * g.o * l + oy * g.ow + ox, ox + 1 < g.ow, oy + 1 < g.oh);
        }
        // Halves of the strip whose eight tiles are whole and side by side in one row.
        let side_by_side = |h: usize| {
            let (a, z) = (at[8 * h], at[8 * h + 7]);
            8 * h + 8 <= lanes && z.0 == a.0 + 14 && z.1 && z.2
        };
        let whole = [side_by_side(0), side_by_side(1)];
        for o in 0..g.o {
            let b = _mm256_set1_ps(bias.map_or(0.0, |b| b[o]));
            for h in 0..lanes.div_ceil(8) {
                // SAFETY: point `p`'s 16 lanes for channel `o` lie in `m` (asserted above).
                let point = |p: usize| unsafe {
                    _mm256_loadu_ps(m.as_ptr().add(((s * POINTS + p) * o_pad + o) * NR + 8 * h))
                };
                // Rows of Aᵀ M, then the columns of (Aᵀ M) A.
                let mut r0 = [_mm256_setzero_ps(); 4];
                let mut r1 = [_mm256_setzero_ps(); 4];
                for j in 0..4 {
                    let (m0, m1, m2, m3) = (point(j), point(4 + j), point(8 + j), point(12 + j));
                    r0[j] = _mm256_add_ps(_mm256_add_ps(m0, m1), m2);
                    r1[j] = _mm256_sub_ps(_mm256_sub_ps(m1, m2), m3);
                }
                let y = [
                    _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(r0[0], r0[1]), r0[2]), b),
                    _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(r0[1], r0[2]), r0[3]), b),
                    _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(r1[0], r1[1]), r1[2]), b),
                    _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(r1[1], r1[2]), r1[3]), b),
                ];
                if whole[h] {
                    let ((top0, top1), (bottom0, bottom1)) =
                        (interleave(y[0], y[1]), interleave(y[2], y[3]));
                    // SAFETY: the eight whole tiles cover 16 consecutive cells of two output
                    // rows of this task's part of `out`.
                    unsafe {
                        let d = out.get().add(at[8 * h].0 + o * l);
                        _mm256_storeu_ps(d, top0);
                        _mm256_storeu_ps(d.add(8), top1);
                        _mm256_storeu_ps(d.add(g.ow), bottom0);
                        _mm256_storeu_ps(d.add(g.ow + 8), bottom1);
                    }
                    continue;
                }
                let mut cells = [[0.0f32; 8]; 4];
                for (c, &v) in cells.iter_mut().zip(&y) {
                    // SAFETY: each row of `cells` holds 8 floats.
                    unsafe { _mm256_storeu_ps(c.as_mut_ptr(), v) };
                }
                for (q, &(base, right, below)) in
                    at.iter().enumerate().take(lanes).skip(8 * h).take(8)
                {
                    let k = q - 8 * h;
                    // SAFETY: tasks own disjoint tiles; every cell written lies in the plane.
                    unsafe {
                        let d = out.get().add(base + o * l);
                        *d = cells[0][k];
                        if right {
                            *d.add(1) = cells[1][k];
                        }
                        if below {
                            *d.add(g.ow) = cells[2][k];
                            if right {
                                *d.add(g.ow + 1) = cells[3][k];
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[allow(clippy::too_many_arguments)]
unsafe fn transform_output(
    _: &Geom,
    _: Tiles,
    _: &[f32],
    _: (usize, usize),
    _: usize,
    _: Option<&[f32]>,
    _: SendPtr<f32>,
) {
    unreachable!("`applies` is false off x86_64")
}
