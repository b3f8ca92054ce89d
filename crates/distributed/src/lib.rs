//! Tiny-Torch distributed: process groups, `DistributedDataParallel` and a torchrun-like
//! launcher (`torch.distributed`).
//!
//! - [`init_process_group`] joins the job: [`DistBackend::Mpi`] takes its ranks from `mpirun`
//!   and moves CPU (and wgpu) tensors through OpenMPI, staged on the host (feature `mpi`);
//!   [`DistBackend::Nccl`] takes them from the environment `tiny-torch run` sets (`RANK`,
//!   `WORLD_SIZE`, `LOCAL_RANK`, `MASTER_ADDR`, `MASTER_PORT`), meets the other ranks at the
//!   [`TcpStore`] that rank 0 serves, and moves CUDA tensors through NCCL (feature `nccl`).
//!   Existing engines only: no collective algorithm here is home-made.
//! - [`ProcessGroup`]: all_reduce (sum, avg, max, min), broadcast, all_gather, reduce_scatter,
//!   barrier; each has an asynchronous form returning a [`Work`], and each fails with an error
//!   after the group's timeout instead of hanging when another rank died.
//! - [`DistributedDataParallel`]: gradient buckets all-reduced while backward runs.
//! - [`launch`]: the launcher behind `tiny-torch run --nproc-per-node N -- PROGRAM`.
//!
//! See docs/distributed.md for how to launch jobs on one and several machines.

pub mod ddp;
mod env;
// Host staging: only the MPI group moves tensors through host memory.
#[cfg(feature = "mpi")]
mod host;
pub mod launch;
#[cfg(feature = "mpi")]
mod mpi;
#[cfg(feature = "nccl")]
mod nccl;
mod process_group;
mod store;

pub use ddp::{DdpConfig, DistributedDataParallel, NoSyncGuard};
pub use env::DistEnv;
#[cfg(feature = "mpi")]
pub use mpi::MpiProcessGroup;
#[cfg(feature = "nccl")]
pub use nccl::NcclProcessGroup;
pub use process_group::{Group, ProcessGroup, ReduceOp, Work};
pub use store::TcpStore;

use std::time::Duration;
use tiny_torch_core::{Backend, Error, Result};

/// PyTorch's default timeout for collectives (`default_pg_timeout`, 30 minutes).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// The engine behind a process group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DistBackend {
    /// OpenMPI, for tensors on the host side (CPU; wgpu staged through the host).
    Mpi,
    /// NCCL, for CUDA tensors.
    Nccl,
}

impl std::str::FromStr for DistBackend {
    type Err = Error;

    fn from_str(name: &str) -> Result<Self> {
        match name {
            "mpi" => Ok(DistBackend::Mpi),
            "nccl" => Ok(DistBackend::Nccl),
            other => Err(Error::distributed(
                "init_process_group",
                format!("unknown backend {other:?} (expected \"mpi\" or \"nccl\")"),
            )),
        }
    }
}

/// Whether this build has the engine (`mpi` and `nccl` are Cargo features).
pub fn is_backend_compiled(backend: DistBackend) -> bool {
    match backend {
        DistBackend::Mpi => cfg!(feature = "mpi"),
        DistBackend::Nccl => cfg!(feature = "nccl"),
    }
}

/// Joins the job and returns the default process group for tensors of `device`'s backend.
///
/// `Mpi`: ranks from `mpirun` (a program started without it is a world of one). `Nccl`: ranks
/// from the torchrun environment ([`DistEnv`]), rendezvous at rank 0's [`TcpStore`]; `device`
/// must be the CUDA device of this rank (usually `Cuda::new(LOCAL_RANK)`).
pub fn init_process_group<B: Backend>(
    backend: DistBackend,
    device: &B,
    timeout: Duration,
) -> Result<Group<B>> {
    let _ = device;
    match backend {
        #[cfg(feature = "mpi")]
        DistBackend::Mpi => Ok(std::sync::Arc::new(MpiProcessGroup::new(timeout)?)),
        #[cfg(feature = "nccl")]
        DistBackend::Nccl => nccl::init_for(device, timeout),
        #[allow(unreachable_patterns)]
        other => Err(Error::distributed(
            "init_process_group",
            format!(
                "this build of Tiny-Torch has no {other:?} engine: enable the Cargo feature `{}` \
                 (timeout {timeout:?})",
                match other {
                    DistBackend::Mpi => "mpi",
                    DistBackend::Nccl => "nccl",
                }
            ),
        )),
    }
}
