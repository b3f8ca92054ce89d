//! `Tensor<B>`: strided tensors over shared storage, generic over a [`Backend`].
//!
//! A tensor is a cheap handle (`Arc`) to a backend storage shared by all its views, a
//! [`Layout`] saying which storage elements it covers, and its backend (device). Ops follow
//! PyTorch's names, arguments and semantics (broadcasting, type promotion, negative dims,
//! `keepdim`); every op that can fail returns [`Result`] with an error naming the op, shapes
//! and dtypes.
//!
//! Generic code is kept thin: shape, dim and dtype logic lives in non-generic helpers or in
//! `tiny-torch-core`, and each op ends in one backend call (or builds a view). Files:
//! `creation` (from host data, filled, ranges), `random` (seeded generators), `ops/*` (one op
//! family per file), `display` (PyTorch-like printing).

pub mod autograd;
mod creation;
mod display;
pub mod ops;
pub mod profiler;
mod random;
mod tensor;

pub use creation::NestedArray;
pub use ops::{Padding, Size2, TensorOrScalar};
pub use random::{DEFAULT_SEED, Generator, default_generator, manual_seed};
pub use tensor::Tensor;
pub use tiny_torch_core::*;
