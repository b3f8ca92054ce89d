//! Matrix products: `matmul` (PyTorch's rules for 1-D, 2-D and batched operands), `mm`, `bmm`.
//!
//! Every case becomes one backend call on 3-D layouts `[b, m, k] x [b, k, n]`: 1-D operands get
//! a size-1 dim (removed from the result), batch dims broadcast as stride-0 dims and merge into
//! one when the strides allow it, transposed operands keep their strides (no copy). Only batch
//! dims whose strides cannot merge are copied, as PyTorch's `reshape` would. The contiguous
//! `[b, m, n]` result is then relabelled with the output shape.

use crate::Tensor;
use crate::autograd::formulas::matmul::record_matmul;
use crate::tensor::checked_numel;
use tiny_torch_core::{Backend, Error, Layout, Result, View, broadcast_shapes};

/// One operand of the backend call: the operand's layout expanded to its batched shape, and
/// the 3-D shape it must take.
struct Operand3d {
    expanded: Layout,
    shape: [usize; 3],
}

struct MatmulPlan {
    lhs: Operand3d,
    rhs: Operand3d,
    out_shape: Vec<usize>,
    k: usize,
}

/// Checks shapes and lays out `lhs @ rhs` as one batched product (non-generic).
fn matmul_plan(op: &'static str, lhs: &Layout, rhs: &Layout) -> Result<MatmulPlan> {
    let (ls, rs) = (lhs.dims(), rhs.dims());
    if ls.is_empty() || rs.is_empty() {
        return Err(Error::shape(
            op,
            format!(
                "both arguments to matmul need to be at least 1D, but they are {}D and {}D \
                 (shapes {ls:?} and {rs:?})",
                ls.len(),
                rs.len()
            ),
        ));
    }
    let lhs2 = if ls.len() == 1 {
        lhs.unsqueeze(0)?
    } else {
        lhs.clone()
    };
    let rhs2 = if rs.len() == 1 {
        rhs.unsqueeze(1)?
    } else {
        rhs.clone()
    };
    let (lb, lm) = lhs2.dims().split_at(lhs2.ndim() - 2);
    let (rb, rm) = rhs2.dims().split_at(rhs2.ndim() - 2);
    let (m, k, k2, n) = (lm[0], lm[1], rm[0], rm[1]);
    if k != k2 {
        return Err(Error::shape(
            op,
            format!("shapes {ls:?} and {rs:?} cannot be multiplied ({k} != {k2})"),
        ));
    }
    let batch = broadcast_shapes(op, lb, rb).map_err(|_| {
        Error::shape(
            op,
            format!(
                "shapes {ls:?} and {rs:?} cannot be multiplied: batch dimensions {lb:?} and \
                 {rb:?} do not broadcast"
            ),
        )
    })?;
    let b = checked_numel(op, &batch)?;
    let mut out_shape = batch.clone();
    if ls.len() > 1 {
        out_shape.push(m);
    }
    if rs.len() > 1 {
        out_shape.push(n);
    }
    // A batched lhs times an unbatched rhs folds the batch into the rows: one [b*m, k] x [k, n]
    // product, when lhs's strides allow the merge.
    if rb.is_empty()
        && !lb.is_empty()
        && let Some(rows) = b.checked_mul(m)
        && let Ok(folded) = lhs2.view(&[1, rows, k])
    {
        return Ok(MatmulPlan {
            lhs: Operand3d {
                expanded: folded,
                shape: [1, rows, k],
            },
            rhs: Operand3d {
                expanded: rhs2.unsqueeze(0)?,
                shape: [1, k, n],
            },
            out_shape,
            k,
        });
    }
    let full = |dims: [usize; 2]| [batch.as_slice(), &dims].concat();
    Ok(MatmulPlan {
        lhs: Operand3d {
            expanded: lhs2.expand(&full([m, k]))?,
            shape: [b, m, k],
        },
        rhs: Operand3d {
            expanded: rhs2.expand(&full([k, n]))?,
            shape: [b, k, n],
        },
        out_shape,
        k,
    })
}

impl<B: Backend> Tensor<B> {
    /// This tensor under `operand`'s 3-D layout: a view when the batch dims merge, otherwise a
    /// contiguous copy of the expanded operand.
    fn as_3d(&self, operand: &Operand3d) -> Result<(Self, Layout)> {
        match operand.expanded.view(&operand.shape) {
            Ok(layout) => Ok((self.clone(), layout)),
            Err(_) => {
                let copy = self
                    .with_layout(operand.expanded.clone())
                    .copy_to_new(self.dtype())?;
                Ok((copy, Layout::contiguous(operand.shape)))
            }
        }
    }

    fn matmul_named(&self, op: &'static str, other: &Tensor<B>) -> Result<Self> {
        self.check_same_device(op, other)?;
        if self.dtype() != other.dtype() {
            return Err(Error::DType {
                op,
                expected: format!(
                    "both operands of one dtype, {} like self (shapes {} and {})",
                    self.dtype(),
                    self.shape(),
                    other.shape()
                ),
                got: other.dtype(),
            });
        }
        let plan = matmul_plan(op, self.layout(), other.layout())?;
        let backend = self.backend();
        let out = if plan.out_shape.contains(&0) {
            Tensor::empty(&plan.out_shape, self.dtype(), backend)?
        } else if plan.k == 0 {
            Tensor::zeros(&plan.out_shape, self.dtype(), backend)?
        } else {
            let (lhs, lhs_layout) = self.as_3d(&plan.lhs)?;
            let (rhs, rhs_layout) = other.as_3d(&plan.rhs)?;
            let storage = Tensor::read([&lhs, &rhs], |[l, r]| {
                backend.matmul(View::new(l, &lhs_layout), View::new(r, &rhs_layout))
            })?;
            Tensor::from_storage(storage, plan.out_shape, backend)
        };
        Ok(record_matmul(op, self, other, out))
    }

    /// `torch.matmul`: dot product of 1-D tensors (0-dim result), matrix product of 2-D ones, a
    /// 1-D operand as a row (left) or column (right) vector that the result drops, and batched
    /// products with broadcast batch dims. Operands must share a dtype.
    pub fn matmul(&self, other: &Tensor<B>) -> Result<Self> {
        self.matmul_named("matmul", other)
    }

    /// `torch.mm`: the product of two matrices (2-D only).
    pub fn mm(&self, other: &Tensor<B>) -> Result<Self> {
        for (name, t) in [("self", self), ("mat2", other)] {
            if t.ndim() != 2 {
                return Err(Error::shape(
                    "mm",
                    format!("{name} must be a matrix, but got shape {}", t.shape()),
                ));
            }
        }
        self.matmul_named("mm", other)
    }

    /// `torch.bmm`: batched matrix products of two 3-D tensors with the same batch size (no
    /// broadcasting).
    pub fn bmm(&self, other: &Tensor<B>) -> Result<Self> {
        for (name, t) in [("batch1", self), ("batch2", other)] {
            if t.ndim() != 3 {
                return Err(Error::shape(
                    "bmm",
                    format!("{name} must be a 3D tensor, but got shape {}", t.shape()),
                ));
            }
        }
        if self.dims()[0] != other.dims()[0] {
            return Err(Error::shape(
                "bmm",
                format!(
                    "batch1 and batch2 must have same number of batches, got {} and {} (shapes \
                     {} and {})",
                    self.dims()[0],
                    other.dims()[0],
                    self.shape(),
                    other.shape()
                ),
            ));
        }
        self.matmul_named("bmm", other)
    }
}
