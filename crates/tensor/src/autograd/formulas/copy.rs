//! Backward of copies (`ops/copy.rs`): `clone`/`contiguous` pass the gradient through,
//! `to_dtype` casts it back to the input's dtype.

use crate::Tensor;
use crate::autograd::record;
use tiny_torch_core::Backend;

/// Records `out`, a copy of `x` (in another dtype for `to_dtype`).
pub(crate) fn record_copy<B: Backend>(x: &Tensor<B>, out: Tensor<B>) -> Tensor<B> {
    let dtype = x.dtype();
    let op = if out.dtype() == dtype {
        "clone"
    } else {
        "to_dtype"
    };
    record(op, out, &[x], &[], move |_, g| {
        Ok(vec![Some(g.to_dtype(dtype)?)])
    })
}
