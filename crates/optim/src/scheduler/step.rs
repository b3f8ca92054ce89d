//! `StepLR`, `MultiStepLR` and `ExponentialLR`: multiply the lr by `gamma` at some epochs, or
//! at every one.

use super::{Core, Formula};
use crate::Schedulable;
use crate::value::{Fields, Value};
use std::collections::BTreeMap;
use tiny_torch_core::{Error, Result};

/// `torch.optim.lr_scheduler.StepLR`: every `step_size` epochs, `lr *= gamma` (torch's
/// default gamma is 0.1). Closed form: `base_lr * gamma^(epoch / step_size)`.
#[derive(Clone, Debug)]
pub struct StepLR {
    core: Core,
    step_size: usize,
    gamma: f64,
}

impl StepLR {
    pub fn new(opt: &mut dyn Schedulable, step_size: usize, gamma: f64) -> Result<Self> {
        check_step_size(step_size)?;
        StepLR {
            core: Core::attach(opt)?,
            step_size,
            gamma,
        }
        .started(opt)
    }
}

/// torch would divide by zero at the first step; say so at construction instead.
fn check_step_size(step_size: usize) -> Result<()> {
    if step_size == 0 {
        return Err(Error::invalid("StepLR", "step_size must be positive"));
    }
    Ok(())
}

impl Formula for StepLR {
    const NAME: &'static str = "StepLR";

    fn core(&self) -> &Core {
        &self.core
    }

    fn core_mut(&mut self) -> &mut Core {
        &mut self.core
    }

    fn get_lr(&mut self, opt: &mut dyn Schedulable) -> Result<Vec<f64>> {
        let lrs = self.core.group_lrs(opt)?;
        let epoch = self.core.last_epoch;
        if epoch == 0 || epoch.rem_euclid(self.step_size as i64) != 0 {
            return Ok(lrs);
        }
        Ok(lrs.into_iter().map(|lr| lr * self.gamma).collect())
    }

    fn closed_form_lr(&mut self, _opt: &mut dyn Schedulable) -> Result<Vec<f64>> {
        // Python's `//` floors.
        let exponent = self.core.last_epoch.div_euclid(self.step_size as i64);
        let factor = self.gamma.powf(exponent as f64);
        Ok(self.core.base_lrs.iter().map(|b| b * factor).collect())
    }

    fn save(&self, out: &mut BTreeMap<String, Value>) {
        out.insert("step_size".into(), Value::Int(self.step_size as i64));
        out.insert("gamma".into(), self.gamma.into());
    }

    fn load(&mut self, f: &Fields) -> Result<()> {
        self.step_size = f.usize("step_size")?;
        check_step_size(self.step_size)?;
        self.gamma = f.f64("gamma")?;
        Ok(())
    }
}

/// `torch.optim.lr_scheduler.MultiStepLR`: at each milestone epoch, `lr *= gamma` (to the
/// power of the number of times the milestone is listed, as torch's `Counter`).
#[derive(Clone, Debug)]
pub struct MultiStepLR {
    core: Core,
    /// Sorted, repeats kept.
    milestones: Vec<i64>,
    gamma: f64,
}

impl MultiStepLR {
    pub fn new(opt: &mut dyn Schedulable, milestones: &[usize], gamma: f64) -> Result<Self> {
        let mut milestones: Vec<i64> = milestones.iter().map(|&m| m as i64).collect();
        milestones.sort_unstable();
        MultiStepLR {
            core: Core::attach(opt)?,
            milestones,
            gamma,
        }
        .started(opt)
    }

    /// How many milestones are at most `epoch` (Python's `bisect_right`).
    fn passed(&self, epoch: i64) -> usize {
        self.milestones.partition_point(|&m| m <= epoch)
    }
}

impl Formula for MultiStepLR {
    const NAME: &'static str = "MultiStepLR";

    fn core(&self) -> &Core {
        &self.core
    }

    fn core_mut(&mut self) -> &mut Core {
        &mut self.core
    }

    fn get_lr(&mut self, opt: &mut dyn Schedulable) -> Result<Vec<f64>> {
        let lrs = self.core.group_lrs(opt)?;
        let epoch = self.core.last_epoch;
        let count = self.milestones.iter().filter(|&&m| m == epoch).count();
        if count == 0 {
            return Ok(lrs);
        }
        let factor = self.gamma.powf(count as f64);
        Ok(lrs.into_iter().map(|lr| lr * factor).collect())
    }

    fn closed_form_lr(&mut self, _opt: &mut dyn Schedulable) -> Result<Vec<f64>> {
        let factor = self.gamma.powf(self.passed(self.core.last_epoch) as f64);
        Ok(self.core.base_lrs.iter().map(|b| b * factor).collect())
    }

    fn save(&self, out: &mut BTreeMap<String, Value>) {
        // torch keeps a Counter {epoch: count}; a sorted list with repeats says the same and
        // has no integer map keys, which JSON lacks.
        out.insert("milestones".into(), Value::from(self.milestones.as_slice()));
        out.insert("gamma".into(), self.gamma.into());
    }

    fn load(&mut self, f: &Fields) -> Result<()> {
        let mut milestones = f.i64_list("milestones")?;
        milestones.sort_unstable();
        self.milestones = milestones;
        self.gamma = f.f64("gamma")?;
        Ok(())
    }
}

/// `torch.optim.lr_scheduler.ExponentialLR`: every epoch, `lr *= gamma`. Closed form:
/// `base_lr * gamma^epoch`.
#[derive(Clone, Debug)]
pub struct ExponentialLR {
    core: Core,
    gamma: f64,
}

impl ExponentialLR {
    pub fn new(opt: &mut dyn Schedulable, gamma: f64) -> Result<Self> {
        ExponentialLR {
            core: Core::attach(opt)?,
            gamma,
        }
        .started(opt)
    }
}

impl Formula for ExponentialLR {
    const NAME: &'static str = "ExponentialLR";

    fn core(&self) -> &Core {
        &self.core
    }

    fn core_mut(&mut self) -> &mut Core {
        &mut self.core
    }

    fn get_lr(&mut self, opt: &mut dyn Schedulable) -> Result<Vec<f64>> {
        let lrs = self.core.group_lrs(opt)?;
        // torch 2.15's `_is_initial`, not `last_epoch == 0`.
        if self.core.is_initial {
            return Ok(lrs);
        }
        Ok(lrs.into_iter().map(|lr| lr * self.gamma).collect())
    }

    fn closed_form_lr(&mut self, _opt: &mut dyn Schedulable) -> Result<Vec<f64>> {
        let factor = self.gamma.powf(self.core.last_epoch as f64);
        Ok(self.core.base_lrs.iter().map(|b| b * factor).collect())
    }

    fn save(&self, out: &mut BTreeMap<String, Value>) {
        out.insert("gamma".into(), self.gamma.into());
    }

    fn load(&mut self, f: &Fields) -> Result<()> {
        self.gamma = f.f64("gamma")?;
        Ok(())
    }
}
