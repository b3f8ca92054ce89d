//! The conformance suite: one generic test body per op family (`check_elementwise<B: Backend>`,
//! ...), instantiated for every backend present by [`conformance_tests!`].
//!
//! References are computed independently, in `f64` by hand loops inside the tests (never with
//! the library's own ops), and the random stream is recomputed from `tiny_torch_core::philox`.
//! PyTorch's golden outputs are checked by `tests/golden.rs`.
//!
//! A backend that is absent on this machine is skipped with a printed reason, unless it is named
//! in `TINY_TORCH_REQUIRE` (a comma list such as `cpu,wgpu`, as CI sets it): then the test fails.
//!
//! Each family runs all of its checks and reports every failing one (a check stops at its first
//! failed assertion), so one bug does not hide the next.

#![cfg_attr(not(feature = "cpu"), allow(dead_code, unused_macros, unused_imports))]

mod common;

mod batch_norm;
mod conv;
mod creation;
mod elementwise;
mod errors;
mod indexing;
mod matmul;
mod pool;
mod random;
mod reduce;
mod softmax;
mod view;

/// Backends this suite knows by name (for `TINY_TORCH_REQUIRE`).
const KNOWN_BACKENDS: &[&str] = &["cpu", "cuda", "wgpu"];

/// Tools `TINY_TORCH_REQUIRE` may also name, checked by their own tests (`nvrtc`: NVRTC and
/// ptxas compile every CUDA kernel, backends/cuda/tests/kernels.rs; `mpi`: mpirun runs the
/// collectives and DDP tests, crates/distributed/tests/mpi.rs).
const KNOWN_TOOLS: &[&str] = &["nvrtc", "mpi"];

/// Backends compiled into this build.
const COMPILED_BACKENDS: &[&str] = &[
    #[cfg(feature = "cpu")]
    "cpu",
    #[cfg(feature = "cuda")]
    "cuda",
    #[cfg(feature = "wgpu")]
    "wgpu",
];

/// One test per op family for one backend. `$make` is an expression of type
/// `Result<B, String>`: the backend, or why it is unavailable on this machine.
macro_rules! conformance_tests {
    ($module:ident, $name:literal, $make:expr) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;

            fn backend() -> Option<impl tiny_torch::Backend> {
                crate::common::backend_or_skip($name, || $make)
            }

            #[test]
            fn elementwise() {
                if let Some(b) = backend() {
                    crate::elementwise::check_elementwise(&b);
                }
            }

            #[test]
            fn reduce() {
                if let Some(b) = backend() {
                    crate::reduce::check_reduce(&b);
                }
            }

            #[test]
            fn matmul() {
                if let Some(b) = backend() {
                    crate::matmul::check_matmul(&b);
                }
            }

            #[test]
            fn view() {
                if let Some(b) = backend() {
                    crate::view::check_view(&b);
                }
            }

            #[test]
            fn indexing() {
                if let Some(b) = backend() {
                    crate::indexing::check_indexing(&b);
                }
            }

            #[test]
            fn softmax() {
                if let Some(b) = backend() {
                    crate::softmax::check_softmax(&b);
                }
            }

            #[test]
            fn random() {
                if let Some(b) = backend() {
                    crate::random::check_random(&b);
                }
            }

            #[test]
            fn creation() {
                if let Some(b) = backend() {
                    crate::creation::check_creation(&b);
                }
            }

            #[test]
            fn conv() {
                if let Some(b) = backend() {
                    crate::conv::check_conv(&b);
                }
            }

            #[test]
            fn pool() {
                if let Some(b) = backend() {
                    crate::pool::check_pool(&b);
                }
            }

            #[test]
            fn batch_norm() {
                if let Some(b) = backend() {
                    crate::batch_norm::check_batch_norm(&b);
                }
            }

            #[test]
            fn errors() {
                if let Some(b) = backend() {
                    crate::errors::check_errors(&b);
                }
            }
        }
    };
}

#[cfg(feature = "cpu")]
conformance_tests!(cpu, "cpu", Ok::<_, String>(tiny_torch::Cpu));

#[cfg(feature = "cuda")]
conformance_tests!(cuda, "cuda", {
    // Compared with float64 references: f32 convolutions in full f32, not TF32.
    tiny_torch::cuda::set_cudnn_allow_tf32(false);
    tiny_torch::cuda::Cuda::new(0).map_err(|e| e.to_string())
});

#[cfg(feature = "wgpu")]
conformance_tests!(
    wgpu,
    "wgpu",
    tiny_torch::wgpu::Wgpu::try_default().map_err(|e| e.to_string())
);

/// Every backend named in `TINY_TORCH_REQUIRE` must be known and compiled into this build (a
/// backend compiled in but unavailable at run time fails its own tests above).
#[test]
fn required_backends_are_compiled_in() {
    let required = common::required_backends();
    for name in KNOWN_BACKENDS {
        if !COMPILED_BACKENDS.contains(name) && !required.iter().any(|r| r == name) {
            eprintln!("skipping the {name} backend: not compiled into this build");
        }
    }
    for name in required
        .into_iter()
        .filter(|r| !KNOWN_TOOLS.contains(&r.as_str()))
    {
        assert!(
            KNOWN_BACKENDS.contains(&name.as_str()),
            "TINY_TORCH_REQUIRE names '{name}', which is not a backend (known: {KNOWN_BACKENDS:?})"
        );
        assert!(
            COMPILED_BACKENDS.contains(&name.as_str()),
            "TINY_TORCH_REQUIRE names '{name}', but the {name} backend is not compiled into this \
             build (compiled: {COMPILED_BACKENDS:?}; enable the `{name}` feature)"
        );
    }
}

/// cuDNN's benchmark mode (`set_cudnn_benchmark`, off by default), checked on its own: the
/// convolution family again, every pass and shape timed on first use (graph-API plans, or the
/// legacy algorithms for a forward with a bias), against the same references. The mode is
/// process-wide, so the convolutions of tests running beside this one may be timed too; that
/// changes only which algorithm computes them.
#[cfg(feature = "cuda")]
mod cuda_benchmark {
    /// Turns benchmark mode off again, also when a check fails.
    struct BenchmarkMode;

    impl Drop for BenchmarkMode {
        fn drop(&mut self) {
            tiny_torch::cuda::set_cudnn_benchmark(false);
        }
    }

    #[test]
    fn conv() {
        let backend = crate::common::backend_or_skip("cuda", || {
            tiny_torch::cuda::set_cudnn_allow_tf32(false);
            tiny_torch::cuda::Cuda::new(0).map_err(|e| e.to_string())
        });
        if let Some(b) = backend {
            tiny_torch::cuda::set_cudnn_benchmark(true);
            let _off_again = BenchmarkMode;
            crate::conv::check_conv(&b);
        }
    }
}
