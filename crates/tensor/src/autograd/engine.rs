//! The engine: runs a recorded graph backward, in dependency order, without recursion.
//!
//! As `torch/csrc/autograd/engine.cpp` does:
//! 1. From the roots, walk the graph once (an explicit stack) and count, for every node and
//!    every leaf, how many edges point at it (its in-edges reachable from the roots).
//! 2. Seed the roots' gradient buffers and put every target whose count is zero in a ready
//!    queue.
//! 3. Pop a target. A node: run its tensor hooks on the buffered gradient, capture it if an
//!    `autograd::grad` input wants it, run its backward (saved tensors version-checked, freed
//!    unless `retain_graph`), check for NaN in anomaly mode, then for each edge fit the gradient
//!    to the input (sum over broadcast dims, cast back), add it to the target's buffer and
//!    decrement the target's count, queueing it at zero. A leaf: run its hooks, then capture the
//!    gradient or accumulate it into `.grad` and run its post-accumulate hooks. Since a target is
//!    popped only once all its in-edges delivered, each leaf is accumulated once per backward.
//!
//! With `autograd::grad` (a capture), only the part of the graph that leads to its inputs runs,
//! as PyTorch's `exec_info` limits it: the rest keeps its saved tensors for a later backward,
//! and its hooks do not fire.
//!
//! The engine knows no op: formulas live beside their forward ops. Grad mode during the run is
//! `create_graph`, so a backward with `create_graph` records a differentiable graph of itself.

use super::node::{Edge, InputMeta, Node};
use super::{GradModeGuard, is_anomaly_enabled, lock};
use crate::Tensor;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tiny_torch_core::{Backend, Error, Result};

/// A node or a leaf of the graph.
enum Target<B: Backend> {
    Node(Arc<Node<B>>),
    Leaf(Tensor<B>),
}

impl<B: Backend> Target<B> {
    fn key(&self) -> usize {
        match self {
            Target::Node(n) => Arc::as_ptr(n) as *const () as usize,
            Target::Leaf(t) => Arc::as_ptr(&t.inner) as *const () as usize,
        }
    }

    fn of(tensor: &Tensor<B>) -> Option<Self> {
        match tensor.grad_fn_node() {
            Some(f) => Some(Target::Node(f)),
            None if tensor.requires_grad() => Some(Target::Leaf(tensor.clone())),
            None => None,
        }
    }

    fn of_edge(edge: &Edge<B>) -> Self {
        match edge {
            Edge::Node(n) => Target::Node(n.clone()),
            Edge::Leaf(t) => Target::Leaf(t.clone()),
        }
    }
}

/// Adds `grad` into `slot`.
fn accumulate_into<B: Backend>(slot: &mut Option<Tensor<B>>, grad: Tensor<B>) -> Result<()> {
    *slot = Some(match slot.take() {
        None => grad,
        Some(old) => old.add(&grad)?,
    });
    Ok(())
}

/// Adds `grad` into the gradient buffer of `key`; returns whether the buffer was empty before.
fn accumulate_buffer<B: Backend>(
    buffers: &mut HashMap<usize, Tensor<B>>,
    key: usize,
    grad: Tensor<B>,
) -> Result<bool> {
    let (sum, first) = match buffers.remove(&key) {
        None => (grad, true),
        Some(old) => (old.add(&grad)?, false),
    };
    buffers.insert(key, sum);
    Ok(first)
}

/// Reduces `grad` to the input's shape (summing broadcast dims) and casts it to its dtype.
fn fit<B: Backend>(node: &Node<B>, i: usize, grad: Tensor<B>) -> Result<Tensor<B>> {
    let InputMeta { dims, dtype } = &node.inputs[i];
    let grad = if grad.dims() == dims.as_slice() {
        grad
    } else {
        grad.sum_to_size(dims).map_err(|_| {
            Error::autograd(
                node.name(),
                format!(
                    "the backward of '{}' returned a gradient of shape {} for input {i} of \
                     shape {dims:?}",
                    node.op(),
                    grad.shape()
                ),
            )
        })?
    };
    grad.to_dtype(*dtype)
}

/// Errors when `grad` holds a NaN (anomaly mode), naming the forward op.
fn check_nan<B: Backend>(node: &Node<B>, i: usize, grad: &Tensor<B>) -> Result<()> {
    if !grad.dtype().is_float() {
        return Ok(());
    }
    if grad.to_f64_vec()?.iter().any(|v| v.is_nan()) {
        return Err(Error::autograd(
            node.name(),
            format!(
                "Function '{}' (forward op '{}') returned nan values in its {i}th output \
                 (anomaly mode)",
                node.name(),
                node.op()
            ),
        ));
    }
    Ok(())
}

/// A callback queued by [`queue_callback`]: runs when the outermost backward of its thread ends.
type FinalCallback = Box<dyn FnOnce() -> Result<()>>;

thread_local! {
    /// How many backward runs are in progress on this thread (a hook may run another).
    static DEPTH: Cell<usize> = const { Cell::new(0) };
    static FINAL_CALLBACKS: RefCell<Vec<FinalCallback>> = const { RefCell::new(Vec::new()) };
}

/// `Variable._execution_engine.queue_callback(f)`: `f` runs once the backward in progress on
/// this thread has ended (every hook has run), in the order queued; the first error among them
/// is that backward's (the others still run). Outside a backward it is an error, as PyTorch's
/// "Final callbacks can only be installed during backward pass". (DDP writes the averaged
/// gradients back from here, after every hook of the backward had its say.)
pub fn queue_callback(callback: impl FnOnce() -> Result<()> + 'static) -> Result<()> {
    if DEPTH.with(Cell::get) == 0 {
        return Err(Error::autograd(
            "queue_callback",
            "final callbacks can only be installed during a backward pass (from a hook)",
        ));
    }
    FINAL_CALLBACKS.with(|queue| queue.borrow_mut().push(Box::new(callback)));
    Ok(())
}

/// Runs the graph behind `roots` (each an output and its gradient). With `capture`, returns the
/// gradients of those tensors (`autograd::grad`) and leaves `.grad` alone; without, accumulates
/// into the leaves' `.grad` and returns nothing. The outermost run then runs the callbacks
/// queued during it (dropped if it failed).
pub(crate) fn execute<B: Backend>(
    roots: &[(Tensor<B>, Tensor<B>)],
    capture: Option<&[&Tensor<B>]>,
    retain_graph: bool,
    create_graph: bool,
) -> Result<Vec<Option<Tensor<B>>>> {
    /// One level of [`DEPTH`], also given back if the run panics.
    struct Level;
    impl Drop for Level {
        fn drop(&mut self) {
            DEPTH.with(|d| d.set(d.get() - 1));
        }
    }
    let outermost = DEPTH.with(|d| {
        d.set(d.get() + 1);
        d.get() == 1
    });
    if outermost {
        // Left over by a run that panicked: not this one's.
        FINAL_CALLBACKS.with(|queue| queue.borrow_mut().clear());
    }
    let result = {
        let _level = Level;
        run(roots, capture, retain_graph, create_graph)
    };
    if outermost {
        let callbacks = FINAL_CALLBACKS.with(|queue| std::mem::take(&mut *queue.borrow_mut()));
        if result.is_ok() {
            let mut first_error = None;
            for callback in callbacks {
                if let Err(e) = callback() {
                    first_error.get_or_insert(e);
                }
            }
            if let Some(e) = first_error {
                return Err(e);
            }
        }
    }
    result
}

fn run<B: Backend>(
    roots: &[(Tensor<B>, Tensor<B>)],
    capture: Option<&[&Tensor<B>]>,
    retain_graph: bool,
    create_graph: bool,
) -> Result<Vec<Option<Tensor<B>>>> {
    let _mode = GradModeGuard::set(create_graph);

    // Which targets' gradients `autograd::grad` returns: key -> input positions.
    let mut wanted: HashMap<usize, Vec<usize>> = HashMap::new();
    let inputs = capture.unwrap_or(&[]);
    for (i, t) in inputs.iter().enumerate() {
        let target = Target::of(t).ok_or_else(|| {
            Error::autograd(
                "grad",
                format!(
                    "One of the differentiated Tensors (input {i}, shape {}) does not require \
                     grad",
                    t.shape()
                ),
            )
        })?;
        wanted.entry(target.key()).or_default().push(i);
    }
    let mut results: Vec<Option<Tensor<B>>> = vec![None; inputs.len()];

    // 1. In-edge counts over the targets reachable from the roots (and, for a capture, each
    // target's parents).
    let mut deps: HashMap<usize, usize> = HashMap::new();
    let mut parents: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut seen: HashSet<usize> = HashSet::new();
    let mut stack: Vec<Arc<Node<B>>> = Vec::new();
    let mut root_targets = Vec::with_capacity(roots.len());
    for (i, (output, _)) in roots.iter().enumerate() {
        let target = Target::of(output).ok_or_else(|| {
            Error::autograd(
                "backward",
                format!(
                    "element {i} of tensors does not require grad and does not have a grad_fn \
                     (shape {})",
                    output.shape()
                ),
            )
        })?;
        if let Target::Node(n) = &target
            && seen.insert(target.key())
        {
            stack.push(n.clone());
        }
        root_targets.push(target);
    }
    while let Some(node) = stack.pop() {
        let node_key = Arc::as_ptr(&node) as *const () as usize;
        for edge in node.next.iter().flatten() {
            let target = Target::of_edge(edge);
            *deps.entry(target.key()).or_default() += 1;
            if capture.is_some() {
                parents.entry(target.key()).or_default().push(node_key);
            }
            if let Target::Node(n) = target
                && seen.insert(Arc::as_ptr(&n) as *const () as usize)
            {
                stack.push(n);
            }
        }
    }

    // For a capture, the targets that lead to an input (the inputs included): only they run.
    // Every parent of such a target leads there too, so their in-edge counts come only from
    // targets that run.
    let leads: Option<HashSet<usize>> = capture.map(|_| {
        let mut leads = HashSet::new();
        let mut stack: Vec<usize> = wanted.keys().copied().collect();
        while let Some(key) = stack.pop() {
            if leads.insert(key) {
                stack.extend(parents.get(&key).into_iter().flatten().copied());
            }
        }
        leads
    });
    let runs = |key: usize| leads.as_ref().is_none_or(|leads| leads.contains(&key));

    // 2. Seed the roots.
    let mut buffers: HashMap<usize, Tensor<B>> = HashMap::new();
    let mut ready: Vec<Target<B>> = Vec::new();
    for (target, (_, grad)) in root_targets.into_iter().zip(roots) {
        let key = target.key();
        let first = accumulate_buffer(&mut buffers, key, grad.clone())?;
        if first && deps.get(&key).copied().unwrap_or(0) == 0 && runs(key) {
            ready.push(target);
        }
    }

    // 3. Run.
    while let Some(target) = ready.pop() {
        let key = target.key();
        let grad = buffers.remove(&key);
        match target {
            Target::Leaf(leaf) => {
                if let Some(grad) = grad {
                    deliver_to_leaf(&leaf, grad, wanted.get(&key), &mut results, capture)?;
                }
            }
            Target::Node(node) => {
                let outputs = match grad {
                    Some(mut grad) => {
                        let hooks = lock(&node.pre_hooks).clone();
                        for hook in hooks {
                            if let Some(new) = hook(&grad) {
                                grad = new;
                            }
                        }
                        if let Some(positions) = wanted.get(&key) {
                            for &p in positions {
                                accumulate_into(&mut results[p], grad.clone())?;
                            }
                        }
                        // A captured input with no other input below it: its backward is
                        // not needed (and its saved tensors stay).
                        let below = node
                            .next
                            .iter()
                            .flatten()
                            .any(|edge| runs(Target::of_edge(edge).key()));
                        if !below {
                            continue;
                        }
                        let outputs = node.apply(&grad, retain_graph)?;
                        if is_anomaly_enabled() {
                            for (i, g) in outputs.iter().enumerate() {
                                if let Some(g) = g {
                                    check_nan(&node, i, g)?;
                                }
                            }
                        }
                        outputs
                    }
                    None => vec![None; node.next.len()],
                };
                for (i, (edge, grad)) in node.next.iter().zip(outputs).enumerate() {
                    let Some(edge) = edge else { continue };
                    let target = Target::of_edge(edge);
                    let key = target.key();
                    if let Some(grad) = grad {
                        let grad = fit(&node, i, grad)?;
                        accumulate_buffer(&mut buffers, key, grad)?;
                    }
                    let count = deps.entry(key).or_default();
                    *count = count.saturating_sub(1);
                    if *count == 0 && runs(key) {
                        ready.push(target);
                    }
                }
            }
        }
    }
    Ok(results)
}

/// The end of a gradient's trip at a leaf: hooks, then capture or accumulation into `.grad`,
/// then post-accumulate hooks.
fn deliver_to_leaf<B: Backend>(
    leaf: &Tensor<B>,
    mut grad: Tensor<B>,
    wanted: Option<&Vec<usize>>,
    results: &mut [Option<Tensor<B>>],
    capture: Option<&[&Tensor<B>]>,
) -> Result<()> {
    let meta = &leaf.inner.autograd;
    let hooks = lock(&meta.hooks).clone();
    for hook in hooks {
        if let Some(new) = hook(&grad) {
            grad = new;
        }
    }
    if grad.dims() != leaf.dims() {
        grad = grad.sum_to_size(leaf.dims())?;
    }
    if grad.dtype() != leaf.dtype() {
        grad = grad.to_dtype(leaf.dtype())?;
    }
    if capture.is_some() {
        for &p in wanted.into_iter().flatten() {
            accumulate_into(&mut results[p], grad.clone())?;
        }
        return Ok(());
    }
    {
        let mut slot = lock(&meta.grad);
        let new = match slot.take() {
            // With create_graph: a copy that autograd records (PyTorch's clone_obey_contract),
            // so the graph continues through `.grad` and the tensor flowing here (maybe the
            // caller's grad_output, or another leaf's gradient too) stays the caller's.
            None if super::is_grad_enabled() => grad.copy_to_new(grad.dtype())?,
            // Without it, a dense gradient that nothing else holds becomes `.grad` as it is,
            // as PyTorch's AccumulateGrad steals it: every gradient a backward formula
            // computed for this leaf alone (a weight's), one copy and allocation per parameter
            // and step saved. One held elsewhere or a view (a broadcast) is copied.
            None if grad.is_sole_dense_handle() => grad.detach(),
            None => grad.detach().copy_to_new(grad.dtype())?,
            // Without create_graph, into `.grad` itself, as PyTorch's AccumulateGrad does
            // (`variable_grad += new_grad`): a handle the caller kept on `.grad` sees the sum.
            // (Not into an expanded `.grad`, which one write would reach twice.)
            Some(old) if !super::is_grad_enabled() && old.check_writable("backward").is_ok() => {
                old.add_(&grad)?;
                old
            }
            Some(old) => old.add(&grad)?,
        };
        *slot = Some(new);
    }
    let post = lock(&meta.post_hooks).clone();
    for hook in post {
        hook(leaf)?;
    }
    Ok(())
}
