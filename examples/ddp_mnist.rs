//! Data-parallel training of PyTorch's MNIST CNN on CPU ranks (MPI):
//!
//! ```text
//! cargo run --release --features mpi --example ddp_mnist -- --world-size 2
//! ```
//!
//! With `--world-size N` and not already under `mpirun`, the example starts itself again as
//! `mpirun -n N` (the ranks). Each rank then joins the MPI process group, reads its share of the
//! training set through a `DistributedSampler`, and trains its replica wrapped in
//! `DistributedDataParallel`, which averages the gradients over the ranks during backward: the
//! global batch is `N × --batch-size`. Rank 0 evaluates the model on the test set after each
//! epoch. Flags: `--world-size N` (2), `--epochs E` (1), `--batch-size B` per rank (32), `--lr`
//! (1e-3, Adam), `--seed S` (1), `--data DIR` (IDX files; default: the embedded subset).

#[allow(dead_code)]
#[path = "mnist/model.rs"]
mod model;

use model::Net;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Instant;
use tiny_torch::data::datasets::Mnist;
use tiny_torch::data::transforms::{Compose, Normalize, ToTensor};
use tiny_torch::data::{DataLoader, Dataset, DefaultCollate, DistributedSampler};
use tiny_torch::distributed::{
    DEFAULT_TIMEOUT, DdpConfig, DistBackend, DistributedDataParallel, ReduceOp, init_process_group,
};
use tiny_torch::optim::{Adam, AdamOptions};
use tiny_torch::prelude::*;

struct Args {
    world_size: usize,
    epochs: usize,
    batch_size: usize,
    lr: f64,
    seed: u64,
    data: Option<PathBuf>,
}

fn parse(args: &[String]) -> std::result::Result<Args, String> {
    let mut parsed = Args {
        world_size: 2,
        epochs: 1,
        batch_size: 32,
        lr: 1e-3,
        seed: 1,
        data: None,
    };
    let mut iter = args.iter();
    while let Some(flag) = iter.next() {
        let value = iter.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = || format!("{flag}: bad value {value:?}");
        match flag.as_str() {
            "--world-size" => parsed.world_size = value.parse().map_err(|_| bad())?,
            "--epochs" => parsed.epochs = value.parse().map_err(|_| bad())?,
            "--batch-size" => parsed.batch_size = value.parse().map_err(|_| bad())?,
            "--lr" => parsed.lr = value.parse().map_err(|_| bad())?,
            "--seed" => parsed.seed = value.parse().map_err(|_| bad())?,
            "--data" => parsed.data = Some(PathBuf::from(value)),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if parsed.world_size == 0 || parsed.batch_size == 0 {
        return Err("--world-size and --batch-size must be at least 1".into());
    }
    Ok(parsed)
}

fn main() -> ExitCode {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse(&raw) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let under_mpirun = std::env::var_os("OMPI_COMM_WORLD_SIZE").is_some();
    if !under_mpirun && args.world_size > 1 {
        return relaunch_under_mpirun(args.world_size, &raw);
    }
    match train(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `mpirun -n N THIS_PROGRAM ARGS...`, forwarding the exit status.
fn relaunch_under_mpirun(world_size: usize, args: &[String]) -> ExitCode {
    let exe = std::env::current_exe().expect("the path of this program");
    let mut command = Command::new("mpirun");
    command.args(["-n", &world_size.to_string(), "--oversubscribe"]);
    if std::env::var("USER").is_ok_and(|u| u == "root")
        || std::env::var_os("HOME").is_some_and(|h| h == "/root")
    {
        command.arg("--allow-run-as-root");
    }
    // The ranks share this machine's cores.
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        command.args([
            "-x",
            &format!("RAYON_NUM_THREADS={}", (cores / world_size).max(1)),
        ]);
    }
    println!(
        "starting {world_size} ranks: mpirun -n {world_size} {}",
        exe.display()
    );
    match command.arg(&exe).args(args).status() {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("error: the job failed ({status})");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!(
                "error: cannot run mpirun ({e}); install OpenMPI (apt-get install openmpi-bin)"
            );
            ExitCode::from(2)
        }
    }
}

fn train(args: &Args) -> Result<()> {
    let group = init_process_group(DistBackend::Mpi, &Cpu, DEFAULT_TIMEOUT)?;
    let (rank, world) = (group.rank(), group.world_size());
    let (train_set, test_set) = match &args.data {
        None => (Mnist::embedded(true)?, Mnist::embedded(false)?),
        Some(dir) => (Mnist::new(dir, true)?, Mnist::new(dir, false)?),
    };
    let transform = || -> Result<Compose> {
        Ok(Compose::new()
            .then(ToTensor)
            .then(Normalize::new(&[Mnist::MEAN], &[Mnist::STD])?))
    };
    let sampler = DistributedSampler::new(train_set.len(), world, rank)?
        .shuffle(true)
        .seed(args.seed);
    let train_loader = DataLoader::builder(train_set.with_transform(transform()?))
        .batch_size(args.batch_size)
        .sampler(sampler)
        .build(DefaultCollate::new(Cpu))?;
    let test_loader = DataLoader::builder(test_set.with_transform(transform()?))
        .batch_size(1000)
        .build(DefaultCollate::new(Cpu))?;

    manual_seed(args.seed + rank as u64); // different on purpose: DDP starts from rank 0's weights
    let ddp = DistributedDataParallel::new(Net::new(&Cpu)?, group.clone(), DdpConfig::default())?;
    let mut opt = Adam::new(
        ddp.parameters(),
        AdamOptions {
            lr: args.lr,
            ..Default::default()
        },
    )?;
    if rank == 0 {
        println!(
            "rank 0 of {world}: {} parameters in {} gradient buckets, global batch {} ({} per rank)",
            ddp.num_parameters(),
            ddp.bucket_names().len(),
            args.batch_size * world,
            args.batch_size
        );
    }
    for epoch in 1..=args.epochs {
        train_loader.set_epoch(epoch as u64);
        let start = Instant::now();
        let (mut images, mut loss_sum, mut steps) = (0usize, 0.0f64, 0usize);
        for batch in train_loader.iter() {
            let (x, y) = batch?;
            opt.zero_grad();
            let loss = F::nll_loss(&ddp.forward(&x)?, &y)?;
            loss.backward()?;
            opt.step()?;
            images += y.dims()[0];
            loss_sum += loss.to_dtype(DType::F64)?.item::<f64>()?;
            steps += 1;
        }
        // The mean training loss and throughput over all ranks.
        let totals = Tensor::from_vec(vec![loss_sum, steps as f64, images as f64], &[3], &Cpu)?;
        group.all_reduce(&totals, ReduceOp::Sum)?;
        let totals = totals.to_vec::<f64>()?;
        let seconds = start.elapsed().as_secs_f64();
        if rank == 0 {
            let accuracy = evaluate(ddp.module(), &test_loader)?;
            println!(
                "epoch {epoch}: train loss {:.4}, test accuracy {:.2} %, {:.0} images/s over {world} ranks",
                totals[0] / totals[1].max(1.0),
                100.0 * accuracy,
                totals[2] / seconds
            );
        }
        group.barrier()?;
    }
    Ok(())
}

fn evaluate<D>(model: &Net<Cpu>, loader: &DataLoader<D, DefaultCollate<Cpu>>) -> Result<f64>
where
    D: Dataset<Item = (tiny_torch::data::Image, i64)> + 'static,
{
    model.eval();
    let _no_grad = no_grad();
    let (mut correct, mut n) = (0i64, 0usize);
    for batch in loader.iter_epoch(0) {
        let (x, y) = batch?;
        let out = model.forward(&x)?;
        correct += out.argmax(Some(1), false)?.eq(&y)?.sum()?.item::<i64>()?;
        n += y.dims()[0];
    }
    model.train();
    Ok(correct as f64 / n.max(1) as f64)
}
