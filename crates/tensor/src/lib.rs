//! `Tensor<B>`: strided tensors over shared storage, generic over a [`Backend`].
//!
//! A tensor is a cheap handle (`Arc`) to a backend storage shared by all its views, a
//! [`Layout`] saying which storage elements it covers, and its backend (device). Ops follow
//! PyTorch's names, arguments and semantics (broadcasting, type promotion, negative dims).
//!
//! Generic code is kept thin: shape, dim and dtype logic lives in non-generic helpers or in
//! `tiny-torch-core`, and each op ends in one backend call.

mod creation;
mod display;
pub mod ops;
mod random;
mod tensor;

pub use tensor::Tensor;
pub use tiny_torch_core::*;
