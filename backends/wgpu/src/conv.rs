//! 2-D convolution and its two gradients as implicit GEMMs (`shaders/conv.wgsl`): the tiled
//! product of `matmul.wgsl` whose operands are addressed in the NCHW tensors on the fly (im2col
//! without the buffer), inputs of any strides read in place, one group per workgroup z. Float
//! dtypes; `f16`/`bf16` accumulate in `f32`.

use crate::Wgpu;
use crate::device::{read, write};
use crate::shader::{Kind, ShaderSpec, compute_type, kind};
use crate::storage::{self, WgpuStorage};
use tiny_torch_core::{
    BackendStorage, Conv2dParams, DType, Error, Layout, Result, View, conv_dims,
};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    Forward,
    BackwardInput,
    BackwardWeight,
}

fn spec(dtype: DType, pass: Pass) -> ShaderSpec {
    let acc = if kind(dtype) == Kind::F32 {
        DType::F32
    } else {
        dtype
    };
    ShaderSpec::new("conv")
        .dtype("S", dtype)
        .code(&format!("alias C = {};", compute_type(acc)))
        .convert("cvt", acc, dtype)
        .flag(match pass {
            Pass::Forward => "FWD",
            Pass::BackwardInput => "BWD_INPUT",
            Pass::BackwardWeight => "BWD_WEIGHT",
        })
}

/// The sizes of one convolution.
struct Geom {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    o: usize,
    kh: usize,
    kw: usize,
    ho: usize,
    wo: usize,
}

fn geom(op: &'static str, input: [usize; 4], weight: [usize; 4], p: &Conv2dParams) -> Result<Geom> {
    // The checks every backend makes (groups, stride, dilation, kernel fit, overflow).
    let [_, _, ho, wo] = p.check_shapes(op, input, &weight)?;
    let [n, c, h, w] = input;
    let [o, _, kh, kw] = weight;
    Ok(Geom {
        n,
        c,
        h,
        w,
        o,
        kh,
        kw,
        ho,
        wo,
    })
}

fn float_only(wgpu: &Wgpu, op: &'static str, dtypes: &[DType]) -> Result<DType> {
    let dtype = dtypes[0];
    if let Some(&d) = dtypes.iter().find(|&&d| d != dtype) {
        return Err(Error::DType {
            op,
            expected: format!("all tensors of dtype {dtype}"),
            got: d,
        });
    }
    if !dtype.is_float() {
        return Err(Error::unsupported(op, dtype, "wgpu"));
    }
    wgpu.device().check(op, &[dtype])?;
    Ok(dtype)
}

fn strides_of(l: &Layout) -> [usize; 5] {
    let s = l.strides();
    [l.offset(), s[0], s[1], s[2], s[3]]
}

#[allow(clippy::too_many_arguments)]
fn run(
    wgpu: &Wgpu,
    pass: Pass,
    dtype: DType,
    geom: &Geom,
    p: &Conv2dParams,
    (a, b): (View<'_, WgpuStorage>, View<'_, WgpuStorage>),
    bias: Option<View<'_, WgpuStorage>>,
    out_len: usize,
) -> Result<WgpuStorage> {
    let device = wgpu.device();
    let dst = storage::alloc(device, dtype, out_len)?;
    if out_len == 0 {
        return Ok(dst);
    }
    let g = p.groups;
    let (cg, og) = (geom.c / g, geom.o / g);
    let khw = geom.kh * geom.kw;
    let (m, nc, k) = match pass {
        Pass::Forward => (og, geom.n * geom.ho * geom.wo, cg * khw),
        Pass::BackwardInput => (cg, geom.n * geom.h * geom.w, og * khw),
        Pass::BackwardWeight => (og, cg * khw, geom.n * geom.ho * geom.wo),
    };
    let mut words: Vec<usize> = Vec::new();
    words.extend(strides_of(a.layout));
    words.extend(strides_of(b.layout));
    words.extend([
        geom.n,
        geom.c,
        geom.h,
        geom.w,
        geom.o,
        geom.kh,
        geom.kw,
        geom.ho,
        geom.wo,
        p.stride[0],
        p.stride[1],
        p.padding[0],
        p.padding[1],
        p.dilation[0],
        p.dilation[1],
        cg,
        og,
        m,
        nc,
        k,
        bias.is_some() as usize,
        0,
    ]);
    let mut params = Vec::new();
    for w in words {
        let w = u32::try_from(w).map_err(|_| {
            Error::invalid("conv2d", "the wgpu backend indexes with 32 bits; too large")
        })?;
        params.extend(w.to_le_bytes());
    }
    // A strided bias is packed; without one, any buffer stands in at its binding (unread).
    let packed;
    let bias_storage = match bias {
        Some(v) if v.layout.is_contiguous() && v.layout.offset() == 0 => v.storage,
        Some(v) => {
            packed = crate::copy::contiguous(wgpu, v)?;
            &packed
        }
        None => a.storage,
    };
    device.dispatch(
        &spec(dtype, pass),
        "conv",
        &params,
        &[
            read(b.storage),
            read(a.storage),
            read(bias_storage),
            write(&dst),
        ],
        crate::launch::check_grid("conv2d", [nc.div_ceil(64), m.div_ceil(64), g])?,
    )?;
    Ok(dst)
}

pub(crate) fn conv2d(
    wgpu: &Wgpu,
    input: View<'_, WgpuStorage>,
    weight: View<'_, WgpuStorage>,
    bias: Option<View<'_, WgpuStorage>>,
    p: &Conv2dParams,
) -> Result<WgpuStorage> {
    const OP: &str = "conv2d";
    let mut dtypes = vec![input.storage.dtype(), weight.storage.dtype()];
    dtypes.extend(bias.map(|b| b.storage.dtype()));
    let dtype = float_only(wgpu, OP, &dtypes)?;
    let geom = geom(
        OP,
        conv_dims(OP, "input", input.layout)?,
        conv_dims(OP, "weight", weight.layout)?,
        p,
    )?;
    let len = geom.n * geom.o * geom.ho * geom.wo;
    run(
        wgpu,
        Pass::Forward,
        dtype,
        &geom,
        p,
        (weight, input),
        bias,
        len,
    )
}

pub(crate) fn conv2d_backward_input(
    wgpu: &Wgpu,
    grad_output: View<'_, WgpuStorage>,
    weight: View<'_, WgpuStorage>,
    input_dims: [usize; 4],
    p: &Conv2dParams,
) -> Result<WgpuStorage> {
    const OP: &str = "conv2d_backward_input";
    let dtype = float_only(
        wgpu,
        OP,
        &[grad_output.storage.dtype(), weight.storage.dtype()],
    )?;
    let geom = geom(OP, input_dims, conv_dims(OP, "weight", weight.layout)?, p)?;
    let god = conv_dims(OP, "grad_output", grad_output.layout)?;
    if god != [geom.n, geom.o, geom.ho, geom.wo] {
        return Err(Error::shape(
            OP,
            format!(
                "grad_output shape {god:?} is not the output shape {:?}",
                [geom.n, geom.o, geom.ho, geom.wo]
            ),
        ));
    }
    let len = input_dims.iter().product();
    run(
        wgpu,
        Pass::BackwardInput,
        dtype,
        &geom,
        p,
        (weight, grad_output),
        None,
        len,
    )
}

pub(crate) fn conv2d_backward_weight(
    wgpu: &Wgpu,
    grad_output: View<'_, WgpuStorage>,
    input: View<'_, WgpuStorage>,
    weight_dims: [usize; 4],
    p: &Conv2dParams,
) -> Result<WgpuStorage> {
    const OP: &str = "conv2d_backward_weight";
    let dtype = float_only(
        wgpu,
        OP,
        &[grad_output.storage.dtype(), input.storage.dtype()],
    )?;
    let geom = geom(OP, conv_dims(OP, "input", input.layout)?, weight_dims, p)?;
    let god = conv_dims(OP, "grad_output", grad_output.layout)?;
    if god != [geom.n, geom.o, geom.ho, geom.wo] {
        return Err(Error::shape(
            OP,
            format!(
                "grad_output shape {god:?} is not the output shape {:?}",
                [geom.n, geom.o, geom.ho, geom.wo]
            ),
        ));
    }
    let len = weight_dims.iter().product();
    run(
        wgpu,
        Pass::BackwardWeight,
        dtype,
        &geom,
        p,
        (grad_output, input),
        None,
        len,
    )
}

/// Every shader instantiation this module can ask for (for the naga validation test).
pub(crate) fn variants() -> Vec<ShaderSpec> {
    let mut out = Vec::new();
    for dtype in [DType::F32, DType::F16, DType::BF16, DType::F64] {
        for pass in [Pass::Forward, Pass::BackwardInput, Pass::BackwardWeight] {
            out.push(spec(dtype, pass));
        }
    }
    out
}
