//! DDP's reducer seen from the process group: a recording group (a world of one, whose
//! collectives are identities) shows when each bucket's all-reduce is started. The first
//! bucket (the last layer's parameters) must start while backward has not yet reached the
//! first layer (communication overlaps computation), buckets must start in order, and each
//! must carry its parameters' gradients.

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tiny_torch_core::{DType, Result};
use tiny_torch_cpu::Cpu;
use tiny_torch_distributed::{DdpConfig, DistributedDataParallel, ProcessGroup, ReduceOp, Work};
use tiny_torch_nn::functional::{Reduction, mse_loss};
use tiny_torch_nn::{Linear, Module, Relu, Sequential};
use tiny_torch_tensor::{Tensor, manual_seed};

/// What the group saw of one all-reduce.
#[derive(Clone, Debug)]
struct Seen {
    numel: usize,
    values: Vec<f32>,
    /// Whether the first layer's weight had its gradient already.
    first_layer_done: bool,
}

struct RecordingGroup {
    first_layer_weight: Mutex<Option<Tensor<Cpu>>>,
    seen: Mutex<Vec<Seen>>,
}

impl RecordingGroup {
    fn new() -> Arc<Self> {
        Arc::new(RecordingGroup {
            first_layer_weight: Mutex::new(None),
            seen: Mutex::new(Vec::new()),
        })
    }
}

impl ProcessGroup<Cpu> for RecordingGroup {
    fn rank(&self) -> usize {
        0
    }
    fn world_size(&self) -> usize {
        1
    }
    fn backend_name(&self) -> &'static str {
        "recording"
    }
    fn timeout(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn all_reduce_async(&self, tensor: &Tensor<Cpu>, op: ReduceOp) -> Result<Work> {
        if op == ReduceOp::Max {
            // find_unused_parameters' "used on some rank" flags: not a bucket.
            return Ok(Work::done("all_reduce"));
        }
        assert_eq!(op, ReduceOp::Avg, "DDP averages gradients");
        let first_layer_done = self
            .first_layer_weight
            .lock()
            .unwrap()
            .as_ref()
            .is_some_and(|w| w.grad().is_some());
        self.seen.lock().unwrap().push(Seen {
            numel: tensor.numel(),
            values: tensor.to_vec()?,
            first_layer_done,
        });
        Ok(Work::done("all_reduce"))
    }
    fn broadcast_async(&self, _: &Tensor<Cpu>, _: usize) -> Result<Work> {
        Ok(Work::done("broadcast"))
    }
    fn all_gather_async(&self, outputs: &[Tensor<Cpu>], input: &Tensor<Cpu>) -> Result<Work> {
        outputs[0].copy_(input)?;
        Ok(Work::done("all_gather"))
    }
    fn reduce_scatter_async(
        &self,
        output: &Tensor<Cpu>,
        inputs: &[Tensor<Cpu>],
        _: ReduceOp,
    ) -> Result<Work> {
        output.copy_(&inputs[0])?;
        Ok(Work::done("reduce_scatter"))
    }
    fn barrier_async(&self) -> Result<Work> {
        Ok(Work::done("barrier"))
    }
}

#[test]
fn buckets_start_in_order_during_backward_with_their_gradients() -> Result<()> {
    manual_seed(0);
    let model = Sequential::new(vec![
        Box::new(Linear::new(8, 32, true, &Cpu)?) as Box<dyn Module<Cpu>>,
        Box::new(Relu),
        Box::new(Linear::new(32, 32, true, &Cpu)?),
        Box::new(Relu),
        Box::new(Linear::new(32, 4, true, &Cpu)?),
    ]);
    let group = RecordingGroup::new();
    // 1 KiB buckets: 256 f32 each (a parameter bigger than that gets a bucket of its own).
    let config = DdpConfig {
        bucket_cap_mb: 1.0 / 1024.0,
        first_bucket_cap_mb: 1.0 / 1024.0,
        ..DdpConfig::default()
    };
    let ddp = DistributedDataParallel::new(model, group.clone(), config)?;
    *group.first_layer_weight.lock().unwrap() = Some(ddp.parameters()[0].clone());
    let names = ddp.bucket_names();
    // Reverse order: 4.bias (4) + 4.weight (128) + 2.bias (32) = 164 < 256, then 2.weight
    // (1024) closes that bucket; 0.bias (32) + 0.weight (256) closes the next.
    assert_eq!(
        names,
        vec![
            vec!["4.bias", "4.weight", "2.bias", "2.weight"],
            vec!["0.bias", "0.weight"],
        ]
    );

    let x = Tensor::randn(&[5, 8], DType::F32, &Cpu)?;
    let y = Tensor::randn(&[5, 4], DType::F32, &Cpu)?;
    mse_loss(&ddp.forward(&x)?, &y, Reduction::Mean)?.backward()?;
    let seen = group.seen.lock().unwrap().clone();
    assert_eq!(
        seen.iter().map(|s| s.numel).collect::<Vec<_>>(),
        vec![4 + 128 + 32 + 1024, 32 + 256]
    );
    assert!(
        !seen[0].first_layer_done,
        "the first bucket must start before backward reaches layer 0"
    );
    assert!(seen[1].first_layer_done);

    // Each bucket holds its parameters' gradients, flattened, in bucket order.
    let params: std::collections::HashMap<String, Tensor<Cpu>> =
        ddp.module().named_parameters().into_iter().collect();
    for (bucket, seen) in names.iter().zip(&seen) {
        let expected: Vec<f32> = bucket
            .iter()
            .flat_map(|name| params[name].grad().unwrap().to_vec::<f32>().unwrap())
            .collect();
        assert_eq!(seen.values, expected);
    }

    // Under no_sync nothing is sent; the next synchronized backward sends the sums.
    {
        let _guard = ddp.no_sync();
        mse_loss(&ddp.forward(&x)?, &y, Reduction::Mean)?.backward()?;
    }
    assert_eq!(group.seen.lock().unwrap().len(), 2);
    mse_loss(&ddp.forward(&x)?, &y, Reduction::Mean)?.backward()?;
    let seen = group.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 4);
    // Three backwards of the same batch: the accumulated gradient is three times the first.
    for (first, third) in seen[0].values.iter().zip(&seen[2].values) {
        assert!(
            (third - 3.0 * first).abs() <= 1e-5 * first.abs().max(1.0),
            "{third} vs 3 × {first}"
        );
    }
    Ok(())
}

/// Frozen parameters (a fine-tuned model's backbone) get no gradient: DDP leaves them out of
/// its buckets, as PyTorch does, instead of refusing to wrap the model.
#[test]
fn frozen_parameters_stay_out_of_the_buckets() -> Result<()> {
    manual_seed(1);
    let backbone = Linear::new(8, 16, true, &Cpu)?;
    for p in backbone.parameters() {
        p.requires_grad_(false)?;
    }
    let model = Sequential::new(vec![
        Box::new(backbone) as Box<dyn Module<Cpu>>,
        Box::new(Relu),
        Box::new(Linear::new(16, 4, true, &Cpu)?),
    ]);
    let group = RecordingGroup::new();
    let ddp = DistributedDataParallel::new(model, group.clone(), DdpConfig::default())?;
    assert_eq!(ddp.bucket_names(), vec![vec!["2.bias", "2.weight"]]);
    let x = Tensor::randn(&[5, 8], DType::F32, &Cpu)?;
    let y = Tensor::randn(&[5, 4], DType::F32, &Cpu)?;
    mse_loss(&ddp.forward(&x)?, &y, Reduction::Mean)?.backward()?;
    let seen = group.seen.lock().unwrap().clone();
    assert_eq!(
        seen.iter().map(|s| s.numel).collect::<Vec<_>>(),
        vec![4 + 64]
    );
    Ok(())
}

/// A trunk and two heads; `head_b` takes part only while `use_b` is set.
struct Heads {
    trunk: Linear<Cpu>,
    head_a: Linear<Cpu>,
    head_b: Linear<Cpu>,
    use_b: std::sync::atomic::AtomicBool,
}

impl Module<Cpu> for Heads {
    fn forward(&self, x: &Tensor<Cpu>) -> Result<Tensor<Cpu>> {
        let h = self.trunk.forward(x)?.tanh()?;
        let out = self.head_a.forward(&h)?;
        if self.use_b.load(std::sync::atomic::Ordering::Relaxed) {
            out.add(&self.head_b.forward(&h)?)
        } else {
            Ok(out)
        }
    }

    fn children(&self) -> Vec<(String, &dyn Module<Cpu>)> {
        vec![
            ("trunk".into(), &self.trunk as &dyn Module<Cpu>),
            ("head_a".into(), &self.head_a),
            ("head_b".into(), &self.head_b),
        ]
    }
}

fn heads_ddp(use_b: bool) -> Result<(DistributedDataParallel<Cpu, Heads>, Arc<RecordingGroup>)> {
    manual_seed(2);
    let heads = Heads {
        trunk: Linear::new(8, 6, true, &Cpu)?,
        head_a: Linear::new(6, 4, true, &Cpu)?,
        head_b: Linear::new(6, 4, true, &Cpu)?,
        use_b: use_b.into(),
    };
    let group = RecordingGroup::new();
    let config = DdpConfig {
        find_unused_parameters: true,
        ..DdpConfig::default()
    };
    Ok((
        DistributedDataParallel::new(heads, group.clone(), config)?,
        group,
    ))
}

/// With find_unused_parameters, a forward that no backward follows (an evaluation pass with
/// grad mode on) starts nothing and leaves the next iteration free to run.
#[test]
fn a_forward_without_backward_leaves_nothing_half_done() -> Result<()> {
    let (ddp, group) = heads_ddp(false)?;
    let x = Tensor::randn(&[5, 8], DType::F32, &Cpu)?;
    let y = Tensor::randn(&[5, 4], DType::F32, &Cpu)?;
    ddp.forward(&x)?;
    assert!(group.seen.lock().unwrap().is_empty());
    mse_loss(&ddp.forward(&x)?, &y, Reduction::Mean)?.backward()?;
    assert_eq!(group.seen.lock().unwrap().len(), 1);
    assert!(ddp.module().head_b.parameters()[0].grad().is_none());
    Ok(())
}

/// A head used in a `no_sync` micro-step but not in the synchronized step still has an
/// accumulated gradient: it is averaged with the rest (as PyTorch counts it used), not replaced
/// by zeros or left out.
#[test]
fn a_parameter_used_only_under_no_sync_is_averaged() -> Result<()> {
    let (ddp, group) = heads_ddp(true)?;
    let x = Tensor::randn(&[5, 8], DType::F32, &Cpu)?;
    let y = Tensor::randn(&[5, 4], DType::F32, &Cpu)?;
    {
        let _guard = ddp.no_sync();
        mse_loss(&ddp.forward(&x)?, &y, Reduction::Mean)?.backward()?;
    }
    let head_b: Vec<Vec<f32>> = ddp
        .module()
        .head_b
        .parameters()
        .iter()
        .map(|p| p.grad().unwrap().to_vec::<f32>().unwrap())
        .collect();
    ddp.module()
        .use_b
        .store(false, std::sync::atomic::Ordering::Relaxed);
    mse_loss(&ddp.forward(&x)?, &y, Reduction::Mean)?.backward()?;
    let seen = group.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    // The one bucket holds, in reverse order, head_b's bias then weight before the rest.
    let names = ddp.bucket_names().concat();
    assert_eq!(&names[..2], ["head_b.bias", "head_b.weight"]);
    let sent: Vec<f32> = head_b[1].iter().chain(&head_b[0]).copied().collect();
    assert_eq!(&seen[0].values[..sent.len()], &sent[..]);
    Ok(())
}
