//! The host-side checks of the indexing ops of [`Backend`](crate::Backend) (`index_select`,
//! `gather`, `scatter`, `scatter_add`), made the same way by every backend before it reads an
//! index: dims in range, index shapes that fit, `I64` (or `I32`) indices, operands of one dtype,
//! views inside their storages. Index *values* are the backends' to check, where they read them
//! (a device reports them at its next synchronizing call).
//!
//! A zero-dim operand counts as one dim of size 1 here, as in PyTorch
//! ([`Layout::at_least_1d`](crate::Layout::at_least_1d)).

use crate::{BackendStorage, DType, Error, Result, ScatterReduce, View, check_extent};

/// Errors unless an index tensor has a dtype the backends read: `I64`, or `I32`.
pub fn check_index_dtype(op: &'static str, dtype: DType) -> Result<()> {
    if matches!(dtype, DType::I64 | DType::I32) {
        return Ok(());
    }
    Err(Error::DType {
        op,
        expected: "an index of dtype int64".into(),
        got: dtype,
    })
}

fn check_dim(op: &'static str, dim: usize, ndim: usize) -> Result<()> {
    if dim >= ndim {
        return Err(Error::DimOutOfRange {
            op,
            dim: dim as isize,
            ndim,
        });
    }
    Ok(())
}

/// Errors unless `index`'s dims fit `other`'s (all dims, or all but `dim`).
fn check_index_shape(
    op: &'static str,
    index: &[usize],
    other: &[usize],
    dim: usize,
    skip_dim: bool,
    what: &str,
) -> Result<()> {
    let fits = index.len() == other.len()
        && index
            .iter()
            .zip(other)
            .enumerate()
            .all(|(d, (&i, &o))| (skip_dim && d == dim) || i <= o);
    if fits {
        return Ok(());
    }
    Err(Error::shape(
        op,
        format!(
            "index shape {index:?} does not fit {what} shape {other:?} (same number of dims, \
             each no larger{})",
            if skip_dim { " except along dim" } else { "" }
        ),
    ))
}

/// An index tensor's dtype and extent.
fn check_index<S: BackendStorage>(op: &'static str, index: View<'_, S>) -> Result<()> {
    check_index_dtype(op, index.storage.dtype())?;
    check_extent(op, index.layout, index.storage.len())
}

/// `src.index_select(dim, index)`: a 0- or 1-dim index, `dim` a dim of `src`.
pub fn check_index_select<S: BackendStorage>(
    src: View<'_, S>,
    dim: usize,
    index: View<'_, S>,
) -> Result<()> {
    const OP: &str = "index_select";
    if index.layout.ndim() > 1 {
        return Err(Error::shape(
            OP,
            format!(
                "index must be 0- or 1-dimensional, got shape {:?}",
                index.layout.dims()
            ),
        ));
    }
    check_dim(OP, dim, src.layout.ndim().max(1))?;
    check_index(OP, index)?;
    check_extent(OP, src.layout, src.storage.len())
}

/// `src.gather(dim, index)`: `dim` a dim of `src`, `index` of `src`'s rank and no larger
/// outside `dim`.
pub fn check_gather<S: BackendStorage>(
    src: View<'_, S>,
    dim: usize,
    index: View<'_, S>,
) -> Result<()> {
    const OP: &str = "gather";
    let (s, i) = (src.layout.at_least_1d(), index.layout.at_least_1d());
    check_dim(OP, dim, s.ndim())?;
    check_index_shape(OP, i.dims(), s.dims(), dim, true, "input")?;
    check_index(OP, index)?;
    check_extent(OP, src.layout, src.storage.len())
}

/// `dst.scatter_(dim, index, src)` (or `scatter_add_`): `src` of `dst`'s dtype, `dim` a dim of
/// `dst`, `index` of their rank, no larger than `src` and than `dst` outside `dim`.
pub fn check_scatter<S: BackendStorage>(
    reduce: ScatterReduce,
    dst: View<'_, S>,
    dim: usize,
    index: View<'_, S>,
    src: View<'_, S>,
) -> Result<()> {
    let op = reduce.name();
    let dtype = dst.storage.dtype();
    if src.storage.dtype() != dtype {
        return Err(Error::DType {
            op,
            expected: format!("src of the destination's dtype {dtype}"),
            got: src.storage.dtype(),
        });
    }
    let d = dst.layout.at_least_1d();
    let s = src.layout.at_least_1d();
    let i = index.layout.at_least_1d();
    check_dim(op, dim, d.ndim())?;
    check_index_shape(op, i.dims(), s.dims(), dim, false, "src")?;
    check_index_shape(op, i.dims(), d.dims(), dim, true, "self")?;
    check_index(op, index)?;
    check_extent(op, src.layout, src.storage.len())?;
    check_extent(op, dst.layout, dst.storage.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FakeStorage, Layout};

    fn storage(dtype: DType, len: usize) -> FakeStorage {
        FakeStorage { dtype, len }
    }

    #[test]
    fn index_select_checks() {
        let (s, i) = (storage(DType::F32, 6), storage(DType::I64, 2));
        let (sl, il) = (Layout::contiguous([2, 3]), Layout::contiguous([2]));
        let ok = check_index_select(View::new(&s, &sl), 1, View::new(&i, &il));
        assert!(ok.is_ok());
        let dim = check_index_select(View::new(&s, &sl), 2, View::new(&i, &il));
        assert!(matches!(dim, Err(Error::DimOutOfRange { dim: 2, .. })));
        let i2 = Layout::contiguous([1, 2]);
        let shape = check_index_select(View::new(&s, &sl), 0, View::new(&i, &i2));
        assert!(
            shape
                .unwrap_err()
                .to_string()
                .contains("0- or 1-dimensional")
        );
        let f = storage(DType::F32, 2);
        let dtype = check_index_select(View::new(&s, &sl), 0, View::new(&f, &il));
        assert!(matches!(dtype, Err(Error::DType { .. })));
        let short = storage(DType::F32, 5);
        let extent = check_index_select(View::new(&short, &sl), 0, View::new(&i, &il));
        assert!(
            extent
                .unwrap_err()
                .to_string()
                .contains("reaches element 5")
        );
        // A zero-dim source has one dim of size 1.
        let (one, scalar) = (storage(DType::F32, 1), Layout::contiguous([]));
        assert!(check_index_select(View::new(&one, &scalar), 0, View::new(&i, &il)).is_ok());
    }

    #[test]
    fn gather_and_scatter_check_index_shapes() {
        let (s, i) = (storage(DType::F32, 6), storage(DType::I32, 8));
        let sl = Layout::contiguous([2, 3]);
        let il = Layout::contiguous([2, 2]);
        assert!(check_gather(View::new(&s, &sl), 1, View::new(&i, &il)).is_ok());
        let wide = Layout::contiguous([2, 4]);
        assert!(check_gather(View::new(&s, &sl), 1, View::new(&i, &wide)).is_ok());
        let err = check_gather(View::new(&s, &sl), 0, View::new(&i, &wide)).unwrap_err();
        assert!(
            err.to_string().contains("does not fit input shape"),
            "{err}"
        );

        let (dst, src) = (storage(DType::F32, 6), storage(DType::F32, 4));
        let srcl = Layout::contiguous([2, 2]);
        let ok = check_scatter(
            ScatterReduce::Add,
            View::new(&dst, &sl),
            0,
            View::new(&i, &il),
            View::new(&src, &srcl),
        );
        assert!(ok.is_ok());
        let too_big = check_scatter(
            ScatterReduce::Assign,
            View::new(&dst, &sl),
            1,
            View::new(&i, &wide),
            View::new(&src, &srcl),
        );
        let err = too_big.unwrap_err().to_string();
        assert!(
            err.starts_with("scatter: index shape [2, 4] does not fit src"),
            "{err}"
        );
        let other = storage(DType::F64, 4);
        let dtype = check_scatter(
            ScatterReduce::Add,
            View::new(&dst, &sl),
            0,
            View::new(&i, &il),
            View::new(&other, &srcl),
        );
        let err = dtype.unwrap_err().to_string();
        assert!(err.starts_with("scatter_add: expected src of the destination's dtype"));
    }
}
