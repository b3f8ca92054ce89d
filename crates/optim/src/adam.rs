//! `torch.optim.Adam` and `torch.optim.AdamW`.

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

/// Hyper-parameters of [`Adam`] (torch's defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8).
/// `decoupled_weight_decay` makes it AdamW.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamOptions {
    pub lr: f64,
    pub betas: (f64, f64),
    pub eps: f64,
    pub weight_decay: f64,
    pub amsgrad: bool,
    pub maximize: bool,
    pub decoupled_weight_decay: bool,
}

impl Default for AdamOptions {
    fn default() -> Self {
        AdamOptions {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            amsgrad: false,
            maximize: false,
            decoupled_weight_decay: false,
        }
    }
}

impl AdamOptions {
    /// torch.optim.AdamW's defaults (weight_decay 0.01, decoupled).
    pub fn adamw() -> Self {
        AdamOptions {
            weight_decay: 1e-2,
            decoupled_weight_decay: true,
            ..Default::default()
        }
    }
}

impl GroupOptions for AdamOptions {
    fn lr(&self) -> f64 {
        self.lr
    }

    fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    /// OneCycleLR cycles beta1 (`betas[0]`).
    fn momentum(&self) -> Option<f64> {
        Some(self.betas.0)
    }

    fn set_momentum(&mut self, momentum: f64) {
        self.betas.0 = momentum;
    }

    fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::invalid("Adam", msg));
        if !non_negative(self.lr) {
            return bad(format!("Invalid learning rate: {}", self.lr));
        }
        if !non_negative(self.eps) {
            return bad(format!("Invalid epsilon value: {}", self.eps));
        }
        for (i, beta) in [self.betas.0, self.betas.1].into_iter().enumerate() {
            if !(0.0..1.0).contains(&beta) {
                return bad(format!("Invalid beta parameter at index {i}: {beta}"));
            }
        }
        if !non_negative(self.weight_decay) {
            return bad(format!("Invalid weight_decay value: {}", self.weight_decay));
        }
        Ok(())
    }

    fn save(&self, out: &mut BTreeMap<String, Value>) {
        out.insert("lr".into(), self.lr.into());
        out.insert(
            "betas".into(),
            Value::from([self.betas.0, self.betas.1].as_slice()),
        );
        out.insert("eps".into(), self.eps.into());
        out.insert("weight_decay".into(), self.weight_decay.into());
        out.insert("amsgrad".into(), self.amsgrad.into());
        out.insert("maximize".into(), self.maximize.into());
        out.insert(
            "decoupled_weight_decay".into(),
            self.decoupled_weight_decay.into(),
        );
    }

    fn load(self, f: &Fields) -> Result<Self> {
        let betas = match f.get("betas") {
            None => self.betas,
            Some(_) => match f.f64_list("betas")?.as_slice() {
                &[b1, b2] => (b1, b2),
                other => {
                    return Err(Error::invalid(
                        "Optimizer.load_state_dict",
                        format!("betas must hold two numbers, but holds {}", other.len()),
                    ));
                }
            },
        };
        Ok(AdamOptions {
            lr: f.opt_f64("lr")?.unwrap_or(self.lr),
            betas,
            eps: f.opt_f64("eps")?.unwrap_or(self.eps),
            weight_decay: f.opt_f64("weight_decay")?.unwrap_or(self.weight_decay),
            amsgrad: f.opt_bool("amsgrad")?.unwrap_or(self.amsgrad),
            maximize: f.opt_bool("maximize")?.unwrap_or(self.maximize),
            decoupled_weight_decay: f
                .opt_bool("decoupled_weight_decay")?
                .unwrap_or(self.decoupled_weight_decay),
        })
    }
}

/// Per-parameter state: `step`, `exp_avg`, `exp_avg_sq`, `max_exp_avg_sq` (amsgrad).
pub struct AdamState<B: Backend> {
    pub step: u64,
    pub exp_avg: Option<Tensor<B>>,
    pub exp_avg_sq: Option<Tensor<B>>,
    pub max_exp_avg_sq: Option<Tensor<B>>,
}

impl<B: Backend> Default for AdamState<B> {
    fn default() -> Self {
        AdamState {
            step: 0,
            exp_avg: None,
            exp_avg_sq: None,
            max_exp_avg_sq: None,
        }
    }
}

impl<B: Backend> ParamState<B> for AdamState<B> {
    fn save(&self, param: &Tensor<B>, out: &mut Vec<(&'static str, Tensor<B>)>) -> Result<()> {
        if let (Some(m), Some(v)) = (&self.exp_avg, &self.exp_avg_sq) {
            out.push(("step", step_tensor(self.step, param)?));
            out.push(("exp_avg", m.clone()));
            out.push(("exp_avg_sq", v.clone()));
        }
        if let Some(vmax) = &self.max_exp_avg_sq {
            out.push(("max_exp_avg_sq", vmax.clone()));
        }
        Ok(())
    }

    fn load(entries: &mut Entries<B>) -> Result<Self> {
        if entries.is_empty() {
            return Ok(AdamState::default());
        }
        // `max_exp_avg_sq` exists only under amsgrad; when absent it starts at zeros, as
        // torch's state does.
        Ok(AdamState {
            step: entries.step()?,
            exp_avg: Some(entries.required("exp_avg")?),
            exp_avg_sq: Some(entries.required("exp_avg_sq")?),
            max_exp_avg_sq: entries.tensor("max_exp_avg_sq")?,
        })
    }
}

/// `torch.optim.Adam` / `AdamW` (single-tensor path). Per parameter, with `g = p.grad`:
/// weight decay (`g += wd p` for Adam, `p *= 1 - lr wd` for AdamW);
/// `m = m + (1 - β1)(g - m)`; `v = β2 v + (1 - β2) g²`;
/// `denom = √v / √(1 - β2^t) + eps` (with `max(v)` under amsgrad);
/// `p -= lr / (1 - β1^t) * m / denom`.
pub struct Adam<B: Backend> {
    groups: Vec<ParamGroup<B, AdamOptions, AdamState<B>>>,
}

impl<B: Backend> Adam<B> {
    pub fn new(params: Vec<Tensor<B>>, options: AdamOptions) -> Result<Self> {
        check_not_empty("Adam", &params)?;
        let mut adam = Adam { groups: Vec::new() };
        adam.add_param_group(params, options)?;
        Ok(adam)
    }

    /// `torch.optim.AdamW(params, lr, weight_decay=...)`: Adam with decoupled weight decay, at
    /// the `weight_decay` of `options`. Start from [`AdamOptions::adamw`] for PyTorch's AdamW
    /// defaults (weight decay 0.01): `AdamOptions::default()` is Adam's, with none.
    pub fn adamw(params: Vec<Tensor<B>>, options: AdamOptions) -> Result<Self> {
        Self::new(
            params,
            AdamOptions {
                decoupled_weight_decay: true,
                ..options
            },
        )
    }

    pub fn add_param_group(&mut self, params: Vec<Tensor<B>>, options: AdamOptions) -> Result<()> {
        options.validate()?;
        check_new_params("Adam", &self.groups, &params)?;
        self.groups.push(ParamGroup::new(params, options));
        Ok(())
    }

    pub fn param_groups(&self) -> &[ParamGroup<B, AdamOptions, AdamState<B>>] {
        &self.groups
    }

    /// The state of parameter `index` of group `group`.
    pub fn state(&self, group: usize, index: usize) -> Option<&AdamState<B>> {
        self.groups.get(group)?.state.get(index)
    }
}

impl<B: Backend> Optimizer<B> for Adam<B> {
    fn step(&mut self) -> Result<()> {
        let _guard = no_grad();
        for group in &mut self.groups {
            let o = group.options;
            let (beta1, beta2) = o.betas;
            for (p, st) in group.params.iter().zip(group.state.iter_mut()) {
                let Some(grad) = p.grad() else { continue };
                let mut g = if o.maximize { grad.neg()? } else { grad };
                let exp_avg = state_tensor(&mut st.exp_avg, p)?;
                let exp_avg_sq = state_tensor(&mut st.exp_avg_sq, p)?;
                st.step += 1;
                if o.weight_decay != 0.0 {
                    if o.decoupled_weight_decay {
                        p.mul_(1.0 - o.lr * o.weight_decay)?;
                    } else {
                        g = add_scaled(&g, p, o.weight_decay)?;
                    }
                }
                // Each line is one torch call; a tensor-by-scalar product takes the scalar as
                // torch does (in the tensor's dtype; as a float for f16/bf16), and the products of addcmul /
                // addcdiv are formed in torch's order (`value * t1 * t2`, `value * t1 / t2`).
                lerp_(&exp_avg, &g, 1.0 - beta1)?; // exp_avg.lerp_(grad, 1 - beta1)
                // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                exp_avg_sq.mul_(beta2)?;
                exp_avg_sq.add_(&g.mul(1.0 - beta2)?.mul(&g)?)?;
                let step = st.step as f64;
                let bias_correction1 = 1.0 - beta1.powf(step);
                let bias_correction2 = 1.0 - beta2.powf(step);
                let step_size = o.lr / bias_correction1;
                // `bias_correction2 ** 0.5` in torch (pow, not sqrt: they may differ by an ulp).
                let bias_correction2_sqrt = bias_correction2.powf(0.5);
                let second = if o.amsgrad {
                    // torch.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
                    let max = state_tensor(&mut st.max_exp_avg_sq, p)?;
                    max.copy_(&max.maximum(&exp_avg_sq)?)?;
                    max
                } else {
                    exp_avg_sq
                };
                // denom = (second.sqrt() / bias_correction2_sqrt).add_(eps)
                let denom = second.sqrt()?.div(bias_correction2_sqrt)?.add(o.eps)?;
                // param.addcdiv_(exp_avg, denom, value=-step_size)
                p.add_(&exp_avg.mul(-step_size)?.div(&denom)?)?;
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

impl<B: Backend> Schedulable for Adam<B> {
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
