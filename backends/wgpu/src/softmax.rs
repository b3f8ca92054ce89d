//! Fused softmax / log-softmax (`shaders/softmax.wgsl`): one workgroup per row, max and sum
//! as tree reductions in workgroup memory, computed in `f32` for `f32`, `f16` and `bf16`, in
//! `f64` (with `math.wgsl`'s `exp` and `log`) for `f64`.

use crate::Wgpu;
use crate::device::{read, write};
use crate::launch::{KernelLayout, grid_of_groups, merge_dims};
use crate::shader::{Kind, ShaderSpec, kind};
use crate::storage::{self, WgpuStorage};
use tiny_torch_core::{BackendStorage, DType, Error, Result, View, check_extent};

fn spec(dtype: DType, log: bool) -> ShaderSpec {
    let f64 = kind(dtype) == Kind::F64;
    let math = if f64 {
        "fn neg_inf() -> f64 {\n    return bitcast<f64>(0xfff0000000000000lu);\n}\n\
         fn sexp(x: f64) -> f64 {\n    return exp_f64(x);\n}\n\
         fn slog(x: f64) -> f64 {\n    return log_f64(x);\n}\n"
    } else {
        "fn neg_inf() -> f32 {\n    return bitcast<f32>(0xff800000u);\n}\n\
         fn sexp(x: f32) -> f32 {\n    return exp(x);\n}\n\
         fn slog(x: f32) -> f32 {\n    return log(x);\n}\n"
    };
    ShaderSpec::new("softmax")
        .dtype("S", dtype)
        .dtype("D", dtype)
        .convert("cvt", if f64 { DType::F64 } else { DType::F32 }, dtype)
        .code(math)
        .math_if(f64)
        .flag_if(log, "LOG")
}

pub(crate) fn softmax(
    wgpu: &Wgpu,
    src: View<'_, WgpuStorage>,
    dim: usize,
    log: bool,
) -> Result<WgpuStorage> {
    let op = if log { "log_softmax" } else { "softmax" };
    let dtype = src.storage.dtype();
    if !dtype.is_float() {
        return Err(Error::unsupported(op, dtype, "wgpu"));
    }
    let layout = src.layout;
    check_extent(op, layout, src.storage.len())?;
    let nd = layout.ndim();
    // A zero-dim tensor is one row of one element.
    let (dims, strides): (Vec<usize>, Vec<usize>) = if nd == 0 {
        (vec![1], vec![1])
    } else {
        (layout.dims().to_vec(), layout.strides().to_vec())
    };
    if dim >= dims.len() {
        return Err(Error::DimOutOfRange {
            op,
            dim: dim as isize,
            ndim: nd,
        });
    }
    let device = wgpu.device();
    device.check(op, &[dtype])?;
    let numel: usize = dims.iter().product();
    let dst = storage::alloc(device, dtype, numel)?;
    if numel == 0 {
        return Ok(dst);
    }
    let n = dims[dim];
    let post: usize = dims[dim + 1..].iter().product();
    let rows = numel / n;
    let (mut kept, mut kept_strides) = (dims.clone(), strides.clone());
    kept.remove(dim);
    kept_strides.remove(dim);
    let (kd, ks) = merge_dims(&kept, &[&kept_strides]);
    let outer = KernelLayout::new(op, &kd, &ks[0], layout.offset())?;
    let mut params = bytemuck::bytes_of(&outer).to_vec();
    for w in [rows, n, strides[dim], post] {
        params.extend((w as u32).to_le_bytes());
    }
    device.dispatch(
        &spec(dtype, log),
        "softmax",
        &params,
        &[read(src.storage), write(&dst)],
        grid_of_groups(rows),
    )?;
    Ok(dst)
}

/// Every shader instantiation this module can ask for (for the naga validation test).
pub(crate) fn variants() -> Vec<ShaderSpec> {
    let mut out = Vec::new();
    for dtype in [DType::F32, DType::F16, DType::BF16, DType::F64] {
        for log in [false, true] {
            out.push(spec(dtype, log));
        }
    }
    out
}
