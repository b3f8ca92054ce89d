//! nn against independent references: hand float64 math, PyTorch's naming and error rules.

use std::sync::Arc;
use tiny_torch_core::{DType, Result};
use tiny_torch_cpu::Cpu;
use tiny_torch_nn::functional::{self as F, CrossEntropyOptions, Reduction};
use tiny_torch_nn::init::{self, FanMode};
use tiny_torch_nn::{Dropout, Flatten, Gelu, Identity, Linear, Module, Relu, Sequential, Tanh};
use tiny_torch_tensor::autograd::gradcheck;
use tiny_torch_tensor::{Generator, Tensor};

fn t64(values: &[f64], shape: &[usize]) -> Tensor<Cpu> {
    Tensor::from_slice(values, shape, &Cpu).unwrap()
}

fn close(got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "element {i}: got {g}, want {w}"
        );
    }
}

fn scalar(t: &Tensor<Cpu>) -> f64 {
    t.to_f64_vec().unwrap()[0]
}

#[test]
fn linear_forward_matches_hand_matmul() {
    let generator = Generator::new(7);
    let layer = Linear::new_with(5, 3, true, DType::F32, &Cpu, &generator).unwrap();
    let x: Vec<f32> = (0..10).map(|i| (i as f32 * 0.37).sin()).collect();
    let y = layer
        .forward(&Tensor::from_slice(&x, &[2, 5], &Cpu).unwrap())
        .unwrap();
    assert_eq!(y.dims(), &[2, 3]);
    let w = layer.weight.to_f64_vec().unwrap();
    let b = layer.bias.as_ref().unwrap().to_f64_vec().unwrap();
    let mut want = vec![0.0; 6];
    for n in 0..2 {
        for o in 0..3 {
            want[n * 3 + o] = b[o]
                + (0..5)
                    .map(|i| x[n * 5 + i] as f64 * w[o * 5 + i])
                    .sum::<f64>();
        }
    }
    close(&y.to_f64_vec().unwrap(), &want, 1e-6);
}

#[test]
fn linear_init_follows_pytorch_bounds_and_seed() {
    let a = Linear::new_with(100, 20, true, DType::F32, &Cpu, &Generator::new(3)).unwrap();
    let b = Linear::new_with(100, 20, true, DType::F32, &Cpu, &Generator::new(3)).unwrap();
    let bound = 1.0 / 10.0;
    let w = a.weight.to_f64_vec().unwrap();
    assert!(w.iter().all(|v| v.abs() <= bound));
    // U(-1/√in, 1/√in) has std bound/√3.
    let std = (w.iter().map(|v| v * v).sum::<f64>() / w.len() as f64).sqrt();
    assert!((std - bound / 3f64.sqrt()).abs() < 0.1 * bound, "{std}");
    assert!(
        a.bias
            .as_ref()
            .unwrap()
            .to_f64_vec()
            .unwrap()
            .iter()
            .all(|v| v.abs() <= bound)
    );
    assert_eq!(w, b.weight.to_f64_vec().unwrap());
    assert!(a.weight.requires_grad() && a.weight.is_leaf());
    assert_eq!((a.in_features(), a.out_features()), (100, 20));
}

fn mlp() -> Sequential<Cpu> {
    Sequential::new(vec![])
        .append(Linear::new(4, 3, true, &Cpu).unwrap())
        .append(Relu)
        .append(
            Sequential::new(vec![])
                .append(Identity)
                .append(Linear::new(3, 2, false, &Cpu).unwrap()),
        )
}

#[test]
fn sequential_names_follow_pytorch() {
    let model = mlp();
    let names: Vec<String> = model.state_dict().into_iter().map(|(k, _)| k).collect();
    assert_eq!(names, ["0.weight", "0.bias", "2.1.weight"]);
    let params: Vec<String> = model
        .named_parameters()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(params, names);
    assert!(model.named_buffers().is_empty());
    assert_eq!(model.num_parameters(), 4 * 3 + 3 + 3 * 2);
    assert_eq!(model.len(), 3);
    // state_dict entries are detached but share storage with the parameters.
    let (_, w) = &model.state_dict()[0];
    assert!(!w.requires_grad() && w.shares_storage_with(&model.parameters()[0]));
}

#[test]
fn load_state_dict_copies_and_reports_bad_keys() {
    let src = mlp();
    let dst = mlp();
    dst.load_state_dict(&src.state_dict(), true).unwrap();
    for ((_, a), (_, b)) in src.state_dict().iter().zip(dst.state_dict().iter()) {
        assert_eq!(a.to_f64_vec().unwrap(), b.to_f64_vec().unwrap());
    }
    // Parameters keep requires_grad after a load.
    assert!(dst.parameters().iter().all(Tensor::requires_grad));

    let before = dst.state_dict()[0].1.to_f64_vec().unwrap();
    let mut state = src.state_dict();
    state.retain(|(k, _)| k != "0.bias");
    state.push((
        "3.weight".into(),
        Tensor::zeros(&[1], DType::F32, &Cpu).unwrap(),
    ));
    state[0].1 = Tensor::zeros(&[3, 5], DType::F32, &Cpu).unwrap();
    let err = dst.load_state_dict(&state, true).unwrap_err().to_string();
    for word in [
        "Missing",
        "\"0.bias\"",
        "Unexpected",
        "\"3.weight\"",
        "size mismatch for 0.weight",
        "[3, 5]",
        "[3, 4]",
    ] {
        assert!(err.contains(word), "{word} not in {err}");
    }
    assert_eq!(
        dst.state_dict()[0].1.to_f64_vec().unwrap(),
        before,
        "nothing written"
    );

    // Non-strict: missing and unexpected keys are reported, shape mismatches still fail.
    state[0].1 = src.state_dict()[0].1.clone();
    let report = dst.load_state_dict(&state, false).unwrap();
    assert_eq!(report.missing_keys, ["0.bias"]);
    assert_eq!(report.unexpected_keys, ["3.weight"]);
    state[0].1 = Tensor::zeros(&[3, 5], DType::F32, &Cpu).unwrap();
    assert!(dst.load_state_dict(&state, false).is_err());
}

#[test]
fn train_eval_and_dropout() {
    let model = Sequential::new(vec![])
        .append(Dropout::new(0.25).with_generator(Arc::new(Generator::new(1))))
        .append(Tanh);
    assert!(model.is_training());
    let x = Tensor::ones(&[4000], DType::F64, &Cpu).unwrap();
    let y = model
        .get(0)
        .unwrap()
        .forward(&x)
        .unwrap()
        .to_f64_vec()
        .unwrap();
    let zeros = y.iter().filter(|&&v| v == 0.0).count();
    assert!(
        y.iter()
            .all(|&v| v == 0.0 || (v - 1.0 / 0.75).abs() < 1e-12)
    );
    assert!((zeros as f64 / 4000.0 - 0.25).abs() < 0.03, "{zeros}");
    // Seeded: the same generator seed gives the same mask.
    let again = Dropout::new(0.25).with_generator(Arc::new(Generator::new(1)));
    assert_eq!(again.forward(&x).unwrap().to_f64_vec().unwrap(), y);

    model.eval();
    assert!(!model.is_training() && !model.get(0).unwrap().is_training());
    assert_eq!(
        model
            .get(0)
            .unwrap()
            .forward(&x)
            .unwrap()
            .to_f64_vec()
            .unwrap(),
        vec![1.0; 4000]
    );
    model.train();
    assert!(model.get(0).unwrap().is_training());
    assert!(F::dropout(&x, 1.5, true).is_err());
}

#[test]
fn activations_and_flatten() {
    let x = t64(&[-1.0, 0.5, 2.0, -0.25, 0.0, 3.0], &[1, 2, 3]);
    let y = Flatten::default().forward(&x).unwrap();
    assert_eq!(y.dims(), &[1, 6]);
    let g = Gelu.forward(&x).unwrap().to_f64_vec().unwrap();
    // gelu(2) = 2 Φ(2) = 1.9544997361036416
    assert!((g[2] - 1.954_499_736_103_641_6).abs() < 1e-12);
    let s = tiny_torch_nn::Softmax::new(-1)
        .forward(&x)
        .unwrap()
        .sum_dim(&[-1], false)
        .unwrap();
    close(&s.to_f64_vec().unwrap(), &[1.0, 1.0], 1e-12);
}

/// Hand float64 cross entropy: weights, ignore_index, label smoothing, mean over weights.
fn hand_cross_entropy(
    logits: &[f64],
    classes: usize,
    target: &[i64],
    weight: &[f64],
    ignore: i64,
    eps: f64,
) -> (Vec<f64>, f64) {
    let mut losses = Vec::new();
    let mut total = 0.0;
    for (n, &t) in target.iter().enumerate() {
        if t == ignore {
            losses.push(0.0);
            continue;
        }
        let row = &logits[n * classes..(n + 1) * classes];
        let max = row.iter().cloned().fold(f64::MIN, f64::max);
        let lse = max + row.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
        let logp: Vec<f64> = row.iter().map(|v| v - lse).collect();
        let nll = -weight[t as usize] * logp[t as usize];
        let smooth: f64 = -(0..classes).map(|c| weight[c] * logp[c]).sum::<f64>();
        losses.push((1.0 - eps) * nll + eps / classes as f64 * smooth);
        total += weight[t as usize];
    }
    let mean = losses.iter().sum::<f64>() / total;
    (losses, mean)
}

#[test]
fn cross_entropy_matches_hand_f64() {
    let logits: Vec<f64> = (0..20).map(|i| ((i * 7 % 11) as f64 - 5.0) * 0.4).collect();
    let target = [3i64, 0, -100, 4];
    let weight = [0.5, 1.0, 2.0, 1.5, 0.25];
    let x = t64(&logits, &[4, 5]);
    let t = Tensor::from_slice(&target, &[4], &Cpu).unwrap();
    let w = t64(&weight, &[5]);
    for eps in [0.0, 0.1] {
        let (losses, mean) = hand_cross_entropy(&logits, 5, &target, &weight, -100, eps);
        let mut opts = CrossEntropyOptions {
            weight: Some(w.clone()),
            label_smoothing: eps,
            ..Default::default()
        };
        close(
            &[scalar(&F::cross_entropy_with(&x, &t, &opts).unwrap())],
            &[mean],
            1e-12,
        );
        opts.reduction = Reduction::None;
        close(
            &F::cross_entropy_with(&x, &t, &opts)
                .unwrap()
                .to_f64_vec()
                .unwrap(),
            &losses,
            1e-12,
        );
        opts.reduction = Reduction::Sum;
        let sum: f64 = losses.iter().sum();
        close(
            &[scalar(&F::cross_entropy_with(&x, &t, &opts).unwrap())],
            &[sum],
            1e-12,
        );
    }
    // Unweighted mean = mean over the non-ignored targets; nll_loss on log_softmax agrees.
    let (_, mean) = hand_cross_entropy(&logits, 5, &target, &[1.0; 5], -100, 0.0);
    close(
        &[scalar(&F::cross_entropy(&x, &t).unwrap())],
        &[mean],
        1e-12,
    );
    let nll = F::nll_loss(&x.log_softmax(1).unwrap(), &t).unwrap();
    close(&[scalar(&nll)], &[mean], 1e-12);
    // Gradients of the weighted, smoothed loss by finite differences.
    let opts = CrossEntropyOptions {
        weight: Some(w.clone()),
        label_smoothing: 0.2,
        ..Default::default()
    };
    gradcheck(
        |inp: &[Tensor<Cpu>]| F::cross_entropy_with(&inp[0], &inp[1], &opts),
        &[x.clone(), t.clone()],
        1e-6,
        1e-7,
        1e-5,
    )
    .unwrap();
    // Shape errors name the op.
    let bad = Tensor::from_slice(&[0i64, 1], &[2], &Cpu).unwrap();
    let err = F::cross_entropy(&x, &bad).unwrap_err().to_string();
    assert!(err.contains("cross_entropy"), "{err}");
    assert!(Reduction::parse("avg").is_err());
}

#[test]
fn pointwise_losses_match_hand_f64() {
    let a = [0.2, -1.5, 3.0, 0.05];
    let b = [0.7, -1.0, 0.5, 0.0];
    let (x, y) = (t64(&a, &[2, 2]), t64(&b, &[2, 2]));
    let d: Vec<f64> = a.iter().zip(&b).map(|(p, q)| p - q).collect();
    let mean = |v: Vec<f64>| v.iter().sum::<f64>() / v.len() as f64;
    close(
        &[scalar(&F::mse_loss(&x, &y, Reduction::Mean).unwrap())],
        &[mean(d.iter().map(|v| v * v).collect())],
        1e-12,
    );
    close(
        &[scalar(&F::l1_loss(&x, &y, Reduction::Sum).unwrap())],
        &[d.iter().map(|v| v.abs()).sum()],
        1e-12,
    );
    let beta = 0.8;
    let sl1: Vec<f64> = d
        .iter()
        .map(|v| {
            if v.abs() < beta {
                0.5 * v * v / beta
            } else {
                v.abs() - 0.5 * beta
            }
        })
        .collect();
    close(
        &F::smooth_l1_loss(&x, &y, Reduction::None, beta)
            .unwrap()
            .to_f64_vec()
            .unwrap(),
        &sl1,
        1e-12,
    );

    // BCE on probabilities and on logits (with pos_weight and weight).
    let p: [f64; 4] = [0.1, 0.9, 0.5, 0.3];
    let t: [f64; 4] = [0.0, 1.0, 1.0, 0.25];
    let bce: Vec<f64> = p
        .iter()
        .zip(&t)
        .map(|(p, t)| -(t * p.ln() + (1.0 - t) * (1.0 - p).ln()))
        .collect();
    let got =
        F::binary_cross_entropy(&t64(&p, &[4]), &t64(&t, &[4]), None, Reduction::None).unwrap();
    close(&got.to_f64_vec().unwrap(), &bce, 1e-12);
    let pw = [2.0, 0.5, 1.0, 3.0];
    let w = [1.0, 2.0, 0.5, 1.0];
    let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
    let with_logits: Vec<f64> = (0..4)
        .map(|i| -w[i] * (pw[i] * t[i] * sig(a[i]).ln() + (1.0 - t[i]) * (1.0 - sig(a[i])).ln()))
        .collect();
    let got = F::binary_cross_entropy_with_logits(
        &t64(&a, &[4]),
        &t64(&t, &[4]),
        Some(&t64(&w, &[4])),
        Some(&t64(&pw, &[4])),
        Reduction::None,
    )
    .unwrap();
    close(&got.to_f64_vec().unwrap(), &with_logits, 1e-12);
    let plain: Vec<f64> = (0..4)
        .map(|i| -(t[i] * sig(a[i]).ln() + (1.0 - t[i]) * (1.0 - sig(a[i])).ln()))
        .collect();
    let got = F::binary_cross_entropy_with_logits(
        &t64(&a, &[4]),
        &t64(&t, &[4]),
        None,
        None,
        Reduction::Mean,
    )
    .unwrap();
    close(&[scalar(&got)], &[mean(plain)], 1e-12);
    assert!(F::mse_loss(&x, &t64(&a, &[4]), Reduction::Mean).is_err());
}

#[test]
fn norms_match_hand_f64() {
    let v: Vec<f64> = (0..12).map(|i| (i as f64 * 1.3).sin()).collect();
    let x = t64(&v, &[2, 2, 3]);
    let w = t64(&[1.0, 2.0, 0.5], &[3]);
    let b = t64(&[0.0, -1.0, 0.25], &[3]);
    let got = F::layer_norm(&x, &[3], Some(&w), Some(&b), 1e-5)
        .unwrap()
        .to_f64_vec()
        .unwrap();
    let (wv, bv) = ([1.0, 2.0, 0.5], [0.0, -1.0, 0.25]);
    let mut want = Vec::new();
    for row in v.chunks(3) {
        let m = row.iter().sum::<f64>() / 3.0;
        let var = row.iter().map(|r| (r - m).powi(2)).sum::<f64>() / 3.0;
        for (k, r) in row.iter().enumerate() {
            want.push((r - m) / (var + 1e-5).sqrt() * wv[k] + bv[k]);
        }
    }
    close(&got, &want, 1e-12);
    assert!(F::layer_norm(&x, &[4], None, None, 1e-5).is_err());

    // group_norm with 1 group per sample = normalize over all of [C, *].
    let got = F::group_norm(&x, 1, None, None, 1e-5)
        .unwrap()
        .to_f64_vec()
        .unwrap();
    let mut want = Vec::new();
    for sample in v.chunks(6) {
        let m = sample.iter().sum::<f64>() / 6.0;
        let var = sample.iter().map(|r| (r - m).powi(2)).sum::<f64>() / 6.0;
        want.extend(sample.iter().map(|r| (r - m) / (var + 1e-5).sqrt()));
    }
    close(&got, &want, 1e-12);
    let err = F::group_norm(&x, 3, None, None, 1e-5)
        .unwrap_err()
        .to_string();
    assert!(err.contains("divisible"), "{err}");
}

/// f16/bf16 norms compute in f32 and round once, as PyTorch's: bf16 rounds the mean of
/// [100, 100.5, 101, 101.5] (100.75) to 101, so a bf16 computation would be far off
/// (PyTorch 2.15: [-1.3438, -0.4473, 0.4473, 1.3438]).
#[test]
fn half_precision_norms_compute_in_f32() {
    let v = [100.0, 100.5, 101.0, 101.5, -3.0, 2.0, 7.5, 0.25];
    let (w, b) = ([1.5, -0.5, 2.0, 1.0], [0.25, 0.0, -1.0, 0.5]);
    let mut want = Vec::new();
    for row in v.chunks(4) {
        let m = row.iter().sum::<f64>() / 4.0;
        let var = row.iter().map(|r| (r - m).powi(2)).sum::<f64>() / 4.0;
        for (k, r) in row.iter().enumerate() {
            want.push((r - m) / (var + 1e-5).sqrt() * w[k] + b[k]);
        }
    }
    for dtype in [DType::BF16, DType::F16] {
        let half = |values: &[f64], shape: &[usize]| t64(values, shape).to_dtype(dtype).unwrap();
        let x = half(&v, &[2, 4]);
        let (wt, bt) = (half(&w, &[4]), half(&b, &[4]));
        // One rounding of the exact result: within half a unit in the last place, plus the
        // f32 computation's error.
        let unit = if dtype == DType::BF16 {
            2f64.powi(-8)
        } else {
            2f64.powi(-11)
        };
        let y = F::layer_norm(&x, &[4], Some(&wt), Some(&bt), 1e-5).unwrap();
        assert_eq!(y.dtype(), dtype);
        close(&y.to_f64_vec().unwrap(), &want, unit);
        // group_norm over one group of [C = 4] per sample is the same normalization.
        let y = F::group_norm(&x.reshape(&[2, 4, 1]).unwrap(), 1, None, None, 1e-5).unwrap();
        let plain: Vec<f64> = (0..8).map(|i| (want[i] - b[i % 4]) / w[i % 4]).collect();
        close(&y.to_f64_vec().unwrap(), &plain, unit);
    }
}

#[test]
fn init_functions() -> Result<()> {
    let t = Tensor::zeros(&[64, 32], DType::F64, &Cpu)?.requires_grad_(true)?;
    let generator = Generator::new(5);
    init::xavier_uniform_(&t, 1.0, Some(&generator))?;
    let bound = (6.0f64 / 96.0).sqrt();
    assert!(t.to_f64_vec()?.iter().all(|v| v.abs() <= bound));
    assert!(t.is_leaf() && t.requires_grad(), "init keeps the leaf");
    init::kaiming_normal_(&t, 0.0, FanMode::FanIn, "relu", Some(&generator))?;
    let v = t.to_f64_vec()?;
    let std = (v.iter().map(|x| x * x).sum::<f64>() / v.len() as f64).sqrt();
    assert!((std - (2.0f64 / 32.0).sqrt()).abs() < 0.03, "{std}");
    init::constant_(&t, 0.5)?;
    assert!(t.to_f64_vec()?.iter().all(|&v| v == 0.5));
    init::zeros_(&t)?;
    init::ones_(&t)?;
    assert!(t.to_f64_vec()?.iter().all(|&v| v == 1.0));
    assert!(
        (init::calculate_gain("leaky_relu", Some(5f64.sqrt()))? - (1.0f64 / 3.0).sqrt()).abs()
            < 1e-15
    );
    assert!(init::calculate_gain("nope", None).is_err());
    assert!(
        init::kaiming_uniform_(
            &Tensor::zeros(&[3], DType::F32, &Cpu)?,
            0.0,
            FanMode::FanIn,
            "relu",
            None
        )
        .is_err()
    );
    Ok(())
}

#[test]
fn zero_grad_clears_grads() {
    let model = mlp();
    let x = Tensor::ones(&[2, 4], DType::F32, &Cpu).unwrap();
    model
        .forward(&x)
        .unwrap()
        .sum()
        .unwrap()
        .backward()
        .unwrap();
    assert!(model.parameters().iter().all(|p| p.grad().is_some()));
    model.zero_grad();
    assert!(model.parameters().iter().all(|p| p.grad().is_none()));
}

#[test]
fn norm_and_embedding_modules() {
    let x = t64(
        &(0..24).map(|i| (i as f64 * 0.7).cos()).collect::<Vec<_>>(),
        &[2, 4, 3],
    );
    let ln = tiny_torch_nn::LayerNorm::new_with(&[4, 3], 1e-5, true, DType::F64, &Cpu).unwrap();
    let names: Vec<String> = ln.named_parameters().into_iter().map(|(k, _)| k).collect();
    assert_eq!(names, ["weight", "bias"]);
    let want = F::layer_norm(&x, &[4, 3], None, None, 1e-5).unwrap();
    close(
        &ln.forward(&x).unwrap().to_f64_vec().unwrap(),
        &want.to_f64_vec().unwrap(),
        1e-12,
    );
    let gn = tiny_torch_nn::GroupNorm::new_with(2, 4, 1e-5, true, DType::F64, &Cpu).unwrap();
    assert_eq!(gn.num_parameters(), 8);
    let want = F::group_norm(&x, 2, None, None, 1e-5).unwrap();
    close(
        &gn.forward(&x).unwrap().to_f64_vec().unwrap(),
        &want.to_f64_vec().unwrap(),
        1e-12,
    );
    assert!(tiny_torch_nn::GroupNorm::<Cpu>::new(3, 4, &Cpu).is_err());

    let emb =
        tiny_torch_nn::Embedding::new_with(5, 2, DType::F64, &Cpu, &Generator::new(2)).unwrap();
    let idx = Tensor::from_slice(&[4i64, 0, 4], &[3, 1], &Cpu).unwrap();
    let out = emb.forward(&idx).unwrap();
    assert_eq!(out.dims(), &[3, 1, 2]);
    let w = emb.weight.to_f64_vec().unwrap();
    close(
        &out.to_f64_vec().unwrap(),
        &[w[8], w[9], w[0], w[1], w[8], w[9]],
        0.0,
    );
    out.sum().unwrap().backward().unwrap();
    let g = emb.weight.grad().unwrap().to_f64_vec().unwrap();
    assert_eq!(g, [1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 2.0]);
}

/// `binary_cross_entropy_with_logits` differentiates to PyTorch's `lw sigmoid(x) - pw y` at
/// x = 0 too (zero-initialised logits), with and without `pos_weight`: values PyTorch 2.15.0
/// gives in float64 for the same calls, mean reduction.
#[test]
fn bce_with_logits_gradient_at_zero_matches_torch() {
    let target = t64(&[0.0, 1.0, 0.5], &[3]);
    let x = t64(&[0.0, 0.0, 0.0], &[3]).requires_grad_(true).unwrap();
    F::binary_cross_entropy_with_logits(&x, &target, None, None, Reduction::Mean)
        .unwrap()
        .backward()
        .unwrap();
    let g = x.grad().unwrap().to_f64_vec().unwrap();
    close(&g, &[1.0 / 6.0, -1.0 / 6.0, 0.0], 1e-12);
    let x = t64(&[0.0, 0.0, 1.0], &[3]).requires_grad_(true).unwrap();
    let pos_weight = t64(&[2.0, 3.0, 1.5], &[3]);
    F::binary_cross_entropy_with_logits(&x, &target, None, Some(&pos_weight), Reduction::Mean)
        .unwrap()
        .backward()
        .unwrap();
    let g = x.grad().unwrap().to_f64_vec().unwrap();
    close(&g, &[1.0 / 6.0, -0.5, 0.0546077411], 1e-9);
}

#[test]
fn nll_loss_of_a_scalar_is_an_error() {
    let err = F::nll_loss(
        &t64(&[-0.5], &[]),
        &Tensor::from_vec(vec![0i64], &[], &Cpu).unwrap(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("nll_loss") && err.contains("1 or more dimensions"),
        "{err}"
    );
}

/// `binary_cross_entropy` at probabilities of exactly 0 and 1 (a saturated sigmoid): the
/// loss takes the clamped logs, the gradient is PyTorch's finite `(x - y) / max(x (1 - x),
/// 1e-12)`, not NaN. Values PyTorch 2.15.0 gives in float64, mean reduction.
#[test]
fn bce_at_probabilities_zero_and_one_matches_torch() {
    let x = t64(&[1.0, 0.0, 0.0, 1.0], &[4])
        .requires_grad_(true)
        .unwrap();
    let target = t64(&[1.0, 0.0, 1.0, 0.5], &[4]);
    let loss = F::binary_cross_entropy(&x, &target, None, Reduction::Mean).unwrap();
    // (0 + 0 + 100 + 50) / 4
    close(&[scalar(&loss)], &[37.5], 1e-12);
    loss.backward().unwrap();
    let g = x.grad().unwrap().to_f64_vec().unwrap();
    close(&g, &[0.0, 0.0, -2.5e11, 1.25e11], 1e-9);
}

/// Parameters of the wrong shape are errors, as in PyTorch, not broadcast: a layer-norm weight
/// of one of two normalized dims, a group-norm bias of the wrong length, a class weight for
/// probability targets of the wrong length, a padding index past the table. A layer with no
/// inputs builds (PyTorch's zero-element initialisation is a no-op) and returns its bias.
#[test]
fn misshapen_parameters_are_errors() {
    let x = t64(&(0..24).map(f64::from).collect::<Vec<_>>(), &[2, 3, 4]);
    let w4 = t64(&[1.0; 4], &[4]);
    let err = F::layer_norm(&x, &[3, 4], Some(&w4), None, 1e-5)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("layer_norm") && err.contains("[3, 4]") && err.contains("[4]"),
        "{err}"
    );
    let err = F::group_norm(&x, 3, None, Some(&w4), 1e-5)
        .unwrap_err()
        .to_string();
    assert!(err.contains("group_norm") && err.contains("[3]"), "{err}");
    let logits = t64(&[0.1, 0.2, 0.3, 0.4, 0.5, 0.6], &[2, 3]);
    let probs = t64(&[0.2, 0.3, 0.5, 1.0, 0.0, 0.0], &[2, 3]);
    let options = CrossEntropyOptions {
        weight: Some(t64(&[1.0, 2.0], &[2])),
        ..CrossEntropyOptions::default()
    };
    let err = F::cross_entropy_with(&logits, &probs, &options)
        .unwrap_err()
        .to_string();
    assert!(err.contains("3 classes"), "{err}");
    let table = t64(&[0.0; 6], &[3, 2]);
    let idx = Tensor::from_vec(vec![0i64, 2], &[2], &Cpu).unwrap();
    let err = F::embedding_with_padding(&idx, &table, Some(3))
        .unwrap_err()
        .to_string();
    assert!(err.contains("padding_idx 3"), "{err}");

    let empty = Linear::new(0, 4, true, &Cpu).unwrap();
    let out = empty
        .forward(&Tensor::zeros(&[2, 0], DType::F32, &Cpu).unwrap())
        .unwrap();
    assert_eq!(out.dims(), &[2, 4]);
    assert_eq!(out.to_f64_vec().unwrap(), vec![0.0; 8]);
}
