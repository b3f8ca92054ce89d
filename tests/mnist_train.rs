//! The MNIST example (`examples/mnist.rs`), tested through its own modules (examples get no
//! `CARGO_BIN_EXE_*`, so the test includes the files): PyTorch's examples/mnist CNN trained on a
//! slice of the embedded real MNIST images must beat a bar an untrained model cannot reach;
//! `--resume` must continue a run bit for bit; bad flags and a missing device must be rejected.
#![cfg(feature = "cpu")]

#[allow(dead_code)] // what only the example itself uses
#[path = "../examples/mnist/checkpoint.rs"]
mod checkpoint;
#[allow(dead_code)] // what only the example itself uses
#[path = "../examples/mnist/cli.rs"]
mod cli;
#[allow(dead_code)] // what only the example itself uses
#[path = "../examples/mnist/metrics.rs"]
mod metrics;
#[allow(dead_code)] // what only the example itself uses
#[path = "../examples/mnist/model.rs"]
mod model;
#[allow(dead_code)] // what only the example itself uses
#[path = "../examples/mnist/progress.rs"]
mod progress;
#[allow(dead_code)] // what only the example itself uses
#[path = "../examples/mnist/train.rs"]
mod train;

use cli::{Args, DeviceArg, Parsed};
use std::path::PathBuf;
use tiny_torch::optim::Value;

/// Training draws from the process-wide default generator (initialisation, dropout), so two
/// runs at once in one process would interleave their draws: the tests that train take turns.
static TRAINING: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn training_lock() -> std::sync::MutexGuard<'static, ()> {
    TRAINING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn out_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("mnist-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn parse(args: &[&str]) -> Result<Parsed, String> {
    cli::parse(args.iter().copied())
}

#[test]
fn cli_parses_flags() {
    assert_eq!(parse(&[]).unwrap(), Parsed::Run(Args::default()));
    assert_eq!(parse(&["--help"]).unwrap(), Parsed::Help);
    assert_eq!(parse(&["--epochs", "2", "-h"]).unwrap(), Parsed::Help);
    let Parsed::Run(a) = parse(&[
        "--epochs=5",
        "--batch-size",
        "128",
        "--test-batch-size",
        "500",
        "--lr",
        "0.01",
        "--gamma=0.5",
        "--seed",
        "7",
        "--device",
        "cuda:1",
        "--data",
        "/usr/share/datasets/fashion-mnist",
        "--out",
        "runs/x",
        "--resume",
        "--limit-steps",
        "10",
        "--limit-test",
        "100",
        "--workers",
        "0",
        "--log-interval",
        "5",
    ])
    .unwrap() else {
        panic!("not a run")
    };
    assert_eq!(
        a,
        Args {
            epochs: 5,
            batch_size: 128,
            test_batch_size: 500,
            lr: 0.01,
            gamma: 0.5,
            seed: 7,
            device: DeviceArg::Cuda(1),
            data: Some(PathBuf::from("/usr/share/datasets/fashion-mnist")),
            out: PathBuf::from("runs/x"),
            resume: true,
            limit_steps: Some(10),
            limit_test: Some(100),
            workers: 0,
            log_interval: 5,
        }
    );
    assert_eq!(DeviceArg::parse("cuda").unwrap(), DeviceArg::Cuda(0));
    assert_eq!(DeviceArg::parse("wgpu").unwrap(), DeviceArg::Wgpu(0));
    assert_eq!(DeviceArg::parse("wgpu:1").unwrap(), DeviceArg::Wgpu(1));
    assert_eq!(DeviceArg::parse("cpu").unwrap(), DeviceArg::Cpu);
}

#[test]
fn cli_rejects_bad_flags() {
    let cases: &[(&[&str], &str)] = &[
        (&["--epochs"], "--epochs needs a value"),
        (&["--epochs", "three"], "--epochs: expected a number"),
        (&["--epochs", "0"], "--epochs must be at least 1"),
        (&["--batch-size", "-64"], "--batch-size: expected a number"),
        (&["--batch-size", "0"], "--batch-size must be at least 1"),
        (
            &["--test-batch-size=0"],
            "--test-batch-size must be at least 1",
        ),
        (&["--lr", "0"], "--lr must be a positive number"),
        (&["--lr", "nan"], "--lr must be a positive number"),
        (&["--lr", "fast"], "--lr: expected a number"),
        (&["--gamma", "-1"], "--gamma must be a positive number"),
        (&["--seed", "-1"], "--seed: expected a number"),
        (
            &["--device", "gpu"],
            "--device: expected cpu, cuda, cuda:N, wgpu or wgpu:N",
        ),
        (
            &["--device", "cuda:"],
            "--device: expected cpu, cuda, cuda:N, wgpu or wgpu:N",
        ),
        (
            &["--device", "cuda:one"],
            "--device: expected cpu, cuda, cuda:N, wgpu or wgpu:N",
        ),
        (
            &["--device", "wgpu:x"],
            "--device: expected cpu, cuda, cuda:N, wgpu or wgpu:N",
        ),
        (&["--limit-steps", "0"], "--limit-steps must be at least 1"),
        (&["--limit-test", "-5"], "--limit-test: expected a number"),
        (&["--workers", "many"], "--workers: expected a number"),
        (&["--resume=yes"], "--resume takes no value"),
        (&["--epoch", "3"], "unknown flag --epoch"),
        (&["-e", "3"], "unknown flag -e"),
        (&["mnist"], "unexpected argument \"mnist\""),
    ];
    for (args, want) in cases {
        match parse(args) {
            Err(msg) => assert!(
                msg.contains(want),
                "{args:?}: the message {msg:?} does not say {want:?}"
            ),
            Ok(p) => panic!("{args:?} was accepted: {p:?}"),
        }
    }
}

/// `--device wgpu` trains (on lavapipe in CI): a few steps give the CPU's test loss and
/// accuracy to float tolerance, since the initialisation, the dropout masks and the batches come
/// from one Philox stream on every backend.
#[cfg(feature = "wgpu")]
#[test]
fn trains_on_wgpu_as_on_the_cpu() {
    if let Err(e) = tiny_torch::Wgpu::try_default() {
        let required = std::env::var("TINY_TORCH_REQUIRE")
            .unwrap_or_default()
            .split(',')
            .any(|s| s.trim() == "wgpu");
        assert!(!required, "TINY_TORCH_REQUIRE names wgpu, but: {e}");
        eprintln!("skipped: {e}");
        return;
    }
    let _turn = training_lock();
    let run_on = |device, name| {
        let args = Args {
            epochs: 1,
            batch_size: 16,
            limit_steps: Some(3),
            limit_test: Some(64),
            device,
            out: out_dir(name),
            ..Args::default()
        };
        train::run(&args, false).unwrap()
    };
    let cpu = run_on(DeviceArg::Cpu, "wgpu-reference");
    let start = std::time::Instant::now();
    let wgpu = run_on(DeviceArg::Wgpu(0), "wgpu");
    eprintln!(
        "3 steps of batch 16 on wgpu: {:.1} s (test loss {} against {} on the CPU)",
        start.elapsed().as_secs_f64(),
        wgpu.test_loss,
        cpu.test_loss
    );
    assert!(
        (wgpu.test_loss - cpu.test_loss).abs() <= 1e-3 * cpu.test_loss.abs(),
        "test loss {} on wgpu, {} on the CPU",
        wgpu.test_loss,
        cpu.test_loss
    );
    assert!(
        (wgpu.test_acc - cpu.test_acc).abs() <= 1.0 / 64.0,
        "test accuracy {} on wgpu, {} on the CPU",
        wgpu.test_acc,
        cpu.test_acc
    );
}

#[test]
fn missing_cuda_device_is_a_usage_error() {
    #[cfg(feature = "cuda")]
    let count = tiny_torch::cuda::device_count();
    #[cfg(not(feature = "cuda"))]
    let count = 0;
    // cuda:N past the last device (every device when there is no GPU) is refused before any
    // training, as a usage error (exit code 2 in the example).
    let args = Args {
        device: DeviceArg::Cuda(count),
        out: out_dir("no-device"),
        ..Args::default()
    };
    match train::run(&args, false) {
        Err(train::RunError::Usage(msg)) => {
            assert!(msg.contains(&format!("--device cuda:{count}")), "{msg}");
            if count == 0 {
                assert!(msg.contains("CUDA is not available"), "{msg}");
            }
        }
        Err(train::RunError::Failed(e)) => panic!("expected a usage error, got {e}"),
        Ok(_) => panic!("trained on a device that does not exist"),
    }
}

/// The network trained for 60 steps of 32 images (1,920 images of the embedded training set),
/// then evaluated on the first 1,000 embedded test images. Chance is 10 %; the untrained
/// network is near it (checked), the trained one far above.
///
/// Kept short for a debug build (workspace crates at opt-level 0: about 0.35 s a step, Adam's
/// update a quarter of it, so 20-30 s in all).
#[test]
fn trains_to_high_accuracy_on_embedded_mnist() {
    use tiny_torch::Cpu;
    use tiny_torch::data::datasets::Mnist;
    use tiny_torch::data::transforms::{Compose, Normalize, ToTensor};
    use tiny_torch::data::{DataLoader, Dataset, DefaultCollate, Subset};
    use tiny_torch::nn::Module;
    let _turn = training_lock();

    // An untrained network (the same initialisation as the run below), in eval mode, on the
    // first 500 test images.
    tiny_torch::manual_seed(1);
    let untrained = model::Net::new(&Cpu).unwrap();
    let transform = Compose::new()
        .then(ToTensor)
        .then(Normalize::new(&[Mnist::MEAN], &[Mnist::STD]).unwrap());
    let test_head = Subset::new(Mnist::embedded(false).unwrap(), (0..500).collect());
    let loader = DataLoader::builder(test_head.with_transform(transform))
        .batch_size(250)
        .build(DefaultCollate::new(Cpu))
        .unwrap();
    let (_, before) = train::evaluate(&untrained, &loader, &Cpu).unwrap();
    assert!(before < 0.3, "an untrained network scored {before}");

    let dir = out_dir("train");
    let args = Args {
        epochs: 1,
        batch_size: 32,
        limit_steps: Some(STEPS),
        limit_test: Some(1000),
        out: dir.clone(),
        log_interval: 20,
        ..Args::default()
    };
    let start = std::time::Instant::now();
    let summary = train::run(&args, false).unwrap();
    eprintln!(
        "{STEPS} steps of batch 32: test accuracy {:.2}% (untrained {:.2}%), {:.1} s of \
         training, {:.1} s in all",
        100.0 * summary.test_acc,
        100.0 * before,
        summary.seconds,
        start.elapsed().as_secs_f64()
    );
    assert!(
        summary.test_acc > BAR,
        "test accuracy {} after {STEPS} steps, expected more than {BAR}",
        summary.test_acc
    );

    // The outputs exist and are well-formed.
    let csv = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    let rows = metrics::from_csv(&csv).unwrap();
    assert_eq!(rows.len(), STEPS / 20 + 1, "{csv}");
    let last = rows.last().unwrap();
    assert_eq!((last.epoch, last.step), (1, STEPS));
    assert_eq!(
        last.test,
        Some(round6((summary.test_loss, summary.test_acc)))
    );
    // The training loss falls: the last interval's mean is well below the first's.
    assert!(
        rows[rows.len() - 2].train_loss < 0.5 * rows[0].train_loss,
        "{csv}"
    );
    let png = std::fs::read(dir.join("curves.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    // model.safetensors loads into a fresh network under PyTorch's names (strict), and holds
    // the checkpoint's weights.
    let fresh = model::Net::new(&Cpu).unwrap();
    tiny_torch::nn::checkpoint::load(&fresh, dir.join("model.safetensors"), true).unwrap();
    let state = checkpoint::load(&dir.join("checkpoint.safetensors"), &Cpu).unwrap();
    let names: Vec<String> = fresh.state_dict().into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        names,
        [
            "conv1.weight",
            "conv1.bias",
            "conv2.weight",
            "conv2.bias",
            "fc1.weight",
            "fc1.bias",
            "fc2.weight",
            "fc2.bias"
        ]
    );
    for (name, t) in fresh.state_dict() {
        let saved = &state.model.iter().find(|(k, _)| *k == name).unwrap().1;
        assert_eq!(
            t.to_vec::<f32>().unwrap(),
            saved.to_vec::<f32>().unwrap(),
            "{name}"
        );
    }
    assert_eq!((state.epoch, state.step), (1, STEPS));
}

const STEPS: usize = 60;
const BAR: f64 = 0.80;

fn round6((l, a): (f64, f64)) -> (f64, f64) {
    let r = |x: f64| format!("{x:.6}").parse().unwrap();
    (r(l), r(a))
}

/// Two epochs in one run, and one epoch then `--resume` for the second: the same weights, bit
/// for bit (Adam's state, the StepLR schedule, the dropout generator and the shuffling all
/// continue), and the same metrics.
#[test]
fn resume_continues_exactly() {
    let _turn = training_lock();
    let base = Args {
        epochs: 2,
        batch_size: 16,
        limit_steps: Some(6),
        limit_test: Some(256),
        test_batch_size: 128,
        log_interval: 3,
        seed: 3,
        ..Args::default()
    };
    let straight = out_dir("straight");
    train::run(
        &Args {
            out: straight.clone(),
            ..base.clone()
        },
        false,
    )
    .unwrap();
    let resumed = out_dir("resumed");
    let first = Args {
        out: resumed.clone(),
        epochs: 1,
        ..base.clone()
    };
    train::run(&first, false).unwrap();
    // A resume with a different batch size is refused: it could not continue exactly.
    let wrong = Args {
        resume: true,
        batch_size: 32,
        ..first.clone()
    };
    match train::run(&wrong, false) {
        Err(train::RunError::Usage(msg)) => assert!(msg.contains("batch_size"), "{msg}"),
        other => panic!("expected a usage error, got {:?}", other.map(|s| s.epochs)),
    }
    train::run(
        &Args {
            resume: true,
            epochs: 2,
            ..first
        },
        false,
    )
    .unwrap();
    let a = std::fs::read(straight.join("model.safetensors")).unwrap();
    let b = std::fs::read(resumed.join("model.safetensors")).unwrap();
    assert!(a == b, "the resumed run's weights differ");
    let ca = std::fs::read(straight.join("checkpoint.safetensors")).unwrap();
    let cb = std::fs::read(resumed.join("checkpoint.safetensors")).unwrap();
    // Everything but the training time (metadata "seconds") is the same.
    let (sa, sb) = (strip_seconds(&ca), strip_seconds(&cb));
    assert!(sa == sb, "the checkpoints differ");
    // The metrics too, but for the timings.
    let rows = |d: &PathBuf| -> Vec<metrics::Row> {
        metrics::from_csv(&std::fs::read_to_string(d.join("metrics.csv")).unwrap())
            .unwrap()
            .into_iter()
            .map(|r| metrics::Row {
                images_per_s: 0.0,
                seconds: 0.0,
                ..r
            })
            .collect()
    };
    assert_eq!(rows(&straight), rows(&resumed));
    assert_eq!(rows(&straight).len(), 6);

    // Without a checkpoint, --resume is a usage error.
    let none = Args {
        resume: true,
        out: out_dir("nothing-to-resume"),
        ..base
    };
    assert!(matches!(
        train::run(&none, false),
        Err(train::RunError::Usage(_))
    ));
}

/// The checkpoint's tensors and metadata without the `seconds` entry.
type Named<T> = Vec<(String, T)>;

fn strip_seconds(bytes: &[u8]) -> (Named<Vec<u8>>, Named<String>) {
    let (_, header) = safetensors::SafeTensors::read_metadata(bytes).unwrap();
    let file = safetensors::SafeTensors::deserialize(bytes).unwrap();
    let mut tensors: Named<Vec<u8>> = file
        .tensors()
        .into_iter()
        .map(|(k, v)| (k, v.data().to_vec()))
        .collect();
    tensors.sort();
    let mut meta: Named<String> = header
        .metadata()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| k != "seconds")
        .collect();
    meta.sort();
    (tensors, meta)
}

#[test]
fn checkpoint_json_round_trips_exactly() {
    let mut map = std::collections::BTreeMap::new();
    map.insert("lr".to_string(), Value::Float(0.001 * 0.7 * 0.7 * 0.7));
    map.insert("eps".to_string(), Value::Float(1e-8));
    map.insert("one".to_string(), Value::Float(1.0));
    map.insert("tiny".to_string(), Value::Float(f64::MIN_POSITIVE / 3.0));
    map.insert("step_size".to_string(), Value::Int(-3));
    map.insert("nan".to_string(), Value::Float(f64::INFINITY));
    map.insert("amsgrad".to_string(), Value::Bool(false));
    map.insert("none".to_string(), Value::Null);
    map.insert(
        "name \"quoted\"\n".to_string(),
        Value::Str("StepLR \\ é".into()),
    );
    map.insert(
        "betas".to_string(),
        Value::List(vec![
            Value::Float(0.9),
            Value::Float(0.999),
            Value::List(vec![]),
        ]),
    );
    let value = Value::List(vec![Value::Map(map), Value::Map(Default::default())]);
    let text = checkpoint::to_json(&value);
    assert_eq!(checkpoint::from_json(&text).unwrap(), value, "{text}");
    assert!(checkpoint::from_json("[1,").is_err());
    assert!(checkpoint::from_json("{\"a\":1} x").is_err());
}
