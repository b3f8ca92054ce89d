//! Model weights as safetensors files, with PyTorch's key names: a state dict saved by
//! `safetensors.torch.save_file(model.state_dict(), path)` loads here as is, and ours loads in
//! PyTorch (`safetensors.torch.load_file`).
//!
//! Writes are atomic: the bytes go to a temporary file in the same directory, which is flushed
//! to disk (`fsync`) and then renamed over the destination, so a crash mid-save leaves the
//! previous file intact. A corrupt or truncated file is an error naming the file, and a failed
//! load writes nothing into the module.

use crate::module::{LoadReport, Module};
use safetensors::{Dtype, SafeTensors};
use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use tiny_torch_core::{Backend, DType, Error, Result};
use tiny_torch_tensor::Tensor;

/// Named tensors and the file's string metadata, as a safetensors file holds them.
pub type TensorsAndMetadata<B> = (Vec<(String, Tensor<B>)>, HashMap<String, String>);

/// One tensor on the host, as `safetensors::serialize` takes it.
struct HostTensor {
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl safetensors::View for &HostTensor {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

fn to_safetensors_dtype(dtype: DType) -> Dtype {
    match dtype {
        DType::Bool => Dtype::BOOL,
        DType::U8 => Dtype::U8,
        DType::I32 => Dtype::I32,
        DType::I64 => Dtype::I64,
        DType::F16 => Dtype::F16,
        DType::BF16 => Dtype::BF16,
        DType::F32 => Dtype::F32,
        DType::F64 => Dtype::F64,
    }
}

fn from_safetensors_dtype(dtype: Dtype) -> Option<DType> {
    Some(match dtype {
        Dtype::BOOL => DType::Bool,
        Dtype::U8 => DType::U8,
        Dtype::I32 => DType::I32,
        Dtype::I64 => DType::I64,
        Dtype::F16 => DType::F16,
        Dtype::BF16 => DType::BF16,
        Dtype::F32 => DType::F32,
        Dtype::F64 => DType::F64,
        _ => return None,
    })
}

/// Serializes named tensors (and string metadata, safetensors' `__metadata__`) to bytes.
pub fn serialize_safetensors<B: Backend>(
    tensors: &[(String, Tensor<B>)],
    metadata: Option<HashMap<String, String>>,
) -> Result<Vec<u8>> {
    let mut host = Vec::with_capacity(tensors.len());
    for (name, t) in tensors {
        host.push((
            name.clone(),
            HostTensor {
                dtype: to_safetensors_dtype(t.dtype()),
                shape: t.dims().to_vec(),
                bytes: t.to_le_bytes()?,
            },
        ));
    }
    safetensors::serialize(host.iter().map(|(k, v)| (k.as_str(), v)), metadata)
        .map_err(|e| Error::invalid("save_safetensors", e.to_string()))
}

/// Writes named tensors to a safetensors file, atomically.
pub fn save_safetensors<B: Backend>(
    tensors: &[(String, Tensor<B>)],
    metadata: Option<HashMap<String, String>>,
    path: impl AsRef<Path>,
) -> Result<()> {
    let bytes = serialize_safetensors(tensors, metadata)?;
    atomic_write(path.as_ref(), &bytes)
}

/// Reads every tensor of a safetensors file onto `backend`, sorted by name, with the
/// file's metadata (empty when it has none).
pub fn load_safetensors<B: Backend>(
    path: impl AsRef<Path>,
    backend: &B,
) -> Result<TensorsAndMetadata<B>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::file(path, format!("cannot read: {e}")))?;
    deserialize_safetensors(&bytes, backend).map_err(|e| match e {
        Error::File { .. } => e,
        other => Error::file(path, other.to_string()),
    })
}

/// Decodes safetensors bytes (errors say what is wrong, without a file name).
pub fn deserialize_safetensors<B: Backend>(
    bytes: &[u8],
    backend: &B,
) -> Result<TensorsAndMetadata<B>> {
    let bad = |msg: String| Error::invalid("load_safetensors", msg);
    let (_, header) = SafeTensors::read_metadata(bytes)
        .map_err(|e| bad(format!("not a valid safetensors file ({e})")))?;
    let file = SafeTensors::deserialize(bytes)
        .map_err(|e| bad(format!("not a valid safetensors file ({e})")))?;
    let mut out = Vec::new();
    // safetensors stores tensors sorted by dtype and name (as PyTorch's writer does too), so the
    // state_dict order cannot be recovered; names in sorted order keep loading deterministic.
    let mut names: Vec<String> = file.names().into_iter().map(|n| n.to_string()).collect();
    names.sort();
    for name in names {
        let view = file
            .tensor(&name)
            .map_err(|e| bad(format!("tensor {name}: {e}")))?;
        let dtype = from_safetensors_dtype(view.dtype()).ok_or_else(|| {
            bad(format!(
                "tensor {name} has dtype {:?}, which Tiny-Torch does not have",
                view.dtype()
            ))
        })?;
        let t = Tensor::from_le_bytes(view.data(), dtype, view.shape(), backend)?;
        out.push((name, t));
    }
    let metadata = header.metadata().clone().unwrap_or_default();
    Ok((out, metadata))
}

/// `torch.save(model.state_dict())`, as safetensors: every parameter and buffer under its
/// dotted name.
pub fn save<B: Backend, M: Module<B> + ?Sized>(module: &M, path: impl AsRef<Path>) -> Result<()> {
    save_safetensors(&module.state_dict(), None, path)
}

/// `model.load_state_dict(load_file(path), strict)`. Nothing is written into the module when
/// the file is bad or (with `strict`) does not match it.
pub fn load<B: Backend, M: Module<B> + ?Sized>(
    module: &M,
    path: impl AsRef<Path>,
    strict: bool,
) -> Result<LoadReport> {
    let path = path.as_ref();
    let backend = module
        .state_dict()
        .first()
        .map(|(_, t)| t.backend().clone())
        .ok_or_else(|| Error::invalid("load", "the module has no parameters or buffers"))?;
    let (state, _) = load_safetensors(path, &backend)?;
    module
        .load_state_dict(&state, strict)
        .map_err(|e| Error::file(path, e.to_string()))
}

/// `path` with its symbolic links followed (relative ones from their own folder), to the file
/// they name, which need not exist yet; an error for a loop.
fn follow_links(path: &Path) -> Result<std::path::PathBuf> {
    let mut path = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = std::fs::read_link(&path)
                    .map_err(|e| Error::file(&path, format!("cannot read the link: {e}")))?;
                path = match path.parent() {
                    Some(dir) => dir.join(target),
                    None => target,
                };
            }
            _ => return Ok(path),
        }
    }
    Err(Error::file(&path, "too many levels of symbolic links"))
}

/// Writes `bytes` to `path` through a temporary file in the same directory, `fsync`ed and
/// renamed into place (then the directory is synced, so the rename itself survives a crash).
/// On any error the destination is untouched and the temporary file removed. As `torch.save`
/// writes through a symbolic link, a link at `path` is followed (the link stays, its target
/// gets the bytes), and a file that is replaced keeps its permissions.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let resolved = follow_links(path)?;
    let path = resolved.as_path();
    let file_name = path
        .file_name()
        .ok_or_else(|| Error::file(path, "not a file path"))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    // The name's first characters only, so that a destination name near the file system's
    // limit (255 bytes) still has room for the temporary one.
    let name = file_name.to_string_lossy();
    let mut cut = name.len().min(64);
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    let stem = &name[..cut];
    let tmp = dir.join(format!(
        ".{stem}.tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let permissions = std::fs::metadata(path).ok().map(|m| m.permissions());
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&tmp)?;
        // Before the bytes: a private file is never readable by others, even for a moment.
        if let Some(permissions) = &permissions {
            file.set_permissions(permissions.clone())?;
        }
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(dir) {
            // Not every platform can sync a directory; the data itself is already synced.
            let _ = d.sync_all();
        }
        Ok(())
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::file(path, format!("cannot write: {e}"))
    })
}
