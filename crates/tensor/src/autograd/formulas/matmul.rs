//! Backward of `matmul` in all its forms (`ops/matmul.rs`): 1-D operands are given their
//! size-1 dim back, the two products are taken, and broadcast batch dims are summed away.

use crate::Tensor;
use crate::autograd::record;
use tiny_torch_core::{Backend, Result};

fn isize_dims(dims: &[usize]) -> Vec<isize> {
    dims.iter().map(|&d| d as isize).collect()
}

/// Records `out = a @ b` under the name `op` (`matmul`, `mm`, `bmm`).
pub(crate) fn record_matmul<B: Backend>(
    op: &'static str,
    a: &Tensor<B>,
    b: &Tensor<B>,
    out: Tensor<B>,
) -> Tensor<B> {
    record(op, out, &[a, b], &[a, b], move |ctx, g| {
        let (a, b) = (ctx.saved(0), ctx.saved(1));
        let a2 = if a.ndim() == 1 {
            a.unsqueeze(0)?
        } else {
            a.clone()
        };
        let b2 = if b.ndim() == 1 {
            b.unsqueeze(1)?
        } else {
            b.clone()
        };
        let mut g2 = g.clone();
        if a.ndim() == 1 {
            g2 = if g2.ndim() == 0 {
                g2.unsqueeze(0)?
            } else {
                g2.unsqueeze(-2)?
            };
        }
        if b.ndim() == 1 {
            g2 = g2.unsqueeze(-1)?;
        }
        let fit = |t: Tensor<B>, two_d: &Tensor<B>, orig: &Tensor<B>| -> Result<Tensor<B>> {
            t.sum_to_size(two_d.dims())?
                .reshape(&isize_dims(orig.dims()))
        };
        let ga = ctx.grad_if(0, || fit(g2.matmul(&b2.transpose(-1, -2)?)?, &a2, a))?;
        let gb = ctx.grad_if(1, || fit(a2.transpose(-1, -2)?.matmul(&g2)?, &b2, b))?;
        Ok(vec![ga, gb])
    })
}
