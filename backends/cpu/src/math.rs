//! Scalar math the standard library lacks: `erf` (for exact GELU) and a branch-free `exp` for
//! `f32` that the compiler vectorizes (for softmax), plus the helper that runs a hot loop
//! compiled for AVX2 + FMA when the CPU has them.

/// Runs `$body` compiled with AVX2 and FMA enabled when the running CPU supports them, and as
/// plain code otherwise. The body is inlined into a `#[target_feature]` function, so loops in it
/// (and the closures they call, which inline) vectorize 8 lanes wide with fused multiply-adds.
macro_rules! simd {
    ($body:expr) => {{
        #[cfg(target_arch = "x86_64")]
        {
            if $crate::math::has_avx2_fma() {
                #[target_feature(enable = "avx2,fma")]
                #[inline]
                unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
                    f()
                }
                // SAFETY: the CPU supports AVX2 and FMA (checked just above).
                #[allow(unused_unsafe)]
                unsafe {
                    avx2(|| $body)
                }
            } else {
                $body
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            $body
        }
    }};
}
pub(crate) use simd;

/// Whether the running CPU has AVX2 and FMA (cached by the standard library).
#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) fn has_avx2_fma() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

/// `exp(x)` for `f32` in straight-line code (Cephes' `expf`: a degree-6 polynomial after
/// reduction by `ln 2`), within 2 ulp, subnormal results included; `-inf` gives 0, overflow
/// `inf`, NaN stays NaN. Branch-free (the bounds are a clamp and a bit mask) so that loops over
/// it vectorize.
#[inline(always)]
#[allow(clippy::excessive_precision)] // Cephes' coefficients, as published
pub(crate) fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23: adding it rounds to an integer
    // Below LO the result rounds to 0 (the mask); above HI it overflows (the clamp keeps
    // n <= 128 and the two scale factors multiply out to inf).
    const LO: f32 = -104.0;
    const HI: f32 = 89.0;
    let xc = x.clamp(LO, HI);
    let shifted = xc.mul_add(LOG2E, MAGIC);
    let n = shifted - MAGIC;
    let ni = (shifted.to_bits() as i32).wrapping_sub(MAGIC.to_bits() as i32);
    let r = n.mul_add(-LN2_LO, n.mul_add(-LN2_HI, xc));
    let mut p = 1.987_569_1e-4f32;
    p = p.mul_add(r, 1.398_199_9e-3);
    p = p.mul_add(r, 8.333_452e-3);
    p = p.mul_add(r, 4.166_579_6e-2);
    p = p.mul_add(r, 1.666_666_5e-1);
    p = p.mul_add(r, 5.000_000_1e-1);
    let y = (p * r).mul_add(r, r) + 1.0;
    // 2^n in two factors, each a normal float for n in [-150, 128]; the last product rounds
    // once, into the subnormals when it must.
    let n1 = ni >> 1;
    let n2 = ni - n1;
    let s1 = f32::from_bits(((n1 + 127) as u32) << 23);
    let s2 = f32::from_bits(((n2 + 127) as u32) << 23);
    let v = y * s1 * s2;
    // NaN fails `x < LO` and keeps its bits.
    let keep = if x < LO { 0 } else { u32::MAX };
    f32::from_bits(v.to_bits() & keep)
}

/// `tanh(x)` for `f32`, branch-free (Cephes' `tanhf`): an odd polynomial below 0.625, else
/// `1 - 2 / (exp(2|x|) + 1)` with the sign of `x`. Within 3 ulp.
#[inline(always)]
#[allow(clippy::excessive_precision)] // Cephes' coefficients, as published
pub(crate) fn tanh_f32(x: f32) -> f32 {
    let z = x * x;
    let mut p = -5.704_988_7e-3f32;
    p = p.mul_add(z, 2.063_908_9e-2);
    p = p.mul_add(z, -5.373_971_6e-2);
    p = p.mul_add(z, 1.333_144_2e-1);
    p = p.mul_add(z, -3.333_328_2e-1);
    let small = (p * z).mul_add(x, x);
    let a = x.abs();
    let large = (1.0 - 2.0 / (exp_f32(2.0 * a) + 1.0)).copysign(x);
    if a < 0.625 { small } else { large }
}

/// Exact GELU `x Φ(x)` for `f32`, branch-free, within a few ulp.
///
/// `Φ(x) = erfc(-x/√2) / 2` with `erfc(u) = t exp(-u² - 1.26551223 + t P(t))`,
/// `t = 1 / (1 + u/2)` (Numerical Recipes' Chebyshev fit, relative error below 1.2e-7 for all
/// `u >= 0`), and `erf(-u) = erfc(u) - 1` for the other sign: no cancellation on either side.
/// `u²` is split so that the large part of the exponent is exact.
#[inline(always)]
#[allow(clippy::excessive_precision)] // Numerical Recipes' coefficients, as published
pub(crate) fn gelu_f32(x: f32) -> f32 {
    const C: f32 = std::f32::consts::FRAC_1_SQRT_2;
    // 1/√2 - C, so that u = x/√2 is carried with its rounding error.
    const C_LO: f32 = 1.210_161_2e-8;
    let u = x * C;
    let u_err = x.mul_add(C, -u) + x * C_LO;
    // erfc(|u|); beyond 10.5 it is 0 in f32 (and the clamp keeps infinities out).
    let a = u.abs().min(10.5);
    let t = 1.0 / (1.0 + 0.5 * a);
    let mut p = 0.170_872_77f32;
    p = p.mul_add(t, -0.822_152_23);
    p = p.mul_add(t, 1.488_515_87);
    p = p.mul_add(t, -1.135_203_98);
    p = p.mul_add(t, 0.278_868_07);
    p = p.mul_add(t, -0.186_288_06);
    p = p.mul_add(t, 0.096_784_18);
    p = p.mul_add(t, 0.374_091_96);
    p = p.mul_add(t, 1.000_023_68);
    p = p.mul_add(t, -1.265_512_23);
    // -a² = -s² - (a - s)(a + s) with s = a truncated to 12 bits (s² is exact); the error of
    // u moves the exponent by -2 a |u_err| (the sign matters only on the negative side).
    let s = f32::from_bits(a.to_bits() & 0xffff_f000);
    // (Beyond the clamp, where erfc is 0, the correction is dropped: it is NaN for infinities.)
    let du = if a >= 10.5 {
        0.0
    } else if u < 0.0 {
        -u_err
    } else {
        u_err
    };
    let rest = -(a - s) * (a + s) - 2.0 * a * du + p;
    let erfc = t * exp_f32(-s * s) * exp_f32(rest);
    // 1 + erf(u): 2 - erfc(u) for u >= 0, erfc(-u) for u < 0.
    let one_plus_erf = if x >= 0.0 { 2.0 - erfc } else { erfc };
    0.5 * x * one_plus_erf
}

/// The error function, to within 1 ulp (FreeBSD's `s_erf.c`, by Sun Microsystems).
#[allow(clippy::excessive_precision)] // fdlibm's coefficients, as published
pub(crate) fn erf(x: f64) -> f64 {
    const ERX: f64 = 8.45062911510467529297e-01;
    const EFX8: f64 = 1.02703333676410069053e+00;
    const PP: [f64; 5] = [
        1.28379167095512558561e-01,
        -3.25042107247001499370e-01,
        -2.84817495755985104766e-02,
        -5.77027029648944159157e-03,
        -2.37630166566501626084e-05,
    ];
    const QQ: [f64; 5] = [
        3.97917223959155352819e-01,
        6.50222499887672944485e-02,
        5.08130628187576562776e-03,
        1.32494738004321644526e-04,
        -3.96022827877536812320e-06,
    ];
    const PA: [f64; 7] = [
        -2.36211856075265944077e-03,
        4.14856118683748331666e-01,
        -3.72207876035701323847e-01,
        3.18346619901161753674e-01,
        -1.10894694282396677476e-01,
        3.54783043256182359371e-02,
        -2.16637559486879084300e-03,
    ];
    const QA: [f64; 6] = [
        1.06420880400844228286e-01,
        5.40397917702171048937e-01,
        7.18286544141962662868e-02,
        1.26171219808761642112e-01,
        1.36370839120290507362e-02,
        1.19844998467991074170e-02,
    ];
    const RA: [f64; 8] = [
        -9.86494403484714822705e-03,
        -6.93858572707181764372e-01,
        -1.05586262253232909814e+01,
        -6.23753324503260060396e+01,
        -1.62396669462573470355e+02,
        -1.84605092906711035994e+02,
        -8.12874355063065934246e+01,
        -9.81432934416914548592e+00,
    ];
    const SA: [f64; 8] = [
        1.96512716674392571292e+01,
        1.37657754143519042600e+02,
        4.34565877475229228821e+02,
        6.45387271733267880336e+02,
        4.29008140027567833386e+02,
        1.08635005541779435134e+02,
        6.57024977031928170135e+00,
        -6.04244152148580987438e-02,
    ];
    const RB: [f64; 7] = [
        -9.86494292470009928597e-03,
        -7.99283237680523006574e-01,
        -1.77579549177547519889e+01,
        -1.60636384855821916062e+02,
        -6.37566443368389627722e+02,
        -1.02509513161107724954e+03,
        -4.83519191608651397019e+02,
    ];
    const SB: [f64; 7] = [
        3.03380607434824582924e+01,
        3.25792512996573918826e+02,
        1.53672958608443695994e+03,
        3.19985821950859553908e+03,
        2.55305040643316442583e+03,
        4.74528541206955367215e+02,
        -2.24409524465858183362e+01,
    ];
    /// `c[0] + z * (c[1] + z * (...))`.
    fn poly(c: &[f64], z: f64) -> f64 {
        c.iter().rev().fold(0.0, |acc, &k| acc.mul_add(z, k))
    }

    let hi = (x.to_bits() >> 32) as u32;
    let negative = hi >> 31 != 0;
    let ix = hi & 0x7fff_ffff;
    if ix >= 0x7ff0_0000 {
        // NaN stays NaN; erf(±inf) = ±1.
        return if x.is_nan() { x } else { x.signum() };
    }
    if ix < 0x3feb_0000 {
        // |x| < 0.84375
        if ix < 0x3e30_0000 {
            return 0.125 * (8.0 * x + EFX8 * x);
        }
        let z = x * x;
        let r = poly(&PP, z);
        let s = 1.0 + z * poly(&QQ, z);
        return x + x * (r / s);
    }
    let y = if ix < 0x3ff4_0000 {
        // 0.84375 <= |x| < 1.25
        let s = x.abs() - 1.0;
        let p = poly(&PA, s);
        let q = 1.0 + s * poly(&QA, s);
        ERX + p / q
    } else if ix < 0x4018_0000 {
        // 1.25 <= |x| < 6: erf = 1 - erfc
        let a = x.abs();
        let s = 1.0 / (a * a);
        let (r, big_s) = if ix < 0x4006_db6d {
            (poly(&RA, s), 1.0 + s * poly(&SA, s))
        } else {
            (poly(&RB, s), 1.0 + s * poly(&SB, s))
        };
        let z = f64::from_bits(a.to_bits() & 0xffff_ffff_0000_0000);
        let erfc = (-z * z - 0.5625).exp() * ((z - a) * (z + a) + r / big_s).exp() / a;
        1.0 - erfc
    } else {
        1.0 - f64::from_bits(0x0010_0000_0000_0000)
    };
    if negative { -y } else { y }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_tanh_and_gelu_match_f64() {
        let mut x = -12.0f32;
        while x < 12.0 {
            let xf = x as f64;
            let t = tanh_f32(x) as f64;
            assert!(
                (t - xf.tanh()).abs() <= 3.6e-7 * xf.tanh().abs() + 1e-38,
                "tanh {x}"
            );
            let want = 0.5 * xf * (1.0 + erf(xf * std::f64::consts::FRAC_1_SQRT_2));
            let want = if xf < -6.0 { gelu_tail(xf) } else { want };
            let g = gelu_f32(x) as f64;
            assert!(
                (g - want).abs() <= 6e-7 * want.abs() + 1e-40,
                "gelu {x}: {g} vs {want}"
            );
            x += 0.0071;
        }
        assert_eq!(tanh_f32(0.0), 0.0);
        assert_eq!(tanh_f32(1e-30), 1e-30);
        assert_eq!(
            (tanh_f32(f32::INFINITY), tanh_f32(f32::NEG_INFINITY)),
            (1.0, -1.0)
        );
        assert!(tanh_f32(f32::NAN).is_nan() && gelu_f32(f32::NAN).is_nan());
        assert_eq!(gelu_f32(f32::INFINITY), f32::INFINITY);
        assert!(gelu_f32(f32::NEG_INFINITY).is_nan()); // -inf * 0, as PyTorch's formula gives
        assert_eq!(gelu_f32(0.0), 0.0);
        assert_eq!(gelu_f32(-20.0), 0.0);
    }

    /// x Φ(x) for x < -6 from the asymptotic series of the normal tail, summed to its smallest
    /// term (about exp(-z²/2) relative), where `1 + erf` in f64 cancels too much.
    fn gelu_tail(x: f64) -> f64 {
        let z = -x;
        let pdf = (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
        let mut term = 1.0;
        let mut sum = 1.0;
        for k in 1..(z * z / 2.0) as usize {
            term *= -((2 * k - 1) as f64) / (z * z);
            sum += term;
        }
        x * pdf / z * sum
    }

    /// erf by its Maclaurin series, summed in f64 (converges fast for |x| <= 3).
    fn erf_series(x: f64) -> f64 {
        let mut term = x;
        let mut sum = x;
        for n in 1..200 {
            term *= -x * x / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn erf_matches_its_series_and_limits() {
        for i in -300..=300 {
            let x = i as f64 / 100.0;
            let (got, want) = (erf(x), erf_series(x));
            assert!((got - want).abs() <= 1e-14 + 1e-13 * want.abs(), "{x}");
        }
        assert_eq!(erf(0.0), 0.0);
        assert_eq!(erf(f64::INFINITY), 1.0);
        assert_eq!(erf(f64::NEG_INFINITY), -1.0);
        assert_eq!(erf(10.0), 1.0);
        assert!(erf(f64::NAN).is_nan());
        // erfc(4) = 1.541725790028002e-8, to the f64 spacing near 1
        assert!((1.0 - erf(4.0) - 1.541725790028002e-8).abs() < 2.3e-16);
    }

    #[test]
    fn fast_exp_is_within_two_ulp() {
        let mut x = -87.3f32;
        while x < 88.7 {
            let (got, want) = (exp_f32(x) as f64, (x as f64).exp());
            assert!(((got - want) / want).abs() < 2.4e-7, "{x}: {got} vs {want}");
            x += 0.0137;
        }
        assert_eq!(exp_f32(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_f32(-200.0), 0.0);
        assert_eq!(exp_f32(-104.5), 0.0);
        // subnormal results, to within one subnormal step
        for x in [-88.0f32, -95.5, -100.0, -103.0] {
            let (got, want) = (exp_f32(x) as f64, (x as f64).exp());
            assert!(
                (got - want).abs() <= 1.5e-45 + 4e-7 * want,
                "{x}: {got} vs {want}"
            );
        }
        assert_eq!(exp_f32(0.0), 1.0);
        assert_eq!(exp_f32(100.0), f32::INFINITY);
        assert_eq!(exp_f32(88.8), f32::INFINITY);
        assert!(exp_f32(88.7).is_finite());
        assert!(exp_f32(f32::NAN).is_nan());
    }
}
