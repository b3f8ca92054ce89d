//! Optimizer `state_dict` / `load_state_dict`: PyTorch's layout, the flat form for files,
//! exact resumption, and errors that change nothing.

mod common;

use common::param;
use tiny_torch_core::DType;
use tiny_torch_cpu::Cpu;
use tiny_torch_optim::{
    Adam, AdamOptions, LrScheduler, OneCycleLR, OneCycleOptions, Optimizer, OptimizerStateDict,
    RmsProp, RmsPropOptions, Sgd, SgdOptions, Value,
};
use tiny_torch_tensor::Tensor;

/// Two float32 parameters of different shapes, with fixed values.
fn params() -> [Tensor<Cpu>; 2] {
    let w: Vec<f32> = (0..6).map(|i| 0.3 * i as f32 - 0.7).collect();
    let b = [0.5f32, -1.5, 2.0, 0.25];
    [
        Tensor::from_slice(&w, &[3, 2], &Cpu).unwrap(),
        Tensor::from_slice(&b, &[4], &Cpu).unwrap(),
    ]
    .map(|t| t.requires_grad_(true).unwrap())
}

/// An optimizer with the two parameters in two groups.
type Make = fn(&[Tensor<Cpu>; 2]) -> Box<dyn Optimizer<Cpu>>;

fn sgd_nesterov(p: &[Tensor<Cpu>; 2]) -> Box<dyn Optimizer<Cpu>> {
    let o = SgdOptions {
        lr: 0.05,
        momentum: 0.9,
        nesterov: true,
        weight_decay: 1e-3,
        ..Default::default()
    };
    let mut opt = Sgd::new(vec![p[0].clone()], o).unwrap();
    opt.add_param_group(vec![p[1].clone()], SgdOptions { lr: 0.02, ..o })
        .unwrap();
    Box::new(opt)
}

fn adam_amsgrad(p: &[Tensor<Cpu>; 2]) -> Box<dyn Optimizer<Cpu>> {
    let o = AdamOptions {
        lr: 0.01,
        amsgrad: true,
        ..Default::default()
    };
    let mut opt = Adam::new(vec![p[0].clone()], o).unwrap();
    opt.add_param_group(vec![p[1].clone()], AdamOptions { lr: 0.003, ..o })
        .unwrap();
    Box::new(opt)
}

fn adamw(p: &[Tensor<Cpu>; 2]) -> Box<dyn Optimizer<Cpu>> {
    let o = AdamOptions {
        lr: 0.01,
        ..AdamOptions::adamw()
    };
    let mut opt = Adam::adamw(vec![p[0].clone()], o).unwrap();
    opt.add_param_group(vec![p[1].clone()], o).unwrap();
    Box::new(opt)
}

fn rmsprop_centered_momentum(p: &[Tensor<Cpu>; 2]) -> Box<dyn Optimizer<Cpu>> {
    let o = RmsPropOptions {
        momentum: 0.8,
        centered: true,
        weight_decay: 1e-2,
        ..Default::default()
    };
    let mut opt = RmsProp::new(vec![p[0].clone()], o).unwrap();
    opt.add_param_group(vec![p[1].clone()], RmsPropOptions { lr: 0.001, ..o })
        .unwrap();
    Box::new(opt)
}

/// One training step on `sum(sin(w) * w) + sum((b - 1)²)`, whose gradients vary from step
/// to step.
fn train_step(opt: &mut dyn Optimizer<Cpu>, p: &[Tensor<Cpu>; 2]) {
    opt.zero_grad();
    let w = p[0].sin().unwrap().mul(&p[0]).unwrap().sum().unwrap();
    let b = p[1].sub(1.0).unwrap().square().unwrap().sum().unwrap();
    w.add(&b).unwrap().backward().unwrap();
    opt.step().unwrap();
}

fn values(p: &[Tensor<Cpu>; 2]) -> Vec<Vec<f32>> {
    p.iter().map(|t| t.to_vec::<f32>().unwrap()).collect()
}

/// A copy of the parameters, as a model loaded from a checkpoint would have.
fn copies(p: &[Tensor<Cpu>; 2]) -> [Tensor<Cpu>; 2] {
    p.clone().map(|t| {
        let c = t.detach().zeros_like().unwrap();
        c.copy_(&t.detach()).unwrap();
        c.requires_grad_(true).unwrap()
    })
}

/// Through the flat file form: `state.{i}.{key}` tensors and the param_groups value.
fn through_file_form(state: &OptimizerStateDict<Cpu>) -> OptimizerStateDict<Cpu> {
    OptimizerStateDict::from_parts(state.to_tensors(), &state.param_groups_value()).unwrap()
}

/// N steps, save, a fresh optimizer loads, M more steps: bit for bit the uninterrupted run.
#[test]
fn training_resumes_bit_for_bit() {
    const N: usize = 5;
    const M: usize = 6;
    let cases: [(&str, Make); 4] = [
        ("SGD nesterov", sgd_nesterov),
        ("Adam amsgrad", adam_amsgrad),
        ("AdamW", adamw),
        ("RMSprop centered momentum", rmsprop_centered_momentum),
    ];
    for (name, make) in cases {
        let straight = params();
        let mut opt = make(&straight);
        for _ in 0..N + M {
            train_step(opt.as_mut(), &straight);
        }

        let first = params();
        let mut opt = make(&first);
        for _ in 0..N {
            train_step(opt.as_mut(), &first);
        }
        let saved = through_file_form(&opt.state_dict().unwrap());
        let resumed = copies(&first);
        drop(opt);
        let mut opt = make(&resumed);
        opt.load_state_dict(&saved).unwrap();
        for _ in 0..M {
            train_step(opt.as_mut(), &resumed);
        }
        assert_eq!(values(&resumed), values(&straight), "{name}");
    }
}

/// The same with a OneCycleLR that changes lr and momentum each step: the optimizer's state
/// brings back both, the scheduler's state its position in the cycle.
#[test]
fn training_with_a_scheduler_resumes_bit_for_bit() {
    let options = || OneCycleOptions::new(vec![0.5, 0.1], 12);
    let run = |p: &[Tensor<Cpu>; 2], opt: &mut dyn Optimizer<Cpu>, s: &mut OneCycleLR, n| {
        for _ in 0..n {
            train_step(opt, p);
            s.step(opt).unwrap();
        }
    };
    let straight = params();
    let mut opt = sgd_nesterov(&straight);
    let mut sched = OneCycleLR::new(opt.as_mut(), options()).unwrap();
    run(&straight, opt.as_mut(), &mut sched, 12);

    let first = params();
    let mut opt = sgd_nesterov(&first);
    let mut sched = OneCycleLR::new(opt.as_mut(), options()).unwrap();
    run(&first, opt.as_mut(), &mut sched, 5);
    let opt_state = through_file_form(&opt.state_dict().unwrap());
    let sched_state = sched.state_dict();

    let resumed = copies(&first);
    let mut opt = sgd_nesterov(&resumed);
    let mut sched = OneCycleLR::new(opt.as_mut(), options()).unwrap();
    opt.load_state_dict(&opt_state).unwrap();
    sched.load_state_dict(&sched_state).unwrap();
    run(&resumed, opt.as_mut(), &mut sched, 7);
    assert_eq!(values(&resumed), values(&straight));
}

#[test]
fn layout_is_pytorchs() {
    let p = params();
    let mut opt = adam_amsgrad(&p);
    train_step(opt.as_mut(), &p);
    train_step(opt.as_mut(), &p);
    let sd = opt.state_dict().unwrap();

    let keys: Vec<&str> = sd.state[&0].keys().map(String::as_str).collect();
    assert_eq!(keys, ["exp_avg", "exp_avg_sq", "max_exp_avg_sq", "step"]);
    let step = &sd.state[&1]["step"];
    assert_eq!((step.dims(), step.dtype()), (&[][..], DType::F32));
    assert_eq!(step.to_f64_vec().unwrap(), [2.0]);
    assert_eq!(sd.state[&1]["exp_avg"].dims(), &[4]);
    assert_eq!(sd.param_groups.len(), 2);
    assert_eq!(sd.param_groups[0].params, [0]);
    assert_eq!(sd.param_groups[1].params, [1]);
    let g = &sd.param_groups[1].hyper;
    assert_eq!(g["lr"], Value::Float(0.003));
    assert_eq!(g["betas"], Value::from([0.9, 0.999].as_slice()));
    assert_eq!(g["amsgrad"], Value::Bool(true));
    assert!(!g.contains_key("initial_lr"));

    // The flat form.
    let names: Vec<String> = sd.to_tensors().into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        names[..4],
        [
            "state.0.exp_avg",
            "state.0.exp_avg_sq",
            "state.0.max_exp_avg_sq",
            "state.0.step"
        ]
    );
    let groups = sd.param_groups_value();
    let first = groups.as_list().unwrap()[0].as_map().unwrap();
    assert_eq!(first["params"], Value::List(vec![Value::Int(0)]));

    // The state tensors share storage with the live state, as torch's do.
    assert!(sd.state[&0]["exp_avg"].shares_storage_with(&sd.state[&0]["exp_avg"].clone()));

    // No state before the first step; none for SGD without momentum.
    let p = params();
    let fresh = adam_amsgrad(&p).state_dict().unwrap();
    assert!(fresh.state.is_empty());
    let mut plain = Sgd::new(p.to_vec(), SgdOptions::lr(0.1)).unwrap();
    train_step(&mut plain, &p);
    assert!(plain.state_dict().unwrap().state.is_empty());
    // A parameter without a gradient has no state either.
    let lone = param(&[1.0]);
    let mut sgd = Sgd::new(
        vec![p[0].clone(), lone],
        SgdOptions {
            lr: 0.1,
            momentum: 0.9,
            ..Default::default()
        },
    )
    .unwrap();
    train_step(&mut sgd, &p);
    let sd = sgd.state_dict().unwrap();
    assert_eq!(sd.state.keys().copied().collect::<Vec<_>>(), [0]);
}

#[test]
fn loading_copies_and_converts() {
    let p = params();
    let mut opt = rmsprop_centered_momentum(&p);
    train_step(opt.as_mut(), &p);
    let saved = opt.state_dict().unwrap();
    let before = saved.state[&0]["square_avg"].to_vec::<f32>().unwrap();

    // The loaded state is a copy: stepping does not write into `saved`.
    let q = copies(&p);
    let mut other = rmsprop_centered_momentum(&q);
    other.load_state_dict(&saved).unwrap();
    train_step(other.as_mut(), &q);
    assert_eq!(
        saved.state[&0]["square_avg"].to_vec::<f32>().unwrap(),
        before
    );

    // Float64 state loads into float32 parameters as float32, as torch casts it.
    let mut wide =
        OptimizerStateDict::from_parts(saved.to_tensors(), &saved.param_groups_value()).unwrap();
    for entries in wide.state.values_mut() {
        for t in entries.values_mut() {
            *t = t.to_dtype(DType::F64).unwrap();
        }
    }
    let r = copies(&p);
    let mut rms = RmsProp::new(vec![r[0].clone()], RmsPropOptions::default()).unwrap();
    rms.add_param_group(vec![r[1].clone()], RmsPropOptions::default())
        .unwrap();
    rms.load_state_dict(&wide).unwrap();
    let st = rms.state(0, 0).unwrap();
    assert_eq!(st.square_avg.as_ref().unwrap().dtype(), DType::F32);
    assert_eq!(st.step, 1);
    // ... and its hyper-parameters with it.
    assert_eq!(rms.param_groups()[0].options.momentum, 0.8);
    assert!(rms.param_groups()[1].options.centered);
}

/// `f` breaks a valid state dict; loading it must fail with a message containing `expect`
/// and leave the optimizer as it was.
fn check_rejected(what: &str, expect: &str, f: impl Fn(&mut OptimizerStateDict<Cpu>)) {
    let p = params();
    let mut opt = adam_amsgrad(&p);
    train_step(opt.as_mut(), &p);
    let mut bad = through_file_form(&opt.state_dict().unwrap());
    f(&mut bad);

    let q = copies(&p);
    let mut target = adam_amsgrad(&q);
    train_step(target.as_mut(), &q);
    train_step(target.as_mut(), &q);
    let before = target.state_dict().unwrap();
    let snapshot = |sd: &OptimizerStateDict<Cpu>| {
        let tensors: Vec<(String, Vec<f64>)> = sd
            .to_tensors()
            .into_iter()
            .map(|(k, t)| (k, t.to_f64_vec().unwrap()))
            .collect();
        (tensors, sd.param_groups_value())
    };
    let before = snapshot(&before);
    let err = target.load_state_dict(&bad).unwrap_err().to_string();
    assert!(err.contains(expect), "{what}: {err}");
    assert_eq!(
        snapshot(&target.state_dict().unwrap()),
        before,
        "{what} changed the optimizer"
    );
}

#[test]
fn bad_state_dicts_are_errors_that_change_nothing() {
    check_rejected(
        "one group too few",
        "different number of parameter groups",
        |sd| {
            sd.param_groups.pop();
        },
    );
    check_rejected("a parameter too many", "doesn't match the size", |sd| {
        sd.param_groups[1].params.push(7);
    });
    check_rejected(
        "a wrong shape",
        "has shape [4], but the parameter has shape [3, 2]",
        |sd| {
            let t = sd.state[&1]["exp_avg"].clone();
            sd.state.get_mut(&0).unwrap().insert("exp_avg".into(), t);
        },
    );
    check_rejected(
        "a fractional step",
        "must be one non-negative integer",
        |sd| {
            let t = Tensor::from_slice(&[1.5f32], &[], &Cpu).unwrap();
            sd.state.get_mut(&0).unwrap().insert("step".into(), t);
        },
    );
    check_rejected(
        "a step with two values",
        "must be one non-negative integer",
        |sd| {
            let t = Tensor::from_slice(&[1.0f32, 2.0], &[2], &Cpu).unwrap();
            sd.state.get_mut(&1).unwrap().insert("step".into(), t);
        },
    );
    check_rejected("a missing exp_avg", "state[1] has no \"exp_avg\"", |sd| {
        sd.state.get_mut(&1).unwrap().remove("exp_avg");
    });
    check_rejected(
        "an unknown key",
        "unexpected key(s) in state[0]: \"momentum_buffer\"",
        |sd| {
            let t = sd.state[&0]["exp_avg"].clone();
            sd.state
                .get_mut(&0)
                .unwrap()
                .insert("momentum_buffer".into(), t);
        },
    );
    check_rejected("state for no parameter", "state[9]", |sd| {
        let entries = sd.state[&0].clone();
        sd.state.insert(9, entries);
    });
    check_rejected("an index listed twice", "appears twice", |sd| {
        sd.param_groups[1].params = vec![0];
    });
    check_rejected(
        "a mistyped lr",
        "param_groups[0][\"lr\"] must be a number",
        |sd| {
            sd.param_groups[0]
                .hyper
                .insert("lr".into(), Value::Bool(true));
        },
    );
    check_rejected("a negative lr", "Invalid learning rate", |sd| {
        sd.param_groups[0]
            .hyper
            .insert("lr".into(), Value::Float(-1.0));
    });
    check_rejected("three betas", "betas must hold two numbers", |sd| {
        let betas = Value::from([0.9, 0.99, 0.999].as_slice());
        sd.param_groups[1].hyper.insert("betas".into(), betas);
    });
}

#[test]
fn malformed_file_forms_are_errors() {
    let t = Tensor::from_slice(&[1.0f32], &[1], &Cpu).unwrap();
    let groups = Value::List(vec![]);
    for key in [
        "exp_avg",
        "state.x.exp_avg",
        "state.0.",
        "state.0",
        "params.0.lr",
    ] {
        let err = OptimizerStateDict::from_parts(vec![(key.to_string(), t.clone())], &groups)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("is not of the form state.<index>.<name>"),
            "{key}: {err}"
        );
    }
    let err = OptimizerStateDict::<Cpu>::from_parts(vec![], &Value::Null)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("param_groups must be a list"), "{err}");
    let no_params = Value::List(vec![Value::Map(Default::default())]);
    let err = OptimizerStateDict::<Cpu>::from_parts(vec![], &no_params)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("param_groups[0] has no \"params\""), "{err}");
}

/// torch's `initial_lr` (written by a scheduler) travels with the optimizer's state.
#[test]
fn initial_lr_is_saved_and_loaded() {
    let p = params();
    let mut opt = sgd_nesterov(&p);
    let _s = OneCycleLR::new(opt.as_mut(), OneCycleOptions::new(1.0, 10)).unwrap();
    let sd = opt.state_dict().unwrap();
    assert_eq!(
        sd.param_groups[0].hyper["initial_lr"],
        Value::Float(1.0 / 25.0)
    );
    let q = copies(&p);
    let mut fresh = sgd_nesterov(&q);
    fresh.load_state_dict(&sd).unwrap();
    assert_eq!(
        fresh.group_schedule(1).unwrap().initial_lr,
        Some(1.0 / 25.0)
    );
    assert_eq!(fresh.group_schedule(1).unwrap().momentum, Some(0.95));
}
