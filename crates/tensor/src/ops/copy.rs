//! Copies between layouts, dtypes and devices: `contiguous`, `to_dtype`, `to_device`, `copy_`.
//!
//! Every copy is one `Backend::copy` (strided source, strided destination, dtype conversion on
//! the way) or, across devices, one trip through host bytes.

use crate::Tensor;
use crate::autograd::formulas::copy::record_copy;
use tiny_torch_core::{Backend, DType, Error, Result, View, ViewMut};

impl<B: Backend> Tensor<B> {
    /// This tensor if it is contiguous, otherwise a row-major copy.
    pub fn contiguous(&self) -> Result<Self> {
        if self.is_contiguous() {
            return Ok(self.clone());
        }
        self.copy_to_new(self.dtype())
    }

    /// Converts to `dtype` (a no-op when it already is). Float to int truncates toward zero;
    /// anything to bool is `!= 0`.
    pub fn to_dtype(&self, dtype: DType) -> Result<Self> {
        if dtype == self.dtype() {
            return Ok(self.clone());
        }
        self.copy_to_new(dtype)
    }

    /// PyTorch's `x.clone()`: a fresh contiguous copy with its own storage, recorded by autograd
    /// (`Clone::clone` is the cheap copy of the handle, which shares the storage).
    pub fn deep_clone(&self) -> Result<Self> {
        self.copy_to_new(self.dtype())
    }

    /// A fresh contiguous copy in `dtype`, even when nothing would change (`clone()` in PyTorch).
    pub(crate) fn copy_to_new(&self, dtype: DType) -> Result<Self> {
        let out = Tensor::build(self.dims(), dtype, self.backend(), |dst| {
            Tensor::read([self], |[src]| {
                self.backend().copy(View::new(src, self.layout()), dst)
            })
        })?;
        Ok(record_copy(self, out))
    }

    /// A copy on another backend (`x.to(device)`), through host memory. Not differentiable
    /// (the graph cannot cross backend types, unlike PyTorch's `.to`): the copy is a new tensor
    /// that does not require grad; set it on the copy (`requires_grad_`) to make it a leaf.
    pub fn to_device<B2: Backend>(&self, backend: &B2) -> Result<Tensor<B2>> {
        let bytes = Tensor::read([self], |[s]| {
            self.backend().to_bytes(View::new(s, self.layout()))
        })?;
        let storage = backend.from_bytes(self.dtype(), &bytes)?;
        Ok(Tensor::from_storage(storage, self.dims(), backend))
    }

    /// `self.copy_(src)`: writes `src` (broadcast to this shape, converted to this dtype) into
    /// this tensor's elements, through its layout (so it writes into the base of a view).
    pub fn copy_(&self, src: &Tensor<B>) -> Result<()> {
        self.check_same_device("copy_", src)?;
        self.check_writable("copy_")?;
        if self.check_inplace("copy_", &[src])? {
            // The old values are overwritten: the new history is a copy of `src`, broadcast.
            return self.inplace_recorded("copy_", false, |_| {
                let copy = src.copy_to_new(self.dtype())?;
                if copy.dims() == self.dims() {
                    return Ok(copy);
                }
                let dims: Vec<isize> = self.dims().iter().map(|&d| d as isize).collect();
                copy.expand(&dims).map_err(|_| {
                    Error::shape(
                        "copy_",
                        format!(
                            "source shape {} does not broadcast to destination shape {}",
                            src.shape(),
                            self.shape()
                        ),
                    )
                })
            });
        }
        // A source that shares this storage is read from a snapshot, so that the copy never
        // reads an element it already overwrote (and never locks one storage twice).
        let src = src.snapshot_if_shared(self)?;
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
        let src = src.with_layout(src_layout);
        Tensor::read([&src], |[s]| {
            self.backend().copy(
                View::new(s, src.layout()),
                ViewMut::new(&mut self.storage_mut(), self.layout()),
            )
        })
    }

    /// `self`, or a contiguous copy of it when it shares storage with `dst` (an in-place op
    /// reading its own destination).
    pub(crate) fn snapshot_if_shared(&self, dst: &Tensor<B>) -> Result<Self> {
        if self.shares_storage_with(dst) {
            self.copy_to_new(self.dtype())
        } else {
            Ok(self.clone())
        }
    }
}
