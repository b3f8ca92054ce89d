//! `tiny-torch env` (PyTorch's `python -m torch.utils.collect_env`): the backends compiled in,
//! the devices each finds, the versions of the libraries they load at run time (CUDA driver,
//! NVRTC, cuBLAS, cuDNN, NCCL; the Vulkan adapters), and, for each backend that cannot run
//! here, why. Nothing in it panics on a machine that lacks a library.

use std::fmt::Write;

/// The report as text, one section per backend.
pub fn report() -> String {
    let mut out = String::new();
    let compiled: Vec<&str> = [
        (cfg!(feature = "cpu"), "cpu"),
        (cfg!(feature = "cuda"), "cuda"),
        (cfg!(feature = "wgpu"), "wgpu"),
        (cfg!(feature = "mpi"), "mpi"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect();
    let _ = writeln!(out, "Tiny-Torch {}", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(out, "backends compiled in: {}", compiled.join(", "));
    cpu_section(&mut out);
    cuda_section(&mut out);
    wgpu_section(&mut out);
    mpi_section(&mut out);
    out
}

fn cpu_section(out: &mut String) {
    #[cfg(feature = "cpu")]
    {
        let _ = writeln!(out, "\ncpu: available");
        let _ = writeln!(
            out,
            "  threads: {} (rayon; RAYON_NUM_THREADS sets them)",
            tiny_torch_cpu::num_threads()
        );
        let _ = writeln!(out, "  SIMD: {}", simd_features());
    }
    #[cfg(not(feature = "cpu"))]
    let _ = writeln!(out, "\ncpu: not compiled in (cargo feature `cpu`)");
}

/// The vector extensions the CPU kernels pick from, as the CPU reports them.
#[cfg(feature = "cpu")]
fn simd_features() -> String {
    #[cfg(target_arch = "x86_64")]
    {
        let found: Vec<&str> = [
            ("avx2", std::is_x86_feature_detected!("avx2")),
            ("fma", std::is_x86_feature_detected!("fma")),
            ("f16c", std::is_x86_feature_detected!("f16c")),
            ("avx512f", std::is_x86_feature_detected!("avx512f")),
        ]
        .into_iter()
        .filter_map(|(name, on)| on.then_some(name))
        .collect();
        if found.is_empty() {
            "none beyond SSE2 (portable loops)".into()
        } else {
            found.join(" ")
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        format!("{} (portable loops)", std::env::consts::ARCH)
    }
}

fn cuda_section(out: &mut String) {
    #[cfg(feature = "cuda")]
    {
        let env = tiny_torch_cuda::cuda_env();
        match &env.unavailable {
            None => {
                let _ = writeln!(out, "\ncuda: available ({} device(s))", env.devices.len());
            }
            Some(why) => {
                let _ = writeln!(out, "\ncuda: not available: {why}");
            }
        }
        for lib in &env.libraries {
            let state = match &lib.version {
                Ok(v) => v.clone(),
                Err(why) => format!("missing: {why}"),
            };
            let _ = writeln!(out, "  {:<8} {state}", lib.name);
        }
        for (i, device) in env.devices.iter().enumerate() {
            match device {
                Ok(p) => {
                    let _ = writeln!(
                        out,
                        "  cuda:{i}   {}, compute capability {}.{}, {:.1} GiB, {} SMs",
                        p.name,
                        p.capability.0,
                        p.capability.1,
                        p.total_memory as f64 / (1u64 << 30) as f64,
                        p.multiprocessor_count
                    );
                }
                Err(e) => {
                    let _ = writeln!(out, "  cuda:{i}   cannot be opened: {e}");
                }
            }
        }
    }
    #[cfg(not(feature = "cuda"))]
    let _ = writeln!(out, "\ncuda: not compiled in (cargo feature `cuda`)");
}

fn wgpu_section(out: &mut String) {
    #[cfg(feature = "wgpu")]
    {
        let adapters = tiny_torch_wgpu::adapters();
        if adapters.is_empty() {
            let _ = writeln!(
                out,
                "\nwgpu: not available: no Vulkan adapter found (a GPU driver, or Mesa's \
                 lavapipe: `apt-get install mesa-vulkan-drivers`)"
            );
        } else {
            let _ = writeln!(out, "\nwgpu: available ({} adapter(s))", adapters.len());
        }
        for a in &adapters {
            let _ = writeln!(
                out,
                "  wgpu:{}   {} ({}, {}; driver {})",
                a.index, a.name, a.device_type, a.backend, a.driver
            );
        }
    }
    #[cfg(not(feature = "wgpu"))]
    let _ = writeln!(out, "\nwgpu: not compiled in (cargo feature `wgpu`)");
}

fn mpi_section(out: &mut String) {
    if cfg!(feature = "mpi") {
        let _ = writeln!(
            out,
            "\nmpi: compiled in (the MPI process group, CPU and wgpu tensors)"
        );
    } else {
        let _ = writeln!(
            out,
            "\nmpi: not compiled in (build with `--features mpi`; needs OpenMPI's libmpi-dev)"
        );
    }
}
