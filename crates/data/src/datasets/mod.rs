//! Readers of standard data sets: MNIST and Fashion-MNIST ([`Mnist`]), CIFAR-10
//! ([`Cifar10`]) and a folder of images per class ([`ImageFolder`]).
//!
//! Every reader checks what it reads and returns `Error::File` naming the file for a missing
//! file, a bad magic number, truncated data or a label/image count mismatch; none panics on bad
//! input.

mod cifar;
mod folder;
mod mnist;

pub use cifar::{CIFAR10_CLASSES, Cifar10};
pub use folder::{IMAGE_EXTENSIONS, ImageFolder};
pub use mnist::{FASHION_MNIST_CLASSES, MNIST_CLASSES, Mnist, read_idx_u8};

use flate2::read::GzDecoder;
use std::io::Read;
use std::path::Path;
use tiny_torch_core::{Error, Result};

/// The bytes of `path`, gunzipped when they start with the gzip magic bytes.
pub(crate) fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|e| Error::file(path, format!("cannot read: {e}")))?;
    gunzip_if_needed(raw, path)
}

pub(crate) fn gunzip_if_needed(raw: Vec<u8>, path: &Path) -> Result<Vec<u8>> {
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        GzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| {
                Error::file(
                    path,
                    format!("bad gzip data (truncated or corrupt file?): {e}"),
                )
            })?;
        Ok(out)
    } else {
        Ok(raw)
    }
}
