//! [`ProcessGroup`]: the collectives every rank calls in the same order (PyTorch's
//! `torch.distributed` functions on the default group).
//!
//! Each collective has an asynchronous form that returns a [`Work`] (PyTorch's
//! `async_op=True`) and a blocking form that waits for it. A `Work` that is not done within the
//! group's timeout is an error naming the collective: a rank that died or hangs makes the
//! others fail, never hang. After a timeout the group is broken (the engines below cannot
//! cancel a collective): every later call fails at once and the program should exit.

use std::sync::Arc;
use std::time::Duration;
use tiny_torch_core::{Backend, DType, Error, Result};
use tiny_torch_tensor::Tensor;

/// How [`ProcessGroup::all_reduce`] and [`ProcessGroup::reduce_scatter`] combine the ranks'
/// values (`torch.distributed.ReduceOp`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReduceOp {
    Sum,
    /// The sum divided by the world size (floating-point dtypes only).
    Avg,
    Max,
    Min,
}

impl ReduceOp {
    pub fn name(self) -> &'static str {
        match self {
            ReduceOp::Sum => "sum",
            ReduceOp::Avg => "avg",
            ReduceOp::Max => "max",
            ReduceOp::Min => "min",
        }
    }
}

/// An operation in flight; [`Work::wait`] completes it (writes the results into the tensors it
/// was given) or fails after the group's timeout.
#[must_use = "a collective is complete only after Work::wait"]
pub struct Work {
    op: &'static str,
    complete: Box<dyn FnOnce() -> Result<()> + Send>,
}

impl std::fmt::Debug for Work {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Work({})", self.op)
    }
}

impl Work {
    pub fn new(op: &'static str, complete: impl FnOnce() -> Result<()> + Send + 'static) -> Self {
        Work {
            op,
            complete: Box::new(complete),
        }
    }

    /// A work that is already complete.
    pub fn done(op: &'static str) -> Self {
        Work::new(op, || Ok(()))
    }

    /// The collective's name.
    pub fn op(&self) -> &'static str {
        self.op
    }

    /// Waits until the collective finished and its results are in the tensors.
    pub fn wait(self) -> Result<()> {
        (self.complete)()
    }
}

/// The collectives of one group of ranks on tensors of backend `B`.
///
/// Every rank must call the same collectives in the same order with tensors of the same
/// shape and dtype. In-place collectives write through the tensor's layout (views are fine).
pub trait ProcessGroup<B: Backend>: Send + Sync {
    /// This process's rank, `0..world_size`.
    fn rank(&self) -> usize;
    fn world_size(&self) -> usize;
    /// The engine: `"mpi"` or `"nccl"`.
    fn backend_name(&self) -> &'static str;
    /// How long a collective may take before it is an error.
    fn timeout(&self) -> Duration;

    /// Starts `all_reduce`: every rank's `tensor` becomes the reduction over all ranks.
    fn all_reduce_async(&self, tensor: &Tensor<B>, op: ReduceOp) -> Result<Work>;
    /// Starts `broadcast`: every rank's `tensor` becomes rank `src`'s.
    fn broadcast_async(&self, tensor: &Tensor<B>, src: usize) -> Result<Work>;
    /// Starts `all_gather`: `outputs[r]` becomes rank r's `input` (one output per rank).
    fn all_gather_async(&self, outputs: &[Tensor<B>], input: &Tensor<B>) -> Result<Work>;
    /// Starts `reduce_scatter`: `output` becomes the reduction over ranks of their
    /// `inputs[rank]` (one input per rank, each of `output`'s shape).
    fn reduce_scatter_async(
        &self,
        output: &Tensor<B>,
        inputs: &[Tensor<B>],
        op: ReduceOp,
    ) -> Result<Work>;
    /// Starts a barrier: done when every rank has entered it.
    fn barrier_async(&self) -> Result<Work>;

    fn all_reduce(&self, tensor: &Tensor<B>, op: ReduceOp) -> Result<()> {
        self.all_reduce_async(tensor, op)?.wait()
    }
    fn broadcast(&self, tensor: &Tensor<B>, src: usize) -> Result<()> {
        self.broadcast_async(tensor, src)?.wait()
    }
    fn all_gather(&self, outputs: &[Tensor<B>], input: &Tensor<B>) -> Result<()> {
        self.all_gather_async(outputs, input)?.wait()
    }
    fn reduce_scatter(&self, output: &Tensor<B>, inputs: &[Tensor<B>], op: ReduceOp) -> Result<()> {
        self.reduce_scatter_async(output, inputs, op)?.wait()
    }
    fn barrier(&self) -> Result<()> {
        self.barrier_async()?.wait()
    }
}

/// A shared handle to a process group, as [`crate::init_process_group`] returns it.
pub type Group<B> = Arc<dyn ProcessGroup<B>>;

/// Checks the arguments every engine checks the same way.
#[cfg_attr(not(any(feature = "mpi", feature = "nccl")), allow(dead_code))]
pub(crate) fn check_reduce(
    op_name: &str,
    dtype: DType,
    op: ReduceOp,
    engine: &'static str,
) -> Result<()> {
    if op == ReduceOp::Avg && !dtype.is_float() {
        return Err(Error::unsupported(
            format!(
                "{op_name} with ReduceOp::Avg (integer averages would round; use Sum and divide)"
            ),
            dtype,
            engine,
        ));
    }
    Ok(())
}

#[cfg_attr(not(any(feature = "mpi", feature = "nccl")), allow(dead_code))]
pub(crate) fn check_src(op: &str, src: usize, world_size: usize) -> Result<()> {
    if src >= world_size {
        return Err(Error::distributed(
            op,
            format!("source rank {src} is not below the world size {world_size}"),
        ));
    }
    Ok(())
}

/// Checks that `tensors` has one tensor per rank, each of `like`'s shape and dtype.
#[cfg_attr(not(any(feature = "mpi", feature = "nccl")), allow(dead_code))]
pub(crate) fn check_per_rank<B: Backend>(
    op: &str,
    tensors: &[Tensor<B>],
    like: &Tensor<B>,
    world_size: usize,
) -> Result<()> {
    if tensors.len() != world_size {
        return Err(Error::distributed(
            op,
            format!(
                "expected one tensor per rank ({world_size}), got {}",
                tensors.len()
            ),
        ));
    }
    for (rank, t) in tensors.iter().enumerate() {
        if t.dims() != like.dims() || t.dtype() != like.dtype() {
            return Err(Error::distributed(
                op,
                format!(
                    "tensor {rank} has shape {} and dtype {}, expected shape {} and dtype {}",
                    t.shape(),
                    t.dtype(),
                    like.shape(),
                    like.dtype()
                ),
            ));
        }
    }
    Ok(())
}
