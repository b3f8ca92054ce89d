//! `torch.nn` for Tiny-Torch: the [`Module`] trait (named parameters and buffers with PyTorch's
//! dotted names, `train()/eval()`, `state_dict` / `load_state_dict`), layers, [`init`] and
//! [`functional`] (activations, losses and normalizations as differentiable tensor expressions:
//! autograd gives their gradients).
//!
//! ```
//! use tiny_torch_cpu::Cpu;
//! use tiny_torch_nn::{F, Linear, Module, Relu, Sequential};
//! use tiny_torch_tensor::{DType, Tensor};
//!
//! # fn main() -> tiny_torch_core::Result<()> {
//! let model = Sequential::new(vec![])
//!     .append(Linear::new(4, 8, true, &Cpu)?)
//!     .append(Relu)
//!     .append(Linear::new(8, 3, true, &Cpu)?);
//! let names: Vec<String> = model.named_parameters().into_iter().map(|(k, _)| k).collect();
//! assert_eq!(names, ["0.weight", "0.bias", "2.weight", "2.bias"]);
//! let x = Tensor::rand(&[5, 4], DType::F32, &Cpu)?;
//! let y = Tensor::from_slice(&[0i64, 2, 1, 1, 0], &[5], &Cpu)?;
//! let loss = F::cross_entropy(&model.forward(&x)?, &y)?;
//! loss.backward()?;
//! assert!(model.parameters().iter().all(|p| p.grad().is_some()));
//! # Ok(())
//! # }
//! ```
//!
//! Files: `module` (the trait and state dicts), `layers` (Linear, activations, Dropout,
//! Sequential, ...), `conv` (Conv2d, ConvTranspose2d), `pool` (MaxPool2d, AvgPool2d,
//! AdaptiveAvgPool2d), `batch_norm` (BatchNorm1d, BatchNorm2d), `init` (`nn.init`),
//! `functional` (`nn.functional`), `utils` (`nn.utils`: gradient clipping).

mod batch_norm;
pub mod checkpoint;
mod container;
mod conv;
pub mod functional;
pub mod init;
mod layers;
pub mod models;
mod module;
mod pool;
pub mod utils;

pub use batch_norm::{BatchNorm, BatchNorm1d, BatchNorm2d, BatchNormOptions};
pub use container::ModuleList;
pub use conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
pub use layers::{
    Dropout, Embedding, Flatten, Gelu, GroupNorm, Identity, LayerNorm, Linear, Relu, Sequential,
    Sigmoid, Silu, Softmax, Tanh,
};
pub use module::{LoadReport, Module, TrainingFlag};
pub use pool::{AdaptiveAvgPool2d, AvgPool2d, MaxPool2d};
pub use tiny_torch_tensor::{Padding, Size2};

/// `torch.nn.functional`, as PyTorch programs spell it (`F.cross_entropy`).
pub use functional as F;
