//! The [`Module`] trait: a layer or a container of layers.
//!
//! A module lists its own parameters and buffers ([`Module::local_parameters`],
//! [`Module::local_buffers`]) and its named children ([`Module::children`]); everything
//! recursive (dotted names, `state_dict`, `train()/eval()`, `zero_grad`) is provided on top.
//!
//! Parameters are ordinary [`Tensor`] handles with `requires_grad` set: a module and an
//! optimizer holding "the same parameter" hold clones of one handle, which share storage and
//! `.grad`, so in-place updates by the optimizer are seen by the module.
//!
//! Train/eval mode uses interior mutability (an atomic flag, [`TrainingFlag`]), so `train()`
//! and `eval()` take `&self` like every other method, and a model can be shared while its
//! mode is switched.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use tiny_torch_core::{Backend, Error, Result};
use tiny_torch_tensor::Tensor;
use tiny_torch_tensor::autograd::no_grad;

/// The train/eval flag of one module (true = training, the default, as in PyTorch).
#[derive(Debug)]
pub struct TrainingFlag(AtomicBool);

impl Default for TrainingFlag {
    fn default() -> Self {
        TrainingFlag(AtomicBool::new(true))
    }
}

impl TrainingFlag {
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    pub fn set(&self, training: bool) {
        self.0.store(training, Ordering::Relaxed)
    }
}

/// Which keys of a state dict were not used by a non-strict [`Module::load_state_dict`]
/// (PyTorch's `_IncompatibleKeys`). A strict load that would report any is an error instead.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    pub missing_keys: Vec<String>,
    pub unexpected_keys: Vec<String>,
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// `torch.nn.Module`.
pub trait Module<B: Backend> {
    /// The forward computation (`module(x)`).
    fn forward(&self, x: &Tensor<B>) -> Result<Tensor<B>>;

    /// This module's own parameters (not its children's), in registration order.
    fn local_parameters(&self) -> Vec<(String, Tensor<B>)> {
        Vec::new()
    }

    /// This module's own buffers (not its children's), in registration order.
    fn local_buffers(&self) -> Vec<(String, Tensor<B>)> {
        Vec::new()
    }

    /// The direct children with their attribute names (`"0"`, `"1"`, ... in a Sequential).
    fn children(&self) -> Vec<(String, &dyn Module<B>)> {
        Vec::new()
    }

    /// This module's own train/eval flag; `None` for modules that behave the same in both modes
    /// and keep no flag (they report `is_training() == true`).
    fn training_flag(&self) -> Option<&TrainingFlag> {
        None
    }

    /// Whether this module is in training mode (`module.training`).
    fn is_training(&self) -> bool {
        self.training_flag().is_none_or(TrainingFlag::get)
    }

    /// `module.train(mode)`: sets the mode of this module and all its descendants.
    fn train_mode(&self, training: bool) {
        if let Some(flag) = self.training_flag() {
            flag.set(training);
        }
        for (_, child) in self.children() {
            child.train_mode(training);
        }
    }

    /// `module.train()`.
    fn train(&self) {
        self.train_mode(true)
    }

    /// `module.eval()`.
    fn eval(&self) {
        self.train_mode(false)
    }

    /// All parameters with dotted names (`"0.weight"`, `"layer1.0.conv1.weight"`), this
    /// module's first, then each child's in order, as `named_parameters()` lists them. A
    /// parameter held by two modules (tied weights) is listed once, under its first name, so
    /// that an optimizer steps it once.
    fn named_parameters(&self) -> Vec<(String, Tensor<B>)> {
        let mut out = Vec::new();
        collect(self, "", &mut out, Own::Parameters);
        first_of_each(out)
    }

    /// All buffers with dotted names (`"bn1.running_mean"`), each once as parameters are.
    fn named_buffers(&self) -> Vec<(String, Tensor<B>)> {
        let mut out = Vec::new();
        collect(self, "", &mut out, Own::Buffers);
        first_of_each(out)
    }

    /// The parameters without names, in `named_parameters` order (what an optimizer takes).
    fn parameters(&self) -> Vec<Tensor<B>> {
        self.named_parameters()
            .into_iter()
            .map(|(_, p)| p)
            .collect()
    }

    /// The number of parameter elements (`sum(p.numel() for p in m.parameters())`).
    fn num_parameters(&self) -> usize {
        self.parameters().iter().map(Tensor::numel).sum()
    }

    /// `module.zero_grad()` (set_to_none=True, PyTorch's default): clears every `.grad`.
    fn zero_grad(&self) {
        for p in self.parameters() {
            p.clear_grad();
        }
    }

    /// `module.state_dict()`: parameters and buffers, detached (sharing storage), in PyTorch's
    /// order (each module's own parameters, then its own buffers, then its children).
    fn state_dict(&self) -> Vec<(String, Tensor<B>)> {
        let mut out = Vec::new();
        collect(self, "", &mut out, Own::Both);
        out.into_iter().map(|(k, t)| (k, t.detach())).collect()
    }

    /// `module.load_state_dict(state, strict)`: copies each entry into the parameter or buffer
    /// of that name (converting dtype), under `no_grad`. A key whose shape differs is always an
    /// error; with `strict`, so are missing and unexpected keys (batch norm's
    /// `num_batches_tracked` may be missing: the module keeps its count, as in PyTorch). The
    /// error lists every such key, and nothing is written when it is returned.
    fn load_state_dict(&self, state: &[(String, Tensor<B>)], strict: bool) -> Result<LoadReport> {
        let own = self.state_dict();
        let own_keys: BTreeSet<&str> = own.iter().map(|(k, _)| k.as_str()).collect();
        let given: BTreeMap<&str, &Tensor<B>> =
            state.iter().map(|(k, t)| (k.as_str(), t)).collect();
        let report = LoadReport {
            missing_keys: own
                .iter()
                .filter(|(k, _)| !given.contains_key(k.as_str()) && !fills_itself_in(k))
                .map(|(k, _)| k.clone())
                .collect(),
            unexpected_keys: state
                .iter()
                .filter(|(k, _)| !own_keys.contains(k.as_str()))
                .map(|(k, _)| k.clone())
                .collect(),
        };
        let mut problems = Vec::new();
        for (key, target) in &own {
            if let Some(src) = given.get(key.as_str())
                && src.dims() != target.dims()
            {
                problems.push(format!(
                    "size mismatch for {key}: copying a param with shape {} from checkpoint, the \
                     shape in current model is {}",
                    src.shape(),
                    target.shape()
                ));
            }
        }
        if strict {
            if !report.missing_keys.is_empty() {
                problems.push(format!(
                    "Missing key(s) in state_dict: {}",
                    quoted(&report.missing_keys)
                ));
            }
            if !report.unexpected_keys.is_empty() {
                problems.push(format!(
                    "Unexpected key(s) in state_dict: {}",
                    quoted(&report.unexpected_keys)
                ));
            }
        }
        if !problems.is_empty() {
            return Err(Error::invalid(
                "load_state_dict",
                format!("Error(s) in loading state_dict: {}", problems.join("; ")),
            ));
        }
        let _guard = no_grad();
        for (key, target) in &own {
            if let Some(src) = given.get(key.as_str()) {
                target.copy_(&src.to_device(target.backend())?)?;
            }
        }
        Ok(report)
    }
}

fn quoted(keys: &[String]) -> String {
    keys.iter()
        .map(|k| format!("\"{k}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A key a state dict may lack: batch norm's `num_batches_tracked`, which PyTorch's
/// `_BatchNorm._load_from_state_dict` fills in (keeping the module's count) for dicts saved
/// without it, as many safetensors files are.
fn fills_itself_in(key: &str) -> bool {
    key.rsplit('.').next() == Some("num_batches_tracked")
}

/// `named` without the tensors listed before under another name (PyTorch's
/// `remove_duplicate=True`); `state_dict` keeps every name.
fn first_of_each<B: Backend>(named: Vec<(String, Tensor<B>)>) -> Vec<(String, Tensor<B>)> {
    let mut out: Vec<(String, Tensor<B>)> = Vec::with_capacity(named.len());
    for (name, t) in named {
        if !out.iter().any(|(_, seen)| seen.same_tensor(&t)) {
            out.push((name, t));
        }
    }
    out
}

/// Which of a module's own tensors [`collect`] gathers.
#[derive(Clone, Copy)]
enum Own {
    Parameters,
    Buffers,
    Both,
}

fn collect<B: Backend, M: Module<B> + ?Sized>(
    module: &M,
    prefix: &str,
    out: &mut Vec<(String, Tensor<B>)>,
    which: Own,
) {
    let own = match which {
        Own::Parameters => module.local_parameters(),
        Own::Buffers => module.local_buffers(),
        Own::Both => {
            let mut own = module.local_parameters();
            own.extend(module.local_buffers());
            own
        }
    };
    for (name, t) in own {
        out.push((join(prefix, &name), t));
    }
    for (name, child) in module.children() {
        collect(child, &join(prefix, &name), out, which);
    }
}
