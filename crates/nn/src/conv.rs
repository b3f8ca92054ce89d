//! Convolution layers: [`Conv2d`] and [`ConvTranspose2d`], with PyTorch's arguments, defaults,
//! checks and initialisation (kaiming-uniform with a = √5 for the weight, i.e. U(±1/√fan_in),
//! and U(±1/√fan_in) for the bias, where `fan_in = weight.size(1) * kh * kw`).
//!
//! ```
//! use tiny_torch_cpu::Cpu;
//! use tiny_torch_nn::{Conv2d, Conv2dConfig, Module, Padding};
//! use tiny_torch_tensor::{DType, Tensor};
//!
//! # fn main() -> tiny_torch_core::Result<()> {
//! // nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
//! let stem = Conv2dConfig::default().stride(2).padding(3).bias(false);
//! let stem = Conv2d::with_config(3, 64, 7, stem, &Cpu)?;
//! let same = Conv2dConfig::default().padding(Padding::Same);
//! let same = Conv2d::with_config(64, 64, 3, same, &Cpu)?;
//! let x = Tensor::randn(&[1, 3, 32, 32], DType::F32, &Cpu)?;
//! assert_eq!(same.forward(&stem.forward(&x)?)?.dims(), &[1, 64, 16, 16]);
//! # Ok(())
//! # }
//! ```

use crate::functional as F;
use crate::init::{self, FanMode};
use crate::module::{Module, TrainingFlag};
use tiny_torch_core::{Backend, DType, Error, Result};
use tiny_torch_tensor::{Generator, Padding, Size2, Tensor, default_generator};

/// The optional arguments of [`Conv2d`], with PyTorch's defaults (stride 1, padding 0,
/// dilation 1, groups 1, bias); set them with the builder methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dConfig {
    pub stride: Size2,
    pub padding: Padding,
    pub dilation: Size2,
    pub groups: usize,
    pub bias: bool,
}

impl Default for Conv2dConfig {
    fn default() -> Self {
        Conv2dConfig {
            stride: Size2([1, 1]),
            padding: Padding::Explicit([0, 0]),
            dilation: Size2([1, 1]),
            groups: 1,
            bias: true,
        }
    }
}

impl Conv2dConfig {
    pub fn stride(mut self, stride: impl Into<Size2>) -> Self {
        self.stride = stride.into();
        self
    }

    /// Sizes, or [`Padding::Same`] / [`Padding::Valid`].
    pub fn padding(mut self, padding: impl Into<Padding>) -> Self {
        self.padding = padding.into();
        self
    }

    pub fn dilation(mut self, dilation: impl Into<Size2>) -> Self {
        self.dilation = dilation.into();
        self
    }

    pub fn groups(mut self, groups: usize) -> Self {
        self.groups = groups;
        self
    }

    pub fn bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }
}

/// The optional arguments of [`ConvTranspose2d`], with PyTorch's defaults (stride 1, padding 0,
/// output_padding 0, groups 1, bias, dilation 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvTranspose2dConfig {
    pub stride: Size2,
    pub padding: Size2,
    pub output_padding: Size2,
    pub groups: usize,
    pub bias: bool,
    pub dilation: Size2,
}

impl Default for ConvTranspose2dConfig {
    fn default() -> Self {
        ConvTranspose2dConfig {
            stride: Size2([1, 1]),
            padding: Size2([0, 0]),
            output_padding: Size2([0, 0]),
            groups: 1,
            bias: true,
            dilation: Size2([1, 1]),
        }
    }
}

impl ConvTranspose2dConfig {
    pub fn stride(mut self, stride: impl Into<Size2>) -> Self {
        self.stride = stride.into();
        self
    }

    pub fn padding(mut self, padding: impl Into<Size2>) -> Self {
        self.padding = padding.into();
        self
    }

    pub fn output_padding(mut self, output_padding: impl Into<Size2>) -> Self {
        self.output_padding = output_padding.into();
        self
    }

    pub fn groups(mut self, groups: usize) -> Self {
        self.groups = groups;
        self
    }

    pub fn bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }

    pub fn dilation(mut self, dilation: impl Into<Size2>) -> Self {
        self.dilation = dilation.into();
        self
    }
}

/// PyTorch's `_ConvNd` checks of the channel counts and groups.
fn check_channels(
    op: &'static str,
    in_channels: usize,
    out_channels: usize,
    groups: usize,
) -> Result<()> {
    if groups == 0 {
        return Err(Error::invalid(op, "groups must be a positive integer"));
    }
    if !in_channels.is_multiple_of(groups) {
        return Err(Error::invalid(
            op,
            "in_channels must be divisible by groups",
        ));
    }
    if !out_channels.is_multiple_of(groups) {
        return Err(Error::invalid(
            op,
            "out_channels must be divisible by groups",
        ));
    }
    Ok(())
}

/// A weight of `dims` and an optional bias of `bias_len`, initialised as PyTorch's
/// `_ConvNd.reset_parameters`, both requiring grad.
fn parameters<B: Backend>(
    dims: [usize; 4],
    bias_len: Option<usize>,
    dtype: DType,
    backend: &B,
    generator: &Generator,
) -> Result<(Tensor<B>, Option<Tensor<B>>)> {
    let weight = Tensor::empty(&dims, dtype, backend)?;
    init::kaiming_uniform_(
        &weight,
        5f64.sqrt(),
        FanMode::FanIn,
        "leaky_relu",
        Some(generator),
    )?;
    let bias = match bias_len {
        Some(len) => {
            let b = Tensor::empty(&[len], dtype, backend)?;
            let (fan_in, _) = init::calculate_fan_in_and_fan_out(&weight)?;
            let bound = if fan_in > 0 {
                1.0 / (fan_in as f64).sqrt()
            } else {
                0.0
            };
            init::uniform_(&b, -bound, bound, Some(generator))?;
            Some(b.requires_grad_(true)?)
        }
        None => None,
    };
    Ok((weight.requires_grad_(true)?, bias))
}

/// `nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias)`:
/// `weight [out, in / groups, kh, kw]`, `bias [out]`.
pub struct Conv2d<B: Backend> {
    pub weight: Tensor<B>,
    pub bias: Option<Tensor<B>>,
    pub config: Conv2dConfig,
    training: TrainingFlag,
}

impl<B: Backend> Conv2d<B> {
    /// A float32 layer with PyTorch's default arguments, initialised from the default generator.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel_size: impl Into<Size2>,
        backend: &B,
    ) -> Result<Self> {
        Self::with_config(
            in_channels,
            out_channels,
            kernel_size,
            Conv2dConfig::default(),
            backend,
        )
    }

    /// A float32 layer with `config`, initialised from the default generator.
    pub fn with_config(
        in_channels: usize,
        out_channels: usize,
        kernel_size: impl Into<Size2>,
        config: Conv2dConfig,
        backend: &B,
    ) -> Result<Self> {
        Self::new_with(
            in_channels,
            out_channels,
            kernel_size,
            config,
            DType::F32,
            backend,
            default_generator(),
        )
    }

    /// A layer of `dtype` initialised from `generator`.
    pub fn new_with(
        in_channels: usize,
        out_channels: usize,
        kernel_size: impl Into<Size2>,
        config: Conv2dConfig,
        dtype: DType,
        backend: &B,
        generator: &Generator,
    ) -> Result<Self> {
        let op = "Conv2d";
        check_channels(op, in_channels, out_channels, config.groups)?;
        if config.padding == Padding::Same && config.stride.0 != [1, 1] {
            return Err(Error::invalid(
                op,
                "padding='same' is not supported for strided convolutions",
            ));
        }
        let [kh, kw] = kernel_size.into().0;
        let dims = [out_channels, in_channels / config.groups, kh, kw];
        let (weight, bias) = parameters(
            dims,
            config.bias.then_some(out_channels),
            dtype,
            backend,
            generator,
        )?;
        Ok(Conv2d {
            weight,
            bias,
            config,
            training: TrainingFlag::default(),
        })
    }
}

impl<B: Backend> Module<B> for Conv2d<B> {
    fn forward(&self, x: &Tensor<B>) -> Result<Tensor<B>> {
        let c = &self.config;
        F::conv2d(
            x,
            &self.weight,
            self.bias.as_ref(),
            c.stride,
            c.padding,
            c.dilation,
            c.groups,
        )
    }

    fn local_parameters(&self) -> Vec<(String, Tensor<B>)> {
        let mut out = vec![("weight".to_string(), self.weight.clone())];
        if let Some(b) = &self.bias {
            out.push(("bias".to_string(), b.clone()));
        }
        out
    }

    fn training_flag(&self) -> Option<&TrainingFlag> {
        Some(&self.training)
    }
}

/// `nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride, padding, output_padding,
/// groups, bias, dilation)`: `weight [in, out / groups, kh, kw]`, `bias [out]`.
pub struct ConvTranspose2d<B: Backend> {
    pub weight: Tensor<B>,
    pub bias: Option<Tensor<B>>,
    pub config: ConvTranspose2dConfig,
    training: TrainingFlag,
}

impl<B: Backend> ConvTranspose2d<B> {
    /// A float32 layer with PyTorch's default arguments, initialised from the default generator.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel_size: impl Into<Size2>,
        backend: &B,
    ) -> Result<Self> {
        Self::with_config(
            in_channels,
            out_channels,
            kernel_size,
            ConvTranspose2dConfig::default(),
            backend,
        )
    }

    /// A float32 layer with `config`, initialised from the default generator.
    pub fn with_config(
        in_channels: usize,
        out_channels: usize,
        kernel_size: impl Into<Size2>,
        config: ConvTranspose2dConfig,
        backend: &B,
    ) -> Result<Self> {
        Self::new_with(
            in_channels,
            out_channels,
            kernel_size,
            config,
            DType::F32,
            backend,
            default_generator(),
        )
    }

    /// A layer of `dtype` initialised from `generator`.
    pub fn new_with(
        in_channels: usize,
        out_channels: usize,
        kernel_size: impl Into<Size2>,
        config: ConvTranspose2dConfig,
        dtype: DType,
        backend: &B,
        generator: &Generator,
    ) -> Result<Self> {
        check_channels("ConvTranspose2d", in_channels, out_channels, config.groups)?;
        let [kh, kw] = kernel_size.into().0;
        let dims = [in_channels, out_channels / config.groups, kh, kw];
        let (weight, bias) = parameters(
            dims,
            config.bias.then_some(out_channels),
            dtype,
            backend,
            generator,
        )?;
        Ok(ConvTranspose2d {
            weight,
            bias,
            config,
            training: TrainingFlag::default(),
        })
    }
}

impl<B: Backend> Module<B> for ConvTranspose2d<B> {
    fn forward(&self, x: &Tensor<B>) -> Result<Tensor<B>> {
        let c = &self.config;
        F::conv_transpose2d(
            x,
            &self.weight,
            self.bias.as_ref(),
            c.stride,
            c.padding,
            c.output_padding,
            c.groups,
            c.dilation,
        )
    }

    fn local_parameters(&self) -> Vec<(String, Tensor<B>)> {
        let mut out = vec![("weight".to_string(), self.weight.clone())];
        if let Some(b) = &self.bias {
            out.push(("bias".to_string(), b.clone()));
        }
        out
    }

    fn training_flag(&self) -> Option<&TrainingFlag> {
        Some(&self.training)
    }
}
