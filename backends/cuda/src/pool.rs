//! Max, average and adaptive average pooling (`kernels/pool.cu`), forward and backward, with the
//! CPU backend's semantics window for window (`backends/cpu/src/pool.rs`): PyTorch's clipping
//! of windows, `ceil_mode`, `count_include_pad`, `divisor_override`, dilation for max pooling,
//! max-pool indices flat in each `H * W` plane (the last NaN, else the first maximum).
//!
//! Own kernels rather than cuDNN's pooling: cuDNN returns no indices, and its backward needs the
//! forward input and output, which `max_pool2d_backward` does not get. Inputs are read through
//! their strides (NCHW, channels-last, slices); outputs are contiguous NCHW. Floats only; f16
//! and bf16 compute in f32.
//!
//! The average-pool gradients gather, per input element, from the windows that hold it, adding
//! in the CPU's order; the max-pool gradient scatters with atomic adds (only the indices are
//! known), so where windows overlap the order of its additions may vary from run to run.

use crate::Cuda;
use crate::copy;
use crate::launch::{dtype_suffix, elementwise_config, launch_error};
use crate::storage::{self, CudaStorage};
use cudarc::driver::{DeviceRepr, PushKernelArg};
use tiny_torch_core::{
    BackendStorage, DType, Error, Layout, Pool2dParams, Result, Scalar, View, ViewMut,
    check_adaptive_avg_pool2d, check_adaptive_avg_pool2d_backward, check_max_pool2d_backward,
};

/// `struct View4` of pool.cu: a 4-D strided view.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct View4 {
    offset: i64,
    strides: [i64; 4],
}

// SAFETY: a plain `repr(C)` struct of integers, the same layout as pool.cu's `View4`.
unsafe impl DeviceRepr for View4 {}

/// `struct PoolGeom` of pool.cu.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct PoolGeom {
    n: i64,
    c: i64,
    h: i64,
    w: i64,
    oh: i64,
    ow: i64,
    kh: i64,
    kw: i64,
    sh: i64,
    sw: i64,
    ph: i64,
    pw: i64,
    dh: i64,
    dw: i64,
    divisor: i64,
    count_include_pad: i32,
    _pad: i32,
}

// SAFETY: a plain `repr(C)` struct of integers, the same layout as pool.cu's `PoolGeom`.
unsafe impl DeviceRepr for PoolGeom {}

impl PoolGeom {
    fn new(input: [usize; 4], out: [usize; 2], p: Option<&Pool2dParams>) -> Self {
        let i = |v: usize| v as i64;
        let mut g = PoolGeom {
            n: i(input[0]),
            c: i(input[1]),
            h: i(input[2]),
            w: i(input[3]),
            oh: i(out[0]),
            ow: i(out[1]),
            ..Default::default()
        };
        if let Some(p) = p {
            g.kh = i(p.kernel[0]);
            g.kw = i(p.kernel[1]);
            g.sh = i(p.stride[0]);
            g.sw = i(p.stride[1]);
            g.ph = i(p.padding[0]);
            g.pw = i(p.padding[1]);
            g.dh = i(p.dilation[0]);
            g.dw = i(p.dilation[1]);
            g.divisor = p.divisor_override.map_or(0, i);
            g.count_include_pad = p.count_include_pad as i32;
        }
        g
    }
}

/// The kernel form of a 4-D view (checked by the core crate's pooling checks: 4-D, inside its
/// storage).
fn view4(layout: &Layout) -> View4 {
    View4 {
        offset: layout.offset() as i64,
        strides: std::array::from_fn(|d| layout.strides()[d] as i64),
    }
}

fn float_only(op: &'static str, dtype: DType) -> Result<()> {
    match dtype {
        DType::F32 | DType::F64 | DType::F16 | DType::BF16 => Ok(()),
        other => Err(Error::unsupported(op, other, "cuda")),
    }
}

/// Launches `pool_{kind}_{dtype}(src, view, geom, out)` over `n` threads' worth of elements.
#[allow(clippy::too_many_arguments)]
fn launch_simple(
    cuda: &Cuda,
    kind: &str,
    dtype: DType,
    src: &CudaStorage,
    view: View4,
    geom: PoolGeom,
    out: &CudaStorage,
    n: usize,
) -> Result<()> {
    if n == 0 {
        return Ok(());
    }
    let device = cuda.device();
    let name = format!("pool_{kind}_{}", dtype_suffix(dtype));
    let func = device.function("pool", &name)?;
    let (src_ptr, out_ptr) = (src.ptr(), out.ptr());
    let mut launch = device.stream.launch_builder(&func);
    launch.arg(&src_ptr).arg(&view).arg(&geom).arg(&out_ptr);
    // SAFETY: the arguments match `pool_{avg,adaptive}[_backward]_*` in pool.cu (pointer, View4,
    // PoolGeom, pointer); the view lies inside `src` (checked) and `out` holds the `n`
    // contiguous elements the kernel writes.
    unsafe { launch.launch(elementwise_config(device, n)) }.map_err(|e| launch_error(&name, e))?;
    Ok(())
}

/// `max_pool2d`: the values and the flat index (`I64`) of each maximum in its `H * W` plane.
pub(crate) fn max_pool2d(
    cuda: &Cuda,
    input: View<'_, CudaStorage>,
    params: &Pool2dParams,
) -> Result<(CudaStorage, CudaStorage)> {
    let op = "max_pool2d";
    let dtype = input.storage.dtype();
    let (dims, [oh, ow]) = params.check_max_pool2d(input)?;
    let xv = view4(input.layout);
    float_only(op, dtype)?;
    let total = dims[0] * dims[1] * oh * ow;
    let device = cuda.device();
    let values = storage::alloc(device, dtype, total)?;
    let indices = storage::alloc(device, DType::I64, total)?;
    if total == 0 {
        return Ok((values, indices));
    }
    let geom = PoolGeom::new(dims, [oh, ow], Some(params));
    let name = format!("pool_max_{}", dtype_suffix(dtype));
    let func = device.function("pool", &name)?;
    let (x, out, idx) = (input.storage.ptr(), values.ptr(), indices.ptr());
    let mut launch = device.stream.launch_builder(&func);
    launch.arg(&x).arg(&xv).arg(&geom).arg(&out).arg(&idx);
    // SAFETY: the arguments match `pool_max_*` in pool.cu; the input view lies inside its
    // storage and both outputs hold `total` elements.
    unsafe { launch.launch(elementwise_config(device, total)) }
        .map_err(|e| launch_error(&name, e))?;
    Ok((values, indices))
}

/// Adds each gradient to the element its window's maximum came from (`indices`, as
/// [`max_pool2d`] returns them). An index outside the plane is reported at the next
/// synchronizing call, as the CPU's `IndexOutOfRange` (dim 2, size `H * W`).
pub(crate) fn max_pool2d_backward(
    cuda: &Cuda,
    grad_output: View<'_, CudaStorage>,
    indices: View<'_, CudaStorage>,
    input_dims: [usize; 4],
) -> Result<CudaStorage> {
    let op = "max_pool2d_backward";
    let gdims = check_max_pool2d_backward(grad_output, indices, input_dims)?;
    let (gv, iv) = (view4(grad_output.layout), view4(indices.layout));
    let dtype = grad_output.storage.dtype();
    float_only(op, dtype)?;
    let total: usize = input_dims.iter().product();
    let device = cuda.device();
    let mut out = storage::alloc(device, dtype, total)?;
    if total == 0 {
        return Ok(out);
    }
    // f32 / f64 accumulate in the output itself, f16 / bf16 in an f32 buffer rounded at the end.
    let acc_dtype = match dtype {
        DType::F16 | DType::BF16 => DType::F32,
        other => other,
    };
    let mut wide = if acc_dtype != dtype {
        Some(storage::alloc(device, acc_dtype, total)?)
    } else {
        None
    };
    let layout = Layout::contiguous(input_dims);
    {
        let acc = wide.as_mut().unwrap_or(&mut out);
        copy::fill(cuda, ViewMut::new(acc, &layout), Scalar::Float(0.0))?;
    }
    let n_grad: usize = gdims.iter().product();
    if n_grad > 0 {
        let name = format!("pool_max_backward_{}", dtype_suffix(dtype));
        let func = device.function("pool", &name)?;
        let acc_ptr = wide.as_ref().unwrap_or(&out).ptr();
        let (g, ix) = (grad_output.storage.ptr(), indices.storage.ptr());
        let [n, c, oh, ow] = gdims.map(|d| d as i64);
        let hw = (input_dims[2] * input_dims[3]) as i64;
        let mut launch = device.stream.launch_builder(&func);
        launch
            .arg(&g)
            .arg(&gv)
            .arg(&ix)
            .arg(&iv)
            .arg(&n)
            .arg(&c)
            .arg(&oh)
            .arg(&ow)
            .arg(&hw)
            .arg(&acc_ptr);
        // SAFETY: the arguments match `pool_max_backward_*` in pool.cu; both views lie inside
        // their storages (checked), the accumulator holds N * C * H * W elements of the compute
        // type and indices outside a plane are skipped, not written.
        unsafe { launch.launch(elementwise_config(device, n_grad)) }
            .map_err(|e| launch_error(&name, e))?;
    }
    if let Some(wide) = &wide {
        copy::copy(
            cuda,
            View::new(wide, &layout),
            ViewMut::new(&mut out, &layout),
        )?;
    }
    Ok(out)
}

/// `avg_pool2d`.
pub(crate) fn avg_pool2d(
    cuda: &Cuda,
    input: View<'_, CudaStorage>,
    params: &Pool2dParams,
) -> Result<CudaStorage> {
    let op = "avg_pool2d";
    let dtype = input.storage.dtype();
    let (dims, [oh, ow]) = params.check_avg_pool2d(input)?;
    let xv = view4(input.layout);
    float_only(op, dtype)?;
    let total = dims[0] * dims[1] * oh * ow;
    let out = storage::alloc(cuda.device(), dtype, total)?;
    let geom = PoolGeom::new(dims, [oh, ow], Some(params));
    launch_simple(cuda, "avg", dtype, input.storage, xv, geom, &out, total)?;
    Ok(out)
}

/// The gradient of `avg_pool2d`.
pub(crate) fn avg_pool2d_backward(
    cuda: &Cuda,
    grad_output: View<'_, CudaStorage>,
    input_dims: [usize; 4],
    params: &Pool2dParams,
) -> Result<CudaStorage> {
    let op = "avg_pool2d_backward";
    let [_, _, oh, ow] = params.check_avg_pool2d_backward(grad_output, input_dims)?;
    let gv = view4(grad_output.layout);
    let dtype = grad_output.storage.dtype();
    float_only(op, dtype)?;
    let total: usize = input_dims.iter().product();
    let out = storage::alloc(cuda.device(), dtype, total)?;
    let geom = PoolGeom::new(input_dims, [oh, ow], Some(params));
    launch_simple(
        cuda,
        "avg_backward",
        dtype,
        grad_output.storage,
        gv,
        geom,
        &out,
        total,
    )?;
    Ok(out)
}

/// `adaptive_avg_pool2d` to `[oh, ow]`.
pub(crate) fn adaptive_avg_pool2d(
    cuda: &Cuda,
    input: View<'_, CudaStorage>,
    output_size: [usize; 2],
) -> Result<CudaStorage> {
    let op = "adaptive_avg_pool2d";
    let dtype = input.storage.dtype();
    let dims = check_adaptive_avg_pool2d(input, output_size)?;
    let xv = view4(input.layout);
    float_only(op, dtype)?;
    let total = dims[0] * dims[1] * output_size[0] * output_size[1];
    let out = storage::alloc(cuda.device(), dtype, total)?;
    let geom = PoolGeom::new(dims, output_size, None);
    launch_simple(
        cuda,
        "adaptive",
        dtype,
        input.storage,
        xv,
        geom,
        &out,
        total,
    )?;
    Ok(out)
}

/// The gradient of `adaptive_avg_pool2d`.
pub(crate) fn adaptive_avg_pool2d_backward(
    cuda: &Cuda,
    grad_output: View<'_, CudaStorage>,
    input_dims: [usize; 4],
) -> Result<CudaStorage> {
    let op = "adaptive_avg_pool2d_backward";
    let gdims = check_adaptive_avg_pool2d_backward(grad_output, input_dims)?;
    let gv = view4(grad_output.layout);
    let output_size = [gdims[2], gdims[3]];
    let dtype = grad_output.storage.dtype();
    float_only(op, dtype)?;
    let total: usize = input_dims.iter().product();
    let out = storage::alloc(cuda.device(), dtype, total)?;
    let geom = PoolGeom::new(input_dims, output_size, None);
    launch_simple(
        cuda,
        "adaptive_backward",
        dtype,
        grad_output.storage,
        gv,
        geom,
        &out,
        total,
    )?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_structs_match_pool_cu() {
        // pool.cu: View4 is 5 i64; PoolGeom is 15 i64 and 2 i32.
        assert_eq!(std::mem::size_of::<View4>(), 40);
        assert_eq!(std::mem::size_of::<PoolGeom>(), 128);
    }
}
