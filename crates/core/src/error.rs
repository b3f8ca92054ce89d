//! The one error type of Tiny-Torch.
//!
//! Messages name the op, the shapes, dtypes and devices involved, as PyTorch's do, so that a user
//! can find the faulty call from the message alone.

use crate::{DType, Device};
use std::path::PathBuf;

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Shapes that do not fit the op (broadcasting, matmul, view, cat, ...).
    #[error("{op}: {msg}")]
    Shape { op: &'static str, msg: String },

    /// A dimension argument outside `[-ndim, ndim)`.
    #[error("{op}: dimension out of range (expected to be in range of [{}, {}], but got {dim})", -(*.ndim.max(&1) as isize), (*.ndim.max(&1) as isize) - 1)]
    DimOutOfRange {
        op: &'static str,
        dim: isize,
        ndim: usize,
    },

    /// An index outside the size of the dimension it indexes.
    #[error("{op}: index {index} is out of bounds for dimension {dim} with size {size}")]
    IndexOutOfRange {
        op: &'static str,
        index: i64,
        dim: usize,
        size: usize,
    },

    /// A dtype the op cannot take in this position.
    #[error("{op}: expected {expected}, but got {got}")]
    DType {
        op: &'static str,
        expected: String,
        got: DType,
    },

    /// Tensors of one op on different devices.
    #[error(
        "{op}: expected all tensors to be on the same device, but found at least two devices, {lhs} and {rhs}"
    )]
    DeviceMismatch {
        op: &'static str,
        lhs: Device,
        rhs: Device,
    },

    /// A backend that does not implement an op for a dtype. Never replaced by a silent fallback.
    #[error("{op} is not supported for dtype {dtype} on the {backend} backend")]
    Unsupported {
        op: String,
        dtype: DType,
        backend: &'static str,
    },

    /// Any other bad argument (a negative size, a probability outside [0, 1], ...).
    #[error("{op}: {msg}")]
    InvalidArgument { op: &'static str, msg: String },

    /// A file that could not be read or has bad contents.
    #[error("{}: {msg}", .path.display())]
    File { path: PathBuf, msg: String },

    /// A misuse of automatic differentiation: a second backward through a freed graph, a saved
    /// tensor modified in place, an in-place op on a leaf that requires grad, a NaN found in
    /// anomaly mode. `op` names the forward op (or the autograd function) concerned.
    #[error("{op}: {msg}")]
    Autograd { op: String, msg: String },

    /// A failure inside a backend (driver error, out of memory, ...).
    #[error("{backend} backend: {msg}")]
    Backend { backend: &'static str, msg: String },

    /// A distributed step that failed: a collective that timed out (another rank died, hangs or
    /// called a different collective), a lost connection to the rendezvous store, a missing
    /// environment variable. `op` names the collective or step, with the rank where known.
    #[error("{op}: {msg}")]
    Distributed { op: String, msg: String },
}

impl Error {
    pub fn shape(op: &'static str, msg: impl Into<String>) -> Self {
        Error::Shape {
            op,
            msg: msg.into(),
        }
    }

    pub fn invalid(op: &'static str, msg: impl Into<String>) -> Self {
        Error::InvalidArgument {
            op,
            msg: msg.into(),
        }
    }

    pub fn unsupported(op: impl Into<String>, dtype: DType, backend: &'static str) -> Self {
        Error::Unsupported {
            op: op.into(),
            dtype,
            backend,
        }
    }

    pub fn autograd(op: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Autograd {
            op: op.into(),
            msg: msg.into(),
        }
    }

    pub fn distributed(op: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Distributed {
            op: op.into(),
            msg: msg.into(),
        }
    }

    pub fn file(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::File {
            path: path.into(),
            msg: msg.into(),
        }
    }
}
