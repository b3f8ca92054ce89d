//! `CosineAnnealingLR`.

use super::{Core, Formula};
use crate::Schedulable;
use crate::value::{Fields, Value};
use std::collections::BTreeMap;
use std::f64::consts::PI;
use tiny_torch_core::{Error, Result};

/// `torch.optim.lr_scheduler.CosineAnnealingLR`: anneals each lr from its base lr to `eta_min`
/// over `t_max` epochs along `eta_min + (base - eta_min)(1 + cos(π epoch / t_max)) / 2`, and
/// back up over the next `t_max` (no restarts).
///
/// As in torch, `step` applies the recursive form to the current lr,
/// `eta_min + (lr - eta_min)(1 + cos(π e / T)) / (1 + cos(π (e - 1) / T))`, with torch's
/// special case where that divides by zero (`(e - 1 - T) mod 2T = 0`); the closed form is used
/// only when SequentialLR switches to this scheduler. The two differ in the last bits, and
/// the recursive one is torch's.
#[derive(Clone, Debug)]
pub struct CosineAnnealingLR {
    core: Core,
    t_max: usize,
    eta_min: f64,
}

impl CosineAnnealingLR {
    pub fn new(opt: &mut dyn Schedulable, t_max: usize, eta_min: f64) -> Result<Self> {
        check_t_max(t_max)?;
        CosineAnnealingLR {
            core: Core::attach(opt)?,
            t_max,
            eta_min,
        }
        .started(opt)
    }
}

/// torch would divide by zero at the first step; say so at construction instead.
fn check_t_max(t_max: usize) -> Result<()> {
    if t_max == 0 {
        return Err(Error::invalid(
            "CosineAnnealingLR",
            "T_max must be positive",
        ));
    }
    Ok(())
}

impl Formula for CosineAnnealingLR {
    const NAME: &'static str = "CosineAnnealingLR";

    fn core(&self) -> &Core {
        &self.core
    }

    fn core_mut(&mut self) -> &mut Core {
        &mut self.core
    }

    fn get_lr(&mut self, opt: &mut dyn Schedulable) -> Result<Vec<f64>> {
        let lrs = self.core.group_lrs(opt)?;
        let (e, t, eta_min) = (self.core.last_epoch, self.t_max as i64, self.eta_min);
        let (ef, tf) = (e as f64, t as f64);
        let bases = &self.core.base_lrs;
        // The branches and the order of operations are torch's, term for term.
        if self.core.is_initial {
            Ok(lrs)
        } else if self.core.step_count == 1 && e > 0 {
            // A scheduler resumed at a later epoch: the closed form once.
            Ok(bases
                .iter()
                .map(|b| eta_min + (b - eta_min) * (1.0 + (ef * PI / tf).cos()) / 2.0)
                .collect())
        } else if (e - 1 - t).rem_euclid(2 * t) == 0 {
            // At the trough the recursive ratio is 0/0; torch adds the first step back up.
            Ok(lrs
                .iter()
                .zip(bases)
                .map(|(lr, b)| lr + (b - eta_min) * (1.0 - (PI / tf).cos()) / 2.0)
                .collect())
        } else {
            let ratio = (1.0 + (PI * ef / tf).cos()) / (1.0 + (PI * (ef - 1.0) / tf).cos());
            Ok(lrs
                .iter()
                .map(|lr| ratio * (lr - eta_min) + eta_min)
                .collect())
        }
    }

    fn closed_form_lr(&mut self, _opt: &mut dyn Schedulable) -> Result<Vec<f64>> {
        let (ef, tf) = (self.core.last_epoch as f64, self.t_max as f64);
        let eta_min = self.eta_min;
        Ok(self
            .core
            .base_lrs
            .iter()
            .map(|b| eta_min + (b - eta_min) * (1.0 + (PI * ef / tf).cos()) / 2.0)
            .collect())
    }

    fn save(&self, out: &mut BTreeMap<String, Value>) {
        out.insert("T_max".into(), Value::Int(self.t_max as i64));
        out.insert("eta_min".into(), self.eta_min.into());
    }

    fn load(&mut self, f: &Fields) -> Result<()> {
        self.t_max = f.usize("T_max")?;
        check_t_max(self.t_max)?;
        self.eta_min = f.f64("eta_min")?;
        Ok(())
    }
}
