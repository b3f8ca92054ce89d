//! Indexing: index_select, gather, scatter / scatter_add (new and in place, duplicate indices),
//! masked_fill, where_cond; on strided sources and with broadcasting.

use crate::common::*;
use tiny_torch::{Backend, DType, Tensor};

pub fn check_indexing<B: Backend>(b: &B) {
    run_checks(
        "indexing",
        b,
        &[
            ("index_select", index_select::<B>),
            ("gather", gather::<B>),
            ("scatter_and_scatter_add", scatter_and_scatter_add::<B>),
            ("masked_fill", masked_fill::<B>),
            ("where_cond", where_cond::<B>),
        ],
    );
}

fn index<B: Backend>(v: &[i64], shape: &[usize], b: &B) -> Tensor<B> {
    Tensor::from_vec(v.to_vec(), shape, b).unwrap()
}

fn index_select<B: Backend>(b: &B) {
    let x = data_f32(28, 1, -3.0, 3.0); // [7, 4]
    let t = f32_tensor(&x, &[7, 4], b);
    let idx = [0i64, 6, 2, 2, 5];
    let got = t.index_select(0, &index(&idx, &[5], b)).unwrap();
    let want: Vec<f64> = idx
        .iter()
        .flat_map(|&r| x[r as usize * 4..r as usize * 4 + 4].to_vec())
        .collect();
    assert_exact("index_select(0)", &got, &want, &[5, 4], DType::F32);
    let idx = [3i64, 0, 3];
    let got = t.index_select(-1, &index(&idx, &[3], b)).unwrap();
    let want: Vec<f64> = (0..7)
        .flat_map(|r| idx.map(|c| x[r * 4 + c as usize]))
        .collect();
    assert_exact("index_select(-1)", &got, &want, &[7, 3], DType::F32);
    // A transposed source.
    let got = t
        .t()
        .unwrap()
        .index_select(0, &index(&[1, 1], &[2], b))
        .unwrap();
    let want: Vec<f64> = [1, 1]
        .iter()
        .flat_map(|&c| (0..7).map(move |r| (r, c)))
        .map(|(r, c)| x[r * 4 + c])
        .collect();
    assert_exact(
        "index_select of a transpose",
        &got,
        &want,
        &[2, 7],
        DType::F32,
    );
    // Integer data, empty index.
    let ti = tensor(&[5.0, 6.0, 7.0], &[3], DType::I64, b);
    assert_exact(
        "index_select i64",
        &ti.index_select(0, &index(&[2, 0], &[2], b)).unwrap(),
        &[7.0, 5.0],
        &[2],
        DType::I64,
    );
    let empty = t.index_select(0, &index(&[], &[0], b)).unwrap();
    assert_eq!(empty.dims(), [0, 4], "index_select with an empty index");
}

fn gather<B: Backend>(b: &B) {
    let x = data_f32(24, 2, -3.0, 3.0); // [4, 6]
    let t = f32_tensor(&x, &[4, 6], b);
    let idx = [3i64, 4, 0, 4, 0, 1, 1, 0, 1, 4, 0, 4]; // [4, 3], along dim 1
    let got = t.gather(1, &index(&idx, &[4, 3], b)).unwrap();
    let want: Vec<f64> = (0..12).map(|i| x[(i / 3) * 6 + idx[i] as usize]).collect();
    assert_exact("gather(1)", &got, &want, &[4, 3], DType::F32);
    let idx0 = [3i64, 0, 1, 2, 2, 2]; // [1, 6], along dim 0
    let got = t.gather(0, &index(&idx0, &[1, 6], b)).unwrap();
    let want: Vec<f64> = (0..6).map(|c| x[idx0[c] as usize * 6 + c]).collect();
    assert_exact("gather(0)", &got, &want, &[1, 6], DType::F32);
    // The index may be smaller than the source in the other dims; negative dim; 3-D.
    let y = data_f32(24, 3, -3.0, 3.0); // [2, 3, 4]
    let ty = f32_tensor(&y, &[2, 3, 4], b);
    let idx = [0i64, 2, 1, 1, 0, 2]; // [2, 1, 3] along dim 1
    let got = ty.gather(-2, &index(&idx, &[2, 1, 3], b)).unwrap();
    let want: Vec<f64> = (0..6)
        .map(|i| {
            let (a, c) = (i / 3, i % 3);
            y[a * 12 + idx[i] as usize * 4 + c]
        })
        .collect();
    assert_exact("gather(-2) 3-D", &got, &want, &[2, 1, 3], DType::F32);
}

fn scatter_and_scatter_add<B: Backend>(b: &B) {
    let base = data_f32(30, 4, -1.0, 1.0); // [5, 6]
    let src = data_f32(18, 5, -1.0, 1.0); // [3, 6]
    let idx = [1i64, 3, 2, 1, 4, 3, 3, 1, 1, 3, 1, 1, 4, 4, 4, 2, 0, 1]; // [3, 6], duplicates along dim 0
    let t = f32_tensor(&base, &[5, 6], b);
    let s = f32_tensor(&src, &[3, 6], b);
    let ti = index(&idx, &[3, 6], b);
    let mut want = base.clone();
    for i in 0..18 {
        want[idx[i] as usize * 6 + i % 6] += src[i];
    }
    let got = t.scatter_add(0, &ti, &s).unwrap();
    assert_close(
        "scatter_add(0) with duplicates",
        &got,
        &want,
        &[5, 6],
        DType::F32,
        1e-6,
        1e-6,
    );
    assert_exact(
        "scatter_add leaves its input alone",
        &t,
        &base,
        &[5, 6],
        DType::F32,
    );

    // scatter (assign) along dim 1 with distinct indices per row.
    let idx1 = [5i64, 0, 2, 1, 3, 4]; // [2, 3]
    let src1 = [10.0, 11.0, 12.0, 13.0, 14.0, 15.0];
    let mut want = base.clone();
    for i in 0..6 {
        want[(i / 3) * 6 + idx1[i] as usize] = src1[i];
    }
    let got = t
        .scatter(1, &index(&idx1, &[2, 3], b), &f32_tensor(&src1, &[2, 3], b))
        .unwrap();
    assert_exact("scatter(1)", &got, &want, &[5, 6], DType::F32);

    // In place, through a view: only the view's elements change.
    let whole = f32_tensor(&base, &[5, 6], b);
    let view = whole.narrow(1, 2, 3).unwrap(); // [5, 3], columns 2..5
    view.scatter_add_(
        0,
        &index(&[4, 0, 4], &[1, 3], b),
        &f32_tensor(&[1.0, 2.0, 3.0], &[1, 3], b),
    )
    .unwrap();
    let mut want = base.clone();
    want[4 * 6 + 2] += 1.0;
    want[3] += 2.0;
    want[4 * 6 + 4] += 3.0;
    assert_close(
        "scatter_add_ into a view",
        &whole,
        &want,
        &[5, 6],
        DType::F32,
        1e-6,
        0.0,
    );
    view.scatter_(
        0,
        &index(&[1], &[1, 1], b),
        &f32_tensor(&[-9.0], &[1, 1], b),
    )
    .unwrap();
    want[6 + 2] = -9.0;
    assert_close(
        "scatter_ into a view",
        &whole,
        &want,
        &[5, 6],
        DType::F32,
        1e-6,
        0.0,
    );

    // Integer scatter_add (e.g. counting).
    let counts = Tensor::zeros(&[4], DType::I64, b).unwrap();
    let hits = index(&[1, 3, 1, 1, 0], &[5], b);
    let got = counts
        .scatter_add(0, &hits, &Tensor::ones(&[5], DType::I64, b).unwrap())
        .unwrap();
    assert_exact(
        "scatter_add counting",
        &got,
        &[1.0, 3.0, 0.0, 1.0],
        &[4],
        DType::I64,
    );
}

fn masked_fill<B: Backend>(b: &B) {
    let x = data_f32(20, 6, -3.0, 3.0);
    let t = f32_tensor(&x, &[4, 5], b);
    let mask: Vec<f64> = x.iter().map(|&v| (v > 0.5) as u8 as f64).collect();
    let tm = tensor(&mask, &[4, 5], DType::Bool, b);
    let got = t.masked_fill(&tm, -1.5).unwrap();
    let want: Vec<f64> = x
        .iter()
        .zip(&mask)
        .map(|(&v, &m)| if m != 0.0 { -1.5 } else { v })
        .collect();
    assert_exact("masked_fill", &got, &want, &[4, 5], DType::F32);
    // A broadcast mask [5] over [4, 5]; an int tensor filled with an int.
    let row = [1.0, 0.0, 0.0, 1.0, 0.0];
    let got = t
        .masked_fill(&tensor(&row, &[5], DType::Bool, b), 7.0)
        .unwrap();
    let want: Vec<f64> = (0..20)
        .map(|i| if row[i % 5] != 0.0 { 7.0 } else { x[i] })
        .collect();
    assert_exact(
        "masked_fill broadcast mask",
        &got,
        &want,
        &[4, 5],
        DType::F32,
    );
    let ti = tensor(&[1.0, 2.0, 3.0], &[3], DType::I64, b);
    let got = ti
        .masked_fill(&tensor(&[0.0, 1.0, 0.0], &[3], DType::Bool, b), -4i64)
        .unwrap();
    assert_exact("masked_fill i64", &got, &[1.0, -4.0, 3.0], &[3], DType::I64);
    // A transposed input.
    let got = t
        .t()
        .unwrap()
        .masked_fill(&tensor(&[1.0, 0.0, 0.0, 0.0], &[4], DType::Bool, b), 0.0)
        .unwrap();
    let want: Vec<f64> = (0..20)
        .map(|i| {
            if i % 4 == 0 {
                0.0
            } else {
                x[(i % 4) * 5 + i / 4]
            }
        })
        .collect();
    assert_exact(
        "masked_fill of a transpose",
        &got,
        &want,
        &[5, 4],
        DType::F32,
    );
}

fn where_cond<B: Backend>(b: &B) {
    let x = data_f32(20, 7, -3.0, 3.0);
    let y = data_f32(5, 8, -3.0, 3.0);
    let cond: Vec<f64> = x.iter().map(|&v| (v < 0.0) as u8 as f64).collect();
    let (tc, tx, ty) = (
        tensor(&cond, &[4, 5], DType::Bool, b),
        f32_tensor(&x, &[4, 5], b),
        f32_tensor(&y, &[1, 5], b),
    );
    let got = Tensor::where_cond(&tc, &tx, &ty).unwrap();
    let want: Vec<f64> = (0..20)
        .map(|i| if cond[i] != 0.0 { x[i] } else { y[i % 5] })
        .collect();
    assert_exact("where(cond, x, y[1,5])", &got, &want, &[4, 5], DType::F32);
    // All three broadcast; on_true and on_false are promoted (i64 and f64 -> f64).
    let c = tensor(&[1.0, 0.0, 1.0], &[3, 1], DType::Bool, b);
    let a = tensor(&[1.0, 2.0], &[2], DType::I64, b);
    let z = tensor(&[0.5], &[1, 1], DType::F64, b);
    let got = Tensor::where_cond(&c, &a, &z).unwrap();
    assert_exact(
        "where broadcast and promote",
        &got,
        &[1.0, 2.0, 0.5, 0.5, 1.0, 2.0],
        &[3, 2],
        DType::F64,
    );
}
