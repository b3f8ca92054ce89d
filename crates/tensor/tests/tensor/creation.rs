//! Creation: host data, nested arrays, filled tensors, ranges, identity, `*_like`.

use crate::common::*;
use tiny_torch_tensor::{DType, Tensor, bf16, f16};

#[test]
fn from_slice_and_nested_arrays() {
    let b = cpu();
    let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3], &b).unwrap();
    assert_tensor(&x, &[2, 3], DType::F32, &[1., 2., 3., 4., 5., 6.], 0.0);
    assert_eq!(
        x.to_vec::<f32>().unwrap(),
        vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    );
    let n = Tensor::new([[1.0f32, 2.0], [3.0, 4.0]], &b).unwrap();
    assert_tensor(&n, &[2, 2], DType::F32, &[1., 2., 3., 4.], 0.0);
    let n3 = Tensor::new([[[1i64], [2]], [[3], [4]]], &b).unwrap();
    assert_tensor(&n3, &[2, 2, 1], DType::I64, &[1., 2., 3., 4.], 0.0);
    let s = Tensor::new(7i32, &b).unwrap();
    assert_tensor(&s, &[], DType::I32, &[7.0], 0.0);
    assert_eq!(s.item::<i32>().unwrap(), 7);
    let flags = Tensor::new([true, false], &b).unwrap();
    assert_tensor(&flags, &[2], DType::Bool, &[1., 0.], 0.0);
    let halves = Tensor::new([f16::from_f32(0.5), f16::from_f32(2.0)], &b).unwrap();
    assert_tensor(&halves, &[2], DType::F16, &[0.5, 2.0], 0.0);
    let brains = Tensor::new([bf16::from_f32(1.5)], &b).unwrap();
    assert_tensor(&brains, &[1], DType::BF16, &[1.5], 0.0);
    let bytes = Tensor::new([1u8, 255], &b).unwrap();
    assert_tensor(&bytes, &[2], DType::U8, &[1., 255.], 0.0);
    let empty = Tensor::new([[0.0f64; 0]; 3], &b).unwrap();
    assert_eq!((empty.dims(), empty.dtype()), (&[3, 0][..], DType::F64));
}

#[test]
fn creation_errors() {
    let b = cpu();
    assert_err(
        Tensor::from_slice(&[1.0f32, 2.0, 3.0], &[2, 2], &b),
        &["from_slice", "[2, 2]", "4", "3"],
    );
    assert_err(
        Tensor::<tiny_torch_cpu::Cpu>::empty(&[usize::MAX, 4], DType::F32, &b),
        &["empty", "more elements"],
    );
    let x = Tensor::new([1.0f32, 2.0], &b).unwrap();
    assert_err(x.item::<f32>(), &["item", "2 elements"]);
    assert_err(x.to_vec::<f64>(), &["to_vec", "float32"]);
}

#[test]
fn filled_tensors_of_every_dtype() {
    let b = cpu();
    for dtype in DType::ALL {
        let z = Tensor::zeros(&[2, 3], dtype, &b).unwrap();
        assert_tensor(&z, &[2, 3], dtype, &[0.0; 6], 0.0);
        let o = Tensor::ones(&[3], dtype, &b).unwrap();
        assert_tensor(&o, &[3], dtype, &[1.0; 3], 0.0);
    }
    let f = Tensor::full(&[2], 2.5, DType::F64, &b).unwrap();
    assert_tensor(&f, &[2], DType::F64, &[2.5, 2.5], 0.0);
    let f = Tensor::full(&[2], 7, DType::I32, &b).unwrap();
    assert_tensor(&f, &[2], DType::I32, &[7.0, 7.0], 0.0);
    let like = f.zeros_like().unwrap();
    assert_tensor(&like, &[2], DType::I32, &[0.0, 0.0], 0.0);
    assert_tensor(&f.ones_like().unwrap(), &[2], DType::I32, &[1.0, 1.0], 0.0);
    assert_tensor(
        &f.full_like(-3).unwrap(),
        &[2],
        DType::I32,
        &[-3.0, -3.0],
        0.0,
    );
    let e = Tensor::empty(&[0, 4], DType::F32, &b).unwrap();
    assert_eq!(e.numel(), 0);
    assert_eq!(Tensor::zeros(&[], DType::F32, &b).unwrap().numel(), 1);
}

#[test]
fn arange_matches_pytorch_sizes() {
    let b = cpu();
    let a = Tensor::arange(0.0, 5.0, 1.0, DType::I64, &b).unwrap();
    assert_tensor(&a, &[5], DType::I64, &[0., 1., 2., 3., 4.], 0.0);
    let a = Tensor::arange(1.0, 2.0, 0.3, DType::F64, &b).unwrap();
    assert_tensor(&a, &[4], DType::F64, &[1.0, 1.3, 1.6, 1.9], 1e-12);
    let a = Tensor::arange(5.0, 0.0, -2.0, DType::F32, &b).unwrap();
    assert_tensor(&a, &[3], DType::F32, &[5., 3., 1.], 0.0);
    let a = Tensor::arange(0.5, 3.0, 1.0, DType::I64, &b).unwrap();
    assert_tensor(&a, &[3], DType::I64, &[0., 1., 2.], 0.0);
    assert_eq!(
        Tensor::arange(2.0, 2.0, 1.0, DType::F32, &b)
            .unwrap()
            .dims(),
        &[0]
    );
    assert_err(
        Tensor::arange(0.0, 1.0, 0.0, DType::F32, &b),
        &["arange", "step must be nonzero"],
    );
    assert_err(
        Tensor::arange(0.0, 1.0, -1.0, DType::F32, &b),
        &["arange", "inconsistent with step sign"],
    );
    assert_err(
        Tensor::arange(0.0, f64::INFINITY, 1.0, DType::F32, &b),
        &["arange", "finite"],
    );
}

#[test]
fn linspace_hits_both_ends() {
    let b = cpu();
    let l = Tensor::linspace(0.0, 1.0, 5, DType::F64, &b).unwrap();
    assert_tensor(&l, &[5], DType::F64, &[0.0, 0.25, 0.5, 0.75, 1.0], 0.0);
    let l = Tensor::linspace(-1.0, 1.0, 7, DType::F32, &b).unwrap();
    let want: Vec<f64> = (0..7).map(|i| -1.0 + i as f64 / 3.0).collect();
    assert_tensor(&l, &[7], DType::F32, &want, 1e-6);
    assert_eq!(values(&l)[6], 1.0);
    assert_tensor(
        &Tensor::linspace(3.0, 9.0, 1, DType::F32, &b).unwrap(),
        &[1],
        DType::F32,
        &[3.0],
        0.0,
    );
    assert_eq!(
        Tensor::linspace(3.0, 9.0, 0, DType::F32, &b)
            .unwrap()
            .dims(),
        &[0]
    );
}

#[test]
fn eye_is_the_identity() {
    let b = cpu();
    let e = Tensor::eye(3, DType::F32, &b).unwrap();
    let want = reference(&[3, 3], |ix| if ix[0] == ix[1] { 1.0 } else { 0.0 });
    assert_tensor(&e, &[3, 3], DType::F32, &want, 0.0);
    assert_tensor(
        &Tensor::eye(2, DType::Bool, &b).unwrap(),
        &[2, 2],
        DType::Bool,
        &[1., 0., 0., 1.],
        0.0,
    );
    assert_eq!(Tensor::eye(0, DType::I64, &b).unwrap().dims(), &[0, 0]);
}
