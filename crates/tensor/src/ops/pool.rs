//! Pooling over the two spatial dims of `[N, C, H, W]` inputs (or unbatched `[C, H, W]`, as in
//! PyTorch): `max_pool2d` (and `max_pool2d_with_indices`), `avg_pool2d` and
//! `adaptive_avg_pool2d`, each one fused backend call after PyTorch's argument checks (with its
//! messages). Their backward passes are tensor ops too (`*_backward`, crate-private), so that
//! they are recorded and gradients of gradients work.

use crate::Tensor;
use crate::autograd::formulas::pool::{
    record_adaptive_avg_pool2d, record_adaptive_avg_pool2d_backward, record_avg_pool2d,
    record_avg_pool2d_backward, record_max_pool2d, record_max_pool2d_backward,
};
use crate::ops::conv::Size2;
use tiny_torch_core::{Backend, Error, Pool2dParams, Result, View};

/// The `[N, C, H, W]` dims of a pooling input: a 4-D input as is, a 3-D one with a batch of 1
/// (`unbatched` tells the caller to squeeze it again). C, H and W must be non-zero.
fn pool_input<B: Backend>(op: &'static str, x: &Tensor<B>) -> Result<(Tensor<B>, bool)> {
    let ok = matches!(x.ndim(), 3 | 4) && x.dims()[x.ndim() - 3..].iter().all(|&d| d > 0);
    if !ok {
        return Err(Error::shape(
            op,
            format!(
                "Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for input \
                 (non-zero C, H and W), but got: {}",
                x.shape()
            ),
        ));
    }
    if !x.dtype().is_float() {
        return Err(Error::DType {
            op,
            expected: format!("a floating-point input (shape {})", x.shape()),
            got: x.dtype(),
        });
    }
    if x.ndim() == 3 {
        Ok((x.unsqueeze(0)?, true))
    } else {
        Ok((x.clone(), false))
    }
}

/// The input's `[N, C, H, W]` dims.
fn dims4<B: Backend>(x: &Tensor<B>) -> [usize; 4] {
    let d = x.dims();
    [d[0], d[1], d[2], d[3]]
}

/// PyTorch's `pool2d_shape_check`: positive kernel, stride and dilation, padding at most half
/// the kernel, and an output of at least 1x1.
fn check_pool(op: &'static str, input: [usize; 4], p: &Pool2dParams) -> Result<[usize; 2]> {
    let [kh, kw] = p.kernel;
    let [sh, sw] = p.stride;
    let [dh, dw] = p.dilation;
    let [ph, pw] = p.padding;
    if input[1..].contains(&0) {
        // (A batch of 0 is fine; an empty channel or plane has no windows to pool.)
        return Err(Error::shape(
            op,
            format!(
                "Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for \
                 input, but got: {input:?}"
            ),
        ));
    }
    if kh == 0 || kw == 0 {
        return Err(Error::invalid(
            op,
            format!("kernel size should be greater than zero, but got kH: {kh} kW: {kw}"),
        ));
    }
    if sh == 0 || sw == 0 {
        return Err(Error::invalid(
            op,
            format!("stride should be greater than zero, but got dH: {sh} dW: {sw}"),
        ));
    }
    if dh == 0 || dw == 0 {
        return Err(Error::invalid(
            op,
            format!(
                "dilation should be greater than zero, but got dilationH: {dh} dilationW: {dw}"
            ),
        ));
    }
    if kw / 2 < pw || kh / 2 < ph {
        return Err(Error::invalid(
            op,
            format!(
                "pad should be smaller than or equal to half of kernel size, but got padW = \
                 {pw}, padH = {ph}, kW = {kw}, kH = {kh}"
            ),
        ));
    }
    let [_, c, h, w] = input;
    match (p.output_size(0, h), p.output_size(1, w)) {
        (Some(oh), Some(ow)) if oh > 0 && ow > 0 => Ok([oh, ow]),
        _ => {
            // The signed size PyTorch prints (without ceil_mode's correction).
            let size = |i: usize, k: usize, s: usize, pad: usize, d: usize| {
                (i as isize + 2 * pad as isize - (d * (k - 1)) as isize - 1).div_euclid(s as isize)
                    + 1
            };
            Err(Error::shape(
                op,
                format!(
                    "Given input size: ({c}x{h}x{w}). Calculated output size: ({c}x{}x{}). \
                     Output size is too small",
                    size(h, kh, sh, ph, dh),
                    size(w, kw, sw, pw, dw)
                ),
            ))
        }
    }
}

/// Squeezes the batch dim of an unbatched input's result again.
fn rebatch<B: Backend>(t: Tensor<B>, unbatched: bool) -> Result<Tensor<B>> {
    if unbatched { t.squeeze_dim(0) } else { Ok(t) }
}

impl<B: Backend> Tensor<B> {
    /// `F.max_pool2d(self, kernel_size, stride, padding, dilation, ceil_mode)` on `[N, C, H, W]`
    /// or `[C, H, W]`: the maximum of each (dilated) window, padding counting as `-inf`; a NaN
    /// in a window gives NaN. Sizes are `[height, width]` or one `usize` for both; PyTorch's
    /// default stride is the kernel, its default padding 0 and dilation 1.
    pub fn max_pool2d(
        &self,
        kernel: impl Into<Size2>,
        stride: impl Into<Size2>,
        padding: impl Into<Size2>,
        dilation: impl Into<Size2>,
        ceil_mode: bool,
    ) -> Result<Self> {
        self.max_pool2d_with_indices(kernel, stride, padding, dilation, ceil_mode)
            .map(|(values, _)| values)
    }

    /// `max_pool2d` with `return_indices=True`: the values and, as `int64`, the flat index of
    /// each maximum within its `H * W` input plane (what `max_unpool2d` takes).
    pub fn max_pool2d_with_indices(
        &self,
        kernel: impl Into<Size2>,
        stride: impl Into<Size2>,
        padding: impl Into<Size2>,
        dilation: impl Into<Size2>,
        ceil_mode: bool,
    ) -> Result<(Self, Self)> {
        let op = "max_pool2d";
        let params = Pool2dParams {
            kernel: kernel.into().0,
            stride: stride.into().0,
            padding: padding.into().0,
            dilation: dilation.into().0,
            ceil_mode,
            count_include_pad: true,
            divisor_override: None,
        };
        let (x, unbatched) = pool_input(op, self)?;
        let input = dims4(&x);
        let [oh, ow] = check_pool(op, input, &params)?;
        let (values, indices) = Tensor::read([&x], |[s]| {
            x.backend().max_pool2d(View::new(s, x.layout()), &params)
        })?;
        let shape = [input[0], input[1], oh, ow];
        let values = Tensor::from_storage(values, shape, x.backend());
        let indices = Tensor::from_storage(indices, shape, x.backend());
        let values = record_max_pool2d(&x, &indices, values);
        Ok((rebatch(values, unbatched)?, rebatch(indices, unbatched)?))
    }

    /// The gradient of `max_pool2d` (recorded: its own gradient gathers at `indices`).
    pub(crate) fn max_pool2d_backward(
        grad: &Tensor<B>,
        indices: &Tensor<B>,
        input_dims: [usize; 4],
    ) -> Result<Self> {
        let storage = Tensor::read([grad, indices], |[g, i]| {
            grad.backend().max_pool2d_backward(
                View::new(g, grad.layout()),
                View::new(i, indices.layout()),
                input_dims,
            )
        })?;
        let out = Tensor::from_storage(storage, input_dims, grad.backend());
        Ok(record_max_pool2d_backward(grad, indices, out))
    }

    /// `F.avg_pool2d(self, kernel_size, stride, padding, ceil_mode, count_include_pad,
    /// divisor_override)` on `[N, C, H, W]` or `[C, H, W]`, with PyTorch's divisors: the window
    /// clipped to the padded input (`count_include_pad`, a `ceil_mode` window past the right
    /// padding is cut), or the elements inside the input, or `divisor_override`.
    pub fn avg_pool2d(
        &self,
        kernel: impl Into<Size2>,
        stride: impl Into<Size2>,
        padding: impl Into<Size2>,
        ceil_mode: bool,
        count_include_pad: bool,
        divisor_override: Option<usize>,
    ) -> Result<Self> {
        let op = "avg_pool2d";
        if divisor_override == Some(0) {
            return Err(Error::invalid(op, "divisor must be not zero"));
        }
        let params = Pool2dParams {
            kernel: kernel.into().0,
            stride: stride.into().0,
            padding: padding.into().0,
            dilation: [1, 1],
            ceil_mode,
            count_include_pad,
            divisor_override,
        };
        let (x, unbatched) = pool_input(op, self)?;
        check_pool(op, dims4(&x), &params)?;
        rebatch(x.avg_pool2d_checked(params)?, unbatched)
    }

    /// `avg_pool2d` of a 4-D input with checked parameters.
    pub(crate) fn avg_pool2d_checked(&self, params: Pool2dParams) -> Result<Self> {
        let input = dims4(self);
        let [oh, ow] = check_pool("avg_pool2d", input, &params)?;
        let storage = Tensor::read([self], |[s]| {
            self.backend()
                .avg_pool2d(View::new(s, self.layout()), &params)
        })?;
        let out = Tensor::from_storage(storage, [input[0], input[1], oh, ow], self.backend());
        Ok(record_avg_pool2d(self, params, out))
    }

    /// The gradient of `avg_pool2d` (recorded: its own gradient is `avg_pool2d` again).
    pub(crate) fn avg_pool2d_backward(
        grad: &Tensor<B>,
        input_dims: [usize; 4],
        params: Pool2dParams,
    ) -> Result<Self> {
        let storage = Tensor::read([grad], |[g]| {
            grad.backend()
                .avg_pool2d_backward(View::new(g, grad.layout()), input_dims, &params)
        })?;
        let out = Tensor::from_storage(storage, input_dims, grad.backend());
        Ok(record_avg_pool2d_backward(grad, params, out))
    }

    /// `F.adaptive_avg_pool2d(self, output_size)` on `[N, C, H, W]` or `[C, H, W]`: output
    /// `(i, j)` averages rows `[floor(i H / oh), ceil((i + 1) H / oh))` and the columns alike.
    pub fn adaptive_avg_pool2d(&self, output_size: impl Into<Size2>) -> Result<Self> {
        let op = "adaptive_avg_pool2d";
        let output_size = output_size.into().0;
        if output_size.contains(&0) {
            return Err(Error::invalid(
                op,
                format!("output_size must be greater than 0, but got {output_size:?}"),
            ));
        }
        let (x, unbatched) = pool_input(op, self)?;
        rebatch(x.adaptive_avg_pool2d_checked(output_size)?, unbatched)
    }

    /// `adaptive_avg_pool2d` of a 4-D input with non-zero C, H, W and output size.
    pub(crate) fn adaptive_avg_pool2d_checked(&self, output_size: [usize; 2]) -> Result<Self> {
        let input = dims4(self);
        let storage = Tensor::read([self], |[s]| {
            self.backend()
                .adaptive_avg_pool2d(View::new(s, self.layout()), output_size)
        })?;
        let shape = [input[0], input[1], output_size[0], output_size[1]];
        let out = Tensor::from_storage(storage, shape, self.backend());
        Ok(record_adaptive_avg_pool2d(self, out))
    }

    /// The gradient of `adaptive_avg_pool2d` (recorded: its own gradient is the pool again).
    pub(crate) fn adaptive_avg_pool2d_backward(
        grad: &Tensor<B>,
        input_dims: [usize; 4],
    ) -> Result<Self> {
        let storage = Tensor::read([grad], |[g]| {
            grad.backend()
                .adaptive_avg_pool2d_backward(View::new(g, grad.layout()), input_dims)
        })?;
        let out = Tensor::from_storage(storage, input_dims, grad.backend());
        Ok(record_adaptive_avg_pool2d_backward(grad, out))
    }
}
