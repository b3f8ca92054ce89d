//! Optimizer steps against hand-computed float64 updates (torch.optim's formulas).

use tiny_torch_core::DType;
use tiny_torch_cpu::Cpu;
use tiny_torch_optim::{Adam, AdamOptions, Optimizer, Sgd, SgdOptions};
use tiny_torch_tensor::Tensor;

fn param(values: &[f64]) -> Tensor<Cpu> {
    Tensor::from_slice(values, &[values.len()], &Cpu)
        .unwrap()
        .requires_grad_(true)
        .unwrap()
}

fn set_grad(p: &Tensor<Cpu>, g: &[f64]) {
    p.set_grad(Some(Tensor::from_slice(g, &[g.len()], &Cpu).unwrap()))
        .unwrap();
}

fn close(got: &Tensor<Cpu>, want: &[f64]) {
    let got = got.to_f64_vec().unwrap();
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-12 * (1.0 + w.abs()),
            "element {i}: got {g}, want {w}"
        );
    }
}

const P0: [f64; 3] = [1.0, -2.0, 0.5];
const GRADS: [[f64; 3]; 3] = [[0.1, -0.3, 2.0], [-0.5, 0.2, 1.0], [0.3, 0.3, -0.7]];

/// torch.optim.SGD by hand, over the gradients `GRADS`.
fn hand_sgd(o: SgdOptions) -> Vec<f64> {
    hand_sgd_over(o, &GRADS)
}

/// torch.optim.SGD by hand: one parameter starting at `P0`, one step per gradient.
fn hand_sgd_over(o: SgdOptions, grads: &[[f64; 3]]) -> Vec<f64> {
    let mut p = P0.to_vec();
    let mut buf: Option<Vec<f64>> = None;
    for g in grads {
        let g: Vec<f64> = g
            .iter()
            .zip(&p)
            .map(|(g, p)| g + o.weight_decay * p)
            .collect();
        let mut d = g.clone();
        if o.momentum != 0.0 {
            let b = match buf.take() {
                None => g.clone(),
                Some(b) => b
                    .iter()
                    .zip(&g)
                    .map(|(b, g)| o.momentum * b + (1.0 - o.dampening) * g)
                    .collect(),
            };
            d = if o.nesterov {
                g.iter().zip(&b).map(|(g, b)| g + o.momentum * b).collect()
            } else {
                b.clone()
            };
            buf = Some(b);
        }
        for (p, d) in p.iter_mut().zip(&d) {
            *p -= o.lr * d;
        }
    }
    p
}

#[test]
fn sgd_matches_hand_updates() {
    let cases = [
        SgdOptions::lr(0.1),
        SgdOptions {
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 1e-2,
            ..Default::default()
        },
        SgdOptions {
            lr: 0.05,
            momentum: 0.8,
            dampening: 0.3,
            ..Default::default()
        },
        SgdOptions {
            lr: 0.05,
            momentum: 0.9,
            nesterov: true,
            weight_decay: 0.1,
            ..Default::default()
        },
    ];
    for o in cases {
        let p = param(&P0);
        let mut sgd = Sgd::new(vec![p.clone()], o).unwrap();
        for g in GRADS {
            set_grad(&p, &g);
            sgd.step().unwrap();
        }
        close(&p, &hand_sgd(o));
        assert!(p.is_leaf() && p.requires_grad());
        assert_eq!(sgd.momentum_buffer(0, 0).is_some(), o.momentum != 0.0);
    }
}

/// torch.optim.Adam / AdamW by hand.
/// One step updates all parameters of a group at once (the foreach form): a parameter whose
/// gradient first appears at the second step starts its momentum buffer there while the
/// others update theirs, and a parameter without a gradient stays as it is.
#[test]
fn sgd_steps_parameters_whose_gradients_start_late() {
    let o = SgdOptions {
        lr: 0.05,
        momentum: 0.9,
        nesterov: true,
        weight_decay: 0.1,
        ..Default::default()
    };
    let (early, late, never) = (param(&P0), param(&P0), param(&P0));
    let mut sgd = Sgd::new(vec![early.clone(), late.clone(), never.clone()], o).unwrap();
    for (step, g) in GRADS.iter().enumerate() {
        set_grad(&early, g);
        if step > 0 {
            set_grad(&late, &g.map(|v| -2.0 * v));
        }
        sgd.step().unwrap();
    }
    close(&early, &hand_sgd(o));
    let late_grads: Vec<[f64; 3]> = GRADS[1..].iter().map(|g| g.map(|v| -2.0 * v)).collect();
    close(&late, &hand_sgd_over(o, &late_grads));
    close(&never, &P0);
    assert!(sgd.momentum_buffer(0, 2).is_none());
}

fn hand_adam(o: AdamOptions) -> Vec<f64> {
    let (b1, b2) = o.betas;
    let mut p = P0.to_vec();
    let (mut m, mut v, mut vmax) = (vec![0.0; 3], vec![0.0; 3], vec![0.0; 3]);
    for (t, g) in GRADS.iter().enumerate() {
        let t = (t + 1) as f64;
        for i in 0..3 {
            let mut g = g[i];
            if o.decoupled_weight_decay {
                p[i] *= 1.0 - o.lr * o.weight_decay;
            } else {
                g += o.weight_decay * p[i];
            }
            m[i] = b1 * m[i] + (1.0 - b1) * g;
            v[i] = b2 * v[i] + (1.0 - b2) * g * g;
            vmax[i] = f64::max(vmax[i], v[i]);
            let second = if o.amsgrad { vmax[i] } else { v[i] };
            let denom = second.sqrt() / (1.0 - b2.powf(t)).sqrt() + o.eps;
            p[i] -= o.lr / (1.0 - b1.powf(t)) * m[i] / denom;
        }
    }
    p
}

#[test]
fn adam_and_adamw_match_hand_updates() {
    let cases = [
        AdamOptions {
            lr: 0.01,
            ..Default::default()
        },
        AdamOptions {
            lr: 0.01,
            weight_decay: 0.1,
            eps: 1e-3,
            ..Default::default()
        },
        AdamOptions {
            lr: 0.02,
            betas: (0.8, 0.99),
            amsgrad: true,
            ..Default::default()
        },
        AdamOptions {
            lr: 0.01,
            ..AdamOptions::adamw()
        },
    ];
    for o in cases {
        let p = param(&P0);
        let mut adam = if o.decoupled_weight_decay {
            Adam::adamw(vec![p.clone()], o).unwrap()
        } else {
            Adam::new(vec![p.clone()], o).unwrap()
        };
        for g in GRADS {
            set_grad(&p, &g);
            adam.step().unwrap();
        }
        close(&p, &hand_adam(o));
        assert_eq!(adam.state(0, 0).unwrap().step, 3);
    }
}

#[test]
fn groups_zero_grad_and_validation() {
    let (a, b, c) = (param(&P0), param(&P0), param(&P0));
    let mut sgd = Sgd::new(vec![a.clone(), c.clone()], SgdOptions::lr(0.1)).unwrap();
    sgd.add_param_group(vec![b.clone()], SgdOptions::lr(1.0))
        .unwrap();
    set_grad(&a, &[1.0, 1.0, 1.0]);
    set_grad(&b, &[1.0, 1.0, 1.0]);
    sgd.step().unwrap();
    close(&a, &[0.9, -2.1, 0.4]);
    close(&b, &[0.0, -3.0, -0.5]);
    close(&c, &P0); // no grad: skipped
    assert_eq!(
        (sgd.lr(0), sgd.lr(1), sgd.lr(2)),
        (Some(0.1), Some(1.0), None)
    );
    sgd.set_lr(0.5);
    assert_eq!(sgd.lr(1), Some(0.5));
    sgd.zero_grad();
    assert!(a.grad().is_none() && b.grad().is_none());
    assert_eq!(sgd.parameters().len(), 3);

    let err = Sgd::new(
        vec![a.clone()],
        SgdOptions {
            nesterov: true,
            ..SgdOptions::lr(0.1)
        },
    );
    assert!(err.is_err());
    assert!(Sgd::new(vec![a.clone()], SgdOptions::lr(-1.0)).is_err());
    let bad_beta = AdamOptions {
        betas: (1.0, 0.9),
        ..Default::default()
    };
    let err = Adam::new(vec![a.clone()], bad_beta)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("beta"), "{err}");

    // A step follows a real backward: loss = sum(p²) → grad 2p.
    let p = Tensor::from_slice(&[3.0f32, -1.0], &[2], &Cpu)
        .unwrap()
        .requires_grad_(true)
        .unwrap();
    let mut sgd = Sgd::new(vec![p.clone()], SgdOptions::lr(0.25)).unwrap();
    p.square().unwrap().sum().unwrap().backward().unwrap();
    sgd.step().unwrap();
    assert_eq!(p.to_vec::<f32>().unwrap(), vec![1.5, -0.5]);
    assert_eq!(p.dtype(), DType::F32);
}

/// PyTorch's checks: a NaN hyper-parameter is invalid (it would make every parameter NaN at the
/// first step), a parameter may not be in two groups, and `.grad` must fit its parameter.
#[test]
fn nan_options_shared_parameters_and_misfit_gradients_are_errors() {
    let p = param(&P0);
    assert!(Sgd::new(vec![p.clone()], SgdOptions::lr(f64::NAN)).is_err());
    let nan_momentum = SgdOptions {
        momentum: f64::NAN,
        ..SgdOptions::lr(0.1)
    };
    assert!(Sgd::new(vec![p.clone()], nan_momentum).is_err());
    let nan_eps = AdamOptions {
        eps: f64::NAN,
        ..AdamOptions::default()
    };
    assert!(Adam::new(vec![p.clone()], nan_eps).is_err());

    let mut sgd = Sgd::new(vec![p.clone()], SgdOptions::lr(0.1)).unwrap();
    let err = sgd
        .add_param_group(vec![param(&P0), p.clone()], SgdOptions::lr(1.0))
        .unwrap_err()
        .to_string();
    assert!(err.contains("more than one parameter group"), "{err}");
    assert_eq!(sgd.param_groups().len(), 1);
    // Listed twice in one group, a parameter would be stepped twice per step.
    for err in [
        Sgd::new(vec![p.clone(), p.clone()], SgdOptions::lr(0.1)).map(|_| ()),
        Adam::new(vec![p.clone(), p.clone()], AdamOptions::default()).map(|_| ()),
    ] {
        let err = err.unwrap_err().to_string();
        assert!(err.contains("more than once"), "{err}");
    }

    let wrong_shape = Tensor::from_slice(&[1.0, 1.0], &[2], &Cpu).unwrap();
    let err = p.set_grad(Some(wrong_shape)).unwrap_err().to_string();
    assert!(
        err.contains("different size") && err.contains("[2]") && err.contains("[3]"),
        "{err}"
    );
    let wrong_dtype = Tensor::from_slice(&[1.0f32, 1.0, 1.0], &[3], &Cpu).unwrap();
    let err = p.set_grad(Some(wrong_dtype)).unwrap_err().to_string();
    assert!(err.contains("different type"), "{err}");
    assert!(p.grad().is_none());
}

/// PyTorch's constructor checks: `SGD([])` is "optimizer got an empty parameter list", and a
/// computed (non-leaf) tensor is "can't optimize a non-leaf Tensor" (autograd never fills its
/// `.grad`, so it would silently never be stepped). A later empty group is allowed.
#[test]
fn empty_and_non_leaf_parameter_lists_are_refused() {
    let msg = |r: Result<(), tiny_torch_core::Error>| r.unwrap_err().to_string();
    assert!(
        msg(Sgd::<Cpu>::new(vec![], SgdOptions::lr(0.1)).map(drop))
            .contains("empty parameter list")
    );
    assert!(
        msg(Adam::<Cpu>::new(vec![], AdamOptions::default()).map(drop))
            .contains("empty parameter list")
    );
    let computed = param(&[1.0, 2.0]).mul(0.5).unwrap();
    assert!(
        msg(Sgd::new(vec![computed.clone()], SgdOptions::lr(0.1)).map(drop)).contains("non-leaf")
    );
    assert!(msg(Adam::new(vec![computed], AdamOptions::default()).map(drop)).contains("non-leaf"));
    let mut sgd = Sgd::new(vec![param(&[1.0])], SgdOptions::lr(0.1)).unwrap();
    sgd.add_param_group(vec![], SgdOptions::lr(0.2)).unwrap();
    assert_eq!(sgd.param_groups().len(), 2);
}
