//! Reductions: `sum`, `mean`, `prod`, `max`/`min` (with indices), `amax`/`amin`, `argmax`/
//! `argmin`, `var`/`std`, `logsumexp`, `all`/`any`, `norm`.
//!
//! A reduction over any set of dims is one `Backend::reduce` with the dims sorted and distinct;
//! the backend returns the keepdim shape, contiguous, and the tensor layer only relabels its
//! shape when `keepdim` is false. A 0-dim tensor reduces as a 1-element 1-D one. Output dtypes
//! follow PyTorch: integer and bool sums and products are int64, `mean`/`var`/`std`/
//! `logsumexp` refuse integer inputs, `all`/`any` are bool.

use crate::Tensor;
use crate::autograd::formulas::reduce::{
    Reduction, record_extreme, record_extreme_dim, record_logsumexp, record_norm, record_prod,
    record_std, record_sum, record_var,
};
use tiny_torch_core::{Backend, DType, Error, Layout, ReduceOp, Result, View, normalize_dim};

/// What one backend reduction does: the input layout (at least 1-D), the sorted distinct dims,
/// and the shape of the result.
struct ReducePlan {
    layout: Layout,
    dims: Vec<usize>,
    out_shape: Vec<usize>,
}

/// Checks the dims of a reduction named `op` over `layout` (`None` or empty: all dims).
fn reduce_plan(
    op: &'static str,
    reduce: ReduceOp,
    layout: &Layout,
    dims: Option<&[isize]>,
    keepdim: bool,
) -> Result<ReducePlan> {
    let ndim = layout.ndim();
    let mut reduced = vec![false; ndim.max(1)];
    for &d in dims.unwrap_or(&[]) {
        let n = normalize_dim(op, d, ndim)?;
        if std::mem::replace(&mut reduced[n], true) {
            return Err(Error::invalid(
                op,
                format!(
                    "dim {n} appears multiple times in the list of dims {:?} (shape {})",
                    dims.unwrap_or(&[]),
                    layout.shape()
                ),
            ));
        }
    }
    if !reduced.contains(&true) {
        reduced.fill(true);
    }
    let layout = if ndim == 0 {
        layout.unsqueeze(0)?
    } else {
        layout.clone()
    };
    let dims: Vec<usize> = (0..reduced.len()).filter(|&d| reduced[d]).collect();
    let needs_elements = matches!(
        reduce,
        ReduceOp::Max | ReduceOp::Min | ReduceOp::ArgMax | ReduceOp::ArgMin
    );
    if needs_elements && let Some(&d) = dims.iter().find(|&&d| layout.dims()[d] == 0) {
        return Err(Error::shape(
            op,
            format!(
                "Expected reduction dim {d} to have non-zero size (input shape {})",
                layout.shape()
            ),
        ));
    }
    let out_shape = if ndim == 0 {
        Vec::new()
    } else {
        (0..ndim)
            .filter_map(|d| match (reduced[d], keepdim) {
                (false, _) => Some(layout.dims()[d]),
                (true, true) => Some(1),
                (true, false) => None,
            })
            .collect()
    };
    Ok(ReducePlan {
        layout,
        dims,
        out_shape,
    })
}

/// Errors unless `dtype` is floating point, for reductions that cannot infer an integer result.
fn check_float(op: &'static str, dtype: DType, shape: &[usize]) -> Result<()> {
    if dtype.is_float() {
        return Ok(());
    }
    Err(Error::DType {
        op,
        expected: format!(
            "a floating point input to infer the output dtype (input shape {shape:?})"
        ),
        got: dtype,
    })
}

impl<B: Backend> Tensor<B> {
    /// One backend reduction of `reduce` over `dims` (all when `None` or empty).
    fn reduce_op(
        &self,
        op: &'static str,
        reduce: ReduceOp,
        dims: Option<&[isize]>,
        keepdim: bool,
    ) -> Result<Self> {
        let plan = reduce_plan(op, reduce, self.layout(), dims, keepdim)?;
        let storage = Tensor::read([self], |[s]| {
            self.backend()
                .reduce(reduce, View::new(s, &plan.layout), &plan.dims)
        })?;
        Ok(Tensor::from_storage(
            storage,
            plan.out_shape,
            self.backend(),
        ))
    }

    /// Sum of all elements (0-dim); integer and bool inputs sum into int64.
    pub fn sum(&self) -> Result<Self> {
        let out = self.reduce_op("sum", ReduceOp::Sum, None, false)?;
        Ok(record_sum("sum", self, self.reduction(None, false), out))
    }

    fn reduction(&self, dims: Option<&[isize]>, keepdim: bool) -> Reduction {
        Reduction::new(self.dims(), dims, keepdim)
    }

    /// Sum over `dims` (all when empty).
    pub fn sum_dim(&self, dims: &[isize], keepdim: bool) -> Result<Self> {
        let out = self.reduce_op("sum", ReduceOp::Sum, Some(dims), keepdim)?;
        Ok(record_sum(
            "sum",
            self,
            self.reduction(Some(dims), keepdim),
            out,
        ))
    }

    /// Mean of all elements (0-dim); floating-point inputs only.
    pub fn mean(&self) -> Result<Self> {
        check_float("mean", self.dtype(), self.dims())?;
        let out = self.reduce_op("mean", ReduceOp::Mean, None, false)?;
        Ok(record_sum("mean", self, self.reduction(None, false), out))
    }

    /// Mean over `dims` (all when empty); floating-point inputs only.
    pub fn mean_dim(&self, dims: &[isize], keepdim: bool) -> Result<Self> {
        check_float("mean", self.dtype(), self.dims())?;
        let out = self.reduce_op("mean", ReduceOp::Mean, Some(dims), keepdim)?;
        Ok(record_sum(
            "mean",
            self,
            self.reduction(Some(dims), keepdim),
            out,
        ))
    }

    /// Product of all elements (0-dim); integer and bool inputs multiply into int64.
    pub fn prod(&self) -> Result<Self> {
        let out = self.reduce_op("prod", ReduceOp::Prod, None, false)?;
        Ok(record_prod(self, self.reduction(None, false), out))
    }

    /// Product over `dim`.
    pub fn prod_dim(&self, dim: isize, keepdim: bool) -> Result<Self> {
        let out = self.reduce_op("prod", ReduceOp::Prod, Some(&[dim]), keepdim)?;
        Ok(record_prod(
            self,
            self.reduction(Some(&[dim]), keepdim),
            out,
        ))
    }

    /// Largest element (0-dim); an empty tensor is an error.
    pub fn max(&self) -> Result<Self> {
        let out = self.reduce_op("max", ReduceOp::Max, None, false)?;
        Ok(record_extreme(
            "max",
            self,
            self.reduction(None, false),
            out,
        ))
    }

    /// Smallest element (0-dim); an empty tensor is an error.
    pub fn min(&self) -> Result<Self> {
        let out = self.reduce_op("min", ReduceOp::Min, None, false)?;
        Ok(record_extreme(
            "min",
            self,
            self.reduction(None, false),
            out,
        ))
    }

    /// `x.max(dim, keepdim)`: the largest values along `dim` and their (first) indices.
    pub fn max_dim(&self, dim: isize, keepdim: bool) -> Result<(Self, Self)> {
        let values = self.reduce_op("max", ReduceOp::Max, Some(&[dim]), keepdim)?;
        let indices = self.reduce_op("max", ReduceOp::ArgMax, Some(&[dim]), keepdim)?;
        let values = record_extreme_dim("max_dim", self, dim, keepdim, &indices, values);
        Ok((values, indices))
    }

    /// `x.min(dim, keepdim)`: the smallest values along `dim` and their (first) indices.
    pub fn min_dim(&self, dim: isize, keepdim: bool) -> Result<(Self, Self)> {
        let values = self.reduce_op("min", ReduceOp::Min, Some(&[dim]), keepdim)?;
        let indices = self.reduce_op("min", ReduceOp::ArgMin, Some(&[dim]), keepdim)?;
        let values = record_extreme_dim("min_dim", self, dim, keepdim, &indices, values);
        Ok((values, indices))
    }

    /// Largest values over `dims` (all when empty).
    pub fn amax(&self, dims: &[isize], keepdim: bool) -> Result<Self> {
        let out = self.reduce_op("amax", ReduceOp::Max, Some(dims), keepdim)?;
        Ok(record_extreme(
            "amax",
            self,
            self.reduction(Some(dims), keepdim),
            out,
        ))
    }

    /// Smallest values over `dims` (all when empty).
    pub fn amin(&self, dims: &[isize], keepdim: bool) -> Result<Self> {
        let out = self.reduce_op("amin", ReduceOp::Min, Some(dims), keepdim)?;
        Ok(record_extreme(
            "amin",
            self,
            self.reduction(Some(dims), keepdim),
            out,
        ))
    }

    /// Index of the first maximum along `dim`, or in the flattened tensor when `dim` is `None`.
    pub fn argmax(&self, dim: Option<isize>, keepdim: bool) -> Result<Self> {
        self.arg_reduce("argmax", ReduceOp::ArgMax, dim, keepdim)
    }

    /// Index of the first minimum along `dim`, or in the flattened tensor when `dim` is `None`.
    pub fn argmin(&self, dim: Option<isize>, keepdim: bool) -> Result<Self> {
        self.arg_reduce("argmin", ReduceOp::ArgMin, dim, keepdim)
    }

    fn arg_reduce(
        &self,
        op: &'static str,
        reduce: ReduceOp,
        dim: Option<isize>,
        keepdim: bool,
    ) -> Result<Self> {
        if self.dtype() == DType::Bool {
            return Err(Error::DType {
                op,
                expected: "a numeric tensor (bool input is not supported)".into(),
                got: DType::Bool,
            });
        }
        if let Some(d) = dim {
            return self.reduce_op(op, reduce, Some(&[d]), keepdim);
        }
        if self.numel() == 0 {
            return Err(Error::shape(
                op,
                format!(
                    "Expected reduction dim to be specified for input.numel() == 0 (shape {})",
                    self.shape()
                ),
            ));
        }
        let flat = self.reshape_dims(&[self.numel()])?;
        let index = flat.reduce_op(op, reduce, Some(&[0]), false)?;
        if keepdim {
            index.reshape_dims(&vec![1; self.ndim()])
        } else {
            Ok(index)
        }
    }

    /// Variance over `dims` (all when empty) with Bessel's `correction` (1 = unbiased).
    pub fn var(&self, dims: &[isize], correction: f64, keepdim: bool) -> Result<Self> {
        check_float("var", self.dtype(), self.dims())?;
        let out = self.reduce_op("var", ReduceOp::Var { correction }, Some(dims), keepdim)?;
        Ok(record_var(
            self,
            self.reduction(Some(dims), keepdim),
            correction,
            out,
        ))
    }

    /// Standard deviation: the square root of [`Tensor::var`].
    pub fn std(&self, dims: &[isize], correction: f64, keepdim: bool) -> Result<Self> {
        check_float("std", self.dtype(), self.dims())?;
        let var = self.reduce_op("std", ReduceOp::Var { correction }, Some(dims), keepdim)?;
        let std = var.sqrt()?; // (`var` is not recorded: one `std` node below)
        Ok(record_std(
            self,
            self.reduction(Some(dims), keepdim),
            correction,
            std,
        ))
    }

    /// `log(sum(exp(x)))` over `dims` (all when empty), computed stably. Integer and bool
    /// tensors are taken as float32 first, as in PyTorch.
    pub fn logsumexp(&self, dims: &[isize], keepdim: bool) -> Result<Self> {
        if !self.dtype().is_float() {
            return self.to_dtype(DType::F32)?.logsumexp(dims, keepdim);
        }
        let out = self.reduce_op("logsumexp", ReduceOp::LogSumExp, Some(dims), keepdim)?;
        Ok(record_logsumexp(
            self,
            self.reduction(Some(dims), keepdim),
            out,
        ))
    }

    /// Whether every element is non-zero (0-dim; bool, or uint8 for a uint8 tensor as in
    /// PyTorch).
    pub fn all(&self) -> Result<Self> {
        self.logical_reduce("all", ReduceOp::All, None, false)
    }

    /// Whether any element is non-zero (0-dim; bool, or uint8 for a uint8 tensor).
    pub fn any(&self) -> Result<Self> {
        self.logical_reduce("any", ReduceOp::Any, None, false)
    }

    /// `all` along `dim`.
    pub fn all_dim(&self, dim: isize, keepdim: bool) -> Result<Self> {
        self.logical_reduce("all", ReduceOp::All, Some(&[dim]), keepdim)
    }

    /// `any` along `dim`.
    pub fn any_dim(&self, dim: isize, keepdim: bool) -> Result<Self> {
        self.logical_reduce("any", ReduceOp::Any, Some(&[dim]), keepdim)
    }

    /// `all` / `any`: over the elements taken as bool; the result is bool, except for uint8
    /// tensors, whose result PyTorch keeps in uint8 (0 or 1).
    fn logical_reduce(
        &self,
        op: &'static str,
        reduce: ReduceOp,
        dims: Option<&[isize]>,
        keepdim: bool,
    ) -> Result<Self> {
        let out = self
            .to_dtype(DType::Bool)?
            .reduce_op(op, reduce, dims, keepdim)?;
        if self.dtype() == DType::U8 {
            return out.to_dtype(DType::U8);
        }
        Ok(out)
    }

    /// The 2-norm of all elements, `sqrt(sum(x * x))` (0-dim); floating-point inputs only.
    /// f16/bf16 are computed in f32 and rounded once, as PyTorch computes them (in f16 the
    /// squares overflow past 256).
    pub fn norm(&self) -> Result<Self> {
        check_float("norm", self.dtype(), self.dims())?;
        let out = {
            let _guard = crate::autograd::no_grad();
            self.two_norm()?
        };
        Ok(record_norm(self, out))
    }

    /// `sqrt(sum(x * x))` with the ops recorded as they run (the caller chooses grad mode);
    /// f16/bf16 summed in f32 and rounded once to the dtype.
    pub(crate) fn two_norm(&self) -> Result<Self> {
        match self.dtype() {
            DType::F16 | DType::BF16 => self
                .to_dtype(DType::F32)?
                .two_norm()?
                .to_dtype(self.dtype()),
            _ => self.square()?.sum()?.sqrt(),
        }
    }
}
