//! Matrix products: `matmul` with PyTorch's 1-D/2-D/batched broadcasting rules, `mm`, `bmm`,
//! transposed, offset and broadcast (stride-0) operands, sizes that cross blocking boundaries,
//! f64 and half precision, empty inner dimensions.
//!
//! The tolerance of each element follows the standard bound of a float dot product of length
//! `k`: `|err| <= k * u * sum_k |a_ik b_kj|` (u = unit roundoff), plus a tiny absolute term.

use crate::common::*;
use tiny_torch::{Backend, DType, Tensor};

pub fn check_matmul<B: Backend>(b: &B) {
    run_checks(
        "matmul",
        b,
        &[
            ("mm_sizes", mm_sizes::<B>),
            ("vector_cases", vector_cases::<B>),
            ("batched_and_broadcast", batched_and_broadcast::<B>),
            ("strided_operands", strided_operands::<B>),
            ("f64_and_half", f64_and_half::<B>),
            ("empty_inner_dimension", empty_inner_dimension::<B>),
        ],
    );
}

/// A batch of row-major matrices: `[batch.., m, k]`.
struct Mats {
    data: Vec<f64>,
    shape: Vec<usize>,
}

impl Mats {
    fn random(shape: &[usize], seed: u64, dtype: DType) -> Mats {
        let data = data(numel(shape), seed, -1.0, 1.0)
            .into_iter()
            .map(|v| round_to(dtype, v))
            .collect();
        Mats {
            data,
            shape: shape.to_vec(),
        }
    }
}

/// Reference `torch.matmul(a, b)` for a.ndim >= 2 and b.ndim >= 2, with broadcast batch dims;
/// returns (values, bound of sum |a b| per element, shape).
fn ref_matmul(a: &Mats, b: &Mats) -> (Vec<f64>, Vec<f64>, Vec<usize>) {
    let (ra, rb) = (a.shape.len(), b.shape.len());
    let (m, k) = (a.shape[ra - 2], a.shape[ra - 1]);
    let (k2, n) = (b.shape[rb - 2], b.shape[rb - 1]);
    assert_eq!(k, k2, "test bug");
    let batch = broadcast(&a.shape[..ra - 2], &b.shape[..rb - 2]);
    let mut shape = batch.clone();
    shape.extend([m, n]);
    let mut out = Vec::with_capacity(numel(&shape));
    let mut bound = Vec::with_capacity(numel(&shape));
    for bi in 0..numel(&batch) {
        let bidx = unravel(bi, &batch);
        let ao = broadcast_index(&bidx, &a.shape[..ra - 2]) * m * k;
        let bo = broadcast_index(&bidx, &b.shape[..rb - 2]) * k * n;
        for i in 0..m {
            for j in 0..n {
                let (mut s, mut abs) = (0.0, 0.0);
                for p in 0..k {
                    let prod = a.data[ao + i * k + p] * b.data[bo + p * n + j];
                    s += prod;
                    abs += prod.abs();
                }
                out.push(s);
                bound.push(abs);
            }
        }
    }
    (out, bound, shape)
}

fn unit_roundoff(dtype: DType) -> f64 {
    match dtype {
        DType::F64 => f64::EPSILON / 2.0,
        DType::F16 => 2.0f64.powi(-11),
        DType::BF16 => 2.0f64.powi(-8),
        _ => f32::EPSILON as f64 / 2.0,
    }
}

#[track_caller]
fn assert_matmul<B: Backend>(
    what: &str,
    got: &Tensor<B>,
    want: &[f64],
    bound: &[f64],
    shape: &[usize],
    dtype: DType,
    k: usize,
) {
    assert_eq!(got.dims(), shape, "{what}: shape");
    assert_eq!(got.dtype(), dtype, "{what}: dtype");
    let got = host(got);
    let u = unit_roundoff(dtype);
    // Half-precision outputs are rounded once more at the end.
    let rounding = if matches!(dtype, DType::F16 | DType::BF16) {
        1.0
    } else {
        0.0
    };
    let mut bad = Vec::new();
    for (i, ((&g, &w), &s)) in got.iter().zip(want).zip(bound).enumerate() {
        let allowed = (k as f64 + 2.0) * u * s + rounding * u * w.abs() * 2.0 + 1e-30;
        if (g - w).abs() > allowed {
            bad.push((i, g, w, allowed));
        }
    }
    assert!(
        bad.is_empty(),
        "{what}: {} of {} elements out of the k·u bound (index, got, want, allowed): {:?}",
        bad.len(),
        got.len(),
        &bad[..bad.len().min(5)]
    );
}

fn mm_sizes<B: Backend>(b: &B) {
    let sizes = [
        (1, 1, 1),
        (2, 3, 4),
        (7, 1, 5),
        (17, 33, 9),
        (64, 64, 64),
        (65, 67, 66),
        (130, 257, 31),
        (3, 300, 2),
    ];
    for (seed, &(m, k, n)) in sizes.iter().enumerate() {
        let a = Mats::random(&[m, k], seed as u64 * 2, DType::F32);
        let c = Mats::random(&[k, n], seed as u64 * 2 + 1, DType::F32);
        let (want, bound, shape) = ref_matmul(&a, &c);
        let (ta, tc) = (
            f32_tensor(&a.data, &a.shape, b),
            f32_tensor(&c.data, &c.shape, b),
        );
        assert_matmul(
            &format!("matmul [{m},{k}]x[{k},{n}]"),
            &ta.matmul(&tc).unwrap(),
            &want,
            &bound,
            &shape,
            DType::F32,
            k,
        );
        assert_matmul(
            &format!("mm [{m},{k}]x[{k},{n}]"),
            &ta.mm(&tc).unwrap(),
            &want,
            &bound,
            &shape,
            DType::F32,
            k,
        );
    }
}

fn vector_cases<B: Backend>(b: &B) {
    let (k, n, m) = (17, 5, 6);
    let v = Mats::random(&[1, k], 1, DType::F32); // as a row
    let w = Mats::random(&[k, 1], 2, DType::F32); // as a column
    let mat_kn = Mats::random(&[k, n], 3, DType::F32);
    let mat_mk = Mats::random(&[m, k], 4, DType::F32);
    let tv = f32_tensor(&v.data, &[k], b);
    let tw = f32_tensor(&w.data, &[k], b);

    // 1-D · 1-D: a dot product, 0-dim.
    let (want, bound, _) = ref_matmul(&v, &w);
    assert_matmul(
        "matmul [k]·[k]",
        &tv.matmul(&tw).unwrap(),
        &want,
        &bound,
        &[],
        DType::F32,
        k,
    );
    // 1-D · 2-D: the vector is a row, removed from the result.
    let (want, bound, _) = ref_matmul(&v, &mat_kn);
    let t_kn = f32_tensor(&mat_kn.data, &[k, n], b);
    assert_matmul(
        "matmul [k]x[k,n]",
        &tv.matmul(&t_kn).unwrap(),
        &want,
        &bound,
        &[n],
        DType::F32,
        k,
    );
    // 2-D · 1-D: the vector is a column, removed from the result.
    let (want, bound, _) = ref_matmul(&mat_mk, &w);
    let t_mk = f32_tensor(&mat_mk.data, &[m, k], b);
    assert_matmul(
        "matmul [m,k]x[k]",
        &t_mk.matmul(&tw).unwrap(),
        &want,
        &bound,
        &[m],
        DType::F32,
        k,
    );
    // Batched · 1-D.
    let batch = Mats::random(&[2, 3, k], 5, DType::F32);
    let (want, bound, _) = ref_matmul(&batch, &w);
    let tb = f32_tensor(&batch.data, &[2, 3, k], b);
    assert_matmul(
        "matmul [2,3,k]x[k]",
        &tb.matmul(&tw).unwrap(),
        &want,
        &bound,
        &[2, 3],
        DType::F32,
        k,
    );
    // 1-D · batched.
    let batch = Mats::random(&[2, k, 4], 6, DType::F32);
    let (want, bound, _) = ref_matmul(&v, &batch);
    let tb = f32_tensor(&batch.data, &[2, k, 4], b);
    assert_matmul(
        "matmul [k]x[2,k,4]",
        &tv.matmul(&tb).unwrap(),
        &want,
        &bound,
        &[2, 4],
        DType::F32,
        k,
    );
}

fn batched_and_broadcast<B: Backend>(b: &B) {
    let cases: [(&[usize], &[usize]); 5] = [
        (&[5, 8, 6], &[5, 6, 3]),
        (&[2, 2, 7, 9], &[9, 4]),
        (&[9, 4], &[3, 4, 2]),
        (&[2, 1, 7, 9], &[3, 9, 4]),
        (&[1, 4, 5], &[6, 5, 2]),
    ];
    for (i, (sa, sb)) in cases.into_iter().enumerate() {
        let a = Mats::random(sa, 10 + i as u64, DType::F32);
        let c = Mats::random(sb, 20 + i as u64, DType::F32);
        let (want, bound, shape) = ref_matmul(&a, &c);
        let (ta, tc) = (f32_tensor(&a.data, sa, b), f32_tensor(&c.data, sb, b));
        let k = sa[sa.len() - 1];
        assert_matmul(
            &format!("matmul {sa:?}x{sb:?}"),
            &ta.matmul(&tc).unwrap(),
            &want,
            &bound,
            &shape,
            DType::F32,
            k,
        );
    }
    let a = Mats::random(&[4, 3, 5], 30, DType::F32);
    let c = Mats::random(&[4, 5, 2], 31, DType::F32);
    let (want, bound, shape) = ref_matmul(&a, &c);
    let got = f32_tensor(&a.data, &[4, 3, 5], b)
        .bmm(&f32_tensor(&c.data, &[4, 5, 2], b))
        .unwrap();
    assert_matmul("bmm", &got, &want, &bound, &shape, DType::F32, 5);
}

/// Transposes the last two dims of row-major matrices.
fn transposed(a: &Mats) -> Mats {
    let r = a.shape.len();
    let (m, k) = (a.shape[r - 2], a.shape[r - 1]);
    let batch = numel(&a.shape[..r - 2]);
    let mut data = Vec::with_capacity(a.data.len());
    for bi in 0..batch {
        for j in 0..k {
            for i in 0..m {
                data.push(a.data[bi * m * k + i * k + j]);
            }
        }
    }
    let mut shape = a.shape.clone();
    shape.swap(r - 2, r - 1);
    Mats { data, shape }
}

fn strided_operands<B: Backend>(b: &B) {
    let (m, k, n) = (9, 13, 7);
    // Stored transposed: at = [k, m] so that at.t() is a [m, k] view with strides (1, m).
    let a = Mats::random(&[m, k], 40, DType::F32);
    let c = Mats::random(&[k, n], 41, DType::F32);
    let (want, bound, shape) = ref_matmul(&a, &c);
    let at = transposed(&a);
    let ct = transposed(&c);
    let a_view = f32_tensor(&at.data, &at.shape, b).t().unwrap();
    let c_view = f32_tensor(&ct.data, &ct.shape, b).t().unwrap();
    let (ta, tc) = (
        f32_tensor(&a.data, &[m, k], b),
        f32_tensor(&c.data, &[k, n], b),
    );
    assert_matmul(
        "a.t() @ b",
        &a_view.matmul(&tc).unwrap(),
        &want,
        &bound,
        &shape,
        DType::F32,
        k,
    );
    assert_matmul(
        "a @ b.t()",
        &ta.matmul(&c_view).unwrap(),
        &want,
        &bound,
        &shape,
        DType::F32,
        k,
    );
    assert_matmul(
        "a.t() @ b.t()",
        &a_view.matmul(&c_view).unwrap(),
        &want,
        &bound,
        &shape,
        DType::F32,
        k,
    );

    // Offset views: the rows 2..2+m of a bigger matrix, the columns 3..3+n of another.
    let big_a = Mats::random(&[m + 4, k], 42, DType::F32);
    let big_c = Mats::random(&[k, n + 5], 43, DType::F32);
    let sub_a = Mats {
        data: big_a.data[2 * k..(2 + m) * k].to_vec(),
        shape: vec![m, k],
    };
    let sub_c = Mats {
        data: (0..k)
            .flat_map(|p| big_c.data[p * (n + 5) + 3..p * (n + 5) + 3 + n].to_vec())
            .collect(),
        shape: vec![k, n],
    };
    let (want, bound, shape) = ref_matmul(&sub_a, &sub_c);
    let va = f32_tensor(&big_a.data, &[m + 4, k], b)
        .narrow(0, 2, m)
        .unwrap();
    let vc = f32_tensor(&big_c.data, &[k, n + 5], b)
        .narrow(1, 3, n)
        .unwrap();
    assert_matmul(
        "narrowed operands",
        &va.matmul(&vc).unwrap(),
        &want,
        &bound,
        &shape,
        DType::F32,
        k,
    );

    // A batch broadcast by expand (batch stride 0) and a batched transposed view.
    let single = Mats::random(&[1, m, k], 44, DType::F32);
    let repeated = Mats {
        data: single.data.repeat(3),
        shape: vec![3, m, k],
    };
    let cb = Mats::random(&[3, n, k], 45, DType::F32); // used as cb^T: [3, k, n]
    let cbt = transposed(&cb);
    let (want, bound, shape) = ref_matmul(&repeated, &cbt);
    let e = f32_tensor(&single.data, &[1, m, k], b)
        .expand(&[3, -1, -1])
        .unwrap();
    let ct_view = f32_tensor(&cb.data, &[3, n, k], b).transpose(1, 2).unwrap();
    assert_matmul(
        "expanded batch @ transposed batch",
        &e.matmul(&ct_view).unwrap(),
        &want,
        &bound,
        &shape,
        DType::F32,
        k,
    );
}

fn f64_and_half<B: Backend>(b: &B) {
    let (m, k, n) = (11, 37, 13);
    for dtype in [DType::F64, DType::F16, DType::BF16] {
        let a = Mats::random(&[m, k], 50, dtype);
        let c = Mats::random(&[k, n], 51, dtype);
        let (want, bound, shape) = ref_matmul(&a, &c);
        let got = tensor(&a.data, &[m, k], dtype, b)
            .matmul(&tensor(&c.data, &[k, n], dtype, b))
            .unwrap();
        assert_matmul(
            &format!("matmul {dtype}"),
            &got,
            &want,
            &bound,
            &shape,
            dtype,
            k,
        );
    }
}

fn empty_inner_dimension<B: Backend>(b: &B) {
    // [3, 0] x [0, 4] is a [3, 4] matrix of zeros, as in PyTorch.
    let a = Tensor::zeros(&[3, 0], DType::F32, b).unwrap();
    let c = Tensor::zeros(&[0, 4], DType::F32, b).unwrap();
    assert_exact(
        "[3,0]x[0,4]",
        &a.matmul(&c).unwrap(),
        &[0.0; 12],
        &[3, 4],
        DType::F32,
    );
    // Empty outer dimensions give empty results.
    let a = Tensor::zeros(&[0, 5], DType::F32, b).unwrap();
    let c = Tensor::ones(&[5, 2], DType::F32, b).unwrap();
    assert_exact(
        "[0,5]x[5,2]",
        &a.matmul(&c).unwrap(),
        &[],
        &[0, 2],
        DType::F32,
    );
}
