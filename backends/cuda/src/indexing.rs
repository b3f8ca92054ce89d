//! Indexing along one dim with an index tensor (`kernels/indexing.cu`): `index_select`,
//! `gather`, `scatter` and `scatter_add`, with the CPU backend's semantics
//! (`backends/cpu/src/indexing.rs`).
//!
//! Index tensors are `I64` (`I32` is accepted too), read in place like every other operand.
//! Shapes, dims and dtypes are checked here, before anything is queued, with the CPU's errors.
//! Index *values* live on the device: one outside `[0, size)` (negative ones are not wrapped) is
//! recorded by the kernel (the first one, with the op, dim and size), skipped, and reported as
//! the CPU's `Error::IndexOutOfRange` by the next synchronizing call (`to_bytes`,
//! `synchronize`), since checking it here would wait for the device.
//!
//! With duplicate indices `scatter` keeps one of the values (which one is unspecified, as in
//! PyTorch on CUDA; the CPU keeps the last) and `scatter_add` accumulates with atomics, so float
//! sums may round in a different order from run to run.

use crate::Cuda;
use crate::launch::{KernelLayout, dtype_suffix, elementwise_config, launch_error};
use crate::storage::{self, CudaStorage};
use cudarc::driver::PushKernelArg;
use tiny_torch_core::{BackendStorage, DType, Error, Layout, Result, ScatterReduce, View, ViewMut};

/// The kernel-name suffix of an index tensor's dtype; the CPU's error for any other dtype.
fn index_suffix(op: &'static str, index: &CudaStorage) -> Result<&'static str> {
    match index.dtype() {
        DType::I64 => Ok("i64"),
        DType::I32 => Ok("i32"),
        got => Err(Error::DType {
            op,
            expected: "an index of dtype int64".into(),
            got,
        }),
    }
}

/// Errors unless every element `layout` addresses lies inside a buffer of `len` elements (the
/// CPU's check; here it keeps a kernel from reading or writing outside its allocation).
pub(crate) fn check_extent(op: &'static str, layout: &Layout, len: usize) -> Result<()> {
    let extent = if layout.numel() == 0 {
        Some(0)
    } else {
        layout
            .dims()
            .iter()
            .zip(layout.strides())
            .try_fold(layout.offset(), |last, (&n, &s)| {
                last.checked_add((n - 1).checked_mul(s)?)
            })
            .and_then(|last| last.checked_add(1))
    };
    match extent {
        Some(extent) if extent <= len => Ok(()),
        Some(extent) => Err(Error::shape(
            op,
            format!(
                "layout with shape {:?}, strides {:?} and offset {} reaches element {} of a \
                 storage of {len} elements",
                layout.dims(),
                layout.strides(),
                layout.offset(),
                extent - 1
            ),
        )),
        None => Err(Error::shape(
            op,
            format!(
                "layout with shape {:?} and strides {:?} overflows the address space",
                layout.dims(),
                layout.strides()
            ),
        )),
    }
}

/// `dims`/`strides` of `layout` with a zero-dim layout read as one element of size 1.
fn at_least_1d(layout: &Layout) -> (Vec<usize>, Vec<usize>) {
    if layout.ndim() == 0 {
        (vec![1], vec![1])
    } else {
        (layout.dims().to_vec(), layout.strides().to_vec())
    }
}

/// `layout` as a layout of at least one dim (same offset).
fn layout_1d(layout: &Layout) -> Result<Layout> {
    let (dims, strides) = at_least_1d(layout);
    Layout::new(dims, strides, layout.offset())
}

fn check_dim(op: &'static str, dim: usize, ndim: usize) -> Result<()> {
    if dim >= ndim {
        return Err(Error::DimOutOfRange {
            op,
            dim: dim as isize,
            ndim,
        });
    }
    Ok(())
}

/// `layout` restricted to `dims` (each no larger than the layout's), with dim `dim`'s stride
/// set to 0 when `zero_dim`: the base offsets of the positions an index tensor names.
fn restrict(layout: &Layout, dims: &[usize], dim: usize, zero_dim: bool) -> Result<Layout> {
    let (_, mut strides) = at_least_1d(layout);
    if zero_dim {
        strides[dim] = 0;
    }
    Layout::new(dims, strides, layout.offset())
}

/// Errors unless `index`'s dims fit `other`'s (all dims, or all but `dim`).
fn check_index_shape(
    op: &'static str,
    index: &[usize],
    other: &[usize],
    dim: usize,
    skip_dim: bool,
    what: &str,
) -> Result<()> {
    let fits = index.len() == other.len()
        && index
            .iter()
            .zip(other)
            .enumerate()
            .all(|(d, (&i, &o))| (skip_dim && d == dim) || i <= o);
    if fits {
        return Ok(());
    }
    Err(Error::shape(
        op,
        format!(
            "index shape {index:?} does not fit {what} shape {other:?} (same number of dims, \
             each no larger{})",
            if skip_dim { " except along dim" } else { "" }
        ),
    ))
}

/// `src.index_select(dim, index)` into a new contiguous buffer.
pub(crate) fn index_select(
    cuda: &Cuda,
    src: View<'_, CudaStorage>,
    dim: usize,
    index: View<'_, CudaStorage>,
) -> Result<CudaStorage> {
    const OP: &str = "index_select";
    if index.layout.ndim() > 1 {
        return Err(Error::shape(
            OP,
            format!(
                "index must be 0- or 1-dimensional, got shape {:?}",
                index.layout.dims()
            ),
        ));
    }
    let (dims, strides) = at_least_1d(src.layout);
    check_dim(OP, dim, dims.len())?;
    let isuffix = index_suffix(OP, index.storage)?;
    check_extent(OP, index.layout, index.storage.len())?;
    check_extent(OP, src.layout, src.storage.len())?;

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
    let (sdims, sstrides) = at_least_1d(src.layout);
    let (idims, _) = at_least_1d(index.layout);
    check_dim(OP, dim, sdims.len())?;
    check_index_shape(OP, &idims, &sdims, dim, true, "input")?;
    let isuffix = index_suffix(OP, index.storage)?;
    check_extent(OP, index.layout, index.storage.len())?;
    check_extent(OP, src.layout, src.storage.len())?;

    let device = cuda.device();
    let dtype = src.storage.dtype();
    let n = index.layout.numel();
    let out = storage::alloc(device, dtype, n)?;
    if n == 0 {
        return Ok(out);
    }
    let sel = restrict(src.layout, &idims, dim, true)?;
    let index_1d = layout_1d(index.layout)?;
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
    let op = match reduce {
        ScatterReduce::Assign => "scatter",
        ScatterReduce::Add => "scatter_add",
    };
    let dtype = dst.storage.dtype();
    if src.storage.dtype() != dtype {
        return Err(Error::DType {
            op,
            expected: format!("src of the destination's dtype {dtype}"),
            got: src.storage.dtype(),
        });
    }
    let (ddims, dstrides) = at_least_1d(dst.layout);
    let (sdims, _) = at_least_1d(src.layout);
    let (idims, _) = at_least_1d(index.layout);
    check_dim(op, dim, ddims.len())?;
    check_index_shape(op, &idims, &sdims, dim, false, "src")?;
    check_index_shape(op, &idims, &ddims, dim, true, "self")?;
    let isuffix = index_suffix(op, index.storage)?;
    check_extent(op, index.layout, index.storage.len())?;
    check_extent(op, src.layout, src.storage.len())?;
    check_extent(op, dst.layout, dst.storage.len())?;

    let n = index.layout.numel();
    if n == 0 {
        return Ok(());
    }
    let device = cuda.device();
    let dsel = restrict(dst.layout, &idims, dim, true)?;
    let ssel = restrict(src.layout, &idims, dim, false)?;
    let index_1d = layout_1d(index.layout)?;
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
