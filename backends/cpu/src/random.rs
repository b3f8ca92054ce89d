//! Random fills from the Philox 4x32-10 stream of `tiny_torch_core::philox`, bit for bit.
//!
//! Element `i` (row-major) of a fill at generator position `(seed, offset)` uses
//! `block(seed, offset, i)`, whatever the distribution, so the result does not depend on how
//! the fill is split over threads. Per dtype:
//!
//! - uniform: `u = uniform_from_word(w0)`; `F64`: `low + (high - low) * u` in `f64`; other
//!   floats: `low as f32 + (high - low) as f32 * u` in `f32`, then rounded to the dtype;
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
use crate::storage::{CpuStorage, dispatch};
use half::{bf16, f16};
use tiny_torch_core::philox::{
    block, normal_from_words, normal_from_words_f64, randint_from_words, uniform_from_word,
};
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
    let words = move |i: usize| block(seed, offset, i as u64);
    match distribution {
        Distribution::Bernoulli { p } => dispatch!(dtype, T => {
            let d = dst.storage.data_mut::<T>("bernoulli")?;
            map::generate("bernoulli", (d, layout), move |i| {
                let u = uniform_from_word(words(i)[0]) as f64;
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
                map::generate("randint", (d, layout), move |i| {
                    let w = words(i);
                    T::from_int(randint_from_words(w[0], w[1], low, high))
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
        let words = move |i: usize| block(seed, offset, i as u64);
        match distribution {
            Distribution::Uniform { low, high } => map::generate("uniform", (d, layout), |i| {
                low + (high - low) * uniform_from_word(words(i)[0]) as f64
            }),
            Distribution::Normal { mean, std } => map::generate("normal", (d, layout), |i| {
                let w = words(i);
                simd!(normal_from_words_f64(w[0], w[1])) * std + mean
            }),
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
    let words = move |i: usize| block(seed, offset, i as u64);
    match distribution {
        Distribution::Uniform { low, high } => {
            let (low32, range) = (low as f32, (high - low) as f32);
            map::generate("uniform", (d, layout), move |i| {
                T::down(low32 + range * uniform_from_word(words(i)[0]))
            })
        }
        Distribution::Normal { mean, std } => {
            let (mean32, std32) = (mean as f32, std as f32);
            map::generate("normal", (d, layout), move |i| {
                let w = words(i);
                T::down(simd!(normal_from_words(w[0], w[1])) * std32 + mean32)
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
