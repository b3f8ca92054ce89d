//! `gradcheck`: analytic gradients against central finite differences, in float64.

use super::{grad, no_grad};
use crate::Tensor;
use tiny_torch_core::{Backend, DType, Error, Result};

/// Checks the gradients of `f` at `inputs` as `torch.autograd.gradcheck` does: every
/// floating-point input is converted to float64 and made a leaf that requires grad; the
/// Jacobian from the engine (one backward per output element) is compared with central
/// differences `(f(x + eps) - f(x - eps)) / 2 eps`, entry by entry, within
/// `atol + rtol * |numerical|`. Other inputs (indices, masks) are passed through unchanged.
/// Returns an error naming the first entry that differs.
pub fn gradcheck<B: Backend>(
    f: impl Fn(&[Tensor<B>]) -> Result<Tensor<B>>,
    inputs: &[Tensor<B>],
    eps: f64,
    atol: f64,
    rtol: f64,
) -> Result<()> {
    let leaves = inputs
        .iter()
        .map(|t| {
            if t.dtype().is_float() {
                t.detach()
                    .to_dtype(DType::F64)?
                    .detach()
                    .requires_grad_(true)
            } else {
                Ok(t.clone())
            }
        })
        .collect::<Result<Vec<_>>>()?;
    let diff: Vec<usize> = (0..leaves.len())
        .filter(|&i| leaves[i].requires_grad())
        .collect();
    let out = f(&leaves)?;
    if !out.dtype().is_float() {
        return Err(Error::autograd(
            "gradcheck",
            format!("the function returned a {} tensor", out.dtype()),
        ));
    }
    let n_out = out.numel();

    // Analytic Jacobian, one row per output element: analytic[k][j][i] = d out_j / d x_k[i].
    let diff_refs: Vec<&Tensor<B>> = diff.iter().map(|&k| &leaves[k]).collect();
    let mut analytic: Vec<Vec<Vec<f64>>> = diff
        .iter()
        .map(|&k| vec![vec![0.0; leaves[k].numel()]; n_out])
        .collect();
    if out.requires_grad() {
        for j in 0..n_out {
            let mut onehot = vec![0.0; n_out];
            onehot[j] = 1.0;
            let go = Tensor::from_vec(onehot, out.dims(), out.backend())?.to_dtype(out.dtype())?;
            let grads = grad(&[&out], &diff_refs, Some(&[&go][..]), true, false)?;
            for (slot, g) in analytic.iter_mut().zip(grads) {
                if let Some(g) = g {
                    slot[j] = g.to_f64_vec()?;
                }
            }
        }
    }

    // Numerical Jacobian, one column per input element.
    let _guard = no_grad();
    for (slot, &k) in analytic.iter().zip(&diff) {
        let base = leaves[k].to_f64_vec()?;
        for i in 0..base.len() {
            let eval = |delta: f64| -> Result<Vec<f64>> {
                let mut values = base.clone();
                values[i] += delta;
                let mut args = leaves.clone();
                args[k] = Tensor::from_vec(values, leaves[k].dims(), leaves[k].backend())?;
                f(&args)?.to_f64_vec()
            };
            let (plus, minus) = (eval(eps)?, eval(-eps)?);
            for j in 0..n_out {
                let numerical = (plus[j] - minus[j]) / (2.0 * eps);
                let analytical = slot[j][i];
                let close = (numerical - analytical).abs() <= atol + rtol * numerical.abs();
                if !close {
                    return Err(Error::autograd(
                        "gradcheck",
                        format!(
                            "Jacobian mismatch for output {j} with respect to element {i} of \
                             input {k} (shape {}): numerical {numerical}, analytical \
                             {analytical}",
                            leaves[k].shape()
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}
