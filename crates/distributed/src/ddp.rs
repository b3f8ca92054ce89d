//! [`DistributedDataParallel`]: data-parallel training where every rank holds a replica of the
//! model, computes gradients on its own slice of the batch, and averages them with the other
//! ranks during backward (PyTorch's `torch.nn.parallel.DistributedDataParallel`).
//!
//! How the gradients travel (PyTorch's `Reducer`):
//! - At construction, rank 0's parameters and buffers are broadcast, so every replica starts
//!   equal. Parameters are split into **buckets** in reverse registration order (roughly the
//!   order backward produces their gradients): a small first bucket (1 MiB) so communication
//!   starts early, then ~25 MiB each. Each bucket owns one flat buffer.
//! - `forward` arms the reducer. During backward, each parameter's post-accumulate-grad hook
//!   marks it ready; when every parameter of a bucket is ready, its gradients are copied into
//!   the flat buffer and its all-reduce (average) starts on the process group's engine, while
//!   backward goes on computing the earlier layers' gradients. Buckets start strictly in order,
//!   so every rank issues the same collectives in the same order.
//! - The hook that completes the last bucket waits for all of them and writes the averaged
//!   gradients back to `.grad`; `backward()` returns with synchronized gradients.
//! - [`DistributedDataParallel::no_sync`] skips all this, so gradients accumulate locally; the
//!   first backward after it averages the accumulated sums.
//! - A parameter that gets no gradient would leave its bucket waiting forever: the next
//!   `forward` is then an error naming it, unless `find_unused_parameters` is set, in which case
//!   the parameters that the output does not depend on are marked ready in `forward`, and a
//!   parameter that no rank used keeps its `.grad` untouched (as in PyTorch).

use crate::process_group::{Group, ReduceOp, Work};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use tiny_torch_core::{Backend, DType, Error, Result};
use tiny_torch_nn::Module;
use tiny_torch_tensor::Tensor;
use tiny_torch_tensor::autograd::{is_grad_enabled, no_grad, queue_callback, reachable_leaves};

/// Options of [`DistributedDataParallel::new`] (PyTorch's keyword arguments and defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct DdpConfig {
    /// Bucket size in MiB (PyTorch's `bucket_cap_mb`, 25).
    pub bucket_cap_mb: f64,
    /// Size of the first bucket in MiB (1): small, so that the first all-reduce starts early.
    pub first_bucket_cap_mb: f64,
    /// Find the parameters the output does not depend on in each forward and treat them as
    /// ready (costs a walk of the autograd graph per iteration).
    pub find_unused_parameters: bool,
    /// Broadcast rank 0's buffers (batch-norm running statistics) at each forward that follows a
    /// synchronized one (and at the first).
    pub broadcast_buffers: bool,
}

impl Default for DdpConfig {
    fn default() -> Self {
        DdpConfig {
            bucket_cap_mb: 25.0,
            first_bucket_cap_mb: 1.0,
            find_unused_parameters: false,
            broadcast_buffers: true,
        }
    }
}

/// One bucket: which parameters, where each one lives in the flat buffer.
#[derive(Clone, Debug)]
struct Bucket {
    params: Vec<usize>,
    offsets: Vec<usize>,
    numel: usize,
    dtype: DType,
}

/// The state of one iteration (one forward and its backward).
struct Iteration<B: Backend> {
    /// Set by a forward that prepares a synchronized backward (grad mode on, outside
    /// `no_sync`); cleared when the gradients are written back, or by a `no_sync` forward.
    expecting_backward: bool,
    ready: Vec<bool>,
    /// Per parameter: did this rank's output depend on it (for `find_unused_parameters`).
    locally_used: Vec<bool>,
    /// Per parameter: did a backward under `no_sync` give it a gradient since the last
    /// synchronized step. It then counts as used, as in PyTorch: its accumulated gradient
    /// must be averaged even if the synchronized step's output does not reach it.
    used_since_sync: Vec<bool>,
    /// Parameters the prepared backward will not reach (`find_unused_parameters`): marked ready
    /// at its first gradient hook, not in `forward`, so that a forward with no backward (an
    /// evaluation pass with grad mode on) leaves nothing half done.
    unreached: Vec<usize>,
    /// Per bucket: parameters not ready yet.
    pending: Vec<usize>,
    next_to_launch: usize,
    in_flight: Vec<(usize, Work)>,
    /// Per bucket: its flat buffer, allocated at first use and reused.
    flats: Vec<Option<Tensor<B>>>,
}

struct Reducer<B: Backend> {
    group: Group<B>,
    names: Vec<String>,
    params: Vec<Tensor<B>>,
    buckets: Vec<Bucket>,
    /// Per parameter: its bucket.
    bucket_of: Vec<usize>,
    find_unused_parameters: bool,
    no_sync: AtomicBool,
    iteration: Mutex<Iteration<B>>,
}

/// A module whose gradients are averaged over the ranks of a process group during backward.
/// Its `state_dict` keys start with `module.`, as PyTorch's DDP's do.
pub struct DistributedDataParallel<B: Backend, M: Module<B>> {
    module: M,
    group: Group<B>,
    reducer: Arc<Reducer<B>>,
    config: DdpConfig,
    /// Whether the next forward broadcasts the buffers: after a forward with grad mode on
    /// outside `no_sync` (and at the first), as PyTorch's `require_forward_param_sync`. An
    /// evaluation pass, or a `no_sync` step, may run a different number of forwards on each
    /// rank, and a broadcast there would meet another rank's next collective.
    sync_buffers: AtomicBool,
}

/// While alive, backward does not synchronize gradients (see
/// [`DistributedDataParallel::no_sync`]).
pub struct NoSyncGuard<'a> {
    flag: &'a AtomicBool,
    previous: bool,
}

impl Drop for NoSyncGuard<'_> {
    fn drop(&mut self) {
        self.flag.store(self.previous, Ordering::Relaxed);
    }
}

impl<B: Backend, M: Module<B>> DistributedDataParallel<B, M> {
    /// Wraps `module`: broadcasts rank 0's parameters and buffers, builds the buckets and
    /// registers the gradient hooks.
    pub fn new(module: M, group: Group<B>, config: DdpConfig) -> Result<Self> {
        // Frozen parameters (requires_grad false) get no gradient to average, as in PyTorch:
        // they are broadcast with the state below but are in no bucket.
        // First, on every rank alike (it runs collectives): the same model everywhere.
        let named_state = module.state_dict();
        // (`state_dict` detaches: whether each requires grad comes from the parameters.)
        let trainable: std::collections::HashSet<String> = module
            .named_parameters()
            .into_iter()
            .filter(|(_, p)| p.requires_grad())
            .map(|(name, _)| name)
            .collect();
        check_same_state_on_every_rank(&group, &named_state, &trainable)?;
        let named = module.named_parameters();
        let (names, params): (Vec<String>, Vec<Tensor<B>>) =
            named.into_iter().filter(|(_, p)| p.requires_grad()).unzip();
        if params.is_empty() {
            return Err(Error::distributed(
                "DistributedDataParallel",
                "the module has no parameters that require grad",
            ));
        }
        let state: Vec<Tensor<B>> = named_state.into_iter().map(|(_, t)| t).collect();
        broadcast_coalesced(&group, &state, 0)?;
        let buckets = assign_buckets(&params, &config);
        let mut bucket_of = vec![0; params.len()];
        for (b, bucket) in buckets.iter().enumerate() {
            for &p in &bucket.params {
                bucket_of[p] = b;
            }
        }
        let iteration = Iteration {
            expecting_backward: false,
            ready: vec![false; params.len()],
            locally_used: vec![false; params.len()],
            used_since_sync: vec![false; params.len()],
            unreached: Vec::new(),
            pending: buckets.iter().map(|b| b.params.len()).collect(),
            next_to_launch: 0,
            in_flight: Vec::new(),
            flats: vec![None; buckets.len()],
        };
        let reducer = Arc::new(Reducer {
            group: group.clone(),
            names,
            params,
            buckets,
            bucket_of,
            find_unused_parameters: config.find_unused_parameters,
            no_sync: AtomicBool::new(false),
            iteration: Mutex::new(iteration),
        });
        for (index, param) in reducer.params.iter().enumerate() {
            // Weak: the parameters outlive the wrapper; the hook then does nothing.
            let weak: Weak<Reducer<B>> = Arc::downgrade(&reducer);
            param.register_post_accumulate_grad_hook(move |_| match weak.upgrade() {
                Some(reducer) => Reducer::on_grad_ready(&reducer, index),
                None => Ok(()),
            })?;
        }
        Ok(DistributedDataParallel {
            module,
            group,
            reducer,
            config,
            sync_buffers: AtomicBool::new(true),
        })
    }

    /// The wrapped module (`ddp.module`).
    pub fn module(&self) -> &M {
        &self.module
    }

    /// The wrapped module, unwrapped.
    pub fn into_inner(self) -> M {
        self.module
    }

    pub fn group(&self) -> &Group<B> {
        &self.group
    }

    pub fn config(&self) -> &DdpConfig {
        &self.config
    }

    /// The parameter names of each bucket, in launch order.
    pub fn bucket_names(&self) -> Vec<Vec<String>> {
        self.reducer
            .buckets
            .iter()
            .map(|b| {
                b.params
                    .iter()
                    .map(|&p| self.reducer.names[p].clone())
                    .collect()
            })
            .collect()
    }

    /// Gradient accumulation: while the guard lives, backward only accumulates into `.grad`;
    /// the first backward after it averages the accumulated gradients.
    pub fn no_sync(&self) -> NoSyncGuard<'_> {
        let previous = self.reducer.no_sync.swap(true, Ordering::Relaxed);
        NoSyncGuard {
            flag: &self.reducer.no_sync,
            previous,
        }
    }

    /// Runs the module and arms the gradient synchronization of the coming backward.
    pub fn forward(&self, x: &Tensor<B>) -> Result<Tensor<B>> {
        self.reducer.check_previous_iteration()?;
        if self.config.broadcast_buffers
            && self.group.world_size() > 1
            && self.sync_buffers.load(Ordering::Relaxed)
        {
            let buffers: Vec<Tensor<B>> = self
                .module
                .named_buffers()
                .into_iter()
                .map(|(_, t)| t)
                .collect();
            broadcast_coalesced(&self.group, &buffers, 0)?;
        }
        let out = self.module.forward(x)?;
        let no_sync = self.reducer.no_sync.load(Ordering::Relaxed);
        let synced = is_grad_enabled() && !no_sync;
        self.sync_buffers.store(synced, Ordering::Relaxed);
        if synced {
            self.reducer.prepare_for_backward(&out);
        } else if is_grad_enabled() {
            // A `no_sync` forward: its backward accumulates locally. (A forward without grad
            // has no backward, and leaves a prepared one prepared: targets computed between a
            // training forward and its backward.)
            self.reducer.lock().expecting_backward = false;
        }
        Ok(out)
    }
}

impl<B: Backend, M: Module<B>> Module<B> for DistributedDataParallel<B, M> {
    fn forward(&self, x: &Tensor<B>) -> Result<Tensor<B>> {
        DistributedDataParallel::forward(self, x)
    }

    fn children(&self) -> Vec<(String, &dyn Module<B>)> {
        vec![("module".to_string(), &self.module as &dyn Module<B>)]
    }

    fn is_training(&self) -> bool {
        self.module.is_training()
    }
}

/// PyTorch's `_verify_param_shape_across_processes`: every rank's module has the same
/// parameters and buffers (count, then each one's shape, dtype and `requires_grad`, in order),
/// or each rank gets the same error naming the first that differs. Without it, rank 0's broadcast would fill
/// other ranks' tensors misaligned, or issue a different number of collectives.
fn check_same_state_on_every_rank<B: Backend>(
    group: &Group<B>,
    state: &[(String, Tensor<B>)],
    trainable: &std::collections::HashSet<String>,
) -> Result<()> {
    let Some((_, first)) = state.first() else {
        return Ok(());
    };
    if group.world_size() == 1 {
        return Ok(());
    }
    let _no_grad = no_grad();
    let backend = first.backend();
    // The least and the greatest of `values` over the ranks, element by element.
    let bounds = |values: Vec<i64>| -> Result<(Vec<i64>, Vec<i64>)> {
        let n = values.len();
        let low = Tensor::from_vec(values.clone(), &[n], backend)?;
        let high = Tensor::from_vec(values, &[n], backend)?;
        group.all_reduce(&low, ReduceOp::Min)?;
        group.all_reduce(&high, ReduceOp::Max)?;
        Ok((low.to_vec::<i64>()?, high.to_vec::<i64>()?))
    };
    let mismatch = |what: String| {
        Error::distributed(
            "DistributedDataParallel",
            format!(
                "the module's parameters and buffers differ across ranks: {what}. Every rank \
                 must build the same model"
            ),
        )
    };
    let (low, high) = bounds(vec![state.len() as i64])?;
    if low != high {
        return Err(mismatch(format!(
            "rank {} has {} of them, the ranks between {} and {}",
            group.rank(),
            state.len(),
            low[0],
            high[0]
        )));
    }
    let dtype_code = |d: DType| DType::ALL.iter().position(|&x| x == d).unwrap_or(0) as i64;
    // The dims as one number (FNV-1a over them, 63 bits): equal shapes, equal numbers.
    let shape_code = |dims: &[usize]| {
        let hash = dims.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &d| {
            (h ^ d as u64).wrapping_mul(0x0100_0000_01b3)
        });
        (hash >> 1) as i64
    };
    const FIELDS: usize = 4;
    let signature: Vec<i64> = state
        .iter()
        .flat_map(|(name, t)| {
            [
                t.numel() as i64,
                shape_code(t.dims()),
                dtype_code(t.dtype()),
                i64::from(trainable.contains(name)),
            ]
        })
        .collect();
    let (low, high) = bounds(signature)?;
    if let Some(k) = (0..low.len()).find(|&k| low[k] != high[k]) {
        let (name, t) = &state[k / FIELDS];
        return Err(mismatch(format!(
            "'{name}' is {} {}{} on rank {}, and its shape, dtype or requires_grad differs on \
             another rank",
            t.shape(),
            t.dtype().torch_name(),
            if trainable.contains(name) {
                " requiring grad"
            } else {
                ""
            },
            group.rank()
        )));
    }
    Ok(())
}

/// Broadcasts `tensors` from rank `src` with one collective per dtype (PyTorch's
/// `_broadcast_coalesced`): a model's many small buffers would otherwise cost one round trip each.
fn broadcast_coalesced<B: Backend>(
    group: &Group<B>,
    tensors: &[Tensor<B>],
    src: usize,
) -> Result<()> {
    if group.world_size() == 1 {
        return Ok(());
    }
    let _no_grad = no_grad();
    let mut dtypes: Vec<DType> = tensors.iter().map(|t| t.dtype()).collect();
    dtypes.dedup();
    dtypes.sort_by_key(|d| d.torch_name());
    dtypes.dedup();
    for dtype in dtypes {
        let members: Vec<&Tensor<B>> = tensors.iter().filter(|t| t.dtype() == dtype).collect();
        let flat: Vec<Tensor<B>> = members
            .iter()
            .map(|t| t.reshape(&[-1]))
            .collect::<Result<_>>()?;
        let coalesced = Tensor::cat(&flat.iter().collect::<Vec<_>>(), 0)?;
        group.broadcast(&coalesced, src)?;
        let mut offset = 0;
        for t in members {
            let dims: Vec<isize> = t.dims().iter().map(|&d| d as isize).collect();
            t.copy_(&coalesced.narrow(0, offset, t.numel())?.view(&dims)?)?;
            offset += t.numel();
        }
    }
    Ok(())
}

/// PyTorch's `compute_bucket_assignment_by_size`: reverse parameter order, one open bucket per
/// dtype, closed once it holds at least the cap (the first cap being the small one).
fn assign_buckets<B: Backend>(params: &[Tensor<B>], config: &DdpConfig) -> Vec<Bucket> {
    const MIB: f64 = 1024.0 * 1024.0;
    let mut closed = Vec::new();
    let mut open: Vec<Bucket> = Vec::new();
    let cap = |closed: &Vec<Bucket>| {
        let mb = if closed.is_empty() {
            config.first_bucket_cap_mb
        } else {
            config.bucket_cap_mb
        };
        (mb * MIB) as usize
    };
    for index in (0..params.len()).rev() {
        let param = &params[index];
        let dtype = param.dtype();
        let position = match open.iter().position(|b| b.dtype == dtype) {
            Some(position) => position,
            None => {
                open.push(Bucket {
                    params: Vec::new(),
                    offsets: Vec::new(),
                    numel: 0,
                    dtype,
                });
                open.len() - 1
            }
        };
        let bucket = &mut open[position];
        bucket.params.push(index);
        bucket.offsets.push(bucket.numel);
        bucket.numel += param.numel();
        if bucket.numel * dtype.size_in_bytes() >= cap(&closed) {
            closed.push(open.remove(position));
        }
    }
    closed.extend(open);
    closed
}

impl<B: Backend> Reducer<B> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Iteration<B>> {
        self.iteration.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn rank(&self) -> usize {
        self.group.rank()
    }

    /// The error for an iteration whose backward never completed the reduction.
    fn check_previous_iteration(&self) -> Result<()> {
        let mut it = self.lock();
        if it.expecting_backward && it.next_to_launch == self.buckets.len() {
            // Every bucket was sent, but the backward failed before its end (another hook,
            // anomaly mode), so the write-back never ran. Reported once; the next forward
            // starts afresh.
            let error = Error::distributed(
                "DistributedDataParallel::forward",
                format!(
                    "the previous backward failed after its gradients were sent for averaging \
                     (rank {}): that step's gradients were not written back; drop the step",
                    self.rank()
                ),
            );
            return Err(self.fail(&mut it, error));
        }
        if it.expecting_backward && it.ready.iter().any(|&r| r) {
            let missing: Vec<&str> = (0..self.params.len())
                .filter(|&p| !it.ready[p])
                .map(|p| self.names[p].as_str())
                .collect();
            return Err(Error::distributed(
                "DistributedDataParallel::forward",
                format!(
                    "expected to have finished reduction in the prior iteration before starting a \
                     new one: the module has parameters that were not used in producing the loss. \
                     Pass find_unused_parameters: true in DdpConfig, or make sure every forward \
                     output takes part in the loss. Parameters that did not receive a gradient on \
                     rank {}: {}",
                    self.rank(),
                    missing.join(", ")
                ),
            ));
        }
        Ok(())
    }

    fn prepare_for_backward(&self, output: &Tensor<B>) {
        let unreached: Vec<usize> = if self.find_unused_parameters {
            let reachable = reachable_leaves(&[output]);
            (0..self.params.len())
                .filter(|&p| {
                    !reachable
                        .iter()
                        .any(|leaf| leaf.same_tensor(&self.params[p]))
                })
                .collect()
        } else {
            Vec::new()
        };
        let mut it = self.lock();
        it.expecting_backward = true;
        it.ready.iter_mut().for_each(|r| *r = false);
        it.locally_used.iter_mut().for_each(|u| *u = true);
        for (pending, bucket) in it.pending.iter_mut().zip(&self.buckets) {
            *pending = bucket.params.len();
        }
        it.next_to_launch = 0;
        it.in_flight.clear();
        for &p in &unreached {
            it.locally_used[p] = it.used_since_sync[p];
        }
        it.unreached = unreached;
    }

    /// The post-accumulate-grad hook of parameter `index`; its error ends the backward.
    fn on_grad_ready(self: &Arc<Self>, index: usize) -> Result<()> {
        let mut it = self.lock();
        // A backward that does not synchronize (under `no_sync`, of a forward that did not
        // prepare one, or after the synchronized backward has ended, as PyTorch's reducer
        // ignores hooks then): the gradient is accumulated, and the parameter counts as used at
        // the next synchronized step (its gradient must be averaged even if that step's output
        // does not reach it).
        if self.no_sync.load(Ordering::Relaxed) || !it.expecting_backward {
            it.used_since_sync[index] = true;
            return Ok(());
        }
        if it.ready[index] || it.unreached.contains(&index) {
            // Marked ready (or about to be) without this gradient: with
            // find_unused_parameters, as unreached by the output, and now reached after all (a
            // second output, a loss term computed outside the forward). Averaging would go on
            // without it, so ranks would diverge. (The write-back waits for the end of the
            // backward, so a late gradient is always seen here.)
            let error = Error::distributed(
                "DistributedDataParallel",
                format!(
                    "expected to mark a variable ready only once: parameter '{}' received a \
                     gradient that the output of the last forward did not lead to (on rank {}): \
                     it was used outside that output (another forward's output, or a loss term \
                     computed outside the module); compute the loss from the last forward's \
                     output only",
                    self.names[index],
                    self.rank()
                ),
            );
            return Err(self.fail(&mut it, error));
        }
        // The first gradient of this backward: the parameters it will not reach are ready (a
        // failure ends the backward through `?`).
        for p in std::mem::take(&mut it.unreached) {
            self.mark_ready(&mut it, p)?;
        }
        self.mark_ready(&mut it, index)
    }

    fn mark_ready(self: &Arc<Self>, it: &mut Iteration<B>, index: usize) -> Result<()> {
        it.ready[index] = true;
        let bucket = self.bucket_of[index];
        it.pending[bucket] -= 1;
        // Launch, in order, every bucket that is complete.
        while it.next_to_launch < self.buckets.len() && it.pending[it.next_to_launch] == 0 {
            let b = it.next_to_launch;
            it.next_to_launch += 1;
            self.launch(it, b).map_err(|e| self.fail(it, e))?;
        }
        if it.next_to_launch == self.buckets.len() {
            // When the backward ends (PyTorch's queued final callback): a hook that comes later
            // in this backward still finds the iteration open, and errors as above.
            let reducer = Arc::clone(self);
            queue_callback(move || {
                let mut it = reducer.lock();
                if !it.expecting_backward {
                    return Ok(());
                }
                reducer
                    .finish(&mut it)
                    .map_err(|e| reducer.fail(&mut it, e))
            })?;
        }
        Ok(())
    }

    /// Abandons the iteration after `error` (returned by backward, as PyTorch raises it there).
    fn fail(&self, it: &mut Iteration<B>, error: Error) -> Error {
        it.expecting_backward = false;
        // A collective dropped unfinished may still write its flat buffer: the next iteration
        // gets a fresh one.
        for (b, _) in it.in_flight.drain(..) {
            it.flats[b] = None;
        }
        error
    }

    /// Copies bucket `b`'s gradients into its flat buffer and starts the all-reduce.
    fn launch(&self, it: &mut Iteration<B>, b: usize) -> Result<()> {
        let _no_grad = no_grad();
        let bucket = &self.buckets[b];
        let first = &self.params[bucket.params[0]];
        let flat = match &it.flats[b] {
            Some(flat) => flat.clone(),
            None => {
                let flat = Tensor::zeros(&[bucket.numel], bucket.dtype, first.backend())?;
                it.flats[b] = Some(flat.clone());
                flat
            }
        };
        for (&p, &offset) in bucket.params.iter().zip(&bucket.offsets) {
            let param = &self.params[p];
            let slot = flat.narrow(0, offset, param.numel())?;
            // Any existing gradient, also of a parameter this rank's output did not reach (one
            // accumulated earlier, as PyTorch copies it); zeros where there is none.
            match param.grad() {
                Some(grad) => slot.copy_(&grad.reshape(&[-1])?)?,
                _ => slot.copy_(&Tensor::zeros(
                    &[param.numel()],
                    bucket.dtype,
                    param.backend(),
                )?)?,
            }
        }
        let work = self.group.all_reduce_async(&flat, ReduceOp::Avg)?;
        it.in_flight.push((b, work));
        Ok(())
    }

    /// Waits for every bucket and writes the averaged gradients back to `.grad`.
    fn finish(&self, it: &mut Iteration<B>) -> Result<()> {
        let _no_grad = no_grad();
        for (_, work) in it.in_flight.drain(..) {
            work.wait()?;
        }
        let globally_used = if self.find_unused_parameters {
            let flags: Vec<i32> = it.locally_used.iter().map(|&u| i32::from(u)).collect();
            let backend = self.params[0].backend();
            let used = Tensor::from_vec(flags, &[self.params.len()], backend)?;
            self.group.all_reduce(&used, ReduceOp::Max)?;
            used.to_vec::<i32>()?.into_iter().map(|u| u != 0).collect()
        } else {
            vec![true; self.params.len()]
        };
        for (b, bucket) in self.buckets.iter().enumerate() {
            let flat = it.flats[b]
                .as_ref()
                .expect("a launched bucket has its buffer");
            for (&p, &offset) in bucket.params.iter().zip(&bucket.offsets) {
                if !globally_used[p] {
                    continue;
                }
                let param = &self.params[p];
                let dims: Vec<isize> = param.dims().iter().map(|&d| d as isize).collect();
                // A fresh tensor: the flat buffer is overwritten by the next iteration, and the
                // old `.grad` may share storage with other gradients of the graph.
                let averaged = flat
                    .narrow(0, offset, param.numel())?
                    .view(&dims)?
                    .deep_clone()?;
                param.set_grad(Some(averaged))?;
            }
        }
        it.expecting_backward = false;
        it.used_since_sync.iter_mut().for_each(|u| *u = false);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tiny_torch_cpu::Cpu;

    fn params(sizes: &[usize]) -> Vec<Tensor<Cpu>> {
        sizes
            .iter()
            .map(|&n| Tensor::zeros(&[n], DType::F32, &Cpu).unwrap())
            .collect()
    }

    #[test]
    fn buckets_go_in_reverse_order_with_a_small_first_bucket() {
        // 4-byte elements: 1 MiB = 262144 elements.
        let ps = params(&[100, 200_000, 100_000, 300, 7_000_000]);
        let buckets = assign_buckets(&ps, &DdpConfig::default());
        let lists: Vec<Vec<usize>> = buckets.iter().map(|b| b.params.clone()).collect();
        // The last parameter (28 MB) fills the first bucket alone; then 300 + 100000 + 200000
        // elements (1.2 MB) stay under 25 MiB together with the first parameter.
        assert_eq!(lists, vec![vec![4], vec![3, 2, 1, 0]]);
        assert_eq!(buckets[1].offsets, vec![0, 300, 100_300, 300_300]);
        assert_eq!(buckets[1].numel, 300_400);
    }

    #[test]
    fn buckets_close_at_the_cap_and_split_by_dtype() {
        let mut ps = params(&[262_144, 10, 262_144, 262_144]);
        ps.insert(2, Tensor::zeros(&[5], DType::F64, &Cpu).unwrap());
        let config = DdpConfig {
            bucket_cap_mb: 1.0,
            ..DdpConfig::default()
        };
        let lists: Vec<Vec<usize>> = assign_buckets(&ps, &config)
            .iter()
            .map(|b| b.params.clone())
            .collect();
        // Reverse order: 4 (1 MiB, closes), 3 (1 MiB, closes), f64 #2 opens its own bucket,
        // 1 and 0 (closes at 1 MiB + 40 bytes), then the open f64 bucket.
        assert_eq!(lists, vec![vec![4], vec![3], vec![1, 0], vec![2]]);
    }
}
