//! PyTorch's golden outputs (tests/data/golden, copied from ../shared/reference/golden): every
//! case of every op the runner maps must pass on the CPU backend, and every golden op is mapped
//! (none is "not run").

use std::path::{Path, PathBuf};
use tiny_torch::Error;
use tiny_torch::conformance::{self, Golden};

/// Golden ops that wait for their own ops: "not run" here (none left; a golden file with a new
/// op that a later issue brings lists it here until then). When an op becomes supported, remove
/// it from this list.
const EXPECTED_NOT_RUN: &[&str] = &[];

/// Golden ops whose fused kernels (convolution, pooling, batch norm) a backend may still lack:
/// CUDA may report these unsupported, which is printed, not failed. None left: CUDA implements
/// them all (cuDNN convolutions, kernels/pool.cu, kernels/batch_norm.cu), so they must run on
/// every backend. A new fused op that CUDA lacks at first is listed here until it has it.
const CPU_ONLY_OPS: &[&str] = &[];

/// The ops of `unsupported` that `backend` must support (all on the CPU and wgpu; see
/// [`CPU_ONLY_OPS`]).
fn unexpected_unsupported<B: tiny_torch::Backend>(
    backend: &B,
    unsupported: Vec<String>,
) -> Vec<String> {
    let (expected, unexpected): (Vec<String>, Vec<String>) = unsupported
        .into_iter()
        .partition(|op| backend.name() == "cuda" && CPU_ONLY_OPS.contains(&op.as_str()));
    if !expected.is_empty() {
        eprintln!(
            "not yet on the {} backend (unsupported): {expected:?}",
            backend.name()
        );
    }
    unexpected
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden")
}

/// The CUDA backend when a GPU is present; `None` (printed) otherwise, unless
/// `TINY_TORCH_REQUIRE` names `cuda`.
#[cfg(feature = "cuda")]
fn cuda_or_skip() -> Option<tiny_torch::Cuda> {
    // PyTorch's goldens are f32 on the CPU: convolutions in full f32, not TF32.
    tiny_torch::cuda::set_cudnn_allow_tf32(false);
    match tiny_torch::Cuda::new(0) {
        Ok(cuda) => Some(cuda),
        Err(e) => {
            let required = std::env::var("TINY_TORCH_REQUIRE")
                .unwrap_or_default()
                .split(',')
                .any(|s| s.trim() == "cuda");
            assert!(!required, "TINY_TORCH_REQUIRE names cuda, but: {e}");
            eprintln!("skipped: {e}");
            None
        }
    }
}

/// The wgpu backend on its first adapter (lavapipe where there is no GPU); `None` (printed)
/// without a Vulkan driver, unless `TINY_TORCH_REQUIRE` names `wgpu`.
#[cfg(feature = "wgpu")]
fn wgpu_or_skip() -> Option<tiny_torch::Wgpu> {
    match tiny_torch::Wgpu::try_default() {
        Ok(wgpu) => Some(wgpu),
        Err(e) => {
            let required = std::env::var("TINY_TORCH_REQUIRE")
                .unwrap_or_default()
                .split(',')
                .any(|s| s.trim() == "wgpu");
            assert!(!required, "TINY_TORCH_REQUIRE names wgpu, but: {e}");
            eprintln!("skipped: {e}");
            None
        }
    }
}

#[cfg(feature = "wgpu")]
#[test]
fn golden_ops_pass_on_wgpu() {
    if let Some(wgpu) = wgpu_or_skip() {
        check_golden_ops(&wgpu);
    }
}

#[cfg(feature = "wgpu")]
#[test]
fn golden_gradients_pass_on_wgpu() {
    if let Some(wgpu) = wgpu_or_skip() {
        check_golden_gradients(&wgpu);
    }
}

#[cfg(feature = "cpu")]
#[test]
fn golden_ops_pass_on_cpu() {
    check_golden_ops(&tiny_torch::Cpu);
}

#[cfg(feature = "cuda")]
#[test]
fn golden_ops_pass_on_cuda() {
    if let Some(cuda) = cuda_or_skip() {
        check_golden_ops(&cuda);
    }
}

#[cfg(feature = "cpu")]
#[test]
fn golden_gradients_pass_on_cpu() {
    check_golden_gradients(&tiny_torch::Cpu);
}

/// The profiler hands every call on unchanged: the golden ops and gradients pass through it,
/// and it records the backend methods they use.
#[cfg(feature = "cpu")]
#[test]
fn golden_ops_and_gradients_pass_through_the_profiler() {
    use tiny_torch::profiler::{Profiled, Timing};
    let profiled = Profiled::new(tiny_torch::Cpu, Timing::Device);
    check_golden_ops(&profiled);
    check_golden_gradients(&profiled);
    let profile = profiled.profile();
    print!("{profile}");
    for method in [
        "conv2d",
        "conv2d_backward_input",
        "conv2d_backward_weight",
        "batch_norm(train)",
        "batch_norm_backward(train)",
        "max_pool2d",
        "avg_pool2d",
        "adaptive_avg_pool2d",
        "matmul",
        "softmax",
        "softmax(log)",
        "index_select",
        "gather",
        "binary(add)",
        "unary(relu)",
        "reduce(sum)",
        "copy",
        "fill",
        "from_bytes",
        "to_bytes",
    ] {
        assert!(profile.row(method).is_some(), "{method} not recorded");
    }
}

#[cfg(feature = "cuda")]
#[test]
fn golden_gradients_pass_on_cuda() {
    if let Some(cuda) = cuda_or_skip() {
        check_golden_gradients(&cuda);
    }
}

#[allow(dead_code)]
fn check_golden_ops<B: tiny_torch::Backend>(backend: &B) {
    let golden = Golden::load(golden_dir()).unwrap();
    assert!(golden.cases.len() >= 100, "{} cases", golden.cases.len());
    let report = conformance::run(&golden, backend);
    println!("{}", report.table());

    let failures: Vec<String> = report
        .failures()
        .map(|(case, failure)| format!("{} ({}): {failure}", case.name, case.op))
        .collect();
    let unsupported = unexpected_unsupported(backend, report.unsupported_ops());
    let not_run = report.not_run_ops();
    let unexpected_not_run: Vec<&String> = not_run
        .iter()
        .filter(|op| !EXPECTED_NOT_RUN.contains(&op.as_str()))
        .collect();
    let now_running: Vec<&&str> = EXPECTED_NOT_RUN
        .iter()
        .filter(|op| !not_run.iter().any(|n| n == *op))
        .collect();

    let mut problems = Vec::new();
    if !failures.is_empty() {
        problems.push(format!(
            "{} cases failed:\n    {}",
            failures.len(),
            failures.join("\n    ")
        ));
    }
    if !unsupported.is_empty() {
        problems.push(format!(
            "the {} backend reported these ops unsupported: {unsupported:?}",
            backend.name()
        ));
    }
    if !unexpected_not_run.is_empty() {
        problems.push(format!(
            "ops the runner does not map (add them to conformance::ops): {unexpected_not_run:?}"
        ));
    }
    if !now_running.is_empty() {
        problems.push(format!(
            "ops now mapped: remove them from EXPECTED_NOT_RUN: {now_running:?}"
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// PyTorch's gradients (`grad_inputs` for the case's `grad_output`) for every case with
/// gradients whose op the runner maps: autograd end to end on the backend.
#[allow(dead_code)]
fn check_golden_gradients<B: tiny_torch::Backend>(backend: &B) {
    let golden = Golden::load(golden_dir()).unwrap();
    let report = conformance::run_gradients(&golden, backend);
    println!("{}", report.table());
    assert!(report.cases.len() >= 80, "{} cases", report.cases.len());
    let failures: Vec<String> = report
        .failures()
        .map(|(case, failure)| format!("{} ({}): {failure}", case.name, case.op))
        .collect();
    assert!(
        failures.is_empty(),
        "{} gradient cases failed:\n    {}",
        failures.len(),
        failures.join("\n    ")
    );
    let unexpected: Vec<String> = report
        .not_run_ops()
        .into_iter()
        .filter(|op| !EXPECTED_NOT_RUN.contains(&op.as_str()))
        .collect();
    assert!(
        unexpected.is_empty(),
        "gradient cases not run: {unexpected:?}"
    );
    let unsupported = unexpected_unsupported(backend, report.unsupported_ops());
    assert!(unsupported.is_empty(), "{unsupported:?}");
}

/// Every op of the golden file is either mapped by the runner or expected not to run, and the
/// runner's list agrees with its own lookup (no backend needed).
#[test]
fn every_golden_op_is_mapped_or_expected_not_run() {
    let golden = Golden::load(golden_dir()).unwrap();
    for case in &golden.cases {
        let mapped = conformance::is_supported(&case.op);
        let expected_not_run = EXPECTED_NOT_RUN.contains(&case.op.as_str());
        assert!(
            mapped != expected_not_run,
            "op {} (case {}): mapped {mapped}, in EXPECTED_NOT_RUN {expected_not_run}",
            case.op,
            case.name
        );
    }
    for op in conformance::SUPPORTED_OPS {
        assert!(conformance::is_supported(op), "{op}");
    }
    assert!(conformance::is_supported("conv2d"));
    assert!(!conformance::is_supported("no_such_op"));
}

/// The repository's copies equal the shared reference (when ../shared is present).
#[test]
fn golden_copies_match_the_shared_reference() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/reference/golden");
    if !shared.is_dir() {
        eprintln!(
            "skipping: {} is absent (a standalone clone has no ../shared)",
            shared.display()
        );
        return;
    }
    for file in [
        "ops.json",
        "ops.safetensors",
        "mlp_train.json",
        "mlp_train.safetensors",
    ] {
        let ours = std::fs::read(golden_dir().join(file)).unwrap();
        let theirs = std::fs::read(shared.join(file)).unwrap();
        assert!(
            ours == theirs,
            "tests/data/golden/{file} differs from {}",
            shared.join(file).display()
        );
    }
}

// ---------------------------------------------------------------- loading errors

fn temp_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("golden-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[track_caller]
fn assert_file_error(result: tiny_torch::Result<Golden>, file: &str, words: &[&str]) {
    match result {
        Ok(_) => panic!("expected an error about {file}"),
        Err(Error::File { path, msg }) => {
            assert!(
                path.ends_with(file),
                "error names {}, expected {file}",
                path.display()
            );
            let full = Error::File { path, msg }.to_string();
            for w in words {
                assert!(full.contains(w), "error {full:?} does not mention {w:?}");
            }
        }
        Err(e) => panic!("expected Error::File about {file}, got {e}"),
    }
}

#[test]
fn missing_files_are_named() {
    let dir = temp_dir("missing");
    assert_file_error(Golden::load(&dir), "ops.json", &["ops.json", "cannot read"]);
    std::fs::copy(golden_dir().join("ops.json"), dir.join("ops.json")).unwrap();
    assert_file_error(
        Golden::load(&dir),
        "ops.safetensors",
        &["ops.safetensors", "cannot read"],
    );
}

#[test]
fn truncated_safetensors_is_an_error_naming_the_file() {
    let dir = temp_dir("truncated");
    std::fs::copy(golden_dir().join("ops.json"), dir.join("ops.json")).unwrap();
    let bytes = std::fs::read(golden_dir().join("ops.safetensors")).unwrap();
    for cut in [4, 100, bytes.len() / 2, bytes.len() - 1] {
        std::fs::write(dir.join("ops.safetensors"), &bytes[..cut]).unwrap();
        assert_file_error(
            Golden::load(&dir),
            "ops.safetensors",
            &["ops.safetensors", "safetensors"],
        );
    }
}

#[test]
fn bad_json_and_missing_tensors_are_errors_naming_the_file() {
    let dir = temp_dir("badjson");
    std::fs::copy(
        golden_dir().join("ops.safetensors"),
        dir.join("ops.safetensors"),
    )
    .unwrap();
    std::fs::write(dir.join("ops.json"), "{\"cases\": [").unwrap();
    assert_file_error(Golden::load(&dir), "ops.json", &["invalid JSON"]);
    std::fs::write(dir.join("ops.json"), r#"{"cases": [{"name": "x.0"}]}"#).unwrap();
    assert_file_error(Golden::load(&dir), "ops.json", &["case 0", "'op'"]);
    let case = r#"{"cases": [{"name": "x.0", "op": "exp", "inputs": ["nope"],
                   "outputs": ["exp.0.out0"], "rtol": 0, "atol": 0}]}"#;
    std::fs::write(dir.join("ops.json"), case).unwrap();
    assert_file_error(
        Golden::load(&dir),
        "ops.safetensors",
        &["'nope'", "x.0", "missing"],
    );
}

#[test]
fn golden_tensors_load_with_their_dtypes() {
    let golden = Golden::load(golden_dir()).unwrap();
    let t = golden.tensor("matmul_bf16.0.in0").unwrap();
    assert_eq!(
        (t.dtype, t.shape.as_slice()),
        (tiny_torch::DType::BF16, &[8, 16][..])
    );
    let t = golden.tensor("eq.0.out0").unwrap();
    assert_eq!(t.dtype, tiny_torch::DType::Bool);
    let t = golden.tensor("embedding.0.in0").unwrap();
    assert_eq!(t.dtype, tiny_torch::DType::I64);
    assert_eq!(t.to_i64().len(), 12);
    let t = golden.tensor("exp_f64.0.in0").unwrap();
    assert_eq!(t.dtype, tiny_torch::DType::F64);
    let case = golden.cases.iter().find(|c| c.name == "clamp.0").unwrap();
    assert_eq!(case.args["min"], -0.5);
    assert_eq!((case.rtol, case.atol), (1e-5, 1e-6));
}
