//! Reductions over a set of dims (`shaders/reduce.wgsl`): one workgroup per output, a tree
//! reduction in workgroup memory. The op is written into the shader as accumulator functions
//! per (op, dtype); sums of floats accumulate in `f32` (`f64` for `f64`), of integers and bool in
//! `i64`. Empty reductions give sum 0, prod 1, mean NaN; max, min and the arg-reductions of an
//! empty dim are errors, as on the CPU.

use crate::Wgpu;
use crate::device::{read, write};
use crate::launch::{KernelLayout, grid_of_groups, merge_dims};
use crate::shader::{ShaderSpec, compute_bytes, compute_type, padded};
use crate::storage::{self, WgpuStorage};
use tiny_torch_core::{BackendStorage, DType, Error, ReduceOp, Result, View, check_extent};

/// The dtype a reduction accumulates in and the one it returns.
fn dtypes(op: ReduceOp, dtype: DType) -> Result<(DType, DType)> {
    use ReduceOp::*;
    let float_acc = if dtype == DType::F64 {
        DType::F64
    } else {
        DType::F32
    };
    Ok(match op {
        Sum | Prod if dtype.is_float() => (float_acc, dtype),
        Sum | Prod => (DType::I64, DType::I64),
        Mean | Var { .. } | LogSumExp if !dtype.is_float() => {
            return Err(Error::unsupported(op.name(), dtype, "wgpu"));
        }
        Mean | Var { .. } | LogSumExp => (float_acc, dtype),
        Max | Min => (dtype, dtype),
        ArgMax | ArgMin => (dtype, DType::I64),
        All | Any => (DType::Bool, DType::Bool),
    })
}

const EXTREMUM_MERGE: &str = "fn acc_merge(a: Acc, b: Acc) -> Acc {
    if a.i == EMPTY {
        return b;
    }
    if b.i == EMPTY {
        return a;
    }
    if better(b.v, a.v) {
        return b;
    }
    if better(a.v, b.v) {
        return a;
    }
    if b.i < a.i {
        return b;
    }
    return a;
}
fn acc_init() -> Acc {
    return Acc(A(0), EMPTY);
}
fn acc_feed(a: Acc, x: SC, r: u32) -> Acc {
    return acc_merge(a, Acc(A(x), r));
}
";

const SUM: &str = "fn acc_init() -> Acc {
    return Acc(A(0), 0u);
}
fn acc_merge(a: Acc, b: Acc) -> Acc {
    return Acc(a.v + b.v, 0u);
}
fn acc_feed(a: Acc, x: SC, r: u32) -> Acc {
    return Acc(a.v + A(x), 0u);
}
";

fn spec(op: ReduceOp, dtype: DType) -> Result<ShaderSpec> {
    use ReduceOp::*;
    let (acc, out) = dtypes(op, dtype)?;
    let mut s = ShaderSpec::new("reduce")
        .dtype("S", dtype)
        .dtype("D", out)
        .code(&format!("alias A = {};", compute_type(acc)))
        .code(&crate::shader::nan_fn("A", acc))
        .convert("cvt", acc, out);
    let code: String = match op {
        Sum => format!("{SUM}fn acc_finish(a: Acc, n: u32) -> D {{\n    return cvt(a.v);\n}}\n"),
        Mean => {
            format!("{SUM}fn acc_finish(a: Acc, n: u32) -> D {{\n    return cvt(a.v / A(n));\n}}\n")
        }
        Prod => "fn acc_init() -> Acc {
    return Acc(A(1), 0u);
}
fn acc_merge(a: Acc, b: Acc) -> Acc {
    return Acc(a.v * b.v, 0u);
}
fn acc_feed(a: Acc, x: SC, r: u32) -> Acc {
    return Acc(a.v * A(x), 0u);
}
fn acc_finish(a: Acc, n: u32) -> D {
    return cvt(a.v);
}
"
        .to_string(),
        Max | Min | ArgMax | ArgMin => {
            let cmp = if matches!(op, Max | ArgMax) { ">" } else { "<" };
            let finish = if matches!(op, Max | Min) {
                "cvt(a.v)"
            } else {
                "i64(a.i)"
            };
            format!(
                "fn better(x: A, y: A) -> bool {{\n    return (nan_A(x) && !nan_A(y)) || x {cmp} y;\n}}\n\
                 {EXTREMUM_MERGE}fn acc_finish(a: Acc, n: u32) -> D {{\n    return {finish};\n}}\n"
            )
        }
        All | Any => {
            let (init, joint) = if op == All { ("1u", "&") } else { ("0u", "|") };
            format!(
                "fn acc_init() -> Acc {{\n    return Acc({init}, 0u);\n}}\n\
                 fn acc_merge(a: Acc, b: Acc) -> Acc {{\n    return Acc(a.v {joint} b.v, 0u);\n}}\n\
                 fn acc_feed(a: Acc, x: SC, r: u32) -> Acc {{\n    \
                 return Acc(a.v {joint} select(0u, 1u, x != SC(0)), 0u);\n}}\n\
                 fn acc_finish(a: Acc, n: u32) -> D {{\n    return a.v;\n}}\n"
            )
        }
        Var { .. } => {
            s = s.flag("TWOPASS");
            format!(
                "{SUM}fn center(a: Acc, n: u32) -> A {{\n    return a.v / A(n);\n}}\n\
                 fn feed2(a: Acc, x: SC, c: A) -> Acc {{\n    let d = A(x) - c;\n    \
                 return Acc(a.v + d * d, 0u);\n}}\n\
                 fn merge2(a: Acc, b: Acc) -> Acc {{\n    return Acc(a.v + b.v, 0u);\n}}\n\
                 fn finish2(a: Acc, c: A, n: u32) -> D {{\n    \
                 return cvt(a.v / max(A(n) - P.correction, A(0)));\n}}\n\
                 fn acc_finish(a: Acc, n: u32) -> D {{\n    return cvt(a.v);\n}}\n"
            )
        }
        LogSumExp => {
            let f64 = acc == DType::F64;
            let (exp, log) = if f64 {
                ("exp_f64", "log_f64")
            } else {
                ("exp", "log")
            };
            s = s.flag("TWOPASS").math_if(f64).code(if f64 {
                "fn inf_A() -> f64 {\n    return bitcast<f64>(0x7ff0000000000000lu);\n}"
            } else {
                "fn inf_A() -> f32 {\n    return bitcast<f32>(0x7f800000u);\n}"
            });
            format!(
                "fn better(x: A, y: A) -> bool {{\n    return (nan_A(x) && !nan_A(y)) || x > y;\n}}\n\
                 {EXTREMUM_MERGE}fn center(a: Acc, n: u32) -> A {{\n    return a.v;\n}}\n\
                 fn feed2(a: Acc, x: SC, c: A) -> Acc {{\n    \
                 return Acc(select(a.v, A(0), a.i == EMPTY) + {exp}(A(x) - c), 0u);\n}}\n\
                 fn merge2(a: Acc, b: Acc) -> Acc {{\n    \
                 return Acc(select(a.v, A(0), a.i == EMPTY) + select(b.v, A(0), b.i == EMPTY), 0u);\n}}\n\
                 fn finish2(a: Acc, c: A, n: u32) -> D {{\n    \
                 if n == 0u {{\n        return cvt(-inf_A());\n    }}\n    \
                 if abs(c) == inf_A() {{\n        return cvt(c);\n    }}\n    \
                 return cvt(c + {log}(a.v));\n}}\n\
                 fn acc_finish(a: Acc, n: u32) -> D {{\n    return cvt(a.v);\n}}\n"
            )
        }
    };
    Ok(s.code(&code))
}

pub(crate) fn reduce(
    wgpu: &Wgpu,
    op: ReduceOp,
    src: View<'_, WgpuStorage>,
    dims: &[usize],
) -> Result<WgpuStorage> {
    let name = op.name();
    let layout = src.layout;
    let nd = layout.ndim();
    let dims = op.check_dims(layout.dims(), dims)?;
    check_extent(name, layout, src.storage.len())?;
    let dtype = src.storage.dtype();
    let (acc, out) = dtypes(op, dtype)?;
    let device = wgpu.device();
    device.check(name, &[dtype, acc, out])?;
    let (mut kept, mut kept_strides, mut red, mut red_strides) = (vec![], vec![], vec![], vec![]);
    for d in 0..nd {
        if dims.contains(&d) {
            red.push(layout.dims()[d]);
            red_strides.push(layout.strides()[d]);
        } else {
            kept.push(layout.dims()[d]);
            kept_strides.push(layout.strides()[d]);
        }
    }
    let n_out: usize = kept.iter().product();
    let n_red: usize = red.iter().product();
    let dst = storage::alloc(device, out, n_out)?;
    if n_out == 0 {
        return Ok(dst);
    }
    let (kd, ks) = merge_dims(&kept, &[&kept_strides]);
    let (rd, rs) = merge_dims(&red, &[&red_strides]);
    let outer = KernelLayout::new(name, &kd, &ks[0], layout.offset())?;
    let inner = KernelLayout::new(name, &rd, &rs[0], 0)?;
    let mut params = bytemuck::cast_slice(&[outer, inner]).to_vec();
    for w in [n_out as u32, n_red as u32, 0, 0] {
        params.extend(w.to_le_bytes());
    }
    let correction = match op {
        ReduceOp::Var { correction } => correction,
        _ => 0.0,
    };
    params.extend(compute_bytes(acc, correction, correction as i64));
    device.dispatch(
        &spec(op, dtype)?,
        "reduce",
        &padded(params),
        &[read(src.storage), write(&dst)],
        grid_of_groups(n_out),
    )?;
    Ok(dst)
}

/// Every shader instantiation this module can ask for (for the naga validation test).
pub(crate) fn variants() -> Vec<ShaderSpec> {
    use ReduceOp::*;
    let ops = [
        Sum,
        Mean,
        Prod,
        Max,
        Min,
        ArgMax,
        ArgMin,
        Var { correction: 1.0 },
        LogSumExp,
        All,
        Any,
    ];
    let mut out = Vec::new();
    for dtype in crate::VALIDATED_DTYPES {
        for op in ops {
            if let Ok(s) = spec(op, dtype) {
                out.push(s);
            }
        }
    }
    out
}
