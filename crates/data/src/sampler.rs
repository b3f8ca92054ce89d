//! Samplers (`torch.utils.data.Sampler` and friends): which indices an epoch visits, in which
//! order. A sampler here is a pure function of the epoch (`indices(epoch)`), so the order of
//! every epoch can be recomputed and no state is shared with the workers.

use crate::rng::{SampleRng, epoch_seed, randperm};
use tiny_torch_core::{Error, Result};

/// The indices of one epoch. Implementations are deterministic: the same epoch gives the same
/// indices.
pub trait Sampler: Send + Sync {
    /// How many indices an epoch yields.
    fn len(&self) -> usize;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn indices(&self, epoch: u64) -> Vec<usize>;
}

impl<S: Sampler + ?Sized> Sampler for Box<S> {
    fn len(&self) -> usize {
        (**self).len()
    }
    fn indices(&self, epoch: u64) -> Vec<usize> {
        (**self).indices(epoch)
    }
}

/// `SequentialSampler`: `0, 1, ..., n - 1` every epoch.
#[derive(Clone, Debug)]
pub struct SequentialSampler {
    n: usize,
}

impl SequentialSampler {
    pub fn new(n: usize) -> Self {
        SequentialSampler { n }
    }
}

impl Sampler for SequentialSampler {
    fn len(&self) -> usize {
        self.n
    }
    fn indices(&self, _epoch: u64) -> Vec<usize> {
        (0..self.n).collect()
    }
}

/// `RandomSampler`: a permutation of `0..n` (or, with replacement, `num_samples` uniform draws)
/// that is a pure function of `(seed, epoch)`: reproducible by seed, new each epoch.
#[derive(Clone, Debug)]
pub struct RandomSampler {
    n: usize,
    replacement: bool,
    num_samples: usize,
    seed: u64,
}

impl RandomSampler {
    /// A permutation of `0..n` per epoch.
    pub fn new(n: usize, seed: u64) -> Self {
        RandomSampler {
            n,
            replacement: false,
            num_samples: n,
            seed,
        }
    }

    /// `num_samples` independent uniform draws from `0..n` per epoch.
    pub fn with_replacement(n: usize, num_samples: usize, seed: u64) -> Self {
        RandomSampler {
            n,
            replacement: true,
            num_samples,
            seed,
        }
    }

    /// Without replacement and `num_samples > n`: whole permutations one after the other (as
    /// PyTorch), the last one cut to length.
    pub fn with_num_samples(n: usize, num_samples: usize, seed: u64) -> Self {
        RandomSampler {
            n,
            replacement: false,
            num_samples,
            seed,
        }
    }
}

impl Sampler for RandomSampler {
    fn len(&self) -> usize {
        if self.n == 0 { 0 } else { self.num_samples }
    }
    fn indices(&self, epoch: u64) -> Vec<usize> {
        if self.n == 0 {
            return Vec::new();
        }
        let seed = epoch_seed(self.seed, epoch);
        if self.replacement {
            let mut rng = SampleRng::new(seed);
            return (0..self.num_samples).map(|_| rng.below(self.n)).collect();
        }
        let mut out = Vec::with_capacity(self.num_samples);
        let mut round = 0u64;
        while out.len() < self.num_samples {
            let perm = randperm(self.n, seed.wrapping_add(round));
            let take = (self.num_samples - out.len()).min(self.n);
            out.extend_from_slice(&perm[..take]);
            round += 1;
        }
        out
    }
}

/// `SubsetRandomSampler`: the given indices in a random order, new each epoch.
#[derive(Clone, Debug)]
pub struct SubsetRandomSampler {
    indices: Vec<usize>,
    seed: u64,
}

impl SubsetRandomSampler {
    pub fn new(indices: Vec<usize>, seed: u64) -> Self {
        SubsetRandomSampler { indices, seed }
    }
}

impl Sampler for SubsetRandomSampler {
    fn len(&self) -> usize {
        self.indices.len()
    }
    fn indices(&self, epoch: u64) -> Vec<usize> {
        randperm(self.indices.len(), epoch_seed(self.seed, epoch))
            .into_iter()
            .map(|i| self.indices[i])
            .collect()
    }
}

/// `BatchSampler`: the indices of a sampler cut into batches of `batch_size`; the last, short
/// one is dropped with `drop_last`.
pub struct BatchSampler<S> {
    sampler: S,
    batch_size: usize,
    drop_last: bool,
}

impl<S: Sampler> BatchSampler<S> {
    pub fn new(sampler: S, batch_size: usize, drop_last: bool) -> Result<Self> {
        if batch_size == 0 {
            return Err(Error::invalid(
                "BatchSampler",
                "batch_size should be a positive integer value, but got batch_size=0",
            ));
        }
        Ok(BatchSampler {
            sampler,
            batch_size,
            drop_last,
        })
    }

    /// The number of batches of an epoch.
    pub fn len(&self) -> usize {
        let n = self.sampler.len();
        if self.drop_last {
            n / self.batch_size
        } else {
            n.div_ceil(self.batch_size)
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn batches(&self, epoch: u64) -> Vec<Vec<usize>> {
        let indices = self.sampler.indices(epoch);
        let mut out: Vec<Vec<usize>> = indices
            .chunks(self.batch_size)
            .map(|c| c.to_vec())
            .collect();
        if self.drop_last && out.last().is_some_and(|b| b.len() < self.batch_size) {
            out.pop();
        }
        out
    }

    pub fn sampler(&self) -> &S {
        &self.sampler
    }

    pub fn batch_size(&self) -> usize {
        self.batch_size
    }
}

/// `torch.utils.data.distributed.DistributedSampler`: the share of rank `rank` out of
/// `num_replicas`, with PyTorch's rules:
///
/// - shuffled by a permutation seeded with `seed + epoch` (a pure function of that sum, so every
///   rank computes the same one; the permutation itself is this crate's, not `torch.randperm`'s);
/// - without `drop_last`, the list is padded to a multiple of `num_replicas` by repeating its
///   first indices (as many times as needed); with `drop_last`, its tail is cut instead;
/// - rank `r` takes every `num_replicas`-th index starting at `r`.
///
/// So every rank gets the same count, `ceil(n / num_replicas)` (or
/// `ceil((n - num_replicas) / num_replicas)` with `drop_last` when `n` is not divisible).
/// Used as a `DataLoader`'s sampler, the loader's epoch is the one used (`loader.set_epoch`).
#[derive(Clone, Debug)]
pub struct DistributedSampler {
    n: usize,
    num_replicas: usize,
    rank: usize,
    shuffle: bool,
    seed: u64,
    drop_last: bool,
    epoch: u64,
    num_samples: usize,
}

impl DistributedSampler {
    /// Shuffled, seed 0, no `drop_last` (PyTorch's defaults).
    pub fn new(n: usize, num_replicas: usize, rank: usize) -> Result<Self> {
        if num_replicas == 0 {
            return Err(Error::invalid(
                "DistributedSampler",
                "num_replicas must be at least 1",
            ));
        }
        if rank >= num_replicas {
            return Err(Error::invalid(
                "DistributedSampler",
                format!(
                    "invalid rank {rank}, rank should be in the interval [0, {}]",
                    num_replicas - 1
                ),
            ));
        }
        let mut s = DistributedSampler {
            n,
            num_replicas,
            rank,
            shuffle: true,
            seed: 0,
            drop_last: false,
            epoch: 0,
            num_samples: 0,
        };
        s.update_count();
        Ok(s)
    }

    pub fn shuffle(mut self, shuffle: bool) -> Self {
        self.shuffle = shuffle;
        self
    }

    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    pub fn drop_last(mut self, drop_last: bool) -> Self {
        self.drop_last = drop_last;
        self.update_count();
        self
    }

    fn update_count(&mut self) {
        let (n, r) = (self.n, self.num_replicas);
        self.num_samples = if self.drop_last && !n.is_multiple_of(r) {
            n.saturating_sub(r).div_ceil(r)
        } else {
            n.div_ceil(r)
        };
    }

    /// `sampler.set_epoch(epoch)`: the epoch [`DistributedSampler::current_indices`] uses.
    pub fn set_epoch(&mut self, epoch: u64) {
        self.epoch = epoch;
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The indices of this rank for the epoch last given to `set_epoch`.
    pub fn current_indices(&self) -> Vec<usize> {
        self.indices(self.epoch)
    }

    /// `num_samples * num_replicas`.
    pub fn total_size(&self) -> usize {
        self.num_samples * self.num_replicas
    }
}

impl Sampler for DistributedSampler {
    fn len(&self) -> usize {
        self.num_samples
    }

    fn indices(&self, epoch: u64) -> Vec<usize> {
        let mut indices: Vec<usize> = if self.shuffle {
            randperm(self.n, self.seed.wrapping_add(epoch))
        } else {
            (0..self.n).collect()
        };
        let total = self.total_size();
        if !self.drop_last {
            let padding = total - indices.len();
            if !indices.is_empty() {
                // `indices += indices[:padding]`, or whole copies when the padding is longer.
                let base = indices.clone();
                indices.extend(base.iter().cycle().take(padding));
            }
        } else {
            indices.truncate(total);
        }
        indices
            .into_iter()
            .skip(self.rank)
            .step_by(self.num_replicas)
            .take(self.num_samples)
            .collect()
    }
}
