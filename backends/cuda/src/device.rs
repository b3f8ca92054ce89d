//! Finding CUDA devices without panicking, and the per-device state every op shares: the
//! context, the one stream, the caching allocator, compiled kernels, the cuBLAS handle and the
//! device-side error flags.

use crate::compile::{self, backend_error};
use crate::cudnn::CudnnState;
use crate::pinned::PinnedPool;
use crate::storage::Pool;
use cudarc::cublas::CudaBlas;
use cudarc::driver::{CudaContext, CudaFunction, CudaModule, CudaStream, result, sys};
use cudarc::nvrtc::Ptx;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use tiny_torch_core::{Error, Result};

/// Whether the CUDA driver library can be loaded and initialised. cudarc panics when `libcuda`
/// is missing, so nothing in this crate touches the driver before this says yes.
pub fn driver_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        // SAFETY: only tries to dlopen the driver library.
        let present = unsafe { sys::is_culib_present() };
        present && result::init().is_ok()
    })
}

/// Number of CUDA devices; 0 without a driver or a GPU (never panics).
pub fn device_count() -> usize {
    if !driver_available() {
        return 0;
    }
    result::device::get_count().map_or(0, |n| n.max(0) as usize)
}

/// `torch.cuda.is_available()`: a driver and at least one device.
pub fn is_available() -> bool {
    device_count() > 0
}

/// What `torch.cuda.get_device_properties` would say about a device, in short.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceProperties {
    pub name: String,
    /// Compute capability (major, minor), e.g. (9, 0) for an H100.
    pub capability: (i32, i32),
    pub total_memory: usize,
    pub multiprocessor_count: u32,
}

static ALLOW_TF32: AtomicBool = AtomicBool::new(false);

/// `torch.backends.cuda.matmul.allow_tf32`: lets f32 matrix products use TF32 tensor cores
/// (about 10 bits of mantissa in the products). Off by default, as in PyTorch.
pub fn set_allow_tf32(allow: bool) {
    ALLOW_TF32.store(allow, Ordering::Relaxed);
}

pub fn allow_tf32() -> bool {
    ALLOW_TF32.load(Ordering::Relaxed)
}

static CUDNN_ALLOW_TF32: AtomicBool = AtomicBool::new(true);

/// `torch.backends.cudnn.allow_tf32`: lets f32 convolutions use TF32 tensor cores. On by
/// default, as in PyTorch (where the matrix-product flag is off but this one is on); the
/// conformance suite and the golden tests turn it off to compare with float64 and CPU results.
pub fn set_cudnn_allow_tf32(allow: bool) {
    CUDNN_ALLOW_TF32.store(allow, Ordering::Relaxed);
}

pub fn cudnn_allow_tf32() -> bool {
    CUDNN_ALLOW_TF32.load(Ordering::Relaxed)
}

static CUDNN_BENCHMARK: AtomicBool = AtomicBool::new(false);

/// `torch.backends.cudnn.benchmark`: the first convolution pass of each shape times up to 10
/// graph-API plans on the GPU (or, on the legacy API, cuDNN's algorithms with
/// `cudnnFind*AlgorithmEx`) and keeps the fastest, instead of taking cuDNN's heuristics' pick. Off by default, as in PyTorch: the search costs a few
/// milliseconds per new shape and its pick may vary from run to run.
pub fn set_cudnn_benchmark(benchmark: bool) {
    CUDNN_BENCHMARK.store(benchmark, Ordering::Relaxed);
}

pub fn cudnn_benchmark() -> bool {
    CUDNN_BENCHMARK.load(Ordering::Relaxed)
}

/// Codes the kernels set in the device-side error word (`kernels/common.cuh`).
const ERROR_INDEX_OUT_OF_RANGE: u32 = 1;
const ERROR_INTEGER_DIVISION_BY_ZERO: u32 = 2;

/// `struct ErrorRecord` of common.cuh: the error word, then details of the first index error.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct ErrorRecord {
    code: u32,
    op: u32,
    index: i64,
    dim: i64,
    size: i64,
}
const ERROR_RECORD_BYTES: usize = std::mem::size_of::<ErrorRecord>();

/// The op an index error came from (`ERROR_OP_*` in common.cuh).
fn error_op_name(op: u32) -> Option<&'static str> {
    match op {
        1 => Some("index_select"),
        2 => Some("gather"),
        3 => Some("scatter"),
        4 => Some("scatter_add"),
        _ => None,
    }
}

impl ErrorRecord {
    fn into_error(self) -> Option<Error> {
        if self.code == 0 {
            return None;
        }
        if self.code & ERROR_INDEX_OUT_OF_RANGE != 0 {
            return Some(match error_op_name(self.op) {
                Some(op) => Error::IndexOutOfRange {
                    op,
                    index: self.index,
                    dim: self.dim.max(0) as usize,
                    size: self.size.max(0) as usize,
                },
                None => Error::invalid(
                    "cuda kernel",
                    "index out of bounds in an indexing op queued since the last synchronization",
                ),
            });
        }
        if self.code & ERROR_INTEGER_DIVISION_BY_ZERO != 0 {
            return Some(Error::invalid(
                "div",
                "ZeroDivisionError: integer division by zero (in an op queued since the last \
                 synchronization)",
            ));
        }
        Some(backend_error(format!(
            "a kernel reported error code {}",
            self.code
        )))
    }
}

/// One device's shared state. One per ordinal per process; never dropped, so that storages
/// freed late (at exit, from other threads) always find their pool and context.
pub struct CudaDevice {
    pub(crate) ordinal: usize,
    pub(crate) ctx: Arc<CudaContext>,
    /// The one stream every op of this device is queued on, in program order.
    pub(crate) stream: Arc<CudaStream>,
    pub(crate) properties: DeviceProperties,
    /// `compute_XY`, the architecture kernels are compiled for.
    arch: String,
    pub(crate) pool: Mutex<Pool>,
    /// Page-locked host blocks that host-to-device copies are staged in.
    pub(crate) pinned: Mutex<PinnedPool>,
    modules: Mutex<HashMap<&'static str, Arc<CudaModule>>>,
    functions: Mutex<HashMap<String, CudaFunction>>,
    blas: Mutex<Option<CudaBlas>>,
    /// The cuDNN handle and convolution-algorithm cache, created on first use.
    cudnn: Mutex<Option<CudnnState>>,
    /// `ERROR_SLOTS` `ErrorRecord`s in device memory that kernels set error codes in: one per
    /// thread that queues work (see [`CudaDevice::error_flags`]).
    error_records: sys::CUdeviceptr,
    /// The record slots no live thread holds (slot 0, the shared one, is never in it).
    free_error_slots: Mutex<Vec<usize>>,
}

/// How many error records a device has: slot 0 is shared by the threads beyond the first
/// `ERROR_SLOTS - 1` that use the device at once (their errors may then be reported to each
/// other); every other thread has a record of its own.
const ERROR_SLOTS: usize = 256;

/// The error-record slot a thread holds on one device; handed back, cleared, when the thread
/// ends.
struct HeldErrorSlot {
    device: Arc<CudaDevice>,
    slot: usize,
}

impl Drop for HeldErrorSlot {
    fn drop(&mut self) {
        if self.slot == 0 {
            return;
        }
        // Cleared on the stream, after every kernel the ending thread queued, so the next
        // holder starts clean; an error the thread never synchronized for is dropped with it.
        // A failure here means the context is broken, which every later call reports.
        if self.device.bind().is_ok() {
            // SAFETY: the slot lies inside the live error_records allocation.
            let _ = unsafe {
                result::memset_d8_async(
                    self.device.error_record(self.slot),
                    0,
                    ERROR_RECORD_BYTES,
                    self.device.stream.cu_stream(),
                )
            };
        }
        lock(&self.device.free_error_slots).push(self.slot);
    }
}

thread_local! {
    /// The calling thread's error-record slot on each device it has used.
    static HELD_ERROR_SLOTS: std::cell::RefCell<Vec<HeldErrorSlot>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

impl std::fmt::Debug for CudaDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CudaDevice({}, {})", self.ordinal, self.properties.name)
    }
}

fn driver_error(what: &str, e: impl std::fmt::Display) -> Error {
    backend_error(format!("{what}: {e}"))
}

impl CudaDevice {
    /// The shared state of device `ordinal`, created on first use.
    pub(crate) fn get(ordinal: usize) -> Result<Arc<CudaDevice>> {
        static DEVICES: OnceLock<Mutex<HashMap<usize, Arc<CudaDevice>>>> = OnceLock::new();
        let count = device_count();
        if count == 0 {
            return Err(backend_error(if driver_available() {
                "no CUDA device found (the driver loaded, but reports 0 devices)".to_string()
            } else {
                "CUDA is not available: the driver library (libcuda.so) could not be loaded"
                    .to_string()
            }));
        }
        if ordinal >= count {
            return Err(backend_error(format!(
                "invalid device ordinal cuda:{ordinal}: {count} CUDA device(s) present"
            )));
        }
        let mut devices = DEVICES
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(device) = devices.get(&ordinal) {
            return Ok(device.clone());
        }
        let device = Arc::new(Self::open(ordinal)?);
        devices.insert(ordinal, device.clone());
        Ok(device)
    }

    fn open(ordinal: usize) -> Result<CudaDevice> {
        let ctx = CudaContext::new(ordinal).map_err(|e| driver_error("creating the context", e))?;
        // Storages are raw pointers ordered by the one stream; cudarc's per-buffer events
        // would only add work.
        // SAFETY: this crate never uses cudarc's CudaSlice on more than one stream.
        unsafe { ctx.disable_event_tracking() };
        let stream = ctx
            .new_stream()
            .map_err(|e| driver_error("creating a stream", e))?;
        let capability = ctx
            .compute_capability()
            .map_err(|e| driver_error("querying the compute capability", e))?;
        let properties = DeviceProperties {
            name: ctx
                .name()
                .map_err(|e| driver_error("querying the name", e))?,
            capability,
            total_memory: ctx.total_mem().unwrap_or(0),
            multiprocessor_count: ctx
                .attribute(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)
                .map_or(1, |n| n.max(1) as u32),
        };
        // SAFETY: a small allocation on the bound context, zeroed on our stream (so before any
        // kernel that sets a flag) and waited for.
        let error_records = unsafe {
            ctx.bind_to_thread()
                .map_err(|e| driver_error("binding the context", e))?;
            let bytes = ERROR_SLOTS * ERROR_RECORD_BYTES;
            let ptr = result::malloc_sync(bytes).map_err(|e| driver_error("allocating", e))?;
            result::memset_d8_async(ptr, 0, bytes, stream.cu_stream())
                .map_err(|e| driver_error("memset", e))?;
            stream
                .synchronize()
                .map_err(|e| driver_error("synchronizing", e))?;
            ptr
        };
        Ok(CudaDevice {
            ordinal,
            arch: format!("compute_{}{}", capability.0, capability.1),
            ctx,
            stream,
            properties,
            pool: Mutex::new(Pool::default()),
            pinned: Mutex::default(),
            modules: Mutex::default(),
            functions: Mutex::default(),
            blas: Mutex::new(None),
            cudnn: Mutex::new(None),
            error_records,
            // Popped from the end: threads take slots 1, 2, ... in order.
            free_error_slots: Mutex::new((1..ERROR_SLOTS).rev().collect()),
        })
    }

    /// Makes this device's context current on the calling thread (every entry point does).
    pub(crate) fn bind(&self) -> Result<()> {
        self.ctx
            .bind_to_thread()
            .map_err(|e| driver_error("binding the context", e))
    }

    fn error_record(&self, slot: usize) -> sys::CUdeviceptr {
        self.error_records + (slot * ERROR_RECORD_BYTES) as sys::CUdeviceptr
    }

    /// The calling thread's error record on this device, which the kernels it queues set error
    /// codes in, and [`synchronize`](Self::synchronize) reads. One record per thread, so that
    /// an out-of-range index is reported to the thread whose op read it, even while other
    /// threads queue and synchronize on the same device (its one stream is shared).
    pub(crate) fn error_flags(&self) -> sys::CUdeviceptr {
        let slot = HELD_ERROR_SLOTS.with(|held| {
            let mut held = held.borrow_mut();
            if let Some(h) = held.iter().find(|h| h.device.ordinal == self.ordinal) {
                return h.slot;
            }
            let slot = lock(&self.free_error_slots).pop().unwrap_or(0);
            // The device lives in the process-wide table for good; `get` finds it there.
            if let Ok(device) = CudaDevice::get(self.ordinal) {
                held.push(HeldErrorSlot { device, slot });
            }
            slot
        });
        self.error_record(slot)
    }

    /// Kernel `name` from `kernels/{stem}.cu`, compiling the file on first use.
    pub(crate) fn function(&self, stem: &'static str, name: &str) -> Result<CudaFunction> {
        if let Some(f) = lock(&self.functions).get(name) {
            return Ok(f.clone());
        }
        let module = self.module(stem)?;
        let f = module
            .load_function(name)
            .map_err(|e| backend_error(format!("kernel {name} not found in {stem}.cu: {e}")))?;
        lock(&self.functions).insert(name.to_string(), f.clone());
        Ok(f)
    }

    fn module(&self, stem: &'static str) -> Result<Arc<CudaModule>> {
        if let Some(m) = lock(&self.modules).get(stem) {
            return Ok(m.clone());
        }
        // Compiled without holding the lock, so threads compile different files at once
        // (NVRTC takes seconds per file); a file compiled twice by a race is loaded once.
        let ptx = compile::compile(stem, &self.arch)?;
        let mut modules = lock(&self.modules);
        if let Some(m) = modules.get(stem) {
            return Ok(m.clone());
        }
        let module = self
            .ctx
            .load_module(Ptx::from_src(ptx))
            .map_err(|e| driver_error(&format!("loading {stem}.cu ({})", self.arch), e))?;
        modules.insert(stem, module.clone());
        Ok(module)
    }

    /// The cuBLAS handle (on this device's stream), created on first use.
    pub(crate) fn blas(&self) -> Result<MutexGuard<'_, Option<CudaBlas>>> {
        let mut blas = lock(&self.blas);
        if blas.is_none() {
            // SAFETY: only tries to dlopen the library.
            if !unsafe { cudarc::cublas::sys::is_culib_present() } {
                return Err(backend_error(
                    "cuBLAS (libcublas.so.13) was not found on the library path",
                ));
            }
            *blas = Some(
                CudaBlas::new(self.stream.clone())
                    .map_err(|e| driver_error("creating the cuBLAS handle", e))?,
            );
        }
        Ok(blas)
    }

    /// The cuDNN state (handle on this device's stream, algorithm cache), created on first
    /// use; an error, never a panic, when cuDNN cannot be loaded.
    pub(crate) fn cudnn(&self) -> Result<MutexGuard<'_, Option<CudnnState>>> {
        let mut cudnn = lock(&self.cudnn);
        if cudnn.is_none() {
            *cudnn = Some(CudnnState::new(self)?);
        }
        Ok(cudnn)
    }

    /// Waits for the stream, then reports (and clears) any error a kernel that this thread
    /// queued flagged.
    ///
    /// The stream is non-blocking (not ordered with the legacy default stream), so the read and
    /// the clear of the flags are both queued on it: the read after every kernel queued so far,
    /// the clear before any kernel queued later.
    pub(crate) fn synchronize(&self) -> Result<()> {
        self.bind()?;
        let error_flags = self.error_flags();
        let mut record = [0u8; ERROR_RECORD_BYTES];
        // SAFETY: error_flags is a live ErrorRecord-sized device allocation; `record` outlives
        // the copy, which the stream synchronization below waits for.
        unsafe {
            result::memcpy_dtoh_async(&mut record, error_flags, self.stream.cu_stream())
                .map_err(|e| driver_error("reading the error flags", e))?;
        }
        self.stream
            .synchronize()
            .map_err(|e| driver_error("synchronizing", e))?;
        let record = ErrorRecord {
            code: u32::from_le_bytes(record[0..4].try_into().unwrap_or_default()),
            op: u32::from_le_bytes(record[4..8].try_into().unwrap_or_default()),
            index: i64::from_le_bytes(record[8..16].try_into().unwrap_or_default()),
            dim: i64::from_le_bytes(record[16..24].try_into().unwrap_or_default()),
            size: i64::from_le_bytes(record[24..32].try_into().unwrap_or_default()),
        };
        match record.into_error() {
            None => Ok(()),
            Some(error) => {
                // Cleared so the next error is reported afresh: queued on the stream, so every
                // kernel queued after this call sees clean flags, and waited for, so the flags
                // are clean when this returns.
                // SAFETY: as above.
                unsafe {
                    result::memset_d8_async(
                        error_flags,
                        0,
                        ERROR_RECORD_BYTES,
                        self.stream.cu_stream(),
                    )
                    .map_err(|e| driver_error("clearing the error flags", e))?;
                }
                self.stream
                    .synchronize()
                    .map_err(|e| driver_error("synchronizing", e))?;
                Err(error)
            }
        }
    }
}

/// Locks a mutex, recovering from poisoning (the guarded caches stay consistent on panic).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
