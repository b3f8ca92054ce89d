//! `torch.optim` for Tiny-Torch: the [`Optimizer`] trait, [`Sgd`], [`Adam`] and AdamW
//! ([`Adam::adamw`]), with torch.optim's update order, eps placement and bias correction.
//!
//! Parameters are tensor handles shared with the model (clones of one handle share storage and
//! `.grad`); `step` reads each `.grad` and updates the parameter in place under `no_grad`.
//! Parameters are organised in groups ([`ParamGroup`]), each with its own hyper-parameters, as
//! `param_groups` in PyTorch; a parameter whose `.grad` is `None` is skipped.

mod adam;
mod sgd;

pub use adam::{Adam, AdamOptions, AdamState};
pub use sgd::{Sgd, SgdOptions};

use tiny_torch_core::{Backend, Result};
use tiny_torch_tensor::Tensor;

/// What every optimizer does.
pub trait Optimizer<B: Backend> {
    /// One update of every parameter that has a `.grad`.
    fn step(&mut self) -> Result<()>;

    /// All parameters of all groups.
    fn parameters(&self) -> Vec<Tensor<B>>;

    /// `optimizer.zero_grad()` (set_to_none=True, PyTorch's default): clears every `.grad`.
    fn zero_grad(&mut self) {
        for p in self.parameters() {
            p.set_grad(None);
        }
    }

    /// The learning rate of group `group` (for schedulers).
    fn lr(&self, group: usize) -> Option<f64>;

    /// Sets the learning rate of every group.
    fn set_lr(&mut self, lr: f64);
}

/// A group of parameters sharing hyper-parameters `H`, with per-parameter optimizer state `S`.
pub struct ParamGroup<B: Backend, H, S> {
    pub params: Vec<Tensor<B>>,
    pub options: H,
    pub(crate) state: Vec<S>,
}

/// Hyper-parameters that carry a learning rate (what schedulers change).
pub trait HasLearningRate {
    fn learning_rate(&self) -> f64;
    fn set_learning_rate(&mut self, lr: f64);
}

/// The parameters of all `groups`, in order.
pub(crate) fn all_parameters<B: Backend, H, S>(groups: &[ParamGroup<B, H, S>]) -> Vec<Tensor<B>> {
    groups
        .iter()
        .flat_map(|g| g.params.iter().cloned())
        .collect()
}

/// The learning rate of group `group`.
pub(crate) fn group_lr<B: Backend, H: HasLearningRate, S>(
    groups: &[ParamGroup<B, H, S>],
    group: usize,
) -> Option<f64> {
    groups.get(group).map(|g| g.options.learning_rate())
}

/// Sets the learning rate of every group.
pub(crate) fn set_all_lr<B: Backend, H: HasLearningRate, S>(
    groups: &mut [ParamGroup<B, H, S>],
    lr: f64,
) {
    for g in groups {
        g.options.set_learning_rate(lr);
    }
}

impl<B: Backend, H, S: Default> ParamGroup<B, H, S> {
    pub(crate) fn new(params: Vec<Tensor<B>>, options: H) -> Self {
        let state = params.iter().map(|_| S::default()).collect();
        ParamGroup {
            params,
            options,
            state,
        }
    }
}

/// `a + alpha * b` as PyTorch's `a.add(b, alpha=alpha)`.
pub(crate) fn add_scaled<B: Backend>(
    a: &Tensor<B>,
    b: &Tensor<B>,
    alpha: f64,
) -> Result<Tensor<B>> {
    if alpha == 1.0 {
        a.add(b)
    } else {
        a.add(&b.mul(alpha)?)
    }
}

/// An independent copy of `t` (`t.clone().detach()`).
pub(crate) fn copy_of<B: Backend>(t: &Tensor<B>) -> Result<Tensor<B>> {
    let out = t.detach().zeros_like()?;
    out.copy_(t)?;
    Ok(out)
}
