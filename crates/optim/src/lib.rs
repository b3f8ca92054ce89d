//! `torch.optim` for Tiny-Torch: the [`Optimizer`] trait, [`Sgd`], [`Adam`], AdamW
//! ([`Adam::adamw`]) and [`RmsProp`], with torch.optim's update order, eps placement and bias
//! correction; their `state_dict` / `load_state_dict` ([`OptimizerStateDict`]); and the LR
//! schedulers of `torch.optim.lr_scheduler` ([`LrScheduler`]: [`StepLR`], [`MultiStepLR`],
//! [`CosineAnnealingLR`], [`LinearLR`], [`SequentialLR`], [`OneCycleLR`]).
//!
//! Parameters are tensor handles shared with the model (clones of one handle share storage and
//! `.grad`); `step` reads each `.grad` and updates the parameter in place under `no_grad`.
//! Parameters are organised in groups ([`ParamGroup`]), each with its own hyper-parameters, as
//! `param_groups` in PyTorch; a parameter whose `.grad` is `None` is skipped.
//!
//! A scheduler does not own its optimizer (Rust would then forbid calling `optimizer.step()`
//! while the scheduler lives): it is given the optimizer at each call, as a `&mut dyn`
//! [`Schedulable`], the part of an optimizer a scheduler reads and writes.

mod adam;
mod groups;
mod rmsprop;
mod scheduler;
mod sgd;
mod state_dict;
mod value;

pub use adam::{Adam, AdamOptions, AdamState};
pub use groups::ParamGroup;
pub use rmsprop::{RmsProp, RmsPropOptions, RmsPropState};
pub use scheduler::{
    AnnealStrategy, CosineAnnealingLR, ExponentialLR, LinearLR, LrScheduler, MultiStepLR,
    OneCycleLR, OneCycleOptions, PerGroup, SequentialLR, StepLR,
};
pub use sgd::{Sgd, SgdOptions};
pub use state_dict::{GroupStateDict, OptimizerStateDict};
pub use value::Value;

use tiny_torch_core::{Backend, Result};
use tiny_torch_tensor::Tensor;

/// The values of one parameter group that LR schedulers read and write, as torch keeps them in
/// `optimizer.param_groups[i]`: `"lr"`, `"initial_lr"` (set by the first scheduler attached) and
/// the momentum that [`OneCycleLR`] cycles (`"momentum"` for SGD and RMSprop, `"betas"[0]` for
/// Adam).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GroupSchedule {
    pub lr: f64,
    pub initial_lr: Option<f64>,
    /// `None` for an optimizer without a momentum-like hyper-parameter.
    pub momentum: Option<f64>,
}

/// What an LR scheduler needs from an optimizer. Free of the backend type, so that schedulers
/// are plain structs that work with any optimizer on any device.
pub trait Schedulable {
    fn num_param_groups(&self) -> usize;

    /// The scheduled values of group `group`, `None` when there is no such group.
    fn group_schedule(&self, group: usize) -> Option<GroupSchedule>;

    /// Sets them. Errors when `group` does not exist, or when `momentum` is `Some` for an
    /// optimizer without momentum.
    fn set_group_schedule(&mut self, group: usize, values: GroupSchedule) -> Result<()>;
}

/// What every optimizer does.
pub trait Optimizer<B: Backend>: Schedulable {
    /// One update of every parameter that has a `.grad`.
    fn step(&mut self) -> Result<()>;

    /// All parameters of all groups.
    fn parameters(&self) -> Vec<Tensor<B>>;

    /// `optimizer.zero_grad()` (set_to_none=True, PyTorch's default): clears every `.grad`.
    fn zero_grad(&mut self) {
        for p in self.parameters() {
            p.clear_grad();
        }
    }

    /// The learning rate of group `group`.
    fn lr(&self, group: usize) -> Option<f64> {
        self.group_schedule(group).map(|s| s.lr)
    }

    /// Sets the learning rate of every group.
    fn set_lr(&mut self, lr: f64) {
        for group in 0..self.num_param_groups() {
            if let Some(values) = self.group_schedule(group) {
                // Cannot fail: the group exists and its momentum is written back unchanged.
                let _ = self.set_group_schedule(group, GroupSchedule { lr, ..values });
            }
        }
    }

    /// `optimizer.state_dict()`: per-parameter state and per-group hyper-parameters, laid out as
    /// PyTorch's (see [`OptimizerStateDict`]). The state tensors share storage with the live
    /// state, as PyTorch's do: save them before the next `step` if a snapshot is needed.
    fn state_dict(&self) -> Result<OptimizerStateDict<B>>;

    /// `optimizer.load_state_dict(state)`: replaces the hyper-parameters and the per-parameter
    /// state with copies of those in `state` (converted to each parameter's dtype and device).
    /// The number of groups, of parameters per group and every state tensor's shape must match;
    /// otherwise it returns an error and changes nothing.
    fn load_state_dict(&mut self, state: &OptimizerStateDict<B>) -> Result<()>;
}
