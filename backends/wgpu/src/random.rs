//! Random fills from the Philox 4x32-10 stream (`shaders/random.wgsl`), bit for bit the CPU's
//! (`crates/core/src/philox.rs`).
//!
//! On the device: uniform into `f32`, `f16` and `bf16` (the dtype's significant bits of the
//! word, computed in `f32`, as on the CPU),
//! bernoulli into every dtype, randint into every dtype for ranges up to 2^31 (bounds within
//! `i32` unless the output is `i64`). These use only integer arithmetic and exact float steps
//! no compiler rewrites, so they match the CPU everywhere.
//!
//! The normal transform (and uniform into `f64`) runs on the device only where the device is
//! found to reproduce the CPU's bits: at the first normal fill, the adapter draws 4096 normals
//! and compares them with `philox::normal_from_words`. WGSL cannot mark float operations exact,
//! and Mesa's compiler (lavapipe) contracts and reassociates them (the error-free steps of
//! `philox::math` fold away, leaving 1-ulp differences); there, the values are computed on the
//! host from the same counters and uploaded (no wait for the device: the upload is queued like
//! any op). Either way a seed gives the CPU's tensor. Uniform and normal into integer dtypes
//! are `Unsupported`, as on the CPU.

use crate::Wgpu;
use crate::device::write;
use crate::launch::{KernelLayout, grid};
use crate::shader::ShaderSpec;
use crate::storage::WgpuStorage;
use half::{bf16, f16};
use std::sync::OnceLock;
use tiny_torch_core::philox::{
    block, normal_from_words, normal_from_words_f64, uniform_digits, uniform_from_word,
    uniform_from_word_digits,
};
use tiny_torch_core::{
    Backend, BackendStorage, DType, Distribution, Error, Layout, Result, View, ViewMut,
};

fn spec(dtype: DType) -> ShaderSpec {
    ShaderSpec::new("random")
        .dtype("D", dtype)
        .convert("cvt_f", DType::F32, dtype)
        .convert("cvt_i", DType::I32, dtype)
        .flag_if(dtype == DType::I64, "I64OUT")
}

pub(crate) fn random(
    wgpu: &Wgpu,
    dst: ViewMut<'_, WgpuStorage>,
    distribution: Distribution,
    seed: u64,
    offset: u64,
) -> Result<()> {
    let dtype = dst.storage.dtype();
    let name = match distribution {
        Distribution::Uniform { .. } => "uniform",
        Distribution::Normal { .. } => "normal",
        Distribution::Bernoulli { .. } => "bernoulli",
        Distribution::RandInt { .. } => "randint",
    };
    wgpu.device().check(name, &[dtype])?;
    let unsupported = || Error::unsupported(name, dtype, "wgpu");
    let (mut mode, mut a, mut b, mut threshold, mut range, mut low) =
        (0u32, 0f32, 0f32, 0u32, 1u32, 0i64);
    match distribution {
        Distribution::Uniform { .. } | Distribution::Normal { .. } if !dtype.is_float() => {
            return Err(unsupported());
        }
        Distribution::Uniform { .. } if dtype == DType::F64 => {
            return host_fill(wgpu, dst, distribution, seed, offset);
        }
        Distribution::Normal { .. } if dtype == DType::F64 || !normal_is_exact(wgpu)? => {
            return host_fill(wgpu, dst, distribution, seed, offset);
        }
        Distribution::Uniform { low: l, high } => {
            (a, b) = (l as f32, (high - l) as f32);
        }
        Distribution::Normal { mean, std } => {
            mode = 1;
            (a, b) = (mean as f32, std as f32);
        }
        Distribution::Bernoulli { p } => {
            mode = 2;
            // u < p  <=>  k < ceil(p 2^24) for u = k / 2^24 (the scaling is exact).
            threshold = (p * 16_777_216.0).ceil().clamp(0.0, 16_777_216.0) as u32;
        }
        Distribution::RandInt { low: l, high } => {
            if l >= high {
                return Err(Error::invalid(
                    "randint",
                    format!("expects 'from' to be less than 'to', but got from={l} >= to={high}"),
                ));
            }
            let span = high.wrapping_sub(l) as u64;
            let fits_i32 = l >= i32::MIN as i64 && high - 1 <= i32::MAX as i64;
            if span > 1 << 31 || (dtype != DType::I64 && !fits_i32) {
                return Err(unsupported());
            }
            mode = 3;
            range = span as u32;
            low = l;
        }
    }
    let params = DeviceParams {
        mode,
        a,
        b,
        threshold,
        range,
        low,
        digits: uniform_digits(dtype),
    };
    device_fill(wgpu, dst, &params, seed, offset)
}

/// What the `random` shader draws (`Params` in random.wgsl, after the layout and counters).
struct DeviceParams {
    mode: u32,
    a: f32,
    b: f32,
    threshold: u32,
    range: u32,
    low: i64,
    /// The word's bits a uniform draw keeps ([`uniform_digits`] of the dtype).
    digits: u32,
}

fn device_fill(
    wgpu: &Wgpu,
    dst: ViewMut<'_, WgpuStorage>,
    p: &DeviceParams,
    seed: u64,
    offset: u64,
) -> Result<()> {
    let layout = KernelLayout::of("random", dst.layout)?;
    let mut params = bytemuck::bytes_of(&layout).to_vec();
    for w in [
        seed as u32,
        (seed >> 32) as u32,
        offset as u32,
        (offset >> 32) as u32,
        p.low as u32,
        (p.low >> 32) as u32,
        p.range,
        p.threshold,
        p.a.to_bits(),
        p.b.to_bits(),
        p.mode,
        p.digits,
    ] {
        params.extend(w.to_le_bytes());
    }
    wgpu.device().dispatch(
        &spec(dst.storage.dtype()),
        "random",
        &params,
        &[write(dst.storage)],
        grid(dst.layout.numel()),
    )
}

/// Whether this adapter's normal transform gives the CPU's bits (checked once per adapter on
/// 4096 draws; see the module docs).
fn normal_is_exact(wgpu: &Wgpu) -> Result<bool> {
    static EXACT: OnceLock<std::sync::Mutex<std::collections::HashMap<usize, bool>>> =
        OnceLock::new();
    let map = EXACT.get_or_init(Default::default);
    if let Some(&e) = crate::device::lock(map).get(&wgpu.index()) {
        return Ok(e);
    }
    let n = 4096;
    let (seed, offset) = (0x5eed_1234_5678, (1u64 << 32) - 1000);
    let mut s = crate::storage::alloc(wgpu.device(), DType::F32, n)?;
    let l = Layout::contiguous(vec![n]);
    let normal = DeviceParams {
        mode: 1,
        a: 0.0,
        b: 1.0,
        threshold: 0,
        range: 1,
        low: 0,
        digits: 24,
    };
    device_fill(wgpu, ViewMut::new(&mut s, &l), &normal, seed, offset)?;
    let got: Vec<f32> = bytemuck::pod_collect_to_vec(&wgpu.to_bytes(View::new(&s, &l))?);
    let exact = got.iter().enumerate().all(|(i, v)| {
        let w = block(seed, offset, i as u64);
        v.to_bits() == normal_from_words(w[0], w[1]).to_bits()
    });
    crate::device::lock(map).insert(wgpu.index(), exact);
    Ok(exact)
}

/// Uniform or normal values computed on the host from the same Philox counters, uploaded and
/// copied into `dst` (queued like any op: nothing waits for the device).
fn host_fill(
    wgpu: &Wgpu,
    dst: ViewMut<'_, WgpuStorage>,
    distribution: Distribution,
    seed: u64,
    offset: u64,
) -> Result<()> {
    let dtype = dst.storage.dtype();
    let n = dst.layout.numel();
    let value32 = |i: usize| -> f32 {
        let w = block(seed, offset, i as u64);
        match distribution {
            Distribution::Uniform { low, high } => {
                low as f32
                    + (high - low) as f32 * uniform_from_word_digits(w[0], uniform_digits(dtype))
            }
            Distribution::Normal { mean, std } => {
                normal_from_words(w[0], w[1]) * std as f32 + mean as f32
            }
            _ => 0.0,
        }
    };
    let bytes: Vec<u8> = match dtype {
        DType::F64 => (0..n)
            .flat_map(|i| {
                let w = block(seed, offset, i as u64);
                let v = match distribution {
                    Distribution::Uniform { low, high } => {
                        low + (high - low) * uniform_from_word(w[0]) as f64
                    }
                    Distribution::Normal { mean, std } => {
                        normal_from_words_f64(w[0], w[1]) * std + mean
                    }
                    _ => 0.0,
                };
                v.to_le_bytes()
            })
            .collect(),
        DType::F16 => (0..n)
            .flat_map(|i| f16::from_f32(value32(i)).to_le_bytes())
            .collect(),
        DType::BF16 => (0..n)
            .flat_map(|i| bf16::from_f32(value32(i)).to_le_bytes())
            .collect(),
        _ => (0..n).flat_map(|i| value32(i).to_le_bytes()).collect(),
    };
    let src = wgpu.from_bytes(dtype, &bytes)?;
    let l = Layout::contiguous(dst.layout.shape().clone());
    wgpu.copy(View::new(&src, &l), dst)
}

/// Every shader instantiation this module can ask for (for the naga validation test).
pub(crate) fn variants() -> Vec<ShaderSpec> {
    crate::VALIDATED_DTYPES.into_iter().map(spec).collect()
}
