//! The key check of `nn` + `optim`: PyTorch's 60-step SGD-momentum run of
//! `Sequential(Linear(64, 32), ReLU, Linear(32, 10))` on the UCI digits
//! (tests/data/golden/mlp_train.json + .safetensors, tests/data/digits.csv.gz) is reproduced:
//! the loss at every step and the final weights agree within the file's rtol (1e-4).

//! The same run on CUDA when a GPU is present.

use std::io::Read;
use std::path::{Path, PathBuf};
use tiny_torch::nn::{F, Linear, Module, Relu, Sequential};
use tiny_torch::optim::{Optimizer, Sgd, SgdOptions};
use tiny_torch::{Backend, Tensor};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// `prefix.<name>` tensors of the golden safetensors file, as a state dict.
fn load_weights<B: Backend>(bytes: &[u8], prefix: &str, backend: &B) -> Vec<(String, Tensor<B>)> {
    let file = safetensors::SafeTensors::deserialize(bytes).unwrap();
    let mut out = Vec::new();
    for (name, view) in file.tensors() {
        let Some(key) = name.strip_prefix(prefix) else {
            continue;
        };
        assert_eq!(view.dtype(), safetensors::Dtype::F32, "{name}");
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let t = Tensor::from_vec(values, view.shape(), backend).unwrap();
        out.push((key.to_string(), t));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The digits: 1797 rows of 64 pixels (0..16) and a label.
fn load_digits() -> (Vec<f32>, Vec<i64>) {
    let gz = std::fs::read(data_dir().join("digits.csv.gz")).unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(gz.as_slice())
        .read_to_string(&mut text)
        .unwrap();
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<f32> = line.split(',').map(|f| f.trim().parse().unwrap()).collect();
        assert_eq!(fields.len(), 65, "{line}");
        x.extend(fields[..64].iter().map(|v| v / 16.0));
        y.push(fields[64] as i64);
    }
    (x, y)
}

fn rel_dev(got: f64, want: f64) -> f64 {
    (got - want).abs() / want.abs().max(1e-6)
}

#[cfg(feature = "cpu")]
#[test]
fn mlp_training_run_matches_pytorch() {
    mlp_training_run(&tiny_torch::Cpu);
}

#[cfg(feature = "cuda")]
#[test]
fn mlp_training_run_matches_pytorch_on_cuda() {
    match tiny_torch::Cuda::new(0) {
        Ok(cuda) => mlp_training_run(&cuda),
        Err(e) => {
            let required = std::env::var("TINY_TORCH_REQUIRE")
                .unwrap_or_default()
                .split(',')
                .any(|s| s.trim() == "cuda");
            assert!(!required, "TINY_TORCH_REQUIRE names cuda, but: {e}");
            eprintln!("skipped: {e}");
        }
    }
}

#[cfg(feature = "wgpu")]
#[test]
fn mlp_training_run_matches_pytorch_on_wgpu() {
    match tiny_torch::Wgpu::try_default() {
        Ok(wgpu) => mlp_training_run(&wgpu),
        Err(e) => {
            let required = std::env::var("TINY_TORCH_REQUIRE")
                .unwrap_or_default()
                .split(',')
                .any(|s| s.trim() == "wgpu");
            assert!(!required, "TINY_TORCH_REQUIRE names wgpu, but: {e}");
            eprintln!("skipped: {e}");
        }
    }
}

#[allow(dead_code)]
fn mlp_training_run<B: Backend>(backend: &B) {
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(data_dir().join("golden/mlp_train.json")).unwrap(),
    )
    .unwrap();
    let losses: Vec<f64> = json["losses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let steps = json["steps"].as_u64().unwrap() as usize;
    let rtol = json["rtol"].as_f64().unwrap();
    assert_eq!(losses.len(), steps);
    let weights = std::fs::read(data_dir().join("golden/mlp_train.safetensors")).unwrap();

    let model = Sequential::new(vec![])
        .append(Linear::new(64, 32, true, backend).unwrap())
        .append(Relu)
        .append(Linear::new(32, 10, true, backend).unwrap());
    let report = model
        .load_state_dict(&load_weights(&weights, "init.", backend), true)
        .unwrap();
    assert!(report.missing_keys.is_empty() && report.unexpected_keys.is_empty());

    let (x, y) = load_digits();
    let rows = y.len();
    assert_eq!(rows, 1797);
    let mut sgd = Sgd::new(
        model.parameters(),
        SgdOptions {
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 1e-4,
            ..Default::default()
        },
    )
    .unwrap();

    let batch = 64;
    let mut worst_loss = (0.0f64, 0usize);
    for (step, &want) in losses.iter().enumerate() {
        let start = (step * batch) % (rows - batch);
        let xb = Tensor::from_slice(&x[start * 64..(start + batch) * 64], &[batch, 64], backend)
            .unwrap();
        let yb = Tensor::from_slice(&y[start..start + batch], &[batch], backend).unwrap();
        sgd.zero_grad();
        let loss = F::cross_entropy(&model.forward(&xb).unwrap(), &yb).unwrap();
        let got = loss.item::<f32>().unwrap() as f64;
        let dev = rel_dev(got, want);
        if dev > worst_loss.0 {
            worst_loss = (dev, step);
        }
        assert!(
            dev <= rtol,
            "step {step}: loss {got} vs PyTorch {want} (rel dev {dev:.3e})"
        );
        loss.backward().unwrap();
        sgd.step().unwrap();
    }
    println!(
        "worst loss deviation: {:.3e} (step {})",
        worst_loss.0, worst_loss.1
    );

    let finals = load_weights(&weights, "final.", backend);
    let state = model.state_dict();
    assert_eq!(finals.len(), state.len());
    let mut worst_weight = (0.0f64, String::new());
    let mut max_abs = 0.0f64;
    for (name, want) in &finals {
        let got = &state.iter().find(|(k, _)| k == name).unwrap().1;
        assert_eq!(got.dims(), want.dims(), "{name}");
        let (got, want) = (got.to_f64_vec().unwrap(), want.to_f64_vec().unwrap());
        let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (g, w) in got.iter().zip(&want) {
            // rtol on each element, with an absolute floor of rtol * the tensor's largest value
            // for elements near zero.
            max_abs = max_abs.max((g - w).abs());
            let dev = (g - w).abs() / w.abs().max(scale * 1e-2);
            if dev > worst_weight.0 {
                worst_weight = (dev, name.clone());
            }
        }
    }
    println!(
        "worst final-weight deviation: {:.3e} ({}); largest absolute difference {max_abs:.3e}",
        worst_weight.0, worst_weight.1
    );
    assert!(
        worst_weight.0 <= rtol,
        "final weights deviate by {:.3e} in {}",
        worst_weight.0,
        worst_weight.1
    );
}
