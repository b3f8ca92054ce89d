//! `OneCycleLR`: the 1cycle policy (warm up to `max_lr`, anneal far below the start), with
//! momentum cycled the other way.

use super::{Core, Formula, schedule_of};
use crate::value::{Fields, Value};
use crate::{GroupSchedule, Schedulable};
use std::collections::BTreeMap;
use std::f64::consts::PI;
use tiny_torch_core::{Error, Result};

/// A value for every param group, or one per group (torch's float-or-list arguments).
#[derive(Clone, Debug, PartialEq)]
pub enum PerGroup {
    All(f64),
    Each(Vec<f64>),
}

impl From<f64> for PerGroup {
    fn from(x: f64) -> Self {
        PerGroup::All(x)
    }
}

impl From<Vec<f64>> for PerGroup {
    fn from(v: Vec<f64>) -> Self {
        PerGroup::Each(v)
    }
}

impl PerGroup {
    /// torch's `_format_param`: one value per group, or the error it raises.
    fn per_group(&self, name: &str, groups: usize) -> Result<Vec<f64>> {
        match self {
            PerGroup::All(x) => Ok(vec![*x; groups]),
            PerGroup::Each(v) if v.len() == groups => Ok(v.clone()),
            PerGroup::Each(v) => Err(Error::invalid(
                "OneCycleLR",
                format!(
                    "{name} must have the same length as optimizer.param_groups. {name} has {} \
                     values, param_groups has {groups}.",
                    v.len()
                ),
            )),
        }
    }
}

/// How OneCycleLR moves between the ends of a phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnnealStrategy {
    /// `end + (start - end) / 2 (cos(π pct) + 1)`.
    Cos,
    /// `(end - start) pct + start`.
    Linear,
}

impl AnnealStrategy {
    /// torch's two formulas, in its order of operations.
    fn anneal(self, start: f64, end: f64, pct: f64) -> f64 {
        match self {
            AnnealStrategy::Cos => end + (start - end) / 2.0 * ((PI * pct).cos() + 1.0),
            AnnealStrategy::Linear => (end - start) * pct + start,
        }
    }

    fn name(self) -> &'static str {
        match self {
            AnnealStrategy::Cos => "cos",
            AnnealStrategy::Linear => "linear",
        }
    }
}

/// The arguments of `torch.optim.lr_scheduler.OneCycleLR` after the optimizer, with its
/// defaults ([`OneCycleOptions::new`]). For torch's `epochs` and `steps_per_epoch`, pass
/// `total_steps = epochs * steps_per_epoch`.
#[derive(Clone, Debug, PartialEq)]
pub struct OneCycleOptions {
    pub max_lr: PerGroup,
    pub total_steps: usize,
    /// Fraction of the cycle spent raising the lr (0.3).
    pub pct_start: f64,
    pub anneal_strategy: AnnealStrategy,
    /// Cycle momentum (SGD, RMSprop) or beta1 (Adam) inversely to the lr (true).
    pub cycle_momentum: bool,
    /// Momentum at the peak lr (0.85).
    pub base_momentum: PerGroup,
    /// Momentum at the start and the end (0.95).
    pub max_momentum: PerGroup,
    /// `initial_lr = max_lr / div_factor` (25).
    pub div_factor: f64,
    /// `min_lr = initial_lr / final_div_factor` (1e4).
    pub final_div_factor: f64,
    /// Three phases (up, down to `initial_lr`, down to `min_lr`) as in the paper, instead of
    /// fastai's two (false).
    pub three_phase: bool,
}

impl OneCycleOptions {
    pub fn new(max_lr: impl Into<PerGroup>, total_steps: usize) -> Self {
        OneCycleOptions {
            max_lr: max_lr.into(),
            total_steps,
            pct_start: 0.3,
            anneal_strategy: AnnealStrategy::Cos,
            cycle_momentum: true,
            base_momentum: PerGroup::All(0.85),
            max_momentum: PerGroup::All(0.95),
            div_factor: 25.0,
            final_div_factor: 1e4,
            three_phase: false,
        }
    }
}

/// The values a phase starts or ends at, named as torch's `group[...]` keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lr {
    Initial,
    Max,
    Min,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Momentum {
    Max,
    Base,
}

/// One entry of torch's `_schedule_phases`.
#[derive(Clone, Copy, Debug)]
struct Phase {
    end_step: f64,
    lr: (Lr, Lr),
    momentum: (Momentum, Momentum),
}

/// What torch's OneCycleLR keeps in each param group.
#[derive(Clone, Copy, Debug)]
struct GroupValues {
    initial_lr: f64,
    max_lr: f64,
    min_lr: f64,
    max_momentum: f64,
    base_momentum: f64,
}

impl GroupValues {
    fn lr(&self, which: Lr) -> f64 {
        match which {
            Lr::Initial => self.initial_lr,
            Lr::Max => self.max_lr,
            Lr::Min => self.min_lr,
        }
    }

    fn momentum(&self, which: Momentum) -> f64 {
        match which {
            Momentum::Max => self.max_momentum,
            Momentum::Base => self.base_momentum,
        }
    }
}

/// `torch.optim.lr_scheduler.OneCycleLR`. The lr goes from `max_lr / div_factor` up to
/// `max_lr` over the first `pct_start` of `total_steps`, then down to `initial_lr /
/// final_div_factor` (two phases), or back to `initial_lr` and then down (three phases);
/// momentum goes from `max_momentum` to `base_momentum` and back. Stepping past `total_steps`
/// is an error, as in torch.
///
/// Where torch keeps `initial_lr`, `max_lr`, `min_lr`, `max_momentum` and `base_momentum` in
/// the optimizer's param groups, this keeps them in the scheduler (and its state dict); it
/// still overwrites each group's `initial_lr` like torch.
#[derive(Clone, Debug)]
pub struct OneCycleLR {
    core: Core,
    total_steps: usize,
    pct_start: f64,
    three_phase: bool,
    anneal: AnnealStrategy,
    cycle_momentum: bool,
    groups: Vec<GroupValues>,
}

impl OneCycleLR {
    pub fn new(opt: &mut dyn Schedulable, options: OneCycleOptions) -> Result<Self> {
        let o = options;
        check(o.total_steps, o.pct_start)?;
        let n = opt.num_param_groups();
        let max_lrs = o.max_lr.per_group("max_lr", n)?;
        let max_momentums = o.max_momentum.per_group("max_momentum", n)?;
        let base_momentums = o.base_momentum.per_group("base_momentum", n)?;
        let mut groups = Vec::with_capacity(n);
        for g in 0..n {
            if o.cycle_momentum && schedule_of(opt, g)?.momentum.is_none() {
                return Err(Error::invalid(
                    "OneCycleLR",
                    "optimizer must support momentum or beta1 with `cycle_momentum` option \
                     enabled",
                ));
            }
            let initial_lr = max_lrs[g] / o.div_factor;
            groups.push(GroupValues {
                initial_lr,
                max_lr: max_lrs[g],
                min_lr: initial_lr / o.final_div_factor,
                max_momentum: max_momentums[g],
                base_momentum: base_momentums[g],
            });
        }
        // Checked everything: now write the groups, as torch's __init__ does.
        for (g, values) in groups.iter().enumerate() {
            let current = schedule_of(opt, g)?;
            let momentum = if o.cycle_momentum {
                Some(values.max_momentum)
            } else {
                current.momentum
            };
            opt.set_group_schedule(
                g,
                GroupSchedule {
                    initial_lr: Some(values.initial_lr),
                    momentum,
                    ..current
                },
            )?;
        }
        OneCycleLR {
            core: Core::attach(opt)?,
            total_steps: o.total_steps,
            pct_start: o.pct_start,
            three_phase: o.three_phase,
            anneal: o.anneal_strategy,
            cycle_momentum: o.cycle_momentum,
            groups,
        }
        .started(opt)
    }

    /// torch's `_schedule_phases`, computed as it does (`pct_start * total_steps - 1`, ...).
    fn phases(&self) -> Vec<Phase> {
        let total = self.total_steps as f64;
        let up = Phase {
            end_step: self.pct_start * total - 1.0,
            lr: (Lr::Initial, Lr::Max),
            momentum: (Momentum::Max, Momentum::Base),
        };
        if self.three_phase {
            vec![
                up,
                Phase {
                    end_step: 2.0 * self.pct_start * total - 2.0,
                    lr: (Lr::Max, Lr::Initial),
                    momentum: (Momentum::Base, Momentum::Max),
                },
                Phase {
                    end_step: total - 1.0,
                    lr: (Lr::Initial, Lr::Min),
                    momentum: (Momentum::Max, Momentum::Max),
                },
            ]
        } else {
            vec![
                up,
                Phase {
                    end_step: total - 1.0,
                    lr: (Lr::Max, Lr::Min),
                    momentum: (Momentum::Base, Momentum::Max),
                },
            ]
        }
    }
}

/// torch's checks and messages.
fn check(total_steps: usize, pct_start: f64) -> Result<()> {
    if total_steps == 0 {
        return Err(Error::invalid(
            "OneCycleLR",
            "Expected positive integer total_steps, but got 0",
        ));
    }
    if !(0.0..=1.0).contains(&pct_start) {
        return Err(Error::invalid(
            "OneCycleLR",
            format!("Expected float between 0 and 1 pct_start, but got {pct_start}"),
        ));
    }
    Ok(())
}

impl Formula for OneCycleLR {
    const NAME: &'static str = "OneCycleLR";

    fn core(&self) -> &Core {
        &self.core
    }

    fn core_mut(&mut self) -> &mut Core {
        &mut self.core
    }

    /// The lr of each group at step `last_epoch`; sets the momentum too, as torch's get_lr.
    fn get_lr(&mut self, opt: &mut dyn Schedulable) -> Result<Vec<f64>> {
        let step = self.core.last_epoch;
        if step > self.total_steps as i64 {
            return Err(Error::invalid(
                "OneCycleLR",
                format!(
                    "Tried to step {step} times. The specified number of total steps is {}",
                    self.total_steps
                ),
            ));
        }
        let step = step as f64;
        let phases = self.phases();
        // The first phase not yet over; the last one takes everything past its end.
        let i = phases
            .iter()
            .position(|p| step <= p.end_step)
            .unwrap_or(phases.len() - 1);
        let phase = phases[i];
        let start_step = if i == 0 { 0.0 } else { phases[i - 1].end_step };
        let length = phase.end_step - start_step;
        if length == 0.0 {
            // Python raises ZeroDivisionError here (e.g. pct_start * total_steps == 1).
            return Err(Error::invalid(
                "OneCycleLR",
                format!(
                    "a phase of zero length ends at step {}: raise pct_start or total_steps",
                    phase.end_step
                ),
            ));
        }
        let pct = (step - start_step) / length;
        let mut lrs = Vec::with_capacity(self.groups.len());
        for (g, values) in self.groups.iter().enumerate() {
            let lr = self
                .anneal
                .anneal(values.lr(phase.lr.0), values.lr(phase.lr.1), pct);
            if self.cycle_momentum {
                let momentum = self.anneal.anneal(
                    values.momentum(phase.momentum.0),
                    values.momentum(phase.momentum.1),
                    pct,
                );
                let current = schedule_of(opt, g)?;
                opt.set_group_schedule(
                    g,
                    GroupSchedule {
                        momentum: Some(momentum),
                        ..current
                    },
                )?;
            }
            lrs.push(lr);
        }
        Ok(lrs)
    }

    fn save(&self, out: &mut BTreeMap<String, Value>) {
        let column = |f: fn(&GroupValues) -> f64| {
            let v: Vec<f64> = self.groups.iter().map(f).collect();
            Value::from(v.as_slice())
        };
        out.insert("total_steps".into(), Value::Int(self.total_steps as i64));
        out.insert("pct_start".into(), self.pct_start.into());
        out.insert("three_phase".into(), self.three_phase.into());
        out.insert("_anneal_func_type".into(), self.anneal.name().into());
        out.insert("cycle_momentum".into(), self.cycle_momentum.into());
        out.insert("initial_lr".into(), column(|g| g.initial_lr));
        out.insert("max_lr".into(), column(|g| g.max_lr));
        out.insert("min_lr".into(), column(|g| g.min_lr));
        out.insert("max_momentum".into(), column(|g| g.max_momentum));
        out.insert("base_momentum".into(), column(|g| g.base_momentum));
    }

    fn load(&mut self, f: &Fields) -> Result<()> {
        self.total_steps = f.usize("total_steps")?;
        self.pct_start = f.f64("pct_start")?;
        check(self.total_steps, self.pct_start)?;
        self.three_phase = f.bool("three_phase")?;
        self.anneal = match f.str("_anneal_func_type")? {
            "cos" => AnnealStrategy::Cos,
            "linear" => AnnealStrategy::Linear,
            other => {
                return Err(Error::invalid(
                    "OneCycleLR.load_state_dict",
                    format!(
                        "anneal_strategy must be one of 'cos' or 'linear', instead got {other}"
                    ),
                ));
            }
        };
        self.cycle_momentum = f.bool("cycle_momentum")?;
        let columns = [
            "initial_lr",
            "max_lr",
            "min_lr",
            "max_momentum",
            "base_momentum",
        ]
        .map(|key| f.f64_list(key));
        let [initial, max, min, max_m, base_m] = columns;
        let (initial, max, min, max_m, base_m) = (initial?, max?, min?, max_m?, base_m?);
        let n = self.core.base_lrs.len();
        if [&initial, &max, &min, &max_m, &base_m]
            .iter()
            .any(|c| c.len() != n)
        {
            return Err(Error::invalid(
                "OneCycleLR.load_state_dict",
                format!("the per-group lists must have one value per group ({n})"),
            ));
        }
        self.groups = (0..n)
            .map(|g| GroupValues {
                initial_lr: initial[g],
                max_lr: max[g],
                min_lr: min[g],
                max_momentum: max_m[g],
                base_momentum: base_m[g],
            })
            .collect();
        Ok(())
    }
}
