//! Convolutions through cuDNN's graph ("backend", v8) API, as PyTorch 2 runs them: one
//! operation graph per pass and shape, the engine configurations cuDNN's heuristics (mode A)
//! rank for it, and the first that builds an execution plan within the workspace limit,
//! cached per device and shape. The legacy API (`conv.rs`, `cudnnGet*Algorithm_v7`) offers
//! only cuDNN's eight classic algorithms; the graph API's heuristics also reach the newer
//! engines PyTorch uses, which is where the legacy path's forward passes fall behind PyTorch's
//! on an H100 (docs/PERFORMANCE.md).
//!
//! Engines are filtered as PyTorch filters them (never one that converts its inputs down, no
//! tensor-core engine for f32 unless TF32 is allowed) and, since f16/bf16 convolutions
//! accumulate in f32 here, never one whose sums run in reduced precision; they are ordered as
//! the legacy path orders its algorithms (see [`admit`]).
//!
//! **The default** since its first GPU run (an H200, 2026-11-27: every convolution of the
//! conformance suite, the golden tests and the ResNet steps built a plan here; the forwards
//! ran 1.3–1.8× faster than on the legacy path, the ResNet-50 step 1.7×; docs/PERFORMANCE.md).
//! `TINY_TORCH_CUDNN_GRAPH=0` turns it off, as `TORCH_CUDNN_V8_API_DISABLED=1` does in
//! PyTorch. Passes that accumulate into their output (a forward with a bias) and any shape for
//! which no plan builds or runs stay on the legacy path (a failure is remembered, so it is not
//! retried for that shape).

// The engine configurations and plans are kept in `CudnnState` (Send under its own contract:
// used only under the device's cuDNN mutex).

use crate::cudnn::{ConvKey, ConvKind, cudnn_error, data_types};
use cudarc::cudnn::sys as cs;
use std::ffi::c_void;
use std::rc::Rc;
use std::sync::OnceLock;
use tiny_torch_core::{DType, Result};

use cs::cudnnBackendAttributeName_t as Attr;
use cs::cudnnBackendAttributeType_t as Ty;
use cs::cudnnBackendDescriptorType_t as Kind;

/// Whether the graph path is on: unless `TINY_TORCH_CUDNN_GRAPH=0`.
pub(crate) fn enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED
        .get_or_init(|| std::env::var("TINY_TORCH_CUDNN_GRAPH").map_or(true, |v| v.trim() != "0"))
}

/// The unique ids of the three tensors in every graph (the variant pack names them).
const X_UID: i64 = 1;
const W_UID: i64 = 2;
const Y_UID: i64 = 3;

/// A backend descriptor that destroys itself.
pub(crate) struct Desc(cs::cudnnBackendDescriptor_t);

impl Drop for Desc {
    fn drop(&mut self) {
        // SAFETY: created by cudnnBackendCreateDescriptor, destroyed once.
        unsafe {
            let _ = cs::cudnnBackendDestroyDescriptor(self.0);
        }
    }
}

/// A descriptor handle as an attribute value (`CUDNN_TYPE_BACKEND_DESCRIPTOR`).
#[repr(transparent)]
#[derive(Clone, Copy)]
struct DescHandle(cs::cudnnBackendDescriptor_t);

/// A device address as an attribute value (`CUDNN_TYPE_VOID_PTR`).
#[repr(transparent)]
#[derive(Clone, Copy)]
struct DevicePtr(*mut c_void);

/// A numerical note as read back (`CUDNN_TYPE_NUMERICAL_NOTE`), kept as an integer: cuDNN
/// may report notes this crate's enum does not know.
#[repr(transparent)]
#[derive(Clone, Copy)]
struct RawNote(u32);

/// A Rust type whose values cuDNN reads and writes as attribute type [`AttrValue::TY`].
///
/// # Safety
/// `Self` must have the size and layout of the C type cuDNN uses for `TY`.
unsafe trait AttrValue: Copy {
    const TY: Ty;
}

// SAFETY (each): the C type of the attribute type, or a transparent wrapper of it (C enums
// are 32-bit ints here, as cudarc's bindings declare them).
unsafe impl AttrValue for i64 {
    const TY: Ty = Ty::CUDNN_TYPE_INT64;
}
unsafe impl AttrValue for f32 {
    const TY: Ty = Ty::CUDNN_TYPE_FLOAT;
}
unsafe impl AttrValue for f64 {
    const TY: Ty = Ty::CUDNN_TYPE_DOUBLE;
}
unsafe impl AttrValue for cs::cudnnDataType_t {
    const TY: Ty = Ty::CUDNN_TYPE_DATA_TYPE;
}
unsafe impl AttrValue for cs::cudnnConvolutionMode_t {
    const TY: Ty = Ty::CUDNN_TYPE_CONVOLUTION_MODE;
}
unsafe impl AttrValue for cs::cudnnBackendHeurMode_t {
    const TY: Ty = Ty::CUDNN_TYPE_HEUR_MODE;
}
unsafe impl AttrValue for cs::cudnnHandle_t {
    const TY: Ty = Ty::CUDNN_TYPE_HANDLE;
}
unsafe impl AttrValue for DescHandle {
    const TY: Ty = Ty::CUDNN_TYPE_BACKEND_DESCRIPTOR;
}
unsafe impl AttrValue for DevicePtr {
    const TY: Ty = Ty::CUDNN_TYPE_VOID_PTR;
}
unsafe impl AttrValue for RawNote {
    const TY: Ty = Ty::CUDNN_TYPE_NUMERICAL_NOTE;
}

impl Desc {
    fn new(kind: Kind) -> Result<Self> {
        let mut raw: cs::cudnnBackendDescriptor_t = std::ptr::null_mut();
        // SAFETY: writes one descriptor handle into `raw`.
        unsafe { cs::cudnnBackendCreateDescriptor(kind, &mut raw) }
            .result()
            .map_err(|e| cudnn_error(&format!("creating a {kind:?}"), e))?;
        Ok(Desc(raw))
    }

    fn handle(&self) -> DescHandle {
        DescHandle(self.0)
    }

    /// Sets attribute `name` to `values`.
    fn set<T: AttrValue>(&self, name: Attr, values: &[T]) -> Result<()> {
        // SAFETY: a live descriptor; `values` holds `values.len()` elements of the C type of
        // `T::TY` (`AttrValue`'s contract).
        unsafe {
            cs::cudnnBackendSetAttribute(
                self.0,
                name,
                T::TY,
                values.len() as i64,
                values.as_ptr().cast::<c_void>(),
            )
        }
        .result()
        .map_err(|e| cudnn_error(&format!("setting {name:?}"), e))
    }

    fn set_descs(&self, name: Attr, descs: &[&Desc]) -> Result<()> {
        let handles: Vec<DescHandle> = descs.iter().map(|d| d.handle()).collect();
        self.set(name, &handles)
    }

    fn finalize(self) -> Result<Self> {
        // SAFETY: a live descriptor whose required attributes the caller has set.
        unsafe { cs::cudnnBackendFinalize(self.0) }
            .result()
            .map_err(|e| cudnn_error("finalizing a descriptor", e))?;
        Ok(self)
    }

    /// Reads up to `out.len()` elements of attribute `name` into `out` (none when it is
    /// empty): how many the attribute holds, which may exceed `out.len()`.
    fn get<T: AttrValue>(&self, name: Attr, out: &mut [T]) -> Result<usize> {
        let mut count = 0i64;
        let ptr = if out.is_empty() {
            std::ptr::null_mut()
        } else {
            out.as_mut_ptr().cast::<c_void>()
        };
        // SAFETY: a live descriptor; `out` has room for the requested count of the C type of
        // `T::TY` (`AttrValue`'s contract), or is not written when the count is 0.
        unsafe {
            cs::cudnnBackendGetAttribute(self.0, name, T::TY, out.len() as i64, &mut count, ptr)
        }
        .result()
        .map_err(|e| cudnn_error(&format!("reading {name:?}"), e))?;
        Ok(count.max(0) as usize)
    }
}

/// A packed NCHW tensor of `dims` with unique id `uid`.
fn tensor(data: cs::cudnnDataType_t, dims: [usize; 4], uid: i64) -> Result<Desc> {
    // The legacy path's 32-bit bound, so that both paths take the same shapes.
    if dims.iter().product::<usize>() > i32::MAX as usize {
        return Err(crate::compile::backend_error(format!(
            "cuDNN graph API: a {dims:?} tensor exceeds 2^31 - 1 elements"
        )));
    }
    let dims = dims.map(|d| d as i64);
    let strides = [dims[1] * dims[2] * dims[3], dims[2] * dims[3], dims[3], 1];
    let t = Desc::new(Kind::CUDNN_BACKEND_TENSOR_DESCRIPTOR)?;
    t.set(Attr::CUDNN_ATTR_TENSOR_DATA_TYPE, &[data])?;
    t.set(Attr::CUDNN_ATTR_TENSOR_DIMENSIONS, &dims)?;
    t.set(Attr::CUDNN_ATTR_TENSOR_STRIDES, &strides)?;
    t.set(Attr::CUDNN_ATTR_TENSOR_UNIQUE_ID, &[uid])?;
    // Every operand is packed at a 16-byte aligned address (`Dense` in conv.rs).
    t.set(Attr::CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, &[16i64])?;
    t.finalize()
}

/// The convolution of `key` (cross-correlation in `compute` precision).
fn convolution(key: &ConvKey, compute: cs::cudnnDataType_t) -> Result<Desc> {
    let p = &key.params;
    let pair = |v: [usize; 2]| [v[0] as i64, v[1] as i64];
    let c = Desc::new(Kind::CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR)?;
    c.set(Attr::CUDNN_ATTR_CONVOLUTION_COMP_TYPE, &[compute])?;
    c.set(
        Attr::CUDNN_ATTR_CONVOLUTION_CONV_MODE,
        &[cs::cudnnConvolutionMode_t::CUDNN_CROSS_CORRELATION],
    )?;
    c.set(Attr::CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, &[2i64])?;
    c.set(Attr::CUDNN_ATTR_CONVOLUTION_DILATIONS, &pair(p.dilation))?;
    c.set(Attr::CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, &pair(p.stride))?;
    c.set(Attr::CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, &pair(p.padding))?;
    c.set(Attr::CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, &pair(p.padding))?;
    c.finalize()
}

/// A finalized operation graph and every descriptor it was built from, kept alive with it
/// (cudnn-frontend keeps them too: whether cuDNN copies or references them is not
/// documented).
struct Graph {
    graph: Desc,
    _parts: Vec<Desc>,
}

/// The one-operation graph of `key`'s pass (alpha 1, beta 0: the output is overwritten).
/// Groups are implied by the shapes (`C / w[1]`), as in the graph API.
fn operation_graph(handle: cs::cudnnHandle_t, key: &ConvKey, output: [usize; 4]) -> Result<Graph> {
    let (op, kind, [alpha, beta, conv_attr, x_attr, w_attr, y_attr]) = match key.kind {
        ConvKind::Forward => (
            "conv2d",
            Kind::CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR,
            [
                Attr::CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA,
                Attr::CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA,
                Attr::CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC,
                Attr::CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X,
                Attr::CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W,
                Attr::CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y,
            ],
        ),
        ConvKind::BackwardData => (
            "conv2d_backward_input",
            Kind::CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_DATA_DESCRIPTOR,
            [
                Attr::CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_ALPHA,
                Attr::CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_BETA,
                Attr::CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_CONV_DESC,
                Attr::CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DX,
                Attr::CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_W,
                Attr::CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DY,
            ],
        ),
        ConvKind::BackwardFilter => (
            "conv2d_backward_weight",
            Kind::CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_FILTER_DESCRIPTOR,
            [
                Attr::CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_ALPHA,
                Attr::CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_BETA,
                Attr::CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_CONV_DESC,
                Attr::CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_X,
                Attr::CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DW,
                Attr::CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DY,
            ],
        ),
    };
    let (data, compute) = data_types(op, key.dtype)?;
    let x = tensor(data, key.input, X_UID)?;
    let w = tensor(data, key.weight, W_UID)?;
    let y = tensor(data, output, Y_UID)?;
    let conv = convolution(key, compute)?;
    let operation = Desc::new(kind)?;
    // The scaling factors in the compute type's C type (double for f64, float otherwise).
    if key.dtype == DType::F64 {
        operation.set(alpha, &[1.0f64])?;
        operation.set(beta, &[0.0f64])?;
    } else {
        operation.set(alpha, &[1.0f32])?;
        operation.set(beta, &[0.0f32])?;
    }
    operation.set_descs(conv_attr, &[&conv])?;
    operation.set_descs(x_attr, &[&x])?;
    operation.set_descs(w_attr, &[&w])?;
    operation.set_descs(y_attr, &[&y])?;
    let operation = operation.finalize()?;
    let graph = Desc::new(Kind::CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR)?;
    graph.set(Attr::CUDNN_ATTR_OPERATIONGRAPH_HANDLE, &[handle])?;
    graph.set_descs(Attr::CUDNN_ATTR_OPERATIONGRAPH_OPS, &[&operation])?;
    Ok(Graph {
        graph: graph.finalize()?,
        _parts: vec![operation, conv, x, w, y],
    })
}

/// What an engine's numerical notes say about it (`cudnnBackendNumericalNote_t` values).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Notes {
    tensor_core: bool,
    down_convert: bool,
    reduced_precision_reduction: bool,
    transformed: bool,
    nondeterministic: bool,
}

impl Notes {
    /// From the raw note values (unknown values are ignored).
    pub(crate) fn from_raw(raw: &[u32]) -> Self {
        use cs::cudnnBackendNumericalNote_t::*;
        let has = |note: cs::cudnnBackendNumericalNote_t| raw.contains(&(note as u32));
        Notes {
            tensor_core: has(CUDNN_NUMERICAL_NOTE_TENSOR_CORE),
            down_convert: has(CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS),
            reduced_precision_reduction: has(CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION),
            transformed: has(CUDNN_NUMERICAL_NOTE_FFT)
                || has(CUDNN_NUMERICAL_NOTE_WINOGRAD)
                || has(CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_4x4)
                || has(CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_6x6)
                || has(CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_13x13),
            nondeterministic: has(CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC),
        }
    }
}

/// Whether an engine with `notes` may run `dtype` (TF32 allowed or not), and its rank among
/// those that may (lower first). Left out: engines that convert their inputs down (as PyTorch
/// leaves them out), tensor-core engines for f32 without TF32 (as PyTorch), and engines whose
/// sums run in reduced precision (f16/bf16 convolutions accumulate in f32 here). Ranked as the
/// legacy path ranks algorithms: in full precision (f64, f32 without TF32) FFT/Winograd after
/// direct sums, and in every mode but f32 with TF32 non-deterministic engines last.
pub(crate) fn admit(notes: Notes, dtype: DType, tf32: bool) -> Option<(bool, bool)> {
    let f32_fma = dtype == DType::F32 && !tf32;
    if notes.down_convert || notes.reduced_precision_reduction || (f32_fma && notes.tensor_core) {
        return None;
    }
    let exact = dtype == DType::F64 || f32_fma;
    let fast = dtype == DType::F32 && tf32;
    Some((exact && notes.transformed, !fast && notes.nondeterministic))
}

/// A built execution plan, the workspace bytes it needs, its engine's rank by [`admit`], and
/// what it was built from (the graph shared by the plans built for one pass in benchmark
/// mode).
pub(crate) struct Plan {
    plan: Desc,
    pub workspace: usize,
    pub rank: (bool, bool),
    _config: Desc,
    _graph: Rc<Graph>,
}

/// The engine configuration's numerical notes (`None` if they cannot be read).
fn config_notes(config: &Desc) -> Option<Notes> {
    let engine = Desc::new(Kind::CUDNN_BACKEND_ENGINE_DESCRIPTOR).ok()?;
    let mut handle = [engine.handle()];
    config
        .get(Attr::CUDNN_ATTR_ENGINECFG_ENGINE, &mut handle)
        .ok()?;
    let mut notes = [RawNote(u32::MAX); 16];
    let n = engine
        .get(Attr::CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, &mut notes)
        .ok()?
        .min(notes.len());
    let raw: Vec<u32> = notes[..n].iter().map(|note| note.0).collect();
    Some(Notes::from_raw(&raw))
}

/// The plan for `key` (whose pass writes `output`-shaped `y`, as the forward names it): the
/// first of [`plans`]. An error says why there is none.
pub(crate) fn build(
    handle: cs::cudnnHandle_t,
    key: &ConvKey,
    output: [usize; 4],
    workspace_cap: usize,
) -> Result<Plan> {
    let mut plans = plans(handle, key, output, workspace_cap, 1)?;
    Ok(plans.remove(0))
}

/// Up to `limit` plans for `key`, in rank order: the heuristics' engine configurations,
/// filtered and ordered by [`admit`], each whose plan builds with a workspace of at most
/// `workspace_cap` bytes. Never empty: an error says why no configuration gave a plan.
pub(crate) fn plans(
    handle: cs::cudnnHandle_t,
    key: &ConvKey,
    output: [usize; 4],
    workspace_cap: usize,
    limit: usize,
) -> Result<Vec<Plan>> {
    let graph = Rc::new(operation_graph(handle, key, output)?);
    let heuristics = Desc::new(Kind::CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR)?;
    heuristics.set_descs(Attr::CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, &[&graph.graph])?;
    heuristics.set(
        Attr::CUDNN_ATTR_ENGINEHEUR_MODE,
        &[cs::cudnnBackendHeurMode_t::CUDNN_HEUR_MODE_A],
    )?;
    let heuristics = heuristics.finalize()?;
    // How many configurations there are, then that many descriptors for cuDNN to fill.
    let count = heuristics.get::<DescHandle>(Attr::CUDNN_ATTR_ENGINEHEUR_RESULTS, &mut [])?;
    let configs = (0..count)
        .map(|_| Desc::new(Kind::CUDNN_BACKEND_ENGINECFG_DESCRIPTOR))
        .collect::<Result<Vec<_>>>()?;
    let mut handles: Vec<DescHandle> = configs.iter().map(Desc::handle).collect();
    let found = heuristics
        .get(Attr::CUDNN_ATTR_ENGINEHEUR_RESULTS, &mut handles)?
        .min(count);
    let mut configs: Vec<Option<Desc>> = configs.into_iter().take(found).map(Some).collect();
    let mut ranked: Vec<((bool, bool), usize)> = configs
        .iter()
        .enumerate()
        .filter_map(|(index, config)| {
            let notes = config_notes(config.as_ref()?)?;
            Some((admit(notes, key.dtype, key.tf32)?, index))
        })
        .collect();
    // Stable: the heuristics' order within each rank.
    ranked.sort_by_key(|&(rank, _)| rank);
    let mut plans = Vec::new();
    let mut last_error = None;
    for (rank, index) in ranked {
        if plans.len() == limit {
            break;
        }
        let Some(config) = configs[index].take() else {
            continue;
        };
        let plan = Desc::new(Kind::CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR)?;
        plan.set(Attr::CUDNN_ATTR_EXECUTION_PLAN_HANDLE, &[handle])?;
        plan.set_descs(Attr::CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, &[&config])?;
        // An engine that cannot run this graph here fails to finalize: the next one is tried.
        let plan = match plan.finalize() {
            Ok(plan) => plan,
            Err(e) => {
                last_error = Some(e);
                continue;
            }
        };
        let mut workspace = [0i64];
        if plan
            .get(
                Attr::CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE,
                &mut workspace,
            )
            .is_err()
        {
            continue;
        }
        let workspace = workspace[0].max(0) as usize;
        if workspace <= workspace_cap {
            plans.push(Plan {
                plan,
                workspace,
                rank,
                _config: config,
                _graph: Rc::clone(&graph),
            });
        }
    }
    if plans.is_empty() {
        return Err(crate::compile::backend_error(format!(
            "cuDNN graph API: none of {found} engine configurations gave a plan within \
             {workspace_cap} workspace bytes (last error: {last_error:?})"
        )));
    }
    Ok(plans)
}

/// Runs `plan` on the pass's buffers (`x`, `w`, `y` as the forward names them; the pass's
/// output is overwritten) with `workspace` (at least `plan.workspace` bytes), queued on the
/// handle's stream.
pub(crate) fn execute(
    handle: cs::cudnnHandle_t,
    plan: &Plan,
    [x, w, y]: [*mut c_void; 3],
    workspace: *mut c_void,
) -> Result<()> {
    let pack = Desc::new(Kind::CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR)?;
    pack.set(
        Attr::CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS,
        &[X_UID, W_UID, Y_UID],
    )?;
    pack.set(
        Attr::CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS,
        &[DevicePtr(x), DevicePtr(w), DevicePtr(y)],
    )?;
    pack.set(
        Attr::CUDNN_ATTR_VARIANT_PACK_WORKSPACE,
        &[DevicePtr(workspace)],
    )?;
    let pack = pack.finalize()?;
    // SAFETY: a live handle, a plan built on it, and a variant pack whose pointers hold the
    // tensors the plan's graph describes (packed, 16-byte aligned) and its workspace.
    unsafe { cs::cudnnBackendExecute(handle, plan.plan.0, pack.0) }
        .result()
        .map_err(|e| cudnn_error("executing a convolution plan", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cs::cudnnBackendNumericalNote_t::*;

    #[test]
    fn engines_are_filtered_and_ranked_as_pytorch_and_the_legacy_path_do() {
        let notes = |raw: &[cs::cudnnBackendNumericalNote_t]| {
            Notes::from_raw(&raw.iter().map(|&n| n as u32).collect::<Vec<_>>())
        };
        let plain = notes(&[]);
        let tensor_core = notes(&[CUDNN_NUMERICAL_NOTE_TENSOR_CORE]);
        let winograd = notes(&[CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_4x4]);
        let atomics = notes(&[CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC]);
        let down = notes(&[CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS]);
        // Never an engine that converts its inputs down.
        for (dtype, tf32) in [(DType::F32, true), (DType::F32, false), (DType::F16, false)] {
            assert_eq!(admit(down, dtype, tf32), None);
        }
        // Tensor cores for f32 only with TF32; always for f16 / f64.
        assert_eq!(admit(tensor_core, DType::F32, false), None);
        assert_eq!(admit(tensor_core, DType::F32, true), Some((false, false)));
        assert_eq!(admit(tensor_core, DType::F16, false), Some((false, false)));
        assert_eq!(admit(tensor_core, DType::F64, false), Some((false, false)));
        // Full precision puts transformed sums, then atomics, after direct deterministic ones.
        assert_eq!(admit(plain, DType::F32, false), Some((false, false)));
        assert_eq!(admit(winograd, DType::F64, false), Some((true, false)));
        assert_eq!(admit(atomics, DType::F32, false), Some((false, true)));
        // f32 with TF32 keeps the heuristics' order; f16 / bf16 put atomics last only.
        assert_eq!(admit(winograd, DType::F32, true), Some((false, false)));
        assert_eq!(admit(atomics, DType::F32, true), Some((false, false)));
        assert_eq!(admit(winograd, DType::BF16, false), Some((false, false)));
        assert_eq!(admit(atomics, DType::BF16, false), Some((false, true)));
        // Never a reduction in reduced precision (f16 / bf16 accumulate in f32 here).
        let reduced = notes(&[CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION]);
        assert_eq!(admit(reduced, DType::F16, false), None);
        // Unknown note values are ignored.
        assert_eq!(Notes::from_raw(&[77, u32::MAX]), plain);
    }
}
