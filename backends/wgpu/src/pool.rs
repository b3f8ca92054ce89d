//! Max, average and adaptive average pooling, forward and backward (`shaders/pool.wgsl`).
//! Float dtypes (`f16`/`bf16` computed in `f32`); max-pool indices are `I64`, so max pooling
//! needs an adapter with `SHADER_INT64` (lavapipe has it).

use crate::Wgpu;
use crate::device::{read, write};
use crate::launch::{grid, grid_of_groups};
use crate::shader::{Kind, ShaderSpec, compute_type, kind};
use crate::storage::{self, WgpuStorage};
use tiny_torch_core::{
    BackendStorage, DType, Error, Layout, Pool2dParams, Result, View, check_adaptive_avg_pool2d,
    check_adaptive_avg_pool2d_backward, check_max_pool2d_backward,
};

fn spec(dtype: DType, flag: &'static str) -> ShaderSpec {
    let acc = if kind(dtype) == Kind::F32 {
        DType::F32
    } else {
        dtype
    };
    let neg_inf = if acc == DType::F64 {
        "fn neg_inf() -> C {\n    return bitcast<f64>(0xfff0000000000000lu);\n}\n"
    } else {
        "fn neg_inf() -> C {\n    return bitcast<f32>(0xff800000u);\n}\n"
    };
    ShaderSpec::new("pool")
        .dtype("S", dtype)
        .code(&format!("alias C = {};", compute_type(acc)))
        .convert("cvt", acc, dtype)
        .code(&crate::shader::nan_fn("C", acc))
        .code(neg_inf)
        .flag(flag)
}

fn float_only(wgpu: &Wgpu, op: &'static str, dtype: DType) -> Result<()> {
    if !dtype.is_float() {
        return Err(Error::unsupported(op, dtype, "wgpu"));
    }
    wgpu.device().check(op, &[dtype])
}

/// Window geometry of one pooling.
#[derive(Default)]
struct Geometry {
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
    adaptive: bool,
    count_include_pad: bool,
    divisor_override: usize,
}

impl Geometry {
    fn of(p: &Pool2dParams) -> Self {
        Geometry {
            kernel: p.kernel,
            stride: p.stride,
            padding: p.padding,
            dilation: p.dilation,
            adaptive: false,
            count_include_pad: p.count_include_pad,
            divisor_override: p.divisor_override.unwrap_or(0),
        }
    }

    fn adaptive() -> Self {
        Geometry {
            kernel: [1, 1],
            stride: [1, 1],
            dilation: [1, 1],
            adaptive: true,
            ..Default::default()
        }
    }
}

/// The parameter block: the view read (`src`), the input and output sizes, the geometry.
fn params(src: &Layout, input: [usize; 4], out: [usize; 2], g: &Geometry) -> Vec<u8> {
    let s = src.strides();
    let words = [
        src.offset(),
        s[0],
        s[1],
        s[2],
        input[0],
        input[1],
        input[2],
        input[3],
        out[0],
        out[1],
        g.kernel[0],
        g.kernel[1],
        g.stride[0],
        g.stride[1],
        g.padding[0],
        g.padding[1],
        g.dilation[0],
        g.dilation[1],
        g.adaptive as usize,
        g.count_include_pad as usize,
        g.divisor_override,
        s[3],
        0,
        0,
    ];
    words
        .iter()
        .flat_map(|&w| (w as u32).to_le_bytes())
        .collect()
}

pub(crate) fn max_pool2d(
    wgpu: &Wgpu,
    input: View<'_, WgpuStorage>,
    p: &Pool2dParams,
) -> Result<(WgpuStorage, WgpuStorage)> {
    const OP: &str = "max_pool2d";
    let dtype = input.storage.dtype();
    float_only(wgpu, OP, dtype)?;
    wgpu.device().check(OP, &[DType::I64])?;
    let ([n, c, h, w], [oh, ow]) = p.check_max_pool2d(input)?;
    let total = n * c * oh * ow;
    let device = wgpu.device();
    let values = storage::alloc(device, dtype, total)?;
    let indices = storage::alloc(device, DType::I64, total)?;
    let params = params(input.layout, [n, c, h, w], [oh, ow], &Geometry::of(p));
    device.dispatch(
        &spec(dtype, "MAX"),
        "max_pool",
        &params,
        &[read(input.storage), write(&values), write(&indices)],
        grid(total),
    )?;
    Ok((values, indices))
}

pub(crate) fn max_pool2d_backward(
    wgpu: &Wgpu,
    grad_output: View<'_, WgpuStorage>,
    indices: View<'_, WgpuStorage>,
    input_dims: [usize; 4],
) -> Result<WgpuStorage> {
    const OP: &str = "max_pool2d_backward";
    let dtype = grad_output.storage.dtype();
    float_only(wgpu, OP, dtype)?;
    let [n, c, oh, ow] = check_max_pool2d_backward(grad_output, indices, input_dims)?;
    let device = wgpu.device();
    let packed;
    let indices = if indices.layout.is_contiguous() && indices.layout.offset() == 0 {
        indices.storage
    } else {
        packed = crate::copy::contiguous(wgpu, indices)?;
        &packed
    };
    let dst = storage::alloc(device, dtype, input_dims.iter().product())?;
    let g = Geometry {
        kernel: [1, 1],
        stride: [1, 1],
        dilation: [1, 1],
        ..Default::default()
    };
    let params = params(grad_output.layout, input_dims, [oh, ow], &g);
    device.dispatch(
        &spec(dtype, "MAX_BWD"),
        "max_pool_backward",
        &params,
        &[read(grad_output.storage), read(indices), write(&dst)],
        grid_of_groups((n * c).div_ceil(64)),
    )?;
    Ok(dst)
}

/// The mean-like pools of a checked 4-D input of `[n, c, h, w]` to `out`.
fn avg_forward(
    wgpu: &Wgpu,
    input: View<'_, WgpuStorage>,
    [n, c, h, w]: [usize; 4],
    out: [usize; 2],
    g: &Geometry,
) -> Result<WgpuStorage> {
    let dtype = input.storage.dtype();
    let total = n * c * out[0] * out[1];
    let device = wgpu.device();
    let dst = storage::alloc(device, dtype, total)?;
    device.dispatch(
        &spec(dtype, "AVG"),
        "avg_pool",
        &params(input.layout, [n, c, h, w], out, g),
        &[read(input.storage), write(&dst)],
        grid(total),
    )?;
    Ok(dst)
}

/// The gradient of the mean-like pools, from a checked 4-D `grad_output` of `[_, _, oh, ow]`.
fn avg_backward(
    wgpu: &Wgpu,
    grad_output: View<'_, WgpuStorage>,
    [_, _, oh, ow]: [usize; 4],
    input_dims: [usize; 4],
    g: &Geometry,
) -> Result<WgpuStorage> {
    let dtype = grad_output.storage.dtype();
    let total: usize = input_dims.iter().product();
    let device = wgpu.device();
    let dst = storage::alloc(device, dtype, total)?;
    device.dispatch(
        &spec(dtype, "AVG_BWD"),
        "avg_pool_backward",
        &params(grad_output.layout, input_dims, [oh, ow], g),
        &[read(grad_output.storage), write(&dst)],
        grid(total),
    )?;
    Ok(dst)
}

pub(crate) fn avg_pool2d(
    wgpu: &Wgpu,
    input: View<'_, WgpuStorage>,
    p: &Pool2dParams,
) -> Result<WgpuStorage> {
    const OP: &str = "avg_pool2d";
    float_only(wgpu, OP, input.storage.dtype())?;
    let (dims, out) = p.check_avg_pool2d(input)?;
    avg_forward(wgpu, input, dims, out, &Geometry::of(p))
}

pub(crate) fn avg_pool2d_backward(
    wgpu: &Wgpu,
    grad_output: View<'_, WgpuStorage>,
    input_dims: [usize; 4],
    p: &Pool2dParams,
) -> Result<WgpuStorage> {
    const OP: &str = "avg_pool2d_backward";
    float_only(wgpu, OP, grad_output.storage.dtype())?;
    let dims = p.check_avg_pool2d_backward(grad_output, input_dims)?;
    avg_backward(wgpu, grad_output, dims, input_dims, &Geometry::of(p))
}

pub(crate) fn adaptive_avg_pool2d(
    wgpu: &Wgpu,
    input: View<'_, WgpuStorage>,
    output_size: [usize; 2],
) -> Result<WgpuStorage> {
    const OP: &str = "adaptive_avg_pool2d";
    float_only(wgpu, OP, input.storage.dtype())?;
    let dims = check_adaptive_avg_pool2d(input, output_size)?;
    avg_forward(wgpu, input, dims, output_size, &Geometry::adaptive())
}

pub(crate) fn adaptive_avg_pool2d_backward(
    wgpu: &Wgpu,
    grad_output: View<'_, WgpuStorage>,
    input_dims: [usize; 4],
) -> Result<WgpuStorage> {
    const OP: &str = "adaptive_avg_pool2d_backward";
    float_only(wgpu, OP, grad_output.storage.dtype())?;
    let dims = check_adaptive_avg_pool2d_backward(grad_output, input_dims)?;
    avg_backward(wgpu, grad_output, dims, input_dims, &Geometry::adaptive())
}

/// Every shader instantiation this module can ask for (for the naga validation test).
pub(crate) fn variants() -> Vec<ShaderSpec> {
    let mut out = Vec::new();
    for dtype in [DType::F32, DType::F16, DType::BF16, DType::F64] {
        for flag in ["MAX", "AVG", "MAX_BWD", "AVG_BWD"] {
            out.push(spec(dtype, flag));
        }
    }
    out
}
