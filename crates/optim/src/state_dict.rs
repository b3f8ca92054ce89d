//! `optimizer.state_dict()` / `load_state_dict()`: [`OptimizerStateDict`], and the code shared
//! by every optimizer to build and load one.
//!
//! The layout is PyTorch's: `state` maps a parameter index (counting through the groups in
//! order) to that parameter's named state tensors, and `param_groups` lists each group's
//! hyper-parameters with the indices of its parameters. For a file it splits in two
//! ([`OptimizerStateDict::to_tensors`], [`OptimizerStateDict::param_groups_value`]): a flat
//! map `state.{index}.{key}` → tensor (safetensors' tensors) and a JSON value (safetensors'
//! metadata), which [`OptimizerStateDict::from_parts`] puts back together.

use crate::groups::{GroupOptions, ParamGroup};
use crate::value::{Fields, Value};
use std::collections::BTreeMap;
use tiny_torch_core::{Backend, Error, Result};
use tiny_torch_tensor::Tensor;

const OP: &str = "Optimizer.load_state_dict";

/// An optimizer's state, as PyTorch's `optimizer.state_dict()`:
///
/// ```text
/// state:        {0: {"step": tensor(3.), "exp_avg": ..., "exp_avg_sq": ...}, 1: {...}}
/// param_groups: [{"lr": 0.001, "betas": [0.9, 0.999], ..., "params": [0, 1]}, ...]
/// ```
///
/// State keys are torch's: `momentum_buffer` (SGD, RMSprop), `step`, `exp_avg`, `exp_avg_sq`,
/// `max_exp_avg_sq` (Adam), `square_avg`, `grad_avg` (RMSprop). `step` is a zero-dimensional
/// float32 tensor, as in PyTorch (float64 past 2^24 steps, where float32 stops counting
/// exactly). A parameter that has not been stepped has no entry, and a state torch would hold
/// as `None` (SGD's momentum buffer without momentum) is absent.
pub struct OptimizerStateDict<B: Backend> {
    pub state: BTreeMap<usize, BTreeMap<String, Tensor<B>>>,
    pub param_groups: Vec<GroupStateDict>,
}

/// One entry of `param_groups`: the group's hyper-parameters under torch's names (`lr`,
/// `momentum`, `betas`, ..., and `initial_lr` once a scheduler has set it) and the indices of
/// its parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupStateDict {
    pub params: Vec<usize>,
    pub hyper: BTreeMap<String, Value>,
}

impl<B: Backend> OptimizerStateDict<B> {
    /// The state tensors as a flat map: `state.{index}.{key}`, in index then key order.
    pub fn to_tensors(&self) -> Vec<(String, Tensor<B>)> {
        self.state
            .iter()
            .flat_map(|(index, entries)| {
                entries
                    .iter()
                    .map(move |(key, t)| (format!("state.{index}.{key}"), t.clone()))
            })
            .collect()
    }

    /// `param_groups` as a JSON value: a list of maps, each with the hyper-parameters and
    /// `"params"`.
    pub fn param_groups_value(&self) -> Value {
        Value::List(
            self.param_groups
                .iter()
                .map(|g| {
                    let mut map = g.hyper.clone();
                    let params: Vec<i64> = g.params.iter().map(|&i| i as i64).collect();
                    map.insert("params".into(), Value::from(params.as_slice()));
                    Value::Map(map)
                })
                .collect(),
        )
    }

    /// The inverse of [`to_tensors`](Self::to_tensors) and
    /// [`param_groups_value`](Self::param_groups_value). Errors name the malformed key.
    pub fn from_parts(
        tensors: impl IntoIterator<Item = (String, Tensor<B>)>,
        param_groups: &Value,
    ) -> Result<Self> {
        const OP: &str = "OptimizerStateDict::from_parts";
        let mut state: BTreeMap<usize, BTreeMap<String, Tensor<B>>> = BTreeMap::new();
        for (name, t) in tensors {
            let parsed = name
                .strip_prefix("state.")
                .and_then(|rest| rest.split_once('.'))
                .and_then(|(i, key)| Some((i.parse::<usize>().ok()?, key)))
                .filter(|(_, key)| !key.is_empty());
            let Some((index, key)) = parsed else {
                return Err(Error::invalid(
                    OP,
                    format!("tensor key \"{name}\" is not of the form state.<index>.<name>"),
                ));
            };
            if state
                .entry(index)
                .or_default()
                .insert(key.to_string(), t)
                .is_some()
            {
                return Err(Error::invalid(
                    OP,
                    format!("tensor key \"{name}\" appears twice"),
                ));
            }
        }
        let Some(groups) = param_groups.as_list() else {
            return Err(Error::invalid(
                OP,
                format!(
                    "param_groups must be a list, but is {}",
                    param_groups.kind()
                ),
            ));
        };
        let param_groups = groups
            .iter()
            .enumerate()
            .map(|(i, g)| {
                let fields = Fields::new(OP, format!("param_groups[{i}]"), g)?;
                let params = fields
                    .i64_list("params")?
                    .into_iter()
                    .map(|p| {
                        usize::try_from(p).map_err(|_| {
                            Error::invalid(OP, format!("param_groups[{i}] lists parameter {p}"))
                        })
                    })
                    .collect::<Result<_>>()?;
                let mut hyper = g.as_map().cloned().unwrap_or_default();
                hyper.remove("params");
                Ok(GroupStateDict { params, hyper })
            })
            .collect::<Result<_>>()?;
        Ok(OptimizerStateDict {
            state,
            param_groups,
        })
    }
}

/// One parameter's optimizer state (`Option<Tensor>` for SGD's momentum buffer, `AdamState`,
/// `RmsPropState`), to and from the named tensors of a state dict.
pub(crate) trait ParamState<B: Backend>: Default {
    /// Appends the state tensors under torch's keys (nothing for a parameter never stepped).
    fn save(&self, param: &Tensor<B>, out: &mut Vec<(&'static str, Tensor<B>)>) -> Result<()>;

    /// Rebuilds the state from a parameter's entries; keys it does not take are an error.
    fn load(entries: &mut Entries<B>) -> Result<Self>;
}

/// `state["step"]` as torch stores it: a zero-dimensional float tensor on the parameter's
/// device.
pub(crate) fn step_tensor<B: Backend>(step: u64, param: &Tensor<B>) -> Result<Tensor<B>> {
    // float32 counts exactly up to 2^24, as in PyTorch; past it float64 keeps resuming exact.
    if step <= 1 << 24 {
        Tensor::from_slice(&[step as f32], &[], param.backend())
    } else {
        Tensor::from_slice(&[step as f64], &[], param.backend())
    }
}

/// The saved entries of one parameter, handed out one key at a time with checks.
pub(crate) struct Entries<'a, B: Backend> {
    index: usize,
    param: &'a Tensor<B>,
    left: BTreeMap<&'a str, &'a Tensor<B>>,
}

impl<'a, B: Backend> Entries<'a, B> {
    fn new(index: usize, param: &'a Tensor<B>, saved: &'a BTreeMap<String, Tensor<B>>) -> Self {
        let left = saved.iter().map(|(k, t)| (k.as_str(), t)).collect();
        Entries { index, param, left }
    }

    /// Whether any entry is left (a parameter that was stepped has some).
    pub(crate) fn is_empty(&self) -> bool {
        self.left.is_empty()
    }

    /// Takes `key`: it must have the parameter's shape. The result is a new tensor (never the
    /// saved one, which the caller may go on using) in the parameter's dtype, when that is a
    /// float dtype, and on its device.
    pub(crate) fn tensor(&mut self, key: &str) -> Result<Option<Tensor<B>>> {
        let Some(t) = self.left.remove(key) else {
            return Ok(None);
        };
        if t.dims() != self.param.dims() {
            return Err(Error::shape(
                OP,
                format!(
                    "state[{}][\"{key}\"] has shape {}, but the parameter has shape {}",
                    self.index,
                    t.shape(),
                    self.param.shape()
                ),
            ));
        }
        // `to_device` copies, so the result never aliases `t`.
        let t = t.detach().to_device(self.param.backend())?;
        let t = if self.param.dtype().is_float() {
            t.to_dtype(self.param.dtype())?
        } else {
            t
        };
        Ok(Some(t))
    }

    /// Takes `key`, which must be present when the parameter has any state.
    pub(crate) fn required(&mut self, key: &str) -> Result<Tensor<B>> {
        self.tensor(key)?.ok_or_else(|| self.missing(key))
    }

    /// Takes `"step"`: one element holding a non-negative integer.
    pub(crate) fn step(&mut self) -> Result<u64> {
        let Some(t) = self.left.remove("step") else {
            return Err(self.missing("step"));
        };
        let values = if t.numel() == 1 {
            t.to_f64_vec()?
        } else {
            Vec::new()
        };
        match values.as_slice() {
            [v] if *v >= 0.0 && v.fract() == 0.0 && *v < u64::MAX as f64 => Ok(*v as u64),
            _ => Err(Error::invalid(
                OP,
                format!(
                    "state[{}][\"step\"] must be one non-negative integer, but is a tensor of \
                     shape {} holding {values:?}",
                    self.index,
                    t.shape()
                ),
            )),
        }
    }

    fn missing(&self, key: &str) -> Error {
        Error::invalid(
            OP,
            format!(
                "state[{}] has no \"{key}\" (it has other state)",
                self.index
            ),
        )
    }

    /// Errors on the keys no one took.
    fn finish(self) -> Result<()> {
        if self.left.is_empty() {
            return Ok(());
        }
        let keys: Vec<String> = self.left.keys().map(|k| format!("\"{k}\"")).collect();
        Err(Error::invalid(
            OP,
            format!(
                "unexpected key(s) in state[{}]: {}",
                self.index,
                keys.join(", ")
            ),
        ))
    }
}

/// `optimizer.state_dict()` for an optimizer with these `groups`.
pub(crate) fn save<B: Backend, H: GroupOptions, S: ParamState<B>>(
    groups: &[ParamGroup<B, H, S>],
) -> Result<OptimizerStateDict<B>> {
    let mut state = BTreeMap::new();
    let mut param_groups = Vec::new();
    let mut index = 0;
    for group in groups {
        let mut hyper = BTreeMap::new();
        group.options.save(&mut hyper);
        if let Some(lr) = group.initial_lr {
            hyper.insert("initial_lr".into(), Value::Float(lr));
        }
        let mut params = Vec::new();
        for (p, s) in group.params.iter().zip(&group.state) {
            let mut entries = Vec::new();
            s.save(p, &mut entries)?;
            if !entries.is_empty() {
                let entries = entries.into_iter().map(|(k, t)| (k.to_string(), t));
                state.insert(index, entries.collect());
            }
            params.push(index);
            index += 1;
        }
        param_groups.push(GroupStateDict { params, hyper });
    }
    Ok(OptimizerStateDict {
        state,
        param_groups,
    })
}

/// `optimizer.load_state_dict(saved)` for an optimizer with these `groups`: checks and builds
/// everything first, then replaces options and state, so that an error changes nothing.
pub(crate) fn load<B: Backend, H: GroupOptions, S: ParamState<B>>(
    groups: &mut [ParamGroup<B, H, S>],
    saved: &OptimizerStateDict<B>,
) -> Result<()> {
    if groups.len() != saved.param_groups.len() {
        return Err(Error::invalid(
            OP,
            format!(
                "loaded state dict has a different number of parameter groups ({} saved, {} \
                 in the optimizer)",
                saved.param_groups.len(),
                groups.len()
            ),
        ));
    }
    // PyTorch pairs the saved indices with the parameters by position, group by group.
    let mut position = BTreeMap::new();
    for (g, (group, saved_group)) in groups.iter().zip(&saved.param_groups).enumerate() {
        if group.params.len() != saved_group.params.len() {
            return Err(Error::invalid(
                OP,
                format!(
                    "loaded state dict contains a parameter group that doesn't match the size \
                     of optimizer's group (group {g}: {} saved parameters, {} in the optimizer)",
                    saved_group.params.len(),
                    group.params.len()
                ),
            ));
        }
        for (i, &index) in saved_group.params.iter().enumerate() {
            if position.insert(index, (g, i)).is_some() {
                return Err(Error::invalid(
                    OP,
                    format!("parameter index {index} appears twice in param_groups"),
                ));
            }
        }
    }

    let mut options = Vec::with_capacity(groups.len());
    for (g, (group, saved_group)) in groups.iter().zip(&saved.param_groups).enumerate() {
        let fields = Fields::of_map(OP, format!("param_groups[{g}]"), &saved_group.hyper);
        let loaded = group.options.load(&fields)?;
        loaded.validate()?;
        options.push((loaded, fields.opt_f64("initial_lr")?));
    }

    let mut states: Vec<Vec<S>> = groups
        .iter()
        .map(|g| g.params.iter().map(|_| S::default()).collect())
        .collect();
    for (&index, entries) in &saved.state {
        let Some(&(g, i)) = position.get(&index) else {
            return Err(Error::invalid(
                OP,
                format!("state[{index}] is for a parameter index that no param group lists"),
            ));
        };
        let mut entries = Entries::new(index, &groups[g].params[i], entries);
        states[g][i] = S::load(&mut entries)?;
        entries.finish()?;
    }

    for ((group, (options, initial_lr)), state) in groups.iter_mut().zip(options).zip(states) {
        group.options = options;
        group.initial_lr = initial_lr;
        group.state = state;
    }
    Ok(())
}
