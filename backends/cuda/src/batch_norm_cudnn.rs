//! Training-mode batch normalization through cuDNN (`cudnnBatchNormalizationForwardTraining` and
//! `cudnnBatchNormalizationBackward`, spatial mode), as PyTorch runs it on CUDA: one pass over
//! the data for the statistics where our own kernels (`batch_norm.rs`) make three.
//!
//! cuDNN computes what `batch_norm.rs` does (batch mean and biased variance to normalize with,
//! the unbiased variance in the running update `running = (1 - momentum) * running + momentum *
//! batch`, saved mean and inverse standard deviation in the compute type; equal up to rounding,
//! not bit for bit, since cuDNN sums in its own order and precision) only in part of the
//! cases, so it runs only there; everything else stays with our kernels:
//! - f32 and f64 inputs: cuDNN keeps the statistics and affine parameters of f16/bf16 inputs in
//!   f32, ours are in the input's dtype;
//! - contiguous input, 16-byte aligned, with at least 3 dims (`[N, C]` inputs stay with our
//!   kernels, as in PyTorch), `N * prod(*) >= 2` elements per channel, `N` at most 880,801
//!   (PyTorch's bound for cuDNN), fewer than 2^31 - 1 elements and `eps >= 0`: cuDNN sees
//!   `[N, C, *]` as `[N, C, prod(*), 1]`. A gradient that is not packed (the expanded gradient
//!   of a `sum`, say) is packed first, as PyTorch makes it contiguous, so that the backward of
//!   a cuDNN forward is cuDNN's too;
//! - affine (weight and bias given) and running statistics either both given or both absent,
//!   every `[C]` parameter with stride 1;
//! - training only. In evaluation our kernels already make a single pass (per-channel
//!   coefficients, then one multiply-add per element), as cuDNN's inference kernel does, and
//!   they also write the saved statistics the evaluation-mode backward needs, which cuDNN has no
//!   backward for.
//!
//! A case cuDNN reports as not supported also goes to our kernels.
//! `TINY_TORCH_CUDNN_BATCH_NORM=0` turns this path off (to compare with our kernels).

use crate::Cuda;
use crate::copy;
use crate::cudnn::{Scales, TensorDesc, cudnn_available, cudnn_error, data_types};
use crate::device::CudaDevice;
use crate::storage::{self, CudaStorage};
use cudarc::cudnn::sys as cs;
use std::ffi::c_void;
use std::sync::OnceLock;
use tiny_torch_core::{BackendStorage, BatchNormSaved, DType, Layout, Result, View, ViewMut};

const MODE: cs::cudnnBatchNormMode_t = cs::cudnnBatchNormMode_t::CUDNN_BATCHNORM_SPATIAL;

/// Whether cuDNN may run batch norm: it loads and `TINY_TORCH_CUDNN_BATCH_NORM` is not `0`.
fn enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| {
        std::env::var("TINY_TORCH_CUDNN_BATCH_NORM").map_or(true, |v| v.trim() != "0")
            && cudnn_available()
    })
}

/// The largest batch PyTorch gives cuDNN's training-mode batch norm (larger ones go to its
/// own kernels, `_batch_norm_impl_index`).
const MAX_BATCH: usize = 880_801;

/// Whether cuDNN may take an input of `rank` dims and `dtype`, seen as `dims`, with `eps`: it
/// is enabled, the rank at least 3, the dtype f32 or f64, each of the `C > 0` channels holds at least two elements, the batch is at
/// most [`MAX_BATCH`], the element count fits cuDNN's 32-bit sizes and `eps >= 0` (cuDNN 9's
/// `CUDNN_BN_MIN_EPSILON`; false for NaN).
fn suits(rank: usize, dtype: DType, dims: [usize; 4], eps: f64) -> bool {
    enabled()
        && rank >= 3
        && matches!(dtype, DType::F32 | DType::F64)
        && dims[1] > 0
        && dims[0] * dims[2] >= 2
        && dims[0] <= MAX_BATCH
        && dims.iter().product::<usize>() < i32::MAX as usize
        && eps >= 0.0
}

/// The `[N, C, prod(*), 1]` shape cuDNN is given for an `[N, C, *]` input.
fn cudnn_dims(layout: &Layout) -> [usize; 4] {
    let dims = layout.dims();
    [dims[0], dims[1], dims[2..].iter().product(), 1]
}

/// The device address of a contiguous view's first element, if it is 16-byte aligned.
fn dense_ptr(storage: &CudaStorage, layout: &Layout) -> Option<u64> {
    let ptr = storage.ptr_at(layout.offset());
    (layout.is_contiguous() && ptr.is_multiple_of(16)).then_some(ptr)
}

/// A `[C]` parameter's address, if it is read with stride 1 and 16-byte aligned.
fn param_ptr(storage: &CudaStorage, layout: &Layout) -> Option<u64> {
    let ptr = storage.ptr_at(layout.offset());
    let unit = layout.dims().first().is_none_or(|&c| c <= 1) || layout.strides()[0] == 1;
    (unit && ptr.is_multiple_of(16)).then_some(ptr)
}

fn void(ptr: u64) -> *mut c_void {
    ptr as usize as *mut c_void
}

/// The input's descriptor and the derived `[1, C, 1, 1]` one of the parameters and statistics.
struct Descs {
    x: TensorDesc,
    param: TensorDesc,
}

impl Descs {
    fn new(op: &'static str, dtype: DType, dims: [usize; 4]) -> Result<Self> {
        let (data, _) = data_types(op, dtype)?;
        let x = TensorDesc::nchw(op, data, dims)?;
        let param = TensorDesc::empty()?;
        // SAFETY: two live descriptors, the first one set.
        unsafe { cs::cudnnDeriveBNTensorDescriptor(param.0, x.0, MODE) }
            .result()
            .map_err(|e| cudnn_error("deriving the batch-norm parameter descriptor", e))?;
        Ok(Descs { x, param })
    }
}

/// Training-mode `batch_norm` on cuDNN, or `None` when the arguments are outside what it
/// computes exactly as our kernels do (see the module doc). Arguments already checked by
/// `check_batch_norm`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward_training(
    cuda: &Cuda,
    input: View<'_, CudaStorage>,
    weight: Option<View<'_, CudaStorage>>,
    bias: Option<View<'_, CudaStorage>>,
    running_mean: Option<&mut ViewMut<'_, CudaStorage>>,
    running_var: Option<&mut ViewMut<'_, CudaStorage>>,
    momentum: f64,
    eps: f64,
) -> Result<Option<(CudaStorage, BatchNormSaved<CudaStorage>)>> {
    let op = "batch_norm";
    let dtype = input.storage.dtype();
    let dims = cudnn_dims(input.layout);
    if !suits(input.layout.dims().len(), dtype, dims, eps) {
        return Ok(None);
    }
    let (Some(weight), Some(bias)) = (weight, bias) else {
        return Ok(None);
    };
    // Both running statistics, each with stride 1, or neither.
    let running = match (running_mean, running_var) {
        (Some(m), Some(v)) => {
            match param_ptr(m.storage, m.layout).zip(param_ptr(v.storage, v.layout)) {
                None => return Ok(None),
                both => both,
            }
        }
        (None, None) => None,
        _ => return Ok(None),
    };
    let (Some(x), Some(w), Some(b)) = (
        dense_ptr(input.storage, input.layout),
        param_ptr(weight.storage, weight.layout),
        param_ptr(bias.storage, bias.layout),
    ) else {
        return Ok(None);
    };
    let device = cuda.device();
    let c = dims[1];
    let out = storage::alloc(device, dtype, input.layout.numel())?;
    let saved = BatchNormSaved {
        mean: storage::alloc(device, dtype, c)?,
        invstd: storage::alloc(device, dtype, c)?,
        eps,
    };
    let descs = Descs::new(op, dtype, dims)?;
    let (running_mean, running_var) = running.unzip();
    let scales = Scales::new(dtype, 0.0);
    let done = run(device, "forward", dims, dtype, |handle| {
        // SAFETY: live handle and descriptors of the packed `[N, C, prod(*), 1]` input and
        // output and the `[C]` parameters; every pointer holds what its descriptor says (the
        // running statistics are null together or both `[C]` with stride 1, updated in place
        // on the stream); the scales are of the type cuDNN reads for this dtype.
        unsafe {
            cs::cudnnBatchNormalizationForwardTraining(
                handle,
                MODE,
                scales.alpha(),
                scales.beta(),
                descs.x.0,
                void(x),
                descs.x.0,
                void(out.ptr()),
                descs.param.0,
                void(w),
                void(b),
                momentum,
                running_mean.map_or(std::ptr::null_mut(), void),
                running_var.map_or(std::ptr::null_mut(), void),
                eps,
                void(saved.mean.ptr()),
                void(saved.invstd.ptr()),
            )
        }
    })?;
    Ok(done.then_some((out, saved)))
}

/// Training-mode `batch_norm_backward` on cuDNN: `(dx, dweight, dbias)`, or `None` outside
/// the cases it computes as our kernels do. Arguments already checked by
/// `check_batch_norm_backward`.
pub(crate) fn backward_training(
    cuda: &Cuda,
    grad_output: View<'_, CudaStorage>,
    input: View<'_, CudaStorage>,
    weight: Option<View<'_, CudaStorage>>,
    saved: &BatchNormSaved<CudaStorage>,
) -> Result<Option<(CudaStorage, CudaStorage, CudaStorage)>> {
    let op = "batch_norm_backward";
    let dtype = input.storage.dtype();
    let dims = cudnn_dims(input.layout);
    if !suits(input.layout.dims().len(), dtype, dims, saved.eps)
        || saved.mean.dtype() != dtype
        || saved.invstd.dtype() != dtype
    {
        return Ok(None);
    }
    let Some(weight) = weight else {
        return Ok(None);
    };
    let (Some(x), Some(w)) = (
        dense_ptr(input.storage, input.layout),
        param_ptr(weight.storage, weight.layout),
    ) else {
        return Ok(None);
    };
    let packed_dy;
    let dy = match dense_ptr(grad_output.storage, grad_output.layout) {
        Some(ptr) => ptr,
        None => {
            // Lives until the call below is queued; the pool hands it out again only to later
            // work on the same stream.
            packed_dy = copy::contiguous(cuda, grad_output)?;
            packed_dy.ptr()
        }
    };
    let device = cuda.device();
    let c = dims[1];
    let grad_input = storage::alloc(device, dtype, input.layout.numel())?;
    let grad_weight = storage::alloc(device, dtype, c)?;
    let grad_bias = storage::alloc(device, dtype, c)?;
    let descs = Descs::new(op, dtype, dims)?;
    let scales = Scales::new(dtype, 0.0);
    let done = run(device, "backward", dims, dtype, |handle| {
        // SAFETY: as in `forward_training`; x and dy are packed with the input's shape, the
        // saved statistics are `[C]` of the compute type (checked above) and the three outputs
        // new storages of the sizes their descriptors give.
        unsafe {
            cs::cudnnBatchNormalizationBackward(
                handle,
                MODE,
                scales.alpha(),
                scales.beta(),
                scales.alpha(),
                scales.beta(),
                descs.x.0,
                void(x),
                descs.x.0,
                void(dy),
                descs.x.0,
                void(grad_input.ptr()),
                descs.param.0,
                void(w),
                void(grad_weight.ptr()),
                void(grad_bias.ptr()),
                saved.eps,
                void(saved.mean.ptr()),
                void(saved.invstd.ptr()),
            )
        }
    })?;
    Ok(done.then_some((grad_input, grad_weight, grad_bias)))
}

/// Runs `call` (a batch-norm `pass` of `dims` and `dtype`) with the device's cuDNN handle, its
/// context bound: `Ok(false)` when cuDNN says it does not support the case (nothing ran; our
/// kernels take it), an error naming the pass for any other failure.
fn run(
    device: &CudaDevice,
    pass: &str,
    dims: [usize; 4],
    dtype: DType,
    call: impl FnOnce(cs::cudnnHandle_t) -> cs::cudnnStatus_t,
) -> Result<bool> {
    let state = device.cudnn()?;
    let handle = state
        .as_ref()
        .map(|s| s.handle())
        .ok_or_else(|| crate::compile::backend_error("no cuDNN handle"))?;
    device.bind()?;
    match call(handle) {
        cs::cudnnStatus_t::CUDNN_STATUS_NOT_SUPPORTED => Ok(false),
        status => status
            .result()
            .map(|()| true)
            .map_err(|e| cudnn_error(&format!("batch_norm {pass} of {dims:?} {dtype}"), e)),
    }
}
