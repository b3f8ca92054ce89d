//! Creating tensors: from host data, filled, ranges.

use crate::Tensor;
use tiny_torch_core::{Backend, DType, Element, Error, Result, Scalar, ViewMut};

impl<B: Backend> Tensor<B> {
    /// A tensor of `shape` holding `data` in row-major order.
    pub fn from_vec<T: Element>(data: Vec<T>, shape: &[usize], backend: &B) -> Result<Self> {
        Self::from_slice(&data, shape, backend)
    }

    /// A tensor of `shape` holding a copy of `data` in row-major order.
    pub fn from_slice<T: Element>(data: &[T], shape: &[usize], backend: &B) -> Result<Self> {
        let numel: usize = shape.iter().product();
        if numel != data.len() {
            return Err(Error::shape(
                "from_slice",
                format!(
                    "shape {shape:?} holds {numel} elements, but {} were given",
                    data.len()
                ),
            ));
        }
        let storage = backend.from_bytes(T::DTYPE, &T::to_bytes(data))?;
        Ok(Tensor::from_storage(storage, shape, backend))
    }

    /// A tensor of `shape` filled with `value` converted to `dtype` (`torch.full`).
    pub fn full(
        shape: &[usize],
        value: impl Into<Scalar>,
        dtype: DType,
        backend: &B,
    ) -> Result<Self> {
        let out = Tensor::empty(shape, dtype, backend)?;
        backend.fill(
            ViewMut::new(&mut out.storage_mut(), out.layout()),
            value.into(),
        )?;
        Ok(out)
    }

    pub fn zeros(shape: &[usize], dtype: DType, backend: &B) -> Result<Self> {
        Self::full(shape, 0.0, dtype, backend)
    }

    pub fn ones(shape: &[usize], dtype: DType, backend: &B) -> Result<Self> {
        Self::full(shape, 1.0, dtype, backend)
    }
}
