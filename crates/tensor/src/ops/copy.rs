//! Copies between layouts, dtypes and devices.

use crate::Tensor;
use tiny_torch_core::{Backend, DType, Error, Result, View, ViewMut};

impl<B: Backend> Tensor<B> {
    /// A new tensor of `shape` and `dtype` on `backend`, with unspecified contents.
    pub fn empty(shape: &[usize], dtype: DType, backend: &B) -> Result<Self> {
        let len = shape.iter().product();
        Ok(Tensor::from_storage(
            backend.alloc(dtype, len)?,
            shape,
            backend,
        ))
    }

    /// This tensor if it is contiguous, otherwise a row-major copy.
    pub fn contiguous(&self) -> Result<Self> {
        if self.is_contiguous() {
            return Ok(self.clone());
        }
        self.copy_to_new(self.dtype())
    }

    /// Converts to `dtype` (a no-op when it already is). Float to int truncates toward zero.
    pub fn to_dtype(&self, dtype: DType) -> Result<Self> {
        if dtype == self.dtype() {
            return Ok(self.clone());
        }
        self.copy_to_new(dtype)
    }

    fn copy_to_new(&self, dtype: DType) -> Result<Self> {
        let out = Tensor::empty(self.dims(), dtype, self.backend())?;
        self.backend().copy(
            View::new(&self.storage(), self.layout()),
            ViewMut::new(&mut out.storage_mut(), out.layout()),
        )?;
        Ok(out)
    }

    /// A copy on another backend (`x.to(device)`), through host memory.
    pub fn to_device<B2: Backend>(&self, backend: &B2) -> Result<Tensor<B2>> {
        let bytes = self
            .backend()
            .to_bytes(View::new(&self.storage(), self.layout()))?;
        let storage = backend.from_bytes(self.dtype(), &bytes)?;
        Ok(Tensor::from_storage(storage, self.dims(), backend))
    }

    /// `self.copy_(src)`: writes `src` (broadcast to this shape, converted to this dtype) into
    /// this tensor's elements, through its layout (so it writes into the base of a view).
    pub fn copy_(&self, src: &Tensor<B>) -> Result<()> {
        self.check_same_device("copy_", src)?;
        // A source that shares this storage is read from a snapshot, so that the copy never
        // reads an element it already overwrote.
        let src = if src.shares_storage_with(self) {
            src.copy_to_new(src.dtype())?
        } else {
            src.clone()
        };
        let src_layout = src.layout().expand(self.dims()).map_err(|_| {
            Error::shape(
                "copy_",
                format!(
                    "source shape {} does not broadcast to destination shape {}",
                    src.shape(),
                    self.shape()
                ),
            )
        })?;
        self.backend().copy(
            View::new(&src.storage(), &src_layout),
            ViewMut::new(&mut self.storage_mut(), self.layout()),
        )
    }
}
