//! What every dispatch needs: layouts in the form the shaders read (`Layout` in
//! `shaders/common.wgsl`), dims merged so that most layouts reach the shader 1-D, and workgroup
//! counts for 1-D problems.

use bytemuck::{Pod, Zeroable};
use tiny_torch_core::{Error, Layout, Result};

/// The most dims a shader layout holds after merging.
pub const MAX_DIMS: usize = 8;

/// Invocations per workgroup of the element-wise shaders (`@workgroup_size(256)`).
pub const WG: u32 = 256;

/// `struct Layout` of common.wgsl (80 bytes, 16-byte aligned members as uniforms need).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct KernelLayout {
    ndim: u32,
    offset: u32,
    numel: u32,
    contiguous: u32,
    sizes: [u32; MAX_DIMS],
    strides: [u32; MAX_DIMS],
}

fn to_u32(op: &'static str, v: usize) -> Result<u32> {
    u32::try_from(v).map_err(|_| {
        Error::invalid(
            op,
            format!("the wgpu backend indexes with 32 bits; {v} is too large"),
        )
    })
}

impl KernelLayout {
    pub fn new(op: &'static str, dims: &[usize], strides: &[usize], offset: usize) -> Result<Self> {
        if dims.len() > MAX_DIMS {
            return Err(Error::invalid(
                op,
                format!(
                    "the wgpu backend takes at most {MAX_DIMS} non-mergeable dims, got a layout \
                     of shape {dims:?} and strides {strides:?}"
                ),
            ));
        }
        let numel: usize = dims.iter().product();
        let mut layout = KernelLayout {
            ndim: dims.len() as u32,
            offset: to_u32(op, offset)?,
            numel: to_u32(op, numel)?,
            contiguous: (dims.len() <= 1 && strides.first().is_none_or(|&s| s == 1)) as u32,
            sizes: [1; MAX_DIMS],
            strides: [0; MAX_DIMS],
        };
        for (d, (&size, &stride)) in dims.iter().zip(strides).enumerate() {
            layout.sizes[d] = to_u32(op, size)?;
            layout.strides[d] = to_u32(op, stride)?;
        }
        Ok(layout)
    }

    /// One layout, dims merged where its strides allow.
    pub fn of(op: &'static str, layout: &Layout) -> Result<Self> {
        Ok(Self::merged(op, &[layout])?.remove(0))
    }

    /// Layouts of one shape (the operands of an element-wise op), dims merged where all of
    /// them allow it, so that a shader walks them in the same order.
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
            && strides
                .iter()
                .zip(&out_strides)
                .all(|(s, o)| o.last().is_some_and(|&last| last == s[d] * dims[d]));
        if mergeable {
            if let Some(last) = out_dims.last_mut() {
                *last *= dims[d];
            }
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
        out_dims.push(1);
        for o in &mut out_strides {
            o.push(1);
        }
    }
    (out_dims, out_strides)
}

/// Workgroups for `n` invocations of `WG` each: rows of at most 65535 (the per-dim limit).
pub fn grid(n: usize) -> [u32; 3] {
    let groups = n.div_ceil(WG as usize);
    grid_of_groups(groups)
}

/// `groups` workgroups as a 2-D grid (x at most 65535); shaders rebuild the linear index.
pub fn grid_of_groups(groups: usize) -> [u32; 3] {
    if groups == 0 {
        return [0, 1, 1];
    }
    let x = groups.min(65535);
    [x as u32, groups.div_ceil(x) as u32, 1]
}

/// Errors when a 3-D grid exceeds the 65535 workgroups per dimension every adapter offers.
pub fn check_grid(op: &'static str, groups: [usize; 3]) -> Result<[u32; 3]> {
    if groups.iter().any(|&g| g > 65535) {
        return Err(Error::invalid(
            op,
            format!(
                "the wgpu backend would need {groups:?} workgroups, more than 65535 in a \
                 dimension (split the work into smaller calls)"
            ),
        ));
    }
    Ok(groups.map(|g| g as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contiguous_merges_to_one_dim() {
        let (d, s) = merge_dims(&[2, 3, 4], &[&[12, 4, 1]]);
        assert_eq!(d, vec![24]);
        assert_eq!(s, vec![vec![1]]);
    }

    #[test]
    fn transposed_operand_blocks_the_merge() {
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
    fn layout_is_the_shader_struct_size() {
        assert_eq!(std::mem::size_of::<KernelLayout>(), 80);
        let l = KernelLayout::new("t", &[6], &[1], 3).unwrap();
        assert_eq!(l.contiguous, 1);
        assert_eq!(grid(65535 * 256 + 1), [65535, 2, 1]);
    }
}
