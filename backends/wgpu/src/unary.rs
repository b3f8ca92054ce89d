//! Element-wise ops of one input (`shaders/unary.wgsl`): the op is written into the shader as
//! a WGSL function per (op, dtype kind), its scalars travel in the parameter block.

use crate::Wgpu;
use crate::device::{read, write};
use crate::launch::{KernelLayout, grid};
use crate::shader::{Kind, ShaderSpec, compute_bytes, kind, padded};
use tiny_torch_core::{
    BackendStorage, DType, Error, Result, UnaryOp, View, ViewMut, check_extent, check_same_dims,
};

/// The body of `fn op(x: SC) -> SC` for `op` on `dtype`, or `Unsupported`.
fn op_body(op: UnaryOp, dtype: DType) -> Result<&'static str> {
    use UnaryOp::*;
    let k = kind(dtype);
    let body = match (op, k) {
        (LogicalNot, _) => "return select(SC(0), SC(1), x == SC(0));",
        (_, Kind::Unsigned) if dtype == DType::Bool => "",
        (Neg, Kind::Unsigned) => "return SC(0) - x;",
        (Abs | Relu, Kind::Unsigned) => "return x;",
        (Neg, _) => "return -x;",
        (Abs, _) => "return abs(x);",
        (Square, _) => "return x * x;",
        (Relu, _) => "return select(x, SC(0), x < SC(0));",
        (Clamp { .. }, _) => {
            "var y = x;\n    if y < P.a || nan_S(P.a) {\n        y = P.a;\n    }\n    \
             if y > P.b || nan_S(P.b) {\n        y = P.b;\n    }\n    return y;"
        }
        (PowScalar(_), Kind::Signed | Kind::Unsigned) => {
            "var r = SC(1);\n    var base = x;\n    var e = P.a;\n    loop {\n        \
             if e <= SC(0) {\n            break;\n        }\n        \
             if (e & SC(1)) == SC(1) {\n            r = r * base;\n        }\n        \
             base = base * base;\n        e = e >> 1u;\n    }\n    return r;"
        }
        (Sqrt, Kind::F32 | Kind::F64) => "return sqrt(x);",
        (Rsqrt, Kind::F32 | Kind::F64) => "return SC(1) / sqrt(x);",
        (LeakyRelu(_), Kind::F32 | Kind::F64) => "return select(x * P.a, x, x > SC(0));",
        (Exp, Kind::F32) => "return exp(x);",
        (Log, Kind::F32) => "return log(x);",
        (Sin, Kind::F32) => "return sin(x);",
        (Cos, Kind::F32) => "return cos(x);",
        (Tanh, Kind::F32) => "return tanh_f32(x);",
        (Sigmoid, Kind::F32) => "return 1.0 / (1.0 + exp(-x));",
        (Gelu, Kind::F32) => "return 0.5 * x * erfc_f32(-x * 0.70710678118654752);",
        (GeluTanh, Kind::F32) => {
            "return 0.5 * x * (1.0 + tanh_f32(0.79788456080286535 * (x + 0.044715 * x * x * x)));"
        }
        (Silu, Kind::F32) => "return x / (1.0 + exp(-x));",
        (Softplus, Kind::F32) => "return select(log1p_f32(exp(x)), x, x > 20.0);",
        (PowScalar(_), Kind::F32) => "return pow_f32(x, P.a);",
        (Exp, Kind::F64) => "return exp_f64(x);",
        (Log, Kind::F64) => "return log_f64(x);",
        (Sin, Kind::F64) => "return sin_f64(x);",
        (Cos, Kind::F64) => "return cos_f64(x);",
        (Tanh, Kind::F64) => "return tanh_f64(x);",
        (Sigmoid, Kind::F64) => "return 1.0 / (1.0 + exp_f64(-x));",
        (Gelu, Kind::F64) => "return 0.5 * x * erfc_f64(-x * 0.70710678118654752440);",
        (GeluTanh, Kind::F64) => {
            "return 0.5 * x * (1.0 + tanh_f64(0.79788456080286535588 * (x + 0.044715 * x * x * x)));"
        }
        (Silu, Kind::F64) => "return x / (1.0 + exp_f64(-x));",
        (Softplus, Kind::F64) => "return select(log1p_f64(exp_f64(x)), x, x > 20.0);",
        (PowScalar(_), Kind::F64) => "return pow_f64(x, P.a);",
        _ => "",
    };
    if body.is_empty() {
        return Err(Error::unsupported(op.name(), dtype, "wgpu"));
    }
    Ok(body)
}

/// The op's scalars `(a, b)` as compute-type bytes; errors for arguments the dtype rejects.
fn scalars(op: UnaryOp, dtype: DType) -> Result<Vec<u8>> {
    use UnaryOp::*;
    let float = dtype.is_float();
    let (int_min, int_max) = match dtype {
        DType::U8 => (0, 255),
        DType::I32 => (i32::MIN as i64, i32::MAX as i64),
        DType::Bool => (0, 1),
        _ => (i64::MIN, i64::MAX),
    };
    let int_of = |v: f64| v.clamp(int_min as f64, int_max as f64) as i64;
    let (a, b): ((f64, i64), (f64, i64)) = match op {
        LeakyRelu(s) => ((s, 0), (0.0, 0)),
        PowScalar(e) => {
            if !float {
                if e.fract() != 0.0 || !e.is_finite() {
                    return Err(Error::unsupported(op.name(), dtype, "wgpu"));
                }
                if e < 0.0 {
                    return Err(Error::invalid(
                        "pow",
                        "Integers to negative integer powers are not allowed.",
                    ));
                }
            }
            ((e, e as i64), (0.0, 0))
        }
        Clamp { min, max } => {
            if !float && (min.is_some_and(f64::is_nan) || max.is_some_and(f64::is_nan)) {
                return Err(Error::invalid("clamp", "a clamp bound is NaN"));
            }
            let lo = min.unwrap_or(f64::NEG_INFINITY);
            let hi = max.unwrap_or(f64::INFINITY);
            let ilo = min.map_or(int_min, |m| int_of(m.ceil()));
            let ihi = max.map_or(int_max, |m| int_of(m.floor()));
            ((lo, ilo), (hi, ihi))
        }
        _ => ((0.0, 0), (0.0, 0)),
    };
    let mut bytes = compute_bytes(dtype, a.0, a.1);
    bytes.extend(compute_bytes(dtype, b.0, b.1));
    Ok(bytes)
}

fn spec(op: UnaryOp, src: DType, dst: DType, inplace: bool) -> Result<ShaderSpec> {
    let body = op_body(op, src)?;
    Ok(ShaderSpec::new("unary")
        .dtype("S", src)
        .dtype("D", dst)
        .convert("cvt", src, dst)
        .code(&format!("fn op(x: SC) -> SC {{\n    {body}\n}}"))
        .flag_if(kind(src) == Kind::F32, "F32MATH")
        .math_if(kind(src) == Kind::F64)
        .flag_if(inplace, "INPLACE"))
}

pub(crate) fn unary(
    wgpu: &Wgpu,
    op: UnaryOp,
    src: View<'_, WgpuStorage>,
    dst: ViewMut<'_, WgpuStorage>,
) -> Result<()> {
    let dtype = src.storage.dtype();
    let out = op.output_dtype(dtype);
    op.check_dtypes(dtype, dst.storage.dtype())?;
    check_same_dims(op.name(), &[src.layout, dst.layout])?;
    check_extent(op.name(), src.layout, src.storage.len())?;
    check_extent(op.name(), dst.layout, dst.storage.len())?;
    wgpu.device().check(op.name(), &[dtype])?;
    let spec = spec(op, dtype, out, false)?;
    let n = dst.layout.numel();
    let layouts = KernelLayout::merged(op.name(), &[src.layout, dst.layout])?;
    let mut params = bytemuck::cast_slice(&layouts).to_vec();
    params.extend(scalars(op, dtype)?);
    wgpu.device().dispatch(
        &spec,
        "unary",
        &padded(params),
        &[read(src.storage), write(dst.storage)],
        grid(n),
    )
}

pub(crate) fn unary_inplace(wgpu: &Wgpu, op: UnaryOp, dst: ViewMut<'_, WgpuStorage>) -> Result<()> {
    let dtype = dst.storage.dtype();
    op.check_dtypes(dtype, dtype)?;
    check_extent(op.name(), dst.layout, dst.storage.len())?;
    wgpu.device().check(op.name(), &[dtype])?;
    let spec = spec(op, dtype, dtype, true)?;
    let n = dst.layout.numel();
    let layout = KernelLayout::of(op.name(), dst.layout)?;
    let mut params = bytemuck::cast_slice(&[layout, layout]).to_vec();
    params.extend(scalars(op, dtype)?);
    wgpu.device().dispatch(
        &spec,
        "unary",
        &padded(params),
        &[write(dst.storage)],
        grid(n),
    )
}

/// Every shader instantiation this module can ask for (for the naga validation test).
pub(crate) fn variants() -> Vec<ShaderSpec> {
    use UnaryOp::*;
    let ops = [
        Neg,
        Abs,
        Exp,
        Log,
        Sqrt,
        Rsqrt,
        Sin,
        Cos,
        Tanh,
        Sigmoid,
        Relu,
        Gelu,
        GeluTanh,
        Silu,
        Softplus,
        LeakyRelu(0.1),
        Square,
        PowScalar(2.0),
        Clamp {
            min: None,
            max: None,
        },
        LogicalNot,
    ];
    let mut out = Vec::new();
    for dtype in crate::VALIDATED_DTYPES {
        for op in ops {
            for inplace in [false, true] {
                if let Ok(s) = spec(op, dtype, op.output_dtype(dtype), inplace) {
                    out.push(s);
                }
            }
        }
    }
    out
}

use crate::storage::WgpuStorage;
