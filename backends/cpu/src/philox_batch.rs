//! The Philox 4x32-10 words of many consecutive elements at once, bit for bit the blocks of
//! `tiny_torch_core::philox::block`.
//!
//! One block is ten rounds of two 32 x 32 → 64-bit products and a few xors: about 40 dependent
//! instructions, so the scalar generator spends ~10 ns per element. With AVX2 eight blocks
//! (eight consecutive counters) run side by side in the lanes of 256-bit registers, the
//! products split into even and odd lanes (`vpmuludq` multiplies the even 32-bit lanes of each
//! 64-bit pair). Without AVX2 the scalar reference runs.

#[cfg(target_arch = "x86_64")]
use crate::math::has_avx2_fma;
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;
use tiny_torch_core::philox::block;

/// How many elements a batch holds: callers keep their buffers on the stack.
pub(crate) const BATCH: usize = 256;

/// The first two words of the blocks of elements `first..first + w0.len()` of a fill at
/// generator position `(seed, offset)`: `w0[k]`, `w1[k]` are words 0 and 1 of
/// `block(seed, offset, first + k)`. `w1` may be empty (only word 0 wanted) or as long as `w0`.
pub(crate) fn first_words(seed: u64, offset: u64, first: u64, w0: &mut [u32], w1: &mut [u32]) {
    debug_assert!(w1.is_empty() || w1.len() == w0.len());
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: AVX2 is present (checked above).
        done = unsafe { first_words_avx2(seed, offset, first, w0, w1) };
    }
    for k in done..w0.len() {
        let words = block(seed, offset, first + k as u64);
        w0[k] = words[0];
        if !w1.is_empty() {
            w1[k] = words[1];
        }
    }
}

/// [`first_words`] for whole groups of eight; returns how many elements it wrote.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn first_words_avx2(
    seed: u64,
    offset: u64,
    first: u64,
    w0: &mut [u32],
    w1: &mut [u32],
) -> usize {
    const M0: i32 = 0xD251_1F53_u32 as i32;
    const M1: i32 = 0xCD9E_8D57_u32 as i32;
    const W0: i32 = 0x9E37_79B9_u32 as i32;
    const W1: i32 = 0xBB67_AE85_u32 as i32;
    let groups = w0.len() / 8;
    let (m0, m1) = (_mm256_set1_epi32(M0), _mm256_set1_epi32(M1));
    let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for g in 0..groups {
        // Counter n = offset + index, as (low, high) words; lanes hold n .. n + 7, and the
        // carry into the high word is taken per lane (an unsigned compare via the sign flip).
        let n = offset.wrapping_add(first).wrapping_add(8 * g as u64);
        let base_low = _mm256_set1_epi32(n as u32 as i32);
        let low = _mm256_add_epi32(base_low, lanes);
        let flip = _mm256_set1_epi32(i32::MIN);
        let wrapped = _mm256_cmpgt_epi32(
            _mm256_xor_si256(base_low, flip),
            _mm256_xor_si256(low, flip),
        );
        // `wrapped` is -1 where the low word overflowed: subtracting it adds the carry.
        let high = _mm256_sub_epi32(_mm256_set1_epi32((n >> 32) as u32 as i32), wrapped);
        let mut c = [low, high, _mm256_setzero_si256(), _mm256_setzero_si256()];
        let mut k0 = _mm256_set1_epi32(seed as u32 as i32);
        let mut k1 = _mm256_set1_epi32((seed >> 32) as u32 as i32);
        for round in 0..10 {
            if round > 0 {
                k0 = _mm256_add_epi32(k0, _mm256_set1_epi32(W0));
                k1 = _mm256_add_epi32(k1, _mm256_set1_epi32(W1));
            }
            let (hi0, lo0) = mul_hi_lo(c[0], m0);
            let (hi1, lo1) = mul_hi_lo(c[2], m1);
            c = [
                _mm256_xor_si256(_mm256_xor_si256(hi1, c[1]), k0),
                lo1,
                _mm256_xor_si256(_mm256_xor_si256(hi0, c[3]), k1),
                lo0,
            ];
        }
        // SAFETY: group g covers elements 8g .. 8g + 8 <= w0.len() (and w1.len() when used).
        unsafe {
            _mm256_storeu_si256(w0.as_mut_ptr().add(8 * g).cast(), c[0]);
            if !w1.is_empty() {
                _mm256_storeu_si256(w1.as_mut_ptr().add(8 * g).cast(), c[1]);
            }
        }
    }
    8 * groups
}

/// The high and low 32-bit halves of `a * m` per lane (`m` the same in every lane).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn mul_hi_lo(a: __m256i, m: __m256i) -> (__m256i, __m256i) {
    let lo = _mm256_mullo_epi32(a, m);
    // Even lanes: their 64-bit products, high halves shifted down into the even positions.
    let even = _mm256_srli_epi64::<32>(_mm256_mul_epu32(a, m));
    // Odd lanes: moved to the even positions and multiplied; the high halves land in the odd
    // positions already.
    let odd = _mm256_mul_epu32(_mm256_srli_epi64::<32>(a), m);
    (_mm256_blend_epi32::<0b1010_1010>(even, odd), lo)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every word against the scalar reference: lengths that are not multiples of eight,
    /// offsets whose low word overflows inside a group of eight, and 64-bit seeds.
    #[test]
    fn batches_match_the_reference_blocks() {
        let cases = [
            (0u64, 0u64, 0u64, 256usize),
            (0x5eed, 12_345, 7, 203),
            (u64::MAX, u64::from(u32::MAX) - 3, 0, 40),
            (0x0123_4567_89ab_cdef, (5 << 32) - 20, 13, 64),
            (42, u64::MAX - 10, 0, 24),
        ];
        for (seed, offset, first, len) in cases {
            let (mut w0, mut w1) = (vec![0u32; len], vec![0u32; len]);
            first_words(seed, offset, first, &mut w0, &mut w1);
            let mut only_w0 = vec![0u32; len];
            first_words(seed, offset, first, &mut only_w0, &mut []);
            for k in 0..len {
                let want = block(seed, offset, first + k as u64);
                assert_eq!(
                    (w0[k], w1[k], only_w0[k]),
                    (want[0], want[1], want[0]),
                    "seed {seed:#x}, offset {offset:#x}, element {k}"
                );
            }
        }
    }
}
