//! CIFAR-10 in its binary version (`cifar-10-batches-bin`).

use super::read_maybe_gz;
use crate::dataset::{Dataset, check_index};
use crate::image::Image;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tiny_torch_core::{Error, Result};

const RECORD: usize = 1 + 3 * 32 * 32;

/// CIFAR-10 (`torchvision.datasets.CIFAR10`) read from the binary batches: `data_batch_1.bin`
/// .. `data_batch_5.bin` (train) or `test_batch.bin`, each a sequence of 3073-byte records (a
/// label byte 0..9, then 1024 red, 1024 green and 1024 blue bytes, row-major 32x32). Samples
/// are `(Image [3, 32, 32] u8, label)`.
#[derive(Clone, Debug)]
pub struct Cifar10 {
    data: Arc<Vec<u8>>,
    len: usize,
}

pub const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

impl Cifar10 {
    /// The per-channel means of the CIFAR-10 training set on a 0..1 scale.
    pub const MEAN: [f32; 3] = [0.4914, 0.4822, 0.4465];
    /// Their standard deviations.
    pub const STD: [f32; 3] = [0.2470, 0.2435, 0.2616];

    /// Reads the train or test batches from `dir`, or from `dir/cifar-10-batches-bin` when
    /// `dir` is the folder the archive unpacks into.
    pub fn new(dir: impl AsRef<Path>, train: bool) -> Result<Self> {
        let mut dir = dir.as_ref().to_path_buf();
        let nested = dir.join("cifar-10-batches-bin");
        if nested.is_dir() {
            dir = nested;
        }
        let files: Vec<PathBuf> = if train {
            (1..=5)
                .map(|i| dir.join(format!("data_batch_{i}.bin")))
                .collect()
        } else {
            vec![dir.join("test_batch.bin")]
        };
        Self::from_files(&files)
    }

    /// Reads the given batch files (gzip'd or raw) in order.
    pub fn from_files(files: &[PathBuf]) -> Result<Self> {
        let mut data = Vec::new();
        for path in files {
            if !path.is_file() {
                return Err(Error::file(path, "no such file"));
            }
            let bytes = read_maybe_gz(path)?;
            Self::check_batch(&bytes, path)?;
            data.extend_from_slice(&bytes);
        }
        let len = data.len() / RECORD;
        Ok(Cifar10 {
            data: Arc::new(data),
            len,
        })
    }

    /// One batch file's bytes: whole records, each label in 0..9.
    fn check_batch(bytes: &[u8], path: &Path) -> Result<()> {
        if bytes.is_empty() {
            return Err(Error::file(path, "empty CIFAR-10 batch file"));
        }
        if !bytes.len().is_multiple_of(RECORD) {
            return Err(Error::file(
                path,
                format!(
                    "truncated data: {} bytes is not a whole number of {RECORD}-byte records \
                     ({} records and {} bytes left over)",
                    bytes.len(),
                    bytes.len() / RECORD,
                    bytes.len() % RECORD
                ),
            ));
        }
        for (i, record) in bytes.chunks_exact(RECORD).enumerate() {
            if record[0] > 9 {
                return Err(Error::file(
                    path,
                    format!(
                        "bad label byte {} in record {i} (expected 0..9): not a CIFAR-10 binary \
                         batch?",
                        record[0]
                    ),
                ));
            }
        }
        Ok(())
    }

    pub fn classes(&self) -> &'static [&'static str] {
        &CIFAR10_CLASSES
    }
}

impl Dataset for Cifar10 {
    type Item = (Image, i64);

    fn len(&self) -> usize {
        self.len
    }

    fn get(&self, index: usize) -> Result<(Image, i64)> {
        check_index("Cifar10", index, self.len)?;
        let record = &self.data[index * RECORD..(index + 1) * RECORD];
        let image = Image::from_chw_u8(record[1..].to_vec(), 3, 32, 32)?;
        Ok((image, record[0] as i64))
    }
}
