//! LR schedulers against closed-form float64 references written here from torch's
//! documentation, their errors, and their state dicts. (Bit-for-bit agreement with PyTorch's
//! own values is in torch_golden.rs.)

mod common;

use common::{lr_and_momentum, param};
use std::f64::consts::PI;
use tiny_torch_cpu::Cpu;
use tiny_torch_optim::{
    Adam, AdamOptions, AnnealStrategy, CosineAnnealingLR, ExponentialLR, LinearLR, LrScheduler,
    MultiStepLR, OneCycleLR, OneCycleOptions, Optimizer, PerGroup, Schedulable, SequentialLR, Sgd,
    SgdOptions, StepLR, Value,
};

const BASE: [f64; 2] = [0.1, 0.01];

/// SGD with two groups at lrs `BASE`, momentum 0.9.
fn sgd() -> Sgd<Cpu> {
    let options = |lr| SgdOptions {
        lr,
        momentum: 0.9,
        ..Default::default()
    };
    let mut sgd = Sgd::new(vec![param(&[1.0])], options(BASE[0])).unwrap();
    sgd.add_param_group(vec![param(&[2.0])], options(BASE[1]))
        .unwrap();
    sgd
}

/// The lrs of both groups at epochs 0..=steps: `get_last_lr()` after creation, then after
/// each step; checks that the optimizer holds the same values.
fn run(opt: &mut dyn Schedulable, sched: &mut dyn LrScheduler, steps: usize) -> Vec<[f64; 2]> {
    let mut out = Vec::new();
    for k in 0..=steps {
        if k > 0 {
            sched.step(opt).unwrap();
        }
        let last = sched.get_last_lr();
        assert_eq!(last.len(), 2);
        assert_eq!(lr_and_momentum(opt, 0).0, last[0]);
        out.push([last[0], last[1]]);
    }
    out
}

/// `got[e][g]` equals `reference(e, base_g)` to 1e-12 of the base lr (recursive and closed
/// forms differ in the last bits).
fn check(name: &str, got: &[[f64; 2]], reference: impl Fn(usize, f64) -> f64) {
    for (e, lrs) in got.iter().enumerate() {
        for (g, &lr) in lrs.iter().enumerate() {
            let want = reference(e, BASE[g]);
            assert!(
                (lr - want).abs() <= 1e-12 * BASE[g],
                "{name} epoch {e} group {g}: got {lr}, want {want}"
            );
        }
    }
}

#[test]
fn step_and_multistep_follow_closed_forms() {
    let mut opt = sgd();
    let mut s = StepLR::new(&mut opt, 4, 0.3).unwrap();
    let got = run(&mut opt, &mut s, 25);
    check("StepLR", &got, |e, b| b * 0.3f64.powi((e / 4) as i32));

    let mut opt = sgd();
    let milestones = [3, 7, 7, 12];
    let mut s = MultiStepLR::new(&mut opt, &[12, 7, 3, 7], 0.5).unwrap();
    let got = run(&mut opt, &mut s, 20);
    check("MultiStepLR", &got, |e, b| {
        b * 0.5f64.powi(milestones.iter().filter(|&&m| m <= e).count() as i32)
    });
}

/// ExponentialLR: `base * gamma^epoch`; its recursive form (torch's `get_lr`) stays within
/// 1e-12 of the closed form; the state dict resumes it.
#[test]
fn exponential_follows_its_closed_form_and_resumes() {
    let mut opt = sgd();
    let mut s = ExponentialLR::new(&mut opt, 0.9).unwrap();
    let got = run(&mut opt, &mut s, 30);
    check("ExponentialLR", &got, |e, b| b * 0.9f64.powi(e as i32));

    let mut opt = sgd();
    let mut first = ExponentialLR::new(&mut opt, 0.5).unwrap();
    for _ in 0..3 {
        first.step(&mut opt).unwrap();
    }
    // As in PyTorch, the lrs live in the optimizer's state, the rest in the scheduler's.
    let (opt_state, sched_state) = (opt.state_dict().unwrap(), first.state_dict());
    let mut resumed_opt = sgd();
    let mut resumed = ExponentialLR::new(&mut resumed_opt, 0.1).unwrap();
    resumed_opt.load_state_dict(&opt_state).unwrap();
    resumed.load_state_dict(&sched_state).unwrap();
    first.step(&mut opt).unwrap();
    resumed.step(&mut resumed_opt).unwrap();
    assert_eq!(resumed.get_last_lr(), first.get_last_lr());
    assert_eq!(
        first.get_last_lr(),
        vec![BASE[0] * 0.0625, BASE[1] * 0.0625]
    );
}

fn cosine(e: f64, t_max: f64, eta_min: f64, base: f64) -> f64 {
    eta_min + (base - eta_min) * (1.0 + (PI * e / t_max).cos()) / 2.0
}

#[test]
fn cosine_follows_closed_form_through_the_trough_and_back() {
    for (t_max, eta_min) in [(10, 0.001), (7, 0.0), (1, 0.0)] {
        let mut opt = sgd();
        let mut s = CosineAnnealingLR::new(&mut opt, t_max, eta_min).unwrap();
        let got = run(&mut opt, &mut s, 3 * t_max + 2);
        check("CosineAnnealingLR", &got, |e, b| {
            cosine(e as f64, t_max as f64, eta_min, b)
        });
    }
}

fn linear(e: usize, start: f64, end: f64, total: usize, base: f64) -> f64 {
    base * (start + (end - start) * e.min(total) as f64 / total as f64)
}

#[test]
fn linear_warmup_and_decay_follow_closed_form() {
    for (start, end, total) in [(0.25, 1.0, 6), (1.0, 0.1, 8), (1.0 / 3.0, 1.0, 5)] {
        let mut opt = sgd();
        let mut s = LinearLR::new(&mut opt, start, end, total).unwrap();
        let got = run(&mut opt, &mut s, 15);
        check("LinearLR", &got, |e, b| linear(e, start, end, total, b));
    }
}

#[test]
fn sequential_warmup_then_cosine() {
    let mut opt = sgd();
    let warm = LinearLR::new(&mut opt, 0.1, 1.0, 5).unwrap();
    let cos = CosineAnnealingLR::new(&mut opt, 15, 1e-4).unwrap();
    let mut s = SequentialLR::new(&mut opt, vec![Box::new(warm), Box::new(cos)], &[5]).unwrap();
    let got = run(&mut opt, &mut s, 25);
    check("SequentialLR", &got, |e, b| {
        if e < 5 {
            linear(e, 0.1, 1.0, 5, b)
        } else {
            cosine((e - 5) as f64, 15.0, 1e-4, b)
        }
    });
    assert_eq!(s.last_epoch(), 25);
    assert_eq!(s.schedulers()[0].last_epoch(), 4);
    assert_eq!(s.schedulers()[1].last_epoch(), 20);
}

/// torch's documented 1cycle: phases end at `pct_start total - 1` (and `2 pct_start total -
/// 2`) and `total - 1`; within a phase the value anneals from its start to its end.
fn one_cycle_reference(
    step: usize,
    total: usize,
    pct_start: f64,
    three_phase: bool,
    anneal: AnnealStrategy,
    ends: [(f64, f64); 3],
) -> f64 {
    let t = total as f64;
    let bounds = if three_phase {
        vec![pct_start * t - 1.0, 2.0 * pct_start * t - 2.0, t - 1.0]
    } else {
        vec![pct_start * t - 1.0, t - 1.0]
    };
    let s = step as f64;
    let i = bounds
        .iter()
        .position(|&b| s <= b)
        .unwrap_or(bounds.len() - 1);
    let begin = if i == 0 { 0.0 } else { bounds[i - 1] };
    let pct = (s - begin) / (bounds[i] - begin);
    let (from, to) = ends[i];
    match anneal {
        AnnealStrategy::Cos => to + (from - to) * (1.0 + (PI * pct).cos()) / 2.0,
        AnnealStrategy::Linear => from + (to - from) * pct,
    }
}

#[test]
fn one_cycle_follows_its_phases_with_momentum() {
    for (three_phase, anneal) in [
        (false, AnnealStrategy::Cos),
        (true, AnnealStrategy::Linear),
        (true, AnnealStrategy::Cos),
        (false, AnnealStrategy::Linear),
    ] {
        let total = 30;
        let options = OneCycleOptions {
            pct_start: 0.25,
            anneal_strategy: anneal,
            three_phase,
            div_factor: 10.0,
            final_div_factor: 100.0,
            ..OneCycleOptions::new(vec![1.0, 0.5], total)
        };
        let mut opt = sgd();
        let mut s = OneCycleLR::new(&mut opt, options).unwrap();
        for step in 0..=total {
            if step > 0 {
                s.step(&mut opt).unwrap();
            }
            for (g, max_lr) in [1.0, 0.5].into_iter().enumerate() {
                let (initial, min) = (max_lr / 10.0, max_lr / 10.0 / 100.0);
                let lr_ends = if three_phase {
                    [(initial, max_lr), (max_lr, initial), (initial, min)]
                } else {
                    [(initial, max_lr), (max_lr, min), (0.0, 0.0)]
                };
                let m_ends = if three_phase {
                    [(0.95, 0.85), (0.85, 0.95), (0.95, 0.95)]
                } else {
                    [(0.95, 0.85), (0.85, 0.95), (0.0, 0.0)]
                };
                let want_lr = one_cycle_reference(step, total, 0.25, three_phase, anneal, lr_ends);
                let want_m = one_cycle_reference(step, total, 0.25, three_phase, anneal, m_ends);
                let (lr, m) = lr_and_momentum(&opt, g);
                assert!(
                    (lr - want_lr).abs() < 1e-12,
                    "step {step}: lr {lr} vs {want_lr}"
                );
                assert!(
                    (m.unwrap() - want_m).abs() < 1e-12,
                    "step {step}: {m:?} vs {want_m}"
                );
            }
        }
        // The cycle ends at `total_steps`; one more step is torch's error, and changes nothing.
        let before = (s.last_epoch(), s.get_last_lr().to_vec());
        let err = s.step(&mut opt).unwrap_err().to_string();
        assert!(err.contains("Tried to step 31 times"), "{err}");
        assert_eq!((s.last_epoch(), s.get_last_lr().to_vec()), before);
    }
}

#[test]
fn one_cycle_cycles_adam_beta1_or_nothing() {
    let p = param(&[1.0]);
    let mut adam = Adam::new(vec![p], AdamOptions::default()).unwrap();
    let o = OneCycleOptions::new(0.01, 10);
    let mut s = OneCycleLR::new(&mut adam, o).unwrap();
    assert_eq!(adam.param_groups()[0].options.betas, (0.95, 0.999));
    for _ in 0..3 {
        s.step(&mut adam).unwrap();
    }
    let beta1 = adam.param_groups()[0].options.betas.0;
    assert!(beta1 < 0.95 && beta1 > 0.85, "{beta1}");

    let mut opt = sgd();
    let o = OneCycleOptions {
        cycle_momentum: false,
        ..OneCycleOptions::new(0.3, 10)
    };
    let mut s = OneCycleLR::new(&mut opt, o).unwrap();
    s.step(&mut opt).unwrap();
    assert_eq!(lr_and_momentum(&opt, 0).1, Some(0.9));
}

#[test]
fn a_second_scheduler_starts_from_the_original_lr() {
    // torch's `initial_lr`: the first scheduler records it, the second reads it.
    let mut opt = sgd();
    let _warm = LinearLR::new(&mut opt, 0.5, 1.0, 4).unwrap();
    assert_eq!(opt.lr(0), Some(0.05));
    let mut step = StepLR::new(&mut opt, 2, 0.1).unwrap();
    assert_eq!(step.get_last_lr(), &[0.05, 0.005]);
    let state = step.state_dict();
    let base = state.as_map().unwrap()["base_lrs"].clone();
    assert_eq!(base, Value::from(BASE.as_slice()));
    assert_eq!(
        opt.state_dict().unwrap().param_groups[0].hyper["initial_lr"],
        Value::Float(0.1)
    );
    step.step(&mut opt).unwrap();
    step.step(&mut opt).unwrap();
    assert_eq!(opt.lr(0), Some(0.05 * 0.1));
}

#[test]
fn constructor_errors() {
    let mut opt = sgd();
    let msg = |r: Result<(), tiny_torch_core::Error>| r.unwrap_err().to_string();
    assert!(msg(StepLR::new(&mut opt, 0, 0.1).map(drop)).contains("step_size"));
    assert!(msg(CosineAnnealingLR::new(&mut opt, 0, 0.0).map(drop)).contains("T_max"));
    assert!(msg(LinearLR::new(&mut opt, 0.0, 1.0, 5).map(drop)).contains("Starting"));
    assert!(msg(LinearLR::new(&mut opt, 0.5, 1.5, 5).map(drop)).contains("Ending"));
    let one_cycle = |o: OneCycleOptions, opt: &mut Sgd<Cpu>| OneCycleLR::new(opt, o).map(drop);
    let e = msg(one_cycle(OneCycleOptions::new(0.1, 0), &mut opt));
    assert!(e.contains("total_steps"), "{e}");
    let e = msg(one_cycle(
        OneCycleOptions {
            pct_start: 1.5,
            ..OneCycleOptions::new(0.1, 10)
        },
        &mut opt,
    ));
    assert!(e.contains("pct_start"), "{e}");
    let e = msg(one_cycle(
        OneCycleOptions::new(PerGroup::Each(vec![0.1, 0.2, 0.3]), 10),
        &mut opt,
    ));
    assert!(e.contains("max_lr has 3 values, param_groups has 2"), "{e}");
    // pct_start * total_steps == 1: the first phase has length 0 (torch: ZeroDivisionError).
    let e = msg(one_cycle(
        OneCycleOptions {
            pct_start: 0.1,
            ..OneCycleOptions::new(0.1, 10)
        },
        &mut opt,
    ));
    assert!(e.contains("zero length"), "{e}");

    let mut opt = sgd();
    let a = StepLR::new(&mut opt, 2, 0.5).unwrap();
    let b = StepLR::new(&mut opt, 2, 0.5).unwrap();
    let e = SequentialLR::new(&mut opt, vec![], &[]).err().unwrap();
    assert!(e.to_string().contains("at least one scheduler"), "{e}");
    let e = SequentialLR::new(
        &mut opt,
        vec![Box::new(a.clone()), Box::new(b.clone())],
        &[],
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("one more"), "{e}");
    let three: Vec<Box<dyn LrScheduler>> = vec![Box::new(a), Box::new(b.clone()), Box::new(b)];
    let e = SequentialLR::new(&mut opt, three, &[5, 2]).err().unwrap();
    assert!(e.to_string().contains("increasing"), "{e}");

    // A scheduler used with an optimizer that has a different number of groups.
    let mut other = Sgd::new(vec![param(&[0.0])], SgdOptions::lr(0.1)).unwrap();
    let mut s = StepLR::new(&mut opt, 2, 0.5).unwrap();
    let e = s.step(&mut other).unwrap_err().to_string();
    assert!(e.contains("2 param groups"), "{e}");
    assert_eq!(s.last_epoch(), 0);
}

/// A scheduler and optimizer restored from state dicts continue exactly as the originals.
fn check_resume(
    name: &str,
    make: impl Fn(&mut Sgd<Cpu>) -> Box<dyn LrScheduler>,
    before: usize,
    after: usize,
) {
    let mut opt = sgd();
    let mut sched = make(&mut opt);
    for _ in 0..before {
        sched.step(&mut opt).unwrap();
    }
    let opt_state = opt.state_dict().unwrap();
    let sched_state = sched.state_dict();
    let mut expected = Vec::new();
    for _ in 0..after {
        sched.step(&mut opt).unwrap();
        expected.push((sched.get_last_lr().to_vec(), lr_and_momentum(&opt, 1)));
    }

    // torch's order: create, load the optimizer's state, then the scheduler's.
    let mut opt2 = sgd();
    let mut sched2 = make(&mut opt2);
    opt2.load_state_dict(&opt_state).unwrap();
    sched2.load_state_dict(&sched_state).unwrap();
    assert_eq!(sched2.last_epoch(), before as i64, "{name}");
    for (k, want) in expected.into_iter().enumerate() {
        sched2.step(&mut opt2).unwrap();
        let got = (sched2.get_last_lr().to_vec(), lr_and_momentum(&opt2, 1));
        assert_eq!(got, want, "{name} step {k} after resuming");
    }
}

#[test]
fn schedulers_resume_from_state_dicts() {
    check_resume(
        "StepLR",
        |o| Box::new(StepLR::new(o, 3, 0.5).unwrap()),
        7,
        10,
    );
    check_resume(
        "MultiStepLR",
        |o| Box::new(MultiStepLR::new(o, &[2, 9, 9], 0.5).unwrap()),
        5,
        10,
    );
    check_resume(
        "CosineAnnealingLR",
        |o| Box::new(CosineAnnealingLR::new(o, 10, 1e-3).unwrap()),
        7,
        20,
    );
    check_resume(
        "LinearLR",
        |o| Box::new(LinearLR::new(o, 0.2, 1.0, 10).unwrap()),
        4,
        10,
    );
    let sequential = |o: &mut Sgd<Cpu>| -> Box<dyn LrScheduler> {
        let warm = LinearLR::new(o, 0.1, 1.0, 5).unwrap();
        let cos = CosineAnnealingLR::new(o, 15, 1e-4).unwrap();
        Box::new(SequentialLR::new(o, vec![Box::new(warm), Box::new(cos)], &[5]).unwrap())
    };
    check_resume("SequentialLR before the milestone", sequential, 3, 12);
    check_resume("SequentialLR after the milestone", sequential, 8, 12);
    let one_cycle = |o: &mut Sgd<Cpu>| -> Box<dyn LrScheduler> {
        let options = OneCycleOptions {
            three_phase: true,
            ..OneCycleOptions::new(vec![1.0, 0.5], 20)
        };
        Box::new(OneCycleLR::new(o, options).unwrap())
    };
    check_resume("OneCycleLR", one_cycle, 9, 11);
}

#[test]
fn scheduler_state_dict_contents_and_load_errors() {
    let mut opt = sgd();
    let mut s = CosineAnnealingLR::new(&mut opt, 10, 0.0).unwrap();
    s.step(&mut opt).unwrap();
    let state = s.state_dict();
    let map = state.as_map().unwrap();
    assert_eq!(map["scheduler"], Value::from("CosineAnnealingLR"));
    assert_eq!(map["last_epoch"], Value::Int(1));
    assert_eq!(map["_step_count"], Value::Int(2));
    assert_eq!(map["T_max"], Value::Int(10));
    assert_eq!(map["base_lrs"], Value::from(BASE.as_slice()));

    // The wrong type, a missing key, a mistyped key: errors, and nothing changes.
    let mut other = StepLR::new(&mut opt, 2, 0.5).unwrap();
    let e = other.load_state_dict(&state).unwrap_err().to_string();
    assert!(e.contains("CosineAnnealingLR's, not a StepLR's"), "{e}");
    let mut broken = map.clone();
    broken.remove("T_max");
    let e = s
        .load_state_dict(&Value::Map(broken))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no \"T_max\""), "{e}");
    let mut broken = map.clone();
    broken.insert("last_epoch".into(), Value::from("three"));
    let e = s
        .load_state_dict(&Value::Map(broken))
        .unwrap_err()
        .to_string();
    assert!(e.contains("[\"last_epoch\"] must be an integer"), "{e}");
    assert_eq!(s.state_dict(), state);
    assert!(s.load_state_dict(&Value::Null).is_err());
}
