//! What `tiny-torch env` says about CUDA: each library's version, or why it is missing, and the
//! devices. Every query opens its library with `dlopen` first (cudarc panics on a call into a
//! library it cannot load), so on a machine without CUDA this only reports what is absent.

use crate::{Cuda, DeviceProperties, cudnn_version, device_count};
use cudarc::driver::{result, sys};
use std::ffi::c_int;

/// One library: its name (and the file cudarc opens) and its version, or why it is missing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LibraryStatus {
    pub name: &'static str,
    /// The shared object searched for on the library path.
    pub file: &'static str,
    pub version: Result<String, String>,
}

/// CUDA's state on this machine: the libraries, why CUDA is unavailable (if it is), and each
/// device's properties.
#[derive(Clone, Debug)]
pub struct CudaEnv {
    pub libraries: Vec<LibraryStatus>,
    /// `None` when CUDA tensors can be made; otherwise the reason.
    pub unavailable: Option<String>,
    pub devices: Vec<Result<DeviceProperties, String>>,
}

/// `major * 1000 + minor * 10` (the driver's and runtime's encoding) as `major.minor`.
fn cuda_version(code: c_int) -> String {
    format!("{}.{}", code / 1000, (code % 1000) / 10)
}

/// NCCL's `major * 10000 + minor * 100 + patch` (2.9 and later) as `major.minor.patch`.
fn nccl_version(code: c_int) -> String {
    format!("{}.{}.{}", code / 10000, (code % 10000) / 100, code % 100)
}

/// cuDNN's `major * 10000 + minor * 100 + patch` (9.x) as `major.minor.patch`.
fn cudnn_version_string(code: usize) -> String {
    format!("{}.{}.{}", code / 10000, (code % 10000) / 100, code % 100)
}

fn not_found(file: &str) -> String {
    format!("{file} not found on the library path")
}

fn driver() -> LibraryStatus {
    let file = "libcuda.so.1";
    // SAFETY: only tries to dlopen the library.
    let version = if unsafe { sys::is_culib_present() } {
        let mut code: c_int = 0;
        // SAFETY: the library is loaded; cuDriverGetVersion may be called before cuInit.
        match unsafe { sys::cuDriverGetVersion(&mut code) } {
            sys::CUresult::CUDA_SUCCESS => Ok(format!("CUDA {}", cuda_version(code))),
            e => Err(format!("cuDriverGetVersion failed: {e:?}")),
        }
    } else {
        Err(format!("{} (no NVIDIA driver)", not_found(file)))
    };
    LibraryStatus {
        name: "driver",
        file,
        version,
    }
}

fn nvrtc() -> LibraryStatus {
    use cudarc::nvrtc::sys as nv;
    let file = "libnvrtc.so.13";
    // SAFETY: only tries to dlopen the library.
    let version = if unsafe { nv::is_culib_present() } {
        let (mut major, mut minor): (c_int, c_int) = (0, 0);
        // SAFETY: the library is loaded; the outputs are two ints.
        match unsafe { nv::nvrtcVersion(&mut major, &mut minor) } {
            nv::nvrtcResult::NVRTC_SUCCESS => Ok(format!("{major}.{minor}")),
            e => Err(format!("nvrtcVersion failed: {e:?}")),
        }
    } else {
        Err(not_found(file))
    };
    LibraryStatus {
        name: "NVRTC",
        file,
        version,
    }
}

fn cublas() -> LibraryStatus {
    use cudarc::cublas::sys as cb;
    let file = "libcublas.so.13";
    // SAFETY: only tries to dlopen the library.
    let version = if unsafe { cb::is_culib_present() } {
        let part = |kind| {
            let mut value: c_int = 0;
            // SAFETY: the library is loaded; cublasGetProperty needs no handle.
            let status = unsafe { cb::cublasGetProperty(kind, &mut value) };
            (status == cb::cublasStatus_t::CUBLAS_STATUS_SUCCESS).then_some(value)
        };
        match (
            part(cb::libraryPropertyType::MAJOR_VERSION),
            part(cb::libraryPropertyType::MINOR_VERSION),
            part(cb::libraryPropertyType::PATCH_LEVEL),
        ) {
            (Some(major), Some(minor), Some(patch)) => Ok(format!("{major}.{minor}.{patch}")),
            _ => Err("cublasGetProperty failed".into()),
        }
    } else {
        Err(not_found(file))
    };
    LibraryStatus {
        name: "cuBLAS",
        file,
        version,
    }
}

fn cudnn() -> LibraryStatus {
    let file = "libcudnn.so.9";
    LibraryStatus {
        name: "cuDNN",
        file,
        version: cudnn_version()
            .map(cudnn_version_string)
            .ok_or_else(|| format!("{} (convolutions need it)", not_found(file))),
    }
}

fn nccl() -> LibraryStatus {
    use cudarc::nccl::sys as nc;
    let file = "libnccl.so";
    // SAFETY: only tries to dlopen the library.
    let version = if unsafe { nc::is_culib_present() } {
        let mut code: c_int = 0;
        // SAFETY: the library is loaded; the output is one int.
        match unsafe { nc::ncclGetVersion(&mut code) } {
            nc::ncclResult_t::ncclSuccess => Ok(nccl_version(code)),
            e => Err(format!("ncclGetVersion failed: {e:?}")),
        }
    } else {
        Err(format!(
            "{} (the NCCL process group needs it)",
            not_found(file)
        ))
    };
    LibraryStatus {
        name: "NCCL",
        file,
        version,
    }
}

/// Why no CUDA tensor can be made here, or `None` when one can.
fn unavailable(driver: &LibraryStatus) -> Option<String> {
    if let Err(why) = &driver.version {
        return Some(why.clone());
    }
    if let Err(e) = result::init() {
        return Some(format!("the driver did not initialise (cuInit: {e:?})"));
    }
    (device_count() == 0).then(|| "the driver found no GPU".to_string())
}

/// The report: libraries first (each queried only if it loads), then the devices.
pub fn cuda_env() -> CudaEnv {
    let libraries = vec![driver(), nvrtc(), cublas(), cudnn(), nccl()];
    let unavailable = unavailable(&libraries[0]);
    let devices = if unavailable.is_none() {
        (0..device_count())
            .map(|i| {
                Cuda::new(i)
                    .map(|c| c.properties().clone())
                    .map_err(|e| e.to_string())
            })
            .collect()
    } else {
        Vec::new()
    };
    CudaEnv {
        libraries,
        unavailable,
        devices,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_codes_decode_as_their_libraries_write_them() {
        assert_eq!(cuda_version(13000), "13.0");
        assert_eq!(cuda_version(12080), "12.8");
        assert_eq!(nccl_version(22703), "2.27.3");
        assert_eq!(cudnn_version_string(91000), "9.10.0");
    }

    /// Never panics; without a driver it says so, and lists no device.
    #[test]
    fn the_report_explains_what_is_missing() {
        let env = cuda_env();
        let names: Vec<&str> = env.libraries.iter().map(|l| l.name).collect();
        assert_eq!(names, ["driver", "NVRTC", "cuBLAS", "cuDNN", "NCCL"]);
        if device_count() == 0 {
            assert!(env.unavailable.is_some());
            assert!(env.devices.is_empty());
        } else {
            assert!(env.unavailable.is_none());
            assert_eq!(env.devices.len(), device_count());
        }
    }
}
