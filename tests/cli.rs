//! The `tiny-torch` binary: `--version`, `--help`, `conformance` on the golden data (passing,
//! failing, corrupted), and its exit codes (0 ok, 1 cases failed, 2 could not run).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tiny_torch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tiny-torch"))
        .args(args)
        .output()
        .expect("the tiny-torch binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden")
}

#[cfg_attr(not(feature = "cpu"), allow(dead_code))]
fn temp_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[track_caller]
fn assert_exit(out: &Output, code: i32, stream_has: &[&str]) {
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(code),
        "exit code\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    for w in stream_has {
        assert!(
            stdout.contains(w) || stderr.contains(w),
            "output does not mention {w:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
        );
    }
}

#[test]
fn version_and_help() {
    let out = tiny_torch(&["--version"]);
    assert_exit(&out, 0, &[]);
    assert_eq!(
        text(&out.stdout).trim(),
        format!("tiny-torch {}", env!("CARGO_PKG_VERSION"))
    );
    assert_exit(
        &tiny_torch(&["--help"]),
        0,
        &["Usage", "conformance", "--golden", "--device"],
    );
    assert_exit(&tiny_torch(&["conformance", "--help"]), 0, &["Usage"]);
}

/// `tiny-torch env` lists every backend compiled in and agrees with what this process finds:
/// a missing GPU or Vulkan driver is reported with its reason, never a panic.
#[test]
fn env_reports_each_backend_and_why_one_is_missing() {
    let out = tiny_torch(&["env"]);
    assert_exit(&out, 0, &[]);
    let report = text(&out.stdout);
    print!("{report}");
    assert!(
        report.contains("backends compiled in: cpu, cuda, wgpu"),
        "{report}"
    );
    assert!(report.contains("cpu: available"), "{report}");
    assert!(report.contains("threads:"), "{report}");
    for library in ["driver", "NVRTC", "cuBLAS", "cuDNN", "NCCL"] {
        assert!(
            report.lines().any(|l| l.trim_start().starts_with(library)),
            "no {library} line: {report}"
        );
    }
    if tiny_torch::cuda::is_available() {
        assert!(
            report.contains("cuda: available") && report.contains("cuda:0"),
            "{report}"
        );
    } else {
        assert!(report.contains("cuda: not available: "), "{report}");
        assert!(!report.contains("cuda:0"), "{report}");
    }
    let adapters = tiny_torch::wgpu::adapters();
    if adapters.is_empty() {
        assert!(
            report.contains("wgpu: not available: no Vulkan adapter"),
            "{report}"
        );
    } else {
        assert!(report.contains("wgpu: available"), "{report}");
        assert!(report.contains(&adapters[0].name), "{report}");
    }
    assert_exit(
        &tiny_torch(&["env", "--json"]),
        2,
        &["env takes no arguments"],
    );
}

#[test]
fn bad_arguments_print_usage_and_exit_2() {
    assert_exit(&tiny_torch(&[]), 2, &["Usage", "no command"]);
    assert_exit(&tiny_torch(&["frobnicate"]), 2, &["Usage", "frobnicate"]);
    assert_exit(&tiny_torch(&["conformance"]), 2, &["--golden"]);
    assert_exit(
        &tiny_torch(&["conformance", "--golden"]),
        2,
        &["--golden", "value"],
    );
    assert_exit(
        &tiny_torch(&["conformance", "--golden", "--device", "cpu"]),
        2,
        &["--golden needs a value"],
    );
    assert_exit(
        &tiny_torch(&["conformance", "--golden", "x", "--bogus"]),
        2,
        &["--bogus"],
    );
    // A world that overflows, or that no node could hold, is refused before anything starts.
    let huge = [
        "run",
        "--nnodes",
        "2",
        "--nproc-per-node",
        "9223372036854775808",
    ];
    assert_exit(
        &tiny_torch(&[&huge[..], &["--", "true"]].concat()),
        2,
        &["too many"],
    );
    // An argument that is not UTF-8 is a usage error, not a panic.
    use std::os::unix::ffi::OsStrExt;
    let out = Command::new(env!("CARGO_BIN_EXE_tiny-torch"))
        .args(["run", "--", "true"])
        .arg(std::ffi::OsStr::from_bytes(b"\xff"))
        .output()
        .unwrap();
    assert_exit(&out, 2, &["not valid UTF-8"]);
}

#[test]
fn unknown_or_absent_devices_exit_2() {
    let dir = golden_dir();
    let dir = dir.to_str().unwrap();
    assert_exit(
        &tiny_torch(&["conformance", "--golden", dir, "--device", "tpu"]),
        2,
        &["unknown device", "tpu"],
    );
    assert_exit(
        &tiny_torch(&["conformance", "--golden", dir, "--device", "cuda:x"]),
        2,
        &["unknown device"],
    );
    // An adapter index past the last adapter (every index without a Vulkan driver).
    #[cfg(feature = "wgpu")]
    assert_exit(
        &tiny_torch(&["conformance", "--golden", dir, "--device", "wgpu:99"]),
        2,
        &["wgpu"],
    );
    #[cfg(not(feature = "wgpu"))]
    assert_exit(
        &tiny_torch(&["conformance", "--golden", dir, "--device", "wgpu"]),
        2,
        &["not compiled", "wgpu"],
    );
}

/// CUDA is compiled in by default; without a GPU the command says so and exits 2.
#[cfg(feature = "cuda")]
#[test]
fn cuda_without_a_gpu_exits_2_with_the_reason() {
    if tiny_torch::cuda::is_available() {
        eprintln!("skipped: this machine has a CUDA device");
        return;
    }
    let dir = golden_dir();
    assert_exit(
        &tiny_torch(&[
            "conformance",
            "--golden",
            dir.to_str().unwrap(),
            "--device",
            "cuda:0",
        ]),
        2,
        &["CUDA"],
    );
}

#[cfg(feature = "cpu")]
#[test]
fn conformance_on_the_golden_data_passes_on_cpu() {
    let dir = golden_dir();
    let out = tiny_torch(&[
        "conformance",
        "--golden",
        dir.to_str().unwrap(),
        "--device",
        "cpu",
    ]);
    assert_exit(&out, 0, &["matmul", "total", "not run", "OK"]);
    let stdout = text(&out.stdout);
    // One row per op with its counts: cases, passed, failed, not run, unsupported.
    let conv = stdout
        .lines()
        .find(|l| l.starts_with("conv2d "))
        .expect("a conv2d row");
    let counts: Vec<&str> = conv.split_whitespace().skip(1).take(5).collect();
    assert_eq!(counts, ["6", "6", "0", "0", "0"], "conv2d row: {conv}");
    let exp = stdout
        .lines()
        .find(|l| l.starts_with("exp "))
        .expect("an exp row");
    let counts: Vec<&str> = exp.split_whitespace().skip(1).take(5).collect();
    assert_eq!(counts, ["1", "1", "0", "0", "0"], "exp row: {exp}");
    // --golden=DIR works too.
    let arg = format!("--golden={}", dir.display());
    assert_exit(&tiny_torch(&["conformance", &arg]), 0, &["total"]);
}

#[cfg(feature = "cpu")]
#[test]
fn a_failing_case_exits_1_and_names_the_case() {
    // A golden directory whose exp case expects log's outputs.
    let dir = temp_dir("failing");
    std::fs::copy(
        golden_dir().join("ops.safetensors"),
        dir.join("ops.safetensors"),
    )
    .unwrap();
    let json = r#"{"cases": [
        {"name": "exp.0", "op": "exp", "args": {}, "inputs": ["exp.0.in0"],
         "outputs": ["log.0.out0"], "rtol": 1e-5, "atol": 1e-6},
        {"name": "relu.0", "op": "relu", "args": {}, "inputs": ["relu.0.in0"],
         "outputs": ["relu.0.out0"], "rtol": 1e-5, "atol": 1e-6}]}"#;
    std::fs::write(dir.join("ops.json"), json).unwrap();
    let out = tiny_torch(&["conformance", "--golden", dir.to_str().unwrap()]);
    assert_exit(&out, 1, &["exp.0", "out0", "FAILED", "1 passed, 1 failed"]);
}

#[cfg(feature = "cpu")]
#[test]
fn a_corrupted_golden_directory_exits_2_naming_the_file() {
    let dir = temp_dir("corrupted");
    std::fs::copy(golden_dir().join("ops.json"), dir.join("ops.json")).unwrap();
    let bytes = std::fs::read(golden_dir().join("ops.safetensors")).unwrap();
    std::fs::write(dir.join("ops.safetensors"), &bytes[..bytes.len() / 2]).unwrap();
    let out = tiny_torch(&["conformance", "--golden", dir.to_str().unwrap()]);
    assert_exit(&out, 2, &["ops.safetensors", "error"]);

    let missing = temp_dir("empty");
    let out = tiny_torch(&["conformance", "--golden", missing.to_str().unwrap()]);
    assert_exit(&out, 2, &["ops.json", "cannot read"]);
}

#[test]
fn run_starts_every_rank_with_the_torchrun_variables_and_prefixes_their_output() {
    let out = tiny_torch(&[
        "run",
        "--nproc-per-node",
        "3",
        "--master-port",
        "0",
        "--",
        "sh",
        "-c",
        "echo rank=$RANK world=$WORLD_SIZE local=$LOCAL_RANK/$LOCAL_WORLD_SIZE addr=$MASTER_ADDR",
    ]);
    assert_exit(&out, 0, &[]);
    let stdout = text(&out.stdout);
    for rank in 0..3 {
        let line = format!("[rank{rank}]: rank={rank} world=3 local={rank}/3 addr=127.0.0.1");
        assert!(
            stdout.lines().any(|l| l == line),
            "missing {line:?} in\n{stdout}"
        );
    }
}

/// A signal to the launcher (Ctrl-C, `kill`) reaches every rank and what it started, and the
/// launcher exits with an error naming it.
#[test]
fn a_signal_to_the_launcher_stops_every_rank() {
    let dir = temp_dir("launcher_signal");
    let script = format!("sleep 60 & echo $! > {}/pid$RANK; wait", dir.display());
    let launcher = Command::new(env!("CARGO_BIN_EXE_tiny-torch"))
        .args(["run", "--nproc-per-node=2", "--", "sh", "-c", &script])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pids = sleeper_pids(&dir, 2);
    assert_eq!(pids.len(), 2, "the ranks did not start");
    let killed = Command::new("kill")
        .args(["-TERM", &launcher.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = launcher.wait_with_output().unwrap();
    assert_exit(&out, 1, &["interrupted by signal 15"]);
    for pid in &pids {
        assert!(
            gone(pid, std::time::Duration::from_secs(2)),
            "a rank's child outlived the launcher"
        );
    }
}

/// Whether process `pid` is gone (or a zombie about to be reaped), within `wait`.
fn gone(pid: &str, wait: std::time::Duration) -> bool {
    let deadline = std::time::Instant::now() + wait;
    loop {
        let status = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // The state follows the command name in parentheses: Z is a zombie.
        let state = status
            .rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().next());
        if status.is_empty() || state == Some("Z") {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The pids the ranks' background `sleep`s wrote into `dir`, once every rank has written.
fn sleeper_pids(dir: &Path, ranks: usize) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let pids: Vec<String> = (0..ranks)
            .filter_map(|r| std::fs::read_to_string(dir.join(format!("pid{r}"))).ok())
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect();
        if pids.len() == ranks || std::time::Instant::now() > deadline {
            return pids;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn run_stops_the_job_when_a_rank_fails() {
    let dir = temp_dir("rank_fails");
    let start = std::time::Instant::now();
    // Rank 0's work runs in a child of its shell: stopping rank 0 must stop that too.
    let script = format!(
        "if [ \"$RANK\" = 1 ]; then sleep 1; exit 4; fi; sleep 60 & echo $! > {}/pid0; wait",
        dir.display()
    );
    let out = tiny_torch(&["run", "--nproc-per-node=2", "--", "sh", "-c", &script]);
    assert_exit(&out, 1, &["rank 1 failed (exit code 4)"]);
    assert!(
        start.elapsed() < std::time::Duration::from_secs(30),
        "rank 0 was not stopped"
    );
    let pids = sleeper_pids(&dir, 1);
    assert_eq!(pids.len(), 1, "rank 0 did not start its sleep");
    assert!(
        gone(&pids[0], std::time::Duration::from_secs(2)),
        "rank 0's child outlived the job"
    );
    let bad = tiny_torch(&["run", "--nproc-per-node", "2"]);
    assert_exit(&bad, 2, &["no program given"]);
}
