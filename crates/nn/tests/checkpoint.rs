//! Safetensors checkpoints: round trips, PyTorch-written files, atomic writes and bad files.

use std::path::PathBuf;
use tiny_torch_core::{DType, Error};
use tiny_torch_cpu::Cpu;
use tiny_torch_nn::checkpoint::{self, load_safetensors, save_safetensors};
use tiny_torch_nn::{Linear, Module, Relu, Sequential};
use tiny_torch_tensor::Tensor;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tt-ckpt-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn mlp() -> Sequential<Cpu> {
    Sequential::new(vec![])
        .append(Linear::new(4, 3, true, &Cpu).unwrap())
        .append(Relu)
        .append(Linear::new(3, 2, true, &Cpu).unwrap())
}

fn values(state: &[(String, Tensor<Cpu>)]) -> Vec<(String, Vec<f64>)> {
    state
        .iter()
        .map(|(k, t)| (k.clone(), t.to_f64_vec().unwrap()))
        .collect()
}

#[test]
fn a_module_round_trips_through_a_file() {
    let dir = temp_dir("round");
    let path = dir.join("model.safetensors");
    let a = mlp();
    checkpoint::save(&a, &path).unwrap();
    let b = mlp(); // other random weights
    assert_ne!(values(&a.state_dict()), values(&b.state_dict()));
    let report = checkpoint::load(&b, &path, true).unwrap();
    assert!(report.missing_keys.is_empty() && report.unexpected_keys.is_empty());
    assert_eq!(values(&a.state_dict()), values(&b.state_dict()));
    // PyTorch's names, in state_dict order.
    let (loaded, _) = load_safetensors(&path, &Cpu).unwrap();
    let names: Vec<&str> = loaded.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["0.bias", "0.weight", "2.bias", "2.weight"]); // sorted by name
}

#[test]
fn every_dtype_and_metadata_survive() {
    let dir = temp_dir("dtypes");
    let path = dir.join("t.safetensors");
    let mut state = Vec::new();
    for (i, dtype) in [
        DType::F32,
        DType::F64,
        DType::F16,
        DType::BF16,
        DType::I64,
        DType::I32,
        DType::U8,
        DType::Bool,
    ]
    .into_iter()
    .enumerate()
    {
        let t = Tensor::from_vec(vec![0.0f64, 1.0, 2.5, -3.0, 7.0, 0.0], &[2, 3], &Cpu)
            .unwrap()
            .to_dtype(dtype)
            .unwrap()
            .t()
            .unwrap(); // a transposed view is written in logical order
        state.push((format!("t{i}"), t));
    }
    let meta = std::collections::HashMap::from([("epoch".to_string(), "3".to_string())]);
    save_safetensors(&state, Some(meta.clone()), &path).unwrap();
    let (loaded, got_meta) = load_safetensors(&path, &Cpu).unwrap();
    assert_eq!(got_meta, meta);
    assert_eq!(loaded.len(), state.len());
    for (k0, t0) in &state {
        let (_, t1) = loaded.iter().find(|(k, _)| k == k0).unwrap();
        assert_eq!(t0.dtype(), t1.dtype(), "{k0}");
        assert_eq!(t0.dims(), t1.dims(), "{k0}");
        assert_eq!(t0.to_f64_vec().unwrap(), t1.to_f64_vec().unwrap(), "{k0}");
    }
}

/// A file written by PyTorch (`safetensors.torch.save_file`): the MLP golden's weights.
#[test]
fn a_pytorch_written_file_loads() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/golden/mlp_train.safetensors");
    let (state, _) = load_safetensors(&path, &Cpu).unwrap();
    let init: Vec<(String, Tensor<Cpu>)> = state
        .iter()
        .filter_map(|(k, t)| k.strip_prefix("init.").map(|k| (k.to_string(), t.clone())))
        .collect();
    let model = Sequential::new(vec![])
        .append(Linear::new(64, 32, true, &Cpu).unwrap())
        .append(Relu)
        .append(Linear::new(32, 10, true, &Cpu).unwrap());
    model.load_state_dict(&init, true).unwrap();
    let w = &model.state_dict()[0].1;
    assert_eq!(w.dims(), &[32, 64]);
    assert_eq!(
        w.to_f64_vec().unwrap(),
        init.iter()
            .find(|(k, _)| k == "0.weight")
            .unwrap()
            .1
            .to_f64_vec()
            .unwrap()
    );
}

#[test]
fn bad_files_are_errors_naming_the_file_and_change_nothing() {
    let dir = temp_dir("bad");
    let good = dir.join("good.safetensors");
    let a = mlp();
    checkpoint::save(&a, &good).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let b = mlp();
    let before = values(&b.state_dict());
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated.safetensors", bytes[..bytes.len() - 7].to_vec()),
        ("header.safetensors", bytes[..20].to_vec()),
        (
            "garbage.safetensors",
            b"not a safetensors file at all".to_vec(),
        ),
        ("empty.safetensors", Vec::new()),
    ];
    for (name, content) in cases {
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        let err = checkpoint::load(&b, &path, true).unwrap_err();
        assert!(matches!(err, Error::File { .. }), "{name}: {err}");
        assert!(err.to_string().contains(name), "{name}: {err}");
        assert_eq!(values(&b.state_dict()), before, "{name} changed the module");
    }
    let missing = checkpoint::load(&b, dir.join("missing.safetensors"), true).unwrap_err();
    assert!(
        missing.to_string().contains("missing.safetensors"),
        "{missing}"
    );
    // A file of another model: a strict load lists the keys and writes nothing.
    let other = dir.join("other.safetensors");
    checkpoint::save(&Linear::new(4, 3, true, &Cpu).unwrap(), &other).unwrap();
    let err = checkpoint::load(&b, &other, true).unwrap_err().to_string();
    assert!(
        err.contains("other.safetensors") && err.contains("Missing key"),
        "{err}"
    );
    assert_eq!(values(&b.state_dict()), before);
}

#[test]
fn a_failed_write_leaves_the_previous_checkpoint_intact() {
    let dir = temp_dir("atomic");
    let path = dir.join("model.safetensors");
    let a = mlp();
    checkpoint::save(&a, &path).unwrap();
    let before = std::fs::read(&path).unwrap();
    // The destination is now a directory's name: the rename fails after the temp file is written.
    let blocked = dir.join("blocked");
    std::fs::create_dir_all(blocked.join("inside")).unwrap();
    let err = checkpoint::save(&mlp(), &blocked).unwrap_err();
    assert!(err.to_string().contains("blocked"), "{err}");
    // No temporary files are left behind, and the earlier checkpoint is unchanged.
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
    // Overwriting works and replaces the whole file.
    let b = mlp();
    checkpoint::save(&b, &path).unwrap();
    let c = mlp();
    checkpoint::load(&c, &path, true).unwrap();
    assert_eq!(values(&c.state_dict()), values(&b.state_dict()));
}

/// Writes behave as `torch.save`'s where they can: a name near the file system's 255-byte
/// limit saves (the temporary name does not grow with it), a symbolic link is written through
/// (the link stays a link), and a replaced file keeps its permissions.
#[cfg(unix)]
#[test]
fn atomic_writes_keep_long_names_links_and_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir("atomic-links");
    let long = dir.join(format!("{}.bin", "w".repeat(240)));
    checkpoint::atomic_write(&long, b"long").unwrap();
    assert_eq!(std::fs::read(&long).unwrap(), b"long");

    let target = dir.join("target.bin");
    let link = dir.join("link.bin");
    std::fs::write(&target, b"old").unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::symlink(&target, &link).unwrap();
    checkpoint::atomic_write(&link, b"new").unwrap();
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link was replaced by a file"
    );
    assert_eq!(std::fs::read(&target).unwrap(), b"new");
    let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "permissions {mode:o}");
    // A relative link to a file that does not exist yet: the file is created (torch.save
    // opens through the link).
    let dangling = dir.join("dangling.bin");
    std::os::unix::fs::symlink("created.bin", &dangling).unwrap();
    checkpoint::atomic_write(&dangling, b"made").unwrap();
    assert_eq!(std::fs::read(dir.join("created.bin")).unwrap(), b"made");
    // A long name of multi-byte characters (3 bytes each, 246 bytes in all).
    let wide = dir.join(format!("{}.bin", "語".repeat(82)));
    checkpoint::atomic_write(&wide, b"wide").unwrap();
    assert_eq!(std::fs::read(&wide).unwrap(), b"wide");
    // Nothing is left beside them.
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 6, "{names:?}");
}
