//! Indexing along one dim with an index tensor: `index_select`, `gather`, `scatter` and
//! `scatter_add`.
//!
//! Index tensors are `I64` (`I32` is accepted too). Every index value is checked against the
//! size of the indexed dim before anything is read or written; a value outside `[0, size)` is
//! `Error::IndexOutOfRange` (negative indices are not wrapped, as in PyTorch's `gather`).
//! `scatter` runs in index order on one thread, so with duplicate indices the last write wins
//! and `scatter_add` sums deterministically.

use crate::num::{Convert, FloatStore};
use crate::storage::{CpuStorage, Native, alloc_typed, dispatch};
use crate::strided::Walk;
use half::{bf16, f16};
use rayon::prelude::*;
use tiny_torch_core::{
    BackendStorage, DType, Error, Layout, Result, ScatterReduce, View, ViewMut, indexing,
};

/// The index values of `index` (checked by `tiny_torch_core::indexing`: `I64` or `I32`, inside
/// its storage) in row-major order, checked against `size`.
fn index_values(
    op: &'static str,
    index: View<'_, CpuStorage>,
    dim: usize,
    size: usize,
) -> Result<Vec<usize>> {
    fn collect<I: Native + Convert>(data: &[I], layout: &Layout) -> Vec<i64> {
        let walk = Walk::new([layout]);
        let [s] = walk.inner();
        let mut out = Vec::with_capacity(layout.numel());
        walk.runs(0, walk.numel(), |[o], len| {
            out.extend((0..len).map(|i| data[o + i * s].as_i64()));
        });
        out
    }
    let raw = if index.storage.dtype() == DType::I32 {
        collect(index.storage.data::<i32>(op)?, index.layout)
    } else {
        collect(index.storage.data::<i64>(op)?, index.layout)
    };
    raw.into_iter()
        .map(|i| {
            if i < 0 || i as u64 >= size as u64 {
                Err(Error::IndexOutOfRange {
                    op,
                    index: i,
                    dim,
                    size,
                })
            } else {
                Ok(i as usize)
            }
        })
        .collect()
}

/// `src.index_select(dim, index)` into a new contiguous buffer.
pub(crate) fn index_select(
    src: View<'_, CpuStorage>,
    dim: usize,
    index: View<'_, CpuStorage>,
) -> Result<CpuStorage> {
    const OP: &str = "index_select";
    indexing::check_index_select(src, dim, index)?;
    let src_1d = src.layout.at_least_1d();
    let (dims, strides) = (src_1d.dims(), src_1d.strides());
    let idx = index_values(OP, index, dim, dims[dim])?;
    dispatch!(src.storage.dtype(), T => {
        let data = src.storage.data::<T>(OP)?;
        select_typed(data, src.layout.offset(), dims, strides, dim, &idx)
    })
}

fn select_typed<T: Native>(
    data: &[T],
    offset: usize,
    dims: &[usize],
    strides: &[usize],
    dim: usize,
    idx: &[usize],
) -> Result<CpuStorage> {
    let outer = Layout::new(&dims[..dim], strides[..dim].to_vec(), offset)?;
    let inner = Layout::new(&dims[dim + 1..], strides[dim + 1..].to_vec(), 0)?;
    let inner_n = inner.numel();
    let mut out = alloc_typed::<T>(outer.numel() * idx.len() * inner_n)?;
    let o = out.data_mut::<T>("index_select")?;
    if o.is_empty() {
        return Ok(out);
    }
    let bases: Vec<usize> = outer.offsets().collect();
    let inner_walk = Walk::new([&inner]);
    let [is] = inner_walk.inner();
    let stride = strides[dim];
    // Output block `p` (of `inner_n` elements) is source slice `(p / n_idx, idx[p % n_idx])`.
    let copy_block = |p: usize, block: &mut [T]| {
        let base = bases[p / idx.len()] + idx[p % idx.len()] * stride;
        let mut k = 0;
        inner_walk.runs_at([base], 0, inner_n, |[s], len| {
            if is == 1 {
                block[k..k + len].copy_from_slice(&data[s..s + len]);
            } else {
                for (i, b) in block[k..k + len].iter_mut().enumerate() {
                    *b = data[s + i * is];
                }
            }
            k += len;
        });
    };
    let group = (16 * 1024 / inner_n).max(1);
    o.par_chunks_mut(inner_n * group)
        .enumerate()
        .for_each(|(c, chunk)| {
            for (j, block) in chunk.chunks_mut(inner_n).enumerate() {
                copy_block(c * group + j, block);
            }
        });
    Ok(out)
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

/// `src.gather(dim, index)`: a new contiguous buffer of `index`'s shape.
pub(crate) fn gather(
    src: View<'_, CpuStorage>,
    dim: usize,
    index: View<'_, CpuStorage>,
) -> Result<CpuStorage> {
    const OP: &str = "gather";
    indexing::check_gather(src, dim, index)?;
    let src_1d = src.layout.at_least_1d();
    let idims = index.layout.at_least_1d().dims().to_vec();
    let idx = index_values(OP, index, dim, src_1d.dims()[dim])?;
    let sel = restrict(src.layout, &idims, dim, true)?;
    let stride = src_1d.strides()[dim];
    dispatch!(src.storage.dtype(), T => {
        let data = src.storage.data::<T>(OP)?;
        let mut out = alloc_typed::<T>(idx.len())?;
        let o = out.data_mut::<T>(OP)?;
        let walk = Walk::new([&sel]);
        let [ss] = walk.inner();
        let mut k = 0;
        walk.runs(0, walk.numel(), |[s], len| {
            for i in 0..len {
                o[k] = data[s + i * ss + idx[k] * stride];
                k += 1;
            }
        });
        Ok(out)
    })
}

/// `dst.scatter_(dim, index, src)` or `scatter_add_`.
pub(crate) fn scatter(
    dst: ViewMut<'_, CpuStorage>,
    dim: usize,
    index: View<'_, CpuStorage>,
    src: View<'_, CpuStorage>,
    reduce: ScatterReduce,
) -> Result<()> {
    let op = reduce.name();
    indexing::check_scatter(reduce, dst.as_view(), dim, index, src)?;
    let dtype = dst.storage.dtype();
    let dst_1d = dst.layout.at_least_1d();
    let idims = index.layout.at_least_1d().dims().to_vec();
    let idx = index_values(op, index, dim, dst_1d.dims()[dim])?;
    let dsel = restrict(dst.layout, &idims, dim, true)?;
    let ssel = restrict(src.layout, &idims, dim, false)?;
    let stride = dst_1d.strides()[dim];
    if reduce == ScatterReduce::Add {
        match dtype {
            DType::F16 => {
                return add_in_f32::<f16>(dst.storage, src.storage, [&dsel, &ssel], &idx, stride);
            }
            DType::BF16 => {
                return add_in_f32::<bf16>(dst.storage, src.storage, [&dsel, &ssel], &idx, stride);
            }
            _ => {}
        }
    }
    dispatch!(dtype, T => {
        let s = src.storage.data::<T>(op)?;
        let d = dst.storage.data_mut::<T>(op)?;
        let walk = Walk::new([&dsel, &ssel]);
        let [di, si] = walk.inner();
        let mut k = 0;
        walk.runs(0, walk.numel(), |[od, os], len| {
            for i in 0..len {
                let slot = &mut d[od + i * di + idx[k] * stride];
                let v = s[os + i * si];
                *slot = match reduce {
                    ScatterReduce::Assign => v,
                    ScatterReduce::Add => slot.add(v),
                };
                k += 1;
            }
        });
        Ok(())
    })
}

/// `scatter_add` of f16 or bf16: every destination's sum in f32, rounded once at the end (as
/// PyTorch's CPU kernel sums; rounding after each add, 1000 ones would sum to 256 in bf16). The
/// sums live in an f32 copy of the destination's storage; only the slots the walk reaches are
/// written back.
fn add_in_f32<T: FloatStore<C = f32>>(
    dst: &mut CpuStorage,
    src: &CpuStorage,
    [dsel, ssel]: [&Layout; 2],
    idx: &[usize],
    stride: usize,
) -> Result<()> {
    let op = "scatter_add";
    let s = src.data::<T>(op)?;
    let d = dst.data_mut::<T>(op)?;
    let mut sums: Vec<f32> = d.iter().map(|v| v.up()).collect();
    let walk = Walk::new([dsel, ssel]);
    let [di, si] = walk.inner();
    let mut k = 0;
    walk.runs(0, walk.numel(), |[od, os], len| {
        for i in 0..len {
            sums[od + i * di + idx[k] * stride] += s[os + i * si].up();
            k += 1;
        }
    });
    let mut k = 0;
    walk.runs(0, walk.numel(), |[od, _], len| {
        for i in 0..len {
            let slot = od + i * di + idx[k] * stride;
            d[slot] = T::down(sums[slot]);
            k += 1;
        }
    });
    Ok(())
}

/// Addition for `scatter_add`: floats in their compute type, integers wrapping, bool as or.
trait Accumulate: Copy {
    fn add(self, other: Self) -> Self;
}

macro_rules! float_add {
    ($($t:ty),*) => {$(
        impl Accumulate for $t {
            fn add(self, other: Self) -> Self {
                <$t>::down(self.up() + other.up())
            }
        }
    )*};
}
float_add!(f32, f64, half::f16, half::bf16);

macro_rules! int_add {
    ($($t:ty),*) => {$(
        impl Accumulate for $t {
            fn add(self, other: Self) -> Self {
                self.wrapping_add(other)
            }
        }
    )*};
}
int_add!(u8, i32, i64);

impl Accumulate for bool {
    fn add(self, other: Self) -> Self {
        self | other
    }
}
