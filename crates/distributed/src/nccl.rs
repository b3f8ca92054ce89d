//! The NCCL process group: CUDA tensors, one process per GPU (cudarc's NCCL bindings, loaded
//! at run time like the rest of CUDA).
//!
//! Rendezvous as torchrun does: ranks from [`DistEnv`], rank 0 creates the NCCL unique id and
//! publishes it in the [`TcpStore`] it serves; the others read it there.
//!
//! Streams: collectives run on a stream of their own. Before one starts, that stream waits for
//! everything queued so far on the device's compute stream (the tensor's producers); when it is
//! enqueued, an event marks its end. [`Work::wait`] waits for that event with the group's
//! timeout (a host wait, like PyTorch's watchdog; on timeout the communicator is aborted and
//! the group is broken), then makes the compute stream wait for it, so later kernels see the
//! result. Until then, backward keeps computing on the compute stream while NCCL reduces the
//! buckets that are ready: the overlap DDP is after.

use crate::env::DistEnv;
use crate::process_group::{
    Group, ProcessGroup, ReduceOp, Work, check_per_rank, check_reduce, check_src,
};
use crate::store::TcpStore;
use cudarc::driver::{CudaEvent, CudaStream};
use cudarc::nccl::{result as nccl, sys as nccl_sys};
use std::any::Any;
use std::ffi::c_void;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tiny_torch_core::{Backend, DType, Error, Result};
use tiny_torch_cuda::Cuda;
use tiny_torch_tensor::Tensor;
use tiny_torch_tensor::autograd::no_grad;

/// The communicator handle (a pointer NCCL allows to use from any thread, one call at a time:
/// the group issues its collectives under its `issuing` mutex).
struct Comm(nccl_sys::ncclComm_t);
// SAFETY: an ncclComm_t may be used from any thread; Tiny-Torch issues its calls one at a time
// (`NcclProcessGroup::issuing`), and aborts it at most once (`broken`).
unsafe impl Send for Comm {}
unsafe impl Sync for Comm {}

/// A process group over NCCL for tensors on one CUDA device per process.
pub struct NcclProcessGroup {
    rank: usize,
    world_size: usize,
    timeout: Duration,
    cuda: Cuda,
    comm: Comm,
    stream: Arc<CudaStream>,
    /// Set when the communicator is aborted (a timeout) or destroyed: waits then fail at once,
    /// and nothing aborts it again.
    broken: Arc<AtomicBool>,
    /// Held while a collective is issued, and while a timed-out wait aborts the communicator:
    /// two threads sharing the group must not make NCCL calls on one communicator at once.
    issuing: Arc<std::sync::Mutex<()>>,
    // Kept for the life of the group: rank 0 serves the store the others may still use.
    _store: TcpStore,
}

impl std::fmt::Debug for NcclProcessGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "NcclProcessGroup(rank {} of {}, cuda:{})",
            self.rank,
            self.world_size,
            self.cuda.ordinal()
        )
    }
}

fn nccl_error(op: &str, e: impl std::fmt::Debug) -> Error {
    Error::distributed(op, format!("NCCL: {e:?}"))
}

fn driver_error(op: &str, e: impl std::fmt::Debug) -> Error {
    Error::distributed(op, format!("CUDA driver: {e:?}"))
}

/// Whether libnccl can be loaded.
pub fn nccl_available() -> bool {
    // SAFETY: only tries to dlopen the library.
    unsafe { nccl_sys::is_culib_present() }
}

/// `init_process_group(Nccl)` for a device of backend `B`, which must be CUDA.
pub(crate) fn init_for<B: Backend>(device: &B, timeout: Duration) -> Result<Group<B>> {
    let Some(cuda) = (device as &dyn Any).downcast_ref::<Cuda>() else {
        return Err(Error::distributed(
            "init_process_group(nccl)",
            format!(
                "NCCL moves CUDA tensors; {} tensors go through DistBackend::Mpi",
                device.name()
            ),
        ));
    };
    let group: Group<Cuda> = Arc::new(NcclProcessGroup::new(cuda, timeout)?);
    // B is Cuda (checked above): hand the group back under its generic name.
    let boxed: Box<dyn Any> = Box::new(group);
    Ok(*boxed.downcast::<Group<B>>().expect("B is Cuda"))
}

impl NcclProcessGroup {
    /// Joins the job described by the environment (`tiny-torch run` sets it) on device `cuda`.
    pub fn new(cuda: &Cuda, timeout: Duration) -> Result<Self> {
        Self::with_env(cuda, &DistEnv::from_env()?, timeout)
    }

    /// Joins the job `env` describes (ranks, rank 0's store) on device `cuda`.
    pub fn with_env(cuda: &Cuda, env: &DistEnv, timeout: Duration) -> Result<Self> {
        const OP: &str = "init_process_group(nccl)";
        if !nccl_available() {
            return Err(Error::distributed(
                OP,
                "libnccl.so could not be loaded (install NCCL, e.g. the nvidia-nccl-cu13 wheel, \
                 and put its lib folder on LD_LIBRARY_PATH; cudarc looks for libnccl.so)",
            ));
        }
        let store = if env.rank == 0 {
            TcpStore::serve(env.master_port, timeout)?
        } else {
            TcpStore::connect(&env.master_addr, env.master_port, timeout)?
        };
        const KEY: &str = "tiny-torch/nccl/unique-id";
        let id = if env.rank == 0 {
            let id = nccl::get_uniqueid().map_err(|e| nccl_error(OP, e))?;
            let bytes: Vec<u8> = id.internal.iter().map(|&c| c as u8).collect();
            store.set(KEY, &bytes)?;
            id
        } else {
            let bytes = store.get(KEY)?;
            let mut id = nccl_sys::ncclUniqueId { internal: [0; 128] };
            if bytes.len() != id.internal.len() {
                return Err(Error::distributed(
                    OP,
                    format!(
                        "the store holds a {}-byte NCCL id, expected 128",
                        bytes.len()
                    ),
                ));
            }
            for (dst, src) in id.internal.iter_mut().zip(bytes) {
                *dst = src as _;
            }
            id
        };
        cuda.bind_to_thread()?;
        let mut comm = std::mem::MaybeUninit::uninit();
        // SAFETY: `comm` is written by NCCL; the id is the same on every rank.
        let comm = unsafe {
            nccl::comm_init_rank(
                comm.as_mut_ptr(),
                env.world_size as i32,
                id,
                env.rank as i32,
            )
            .map_err(|e| nccl_error(OP, e))?;
            comm.assume_init()
        };
        let stream = cuda.stream().fork().map_err(|e| driver_error(OP, e))?;
        Ok(NcclProcessGroup {
            rank: env.rank,
            world_size: env.world_size,
            timeout,
            cuda: cuda.clone(),
            comm: Comm(comm),
            stream,
            broken: Arc::new(AtomicBool::new(false)),
            issuing: Arc::new(std::sync::Mutex::new(())),
            _store: store,
        })
    }

    fn check_usable(&self, op: &str) -> Result<()> {
        if self.broken.load(Ordering::Relaxed) {
            return Err(Error::distributed(
                op,
                format!(
                    "rank {}: the NCCL communicator was aborted after an earlier collective timed out",
                    self.rank
                ),
            ));
        }
        Ok(())
    }

    /// Runs `enqueue` on the NCCL stream after the compute stream's work so far; the work
    /// then waits for it and runs `finish` on the compute stream.
    fn run(
        &self,
        op: &'static str,
        enqueue: impl FnOnce(nccl_sys::ncclComm_t, nccl_sys::cudaStream_t) -> Result<()>,
        finish: impl FnOnce() -> Result<()> + Send + 'static,
    ) -> Result<Work> {
        let _issuing = self.issuing.lock().unwrap_or_else(|p| p.into_inner());
        // Under the lock: a wait that timed out cannot abort the communicator in between.
        self.check_usable(op)?;
        self.cuda.bind_to_thread()?;
        let compute = self.cuda.stream().clone();
        self.stream
            .join(&compute)
            .map_err(|e| driver_error(op, e))?;
        enqueue(
            self.comm.0,
            self.stream.cu_stream() as nccl_sys::cudaStream_t,
        )?;
        let done = self
            .stream
            .record_event(None)
            .map_err(|e| driver_error(op, e))?;
        let (rank, world_size, timeout) = (self.rank, self.world_size, self.timeout);
        let comm = Comm(self.comm.0);
        let issuing = Arc::clone(&self.issuing);
        let mut queued = Queued {
            done,
            compute,
            broken: self.broken.clone(),
            finish: Some(finish),
        };
        Ok(Work::new(op, move || {
            let done = &queued.done;
            let group = Broken {
                flag: &queued.broken,
                comm: &comm,
                issuing: &issuing,
            };
            wait_event(done, op, rank, world_size, timeout, &group)?;
            queued.compute.wait(done).map_err(|e| driver_error(op, e))?;
            match queued.finish.take() {
                Some(finish) => finish(),
                None => Ok(()),
            }
        }))
    }
}

/// A collective queued on the NCCL stream; `finish` holds the buffers it reads and writes.
///
/// The caching allocator hands a freed block to the next allocation on the compute stream at
/// once, so those buffers must not go back to it while NCCL may still use them (PyTorch's
/// `recordStream` keeps such a block from reuse until the other stream is done with it). A
/// [`Work`] dropped without `wait` (a caller's early `?`) lets them go only if the collective
/// has ended; otherwise they stay allocated for good. (Making the compute stream wait for it
/// instead could hang every later synchronization if a peer died: only `Work::wait` has the
/// group's timeout.)
struct Queued<F> {
    /// Recorded on the NCCL stream after the collective.
    done: CudaEvent,
    /// Made to wait for `done` by `Work::wait`, so later kernels see the results.
    compute: Arc<CudaStream>,
    broken: Arc<AtomicBool>,
    /// `None` once the work completed.
    finish: Option<F>,
}

impl<F> Drop for Queued<F> {
    fn drop(&mut self) {
        use cudarc::driver::sys::{CUresult, cuEventQuery};
        let Some(finish) = self.finish.take() else {
            return;
        };
        // SAFETY: the event is alive; querying it does not wait.
        let ended = unsafe { cuEventQuery(self.done.cu_event()) } == CUresult::CUDA_SUCCESS;
        if !ended || self.broken.load(Ordering::Relaxed) {
            std::mem::forget(finish);
        }
    }
}

/// What a wait needs to give up on a communicator: the group's broken flag, the handle, and
/// the lock collectives are issued under.
struct Broken<'a> {
    flag: &'a AtomicBool,
    comm: &'a Comm,
    issuing: &'a std::sync::Mutex<()>,
}

/// Polls `event` until it completed or `timeout` passed (then aborts the communicator).
fn wait_event(
    event: &CudaEvent,
    op: &str,
    rank: usize,
    world_size: usize,
    timeout: Duration,
    group: &Broken<'_>,
) -> Result<()> {
    let broken = group.flag;
    use cudarc::driver::sys::{CUresult, cuEventQuery};
    let start = Instant::now();
    loop {
        // SAFETY: the event is alive and its context is current.
        match unsafe { cuEventQuery(event.cu_event()) } {
            CUresult::CUDA_SUCCESS => return Ok(()),
            CUresult::CUDA_ERROR_NOT_READY => {}
            other => return Err(driver_error(op, other)),
        }
        // Another wait timed out and aborted the communicator (or the group was dropped):
        // this collective will not complete, and its buffers hold nothing meaningful.
        if broken.load(Ordering::Relaxed) {
            return Err(Error::distributed(
                op,
                format!(
                    "rank {rank} of {world_size}: the communicator was aborted (a collective \
                     timed out) or its group was dropped (backend nccl)"
                ),
            ));
        }
        if start.elapsed() > timeout {
            // Not while another thread issues a collective on it.
            let _issuing = group.issuing.lock().unwrap_or_else(|p| p.into_inner());
            if !broken.swap(true, Ordering::Relaxed) {
                // SAFETY: ends the communicator's pending operations; `broken` (checked by
                // every issue under the same lock) keeps it from being used or aborted again.
                let _ = unsafe { nccl::comm_abort(group.comm.0) };
            }
            let err = Error::distributed(
                op,
                format!(
                    "rank {rank} of {world_size}: timed out after {timeout:?} (backend nccl): another \
                     rank died, hangs, or called a different collective; the communicator was aborted"
                ),
            );
            eprintln!("tiny-torch distributed: {err}");
            return Err(err);
        }
        std::thread::sleep(Duration::from_micros(50));
    }
}

/// NCCL's element type for `dtype` (bool travels as u8 0/1).
fn nccl_dtype(dtype: DType) -> nccl_sys::ncclDataType_t {
    use nccl_sys::ncclDataType_t as T;
    match dtype {
        DType::F32 => T::ncclFloat32,
        DType::F64 => T::ncclFloat64,
        DType::F16 => T::ncclFloat16,
        DType::BF16 => T::ncclBfloat16,
        DType::I64 => T::ncclInt64,
        DType::I32 => T::ncclInt32,
        DType::U8 | DType::Bool => T::ncclUint8,
    }
}

fn nccl_op(op: ReduceOp, dtype: DType) -> nccl_sys::ncclRedOp_t {
    use nccl_sys::ncclRedOp_t as R;
    match op {
        ReduceOp::Sum if dtype == DType::Bool => R::ncclMax,
        ReduceOp::Sum => R::ncclSum,
        ReduceOp::Avg => R::ncclAvg,
        ReduceOp::Max => R::ncclMax,
        ReduceOp::Min => R::ncclMin,
    }
}

/// A contiguous tensor holding `tensor`'s elements (itself when already contiguous, so NCCL
/// works in place) and its device address.
fn contiguous_buffer(tensor: &Tensor<Cuda>) -> Result<(Tensor<Cuda>, u64)> {
    let buffer = tensor.contiguous()?;
    let ptr = buffer.storage().device_ptr(buffer.layout().offset());
    Ok((buffer, ptr))
}

/// Copies `buffer` back into `target` when they are different storages.
fn write_back(target: &Tensor<Cuda>, buffer: &Tensor<Cuda>) -> Result<()> {
    if target.shares_storage_with(buffer) {
        return Ok(());
    }
    let _no_grad = no_grad();
    target.copy_(buffer)
}

impl ProcessGroup<Cuda> for NcclProcessGroup {
    fn rank(&self) -> usize {
        self.rank
    }

    fn world_size(&self) -> usize {
        self.world_size
    }

    fn backend_name(&self) -> &'static str {
        "nccl"
    }

    fn timeout(&self) -> Duration {
        self.timeout
    }

    fn all_reduce_async(&self, tensor: &Tensor<Cuda>, op: ReduceOp) -> Result<Work> {
        check_reduce("all_reduce", tensor.dtype(), op, "nccl")?;
        let (buffer, ptr) = contiguous_buffer(tensor)?;
        let (n, dtype) = (tensor.numel(), tensor.dtype());
        let target = tensor.clone();
        self.run(
            "all_reduce",
            |comm, stream| {
                // SAFETY: `ptr` addresses `n` elements of `buffer`, alive until the work ends.
                unsafe {
                    nccl::all_reduce(
                        ptr as *const c_void,
                        ptr as *mut c_void,
                        n,
                        nccl_dtype(dtype),
                        nccl_op(op, dtype),
                        comm,
                        stream,
                    )
                }
                .map(|_| ())
                .map_err(|e| nccl_error("all_reduce", e))
            },
            move || write_back(&target, &buffer),
        )
    }

    fn broadcast_async(&self, tensor: &Tensor<Cuda>, src: usize) -> Result<Work> {
        check_src("broadcast", src, self.world_size)?;
        let (buffer, ptr) = contiguous_buffer(tensor)?;
        let (n, dtype) = (tensor.numel(), tensor.dtype());
        let target = tensor.clone();
        self.run(
            "broadcast",
            |comm, stream| {
                // SAFETY: as in all_reduce.
                unsafe {
                    nccl::broadcast(
                        ptr as *const c_void,
                        ptr as *mut c_void,
                        n,
                        nccl_dtype(dtype),
                        src as i32,
                        comm,
                        stream,
                    )
                }
                .map(|_| ())
                .map_err(|e| nccl_error("broadcast", e))
            },
            move || write_back(&target, &buffer),
        )
    }

    fn all_gather_async(&self, outputs: &[Tensor<Cuda>], input: &Tensor<Cuda>) -> Result<Work> {
        check_per_rank("all_gather", outputs, input, self.world_size)?;
        let (send, send_ptr) = contiguous_buffer(input)?;
        let n = input.numel();
        let gathered = Tensor::zeros(&[self.world_size * n], input.dtype(), input.backend())?;
        let recv_ptr = gathered.storage().device_ptr(0);
        let dtype = input.dtype();
        let targets = outputs.to_vec();
        self.run(
            "all_gather",
            |comm, stream| {
                // SAFETY: `send` holds n elements, `gathered` world_size * n; both outlive the work.
                unsafe {
                    nccl::all_gather(
                        send_ptr as *const c_void,
                        recv_ptr as *mut c_void,
                        n,
                        nccl_dtype(dtype),
                        comm,
                        stream,
                    )
                }
                .map(|_| ())
                .map_err(|e| nccl_error("all_gather", e))
            },
            move || {
                let _keep_alive = send;
                let _no_grad = no_grad();
                for (rank, target) in targets.iter().enumerate() {
                    let dims: Vec<isize> = target.dims().iter().map(|&d| d as isize).collect();
                    target.copy_(&gathered.narrow(0, rank * n, n)?.view(&dims)?)?;
                }
                Ok(())
            },
        )
    }

    fn reduce_scatter_async(
        &self,
        output: &Tensor<Cuda>,
        inputs: &[Tensor<Cuda>],
        op: ReduceOp,
    ) -> Result<Work> {
        check_per_rank("reduce_scatter", inputs, output, self.world_size)?;
        check_reduce("reduce_scatter", output.dtype(), op, "nccl")?;
        let flat: Vec<Tensor<Cuda>> = inputs
            .iter()
            .map(|t| t.reshape(&[-1]))
            .collect::<Result<_>>()?;
        let send = Tensor::cat(&flat.iter().collect::<Vec<_>>(), 0)?;
        let send_ptr = send.storage().device_ptr(send.layout().offset());
        let (recv, recv_ptr) = contiguous_buffer(output)?;
        let (n, dtype) = (output.numel(), output.dtype());
        let target = output.clone();
        self.run(
            "reduce_scatter",
            |comm, stream| {
                // SAFETY: `send` holds world_size * n elements, `recv` n; both outlive the work.
                unsafe {
                    nccl::reduce_scatter(
                        send_ptr as *const c_void,
                        recv_ptr as *mut c_void,
                        n,
                        nccl_dtype(dtype),
                        nccl_op(op, dtype),
                        comm,
                        stream,
                    )
                }
                .map(|_| ())
                .map_err(|e| nccl_error("reduce_scatter", e))
            },
            move || {
                let _keep_alive = send;
                write_back(&target, &recv)
            },
        )
    }

    fn barrier_async(&self) -> Result<Work> {
        // NCCL has no barrier: a one-element all-reduce orders every rank the same way.
        let token = Tensor::zeros(&[1], DType::F32, &self.cuda)?;
        self.all_reduce_async(&token, ReduceOp::Sum)
    }
}

impl Drop for NcclProcessGroup {
    fn drop(&mut self) {
        // A Work that outlives the group then fails its wait instead of touching the handle.
        if self.broken.swap(true, Ordering::Relaxed) {
            return; // aborted already
        }
        let _ = self.stream.synchronize();
        // SAFETY: no collective is pending (the stream is idle); the handle is not used again.
        let _ = unsafe { nccl::comm_destroy(self.comm.0) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtypes_map_explicitly() {
        use nccl_sys::ncclDataType_t as T;
        assert_eq!(nccl_dtype(DType::BF16), T::ncclBfloat16);
        assert_eq!(nccl_dtype(DType::F16), T::ncclFloat16);
        assert_eq!(nccl_dtype(DType::Bool), T::ncclUint8);
        assert_eq!(
            nccl_op(ReduceOp::Sum, DType::Bool),
            nccl_sys::ncclRedOp_t::ncclMax
        );
    }

    #[test]
    fn detection_does_not_panic_and_cpu_tensors_are_refused() {
        let _ = nccl_available();
        let err = match init_for(&tiny_torch_cpu::Cpu, Duration::from_secs(1)) {
            Ok(_) => panic!("a CPU group on NCCL"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("DistBackend::Mpi"), "{err}");
    }
}
