//! Random fills from the Philox 4x32-10 stream of `tiny_torch_core::philox`
//! (`kernels/random.cu`), bit for bit as the CPU backend (`backends/cpu/src/random.rs`).
//!
//! Element `i` (row-major) of a fill at generator position `(seed, offset)` uses
//! `block(seed, offset, i)`, whatever the distribution; one thread computes each element. Per
//! dtype, as on the CPU:
//!
//! - uniform: `F64`: `low + (high - low) * u` in `f64`; other floats: `low as f32 +
//!   (high - low) as f32 * u` in `f32`, then rounded to the dtype;
//! - normal: Box–Muller in `f64` for `F64`, else in `f32` then rounded; `z * std + mean`. The
//!   logarithm and cosine are those of `tiny_torch_core::philox::math`, repeated operation for
//!   operation in `kernels/random.cu` (the tests below check that it has the same constants);
//! - bernoulli: `1` if `(u as f64) < p` else `0`, in any dtype;
//! - randint: `low + (w1:w0 as u64) % (high - low)`, converted to any dtype.
//!
//! Uniform and normal into integer or bool buffers are `Unsupported`, as on the CPU.

use crate::Cuda;
use crate::launch::{KernelLayout, dtype_suffix, elementwise_config, launch_error};
use crate::storage::CudaStorage;
use cudarc::driver::PushKernelArg;
use tiny_torch_core::{BackendStorage, DType, Distribution, Error, Result, ViewMut, check_extent};

/// A distribution parameter passed to a random kernel after its common arguments, in the C
/// type the kernel declares.
#[derive(Clone, Copy, Debug)]
enum Param {
    F32(f32),
    F64(f64),
    I64(i64),
    U64(u64),
}

/// Fills `dst` from the Philox stream at `(seed, offset)`.
pub(crate) fn random(
    cuda: &Cuda,
    dst: ViewMut<'_, CudaStorage>,
    distribution: Distribution,
    seed: u64,
    offset: u64,
) -> Result<()> {
    let dtype = dst.storage.dtype();
    let is_float = matches!(dtype, DType::F16 | DType::BF16 | DType::F32 | DType::F64);
    // The kernel family and its parameters; arguments are checked before anything is queued,
    // in the CPU's order and with its errors.
    let (kind, params) = match distribution {
        Distribution::Bernoulli { p } => ("bernoulli", vec![Param::F64(p)]),
        Distribution::RandInt { low, high } => {
            if low >= high {
                return Err(Error::invalid(
                    "randint",
                    format!("expects 'from' to be less than 'to', but got from={low} >= to={high}"),
                ));
            }
            // `high - low` as u64: the modulus, at least 1.
            let range = high.wrapping_sub(low) as u64;
            ("randint", vec![Param::I64(low), Param::U64(range)])
        }
        Distribution::Uniform { .. } | Distribution::Normal { .. } if !is_float => {
            let op = match distribution {
                Distribution::Normal { .. } => "normal",
                _ => "uniform",
            };
            return Err(Error::unsupported(op, dtype, "cuda"));
        }
        // F64 computes in f64; f32, f16 and bf16 compute in f32 from the bounds rounded once
        // to f32 (`high - low` subtracted in f64 first), as the CPU does.
        Distribution::Uniform { low, high } => match dtype {
            DType::F64 => ("uniform", vec![Param::F64(low), Param::F64(high - low)]),
            _ => (
                "uniform",
                vec![Param::F32(low as f32), Param::F32((high - low) as f32)],
            ),
        },
        Distribution::Normal { mean, std } => match dtype {
            DType::F64 => ("normal", vec![Param::F64(mean), Param::F64(std)]),
            _ => (
                "normal",
                vec![Param::F32(mean as f32), Param::F32(std as f32)],
            ),
        },
    };
    check_extent(kind, dst.layout, dst.storage.len())?;
    let n = dst.layout.numel();
    if n == 0 {
        return Ok(());
    }

    let device = cuda.device();
    let name = format!("{kind}_{}", dtype_suffix(dtype));
    let func = device.function("random", &name)?;
    let layout = KernelLayout::of(kind, dst.layout)?;
    let (ptr, count) = (dst.storage.ptr(), n as i64);
    let mut launch = device.stream.launch_builder(&func);
    launch
        .arg(&ptr)
        .arg(&layout)
        .arg(&count)
        .arg(&seed)
        .arg(&offset);
    for param in &params {
        match param {
            Param::F32(v) => launch.arg(v),
            Param::F64(v) => launch.arg(v),
            Param::I64(v) => launch.arg(v),
            Param::U64(v) => launch.arg(v),
        };
    }
    // SAFETY: the arguments match `{kind}_{dtype}` in random.cu: (dst, layout, n, seed, offset)
    // then the parameters above in the types the kernel declares (float low/range or mean/std
    // for f32, f16 and bf16; double for f64; double p; i64 low and u64 range). The layout lies
    // inside the storage (checked above).
    unsafe { launch.launch(elementwise_config(device, n)) }.map_err(|e| launch_error(&name, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::KERNEL_SOURCES;
    use tiny_torch_core::philox::math;

    /// The Box–Muller section of random.cu: its mirror of `tiny_torch_core::philox::math`.
    fn box_muller_source() -> &'static str {
        let (_, source) = KERNEL_SOURCES.iter().find(|(s, _)| *s == "random").unwrap();
        let start = source
            .find("BOX_MULLER_BEGIN")
            .expect("random.cu marks its section");
        let end = source
            .find("BOX_MULLER_END")
            .expect("random.cu marks its section");
        &source[start..end]
    }

    /// A C hex literal as random.cu writes it: `-0x1.3bd3ccp+0f`, with `digits` hex digits
    /// of mantissa before trailing zeros are dropped, and `suffix` after.
    fn hex_literal(
        negative: bool,
        exponent: i32,
        mantissa: u64,
        digits: usize,
        suffix: &str,
    ) -> String {
        let sign = if negative { "-" } else { "" };
        let fraction = format!("{mantissa:0digits$x}");
        let fraction = fraction.trim_end_matches('0');
        let dot = if fraction.is_empty() { "" } else { "." };
        let plus = if exponent >= 0 { "+" } else { "" };
        format!("{sign}0x1{dot}{fraction}p{plus}{exponent}{suffix}")
    }

    fn hex_f32(x: f32) -> String {
        let bits = x.to_bits();
        let exponent = ((bits >> 23) & 0xff) as i32 - 127;
        // 23 mantissa bits, shifted to fill 6 hex digits.
        hex_literal(x < 0.0, exponent, ((bits & 0x7f_ffff) << 1) as u64, 6, "f")
    }

    fn hex_f64(x: f64) -> String {
        let bits = x.to_bits();
        let exponent = ((bits >> 52) & 0x7ff) as i32 - 1023;
        hex_literal(x < 0.0, exponent, bits & ((1 << 52) - 1), 13, "")
    }

    /// The position just after the first `literal` in `source[from..]` that stands alone (not
    /// part of a longer literal, and not the magnitude of a negative one).
    fn find_literal(source: &str, from: usize, literal: &str) -> Option<usize> {
        let part_of_literal = |c: char| c.is_ascii_alphanumeric() || c == '.' || c == '-';
        let mut at = from;
        while let Some(i) = source[at..].find(literal) {
            let (start, end) = (at + i, at + i + literal.len());
            let before = source[..start].chars().next_back();
            let after = source[end..].chars().next();
            if !before.is_some_and(part_of_literal) && !after.is_some_and(part_of_literal) {
                return Some(end);
            }
            at = end;
        }
        None
    }

    /// Each of `literals` appears in the section; in the given order when `ordered`.
    fn check(name: &str, literals: &[String], ordered: bool) {
        let source = box_muller_source();
        let mut at = 0;
        for literal in literals {
            let found = find_literal(source, if ordered { at } else { 0 }, literal);
            at = found.unwrap_or_else(|| {
                panic!("random.cu lacks {name}'s {literal} (or has it out of Horner order)")
            });
        }
    }

    #[test]
    fn box_muller_constants_match_core() {
        // Polynomials are evaluated from the highest coefficient, so they appear reversed.
        let horner32 = |c: &[f32]| c.iter().rev().map(|&x| hex_f32(x)).collect::<Vec<_>>();
        let horner64 = |c: &[f64]| c.iter().rev().map(|&x| hex_f64(x)).collect::<Vec<_>>();
        check("LN_Q_F32", &horner32(&math::LN_Q_F32), true);
        check("LN_Q_F64", &horner64(&math::LN_Q_F64), true);
        check("COS_C_F32", &horner32(&math::COS_C_F32), true);
        check("COS_C_F64", &horner64(&math::COS_C_F64), true);
        check("SIN_T_F32", &horner32(&math::SIN_T_F32), true);
        check("SIN_T_F64", &horner64(&math::SIN_T_F64), true);
        let pair32 = |c: &[f32]| c.iter().map(|&x| hex_f32(x)).collect::<Vec<_>>();
        let pair64 = |c: &[f64]| c.iter().map(|&x| hex_f64(x)).collect::<Vec<_>>();
        check("LN2_F32", &pair32(&math::LN2_F32), false);
        check("LN2_F64", &pair64(&math::LN2_F64), false);
        check("HALF_PI_F32", &pair32(&math::HALF_PI_F32), false);
        check("HALF_PI_F64", &pair64(&math::HALF_PI_F64), false);
    }

    #[test]
    fn hex_literals_are_written_as_in_c() {
        assert_eq!(hex_f32(1.0), "0x1p+0f");
        assert_eq!(hex_f32(-1.5707964), "-0x1.921fb6p+0f");
        assert_eq!(hex_f64(0.1), "0x1.999999999999ap-4");
        assert_eq!(hex_f64(-6.755399441055744e15), "-0x1.8p+52");
    }
}
