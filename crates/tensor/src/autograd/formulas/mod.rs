//! Backward formulas, one op family per file (the same stems as `ops/*`). Each file exposes
//! `record_*` functions that the forward ops call with their inputs and output; the closures
//! they record are written with differentiable tensor ops only.
//!
//! # Adding a backward
//!
//! 1. Write the formula in the family's file as a `record(...)` call: the op name, the output,
//!    the inputs (in order), the tensors to save, and a closure `(ctx, grad) -> one
//!    Option<gradient> per input` (use `ctx.grad_if(i, ..)` so unneeded gradients cost
//!    nothing). Broadcast gradients need no care: the engine sums them to the input's shape.
//! 2. Call it at the end of the forward op in `ops/<family>.rs`.
//! 3. Add the op name to [`BACKWARD_OPS`] and a gradcheck case in
//!    `crates/tensor/tests/autograd/gradcheck_ops.rs` (the coverage test fails otherwise).

pub(crate) mod batch_norm;
pub(crate) mod cat;
pub(crate) mod conv;
pub(crate) mod copy;
pub(crate) mod elementwise;
pub(crate) mod indexing;
pub(crate) mod matmul;
pub(crate) mod pool;
pub(crate) mod reduce;
pub(crate) mod softmax;
pub(crate) mod view;

/// Every op name that records a backward node. `record` checks membership in debug builds; the
/// gradcheck coverage test checks that each has a gradcheck case.
pub const BACKWARD_OPS: &[&str] = &[
    // elementwise, unary
    "neg",
    "abs",
    "exp",
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
    "log_sigmoid",
    "binary_cross_entropy",
    "leaky_relu",
    "square",
    "pow",
    "clamp",
    // elementwise, binary (`pow` above covers both the scalar and the tensor exponent)
    "add",
    "sub",
    "mul",
    "div",
    "maximum",
    "minimum",
    "atan2",
    "relu_backward",
    // indexing and selection
    "where",
    "masked_fill",
    "index_select",
    "gather",
    "scatter",
    "scatter_add",
    // reductions
    "sum",
    "mean",
    "prod",
    "max",
    "min",
    "amax",
    "amin",
    "max_dim",
    "min_dim",
    "var",
    "std",
    "logsumexp",
    "norm",
    // linear algebra and softmax
    "matmul",
    "mm",
    "bmm",
    "softmax",
    "log_softmax",
    // convolution (each one's backward is made of the other two)
    "conv2d",
    "conv2d_backward_input",
    "conv2d_backward_weight",
    // views
    "view",
    "reshape",
    "permute",
    "transpose",
    "narrow",
    "select",
    "slice",
    "expand",
    "squeeze",
    "unsqueeze",
    // joins and copies
    "cat",
    "clone",
    "to_dtype",
    // the backward of narrow/select/slice (appears in create_graph graphs)
    "view_backward",
    // pooling, and the backward ops of pooling (recorded by create_graph)
    "max_pool2d",
    "max_pool2d_backward",
    "avg_pool2d",
    "avg_pool2d_backward",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool2d_backward",
    // normalization
    "batch_norm",
];
