//! Gradients of gradients (`create_graph`): derivatives of x^3, Hessian-vector products.

use crate::common::{T, assert_close, input, leaf, to_vec};
use tiny_torch_tensor::autograd;

fn grad1(y: &T, x: &T) -> T {
    autograd::grad(&[y], &[x], None, true, true).unwrap()[0]
        .clone()
        .unwrap()
}

#[test]
fn derivatives_of_x_cubed() {
    let cubes: [fn(&T) -> T; 2] = [
        |x| x.pow(3.0).unwrap(),
        |x| x.mul(x).unwrap().mul(x).unwrap(),
    ];
    for cube in cubes {
        let x = leaf(&[2.0, -1.5], &[2]);
        let y = cube(&x).sum().unwrap();
        let d1 = grad1(&y, &x);
        assert_close(&to_vec(&d1), &[12.0, 6.75], 1e-12);
        let d2 = grad1(&d1.sum().unwrap(), &x);
        assert_close(&to_vec(&d2), &[12.0, -9.0], 1e-12);
        let d3 = grad1(&d2.sum().unwrap(), &x);
        assert_close(&to_vec(&d3), &[6.0, 6.0], 1e-12);
    }
}

#[test]
fn backward_with_create_graph_leaves_a_differentiable_grad() {
    let x = leaf(&[3.0], &[1]);
    let y = x.pow(3.0).unwrap().sum().unwrap();
    y.backward_opts(None, false, true).unwrap();
    let g = x.grad().unwrap();
    assert!(g.requires_grad());
    let d2 = autograd::grad(&[&g.sum().unwrap()], &[&x], None, false, false).unwrap();
    assert_close(&to_vec(d2[0].as_ref().unwrap()), &[18.0], 1e-12);
}

/// `f(x) = Σ relu(x) * x`: `f' = 2x` where `x > 0` (else 0) through the fused relu gradient,
/// and `f'' = 2` there: the recorded `relu_backward` is differentiable in its gradient input.
#[test]
fn second_derivative_through_the_relu_gradient() {
    let x = leaf(&[1.5, -2.0, 0.0, 3.0], &[4]);
    let y = x.relu().unwrap().mul(&x).unwrap().sum().unwrap();
    let d1 = grad1(&y, &x);
    assert_close(&to_vec(&d1), &[3.0, 0.0, 0.0, 6.0], 1e-12);
    let d2 = grad1(&d1.sum().unwrap(), &x);
    assert_close(&to_vec(&d2), &[2.0, 0.0, 0.0, 2.0], 1e-12);
}

/// relu's gradient at NaN lets the incoming gradient through, as PyTorch's threshold_backward
/// does (`NaN <= 0` is false).
#[test]
fn relu_gradient_at_nan_passes_the_gradient() {
    let x = leaf(&[f64::NAN, -1.0, 2.0], &[3]);
    let y = x.relu().unwrap().sum().unwrap();
    assert_close(&to_vec(&grad1(&y, &x)), &[1.0, 0.0, 1.0], 0.0);
}

/// A two-layer MLP's loss at parameters `w1 [4, 3]`, `b1 [4]`, `w2 [1, 4]` on fixed data.
fn mlp_loss(w1: &T, b1: &T, w2: &T) -> T {
    let x = input(&[5, 3], 11);
    let target = input(&[5, 1], 12);
    let h = x
        .matmul(&w1.t().unwrap())
        .unwrap()
        .add(b1)
        .unwrap()
        .tanh()
        .unwrap();
    let out = h.matmul(&w2.t().unwrap()).unwrap();
    out.sub(&target).unwrap().square().unwrap().mean().unwrap()
}

/// The gradient of the loss with respect to all parameters, flattened.
fn flat_grad(params: &[T], create_graph: bool) -> Vec<T> {
    let loss = mlp_loss(&params[0], &params[1], &params[2]);
    let refs: Vec<&T> = params.iter().collect();
    autograd::grad(&[&loss], &refs, None, create_graph, create_graph)
        .unwrap()
        .into_iter()
        .map(Option::unwrap)
        .collect()
}

#[test]
fn hessian_vector_product_of_an_mlp_matches_finite_differences() {
    let shapes: [&[usize]; 3] = [&[4, 3], &[4], &[1, 4]];
    let base: Vec<Vec<f64>> = shapes
        .iter()
        .enumerate()
        .map(|(i, s)| {
            to_vec(&input(s, 20 + i as u64))
                .iter()
                .map(|v| v * 0.5)
                .collect()
        })
        .collect();
    let direction: Vec<Vec<f64>> = shapes
        .iter()
        .enumerate()
        .map(|(i, s)| to_vec(&input(s, 30 + i as u64)))
        .collect();
    let params = |offset: f64| -> Vec<T> {
        shapes
            .iter()
            .zip(base.iter().zip(&direction))
            .map(|(s, (b, d))| {
                let v: Vec<f64> = b.iter().zip(d).map(|(b, d)| b + offset * d).collect();
                leaf(&v, s)
            })
            .collect()
    };

    // Analytic: grad of <grad(loss), v>.
    let p = params(0.0);
    let grads = flat_grad(&p, true);
    let mut dot = None;
    for ((g, d), s) in grads.iter().zip(&direction).zip(shapes) {
        let v = crate::common::leaf(d, s).detach();
        let term = g.mul(&v).unwrap().sum().unwrap();
        dot = Some(match dot {
            None => term,
            Some(acc) => term.add(&acc).unwrap(),
        });
    }
    let refs: Vec<&T> = p.iter().collect();
    let hvp = autograd::grad(&[&dot.unwrap()], &refs, None, false, false).unwrap();

    // Numerical: central difference of the gradient along v.
    let eps = 1e-5;
    let plus = flat_grad(&params(eps), false);
    let minus = flat_grad(&params(-eps), false);
    for i in 0..3 {
        let numerical: Vec<f64> = to_vec(&plus[i])
            .iter()
            .zip(to_vec(&minus[i]))
            .map(|(a, b)| (a - b) / (2.0 * eps))
            .collect();
        assert_close(&to_vec(hvp[i].as_ref().unwrap()), &numerical, 1e-6);
    }
}
