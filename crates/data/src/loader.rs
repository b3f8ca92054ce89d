//! [`DataLoader`] (map-style datasets) and [`IterableDataLoader`] (stream-style ones).
//!
//! **Order.** The batches of an epoch are fixed before any sample is loaded: the sampler gives
//! the indices of epoch `e` (a pure function of `(seed, e)`), cut into batches. With
//! `num_workers = W > 0`, batch `k` is loaded by worker `k % W` (as in PyTorch) and the loader
//! yields batch `k` from worker `k % W`'s queue, so batches come out in order, whatever `W`.
//! Each sample draws its randomness from `SampleRng::for_sample(seed, e, index)` (a second copy
//! of an index in one epoch, from a sampler with replacement, from `SampleRng::for_copy`), so
//! its transforms do not depend on `W` either: 0, 1 or 8 workers give identical batches.
//!
//! **Prefetch.** Each worker has a bounded queue: at most `prefetch_factor` loaded batches per
//! worker wait to be consumed (a worker that is that far ahead blocks).
//!
//! **Errors.** An error from the dataset or the collate function becomes that batch's item
//! (`Err`); the following batches still come. A panic in a worker becomes an `Err` as well.
//!
//! **Shutdown.** Dropping the iterator (e.g. `break` out of the loop) closes the queues, which
//! stops the workers at their next batch, and joins them.

use crate::collate::Collate;
use crate::dataset::{Dataset, IterableDataset, WorkerInfo};
use crate::rng::{SampleRng, worker_seed};
use crate::sampler::{BatchSampler, RandomSampler, Sampler, SequentialSampler};
use std::any::Any;
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;
use tiny_torch_core::{Error, Result};

/// The most batches one worker may have loaded ahead (`prefetch_factor`).
const MAX_PREFETCH_FACTOR: usize = 1 << 16;

/// The options shared by both loaders.
#[derive(Clone, Debug)]
struct Options {
    batch_size: usize,
    drop_last: bool,
    num_workers: usize,
    prefetch_factor: usize,
    /// Set by `.seed(s)`; else drawn when the loader is built ([`Options::seed_or_draw`]).
    seed: Option<u64>,
}

impl Options {
    fn new() -> Self {
        Options {
            batch_size: 1,
            drop_last: false,
            num_workers: 0,
            prefetch_factor: 2,
            seed: None,
        }
    }

    /// The seed set, or one drawn from the default generator (one draw, made when the loader
    /// is built: `manual_seed(s)` before building loaders fixes them all, and two loaders get
    /// different shuffles and transforms). PyTorch draws from it at each `iter()` instead;
    /// here the seed is fixed once and the epoch number varies the streams.
    fn seed_or_draw(&self) -> u64 {
        self.seed
            .unwrap_or_else(|| tiny_torch_tensor::default_generator().draw_seed())
    }

    fn check(&self, op: &'static str) -> Result<()> {
        if self.batch_size == 0 {
            return Err(Error::invalid(
                op,
                "batch_size should be a positive integer value, but got batch_size=0",
            ));
        }
        if self.prefetch_factor == 0 {
            return Err(Error::invalid(
                op,
                "prefetch_factor should be a positive integer value, but got 0",
            ));
        }
        // A worker's queue is allocated whole when the epoch starts.
        if self.prefetch_factor > MAX_PREFETCH_FACTOR {
            return Err(Error::invalid(
                op,
                format!(
                    "prefetch_factor should be at most {MAX_PREFETCH_FACTOR} (batches waiting \
                     per worker), but got {}",
                    self.prefetch_factor
                ),
            ));
        }
        Ok(())
    }
}

/// Options of a [`DataLoader`]; `build` checks them.
pub struct DataLoaderBuilder<D> {
    dataset: D,
    options: Options,
    shuffle: bool,
    sampler: Option<Box<dyn Sampler>>,
}

impl<D: Dataset + 'static> DataLoaderBuilder<D> {
    /// Samples per batch (default 1).
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.options.batch_size = batch_size;
        self
    }

    /// A new permutation each epoch (a [`RandomSampler`] seeded with the loader's seed).
    pub fn shuffle(mut self, shuffle: bool) -> Self {
        self.shuffle = shuffle;
        self
    }

    /// The base seed of the shuffle and of every sample's random stream (default: a seed drawn
    /// from the default generator by `build`, so `manual_seed(s)` before it fixes the loader,
    /// and two loaders differ).
    pub fn seed(mut self, seed: u64) -> Self {
        self.options.seed = Some(seed);
        self
    }

    /// Drop the last batch of an epoch when it is short.
    pub fn drop_last(mut self, drop_last: bool) -> Self {
        self.options.drop_last = drop_last;
        self
    }

    /// Worker threads (0: load in the calling thread, lazily).
    pub fn num_workers(mut self, num_workers: usize) -> Self {
        self.options.num_workers = num_workers;
        self
    }

    /// Batches each worker may load ahead (default 2).
    pub fn prefetch_factor(mut self, prefetch_factor: usize) -> Self {
        self.options.prefetch_factor = prefetch_factor;
        self
    }

    /// A custom sampler (`sampler=`): replaces `shuffle`, which must then be false.
    pub fn sampler(mut self, sampler: impl Sampler + 'static) -> Self {
        self.sampler = Some(Box::new(sampler));
        self
    }

    /// The loader, with `collate` to make batches (e.g. `DefaultCollate::new(Cpu)`).
    pub fn build<C: Collate<D::Item> + 'static>(self, collate: C) -> Result<DataLoader<D, C>> {
        self.options.check("DataLoader")?;
        let seed = self.options.seed_or_draw();
        let n = self.dataset.len();
        let sampler: Box<dyn Sampler> = match (self.sampler, self.shuffle) {
            (Some(_), true) => {
                return Err(Error::invalid(
                    "DataLoader",
                    "sampler option is mutually exclusive with shuffle",
                ));
            }
            (Some(s), false) => s,
            (None, true) => Box::new(RandomSampler::new(n, seed)),
            (None, false) => Box::new(SequentialSampler::new(n)),
        };
        let batch_sampler =
            BatchSampler::new(sampler, self.options.batch_size, self.options.drop_last)?;
        Ok(DataLoader {
            shared: Arc::new(Shared {
                dataset: self.dataset,
                collate,
                seed,
            }),
            batch_sampler,
            options: self.options,
            epoch: AtomicU64::new(0),
        })
    }
}

struct Shared<D, C> {
    dataset: D,
    collate: C,
    seed: u64,
}

impl<D: Dataset, C: Collate<D::Item>> Shared<D, C> {
    /// Batch `k` of `plan`, each sample with its own random stream.
    fn load(&self, plan: &EpochPlan, k: usize, epoch: u64) -> Result<C::Batch> {
        let n = self.dataset.len();
        let indices = &plan.batches[k];
        let copies = plan.copies.as_ref().map(|c| &c[k]);
        let mut items = Vec::with_capacity(indices.len());
        for (j, &i) in indices.iter().enumerate() {
            crate::dataset::check_index("DataLoader", i, n)?;
            let copy = copies.map_or(0, |c| c[j]);
            let mut rng = SampleRng::for_copy(self.seed, epoch, i, copy);
            items.push(self.dataset.get_with(i, &mut rng)?);
        }
        self.collate.collate(items)
    }
}

/// The batches of one epoch, and, when the sampler repeats indices, which copy each sample is.
struct EpochPlan {
    batches: Vec<Vec<usize>>,
    /// `copies[k][j]`: how many times `batches[k][j]` came earlier in the epoch (a sampler
    /// with replacement repeats indices; each copy gets its own random stream, as each fetch
    /// draws afresh in PyTorch). `None` when no index repeats, the usual case.
    copies: Option<Vec<Vec<u32>>>,
}

impl EpochPlan {
    /// The plan of `batches` over a dataset of `len` samples (indices past it are left for
    /// [`Shared::load`] to report). Costs O(indices of the epoch), or a table of `len` counts
    /// where the epoch has at least a quarter as many indices.
    fn new(batches: Vec<Vec<usize>>, len: usize) -> Self {
        let count: usize = batches.iter().map(Vec::len).sum();
        // Counts per index: a table over the dataset when the epoch covers a good part of it,
        // else a map (a small subset of a huge dataset must not cost a table of it per epoch).
        let dense = len <= count.saturating_mul(4);
        let mut table = if dense { vec![0u32; len] } else { Vec::new() };
        let mut map = HashMap::new();
        let mut next_copy = |i: usize| -> u32 {
            let count = if dense {
                match table.get_mut(i) {
                    Some(count) => count,
                    None => return 0, // out of range: `Shared::load` reports it
                }
            } else {
                map.entry(i).or_insert(0u32)
            };
            let copy = *count;
            *count = count.saturating_add(1);
            copy
        };
        let copies: Vec<Vec<u32>> = batches
            .iter()
            .map(|batch| batch.iter().map(|&i| next_copy(i)).collect())
            .collect();
        let repeats = copies.iter().flatten().any(|&copy| copy > 0);
        let copies = repeats.then_some(copies);
        EpochPlan { batches, copies }
    }
}

fn panic_error(payload: Box<dyn Any + Send>) -> Error {
    let msg = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic payload".to_string());
    Error::invalid("DataLoader", format!("a worker panicked: {msg}"))
}

/// `torch.utils.data.DataLoader` over a map-style [`Dataset`].
///
/// ```
/// use tiny_torch_data::{DataLoader, DefaultCollate, Image};
/// use tiny_torch_cpu::Cpu;
///
/// # fn main() -> tiny_torch_core::Result<()> {
/// let samples: Vec<(Image, i64)> = (0..10)
///     .map(|i| (Image::from_chw_u8(vec![i as u8; 4], 1, 2, 2).unwrap(), i % 3))
///     .collect();
/// let loader = DataLoader::builder(samples)
///     .batch_size(4)
///     .shuffle(true)
///     .seed(0)
///     .num_workers(2)
///     .build(DefaultCollate::new(Cpu))?;
/// for epoch in 0..2 {
///     loader.set_epoch(epoch);
///     for batch in &loader {
///         let (x, y) = batch?; // x: [4, 1, 2, 2] uint8 (the last batch: 2), y: [4] int64
///         assert_eq!(x.dims()[0], y.dims()[0]);
///     }
/// }
/// # Ok(())
/// # }
/// ```
pub struct DataLoader<D: Dataset, C: Collate<D::Item>> {
    shared: Arc<Shared<D, C>>,
    batch_sampler: BatchSampler<Box<dyn Sampler>>,
    options: Options,
    epoch: AtomicU64,
}

impl<D: Dataset + 'static> DataLoader<D, fn(Vec<D::Item>) -> Result<Vec<D::Item>>> {
    /// A builder with PyTorch's defaults: batch size 1, no shuffle, no `drop_last`, no workers,
    /// prefetch factor 2.
    pub fn builder(dataset: D) -> DataLoaderBuilder<D> {
        DataLoaderBuilder {
            dataset,
            options: Options::new(),
            shuffle: false,
            sampler: None,
        }
    }
}

impl<D, C> DataLoader<D, C>
where
    D: Dataset + 'static,
    C: Collate<D::Item> + 'static,
{
    /// Batches per epoch (`len(loader)`).
    pub fn len(&self) -> usize {
        self.batch_sampler.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn dataset(&self) -> &D {
        &self.shared.dataset
    }

    pub fn batch_size(&self) -> usize {
        self.options.batch_size
    }

    pub fn num_workers(&self) -> usize {
        self.options.num_workers
    }

    pub fn seed(&self) -> u64 {
        self.shared.seed
    }

    /// The epoch the next [`DataLoader::iter`] uses (it then moves on to the next one).
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Relaxed)
    }

    /// Sets the epoch of the next `iter` (as `sampler.set_epoch` in PyTorch; here it also
    /// selects the samples' random streams).
    pub fn set_epoch(&self, epoch: u64) {
        self.epoch.store(epoch, Ordering::Relaxed);
    }

    /// The index batches of `epoch`, without loading anything.
    pub fn batches(&self, epoch: u64) -> Vec<Vec<usize>> {
        self.batch_sampler.batches(epoch)
    }

    /// The batches of the current epoch (then the epoch counter moves on, so that a loop of
    /// `for batch in &loader` per epoch sees a new shuffle each time).
    pub fn iter(&self) -> DataLoaderIter<D, C> {
        let epoch = self.epoch.fetch_add(1, Ordering::Relaxed);
        self.iter_epoch(epoch)
    }

    /// The batches of `epoch`, leaving the epoch counter alone.
    pub fn iter_epoch(&self, epoch: u64) -> DataLoaderIter<D, C> {
        let plan = Arc::new(EpochPlan::new(
            self.batch_sampler.batches(epoch),
            self.shared.dataset.len(),
        ));
        let total = plan.batches.len();
        let workers = self.options.num_workers.min(total);
        let mut receivers = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for w in 0..workers {
            // No more room than this worker has batches.
            let room = (self.options.prefetch_factor - 1).min(total.div_ceil(workers));
            let (tx, rx) = sync_channel(room);
            let shared = self.shared.clone();
            let mine = plan.clone();
            let spawned = std::thread::Builder::new()
                // (The name tells the distributed crate's MPI panic hook that this thread's
                // panics are caught here, not a reason to abort every rank.)
                .name(format!("tiny-torch-data-worker-{w}"))
                .spawn(move || worker_loop(&shared, &mine, epoch, w, workers, tx));
            match spawned {
                Ok(handle) => {
                    receivers.push(rx);
                    handles.push(handle);
                }
                Err(e) => {
                    // Shut down the ones already started and report the failure.
                    drop(receivers);
                    for h in handles {
                        let _ = h.join();
                    }
                    return DataLoaderIter {
                        shared: self.shared.clone(),
                        plan,
                        epoch,
                        next: 0,
                        receivers: Vec::new(),
                        handles: Vec::new(),
                        failed: Some(Error::invalid(
                            "DataLoader",
                            format!("cannot start worker {w}: {e}"),
                        )),
                    };
                }
            }
        }
        DataLoaderIter {
            shared: self.shared.clone(),
            plan,
            epoch,
            next: 0,
            receivers,
            handles,
            failed: None,
        }
    }
}

fn worker_loop<D: Dataset, C: Collate<D::Item>>(
    shared: &Shared<D, C>,
    plan: &EpochPlan,
    epoch: u64,
    worker: usize,
    workers: usize,
    tx: SyncSender<Result<C::Batch>>,
) {
    for k in (worker..plan.batches.len()).step_by(workers) {
        let result = catch_unwind(AssertUnwindSafe(|| shared.load(plan, k, epoch)))
            .unwrap_or_else(|payload| Err(panic_error(payload)));
        if tx.send(result).is_err() {
            return; // the iterator was dropped
        }
    }
}

impl<D, C> IntoIterator for &DataLoader<D, C>
where
    D: Dataset + 'static,
    C: Collate<D::Item> + 'static,
{
    type Item = Result<C::Batch>;
    type IntoIter = DataLoaderIter<D, C>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// The batches of one epoch of a [`DataLoader`]. Dropping it stops and joins the workers.
pub struct DataLoaderIter<D: Dataset, C: Collate<D::Item>> {
    shared: Arc<Shared<D, C>>,
    plan: Arc<EpochPlan>,
    epoch: u64,
    next: usize,
    receivers: Vec<Receiver<Result<C::Batch>>>,
    handles: Vec<JoinHandle<()>>,
    failed: Option<Error>,
}

impl<D: Dataset, C: Collate<D::Item>> DataLoaderIter<D, C> {
    /// The epoch these batches belong to.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }
}

impl<D: Dataset, C: Collate<D::Item>> Iterator for DataLoaderIter<D, C> {
    type Item = Result<C::Batch>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.failed.take() {
            self.next = self.plan.batches.len();
            return Some(Err(e));
        }
        if self.next >= self.plan.batches.len() {
            return None;
        }
        let k = self.next;
        self.next += 1;
        if self.receivers.is_empty() {
            return Some(self.shared.load(&self.plan, k, self.epoch));
        }
        let w = k % self.receivers.len();
        Some(self.receivers[w].recv().unwrap_or_else(|_| {
            Err(Error::invalid(
                "DataLoader",
                format!("worker {w} exited before sending batch {k}"),
            ))
        }))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.plan.batches.len() - self.next.min(self.plan.batches.len());
        (left, Some(left))
    }
}

impl<D: Dataset, C: Collate<D::Item>> ExactSizeIterator for DataLoaderIter<D, C> {}

impl<D: Dataset, C: Collate<D::Item>> Drop for DataLoaderIter<D, C> {
    fn drop(&mut self) {
        // Closing the queues makes every worker's next `send` fail, so each returns after the
        // batch it is loading; then wait for them.
        self.receivers.clear();
        for handle in self.handles.drain(..) {
            let _ = handle.join();
        }
    }
}

// ------------------------------------------------------------------------- iterable datasets

/// Options of an [`IterableDataLoader`].
pub struct IterableDataLoaderBuilder<D> {
    dataset: D,
    options: Options,
}

impl<D: IterableDataset + 'static> IterableDataLoaderBuilder<D> {
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.options.batch_size = batch_size;
        self
    }

    /// Drop the short last batch (of each worker's stream, as in PyTorch).
    pub fn drop_last(mut self, drop_last: bool) -> Self {
        self.options.drop_last = drop_last;
        self
    }

    pub fn num_workers(mut self, num_workers: usize) -> Self {
        self.options.num_workers = num_workers;
        self
    }

    pub fn prefetch_factor(mut self, prefetch_factor: usize) -> Self {
        self.options.prefetch_factor = prefetch_factor;
        self
    }

    /// The base of the seeds in each worker's [`WorkerInfo`] (default: drawn from the default
    /// generator by `build`, as the map-style loader's).
    pub fn seed(mut self, seed: u64) -> Self {
        self.options.seed = Some(seed);
        self
    }

    pub fn build<C: Collate<D::Item> + 'static>(
        self,
        collate: C,
    ) -> Result<IterableDataLoader<D, C>> {
        self.options.check("IterableDataLoader")?;
        let seed = self.options.seed_or_draw();
        Ok(IterableDataLoader {
            shared: Arc::new(IterShared {
                dataset: self.dataset,
                collate,
            }),
            seed,
            options: self.options,
            epoch: AtomicU64::new(0),
        })
    }
}

struct IterShared<D, C> {
    dataset: D,
    collate: C,
}

/// A `DataLoader` over an [`IterableDataset`]. With `num_workers = W > 0`, worker `w` iterates
/// `dataset.iter(WorkerInfo { id: w, num_workers: W, .. })`, cuts its own stream into batches,
/// and the loader takes one batch from each worker in turn (skipping finished ones), as PyTorch
/// does; so the order depends on `W` and on how the dataset splits its stream. With no workers
/// the stream is read in the calling thread as worker 0 of 1.
pub struct IterableDataLoader<D, C> {
    shared: Arc<IterShared<D, C>>,
    seed: u64,
    options: Options,
    epoch: AtomicU64,
}

impl<D: IterableDataset + 'static> IterableDataLoader<D, fn(Vec<D::Item>) -> Result<Vec<D::Item>>> {
    pub fn builder(dataset: D) -> IterableDataLoaderBuilder<D> {
        IterableDataLoaderBuilder {
            dataset,
            options: Options::new(),
        }
    }
}

/// A stream of results (samples or batches).
type BatchStream<T> = Box<dyn Iterator<Item = Result<T>> + Send>;

/// Cuts a stream of samples into batches. An error item is passed on as its own item; the
/// samples read before it stay in the batch being filled.
struct Batcher<I, T> {
    items: I,
    pending: Vec<T>,
    batch_size: usize,
    drop_last: bool,
    done: bool,
}

impl<T, I: Iterator<Item = Result<T>>> Batcher<I, T> {
    fn new(items: I, batch_size: usize, drop_last: bool) -> Self {
        Batcher {
            items,
            // Grown as samples come: a huge batch_size means "the whole stream".
            pending: Vec::with_capacity(batch_size.min(1024)),
            batch_size,
            drop_last,
            done: false,
        }
    }
}

impl<T, I: Iterator<Item = Result<T>>> Iterator for Batcher<I, T> {
    type Item = Result<Vec<T>>;
    fn next(&mut self) -> Option<Self::Item> {
        while !self.done && self.pending.len() < self.batch_size {
            match self.items.next() {
                Some(Ok(x)) => self.pending.push(x),
                Some(Err(e)) => return Some(Err(e)),
                None => self.done = true,
            }
        }
        if self.pending.is_empty() || (self.drop_last && self.pending.len() < self.batch_size) {
            return None;
        }
        let batch = std::mem::replace(&mut self.pending, Vec::with_capacity(self.batch_size));
        Some(Ok(batch))
    }
}

impl<D, C> IterableDataLoader<D, C>
where
    D: IterableDataset + 'static,
    C: Collate<D::Item> + 'static,
{
    pub fn set_epoch(&self, epoch: u64) {
        self.epoch.store(epoch, Ordering::Relaxed);
    }

    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Relaxed)
    }

    /// The batches of the current epoch; then the epoch counter moves on.
    pub fn iter(&self) -> IterableDataLoaderIter<C::Batch> {
        let epoch = self.epoch.fetch_add(1, Ordering::Relaxed);
        let opts = self.options.clone();
        if opts.num_workers == 0 {
            let shared = self.shared.clone();
            let info = WorkerInfo {
                id: 0,
                num_workers: 1,
                epoch,
                seed: worker_seed(self.seed, epoch, 0),
            };
            let stream = InlineStream {
                batches: Batcher::new(shared.dataset.iter(info), opts.batch_size, opts.drop_last),
                shared,
            };
            return IterableDataLoaderIter {
                inline: Some(Box::new(stream)),
                receivers: Vec::new(),
                handles: Vec::new(),
                turn: 0,
            };
        }
        let workers = opts.num_workers;
        let mut receivers = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for w in 0..workers {
            let (tx, rx) = sync_channel::<Result<C::Batch>>(opts.prefetch_factor - 1);
            let shared = self.shared.clone();
            let info = WorkerInfo {
                id: w,
                num_workers: workers,
                epoch,
                seed: worker_seed(self.seed, epoch, w),
            };
            let (batch_size, drop_last) = (opts.batch_size, opts.drop_last);
            let spawned = std::thread::Builder::new()
                // (The name tells the distributed crate's MPI panic hook that this thread's
                // panics are caught here, not a reason to abort every rank.)
                .name(format!("tiny-torch-data-worker-{w}"))
                .spawn(move || {
                    let run = || -> Option<()> {
                        let batches =
                            Batcher::new(shared.dataset.iter(info), batch_size, drop_last);
                        for batch in batches {
                            let out = batch.and_then(|b| shared.collate.collate(b));
                            tx.send(out).ok()?;
                        }
                        Some(())
                    };
                    if let Err(payload) = catch_unwind(AssertUnwindSafe(run)) {
                        let _ = tx.send(Err(panic_error(payload)));
                    }
                });
            match spawned {
                Ok(h) => {
                    receivers.push(Some(rx));
                    handles.push(h);
                }
                Err(e) => {
                    let err = Error::invalid("DataLoader", format!("cannot start worker {w}: {e}"));
                    return IterableDataLoaderIter {
                        inline: Some(Box::new(std::iter::once(Err(err)))),
                        receivers: Vec::new(),
                        handles,
                        turn: 0,
                    };
                }
            }
        }
        IterableDataLoaderIter {
            inline: None,
            receivers,
            handles,
            turn: 0,
        }
    }
}

/// The stream of worker 0 of 1, read in the calling thread.
struct InlineStream<D: IterableDataset, C> {
    batches: Batcher<BatchStream<D::Item>, D::Item>,
    shared: Arc<IterShared<D, C>>,
}

impl<D: IterableDataset, C: Collate<D::Item>> Iterator for InlineStream<D, C> {
    type Item = Result<C::Batch>;
    fn next(&mut self) -> Option<Self::Item> {
        let batch = self.batches.next()?;
        Some(batch.and_then(|b| self.shared.collate.collate(b)))
    }
}

/// The batches of one epoch of an [`IterableDataLoader`]; dropping it stops the workers.
pub struct IterableDataLoaderIter<T> {
    inline: Option<BatchStream<T>>,
    receivers: Vec<Option<Receiver<Result<T>>>>,
    handles: Vec<JoinHandle<()>>,
    turn: usize,
}

impl<T> Iterator for IterableDataLoaderIter<T> {
    type Item = Result<T>;
    fn next(&mut self) -> Option<Result<T>> {
        if let Some(stream) = self.inline.as_mut() {
            return stream.next();
        }
        let n = self.receivers.len();
        for _ in 0..n {
            let w = self.turn % n;
            self.turn += 1;
            if let Some(rx) = &self.receivers[w] {
                match rx.recv() {
                    Ok(item) => return Some(item),
                    Err(_) => self.receivers[w] = None, // this worker's stream is finished
                }
            }
        }
        None
    }
}

impl<T> Drop for IterableDataLoaderIter<T> {
    fn drop(&mut self) {
        self.inline = None;
        self.receivers.clear();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}
