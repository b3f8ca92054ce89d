//! Backward formulas of views (`ops/view.rs`): gradients flow into the base.
//!
//! Shape-only views (`view`, `reshape`, `squeeze`, `unsqueeze`) reshape the gradient back;
//! `permute` and `transpose` apply the inverse permutation; `expand` sums over the expanded
//! dims. Views that pick elements (`narrow`, `select`, `slice` with a step) write the gradient
//! into zeros of the base's shape through the same view: that op, `view_backward`, is linear,
//! and its own backward is the view again, so higher-order gradients work.

use crate::Tensor;
use crate::autograd::{no_grad, record};
use std::sync::Arc;
use tiny_torch_core::{Backend, Result};

/// A view to re-apply to another tensor of the base's shape.
pub(crate) type ViewFn<B> = Arc<dyn Fn(&Tensor<B>) -> Result<Tensor<B>> + Send + Sync>;

fn isize_dims(dims: &[usize]) -> Vec<isize> {
    dims.iter().map(|&d| d as isize).collect()
}

/// Records a view that only changes the shape (`view`, `reshape`, `squeeze`, `unsqueeze`).
pub(crate) fn record_reshape<B: Backend>(
    op: &'static str,
    x: &Tensor<B>,
    out: Tensor<B>,
) -> Tensor<B> {
    let dims = isize_dims(x.dims());
    record(op, out, &[x], &[], move |_, g| {
        Ok(vec![Some(g.reshape(&dims)?)])
    })
}

/// Records `out = x.permute(perm)`.
pub(crate) fn record_permute<B: Backend>(
    x: &Tensor<B>,
    perm: &[usize],
    out: Tensor<B>,
) -> Tensor<B> {
    let mut inverse = vec![0isize; perm.len()];
    for (i, &p) in perm.iter().enumerate() {
        inverse[p] = i as isize;
    }
    record("permute", out, &[x], &[], move |_, g| {
        Ok(vec![Some(g.permute(&inverse)?)])
    })
}

/// Records `out = x.transpose(d0, d1)`.
pub(crate) fn record_transpose<B: Backend>(
    x: &Tensor<B>,
    d0: usize,
    d1: usize,
    out: Tensor<B>,
) -> Tensor<B> {
    record("transpose", out, &[x], &[], move |_, g| {
        Ok(vec![Some(g.transpose(d0 as isize, d1 as isize)?)])
    })
}

/// Records `out = x.expand(..)`: the gradient is summed back to `x`'s shape.
pub(crate) fn record_expand<B: Backend>(x: &Tensor<B>, out: Tensor<B>) -> Tensor<B> {
    let dims = x.dims().to_vec();
    record("expand", out, &[x], &[], move |_, g| {
        Ok(vec![Some(g.sum_to_size(&dims)?)])
    })
}

/// Records a view that picks elements of `x` (`narrow`, `select`, `slice`); `view` re-applies
/// it to a tensor of `x`'s shape.
pub(crate) fn record_index_view<B: Backend>(
    op: &'static str,
    x: &Tensor<B>,
    view: ViewFn<B>,
    out: Tensor<B>,
) -> Tensor<B> {
    let dims = x.dims().to_vec();
    record(op, out, &[x], &[], move |_, g| {
        Ok(vec![Some(view_scatter(g, &dims, view.clone())?)])
    })
}

/// Zeros of `base_dims` with `grad` written through `view`: the gradient of a view that picks
/// elements. Recorded as `view_backward`, whose backward applies `view`.
pub(crate) fn view_scatter<B: Backend>(
    grad: &Tensor<B>,
    base_dims: &[usize],
    view: ViewFn<B>,
) -> Result<Tensor<B>> {
    let base = Tensor::zeros(base_dims, grad.dtype(), grad.backend())?;
    {
        let _guard = no_grad();
        view(&base)?.copy_(grad)?;
    }
    Ok(record("view_backward", base, &[grad], &[], move |_, gg| {
        Ok(vec![Some(view(gg)?)])
    }))
}
