//! In-place ops under autograd: history rebasing on tensors that are not views, the saved-tensor
//! version check, and the view cases that are errors.

use crate::common::{T, assert_close, cpu, index, input, leaf, to_vec};
use tiny_torch_tensor::{DType, Tensor, autograd};

fn grads(x: &T, w: &T) -> (Vec<f64>, Vec<f64>) {
    (to_vec(&x.grad().unwrap()), to_vec(&w.grad().unwrap()))
}

fn leaves(seed: u64) -> (T, T) {
    let x = input(&[2, 3], seed).requires_grad_(true).unwrap();
    let w = input(&[2, 3], seed + 1).requires_grad_(true).unwrap();
    (x, w)
}

#[test]
fn relu_in_place_matches_the_out_of_place_gradient() {
    let c = input(&[2, 3], 9);
    let (x, w) = leaves(1);
    let y = x.mul(&w).unwrap();
    let version = y.version();
    y.relu_().unwrap();
    assert_eq!(y.grad_fn().as_deref(), Some("ReluBackward0"));
    assert!(y.version() > version && !y.is_leaf());
    y.mul(&c).unwrap().sum().unwrap().backward().unwrap();
    let in_place = grads(&x, &w);

    let (x2, w2) = leaves(1);
    let y2 = x2.mul(&w2).unwrap().relu().unwrap();
    assert_close(&to_vec(&y), &to_vec(&y2), 1e-12);
    y2.mul(&c).unwrap().sum().unwrap().backward().unwrap();
    let out_of_place = grads(&x2, &w2);
    assert_close(&in_place.0, &out_of_place.0, 1e-12);
    assert_close(&in_place.1, &out_of_place.1, 1e-12);
}

#[test]
fn add_and_mul_with_tensor_and_scalar_operands() {
    let x = leaf(&[1.0, -2.0, 0.5], &[3]);
    let w = leaf(&[3.0, 0.25, -1.5], &[3]);
    // y = ((2x + w) * w * 3 - 1) / 2
    let y = x.mul(2.0).unwrap();
    y.add_(&w).unwrap();
    y.mul_(&w).unwrap();
    y.mul_(3.0).unwrap();
    y.sub_(1.0).unwrap();
    y.div_(2.0).unwrap();
    assert_eq!(y.grad_fn().as_deref(), Some("DivBackward0"));
    y.sum().unwrap().backward().unwrap();
    let (xs, ws) = ([1.0, -2.0, 0.5], [3.0, 0.25, -1.5]);
    let want_y: Vec<f64> = (0..3)
        .map(|i| ((2.0 * xs[i] + ws[i]) * ws[i] * 3.0 - 1.0) / 2.0)
        .collect();
    assert_close(&to_vec(&y), &want_y, 1e-12);
    // dy/dx = 3w, dy/dw = 1.5 (2x + 2w)
    let want_x: Vec<f64> = ws.iter().map(|w| 3.0 * w).collect();
    let want_w: Vec<f64> = (0..3).map(|i| 3.0 * (xs[i] + ws[i])).collect();
    assert_close(&to_vec(&x.grad().unwrap()), &want_x, 1e-12);
    assert_close(&to_vec(&w.grad().unwrap()), &want_w, 1e-12);
}

#[test]
fn chained_in_place_ops_match_the_out_of_place_chain() {
    let run = |in_place: bool| {
        let (x, w) = leaves(3);
        let y = if in_place {
            let y = x.exp().unwrap();
            y.tanh_().unwrap();
            y.mul_(&y).unwrap(); // reads itself
            y.add_(&w).unwrap();
            y.sigmoid_().unwrap();
            y.clamp_(Some(0.1), Some(0.9)).unwrap();
            y
        } else {
            let y = x.exp().unwrap().tanh().unwrap();
            let y = y.mul(&y).unwrap().add(&w).unwrap().sigmoid().unwrap();
            y.clamp(Some(0.1), Some(0.9)).unwrap()
        };
        y.sum().unwrap().backward().unwrap();
        let (gx, gw) = grads(&x, &w);
        (to_vec(&y), gx, gw)
    };
    let (a, b) = (run(true), run(false));
    assert_close(&a.0, &b.0, 1e-12);
    assert_close(&a.1, &b.1, 1e-12);
    assert_close(&a.2, &b.2, 1e-12);
}

#[test]
fn a_tensor_modified_in_place_can_be_used_by_later_ops() {
    let x = leaf(&[1.5, -0.5], &[2]);
    let y = x.mul(2.0).unwrap();
    y.add_(1.0).unwrap();
    // z = (2x + 1) x: dz/dx = 4x + 1
    let z = y.mul(&x).unwrap().sum().unwrap();
    z.backward().unwrap();
    assert_close(&to_vec(&x.grad().unwrap()), &[7.0, -1.0], 1e-12);
}

#[test]
fn the_saved_tensor_version_check_still_fires() {
    let x = leaf(&[1.0, 2.0], &[2]);
    let w = leaf(&[3.0, 4.0], &[2]);
    let y = x.mul(2.0).unwrap();
    let z = y.mul(&w).unwrap().sum().unwrap(); // saves y
    y.add_(1.0).unwrap();
    let err = z.backward().unwrap_err().to_string();
    assert!(
        err.contains("modified by an inplace operation") && err.contains("mul"),
        "{err}"
    );
    // The in-place op itself keeps its own saved values valid: exp_ saved a clone of y.
    let y = x.mul(2.0).unwrap();
    y.exp_().unwrap();
    y.sum().unwrap().backward().unwrap();
    let want: Vec<f64> = [1.0f64, 2.0]
        .iter()
        .map(|v| 2.0 * (2.0 * v).exp())
        .collect();
    assert_close(&to_vec(&x.grad().unwrap()), &want, 1e-12);
}

#[test]
fn a_leaf_that_does_not_require_grad_joins_the_graph() {
    let w = leaf(&[1.0, -2.0], &[2]);
    let z = Tensor::zeros(&[2], DType::F64, &cpu()).unwrap();
    z.add_(&w).unwrap();
    assert!(z.requires_grad() && !z.is_leaf());
    assert_eq!(z.grad_fn().as_deref(), Some("AddBackward0"));
    z.mul(&z).unwrap().sum().unwrap().backward().unwrap();
    assert_close(&to_vec(&w.grad().unwrap()), &[2.0, -4.0], 1e-12);
}

#[test]
fn copy_and_scatter_in_place() {
    let x = leaf(&[1.0, 2.0, 3.0], &[3]);
    let w = leaf(&[5.0], &[1]);
    let c = Tensor::from_slice(&[2.0, 3.0, 4.0], &[3], &cpu()).unwrap();
    // copy_ replaces the history: x gets no gradient through y.
    let y = x.mul(1.0).unwrap();
    y.copy_(&w).unwrap(); // broadcast [1] -> [3]
    y.mul(&c).unwrap().sum().unwrap().backward().unwrap();
    assert_close(&to_vec(&w.grad().unwrap()), &[9.0], 1e-12);
    assert!(x.grad().is_none());
    w.clear_grad();
    // scatter_: y = [x0, w0, x2]
    let y = x.mul(1.0).unwrap();
    y.scatter_(0, &index(&[1], &[1]), &w).unwrap();
    assert_close(&to_vec(&y), &[1.0, 5.0, 3.0], 1e-12);
    y.mul(&c).unwrap().sum().unwrap().backward().unwrap();
    assert_close(&to_vec(&x.grad().unwrap()), &[2.0, 0.0, 4.0], 1e-12);
    assert_close(&to_vec(&w.grad().unwrap()), &[3.0], 1e-12);
    // scatter_add_: y = [x0, x1 + w0, x2]
    x.clear_grad();
    w.clear_grad();
    let y = x.mul(1.0).unwrap();
    y.scatter_add_(0, &index(&[1], &[1]), &w).unwrap();
    assert_close(&to_vec(&y), &[1.0, 7.0, 3.0], 1e-12);
    y.mul(&c).unwrap().sum().unwrap().backward().unwrap();
    assert_close(&to_vec(&x.grad().unwrap()), &[2.0, 3.0, 4.0], 1e-12);
    assert_close(&to_vec(&w.grad().unwrap()), &[3.0], 1e-12);
}

#[test]
fn gradcheck_of_a_function_using_in_place_ops() {
    let f = |t: &[T]| {
        let (x, w) = (&t[0], &t[1]);
        let y = x.mul(w)?;
        y.tanh_()?;
        y.add_(w)?;
        y.mul_(x)?;
        y.sub_(0.5)?;
        y.sigmoid_()?;
        y.scatter_add_(0, &index(&[1, 0, 1], &[1, 3]), w)?;
        let z = x.exp()?;
        z.div_(&y)?;
        z.sum()
    };
    autograd::gradcheck(f, &[input(&[2, 3], 5), input(&[2, 3], 6)], 1e-6, 1e-6, 1e-4).unwrap();
}

#[test]
fn in_place_on_a_view_of_a_graph_tensor_is_an_error() {
    let x = leaf(&[1.0, -2.0, 3.0], &[3]);
    let y = x.mul(2.0).unwrap();
    let v = y.narrow(0, 0, 2).unwrap();
    let err = v.relu_().unwrap_err().to_string();
    assert!(err.contains("view") && err.contains("CopySlices"), "{err}");
    let err = v.add_(1.0).unwrap_err().to_string();
    assert!(err.contains("view"), "{err}");
    // Nothing was written.
    assert_close(&to_vec(&y), &[2.0, -4.0, 6.0], 1e-12);
}

#[test]
fn a_view_taken_before_an_in_place_op_on_its_base_is_stale() {
    let x = leaf(&[1.0, -2.0, 3.0], &[3]);
    let y = x.mul(2.0).unwrap();
    let v = y.narrow(0, 0, 2).unwrap();
    let before = v.sum().unwrap(); // recorded before the in-place op: still correct
    y.relu_().unwrap();
    // Backward through the view's old history would be wrong: both uses are errors.
    let err = v.sum().unwrap().backward().unwrap_err().to_string();
    assert!(
        err.contains("created before an in-place operation"),
        "{err}"
    );
    let err = v
        .backward_with(&Tensor::ones(&[2], DType::F64, &cpu()).unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("created before an in-place operation"),
        "{err}"
    );
    assert!(v.relu_().is_err());
    let err = autograd::grad(&[&before], &[&v], None, true, false).unwrap_err();
    assert!(err.to_string().contains("created before"), "{err}");
    let g = autograd::grad(&[&before], &[&x], None, true, false).unwrap();
    assert_close(&to_vec(g[0].as_ref().unwrap()), &[2.0, 2.0, 0.0], 1e-12);
    // A view taken after the in-place op sees the new history.
    let v = y.narrow(0, 0, 2).unwrap();
    v.sum().unwrap().backward().unwrap();
    assert_close(&to_vec(&x.grad().unwrap()), &[2.0, 0.0, 0.0], 1e-12);
}

#[test]
fn in_place_ops_that_would_hide_history_from_untracked_views_are_errors() {
    let w = leaf(&[1.0, 2.0], &[2]);
    let z = Tensor::zeros(&[4], DType::F64, &cpu()).unwrap();
    let v = z.narrow(0, 0, 2).unwrap();
    let err = v.add_(&w).unwrap_err().to_string();
    assert!(err.contains("does not track"), "{err}");
    let w4 = leaf(&[1.0, 2.0, 3.0, 4.0], &[4]);
    assert!(z.add_(&w4).is_err()); // v would miss z's new history
    drop(v);
    z.add_(&w4).unwrap();
    assert_eq!(z.grad_fn().as_deref(), Some("AddBackward0"));
}

#[test]
fn out_forms_do_not_support_autograd() {
    let x = leaf(&[1.0, 2.0], &[2]);
    let out = Tensor::zeros(&[2], DType::F64, &cpu()).unwrap();
    let err = x.add_out(1.0, &out).unwrap_err().to_string();
    assert!(err.contains("out="), "{err}");
    assert!(x.relu_out(&out).is_err());
    let _guard = autograd::no_grad();
    x.add_out(1.0, &out).unwrap();
    assert_close(&to_vec(&out), &[2.0, 3.0], 1e-12);
}

/// Index, condition and argmax tensors are saved like any operand: writing to one between the
/// forward and the backward is an error (as in PyTorch), never a silently different gradient.
#[test]
fn writing_to_a_saved_index_or_mask_is_an_error() {
    let x = leaf(&[1.0, 2.0, 3.0], &[3]);
    let check = |what: &str, result: tiny_torch_tensor::Result<()>| {
        let err = result.unwrap_err().to_string();
        assert!(
            err.contains("modified by an inplace operation"),
            "{what}: {err}"
        );
    };
    let idx = index(&[0], &[1]);
    let y = x.gather(0, &idx).unwrap().sum().unwrap();
    idx.copy_(&index(&[2], &[1])).unwrap();
    check("gather", y.backward());
    let idx = index(&[1, 1], &[2]);
    let y = x.index_select(0, &idx).unwrap().sum().unwrap();
    idx.copy_(&index(&[0, 2], &[2])).unwrap();
    check("index_select", y.backward());
    let mask = x.gt(1.5).unwrap();
    let y = x.masked_fill(&mask, 0.0).unwrap().sum().unwrap();
    mask.copy_(&x.lt(1.5).unwrap()).unwrap();
    check("masked_fill", y.backward());
    let (values, indices) = x.reshape(&[1, 3]).unwrap().max_dim(1, false).unwrap();
    let y = values.sum().unwrap();
    indices.add_(-1).unwrap();
    check("max_dim", y.backward());
    let src = leaf(&[5.0], &[1]);
    let idx = index(&[1], &[1]);
    let y = x.scatter(0, &idx, &src).unwrap().sum().unwrap();
    idx.copy_(&index(&[0], &[1])).unwrap();
    check("scatter", y.backward());
    // Untouched, the same graphs differentiate as before.
    let idx = index(&[2, 0, 2], &[3]);
    x.gather(0, &idx)
        .unwrap()
        .sum()
        .unwrap()
        .backward()
        .unwrap();
    assert_close(&to_vec(&x.grad().unwrap()), &[1.0, 0.0, 2.0], 1e-12);
}

/// `x.scaled_add_(alpha, &x, beta)` under autograd: `x = (alpha + beta) x`, whose gradient is
/// `alpha + beta` (the addend is read from a snapshot, so nothing it saved is overwritten).
#[test]
fn scaled_add_of_a_tensor_onto_itself_differentiates() {
    for (alpha, beta) in [(1.0, 0.5), (0.9, 1.0), (0.9, -0.25)] {
        let a = leaf(&[1.0, 2.0], &[2]);
        let x = a.mul(1.0).unwrap();
        x.scaled_add_(alpha, &x, beta).unwrap();
        assert_close(&to_vec(&x), &[alpha + beta, 2.0 * (alpha + beta)], 1e-12);
        x.sum().unwrap().backward().unwrap();
        assert_close(&to_vec(&a.grad().unwrap()), &[alpha + beta; 2], 1e-12);
    }
}
