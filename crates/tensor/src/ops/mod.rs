//! Tensor ops, one op family per file. Each op checks shapes, dims and dtypes (errors name the
//! op, shapes and dtypes), then makes one backend call (or builds a view, copying nothing).

mod batch_norm;
mod cat;
mod conv;
mod copy;
mod elementwise;
mod foreach;
mod indexing;
mod matmul;
mod overload;
mod pool;
mod reduce;
mod softmax;
mod view;

pub use conv::{Padding, Size2};
pub use elementwise::TensorOrScalar;
pub(crate) use elementwise::clamped_logs;
