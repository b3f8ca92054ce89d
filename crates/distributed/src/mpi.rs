//! The MPI process group (OpenMPI through the `mpi` crate): CPU and wgpu tensors, staged on the
//! host.
//!
//! As in PyTorch's `ProcessGroupMPI`, one worker thread owns MPI: it initializes it, runs the
//! collectives in the order they were submitted, and finalizes it when the group is dropped.
//! A collective is a job sent to that thread; its [`Work`] waits for the reply with the
//! group's timeout. So a DDP bucket's all-reduce runs on the worker while backward goes on,
//! and a rank that died or hangs turns into an error on the others instead of a hang.
//!
//! Ranks come from `mpirun` (`mpirun -n 4 PROGRAM`); a program started without it is a world of
//! one. A panic on any rank calls `MPI_Abort`, which ends every rank (otherwise the others
//! would wait in their next collective forever).

use crate::host::{HostBuffer, with_host_buffer};
use crate::process_group::{ProcessGroup, ReduceOp, Work, check_per_rank, check_reduce, check_src};
use mpi::collective::SystemOperation;
use mpi::environment::Threading;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, Once};
use std::thread::JoinHandle;
use std::time::Duration;
use tiny_torch_core::{Backend, DType, Error, Result};
use tiny_torch_tensor::Tensor;

type Job = Box<dyn FnOnce(&SimpleCommunicator) + Send>;

/// A process group over `MPI_COMM_WORLD`.
pub struct MpiProcessGroup {
    rank: usize,
    world_size: usize,
    timeout: Duration,
    jobs: Mutex<Option<Sender<Job>>>,
    worker: Mutex<Option<JoinHandle<()>>>,
    /// Set when a collective timed out: the worker is stuck in MPI and can't be cancelled.
    broken: Arc<AtomicBool>,
}

impl std::fmt::Debug for MpiProcessGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "MpiProcessGroup(rank {} of {})",
            self.rank, self.world_size
        )
    }
}

impl MpiProcessGroup {
    /// Initializes MPI (once per process) on the worker thread and returns the world group.
    pub fn new(timeout: Duration) -> Result<Self> {
        let (jobs, inbox) = mpsc::channel::<Job>();
        let (ready, started) = mpsc::channel::<Result<(usize, usize)>>();
        let worker = std::thread::Builder::new()
            .name("tiny-torch-mpi".into())
            .spawn(move || run_worker(inbox, ready))
            .map_err(|e| {
                Error::distributed(
                    "init_process_group(mpi)",
                    format!("cannot start the MPI thread: {e}"),
                )
            })?;
        let (rank, world_size) = started.recv().map_err(|_| {
            Error::distributed(
                "init_process_group(mpi)",
                "the MPI thread ended during MPI_Init",
            )
        })??;
        if world_size > 1 {
            install_abort_on_panic();
        }
        Ok(MpiProcessGroup {
            rank,
            world_size,
            timeout,
            jobs: Mutex::new(Some(jobs)),
            worker: Mutex::new(Some(worker)),
            broken: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Runs `job` on the MPI thread; the returned work waits for its result (with the timeout)
    /// and hands it to `finish`.
    fn submit<T: Send + 'static>(
        &self,
        op: &'static str,
        job: impl FnOnce(&SimpleCommunicator) -> T + Send + 'static,
        finish: impl FnOnce(T) -> Result<()> + Send + 'static,
    ) -> Result<Work> {
        if self.broken.load(Ordering::Relaxed) {
            return Err(Error::distributed(
                op,
                format!(
                    "rank {}: the MPI process group is unusable after an earlier collective timed out",
                    self.rank
                ),
            ));
        }
        let (reply, result) = mpsc::channel();
        let boxed: Job = Box::new(move |world| {
            let _ = reply.send(job(world));
        });
        let sent = self
            .jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|jobs| jobs.send(boxed).is_ok())
            .unwrap_or(false);
        if !sent {
            return Err(Error::distributed(op, "the MPI thread has ended"));
        }
        let (rank, world_size, timeout) = (self.rank, self.world_size, self.timeout);
        let broken = self.broken.clone();
        Ok(Work::new(op, move || {
            let value = wait_for(&result, op, rank, world_size, timeout, &broken)?;
            finish(value)
        }))
    }
}

fn wait_for<T>(
    result: &Receiver<T>,
    op: &'static str,
    rank: usize,
    world_size: usize,
    timeout: Duration,
    broken: &AtomicBool,
) -> Result<T> {
    match result.recv_timeout(timeout) {
        Ok(value) => Ok(value),
        Err(RecvTimeoutError::Timeout) => {
            broken.store(true, Ordering::Relaxed);
            let err = Error::distributed(
                op,
                format!(
                    "rank {rank} of {world_size}: timed out after {timeout:?} (backend mpi): another \
                     rank died, hangs, or called a different collective"
                ),
            );
            // Printed here too: the program's own report may come after MPI tore the job down.
            eprintln!("tiny-torch distributed: {err}");
            Err(err)
        }
        Err(RecvTimeoutError::Disconnected) => Err(Error::distributed(
            op,
            format!("rank {rank}: the MPI thread ended during the collective"),
        )),
    }
}

fn run_worker(inbox: Receiver<Job>, ready: Sender<Result<(usize, usize)>>) {
    if mpi::is_initialized() {
        let _ = ready.send(Err(Error::distributed(
            "init_process_group(mpi)",
            "MPI is initialized already in this process (MPI_Init runs once per process: keep \
             the first process group)",
        )));
        return;
    }
    // Only this thread calls MPI ("funneled"), as in PyTorch's ProcessGroupMPI.
    let Some((universe, _level)) = mpi::initialize_with_threading(Threading::Funneled) else {
        let _ = ready.send(Err(Error::distributed(
            "init_process_group(mpi)",
            "MPI_Init_thread failed",
        )));
        return;
    };
    let world = universe.world();
    let _ = ready.send(Ok((world.rank() as usize, world.size() as usize)));
    for job in inbox {
        job(&world);
    }
    // Every handle is gone: finalize (dropping the universe calls MPI_Finalize).
    drop(world);
    drop(universe);
}

/// The name prefix of `tiny_torch_data::DataLoader`'s worker threads (crates/data/src/loader.rs).
const DATA_WORKER_PREFIX: &str = "tiny-torch-data-worker-";

/// A panic on one rank would leave the others waiting in a collective (and unwinding would
/// call `MPI_Finalize`, which waits for them too): abort the whole job instead. Except on the
/// threads of a `DataLoader` (named [`DATA_WORKER_PREFIX`]), which catch their panics and hand
/// them to the training loop as that batch's `Err`, as PyTorch re-raises a worker's exception.
fn install_abort_on_panic() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            previous(info);
            let thread = std::thread::current();
            if thread
                .name()
                .is_some_and(|name| name.starts_with(DATA_WORKER_PREFIX))
            {
                return;
            }
            // After MPI_Finalize (the group was dropped) there is nobody to stop: no abort.
            let mut finalized = 0;
            // SAFETY: MPI_Finalized may be called at any time, before or after MPI_Init.
            unsafe {
                mpi::ffi::MPI_Finalized(&mut finalized);
            }
            if finalized != 0 {
                return;
            }
            eprintln!(
                "tiny-torch distributed: a panic on this rank: calling MPI_Abort to stop every rank"
            );
            // SAFETY: MPI is initialized and not finalized; MPI_Abort does not return.
            unsafe {
                mpi::ffi::MPI_Abort(mpi::ffi::RSMPI_COMM_WORLD, 1);
            }
        }));
    });
}

impl Drop for MpiProcessGroup {
    fn drop(&mut self) {
        // Closing the queue ends the worker loop, which finalizes MPI.
        self.jobs.lock().unwrap_or_else(|p| p.into_inner()).take();
        let worker = self.worker.lock().unwrap_or_else(|p| p.into_inner()).take();
        if !self.broken.load(Ordering::Relaxed)
            && let Some(worker) = worker
        {
            let _ = worker.join();
        }
        // A broken group's worker is stuck in a collective: leave it; the process exits with an
        // error and mpirun ends the job.
    }
}

/// The MPI operation for `op` on `dtype`. bool travels as u8 0/1, where "sum" is "any"
/// (as PyTorch reads a bool sum back) and max/min are any/all.
fn mpi_op(op: ReduceOp, dtype: DType) -> SystemOperation {
    match op {
        ReduceOp::Sum if dtype == DType::Bool => SystemOperation::max(),
        ReduceOp::Sum | ReduceOp::Avg => SystemOperation::sum(),
        ReduceOp::Max => SystemOperation::max(),
        ReduceOp::Min => SystemOperation::min(),
    }
}

fn all_reduce_host(
    world: &SimpleCommunicator,
    send: HostBuffer,
    op: SystemOperation,
) -> HostBuffer {
    let mut recv = send.zeros_like(send.len());
    match (&send, &mut recv) {
        (HostBuffer::F32(s), HostBuffer::F32(r)) => world.all_reduce_into(&s[..], &mut r[..], op),
        (HostBuffer::F64(s), HostBuffer::F64(r)) => world.all_reduce_into(&s[..], &mut r[..], op),
        (HostBuffer::I64(s), HostBuffer::I64(r)) => world.all_reduce_into(&s[..], &mut r[..], op),
        (HostBuffer::I32(s), HostBuffer::I32(r)) => world.all_reduce_into(&s[..], &mut r[..], op),
        (HostBuffer::U8(s), HostBuffer::U8(r)) => world.all_reduce_into(&s[..], &mut r[..], op),
        _ => unreachable!("zeros_like keeps the element type"),
    }
    recv
}

impl<B: Backend> ProcessGroup<B> for MpiProcessGroup {
    fn rank(&self) -> usize {
        self.rank
    }

    fn world_size(&self) -> usize {
        self.world_size
    }

    fn backend_name(&self) -> &'static str {
        "mpi"
    }

    fn timeout(&self) -> Duration {
        self.timeout
    }

    fn all_reduce_async(&self, tensor: &Tensor<B>, op: ReduceOp) -> Result<Work> {
        check_reduce("all_reduce", tensor.dtype(), op, "mpi")?;
        let send = HostBuffer::from_tensor(tensor)?;
        let (world_size, dtype) = (self.world_size, tensor.dtype());
        let target = tensor.clone();
        self.submit(
            "all_reduce",
            move |world| all_reduce_host(world, send, mpi_op(op, dtype)),
            move |mut result| {
                if op == ReduceOp::Avg {
                    result.divide(world_size);
                }
                result.write_into(&target)
            },
        )
    }

    fn broadcast_async(&self, tensor: &Tensor<B>, src: usize) -> Result<Work> {
        check_src("broadcast", src, self.world_size)?;
        let mut buffer = HostBuffer::from_tensor(tensor)?;
        let target = tensor.clone();
        let is_src = src == self.rank;
        self.submit(
            "broadcast",
            move |world| {
                let root = world.process_at_rank(src as i32);
                with_host_buffer!(&mut buffer, v => root.broadcast_into(&mut v[..]));
                buffer
            },
            move |result| {
                if is_src {
                    Ok(())
                } else {
                    result.write_into(&target)
                }
            },
        )
    }

    fn all_gather_async(&self, outputs: &[Tensor<B>], input: &Tensor<B>) -> Result<Work> {
        check_per_rank("all_gather", outputs, input, self.world_size)?;
        let send = HostBuffer::from_tensor(input)?;
        let targets = outputs.to_vec();
        let (n, world_size) = (send.len(), self.world_size);
        self.submit(
            "all_gather",
            move |world| {
                let mut recv = send.zeros_like(n * world_size);
                match (&send, &mut recv) {
                    (HostBuffer::F32(s), HostBuffer::F32(r)) => {
                        world.all_gather_into(&s[..], &mut r[..])
                    }
                    (HostBuffer::F64(s), HostBuffer::F64(r)) => {
                        world.all_gather_into(&s[..], &mut r[..])
                    }
                    (HostBuffer::I64(s), HostBuffer::I64(r)) => {
                        world.all_gather_into(&s[..], &mut r[..])
                    }
                    (HostBuffer::I32(s), HostBuffer::I32(r)) => {
                        world.all_gather_into(&s[..], &mut r[..])
                    }
                    (HostBuffer::U8(s), HostBuffer::U8(r)) => {
                        world.all_gather_into(&s[..], &mut r[..])
                    }
                    _ => unreachable!("zeros_like keeps the element type"),
                }
                recv
            },
            move |gathered| {
                for (rank, target) in targets.iter().enumerate() {
                    gathered.slice(rank * n, n).write_into(target)?;
                }
                Ok(())
            },
        )
    }

    fn reduce_scatter_async(
        &self,
        output: &Tensor<B>,
        inputs: &[Tensor<B>],
        op: ReduceOp,
    ) -> Result<Work> {
        check_per_rank("reduce_scatter", inputs, output, self.world_size)?;
        check_reduce("reduce_scatter", output.dtype(), op, "mpi")?;
        let send = HostBuffer::concat(inputs)?;
        let (n, dtype) = (output.numel(), output.dtype());
        let world_size = self.world_size;
        let target = output.clone();
        self.submit(
            "reduce_scatter",
            move |world| {
                let mpi_op = mpi_op(op, dtype);
                let mut recv = send.zeros_like(n);
                match (&send, &mut recv) {
                    (HostBuffer::F32(s), HostBuffer::F32(r)) => {
                        world.reduce_scatter_block_into(&s[..], &mut r[..], mpi_op)
                    }
                    (HostBuffer::F64(s), HostBuffer::F64(r)) => {
                        world.reduce_scatter_block_into(&s[..], &mut r[..], mpi_op)
                    }
                    (HostBuffer::I64(s), HostBuffer::I64(r)) => {
                        world.reduce_scatter_block_into(&s[..], &mut r[..], mpi_op)
                    }
                    (HostBuffer::I32(s), HostBuffer::I32(r)) => {
                        world.reduce_scatter_block_into(&s[..], &mut r[..], mpi_op)
                    }
                    (HostBuffer::U8(s), HostBuffer::U8(r)) => {
                        world.reduce_scatter_block_into(&s[..], &mut r[..], mpi_op)
                    }
                    _ => unreachable!("zeros_like keeps the element type"),
                }
                recv
            },
            move |mut result| {
                if op == ReduceOp::Avg {
                    result.divide(world_size);
                }
                result.write_into(&target)
            },
        )
    }

    fn barrier_async(&self) -> Result<Work> {
        self.submit("barrier", |world| world.barrier(), |()| Ok(()))
    }
}
