//! Where the time goes: [`Profiled`] wraps any backend and times each call the tensor layer
//! makes to it, grouped by op (PyTorch's `torch.profiler` with `key_averages()`, taken at the
//! point where ops reach a device, as PyTorch's profiler hooks its dispatcher).
//!
//! ```
//! use tiny_torch_cpu::Cpu;
//! use tiny_torch_tensor::profiler::{Profiled, Timing};
//! use tiny_torch_tensor::{DType, Tensor};
//!
//! # fn main() -> tiny_torch_tensor::Result<()> {
//! let cpu = Profiled::new(Cpu, Timing::Device);
//! let x = Tensor::randn(&[64, 64], DType::F32, &cpu)?;
//! x.matmul(&x)?.relu()?.sum()?;
//! let profile = cpu.profile();
//! assert_eq!(profile.row("matmul").map(|row| row.calls), Some(1));
//! print!("{profile}");
//! # Ok(())
//! # }
//! ```
//!
//! The wrapper is itself a backend, so a whole model runs on it unchanged
//! (`resnet50(config, &Profiled::new(cuda, Timing::Device))`) and computes exactly what the
//! wrapped backend computes: every call is handed on as it came.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tiny_torch_core::{
    Backend, BatchNormSaved, BinaryOp, Conv2dParams, DType, Device, Distribution, Pool2dParams,
    ReduceOp, Result, Scalar, ScaledAddPair, ScatterReduce, UnaryOp, View, ViewMut,
};

/// What a call's time covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timing {
    /// The call's wall time on the calling thread: what an op costs the host. For an
    /// asynchronous backend (CUDA, wgpu) that is the checks, planning and launch, not the
    /// kernel; the queued work shows up in whichever call waits for it (`synchronize`,
    /// `to_bytes`).
    Host,
    /// The device is synchronized before and after each call, so a call's time also covers
    /// the work it queued, plus one synchronization round trip (microseconds on CUDA: compare
    /// ops well above it). The device then runs one op at a time: use this to see where the
    /// device's time goes, not to time the whole program.
    Device,
}

/// A backend that times every call of the backend it wraps. Clones share one record.
#[derive(Clone)]
pub struct Profiled<B: Backend> {
    inner: B,
    timing: Timing,
    record: Arc<Mutex<HashMap<OpKey, OpStat>>>,
}

/// The backend method and, for the op-enum methods, the op (`("unary", "relu")`).
type OpKey = (&'static str, &'static str);

#[derive(Clone, Copy, Default)]
struct OpStat {
    calls: u64,
    total: Duration,
}

impl<B: Backend> fmt::Debug for Profiled<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Profiled({:?}, {:?})", self.inner, self.timing)
    }
}

impl<B: Backend> Profiled<B> {
    pub fn new(inner: B, timing: Timing) -> Self {
        Profiled {
            inner,
            timing,
            record: Arc::default(),
        }
    }

    /// The wrapped backend.
    pub fn inner(&self) -> &B {
        &self.inner
    }

    pub fn timing(&self) -> Timing {
        self.timing
    }

    /// What was recorded so far, the most expensive op first.
    pub fn profile(&self) -> Profile {
        let record = self.record.lock().unwrap_or_else(PoisonError::into_inner);
        let mut rows: Vec<ProfileRow> = record
            .iter()
            .map(|(&(method, op), stat)| ProfileRow {
                name: if op.is_empty() {
                    method.to_string()
                } else {
                    format!("{method}({op})")
                },
                calls: stat.calls,
                total: stat.total,
            })
            .collect();
        rows.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| a.name.cmp(&b.name)));
        Profile {
            backend: self.inner.name(),
            timing: self.timing,
            rows,
        }
    }

    /// Forgets what was recorded (after warm-up steps, say).
    pub fn reset(&self) {
        self.record
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Runs `call` on the wrapped backend and records its time under `(method, op)`.
    fn timed<T>(
        &self,
        method: &'static str,
        op: &'static str,
        call: impl FnOnce(&B) -> Result<T>,
    ) -> Result<T> {
        let device = self.timing == Timing::Device;
        if device {
            self.inner.synchronize()?; // earlier work is not this call's
        }
        let start = Instant::now();
        let mut result = call(&self.inner);
        if device && result.is_ok() {
            result = self.inner.synchronize().and(result);
        }
        self.add((method, op), start.elapsed());
        result
    }

    /// Adds one call of `elapsed` to `key`'s row.
    fn add(&self, key: OpKey, elapsed: Duration) {
        let mut record = self.record.lock().unwrap_or_else(PoisonError::into_inner);
        let stat = record.entry(key).or_default();
        stat.calls += 1;
        stat.total += elapsed;
    }
}

/// A snapshot of a [`Profiled`] backend's record; `Display` prints it as a table.
#[derive(Clone, Debug)]
pub struct Profile {
    /// The wrapped backend's name.
    pub backend: &'static str,
    pub timing: Timing,
    /// One row per op, the largest total first.
    pub rows: Vec<ProfileRow>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileRow {
    /// The backend method, with the op for the op-enum methods: `conv2d`, `unary(relu)`.
    pub name: String,
    pub calls: u64,
    pub total: Duration,
}

impl Profile {
    /// The sum of every row's time.
    pub fn total(&self) -> Duration {
        self.rows.iter().map(|r| r.total).sum()
    }

    pub fn calls(&self) -> u64 {
        self.rows.iter().map(|r| r.calls).sum()
    }

    /// The row named `name` (`"conv2d"`, `"binary(add)"`).
    pub fn row(&self, name: &str) -> Option<&ProfileRow> {
        self.rows.iter().find(|r| r.name == name)
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.total();
        let share = |d: Duration| 100.0 * d.as_secs_f64() / total.as_secs_f64().max(1e-12);
        writeln!(
            f,
            "{:<36} {:>8} {:>12} {:>10} {:>7}",
            format!("{} ({:?} time)", self.backend, self.timing),
            "calls",
            "total ms",
            "mean us",
            "%"
        )?;
        for row in &self.rows {
            writeln!(
                f,
                "{:<36} {:>8} {:>12.3} {:>10.2} {:>7.1}",
                row.name,
                row.calls,
                row.total.as_secs_f64() * 1e3,
                row.total.as_secs_f64() * 1e6 / row.calls.max(1) as f64,
                share(row.total)
            )?;
        }
        writeln!(
            f,
            "{:<36} {:>8} {:>12.3}",
            "total",
            self.calls(),
            total.as_secs_f64() * 1e3
        )
    }
}

impl<B: Backend> Backend for Profiled<B> {
    type Storage = B::Storage;

    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn device(&self) -> Device {
        self.inner.device()
    }

    fn alloc(&self, dtype: DType, len: usize) -> Result<Self::Storage> {
        self.timed("alloc", "", |b| b.alloc(dtype, len))
    }

    fn from_bytes(&self, dtype: DType, bytes: &[u8]) -> Result<Self::Storage> {
        self.timed("from_bytes", "", |b| b.from_bytes(dtype, bytes))
    }

    fn to_bytes(&self, src: View<'_, Self::Storage>) -> Result<Vec<u8>> {
        self.timed("to_bytes", "", |b| b.to_bytes(src))
    }

    fn fill(&self, dst: ViewMut<'_, Self::Storage>, value: Scalar) -> Result<()> {
        self.timed("fill", "", |b| b.fill(dst, value))
    }

    fn copy(&self, src: View<'_, Self::Storage>, dst: ViewMut<'_, Self::Storage>) -> Result<()> {
        self.timed("copy", "", |b| b.copy(src, dst))
    }

    fn synchronize(&self) -> Result<()> {
        // Timed directly: in Device mode the surrounding synchronizations would be no-ops.
        let start = Instant::now();
        let result = self.inner.synchronize();
        self.add(("synchronize", ""), start.elapsed());
        result
    }

    fn unary(
        &self,
        op: UnaryOp,
        src: View<'_, Self::Storage>,
        dst: ViewMut<'_, Self::Storage>,
    ) -> Result<()> {
        self.timed("unary", op.name(), |b| b.unary(op, src, dst))
    }

    fn unary_inplace(&self, op: UnaryOp, dst: ViewMut<'_, Self::Storage>) -> Result<()> {
        self.timed("unary_inplace", op.name(), |b| b.unary_inplace(op, dst))
    }

    fn binary(
        &self,
        op: BinaryOp,
        lhs: View<'_, Self::Storage>,
        rhs: View<'_, Self::Storage>,
        dst: ViewMut<'_, Self::Storage>,
    ) -> Result<()> {
        self.timed("binary", op.name(), |b| b.binary(op, lhs, rhs, dst))
    }

    fn binary_inplace(
        &self,
        op: BinaryOp,
        dst: ViewMut<'_, Self::Storage>,
        rhs: View<'_, Self::Storage>,
    ) -> Result<()> {
        self.timed("binary_inplace", op.name(), |b| {
            b.binary_inplace(op, dst, rhs)
        })
    }

    fn where_cond(
        &self,
        cond: View<'_, Self::Storage>,
        on_true: View<'_, Self::Storage>,
        on_false: View<'_, Self::Storage>,
        dst: ViewMut<'_, Self::Storage>,
    ) -> Result<()> {
        self.timed("where_cond", "", |b| {
            b.where_cond(cond, on_true, on_false, dst)
        })
    }

    fn scaled_add(
        &self,
        dst: ViewMut<'_, Self::Storage>,
        src: View<'_, Self::Storage>,
        alpha: f64,
        beta: f64,
    ) -> Result<()> {
        self.timed("scaled_add", "", |b| b.scaled_add(dst, src, alpha, beta))
    }

    fn scaled_add_foreach(
        &self,
        pairs: Vec<ScaledAddPair<'_, Self::Storage>>,
        alpha: f64,
        beta: f64,
    ) -> Result<()> {
        self.timed("scaled_add_foreach", "", |b| {
            b.scaled_add_foreach(pairs, alpha, beta)
        })
    }

    fn reduce(
        &self,
        op: ReduceOp,
        src: View<'_, Self::Storage>,
        dims: &[usize],
    ) -> Result<Self::Storage> {
        self.timed("reduce", op.name(), |b| b.reduce(op, src, dims))
    }

    fn softmax(
        &self,
        src: View<'_, Self::Storage>,
        dim: usize,
        log: bool,
    ) -> Result<Self::Storage> {
        let op = if log { "log" } else { "" };
        self.timed("softmax", op, |b| b.softmax(src, dim, log))
    }

    fn matmul(
        &self,
        lhs: View<'_, Self::Storage>,
        rhs: View<'_, Self::Storage>,
    ) -> Result<Self::Storage> {
        self.timed("matmul", "", |b| b.matmul(lhs, rhs))
    }

    fn index_select(
        &self,
        src: View<'_, Self::Storage>,
        dim: usize,
        index: View<'_, Self::Storage>,
    ) -> Result<Self::Storage> {
        self.timed("index_select", "", |b| b.index_select(src, dim, index))
    }

    fn gather(
        &self,
        src: View<'_, Self::Storage>,
        dim: usize,
        index: View<'_, Self::Storage>,
    ) -> Result<Self::Storage> {
        self.timed("gather", "", |b| b.gather(src, dim, index))
    }

    fn scatter(
        &self,
        dst: ViewMut<'_, Self::Storage>,
        dim: usize,
        index: View<'_, Self::Storage>,
        src: View<'_, Self::Storage>,
        reduce: ScatterReduce,
    ) -> Result<()> {
        self.timed("scatter", reduce.name(), |b| {
            b.scatter(dst, dim, index, src, reduce)
        })
    }

    fn random(
        &self,
        dst: ViewMut<'_, Self::Storage>,
        distribution: Distribution,
        seed: u64,
        offset: u64,
    ) -> Result<()> {
        self.timed("random", "", |b| b.random(dst, distribution, seed, offset))
    }

    fn conv2d(
        &self,
        input: View<'_, Self::Storage>,
        weight: View<'_, Self::Storage>,
        bias: Option<View<'_, Self::Storage>>,
        params: &Conv2dParams,
    ) -> Result<Self::Storage> {
        self.timed("conv2d", "", |b| b.conv2d(input, weight, bias, params))
    }

    fn conv2d_backward_input(
        &self,
        grad_output: View<'_, Self::Storage>,
        weight: View<'_, Self::Storage>,
        input_dims: [usize; 4],
        params: &Conv2dParams,
    ) -> Result<Self::Storage> {
        self.timed("conv2d_backward_input", "", |b| {
            b.conv2d_backward_input(grad_output, weight, input_dims, params)
        })
    }

    fn conv2d_backward_weight(
        &self,
        grad_output: View<'_, Self::Storage>,
        input: View<'_, Self::Storage>,
        weight_dims: [usize; 4],
        params: &Conv2dParams,
    ) -> Result<Self::Storage> {
        self.timed("conv2d_backward_weight", "", |b| {
            b.conv2d_backward_weight(grad_output, input, weight_dims, params)
        })
    }

    fn max_pool2d(
        &self,
        input: View<'_, Self::Storage>,
        params: &Pool2dParams,
    ) -> Result<(Self::Storage, Self::Storage)> {
        self.timed("max_pool2d", "", |b| b.max_pool2d(input, params))
    }

    fn max_pool2d_backward(
        &self,
        grad_output: View<'_, Self::Storage>,
        indices: View<'_, Self::Storage>,
        input_dims: [usize; 4],
    ) -> Result<Self::Storage> {
        self.timed("max_pool2d_backward", "", |b| {
            b.max_pool2d_backward(grad_output, indices, input_dims)
        })
    }

    fn avg_pool2d(
        &self,
        input: View<'_, Self::Storage>,
        params: &Pool2dParams,
    ) -> Result<Self::Storage> {
        self.timed("avg_pool2d", "", |b| b.avg_pool2d(input, params))
    }

    fn avg_pool2d_backward(
        &self,
        grad_output: View<'_, Self::Storage>,
        input_dims: [usize; 4],
        params: &Pool2dParams,
    ) -> Result<Self::Storage> {
        self.timed("avg_pool2d_backward", "", |b| {
            b.avg_pool2d_backward(grad_output, input_dims, params)
        })
    }

    fn adaptive_avg_pool2d(
        &self,
        input: View<'_, Self::Storage>,
        output_size: [usize; 2],
    ) -> Result<Self::Storage> {
        self.timed("adaptive_avg_pool2d", "", |b| {
            b.adaptive_avg_pool2d(input, output_size)
        })
    }

    fn adaptive_avg_pool2d_backward(
        &self,
        grad_output: View<'_, Self::Storage>,
        input_dims: [usize; 4],
    ) -> Result<Self::Storage> {
        self.timed("adaptive_avg_pool2d_backward", "", |b| {
            b.adaptive_avg_pool2d_backward(grad_output, input_dims)
        })
    }

    fn batch_norm(
        &self,
        input: View<'_, Self::Storage>,
        weight: Option<View<'_, Self::Storage>>,
        bias: Option<View<'_, Self::Storage>>,
        running_mean: Option<ViewMut<'_, Self::Storage>>,
        running_var: Option<ViewMut<'_, Self::Storage>>,
        training: bool,
        momentum: f64,
        eps: f64,
    ) -> Result<(Self::Storage, BatchNormSaved<Self::Storage>)> {
        let mode = if training { "train" } else { "eval" };
        self.timed("batch_norm", mode, |b| {
            b.batch_norm(
                input,
                weight,
                bias,
                running_mean,
                running_var,
                training,
                momentum,
                eps,
            )
        })
    }

    fn batch_norm_backward(
        &self,
        grad_output: View<'_, Self::Storage>,
        input: View<'_, Self::Storage>,
        weight: Option<View<'_, Self::Storage>>,
        saved: &BatchNormSaved<Self::Storage>,
        training: bool,
    ) -> Result<(Self::Storage, Self::Storage, Self::Storage)> {
        let mode = if training { "train" } else { "eval" };
        self.timed("batch_norm_backward", mode, |b| {
            b.batch_norm_backward(grad_output, input, weight, saved, training)
        })
    }
}

#[cfg(test)]
mod tests {
    /// The method names declared in `source` between `start` and the end of its block.
    fn methods(source: &str, start: &str) -> Vec<String> {
        let from = source.find(start).expect("block start");
        let block = &source[from..];
        let block = &block[..block.find("\n}\n").expect("block end")];
        block
            .lines()
            .filter_map(|line| line.trim_start().strip_prefix("fn "))
            .map(|rest| rest.split(['(', '<']).next().unwrap_or("").to_string())
            .collect()
    }

    /// Every `Backend` method is handed on: a forgotten one would run the trait's default body
    /// (`Unsupported`, or a slower fallback) instead of the wrapped backend's.
    #[test]
    fn every_backend_method_is_forwarded() {
        let declared = methods(
            include_str!("../../core/src/backend.rs"),
            "pub trait Backend:",
        );
        let forwarded = methods(
            include_str!("profiler.rs"),
            "impl<B: Backend> Backend for Profiled<B>",
        );
        assert!(declared.len() >= 30, "{declared:?}");
        let missing: Vec<&String> = declared
            .iter()
            .filter(|name| !forwarded.contains(name))
            .collect();
        assert!(missing.is_empty(), "not forwarded by Profiled: {missing:?}");
    }
}
