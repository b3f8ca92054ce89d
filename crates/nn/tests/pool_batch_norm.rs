//! The pooling and batch-norm modules against hand float64 math and PyTorch's rules: builder
//! defaults, parameter and buffer names (`running_mean`, `num_batches_tracked`), train/eval,
//! momentum and the cumulative average, `affine` / `track_running_stats`, input checks, state
//! dicts. (The ops themselves are checked in `tests/conformance/{pool,batch_norm}.rs`.)

use tiny_torch_core::{DType, Result};
use tiny_torch_cpu::Cpu;
use tiny_torch_nn::functional as F;
use tiny_torch_nn::{
    AdaptiveAvgPool2d, AvgPool2d, BatchNorm1d, BatchNorm2d, BatchNormOptions, MaxPool2d, Module,
    Relu, Sequential,
};
use tiny_torch_tensor::Tensor;

type T = Tensor<Cpu>;

fn input(shape: &[usize], seed: u64) -> T {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|i| ((i as f64 * 0.731 + seed as f64 * 1.37).sin() * 2.0 + 0.5) as f32)
        .collect();
    Tensor::from_slice(&v, shape, &Cpu).unwrap()
}

fn values(t: &T) -> Vec<f64> {
    t.to_f64_vec().unwrap()
}

fn close(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "{what}: element {i}: got {g}, want {w}"
        );
    }
}

/// Per channel of `[N, C, *]`: mean and biased variance, in f64.
fn channel_stats(x: &T) -> Vec<(f64, f64)> {
    let dims = x.dims().to_vec();
    let c = dims[1];
    let inner: usize = dims[2..].iter().product();
    let v = values(x);
    (0..c)
        .map(|ch| {
            let xs: Vec<f64> = (0..dims[0])
                .flat_map(|n| (0..inner).map(move |i| (n * c + ch) * inner + i))
                .map(|i| v[i])
                .collect();
            let m = xs.len() as f64;
            let mean = xs.iter().sum::<f64>() / m;
            let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / m;
            (mean, var)
        })
        .collect()
}

#[test]
fn pool_modules_follow_pytorch_defaults() -> Result<()> {
    let x = input(&[2, 3, 9, 8], 1);
    let m = MaxPool2d::new(3);
    assert_eq!((m.stride, m.padding, m.dilation), ([3, 3], [0, 0], [1, 1]));
    let m = MaxPool2d::new(3).stride(2).padding(1).ceil_mode(true);
    let want = F::max_pool2d(&x, 3, 2, 1, 1, true)?;
    assert_eq!(values(&Module::<Cpu>::forward(&m, &x)?), values(&want));
    let m = MaxPool2d::new([3, 2]).stride([1, 2]).dilation([2, 1]);
    let want = x.max_pool2d([3, 2], [1, 2], 0, [2, 1], false)?;
    assert_eq!(values(&m.forward(&x)?), values(&want));

    let a = AvgPool2d::new(2);
    assert!(a.count_include_pad && a.divisor_override.is_none() && a.stride == [2, 2]);
    let a = AvgPool2d::new(3)
        .stride(2)
        .padding(1)
        .count_include_pad(false)
        .divisor_override(Some(4));
    let want = F::avg_pool2d(&x, 3, 2, 1, false, false, Some(4))?;
    assert_eq!(values(&a.forward(&x)?), values(&want));

    let p = AdaptiveAvgPool2d::new([1, 1]);
    let y: T = p.forward(&x)?;
    assert_eq!(y.dims(), [2, 3, 1, 1]);
    close(
        "global average",
        &values(&y),
        &values(&x.mean_dim(&[2, 3], true)?),
        1e-6,
    );

    // No parameters, no buffers, no train/eval flag.
    let model: Sequential<Cpu> = Sequential::new(vec![])
        .append(MaxPool2d::new(2))
        .append(AvgPool2d::new(2))
        .append(AdaptiveAvgPool2d::new(1));
    assert!(model.state_dict().is_empty());
    Ok(())
}

/// A state dict without `num_batches_tracked` (as many safetensors files are) loads strictly:
/// PyTorch's batch norm fills the key in, keeping the module's count.
#[test]
fn batch_norm_loads_a_state_dict_without_its_count() -> Result<()> {
    let bn = BatchNorm2d::new(2, &Cpu)?;
    bn.num_batches_tracked.as_ref().unwrap().add_(5i64)?;
    let source = BatchNorm2d::new(2, &Cpu)?;
    source.running_mean.as_ref().unwrap().add_(1.5)?;
    let state: Vec<_> = source
        .state_dict()
        .into_iter()
        .filter(|(k, _)| k != "num_batches_tracked")
        .collect();
    let report = bn.load_state_dict(&state, true)?;
    assert!(report.missing_keys.is_empty(), "{:?}", report.missing_keys);
    assert_eq!(values(bn.running_mean.as_ref().unwrap()), [1.5; 2]);
    assert_eq!(bn.num_batches_tracked.as_ref().unwrap().item::<i64>()?, 5);
    // Any other missing key is still an error.
    let partial: Vec<_> = state
        .into_iter()
        .filter(|(k, _)| k != "running_var")
        .collect();
    assert!(bn.load_state_dict(&partial, true).is_err());
    Ok(())
}

#[test]
fn batch_norm_names_and_initial_values() -> Result<()> {
    let model = Sequential::new(vec![])
        .append(BatchNorm2d::new(4, &Cpu)?)
        .append(Relu)
        .append(BatchNorm1d::new(3, &Cpu)?);
    let keys: Vec<String> = model.state_dict().into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        [
            "0.weight",
            "0.bias",
            "0.running_mean",
            "0.running_var",
            "0.num_batches_tracked",
            "2.weight",
            "2.bias",
            "2.running_mean",
            "2.running_var",
            "2.num_batches_tracked",
        ]
    );
    let params: Vec<String> = model
        .named_parameters()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(params, ["0.weight", "0.bias", "2.weight", "2.bias"]);
    let bn = BatchNorm2d::new(4, &Cpu)?;
    assert_eq!(values(bn.weight.as_ref().unwrap()), [1.0; 4]);
    assert_eq!(values(bn.bias.as_ref().unwrap()), [0.0; 4]);
    assert_eq!(values(bn.running_mean.as_ref().unwrap()), [0.0; 4]);
    assert_eq!(values(bn.running_var.as_ref().unwrap()), [1.0; 4]);
    let count = bn.num_batches_tracked.as_ref().unwrap();
    assert_eq!((count.dtype(), count.dims()), (DType::I64, &[][..]));
    assert!((bn.eps, bn.momentum) == (1e-5, Some(0.1)));
    // affine = false: no parameters; track_running_stats = false: no buffers.
    let options = BatchNormOptions {
        affine: false,
        track_running_stats: false,
        ..Default::default()
    };
    let bare = BatchNorm2d::new_with(4, options, DType::F64, &Cpu)?;
    assert!(bare.state_dict().is_empty());
    Ok(())
}

#[test]
fn batch_norm_trains_with_momentum_and_evaluates_with_running_stats() -> Result<()> {
    let bn = BatchNorm2d::new(3, &Cpu)?;
    let (x1, x2) = (input(&[4, 3, 2, 5], 2), input(&[4, 3, 2, 5], 3));
    let m = 40.0;
    let (mut rm, mut rv) = (vec![0.0; 3], vec![1.0; 3]);
    for x in [&x1, &x2] {
        let y = bn.forward(x)?;
        let st = channel_stats(x);
        for (c, &(mean, var)) in st.iter().enumerate() {
            rm[c] = 0.9 * rm[c] + 0.1 * mean;
            rv[c] = 0.9 * rv[c] + 0.1 * var * m / (m - 1.0);
        }
        // Training normalizes with the batch statistics (weight 1, bias 0).
        let want: Vec<f64> = values(x)
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let (mean, var) = st[(i / 10) % 3];
                (v - mean) / (var + 1e-5).sqrt()
            })
            .collect();
        close("train output", &values(&y), &want, 1e-5);
    }
    close(
        "running_mean",
        &values(bn.running_mean.as_ref().unwrap()),
        &rm,
        1e-6,
    );
    close(
        "running_var",
        &values(bn.running_var.as_ref().unwrap()),
        &rv,
        1e-6,
    );
    assert_eq!(bn.num_batches_tracked.as_ref().unwrap().item::<i64>()?, 2);

    // Eval: the running statistics, which stay as they are; the counter too.
    bn.eval();
    let y = bn.forward(&x1)?;
    let want: Vec<f64> = values(&x1)
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let c = (i / 10) % 3;
            (v - rm[c]) / (rv[c] + 1e-5).sqrt()
        })
        .collect();
    close("eval output", &values(&y), &want, 1e-5);
    close(
        "running_mean after eval",
        &values(bn.running_mean.as_ref().unwrap()),
        &rm,
        1e-6,
    );
    assert_eq!(bn.num_batches_tracked.as_ref().unwrap().item::<i64>()?, 2);

    // The affine parameters get gradients.
    bn.train();
    bn.forward(&x1)?.mul(&x2)?.sum()?.backward()?;
    assert!(bn.weight.as_ref().unwrap().grad().is_some());
    assert!(bn.bias.as_ref().unwrap().grad().is_some());
    Ok(())
}

#[test]
fn batch_norm_momentum_none_is_a_cumulative_average() -> Result<()> {
    let options = BatchNormOptions {
        momentum: None,
        ..Default::default()
    };
    let bn = BatchNorm1d::new_with(2, options, DType::F64, &Cpu)?;
    let batches: Vec<T> = (0..3)
        .map(|k| input(&[5, 2], 10 + k).to_dtype(DType::F64).unwrap())
        .collect();
    let (mut means, mut vars) = (vec![0.0; 2], vec![0.0; 2]);
    for x in &batches {
        bn.forward(x)?;
        for (c, &(mean, var)) in channel_stats(x).iter().enumerate() {
            means[c] += mean / 3.0;
            vars[c] += var * 5.0 / 4.0 / 3.0;
        }
    }
    close(
        "mean of means",
        &values(bn.running_mean.as_ref().unwrap()),
        &means,
        1e-12,
    );
    close(
        "mean of variances",
        &values(bn.running_var.as_ref().unwrap()),
        &vars,
        1e-12,
    );
    Ok(())
}

#[test]
fn batch_norm_without_running_stats_uses_batch_stats_in_eval() -> Result<()> {
    let options = BatchNormOptions {
        track_running_stats: false,
        ..Default::default()
    };
    let bn = BatchNorm1d::new_with(3, options, DType::F32, &Cpu)?;
    let x = input(&[6, 3, 4], 20);
    let train = values(&bn.forward(&x)?);
    bn.eval();
    assert_eq!(values(&bn.forward(&x)?), train);
    Ok(())
}

#[test]
fn batch_norm_checks_inputs_and_changes_nothing_on_failure() -> Result<()> {
    let bn1 = BatchNorm1d::new(3, &Cpu)?;
    let err = bn1
        .forward(&input(&[2, 3, 4, 4], 1))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("BatchNorm1d") && err.contains("expected 2D or 3D input (got 4D input)"),
        "{err}"
    );
    let bn2 = BatchNorm2d::new(3, &Cpu)?;
    let err = bn2.forward(&input(&[2, 3, 4], 1)).unwrap_err().to_string();
    assert!(err.contains("expected 4D input (got 3D input)"), "{err}");
    // Wrong number of channels: an error, and neither the statistics nor the counter move.
    let err = bn2
        .forward(&input(&[2, 5, 4, 4], 1))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("running_mean should contain 5 elements not 3"),
        "{err}"
    );
    assert_eq!(bn2.num_batches_tracked.as_ref().unwrap().item::<i64>()?, 0);
    assert_eq!(values(bn2.running_mean.as_ref().unwrap()), [0.0; 3]);
    // One value per channel cannot be normalized in training.
    let err = bn1.forward(&input(&[1, 3], 1)).unwrap_err().to_string();
    assert!(
        err.contains("Expected more than 1 value per channel"),
        "{err}"
    );
    Ok(())
}

#[test]
fn batch_norm_state_dict_round_trips() -> Result<()> {
    let a = BatchNorm2d::new(2, &Cpu)?;
    a.forward(&input(&[3, 2, 3, 3], 30))?;
    a.forward(&input(&[3, 2, 3, 3], 31))?;
    let b = BatchNorm2d::new(2, &Cpu)?;
    b.load_state_dict(&a.state_dict(), true)?;
    for ((ka, ta), (kb, tb)) in a.state_dict().iter().zip(b.state_dict().iter()) {
        assert_eq!(ka, kb);
        assert_eq!(values(ta), values(tb), "{ka}");
    }
    assert_eq!(b.num_batches_tracked.as_ref().unwrap().item::<i64>()?, 2);
    b.reset_running_stats()?;
    assert_eq!(values(b.running_var.as_ref().unwrap()), [1.0; 2]);
    assert_eq!(b.num_batches_tracked.as_ref().unwrap().item::<i64>()?, 0);
    Ok(())
}
