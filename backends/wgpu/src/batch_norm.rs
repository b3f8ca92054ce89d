//! Batch normalization, forward and backward (`shaders/batch_norm.wgsl`): one workgroup per
//! channel, sums as tree reductions in workgroup memory, inputs read through their strides.
//! The saved mean and inverse standard deviation are `[C]` storages of the compute type (`f32`,
//! or `f64` for `f64` inputs), as on the CPU; float dtypes only.

use crate::Wgpu;
use crate::device::{read, write};
use crate::launch::{KernelLayout, merge_dims};
use crate::shader::{Kind, ShaderSpec, compute_bytes, compute_type, kind};
use crate::storage::{self, WgpuStorage};
use tiny_torch_core::{
    BackendStorage, BatchNormSaved, DType, Error, Layout, Result, View, ViewMut, check_batch_norm,
    check_batch_norm_backward,
};

fn acc_dtype(dtype: DType) -> DType {
    if kind(dtype) == Kind::F32 {
        DType::F32
    } else {
        dtype
    }
}

fn spec(dtype: DType, backward: bool) -> ShaderSpec {
    let acc = acc_dtype(dtype);
    ShaderSpec::new("batch_norm")
        .dtype("S", dtype)
        .code(&format!("alias C = {};", compute_type(acc)))
        .convert("cvt", acc, dtype)
        .flag_if(backward, "BWD")
}

/// `[N, C, R]` of an `[N, C, *]` layout (checked by `check_batch_norm*`), with the trailing
/// dims' layout and the strides of N, C.
fn split(op: &'static str, l: &Layout) -> Result<([usize; 3], KernelLayout, [usize; 3])> {
    let (d, s) = (l.dims(), l.strides());
    let (rd, rs) = merge_dims(&d[2..], &[&s[2..]]);
    let rest = KernelLayout::new(op, &rd, &rs[0], 0)?;
    Ok((
        [d[0], d[1], d[2..].iter().product()],
        rest,
        [l.offset(), s[0], s[1]],
    ))
}

/// Offset and stride of an optional `[C]` view (0, 0 when absent).
fn vec_of(l: Option<&Layout>) -> [usize; 2] {
    l.map_or([0, 0], |l| {
        [l.offset(), l.strides().first().copied().unwrap_or(0)]
    })
}

/// Float dtypes the adapter supports (the operands' dtypes are checked to agree by
/// `check_batch_norm*`).
fn check_float(wgpu: &Wgpu, op: &'static str, dtype: DType) -> Result<DType> {
    if !dtype.is_float() {
        return Err(Error::unsupported(op, dtype, "wgpu"));
    }
    wgpu.device().check(op, &[dtype])?;
    Ok(dtype)
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn batch_norm(
    wgpu: &Wgpu,
    input: View<'_, WgpuStorage>,
    weight: Option<View<'_, WgpuStorage>>,
    bias: Option<View<'_, WgpuStorage>>,
    running_mean: Option<ViewMut<'_, WgpuStorage>>,
    running_var: Option<ViewMut<'_, WgpuStorage>>,
    training: bool,
    momentum: f64,
    eps: f64,
) -> Result<(WgpuStorage, BatchNormSaved<WgpuStorage>)> {
    const OP: &str = "batch_norm";
    check_batch_norm(
        input,
        weight,
        bias,
        running_mean.as_ref().map(ViewMut::as_view),
        running_var.as_ref().map(ViewMut::as_view),
        training,
    )?;
    let dtype = check_float(wgpu, OP, input.storage.dtype())?;
    let ([n, c, r], rest, [x_off, x_s0, x_s1]) = split(OP, input.layout)?;
    let device = wgpu.device();
    let acc = acc_dtype(dtype);
    let dst = storage::alloc(device, dtype, input.layout.numel())?;
    let saved_mean = storage::alloc(device, acc, c)?;
    let saved_invstd = storage::alloc(device, acc, c)?;
    if c == 0 {
        return Ok((
            dst,
            BatchNormSaved {
                mean: saved_mean,
                invstd: saved_invstd,
                eps,
            },
        ));
    }
    // Bit 0: running_mean given, bit 1: running_var given (the shader updates each alone).
    let has_running = running_mean.is_some() as usize | (running_var.is_some() as usize) << 1;
    let [w_off, w_s] = vec_of(weight.map(|v| v.layout));
    let [b_off, b_s] = vec_of(bias.map(|v| v.layout));
    let [rm_off, rm_s] = vec_of(running_mean.as_ref().map(|v| v.layout));
    let [rv_off, rv_s] = vec_of(running_var.as_ref().map(|v| v.layout));
    let words = [
        x_off,
        x_s0,
        x_s1,
        0,
        0,
        0,
        n,
        c,
        r,
        training as usize,
        weight.is_some() as usize,
        bias.is_some() as usize,
        has_running,
        w_off,
        w_s,
        b_off,
        b_s,
        rm_off,
        rm_s,
        rv_off,
        rv_s,
        0,
    ];
    let mut params = bytemuck::cast_slice(&[rest, rest]).to_vec();
    for w in words {
        params.extend((w as u32).to_le_bytes());
    }
    params.extend(compute_bytes(acc, eps, 0));
    params.extend(compute_bytes(acc, momentum, 0));
    // Absent running statistics: scratch buffers stand in at their bindings (never read).
    let mut scratch_mean = None;
    let mut scratch_var = None;
    let rm: &WgpuStorage = match &running_mean {
        Some(v) => v.storage,
        None => scratch_mean.insert(storage::alloc(device, dtype, 1)?),
    };
    let rv: &WgpuStorage = match &running_var {
        Some(v) => v.storage,
        None => scratch_var.insert(storage::alloc(device, dtype, 1)?),
    };
    device.dispatch(
        &spec(dtype, false),
        "batch_norm",
        &crate::shader::padded(params),
        &[
            read(input.storage),
            read(weight.map_or(input.storage, |v| v.storage)),
            read(bias.map_or(input.storage, |v| v.storage)),
            write(rm),
            write(rv),
            write(&dst),
            write(&saved_mean),
            write(&saved_invstd),
        ],
        crate::launch::check_grid("batch_norm", [c, 1, 1])?,
    )?;
    Ok((
        dst,
        BatchNormSaved {
            mean: saved_mean,
            invstd: saved_invstd,
            eps,
        },
    ))
}

pub(crate) fn batch_norm_backward(
    wgpu: &Wgpu,
    grad_output: View<'_, WgpuStorage>,
    input: View<'_, WgpuStorage>,
    weight: Option<View<'_, WgpuStorage>>,
    saved: &BatchNormSaved<WgpuStorage>,
    training: bool,
) -> Result<(WgpuStorage, WgpuStorage, WgpuStorage)> {
    const OP: &str = "batch_norm_backward";
    check_batch_norm_backward(grad_output, input, weight, saved)?;
    let dtype = check_float(wgpu, OP, input.storage.dtype())?;
    // The shader reads the saved statistics in its compute type (no conversion here).
    let acc = acc_dtype(dtype);
    for s in [&saved.mean, &saved.invstd] {
        if s.dtype() != acc {
            return Err(Error::DType {
                op: OP,
                expected: format!("saved statistics of dtype {acc}"),
                got: s.dtype(),
            });
        }
    }
    let ([n, c, r], xrest, [x_off, x_s0, x_s1]) = split(OP, input.layout)?;
    let (_, grest, [g_off, g_s0, g_s1]) = split(OP, grad_output.layout)?;
    let device = wgpu.device();
    let dx = storage::alloc(device, dtype, input.layout.numel())?;
    let dweight = storage::alloc(device, dtype, c)?;
    let dbias = storage::alloc(device, dtype, c)?;
    if c == 0 {
        return Ok((dx, dweight, dbias));
    }
    let [w_off, w_s] = vec_of(weight.map(|v| v.layout));
    let words = [
        x_off,
        x_s0,
        x_s1,
        g_off,
        g_s0,
        g_s1,
        n,
        c,
        r,
        training as usize,
        weight.is_some() as usize,
        0,
        0,
        w_off,
        w_s,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
    ];
    let mut params = bytemuck::cast_slice(&[xrest, grest]).to_vec();
    for w in words {
        params.extend((w as u32).to_le_bytes());
    }
    params.extend(compute_bytes(acc, 0.0, 0));
    params.extend(compute_bytes(acc, 0.0, 0));
    device.dispatch(
        &spec(dtype, true),
        "batch_norm_backward",
        &crate::shader::padded(params),
        &[
            read(grad_output.storage),
            read(input.storage),
            read(weight.map_or(input.storage, |v| v.storage)),
            read(&saved.mean),
            read(&saved.invstd),
            write(&dx),
            write(&dweight),
            write(&dbias),
        ],
        crate::launch::check_grid("batch_norm_backward", [c, 1, 1])?,
    )?;
    Ok((dx, dweight, dbias))
}

/// Every shader instantiation this module can ask for (for the naga validation test).
pub(crate) fn variants() -> Vec<ShaderSpec> {
    let mut out = Vec::new();
    for dtype in [DType::F32, DType::F16, DType::BF16, DType::F64] {
        for backward in [false, true] {
            out.push(spec(dtype, backward));
        }
    }
    out
}
