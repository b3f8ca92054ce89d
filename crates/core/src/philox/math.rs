//! The logarithm and cosine of Box–Muller, defined by this project bit for bit.
//!
//! A seeded `randn` must give the same bits on every backend and platform, so the normal
//! transform cannot call the platform's `ln` and `cos`: those come from the C library (glibc,
//! musl, macOS and Windows round differently) or from the GPU vendor's math library. The
//! functions here use only operations whose results IEEE 754 specifies exactly, `+`, `-`, `*`,
//! `/`, fused multiply-add (`mul_add`, correctly rounded in Rust with or without FMA hardware),
//! conversions and bit manipulation, in a fixed order, so any backend that repeats the same
//! operations gets the same bits. `kernels/random.cu` repeats them with round-to-nearest
//! intrinsics; the CUDA crate's tests check that it carries the same constants.
//!
//! Each function is written for the arguments Box–Muller gives it, where the unit tests check
//! every one of them against a high-precision reference:
//!
//! - `ln` of `1 - u` with `u = k / 2^24`, so `x` in `[2^-24, 1]` (the `f64` transform draws from
//!   the same 24-bit words). Any positive normal `x` is reduced correctly; zero, subnormal,
//!   negative and non-finite arguments give meaningless results.
//! - `cos(2π u)` of `u` in `[0, 1)` (also correct for `|u| < 2^20`). Taking the angle in turns
//!   rather than radians makes the argument reduction exact: there is no `2π` to round.
//!
//! Errors, measured over all 2^24 Box–Muller arguments (the tests assert them): `ln_f32` below
//! 0.52 ulp, `cos_2pi_f32` below 0.55 ulp, `ln_f64` and `cos_2pi_f64` below 0.52 ulp.
//!
//! The polynomial coefficients are minimax fits (Remez, relative error) made for this project;
//! each constant is the nearest `f32` / `f64` to the fitted value, fitted one coefficient at a
//! time from the lowest order so that later ones absorb the rounding of earlier ones.

/// The bits of the `f32` just below `√½`: mantissas are reduced into `[√½, √2)`.
const SQRT_HALF_BITS_F32: u32 = 0x3f35_04f3;
/// The bits of the `f64` just below `√½`.
const SQRT_HALF_BITS_F64: u64 = 0x3fe6_a09e_667f_3bcd;

/// `ln 2` in two parts: 15 significant bits, so that `k` times it is exact for any exponent
/// `k` of an `f32`, plus the nearest `f32` to the remainder.
pub const LN2_F32: [f32; 2] = [0.69314575, 1.4286068e-6];
/// `ln 2` in two parts for `f64`: 42 significant bits, plus the nearest `f64` to the remainder.
pub const LN2_F64: [f64; 2] = [0.6931471805598903, 5.497923018708371e-14];
/// `π/2` as the nearest `f32` plus the nearest `f32` to the remainder.
pub const HALF_PI_F32: [f32; 2] = [1.5707964, -4.371139e-8];
/// `π/2` as the nearest `f64` plus the nearest `f64` to the remainder.
pub const HALF_PI_F64: [f64; 2] = [1.5707963267948966, 6.123233995736766e-17];

/// `Q(z) ≈ (2 atanh(s) / s - 2) / z` for `z = s²` in `[0, 0.1716²]`, lowest order first
/// (relative error of `ln` below 2^-30).
pub const LN_Q_F32: [f32; 3] = [0.66666776, 0.39977586, 0.29870695];
/// The same for `f64` (relative error of `ln` below 2^-59).
pub const LN_Q_F64: [f64; 7] = [
    0.6666666666666734,
    0.3999999999941705,
    0.2857142874189048,
    0.22222198621913974,
    0.18183561888015118,
    0.15314110905323197,
    0.1479536337605003,
];

/// `C(z) ≈ (cos(π r / 2) - 1) / z` for `z = r²` in `[0, 1/4]`, lowest order first (error of
/// `cos` below 2^-31).
pub const COS_C_F32: [f32; 4] = [-1.2337005, 0.25366855, -0.020855596, 0.0008944864];
/// The same for `f64` (error below 2^-61).
pub const COS_C_F64: [f64; 7] = [
    -1.2337005501361697,
    0.2536695079010417,
    -0.020863480763180973,
    0.0009192602726324709,
    -2.5202027447795884e-5,
    4.710334131566296e-7,
    -6.289404203858652e-9,
];

/// `T(z) ≈ (sin(π r / 2) / r - π/2) / z` for `z = r²` in `[0, 1/4]`, lowest order first
/// (relative error of `sin` below 2^-27).
pub const SIN_T_F32: [f32; 3] = [-0.6459636, 0.07968108, -0.004603732];
/// The same for `f64` (relative error below 2^-57).
pub const SIN_T_F64: [f64; 6] = [
    -0.6459640975062448,
    0.07969262624605838,
    -0.004681754132533693,
    0.00016044115191330102,
    -3.5986467626435233e-6,
    5.634314701354915e-8,
];

/// `1.5 * 2^23`: `(t + ROUND) - ROUND` is `t` rounded to the nearest integer (ties to even) for
/// `|t| < 2^22`, with two exactly specified additions.
const ROUND_F32: f32 = 12_582_912.0;
/// `1.5 * 2^52`, the same for `f64` and `|t| < 2^51`.
const ROUND_F64: f64 = 6_755_399_441_055_744.0;

/// `c[0] + c[1] z + c[2] z² + …` by Horner's rule, one fused multiply-add per coefficient from
/// the highest.
#[inline(always)]
fn horner_f32<const N: usize>(z: f32, c: &[f32; N]) -> f32 {
    let mut p = c[N - 1];
    for &ci in c[..N - 1].iter().rev() {
        p = p.mul_add(z, ci);
    }
    p
}

/// [`horner_f32`] in `f64`.
#[inline(always)]
fn horner_f64<const N: usize>(z: f64, c: &[f64; N]) -> f64 {
    let mut p = c[N - 1];
    for &ci in c[..N - 1].iter().rev() {
        p = p.mul_add(z, ci);
    }
    p
}

/// The natural logarithm of a positive normal `x`, within 0.52 ulp on `[2^-24, 1]`.
///
/// `x = 2^k m` with `m` in `[√½, √2)`, and `ln(m) = ln(1 + f) = 2 atanh(s)` with `f = m - 1`
/// and `s = f / (2 + f)`, so `|s| < 0.1716` and a short polynomial in `s²` suffices. The
/// result is summed as `ln(1 + f) = f - (f²/2 - s (f²/2 + R))`, `R = z Q(z)`: `f` is exact and
/// carries most of the value, so the roundings of the small terms barely show.
#[inline]
pub fn ln_f32(x: f32) -> f32 {
    let bits = x.to_bits();
    // The exponent k of x relative to [√½, √2): an arithmetic shift of the bits' distance from
    // √½'s, so a mantissa below √½ borrows from the exponent.
    let k = (bits.wrapping_sub(SQRT_HALF_BITS_F32) as i32) >> 23;
    let m = f32::from_bits(bits.wrapping_sub((k as u32) << 23));
    let f = m - 1.0; // exact: m is within a factor 2 of 1
    let s = f / (2.0 + f);
    let z = s * s;
    let r = z * horner_f32(z, &LN_Q_F32);
    let half_f2 = 0.5 * f * f;
    // ln x = (k ln2_hi + f) + (k ln2_lo - f²/2 + s (f²/2 + R)). The first sum carries most of
    // the value; it is kept exactly, as `hi` plus its rounding error (Fast2Sum, valid because
    // |k ln2_hi| >= |f| unless k = 0, where `hi` is f), so that the result is rounded once.
    let kf = k as f32;
    let k_ln2_hi = kf * LN2_F32[0]; // exact
    let hi = k_ln2_hi + f;
    let hi_err = (k_ln2_hi - hi) + f;
    let half_f2_err = (0.5 * f).mul_add(f, -half_f2);
    let tail = s.mul_add(half_f2 + r, kf.mul_add(LN2_F32[1], hi_err - half_f2_err));
    hi + (tail - half_f2)
}

/// [`ln_f32`] in `f64`, within 0.52 ulp on `[2^-24, 1]`; the same steps with a longer
/// polynomial.
#[inline]
pub fn ln_f64(x: f64) -> f64 {
    let bits = x.to_bits();
    let k = (bits.wrapping_sub(SQRT_HALF_BITS_F64) as i64) >> 52;
    let m = f64::from_bits(bits.wrapping_sub((k as u64) << 52));
    let f = m - 1.0;
    let s = f / (2.0 + f);
    let z = s * s;
    let r = z * horner_f64(z, &LN_Q_F64);
    let half_f2 = 0.5 * f * f;
    let kf = k as f64;
    let k_ln2_hi = kf * LN2_F64[0];
    let hi = k_ln2_hi + f;
    let hi_err = (k_ln2_hi - hi) + f;
    let half_f2_err = (0.5 * f).mul_add(f, -half_f2);
    let tail = s.mul_add(half_f2 + r, kf.mul_add(LN2_F64[1], hi_err - half_f2_err));
    hi + (tail - half_f2)
}

/// `cos(2π u)` for `|u| < 2^20` (Box–Muller's `u` is in `[0, 1)`), within 0.55 ulp.
///
/// In quarter turns `t = 4u = n + r` with `n` the nearest integer and `|r| <= 1/2`, both exact,
/// so `cos(2π u) = cos(π/2 (n + r))` is `±cos(π r / 2)` or `±sin(π r / 2)` by `n mod 4`, with
/// `π r / 2` in `[-π/4, π/4]`. Both polynomials are evaluated and one is picked, which keeps
/// the code branch-free.
#[inline]
pub fn cos_2pi_f32(u: f32) -> f32 {
    let t = 4.0 * u;
    let nf = (t + ROUND_F32) - ROUND_F32;
    let r = t - nf;
    let n = nf as i32;
    let z = r * r;
    let cos = z.mul_add(horner_f32(z, &COS_C_F32), 1.0);
    // sin(π r / 2) = r (π/2 + z T(z)), with π/2 in two parts so that its rounding does not
    // show: the product with its high part is rounded only once, in the last step.
    let low = z.mul_add(horner_f32(z, &SIN_T_F32), HALF_PI_F32[1]);
    let sin = r.mul_add(HALF_PI_F32[0], r * low);
    // n mod 4 = 0, 1, 2, 3: cos, -sin, -cos, sin.
    let v = if n & 1 == 0 { cos } else { sin };
    if (n + 1) & 2 == 0 { v } else { -v }
}

/// [`cos_2pi_f32`] in `f64` for `|u| < 2^49`, within 0.52 ulp; the same steps with longer
/// polynomials.
#[inline]
pub fn cos_2pi_f64(u: f64) -> f64 {
    let t = 4.0 * u;
    let nf = (t + ROUND_F64) - ROUND_F64;
    let r = t - nf;
    let n = nf as i64;
    let z = r * r;
    let cos = z.mul_add(horner_f64(z, &COS_C_F64), 1.0);
    let low = z.mul_add(horner_f64(z, &SIN_T_F64), HALF_PI_F64[1]);
    let sin = r.mul_add(HALF_PI_F64[0], r * low);
    let v = if n & 1 == 0 { cos } else { sin };
    if (n + 1) & 2 == 0 { v } else { -v }
}
