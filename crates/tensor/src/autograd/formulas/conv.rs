//! Backward of the convolution ops (`ops/conv.rs`).
//!
//! `y = conv2d(x, w)` is linear in `x` and in `w`. Writing `BI(gy, w)` for
//! `conv2d_backward_input` and `BW(gy, x)` for `conv2d_backward_weight` (the adjoints of
//! `x ↦ conv2d(x, w)` and `w ↦ conv2d(x, w)`), for an incoming gradient `u`:
//!
//! | op | d/d first operand | d/d second operand |
//! |---|---|---|
//! | `y = conv2d(x, w)` | `dx = BI(u, w)` | `dw = BW(u, x)` |
//! | `y = BI(gy, w)` | `d gy = conv2d(u, w)` | `dw = BW(gy, u)` |
//! | `y = BW(gy, x)` | `d gy = conv2d(x, u)` | `dx = BI(gy, u)` |
//!
//! (each line follows from `<u, y> = <gy, conv2d(x, w)>`). Every formula is one of the three
//! recorded ops, so with `create_graph` the gradients are differentiable again, to any order.
//! The bias gradient is `u` summed over the batch and both spatial dims.

use crate::Tensor;
use crate::autograd::record;
use tiny_torch_core::{Backend, Conv2dParams, Error, Result};

fn dims4<B: Backend>(t: &Tensor<B>) -> Result<[usize; 4]> {
    t.dims().try_into().map_err(|_| {
        Error::autograd(
            "conv2d",
            format!("expected a 4-D saved tensor, got shape {}", t.shape()),
        )
    })
}

/// Records `out = conv2d(x, w, bias)`.
pub(crate) fn record_conv2d<B: Backend>(
    x: &Tensor<B>,
    w: &Tensor<B>,
    bias: Option<&Tensor<B>>,
    params: Conv2dParams,
    out: Tensor<B>,
) -> Tensor<B> {
    let mut inputs = vec![x, w];
    inputs.extend(bias);
    let has_bias = bias.is_some();
    record("conv2d", out, &inputs, &[x, w], move |ctx, u| {
        let (x, w) = (ctx.saved(0), ctx.saved(1));
        let mut grads = vec![
            ctx.grad_if(0, || u.conv2d_backward_input(w, dims4(x)?, &params))?,
            ctx.grad_if(1, || u.conv2d_backward_weight(x, dims4(w)?, &params))?,
        ];
        if has_bias {
            grads.push(ctx.grad_if(2, || u.sum_dim(&[0, 2, 3], false))?);
        }
        Ok(grads)
    })
}

/// Records `out = conv2d_backward_input(gy, w)`.
pub(crate) fn record_conv2d_backward_input<B: Backend>(
    gy: &Tensor<B>,
    w: &Tensor<B>,
    params: Conv2dParams,
    out: Tensor<B>,
) -> Tensor<B> {
    record(
        "conv2d_backward_input",
        out,
        &[gy, w],
        &[gy, w],
        move |ctx, u| {
            let (gy, w) = (ctx.saved(0), ctx.saved(1));
            Ok(vec![
                ctx.grad_if(0, || u.conv2d_with(w, None, &params))?,
                ctx.grad_if(1, || gy.conv2d_backward_weight(u, dims4(w)?, &params))?,
            ])
        },
    )
}

/// Records `out = conv2d_backward_weight(gy, x)`.
pub(crate) fn record_conv2d_backward_weight<B: Backend>(
    gy: &Tensor<B>,
    x: &Tensor<B>,
    params: Conv2dParams,
    out: Tensor<B>,
) -> Tensor<B> {
    record(
        "conv2d_backward_weight",
        out,
        &[gy, x],
        &[gy, x],
        move |ctx, u| {
            let (gy, x) = (ctx.saved(0), ctx.saved(1));
            Ok(vec![
                ctx.grad_if(0, || x.conv2d_with(u, None, &params))?,
                ctx.grad_if(1, || gy.conv2d_backward_input(u, dims4(x)?, &params))?,
            ])
        },
    )
}
