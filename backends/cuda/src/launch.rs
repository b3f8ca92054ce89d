//! What every kernel launch needs: layouts in the form the kernels read (`Layout` in
//! `kernels/common.cuh`), dims merged so that most layouts reach the kernel 1-D, kernel names
//! per dtype, and grid sizes.

use crate::compile::backend_error;
use crate::device::CudaDevice;
use cudarc::driver::{DeviceRepr, LaunchConfig};
use tiny_torch_core::{DType, Error, Layout, Result};

/// The most dims a kernel layout holds after merging (`MAX_DIMS` in common.cuh).
pub const MAX_DIMS: usize = 8;

/// `struct Layout` of common.cuh, passed to kernels by value.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelLayout {
    ndim: i32,
    _pad: i32,
    offset: i64,
    sizes: [i64; MAX_DIMS],
    strides: [i64; MAX_DIMS],
}

// SAFETY: a plain `repr(C)` struct of integers, the same layout as common.cuh's `Layout`.
unsafe impl DeviceRepr for KernelLayout {}

impl KernelLayout {
    pub fn new(op: &'static str, dims: &[usize], strides: &[usize], offset: usize) -> Result<Self> {
        if dims.len() > MAX_DIMS {
            return Err(Error::invalid(
                op,
                format!(
                    "the CUDA backend takes at most {MAX_DIMS} non-mergeable dims, got a layout of \
                     shape {dims:?} and strides {strides:?}"
                ),
            ));
        }
        let mut layout = KernelLayout {
            ndim: dims.len() as i32,
            _pad: 0,
            offset: offset as i64,
            sizes: [1; MAX_DIMS],
            strides: [0; MAX_DIMS],
        };
        for (d, (&size, &stride)) in dims.iter().zip(strides).enumerate() {
            layout.sizes[d] = size as i64;
            layout.strides[d] = stride as i64;
        }
        Ok(layout)
    }

    /// One layout, dims merged where its strides allow.
    pub fn of(op: &'static str, layout: &Layout) -> Result<Self> {
        Ok(Self::merged(op, &[layout])?.remove(0))
    }

    /// Layouts of one shape (the operands of an element-wise op), dims merged where all of
    /// them allow it, so a kernel walks them in the same order.
    pub fn merged(op: &'static str, layouts: &[&Layout]) -> Result<Vec<Self>> {
        let dims = layouts[0].dims();
        let strides: Vec<&[usize]> = layouts.iter().map(|l| l.strides()).collect();
        let (dims, strides) = merge_dims(dims, &strides);
        layouts
            .iter()
            .zip(&strides)
            .map(|(l, s)| Self::new(op, &dims, s, l.offset()))
            .collect()
    }
}

/// Drops size-1 dims and merges dim `d` into `d + 1` wherever every operand has
/// `stride[d] == stride[d + 1] * size[d + 1]`. A contiguous tensor becomes one dim.
pub fn merge_dims(dims: &[usize], strides: &[&[usize]]) -> (Vec<usize>, Vec<Vec<usize>>) {
    let mut out_dims: Vec<usize> = Vec::new();
    let mut out_strides: Vec<Vec<usize>> = vec![Vec::new(); strides.len()];
    for d in 0..dims.len() {
        if dims[d] == 1 {
            continue;
        }
        let mergeable = !out_dims.is_empty()
            && strides.iter().zip(&out_strides).all(|(s, o)| {
                let last = *o.last().unwrap_or(&0);
                last == s[d] * dims[d]
            });
        if mergeable {
            *out_dims.last_mut().unwrap_or(&mut 0) *= dims[d];
            for (s, o) in strides.iter().zip(out_strides.iter_mut()) {
                if let Some(last) = o.last_mut() {
                    *last = s[d];
                }
            }
        } else {
            out_dims.push(dims[d]);
            for (s, o) in strides.iter().zip(out_strides.iter_mut()) {
                o.push(s[d]);
            }
        }
    }
    if out_dims.is_empty() {
        // A scalar (or all dims of size 1): one element.
        out_dims.push(1);
        for o in &mut out_strides {
            o.push(0);
        }
    }
    (out_dims, out_strides)
}

/// The suffix kernels carry for a dtype: `fill_f32`, `copy_i64_to_bf16`, ...
pub fn dtype_suffix(dtype: DType) -> &'static str {
    match dtype {
        DType::Bool => "bool",
        DType::U8 => "u8",
        DType::I32 => "i32",
        DType::I64 => "i64",
        DType::F16 => "f16",
        DType::BF16 => "bf16",
        DType::F32 => "f32",
        DType::F64 => "f64",
    }
}

/// Threads per block of the element-wise kernels.
pub const BLOCK: u32 = 256;

/// A grid for a grid-stride loop over `n` elements: enough blocks to fill the device several
/// times over, no more (the loop covers the rest).
pub fn elementwise_config(device: &CudaDevice, n: usize) -> LaunchConfig {
    let wanted = n.div_ceil(BLOCK as usize).max(1);
    let cap = device.properties.multiprocessor_count as usize * 32;
    LaunchConfig {
        grid_dim: (wanted.min(cap) as u32, 1, 1),
        block_dim: (BLOCK, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// Maps a launch failure to an error naming the kernel.
pub fn launch_error(kernel: &str, e: impl std::fmt::Display) -> Error {
    backend_error(format!("launching {kernel}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::merge_dims;

    #[test]
    fn contiguous_merges_to_one_dim() {
        let (d, s) = merge_dims(&[2, 3, 4], &[&[12, 4, 1]]);
        assert_eq!(d, vec![24]);
        assert_eq!(s, vec![vec![1]]);
    }

    #[test]
    fn transposed_operand_blocks_the_merge() {
        // [2, 3] contiguous next to its transpose's strides.
        let (d, s) = merge_dims(&[2, 3], &[&[3, 1], &[1, 2]]);
        assert_eq!(d, vec![2, 3]);
        assert_eq!(s, vec![vec![3, 1], vec![1, 2]]);
    }

    #[test]
    fn broadcast_rows_merge_with_size_one_dims_dropped() {
        let (d, s) = merge_dims(&[1, 4, 1, 5], &[&[20, 5, 5, 1], &[0, 0, 0, 1]]);
        assert_eq!(d, vec![4, 5]);
        assert_eq!(s, vec![vec![5, 1], vec![0, 1]]);
    }

    #[test]
    fn scalars_become_one_element() {
        let (d, s) = merge_dims(&[], &[&[]]);
        assert_eq!(d, vec![1]);
        assert_eq!(s, vec![vec![0]]);
    }
}
