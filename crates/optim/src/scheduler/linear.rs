//! `LinearLR`, the usual warm-up.

use super::{Core, Formula};
use crate::Schedulable;
use crate::value::{Fields, Value};
use std::collections::BTreeMap;
use tiny_torch_core::{Error, Result};

/// `torch.optim.lr_scheduler.LinearLR`: scales each lr by a factor that moves linearly from
/// `start_factor` at epoch 0 to `end_factor` at epoch `total_iters`, then stays (torch's
/// defaults: 1/3, 1.0, 5). Closed form:
/// `base * (start + (end - start) * min(epoch, total_iters) / total_iters)`.
///
/// As in torch, `step` multiplies the current lr by the ratio of consecutive factors,
/// `1 + (end - start) / (total_iters start + (e - 1)(end - start))`.
#[derive(Clone, Debug)]
pub struct LinearLR {
    core: Core,
    start_factor: f64,
    end_factor: f64,
    total_iters: usize,
}

impl LinearLR {
    pub fn new(
        opt: &mut dyn Schedulable,
        start_factor: f64,
        end_factor: f64,
        total_iters: usize,
    ) -> Result<Self> {
        check_factors(start_factor, end_factor)?;
        LinearLR {
            core: Core::attach(opt)?,
            start_factor,
            end_factor,
            total_iters,
        }
        .started(opt)
    }
}

/// torch's checks and messages.
fn check_factors(start_factor: f64, end_factor: f64) -> Result<()> {
    if start_factor > 1.0 || start_factor <= 0.0 {
        return Err(Error::invalid(
            "LinearLR",
            "Starting multiplicative factor expected to be greater than 0 and less or equal to 1.",
        ));
    }
    if !(0.0..=1.0).contains(&end_factor) {
        return Err(Error::invalid(
            "LinearLR",
            "Ending multiplicative factor expected to be between 0 and 1.",
        ));
    }
    Ok(())
}

impl Formula for LinearLR {
    const NAME: &'static str = "LinearLR";

    fn core(&self) -> &Core {
        &self.core
    }

    fn core_mut(&mut self) -> &mut Core {
        &mut self.core
    }

    fn get_lr(&mut self, opt: &mut dyn Schedulable) -> Result<Vec<f64>> {
        let lrs = self.core.group_lrs(opt)?;
        let e = self.core.last_epoch;
        let (start, end) = (self.start_factor, self.end_factor);
        if e == 0 {
            return Ok(lrs.into_iter().map(|lr| lr * start).collect());
        }
        if self.core.is_initial || e > self.total_iters as i64 {
            return Ok(lrs);
        }
        let total = self.total_iters as f64;
        let ratio = 1.0 + (end - start) / (total * start + (e - 1) as f64 * (end - start));
        Ok(lrs.into_iter().map(|lr| lr * ratio).collect())
    }

    fn closed_form_lr(&mut self, _opt: &mut dyn Schedulable) -> Result<Vec<f64>> {
        if self.total_iters == 0 {
            // torch raises ZeroDivisionError here.
            return Err(Error::invalid(
                "LinearLR",
                "the closed form divides by total_iters, which is 0",
            ));
        }
        let e = self.core.last_epoch.min(self.total_iters as i64) as f64;
        let (start, end, total) = (self.start_factor, self.end_factor, self.total_iters as f64);
        let factor = start + (end - start) * e / total;
        Ok(self.core.base_lrs.iter().map(|b| b * factor).collect())
    }

    fn save(&self, out: &mut BTreeMap<String, Value>) {
        out.insert("start_factor".into(), self.start_factor.into());
        out.insert("end_factor".into(), self.end_factor.into());
        out.insert("total_iters".into(), Value::Int(self.total_iters as i64));
    }

    fn load(&mut self, f: &Fields) -> Result<()> {
        self.start_factor = f.f64("start_factor")?;
        self.end_factor = f.f64("end_factor")?;
        check_factors(self.start_factor, self.end_factor)?;
        self.total_iters = f.usize("total_iters")?;
        Ok(())
    }
}
