//! Reductions over a set of dims ([`ReduceOp`]): sum, mean, prod, max, min, argmax, argmin,
//! var, logsumexp, all, any.
//!
//! The input's dims split into kept dims (one output each, row-major) and reduced dims (walked
//! as strided runs from each output's base offset). Each op is a [`Reducer`]: an accumulator,
//! how to feed it a contiguous run (written to vectorize) or single elements, how to merge two
//! accumulators, and how to finish. Many outputs run in parallel chunks of outputs; few large
//! ones split their reduced elements into chunks whose accumulators merge in a fixed order, so
//! results do not depend on scheduling.
//!
//! Accuracy: float sums add runs of 16 elements per lane in the compute type and accumulate
//! those in `f64` (see `sum_f64`, and `simd_f32::sum_f64` for contiguous `f32`), variance uses
//! per-run two-pass sums merged with Chan's formula, logsumexp shifts by the running max.
//! Dtypes: sum and prod of integers and bool give `I64`; mean, var and logsumexp take floats
//! only; reductions over a zero-size dim give sum 0, prod 1, mean NaN, while max, min, argmax and
//! argmin are errors, as in PyTorch.

use crate::math::simd;
use crate::num::{Convert, FloatStore, Real};
use crate::simd_f32;
use crate::storage::{CpuStorage, Native, alloc_typed, dispatch};
use crate::strided::{PAR_THRESHOLD, Walk, check_extent};
use half::{bf16, f16};
use rayon::prelude::*;
use std::marker::PhantomData;
use tiny_torch_core::{BackendStorage, Error, Layout, ReduceOp, Result, View};

/// Kept and reduced dims of one reduction.
struct Plan {
    /// Over the kept dims, at the input's offset: one element per output.
    kept: Walk<1>,
    /// Over the reduced dims, at offset 0 (runs are taken from each output's base).
    red: Walk<1>,
    out_n: usize,
    red_n: usize,
}

impl Plan {
    fn new(layout: &Layout, dims: &[usize]) -> Result<Self> {
        let (mut kd, mut ks, mut rd, mut rs) = (vec![], vec![], vec![], vec![]);
        for (d, (&n, &s)) in layout.dims().iter().zip(layout.strides()).enumerate() {
            if dims.contains(&d) {
                rd.push(n);
                rs.push(s);
            } else {
                kd.push(n);
                ks.push(s);
            }
        }
        let (out_n, red_n) = (kd.iter().product(), rd.iter().product());
        let kept = Layout::new(kd, ks, layout.offset())?;
        let red = Layout::new(rd, rs, 0)?;
        Ok(Plan {
            kept: Walk::new([&kept]),
            red: Walk::new([&red]),
            out_n,
            red_n,
        })
    }

    /// Calls `f(k, base)` for the outputs `start..end` (`k` counts from 0 at `start`).
    fn bases(&self, start: usize, end: usize, mut f: impl FnMut(usize, usize)) {
        let [stride] = self.kept.inner();
        let mut k = 0;
        self.kept.runs(start, end, |[base], len| {
            for i in 0..len {
                f(k, base + i * stride);
                k += 1;
            }
        });
    }
}

/// One reduction: accumulate, merge, finish.
trait Reducer<T: Copy>: Sync {
    type Acc: Send;
    type Out: Native;
    fn init(&self) -> Self::Acc;
    fn feed_one(&self, acc: &mut Self::Acc, x: T);
    /// A contiguous run; override to vectorize.
    fn feed(&self, acc: &mut Self::Acc, xs: &[T]) {
        for &x in xs {
            self.feed_one(acc, x);
        }
    }
    fn merge(&self, a: Self::Acc, b: Self::Acc) -> Self::Acc;
    fn finish(&self, acc: Self::Acc, n: usize) -> Self::Out;
}

/// Folds the reduced elements `start..end` of the output at `base`.
fn fold<T: Copy, R: Reducer<T>>(
    r: &R,
    plan: &Plan,
    data: &[T],
    base: usize,
    start: usize,
    end: usize,
) -> R::Acc {
    let mut acc = r.init();
    let [stride] = plan.red.inner();
    plan.red.runs_at([base], start, end, |[o], len| {
        if stride == 1 {
            r.feed(&mut acc, &data[o..o + len]);
        } else {
            for i in 0..len {
                r.feed_one(&mut acc, data[o + i * stride]);
            }
        }
    });
    acc
}

/// Runs reducer `r` over the plan into a new contiguous buffer.
fn run<T: Copy + Sync, R: Reducer<T>>(r: &R, plan: &Plan, data: &[T]) -> Result<CpuStorage>
where
    R::Out: Send,
{
    let mut out = alloc_typed::<R::Out>(plan.out_n)?;
    let o = out.data_mut::<R::Out>("reduce")?;
    let (out_n, red_n) = (plan.out_n, plan.red_n);
    let threads = rayon::current_num_threads();
    let total = out_n.saturating_mul(red_n.max(1));
    if total < PAR_THRESHOLD || threads <= 1 {
        outputs(r, plan, data, 0, o);
    } else if out_n >= 4 * threads || red_n < PAR_THRESHOLD {
        // Parallel over outputs.
        let per = (PAR_THRESHOLD / red_n.max(1))
            .max(out_n.div_ceil(16 * threads))
            .max(1);
        o.par_chunks_mut(per)
            .enumerate()
            .for_each(|(c, chunk)| outputs(r, plan, data, c * per, chunk));
    } else {
        // Few, large outputs: split each output's elements, merge in order.
        let chunks = (red_n / PAR_THRESHOLD).clamp(1, 4 * threads);
        let per = red_n.div_ceil(chunks).next_multiple_of(64);
        plan.bases(0, out_n, |k, base| {
            let parts: Vec<R::Acc> = (0..red_n.div_ceil(per))
                .into_par_iter()
                .map(|c| fold(r, plan, data, base, c * per, (c + 1) * per))
                .collect();
            let acc = parts.into_iter().fold(r.init(), |a, b| r.merge(a, b));
            o[k] = r.finish(acc, red_n);
        });
    }
    Ok(out)
}

/// Outputs per block of adjacent columns (see `outputs`).
const COLUMNS: usize = 512;

/// Computes the outputs `start..start + out.len()`. When adjacent outputs are adjacent in memory
/// and the reduced dims are not (a sum over rows, say), a block of outputs is reduced together:
/// each reduced position adds a contiguous slice of the input to a vector of accumulators, so
/// memory is read in order and the loop vectorizes. Otherwise each output folds its elements.
fn outputs<T: Copy + Sync, R: Reducer<T>>(
    r: &R,
    plan: &Plan,
    data: &[T],
    start: usize,
    out: &mut [R::Out],
) {
    let ([ks], [rs], red_n) = (plan.kept.inner(), plan.red.inner(), plan.red_n);
    if ks != 1 || rs == 1 || red_n <= 1 {
        plan.bases(start, start + out.len(), |k, base| {
            out[k] = r.finish(fold(r, plan, data, base, 0, red_n), red_n);
        });
        return;
    }
    let mut k = 0;
    plan.kept.runs(start, start + out.len(), |[base], len| {
        for b0 in (0..len).step_by(COLUMNS) {
            let width = COLUMNS.min(len - b0);
            let mut accs: Vec<R::Acc> = (0..width).map(|_| r.init()).collect();
            plan.red.runs_at([base + b0], 0, red_n, |[o], run| {
                for i in 0..run {
                    let row = &data[o + i * rs..o + i * rs + width];
                    simd!(for (a, &x) in accs.iter_mut().zip(row) {
                        r.feed_one(a, x);
                    });
                }
            });
            for (slot, acc) in out[k + b0..k + b0 + width].iter_mut().zip(accs) {
                *slot = r.finish(acc, red_n);
            }
        }
        k += len;
    });
}

/// `Σ xs` returned in `f64`. 16 lanes add runs of 256 elements in the compute type (`f32` for
/// `f32`, `f16` and `bf16`: one vector add per 8 elements, no conversion to `f64` per element),
/// then each run's lane sums join `f64` totals. Each `f32` partial sums only 16 elements, so
/// the error stays within a few `f32` ulps of the run's magnitude, and the long sum is in `f64`.
#[inline(always)]
fn sum_f64<T: FloatStore>(xs: &[T]) -> f64 {
    const LANES: usize = 16;
    const RUN: usize = 16 * LANES;
    let mut totals = [0f64; LANES];
    for run in xs.chunks(RUN) {
        let mut acc = [<T::C as Real>::ZERO; LANES];
        let chunks = run.chunks_exact(LANES);
        let rest = chunks.remainder();
        for c in chunks {
            for (a, &x) in acc.iter_mut().zip(c) {
                *a = *a + x.up();
            }
        }
        for (a, &x) in acc.iter_mut().zip(rest) {
            *a = *a + x.up();
        }
        for (t, a) in totals.iter_mut().zip(acc) {
            *t += a.f64();
        }
    }
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for i in 0..width {
            totals[i] += totals[i + width];
        }
    }
    totals[0]
}

/// [`sum_f64`], by the hand-written AVX2 kernel for `f32` when the CPU has it (same accuracy
/// design, four independent accumulators).
#[inline(always)]
fn sum_any<T: FloatStore>(xs: &[T]) -> f64 {
    match simd_f32::as_f32(xs).and_then(simd_f32::sum_f64) {
        Some(s) => s,
        None => simd!(sum_f64(xs)),
    }
}

/// Sum (and mean) of floats, accumulated in `f64`.
struct FloatSum<T> {
    mean: bool,
    _t: PhantomData<T>,
}

impl<T: FloatStore> Reducer<T> for FloatSum<T> {
    type Acc = f64;
    type Out = T;
    fn init(&self) -> f64 {
        0.0
    }
    fn feed_one(&self, acc: &mut f64, x: T) {
        *acc += x.up().f64();
    }
    fn feed(&self, acc: &mut f64, xs: &[T]) {
        *acc += sum_any(xs);
    }
    fn merge(&self, a: f64, b: f64) -> f64 {
        a + b
    }
    fn finish(&self, acc: f64, n: usize) -> T {
        let v = if self.mean { acc / n as f64 } else { acc };
        T::down(<T::C as Real>::of(v))
    }
}

/// Sum of integers or bools into `i64` (wrapping, as PyTorch's int64 sums do).
struct IntSum;

impl<T: Convert> Reducer<T> for IntSum {
    type Acc = i64;
    type Out = i64;
    fn init(&self) -> i64 {
        0
    }
    fn feed_one(&self, acc: &mut i64, x: T) {
        *acc = acc.wrapping_add(x.as_i64());
    }
    fn feed(&self, acc: &mut i64, xs: &[T]) {
        let mut lanes = [0i64; 8];
        let chunks = xs.chunks_exact(8);
        let rest = chunks.remainder();
        for c in chunks {
            for (a, &x) in lanes.iter_mut().zip(c) {
                *a = a.wrapping_add(x.as_i64());
            }
        }
        for &x in rest {
            *acc = acc.wrapping_add(x.as_i64());
        }
        *acc = lanes.iter().fold(*acc, |s, &v| s.wrapping_add(v));
    }
    fn merge(&self, a: i64, b: i64) -> i64 {
        a.wrapping_add(b)
    }
    fn finish(&self, acc: i64, _n: usize) -> i64 {
        acc
    }
}

/// Product of floats in `f64`.
struct FloatProd<T>(PhantomData<T>);

impl<T: FloatStore> Reducer<T> for FloatProd<T> {
    type Acc = f64;
    type Out = T;
    fn init(&self) -> f64 {
        1.0
    }
    fn feed_one(&self, acc: &mut f64, x: T) {
        *acc *= x.up().f64();
    }
    fn merge(&self, a: f64, b: f64) -> f64 {
        a * b
    }
    fn finish(&self, acc: f64, _n: usize) -> T {
        T::down(<T::C as Real>::of(acc))
    }
}

/// Product of integers or bools into `i64` (wrapping).
struct IntProd;

impl<T: Convert> Reducer<T> for IntProd {
    type Acc = i64;
    type Out = i64;
    fn init(&self) -> i64 {
        1
    }
    fn feed_one(&self, acc: &mut i64, x: T) {
        *acc = acc.wrapping_mul(x.as_i64());
    }
    fn merge(&self, a: i64, b: i64) -> i64 {
        a.wrapping_mul(b)
    }
    fn finish(&self, acc: i64, _n: usize) -> i64 {
        acc
    }
}

/// Max or min of floats; NaN wins (it is sticky once taken).
struct FloatExtremum<T> {
    max: bool,
    _t: PhantomData<T>,
}

impl<T: FloatStore> FloatExtremum<T> {
    #[inline(always)]
    #[allow(clippy::eq_op)]
    fn pick(max: bool, acc: T::C, x: T::C) -> T::C {
        // `x != x` is NaN; once `acc` is NaN no comparison replaces it.
        let better = if max { x > acc } else { x < acc };
        if x != x || better { x } else { acc }
    }
}

impl<T: FloatStore> Reducer<T> for FloatExtremum<T> {
    type Acc = T::C;
    type Out = T;
    fn init(&self) -> T::C {
        if self.max {
            -<T::C as Real>::INFINITY
        } else {
            <T::C as Real>::INFINITY
        }
    }
    fn feed_one(&self, acc: &mut T::C, x: T) {
        *acc = Self::pick(self.max, *acc, x.up());
    }
    fn feed(&self, acc: &mut T::C, xs: &[T]) {
        let max = self.max;
        let init = self.init();
        *acc = simd!({
            let mut lanes = [init; 16];
            let chunks = xs.chunks_exact(16);
            let rest = chunks.remainder();
            for c in chunks {
                for (a, &x) in lanes.iter_mut().zip(c) {
                    *a = Self::pick(max, *a, x.up());
                }
            }
            let mut m = *acc;
            for &x in rest {
                m = Self::pick(max, m, x.up());
            }
            lanes.iter().fold(m, |m, &l| Self::pick(max, m, l))
        });
    }
    fn merge(&self, a: T::C, b: T::C) -> T::C {
        Self::pick(self.max, a, b)
    }
    fn finish(&self, acc: T::C, _n: usize) -> T {
        T::down(acc)
    }
}

/// Max or min of integers or bools.
struct OrdExtremum<T> {
    max: bool,
    _t: PhantomData<T>,
}

impl<T: Native + Ord> Reducer<T> for OrdExtremum<T> {
    type Acc = Option<T>;
    type Out = T;
    fn init(&self) -> Option<T> {
        None
    }
    fn feed_one(&self, acc: &mut Option<T>, x: T) {
        *acc = self.merge(*acc, Some(x));
    }
    fn feed(&self, acc: &mut Option<T>, xs: &[T]) {
        let m = if self.max {
            xs.iter().copied().max()
        } else {
            xs.iter().copied().min()
        };
        *acc = self.merge(*acc, m);
    }
    fn merge(&self, a: Option<T>, b: Option<T>) -> Option<T> {
        match (a, b) {
            (Some(a), Some(b)) => Some(if self.max { a.max(b) } else { a.min(b) }),
            (a, None) => a,
            (None, b) => b,
        }
    }
    fn finish(&self, acc: Option<T>, _n: usize) -> T {
        // Never empty: zero-size max/min is rejected before running.
        acc.unwrap_or_default()
    }
}

/// Count, mean and sum of squared deviations, merged with Chan et al.'s formula.
#[derive(Clone, Copy)]
struct Moments {
    n: f64,
    mean: f64,
    m2: f64,
}

impl Moments {
    fn merge(a: Moments, b: Moments) -> Moments {
        if a.n == 0.0 {
            return b;
        }
        if b.n == 0.0 {
            return a;
        }
        let n = a.n + b.n;
        let delta = b.mean - a.mean;
        Moments {
            n,
            mean: a.mean + delta * (b.n / n),
            m2: a.m2 + b.m2 + delta * delta * (a.n * b.n / n),
        }
    }
}

/// Variance with a correction (divides by `N - correction`, at least 0).
struct Variance<T> {
    correction: f64,
    _t: PhantomData<T>,
}

impl<T: FloatStore> Reducer<T> for Variance<T> {
    type Acc = Moments;
    type Out = T;
    fn init(&self) -> Moments {
        Moments {
            n: 0.0,
            mean: 0.0,
            m2: 0.0,
        }
    }
    fn feed_one(&self, acc: &mut Moments, x: T) {
        let x = x.up().f64();
        acc.n += 1.0;
        let delta = x - acc.mean;
        acc.mean += delta / acc.n;
        acc.m2 += delta * (x - acc.mean);
    }
    fn feed(&self, acc: &mut Moments, xs: &[T]) {
        if xs.is_empty() {
            return;
        }
        let n = xs.len() as f64;
        let mean = sum_any(xs) / n;
        let m2 = simd!(xs.iter().fold(0.0, |s, &x| {
            let d = x.up().f64() - mean;
            s + d * d
        }));
        *acc = Moments::merge(*acc, Moments { n, mean, m2 });
    }
    fn merge(&self, a: Moments, b: Moments) -> Moments {
        Moments::merge(a, b)
    }
    fn finish(&self, acc: Moments, n: usize) -> T {
        let divisor = (n as f64 - self.correction).max(0.0);
        T::down(<T::C as Real>::of(acc.m2 / divisor))
    }
}

/// `log Σ exp(x)` as a running (max, Σ exp(x - max)) pair in `f64`.
struct LogSumExp<T>(PhantomData<T>);

impl<T: FloatStore> Reducer<T> for LogSumExp<T> {
    type Acc = (f64, f64);
    type Out = T;
    fn init(&self) -> (f64, f64) {
        (f64::NEG_INFINITY, 0.0)
    }
    fn feed_one(&self, acc: &mut (f64, f64), x: T) {
        *acc = self.merge(*acc, (x.up().f64(), 1.0));
    }
    fn feed(&self, acc: &mut (f64, f64), xs: &[T]) {
        let m = xs.iter().fold(f64::NEG_INFINITY, |m, &x| {
            let x = x.up().f64();
            if x.is_nan() || x > m { x } else { m }
        });
        let s = if m.is_finite() {
            xs.iter().map(|&x| (x.up().f64() - m).exp()).sum()
        } else {
            0.0
        };
        *acc = self.merge(*acc, (m, s));
    }
    fn merge(&self, a: (f64, f64), b: (f64, f64)) -> (f64, f64) {
        if a.0.is_nan() || b.0.is_nan() {
            return (f64::NAN, 0.0);
        }
        let m = a.0.max(b.0);
        if !m.is_finite() {
            return (m, 0.0);
        }
        (m, a.1 * (a.0 - m).exp() + b.1 * (b.0 - m).exp())
    }
    fn finish(&self, acc: (f64, f64), _n: usize) -> T {
        let v = if acc.0.is_finite() {
            acc.0 + acc.1.ln()
        } else {
            acc.0
        };
        T::down(<T::C as Real>::of(v))
    }
}

/// Logical all / any of `x != 0`.
struct Logical {
    all: bool,
}

impl<T: Convert> Reducer<T> for Logical {
    type Acc = bool;
    type Out = bool;
    fn init(&self) -> bool {
        self.all
    }
    fn feed_one(&self, acc: &mut bool, x: T) {
        *acc = if self.all {
            *acc && x.nonzero()
        } else {
            *acc || x.nonzero()
        };
    }
    fn feed(&self, acc: &mut bool, xs: &[T]) {
        *acc = if self.all {
            *acc && xs.iter().all(|x| x.nonzero())
        } else {
            *acc || xs.iter().any(|x| x.nonzero())
        };
    }
    fn merge(&self, a: bool, b: bool) -> bool {
        if self.all { a && b } else { a || b }
    }
    fn finish(&self, acc: bool, _n: usize) -> bool {
        acc
    }
}

/// Index of the first max (or min) along the single reduced dim; NaN counts as the max and
/// as the min, as in PyTorch.
fn arg_extremum<T: Convert>(plan: &Plan, data: &[T], max: bool) -> Result<CpuStorage> {
    let mut out = alloc_typed::<i64>(plan.out_n)?;
    let o = out.data_mut::<i64>("argmax")?;
    let [stride] = plan.red.inner();
    let n = plan.red_n;
    let one = |base: usize| -> i64 {
        let mut best = data[base];
        let mut at = 0;
        if best.is_nan() {
            return 0;
        }
        for i in 1..n {
            let x = data[base + i * stride];
            if x.is_nan() {
                return i as i64;
            }
            if (max && x > best) || (!max && x < best) {
                best = x;
                at = i;
            }
        }
        at as i64
    };
    let per = (PAR_THRESHOLD / n.max(1)).max(1);
    if plan.out_n.saturating_mul(n) < PAR_THRESHOLD {
        plan.bases(0, plan.out_n, |k, base| o[k] = one(base));
    } else {
        o.par_chunks_mut(per).enumerate().for_each(|(c, chunk)| {
            let start = c * per;
            plan.bases(start, start + chunk.len(), |k, base| chunk[k] = one(base));
        });
    }
    Ok(out)
}

/// The reductions of one element type.
trait ReduceKernels: Native + Convert {
    fn reduce(op: ReduceOp, plan: &Plan, data: &[Self]) -> Result<CpuStorage>;
}

fn float_reduce<T: FloatStore + Convert>(
    op: ReduceOp,
    plan: &Plan,
    data: &[T],
) -> Result<CpuStorage> {
    use ReduceOp::*;
    match op {
        Sum | Mean => run(
            &FloatSum {
                mean: op == Mean,
                _t: PhantomData,
            },
            plan,
            data,
        ),
        Prod => run(&FloatProd(PhantomData), plan, data),
        Max | Min => run(
            &FloatExtremum {
                max: op == Max,
                _t: PhantomData,
            },
            plan,
            data,
        ),
        ArgMax | ArgMin => arg_extremum(plan, data, op == ArgMax),
        Var { correction } => run(
            &Variance {
                correction,
                _t: PhantomData,
            },
            plan,
            data,
        ),
        LogSumExp => run(&self::LogSumExp(PhantomData), plan, data),
        All | Any => run(&Logical { all: op == All }, plan, data),
    }
}

fn ord_reduce<T: Convert + Ord>(op: ReduceOp, plan: &Plan, data: &[T]) -> Result<CpuStorage> {
    use ReduceOp::*;
    match op {
        Sum => run(&IntSum, plan, data),
        Prod => run(&IntProd, plan, data),
        Max | Min => run(
            &OrdExtremum {
                max: op == Max,
                _t: PhantomData,
            },
            plan,
            data,
        ),
        ArgMax | ArgMin => arg_extremum(plan, data, op == ArgMax),
        All | Any => run(&Logical { all: op == All }, plan, data),
        Mean | Var { .. } | LogSumExp => Err(Error::unsupported(op.name(), T::DTYPE, "cpu")),
    }
}

macro_rules! kernels {
    ($f:ident: $($t:ty),*) => {$(
        impl ReduceKernels for $t {
            fn reduce(op: ReduceOp, plan: &Plan, data: &[Self]) -> Result<CpuStorage> {
                $f::<$t>(op, plan, data)
            }
        }
    )*};
}
kernels!(float_reduce: f32, f64, f16, bf16);
kernels!(ord_reduce: u8, i32, i64, bool);

/// Reduces `src` over `dims` into a contiguous buffer of the kept shape (reduced dims = 1).
pub(crate) fn reduce(
    op: ReduceOp,
    src: View<'_, CpuStorage>,
    dims: &[usize],
) -> Result<CpuStorage> {
    let name = op.name();
    let layout = src.layout;
    let nd = layout.ndim();
    // A zero-dim tensor reduces over its one element whatever dim (0 or -1) was named.
    let dims: &[usize] = if nd == 0 { &[] } else { dims };
    if dims.windows(2).any(|w| w[0] >= w[1]) {
        return Err(Error::invalid(
            name,
            format!("reduction dims {dims:?} must be sorted and distinct"),
        ));
    }
    if let Some(&d) = dims.iter().find(|&&d| d >= nd) {
        return Err(Error::DimOutOfRange {
            op: name,
            dim: d as isize,
            ndim: nd,
        });
    }
    let arg = matches!(op, ReduceOp::ArgMax | ReduceOp::ArgMin);
    if arg && nd > 0 && dims.len() != 1 {
        return Err(Error::invalid(
            name,
            format!("expects exactly one dim, got {dims:?}"),
        ));
    }
    check_extent(name, layout, src.storage.len())?;
    let plan = Plan::new(layout, dims)?;
    let needs_elements = matches!(
        op,
        ReduceOp::Max | ReduceOp::Min | ReduceOp::ArgMax | ReduceOp::ArgMin
    );
    if needs_elements && plan.red_n == 0 {
        return Err(Error::invalid(
            name,
            format!(
                "Expected reduction dim to have non-zero size (input shape {:?}, dims {dims:?})",
                layout.dims()
            ),
        ));
    }
    let dtype = src.storage.dtype();
    let float_only = matches!(
        op,
        ReduceOp::Mean | ReduceOp::Var { .. } | ReduceOp::LogSumExp
    );
    if float_only && !dtype.is_float() {
        return Err(Error::unsupported(name, dtype, "cpu"));
    }
    dispatch!(dtype, T => {
        T::reduce(op, &plan, src.storage.data::<T>(name)?)
    })
}
