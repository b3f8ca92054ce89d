//! Comparing our outputs with PyTorch's, on the host (non-generic).

use super::golden::HostTensor;
use super::report::{Failure, Worst};

/// Checks one output: same dtype, same shape, and every element within
/// `|ours - theirs| <= atol + rtol * |theirs|` (exact for integer and bool dtypes). Returns the
/// largest absolute error when it passes.
pub fn compare(
    output: &str,
    ours: &HostTensor,
    theirs: &HostTensor,
    rtol: f64,
    atol: f64,
) -> Result<f64, Failure> {
    if ours.dtype != theirs.dtype {
        return Err(Failure::DType {
            output: output.to_string(),
            ours: ours.dtype,
            theirs: theirs.dtype,
        });
    }
    if ours.shape != theirs.shape {
        return Err(Failure::Shape {
            output: output.to_string(),
            ours: ours.shape.clone(),
            theirs: theirs.shape.clone(),
        });
    }
    let (ours_v, theirs_v, rtol, atol) = if theirs.dtype.is_float() {
        (ours.to_f64(), theirs.to_f64(), rtol, atol)
    } else {
        // Integers and bools compare exactly (as i64, so that large int64 stay exact).
        let exact = |t: &HostTensor| t.to_i64().into_iter().map(|v| v as f64).collect();
        let (o, t): (Vec<f64>, Vec<f64>) = (exact(ours), exact(theirs));
        if ours.to_i64() == theirs.to_i64() {
            return Ok(0.0);
        }
        (o, t, 0.0, 0.0)
    };

    let mut bad = 0;
    let mut max_abs_err: f64 = 0.0;
    let mut worst: Option<Worst> = None;
    for (i, (&o, &t)) in ours_v.iter().zip(&theirs_v).enumerate() {
        if o == t || (o.is_nan() && t.is_nan()) {
            continue;
        }
        let abs_err = (o - t).abs();
        let allowed = atol + rtol * t.abs();
        if abs_err.is_finite() {
            max_abs_err = max_abs_err.max(abs_err);
        }
        // A NaN error (one side NaN) or an infinity on either side is never within tolerance.
        if abs_err <= allowed && o.is_finite() && t.is_finite() {
            continue;
        }
        bad += 1;
        let candidate = Worst {
            index: Vec::new(),
            ours: o,
            theirs: t,
            abs_err,
            allowed,
        };
        if worst.as_ref().is_none_or(|w| candidate.ratio() > w.ratio()) {
            worst = Some(Worst {
                index: unravel(i, &ours.shape),
                ..candidate
            });
        }
    }
    match worst {
        None => Ok(max_abs_err),
        Some(worst) => Err(Failure::Values {
            output: output.to_string(),
            bad,
            numel: ours_v.len(),
            worst,
        }),
    }
}

/// Row-major multi-index of flat element `i` in `shape`.
pub fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for (slot, &size) in index.iter_mut().zip(shape).rev() {
        if size > 0 {
            *slot = i % size;
            i /= size;
        }
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DType, Element};

    fn f32s(shape: &[usize], v: &[f32]) -> HostTensor {
        HostTensor {
            dtype: DType::F32,
            shape: shape.to_vec(),
            bytes: f32::to_bytes(v),
        }
    }

    #[test]
    fn tolerance_is_atol_plus_rtol_times_theirs() {
        let theirs = f32s(&[2], &[1.0, 100.0]);
        let ours = f32s(&[2], &[1.0 + 1.5e-6, 100.0 + 0.9e-3]);
        assert!(compare("out0", &ours, &theirs, 1e-5, 1e-6).is_ok());
        let ours = f32s(&[2], &[1.0, 100.0 + 2e-3]);
        let err = compare("out0", &ours, &theirs, 1e-5, 1e-6).unwrap_err();
        match err {
            Failure::Values { bad, worst, .. } => {
                assert_eq!(bad, 1);
                assert_eq!(worst.index, vec![1]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn picks_the_element_furthest_out_of_tolerance() {
        let theirs = f32s(&[2, 2], &[0.0, 1.0, 2.0, 3.0]);
        let ours = f32s(&[2, 2], &[0.5, 1.0, 2.0, 5.0]);
        let Err(Failure::Values { bad, worst, .. }) = compare("o", &ours, &theirs, 0.0, 0.1) else {
            panic!()
        };
        assert_eq!(bad, 2);
        assert_eq!(worst.index, vec![1, 1]);
        assert_eq!(worst.ours, 5.0);
    }

    #[test]
    fn nan_matches_nan_only_and_shapes_and_dtypes_must_match() {
        let theirs = f32s(&[1], &[f32::NAN]);
        assert!(compare("o", &theirs, &theirs, 0.0, 0.0).is_ok());
        let ours = f32s(&[1], &[1.0]);
        assert!(compare("o", &ours, &theirs, 1.0, 1.0).is_err());
        assert!(compare("o", &theirs, &ours, 1.0, 1.0).is_err());
        let inf = f32s(&[1], &[f32::INFINITY]);
        assert!(compare("o", &inf, &inf, 0.0, 0.0).is_ok());
        assert!(matches!(
            compare("o", &f32s(&[1, 1], &[1.0]), &ours, 0.0, 0.0),
            Err(Failure::Shape { .. })
        ));
        let ints = HostTensor {
            dtype: DType::I64,
            shape: vec![1],
            bytes: i64::to_bytes(&[1]),
        };
        assert!(matches!(
            compare("o", &ints, &ours, 0.0, 0.0),
            Err(Failure::DType { .. })
        ));
        let other = HostTensor {
            bytes: i64::to_bytes(&[2]),
            ..ints.clone()
        };
        assert!(compare("o", &ints, &ints, 0.0, 0.0).is_ok());
        assert!(compare("o", &other, &ints, 1.0, 1.0).is_err());
    }

    #[test]
    fn unravel_is_row_major() {
        assert_eq!(unravel(7, &[2, 3, 2]), vec![1, 0, 1]);
        assert_eq!(unravel(0, &[]), Vec::<usize>::new());
    }
}
