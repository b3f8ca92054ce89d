//! The NCCL process group and DDP on CUDA tensors, in a world of one process (one GPU): every
//! collective goes through NCCL (pointers, dtypes, the NCCL stream ordered with the compute
//! stream, results written back into views) even though one rank makes each an identity.
//! Several ranks need several GPUs: `tiny-torch run --nproc-per-node N` on such a machine.
//!
//! Skips with a printed reason without a GPU or without libnccl, unless `TINY_TORCH_REQUIRE`
//! names `cuda` (the GPU script sets it): then it fails.

use std::time::Duration;
use tiny_torch_core::{DType, Result};
use tiny_torch_cuda::Cuda;
use tiny_torch_distributed::{
    DdpConfig, DistEnv, DistributedDataParallel, Group, NcclProcessGroup, ReduceOp,
};
use tiny_torch_nn::functional::{Reduction, mse_loss};
use tiny_torch_nn::{Linear, Module, Relu, Sequential};
use tiny_torch_optim::{Optimizer, Sgd, SgdOptions};
use tiny_torch_tensor::{Tensor, manual_seed};

fn required() -> bool {
    std::env::var("TINY_TORCH_REQUIRE").is_ok_and(|v| v.split(',').any(|t| t.trim() == "cuda"))
}

/// A world of one on cuda:0, or `None` (after printing why) where that can't be.
fn world_of_one() -> Option<(Cuda, Group<Cuda>)> {
    let skip = |why: String| {
        assert!(!required(), "TINY_TORCH_REQUIRE names cuda, but {why}");
        eprintln!("skipping the NCCL test: {why}");
        None
    };
    if !tiny_torch_cuda::is_available() {
        return skip("no CUDA device here".into());
    }
    let cuda = match Cuda::new(0) {
        Ok(cuda) => cuda,
        Err(e) => return skip(format!("cuda:0 cannot be opened: {e}")),
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let env = DistEnv {
        rank: 0,
        world_size: 1,
        local_rank: 0,
        local_world_size: 1,
        master_addr: "127.0.0.1".into(),
        master_port: port,
    };
    match NcclProcessGroup::with_env(&cuda, &env, Duration::from_secs(60)) {
        Ok(group) => {
            println!("NCCL group: a world of 1 on cuda:0 (one GPU; more ranks need more GPUs)");
            Some((cuda, std::sync::Arc::new(group)))
        }
        Err(e) => skip(format!("NCCL could not start: {e}")),
    }
}

fn values(n: usize, dtype: DType) -> Vec<f64> {
    (0..n)
        .map(|i| match dtype {
            DType::Bool => (i % 3 == 0) as u8 as f64,
            DType::U8 => (i % 50) as f64,
            _ => (i % 7) as f64 - 3.0,
        })
        .collect()
}

#[test]
fn collectives_on_cuda_tensors() -> Result<()> {
    let Some((cuda, pg)) = world_of_one() else {
        return Ok(());
    };
    for dtype in [
        DType::F32,
        DType::F64,
        DType::F16,
        DType::BF16,
        DType::I64,
        DType::I32,
        DType::U8,
        DType::Bool,
    ] {
        let expected = values(12, dtype);
        let host =
            Tensor::from_vec(expected.clone(), &[3, 4], &tiny_torch_cpu::Cpu)?.to_dtype(dtype)?;
        for op in [ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min, ReduceOp::Avg] {
            if op == ReduceOp::Avg && !dtype.is_float() {
                continue;
            }
            let t = host.to_device(&cuda)?;
            pg.all_reduce(&t, op)?;
            assert_eq!(t.to_f64_vec()?, expected, "all_reduce {op:?} {dtype}");
        }
        // A view: NCCL works on a contiguous copy, written back through the layout.
        let base = host.to_device(&cuda)?;
        let view = base.t()?;
        pg.all_reduce(&view, ReduceOp::Sum)?;
        assert_eq!(
            base.to_f64_vec()?,
            expected,
            "all_reduce of a view, {dtype}"
        );
        let b = host.to_device(&cuda)?;
        pg.broadcast(&b, 0)?;
        assert_eq!(b.to_f64_vec()?, expected, "broadcast {dtype}");
        let out = Tensor::zeros(&[3, 4], dtype, &cuda)?;
        pg.all_gather(std::slice::from_ref(&out), &host.to_device(&cuda)?)?;
        assert_eq!(out.to_f64_vec()?, expected, "all_gather {dtype}");
        let out = Tensor::zeros(&[3, 4], dtype, &cuda)?;
        pg.reduce_scatter(&out, &[host.to_device(&cuda)?], ReduceOp::Max)?;
        assert_eq!(out.to_f64_vec()?, expected, "reduce_scatter {dtype}");
    }
    // Ordering with the compute stream: the input is produced by kernels queued just before.
    let x = Tensor::arange(0.0, 1_000_000.0, 1.0, DType::F32, &cuda)?.mul(2.0)?;
    pg.all_reduce(&x, ReduceOp::Sum)?;
    let got = x.to_vec::<f32>()?;
    assert!(
        got.iter().enumerate().all(|(i, &v)| v == 2.0 * i as f32),
        "stream ordering"
    );
    pg.barrier()?;
    Ok(())
}

/// A `Work` dropped without `wait` (the caller left early) must not hand the collective's
/// buffers back to the caching allocator while NCCL may still use them: they go back only once
/// the collective has ended, so the blocks reused right away hold what the compute stream
/// wrote. (A world of one can't make NCCL slow enough to force the race; this checks that the
/// drop path runs without errors or hangs and loses no data.)
#[test]
fn dropped_work_keeps_its_buffers_until_the_collective_ends() -> Result<()> {
    let Some((cuda, pg)) = world_of_one() else {
        return Ok(());
    };
    let n: usize = 1 << 22;
    let base = Tensor::arange(0.0, n as f64, 1.0, DType::F32, &cuda)?.reshape(&[1024, -1])?;
    // A transposed view travels through a contiguous copy that only the work holds.
    let view = base.t()?;
    drop(pg.all_reduce_async(&view, ReduceOp::Sum)?);
    // Blocks of the copy's size class, taken at once and written on the compute stream.
    let reused: Vec<Tensor<Cuda>> = (0..4)
        .map(|k| Tensor::full(&[n], k as f64, DType::F32, &cuda))
        .collect::<Result<_>>()?;
    for (k, t) in reused.iter().enumerate() {
        assert!(
            t.to_vec::<f32>()?.iter().all(|&v| v == k as f32),
            "a block reused under the collective"
        );
    }
    let got = base.reshape(&[-1])?.to_vec::<f32>()?;
    assert!(got.iter().enumerate().all(|(i, &v)| v == i as f32));
    pg.barrier()?;
    Ok(())
}

#[test]
fn ddp_on_cuda_matches_plain_training() -> Result<()> {
    let Some((cuda, pg)) = world_of_one() else {
        return Ok(());
    };
    let mlp = |seed| -> Result<Sequential<Cuda>> {
        manual_seed(seed);
        Ok(Sequential::new(vec![
            Box::new(Linear::new(6, 16, true, &cuda)?),
            Box::new(Relu),
            Box::new(Linear::new(16, 3, true, &cuda)?),
        ]))
    };
    let data = |step: usize| -> Result<(Tensor<Cuda>, Tensor<Cuda>)> {
        let x: Vec<f64> = (0..48)
            .map(|i| ((step * 48 + i) as f64 * 0.37).sin())
            .collect();
        let y: Vec<f64> = (0..24)
            .map(|i| ((step * 24 + i) as f64 * 0.11).cos())
            .collect();
        Ok((
            Tensor::from_vec(x, &[8, 6], &cuda)?.to_dtype(DType::F32)?,
            Tensor::from_vec(y, &[8, 3], &cuda)?.to_dtype(DType::F32)?,
        ))
    };
    let ddp = DistributedDataParallel::new(
        mlp(5)?,
        pg.clone(),
        DdpConfig {
            bucket_cap_mb: 1e-6,
            first_bucket_cap_mb: 1e-6,
            ..Default::default()
        },
    )?;
    let plain = mlp(5)?;
    let options = SgdOptions {
        lr: 0.05,
        momentum: 0.9,
        ..Default::default()
    };
    let (mut a, mut b) = (
        Sgd::new(ddp.parameters(), options)?,
        Sgd::new(plain.parameters(), options)?,
    );
    for step in 0..5 {
        let (x, y) = data(step)?;
        a.zero_grad();
        mse_loss(&ddp.forward(&x)?, &y, Reduction::Mean)?.backward()?;
        a.step()?;
        b.zero_grad();
        mse_loss(&plain.forward(&x)?, &y, Reduction::Mean)?.backward()?;
        b.step()?;
    }
    for ((name, p), q) in ddp
        .module()
        .named_parameters()
        .into_iter()
        .zip(plain.parameters())
    {
        let (p, q) = (p.to_f64_vec()?, q.to_f64_vec()?);
        for (x, y) in p.iter().zip(&q) {
            assert!(
                (x - y).abs() <= 1e-6 * y.abs().max(1.0),
                "{name}: {x} vs {y}"
            );
        }
    }
    Ok(())
}
