//! Copies: contiguous, dtype conversion, copy_ with broadcasting, to_device.

use crate::common::*;
use tiny_torch_tensor::{DType, Tensor};

#[test]
fn contiguous_copies_only_strided_tensors() {
    let (x, v) = random_f32(&[3, 4], 1);
    assert!(x.contiguous().unwrap().shares_storage_with(&x));
    let t = x.t().unwrap();
    assert!(!t.is_contiguous());
    let c = t.contiguous().unwrap();
    assert!(c.is_contiguous() && !c.shares_storage_with(&x));
    assert_eq!(c.strides(), &[3, 1]);
    let want = reference(&[4, 3], |ix| v[ix[1] * 4 + ix[0]]);
    assert_tensor(&c, &[4, 3], DType::F32, &want, 0.0);
}

#[test]
fn dtype_conversions_truncate_and_test_nonzero() {
    let x = Tensor::new([-1.7f32, -0.2, 0.0, 2.9], &cpu()).unwrap();
    assert_tensor(
        &x.to_dtype(DType::I64).unwrap(),
        &[4],
        DType::I64,
        &[-1., 0., 0., 2.],
        0.0,
    );
    assert_tensor(
        &x.to_dtype(DType::Bool).unwrap(),
        &[4],
        DType::Bool,
        &[1., 1., 0., 1.],
        0.0,
    );
    assert_tensor(
        &x.to_dtype(DType::F64).unwrap(),
        &[4],
        DType::F64,
        &[-1.7f32 as f64, -0.2f32 as f64, 0.0, 2.9f32 as f64],
        0.0,
    );
    assert!(x.to_dtype(DType::F32).unwrap().shares_storage_with(&x));
}

#[test]
fn copy_broadcasts_and_converts_into_a_view() {
    let dst = Tensor::zeros(&[3, 4], DType::F64, &cpu()).unwrap();
    let src = Tensor::new([1i32, 2], &cpu()).unwrap();
    dst.narrow(1, 1, 2).unwrap().copy_(&src).unwrap();
    let want = reference(&[3, 4], |ix| match ix[1] {
        1 => 1.0,
        2 => 2.0,
        _ => 0.0,
    });
    assert_close(&values(&dst), &want, 0.0);
    assert_err(
        dst.copy_(&Tensor::zeros(&[2, 4], DType::F32, &cpu()).unwrap()),
        &["copy_", "[2, 4]", "[3, 4]"],
    );
    let expanded = Tensor::zeros(&[1], DType::F32, &cpu())
        .unwrap()
        .expand(&[3])
        .unwrap();
    assert_err(
        expanded.copy_(&Tensor::zeros(&[3], DType::F32, &cpu()).unwrap()),
        &["copy_", "more than one element"],
    );
}

#[test]
fn to_device_round_trips() {
    let (x, v) = random_f32(&[2, 3], 2);
    let y = x.t().unwrap().to_device(&cpu()).unwrap();
    assert!(!y.shares_storage_with(&x));
    let want = reference(&[3, 2], |ix| v[ix[1] * 3 + ix[0]]);
    assert_tensor(&y, &[3, 2], DType::F32, &want, 0.0);
}
