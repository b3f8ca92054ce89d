//! The MPI process group and DistributedDataParallel on 2–3 CPU ranks.
//!
//! Each test runs its own binary under `mpirun` (`common::self_args`), where the body plays
//! one rank; references are computed by hand in f64 or by one process training on the whole
//! batch. Without `mpirun` on the PATH the tests skip with a printed reason, unless
//! `TINY_TORCH_REQUIRE` names `mpi` (as CI sets it): then they fail.

mod common;

use common::{Outcome, WORKER_ENV, is_worker, required, run_with_limit, self_args};
use std::process::Command;
use std::time::Duration;
use tiny_torch_core::{DType, Error, Result};
use tiny_torch_cpu::Cpu;
use tiny_torch_distributed::{
    DdpConfig, DistBackend, DistributedDataParallel, Group, ReduceOp, init_process_group,
};
use tiny_torch_nn::functional::{Reduction, mse_loss};
use tiny_torch_nn::{Linear, Module, Relu, Sequential};
use tiny_torch_optim::{Optimizer, Sgd, SgdOptions};
use tiny_torch_tensor::{Tensor, manual_seed};

fn mpirun_available() -> bool {
    Command::new("mpirun")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs test `name` on `ranks` ranks; `None` (after printing why) when mpirun is missing.
fn mpirun(name: &str, ranks: usize, limit: Duration) -> Option<Outcome> {
    if !mpirun_available() {
        assert!(
            !required("mpi"),
            "TINY_TORCH_REQUIRE names mpi, but mpirun is not on the PATH"
        );
        eprintln!("skipping {name}: mpirun not found (apt-get install openmpi-bin libopenmpi-dev)");
        return None;
    }
    let exe = std::env::current_exe().expect("the test binary");
    let mut command = Command::new("mpirun");
    command
        .args([
            "--allow-run-as-root",
            "--oversubscribe",
            "-n",
            &ranks.to_string(),
        ])
        .arg(exe)
        .args(self_args(name))
        .env(WORKER_ENV, "1");
    Some(run_with_limit(command, limit))
}

/// Runs `name` on `ranks` ranks and requires every rank to succeed.
fn expect_success(name: &str, ranks: usize) {
    if let Some(outcome) = mpirun(name, ranks, Duration::from_secs(240)) {
        assert!(
            outcome.success,
            "{name} on {ranks} ranks failed:\n{}",
            outcome.output
        );
    }
}

fn group(timeout: Duration) -> Group<Cpu> {
    init_process_group(DistBackend::Mpi, &Cpu, timeout).expect("init_process_group(mpi)")
}

/// Rank `rank`'s value at element `i`: small integers and halves, exact in every float dtype.
fn value(rank: usize, i: usize, dtype: DType) -> f64 {
    match dtype {
        DType::Bool => (rank + i).is_multiple_of(3) as u8 as f64,
        DType::U8 => ((rank * 7 + i * 3) % 40) as f64,
        DType::I64 | DType::I32 => (rank as f64 + 1.0) * ((i % 5) as f64 - 2.0),
        _ => (rank as f64 + 1.0) * ((i % 5) as f64 - 2.0) + 0.5 * (i % 3) as f64,
    }
}

fn rank_tensor(rank: usize, dims: &[usize], dtype: DType) -> Result<Tensor<Cpu>> {
    let n: usize = dims.iter().product();
    let values: Vec<f64> = (0..n).map(|i| value(rank, i, dtype)).collect();
    Tensor::from_vec(values, dims, &Cpu)?.to_dtype(dtype)
}

/// The relative tolerance of a comparison in `dtype` (0 for integers).
fn tolerance(dtype: DType) -> f64 {
    match dtype {
        DType::F16 => 1e-3,
        DType::BF16 => 8e-3,
        DType::F32 => 1e-6,
        DType::F64 => 1e-12,
        _ => 0.0,
    }
}

fn assert_close(what: &str, got: &[f64], expected: &[f64], dtype: DType) {
    assert_eq!(got.len(), expected.len(), "{what}: length");
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        let bound = tolerance(dtype) * e.abs().max(1.0);
        assert!(
            (g - e).abs() <= bound,
            "{what} [{dtype}] element {i}: got {g}, expected {e}"
        );
    }
}

const DTYPES: [DType; 8] = [
    DType::F32,
    DType::F64,
    DType::F16,
    DType::BF16,
    DType::I64,
    DType::I32,
    DType::U8,
    DType::Bool,
];

fn collectives_body() -> Result<()> {
    let pg = group(Duration::from_secs(60));
    let (rank, world) = (pg.rank(), pg.world_size());
    assert_eq!(world, 3, "this test runs on 3 ranks");
    let dims = [2, 5];
    let n = 10;
    for dtype in DTYPES {
        for op in [ReduceOp::Sum, ReduceOp::Avg, ReduceOp::Max, ReduceOp::Min] {
            let t = rank_tensor(rank, &dims, dtype)?;
            let result = pg.all_reduce(&t, op);
            if op == ReduceOp::Avg && !dtype.is_float() {
                let err = result.expect_err("integer avg is refused");
                assert!(matches!(err, Error::Unsupported { .. }), "{err}");
                continue;
            }
            result?;
            let expected: Vec<f64> = (0..n)
                .map(|i| {
                    let values = (0..world).map(|r| value(r, i, dtype));
                    match (op, dtype) {
                        (ReduceOp::Sum, DType::Bool) | (ReduceOp::Max, _) => {
                            values.fold(f64::MIN, f64::max)
                        }
                        (ReduceOp::Min, _) => values.fold(f64::MAX, f64::min),
                        (ReduceOp::Sum, DType::U8) => values.sum::<f64>() % 256.0,
                        (ReduceOp::Sum, _) => values.sum(),
                        (ReduceOp::Avg, _) => values.sum::<f64>() / world as f64,
                    }
                })
                .collect();
            assert_close(
                &format!("all_reduce {op:?}"),
                &t.to_f64_vec()?,
                &expected,
                dtype,
            );
        }

        // Through a non-contiguous view: the result lands in the base's elements.
        let base = rank_tensor(rank, &[5, 2], dtype)?;
        let view = base.t()?;
        pg.all_reduce(&view, ReduceOp::Max)?;
        let expected: Vec<f64> = (0..n)
            .map(|i| {
                (0..world)
                    .map(|r| value(r, i, dtype))
                    .fold(f64::MIN, f64::max)
            })
            .collect();
        assert_close(
            "all_reduce of a view",
            &base.to_f64_vec()?,
            &expected,
            dtype,
        );

        let b = rank_tensor(rank, &dims, dtype)?;
        pg.broadcast(&b, 1)?;
        let expected: Vec<f64> = (0..n).map(|i| value(1, i, dtype)).collect();
        assert_close("broadcast from rank 1", &b.to_f64_vec()?, &expected, dtype);

        let outputs: Vec<Tensor<Cpu>> = (0..world)
            .map(|_| Tensor::zeros(&dims, dtype, &Cpu))
            .collect::<Result<_>>()?;
        pg.all_gather(&outputs, &rank_tensor(rank, &dims, dtype)?)?;
        for (r, out) in outputs.iter().enumerate() {
            let expected: Vec<f64> = (0..n).map(|i| value(r, i, dtype)).collect();
            assert_close(
                &format!("all_gather slot {r}"),
                &out.to_f64_vec()?,
                &expected,
                dtype,
            );
        }

        // reduce_scatter: rank r sends inputs[k] = its tensor shifted by k; receives the
        // reduction over ranks of their inputs[r].
        let inputs: Vec<Tensor<Cpu>> = (0..world)
            .map(|k| rank_tensor(rank + k, &dims, dtype))
            .collect::<Result<_>>()?;
        let output = Tensor::zeros(&dims, dtype, &Cpu)?;
        pg.reduce_scatter(&output, &inputs, ReduceOp::Max)?;
        let expected: Vec<f64> = (0..n)
            .map(|i| {
                (0..world)
                    .map(|s| value(s + rank, i, dtype))
                    .fold(f64::MIN, f64::max)
            })
            .collect();
        assert_close(
            "reduce_scatter max",
            &output.to_f64_vec()?,
            &expected,
            dtype,
        );
    }
    // A float reduce_scatter sum too.
    let inputs: Vec<Tensor<Cpu>> = (0..world)
        .map(|k| rank_tensor(rank * 10 + k, &dims, DType::F32))
        .collect::<Result<_>>()?;
    let output = Tensor::zeros(&dims, DType::F32, &Cpu)?;
    pg.reduce_scatter(&output, &inputs, ReduceOp::Sum)?;
    let expected: Vec<f64> = (0..n)
        .map(|i| {
            (0..world)
                .map(|s| value(s * 10 + rank, i, DType::F32))
                .sum()
        })
        .collect();
    assert_close(
        "reduce_scatter sum",
        &output.to_f64_vec()?,
        &expected,
        DType::F32,
    );

    // Asynchronous works complete in any wait order.
    let a = rank_tensor(rank, &dims, DType::F64)?;
    let c = rank_tensor(rank, &dims, DType::F64)?;
    let wa = pg.all_reduce_async(&a, ReduceOp::Sum)?;
    let wc = pg.all_reduce_async(&c, ReduceOp::Min)?;
    wc.wait()?;
    wa.wait()?;
    let sum: Vec<f64> = (0..n)
        .map(|i| (0..world).map(|r| value(r, i, DType::F64)).sum())
        .collect();
    assert_close("async sum", &a.to_f64_vec()?, &sum, DType::F64);

    // Bad arguments are errors on every rank (no collective starts).
    let err = pg.broadcast(&a, 7).unwrap_err().to_string();
    assert!(err.contains("source rank 7"), "{err}");
    let err = pg
        .all_gather(&outputs_of(2, DType::F32)?, &a)
        .unwrap_err()
        .to_string();
    assert!(err.contains("one tensor per rank (3)"), "{err}");
    pg.barrier()?;
    println!("rank {rank}: collectives ok");
    Ok(())
}

fn outputs_of(count: usize, dtype: DType) -> Result<Vec<Tensor<Cpu>>> {
    (0..count)
        .map(|_| Tensor::zeros(&[2, 5], dtype, &Cpu))
        .collect()
}

#[test]
fn collectives_match_hand_computed_results() {
    if is_worker() {
        return collectives_body().unwrap();
    }
    expect_success("collectives_match_hand_computed_results", 3);
}

// ---- DDP ----

const IN: usize = 6;
const OUT: usize = 3;
const LOCAL_BATCH: usize = 4;

fn mlp(seed: u64) -> Result<Sequential<Cpu>> {
    manual_seed(seed);
    Ok(Sequential::new(vec![
        Box::new(Linear::new(IN, 16, true, &Cpu)?),
        Box::new(Relu),
        Box::new(Linear::new(16, 8, true, &Cpu)?),
        Box::new(Relu),
        Box::new(Linear::new(8, OUT, true, &Cpu)?),
    ]))
}

/// Sample `i` of step `step`: inputs and targets from smooth functions (the same on every rank).
fn batch(step: usize, first: usize, count: usize) -> Result<(Tensor<Cpu>, Tensor<Cpu>)> {
    let mut x = Vec::new();
    let mut y = Vec::new();
    for i in first..first + count {
        let s = (step * 31 + i * 7) as f64;
        x.extend((0..IN).map(|j| ((s + j as f64) * 0.37).sin()));
        y.extend((0..OUT).map(|k| ((s * 0.11) + k as f64).cos()));
    }
    Ok((
        Tensor::from_vec(x, &[count, IN], &Cpu)?.to_dtype(DType::F32)?,
        Tensor::from_vec(y, &[count, OUT], &Cpu)?.to_dtype(DType::F32)?,
    ))
}

fn params_f64(module: &dyn Module<Cpu>) -> Result<Vec<(String, Vec<f64>)>> {
    module
        .named_parameters()
        .into_iter()
        .map(|(name, p)| Ok((name, p.to_f64_vec()?)))
        .collect()
}

fn assert_params_close(got: &[(String, Vec<f64>)], expected: &[(String, Vec<f64>)], tol: f64) {
    for ((name, g), (ename, e)) in got.iter().zip(expected) {
        assert_eq!(name, ename);
        for (i, (a, b)) in g.iter().zip(e).enumerate() {
            assert!(
                (a - b).abs() <= tol * b.abs().max(1.0),
                "{name}[{i}]: DDP {a}, single process {b}"
            );
        }
    }
}

fn sgd(params: Vec<Tensor<Cpu>>) -> Result<Sgd<Cpu>> {
    Sgd::new(
        params,
        SgdOptions {
            lr: 0.05,
            momentum: 0.9,
            ..SgdOptions::default()
        },
    )
}

fn ddp_training_body(config: DdpConfig) -> Result<()> {
    let pg = group(Duration::from_secs(60));
    let (rank, world) = (pg.rank(), pg.world_size());
    // Different initial weights per rank: DDP must broadcast rank 0's.
    let ddp = DistributedDataParallel::new(mlp(100 + rank as u64)?, pg.clone(), config)?;
    let mut opt = sgd(ddp.parameters())?;
    for step in 0..20 {
        opt.zero_grad();
        let (x, y) = batch(step, rank * LOCAL_BATCH, LOCAL_BATCH)?;
        let loss = mse_loss(&ddp.forward(&x)?, &y, Reduction::Mean)?;
        loss.backward()?;
        opt.step()?;
    }
    // One process, the whole batch, rank 0's initial weights.
    let single = mlp(100)?;
    let mut opt = sgd(single.parameters())?;
    for step in 0..20 {
        opt.zero_grad();
        let (x, y) = batch(step, 0, LOCAL_BATCH * world)?;
        mse_loss(&single.forward(&x)?, &y, Reduction::Mean)?.backward()?;
        opt.step()?;
    }
    assert_params_close(&params_f64(ddp.module())?, &params_f64(&single)?, 1e-5);
    println!(
        "rank {rank}: DDP matches one process after 20 steps ({} buckets)",
        ddp.bucket_names().len()
    );
    Ok(())
}

#[test]
fn ddp_matches_single_process_training() {
    if is_worker() {
        // Tiny buckets: one per parameter, so bucket order and overlap are exercised.
        let config = DdpConfig {
            bucket_cap_mb: 1e-6,
            first_bucket_cap_mb: 1e-6,
            ..DdpConfig::default()
        };
        return ddp_training_body(config).unwrap();
    }
    expect_success("ddp_matches_single_process_training", 3);
}

#[test]
fn ddp_with_one_bucket_matches_single_process_training() {
    if is_worker() {
        return ddp_training_body(DdpConfig::default()).unwrap();
    }
    expect_success("ddp_with_one_bucket_matches_single_process_training", 2);
}

fn no_sync_body() -> Result<()> {
    let pg = group(Duration::from_secs(60));
    let (rank, world) = (pg.rank(), pg.world_size());
    let config = DdpConfig {
        bucket_cap_mb: 1e-6,
        first_bucket_cap_mb: 1e-6,
        ..DdpConfig::default()
    };
    let ddp = DistributedDataParallel::new(mlp(7 + rank as u64)?, pg.clone(), config)?;
    let mut opt = sgd(ddp.parameters())?;
    let micro_batches = 3;
    for step in 0..5 {
        opt.zero_grad();
        for micro in 0..micro_batches {
            let (x, y) = batch(
                step * micro_batches + micro,
                rank * LOCAL_BATCH,
                LOCAL_BATCH,
            )?;
            if micro + 1 < micro_batches {
                let _guard = ddp.no_sync();
                mse_loss(&ddp.forward(&x)?, &y, Reduction::Mean)?.backward()?;
            } else {
                mse_loss(&ddp.forward(&x)?, &y, Reduction::Mean)?.backward()?;
            }
            if step == 0 && micro == 0 {
                // Not synchronized yet: the ranks' gradients differ.
                let grad = ddp.parameters()[0].grad().expect("a gradient");
                let gathered: Vec<Tensor<Cpu>> = (0..world)
                    .map(|_| grad.zeros_like())
                    .collect::<Result<_>>()?;
                pg.all_gather(&gathered, &grad)?;
                assert_ne!(gathered[0].to_vec::<f32>()?, gathered[1].to_vec::<f32>()?);
            }
        }
        opt.step()?;
    }
    let single = mlp(7)?;
    let mut opt = sgd(single.parameters())?;
    for step in 0..5 {
        opt.zero_grad();
        for micro in 0..micro_batches {
            let (x, y) = batch(step * micro_batches + micro, 0, LOCAL_BATCH * world)?;
            mse_loss(&single.forward(&x)?, &y, Reduction::Mean)?.backward()?;
        }
        opt.step()?;
    }
    assert_params_close(&params_f64(ddp.module())?, &params_f64(&single)?, 1e-5);
    println!("rank {rank}: no_sync accumulation matches");
    Ok(())
}

#[test]
fn no_sync_accumulation_matches_single_process() {
    if is_worker() {
        return no_sync_body().unwrap();
    }
    expect_success("no_sync_accumulation_matches_single_process", 2);
}

/// Three heads on one trunk; which heads a rank uses is up to the rank.
struct Heads {
    trunk: Linear<Cpu>,
    a: Linear<Cpu>,
    b: Linear<Cpu>,
    c: Linear<Cpu>,
    use_b: bool,
}

impl Heads {
    fn new(seed: u64, use_b: bool) -> Result<Self> {
        manual_seed(seed);
        Ok(Heads {
            trunk: Linear::new(IN, 5, true, &Cpu)?,
            a: Linear::new(5, OUT, true, &Cpu)?,
            b: Linear::new(5, OUT, true, &Cpu)?,
            c: Linear::new(5, OUT, true, &Cpu)?,
            use_b,
        })
    }
}

impl Module<Cpu> for Heads {
    fn forward(&self, x: &Tensor<Cpu>) -> Result<Tensor<Cpu>> {
        let h = self.trunk.forward(x)?.tanh()?;
        let out = self.a.forward(&h)?;
        if self.use_b {
            out.add(&self.b.forward(&h)?)
        } else {
            Ok(out)
        }
    }

    fn children(&self) -> Vec<(String, &dyn Module<Cpu>)> {
        vec![
            ("trunk".into(), &self.trunk as &dyn Module<Cpu>),
            ("a".into(), &self.a),
            ("b".into(), &self.b),
            ("c".into(), &self.c),
        ]
    }
}

fn unused_parameters_body() -> Result<()> {
    let pg = group(Duration::from_secs(60));
    let (rank, world) = (pg.rank(), pg.world_size());
    let config = DdpConfig {
        find_unused_parameters: true,
        bucket_cap_mb: 1e-6,
        first_bucket_cap_mb: 1e-6,
        ..DdpConfig::default()
    };
    // Rank 1 uses head b, rank 0 doesn't; nobody uses head c.
    let ddp =
        DistributedDataParallel::new(Heads::new(3 + rank as u64, rank == 1)?, pg.clone(), config)?;
    let (x, y) = batch(0, rank * LOCAL_BATCH, LOCAL_BATCH)?;
    mse_loss(&ddp.forward(&x)?, &y, Reduction::Mean)?.backward()?;
    // Reference: every rank's gradient computed here, from rank 0's weights, then averaged.
    let mut expected: Vec<Option<Vec<f64>>> = vec![None; 8];
    for r in 0..world {
        let replica = Heads::new(3, r == 1)?;
        let (x, y) = batch(0, r * LOCAL_BATCH, LOCAL_BATCH)?;
        mse_loss(&replica.forward(&x)?, &y, Reduction::Mean)?.backward()?;
        for (slot, p) in expected.iter_mut().zip(replica.parameters()) {
            if let Some(g) = p.grad() {
                let g = g.to_f64_vec()?;
                let sum = slot.get_or_insert_with(|| vec![0.0; g.len()]);
                sum.iter_mut()
                    .zip(g)
                    .for_each(|(s, v)| *s += v / world as f64);
            }
        }
    }
    for ((name, p), e) in ddp.module().named_parameters().into_iter().zip(expected) {
        match (p.grad(), e) {
            (Some(g), Some(e)) => {
                for (a, b) in g.to_f64_vec()?.iter().zip(&e) {
                    assert!(
                        (a - b).abs() <= 1e-6 * b.abs().max(1.0),
                        "{name}: {a} vs {b}"
                    );
                }
            }
            (None, None) => assert!(name.starts_with("c."), "{name} has no gradient"),
            (g, e) => panic!(
                "{name}: DDP gradient {:?}, expected {:?}",
                g.is_some(),
                e.is_some()
            ),
        }
    }

    // Without find_unused_parameters, the next forward names the parameters that got none.
    let strict =
        DistributedDataParallel::new(Heads::new(3, true)?, pg.clone(), DdpConfig::default())?;
    mse_loss(&strict.forward(&x)?, &y, Reduction::Mean)?.backward()?;
    let err = strict
        .forward(&x)
        .expect_err("an unfinished reduction")
        .to_string();
    assert!(
        err.contains("find_unused_parameters") && err.contains("c.weight"),
        "{err}"
    );
    println!("rank {rank}: unused parameters handled");
    Ok(())
}

#[test]
fn unused_parameters_are_found_or_named() {
    if is_worker() {
        return unused_parameters_body().unwrap();
    }
    expect_success("unused_parameters_are_found_or_named", 2);
}

// ---- failures: a rank that hangs, dies or panics ends the job, never hangs it ----

#[test]
fn a_hanging_rank_makes_the_others_time_out() {
    if is_worker() {
        let pg = group(Duration::from_secs(2));
        if pg.rank() == 1 {
            std::thread::sleep(Duration::from_secs(120));
            return;
        }
        let t = Tensor::ones(&[4], DType::F32, &Cpu).unwrap();
        let err = pg
            .all_reduce(&t, ReduceOp::Sum)
            .expect_err("rank 1 never joins")
            .to_string();
        assert!(err.contains("timed out after 2s"), "{err}");
        println!("rank 0 saw: {err}");
        std::process::exit(1);
    }
    let Some(outcome) = mpirun(
        "a_hanging_rank_makes_the_others_time_out",
        2,
        Duration::from_secs(90),
    ) else {
        return;
    };
    assert!(!outcome.success, "the job should fail:\n{}", outcome.output);
    assert!(
        outcome
            .output
            .contains("rank 0 saw: all_reduce: rank 0 of 2: timed out"),
        "{}",
        outcome.output
    );
    assert!(
        outcome.elapsed < Duration::from_secs(60),
        "took {:?}",
        outcome.elapsed
    );
}

#[test]
fn a_dead_rank_ends_the_job() {
    if is_worker() {
        let pg = group(Duration::from_secs(20));
        if pg.rank() == 1 {
            eprintln!("rank 1: exiting on purpose");
            std::process::exit(3);
        }
        let t = Tensor::ones(&[4], DType::F32, &Cpu).unwrap();
        let result = pg.all_reduce(&t, ReduceOp::Sum);
        println!("rank 0: all_reduce returned {result:?}");
        std::process::exit(1);
    }
    let Some(outcome) = mpirun("a_dead_rank_ends_the_job", 2, Duration::from_secs(90)) else {
        return;
    };
    assert!(!outcome.success, "the job should fail:\n{}", outcome.output);
    assert!(
        outcome.output.contains("rank 1: exiting on purpose"),
        "{}",
        outcome.output
    );
    assert!(
        outcome.elapsed < Duration::from_secs(60),
        "took {:?}",
        outcome.elapsed
    );
}

/// Four items; fetching item 2 panics.
struct PanicsAtTwo;

impl tiny_torch_data::Dataset for PanicsAtTwo {
    type Item = i64;
    fn len(&self) -> usize {
        4
    }
    fn get(&self, index: usize) -> Result<i64> {
        assert_ne!(index, 2, "item 2 panics on purpose");
        Ok(index as i64)
    }
}

/// A panic inside a DataLoader worker is that batch's `Err` (the loader catches it), not a
/// reason to abort every rank: the job goes on and its collectives still meet.
#[test]
fn a_data_worker_panic_is_a_batch_error_not_an_abort() {
    if is_worker() {
        let pg = group(Duration::from_secs(60));
        let loader = tiny_torch_data::DataLoader::builder(PanicsAtTwo)
            .num_workers(2)
            .build(|items: Vec<i64>| -> Result<Vec<i64>> { Ok(items) })
            .unwrap();
        let ok: Vec<bool> = loader.iter().map(|batch| batch.is_ok()).collect();
        assert_eq!(ok, [true, true, false, true]);
        let t = Tensor::ones(&[4], DType::F32, &Cpu).unwrap();
        pg.all_reduce(&t, ReduceOp::Sum).unwrap();
        assert_eq!(t.to_vec::<f32>().unwrap(), vec![pg.world_size() as f32; 4]);
        println!("rank {}: went on after a worker panic", pg.rank());
        return;
    }
    expect_success("a_data_worker_panic_is_a_batch_error_not_an_abort", 2);
}

#[test]
fn a_panicking_rank_aborts_every_rank() {
    if is_worker() {
        let pg = group(Duration::from_secs(300));
        if pg.rank() == 1 {
            panic!("rank 1 panics on purpose");
        }
        let t = Tensor::ones(&[4], DType::F32, &Cpu).unwrap();
        let _ = pg.all_reduce(&t, ReduceOp::Sum);
        println!("rank 0: all_reduce returned");
        std::process::exit(1);
    }
    let Some(outcome) = mpirun(
        "a_panicking_rank_aborts_every_rank",
        2,
        Duration::from_secs(90),
    ) else {
        return;
    };
    assert!(!outcome.success, "the job should fail:\n{}", outcome.output);
    assert!(
        outcome.output.contains("calling MPI_Abort"),
        "{}",
        outcome.output
    );
    // Well within the 300 s collective timeout: MPI_Abort ended rank 0.
    assert!(
        outcome.elapsed < Duration::from_secs(60),
        "took {:?}",
        outcome.elapsed
    );
}

fn construction_broadcast_body() -> Result<()> {
    use tiny_torch_nn::BatchNorm1d;
    let pg = group(Duration::from_secs(60));
    let rank = pg.rank();
    let model = Sequential::new(vec![
        Box::new(Linear::new(4, 4, true, &Cpu)?) as Box<dyn Module<Cpu>>,
        Box::new(BatchNorm1d::new(4, &Cpu)?),
    ]);
    // Every parameter and buffer (f32 running stats, i64 num_batches_tracked) differs per rank.
    {
        let _no_grad = tiny_torch_tensor::autograd::no_grad();
        for (_, t) in model.state_dict() {
            let value = Tensor::full(t.dims(), (rank as f64 + 1.0) * 3.0, t.dtype(), &Cpu)?;
            t.copy_(&value)?;
        }
    }
    let ddp = DistributedDataParallel::new(model, pg.clone(), DdpConfig::default())?;
    for (name, t) in ddp.module().state_dict() {
        assert!(
            t.to_f64_vec()?.iter().all(|&v| v == 3.0),
            "{name} on rank {rank} was not replaced by rank 0's value: {:?}",
            t.to_f64_vec()?
        );
    }
    // At each forward, rank 0's buffers replace the others' before the batch updates them.
    let (x, _) = batch(0, rank * LOCAL_BATCH, LOCAL_BATCH)?;
    let x = x.narrow(1, 0, 4)?;
    let tracked = ddp
        .module()
        .state_dict()
        .into_iter()
        .find(|(n, _)| n.ends_with("num_batches_tracked"))
        .unwrap()
        .1;
    if rank != 0 {
        // Drift on purpose: the forward must bring back rank 0's count first.
        let _no_grad = tiny_torch_tensor::autograd::no_grad();
        tracked.copy_(&Tensor::full(&[], 100, DType::I64, &Cpu)?)?;
    }
    ddp.forward(&x)?;
    assert_eq!(
        tracked.to_vec::<i64>()?,
        vec![4],
        "rank 0's count (3) plus this forward"
    );
    println!("rank {rank}: parameters and buffers broadcast");
    Ok(())
}

#[test]
fn construction_and_forward_broadcast_rank_zero_state() {
    if is_worker() {
        return construction_broadcast_body().unwrap();
    }
    expect_success("construction_and_forward_broadcast_rank_zero_state", 3);
}

fn ddp_misuse_body() -> Result<()> {
    use tiny_torch_nn::BatchNorm1d;
    let pg = group(Duration::from_secs(60));
    let (rank, world) = (pg.rank(), pg.world_size());

    // Models that differ across ranks: every rank gets the same error, before any broadcast
    // (PyTorch's _verify_param_shape_across_processes).
    let width = if rank == 0 { 3 } else { 4 };
    let err = DistributedDataParallel::new(
        Linear::new(4, width, true, &Cpu)?,
        pg.clone(),
        DdpConfig::default(),
    )
    .err()
    .expect("models of different shapes were accepted")
    .to_string();
    assert!(
        err.contains("differ across ranks") && err.contains("'weight'"),
        "{err}"
    );
    // The same shapes, but a parameter frozen on one rank only: the buckets would differ.
    let frozen = Linear::new(4, 4, true, &Cpu)?;
    if rank == 1 {
        let bias = frozen.bias.as_ref().expect("a bias");
        bias.requires_grad_(false)?;
    }
    let err = DistributedDataParallel::new(frozen, pg.clone(), DdpConfig::default())
        .err()
        .expect("a parameter frozen on one rank was accepted")
        .to_string();
    assert!(err.contains("'bias'"), "{err}");

    // Buffers are broadcast only at a forward that follows a grad-enabled one (PyTorch's
    // require_forward_param_sync): evaluation passes may differ in number across ranks.
    let model = Sequential::new(vec![
        Box::new(Linear::new(4, 4, true, &Cpu)?) as Box<dyn Module<Cpu>>,
        Box::new(BatchNorm1d::new(4, &Cpu)?),
    ]);
    let ddp = DistributedDataParallel::new(model, pg.clone(), DdpConfig::default())?;
    let (x, _) = batch(0, rank * LOCAL_BATCH, LOCAL_BATCH)?;
    let x = x.narrow(1, 0, 4)?;
    ddp.forward(&x)?.square()?.sum()?.backward()?;
    {
        let _no_grad = tiny_torch_tensor::autograd::no_grad();
        for _ in 0..1 + 2 * rank {
            ddp.forward(&x)?;
        }
    }
    let one = Tensor::ones(&[1], DType::F32, &Cpu)?;
    pg.all_reduce(&one, ReduceOp::Sum)?;
    assert_eq!(one.to_vec::<f32>()?, [world as f32]);

    // A no_grad forward between a training forward and its backward (targets computed after
    // the main forward) leaves that backward synchronized: the gradients are averaged.
    let linear = DistributedDataParallel::new(
        Linear::new(4, 1, false, &Cpu)?,
        pg.clone(),
        DdpConfig::default(),
    )?;
    let out = linear.forward(&x)?.sum()?;
    {
        let _no_grad = tiny_torch_tensor::autograd::no_grad();
        linear.forward(&x)?;
    }
    out.backward()?;
    let grad = linear
        .module()
        .weight
        .grad()
        .expect("a gradient")
        .to_f64_vec()?;
    let mut average = vec![0.0; 4];
    for r in 0..world {
        let (xr, _) = batch(0, r * LOCAL_BATCH, LOCAL_BATCH)?;
        let column_sums = xr.narrow(1, 0, 4)?.sum_dim(&[0], false)?.to_f64_vec()?;
        for (a, c) in average.iter_mut().zip(column_sums) {
            *a += c / world as f64;
        }
    }
    for (g, a) in grad.iter().zip(&average) {
        assert!(
            (g - a).abs() <= 1e-5 * a.abs().max(1.0),
            "{grad:?} vs {average:?}"
        );
    }

    // A loss term that reaches a parameter the output did not (find_unused_parameters): the
    // error comes out of backward on every rank, whichever hook runs first; averaging without
    // that gradient would let the ranks drift apart.
    let config = DdpConfig {
        find_unused_parameters: true,
        bucket_cap_mb: 1e-6,
        first_bucket_cap_mb: 1e-6,
        ..DdpConfig::default()
    };
    let heads = DistributedDataParallel::new(Heads::new(3, false)?, pg.clone(), config)?;
    let (x, y) = batch(0, rank * LOCAL_BATCH, LOCAL_BATCH)?;
    let loss = mse_loss(&heads.forward(&x)?, &y, Reduction::Mean)?;
    let extra = heads.module().c.weight.sum()?;
    let err = loss
        .add(&extra)?
        .backward()
        .expect_err("a parameter reached outside the output was averaged without its gradient")
        .to_string();
    assert!(
        err.contains("ready only once") && err.contains("c.weight"),
        "{err}"
    );
    println!("rank {rank}: DDP misuse reported");
    Ok(())
}

#[test]
fn ddp_misuse_is_reported_on_every_rank() {
    if is_worker() {
        return ddp_misuse_body().unwrap();
    }
    expect_success("ddp_misuse_is_reported_on_every_rank", 2);
}
