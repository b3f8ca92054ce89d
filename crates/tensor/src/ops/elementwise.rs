//! Element-wise ops: broadcasting, type promotion, out= and in-place forms.
//!
//! Every binary op goes through [`Tensor::binary_op`]: check devices, find the result dtype with
//! PyTorch's `result_type`, convert the inputs when needed, broadcast their layouts (stride 0, no
//! copies), allocate the output and make one backend call.

use crate::Tensor;
use tiny_torch_core::{
    Backend, BinaryOp, DType, Error, Layout, Operand, Result, Scalar, UnaryOp, View, ViewMut,
    broadcast_shapes, result_type,
};

/// The right-hand side of a binary op: a tensor or a host scalar (`x.add(&y)`, `x.add(2.0)`).
pub enum TensorOrScalar<'a, B: Backend> {
    Tensor(&'a Tensor<B>),
    Scalar(Scalar),
}

impl<'a, B: Backend> From<&'a Tensor<B>> for TensorOrScalar<'a, B> {
    fn from(t: &'a Tensor<B>) -> Self {
        TensorOrScalar::Tensor(t)
    }
}

macro_rules! scalar_rhs {
    ($($t:ty),*) => {$(
        impl<B: Backend> From<$t> for TensorOrScalar<'_, B> {
            fn from(v: $t) -> Self {
                TensorOrScalar::Scalar(Scalar::from(v))
            }
        }
    )*};
}
scalar_rhs!(f64, f32, i64, i32, bool, Scalar);

/// The broadcast shape of two tensors and their layouts expanded to it.
pub fn broadcast_pair(
    op: &'static str,
    lhs: &Layout,
    rhs: &Layout,
) -> Result<(Vec<usize>, Layout, Layout)> {
    let shape = broadcast_shapes(op, lhs.dims(), rhs.dims())?;
    Ok((shape.clone(), lhs.expand(&shape)?, rhs.expand(&shape)?))
}

/// PyTorch's `canCast`: no float into an integer, no number into a bool.
fn can_cast(from: DType, to: DType) -> bool {
    !(from.is_float() && !to.is_float()) && !(from != DType::Bool && to == DType::Bool)
}

/// The dtype a binary op computes in, given the promoted input dtype. Bool inputs stay bool for
/// add (logical or), mul (and), maximum and minimum, as in PyTorch.
fn compute_dtype(op: BinaryOp, promoted: DType) -> Result<DType> {
    use BinaryOp::*;
    Ok(match op {
        LogicalAnd | LogicalOr | LogicalXor => DType::Bool,
        Div | Atan2 => promoted.to_float(),
        Sub if promoted == DType::Bool => {
            return Err(Error::DType {
                op: "sub",
                expected: "numeric tensors (subtraction of two bool tensors is not supported; use logical_xor)".into(),
                got: DType::Bool,
            })
        }
        _ => promoted,
    })
}

impl<B: Backend> Tensor<B> {
    fn operand(&self) -> Operand {
        Operand::Tensor {
            dtype: self.dtype(),
            ndim: self.ndim(),
        }
    }

    /// A zero-dimensional tensor holding `value` as `dtype` on this tensor's backend.
    pub fn scalar_like(&self, value: Scalar, dtype: DType) -> Result<Self> {
        let t = Tensor::empty(&[], dtype, self.backend())?;
        self.backend()
            .fill(ViewMut::new(&mut t.storage_mut(), t.layout()), value)?;
        Ok(t)
    }

    fn rhs_tensor(
        &self,
        op: &'static str,
        rhs: TensorOrScalar<'_, B>,
    ) -> Result<(Tensor<B>, Operand)> {
        match rhs {
            TensorOrScalar::Tensor(t) => {
                self.check_same_device(op, t)?;
                Ok((t.clone(), t.operand()))
            }
            TensorOrScalar::Scalar(s) => {
                let dtype = result_type(&[self.operand(), Operand::Scalar(s)]);
                Ok((self.scalar_like(s, dtype)?, Operand::Scalar(s)))
            }
        }
    }

    /// `op(self, rhs)` with broadcasting and type promotion, into a new tensor.
    pub fn binary_op<'a>(
        &self,
        op: BinaryOp,
        rhs: impl Into<TensorOrScalar<'a, B>>,
    ) -> Result<Self> {
        let (rhs, rhs_operand) = self.rhs_tensor(op.name(), rhs.into())?;
        let promoted = result_type(&[self.operand(), rhs_operand]);
        let compute = compute_dtype(op, promoted)?;
        let out_dtype = if op.returns_bool() {
            DType::Bool
        } else {
            compute
        };
        let lhs = self.to_dtype(compute)?;
        let rhs = rhs.to_dtype(compute)?;
        let (shape, lhs_layout, rhs_layout) =
            broadcast_pair(op.name(), lhs.layout(), rhs.layout())?;
        let out = Tensor::empty(&shape, out_dtype, self.backend())?;
        self.backend().binary(
            op,
            View::new(&lhs.storage(), &lhs_layout),
            View::new(&rhs.storage(), &rhs_layout),
            ViewMut::new(&mut out.storage_mut(), out.layout()),
        )?;
        Ok(out)
    }

    /// `op(self, rhs)` written into `out` (PyTorch's `out=`), which must have the broadcast shape
    /// and the result dtype.
    pub fn binary_op_out<'a>(
        &self,
        op: BinaryOp,
        rhs: impl Into<TensorOrScalar<'a, B>>,
        out: &Tensor<B>,
    ) -> Result<()> {
        let (rhs, rhs_operand) = self.rhs_tensor(op.name(), rhs.into())?;
        self.check_same_device(op.name(), out)?;
        let compute = compute_dtype(op, result_type(&[self.operand(), rhs_operand]))?;
        let out_dtype = if op.returns_bool() {
            DType::Bool
        } else {
            compute
        };
        if out.dtype() != out_dtype {
            return Err(Error::DType {
                op: op.name(),
                expected: format!("out of dtype {out_dtype}"),
                got: out.dtype(),
            });
        }
        let lhs = self.to_dtype(compute)?;
        let rhs = rhs.to_dtype(compute)?;
        let (shape, lhs_layout, rhs_layout) =
            broadcast_pair(op.name(), lhs.layout(), rhs.layout())?;
        if shape != out.dims() {
            return Err(Error::shape(
                op.name(),
                format!(
                    "out has shape {}, but the result has shape {shape:?}",
                    out.shape()
                ),
            ));
        }
        if out.shares_storage_with(&lhs) || out.shares_storage_with(&rhs) {
            return Err(Error::invalid(
                op.name(),
                "out= must not share storage with an input; use the in-place form",
            ));
        }
        self.backend().binary(
            op,
            View::new(&lhs.storage(), &lhs_layout),
            View::new(&rhs.storage(), &rhs_layout),
            ViewMut::new(&mut out.storage_mut(), out.layout()),
        )
    }

    /// `self = op(self, rhs)` in place; `rhs` broadcasts to this shape and its result dtype must
    /// be castable to this dtype (an int tensor cannot take `+= 0.5`).
    pub fn binary_op_<'a>(
        &self,
        op: BinaryOp,
        rhs: impl Into<TensorOrScalar<'a, B>>,
    ) -> Result<()> {
        let (rhs, rhs_operand) = self.rhs_tensor(op.name(), rhs.into())?;
        let compute = compute_dtype(op, result_type(&[self.operand(), rhs_operand]))?;
        let result = if op.returns_bool() {
            DType::Bool
        } else {
            compute
        };
        if !can_cast(result, self.dtype()) || op.returns_bool() && self.dtype() != DType::Bool {
            return Err(Error::DType {
                op: op.name(),
                expected: format!(
                    "a result castable to the in-place output's dtype {}",
                    self.dtype()
                ),
                got: result,
            });
        }
        let rhs_layout = rhs.layout().expand(self.dims()).map_err(|_| {
            Error::shape(
                op.name(),
                format!(
                    "output with shape {} doesn't match the broadcast shape of {} and {}",
                    self.shape(),
                    self.shape(),
                    rhs.shape()
                ),
            )
        })?;
        let rhs = if rhs.shares_storage_with(self) || rhs.dtype() != self.dtype() {
            rhs.expand_to_layout(&rhs_layout)
                .to_dtype_copy(self.dtype())?
        } else {
            rhs.expand_to_layout(&rhs_layout)
        };
        self.backend().binary_inplace(
            op,
            ViewMut::new(&mut self.storage_mut(), self.layout()),
            View::new(&rhs.storage(), rhs.layout()),
        )
    }

    fn expand_to_layout(&self, layout: &Layout) -> Self {
        self.with_layout(layout.clone())
    }

    /// A fresh copy in `dtype` (even when the dtype is unchanged).
    fn to_dtype_copy(&self, dtype: DType) -> Result<Self> {
        let out = Tensor::empty(self.dims(), dtype, self.backend())?;
        self.backend().copy(
            View::new(&self.storage(), self.layout()),
            ViewMut::new(&mut out.storage_mut(), out.layout()),
        )?;
        Ok(out)
    }

    /// `op(self)` into a new tensor. Ops defined on floats take integer inputs as float32.
    pub fn unary_op(&self, op: UnaryOp) -> Result<Self> {
        let input = self.unary_input(op)?;
        let out_dtype = if op == UnaryOp::LogicalNot {
            DType::Bool
        } else {
            input.dtype()
        };
        let out = Tensor::empty(input.dims(), out_dtype, self.backend())?;
        self.backend().unary(
            op,
            View::new(&input.storage(), input.layout()),
            ViewMut::new(&mut out.storage_mut(), out.layout()),
        )?;
        Ok(out)
    }

    /// `op(self)` written into `out`, which must have this shape and the result dtype.
    pub fn unary_op_out(&self, op: UnaryOp, out: &Tensor<B>) -> Result<()> {
        let input = self.unary_input(op)?;
        self.check_same_device(op.name(), out)?;
        if out.dims() != input.dims() || out.dtype() != input.dtype() {
            return Err(Error::shape(
                op.name(),
                format!(
                    "out has shape {} and dtype {}, expected {} and {}",
                    out.shape(),
                    out.dtype(),
                    input.shape(),
                    input.dtype()
                ),
            ));
        }
        if out.shares_storage_with(&input) {
            return Err(Error::invalid(
                op.name(),
                "out= must not share storage with the input; use the in-place form",
            ));
        }
        self.backend().unary(
            op,
            View::new(&input.storage(), input.layout()),
            ViewMut::new(&mut out.storage_mut(), out.layout()),
        )
    }

    /// `self = op(self)` in place.
    pub fn unary_op_(&self, op: UnaryOp) -> Result<()> {
        if op.needs_float() && !self.dtype().is_float() {
            return Err(Error::DType {
                op: op.name(),
                expected: "a floating-point tensor for the in-place form".into(),
                got: self.dtype(),
            });
        }
        self.backend()
            .unary_inplace(op, ViewMut::new(&mut self.storage_mut(), self.layout()))
    }

    fn unary_input(&self, op: UnaryOp) -> Result<Self> {
        match op {
            UnaryOp::LogicalNot => self.to_dtype(DType::Bool),
            UnaryOp::Neg if self.dtype() == DType::Bool => Err(Error::DType {
                op: "neg",
                expected: "a numeric tensor (use logical_not on bool tensors)".into(),
                got: DType::Bool,
            }),
            _ if op.needs_float() => self.to_dtype(self.dtype().to_float()),
            _ => Ok(self.clone()),
        }
    }
}
