//! Tiny-Torch data: `torch.utils.data` and the parts of `torchvision` a training script needs.
//!
//! - [`Dataset`] (map-style) and [`IterableDataset`], with [`Subset`], [`TensorDataset`],
//!   [`random_split`] and `map` / `with_transform` wrappers;
//! - [`DataLoader`]: batches, shuffle with a seed, `drop_last`, worker threads with bounded
//!   prefetch, custom collate; the batches are the same whatever the number of workers;
//! - samplers: [`SequentialSampler`], [`RandomSampler`], [`SubsetRandomSampler`],
//!   [`BatchSampler`], [`DistributedSampler`];
//! - readers ([`datasets`]): MNIST / Fashion-MNIST IDX files, CIFAR-10 binary batches,
//!   [`datasets::ImageFolder`] (JPEG, PNG), and a small real MNIST subset embedded in the crate
//!   ([`datasets::Mnist::embedded`]);
//! - [`transforms`] on a host [`Image`]: `ToTensor`, `Normalize`, `RandomCrop`,
//!   `RandomHorizontalFlip`, `RandomResizedCrop`, `Resize`, `CenterCrop`, `Compose`.
//!
//! ```
//! use tiny_torch_cpu::Cpu;
//! use tiny_torch_data::datasets::Mnist;
//! use tiny_torch_data::transforms::{Compose, Normalize, RandomCrop, ToTensor};
//! use tiny_torch_data::{DataLoader, Dataset, DefaultCollate};
//!
//! # fn main() -> tiny_torch_core::Result<()> {
//! let train = Mnist::embedded(true)?.with_transform(
//!     Compose::new()
//!         .then(RandomCrop::new(28).padding(2))
//!         .then(ToTensor)
//!         .then(Normalize::new(&[Mnist::MEAN], &[Mnist::STD])?),
//! );
//! let loader = DataLoader::builder(train)
//!     .batch_size(64)
//!     .shuffle(true)
//!     .seed(0)
//!     .num_workers(2)
//!     .build(DefaultCollate::new(Cpu))?;
//! let (images, labels) = loader.iter().next().unwrap()?;
//! assert_eq!(images.dims(), &[64, 1, 28, 28]);
//! assert_eq!(labels.dims(), &[64]);
//! # Ok(())
//! # }
//! ```
//!
//! Determinism rules: see `docs/data.md` and the [`loader`] module.

pub mod collate;
pub mod dataset;
pub mod datasets;
pub mod image;
pub mod loader;
pub mod rng;
pub mod sampler;
pub mod transforms;

pub use collate::{Collate, DefaultCollate};
pub use dataset::{
    Dataset, IterableDataset, Map, Subset, TensorDataset, Transformed, WorkerInfo, random_split,
    random_split_arc, random_split_fractions, split_lengths,
};
pub use image::{Image, Pixels};
pub use loader::{
    DataLoader, DataLoaderBuilder, DataLoaderIter, IterableDataLoader, IterableDataLoaderBuilder,
    IterableDataLoaderIter,
};
pub use rng::{SampleRng, randperm, sample_seed};
pub use sampler::{
    BatchSampler, DistributedSampler, RandomSampler, Sampler, SequentialSampler,
    SubsetRandomSampler,
};
