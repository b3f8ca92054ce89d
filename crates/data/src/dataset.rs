//! Datasets (`torch.utils.data.Dataset`, `IterableDataset`) and the wrappers around them:
//! [`Subset`], [`TensorDataset`], [`Map`], [`Transformed`], [`random_split`].

use crate::image::Image;
use crate::rng::{SampleRng, randperm};
use crate::transforms::Transform;
use std::sync::Arc;
use tiny_torch_core::{Backend, Error, Result};
use tiny_torch_tensor::Tensor;

/// A map-style dataset (`torch.utils.data.Dataset`): `len` samples, sample `i` from `get(i)`.
///
/// A dataset is shared by the loader's worker threads, hence `Send + Sync`. Implement `get`;
/// a dataset whose samples are random (random transforms) also implements [`Dataset::get_with`],
/// drawing from the stream the loader gives it for that sample, so that what sample `i` gets in
/// epoch `e` does not depend on which worker loads it.
pub trait Dataset: Send + Sync {
    type Item: Send + 'static;

    fn len(&self) -> usize;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sample `index`; an `Error` (never a panic) for an index out of range or a bad file.
    fn get(&self, index: usize) -> Result<Self::Item>;

    /// Sample `index` drawing its randomness from `rng` (what the `DataLoader` calls, with
    /// `SampleRng::for_sample(seed, epoch, index)`). Wrappers forward `rng` unchanged.
    fn get_with(&self, index: usize, rng: &mut SampleRng) -> Result<Self::Item> {
        let _ = rng;
        self.get(index)
    }

    /// A dataset of `f(sample, rng)` (`f` runs in the loader's workers).
    fn map<O, F>(self, f: F) -> Map<Self, F>
    where
        Self: Sized,
        O: Send + 'static,
        F: Fn(Self::Item, &mut SampleRng) -> Result<O> + Send + Sync,
    {
        Map { dataset: self, f }
    }

    /// The dataset with `transform` applied to the image of each `(image, label)` sample, as
    /// torchvision's `transform=` argument.
    fn with_transform<T: Transform>(self, transform: T) -> Transformed<Self, T>
    where
        Self: Sized + Dataset<Item = (Image, i64)>,
    {
        Transformed {
            dataset: self,
            transform,
        }
    }
}

/// The check every `get` starts with.
pub fn check_index(op: &'static str, index: usize, len: usize) -> Result<()> {
    if index >= len {
        return Err(Error::IndexOutOfRange {
            op,
            index: index as i64,
            dim: 0,
            size: len,
        });
    }
    Ok(())
}

impl<D: Dataset + ?Sized> Dataset for Arc<D> {
    type Item = D::Item;
    fn len(&self) -> usize {
        (**self).len()
    }
    fn get(&self, index: usize) -> Result<Self::Item> {
        (**self).get(index)
    }
    fn get_with(&self, index: usize, rng: &mut SampleRng) -> Result<Self::Item> {
        (**self).get_with(index, rng)
    }
}

/// A vector is a dataset of its elements (handy for tests and small in-memory data).
impl<T: Clone + Send + Sync + 'static> Dataset for Vec<T> {
    type Item = T;
    fn len(&self) -> usize {
        self.as_slice().len()
    }
    fn get(&self, index: usize) -> Result<T> {
        check_index("Vec dataset", index, self.as_slice().len())?;
        Ok(self[index].clone())
    }
}

/// What a worker of an [`IterableDataset`] is (`torch.utils.data.get_worker_info()`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkerInfo {
    /// `0..num_workers` (0 when loading in the main thread).
    pub id: usize,
    /// At least 1 (1 when loading in the main thread).
    pub num_workers: usize,
    /// The loader's epoch.
    pub epoch: u64,
    /// A seed for this worker and epoch, derived from the loader's seed.
    pub seed: u64,
}

/// A stream-style dataset (`torch.utils.data.IterableDataset`). With `num_workers > 0` each
/// worker calls `iter` with its own [`WorkerInfo`]; as in PyTorch, splitting the stream
/// between workers is up to the dataset (a worker that returns the whole stream duplicates it).
/// The stream owns what it reads (hold shared data in an `Arc` and clone it into the stream).
pub trait IterableDataset: Send + Sync {
    type Item: Send + 'static;

    fn iter(&self, worker: WorkerInfo) -> Box<dyn Iterator<Item = Result<Self::Item>> + Send>;
}

/// `torch.utils.data.Subset`: the samples `indices` of `dataset`, in that order.
pub struct Subset<D> {
    dataset: Arc<D>,
    indices: Vec<usize>,
}

impl<D: Dataset> Subset<D> {
    /// Indices are checked when a sample is read (an out-of-range one gives an error there).
    pub fn new(dataset: D, indices: Vec<usize>) -> Self {
        Self::from_arc(Arc::new(dataset), indices)
    }

    /// A subset of a dataset shared with others (as the splits of `random_split` share theirs).
    pub fn from_arc(dataset: Arc<D>, indices: Vec<usize>) -> Self {
        Subset { dataset, indices }
    }

    pub fn indices(&self) -> &[usize] {
        &self.indices
    }

    pub fn dataset(&self) -> &Arc<D> {
        &self.dataset
    }
}

impl<D> Clone for Subset<D> {
    fn clone(&self) -> Self {
        Subset {
            dataset: self.dataset.clone(),
            indices: self.indices.clone(),
        }
    }
}

impl<D: Dataset> Dataset for Subset<D> {
    type Item = D::Item;
    fn len(&self) -> usize {
        self.indices.len()
    }
    fn get(&self, index: usize) -> Result<Self::Item> {
        check_index("Subset", index, self.indices.len())?;
        self.dataset.get(self.indices[index])
    }
    fn get_with(&self, index: usize, rng: &mut SampleRng) -> Result<Self::Item> {
        check_index("Subset", index, self.indices.len())?;
        self.dataset.get_with(self.indices[index], rng)
    }
}

/// `torch.utils.data.random_split(dataset, lengths, generator)` with lengths given as counts
/// that must add up to `dataset.len()`. The permutation is a pure function of `seed`.
pub fn random_split<D: Dataset>(
    dataset: D,
    lengths: &[usize],
    seed: u64,
) -> Result<Vec<Subset<D>>> {
    random_split_arc(Arc::new(dataset), lengths, seed)
}

/// [`random_split`] of a dataset already in an `Arc`.
pub fn random_split_arc<D: Dataset>(
    dataset: Arc<D>,
    lengths: &[usize],
    seed: u64,
) -> Result<Vec<Subset<D>>> {
    let total = lengths
        .iter()
        .try_fold(0usize, |sum, &n| sum.checked_add(n));
    if total != Some(dataset.len()) {
        return Err(Error::invalid(
            "random_split",
            format!(
                "sum of input lengths ({}) does not equal the length of the input dataset ({})",
                total.map_or("more than fits in usize".into(), |t| t.to_string()),
                dataset.len()
            ),
        ));
    }
    let total = dataset.len();
    let perm = randperm(total, seed);
    let mut out = Vec::with_capacity(lengths.len());
    let mut offset = 0;
    for &n in lengths {
        out.push(Subset {
            dataset: dataset.clone(),
            indices: perm[offset..offset + n].to_vec(),
        });
        offset += n;
    }
    Ok(out)
}

/// `random_split` with fractions that add up to 1, as PyTorch: each split gets
/// `floor(len * fraction)` samples and the remainder is handed out one at a time, round-robin
/// from the first split.
pub fn random_split_fractions<D: Dataset>(
    dataset: D,
    fractions: &[f64],
    seed: u64,
) -> Result<Vec<Subset<D>>> {
    let lengths = split_lengths(dataset.len(), fractions)?;
    random_split(dataset, &lengths, seed)
}

/// The lengths PyTorch's `random_split` gives `n` samples split by `fractions`.
pub fn split_lengths(n: usize, fractions: &[f64]) -> Result<Vec<usize>> {
    let sum: f64 = fractions.iter().sum();
    if fractions.is_empty() || (sum - 1.0).abs() > 1e-9 || sum > 1.0 + 1e-9 {
        return Err(Error::invalid(
            "random_split",
            format!("fractions {fractions:?} must add up to 1 (they add up to {sum})"),
        ));
    }
    let mut lengths = Vec::with_capacity(fractions.len());
    for (i, &f) in fractions.iter().enumerate() {
        if !(0.0..=1.0).contains(&f) {
            return Err(Error::invalid(
                "random_split",
                format!("fraction at index {i} is not between 0 and 1: {f}"),
            ));
        }
        lengths.push((n as f64 * f).floor() as usize);
    }
    let remainder = n.saturating_sub(lengths.iter().sum());
    let k = lengths.len();
    for i in 0..remainder {
        lengths[i % k] += 1;
    }
    Ok(lengths)
}

/// `torch.utils.data.TensorDataset`: sample `i` is row `i` of each tensor (all tensors have
/// the same size in dim 0).
pub struct TensorDataset<B: Backend> {
    tensors: Vec<Tensor<B>>,
    len: usize,
}

impl<B: Backend> TensorDataset<B> {
    pub fn new(tensors: Vec<Tensor<B>>) -> Result<Self> {
        let first = tensors
            .first()
            .ok_or_else(|| Error::invalid("TensorDataset", "needs at least one tensor"))?;
        let len = first.size(0)?;
        for (i, t) in tensors.iter().enumerate() {
            if t.size(0)? != len {
                return Err(Error::shape(
                    "TensorDataset",
                    format!(
                        "size mismatch between tensors: tensor 0 has {len} rows, tensor {i} has {}",
                        t.dims().first().copied().unwrap_or(0)
                    ),
                ));
            }
        }
        Ok(TensorDataset { tensors, len })
    }

    pub fn tensors(&self) -> &[Tensor<B>] {
        &self.tensors
    }
}

impl<B: Backend> Dataset for TensorDataset<B> {
    type Item = Vec<Tensor<B>>;
    fn len(&self) -> usize {
        self.len
    }
    fn get(&self, index: usize) -> Result<Vec<Tensor<B>>> {
        check_index("TensorDataset", index, self.len)?;
        self.tensors
            .iter()
            .map(|t| t.select(0, index as isize))
            .collect()
    }
}

/// A dataset of `f(sample, rng)`; see [`Dataset::map`].
pub struct Map<D, F> {
    dataset: D,
    f: F,
}

impl<D, O, F> Dataset for Map<D, F>
where
    D: Dataset,
    O: Send + 'static,
    F: Fn(D::Item, &mut SampleRng) -> Result<O> + Send + Sync,
{
    type Item = O;
    fn len(&self) -> usize {
        self.dataset.len()
    }
    fn get(&self, index: usize) -> Result<O> {
        self.get_with(index, &mut SampleRng::for_sample(0, 0, index))
    }
    fn get_with(&self, index: usize, rng: &mut SampleRng) -> Result<O> {
        let item = self.dataset.get_with(index, rng)?;
        (self.f)(item, rng)
    }
}

/// An `(image, label)` dataset with a transform on the image; see [`Dataset::with_transform`].
pub struct Transformed<D, T> {
    dataset: D,
    transform: T,
}

impl<D, T> Transformed<D, T> {
    pub fn inner(&self) -> &D {
        &self.dataset
    }
}

impl<D, T> Dataset for Transformed<D, T>
where
    D: Dataset<Item = (Image, i64)>,
    T: Transform,
{
    type Item = (Image, i64);
    fn len(&self) -> usize {
        self.dataset.len()
    }
    /// Outside a loader the stream is that of sample `index` in epoch 0 with seed 0.
    fn get(&self, index: usize) -> Result<(Image, i64)> {
        self.get_with(index, &mut SampleRng::for_sample(0, 0, index))
    }
    fn get_with(&self, index: usize, rng: &mut SampleRng) -> Result<(Image, i64)> {
        let (image, label) = self.dataset.get_with(index, rng)?;
        Ok((self.transform.apply(image, rng)?, label))
    }
}
