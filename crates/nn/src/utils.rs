//! `torch.nn.utils`: gradient clipping, [`clip_grad_norm_`] and [`clip_grad_value_`], on the
//! `.grad` of each parameter that has one (in place, outside autograd).

use tiny_torch_core::{Backend, DType, Error, Result};
use tiny_torch_tensor::{Tensor, autograd::no_grad};

/// `torch.linalg.vector_norm(x, ord)` of all elements as a 0-dim tensor of `x`'s dtype (f16 and
/// bf16 computed in f32 and rounded once, as PyTorch): `ord` 2, 1, any p, `inf` (largest
/// `|x|`), `-inf` (smallest) or 0 (the count of non-zeros).
pub fn vector_norm<B: Backend>(x: &Tensor<B>, ord: f64) -> Result<Tensor<B>> {
    if !x.dtype().is_float() {
        return Err(Error::invalid(
            "vector_norm",
            format!("expected a floating-point tensor, got {:?}", x.dtype()),
        ));
    }
    if ord == 2.0 {
        return x.norm(); // f16/bf16 summed in f32 there too
    }
    if matches!(x.dtype(), DType::F16 | DType::BF16) {
        return vector_norm(&x.to_dtype(DType::F32)?, ord)?.to_dtype(x.dtype());
    }
    let magnitude = x.abs()?;
    if x.numel() == 0 && ord < 0.0 {
        return Err(Error::invalid(
            "vector_norm",
            format!("cannot compute the {ord} norm of an empty tensor (no identity)"),
        ));
    }
    if ord == 1.0 {
        magnitude.sum()
    } else if ord.is_infinite() {
        if x.numel() == 0 {
            return Err(Error::invalid(
                "vector_norm",
                "cannot compute the inf norm of an empty tensor (the reduction has no identity)",
            ));
        }
        match ord > 0.0 {
            true => magnitude.amax(&[], false),
            false => magnitude.amin(&[], false),
        }
    } else if ord == 0.0 {
        magnitude.ne(0.0)?.to_dtype(x.dtype())?.sum()
    } else {
        magnitude.pow(ord)?.sum()?.pow(1.0 / ord)
    }
}

/// The `.grad` of each parameter that has one.
fn grads<B: Backend>(parameters: &[Tensor<B>]) -> Vec<Tensor<B>> {
    parameters.iter().filter_map(Tensor::grad).collect()
}

/// `torch.nn.utils.clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite)`: the
/// norm of order `norm_type` of all the gradients together (the norm of their norms), then
/// every gradient scaled in place by `min(1, max_norm / (total + 1e-6))`. Returns the total
/// norm (0-dim; a float32 0 when no parameter has a gradient, an error for no parameters). With `error_if_nonfinite`, a NaN or
/// infinite total is an error and nothing is scaled; without, the gradients are scaled by it
/// anyway, as in PyTorch.
pub fn clip_grad_norm_<B: Backend>(
    parameters: &[Tensor<B>],
    max_norm: f64,
    norm_type: f64,
    error_if_nonfinite: bool,
) -> Result<Tensor<B>> {
    let _no_grad = no_grad();
    let grads = grads(parameters);
    let Some(first) = grads.first() else {
        // PyTorch's tensor(0.), on the parameters' backend (none: nothing to make it on).
        return match parameters.first() {
            Some(p) => Tensor::zeros(&[], DType::F32, p.backend()),
            None => Err(Error::invalid(
                "clip_grad_norm_",
                "no parameters (PyTorch returns tensor(0.); here there is no backend to make \
                 it on)",
            )),
        };
    };
    let norms = grads
        .iter()
        .map(|g| vector_norm(g, norm_type))
        .collect::<Result<Vec<_>>>()?;
    // PyTorch's `stack` promotes the norms to one dtype.
    let dtype = norms
        .iter()
        .map(Tensor::dtype)
        .fold(first.dtype(), promote_float);
    let norms = norms
        .iter()
        .map(|n| n.to_dtype(dtype))
        .collect::<Result<Vec<_>>>()?;
    let total = vector_norm(
        &Tensor::stack(&norms.iter().collect::<Vec<_>>(), 0)?,
        norm_type,
    )?;
    if error_if_nonfinite {
        let value = total.to_f64_vec()?[0];
        if !value.is_finite() {
            return Err(Error::invalid(
                "clip_grad_norm_",
                format!(
                    "The total norm of order {norm_type} for gradients from `parameters` is \
                     non-finite ({value}), so it cannot be clipped. To disable this error and \
                     scale the gradients by the non-finite norm anyway, set \
                     `error_if_nonfinite=false`"
                ),
            ));
        }
    }
    // `max_norm / (total + 1e-6)`, which PyTorch evaluates as a reciprocal times max_norm.
    let coefficient = total
        .ones_like()?
        .div(&total.add(1e-6)?)?
        .mul(max_norm)?
        .clamp_max(1.0)?;
    for g in &grads {
        g.mul_(&coefficient)?;
    }
    Ok(total)
}

/// The dtype two float norms stack to (PyTorch's promotion: f16 with bf16 gives f32).
fn promote_float(a: DType, b: DType) -> DType {
    match (a, b) {
        _ if a == b => a,
        (DType::F64, _) | (_, DType::F64) => DType::F64,
        _ => DType::F32,
    }
}

/// `torch.nn.utils.clip_grad_value_(parameters, clip_value)`: every gradient clamped in place
/// to `[-clip_value, clip_value]`.
pub fn clip_grad_value_<B: Backend>(parameters: &[Tensor<B>], clip_value: f64) -> Result<()> {
    let _no_grad = no_grad();
    for g in grads(parameters) {
        g.clamp_(Some(-clip_value), Some(clip_value))?;
    }
    Ok(())
}
