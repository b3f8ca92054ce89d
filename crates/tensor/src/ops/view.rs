//! Views: new layouts over the same storage (`view`, `permute`, `narrow`, `slice`, `expand`,
//! `squeeze`, `chunk`, ...). They copy nothing: each computes a [`Layout`] with the functions
//! of `tiny_torch_core::Layout` and wraps it with [`Tensor::with_layout`]. Only `reshape` (and
//! `flatten`, which is a reshape) copies, when no view can express the new shape.
//!
//! Size and dim arguments are checked by the small non-generic functions at the top.

use crate::Tensor;
use crate::autograd::formulas::view::{
    record_expand, record_index_view, record_permute, record_reshape, record_transpose,
};
use std::sync::Arc;
use tiny_torch_core::{Backend, Error, Layout, Result, normalize_dim};

/// A shape with at most one `-1`, resolved against `numel` elements (`x.view(2, -1)`).
fn infer_shape(op: &'static str, spec: &[isize], numel: usize) -> Result<Vec<usize>> {
    let mut inferred = None;
    let mut known: Option<usize> = Some(1);
    for (i, &d) in spec.iter().enumerate() {
        match d {
            -1 if inferred.is_some() => {
                return Err(Error::invalid(
                    op,
                    format!("only one dimension can be inferred in shape {spec:?}"),
                ));
            }
            -1 => inferred = Some(i),
            d if d >= 0 => known = known.and_then(|k| k.checked_mul(d as usize)),
            _ => {
                return Err(Error::invalid(
                    op,
                    format!("invalid shape dimension {d} in shape {spec:?}"),
                ));
            }
        }
    }
    let invalid = || {
        Error::shape(
            op,
            format!("shape '{spec:?}' is invalid for input of size {numel}"),
        )
    };
    let known = known.ok_or_else(invalid)?;
    let mut shape: Vec<usize> = spec.iter().map(|&d| d.max(0) as usize).collect();
    match inferred {
        Some(i) => {
            if known == 0 {
                return Err(Error::shape(
                    op,
                    format!(
                        "cannot reshape tensor of {numel} elements into shape {spec:?} because \
                         the unspecified dimension size -1 can be any value and is ambiguous"
                    ),
                ));
            }
            if !numel.is_multiple_of(known) {
                return Err(invalid());
            }
            if let Some(slot) = shape.get_mut(i) {
                *slot = numel / known;
            }
        }
        None if known != numel => return Err(invalid()),
        None => {}
    }
    Ok(shape)
}

/// The target shape of `expand`: `-1` keeps an existing size; new dims go in front.
fn expand_shape(spec: &[isize], dims: &[usize]) -> Result<Vec<usize>> {
    if spec.len() < dims.len() {
        return Err(Error::shape(
            "expand",
            format!(
                "the number of sizes provided ({}) must be greater or equal to the number of \
                 dimensions in the tensor ({}); sizes {spec:?}, shape {dims:?}",
                spec.len(),
                dims.len()
            ),
        ));
    }
    let lead = spec.len() - dims.len();
    spec.iter()
        .enumerate()
        .map(|(i, &s)| match s {
            -1 if i >= lead => Ok(dims[i - lead]),
            -1 => Err(Error::shape(
                "expand",
                format!(
                    "the expanded size of the tensor (-1) isn't allowed in a leading, \
                     non-existing dimension {i} (sizes {spec:?}, shape {dims:?})"
                ),
            )),
            s if s >= 0 => Ok(s as usize),
            _ => Err(Error::invalid(
                "expand",
                format!("invalid size {s} in sizes {spec:?} for shape {dims:?}"),
            )),
        })
        .collect()
}

/// Python slice bounds on a dimension of `size`: negatives wrap, then clamp to `[0, size]`.
fn slice_bounds(start: isize, end: isize, size: usize) -> (usize, usize) {
    let size = size as isize;
    let clamp = |i: isize| {
        let i = if i < 0 { i.saturating_add(size) } else { i };
        i.clamp(0, size) as usize
    };
    (clamp(start), clamp(end))
}

/// Lengths of `x.split(split_size, dim)` on a dim of `size`: full pieces, the last one shorter.
fn split_lengths(split_size: usize, size: usize) -> Result<Vec<usize>> {
    if split_size == 0 {
        if size != 0 {
            return Err(Error::invalid(
                "split",
                format!(
                    "split_size can only be 0 if dimension size is 0, but got dimension size of \
                     {size}"
                ),
            ));
        }
        return Ok(vec![0]);
    }
    let pieces = size.div_ceil(split_size).max(1);
    Ok((0..pieces)
        .map(|i| split_size.min(size - (i * split_size).min(size)))
        .collect())
}

/// Lengths of `x.chunk(chunks, dim)` on a dim of `size`.
fn chunk_lengths(chunks: usize, size: usize) -> Result<Vec<usize>> {
    if chunks == 0 {
        return Err(Error::invalid(
            "chunk",
            "expects `chunks` to be greater than 0, got: 0",
        ));
    }
    let split_size = size.div_ceil(chunks);
    if split_size == 0 {
        return Ok(vec![0; chunks]);
    }
    split_lengths(split_size, size)
}

/// An error for view ops that need at least one dimension.
fn zero_dim_error(op: &'static str) -> Error {
    Error::invalid(op, "cannot be applied to a 0-dim tensor")
}

impl<B: Backend> Tensor<B> {
    /// `dim` normalized against this tensor's dims, for ops that index a real dimension (a
    /// 0-dim tensor has none).
    fn real_dim(&self, op: &'static str, dim: isize) -> Result<usize> {
        if self.ndim() == 0 {
            return Err(zero_dim_error(op));
        }
        normalize_dim(op, dim, self.ndim())
    }

    /// The same elements with another shape, without copying (`x.view(...)`); `-1` infers one
    /// size. Errors when the strides cannot express the new shape (use `reshape`).
    pub fn view(&self, shape: &[isize]) -> Result<Self> {
        let shape = infer_shape("view", shape, self.numel())?;
        let out = self.with_layout(self.layout().view(&shape)?);
        Ok(record_reshape("view", self, out))
    }

    /// `x.reshape(...)`: a view when the strides allow it, otherwise a contiguous copy.
    pub fn reshape(&self, shape: &[isize]) -> Result<Self> {
        let shape = infer_shape("reshape", shape, self.numel())?;
        self.reshape_dims(&shape)
    }

    /// `reshape` to a shape known to hold `numel` elements.
    pub(crate) fn reshape_dims(&self, shape: &[usize]) -> Result<Self> {
        let out = match self.layout().view(shape) {
            Ok(layout) => self.with_layout(layout),
            Err(_) => {
                let copy = self.detach().copy_to_new(self.dtype())?;
                copy.with_layout(copy.layout().view(shape)?)
            }
        };
        Ok(record_reshape("reshape", self, out))
    }

    /// Reorders the dims: output dim `i` is input dim `dims[i]` (negative dims allowed).
    pub fn permute(&self, dims: &[isize]) -> Result<Self> {
        let perm = dims
            .iter()
            .map(|&d| normalize_dim("permute", d, self.ndim()))
            .collect::<Result<Vec<_>>>()?;
        let out = self.with_layout(self.layout().permute(&perm)?);
        Ok(record_permute(self, &perm, out))
    }

    /// Swaps two dims.
    pub fn transpose(&self, dim0: isize, dim1: isize) -> Result<Self> {
        let d0 = normalize_dim("transpose", dim0, self.ndim())?;
        let d1 = normalize_dim("transpose", dim1, self.ndim())?;
        if self.ndim() == 0 {
            return Ok(self.clone());
        }
        let out = self.with_layout(self.layout().transpose(d0, d1)?);
        Ok(record_transpose(self, d0, d1, out))
    }

    /// `x.t()`: transposes a 2-D tensor; 0-D and 1-D tensors come back as they are.
    pub fn t(&self) -> Result<Self> {
        match self.ndim() {
            0 | 1 => Ok(self.clone()),
            2 => self.transpose(0, 1),
            n => Err(Error::shape(
                "t",
                format!(
                    "expects a tensor with <= 2 dimensions, but self is {n}D (shape {})",
                    self.shape()
                ),
            )),
        }
    }

    /// `length` elements of `dim` starting at `start`.
    pub fn narrow(&self, dim: isize, start: usize, length: usize) -> Result<Self> {
        let d = self.real_dim("narrow", dim)?;
        self.narrow_at(d, start, length)
    }

    /// `narrow` on a normalized dim, recorded for autograd.
    fn narrow_at(&self, d: usize, start: usize, length: usize) -> Result<Self> {
        let out = self.with_layout(self.layout().narrow(d, start, length)?);
        let view = Arc::new(move |t: &Tensor<B>| t.narrow(d as isize, start, length));
        Ok(record_index_view("narrow", self, view, out))
    }

    /// Removes `dim` by fixing its index (`x[.., index, ..]`); a negative index counts from
    /// the end.
    pub fn select(&self, dim: isize, index: isize) -> Result<Self> {
        let d = self.real_dim("select", dim)?;
        let size = self.dims()[d];
        let wrapped = if index < 0 {
            index.saturating_add(size as isize)
        } else {
            index
        };
        if wrapped < 0 || wrapped as usize >= size {
            return Err(Error::IndexOutOfRange {
                op: "select",
                index: index as i64,
                dim: d,
                size,
            });
        }
        let out = self.with_layout(self.layout().select(d, wrapped as usize)?);
        let view = Arc::new(move |t: &Tensor<B>| t.select(d as isize, wrapped));
        Ok(record_index_view("select", self, view, out))
    }

    /// `x[.., start:end:step, ..]` on `dim` with Python semantics (negatives wrap, bounds clamp;
    /// `isize::MAX` as `end` means "to the end").
    pub fn slice(&self, dim: isize, start: isize, end: isize, step: usize) -> Result<Self> {
        let d = self.real_dim("slice", dim)?;
        let (start, end) = slice_bounds(start, end, self.dims()[d]);
        let out = self.with_layout(self.layout().slice(d, start, end, step)?);
        let view =
            Arc::new(move |t: &Tensor<B>| t.slice(d as isize, start as isize, end as isize, step));
        Ok(record_index_view("slice", self, view, out))
    }

    /// Broadcasts to `shape` with stride-0 dims (`-1` keeps a size; new dims go in front).
    pub fn expand(&self, shape: &[isize]) -> Result<Self> {
        let shape = expand_shape(shape, self.dims())?;
        let out = self.with_layout(self.layout().expand(&shape)?);
        Ok(record_expand(self, out))
    }

    /// Removes every size-1 dim.
    pub fn squeeze(&self) -> Result<Self> {
        let mut layout = self.layout().clone();
        for d in (0..self.ndim()).rev() {
            layout = layout.squeeze(d)?;
        }
        Ok(record_reshape("squeeze", self, self.with_layout(layout)))
    }

    /// Removes `dim` if its size is 1 (otherwise returns the tensor unchanged, as PyTorch does).
    pub fn squeeze_dim(&self, dim: isize) -> Result<Self> {
        let d = normalize_dim("squeeze", dim, self.ndim())?;
        if self.ndim() == 0 {
            return Ok(self.clone());
        }
        let out = self.with_layout(self.layout().squeeze(d)?);
        Ok(record_reshape("squeeze", self, out))
    }

    /// Inserts a size-1 dim at `dim` (in `[-ndim - 1, ndim]`).
    pub fn unsqueeze(&self, dim: isize) -> Result<Self> {
        let d = normalize_dim("unsqueeze", dim, self.ndim() + 1)?;
        let out = self.with_layout(self.layout().unsqueeze(d)?);
        Ok(record_reshape("unsqueeze", self, out))
    }

    /// Merges dims `start_dim..=end_dim` into one (a view when possible, as `reshape`).
    pub fn flatten(&self, start_dim: isize, end_dim: isize) -> Result<Self> {
        if self.ndim() == 0 {
            normalize_dim("flatten", start_dim, 0)?;
            normalize_dim("flatten", end_dim, 0)?;
            return self.reshape_dims(&[1]);
        }
        let start = normalize_dim("flatten", start_dim, self.ndim())?;
        let end = normalize_dim("flatten", end_dim, self.ndim())?;
        if start > end {
            return Err(Error::invalid(
                "flatten",
                format!(
                    "start_dim ({start_dim}) cannot come after end_dim ({end_dim}) for shape {}",
                    self.shape()
                ),
            ));
        }
        let dims = self.dims();
        let mut shape = dims[..start].to_vec();
        shape.push(dims[start..=end].iter().product());
        shape.extend_from_slice(&dims[end + 1..]);
        self.reshape_dims(&shape)
    }

    /// Splits `dim` into `sizes` (one of which may be `-1`); the inverse of `flatten`.
    pub fn unflatten(&self, dim: isize, sizes: &[isize]) -> Result<Self> {
        let d = self.real_dim("unflatten", dim)?;
        if sizes.is_empty() {
            return Err(Error::invalid(
                "unflatten",
                format!(
                    "sizes must be non-empty (dim {dim} of shape {})",
                    self.shape()
                ),
            ));
        }
        let dims = self.dims();
        let inner = infer_shape("unflatten", sizes, dims[d])?;
        let mut shape = dims[..d].to_vec();
        shape.extend(inner);
        shape.extend_from_slice(&dims[d + 1..]);
        self.reshape_dims(&shape)
    }

    /// Consecutive narrows of dim `d` with the given lengths (which sum to its size).
    fn narrows(&self, d: usize, lengths: &[usize]) -> Result<Vec<Self>> {
        let mut start = 0;
        lengths
            .iter()
            .map(|&length| {
                let piece = self.narrow_at(d, start, length)?;
                start += length;
                Ok(piece)
            })
            .collect()
    }

    /// `x.chunk(chunks, dim)`: up to `chunks` views of equal size along `dim` (the last may be
    /// smaller).
    pub fn chunk(&self, chunks: usize, dim: isize) -> Result<Vec<Self>> {
        let d = self.real_dim("chunk", dim)?;
        self.narrows(d, &chunk_lengths(chunks, self.dims()[d])?)
    }

    /// `x.split(split_size, dim)`: views of `split_size` along `dim` (the last may be smaller).
    pub fn split(&self, split_size: usize, dim: isize) -> Result<Vec<Self>> {
        let d = self.real_dim("split", dim)?;
        self.narrows(d, &split_lengths(split_size, self.dims()[d])?)
    }

    /// `x.split(sizes, dim)` with explicit sizes, which must sum to the size of `dim`.
    pub fn split_with_sizes(&self, sizes: &[usize], dim: isize) -> Result<Vec<Self>> {
        let d = self.real_dim("split_with_sizes", dim)?;
        let size = self.dims()[d];
        let total = sizes.iter().try_fold(0usize, |acc, &s| acc.checked_add(s));
        if total != Some(size) {
            return Err(Error::shape(
                "split_with_sizes",
                format!(
                    "expects split_sizes to sum exactly to {size} (input tensor's size at \
                     dimension {d}, shape {}), but got split_sizes={sizes:?}",
                    self.shape()
                ),
            ));
        }
        self.narrows(d, sizes)
    }

    /// The layout of this tensor viewed as 1-D when it has no dims (reductions and softmax treat
    /// a 0-dim tensor as one element along dim 0).
    pub(crate) fn layout_at_least_1d(&self) -> Result<Layout> {
        if self.ndim() == 0 {
            self.layout().unsqueeze(0)
        } else {
            Ok(self.layout().clone())
        }
    }
}
