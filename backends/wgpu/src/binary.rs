//! Element-wise ops of two inputs and `where` (`shaders/binary.wgsl`). Semantics are the CPU
//! backend's: integer arithmetic wraps, integer division truncates and a zero divisor is an
//! error (reported at the next synchronization), `maximum`/`minimum` propagate NaN.

use crate::Wgpu;
use crate::device::{Access, Arg, read, write};
use crate::launch::{KernelLayout, grid};
use crate::shader::{Kind, ShaderSpec, compute_bytes, kind, padded};
use crate::storage::WgpuStorage;
use tiny_torch_core::{
    BackendStorage, BinaryOp, DType, Error, Layout, Result, View, ViewMut, check_extent,
    check_same_dims, check_scaled_add_dtypes, check_where_dtypes,
};

/// The body of `fn op(a: SC, b: SC) -> SC`, or `Unsupported`.
fn op_body(op: BinaryOp, dtype: DType) -> Result<&'static str> {
    use BinaryOp::*;
    let k = kind(dtype);
    let bool_ = dtype == DType::Bool;
    let body = match (op, k) {
        (Eq, _) => "return select(SC(0), SC(1), a == b);",
        (Ne, _) => "return select(SC(0), SC(1), a != b);",
        (Lt, _) => "return select(SC(0), SC(1), a < b);",
        (Le, _) => "return select(SC(0), SC(1), a <= b);",
        (Gt, _) => "return select(SC(0), SC(1), a > b);",
        (Ge, _) => "return select(SC(0), SC(1), a >= b);",
        (LogicalAnd, _) => "return select(SC(0), SC(1), a != SC(0) && b != SC(0));",
        (LogicalOr, _) => "return select(SC(0), SC(1), a != SC(0) || b != SC(0));",
        (LogicalXor, _) => "return select(SC(0), SC(1), (a != SC(0)) != (b != SC(0)));",
        (Add | Maximum, _) if bool_ => "return select(SC(0), SC(1), a != SC(0) || b != SC(0));",
        (Mul | Minimum, _) if bool_ => "return select(SC(0), SC(1), a != SC(0) && b != SC(0));",
        (_, _) if bool_ => "",
        (Add, _) => "return a + b;",
        (Sub, _) => "return a - b;",
        (Mul, _) => "return a * b;",
        (Div, Kind::F32 | Kind::F64) => "return a / b;",
        (Div, _) => "return div_checked(a, b);",
        (Maximum, Kind::F32 | Kind::F64) => "return select(b, a, nan_S(a) || a > b);",
        (Minimum, Kind::F32 | Kind::F64) => "return select(b, a, nan_S(a) || a < b);",
        (Maximum, _) => "return max(a, b);",
        (Minimum, _) => "return min(a, b);",
        (Pow, Kind::F32) => "return pow_f32(a, b);",
        (Atan2, Kind::F32) => "return atan2_f32(a, b);",
        (Pow, Kind::F64) => "return pow_f64(a, b);",
        (Atan2, Kind::F64) => "return atan2_f64(a, b);",
        (ReluBackward, Kind::F32 | Kind::F64) => "return select(a, SC(0), b <= SC(0));",
        (Pow, Kind::Signed) => {
            "if b < SC(0) {\n        if a == SC(1) {\n            return SC(1);\n        }\n        \
             if a == SC(-1) {\n            return select(a, SC(1), (b & SC(1)) == SC(0));\n        }\n        \
             return SC(0);\n    }\n    \
             var r = SC(1);\n    var base = a;\n    var e = b;\n    loop {\n        \
             if e <= SC(0) {\n            break;\n        }\n        \
             if (e & SC(1)) == SC(1) {\n            r = r * base;\n        }\n        \
             base = base * base;\n        e = e >> 1u;\n    }\n    return r;"
        }
        (Pow, Kind::Unsigned) => {
            "var r = SC(1);\n    var base = a;\n    var e = b;\n    loop {\n        \
             if e == SC(0) {\n            break;\n        }\n        \
             if (e & SC(1)) == SC(1) {\n            r = (r * base) & 255u;\n        }\n        \
             base = (base * base) & 255u;\n        e = e >> 1u;\n    }\n    return r;"
        }
        _ => "",
    };
    if body.is_empty() {
        return Err(Error::unsupported(op.name(), dtype, "wgpu"));
    }
    Ok(body)
}

fn spec(op: BinaryOp, dtype: DType, inplace: bool) -> Result<ShaderSpec> {
    let body = op_body(op, dtype)?;
    let out = op.output_dtype(dtype);
    Ok(ShaderSpec::new("binary")
        .dtype("S", dtype)
        .dtype("D", out)
        .convert("cvt", dtype, out)
        .code(&format!("fn op(a: SC, b: SC) -> SC {{\n    {body}\n}}"))
        .flag_if(kind(dtype) == Kind::F32, "F32MATH")
        .math_if(kind(dtype) == Kind::F64)
        .flag_if(op == BinaryOp::Div && !dtype.is_float(), "DIVCHECK")
        .flag_if(inplace, "INPLACE"))
}

/// The checks of the CPU and CUDA backends: operands of one shape, inside their storages.
fn check_layouts(op: &'static str, operands: &[(&WgpuStorage, &Layout)]) -> Result<()> {
    let layouts: Vec<&Layout> = operands.iter().map(|&(_, l)| l).collect();
    check_same_dims(op, &layouts)?;
    for &(storage, layout) in operands {
        check_extent(op, layout, storage.len())?;
    }
    Ok(())
}

pub(crate) fn binary(
    wgpu: &Wgpu,
    op: BinaryOp,
    lhs: View<'_, WgpuStorage>,
    rhs: View<'_, WgpuStorage>,
    dst: ViewMut<'_, WgpuStorage>,
) -> Result<()> {
    let dtype = lhs.storage.dtype();
    op.check_dtypes(dtype, rhs.storage.dtype(), dst.storage.dtype())?;
    check_layouts(
        op.name(),
        &[
            (lhs.storage, lhs.layout),
            (rhs.storage, rhs.layout),
            (&*dst.storage, dst.layout),
        ],
    )?;
    let device = wgpu.device();
    device.check(op.name(), &[dtype])?;
    let spec = spec(op, dtype, false)?;
    let n = dst.layout.numel();
    let l = KernelLayout::merged(op.name(), &[lhs.layout, rhs.layout, dst.layout])?;
    let params = [l[0], l[1], l[2], l[2]];
    let errors = device.error_record();
    let mut args = vec![read(lhs.storage), read(rhs.storage), write(dst.storage)];
    if op == BinaryOp::Div && !dtype.is_float() {
        args.push(Arg {
            buffer: &errors,
            access: Access::Write,
        });
    }
    device.dispatch(
        &spec,
        "binary",
        bytemuck::cast_slice(&params),
        &args,
        grid(n),
    )
}

pub(crate) fn binary_inplace(
    wgpu: &Wgpu,
    op: BinaryOp,
    dst: ViewMut<'_, WgpuStorage>,
    rhs: View<'_, WgpuStorage>,
) -> Result<()> {
    let dtype = dst.storage.dtype();
    op.check_dtypes(dtype, rhs.storage.dtype(), dtype)?;
    check_layouts(
        op.name(),
        &[(&*dst.storage, dst.layout), (rhs.storage, rhs.layout)],
    )?;
    let device = wgpu.device();
    device.check(op.name(), &[dtype])?;
    let spec = spec(op, dtype, true)?;
    let n = dst.layout.numel();
    let l = KernelLayout::merged(op.name(), &[dst.layout, rhs.layout])?;
    let params = [l[0], l[1], l[0], l[0]];
    let errors = device.error_record();
    let mut args = vec![write(dst.storage), read(rhs.storage)];
    if op == BinaryOp::Div && !dtype.is_float() {
        args.push(Arg {
            buffer: &errors,
            access: Access::Write,
        });
    }
    device.dispatch(
        &spec,
        "binary",
        bytemuck::cast_slice(&params),
        &args,
        grid(n),
    )
}

/// `dst = alpha * dst + beta * src` in one dispatch (an optimizer's update, which `mul_` and
/// `add_` make in two and a temporary): the in-place binary shader with that update as its op,
/// alpha and beta in its uniform in the compute type (f32 for f32/f16/bf16, f64 for f64).
pub(crate) fn scaled_add(
    wgpu: &Wgpu,
    dst: ViewMut<'_, WgpuStorage>,
    src: View<'_, WgpuStorage>,
    alpha: f64,
    beta: f64,
) -> Result<()> {
    const OP: &str = "scaled_add";
    let dtype = dst.storage.dtype();
    check_scaled_add_dtypes(dtype, src.storage.dtype(), "wgpu")?;
    check_layouts(
        OP,
        &[(&*dst.storage, dst.layout), (src.storage, src.layout)],
    )?;
    let device = wgpu.device();
    device.check(OP, &[dtype])?;
    let spec = ShaderSpec::new("binary")
        .dtype("S", dtype)
        .dtype("D", dtype)
        .convert("cvt", dtype, dtype)
        .code("fn op(a: SC, b: SC) -> SC {\n    return P.alpha * a + P.beta * b;\n}")
        .flag("INPLACE")
        .flag("SCALED");
    let n = dst.layout.numel();
    let l = KernelLayout::merged(OP, &[dst.layout, src.layout])?;
    let mut params = bytemuck::cast_slice(&[l[0], l[1], l[0], l[0]]).to_vec();
    params.extend(compute_bytes(dtype, alpha, 0));
    params.extend(compute_bytes(dtype, beta, 0));
    device.dispatch(
        &spec,
        "binary",
        &padded(params),
        &[write(dst.storage), read(src.storage)],
        grid(n),
    )
}

pub(crate) fn where_cond(
    wgpu: &Wgpu,
    cond: View<'_, WgpuStorage>,
    on_true: View<'_, WgpuStorage>,
    on_false: View<'_, WgpuStorage>,
    dst: ViewMut<'_, WgpuStorage>,
) -> Result<()> {
    let dtype = on_true.storage.dtype();
    check_where_dtypes(
        cond.storage.dtype(),
        dtype,
        on_false.storage.dtype(),
        dst.storage.dtype(),
    )?;
    check_layouts(
        "where",
        &[
            (cond.storage, cond.layout),
            (on_true.storage, on_true.layout),
            (on_false.storage, on_false.layout),
            (&*dst.storage, dst.layout),
        ],
    )?;
    let device = wgpu.device();
    device.check("where", &[dtype])?;
    let n = dst.layout.numel();
    let l = KernelLayout::merged(
        "where",
        &[on_true.layout, on_false.layout, dst.layout, cond.layout],
    )?;
    device.dispatch(
        &where_spec(dtype),
        "where_cond",
        bytemuck::cast_slice(&l),
        &[
            read(cond.storage),
            read(on_true.storage),
            read(on_false.storage),
            write(dst.storage),
        ],
        grid(n),
    )
}

fn where_spec(dtype: DType) -> ShaderSpec {
    ShaderSpec::new("binary")
        .dtype("S", dtype)
        .dtype("D", dtype)
        .flag("WHERE")
}

/// Every shader instantiation this module can ask for (for the naga validation test).
pub(crate) fn variants() -> Vec<ShaderSpec> {
    let mut out = Vec::new();
    for dtype in crate::VALIDATED_DTYPES {
        out.push(where_spec(dtype));
        for op in BinaryOp::ALL {
            for inplace in [false, true] {
                if let Ok(s) = spec(op, dtype, inplace) {
                    out.push(s);
                }
            }
        }
    }
    out
}
