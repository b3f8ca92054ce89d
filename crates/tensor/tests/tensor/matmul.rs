//! Matrix products against f64 loops: every `matmul` case, transposed and broadcast operands.

use crate::common::*;
use tiny_torch_tensor::{DType, Tensor};

/// `a [.., m, k] @ b [.., k, n]` with broadcast batch dims, in f64 (both operands given with
/// explicit shapes; 1-D operands are not handled here).
fn matmul_ref(a: &[f64], sa: &[usize], b: &[f64], sb: &[usize]) -> (Vec<usize>, Vec<f64>) {
    let (m, k, n) = (sa[sa.len() - 2], sa[sa.len() - 1], sb[sb.len() - 1]);
    let (ba, bb) = (&sa[..sa.len() - 2], &sb[..sb.len() - 2]);
    let nb = ba.len().max(bb.len());
    let batch: Vec<usize> = (0..nb)
        .map(|i| {
            let pick = |s: &[usize]| {
                if i + s.len() >= nb {
                    s[i + s.len() - nb]
                } else {
                    1
                }
            };
            pick(ba).max(pick(bb))
        })
        .collect();
    let mut out_shape = batch.clone();
    out_shape.extend([m, n]);
    let values = reference(&out_shape, |ix| {
        let (bix, i, j) = (&ix[..nb], ix[nb], ix[nb + 1]);
        let mut acc = 0.0;
        for p in 0..k {
            let mut ia = bix.to_vec();
            ia.extend([i, p]);
            let mut ib = bix.to_vec();
            ib.extend([p, j]);
            acc += a[broadcast_ravel(&ia, sa)] * b[broadcast_ravel(&ib, sb)];
        }
        acc
    });
    (out_shape, values)
}

#[test]
fn matrix_times_matrix() {
    let (a, va) = random_f32(&[3, 4], 1);
    let (b, vb) = random_f32(&[4, 5], 2);
    let (shape, want) = matmul_ref(&va, &[3, 4], &vb, &[4, 5]);
    assert_tensor(&a.matmul(&b).unwrap(), &shape, DType::F32, &want, 1e-5);
    assert_tensor(&a.mm(&b).unwrap(), &shape, DType::F32, &want, 1e-5);
}

#[test]
fn transposed_operands_use_their_strides() {
    let (at, vat) = random_f32(&[4, 3], 3); // a = at.t()
    let (bt, vbt) = random_f32(&[5, 4], 4); // b = bt.t()
    let a = at.t().unwrap();
    let b = bt.t().unwrap();
    let va = reference(&[3, 4], |ix| vat[ix[1] * 3 + ix[0]]);
    let vb = reference(&[4, 5], |ix| vbt[ix[1] * 4 + ix[0]]);
    let (shape, want) = matmul_ref(&va, &[3, 4], &vb, &[4, 5]);
    assert_tensor(&a.matmul(&b).unwrap(), &shape, DType::F32, &want, 1e-5);
    // a sliced operand (row stride 2 * k) works too
    let (big, vbig) = random_f32(&[6, 4], 5);
    let rows = big.slice(0, 0, 6, 2).unwrap(); // [3, 4]
    let vr = reference(&[3, 4], |ix| vbig[(2 * ix[0]) * 4 + ix[1]]);
    let (shape, want) = matmul_ref(&vr, &[3, 4], &vb, &[4, 5]);
    assert_tensor(&rows.matmul(&b).unwrap(), &shape, DType::F32, &want, 1e-5);
}

#[test]
fn vector_cases_drop_the_added_dims() {
    let (v1, vv1) = random_f32(&[4], 6);
    let (v2, vv2) = random_f32(&[4], 7);
    let (m, vm) = random_f32(&[4, 3], 8);
    let (mt, vmt) = random_f32(&[3, 4], 9);
    let dot: f64 = vv1.iter().zip(&vv2).map(|(a, b)| a * b).sum();
    assert_tensor(&v1.matmul(&v2).unwrap(), &[], DType::F32, &[dot], 1e-5);
    let (_, want) = matmul_ref(&vv1, &[1, 4], &vm, &[4, 3]);
    assert_tensor(&v1.matmul(&m).unwrap(), &[3], DType::F32, &want, 1e-5);
    let (_, want) = matmul_ref(&vmt, &[3, 4], &vv1, &[4, 1]);
    assert_tensor(&mt.matmul(&v1).unwrap(), &[3], DType::F32, &want, 1e-5);
    // batched matrix times vector, vector times batched matrix
    let (bm, vbm) = random_f32(&[2, 3, 4], 10);
    let (_, want) = matmul_ref(&vbm, &[2, 3, 4], &vv1, &[4, 1]);
    assert_tensor(&bm.matmul(&v1).unwrap(), &[2, 3], DType::F32, &want, 1e-5);
    let (bm2, vbm2) = random_f32(&[2, 4, 3], 11);
    let (_, want) = matmul_ref(&vv1, &[1, 4], &vbm2, &[2, 4, 3]);
    assert_tensor(&v1.matmul(&bm2).unwrap(), &[2, 3], DType::F32, &want, 1e-5);
}

#[test]
fn batched_products_broadcast_batch_dims() {
    let cases: [(&[usize], &[usize]); 5] = [
        (&[2, 3, 4], &[2, 4, 5]),
        (&[2, 1, 3, 4], &[5, 4, 2]),
        (&[3, 4], &[2, 2, 4, 5]),
        (&[2, 3, 3, 4], &[4, 5]),
        (&[1, 3, 4], &[6, 4, 2]),
    ];
    for (i, (sa, sb)) in cases.into_iter().enumerate() {
        let (a, va) = random_f32(sa, 20 + i as u64);
        let (b, vb) = random_f32(sb, 40 + i as u64);
        let (shape, want) = matmul_ref(&va, sa, &vb, sb);
        assert_tensor(&a.matmul(&b).unwrap(), &shape, DType::F32, &want, 1e-5);
    }
    // a batched operand that is a transposed view of a broadcast tensor
    let (x, vx) = random_f32(&[4, 3], 60);
    let xb = x.unsqueeze(0).unwrap().expand(&[2, 4, 3]).unwrap();
    let xbt = xb.transpose(1, 2).unwrap(); // [2, 3, 4], batch stride 0, transposed
    let va = reference(&[2, 3, 4], |ix| vx[ix[2] * 3 + ix[1]]);
    let (b, vb) = random_f32(&[2, 4, 2], 61);
    let (shape, want) = matmul_ref(&va, &[2, 3, 4], &vb, &[2, 4, 2]);
    assert_tensor(&xbt.bmm(&b).unwrap(), &shape, DType::F32, &want, 1e-5);
}

#[test]
fn float64_products() {
    let a = Tensor::new([[1.0f64, 2.0], [3.0, 4.0]], &cpu()).unwrap();
    let r = a.matmul(&a).unwrap();
    assert_tensor(&r, &[2, 2], DType::F64, &[7., 10., 15., 22.], 0.0);
}

#[test]
fn zero_size_products() {
    let b = cpu();
    let a = Tensor::ones(&[3, 0], DType::F32, &b).unwrap();
    let c = Tensor::ones(&[0, 2], DType::F32, &b).unwrap();
    assert_tensor(&a.matmul(&c).unwrap(), &[3, 2], DType::F32, &[0.0; 6], 0.0);
    let d = Tensor::ones(&[0, 4], DType::F32, &b).unwrap();
    let e = Tensor::ones(&[4, 2], DType::F32, &b).unwrap();
    assert_eq!(d.matmul(&e).unwrap().dims(), &[0, 2]);
    let f = Tensor::ones(&[0, 2, 4], DType::F32, &b).unwrap();
    assert_eq!(f.matmul(&e).unwrap().dims(), &[0, 2, 2]);
}

#[test]
fn matmul_errors_name_the_shapes() {
    let (a, _) = random_f32(&[2, 3], 1);
    let (b, _) = random_f32(&[4, 5], 1);
    assert_err(
        a.matmul(&b),
        &["matmul: shapes [2, 3] and [4, 5] cannot be multiplied (3 != 4)"],
    );
    let (v, _) = random_f32(&[4], 1);
    assert_err(a.matmul(&v), &["matmul", "[2, 3]", "[4]", "3 != 4"]);
    let (x, _) = random_f32(&[2, 2, 3], 1);
    let (y, _) = random_f32(&[3, 3, 4], 1);
    assert_err(x.matmul(&y), &["matmul", "[2, 2, 3]", "[3, 3, 4]", "batch"]);
    let s = Tensor::full(&[], 1.0, DType::F32, &cpu()).unwrap();
    assert_err(s.matmul(&a), &["matmul", "1D", "[]", "[2, 3]"]);
    let a64 = a.to_dtype(DType::F64).unwrap();
    let (c, _) = random_f32(&[3, 2], 1);
    assert_err(
        a64.matmul(&c),
        &["matmul", "float64", "float32", "[2, 3]", "[3, 2]"],
    );
    assert_err(v.mm(&b), &["mm", "self must be a matrix", "[4]"]);
    assert_err(a.mm(&x), &["mm", "mat2 must be a matrix", "[2, 2, 3]"]);
    assert_err(a.bmm(&x), &["bmm", "batch1", "3D", "[2, 3]"]);
    assert_err(x.bmm(&y), &["bmm", "same number of batches", "2 and 3"]);
    assert_err(
        a.mm(&b),
        &["mm: shapes [2, 3] and [4, 5] cannot be multiplied (3 != 4)"],
    );
}
