//! The wgpu backend of Tiny-Torch: [`Wgpu`] implements [`Backend`] with WGSL compute shaders on
//! a Vulkan adapter (a GPU, or Mesa's lavapipe on the CPU). Design notes: `docs/wgpu.md`.
//!
//! - **Adapters.** [`adapters`] lists the Vulkan adapters (discrete GPUs first, CPU adapters
//!   last); [`Wgpu::new`] opens one by index, [`Wgpu::by_name`] by a part of its name and
//!   [`Wgpu::try_default`] the first. Without a Vulkan driver these return an error and
//!   [`is_available`] is false (never a panic). Each device requests the adapter's own limits.
//! - **Shaders** live in `backends/wgpu/shaders/*.wgsl`, one file per op family with the stems of
//!   the CPU backend's files, embedded at build time and instantiated per dtype (`shader`).
//!   They read strided and broadcast operands through a layout uniform (`launch`): no
//!   contiguous copies of inputs.
//! - **Memory** comes from a caching buffer pool by size class (`storage`), with
//!   [`Wgpu::memory_stats`] and [`Wgpu::empty_cache`].
//! - **Asynchronous.** Each op records one compute pass and submits it to the adapter's queue;
//!   only reading back (`to_bytes`) and [`Backend::synchronize`] wait. Index errors found by
//!   shaders are flagged on the device and reported by the next synchronizing call.
//!
//! # Dtypes
//!
//! `f32`, `i32`, `u8`, `bool` and `bf16` everywhere (`u8`/`bool` stored as one `u32` per
//! element, `bf16` in the upper half of one); `f16` where the adapter has `SHADER_F16`, `i64`
//! where it has `SHADER_INT64`, `f64` where it has `SHADER_F64` and `SHADER_INT64` (lavapipe has
//! all three; f64 elementary functions come from `shaders/math.wgsl`). `f16` and `bf16` compute
//! in `f32`. Anything else is `Error::Unsupported` naming the op, the dtype and `wgpu`, never a
//! result computed in another dtype.

mod batch_norm;
mod binary;
mod conv;
mod copy;
mod device;
mod indexing;
mod launch;
mod matmul;
mod pool;
mod random;
mod reduce;
mod shader;
mod softmax;
mod storage;
mod unary;

pub use device::{AdapterSummary, adapter_count, adapters, is_available};
pub use shader::SHADERS;
pub use storage::{MemoryStats, WgpuStorage};

use device::{WgpuDevice, backend_error};
use std::sync::Arc;
use tiny_torch_core::{
    Backend, BatchNormSaved, BinaryOp, Conv2dParams, DType, Device, Distribution, Pool2dParams,
    ReduceOp, Result, Scalar, ScatterReduce, UnaryOp, View, ViewMut,
};

/// The dtypes whose shader instantiations the validation test checks.
const VALIDATED_DTYPES: [DType; 8] = [
    DType::F32,
    DType::I32,
    DType::U8,
    DType::Bool,
    DType::I64,
    DType::F64,
    DType::F16,
    DType::BF16,
];

/// One wgpu adapter. Cheap to clone; every handle to the same adapter shares its device,
/// queue, buffer pool and compiled pipelines.
#[derive(Clone)]
pub struct Wgpu {
    device: Arc<WgpuDevice>,
}

impl std::fmt::Debug for Wgpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Wgpu({}, {})", self.device.index, self.device.info.name)
    }
}

impl PartialEq for Wgpu {
    fn eq(&self, other: &Self) -> bool {
        self.device.index == other.device.index
    }
}

impl Wgpu {
    /// Adapter `index` of [`adapters`] (`wgpu:N`). An error, not a panic, without a driver or
    /// such an adapter.
    pub fn new(index: usize) -> Result<Self> {
        Ok(Wgpu {
            device: WgpuDevice::get(index)?,
        })
    }

    /// The first adapter (a discrete GPU if there is one, lavapipe last).
    pub fn try_default() -> Result<Self> {
        Self::new(0)
    }

    /// The first adapter whose name contains `name` (case-insensitive), e.g. `"llvmpipe"`.
    pub fn by_name(name: &str) -> Result<Self> {
        let wanted = name.to_lowercase();
        let list = adapters();
        let found = list
            .iter()
            .find(|a| a.name.to_lowercase().contains(&wanted))
            .ok_or_else(|| {
                let names: Vec<&str> = list.iter().map(|a| a.name.as_str()).collect();
                backend_error(format!(
                    "no wgpu adapter named like '{name}' (adapters: {names:?})"
                ))
            })?;
        Self::new(found.index)
    }

    pub fn index(&self) -> usize {
        self.device.index
    }

    /// The adapter's name, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)".
    pub fn adapter_name(&self) -> &str {
        &self.device.info.name
    }

    /// Whether tensors of `dtype` are supported on this adapter (see the crate docs).
    pub fn supports_dtype(&self, dtype: DType) -> bool {
        self.device.supports(dtype)
    }

    /// Bytes in use and cached by the buffer pool.
    pub fn memory_stats(&self) -> MemoryStats {
        device::lock(&self.device.pool).stats
    }

    /// Drops the pool's cached buffers (wgpu frees them once no queued op uses them).
    pub fn empty_cache(&self) {
        device::lock(&self.device.pool).clear();
    }

    pub(crate) fn device(&self) -> &Arc<WgpuDevice> {
        &self.device
    }
}

/// Every shader instantiation the backend can ask for, as `(name, WGSL source)`: what the
/// validation test parses and validates with naga.
#[doc(hidden)]
pub fn shader_variants() -> Vec<(String, String)> {
    let specs = [
        copy::variants(),
        batch_norm::variants(),
        conv::variants(),
        unary::variants(),
        binary::variants(),
        reduce::variants(),
        softmax::variants(),
        matmul::variants(),
        pool::variants(),
        indexing::variants(),
        random::variants(),
    ];
    specs
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, s)| {
            let source = s.source().unwrap_or_else(|e| format!("// {e}"));
            (format!("{}.wgsl #{i}", s.stem), source)
        })
        .collect()
}

impl Backend for Wgpu {
    type Storage = WgpuStorage;

    fn name(&self) -> &'static str {
        "wgpu"
    }

    fn device(&self) -> Device {
        Device::Wgpu(self.device.index)
    }

    fn alloc(&self, dtype: DType, len: usize) -> Result<WgpuStorage> {
        storage::alloc(&self.device, dtype, len)
    }

    fn from_bytes(&self, dtype: DType, bytes: &[u8]) -> Result<WgpuStorage> {
        copy::from_bytes(self, dtype, bytes)
    }

    fn to_bytes(&self, src: View<'_, WgpuStorage>) -> Result<Vec<u8>> {
        copy::to_bytes(self, src)
    }

    fn fill(&self, dst: ViewMut<'_, WgpuStorage>, value: Scalar) -> Result<()> {
        copy::fill(self, dst, value)
    }

    fn copy(&self, src: View<'_, WgpuStorage>, dst: ViewMut<'_, WgpuStorage>) -> Result<()> {
        copy::copy(self, src, dst)
    }

    fn synchronize(&self) -> Result<()> {
        self.device.synchronize()
    }

    fn unary(
        &self,
        op: UnaryOp,
        src: View<'_, WgpuStorage>,
        dst: ViewMut<'_, WgpuStorage>,
    ) -> Result<()> {
        unary::unary(self, op, src, dst)
    }

    fn unary_inplace(&self, op: UnaryOp, dst: ViewMut<'_, WgpuStorage>) -> Result<()> {
        unary::unary_inplace(self, op, dst)
    }

    fn binary(
        &self,
        op: BinaryOp,
        lhs: View<'_, WgpuStorage>,
        rhs: View<'_, WgpuStorage>,
        dst: ViewMut<'_, WgpuStorage>,
    ) -> Result<()> {
        binary::binary(self, op, lhs, rhs, dst)
    }

    fn binary_inplace(
        &self,
        op: BinaryOp,
        dst: ViewMut<'_, WgpuStorage>,
        rhs: View<'_, WgpuStorage>,
    ) -> Result<()> {
        binary::binary_inplace(self, op, dst, rhs)
    }

    fn scaled_add(
        &self,
        dst: ViewMut<'_, WgpuStorage>,
        src: View<'_, WgpuStorage>,
        alpha: f64,
        beta: f64,
    ) -> Result<()> {
        binary::scaled_add(self, dst, src, alpha, beta)
    }

    fn where_cond(
        &self,
        cond: View<'_, WgpuStorage>,
        on_true: View<'_, WgpuStorage>,
        on_false: View<'_, WgpuStorage>,
        dst: ViewMut<'_, WgpuStorage>,
    ) -> Result<()> {
        binary::where_cond(self, cond, on_true, on_false, dst)
    }

    fn reduce(
        &self,
        op: ReduceOp,
        src: View<'_, WgpuStorage>,
        dims: &[usize],
    ) -> Result<WgpuStorage> {
        reduce::reduce(self, op, src, dims)
    }

    fn softmax(&self, src: View<'_, WgpuStorage>, dim: usize, log: bool) -> Result<WgpuStorage> {
        softmax::softmax(self, src, dim, log)
    }

    fn matmul(
        &self,
        lhs: View<'_, WgpuStorage>,
        rhs: View<'_, WgpuStorage>,
    ) -> Result<WgpuStorage> {
        matmul::matmul(self, lhs, rhs)
    }

    fn index_select(
        &self,
        src: View<'_, WgpuStorage>,
        dim: usize,
        index: View<'_, WgpuStorage>,
    ) -> Result<WgpuStorage> {
        indexing::index_select(self, src, dim, index)
    }

    fn gather(
        &self,
        src: View<'_, WgpuStorage>,
        dim: usize,
        index: View<'_, WgpuStorage>,
    ) -> Result<WgpuStorage> {
        indexing::gather(self, src, dim, index)
    }

    fn scatter(
        &self,
        dst: ViewMut<'_, WgpuStorage>,
        dim: usize,
        index: View<'_, WgpuStorage>,
        src: View<'_, WgpuStorage>,
        reduce: ScatterReduce,
    ) -> Result<()> {
        indexing::scatter(self, dst, dim, index, src, reduce)
    }

    fn random(
        &self,
        dst: ViewMut<'_, WgpuStorage>,
        distribution: Distribution,
        seed: u64,
        offset: u64,
    ) -> Result<()> {
        random::random(self, dst, distribution, seed, offset)
    }

    fn conv2d(
        &self,
        input: View<'_, WgpuStorage>,
        weight: View<'_, WgpuStorage>,
        bias: Option<View<'_, WgpuStorage>>,
        params: &Conv2dParams,
    ) -> Result<WgpuStorage> {
        conv::conv2d(self, input, weight, bias, params)
    }

    fn conv2d_backward_input(
        &self,
        grad_output: View<'_, WgpuStorage>,
        weight: View<'_, WgpuStorage>,
        input_dims: [usize; 4],
        params: &Conv2dParams,
    ) -> Result<WgpuStorage> {
        conv::conv2d_backward_input(self, grad_output, weight, input_dims, params)
    }

    fn conv2d_backward_weight(
        &self,
        grad_output: View<'_, WgpuStorage>,
        input: View<'_, WgpuStorage>,
        weight_dims: [usize; 4],
        params: &Conv2dParams,
    ) -> Result<WgpuStorage> {
        conv::conv2d_backward_weight(self, grad_output, input, weight_dims, params)
    }

    fn max_pool2d(
        &self,
        input: View<'_, WgpuStorage>,
        params: &Pool2dParams,
    ) -> Result<(WgpuStorage, WgpuStorage)> {
        pool::max_pool2d(self, input, params)
    }

    fn max_pool2d_backward(
        &self,
        grad_output: View<'_, WgpuStorage>,
        indices: View<'_, WgpuStorage>,
        input_dims: [usize; 4],
    ) -> Result<WgpuStorage> {
        pool::max_pool2d_backward(self, grad_output, indices, input_dims)
    }

    fn avg_pool2d(
        &self,
        input: View<'_, WgpuStorage>,
        params: &Pool2dParams,
    ) -> Result<WgpuStorage> {
        pool::avg_pool2d(self, input, params)
    }

    fn avg_pool2d_backward(
        &self,
        grad_output: View<'_, WgpuStorage>,
        input_dims: [usize; 4],
        params: &Pool2dParams,
    ) -> Result<WgpuStorage> {
        pool::avg_pool2d_backward(self, grad_output, input_dims, params)
    }

    fn adaptive_avg_pool2d(
        &self,
        input: View<'_, WgpuStorage>,
        output_size: [usize; 2],
    ) -> Result<WgpuStorage> {
        pool::adaptive_avg_pool2d(self, input, output_size)
    }

    fn adaptive_avg_pool2d_backward(
        &self,
        grad_output: View<'_, WgpuStorage>,
        input_dims: [usize; 4],
    ) -> Result<WgpuStorage> {
        pool::adaptive_avg_pool2d_backward(self, grad_output, input_dims)
    }

    fn batch_norm(
        &self,
        input: View<'_, WgpuStorage>,
        weight: Option<View<'_, WgpuStorage>>,
        bias: Option<View<'_, WgpuStorage>>,
        running_mean: Option<ViewMut<'_, WgpuStorage>>,
        running_var: Option<ViewMut<'_, WgpuStorage>>,
        training: bool,
        momentum: f64,
        eps: f64,
    ) -> Result<(WgpuStorage, BatchNormSaved<WgpuStorage>)> {
        batch_norm::batch_norm(
            self,
            input,
            weight,
            bias,
            running_mean,
            running_var,
            training,
            momentum,
            eps,
        )
    }

    fn batch_norm_backward(
        &self,
        grad_output: View<'_, WgpuStorage>,
        input: View<'_, WgpuStorage>,
        weight: Option<View<'_, WgpuStorage>>,
        saved: &BatchNormSaved<WgpuStorage>,
        training: bool,
    ) -> Result<(WgpuStorage, WgpuStorage, WgpuStorage)> {
        batch_norm::batch_norm_backward(self, grad_output, input, weight, saved, training)
    }
}
