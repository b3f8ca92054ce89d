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
//!   logarithm and cosine reproduce glibc's, which the CPU calls (see `kernels/random.cu`);
//! - bernoulli: `1` if `(u as f64) < p` else `0`, in any dtype;
//! - randint: `low + (w1:w0 as u64) % (high - low)`, converted to any dtype.
//!
//! Uniform and normal into integer or bool buffers are `Unsupported`, as on the CPU.

use crate::Cuda;
use crate::indexing::check_extent;
use crate::launch::{KernelLayout, dtype_suffix, elementwise_config, launch_error};
use crate::storage::CudaStorage;
use cudarc::driver::PushKernelArg;
use tiny_torch_core::{BackendStorage, DType, Distribution, Error, Result, ViewMut};

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
