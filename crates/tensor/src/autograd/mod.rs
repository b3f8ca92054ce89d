//! Automatic differentiation: a dynamic graph recorded as ops run, and an engine that runs it
//! backward.
//!
//! # Model (PyTorch's)
//!
//! Every tensor handle carries `AutogradMeta`: `requires_grad`, `.grad`, an optional `grad_fn`
//! (the [`Node`] that produced it) and hooks. A tensor that requires grad and has no `grad_fn`
//! is a *leaf* (a parameter, an input); gradients accumulate into leaves' `.grad`.
//!
//! When grad mode is on ([`is_grad_enabled`], a thread-local flag switched by the RAII guards
//! [`no_grad`] and [`enable_grad`]) and a differentiable op has an input that requires grad, the
//! op calls `record` (in `autograd/node.rs`): the output gets a fresh `grad_fn` node holding the backward
//! closure, the tensors it needs (saved with their storage version) and one edge per input.
//! Non-differentiable ops (comparisons, `argmax`, integer outputs, random sampling) record
//! nothing: an op records only when its output is floating point.
//!
//! `backward()` / [`grad`] hand the roots to the engine (`autograd/engine.rs`), which counts in-edges and runs
//! nodes from a ready queue (no recursion, so depth is not limited by the stack).
//!
//! # Where formulas live
//!
//! Backward formulas are ordinary differentiable tensor code, one op family per file in
//! `autograd/formulas/` (`elementwise`, `reduce`, `matmul`, `softmax`, `view`, `cat`, `indexing`,
//! `copy`), mirroring `ops/*`; each forward op in `ops/*` ends with a call into its family's
//! `record_*` function. Because formulas are tensor ops, a backward run with `create_graph`
//! records its own graph and gradients of gradients work. [`BACKWARD_OPS`] lists every op name
//! that records a node (checked in debug builds when recording), and the gradcheck test fails
//! when one of them has no gradcheck case.
//!
//! # In-place ops and versions
//!
//! All views of one storage share a version counter, bumped by every write. Saved tensors
//! remember the version at save time; a backward that finds another version fails with "a
//! variable needed for gradient computation has been modified by an inplace operation", naming
//! the op. With grad mode on, an in-place op on a leaf that requires grad is an error (as in
//! PyTorch), and so is, for now, an in-place op on any tensor that is part of a graph (a
//! `grad_fn`, or an operand that requires grad): recording in-place ops (PyTorch's history
//! rebasing and `CopySlices`) is not implemented, and the error says to use the out-of-place
//! form. Under `no_grad` (optimizer steps), in-place ops are free.
//!
//! # What this module must never do
//!
//! Call a backend directly or know a concrete backend: everything goes through `Tensor` ops.

mod engine;
pub(crate) mod formulas;
mod gradcheck;
mod node;

pub use formulas::BACKWARD_OPS;
pub use gradcheck::gradcheck;
pub use node::Node;
pub(crate) use node::{Ctx, record};

use crate::Tensor;
use node::{Hook, PostAccumulateHook};
use std::cell::Cell;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use tiny_torch_core::{Backend, Error, Result};

/// The autograd part of a tensor handle.
pub(crate) struct AutogradMeta<B: Backend> {
    pub(crate) requires_grad: AtomicBool,
    pub(crate) grad_fn: OnceLock<Arc<Node<B>>>,
    pub(crate) grad: Mutex<Option<Tensor<B>>>,
    /// Hooks of a leaf (a non-leaf's hooks live on its `grad_fn`).
    pub(crate) hooks: Mutex<Vec<Hook<B>>>,
    pub(crate) post_hooks: Mutex<Vec<PostAccumulateHook<B>>>,
}

/// Locks a mutex, ignoring poisoning (the data stays usable: hooks and gradients).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

thread_local! {
    static GRAD_ENABLED: Cell<bool> = const { Cell::new(true) };
    static ANOMALY: Cell<bool> = const { Cell::new(false) };
}

/// Whether ops record a graph on this thread (true by default).
pub fn is_grad_enabled() -> bool {
    GRAD_ENABLED.with(Cell::get)
}

/// Turns recording on or off for this thread (prefer the guards [`no_grad`], [`enable_grad`]).
pub fn set_grad_enabled(enabled: bool) {
    GRAD_ENABLED.with(|c| c.set(enabled));
}

/// Restores the previous grad mode when dropped.
#[must_use = "grad mode is restored when the guard is dropped"]
pub struct GradModeGuard {
    previous: bool,
}

impl GradModeGuard {
    /// Sets grad mode to `enabled` until the guard drops.
    pub fn set(enabled: bool) -> Self {
        let previous = is_grad_enabled();
        set_grad_enabled(enabled);
        GradModeGuard { previous }
    }
}

impl Drop for GradModeGuard {
    fn drop(&mut self) {
        set_grad_enabled(self.previous);
    }
}

/// `with torch.no_grad():` — nothing is recorded while the guard lives.
pub fn no_grad() -> GradModeGuard {
    GradModeGuard::set(false)
}

/// `with torch.enable_grad():` — recording is on while the guard lives (inside a `no_grad`).
pub fn enable_grad() -> GradModeGuard {
    GradModeGuard::set(true)
}

/// Anomaly mode for this thread: when on, a NaN produced by a backward function is an error
/// naming the forward op. Costs a device-to-host copy per gradient: for debugging only.
pub fn set_detect_anomaly(enabled: bool) {
    ANOMALY.with(|c| c.set(enabled));
}

pub fn is_anomaly_enabled() -> bool {
    ANOMALY.with(Cell::get)
}

/// `torch.autograd.grad`: the gradients of `outputs` with respect to `inputs`, weighted by
/// `grad_outputs` (ones for scalar outputs when `None`). `.grad` of leaves is left alone. An
/// input the outputs do not depend on gets `None`. With `create_graph`, the returned gradients
/// have a graph of their own (higher-order derivatives); `retain_graph` keeps the saved tensors
/// for another backward.
pub fn grad<B: Backend>(
    outputs: &[&Tensor<B>],
    inputs: &[&Tensor<B>],
    grad_outputs: Option<&[&Tensor<B>]>,
    retain_graph: bool,
    create_graph: bool,
) -> Result<Vec<Option<Tensor<B>>>> {
    let roots = roots(outputs, grad_outputs)?;
    engine::execute(
        &roots,
        Some(inputs),
        retain_graph || create_graph,
        create_graph,
    )
}

/// Pairs outputs with their gradients, checking shapes (implicit ones only for scalars).
fn roots<B: Backend>(
    outputs: &[&Tensor<B>],
    grad_outputs: Option<&[&Tensor<B>]>,
) -> Result<Vec<(Tensor<B>, Tensor<B>)>> {
    if let Some(g) = grad_outputs
        && g.len() != outputs.len()
    {
        return Err(Error::autograd(
            "grad",
            format!(
                "grad_outputs has {} tensors, but there are {} outputs",
                g.len(),
                outputs.len()
            ),
        ));
    }
    outputs
        .iter()
        .enumerate()
        .map(|(i, out)| {
            let grad = match grad_outputs {
                Some(g) => {
                    if g[i].dims() != out.dims() {
                        return Err(Error::autograd(
                            "backward",
                            format!(
                                "Mismatch in shape: grad_output[{i}] has a shape of {} and \
                                 output[{i}] has a shape of {}",
                                g[i].shape(),
                                out.shape()
                            ),
                        ));
                    }
                    g[i].to_dtype(out.dtype())?
                }
                None => {
                    if out.numel() != 1 {
                        return Err(Error::autograd(
                            "backward",
                            format!(
                                "grad can be implicitly created only for scalar outputs (output \
                                 {i} has shape {})",
                                out.shape()
                            ),
                        ));
                    }
                    out.detach().ones_like()?
                }
            };
            Ok(((*out).clone(), grad))
        })
        .collect()
}

/// The names of the forward ops recorded in the graph behind `tensor` (for tests and
/// debugging: which ops a computation differentiates through).
pub fn recorded_ops<B: Backend>(tensor: &Tensor<B>) -> BTreeSet<&'static str> {
    let mut ops = BTreeSet::new();
    let mut seen = BTreeSet::new();
    let mut stack: Vec<Arc<Node<B>>> = tensor
        .inner
        .autograd
        .grad_fn
        .get()
        .cloned()
        .into_iter()
        .collect();
    while let Some(node) = stack.pop() {
        if !seen.insert(Arc::as_ptr(&node) as *const () as usize) {
            continue;
        }
        ops.insert(node.op());
        stack.extend(node.next_nodes().cloned());
    }
    ops
}

impl<B: Backend> Tensor<B> {
    /// Whether gradients flow to this tensor.
    pub fn requires_grad(&self) -> bool {
        self.inner.autograd.requires_grad.load(Ordering::Relaxed)
    }

    /// Sets `requires_grad` of a leaf (floating-point tensors only) and returns the tensor, as
    /// `x.requires_grad_()` does.
    pub fn requires_grad_(&self, requires_grad: bool) -> Result<Self> {
        if requires_grad && !self.dtype().is_float() {
            return Err(Error::autograd(
                "requires_grad_",
                format!(
                    "only Tensors of floating point dtype can require gradients (got dtype {}, \
                     shape {})",
                    self.dtype(),
                    self.shape()
                ),
            ));
        }
        if !self.is_leaf() && !requires_grad {
            return Err(Error::autograd(
                "requires_grad_",
                "you can only change requires_grad flags of leaf variables; use detach() to \
                 get a tensor that does not require grad",
            ));
        }
        self.inner
            .autograd
            .requires_grad
            .store(requires_grad, Ordering::Relaxed);
        Ok(self.clone())
    }

    /// The accumulated gradient of a leaf (`x.grad`), `None` before any backward.
    pub fn grad(&self) -> Option<Tensor<B>> {
        lock(&self.inner.autograd.grad).clone()
    }

    /// Replaces `.grad` (`x.grad = None` to clear it, as `zero_grad(set_to_none=True)`).
    pub fn set_grad(&self, grad: Option<Tensor<B>>) {
        *lock(&self.inner.autograd.grad) = grad;
    }

    /// The name of the node that produced this tensor (`"MulBackward0"`), `None` for leaves and
    /// tensors outside any graph.
    pub fn grad_fn(&self) -> Option<String> {
        self.inner.autograd.grad_fn.get().map(|f| f.name())
    }

    /// The node that produced this tensor.
    pub fn grad_fn_node(&self) -> Option<Arc<Node<B>>> {
        self.inner.autograd.grad_fn.get().cloned()
    }

    /// Whether this is a leaf: no `grad_fn` (every tensor that does not require grad is one).
    pub fn is_leaf(&self) -> bool {
        self.inner.autograd.grad_fn.get().is_none()
    }

    /// The same data (shared storage and version counter) outside any graph.
    pub fn detach(&self) -> Self {
        self.with_layout(self.layout().clone())
    }

    /// `loss.backward()`: gradients of this one-element tensor into the leaves' `.grad`. The
    /// graph is freed afterwards.
    pub fn backward(&self) -> Result<()> {
        self.backward_opts(None, false, false)
    }

    /// `out.backward(grad)`: gradients weighted by `grad` (of this tensor's shape).
    pub fn backward_with(&self, grad: &Tensor<B>) -> Result<()> {
        self.backward_opts(Some(grad), false, false)
    }

    /// `backward(gradient, retain_graph, create_graph)` with every option.
    pub fn backward_opts(
        &self,
        grad: Option<&Tensor<B>>,
        retain_graph: bool,
        create_graph: bool,
    ) -> Result<()> {
        let grads = grad.map(|g| [g]);
        let roots = roots(&[self], grads.as_ref().map(|g| &g[..]))?;
        engine::execute(&roots, None, retain_graph || create_graph, create_graph).map(|_| ())
    }

    /// `x.register_hook(f)`: `f` sees the gradient flowing into this tensor and may return a
    /// replacement. On a leaf it runs before accumulation into `.grad`.
    pub fn register_hook(
        &self,
        hook: impl Fn(&Tensor<B>) -> Option<Tensor<B>> + Send + Sync + 'static,
    ) -> Result<()> {
        if !self.requires_grad() {
            return Err(Error::autograd(
                "register_hook",
                format!(
                    "cannot register a hook on a tensor that doesn't require gradient (shape {})",
                    self.shape()
                ),
            ));
        }
        match self.inner.autograd.grad_fn.get() {
            Some(node) => lock(&node.pre_hooks).push(Arc::new(hook)),
            None => lock(&self.inner.autograd.hooks).push(Arc::new(hook)),
        }
        Ok(())
    }

    /// `x.register_post_accumulate_grad_hook(f)`: on a leaf, `f(leaf)` runs after each backward
    /// has accumulated into `leaf.grad` (DDP launches a bucket's all-reduce from here).
    pub fn register_post_accumulate_grad_hook(
        &self,
        hook: impl Fn(&Tensor<B>) + Send + Sync + 'static,
    ) -> Result<()> {
        if !self.requires_grad() || !self.is_leaf() {
            return Err(Error::autograd(
                "register_post_accumulate_grad_hook",
                "post accumulate grad hooks can only be registered on leaf tensors that require \
                 grad",
            ));
        }
        lock(&self.inner.autograd.post_hooks).push(Arc::new(hook));
        Ok(())
    }

    /// Errors when in-place op `op` on this tensor (with operands `others`) would corrupt the
    /// graph; see the module documentation.
    pub(crate) fn check_inplace(&self, op: &'static str, others: &[&Tensor<B>]) -> Result<()> {
        if !is_grad_enabled() {
            return Ok(());
        }
        if self.requires_grad() && self.is_leaf() {
            return Err(Error::autograd(
                op,
                format!(
                    "a leaf Variable that requires grad is being used in an in-place operation \
                     (shape {}); wrap the update in autograd::no_grad()",
                    self.shape()
                ),
            ));
        }
        if self.requires_grad() || others.iter().any(|t| t.requires_grad()) {
            return Err(Error::autograd(
                op,
                format!(
                    "in-place operations are not recorded by autograd yet, and this one would \
                     write a tensor that is part of a graph (shape {}, grad_fn {:?}) or read an \
                     operand that requires grad; use the out-of-place form",
                    self.shape(),
                    self.grad_fn()
                ),
            ));
        }
        Ok(())
    }
}
