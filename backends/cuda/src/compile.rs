//! Kernel sources, NVRTC compilation and the compiled-kernel caches.
//!
//! Every `kernels/*.cu` file is embedded in the binary, prefixed with `kernels/common.cuh`, and
//! compiled by NVRTC the first time one of its kernels is launched on a device, for that
//! device's architecture (`compute_XY` PTX, which the driver turns into machine code). The PTX is
//! cached in memory per device and on disk, keyed by a hash of the source, the options and the
//! architecture, so a second run skips NVRTC. The kernels include no CUDA header, so NVRTC alone
//! (no toolkit) compiles them.

use cudarc::nvrtc::{CompileOptions, compile_ptx_with_opts};
use std::path::PathBuf;
use tiny_torch_core::{Error, Result};

/// Prepended to every kernel file.
pub const COMMON_HEADER: &str = include_str!("../../../kernels/common.cuh");

/// Prepended (after [`COMMON_HEADER`]) to the element-wise files, which share how they walk
/// their operands.
const ELEMENTWISE_HEADER: &str = include_str!("../../../kernels/elementwise.cuh");

/// Every kernel file, by stem (one file per op family, the stems of the CPU backend's files).
pub const KERNEL_SOURCES: &[(&str, &str)] = &[
    ("copy", include_str!("../../../kernels/copy.cu")),
    ("unary", include_str!("../../../kernels/unary.cu")),
    ("binary", include_str!("../../../kernels/binary.cu")),
    ("reduce", include_str!("../../../kernels/reduce.cu")),
    ("softmax", include_str!("../../../kernels/softmax.cu")),
    ("indexing", include_str!("../../../kernels/indexing.cu")),
    ("random", include_str!("../../../kernels/random.cu")),
    ("pool", include_str!("../../../kernels/pool.cu")),
    ("batch_norm", include_str!("../../../kernels/batch_norm.cu")),
];

/// Options given to NVRTC besides the architecture. Part of the cache key.
const NVRTC_OPTIONS: &[&str] = &["--std=c++17"];

/// The full source NVRTC compiles for a kernel file.
pub fn full_source(stem: &str) -> Result<String> {
    let (_, body) = KERNEL_SOURCES
        .iter()
        .find(|(name, _)| *name == stem)
        .ok_or_else(|| backend_error(format!("no kernel file named {stem}.cu")))?;
    let elementwise = match stem {
        "unary" | "binary" => ELEMENTWISE_HEADER,
        _ => "",
    };
    Ok(format!(
        "{COMMON_HEADER}\n{elementwise}\n#line 1 \"{stem}.cu\"\n{body}"
    ))
}

/// Whether NVRTC (`libnvrtc.so.13`) can be loaded. cudarc panics on first use when it cannot,
/// so every caller checks this first.
pub fn nvrtc_available() -> bool {
    // SAFETY: only tries to dlopen the library.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}

/// Compiles one kernel file to PTX for `arch` (such as `compute_90`), using the disk cache.
pub fn compile(stem: &str, arch: &str) -> Result<String> {
    let source = full_source(stem)?;
    let key = fnv1a(&[
        source.as_bytes(),
        NVRTC_OPTIONS.join(" ").as_bytes(),
        arch.as_bytes(),
    ]);
    let cached = cache_dir().map(|dir| dir.join(format!("{stem}-{key:016x}-{arch}.ptx")));
    if let Some(path) = &cached
        && let Ok(ptx) = std::fs::read_to_string(path)
    {
        return Ok(ptx);
    }
    let ptx = compile_uncached(stem, &source, arch)?;
    if let Some(path) = &cached {
        write_cache(path, &ptx);
    }
    Ok(ptx)
}

/// Compiles with NVRTC, no cache. Errors carry NVRTC's log.
pub fn compile_uncached(stem: &str, source: &str, arch: &str) -> Result<String> {
    if !nvrtc_available() {
        return Err(backend_error(
            "NVRTC (libnvrtc.so.13) was not found on the library path; install the CUDA 13 \
             runtime or the nvidia-cuda-nvrtc wheel and add its lib folder to LD_LIBRARY_PATH",
        ));
    }
    let mut options: Vec<String> = NVRTC_OPTIONS.iter().map(|s| s.to_string()).collect();
    options.push(format!("--gpu-architecture={arch}"));
    let opts = CompileOptions {
        options,
        name: Some(format!("{stem}.cu")),
        ..Default::default()
    };
    let ptx = compile_ptx_with_opts(source, opts)
        .map_err(|e| backend_error(format!("NVRTC failed to compile {stem}.cu for {arch}: {e}")))?;
    Ok(ptx.to_src())
}

/// `$TINY_TORCH_KERNEL_CACHE`, else `$XDG_CACHE_HOME/tiny-torch/kernels`, else
/// `~/.cache/tiny-torch/kernels`. `None` (no disk cache) when none can be made.
fn cache_dir() -> Option<PathBuf> {
    let dir = if let Some(dir) = std::env::var_os("TINY_TORCH_KERNEL_CACHE") {
        PathBuf::from(dir)
    } else if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        PathBuf::from(dir).join("tiny-torch/kernels")
    } else {
        PathBuf::from(std::env::var_os("HOME")?).join(".cache/tiny-torch/kernels")
    };
    std::fs::create_dir_all(&dir).ok()?;
    Some(dir)
}

/// Best effort: a temporary file renamed into place, so a reader never sees half a file.
fn write_cache(path: &std::path::Path, ptx: &str) {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    if std::fs::write(&tmp, ptx).is_ok() && std::fs::rename(&tmp, path).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

/// FNV-1a, 64 bits: a hash that is stable across runs and Rust versions (unlike `DefaultHasher`).
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for part in parts {
        for &byte in *part {
            hash ^= byte as u64;
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        hash ^= 0xff;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

pub(crate) fn backend_error(msg: impl Into<String>) -> Error {
    Error::Backend {
        backend: "cuda",
        msg: msg.into(),
    }
}
