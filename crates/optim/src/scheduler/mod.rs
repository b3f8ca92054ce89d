//! `torch.optim.lr_scheduler`: [`LrScheduler`] and the schedulers, with torch's formulas
//! evaluated in torch's order (the chainable, recursive `get_lr` at each `step`; the closed
//! form only where torch uses it, when [`SequentialLR`] switches schedulers), so that the
//! learning rates are torch's to the last bit.
//!
//! Each scheduler follows torch's `LRScheduler`: creating it records each group's
//! `initial_lr` (when no earlier scheduler did) as `base_lrs`, then takes the initial step
//! (`last_epoch` -1 → 0), which sets the lr of epoch 0. Call `step` after `optimizer.step()`.

mod cosine;
mod linear;
mod one_cycle;
mod sequential;
mod step;

pub use cosine::CosineAnnealingLR;
pub use linear::LinearLR;
pub use one_cycle::{AnnealStrategy, OneCycleLR, OneCycleOptions, PerGroup};
pub use sequential::SequentialLR;
pub use step::{ExponentialLR, MultiStepLR, StepLR};

use crate::value::{Fields, Value};
use crate::{GroupSchedule, Schedulable};
use std::collections::BTreeMap;
use tiny_torch_core::{Error, Result};

/// A learning-rate scheduler (`torch.optim.lr_scheduler.LRScheduler`). The optimizer is passed
/// to each call that changes it.
pub trait LrScheduler {
    /// `scheduler.step()`: advances `last_epoch` by one and sets each group's lr (and, for
    /// OneCycleLR, momentum). On error nothing changes.
    fn step(&mut self, opt: &mut dyn Schedulable) -> Result<()>;

    /// `scheduler.get_last_lr()`: the lr of each group after the last step.
    fn get_last_lr(&self) -> &[f64];

    /// `scheduler.last_epoch`: the number of steps taken (0 after creation).
    fn last_epoch(&self) -> i64;

    /// `scheduler.state_dict()`: counters, base lrs and hyper-parameters under torch's
    /// attribute names, plus `"scheduler"` (the type's name) to catch a dict loaded into the
    /// wrong type. A JSON-able [`Value::Map`].
    fn state_dict(&self) -> Value;

    /// `scheduler.load_state_dict(state)`: restores everything `state_dict` saved (as torch,
    /// hyper-parameters included). It does not touch the optimizer, whose lrs come back with
    /// `Optimizer::load_state_dict`: as in torch, create the scheduler first, then load the
    /// optimizer's state, then the scheduler's. On error nothing changes.
    fn load_state_dict(&mut self, state: &Value) -> Result<()>;

    /// torch's `_initial_step()`: resets the step count and takes the step that sets epoch
    /// 0's lr. [`SequentialLR`] calls it on the scheduler that runs first.
    fn initial_step(&mut self, opt: &mut dyn Schedulable) -> Result<()>;

    /// torch's `_update_lr(epoch)`: sets `last_epoch` to `epoch` and the lrs from the closed
    /// form (from `get_lr` where there is none). [`SequentialLR`] calls it with 0 when it
    /// switches to this scheduler.
    fn step_to_epoch(&mut self, epoch: i64, opt: &mut dyn Schedulable) -> Result<()>;

    /// What torch's `SequentialLR.recursive_undo` does to this scheduler: takes back the
    /// epoch of its initial step.
    fn undo_initial_step(&mut self);
}

/// What every scheduler but SequentialLR shares: torch's `LRScheduler` attributes.
#[derive(Clone, Debug)]
pub(crate) struct Core {
    pub(crate) base_lrs: Vec<f64>,
    pub(crate) last_epoch: i64,
    /// torch's `_step_count`: steps since the initial step, that one included.
    pub(crate) step_count: u64,
    pub(crate) last_lr: Vec<f64>,
    /// Set during the initial step, when some `get_lr`s return the current lr unchanged.
    pub(crate) is_initial: bool,
}

impl Core {
    /// torch's `LRScheduler.__init__` up to the initial step: `group.setdefault("initial_lr",
    /// group["lr"])`, and `base_lrs` from the `initial_lr`s.
    pub(crate) fn attach(opt: &mut dyn Schedulable) -> Result<Core> {
        let mut base_lrs = Vec::with_capacity(opt.num_param_groups());
        for g in 0..opt.num_param_groups() {
            let mut values = schedule_of(opt, g)?;
            let initial = *values.initial_lr.get_or_insert(values.lr);
            opt.set_group_schedule(g, values)?;
            base_lrs.push(initial);
        }
        Ok(Core {
            base_lrs,
            last_epoch: -1,
            step_count: 0,
            last_lr: Vec::new(),
            is_initial: false,
        })
    }

    /// The current lr of every group (`[group["lr"] for group in optimizer.param_groups]`).
    pub(crate) fn group_lrs(&self, opt: &dyn Schedulable) -> Result<Vec<f64>> {
        (0..self.base_lrs.len())
            .map(|g| schedule_of(opt, g).map(|s| s.lr))
            .collect()
    }

    fn save(&self, out: &mut BTreeMap<String, Value>) {
        out.insert("base_lrs".into(), Value::from(self.base_lrs.as_slice()));
        out.insert("last_epoch".into(), Value::Int(self.last_epoch));
        out.insert("_step_count".into(), Value::Int(self.step_count as i64));
        out.insert("_last_lr".into(), Value::from(self.last_lr.as_slice()));
    }

    fn load(&mut self, f: &Fields) -> Result<()> {
        self.base_lrs = f.f64_list("base_lrs")?;
        self.last_epoch = f.i64("last_epoch")?;
        self.step_count = f.usize("_step_count")? as u64;
        self.last_lr = f.f64_list("_last_lr")?;
        if self.last_lr.len() != self.base_lrs.len() {
            return Err(Error::invalid(
                "LRScheduler.load_state_dict",
                format!(
                    "base_lrs has {} entries but _last_lr has {}",
                    self.base_lrs.len(),
                    self.last_lr.len()
                ),
            ));
        }
        Ok(())
    }
}

/// The schedule values of group `g`, which must exist.
pub(crate) fn schedule_of(opt: &dyn Schedulable, g: usize) -> Result<GroupSchedule> {
    opt.group_schedule(g).ok_or_else(|| {
        Error::invalid(
            "LRScheduler",
            format!("the optimizer has no param group {g}"),
        )
    })
}

/// The formulas of one scheduler; [`LrScheduler`] comes from them (every scheduler but
/// SequentialLR, which drives other schedulers instead).
pub(crate) trait Formula: Clone {
    /// The type's name, saved in its state dict.
    const NAME: &'static str;

    fn core(&self) -> &Core;
    fn core_mut(&mut self) -> &mut Core;

    /// torch's `get_lr()`: the lrs of epoch `core().last_epoch`, in the chainable form (from
    /// the current lrs) where torch has one.
    fn get_lr(&mut self, opt: &mut dyn Schedulable) -> Result<Vec<f64>>;

    /// torch's `_get_closed_form_lr()`, used by `step_to_epoch`; `get_lr` where torch has none.
    fn closed_form_lr(&mut self, opt: &mut dyn Schedulable) -> Result<Vec<f64>> {
        self.get_lr(opt)
    }

    /// Saves the hyper-parameters under torch's attribute names.
    fn save(&self, out: &mut BTreeMap<String, Value>);

    /// Loads them, with the constructor's checks.
    fn load(&mut self, f: &Fields) -> Result<()>;

    /// `__init__`'s last line: the initial step.
    fn started(mut self, opt: &mut dyn Schedulable) -> Result<Self> {
        LrScheduler::initial_step(&mut self, opt)?;
        Ok(self)
    }
}

/// How [`update_lr`] moves `last_epoch`.
enum Advance {
    /// `step()`: one more epoch, one more step counted.
    Step,
    /// `_update_lr(epoch)`: to `epoch`, by the closed form.
    To(i64),
}

/// torch's `step()` / `_update_lr()`: moves the epoch, computes the lrs, writes them into the
/// optimizer and records them as `_last_lr`. Rolls the counters back on error.
fn update_lr<F: Formula>(f: &mut F, advance: Advance, opt: &mut dyn Schedulable) -> Result<()> {
    let groups = f.core().base_lrs.len();
    if opt.num_param_groups() != groups {
        return Err(Error::invalid(
            "LRScheduler.step",
            format!(
                "{} was created for {groups} param groups, but the optimizer has {}",
                F::NAME,
                opt.num_param_groups()
            ),
        ));
    }
    let (last_epoch, step_count) = (f.core().last_epoch, f.core().step_count);
    let lrs = match advance {
        Advance::Step => {
            let core = f.core_mut();
            core.step_count += 1;
            core.last_epoch += 1;
            f.get_lr(opt)
        }
        Advance::To(epoch) => {
            f.core_mut().last_epoch = epoch;
            f.closed_form_lr(opt)
        }
    };
    let lrs = match lrs {
        Ok(lrs) => lrs,
        Err(e) => {
            let core = f.core_mut();
            core.last_epoch = last_epoch;
            core.step_count = step_count;
            return Err(e);
        }
    };
    for (g, &lr) in lrs.iter().enumerate() {
        let values = schedule_of(opt, g)?;
        // Only the lr changes: the momentum goes back as it was read.
        opt.set_group_schedule(g, GroupSchedule { lr, ..values })?;
    }
    let last_lr = f.core().group_lrs(opt)?;
    f.core_mut().last_lr = last_lr;
    Ok(())
}

impl<F: Formula> LrScheduler for F {
    fn step(&mut self, opt: &mut dyn Schedulable) -> Result<()> {
        update_lr(self, Advance::Step, opt)
    }

    fn get_last_lr(&self) -> &[f64] {
        &self.core().last_lr
    }

    fn last_epoch(&self) -> i64 {
        self.core().last_epoch
    }

    fn state_dict(&self) -> Value {
        let mut out = BTreeMap::new();
        out.insert("scheduler".into(), Value::from(F::NAME));
        self.core().save(&mut out);
        self.save(&mut out);
        Value::Map(out)
    }

    fn load_state_dict(&mut self, state: &Value) -> Result<()> {
        let f = Fields::new("LRScheduler.load_state_dict", "the state dict", state)?;
        check_name(&f, F::NAME)?;
        // Load into a copy so that an error leaves `self` as it was.
        let mut loaded = self.clone();
        loaded.core_mut().load(&f)?;
        Formula::load(&mut loaded, &f)?;
        *self = loaded;
        Ok(())
    }

    fn initial_step(&mut self, opt: &mut dyn Schedulable) -> Result<()> {
        self.core_mut().step_count = 0;
        self.core_mut().is_initial = true;
        let result = update_lr(self, Advance::Step, opt);
        self.core_mut().is_initial = false;
        result
    }

    fn step_to_epoch(&mut self, epoch: i64, opt: &mut dyn Schedulable) -> Result<()> {
        update_lr(self, Advance::To(epoch), opt)
    }

    fn undo_initial_step(&mut self) {
        self.core_mut().last_epoch -= 1;
    }
}

/// The state dict's `"scheduler"` must name this type.
pub(crate) fn check_name(f: &Fields, name: &str) -> Result<()> {
    let saved = f.str("scheduler")?;
    if saved != name {
        return Err(Error::invalid(
            "LRScheduler.load_state_dict",
            format!("the state dict is a {saved}'s, not a {name}'s"),
        ));
    }
    Ok(())
}
