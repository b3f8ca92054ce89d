//! Batch normalization of `[N, C, *]` (`kernels/batch_norm.cu`), forward (training and
//! evaluation) and backward. Its own kernels keep the CPU backend's conventions exactly
//! (`backends/cpu/src/batch_norm.rs`): batch statistics in f64 in two passes, the biased
//! variance to normalize with and the unbiased one for the running update
//! (`running = (1 - momentum) * running + momentum * batch`), saved mean and inverse standard
//! deviation as `[C]` storages of the compute type (f32, or f64 for f64 inputs), running
//! statistics and affine parameters in the input's dtype through any stride.
//!
//! Training-mode f32/f64 batch norm of contiguous inputs with affine parameters runs on cuDNN
//! (`batch_norm_cudnn.rs`, which says exactly when); these kernels do everything else: f16/bf16
//! inputs (cuDNN keeps their statistics in f32, ours are in the input dtype), strided inputs,
//! no affine parameters, strided running statistics, evaluation mode and its backward (which
//! cuDNN has none of), and fewer than two elements per channel. They reproduce the CPU's
//! statistics bit for bit where the arithmetic allows. Each pass is a grid of (chunk, channel)
//! blocks with per-block partial sums added in a fixed order (deterministic).
//!
//! Per channel `c`, the input is read as the view `x.select(1, c)` (any strides: channels-last
//! and sliced inputs need no copy); the output is contiguous.

use crate::Cuda;
use crate::batch_norm_cudnn;
use crate::copy;
use crate::device::CudaDevice;
use crate::launch::{KernelLayout, dtype_suffix, elementwise_config, launch_error, merge_dims};
use crate::storage::{self, CudaStorage};
use cudarc::driver::{LaunchConfig, PushKernelArg};
use tiny_torch_core::{
    BackendStorage, BatchNormSaved, DType, Error, Layout, Result, View, ViewMut, check_batch_norm,
    check_batch_norm_backward,
};

/// Threads per block of the reductions (`BN_BLOCK` in batch_norm.cu).
const BN_BLOCK: usize = 256;

/// The most channels one grid row holds (CUDA's limit on `gridDim.y`); kernels loop past it.
const MAX_GRID_Y: usize = 65_535;

/// The dtype statistics and coefficients are kept in: f64 for f64 inputs, else f32.
fn compute_dtype(dtype: DType) -> DType {
    if dtype == DType::F64 {
        DType::F64
    } else {
        DType::F32
    }
}

fn float_only(op: &'static str, dtype: DType) -> Result<()> {
    match dtype {
        DType::F32 | DType::F64 | DType::F16 | DType::BF16 => Ok(()),
        other => Err(Error::unsupported(op, other, "cuda")),
    }
}

/// The shape facts of an `[N, C, *]` input.
struct Channels {
    channels: usize,
    /// Elements per channel (`N * prod(*)`).
    count: usize,
    /// `prod(*)`: elements of one channel of one batch item (1 for `[N, C]`).
    inner: usize,
}

impl Channels {
    /// The channels of an input already checked to be `[N, C, *]` (`check_batch_norm*`).
    fn of(layout: &Layout) -> Self {
        let dims = layout.dims();
        let channels = dims[1];
        Channels {
            channels,
            count: layout.numel().checked_div(channels).unwrap_or(0),
            inner: dims[2..].iter().product(),
        }
    }
}

/// The layout of every dim but the channels (merged where strides allow), at `layout`'s
/// offset, and the channel stride: channel `c`'s element `j` is at `other(j) + c * cstride`.
fn channel_view(op: &'static str, layout: &Layout) -> Result<(KernelLayout, i64)> {
    let mut dims = layout.dims().to_vec();
    let mut strides = layout.strides().to_vec();
    dims.remove(1);
    let cstride = strides.remove(1);
    let (dims, strides) = merge_dims(&dims, &[&strides]);
    let other = KernelLayout::new(op, &dims, &strides[0], layout.offset())?;
    Ok((other, cstride as i64))
}

/// A `[C]` parameter as the kernels take it: pointer (0 when absent), offset and stride.
fn param_args(storage: Option<&CudaStorage>, layout: Option<&Layout>) -> (u64, i64, i64) {
    match (storage, layout) {
        (Some(s), Some(l)) => (s.ptr(), l.offset() as i64, l.strides()[0] as i64),
        _ => (0, 0, 0),
    }
}

/// The reduction grid of `channels` channels of `count` elements: (splits, chunk, config).
/// About four blocks per multiprocessor in all, each summing at least ~16 elements per thread.
fn reduce_plan(device: &CudaDevice, channels: usize, count: usize) -> (usize, usize, LaunchConfig) {
    let target = device.properties.multiprocessor_count as usize * 4;
    let by_work = count.div_ceil(BN_BLOCK * 16).max(1);
    let splits = target.div_ceil(channels.max(1)).clamp(1, by_work);
    let chunk = count.div_ceil(splits);
    let config = LaunchConfig {
        grid_dim: (splits as u32, channels.clamp(1, MAX_GRID_Y) as u32, 1),
        block_dim: (BN_BLOCK as u32, 1, 1),
        shared_mem_bytes: 0,
    };
    (splits, chunk, config)
}

/// One launch of `batch_norm_reduce_<dtype>` (see batch_norm.cu for the modes).
#[allow(clippy::too_many_arguments)]
fn launch_reduce(
    cuda: &Cuda,
    dtype: DType,
    x: (u64, &KernelLayout, i64),
    g: (u64, &KernelLayout, i64),
    mean: u64,
    channels: usize,
    count: usize,
    mode: i32,
    partial: &CudaStorage,
) -> Result<usize> {
    let device = cuda.device();
    let (splits, chunk, config) = reduce_plan(device, channels, count);
    let name = format!("batch_norm_reduce_{}", dtype_suffix(dtype));
    let func = device.function("batch_norm", &name)?;
    let (channels, count, chunk) = (channels as i64, count as i64, chunk as i64);
    let partial_ptr = partial.ptr();
    let mut launch = device.stream.launch_builder(&func);
    launch
        .arg(&x.0)
        .arg(x.1)
        .arg(&x.2)
        .arg(&g.0)
        .arg(g.1)
        .arg(&g.2)
        .arg(&mean)
        .arg(&channels)
        .arg(&count)
        .arg(&chunk)
        .arg(&mode)
        .arg(&partial_ptr);
    // SAFETY: the arguments match `batch_norm_reduce_*` (pointer, Layout, i64, pointer, Layout,
    // i64, pointer, i64 x3, i32, pointer); both channel views lie inside their storages
    // (checked by the callers), `mean` holds `channels` f64 when the mode reads it, and
    // `partial` holds channels * splits * 2 f64 (allocated from the same plan).
    unsafe { launch.launch(config) }.map_err(|e| launch_error(&name, e))?;
    Ok(splits)
}

/// `batch_norm`: see [`tiny_torch_core::Backend::batch_norm`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn batch_norm(
    cuda: &Cuda,
    input: View<'_, CudaStorage>,
    weight: Option<View<'_, CudaStorage>>,
    bias: Option<View<'_, CudaStorage>>,
    mut running_mean: Option<ViewMut<'_, CudaStorage>>,
    mut running_var: Option<ViewMut<'_, CudaStorage>>,
    training: bool,
    momentum: f64,
    eps: f64,
) -> Result<(CudaStorage, BatchNormSaved<CudaStorage>)> {
    let op = "batch_norm";
    check_batch_norm(
        input,
        weight,
        bias,
        running_mean.as_ref().map(ViewMut::as_view),
        running_var.as_ref().map(ViewMut::as_view),
        training,
    )?;
    if training
        && let Some(done) = batch_norm_cudnn::forward_training(
            cuda,
            input,
            weight,
            bias,
            running_mean.as_mut(),
            running_var.as_mut(),
            momentum,
            eps,
        )?
    {
        return Ok(done);
    }
    let ch = Channels::of(input.layout);
    let (c, dtype) = (ch.channels, input.storage.dtype());
    float_only(op, dtype)?;
    let acc = compute_dtype(dtype);
    let device = cuda.device();
    let total = input.layout.numel();
    let out = storage::alloc(device, dtype, total)?;
    let saved = BatchNormSaved {
        mean: storage::alloc(device, acc, c)?,
        invstd: storage::alloc(device, acc, c)?,
        eps,
    };
    if c == 0 {
        return Ok((out, saved));
    }
    let m = ch.count;
    let (other, cstride) = channel_view(op, input.layout)?;
    let x = input.storage.ptr();

    // Training: the batch mean, then the squared deviations from it.
    let mut partial = None;
    let mut batch_mean = None;
    let mut splits = 0usize;
    if training && m > 0 {
        let (s, _, _) = reduce_plan(device, c, m);
        let p = storage::alloc(device, DType::F64, c * s * 2)?;
        let mean = storage::alloc(device, DType::F64, c)?;
        let xa = (x, &other, cstride);
        splits = launch_reduce(cuda, dtype, xa, xa, 0, c, m, 0, &p)?;
        let func = device.function("batch_norm", "batch_norm_mean")?;
        let (pp, mp) = (p.ptr(), mean.ptr());
        let (sp, ci, mi) = (splits as i64, c as i64, m as i64);
        let mut launch = device.stream.launch_builder(&func);
        launch.arg(&pp).arg(&sp).arg(&ci).arg(&mi).arg(&mp);
        // SAFETY: matches `batch_norm_mean` (pointer, i64 x3, pointer); `p` holds the partials
        // of c channels x splits, `mean` c f64.
        unsafe { launch.launch(elementwise_config(device, c)) }
            .map_err(|e| launch_error("batch_norm_mean", e))?;
        launch_reduce(cuda, dtype, xa, xa, mean.ptr(), c, m, 1, &p)?;
        partial = Some(p);
        batch_mean = Some(mean);
    }

    // Per channel: statistics, running update, saved values, coefficients.
    let coef = storage::alloc(device, acc, 2 * c)?;
    let name = format!("batch_norm_stats_{}", dtype_suffix(dtype));
    let func = device.function("batch_norm", &name)?;
    let (rm, rm_off, rm_stride) = param_args(
        running_mean.as_ref().map(|v| &*v.storage),
        running_mean.as_ref().map(|v| v.layout),
    );
    let (rv, rv_off, rv_stride) = param_args(
        running_var.as_ref().map(|v| &*v.storage),
        running_var.as_ref().map(|v| v.layout),
    );
    let (w, w_off, w_stride) = param_args(
        weight.as_ref().map(|v| v.storage),
        weight.as_ref().map(|v| v.layout),
    );
    let (b, b_off, b_stride) = param_args(
        bias.as_ref().map(|v| v.storage),
        bias.as_ref().map(|v| v.layout),
    );
    let partial_ptr = partial.as_ref().map_or(0, |p| p.ptr());
    let mean_ptr = batch_mean.as_ref().map_or(0, |p| p.ptr());
    let (sp, ci, mi, tr) = (splits as i64, c as i64, m as i64, training as i32);
    let (saved_mean, saved_invstd, coef_ptr) = (saved.mean.ptr(), saved.invstd.ptr(), coef.ptr());
    let mut launch = device.stream.launch_builder(&func);
    launch
        .arg(&partial_ptr)
        .arg(&sp)
        .arg(&ci)
        .arg(&mi)
        .arg(&tr)
        .arg(&eps)
        .arg(&momentum)
        .arg(&mean_ptr)
        .arg(&rm)
        .arg(&rm_off)
        .arg(&rm_stride)
        .arg(&rv)
        .arg(&rv_off)
        .arg(&rv_stride)
        .arg(&w)
        .arg(&w_off)
        .arg(&w_stride)
        .arg(&b)
        .arg(&b_off)
        .arg(&b_stride)
        .arg(&saved_mean)
        .arg(&saved_invstd)
        .arg(&coef_ptr);
    // SAFETY: matches `batch_norm_stats_*` (pointer, i64 x3, i32, f64 x2, pointer, then
    // (pointer, i64, i64) x4, pointer x3); the partials and batch mean exist whenever the
    // kernel reads them (training with m > 0), parameters are null or checked [C] views of the
    // input's dtype, and the saved / coefficient buffers hold C and 2C values of the compute
    // type.
    unsafe { launch.launch(elementwise_config(device, c)) }.map_err(|e| launch_error(&name, e))?;

    if total > 0 {
        let name = format!("batch_norm_apply_{}", dtype_suffix(dtype));
        let func = device.function("batch_norm", &name)?;
        let xl = KernelLayout::of(op, input.layout)?;
        let (n, ci, inner) = (total as i64, c as i64, ch.inner as i64);
        let (coef_ptr, out_ptr) = (coef.ptr(), out.ptr());
        let mut launch = device.stream.launch_builder(&func);
        launch
            .arg(&x)
            .arg(&xl)
            .arg(&n)
            .arg(&ci)
            .arg(&inner)
            .arg(&coef_ptr)
            .arg(&out_ptr);
        // SAFETY: matches `batch_norm_apply_*` (pointer, Layout, i64 x3, pointer, pointer);
        // the input layout lies inside its storage and the output holds `total` elements.
        unsafe { launch.launch(elementwise_config(device, total)) }
            .map_err(|e| launch_error(&name, e))?;
    }
    // Scratch buffers go back to the pool now: later ops are queued after these kernels.
    drop((partial, batch_mean, coef));
    Ok((out, saved))
}

/// A saved `[C]` statistic (checked by `BatchNormSaved::check`) as a storage of `dtype`
/// (itself, or a converted copy).
fn saved_as(
    cuda: &Cuda,
    s: &CudaStorage,
    channels: usize,
    dtype: DType,
) -> Result<Option<CudaStorage>> {
    if s.dtype() == dtype {
        return Ok(None);
    }
    let mut converted = storage::alloc(cuda.device(), dtype, channels)?;
    let layout = Layout::contiguous([channels]);
    copy::copy(
        cuda,
        View::new(s, &layout),
        ViewMut::new(&mut converted, &layout),
    )?;
    Ok(Some(converted))
}

/// `batch_norm_backward`: see [`tiny_torch_core::Backend::batch_norm_backward`]. With `M`
/// elements per channel: `dweight = Σ (x - mean) g * invstd`, `dbias = Σ g`; in training
/// `dx = (g - Σ g / M - (x - mean) k) * invstd * weight` with `k = Σ (x - mean) g * invstd² / M`,
/// in evaluation `dx = g * invstd * weight`.
pub(crate) fn batch_norm_backward(
    cuda: &Cuda,
    grad_output: View<'_, CudaStorage>,
    input: View<'_, CudaStorage>,
    weight: Option<View<'_, CudaStorage>>,
    saved: &BatchNormSaved<CudaStorage>,
    training: bool,
) -> Result<(CudaStorage, CudaStorage, CudaStorage)> {
    let op = "batch_norm_backward";
    check_batch_norm_backward(grad_output, input, weight, saved)?;
    if training
        && let Some(done) =
            batch_norm_cudnn::backward_training(cuda, grad_output, input, weight, saved)?
    {
        return Ok(done);
    }
    let ch = Channels::of(input.layout);
    let (c, dtype) = (ch.channels, input.storage.dtype());
    float_only(op, dtype)?;
    let acc = compute_dtype(dtype);
    let mean_acc = saved_as(cuda, &saved.mean, c, acc)?;
    let invstd_acc = saved_as(cuda, &saved.invstd, c, acc)?;
    let mean_f64 = saved_as(cuda, &saved.mean, c, DType::F64)?;
    let device = cuda.device();
    let total = input.layout.numel();
    let grad_input = storage::alloc(device, dtype, total)?;
    let grad_weight = storage::alloc(device, dtype, c)?;
    let grad_bias = storage::alloc(device, dtype, c)?;
    if c == 0 {
        return Ok((grad_input, grad_weight, grad_bias));
    }
    let m = ch.count;
    let (x_other, x_cstride) = channel_view(op, input.layout)?;
    let (g_other, g_cstride) = channel_view(op, grad_output.layout)?;
    let (x, g) = (input.storage.ptr(), grad_output.storage.ptr());

    // Σ g and Σ (x - mean) g per channel.
    let (s, _, _) = reduce_plan(device, c, m);
    let partial = storage::alloc(device, DType::F64, c * s * 2)?;
    let mean_ptr = mean_f64.as_ref().unwrap_or(&saved.mean).ptr();
    let splits = launch_reduce(
        cuda,
        dtype,
        (x, &x_other, x_cstride),
        (g, &g_other, g_cstride),
        mean_ptr,
        c,
        m,
        2,
        &partial,
    )?;

    let coef = storage::alloc(device, acc, 4 * c)?;
    let name = format!("batch_norm_backward_coef_{}", dtype_suffix(dtype));
    let func = device.function("batch_norm", &name)?;
    let (w, w_off, w_stride) = param_args(
        weight.as_ref().map(|v| v.storage),
        weight.as_ref().map(|v| v.layout),
    );
    let (pp, sp, ci, mi) = (partial.ptr(), splits as i64, c as i64, m as i64);
    let sm = mean_acc.as_ref().unwrap_or(&saved.mean).ptr();
    let si = invstd_acc.as_ref().unwrap_or(&saved.invstd).ptr();
    let (gw, gb, coef_ptr) = (grad_weight.ptr(), grad_bias.ptr(), coef.ptr());
    let mut launch = device.stream.launch_builder(&func);
    launch
        .arg(&pp)
        .arg(&sp)
        .arg(&ci)
        .arg(&mi)
        .arg(&sm)
        .arg(&si)
        .arg(&w)
        .arg(&w_off)
        .arg(&w_stride)
        .arg(&gw)
        .arg(&gb)
        .arg(&coef_ptr);
    // SAFETY: matches `batch_norm_backward_coef_*` (pointer, i64 x3, pointer x3, i64 x2,
    // pointer x3); the saved statistics are C values of the compute type, the weight null or a
    // checked [C] view, the gradients C elements and the coefficients 4C of the compute type.
    unsafe { launch.launch(elementwise_config(device, c)) }.map_err(|e| launch_error(&name, e))?;

    if total > 0 {
        let name = format!("batch_norm_backward_apply_{}", dtype_suffix(dtype));
        let func = device.function("batch_norm", &name)?;
        let xl = KernelLayout::of(op, input.layout)?;
        let gl = KernelLayout::of(op, grad_output.layout)?;
        let (n, inner, tr) = (total as i64, ch.inner as i64, training as i32);
        let dx = grad_input.ptr();
        let mut launch = device.stream.launch_builder(&func);
        launch
            .arg(&x)
            .arg(&xl)
            .arg(&g)
            .arg(&gl)
            .arg(&n)
            .arg(&ci)
            .arg(&inner)
            .arg(&tr)
            .arg(&coef_ptr)
            .arg(&dx);
        // SAFETY: matches `batch_norm_backward_apply_*` (pointer, Layout, pointer, Layout,
        // i64 x3, i32, pointer, pointer); both layouts lie inside their storages, the output
        // holds `total` elements and the coefficients 4C.
        unsafe { launch.launch(elementwise_config(device, total)) }
            .map_err(|e| launch_error(&name, e))?;
    }
    drop((partial, coef, mean_acc, invstd_acc, mean_f64));
    Ok((grad_input, grad_weight, grad_bias))
}
