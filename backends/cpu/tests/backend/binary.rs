//! Binary ops and `where` against f64 formulas, with broadcast (stride 0), transposed and
//! in-place operands, integer and bool semantics, and errors.

use crate::common::*;
use tiny_torch_core::{Backend, BinaryOp, DType, Error, Layout};

fn reference(op: BinaryOp, a: f64, b: f64) -> f64 {
    use BinaryOp::*;
    let t = |c: bool| c as u8 as f64;
    match op {
        Add => a + b,
        Sub => a - b,
        Mul => a * b,
        Div => a / b,
        Pow => a.powf(b),
        Maximum => {
            if a.is_nan() || b.is_nan() {
                f64::NAN
            } else {
                a.max(b)
            }
        }
        Minimum => {
            if a.is_nan() || b.is_nan() {
                f64::NAN
            } else {
                a.min(b)
            }
        }
        Atan2 => a.atan2(b),
        ReluBackward => {
            if b <= 0.0 {
                0.0
            } else {
                a
            }
        }
        Eq => t(a == b),
        Ne => t(a != b),
        Lt => t(a < b),
        Le => t(a <= b),
        Gt => t(a > b),
        Ge => t(a >= b),
        LogicalAnd => t(a != 0.0 && b != 0.0),
        LogicalOr => t(a != 0.0 || b != 0.0),
        LogicalXor => t((a != 0.0) != (b != 0.0)),
    }
}

/// Runs `op` on `[rows, cols]` layouts and checks every element against `reference`.
fn check(dtype: DType, op: BinaryOp, a: (&[f64], &Layout), b: (&[f64], &Layout)) {
    let be = cpu();
    let (sa, sb) = (store(a.0, dtype), store(b.0, dtype));
    let dims = a.1.dims().to_vec();
    let n: usize = dims.iter().product();
    let out_dtype = if op.returns_bool() {
        DType::Bool
    } else {
        dtype
    };
    let l = contiguous(&dims);
    let mut d = empty(out_dtype, n);
    be.binary(op, view(&sa, a.1), view(&sb, b.1), view_mut(&mut d, &l))
        .unwrap();
    let (xa, xb) = (read(&sa, a.1), read(&sb, b.1));
    let want: Vec<f64> = xa
        .iter()
        .zip(&xb)
        .map(|(&x, &y)| reference(op, x, y))
        .collect();
    let want = if op.returns_bool() {
        want
    } else {
        rounded(&want, dtype)
    };
    let tol = if op.returns_bool() { 0.0 } else { rtol(dtype) };
    assert_close(
        &read_all(&d),
        &want,
        tol,
        1e-300,
        &format!("{op:?} {dtype} {:?}", b.1),
    );
}

#[test]
fn float_ops_with_every_broadcast_pattern() {
    let (m, n) = (37, 41); // not multiples of the vector width
    let a = values(m * n, 1, 4.0);
    let full = values(m * n, 2, 4.0);
    let row = values(n, 3, 4.0);
    let col = values(m, 4, 4.0);
    let l = contiguous(&[m, n]);
    let layouts = [
        (full.clone(), l.clone()),
        (row, contiguous(&[n]).expand(&[m, n]).unwrap()),
        (col, contiguous(&[m, 1]).expand(&[m, n]).unwrap()),
        (vec![1.5], contiguous(&[1]).expand(&[m, n]).unwrap()),
        (full, contiguous(&[n, m]).transpose(0, 1).unwrap()),
    ];
    for dtype in FLOATS {
        for op in BinaryOp::ALL {
            // pow of negative bases to fractional powers is NaN everywhere: use |a| for pow
            let a: Vec<f64> = if op == BinaryOp::Pow {
                a.iter().map(|x| x.abs()).collect()
            } else {
                a.clone()
            };
            for (b, bl) in &layouts {
                check(dtype, op, (&a, &l), (b, bl));
                // and with the broadcast on the left
                check(dtype, op, (b, bl), (&a, &l));
            }
        }
    }
}

#[test]
fn large_inputs_run_in_parallel_chunks() {
    let n = 300_001;
    let a = values(n, 5, 10.0);
    let b = values(n, 6, 10.0);
    let l = contiguous(&[n]);
    for op in [
        BinaryOp::Add,
        BinaryOp::Mul,
        BinaryOp::Gt,
        BinaryOp::Maximum,
    ] {
        check(DType::F32, op, (&a, &l), (&b, &l));
        let scalar = contiguous(&[1]).expand(&[n]).unwrap();
        check(DType::F64, op, (&a, &l), (&[0.25], &scalar));
    }
}

#[test]
fn nan_propagation_and_comparisons_of_specials() {
    let nan = f64::NAN;
    let a = [nan, 1.0, nan, f64::INFINITY, -0.0];
    let b = [1.0, nan, nan, 1.0, 0.0];
    let l = contiguous(&[5]);
    for dtype in FLOATS {
        for op in BinaryOp::ALL {
            check(dtype, op, (&a, &l), (&b, &l));
        }
    }
}

#[test]
fn in_place_with_a_broadcast_right_hand_side() {
    let be = cpu();
    let (m, n) = (33, 65);
    let a = values(m * n, 8, 3.0);
    let row = values(n, 9, 3.0);
    let l = contiguous(&[m, n]);
    let rl = contiguous(&[n]).expand(&[m, n]).unwrap();
    for dtype in FLOATS {
        for op in [
            BinaryOp::Add,
            BinaryOp::Sub,
            BinaryOp::Mul,
            BinaryOp::Div,
            BinaryOp::Minimum,
        ] {
            let mut d = store(&a, dtype);
            let r = store(&row, dtype);
            let before = read_all(&d);
            be.binary_inplace(op, view_mut(&mut d, &l), view(&r, &rl))
                .unwrap();
            let rv = read(&r, &rl);
            let want: Vec<f64> = before
                .iter()
                .zip(&rv)
                .map(|(&x, &y)| reference(op, x, y))
                .collect();
            assert_close(
                &read_all(&d),
                &rounded(&want, dtype),
                rtol(dtype),
                1e-300,
                &format!("{op:?} {dtype}"),
            );
        }
    }
    // into a transposed destination
    let mut d = store(&values(12, 10, 1.0), DType::F64);
    let before = read_all(&d);
    let dl = contiguous(&[3, 4]).transpose(0, 1).unwrap(); // [4, 3]
    let r = store(&[10.0, 20.0, 30.0], DType::F64);
    let rl = contiguous(&[3]).expand(&[4, 3]).unwrap();
    be.binary_inplace(BinaryOp::Add, view_mut(&mut d, &dl), view(&r, &rl))
        .unwrap();
    let want: Vec<f64> = (0..12)
        .map(|i| before[i] + [10.0, 20.0, 30.0][i / 4])
        .collect();
    assert_close(&read_all(&d), &want, 1e-15, 0.0, "transposed in place");
    // comparisons in place need a bool destination
    let mut f = store(&[1.0, 2.0], DType::F32);
    let g = store(&[2.0, 2.0], DType::F32);
    let l2 = contiguous(&[2]);
    assert!(matches!(
        be.binary_inplace(BinaryOp::Lt, view_mut(&mut f, &l2), view(&g, &l2)),
        Err(Error::DType { .. })
    ));
    let mut t = store(&[1.0, 0.0], DType::Bool);
    let u = store(&[1.0, 1.0], DType::Bool);
    be.binary_inplace(BinaryOp::LogicalXor, view_mut(&mut t, &l2), view(&u, &l2))
        .unwrap();
    assert_eq!(read_all(&t), vec![0.0, 1.0]);
}

#[test]
fn integer_semantics() {
    let be = cpu();
    let a = [7.0, -7.0, 7.0, -7.0, 0.0, 100.0];
    let b = [2.0, 2.0, -2.0, -2.0, 5.0, 3.0];
    let run = |op, dtype, a: &[f64], b: &[f64]| {
        let (sa, sb) = (store(a, dtype), store(b, dtype));
        let out = if op == BinaryOp::Lt {
            DType::Bool
        } else {
            dtype
        };
        let mut d = empty(out, a.len());
        let l = contiguous(&[a.len()]);
        be.binary(op, view(&sa, &l), view(&sb, &l), view_mut(&mut d, &l))
            .map(|_| read_all(&d))
    };
    for dtype in [DType::I32, DType::I64] {
        assert_eq!(
            run(BinaryOp::Div, dtype, &a, &b).unwrap(),
            vec![3.0, -3.0, -3.0, 3.0, 0.0, 33.0]
        );
        assert_eq!(
            run(BinaryOp::Add, dtype, &a, &b).unwrap(),
            vec![9.0, -5.0, 5.0, -9.0, 5.0, 103.0]
        );
        assert_eq!(
            run(
                BinaryOp::Pow,
                dtype,
                &[2.0, -1.0, -1.0, 1.0, 3.0, 0.0],
                &[10.0, 3.0, -3.0, -5.0, -1.0, 0.0]
            )
            .unwrap(),
            vec![1024.0, -1.0, -1.0, 1.0, 0.0, 1.0]
        );
        assert_eq!(
            run(BinaryOp::Maximum, dtype, &a, &b).unwrap(),
            vec![7.0, 2.0, 7.0, -2.0, 5.0, 100.0]
        );
        assert_eq!(
            run(BinaryOp::Lt, dtype, &a, &b).unwrap(),
            vec![0.0, 1.0, 0.0, 1.0, 1.0, 0.0]
        );
        let e = run(BinaryOp::Div, dtype, &a, &[1.0, 1.0, 0.0, 1.0, 1.0, 1.0]);
        assert!(matches!(e, Err(Error::InvalidArgument { .. })), "{e:?}");
        assert!(format!("{}", e.unwrap_err()).contains("division by zero"));
        assert_unsupported(run(BinaryOp::Atan2, dtype, &a, &b), "atan2", dtype);
        let relu_backward = run(BinaryOp::ReluBackward, dtype, &a, &b);
        assert_unsupported(relu_backward, "relu_backward", dtype);
    }
    // wrapping instead of overflow panics
    let big = [i32::MAX as f64];
    assert_eq!(
        run(BinaryOp::Add, DType::I32, &big, &[1.0]).unwrap(),
        vec![i32::MIN as f64]
    );
    assert_eq!(
        run(BinaryOp::Div, DType::I32, &[i32::MIN as f64], &[-1.0]).unwrap(),
        vec![i32::MIN as f64]
    );
    assert_eq!(
        run(BinaryOp::Sub, DType::U8, &[1.0], &[2.0]).unwrap(),
        vec![255.0]
    );
    assert_eq!(
        run(BinaryOp::Mul, DType::U8, &[16.0], &[17.0]).unwrap(),
        vec![16.0]
    );
}

#[test]
fn bool_semantics() {
    let be = cpu();
    let l = contiguous(&[4]);
    let a = store(&[0.0, 0.0, 1.0, 1.0], DType::Bool);
    let b = store(&[0.0, 1.0, 0.0, 1.0], DType::Bool);
    let run = |op| {
        let mut d = empty(DType::Bool, 4);
        be.binary(op, view(&a, &l), view(&b, &l), view_mut(&mut d, &l))
            .map(|_| read_all(&d))
    };
    assert_eq!(run(BinaryOp::Add).unwrap(), vec![0.0, 1.0, 1.0, 1.0]);
    assert_eq!(run(BinaryOp::Maximum).unwrap(), vec![0.0, 1.0, 1.0, 1.0]);
    assert_eq!(run(BinaryOp::Mul).unwrap(), vec![0.0, 0.0, 0.0, 1.0]);
    assert_eq!(run(BinaryOp::Minimum).unwrap(), vec![0.0, 0.0, 0.0, 1.0]);
    assert_eq!(run(BinaryOp::Gt).unwrap(), vec![0.0, 0.0, 1.0, 0.0]);
    assert_eq!(run(BinaryOp::LogicalXor).unwrap(), vec![0.0, 1.0, 1.0, 0.0]);
    for op in [
        BinaryOp::Sub,
        BinaryOp::Div,
        BinaryOp::Pow,
        BinaryOp::Atan2,
        BinaryOp::ReluBackward,
    ] {
        assert_unsupported(run(op), op.name(), DType::Bool);
    }
}

#[test]
fn dtype_and_shape_errors() {
    let be = cpu();
    let l = contiguous(&[2]);
    let a = store(&[1.0, 2.0], DType::F32);
    let b = store(&[1.0, 2.0], DType::F64);
    let mut d = empty(DType::F32, 2);
    assert!(matches!(
        be.binary(
            BinaryOp::Add,
            view(&a, &l),
            view(&b, &l),
            view_mut(&mut d, &l)
        ),
        Err(Error::DType { .. })
    ));
    let mut bad = empty(DType::F32, 2);
    assert!(matches!(
        be.binary(
            BinaryOp::Eq,
            view(&a, &l),
            view(&a, &l),
            view_mut(&mut bad, &l)
        ),
        Err(Error::DType { .. })
    ));
    let l3 = contiguous(&[3]);
    let c = store(&[1.0, 2.0, 3.0], DType::F32);
    assert!(matches!(
        be.binary(
            BinaryOp::Add,
            view(&a, &l),
            view(&c, &l3),
            view_mut(&mut d, &l)
        ),
        Err(Error::Shape { .. })
    ));
    // zero-size is fine
    let e = contiguous(&[4, 0]);
    let z = empty(DType::F32, 0);
    let mut dz = empty(DType::F32, 0);
    be.binary(
        BinaryOp::Add,
        view(&z, &e),
        view(&z, &e),
        view_mut(&mut dz, &e),
    )
    .unwrap();
}

#[test]
fn where_selects_with_broadcast_condition() {
    let be = cpu();
    let (m, n) = (3, 4);
    let cond = store(&[1.0, 0.0, 1.0, 1.0], DType::Bool);
    let cl = contiguous(&[n]).expand(&[m, n]).unwrap();
    let a = values(m * n, 11, 5.0);
    let l = contiguous(&[m, n]);
    for dtype in tiny_torch_core::DType::ALL {
        let t = store(&a, dtype);
        let f = store(&[-1.0], dtype);
        let fl = contiguous(&[1]).expand(&[m, n]).unwrap();
        let mut d = empty(dtype, m * n);
        be.where_cond(
            view(&cond, &cl),
            view(&t, &l),
            view(&f, &fl),
            view_mut(&mut d, &l),
        )
        .unwrap();
        let tv = read_all(&t);
        let fv = read(&f, &fl)[0];
        let want: Vec<f64> = (0..m * n)
            .map(|i| {
                if [true, false, true, true][i % n] {
                    tv[i]
                } else {
                    fv
                }
            })
            .collect();
        assert_eq!(read_all(&d), want, "{dtype}");
    }
    // a non-bool condition is an error
    let c = store(&[1.0; 12], DType::U8);
    let t = store(&a, DType::F32);
    let mut d = empty(DType::F32, 12);
    assert!(matches!(
        be.where_cond(
            view(&c, &l),
            view(&t, &l),
            view(&t, &l),
            view_mut(&mut d, &l)
        ),
        Err(Error::DType { .. })
    ));
}
