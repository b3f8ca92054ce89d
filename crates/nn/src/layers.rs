//! Layers: [`Linear`], activations, [`Dropout`], [`Flatten`], [`Identity`] and the
//! [`Sequential`] container, with PyTorch's names, defaults and initialisation.

use crate::functional as F;
use crate::init::{self, FanMode};
use crate::module::{Module, TrainingFlag};
use std::sync::Arc;
use tiny_torch_core::{Backend, DType, Result};
use tiny_torch_tensor::{Generator, Tensor, default_generator};

/// `nn.Linear(in_features, out_features, bias)`: `y = x Wᵀ + b` with `weight [out, in]` and
/// `bias [out]`, initialised as PyTorch does: kaiming-uniform (a = √5) for the weight, i.e.
/// U(±1/√in), and U(±1/√in) for the bias.
pub struct Linear<B: Backend> {
    pub weight: Tensor<B>,
    pub bias: Option<Tensor<B>>,
    training: TrainingFlag,
}

impl<B: Backend> Linear<B> {
    /// A float32 layer initialised from the default generator.
    pub fn new(in_features: usize, out_features: usize, bias: bool, backend: &B) -> Result<Self> {
        Self::new_with(
            in_features,
            out_features,
            bias,
            DType::F32,
            backend,
            default_generator(),
        )
    }

    /// A layer of `dtype` initialised from `generator`.
    pub fn new_with(
        in_features: usize,
        out_features: usize,
        bias: bool,
        dtype: DType,
        backend: &B,
        generator: &Generator,
    ) -> Result<Self> {
        let weight = Tensor::empty(&[out_features, in_features], dtype, backend)?;
        init::kaiming_uniform_(
            &weight,
            5f64.sqrt(),
            FanMode::FanIn,
            "leaky_relu",
            Some(generator),
        )?;
        let weight = weight.requires_grad_(true)?;
        let bias = if bias {
            let b = Tensor::empty(&[out_features], dtype, backend)?;
            let bound = if in_features > 0 {
                1.0 / (in_features as f64).sqrt()
            } else {
                0.0
            };
            init::uniform_(&b, -bound, bound, Some(generator))?;
            Some(b.requires_grad_(true)?)
        } else {
            None
        };
        Ok(Linear {
            weight,
            bias,
            training: TrainingFlag::default(),
        })
    }

    pub fn in_features(&self) -> usize {
        self.weight.dims().get(1).copied().unwrap_or(0)
    }

    pub fn out_features(&self) -> usize {
        self.weight.dims().first().copied().unwrap_or(0)
    }
}

impl<B: Backend> Module<B> for Linear<B> {
    fn forward(&self, x: &Tensor<B>) -> Result<Tensor<B>> {
        F::linear(x, &self.weight, self.bias.as_ref())
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

macro_rules! activation {
    ($(#[$doc:meta] $name:ident => $f:expr),* $(,)?) => {$(
        #[$doc]
        #[derive(Clone, Copy, Debug, Default)]
        pub struct $name;

        impl<B: Backend> Module<B> for $name {
            fn forward(&self, x: &Tensor<B>) -> Result<Tensor<B>> {
                let f: fn(&Tensor<B>) -> Result<Tensor<B>> = $f;
                f(x)
            }
        }
    )*};
}

activation!(
    /// `nn.ReLU()`.
    Relu => |x| x.relu(),
    /// `nn.GELU()` (exact, erf-based; see [`F::gelu_tanh`] for the tanh approximation).
    Gelu => |x| x.gelu(),
    /// `nn.SiLU()`.
    Silu => |x| x.silu(),
    /// `nn.Sigmoid()`.
    Sigmoid => |x| x.sigmoid(),
    /// `nn.Tanh()`.
    Tanh => |x| x.tanh(),
    /// `nn.Identity()`.
    Identity => |x| Ok(x.clone()),
);

/// `nn.Softmax(dim)`.
#[derive(Clone, Copy, Debug)]
pub struct Softmax {
    pub dim: isize,
}

impl Softmax {
    pub fn new(dim: isize) -> Self {
        Softmax { dim }
    }
}

impl<B: Backend> Module<B> for Softmax {
    fn forward(&self, x: &Tensor<B>) -> Result<Tensor<B>> {
        x.softmax(self.dim)
    }
}

/// `nn.Flatten(start_dim=1, end_dim=-1)`.
#[derive(Clone, Copy, Debug)]
pub struct Flatten {
    pub start_dim: isize,
    pub end_dim: isize,
}

impl Default for Flatten {
    fn default() -> Self {
        Flatten {
            start_dim: 1,
            end_dim: -1,
        }
    }
}

impl Flatten {
    pub fn new(start_dim: isize, end_dim: isize) -> Self {
        Flatten { start_dim, end_dim }
    }
}

impl<B: Backend> Module<B> for Flatten {
    fn forward(&self, x: &Tensor<B>) -> Result<Tensor<B>> {
        x.flatten(self.start_dim, self.end_dim)
    }
}

/// `nn.Dropout(p)`: in training mode zeroes each element with probability `p` and scales the
/// rest by `1 / (1 - p)`; the identity in eval mode. The mask comes from the default generator
/// unless [`Dropout::with_generator`] gives one (for reproducible runs).
pub struct Dropout {
    pub p: f64,
    generator: Option<Arc<Generator>>,
    training: TrainingFlag,
}

impl Dropout {
    pub fn new(p: f64) -> Self {
        Dropout {
            p,
            generator: None,
            training: TrainingFlag::default(),
        }
    }

    /// Draws the masks from `generator`.
    pub fn with_generator(mut self, generator: Arc<Generator>) -> Self {
        self.generator = Some(generator);
        self
    }
}

impl<B: Backend> Module<B> for Dropout {
    fn forward(&self, x: &Tensor<B>) -> Result<Tensor<B>> {
        let generator = match &self.generator {
            Some(g) => g.as_ref(),
            None => default_generator(),
        };
        F::dropout_with(x, self.p, self.training.get(), generator)
    }

    fn training_flag(&self) -> Option<&TrainingFlag> {
        Some(&self.training)
    }
}

/// `nn.Sequential(m0, m1, ...)`: applies its children in order; they are named `"0"`, `"1"`,
/// ... so parameters read `"0.weight"`, `"2.bias"`.
pub struct Sequential<B: Backend> {
    layers: Vec<Box<dyn Module<B>>>,
    training: TrainingFlag,
}

impl<B: Backend> Default for Sequential<B> {
    fn default() -> Self {
        Sequential {
            layers: Vec::new(),
            training: TrainingFlag::default(),
        }
    }
}

impl<B: Backend> Sequential<B> {
    pub fn new(layers: Vec<Box<dyn Module<B>>>) -> Self {
        Sequential {
            layers,
            training: TrainingFlag::default(),
        }
    }

    /// Appends a layer (`seq.append(m)`), builder style.
    pub fn append(mut self, layer: impl Module<B> + 'static) -> Self {
        self.layers.push(Box::new(layer));
        self
    }

    pub fn len(&self) -> usize {
        self.layers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// The `i`-th layer (`seq[i]`).
    pub fn get(&self, i: usize) -> Option<&dyn Module<B>> {
        self.layers.get(i).map(|m| m.as_ref())
    }
}

impl<B: Backend> Module<B> for Sequential<B> {
    fn forward(&self, x: &Tensor<B>) -> Result<Tensor<B>> {
        let mut y = x.clone();
        for layer in &self.layers {
            y = layer.forward(&y)?;
        }
        Ok(y)
    }

    fn children(&self) -> Vec<(String, &dyn Module<B>)> {
        self.layers
            .iter()
            .enumerate()
            .map(|(i, m)| (i.to_string(), m.as_ref()))
            .collect()
    }

    fn training_flag(&self) -> Option<&TrainingFlag> {
        Some(&self.training)
    }
}

/// `nn.LayerNorm(normalized_shape, eps=1e-5, elementwise_affine=True, bias=True)`: normalizes
/// over the trailing `normalized_shape` dims; weight initialised to ones, bias to zeros.
pub struct LayerNorm<B: Backend> {
    pub normalized_shape: Vec<usize>,
    pub eps: f64,
    pub weight: Option<Tensor<B>>,
    pub bias: Option<Tensor<B>>,
}

impl<B: Backend> LayerNorm<B> {
    /// A float32 layer with affine weight and bias.
    pub fn new(normalized_shape: &[usize], backend: &B) -> Result<Self> {
        Self::new_with(normalized_shape, 1e-5, true, DType::F32, backend)
    }

    pub fn new_with(
        normalized_shape: &[usize],
        eps: f64,
        elementwise_affine: bool,
        dtype: DType,
        backend: &B,
    ) -> Result<Self> {
        let (weight, bias) = if elementwise_affine {
            (
                Some(Tensor::ones(normalized_shape, dtype, backend)?.requires_grad_(true)?),
                Some(Tensor::zeros(normalized_shape, dtype, backend)?.requires_grad_(true)?),
            )
        } else {
            (None, None)
        };
        Ok(LayerNorm {
            normalized_shape: normalized_shape.to_vec(),
            eps,
            weight,
            bias,
        })
    }
}

impl<B: Backend> Module<B> for LayerNorm<B> {
    fn forward(&self, x: &Tensor<B>) -> Result<Tensor<B>> {
        F::layer_norm(
            x,
            &self.normalized_shape,
            self.weight.as_ref(),
            self.bias.as_ref(),
            self.eps,
        )
    }

    fn local_parameters(&self) -> Vec<(String, Tensor<B>)> {
        affine_parameters(&self.weight, &self.bias)
    }
}

fn affine_parameters<B: Backend>(
    weight: &Option<Tensor<B>>,
    bias: &Option<Tensor<B>>,
) -> Vec<(String, Tensor<B>)> {
    let mut out = Vec::new();
    if let Some(w) = weight {
        out.push(("weight".to_string(), w.clone()));
    }
    if let Some(b) = bias {
        out.push(("bias".to_string(), b.clone()));
    }
    out
}

/// `nn.GroupNorm(num_groups, num_channels, eps=1e-5, affine=True)` on `[N, C, *]`; weight
/// initialised to ones, bias to zeros (both `[C]`).
pub struct GroupNorm<B: Backend> {
    pub num_groups: usize,
    pub num_channels: usize,
    pub eps: f64,
    pub weight: Option<Tensor<B>>,
    pub bias: Option<Tensor<B>>,
}

impl<B: Backend> GroupNorm<B> {
    /// A float32 layer with affine weight and bias.
    pub fn new(num_groups: usize, num_channels: usize, backend: &B) -> Result<Self> {
        Self::new_with(num_groups, num_channels, 1e-5, true, DType::F32, backend)
    }

    pub fn new_with(
        num_groups: usize,
        num_channels: usize,
        eps: f64,
        affine: bool,
        dtype: DType,
        backend: &B,
    ) -> Result<Self> {
        if num_groups == 0 || !num_channels.is_multiple_of(num_groups) {
            return Err(tiny_torch_core::Error::invalid(
                "GroupNorm",
                format!(
                    "num_channels ({num_channels}) must be divisible by num_groups ({num_groups})"
                ),
            ));
        }
        let (weight, bias) = if affine {
            (
                Some(Tensor::ones(&[num_channels], dtype, backend)?.requires_grad_(true)?),
                Some(Tensor::zeros(&[num_channels], dtype, backend)?.requires_grad_(true)?),
            )
        } else {
            (None, None)
        };
        Ok(GroupNorm {
            num_groups,
            num_channels,
            eps,
            weight,
            bias,
        })
    }
}

impl<B: Backend> Module<B> for GroupNorm<B> {
    fn forward(&self, x: &Tensor<B>) -> Result<Tensor<B>> {
        F::group_norm(
            x,
            self.num_groups,
            self.weight.as_ref(),
            self.bias.as_ref(),
            self.eps,
        )
    }

    fn local_parameters(&self) -> Vec<(String, Tensor<B>)> {
        affine_parameters(&self.weight, &self.bias)
    }
}

/// `nn.Embedding(num_embeddings, embedding_dim)`: rows of `weight [num, dim]` (initialised
/// N(0, 1)) at integer indices of any shape; the output has shape `indices.shape + [dim]`.
/// With [`Embedding::padding_idx`], that row starts at zero and gets no gradient, as in
/// PyTorch. (`max_norm` and sparse gradients are not supported.)
pub struct Embedding<B: Backend> {
    pub weight: Tensor<B>,
    pub padding_idx: Option<usize>,
}

impl<B: Backend> Embedding<B> {
    /// A float32 table initialised from the default generator.
    pub fn new(num_embeddings: usize, embedding_dim: usize, backend: &B) -> Result<Self> {
        Self::new_with(
            num_embeddings,
            embedding_dim,
            DType::F32,
            backend,
            default_generator(),
        )
    }

    pub fn new_with(
        num_embeddings: usize,
        embedding_dim: usize,
        dtype: DType,
        backend: &B,
        generator: &Generator,
    ) -> Result<Self> {
        let weight = Tensor::normal_with(
            0.0,
            1.0,
            &[num_embeddings, embedding_dim],
            dtype,
            backend,
            generator,
        )?
        .requires_grad_(true)?;
        Ok(Embedding {
            weight,
            padding_idx: None,
        })
    }

    /// `padding_idx`: zeroes that row and keeps its gradient at zero (a negative index counts
    /// from the end, as in PyTorch).
    pub fn padding_idx(mut self, index: isize) -> Result<Self> {
        let rows = self.weight.dims()[0] as isize;
        let resolved = if index < 0 { index + rows } else { index };
        if !(0..rows).contains(&resolved) {
            return Err(tiny_torch_core::Error::invalid(
                "Embedding",
                format!("padding_idx must be within num_embeddings ({rows}), got {index}"),
            ));
        }
        let row = resolved as usize;
        crate::init::zeros_(&self.weight.narrow(0, row, 1)?)?;
        self.padding_idx = Some(row);
        Ok(self)
    }
}

impl<B: Backend> Module<B> for Embedding<B> {
    fn forward(&self, indices: &Tensor<B>) -> Result<Tensor<B>> {
        F::embedding_with_padding(indices, &self.weight, self.padding_idx)
    }

    fn local_parameters(&self) -> Vec<(String, Tensor<B>)> {
        vec![("weight".to_string(), self.weight.clone())]
    }
}
