//! `torch.optim.Adam` and `torch.optim.AdamW`.

use crate::{
    HasLearningRate, Optimizer, ParamGroup, add_scaled, all_parameters, group_lr, set_all_lr,
};
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

    fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::invalid("Adam", msg));
        if self.lr < 0.0 {
            return bad(format!("Invalid learning rate: {}", self.lr));
        }
        if self.eps < 0.0 {
            return bad(format!("Invalid epsilon value: {}", self.eps));
        }
        for (i, beta) in [self.betas.0, self.betas.1].into_iter().enumerate() {
            if !(0.0..1.0).contains(&beta) {
                return bad(format!("Invalid beta parameter at index {i}: {beta}"));
            }
        }
        if self.weight_decay < 0.0 {
            return bad(format!("Invalid weight_decay value: {}", self.weight_decay));
        }
        Ok(())
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
        let mut adam = Adam { groups: Vec::new() };
        adam.add_param_group(params, options)?;
        Ok(adam)
    }

    /// `torch.optim.AdamW(params, lr, weight_decay=...)`: Adam with decoupled weight decay.
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

fn zeros<B: Backend>(slot: &mut Option<Tensor<B>>, like: &Tensor<B>) -> Result<Tensor<B>> {
    match slot {
        Some(t) => Ok(t.clone()),
        None => {
            let t = like.detach().zeros_like()?;
            *slot = Some(t.clone());
            Ok(t)
        }
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
                let exp_avg = zeros(&mut st.exp_avg, p)?;
                let exp_avg_sq = zeros(&mut st.exp_avg_sq, p)?;
                st.step += 1;
                if o.weight_decay != 0.0 {
                    if o.decoupled_weight_decay {
                        p.mul_(1.0 - o.lr * o.weight_decay)?;
                    } else {
                        g = add_scaled(&g, p, o.weight_decay)?;
                    }
                }
                // exp_avg.lerp_(g, 1 - beta1)
                exp_avg.add_(&g.sub(&exp_avg)?.mul(1.0 - beta1)?)?;
                // exp_avg_sq.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                exp_avg_sq.mul_(beta2)?;
                exp_avg_sq.add_(&g.mul(&g)?.mul(1.0 - beta2)?)?;
                let step = st.step as f64;
                let bias_correction1 = 1.0 - beta1.powf(step);
                let bias_correction2 = 1.0 - beta2.powf(step);
                let step_size = o.lr / bias_correction1;
                let bias_correction2_sqrt = bias_correction2.sqrt();
                let second = if o.amsgrad {
                    let max = zeros(&mut st.max_exp_avg_sq, p)?;
                    let updated = max.maximum(&exp_avg_sq)?;
                    max.copy_(&updated)?;
                    max
                } else {
                    exp_avg_sq
                };
                let denom = second.sqrt()?.div(bias_correction2_sqrt)?.add(o.eps)?;
                // param.addcdiv_(exp_avg, denom, value=-step_size)
                p.add_(&exp_avg.div(&denom)?.mul(-step_size)?)?;
            }
        }
        Ok(())
    }

    fn parameters(&self) -> Vec<Tensor<B>> {
        all_parameters(&self.groups)
    }

    fn lr(&self, group: usize) -> Option<f64> {
        group_lr(&self.groups, group)
    }

    fn set_lr(&mut self, lr: f64) {
        set_all_lr(&mut self.groups, lr);
    }
}

impl HasLearningRate for AdamOptions {
    fn learning_rate(&self) -> f64 {
        self.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.lr = lr;
    }
}
