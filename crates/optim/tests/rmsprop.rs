//! RMSprop against a hand-written float64 loop of torch.optim.RMSprop's documented algorithm,
//! minimising the quadratic `sum(a (p - c)²)` with gradients from autograd.

mod common;

use common::{assert_close, param};
use tiny_torch_cpu::Cpu;
use tiny_torch_optim::{Optimizer, RmsProp, RmsPropOptions};
use tiny_torch_tensor::Tensor;

const P0: [f64; 4] = [1.0, -2.0, 0.5, 3.0];
const A: [f64; 4] = [0.5, 2.0, 1.0, 0.1];
const C: [f64; 4] = [0.3, 0.0, -1.0, 2.0];
const STEPS: usize = 12;

/// `loss = sum(a (p - c)²)`, backpropagated into `p.grad`.
fn backward(p: &Tensor<Cpu>) {
    let a = Tensor::from_slice(&A, &[4], &Cpu).unwrap();
    let c = Tensor::from_slice(&C, &[4], &Cpu).unwrap();
    let loss = p.sub(&c).unwrap().square().unwrap().mul(&a).unwrap();
    loss.sum().unwrap().backward().unwrap();
}

/// torch.optim.RMSprop's algorithm (its documentation's pseudo-code), element by element.
fn hand_rmsprop(o: RmsPropOptions) -> Vec<f64> {
    let mut p = P0.to_vec();
    let (mut v, mut g_avg, mut buf) = (vec![0.0; 4], vec![0.0; 4], vec![0.0; 4]);
    for _ in 0..STEPS {
        for i in 0..4 {
            let mut g = 2.0 * A[i] * (p[i] - C[i]);
            if o.maximize {
                g = -g;
            }
            g += o.weight_decay * p[i];
            v[i] = o.alpha * v[i] + (1.0 - o.alpha) * g * g;
            let mut v_tilde = v[i];
            if o.centered {
                g_avg[i] = o.alpha * g_avg[i] + (1.0 - o.alpha) * g;
                v_tilde -= g_avg[i] * g_avg[i];
            }
            let denom = v_tilde.sqrt() + o.eps;
            if o.momentum > 0.0 {
                buf[i] = o.momentum * buf[i] + g / denom;
                p[i] -= o.lr * buf[i];
            } else {
                p[i] -= o.lr * g / denom;
            }
        }
    }
    p
}

fn cases() -> Vec<RmsPropOptions> {
    let d = RmsPropOptions::default();
    vec![
        d,
        RmsPropOptions {
            centered: true,
            ..d
        },
        RmsPropOptions { momentum: 0.9, ..d },
        RmsPropOptions {
            lr: 0.003,
            alpha: 0.8,
            eps: 1e-4,
            weight_decay: 0.1,
            momentum: 0.5,
            centered: true,
            ..d
        },
        RmsPropOptions {
            maximize: true,
            weight_decay: 0.01,
            ..d
        },
    ]
}

#[test]
fn rmsprop_matches_hand_loop() {
    for o in cases() {
        let p = param(&P0);
        let mut opt = RmsProp::new(vec![p.clone()], o).unwrap();
        for _ in 0..STEPS {
            opt.zero_grad();
            backward(&p);
            opt.step().unwrap();
        }
        let want = hand_rmsprop(o);
        assert_close(&p.to_f64_vec().unwrap(), &want, 1e-12, &format!("{o:?}"));
        // The state torch keeps for these options, and nothing more.
        let st = opt.state(0, 0).unwrap();
        assert_eq!(st.step, STEPS as u64);
        assert!(st.square_avg.is_some());
        assert_eq!(st.momentum_buffer.is_some(), o.momentum > 0.0);
        assert_eq!(st.grad_avg.is_some(), o.centered);
        assert!(p.is_leaf() && p.requires_grad());
    }
}

#[test]
fn rmsprop_defaults_groups_and_validation() {
    let d = RmsPropOptions::default();
    assert_eq!(
        (d.lr, d.alpha, d.eps, d.weight_decay, d.momentum, d.centered),
        (0.01, 0.99, 1e-8, 0.0, 0.0, false)
    );
    // Two groups step with their own options; a parameter without grad is skipped.
    let (a, b, c) = (param(&P0), param(&P0), param(&P0));
    let mut opt = RmsProp::new(vec![a.clone(), c.clone()], d).unwrap();
    let centered = RmsPropOptions {
        centered: true,
        ..d
    };
    opt.add_param_group(vec![b.clone()], centered).unwrap();
    for _ in 0..STEPS {
        opt.zero_grad();
        backward(&a);
        backward(&b);
        opt.step().unwrap();
    }
    assert_close(&a.to_f64_vec().unwrap(), &hand_rmsprop(d), 1e-12, "group 0");
    assert_close(
        &b.to_f64_vec().unwrap(),
        &hand_rmsprop(centered),
        1e-12,
        "group 1",
    );
    assert_eq!(c.to_f64_vec().unwrap(), P0.to_vec());
    assert_eq!(opt.state(0, 1).unwrap().step, 0);
    assert_eq!((opt.lr(0), opt.lr(1)), (Some(0.01), Some(0.01)));

    for bad in [
        RmsPropOptions { lr: -1.0, ..d },
        RmsPropOptions { alpha: -0.1, ..d },
        RmsPropOptions { eps: -1e-8, ..d },
        RmsPropOptions {
            momentum: -0.5,
            ..d
        },
        RmsPropOptions {
            weight_decay: -1.0,
            ..d
        },
    ] {
        let err = RmsProp::new(vec![param(&P0)], bad)
            .err()
            .unwrap()
            .to_string();
        assert!(err.starts_with("RMSprop: Invalid"), "{err}");
    }
}

/// A float32 parameter stays float32, and its state too.
#[test]
fn rmsprop_keeps_float32() {
    let p = Tensor::from_slice(&[1.0f32, -2.0], &[2], &Cpu)
        .unwrap()
        .requires_grad_(true)
        .unwrap();
    let mut opt = RmsProp::new(vec![p.clone()], RmsPropOptions::default()).unwrap();
    p.square().unwrap().sum().unwrap().backward().unwrap();
    opt.step().unwrap();
    // First step: v = 0.01 g², so p -= lr g / (0.1 |g| + eps) ≈ p - 0.1 sign(g).
    let got = p.to_vec::<f32>().unwrap();
    assert!(
        (got[0] - 0.9).abs() < 1e-6 && (got[1] + 1.9).abs() < 1e-6,
        "{got:?}"
    );
    let st = opt.state(0, 0).unwrap();
    assert_eq!(st.square_avg.as_ref().unwrap().dtype(), p.dtype());
}
