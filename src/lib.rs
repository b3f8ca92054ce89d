//! Tiny-Torch: a deep-learning framework in Rust built the way PyTorch is built.
//!
//! This crate is the facade: it re-exports the layers below it (`tiny-torch-core`,
//! `tiny-torch-tensor`, `tiny-torch-nn` as [`nn`], `tiny-torch-optim` as [`optim`],
//! `tiny-torch-data` as [`data`], `tiny-torch-distributed` as [`distributed`]) and the
//! backends compiled in by Cargo features (`cpu`, `cuda` and `wgpu`, on by default), so that a
//! program needs one dependency and one import:
//!
//! ```no_run
//! use tiny_torch::prelude::*;
//!
//! # fn main() -> Result<()> {
//! let cpu = Cpu;
//! manual_seed(0);
//! let x = Tensor::randn(&[2, 3], DType::F32, &cpu)?;
//! println!("{}", x.softmax(-1)?);
//! # Ok(())
//! # }
//! ```
//!
//! It also holds [`conformance`], the runner that checks a backend against PyTorch's golden
//! outputs (used by the test suite and by the `tiny-torch conformance` command).

pub mod checkpoint;
pub mod collect_env;
pub mod conformance;

pub use tiny_torch_core as core;
pub use tiny_torch_data as data;
/// Process groups (MPI, NCCL), `DistributedDataParallel` and the launcher (`torch.distributed`).
pub use tiny_torch_distributed as distributed;
pub use tiny_torch_nn as nn;
pub use tiny_torch_optim as optim;
pub use tiny_torch_tensor as tensor;

pub use tiny_torch_core::{
    Backend, BackendStorage, BinaryOp, DType, Device, Distribution, Element, Error, Layout,
    Operand, ReduceOp, Result, Scalar, ScatterReduce, Shape, StridedOffsets, UnaryOp, View,
    ViewMut, bf16, broadcast_shapes, f16, normalize_dim, philox, result_type,
};
pub use tiny_torch_tensor::autograd;
/// [`profiler::Profiled`]: a backend that times every call of the one it wraps
/// (`torch.profiler`).
pub use tiny_torch_tensor::profiler;
pub use tiny_torch_tensor::{
    DEFAULT_SEED, Generator, NestedArray, Padding, Size2, Tensor, TensorOrScalar,
    default_generator, manual_seed,
};

#[cfg(feature = "cpu")]
pub use tiny_torch_cpu::Cpu;

/// The CUDA backend (`torch.cuda`): [`cuda::Cuda`] devices, [`cuda::is_available`],
/// [`cuda::device_count`], memory statistics, [`cuda::set_allow_tf32`] (matrix products),
/// [`cuda::set_cudnn_allow_tf32`] and [`cuda::set_cudnn_benchmark`] (convolutions). Loaded at
/// run time:
/// on a machine without a driver, `is_available()` is false and `Cuda::new` returns an error.
#[cfg(feature = "cuda")]
pub mod cuda {
    pub use tiny_torch_cuda::{
        Cuda, CudaEnv, CudaStorage, DeviceProperties, LibraryStatus, MemoryStats, allow_tf32,
        cuda_env, cudnn_allow_tf32, cudnn_benchmark, device_count, is_available, set_allow_tf32,
        set_cudnn_allow_tf32, set_cudnn_benchmark,
    };
}
#[cfg(feature = "cuda")]
pub use cuda::Cuda;

/// The wgpu backend (WGSL shaders on Vulkan; Mesa lavapipe on machines without a GPU):
/// [`wgpu::Wgpu`] adapters, [`wgpu::is_available`], [`wgpu::adapters`] and pool statistics.
/// Without a Vulkan driver, `is_available()` is false and `Wgpu::new` returns an error.
#[cfg(feature = "wgpu")]
pub mod wgpu {
    pub use tiny_torch_wgpu::{
        AdapterSummary, MemoryStats, Wgpu, WgpuStorage, adapter_count, adapters, is_available,
    };
}
#[cfg(feature = "wgpu")]
pub use wgpu::Wgpu;

/// What most programs need: `use tiny_torch::prelude::*;`.
pub mod prelude {
    #[cfg(feature = "cpu")]
    pub use crate::Cpu;
    #[cfg(feature = "cuda")]
    pub use crate::Cuda;
    #[cfg(feature = "wgpu")]
    pub use crate::Wgpu;
    pub use crate::autograd::{self, no_grad};
    pub use crate::nn::{self, F, Module};
    pub use crate::optim::{self, Optimizer};
    pub use crate::{Backend, DType, Device, Error, Generator, Result, Tensor, manual_seed};
}
