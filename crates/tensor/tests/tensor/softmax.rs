//! softmax and log_softmax against f64, on any dim and on non-contiguous inputs.

use crate::common::*;
use tiny_torch_tensor::{DType, Tensor};

fn softmax_ref(v: &[f64], shape: &[usize], dim: usize, log: bool) -> Vec<f64> {
    reference(shape, |ix| {
        let mut j = ix.to_vec();
        let group: Vec<f64> = (0..shape[dim])
            .map(|k| {
                j[dim] = k;
                v[ravel(&j, shape)]
            })
            .collect();
        let max = group.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = group.iter().map(|x| (x - max).exp()).sum();
        let x = v[ravel(ix, shape)];
        if log {
            x - max - sum.ln()
        } else {
            (x - max).exp() / sum
        }
    })
}

#[test]
fn softmax_along_every_dim() {
    let shape = [2, 3, 4];
    let (x, v) = random_f32(&shape, 1);
    for dim in 0..3 {
        let s = x.softmax(dim as isize).unwrap();
        assert_tensor(
            &s,
            &shape,
            DType::F32,
            &softmax_ref(&v, &shape, dim, false),
            1e-6,
        );
        let l = x.log_softmax(dim as isize - 3).unwrap();
        assert_tensor(
            &l,
            &shape,
            DType::F32,
            &softmax_ref(&v, &shape, dim, true),
            1e-5,
        );
    }
}

#[test]
fn softmax_of_a_transposed_view_and_large_values() {
    let (x, v) = random_f32(&[3, 4], 2);
    let t = x.t().unwrap();
    let vt = reference(&[4, 3], |ix| v[ix[1] * 4 + ix[0]]);
    let s = t.softmax(-1).unwrap();
    assert_tensor(
        &s,
        &[4, 3],
        DType::F32,
        &softmax_ref(&vt, &[4, 3], 1, false),
        1e-6,
    );
    let big = Tensor::new([1000.0f64, 1001.0, 1002.0], &cpu()).unwrap();
    let want = softmax_ref(&[1000.0, 1001.0, 1002.0], &[3], 0, false);
    assert_tensor(&big.softmax(0).unwrap(), &[3], DType::F64, &want, 1e-12);
}

#[test]
fn softmax_edge_cases_and_errors() {
    let s = Tensor::full(&[], 3.0, DType::F32, &cpu()).unwrap();
    assert_tensor(&s.softmax(0).unwrap(), &[], DType::F32, &[1.0], 0.0);
    let e = Tensor::zeros(&[0, 3], DType::F32, &cpu()).unwrap();
    assert_eq!(e.softmax(1).unwrap().dims(), &[0, 3]);
    let (x, _) = random_f32(&[2, 3], 1);
    assert_err(x.softmax(2), &["softmax", "got 2"]);
    assert_err(x.log_softmax(-3), &["log_softmax", "got -3"]);
    let ints = Tensor::new([1i64, 2], &cpu()).unwrap();
    assert_err(ints.softmax(0), &["softmax", "int64", "[2]"]);
}
