//! The tensor handle: storage, layout, backend.

use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use tiny_torch_core::{
    Backend, BackendStorage, DType, Device, Element, Error, Layout, Result, Shape, View,
};

/// An n-dimensional array on backend `B`. Cloning is cheap and shares the data, as assigning a
/// tensor to a new Python name does; views share storage with their base.
pub struct Tensor<B: Backend> {
    inner: Arc<TensorInner<B>>,
}

struct TensorInner<B: Backend> {
    storage: Arc<RwLock<B::Storage>>,
    layout: Layout,
    dtype: DType,
    backend: B,
}

impl<B: Backend> Clone for Tensor<B> {
    fn clone(&self) -> Self {
        Tensor {
            inner: self.inner.clone(),
        }
    }
}

impl<B: Backend> Tensor<B> {
    /// Wraps a freshly computed storage with a row-major layout of `shape`.
    pub fn from_storage(storage: B::Storage, shape: impl Into<Shape>, backend: &B) -> Self {
        let dtype = storage.dtype();
        Tensor {
            inner: Arc::new(TensorInner {
                storage: Arc::new(RwLock::new(storage)),
                layout: Layout::contiguous(shape),
                dtype,
                backend: backend.clone(),
            }),
        }
    }

    /// A view of this tensor's storage with another layout (the layout must stay inside the
    /// storage; view functions in `ops::view` guarantee it).
    pub(crate) fn with_layout(&self, layout: Layout) -> Self {
        Tensor {
            inner: Arc::new(TensorInner {
                storage: self.inner.storage.clone(),
                layout,
                dtype: self.inner.dtype,
                backend: self.inner.backend.clone(),
            }),
        }
    }

    pub fn layout(&self) -> &Layout {
        &self.inner.layout
    }

    /// Sizes of the dimensions (`x.shape` in PyTorch).
    pub fn dims(&self) -> &[usize] {
        self.inner.layout.dims()
    }

    pub fn shape(&self) -> &Shape {
        self.inner.layout.shape()
    }

    /// `x.size(dim)` with PyTorch's negative dims.
    pub fn size(&self, dim: isize) -> Result<usize> {
        let d = tiny_torch_core::normalize_dim("size", dim, self.ndim())?;
        Ok(self.dims().get(d).copied().unwrap_or(1))
    }

    pub fn strides(&self) -> &[usize] {
        self.inner.layout.strides()
    }

    pub fn ndim(&self) -> usize {
        self.inner.layout.ndim()
    }

    pub fn numel(&self) -> usize {
        self.inner.layout.numel()
    }

    pub fn dtype(&self) -> DType {
        self.inner.dtype
    }

    pub fn backend(&self) -> &B {
        &self.inner.backend
    }

    pub fn device(&self) -> Device {
        self.inner.backend.device()
    }

    pub fn is_contiguous(&self) -> bool {
        self.inner.layout.is_contiguous()
    }

    /// Whether two tensors share one storage (a view and its base do).
    pub fn shares_storage_with(&self, other: &Tensor<B>) -> bool {
        Arc::ptr_eq(&self.inner.storage, &other.inner.storage)
    }

    /// Read access to the storage. Panics only if a thread panicked while writing it.
    pub fn storage(&self) -> RwLockReadGuard<'_, B::Storage> {
        self.inner
            .storage
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Write access to the storage, for in-place ops.
    pub fn storage_mut(&self) -> RwLockWriteGuard<'_, B::Storage> {
        self.inner
            .storage
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Checks that `other` lives on the same device, naming `op` otherwise.
    pub fn check_same_device(&self, op: &'static str, other: &Tensor<B>) -> Result<()> {
        let (lhs, rhs) = (self.device(), other.device());
        if lhs != rhs {
            return Err(Error::DeviceMismatch { op, lhs, rhs });
        }
        Ok(())
    }

    /// The elements in row-major order as host values of type `T`, which must match the dtype
    /// (use [`Tensor::to_dtype`] first to convert).
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        if T::DTYPE != self.dtype() {
            return Err(Error::DType {
                op: "to_vec",
                expected: format!(
                    "a tensor of dtype {} for the requested element type",
                    T::DTYPE
                ),
                got: self.dtype(),
            });
        }
        let storage = self.storage();
        let bytes = self
            .backend()
            .to_bytes(View::new(&storage, self.layout()))?;
        Ok(T::from_bytes(&bytes))
    }

    /// The elements converted to `f64` (any dtype), in row-major order.
    pub fn to_f64_vec(&self) -> Result<Vec<f64>> {
        self.to_dtype(DType::F64)?.to_vec::<f64>()
    }

    /// The value of a one-element tensor (`x.item()`).
    pub fn item<T: Element>(&self) -> Result<T> {
        if self.numel() != 1 {
            return Err(Error::shape(
                "item",
                format!(
                    "a Tensor with {} elements cannot be converted to Scalar",
                    self.numel()
                ),
            ));
        }
        Ok(self.to_vec::<T>()?[0])
    }
}
