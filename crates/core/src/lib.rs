//! The bottom layer of Tiny-Torch: what every other crate agrees on.
//!
//! - [`DType`], [`Element`] and [`Scalar`]: element types and PyTorch's type promotion;
//! - [`Shape`], [`Layout`]: sizes, strides (in elements) and offsets, with O(1) view functions;
//! - [`Backend`]: the one operator interface that every device implements;
//! - [`UnaryOp`], [`BinaryOp`], [`ReduceOp`], [`Distribution`]: the ops a backend computes, named
//!   by enums so that later layers (autocast, fusion) can inspect them;
//! - [`Error`]: every fallible operation in Tiny-Torch returns it;
//! - [`philox`]: the counter-based random generator that every backend implements bit for bit;
//! - the host-side checks every backend makes before it computes, one copy beside the op
//!   descriptions they check: [`check_extent`] and [`check_same_dims`] for any view,
//!   [`ReduceOp::check_dims`], [`BinaryOp::check_dtypes`], [`UnaryOp::check_dtypes`],
//!   [`check_where_dtypes`], the [`indexing`] checks, and those of the neural-network ops
//!   ([`Conv2dParams::check_shapes`], [`Pool2dParams::check_max_pool2d`], [`check_batch_norm`], ...).
//!
//! This crate knows no tensors, no autograd and no concrete backend.

mod backend;
mod device;
mod dtype;
mod error;
pub mod indexing;
mod layout;
mod nn_op;
mod op;
pub mod philox;
mod shape;

pub use backend::{Backend, BackendStorage, ScaledAddPair, View, ViewMut};
pub use device::Device;
pub use dtype::{DType, Element, Operand, Scalar, f64_to_f32_round_odd, result_type};
pub use error::{Error, Result};
pub use layout::{Layout, StridedOffsets, check_extent, check_same_dims};
pub use nn_op::{
    BatchNormSaved, Conv2dParams, Pool2dParams, check_adaptive_avg_pool2d,
    check_adaptive_avg_pool2d_backward, check_batch_norm, check_batch_norm_backward,
    check_conv_dims, check_conv_planes, check_max_pool2d_backward, check_same_dtype, conv_dims,
};
pub use op::{
    BinaryOp, Distribution, ReduceOp, ScatterReduce, UnaryOp, check_matmul_dtypes,
    check_output_dtype, check_scaled_add_dtypes, check_where_dtypes,
};
pub use shape::{Shape, broadcast_shapes, normalize_dim};

/// Half-precision types, re-exported so that users need not depend on `half` themselves.
pub use half::{bf16, f16};

/// A storage that only knows its dtype and length, for the checks' tests.
#[cfg(test)]
#[derive(Debug)]
pub(crate) struct FakeStorage {
    pub dtype: DType,
    pub len: usize,
}

#[cfg(test)]
impl BackendStorage for FakeStorage {
    fn dtype(&self) -> DType {
        self.dtype
    }
    fn len(&self) -> usize {
        self.len
    }
}
