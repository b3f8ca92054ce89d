//! 2-D convolution (`conv2d`) and its two gradients on cuDNN: `cudnnConvolutionForward`,
//! `cudnnConvolutionBackwardData` and `cudnnConvolutionBackwardFilter`, groups and dilation
//! included (PyTorch's conv2d is cuDNN's cross-correlation). The bias is broadcast into the
//! output first and the forward pass adds to it (beta = 1), so cuDNN computes
//! `conv + bias` in its compute type and rounds once (f16 / bf16 included).
//!
//! Operands are passed in place when they are contiguous NCHW (any offset, 16-byte aligned);
//! other views are packed into contiguous copies first. Outputs are new contiguous buffers.
//! Each pass that overwrites its output runs through cuDNN's graph API (`cudnn_graph.rs`: an
//! execution plan per pass and shape, from the heuristics or, in benchmark mode, the fastest
//! of up to [`BENCHMARK_LIMIT`] timed here), as PyTorch 2 runs it. A forward with a bias, and
//! any shape without a plan, take the legacy API: the algorithm for each (pass, dtype, shapes,
//! parameters) comes from cuDNN's heuristics or timing (`cudnn.rs`), and the first candidate
//! whose workspace can be allocated runs and is cached per device. Workspaces come from the
//! caching allocator and go back to it as soon as the call is queued (the pool is
//! stream-ordered).
//!
//! dtypes: f32 (TF32 tensor cores unless `set_cudnn_allow_tf32(false)`, as PyTorch's
//! `torch.backends.cudnn.allow_tf32`), f64, and f16 / bf16 with f32
//! accumulation (cuDNN's "pseudo-half" configuration). Integers are `Error::Unsupported`.

use crate::Cuda;
use crate::compile::backend_error;
use crate::copy;
use crate::cudnn::{
    ConvChoice, ConvDesc, ConvDescs, ConvKey, ConvKind, ConvOperands, CudnnState, FilterDesc,
    Scales, TensorDesc, base_math, bwd_data_algo, bwd_filter_algo, candidates, cudnn_error,
    data_types, fwd_algo, measured_candidates, workspace_cap,
};
use crate::cudnn_graph;
use crate::device::{cudnn_allow_tf32, cudnn_benchmark};
use crate::storage::{self, CudaStorage};
use cudarc::cudnn::result as cr;
use cudarc::cudnn::sys as cs;
use std::ffi::c_void;
use tiny_torch_core::{
    BackendStorage, Conv2dParams, DType, Error, Layout, Result, Scalar, View, ViewMut,
    check_conv_dims, check_extent, check_same_dtype, conv_dims,
};

/// The sizes of one convolution, checked against each other (as the CPU backend's `Geom`).
#[derive(Clone, Copy, Debug)]
struct Geom {
    input: [usize; 4],
    weight: [usize; 4],
    output: [usize; 4],
    p: Conv2dParams,
}

impl Geom {
    /// The shapes, checked as every backend checks them ([`Conv2dParams::check_shapes`]).
    fn new(
        op: &'static str,
        input: [usize; 4],
        weight: &[usize],
        p: &Conv2dParams,
    ) -> Result<Self> {
        let output = p.check_shapes(op, input, weight)?;
        Ok(Geom {
            input,
            weight: [weight[0], weight[1], weight[2], weight[3]],
            output,
            p: *p,
        })
    }

    fn key(&self, kind: ConvKind, dtype: DType) -> ConvKey {
        ConvKey {
            kind,
            dtype,
            input: self.input,
            weight: self.weight,
            params: self.p,
            tf32: dtype == DType::F32 && cudnn_allow_tf32(),
            benchmark: cudnn_benchmark(),
        }
    }

    fn descs(&self, op: &'static str, dtype: DType) -> Result<ConvDescs> {
        let (data, compute) = data_types(op, dtype)?;
        Ok(ConvDescs {
            x: TensorDesc::nchw(op, data, self.input)?,
            w: FilterDesc::kcrs(op, data, self.weight)?,
            y: TensorDesc::nchw(op, data, self.output)?,
            conv: ConvDesc::new(
                op,
                &self.p,
                compute,
                base_math(dtype, dtype == DType::F32 && cudnn_allow_tf32()),
            )?,
        })
    }
}

/// An operand as cuDNN reads it: packed row-major at a 16-byte aligned address, in place or
/// as a contiguous copy.
struct Dense<'a> {
    packed: Option<CudaStorage>,
    storage: &'a CudaStorage,
    offset: usize,
}

impl<'a> Dense<'a> {
    fn new(cuda: &Cuda, op: &'static str, v: View<'a, CudaStorage>) -> Result<Self> {
        check_extent(op, v.layout, v.storage.len())?;
        if v.layout.is_contiguous() && v.storage.ptr_at(v.layout.offset()).is_multiple_of(16) {
            return Ok(Dense {
                packed: None,
                storage: v.storage,
                offset: v.layout.offset(),
            });
        }
        Ok(Dense {
            packed: Some(copy::contiguous(cuda, v)?),
            storage: v.storage,
            offset: 0,
        })
    }

    fn ptr(&self) -> *const c_void {
        let storage = self.packed.as_ref().unwrap_or(self.storage);
        storage.ptr_at(self.offset) as usize as *const c_void
    }
}

fn mut_ptr(s: &mut CudaStorage) -> *mut c_void {
    s.ptr() as usize as *mut c_void
}

/// A new contiguous storage of `dims`, zero-filled.
fn zeros(cuda: &Cuda, dtype: DType, dims: [usize; 4]) -> Result<CudaStorage> {
    let mut out = storage::alloc(cuda.device(), dtype, dims.iter().product())?;
    copy::fill(
        cuda,
        ViewMut::new(&mut out, &Layout::contiguous(dims)),
        Scalar::Float(0.0),
    )?;
    Ok(out)
}

/// A workspace of `bytes` from the caching allocator (none for 0), and its address.
fn workspace(cuda: &Cuda, bytes: usize) -> Result<(Option<CudaStorage>, *mut c_void)> {
    if bytes == 0 {
        return Ok((None, std::ptr::null_mut()));
    }
    let mut ws = storage::alloc(cuda.device(), DType::U8, bytes)?;
    let ptr = mut_ptr(&mut ws);
    Ok((Some(ws), ptr))
}

/// A new contiguous `[N, O, Ho, Wo]` (`dims`) holding `bias` (`[O]`, any stride) broadcast
/// over N, Ho and Wo: a strided copy that reads the bias with strides `[0, stride, 0, 0]`.
fn broadcast_bias(
    cuda: &Cuda,
    op: &'static str,
    bias: View<'_, CudaStorage>,
    dims: [usize; 4],
) -> Result<CudaStorage> {
    check_extent(op, bias.layout, bias.storage.len())?;
    let spread = Layout::new(
        dims,
        vec![0, bias.layout.strides()[0], 0, 0],
        bias.layout.offset(),
    )?;
    let mut out = storage::alloc(cuda.device(), bias.storage.dtype(), dims.iter().product())?;
    copy::copy(
        cuda,
        View::new(bias.storage, &spread),
        ViewMut::new(&mut out, &Layout::contiguous(dims)),
    )?;
    Ok(out)
}

/// Runs one convolution pass: through a graph-API plan where one may and does run
/// (`graph_output` is the pass's `y` shape when its output is overwritten; see
/// [`run_graph`]), else on the legacy API as `pass(handle, descriptors, choice, workspace)`
/// with the legacy descriptors built by `descs`, the algorithm cached for `key`, else cuDNN's
/// candidates in order (those whose workspace fits in free memory); a candidate whose
/// workspace cannot be allocated gives way to the next, so only an algorithm that ran is
/// cached. Errors of the pass itself are returned, not retried.
fn run_pass(
    cuda: &Cuda,
    state: &mut CudnnState,
    key: &ConvKey,
    descs: impl FnOnce() -> Result<ConvDescs>,
    operands: &ConvOperands,
    graph_output: Option<[usize; 4]>,
    mut pass: impl FnMut(cs::cudnnHandle_t, &ConvDescs, ConvChoice, *mut c_void) -> Result<()>,
) -> Result<()> {
    if let Some(output) = graph_output
        && cudnn_graph::enabled()
        && run_graph(cuda, state, key, output, operands)
    {
        return Ok(());
    }
    // The legacy API's descriptors: not built when a graph plan ran.
    let d = &descs()?;
    let handle = state.handle();
    let mut alloc_error = None;
    // Ok(false): the workspace could not be allocated (out of memory).
    let mut attempt = |choice: ConvChoice| -> Result<bool> {
        d.conv.set_math(choice.math)?;
        let (ws, ws_ptr) = match workspace(cuda, choice.workspace) {
            Ok(ws) => ws,
            Err(e) => {
                alloc_error = Some(e);
                return Ok(false);
            }
        };
        pass(handle, d, choice, ws_ptr)?;
        // The workspace may go back to the pool: later work is queued after the pass.
        drop(ws);
        Ok(true)
    };
    let cached = state.cached(key);
    if let Some(choice) = cached
        && attempt(choice)?
    {
        return Ok(());
    }
    let mut choices = candidates(handle, key, d, workspace_cap(cuda.device()))?;
    // Timed once per shape: not again when a cached choice's workspace ran out (and the
    // forward's output may then hold its bias, which a search would overwrite).
    if key.benchmark && cached.is_none() {
        choices = timed(cuda, handle, key, d, operands, choices);
    }
    for choice in choices {
        if Some(choice) != cached && attempt(choice)? {
            state.remember(*key, choice);
            return Ok(());
        }
    }
    Err(match alloc_error {
        Some(e) => backend_error(format!(
            "cuDNN: no workspace could be allocated for any algorithm for {key:?}: {e}"
        )),
        None => backend_error(format!("cuDNN: no algorithm could run {key:?}")),
    })
}

/// The pass of `key` through a cached graph-API plan (`cudnn_graph`), building it on first
/// use (in benchmark mode, timing up to [`BENCHMARK_LIMIT`] plans on these operands); false
/// when no plan builds or runs for the key (remembered: the legacy path runs that shape from
/// then on, and stderr says why, once per shape).
fn run_graph(
    cuda: &Cuda,
    state: &mut CudnnState,
    key: &ConvKey,
    output: [usize; 4],
    operands: &ConvOperands,
) -> bool {
    let handle = state.handle();
    let plans = &mut state.graph_plans;
    if !plans.contains_key(key) {
        let cap = workspace_cap(cuda.device());
        let plan = if key.benchmark {
            cudnn_graph::plans(handle, key, output, cap, BENCHMARK_LIMIT)
                .and_then(|plans| fastest_plan(cuda, handle, plans, operands))
        } else {
            cudnn_graph::build(handle, key, output, cap)
        };
        if let Err(e) = &plan {
            eprintln!("tiny-torch: cuDNN graph API, {key:?}: {e}; using the legacy API");
        }
        plans.insert(*key, plan.ok());
    }
    let Some(plan) = plans.get(key).and_then(Option::as_ref) else {
        return false;
    };
    let Ok((ws, ws_ptr)) = workspace(cuda, plan.workspace) else {
        return false;
    };
    let ran = cudnn_graph::execute(handle, plan, [operands.x, operands.w, operands.y], ws_ptr);
    // The workspace may go back to the pool: later work is queued after the pass.
    drop(ws);
    if let Err(e) = ran {
        eprintln!("tiny-torch: cuDNN graph API: running {key:?} failed ({e}); legacy API");
        plans.insert(*key, None);
        return false;
    }
    true
}

/// How many graph-API plans benchmark mode times per pass and shape: PyTorch's
/// `torch.backends.cudnn.benchmark_limit` default.
pub(crate) const BENCHMARK_LIMIT: usize = 10;

/// How many runs of a plan benchmark mode averages, after one untimed run.
const TIMED_RUNS: usize = 3;

/// Benchmark mode on the graph path: the fastest of `plans` within the best rank that runs
/// (so full precision still takes direct, deterministic sums first, as [`cudnn_graph::admit`]
/// ranks them and the legacy search keeps them), each plan run and timed (CUDA events on the
/// device's stream) on the pass's own buffers. Only the pass's output is written, and the
/// pass overwrites it again when it runs. A plan whose workspace cannot be allocated or that
/// fails to run is left out; an error when every one is.
fn fastest_plan(
    cuda: &Cuda,
    handle: cs::cudnnHandle_t,
    plans: Vec<cudnn_graph::Plan>,
    operands: &ConvOperands,
) -> Result<cudnn_graph::Plan> {
    let mut fastest: Option<(f32, cudnn_graph::Plan)> = None;
    let mut last_error = None;
    for plan in plans {
        let better = |(best_ms, best): &(f32, cudnn_graph::Plan), ms: f32| {
            (plan.rank, ms) < (best.rank, *best_ms)
        };
        match time_plan(cuda, handle, &plan, operands) {
            Ok(ms) if fastest.as_ref().is_none_or(|best| better(best, ms)) => {
                fastest = Some((ms, plan))
            }
            Ok(_) => {}
            Err(e) => last_error = Some(e),
        }
    }
    match (fastest, last_error) {
        (Some((_, plan)), _) => Ok(plan),
        (None, Some(e)) => Err(e),
        (None, None) => Err(backend_error("cuDNN graph API: no plan to time")),
    }
}

/// The mean milliseconds of one run of `plan` on `operands` (this waits for the device).
fn time_plan(
    cuda: &Cuda,
    handle: cs::cudnnHandle_t,
    plan: &cudnn_graph::Plan,
    operands: &ConvOperands,
) -> Result<f32> {
    let (ws, ws_ptr) = workspace(cuda, plan.workspace)?;
    let buffers = [operands.x, operands.w, operands.y];
    let stream = &cuda.device().stream;
    let timed = || -> Result<f32> {
        // Untimed: a plan's first run may load or compile its kernels.
        cudnn_graph::execute(handle, plan, buffers, ws_ptr)?;
        let timing = Some(cudarc::driver::sys::CUevent_flags::CU_EVENT_DEFAULT);
        let event_error = |e| backend_error(format!("cuDNN benchmark mode: a CUDA event: {e}"));
        let start = stream.record_event(timing).map_err(event_error)?;
        for _ in 0..TIMED_RUNS {
            cudnn_graph::execute(handle, plan, buffers, ws_ptr)?;
        }
        let end = stream.record_event(timing).map_err(event_error)?;
        // Waits for `end`: every run has ended.
        let ms = start.elapsed_ms(&end).map_err(event_error)?;
        Ok(ms / TIMED_RUNS as f32)
    };
    let ms = timed();
    if ms.is_err() {
        // The caller drops a plan that failed: not while runs of it may still be queued.
        let _ = stream.synchronize();
    }
    drop(ws);
    ms
}

/// Benchmark mode: the heuristics' `choices` reordered by cuDNN's timing of every algorithm
/// on `operands`, with a workspace as large as the largest of theirs (when it can be
/// allocated, else the largest that can). Heuristic choices that were not timed follow, and a
/// search that fails or finds nothing usable leaves the heuristics' order as it was.
fn timed(
    cuda: &Cuda,
    handle: cs::cudnnHandle_t,
    key: &ConvKey,
    d: &ConvDescs,
    operands: &ConvOperands,
    choices: Vec<ConvChoice>,
) -> Vec<ConvChoice> {
    let mut sizes: Vec<usize> = choices.iter().map(|c| c.workspace).collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    sizes.dedup();
    let Some((ws, ws_ptr, bytes)) = sizes.into_iter().find_map(|bytes| {
        workspace(cuda, bytes)
            .ok()
            .map(|(ws, ptr)| (ws, ptr, bytes))
    }) else {
        return choices;
    };
    let measured = measured_candidates(handle, key, d, operands, ws_ptr, bytes);
    drop(ws);
    let Ok(mut measured) = measured else {
        return choices;
    };
    for choice in choices {
        if !measured
            .iter()
            .any(|m| m.algo == choice.algo && m.math == choice.math)
        {
            measured.push(choice);
        }
    }
    measured
}

/// `conv2d(input, weight, bias)` into a new contiguous `[N, O, Ho, Wo]`.
pub(crate) fn conv2d(
    cuda: &Cuda,
    input: View<'_, CudaStorage>,
    weight: View<'_, CudaStorage>,
    bias: Option<View<'_, CudaStorage>>,
    p: &Conv2dParams,
) -> Result<CudaStorage> {
    let op = "conv2d";
    let mut storages = vec![input.storage, weight.storage];
    storages.extend(bias.map(|b| b.storage));
    let dtype = check_same_dtype(op, &storages)?;
    let g = Geom::new(
        op,
        conv_dims(op, "input", input.layout)?,
        weight.layout.dims(),
        p,
    )?;
    let o = g.weight[0];
    if let Some(b) = bias
        && b.layout.dims() != [o]
    {
        return Err(Error::shape(
            op,
            format!("expected a bias of shape [{o}], got {:?}", b.layout.dims()),
        ));
    }
    data_types(op, dtype)?;
    let out_len: usize = g.output.iter().product();
    if out_len == 0 {
        return storage::alloc(cuda.device(), dtype, 0);
    }
    let device = cuda.device();
    // The output starts as the bias broadcast (the convolution adds to it, beta = 1), or
    // uninitialized without a bias (beta = 0 overwrites it).
    let (mut out, beta) = match bias {
        Some(b) => (broadcast_bias(cuda, op, b, g.output)?, 1.0),
        None => (storage::alloc(device, dtype, out_len)?, 0.0),
    };
    // No input channels (C = 0): the output is the bias alone.
    if g.weight[1] == 0 {
        if bias.is_none() {
            copy::fill(
                cuda,
                ViewMut::new(&mut out, &Layout::contiguous(g.output)),
                Scalar::Float(0.0),
            )?;
        }
        return Ok(out);
    }
    let x = Dense::new(cuda, op, input)?;
    let w = Dense::new(cuda, op, weight)?;
    let out_ptr = mut_ptr(&mut out);
    let mut state = device.cudnn()?;
    let state = state
        .as_mut()
        .ok_or_else(|| backend_error("no cuDNN handle"))?;
    device.bind()?;
    let key = g.key(ConvKind::Forward, dtype);
    // A timed search overwrites its output: not the one that already holds the bias.
    let mut search_out = if key.benchmark && bias.is_some() && state.cached(&key).is_none() {
        Some(storage::alloc(device, dtype, out_len)?)
    } else {
        None
    };
    let operands = ConvOperands {
        x: x.ptr().cast_mut(),
        w: w.ptr().cast_mut(),
        y: search_out.as_mut().map_or(out_ptr, mut_ptr),
    };
    let scales = Scales::new(dtype, beta);
    run_pass(
        cuda,
        state,
        &key,
        || g.descs(op, dtype),
        &operands,
        // The graph plans overwrite their output (beta = 0): not under a bias.
        bias.is_none().then_some(g.output),
        |handle, d, choice, ws_ptr| {
            let algo =
                fwd_algo(choice.algo).ok_or_else(|| backend_error("bad forward algorithm"))?;
            // SAFETY: live handle and descriptors matching the packed buffers (x: input, w:
            // weight, out: the new output, holding the bias when beta = 1); the workspace holds
            // `choice.workspace` bytes; the scales are of the type cuDNN reads for this dtype
            // and outlive the call.
            unsafe {
                cr::convolution_forward(
                    handle,
                    scales.alpha(),
                    d.x.0,
                    x.ptr(),
                    d.w.0,
                    w.ptr(),
                    d.conv.0,
                    algo,
                    ws_ptr,
                    choice.workspace,
                    scales.beta(),
                    d.y.0,
                    out_ptr,
                )
            }
            .map_err(|e| {
                cudnn_error(
                    &format!(
                        "convolution forward {:?} * {:?} {p:?} {dtype} (algorithm {})",
                        g.input, g.weight, choice.algo
                    ),
                    e,
                )
            })
        },
    )?;
    // Packed copies may go back to the pool: later work is queued after.
    drop((x, w, search_out));
    Ok(out)
}

/// The gradient of `conv2d` with respect to its input `[N, C, H, W]` (`input_dims`).
pub(crate) fn conv2d_backward_input(
    cuda: &Cuda,
    grad_output: View<'_, CudaStorage>,
    weight: View<'_, CudaStorage>,
    input_dims: [usize; 4],
    p: &Conv2dParams,
) -> Result<CudaStorage> {
    let op = "conv2d_backward_input";
    let dtype = check_same_dtype(op, &[grad_output.storage, weight.storage])?;
    let g = Geom::new(op, input_dims, weight.layout.dims(), p)?;
    check_conv_dims(op, "grad_output", grad_output.layout, g.output)?;
    data_types(op, dtype)?;
    let device = cuda.device();
    if input_dims.iter().product::<usize>() == 0 {
        return storage::alloc(device, dtype, 0);
    }
    if g.weight[0] == 0 {
        // No output channels: nothing flows back.
        return zeros(cuda, dtype, input_dims);
    }
    let dy = Dense::new(cuda, op, grad_output)?;
    let w = Dense::new(cuda, op, weight)?;
    let mut dx = storage::alloc(device, dtype, input_dims.iter().product())?;
    let dx_ptr = mut_ptr(&mut dx);
    let mut state = device.cudnn()?;
    let state = state
        .as_mut()
        .ok_or_else(|| backend_error("no cuDNN handle"))?;
    device.bind()?;
    let scales = Scales::new(dtype, 0.0);
    let operands = ConvOperands {
        x: dx_ptr,
        w: w.ptr().cast_mut(),
        y: dy.ptr().cast_mut(),
    };
    run_pass(
        cuda,
        state,
        &g.key(ConvKind::BackwardData, dtype),
        || g.descs(op, dtype),
        &operands,
        Some(g.output),
        |handle, d, choice, ws_ptr| {
            let algo = bwd_data_algo(choice.algo)
                .ok_or_else(|| backend_error("bad backward-data algorithm"))?;
            // SAFETY: as in `conv2d`: w is the packed weight, dy the packed gradient of the
            // output, dx the new gradient of the input, each matching its descriptor.
            unsafe {
                cr::convolution_backward_data(
                    handle,
                    scales.alpha(),
                    d.w.0,
                    w.ptr(),
                    d.y.0,
                    dy.ptr(),
                    d.conv.0,
                    algo,
                    ws_ptr,
                    choice.workspace,
                    scales.beta(),
                    d.x.0,
                    dx_ptr,
                )
            }
            .map_err(|e| {
                cudnn_error(
                    &format!(
                        "convolution backward data {:?} * {:?} {p:?} {dtype} (algorithm {})",
                        g.input, g.weight, choice.algo
                    ),
                    e,
                )
            })
        },
    )?;
    drop((dy, w));
    Ok(dx)
}

/// The gradient of `conv2d` with respect to its weight `[O, C / groups, kh, kw]`
/// (`weight_dims`).
pub(crate) fn conv2d_backward_weight(
    cuda: &Cuda,
    grad_output: View<'_, CudaStorage>,
    input: View<'_, CudaStorage>,
    weight_dims: [usize; 4],
    p: &Conv2dParams,
) -> Result<CudaStorage> {
    let op = "conv2d_backward_weight";
    let dtype = check_same_dtype(op, &[grad_output.storage, input.storage])?;
    let g = Geom::new(op, conv_dims(op, "input", input.layout)?, &weight_dims, p)?;
    check_conv_dims(op, "grad_output", grad_output.layout, g.output)?;
    data_types(op, dtype)?;
    let device = cuda.device();
    if weight_dims.iter().product::<usize>() == 0 {
        return storage::alloc(device, dtype, 0);
    }
    if g.input[0] == 0 {
        // An empty batch: the sum over it is zero.
        return zeros(cuda, dtype, weight_dims);
    }
    let dy = Dense::new(cuda, op, grad_output)?;
    let x = Dense::new(cuda, op, input)?;
    let mut dw = storage::alloc(device, dtype, weight_dims.iter().product())?;
    let dw_ptr = mut_ptr(&mut dw);
    let mut state = device.cudnn()?;
    let state = state
        .as_mut()
        .ok_or_else(|| backend_error("no cuDNN handle"))?;
    device.bind()?;
    let scales = Scales::new(dtype, 0.0);
    let operands = ConvOperands {
        x: x.ptr().cast_mut(),
        w: dw_ptr,
        y: dy.ptr().cast_mut(),
    };
    run_pass(
        cuda,
        state,
        &g.key(ConvKind::BackwardFilter, dtype),
        || g.descs(op, dtype),
        &operands,
        Some(g.output),
        |handle, d, choice, ws_ptr| {
            let algo = bwd_filter_algo(choice.algo)
                .ok_or_else(|| backend_error("bad backward-filter algorithm"))?;
            // SAFETY: as in `conv2d`: x is the packed input, dy the packed gradient of the
            // output, dw the new gradient of the weight, each matching its descriptor.
            unsafe {
                cr::convolution_backward_filter(
                    handle,
                    scales.alpha(),
                    d.x.0,
                    x.ptr(),
                    d.y.0,
                    dy.ptr(),
                    d.conv.0,
                    algo,
                    ws_ptr,
                    choice.workspace,
                    scales.beta(),
                    d.w.0,
                    dw_ptr,
                )
            }
            .map_err(|e| {
                cudnn_error(
                    &format!(
                        "convolution backward filter {:?} * {:?} {p:?} {dtype} (algorithm {})",
                        g.input, g.weight, choice.algo
                    ),
                    e,
                )
            })
        },
    )?;
    drop((dy, x));
    Ok(dw)
}
