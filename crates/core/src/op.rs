//! The ops a backend computes, named by enums.
//!
//! Element-wise ops are data, not code, so that later layers can inspect and combine them
//! (autocast policies per op, fused element-wise kernels generated for NVRTC or WGSL).

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
}

/// How `scatter` combines the source into the destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScatterReduce {
    Assign,
    Add,
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
