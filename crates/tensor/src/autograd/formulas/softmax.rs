//! Backward of `softmax` and `log_softmax` (`ops/softmax.rs`); the output is recomputed from
//! the saved input rather than saved (a node never saves its own output).

use crate::Tensor;
use crate::autograd::record;
use tiny_torch_core::Backend;

/// Records `out = softmax(x, dim)` (or `log_softmax` when `log`).
pub(crate) fn record_softmax<B: Backend>(
    op: &'static str,
    x: &Tensor<B>,
    dim: isize,
    log: bool,
    out: Tensor<B>,
) -> Tensor<B> {
    record(op, out, &[x], &[x], move |ctx, g| {
        let p = ctx.saved(0).softmax(dim)?;
        let grad = if log {
            // g - softmax(x) * sum(g)
            g.sub(&p.mul(&g.sum_dim(&[dim], true)?)?)?
        } else {
            // y * (g - sum(g * y))
            p.mul(&g.sub(&g.mul(&p)?.sum_dim(&[dim], true)?)?)?
        };
        Ok(vec![Some(grad)])
    })
}
