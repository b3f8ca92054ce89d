//! Unary ops against f64 formulas: every float dtype, strided inputs and outputs, in place,
//! integer ops, and the unsupported combinations.

use crate::common::*;
use tiny_torch_core::{Backend, DType, Error, UnaryOp};

/// erf by its Maclaurin series (accurate to ~1e-13 for |x| <= 3).
fn erf(x: f64) -> f64 {
    let (mut term, mut sum) = (x, x);
    for n in 1..200 {
        term *= -x * x / n as f64;
        sum += term / (2 * n + 1) as f64;
    }
    sum * 2.0 / std::f64::consts::PI.sqrt()
}

fn reference(op: UnaryOp, x: f64) -> f64 {
    use UnaryOp::*;
    let sigmoid = |x: f64| 1.0 / (1.0 + (-x).exp());
    match op {
        Neg => -x,
        Abs => x.abs(),
        Exp => x.exp(),
        Log => x.ln(),
        Sqrt => x.sqrt(),
        Rsqrt => 1.0 / x.sqrt(),
        Sin => x.sin(),
        Cos => x.cos(),
        Tanh => x.tanh(),
        Sigmoid => sigmoid(x),
        Relu => x.max(0.0),
        Gelu => 0.5 * x * (1.0 + erf(x / 2f64.sqrt())),
        GeluTanh => {
            let k = (2.0 / std::f64::consts::PI).sqrt();
            0.5 * x * (1.0 + (k * (x + 0.044715 * x.powi(3))).tanh())
        }
        Silu => x * sigmoid(x),
        Softplus => {
            if x > 20.0 {
                x
            } else {
                (1.0 + x.exp()).ln()
            }
        }
        LeakyRelu(s) => {
            if x > 0.0 {
                x
            } else {
                s * x
            }
        }
        Square => x * x,
        PowScalar(e) => x.powf(e),
        Clamp { min, max } => {
            let y = min.map_or(x, |m| x.max(m));
            max.map_or(y, |m| y.min(m))
        }
        LogicalNot => (x == 0.0) as u8 as f64,
    }
}

const FLOAT_OPS: [UnaryOp; 20] = [
    UnaryOp::Neg,
    UnaryOp::Abs,
    UnaryOp::Exp,
    UnaryOp::Log,
    UnaryOp::Sqrt,
    UnaryOp::Rsqrt,
    UnaryOp::Sin,
    UnaryOp::Cos,
    UnaryOp::Tanh,
    UnaryOp::Sigmoid,
    UnaryOp::Relu,
    UnaryOp::Gelu,
    UnaryOp::GeluTanh,
    UnaryOp::Silu,
    UnaryOp::Softplus,
    UnaryOp::LeakyRelu(0.1),
    UnaryOp::Square,
    UnaryOp::PowScalar(2.5),
    UnaryOp::Clamp {
        min: Some(-0.5),
        max: Some(1.5),
    },
    UnaryOp::Clamp {
        min: None,
        max: Some(0.25),
    },
];

/// Inputs valid for `op` (positive for log, sqrt and fractional powers).
fn inputs(op: UnaryOp, n: usize) -> Vec<f64> {
    let v = values(n, 7, 3.0);
    match op {
        UnaryOp::Log | UnaryOp::Sqrt | UnaryOp::Rsqrt | UnaryOp::PowScalar(_) => {
            v.iter().map(|x| x.abs() + 0.05).collect()
        }
        _ => v,
    }
}

#[test]
fn float_ops_match_f64_on_a_transposed_input_into_a_strided_output() {
    let b = cpu();
    // src: [4, 6] viewed transposed as [6, 4]; dst: columns 1, 3, 5, 7 of a [6, 8] buffer.
    let src_l = contiguous(&[4, 6]).transpose(0, 1).unwrap();
    let dst_l = contiguous(&[6, 8]).slice(1, 1, 8, 2).unwrap();
    for dtype in FLOATS {
        for op in FLOAT_OPS {
            let x = rounded(&inputs(op, 24), dtype);
            let s = store(&x, dtype);
            let mut d = store(&[-7.0; 48], dtype);
            b.unary(op, view(&s, &src_l), view_mut(&mut d, &dst_l))
                .unwrap();
            let xs = read(&s, &src_l);
            let want: Vec<f64> = xs.iter().map(|&x| reference(op, x)).collect();
            // Output rounding plus, for halves, the f32 compute; absolute slack near zero.
            let atol = if dtype == DType::F64 { 1e-14 } else { 1e-6 };
            assert_close(
                &read(&d, &dst_l),
                &want,
                rtol(dtype),
                atol,
                &format!("{op:?} {dtype}"),
            );
            // untouched gaps
            let all = read_all(&d);
            assert!(
                all.iter().step_by(2).all(|&v| v == -7.0),
                "{op:?} {dtype} wrote a gap"
            );
        }
    }
}

#[test]
fn in_place_matches_out_of_place() {
    let b = cpu();
    for dtype in FLOATS {
        for op in FLOAT_OPS {
            let x = rounded(&inputs(op, 70_000), dtype);
            let l = contiguous(&[70_000]);
            let s = store(&x, dtype);
            let mut out = empty(dtype, x.len());
            b.unary(op, view(&s, &l), view_mut(&mut out, &l)).unwrap();
            let mut inplace = store(&x, dtype);
            b.unary_inplace(op, view_mut(&mut inplace, &l)).unwrap();
            let (a, c) = (read_all(&out), read_all(&inplace));
            assert!(
                a.iter()
                    .zip(&c)
                    .all(|(p, q)| p == q || (p.is_nan() && q.is_nan())),
                "{op:?} {dtype}"
            );
        }
    }
}

#[test]
fn special_values_follow_pytorch() {
    let b = cpu();
    let l = contiguous(&[6]);
    let x = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.0, -0.0, 30.0];
    let run = |op, dtype| {
        let s = store(&x, dtype);
        let mut d = empty(dtype, 6);
        b.unary(op, view(&s, &l), view_mut(&mut d, &l)).unwrap();
        read_all(&d)
    };
    for dtype in [DType::F32, DType::F64] {
        let relu = run(UnaryOp::Relu, dtype);
        assert!(relu[0].is_nan());
        assert_eq!(&relu[1..], &[f64::INFINITY, 0.0, 0.0, 0.0, 30.0]);
        let sig = run(UnaryOp::Sigmoid, dtype);
        assert_eq!(&sig[1..3], &[1.0, 0.0]);
        let clamp = run(
            UnaryOp::Clamp {
                min: Some(-1.0),
                max: Some(1.0),
            },
            dtype,
        );
        assert!(clamp[0].is_nan());
        assert_eq!(&clamp[1..], &[1.0, -1.0, 0.0, 0.0, 1.0]);
        let sp = run(UnaryOp::Softplus, dtype);
        assert_eq!(sp[5], 30.0);
        assert_eq!(&sp[1..3], &[f64::INFINITY, 0.0]);
        // gelu and silu of -inf are -inf * 0 = NaN by PyTorch's formulas
        let gelu = run(UnaryOp::Gelu, dtype);
        assert!(gelu[1] == f64::INFINITY && gelu[2].is_nan() && gelu[5] == 30.0);
        let silu = run(UnaryOp::Silu, dtype);
        assert!(silu[1] == f64::INFINITY && silu[2].is_nan());
        // min > max: everything becomes max, as torch.clamp does
        let inverted = run(
            UnaryOp::Clamp {
                min: Some(2.0),
                max: Some(1.0),
            },
            dtype,
        );
        assert_eq!(&inverted[1..], &[1.0; 5]);
    }
}

#[test]
fn integer_ops_wrap_and_clamp_to_integers() {
    let b = cpu();
    let l = contiguous(&[5]);
    let x = [-3.0, -1.0, 0.0, 2.0, 100.0];
    for dtype in [DType::I32, DType::I64] {
        let run = |op| {
            let s = store(&x, dtype);
            let mut d = empty(dtype, 5);
            b.unary(op, view(&s, &l), view_mut(&mut d, &l))
                .map(|_| read_all(&d))
        };
        assert_eq!(
            run(UnaryOp::Neg).unwrap(),
            vec![3.0, 1.0, 0.0, -2.0, -100.0]
        );
        assert_eq!(run(UnaryOp::Abs).unwrap(), vec![3.0, 1.0, 0.0, 2.0, 100.0]);
        assert_eq!(run(UnaryOp::Relu).unwrap(), vec![0.0, 0.0, 0.0, 2.0, 100.0]);
        assert_eq!(
            run(UnaryOp::Square).unwrap(),
            vec![9.0, 1.0, 0.0, 4.0, 10000.0]
        );
        assert_eq!(
            run(UnaryOp::PowScalar(3.0)).unwrap(),
            vec![-27.0, -1.0, 0.0, 8.0, 1e6]
        );
        assert_eq!(
            run(UnaryOp::Clamp {
                min: Some(-1.5),
                max: Some(2.5)
            })
            .unwrap(),
            vec![-1.0, -1.0, 0.0, 2.0, 2.0]
        );
        assert!(matches!(
            run(UnaryOp::PowScalar(-1.0)),
            Err(Error::InvalidArgument { .. })
        ));
        for op in [UnaryOp::Exp, UnaryOp::Gelu, UnaryOp::LeakyRelu(0.1)] {
            assert_unsupported(run(op), op.name(), dtype);
        }
        assert_unsupported(run(UnaryOp::PowScalar(0.5)), "pow", dtype);
    }
    // u8 wraps like PyTorch's uint8
    let s = store(&[0.0, 1.0, 16.0, 255.0], DType::U8);
    let l4 = contiguous(&[4]);
    let mut d = empty(DType::U8, 4);
    b.unary(UnaryOp::Neg, view(&s, &l4), view_mut(&mut d, &l4))
        .unwrap();
    assert_eq!(read_all(&d), vec![0.0, 255.0, 240.0, 1.0]);
    b.unary(UnaryOp::Square, view(&s, &l4), view_mut(&mut d, &l4))
        .unwrap();
    assert_eq!(read_all(&d), vec![0.0, 1.0, 0.0, 1.0]);
    // i64 extremes wrap instead of panicking
    let m = store(&[i64::MIN as f64], DType::I64);
    let l1 = contiguous(&[1]);
    let mut d = empty(DType::I64, 1);
    b.unary(UnaryOp::Abs, view(&m, &l1), view_mut(&mut d, &l1))
        .unwrap();
    assert_eq!(read_all(&d), vec![i64::MIN as f64]);
}

#[test]
fn logical_not_gives_bool_for_every_dtype() {
    let b = cpu();
    let l = contiguous(&[3]);
    for dtype in tiny_torch_core::DType::ALL {
        let s = store(&[0.0, 1.0, 0.0], dtype);
        let mut d = empty(DType::Bool, 3);
        b.unary(UnaryOp::LogicalNot, view(&s, &l), view_mut(&mut d, &l))
            .unwrap();
        assert_eq!(read_all(&d), vec![1.0, 0.0, 1.0], "{dtype}");
        // the output must be bool
        if dtype != DType::Bool {
            let mut wrong = empty(dtype, 3);
            assert!(matches!(
                b.unary(UnaryOp::LogicalNot, view(&s, &l), view_mut(&mut wrong, &l)),
                Err(Error::DType { .. })
            ));
        }
    }
    let mut s = store(&[0.0, 1.0, 1.0], DType::Bool);
    b.unary_inplace(UnaryOp::LogicalNot, view_mut(&mut s, &l))
        .unwrap();
    assert_eq!(read_all(&s), vec![1.0, 0.0, 0.0]);
    // bool has nothing else
    for op in [UnaryOp::Neg, UnaryOp::Abs, UnaryOp::Relu, UnaryOp::Exp] {
        let mut d = empty(DType::Bool, 3);
        let s = store(&[0.0, 1.0, 0.0], DType::Bool);
        assert_unsupported(
            b.unary(op, view(&s, &l), view_mut(&mut d, &l)),
            op.name(),
            DType::Bool,
        );
    }
}

#[test]
fn broadcast_zero_size_and_mismatched_outputs() {
    let b = cpu();
    // a stride-0 source (one value broadcast to [3, 4])
    let s = store(&[2.0], DType::F32);
    let bl = contiguous(&[1, 1]).expand(&[3, 4]).unwrap();
    let l = contiguous(&[3, 4]);
    let mut d = empty(DType::F32, 12);
    b.unary(UnaryOp::Square, view(&s, &bl), view_mut(&mut d, &l))
        .unwrap();
    assert_eq!(read_all(&d), vec![4.0; 12]);
    // zero-size
    let e = contiguous(&[0, 3]);
    let s = empty(DType::F32, 0);
    let mut d = empty(DType::F32, 0);
    b.unary(UnaryOp::Exp, view(&s, &e), view_mut(&mut d, &e))
        .unwrap();
    // wrong dtype or shape of the output
    let s = store(&[1.0, 2.0], DType::F32);
    let l2 = contiguous(&[2]);
    let mut d64 = empty(DType::F64, 2);
    assert!(matches!(
        b.unary(UnaryOp::Exp, view(&s, &l2), view_mut(&mut d64, &l2)),
        Err(Error::DType { .. })
    ));
    let mut d3 = empty(DType::F32, 3);
    assert!(
        b.unary(
            UnaryOp::Exp,
            view(&s, &l2),
            view_mut(&mut d3, &contiguous(&[3]))
        )
        .is_err()
    );
    // a layout reaching past its storage is an error, not a crash
    let mut small = empty(DType::F32, 1);
    assert!(
        b.unary(UnaryOp::Exp, view(&s, &l2), view_mut(&mut small, &l2))
            .is_err()
    );
}
