//! Parameter groups and what every optimizer does with them the same way: listing parameters,
//! reading and writing the scheduled values, and the small tensor helpers of the update rules.

use crate::GroupSchedule;
use crate::value::{Fields, Value};
use std::collections::BTreeMap;
use tiny_torch_core::{Backend, DType, Error, Result};
use tiny_torch_tensor::Tensor;

/// A group of parameters sharing hyper-parameters `H`, with per-parameter optimizer state `S`.
pub struct ParamGroup<B: Backend, H, S> {
    pub params: Vec<Tensor<B>>,
    pub options: H,
    pub(crate) state: Vec<S>,
    /// torch's `group["initial_lr"]`: written by the first LR scheduler attached to the
    /// optimizer, read by the next ones (so that a second scheduler starts from the original
    /// lr, not from the first one's), and saved in the state dict.
    pub(crate) initial_lr: Option<f64>,
}

impl<B: Backend, H, S: Default> ParamGroup<B, H, S> {
    pub(crate) fn new(params: Vec<Tensor<B>>, options: H) -> Self {
        let state = params.iter().map(|_| S::default()).collect();
        ParamGroup {
            params,
            options,
            state,
            initial_lr: None,
        }
    }
}

/// The hyper-parameters of one optimizer's groups (`SgdOptions`, ...).
pub(crate) trait GroupOptions: Copy {
    fn lr(&self) -> f64;
    fn set_lr(&mut self, lr: f64);
    /// The momentum OneCycleLR cycles, if the optimizer has one.
    fn momentum(&self) -> Option<f64>;
    fn set_momentum(&mut self, momentum: f64);
    /// torch's constructor checks, with its messages.
    fn validate(&self) -> Result<()>;
    /// Writes every hyper-parameter under torch's key.
    fn save(&self, out: &mut BTreeMap<String, Value>);
    /// These options with each key present in `fields` replaced (keys torch has and this crate
    /// does not, such as `foreach`, are ignored).
    fn load(self, fields: &Fields) -> Result<Self>;
}

/// The parameters of all `groups`, in order.
pub(crate) fn all_parameters<B: Backend, H, S>(groups: &[ParamGroup<B, H, S>]) -> Vec<Tensor<B>> {
    groups
        .iter()
        .flat_map(|g| g.params.iter().cloned())
        .collect()
}

/// The scheduled values of group `group` (the body of every optimizer's
/// [`crate::Schedulable::group_schedule`]).
pub(crate) fn group_schedule<B: Backend, H: GroupOptions, S>(
    groups: &[ParamGroup<B, H, S>],
    group: usize,
) -> Option<GroupSchedule> {
    groups.get(group).map(|g| GroupSchedule {
        lr: g.options.lr(),
        initial_lr: g.initial_lr,
        momentum: g.options.momentum(),
    })
}

/// Sets them (the body of every optimizer's [`crate::Schedulable::set_group_schedule`]).
pub(crate) fn set_group_schedule<B: Backend, H: GroupOptions, S>(
    groups: &mut [ParamGroup<B, H, S>],
    group: usize,
    values: GroupSchedule,
) -> Result<()> {
    let count = groups.len();
    let g = groups.get_mut(group).ok_or_else(|| {
        Error::invalid(
            "set_group_schedule",
            format!("param group {group} does not exist (the optimizer has {count})"),
        )
    })?;
    if let Some(m) = values.momentum {
        if g.options.momentum().is_none() {
            return Err(Error::invalid(
                "set_group_schedule",
                "this optimizer has no momentum or beta1 to schedule",
            ));
        }
        g.options.set_momentum(m);
    }
    g.options.set_lr(values.lr);
    g.initial_lr = values.initial_lr;
    Ok(())
}

/// The state tensor in `slot`, created as zeros like `like` on first use (torch creates its
/// state lazily, on a parameter's first step).
pub(crate) fn state_tensor<B: Backend>(
    slot: &mut Option<Tensor<B>>,
    like: &Tensor<B>,
) -> Result<Tensor<B>> {
    match slot {
        Some(t) => Ok(t.clone()),
        None => {
            let t = like.detach().zeros_like()?;
            *slot = Some(t.clone());
            Ok(t)
        }
    }
}

/// `a + alpha * b` as PyTorch's `a.add(b, alpha=alpha)`.
pub(crate) fn add_scaled<B: Backend>(
    a: &Tensor<B>,
    b: &Tensor<B>,
    alpha: f64,
) -> Result<Tensor<B>> {
    if alpha == 1.0 {
        a.add(b)
    } else {
        a.add(&b.mul(alpha)?)
    }
}

/// `t.lerp_(end, weight)` with torch's formula, which switches form at |weight| = 0.5 so that
/// both ends are reached exactly: `t + w (end - t)` or `end - (end - t)(1 - w)`.
pub(crate) fn lerp_<B: Backend>(t: &Tensor<B>, end: &Tensor<B>, weight: f64) -> Result<()> {
    let diff = end.sub(t)?;
    if weight.abs() < 0.5 {
        t.add_(&diff.mul(weight)?)
    } else {
        // torch computes `1 - weight` in the op's precision (f32 for f32 tensors), after
        // rounding `weight` to it.
        let one_minus = match t.dtype() {
            DType::F64 => 1.0 - weight,
            _ => f64::from(1.0 - weight as f32),
        };
        t.copy_(&end.sub(&diff.mul(one_minus)?)?)
    }
}

/// An independent copy of `t` (`t.clone().detach()`).
pub(crate) fn copy_of<B: Backend>(t: &Tensor<B>) -> Result<Tensor<B>> {
    let out = t.detach().zeros_like()?;
    out.copy_(t)?;
    Ok(out)
}

/// Whether a hyper-parameter is `>= 0`: false for NaN too, as PyTorch's `not 0.0 <= lr`
/// rejects it (a NaN learning rate would turn every parameter into NaN at the first step).
pub(crate) fn non_negative(x: f64) -> bool {
    x >= 0.0
}

/// PyTorch's constructor check: an optimizer with no parameters at all is an error (usually a
/// model whose parameters were never registered). An empty group added later is allowed.
pub(crate) fn check_not_empty<B: Backend>(op: &'static str, params: &[Tensor<B>]) -> Result<()> {
    if params.is_empty() {
        return Err(Error::invalid(op, "optimizer got an empty parameter list"));
    }
    Ok(())
}

/// PyTorch's `add_param_group` checks: every parameter is a leaf (autograd fills `.grad` on
/// leaves only, so a computed tensor would never be stepped), and a parameter belongs to one
/// group only (in two, a step would update it twice, each time with the other group's state
/// and hyper-parameters), listed once in it.
pub(crate) fn check_new_params<B: Backend, H, S>(
    op: &'static str,
    groups: &[ParamGroup<B, H, S>],
    params: &[Tensor<B>],
) -> Result<()> {
    if let Some(p) = params.iter().find(|p| !p.is_leaf()) {
        return Err(Error::invalid(
            op,
            format!(
                "can't optimize a non-leaf Tensor (shape {}, made by an op); optimize the \
                 leaf it was computed from",
                p.shape()
            ),
        ));
    }
    let listed = |p: &Tensor<B>| {
        groups
            .iter()
            .flat_map(|g| &g.params)
            .any(|q| q.same_tensor(p))
    };
    if params.iter().any(listed) {
        return Err(Error::invalid(
            op,
            "some parameters appear in more than one parameter group",
        ));
    }
    // Twice in one group, a parameter would be stepped twice per `step()` (PyTorch warns;
    // `Module::parameters` lists a tied parameter once).
    if params
        .iter()
        .enumerate()
        .any(|(i, p)| params[..i].iter().any(|q| q.same_tensor(p)))
    {
        return Err(Error::invalid(
            op,
            "a parameter group lists a parameter more than once",
        ));
    }
    Ok(())
}
