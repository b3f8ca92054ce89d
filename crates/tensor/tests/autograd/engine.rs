//! The engine: accumulation, broadcasting, freeing, grad mode, hooks, versions, anomaly mode.

use crate::common::{T, assert_close, cpu, input, leaf, to_vec};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tiny_torch_tensor::{DType, Error, Tensor, autograd};

#[test]
fn backward_accumulates_into_leaves_across_calls() {
    let x = leaf(&[1.0, 2.0, 3.0], &[3]);
    let y = x.mul(&x).unwrap().sum().unwrap();
    assert_eq!(y.grad_fn().as_deref(), Some("SumBackward0"));
    assert!(x.is_leaf() && !y.is_leaf());
    y.backward().unwrap();
    assert_close(&to_vec(&x.grad().unwrap()), &[2.0, 4.0, 6.0], 1e-12);
    let y = x.mul(3.0).unwrap().sum().unwrap();
    y.backward().unwrap();
    assert_close(&to_vec(&x.grad().unwrap()), &[5.0, 7.0, 9.0], 1e-12);
    x.clear_grad();
    assert!(x.grad().is_none());
}

#[test]
fn a_tensor_used_twice_gets_the_sum_of_both_paths() {
    let x = leaf(&[2.0], &[1]);
    // y = x * exp(x) + x: dy/dx = exp(x) (1 + x) + 1
    let y = x.mul(&x.exp().unwrap()).unwrap().add(&x).unwrap();
    y.backward_with(&Tensor::ones(&[1], DType::F64, &cpu()).unwrap())
        .unwrap();
    assert_close(
        &to_vec(&x.grad().unwrap()),
        &[2f64.exp() * 3.0 + 1.0],
        1e-12,
    );
}

#[test]
fn broadcast_gradients_are_summed_to_the_input_shape() {
    let a = leaf(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    let b = leaf(&[10.0, 20.0, 30.0], &[3]);
    let c = leaf(&[2.0], &[]);
    a.mul(&b)
        .unwrap()
        .mul(&c)
        .unwrap()
        .sum()
        .unwrap()
        .backward()
        .unwrap();
    assert_eq!(b.grad().unwrap().dims(), &[3]);
    assert_close(&to_vec(&b.grad().unwrap()), &[10.0, 14.0, 18.0], 1e-12);
    assert_eq!(c.grad().unwrap().dims(), &[] as &[usize]);
    assert_close(&to_vec(&c.grad().unwrap()), &[460.0], 1e-12);
    assert_close(
        &to_vec(&a.grad().unwrap()),
        &[20.0, 40.0, 60.0, 20.0, 40.0, 60.0],
        1e-12,
    );
}

#[test]
fn gradients_flow_through_views_into_the_base() {
    let x = leaf(&(0..12).map(f64::from).collect::<Vec<_>>(), &[3, 4]);
    let v = x
        .t()
        .unwrap()
        .narrow(0, 1, 2)
        .unwrap()
        .select(1, 2)
        .unwrap();
    v.mul(&v).unwrap().sum().unwrap().backward().unwrap();
    let mut expected = vec![0.0; 12];
    expected[9] = 18.0;
    expected[10] = 20.0;
    assert_close(&to_vec(&x.grad().unwrap()), &expected, 1e-12);
}

#[test]
fn backward_needs_a_scalar_or_a_gradient_of_the_output_shape() {
    let x = leaf(&[1.0, 2.0], &[2]);
    let y = x.mul(2.0).unwrap();
    let err = y.backward().unwrap_err().to_string();
    assert!(err.contains("only for scalar outputs"), "{err}");
    let wrong = Tensor::ones(&[3], DType::F64, &cpu()).unwrap();
    let err = y.backward_with(&wrong).unwrap_err().to_string();
    assert!(err.contains("Mismatch in shape"), "{err}");
    let plain = Tensor::ones(&[], DType::F64, &cpu()).unwrap();
    let err = plain.backward().unwrap_err().to_string();
    assert!(err.contains("does not require grad"), "{err}");
}

#[test]
fn a_second_backward_through_a_freed_graph_is_an_error() {
    let x = leaf(&[1.0, 2.0], &[2]);
    let y = x.mul(&x).unwrap().sum().unwrap();
    y.backward().unwrap();
    let err = y.backward().unwrap_err();
    assert!(matches!(err, Error::Autograd { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("second time") && msg.contains("mul"), "{msg}");
}

#[test]
fn retain_graph_allows_a_second_backward() {
    let x = leaf(&[1.0, 2.0], &[2]);
    let y = x.mul(&x).unwrap().sum().unwrap();
    y.backward_opts(None, true, false).unwrap();
    y.backward_opts(None, false, false).unwrap();
    assert_close(&to_vec(&x.grad().unwrap()), &[4.0, 8.0], 1e-12);
    assert!(y.backward().is_err());
}

#[test]
fn no_grad_records_nothing_and_restores_the_mode() {
    let x = leaf(&[1.0], &[1]);
    assert!(autograd::is_grad_enabled());
    {
        let _guard = autograd::no_grad();
        assert!(!autograd::is_grad_enabled());
        let y = x.mul(2.0).unwrap();
        assert!(!y.requires_grad() && y.grad_fn().is_none());
        {
            let _inner = autograd::enable_grad();
            assert!(x.mul(2.0).unwrap().requires_grad());
        }
        assert!(!autograd::is_grad_enabled());
    }
    assert!(autograd::is_grad_enabled());
    autograd::set_grad_enabled(false);
    assert!(!x.exp().unwrap().requires_grad());
    autograd::set_grad_enabled(true);
    assert!(x.exp().unwrap().requires_grad());
}

#[test]
fn non_differentiable_ops_have_no_grad_fn() {
    let x = leaf(&[1.0, -2.0, 3.0], &[3]);
    assert!(x.gt(0.0).unwrap().grad_fn().is_none());
    assert!(x.argmax(None, false).unwrap().grad_fn().is_none());
    assert!(x.to_dtype(DType::I64).unwrap().grad_fn().is_none());
    let (_, indices) = x.max_dim(0, false).unwrap();
    assert!(!indices.requires_grad());
    let detached = x.detach();
    assert!(!detached.requires_grad() && detached.shares_storage_with(&x));
}

#[test]
fn requires_grad_needs_a_float_leaf() {
    let i = Tensor::<tiny_torch_cpu::Cpu>::zeros(&[2], DType::I64, &cpu()).unwrap();
    let err = i.requires_grad_(true).unwrap_err().to_string();
    assert!(err.contains("floating point"), "{err}");
    let x = leaf(&[1.0], &[1]);
    let y = x.mul(2.0).unwrap();
    assert!(y.requires_grad_(false).is_err());
}

#[test]
fn autograd_grad_returns_gradients_without_touching_dot_grad() {
    let x = leaf(&[1.0, 2.0], &[2]);
    let w = leaf(&[3.0, 4.0], &[2]);
    let h = x.mul(&w).unwrap();
    let y = h.sum().unwrap();
    let grads = autograd::grad(&[&y], &[&x, &h], None, false, false).unwrap();
    assert_close(&to_vec(grads[0].as_ref().unwrap()), &[3.0, 4.0], 1e-12);
    assert_close(&to_vec(grads[1].as_ref().unwrap()), &[1.0, 1.0], 1e-12);
    assert!(x.grad().is_none() && w.grad().is_none());
    let unused = leaf(&[1.0], &[1]);
    let y = x.sum().unwrap();
    let grads = autograd::grad(&[&y], &[&unused], None, false, false).unwrap();
    assert!(grads[0].is_none());
}

#[test]
fn a_ten_thousand_op_chain_neither_overflows_the_stack_nor_leaks() {
    let x = leaf(&[1.0], &[1]);
    let mut y = x.clone();
    for _ in 0..10_000 {
        y = y.mul(1.0001).unwrap().add(0.0).unwrap();
    }
    y.sum().unwrap().backward().unwrap();
    assert_close(&to_vec(&x.grad().unwrap()), &[1.0001f64.powi(10_000)], 1e-9);
    // A retained deep graph is dropped without recursion too.
    let mut z = x.clone();
    for _ in 0..10_000 {
        z = z.mul(&x).unwrap();
    }
    drop(z);
}

#[test]
fn hooks_can_replace_the_gradient() {
    let x = leaf(&[1.0, 2.0], &[2]);
    let h = x.mul(2.0).unwrap();
    h.register_hook(|g| Some(g.mul(10.0).unwrap())).unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    x.register_hook(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
        None
    })
    .unwrap();
    h.sum().unwrap().backward().unwrap();
    assert_close(&to_vec(&x.grad().unwrap()), &[20.0, 20.0], 1e-12);
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    let plain = Tensor::ones(&[1], DType::F64, &cpu()).unwrap();
    assert!(plain.register_hook(|_| None).is_err());
}

#[test]
fn post_accumulate_grad_hooks_run_once_per_backward_after_accumulation() {
    let w = leaf(&[1.0, 2.0], &[2]);
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    w.register_post_accumulate_grad_hook(move |leaf: &T| {
        assert!(leaf.grad().is_some());
        counter.fetch_add(1, Ordering::SeqCst);
        Ok(())
    })
    .unwrap();
    // w is used three times: still one accumulation, one hook call.
    let y = w.mul(&w).unwrap().add(&w).unwrap().sum().unwrap();
    y.backward().unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_close(&to_vec(&w.grad().unwrap()), &[3.0, 5.0], 1e-12);
    let h = w.mul(2.0).unwrap();
    assert!(h.register_post_accumulate_grad_hook(|_| Ok(())).is_err());

    // A hook's error comes out of backward.
    let v = leaf(&[1.0], &[1]);
    v.register_post_accumulate_grad_hook(|_| Err(Error::invalid("hook", "the peer is gone")))
        .unwrap();
    let err = v.mul(2.0).unwrap().sum().unwrap().backward().unwrap_err();
    assert!(err.to_string().contains("the peer is gone"), "{err}");
}

#[test]
fn modifying_a_saved_tensor_in_place_is_an_error_naming_the_op() {
    let x = leaf(&[1.0, 2.0], &[2]);
    let a = input(&[2], 3);
    let y = x.mul(&a).unwrap().sum().unwrap();
    a.add_(1.0).unwrap();
    let err = y.backward().unwrap_err().to_string();
    assert!(
        err.contains(
            "a variable needed for gradient computation has been modified by an inplace operation"
        ) && err.contains("mul"),
        "{err}"
    );
    // A write through a view bumps the shared version too.
    let b = input(&[2, 2], 4);
    let y = x.matmul(&b).unwrap().sum().unwrap();
    b.select(0, 1).unwrap().mul_(2.0).unwrap();
    let err = y.backward().unwrap_err().to_string();
    assert!(err.contains("matmul") && err.contains("version"), "{err}");
}

#[test]
fn in_place_ops_on_leaves_are_errors_but_free_under_no_grad() {
    let w = leaf(&[1.0, 2.0], &[2]);
    let err = w.add_(1.0).unwrap_err().to_string();
    assert!(err.contains("leaf Variable that requires grad"), "{err}");
    // On a non-leaf, in-place ops are recorded (see `inplace.rs`).
    let h = w.mul(2.0).unwrap();
    h.exp_().unwrap();
    assert_eq!(h.grad_fn().as_deref(), Some("ExpBackward0"));
    {
        let _guard = autograd::no_grad();
        w.sub_(0.5).unwrap();
    }
    assert_close(&to_vec(&w), &[0.5, 1.5], 1e-12);
}

#[test]
fn anomaly_mode_names_the_op_that_produced_nan() {
    let x = leaf(&[0.0, 1.0], &[2]);
    // d/dx sqrt(x) at 0 is inf; times 0 (from mul by 0) is nan.
    let y = x.sqrt().unwrap().mul(0.0).unwrap().sum().unwrap();
    autograd::set_detect_anomaly(true);
    let err = y.backward().unwrap_err().to_string();
    autograd::set_detect_anomaly(false);
    assert!(err.contains("nan") && err.contains("sqrt"), "{err}");
    let y = x.sqrt().unwrap().mul(0.0).unwrap().sum().unwrap();
    y.backward().unwrap();
    assert!(to_vec(&x.grad().unwrap())[0].is_nan());
}

#[test]
fn max_ties_split_the_gradient_evenly_and_max_dim_goes_to_the_index() {
    let x = leaf(&[1.0, 3.0, 3.0, 2.0], &[4]);
    x.amax(&[0], false).unwrap().backward().unwrap();
    assert_close(&to_vec(&x.grad().unwrap()), &[0.0, 0.5, 0.5, 0.0], 1e-12);
    x.clear_grad();
    let (values, indices) = x.max_dim(0, false).unwrap();
    values.backward().unwrap();
    let i = indices.to_vec::<i64>().unwrap()[0] as usize;
    let mut expected = vec![0.0; 4];
    expected[i] = 1.0;
    assert_close(&to_vec(&x.grad().unwrap()), &expected, 1e-12);
}

#[test]
fn the_norm_of_the_zero_vector_has_a_zero_gradient() {
    let x = leaf(&[0.0, 0.0], &[2]);
    x.norm().unwrap().backward().unwrap();
    assert_close(&to_vec(&x.grad().unwrap()), &[0.0, 0.0], 1e-12);
}

#[test]
fn gradients_keep_each_leafs_dtype() {
    let x = Tensor::from_slice(&[1.0f32, 2.0], &[2], &cpu())
        .unwrap()
        .requires_grad_(true)
        .unwrap();
    let y = x
        .to_dtype(DType::F64)
        .unwrap()
        .square()
        .unwrap()
        .sum()
        .unwrap();
    y.backward().unwrap();
    let g = x.grad().unwrap();
    assert_eq!(g.dtype(), DType::F32);
    assert_close(&to_vec(&g), &[2.0, 4.0], 1e-6);
}

#[test]
fn tensors_with_graphs_can_cross_threads() {
    fn assert_send_sync<X: Send + Sync>() {}
    assert_send_sync::<T>();
    let x = leaf(&[1.0, 2.0], &[2]);
    let y = x.mul(&x).unwrap().sum().unwrap();
    std::thread::spawn(move || y.backward().unwrap())
        .join()
        .unwrap();
    assert_close(&to_vec(&x.grad().unwrap()), &[2.0, 4.0], 1e-12);
}

/// A leaf's `.grad` never aliases a tensor someone else holds: not the caller's grad_output,
/// not another leaf's gradient (an add hands one gradient to both inputs), with or without
/// create_graph; a gradient nothing else holds is handed over as it is.
#[test]
fn leaf_gradients_are_their_own_tensors() {
    for create_graph in [false, true] {
        let a = leaf(&[1.0, 2.0], &[2]);
        let b = leaf(&[3.0, 4.0], &[2]);
        let grad_output = Tensor::ones(&[2], DType::F64, &cpu()).unwrap();
        let y = a.add(&b).unwrap();
        y.backward_opts(Some(&grad_output), false, create_graph)
            .unwrap();
        {
            let _guard = autograd::no_grad();
            a.grad().unwrap().mul_(2.0).unwrap();
        }
        assert_close(&to_vec(&a.grad().unwrap()), &[2.0, 2.0], 1e-12);
        assert_close(&to_vec(&b.grad().unwrap()), &[1.0, 1.0], 1e-12);
        assert_close(&to_vec(&grad_output), &[1.0, 1.0], 1e-12);
        // A gradient broadcast from a sum is a stride-0 view: `.grad` is a dense, writable
        // copy of it.
        let c = leaf(&[1.0, 2.0, 3.0], &[3]);
        c.sum()
            .unwrap()
            .backward_opts(None, false, create_graph)
            .unwrap();
        let g = c.grad().unwrap();
        assert!(g.is_contiguous(), "create_graph {create_graph}");
        let _guard = autograd::no_grad();
        g.add_(1.0).unwrap();
        assert_close(&to_vec(&g), &[2.0, 2.0, 2.0], 1e-12);
    }
    // Each weight's gradient, computed for it alone, accumulates in later steps as before.
    let w = leaf(&[0.5, -1.0], &[2]);
    let x = input(&[3, 2], 1);
    for step in 1..=2 {
        x.matmul(&w).unwrap().sum().unwrap().backward().unwrap();
        let col: Vec<f64> = (0..2)
            .map(|j| (0..3).map(|i| to_vec(&x)[i * 2 + j]).sum::<f64>() * step as f64)
            .collect();
        assert_close(&to_vec(&w.grad().unwrap()), &col, 1e-12);
    }
}

/// `autograd::grad` runs only the part of the graph that leads to its inputs, as PyTorch's
/// does: the nodes below a captured non-leaf keep their saved tensors (a later backward through
/// them works), and hooks of leaves it does not reach do not fire. Values: PyTorch 2.15.
#[test]
fn grad_runs_only_the_graph_its_inputs_need() {
    // h = exp(x); y = sin(h).sum(); z = cos(h).sum()
    let x = leaf(&[0.1, -0.8], &[2]);
    let h = x.exp().unwrap();
    let y = h.sin().unwrap().sum().unwrap();
    let z = h.cos().unwrap().sum().unwrap();
    let dy_dh = autograd::grad(&[&y], &[&h], None, false, false).unwrap();
    // cos(exp(x)) in float64 math; PyTorch 2.15 prints [0.4490, 0.9007].
    let want: Vec<f64> = [0.1f64, -0.8].iter().map(|v| v.exp().cos()).collect();
    assert_close(&to_vec(dy_dh[0].as_ref().unwrap()), &want, 1e-12);
    assert!((want[0] - 0.4490).abs() < 1e-4 && (want[1] - 0.9007).abs() < 1e-4);
    // exp's saved tensors were not freed by that grad: z.backward() goes through them.
    z.backward().unwrap();
    // PyTorch 2.15: [-0.9875, -0.1952].
    let want: Vec<f64> = [0.1f64, -0.8]
        .iter()
        .map(|v| -v.exp().sin() * v.exp())
        .collect();
    assert_close(&to_vec(&x.grad().unwrap()), &want, 1e-12);
    assert!((want[0] + 0.9875).abs() < 1e-4 && (want[1] + 0.1952).abs() < 1e-4);

    // A hook on a leaf that the captured input does not lead to stays silent.
    let a = leaf(&[1.0, 2.0], &[2]);
    let b = leaf(&[3.0, 4.0], &[2]);
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    a.register_hook(move |_| {
        seen.fetch_add(1, Ordering::Relaxed);
        None
    })
    .unwrap();
    let out = a.mul(&b).unwrap().sum().unwrap();
    let db = autograd::grad(&[&out], &[&b], None, false, false).unwrap();
    assert_eq!(to_vec(db[0].as_ref().unwrap()), [1.0, 2.0]);
    assert_eq!(calls.load(Ordering::Relaxed), 0, "a's hook fired");

    // An in-place change below the captured input does not matter to it: PyTorch [1, 1].
    let w = leaf(&[0.5, 1.5], &[2]);
    let c = w.mul(1.0).unwrap();
    let hh = c.sin().unwrap();
    c.add_(1.0).unwrap();
    let g = autograd::grad(&[&hh.sum().unwrap()], &[&hh], None, false, false).unwrap();
    assert_eq!(to_vec(g[0].as_ref().unwrap()), [1.0, 1.0]);
}

/// A second backward adds into `.grad` in place, as PyTorch's AccumulateGrad does: a handle
/// kept on `.grad` sees the sum. PyTorch: `g` becomes [5, 5] and `g is x.grad`.
#[test]
fn gradients_accumulate_into_the_same_grad_tensor() {
    let x = leaf(&[1.0, 1.0], &[2]);
    x.mul(2.0).unwrap().sum().unwrap().backward().unwrap();
    let g = x.grad().unwrap();
    x.mul(3.0).unwrap().sum().unwrap().backward().unwrap();
    assert_eq!(to_vec(&g), [5.0, 5.0]);
    assert_eq!(to_vec(&x.grad().unwrap()), [5.0, 5.0]);

    // A transposed `.grad` too (PyTorch: `x.grad is g` stays true).
    let x = leaf(&[1.0, 2.0, 3.0, 4.0], &[2, 2]);
    let transposed = leaf(&[0.0; 4], &[2, 2]).detach().t().unwrap();
    x.set_grad(Some(transposed.clone())).unwrap();
    x.mul(2.0).unwrap().sum().unwrap().backward().unwrap();
    assert_eq!(to_vec(&transposed), [2.0; 4]);
}

/// `autograd::queue_callback`: only from inside a backward; the callbacks run once it has
/// ended, in order, all of them, and the first error is the backward's.
#[test]
fn final_callbacks_run_after_the_backward_and_report_the_first_error() {
    assert!(autograd::queue_callback(|| Ok(())).is_err());
    let w = leaf(&[1.0, 2.0], &[2]);
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = order.clone();
    w.register_post_accumulate_grad_hook(move |leaf: &T| {
        log.lock().unwrap().push("hook");
        let (first, second) = (log.clone(), log.clone());
        let grad_seen = leaf.grad().is_some();
        autograd::queue_callback(move || {
            first.lock().unwrap().push("first");
            assert!(grad_seen);
            Err(Error::invalid("callback", "the first one fails"))
        })?;
        autograd::queue_callback(move || {
            second.lock().unwrap().push("second");
            Ok(())
        })
    })
    .unwrap();
    let err = w.mul(2.0).unwrap().sum().unwrap().backward().unwrap_err();
    assert!(err.to_string().contains("the first one fails"), "{err}");
    assert_eq!(*order.lock().unwrap(), ["hook", "first", "second"]);
}
