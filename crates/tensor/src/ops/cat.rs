//! Joining tensors: `cat` and `stack`.
//!
//! `cat` allocates the output once, then `Backend::copy`s each input into a narrow view of it
//! (converting dtypes on the way: inputs promote as in `torch.cat`). `stack` is `cat` of
//! unsqueezed views.

use crate::Tensor;
use crate::autograd::formulas::cat::record_cat;
use tiny_torch_core::{Backend, DType, Error, Result, View, ViewMut, normalize_dim};

/// What `cat` will do: the dim, the output shape and dtype, and which inputs take part (1-D
/// empty tensors are skipped, as PyTorch still allows for legacy code).
struct CatPlan {
    dim: usize,
    shape: Vec<usize>,
    dtype: DType,
    parts: Vec<usize>,
}

fn cat_plan(shapes: &[&[usize]], dtypes: &[DType], dim: isize) -> Result<CatPlan> {
    let dtype = dtypes
        .iter()
        .copied()
        .reduce(DType::promote)
        .ok_or_else(|| Error::invalid("cat", "expected a non-empty list of Tensors"))?;
    let parts: Vec<usize> = (0..shapes.len()).filter(|&i| shapes[i] != [0]).collect();
    if parts.is_empty() {
        // Only legacy empty `[0]` tensors: PyTorch returns one, whatever `dim`.
        return Ok(CatPlan {
            dtype,
            shape: vec![0],
            dim: 0,
            parts,
        });
    }
    let reference = shapes[parts[0]];
    if let Some(&i) = parts.iter().find(|&&i| shapes[i].is_empty()) {
        return Err(Error::shape(
            "cat",
            format!("zero-dimensional tensor (at position {i}) cannot be concatenated"),
        ));
    }
    let d = normalize_dim("cat", dim, reference.len())?;
    let mut shape = reference.to_vec();
    shape[d] = 0;
    for &i in &parts {
        let s = shapes[i];
        if s.len() != reference.len() {
            return Err(Error::shape(
                "cat",
                format!(
                    "Tensors must have same number of dimensions: got {} and {} (shapes {:?} and \
                     {s:?} for tensor number {i} in the list)",
                    reference.len(),
                    s.len(),
                    reference
                ),
            ));
        }
        for (k, (&expected, &got)) in reference.iter().zip(s).enumerate() {
            if k != d && expected != got {
                return Err(Error::shape(
                    "cat",
                    format!(
                        "Sizes of tensors must match except in dimension {d}. Expected size \
                         {expected} but got size {got} for tensor number {i} in the list \
                         (shapes {reference:?} and {s:?})"
                    ),
                ));
            }
        }
        shape[d] = shape[d]
            .checked_add(s[d])
            .ok_or_else(|| Error::invalid("cat", "the concatenated size overflows usize"))?;
    }
    Ok(CatPlan {
        dim: d,
        shape,
        dtype,
        parts,
    })
}

impl<B: Backend> Tensor<B> {
    /// `torch.cat(tensors, dim)`: joins along an existing dim. Dtypes promote; every other dim
    /// must match.
    pub fn cat(tensors: &[&Tensor<B>], dim: isize) -> Result<Self> {
        let first = tensors
            .first()
            .ok_or_else(|| Error::invalid("cat", "expected a non-empty list of Tensors"))?;
        for t in tensors {
            first.check_same_device("cat", t)?;
        }
        let shapes: Vec<&[usize]> = tensors.iter().map(|t| t.dims()).collect();
        let dtypes: Vec<DType> = tensors.iter().map(|t| t.dtype()).collect();
        let plan = cat_plan(&shapes, &dtypes, dim)?;
        let backend = first.backend();
        let out = Tensor::build(&plan.shape, plan.dtype, backend, |dst| {
            let mut start = 0;
            for &i in &plan.parts {
                let t = tensors[i];
                let length = t.dims()[plan.dim];
                let part = dst.layout.narrow(plan.dim, start, length)?;
                start += length;
                Tensor::read([t], |[s]| {
                    backend.copy(
                        View::new(s, t.layout()),
                        ViewMut::new(&mut *dst.storage, &part),
                    )
                })?;
            }
            Ok(())
        })?;
        Ok(record_cat(tensors, plan.dim, &plan.parts, out))
    }

    /// `torch.stack(tensors, dim)`: joins along a new dim; all shapes must be equal.
    pub fn stack(tensors: &[&Tensor<B>], dim: isize) -> Result<Self> {
        let first = tensors
            .first()
            .ok_or_else(|| Error::invalid("stack", "expects a non-empty TensorList"))?;
        let d = normalize_dim("stack", dim, first.ndim() + 1)? as isize;
        for (i, t) in tensors.iter().enumerate() {
            if t.dims() != first.dims() {
                return Err(Error::shape(
                    "stack",
                    format!(
                        "expects each tensor to be equal size, but got {} at entry 0 and {} at \
                         entry {i}",
                        first.shape(),
                        t.shape()
                    ),
                ));
            }
        }
        let unsqueezed = tensors
            .iter()
            .map(|t| t.unsqueeze(d))
            .collect::<Result<Vec<_>>>()?;
        let refs: Vec<&Tensor<B>> = unsqueezed.iter().collect();
        Tensor::cat(&refs, d)
    }
}
