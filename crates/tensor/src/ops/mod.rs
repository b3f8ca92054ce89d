//! Tensor ops, one op family per file. Each op checks shapes, dims and dtypes (errors name the
//! op, shapes and dtypes), then makes one backend call.

mod copy;
mod elementwise;

pub use elementwise::TensorOrScalar;
