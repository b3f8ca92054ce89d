//! Pooling layers: [`MaxPool2d`], [`AvgPool2d`], [`AdaptiveAvgPool2d`]. They hold only their
//! geometry (no parameters, no buffers, the same in training and evaluation), built as in
//! PyTorch: `MaxPool2d::new(3).stride(2).padding(1)` is `nn.MaxPool2d(3, stride=2, padding=1)`,
//! and the stride defaults to the kernel size.

use crate::module::Module;
use tiny_torch_core::{Backend, Result};
use tiny_torch_tensor::{Size2, Tensor};

/// `nn.MaxPool2d(kernel_size, stride=kernel_size, padding=0, dilation=1, ceil_mode=False)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxPool2d {
    pub kernel_size: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub dilation: [usize; 2],
    pub ceil_mode: bool,
}

impl MaxPool2d {
    pub fn new(kernel_size: impl Into<Size2>) -> Self {
        let kernel_size = kernel_size.into().0;
        MaxPool2d {
            kernel_size,
            stride: kernel_size,
            padding: [0, 0],
            dilation: [1, 1],
            ceil_mode: false,
        }
    }

    pub fn stride(mut self, stride: impl Into<Size2>) -> Self {
        self.stride = stride.into().0;
        self
    }

    pub fn padding(mut self, padding: impl Into<Size2>) -> Self {
        self.padding = padding.into().0;
        self
    }

    pub fn dilation(mut self, dilation: impl Into<Size2>) -> Self {
        self.dilation = dilation.into().0;
        self
    }

    pub fn ceil_mode(mut self, ceil_mode: bool) -> Self {
        self.ceil_mode = ceil_mode;
        self
    }
}

impl<B: Backend> Module<B> for MaxPool2d {
    fn forward(&self, x: &Tensor<B>) -> Result<Tensor<B>> {
        x.max_pool2d(
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            self.ceil_mode,
        )
    }
}

/// `nn.AvgPool2d(kernel_size, stride=kernel_size, padding=0, ceil_mode=False,
/// count_include_pad=True, divisor_override=None)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AvgPool2d {
    pub kernel_size: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub ceil_mode: bool,
    pub count_include_pad: bool,
    pub divisor_override: Option<usize>,
}

impl AvgPool2d {
    pub fn new(kernel_size: impl Into<Size2>) -> Self {
        let kernel_size = kernel_size.into().0;
        AvgPool2d {
            kernel_size,
            stride: kernel_size,
            padding: [0, 0],
            ceil_mode: false,
            count_include_pad: true,
            divisor_override: None,
        }
    }

    pub fn stride(mut self, stride: impl Into<Size2>) -> Self {
        self.stride = stride.into().0;
        self
    }

    pub fn padding(mut self, padding: impl Into<Size2>) -> Self {
        self.padding = padding.into().0;
        self
    }

    pub fn ceil_mode(mut self, ceil_mode: bool) -> Self {
        self.ceil_mode = ceil_mode;
        self
    }

    pub fn count_include_pad(mut self, count_include_pad: bool) -> Self {
        self.count_include_pad = count_include_pad;
        self
    }

    pub fn divisor_override(mut self, divisor: Option<usize>) -> Self {
        self.divisor_override = divisor;
        self
    }
}

impl<B: Backend> Module<B> for AvgPool2d {
    fn forward(&self, x: &Tensor<B>) -> Result<Tensor<B>> {
        x.avg_pool2d(
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
            self.divisor_override,
        )
    }
}

/// `nn.AdaptiveAvgPool2d(output_size)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdaptiveAvgPool2d {
    pub output_size: [usize; 2],
}

impl AdaptiveAvgPool2d {
    pub fn new(output_size: impl Into<Size2>) -> Self {
        AdaptiveAvgPool2d {
            output_size: output_size.into().0,
        }
    }
}

impl<B: Backend> Module<B> for AdaptiveAvgPool2d {
    fn forward(&self, x: &Tensor<B>) -> Result<Tensor<B>> {
        x.adaptive_avg_pool2d(self.output_size)
    }
}
