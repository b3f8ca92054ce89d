//! The CUDA backend of Tiny-Torch: [`Cuda`] implements every op of [`Backend`] on an NVIDIA GPU.
//!
//! - **Loaded at run time.** cudarc opens `libcuda`, NVRTC and cuBLAS with `dlopen`, so this
//!   crate builds on any machine; [`is_available`] and [`device_count`] say whether a GPU is
//!   there (false / 0 without a driver, never a panic) and [`Cuda::new`] returns an error.
//! - **Kernels** live in `kernels/*.cu`, one file per op family with the stems of the CPU
//!   backend's files, and are compiled by NVRTC at first use for the device's architecture
//!   (cached in memory and on disk: see `compile`). They read strided and broadcast layouts in
//!   place; dims are merged first so most layouts reach them 1-D (`launch`).
//! - **Matrix products** go to cuBLAS, transposed views included, with TF32 behind
//!   [`set_allow_tf32`] (off by default, as in PyTorch).
//! - **Convolutions** go to cuDNN, through its graph API as PyTorch 2's do (an execution plan
//!   chosen once per pass and shape, from the heuristics or timed with
//!   [`set_cudnn_benchmark`], and cached per device; `cudnn_graph`), the legacy API where no
//!   plan serves (`TINY_TORCH_CUDNN_GRAPH=0` for it everywhere), with TF32 behind
//!   [`set_cudnn_allow_tf32`] (on by default, as in PyTorch). Training-mode f32/f64 batch norm
//!   goes to cuDNN where it computes what our kernels do (`batch_norm_cudnn`); pooling and the
//!   rest of batch norm are own kernels with the CPU backend's conventions (`conv`, `pool`,
//!   `batch_norm`; see docs/cuda.md).
//! - **Memory** comes from a stream-ordered caching allocator (`storage`), with PyTorch's
//!   statistics ([`Cuda::memory_allocated`], ...) and [`Cuda::empty_cache`]; uploads are staged
//!   in pinned host blocks (`pinned`).
//! - **Asynchronous.** Every op of a device is queued on its one stream, uploads included; only
//!   reading back (`to_bytes`), [`Backend::synchronize`], [`Cuda::empty_cache`] and a
//!   benchmark-mode search wait. Errors found by kernels (an index out of range) are
//!   flagged on the device and reported by the next synchronizing call.
//!
//! # Dtype support
//!
//! As the CPU backend's table, except: matmul takes floats only (cuBLAS has no integer GEMM
//! for these dtypes), which is `Error::Unsupported` for integer inputs.

mod batch_norm;
mod batch_norm_cudnn;
mod binary;
mod compile;
mod conv;
mod copy;
mod cudnn;
mod cudnn_graph;
mod device;
mod foreach;
mod indexing;
mod launch;
mod libraries;
mod matmul;
mod pinned;
mod pool;
mod random;
mod reduce;
mod softmax;
mod storage;
mod unary;

pub use compile::{COMMON_HEADER, KERNEL_SOURCES, compile_uncached, full_source, nvrtc_available};
pub use cudnn::{cudnn_available, cudnn_version};
pub use device::{
    DeviceProperties, allow_tf32, cudnn_allow_tf32, cudnn_benchmark, device_count,
    driver_available, is_available, set_allow_tf32, set_cudnn_allow_tf32, set_cudnn_benchmark,
};
pub use libraries::{CudaEnv, LibraryStatus, cuda_env};
pub use storage::{CudaStorage, MemoryStats};

use device::CudaDevice;
use std::sync::Arc;
use tiny_torch_core::{
    Backend, BatchNormSaved, BinaryOp, Conv2dParams, DType, Device, Distribution, Pool2dParams,
    ReduceOp, Result, Scalar, ScatterReduce, UnaryOp, View, ViewMut,
};

/// One CUDA device. Cheap to clone; every handle to the same ordinal shares its stream,
/// allocator and compiled kernels.
#[derive(Clone)]
pub struct Cuda {
    device: Arc<CudaDevice>,
}

impl std::fmt::Debug for Cuda {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cuda({})", self.device.ordinal)
    }
}

impl PartialEq for Cuda {
    fn eq(&self, other: &Self) -> bool {
        self.device.ordinal == other.device.ordinal
    }
}

impl Cuda {
    /// Device `ordinal` (`cuda:N`). An error, not a panic, without a driver or such a device.
    pub fn new(ordinal: usize) -> Result<Self> {
        Ok(Cuda {
            device: CudaDevice::get(ordinal)?,
        })
    }

    pub fn ordinal(&self) -> usize {
        self.device.ordinal
    }

    pub fn properties(&self) -> &DeviceProperties {
        &self.device.properties
    }

    /// `torch.cuda.memory_stats`-like counters of the caching allocator.
    pub fn memory_stats(&self) -> MemoryStats {
        storage::memory_stats(&self.device)
    }

    /// `torch.cuda.memory_allocated`: bytes held by live tensors (in allocator blocks).
    pub fn memory_allocated(&self) -> usize {
        self.memory_stats().allocated
    }

    /// `torch.cuda.memory_reserved`: bytes obtained from the driver, cached blocks included.
    pub fn memory_reserved(&self) -> usize {
        self.memory_stats().reserved
    }

    /// `torch.cuda.max_memory_allocated`.
    pub fn max_memory_allocated(&self) -> usize {
        self.memory_stats().max_allocated
    }

    /// `torch.cuda.reset_peak_memory_stats`.
    pub fn reset_peak_memory_stats(&self) {
        storage::reset_peak(&self.device)
    }

    /// Page-locked host bytes kept for staging host-to-device copies (PyTorch's
    /// `torch.cuda.host_memory_stats()["reserved_bytes.all.current"]`).
    pub fn pinned_memory_reserved(&self) -> usize {
        device::lock(&self.device.pinned).reserved()
    }

    /// `torch.cuda.empty_cache`: returns cached blocks to the driver (and frees the idle
    /// pinned host blocks).
    pub fn empty_cache(&self) -> Result<()> {
        storage::empty_cache(&self.device)
    }

    pub(crate) fn device(&self) -> &Arc<CudaDevice> {
        &self.device
    }

    /// The stream every op of this device is queued on (for libraries that enqueue work of
    /// their own in order with Tiny-Torch's, such as NCCL in tiny-torch-distributed).
    pub fn stream(&self) -> &Arc<cudarc::driver::CudaStream> {
        &self.device.stream
    }

    /// Makes this device's context current on the calling thread (before raw driver calls).
    pub fn bind_to_thread(&self) -> Result<()> {
        self.device.bind()
    }
}

impl CudaStorage {
    /// The device address of element `index` (for libraries that read or write the buffer
    /// on [`Cuda::stream`], such as NCCL).
    pub fn device_ptr(&self, index: usize) -> u64 {
        self.ptr_at(index)
    }
}

impl Backend for Cuda {
    type Storage = CudaStorage;

    fn name(&self) -> &'static str {
        "cuda"
    }

    fn device(&self) -> Device {
        Device::Cuda(self.device.ordinal)
    }

    fn alloc(&self, dtype: DType, len: usize) -> Result<CudaStorage> {
        storage::alloc(&self.device, dtype, len)
    }

    fn from_bytes(&self, dtype: DType, bytes: &[u8]) -> Result<CudaStorage> {
        copy::from_bytes(self, dtype, bytes)
    }

    fn to_bytes(&self, src: View<'_, CudaStorage>) -> Result<Vec<u8>> {
        copy::to_bytes(self, src)
    }

    fn fill(&self, dst: ViewMut<'_, CudaStorage>, value: Scalar) -> Result<()> {
        copy::fill(self, dst, value)
    }

    fn copy(&self, src: View<'_, CudaStorage>, dst: ViewMut<'_, CudaStorage>) -> Result<()> {
        copy::copy(self, src, dst)
    }

    fn synchronize(&self) -> Result<()> {
        self.device.synchronize()
    }

    fn unary(
        &self,
        op: UnaryOp,
        src: View<'_, CudaStorage>,
        dst: ViewMut<'_, CudaStorage>,
    ) -> Result<()> {
        unary::unary(self, op, src, dst)
    }

    fn unary_inplace(&self, op: UnaryOp, dst: ViewMut<'_, CudaStorage>) -> Result<()> {
        unary::unary_inplace(self, op, dst)
    }

    fn binary(
        &self,
        op: BinaryOp,
        lhs: View<'_, CudaStorage>,
        rhs: View<'_, CudaStorage>,
        dst: ViewMut<'_, CudaStorage>,
    ) -> Result<()> {
        binary::binary(self, op, lhs, rhs, dst)
    }

    fn binary_inplace(
        &self,
        op: BinaryOp,
        dst: ViewMut<'_, CudaStorage>,
        rhs: View<'_, CudaStorage>,
    ) -> Result<()> {
        binary::binary_inplace(self, op, dst, rhs)
    }

    fn scaled_add(
        &self,
        dst: ViewMut<'_, CudaStorage>,
        src: View<'_, CudaStorage>,
        alpha: f64,
        beta: f64,
    ) -> Result<()> {
        binary::scaled_add(self, dst, src, alpha, beta)
    }

    fn scaled_add_foreach(
        &self,
        pairs: Vec<tiny_torch_core::ScaledAddPair<'_, CudaStorage>>,
        alpha: f64,
        beta: f64,
    ) -> Result<()> {
        foreach::scaled_add_foreach(self, pairs, alpha, beta)
    }

    fn where_cond(
        &self,
        cond: View<'_, CudaStorage>,
        on_true: View<'_, CudaStorage>,
        on_false: View<'_, CudaStorage>,
        dst: ViewMut<'_, CudaStorage>,
    ) -> Result<()> {
        binary::where_cond(self, cond, on_true, on_false, dst)
    }

    fn reduce(
        &self,
        op: ReduceOp,
        src: View<'_, CudaStorage>,
        dims: &[usize],
    ) -> Result<CudaStorage> {
        reduce::reduce(self, op, src, dims)
    }

    fn softmax(&self, src: View<'_, CudaStorage>, dim: usize, log: bool) -> Result<CudaStorage> {
        softmax::softmax(self, src, dim, log)
    }

    fn matmul(
        &self,
        lhs: View<'_, CudaStorage>,
        rhs: View<'_, CudaStorage>,
    ) -> Result<CudaStorage> {
        matmul::matmul(self, lhs, rhs)
    }

    fn index_select(
        &self,
        src: View<'_, CudaStorage>,
        dim: usize,
        index: View<'_, CudaStorage>,
    ) -> Result<CudaStorage> {
        indexing::index_select(self, src, dim, index)
    }

    fn gather(
        &self,
        src: View<'_, CudaStorage>,
        dim: usize,
        index: View<'_, CudaStorage>,
    ) -> Result<CudaStorage> {
        indexing::gather(self, src, dim, index)
    }

    fn scatter(
        &self,
        dst: ViewMut<'_, CudaStorage>,
        dim: usize,
        index: View<'_, CudaStorage>,
        src: View<'_, CudaStorage>,
        reduce: ScatterReduce,
    ) -> Result<()> {
        indexing::scatter(self, dst, dim, index, src, reduce)
    }

    fn random(
        &self,
        dst: ViewMut<'_, CudaStorage>,
        distribution: Distribution,
        seed: u64,
        offset: u64,
    ) -> Result<()> {
        random::random(self, dst, distribution, seed, offset)
    }

    fn conv2d(
        &self,
        input: View<'_, CudaStorage>,
        weight: View<'_, CudaStorage>,
        bias: Option<View<'_, CudaStorage>>,
        params: &Conv2dParams,
    ) -> Result<CudaStorage> {
        conv::conv2d(self, input, weight, bias, params)
    }

    fn conv2d_backward_input(
        &self,
        grad_output: View<'_, CudaStorage>,
        weight: View<'_, CudaStorage>,
        input_dims: [usize; 4],
        params: &Conv2dParams,
    ) -> Result<CudaStorage> {
        conv::conv2d_backward_input(self, grad_output, weight, input_dims, params)
    }

    fn conv2d_backward_weight(
        &self,
        grad_output: View<'_, CudaStorage>,
        input: View<'_, CudaStorage>,
        weight_dims: [usize; 4],
        params: &Conv2dParams,
    ) -> Result<CudaStorage> {
        conv::conv2d_backward_weight(self, grad_output, input, weight_dims, params)
    }

    fn max_pool2d(
        &self,
        input: View<'_, CudaStorage>,
        params: &Pool2dParams,
    ) -> Result<(CudaStorage, CudaStorage)> {
        pool::max_pool2d(self, input, params)
    }

    fn max_pool2d_backward(
        &self,
        grad_output: View<'_, CudaStorage>,
        indices: View<'_, CudaStorage>,
        input_dims: [usize; 4],
    ) -> Result<CudaStorage> {
        pool::max_pool2d_backward(self, grad_output, indices, input_dims)
    }

    fn avg_pool2d(
        &self,
        input: View<'_, CudaStorage>,
        params: &Pool2dParams,
    ) -> Result<CudaStorage> {
        pool::avg_pool2d(self, input, params)
    }

    fn avg_pool2d_backward(
        &self,
        grad_output: View<'_, CudaStorage>,
        input_dims: [usize; 4],
        params: &Pool2dParams,
    ) -> Result<CudaStorage> {
        pool::avg_pool2d_backward(self, grad_output, input_dims, params)
    }

    fn adaptive_avg_pool2d(
        &self,
        input: View<'_, CudaStorage>,
        output_size: [usize; 2],
    ) -> Result<CudaStorage> {
        pool::adaptive_avg_pool2d(self, input, output_size)
    }

    fn adaptive_avg_pool2d_backward(
        &self,
        grad_output: View<'_, CudaStorage>,
        input_dims: [usize; 4],
    ) -> Result<CudaStorage> {
        pool::adaptive_avg_pool2d_backward(self, grad_output, input_dims)
    }

    fn batch_norm(
        &self,
        input: View<'_, CudaStorage>,
        weight: Option<View<'_, CudaStorage>>,
        bias: Option<View<'_, CudaStorage>>,
        running_mean: Option<ViewMut<'_, CudaStorage>>,
        running_var: Option<ViewMut<'_, CudaStorage>>,
        training: bool,
        momentum: f64,
        eps: f64,
    ) -> Result<(CudaStorage, BatchNormSaved<CudaStorage>)> {
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
        grad_output: View<'_, CudaStorage>,
        input: View<'_, CudaStorage>,
        weight: Option<View<'_, CudaStorage>>,
        saved: &BatchNormSaved<CudaStorage>,
        training: bool,
    ) -> Result<(CudaStorage, CudaStorage, CudaStorage)> {
        batch_norm::batch_norm_backward(self, grad_output, input, weight, saved, training)
    }
}
