//! Element-wise ops: unary math, binary ops with broadcasting, comparisons and logical ops,
//! PyTorch type promotion, in-place and out= forms, strided inputs, half precision.

use crate::common::*;
use tiny_torch::{Backend, DType, Result, Tensor};

pub fn check_elementwise<B: Backend>(b: &B) {
    run_checks(
        "elementwise",
        b,
        &[
            ("unary_float_ops", unary_float_ops::<B>),
            ("unary_half_ops", unary_half_ops::<B>),
            ("unary_int_ops", unary_int_ops::<B>),
            ("binary_broadcast", binary_broadcast::<B>),
            ("scalar_operands", scalar_operands::<B>),
            ("comparisons_and_logical", comparisons_and_logical::<B>),
            ("type_promotion", type_promotion::<B>),
            ("inplace_and_out", inplace_and_out::<B>),
            ("scaled_add", scaled_add::<B>),
            ("foreach_scaled_add", foreach_scaled_add::<B>),
            ("relu_backward", relu_backward::<B>),
            ("relu_backward_half", relu_backward_half::<B>),
            ("strided_inputs", strided_inputs::<B>),
            ("half_binary", half_binary::<B>),
        ],
    );
}

type UnaryFn<B> = fn(&Tensor<B>) -> Result<Tensor<B>>;
type BinaryFn<B> = fn(&Tensor<B>, &Tensor<B>) -> Result<Tensor<B>>;
type F1 = fn(f64) -> f64;
type F2 = fn(f64, f64) -> f64;
type Predicate = fn(f64, f64) -> bool;
/// (name, op, f64 reference, input range)
type UnaryCase<B> = (&'static str, UnaryFn<B>, F1, f64, f64);

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn unary_cases<B: Backend>() -> Vec<UnaryCase<B>> {
    vec![
        ("neg", |t| t.neg(), |x| -x, -4.0, 4.0),
        ("abs", |t| t.abs(), f64::abs, -4.0, 4.0),
        ("exp", |t| t.exp(), f64::exp, -6.0, 6.0),
        ("log", |t| t.log(), f64::ln, 0.01, 20.0),
        ("sqrt", |t| t.sqrt(), f64::sqrt, 0.0, 20.0),
        ("rsqrt", |t| t.rsqrt(), |x| 1.0 / x.sqrt(), 0.05, 20.0),
        ("sin", |t| t.sin(), f64::sin, -6.0, 6.0),
        ("cos", |t| t.cos(), f64::cos, -6.0, 6.0),
        ("tanh", |t| t.tanh(), f64::tanh, -5.0, 5.0),
        ("sigmoid", |t| t.sigmoid(), sigmoid, -8.0, 8.0),
        ("relu", |t| t.relu(), |x| x.max(0.0), -4.0, 4.0),
        (
            "gelu",
            |t| t.gelu(),
            |x| 0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2)),
            -4.0,
            4.0,
        ),
        (
            "gelu_tanh",
            |t| t.gelu_tanh(),
            |x| {
                let k = (2.0 / std::f64::consts::PI).sqrt();
                0.5 * x * (1.0 + (k * (x + 0.044715 * x * x * x)).tanh())
            },
            -4.0,
            4.0,
        ),
        ("silu", |t| t.silu(), |x| x * sigmoid(x), -6.0, 6.0),
        (
            "softplus",
            |t| t.softplus(),
            |x| if x > 20.0 { x } else { x.exp().ln_1p() },
            -10.0,
            30.0,
        ),
        (
            "leaky_relu(0.1)",
            |t| t.leaky_relu(0.1),
            |x| if x > 0.0 { x } else { 0.1 * x },
            -4.0,
            4.0,
        ),
        ("square", |t| t.square(), |x| x * x, -4.0, 4.0),
        ("pow(3.0)", |t| t.pow(3.0), |x| x.powi(3), -3.0, 3.0),
        ("pow(0.5)", |t| t.pow(0.5), f64::sqrt, 0.0, 9.0),
        (
            "clamp(-0.5, 0.7)",
            |t| t.clamp(Some(-0.5), Some(0.7)),
            |x| x.clamp(-0.5, 0.7),
            -2.0,
            2.0,
        ),
        (
            "clamp_min(0.25)",
            |t| t.clamp_min(0.25),
            |x| x.max(0.25),
            -2.0,
            2.0,
        ),
        (
            "clamp_max(-0.25)",
            |t| t.clamp_max(-0.25),
            |x| x.min(-0.25),
            -2.0,
            2.0,
        ),
    ]
}

fn unary_float_ops<B: Backend>(b: &B) {
    let shape = [4, 16];
    for (dtype, rtol, atol) in [(DType::F32, 1e-5, 1e-6), (DType::F64, 1e-10, 1e-12)] {
        for (seed, (name, op, reference, lo, hi)) in unary_cases::<B>().into_iter().enumerate() {
            let mut x: Vec<f64> = data(64, seed as u64, lo, hi);
            // Hit the interesting points exactly: 0 and the ends of the range.
            x[0] = 0.0_f64.clamp(lo, hi);
            x[1] = lo;
            x = x.into_iter().map(|v| round_to(dtype, v)).collect();
            let t = tensor(&x, &shape, dtype, b);
            let want: Vec<f64> = x.iter().map(|&v| reference(v)).collect();
            let got = op(&t).unwrap_or_else(|e| panic!("{name} on {dtype}: {e}"));
            assert_close(
                &format!("{name} on {dtype}"),
                &got,
                &want,
                &shape,
                dtype,
                rtol,
                atol,
            );
        }
    }
}

fn unary_half_ops<B: Backend>(b: &B) {
    // Half-precision results are the f32 math rounded once: within one half ulp of the
    // correctly rounded reference (f16 has 10 mantissa bits, bf16 7).
    for (dtype, rtol) in [
        (DType::F16, 2.0f64.powi(-10)),
        (DType::BF16, 2.0f64.powi(-7)),
    ] {
        for (name, op, reference, lo, hi) in unary_cases::<B>() {
            let x: Vec<f64> = data(32, 7, lo, hi)
                .into_iter()
                .map(|v| round_to(dtype, v))
                .collect();
            let t = tensor(&x, &[32], dtype, b);
            let want: Vec<f64> = x.iter().map(|&v| round_to(dtype, reference(v))).collect();
            let got = op(&t).unwrap_or_else(|e| panic!("{name} on {dtype}: {e}"));
            assert_close(
                &format!("{name} on {dtype}"),
                &got,
                &want,
                &[32],
                dtype,
                rtol,
                1e-3,
            );
        }
    }
}

fn unary_int_ops<B: Backend>(b: &B) {
    let x = [-3.0, -1.0, 0.0, 2.0, 5.0, 7.0];
    for dtype in [DType::I64, DType::I32] {
        let t = tensor(&x, &[2, 3], dtype, b);
        let neg: Vec<f64> = x.iter().map(|v| -v).collect();
        assert_exact("neg int", &t.neg().unwrap(), &neg, &[2, 3], dtype);
        let abs: Vec<f64> = x.iter().map(|v| v.abs()).collect();
        assert_exact("abs int", &t.abs().unwrap(), &abs, &[2, 3], dtype);
        let relu: Vec<f64> = x.iter().map(|v| v.max(0.0)).collect();
        assert_exact("relu int", &t.relu().unwrap(), &relu, &[2, 3], dtype);
        let sq: Vec<f64> = x.iter().map(|v| v * v).collect();
        assert_exact("square int", &t.square().unwrap(), &sq, &[2, 3], dtype);
        // Float-only math converts integers to the default float dtype, as in PyTorch.
        let exp: Vec<f64> = x.iter().map(|v| v.exp()).collect();
        assert_close(
            "exp int",
            &t.exp().unwrap(),
            &exp,
            &[2, 3],
            DType::F32,
            1e-6,
            0.0,
        );
        let clamped: Vec<f64> = x.iter().map(|v| v.clamp(-1.0, 4.0)).collect();
        let c = t.clamp(Some(-1.0), Some(4.0)).unwrap();
        assert_exact("clamp int by ints", &c, &clamped, &[2, 3], dtype);
        let c = t.clamp(Some(-0.5), None).unwrap();
        let want: Vec<f64> = x.iter().map(|v| v.max(-0.5)).collect();
        assert_exact("clamp int by a fraction", &c, &want, &[2, 3], DType::F32);
    }
    let t = tensor(&[0.0, 1.5, -2.0], &[3], DType::F32, b);
    assert_exact(
        "logical_not",
        &t.logical_not().unwrap(),
        &[1.0, 0.0, 0.0],
        &[3],
        DType::Bool,
    );
}

fn binary_broadcast<B: Backend>(b: &B) {
    let cases: Vec<(&str, BinaryFn<B>, F2)> = vec![
        ("add", |x, y| x.add(y), |x, y| x + y),
        ("sub", |x, y| x.sub(y), |x, y| x - y),
        ("mul", |x, y| x.mul(y), |x, y| x * y),
        ("div", |x, y| x.div(y), |x, y| x / y),
        ("maximum", |x, y| x.maximum(y), f64::max),
        ("minimum", |x, y| x.minimum(y), f64::min),
        ("atan2", |x, y| x.atan2(y), f64::atan2),
        (
            "pow",
            |x, y| x.abs()?.add(0.1)?.pow(y),
            |x, y| (x.abs() + 0.1).powf(y),
        ),
        ("&a + &b", |x, y| x + y, |x, y| x + y),
        ("&a - &b", |x, y| x - y, |x, y| x - y),
        ("&a * &b", |x, y| x * y, |x, y| x * y),
        ("&a / &b", |x, y| x / y, |x, y| x / y),
    ];
    let shapes: [(&[usize], &[usize]); 5] = [
        (&[2, 1, 3], &[4, 1]),
        (&[5], &[5]),
        (&[3, 4], &[]),
        (&[1, 6], &[5, 1]),
        (&[2, 3, 4, 5], &[3, 1, 5]),
    ];
    for (dtype, rtol, atol) in [(DType::F32, 2e-6, 1e-6), (DType::F64, 1e-13, 1e-14)] {
        for (sa, sb) in shapes {
            let x: Vec<f64> = data(numel(sa), 1, -3.0, 3.0)
                .into_iter()
                .map(|v| round_to(dtype, v))
                .collect();
            let y: Vec<f64> = data(numel(sb), 2, 0.5, 3.0)
                .into_iter()
                .map(|v| round_to(dtype, v))
                .collect();
            let (tx, ty) = (tensor(&x, sa, dtype, b), tensor(&y, sb, dtype, b));
            for (name, op, f) in &cases {
                let (want, shape) = ref_binary(&x, sa, &y, sb, f);
                let got = op(&tx, &ty).unwrap_or_else(|e| panic!("{name} {sa:?} {sb:?}: {e}"));
                // pow's base |x| + 0.1 is rounded to the dtype first; allow for that.
                let rtol = if *name == "pow" { rtol * 10.0 } else { rtol };
                assert_close(
                    &format!("{name} {sa:?} {sb:?} {dtype}"),
                    &got,
                    &want,
                    &shape,
                    dtype,
                    rtol,
                    atol,
                );
                // And the other way round (broadcasting is symmetric).
                let (want, shape) = ref_binary(&y, sb, &x, sa, f);
                if *name != "pow" {
                    let got = op(&ty, &tx).unwrap();
                    assert_close(
                        &format!("{name} {sb:?} {sa:?} {dtype}"),
                        &got,
                        &want,
                        &shape,
                        dtype,
                        rtol,
                        atol,
                    );
                }
            }
        }
    }
}

fn scalar_operands<B: Backend>(b: &B) {
    let x = data_f32(6, 3, -2.0, 2.0);
    let t = f32_tensor(&x, &[2, 3], b);
    let map = |f: fn(f64) -> f64| -> Vec<f64> { x.iter().map(|&v| f(v)).collect() };
    let s = [2, 3];
    assert_close(
        "x + 2.5",
        &t.add(2.5).unwrap(),
        &map(|v| v + 2.5),
        &s,
        DType::F32,
        1e-6,
        1e-7,
    );
    assert_close(
        "x * -3",
        &t.mul(-3i64).unwrap(),
        &map(|v| v * -3.0),
        &s,
        DType::F32,
        1e-6,
        1e-7,
    );
    assert_close(
        "x - 1",
        &(&t - 1.0).unwrap(),
        &map(|v| v - 1.0),
        &s,
        DType::F32,
        1e-6,
        1e-7,
    );
    assert_close(
        "2 - x",
        &(2.0 - &t).unwrap(),
        &map(|v| 2.0 - v),
        &s,
        DType::F32,
        1e-6,
        1e-7,
    );
    assert_close(
        "1 / x",
        &(1.0 / &t).unwrap(),
        &map(|v| 1.0 / v),
        &s,
        DType::F32,
        1e-6,
        1e-7,
    );
    assert_close(
        "x / 4",
        &(&t / 4.0).unwrap(),
        &map(|v| v / 4.0),
        &s,
        DType::F32,
        1e-6,
        1e-7,
    );
    assert_close(
        "-x",
        &(-&t).unwrap(),
        &map(|v| -v),
        &s,
        DType::F32,
        0.0,
        0.0,
    );
    assert_close(
        "x.pow(2)",
        &t.pow(2.0).unwrap(),
        &map(|v| v * v),
        &s,
        DType::F32,
        1e-6,
        1e-7,
    );
    assert_close(
        "x.maximum(0)",
        &t.maximum(0.0).unwrap(),
        &map(|v| v.max(0.0)),
        &s,
        DType::F32,
        0.0,
        0.0,
    );
}

fn comparisons_and_logical<B: Backend>(b: &B) {
    // Small integers as floats, so that equal elements occur.
    let x: Vec<f64> = data(20, 4, 0.0, 4.0).into_iter().map(f64::floor).collect();
    let y: Vec<f64> = data(5, 5, 0.0, 4.0).into_iter().map(f64::floor).collect();
    let (tx, ty) = (f32_tensor(&x, &[4, 5], b), f32_tensor(&y, &[5], b));
    let cases: Vec<(&str, BinaryFn<B>, Predicate)> = vec![
        ("eq", |a, b| a.eq(b), |a, b| a == b),
        ("ne", |a, b| a.ne(b), |a, b| a != b),
        ("lt", |a, b| a.lt(b), |a, b| a < b),
        ("le", |a, b| a.le(b), |a, b| a <= b),
        ("gt", |a, b| a.gt(b), |a, b| a > b),
        ("ge", |a, b| a.ge(b), |a, b| a >= b),
    ];
    for (name, op, f) in cases {
        let (want, shape) = ref_binary(&x, &[4, 5], &y, &[5], |a, b| f(a, b) as u8 as f64);
        assert_exact(name, &op(&tx, &ty).unwrap(), &want, &shape, DType::Bool);
    }
    let want: Vec<f64> = x.iter().map(|&v| (v > 1.0) as u8 as f64).collect();
    assert_exact(
        "gt scalar",
        &tx.gt(1.0).unwrap(),
        &want,
        &[4, 5],
        DType::Bool,
    );
    let want: Vec<f64> = x.iter().map(|&v| (v == 2.0) as u8 as f64).collect();
    assert_exact(
        "eq int scalar",
        &tx.eq(2i64).unwrap(),
        &want,
        &[4, 5],
        DType::Bool,
    );

    let p = [1.0, 1.0, 0.0, 0.0];
    let q = [1.0, 0.0, 1.0, 0.0];
    let (tp, tq) = (
        tensor(&p, &[4], DType::Bool, b),
        tensor(&q, &[4], DType::Bool, b),
    );
    assert_exact(
        "logical_and",
        &tp.logical_and(&tq).unwrap(),
        &[1.0, 0.0, 0.0, 0.0],
        &[4],
        DType::Bool,
    );
    assert_exact(
        "logical_or",
        &tp.logical_or(&tq).unwrap(),
        &[1.0, 1.0, 1.0, 0.0],
        &[4],
        DType::Bool,
    );
    assert_exact(
        "logical_xor",
        &tp.logical_xor(&tq).unwrap(),
        &[0.0, 1.0, 1.0, 0.0],
        &[4],
        DType::Bool,
    );
    assert_exact(
        "logical_not",
        &tp.logical_not().unwrap(),
        &[0.0, 0.0, 1.0, 1.0],
        &[4],
        DType::Bool,
    );
    // Logical ops on numbers: non-zero is true.
    let f = f32_tensor(&[0.5, 0.0, -2.0, 0.0], &[4], b);
    let i = tensor(&[3.0, 3.0, 0.0, 0.0], &[4], DType::I64, b);
    assert_exact(
        "logical_and f32 i64",
        &f.logical_and(&i).unwrap(),
        &[1.0, 0.0, 0.0, 0.0],
        &[4],
        DType::Bool,
    );
}

fn type_promotion<B: Backend>(b: &B) {
    use DType::*;
    let v = [1.0, -2.0, 3.0];
    let t = |dtype| tensor(&v, &[3], dtype, b);
    let zero_dim = |value: f64, dtype| tensor(&[value], &[], dtype, b);
    // (what, result, expected dtype, expected values)
    let cases: Vec<(&str, Tensor<B>, DType, Vec<f64>)> = vec![
        (
            "i64 + f32",
            t(I64).add(&t(F32)).unwrap(),
            F32,
            vec![2.0, -4.0, 6.0],
        ),
        (
            "i32 * 2.5",
            t(I32).mul(2.5).unwrap(),
            F32,
            vec![2.5, -5.0, 7.5],
        ),
        (
            "i32 + 3",
            t(I32).add(3i64).unwrap(),
            I32,
            vec![4.0, 1.0, 6.0],
        ),
        (
            "u8 + i32",
            tensor(&[1.0, 2.0, 250.0], &[3], U8, b)
                .add(&t(I32))
                .unwrap(),
            I32,
            vec![2.0, 0.0, 253.0],
        ),
        (
            "i64 / i64",
            t(I64)
                .div(&tensor(&[2.0, 4.0, -2.0], &[3], I64, b))
                .unwrap(),
            F32,
            vec![0.5, -0.5, -1.5],
        ),
        (
            "f16 + f32",
            t(F16).add(&t(F32)).unwrap(),
            F32,
            vec![2.0, -4.0, 6.0],
        ),
        (
            "f16 + 2.5",
            t(F16).add(2.5).unwrap(),
            F16,
            vec![3.5, 0.5, 5.5],
        ),
        (
            "bf16 + f16",
            t(BF16).add(&t(F16)).unwrap(),
            F32,
            vec![2.0, -4.0, 6.0],
        ),
        (
            "f32 + f64",
            t(F32).add(&t(F64)).unwrap(),
            F64,
            vec![2.0, -4.0, 6.0],
        ),
        (
            "bool + bool",
            tensor(&[1.0, 0.0, 1.0], &[3], Bool, b)
                .add(&tensor(&[1.0, 0.0, 0.0], &[3], Bool, b))
                .unwrap(),
            Bool,
            vec![1.0, 0.0, 1.0],
        ),
        (
            "bool + 1",
            tensor(&[1.0, 0.0, 1.0], &[3], Bool, b).add(1i64).unwrap(),
            I64,
            vec![2.0, 1.0, 2.0],
        ),
        (
            "f32 + f64 0-dim",
            t(F32).add(&zero_dim(0.5, F64)).unwrap(),
            F32,
            vec![1.5, -1.5, 3.5],
        ),
        (
            "i64 + f64 0-dim",
            t(I64).add(&zero_dim(0.5, F64)).unwrap(),
            F64,
            vec![1.5, -1.5, 3.5],
        ),
        (
            "i32 + i64 0-dim",
            t(I32).add(&zero_dim(2.0, I64)).unwrap(),
            I32,
            vec![3.0, 0.0, 5.0],
        ),
        (
            "f32 0-dim * i64",
            zero_dim(2.0, F32).mul(&t(I64)).unwrap(),
            F32,
            vec![2.0, -4.0, 6.0],
        ),
        (
            "i64 / 0 (true division)",
            t(I64).div(0i64).unwrap(),
            F32,
            vec![f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY],
        ),
        (
            "i64 == f32",
            t(I64).eq(&t(F32)).unwrap(),
            Bool,
            vec![1.0, 1.0, 1.0],
        ),
    ];
    for (what, got, dtype, want) in cases {
        let shape = got.dims().to_vec();
        assert_eq!(shape, [3], "{what}: shape");
        assert_exact(what, &got, &want, &[3], dtype);
    }
}

fn inplace_and_out<B: Backend>(b: &B) {
    let x = data_f32(6, 6, -2.0, 2.0);
    let y = data_f32(3, 7, -2.0, 2.0);
    let (want_add, _) = ref_binary(&x, &[2, 3], &y, &[3], |a, b| a + b);

    let a = f32_tensor(&x, &[2, 3], b);
    a.add_(&f32_tensor(&y, &[3], b)).unwrap();
    assert_close(
        "add_ broadcast",
        &a,
        &want_add,
        &[2, 3],
        DType::F32,
        1e-6,
        1e-7,
    );
    a.mul_(2.0).unwrap();
    let doubled: Vec<f64> = want_add.iter().map(|v| v * 2.0).collect();
    assert_close("mul_ scalar", &a, &doubled, &[2, 3], DType::F32, 1e-6, 1e-7);

    // An in-place op on a view writes through to the base, and only there.
    let base = f32_tensor(&data_f32(16, 8, -2.0, 2.0), &[4, 4], b);
    let before = host(&base);
    base.narrow(1, 1, 2).unwrap().relu_().unwrap();
    let want: Vec<f64> = before
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            if (1..3).contains(&(i % 4)) {
                v.max(0.0)
            } else {
                v
            }
        })
        .collect();
    assert_close(
        "relu_ on a view",
        &base,
        &want,
        &[4, 4],
        DType::F32,
        0.0,
        0.0,
    );

    // The source of an in-place op may alias the destination (a snapshot is read).
    let m = data_f32(9, 9, -2.0, 2.0);
    let tm = f32_tensor(&m, &[3, 3], b);
    tm.add_(&tm.t().unwrap()).unwrap();
    let want: Vec<f64> = (0..9).map(|i| m[i] + m[(i % 3) * 3 + i / 3]).collect();
    assert_close("x.add_(x.t())", &tm, &want, &[3, 3], DType::F32, 1e-6, 1e-7);

    // Integer in-place keeps its dtype; an int rhs into a float destination is fine.
    let ti = tensor(&[1.0, 2.0, 3.0], &[3], DType::I64, b);
    ti.add_(5i64).unwrap();
    assert_exact("i64 add_", &ti, &[6.0, 7.0, 8.0], &[3], DType::I64);
    let tf = f32_tensor(&[0.5, 0.5, 0.5], &[3], b);
    tf.add_(&ti).unwrap();
    assert_exact("f32 add_ i64", &tf, &[6.5, 7.5, 8.5], &[3], DType::F32);

    // out= forms write into a preallocated tensor, also a strided one.
    let out = Tensor::zeros(&[2, 3], DType::F32, b).unwrap();
    f32_tensor(&x, &[2, 3], b)
        .add_out(&f32_tensor(&y, &[3], b), &out)
        .unwrap();
    assert_close("add_out", &out, &want_add, &[2, 3], DType::F32, 1e-6, 1e-7);
    let out_t = Tensor::zeros(&[3, 2], DType::F32, b).unwrap();
    f32_tensor(&x, &[2, 3], b)
        .relu_out(&out_t.t().unwrap())
        .unwrap();
    let want: Vec<f64> = (0..6).map(|i| x[(i % 2) * 3 + i / 2].max(0.0)).collect();
    assert_close(
        "relu_out into a transposed view",
        &out_t,
        &want,
        &[3, 2],
        DType::F32,
        0.0,
        0.0,
    );
}

/// relu's gradient `x <= 0 ? 0 : g` (PyTorch's `threshold_backward(g, x, 0)`), exactly:
/// zeros of both signs and NaN (which lets the gradient through) in `x`, NaN and infinity in
/// the gradient, a broadcast gradient, 1003 f64 elements (a vectorized path and its tail), and
/// a transposed `x` (the strided path).
fn relu_backward<B: Backend>(b: &B) {
    let reference = |g: f64, x: f64| if x <= 0.0 { 0.0 } else { g };
    let g = [1.5, -2.0, f64::NAN, f64::INFINITY, 0.25, -0.75, 3.0, 8.0];
    let x = [0.5, 0.0, -0.0, -1.0, f64::NAN, 2.0, -3.0, f64::INFINITY];
    let got = f32_tensor(&g, &[8], b)
        .relu_backward(&f32_tensor(&x, &[8], b))
        .unwrap();
    let want: Vec<f64> = g.iter().zip(&x).map(|(&g, &x)| reference(g, x)).collect();
    assert_exact("f32 specials", &got, &want, &[8], DType::F32);

    let g = data_f32(4, 31, -2.0, 2.0);
    let x = data_f32(12, 32, -2.0, 2.0);
    let (want, shape) = ref_binary(&g, &[4], &x, &[3, 4], reference);
    let got = f32_tensor(&g, &[4], b)
        .relu_backward(&f32_tensor(&x, &[3, 4], b))
        .unwrap();
    assert_exact("f32, broadcast gradient", &got, &want, &shape, DType::F32);

    let g = data(1003, 33, -3.0, 3.0);
    let x = data(1003, 34, -3.0, 3.0);
    let got = tensor(&g, &[1003], DType::F64, b)
        .relu_backward(&tensor(&x, &[1003], DType::F64, b))
        .unwrap();
    let want: Vec<f64> = g.iter().zip(&x).map(|(&g, &x)| reference(g, x)).collect();
    assert_exact("f64, 1003 elements", &got, &want, &[1003], DType::F64);

    let g = data_f32(20 * 30, 35, -2.0, 2.0);
    let x = data_f32(30 * 20, 36, -2.0, 2.0);
    let xt = f32_tensor(&x, &[30, 20], b).t().unwrap();
    let got = f32_tensor(&g, &[20, 30], b).relu_backward(&xt).unwrap();
    let want: Vec<f64> = (0..600)
        .map(|k| reference(g[k], x[(k % 30) * 20 + k / 30]))
        .collect();
    assert_exact("f32, transposed x", &got, &want, &[20, 30], DType::F32);
}

/// [`relu_backward`] in f16 and bf16 (a selection: no rounding happens).
fn relu_backward_half<B: Backend>(b: &B) {
    for dtype in [DType::F16, DType::BF16] {
        let g = [1.5, -2.0, 0.25, -0.75, 3.0, 8.0, f64::NAN, 4.0];
        let x = [0.5, 0.0, -1.0, 2.0, -3.0, f64::INFINITY, 1.0, f64::NAN];
        let got = tensor(&g, &[8], dtype, b)
            .relu_backward(&tensor(&x, &[8], dtype, b))
            .unwrap();
        let want = [1.5, 0.0, 0.0, -0.75, 0.0, 8.0, f64::NAN, 4.0];
        assert_exact(&format!("{dtype}"), &got, &want, &[8], dtype);
    }
}

/// `x.scaled_add_(alpha, y, beta)` = `alpha * x + beta * y` in place (the optimizers' update;
/// one kernel on CUDA), against float64: broadcast, a transposed destination, a size past the
/// vectorized tail, half precision, and the paths that go through `mul_` + `add_` (mixed
/// dtypes, an update autograd records).
fn scaled_add<B: Backend>(b: &B) {
    let (alpha, beta) = (0.9, -0.013);
    let x = data_f32(6, 21, -2.0, 2.0);
    let y = data_f32(3, 22, -2.0, 2.0);
    let (want, _) = ref_binary(&x, &[2, 3], &y, &[3], |d, s| alpha * d + beta * s);
    let t = f32_tensor(&x, &[2, 3], b);
    t.scaled_add_(alpha, &f32_tensor(&y, &[3], b), beta)
        .unwrap();
    assert_close(
        "f32, broadcast y",
        &t,
        &want,
        &[2, 3],
        DType::F32,
        1e-6,
        1e-7,
    );

    // f64, 1003 elements (the vectorized path and its tail), and through a transposed view
    // (the strided path).
    let x = data(1003, 23, -3.0, 3.0);
    let y = data(1003, 24, -3.0, 3.0);
    let t = tensor(&x, &[1003], DType::F64, b);
    t.scaled_add_(alpha, &tensor(&y, &[1003], DType::F64, b), beta)
        .unwrap();
    let want: Vec<f64> = x
        .iter()
        .zip(&y)
        .map(|(d, s)| alpha * d + beta * s)
        .collect();
    assert_close(
        "f64, 1003 elements",
        &t,
        &want,
        &[1003],
        DType::F64,
        1e-14,
        1e-15,
    );
    let x = data_f32(20 * 30, 25, -2.0, 2.0);
    let y = data_f32(30 * 20, 26, -2.0, 2.0);
    let base = f32_tensor(&x, &[20, 30], b);
    base.t()
        .unwrap()
        .scaled_add_(1.0, &f32_tensor(&y, &[30, 20], b), -0.5)
        .unwrap();
    // base[i][j] += -0.5 * y[j][i]
    let want: Vec<f64> = (0..600)
        .map(|k| x[k] - 0.5 * y[(k % 30) * 20 + k / 30])
        .collect();
    assert_close(
        "into a transposed view",
        &base,
        &want,
        &[20, 30],
        DType::F32,
        1e-6,
        1e-7,
    );

    // Half precision: within two of the dtype's ulps of the terms' size (a fused kernel rounds
    // once, the element-wise ops each term and the sum, which may cancel).
    for (dtype, ulp) in [(DType::F16, 1.0 / 1024.0), (DType::BF16, 1.0 / 128.0)] {
        let x: Vec<f64> = data(257, 27, -2.0, 2.0)
            .iter()
            .map(|&v| round_to(dtype, v))
            .collect();
        let y: Vec<f64> = data(257, 28, -2.0, 2.0)
            .iter()
            .map(|&v| round_to(dtype, v))
            .collect();
        let t = tensor(&x, &[257], dtype, b);
        t.scaled_add_(alpha, &tensor(&y, &[257], dtype, b), 0.25)
            .unwrap();
        assert_eq!(t.dtype(), dtype, "{dtype}: dtype");
        for (i, got) in host(&t).into_iter().enumerate() {
            let (d, s) = (alpha * x[i], 0.25 * y[i]);
            let bound = 2.0 * ulp * (d.abs() + s.abs()) + 1e-6;
            assert!(
                (got - (d + s)).abs() <= bound,
                "{dtype} element {i}: got {got}, want {} within {bound}",
                d + s
            );
        }
    }

    // Mixed dtypes take mul_ + add_, with their promotion: f32 += f64 stays f32.
    let t = f32_tensor(&[1.0, -2.0, 4.0], &[3], b);
    t.scaled_add_(0.5, &tensor(&[2.0, 2.0, 2.0], &[3], DType::F64, b), 3.0)
        .unwrap();
    assert_exact("f32 dst, f64 src", &t, &[6.5, 5.0, 8.0], &[3], DType::F32);

    // A source that is the destination itself: `x = alpha x + beta x` (on backends without a
    // fused update too, whose `mul_` must not change the addend first).
    let w = data_f32(5, 29, -2.0, 2.0);
    let t = f32_tensor(&w, &[5], b);
    t.scaled_add_(alpha, &t, beta).unwrap();
    let want: Vec<f64> = w.iter().map(|v| (alpha + beta) * v).collect();
    assert_close(
        "x = alpha x + beta x",
        &t,
        &want,
        &[5],
        DType::F32,
        1e-6,
        1e-7,
    );
    t.scaled_add_(alpha, &t, 1.0).unwrap();
    let want: Vec<f64> = want.iter().map(|v| (alpha + 1.0) * v).collect();
    assert_close("x = alpha x + x", &t, &want, &[5], DType::F32, 1e-6, 1e-7);

    // Recorded by autograd: d/dx of sum(alpha * (2x) + beta * z) is 2 * alpha.
    let leaf = f32_tensor(&[1.0, 2.0, 3.0], &[3], b)
        .requires_grad_(true)
        .unwrap();
    let y = leaf.mul(2.0).unwrap();
    y.scaled_add_(alpha, &f32_tensor(&[1.0, 1.0, 1.0], &[3], b), beta)
        .unwrap();
    y.sum().unwrap().backward().unwrap();
    let grad = leaf.grad().unwrap();
    assert_close(
        "gradient",
        &grad,
        &[2.0 * alpha; 3],
        &[3],
        DType::F32,
        1e-6,
        1e-7,
    );
}

/// `Tensor::foreach_scaled_add_(dsts, alpha, srcs, beta)` = `alpha * dst + beta * src` for
/// each pair (the foreach SGD update; CUDA runs many pairs per launch), against float64: in
/// one list, pairs of four float dtypes, a pair of two chunks of a launch, a misaligned view,
/// more pairs than one launch carries, a transposed destination and a broadcast source (which
/// go one by one), and pairs that read another pair's destination (applied in list order).
/// An invalid pair anywhere is an error before any tensor changes.
fn foreach_scaled_add<B: Backend>(b: &B) {
    let (alpha, beta) = (0.9, -0.013);
    // (values of dst, values of src, shape, dtype)
    type Case = (Vec<f64>, Vec<f64>, Vec<usize>, DType);
    let mut cases: Vec<Case> = vec![
        (
            data_f32(3, 40, -2.0, 2.0),
            data_f32(3, 41, -2.0, 2.0),
            vec![3],
            DType::F32,
        ),
        (
            data_f32(140_003, 42, -2.0, 2.0),
            data_f32(140_003, 43, -2.0, 2.0),
            vec![140_003],
            DType::F32,
        ),
        (
            data(1003, 44, -3.0, 3.0),
            data(1003, 45, -3.0, 3.0),
            vec![17, 59],
            DType::F64,
        ),
    ];
    for (k, dtype) in [DType::F16, DType::BF16].into_iter().enumerate() {
        let rounded = |seed| -> Vec<f64> {
            data(257, seed, -2.0, 2.0)
                .iter()
                .map(|&v| round_to(dtype, v))
                .collect()
        };
        cases.push((
            rounded(46 + 2 * k as u64),
            rounded(47 + 2 * k as u64),
            vec![257],
            dtype,
        ));
    }
    for k in 0..70 {
        cases.push((
            data_f32(5, 50 + k, -1.0, 1.0),
            data_f32(5, 150 + k, -1.0, 1.0),
            vec![5],
            DType::F32,
        ));
    }
    let mut dsts: Vec<Tensor<B>> = cases
        .iter()
        .map(|(x, _, shape, dtype)| tensor(x, shape, *dtype, b))
        .collect();
    let mut srcs: Vec<Tensor<B>> = cases
        .iter()
        .map(|(_, y, shape, dtype)| tensor(y, shape, *dtype, b))
        .collect();
    let mut wants: Vec<Vec<f64>> = cases
        .iter()
        .map(|(x, y, _, _)| x.iter().zip(y).map(|(d, s)| alpha * d + beta * s).collect())
        .collect();

    // A view one element into its storage (not 16-byte aligned), and a transposed destination.
    let x = data_f32(1001, 60, -2.0, 2.0);
    let y = data_f32(1000, 61, -2.0, 2.0);
    dsts.push(f32_tensor(&x, &[1001], b).narrow(0, 1, 1000).unwrap());
    srcs.push(f32_tensor(&y, &[1000], b));
    wants.push((0..1000).map(|i| alpha * x[i + 1] + beta * y[i]).collect());
    let x = data_f32(600, 62, -2.0, 2.0);
    let y = data_f32(600, 63, -2.0, 2.0);
    dsts.push(f32_tensor(&x, &[20, 30], b).t().unwrap());
    srcs.push(f32_tensor(&y, &[30, 20], b));
    // dst[i][j] is base[j][i]; the result is read back in dst's (transposed) order.
    wants.push(
        (0..600)
            .map(|k| alpha * x[(k % 20) * 30 + k / 20] + beta * y[k])
            .collect(),
    );
    // A broadcast source.
    let x = data_f32(6, 64, -2.0, 2.0);
    let y = data_f32(3, 65, -2.0, 2.0);
    dsts.push(f32_tensor(&x, &[2, 3], b));
    srcs.push(f32_tensor(&y, &[3], b));
    wants.push((0..6).map(|k| alpha * x[k] + beta * y[k % 3]).collect());
    // Two pairs that read the first pair's destination after it is updated (in list order),
    // and the last one reading its own destination (`x = alpha x + beta x`).
    let first_after = wants[0].clone();
    let z = data_f32(3, 66, -2.0, 2.0);
    dsts.push(f32_tensor(&z, &[3], b));
    srcs.push(dsts[0].clone());
    wants.push(
        (0..3)
            .map(|i| alpha * z[i] + beta * first_after[i])
            .collect(),
    );
    let w = data_f32(3, 67, -2.0, 2.0);
    let own = f32_tensor(&w, &[3], b);
    dsts.push(own.clone());
    srcs.push(own);
    wants.push(w.iter().map(|v| (alpha + beta) * v).collect());

    Tensor::foreach_scaled_add_(&dsts, alpha, &srcs, beta).unwrap();
    for (i, (t, want)) in dsts.iter().zip(&wants).enumerate() {
        let dtype = t.dtype();
        let (rtol, atol) = match dtype {
            DType::F64 => (1e-14, 1e-15),
            DType::F32 => (1e-6, 1e-7),
            // Rounded once from the f32 result: half an ulp of the terms' size, and a little.
            DType::F16 => (1.0 / 1024.0, 2e-3),
            _ => (1.0 / 128.0, 1.6e-2),
        };
        assert_close(
            &format!("pair {i} ({dtype})"),
            t,
            want,
            t.dims(),
            dtype,
            rtol,
            atol,
        );
    }

    // Errors name the op, and nothing changes: a written-to tensor that is expanded, a source
    // that does not broadcast, lists of different lengths.
    let first = f32_tensor(&[1.0, 2.0, 3.0], &[3], b);
    let one = f32_tensor(&[1.0, 1.0, 1.0], &[3], b);
    let expanded = f32_tensor(&[5.0], &[1], b).expand(&[3]).unwrap();
    assert_err(
        "expanded destination",
        Tensor::foreach_scaled_add_(
            &[first.clone(), expanded],
            2.0,
            &[one.clone(), one.clone()],
            1.0,
        ),
        &["foreach_scaled_add_", "single memory location"],
    );
    assert_err(
        "shapes",
        Tensor::foreach_scaled_add_(
            &[first.clone(), f32_tensor(&[1.0; 4], &[4], b)],
            2.0,
            &[one.clone(), one.clone()],
            1.0,
        ),
        &["foreach_scaled_add_", "[3]", "[4]"],
    );
    assert_err(
        "lengths",
        Tensor::foreach_scaled_add_(std::slice::from_ref(&first), 2.0, &[], 1.0),
        &["foreach_scaled_add_", "1 destinations and 0 sources"],
    );
    assert_exact(
        "unchanged after the errors",
        &first,
        &[1.0, 2.0, 3.0],
        &[3],
        DType::F32,
    );
}

fn strided_inputs<B: Backend>(b: &B) {
    // Transposed, offset (narrow), stepped (slice) and broadcast (expand) inputs are read in
    // place; the results must be those of their contiguous copies.
    let x = data_f32(48, 10, -3.0, 3.0); // [6, 8]
    let tx = f32_tensor(&x, &[6, 8], b);

    let t = tx.t().unwrap(); // [8, 6]
    let want: Vec<f64> = (0..48).map(|i| x[(i % 6) * 8 + i / 6].exp()).collect();
    assert_close(
        "exp of a transpose",
        &t.exp().unwrap(),
        &want,
        &[8, 6],
        DType::F32,
        1e-5,
        1e-6,
    );

    let s = tx
        .narrow(0, 1, 4)
        .unwrap()
        .slice(1, 1, isize::MAX, 3)
        .unwrap(); // rows 1..5, cols 1,4,7
    let sv: Vec<f64> = (0..4)
        .flat_map(|r| [1, 4, 7].map(|c| x[(r + 1) * 8 + c]))
        .collect();
    assert_close(
        "neg of a stepped slice",
        &s.neg().unwrap(),
        &sv.iter().map(|v| -v).collect::<Vec<_>>(),
        &[4, 3],
        DType::F32,
        0.0,
        0.0,
    );

    let row = f32_tensor(&data_f32(3, 11, -1.0, 1.0), &[1, 3], b);
    let e = row.expand(&[4, 3]).unwrap();
    let got = s.mul(&e).unwrap();
    let r = host(&row);
    let want: Vec<f64> = (0..12).map(|i| sv[i] * r[i % 3]).collect();
    assert_close(
        "stepped slice * expanded row",
        &got,
        &want,
        &[4, 3],
        DType::F32,
        1e-6,
        1e-7,
    );

    let tt = t.narrow(0, 2, 3).unwrap(); // [3, 6] of the transpose
    let ttv: Vec<f64> = (0..18).map(|i| x[(i % 6) * 8 + (i / 6 + 2)]).collect();
    let got = tt.add(&tt.relu().unwrap()).unwrap();
    let want: Vec<f64> = ttv.iter().map(|v| v + v.max(0.0)).collect();
    assert_close(
        "transposed narrow + its relu",
        &got,
        &want,
        &[3, 6],
        DType::F32,
        1e-6,
        1e-7,
    );
}

fn half_binary<B: Backend>(b: &B) {
    for dtype in [DType::F16, DType::BF16] {
        let x: Vec<f64> = data(32, 12, -4.0, 4.0)
            .into_iter()
            .map(|v| round_to(dtype, v))
            .collect();
        let y: Vec<f64> = data(32, 13, -4.0, 4.0)
            .into_iter()
            .map(|v| round_to(dtype, v))
            .collect();
        let (tx, ty) = (tensor(&x, &[4, 8], dtype, b), tensor(&y, &[4, 8], dtype, b));
        let ops: [(&str, F2); 3] = [
            ("add", |a, b| a + b),
            ("mul", |a, b| a * b),
            ("div", |a, b| a / b),
        ];
        for (name, f) in ops {
            let got = match name {
                "add" => tx.add(&ty),
                "mul" => tx.mul(&ty),
                _ => tx.div(&ty),
            }
            .unwrap();
            // Computed in f32 and rounded once: exactly the rounded reference for add and mul.
            let want: Vec<f64> = x
                .iter()
                .zip(&y)
                .map(|(&a, &b)| round_to(dtype, f(a, b)))
                .collect();
            let rtol = if name == "div" { 2.0f64.powi(-7) } else { 0.0 };
            assert_close(
                &format!("{name} {dtype}"),
                &got,
                &want,
                &[4, 8],
                dtype,
                rtol,
                0.0,
            );
        }
    }
}
