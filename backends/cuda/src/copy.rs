//! Host transfers, fill, and strided copies with dtype conversion (`kernels/copy.cu`).

use crate::Cuda;
use crate::compile::backend_error;
use crate::launch::{KernelLayout, dtype_suffix, elementwise_config, launch_error};
use crate::pinned;
use crate::storage::{self, CudaStorage};
use cudarc::driver::{PushKernelArg, result};
use half::{bf16, f16};
use tiny_torch_core::{
    BackendStorage, DType, Element, Layout, Result, Scalar, View, ViewMut, check_extent,
};

pub(crate) fn from_bytes(cuda: &Cuda, dtype: DType, bytes: &[u8]) -> Result<CudaStorage> {
    let size = dtype.size_in_bytes();
    if !bytes.len().is_multiple_of(size) {
        return Err(tiny_torch_core::Error::invalid(
            "from_bytes",
            format!(
                "{} bytes is not a whole number of {dtype} elements",
                bytes.len()
            ),
        ));
    }
    let device = cuda.device();
    let storage = storage::alloc(device, dtype, bytes.len() / size)?;
    if !bytes.is_empty() {
        // Staged in pinned memory and queued, without waiting for the kernels queued before
        // (unless no pinned block can be had).
        pinned::copy_to_device(device, storage.ptr(), bytes)?;
    }
    Ok(storage)
}

pub(crate) fn to_bytes(cuda: &Cuda, src: View<'_, CudaStorage>) -> Result<Vec<u8>> {
    check_extent("to_bytes", src.layout, src.storage.len())?;
    let device = cuda.device();
    let dtype = src.storage.dtype();
    let n = src.layout.numel();
    // A contiguous view is read as is; any other is gathered on the device first.
    let gathered;
    let (storage, start) = if src.layout.is_contiguous() {
        (src.storage, src.layout.offset())
    } else {
        let mut dst = storage::alloc(device, dtype, n)?;
        let layout = Layout::contiguous(src.layout.shape().clone());
        copy(cuda, src, ViewMut::new(&mut dst, &layout))?;
        gathered = dst;
        (&gathered, 0)
    };
    let mut bytes = vec![0u8; n * dtype.size_in_bytes()];
    device.bind()?;
    if n > 0 {
        // SAFETY: the source range lies inside the storage; the copy is waited for below.
        unsafe {
            result::memcpy_dtoh_async(&mut bytes, storage.ptr_at(start), device.stream.cu_stream())
                .map_err(|e| backend_error(format!("copying from cuda:{}: {e}", device.ordinal)))?;
        }
    }
    device.synchronize()?;
    Ok(bytes)
}

/// `value` converted to `dtype` with the cast rules, as little-endian bits in a `u64`.
pub(crate) fn scalar_bits(value: Scalar, dtype: DType) -> u64 {
    fn int_of(value: Scalar) -> i64 {
        match value {
            Scalar::Float(f) => f as i64,
            Scalar::Int(i) => i,
            Scalar::Bool(b) => b as i64,
        }
    }
    let float = value.to_f64();
    match dtype {
        DType::Bool => match value {
            Scalar::Float(f) => (f != 0.0) as u64,
            _ => (int_of(value) != 0) as u64,
        },
        DType::U8 => int_of(value) as u8 as u64,
        DType::I32 => int_of(value) as i32 as u32 as u64,
        DType::I64 => int_of(value) as u64,
        DType::F16 => <f16 as Element>::from_f64(float).to_bits() as u64,
        DType::BF16 => <bf16 as Element>::from_f64(float).to_bits() as u64,
        DType::F32 => (float as f32).to_bits() as u64,
        DType::F64 => float.to_bits(),
    }
}

pub(crate) fn fill(cuda: &Cuda, dst: ViewMut<'_, CudaStorage>, value: Scalar) -> Result<()> {
    check_extent("fill", dst.layout, dst.storage.len())?;
    let n = dst.layout.numel();
    if n == 0 {
        return Ok(());
    }
    let device = cuda.device();
    let dtype = dst.storage.dtype();
    let name = format!("fill_{}", dtype_suffix(dtype));
    let func = device.function("copy", &name)?;
    let layout = KernelLayout::of("fill", dst.layout)?;
    let (ptr, count, bits) = (dst.storage.ptr(), n as i64, scalar_bits(value, dtype));
    let mut launch = device.stream.launch_builder(&func);
    launch.arg(&ptr).arg(&layout).arg(&count).arg(&bits);
    // SAFETY: the arguments match `fill_*` in copy.cu; the layout lies inside the storage.
    unsafe { launch.launch(elementwise_config(device, n)) }.map_err(|e| launch_error(&name, e))?;
    Ok(())
}

pub(crate) fn copy(
    cuda: &Cuda,
    src: View<'_, CudaStorage>,
    dst: ViewMut<'_, CudaStorage>,
) -> Result<()> {
    if src.layout.dims() != dst.layout.dims() {
        return Err(tiny_torch_core::Error::shape(
            "copy",
            format!(
                "source shape {} and destination shape {} differ",
                src.layout.shape(),
                dst.layout.shape()
            ),
        ));
    }
    check_extent("copy", src.layout, src.storage.len())?;
    check_extent("copy", dst.layout, dst.storage.len())?;
    let n = dst.layout.numel();
    if n == 0 {
        return Ok(());
    }
    let device = cuda.device();
    let name = format!(
        "copy_{}_to_{}",
        dtype_suffix(src.storage.dtype()),
        dtype_suffix(dst.storage.dtype())
    );
    let func = device.function("copy", &name)?;
    let layouts = KernelLayout::merged("copy", &[src.layout, dst.layout])?;
    let (src_ptr, dst_ptr, count) = (src.storage.ptr(), dst.storage.ptr(), n as i64);
    let mut launch = device.stream.launch_builder(&func);
    launch
        .arg(&src_ptr)
        .arg(&layouts[0])
        .arg(&dst_ptr)
        .arg(&layouts[1])
        .arg(&count);
    // SAFETY: the arguments match `copy_*_to_*` in copy.cu; both layouts lie in their storages.
    unsafe { launch.launch(elementwise_config(device, n)) }.map_err(|e| launch_error(&name, e))?;
    Ok(())
}

/// A contiguous copy of a view in the same dtype (for ops that need packed inputs).
pub(crate) fn contiguous(cuda: &Cuda, src: View<'_, CudaStorage>) -> Result<CudaStorage> {
    let mut dst = storage::alloc(cuda.device(), src.storage.dtype(), src.layout.numel())?;
    let layout = Layout::contiguous(src.layout.shape().clone());
    copy(cuda, src, ViewMut::new(&mut dst, &layout))?;
    Ok(dst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_bits_follow_the_cast_rules() {
        assert_eq!(
            scalar_bits(Scalar::Float(-2.9), DType::I32),
            (-2i32) as u32 as u64
        );
        assert_eq!(scalar_bits(Scalar::Float(0.1), DType::Bool), 1);
        assert_eq!(
            scalar_bits(Scalar::Int(3), DType::BF16),
            bf16::from_f32(3.0).to_bits() as u64
        );
        assert_eq!(
            scalar_bits(Scalar::Float(1.5), DType::F64),
            1.5f64.to_bits()
        );
        assert_eq!(scalar_bits(Scalar::Int(300), DType::U8), 44);
    }
}
