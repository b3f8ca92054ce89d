//! Random fills from the Philox 4x32-10 stream of `tiny_torch_core::philox`, bit for bit.
//!
//! Element `i` (row-major) of a fill at generator position `(seed, offset)` uses
//! `block(seed, offset, i)`, whatever the distribution, so the result does not depend on how
//! the fill is split over threads. The blocks are computed a batch at a time
//! (`philox_batch`: eight at once with AVX2). Per dtype:
//!
//! - uniform: `u = uniform_from_word_digits(w0, uniform_digits(dtype))` (the dtype's
//!   significant bits of the word); `F64`: `low + (high - low) * u` in `f64`; other floats:
//!   `low as f32 + (high - low) as f32 * u` in `f32`, then rounded to the dtype;
//! - normal: `F64`: `normal_from_words_f64(w0, w1) * std + mean` in `f64`; other floats:
//!   `normal_from_words(w0, w1) * std as f32 + mean as f32` in `f32`, then rounded;
//! - bernoulli: `1` if `(u as f64) < p` else `0`, in any dtype;
//! - randint: `randint_from_words(w0, w1, low, high)`, converted to any dtype.
//!
//! Uniform and normal into integer or bool buffers are `Unsupported` (PyTorch has no such fill).
//!
//! The normal transform is made of fused multiply-adds, which are calls into the C library's
//! `fma` unless compiled for FMA hardware; each normal is therefore computed under `simd!`,
//! which uses the instruction when the CPU has it. Both are correctly rounded, so the bits are
//! the same either way.

use crate::map;
use crate::math::simd;
use crate::num::{Convert, FloatStore};
use crate::philox_batch::{BATCH, first_words};
use crate::storage::{CpuStorage, dispatch};
use half::{bf16, f16};
use tiny_torch_core::philox::{
    normal_from_words, normal_from_words_f64, randint_from_words, uniform_digits,
    uniform_from_word, uniform_from_word_digits,
};

/// How many of a block's words a distribution reads.
#[derive(Clone, Copy, PartialEq)]
enum Words {
    One,
    Two,
}

/// `dst[i] = f(w0, w1)` with the first words of element `i`'s Philox block (`w1` is 0 when
/// only one word is asked for).
fn from_words<T: Copy + Default + Send>(
    op: &'static str,
    dst: (&mut [T], &Layout),
    (seed, offset): (u64, u64),
    words: Words,
    f: impl Fn(u32, u32) -> T + Sync,
) -> Result<()> {
    map::generate_batched::<T, BATCH>(op, dst, |first, values| {
        let n = values.len();
        let (mut w0, mut w1) = ([0u32; BATCH], [0u32; BATCH]);
        let w1 = if words == Words::Two {
            &mut w1[..n]
        } else {
            &mut w1[..0]
        };
        first_words(seed, offset, first as u64, &mut w0[..n], w1);
        for (k, v) in values.iter_mut().enumerate() {
            *v = f(w0[k], w1.get(k).copied().unwrap_or(0));
        }
    })
}
use tiny_torch_core::{BackendStorage, Distribution, Error, Layout, Result, ViewMut};

/// Fills `dst` from the Philox stream at `(seed, offset)`.
pub(crate) fn random(
    dst: ViewMut<'_, CpuStorage>,
    distribution: Distribution,
    seed: u64,
    offset: u64,
) -> Result<()> {
    let dtype = dst.storage.dtype();
    let layout = dst.layout;
    let at = (seed, offset);
    match distribution {
        Distribution::Bernoulli { p } => dispatch!(dtype, T => {
            let d = dst.storage.data_mut::<T>("bernoulli")?;
            from_words("bernoulli", (d, layout), at, Words::One, move |w0, _| {
                let u = uniform_from_word(w0) as f64;
                T::from_int((u < p) as i64)
            })
        }),
        Distribution::RandInt { low, high } => {
            if low >= high {
                return Err(Error::invalid(
                    "randint",
                    format!("expects 'from' to be less than 'to', but got from={low} >= to={high}"),
                ));
            }
            dispatch!(dtype, T => {
                let d = dst.storage.data_mut::<T>("randint")?;
                from_words("randint", (d, layout), at, Words::Two, move |w0, w1| {
                    T::from_int(randint_from_words(w0, w1, low, high))
                })
            })
        }
        Distribution::Uniform { .. } | Distribution::Normal { .. } => {
            dispatch!(dtype, T => T::fill(dst.storage, layout, distribution, seed, offset))
        }
    }
}

/// Uniform and normal fills of one element type.
trait ContinuousFill: Sized {
    fn fill(
        storage: &mut CpuStorage,
        layout: &Layout,
        distribution: Distribution,
        seed: u64,
        offset: u64,
    ) -> Result<()>;
}

impl ContinuousFill for f64 {
    fn fill(
        storage: &mut CpuStorage,
        layout: &Layout,
        distribution: Distribution,
        seed: u64,
        offset: u64,
    ) -> Result<()> {
        let d = storage.data_mut::<f64>("random")?;
        let at = (seed, offset);
        match distribution {
            Distribution::Uniform { low, high } => {
                from_words("uniform", (d, layout), at, Words::One, |w0, _| {
                    low + (high - low) * uniform_from_word(w0) as f64
                })
            }
            Distribution::Normal { mean, std } => {
                from_words("normal", (d, layout), at, Words::Two, |w0, w1| {
                    simd!(normal_from_words_f64(w0, w1)) * std + mean
                })
            }
            _ => Ok(()),
        }
    }
}

/// `f32`, `f16` and `bf16` draw in `f32`.
fn fill_f32<T: FloatStore<C = f32>>(
    storage: &mut CpuStorage,
    layout: &Layout,
    distribution: Distribution,
    seed: u64,
    offset: u64,
) -> Result<()> {
    let d = storage.data_mut::<T>("random")?;
    let at = (seed, offset);
    match distribution {
        Distribution::Uniform { low, high } => {
            let (low32, range) = (low as f32, (high - low) as f32);
            let digits = uniform_digits(T::DTYPE);
            from_words("uniform", (d, layout), at, Words::One, move |w0, _| {
                T::down(low32 + range * uniform_from_word_digits(w0, digits))
            })
        }
        Distribution::Normal { mean, std } => {
            let (mean32, std32) = (mean as f32, std as f32);
            from_words("normal", (d, layout), at, Words::Two, move |w0, w1| {
                T::down(simd!(normal_from_words(w0, w1)) * std32 + mean32)
            })
        }
        _ => Ok(()),
    }
}

macro_rules! fill_f32 {
    ($($t:ty),*) => {$(
        impl ContinuousFill for $t {
            fn fill(
                storage: &mut CpuStorage,
                layout: &Layout,
                distribution: Distribution,
                seed: u64,
                offset: u64,
            ) -> Result<()> {
                fill_f32::<$t>(storage, layout, distribution, seed, offset)
            }
        }
    )*};
}
fill_f32!(f32, f16, bf16);

macro_rules! no_fill {
    ($($t:ty),*) => {$(
        impl ContinuousFill for $t {
            fn fill(
                storage: &mut CpuStorage,
                _layout: &Layout,
                distribution: Distribution,
                _seed: u64,
                _offset: u64,
            ) -> Result<()> {
                let op = match distribution {
                    Distribution::Normal { .. } => "normal",
                    _ => "uniform",
                };
                Err(Error::unsupported(op, storage.dtype(), "cpu"))
            }
        }
    )*};
}
no_fill!(u8, i32, i64, bool);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::from_vec;
    use tiny_torch_core::philox::block;

    /// A fill through a strided view (a transpose, so runs of stride 5) and through a contiguous
    /// one of 300 elements (runs longer than a batch) gives element `i` of the row-major order
    /// the word of `block(seed, offset, i)`, and leaves no element unwritten.
    #[test]
    fn strided_and_contiguous_fills_follow_the_row_major_stream() {
        let (seed, offset) = (0x5eed, 1234);
        let transposed = Layout::new([5usize, 4], vec![1, 5], 0).unwrap();
        let contiguous = Layout::contiguous([300usize]);
        for (layout, len) in [(transposed, 20), (contiguous, 300)] {
            let mut storage = from_vec(vec![-1.0f32; len]);
            let dst = ViewMut::new(&mut storage, &layout);
            let uniform = Distribution::Uniform {
                low: 0.0,
                high: 1.0,
            };
            random(dst, uniform, seed, offset).unwrap();
            let got = storage.data::<f32>("t").unwrap().to_vec();
            for (i, storage_index) in layout.offsets().enumerate() {
                let want = uniform_from_word(block(seed, offset, i as u64)[0]);
                assert_eq!(
                    got[storage_index],
                    want,
                    "element {i} of {:?}",
                    layout.dims()
                );
            }
        }
    }
}
