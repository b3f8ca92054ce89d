//! Sizes of tensors and broadcasting.

use crate::{Error, Result};
use std::fmt;

/// The sizes of a tensor's dimensions. A zero-dimensional shape (`[]`) holds one element.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Shape(Vec<usize>);

impl Shape {
    pub fn new(dims: impl Into<Vec<usize>>) -> Self {
        Shape(dims.into())
    }

    pub fn dims(&self) -> &[usize] {
        &self.0
    }

    pub fn ndim(&self) -> usize {
        self.0.len()
    }

    pub fn numel(&self) -> usize {
        // A 0-size dim anywhere makes it 0, however large the others (whose product alone
        // may not fit: such shapes are valid, see `contiguous_strides`).
        if self.0.contains(&0) {
            0
        } else {
            self.0.iter().product()
        }
    }

    /// Strides of a C-contiguous (row-major) tensor of this shape, in elements.
    pub fn contiguous_strides(&self) -> Vec<usize> {
        let mut strides = vec![0; self.0.len()];
        let mut acc: usize = 1;
        for (stride, &size) in strides.iter_mut().zip(&self.0).rev() {
            *stride = acc;
            // Saturating: only a shape with a 0-size dim gets here with a product past usize
            // (every other one is refused before it is allocated or viewed), and its strides
            // are never used to reach an element.
            acc = acc.saturating_mul(size.max(1));
        }
        strides
    }
}

impl From<&[usize]> for Shape {
    fn from(dims: &[usize]) -> Self {
        Shape(dims.to_vec())
    }
}

impl From<Vec<usize>> for Shape {
    fn from(dims: Vec<usize>) -> Self {
        Shape(dims)
    }
}

impl<const N: usize> From<[usize; N]> for Shape {
    fn from(dims: [usize; N]) -> Self {
        Shape(dims.to_vec())
    }
}

impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// Turns a PyTorch-style dimension (negative counts from the end) into an index `< ndim`.
/// A zero-dimensional tensor accepts `0` and `-1`, as in PyTorch.
pub fn normalize_dim(op: &'static str, dim: isize, ndim: usize) -> Result<usize> {
    let range = ndim.max(1) as isize;
    let d = if dim < 0 { dim + range } else { dim };
    if d < 0 || d >= range {
        return Err(Error::DimOutOfRange { op, dim, ndim });
    }
    Ok(d as usize)
}

/// The shape two shapes broadcast to, aligning trailing dimensions as NumPy and PyTorch do.
pub fn broadcast_shapes(op: &'static str, lhs: &[usize], rhs: &[usize]) -> Result<Vec<usize>> {
    let ndim = lhs.len().max(rhs.len());
    let mut out = vec![0; ndim];
    for i in 0..ndim {
        let l = if i + lhs.len() >= ndim {
            lhs[i + lhs.len() - ndim]
        } else {
            1
        };
        let r = if i + rhs.len() >= ndim {
            rhs[i + rhs.len() - ndim]
        } else {
            1
        };
        out[i] = match (l, r) {
            (l, r) if l == r => l,
            (1, r) => r,
            (l, 1) => l,
            _ => {
                return Err(Error::shape(
                    op,
                    format!(
                        "the size of tensor a ({l}) must match the size of tensor b ({r}) at \
                         non-singleton dimension {i} (shapes {lhs:?} and {rhs:?})"
                    ),
                ));
            }
        };
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_aligns_trailing_dims() {
        assert_eq!(
            broadcast_shapes("add", &[4, 1, 3], &[5, 1]).unwrap(),
            vec![4, 5, 3]
        );
        assert_eq!(broadcast_shapes("add", &[], &[2, 3]).unwrap(), vec![2, 3]);
        assert_eq!(
            broadcast_shapes("add", &[0, 3], &[1, 3]).unwrap(),
            vec![0, 3]
        );
        let err = broadcast_shapes("add", &[2, 3], &[4])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("size of tensor a (3) must match the size of tensor b (4)"),
            "{err}"
        );
    }

    #[test]
    fn negative_dims_count_from_the_end() {
        assert_eq!(normalize_dim("sum", -1, 3).unwrap(), 2);
        assert_eq!(normalize_dim("sum", 0, 0).unwrap(), 0);
        let err = normalize_dim("sum", 3, 3).unwrap_err().to_string();
        assert!(err.contains("[-3, 2], but got 3"), "{err}");
    }

    #[test]
    fn contiguous_strides_are_row_major() {
        assert_eq!(Shape::new([2, 3, 4]).contiguous_strides(), vec![12, 4, 1]);
        assert_eq!(Shape::new([]).contiguous_strides(), Vec::<usize>::new());
    }
}
