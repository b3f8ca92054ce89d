//! `torch.optim.SGD`.

use crate::groups::{
    GroupOptions, ParamGroup, add_scaled, all_parameters, check_new_params, check_not_empty,
    copy_of, group_schedule, non_negative, set_group_schedule,
};
use crate::state_dict::{self, Entries, OptimizerStateDict, ParamState};
use crate::value::{Fields, Value};
use crate::{GroupSchedule, Optimizer, Schedulable};
use std::collections::BTreeMap;
use tiny_torch_core::{Backend, Error, Result};
use tiny_torch_tensor::Tensor;
use tiny_torch_tensor::autograd::no_grad;

/// Hyper-parameters of [`Sgd`] (torch.optim.SGD's, same defaults except that `lr` has one).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdOptions {
    pub lr: f64,
    pub momentum: f64,
    pub dampening: f64,
    pub weight_decay: f64,
    pub nesterov: bool,
    pub maximize: bool,
}

impl Default for SgdOptions {
    fn default() -> Self {
        SgdOptions {
            lr: 1e-3,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
            maximize: false,
        }
    }
}

impl SgdOptions {
    pub fn lr(lr: f64) -> Self {
        SgdOptions {
            lr,
            ..Default::default()
        }
    }
}

impl GroupOptions for SgdOptions {
    fn lr(&self) -> f64 {
        self.lr
    }

    fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    fn momentum(&self) -> Option<f64> {
        Some(self.momentum)
    }

    fn set_momentum(&mut self, momentum: f64) {
        self.momentum = momentum;
    }

    fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::invalid("SGD", msg));
        if !non_negative(self.lr) {
            return bad(format!("Invalid learning rate: {}", self.lr));
        }
        if !non_negative(self.momentum) {
            return bad(format!("Invalid momentum value: {}", self.momentum));
        }
        if !non_negative(self.weight_decay) {
            return bad(format!("Invalid weight_decay value: {}", self.weight_decay));
        }
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            return bad("Nesterov momentum requires a momentum and zero dampening".into());
        }
        Ok(())
    }

    fn save(&self, out: &mut BTreeMap<String, Value>) {
        out.insert("lr".into(), self.lr.into());
        out.insert("momentum".into(), self.momentum.into());
        out.insert("dampening".into(), self.dampening.into());
        out.insert("weight_decay".into(), self.weight_decay.into());
        out.insert("nesterov".into(), self.nesterov.into());
        out.insert("maximize".into(), self.maximize.into());
    }

    fn load(self, f: &Fields) -> Result<Self> {
        Ok(SgdOptions {
            lr: f.opt_f64("lr")?.unwrap_or(self.lr),
            momentum: f.opt_f64("momentum")?.unwrap_or(self.momentum),
            dampening: f.opt_f64("dampening")?.unwrap_or(self.dampening),
            weight_decay: f.opt_f64("weight_decay")?.unwrap_or(self.weight_decay),
            nesterov: f.opt_bool("nesterov")?.unwrap_or(self.nesterov),
            maximize: f.opt_bool("maximize")?.unwrap_or(self.maximize),
        })
    }
}

/// SGD's per-parameter state is its momentum buffer (`state[p]["momentum_buffer"]`).
impl<B: Backend> ParamState<B> for Option<Tensor<B>> {
    fn save(&self, _param: &Tensor<B>, out: &mut Vec<(&'static str, Tensor<B>)>) -> Result<()> {
        if let Some(buf) = self {
            out.push(("momentum_buffer", buf.clone()));
        }
        Ok(())
    }

    fn load(entries: &mut Entries<B>) -> Result<Self> {
        entries.tensor("momentum_buffer")
    }
}

/// `torch.optim.SGD`: per parameter, with `g = p.grad`,
/// `g += weight_decay * p`; with momentum `buf = g` (first step) or
/// `buf = momentum * buf + (1 - dampening) * g`, then `g = g + momentum * buf` (nesterov) or
/// `g = buf`; finally `p -= lr * g` (`p += lr * g` when maximizing).
pub struct Sgd<B: Backend> {
    groups: Vec<ParamGroup<B, SgdOptions, Option<Tensor<B>>>>,
}

impl<B: Backend> Sgd<B> {
    pub fn new(params: Vec<Tensor<B>>, options: SgdOptions) -> Result<Self> {
        check_not_empty("SGD", &params)?;
        let mut sgd = Sgd { groups: Vec::new() };
        sgd.add_param_group(params, options)?;
        Ok(sgd)
    }

    /// `optimizer.add_param_group(...)`: more parameters with their own hyper-parameters.
    pub fn add_param_group(&mut self, params: Vec<Tensor<B>>, options: SgdOptions) -> Result<()> {
        options.validate()?;
        check_new_params("SGD", &self.groups, &params)?;
        self.groups.push(ParamGroup::new(params, options));
        Ok(())
    }

    pub fn param_groups(&self) -> &[ParamGroup<B, SgdOptions, Option<Tensor<B>>>] {
        &self.groups
    }

    /// The momentum buffer of parameter `index` of group `group` (`state[p]["momentum_buffer"]`).
    pub fn momentum_buffer(&self, group: usize, index: usize) -> Option<&Tensor<B>> {
        self.groups.get(group)?.state.get(index)?.as_ref()
    }
}

impl<B: Backend> Optimizer<B> for Sgd<B> {
    /// PyTorch's foreach form (its default on GPUs): each in-place update is one
    /// `Tensor::foreach_scaled_add_` over the group's parameters, which CUDA runs as a few
    /// launches for all of them rather than one per parameter. The arithmetic is the
    /// per-parameter form's, element for element.
    fn step(&mut self) -> Result<()> {
        let _guard = no_grad();
        for group in &mut self.groups {
            let o = group.options;
            let (mut params, mut grads, mut slots) = (Vec::new(), Vec::new(), Vec::new());
            for (slot, p) in group.params.iter().enumerate() {
                let Some(grad) = p.grad() else { continue };
                let mut g = if o.maximize { grad.neg()? } else { grad };
                if o.weight_decay != 0.0 {
                    g = add_scaled(&g, p, o.weight_decay)?;
                }
                params.push(p.clone());
                grads.push(g);
                slots.push(slot);
            }
            if o.momentum != 0.0 {
                // buf.mul_(momentum).add_(g, alpha=1 - dampening) where a buffer exists; on a
                // parameter's first step the buffer is a copy of g.
                let (mut momentum_bufs, mut updated, mut their_grads) =
                    (Vec::new(), Vec::new(), Vec::new());
                for (&slot, g) in slots.iter().zip(&grads) {
                    let buf = match &group.state[slot] {
                        Some(b) => {
                            updated.push(b.clone());
                            their_grads.push(g.clone());
                            b.clone()
                        }
                        None => {
                            let b = copy_of(g)?;
                            group.state[slot] = Some(b.clone());
                            b
                        }
                    };
                    momentum_bufs.push(buf);
                }
                Tensor::foreach_scaled_add_(&updated, o.momentum, &their_grads, 1.0 - o.dampening)?;
                for (g, b) in grads.iter_mut().zip(momentum_bufs) {
                    *g = if o.nesterov {
                        add_scaled(g, &b, o.momentum)?
                    } else {
                        b
                    };
                }
            }
            Tensor::foreach_scaled_add_(&params, 1.0, &grads, -o.lr)?;
        }
        Ok(())
    }

    fn parameters(&self) -> Vec<Tensor<B>> {
        all_parameters(&self.groups)
    }

    fn state_dict(&self) -> Result<OptimizerStateDict<B>> {
        state_dict::save(&self.groups)
    }

    fn load_state_dict(&mut self, state: &OptimizerStateDict<B>) -> Result<()> {
        state_dict::load(&mut self.groups, state)
    }
}

impl<B: Backend> Schedulable for Sgd<B> {
    fn num_param_groups(&self) -> usize {
        self.groups.len()
    }

    fn group_schedule(&self, group: usize) -> Option<GroupSchedule> {
        group_schedule(&self.groups, group)
    }

    fn set_group_schedule(&mut self, group: usize, values: GroupSchedule) -> Result<()> {
        set_group_schedule(&mut self.groups, group, values)
    }
}
