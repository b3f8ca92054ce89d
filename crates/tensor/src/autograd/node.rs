//! Graph nodes: a backward function object, what it saved, and edges to the nodes (or leaves)
//! that produced its inputs.
//!
//! A [`Node`] is created by [`record`] when a differentiable op runs with grad mode on and an
//! input that requires grad. It holds:
//! - `next`: one optional [`Edge`] per input (none when that input does not require grad): to the
//!   input's own `grad_fn`, or to the input itself when it is a leaf (gradients accumulate into
//!   its `.grad`);
//! - the shapes and dtypes of the inputs, so that the engine can reduce a broadcast gradient to
//!   the input's shape (`sum_to_size`) and cast it back;
//! - saved tensors, each with the version of its storage at save time: unpacking checks the
//!   version, so an in-place edit after saving is an error naming the op. They are freed after
//!   the node runs unless `retain_graph`; running it again is then an error;
//! - the backward closure, which maps the output's gradient to one optional gradient per input
//!   using differentiable tensor ops (so that `create_graph` records a graph of the backward).
//!
//! A node recorded with a stale view as input (a view taken before an in-place op rebased its
//! base's history, see `autograd/mod.rs`) carries an error instead of running its backward.
//!
//! Nodes never save their own output (that would be a reference cycle); formulas that need the
//! output (`exp`, `tanh`, `softmax`, ...) recompute it from the saved input.
//!
//! Dropping a long graph must not recurse once per node (a 10,000-op chain would overflow the
//! stack): [`Node`]'s `Drop` unlinks the graph iteratively.

use super::{AutogradMeta, is_grad_enabled, lock};
use crate::Tensor;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use tiny_torch_core::{Backend, DType, Error, Result};

/// A tensor hook: sees the gradient flowing into a tensor and may replace it.
pub(crate) type Hook<B> = Arc<dyn Fn(&Tensor<B>) -> Option<Tensor<B>> + Send + Sync>;
/// A hook run after a leaf's `.grad` was updated; it receives the leaf, and its error ends the
/// backward with that error.
pub(crate) type PostAccumulateHook<B> =
    Arc<dyn Fn(&Tensor<B>) -> tiny_torch_core::Result<()> + Send + Sync>;

/// The backward function of one op: `(saved tensors and which inputs need a gradient, gradient
/// of the output) -> one optional gradient per input`.
pub(crate) type BackwardFn<B> =
    Box<dyn Fn(&Ctx<'_, B>, &Tensor<B>) -> Result<Vec<Option<Tensor<B>>>> + Send + Sync>;

/// What a backward function may read: the saved tensors (version-checked already) and which
/// inputs need a gradient.
pub(crate) struct Ctx<'a, B: Backend> {
    saved: &'a [Tensor<B>],
    needs: &'a [bool],
}

impl<B: Backend> Ctx<'_, B> {
    pub(crate) fn saved(&self, i: usize) -> &Tensor<B> {
        &self.saved[i]
    }

    pub(crate) fn needs(&self, i: usize) -> bool {
        self.needs.get(i).copied().unwrap_or(false)
    }

    /// `Some(f())` when input `i` needs a gradient, else `None` (nothing computed).
    pub(crate) fn grad_if(
        &self,
        i: usize,
        f: impl FnOnce() -> Result<Tensor<B>>,
    ) -> Result<Option<Tensor<B>>> {
        if self.needs(i) {
            f().map(Some)
        } else {
            Ok(None)
        }
    }
}

/// Where the gradient of one input goes.
pub(crate) enum Edge<B: Backend> {
    /// To the input's `grad_fn`.
    Node(Arc<Node<B>>),
    /// To a leaf that requires grad: accumulated into its `.grad`.
    Leaf(Tensor<B>),
}

/// Shape and dtype of an input, to fit the gradient computed for it.
pub(crate) struct InputMeta {
    pub(crate) dims: Vec<usize>,
    pub(crate) dtype: DType,
}

struct SavedTensor<B: Backend> {
    tensor: Tensor<B>,
    version: u64,
}

enum Saved<B: Backend> {
    Tensors(Vec<SavedTensor<B>>),
    /// Released after a backward without `retain_graph`.
    Freed,
}

/// One recorded op: see the module documentation.
pub struct Node<B: Backend> {
    op: &'static str,
    pub(crate) next: Vec<Option<Edge<B>>>,
    pub(crate) inputs: Vec<InputMeta>,
    saved: Mutex<Saved<B>>,
    backward: BackwardFn<B>,
    pub(crate) pre_hooks: Mutex<Vec<Hook<B>>>,
    /// Set when an input was a stale view (see `Tensor::is_stale_view`): running the node is
    /// then this error, so that no wrong gradient flows.
    stale_input: Option<String>,
}

impl<B: Backend> Node<B> {
    /// The forward op this node differentiates (`"mul"`, `"matmul"`, ...).
    pub fn op(&self) -> &'static str {
        self.op
    }

    /// PyTorch's name of the node: `MulBackward0`, `LogSoftmaxBackward0`, ...
    pub fn name(&self) -> String {
        backward_name(self.op)
    }

    /// The nodes this one sends gradients to (leaves excluded).
    pub(crate) fn next_nodes(&self) -> impl Iterator<Item = &Arc<Node<B>>> {
        self.next.iter().flatten().filter_map(|e| match e {
            Edge::Node(n) => Some(n),
            Edge::Leaf(_) => None,
        })
    }

    /// Runs the backward function on `grad`, after checking the saved tensors' versions; frees
    /// them unless `retain_graph`.
    pub(crate) fn apply(
        &self,
        grad: &Tensor<B>,
        retain_graph: bool,
    ) -> Result<Vec<Option<Tensor<B>>>> {
        if let Some(message) = &self.stale_input {
            return Err(Error::autograd(self.name(), message.clone()));
        }
        let saved: Vec<Tensor<B>> = {
            let mut state = lock(&self.saved);
            let tensors = match &*state {
                Saved::Freed => {
                    return Err(Error::autograd(
                        self.name(),
                        format!(
                            "Trying to backward through the graph a second time (or directly \
                             access saved tensors after they have already been freed). Saved \
                             intermediate values of the graph (here those of forward op '{}') \
                             are freed when you call backward() or autograd::grad(). Specify \
                             retain_graph=true if you need to backward through the graph a \
                             second time",
                            self.op
                        ),
                    ));
                }
                Saved::Tensors(tensors) => tensors,
            };
            for (i, s) in tensors.iter().enumerate() {
                let now = s.tensor.version();
                if now != s.version {
                    return Err(Error::autograd(
                        self.name(),
                        format!(
                            "a variable needed for gradient computation has been modified by an \
                             inplace operation: saved tensor {i} of forward op '{}' (shape {}, \
                             dtype {}) is at version {now}; expected version {} instead",
                            self.op,
                            s.tensor.shape(),
                            s.tensor.dtype(),
                            s.version
                        ),
                    ));
                }
            }
            let out = tensors.iter().map(|s| s.tensor.clone()).collect();
            if !retain_graph && !tensors.is_empty() {
                *state = Saved::Freed;
            }
            out
        };
        let needs: Vec<bool> = self.next.iter().map(Option::is_some).collect();
        let grads = (self.backward)(
            &Ctx {
                saved: &saved,
                needs: &needs,
            },
            grad,
        )?;
        if grads.len() != self.next.len() {
            return Err(Error::autograd(
                self.name(),
                format!(
                    "the backward of '{}' returned {} gradients for {} inputs",
                    self.op,
                    grads.len(),
                    self.next.len()
                ),
            ));
        }
        Ok(grads)
    }

    /// Moves this node's edges and saved tensors out (for the iterative drop).
    fn drain_into(&mut self, nodes: &mut Vec<Arc<Node<B>>>, tensors: &mut Vec<Tensor<B>>) {
        for edge in std::mem::take(&mut self.next).into_iter().flatten() {
            match edge {
                Edge::Node(n) => nodes.push(n),
                Edge::Leaf(t) => tensors.push(t),
            }
        }
        let saved = self
            .saved
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Saved::Tensors(list) = std::mem::replace(saved, Saved::Freed) {
            tensors.extend(list.into_iter().map(|s| s.tensor));
        }
    }
}

impl<B: Backend> Drop for Node<B> {
    fn drop(&mut self) {
        let mut nodes = Vec::new();
        let mut tensors = Vec::new();
        self.drain_into(&mut nodes, &mut tensors);
        loop {
            while let Some(t) = tensors.pop() {
                // The last handle of a tensor: take its grad_fn (and grad) before it drops, so
                // that dropping it does not recurse into the graph.
                if let Some(mut inner) = Arc::into_inner(t.inner) {
                    let grad_fn = inner
                        .autograd
                        .grad_fn
                        .get_mut()
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                    if let Some(f) = grad_fn.take() {
                        nodes.push(f);
                    }
                    if let Some(g) = inner.autograd.grad.get_mut().ok().and_then(Option::take) {
                        tensors.push(g);
                    }
                }
            }
            match nodes.pop() {
                Some(node) => {
                    if let Some(mut node) = Arc::into_inner(node) {
                        node.drain_into(&mut nodes, &mut tensors);
                    }
                }
                None => break,
            }
        }
    }
}

/// `log_softmax` -> `LogSoftmaxBackward0`, as PyTorch names its nodes.
pub(crate) fn backward_name(op: &str) -> String {
    let mut name: String = op
        .split('_')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or(String::new(), |c| {
                c.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect();
    name.push_str("Backward0");
    name
}

/// Records op `op` producing `output` from `inputs` when grad mode is on, the output is a float
/// tensor and an input requires grad; otherwise returns `output` unchanged (nothing saved).
/// `saved` are the tensors the backward reads (by index, through [`Ctx::saved`]).
pub(crate) fn record<B: Backend>(
    op: &'static str,
    output: Tensor<B>,
    inputs: &[&Tensor<B>],
    saved: &[&Tensor<B>],
    backward: impl Fn(&Ctx<'_, B>, &Tensor<B>) -> Result<Vec<Option<Tensor<B>>>> + Send + Sync + 'static,
) -> Tensor<B> {
    if !is_grad_enabled() || !output.dtype().is_float() || !inputs.iter().any(|t| t.requires_grad())
    {
        return output;
    }
    debug_assert!(
        super::formulas::BACKWARD_OPS.contains(&op),
        "op '{op}' records a backward but is missing from autograd::BACKWARD_OPS"
    );
    let stale_input = inputs
        .iter()
        .find(|t| t.is_stale_view())
        .map(|t| t.stale_view_message(op));
    let next = inputs
        .iter()
        .map(|t| {
            if !t.requires_grad() {
                None
            } else if let Some(f) = t.grad_fn_node() {
                Some(Edge::Node(f))
            } else {
                Some(Edge::Leaf((*t).clone()))
            }
        })
        .collect();
    let input_meta = inputs
        .iter()
        .map(|t| InputMeta {
            dims: t.dims().to_vec(),
            dtype: t.dtype(),
        })
        .collect();
    let saved = saved
        .iter()
        .map(|t| SavedTensor {
            tensor: (*t).clone(),
            version: t.version(),
        })
        .collect();
    let node = Arc::new(Node {
        op,
        next,
        inputs: input_meta,
        saved: Mutex::new(Saved::Tensors(saved)),
        backward: Box::new(backward),
        pre_hooks: Mutex::new(Vec::new()),
        stale_input,
    });
    // A fresh handle: `output` may be an input returned as is, whose metadata must not change.
    let out = output.with_layout(output.layout().clone());
    out.inner
        .autograd
        .requires_grad
        .store(true, Ordering::Relaxed);
    if inputs.iter().any(|t| t.shares_storage_with(&out)) {
        // A differentiable view: remember the history generation of its storage.
        let _ = out.inner.autograd.view_history.set(out.history());
    }
    *lock(&out.inner.autograd.grad_fn) = Some(node);
    out
}

impl<B: Backend> Default for AutogradMeta<B> {
    fn default() -> Self {
        AutogradMeta {
            requires_grad: Default::default(),
            grad_fn: Mutex::new(None),
            view_history: Default::default(),
            grad: Mutex::new(None),
            hooks: Mutex::new(Vec::new()),
            post_hooks: Mutex::new(Vec::new()),
        }
    }
}
