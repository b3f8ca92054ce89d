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
//! `copy`, `conv`), mirroring `ops/*`; each forward op in `ops/*` ends with a call into its
//! family's `record_*` function. Because formulas are tensor ops, a backward run with
//! `create_graph` records its own graph and gradients of gradients work. [`BACKWARD_OPS`] lists
//! every op name that records a node (checked in debug builds when recording), and the gradcheck
//! test fails when one of them has no gradcheck case.
//!
//! # In-place ops and versions
//!
//! All views of one storage share a version counter, bumped by every write. Saved tensors
//! remember the version at save time; a backward that finds another version fails with "a
//! variable needed for gradient computation has been modified by an inplace operation", naming
//! the op. Under `no_grad` (optimizer steps), in-place ops are free.
//!
//! With grad mode on, an in-place op that writes a tensor requiring grad or reads an operand
//! requiring grad is recorded as PyTorch does for non-views (`Tensor::check_inplace` decides,
//! `Tensor::inplace_recorded` runs it): the result is computed out of place with the op's
//! backward (from a clone of the old value when the formula saves its input), written into the
//! storage, and the tensor's `grad_fn` is replaced by the new node (*history rebasing*;
//! `AutogradMeta::grad_fn` is a `Mutex` for this). Still errors: an in-place op on a leaf that
//! requires grad (as in PyTorch), on a view of a tensor in a graph (PyTorch's `CopySlices` is not
//! implemented), or one that would start a graph on a tensor sharing its storage with untracked
//! handles. A differentiable view remembers its storage's *history generation* (bumped by a
//! rebase while other handles share the storage); using a view made stale that way in a later
//! op, as a backward root or as an `autograd::grad` input is an error where PyTorch would
//! regenerate the view's `grad_fn`. `out=` forms are not differentiable (`Tensor::check_out`).
//!
//! # What this module must never do
//!
//! Call a backend directly or know a concrete backend: everything goes through `Tensor` ops.

mod engine;
pub(crate) mod formulas;
mod gradcheck;
mod node;

pub use engine::queue_callback;
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
    /// The node that produced this tensor. Mutable: an in-place op recorded by autograd
    /// replaces it with its own node (history rebasing). Read it through
    /// [`Tensor::grad_fn_node`].
    pub(crate) grad_fn: Mutex<Option<Arc<Node<B>>>>,
    /// Set on a differentiable view (an op output sharing its input's storage) to the storage's
    /// history generation at creation: the view is stale once an in-place op rebased the history
    /// of a tensor of that storage.
    pub(crate) view_history: OnceLock<u64>,
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
    for input in inputs {
        input.check_not_stale("grad")?;
    }
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
            out.check_not_stale("backward")?;
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
    let mut stack: Vec<Arc<Node<B>>> = tensor.grad_fn_node().into_iter().collect();
    while let Some(node) = stack.pop() {
        if !seen.insert(Arc::as_ptr(&node) as *const () as usize) {
            continue;
        }
        ops.insert(node.op());
        stack.extend(node.next_nodes().cloned());
    }
    ops
}

/// The leaves that require grad and that a backward from `outputs` would reach, each once, in
/// the order the graph walk meets them (DDP's `find_unused_parameters` marks the others as
/// unused before backward starts). An output that is itself such a leaf counts.
pub fn reachable_leaves<B: Backend>(outputs: &[&Tensor<B>]) -> Vec<Tensor<B>> {
    let mut leaves = Vec::new();
    let mut seen_leaves = BTreeSet::new();
    let mut seen_nodes = BTreeSet::new();
    let mut push_leaf = |leaf: &Tensor<B>, leaves: &mut Vec<Tensor<B>>| {
        if seen_leaves.insert(Arc::as_ptr(&leaf.inner) as *const () as usize) {
            leaves.push(leaf.clone());
        }
    };
    let mut stack: Vec<Arc<Node<B>>> = Vec::new();
    for out in outputs {
        match out.grad_fn_node() {
            Some(node) => stack.push(node),
            None if out.requires_grad() => push_leaf(out, &mut leaves),
            None => {}
        }
    }
    while let Some(node) = stack.pop() {
        if !seen_nodes.insert(Arc::as_ptr(&node) as *const () as usize) {
            continue;
        }
        for edge in node.next.iter().flatten() {
            match edge {
                node::Edge::Node(next) => stack.push(next.clone()),
                node::Edge::Leaf(leaf) => push_leaf(leaf, &mut leaves),
            }
        }
    }
    leaves
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

    /// `x.grad = grad`: a gradient of this tensor's shape, dtype and device (PyTorch refuses
    /// any other, which an optimizer step would otherwise broadcast or convert); `None`
    /// clears it, as [`clear_grad`](Tensor::clear_grad).
    pub fn set_grad(&self, grad: Option<Tensor<B>>) -> Result<()> {
        if let Some(g) = &grad {
            let mismatch = if g.dims() != self.dims() {
                Some(format!(
                    "a different size ({} for a tensor of {})",
                    g.shape(),
                    self.shape()
                ))
            } else if g.dtype() != self.dtype() {
                Some(format!(
                    "a different type ({} for a tensor of {})",
                    g.dtype(),
                    self.dtype()
                ))
            } else if g.device() != self.device() {
                Some(format!(
                    "a different device ({} for a tensor on {})",
                    g.device(),
                    self.device()
                ))
            } else {
                None
            };
            if let Some(what) = mismatch {
                return Err(Error::invalid(
                    "set_grad",
                    format!("assigned grad has data of {what}"),
                ));
            }
        }
        *lock(&self.inner.autograd.grad) = grad;
        Ok(())
    }

    /// `x.grad = None`, as `zero_grad(set_to_none=True)` does for every parameter.
    pub fn clear_grad(&self) {
        *lock(&self.inner.autograd.grad) = None;
    }

    /// The name of the node that produced this tensor (`"MulBackward0"`), `None` for leaves and
    /// tensors outside any graph.
    pub fn grad_fn(&self) -> Option<String> {
        self.grad_fn_node().map(|f| f.name())
    }

    /// The node that produced this tensor.
    pub fn grad_fn_node(&self) -> Option<Arc<Node<B>>> {
        lock(&self.inner.autograd.grad_fn).clone()
    }

    /// Whether this is a leaf: no `grad_fn` (every tensor that does not require grad is one).
    pub fn is_leaf(&self) -> bool {
        self.grad_fn_node().is_none()
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
        match self.grad_fn_node() {
            Some(node) => lock(&node.pre_hooks).push(Arc::new(hook)),
            None => lock(&self.inner.autograd.hooks).push(Arc::new(hook)),
        }
        Ok(())
    }

    /// `x.register_post_accumulate_grad_hook(f)`: on a leaf, `f(leaf)` runs after each backward
    /// has accumulated into `leaf.grad` (DDP launches a bucket's all-reduce from here). An error
    /// it returns ends the backward with that error, as an exception raised in a PyTorch hook
    /// comes out of `backward()`.
    pub fn register_post_accumulate_grad_hook(
        &self,
        hook: impl Fn(&Tensor<B>) -> Result<()> + Send + Sync + 'static,
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

    /// Whether this is a differentiable view whose storage had its history rebased by a
    /// recorded in-place op after the view was created (see the module documentation).
    pub(crate) fn is_stale_view(&self) -> bool {
        self.inner
            .autograd
            .view_history
            .get()
            .is_some_and(|&h| h != self.history())
    }

    /// The error message for using a stale view in op `op`.
    pub(crate) fn stale_view_message(&self, op: &str) -> String {
        format!(
            "'{op}' uses a view (shape {}) that was created before an in-place operation on its \
             base (or on another view of the same storage) was recorded by autograd: the view's \
             grad_fn still describes the old values, and Tiny-Torch does not regenerate it \
             (PyTorch does); take the view again after the in-place operation",
            self.shape()
        )
    }

    /// Errors when this tensor is a stale view (backward roots, `autograd::grad` inputs).
    pub(crate) fn check_not_stale(&self, op: &'static str) -> Result<()> {
        if self.is_stale_view() {
            return Err(Error::autograd(op, self.stale_view_message(op)));
        }
        Ok(())
    }

    /// Errors when `out=` op `op` writing this tensor (with inputs `others`) would have to be
    /// recorded: as in PyTorch, `out=` forms don't support automatic differentiation.
    pub(crate) fn check_out(&self, op: &'static str, others: &[&Tensor<B>]) -> Result<()> {
        if !is_grad_enabled() {
            return Ok(());
        }
        if self.requires_grad() || others.iter().any(|t| t.requires_grad()) {
            return Err(Error::autograd(
                op,
                format!(
                    "functions with out=... arguments don't support automatic differentiation, \
                     but one of the arguments requires grad (out shape {}, grad_fn {:?}); use \
                     the out-of-place form or the in-place method",
                    self.shape(),
                    self.grad_fn()
                ),
            ));
        }
        Ok(())
    }

    /// Decides how in-place op `op` on this tensor (reading operands `others`) runs: `Ok(false)`
    /// when autograd has nothing to record (grad mode off, or neither this tensor nor an
    /// operand requires grad) and the op may write the storage directly; `Ok(true)` when it must
    /// go through `Tensor::inplace_recorded`. Errors for a leaf that requires grad (as in
    /// PyTorch) and for what is not supported: a stale view, an in-place op on a view that
    /// would have to be recorded (PyTorch's `CopySlices`), and an in-place op that would
    /// start a graph on a tensor whose storage other handles (views, its base) share.
    pub(crate) fn check_inplace(&self, op: &'static str, others: &[&Tensor<B>]) -> Result<bool> {
        if !is_grad_enabled() {
            return Ok(false);
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
        if !self.requires_grad() && !others.iter().any(|t| t.requires_grad()) {
            return Ok(false);
        }
        if self.is_stale_view() {
            return Err(Error::autograd(op, self.stale_view_message(op)));
        }
        if self.storage_is_shared() {
            if self.inner.autograd.view_history.get().is_some() {
                return Err(Error::autograd(
                    op,
                    format!(
                        "in-place operations on a view of a tensor that is part of a graph are \
                         not supported by autograd (PyTorch records them on the base with \
                         CopySlices; Tiny-Torch does not): this view has shape {} and grad_fn \
                         {:?}; use the out-of-place form, or clone() the view first",
                        self.shape(),
                        self.grad_fn()
                    ),
                ));
            }
            if !self.requires_grad() {
                return Err(Error::autograd(
                    op,
                    format!(
                        "this in-place operation reads an operand that requires grad, but the \
                         written tensor (shape {}) shares its storage with other tensors (views \
                         or a base) that autograd does not track, so they would silently miss \
                         the new history; use the out-of-place form, or clone() first",
                        self.shape()
                    ),
                ));
            }
        }
        Ok(true)
    }

    /// Runs in-place op `op` under autograd, as PyTorch does for a tensor that is not a view:
    /// `f(old)` computes the result out of place (recording the op's usual backward), where
    /// `old` is a clone of this tensor taken before the write when `needs_old` (the formula
    /// saves its input, and a saved tensor must keep its version), else this tensor itself.
    /// The result is written into this storage (bumping the version) and this tensor's history
    /// is rebased: its `grad_fn` becomes the result's node (none when the result does not
    /// require grad: `y.copy_(&constant)`). Other handles of the storage (views taken before)
    /// become stale.
    pub(crate) fn inplace_recorded(
        &self,
        op: &'static str,
        needs_old: bool,
        f: impl FnOnce(&Tensor<B>) -> Result<Tensor<B>>,
    ) -> Result<()> {
        let old = if needs_old {
            self.copy_to_new(self.dtype())?
        } else {
            self.clone()
        };
        let mut result = f(&old)?;
        if result.dims() != self.dims() {
            return Err(Error::shape(
                op,
                format!(
                    "output with shape {} doesn't match the result's shape {}",
                    self.shape(),
                    result.shape()
                ),
            ));
        }
        if result.dtype() != self.dtype() {
            result = result.to_dtype(self.dtype())?;
        }
        if result.requires_grad() && result.is_leaf() {
            // An operand returned as is: give the result a node pointing at it.
            result = result.copy_to_new(result.dtype())?;
        }
        {
            let _guard = no_grad();
            self.copy_(&result)?;
        }
        if self.storage_is_shared() {
            self.bump_history();
        }
        let node = result.grad_fn_node();
        self.inner
            .autograd
            .requires_grad
            .store(node.is_some(), Ordering::Relaxed);
        *lock(&self.inner.autograd.grad_fn) = node;
        Ok(())
    }
}
