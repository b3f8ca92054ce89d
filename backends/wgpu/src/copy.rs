//! Host transfers, fill, and strided copies with dtype conversion (`shaders/copy.wgsl`).

use crate::Wgpu;
use crate::device::{read, write};
use crate::launch::{KernelLayout, grid};
use crate::shader::{ShaderSpec, device_size};
use crate::storage::{self, WgpuStorage};
use half::{bf16, f16};
use tiny_torch_core::{
    BackendStorage, DType, Element, Error, Layout, Result, Scalar, View, ViewMut, check_extent,
};

/// Host bytes (the `Backend` format: `bool` and `u8` one byte each) in the device format
/// (`bool` and `u8` one `u32` each, `bf16` in the upper half of a `u32`), padded to a multiple
/// of 4 bytes.
fn to_device_format(dtype: DType, bytes: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = match dtype {
        DType::Bool => bytes
            .iter()
            .flat_map(|&b| ((b != 0) as u32).to_le_bytes())
            .collect(),
        DType::U8 => bytes
            .iter()
            .flat_map(|&b| (b as u32).to_le_bytes())
            .collect(),
        DType::BF16 => bytes
            .chunks_exact(2)
            .flat_map(|h| ((u16::from_le_bytes([h[0], h[1]]) as u32) << 16).to_le_bytes())
            .collect(),
        _ => bytes.to_vec(),
    };
    out.resize(out.len().next_multiple_of(4), 0);
    out
}

pub(crate) fn from_bytes(wgpu: &Wgpu, dtype: DType, bytes: &[u8]) -> Result<WgpuStorage> {
    let size = dtype.size_in_bytes();
    if !bytes.len().is_multiple_of(size) {
        return Err(Error::invalid(
            "from_bytes",
            format!(
                "{} bytes is not a whole number of {dtype} elements",
                bytes.len()
            ),
        ));
    }
    let device = wgpu.device();
    let storage = storage::alloc(device, dtype, bytes.len() / size)?;
    if !bytes.is_empty() {
        // Staged by wgpu now and ordered before every later submission: no wait.
        device
            .queue
            .write_buffer(storage.buffer(), 0, &to_device_format(dtype, bytes));
    }
    Ok(storage)
}

pub(crate) fn to_bytes(wgpu: &Wgpu, src: View<'_, WgpuStorage>) -> Result<Vec<u8>> {
    let device = wgpu.device();
    let dtype = src.storage.dtype();
    device.check("to_bytes", &[dtype])?;
    check_extent("to_bytes", src.layout, src.storage.len())?;
    let n = src.layout.numel();
    let esize = device_size(dtype) as u64;
    // A contiguous view is read in place (from a 4-byte boundary); any other is gathered first.
    let gathered;
    let (storage, start) = match src.layout.contiguous_range() {
        Some(r) => (src.storage, r.start as u64),
        None => {
            gathered = contiguous(wgpu, src)?;
            (&gathered, 0)
        }
    };
    let first = start * esize;
    let aligned = first / 4 * 4;
    let end = ((start + n as u64) * esize)
        .next_multiple_of(4)
        .min(storage.capacity());
    let raw = device.read(storage.buffer(), aligned, end.saturating_sub(aligned))?;
    let skip = (first - aligned) as usize;
    let raw = &raw[skip.min(raw.len())..];
    Ok(match dtype {
        DType::U8 | DType::Bool => raw.chunks_exact(4).take(n).map(|w| w[0]).collect(),
        DType::BF16 => raw
            .chunks_exact(4)
            .take(n)
            .flat_map(|w| [w[2], w[3]])
            .collect(),
        _ => raw[..n * esize as usize].to_vec(),
    })
}

/// `value` converted to `dtype` with the cast rules, as the device's bytes of one element.
pub(crate) fn scalar_bytes(value: Scalar, dtype: DType) -> Vec<u8> {
    let int = value.to_i64();
    let float = value.to_f64();
    match dtype {
        DType::Bool => {
            let b = match value {
                Scalar::Float(f) => f != 0.0,
                _ => int != 0,
            };
            (b as u32).to_le_bytes().to_vec()
        }
        DType::U8 => (int as u8 as u32).to_le_bytes().to_vec(),
        DType::I32 => (int as i32).to_le_bytes().to_vec(),
        DType::I64 => int.to_le_bytes().to_vec(),
        DType::F16 => <f16 as Element>::from_f64(float).to_le_bytes().to_vec(),
        DType::BF16 => ((<bf16 as Element>::from_f64(float).to_bits() as u32) << 16)
            .to_le_bytes()
            .to_vec(),
        DType::F32 => (float as f32).to_le_bytes().to_vec(),
        DType::F64 => float.to_le_bytes().to_vec(),
    }
}

/// A one-element (or few-element) storage holding `bytes` in the device format of `dtype`.
pub(crate) fn upload(wgpu: &Wgpu, dtype: DType, device_bytes: &[u8]) -> Result<WgpuStorage> {
    let device = wgpu.device();
    let n = device_bytes.len() / device_size(dtype);
    let storage = storage::alloc(device, dtype, n)?;
    let mut padded = device_bytes.to_vec();
    padded.resize(padded.len().next_multiple_of(4), 0);
    if !padded.is_empty() {
        device.queue.write_buffer(storage.buffer(), 0, &padded);
    }
    Ok(storage)
}

fn copy_spec(src: DType, dst: DType) -> ShaderSpec {
    ShaderSpec::new("copy")
        .dtype("S", src)
        .dtype("D", dst)
        .convert("cvt", src, dst)
}

pub(crate) fn fill(wgpu: &Wgpu, dst: ViewMut<'_, WgpuStorage>, value: Scalar) -> Result<()> {
    let dtype = dst.storage.dtype();
    wgpu.device().check("fill", &[dtype])?;
    check_extent("fill", dst.layout, dst.storage.len())?;
    let n = dst.layout.numel();
    if n == 0 {
        return Ok(());
    }
    let value = upload(wgpu, dtype, &scalar_bytes(value, dtype))?;
    let layout = KernelLayout::of("fill", dst.layout)?;
    let params = [layout, layout];
    wgpu.device().dispatch(
        &copy_spec(dtype, dtype),
        "fill",
        bytemuck::cast_slice(&params),
        &[read(&value), write(dst.storage)],
        grid(n),
    )
}

pub(crate) fn copy(
    wgpu: &Wgpu,
    src: View<'_, WgpuStorage>,
    dst: ViewMut<'_, WgpuStorage>,
) -> Result<()> {
    if src.layout.dims() != dst.layout.dims() {
        return Err(Error::shape(
            "copy",
            format!(
                "source shape {} and destination shape {} differ",
                src.layout.shape(),
                dst.layout.shape()
            ),
        ));
    }
    let (sd, dd) = (src.storage.dtype(), dst.storage.dtype());
    wgpu.device().check("copy", &[sd, dd])?;
    // (Storage buffers are rounded up: a view past its storage would read stale pool memory.)
    check_extent("copy", src.layout, src.storage.len())?;
    check_extent("copy", dst.layout, dst.storage.len())?;
    let n = dst.layout.numel();
    if n == 0 {
        return Ok(());
    }
    let layouts = KernelLayout::merged("copy", &[src.layout, dst.layout])?;
    wgpu.device().dispatch(
        &copy_spec(sd, dd),
        "copy",
        bytemuck::cast_slice(&layouts),
        &[read(src.storage), write(dst.storage)],
        grid(n),
    )
}

/// A contiguous copy of a view in the same dtype (for ops that want packed inputs).
pub(crate) fn contiguous(wgpu: &Wgpu, src: View<'_, WgpuStorage>) -> Result<WgpuStorage> {
    let mut dst = storage::alloc(wgpu.device(), src.storage.dtype(), src.layout.numel())?;
    let layout = Layout::contiguous(src.layout.shape().clone());
    copy(wgpu, src, ViewMut::new(&mut dst, &layout))?;
    Ok(dst)
}

/// Every shader instantiation this module can ask for (for the naga validation test).
pub(crate) fn variants() -> Vec<ShaderSpec> {
    let mut out = Vec::new();
    for s in crate::VALIDATED_DTYPES {
        for d in crate::VALIDATED_DTYPES {
            out.push(copy_spec(s, d));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_bytes_follow_the_cast_rules() {
        assert_eq!(
            scalar_bytes(Scalar::Float(-2.9), DType::I32),
            (-2i32).to_le_bytes()
        );
        assert_eq!(
            scalar_bytes(Scalar::Float(0.1), DType::Bool),
            1u32.to_le_bytes()
        );
        assert_eq!(
            scalar_bytes(Scalar::Int(300), DType::U8),
            44u32.to_le_bytes()
        );
        assert_eq!(
            to_device_format(DType::Bool, &[0, 2]),
            [0, 0, 0, 0, 1, 0, 0, 0]
        );
    }
}
