//! Tensor ops, one op family per file. Each op checks shapes, dims and dtypes (errors name the
//! op, shapes and dtypes), then makes one backend call (or builds a view, copying nothing).

mod cat;
mod copy;
mod elementwise;
mod indexing;
mod matmul;
mod overload;
mod reduce;
mod softmax;
mod view;

pub use elementwise::TensorOrScalar;
