//! The ops a backend computes, named by enums.
//!
//! Element-wise ops are data, not code, so that later layers can inspect and combine them
//! (autocast policies per op, fused element-wise kernels generated for NVRTC or WGSL).
//!
//! Beside each enum stand the host-side checks that every backend makes the same way before it
//! computes (dtypes of operands and outputs, reduction dims), so that the backends share one
//! copy of each rule and of its error message.

use crate::{DType, Error, Result};

/// Element-wise ops of one input. Output dtype = input dtype unless stated otherwise.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UnaryOp {
    Neg,
    Abs,
    /// Float dtypes only (the tensor layer converts integers first).
    Exp,
    Log,
    Sqrt,
    Rsqrt,
    Sin,
    Cos,
    Tanh,
    Sigmoid,
    Relu,
    /// Exact GELU, `x * Φ(x)`.
    Gelu,
    /// GELU with the tanh approximation (`approximate="tanh"`).
    GeluTanh,
    Silu,
    /// `log(1 + exp(x))` with PyTorch's threshold of 20.
    Softplus,
    LeakyRelu(f64),
    Square,
    /// `x.pow(exponent)` with a scalar exponent.
    PowScalar(f64),
    /// `clamp(x, min, max)`; either bound may be absent.
    Clamp {
        min: Option<f64>,
        max: Option<f64>,
    },
    /// Logical not; output is `Bool`.
    LogicalNot,
}

impl UnaryOp {
    pub fn name(&self) -> &'static str {
        use UnaryOp::*;
        match self {
            Neg => "neg",
            Abs => "abs",
            Exp => "exp",
            Log => "log",
            Sqrt => "sqrt",
            Rsqrt => "rsqrt",
            Sin => "sin",
            Cos => "cos",
            Tanh => "tanh",
            Sigmoid => "sigmoid",
            Relu => "relu",
            Gelu => "gelu",
            GeluTanh => "gelu_tanh",
            Silu => "silu",
            Softplus => "softplus",
            LeakyRelu(_) => "leaky_relu",
            Square => "square",
            PowScalar(_) => "pow",
            Clamp { .. } => "clamp",
            LogicalNot => "logical_not",
        }
    }

    /// Ops defined only on floating-point inputs (integers are converted by the tensor layer).
    pub fn needs_float(&self) -> bool {
        use UnaryOp::*;
        matches!(
            self,
            Exp | Log
                | Sqrt
                | Rsqrt
                | Sin
                | Cos
                | Tanh
                | Sigmoid
                | Gelu
                | GeluTanh
                | Silu
                | Softplus
        )
    }

    /// The output dtype for an input of `dtype`: `Bool` for logical ops, else `dtype`.
    pub fn output_dtype(&self, dtype: DType) -> DType {
        if *self == UnaryOp::LogicalNot {
            DType::Bool
        } else {
            dtype
        }
    }

    /// Checks that `dst` is this op's output dtype for `src` (in place, `dst == src`: a logical
    /// op then needs a `Bool` tensor).
    pub fn check_dtypes(&self, src: DType, dst: DType) -> Result<()> {
        check_output_dtype(self.name(), dst, self.output_dtype(src))
    }
}

/// Element-wise ops of two inputs of the same dtype (the tensor layer promotes first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    /// True division on floats; on integers, division truncating toward zero (backends may
    /// reject integer division by zero with an error).
    Div,
    Pow,
    Maximum,
    Minimum,
    Atan2,
    /// The gradient of `relu`: `rhs <= 0 ? 0 : lhs`, with `lhs` the incoming gradient and `rhs`
    /// relu's input (or output), as PyTorch's `threshold_backward(grad, x, 0)`: a NaN in `rhs`
    /// lets the gradient through. Floats only. One pass where `grad * (x > 0)` takes three.
    ReluBackward,
    // Comparisons and logical ops: output is `Bool`.
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    LogicalAnd,
    LogicalOr,
    LogicalXor,
}

impl BinaryOp {
    /// Every op, in declaration order (for tests and shader validation that cover them all).
    pub const ALL: [BinaryOp; 18] = {
        use BinaryOp::*;
        [
            Add,
            Sub,
            Mul,
            Div,
            Pow,
            Maximum,
            Minimum,
            Atan2,
            ReluBackward,
            Eq,
            Ne,
            Lt,
            Le,
            Gt,
            Ge,
            LogicalAnd,
            LogicalOr,
            LogicalXor,
        ]
    };

    pub fn name(&self) -> &'static str {
        use BinaryOp::*;
        match self {
            Add => "add",
            Sub => "sub",
            Mul => "mul",
            Div => "div",
            Pow => "pow",
            Maximum => "maximum",
            Minimum => "minimum",
            Atan2 => "atan2",
            ReluBackward => "relu_backward",
            Eq => "eq",
            Ne => "ne",
            Lt => "lt",
            Le => "le",
            Gt => "gt",
            Ge => "ge",
            LogicalAnd => "logical_and",
            LogicalOr => "logical_or",
            LogicalXor => "logical_xor",
        }
    }

    /// Whether the output is `Bool` whatever the input dtype.
    pub fn returns_bool(&self) -> bool {
        use BinaryOp::*;
        matches!(
            self,
            Eq | Ne | Lt | Le | Gt | Ge | LogicalAnd | LogicalOr | LogicalXor
        )
    }

    /// The output dtype for inputs of `dtype`: `Bool` for comparisons and logical ops.
    pub fn output_dtype(&self, dtype: DType) -> DType {
        if self.returns_bool() {
            DType::Bool
        } else {
            dtype
        }
    }

    /// Checks that both inputs share one dtype and that `dst` is this op's output dtype for it
    /// (in place, `lhs == dst`: a comparison then needs `Bool` tensors).
    pub fn check_dtypes(&self, lhs: DType, rhs: DType, dst: DType) -> Result<()> {
        if lhs != rhs {
            return Err(Error::DType {
                op: self.name(),
                expected: format!("both operands of dtype {lhs}"),
                got: rhs,
            });
        }
        check_output_dtype(self.name(), dst, self.output_dtype(lhs))
    }
}

/// Errors unless an output has the dtype `want` the op produces.
pub fn check_output_dtype(op: &'static str, got: DType, want: DType) -> Result<()> {
    if got == want {
        return Ok(());
    }
    Err(Error::DType {
        op,
        expected: format!("an output of dtype {want}"),
        got,
    })
}

/// `matmul`'s dtypes: both operands of one dtype (every backend checks this before reading).
pub fn check_matmul_dtypes(lhs: DType, rhs: DType) -> Result<()> {
    if rhs != lhs {
        return Err(Error::DType {
            op: "matmul",
            expected: format!("both operands of dtype {lhs}"),
            got: rhs,
        });
    }
    Ok(())
}

/// `where`'s dtypes: a `Bool` condition, and `on_true`, `on_false` and `dst` of one dtype.
pub fn check_where_dtypes(cond: DType, on_true: DType, on_false: DType, dst: DType) -> Result<()> {
    if cond != DType::Bool {
        return Err(Error::DType {
            op: "where",
            expected: "a condition of dtype bool".into(),
            got: cond,
        });
    }
    if on_false != on_true {
        return Err(Error::DType {
            op: "where",
            expected: format!("on_false of dtype {on_true}"),
            got: on_false,
        });
    }
    check_output_dtype("where", dst, on_true)
}

/// `scaled_add`'s dtypes: `dst` of a float dtype (else `Unsupported` on `backend`), `src` of
/// the same dtype.
pub fn check_scaled_add_dtypes(dst: DType, src: DType, backend: &'static str) -> Result<()> {
    if !dst.is_float() {
        return Err(Error::unsupported("scaled_add", dst, backend));
    }
    if src != dst {
        return Err(Error::DType {
            op: "scaled_add",
            expected: format!("src of dst's dtype {dst}"),
            got: src,
        });
    }
    Ok(())
}

/// Reductions over a set of dims. The backend returns a contiguous result whose shape is the
/// input's with each reduced dim set to 1 (keepdim); the tensor layer squeezes when asked.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ReduceOp {
    /// Integer and bool inputs sum into `I64`, as in PyTorch.
    Sum,
    /// Float dtypes only.
    Mean,
    /// Integer and bool inputs multiply into `I64`.
    Prod,
    Max,
    Min,
    /// Index (`I64`) of the first maximum along exactly one dim.
    ArgMax,
    /// Index (`I64`) of the first minimum along exactly one dim.
    ArgMin,
    /// Variance with Bessel's `correction` (1 = unbiased); float dtypes only.
    Var {
        correction: f64,
    },
    /// `log(sum(exp(x)))`, computed stably; float dtypes only.
    LogSumExp,
    /// Logical all / any; output `Bool`.
    All,
    Any,
}

impl ReduceOp {
    pub fn name(&self) -> &'static str {
        use ReduceOp::*;
        match self {
            Sum => "sum",
            Mean => "mean",
            Prod => "prod",
            Max => "max",
            Min => "min",
            ArgMax => "argmax",
            ArgMin => "argmin",
            Var { .. } => "var",
            LogSumExp => "logsumexp",
            All => "all",
            Any => "any",
        }
    }

    /// Whether the op returns an index (`ArgMax`, `ArgMin`), which reduces exactly one dim.
    pub fn is_arg(&self) -> bool {
        matches!(self, ReduceOp::ArgMax | ReduceOp::ArgMin)
    }

    /// Whether the op needs at least one element to reduce (no identity to start from).
    pub fn needs_elements(&self) -> bool {
        use ReduceOp::*;
        matches!(self, Max | Min | ArgMax | ArgMin)
    }

    /// Checks the dims of a reduction of an input of shape `input` as [`Backend::reduce`]
    /// takes them (sorted, distinct, in range; exactly one for arg-reductions; not empty for
    /// the ops without an identity) and returns the dims to reduce: none for a zero-dim input,
    /// which reduces over its one element whatever dim (0 or -1) was named.
    ///
    /// [`Backend::reduce`]: crate::Backend::reduce
    pub fn check_dims<'a>(&self, input: &[usize], dims: &'a [usize]) -> Result<&'a [usize]> {
        let name = self.name();
        let ndim = input.len();
        let dims: &[usize] = if ndim == 0 { &[] } else { dims };
        if dims.windows(2).any(|w| w[0] >= w[1]) {
            return Err(Error::invalid(
                name,
                format!("reduction dims {dims:?} must be sorted and distinct"),
            ));
        }
        if let Some(&d) = dims.iter().find(|&&d| d >= ndim) {
            return Err(Error::DimOutOfRange {
                op: name,
                dim: d as isize,
                ndim,
            });
        }
        if self.is_arg() && ndim > 0 && dims.len() != 1 {
            return Err(Error::invalid(
                name,
                format!("expects exactly one dim, got {dims:?}"),
            ));
        }
        if self.needs_elements() && dims.iter().any(|&d| input[d] == 0) {
            return Err(Error::invalid(
                name,
                format!(
                    "Expected reduction dim to have non-zero size (input shape {input:?}, dims \
                     {dims:?})"
                ),
            ));
        }
        Ok(dims)
    }
}

/// How `scatter` combines the source into the destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScatterReduce {
    Assign,
    Add,
}

impl ScatterReduce {
    /// The op's name in errors: `scatter` or `scatter_add`.
    pub fn name(&self) -> &'static str {
        match self {
            ScatterReduce::Assign => "scatter",
            ScatterReduce::Add => "scatter_add",
        }
    }
}

/// Distributions of [`Backend::random`](crate::Backend::random), all drawn from the Philox stream
/// described in [`philox`](crate::philox).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Distribution {
    /// Uniform on `[low, high)`.
    Uniform { low: f64, high: f64 },
    /// Normal with the given mean and standard deviation.
    Normal { mean: f64, std: f64 },
    /// 1 with probability `p`, else 0.
    Bernoulli { p: f64 },
    /// Integers uniform on `[low, high)`.
    RandInt { low: i64, high: i64 },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reduce_dims_are_checked() {
        assert_eq!(
            ReduceOp::Sum.check_dims(&[2, 3, 4], &[0, 2]).unwrap(),
            &[0, 2]
        );
        assert_eq!(
            ReduceOp::ArgMax.check_dims(&[], &[0]).unwrap(),
            &[] as &[usize]
        );
        assert!(matches!(
            ReduceOp::Sum.check_dims(&[2, 3], &[1, 0]),
            Err(Error::InvalidArgument { .. })
        ));
        assert!(matches!(
            ReduceOp::Sum.check_dims(&[2, 3], &[2]),
            Err(Error::DimOutOfRange {
                dim: 2,
                ndim: 2,
                ..
            })
        ));
        let err = ReduceOp::ArgMin.check_dims(&[2, 3], &[0, 1]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "argmin: expects exactly one dim, got [0, 1]"
        );
        assert!(ReduceOp::ArgMin.check_dims(&[2, 3], &[]).is_err());
        // Sum of nothing is 0; max of nothing is an error.
        assert!(ReduceOp::Sum.check_dims(&[0, 3], &[0]).is_ok());
        assert!(ReduceOp::Max.check_dims(&[3, 0], &[0]).is_ok());
        let err = ReduceOp::Max.check_dims(&[0, 3], &[0]).unwrap_err();
        assert!(err.to_string().contains("non-zero size"), "{err}");
    }

    #[test]
    fn element_wise_dtypes_are_checked() {
        use DType::*;
        assert!(BinaryOp::Add.check_dtypes(F32, F32, F32).is_ok());
        assert!(BinaryOp::Lt.check_dtypes(I64, I64, Bool).is_ok());
        let err = BinaryOp::Add.check_dtypes(F32, F64, F32).unwrap_err();
        assert_eq!(
            err.to_string(),
            "add: expected both operands of dtype float32, but got float64"
        );
        let err = BinaryOp::Lt.check_dtypes(F32, F32, F32).unwrap_err();
        assert_eq!(
            err.to_string(),
            "lt: expected an output of dtype bool, but got float32"
        );
        assert!(UnaryOp::LogicalNot.check_dtypes(Bool, Bool).is_ok());
        assert!(UnaryOp::LogicalNot.check_dtypes(I32, I32).is_err());
        assert!(UnaryOp::Exp.check_dtypes(F16, F16).is_ok());
        assert!(check_where_dtypes(Bool, F32, F32, F32).is_ok());
        assert!(check_where_dtypes(U8, F32, F32, F32).is_err());
        let err = check_where_dtypes(Bool, F32, I32, F32).unwrap_err();
        assert!(
            err.to_string().contains("on_false of dtype float32"),
            "{err}"
        );
        assert!(check_where_dtypes(Bool, F32, F32, F64).is_err());
        assert_eq!(ScatterReduce::Add.name(), "scatter_add");
    }
}
