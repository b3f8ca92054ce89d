//! index_select, gather, scatter and scatter_add against loops over multi-indices, on strided
//! sources and destinations, with range errors.

use crate::common::*;
use tiny_torch_core::{Backend, DType, Error, Layout, ScatterReduce};

fn index(values: &[i64], dims: &[usize]) -> (CpuStorage, Layout) {
    let f: Vec<f64> = values.iter().map(|&v| v as f64).collect();
    (store(&f, DType::I64), contiguous(dims))
}

#[test]
fn index_select_along_each_dim_of_a_strided_source() {
    let src_l = contiguous(&[4, 5, 3]).permute(&[1, 0, 2]).unwrap(); // [5, 4, 3]
    let x = values(60, 1, 10.0);
    for dtype in tiny_torch_core::DType::ALL {
        let s = store(&x, dtype);
        let xs = read(&s, &src_l);
        let dims = src_l.dims().to_vec();
        for dim in 0..3 {
            let picks: Vec<i64> = vec![2, 0, 2, 1];
            let (i, il) = index(&picks, &[4]);
            let out = cpu()
                .index_select(view(&s, &src_l), dim, view(&i, &il))
                .unwrap();
            let mut out_dims = dims.clone();
            out_dims[dim] = picks.len();
            let want: Vec<f64> = (0..out_dims.iter().product())
                .map(|o| {
                    let mut idx = unravel(o, &out_dims);
                    idx[dim] = picks[idx[dim]] as usize;
                    xs[ravel(&idx, &dims)]
                })
                .collect();
            assert_eq!(read_all(&out), want, "{dtype} dim {dim}");
        }
    }
    // large: parallel blocks, and a strided (every other) index
    let n = 50_000;
    let s = store(&values(n * 2, 2, 1.0), DType::F32);
    let sl = contiguous(&[n, 2]);
    let picks: Vec<i64> = (0..2 * n as i64).map(|i| (i * 7919) % n as i64).collect();
    let (i, _) = index(&picks, &[2 * n]);
    let il = contiguous(&[2 * n]).slice(0, 0, 2 * n, 2).unwrap();
    let out = cpu().index_select(view(&s, &sl), 0, view(&i, &il)).unwrap();
    let xs = read_all(&s);
    let want: Vec<f64> = picks
        .iter()
        .step_by(2)
        .flat_map(|&p| [xs[2 * p as usize], xs[2 * p as usize + 1]])
        .collect();
    assert_eq!(read_all(&out), want);
}

#[test]
fn index_errors() {
    let be = cpu();
    let s = store(&[1.0, 2.0, 3.0], DType::F32);
    let l = contiguous(&[3]);
    for bad in [3i64, -1] {
        let (i, il) = index(&[0, bad], &[2]);
        match be.index_select(view(&s, &l), 0, view(&i, &il)) {
            Err(Error::IndexOutOfRange { index, size: 3, .. }) => assert_eq!(index, bad),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            be.gather(view(&s, &l), 0, view(&i, &il)),
            Err(Error::IndexOutOfRange { .. })
        ));
        let mut d = store(&[0.0; 3], DType::F32);
        let src = store(&[1.0, 1.0], DType::F32);
        assert!(matches!(
            be.scatter(
                view_mut(&mut d, &l),
                0,
                view(&i, &il),
                view(&src, &il),
                ScatterReduce::Add
            ),
            Err(Error::IndexOutOfRange { .. })
        ));
        assert_eq!(read_all(&d), vec![0.0; 3], "nothing written on error");
    }
    let f = store(&[0.0], DType::F32);
    assert!(matches!(
        be.index_select(view(&s, &l), 0, view(&f, &contiguous(&[1]))),
        Err(Error::DType { .. })
    ));
    let (i, _) = index(&[0, 1], &[2]);
    assert!(
        be.index_select(view(&s, &l), 1, view(&i, &contiguous(&[2])))
            .is_err()
    );
    // an index larger than the source along a non-indexed dim
    let (i, il) = index(&[0; 8], &[2, 4]);
    assert!(matches!(
        be.gather(view(&s, &contiguous(&[1, 3])), 0, view(&i, &il)),
        Err(Error::Shape { .. })
    ));
    // empty index
    let (i, il) = index(&[], &[0]);
    let out = be.index_select(view(&s, &l), 0, view(&i, &il)).unwrap();
    assert!(read_all(&out).is_empty());
}

#[test]
fn gather_along_each_dim() {
    let sl = contiguous(&[3, 5]).transpose(0, 1).unwrap(); // [5, 3]
    let x = values(15, 3, 10.0);
    for dtype in [DType::F32, DType::F64, DType::BF16, DType::I32, DType::Bool] {
        let s = store(&x, dtype);
        let xs = read(&s, &sl);
        // index [4, 2]: smaller than the source along the other dim, as PyTorch allows
        for (dim, size) in [(0usize, 5i64), (1, 3)] {
            let picks: Vec<i64> = (0..8).map(|i| (i * 3 + 1) % size).collect();
            let (i, il) = index(&picks, &[4, 2]);
            let out = cpu().gather(view(&s, &sl), dim, view(&i, &il)).unwrap();
            let want: Vec<f64> = (0..8)
                .map(|o| {
                    let mut idx = unravel(o, &[4, 2]);
                    idx[dim] = picks[o] as usize;
                    xs[ravel(&idx, &[5, 3])]
                })
                .collect();
            assert_eq!(read_all(&out), want, "{dtype} dim {dim}");
        }
    }
}

/// f16/bf16 `scatter_add` sums each destination in f32 and rounds once, as PyTorch's CPU kernel
/// does (`torch.zeros(3, dtype=torch.bfloat16).scatter_add(0, zeros(1000), ones(1000))` is
/// `[1000, 0, 0]`; rounding after each add would stop at 256, where 256 + 1 rounds back).
#[test]
fn half_scatter_add_rounds_each_sum_once() {
    let be = cpu();
    for (dtype, n, want) in [(DType::BF16, 1000, 1000.0), (DType::F16, 3000, 3000.0)] {
        let mut d = store(&[0.5, 0.0, 7.0], dtype);
        let l = contiguous(&[3]);
        let (i, il) = index(&vec![0; n], &[n]);
        let src = store(&vec![1.0; n], dtype);
        be.scatter(
            view_mut(&mut d, &l),
            0,
            view(&i, &il),
            view(&src, &contiguous(&[n])),
            ScatterReduce::Add,
        )
        .unwrap();
        // Slot 0 holds round(0.5 + n) in the dtype; the others are untouched.
        assert_eq!(
            read(&d, &l),
            [rounded(&[want + 0.5], dtype)[0], 0.0, 7.0],
            "{dtype}"
        );
    }
}

#[test]
fn scatter_assign_and_add_with_duplicates() {
    let be = cpu();
    for dtype in [DType::F32, DType::F64, DType::F16, DType::I64, DType::U8] {
        // dst [3, 4] viewed transposed as [4, 3]; scatter along dim 1 (size 3)
        let dl = contiguous(&[3, 4]).transpose(0, 1).unwrap();
        let base = values(12, 4, 5.0)
            .iter()
            .map(|v| v.round().abs())
            .collect::<Vec<_>>();
        let src_vals: Vec<f64> = (1..=12).map(|v| v as f64).collect();
        let src = store(&src_vals, dtype);
        let srcl = contiguous(&[4, 3]);
        let picks: Vec<i64> = vec![0, 0, 2, 1, 1, 1, 2, 0, 2, 0, 1, 0]; // [4, 3], duplicates
        let (i, il) = index(&picks, &[4, 3]);
        for reduce in [ScatterReduce::Assign, ScatterReduce::Add] {
            let mut d = store(&base, dtype);
            let before = read(&d, &dl);
            be.scatter(
                view_mut(&mut d, &dl),
                1,
                view(&i, &il),
                view(&src, &srcl),
                reduce,
            )
            .unwrap();
            let mut want = before.clone();
            for p in 0..12 {
                let idx = unravel(p, &[4, 3]);
                let t = ravel(&[idx[0], picks[p] as usize], &[4, 3]);
                want[t] = match reduce {
                    ScatterReduce::Assign => src_vals[p],
                    ScatterReduce::Add => want[t] + src_vals[p],
                };
            }
            assert_eq!(read(&d, &dl), want, "{dtype} {reduce:?}");
        }
    }
    // bool scatter_add is a logical or; src larger than index is fine
    let mut d = store(&[0.0, 0.0, 1.0], DType::Bool);
    let l = contiguous(&[3]);
    let src = store(&[1.0, 0.0, 1.0, 1.0], DType::Bool);
    let (i, il) = index(&[1, 0], &[2]);
    be.scatter(
        view_mut(&mut d, &l),
        0,
        view(&i, &il),
        view(&src, &contiguous(&[4])),
        ScatterReduce::Add,
    )
    .unwrap();
    assert_eq!(read_all(&d), vec![0.0, 1.0, 1.0]);
    // dtype mismatch between dst and src
    let f = store(&[1.0, 1.0], DType::F64);
    assert!(matches!(
        be.scatter(
            view_mut(&mut d, &l),
            0,
            view(&i, &il),
            view(&f, &il),
            ScatterReduce::Assign
        ),
        Err(Error::DType { .. })
    ));
}
