//! `torch.optim.RMSprop`.

use crate::groups::{
    GroupOptions, ParamGroup, add_scaled, all_parameters, check_new_params, check_not_empty,
    group_schedule, lerp_, non_negative, set_group_schedule, state_tensor,
};
use crate::state_dict::{self, Entries, OptimizerStateDict, ParamState, step_tensor};
use crate::value::{Fields, Value};
use crate::{GroupSchedule, Optimizer, Schedulable};
use std::collections::BTreeMap;
use tiny_torch_core::{Backend, Error, Result};
use tiny_torch_tensor::Tensor;
use tiny_torch_tensor::autograd::no_grad;

/// Hyper-parameters of [`RmsProp`], with torch's defaults (lr 0.01, alpha 0.99, eps 1e-8, no
/// weight decay, no momentum, not centered).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RmsPropOptions {
    pub lr: f64,
    pub alpha: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub momentum: f64,
    pub centered: bool,
    pub maximize: bool,
}

impl Default for RmsPropOptions {
    fn default() -> Self {
        RmsPropOptions {
            lr: 1e-2,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum: 0.0,
            centered: false,
            maximize: false,
        }
    }
}

impl GroupOptions for RmsPropOptions {
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
        let bad = |msg: String| Err(Error::invalid("RMSprop", msg));
        if !non_negative(self.lr) {
            return bad(format!("Invalid learning rate: {}", self.lr));
        }
        if !non_negative(self.eps) {
            return bad(format!("Invalid epsilon value: {}", self.eps));
        }
        if !non_negative(self.momentum) {
            return bad(format!("Invalid momentum value: {}", self.momentum));
        }
        if !non_negative(self.weight_decay) {
            return bad(format!("Invalid weight_decay value: {}", self.weight_decay));
        }
        if !non_negative(self.alpha) {
            return bad(format!("Invalid alpha value: {}", self.alpha));
        }
        Ok(())
    }

    fn save(&self, out: &mut BTreeMap<String, Value>) {
        out.insert("lr".into(), self.lr.into());
        out.insert("alpha".into(), self.alpha.into());
        out.insert("eps".into(), self.eps.into());
        out.insert("weight_decay".into(), self.weight_decay.into());
        out.insert("momentum".into(), self.momentum.into());
        out.insert("centered".into(), self.centered.into());
        out.insert("maximize".into(), self.maximize.into());
    }

    fn load(self, f: &Fields) -> Result<Self> {
        Ok(RmsPropOptions {
            lr: f.opt_f64("lr")?.unwrap_or(self.lr),
            alpha: f.opt_f64("alpha")?.unwrap_or(self.alpha),
            eps: f.opt_f64("eps")?.unwrap_or(self.eps),
            weight_decay: f.opt_f64("weight_decay")?.unwrap_or(self.weight_decay),
            momentum: f.opt_f64("momentum")?.unwrap_or(self.momentum),
            centered: f.opt_bool("centered")?.unwrap_or(self.centered),
            maximize: f.opt_bool("maximize")?.unwrap_or(self.maximize),
        })
    }
}

/// Per-parameter state: `step`, `square_avg`, `momentum_buffer` (with momentum), `grad_avg`
/// (centered).
pub struct RmsPropState<B: Backend> {
    pub step: u64,
    pub square_avg: Option<Tensor<B>>,
    pub momentum_buffer: Option<Tensor<B>>,
    pub grad_avg: Option<Tensor<B>>,
}

impl<B: Backend> Default for RmsPropState<B> {
    fn default() -> Self {
        RmsPropState {
            step: 0,
            square_avg: None,
            momentum_buffer: None,
            grad_avg: None,
        }
    }
}

impl<B: Backend> ParamState<B> for RmsPropState<B> {
    fn save(&self, param: &Tensor<B>, out: &mut Vec<(&'static str, Tensor<B>)>) -> Result<()> {
        let Some(square_avg) = &self.square_avg else {
            return Ok(());
        };
        out.push(("step", step_tensor(self.step, param)?));
        out.push(("square_avg", square_avg.clone()));
        if let Some(buf) = &self.momentum_buffer {
            out.push(("momentum_buffer", buf.clone()));
        }
        if let Some(grad_avg) = &self.grad_avg {
            out.push(("grad_avg", grad_avg.clone()));
        }
        Ok(())
    }

    fn load(entries: &mut Entries<B>) -> Result<Self> {
        if entries.is_empty() {
            return Ok(RmsPropState::default());
        }
        Ok(RmsPropState {
            step: entries.step()?,
            square_avg: Some(entries.required("square_avg")?),
            momentum_buffer: entries.tensor("momentum_buffer")?,
            grad_avg: entries.tensor("grad_avg")?,
        })
    }
}

/// `torch.optim.RMSprop` (single-tensor path). Per parameter, with `g = p.grad` (negated when
/// maximizing) and `g += wd p` under weight decay:
/// `v = α v + (1 - α) g²`; centered: `ḡ = ḡ + (1 - α)(g - ḡ)` and `avg = √(v - ḡ²) + eps`,
/// otherwise `avg = √v + eps`; with momentum `buf = μ buf + g / avg` and `p -= lr buf`,
/// otherwise `p -= lr g / avg`.
pub struct RmsProp<B: Backend> {
    groups: Vec<ParamGroup<B, RmsPropOptions, RmsPropState<B>>>,
}

impl<B: Backend> RmsProp<B> {
    pub fn new(params: Vec<Tensor<B>>, options: RmsPropOptions) -> Result<Self> {
        check_not_empty("RMSprop", &params)?;
        let mut rmsprop = RmsProp { groups: Vec::new() };
        rmsprop.add_param_group(params, options)?;
        Ok(rmsprop)
    }

    /// `optimizer.add_param_group(...)`: more parameters with their own hyper-parameters.
    pub fn add_param_group(
        &mut self,
        params: Vec<Tensor<B>>,
        options: RmsPropOptions,
    ) -> Result<()> {
        options.validate()?;
        check_new_params("RMSprop", &self.groups, &params)?;
        self.groups.push(ParamGroup::new(params, options));
        Ok(())
    }

    pub fn param_groups(&self) -> &[ParamGroup<B, RmsPropOptions, RmsPropState<B>>] {
        &self.groups
    }

    /// The state of parameter `index` of group `group`.
    pub fn state(&self, group: usize, index: usize) -> Option<&RmsPropState<B>> {
        self.groups.get(group)?.state.get(index)
    }
}

impl<B: Backend> Optimizer<B> for RmsProp<B> {
    fn step(&mut self) -> Result<()> {
        let _guard = no_grad();
        for group in &mut self.groups {
            let o = group.options;
            for (p, st) in group.params.iter().zip(group.state.iter_mut()) {
                let Some(grad) = p.grad() else { continue };
                let mut g = if o.maximize { grad.neg()? } else { grad };
                let square_avg = state_tensor(&mut st.square_avg, p)?;
                st.step += 1;
                if o.weight_decay != 0.0 {
                    g = add_scaled(&g, p, o.weight_decay)?;
                }
                // One line per torch call, products in torch's order (see adam.rs).
                // square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
                square_avg.mul_(o.alpha)?;
                square_avg.add_(&g.mul(1.0 - o.alpha)?.mul(&g)?)?;
                let avg = if o.centered {
                    let grad_avg = state_tensor(&mut st.grad_avg, p)?;
                    lerp_(&grad_avg, &g, 1.0 - o.alpha)?;
                    // square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_(): (-1 * ḡ) * ḡ
                    // is exactly -(ḡ * ḡ), so a subtraction rounds the same.
                    square_avg.sub(&grad_avg.mul(&grad_avg)?)?.sqrt()?
                } else {
                    square_avg.sqrt()?
                };
                let avg = avg.add(o.eps)?;
                if o.momentum > 0.0 {
                    // torch creates the buffer at a parameter's first step; creating it on the
                    // first step with momentum also covers momentum switched on later (by
                    // OneCycleLR or a loaded state).
                    let buf = state_tensor(&mut st.momentum_buffer, p)?;
                    // buf.mul_(momentum).addcdiv_(grad, avg); param.add_(buf, alpha=-lr)
                    buf.mul_(o.momentum)?;
                    buf.add_(&g.div(&avg)?)?;
                    p.add_(&buf.mul(-o.lr)?)?;
                } else {
                    // param.addcdiv_(grad, avg, value=-lr)
                    p.add_(&g.mul(-o.lr)?.div(&avg)?)?;
                }
            }
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

impl<B: Backend> Schedulable for RmsProp<B> {
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
