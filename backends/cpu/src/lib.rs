//! The CPU backend of Tiny-Torch: [`Cpu`] implements every op of [`Backend`] for every dtype
//! where the op is meaningful, on host memory ([`CpuStorage`]).
//!
//! Kernels read strided, offset and broadcast views in place (see `strided`), run on rayon above
//! a size threshold, and have contiguous fast paths written to vectorize (compiled for AVX2 and
//! FMA when the CPU has them, chosen at run time). Matrix products use the `gemm` crate.
//! Combinations without a meaning return
//! [`Error::Unsupported`](tiny_torch_core::Error::Unsupported); nothing panics on user input.
//!
//! # Dtype support
//!
//! | op | floats (`f32`, `f64`, `f16`, `bf16`) | `u8`, `i32`, `i64` | `bool` |
//! |---|---|---|---|
//! | alloc, from/to bytes, fill, copy (any pair of dtypes), where, index_select, gather, scatter(_add), bernoulli, randint | yes | yes | yes |
//! | neg, abs, relu, square, clamp, pow (scalar) | yes | yes (wrapping; integral non-negative powers) | no |
//! | exp, log, sqrt, rsqrt, sin, cos, tanh, sigmoid, gelu, gelu_tanh, silu, softplus, leaky_relu | yes | no | no |
//! | logical_not (output bool) | yes | yes | yes |
//! | add, mul, maximum, minimum | yes | yes (wrapping) | yes (or, and, or, and) |
//! | sub, pow | yes | yes (wrapping; torch's integer pow) | no |
//! | div | yes | yes (truncating; zero divisor is an error) | no |
//! | atan2 | yes | no | no |
//! | comparisons, logical and/or/xor (output bool) | yes | yes | yes |
//! | sum, prod | yes | yes (into `i64`) | yes (into `i64`) |
//! | max, min, argmax, argmin, all, any | yes | yes | yes |
//! | mean, var, logsumexp, softmax, log_softmax | yes | no | no |
//! | matmul | yes (`f16`/`bf16` accumulate in `f32`) | yes (wrapping) | no |
//! | conv2d and its input / weight gradients (im2col + GEMM) | yes (`f16`/`bf16` in `f32`) | no | no |
//! | max / avg / adaptive avg pooling, batch norm, and their backward passes | yes (`f16`/`bf16` in `f32`; batch-norm sums in `f64`) | no | no |
//! | uniform, normal | yes | no | no |
//!
//! "no" is `Error::Unsupported { op, dtype, backend: "cpu" }`.
//!
//! One module per op family: `copy` (bytes, fill, strided copy and casts), `unary`, `binary`
//! (and `where`), `reduce`, `softmax`, `matmul`, `conv`, `pool`, `batch_norm`, `indexing`,
//! `random`; `storage` holds the buffers and the caching allocator, `strided` and `map` the
//! iteration machinery, `num` and `math` the numeric helpers, `threads` rayon's pool (with the
//! main thread in it).

mod batch_norm;
mod binary;
mod conv;
mod copy;
mod indexing;
mod map;
mod math;
mod matmul;
mod num;
mod philox_batch;
mod pool;
mod random;
mod reduce;
mod simd_f32;
mod softmax;
mod storage;
mod strided;
#[cfg(test)]
mod test_values;
mod threads;
mod unary;

pub use storage::{CpuStorage, POOL_LIMIT_BYTES, cached_bytes, empty_cache};

/// How many threads the CPU ops run on (`torch.get_num_threads()`): rayon's pool, set by
/// `RAYON_NUM_THREADS` (default: one per core).
pub fn num_threads() -> usize {
    rayon::current_num_threads()
}

use tiny_torch_core::{
    Backend, BinaryOp, DType, Device, Distribution, ReduceOp, Result, Scalar, ScatterReduce,
    UnaryOp, View, ViewMut,
};

/// The CPU device. Cheap to copy; all values are the same device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Cpu;

impl Backend for Cpu {
    type Storage = CpuStorage;

    fn name(&self) -> &'static str {
        "cpu"
    }

    fn device(&self) -> Device {
        Device::Cpu
    }

    fn alloc(&self, dtype: DType, len: usize) -> Result<CpuStorage> {
        storage::alloc(dtype, len)
    }

    fn from_bytes(&self, dtype: DType, bytes: &[u8]) -> Result<CpuStorage> {
        copy::from_bytes(dtype, bytes)
    }

    fn to_bytes(&self, src: View<'_, CpuStorage>) -> Result<Vec<u8>> {
        copy::to_bytes(src)
    }

    fn fill(&self, dst: ViewMut<'_, CpuStorage>, value: Scalar) -> Result<()> {
        copy::fill(dst, value)
    }

    fn copy(&self, src: View<'_, CpuStorage>, dst: ViewMut<'_, CpuStorage>) -> Result<()> {
        copy::copy(src, dst)
    }

    fn synchronize(&self) -> Result<()> {
        // Every op completes before it returns.
        Ok(())
    }

    fn unary(
        &self,
        op: UnaryOp,
        src: View<'_, CpuStorage>,
        dst: ViewMut<'_, CpuStorage>,
    ) -> Result<()> {
        unary::unary(op, src, dst)
    }

    fn unary_inplace(&self, op: UnaryOp, dst: ViewMut<'_, CpuStorage>) -> Result<()> {
        unary::unary_inplace(op, dst)
    }

    fn binary(
        &self,
        op: BinaryOp,
        lhs: View<'_, CpuStorage>,
        rhs: View<'_, CpuStorage>,
        dst: ViewMut<'_, CpuStorage>,
    ) -> Result<()> {
        binary::binary(op, lhs, rhs, dst)
    }

    fn binary_inplace(
        &self,
        op: BinaryOp,
        dst: ViewMut<'_, CpuStorage>,
        rhs: View<'_, CpuStorage>,
    ) -> Result<()> {
        binary::binary_inplace(op, dst, rhs)
    }

    fn scaled_add(
        &self,
        dst: ViewMut<'_, CpuStorage>,
        src: View<'_, CpuStorage>,
        alpha: f64,
        beta: f64,
    ) -> Result<()> {
        binary::scaled_add(dst, src, alpha, beta)
    }

    fn where_cond(
        &self,
        cond: View<'_, CpuStorage>,
        on_true: View<'_, CpuStorage>,
        on_false: View<'_, CpuStorage>,
        dst: ViewMut<'_, CpuStorage>,
    ) -> Result<()> {
        binary::where_cond(cond, on_true, on_false, dst)
    }

    fn reduce(
        &self,
        op: ReduceOp,
        src: View<'_, CpuStorage>,
        dims: &[usize],
    ) -> Result<CpuStorage> {
        reduce::reduce(op, src, dims)
    }

    fn softmax(&self, src: View<'_, CpuStorage>, dim: usize, log: bool) -> Result<CpuStorage> {
        softmax::softmax(src, dim, log)
    }

    fn matmul(&self, lhs: View<'_, CpuStorage>, rhs: View<'_, CpuStorage>) -> Result<CpuStorage> {
        matmul::matmul(lhs, rhs)
    }

    fn index_select(
        &self,
        src: View<'_, CpuStorage>,
        dim: usize,
        index: View<'_, CpuStorage>,
    ) -> Result<CpuStorage> {
        indexing::index_select(src, dim, index)
    }

    fn gather(
        &self,
        src: View<'_, CpuStorage>,
        dim: usize,
        index: View<'_, CpuStorage>,
    ) -> Result<CpuStorage> {
        indexing::gather(src, dim, index)
    }

    fn scatter(
        &self,
        dst: ViewMut<'_, CpuStorage>,
        dim: usize,
        index: View<'_, CpuStorage>,
        src: View<'_, CpuStorage>,
        reduce: ScatterReduce,
    ) -> Result<()> {
        indexing::scatter(dst, dim, index, src, reduce)
    }

    fn random(
        &self,
        dst: ViewMut<'_, CpuStorage>,
        distribution: Distribution,
        seed: u64,
        offset: u64,
    ) -> Result<()> {
        random::random(dst, distribution, seed, offset)
    }

    fn conv2d(
        &self,
        input: View<'_, CpuStorage>,
        weight: View<'_, CpuStorage>,
        bias: Option<View<'_, CpuStorage>>,
        params: &tiny_torch_core::Conv2dParams,
    ) -> Result<CpuStorage> {
        conv::conv2d(input, weight, bias, params)
    }

    fn conv2d_backward_input(
        &self,
        grad_output: View<'_, CpuStorage>,
        weight: View<'_, CpuStorage>,
        input_dims: [usize; 4],
        params: &tiny_torch_core::Conv2dParams,
    ) -> Result<CpuStorage> {
        conv::conv2d_backward_input(grad_output, weight, input_dims, params)
    }

    fn conv2d_backward_weight(
        &self,
        grad_output: View<'_, CpuStorage>,
        input: View<'_, CpuStorage>,
        weight_dims: [usize; 4],
        params: &tiny_torch_core::Conv2dParams,
    ) -> Result<CpuStorage> {
        conv::conv2d_backward_weight(grad_output, input, weight_dims, params)
    }

    fn max_pool2d(
        &self,
        input: View<'_, CpuStorage>,
        params: &tiny_torch_core::Pool2dParams,
    ) -> Result<(CpuStorage, CpuStorage)> {
        pool::max_pool2d(input, params)
    }

    fn max_pool2d_backward(
        &self,
        grad_output: View<'_, CpuStorage>,
        indices: View<'_, CpuStorage>,
        input_dims: [usize; 4],
    ) -> Result<CpuStorage> {
        pool::max_pool2d_backward(grad_output, indices, input_dims)
    }

    fn avg_pool2d(
        &self,
        input: View<'_, CpuStorage>,
        params: &tiny_torch_core::Pool2dParams,
    ) -> Result<CpuStorage> {
        pool::avg_pool2d(input, params)
    }

    fn avg_pool2d_backward(
        &self,
        grad_output: View<'_, CpuStorage>,
        input_dims: [usize; 4],
        params: &tiny_torch_core::Pool2dParams,
    ) -> Result<CpuStorage> {
        pool::avg_pool2d_backward(grad_output, input_dims, params)
    }

    fn adaptive_avg_pool2d(
        &self,
        input: View<'_, CpuStorage>,
        output_size: [usize; 2],
    ) -> Result<CpuStorage> {
        pool::adaptive_avg_pool2d(input, output_size)
    }

    fn adaptive_avg_pool2d_backward(
        &self,
        grad_output: View<'_, CpuStorage>,
        input_dims: [usize; 4],
    ) -> Result<CpuStorage> {
        pool::adaptive_avg_pool2d_backward(grad_output, input_dims)
    }

    fn batch_norm(
        &self,
        input: View<'_, CpuStorage>,
        weight: Option<View<'_, CpuStorage>>,
        bias: Option<View<'_, CpuStorage>>,
        running_mean: Option<ViewMut<'_, CpuStorage>>,
        running_var: Option<ViewMut<'_, CpuStorage>>,
        training: bool,
        momentum: f64,
        eps: f64,
    ) -> Result<(CpuStorage, tiny_torch_core::BatchNormSaved<CpuStorage>)> {
        batch_norm::batch_norm(
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
        grad_output: View<'_, CpuStorage>,
        input: View<'_, CpuStorage>,
        weight: Option<View<'_, CpuStorage>>,
        saved: &tiny_torch_core::BatchNormSaved<CpuStorage>,
        training: bool,
    ) -> Result<(CpuStorage, CpuStorage, CpuStorage)> {
        batch_norm::batch_norm_backward(grad_output, input, weight, saved, training)
    }
}
