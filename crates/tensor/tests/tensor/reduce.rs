//! Reductions against f64 loops: dims, keepdim, dtypes, non-contiguous inputs, empty tensors.

use crate::common::*;
use tiny_torch_tensor::{DType, Tensor};

/// Reduces `v` (row-major `shape`) over `dims` with `f` on each group, keepdim shape.
fn reduce_ref(v: &[f64], shape: &[usize], dims: &[usize], f: impl Fn(&[f64]) -> f64) -> Vec<f64> {
    let out_shape: Vec<usize> = shape
        .iter()
        .enumerate()
        .map(|(d, &n)| if dims.contains(&d) { 1 } else { n })
        .collect();
    reference(&out_shape, |ix| {
        let group: Vec<f64> = (0..v.len())
            .filter(|&i| {
                let j = unravel(i, shape);
                (0..shape.len()).all(|d| dims.contains(&d) || j[d] == ix[d])
            })
            .map(|i| v[i])
            .collect();
        f(&group)
    })
}

fn sum(g: &[f64]) -> f64 {
    g.iter().sum()
}

fn mean(g: &[f64]) -> f64 {
    sum(g) / g.len() as f64
}

fn var(g: &[f64], correction: f64) -> f64 {
    let m = mean(g);
    g.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (g.len() as f64 - correction)
}

#[test]
fn sum_and_mean_over_dims() {
    let shape = [2, 3, 4];
    let (x, v) = random_f32(&shape, 1);
    let s = x.sum_dim(&[0, 2], false).unwrap();
    assert_tensor(
        &s,
        &[3],
        DType::F32,
        &reduce_ref(&v, &shape, &[0, 2], sum),
        1e-5,
    );
    // dims in any order, negative, keepdim
    let s = x.sum_dim(&[-1, 0], true).unwrap();
    assert_tensor(
        &s,
        &[1, 3, 1],
        DType::F32,
        &reduce_ref(&v, &shape, &[0, 2], sum),
        1e-5,
    );
    let m = x.mean_dim(&[1], false).unwrap();
    assert_tensor(
        &m,
        &[2, 4],
        DType::F32,
        &reduce_ref(&v, &shape, &[1], mean),
        1e-5,
    );
    let all = x.sum().unwrap();
    assert_tensor(&all, &[], DType::F32, &[sum(&v)], 1e-5);
    assert_tensor(&x.mean().unwrap(), &[], DType::F32, &[mean(&v)], 1e-5);
    // an empty dim list reduces everything, as in PyTorch
    assert_tensor(
        &x.sum_dim(&[], false).unwrap(),
        &[],
        DType::F32,
        &[sum(&v)],
        1e-5,
    );
}

#[test]
fn reductions_of_non_contiguous_views() {
    let shape = [4, 5];
    let (x, v) = random_f32(&shape, 2);
    let t = x.t().unwrap().slice(0, 1, 5, 2).unwrap(); // [2, 4]: columns 1 and 3
    let vt = reference(&[2, 4], |ix| v[ix[1] * 5 + 1 + 2 * ix[0]]);
    let s = t.sum_dim(&[1], false).unwrap();
    assert_tensor(
        &s,
        &[2],
        DType::F32,
        &reduce_ref(&vt, &[2, 4], &[1], sum),
        1e-5,
    );
    let (values_, indices) = t.max_dim(1, false).unwrap();
    let argmax = |g: &[f64]| {
        let mut best = 0;
        for (i, &x) in g.iter().enumerate() {
            if x > g[best] {
                best = i;
            }
        }
        best as f64
    };
    let max = |g: &[f64]| g.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    assert_tensor(
        &values_,
        &[2],
        DType::F32,
        &reduce_ref(&vt, &[2, 4], &[1], max),
        0.0,
    );
    assert_tensor(
        &indices,
        &[2],
        DType::I64,
        &reduce_ref(&vt, &[2, 4], &[1], argmax),
        0.0,
    );
}

#[test]
fn max_min_arg_and_extrema() {
    let shape = [3, 4];
    let (x, v) = random_f32(&shape, 3);
    let max = |g: &[f64]| g.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let min = |g: &[f64]| g.iter().copied().fold(f64::INFINITY, f64::min);
    let first = |g: &[f64], target: f64| g.iter().position(|&x| x == target).unwrap() as f64;
    assert_tensor(&x.max().unwrap(), &[], DType::F32, &[max(&v)], 0.0);
    assert_tensor(&x.min().unwrap(), &[], DType::F32, &[min(&v)], 0.0);
    let (mv, mi) = x.min_dim(0, true).unwrap();
    assert_tensor(
        &mv,
        &[1, 4],
        DType::F32,
        &reduce_ref(&v, &shape, &[0], min),
        0.0,
    );
    assert_tensor(
        &mi,
        &[1, 4],
        DType::I64,
        &reduce_ref(&v, &shape, &[0], |g| first(g, min(g))),
        0.0,
    );
    assert_tensor(
        &x.amax(&[0, 1], false).unwrap(),
        &[],
        DType::F32,
        &[max(&v)],
        0.0,
    );
    assert_tensor(
        &x.amin(&[1], true).unwrap(),
        &[3, 1],
        DType::F32,
        &reduce_ref(&v, &shape, &[1], min),
        0.0,
    );
    assert_tensor(
        &x.argmax(None, false).unwrap(),
        &[],
        DType::I64,
        &[first(&v, max(&v))],
        0.0,
    );
    assert_tensor(
        &x.argmin(None, true).unwrap(),
        &[1, 1],
        DType::I64,
        &[first(&v, min(&v))],
        0.0,
    );
    assert_tensor(
        &x.argmax(Some(-1), false).unwrap(),
        &[3],
        DType::I64,
        &reduce_ref(&v, &shape, &[1], |g| first(g, max(g))),
        0.0,
    );
    // ties resolve to the first index
    let ties = Tensor::new([1.0f32, 3.0, 3.0, 0.0], &cpu()).unwrap();
    assert_eq!(ties.argmax(None, false).unwrap().item::<i64>().unwrap(), 1);
}

#[test]
fn prod_var_std_logsumexp() {
    let shape = [2, 5];
    let (x, v) = random_f32(&shape, 4);
    let prod = |g: &[f64]| g.iter().product::<f64>();
    assert_tensor(&x.prod().unwrap(), &[], DType::F32, &[prod(&v)], 1e-5);
    assert_tensor(
        &x.prod_dim(1, false).unwrap(),
        &[2],
        DType::F32,
        &reduce_ref(&v, &shape, &[1], prod),
        1e-5,
    );
    assert_tensor(
        &x.var(&[1], 1.0, false).unwrap(),
        &[2],
        DType::F32,
        &reduce_ref(&v, &shape, &[1], |g| var(g, 1.0)),
        1e-5,
    );
    assert_tensor(
        &x.var(&[], 0.0, true).unwrap(),
        &[1, 1],
        DType::F32,
        &[var(&v, 0.0)],
        1e-5,
    );
    assert_tensor(
        &x.std(&[0], 1.0, false).unwrap(),
        &[5],
        DType::F32,
        &reduce_ref(&v, &shape, &[0], |g| var(g, 1.0).sqrt()),
        1e-5,
    );
    let lse = |g: &[f64]| g.iter().map(|x| x.exp()).sum::<f64>().ln();
    assert_tensor(
        &x.logsumexp(&[1], true).unwrap(),
        &[2, 1],
        DType::F32,
        &reduce_ref(&v, &shape, &[1], lse),
        1e-5,
    );
    // logsumexp stays finite for large inputs
    let big = Tensor::new([1000.0f32, 1000.0], &cpu()).unwrap();
    assert_tensor(
        &big.logsumexp(&[0], false).unwrap(),
        &[],
        DType::F32,
        &[1000.0 + 2f64.ln()],
        1e-6,
    );
    let norm = x.norm().unwrap();
    let want = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    assert_tensor(&norm, &[], DType::F32, &[want], 1e-5);
}

#[test]
fn integer_and_bool_reductions() {
    let ints = Tensor::new([[1i32, 2, 3], [4, 5, 6]], &cpu()).unwrap();
    assert_tensor(&ints.sum().unwrap(), &[], DType::I64, &[21.0], 0.0);
    assert_tensor(
        &ints.sum_dim(&[0], false).unwrap(),
        &[3],
        DType::I64,
        &[5., 7., 9.],
        0.0,
    );
    assert_tensor(&ints.prod().unwrap(), &[], DType::I64, &[720.0], 0.0);
    assert_tensor(&ints.max().unwrap(), &[], DType::I32, &[6.0], 0.0);
    let bools = Tensor::new([true, true, false], &cpu()).unwrap();
    assert_tensor(&bools.sum().unwrap(), &[], DType::I64, &[2.0], 0.0);
    assert_tensor(&bools.all().unwrap(), &[], DType::Bool, &[0.0], 0.0);
    assert_tensor(&bools.any().unwrap(), &[], DType::Bool, &[1.0], 0.0);
    let m = Tensor::new([[1.0f32, 0.0], [2.0, 3.0]], &cpu()).unwrap();
    assert_tensor(
        &m.all_dim(1, false).unwrap(),
        &[2],
        DType::Bool,
        &[0., 1.],
        0.0,
    );
    assert_tensor(
        &m.any_dim(0, true).unwrap(),
        &[1, 2],
        DType::Bool,
        &[1., 1.],
        0.0,
    );
    assert_err(ints.mean(), &["mean", "int32", "[2, 3]"]);
    assert_err(ints.mean_dim(&[0], false), &["mean", "int32"]);
    assert_err(ints.var(&[0], 1.0, false), &["var", "int32"]);
    assert_err(ints.std(&[0], 1.0, false), &["std", "int32"]);
    // (logsumexp takes integers as float32, as PyTorch 2.x does.)
    assert_eq!(
        ints.logsumexp(&[0], false).unwrap().dtype(),
        tiny_torch_tensor::DType::F32
    );
    assert_err(ints.norm(), &["norm", "int32"]);
}

#[test]
fn reduction_dim_errors() {
    let (x, _) = random_f32(&[2, 3], 1);
    assert_err(x.sum_dim(&[2], false), &["sum", "[-2, 1]", "got 2"]);
    assert_err(
        x.sum_dim(&[1, -1], false),
        &["sum", "appears multiple times", "[2, 3]"],
    );
    assert_err(x.max_dim(-3, false), &["max", "got -3"]);
    assert_err(x.argmax(Some(5), false), &["argmax", "got 5"]);
    assert_err(x.prod_dim(2, false), &["prod", "got 2"]);
}

#[test]
fn zero_dim_and_empty_reductions() {
    let s = Tensor::full(&[], 2.5, DType::F32, &cpu()).unwrap();
    assert_tensor(&s.sum().unwrap(), &[], DType::F32, &[2.5], 0.0);
    assert_tensor(
        &s.sum_dim(&[0], true).unwrap(),
        &[],
        DType::F32,
        &[2.5],
        0.0,
    );
    let (mv, mi) = s.max_dim(-1, false).unwrap();
    assert_tensor(&mv, &[], DType::F32, &[2.5], 0.0);
    assert_tensor(&mi, &[], DType::I64, &[0.0], 0.0);
    assert_err(s.sum_dim(&[1], false), &["sum", "got 1"]);

    let e = Tensor::zeros(&[0, 3], DType::F32, &cpu()).unwrap();
    assert_tensor(&e.sum().unwrap(), &[], DType::F32, &[0.0], 0.0);
    assert_tensor(
        &e.sum_dim(&[0], false).unwrap(),
        &[3],
        DType::F32,
        &[0.0; 3],
        0.0,
    );
    assert_tensor(
        &e.prod_dim(0, false).unwrap(),
        &[3],
        DType::F32,
        &[1.0; 3],
        0.0,
    );
    assert_tensor(&e.sum_dim(&[1], false).unwrap(), &[0], DType::F32, &[], 0.0);
    assert!(e.mean().unwrap().item::<f32>().unwrap().is_nan());
    assert_tensor(&e.all().unwrap(), &[], DType::Bool, &[1.0], 0.0);
    assert_tensor(&e.any().unwrap(), &[], DType::Bool, &[0.0], 0.0);
    // max over a non-empty dim of an empty tensor is fine; over an empty dim it is an error
    let (mv, mi) = e.max_dim(1, false).unwrap();
    assert_eq!((mv.dims(), mi.dims()), (&[0][..], &[0][..]));
    assert_err(e.max_dim(0, false), &["max", "non-zero size", "[0, 3]"]);
    assert_err(e.max(), &["max", "[0, 3]"]);
    assert_err(e.amin(&[0], false), &["amin", "[0, 3]"]);
    assert_err(e.argmax(None, false), &["argmax", "numel() == 0"]);
}
