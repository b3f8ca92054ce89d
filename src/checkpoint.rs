//! Training checkpoints: everything needed to resume a run exactly, in one safetensors file.
//!
//! - tensors `model.<name>`: the model's state dict under PyTorch's names;
//! - tensors `optimizer.state.<index>.<key>`: the optimizer's per-parameter state
//!   ([`OptimizerStateDict::to_tensors`]);
//! - metadata (safetensors' string map): `format`, `epoch`, `step`, `rng` (the default
//!   generator's seed and offset), `optimizer.param_groups` and `scheduler` (JSON), and any
//!   extra strings the caller adds.
//!
//! The file is written atomically (temporary file, fsync, rename), so a crash mid-save leaves
//! the previous checkpoint intact. Loading reads and checks the whole file before it changes
//! anything; a file that is not such a checkpoint is an error naming it.

use crate::nn::Module;
use crate::nn::checkpoint::{atomic_write, load_safetensors, serialize_safetensors};
use crate::optim::{LrScheduler, Optimizer, OptimizerStateDict, Value};
use crate::{Backend, Error, Result, Tensor, default_generator};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

const FORMAT: &str = "tiny-torch-training-checkpoint/1";

/// Where a run stands, saved with the checkpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    pub epoch: u64,
    pub step: u64,
    /// Free-form strings saved alongside (e.g. the best accuracy so far).
    pub extra: BTreeMap<String, String>,
}

/// Saves model, optimizer, scheduler, the default generator's state and `progress` to `path`.
pub fn save_training<B: Backend, M: Module<B> + ?Sized>(
    path: impl AsRef<Path>,
    model: &M,
    optimizer: &dyn Optimizer<B>,
    scheduler: Option<&dyn LrScheduler>,
    progress: &Progress,
) -> Result<()> {
    let optimizer_state = optimizer.state_dict()?;
    let mut tensors: Vec<(String, Tensor<B>)> = model
        .state_dict()
        .into_iter()
        .map(|(k, t)| (format!("model.{k}"), t))
        .collect();
    tensors.extend(
        optimizer_state
            .to_tensors()
            .into_iter()
            .map(|(k, t)| (format!("optimizer.{k}"), t)),
    );
    let (seed, offset) = default_generator().state();
    let mut metadata: HashMap<String, String> = progress
        .extra
        .iter()
        .map(|(k, v)| (format!("extra.{k}"), v.clone()))
        .collect();
    metadata.insert("format".into(), FORMAT.into());
    metadata.insert("epoch".into(), progress.epoch.to_string());
    metadata.insert("step".into(), progress.step.to_string());
    metadata.insert("rng".into(), format!("{seed},{offset}"));
    metadata.insert(
        "optimizer.param_groups".into(),
        value_to_json(&optimizer_state.param_groups_value())
            .map_err(|e| unsaveable(path.as_ref(), "optimizer.param_groups", e))?
            .to_string(),
    );
    if let Some(s) = scheduler {
        metadata.insert(
            "scheduler".into(),
            value_to_json(&s.state_dict())
                .map_err(|e| unsaveable(path.as_ref(), "scheduler", e))?
                .to_string(),
        );
    }
    let bytes = serialize_safetensors(&tensors, Some(metadata))?;
    atomic_write(path.as_ref(), &bytes)
}

/// The error of a metadata entry that has no JSON form (nothing is written).
fn unsaveable(path: &Path, key: &str, why: String) -> Error {
    Error::file(path, format!("cannot save \"{key}\": {why}"))
}

/// Restores what [`save_training`] wrote: the model's weights and buffers, the optimizer's and
/// scheduler's state, the default generator; returns the saved [`Progress`]. Create the
/// scheduler before loading (as in PyTorch). The file is parsed and checked before anything is
/// changed; errors name the file.
pub fn load_training<B: Backend, M: Module<B> + ?Sized>(
    path: impl AsRef<Path>,
    model: &M,
    optimizer: &mut dyn Optimizer<B>,
    mut scheduler: Option<&mut dyn LrScheduler>,
) -> Result<Progress> {
    let path = path.as_ref();
    let in_file = |e: Error| match e {
        Error::File { .. } => e,
        other => Error::file(path, other.to_string()),
    };
    let backend = model
        .state_dict()
        .first()
        .map(|(_, t)| t.backend().clone())
        .ok_or_else(|| Error::invalid("load_training", "the model has no parameters"))?;
    let (tensors, metadata) = load_safetensors(path, &backend)?;
    let meta = |key: &str| {
        metadata
            .get(key)
            .ok_or_else(|| Error::file(path, format!("not a training checkpoint: no \"{key}\"")))
    };
    if meta("format")? != FORMAT {
        return Err(Error::file(
            path,
            format!(
                "unknown checkpoint format {:?} (expected {FORMAT})",
                meta("format")?
            ),
        ));
    }
    let number = |key: &str| -> Result<u64> {
        meta(key)?
            .parse()
            .map_err(|_| Error::file(path, format!("\"{key}\" is not a number")))
    };
    let (epoch, step) = (number("epoch")?, number("step")?);
    let rng = meta("rng")?
        .split_once(',')
        .and_then(|(s, o)| Some((s.parse::<u64>().ok()?, o.parse::<u64>().ok()?)))
        .ok_or_else(|| Error::file(path, "\"rng\" is not \"seed,offset\""))?;
    let groups = json_to_value(
        &serde_json::from_str(meta("optimizer.param_groups")?)
            .map_err(|e| Error::file(path, format!("optimizer.param_groups: {e}")))?,
    );
    let scheduler_state = match (&scheduler, metadata.get("scheduler")) {
        (Some(_), Some(json)) => Some(json_to_value(
            &serde_json::from_str(json)
                .map_err(|e| Error::file(path, format!("scheduler: {e}")))?,
        )),
        (Some(_), None) => {
            return Err(Error::file(path, "the checkpoint has no scheduler state"));
        }
        (None, _) => None,
    };
    let mut model_state = Vec::new();
    let mut optimizer_tensors = Vec::new();
    for (key, t) in tensors {
        if let Some(k) = key.strip_prefix("model.") {
            model_state.push((k.to_string(), t));
        } else if let Some(k) = key.strip_prefix("optimizer.") {
            optimizer_tensors.push((k.to_string(), t));
        } else {
            return Err(Error::file(path, format!("unexpected tensor \"{key}\"")));
        }
    }
    let optimizer_state =
        OptimizerStateDict::from_parts(optimizer_tensors, &groups).map_err(in_file)?;

    // Each part checks its state before changing anything, and a part that does not fit puts
    // back the parts applied before it (their earlier state dicts), so a checkpoint saved for
    // another optimizer or scheduler changes nothing. The model goes last: its parameters are
    // written in place, the optimizer's and scheduler's state is replaced.
    let optimizer_before = optimizer.state_dict()?;
    optimizer
        .load_state_dict(&optimizer_state)
        .map_err(in_file)?;
    let mut scheduler_before = None;
    if let (Some(s), Some(state)) = (scheduler.as_deref_mut(), &scheduler_state) {
        let before = s.state_dict();
        if let Err(e) = s.load_state_dict(state) {
            optimizer.load_state_dict(&optimizer_before)?;
            return Err(in_file(e));
        }
        scheduler_before = Some(before);
    }
    if let Err(e) = model.load_state_dict(&model_state, true) {
        optimizer.load_state_dict(&optimizer_before)?;
        if let (Some(s), Some(before)) = (scheduler, &scheduler_before) {
            s.load_state_dict(before)?;
        }
        return Err(in_file(e));
    }
    default_generator().set_state(rng);
    let extra = metadata
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("extra.").map(|k| (k.to_string(), v.clone())))
        .collect();
    Ok(Progress { epoch, step, extra })
}

/// [`Value`] as JSON (numbers keep their kind: integers stay integers, floats print with the
/// shortest round-trip form and are parsed back exactly, so they read back bit for bit). JSON
/// has no infinity or NaN: such a float is an error, where writing `null` would give a file
/// that cannot be loaded.
pub fn value_to_json(value: &Value) -> std::result::Result<serde_json::Value, String> {
    use serde_json::Value as J;
    Ok(match value {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(i) => J::from(*i),
        Value::Float(f) => J::Number(
            serde_json::Number::from_f64(*f)
                .ok_or_else(|| format!("the float {f} has no JSON form"))?,
        ),
        Value::Str(s) => J::String(s.clone()),
        Value::List(items) => J::Array(
            items
                .iter()
                .map(value_to_json)
                .collect::<std::result::Result<_, _>>()?,
        ),
        Value::Map(map) => J::Object(
            map.iter()
                .map(|(k, v)| {
                    Ok((
                        k.clone(),
                        value_to_json(v).map_err(|e| format!("{k}: {e}"))?,
                    ))
                })
                .collect::<std::result::Result<_, String>>()?,
        ),
    })
}

/// The inverse of [`value_to_json`].
pub fn json_to_value(json: &serde_json::Value) -> Value {
    use serde_json::Value as J;
    match json {
        J::Null => Value::Null,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        J::String(s) => Value::Str(s.clone()),
        J::Array(items) => Value::List(items.iter().map(json_to_value).collect()),
        J::Object(map) => Value::Map(
            map.iter()
                .map(|(k, v)| (k.clone(), json_to_value(v)))
                .collect(),
        ),
    }
}
