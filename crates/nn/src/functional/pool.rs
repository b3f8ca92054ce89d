//! Pooling in `nn.functional`: `max_pool2d` (and `max_pool2d_with_indices`), `avg_pool2d`,
//! `adaptive_avg_pool2d`. Each is the fused tensor op of the same name (`Tensor::max_pool2d`,
//! ...), differentiable through autograd. Sizes are `[height, width]` or one `usize` for both.
//! PyTorch's defaults, which Rust has no syntax for: `stride = kernel_size`, `padding = 0`,
//! `dilation = 1`, `ceil_mode = false`, `count_include_pad = true`, `divisor_override = None`.

use tiny_torch_core::{Backend, Result};
use tiny_torch_tensor::{Size2, Tensor};

/// `F.max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode)` on `[N, C, H, W]` or
/// `[C, H, W]`: the maximum of each window (padding is `-inf`; NaN propagates).
pub fn max_pool2d<B: Backend>(
    x: &Tensor<B>,
    kernel_size: impl Into<Size2>,
    stride: impl Into<Size2>,
    padding: impl Into<Size2>,
    dilation: impl Into<Size2>,
    ceil_mode: bool,
) -> Result<Tensor<B>> {
    x.max_pool2d(kernel_size, stride, padding, dilation, ceil_mode)
}

/// `F.max_pool2d(..., return_indices=True)`: the values and the `int64` flat index of each
/// maximum within its `H * W` input plane.
pub fn max_pool2d_with_indices<B: Backend>(
    x: &Tensor<B>,
    kernel_size: impl Into<Size2>,
    stride: impl Into<Size2>,
    padding: impl Into<Size2>,
    dilation: impl Into<Size2>,
    ceil_mode: bool,
) -> Result<(Tensor<B>, Tensor<B>)> {
    x.max_pool2d_with_indices(kernel_size, stride, padding, dilation, ceil_mode)
}

/// `F.avg_pool2d(x, kernel_size, stride, padding, ceil_mode, count_include_pad,
/// divisor_override)` on `[N, C, H, W]` or `[C, H, W]`, with PyTorch's divisors.
pub fn avg_pool2d<B: Backend>(
    x: &Tensor<B>,
    kernel_size: impl Into<Size2>,
    stride: impl Into<Size2>,
    padding: impl Into<Size2>,
    ceil_mode: bool,
    count_include_pad: bool,
    divisor_override: Option<usize>,
) -> Result<Tensor<B>> {
    x.avg_pool2d(
        kernel_size,
        stride,
        padding,
        ceil_mode,
        count_include_pad,
        divisor_override,
    )
}

/// `F.adaptive_avg_pool2d(x, output_size)` on `[N, C, H, W]` or `[C, H, W]`.
pub fn adaptive_avg_pool2d<B: Backend>(
    x: &Tensor<B>,
    output_size: impl Into<Size2>,
) -> Result<Tensor<B>> {
    x.adaptive_avg_pool2d(output_size)
}
