//! The flags of `examples/mnist.rs`, parsed by hand (no argument-parsing crate to compile).
//!
//! `parse` never exits or prints: it returns the parsed flags, `Parsed::Help`, or a message for
//! a bad command line, which `main` prints with the usage and exit code 2. `tests/mnist_train.rs`
//! includes this file to check that bad flags are rejected.

use std::fmt;
use std::path::PathBuf;

/// What `--help` prints.
pub const USAGE: &str = "\
Train PyTorch's examples/mnist CNN (conv 1->32 k3, conv 32->64 k3, max-pool 2, dropout 0.25,
fc 9216->128, dropout 0.5, fc 128->10, log_softmax + nll loss) with Adam and StepLR.

Usage: cargo run --release --example mnist -- [OPTIONS]

Options:
  --epochs N             epochs to train (default 3)
  --batch-size N         training batch size (default 64)
  --test-batch-size N    evaluation batch size (default 1000)
  --lr LR                Adam's learning rate (default 0.002)
  --gamma G              StepLR: the lr is multiplied by G after each epoch (default 0.5)
  --seed S               seed of the weights, dropout masks and shuffling (default 1)
  --device DEV           cpu, cuda, cuda:N, wgpu or wgpu:N (default cpu)
  --data DIR             a folder with the MNIST / Fashion-MNIST IDX files (train-images-idx3-ubyte
                         etc., raw or .gz); default: the 10,000 + 2,000 real MNIST images
                         embedded in Tiny-Torch
  --out DIR              where metrics.csv, curves.png and the checkpoints go (default runs/mnist)
  --resume               continue from DIR/checkpoint.safetensors (same seed, batch size, data)
  --limit-steps N        at most N training steps per epoch (for quick tests)
  --limit-test N         evaluate on the first N test images only (for quick tests)
  --workers N            data-loading threads (default 1; 0 loads on the training thread)
  --log-interval N       a metrics.csv row every N steps (default 20)
  -h, --help             print this help";

/// `--device`: the backend to train on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceArg {
    Cpu,
    /// `cuda` (ordinal 0) or `cuda:N`.
    Cuda(usize),
    /// `wgpu` (adapter 0) or `wgpu:N`.
    Wgpu(usize),
}

impl DeviceArg {
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("--device: expected cpu, cuda, cuda:N, wgpu or wgpu:N, got {s:?}");
        match s {
            "cpu" => Ok(DeviceArg::Cpu),
            "cuda" => Ok(DeviceArg::Cuda(0)),
            "wgpu" => Ok(DeviceArg::Wgpu(0)),
            _ => {
                if let Some(n) = s.strip_prefix("wgpu:") {
                    return n.parse().map(DeviceArg::Wgpu).map_err(|_| bad());
                }
                let n = s.strip_prefix("cuda:").ok_or_else(bad)?;
                n.parse().map(DeviceArg::Cuda).map_err(|_| bad())
            }
        }
    }
}

impl fmt::Display for DeviceArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceArg::Cpu => write!(f, "cpu"),
            DeviceArg::Cuda(n) => write!(f, "cuda:{n}"),
            DeviceArg::Wgpu(n) => write!(f, "wgpu:{n}"),
        }
    }
}

/// The parsed flags.
#[derive(Clone, Debug, PartialEq)]
pub struct Args {
    pub epochs: usize,
    pub batch_size: usize,
    pub test_batch_size: usize,
    pub lr: f64,
    pub gamma: f64,
    pub seed: u64,
    pub device: DeviceArg,
    /// `None`: the embedded set.
    pub data: Option<PathBuf>,
    pub out: PathBuf,
    pub resume: bool,
    pub limit_steps: Option<usize>,
    /// Evaluate on the first N test images.
    pub limit_test: Option<usize>,
    pub workers: usize,
    pub log_interval: usize,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            epochs: 3,
            batch_size: 64,
            test_batch_size: 1000,
            lr: 2e-3,
            gamma: 0.5,
            seed: 1,
            device: DeviceArg::Cpu,
            data: None,
            out: PathBuf::from("runs/mnist"),
            resume: false,
            limit_steps: None,
            limit_test: None,
            workers: 1,
            log_interval: 20,
        }
    }
}

/// The outcome of [`parse`].
#[derive(Clone, Debug, PartialEq)]
pub enum Parsed {
    Run(Args),
    Help,
}

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{flag}: expected a number, got {value:?}"))
}

fn positive(flag: &str, value: &str) -> Result<usize, String> {
    match number::<usize>(flag, value)? {
        0 => Err(format!("{flag} must be at least 1")),
        n => Ok(n),
    }
}

/// Parses the arguments after the program name. Flags take their value as the next argument
/// or after `=` (`--epochs 5`, `--epochs=5`).
pub fn parse<I, S>(args: I) -> Result<Parsed, String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut out = Args::default();
    let mut args = args.into_iter().map(Into::into);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        // Flags without a value.
        match flag.as_str() {
            "-h" | "--help" => return Ok(Parsed::Help),
            "--resume" => {
                if inline.is_some() {
                    return Err("--resume takes no value".into());
                }
                out.resume = true;
                continue;
            }
            _ => {}
        }
        let known = [
            "--epochs",
            "--batch-size",
            "--test-batch-size",
            "--lr",
            "--gamma",
            "--seed",
            "--device",
            "--data",
            "--out",
            "--limit-steps",
            "--limit-test",
            "--workers",
            "--log-interval",
        ];
        if !known.contains(&flag.as_str()) {
            return Err(if flag.starts_with('-') {
                format!("unknown flag {flag}")
            } else {
                format!("unexpected argument {flag:?}")
            });
        }
        let value = match inline {
            Some(v) => v,
            None => args.next().ok_or_else(|| format!("{flag} needs a value"))?,
        };
        match flag.as_str() {
            "--epochs" => out.epochs = positive(&flag, &value)?,
            "--batch-size" => out.batch_size = positive(&flag, &value)?,
            "--test-batch-size" => out.test_batch_size = positive(&flag, &value)?,
            "--lr" => {
                out.lr = number(&flag, &value)?;
                if !(out.lr.is_finite() && out.lr > 0.0) {
                    return Err(format!("--lr must be a positive number, got {value}"));
                }
            }
            "--gamma" => {
                out.gamma = number(&flag, &value)?;
                if !(out.gamma.is_finite() && out.gamma > 0.0) {
                    return Err(format!("--gamma must be a positive number, got {value}"));
                }
            }
            "--seed" => out.seed = number(&flag, &value)?,
            "--device" => out.device = DeviceArg::parse(&value)?,
            "--data" => out.data = Some(PathBuf::from(value)),
            "--out" => out.out = PathBuf::from(value),
            "--limit-steps" => out.limit_steps = Some(positive(&flag, &value)?),
            "--limit-test" => out.limit_test = Some(positive(&flag, &value)?),
            "--workers" => out.workers = number(&flag, &value)?,
            "--log-interval" => out.log_interval = positive(&flag, &value)?,
            _ => unreachable!("every known flag is handled"),
        }
    }
    Ok(Parsed::Run(out))
}
