//! Operators on tensors and scalars: same results as the named methods, `Result` output.

use crate::common::*;
use tiny_torch_tensor::{DType, Result, Tensor};

#[test]
fn operators_on_tensor_references() -> Result<()> {
    let (a, va) = random_f32(&[2, 3], 1);
    let (b, vb) = random_f32(&[3], 2);
    let b = (&b + 3.0)?;
    let vb: Vec<f64> = vb.iter().map(|x| x + 3.0).collect();
    let pick = |ix: &[usize]| (va[ix[0] * 3 + ix[1]], vb[ix[1]]);
    let cases: [(T, Binary); 4] = [
        ((&a + &b)?, |x, y| x + y),
        ((&a - &b)?, |x, y| x - y),
        ((&a * &b)?, |x, y| x * y),
        ((&a / &b)?, |x, y| x / y),
    ];
    for (out, f) in cases {
        let want = reference(&[2, 3], |ix| {
            let (x, y) = pick(ix);
            f(x, y)
        });
        assert_tensor(&out, &[2, 3], DType::F32, &want, 1e-6);
    }
    let neg = (-&a)?;
    let want: Vec<f64> = va.iter().map(|x| -x).collect();
    assert_tensor(&neg, &[2, 3], DType::F32, &want, 0.0);
    Ok(())
}

#[test]
fn scalars_on_either_side() -> Result<()> {
    let x = Tensor::new([1.0f32, 2.0, 4.0], &cpu())?;
    assert_close(&values(&(&x * 2.0)?), &[2.0, 4.0, 8.0], 0.0);
    assert_close(&values(&(&x - 1)?), &[0.0, 1.0, 3.0], 0.0);
    assert_close(&values(&(2.0 - &x)?), &[1.0, 0.0, -2.0], 0.0);
    assert_close(&values(&(1.0 / &x)?), &[1.0, 0.5, 0.25], 0.0);
    assert_close(&values(&(3i64 + &x)?), &[4.0, 5.0, 7.0], 0.0);
    let half = 0.5f32;
    assert_close(&values(&(&x * half as f64)?), &[0.5, 1.0, 2.0], 0.0);
    let ints = Tensor::new([1i64, 2, 3], &cpu())?;
    let r = (10 - &ints)?;
    assert_tensor(&r, &[3], DType::I64, &[9., 8., 7.], 0.0);
    let r = (2.5 * &ints)?;
    assert_tensor(&r, &[3], DType::F32, &[2.5, 5.0, 7.5], 0.0);
    let r = (1 / &ints)?;
    assert_tensor(&r, &[3], DType::F32, &[1.0, 0.5, 1.0 / 3.0], 1e-7);
    Ok(())
}

#[test]
fn owned_operands_chain() -> Result<()> {
    let x = Tensor::new([1.0f32, 2.0], &cpu())?;
    let y = ((&x + &x)? * 3.0)?;
    let z = (y.clone() - x.clone())?;
    let w = (-(z / y)?)?;
    let want: Vec<f64> = [1.0f64, 2.0]
        .iter()
        .map(|v| -((6.0 * v - v) / (6.0 * v)))
        .collect();
    assert_close(&values(&w), &want, 1e-6);
    Ok(())
}

#[test]
fn operator_errors_come_back_as_results() {
    let (a, _) = random_f32(&[2, 3], 1);
    let (b, _) = random_f32(&[2], 1);
    assert_err(&a + &b, &["add", "[2, 3]", "[2]"]);
    assert_err(&a / &b, &["div", "[2, 3]", "[2]"]);
    let bools = Tensor::new([true], &cpu()).unwrap();
    assert_err(-&bools, &["neg", "bool"]);
}
