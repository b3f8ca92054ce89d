//! Backward of `batch_norm` (`ops/batch_norm.rs`), with two paths:
//!
//! - **fused** (the usual case, no graph of the backward wanted): one backend call,
//!   `Backend::batch_norm_backward`, from the statistics the forward saved;
//! - **differentiable** (grad mode on during the backward, i.e. `create_graph`): the same
//!   formulas written with tensor ops, so that gradients of gradients work. In training the
//!   batch statistics are recomputed from the input with tensor ops (the saved ones are
//!   constants, through which no second-order term would flow); in evaluation the saved
//!   running statistics are constants, as in PyTorch.
//!
//! With `M` elements per channel, `x̂ = (x - mean) * invstd`, `Σ` over all dims but 1:
//! training `dx = (g - Σg / M - x̂ Σ(g x̂) / M) * invstd * weight`, evaluation
//! `dx = g * invstd * weight`; always `dweight = Σ(g x̂)`, `dbias = Σg`.

use crate::Tensor;
use crate::autograd::{is_grad_enabled, record};
use tiny_torch_core::{Backend, BatchNormSaved, Result};

/// Records `out = batch_norm(x, weight, bias)`; `saved` holds the statistics the forward
/// normalized with.
pub(crate) fn record_batch_norm<B: Backend>(
    x: &Tensor<B>,
    weight: Option<&Tensor<B>>,
    bias: Option<&Tensor<B>>,
    saved: BatchNormSaved<B::Storage>,
    training: bool,
    eps: f64,
    out: Tensor<B>,
) -> Tensor<B> {
    let mut inputs = vec![x];
    let mut to_save = vec![x];
    inputs.extend(weight);
    to_save.extend(weight);
    inputs.extend(bias);
    let (has_weight, has_bias) = (weight.is_some(), bias.is_some());
    record("batch_norm", out, &inputs, &to_save, move |ctx, g| {
        let x = ctx.saved(0);
        let w = has_weight.then(|| ctx.saved(1));
        let bias_at = 1 + has_weight as usize;
        let want = [
            ctx.needs(0),
            has_weight && ctx.needs(1),
            has_bias && ctx.needs(bias_at),
        ];
        let [gi, gw, gb] = if is_grad_enabled() {
            differentiable(g, x, w, &saved, training, eps, want)?
        } else {
            let [gi, gw, gb] = Tensor::batch_norm_backward_fused(g, x, w, &saved, training)?;
            [gi, gw, gb].map(Some)
        };
        let mut grads = vec![if want[0] { gi } else { None }];
        if has_weight {
            grads.push(if want[1] { gw } else { None });
        }
        if has_bias {
            grads.push(if want[2] { gb } else { None });
        }
        Ok(grads)
    })
}

/// The gradients as tensor expressions (recorded when grad mode is on); only the `want`ed ones.
fn differentiable<B: Backend>(
    g: &Tensor<B>,
    x: &Tensor<B>,
    w: Option<&Tensor<B>>,
    saved: &BatchNormSaved<B::Storage>,
    training: bool,
    eps: f64,
    want: [bool; 3],
) -> Result<[Option<Tensor<B>>; 3]> {
    let nd = x.ndim();
    let c = x.dims()[1];
    let dims: Vec<isize> = (0..nd as isize).filter(|&d| d != 1).collect();
    let mut channel = vec![1isize; nd];
    channel[1] = c as isize;
    let (xhat, invstd) = if training {
        let mean = x.mean_dim(&dims, true)?;
        let centered = x.sub(&mean)?;
        let var = centered.square()?.mean_dim(&dims, true)?;
        let invstd = var.add(eps)?.rsqrt()?;
        (centered.mul(&invstd)?, invstd)
    } else {
        let stat = |s: &B::Storage| Tensor::from_saved_stat(s, c, x.backend())?.reshape(&channel);
        let (mean, invstd) = (stat(&saved.mean)?, stat(&saved.invstd)?);
        (x.sub(&mean)?.mul(&invstd)?, invstd)
    };
    let g_sum = g.sum_dim(&dims, true)?;
    let g_dot = g.mul(&xhat)?.sum_dim(&dims, true)?;
    let grad_input = if want[0] {
        let scale = match w {
            Some(w) => invstd.mul(&w.reshape(&channel)?)?,
            None => invstd,
        };
        let centered_g = if training {
            let m = (x.numel() / c.max(1)) as f64;
            g.sub(&g_sum.div(m)?)?.sub(&xhat.mul(&g_dot.div(m)?)?)?
        } else {
            g.clone()
        };
        Some(centered_g.mul(&scale)?)
    } else {
        None
    };
    let per_channel = [c as isize];
    let grad_weight = want[1].then(|| g_dot.reshape(&per_channel)).transpose()?;
    let grad_bias = want[2].then(|| g_sum.reshape(&per_channel)).transpose()?;
    Ok([grad_input, grad_weight, grad_bias])
}
