//! `index_select`, `gather`, `scatter` and `scatter_add` (`shaders/indexing.wgsl`), with
//! `I64` (or `I32`) indices. Index values outside `[0, size)` are `Error::IndexOutOfRange`,
//! reported by the next synchronizing call of the thread that queued the op (the shaders flag
//! them on the device; there is no host sync per op). Negative indices are not wrapped.

use crate::Wgpu;
use crate::device::{Access, Arg, read, write};
use crate::launch::{KernelLayout, grid, merge_dims};
use crate::shader::{ShaderSpec, storage_type};
use crate::storage::{self, WgpuStorage};
use tiny_torch_core::{BackendStorage, DType, Result, ScatterReduce, View, ViewMut, indexing};

/// Op codes of the error record (`error_op_name` in device.rs).
const OP_INDEX_SELECT: u32 = 1;
const OP_GATHER: u32 = 2;
const OP_SCATTER: u32 = 3;
const OP_SCATTER_ADD: u32 = 4;

fn spec(index: DType, dtype: DType, scatter: Option<ScatterReduce>) -> ShaderSpec {
    let it = storage_type(index);
    let halves = if index == DType::I64 {
        "fn index_lo(v: I) -> u32 {\n    return u32(v & i64(4294967295));\n}\n\
         fn index_hi(v: I) -> u32 {\n    return u32((v >> 32u) & i64(4294967295));\n}\n"
    } else {
        "fn index_lo(v: I) -> u32 {\n    return bitcast<u32>(v);\n}\n\
         fn index_hi(v: I) -> u32 {\n    return select(0u, 0xffffffffu, v < 0);\n}\n"
    };
    ShaderSpec::new("indexing")
        .code(&format!("alias I = {it};"))
        .dtype("S", dtype)
        .convert("cvt", dtype, dtype)
        .code(halves)
        .flag_if(scatter.is_some(), "SCATTER")
        .flag_if(scatter == Some(ScatterReduce::Add), "ADD")
}

/// The parameter block: three layouts and eight words.
fn params(layouts: [KernelLayout; 3], words: [usize; 8]) -> Vec<u8> {
    let mut p = bytemuck::cast_slice(&layouts).to_vec();
    for w in words {
        p.extend((w as u32).to_le_bytes());
    }
    p
}

fn launch(
    wgpu: &Wgpu,
    spec: &ShaderSpec,
    entry: &'static str,
    params: &[u8],
    (index, src, dst): (&WgpuStorage, &WgpuStorage, &WgpuStorage),
    invocations: usize,
) -> Result<()> {
    let device = wgpu.device();
    let errors = device.error_record();
    device.dispatch(
        spec,
        entry,
        params,
        &[
            read(index),
            read(src),
            write(dst),
            Arg {
                buffer: &errors,
                access: Access::Write,
            },
        ],
        grid(invocations),
    )
}

pub(crate) fn index_select(
    wgpu: &Wgpu,
    src: View<'_, WgpuStorage>,
    dim: usize,
    index: View<'_, WgpuStorage>,
) -> Result<WgpuStorage> {
    const OP: &str = "index_select";
    indexing::check_index_select(src, dim, index)?;
    let (idt, dtype) = (index.storage.dtype(), src.storage.dtype());
    let src_1d = src.layout.at_least_1d();
    let (dims, strides) = (src_1d.dims(), src_1d.strides());
    wgpu.device().check(OP, &[idt, dtype])?;
    let n_idx = index.layout.numel();
    let outer_n: usize = dims[..dim].iter().product();
    let inner_n: usize = dims[dim + 1..].iter().product();
    let count = outer_n * n_idx * inner_n;
    let dst = storage::alloc(wgpu.device(), dtype, count)?;
    if count == 0 {
        return Ok(dst);
    }
    let (od, os) = merge_dims(&dims[..dim], &[&strides[..dim]]);
    let (id, is) = merge_dims(&dims[dim + 1..], &[&strides[dim + 1..]]);
    let outer = KernelLayout::new(OP, &od, &os[0], src.layout.offset())?;
    let inner = KernelLayout::new(OP, &id, &is[0], 0)?;
    let index_1d = index.layout.at_least_1d();
    let il = KernelLayout::new(
        OP,
        index_1d.dims(),
        index_1d.strides(),
        index.layout.offset(),
    )?;
    let p = params(
        [outer, inner, il],
        [
            dims[dim],
            strides[dim],
            n_idx,
            OP_INDEX_SELECT as usize,
            dim,
            0,
            0,
            count,
        ],
    );
    launch(
        wgpu,
        &spec(idt, dtype, None),
        "index_select",
        &p,
        (index.storage, src.storage, &dst),
        count,
    )?;
    Ok(dst)
}

pub(crate) fn gather(
    wgpu: &Wgpu,
    src: View<'_, WgpuStorage>,
    dim: usize,
    index: View<'_, WgpuStorage>,
) -> Result<WgpuStorage> {
    const OP: &str = "gather";
    indexing::check_gather(src, dim, index)?;
    let (idt, dtype) = (index.storage.dtype(), src.storage.dtype());
    let src_1d = src.layout.at_least_1d();
    let (sdims, mut sstrides) = (src_1d.dims(), src_1d.strides().to_vec());
    let index_1d = index.layout.at_least_1d();
    let (idims, istrides) = (index_1d.dims(), index_1d.strides());
    wgpu.device().check(OP, &[idt, dtype])?;
    let count: usize = idims.iter().product();
    let dst = storage::alloc(wgpu.device(), dtype, count)?;
    if count == 0 {
        return Ok(dst);
    }
    let stride = sstrides[dim];
    sstrides[dim] = 0;
    let (md, ms) = merge_dims(idims, &[istrides, &sstrides[..]]);
    let il = KernelLayout::new(OP, &md, &ms[0], index.layout.offset())?;
    let sl = KernelLayout::new(OP, &md, &ms[1], src.layout.offset())?;
    let p = params(
        [il, sl, il],
        [sdims[dim], stride, 0, OP_GATHER as usize, dim, 0, 0, count],
    );
    launch(
        wgpu,
        &spec(idt, dtype, None),
        "gather",
        &p,
        (index.storage, src.storage, &dst),
        count,
    )?;
    Ok(dst)
}

pub(crate) fn scatter(
    wgpu: &Wgpu,
    dst: ViewMut<'_, WgpuStorage>,
    dim: usize,
    index: View<'_, WgpuStorage>,
    src: View<'_, WgpuStorage>,
    reduce: ScatterReduce,
) -> Result<()> {
    let op = reduce.name();
    let code = match reduce {
        ScatterReduce::Assign => OP_SCATTER,
        ScatterReduce::Add => OP_SCATTER_ADD,
    };
    indexing::check_scatter(reduce, dst.as_view(), dim, index, src)?;
    let (idt, dtype) = (index.storage.dtype(), dst.storage.dtype());
    let dst_1d = dst.layout.at_least_1d();
    let (ddims, mut dstrides) = (dst_1d.dims(), dst_1d.strides().to_vec());
    let src_1d = src.layout.at_least_1d();
    let sstrides = src_1d.strides();
    let index_1d = index.layout.at_least_1d();
    let (idims, istrides) = (index_1d.dims(), index_1d.strides());
    wgpu.device().check(op, &[idt, dtype])?;
    let total: usize = idims.iter().product();
    if total == 0 {
        return Ok(());
    }
    let n = idims[dim];
    let lines = total / n;
    let stride = dstrides[dim];
    dstrides[dim] = 0;
    // Lines: every dim but `dim` (size 1 there), walked jointly.
    let mut line_dims = idims.to_vec();
    line_dims[dim] = 1;
    let (md, ms) = merge_dims(&line_dims, &[istrides, sstrides, &dstrides[..]]);
    let il = KernelLayout::new(op, &md, &ms[0], index.layout.offset())?;
    let sl = KernelLayout::new(op, &md, &ms[1], src.layout.offset())?;
    let dl = KernelLayout::new(op, &md, &ms[2], dst.layout.offset())?;
    let p = params(
        [il, sl, dl],
        [
            ddims[dim],
            stride,
            n,
            code as usize,
            dim,
            istrides[dim],
            sstrides[dim],
            lines,
        ],
    );
    launch(
        wgpu,
        &spec(idt, dtype, Some(reduce)),
        "scatter",
        &p,
        (index.storage, src.storage, dst.storage),
        lines,
    )
}

/// Every shader instantiation this module can ask for (for the naga validation test).
pub(crate) fn variants() -> Vec<ShaderSpec> {
    let mut out = Vec::new();
    for index in [DType::I64, DType::I32] {
        for dtype in crate::VALIDATED_DTYPES {
            for scatter in [None, Some(ScatterReduce::Assign), Some(ScatterReduce::Add)] {
                out.push(spec(index, dtype, scatter));
            }
        }
    }
    out
}
