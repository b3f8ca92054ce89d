//! MNIST and Fashion-MNIST: the IDX files of LeCun's distribution, gzip'd or raw.

use super::{gunzip_if_needed, read_maybe_gz};
use crate::dataset::{Dataset, check_index};
use crate::image::Image;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tiny_torch_core::{Error, Result};

pub const MNIST_CLASSES: [&str; 10] = [
    "0 - zero",
    "1 - one",
    "2 - two",
    "3 - three",
    "4 - four",
    "5 - five",
    "6 - six",
    "7 - seven",
    "8 - eight",
    "9 - nine",
];

pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// Decodes an IDX file of unsigned bytes (type code `0x08`) with `ndim` dimensions:
/// `(dims, data)`. `name` is the file named in errors. Checks the magic number, the header
/// length and that the data holds exactly the product of the dims.
pub fn read_idx_u8(bytes: &[u8], ndim: usize, name: &Path) -> Result<(Vec<usize>, Vec<u8>)> {
    let expected_magic = 0x0800 + ndim as u32;
    if bytes.len() < 4 {
        return Err(Error::file(
            name,
            format!(
                "truncated IDX file: {} bytes, not even a magic number",
                bytes.len()
            ),
        ));
    }
    let magic = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if magic != expected_magic {
        return Err(Error::file(
            name,
            format!(
                "bad magic number {magic:#010x}, expected {expected_magic:#010x} (an IDX file of \
                 u8 with {ndim} dimension{})",
                if ndim == 1 { "" } else { "s" }
            ),
        ));
    }
    let header = 4 + 4 * ndim;
    if bytes.len() < header {
        return Err(Error::file(
            name,
            format!(
                "truncated IDX header: {} bytes, {header} needed",
                bytes.len()
            ),
        ));
    }
    let dims: Vec<usize> = bytes[4..header]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let numel = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| Error::file(name, format!("IDX dims {dims:?} overflow")))?;
    let data = &bytes[header..];
    if data.len() < numel {
        return Err(Error::file(
            name,
            format!(
                "truncated data: the header gives dims {dims:?} ({numel} bytes), but the file \
                 holds {} bytes after the header",
                data.len()
            ),
        ));
    }
    if data.len() > numel {
        return Err(Error::file(
            name,
            format!(
                "{} unexpected bytes after the {numel} bytes of dims {dims:?}",
                data.len() - numel
            ),
        ));
    }
    Ok((dims, data.to_vec()))
}

/// MNIST or Fashion-MNIST (`torchvision.datasets.MNIST` / `FashionMNIST`): 28x28 `u8` images
/// with one channel, labels 0..9. Samples are `(Image [1, 28, 28] u8, label)`; add
/// `ToTensor` and `Normalize` with [`Dataset::with_transform`].
#[derive(Clone, Debug)]
pub struct Mnist {
    images: Arc<Vec<u8>>,
    labels: Arc<Vec<u8>>,
    rows: usize,
    cols: usize,
    classes: &'static [&'static str],
}

const EMBEDDED_TRAIN_IMAGES: &[u8] =
    include_bytes!("../../assets/mnist-small/train-images-idx3-ubyte.gz");
const EMBEDDED_TRAIN_LABELS: &[u8] =
    include_bytes!("../../assets/mnist-small/train-labels-idx1-ubyte.gz");
const EMBEDDED_TEST_IMAGES: &[u8] =
    include_bytes!("../../assets/mnist-small/t10k-images-idx3-ubyte.gz");
const EMBEDDED_TEST_LABELS: &[u8] =
    include_bytes!("../../assets/mnist-small/t10k-labels-idx1-ubyte.gz");

impl Mnist {
    /// The mean of MNIST's training pixels on a 0..1 scale (for `Normalize`).
    pub const MEAN: f32 = 0.1307;
    /// Their standard deviation.
    pub const STD: f32 = 0.3081;

    /// Reads `dir/train-images-idx3-ubyte[.gz]` and `dir/train-labels-idx1-ubyte[.gz]`
    /// (`train`) or the `t10k-*` pair. The raw file is used when both exist.
    pub fn new(dir: impl AsRef<Path>, train: bool) -> Result<Self> {
        let dir = dir.as_ref();
        let prefix = if train { "train" } else { "t10k" };
        let images = find_file(dir, &format!("{prefix}-images-idx3-ubyte"))?;
        let labels = find_file(dir, &format!("{prefix}-labels-idx1-ubyte"))?;
        Self::from_files(&images, &labels)
    }

    /// Fashion-MNIST from `dir` (same file names and format; its class names).
    pub fn fashion(dir: impl AsRef<Path>, train: bool) -> Result<Self> {
        let mut m = Self::new(dir, train)?;
        m.classes = &FASHION_MNIST_CLASSES;
        Ok(m)
    }

    /// The small real digits set embedded in this crate: the first 10,000 MNIST training
    /// images (`train`) or the first 2,000 test images, built by
    /// `crates/data/tools/make_mnist_small.py` (see `crates/data/assets/mnist-small/SOURCE.md`).
    pub fn embedded(train: bool) -> Result<Self> {
        let (images, labels, name) = if train {
            (EMBEDDED_TRAIN_IMAGES, EMBEDDED_TRAIN_LABELS, "train")
        } else {
            (EMBEDDED_TEST_IMAGES, EMBEDDED_TEST_LABELS, "t10k")
        };
        let prefix = PathBuf::from("<embedded mnist-small>");
        Self::from_bytes(
            images.to_vec(),
            &prefix.join(format!("{name}-images-idx3-ubyte.gz")),
            labels.to_vec(),
            &prefix.join(format!("{name}-labels-idx1-ubyte.gz")),
        )
    }

    /// Reads an image file and a label file (each gzip'd or raw).
    pub fn from_files(images: &Path, labels: &Path) -> Result<Self> {
        let image_bytes = read_maybe_gz(images)?;
        let label_bytes = read_maybe_gz(labels)?;
        Self::parse(&image_bytes, images, &label_bytes, labels)
    }

    /// From the bytes of the two files (gzip'd or raw); the paths only name them in errors.
    pub fn from_bytes(
        images: Vec<u8>,
        images_name: &Path,
        labels: Vec<u8>,
        labels_name: &Path,
    ) -> Result<Self> {
        let images = gunzip_if_needed(images, images_name)?;
        let labels = gunzip_if_needed(labels, labels_name)?;
        Self::parse(&images, images_name, &labels, labels_name)
    }

    fn parse(images: &[u8], images_name: &Path, labels: &[u8], labels_name: &Path) -> Result<Self> {
        let (idims, pixels) = read_idx_u8(images, 3, images_name)?;
        let (ldims, labels) = read_idx_u8(labels, 1, labels_name)?;
        if idims[0] != ldims[0] {
            return Err(Error::file(
                labels_name,
                format!(
                    "label/image count mismatch: {} labels for the {} images of {}",
                    ldims[0],
                    idims[0],
                    images_name.display()
                ),
            ));
        }
        if let Some((i, &l)) = labels.iter().enumerate().find(|&(_, &l)| l > 9) {
            return Err(Error::file(
                labels_name,
                format!("label {l} at index {i} is out of range for 10 classes"),
            ));
        }
        Ok(Mnist {
            images: Arc::new(pixels),
            labels: Arc::new(labels),
            rows: idims[1],
            cols: idims[2],
            classes: &MNIST_CLASSES,
        })
    }

    pub fn classes(&self) -> &'static [&'static str] {
        self.classes
    }

    /// All labels, in order.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// `(height, width)` of every image (28x28 for the real data sets).
    pub fn image_size(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }
}

/// `dir/name`, else `dir/name.gz`; an error naming both when neither exists.
fn find_file(dir: &Path, name: &str) -> Result<PathBuf> {
    let raw = dir.join(name);
    if raw.is_file() {
        return Ok(raw);
    }
    let gz = dir.join(format!("{name}.gz"));
    if gz.is_file() {
        return Ok(gz);
    }
    let why = if dir.is_dir() {
        "no such file".to_string()
    } else {
        format!("no such file (the folder {} does not exist)", dir.display())
    };
    Err(Error::file(
        gz,
        format!("{why}; looked for {name} and {name}.gz"),
    ))
}

impl Dataset for Mnist {
    type Item = (Image, i64);

    fn len(&self) -> usize {
        self.labels.len()
    }

    fn get(&self, index: usize) -> Result<(Image, i64)> {
        check_index("Mnist", index, self.labels.len())?;
        let n = self.rows * self.cols;
        let pixels = self.images[index * n..(index + 1) * n].to_vec();
        let image = Image::from_chw_u8(pixels, 1, self.rows, self.cols)?;
        Ok((image, self.labels[index] as i64))
    }
}
