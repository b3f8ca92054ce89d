//! Backward formulas of indexing ops (`ops/indexing.rs`): `index_select` and `gather` scatter
//! the gradient back (with `scatter_add`, so repeated indices sum); `scatter`/`scatter_add`
//! gather it for `src`; `where`/`masked_fill` route it by the condition. The index and the
//! condition are saved tensors, so writing to them before the backward is an error, as in
//! PyTorch, rather than a different gradient.

use super::view::view_scatter;
use crate::Tensor;
use crate::autograd::record;
use std::sync::Arc;
use tiny_torch_core::{Backend, Result};

/// Records `out = x.index_select(dim, index)`.
pub(crate) fn record_index_select<B: Backend>(
    x: &Tensor<B>,
    dim: usize,
    index: &Tensor<B>,
    out: Tensor<B>,
) -> Tensor<B> {
    let in_dims = x.dims().to_vec();
    record("index_select", out, &[x], &[index], move |ctx, g| {
        let index = ctx.saved(0);
        if in_dims.is_empty() {
            return Ok(vec![Some(g.reshape(&[])?)]);
        }
        let mut shape = vec![1isize; in_dims.len()];
        shape[dim] = index.numel() as isize;
        let g_dims: Vec<isize> = g.dims().iter().map(|&d| d as isize).collect();
        let idx = index.reshape(&shape)?.expand(&g_dims)?.contiguous()?;
        let zeros = Tensor::zeros(&in_dims, g.dtype(), g.backend())?;
        Ok(vec![Some(zeros.scatter_add(dim as isize, &idx, g)?)])
    })
}

/// Records `out = x.gather(dim, index)`.
pub(crate) fn record_gather<B: Backend>(
    x: &Tensor<B>,
    dim: isize,
    index: &Tensor<B>,
    out: Tensor<B>,
) -> Tensor<B> {
    let in_dims = x.dims().to_vec();
    record("gather", out, &[x], &[index], move |ctx, g| {
        let zeros = Tensor::zeros(&in_dims, g.dtype(), g.backend())?;
        Ok(vec![Some(zeros.scatter_add(dim, ctx.saved(0), g)?)])
    })
}

/// `g.gather(dim, index)` placed in zeros of `src_dims` (when `src` is larger than `index`).
fn gather_for_src<B: Backend>(
    g: &Tensor<B>,
    dim: isize,
    index: &Tensor<B>,
    src_dims: &[usize],
) -> Result<Tensor<B>> {
    let picked = g.gather(dim, index)?;
    if picked.dims() == src_dims {
        return Ok(picked);
    }
    let sizes = index.dims().to_vec();
    let view = Arc::new(move |t: &Tensor<B>| -> Result<Tensor<B>> {
        let mut t = t.clone();
        for (d, &size) in sizes.iter().enumerate() {
            t = t.narrow(d as isize, 0, size)?;
        }
        Ok(t)
    });
    view_scatter(&picked, src_dims, view)
}

/// Records `out = x.scatter(dim, index, src)` (`scatter_add` when `add`).
pub(crate) fn record_scatter<B: Backend>(
    add: bool,
    x: &Tensor<B>,
    dim: isize,
    index: &Tensor<B>,
    src: &Tensor<B>,
    out: Tensor<B>,
) -> Tensor<B> {
    let src_dims = src.dims().to_vec();
    let op = if add { "scatter_add" } else { "scatter" };
    record(op, out, &[x, src], &[index], move |ctx, g| {
        let index = ctx.saved(0);
        let gx = ctx.grad_if(0, || {
            if add {
                Ok(g.clone())
            } else {
                let zeros = Tensor::zeros(index.dims(), g.dtype(), g.backend())?;
                g.scatter(dim, index, &zeros)
            }
        })?;
        let gs = ctx.grad_if(1, || gather_for_src(g, dim, index, &src_dims))?;
        Ok(vec![gx, gs])
    })
}

/// Records `out = where(cond, on_true, on_false)` (`masked_fill` is `where(mask, value, x)`).
pub(crate) fn record_where<B: Backend>(
    op: &'static str,
    cond: &Tensor<B>,
    on_true: &Tensor<B>,
    on_false: &Tensor<B>,
    out: Tensor<B>,
) -> Tensor<B> {
    record(
        op,
        out,
        &[cond, on_true, on_false],
        &[cond],
        move |ctx, g| {
            let cond = ctx.saved(0);
            let zero = g.scalar_like(tiny_torch_core::Scalar::from(0.0), g.dtype())?;
            let gt = ctx.grad_if(1, || Tensor::where_cond(cond, g, &zero))?;
            let gf = ctx.grad_if(2, || Tensor::where_cond(cond, &zero, g))?;
            Ok(vec![None, gt, gf])
        },
    )
}
