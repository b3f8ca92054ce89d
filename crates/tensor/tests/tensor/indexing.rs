//! index_select, gather, scatter(_add), masked_fill and where against f64 loops.

use crate::common::*;
use tiny_torch_tensor::{DType, Tensor};

fn index(values: &[i64], shape: &[usize]) -> T {
    Tensor::from_slice(values, shape, &cpu()).unwrap()
}

#[test]
fn index_select_picks_rows_and_columns() {
    let shape = [4, 3];
    let (x, v) = random_f32(&shape, 1);
    let i = index(&[3, 0, 3], &[3]);
    let r = x.index_select(0, &i).unwrap();
    let want = reference(&[3, 3], |ix| v[[3, 0, 3][ix[0]] * 3 + ix[1]]);
    assert_tensor(&r, &[3, 3], DType::F32, &want, 0.0);
    // int32 index, negative dim, non-contiguous source
    let i32_index = Tensor::new([2i32, 1], &cpu()).unwrap();
    let xt = x.t().unwrap(); // [3, 4]
    let r = xt.index_select(-1, &i32_index).unwrap();
    let want = reference(&[3, 2], |ix| v[[2, 1][ix[1]] * 3 + ix[0]]);
    assert_tensor(&r, &[3, 2], DType::F32, &want, 0.0);
    // empty index
    let none = index(&[], &[0]);
    assert_eq!(x.index_select(1, &none).unwrap().dims(), &[4, 0]);
}

#[test]
fn index_select_errors() {
    let (x, _) = random_f32(&[4, 3], 1);
    let float_index = Tensor::new([1.0f32], &cpu()).unwrap();
    assert_err(
        x.index_select(0, &float_index),
        &["index_select", "int64", "float32"],
    );
    let matrix = index(&[0, 1, 2, 3], &[2, 2]);
    assert_err(
        x.index_select(0, &matrix),
        &["index_select", "vector", "[2, 2]"],
    );
    assert_err(
        x.index_select(2, &index(&[0], &[1])),
        &["index_select", "got 2"],
    );
    assert_err(x.index_select(0, &index(&[4], &[1])), &["4"]);
}

#[test]
fn gather_follows_the_index_along_dim() {
    let shape = [3, 4];
    let (x, v) = random_f32(&shape, 2);
    let idx = [0i64, 3, 1, 2, 2, 0];
    let i = index(&idx, &[3, 2]);
    let r = x.gather(1, &i).unwrap();
    let want = reference(&[3, 2], |ix| v[ix[0] * 4 + idx[ix[0] * 2 + ix[1]] as usize]);
    assert_tensor(&r, &[3, 2], DType::F32, &want, 0.0);
    let idx0 = [2i64, 0, 1, 1];
    let i0 = index(&idx0, &[1, 4]);
    let r = x.gather(0, &i0).unwrap();
    let want = reference(&[1, 4], |ix| v[idx0[ix[1]] as usize * 4 + ix[1]]);
    assert_tensor(&r, &[1, 4], DType::F32, &want, 0.0);
    assert_err(
        x.gather(1, &index(&[0, 0, 0], &[3])),
        &["gather", "same number of dimensions", "[3]", "[3, 4]"],
    );
    assert_err(
        x.gather(1, &index(&[0; 8], &[4, 2])),
        &["gather", "dimension 0", "[4, 2]", "[3, 4]"],
    );
    // int32 indices are taken as int64 (PyTorch 2.x); float ones are errors.
    let i32_index = Tensor::new([[0i32]], &cpu()).unwrap();
    let i64_index = index(&[0], &[1, 1]);
    assert_eq!(
        x.gather(0, &i32_index).unwrap().to_f64_vec().unwrap(),
        x.gather(0, &i64_index).unwrap().to_f64_vec().unwrap()
    );
    let f32_index = Tensor::new([[0.0f32]], &cpu()).unwrap();
    assert_err(x.gather(0, &f32_index), &["gather", "int64", "float32"]);
    assert_err(x.gather(1, &index(&[4], &[1, 1])), &["4"]);
}

#[test]
fn scatter_and_scatter_add() {
    let base = Tensor::zeros(&[3, 4], DType::F32, &cpu()).unwrap();
    let (src, vs) = random_f32(&[2, 4], 3);
    let idx = [2i64, 0, 1, 2, 0, 0, 2, 1];
    let i = index(&idx, &[2, 4]);
    // scatter_add along dim 0: out[idx[r][c]][c] += src[r][c]; repeated indices add up.
    let add = base.scatter_add(0, &i, &src).unwrap();
    let want = reference(&[3, 4], |ix| {
        (0..2)
            .filter(|&r| idx[r * 4 + ix[1]] as usize == ix[0])
            .map(|r| vs[r * 4 + ix[1]])
            .sum()
    });
    assert_tensor(&add, &[3, 4], DType::F32, &want, 1e-6);
    assert_close(&values(&base), &[0.0; 12], 0.0); // out-of-place leaves self alone
    // scatter with one row of indices (no index repeats within a column)
    let unique = [2i64, 0, 1, 2];
    let iu = index(&unique, &[1, 4]);
    let sc = base.scatter(0, &iu, &src).unwrap();
    let want = reference(&[3, 4], |ix| {
        if unique[ix[1]] as usize == ix[0] {
            vs[ix[1]]
        } else {
            0.0
        }
    });
    assert_tensor(&sc, &[3, 4], DType::F32, &want, 0.0);
    // in place, into a view (columns 1..3 of a wider tensor)
    let wide = Tensor::zeros(&[3, 6], DType::F32, &cpu()).unwrap();
    let view = wide.narrow(1, 1, 4).unwrap();
    view.scatter_add_(0, &i, &src).unwrap();
    view.scatter_add_(0, &i, &src).unwrap();
    let twice = reference(&[3, 6], |ix| {
        if (1..5).contains(&ix[1]) {
            let c = ix[1] - 1;
            2.0 * (0..2)
                .filter(|&r| idx[r * 4 + c] as usize == ix[0])
                .map(|r| vs[r * 4 + c])
                .sum::<f64>()
        } else {
            0.0
        }
    });
    assert_close(&values(&wide), &twice, 1e-6);
    let fresh = Tensor::zeros(&[3, 4], DType::F32, &cpu()).unwrap();
    fresh.scatter_(0, &iu, &src).unwrap();
    assert_close(&values(&fresh), &values(&sc), 0.0);
}

#[test]
fn scatter_reads_a_snapshot_of_a_source_sharing_its_storage() {
    // x.scatter_(0, [1, 0], x): a swap, read from the old values
    let x = Tensor::new([1.0f32, 2.0], &cpu()).unwrap();
    x.scatter_(0, &index(&[1, 0], &[2]), &x).unwrap();
    assert_close(&values(&x), &[2.0, 1.0], 0.0);
}

#[test]
fn scatter_errors() {
    let x = Tensor::zeros(&[3, 4], DType::F32, &cpu()).unwrap();
    let (src, _) = random_f32(&[2, 4], 1);
    let src64 = src.to_dtype(DType::F64).unwrap();
    let i = index(&[0; 8], &[2, 4]);
    assert_err(
        x.scatter_(0, &i, &src64),
        &["scatter_", "float32", "float64"],
    );
    assert_err(
        x.scatter_add(0, &i.to_dtype(DType::F32).unwrap(), &src),
        &["scatter_add", "int64", "float32"],
    );
    let big = index(&[0; 10], &[2, 5]);
    assert_err(
        x.scatter_(0, &big, &src),
        &["scatter_", "[2, 5]", "[3, 4]", "[2, 4]"],
    );
    assert_err(
        x.scatter_(0, &index(&[0; 4], &[4]), &src),
        &["scatter_", "same number of dimensions"],
    );
    assert_err(x.scatter_(2, &i, &src), &["scatter_", "got 2"]);
    let expanded = Tensor::zeros(&[4], DType::F32, &cpu())
        .unwrap()
        .unsqueeze(0)
        .unwrap()
        .expand(&[3, 4])
        .unwrap();
    assert_err(
        expanded.scatter_(0, &i, &src),
        &["scatter_", "more than one element"],
    );
    assert_err(x.scatter_(0, &index(&[3, 0, 0, 0], &[1, 4]), &src), &["3"]);
}

#[test]
fn masked_fill_and_where() {
    let (x, v) = random_f32(&[2, 3], 4);
    let mask = x.gt(0.0).unwrap();
    let r = x.masked_fill(&mask, -1.0).unwrap();
    let want: Vec<f64> = v.iter().map(|&a| if a > 0.0 { -1.0 } else { a }).collect();
    assert_tensor(&r, &[2, 3], DType::F32, &want, 0.0);
    // a broadcast mask (one row) and an int tensor taking a float value (converted)
    let row_mask = Tensor::new([true, false, true], &cpu()).unwrap();
    let ints = Tensor::new([[1i64, 2, 3], [4, 5, 6]], &cpu()).unwrap();
    let r = ints.masked_fill(&row_mask, 9.7).unwrap();
    assert_tensor(&r, &[2, 3], DType::I64, &[9., 2., 9., 9., 5., 9.], 0.0);
    assert_err(
        x.masked_fill(&x, 0.0),
        &["masked_fill", "bool", "float32", "[2, 3]"],
    );
    let bad_mask = Tensor::new([true, false], &cpu()).unwrap();
    assert_err(
        x.masked_fill(&bad_mask, 0.0),
        &["masked_fill", "[2]", "[2, 3]"],
    );

    // where: broadcast all three, promote the branches
    let cond = Tensor::new([[true], [false]], &cpu()).unwrap(); // [2, 1]
    let on_true = Tensor::new([1i64, 2, 3], &cpu()).unwrap(); // [3]
    let on_false = Tensor::new(0.5f64, &cpu()).unwrap(); // 0-dim f64
    let r = Tensor::where_cond(&cond, &on_true, &on_false).unwrap();
    assert_tensor(&r, &[2, 3], DType::F64, &[1., 2., 3., 0.5, 0.5, 0.5], 0.0);
    let (a, va) = random_f32(&[2, 3], 5);
    let at = a.t().unwrap();
    let r = Tensor::where_cond(&at.gt(0.0).unwrap(), &at, &at.neg().unwrap()).unwrap();
    let want = reference(&[3, 2], |ix| va[ix[1] * 3 + ix[0]].abs());
    assert_tensor(&r, &[3, 2], DType::F32, &want, 0.0);
    assert_err(
        Tensor::where_cond(&a, &a, &a),
        &["where", "bool", "float32"],
    );
    let c3 = Tensor::new([true, false, true, true], &cpu()).unwrap();
    assert_err(Tensor::where_cond(&c3, &a, &a), &["where", "[4]", "[2, 3]"]);
}

#[test]
fn zero_size_indexing() {
    let e = Tensor::zeros(&[0, 3], DType::F32, &cpu()).unwrap();
    let mask = e.gt(0.0).unwrap();
    assert_eq!(e.masked_fill(&mask, 1.0).unwrap().dims(), &[0, 3]);
    assert_eq!(
        e.index_select(1, &index(&[2, 0], &[2])).unwrap().dims(),
        &[0, 2]
    );
    assert_eq!(e.gather(0, &index(&[], &[0, 3])).unwrap().dims(), &[0, 3]);
}
