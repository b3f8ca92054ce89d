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
use crate::strided::{Walk, check_extent};
use rayon::prelude::*;
use tiny_torch_core::{BackendStorage, DType, Error, Layout, Result, ScatterReduce, View, ViewMut};

/// The index values of `index` in row-major order, checked against `size`.
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
    let raw = match index.storage.dtype() {
        DType::I64 => {
            let data = index.storage.data::<i64>(op)?;
            check_extent(op, index.layout, data.len())?;
            collect(data, index.layout)
        }
        DType::I32 => {
            let data = index.storage.data::<i32>(op)?;
            check_extent(op, index.layout, data.len())?;
            collect(data, index.layout)
        }
        got => {
            return Err(Error::DType {
                op,
                expected: "an index of dtype int64".into(),
                got,
            });
        }
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

/// `dims`/`strides` of `layout` with a zero-dim layout read as one element of size 1.
fn at_least_1d(layout: &Layout) -> (Vec<usize>, Vec<usize>) {
    if layout.ndim() == 0 {
        (vec![1], vec![1])
    } else {
        (layout.dims().to_vec(), layout.strides().to_vec())
    }
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

/// `src.index_select(dim, index)` into a new contiguous buffer.
pub(crate) fn index_select(
    src: View<'_, CpuStorage>,
    dim: usize,
    index: View<'_, CpuStorage>,
) -> Result<CpuStorage> {
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
    let idx = index_values(OP, index, dim, dims[dim])?;
    dispatch!(src.storage.dtype(), T => {
        let data = src.storage.data::<T>(OP)?;
        check_extent(OP, src.layout, data.len())?;
        select_typed(data, src.layout.offset(), &dims, &strides, dim, &idx)
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

/// `src.gather(dim, index)`: a new contiguous buffer of `index`'s shape.
pub(crate) fn gather(
    src: View<'_, CpuStorage>,
    dim: usize,
    index: View<'_, CpuStorage>,
) -> Result<CpuStorage> {
    const OP: &str = "gather";
    let (sdims, _) = at_least_1d(src.layout);
    let (idims, _) = at_least_1d(index.layout);
    check_dim(OP, dim, sdims.len())?;
    check_index_shape(OP, &idims, &sdims, dim, true, "input")?;
    let idx = index_values(OP, index, dim, sdims[dim])?;
    let sel = restrict(src.layout, &idims, dim, true)?;
    let stride = at_least_1d(src.layout).1[dim];
    dispatch!(src.storage.dtype(), T => {
        let data = src.storage.data::<T>(OP)?;
        check_extent(OP, src.layout, data.len())?;
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
    let (ddims, _) = at_least_1d(dst.layout);
    let (sdims, _) = at_least_1d(src.layout);
    let (idims, _) = at_least_1d(index.layout);
    check_dim(op, dim, ddims.len())?;
    check_index_shape(op, &idims, &sdims, dim, false, "src")?;
    check_index_shape(op, &idims, &ddims, dim, true, "self")?;
    let idx = index_values(op, index, dim, ddims[dim])?;
    let dsel = restrict(dst.layout, &idims, dim, true)?;
    let ssel = restrict(src.layout, &idims, dim, false)?;
    let stride = at_least_1d(dst.layout).1[dim];
    dispatch!(dtype, T => {
        let s = src.storage.data::<T>(op)?;
        check_extent(op, src.layout, s.len())?;
        let d = dst.storage.data_mut::<T>(op)?;
        check_extent(op, dst.layout, d.len())?;
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
