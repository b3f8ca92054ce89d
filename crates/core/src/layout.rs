//! Strided-view metadata: how a tensor's logical elements map onto its storage.
//!
//! Element `(i0, i1, ...)` lives at `offset + i0 * strides[0] + i1 * strides[1] + ...` in the
//! storage. Strides are in **elements, not bytes**; a stride of 0 repeats an element (broadcast).
//! Every view function is O(ndim), copies no data, and returns `Result`: a bad dim, index or size
//! is an error carrying the shapes, never a panic.

use crate::{Error, Result, Shape};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Layout {
    shape: Shape,
    strides: Vec<usize>,
    offset: usize,
}

impl Layout {
    /// A row-major layout starting at element 0.
    pub fn contiguous(shape: impl Into<Shape>) -> Self {
        let shape = shape.into();
        let strides = shape.contiguous_strides();
        Layout {
            shape,
            strides,
            offset: 0,
        }
    }

    /// A layout with explicit strides and offset. Returns an error when the lengths disagree.
    pub fn new(shape: impl Into<Shape>, strides: Vec<usize>, offset: usize) -> Result<Self> {
        let shape = shape.into();
        if shape.ndim() != strides.len() {
            return Err(Error::shape(
                "as_strided",
                format!("shape {shape} and strides {strides:?} have different lengths"),
            ));
        }
        Ok(Layout {
            shape,
            strides,
            offset,
        })
    }

    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    pub fn dims(&self) -> &[usize] {
        self.shape.dims()
    }

    pub fn strides(&self) -> &[usize] {
        &self.strides
    }

    pub fn offset(&self) -> usize {
        self.offset
    }

    pub fn ndim(&self) -> usize {
        self.shape.ndim()
    }

    pub fn numel(&self) -> usize {
        self.shape.numel()
    }

    /// Row-major with no gaps (size-1 dimensions may have any stride, as in PyTorch).
    pub fn is_contiguous(&self) -> bool {
        let mut expected = 1;
        for (&size, &stride) in self.dims().iter().zip(&self.strides).rev() {
            if size != 1 && stride != expected {
                return false;
            }
            expected *= size;
        }
        true
    }

    /// The storage range `offset..offset + numel` when the layout is contiguous.
    pub fn contiguous_range(&self) -> Option<std::ops::Range<usize>> {
        self.is_contiguous()
            .then(|| self.offset..self.offset + self.numel())
    }

    /// One past the largest storage index this layout touches (0 for an empty tensor).
    pub fn storage_extent(&self) -> usize {
        if self.numel() == 0 {
            return 0;
        }
        let last: usize = self
            .dims()
            .iter()
            .zip(&self.strides)
            .map(|(&n, &s)| (n - 1) * s)
            .sum();
        self.offset + last + 1
    }

    /// Storage offsets of all elements in row-major logical order.
    pub fn offsets(&self) -> StridedOffsets<'_> {
        StridedOffsets::new(self)
    }

    fn check_dim(&self, op: &'static str, dim: usize) -> Result<()> {
        if dim >= self.ndim() {
            return Err(Error::DimOutOfRange {
                op,
                dim: dim as isize,
                ndim: self.ndim(),
            });
        }
        Ok(())
    }

    /// `length` elements of `dim` starting at `start`.
    pub fn narrow(&self, dim: usize, start: usize, length: usize) -> Result<Self> {
        self.check_dim("narrow", dim)?;
        let size = self.dims()[dim];
        if start.checked_add(length).is_none_or(|end| end > size) {
            return Err(Error::shape(
                "narrow",
                format!(
                    "start ({start}) + length ({length}) exceeds dimension size ({size}) of dim \
                     {dim} in shape {}",
                    self.shape
                ),
            ));
        }
        let mut dims = self.dims().to_vec();
        dims[dim] = length;
        Ok(Layout {
            shape: dims.into(),
            strides: self.strides.clone(),
            offset: self.offset + start * self.strides[dim],
        })
    }

    /// Elements `start, start + step, ...` below `end` of `dim` (`x[start:end:step]`); `start` and
    /// `end` are clamped to the size as Python slicing does.
    pub fn slice(&self, dim: usize, start: usize, end: usize, step: usize) -> Result<Self> {
        self.check_dim("slice", dim)?;
        if step == 0 {
            return Err(Error::invalid("slice", "slice step must be positive"));
        }
        let size = self.dims()[dim];
        let end = end.min(size);
        let start = start.min(end);
        let length = (end - start).div_ceil(step);
        let mut dims = self.dims().to_vec();
        let mut strides = self.strides.clone();
        dims[dim] = length;
        if length > 1 {
            // (A dim of one element or none never steps, so its stride may stay.)
            strides[dim] = strides[dim].checked_mul(step).ok_or_else(|| {
                Error::invalid("slice", format!("step {step} overflows the stride"))
            })?;
        }
        Ok(Layout {
            shape: dims.into(),
            strides,
            offset: self.offset + start * self.strides[dim],
        })
    }

    /// Removes `dim` by fixing its index (`x[.., index, ..]`).
    pub fn select(&self, dim: usize, index: usize) -> Result<Self> {
        self.check_dim("select", dim)?;
        let size = self.dims()[dim];
        if index >= size {
            return Err(Error::IndexOutOfRange {
                op: "select",
                index: index as i64,
                dim,
                size,
            });
        }
        let mut dims = self.dims().to_vec();
        let mut strides = self.strides.clone();
        dims.remove(dim);
        let stride = strides.remove(dim);
        Ok(Layout {
            shape: dims.into(),
            strides,
            offset: self.offset + index * stride,
        })
    }

    /// Reorders the dimensions: output dim `i` is input dim `perm[i]`.
    pub fn permute(&self, perm: &[usize]) -> Result<Self> {
        let n = self.ndim();
        let mut seen = vec![false; n];
        let valid = perm.len() == n
            && perm
                .iter()
                .all(|&p| p < n && !std::mem::replace(&mut seen[p], true));
        if !valid {
            return Err(Error::shape(
                "permute",
                format!(
                    "dims {perm:?} are not a permutation of the {n} dims of shape {}",
                    self.shape
                ),
            ));
        }
        Ok(Layout {
            shape: perm
                .iter()
                .map(|&p| self.dims()[p])
                .collect::<Vec<_>>()
                .into(),
            strides: perm.iter().map(|&p| self.strides[p]).collect(),
            offset: self.offset,
        })
    }

    /// Swaps two dimensions.
    pub fn transpose(&self, dim0: usize, dim1: usize) -> Result<Self> {
        self.check_dim("transpose", dim0)?;
        self.check_dim("transpose", dim1)?;
        let mut perm: Vec<usize> = (0..self.ndim()).collect();
        perm.swap(dim0, dim1);
        self.permute(&perm)
    }

    /// Broadcasts to `shape` (more or equal dims; size-1 dims repeat with stride 0).
    pub fn expand(&self, shape: &[usize]) -> Result<Self> {
        let n = self.ndim();
        let err = || {
            Error::shape(
                "expand",
                format!(
                    "the expanded size {shape:?} is not compatible with the existing shape {}",
                    self.shape
                ),
            )
        };
        if shape.len() < n {
            return Err(err());
        }
        let lead = shape.len() - n;
        let mut strides = vec![0; shape.len()];
        for (i, &target) in shape.iter().enumerate() {
            if i < lead {
                continue;
            }
            let (size, stride) = (self.dims()[i - lead], self.strides[i - lead]);
            strides[i] = match size {
                s if s == target => stride,
                1 => 0,
                _ => return Err(err()),
            };
        }
        let fits = shape.contains(&0)
            || shape
                .iter()
                .try_fold(1usize, |acc, &d| acc.checked_mul(d))
                .is_some_and(|n| n <= isize::MAX as usize);
        if !fits {
            return Err(Error::shape(
                "expand",
                format!("the expanded size {shape:?} has more elements than an index can count"),
            ));
        }
        Ok(Layout {
            shape: shape.into(),
            strides,
            offset: self.offset,
        })
    }

    /// Inserts a size-1 dimension at `dim` (`0..=ndim`).
    pub fn unsqueeze(&self, dim: usize) -> Result<Self> {
        if dim > self.ndim() {
            return Err(Error::DimOutOfRange {
                op: "unsqueeze",
                dim: dim as isize,
                ndim: self.ndim() + 1,
            });
        }
        let mut dims = self.dims().to_vec();
        let mut strides = self.strides.clone();
        let stride = if dim < self.ndim() {
            self.dims()[dim] * self.strides[dim]
        } else {
            1
        };
        dims.insert(dim, 1);
        strides.insert(dim, stride);
        Ok(Layout {
            shape: dims.into(),
            strides,
            offset: self.offset,
        })
    }

    /// Removes `dim` if its size is 1; otherwise returns the layout unchanged (as PyTorch does).
    pub fn squeeze(&self, dim: usize) -> Result<Self> {
        self.check_dim("squeeze", dim)?;
        if self.dims()[dim] != 1 {
            return Ok(self.clone());
        }
        let mut dims = self.dims().to_vec();
        let mut strides = self.strides.clone();
        dims.remove(dim);
        strides.remove(dim);
        Ok(Layout {
            shape: dims.into(),
            strides,
            offset: self.offset,
        })
    }

    /// The same elements under a new shape without copying, when the strides allow it (PyTorch's
    /// `computeStride`); an error otherwise, which `reshape` answers with a copy.
    pub fn view(&self, shape: &[usize]) -> Result<Self> {
        let numel: usize = shape.iter().product();
        if numel != self.numel() {
            return Err(Error::shape(
                "view",
                format!(
                    "shape {shape:?} is invalid for input of size {}",
                    self.numel()
                ),
            ));
        }
        if self.is_contiguous() {
            let mut layout = Layout::contiguous(shape);
            layout.offset = self.offset;
            return Ok(layout);
        }
        let not_viewable = || {
            Error::shape(
                "view",
                format!(
                    "view size {shape:?} is not compatible with input tensor's size {} and stride \
                     {:?} (at least one dimension spans across two contiguous subspaces). Use \
                     .reshape(...) instead.",
                    self.shape, self.strides
                ),
            )
        };
        if numel == 0 {
            return Ok(Layout {
                offset: self.offset,
                ..Layout::contiguous(shape)
            });
        }
        // Walk the old dims from the back in chunks that are contiguous among themselves, and
        // lay the new dims over each chunk.
        let old_dims = self.dims();
        let mut new_strides = vec![0; shape.len()];
        let mut view_d = shape.len() as isize - 1;
        let mut chunk_base_stride = *self.strides.last().unwrap_or(&1);
        let mut tensor_numel = 1;
        let mut view_numel = 1;
        for tensor_d in (0..old_dims.len()).rev() {
            tensor_numel *= old_dims[tensor_d];
            let chunk_ends = tensor_d == 0
                || (old_dims[tensor_d - 1] != 1
                    && self.strides[tensor_d - 1] != tensor_numel * chunk_base_stride);
            if chunk_ends {
                while view_d >= 0 && (view_numel < tensor_numel || shape[view_d as usize] == 1) {
                    new_strides[view_d as usize] = view_numel * chunk_base_stride;
                    view_numel *= shape[view_d as usize];
                    view_d -= 1;
                }
                if view_numel != tensor_numel {
                    return Err(not_viewable());
                }
                if tensor_d > 0 {
                    chunk_base_stride = self.strides[tensor_d - 1];
                    tensor_numel = 1;
                    view_numel = 1;
                }
            }
        }
        if view_d != -1 {
            return Err(not_viewable());
        }
        Ok(Layout {
            shape: shape.into(),
            strides: new_strides,
            offset: self.offset,
        })
    }

    /// The same view with a zero-dim layout read as one dim of size 1 (stride 1): what the
    /// indexing ops of every backend walk, since PyTorch treats a scalar as a 1-element vector
    /// there.
    pub fn at_least_1d(&self) -> Layout {
        if self.ndim() == 0 {
            Layout {
                shape: Shape::new([1]),
                strides: vec![1],
                offset: self.offset,
            }
        } else {
            self.clone()
        }
    }
}

/// Errors unless every element `layout` addresses lies inside a buffer of `len` elements: the
/// check every backend makes before a kernel reads or writes through a layout (a layout that
/// reaches past its storage would touch another tensor's memory). Sizes that overflow `usize`
/// are errors too.
pub fn check_extent(op: &'static str, layout: &Layout, len: usize) -> Result<()> {
    let extent = if layout.numel() == 0 {
        Some(0)
    } else {
        layout
            .dims()
            .iter()
            .zip(layout.strides())
            .try_fold(layout.offset(), |last, (&n, &s)| {
                last.checked_add((n - 1).checked_mul(s)?)
            })
            .and_then(|last| last.checked_add(1))
    };
    match extent {
        Some(extent) if extent <= len => Ok(()),
        Some(extent) => Err(Error::shape(
            op,
            format!(
                "layout with shape {:?}, strides {:?} and offset {} reaches element {} of a \
                 storage of {len} elements",
                layout.dims(),
                layout.strides(),
                layout.offset(),
                extent - 1
            ),
        )),
        None => Err(Error::shape(
            op,
            format!(
                "layout with shape {:?} and strides {:?} overflows the address space",
                layout.dims(),
                layout.strides()
            ),
        )),
    }
}

/// Errors unless every layout has `layouts[0]`'s dims: the operands of an element-wise op reach
/// a backend already broadcast to one shape.
pub fn check_same_dims(op: &'static str, layouts: &[&Layout]) -> Result<()> {
    let Some((first, rest)) = layouts.split_first() else {
        return Ok(());
    };
    for l in rest {
        if l.dims() != first.dims() {
            return Err(Error::shape(
                op,
                format!(
                    "operand shapes {:?} and {:?} differ (the backend expects broadcast layouts)",
                    first.dims(),
                    l.dims()
                ),
            ));
        }
    }
    Ok(())
}

/// Iterator over the storage offsets of a layout in row-major logical order (an odometer over
/// the dims). Kernels use it for strided inputs; contiguous inputs take a slice instead.
pub struct StridedOffsets<'a> {
    dims: &'a [usize],
    strides: &'a [usize],
    index: Vec<usize>,
    next: usize,
    remaining: usize,
}

impl<'a> StridedOffsets<'a> {
    fn new(layout: &'a Layout) -> Self {
        StridedOffsets {
            dims: layout.dims(),
            strides: layout.strides(),
            index: vec![0; layout.ndim()],
            next: layout.offset(),
            remaining: layout.numel(),
        }
    }
}

impl Iterator for StridedOffsets<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let current = self.next;
        for d in (0..self.dims.len()).rev() {
            self.index[d] += 1;
            if self.index[d] < self.dims[d] {
                self.next += self.strides[d];
                break;
            }
            self.next -= (self.dims[d] - 1) * self.strides[d];
            self.index[d] = 0;
        }
        Some(current)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for StridedOffsets<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn offsets(l: &Layout) -> Vec<usize> {
        l.offsets().collect()
    }

    #[test]
    fn transpose_and_slice_walk_the_right_elements() {
        let l = Layout::contiguous([3, 4]);
        assert_eq!(
            offsets(&l.transpose(0, 1).unwrap()),
            vec![0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]
        );
        let s = l
            .transpose(0, 1)
            .unwrap()
            .slice(0, 1, 4, 1)
            .unwrap()
            .slice(1, 0, 3, 2)
            .unwrap();
        assert_eq!(offsets(&s), vec![1, 9, 2, 10, 3, 11]);
        assert_eq!(offsets(&l.select(1, 2).unwrap()), vec![2, 6, 10]);
        assert_eq!(
            offsets(&l.narrow(0, 1, 2).unwrap()),
            vec![4, 5, 6, 7, 8, 9, 10, 11]
        );
    }

    #[test]
    fn expand_repeats_with_zero_strides() {
        let l = Layout::contiguous([3, 1]);
        let e = l.expand(&[2, 3, 2]).unwrap();
        assert_eq!(e.strides(), &[0, 1, 0]);
        assert_eq!(offsets(&e), vec![0, 0, 1, 1, 2, 2, 0, 0, 1, 1, 2, 2]);
        assert!(l.expand(&[3, 2, 2]).is_err());
    }

    #[test]
    fn view_follows_compute_stride() {
        let l = Layout::contiguous([2, 3, 4]);
        let t = l.permute(&[1, 0, 2]).unwrap(); // [3, 2, 4], strides [4, 12, 1]
        let v = t.view(&[3, 2, 2, 2]).unwrap();
        assert_eq!(v.strides(), &[4, 12, 2, 1]);
        assert!(t.view(&[6, 4]).is_err());
        assert!(l.transpose(0, 2).unwrap().view(&[24]).is_err());
        assert_eq!(l.view(&[4, 6]).unwrap().strides(), &[6, 1]);
    }

    #[test]
    fn bad_arguments_are_errors() {
        let l = Layout::contiguous([2, 3]);
        assert!(l.narrow(1, 2, 2).is_err());
        assert!(l.select(0, 2).is_err());
        assert!(l.permute(&[0, 0]).is_err());
        assert!(l.transpose(0, 2).is_err());
        assert!(l.slice(0, 0, 2, 0).is_err());
        assert!(l.unsqueeze(3).is_err());
    }

    #[test]
    fn extent_checks_name_the_layout() {
        let l = Layout::new([2, 3], vec![3, 1], 1).unwrap();
        assert!(check_extent("op", &l, 7).is_ok());
        let err = check_extent("op", &l, 6).unwrap_err().to_string();
        assert!(err.contains("reaches element 6 of a storage of 6"), "{err}");
        let empty = Layout::new([0, 3], vec![100, 100], 100).unwrap();
        assert!(check_extent("op", &empty, 0).is_ok());
        let huge = Layout::new([3], vec![usize::MAX], 0).unwrap();
        let err = check_extent("op", &huge, 10).unwrap_err().to_string();
        assert!(err.contains("overflows"), "{err}");
        let (a, b) = (Layout::contiguous([2, 3]), Layout::contiguous([3, 2]));
        assert!(check_same_dims("add", &[&a, &a.clone()]).is_ok());
        let err = check_same_dims("add", &[&a, &b]).unwrap_err().to_string();
        assert!(
            err.contains("add: operand shapes [2, 3] and [3, 2] differ"),
            "{err}"
        );
        let s = Layout::new([], vec![], 4).unwrap().at_least_1d();
        assert_eq!((s.dims(), s.strides(), s.offset()), (&[1][..], &[1][..], 4));
    }

    #[test]
    fn unsqueeze_and_squeeze_round_trip() {
        let l = Layout::contiguous([2, 3]);
        let u = l.unsqueeze(1).unwrap();
        assert_eq!(u.dims(), &[2, 1, 3]);
        assert!(u.is_contiguous());
        assert_eq!(u.squeeze(1).unwrap(), l);
    }
}
