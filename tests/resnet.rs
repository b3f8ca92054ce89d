//! `models::resnet*` against torchvision: parameter counts and names (no data needed), and
//! PyTorch's ResNet-18 golden (`../shared/reference/golden/resnet18.safetensors`: weights, an
//! input batch, eval and train logits, the loss, gradients of selected parameters and the BN
//! running statistics after one train-mode forward). The golden is 55 MB and lives outside the
//! repository: the test skips with a printed reason where it is absent.

#![cfg(feature = "cpu")]

use std::path::{Path, PathBuf};
use tiny_torch::nn::checkpoint::load_safetensors;
use tiny_torch::nn::models::{ResNetConfig, resnet18, resnet34, resnet50};
use tiny_torch::nn::{F, Module};
use tiny_torch::profiler::{Profiled, Timing};
use tiny_torch::{Backend, Cpu, Tensor};

/// Parameter counts of torchvision's models at 1000 classes (`sum(p.numel() for p in
/// m.parameters())`, as published in torchvision's model table).
#[test]
fn parameter_counts_and_names_match_torchvision() {
    let config = ResNetConfig::default();
    let r18 = resnet18(config, &Cpu).unwrap();
    assert_eq!(r18.num_parameters(), 11_689_512);
    assert_eq!(r18.state_dict().len(), 122); // 62 parameters + 20 BNs x 3 buffers
    let r34 = resnet34(config, &Cpu).unwrap();
    assert_eq!(r34.num_parameters(), 21_797_672);
    let r50 = resnet50(config, &Cpu).unwrap();
    assert_eq!(r50.num_parameters(), 25_557_032);
    assert_eq!(r50.state_dict().len(), 320);
    let names: Vec<String> = r50.state_dict().into_iter().map(|(k, _)| k).collect();
    for key in [
        "conv1.weight",
        "bn1.running_mean",
        "bn1.num_batches_tracked",
        "layer1.0.conv3.weight",
        "layer1.0.downsample.0.weight",
        "layer2.0.downsample.1.running_var",
        "layer4.2.bn3.bias",
        "fc.weight",
        "fc.bias",
    ] {
        assert!(names.iter().any(|n| n == key), "{key} missing");
    }
    // torchvision's order: conv1, bn1, then the layers, then fc.
    assert_eq!(names[0], "conv1.weight");
    assert_eq!(names.last().unwrap(), "fc.bias");
}

/// One training step of ResNet-18 (batch 2, 32²) on `backend`, its weights copied from
/// `weights` and its input made from fixed values (no global generator: tests run in
/// parallel), and its loss and fc gradient.
fn resnet18_step<B: Backend>(
    backend: &B,
    weights: &[(String, Tensor<Cpu>)],
) -> (Vec<f64>, Vec<f64>) {
    let config = ResNetConfig {
        num_classes: 10,
        ..ResNetConfig::default()
    };
    let model = resnet18(config, backend).unwrap();
    let state: Vec<(String, Tensor<B>)> = weights
        .iter()
        .map(|(k, t)| (k.clone(), t.to_device(backend).unwrap()))
        .collect();
    model.load_state_dict(&state, true).unwrap();
    model.train();
    let pixels: Vec<f32> = (0..2 * 3 * 32 * 32)
        .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
        .collect();
    let x = Tensor::from_slice(&pixels, &[2, 3, 32, 32], backend).unwrap();
    let y = Tensor::from_slice(&[3i64, 7], &[2], backend).unwrap();
    let loss = F::cross_entropy(&model.forward(&x).unwrap(), &y).unwrap();
    loss.backward().unwrap();
    let grad = model.fc.weight.grad().unwrap();
    (loss.to_f64_vec().unwrap(), grad.to_f64_vec().unwrap())
}

/// The profiler counts the calls the model's structure implies (20 convolutions and batch
/// norms; no input gradient for the stem, whose input needs none) and changes no result.
#[test]
fn profiled_resnet18_step_counts_its_layers_and_computes_the_same() {
    let config = ResNetConfig {
        num_classes: 10,
        ..ResNetConfig::default()
    };
    let weights = resnet18(config, &Cpu).unwrap().state_dict();
    let plain = resnet18_step(&Cpu, &weights);
    for timing in [Timing::Host, Timing::Device] {
        let profiled = Profiled::new(Cpu, timing);
        assert_eq!(resnet18_step(&profiled, &weights), plain, "{timing:?}");
        let profile = profiled.profile();
        print!("{profile}");
        let calls = |name: &str| profile.row(name).map_or(0, |row| row.calls);
        assert_eq!(calls("conv2d"), 20);
        assert_eq!(calls("conv2d_backward_weight"), 20);
        assert_eq!(calls("conv2d_backward_input"), 19);
        assert_eq!(calls("batch_norm(train)"), 20);
        assert_eq!(calls("batch_norm_backward(train)"), 20);
        assert_eq!(calls("max_pool2d"), 1);
        assert_eq!(calls("max_pool2d_backward"), 1);
        assert_eq!(calls("adaptive_avg_pool2d"), 1);
        assert_eq!(calls("adaptive_avg_pool2d_backward"), 1);
        assert_eq!(calls("softmax(log)"), 1);
        assert!(profile.rows.windows(2).all(|w| w[0].total >= w[1].total));
        assert_eq!(profile.total(), profile.rows.iter().map(|r| r.total).sum());
        profiled.reset();
        assert!(profiled.profile().rows.is_empty());
    }
}

#[test]
fn zero_init_residual_zeroes_each_blocks_last_bn() {
    let config = ResNetConfig {
        num_classes: 10,
        zero_init_residual: true,
    };
    let model = resnet18(config, &Cpu).unwrap();
    for (name, p) in model.named_parameters() {
        if !name.contains("bn") || !name.ends_with("weight") {
            continue; // BN biases start at zero everywhere
        }
        let values = p.to_f64_vec().unwrap();
        let zero = values.iter().all(|&v| v == 0.0);
        let is_last_bn = name.starts_with("layer") && name.ends_with("bn2.weight");
        assert_eq!(zero, is_last_bn, "{name}");
    }
    // Convs are kaiming-normal (fan-out, ReLU): std = sqrt(2 / (out * k * k)).
    let w = model.conv1.weight.to_f64_vec().unwrap();
    let std = (w.iter().map(|v| v * v).sum::<f64>() / w.len() as f64).sqrt();
    let want = (2.0 / (64.0 * 49.0f64)).sqrt();
    assert!((std / want - 1.0).abs() < 0.05, "conv1 std {std} vs {want}");
    assert_eq!(model.fc.weight.dims(), &[10, 512]);
}

fn golden_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/reference/golden/resnet18.safetensors")
}

fn assert_close(what: &str, got: &Tensor<Cpu>, want: &Tensor<Cpu>, rtol: f64, atol: f64) {
    assert_eq!(got.dims(), want.dims(), "{what}");
    let (g, w) = (got.to_f64_vec().unwrap(), want.to_f64_vec().unwrap());
    let mut worst = (0.0f64, 0usize);
    for (i, (a, b)) in g.iter().zip(&w).enumerate() {
        let excess = (a - b).abs() - (atol + rtol * b.abs());
        if excess > worst.0 {
            worst = (excess, i);
        }
    }
    assert!(
        worst.0 <= 0.0,
        "{what}: element {} is {} vs PyTorch {} (rtol {rtol}, atol {atol})",
        worst.1,
        g[worst.1],
        w[worst.1]
    );
}

#[test]
fn resnet18_matches_pytorch_golden() {
    let path = golden_path();
    if !path.exists() {
        eprintln!(
            "skipped: {} not found (the ResNet-18 golden lives in ../shared, outside the repository)",
            path.display()
        );
        return;
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path.with_extension("json")).unwrap())
            .unwrap();
    let (rtol, atol) = (
        json["rtol"].as_f64().unwrap(),
        json["atol"].as_f64().unwrap(),
    );
    let num_classes = json["num_classes"].as_u64().unwrap() as usize;
    let (tensors, _) = load_safetensors(&path, &Cpu).unwrap();
    let get = |key: &str| -> Tensor<Cpu> {
        tensors
            .iter()
            .find(|(k, _)| k == key)
            .unwrap_or_else(|| panic!("{key} not in the golden"))
            .1
            .clone()
    };
    let state: Vec<(String, Tensor<Cpu>)> = tensors
        .iter()
        .filter(|(k, _)| !k.starts_with("__"))
        .cloned()
        .collect();
    let model = resnet18(
        ResNetConfig {
            num_classes,
            zero_init_residual: false,
        },
        &Cpu,
    )
    .unwrap();
    let report = model.load_state_dict(&state, true).unwrap();
    assert!(report.missing_keys.is_empty() && report.unexpected_keys.is_empty());
    let input = get("__input__");

    model.eval();
    let eval_logits = model.forward(&input).unwrap();
    assert_close(
        "eval logits",
        &eval_logits,
        &get("__eval_logits__"),
        rtol,
        atol,
    );

    model.train();
    let train_logits = model.forward(&input).unwrap();
    assert_close(
        "train logits",
        &train_logits,
        &get("__train_logits__"),
        rtol,
        atol,
    );
    let loss = F::cross_entropy(&train_logits, &get("__target__")).unwrap();
    // PyTorch stored the scalar loss as shape [1].
    assert_close(
        "loss",
        &loss.reshape(&[1]).unwrap(),
        &get("__loss__"),
        rtol,
        atol,
    );
    loss.backward().unwrap();
    let params = model.named_parameters();
    let mut checked = 0;
    for (key, want) in tensors.iter().filter(|(k, _)| k.starts_with("__grad__.")) {
        let name = &key["__grad__.".len()..];
        let p = &params.iter().find(|(n, _)| n == name).unwrap().1;
        let grad = p.grad().unwrap_or_else(|| panic!("{name} has no gradient"));
        // Gradients sum over many products: an absolute floor scaled to the tensor's size.
        let scale = want
            .to_f64_vec()
            .unwrap()
            .iter()
            .fold(0.0f64, |m, v| m.max(v.abs()));
        assert_close(
            &format!("grad {name}"),
            &grad,
            want,
            rtol * 10.0,
            atol.max(scale * 1e-3),
        );
        checked += 1;
    }
    assert!(checked >= 5, "{checked} gradients checked");
    let state = model.state_dict();
    let mut buffers = 0;
    for (key, want) in tensors
        .iter()
        .filter(|(k, _)| k.starts_with("__after_train_step__."))
    {
        let name = &key["__after_train_step__.".len()..];
        let got = &state.iter().find(|(n, _)| n == name).unwrap().1;
        assert_close(&format!("running stat {name}"), got, want, rtol, atol);
        buffers += 1;
    }
    assert_eq!(buffers, 40);
}
