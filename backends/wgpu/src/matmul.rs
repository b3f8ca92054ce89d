//! Batched matrix products (`shaders/matmul.wgsl`): 64x64 output tiles per workgroup staged
//! through workgroup memory, 4x4 register tiles per invocation, operands read through their
//! strides (transposes and broadcast batches cost no copy). Floats accumulate in `f32` (`f64`
//! for `f64`); integers wrap, as on the CPU; bool is `Unsupported`, as in PyTorch.

use crate::Wgpu;
use crate::device::{read, write};
use crate::shader::{ShaderSpec, compute_type};
use crate::storage::{self, WgpuStorage};
use tiny_torch_core::{BackendStorage, DType, Error, Result, View, check_extent};

fn spec(dtype: DType) -> ShaderSpec {
    let acc = if dtype.is_float() && dtype != DType::F64 {
        DType::F32
    } else {
        dtype
    };
    ShaderSpec::new("matmul")
        .dtype("S", dtype)
        .dtype("D", dtype)
        .code(&format!("alias C = {};", compute_type(acc)))
        .convert("cvt", acc, dtype)
}

fn u32_of(v: usize) -> Result<u32> {
    u32::try_from(v).map_err(|_| {
        Error::invalid(
            "matmul",
            format!("the wgpu backend indexes with 32 bits; {v} is too large"),
        )
    })
}

pub(crate) fn matmul(
    wgpu: &Wgpu,
    lhs: View<'_, WgpuStorage>,
    rhs: View<'_, WgpuStorage>,
) -> Result<WgpuStorage> {
    let dtype = lhs.storage.dtype();
    tiny_torch_core::check_matmul_dtypes(dtype, rhs.storage.dtype())?;
    if dtype == DType::Bool {
        return Err(Error::unsupported("matmul", dtype, "wgpu"));
    }
    let (l, r) = (lhs.layout, rhs.layout);
    if l.ndim() != 3 || r.ndim() != 3 {
        return Err(Error::shape(
            "matmul",
            format!("expects 3-D layouts, got {} and {}", l.shape(), r.shape()),
        ));
    }
    let [b, m, k] = [l.dims()[0], l.dims()[1], l.dims()[2]];
    let [rb, rk, n] = [r.dims()[0], r.dims()[1], r.dims()[2]];
    if rb != b || rk != k {
        return Err(Error::shape(
            "matmul",
            format!(
                "shapes {} and {} cannot be multiplied",
                l.shape(),
                r.shape()
            ),
        ));
    }
    check_extent("matmul", l, lhs.storage.len())?;
    check_extent("matmul", r, rhs.storage.len())?;
    let device = wgpu.device();
    device.check("matmul", &[dtype])?;
    let dst = storage::alloc(device, dtype, b * m * n)?;
    if b * m * n == 0 {
        return Ok(dst);
    }
    let (ls, rs) = (l.strides(), r.strides());
    let words = [
        m,
        n,
        k,
        b,
        l.offset(),
        ls[0],
        ls[1],
        ls[2],
        r.offset(),
        rs[0],
        rs[1],
        rs[2],
    ];
    let mut params = Vec::new();
    for w in words {
        params.extend(u32_of(w)?.to_le_bytes());
    }
    device.dispatch(
        &spec(dtype),
        "matmul",
        &crate::shader::padded(params),
        &[read(lhs.storage), read(rhs.storage), write(&dst)],
        crate::launch::check_grid("matmul", [n.div_ceil(64), m.div_ceil(64), b])?,
    )?;
    Ok(dst)
}

/// Every shader instantiation this module can ask for (for the naga validation test).
pub(crate) fn variants() -> Vec<ShaderSpec> {
    crate::VALIDATED_DTYPES
        .into_iter()
        .filter(|&d| d != DType::Bool)
        .map(spec)
        .collect()
}
