//! `F.batch_norm`: the fused tensor op `Tensor::batch_norm`, differentiable through autograd.

use tiny_torch_core::{Backend, Result};
use tiny_torch_tensor::Tensor;

/// `F.batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)` on
/// `[N, C, *]`. In training, normalizes with the batch statistics and updates the running ones
/// in place when given (`momentum` weighs the new batch; the variance update is unbiased); in
/// evaluation, normalizes with the running statistics. PyTorch's defaults: `training = false`,
/// `momentum = 0.1`, `eps = 1e-5`.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm<B: Backend>(
    input: &Tensor<B>,
    running_mean: Option<&Tensor<B>>,
    running_var: Option<&Tensor<B>>,
    weight: Option<&Tensor<B>>,
    bias: Option<&Tensor<B>>,
    training: bool,
    momentum: f64,
    eps: f64,
) -> Result<Tensor<B>> {
    input.batch_norm(
        running_mean,
        running_var,
        weight,
        bias,
        training,
        momentum,
        eps,
    )
}
