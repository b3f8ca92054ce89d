//! cuDNN through cudarc's raw (`result` / `sys`) level, on our raw device pointers: the per-device
//! handle (created on first use, bound to the device's one stream, like the cuBLAS handle),
//! descriptors that destroy themselves, and the convolution-algorithm choice, cached per device
//! and per (kind, dtype, shapes, parameters, TF32 flag).
//!
//! The algorithm comes from cuDNN's heuristics (`cudnnGet*Algorithm_v7`, which runs nothing on
//! the GPU): the candidates that report success, can run in the required math mode and whose
//! workspace cuDNN can size and free memory can hold, in the heuristics' order except that, for
//! f32 and f64, GEMM-like (direct-sum) algorithms come before FFT and Winograd ones, and within
//! that, deterministic algorithms before non-deterministic ones. `conv.rs` runs the first whose
//! workspace it can allocate and caches that one. f32 convolutions may use TF32 tensor cores
//! unless `tiny_torch::cuda::set_cudnn_allow_tf32(false)` (then FMA math), as in PyTorch.
//!
//! cuDNN is opened with `dlopen` at first use; when `libcudnn.so.9` cannot be loaded the ops
//! that need it return an `Error::Backend` saying so (checked first: cudarc would panic).

use crate::compile::backend_error;
use crate::device::CudaDevice;
use cudarc::cudnn::result::{self as cr, CudnnError};
use cudarc::cudnn::sys as cs;
use cudarc::driver::result;
use std::collections::HashMap;
use std::ffi::{c_int, c_void};
use tiny_torch_core::{Conv2dParams, DType, Error, Result};

/// Whether cuDNN (`libcudnn.so.9`) can be loaded. Never panics.
pub fn cudnn_available() -> bool {
    // SAFETY: only tries to dlopen the library.
    unsafe { cs::is_culib_present() }
}

/// The loaded cuDNN's version (`cudnnGetVersion`, e.g. 91000 for 9.10.0), if it loads.
pub fn cudnn_version() -> Option<usize> {
    cudnn_available().then(cr::get_version)
}

pub(crate) fn cudnn_error(what: &str, e: CudnnError) -> Error {
    backend_error(format!("cuDNN {what}: {:?}", e.0))
}

/// The three convolution passes, each with its own algorithm enum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum ConvKind {
    Forward,
    BackwardData,
    BackwardFilter,
}

/// What an algorithm choice depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ConvKey {
    pub kind: ConvKind,
    pub dtype: DType,
    pub input: [usize; 4],
    pub weight: [usize; 4],
    pub params: Conv2dParams,
    pub tf32: bool,
    /// Chosen by timing the algorithms (`set_cudnn_benchmark`) rather than by the heuristics.
    pub benchmark: bool,
}

/// A chosen algorithm (its enum value), the math type to run it in and its workspace bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ConvChoice {
    pub algo: u32,
    pub math: cs::cudnnMathType_t,
    pub workspace: usize,
}

/// One device's cuDNN handle and algorithm cache, behind the device's mutex (a cuDNN handle
/// must not be used by two threads at once).
pub(crate) struct CudnnState {
    handle: cs::cudnnHandle_t,
    algos: HashMap<ConvKey, ConvChoice>,
    /// Graph-API execution plans (`cudnn_graph`); `None` where none could be built or run.
    pub(crate) graph_plans: HashMap<ConvKey, Option<crate::cudnn_graph::Plan>>,
}

// SAFETY: the handle and the plans are only used under the device's mutex, with the device's
// context bound. A plan's `Rc`'d graph is shared only with the other plans of one benchmark
// search, which keeps one of them (its count back at 1) before the mutex is released.
unsafe impl Send for CudnnState {}

impl CudnnState {
    /// A handle on `device`'s stream. The caller holds the device's cuDNN mutex.
    pub(crate) fn new(device: &CudaDevice) -> Result<Self> {
        if !cudnn_available() {
            return Err(backend_error(
                "cuDNN (libcudnn.so.9) was not found on the library path; convolutions on CUDA \
                 need it (install cuDNN 9 or the nvidia-cudnn-cu13 wheel and add its lib folder \
                 to LD_LIBRARY_PATH)",
            ));
        }
        device.bind()?;
        let handle = cr::create_handle().map_err(|e| cudnn_error("creating the handle", e))?;
        // SAFETY: a live handle and the device's live stream (a CUstream is a cudaStream_t).
        if let Err(e) = unsafe { cr::set_stream(handle, device.stream.cu_stream() as _) } {
            // SAFETY: created just above, used by nothing else.
            unsafe {
                let _ = cr::destroy_handle(handle);
            }
            return Err(cudnn_error("setting the stream", e));
        }
        Ok(CudnnState {
            handle,
            algos: HashMap::new(),
            graph_plans: HashMap::new(),
        })
    }

    pub(crate) fn handle(&self) -> cs::cudnnHandle_t {
        self.handle
    }

    pub(crate) fn cached(&self, key: &ConvKey) -> Option<ConvChoice> {
        self.algos.get(key).copied()
    }

    pub(crate) fn remember(&mut self, key: ConvKey, choice: ConvChoice) {
        self.algos.insert(key, choice);
    }
}

/// alpha = 1 and beta (0: overwrite, 1: accumulate) in the type cuDNN scales `dtype` with
/// (double for f64, float otherwise). The values live in `self`, which outlives the call.
pub(crate) struct Scales {
    one32: f32,
    beta32: f32,
    one64: f64,
    beta64: f64,
    double: bool,
}

impl Scales {
    pub(crate) fn new(dtype: DType, beta: f64) -> Self {
        Scales {
            one32: 1.0,
            beta32: beta as f32,
            one64: 1.0,
            beta64: beta,
            double: dtype == DType::F64,
        }
    }

    pub(crate) fn alpha(&self) -> *const c_void {
        if self.double {
            &self.one64 as *const f64 as *const c_void
        } else {
            &self.one32 as *const f32 as *const c_void
        }
    }

    pub(crate) fn beta(&self) -> *const c_void {
        if self.double {
            &self.beta64 as *const f64 as *const c_void
        } else {
            &self.beta32 as *const f32 as *const c_void
        }
    }
}

// ---------------------------------------------------------------- descriptors

/// cuDNN's data type and the type it computes (and takes alpha / beta) in, for a dtype:
/// `Unsupported` for anything but floats.
pub(crate) fn data_types(
    op: &'static str,
    dtype: DType,
) -> Result<(cs::cudnnDataType_t, cs::cudnnDataType_t)> {
    use cs::cudnnDataType_t::*;
    Ok(match dtype {
        DType::F32 => (CUDNN_DATA_FLOAT, CUDNN_DATA_FLOAT),
        DType::F64 => (CUDNN_DATA_DOUBLE, CUDNN_DATA_DOUBLE),
        DType::F16 => (CUDNN_DATA_HALF, CUDNN_DATA_FLOAT),
        DType::BF16 => (CUDNN_DATA_BFLOAT16, CUDNN_DATA_FLOAT),
        other => return Err(Error::unsupported(op, other, "cuda")),
    })
}

/// A size as cuDNN's `int`.
pub(crate) fn to_int(op: &'static str, value: usize) -> Result<c_int> {
    c_int::try_from(value)
        .map_err(|_| Error::invalid(op, format!("size {value} exceeds cuDNN's 32-bit limit")))
}

fn dims_int(op: &'static str, dims: [usize; 4]) -> Result<[c_int; 4]> {
    let numel = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    if numel.is_none_or(|n| n > c_int::MAX as usize) {
        return Err(Error::invalid(
            op,
            format!("a tensor of shape {dims:?} has more elements than cuDNN takes (2^31 - 1)"),
        ));
    }
    Ok([
        to_int(op, dims[0])?,
        to_int(op, dims[1])?,
        to_int(op, dims[2])?,
        to_int(op, dims[3])?,
    ])
}

/// A packed NCHW tensor descriptor.
pub(crate) struct TensorDesc(pub cs::cudnnTensorDescriptor_t);

impl TensorDesc {
    /// A descriptor not yet set (for `cudnnDerive*` to fill in).
    pub(crate) fn empty() -> Result<Self> {
        Ok(TensorDesc(cr::create_tensor_descriptor().map_err(|e| {
            cudnn_error("creating a tensor descriptor", e)
        })?))
    }

    pub(crate) fn nchw(
        op: &'static str,
        data: cs::cudnnDataType_t,
        dims: [usize; 4],
    ) -> Result<Self> {
        let dims = dims_int(op, dims)?;
        let desc = TensorDesc::empty()?;
        // SAFETY: a live descriptor; dims are positive ints (callers skip empty tensors).
        unsafe {
            cr::set_tensor4d_descriptor(
                desc.0,
                cs::cudnnTensorFormat_t::CUDNN_TENSOR_NCHW,
                data,
                dims,
            )
        }
        .map_err(|e| cudnn_error(&format!("describing a {dims:?} tensor"), e))?;
        Ok(desc)
    }
}

impl Drop for TensorDesc {
    fn drop(&mut self) {
        // SAFETY: created by create_tensor_descriptor, destroyed once.
        unsafe {
            let _ = cr::destroy_tensor_descriptor(self.0);
        }
    }
}

/// A packed `[O, C / groups, kh, kw]` filter descriptor.
pub(crate) struct FilterDesc(pub cs::cudnnFilterDescriptor_t);

impl FilterDesc {
    pub(crate) fn kcrs(
        op: &'static str,
        data: cs::cudnnDataType_t,
        dims: [usize; 4],
    ) -> Result<Self> {
        let dims = dims_int(op, dims)?;
        let desc = FilterDesc(
            cr::create_filter_descriptor()
                .map_err(|e| cudnn_error("creating a filter descriptor", e))?,
        );
        // SAFETY: a live descriptor; dims are positive ints.
        unsafe {
            cr::set_filter4d_descriptor(
                desc.0,
                data,
                cs::cudnnTensorFormat_t::CUDNN_TENSOR_NCHW,
                dims,
            )
        }
        .map_err(|e| cudnn_error(&format!("describing a {dims:?} filter"), e))?;
        Ok(desc)
    }
}

impl Drop for FilterDesc {
    fn drop(&mut self) {
        // SAFETY: created by create_filter_descriptor, destroyed once.
        unsafe {
            let _ = cr::destroy_filter_descriptor(self.0);
        }
    }
}

/// A 2-D cross-correlation (PyTorch's conv2d) with groups, in `compute` precision.
pub(crate) struct ConvDesc(pub cs::cudnnConvolutionDescriptor_t);

impl ConvDesc {
    pub(crate) fn new(
        op: &'static str,
        p: &Conv2dParams,
        compute: cs::cudnnDataType_t,
        math: cs::cudnnMathType_t,
    ) -> Result<Self> {
        let desc = ConvDesc(
            cr::create_convolution_descriptor()
                .map_err(|e| cudnn_error("creating a convolution descriptor", e))?,
        );
        // SAFETY: a live descriptor; every value is a checked int.
        unsafe {
            cr::set_convolution2d_descriptor(
                desc.0,
                to_int(op, p.padding[0])?,
                to_int(op, p.padding[1])?,
                to_int(op, p.stride[0])?,
                to_int(op, p.stride[1])?,
                to_int(op, p.dilation[0])?,
                to_int(op, p.dilation[1])?,
                cs::cudnnConvolutionMode_t::CUDNN_CROSS_CORRELATION,
                compute,
            )
            .map_err(|e| cudnn_error(&format!("describing the convolution {p:?}"), e))?;
            cr::set_convolution_group_count(desc.0, to_int(op, p.groups)?)
                .map_err(|e| cudnn_error(&format!("setting {} groups", p.groups), e))?;
        }
        desc.set_math(math)?;
        Ok(desc)
    }

    pub(crate) fn set_math(&self, math: cs::cudnnMathType_t) -> Result<()> {
        // SAFETY: a live descriptor.
        unsafe { cr::set_convolution_math_type(self.0, math) }
            .map_err(|e| cudnn_error("setting the math type", e))
    }
}

impl Drop for ConvDesc {
    fn drop(&mut self) {
        // SAFETY: created by create_convolution_descriptor, destroyed once.
        unsafe {
            let _ = cr::destroy_convolution_descriptor(self.0);
        }
    }
}

// ---------------------------------------------------------------- algorithm choice

/// The layout of `cudnnConvolution{Fwd,BwdData,BwdFilter}AlgoPerf_t` with plain integers in
/// place of the enums, so that whatever cuDNN writes is read without forming an invalid Rust
/// enum value.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct RawPerf {
    algo: u32,
    status: u32,
    time: f32,
    memory: usize,
    determinism: u32,
    math_type: u32,
    reserved: [c_int; 3],
}

const _: () = {
    use std::mem::{align_of, size_of};
    assert!(size_of::<RawPerf>() == size_of::<cs::cudnnConvolutionFwdAlgoPerf_t>());
    assert!(size_of::<RawPerf>() == size_of::<cs::cudnnConvolutionBwdDataAlgoPerf_t>());
    assert!(size_of::<RawPerf>() == size_of::<cs::cudnnConvolutionBwdFilterAlgoPerf_t>());
    assert!(align_of::<RawPerf>() == align_of::<cs::cudnnConvolutionFwdAlgoPerf_t>());
};

/// Candidates asked of the heuristics (more than any pass has algorithms).
const MAX_CANDIDATES: usize = 16;

pub(crate) fn fwd_algo(v: u32) -> Option<cs::cudnnConvolutionFwdAlgo_t> {
    use cs::cudnnConvolutionFwdAlgo_t::*;
    Some(match v {
        0 => CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM,
        1 => CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM,
        2 => CUDNN_CONVOLUTION_FWD_ALGO_GEMM,
        3 => CUDNN_CONVOLUTION_FWD_ALGO_DIRECT,
        4 => CUDNN_CONVOLUTION_FWD_ALGO_FFT,
        5 => CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING,
        6 => CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD,
        7 => CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED,
        _ => return None,
    })
}

pub(crate) fn bwd_data_algo(v: u32) -> Option<cs::cudnnConvolutionBwdDataAlgo_t> {
    use cs::cudnnConvolutionBwdDataAlgo_t::*;
    Some(match v {
        0 => CUDNN_CONVOLUTION_BWD_DATA_ALGO_0,
        1 => CUDNN_CONVOLUTION_BWD_DATA_ALGO_1,
        2 => CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT,
        3 => CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING,
        4 => CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD,
        5 => CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED,
        _ => return None,
    })
}

pub(crate) fn bwd_filter_algo(v: u32) -> Option<cs::cudnnConvolutionBwdFilterAlgo_t> {
    use cs::cudnnConvolutionBwdFilterAlgo_t::*;
    Some(match v {
        0 => CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0,
        1 => CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1,
        2 => CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT,
        3 => CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3,
        4 => CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD,
        5 => CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD_NONFUSED,
        6 => CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING,
        _ => return None,
    })
}

/// Whether `algo` of `kind` is an FFT or Winograd algorithm (a transformed, not direct, sum).
fn approximate(kind: ConvKind, algo: u32) -> bool {
    match kind {
        ConvKind::Forward => (4..=7).contains(&algo),
        ConvKind::BackwardData => (2..=5).contains(&algo),
        ConvKind::BackwardFilter => matches!(algo, 2 | 4 | 5 | 6),
    }
}

fn math_type(v: u32) -> Option<cs::cudnnMathType_t> {
    use cs::cudnnMathType_t::*;
    Some(match v {
        0 => CUDNN_DEFAULT_MATH,
        1 => CUDNN_TENSOR_OP_MATH,
        2 => CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION,
        3 => CUDNN_FMA_MATH,
        _ => return None,
    })
}

/// The math type a convolution of `dtype` is described with before the algorithm search: FMA
/// for f32 without TF32 (cuDNN's default math lets f32 use TF32 tensor cores on Ampere and
/// later), tensor cores for f16 / bf16, the default for f64 and for f32 with TF32.
pub(crate) fn base_math(dtype: DType, tf32: bool) -> cs::cudnnMathType_t {
    use cs::cudnnMathType_t::*;
    match dtype {
        DType::F32 if !tf32 => CUDNN_FMA_MATH,
        DType::F16 | DType::BF16 => CUDNN_TENSOR_OP_MATH,
        _ => CUDNN_DEFAULT_MATH,
    }
}

/// The three descriptors of one convolution: the input-side tensor `x`, the filter `w` and the
/// output-side tensor `y` (for every pass, `x` is the forward input and `y` its output).
pub(crate) struct ConvDescs {
    pub x: TensorDesc,
    pub w: FilterDesc,
    pub y: TensorDesc,
    pub conv: ConvDesc,
}

/// The workspace `algo` needs for `kind` with `d`'s descriptors (in their current math type).
fn workspace_size(
    handle: cs::cudnnHandle_t,
    kind: ConvKind,
    d: &ConvDescs,
    algo: u32,
) -> std::result::Result<Option<usize>, CudnnError> {
    // SAFETY (each arm): a live handle and live descriptors.
    unsafe {
        match kind {
            ConvKind::Forward => match fwd_algo(algo) {
                Some(a) => cr::get_convolution_forward_workspace_size(
                    handle, d.x.0, d.w.0, d.conv.0, d.y.0, a,
                )
                .map(Some),
                None => Ok(None),
            },
            ConvKind::BackwardData => match bwd_data_algo(algo) {
                Some(a) => cr::get_convolution_backward_data_workspace_size(
                    handle, d.w.0, d.y.0, d.conv.0, d.x.0, a,
                )
                .map(Some),
                None => Ok(None),
            },
            ConvKind::BackwardFilter => match bwd_filter_algo(algo) {
                Some(a) => cr::get_convolution_backward_filter_workspace_size(
                    handle, d.x.0, d.y.0, d.conv.0, d.w.0, a,
                )
                .map(Some),
                None => Ok(None),
            },
        }
    }
}

/// How many workspace bytes an algorithm may ask for: the device's free memory (driver's
/// `cuMemGetInfo`) less a tenth kept as a margin, plus the blocks the caching allocator holds
/// unused (it returns them to the driver before failing an allocation). No limit when the
/// driver cannot say (the allocation fallback in `conv.rs` still applies).
pub(crate) fn workspace_cap(device: &CudaDevice) -> usize {
    let cached = {
        let stats = crate::storage::memory_stats(device);
        stats.reserved.saturating_sub(stats.allocated)
    };
    match device
        .bind()
        .ok()
        .and_then(|()| result::mem_get_info().ok())
    {
        Some((free, _total)) => (free - free / 10).saturating_add(cached),
        None => usize::MAX,
    }
}

/// The algorithms cuDNN's heuristics offer for `key` that can run here, best first, each with
/// the math type to run it in and its workspace size; those whose workspace exceeds
/// `workspace_cap` bytes are left out. The heuristics' ranking is kept within each group, the
/// groups in this order: for f32 / f64 the GEMM-like (direct-sum) algorithms before FFT and
/// Winograd ones; within those, deterministic algorithms (`CUDNN_DETERMINISTIC`) before
/// non-deterministic ones (atomics: the backward passes' ALGO_0), so gradients are reproducible
/// run to run, as the CPU's are, unless only a non-deterministic algorithm fits. f32 with TF32
/// allowed (the default) keeps the heuristics' order, as PyTorch does. Leaves
/// `d.conv` in some candidate's math type: the caller sets the one it runs with.
pub(crate) fn candidates(
    handle: cs::cudnnHandle_t,
    key: &ConvKey,
    d: &ConvDescs,
    workspace_cap: usize,
) -> Result<Vec<ConvChoice>> {
    let base = base_math(key.dtype, key.tf32);
    d.conv.set_math(base)?;
    let mut perfs = [RawPerf::default(); MAX_CANDIDATES];
    let mut returned: c_int = 0;
    let requested = MAX_CANDIDATES as c_int;
    // SAFETY: live handle and descriptors; `perfs` has room for `requested` results laid out as
    // cuDNN's perf structs (RawPerf mirrors them, checked at compile time).
    let found = unsafe {
        match key.kind {
            ConvKind::Forward => cr::get_convolution_forward_algorithm(
                handle,
                d.x.0,
                d.w.0,
                d.conv.0,
                d.y.0,
                requested,
                &mut returned,
                perfs.as_mut_ptr().cast(),
            ),
            ConvKind::BackwardData => cr::get_convolution_backward_data_algorithm(
                handle,
                d.w.0,
                d.y.0,
                d.conv.0,
                d.x.0,
                requested,
                &mut returned,
                perfs.as_mut_ptr().cast(),
            ),
            ConvKind::BackwardFilter => cr::get_convolution_backward_filter_algorithm(
                handle,
                d.x.0,
                d.y.0,
                d.conv.0,
                d.w.0,
                requested,
                &mut returned,
                perfs.as_mut_ptr().cast(),
            ),
        }
    };
    found.map_err(|e| cudnn_error(&format!("choosing an algorithm for {key:?}"), e))?;
    let returned = (returned.max(0) as usize).min(MAX_CANDIDATES);
    rank(handle, key, d, &perfs[..returned], workspace_cap)
}

/// The buffers a measured search (`cudnnFind*AlgorithmEx`) runs on, as the forward pass names
/// them: the input `x`, the filter `w` and the output `y`. The pass's output (`y` forward, `x`
/// backward-data, `w` backward-filter) is overwritten with whatever the last algorithm tried
/// wrote.
pub(crate) struct ConvOperands {
    pub x: *mut c_void,
    pub w: *mut c_void,
    pub y: *mut c_void,
}

/// `torch.backends.cudnn.benchmark`: the algorithms for `key`, each run and timed by cuDNN
/// (`cudnnFind*AlgorithmEx`, which waits for it) on `ops` with a workspace of
/// `workspace_bytes` at `workspace`, fastest first, then grouped and filtered as
/// [`candidates`] does (so full precision still puts direct sums and deterministic algorithms
/// first). Algorithms needing more workspace are not timed and not returned.
pub(crate) fn measured_candidates(
    handle: cs::cudnnHandle_t,
    key: &ConvKey,
    d: &ConvDescs,
    ops: &ConvOperands,
    workspace: *mut c_void,
    workspace_bytes: usize,
) -> Result<Vec<ConvChoice>> {
    d.conv.set_math(base_math(key.dtype, key.tf32))?;
    let mut perfs = [RawPerf::default(); MAX_CANDIDATES];
    let mut returned: c_int = 0;
    let requested = MAX_CANDIDATES as c_int;
    // SAFETY: live handle and descriptors, each buffer of `ops` matching its descriptor (the
    // pass's output may be overwritten), a workspace of `workspace_bytes`, and `perfs` with
    // room for `requested` results laid out as cuDNN's perf structs.
    let status = unsafe {
        match key.kind {
            ConvKind::Forward => cs::cudnnFindConvolutionForwardAlgorithmEx(
                handle,
                d.x.0,
                ops.x,
                d.w.0,
                ops.w,
                d.conv.0,
                d.y.0,
                ops.y,
                requested,
                &mut returned,
                perfs.as_mut_ptr().cast(),
                workspace,
                workspace_bytes,
            ),
            ConvKind::BackwardData => cs::cudnnFindConvolutionBackwardDataAlgorithmEx(
                handle,
                d.w.0,
                ops.w,
                d.y.0,
                ops.y,
                d.conv.0,
                d.x.0,
                ops.x,
                requested,
                &mut returned,
                perfs.as_mut_ptr().cast(),
                workspace,
                workspace_bytes,
            ),
            ConvKind::BackwardFilter => cs::cudnnFindConvolutionBackwardFilterAlgorithmEx(
                handle,
                d.x.0,
                ops.x,
                d.y.0,
                ops.y,
                d.conv.0,
                d.w.0,
                ops.w,
                requested,
                &mut returned,
                perfs.as_mut_ptr().cast(),
                workspace,
                workspace_bytes,
            ),
        }
    };
    status
        .result()
        .map_err(|e| cudnn_error(&format!("timing the algorithms for {key:?}"), e))?;
    let returned = (returned.max(0) as usize).min(MAX_CANDIDATES);
    rank(handle, key, d, &perfs[..returned], workspace_bytes)
}

/// The usable algorithms among `perfs` (cuDNN's ranking, best first), grouped and filtered as
/// [`candidates`] says.
fn rank(
    handle: cs::cudnnHandle_t,
    key: &ConvKey,
    d: &ConvDescs,
    perfs: &[RawPerf],
    workspace_cap: usize,
) -> Result<Vec<ConvChoice>> {
    let base = base_math(key.dtype, key.tf32);
    let returned = perfs.len();
    // f32 / f64 first try the GEMM-like algorithms only: FFT and Winograd round differently
    // from a direct sum (errors near 1e-5 in f32), and the CPU backend is a direct sum. A
    // stable sort keeps the heuristics' order within each group. f32 with TF32 allowed is
    // PyTorch's default, fast mode: products already round to 10 bits, so the heuristics'
    // order is taken as it is, as PyTorch takes it (nondeterministic backward algorithms
    // included, as without `torch.backends.cudnn.deterministic`).
    let fast_mode = key.dtype == DType::F32 && key.tf32;
    let exact_first = matches!(key.dtype, DType::F32 | DType::F64) && !fast_mode;
    let deterministic = cs::cudnnDeterminism_t::CUDNN_DETERMINISTIC as u32;
    let mut ranked: Vec<&RawPerf> = perfs.iter().collect();
    ranked.sort_by_key(|p| {
        (
            exact_first && approximate(key.kind, p.algo),
            !fast_mode && p.determinism != deterministic,
        )
    });
    let mut choices = Vec::new();
    for perf in ranked {
        if perf.status != cs::cudnnStatus_t::CUDNN_STATUS_SUCCESS as u32 {
            continue;
        }
        // f32 without TF32 always runs in FMA math (as PyTorch forces it); otherwise in the
        // math type the heuristics ranked the algorithm with.
        let math = if key.dtype == DType::F32 && !key.tf32 {
            base
        } else {
            match math_type(perf.math_type) {
                Some(m) => m,
                None => continue,
            }
        };
        if key.dtype == DType::F32
            && !key.tf32
            && math_type(perf.math_type) != Some(cs::cudnnMathType_t::CUDNN_FMA_MATH)
            && math_type(perf.math_type) != Some(cs::cudnnMathType_t::CUDNN_DEFAULT_MATH)
        {
            // Ranked for tensor cores: it may not run (or be slow) in FMA math.
            continue;
        }
        if math == cs::cudnnMathType_t::CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION {
            // Would convert f32 data down to f16 / bf16.
            continue;
        }
        d.conv.set_math(math)?;
        if let Ok(Some(workspace)) = workspace_size(handle, key.kind, d, perf.algo)
            && workspace <= workspace_cap
        {
            choices.push(ConvChoice {
                algo: perf.algo,
                math,
                workspace,
            });
        }
    }
    if choices.is_empty() {
        return Err(backend_error(format!(
            "cuDNN has no usable algorithm for {key:?} ({returned} candidates, workspace at most \
             {workspace_cap} bytes)"
        )));
    }
    Ok(choices)
}
