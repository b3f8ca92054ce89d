//! Element-wise ops: broadcasting, type promotion, in-place and out= forms, unary math.

use crate::common::*;
use tiny_torch_tensor::{BinaryOp, DType, Scalar, Tensor, UnaryOp};

/// `erf` by its Taylor series (accurate to ~1e-12 on the [-3, 3] range the tests use).
fn erf(x: f64) -> f64 {
    let mut term = x;
    let mut sum = x;
    for n in 1..80 {
        term *= -x * x / n as f64;
        sum += term / (2 * n + 1) as f64;
    }
    sum * 2.0 / std::f64::consts::PI.sqrt()
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

#[test]
fn add_broadcasts_non_contiguous_inputs() {
    let (a, va) = random_f32(&[4, 3], 1); // used as a.t(): [3, 4]
    let (b, vb) = random_f32(&[4], 2);
    let at = a.t().unwrap();
    let out = at.add(&b).unwrap();
    let want = reference(&[3, 4], |ix| va[ix[1] * 3 + ix[0]] + vb[ix[1]]);
    assert_tensor(&out, &[3, 4], DType::F32, &want, 0.0);
    // [2, 1, 3] * [4, 1] -> [2, 4, 3]
    let (c, vc) = random_f32(&[2, 1, 3], 3);
    let (d, vd) = random_f32(&[4, 1], 4);
    let out = c.mul(&d).unwrap();
    let want = reference(&[2, 4, 3], |ix| {
        vc[broadcast_ravel(ix, &[2, 1, 3])] * vd[broadcast_ravel(ix, &[4, 1])]
    });
    assert_tensor(&out, &[2, 4, 3], DType::F32, &want, 1e-6);
}

#[test]
fn every_binary_op_matches_f64() {
    let (a, va) = random_f32(&[5, 4], 5);
    let (b, vb) = random_f32(&[4], 6);
    let b = b.add(3.0).unwrap(); // positive: safe for div and pow
    let vb: Vec<f64> = vb.iter().map(|x| x + 3.0).collect();
    let cases: [(BinaryOp, Binary); 8] = [
        (BinaryOp::Add, |x, y| x + y),
        (BinaryOp::Sub, |x, y| x - y),
        (BinaryOp::Mul, |x, y| x * y),
        (BinaryOp::Div, |x, y| x / y),
        (BinaryOp::Pow, |x, y| x.abs().powf(y)),
        (BinaryOp::Maximum, f64::max),
        (BinaryOp::Minimum, f64::min),
        (BinaryOp::Atan2, f64::atan2),
    ];
    let abs_a = a.abs().unwrap();
    for (op, f) in cases {
        let lhs = if op == BinaryOp::Pow { &abs_a } else { &a };
        let out = lhs.binary_op(op, &b).unwrap();
        let want = reference(&[5, 4], |ix| f(va[ix[0] * 4 + ix[1]], vb[ix[1]]));
        assert_tensor(&out, &[5, 4], DType::F32, &want, 1e-5);
    }
}

#[test]
fn comparisons_and_logical_ops_return_bool() {
    let a = Tensor::new([1i64, 2, 3, 4], &cpu()).unwrap();
    let b = Tensor::new([4i64, 2, 1, 4], &cpu()).unwrap();
    let check = |t: tiny_torch_tensor::Result<T>, want: [f64; 4]| {
        assert_tensor(&t.unwrap(), &[4], DType::Bool, &want, 0.0);
    };
    check(a.eq(&b), [0., 1., 0., 1.]);
    check(a.ne(&b), [1., 0., 1., 0.]);
    check(a.lt(&b), [1., 0., 0., 0.]);
    check(a.le(&b), [1., 1., 0., 1.]);
    check(a.gt(&b), [0., 0., 1., 0.]);
    check(a.ge(&b), [0., 1., 1., 1.]);
    // int tensor vs float scalar compares in float
    check(a.gt(2.5), [0., 0., 1., 1.]);
    let p = Tensor::new([true, true, false, false], &cpu()).unwrap();
    let q = Tensor::new([1.0f32, 0.0, 2.0, 0.0], &cpu()).unwrap();
    check(p.logical_and(&q), [1., 0., 0., 0.]);
    check(p.logical_or(&q), [1., 1., 1., 0.]);
    check(p.logical_xor(&q), [0., 1., 1., 0.]);
    check(q.logical_not(), [0., 1., 0., 1.]);
}

#[test]
fn type_promotion_follows_pytorch() {
    let b = cpu();
    let i64s = Tensor::new([1i64, 2, 3], &b).unwrap();
    let i32s = Tensor::new([1i32, 2, 3], &b).unwrap();
    let u8s = Tensor::new([1u8, 2, 3], &b).unwrap();
    let bools = Tensor::new([true, false, true], &b).unwrap();
    let f16s = i64s.to_dtype(DType::F16).unwrap();
    let f64_scalar = Tensor::new(2.0f64, &b).unwrap();
    let i64_scalar = Tensor::new(2i64, &b).unwrap();

    // int tensor + float scalar -> default float dtype
    let r = i64s.add(2.5).unwrap();
    assert_tensor(&r, &[3], DType::F32, &[3.5, 4.5, 5.5], 0.0);
    // int32 tensor + int scalar stays int32
    assert_eq!(i32s.add(2).unwrap().dtype(), DType::I32);
    // int32 tensor + int64 0-dim tensor stays int32 (0-dim ranks below dimensioned tensors)
    assert_eq!(i32s.add(&i64_scalar).unwrap().dtype(), DType::I32);
    // int64 tensor + float64 0-dim tensor -> float64 (higher category)
    assert_eq!(i64s.add(&f64_scalar).unwrap().dtype(), DType::F64);
    // float16 tensor + float scalar stays float16
    assert_eq!(f16s.mul(2.5).unwrap().dtype(), DType::F16);
    assert_eq!(f16s.add(&f64_scalar).unwrap().dtype(), DType::F16);
    // uint8 + int32 -> int32
    assert_eq!(u8s.add(&i32s).unwrap().dtype(), DType::I32);
    // bool + bool stays bool (logical or); bool + int scalar -> int64
    assert_tensor(
        &bools.add(&bools).unwrap(),
        &[3],
        DType::Bool,
        &[1., 0., 1.],
        0.0,
    );
    assert_tensor(&bools.add(1).unwrap(), &[3], DType::I64, &[2., 1., 2.], 0.0);
    // true division of integers is float
    assert_tensor(
        &i64s.div(2).unwrap(),
        &[3],
        DType::F32,
        &[0.5, 1.0, 1.5],
        0.0,
    );
    // float32 + float64 tensors -> float64
    let f32s = i64s.to_dtype(DType::F32).unwrap();
    let f64s = i64s.to_dtype(DType::F64).unwrap();
    assert_eq!(f32s.add(&f64s).unwrap().dtype(), DType::F64);
    // f16 + bf16 -> f32
    let bf16s = i64s.to_dtype(DType::BF16).unwrap();
    assert_eq!(f16s.add(&bf16s).unwrap().dtype(), DType::F32);
    // Scalar values of every kind
    assert_eq!(i64s.add(Scalar::Float(1.0)).unwrap().dtype(), DType::F32);
    assert_eq!(i64s.add(true).unwrap().dtype(), DType::I64);
}

#[test]
fn binary_errors_name_op_and_shapes() {
    let (a, _) = random_f32(&[2, 3], 1);
    let (b, _) = random_f32(&[4], 1);
    assert_err(a.add(&b), &["add", "[2, 3]", "[4]"]);
    let bools = Tensor::new([true, false], &cpu()).unwrap();
    assert_err(bools.sub(&bools), &["sub", "bool"]);
}

#[test]
fn in_place_ops_write_through_views() {
    let (x, v) = random_f32(&[3, 4], 7);
    let col = x.select(1, 2).unwrap();
    col.mul_(10.0).unwrap();
    let (row, vr) = random_f32(&[4], 8);
    x.narrow(0, 1, 2).unwrap().add_(&row).unwrap();
    let want = reference(&[3, 4], |ix| {
        let mut value = v[ix[0] * 4 + ix[1]];
        if ix[1] == 2 {
            value *= 10.0;
        }
        if ix[0] >= 1 {
            value += vr[ix[1]];
        }
        value
    });
    assert_tensor(&x, &[3, 4], DType::F32, &want, 1e-6);
    x.sub_(1).unwrap();
    x.div_(2.0).unwrap();
    let want: Vec<f64> = want.iter().map(|w| (w - 1.0) / 2.0).collect();
    assert_close(&values(&x), &want, 1e-6);
}

#[test]
fn in_place_reads_a_snapshot_of_an_overlapping_rhs() {
    // x[1:] += x[:-1] must use the old values of x[:-1] (no running sum).
    let x = Tensor::new([1.0f32, 2.0, 3.0, 4.0], &cpu()).unwrap();
    let tail = x.narrow(0, 1, 3).unwrap();
    let head = x.narrow(0, 0, 3).unwrap();
    tail.add_(&head).unwrap();
    assert_close(&values(&x), &[1.0, 3.0, 5.0, 7.0], 0.0);
    // x *= x
    x.mul_(&x).unwrap();
    assert_close(&values(&x), &[1.0, 9.0, 25.0, 49.0], 0.0);
    // copy_ from an overlapping view
    let y = Tensor::new([1.0f32, 2.0, 3.0], &cpu()).unwrap();
    y.narrow(0, 1, 2)
        .unwrap()
        .copy_(&y.narrow(0, 0, 2).unwrap())
        .unwrap();
    assert_close(&values(&y), &[1.0, 1.0, 2.0], 0.0);
}

#[test]
fn in_place_errors() {
    let ints = Tensor::new([1i64, 2, 3], &cpu()).unwrap();
    assert_err(ints.add_(0.5), &["add_", "int64", "float32", "[3]"]);
    assert_err(ints.div_(2), &["div_", "int64", "float32"]);
    assert_err(ints.exp_(), &["exp", "int64", "float32"]);
    let bools = Tensor::new([true, false, true], &cpu()).unwrap();
    assert_err(bools.add_(1), &["add_", "bool", "int64"]);
    let (x, _) = random_f32(&[3], 1);
    let (y, _) = random_f32(&[2, 3], 1);
    assert_err(x.add_(&y), &["add_", "[3]", "[2, 3]"]);
    let expanded = x.unsqueeze(0).unwrap().expand(&[2, 3]).unwrap();
    assert_err(expanded.add_(1.0), &["add_", "more than one element"]);
    assert_err(expanded.relu_(), &["relu", "more than one element"]);
    // An int tensor takes integer in-place ops.
    ints.add_(2).unwrap();
    ints.mul_(&Tensor::new([2i64, 2, 2], &cpu()).unwrap())
        .unwrap();
    assert_tensor(&ints, &[3], DType::I64, &[6., 8., 10.], 0.0);
}

#[test]
fn in_place_comparisons_and_logical_not_keep_the_dtype() {
    let x = Tensor::new([1.0f32, 5.0, 3.0], &cpu()).unwrap();
    x.binary_op_(BinaryOp::Lt, 3.0).unwrap();
    assert_tensor(&x, &[3], DType::F32, &[1.0, 0.0, 0.0], 0.0);
    x.logical_not_().unwrap();
    assert_tensor(&x, &[3], DType::F32, &[0.0, 1.0, 1.0], 0.0);
}

#[test]
fn out_forms_check_shape_and_dtype() {
    let (a, va) = random_f32(&[2, 3], 1);
    let (b, vb) = random_f32(&[3], 2);
    let out = Tensor::zeros(&[2, 3], DType::F32, &cpu()).unwrap();
    a.add_out(&b, &out).unwrap();
    let want = reference(&[2, 3], |ix| va[ix[0] * 3 + ix[1]] + vb[ix[1]]);
    assert_close(&values(&out), &want, 1e-6);
    // out may be an input
    a.add_out(&b, &a).unwrap();
    assert_close(&values(&a), &want, 1e-6);
    // out of a wider float dtype takes the result
    let out64 = Tensor::zeros(&[2, 3], DType::F64, &cpu()).unwrap();
    a.add_out(1.0, &out64).unwrap();
    assert_eq!(out64.dtype(), DType::F64);
    let wrong = Tensor::zeros(&[3, 2], DType::F32, &cpu()).unwrap();
    assert_err(a.add_out(&b, &wrong), &["add", "[3, 2]", "[2, 3]"]);
    let ints = Tensor::zeros(&[2, 3], DType::I64, &cpu()).unwrap();
    assert_err(a.add_out(&b, &ints), &["add", "int64", "float32"]);

    let r = Tensor::zeros(&[2, 3], DType::F32, &cpu()).unwrap();
    a.neg().unwrap().relu_out(&r).unwrap();
    let relu: Vec<f64> = want.iter().map(|w| (-w).max(0.0)).collect();
    assert_close(&values(&r), &relu, 1e-6);
    assert_err(a.relu_out(&wrong), &["relu", "[3, 2]", "[2, 3]"]);
    a.unary_op_out(UnaryOp::Neg, &a).unwrap();
    let neg: Vec<f64> = want.iter().map(|w| -w).collect();
    assert_close(&values(&a), &neg, 1e-6);
}

#[test]
fn unary_ops_match_f64() {
    let (x, v) = random_f32(&[3, 5], 11);
    let xt = x.t().unwrap(); // non-contiguous input
    let vt = reference(&[5, 3], |ix| v[ix[1] * 5 + ix[0]]);
    let cases: [(T, Unary); 17] = [
        (xt.neg().unwrap(), |x| -x),
        (xt.abs().unwrap(), f64::abs),
        (xt.exp().unwrap(), f64::exp),
        (xt.sin().unwrap(), f64::sin),
        (xt.cos().unwrap(), f64::cos),
        (xt.tanh().unwrap(), f64::tanh),
        (xt.sigmoid().unwrap(), sigmoid),
        (xt.relu().unwrap(), |x| x.max(0.0)),
        (xt.gelu().unwrap(), |x| {
            0.5 * x * (1.0 + erf(x / 2f64.sqrt()))
        }),
        (xt.gelu_tanh().unwrap(), |x| {
            let c = (2.0 / std::f64::consts::PI).sqrt();
            0.5 * x * (1.0 + (c * (x + 0.044715 * x.powi(3))).tanh())
        }),
        (xt.silu().unwrap(), |x| x * sigmoid(x)),
        (xt.softplus().unwrap(), |x| {
            if x > 20.0 { x } else { x.exp().ln_1p() }
        }),
        (xt.square().unwrap(), |x| x * x),
        (xt.leaky_relu(0.1).unwrap(), |x| {
            if x > 0.0 { x } else { 0.1 * x }
        }),
        (xt.clamp(Some(-0.5), Some(0.75)).unwrap(), |x| {
            x.clamp(-0.5, 0.75)
        }),
        (xt.clamp_min(0.25).unwrap(), |x| x.max(0.25)),
        (xt.clamp_max(0.25).unwrap(), |x| x.min(0.25)),
    ];
    for (i, (out, f)) in cases.iter().enumerate() {
        let want: Vec<f64> = vt.iter().map(|&x| f(x)).collect();
        assert_eq!(out.dims(), &[5, 3], "case {i}");
        assert_close(&values(out), &want, 1e-5);
    }
    let pos = xt.abs().unwrap().add(0.5).unwrap();
    let vp: Vec<f64> = vt.iter().map(|x| x.abs() + 0.5).collect();
    let want_log: Vec<f64> = vp.iter().map(|x| x.ln()).collect();
    assert_close(&values(&pos.log().unwrap()), &want_log, 1e-5);
    let want_sqrt: Vec<f64> = vp.iter().map(|x| x.sqrt()).collect();
    assert_close(&values(&pos.sqrt().unwrap()), &want_sqrt, 1e-5);
    let want_rsqrt: Vec<f64> = vp.iter().map(|x| 1.0 / x.sqrt()).collect();
    assert_close(&values(&pos.rsqrt().unwrap()), &want_rsqrt, 1e-5);
}

#[test]
fn unary_dtypes() {
    let ints = Tensor::new([-1i64, 0, 2], &cpu()).unwrap();
    assert_tensor(
        &ints.exp().unwrap(),
        &[3],
        DType::F32,
        &[(-1f64).exp(), 1.0, 2f64.exp()],
        1e-6,
    );
    assert_tensor(&ints.relu().unwrap(), &[3], DType::I64, &[0., 0., 2.], 0.0);
    assert_tensor(&ints.abs().unwrap(), &[3], DType::I64, &[1., 0., 2.], 0.0);
    assert_tensor(&ints.neg().unwrap(), &[3], DType::I64, &[1., 0., -2.], 0.0);
    assert_tensor(
        &ints.clamp(Some(0.0), Some(1.0)).unwrap(),
        &[3],
        DType::I64,
        &[0., 0., 1.],
        0.0,
    );
    assert_tensor(
        &ints.clamp_min(0.5).unwrap(),
        &[3],
        DType::F32,
        &[0.5, 0.5, 2.0],
        0.0,
    );
    assert_err(
        ints.clamp_(Some(0.5), None),
        &["clamp_", "int64", "float32"],
    );
    assert_err(ints.clamp(None, None), &["clamp", "min", "max"]);
    let bools = Tensor::new([true, false], &cpu()).unwrap();
    assert_err(bools.neg(), &["neg", "bool", "[2]"]);
}

#[test]
fn pow_with_scalar_and_tensor_exponents() {
    let ints = Tensor::new([1i64, 2, 3], &cpu()).unwrap();
    assert_tensor(&ints.pow(2).unwrap(), &[3], DType::I64, &[1., 4., 9.], 0.0);
    assert_tensor(
        &ints.pow(0.5).unwrap(),
        &[3],
        DType::F32,
        &[1.0, 2f64.sqrt(), 3f64.sqrt()],
        1e-6,
    );
    let floats = Tensor::new([1.0f64, 4.0, 9.0], &cpu()).unwrap();
    assert_tensor(
        &floats.pow(-0.5).unwrap(),
        &[3],
        DType::F64,
        &[1.0, 0.5, 1.0 / 3.0],
        1e-12,
    );
    let e = Tensor::new([0.0f64, 1.0, 2.0], &cpu()).unwrap();
    assert_tensor(
        &floats.pow(&e).unwrap(),
        &[3],
        DType::F64,
        &[1., 4., 81.],
        0.0,
    );
    floats.pow_(2.0).unwrap();
    assert_tensor(&floats, &[3], DType::F64, &[1., 16., 81.], 0.0);
    ints.pow_(2).unwrap();
    assert_tensor(&ints, &[3], DType::I64, &[1., 4., 9.], 0.0);
    assert_err(ints.pow_(0.5), &["pow_", "int64", "float32"]);
}

#[test]
fn zero_size_element_wise() {
    let e = Tensor::zeros(&[0, 3], DType::F32, &cpu()).unwrap();
    let (row, _) = random_f32(&[3], 1);
    let out = e.add(&row).unwrap();
    assert_eq!(out.dims(), &[0, 3]);
    assert_eq!(out.exp().unwrap().dims(), &[0, 3]);
    e.add_(&row).unwrap();
    assert_eq!(e.lt(&row).unwrap().dtype(), DType::Bool);
    let (x, _) = random_f32(&[2, 3], 1);
    assert_err(x.add(&e), &["add", "[2, 3]", "[0, 3]"]);
}
