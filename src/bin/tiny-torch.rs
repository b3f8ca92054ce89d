//! The `tiny-torch` command.
//!
//! ```text
//! tiny-torch env
//! tiny-torch conformance --golden DIR [--device cpu|wgpu[:N]|cuda[:N]]
//! tiny-torch run --nproc-per-node N [--nnodes M --node-rank R --master-addr A --master-port P] -- PROGRAM ARGS
//! tiny-torch --version | --help
//! ```
//!
//! Exit codes: 0 success, 1 some conformance case failed, 2 the command could not run (bad
//! arguments, a device that is unknown or not compiled in, an unreadable golden directory).

use std::path::PathBuf;
use std::process::ExitCode;
use tiny_torch::Device;
use tiny_torch::conformance::{Golden, Report};

const USAGE: &str = "\
Usage:
  tiny-torch env
  tiny-torch conformance --golden DIR [--device DEVICE]
  tiny-torch run [--nproc-per-node N ...] -- PROGRAM [ARGS...]
  tiny-torch --version
  tiny-torch --help

Commands:
  env           the backends compiled in, the devices they find, the versions of the libraries
                loaded at run time (CUDA driver, NVRTC, cuBLAS, cuDNN, NCCL, Vulkan adapters)
                and why a backend cannot run here
  conformance   run PyTorch's golden cases (DIR/ops.json + DIR/ops.safetensors) on a device
                and print a per-op table; exits 1 if any case failed
  run           start PROGRAM once per rank with the torchrun variables set (like torchrun);
                `tiny-torch run --help` lists its options; exits 1 if a rank failed

Options:
  --golden DIR      golden directory (e.g. tests/data/golden)
  --device DEVICE   cpu (default), cuda, cuda:N, wgpu or wgpu:N
  -h, --help        print this help
  -V, --version     print the version
";

/// Exit code of a command that could not run.
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    // Arguments that are not UTF-8 (possible in Linux paths) are a usage error, not a panic.
    let args: Vec<String> = match std::env::args_os()
        .skip(1)
        .map(|a| a.into_string())
        .collect()
    {
        Ok(args) => args,
        Err(bad) => return usage_error(&format!("argument {bad:?} is not valid UTF-8")),
    };
    match args.first().map(String::as_str) {
        None => usage_error("no command given"),
        Some("-h" | "--help" | "help") => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some("-V" | "--version") => {
            println!("tiny-torch {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Some("env") if args.len() == 1 => {
            print!("{}", tiny_torch::collect_env::report());
            ExitCode::SUCCESS
        }
        Some("env") => usage_error("env takes no arguments"),
        Some("conformance") => conformance(&args[1..]),
        Some("run") => run(&args[1..]),
        Some(other) => usage_error(&format!("unknown command '{other}'")),
    }
}

/// `tiny-torch run`: the launcher (tiny_torch::distributed::launch).
fn run(args: &[String]) -> ExitCode {
    use tiny_torch::distributed::launch;
    if args.first().is_some_and(|a| a == "--help" || a == "-h") {
        print!("{}", launch::USAGE);
        return ExitCode::SUCCESS;
    }
    let config = match launch::LaunchConfig::from_args(args) {
        Ok(config) => config,
        Err(e) => return fatal(&format!("{e}\n\n{}", launch::USAGE)),
    };
    match launch::launch(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage_error(msg: &str) -> ExitCode {
    eprintln!("error: {msg}\n\n{USAGE}");
    ExitCode::from(EXIT_USAGE)
}

fn fatal(msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(EXIT_USAGE)
}

fn conformance(args: &[String]) -> ExitCode {
    let mut golden: Option<PathBuf> = None;
    let mut device = String::from("cpu");
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        // Accept both `--opt value` and `--opt=value`.
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = |name: &str| {
            // A following option is not a value (`--golden --device cpu`).
            inline
                .clone()
                .or_else(|| iter.next().filter(|v| !v.starts_with("--")).cloned())
                .ok_or_else(|| name.to_string())
        };
        match name {
            "-h" | "--help" => {
                print!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            "--golden" => match value(name) {
                Ok(v) => golden = Some(PathBuf::from(v)),
                Err(n) => return usage_error(&format!("{n} needs a value")),
            },
            "--device" => match value(name) {
                Ok(v) => device = v,
                Err(n) => return usage_error(&format!("{n} needs a value")),
            },
            other => return usage_error(&format!("unexpected argument '{other}'")),
        }
    }
    let Some(golden_dir) = golden else {
        return usage_error("conformance needs --golden DIR");
    };
    let device = match parse_device(&device) {
        Ok(d) => d,
        Err(msg) => return fatal(&msg),
    };
    // Check the device before loading, so that a wrong --device fails fast.
    if let Err(msg) = check_compiled_in(device) {
        return fatal(&msg);
    }
    let golden = match Golden::load(&golden_dir) {
        Ok(g) => g,
        Err(e) => return fatal(&e.to_string()),
    };
    let report = match run_on(device, &golden) {
        Ok(r) => r,
        Err(msg) => return fatal(&msg),
    };
    print_report(&golden, &report);
    if report.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `cpu`, `cuda`, `cuda:N`, `wgpu`, `wgpu:N`.
fn parse_device(s: &str) -> Result<Device, String> {
    let unknown = || format!("unknown device '{s}' (expected cpu, cuda, cuda:N, wgpu or wgpu:N)");
    let (kind, index) = match s.split_once(':') {
        Some((kind, index)) => (kind, Some(index.parse::<usize>().map_err(|_| unknown())?)),
        None => (s, None),
    };
    match (kind, index) {
        ("cpu", None) => Ok(Device::Cpu),
        ("cuda", i) => Ok(Device::Cuda(i.unwrap_or(0))),
        ("wgpu", i) => Ok(Device::Wgpu(i.unwrap_or(0))),
        _ => Err(unknown()),
    }
}

/// Errors when the backend of `device` is not part of this build.
fn check_compiled_in(device: Device) -> Result<(), String> {
    match device {
        #[cfg(feature = "cpu")]
        Device::Cpu => Ok(()),
        #[cfg(feature = "cuda")]
        Device::Cuda(_) => Ok(()),
        #[cfg(feature = "wgpu")]
        Device::Wgpu(_) => Ok(()),
        // Reachable when a backend's feature is off.
        #[allow(unreachable_patterns)]
        other => Err(not_compiled_in(other)),
    }
}

fn not_compiled_in(device: Device) -> String {
    let feature = match device {
        Device::Cpu => "cpu",
        Device::Cuda(_) => "cuda",
        Device::Wgpu(_) => "wgpu",
    };
    format!(
        "device '{device}' is not available: the {feature} backend is not compiled into this \
         build of tiny-torch (build it with `--features {feature}`)"
    )
}

/// Runs the golden cases on the backend of `device`.
fn run_on(device: Device, golden: &Golden) -> Result<Report, String> {
    match device {
        #[cfg(feature = "cpu")]
        Device::Cpu => Ok(tiny_torch::conformance::run(golden, &tiny_torch::Cpu)),
        #[cfg(feature = "cuda")]
        Device::Cuda(ordinal) => {
            // Checked against PyTorch's f32 CPU results: convolutions in full f32, as PyTorch's
            // own tests run them (no TF32).
            tiny_torch::cuda::set_cudnn_allow_tf32(false);
            let cuda = tiny_torch::cuda::Cuda::new(ordinal).map_err(|e| e.to_string())?;
            Ok(tiny_torch::conformance::run(golden, &cuda))
        }
        #[cfg(feature = "wgpu")]
        Device::Wgpu(index) => {
            let wgpu = tiny_torch::wgpu::Wgpu::new(index).map_err(|e| e.to_string())?;
            Ok(tiny_torch::conformance::run(golden, &wgpu))
        }
        #[allow(unreachable_patterns)]
        other => {
            let _ = golden;
            Err(not_compiled_in(other))
        }
    }
}

fn print_report(golden: &Golden, report: &Report) {
    println!(
        "tiny-torch {} conformance: {} ({} cases{}) on {}",
        env!("CARGO_PKG_VERSION"),
        golden.dir.display(),
        golden.cases.len(),
        golden
            .generator
            .as_deref()
            .map(|g| format!(", from {g}"))
            .unwrap_or_default(),
        report.device,
    );
    println!();
    print!("{}", report.table());
    let failures: Vec<_> = report.failures().collect();
    if !failures.is_empty() {
        println!();
        println!("failed cases:");
        for (case, failure) in failures {
            println!("  {} ({}): {failure}", case.name, case.op);
        }
    }
    let not_run = report.not_run_ops();
    if !not_run.is_empty() {
        println!();
        println!(
            "not run (ops unknown to this runner): {}",
            not_run.join(", ")
        );
    }
    let totals = report.totals();
    println!();
    println!(
        "{}: {} passed, {} failed, {} not run, {} unsupported, of {} cases",
        if report.is_success() { "OK" } else { "FAILED" },
        totals.passed,
        totals.failed,
        totals.not_run,
        totals.unsupported,
        totals.cases
    );
}
