//! Backward formulas of pooling (`ops/pool.rs`). Each backward is itself a fused, recorded
//! tensor op, and each of those is linear in the gradient with a simple transpose:
//!
//! - `max_pool2d` → `max_pool2d_backward(g, indices)` (scatter-add to the maxima), whose own
//!   gradient gathers at the same indices (the indices are constants: max pooling is piecewise
//!   linear in its input);
//! - `avg_pool2d` ↔ `avg_pool2d_backward`, and `adaptive_avg_pool2d` ↔
//!   `adaptive_avg_pool2d_backward`: each is the other's transpose.
//!
//! So gradients of any order are exact, with one fused kernel per step.

use crate::Tensor;
use crate::autograd::record;
use tiny_torch_core::{Backend, Pool2dParams};

fn dims4(dims: &[usize]) -> [usize; 4] {
    [dims[0], dims[1], dims[2], dims[3]]
}

/// Records `out = max_pool2d(x)` (4-D), whose maxima are at `indices`.
pub(crate) fn record_max_pool2d<B: Backend>(
    x: &Tensor<B>,
    indices: &Tensor<B>,
    out: Tensor<B>,
) -> Tensor<B> {
    let input_dims = dims4(x.dims());
    record("max_pool2d", out, &[x], &[indices], move |ctx, g| {
        Ok(vec![ctx.grad_if(0, || {
            Tensor::max_pool2d_backward(g, ctx.saved(0), input_dims)
        })?])
    })
}

/// Records `out = max_pool2d_backward(grad, indices)`: the gradient of `grad` gathers `gg` at
/// the indices (each output position took exactly one input element).
pub(crate) fn record_max_pool2d_backward<B: Backend>(
    grad: &Tensor<B>,
    indices: &Tensor<B>,
    out: Tensor<B>,
) -> Tensor<B> {
    let grad_dims: Vec<isize> = grad.dims().iter().map(|&d| d as isize).collect();
    record(
        "max_pool2d_backward",
        out,
        &[grad],
        &[indices],
        move |ctx, gg| {
            Ok(vec![ctx.grad_if(0, || {
                let index = ctx.saved(0).flatten(2, -1)?;
                gg.flatten(2, -1)?.gather(2, &index)?.reshape(&grad_dims)
            })?])
        },
    )
}

/// Records `out = avg_pool2d(x, params)` (4-D).
pub(crate) fn record_avg_pool2d<B: Backend>(
    x: &Tensor<B>,
    params: Pool2dParams,
    out: Tensor<B>,
) -> Tensor<B> {
    let input_dims = dims4(x.dims());
    record("avg_pool2d", out, &[x], &[], move |ctx, g| {
        Ok(vec![ctx.grad_if(0, || {
            Tensor::avg_pool2d_backward(g, input_dims, params)
        })?])
    })
}

/// Records `out = avg_pool2d_backward(grad, params)`, whose transpose is `avg_pool2d`.
pub(crate) fn record_avg_pool2d_backward<B: Backend>(
    grad: &Tensor<B>,
    params: Pool2dParams,
    out: Tensor<B>,
) -> Tensor<B> {
    record("avg_pool2d_backward", out, &[grad], &[], move |ctx, gg| {
        Ok(vec![ctx.grad_if(0, || gg.avg_pool2d_checked(params))?])
    })
}

/// Records `out = adaptive_avg_pool2d(x)` (4-D).
pub(crate) fn record_adaptive_avg_pool2d<B: Backend>(x: &Tensor<B>, out: Tensor<B>) -> Tensor<B> {
    let input_dims = dims4(x.dims());
    record("adaptive_avg_pool2d", out, &[x], &[], move |ctx, g| {
        Ok(vec![ctx.grad_if(0, || {
            Tensor::adaptive_avg_pool2d_backward(g, input_dims)
        })?])
    })
}

/// Records `out = adaptive_avg_pool2d_backward(grad)`, whose transpose is the pool itself.
pub(crate) fn record_adaptive_avg_pool2d_backward<B: Backend>(
    grad: &Tensor<B>,
    out: Tensor<B>,
) -> Tensor<B> {
    let output_size = [grad.dims()[2], grad.dims()[3]];
    record(
        "adaptive_avg_pool2d_backward",
        out,
        &[grad],
        &[],
        move |ctx, gg| {
            Ok(vec![ctx.grad_if(0, || {
                gg.adaptive_avg_pool2d_checked(output_size)
            })?])
        },
    )
}
