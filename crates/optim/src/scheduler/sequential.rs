//! `SequentialLR`: one scheduler after another, switching at milestones.

use super::{LrScheduler, check_name, schedule_of};
use crate::value::{Fields, Value};
use crate::{GroupSchedule, Schedulable};
use std::collections::BTreeMap;
use tiny_torch_core::{Error, Result};

/// `torch.optim.lr_scheduler.SequentialLR`: runs `schedulers[i]` from milestone `i - 1` on
/// (the usual use: a LinearLR warm-up, then a cosine decay).
///
/// The schedulers must have been created on the same optimizer (each one's creation took a
/// first step, as in torch). Creating the SequentialLR does what torch's does: it resets every
/// group's lr to its `initial_lr`, takes back the initial step of every scheduler, and takes
/// it again for the first one. At a milestone the next scheduler starts from epoch 0 by its
/// closed form; between milestones the active scheduler steps as usual.
pub struct SequentialLR {
    schedulers: Vec<Box<dyn LrScheduler>>,
    milestones: Vec<i64>,
    last_epoch: i64,
    last_lr: Vec<f64>,
}

impl SequentialLR {
    pub fn new(
        opt: &mut dyn Schedulable,
        mut schedulers: Vec<Box<dyn LrScheduler>>,
        milestones: &[usize],
    ) -> Result<Self> {
        const OP: &str = "SequentialLR";
        if schedulers.is_empty() {
            return Err(Error::invalid(
                OP,
                "SequentialLR expects at least one scheduler, but got no scheduler.",
            ));
        }
        if milestones.len() != schedulers.len() - 1 {
            return Err(Error::invalid(
                OP,
                format!(
                    "Sequential Schedulers expects number of schedulers provided to be one more \
                     than the number of milestone points, but got number of schedulers {} and \
                     the number of milestones to be equal to {}",
                    schedulers.len(),
                    milestones.len()
                ),
            ));
        }
        // torch bisects the milestones without checking their order; unsorted ones would pick
        // schedulers at random, so reject them.
        if milestones.windows(2).any(|w| w[0] > w[1]) {
            return Err(Error::invalid(
                OP,
                format!("milestones must be increasing, but are {milestones:?}"),
            ));
        }
        let mut resets = Vec::with_capacity(opt.num_param_groups());
        for g in 0..opt.num_param_groups() {
            let values = schedule_of(opt, g)?;
            let Some(initial_lr) = values.initial_lr else {
                return Err(Error::invalid(
                    OP,
                    format!(
                        "param group {g} has no initial_lr: create the schedulers on this \
                         optimizer first"
                    ),
                ));
            };
            resets.push(GroupSchedule {
                lr: initial_lr,
                ..values
            });
        }
        for (g, values) in resets.into_iter().enumerate() {
            opt.set_group_schedule(g, values)?;
        }
        let mut sequential = SequentialLR {
            schedulers: Vec::new(),
            milestones: milestones.iter().map(|&m| m as i64).collect(),
            last_epoch: 0,
            last_lr: Vec::new(),
        };
        for s in &mut schedulers {
            s.undo_initial_step();
        }
        let first = sequential.active(0);
        schedulers[first].initial_step(opt)?;
        sequential.last_lr = schedulers[first].get_last_lr().to_vec();
        sequential.schedulers = schedulers;
        Ok(sequential)
    }

    /// The schedulers, in order.
    pub fn schedulers(&self) -> &[Box<dyn LrScheduler>] {
        &self.schedulers
    }

    /// The index of the scheduler that runs at `epoch` (`bisect_right(milestones, epoch)`).
    fn active(&self, epoch: i64) -> usize {
        self.milestones.partition_point(|&m| m <= epoch)
    }
}

impl LrScheduler for SequentialLR {
    fn step(&mut self, opt: &mut dyn Schedulable) -> Result<()> {
        let epoch = self.last_epoch + 1;
        let i = self.active(epoch);
        let scheduler = &mut self.schedulers[i];
        if i > 0 && self.milestones[i - 1] == epoch {
            scheduler.step_to_epoch(0, opt)?;
        } else {
            scheduler.step(opt)?;
        }
        self.last_lr = scheduler.get_last_lr().to_vec();
        self.last_epoch = epoch;
        Ok(())
    }

    fn get_last_lr(&self) -> &[f64] {
        &self.last_lr
    }

    fn last_epoch(&self) -> i64 {
        self.last_epoch
    }

    fn state_dict(&self) -> Value {
        let mut out = BTreeMap::new();
        out.insert("scheduler".into(), Value::from("SequentialLR"));
        out.insert(
            "_milestones".into(),
            Value::from(self.milestones.as_slice()),
        );
        out.insert("last_epoch".into(), Value::Int(self.last_epoch));
        out.insert("_last_lr".into(), Value::from(self.last_lr.as_slice()));
        let children = self.schedulers.iter().map(|s| s.state_dict()).collect();
        out.insert("_schedulers".into(), Value::List(children));
        Value::Map(out)
    }

    fn load_state_dict(&mut self, state: &Value) -> Result<()> {
        const OP: &str = "SequentialLR.load_state_dict";
        let f = Fields::new(OP, "the state dict", state)?;
        check_name(&f, "SequentialLR")?;
        let milestones = f.i64_list("_milestones")?;
        let last_epoch = f.i64("last_epoch")?;
        let last_lr = f.f64_list("_last_lr")?;
        let children = f.list("_schedulers")?;
        if children.len() != self.schedulers.len() || milestones.len() + 1 != children.len() {
            return Err(Error::invalid(
                OP,
                format!(
                    "the state dict has {} schedulers and {} milestones, this SequentialLR {} \
                     schedulers",
                    children.len(),
                    milestones.len(),
                    self.schedulers.len()
                ),
            ));
        }
        // Load every child; if one fails, put back the ones already loaded.
        let backup: Vec<Value> = self.schedulers.iter().map(|s| s.state_dict()).collect();
        for (i, child) in children.iter().enumerate() {
            if let Err(e) = self.schedulers[i].load_state_dict(child) {
                for (s, saved) in self.schedulers.iter_mut().zip(&backup).take(i) {
                    // Their own state dicts: these loads cannot fail.
                    let _ = s.load_state_dict(saved);
                }
                return Err(e);
            }
        }
        self.milestones = milestones;
        self.last_epoch = last_epoch;
        self.last_lr = last_lr;
        Ok(())
    }

    /// torch's `_initial_step` on a SequentialLR is its `step`.
    fn initial_step(&mut self, opt: &mut dyn Schedulable) -> Result<()> {
        self.step(opt)
    }

    fn step_to_epoch(&mut self, _epoch: i64, _opt: &mut dyn Schedulable) -> Result<()> {
        // torch would call SequentialLR.get_lr, which does not exist (NotImplementedError).
        Err(Error::invalid(
            "SequentialLR",
            "a SequentialLR cannot be started at a milestone of another SequentialLR",
        ))
    }

    /// torch's `recursive_undo` reaches through to the schedulers inside.
    fn undo_initial_step(&mut self) {
        for s in &mut self.schedulers {
            s.undo_initial_step();
        }
    }
}
