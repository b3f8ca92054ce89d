//! Optimizers and schedulers against values PyTorch 2.15 computed (`tests/data/gen_golden.py`
//! made `tests/data/*_golden.txt`; the case names there say which torch call made each series).

mod common;

use common::{Golden, lr_and_momentum, param_f32, set_grad};
use std::collections::BTreeMap;
use tiny_torch_cpu::Cpu;
use tiny_torch_optim::{
    Adam, AdamOptions, AnnealStrategy, CosineAnnealingLR, LinearLR, LrScheduler, MultiStepLR,
    OneCycleLR, OneCycleOptions, Optimizer, OptimizerStateDict, RmsProp, RmsPropOptions,
    SequentialLR, Sgd, SgdOptions, StepLR, Value,
};
use tiny_torch_tensor::Tensor;

const STEPS: usize = 6;

/// The Rust twin of each case of `optimizer_cases()` in gen_golden.py.
fn make_optimizer(name: &str, p: Vec<Tensor<Cpu>>) -> Box<dyn Optimizer<Cpu>> {
    let sgd = |o: SgdOptions| Box::new(Sgd::new(p.clone(), o).unwrap()) as Box<dyn Optimizer<Cpu>>;
    let adam = |o| Box::new(Adam::new(p.clone(), o).unwrap()) as Box<dyn Optimizer<Cpu>>;
    let adamw = |o| Box::new(Adam::adamw(p.clone(), o).unwrap()) as Box<dyn Optimizer<Cpu>>;
    let rms = |o| Box::new(RmsProp::new(p.clone(), o).unwrap()) as Box<dyn Optimizer<Cpu>>;
    let sgd_default = SgdOptions::default();
    let adam_default = AdamOptions::default();
    match name {
        "sgd_plain" => sgd(SgdOptions::lr(0.1)),
        "sgd_momentum_wd" => sgd(SgdOptions {
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 0.01,
            ..sgd_default
        }),
        "sgd_dampening" => sgd(SgdOptions {
            lr: 0.05,
            momentum: 0.8,
            dampening: 0.3,
            ..sgd_default
        }),
        "sgd_nesterov_max" => sgd(SgdOptions {
            lr: 0.05,
            momentum: 0.9,
            nesterov: true,
            weight_decay: 0.1,
            maximize: true,
            ..sgd_default
        }),
        "adam" => adam(AdamOptions {
            lr: 0.01,
            ..adam_default
        }),
        "adam_l2_eps" => adam(AdamOptions {
            lr: 0.01,
            weight_decay: 0.1,
            eps: 1e-3,
            ..adam_default
        }),
        "adam_amsgrad" => adam(AdamOptions {
            lr: 0.02,
            betas: (0.8, 0.99),
            amsgrad: true,
            ..adam_default
        }),
        "adam_low_beta1" => adam(AdamOptions {
            lr: 0.01,
            betas: (0.3, 0.999),
            ..adam_default
        }),
        "adamw" => adamw(AdamOptions {
            lr: 0.01,
            ..AdamOptions::adamw()
        }),
        "adamw_max" => adamw(AdamOptions {
            lr: 0.01,
            weight_decay: 0.1,
            maximize: true,
            ..AdamOptions::adamw()
        }),
        "rmsprop" => rms(RmsPropOptions::default()),
        "rmsprop_centered" => rms(RmsPropOptions {
            centered: true,
            ..Default::default()
        }),
        "rmsprop_momentum" => rms(RmsPropOptions {
            momentum: 0.9,
            ..Default::default()
        }),
        "rmsprop_all" => rms(RmsPropOptions {
            lr: 0.005,
            alpha: 0.9,
            eps: 1e-6,
            weight_decay: 0.05,
            momentum: 0.5,
            centered: true,
            maximize: true,
        }),
        other => panic!("unknown case {other}"),
    }
}

/// Float32 trajectories over six steps match torch's to a few float32 roundings.
///
/// The formulas and their order of operations are torch's, but not bit for bit: torch's CPU
/// kernels fuse multiply-adds (`add(x, alpha=a)`, `addcmul`, `addcdiv` and `lerp` round once,
/// as an FMA), which the tensor API has no op for, so each such update may round differently
/// by one ulp of its result. (`gen_golden.py`'s float32 trajectories are reproduced exactly by
/// a numpy emulation with fused multiply-adds, and differ without them.) The bound is in
/// units of float32 epsilon times the parameter's largest magnitude, since a single rounding
/// of an update term can be large next to an element that nearly cancelled.
#[test]
fn optimizers_match_torch_float32() {
    let golden = Golden::parse(include_str!("data/optim_golden.txt"));
    let cases = [
        "sgd_plain",
        "sgd_momentum_wd",
        "sgd_dampening",
        "sgd_nesterov_max",
        "adam",
        "adam_l2_eps",
        "adam_amsgrad",
        "adam_low_beta1",
        "adamw",
        "adamw_max",
        "rmsprop",
        "rmsprop_centered",
        "rmsprop_momentum",
        "rmsprop_all",
    ];
    for name in cases {
        let p0: Vec<f32> = golden.get(name, "p0").iter().map(|&v| v as f32).collect();
        let p = param_f32(&p0, &[2, 3]);
        let mut opt = make_optimizer(name, vec![p.clone()]);
        let mut worst = 0.0f64;
        let mut bit_exact = true;
        for k in 1..=STEPS {
            set_grad(&p, golden.get(name, &format!("g{k}")));
            opt.step().unwrap();
            let want = golden.get(name, &format!("p{k}"));
            let scale = want.iter().fold(0.0f64, |m, w| m.max(w.abs())) * f32::EPSILON as f64;
            for (i, (&g, &w)) in p.to_vec::<f32>().unwrap().iter().zip(want).enumerate() {
                let e = (g as f64 - w).abs() / scale;
                assert!(
                    e <= 2.0,
                    "{name} step {k} [{i}]: got {g}, torch {w} ({e:.2} eps)"
                );
                worst = worst.max(e);
                bit_exact &= g as f64 == w;
            }
        }
        println!("{name}: worst {worst:.3} eps·max|p| over {STEPS} steps, bit-exact {bit_exact}");
        // Where torch has no multiply-add to fuse on this path, we are torch to the bit; a
        // change in the order of operations would show here first.
        if BIT_EXACT.contains(&name) {
            assert!(bit_exact, "{name} is no longer bit-exact");
        }
    }
}

const BIT_EXACT: [&str; 8] = [
    "sgd_plain",
    "adam",
    "adam_l2_eps",
    "adam_amsgrad",
    "adam_low_beta1",
    "adamw",
    "adamw_max",
    "rmsprop",
];

/// Two param groups, lrs 0.1 and 0.01, as `two_groups()` in gen_golden.py.
fn two_groups_sgd() -> Sgd<Cpu> {
    let options = |lr| SgdOptions {
        lr,
        momentum: 0.9,
        ..Default::default()
    };
    let mut sgd = Sgd::new(vec![param_f32(&[0.0], &[1])], options(0.1)).unwrap();
    sgd.add_param_group(vec![param_f32(&[0.0], &[1])], options(0.01))
        .unwrap();
    sgd
}

fn two_groups_adam() -> Adam<Cpu> {
    let options = |lr| AdamOptions {
        lr,
        ..Default::default()
    };
    let mut adam = Adam::new(vec![param_f32(&[0.0], &[1])], options(0.1)).unwrap();
    adam.add_param_group(vec![param_f32(&[0.0], &[1])], options(0.01))
        .unwrap();
    adam
}

/// The Rust twin of each case of `scheduler_cases()` in gen_golden.py.
fn make_scheduler(name: &str, opt: &mut dyn Optimizer<Cpu>) -> Box<dyn LrScheduler> {
    match name {
        "steplr" => Box::new(StepLR::new(opt, 3, 0.5).unwrap()),
        "multisteplr" => Box::new(MultiStepLR::new(opt, &[2, 5, 5, 9], 0.3).unwrap()),
        "cosine" => Box::new(CosineAnnealingLR::new(opt, 10, 0.001).unwrap()),
        "cosine_eta0" => Box::new(CosineAnnealingLR::new(opt, 7, 0.0).unwrap()),
        "linear" => Box::new(LinearLR::new(opt, 0.25, 1.0, 6).unwrap()),
        "linear_decay" => Box::new(LinearLR::new(opt, 1.0, 0.1, 8).unwrap()),
        "sequential" => {
            let warm = LinearLR::new(opt, 0.1, 1.0, 5).unwrap();
            let cos = CosineAnnealingLR::new(opt, 15, 1e-4).unwrap();
            Box::new(SequentialLR::new(opt, vec![Box::new(warm), Box::new(cos)], &[5]).unwrap())
        }
        "sequential3" => {
            let first = LinearLR::new(opt, 0.5, 1.0, 3).unwrap();
            let second = StepLR::new(opt, 2, 0.5).unwrap();
            let third = MultiStepLR::new(opt, &[3, 6], 0.1).unwrap();
            let all: Vec<Box<dyn LrScheduler>> =
                vec![Box::new(first), Box::new(second), Box::new(third)];
            Box::new(SequentialLR::new(opt, all, &[3, 8]).unwrap())
        }
        "onecycle_cos" => {
            let o = OneCycleOptions::new(vec![1.0, 0.5], 20);
            Box::new(OneCycleLR::new(opt, o).unwrap())
        }
        "onecycle_linear_3phase" => {
            let o = OneCycleOptions {
                pct_start: 0.25,
                anneal_strategy: AnnealStrategy::Linear,
                div_factor: 10.0,
                final_div_factor: 100.0,
                three_phase: true,
                ..OneCycleOptions::new(0.4, 24)
            };
            Box::new(OneCycleLR::new(opt, o).unwrap())
        }
        "onecycle_adam" => {
            let o = OneCycleOptions {
                base_momentum: 0.8.into(),
                max_momentum: 0.9.into(),
                ..OneCycleOptions::new(0.01, 15)
            };
            Box::new(OneCycleLR::new(opt, o).unwrap())
        }
        "onecycle_no_momentum" => {
            let o = OneCycleOptions {
                cycle_momentum: false,
                ..OneCycleOptions::new(0.3, 10)
            };
            Box::new(OneCycleLR::new(opt, o).unwrap())
        }
        other => panic!("unknown case {other}"),
    }
}

/// Scheduler lrs (and OneCycleLR momenta) equal torch's bit for bit, at creation and after
/// every step: same branches, same formulas, same order of float64 operations.
#[test]
fn schedulers_match_torch_bit_for_bit() {
    let golden = Golden::parse(include_str!("data/sched_golden.txt"));
    let cases = [
        "steplr",
        "multisteplr",
        "cosine",
        "cosine_eta0",
        "linear",
        "linear_decay",
        "sequential",
        "sequential3",
        "onecycle_cos",
        "onecycle_linear_3phase",
        "onecycle_adam",
        "onecycle_no_momentum",
    ];
    for name in cases {
        let mut opt: Box<dyn Optimizer<Cpu>> = if name == "onecycle_adam" {
            Box::new(two_groups_adam())
        } else {
            Box::new(two_groups_sgd())
        };
        let mut sched = make_scheduler(name, opt.as_mut());
        let steps = golden.get(name, "lr0").len() - 1;
        for k in 0..=steps {
            if k > 0 {
                sched.step(opt.as_mut()).unwrap();
            }
            assert_eq!(sched.last_epoch(), k as i64, "{name}");
            for g in 0..2 {
                let want = golden.get(name, &format!("lr{g}"))[k];
                let got = sched.get_last_lr()[g];
                assert_eq!(
                    got.to_bits(),
                    want.to_bits(),
                    "{name} lr{g} step {k}: {got} vs {want}"
                );
                let (lr, momentum) = lr_and_momentum(opt.as_ref(), g);
                assert_eq!(lr, got, "{name}: the optimizer's lr is the scheduler's");
                let series = format!("mom{g}");
                if golden.has(name, &series) {
                    let want = golden.get(name, &series)[k];
                    let got = momentum.unwrap();
                    assert_eq!(
                        got.to_bits(),
                        want.to_bits(),
                        "{name} {series} step {k}: {got} vs {want}"
                    );
                }
            }
        }
    }
}

/// `param_groups[0]` of torch's state dict for a case, as gen_golden.py's comment lines show
/// it: the case's hyper-parameters plus torch's flags that this crate does not have.
fn torch_param_group(name: &str) -> Value {
    let f = |x: f64| Value::Float(x);
    let mut g: BTreeMap<String, Value> = match name {
        "sgd_momentum_wd" => [
            ("lr", f(0.1)),
            ("momentum", f(0.9)),
            ("dampening", Value::Int(0)),
            ("weight_decay", f(0.01)),
            ("nesterov", false.into()),
            ("maximize", false.into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect(),
        "adam_amsgrad" => [
            ("lr", f(0.02)),
            ("betas", Value::from([0.8, 0.99].as_slice())),
            ("eps", f(1e-8)),
            ("weight_decay", Value::Int(0)),
            ("amsgrad", true.into()),
            ("maximize", false.into()),
            ("decoupled_weight_decay", false.into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect(),
        "rmsprop_all" => [
            ("lr", f(0.005)),
            ("momentum", f(0.5)),
            ("alpha", f(0.9)),
            ("eps", f(1e-6)),
            ("centered", true.into()),
            ("weight_decay", f(0.05)),
            ("maximize", true.into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect(),
        other => panic!("no param group for {other}"),
    };
    for (k, v) in [
        ("foreach", Value::Bool(false)),
        ("differentiable", Value::Bool(false)),
        ("capturable", Value::Bool(false)),
        ("fused", Value::Null),
    ] {
        g.insert(k.to_string(), v);
    }
    g.insert("params".into(), Value::List(vec![Value::Int(0)]));
    Value::Map(g)
}

/// PyTorch's own state dicts (taken after step 3 of three trajectories) load into a fresh
/// optimizer, whose default hyper-parameters they replace, and steps 4 to 6 continue torch's
/// trajectory as closely as an uninterrupted run does.
#[test]
fn torch_state_dicts_load_and_continue() {
    let golden = Golden::parse(include_str!("data/optim_golden.txt"));
    for name in ["sgd_momentum_wd", "adam_amsgrad", "rmsprop_all"] {
        let p3: Vec<f32> = golden.get(name, "p3").iter().map(|&v| v as f32).collect();
        let p = param_f32(&p3, &[2, 3]);
        let tensors = [
            "step",
            "momentum_buffer",
            "exp_avg",
            "exp_avg_sq",
            "max_exp_avg_sq",
        ]
        .into_iter()
        .chain(["square_avg", "grad_avg"])
        .filter(|key| golden.has(name, &format!("state3.{key}")))
        .map(|key| {
            let values: Vec<f32> = golden
                .get(name, &format!("state3.{key}"))
                .iter()
                .map(|&v| v as f32)
                .collect();
            let shape: &[usize] = if key == "step" { &[] } else { &[2, 3] };
            let t = Tensor::from_slice(&values, shape, &Cpu).unwrap();
            (format!("state.0.{key}"), t)
        });
        let groups = Value::List(vec![torch_param_group(name)]);
        let state = OptimizerStateDict::from_parts(tensors, &groups).unwrap();

        // A fresh optimizer with other hyper-parameters: the loaded ones must win.
        let mut opt: Box<dyn Optimizer<Cpu>> = match name {
            "sgd_momentum_wd" => Box::new(Sgd::new(vec![p.clone()], SgdOptions::lr(1.0)).unwrap()),
            "adam_amsgrad" => Box::new(Adam::new(vec![p.clone()], AdamOptions::default()).unwrap()),
            _ => Box::new(RmsProp::new(vec![p.clone()], RmsPropOptions::default()).unwrap()),
        };
        opt.load_state_dict(&state).unwrap();
        for k in 4..=STEPS {
            set_grad(&p, golden.get(name, &format!("g{k}")));
            opt.step().unwrap();
            let want = golden.get(name, &format!("p{k}"));
            let scale = want.iter().fold(0.0f64, |m, w| m.max(w.abs())) * f32::EPSILON as f64;
            for (i, (&g, &w)) in p.to_vec::<f32>().unwrap().iter().zip(want).enumerate() {
                let e = (g as f64 - w).abs() / scale;
                assert!(e <= 2.0, "{name} step {k} [{i}]: got {g}, torch {w}");
                if BIT_EXACT.contains(&name) {
                    assert_eq!(g as f64, w, "{name} step {k} [{i}]");
                }
            }
        }
        // What we save has torch's keys.
        let saved = opt.state_dict().unwrap();
        let keys: Vec<&str> = saved.state[&0].keys().map(String::as_str).collect();
        let want_keys: Vec<&str> = match name {
            "sgd_momentum_wd" => vec!["momentum_buffer"],
            "adam_amsgrad" => vec!["exp_avg", "exp_avg_sq", "max_exp_avg_sq", "step"],
            _ => vec!["grad_avg", "momentum_buffer", "square_avg", "step"],
        };
        assert_eq!(keys, want_keys, "{name}");
    }
}
