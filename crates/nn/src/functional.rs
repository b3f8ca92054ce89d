//! `torch.nn.functional`: activations, dropout, losses and normalizations written as
//! differentiable tensor expressions, so autograd derives their gradients.
//!
//! Losses follow PyTorch's arguments and defaults (`reduction="mean"`, `ignore_index=-100`,
//! `label_smoothing=0`, `beta=1`); options that PyTorch passes as keyword arguments are fields
//! of a small options struct with `Default`.

use tiny_torch_core::{Backend, DType, Error, Result};
use tiny_torch_tensor::{Generator, Tensor, default_generator};

// The fused nn ops (pooling, batch norm), one file each under `functional/`.
mod batch_norm;
mod pool;
pub use batch_norm::batch_norm;
pub use pool::{adaptive_avg_pool2d, avg_pool2d, max_pool2d, max_pool2d_with_indices};

/// How a loss reduces its per-element values (`reduction=` in PyTorch).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Reduction {
    /// Per-element losses (`"none"`).
    None,
    /// The mean (`"mean"`, the default); weighted losses divide by the total weight.
    #[default]
    Mean,
    /// The sum (`"sum"`).
    Sum,
}

impl Reduction {
    /// Parses PyTorch's spelling: `"none"`, `"mean"` or `"sum"`.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "none" => Ok(Reduction::None),
            "mean" => Ok(Reduction::Mean),
            "sum" => Ok(Reduction::Sum),
            other => Err(Error::invalid(
                "loss",
                format!("{other} is not a valid value for reduction (\"none\", \"mean\", \"sum\")"),
            )),
        }
    }
}

/// Reduces `losses`; a mean divides by `total` when given (the weight sum), else by numel.
fn reduce<B: Backend>(
    losses: Tensor<B>,
    reduction: Reduction,
    total: Option<&Tensor<B>>,
) -> Result<Tensor<B>> {
    match (reduction, total) {
        (Reduction::None, _) => Ok(losses),
        (Reduction::Sum, _) => losses.sum(),
        (Reduction::Mean, None) => losses.mean(),
        (Reduction::Mean, Some(total)) => losses.sum()?.div(total),
    }
}

fn check_same_shape<B: Backend>(
    op: &'static str,
    input: &Tensor<B>,
    target: &Tensor<B>,
) -> Result<()> {
    if input.dims() != target.dims() {
        return Err(Error::shape(
            op,
            format!(
                "target size {} must be the same as input size {}",
                target.shape(),
                input.shape()
            ),
        ));
    }
    Ok(())
}

/// `F.linear(x, weight, bias)` = `x @ weight.T + bias`.
pub fn linear<B: Backend>(
    x: &Tensor<B>,
    weight: &Tensor<B>,
    bias: Option<&Tensor<B>>,
) -> Result<Tensor<B>> {
    let y = x.matmul(&weight.t()?)?;
    match bias {
        Some(b) => y.add(b),
        None => Ok(y),
    }
}

/// `F.conv2d(input, weight, bias, stride, padding, dilation, groups)`: see
/// [`Tensor::conv2d`]; `padding` takes sizes or [`Padding::Same`](tiny_torch_tensor::Padding).
pub fn conv2d<B: Backend>(
    input: &Tensor<B>,
    weight: &Tensor<B>,
    bias: Option<&Tensor<B>>,
    stride: impl Into<tiny_torch_tensor::Size2>,
    padding: impl Into<tiny_torch_tensor::Padding>,
    dilation: impl Into<tiny_torch_tensor::Size2>,
    groups: usize,
) -> Result<Tensor<B>> {
    input.conv2d(weight, bias, stride, padding, dilation, groups)
}

/// `F.conv_transpose2d(input, weight, bias, stride, padding, output_padding, groups, dilation)`:
/// see [`Tensor::conv_transpose2d`].
#[allow(clippy::too_many_arguments)]
pub fn conv_transpose2d<B: Backend>(
    input: &Tensor<B>,
    weight: &Tensor<B>,
    bias: Option<&Tensor<B>>,
    stride: impl Into<tiny_torch_tensor::Size2>,
    padding: impl Into<tiny_torch_tensor::Size2>,
    output_padding: impl Into<tiny_torch_tensor::Size2>,
    groups: usize,
    dilation: impl Into<tiny_torch_tensor::Size2>,
) -> Result<Tensor<B>> {
    input.conv_transpose2d(
        weight,
        bias,
        stride,
        padding,
        output_padding,
        groups,
        dilation,
    )
}

/// `F.relu`.
pub fn relu<B: Backend>(x: &Tensor<B>) -> Result<Tensor<B>> {
    x.relu()
}

/// `F.gelu(x, approximate="none")` (exact, erf-based).
pub fn gelu<B: Backend>(x: &Tensor<B>) -> Result<Tensor<B>> {
    x.gelu()
}

/// `F.gelu(x, approximate="tanh")`.
pub fn gelu_tanh<B: Backend>(x: &Tensor<B>) -> Result<Tensor<B>> {
    x.gelu_tanh()
}

/// `F.silu`.
pub fn silu<B: Backend>(x: &Tensor<B>) -> Result<Tensor<B>> {
    x.silu()
}

/// `F.softmax(x, dim)`.
pub fn softmax<B: Backend>(x: &Tensor<B>, dim: isize) -> Result<Tensor<B>> {
    x.softmax(dim)
}

/// `F.log_softmax(x, dim)`.
pub fn log_softmax<B: Backend>(x: &Tensor<B>, dim: isize) -> Result<Tensor<B>> {
    x.log_softmax(dim)
}

/// `F.dropout(x, p, training)` with the default generator.
pub fn dropout<B: Backend>(x: &Tensor<B>, p: f64, training: bool) -> Result<Tensor<B>> {
    dropout_with(x, p, training, default_generator())
}

/// `F.dropout` drawing its mask from `generator`: in training, each element is zeroed with
/// probability `p` and the others scaled by `1 / (1 - p)`; in eval it is the identity.
pub fn dropout_with<B: Backend>(
    x: &Tensor<B>,
    p: f64,
    training: bool,
    generator: &Generator,
) -> Result<Tensor<B>> {
    if !(0.0..=1.0).contains(&p) {
        return Err(Error::invalid(
            "dropout",
            format!("dropout probability has to be between 0 and 1, but got {p}"),
        ));
    }
    if !training || p == 0.0 {
        return Ok(x.clone());
    }
    if p == 1.0 {
        return x.mul(0.0);
    }
    let keep = Tensor::rand_with(x.dims(), x.dtype(), x.backend(), generator)?
        .ge(p)?
        .to_dtype(x.dtype())?;
    x.mul(&keep)?.mul(1.0 / (1.0 - p))
}

/// Options of [`cross_entropy`] and [`nll_loss`] (PyTorch's keyword arguments and defaults).
#[derive(Clone)]
pub struct CrossEntropyOptions<B: Backend> {
    /// Per-class weights `[C]`.
    pub weight: Option<Tensor<B>>,
    /// Targets equal to this contribute nothing (and do not count in the mean).
    pub ignore_index: i64,
    /// Mixes the target with the uniform distribution (`cross_entropy` only).
    pub label_smoothing: f64,
    pub reduction: Reduction,
}

impl<B: Backend> Default for CrossEntropyOptions<B> {
    fn default() -> Self {
        CrossEntropyOptions {
            weight: None,
            ignore_index: -100,
            label_smoothing: 0.0,
            reduction: Reduction::Mean,
        }
    }
}

/// `F.cross_entropy(input, target)` with class indices: `input` is `[N, C, d1, ...]` (or `[C]`)
/// logits and `target` `[N, d1, ...]` int64 class indices. Defaults: mean, ignore_index -100.
pub fn cross_entropy<B: Backend>(input: &Tensor<B>, target: &Tensor<B>) -> Result<Tensor<B>> {
    cross_entropy_with(input, target, &CrossEntropyOptions::default())
}

/// [`cross_entropy`] with explicit options (weights, ignore_index, label smoothing, reduction).
pub fn cross_entropy_with<B: Backend>(
    input: &Tensor<B>,
    target: &Tensor<B>,
    options: &CrossEntropyOptions<B>,
) -> Result<Tensor<B>> {
    if !(0.0..=1.0).contains(&options.label_smoothing) {
        return Err(Error::invalid(
            "cross_entropy",
            format!(
                "label_smoothing must be between 0.0 and 1.0. Got: {}",
                options.label_smoothing
            ),
        ));
    }
    let class_dim = if input.ndim() == 1 { 0 } else { 1 };
    let log_probs = input.log_softmax(class_dim)?;
    if target.dtype().is_float() {
        return soft_cross_entropy(&log_probs, target, class_dim as usize, options);
    }
    nll_core("cross_entropy", &log_probs, target, options)
}

/// Cross entropy with class probabilities as targets (a float `target` of `input`'s shape), as
/// PyTorch computes it: `-Σ_c w_c t_c log p_c` per element, with label smoothing mixing `t` with
/// the uniform distribution; the mean divides by the number of elements (not by the weights),
/// and `ignore_index` does not apply.
fn soft_cross_entropy<B: Backend>(
    log_probs: &Tensor<B>,
    target: &Tensor<B>,
    class_dim: usize,
    options: &CrossEntropyOptions<B>,
) -> Result<Tensor<B>> {
    if target.dims() != log_probs.dims() {
        return Err(Error::shape(
            "cross_entropy",
            format!(
                "class-probability targets must have the input's shape {}, got {}",
                log_probs.shape(),
                target.shape()
            ),
        ));
    }
    let classes = log_probs.dims()[class_dim];
    if let Some(weight) = &options.weight
        && weight.dims() != [classes]
    {
        return Err(Error::shape(
            "cross_entropy",
            format!(
                "weight tensor should be defined for all {classes} classes, got shape {}",
                weight.shape()
            ),
        ));
    }
    let classes = classes as f64;
    let smoothing = options.label_smoothing;
    let target = if smoothing > 0.0 {
        target.mul(1.0 - smoothing)?.add(smoothing / classes)?
    } else {
        target.clone()
    };
    let mut terms = log_probs.mul(&target)?;
    if let Some(weight) = &options.weight {
        // [C] broadcast along the class dim.
        let mut shape = vec![1isize; log_probs.ndim()];
        shape[class_dim] = -1;
        terms = terms.mul(&weight.reshape(&shape)?)?;
    }
    let per_element = terms.sum_dim(&[class_dim as isize], false)?.neg()?;
    match options.reduction {
        Reduction::None => Ok(per_element),
        Reduction::Sum => per_element.sum(),
        Reduction::Mean => per_element.mean(),
    }
}

/// `F.nll_loss(input, target)`: `input` holds log-probabilities `[N, C, d1, ...]` (or `[C]`).
pub fn nll_loss<B: Backend>(input: &Tensor<B>, target: &Tensor<B>) -> Result<Tensor<B>> {
    nll_loss_with(input, target, &CrossEntropyOptions::default())
}

/// [`nll_loss`] with options (`label_smoothing` must be 0).
pub fn nll_loss_with<B: Backend>(
    input: &Tensor<B>,
    target: &Tensor<B>,
    options: &CrossEntropyOptions<B>,
) -> Result<Tensor<B>> {
    if options.label_smoothing != 0.0 {
        return Err(Error::invalid(
            "nll_loss",
            "label_smoothing is an option of cross_entropy, not of nll_loss",
        ));
    }
    nll_core("nll_loss", input, target, options)
}

/// The weighted, smoothed negative log-likelihood of `log_probs` at `target`.
fn nll_core<B: Backend>(
    op: &'static str,
    log_probs: &Tensor<B>,
    target: &Tensor<B>,
    options: &CrossEntropyOptions<B>,
) -> Result<Tensor<B>> {
    if log_probs.ndim() == 0 {
        return Err(Error::shape(
            op,
            format!(
                "expected an input of 1 or more dimensions ([C] or [N, C, ...]), got shape {}",
                log_probs.shape()
            ),
        ));
    }
    // A single sample [C] with a 0-dim target is a batch of one.
    if log_probs.ndim() == 1 {
        let loss = nll_core(
            op,
            &log_probs.unsqueeze(0)?,
            &target.reshape(&[1])?,
            options,
        )?;
        return match options.reduction {
            Reduction::None => loss.squeeze_dim(0),
            _ => Ok(loss),
        };
    }
    let dims = log_probs.dims();
    let expected: Vec<usize> = dims
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != 1)
        .map(|(_, &d)| d)
        .collect();
    if target.dims() != expected.as_slice() {
        return Err(Error::shape(
            op,
            format!(
                "expected target of shape {expected:?} for input of shape {}, got {}",
                log_probs.shape(),
                target.shape()
            ),
        ));
    }
    if target.dtype().is_float() {
        return Err(Error::invalid(
            op,
            format!(
                "expected class indices of an integer dtype, got {} (probability targets are \
                 not supported yet)",
                target.dtype()
            ),
        ));
    }
    if !matches!(target.dtype(), DType::I64 | DType::U8) {
        return Err(Error::DType {
            op,
            expected: "class indices of dtype int64 or uint8 (\"Long or Byte\")".into(),
            got: target.dtype(),
        });
    }
    // uint8 class indices are compared with `ignore_index` and gathered as int64 (in uint8,
    // -100 would wrap to class 156).
    let target = &target.to_dtype(DType::I64)?;
    let classes = dims[1];
    let ignored = target.eq(options.ignore_index)?;
    let safe_target = target.masked_fill(&ignored, 0i64)?;
    let picked = log_probs
        .gather(1, &safe_target.unsqueeze(1)?)?
        .squeeze_dim(1)?;
    // Per-class weights as [1, C, 1, ...] and gathered at the targets.
    let mut class_shape = vec![1isize; log_probs.ndim()];
    class_shape[1] = classes as isize;
    let target_shape: Vec<isize> = target.dims().iter().map(|&d| d as isize).collect();
    let keep = ignored.logical_not()?.to_dtype(log_probs.dtype())?;
    let (mut losses, smooth, total) = match &options.weight {
        Some(w) => {
            if w.dims() != [classes] {
                return Err(Error::shape(
                    op,
                    format!(
                        "weight tensor should be defined for all {classes} classes, got shape {}",
                        w.shape()
                    ),
                ));
            }
            let w_target = w
                .index_select(0, &safe_target.reshape(&[-1])?)?
                .reshape(&target_shape)?;
            let smooth = if options.label_smoothing > 0.0 {
                let weighted = log_probs.mul(&w.reshape(&class_shape)?)?;
                Some(weighted.sum_dim(&[1], false)?.neg()?)
            } else {
                None
            };
            // The mean's denominator: the summed weights of the counted targets.
            let total = w_target.mul(&keep)?.sum()?;
            (picked.mul(&w_target)?.neg()?, smooth, total)
        }
        None => {
            let smooth = if options.label_smoothing > 0.0 {
                Some(log_probs.sum_dim(&[1], false)?.neg()?)
            } else {
                None
            };
            (picked.neg()?, smooth, keep.sum()?)
        }
    };
    if let Some(smooth) = smooth {
        let eps = options.label_smoothing;
        losses = losses
            .mul(1.0 - eps)?
            .add(&smooth.mul(eps / classes as f64)?)?;
    }
    let losses = losses.masked_fill(&ignored, 0.0)?;
    reduce(losses, options.reduction, Some(&total))
}

/// `F.mse_loss(input, target, reduction)`.
pub fn mse_loss<B: Backend>(
    input: &Tensor<B>,
    target: &Tensor<B>,
    reduction: Reduction,
) -> Result<Tensor<B>> {
    check_same_shape("mse_loss", input, target)?;
    reduce(input.sub(target)?.square()?, reduction, None)
}

/// `F.l1_loss(input, target, reduction)`.
pub fn l1_loss<B: Backend>(
    input: &Tensor<B>,
    target: &Tensor<B>,
    reduction: Reduction,
) -> Result<Tensor<B>> {
    check_same_shape("l1_loss", input, target)?;
    reduce(input.sub(target)?.abs()?, reduction, None)
}

/// `F.smooth_l1_loss(input, target, reduction, beta)`: `0.5 d² / beta` where `|d| < beta`, else
/// `|d| - 0.5 beta` (plain L1 when `beta` = 0).
pub fn smooth_l1_loss<B: Backend>(
    input: &Tensor<B>,
    target: &Tensor<B>,
    reduction: Reduction,
    beta: f64,
) -> Result<Tensor<B>> {
    check_same_shape("smooth_l1_loss", input, target)?;
    if beta < 0.0 {
        return Err(Error::invalid(
            "smooth_l1_loss",
            format!("beta must be non-negative, got {beta}"),
        ));
    }
    let d = input.sub(target)?.abs()?;
    if beta == 0.0 {
        return reduce(d, reduction, None);
    }
    let quadratic = d.square()?.mul(0.5 / beta)?;
    let linear = d.sub(0.5 * beta)?;
    reduce(
        Tensor::where_cond(&d.lt(beta)?, &quadratic, &linear)?,
        reduction,
        None,
    )
}

/// `F.binary_cross_entropy(input, target, weight, reduction)` on probabilities; the logs are
/// clamped at -100 and the gradient is PyTorch's, finite at inputs of exactly 0 or 1
/// ([`Tensor::binary_cross_entropy`]).
pub fn binary_cross_entropy<B: Backend>(
    input: &Tensor<B>,
    target: &Tensor<B>,
    weight: Option<&Tensor<B>>,
    reduction: Reduction,
) -> Result<Tensor<B>> {
    let mut losses = input.binary_cross_entropy(target)?; // (checks the shapes)
    if let Some(w) = weight {
        losses = losses.mul(w)?;
    }
    reduce(losses, reduction, None)
}

/// `F.binary_cross_entropy_with_logits(input, target, weight, pos_weight, reduction)`:
/// `(1 - y) x - lw log(sigmoid(x))` with `lw = 1 + (pos_weight - 1) y`, PyTorch's stable form
/// (its `max(-x, 0) + log(1 + exp(-|x|))` is `-log_sigmoid(x)`), whose gradient is PyTorch's
/// `lw sigmoid(x) - pos_weight y` wherever x is (at x = 0 too, where the kinks of `max` and
/// `|x|` differentiated one by one would not add up to it).
pub fn binary_cross_entropy_with_logits<B: Backend>(
    input: &Tensor<B>,
    target: &Tensor<B>,
    weight: Option<&Tensor<B>>,
    pos_weight: Option<&Tensor<B>>,
    reduction: Reduction,
) -> Result<Tensor<B>> {
    check_same_shape("binary_cross_entropy_with_logits", input, target)?;
    let neg_log_sigmoid = input.log_sigmoid()?.neg()?;
    let soft = match pos_weight {
        None => neg_log_sigmoid,
        Some(pw) => pw.sub(1.0)?.mul(target)?.add(1.0)?.mul(&neg_log_sigmoid)?,
    };
    let mut losses = target.neg()?.add(1.0)?.mul(input)?.add(&soft)?;
    if let Some(w) = weight {
        losses = losses.mul(w)?;
    }
    reduce(losses, reduction, None)
}

/// A norm layer's operand in the dtype it computes in: f32 for f16 and bf16, as PyTorch's
/// kernels keep the statistics and the affine step in float and round the output once (in
/// bf16, rounding the mean alone can move it by a whole unit of the data).
fn in_compute_dtype<B: Backend>(t: &Tensor<B>) -> Result<Tensor<B>> {
    match t.dtype() {
        DType::F16 | DType::BF16 => t.to_dtype(DType::F32),
        _ => Ok(t.clone()),
    }
}

/// [`in_compute_dtype`] of an optional parameter.
fn param_in_compute_dtype<B: Backend>(t: Option<&Tensor<B>>) -> Result<Option<Tensor<B>>> {
    t.map(in_compute_dtype).transpose()
}

/// `(x - mean) / sqrt(var + eps)` over `dims` (biased variance, as the norm layers use).
fn normalize<B: Backend>(x: &Tensor<B>, dims: &[isize], eps: f64) -> Result<Tensor<B>> {
    let mean = x.mean_dim(dims, true)?;
    let var = x.var(dims, 0.0, true)?;
    x.sub(&mean)?.mul(&var.add(eps)?.rsqrt()?)
}

/// `y * weight + bias`, each optional, reshaped to `shape` when given.
fn affine<B: Backend>(
    y: Tensor<B>,
    weight: Option<&Tensor<B>>,
    bias: Option<&Tensor<B>>,
    shape: Option<&[isize]>,
) -> Result<Tensor<B>> {
    let shaped = |t: &Tensor<B>| match shape {
        Some(shape) => t.reshape(shape),
        None => Ok(t.clone()),
    };
    let y = match weight {
        Some(w) => y.mul(&shaped(w)?)?,
        None => y,
    };
    match bias {
        Some(b) => y.add(&shaped(b)?),
        None => Ok(y),
    }
}

/// Checks that an optional `weight` / `bias` parameter has exactly `expected` dims (PyTorch
/// refuses others, which a broadcasting product would otherwise accept silently).
fn check_param_shape<B: Backend>(
    op: &'static str,
    name: &str,
    param: Option<&Tensor<B>>,
    expected: &[usize],
) -> Result<()> {
    match param {
        Some(p) if p.dims() != expected => Err(Error::shape(
            op,
            format!(
                "expected {name} of shape {expected:?}, got {name} of shape {}",
                p.shape()
            ),
        )),
        _ => Ok(()),
    }
}

/// `F.layer_norm(x, normalized_shape, weight, bias, eps)`: normalizes over the last
/// `normalized_shape.len()` dims, which must equal `normalized_shape`.
pub fn layer_norm<B: Backend>(
    x: &Tensor<B>,
    normalized_shape: &[usize],
    weight: Option<&Tensor<B>>,
    bias: Option<&Tensor<B>>,
    eps: f64,
) -> Result<Tensor<B>> {
    let k = normalized_shape.len();
    let ndim = x.ndim();
    if k == 0 || k > ndim || x.dims()[ndim - k..] != *normalized_shape {
        return Err(Error::shape(
            "layer_norm",
            format!(
                "given normalized_shape={normalized_shape:?}, expected input with shape \
                 [*, {}], but got input of size {}",
                normalized_shape
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                x.shape()
            ),
        ));
    }
    check_param_shape("layer_norm", "weight", weight, normalized_shape)?;
    check_param_shape("layer_norm", "bias", bias, normalized_shape)?;
    let dims: Vec<isize> = (ndim - k..ndim).map(|d| d as isize).collect();
    let y = normalize(&in_compute_dtype(x)?, &dims, eps)?;
    let (weight, bias) = (
        param_in_compute_dtype(weight)?,
        param_in_compute_dtype(bias)?,
    );
    affine(y, weight.as_ref(), bias.as_ref(), None)?.to_dtype(x.dtype())
}

/// `F.group_norm(x, num_groups, weight, bias, eps)` on `[N, C, *]`, with `C` divisible by
/// `num_groups`; weight and bias are `[C]`.
pub fn group_norm<B: Backend>(
    x: &Tensor<B>,
    num_groups: usize,
    weight: Option<&Tensor<B>>,
    bias: Option<&Tensor<B>>,
    eps: f64,
) -> Result<Tensor<B>> {
    let (n, c) = match x.dims() {
        [n, c, ..] => (*n, *c),
        _ => {
            return Err(Error::shape(
                "group_norm",
                format!("expected an input [N, C, *], got {}", x.shape()),
            ));
        }
    };
    if num_groups == 0 || !c.is_multiple_of(num_groups) {
        return Err(Error::shape(
            "group_norm",
            format!(
                "expected number of channels in input ({c}) to be divisible by num_groups ({num_groups})"
            ),
        ));
    }
    check_param_shape("group_norm", "weight", weight, &[c])?;
    check_param_shape("group_norm", "bias", bias, &[c])?;
    let grouped = in_compute_dtype(x)?.reshape(&[n as isize, num_groups as isize, -1])?;
    let y = normalize(&grouped, &[2], eps)?;
    let shape: Vec<isize> = x.dims().iter().map(|&d| d as isize).collect();
    let y = y.reshape(&shape)?;
    let mut channel_shape = vec![1; x.ndim()];
    channel_shape[1] = c as isize;
    let (weight, bias) = (
        param_in_compute_dtype(weight)?,
        param_in_compute_dtype(bias)?,
    );
    affine(y, weight.as_ref(), bias.as_ref(), Some(&channel_shape))?.to_dtype(x.dtype())
}

/// `F.embedding(indices, weight)`: the rows of `weight [num, dim]` at integer `indices` of any
/// shape, giving `indices.shape + [dim]`.
pub fn embedding<B: Backend>(indices: &Tensor<B>, weight: &Tensor<B>) -> Result<Tensor<B>> {
    if weight.ndim() != 2 {
        return Err(Error::shape(
            "embedding",
            format!(
                "weight must be 2-D [num_embeddings, embedding_dim], got {}",
                weight.shape()
            ),
        ));
    }
    embedding_with_padding(indices, weight, None)
}

/// `F.embedding(indices, weight, padding_idx)`: the rows at `padding_idx` are returned as they
/// are but pass no gradient to `weight`.
pub fn embedding_with_padding<B: Backend>(
    indices: &Tensor<B>,
    weight: &Tensor<B>,
    padding_idx: Option<usize>,
) -> Result<Tensor<B>> {
    if weight.ndim() != 2 {
        return Err(Error::shape(
            "embedding",
            format!(
                "weight must be 2-D [num_embeddings, embedding_dim], got {}",
                weight.shape()
            ),
        ));
    }
    if let Some(pad) = padding_idx
        && pad >= weight.dims()[0]
    {
        return Err(Error::invalid(
            "embedding",
            format!(
                "padding_idx {pad} must be within num_embeddings ({})",
                weight.dims()[0]
            ),
        ));
    }
    let flat = indices.reshape(&[-1])?;
    let mut rows = weight.index_select(0, &flat)?;
    if let Some(pad) = padding_idx {
        // The same values, with the rows at `pad` taken from a detached copy: no gradient
        // reaches them (a selection, not a product with a 0/1 mask, so inf rows stay inf).
        let keep = flat.ne(pad as i64)?.unsqueeze(1)?;
        rows = Tensor::where_cond(&keep, &rows, &rows.detach())?;
    }
    let mut shape: Vec<isize> = indices.dims().iter().map(|&d| d as isize).collect();
    shape.push(weight.dims()[1] as isize);
    rows.reshape(&shape)
}
