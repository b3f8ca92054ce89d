//! PyTorch's examples/mnist, in Tiny-Torch: the same CNN (conv 1→32 k3, ReLU, conv 32→64 k3,
//! ReLU, max-pool 2, dropout 0.25, flatten, fc 9216→128, ReLU, dropout 0.5, fc 128→10,
//! log_softmax + nll loss), trained with Adam and a StepLR schedule, with a progress bar, a test
//! evaluation each epoch, `metrics.csv`, `curves.png` and a checkpoint each epoch (`--resume`
//! continues from it exactly).
//!
//! Run: `cargo run --release --example mnist` (the real MNIST images embedded in Tiny-Torch:
//! no download), `-- --data ../shared/data/mnist` for the full set, `-- --help` for the flags.
//! See docs/mnist.md.
//!
//! The pieces are in `examples/mnist/`: `cli.rs` (flags), `model.rs` (the network),
//! `train.rs` (the loop, generic over the backend), `checkpoint.rs`, `metrics.rs` (CSV and
//! plot), `progress.rs` (the bar).

#[path = "mnist/checkpoint.rs"]
mod checkpoint;
#[path = "mnist/cli.rs"]
mod cli;
#[path = "mnist/metrics.rs"]
mod metrics;
#[path = "mnist/model.rs"]
mod model;
#[path = "mnist/progress.rs"]
mod progress;
#[path = "mnist/train.rs"]
mod train;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args = match cli::parse(std::env::args().skip(1)) {
        Ok(cli::Parsed::Run(args)) => args,
        Ok(cli::Parsed::Help) => {
            println!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("error: {msg}\n\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    match train::run(&args, true) {
        Ok(_) => ExitCode::SUCCESS,
        Err(train::RunError::Usage(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
        Err(train::RunError::Failed(e)) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
