//! Philox 4x32-10, the counter-based generator of every Tiny-Torch backend.
//!
//! A counter-based generator computes the `n`-th random word directly from `(seed, n)`, with no
//! sequential state, so a GPU thread per element gives exactly the stream the CPU gives. This
//! module is the reference; CUDA and WGSL kernels implement the same functions and the
//! conformance suite checks them against it.
//!
//! **The stream.** A fill of `numel` elements from a generator `(seed, offset)` gives element `i`
//! (row-major) the value below, then advances the generator's offset by `numel` (counters are
//! never reused, whatever the distribution):
//!
//! - `block = philox(counter = [n as u32, (n >> 32) as u32, 0, 0], key = seed split in 2)` with
//!   `n = offset + i` (wrapping in `u64`);
//! - uniform: `u` = the top [`uniform_digits`] bits of `block[0]` (24; 11 for f16 and 8 for
//!   bf16) as a fraction in `[0, 1)`, scaled to `[low, high)`;
//! - normal: Box–Muller, `sqrt(-2 ln(1 - u0)) * cos(2π u1)` from `block[0]`, `block[1]`, with
//!   the logarithm and cosine of [`math`] (not the platform's, which differ between C libraries
//!   and GPUs);
//! - bernoulli: `u < p`; randint: `low + block[0..2] as u64 % (high - low)`.
//!
//! Values are computed in `f32` (in `f64` for `F64` tensors from the same words), so a seeded
//! stream is identical on every backend.

pub mod math;

use crate::DType;
use math::{cos_2pi_f32, cos_2pi_f64, ln_f32, ln_f64};

const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

/// Ten rounds of Philox 4x32 on `counter` with `key`.
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = counter;
    let mut k = key;
    for round in 0..10 {
        if round > 0 {
            k[0] = k[0].wrapping_add(W0);
            k[1] = k[1].wrapping_add(W1);
        }
        let p0 = (M0 as u64) * (c[0] as u64);
        let p1 = (M1 as u64) * (c[2] as u64);
        c = [
            ((p1 >> 32) as u32) ^ c[1] ^ k[0],
            p1 as u32,
            ((p0 >> 32) as u32) ^ c[3] ^ k[1],
            p0 as u32,
        ];
    }
    c
}

/// The Philox block of element `index` of a fill at generator position `(seed, offset)`.
pub fn block(seed: u64, offset: u64, index: u64) -> [u32; 4] {
    let n = offset.wrapping_add(index);
    philox4x32_10(
        [n as u32, (n >> 32) as u32, 0, 0],
        [seed as u32, (seed >> 32) as u32],
    )
}

/// A word's top 24 bits as an `f32` in `[0, 1)`, exactly representable.
pub fn uniform_from_word(word: u32) -> f32 {
    uniform_from_word_digits(word, 24)
}

/// A word's top `digits` bits (1 to 24) as an `f32` in `[0, 1)`, a multiple of `2^-digits`.
pub fn uniform_from_word_digits(word: u32, digits: u32) -> f32 {
    // 2^-digits, built from its exponent bits (exact).
    let scale = f32::from_bits((127 - digits) << 23);
    (word >> (32 - digits)) as f32 * scale
}

/// How many bits of a word a uniform draw of `dtype` keeps: the dtype's significant digits
/// (11 for f16, 8 for bf16; 24 for f32, and for f64, which draws from the same word). Fewer
/// would leave gaps; more would let `u` round up to 1.0 in the dtype, breaking `[0, 1)`
/// (PyTorch draws the dtype's digits too: its bf16 `rand` never returns 1.0).
pub fn uniform_digits(dtype: DType) -> u32 {
    match dtype {
        DType::F16 => 11,
        DType::BF16 => 8,
        _ => 24,
    }
}

/// Standard normal from two words (Box–Muller, cosine branch); never infinite.
///
/// `1 - u0` is exact and in `[2^-24, 1]`, so the radius is at most `sqrt(2 * 24 ln 2)`, about
/// 5.77. Every step is an exactly specified IEEE operation ([`math`] for `ln` and `cos`), so the
/// result has the same bits on every platform and backend.
#[inline]
pub fn normal_from_words(w0: u32, w1: u32) -> f32 {
    let u0 = uniform_from_word(w0);
    let u1 = uniform_from_word(w1);
    let radius = (-2.0 * ln_f32(1.0 - u0)).sqrt();
    radius * cos_2pi_f32(u1)
}

/// The same in `f64` for `F64` tensors (the words are the same; only the arithmetic is wider).
#[inline]
pub fn normal_from_words_f64(w0: u32, w1: u32) -> f64 {
    let u0 = uniform_from_word(w0) as f64;
    let u1 = uniform_from_word(w1) as f64;
    (-2.0 * ln_f64(1.0 - u0)).sqrt() * cos_2pi_f64(u1)
}

/// An integer uniform on `[low, high)` from two words (64-bit modulo; the bias is below 2^-32
/// for ranges under 2^32).
pub fn randint_from_words(w0: u32, w1: u32, low: i64, high: i64) -> i64 {
    let range = high.wrapping_sub(low) as u64;
    let word = ((w1 as u64) << 32) | w0 as u64;
    low.wrapping_add((word % range.max(1)) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known-answer vectors from the Random123 distribution (kat_vectors, philox4x32 10 rounds).
    #[test]
    fn matches_random123_known_answers() {
        assert_eq!(
            philox4x32_10([0, 0, 0, 0], [0, 0]),
            [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]
        );
        assert_eq!(
            philox4x32_10([0xffffffff; 4], [0xffffffff; 2]),
            [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]
        );
        assert_eq!(
            philox4x32_10(
                [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
                [0xa4093822, 0x299f31d0]
            ),
            [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]
        );
    }

    /// The transform is Box–Muller: the textbook formula with the platform's `f64` `ln` and
    /// `cos` agrees to a few ulps of the radius (near the zeros of the cosine the value itself
    /// is tiny, and the platform's `cos(TAU * u)` has the rounding of `TAU * u` in it).
    #[test]
    fn normals_agree_with_textbook_box_muller() {
        let (mut worst32, mut worst64) = (0.0f64, 0.0f64);
        for i in 0..200_000 {
            let w = block(0x5eed, 0, i);
            let (u0, u1) = (
                uniform_from_word(w[0]) as f64,
                uniform_from_word(w[1]) as f64,
            );
            let radius = (-2.0 * (1.0 - u0).ln()).sqrt();
            let want = radius * (std::f64::consts::TAU * u1).cos();
            let error = |z: f64| {
                if radius == 0.0 {
                    assert_eq!(z, 0.0);
                    return 0.0;
                }
                (z - want).abs() / radius
            };
            worst32 = worst32.max(error(normal_from_words(w[0], w[1]) as f64));
            worst64 = worst64.max(error(normal_from_words_f64(w[0], w[1])));
        }
        println!("error / radius: f32 {worst32:e}, f64 {worst64:e}");
        assert!(worst32 < 2.0 * f32::EPSILON as f64, "f32: {worst32}");
        assert!(worst64 < 8.0 * f64::EPSILON, "f64: {worst64}");
    }

    #[test]
    fn uniform_words_cover_zero_to_one() {
        assert_eq!(uniform_from_word(0), 0.0);
        assert!(uniform_from_word(u32::MAX) < 1.0);
        assert!(normal_from_words(0, 0).is_finite());
        assert!(normal_from_words(u32::MAX, 0).is_finite());
    }
}
