//! Hand-written AVX2 + FMA kernels for the `f32` paths that are memory- or latency-bound and
//! that LLVM does not compile well from portable code:
//!
//! - [`sum_f64`]: `Σ xs`. The portable loop becomes 2-wide loads and one dependency chain
//!   (about one float per cycle); here four 8-lane accumulators run independently.
//! - [`relu_kernels`]: `relu` over contiguous runs, in place and out of place. Written as
//!   `*o = f(*o)`, LLVM turns the in-place loop into masked stores (slow on AMD); here it is a
//!   plain load, `vmaxps`, store.
//! - [`softmax_row`]: one contiguous softmax / log-softmax row straight from the input to the
//!   output, with a `vmaxps`-only max pass and a fused exp + sum pass.
//!
//! Every entry point checks for AVX2 and FMA at run time ([`has_avx2_fma`]) and returns `None`
//! when they are missing (or off x86-64), so callers keep their portable code as the fallback.
//! The element types of the generic callers are matched to `f32` with [`as_f32`] and
//! [`as_f32_mut`], which compile to nothing after monomorphization.
//!
//! Results match the portable code exactly where it is exact (`relu`, the row max, `exp`: the
//! same operations in the same order as `math::exp_f32`); sums add in a different order, within
//! the same error bounds.

use std::any::TypeId;

#[cfg(target_arch = "x86_64")]
use crate::math::has_avx2_fma;
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// `xs` as `&[f32]` when `T` is `f32`.
#[inline(always)]
pub(crate) fn as_f32<T: 'static>(xs: &[T]) -> Option<&[f32]> {
    // SAFETY: `T` is `f32`, so the slice is reinterpreted as itself.
    (TypeId::of::<T>() == TypeId::of::<f32>())
        .then(|| unsafe { std::slice::from_raw_parts(xs.as_ptr().cast::<f32>(), xs.len()) })
}

/// `xs` as `&mut [f32]` when `T` is `f32`.
#[inline(always)]
pub(crate) fn as_f32_mut<T: 'static>(xs: &mut [T]) -> Option<&mut [f32]> {
    // SAFETY: as in `as_f32`; the borrow moves into the result.
    (TypeId::of::<T>() == TypeId::of::<f32>())
        .then(|| unsafe { std::slice::from_raw_parts_mut(xs.as_mut_ptr().cast::<f32>(), xs.len()) })
}

/// Whether the kernels of this module can run on this CPU.
#[inline(always)]
fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        has_avx2_fma()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

// ---------------------------------------------------------------------------------------------
// Sum

/// `Σ xs` in `f64` with the accuracy design of `reduce::sum_f64`: each `f32` lane adds at most
/// 16 elements before its partial joins an `f64` total, so the error stays within a few `f32`
/// ulps of each short run and the long sum is in `f64`. `None` without AVX2 + FMA.
pub(crate) fn sum_f64(xs: &[f32]) -> Option<f64> {
    if !available() {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: the CPU has AVX2 and FMA (checked above).
        Some(unsafe { avx2::sum_f64(xs) })
    }
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!()
}

// ---------------------------------------------------------------------------------------------
// ReLU

/// Vector kernels for the contiguous runs of an element-wise op of one input: `map` writes
/// `dst[i] = f(src[i])` (the slices have one length), `inplace` writes `xs[i] = f(xs[i])`.
/// Plain function pointers, so that the drivers of `map` stay non-generic over them.
pub(crate) struct SliceKernels<T> {
    pub(crate) map: fn(&[T], &mut [T]),
    pub(crate) inplace: fn(&mut [T]),
}

impl<T> Clone for SliceKernels<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for SliceKernels<T> {}

/// The vector kernels of `relu` (`x < 0 ? 0 : x`, so `relu(-0.0) = -0.0` and NaN passes with
/// its bits) when `T` is `f32` and the CPU has AVX2 + FMA.
pub(crate) fn relu_kernels<T: 'static>() -> Option<SliceKernels<T>> {
    if as_f32::<T>(&[]).is_none() || !available() {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY (both): `T` is `f32` (checked above, so the casts succeed) and the CPU has AVX2
        // and FMA (checked above; the kernels exist only in this `Some`).
        Some(SliceKernels {
            map: |src, dst| {
                let (s, d) = (as_f32(src).unwrap(), as_f32_mut(dst).unwrap());
                unsafe { avx2::relu_map(s, d) }
            },
            inplace: |xs| unsafe { avx2::relu_inplace(as_f32_mut(xs).unwrap()) },
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!()
}

// ---------------------------------------------------------------------------------------------
// Softmax

/// Softmax (or log-softmax) of the contiguous row `x` into `out` (same length), as
/// `softmax::row` computes it: the max, `exp(x - max)` with `math::exp_f32`, summed in 8 lanes
/// folded in order, then `e * (1 / sum)` (or `(x - max) - ln(sum)`). Returns `false`, with
/// `out` unspecified, when the sum is NaN (a NaN in the row, or infinities that cancel): the
/// caller recomputes such rows with the portable code, so that their NaN results are exactly
/// the portable ones. Also `false` without AVX2 + FMA.
pub(crate) fn softmax_row(x: &[f32], out: &mut [f32], log: bool) -> bool {
    assert_eq!(x.len(), out.len(), "softmax_row: row lengths differ");
    if !available() {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: the CPU has AVX2 and FMA (checked above); the lengths agree (asserted).
        unsafe { avx2::softmax_row(x, out, log) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!()
}

/// The kernels themselves. Each is `unsafe` only because it is compiled for AVX2 + FMA: the
/// caller must have checked that the CPU has them. Loads and stores are unaligned (`loadu`,
/// `storeu`), which cost nothing extra on aligned data; pointer arithmetic stays inside the
/// slices (every loop bound is derived from the slice length).
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::*;

    /// Floats per vector.
    const W: usize = 8;

    /// Adds the four `f64` lanes of `v` in a fixed order.
    #[target_feature(enable = "avx2,fma")]
    fn hsum_pd(v: __m256d) -> f64 {
        let mut lanes = [0f64; 4];
        // SAFETY: `lanes` holds 4 f64.
        unsafe { _mm256_storeu_pd(lanes.as_mut_ptr(), v) };
        (lanes[0] + lanes[1]) + (lanes[2] + lanes[3])
    }

    /// `t += f64(a)`: the 8 lanes of `a` widened into two 4-lane totals.
    #[target_feature(enable = "avx2,fma")]
    fn widen_add(lo: &mut __m256d, hi: &mut __m256d, a: __m256) {
        *lo = _mm256_add_pd(*lo, _mm256_cvtps_pd(_mm256_castps256_ps128(a)));
        *hi = _mm256_add_pd(*hi, _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(a)));
    }

    /// See [`super::sum_f64`]. Four independent accumulators of 8 lanes (a vector add has a
    /// latency of 3 cycles and two ports: one chain would add 8 floats every 3 cycles, below
    /// the rate memory delivers them). Every 16 vectors per accumulator (a run of 512
    /// elements) the partials are widened into `f64` totals and restart at zero.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn sum_f64(xs: &[f32]) -> f64 {
        const ACCS: usize = 4;
        const PER_LANE: usize = 16;
        const RUN: usize = ACCS * W * PER_LANE;
        let n = xs.len();
        let p = xs.as_ptr();
        // Two totals per accumulator (its low and high 4 lanes), so the f64 adds do not chain.
        let mut tot_lo = [_mm256_setzero_pd(); ACCS];
        let mut tot_hi = [_mm256_setzero_pd(); ACCS];
        let mut i = 0;
        while i < n / W * W {
            // A run of at most 16 vectors per accumulator (the last one may be shorter).
            let run_end = (i + RUN).min(n / W * W);
            let mut a = [_mm256_setzero_ps(); ACCS];
            // SAFETY (loads): `i + k * W + W <= run_end <= n` for every load below.
            while i + ACCS * W <= run_end {
                for (k, acc) in a.iter_mut().enumerate() {
                    *acc = _mm256_add_ps(*acc, unsafe { _mm256_loadu_ps(p.add(i + k * W)) });
                }
                i += ACCS * W;
            }
            // Fewer than 4 vectors left in the run: one each to the first accumulators.
            let mut k = 0;
            while i < run_end {
                a[k] = _mm256_add_ps(a[k], unsafe { _mm256_loadu_ps(p.add(i)) });
                k += 1;
                i += W;
            }
            for ((lo, hi), &acc) in tot_lo.iter_mut().zip(&mut tot_hi).zip(&a) {
                widen_add(lo, hi, acc);
            }
        }
        let mut s = 0.0;
        for t in tot_lo.into_iter().chain(tot_hi) {
            s += hsum_pd(t);
        }
        // The last `n % 8` elements, straight into f64.
        for &x in &xs[i..] {
            s += x as f64;
        }
        s
    }

    /// `dst[i] = relu(src[i])`. `vmaxps(a, b)` is `a > b ? a : b`, so `max(0, x)` is exactly
    /// `0 > x ? 0 : x` = `x < 0 ? 0 : x`: NaN (the comparison is false) and `-0.0` (not below
    /// zero) pass through unchanged.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn relu_map(src: &[f32], dst: &mut [f32]) {
        let n = src.len().min(dst.len());
        let (s, d) = (src.as_ptr(), dst.as_mut_ptr());
        let zero = _mm256_setzero_ps();
        let mut i = 0;
        // SAFETY: every access below is at `i + k * W + W <= n`.
        unsafe {
            while i + 4 * W <= n {
                for k in 0..4 {
                    let v = _mm256_loadu_ps(s.add(i + k * W));
                    _mm256_storeu_ps(d.add(i + k * W), _mm256_max_ps(zero, v));
                }
                i += 4 * W;
            }
            while i + W <= n {
                _mm256_storeu_ps(d.add(i), _mm256_max_ps(zero, _mm256_loadu_ps(s.add(i))));
                i += W;
            }
        }
        for (o, &x) in dst[i..n].iter_mut().zip(&src[i..n]) {
            *o = if x < 0.0 { 0.0 } else { x };
        }
    }

    /// `xs[i] = relu(xs[i])`, as [`relu_map`]: every element is stored, unmasked.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn relu_inplace(xs: &mut [f32]) {
        let n = xs.len();
        let p = xs.as_mut_ptr();
        let zero = _mm256_setzero_ps();
        let mut i = 0;
        // SAFETY: every access below is at `i + k * W + W <= n`.
        unsafe {
            while i + 4 * W <= n {
                for k in 0..4 {
                    let q = p.add(i + k * W);
                    _mm256_storeu_ps(q, _mm256_max_ps(zero, _mm256_loadu_ps(q)));
                }
                i += 4 * W;
            }
            while i + W <= n {
                let q = p.add(i);
                _mm256_storeu_ps(q, _mm256_max_ps(zero, _mm256_loadu_ps(q)));
                i += W;
            }
        }
        for x in &mut xs[i..] {
            if *x < 0.0 {
                *x = 0.0;
            }
        }
    }

    /// `math::exp_f32` on 8 lanes: the same operations in the same order (the clamp, the
    /// reduction by `ln 2` in two FMAs, the degree-6 polynomial, `2^n` in two factors, the
    /// mask below `LO`), so the results are bit-identical. See `exp_f32` for the reasoning.
    /// (Only the tests call it, to check the shared body against `exp_f32` over all inputs;
    /// softmax uses [`exp_nonpositive`].)
    #[target_feature(enable = "avx2,fma")]
    #[cfg_attr(not(test), allow(dead_code))]
    fn exp(x: __m256) -> __m256 {
        exp_impl::<false>(x)
    }

    /// [`exp`] for arguments `<= 0` (or NaN), as softmax's `x - max`: bit-identical to it
    /// there, with three operations fewer. The upper clamp (at 89) never applies, and the mask
    /// that zeroes results below -104 is redundant: such arguments are clamped to -104, whose
    /// result (`y 2^-150` with `y < 1`) already rounds to `+0`. NaN still gives NaN.
    #[target_feature(enable = "avx2,fma")]
    fn exp_nonpositive(x: __m256) -> __m256 {
        exp_impl::<true>(x)
    }

    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::excessive_precision)] // Cephes' coefficients, as in `exp_f32`
    #[inline]
    fn exp_impl<const NONPOSITIVE: bool>(x: __m256) -> __m256 {
        const MAGIC: f32 = 12_582_912.0;
        let lo = _mm256_set1_ps(-104.0);
        let magic = _mm256_set1_ps(MAGIC);
        // `x.clamp(LO, HI)` keeps NaN: `max(LO, x)` is `LO > x ? LO : x` and
        // `min(HI, y)` is `HI < y ? HI : y`, both `x` / `y` when it is NaN.
        let mut xc = _mm256_max_ps(lo, x);
        if !NONPOSITIVE {
            xc = _mm256_min_ps(_mm256_set1_ps(89.0), xc);
        }
        let shifted = _mm256_fmadd_ps(xc, _mm256_set1_ps(std::f32::consts::LOG2_E), magic);
        let n = _mm256_sub_ps(shifted, magic);
        let ni = _mm256_sub_epi32(
            _mm256_castps_si256(shifted),
            _mm256_set1_epi32(MAGIC.to_bits() as i32),
        );
        // `n.mul_add(-LN2_HI, xc)`, then `n.mul_add(-LN2_LO, r)`.
        let r = _mm256_fmadd_ps(n, _mm256_set1_ps(-0.693_359_4), xc);
        let r = _mm256_fmadd_ps(n, _mm256_set1_ps(2.121_944_4e-4), r);
        let mut p = _mm256_set1_ps(1.987_569_1e-4);
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.398_199_9e-3));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.333_452e-3));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.166_579_6e-2));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.666_666_5e-1));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.000_000_1e-1));
        let y = _mm256_add_ps(
            _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, r),
            _mm256_set1_ps(1.0),
        );
        let n1 = _mm256_srai_epi32::<1>(ni);
        let n2 = _mm256_sub_epi32(ni, n1);
        let bias = _mm256_set1_epi32(127);
        let s1 = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(n1, bias)));
        let s2 = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(n2, bias)));
        let v = _mm256_mul_ps(_mm256_mul_ps(y, s1), s2);
        if NONPOSITIVE {
            return v;
        }
        // Zero below LO; `x < LO` is false for NaN (an ordered comparison), which stays.
        _mm256_andnot_ps(_mm256_cmp_ps::<_CMP_LT_OQ>(x, lo), v)
    }

    /// The max of `xs`, ignoring NaN (`max(v, m)` is `v > m ? v : m`, false for a NaN `v`).
    /// Equal to `softmax::lane_max` on rows without NaN.
    #[target_feature(enable = "avx2,fma")]
    fn max_ignoring_nan(xs: &[f32]) -> f32 {
        let n = xs.len();
        let p = xs.as_ptr();
        let ninf = _mm256_set1_ps(f32::NEG_INFINITY);
        let mut m = [ninf; 4];
        let mut i = 0;
        // SAFETY: every load is at `i + k * W + W <= n`.
        unsafe {
            while i + 4 * W <= n {
                for (k, mk) in m.iter_mut().enumerate() {
                    *mk = _mm256_max_ps(_mm256_loadu_ps(p.add(i + k * W)), *mk);
                }
                i += 4 * W;
            }
            while i + W <= n {
                m[0] = _mm256_max_ps(_mm256_loadu_ps(p.add(i)), m[0]);
                i += W;
            }
        }
        let v = _mm256_max_ps(_mm256_max_ps(m[0], m[1]), _mm256_max_ps(m[2], m[3]));
        let mut lanes = [0f32; W];
        // SAFETY: `lanes` holds 8 f32.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), v) };
        lanes
            .iter()
            .chain(&xs[i..])
            .fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m })
    }

    /// Folds the 8 lanes of `acc` and then `rest` into one sum, in order, from 0: the order
    /// of `softmax::lane_sum`.
    #[target_feature(enable = "avx2,fma")]
    fn fold_sum(acc: __m256, rest: impl Iterator<Item = f32>) -> f32 {
        let mut lanes = [0f32; W];
        // SAFETY: `lanes` holds 8 f32.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc) };
        lanes.into_iter().chain(rest).fold(0.0, |a, b| a + b)
    }

    /// See [`super::softmax_row`]. The row (a few KB) stays in L1 between the passes. The sum
    /// keeps `softmax::lane_sum`'s order (lane `j` adds elements `8 i + j`; the lanes, then the
    /// tail, fold in order), so results are bit-identical to the portable row; its single
    /// chain of adds is not the bottleneck next to the ~20 operations of each `exp`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn softmax_row(x: &[f32], out: &mut [f32], log: bool) -> bool {
        let n = x.len().min(out.len());
        let (xp, op) = (x.as_ptr(), out.as_mut_ptr());
        let max = max_ignoring_nan(x);
        let vmax = _mm256_set1_ps(max);
        let body = n / W * W;
        let mut acc = _mm256_setzero_ps();
        let sum = if log {
            // SAFETY: every load is at `i + W <= body <= n`.
            for i in (0..body).step_by(W) {
                let v = unsafe { _mm256_loadu_ps(xp.add(i)) };
                acc = _mm256_add_ps(acc, exp_nonpositive(_mm256_sub_ps(v, vmax)));
            }
            fold_sum(acc, x[body..n].iter().map(|&v| exp_one(v - max)))
        } else {
            // SAFETY: every access is at `i + W <= body <= n`.
            for i in (0..body).step_by(W) {
                let e = exp_nonpositive(_mm256_sub_ps(unsafe { _mm256_loadu_ps(xp.add(i)) }, vmax));
                unsafe { _mm256_storeu_ps(op.add(i), e) };
                acc = _mm256_add_ps(acc, e);
            }
            for (o, &v) in out[body..n].iter_mut().zip(&x[body..n]) {
                *o = exp_one(v - max);
            }
            fold_sum(acc, out[body..n].iter().copied())
        };
        if sum.is_nan() {
            return false;
        }
        if log {
            let lse = sum.ln();
            let vlse = _mm256_set1_ps(lse);
            // SAFETY: every access is at `i + W <= body <= n`.
            for i in (0..body).step_by(W) {
                let v = unsafe { _mm256_loadu_ps(xp.add(i)) };
                let y = _mm256_sub_ps(_mm256_sub_ps(v, vmax), vlse);
                unsafe { _mm256_storeu_ps(op.add(i), y) };
            }
            for (o, &v) in out[body..n].iter_mut().zip(&x[body..n]) {
                *o = (v - max) - lse;
            }
        } else {
            let inv = 1.0 / sum;
            let vinv = _mm256_set1_ps(inv);
            // SAFETY: every access is at `i + W <= body <= n`.
            for i in (0..body).step_by(W) {
                unsafe {
                    let q = op.add(i);
                    _mm256_storeu_ps(q, _mm256_mul_ps(_mm256_loadu_ps(q), vinv));
                }
            }
            for o in &mut out[body..n] {
                *o *= inv;
            }
        }
        true
    }

    /// [`exp`] and [`exp_nonpositive`] of each element, for the tests.
    #[cfg(test)]
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn exp_each(xs: &[f32], nonpositive: bool) -> Vec<f32> {
        let f = if nonpositive { exp_nonpositive } else { exp };
        xs.iter()
            .map(|&x| _mm256_cvtss_f32(f(_mm256_set1_ps(x))))
            .collect()
    }

    /// [`exp_nonpositive`] of one element (so that a row's tail takes the body's code).
    #[target_feature(enable = "avx2,fma")]
    fn exp_one(x: f32) -> f32 {
        _mm256_cvtss_f32(exp_nonpositive(_mm256_set1_ps(x)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::exp_f32;

    /// Deterministic values in `[-scale, scale)`.
    fn values(n: usize, seed: u64, scale: f32) -> Vec<f32> {
        crate::test_values::values(n, seed)
            .into_iter()
            .map(|v| v as f32 * scale)
            .collect()
    }

    #[test]
    fn exp_matches_the_scalar_exp_bit_for_bit() {
        if !available() {
            return;
        }
        let mut xs = values(4096, 1, 120.0);
        xs.extend([
            0.0,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            -104.0,
            -103.99,
            89.0,
            88.72,
            88.73,
            -87.3,
            -100.5,
            1e-30,
            -1e-30,
            f32::MIN_POSITIVE,
            f32::MAX,
            f32::MIN,
        ]);
        // Every 211th float from -0.0 down to -inf (the softmax variant's domain), and NaN.
        let nonpositive: Vec<f32> = (0x8000_0000u32..=0xff80_0000)
            .step_by(211)
            .chain([0xff80_0000, 0x7fc0_0000])
            .map(f32::from_bits)
            .collect();
        #[cfg(target_arch = "x86_64")]
        for (xs, np) in [(&xs, false), (&nonpositive, false), (&nonpositive, true)] {
            // SAFETY: the CPU has AVX2 and FMA (checked above).
            let got = unsafe { avx2::exp_each(xs, np) };
            for (&x, &got) in xs.iter().zip(&got) {
                let want = crate::math::simd!(exp_f32(x));
                assert!(
                    got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                    "exp({x}) = {got}, want {want} (nonpositive variant: {np})"
                );
            }
        }
    }

    #[test]
    fn relu_keeps_negative_zero_and_nan_bits() {
        let Some(k) = relu_kernels::<f32>() else {
            return;
        };
        let mut xs = values(1000, 2, 3.0);
        let specials = [
            -0.0,
            0.0,
            f32::NAN,
            -f32::NAN,
            f32::from_bits(0x7fc0_1234),
            f32::from_bits(0xffa0_0001),
            f32::INFINITY,
            f32::NEG_INFINITY,
            -f32::MIN_POSITIVE,
            -1e-45,
        ];
        for (i, &s) in specials.iter().enumerate() {
            xs[i * 37 + 3] = s;
        }
        xs.extend(specials); // and in the scalar tail
        let want: Vec<u32> = xs
            .iter()
            .map(|&x| if x < 0.0 { 0.0f32 } else { x }.to_bits())
            .collect();
        for len in [0, 1, 7, 8, 9, 31, 32, 33, 100, xs.len()] {
            let mut out = vec![1f32; len];
            (k.map)(&xs[..len], &mut out);
            let got: Vec<u32> = out.iter().map(|v| v.to_bits()).collect();
            assert_eq!(got, want[..len], "map, len {len}");
            let mut ys = xs[..len].to_vec();
            (k.inplace)(&mut ys);
            let got: Vec<u32> = ys.iter().map(|v| v.to_bits()).collect();
            assert_eq!(got, want[..len], "inplace, len {len}");
        }
        assert!(relu_kernels::<f64>().is_none());
    }

    #[test]
    fn sum_is_within_the_short_run_bound() {
        for n in [0, 1, 7, 8, 31, 32, 33, 511, 512, 513, 1000, 100_003] {
            let xs = values(n, n as u64, 10.0);
            let Some(got) = sum_f64(&xs) else {
                return;
            };
            let want: f64 = xs.iter().map(|&x| x as f64).sum();
            let abs: f64 = xs.iter().map(|&x| x.abs() as f64).sum();
            let bound = 16.0 * f32::EPSILON as f64 * abs;
            assert!((got - want).abs() <= bound, "n {n}: {got} vs {want}");
        }
        // Cancellation: the f64 totals keep the small remainder.
        let mut xs = vec![1e8f32; 4096];
        xs.extend(vec![-1e8f32; 4096]);
        xs.push(0.5);
        assert_eq!(sum_f64(&xs).unwrap_or(0.5), 0.5);
    }

    #[test]
    fn softmax_rows_match_the_portable_row_bit_for_bit() {
        for n in [1, 5, 8, 9, 16, 33, 100, 1024, 1031] {
            for log in [false, true] {
                let x = values(n, n as u64 + 7, 20.0);
                let mut out = vec![0f32; n];
                if !softmax_row(&x, &mut out, log) {
                    assert!(!available());
                    return;
                }
                let mut want = x.clone();
                let mut tmp = vec![0f32; n];
                crate::math::simd!(crate::softmax::row(&mut want, &mut tmp, log));
                let got: Vec<u32> = out.iter().map(|v| v.to_bits()).collect();
                let want: Vec<u32> = want.iter().map(|v| v.to_bits()).collect();
                assert_eq!(got, want, "n {n} log {log}");
            }
        }
        // NaN, and infinities that cancel, are left to the portable code.
        let mut out = [0f32; 12];
        let mut x = [1f32; 12];
        x[10] = f32::NAN;
        assert!(!softmax_row(&x, &mut out, false));
        let x = [f32::NEG_INFINITY; 12];
        assert!(!softmax_row(&x, &mut out, true));
        let mut x = [0f32; 12];
        x[3] = f32::INFINITY;
        assert!(!softmax_row(&x, &mut out, false));
    }
}
