//! The tensor handle: shared storage, layout, dtype, backend.
//!
//! The storage sits behind an `RwLock` shared by a tensor and all its views. Ops read-lock
//! their inputs (each distinct storage once, see [`Tensor::read`]) and write-lock only the
//! destination of an in-place or `out=` op. No op ever holds a read and a write lock on one
//! storage: an input that shares the destination's storage is first copied (a snapshot), which
//! is also what makes `x[1:] += x[:-1]` read the old values.
//!
//! Each handle also carries its autograd metadata ([`AutogradMeta`]: `requires_grad`, `.grad`,
//! `grad_fn`, hooks) and shares a version counter with every view of its storage: taking the
//! storage for writing ([`Tensor::storage_mut`]) bumps it, which is how saved tensors notice
//! in-place edits.

use crate::autograd::AutogradMeta;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use tiny_torch_core::{
    Backend, BackendStorage, DType, Device, Element, Error, Layout, Result, Shape, View, ViewMut,
};

/// An n-dimensional array on backend `B`. Cloning is cheap and shares the data, as assigning a
/// tensor to a new Python name does; views share storage with their base.
pub struct Tensor<B: Backend> {
    pub(crate) inner: Arc<TensorInner<B>>,
}

/// One backend buffer shared by a tensor and all its views.
type SharedStorage<B> = Arc<RwLock<<B as Backend>::Storage>>;

pub(crate) struct TensorInner<B: Backend> {
    storage: SharedStorage<B>,
    layout: Layout,
    dtype: DType,
    backend: B,
    /// Bumped by every write to the storage; shared by all views of it.
    version: Arc<AtomicU64>,
    /// Bumped when an in-place op rebases the autograd history of a tensor of this storage
    /// while other handles (views, the base) share it; shared by all views. A differentiable
    /// view remembers its value at creation (`AutogradMeta::view_history`) and is stale once
    /// it changed.
    history: Arc<AtomicU64>,
    pub(crate) autograd: AutogradMeta<B>,
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
                version: Arc::new(AtomicU64::new(0)),
                history: Arc::new(AtomicU64::new(0)),
                autograd: AutogradMeta::default(),
            }),
        }
    }

    /// Allocates a contiguous tensor of `shape` and `dtype` and lets `fill` write all of it (the
    /// usual end of an op: one backend call into a fresh output).
    pub(crate) fn build(
        shape: &[usize],
        dtype: DType,
        backend: &B,
        fill: impl FnOnce(ViewMut<'_, B::Storage>) -> Result<()>,
    ) -> Result<Self> {
        let layout = Layout::contiguous(shape);
        let mut storage = backend.alloc(dtype, checked_numel("empty", shape)?)?;
        fill(ViewMut::new(&mut storage, &layout))?;
        Ok(Tensor::from_storage(storage, shape, backend))
    }

    /// Runs `f` with read access to the storages of `tensors`, locking each distinct storage
    /// once (a tensor and its view, or `x` passed twice, share one lock: re-entrant read locks
    /// can deadlock when a writer waits).
    pub(crate) fn read<const N: usize, R>(
        tensors: [&Tensor<B>; N],
        f: impl FnOnce([&B::Storage; N]) -> R,
    ) -> R {
        let mut guards: Vec<(&SharedStorage<B>, RwLockReadGuard<'_, B::Storage>)> =
            Vec::with_capacity(N);
        let mut slots = [0; N];
        for (slot, t) in slots.iter_mut().zip(tensors) {
            let storage = &t.inner.storage;
            *slot = match guards.iter().position(|(s, _)| Arc::ptr_eq(s, storage)) {
                Some(i) => i,
                None => {
                    guards.push((storage, t.storage()));
                    guards.len() - 1
                }
            };
        }
        f(std::array::from_fn(|k| &*guards[slots[k]].1))
    }

    /// Errors when writing through this layout would write one storage element twice (an
    /// expanded tensor), as PyTorch refuses in-place ops on such tensors.
    pub(crate) fn check_writable(&self, op: &'static str) -> Result<()> {
        let overlapping = self
            .dims()
            .iter()
            .zip(self.strides())
            .any(|(&size, &stride)| size > 1 && stride == 0);
        if overlapping {
            return Err(Error::invalid(
                op,
                format!(
                    "unsupported operation: more than one element of the written-to tensor \
                     (shape {}, strides {:?}) refers to a single memory location; clone() the \
                     tensor first",
                    self.shape(),
                    self.strides()
                ),
            ));
        }
        Ok(())
    }

    /// A view of this tensor's storage with another layout (the layout must stay inside the
    /// storage; view functions in `ops::view` guarantee it). The new handle shares the version
    /// counter and carries no autograd history: view ops record theirs on top.
    pub(crate) fn with_layout(&self, layout: Layout) -> Self {
        Tensor {
            inner: Arc::new(TensorInner {
                storage: self.inner.storage.clone(),
                layout,
                dtype: self.inner.dtype,
                backend: self.inner.backend.clone(),
                version: self.inner.version.clone(),
                history: self.inner.history.clone(),
                autograd: AutogradMeta::default(),
            }),
        }
    }

    /// The version of this tensor's storage: how many times it was written in place. Shared by
    /// all views of one storage.
    pub fn version(&self) -> u64 {
        self.inner.version.load(Ordering::Relaxed)
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

    /// `x.size(dim)` with PyTorch's negative dims; an error for a 0-dim tensor, which has no
    /// dims to measure (as in PyTorch, where reductions still accept dim 0 of a scalar).
    pub fn size(&self, dim: isize) -> Result<usize> {
        if self.ndim() == 0 {
            return Err(Error::invalid(
                "size",
                format!("dimension specified as {dim} but tensor has no dimensions"),
            ));
        }
        let d = tiny_torch_core::normalize_dim("size", dim, self.ndim())?;
        Ok(self.dims()[d])
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

    /// The history generation of this storage (see `TensorInner::history`).
    pub(crate) fn history(&self) -> u64 {
        self.inner.history.load(Ordering::Relaxed)
    }

    /// Marks every other handle of this storage whose history was recorded before as stale.
    pub(crate) fn bump_history(&self) {
        self.inner.history.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether other tensor handles (views, the base, a `detach()`ed alias) share this storage.
    pub(crate) fn storage_is_shared(&self) -> bool {
        Arc::strong_count(&self.inner.storage) > 1
    }

    /// Whether both handles are one tensor (clones of one handle: Python's `a is b`), not
    /// merely two views of one storage.
    pub fn same_tensor(&self, other: &Tensor<B>) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Whether two tensors share one storage (a view and its base do).
    pub fn shares_storage_with(&self, other: &Tensor<B>) -> bool {
        Arc::ptr_eq(&self.inner.storage, &other.inner.storage)
    }

    /// Whether this handle is the only way to reach its storage (no clone of the handle, no
    /// view, no other tensor of the storage) and covers all of it, densely: a tensor that can
    /// be handed over (as `.grad`) without a copy.
    pub(crate) fn is_sole_dense_handle(&self) -> bool {
        Arc::strong_count(&self.inner) == 1
            && Arc::strong_count(&self.inner.storage) == 1
            && self.layout().offset() == 0
            && self.layout().is_contiguous()
            && self.numel() == self.storage().len()
    }

    /// An identity of this tensor's storage, the same for every view of it (to find storages
    /// shared across a list of tensors without comparing every pair).
    pub(crate) fn storage_id(&self) -> usize {
        Arc::as_ptr(&self.inner.storage) as *const () as usize
    }

    /// Read access to the storage. Panics only if a thread panicked while writing it.
    pub fn storage(&self) -> RwLockReadGuard<'_, B::Storage> {
        self.inner
            .storage
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Write access to the storage, for in-place ops. Bumps the version counter.
    pub fn storage_mut(&self) -> RwLockWriteGuard<'_, B::Storage> {
        self.inner.version.fetch_add(1, Ordering::Relaxed);
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
        let bytes = Tensor::read([self], |[s]| {
            self.backend().to_bytes(View::new(s, self.layout()))
        })?;
        Ok(T::from_bytes(&bytes))
    }

    /// The elements as little-endian bytes in row-major order (`bool` as one byte), whatever
    /// the dtype and layout: what a safetensors file stores.
    pub fn to_le_bytes(&self) -> Result<Vec<u8>> {
        Tensor::read([self], |[s]| {
            self.backend().to_bytes(View::new(s, self.layout()))
        })
    }

    /// The elements converted to `f64` (any dtype), in row-major order. The conversion happens
    /// on the host, so it works on backends without f64 support.
    pub fn to_f64_vec(&self) -> Result<Vec<f64>> {
        fn widen<T: Element>(values: Vec<T>) -> Vec<f64> {
            values.into_iter().map(T::to_f64).collect()
        }
        Ok(match self.dtype() {
            DType::Bool => widen(self.to_vec::<bool>()?),
            DType::U8 => widen(self.to_vec::<u8>()?),
            DType::I32 => widen(self.to_vec::<i32>()?),
            DType::I64 => widen(self.to_vec::<i64>()?),
            DType::F16 => widen(self.to_vec::<half::f16>()?),
            DType::BF16 => widen(self.to_vec::<half::bf16>()?),
            DType::F32 => widen(self.to_vec::<f32>()?),
            DType::F64 => self.to_vec::<f64>()?,
        })
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
        self.to_vec::<T>()?
            .into_iter()
            .next()
            .ok_or_else(|| Error::shape("item", "the tensor holds no element"))
    }
}

/// The number of elements of `shape`, or an error naming `op` when it overflows `usize`.
/// A zero dim does not excuse the others: as in PyTorch, `[2^40, 2^40, 0]` is refused, so that
/// views of the tensor (`flatten`, strides) never overflow either.
pub(crate) fn checked_numel(op: &'static str, shape: &[usize]) -> Result<usize> {
    let nonzero = shape
        .iter()
        .filter(|&&d| d != 0)
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| {
            Error::invalid(
                op,
                format!("shape {shape:?} has more elements than fit in memory"),
            )
        })?;
    Ok(if shape.contains(&0) { 0 } else { nonzero })
}
