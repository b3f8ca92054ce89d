//! Backward of `cat` (`ops/cat.rs`; `stack` is `cat` of unsqueezed views): each input gets
//! its narrow of the gradient.

use crate::Tensor;
use crate::autograd::record;
use tiny_torch_core::Backend;

/// Records `out = cat(tensors, dim)`, where `parts` are the inputs that took part (1-D empty
/// tensors are skipped by `cat` and get a zero gradient).
pub(crate) fn record_cat<B: Backend>(
    tensors: &[&Tensor<B>],
    dim: usize,
    parts: &[usize],
    out: Tensor<B>,
) -> Tensor<B> {
    let dims: Vec<Vec<usize>> = tensors.iter().map(|t| t.dims().to_vec()).collect();
    let parts = parts.to_vec();
    record("cat", out, tensors, &[], move |ctx, g| {
        let mut start = 0;
        let mut grads = vec![None; dims.len()];
        for (i, d) in dims.iter().enumerate() {
            if parts.contains(&i) {
                let length = d[dim];
                if ctx.needs(i) {
                    grads[i] = Some(g.narrow(dim as isize, start, length)?);
                }
                start += length;
            } else if ctx.needs(i) {
                grads[i] = Some(Tensor::zeros(d, g.dtype(), g.backend())?);
            }
        }
        Ok(grads)
    })
}
