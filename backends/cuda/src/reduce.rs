//! Reductions over a set of dims (`kernels/reduce.cu`): sum, mean, prod, max, min, argmax,
//! argmin, var, logsumexp, all, any, with the CPU backend's semantics and output dtypes.
//!
//! The input's dims split into kept dims (one output each, row-major) and reduced dims; each
//! part is merged where its strides allow (the reduced dims sorted by stride first, so that a
//! permuted input is still reduced along memory order), and the kernel reads the view in place.
//! [`geometry`] picks how threads share the work: a group of threads per output, laid along the
//! reduced elements when those are the contiguous ones (a row sum) or across outputs when the
//! kept dim is (a column sum); few outputs with many elements each split their elements over
//! several blocks, whose accumulators a second kernel merges in a fixed order (deterministic:
//! no atomics).
//!
//! Accuracy: f16, bf16 and f32 accumulate in f32, f64 in f64, as PyTorch does on GPUs; each
//! thread keeps four running accumulators, merged as a tree. Var uses Welford and Chan's merge
//! on values shifted by the output's first element. Sum and prod of integers and bool give
//! `I64` (wrapping); mean, var and logsumexp take floats only; over zero elements sum is 0,
//! prod 1, mean NaN, while max, min, argmax and argmin are errors, as on the CPU.

use crate::Cuda;
use crate::launch::{KernelLayout, dtype_suffix, launch_error, merge_dims};
use crate::storage::{self, CudaStorage};
use cudarc::driver::{LaunchConfig, PushKernelArg};
use tiny_torch_core::{BackendStorage, DType, Error, ReduceOp, Result, View, check_extent};

/// The most threads per block (`MAX_BLOCK` in reduce.cu and softmax.cu, whose kernels are
/// compiled with `__launch_bounds__` of it and size their shared memory by it).
pub(crate) const MAX_BLOCK: usize = 512;

/// Threads per block when there is work for more blocks.
const BLOCK: usize = 256;

/// Bytes reserved per accumulator in the buffer of a split reduction (`MAX_STATE_BYTES` in
/// reduce.cu, which asserts that every accumulator fits).
const MAX_STATE_BYTES: usize = 32;

/// A split leaves each thread at least this many elements: fewer would make the second pass
/// and the merges cost more than the parallelism gains.
const MIN_PER_LANE: usize = 16;

/// Resident threads per SM on the GPUs this targets (sm_80, sm_90): the split aims for that.
const THREADS_PER_SM: usize = 2048;

/// How the threads of a launch share the work (see reduce.cu). `lanes` threads reduce each
/// output, a block holds `slots` outputs (both powers of two); with `lanes_on_x` the lanes are a
/// block's x (consecutive threads), else its y. `splits` blocks along y share each output's
/// elements, `chunk` each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub lanes_on_x: bool,
    pub lanes: usize,
    pub slots: usize,
    pub grid_x: usize,
    pub splits: usize,
    pub chunk: usize,
}

impl Geometry {
    pub fn config(&self) -> LaunchConfig {
        let (x, y) = if self.lanes_on_x {
            (self.lanes, self.slots)
        } else {
            (self.slots, self.lanes)
        };
        LaunchConfig {
            grid_dim: (self.grid_x as u32, self.splits as u32, 1),
            block_dim: (x as u32, y as u32, 1),
            shared_mem_bytes: 0,
        }
    }
}

fn pow2(n: usize) -> usize {
    n.max(1).next_power_of_two()
}

/// The block shape for `out_n` outputs of `inner` elements each. Along rows (`column` false) a
/// lane takes about `row_per_lane` elements, up to MAX_BLOCK lanes, and small groups share a
/// block of BLOCK threads. Along columns a warp spans up to 32 outputs, so that it reads 32
/// adjacent elements, with up to MAX_BLOCK / 32 lanes of about `column_per_lane` elements; when
/// few lanes are needed more outputs share the block.
pub(crate) fn block_shape(
    out_n: usize,
    inner: usize,
    column: bool,
    row_per_lane: usize,
    column_per_lane: usize,
) -> (usize, usize) {
    if !column {
        let lanes = pow2(inner.div_ceil(row_per_lane)).min(MAX_BLOCK);
        let slots = pow2(out_n).min((BLOCK / lanes).max(1));
        (lanes, slots)
    } else {
        let slots = pow2(out_n).min(32);
        let lanes = pow2(inner.div_ceil(column_per_lane)).min(MAX_BLOCK / slots);
        let slots = slots.max(pow2(out_n).min(BLOCK / lanes));
        (lanes, slots)
    }
}

/// Whether outputs (or rows) go along the block's x: when the next output is nearer in memory
/// than the next element (`kept_stride < red_stride`), so a warp reads adjacent outputs'
/// elements. A broadcast kept dim (stride 0) reads nothing new across outputs: rows then.
pub(crate) fn along_columns(out_n: usize, kept_stride: usize, red_stride: usize) -> bool {
    out_n > 1 && kept_stride != 0 && kept_stride < red_stride
}

/// The geometry of a reduction of `out_n` outputs of `inner` elements; `kept_stride` and
/// `red_stride` are the innermost strides of the merged kept and reduced dims; `sms` the
/// device's multiprocessors. With `allow_split`, few outputs with many elements split them
/// across blocks until the device holds about THREADS_PER_SM threads per SM.
pub(crate) fn geometry(
    out_n: usize,
    inner: usize,
    kept_stride: usize,
    red_stride: usize,
    sms: usize,
    allow_split: bool,
) -> Geometry {
    let column = along_columns(out_n, kept_stride, red_stride);
    let (lanes, slots) = block_shape(out_n, inner, column, 4, 16);
    let groups = out_n.div_ceil(slots);
    let threads = groups * lanes * slots;
    let target = sms.max(1) * THREADS_PER_SM;
    let mut splits = 1;
    if allow_split && threads < target {
        let wanted = target.div_ceil(threads);
        let by_work = inner / (lanes * MIN_PER_LANE);
        splits = wanted.min(by_work).clamp(1, 65535);
    }
    let (splits, chunk) = if splits > 1 {
        // Whole rounds of the kernel's 4-way loop per split, each split starting aligned.
        let chunk = inner.div_ceil(splits).next_multiple_of(4 * lanes);
        (inner.div_ceil(chunk), chunk)
    } else {
        (1, inner)
    };
    Geometry {
        lanes_on_x: !column,
        lanes,
        slots,
        grid_x: groups.clamp(1, i32::MAX as usize),
        splits,
        chunk,
    }
}

/// Kept and reduced dims of one reduction, each merged.
#[derive(Debug, PartialEq, Eq)]
struct Plan {
    kept_dims: Vec<usize>,
    kept_strides: Vec<usize>,
    red_dims: Vec<usize>,
    red_strides: Vec<usize>,
    out_n: usize,
    red_n: usize,
}

impl Plan {
    /// `sort_reduced`: order the reduced dims by decreasing stride (any order gives the same
    /// set of elements; memory order reads best). Not for arg-reductions, whose index counts
    /// along the one dim as given.
    fn new(dims: &[usize], strides: &[usize], reduced: &[usize], sort_reduced: bool) -> Plan {
        let (mut kd, mut ks, mut red) = (vec![], vec![], vec![]);
        for (d, (&n, &s)) in dims.iter().zip(strides).enumerate() {
            if reduced.contains(&d) {
                red.push((n, s));
            } else {
                kd.push(n);
                ks.push(s);
            }
        }
        if sort_reduced {
            red.sort_by_key(|&(_, stride)| std::cmp::Reverse(stride));
        }
        let (rd, rs): (Vec<usize>, Vec<usize>) = red.into_iter().unzip();
        let (out_n, red_n) = (kd.iter().product(), rd.iter().product());
        let (kept_dims, mut kept_strides) = merge_dims(&kd, &[&ks]);
        let (red_dims, mut red_strides) = merge_dims(&rd, &[&rs]);
        Plan {
            kept_dims,
            kept_strides: kept_strides.remove(0),
            red_dims,
            red_strides: red_strides.remove(0),
            out_n,
            red_n,
        }
    }
}

/// The kernel family of an op and its `param` (see the REDUCE macro in reduce.cu).
fn kernel_family(op: ReduceOp) -> (&'static str, f64) {
    use ReduceOp::*;
    match op {
        Sum => ("sum", 0.0),
        Mean => ("sum", 1.0),
        Prod => ("prod", 0.0),
        Max => ("extremum", 1.0),
        Min => ("extremum", 0.0),
        ArgMax => ("arg_extremum", 1.0),
        ArgMin => ("arg_extremum", 0.0),
        Var { correction } => ("var", correction),
        LogSumExp => ("logsumexp", 0.0),
        All => ("logical", 1.0),
        Any => ("logical", 0.0),
    }
}

/// The output dtype, as documented on [`ReduceOp`].
fn output_dtype(op: ReduceOp, dtype: DType) -> DType {
    use ReduceOp::*;
    match op {
        Sum | Prod if !dtype.is_float() => DType::I64,
        ArgMax | ArgMin => DType::I64,
        All | Any => DType::Bool,
        _ => dtype,
    }
}

/// Reduces `src` over `dims` into a contiguous buffer of the kept shape (reduced dims = 1).
pub(crate) fn reduce(
    cuda: &Cuda,
    op: ReduceOp,
    src: View<'_, CudaStorage>,
    dims: &[usize],
) -> Result<CudaStorage> {
    let name = op.name();
    let layout = src.layout;
    let dims = op.check_dims(layout.dims(), dims)?;
    check_extent(name, layout, src.storage.len())?;
    let plan = Plan::new(layout.dims(), layout.strides(), dims, !op.is_arg());
    let dtype = src.storage.dtype();
    let float_only = matches!(
        op,
        ReduceOp::Mean | ReduceOp::Var { .. } | ReduceOp::LogSumExp
    );
    if float_only && !dtype.is_float() {
        return Err(Error::unsupported(name, dtype, "cuda"));
    }

    let device = cuda.device();
    let out = storage::alloc(device, output_dtype(op, dtype), plan.out_n)?;
    if plan.out_n == 0 {
        return Ok(out);
    }
    // Zero elements per output still launch: the kernel finishes the empty accumulator
    // (sum 0, prod 1, mean and var NaN, logsumexp -inf, all true, any false).
    let (family, param) = kernel_family(op);
    let kernel = format!("reduce_{family}_{}", dtype_suffix(dtype));
    let kept = KernelLayout::new(name, &plan.kept_dims, &plan.kept_strides, layout.offset())?;
    let red = KernelLayout::new(name, &plan.red_dims, &plan.red_strides, 0)?;
    let sms = device.properties.multiprocessor_count as usize;
    let last = |v: &[usize]| v.last().copied().unwrap_or(0);
    let g = geometry(
        plan.out_n,
        plan.red_n,
        last(&plan.kept_strides),
        last(&plan.red_strides),
        sms,
        true,
    );
    // A split first pass leaves `splits` accumulators per output here, [split][output].
    let partial = if g.splits > 1 {
        Some(storage::alloc(
            device,
            DType::U8,
            g.splits * plan.out_n * MAX_STATE_BYTES,
        )?)
    } else {
        None
    };

    let func = device.function("reduce", &kernel)?;
    let src_ptr = src.storage.ptr();
    let out_ptr = out.ptr();
    let partial_ptr: u64 = partial.as_ref().map_or(0, |p| p.ptr());
    let (out_n, inner, chunk) = (plan.out_n as i64, plan.red_n as i64, g.chunk as i64);
    let lanes_on_x = g.lanes_on_x as i32;
    let mut launch = device.stream.launch_builder(&func);
    launch
        .arg(&src_ptr)
        .arg(&kept)
        .arg(&red)
        .arg(&out_n)
        .arg(&inner)
        .arg(&chunk)
        .arg(&lanes_on_x)
        .arg(&param)
        .arg(&partial_ptr)
        .arg(&out_ptr);
    // SAFETY: the arguments match `reduce_<family>_<dtype>` in reduce.cu (pointers as u64,
    // Layout, i64 x3, i32, double, pointer x2); both layouts lie inside the source storage
    // (check_extent); `out` holds out_n outputs and `partial` splits * out_n accumulators of at
    // most MAX_STATE_BYTES; the block has lanes * slots <= MAX_BLOCK threads.
    unsafe { launch.launch(g.config()) }.map_err(|e| launch_error(&kernel, e))?;

    if let Some(partial) = &partial {
        let kernel = format!("{kernel}_partials");
        let func = device.function("reduce", &kernel)?;
        // The accumulators are [splits][out_n]: a column reduction, no further split.
        let g2 = geometry(plan.out_n, g.splits, 1, plan.out_n, sms, false);
        let splits = g.splits as i64;
        let lanes_on_x = g2.lanes_on_x as i32;
        let partial_ptr = partial.ptr();
        let mut launch = device.stream.launch_builder(&func);
        launch
            .arg(&partial_ptr)
            .arg(&out_n)
            .arg(&splits)
            .arg(&inner)
            .arg(&lanes_on_x)
            .arg(&param)
            .arg(&out_ptr);
        // SAFETY: the arguments match `reduce_<family>_<dtype>_partials` (pointer, i64 x3,
        // i32, double, pointer); the first pass, queued before on the same stream, wrote
        // splits * out_n accumulators to `partial`, which is returned to the pool only after
        // this launch is queued.
        unsafe { launch.launch(g2.config()) }.map_err(|e| launch_error(&kernel, e))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn threads(g: &Geometry) -> usize {
        g.lanes * g.slots
    }

    #[test]
    fn kept_and_reduced_dims_merge_separately() {
        // [3, 4, 5] contiguous over dims 0 and 2: kept [4] (stride 5), reduced [3, 5].
        let p = Plan::new(&[3, 4, 5], &[20, 5, 1], &[0, 2], true);
        assert_eq!(
            (p.kept_dims.clone(), p.kept_strides.clone()),
            (vec![4], vec![5])
        );
        assert_eq!(
            (p.red_dims.clone(), p.red_strides.clone()),
            (vec![3, 5], vec![20, 1])
        );
        assert_eq!((p.out_n, p.red_n), (4, 15));
        // Over dims 1 and 2: the reduced dims merge into one contiguous run.
        let p = Plan::new(&[3, 4, 5], &[20, 5, 1], &[1, 2], true);
        assert_eq!((p.red_dims, p.red_strides), (vec![20], vec![1]));
    }

    #[test]
    fn reduced_dims_are_read_in_memory_order() {
        // x.permute(2, 0, 1) of a contiguous [3, 4, 5]: shape [5, 3, 4], strides [1, 20, 5].
        let p = Plan::new(&[5, 3, 4], &[1, 20, 5], &[0, 1, 2], true);
        assert_eq!((p.red_dims, p.red_strides), (vec![60], vec![1]));
        // Not for arg-reductions (one dim anyway, kept as given).
        let p = Plan::new(&[5, 3, 4], &[1, 20, 5], &[1], false);
        assert_eq!((p.red_dims, p.red_strides), (vec![3], vec![20]));
        assert_eq!((p.kept_dims, p.kept_strides), (vec![5, 4], vec![1, 5]));
    }

    #[test]
    fn full_reductions_and_scalars() {
        let p = Plan::new(&[], &[], &[], true);
        assert_eq!((p.out_n, p.red_n), (1, 1));
        assert_eq!((p.kept_dims, p.red_dims), (vec![1], vec![1]));
        // A zero-size reduced dim: no elements, one output per kept position.
        let p = Plan::new(&[0, 3], &[3, 1], &[0], true);
        assert_eq!((p.out_n, p.red_n), (3, 0));
    }

    #[test]
    fn row_reductions_put_lanes_on_x() {
        // 4096 rows of 4096: a block of 512 lanes per row, no split.
        let g = geometry(4096, 4096, 4096, 1, 132, true);
        assert!(g.lanes_on_x);
        assert_eq!((g.lanes, g.slots, g.splits, g.grid_x), (512, 1, 1, 4096));
        // Short rows: sub-warp groups, many per block.
        let g = geometry(1 << 20, 5, 5, 1, 132, true);
        assert_eq!((g.lanes, g.slots), (2, 128));
        let g = geometry(1 << 20, 1, 1, 0, 132, true);
        assert_eq!((g.lanes, g.slots, g.splits), (1, 256, 1));
    }

    #[test]
    fn column_reductions_put_outputs_on_x() {
        // Sum over dim 0 of [4096, 4096]: warps span 32 adjacent outputs.
        let g = geometry(4096, 4096, 1, 4096, 132, true);
        assert!(!g.lanes_on_x);
        assert_eq!((g.slots, g.lanes), (32, 16));
        assert!(g.splits > 1 && g.splits * g.chunk >= 4096 && (g.splits - 1) * g.chunk < 4096);
        // Two outputs with many elements each: the block fills up with lanes.
        let g = geometry(2, 1 << 24, 1, 2, 132, true);
        assert_eq!((g.slots, g.lanes), (2, 256));
        // Many outputs of few elements: one lane each, 256 outputs per block.
        let g = geometry(1 << 20, 5, 1, 1 << 20, 132, true);
        assert_eq!((g.slots, g.lanes, g.splits), (256, 1, 1));
    }

    #[test]
    fn a_full_sum_splits_across_the_device() {
        let n = 1 << 24;
        let g = geometry(1, n, 0, 1, 132, true);
        assert!(g.lanes_on_x);
        assert_eq!(g.lanes, 512);
        assert!(g.splits >= 132, "{g:?}");
        assert!(g.splits * g.chunk >= n && (g.splits - 1) * g.chunk < n);
        assert_eq!(g.chunk % (4 * g.lanes), 0);
        assert!(g.chunk / g.lanes >= MIN_PER_LANE);
        // Its second pass: one row of `splits` accumulators.
        let g2 = geometry(1, g.splits, 1, 1, 132, false);
        assert!(g2.lanes_on_x && g2.splits == 1 && g2.chunk == g.splits);
    }

    #[test]
    fn small_and_empty_reductions_do_not_split() {
        for (out_n, inner) in [(1, 0), (3, 0), (1, 1), (1, 100), (7, 1000)] {
            let g = geometry(out_n, inner, 1, 1, 132, true);
            assert_eq!((g.splits, g.chunk), (1, inner), "{out_n} x {inner}");
        }
    }

    #[test]
    fn blocks_are_powers_of_two_within_the_limit() {
        for out_n in [1, 2, 3, 31, 33, 1000, 1 << 20] {
            for inner in [0, 1, 2, 7, 31, 33, 100, 4096, 1 << 22] {
                for (ks, rs) in [(1, 1 << 20), (inner.max(1), 1), (0, 1)] {
                    let g = geometry(out_n, inner, ks, rs, 132, true);
                    assert!(
                        g.lanes.is_power_of_two() && g.slots.is_power_of_two(),
                        "{g:?}"
                    );
                    assert!(threads(&g) <= MAX_BLOCK, "{g:?}");
                    assert!(g.splits <= 65535 && g.splits * g.chunk >= inner, "{g:?}");
                    assert!(g.grid_x * g.slots >= out_n, "{g:?}");
                }
            }
        }
    }

    #[test]
    fn output_dtypes_follow_the_cpu() {
        assert_eq!(output_dtype(ReduceOp::Sum, DType::Bool), DType::I64);
        assert_eq!(output_dtype(ReduceOp::Prod, DType::U8), DType::I64);
        assert_eq!(output_dtype(ReduceOp::Sum, DType::F16), DType::F16);
        assert_eq!(output_dtype(ReduceOp::Max, DType::I32), DType::I32);
        assert_eq!(output_dtype(ReduceOp::ArgMin, DType::F32), DType::I64);
        assert_eq!(output_dtype(ReduceOp::Any, DType::F64), DType::Bool);
    }
}
