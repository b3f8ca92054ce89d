//! `batch_norm`, PyTorch's `F.batch_norm`, on `[N, C, *]` inputs (`[N, C]`, `[N, C, L]`,
//! `[N, C, H, W]`, ...): one fused backend call that normalizes each channel and, in training,
//! updates the running statistics in place (outside autograd, as PyTorch's buffers are).
//!
//! The backend writes the running statistics through `ViewMut`s while it reads the input, the
//! weight and the bias. A statistic that shares its storage with one of those (or with the
//! other statistic) is therefore computed in a private copy and copied back, so that no storage
//! is ever locked twice; in evaluation, where nothing is written, the statistics are read from
//! private copies, which leaves their versions alone.

use crate::Tensor;
use crate::autograd::formulas::batch_norm::record_batch_norm;
use crate::autograd::no_grad;
use std::sync::RwLockWriteGuard;
use tiny_torch_core::{Backend, BatchNormSaved, Error, Layout, Result, View, ViewMut};

/// A `[C]` argument (`weight`, `running_mean`, ...): the right number of elements, the input's
/// dtype and device, seen as 1-D.
fn channel_arg<B: Backend>(
    name: &str,
    t: Option<&Tensor<B>>,
    x: &Tensor<B>,
    running: bool,
) -> Result<Option<Tensor<B>>> {
    let op = "batch_norm";
    let Some(t) = t else { return Ok(None) };
    let c = x.dims()[1];
    if t.numel() != c {
        return Err(Error::shape(
            op,
            format!("{name} should contain {c} elements not {}", t.numel()),
        ));
    }
    x.check_same_device(op, t)?;
    if t.dtype() != x.dtype() {
        return Err(Error::DType {
            op,
            expected: format!(
                "{name} of the input's dtype {} (mixed dtypes are not supported)",
                x.dtype()
            ),
            got: t.dtype(),
        });
    }
    if t.ndim() == 1 {
        return Ok(Some(t.clone()));
    }
    // Running statistics are written in place: they must stay views of the caller's tensor.
    let shape = [c as isize];
    Ok(Some(if running {
        t.view(&shape)?
    } else {
        t.reshape(&shape)?
    }))
}

/// A running statistic as the backend sees it: the tensor to write into, and the tensor to copy
/// it back to afterwards when that is a private copy.
struct Running<B: Backend> {
    target: Tensor<B>,
    copy_back: Option<Tensor<B>>,
}

impl<B: Backend> Running<B> {
    fn new(t: Tensor<B>, training: bool, others: &[Option<&Tensor<B>>]) -> Result<Self> {
        let aliased = others.iter().flatten().any(|o| t.shares_storage_with(o));
        if training && !aliased {
            t.check_writable("batch_norm")?;
            return Ok(Running {
                target: t,
                copy_back: None,
            });
        }
        let private = t.detach().copy_to_new(t.dtype())?;
        Ok(Running {
            target: private,
            copy_back: training.then_some(t),
        })
    }

    /// Copies a private copy's new values back into the caller's tensor.
    fn finish(self) -> Result<()> {
        match self.copy_back {
            Some(t) => {
                let _guard = no_grad();
                t.copy_(&self.target)
            }
            None => Ok(()),
        }
    }
}

/// The `ViewMut` of a running statistic whose storage `guard` holds for writing.
fn stat_view<'a, B: Backend>(
    guard: &'a mut Option<RwLockWriteGuard<'_, B::Storage>>,
    slot: &'a Option<Running<B>>,
) -> Option<ViewMut<'a, B::Storage>> {
    match (guard, slot) {
        (Some(g), Some(r)) => Some(ViewMut::new(&mut **g, r.target.layout())),
        _ => None,
    }
}

impl<B: Backend> Tensor<B> {
    /// `F.batch_norm(self, running_mean, running_var, weight, bias, training, momentum, eps)`
    /// over every dim of `[N, C, *]` but the channels. In training, normalizes with the batch
    /// mean and biased variance and, when given, updates the running statistics in place:
    /// `running = (1 - momentum) * running + momentum * batch` (the variance unbiased). In
    /// evaluation, normalizes with the running statistics, which must be given. `weight` and
    /// `bias` (`[C]`) are optional; all tensors share the input's dtype and device.
    #[allow(clippy::too_many_arguments)]
    pub fn batch_norm(
        &self,
        running_mean: Option<&Tensor<B>>,
        running_var: Option<&Tensor<B>>,
        weight: Option<&Tensor<B>>,
        bias: Option<&Tensor<B>>,
        training: bool,
        momentum: f64,
        eps: f64,
    ) -> Result<Self> {
        let op = "batch_norm";
        if self.ndim() < 2 {
            return Err(Error::shape(
                op,
                format!(
                    "expected an input [N, C, *] of at least 2 dims, got shape {}",
                    self.shape()
                ),
            ));
        }
        if !self.dtype().is_float() {
            return Err(Error::DType {
                op,
                expected: format!("a floating-point input (shape {})", self.shape()),
                got: self.dtype(),
            });
        }
        // PyTorch's order of checks (`_batch_norm_impl_index`).
        let stat_arg = |name: &str, t: Option<&Tensor<B>>| match channel_arg(name, t, self, true)? {
            None if !training => Err(Error::invalid(
                op,
                format!("{name} must be defined in evaluation mode"),
            )),
            t => Ok(t),
        };
        let running_mean = stat_arg("running_mean", running_mean)?;
        let running_var = stat_arg("running_var", running_var)?;
        let weight = channel_arg("weight", weight, self, false)?;
        let bias = channel_arg("bias", bias, self, false)?;
        let per_channel: usize = self
            .dims()
            .iter()
            .enumerate()
            .filter(|&(d, _)| d != 1)
            .map(|(_, &n)| n)
            .product();
        if training && per_channel == 1 {
            return Err(Error::invalid(
                op,
                format!(
                    "Expected more than 1 value per channel when training, got input size {}",
                    self.shape()
                ),
            ));
        }
        let inputs = [Some(self), weight.as_ref(), bias.as_ref()];
        let slot = |t: &Option<Tensor<B>>, other: &Option<Tensor<B>>| {
            t.clone()
                .map(|t| {
                    let mut others = inputs.to_vec();
                    others.push(other.as_ref());
                    Running::new(t, training, &others)
                })
                .transpose()
        };
        let mean_slot = slot(&running_mean, &running_var)?;
        let var_slot = slot(&running_var, &running_mean)?;

        let w = weight.as_ref().unwrap_or(self);
        let b = bias.as_ref().unwrap_or(self);
        let (storage, saved) = Tensor::read([self, w, b], |[xs, ws, bs]| {
            let mut mean_guard = mean_slot.as_ref().map(|r| r.target.storage_mut());
            let mut var_guard = var_slot.as_ref().map(|r| r.target.storage_mut());
            self.backend().batch_norm(
                View::new(xs, self.layout()),
                weight.as_ref().map(|t| View::new(ws, t.layout())),
                bias.as_ref().map(|t| View::new(bs, t.layout())),
                stat_view(&mut mean_guard, &mean_slot),
                stat_view(&mut var_guard, &var_slot),
                training,
                momentum,
                eps,
            )
        })?;
        for slot in [mean_slot, var_slot].into_iter().flatten() {
            slot.finish()?;
        }
        let out = Tensor::from_storage(storage, self.dims(), self.backend());
        Ok(record_batch_norm(
            self,
            weight.as_ref(),
            bias.as_ref(),
            saved,
            training,
            eps,
            out,
        ))
    }

    /// The fused gradients of `batch_norm` (input, weight, bias), not recorded: the backward
    /// formula uses it only when no graph of the backward is wanted.
    pub(crate) fn batch_norm_backward_fused(
        grad: &Tensor<B>,
        x: &Tensor<B>,
        weight: Option<&Tensor<B>>,
        saved: &BatchNormSaved<B::Storage>,
        training: bool,
    ) -> Result<[Tensor<B>; 3]> {
        let c = x.dims()[1];
        let w = weight.unwrap_or(x);
        let (gi, gw, gb) = Tensor::read([grad, x, w], |[gs, xs, ws]| {
            x.backend().batch_norm_backward(
                View::new(gs, grad.layout()),
                View::new(xs, x.layout()),
                weight.map(|t| View::new(ws, t.layout())),
                saved,
                training,
            )
        })?;
        let backend = x.backend();
        Ok([
            Tensor::from_storage(gi, x.dims(), backend),
            Tensor::from_storage(gw, [c], backend),
            Tensor::from_storage(gb, [c], backend),
        ])
    }

    /// A copy of a saved `[C]` statistic as a tensor (for the differentiable backward).
    pub(crate) fn from_saved_stat(stat: &B::Storage, c: usize, backend: &B) -> Result<Self> {
        use tiny_torch_core::BackendStorage;
        let layout = Layout::contiguous([c]);
        Tensor::build(&[c], stat.dtype(), backend, |dst| {
            backend.copy(View::new(stat, &layout), dst)
        })
    }
}
