//! Indexing with index tensors and masks: `index_select`, `gather`, `scatter`, `scatter_add`
//! (new tensor or in place), `masked_fill` and `where_cond`.
//!
//! The tensor layer checks dtypes, devices and the shapes of index tensors; index *values* are
//! checked by the backend (it is the one that reads them, and reading them here would
//! synchronize the device).

use crate::Tensor;
use crate::autograd::formulas::indexing::{
    record_gather, record_index_select, record_scatter, record_where,
};
use tiny_torch_core::{
    Backend, DType, Error, Layout, Result, Scalar, ScatterReduce, View, ViewMut, broadcast_shapes,
    normalize_dim, result_type,
};

/// Checks that an index tensor has an integer dtype the op accepts.
fn check_index_dtype(
    op: &'static str,
    dtype: DType,
    allowed: &[DType],
    shape: &[usize],
) -> Result<()> {
    if allowed.contains(&dtype) {
        return Ok(());
    }
    let names: Vec<&str> = allowed.iter().map(|d| d.torch_name()).collect();
    Err(Error::DType {
        op,
        expected: format!(
            "an index of dtype {} (index shape {shape:?})",
            names.join(" or ")
        ),
        got: dtype,
    })
}

/// `gather` and `scatter` shape rules: same number of dims, and `index.size(k) <= limit(k)`
/// for every dim `k` except `dim` (and for every dim against `src` in `scatter`).
fn check_index_shape(
    op: &'static str,
    dim: usize,
    index: &[usize],
    this: &[usize],
    src: Option<&[usize]>,
) -> Result<()> {
    if index.len() != this.len() || src.is_some_and(|s| s.len() != index.len()) {
        return Err(Error::shape(
            op,
            format!(
                "Index tensor must have the same number of dimensions as self and src tensors \
                 (index shape {index:?}, self shape {this:?}{})",
                src.map_or(String::new(), |s| format!(", src shape {s:?}"))
            ),
        ));
    }
    for k in 0..index.len() {
        let too_big_for_self = k != dim && index[k] > this[k];
        let too_big_for_src = src.is_some_and(|s| index[k] > s[k]);
        if too_big_for_self || too_big_for_src {
            return Err(Error::shape(
                op,
                format!(
                    "Size does not match at dimension {k}: expected index {index:?} to be no \
                     larger than self {this:?} apart from dimension {dim}{}",
                    src.map_or(String::new(), |s| format!(" and no larger than src {s:?}"))
                ),
            ));
        }
    }
    Ok(())
}

/// The broadcast shape of three layouts and each expanded to it.
fn broadcast_three(
    op: &'static str,
    a: &Layout,
    b: &Layout,
    c: &Layout,
) -> Result<(Vec<usize>, [Layout; 3])> {
    let ab = broadcast_shapes(op, a.dims(), b.dims())?;
    let shape = broadcast_shapes(op, &ab, c.dims())?;
    let layouts = [a.expand(&shape)?, b.expand(&shape)?, c.expand(&shape)?];
    Ok((shape, layouts))
}

impl<B: Backend> Tensor<B> {
    /// The elements of `dim` picked by the 1-D integer `index` (`torch.index_select`).
    pub fn index_select(&self, dim: isize, index: &Tensor<B>) -> Result<Self> {
        let op = "index_select";
        self.check_same_device(op, index)?;
        check_index_dtype(op, index.dtype(), &[DType::I64, DType::I32], index.dims())?;
        if index.ndim() > 1 {
            return Err(Error::shape(
                op,
                format!(
                    "Index is supposed to be a vector, but got index shape {} (self shape {})",
                    index.shape(),
                    self.shape()
                ),
            ));
        }
        let d = normalize_dim(op, dim, self.ndim())?;
        if self.ndim() == 0 && index.numel() != 1 {
            return Err(Error::shape(
                op,
                format!(
                    "Index to scalar can have only 1 value, got {} value(s)",
                    index.numel()
                ),
            ));
        }
        let index = index.to_dtype(DType::I64)?;
        let index_layout = index.layout_at_least_1d()?;
        let src_layout = self.layout_at_least_1d()?;
        let mut shape = src_layout.dims().to_vec();
        shape[d] = index.numel();
        if self.ndim() == 0 {
            shape.clear();
        }
        let storage = Tensor::read([self, &index], |[s, i]| {
            self.backend()
                .index_select(View::new(s, &src_layout), d, View::new(i, &index_layout))
        })?;
        let out = Tensor::from_storage(storage, shape, self.backend());
        Ok(record_index_select(self, d, &index, out))
    }

    /// `torch.gather(self, dim, index)`: `out[i][j] = self[index[i][j]][j]` for `dim = 0`; the
    /// output has `index`'s shape.
    pub fn gather(&self, dim: isize, index: &Tensor<B>) -> Result<Self> {
        let op = "gather";
        self.check_same_device(op, index)?;
        check_index_dtype(op, index.dtype(), &[DType::I64, DType::I32], index.dims())?;
        let index = &index.to_dtype(DType::I64)?;
        let d = normalize_dim(op, dim, self.ndim())?;
        // As in PyTorch, a 0-dim tensor counts as 1-D here, and an empty index skips the checks.
        let src_layout = self.layout_at_least_1d()?;
        let index_layout = index.layout_at_least_1d()?;
        if index.numel() == 0 {
            let out = Tensor::zeros(index.dims(), self.dtype(), self.backend())?;
            return Ok(record_gather(self, dim, index, out));
        }
        check_index_shape(op, d, index_layout.dims(), src_layout.dims(), None)?;
        let storage = Tensor::read([self, index], |[s, i]| {
            self.backend()
                .gather(View::new(s, &src_layout), d, View::new(i, &index_layout))
        })?;
        let out = Tensor::from_storage(storage, index.dims(), self.backend());
        Ok(record_gather(self, dim, index, out))
    }

    fn scatter_impl(
        &self,
        op: &'static str,
        dim: isize,
        index: &Tensor<B>,
        src: &Tensor<B>,
        reduce: ScatterReduce,
    ) -> Result<()> {
        self.check_same_device(op, index)?;
        self.check_same_device(op, src)?;
        self.check_writable(op)?;
        check_index_dtype(op, index.dtype(), &[DType::I64, DType::I32], index.dims())?;
        if src.dtype() != self.dtype() {
            return Err(Error::DType {
                op,
                expected: format!(
                    "src of self's dtype {} (self shape {}, src shape {})",
                    self.dtype(),
                    self.shape(),
                    src.shape()
                ),
                got: src.dtype(),
            });
        }
        let d = normalize_dim(op, dim, self.ndim())?;
        // As in `gather`: 0-dim tensors count as 1-D, and an empty index writes nothing.
        if index.numel() == 0 {
            return Ok(());
        }
        let index = index.to_dtype(DType::I64)?.snapshot_if_shared(self)?;
        let src = src.snapshot_if_shared(self)?;
        let dst_layout = self.layout_at_least_1d()?;
        let index_layout = index.layout_at_least_1d()?;
        let src_layout = src.layout_at_least_1d()?;
        check_index_shape(
            op,
            d,
            index_layout.dims(),
            dst_layout.dims(),
            Some(src_layout.dims()),
        )?;
        Tensor::read([&index, &src], |[i, s]| {
            self.backend().scatter(
                ViewMut::new(&mut self.storage_mut(), &dst_layout),
                d,
                View::new(i, &index_layout),
                View::new(s, &src_layout),
                reduce,
            )
        })
    }

    /// `self.scatter_(dim, index, src)`: writes `src[i][j]` to `self[index[i][j]][j]` (for
    /// `dim = 0`) in place.
    pub fn scatter_(&self, dim: isize, index: &Tensor<B>, src: &Tensor<B>) -> Result<()> {
        if self.check_inplace("scatter_", &[src])? {
            return self.inplace_recorded("scatter_", true, |old| old.scatter(dim, index, src));
        }
        self.scatter_impl("scatter_", dim, index, src, ScatterReduce::Assign)
    }

    /// `self.scatter_add_(dim, index, src)`: adds instead of writing (repeated indices sum).
    pub fn scatter_add_(&self, dim: isize, index: &Tensor<B>, src: &Tensor<B>) -> Result<()> {
        if self.check_inplace("scatter_add_", &[src])? {
            return self
                .inplace_recorded("scatter_add_", true, |old| old.scatter_add(dim, index, src));
        }
        self.scatter_impl("scatter_add_", dim, index, src, ScatterReduce::Add)
    }

    /// `torch.scatter(self, dim, index, src)`: a scattered copy; `self` is unchanged.
    pub fn scatter(&self, dim: isize, index: &Tensor<B>, src: &Tensor<B>) -> Result<Self> {
        let out = self.detach().copy_to_new(self.dtype())?;
        out.scatter_impl("scatter", dim, index, src, ScatterReduce::Assign)?;
        Ok(record_scatter(false, self, dim, index, src, out))
    }

    /// `torch.scatter_add(self, dim, index, src)`: a copy with `src` added at `index`.
    pub fn scatter_add(&self, dim: isize, index: &Tensor<B>, src: &Tensor<B>) -> Result<Self> {
        let out = self.detach().copy_to_new(self.dtype())?;
        out.scatter_impl("scatter_add", dim, index, src, ScatterReduce::Add)?;
        Ok(record_scatter(true, self, dim, index, src, out))
    }

    /// `x.masked_fill(mask, value)`: `value` (converted to this dtype) where the bool `mask` is
    /// true; `mask` and `self` broadcast.
    pub fn masked_fill(&self, mask: &Tensor<B>, value: impl Into<Scalar>) -> Result<Self> {
        let op = "masked_fill";
        self.check_same_device(op, mask)?;
        if mask.dtype() != DType::Bool {
            return Err(Error::DType {
                op,
                expected: format!(
                    "a mask of dtype bool (mask shape {}, self shape {})",
                    mask.shape(),
                    self.shape()
                ),
                got: mask.dtype(),
            });
        }
        let value = value.into();
        value.check_fits(op, self.dtype())?;
        let value = self.scalar_like(value, self.dtype())?;
        Tensor::where_impl(op, mask, &value, self)
    }

    /// `torch.where(cond, on_true, on_false)`: all three broadcast; `on_true` and `on_false`
    /// promote to a common dtype.
    pub fn where_cond(cond: &Tensor<B>, on_true: &Tensor<B>, on_false: &Tensor<B>) -> Result<Self> {
        let op = "where";
        cond.check_same_device(op, on_true)?;
        cond.check_same_device(op, on_false)?;
        if cond.dtype() != DType::Bool {
            return Err(Error::DType {
                op,
                expected: format!(
                    "a condition of dtype bool (condition shape {})",
                    cond.shape()
                ),
                got: cond.dtype(),
            });
        }
        let dtype = result_type(&[on_true.operand(), on_false.operand()]);
        let on_true = on_true.to_dtype(dtype)?;
        let on_false = on_false.to_dtype(dtype)?;
        Tensor::where_impl(op, cond, &on_true, &on_false)
    }

    /// `where` on inputs of one dtype (and a bool condition), after the checks.
    fn where_impl(
        op: &'static str,
        cond: &Tensor<B>,
        on_true: &Tensor<B>,
        on_false: &Tensor<B>,
    ) -> Result<Self> {
        let (shape, [lc, lt, lf]) =
            broadcast_three(op, cond.layout(), on_true.layout(), on_false.layout())?;
        let backend = cond.backend();
        let out = Tensor::build(&shape, on_true.dtype(), backend, |dst| {
            Tensor::read([cond, on_true, on_false], |[c, t, f]| {
                backend.where_cond(View::new(c, &lc), View::new(t, &lt), View::new(f, &lf), dst)
            })
        })?;
        Ok(record_where(op, cond, on_true, on_false, out))
    }
}
