//! Printing matches PyTorch's `print(x)` with default print options, character for character.

use crate::common::*;
use tiny_torch_tensor::{DType, Tensor};

fn show(t: &T) -> String {
    format!("{t}")
}

#[test]
fn float_modes() {
    let b = cpu();
    let integral = Tensor::new([[1.0f32, 2.0], [3.0, 4.0]], &b).unwrap();
    assert_eq!(show(&integral), "tensor([[1., 2.],\n        [3., 4.]])");
    let fixed = Tensor::new([1.5f32, 2.25, -3.0], &b).unwrap();
    assert_eq!(show(&fixed), "tensor([ 1.5000,  2.2500, -3.0000])");
    let small = Tensor::new([1e-5f64, 1.0], &b)
        .unwrap()
        .to_dtype(DType::F32)
        .unwrap();
    assert_eq!(show(&small), "tensor([1.0000e-05, 1.0000e+00])");
    let big = Tensor::new([1.0f32, 1e9], &b).unwrap();
    assert_eq!(show(&big), "tensor([1.0000e+00, 1.0000e+09])");
    let zeros = Tensor::zeros(&[3], DType::F32, &b).unwrap();
    assert_eq!(show(&zeros), "tensor([0., 0., 0.])");
    let scalar = Tensor::new(0.5f32, &b).unwrap();
    assert_eq!(show(&scalar), "tensor(0.5000)");
}

#[test]
fn non_finite_values() {
    let b = cpu();
    let fixed = Tensor::new([f32::NAN, 1.5, f32::INFINITY], &b).unwrap();
    assert_eq!(show(&fixed), "tensor([   nan, 1.5000,    inf])");
    let integral = Tensor::new([f32::NAN, 1.0, f32::NEG_INFINITY], &b).unwrap();
    assert_eq!(show(&integral), "tensor([nan, 1., -inf])");
}

#[test]
fn integers_and_bools() {
    let b = cpu();
    let ints = Tensor::new([1i64, -20, 300], &b).unwrap();
    assert_eq!(show(&ints), "tensor([  1, -20, 300])");
    let bools = Tensor::new([true, false], &b).unwrap();
    assert_eq!(show(&bools), "tensor([ True, False])");
    assert_eq!(show(&Tensor::new(3i64, &b).unwrap()), "tensor(3)");
    let cube = Tensor::arange(0.0, 8.0, 1.0, DType::I64, &b)
        .unwrap()
        .view(&[2, 2, 2])
        .unwrap();
    assert_eq!(
        show(&cube),
        "tensor([[[0, 1],\n         [2, 3]],\n\n        [[4, 5],\n         [6, 7]]])"
    );
    // logical order of a transposed view
    let m = Tensor::new([[1i64, 2], [3, 4]], &b).unwrap().t().unwrap();
    assert_eq!(show(&m), "tensor([[1, 3],\n        [2, 4]])");
}

#[test]
fn dtype_suffixes() {
    let b = cpu();
    let f64s = Tensor::new([1.5f64], &b).unwrap();
    assert_eq!(show(&f64s), "tensor([1.5000], dtype=torch.float64)");
    let i32s = Tensor::new([1i32, 2], &b).unwrap();
    assert_eq!(show(&i32s), "tensor([1, 2], dtype=torch.int32)");
    let f16s = Tensor::new([0.5f32, 1.0], &b)
        .unwrap()
        .to_dtype(DType::F16)
        .unwrap();
    assert_eq!(show(&f16s), "tensor([0.5000, 1.0000], dtype=torch.float16)");
    let u8s = Tensor::new([7u8], &b).unwrap();
    assert_eq!(show(&u8s), "tensor([7], dtype=torch.uint8)");
    // a suffix that would pass 80 columns goes on its own line
    let row = Tensor::arange(0.0, 14.0, 1.0, DType::F64, &b).unwrap();
    assert_eq!(
        show(&row),
        "tensor([ 0.,  1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., 11., 12., 13.],\n       \
         dtype=torch.float64)"
    );
}

#[test]
fn empty_tensors() {
    let b = cpu();
    assert_eq!(
        show(&Tensor::zeros(&[0], DType::F32, &b).unwrap()),
        "tensor([])"
    );
    assert_eq!(
        show(&Tensor::zeros(&[0, 3], DType::F32, &b).unwrap()),
        "tensor([], size=(0, 3))"
    );
    assert_eq!(
        show(&Tensor::zeros(&[0], DType::I64, &b).unwrap()),
        "tensor([], dtype=torch.int64)"
    );
}

#[test]
fn long_rows_wrap_at_80_columns() {
    let b = cpu();
    let x = Tensor::arange(0.0, 30.0, 1.0, DType::F32, &b).unwrap();
    assert_eq!(
        show(&x),
        "tensor([ 0.,  1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., 11., 12., 13.,\n        \
         14., 15., 16., 17., 18., 19., 20., 21., 22., 23., 24., 25., 26., 27.,\n        \
         28., 29.])"
    );
}

#[test]
fn large_tensors_are_summarized() {
    let b = cpu();
    let v = Tensor::arange(0.0, 2000.0, 1.0, DType::I64, &b).unwrap();
    assert_eq!(
        show(&v),
        "tensor([   0,    1,    2,  ..., 1997, 1998, 1999])"
    );
    let m = Tensor::arange(0.0, 1200.0, 1.0, DType::I64, &b)
        .unwrap()
        .view(&[40, 30])
        .unwrap();
    let want = "tensor([[   0,    1,    2,  ...,   27,   28,   29],
        [  30,   31,   32,  ...,   57,   58,   59],
        [  60,   61,   62,  ...,   87,   88,   89],
        ...,
        [1110, 1111, 1112,  ..., 1137, 1138, 1139],
        [1140, 1141, 1142,  ..., 1167, 1168, 1169],
        [1170, 1171, 1172,  ..., 1197, 1198, 1199]])";
    assert_eq!(show(&m), want);
    // exactly 1000 elements are printed in full
    let full = Tensor::zeros(&[1000], DType::F32, &b).unwrap();
    assert!(!show(&full).contains("..."));
    // Debug prints the same text
    assert_eq!(format!("{v:?}"), show(&v));
}
