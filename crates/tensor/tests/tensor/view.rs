//! Views share storage, copy nothing, and read the right elements, views of views included.

use crate::common::*;
use tiny_torch_tensor::{DType, Tensor};

#[test]
fn view_infers_minus_one_and_shares_storage() {
    let (x, v) = random_f32(&[2, 3, 4], 1);
    let y = x.view(&[4, -1]).unwrap();
    assert!(y.shares_storage_with(&x));
    assert_tensor(&y, &[4, 6], DType::F32, &v, 0.0);
    assert_eq!(x.view(&[-1]).unwrap().dims(), &[24]);
}

#[test]
fn view_errors_name_the_shapes() {
    let (x, _) = random_f32(&[2, 3], 1);
    assert_err(x.view(&[4, 2]), &["view", "[4, 2]", "size 6"]);
    assert_err(
        x.view(&[-1, -1]),
        &["view", "only one dimension can be inferred"],
    );
    assert_err(x.view(&[-2, 3]), &["view", "invalid shape dimension -2"]);
    assert_err(x.view(&[0, -1]), &["view", "ambiguous"]);
    let t = x.t().unwrap();
    assert_err(t.view(&[6]), &["view", "[3, 2]", "reshape"]);
}

#[test]
fn reshape_copies_only_when_a_view_cannot_express_it() {
    let (x, v) = random_f32(&[2, 3], 2);
    let r = x.reshape(&[3, 2]).unwrap();
    assert!(r.shares_storage_with(&x));
    let t = x.t().unwrap();
    let flat = t.reshape(&[-1]).unwrap();
    assert!(!flat.shares_storage_with(&x));
    let want = reference(&[6], |ix| {
        let (i, j) = (ix[0] / 2, ix[0] % 2);
        v[j * 3 + i]
    });
    assert_tensor(&flat, &[6], DType::F32, &want, 0.0);
    assert_err(x.reshape(&[5]), &["reshape", "[5]", "size 6"]);
}

#[test]
fn permute_and_transpose_reorder_dims() {
    let shape = [2, 3, 4];
    let (x, v) = random_f32(&shape, 3);
    let p = x.permute(&[2, 0, -2]).unwrap();
    assert!(p.shares_storage_with(&x));
    let want = reference(&[4, 2, 3], |ix| v[ravel(&[ix[1], ix[2], ix[0]], &shape)]);
    assert_tensor(&p, &[4, 2, 3], DType::F32, &want, 0.0);
    let t = x.transpose(0, -1).unwrap();
    let want = reference(&[4, 3, 2], |ix| v[ravel(&[ix[2], ix[1], ix[0]], &shape)]);
    assert_tensor(&t, &[4, 3, 2], DType::F32, &want, 0.0);
    assert_err(x.permute(&[0, 0, 1]), &["permute", "[2, 3, 4]"]);
    assert_err(x.permute(&[0, 1]), &["permute", "[2, 3, 4]"]);
    assert_err(x.transpose(0, 3), &["transpose", "[-3, 2]", "got 3"]);
}

#[test]
fn t_transposes_matrices_and_refuses_3d() {
    let (x, v) = random_f32(&[2, 3], 4);
    let want = reference(&[3, 2], |ix| v[ix[1] * 3 + ix[0]]);
    assert_tensor(&x.t().unwrap(), &[3, 2], DType::F32, &want, 0.0);
    let (y, _) = random_f32(&[3], 4);
    assert_eq!(y.t().unwrap().dims(), &[3]);
    let (z, _) = random_f32(&[2, 2, 2], 4);
    assert_err(z.t(), &["t", "3D", "[2, 2, 2]"]);
}

#[test]
fn narrow_select_and_slice_follow_python_semantics() {
    let shape = [4, 5];
    let (x, v) = random_f32(&shape, 5);
    let n = x.narrow(1, 1, 3).unwrap();
    assert_tensor(
        &n,
        &[4, 3],
        DType::F32,
        &reference(&[4, 3], |ix| v[ix[0] * 5 + ix[1] + 1]),
        0.0,
    );
    let s = x.select(0, -1).unwrap();
    assert_tensor(&s, &[5], DType::F32, &v[15..20], 0.0);
    // x[:, -4:isize::MAX:2] -> columns 1, 3
    let sl = x.slice(1, -4, isize::MAX, 2).unwrap();
    assert_tensor(
        &sl,
        &[4, 2],
        DType::F32,
        &reference(&[4, 2], |ix| v[ix[0] * 5 + 1 + 2 * ix[1]]),
        0.0,
    );
    // Out-of-range bounds clamp; an empty slice is fine.
    assert_eq!(x.slice(0, -100, 100, 1).unwrap().dims(), &[4, 5]);
    assert_eq!(x.slice(0, 3, 1, 1).unwrap().dims(), &[0, 5]);
    assert_err(x.narrow(1, 3, 3), &["narrow", "exceeds", "[4, 5]"]);
    assert_err(x.select(1, 5), &["select", "index 5", "size 5"]);
    assert_err(x.select(1, -6), &["select", "index -6", "size 5"]);
    assert_err(x.slice(0, 0, 2, 0), &["slice", "step"]);
    assert_err(x.select(2, 0), &["select", "dimension out of range"]);
    let scalar = x.select(0, 0).unwrap().select(0, 0).unwrap();
    assert_err(scalar.select(0, 0), &["select", "0-dim"]);
}

#[test]
fn views_of_views_compose() {
    let shape = [3, 4, 5];
    let (x, v) = random_f32(&shape, 6);
    // x.transpose(0, 2)[1:5:2, :, 1].narrow(1, 1, 2) -> shape [2, 2]
    let y = x
        .transpose(0, 2)
        .unwrap()
        .slice(0, 1, 5, 2)
        .unwrap()
        .select(2, 1)
        .unwrap()
        .narrow(1, 1, 2)
        .unwrap();
    assert!(y.shares_storage_with(&x));
    let want = reference(&[2, 2], |ix| {
        let k = 1 + 2 * ix[0];
        let j = 1 + ix[1];
        v[ravel(&[1, j, k], &shape)]
    });
    assert_tensor(&y, &[2, 2], DType::F32, &want, 0.0);
    // A view of a non-contiguous view, made contiguous, has the same values.
    let c = y.contiguous().unwrap();
    assert!(c.is_contiguous());
    assert_close(&values(&c), &want, 0.0);
}

#[test]
fn expand_broadcasts_with_stride_zero() {
    let (x, v) = random_f32(&[3, 1], 7);
    let e = x.expand(&[2, -1, 4]).unwrap();
    assert!(e.shares_storage_with(&x));
    assert_eq!(e.strides(), &[0, 1, 0]);
    assert_tensor(
        &e,
        &[2, 3, 4],
        DType::F32,
        &reference(&[2, 3, 4], |ix| v[ix[1]]),
        0.0,
    );
    assert_err(x.expand(&[2, 2]), &["expand", "[2, 2]", "[3, 1]"]);
    assert_err(
        x.expand(&[-1, 3, 1]),
        &["expand", "leading, non-existing dimension 0"],
    );
    assert_err(x.expand(&[4]), &["expand", "number of sizes provided (1)"]);
    // 1 -> 0 is a valid broadcast.
    assert_eq!(x.expand(&[3, 0]).unwrap().numel(), 0);
}

#[test]
fn squeeze_and_unsqueeze() {
    let (x, v) = random_f32(&[1, 3, 1, 2], 8);
    assert_tensor(&x.squeeze().unwrap(), &[3, 2], DType::F32, &v, 0.0);
    assert_eq!(x.squeeze_dim(-2).unwrap().dims(), &[1, 3, 2]);
    assert_eq!(x.squeeze_dim(1).unwrap().dims(), &[1, 3, 1, 2]);
    assert_eq!(x.unsqueeze(4).unwrap().dims(), &[1, 3, 1, 2, 1]);
    assert_eq!(x.unsqueeze(-1).unwrap().dims(), &[1, 3, 1, 2, 1]);
    assert_eq!(x.unsqueeze(0).unwrap().dims(), &[1, 1, 3, 1, 2]);
    assert_err(
        x.unsqueeze(5),
        &["unsqueeze", "dimension out of range", "got 5"],
    );
    assert_err(x.squeeze_dim(4), &["squeeze", "got 4"]);
    let s = Tensor::full(&[], 3.0, DType::F32, &cpu()).unwrap();
    assert_eq!(s.squeeze().unwrap().dims(), &[] as &[usize]);
    assert_eq!(s.unsqueeze(0).unwrap().dims(), &[1]);
}

#[test]
fn flatten_and_unflatten() {
    let (x, v) = random_f32(&[2, 3, 4], 9);
    let f = x.flatten(1, -1).unwrap();
    assert!(f.shares_storage_with(&x));
    assert_tensor(&f, &[2, 12], DType::F32, &v, 0.0);
    assert_eq!(x.flatten(0, -1).unwrap().dims(), &[24]);
    // Flattening a transposed tensor needs a copy; the values follow the logical order.
    let t = x.transpose(0, 2).unwrap();
    let tf = t.flatten(0, 1).unwrap();
    let want = reference(&[12, 2], |ix| {
        let (k, j, i) = (ix[0] / 3, ix[0] % 3, ix[1]);
        v[ravel(&[i, j, k], &[2, 3, 4])]
    });
    assert_tensor(&tf, &[12, 2], DType::F32, &want, 0.0);
    let u = f.unflatten(1, &[3, -1]).unwrap();
    assert_tensor(&u, &[2, 3, 4], DType::F32, &v, 0.0);
    assert_err(x.flatten(2, 0), &["flatten", "start_dim", "[2, 3, 4]"]);
    assert_err(f.unflatten(1, &[5, -1]), &["unflatten", "size 12"]);
    assert_err(f.unflatten(1, &[]), &["unflatten", "non-empty"]);
    let s = Tensor::full(&[], 3.0, DType::F32, &cpu()).unwrap();
    assert_eq!(s.flatten(0, -1).unwrap().dims(), &[1]);
}

#[test]
fn chunk_and_split_make_views_along_a_dim() {
    let (x, v) = random_f32(&[7, 2], 10);
    let parts = x.chunk(3, 0).unwrap();
    let sizes: Vec<usize> = parts.iter().map(|p| p.dims()[0]).collect();
    assert_eq!(sizes, vec![3, 3, 1]);
    assert!(parts.iter().all(|p| p.shares_storage_with(&x)));
    assert_close(&values(&parts[2]), &v[12..14], 0.0);
    let parts = x.split(2, 0).unwrap();
    let sizes: Vec<usize> = parts.iter().map(|p| p.dims()[0]).collect();
    assert_eq!(sizes, vec![2, 2, 2, 1]);
    let parts = x.split_with_sizes(&[1, 1], 1).unwrap();
    assert_close(
        &values(&parts[1]),
        &reference(&[7, 1], |ix| v[ix[0] * 2 + 1]),
        0.0,
    );
    // chunk(4) of 6 gives 3 chunks of 2, as in PyTorch.
    let (y, _) = random_f32(&[6], 10);
    assert_eq!(y.chunk(4, 0).unwrap().len(), 3);
    assert_err(x.chunk(0, 0), &["chunk", "greater than 0"]);
    assert_err(x.split(0, 0), &["split", "dimension size of 7"]);
    assert_err(
        x.split_with_sizes(&[3, 3], 0),
        &["split_with_sizes", "sum exactly to 7", "[3, 3]"],
    );
    assert_err(x.chunk(2, 2), &["chunk", "dimension out of range"]);
}

#[test]
fn zero_size_views() {
    let x = Tensor::zeros(&[0, 3], DType::F32, &cpu()).unwrap();
    assert_eq!(x.view(&[3, -1]).unwrap().dims(), &[3, 0]);
    assert_eq!(x.t().unwrap().dims(), &[3, 0]);
    assert_eq!(x.narrow(1, 1, 2).unwrap().dims(), &[0, 2]);
    assert_eq!(x.chunk(2, 0).unwrap().len(), 2);
    assert_eq!(x.split(2, 1).unwrap().len(), 2);
    assert_eq!(x.flatten(0, 1).unwrap().dims(), &[0]);
    assert_eq!(values(&x.reshape(&[0]).unwrap()), Vec::<f64>::new());
}

#[test]
fn size_counts_negative_dims_and_a_scalar_has_none() {
    let (x, _) = random_f32(&[2, 3, 4], 1);
    assert_eq!(
        [x.size(0).unwrap(), x.size(-1).unwrap(), x.size(-3).unwrap()],
        [2, 4, 2]
    );
    assert!(x.size(3).is_err() && x.size(-4).is_err());
    let scalar = tensor(&[5.0], &[], DType::F32);
    assert_err(scalar.size(0), &["size", "no dimensions"]);
    assert_err(scalar.size(-1), &["size", "no dimensions"]);
}

#[test]
fn shapes_past_an_index_are_errors_not_overflows() {
    let (one, _) = random_f32(&[1, 1], 2);
    assert_err(
        one.expand(&[1 << 40, 1 << 40]),
        &["expand", "more elements than an index can count"],
    );
    // A 0-size view of a large size is fine (nothing to count); an allocation whose other
    // sizes overflow is not, as in PyTorch ("Storage size calculation overflowed"), so that
    // its views' strides never overflow either.
    assert_eq!(one.expand(&[0, 1 << 40]).unwrap().numel(), 0);
    for shape in [[0, 1 << 40, 1 << 40], [1 << 40, 1 << 40, 0]] {
        assert_err(
            Tensor::zeros(&shape, DType::F32, &cpu()),
            &["more elements than fit in memory"],
        );
    }
    assert_eq!(
        Tensor::zeros(&[0, 1 << 40], DType::F32, &cpu())
            .unwrap()
            .numel(),
        0
    );
    assert_err(
        Tensor::from_le_bytes(&[], DType::F64, &[1 << 61], &cpu()),
        &["from_le_bytes", "more than fit in memory"],
    );
}
