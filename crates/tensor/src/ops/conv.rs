//! 2-D convolution on NCHW tensors: `conv2d` (padding as sizes or PyTorch's `"same"` /
//! `"valid"`), `conv_transpose2d`, and the two gradients of `conv2d` as ops of their own,
//! `conv2d_backward_input` and `conv2d_backward_weight` (PyTorch's `torch.nn.grad.conv2d_input`
//! and `conv2d_weight`).
//!
//! Each is one fused backend call. Convolution is linear in its input and in its weight, so the
//! backward of each of the three ops is made of the other two (`autograd/formulas/conv.rs`):
//! gradients of any order work. `conv_transpose2d` *is* `conv2d_backward_input` (plus a bias),
//! so it needs no backward of its own.
//!
//! Inputs may be batched `[N, C, H, W]` or unbatched `[C, H, W]`, as in PyTorch.

use crate::Tensor;
use crate::autograd::formulas::conv::{
    record_conv2d, record_conv2d_backward_input, record_conv2d_backward_weight,
};
use tiny_torch_core::{Backend, Conv2dParams, Error, Result, View, check_conv_planes};

/// A pair of spatial sizes `[height, width]`: a single `usize` means the same for both, as
/// PyTorch's `stride=2` means `(2, 2)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Size2(pub [usize; 2]);

impl From<usize> for Size2 {
    fn from(v: usize) -> Self {
        Size2([v, v])
    }
}

impl From<[usize; 2]> for Size2 {
    fn from(v: [usize; 2]) -> Self {
        Size2(v)
    }
}

impl From<(usize, usize)> for Size2 {
    fn from((h, w): (usize, usize)) -> Self {
        Size2([h, w])
    }
}

/// `conv2d`'s `padding`: zeros added on both sides of each spatial dim, or PyTorch's strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Padding {
    /// `[height, width]` zeros on each side.
    Explicit([usize; 2]),
    /// `"same"`: the output has the input's size (stride 1 only). When the dilated kernel's
    /// extent minus one is odd, the extra zero goes after the input (bottom, right), as in
    /// PyTorch.
    Same,
    /// `"valid"`: no padding.
    Valid,
}

impl Padding {
    /// `"same"` or `"valid"`, as PyTorch spells them.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "same" => Ok(Padding::Same),
            "valid" => Ok(Padding::Valid),
            other => Err(Error::invalid(
                "conv2d",
                format!("Invalid padding string '{other}' (expected 'same' or 'valid')"),
            )),
        }
    }
}

impl From<usize> for Padding {
    fn from(v: usize) -> Self {
        Padding::Explicit([v, v])
    }
}

impl From<[usize; 2]> for Padding {
    fn from(v: [usize; 2]) -> Self {
        Padding::Explicit(v)
    }
}

impl From<(usize, usize)> for Padding {
    fn from((h, w): (usize, usize)) -> Self {
        Padding::Explicit([h, w])
    }
}

impl From<Size2> for Padding {
    fn from(v: Size2) -> Self {
        Padding::Explicit(v.0)
    }
}

// ---------------------------------------------------------------- shape checks (non-generic)

/// The `[N, C, H, W]` of a 4-D shape, or an error naming `what`.
fn four(op: &'static str, what: &str, dims: &[usize]) -> Result<[usize; 4]> {
    dims.try_into().map_err(|_| {
        Error::shape(
            op,
            format!(
                "expected a 4-dimensional {what}, but got {}-dimensional {what} of size {dims:?}",
                dims.len()
            ),
        )
    })
}

fn check_params(op: &'static str, p: &Conv2dParams) -> Result<()> {
    if p.groups == 0 {
        return Err(Error::invalid(op, "non-positive groups is not supported"));
    }
    if p.stride.contains(&0) {
        return Err(Error::invalid(op, "non-positive stride is not supported"));
    }
    if p.dilation.contains(&0) {
        return Err(Error::invalid(op, "dilation should be greater than zero"));
    }
    Ok(())
}

/// Checks a convolution of `input` by `weight` (and `bias`) as PyTorch does, with its words;
/// returns the output's `[N, O, Ho, Wo]`.
fn conv_output_dims(
    op: &'static str,
    input: &[usize],
    weight: &[usize],
    bias: Option<&[usize]>,
    p: &Conv2dParams,
) -> Result<[usize; 4]> {
    check_params(op, p)?;
    let [n, c, h, w] = four(op, "input", input)?;
    let [o, cg, kh, kw] = four(op, "weight", weight)?;
    check_conv_planes(op, [n, c, h, w])?;
    let g = p.groups;
    if o < g {
        return Err(Error::shape(
            op,
            format!(
                "Given groups={g}, expected weight to be at least {g} at dimension 0, but got \
                 weight of size {weight:?} instead"
            ),
        ));
    }
    if !o.is_multiple_of(g) {
        return Err(Error::shape(
            op,
            format!(
                "Given groups={g}, expected weight to be divisible by {g} at dimension 0, but got \
                 weight of size {weight:?} instead"
            ),
        ));
    }
    if cg.checked_mul(g) != Some(c) {
        return Err(Error::shape(
            op,
            format!(
                "Given groups={g}, weight of size {weight:?}, expected input{input:?} to have {} \
                 channels, but got {c} channels instead",
                cg.saturating_mul(g)
            ),
        ));
    }
    if let Some(b) = bias
        && b != [o]
    {
        return Err(Error::shape(
            op,
            format!(
                "Given weight of size {weight:?}, expected bias to be 1-dimensional with {o} \
                 elements, but got bias of size {b:?} instead"
            ),
        ));
    }
    match (p.output_size(0, h, kh), p.output_size(1, w, kw)) {
        (Some(oh), Some(ow)) => Ok([n, o, oh, ow]),
        _ => {
            let span = |d: usize, k: usize| p.dilation[d] * k.saturating_sub(1) + 1;
            Err(Error::shape(
                op,
                format!(
                    "Calculated padded input size per channel: ({} x {}). Kernel size: ({} x {}). \
                     Kernel size can't be greater than actual input size",
                    h + 2 * p.padding[0],
                    w + 2 * p.padding[1],
                    span(0, kh),
                    span(1, kw)
                ),
            ))
        }
    }
}

impl<B: Backend> Tensor<B> {
    /// Float operands of one dtype on one device (`bias` included).
    fn check_conv_operands(
        &self,
        op: &'static str,
        others: &[(&str, Option<&Tensor<B>>)],
    ) -> Result<()> {
        if !self.dtype().is_float() {
            return Err(Error::DType {
                op,
                expected: format!("a floating-point input (shape {})", self.shape()),
                got: self.dtype(),
            });
        }
        for (name, t) in others {
            let Some(t) = t else { continue };
            self.check_same_device(op, t)?;
            if t.dtype() != self.dtype() {
                return Err(Error::DType {
                    op,
                    expected: format!("{name} of the input's dtype {}", self.dtype()),
                    got: t.dtype(),
                });
            }
        }
        Ok(())
    }

    /// Runs `f` on this tensor as a batch: as is when 4-D, with a batch of one when 3-D (the
    /// result's batch dim is then removed), else an error in PyTorch's words.
    fn batched(&self, op: &'static str, f: impl FnOnce(&Self) -> Result<Self>) -> Result<Self> {
        match self.ndim() {
            4 => f(self),
            3 => f(&self.unsqueeze(0)?)?.squeeze_dim(0),
            _ => Err(Error::shape(
                op,
                format!(
                    "Expected 3D (unbatched) or 4D (batched) input to {op}, but got input of \
                     size: {}",
                    self.shape()
                ),
            )),
        }
    }

    /// This tensor with `extra` zeros appended along `dim` (differentiable: a `cat`).
    fn zeros_after(&self, dim: usize, extra: usize) -> Result<Self> {
        if extra == 0 {
            return Ok(self.clone());
        }
        let mut dims = self.dims().to_vec();
        dims[dim] = extra;
        let zeros = Tensor::zeros(&dims, self.dtype(), self.backend())?;
        Tensor::cat(&[self, &zeros], dim as isize)
    }

    /// `F.conv2d(input, weight, bias, stride, padding, dilation, groups)`: `input [N, C, H, W]`
    /// (or `[C, H, W]`), `weight [O, C / groups, kh, kw]`, `bias [O]`; the output is
    /// `[N, O, Ho, Wo]` with `Ho = (H + 2 pad - dilation (kh - 1) - 1) / stride + 1`.
    ///
    /// `stride` and `dilation` take a `usize` or `[h, w]`; `padding` too, or
    /// [`Padding::Same`] / [`Padding::Valid`].
    pub fn conv2d(
        &self,
        weight: &Tensor<B>,
        bias: Option<&Tensor<B>>,
        stride: impl Into<Size2>,
        padding: impl Into<Padding>,
        dilation: impl Into<Size2>,
        groups: usize,
    ) -> Result<Self> {
        let op = "conv2d";
        let (stride, dilation) = (stride.into().0, dilation.into().0);
        let padding = padding.into();
        self.batched(op, |x| {
            let mut params = Conv2dParams {
                stride,
                padding: [0, 0],
                dilation,
                groups,
            };
            let x = match padding {
                Padding::Explicit(p) => {
                    params.padding = p;
                    x.clone()
                }
                Padding::Valid => x.clone(),
                Padding::Same => {
                    check_params(op, &params)?;
                    if stride != [1, 1] {
                        return Err(Error::invalid(
                            op,
                            "padding='same' is not supported for strided convolutions",
                        ));
                    }
                    let [_, _, kh, kw] = four(op, "weight", weight.dims())?;
                    // Total padding d (k - 1) per dim: half on each side, any odd one after.
                    let mut padded = x.clone();
                    for (d, k) in [kh, kw].into_iter().enumerate() {
                        let total = dilation[d] * k.saturating_sub(1);
                        params.padding[d] = total / 2;
                        padded = padded.zeros_after(2 + d, total % 2)?;
                    }
                    padded
                }
            };
            x.conv2d_with(weight, bias, &params)
        })
    }

    /// `conv2d` with its geometry as the backend takes it (symmetric padding, 4-D input).
    pub fn conv2d_with(
        &self,
        weight: &Tensor<B>,
        bias: Option<&Tensor<B>>,
        params: &Conv2dParams,
    ) -> Result<Self> {
        let op = "conv2d";
        self.check_conv_operands(op, &[("weight", Some(weight)), ("bias", bias)])?;
        let dims = conv_output_dims(
            op,
            self.dims(),
            weight.dims(),
            bias.map(|b| b.dims()),
            params,
        )?;
        let backend = self.backend();
        let out = if dims.contains(&0) {
            Tensor::zeros(&dims, self.dtype(), backend)?
        } else {
            let (x, w) = (self.layout(), weight.layout());
            let storage = match bias {
                Some(b) => Tensor::read([self, weight, b], |[xs, ws, bs]| {
                    backend.conv2d(
                        View::new(xs, x),
                        View::new(ws, w),
                        Some(View::new(bs, b.layout())),
                        params,
                    )
                })?,
                None => Tensor::read([self, weight], |[xs, ws]| {
                    backend.conv2d(View::new(xs, x), View::new(ws, w), None, params)
                })?,
            };
            Tensor::from_storage(storage, dims, backend)
        };
        Ok(record_conv2d(self, weight, bias, *params, out))
    }

    /// The gradient of `conv2d` with respect to its input (`torch.nn.grad.conv2d_input`), with
    /// `self` the gradient of the output `[N, O, Ho, Wo]`: a tensor of `input_dims`.
    pub fn conv2d_backward_input(
        &self,
        weight: &Tensor<B>,
        input_dims: [usize; 4],
        params: &Conv2dParams,
    ) -> Result<Self> {
        let op = "conv2d_backward_input";
        self.check_conv_operands(op, &[("weight", Some(weight))])?;
        let out_dims = conv_output_dims(op, &input_dims, weight.dims(), None, params)?;
        check_grad_output(op, self.dims(), out_dims)?;
        let backend = self.backend();
        let out = if input_dims.contains(&0) || out_dims.contains(&0) {
            Tensor::zeros(&input_dims, self.dtype(), backend)?
        } else {
            let storage = Tensor::read([self, weight], |[gs, ws]| {
                backend.conv2d_backward_input(
                    View::new(gs, self.layout()),
                    View::new(ws, weight.layout()),
                    input_dims,
                    params,
                )
            })?;
            Tensor::from_storage(storage, input_dims, backend)
        };
        Ok(record_conv2d_backward_input(self, weight, *params, out))
    }

    /// The gradient of `conv2d` with respect to its weight (`torch.nn.grad.conv2d_weight`),
    /// with `self` the gradient of the output: a tensor of `weight_dims`, summed over the batch.
    pub fn conv2d_backward_weight(
        &self,
        input: &Tensor<B>,
        weight_dims: [usize; 4],
        params: &Conv2dParams,
    ) -> Result<Self> {
        let op = "conv2d_backward_weight";
        self.check_conv_operands(op, &[("input", Some(input))])?;
        let out_dims = conv_output_dims(op, input.dims(), &weight_dims, None, params)?;
        check_grad_output(op, self.dims(), out_dims)?;
        let backend = self.backend();
        let out = if weight_dims.contains(&0) || out_dims.contains(&0) {
            Tensor::zeros(&weight_dims, self.dtype(), backend)?
        } else {
            let storage = Tensor::read([self, input], |[gs, xs]| {
                backend.conv2d_backward_weight(
                    View::new(gs, self.layout()),
                    View::new(xs, input.layout()),
                    weight_dims,
                    params,
                )
            })?;
            Tensor::from_storage(storage, weight_dims, backend)
        };
        Ok(record_conv2d_backward_weight(self, input, *params, out))
    }

    /// `F.conv_transpose2d(input, weight, bias, stride, padding, output_padding, groups,
    /// dilation)`: `input [N, C_in, H, W]` (or `[C_in, H, W]`), `weight [C_in, C_out / groups,
    /// kh, kw]`, `bias [C_out]`; the output is `[N, C_out, Ho, Wo]` with
    /// `Ho = (H - 1) stride - 2 padding + dilation (kh - 1) + output_padding + 1`.
    ///
    /// It is the gradient of the `conv2d` with the same geometry that maps the output's shape
    /// to the input's, computed by [`Tensor::conv2d_backward_input`].
    #[allow(clippy::too_many_arguments)]
    pub fn conv_transpose2d(
        &self,
        weight: &Tensor<B>,
        bias: Option<&Tensor<B>>,
        stride: impl Into<Size2>,
        padding: impl Into<Size2>,
        output_padding: impl Into<Size2>,
        groups: usize,
        dilation: impl Into<Size2>,
    ) -> Result<Self> {
        let op = "conv_transpose2d";
        let params = Conv2dParams {
            stride: stride.into().0,
            padding: padding.into().0,
            dilation: dilation.into().0,
            groups,
        };
        let output_padding = output_padding.into().0;
        self.batched(op, |x| {
            x.check_conv_operands(op, &[("weight", Some(weight)), ("bias", bias)])?;
            let out_dims = transposed_output_dims(
                op,
                x.dims(),
                weight.dims(),
                bias.map(|b| b.dims()),
                &params,
                output_padding,
            )?;
            // The convolution of an [.., Ho, Wo] output has H + output_padding / stride rows:
            // more than H only when output_padding >= stride (allowed below the dilation).
            // Those extra rows see only zeros.
            let mut x = x.clone();
            for d in 0..2 {
                let (k, size) = (weight.dims()[2 + d], out_dims[2 + d]);
                let conv_rows = params.output_size(d, size, k).unwrap_or(0);
                x = x.zeros_after(2 + d, conv_rows.saturating_sub(x.dims()[2 + d]))?;
            }
            let y = x.conv2d_backward_input(weight, out_dims, &params)?;
            match bias {
                Some(b) => y.add(&b.reshape(&[1, -1, 1, 1])?),
                None => Ok(y),
            }
        })
    }
}

/// `grad_output` must have the convolution's output shape.
fn check_grad_output(op: &'static str, got: &[usize], want: [usize; 4]) -> Result<()> {
    if got != want {
        return Err(Error::shape(
            op,
            format!("expected grad_output of size {want:?}, but got {got:?}"),
        ));
    }
    Ok(())
}

/// Checks a transposed convolution as PyTorch does; returns the output's `[N, C_out, Ho, Wo]`.
fn transposed_output_dims(
    op: &'static str,
    input: &[usize],
    weight: &[usize],
    bias: Option<&[usize]>,
    p: &Conv2dParams,
    output_padding: [usize; 2],
) -> Result<[usize; 4]> {
    check_params(op, p)?;
    let [n, c, h, w] = four(op, "input", input)?;
    let [c_in, c_out_g, kh, kw] = four(op, "weight", weight)?;
    let g = p.groups;
    if !c_in.is_multiple_of(g) {
        return Err(Error::shape(
            op,
            format!(
                "Given groups={g}, expected weight to be divisible by {g} at dimension 0, but got \
                 weight of size {weight:?} instead"
            ),
        ));
    }
    if c != c_in {
        return Err(Error::shape(
            op,
            format!(
                "Given transposed=1, weight of size {weight:?}, expected input{input:?} to have \
                 {c_in} channels, but got {c} channels instead"
            ),
        ));
    }
    let c_out = c_out_g.saturating_mul(g);
    if let Some(b) = bias
        && b != [c_out]
    {
        return Err(Error::shape(
            op,
            format!(
                "Given transposed=1, weight of size {weight:?}, expected bias to be \
                 1-dimensional with {c_out} elements, but got bias of size {b:?} instead"
            ),
        ));
    }
    if (0..2).any(|d| output_padding[d] >= p.stride[d] && output_padding[d] >= p.dilation[d]) {
        return Err(Error::invalid(
            op,
            format!(
                "output padding must be smaller than either stride or dilation, but got \
                 output_padding {output_padding:?}, stride {:?}, dilation {:?}",
                p.stride, p.dilation
            ),
        ));
    }
    // (H - 1) s - 2 p + d (k - 1) + output_padding + 1, which may be below 1.
    let size = |d: usize, input: usize, k: usize| -> Option<usize> {
        let grown = input.checked_sub(1)?.checked_mul(p.stride[d])?
            + p.dilation[d] * (k.checked_sub(1)?)
            + output_padding[d]
            + 1;
        grown.checked_sub(2 * p.padding[d]).filter(|&s| s > 0)
    };
    match (size(0, h, kh), size(1, w, kw)) {
        (Some(oh), Some(ow)) => Ok([n, c_out, oh, ow]),
        _ => Err(Error::shape(
            op,
            format!(
                "Given input size per channel: ({h} x {w}), kernel {kh}x{kw}, {p:?}, output \
                 padding {output_padding:?}: the calculated output size is too small"
            ),
        )),
    }
}
