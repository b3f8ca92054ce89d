//! Backward formulas of reductions (`ops/reduce.rs`), and `sum_to_size`, the reduction that
//! undoes broadcasting.

use crate::Tensor;
use crate::autograd::record;
use tiny_torch_core::{Backend, DType, Error, Result, normalize_dim};

/// The dims a reduction over `dims` (all when `None` or empty) reduces, for an input of `ndim`
/// dims (a 0-dim input reduces nothing visible).
fn reduced_dims(ndim: usize, dims: Option<&[isize]>) -> Vec<usize> {
    let mut out: Vec<usize> = dims
        .unwrap_or(&[])
        .iter()
        .filter_map(|&d| normalize_dim("reduce", d, ndim).ok())
        .collect();
    if out.is_empty() {
        out = (0..ndim).collect();
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// `g` (the gradient of a reduction over `dims`) broadcast back to `in_dims`.
fn unreduce<B: Backend>(
    g: &Tensor<B>,
    in_dims: &[usize],
    dims: &[usize],
    keepdim: bool,
) -> Result<Tensor<B>> {
    if in_dims.is_empty() {
        return g.reshape(&[]);
    }
    let mut g = g.clone();
    if !keepdim {
        for &d in dims {
            g = g.unsqueeze(d as isize)?;
        }
    }
    let shape: Vec<isize> = in_dims.iter().map(|&d| d as isize).collect();
    g.expand(&shape)
}

/// The number of elements each output of a reduction over `dims` combines.
fn count(in_dims: &[usize], dims: &[usize]) -> f64 {
    dims.iter()
        .filter_map(|&d| in_dims.get(d))
        .product::<usize>() as f64
}

/// How a recorded reduction treats its dims.
#[derive(Clone)]
pub(crate) struct Reduction {
    in_dims: Vec<usize>,
    dims: Vec<usize>,
    keepdim: bool,
}

impl Reduction {
    pub(crate) fn new(in_dims: &[usize], dims: Option<&[isize]>, keepdim: bool) -> Self {
        Reduction {
            in_dims: in_dims.to_vec(),
            dims: reduced_dims(in_dims.len(), dims),
            keepdim,
        }
    }

    fn isize_dims(&self) -> Vec<isize> {
        self.dims.iter().map(|&d| d as isize).collect()
    }

    fn unreduce<B: Backend>(&self, g: &Tensor<B>) -> Result<Tensor<B>> {
        unreduce(g, &self.in_dims, &self.dims, self.keepdim)
    }

    /// A keepdim result of `x` expanded to `x`'s shape.
    fn expand_kept<B: Backend>(&self, kept: &Tensor<B>) -> Result<Tensor<B>> {
        unreduce(kept, &self.in_dims, &self.dims, true)
    }
}

/// Records `sum` / `mean` of `x` over `r`.
pub(crate) fn record_sum<B: Backend>(
    op: &'static str,
    x: &Tensor<B>,
    r: Reduction,
    out: Tensor<B>,
) -> Tensor<B> {
    let mean = op == "mean";
    record(op, out, &[x], &[], move |_, g| {
        let grad = r.unreduce(g)?;
        let grad = if mean {
            grad.div(count(&r.in_dims, &r.dims))?
        } else {
            grad
        };
        Ok(vec![Some(grad)])
    })
}

/// Records `prod` of `x` over `r`. Without zeros the gradient is `g * prod / x`; with exactly
/// one zero in a reduced group, the zero gets the product of the others and the rest get 0;
/// with more zeros, everything gets 0 (as PyTorch's `prod_backward`).
pub(crate) fn record_prod<B: Backend>(x: &Tensor<B>, r: Reduction, out: Tensor<B>) -> Tensor<B> {
    record("prod", out, &[x], &[x], move |ctx, g| {
        let x = ctx.saved(0);
        // A reduction of `t` with keepdim, expanded back to `x`'s shape.
        let kept = |t: &Tensor<B>, prod: bool| -> Result<Tensor<B>> {
            if x.ndim() == 0 {
                Ok(t.clone())
            } else if prod && r.dims.len() > 1 {
                unreduce(&t.prod()?, &r.in_dims, &r.dims, false)
            } else if prod {
                r.expand_kept(&t.prod_dim(r.dims[0] as isize, true)?)
            } else {
                r.expand_kept(&t.sum_dim(&r.isize_dims(), true)?)
            }
        };
        let zero = x.eq(0.0)?;
        let nonzero = x.masked_fill(&zero, 1.0)?;
        let product = kept(&nonzero, true)?;
        let zeros = kept(&zero.to_dtype(x.dtype())?, false)?;
        let none = zeros.eq(0.0)?;
        let the_one = zeros.eq(1.0)?.logical_and(&zero)?;
        let nothing = x.scalar_like(tiny_torch_core::Scalar::from(0.0), x.dtype())?;
        let with_zero = Tensor::where_cond(&the_one, &product, &nothing)?;
        let derivative = Tensor::where_cond(&none, &product.div(&nonzero)?, &with_zero)?;
        Ok(vec![Some(r.unreduce(g)?.mul(&derivative)?)])
    })
}

/// Records `max`/`min`/`amax`/`amin` of `x` over `r`: the gradient goes to the extreme
/// elements, split evenly between ties (as PyTorch's `amax`); `max`/`min` of a NaN result
/// split it between the NaN elements.
pub(crate) fn record_extreme<B: Backend>(
    op: &'static str,
    x: &Tensor<B>,
    r: Reduction,
    out: Tensor<B>,
) -> Tensor<B> {
    let is_max = op == "max" || op == "amax";
    record(op, out, &[x], &[x], move |ctx, g| {
        let x = ctx.saved(0);
        let dims = r.isize_dims();
        let kept = if is_max {
            x.amax(&dims, true)?
        } else {
            x.amin(&dims, true)?
        };
        let kept = r.expand_kept(&kept)?;
        let mut hit = x.eq(&kept)?;
        if op == "max" || op == "min" {
            // A NaN result came from the NaN elements, which share its gradient (PyTorch's
            // evenly_distribute_backward); amax/amin's gradient is NaN there, as PyTorch's.
            hit = Tensor::where_cond(&kept.ne(&kept)?, &x.ne(x)?, &hit)?;
        }
        let hits = hit.to_dtype(x.dtype())?;
        let ties = if x.ndim() == 0 {
            hits.clone()
        } else {
            hits.sum_dim(&dims, true)?
        };
        let ties = r.expand_kept(&ties)?;
        if op == "max" || op == "min" {
            // Zero elsewhere even where the gradient is inf (PyTorch's CPU masked_fill), not
            // inf * 0 = NaN.
            let spread = r.unreduce(g)?.div(&ties)?;
            return Ok(vec![Some(Tensor::where_cond(
                &hit,
                &spread,
                &spread.zeros_like()?,
            )?)]);
        }
        // amax / amin: PyTorch's `grad * mask / count` (NaN where an inf gradient meets the mask's
        // zeros, as there).
        Ok(vec![Some(r.unreduce(g)?.mul(&hits.div(&ties)?)?)])
    })
}

/// Records the values of `max_dim` / `min_dim`: the gradient goes to the returned index.
pub(crate) fn record_extreme_dim<B: Backend>(
    op: &'static str,
    x: &Tensor<B>,
    dim: isize,
    keepdim: bool,
    indices: &Tensor<B>,
    out: Tensor<B>,
) -> Tensor<B> {
    let in_dims = x.dims().to_vec();
    // Saved, so that writing to the returned indices before the backward is an error.
    record(op, out, &[x], &[indices], move |ctx, g| {
        if in_dims.is_empty() {
            return Ok(vec![Some(g.reshape(&[])?)]);
        }
        let indices = ctx.saved(0);
        let (g, idx) = if keepdim {
            (g.clone(), indices.clone())
        } else {
            (g.unsqueeze(dim)?, indices.unsqueeze(dim)?)
        };
        let zeros = Tensor::zeros(&in_dims, g.dtype(), g.backend())?;
        Ok(vec![Some(zeros.scatter(dim, &idx, &g)?)])
    })
}

/// Records `var` of `x` over `r` with `correction`: `g * 2 (x - mean) / (N - correction)`.
pub(crate) fn record_var<B: Backend>(
    x: &Tensor<B>,
    r: Reduction,
    correction: f64,
    out: Tensor<B>,
) -> Tensor<B> {
    record("var", out, &[x], &[x], move |ctx, g| {
        let x = ctx.saved(0);
        Ok(vec![Some(var_grad(x, &r, correction, &r.unreduce(g)?)?)])
    })
}

/// Records `std` of `x` over `r` with `correction`: var's gradient taking `g / (2 std)`, and
/// 0 where the std is 0 (a constant slice) rather than `0 * inf`, as PyTorch's std_backward.
pub(crate) fn record_std<B: Backend>(
    x: &Tensor<B>,
    r: Reduction,
    correction: f64,
    out: Tensor<B>,
) -> Tensor<B> {
    record("std", out, &[x], &[x], move |ctx, g| {
        let x = ctx.saved(0);
        let std = r.expand_kept(&x.std(&r.isize_dims(), correction, true)?)?;
        let g_var = r
            .unreduce(g)?
            .div(&std.mul(2.0)?)?
            .masked_fill(&std.eq(0.0)?, 0.0)?;
        Ok(vec![Some(var_grad(x, &r, correction, &g_var)?)])
    })
}

/// The gradient of `var(x)` over `r` for the incoming gradient `g` (already in `x`'s shape):
/// `g * 2 (x - mean) / (N - correction)`, and PyTorch's infinities when `correction >= N`.
fn var_grad<B: Backend>(
    x: &Tensor<B>,
    r: &Reduction,
    correction: f64,
    g: &Tensor<B>,
) -> Result<Tensor<B>> {
    let n = count(&r.in_dims, &r.dims);
    let mean = if x.ndim() == 0 {
        x.clone()
    } else {
        x.mean_dim(&r.isize_dims(), true)?
    };
    let centered = x.sub(&mean)?;
    if n - correction <= 0.0 {
        // No degrees of freedom left (the variance is inf or NaN): PyTorch's gradient is inf,
        // NaN where x equals the mean, which is |x - mean| * inf.
        return g.mul(&centered.abs()?.mul(f64::INFINITY)?);
    }
    g.mul(&centered)?.mul(2.0 / (n - correction))
}

/// Records `logsumexp` of `x` over `r`: `g * exp(x - logsumexp(x))`.
pub(crate) fn record_logsumexp<B: Backend>(
    x: &Tensor<B>,
    r: Reduction,
    out: Tensor<B>,
) -> Tensor<B> {
    record("logsumexp", out, &[x], &[x], move |ctx, g| {
        let x = ctx.saved(0);
        let lse = x.logsumexp(&r.isize_dims(), true)?;
        let weights = x.sub(&r.expand_kept(&lse)?)?.exp()?;
        Ok(vec![Some(r.unreduce(g)?.mul(&weights)?)])
    })
}

/// Records `norm` of `x` (the 2-norm of all elements): `g * x / norm`, and 0 at the zero
/// vector (PyTorch's subgradient) instead of `0 / 0`. For f16/bf16, as PyTorch: the norm is
/// the forward's (summed in f32, rounded to the dtype), and `g * (x / norm)` runs in the dtype.
pub(crate) fn record_norm<B: Backend>(x: &Tensor<B>, out: Tensor<B>) -> Tensor<B> {
    record("norm", out, &[x], &[x], move |ctx, g| {
        let x = ctx.saved(0);
        let norm = x.two_norm()?;
        let safe = norm.masked_fill(&norm.eq(0.0)?, 1.0)?;
        let grad = match x.dtype() {
            DType::F16 | DType::BF16 => g.mul(&x.div(&safe)?)?,
            _ => x.mul(&g.div(&safe)?)?,
        };
        Ok(vec![Some(grad)])
    })
}

impl<B: Backend> Tensor<B> {
    /// Sums this tensor down to `shape`, which it must broadcast from (leading dims summed
    /// away, size-1 dims summed with keepdim): the inverse of broadcasting, as
    /// `x.sum_to_size(shape)`.
    pub fn sum_to_size(&self, shape: &[usize]) -> Result<Self> {
        if self.dims() == shape {
            return Ok(self.clone());
        }
        let bad = || {
            Error::shape(
                "sum_to_size",
                format!(
                    "size {:?} is not expandable to size {}",
                    shape,
                    self.shape()
                ),
            )
        };
        let lead = self.ndim().checked_sub(shape.len()).ok_or_else(bad)?;
        let mut dims: Vec<isize> = (0..lead as isize).collect();
        for (i, &s) in shape.iter().enumerate() {
            let have = self.dims()[lead + i];
            if s == 1 && have != 1 {
                dims.push((lead + i) as isize);
            } else if s != have {
                return Err(bad());
            }
        }
        let summed = if dims.is_empty() {
            self.clone()
        } else {
            self.sum_dim(&dims, true)?
        };
        let shape: Vec<isize> = shape.iter().map(|&d| d as isize).collect();
        summed.reshape(&shape)
    }
}
