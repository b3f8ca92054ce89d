//! Host staging for engines that work on host memory (MPI): a tensor's elements as a typed
//! host vector, and the way back into the tensor.
//!
//! The mapping of dtypes is explicit: f16 and bf16 travel as f32 (MPI has no 16-bit float, and
//! bf16 is not f16), so a reduction rounds once at the end; bool travels as u8 0/1, where sum and
//! max are "any" and min is "all".

use tiny_torch_core::{DType, Result};
use tiny_torch_tensor::Tensor;
use tiny_torch_tensor::autograd::no_grad;

/// A tensor's elements on the host, in the type the engine moves.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum HostBuffer {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I64(Vec<i64>),
    I32(Vec<i32>),
    U8(Vec<u8>),
}

/// Applies one expression to the vector inside a [`HostBuffer`], whatever its type.
macro_rules! with_host_buffer {
    ($buffer:expr, $v:ident => $body:expr) => {
        match $buffer {
            HostBuffer::F32($v) => $body,
            HostBuffer::F64($v) => $body,
            HostBuffer::I64($v) => $body,
            HostBuffer::I32($v) => $body,
            HostBuffer::U8($v) => $body,
        }
    };
}
pub(crate) use with_host_buffer;

fn chunks<const N: usize>(bytes: &[u8]) -> impl Iterator<Item = [u8; N]> + '_ {
    bytes
        .chunks_exact(N)
        .map(|c| c.try_into().expect("chunks_exact gives N bytes"))
}

impl HostBuffer {
    /// The elements of `tensor` (any layout) in row-major order.
    pub(crate) fn from_tensor<B: tiny_torch_core::Backend>(tensor: &Tensor<B>) -> Result<Self> {
        Ok(Self::from_le_bytes(tensor.dtype(), &tensor.to_le_bytes()?))
    }

    /// Several tensors, one after the other.
    pub(crate) fn concat<B: tiny_torch_core::Backend>(tensors: &[Tensor<B>]) -> Result<Self> {
        let dtype = tensors.first().map(|t| t.dtype()).unwrap_or(DType::F32);
        let mut bytes = Vec::new();
        for t in tensors {
            bytes.extend_from_slice(&t.to_le_bytes()?);
        }
        Ok(Self::from_le_bytes(dtype, &bytes))
    }

    pub(crate) fn from_le_bytes(dtype: DType, bytes: &[u8]) -> Self {
        match dtype {
            DType::F32 => HostBuffer::F32(chunks(bytes).map(f32::from_le_bytes).collect()),
            DType::F64 => HostBuffer::F64(chunks(bytes).map(f64::from_le_bytes).collect()),
            DType::F16 => HostBuffer::F32(
                chunks(bytes)
                    .map(|b| half::f16::from_le_bytes(b).to_f32())
                    .collect(),
            ),
            DType::BF16 => HostBuffer::F32(
                chunks(bytes)
                    .map(|b| half::bf16::from_le_bytes(b).to_f32())
                    .collect(),
            ),
            DType::I64 => HostBuffer::I64(chunks(bytes).map(i64::from_le_bytes).collect()),
            DType::I32 => HostBuffer::I32(chunks(bytes).map(i32::from_le_bytes).collect()),
            DType::U8 => HostBuffer::U8(bytes.to_vec()),
            DType::Bool => HostBuffer::U8(bytes.iter().map(|&b| u8::from(b != 0)).collect()),
        }
    }

    /// The elements as little-endian bytes of `dtype` (rounding f32 to f16/bf16 once).
    pub(crate) fn to_le_bytes(&self, dtype: DType) -> Vec<u8> {
        match (self, dtype) {
            (HostBuffer::F32(v), DType::F16) => v
                .iter()
                .flat_map(|&x| half::f16::from_f32(x).to_le_bytes())
                .collect(),
            (HostBuffer::F32(v), DType::BF16) => v
                .iter()
                .flat_map(|&x| half::bf16::from_f32(x).to_le_bytes())
                .collect(),
            (HostBuffer::F32(v), _) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            (HostBuffer::F64(v), _) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            (HostBuffer::I64(v), _) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            (HostBuffer::I32(v), _) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            (HostBuffer::U8(v), _) => v.clone(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        with_host_buffer!(self, v => v.len())
    }

    /// A buffer of the same type with `len` zeros.
    pub(crate) fn zeros_like(&self, len: usize) -> Self {
        match self {
            HostBuffer::F32(_) => HostBuffer::F32(vec![0.0; len]),
            HostBuffer::F64(_) => HostBuffer::F64(vec![0.0; len]),
            HostBuffer::I64(_) => HostBuffer::I64(vec![0; len]),
            HostBuffer::I32(_) => HostBuffer::I32(vec![0; len]),
            HostBuffer::U8(_) => HostBuffer::U8(vec![0; len]),
        }
    }

    /// Divides floating-point elements by `n` (the "avg" of a sum).
    pub(crate) fn divide(&mut self, n: usize) {
        match self {
            HostBuffer::F32(v) => v.iter_mut().for_each(|x| *x /= n as f32),
            HostBuffer::F64(v) => v.iter_mut().for_each(|x| *x /= n as f64),
            _ => {}
        }
    }

    /// Elements `start..start + len` as a new buffer.
    pub(crate) fn slice(&self, start: usize, len: usize) -> Self {
        match self {
            HostBuffer::F32(v) => HostBuffer::F32(v[start..start + len].to_vec()),
            HostBuffer::F64(v) => HostBuffer::F64(v[start..start + len].to_vec()),
            HostBuffer::I64(v) => HostBuffer::I64(v[start..start + len].to_vec()),
            HostBuffer::I32(v) => HostBuffer::I32(v[start..start + len].to_vec()),
            HostBuffer::U8(v) => HostBuffer::U8(v[start..start + len].to_vec()),
        }
    }

    /// Writes these elements into `tensor` (through its layout, converting to its dtype).
    pub(crate) fn write_into<B: tiny_torch_core::Backend>(&self, tensor: &Tensor<B>) -> Result<()> {
        let bytes = self.to_le_bytes(tensor.dtype());
        let source =
            Tensor::from_le_bytes(&bytes, tensor.dtype(), tensor.dims(), tensor.backend())?;
        let _no_grad = no_grad();
        tensor.copy_(&source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixteen_bit_floats_travel_as_f32_and_round_once() {
        let values = [1.5f32, -2.25, 65504.0];
        for dtype in [DType::F16, DType::BF16] {
            let bytes: Vec<u8> = match dtype {
                DType::F16 => values
                    .iter()
                    .flat_map(|&x| half::f16::from_f32(x).to_le_bytes())
                    .collect(),
                _ => values
                    .iter()
                    .flat_map(|&x| half::bf16::from_f32(x).to_le_bytes())
                    .collect(),
            };
            let host = HostBuffer::from_le_bytes(dtype, &bytes);
            let HostBuffer::F32(widened) = &host else {
                panic!("{dtype} should travel as f32")
            };
            for (w, x) in widened.iter().zip(values) {
                let expected = match dtype {
                    DType::F16 => half::f16::from_f32(x).to_f32(),
                    _ => half::bf16::from_f32(x).to_f32(),
                };
                assert_eq!(*w, expected);
            }
            assert_eq!(host.to_le_bytes(dtype), bytes);
        }
    }

    #[test]
    fn bool_travels_as_zero_or_one() {
        let host = HostBuffer::from_le_bytes(DType::Bool, &[0, 1, 7]);
        assert_eq!(host, HostBuffer::U8(vec![0, 1, 1]));
    }
}
