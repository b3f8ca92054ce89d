//! Softmax and log-softmax along one dim (`kernels/softmax.cu`), numerically stable, fused.
//! Rows of up to 1024 elements along the last dim (the common case: classes, attention keys)
//! are read once into one warp's registers; any other row is read twice by a group of threads
//! (a running max and sum of exponentials, then the outputs). Either way each is written once.
//!
//! The input is viewed as rows: one per position of the other dims (their layout merged where
//! strides allow), each running along `dim` with the input's stride, written to the contiguous
//! output. Rows along a contiguous dim get a group of threads each along the row; rows whose
//! neighbours are nearer in memory than their own elements (softmax over a leading dim) are
//! laid across the block's x instead, so that warps read adjacent rows' elements together (see
//! `reduce::geometry`). f16 and bf16 compute in f32; floats only, as on the CPU. A row of all
//! -inf or with a NaN gives NaN, -inf entries give 0 (log: -inf), as on the CPU.

use crate::Cuda;
use crate::launch::{KernelLayout, dtype_suffix, launch_error, merge_dims};
use crate::reduce::{along_columns, block_shape};
use crate::storage::{self, CudaStorage};
use cudarc::driver::{LaunchConfig, PushKernelArg};
use tiny_torch_core::{BackendStorage, Error, Result, View, check_extent};

/// The longest row of the one-warp-per-row kernel (`32 * WARP_ITEMS` in softmax.cu).
const WARP_ROW_MAX: usize = 32 * 32;
/// Its block (`WARP_BLOCK`): four rows at a time.
const WARP_BLOCK: usize = 128;

/// Softmax of rows that run along a stride-1 dim into whole output rows (`inner == 1`), at most
/// [`WARP_ROW_MAX`] long: `softmax_warp_<dtype>`, each row read once into one warp's registers
/// (PyTorch's persistent softmax, what its `softmax(dim=-1)` runs for rows up to 1024).
fn launch_warp_rows(
    cuda: &Cuda,
    src: &CudaStorage,
    rows: &KernelLayout,
    n_rows: usize,
    size: usize,
    log: bool,
    out: &CudaStorage,
) -> Result<()> {
    let device = cuda.device();
    let kernel = format!("softmax_warp_{}", dtype_suffix(src.dtype()));
    let func = device.function("softmax", &kernel)?;
    // The unrolled variant: registers for 32 * items >= size elements per warp.
    let items = size.div_ceil(32).next_power_of_two() as i32;
    let rows_per_block = WARP_BLOCK / 32;
    let config = LaunchConfig {
        grid_dim: (n_rows.div_ceil(rows_per_block).min(1 << 20) as u32, 1, 1),
        block_dim: (WARP_BLOCK as u32, 1, 1),
        shared_mem_bytes: 0,
    };
    let (src_ptr, out_ptr) = (src.ptr(), out.ptr());
    let (n_rows, size, take_log) = (n_rows as i64, size as i32, log as i32);
    let mut launch = device.stream.launch_builder(&func);
    launch
        .arg(&src_ptr)
        .arg(rows)
        .arg(&n_rows)
        .arg(&size)
        .arg(&items)
        .arg(&take_log)
        .arg(&out_ptr);
    // SAFETY: the arguments match `softmax_warp_<dtype>` in softmax.cu (pointer, Layout, i64,
    // i32 x3, pointer); every row of `size` stride-1 elements lies inside the source storage
    // (check_extent), the output holds n_rows * size elements, and `items` is a power of two
    // with 32 * items >= size (the kernel's variants cover 1..=32).
    unsafe { launch.launch(config) }.map_err(|e| launch_error(&kernel, e))?;
    Ok(())
}

/// The block shape and grid of `n_rows` rows of `size` elements: (lanes_on_x, lanes, slots,
/// grid_x), as in `reduce::Geometry` (one block or warp per row, never split).
fn geometry(
    n_rows: usize,
    size: usize,
    row_stride: usize,
    stride: usize,
) -> (bool, usize, usize, usize) {
    let column = along_columns(n_rows, row_stride, stride);
    // About 8 elements per lane along a row, 16 down columns (a lane reads each one twice).
    let (lanes, slots) = block_shape(n_rows, size, column, 8, 16);
    let grid_x = n_rows.div_ceil(slots).clamp(1, i32::MAX as usize);
    (!column, lanes, slots, grid_x)
}

/// Softmax (or log-softmax when `log`) along `dim` into a new contiguous buffer.
pub(crate) fn softmax(
    cuda: &Cuda,
    src: View<'_, CudaStorage>,
    dim: usize,
    log: bool,
) -> Result<CudaStorage> {
    let op = if log { "log_softmax" } else { "softmax" };
    let layout = src.layout;
    let nd = layout.ndim();
    let dtype = src.storage.dtype();
    if !dtype.is_float() {
        return Err(Error::unsupported(op, dtype, "cuda"));
    }
    check_extent(op, layout, src.storage.len())?;
    // A zero-dim tensor is one row of one element.
    let (size, stride, inner) = if nd == 0 {
        (1, 0, 1)
    } else if dim >= nd {
        return Err(Error::DimOutOfRange {
            op,
            dim: dim as isize,
            ndim: nd,
        });
    } else {
        let inner: usize = layout.dims()[dim + 1..].iter().product();
        (layout.dims()[dim], layout.strides()[dim], inner)
    };
    let numel = layout.numel();
    let device = cuda.device();
    let out = storage::alloc(device, dtype, numel)?;
    if numel == 0 {
        return Ok(out);
    }
    let mut row_dims = layout.dims().to_vec();
    let mut row_strides = layout.strides().to_vec();
    if nd > 0 {
        row_dims.remove(dim);
        row_strides.remove(dim);
    }
    let (row_dims, row_strides) = merge_dims(&row_dims, &[&row_strides]);
    let rows = KernelLayout::new(op, &row_dims, &row_strides[0], layout.offset())?;
    let n_rows = numel / size;
    if inner == 1 && (stride == 1 || size == 1) && size <= WARP_ROW_MAX {
        launch_warp_rows(cuda, src.storage, &rows, n_rows, size, log, &out)?;
        return Ok(out);
    }
    let row_stride = row_strides[0].last().copied().unwrap_or(0);
    let (lanes_on_x, lanes, slots, grid_x) = geometry(n_rows, size, row_stride, stride);
    let (bx, by) = if lanes_on_x {
        (lanes, slots)
    } else {
        (slots, lanes)
    };
    let config = LaunchConfig {
        grid_dim: (grid_x as u32, 1, 1),
        block_dim: (bx as u32, by as u32, 1),
        shared_mem_bytes: 0,
    };

    let kernel = format!("softmax_{}", dtype_suffix(dtype));
    let func = device.function("softmax", &kernel)?;
    let (src_ptr, out_ptr) = (src.storage.ptr(), out.ptr());
    let (n_rows, size, stride, inner) = (n_rows as i64, size as i64, stride as i64, inner as i64);
    let (lanes_on_x, take_log) = (lanes_on_x as i32, log as i32);
    let mut launch = device.stream.launch_builder(&func);
    launch
        .arg(&src_ptr)
        .arg(&rows)
        .arg(&n_rows)
        .arg(&size)
        .arg(&stride)
        .arg(&inner)
        .arg(&lanes_on_x)
        .arg(&take_log)
        .arg(&out_ptr);
    // SAFETY: the arguments match `softmax_<dtype>` in softmax.cu (pointer, Layout, i64 x4,
    // i32 x2, pointer); every row lies inside the source storage (check_extent) and the output
    // holds numel elements; the block has lanes * slots <= MAX_BLOCK threads.
    unsafe { launch.launch(config) }.map_err(|e| launch_error(&kernel, e))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::geometry;
    use crate::reduce::MAX_BLOCK;

    #[test]
    fn rows_along_the_last_dim_get_lanes_on_x() {
        // [N, 1024] contiguous over the last dim: 128 lanes per row, 2 rows per block.
        assert_eq!(geometry(1000, 1024, 1024, 1), (true, 128, 2, 500));
        // A long row takes a whole block.
        assert_eq!(geometry(8, 50_000, 50_000, 1), (true, MAX_BLOCK, 1, 8));
        // Tiny rows: a thread each.
        assert_eq!(geometry(1 << 20, 5, 5, 1), (true, 1, 256, 4096));
    }

    #[test]
    fn rows_along_a_leading_dim_go_across_x() {
        // softmax over dim 0 of a contiguous [64, 4096]: rows are 4096 columns.
        let (on_x, lanes, slots, grid) = geometry(4096, 64, 1, 4096);
        assert!(!on_x);
        assert_eq!((lanes, slots, grid), (4, 64, 64));
        // One row: along x whatever the strides.
        assert!(geometry(1, 1000, 0, 7).0);
    }
}
