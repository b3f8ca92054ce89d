//! Views and copies: view/reshape, permute/transpose/t, narrow/select/slice, expand,
//! squeeze/unsqueeze, flatten/unflatten, chunk/split, cat/stack, contiguous, copy_; views share
//! storage and report PyTorch's strides; writes through views reach the base.

use crate::common::*;
use tiny_torch::{Backend, DType, Tensor};

pub fn check_view<B: Backend>(b: &B) {
    run_checks(
        "view",
        b,
        &[
            ("view_and_reshape", view_and_reshape::<B>),
            ("permute_and_transpose", permute_and_transpose::<B>),
            ("narrow_select_slice", narrow_select_slice::<B>),
            ("expand", expand::<B>),
            ("squeeze_unsqueeze_flatten", squeeze_unsqueeze_flatten::<B>),
            ("chunk_and_split", chunk_and_split::<B>),
            ("cat_and_stack", cat_and_stack::<B>),
            ("contiguous_and_copy", contiguous_and_copy::<B>),
        ],
    );
}

/// `arange(n)` as f32 of `shape`, and its values.
fn iota<B: Backend>(shape: &[usize], b: &B) -> (Tensor<B>, Vec<f64>) {
    let v: Vec<f64> = (0..numel(shape)).map(|i| i as f64).collect();
    (f32_tensor(&v, shape, b), v)
}

/// The values of a view described by (shape, strides, offset) over base values.
fn strided(base: &[f64], shape: &[usize], strides: &[usize], offset: usize) -> Vec<f64> {
    (0..numel(shape))
        .map(|i| {
            let idx = unravel(i, shape);
            base[offset + idx.iter().zip(strides).map(|(a, s)| a * s).sum::<usize>()]
        })
        .collect()
}

fn view_and_reshape<B: Backend>(b: &B) {
    let (t, v) = iota(&[2, 3, 4], b);
    let w = t.view(&[4, -1]).unwrap();
    assert_exact("view [4, -1]", &w, &v, &[4, 6], DType::F32);
    assert!(w.shares_storage_with(&t), "view must share storage");
    assert_eq!(w.strides(), [6, 1]);
    let r = t.reshape(&[-1]).unwrap();
    assert_exact("reshape [-1]", &r, &v, &[24], DType::F32);
    assert!(
        r.shares_storage_with(&t),
        "reshape of a contiguous tensor is a view"
    );
    // reshape of a non-contiguous tensor copies, in the transposed order.
    let tt = t.transpose(0, 2).unwrap(); // [4, 3, 2]
    let want = strided(&v, &[4, 3, 2], &[1, 4, 12], 0);
    let r = tt.reshape(&[12, 2]).unwrap();
    assert_exact("reshape of a transpose", &r, &want, &[12, 2], DType::F32);
    assert!(r.is_contiguous());
    // A view of a non-contiguous tensor is fine when the strides allow it.
    let n = t.narrow(2, 1, 2).unwrap(); // [2, 3, 2], strides [12, 4, 1]
    let s = n.view(&[2, 3, 2, 1]).unwrap();
    assert_exact(
        "view of a narrow",
        &s,
        &strided(&v, &[2, 3, 2], &[12, 4, 1], 1),
        &[2, 3, 2, 1],
        DType::F32,
    );
    // 0-dim.
    let scalar = f32_tensor(&[5.0], &[1], b).view(&[]).unwrap();
    assert_exact("view to 0-dim", &scalar, &[5.0], &[], DType::F32);
}

fn permute_and_transpose<B: Backend>(b: &B) {
    let (t, v) = iota(&[2, 3, 4], b);
    let p = t.permute(&[2, 0, 1]).unwrap();
    assert_eq!(p.dims(), [4, 2, 3]);
    assert_eq!(p.strides(), [1, 12, 4]);
    assert!(p.shares_storage_with(&t));
    assert!(!p.is_contiguous());
    assert_exact(
        "permute(2, 0, 1)",
        &p,
        &strided(&v, &[4, 2, 3], &[1, 12, 4], 0),
        &[4, 2, 3],
        DType::F32,
    );
    let p = t.permute(&[-1, -3, -2]).unwrap();
    assert_eq!(p.dims(), [4, 2, 3], "permute with negative dims");
    let tr = t.transpose(-1, 0).unwrap();
    assert_exact(
        "transpose(-1, 0)",
        &tr,
        &strided(&v, &[4, 3, 2], &[1, 4, 12], 0),
        &[4, 3, 2],
        DType::F32,
    );
    let (m, mv) = iota(&[3, 5], b);
    let mt = m.t().unwrap();
    assert_eq!(mt.strides(), [1, 5]);
    assert_exact(
        "t()",
        &mt,
        &strided(&mv, &[5, 3], &[1, 5], 0),
        &[5, 3],
        DType::F32,
    );
    let (r, rv) = iota(&[4], b);
    assert_exact("t() of 1-D", &r.t().unwrap(), &rv, &[4], DType::F32);
}

fn narrow_select_slice<B: Backend>(b: &B) {
    let (t, v) = iota(&[4, 6], b);
    let n = t.narrow(1, 2, 3).unwrap();
    assert!(n.shares_storage_with(&t));
    assert_exact(
        "narrow(1, 2, 3)",
        &n,
        &strided(&v, &[4, 3], &[6, 1], 2),
        &[4, 3],
        DType::F32,
    );
    let n = t.narrow(-2, 1, 0).unwrap();
    assert_eq!(n.dims(), [0, 6], "narrow to length 0");
    let s = t.select(0, 2).unwrap();
    assert_exact("select(0, 2)", &s, &v[12..18], &[6], DType::F32);
    let s = t.select(1, -1).unwrap();
    assert_exact(
        "select(1, -1)",
        &s,
        &[5.0, 11.0, 17.0, 23.0],
        &[4],
        DType::F32,
    );
    // Python slices: [1:5:2], [-3:], [:-4], clamped ends.
    let s = t.slice(1, 1, 5, 2).unwrap();
    assert_exact(
        "slice(1, 1, 5, 2)",
        &s,
        &strided(&v, &[4, 2], &[6, 2], 1),
        &[4, 2],
        DType::F32,
    );
    let s = t.slice(1, -3, isize::MAX, 1).unwrap();
    assert_exact(
        "slice(1, -3, end)",
        &s,
        &strided(&v, &[4, 3], &[6, 1], 3),
        &[4, 3],
        DType::F32,
    );
    let s = t.slice(0, 0, -3, 1).unwrap();
    assert_exact("slice(0, 0, -3)", &s, &v[..6], &[1, 6], DType::F32);
    let s = t.slice(0, -100, 100, 3).unwrap();
    assert_exact(
        "slice clamped, step 3",
        &s,
        &strided(&v, &[2, 6], &[18, 1], 0),
        &[2, 6],
        DType::F32,
    );
    let s = t.slice(1, 4, 2, 1).unwrap();
    assert_eq!(s.dims(), [4, 0], "empty slice");
    // Views of views: the offsets add up.
    let s = t
        .narrow(0, 1, 3)
        .unwrap()
        .slice(1, 1, isize::MAX, 2)
        .unwrap()
        .select(0, 1)
        .unwrap();
    assert_exact(
        "narrow.slice.select",
        &s,
        &[13.0, 15.0, 17.0],
        &[3],
        DType::F32,
    );
}

fn expand<B: Backend>(b: &B) {
    let (t, v) = iota(&[3, 1], b);
    let e = t.expand(&[4, 3, 5]).unwrap();
    assert_eq!(e.strides()[0], 0);
    assert_eq!(e.strides()[2], 0);
    assert!(e.shares_storage_with(&t));
    let want: Vec<f64> = (0..60).map(|i| v[(i / 5) % 3]).collect();
    assert_exact("expand [3,1] -> [4,3,5]", &e, &want, &[4, 3, 5], DType::F32);
    let e = t.expand(&[-1, 2]).unwrap();
    assert_exact(
        "expand [-1, 2]",
        &e,
        &[0.0, 0.0, 1.0, 1.0, 2.0, 2.0],
        &[3, 2],
        DType::F32,
    );
    let s = f32_tensor(&[7.0], &[], b).expand(&[2, 2]).unwrap();
    assert_exact("expand a 0-dim", &s, &[7.0; 4], &[2, 2], DType::F32);
}

fn squeeze_unsqueeze_flatten<B: Backend>(b: &B) {
    let (t, v) = iota(&[1, 3, 1, 2], b);
    assert_exact("squeeze()", &t.squeeze().unwrap(), &v, &[3, 2], DType::F32);
    assert_exact(
        "squeeze_dim(2)",
        &t.squeeze_dim(2).unwrap(),
        &v,
        &[1, 3, 2],
        DType::F32,
    );
    assert_exact(
        "squeeze_dim(1) keeps a non-1 dim",
        &t.squeeze_dim(1).unwrap(),
        &v,
        &[1, 3, 1, 2],
        DType::F32,
    );
    assert_exact(
        "unsqueeze(0)",
        &t.unsqueeze(0).unwrap(),
        &v,
        &[1, 1, 3, 1, 2],
        DType::F32,
    );
    assert_exact(
        "unsqueeze(-1)",
        &t.unsqueeze(-1).unwrap(),
        &v,
        &[1, 3, 1, 2, 1],
        DType::F32,
    );
    assert_exact(
        "unsqueeze(4)",
        &t.unsqueeze(4).unwrap(),
        &v,
        &[1, 3, 1, 2, 1],
        DType::F32,
    );
    let (u, uv) = iota(&[2, 3, 4, 5], b);
    assert_exact(
        "flatten(1, 2)",
        &u.flatten(1, 2).unwrap(),
        &uv,
        &[2, 12, 5],
        DType::F32,
    );
    assert_exact(
        "flatten(0, -1)",
        &u.flatten(0, -1).unwrap(),
        &uv,
        &[120],
        DType::F32,
    );
    assert_exact(
        "unflatten(1, [3, -1])",
        &u.flatten(1, 2).unwrap().unflatten(1, &[3, -1]).unwrap(),
        &uv,
        &[2, 3, 4, 5],
        DType::F32,
    );
    // flatten of a non-contiguous tensor copies in logical order.
    let tt = u.transpose(0, 3).unwrap(); // [5, 3, 4, 2]
    let want = strided(&uv, &[5, 3, 4, 2], &[1, 20, 5, 60], 0);
    assert_exact(
        "flatten of a transpose",
        &tt.flatten(0, -1).unwrap(),
        &want,
        &[120],
        DType::F32,
    );
}

fn chunk_and_split<B: Backend>(b: &B) {
    let (t, v) = iota(&[7, 2], b);
    let parts = t.chunk(3, 0).unwrap();
    let sizes: Vec<usize> = parts.iter().map(|p| p.dims()[0]).collect();
    assert_eq!(sizes, [3, 3, 1], "chunk(3) of 7 rows, as torch.chunk");
    assert_exact("chunk part 1", &parts[1], &v[6..12], &[3, 2], DType::F32);
    assert!(parts[2].shares_storage_with(&t));
    let parts = t.split(2, 0).unwrap();
    let sizes: Vec<usize> = parts.iter().map(|p| p.dims()[0]).collect();
    assert_eq!(sizes, [2, 2, 2, 1], "split(2) of 7 rows");
    assert_exact(
        "split last part",
        &parts[3],
        &v[12..14],
        &[1, 2],
        DType::F32,
    );
    let parts = t.split_with_sizes(&[1, 4, 2], 0).unwrap();
    assert_exact(
        "split_with_sizes part 2",
        &parts[2],
        &v[10..14],
        &[2, 2],
        DType::F32,
    );
    let cols = t.chunk(2, -1).unwrap();
    let want: Vec<f64> = (0..7).map(|i| (2 * i + 1) as f64).collect();
    assert_exact("chunk along dim -1", &cols[1], &want, &[7, 1], DType::F32);
}

fn cat_and_stack<B: Backend>(b: &B) {
    let (x, xv) = iota(&[2, 3], b);
    let y = f32_tensor(&[10.0, 11.0, 12.0, 13.0], &[2, 2], b);
    let z = f32_tensor(&[20.0, 21.0], &[2, 1], b);
    let c = Tensor::cat(&[&x, &y, &z], 1).unwrap();
    let want = [
        0.0, 1.0, 2.0, 10.0, 11.0, 20.0, 3.0, 4.0, 5.0, 12.0, 13.0, 21.0,
    ];
    assert_exact("cat dim 1", &c, &want, &[2, 6], DType::F32);
    let c = Tensor::cat(&[&x, &x], -2).unwrap();
    let want: Vec<f64> = xv.iter().chain(&xv).cloned().collect();
    assert_exact("cat dim -2", &c, &want, &[4, 3], DType::F32);
    // Non-contiguous inputs and an empty one.
    let xt = x.t().unwrap(); // [3, 2]
    let empty = Tensor::zeros(&[0, 2], DType::F32, b).unwrap();
    let c = Tensor::cat(&[&xt, &empty, &y], 0).unwrap();
    let want = [0.0, 3.0, 1.0, 4.0, 2.0, 5.0, 10.0, 11.0, 12.0, 13.0];
    assert_exact(
        "cat of a transpose, an empty and a tensor",
        &c,
        &want,
        &[5, 2],
        DType::F32,
    );
    let s = Tensor::stack(&[&x, &x.neg().unwrap()], 0).unwrap();
    let want: Vec<f64> = xv.iter().cloned().chain(xv.iter().map(|v| -v)).collect();
    assert_exact("stack dim 0", &s, &want, &[2, 2, 3], DType::F32);
    let s = Tensor::stack(&[&x, &x.neg().unwrap()], -1).unwrap();
    let want: Vec<f64> = xv.iter().flat_map(|&v| [v, -v]).collect();
    assert_exact("stack dim -1", &s, &want, &[2, 3, 2], DType::F32);
    let s = Tensor::stack(&[&x, &x], 1).unwrap();
    let want: Vec<f64> = [&xv[..3], &xv[..3], &xv[3..], &xv[3..]].concat();
    assert_exact("stack dim 1", &s, &want, &[2, 2, 3], DType::F32);
}

fn contiguous_and_copy<B: Backend>(b: &B) {
    let (t, v) = iota(&[3, 4], b);
    let c = t.contiguous().unwrap();
    assert!(
        c.shares_storage_with(&t),
        "contiguous() of a contiguous tensor is itself"
    );
    let tt = t.t().unwrap();
    let c = tt.contiguous().unwrap();
    assert!(c.is_contiguous() && !c.shares_storage_with(&t));
    assert_eq!(c.strides(), [3, 1]);
    assert_exact(
        "contiguous of a transpose",
        &c,
        &strided(&v, &[4, 3], &[1, 4], 0),
        &[4, 3],
        DType::F32,
    );
    // copy_ into a view writes into the base, broadcasting and converting the source.
    let base = Tensor::zeros(&[3, 4], DType::F32, b).unwrap();
    let src = tensor(&[1.0, 2.0], &[2], DType::I64, b);
    base.narrow(1, 1, 2).unwrap().copy_(&src).unwrap();
    let want = [0.0, 1.0, 2.0, 0.0, 0.0, 1.0, 2.0, 0.0, 0.0, 1.0, 2.0, 0.0];
    assert_exact(
        "copy_ into a narrow, broadcast and converted",
        &base,
        &want,
        &[3, 4],
        DType::F32,
    );
    // copy_ into a transposed view.
    let dst = Tensor::zeros(&[4, 3], DType::F32, b).unwrap();
    dst.t().unwrap().copy_(&t).unwrap();
    assert_exact(
        "copy_ into a transpose",
        &dst,
        &strided(&v, &[4, 3], &[1, 4], 0),
        &[4, 3],
        DType::F32,
    );
    // A view sees later in-place changes of its base.
    let view = t.select(1, 0).unwrap();
    t.mul_(2.0).unwrap();
    assert_exact(
        "a view after an in-place op on its base",
        &view,
        &[0.0, 8.0, 16.0],
        &[3],
        DType::F32,
    );
}
