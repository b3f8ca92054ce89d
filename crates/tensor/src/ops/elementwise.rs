//! Element-wise ops: broadcasting, type promotion, out= and in-place forms, and the named
//! methods (`add`, `exp`, `relu`, `clamp`, ...) on top of them.
//!
//! Every binary op goes through one path: check devices, find the result dtype with PyTorch's
//! `result_type` (a host scalar ranks below tensors), convert the inputs when needed, broadcast
//! their layouts (stride 0, no copies), and make one backend call into a fresh output. In-place
//! forms check that the result dtype can be cast to the destination's dtype and read a snapshot
//! of any input that shares the destination's storage. Under autograd, an in-place form on a
//! tensor in a graph is recorded by computing the out-of-place op and rebasing the tensor's
//! history (`Tensor::inplace_recorded`); `out=` forms are not differentiable.

use crate::Tensor;
use crate::autograd::formulas::elementwise::{
    record_binary, record_binary_cross_entropy, record_log_sigmoid, record_unary,
};
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

/// The broadcast shape of two layouts and both layouts expanded to it.
fn broadcast_pair(
    op: &'static str,
    lhs: &Layout,
    rhs: &Layout,
) -> Result<(Vec<usize>, Layout, Layout)> {
    let shape = broadcast_shapes(op, lhs.dims(), rhs.dims())?;
    Ok((shape.clone(), lhs.expand(&shape)?, rhs.expand(&shape)?))
}

/// PyTorch's `canCast`: no float into an integer, no number into a bool.
fn can_cast(from: DType, to: DType) -> bool {
    let float_to_integer = from.is_float() && !to.is_float();
    let number_to_bool = from != DType::Bool && to == DType::Bool;
    !(float_to_integer || number_to_bool)
}

/// The dtype a binary op computes in, given the promoted input dtype. Bool inputs stay bool for
/// add (logical or), mul (and), maximum and minimum, as in PyTorch.
fn compute_dtype(op: BinaryOp, promoted: DType) -> Result<DType> {
    use BinaryOp::*;
    Ok(match op {
        LogicalAnd | LogicalOr | LogicalXor => DType::Bool,
        Div | Atan2 | ReluBackward => promoted.to_float(),
        Sub if promoted == DType::Bool => {
            return Err(Error::DType {
                op: "sub",
                expected: "numeric tensors (subtraction of two bool tensors is not supported; \
                           use logical_xor)"
                    .into(),
                got: DType::Bool,
            });
        }
        _ => promoted,
    })
}

/// Whether `op` computing in `compute` with `rhs` runs in f32 instead: PyTorch's f16 and bf16
/// arithmetic (add, sub, mul, div) computes in float ("opmath") with a host scalar taken as a
/// float, and rounds the result once, so a scalar the half type cannot hold exactly (65536 or
/// 1e5 in f16, 1e-3 in either) must not be rounded to it first. Exact scalars give the same
/// result in the half type. (PyTorch's comparisons convert the scalar to the half type:
/// `f16(0.1) == 0.1` is true, so they stay as they are.)
fn computes_in_f32<B: Backend>(op: BinaryOp, compute: DType, rhs: &TensorOrScalar<'_, B>) -> bool {
    use BinaryOp::*;
    let TensorOrScalar::Scalar(s) = rhs else {
        return false;
    };
    if !matches!(op, Add | Sub | Mul | Div) {
        return false;
    }
    let v = s.to_f64();
    let held = match compute {
        DType::F16 => half::f16::from_f64(v).to_f64(),
        DType::BF16 => half::bf16::from_f64(v).to_f64(),
        _ => return false,
    };
    held != v && !v.is_nan()
}

/// PyTorch's rule for an integer tensor raised to a host scalar: a negative exponent is an
/// error (the result would be 0 for most bases; a tensor exponent is computed as is).
fn check_integer_exponent(op: &'static str, exponent: Scalar) -> Result<()> {
    if exponent.to_f64() < 0.0 {
        return Err(Error::invalid(
            op,
            format!("integers to negative integer powers are not allowed (exponent {exponent:?})"),
        ));
    }
    Ok(())
}

/// The output dtype of a binary op computing in `compute`.
fn output_dtype(op: BinaryOp, compute: DType) -> DType {
    if op.returns_bool() {
        DType::Bool
    } else {
        compute
    }
}

/// The name of the in-place form of a binary op, for error messages.
fn inplace_name(op: BinaryOp) -> &'static str {
    use BinaryOp::*;
    match op {
        Add => "add_",
        Sub => "sub_",
        Mul => "mul_",
        Div => "div_",
        Pow => "pow_",
        Maximum => "maximum_",
        Minimum => "minimum_",
        Atan2 => "atan2_",
        ReluBackward => "relu_backward_",
        Eq => "eq_",
        Ne => "ne_",
        Lt => "lt_",
        Le => "le_",
        Gt => "gt_",
        Ge => "ge_",
        LogicalAnd => "logical_and_",
        LogicalOr => "logical_or_",
        LogicalXor => "logical_xor_",
    }
}

/// The error of an in-place or out= op whose result dtype cannot be cast to the output's.
fn cast_error(op: &'static str, result: DType, out: DType, shapes: String) -> Error {
    Error::DType {
        op,
        expected: format!("a result type castable to the output's dtype {out} ({shapes})"),
        got: result,
    }
}

/// The dtype `clamp` computes in: an integer tensor clamped by a fractional bound becomes
/// float32, as `int_tensor.clamp(0.5)` does in PyTorch. Integral bounds act like Python ints and
/// keep the integer dtype.
fn clamp_dtype(dtype: DType, min: Option<f64>, max: Option<f64>) -> Result<DType> {
    if min.is_none() && max.is_none() {
        return Err(Error::invalid(
            "clamp",
            "at least one of 'min' or 'max' must not be None",
        ));
    }
    let fractional = [min, max]
        .into_iter()
        .flatten()
        .any(|b| b.fract() != 0.0 || !b.is_finite());
    Ok(if fractional { dtype.to_float() } else { dtype })
}

/// Inputs of a binary op converted to the compute dtype and broadcast to the output shape.
struct Prepared<B: Backend> {
    lhs: Tensor<B>,
    rhs: Tensor<B>,
    shape: Vec<usize>,
    lhs_layout: Layout,
    rhs_layout: Layout,
    out_dtype: DType,
}

impl<B: Backend> Tensor<B> {
    pub(crate) fn operand(&self) -> Operand {
        Operand::Tensor {
            dtype: self.dtype(),
            ndim: self.ndim(),
        }
    }

    /// A zero-dimensional tensor holding `value` as `dtype` on this tensor's backend.
    pub fn scalar_like(&self, value: Scalar, dtype: DType) -> Result<Self> {
        // Converted as arithmetic converts (wrapping), not range-checked as `full` is.
        let backend = self.backend();
        Tensor::build(&[], dtype, backend, |dst| backend.fill(dst, value))
    }

    /// The operand of `rhs` for type promotion, checking its device.
    fn rhs_operand(&self, op: &'static str, rhs: &TensorOrScalar<'_, B>) -> Result<Operand> {
        Ok(match rhs {
            TensorOrScalar::Tensor(t) => {
                self.check_same_device(op, t)?;
                t.operand()
            }
            TensorOrScalar::Scalar(s) => Operand::Scalar(*s),
        })
    }

    /// `rhs` as a tensor of `dtype` (a scalar becomes a zero-dimensional tensor).
    fn rhs_as(&self, rhs: &TensorOrScalar<'_, B>, dtype: DType) -> Result<Self> {
        match rhs {
            TensorOrScalar::Tensor(t) => t.to_dtype(dtype),
            TensorOrScalar::Scalar(s) => self.scalar_like(*s, dtype),
        }
    }

    /// Promotes, converts and broadcasts the inputs of `op(self, rhs)` (of `op(rhs, self)` when
    /// `reversed`, as in `2.0 - x`).
    fn prepare(
        &self,
        op: BinaryOp,
        rhs: &TensorOrScalar<'_, B>,
        reversed: bool,
    ) -> Result<Prepared<B>> {
        let rhs_operand = self.rhs_operand(op.name(), rhs)?;
        let compute = compute_dtype(op, result_type(&[self.operand(), rhs_operand]))?;
        let mut lhs = self.to_dtype(compute)?;
        let mut rhs = self.rhs_as(rhs, compute)?;
        if reversed {
            std::mem::swap(&mut lhs, &mut rhs);
        }
        let (shape, lhs_layout, rhs_layout) =
            broadcast_pair(op.name(), lhs.layout(), rhs.layout())?;
        Ok(Prepared {
            lhs,
            rhs,
            shape,
            lhs_layout,
            rhs_layout,
            out_dtype: output_dtype(op, compute),
        })
    }

    fn run_binary(&self, op: BinaryOp, p: Prepared<B>) -> Result<Self> {
        let out = Tensor::build(&p.shape, p.out_dtype, self.backend(), |dst| {
            Tensor::read([&p.lhs, &p.rhs], |[l, r]| {
                self.backend().binary(
                    op,
                    View::new(l, &p.lhs_layout),
                    View::new(r, &p.rhs_layout),
                    dst,
                )
            })
        })?;
        Ok(record_binary(op, &p.lhs, &p.rhs, out))
    }

    /// `op(self, rhs)` with broadcasting and type promotion, into a new tensor.
    pub fn binary_op<'a>(
        &self,
        op: BinaryOp,
        rhs: impl Into<TensorOrScalar<'a, B>>,
    ) -> Result<Self> {
        self.binary_op_either_way(op, &rhs.into(), false)
    }

    /// `op(lhs, self)` for a scalar `lhs` (`2.0 - x`, `1.0 / x`).
    pub(crate) fn binary_op_reversed(&self, op: BinaryOp, lhs: Scalar) -> Result<Self> {
        self.binary_op_either_way(op, &TensorOrScalar::Scalar(lhs), true)
    }

    /// `op(self, rhs)`, or `op(rhs, self)` when `reversed`.
    fn binary_op_either_way(
        &self,
        op: BinaryOp,
        rhs: &TensorOrScalar<'_, B>,
        reversed: bool,
    ) -> Result<Self> {
        let prepared = self.prepare(op, rhs, reversed)?;
        let compute = prepared.lhs.dtype(); // (both operands are in the compute dtype)
        if computes_in_f32(op, compute, rhs) {
            // The value in f32; the graph records the op on the half operands (so it saves
            // what the half op saves, not an f32 copy; its gradient takes the scalar rounded
            // to the half type).
            let exact = {
                let _guard = crate::autograd::no_grad();
                let wide = self.to_dtype(DType::F32)?;
                let out = wide.run_binary(op, wide.prepare(op, rhs, reversed)?)?;
                out.to_dtype(output_dtype(op, compute))?
            };
            return Ok(record_binary(op, &prepared.lhs, &prepared.rhs, exact));
        }
        self.run_binary(op, prepared)
    }

    /// `op(self, rhs)` written into `out` (PyTorch's `out=`): `out` must have the broadcast
    /// shape and a dtype the result can be cast to; it may share storage with an input.
    pub fn binary_op_out<'a>(
        &self,
        op: BinaryOp,
        rhs: impl Into<TensorOrScalar<'a, B>>,
        out: &Tensor<B>,
    ) -> Result<()> {
        self.check_same_device(op.name(), out)?;
        out.check_writable(op.name())?;
        let rhs: TensorOrScalar<'_, B> = rhs.into();
        match &rhs {
            TensorOrScalar::Tensor(t) => out.check_out(op.name(), &[self, *t])?,
            TensorOrScalar::Scalar(_) => out.check_out(op.name(), &[self])?,
        }
        let p = self.prepare(op, &rhs, false)?;
        if p.shape != out.dims() {
            return Err(Error::shape(
                op.name(),
                format!(
                    "out has shape {}, but the result of inputs of shapes {} and {} has shape \
                     {:?}",
                    out.shape(),
                    p.lhs.shape(),
                    p.rhs.shape(),
                    p.shape
                ),
            ));
        }
        if !can_cast(p.out_dtype, out.dtype()) {
            let shapes = format!("out has shape {}", out.shape());
            return Err(cast_error(op.name(), p.out_dtype, out.dtype(), shapes));
        }
        if computes_in_f32(op, p.lhs.dtype(), &rhs) {
            return out.copy_(&self.binary_op(op, rhs)?);
        }
        let direct = out.dtype() == p.out_dtype
            && !out.shares_storage_with(&p.lhs)
            && !out.shares_storage_with(&p.rhs);
        if !direct {
            return out.copy_(&self.run_binary(op, p)?);
        }
        Tensor::read([&p.lhs, &p.rhs], |[l, r]| {
            self.backend().binary(
                op,
                View::new(l, &p.lhs_layout),
                View::new(r, &p.rhs_layout),
                ViewMut::new(&mut out.storage_mut(), out.layout()),
            )
        })
    }

    /// `self = op(self, rhs)` in place; `rhs` broadcasts to this shape and the result dtype must
    /// be castable to this dtype (an int tensor cannot take `+= 0.5`). Comparisons write 0 or 1
    /// in this dtype, as `x.lt_(y)` does.
    pub fn binary_op_<'a>(
        &self,
        op: BinaryOp,
        rhs: impl Into<TensorOrScalar<'a, B>>,
    ) -> Result<()> {
        let name = inplace_name(op);
        let rhs = rhs.into();
        let rhs_operand = self.rhs_operand(name, &rhs)?;
        self.check_writable(name)?;
        let record = match &rhs {
            TensorOrScalar::Tensor(t) => self.check_inplace(name, &[*t])?,
            TensorOrScalar::Scalar(_) => self.check_inplace(name, &[])?,
        };
        let rhs_shape = match &rhs {
            TensorOrScalar::Tensor(t) => t.shape().to_string(),
            TensorOrScalar::Scalar(_) => "[]".into(),
        };
        let shape_error = || {
            Error::shape(
                name,
                format!(
                    "output with shape {} doesn't match the broadcast shape of {} and {rhs_shape}",
                    self.shape(),
                    self.shape(),
                ),
            )
        };
        if op.returns_bool() {
            let result = self.binary_op(op, rhs)?;
            if result.dims() != self.dims() {
                return Err(shape_error());
            }
            return self.copy_(&result);
        }
        let compute = compute_dtype(op, result_type(&[self.operand(), rhs_operand]))?;
        if !can_cast(compute, self.dtype()) {
            let shapes = format!("shapes {} and {rhs_shape}", self.shape());
            return Err(cast_error(name, compute, self.dtype(), shapes));
        }
        if compute != self.dtype() || computes_in_f32(op, compute, &rhs) {
            // PyTorch computes in the promoted dtype (f32 for a half tensor and a scalar it
            // cannot hold) and casts on the store: `f16.mul_(f32 tensor)`, `i32.add_(i64)`.
            if record {
                let needs_old = !matches!(op, BinaryOp::Add | BinaryOp::Sub);
                return self.inplace_recorded(name, needs_old, |old| old.binary_op(op, rhs));
            }
            let result = self.binary_op(op, rhs)?;
            if result.dims() != self.dims() {
                return Err(shape_error());
            }
            return self.copy_(&result);
        }
        let rhs = self.rhs_as(&rhs, self.dtype())?.snapshot_if_shared(self)?;
        if record {
            if rhs.layout().expand(self.dims()).is_err() {
                return Err(shape_error());
            }
            // Add and Sub save nothing; the other formulas save their input.
            let needs_old = !matches!(op, BinaryOp::Add | BinaryOp::Sub);
            return self.inplace_recorded(name, needs_old, |old| old.binary_op(op, &rhs));
        }
        let rhs_layout = rhs
            .layout()
            .expand(self.dims())
            .map_err(|_| shape_error())?;
        Tensor::read([&rhs], |[r]| {
            self.backend().binary_inplace(
                op,
                ViewMut::new(&mut self.storage_mut(), self.layout()),
                View::new(r, &rhs_layout),
            )
        })
    }

    /// `self = alpha * self + beta * other` in place: PyTorch's `self.mul_(alpha).add_(other,
    /// alpha=beta)`, the update optimizers apply to parameters and their state. `other`
    /// broadcasts to this shape. Float tensors of one dtype outside autograd go to the
    /// backend's fused `scaled_add` where it has one (CUDA and wgpu: one kernel; CPU: one
    /// pass; all rounded once); everything else (a backend without it, integers, mixed dtypes,
    /// an update autograd records) runs as `mul_` then `add_`, with their type promotion and
    /// errors.
    pub fn scaled_add_(&self, alpha: f64, other: &Tensor<B>, beta: f64) -> Result<()> {
        const NAME: &str = "scaled_add_";
        self.check_same_device(NAME, other)?;
        self.check_writable(NAME)?;
        let record = self.check_inplace(NAME, &[other])?;
        if !record && self.dtype().is_float() && other.dtype() == self.dtype() {
            let source = other.snapshot_if_shared(self)?;
            let source_layout = source.layout().expand(self.dims()).map_err(|_| {
                Error::shape(
                    NAME,
                    format!(
                        "output with shape {} doesn't match the broadcast shape of {} and {}",
                        self.shape(),
                        self.shape(),
                        other.shape()
                    ),
                )
            })?;
            let fused = Tensor::read([&source], |[s]| {
                self.backend().scaled_add(
                    ViewMut::new(&mut self.storage_mut(), self.layout()),
                    View::new(s, &source_layout),
                    alpha,
                    beta,
                )
            });
            match fused {
                // No fused kernel on this backend: the element-wise ops below.
                Err(Error::Unsupported { .. }) => {}
                done => return done,
            }
        }
        // `other` may share this tensor's storage (`x.scaled_add_(a, &x, b)`): it is read
        // before `mul_` changes it, through a snapshot (which autograd records as a copy, so
        // no saved tensor of the addend is the one written below).
        let other = other.snapshot_if_shared(self)?;
        let addend = if beta != 1.0 { other.mul(beta)? } else { other };
        if alpha != 1.0 {
            self.mul_(alpha)?;
        }
        self.add_(&addend)
    }

    /// `op(self)` into a new tensor. Ops defined on floats take integer inputs as float32.
    pub fn unary_op(&self, op: UnaryOp) -> Result<Self> {
        let input = self.unary_input(op)?;
        let out_dtype = if op == UnaryOp::LogicalNot {
            DType::Bool
        } else {
            input.dtype()
        };
        let out = Tensor::build(input.dims(), out_dtype, self.backend(), |dst| {
            Tensor::read([&input], |[s]| {
                self.backend().unary(op, View::new(s, input.layout()), dst)
            })
        })?;
        Ok(record_unary(op, &input, out))
    }

    /// `op(self)` written into `out`, which must have this shape and a dtype the result can be
    /// cast to; it may be `self` itself.
    pub fn unary_op_out(&self, op: UnaryOp, out: &Tensor<B>) -> Result<()> {
        self.check_same_device(op.name(), out)?;
        out.check_writable(op.name())?;
        out.check_out(op.name(), &[self])?;
        if out.dims() != self.dims() {
            return Err(Error::shape(
                op.name(),
                format!(
                    "out has shape {}, but the input has shape {}",
                    out.shape(),
                    self.shape()
                ),
            ));
        }
        let input = self.unary_input(op)?;
        let out_dtype = if op == UnaryOp::LogicalNot {
            DType::Bool
        } else {
            input.dtype()
        };
        if !can_cast(out_dtype, out.dtype()) {
            let shapes = format!("shape {}", self.shape());
            return Err(cast_error(op.name(), out_dtype, out.dtype(), shapes));
        }
        if out.dtype() != out_dtype || out.shares_storage_with(&input) {
            return out.copy_(&input.unary_op(op)?);
        }
        Tensor::read([&input], |[s]| {
            self.backend().unary(
                op,
                View::new(s, input.layout()),
                ViewMut::new(&mut out.storage_mut(), out.layout()),
            )
        })
    }

    /// `self = op(self)` in place (`logical_not_` writes 0 or 1 in this dtype).
    pub fn unary_op_(&self, op: UnaryOp) -> Result<()> {
        self.check_writable(op.name())?;
        let record = self.check_inplace(op.name(), &[])?;
        if op == UnaryOp::LogicalNot {
            return self.copy_(&self.unary_op(op)?);
        }
        let input_dtype = self.unary_input_dtype(op)?;
        if input_dtype != self.dtype() {
            let shapes = format!("shape {}", self.shape());
            return Err(cast_error(op.name(), input_dtype, self.dtype(), shapes));
        }
        if record {
            let needs_old = op != UnaryOp::Neg;
            return self.inplace_recorded(op.name(), needs_old, |old| old.unary_op(op));
        }
        self.backend()
            .unary_inplace(op, ViewMut::new(&mut self.storage_mut(), self.layout()))
    }

    /// The dtype `op` computes in for this tensor: float32 for integer inputs of float-only ops.
    fn unary_input_dtype(&self, op: UnaryOp) -> Result<DType> {
        match op {
            UnaryOp::LogicalNot => Ok(DType::Bool),
            UnaryOp::Neg if self.dtype() == DType::Bool => Err(Error::DType {
                op: "neg",
                expected: format!(
                    "a numeric tensor (use logical_not on bool tensors; shape {})",
                    self.shape()
                ),
                got: DType::Bool,
            }),
            _ if op.needs_float() => Ok(self.dtype().to_float()),
            _ => Ok(self.dtype()),
        }
    }

    fn unary_input(&self, op: UnaryOp) -> Result<Self> {
        self.to_dtype(self.unary_input_dtype(op)?)
    }

    /// `self ** exponent` (`torch.pow`); a float scalar exponent makes an integer tensor float.
    pub fn pow<'a>(&self, exponent: impl Into<TensorOrScalar<'a, B>>) -> Result<Self> {
        match exponent.into() {
            TensorOrScalar::Scalar(s) => {
                let dtype = result_type(&[self.operand(), Operand::Scalar(s)]);
                if dtype.is_float() {
                    self.to_dtype(dtype)?
                        .unary_op(UnaryOp::PowScalar(s.to_f64()))
                } else {
                    check_integer_exponent("pow", s)?;
                    self.binary_op(BinaryOp::Pow, s)
                }
            }
            rhs => self.binary_op(BinaryOp::Pow, rhs),
        }
    }

    /// `self = self ** exponent` in place.
    pub fn pow_<'a>(&self, exponent: impl Into<TensorOrScalar<'a, B>>) -> Result<()> {
        match exponent.into() {
            TensorOrScalar::Scalar(s) if self.dtype().is_float() => {
                self.unary_op_(UnaryOp::PowScalar(s.to_f64()))
            }
            TensorOrScalar::Scalar(s) if !matches!(s, Scalar::Float(_)) => {
                check_integer_exponent("pow_", s)?;
                self.binary_op_(BinaryOp::Pow, s)
            }
            rhs => self.binary_op_(BinaryOp::Pow, rhs),
        }
    }

    /// `self + rhs` written into `out`.
    pub fn add_out<'a>(
        &self,
        rhs: impl Into<TensorOrScalar<'a, B>>,
        out: &Tensor<B>,
    ) -> Result<()> {
        self.binary_op_out(BinaryOp::Add, rhs, out)
    }

    /// `relu(self)` written into `out`.
    pub fn relu_out(&self, out: &Tensor<B>) -> Result<()> {
        self.unary_op_out(UnaryOp::Relu, out)
    }

    /// `torch.nn.functional.leaky_relu(self, negative_slope)`.
    pub fn leaky_relu(&self, negative_slope: f64) -> Result<Self> {
        self.unary_op(UnaryOp::LeakyRelu(negative_slope))
    }

    pub fn leaky_relu_(&self, negative_slope: f64) -> Result<()> {
        self.unary_op_(UnaryOp::LeakyRelu(negative_slope))
    }

    /// `torch.clamp(self, min, max)`; either bound may be `None`, not both.
    pub fn clamp(&self, min: Option<f64>, max: Option<f64>) -> Result<Self> {
        self.to_dtype(clamp_dtype(self.dtype(), min, max)?)?
            .unary_op(UnaryOp::Clamp { min, max })
    }

    pub fn clamp_(&self, min: Option<f64>, max: Option<f64>) -> Result<()> {
        let dtype = clamp_dtype(self.dtype(), min, max)?;
        if dtype != self.dtype() {
            let shapes = format!("shape {}", self.shape());
            return Err(cast_error("clamp_", dtype, self.dtype(), shapes));
        }
        self.unary_op_(UnaryOp::Clamp { min, max })
    }

    pub fn clamp_min(&self, min: f64) -> Result<Self> {
        self.clamp(Some(min), None)
    }

    pub fn clamp_max(&self, max: f64) -> Result<Self> {
        self.clamp(None, Some(max))
    }

    pub fn clamp_min_(&self, min: f64) -> Result<()> {
        self.clamp_(Some(min), None)
    }

    pub fn clamp_max_(&self, max: f64) -> Result<()> {
        self.clamp_(None, Some(max))
    }

    /// `F.logsigmoid(self)` = `log(sigmoid(x))`, stable for every x as
    /// `min(x, 0) - log(1 + exp(-|x|))` (softplus of a non-positive number is below its
    /// threshold, so exact), differentiated as one smooth function: `sigmoid(-x)`, as PyTorch's
    /// log_sigmoid_backward (the kinks of `min` and `|x|` would each pass a one-sided
    /// gradient at 0).
    pub fn log_sigmoid(&self) -> Result<Self> {
        let value = {
            let _guard = crate::autograd::no_grad();
            self.clamp_max(0.0)?.sub(&self.abs()?.neg()?.softplus()?)?
        };
        Ok(record_log_sigmoid(self, value))
    }

    /// `torch.binary_cross_entropy(self, target, reduction='none')` on probabilities:
    /// `-(y log(x) + (1 - y) log(1 - x))` per element, each log clamped at -100 as PyTorch
    /// does, differentiated as PyTorch's binary_cross_entropy_backward: `(x - y) / max(x (1 -
    /// x), 1e-12)` for the input (finite at x = 0 and 1, where the clamped logs would give
    /// `0 * inf`) and `log(1 - x) - log(x)` (clamped) for the target.
    pub fn binary_cross_entropy(&self, target: &Tensor<B>) -> Result<Self> {
        if self.dims() != target.dims() {
            return Err(Error::shape(
                "binary_cross_entropy",
                format!(
                    "target size {} must be the same as input size {}",
                    target.shape(),
                    self.shape()
                ),
            ));
        }
        let value = {
            let _guard = crate::autograd::no_grad();
            let (log_p, log_q) = clamped_logs(self)?;
            target
                .mul(&log_p)?
                .add(&target.neg()?.add(1.0)?.mul(&log_q)?)?
                .neg()?
        };
        Ok(record_binary_cross_entropy(self, target, value))
    }
}

/// `log(x)` and `log(1 - x)`, each clamped at -100 (binary cross-entropy's terms).
pub(crate) fn clamped_logs<B: Backend>(x: &Tensor<B>) -> Result<(Tensor<B>, Tensor<B>)> {
    Ok((
        x.log()?.clamp_min(-100.0)?,
        x.neg()?.add(1.0)?.log()?.clamp_min(-100.0)?,
    ))
}

macro_rules! binary_methods {
    ($($name:ident => $op:ident),* $(,)?) => {
        impl<B: Backend> Tensor<B> {$(
            #[doc = concat!("`torch.", stringify!($name), "(self, rhs)` with broadcasting and type promotion.")]
            pub fn $name<'a>(&self, rhs: impl Into<TensorOrScalar<'a, B>>) -> Result<Self> {
                self.binary_op(BinaryOp::$op, rhs)
            }
        )*}
    };
}

binary_methods!(
    add => Add, sub => Sub, mul => Mul, div => Div, maximum => Maximum, minimum => Minimum,
    atan2 => Atan2, relu_backward => ReluBackward, eq => Eq, ne => Ne, lt => Lt, le => Le,
    gt => Gt, ge => Ge,
    logical_and => LogicalAnd, logical_or => LogicalOr, logical_xor => LogicalXor,
);

macro_rules! binary_inplace_methods {
    ($($name:ident => $op:ident),* $(,)?) => {
        impl<B: Backend> Tensor<B> {$(
            #[doc = concat!("In-place `", stringify!($name), "`: the result must be castable to this dtype.")]
            pub fn $name<'a>(&self, rhs: impl Into<TensorOrScalar<'a, B>>) -> Result<()> {
                self.binary_op_(BinaryOp::$op, rhs)
            }
        )*}
    };
}

binary_inplace_methods!(add_ => Add, sub_ => Sub, mul_ => Mul, div_ => Div);

macro_rules! unary_methods {
    ($($name:ident, $inplace:ident => $op:ident),* $(,)?) => {
        impl<B: Backend> Tensor<B> {$(
            #[doc = concat!("`torch.", stringify!($name), "(self)`.")]
            pub fn $name(&self) -> Result<Self> {
                self.unary_op(UnaryOp::$op)
            }

            #[doc = concat!("`self.", stringify!($inplace), "()`: ", stringify!($name), " in place.")]
            pub fn $inplace(&self) -> Result<()> {
                self.unary_op_(UnaryOp::$op)
            }
        )*}
    };
}

unary_methods!(
    neg, neg_ => Neg, abs, abs_ => Abs, exp, exp_ => Exp, log, log_ => Log, sqrt, sqrt_ => Sqrt,
    rsqrt, rsqrt_ => Rsqrt, sin, sin_ => Sin, cos, cos_ => Cos, tanh, tanh_ => Tanh,
    sigmoid, sigmoid_ => Sigmoid, relu, relu_ => Relu, gelu, gelu_ => Gelu,
    gelu_tanh, gelu_tanh_ => GeluTanh, silu, silu_ => Silu, softplus, softplus_ => Softplus,
    square, square_ => Square, logical_not, logical_not_ => LogicalNot,
);
