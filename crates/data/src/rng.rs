//! Per-sample random streams: [`SampleRng`] and the seed derivations that make a data pipeline
//! deterministic whatever the number of workers.
//!
//! Everything random in this crate (shuffling, sampling with replacement, random transforms) is
//! a pure function of a base seed and the position in the data: the permutation of epoch `e`
//! depends on `(seed, e)` only, and the transforms of sample `i` in epoch `e` draw from
//! `SampleRng::for_sample(seed, e, i)`. Which worker thread loads a sample, and when, never
//! changes what it gets. The words come from Philox 4x32-10 (`tiny_torch_core::philox`), the
//! generator of every Tiny-Torch backend.

use tiny_torch_core::philox::philox4x32_10;

/// Stream domains, so that the shuffle of epoch `e` and the sample streams never share a key.
const DOMAIN_SAMPLE: u32 = 1;
const DOMAIN_SHUFFLE: u32 = 2;
const DOMAIN_WORKER: u32 = 3;
const DOMAIN_COPY: u32 = 4;

/// A 64-bit seed derived from `(seed, domain, a, b)` by one Philox block.
fn derive(seed: u64, domain: u32, a: u64, b: u64) -> u64 {
    let w = philox4x32_10(
        [
            a as u32,
            (a >> 32) as u32,
            b as u32 ^ ((b >> 32) as u32),
            domain,
        ],
        [seed as u32, (seed >> 32) as u32],
    );
    ((w[1] as u64) << 32) | w[0] as u64
}

/// The seed of the random stream of sample `index` in `epoch` (used by the transforms).
pub fn sample_seed(base_seed: u64, epoch: u64, index: usize) -> u64 {
    derive(base_seed, DOMAIN_SAMPLE, index as u64, epoch)
}

/// The seed of the shuffle (or sampling) of `epoch`.
pub fn epoch_seed(base_seed: u64, epoch: u64) -> u64 {
    derive(base_seed, DOMAIN_SHUFFLE, epoch, 0)
}

/// The seed handed to worker `worker` of an [`crate::IterableDataset`] in `epoch`.
pub fn worker_seed(base_seed: u64, epoch: u64, worker: usize) -> u64 {
    derive(base_seed, DOMAIN_WORKER, worker as u64, epoch)
}

/// A counter-based random stream (Philox 4x32-10 keyed by a 64-bit seed). Cheap to create: a
/// fresh one per sample costs nothing, which is what makes per-sample seeding affordable.
#[derive(Clone, Debug)]
pub struct SampleRng {
    seed: u64,
    counter: u64,
    block: [u32; 4],
    used: usize,
}

impl SampleRng {
    /// The stream of `seed`, from its start.
    pub fn new(seed: u64) -> Self {
        SampleRng {
            seed,
            counter: 0,
            block: [0; 4],
            used: 4,
        }
    }

    /// The stream of sample `index` in `epoch` of a pipeline seeded with `base_seed`.
    pub fn for_sample(base_seed: u64, epoch: u64, index: usize) -> Self {
        Self::new(sample_seed(base_seed, epoch, index))
    }

    /// The stream of copy `copy` (0: the first) of sample `index` in `epoch`: a sampler with
    /// replacement may draw an index more than once per epoch, and each copy gets its own
    /// transforms, as each fetch draws afresh in PyTorch. Copy 0's stream is
    /// [`SampleRng::for_sample`]'s.
    pub fn for_copy(base_seed: u64, epoch: u64, index: usize, copy: u32) -> Self {
        let seed = sample_seed(base_seed, epoch, index);
        match copy {
            0 => Self::new(seed),
            _ => Self::new(derive(seed, DOMAIN_COPY, u64::from(copy), 0)),
        }
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn next_u32(&mut self) -> u32 {
        if self.used == 4 {
            let n = self.counter;
            self.block = philox4x32_10(
                [n as u32, (n >> 32) as u32, 0, 0],
                [self.seed as u32, (self.seed >> 32) as u32],
            );
            self.counter = self.counter.wrapping_add(1);
            self.used = 0;
        }
        let w = self.block[self.used];
        self.used += 1;
        w
    }

    pub fn next_u64(&mut self) -> u64 {
        let lo = self.next_u32() as u64;
        let hi = self.next_u32() as u64;
        (hi << 32) | lo
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[low, high)`.
    pub fn uniform_range(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.uniform()
    }

    /// Uniform integer in `[0, n)` (unbiased: rejection sampling); 0 when `n` is 0.
    pub fn below(&mut self, n: usize) -> usize {
        if n <= 1 {
            return 0;
        }
        let n = n as u64;
        let zone = u64::MAX - (u64::MAX - n + 1) % n;
        loop {
            let x = self.next_u64();
            if x <= zone {
                return (x % n) as usize;
            }
        }
    }

    /// Uniform integer in `[low, high)` (`torch.randint(low, high, (1,))`); `low` when the range
    /// is empty.
    pub fn randint(&mut self, low: i64, high: i64) -> i64 {
        if high <= low {
            return low;
        }
        low + self.below((high - low) as usize) as i64
    }
}

/// A random permutation of `0..n` (Fisher–Yates), a pure function of `(n, seed)`.
pub fn randperm(n: usize, seed: u64) -> Vec<usize> {
    let mut rng = SampleRng::new(seed);
    let mut perm: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = rng.below(i + 1);
        perm.swap(i, j);
    }
    perm
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_pure_functions_of_the_seed() {
        let a: Vec<u32> = {
            let mut r = SampleRng::for_sample(7, 2, 11);
            (0..9).map(|_| r.next_u32()).collect()
        };
        let mut r = SampleRng::for_sample(7, 2, 11);
        let b: Vec<u32> = (0..9).map(|_| r.next_u32()).collect();
        assert_eq!(a, b);
        assert_ne!(sample_seed(7, 2, 11), sample_seed(7, 3, 11));
        assert_ne!(sample_seed(7, 2, 11), sample_seed(7, 2, 12));
        assert_ne!(epoch_seed(7, 0), sample_seed(7, 0, 0));
    }

    #[test]
    fn below_and_uniform_stay_in_range() {
        let mut r = SampleRng::new(3);
        for n in 1..50 {
            assert!(r.below(n) < n);
        }
        for _ in 0..1000 {
            let u = r.uniform();
            assert!((0.0..1.0).contains(&u));
        }
        let mut p = randperm(100, 5);
        p.sort();
        assert_eq!(p, (0..100).collect::<Vec<_>>());
    }
}
