//! cat and stack: values, dtype promotion, shape checks, empty inputs.

use crate::common::*;
use tiny_torch_tensor::{DType, Tensor};

#[test]
fn cat_joins_along_any_dim() {
    let (a, va) = random_f32(&[2, 3], 1);
    let (b, vb) = random_f32(&[2, 2], 2);
    let c = Tensor::cat(&[&a, &b], 1).unwrap();
    let want = reference(&[2, 5], |ix| {
        if ix[1] < 3 {
            va[ix[0] * 3 + ix[1]]
        } else {
            vb[ix[0] * 2 + ix[1] - 3]
        }
    });
    assert_tensor(&c, &[2, 5], DType::F32, &want, 0.0);
    let (d, vd) = random_f32(&[1, 3], 3);
    let c = Tensor::cat(&[&a, &d, &a], -2).unwrap();
    let mut want = va.clone();
    want.extend(&vd);
    want.extend(&va);
    assert_tensor(&c, &[5, 3], DType::F32, &want, 0.0);
}

#[test]
fn cat_reads_non_contiguous_inputs_and_promotes() {
    let (a, va) = random_f32(&[3, 2], 4);
    let at = a.t().unwrap(); // [2, 3]
    let ints = Tensor::new([[1i64, 2, 3]], &cpu()).unwrap();
    let c = Tensor::cat(&[&at, &ints], 0).unwrap();
    let mut want = reference(&[2, 3], |ix| va[ix[1] * 2 + ix[0]]);
    want.extend([1.0, 2.0, 3.0]);
    assert_tensor(&c, &[3, 3], DType::F32, &want, 0.0);
    let f64s = Tensor::new([0.5f64], &cpu()).unwrap();
    let bools = Tensor::new([true], &cpu()).unwrap();
    let c = Tensor::cat(&[&bools, &f64s], 0).unwrap();
    assert_tensor(&c, &[2], DType::F64, &[1.0, 0.5], 0.0);
    let c = Tensor::cat(&[&bools, &Tensor::new([7u8], &cpu()).unwrap()], 0).unwrap();
    assert_tensor(&c, &[2], DType::U8, &[1.0, 7.0], 0.0);
}

#[test]
fn cat_skips_legacy_empty_vectors_and_handles_empty_parts() {
    let (a, va) = random_f32(&[2, 3], 5);
    let legacy = Tensor::zeros(&[0], DType::F32, &cpu()).unwrap();
    let c = Tensor::cat(&[&legacy, &a, &legacy], 1).unwrap();
    assert_tensor(&c, &[2, 3], DType::F32, &va, 0.0);
    let empty_rows = Tensor::zeros(&[0, 3], DType::F32, &cpu()).unwrap();
    let c = Tensor::cat(&[&empty_rows, &a], 0).unwrap();
    assert_tensor(&c, &[2, 3], DType::F32, &va, 0.0);
    let c = Tensor::cat(&[&empty_rows, &empty_rows], 0).unwrap();
    assert_eq!(c.dims(), &[0, 3]);
}

#[test]
fn cat_errors() {
    let (a, _) = random_f32(&[2, 3], 1);
    let (b, _) = random_f32(&[3, 3], 1);
    let (c, _) = random_f32(&[2, 3, 1], 1);
    assert_err(
        Tensor::cat(&[&a, &b], 1),
        &[
            "cat",
            "Sizes of tensors must match except in dimension 1",
            "tensor number 1",
            "[2, 3]",
            "[3, 3]",
        ],
    );
    assert_err(
        Tensor::cat(&[&a, &c], 0),
        &["cat", "same number of dimensions", "2 and 3"],
    );
    assert_err(
        Tensor::cat(&[&a, &a], 2),
        &["cat", "dimension out of range", "got 2"],
    );
    assert_err(
        Tensor::<tiny_torch_cpu::Cpu>::cat(&[], 0),
        &["cat", "non-empty"],
    );
    let s = Tensor::full(&[], 1.0, DType::F32, &cpu()).unwrap();
    assert_err(
        Tensor::cat(&[&s, &s], 0),
        &["cat", "zero-dimensional", "position 0"],
    );
}

#[test]
fn stack_adds_a_dim() {
    let (a, va) = random_f32(&[2, 3], 6);
    let (b, vb) = random_f32(&[2, 3], 7);
    let s = Tensor::stack(&[&a, &b], 1).unwrap();
    let want = reference(&[2, 2, 3], |ix| {
        let v = if ix[1] == 0 { &va } else { &vb };
        v[ix[0] * 3 + ix[2]]
    });
    assert_tensor(&s, &[2, 2, 3], DType::F32, &want, 0.0);
    let s = Tensor::stack(&[&a, &b], -1).unwrap();
    assert_eq!(s.dims(), &[2, 3, 2]);
    let (c, _) = random_f32(&[3, 2], 8);
    assert_err(
        Tensor::stack(&[&a, &c], 0),
        &["stack", "equal size", "[2, 3]", "[3, 2]", "entry 1"],
    );
    assert_err(Tensor::stack(&[&a, &b], 3), &["stack", "got 3"]);
    assert_err(
        Tensor::<tiny_torch_cpu::Cpu>::stack(&[], 0),
        &["stack", "non-empty"],
    );
    let x = Tensor::full(&[], 1.0, DType::F32, &cpu()).unwrap();
    assert_tensor(
        &Tensor::stack(&[&x, &x], 0).unwrap(),
        &[2],
        DType::F32,
        &[1.0, 1.0],
        0.0,
    );
}
