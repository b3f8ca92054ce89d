//! `nn.ModuleList`: an indexable list of sub-modules, registered under their indices (`0.weight`,
//! `1.bias`, ...) but without a forward of its own: the owner decides how to call them.

use crate::module::{Module, TrainingFlag};
use tiny_torch_core::{Backend, Error, Result};
use tiny_torch_tensor::Tensor;

pub struct ModuleList<B: Backend> {
    modules: Vec<Box<dyn Module<B>>>,
    training: TrainingFlag,
}

impl<B: Backend> Default for ModuleList<B> {
    fn default() -> Self {
        ModuleList {
            modules: Vec::new(),
            training: TrainingFlag::default(),
        }
    }
}

impl<B: Backend> ModuleList<B> {
    pub fn new(modules: Vec<Box<dyn Module<B>>>) -> Self {
        ModuleList {
            modules,
            training: TrainingFlag::default(),
        }
    }

    /// `list.append(m)`.
    pub fn push(&mut self, module: impl Module<B> + 'static) {
        self.modules.push(Box::new(module));
    }

    /// `list.extend(ms)`.
    pub fn extend(&mut self, modules: impl IntoIterator<Item = Box<dyn Module<B>>>) {
        self.modules.extend(modules);
    }

    /// `list.insert(i, m)`; an index past the end is an error.
    pub fn insert(&mut self, index: usize, module: impl Module<B> + 'static) -> Result<()> {
        if index > self.modules.len() {
            return Err(Error::invalid(
                "ModuleList.insert",
                format!(
                    "index {index} is out of range for a list of {}",
                    self.modules.len()
                ),
            ));
        }
        self.modules.insert(index, Box::new(module));
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.modules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.modules.is_empty()
    }

    /// `list[i]`.
    pub fn get(&self, index: usize) -> Option<&dyn Module<B>> {
        self.modules.get(index).map(|m| m.as_ref())
    }

    pub fn iter(&self) -> impl Iterator<Item = &dyn Module<B>> {
        self.modules.iter().map(|m| m.as_ref())
    }
}

impl<B: Backend> Module<B> for ModuleList<B> {
    /// A ModuleList has no forward (as in PyTorch, where calling one raises).
    fn forward(&self, _x: &Tensor<B>) -> Result<Tensor<B>> {
        Err(Error::invalid(
            "ModuleList",
            "a ModuleList has no forward: call its modules (`list.get(i)` / `list.iter()`)",
        ))
    }

    fn children(&self) -> Vec<(String, &dyn Module<B>)> {
        self.modules
            .iter()
            .enumerate()
            .map(|(i, m)| (i.to_string(), m.as_ref()))
            .collect()
    }

    fn training_flag(&self) -> Option<&TrainingFlag> {
        Some(&self.training)
    }
}
