//! The training run: data, model, optimizer, the loop, evaluation, metrics and checkpoints.
//! Generic over the backend; [`run`] matches `--device` once and calls [`train`] with it.

use crate::checkpoint::{self, TrainState};
use crate::cli::{Args, DeviceArg};
use crate::metrics::{self, Row};
use crate::model::Net;
use crate::progress::{Progress, Stats};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tiny_torch::data::datasets::Mnist;
use tiny_torch::data::transforms::{Compose, Normalize, ToTensor};
use tiny_torch::data::{DataLoader, Dataset, DefaultCollate, Subset};
use tiny_torch::nn::functional::{CrossEntropyOptions, Reduction};
use tiny_torch::optim::{Adam, AdamOptions, LrScheduler, StepLR};
use tiny_torch::prelude::*;
use tiny_torch::{Backend, default_generator};

/// Why a run did not finish.
#[derive(Debug)]
pub enum RunError {
    /// A device that is not there, or a `--resume` that does not fit the checkpoint: the
    /// command line is at fault (exit code 2).
    Usage(String),
    /// Anything else (exit code 1).
    Failed(Error),
}

impl From<Error> for RunError {
    fn from(e: Error) -> Self {
        RunError::Failed(e)
    }
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Usage(msg) => write!(f, "{msg}"),
            RunError::Failed(e) => write!(f, "{e}"),
        }
    }
}

/// What a finished run reports (the tests read it; the example prints it).
#[allow(dead_code)]
#[derive(Clone, Debug)]
pub struct Summary {
    /// Epochs completed, counting those of the run resumed from.
    pub epochs: usize,
    pub test_loss: f64,
    pub test_acc: f64,
    /// Training throughput of the last epoch.
    pub images_per_s: f64,
    /// Training time of the whole run (resumed runs included).
    pub seconds: f64,
}

/// Trains on the device `args.device` names. `progress`: draw the progress bar on stderr.
pub fn run(args: &Args, progress: bool) -> std::result::Result<Summary, RunError> {
    match args.device {
        DeviceArg::Cpu => train(args, Cpu, progress),
        DeviceArg::Cuda(n) => run_cuda(args, n, progress),
        DeviceArg::Wgpu(n) => run_wgpu(args, n, progress),
    }
}

#[cfg(feature = "wgpu")]
fn run_wgpu(args: &Args, n: usize, progress: bool) -> std::result::Result<Summary, RunError> {
    let device = tiny_torch::Wgpu::new(n)
        .map_err(|e| RunError::Usage(format!("--device wgpu:{n} cannot be opened: {e}")))?;
    train(args, device, progress)
}

#[cfg(not(feature = "wgpu"))]
fn run_wgpu(args: &Args, _n: usize, _progress: bool) -> std::result::Result<Summary, RunError> {
    Err(RunError::Usage(format!(
        "--device {}: this build has no wgpu backend (the `wgpu` feature is off)",
        args.device
    )))
}

#[cfg(feature = "cuda")]
fn run_cuda(args: &Args, n: usize, progress: bool) -> std::result::Result<Summary, RunError> {
    let count = tiny_torch::cuda::device_count();
    if count == 0 {
        return Err(RunError::Usage(format!(
            "--device {}: CUDA is not available here (no NVIDIA driver or no GPU found); \
             use --device cpu",
            args.device
        )));
    }
    if n >= count {
        return Err(RunError::Usage(format!(
            "--device cuda:{n}: this machine has {count} CUDA device(s), cuda:0 to cuda:{}",
            count - 1
        )));
    }
    let device = Cuda::new(n)
        .map_err(|e| RunError::Usage(format!("--device cuda:{n} cannot be opened: {e}")))?;
    train(args, device, progress)
}

#[cfg(not(feature = "cuda"))]
fn run_cuda(args: &Args, _n: usize, _progress: bool) -> std::result::Result<Summary, RunError> {
    Err(RunError::Usage(format!(
        "--device {}: this build has no CUDA backend (the `cuda` feature is off)",
        args.device
    )))
}

/// The training and test sets, a description, and the normalization constants.
fn datasets(data: Option<&Path>) -> Result<(Mnist, Mnist, String, f32, f32)> {
    Ok(match data {
        None => {
            let (train, test) = (Mnist::embedded(true)?, Mnist::embedded(false)?);
            let name = format!(
                "the embedded MNIST subset ({} training, {} test images)",
                train.len(),
                test.len()
            );
            (train, test, name, Mnist::MEAN, Mnist::STD)
        }
        Some(dir) => {
            // Fashion-MNIST has MNIST's file names; only its folder name tells them apart. Its
            // pixels' mean and standard deviation differ (0.2860, 0.3530).
            let fashion = dir.to_string_lossy().to_lowercase().contains("fashion");
            let (train, test, kind, mean, std) = if fashion {
                let (tr, te) = (Mnist::fashion(dir, true)?, Mnist::fashion(dir, false)?);
                (tr, te, "Fashion-MNIST", 0.2860, 0.3530)
            } else {
                let (tr, te) = (Mnist::new(dir, true)?, Mnist::new(dir, false)?);
                (tr, te, "MNIST", Mnist::MEAN, Mnist::STD)
            };
            let name = format!(
                "{kind} from {} ({} training, {} test images)",
                dir.display(),
                train.len(),
                test.len()
            );
            (train, test, name, mean, std)
        }
    })
}

fn transform(mean: f32, std: f32) -> Result<Compose> {
    Ok(Compose::new()
        .then(ToTensor)
        .then(Normalize::new(&[mean], &[std])?))
}

/// `(test loss, test accuracy)`: the mean nll loss and the fraction right, in eval mode.
pub fn evaluate<B: Backend, D>(
    model: &Net<B>,
    loader: &DataLoader<D, DefaultCollate<Cpu>>,
    backend: &B,
) -> Result<(f64, f64)>
where
    D: Dataset<Item = (tiny_torch::data::Image, i64)> + 'static,
{
    model.eval();
    let _no_grad = no_grad();
    let sum = CrossEntropyOptions {
        reduction: Reduction::Sum,
        ..Default::default()
    };
    let (mut loss, mut correct, mut n) = (0.0f64, 0i64, 0usize);
    for batch in loader.iter_epoch(0) {
        let (images, labels) = batch?;
        let (x, y) = (images.to_device(backend)?, labels.to_device(backend)?);
        let out = model.forward(&x)?;
        loss += F::nll_loss_with(&out, &y, &sum)?
            .to_dtype(DType::F64)?
            .item::<f64>()?;
        correct += out.argmax(Some(1), false)?.eq(&y)?.sum()?.item::<i64>()?;
        n += y.dims()[0];
    }
    model.train();
    Ok((loss / n.max(1) as f64, correct as f64 / n.max(1) as f64))
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Time spent in each part of a training step, for `--profile`.
#[derive(Default)]
struct Profile {
    data: Duration,
    forward: Duration,
    backward: Duration,
    step: Duration,
    metrics: Duration,
}

/// Running sums over a stretch of steps.
#[derive(Default)]
struct Window {
    loss: f64,
    correct: i64,
    images: usize,
    steps: usize,
    seconds: f64,
}

/// The whole run on `backend`.
pub fn train<B: Backend>(
    args: &Args,
    backend: B,
    progress: bool,
) -> std::result::Result<Summary, RunError> {
    let out_dir = &args.out;
    let ckpt_path = out_dir.join("checkpoint.safetensors");
    let csv_path = out_dir.join("metrics.csv");
    let png_path = out_dir.join("curves.png");
    let weights_path = out_dir.join("model.safetensors");

    manual_seed(args.seed);
    let (train_set, test_set, data_name, mean, std) = datasets(args.data.as_deref())?;
    let train_loader = DataLoader::builder(train_set.with_transform(transform(mean, std)?))
        .batch_size(args.batch_size)
        .shuffle(true)
        .seed(args.seed)
        .num_workers(args.workers)
        .build(DefaultCollate::new(Cpu))?;
    let test_set_len = test_set.len();
    let test_count = args
        .limit_test
        .map_or(test_set.len(), |n| n.min(test_set.len()));
    let test_set = Subset::new(test_set, (0..test_count).collect());
    // Seeded too (it draws nothing from it): an unseeded loader would draw its seed from the
    // default generator, and the model's initialization below would move.
    let test_loader = DataLoader::builder(test_set.with_transform(transform(mean, std)?))
        .batch_size(args.test_batch_size)
        .seed(args.seed)
        .num_workers(args.workers)
        .build(DefaultCollate::new(Cpu))?;

    let model = Net::new(&backend)?;
    model.train();
    let mut opt = Adam::new(
        model.parameters(),
        AdamOptions {
            lr: args.lr,
            ..Default::default()
        },
    )?;
    let mut sched = StepLR::new(&mut opt, 1, args.gamma)?;

    // What a resumed run must share with the checkpoint for the continuation to be exact.
    let data_key = match &args.data {
        None => "embedded".to_string(),
        Some(d) => d.display().to_string(),
    };
    let limit = args
        .limit_steps
        .map_or_else(|| "none".to_string(), |n| n.to_string());
    let run_keys: Vec<(String, String)> = vec![
        ("batch_size".into(), args.batch_size.to_string()),
        ("data".into(), data_key),
        ("limit_steps".into(), limit),
        ("seed".into(), args.seed.to_string()),
    ];

    let (mut epoch_done, mut global_step, mut seconds, mut rows) = (0usize, 0usize, 0.0f64, vec![]);
    if args.resume {
        if !ckpt_path.is_file() {
            return Err(RunError::Usage(format!(
                "--resume: there is no checkpoint at {} (train without --resume first, or \
                 give the --out folder of that run)",
                ckpt_path.display()
            )));
        }
        let state = checkpoint::load(&ckpt_path, &backend)?;
        for (key, value) in &run_keys {
            let saved = state.run.iter().find(|(k, _)| k == key).map(|(_, v)| v);
            if saved != Some(value) {
                return Err(RunError::Usage(format!(
                    "--resume: the checkpoint {} was made with {key} = {}, this run has {value}; \
                     an exact continuation needs the same {key}",
                    ckpt_path.display(),
                    saved.map_or("(none)", |s| s.as_str()),
                )));
            }
        }
        model
            .load_state_dict(&state.model, true)
            .map_err(|e| Error::file(&ckpt_path, e.to_string()))?;
        // As in torch: the scheduler exists, then the optimizer's state (with its lrs) is
        // loaded, then the scheduler's.
        opt.load_state_dict(&state.optimizer)
            .map_err(|e| Error::file(&ckpt_path, e.to_string()))?;
        sched
            .load_state_dict(&state.scheduler)
            .map_err(|e| Error::file(&ckpt_path, e.to_string()))?;
        default_generator().set_state(state.rng);
        epoch_done = state.epoch;
        global_step = state.step;
        seconds = state.seconds;
        // The metrics of the epochs the checkpoint holds (not those of an epoch that was
        // interrupted after it).
        if let Ok(text) = std::fs::read_to_string(&csv_path) {
            rows = metrics::from_csv(&text)
                .map_err(|e| Error::file(&csv_path, e))?
                .into_iter()
                .filter(|r: &Row| r.epoch <= epoch_done)
                .collect();
        }
    }

    println!(
        "Tiny-Torch MNIST: PyTorch's examples/mnist CNN ({} parameters) on {}",
        model.num_parameters(),
        args.device
    );
    println!("data: {data_name}");
    if test_count < test_set_len {
        println!("evaluating on the first {test_count} test images only (--limit-test)");
    }
    println!(
        "Adam (lr {}), StepLR (gamma {} per epoch), batch {}, seed {}, {}{}; output in {}",
        args.lr,
        args.gamma,
        args.batch_size,
        args.seed,
        plural(args.epochs, "epoch"),
        args.limit_steps
            .map_or(String::new(), |n| format!(" of at most {n} steps")),
        out_dir.display()
    );
    if args.resume {
        println!(
            "resumed from {} after epoch {epoch_done} (step {global_step})",
            ckpt_path.display()
        );
    }

    std::fs::create_dir_all(out_dir)
        .map_err(|e| Error::file(out_dir, format!("cannot create the folder: {e}")))?;
    let profile_on = std::env::var_os("MNIST_PROFILE").is_some();
    let steps_per_epoch = args
        .limit_steps
        .map_or(train_loader.len(), |n| n.min(train_loader.len()));
    let mut summary = None;
    for epoch in epoch_done + 1..=args.epochs {
        let mut bar = Progress::new(
            format!("epoch {epoch}/{}", args.epochs),
            steps_per_epoch,
            progress,
        );
        let mut prof = Profile::default();
        let (mut total, mut window) = (Window::default(), Window::default());
        let epoch_start = Instant::now();
        let mut mark = Instant::now();
        let mut stats = Stats {
            step: 0,
            loss: 0.0,
            accuracy: 0.0,
            images_per_s: 0.0,
            eta: Duration::ZERO,
        };
        let mut batches = train_loader.iter_epoch((epoch - 1) as u64);
        for step in 1..=steps_per_epoch {
            let t0 = Instant::now();
            let Some(batch) = batches.next() else { break };
            let (images, labels) = batch?;
            let (x, y) = (images.to_device(&backend)?, labels.to_device(&backend)?);
            let t1 = Instant::now();
            opt.zero_grad();
            let out = model.forward(&x)?;
            let loss = F::nll_loss(&out, &y)?;
            let t2 = Instant::now();
            loss.backward()?;
            let t3 = Instant::now();
            opt.step()?;
            let t4 = Instant::now();
            let loss = loss.item::<f32>()? as f64;
            let correct = out
                .detach()
                .argmax(Some(1), false)?
                .eq(&y)?
                .sum()?
                .item::<i64>()?;
            let t5 = Instant::now();
            if profile_on {
                prof.data += t1 - t0;
                prof.forward += t2 - t1;
                prof.backward += t3 - t2;
                prof.step += t4 - t3;
                prof.metrics += t5 - t4;
            }
            global_step += 1;
            let n = y.dims()[0];
            let dt = mark.elapsed().as_secs_f64();
            mark = Instant::now();
            for w in [&mut total, &mut window] {
                w.loss += loss * n as f64;
                w.correct += correct;
                w.images += n;
                w.steps += 1;
                w.seconds += dt;
            }
            let elapsed = epoch_start.elapsed().as_secs_f64();
            stats = Stats {
                step,
                loss: total.loss / total.images as f64,
                accuracy: total.correct as f64 / total.images as f64,
                images_per_s: total.images as f64 / total.seconds.max(1e-9),
                eta: Duration::from_secs_f64(
                    elapsed / step as f64 * (steps_per_epoch - step) as f64,
                ),
            };
            bar.update(&stats);
            if window.steps == args.log_interval {
                rows.push(Row {
                    epoch,
                    step: global_step,
                    train_loss: window.loss / window.images as f64,
                    train_acc: window.correct as f64 / window.images as f64,
                    test: None,
                    images_per_s: window.images as f64 / window.seconds.max(1e-9),
                    seconds: seconds + total.seconds,
                });
                window = Window::default();
            }
        }
        drop(batches);
        bar.finish(&stats);
        seconds += total.seconds;
        let images_per_s = total.images as f64 / total.seconds.max(1e-9);

        sched.step(&mut opt)?;
        let eval_start = Instant::now();
        let (test_loss, test_acc) = evaluate(&model, &test_loader, &backend)?;
        let eval_s = eval_start.elapsed().as_secs_f64();
        println!(
            "epoch {epoch}/{}: train loss {:.4} acc {:.2}% | test loss {:.4} acc {:.2}% | \
             {images_per_s:.0} img/s, {:.1} s (+{eval_s:.1} s test)",
            args.epochs,
            total.loss / total.images.max(1) as f64,
            100.0 * total.correct as f64 / total.images.max(1) as f64,
            test_loss,
            100.0 * test_acc,
            total.seconds,
        );
        if profile_on {
            let ms = |d: Duration| 1e3 * d.as_secs_f64() / total.steps.max(1) as f64;
            println!(
                "  per step: data {:.1} ms, forward {:.1} ms, backward {:.1} ms, \
                 optimizer {:.1} ms, metrics {:.1} ms",
                ms(prof.data),
                ms(prof.forward),
                ms(prof.backward),
                ms(prof.step),
                ms(prof.metrics)
            );
        }
        rows.push(Row {
            epoch,
            step: global_step,
            train_loss: total.loss / total.images.max(1) as f64,
            train_acc: total.correct as f64 / total.images.max(1) as f64,
            test: Some((test_loss, test_acc)),
            images_per_s,
            seconds,
        });

        // The checkpoint first (the state after this epoch), then what is derived from it.
        let state = TrainState {
            model: model.state_dict(),
            optimizer: opt.state_dict()?,
            scheduler: sched.state_dict(),
            epoch,
            step: global_step,
            seconds,
            rng: default_generator().state(),
            run: run_keys.clone(),
        };
        checkpoint::save(&state, &ckpt_path)?;
        tiny_torch::nn::checkpoint::save(&model, &weights_path)?;
        metrics::write_csv(&rows, &csv_path)?;
        let title = format!("Tiny-Torch MNIST CNN: {data_name}");
        if let Err(e) = metrics::plot(&rows, &title, &png_path) {
            eprintln!("warning: {e}");
        }
        summary = Some(Summary {
            epochs: epoch,
            test_loss,
            test_acc,
            images_per_s,
            seconds,
        });
    }

    let summary = match summary {
        Some(s) => s,
        None => {
            // Nothing left to train: report the checkpoint's model.
            println!(
                "the checkpoint already has {} (--epochs {}): nothing to train",
                plural(epoch_done, "epoch"),
                args.epochs
            );
            let (test_loss, test_acc) = evaluate(&model, &test_loader, &backend)?;
            println!(
                "test accuracy {:.2}% after {} (the model in {})",
                100.0 * test_acc,
                plural(epoch_done, "epoch"),
                ckpt_path.display()
            );
            return Ok(Summary {
                epochs: epoch_done,
                test_loss,
                test_acc,
                images_per_s: 0.0,
                seconds,
            });
        }
    };
    let show = |p: PathBuf| p.display().to_string();
    println!(
        "test accuracy {:.2}% after {} ({:.1} s of training); wrote {}, {}, {} and {}",
        100.0 * summary.test_acc,
        plural(summary.epochs, "epoch"),
        summary.seconds,
        show(csv_path),
        show(png_path),
        show(ckpt_path),
        show(weights_path),
    );
    Ok(summary)
}
