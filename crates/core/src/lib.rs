//! The bottom layer of Tiny-Torch: what every other crate agrees on.
//!
//! - [`DType`], [`Element`] and [`Scalar`]: element types and PyTorch's type promotion;
//! - [`Shape`], [`Layout`]: sizes, strides (in elements) and offsets, with O(1) view functions;
//! - [`Backend`]: the one operator interface that every device implements;
//! - [`UnaryOp`], [`BinaryOp`], [`ReduceOp`], [`Distribution`]: the ops a backend computes, named
//!   by enums so that later layers (autocast, fusion) can inspect them;
//! - [`Error`]: every fallible operation in Tiny-Torch returns it;
//! - [`philox`]: the counter-based random generator that every backend implements bit for bit.
//!
//! This crate knows no tensors, no autograd and no concrete backend.

mod backend;
mod device;
mod dtype;
mod error;
mod layout;
mod nn_op;
mod op;
pub mod philox;
mod shape;

pub use backend::{Backend, BackendStorage, View, ViewMut};
pub use device::Device;
pub use dtype::{DType, Element, Operand, Scalar, f64_to_f32_round_odd, result_type};
pub use error::{Error, Result};
pub use layout::{Layout, StridedOffsets};
pub use nn_op::{BatchNormSaved, Conv2dParams, Pool2dParams};
pub use op::{BinaryOp, Distribution, ReduceOp, ScatterReduce, UnaryOp};
pub use shape::{Shape, broadcast_shapes, normalize_dim};

/// Half-precision types, re-exported so that users need not depend on `half` themselves.
pub use half::{bf16, f16};
