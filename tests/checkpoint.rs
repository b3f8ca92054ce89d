//! Training checkpoints resume exactly: a run interrupted after 4 steps, saved, and continued
//! in fresh objects gives bit-identical parameters to the uninterrupted run (SGD momentum,
//! StepLR, dropout drawing from the default generator); bad files change nothing.

#![cfg(feature = "cpu")]

use std::path::PathBuf;
use std::sync::Mutex;
use tiny_torch::checkpoint::{Progress, load_training, save_training};
use tiny_torch::nn::{Dropout, F, Linear, Module, Relu, Sequential};
use tiny_torch::optim::{LrScheduler, Optimizer, Sgd, SgdOptions, StepLR};
use tiny_torch::{Cpu, DType, Tensor, manual_seed};

/// The default generator is process-wide: tests that draw from it take turns.
static RNG: Mutex<()> = Mutex::new(());

fn temp_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tt-train-ckpt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

struct Run {
    model: Sequential<Cpu>,
    sgd: Sgd<Cpu>,
    sched: StepLR,
}

fn new_run() -> Run {
    let model = Sequential::default()
        .append(Linear::new(6, 8, true, &Cpu).unwrap())
        .append(Relu)
        .append(Dropout::new(0.3))
        .append(Linear::new(8, 3, true, &Cpu).unwrap());
    let mut sgd = Sgd::new(
        model.parameters(),
        SgdOptions {
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 1e-3,
            ..Default::default()
        },
    )
    .unwrap();
    let sched = StepLR::new(&mut sgd, 3, 0.5).unwrap();
    Run { model, sgd, sched }
}

fn train(run: &mut Run, steps: usize) {
    let x = Tensor::randn(&[16, 6], DType::F32, &Cpu).unwrap();
    let y = Tensor::from_vec((0..16).map(|i| (i % 3) as i64).collect(), &[16], &Cpu).unwrap();
    for _ in 0..steps {
        run.sgd.zero_grad();
        let loss = F::cross_entropy(&run.model.forward(&x).unwrap(), &y).unwrap();
        loss.backward().unwrap();
        run.sgd.step().unwrap();
        run.sched.step(&mut run.sgd).unwrap();
    }
}

fn params(run: &Run) -> Vec<Vec<f32>> {
    run.model
        .parameters()
        .iter()
        .map(|p| p.to_vec::<f32>().unwrap())
        .collect()
}

#[test]
fn an_interrupted_run_resumes_bit_for_bit() {
    let _guard = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let path = temp_path("resume.safetensors");

    manual_seed(7);
    let mut reference = new_run();
    train(&mut reference, 4);
    let progress = Progress {
        epoch: 1,
        step: 4,
        extra: [("best".to_string(), "0.5".to_string())].into(),
    };
    save_training(
        &path,
        &reference.model,
        &reference.sgd,
        Some(&reference.sched),
        &progress,
    )
    .unwrap();
    train(&mut reference, 5);

    manual_seed(99); // other weights, another generator position
    let mut resumed = new_run();
    let got = load_training(
        &path,
        &resumed.model,
        &mut resumed.sgd,
        Some(&mut resumed.sched),
    )
    .unwrap();
    assert_eq!(got, progress);
    assert_eq!(resumed.sched.last_epoch(), 4);
    train(&mut resumed, 5);
    assert_eq!(params(&resumed), params(&reference));
    assert_eq!(resumed.sgd.lr(0), reference.sgd.lr(0));
}

/// A run seeded with `seed`, trained 2 steps and saved (with its scheduler) as `name`.
fn trained_and_saved(seed: u64, name: &str) -> (Run, PathBuf) {
    manual_seed(seed);
    let mut run = new_run();
    train(&mut run, 2);
    let path = temp_path(name);
    save_training(
        &path,
        &run.model,
        &run.sgd,
        Some(&run.sched),
        &Progress::default(),
    )
    .unwrap();
    (run, path)
}

#[test]
fn a_bad_checkpoint_changes_nothing() {
    let _guard = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let (run, path) = trained_and_saved(1, "bad.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let mut other = new_run();
    let before = params(&other);
    let err = load_training(&path, &other.model, &mut other.sgd, Some(&mut other.sched))
        .unwrap_err()
        .to_string();
    assert!(err.contains("bad.safetensors"), "{err}");
    assert_eq!(params(&other), before);
    // A plain weights file is not a training checkpoint.
    let weights = temp_path("weights.safetensors");
    tiny_torch::nn::checkpoint::save(&run.model, &weights).unwrap();
    let err = load_training(&weights, &other.model, &mut other.sgd, None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("weights.safetensors") && err.contains("format"),
        "{err}"
    );
    assert_eq!(params(&other), before);
}

/// A checkpoint that fits the model but not the optimizer or the scheduler changes nothing:
/// not the weights (which load last), not the optimizer's state when the scheduler is the part
/// that does not fit.
#[test]
fn a_checkpoint_for_another_optimizer_or_scheduler_changes_nothing() {
    let _guard = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let (run, path) = trained_and_saved(2, "sgd-steplr.safetensors");

    // Adam has no momentum_buffer: the optimizer part fails, the weights stay.
    let mut other = new_run();
    train(&mut other, 1);
    let before = params(&other);
    let mut adam = tiny_torch::optim::Adam::new(
        other.model.parameters(),
        tiny_torch::optim::AdamOptions::default(),
    )
    .unwrap();
    let err = load_training(&path, &other.model, &mut adam, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("sgd-steplr.safetensors"), "{err}");
    assert_eq!(params(&other), before);

    // A cosine schedule where the file has a step schedule: the SGD state loads first and is
    // put back, the weights stay.
    let buffer = |run: &Run| {
        run.sgd
            .momentum_buffer(0, 0)
            .unwrap()
            .to_vec::<f32>()
            .unwrap()
    };
    let buffer_before = buffer(&other);
    let mut cosine = tiny_torch::optim::CosineAnnealingLR::new(&mut other.sgd, 10, 0.0).unwrap();
    let err = load_training(&path, &other.model, &mut other.sgd, Some(&mut cosine))
        .unwrap_err()
        .to_string();
    assert!(err.contains("sgd-steplr.safetensors"), "{err}");
    assert_eq!(params(&other), before);
    assert_eq!(buffer(&other), buffer_before);
    assert_ne!(buffer(&other), buffer(&run));

    // The matching objects load it.
    load_training(&path, &other.model, &mut other.sgd, Some(&mut other.sched)).unwrap();
    assert_eq!(params(&other), params(&run));
    assert_eq!(buffer(&other), buffer(&run));
}

/// The learning rates and other floats of the optimizer's and scheduler's state travel as JSON
/// text: each must parse back to the same bits (a cosine schedule's rates are arbitrary
/// floats; serde_json's default parser was 1 ulp off for about a tenth of them).
#[test]
fn metadata_floats_read_back_bit_for_bit() {
    use tiny_torch::checkpoint::{json_to_value, value_to_json};
    use tiny_torch::optim::Value;
    // A 64-bit LCG (Knuth's MMIX constants) spreading floats over [1e-6, 10).
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for _ in 0..20_000 {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let unit = (state >> 11) as f64 / (1u64 << 53) as f64;
        let x = 10f64.powf(-6.0 + 7.0 * unit);
        let text = value_to_json(&Value::Float(x)).unwrap().to_string();
        match json_to_value(&serde_json::from_str(&text).unwrap()) {
            Value::Float(back) => assert_eq!(back.to_bits(), x.to_bits(), "{x:e} as {text}"),
            other => panic!("{x:e} came back as {other:?}"),
        }
    }
}

/// JSON has no infinity or NaN: a state holding one is refused at save time, and nothing is
/// written (before, it was written as `null` and the file could not be loaded).
#[test]
fn a_non_finite_rate_is_refused_and_nothing_is_written() {
    use tiny_torch::checkpoint::value_to_json;
    use tiny_torch::optim::Value;
    let nested = Value::Map(
        [("lr".to_string(), Value::Float(f64::INFINITY))]
            .into_iter()
            .collect(),
    );
    let err = value_to_json(&Value::List(vec![nested])).unwrap_err();
    assert!(err.contains("lr") && err.contains("inf"), "{err}");

    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let mut run = new_run();
    run.sgd.set_lr(f64::NAN);
    let path = temp_path("nan-lr.safetensors");
    let _ = std::fs::remove_file(&path);
    let progress = Progress::default();
    let err = save_training(&path, &run.model, &run.sgd, Some(&run.sched), &progress).unwrap_err();
    assert!(err.to_string().contains("optimizer.param_groups"), "{err}");
    assert!(!path.exists(), "a refused save wrote {}", path.display());
}
