//! Golden op names mapped to Tiny-Torch expressions (the table of the reference README).
//!
//! [`lookup`] turns an op name into a [`Kind`] without looking at a backend; [`eval`] is the only
//! generic function: it reads the case's `args` and calls the tensor API. An op name that is not
//! listed here is "not run", never passed.
//!
//! Linear, losses, normalization layers, convolutions, pooling and batch norm
//! (`cross_entropy`, `layer_norm`, `conv2d`, `max_pool2d`, ...) call `tiny_torch_nn::functional`.

use crate::{BinaryOp, Error, Padding, Result, Size2, Tensor, UnaryOp};
use serde_json::{Map, Value};
use tiny_torch_core::Backend;
use tiny_torch_nn::functional::{self as F, Reduction};

/// Every op name of the golden files that this runner evaluates.
pub const SUPPORTED_OPS: &[&str] = &[
    // element-wise, one input
    "neg",
    "abs",
    "exp",
    "exp_f64",
    "log",
    "sqrt",
    "rsqrt",
    "sin",
    "cos",
    "tanh",
    "sigmoid",
    "relu",
    "gelu",
    "gelu_tanh",
    "silu",
    "softplus",
    "square",
    "leaky_relu",
    "clamp",
    "pow_scalar",
    "dropout_eval",
    // element-wise, two or three inputs
    "add",
    "add_int_float",
    "add_f16",
    "sub",
    "mul",
    "div",
    "div_int_int",
    "maximum",
    "minimum",
    "pow",
    "atan2",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "where",
    // reductions
    "sum",
    "sum_dim",
    "sum_dims_keepdim",
    "mean_dim",
    "prod_dim",
    "var_dim",
    "var_dim_unbiased0",
    "std_dim",
    "logsumexp",
    "amax_dim",
    "max_dim",
    "argmax_dim",
    "norm",
    // softmax
    "softmax",
    "softmax_dim0",
    "log_softmax",
    // linear algebra
    "matmul",
    "matmul_bf16",
    "matmul_transposed_view",
    "linear",
    // views and copies
    "permute",
    "transpose_slice",
    "narrow",
    "expand",
    "cat",
    "stack",
    "reshape_noncontig",
    // indexing
    "index_select",
    "gather",
    "scatter_add",
    "masked_fill",
    "embedding",
    // losses and normalization, as tensor expressions
    "mse_loss",
    "l1_loss",
    "smooth_l1",
    "bce_with_logits",
    "cross_entropy",
    "cross_entropy_smooth",
    "cross_entropy_ignore",
    "cross_entropy_sum",
    "nll_loss",
    "layer_norm",
    "group_norm",
    // convolution
    "conv2d",
    "conv_transpose2d",
    // pooling and batch norm
    "max_pool2d",
    "max_pool2d_k2",
    "avg_pool2d",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool2d_3",
    "batch_norm_train",
    "batch_norm_eval",
];

/// How a golden op is computed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Kind {
    Unary(UnaryOp),
    LeakyRelu,
    Clamp,
    PowScalar,
    Identity,
    Binary(BinaryOp),
    Where,
    Sum,
    SumDim,
    MeanDim,
    ProdDim,
    Var,
    Std,
    LogSumExp,
    AmaxDim,
    MaxDim,
    ArgmaxDim,
    Norm,
    Softmax,
    LogSoftmax,
    Matmul,
    MatmulTransposedView,
    Linear,
    Permute,
    TransposeSlice,
    Narrow,
    Expand,
    Cat,
    Stack,
    ReshapeNoncontig,
    IndexSelect,
    Gather,
    ScatterAdd,
    MaskedFill,
    Embedding,
    MseLoss,
    L1Loss,
    SmoothL1,
    BceWithLogits,
    CrossEntropy,
    NllLoss,
    LayerNorm,
    GroupNorm,
    Conv2d,
    ConvTranspose2d,
    MaxPool2d,
    AvgPool2d,
    AdaptiveAvgPool2d,
    BatchNorm,
}

/// The computation of a golden op name; `None` when this runner does not know it.
pub(crate) fn lookup(op: &str) -> Option<Kind> {
    use Kind::*;
    Some(match op {
        "neg" => Unary(UnaryOp::Neg),
        "abs" => Unary(UnaryOp::Abs),
        "exp" | "exp_f64" => Unary(UnaryOp::Exp),
        "log" => Unary(UnaryOp::Log),
        "sqrt" => Unary(UnaryOp::Sqrt),
        "rsqrt" => Unary(UnaryOp::Rsqrt),
        "sin" => Unary(UnaryOp::Sin),
        "cos" => Unary(UnaryOp::Cos),
        "tanh" => Unary(UnaryOp::Tanh),
        "sigmoid" => Unary(UnaryOp::Sigmoid),
        "relu" => Unary(UnaryOp::Relu),
        "gelu" => Unary(UnaryOp::Gelu),
        "gelu_tanh" => Unary(UnaryOp::GeluTanh),
        "silu" => Unary(UnaryOp::Silu),
        "softplus" => Unary(UnaryOp::Softplus),
        "square" => Unary(UnaryOp::Square),
        "leaky_relu" => LeakyRelu,
        "clamp" => Clamp,
        "pow_scalar" => PowScalar,
        "dropout_eval" => Identity,
        "add" | "add_int_float" | "add_f16" => Binary(BinaryOp::Add),
        "sub" => Binary(BinaryOp::Sub),
        "mul" => Binary(BinaryOp::Mul),
        "div" | "div_int_int" => Binary(BinaryOp::Div),
        "maximum" => Binary(BinaryOp::Maximum),
        "minimum" => Binary(BinaryOp::Minimum),
        "pow" => Binary(BinaryOp::Pow),
        "atan2" => Binary(BinaryOp::Atan2),
        "eq" => Binary(BinaryOp::Eq),
        "ne" => Binary(BinaryOp::Ne),
        "lt" => Binary(BinaryOp::Lt),
        "le" => Binary(BinaryOp::Le),
        "gt" => Binary(BinaryOp::Gt),
        "ge" => Binary(BinaryOp::Ge),
        "where" => Where,
        "sum" => Sum,
        "sum_dim" | "sum_dims_keepdim" => SumDim,
        "mean_dim" => MeanDim,
        "prod_dim" => ProdDim,
        "var_dim" | "var_dim_unbiased0" => Var,
        "std_dim" => Std,
        "logsumexp" => LogSumExp,
        "amax_dim" => AmaxDim,
        "max_dim" => MaxDim,
        "argmax_dim" => ArgmaxDim,
        "norm" => Norm,
        "softmax" | "softmax_dim0" => Softmax,
        "log_softmax" => LogSoftmax,
        "matmul" | "matmul_bf16" => Matmul,
        "matmul_transposed_view" => MatmulTransposedView,
        "linear" => Linear,
        "permute" => Permute,
        "transpose_slice" => TransposeSlice,
        "narrow" => Narrow,
        "expand" => Expand,
        "cat" => Cat,
        "stack" => Stack,
        "reshape_noncontig" => ReshapeNoncontig,
        "index_select" => IndexSelect,
        "gather" => Gather,
        "scatter_add" => ScatterAdd,
        "masked_fill" => MaskedFill,
        "embedding" => Embedding,
        "mse_loss" => MseLoss,
        "l1_loss" => L1Loss,
        "smooth_l1" => SmoothL1,
        "bce_with_logits" => BceWithLogits,
        "cross_entropy" | "cross_entropy_smooth" | "cross_entropy_ignore" | "cross_entropy_sum" => {
            CrossEntropy
        }
        "nll_loss" => NllLoss,
        "layer_norm" => LayerNorm,
        "group_norm" => GroupNorm,
        "conv2d" => Conv2d,
        "conv_transpose2d" => ConvTranspose2d,
        "max_pool2d" | "max_pool2d_k2" => MaxPool2d,
        "avg_pool2d" => AvgPool2d,
        "adaptive_avg_pool2d" | "adaptive_avg_pool2d_3" => AdaptiveAvgPool2d,
        "batch_norm_train" | "batch_norm_eval" => BatchNorm,
        _ => return None,
    })
}

/// Typed access to a case's `args`, with errors naming the argument.
struct Args<'a>(&'a Map<String, Value>);

fn bad_arg(key: &str, expected: &str, got: Option<&Value>) -> Error {
    let got = got.map_or_else(|| "nothing".to_string(), Value::to_string);
    Error::invalid(
        "conformance",
        format!("args.{key}: expected {expected}, got {got}"),
    )
}

impl Args<'_> {
    fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    fn int(&self, key: &str) -> Result<i64> {
        self.get(key)
            .and_then(Value::as_i64)
            .ok_or_else(|| bad_arg(key, "an integer", self.get(key)))
    }

    fn dim(&self, key: &str) -> Result<isize> {
        let v = self.int(key)?;
        isize::try_from(v).map_err(|_| bad_arg(key, "a dimension", self.get(key)))
    }

    fn size(&self, key: &str) -> Result<usize> {
        let v = self.int(key)?;
        usize::try_from(v).map_err(|_| bad_arg(key, "a size >= 0", self.get(key)))
    }

    /// An integer or a list of integers (`dim=1`, `dim=(0, 2)`).
    fn dims(&self, key: &str) -> Result<Vec<isize>> {
        let bad = || bad_arg(key, "an integer or a list of integers", self.get(key));
        match self.get(key) {
            Some(Value::Array(list)) => list
                .iter()
                .map(|v| {
                    v.as_i64()
                        .and_then(|i| isize::try_from(i).ok())
                        .ok_or_else(bad)
                })
                .collect(),
            Some(v) => Ok(vec![
                v.as_i64()
                    .and_then(|i| isize::try_from(i).ok())
                    .ok_or_else(bad)?,
            ]),
            None => Err(bad()),
        }
    }

    fn float(&self, key: &str) -> Result<f64> {
        self.get(key)
            .and_then(Value::as_f64)
            .ok_or_else(|| bad_arg(key, "a number", self.get(key)))
    }

    fn float_or(&self, key: &str, default: f64) -> Result<f64> {
        match self.get(key) {
            None => Ok(default),
            Some(_) => self.float(key),
        }
    }

    fn opt_float(&self, key: &str) -> Result<Option<f64>> {
        match self.get(key) {
            None => Ok(None),
            Some(_) => self.float(key).map(Some),
        }
    }

    fn int_or(&self, key: &str, default: i64) -> Result<i64> {
        match self.get(key) {
            None => Ok(default),
            Some(_) => self.int(key),
        }
    }

    fn bool_or(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .as_bool()
                .ok_or_else(|| bad_arg(key, "true or false", Some(v))),
        }
    }

    fn size_or(&self, key: &str, default: usize) -> Result<usize> {
        match self.get(key) {
            None => Ok(default),
            Some(_) => self.size(key),
        }
    }

    /// A spatial pair, `default` when absent (PyTorch's `stride=None` for pooling).
    fn pair_or_size(&self, key: &str, default: Size2) -> Result<Size2> {
        match self.get(key) {
            None => Ok(default),
            Some(_) => self.pair_or(key, 0),
        }
    }

    /// A list of numbers (`running_mean=[0.1, ...]`).
    fn floats(&self, key: &str) -> Result<Vec<f64>> {
        self.get(key)
            .and_then(Value::as_array)
            .and_then(|list| list.iter().map(Value::as_f64).collect::<Option<Vec<f64>>>())
            .ok_or_else(|| bad_arg(key, "a list of numbers", self.get(key)))
    }

    /// A spatial pair (`stride=2` or `stride=(2, 1)`), `default` when absent.
    fn pair_or(&self, key: &str, default: usize) -> Result<Size2> {
        let bad = || bad_arg(key, "a size or a list of two sizes", self.get(key));
        let size = |v: &Value| v.as_u64().and_then(|s| usize::try_from(s).ok());
        match self.get(key) {
            None => Ok(Size2([default; 2])),
            Some(Value::Array(list)) => match list.as_slice() {
                [h, w] => Ok(Size2([size(h).ok_or_else(bad)?, size(w).ok_or_else(bad)?])),
                _ => Err(bad()),
            },
            Some(v) => Ok(Size2([size(v).ok_or_else(bad)?; 2])),
        }
    }

    fn str_or<'s>(&'s self, key: &str, default: &'s str) -> Result<&'s str> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.as_str().ok_or_else(|| bad_arg(key, "a string", Some(v))),
        }
    }
}

/// The inputs of a case, checked for count.
fn inputs<B: Backend, const N: usize>(kind: Kind, given: &[Tensor<B>]) -> Result<[&Tensor<B>; N]> {
    let refs: Vec<&Tensor<B>> = given.iter().collect();
    refs.try_into().map_err(|refs: Vec<&Tensor<B>>| {
        Error::invalid(
            "conformance",
            format!(
                "{kind:?} takes {N} inputs, but the case gives {}",
                refs.len()
            ),
        )
    })
}

/// Computes the outputs of one case on the inputs' backend.
pub(crate) fn eval<B: Backend>(
    kind: Kind,
    args: &Map<String, Value>,
    given: &[Tensor<B>],
) -> Result<Vec<Tensor<B>>> {
    use Kind::*;
    let args = Args(args);
    let one = |t: Tensor<B>| Ok(vec![t]);
    match kind {
        Unary(op) => one(inputs::<B, 1>(kind, given)?[0].unary_op(op)?),
        LeakyRelu => {
            let [x] = inputs(kind, given)?;
            one(x.leaky_relu(args.float_or("negative_slope", 0.01)?)?)
        }
        Clamp => {
            let [x] = inputs(kind, given)?;
            one(x.clamp(args.opt_float("min")?, args.opt_float("max")?)?)
        }
        PowScalar => {
            let [x] = inputs(kind, given)?;
            one(x.pow(args.float("exponent")?)?)
        }
        Identity => {
            let [x] = inputs(kind, given)?;
            if args.bool_or("training", false)? {
                return Err(Error::invalid(
                    "conformance",
                    "dropout in training mode cannot be compared with fixed outputs",
                ));
            }
            one(x.clone())
        }
        Binary(op) => {
            let [a, b] = inputs(kind, given)?;
            one(a.binary_op(op, b)?)
        }
        Where => {
            let [cond, a, b] = inputs(kind, given)?;
            one(Tensor::where_cond(cond, a, b)?)
        }
        Sum => one(inputs::<B, 1>(kind, given)?[0].sum()?),
        SumDim => {
            let [x] = inputs(kind, given)?;
            one(x.sum_dim(&args.dims("dim")?, args.bool_or("keepdim", false)?)?)
        }
        MeanDim => {
            let [x] = inputs(kind, given)?;
            one(x.mean_dim(&args.dims("dim")?, args.bool_or("keepdim", false)?)?)
        }
        ProdDim => {
            let [x] = inputs(kind, given)?;
            one(x.prod_dim(args.dim("dim")?, args.bool_or("keepdim", false)?)?)
        }
        Var | Std => {
            let [x] = inputs(kind, given)?;
            let dims = args.dims("dim")?;
            let correction = args.float_or("correction", 1.0)?;
            let keepdim = args.bool_or("keepdim", false)?;
            one(if kind == Var {
                x.var(&dims, correction, keepdim)?
            } else {
                x.std(&dims, correction, keepdim)?
            })
        }
        LogSumExp => {
            let [x] = inputs(kind, given)?;
            one(x.logsumexp(&args.dims("dim")?, args.bool_or("keepdim", false)?)?)
        }
        AmaxDim => {
            let [x] = inputs(kind, given)?;
            one(x.amax(&args.dims("dim")?, args.bool_or("keepdim", false)?)?)
        }
        MaxDim => {
            let [x] = inputs(kind, given)?;
            let (values, indices) = x.max_dim(args.dim("dim")?, args.bool_or("keepdim", false)?)?;
            Ok(vec![values, indices])
        }
        ArgmaxDim => {
            let [x] = inputs(kind, given)?;
            one(x.argmax(Some(args.dim("dim")?), args.bool_or("keepdim", false)?)?)
        }
        Norm => {
            let [x] = inputs(kind, given)?;
            if args.float_or("ord", 2.0)? != 2.0 || args.get("dim").is_some() {
                return Err(Error::invalid(
                    "conformance",
                    "only the 2-norm over all elements is mapped (args.ord = 2, no args.dim)",
                ));
            }
            one(x.norm()?)
        }
        Softmax => one(inputs::<B, 1>(kind, given)?[0].softmax(args.dim("dim")?)?),
        LogSoftmax => one(inputs::<B, 1>(kind, given)?[0].log_softmax(args.dim("dim")?)?),
        Matmul => {
            let [a, b] = inputs(kind, given)?;
            one(a.matmul(b)?)
        }
        MatmulTransposedView => {
            let [a, b] = inputs(kind, given)?;
            one(a.t()?.matmul(b)?)
        }
        Linear => linear(kind, given).map(|y| vec![y]),
        Permute => {
            let [x] = inputs(kind, given)?;
            one(x.permute(&args.dims("dims")?)?.contiguous()?)
        }
        TransposeSlice => {
            // x.transpose(0, 1)[1:, ::2].contiguous()
            let [x] = inputs(kind, given)?;
            let view = x
                .transpose(0, 1)?
                .slice(0, 1, isize::MAX, 1)?
                .slice(1, 0, isize::MAX, 2)?;
            one(view.contiguous()?)
        }
        Narrow => {
            let [x] = inputs(kind, given)?;
            one(x.narrow(args.dim("dim")?, args.size("start")?, args.size("length")?)?)
        }
        Expand => {
            let [x] = inputs(kind, given)?;
            one(x.expand(&args.dims("size")?)?)
        }
        Cat | Stack => {
            let refs: Vec<&Tensor<B>> = given.iter().collect();
            let dim = args.dim("dim")?;
            one(if kind == Cat {
                Tensor::cat(&refs, dim)?
            } else {
                Tensor::stack(&refs, dim)?
            })
        }
        ReshapeNoncontig => one(inputs::<B, 1>(kind, given)?[0].t()?.reshape(&[-1])?),
        IndexSelect => {
            let [x, index] = inputs(kind, given)?;
            one(x.index_select(args.dim("dim")?, index)?)
        }
        Gather => {
            let [x, index] = inputs(kind, given)?;
            one(x.gather(args.dim("dim")?, index)?)
        }
        ScatterAdd => {
            let [x, index, src] = inputs(kind, given)?;
            one(x.scatter_add(args.dim("dim")?, index, src)?)
        }
        MaskedFill => {
            let [x, mask] = inputs(kind, given)?;
            one(x.masked_fill(mask, args.float("value")?)?)
        }
        Embedding => {
            let [indices, weight] = inputs(kind, given)?;
            one(F::embedding(indices, weight)?)
        }
        MseLoss | L1Loss | SmoothL1 | BceWithLogits => {
            let [input, target] = inputs(kind, given)?;
            let reduction = Reduction::parse(args.str_or("reduction", "mean")?)?;
            one(match kind {
                MseLoss => F::mse_loss(input, target, reduction)?,
                L1Loss => F::l1_loss(input, target, reduction)?,
                SmoothL1 => {
                    F::smooth_l1_loss(input, target, reduction, args.float_or("beta", 1.0)?)?
                }
                _ => F::binary_cross_entropy_with_logits(input, target, None, None, reduction)?,
            })
        }
        CrossEntropy | NllLoss => {
            let [logits, target] = inputs(kind, given)?;
            let options = F::CrossEntropyOptions {
                weight: None,
                ignore_index: args.int_or("ignore_index", -100)?,
                label_smoothing: args.float_or("label_smoothing", 0.0)?,
                reduction: Reduction::parse(args.str_or("reduction", "mean")?)?,
            };
            // The golden nll_loss case is `F.nll_loss(F.log_softmax(x, 1), t)` on logits x.
            one(if kind == NllLoss {
                F::nll_loss_with(&F::log_softmax(logits, 1)?, target, &options)?
            } else {
                F::cross_entropy_with(logits, target, &options)?
            })
        }
        LayerNorm => {
            let x = given.first().ok_or_else(|| missing_input(kind))?;
            let shape = args
                .get("normalized_shape")
                .and_then(Value::as_array)
                .and_then(|sizes| {
                    sizes
                        .iter()
                        .map(|v| v.as_u64().map(|d| d as usize))
                        .collect::<Option<Vec<usize>>>()
                })
                .ok_or_else(|| {
                    bad_arg(
                        "normalized_shape",
                        "a list of sizes",
                        args.get("normalized_shape"),
                    )
                })?;
            one(F::layer_norm(
                x,
                &shape,
                given.get(1),
                given.get(2),
                args.float_or("eps", 1e-5)?,
            )?)
        }
        GroupNorm => {
            let x = given.first().ok_or_else(|| missing_input(kind))?;
            one(F::group_norm(
                x,
                args.size("num_groups")?,
                given.get(1),
                given.get(2),
                args.float_or("eps", 1e-5)?,
            )?)
        }
        Conv2d => {
            let (x, w, bias) = conv_inputs(kind, given)?;
            let padding = match args.get("padding") {
                Some(Value::String(s)) => Padding::parse(s)?,
                _ => args.pair_or("padding", 0)?.into(),
            };
            one(F::conv2d(
                x,
                w,
                bias,
                args.pair_or("stride", 1)?,
                padding,
                args.pair_or("dilation", 1)?,
                args.size_or("groups", 1)?,
            )?)
        }
        ConvTranspose2d => {
            let (x, w, bias) = conv_inputs(kind, given)?;
            one(F::conv_transpose2d(
                x,
                w,
                bias,
                args.pair_or("stride", 1)?,
                args.pair_or("padding", 0)?,
                args.pair_or("output_padding", 0)?,
                args.size_or("groups", 1)?,
                args.pair_or("dilation", 1)?,
            )?)
        }
        MaxPool2d => {
            let [x] = inputs(kind, given)?;
            let kernel = args.pair_or("kernel_size", 0)?;
            one(F::max_pool2d(
                x,
                kernel,
                args.pair_or_size("stride", kernel)?,
                args.pair_or("padding", 0)?,
                args.pair_or("dilation", 1)?,
                args.bool_or("ceil_mode", false)?,
            )?)
        }
        AvgPool2d => {
            let [x] = inputs(kind, given)?;
            let kernel = args.pair_or("kernel_size", 0)?;
            let divisor = match args.get("divisor_override") {
                None => None,
                Some(_) => Some(args.size("divisor_override")?),
            };
            one(F::avg_pool2d(
                x,
                kernel,
                args.pair_or_size("stride", kernel)?,
                args.pair_or("padding", 0)?,
                args.bool_or("ceil_mode", false)?,
                args.bool_or("count_include_pad", true)?,
                divisor,
            )?)
        }
        AdaptiveAvgPool2d => {
            let [x] = inputs(kind, given)?;
            one(F::adaptive_avg_pool2d(x, args.pair_or("output_size", 0)?)?)
        }
        BatchNorm => batch_norm(kind, &args, given),
    }
}

/// `F.batch_norm` of a golden case: inputs `x, weight, bias` with the running statistics in
/// `args` (training: the outputs are `y` and the updated statistics), or inputs `x, weight,
/// bias, running_mean, running_var` (the output is `y`).
fn batch_norm<B: Backend>(kind: Kind, args: &Args, given: &[Tensor<B>]) -> Result<Vec<Tensor<B>>> {
    let (x, weight, bias) = match given {
        [x, w, b] | [x, w, b, _, _] => (x, w, b),
        _ => {
            return Err(Error::invalid(
                "conformance",
                format!(
                    "{kind:?} takes 3 or 5 inputs, but the case gives {}",
                    given.len()
                ),
            ));
        }
    };
    let from_args = |key: &str| -> Result<Tensor<B>> {
        let values = args.floats(key)?;
        Tensor::from_vec(values.clone(), &[values.len()], x.backend())?.to_dtype(x.dtype())
    };
    let (running_mean, running_var, stats_from_args) = match given {
        [_, _, _, m, v] => (m.clone(), v.clone(), false),
        _ => (from_args("running_mean")?, from_args("running_var")?, true),
    };
    let y = F::batch_norm(
        x,
        Some(&running_mean),
        Some(&running_var),
        Some(weight),
        Some(bias),
        args.bool_or("training", false)?,
        args.float_or("momentum", 0.1)?,
        args.float_or("eps", 1e-5)?,
    )?;
    Ok(if stats_from_args {
        vec![y, running_mean, running_var]
    } else {
        vec![y]
    })
}

fn missing_input(kind: Kind) -> Error {
    Error::invalid("conformance", format!("{kind:?} needs an input"))
}

/// A convolution's input, weight and optional bias.
type ConvOperands<'a, B> = (&'a Tensor<B>, &'a Tensor<B>, Option<&'a Tensor<B>>);

/// `(input, weight, bias)` of a convolution case (bias optional).
fn conv_inputs<B: Backend>(kind: Kind, given: &[Tensor<B>]) -> Result<ConvOperands<'_, B>> {
    match given {
        [x, w] => Ok((x, w, None)),
        [x, w, b] => Ok((x, w, Some(b))),
        _ => Err(Error::invalid(
            "conformance",
            format!(
                "{kind:?} takes 2 or 3 inputs, but the case gives {}",
                given.len()
            ),
        )),
    }
}

/// `F.linear(x, weight, bias)` (bias optional).
fn linear<B: Backend>(kind: Kind, given: &[Tensor<B>]) -> Result<Tensor<B>> {
    match given {
        [x, w] => F::linear(x, w, None),
        [x, w, b] => F::linear(x, w, Some(b)),
        _ => Err(Error::invalid(
            "conformance",
            format!(
                "{kind:?} takes 2 or 3 inputs, but the case gives {}",
                given.len()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_op_has_a_computation() {
        for op in SUPPORTED_OPS {
            assert!(lookup(op).is_some(), "{op} is listed but not mapped");
        }
        assert!(lookup("no_such_op").is_none());
    }

    #[test]
    fn args_are_read_with_clear_errors() {
        let map: Map<String, Value> =
            serde_json::from_str(r#"{"dim": [0, 2], "one": 1, "x": "s"}"#).unwrap();
        let args = Args(&map);
        assert_eq!(args.dims("dim").unwrap(), vec![0, 2]);
        assert_eq!(args.dims("one").unwrap(), vec![1]);
        let err = args.int("x").unwrap_err().to_string();
        assert!(err.contains("args.x") && err.contains("integer"), "{err}");
        let err = args.float("missing").unwrap_err().to_string();
        assert!(err.contains("args.missing"), "{err}");

        let map: Map<String, Value> =
            serde_json::from_str(r#"{"stride": 2, "padding": [1, 0], "bad": [1]}"#).unwrap();
        let args = Args(&map);
        assert_eq!(args.pair_or("stride", 1).unwrap(), Size2([2, 2]));
        assert_eq!(args.pair_or("padding", 0).unwrap(), Size2([1, 0]));
        assert_eq!(args.pair_or("dilation", 1).unwrap(), Size2([1, 1]));
        assert!(args.pair_or("bad", 0).is_err());
    }
}
