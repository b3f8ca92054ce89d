//! The operator interface that every device implements.
//!
//! # Contract
//!
//! A backend value (`Cpu`, a CUDA device, a wgpu device) is a cheap-to-clone handle to one device;
//! [`Backend::device`] names it. Tensors hold a backend value and an `Arc`-shared
//! [`Backend::Storage`]: one opaque buffer of `len` elements of one runtime [`DType`].
//!
//! - **Ownership.** Storages are created by the backend (`alloc`, `from_bytes` and the ops that
//!   return one) and dropped by the tensor layer. Inputs are borrowed as [`View`]s: a storage plus
//!   a [`Layout`] that may be strided, offset or broadcast (stride 0); backends read them in
//!   place, without asking for contiguous copies. Outputs are either a storage the backend
//!   returns (always contiguous, row-major, offset 0) or a [`ViewMut`] the caller passes, which may
//!   be strided (in-place ops, `out=` forms, slice assignment). The tensor layer never passes a
//!   `ViewMut` whose storage is also borrowed as an input; in-place ops that read their
//!   destination use the `*_inplace` methods.
//! - **Shapes and dtypes are checked above.** The tensor layer broadcasts input layouts to the
//!   output shape, promotes inputs to one dtype and validates dims and indices' shapes before it
//!   calls a backend. Backends still return errors, never panic, for what only they can see:
//!   a dtype they lack, an index value out of range, device failures.
//! - **Dtype support.** A backend that does not implement an op for a dtype returns
//!   [`Error::Unsupported`](crate::Error::Unsupported). It never computes in another dtype and
//!   returns those numbers silently.
//! - **Asynchrony.** Ops may be queued (a CUDA stream, a wgpu queue) and return before the work
//!   is done; errors found later surface at the next synchronizing call. Only [`Backend::to_bytes`]
//!   and [`Backend::synchronize`] wait for the device. No host sync per op.
//! - **Randomness.** [`Backend::random`] implements the Philox stream of [`crate::philox`] bit for
//!   bit, so that a seed gives the same tensor on every backend.

use crate::{
    BatchNormSaved, BinaryOp, Conv2dParams, DType, Device, Distribution, Error, Layout,
    Pool2dParams, ReduceOp, Result, Scalar, ScatterReduce, UnaryOp,
};
use std::fmt::Debug;

/// What the tensor layer needs to know about a backend's buffers.
pub trait BackendStorage: Debug + Send + Sync + 'static {
    fn dtype(&self) -> DType;
    /// Number of elements the buffer holds.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A borrowed input: storage + layout.
#[derive(Debug)]
pub struct View<'a, S> {
    pub storage: &'a S,
    pub layout: &'a Layout,
}

impl<S> Clone for View<'_, S> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<S> Copy for View<'_, S> {}

impl<'a, S> View<'a, S> {
    pub fn new(storage: &'a S, layout: &'a Layout) -> Self {
        View { storage, layout }
    }
}

/// A borrowed output: storage + the layout to write through.
#[derive(Debug)]
pub struct ViewMut<'a, S> {
    pub storage: &'a mut S,
    pub layout: &'a Layout,
}

/// One `(dst, src)` pair of [`Backend::scaled_add_foreach`].
pub type ScaledAddPair<'a, S> = (ViewMut<'a, S>, View<'a, S>);

impl<'a, S> ViewMut<'a, S> {
    pub fn new(storage: &'a mut S, layout: &'a Layout) -> Self {
        ViewMut { storage, layout }
    }

    /// The same storage and layout, borrowed for reading (to check it as an input is checked).
    pub fn as_view(&self) -> View<'_, S> {
        View::new(self.storage, self.layout)
    }
}

/// One device's implementation of every op. See the module documentation for the contract.
pub trait Backend: Clone + Debug + Send + Sync + 'static {
    type Storage: BackendStorage;

    /// Short name used in error messages and tables: `"cpu"`, `"cuda"`, `"wgpu"`.
    fn name(&self) -> &'static str;

    fn device(&self) -> Device;

    // ---------------------------------------------------------------- memory

    /// A buffer of `len` elements whose contents are unspecified (it may be a reused buffer).
    fn alloc(&self, dtype: DType, len: usize) -> Result<Self::Storage>;

    /// A buffer holding `bytes`: little-endian elements of `dtype`, `bool` as one byte 0 or 1.
    // A constructor that needs the device handle, hence `&self` despite the `from_` name.
    #[allow(clippy::wrong_self_convention)]
    fn from_bytes(&self, dtype: DType, bytes: &[u8]) -> Result<Self::Storage>;

    /// The elements of `src` in row-major logical order, as little-endian bytes. Synchronizes.
    fn to_bytes(&self, src: View<'_, Self::Storage>) -> Result<Vec<u8>>;

    /// Writes `value` (converted to `dst`'s dtype) into every element of `dst`.
    fn fill(&self, dst: ViewMut<'_, Self::Storage>, value: Scalar) -> Result<()>;

    /// Strided copy of `src` into `dst` (same shape), converting the dtype when they differ
    /// (`contiguous`, `to_dtype`, `cat`, slice assignment). Float to integer truncates toward
    /// zero; anything to bool is `!= 0`.
    fn copy(&self, src: View<'_, Self::Storage>, dst: ViewMut<'_, Self::Storage>) -> Result<()>;

    /// Waits until all queued work on the device is done.
    fn synchronize(&self) -> Result<()>;

    // ---------------------------------------------------------------- element-wise

    /// `dst = op(src)`; `dst` has `src`'s dtype, or `Bool` for logical ops.
    fn unary(
        &self,
        op: UnaryOp,
        src: View<'_, Self::Storage>,
        dst: ViewMut<'_, Self::Storage>,
    ) -> Result<()>;

    /// `dst = op(dst)` in place.
    fn unary_inplace(&self, op: UnaryOp, dst: ViewMut<'_, Self::Storage>) -> Result<()>;

    /// `dst = op(lhs, rhs)`. `lhs` and `rhs` have one dtype and layouts of `dst`'s shape
    /// (broadcast already applied as stride-0 dims); `dst` has their dtype, or `Bool` for
    /// comparisons and logical ops.
    fn binary(
        &self,
        op: BinaryOp,
        lhs: View<'_, Self::Storage>,
        rhs: View<'_, Self::Storage>,
        dst: ViewMut<'_, Self::Storage>,
    ) -> Result<()>;

    /// `dst = op(dst, rhs)` in place; `rhs` has `dst`'s dtype and shape.
    fn binary_inplace(
        &self,
        op: BinaryOp,
        dst: ViewMut<'_, Self::Storage>,
        rhs: View<'_, Self::Storage>,
    ) -> Result<()>;

    /// `dst = cond ? on_true : on_false`; `cond` is `Bool`, the others share `dst`'s dtype, and all
    /// layouts have `dst`'s shape.
    fn where_cond(
        &self,
        cond: View<'_, Self::Storage>,
        on_true: View<'_, Self::Storage>,
        on_false: View<'_, Self::Storage>,
        dst: ViewMut<'_, Self::Storage>,
    ) -> Result<()>;

    /// `dst = alpha * dst + beta * src` in place (PyTorch's `dst.mul_(alpha).add_(src,
    /// alpha=beta)` in one pass): the update of every optimizer step. `src` has `dst`'s dtype
    /// (a float dtype, checked by [`check_scaled_add_dtypes`](crate::check_scaled_add_dtypes))
    /// and shape.
    ///
    /// Only a fused kernel belongs here, in the accumulation type and rounded once (CUDA and
    /// wgpu: one launch instead of two or three; CPU: one pass over memory instead of two). The
    /// default returns
    /// `Unsupported`, and `Tensor::scaled_add_` then runs the same update as `mul_` and `add_`.
    fn scaled_add(
        &self,
        dst: ViewMut<'_, Self::Storage>,
        src: View<'_, Self::Storage>,
        alpha: f64,
        beta: f64,
    ) -> Result<()> {
        let _ = (src, alpha, beta);
        Err(Error::unsupported(
            "scaled_add",
            dst.storage.dtype(),
            self.name(),
        ))
    }

    /// `dst = alpha * dst + beta * src` for every `(dst, src)` pair, as [`scaled_add`] does for
    /// one: PyTorch's `torch._foreach_mul_(dsts, alpha)` and `torch._foreach_add_(dsts, srcs,
    /// alpha=beta)` in one pass, the multi-tensor update of an optimizer step. Every operand
    /// has one float dtype, each `src` its `dst`'s shape, and no `dst` overlaps another
    /// operand (the tensor layer sends only such lists).
    ///
    /// The default runs `scaled_add` pair by pair (so a backend without it returns
    /// `Unsupported` before changing anything). A backend whose launches cost more than the
    /// work of a small tensor (CUDA) updates many tensors per launch instead.
    ///
    /// [`scaled_add`]: Backend::scaled_add
    fn scaled_add_foreach(
        &self,
        pairs: Vec<ScaledAddPair<'_, Self::Storage>>,
        alpha: f64,
        beta: f64,
    ) -> Result<()> {
        for (dst, src) in pairs {
            self.scaled_add(dst, src, alpha, beta)?;
        }
        Ok(())
    }

    // ---------------------------------------------------------------- reductions and friends

    /// Reduces `src` over `dims` (sorted, distinct, non-empty for arg-reductions: exactly one).
    /// Returns a contiguous buffer of `src`'s shape with the reduced dims set to 1. Output dtypes
    /// are documented on [`ReduceOp`].
    fn reduce(
        &self,
        op: ReduceOp,
        src: View<'_, Self::Storage>,
        dims: &[usize],
    ) -> Result<Self::Storage>;

    /// Softmax (or log-softmax when `log`) along `dim`; contiguous output of `src`'s shape.
    fn softmax(&self, src: View<'_, Self::Storage>, dim: usize, log: bool)
    -> Result<Self::Storage>;

    /// Batched matrix product of 3-D layouts `[b, m, k] x [b, k, n]` (batch strides may be 0,
    /// matrices may be transposed by their strides); returns a contiguous `[b, m, n]`.
    fn matmul(
        &self,
        lhs: View<'_, Self::Storage>,
        rhs: View<'_, Self::Storage>,
    ) -> Result<Self::Storage>;

    // ---------------------------------------------------------------- indexing

    /// `src.index_select(dim, index)` with a 1-D `I64` index; contiguous output.
    fn index_select(
        &self,
        src: View<'_, Self::Storage>,
        dim: usize,
        index: View<'_, Self::Storage>,
    ) -> Result<Self::Storage>;

    /// `src.gather(dim, index)`: output of `index`'s shape; `I64` index.
    fn gather(
        &self,
        src: View<'_, Self::Storage>,
        dim: usize,
        index: View<'_, Self::Storage>,
    ) -> Result<Self::Storage>;

    /// `dst.scatter_(dim, index, src)` or `scatter_add_`: for every element of `index`, writes (or
    /// adds) the matching element of `src` into `dst` at that index along `dim`.
    fn scatter(
        &self,
        dst: ViewMut<'_, Self::Storage>,
        dim: usize,
        index: View<'_, Self::Storage>,
        src: View<'_, Self::Storage>,
        reduce: ScatterReduce,
    ) -> Result<()>;

    // ---------------------------------------------------------------- random

    /// Fills `dst` (contiguous) from the Philox stream at `(seed, offset)`; see [`crate::philox`].
    fn random(
        &self,
        dst: ViewMut<'_, Self::Storage>,
        distribution: Distribution,
        seed: u64,
        offset: u64,
    ) -> Result<()>;

    // ---------------------------------------------------------------- neural-network ops
    //
    // Fused kernels on NCHW views (any strides). Their default bodies return `Unsupported`, so a
    // backend implements them one family at a time and never returns wrong numbers meanwhile.

    /// `conv2d(input [N, C, H, W], weight [O, C / groups, kh, kw], bias [O])`: a contiguous
    /// `[N, O, Ho, Wo]` (see [`Conv2dParams::output_size`]). Float dtypes, all inputs alike.
    fn conv2d(
        &self,
        input: View<'_, Self::Storage>,
        weight: View<'_, Self::Storage>,
        bias: Option<View<'_, Self::Storage>>,
        params: &Conv2dParams,
    ) -> Result<Self::Storage> {
        let _ = (weight, bias, params);
        Err(Error::unsupported(
            "conv2d",
            input.storage.dtype(),
            self.name(),
        ))
    }

    /// The gradient of `conv2d` with respect to its input: a contiguous tensor of
    /// `input_dims` from `grad_output [N, O, Ho, Wo]` and `weight` (also the forward of
    /// `conv_transpose2d`).
    fn conv2d_backward_input(
        &self,
        grad_output: View<'_, Self::Storage>,
        weight: View<'_, Self::Storage>,
        input_dims: [usize; 4],
        params: &Conv2dParams,
    ) -> Result<Self::Storage> {
        let _ = (weight, input_dims, params);
        Err(Error::unsupported(
            "conv2d_backward_input",
            grad_output.storage.dtype(),
            self.name(),
        ))
    }

    /// The gradient of `conv2d` with respect to its weight: a contiguous tensor of
    /// `weight_dims` from `grad_output` and `input`.
    fn conv2d_backward_weight(
        &self,
        grad_output: View<'_, Self::Storage>,
        input: View<'_, Self::Storage>,
        weight_dims: [usize; 4],
        params: &Conv2dParams,
    ) -> Result<Self::Storage> {
        let _ = (input, weight_dims, params);
        Err(Error::unsupported(
            "conv2d_backward_weight",
            grad_output.storage.dtype(),
            self.name(),
        ))
    }

    /// `max_pool2d` of `[N, C, H, W]`: contiguous values `[N, C, Ho, Wo]` and `I64` indices of
    /// each maximum within its `H * W` plane (PyTorch's `return_indices`); NaN wins, as in
    /// PyTorch. Padding counts as `-inf`.
    fn max_pool2d(
        &self,
        input: View<'_, Self::Storage>,
        params: &Pool2dParams,
    ) -> Result<(Self::Storage, Self::Storage)> {
        let _ = params;
        Err(Error::unsupported(
            "max_pool2d",
            input.storage.dtype(),
            self.name(),
        ))
    }

    /// Scatters `grad_output` to the maxima `indices` recorded by [`Backend::max_pool2d`]
    /// (adding where windows overlap): a contiguous tensor of `input_dims`.
    fn max_pool2d_backward(
        &self,
        grad_output: View<'_, Self::Storage>,
        indices: View<'_, Self::Storage>,
        input_dims: [usize; 4],
    ) -> Result<Self::Storage> {
        let _ = (indices, input_dims);
        Err(Error::unsupported(
            "max_pool2d_backward",
            grad_output.storage.dtype(),
            self.name(),
        ))
    }

    /// `avg_pool2d` of `[N, C, H, W]` (`count_include_pad`, `divisor_override` as PyTorch).
    fn avg_pool2d(
        &self,
        input: View<'_, Self::Storage>,
        params: &Pool2dParams,
    ) -> Result<Self::Storage> {
        let _ = params;
        Err(Error::unsupported(
            "avg_pool2d",
            input.storage.dtype(),
            self.name(),
        ))
    }

    /// The gradient of [`Backend::avg_pool2d`]: a contiguous tensor of `input_dims`.
    fn avg_pool2d_backward(
        &self,
        grad_output: View<'_, Self::Storage>,
        input_dims: [usize; 4],
        params: &Pool2dParams,
    ) -> Result<Self::Storage> {
        let _ = (input_dims, params);
        Err(Error::unsupported(
            "avg_pool2d_backward",
            grad_output.storage.dtype(),
            self.name(),
        ))
    }

    /// `adaptive_avg_pool2d` of `[N, C, H, W]` to `[N, C, oh, ow]`: window `i` of a dim spans
    /// `[floor(i * in / out), ceil((i + 1) * in / out))`, as in PyTorch.
    fn adaptive_avg_pool2d(
        &self,
        input: View<'_, Self::Storage>,
        output_size: [usize; 2],
    ) -> Result<Self::Storage> {
        let _ = output_size;
        Err(Error::unsupported(
            "adaptive_avg_pool2d",
            input.storage.dtype(),
            self.name(),
        ))
    }

    /// The gradient of [`Backend::adaptive_avg_pool2d`]: a contiguous tensor of `input_dims`.
    fn adaptive_avg_pool2d_backward(
        &self,
        grad_output: View<'_, Self::Storage>,
        input_dims: [usize; 4],
    ) -> Result<Self::Storage> {
        let _ = input_dims;
        Err(Error::unsupported(
            "adaptive_avg_pool2d_backward",
            grad_output.storage.dtype(),
            self.name(),
        ))
    }

    /// Batch normalization of `input [N, C, *]` over every dim but 1. In training, normalizes
    /// with the batch statistics and, when given, updates the running statistics in place
    /// (`running = (1 - momentum) * running + momentum * batch`, the variance unbiased); in
    /// evaluation, normalizes with the running statistics (which must be given). `weight` and
    /// `bias` (`[C]`) are the optional affine parameters. Returns the contiguous output and the
    /// statistics its backward needs.
    #[allow(clippy::too_many_arguments)]
    fn batch_norm(
        &self,
        input: View<'_, Self::Storage>,
        weight: Option<View<'_, Self::Storage>>,
        bias: Option<View<'_, Self::Storage>>,
        running_mean: Option<ViewMut<'_, Self::Storage>>,
        running_var: Option<ViewMut<'_, Self::Storage>>,
        training: bool,
        momentum: f64,
        eps: f64,
    ) -> Result<(Self::Storage, BatchNormSaved<Self::Storage>)> {
        let _ = (
            weight,
            bias,
            running_mean,
            running_var,
            training,
            momentum,
            eps,
        );
        Err(Error::unsupported(
            "batch_norm",
            input.storage.dtype(),
            self.name(),
        ))
    }

    /// The gradients of [`Backend::batch_norm`] with respect to its input, weight and bias
    /// (`[C]` each; the weight's gradient is computed whether or not `weight` is given). With
    /// `training` false the statistics are constants, as in PyTorch's eval mode.
    fn batch_norm_backward(
        &self,
        grad_output: View<'_, Self::Storage>,
        input: View<'_, Self::Storage>,
        weight: Option<View<'_, Self::Storage>>,
        saved: &BatchNormSaved<Self::Storage>,
        training: bool,
    ) -> Result<(Self::Storage, Self::Storage, Self::Storage)> {
        let _ = (input, weight, saved, training);
        Err(Error::unsupported(
            "batch_norm_backward",
            grad_output.storage.dtype(),
            self.name(),
        ))
    }
}
