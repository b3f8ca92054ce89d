//! Indexing along one dim with an index tensor (`kernels/indexing.cu`): `index_select`,
//! `gather`, `scatter` and `scatter_add`, with the CPU backend's semantics
//! (`backends/cpu/src/indexing.rs`).
//!
//! Index tensors are `I64` (`I32` is accepted too), read in place like every other operand.
//! Shapes, dims and dtypes are checked before anything is queued, by the checks every backend
//! shares (`tiny_torch_core::indexing`).
//! Index *values* live on the device: one outside `[0, size)` (negative ones are not wrapped) is
//! recorded by the kernel (the first one, with the op, dim and size), skipped, and reported as
//! the CPU's `Error::IndexOutOfRange` by the same thread's next synchronizing call (`to_bytes`,
//! `synchronize`), since checking it here would wait for the device.
//!
//! With duplicate indices `scatter` keeps one of the values (which one is unspecified, as in
//! PyTorch on CUDA; the CPU keeps the last) and `scatter_add` accumulates with atomics, so float
//! sums may round in a different order from run to run.

use crate::Cuda;
use crate::launch::{KernelLayout, dtype_suffix, elementwise_config, launch_error};
use crate::storage::{self, CudaStorage};
use cudarc::driver::PushKernelArg;
use tiny_torch_core::{
    BackendStorage, DType, Layout, Result, ScatterReduce, View, ViewMut, indexing,
};

/// The kernel-name suffix of an index tensor's dtype (checked by `tiny_torch_core::indexing`:
/// `I64` or `I32`).
fn index_suffix(index: &CudaStorage) -> &'static str {
    if index.dtype() == DType::I32 {
        "i32"
    } else {
        "i64"
    }
}

/// `layout` restricted to `dims` (each no larger than the layout's), with dim `dim`'s stride
/// set to 0 when `zero_dim`: the base offsets of the positions an index tensor names.
fn restrict(layout: &Layout, dims: &[usize], dim: usize, zero_dim: bool) -> Result<Layout> {
    let mut strides = layout.at_least_1d().strides().to_vec();
    if zero_dim {
        strides[dim] = 0;
    }
    Layout::new(dims, strides, layout.offset())
}

/// `src.index_select(dim, index)` into a new contiguous buffer.
pub(crate) fn index_select(
    cuda: &Cuda,
    src: View<'_, CudaStorage>,
    dim: usize,
    index: View<'_, CudaStorage>,
) -> Result<CudaStorage> {
    const OP: &str = "index_select";
    indexing::check_index_select(src, dim, index)?;
    let src_1d = src.layout.at_least_1d();
    let (dims, strides) = (src_1d.dims(), src_1d.strides());
    let isuffix = index_suffix(index.storage);

    let device = cuda.device();
    let dtype = src.storage.dtype();
    let index_n = index.layout.numel();
    let outer = Layout::new(&dims[..dim], strides[..dim].to_vec(), src.layout.offset())?;
    let inner = Layout::new(&dims[dim + 1..], strides[dim + 1..].to_vec(), 0)?;
    let (outer_n, inner_n) = (outer.numel(), inner.numel());
    let n = outer_n * index_n * inner_n;
    let out = storage::alloc(device, dtype, n)?;
    let index_layout = KernelLayout::of(OP, index.layout)?;
    let flags = device.error_flags();
    let (index_ptr, dim_arg, size) = (index.storage.ptr(), dim as i64, dims[dim] as i64);
    if n == 0 {
        // Nothing to copy, but the CPU still rejects an index value out of range.
        if index_n > 0 {
            let name = format!("check_index_{isuffix}");
            let func = device.function("indexing", &name)?;
            let count = index_n as i64;
            let mut launch = device.stream.launch_builder(&func);
            launch
                .arg(&index_ptr)
                .arg(&index_layout)
                .arg(&count)
                .arg(&dim_arg)
                .arg(&size)
                .arg(&flags);
            // SAFETY: the arguments match `check_index_*` in indexing.cu; the index layout lies
            // inside its storage (checked above).
            unsafe { launch.launch(elementwise_config(device, index_n)) }
                .map_err(|e| launch_error(&name, e))?;
        }
        return Ok(out);
    }

    let name = format!("index_select_{}_{isuffix}", dtype_suffix(dtype));
    let func = device.function("indexing", &name)?;
    let outer_layout = KernelLayout::of(OP, &outer)?;
    let inner_layout = KernelLayout::of(OP, &inner)?;
    let (src_ptr, out_ptr) = (src.storage.ptr(), out.ptr());
    let (inner_count, dim_stride) = (inner_n as i64, strides[dim] as i64);
    let (index_count, count) = (index_n as i64, n as i64);
    let mut launch = device.stream.launch_builder(&func);
    launch
        .arg(&src_ptr)
        .arg(&outer_layout)
        .arg(&inner_layout)
        .arg(&inner_count)
        .arg(&dim_stride)
        .arg(&dim_arg)
        .arg(&size)
        .arg(&index_ptr)
        .arg(&index_layout)
        .arg(&index_count)
        .arg(&out_ptr)
        .arg(&count)
        .arg(&flags);
    // SAFETY: the arguments match `index_select_*` in indexing.cu; the source and index layouts
    // lie inside their storages (checked above), indices are checked by the kernel, and `out`
    // holds the `n` elements written.
    unsafe { launch.launch(elementwise_config(device, n)) }.map_err(|e| launch_error(&name, e))?;
    Ok(out)
}

/// `src.gather(dim, index)`: a new contiguous buffer of `index`'s shape.
pub(crate) fn gather(
    cuda: &Cuda,
    src: View<'_, CudaStorage>,
    dim: usize,
    index: View<'_, CudaStorage>,
) -> Result<CudaStorage> {
    const OP: &str = "gather";
    indexing::check_gather(src, dim, index)?;
    let src_1d = src.layout.at_least_1d();
    let (sdims, sstrides) = (src_1d.dims(), src_1d.strides());
    let index_1d = index.layout.at_least_1d();
    let isuffix = index_suffix(index.storage);

    let device = cuda.device();
    let dtype = src.storage.dtype();
    let n = index.layout.numel();
    let out = storage::alloc(device, dtype, n)?;
    if n == 0 {
        return Ok(out);
    }
    let sel = restrict(src.layout, index_1d.dims(), dim, true)?;
    let layouts = KernelLayout::merged(OP, &[&sel, &index_1d])?;
    let name = format!("gather_{}_{isuffix}", dtype_suffix(dtype));
    let func = device.function("indexing", &name)?;
    let (src_ptr, index_ptr, out_ptr) = (src.storage.ptr(), index.storage.ptr(), out.ptr());
    let (dim_stride, dim_arg, size) = (sstrides[dim] as i64, dim as i64, sdims[dim] as i64);
    let count = n as i64;
    let flags = device.error_flags();
    let mut launch = device.stream.launch_builder(&func);
    launch
        .arg(&src_ptr)
        .arg(&layouts[0])
        .arg(&dim_stride)
        .arg(&dim_arg)
        .arg(&size)
        .arg(&index_ptr)
        .arg(&layouts[1])
        .arg(&out_ptr)
        .arg(&count)
        .arg(&flags);
    // SAFETY: the arguments match `gather_*` in indexing.cu; the index fits the source outside
    // `dim` and both layouts lie inside their storages (checked above), index values are checked
    // by the kernel, and `out` holds the `n` elements written.
    unsafe { launch.launch(elementwise_config(device, n)) }.map_err(|e| launch_error(&name, e))?;
    Ok(out)
}

/// `dst.scatter_(dim, index, src)` or `scatter_add_`.
pub(crate) fn scatter(
    cuda: &Cuda,
    dst: ViewMut<'_, CudaStorage>,
    dim: usize,
    index: View<'_, CudaStorage>,
    src: View<'_, CudaStorage>,
    reduce: ScatterReduce,
) -> Result<()> {
    let op = reduce.name();
    indexing::check_scatter(reduce, dst.as_view(), dim, index, src)?;
    let dtype = dst.storage.dtype();
    let dst_1d = dst.layout.at_least_1d();
    let (ddims, dstrides) = (dst_1d.dims(), dst_1d.strides());
    let index_1d = index.layout.at_least_1d();
    let isuffix = index_suffix(index.storage);

    let n = index.layout.numel();
    if n == 0 {
        return Ok(());
    }
    let device = cuda.device();
    let dsel = restrict(dst.layout, index_1d.dims(), dim, true)?;
    let ssel = restrict(src.layout, index_1d.dims(), dim, false)?;
    let layouts = KernelLayout::merged(op, &[&dsel, &index_1d, &ssel])?;
    let name = format!("{op}_{}_{isuffix}", dtype_suffix(dtype));
    let func = device.function("indexing", &name)?;
    let (dst_ptr, index_ptr, src_ptr) = (dst.storage.ptr(), index.storage.ptr(), src.storage.ptr());
    let (dim_stride, dim_arg, size) = (dstrides[dim] as i64, dim as i64, ddims[dim] as i64);
    let count = n as i64;
    let flags = device.error_flags();
    let mut launch = device.stream.launch_builder(&func);
    launch
        .arg(&dst_ptr)
        .arg(&layouts[0])
        .arg(&dim_stride)
        .arg(&dim_arg)
        .arg(&size)
        .arg(&index_ptr)
        .arg(&layouts[1])
        .arg(&src_ptr)
        .arg(&layouts[2])
        .arg(&count)
        .arg(&flags);
    // SAFETY: the arguments match `scatter_*` / `scatter_add_*` in indexing.cu; the index fits
    // src and dst (outside `dim`), all three layouts lie inside their storages (checked above),
    // and index values are checked by the kernel. `dst` is not borrowed as an input (the
    // contract of `Backend::scatter`).
    unsafe { launch.launch(elementwise_config(device, n)) }.map_err(|e| launch_error(&name, e))?;
    Ok(())
}
