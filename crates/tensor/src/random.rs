//! Seeded random tensors: [`Generator`], the global default generator, and `rand`, `randn`,
//! `randint`, `normal`, `uniform`, `bernoulli` (each with a `_with` form taking a generator).
//!
//! A generator is a Philox 4x32-10 position `(seed, offset)` (see `tiny_torch_core::philox`).
//! A fill of `numel` elements is one `Backend::random` call at the generator's position, after
//! which the offset advances by `numel`; so a seed gives the same tensors on every backend, and
//! the state can be saved and restored exactly. The state sits behind a mutex (interior
//! mutability, as PyTorch's generators lock theirs): generators are shared by reference, and
//! the lock is held over the fill so that concurrent fills never reuse counters.

use crate::Tensor;
use std::fmt;
use std::sync::{Mutex, MutexGuard};
use tiny_torch_core::{Backend, DType, Distribution, Error, Result};

/// PyTorch's default seed, used until [`manual_seed`] is called.
pub const DEFAULT_SEED: u64 = 67_280_421_310_721;

/// A Philox generator position `(seed, offset)`. Shared by reference; methods take `&self`.
pub struct Generator {
    state: Mutex<(u64, u64)>,
}

static DEFAULT_GENERATOR: Generator = Generator::new(DEFAULT_SEED);

/// The global generator that `rand`, `randn`, ... use when no generator is given.
pub fn default_generator() -> &'static Generator {
    &DEFAULT_GENERATOR
}

/// `torch.manual_seed(seed)`: reseeds the global default generator (offset back to 0).
pub fn manual_seed(seed: u64) {
    DEFAULT_GENERATOR.manual_seed(seed);
}

impl Generator {
    /// A generator at the start of the stream of `seed`.
    pub const fn new(seed: u64) -> Self {
        Generator {
            state: Mutex::new((seed, 0)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, (u64, u64)> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Restarts the stream of `seed` (offset 0).
    pub fn manual_seed(&self, seed: u64) {
        *self.lock() = (seed, 0);
    }

    pub fn seed(&self) -> u64 {
        self.lock().0
    }

    /// How many Philox counters the fills so far have used.
    pub fn offset(&self) -> u64 {
        self.lock().1
    }

    /// `(seed, offset)`, to save and later [`Generator::set_state`].
    pub fn state(&self) -> (u64, u64) {
        *self.lock()
    }

    pub fn set_state(&self, state: (u64, u64)) {
        *self.lock() = state;
    }

    /// A new seed drawn from this stream (two words of its next Philox block, which it
    /// uses up), as PyTorch's data loaders draw theirs from the default generator: loaders
    /// built one after another get different seeds, and `manual_seed(s)` before them fixes
    /// them all.
    pub fn draw_seed(&self) -> u64 {
        let mut state = self.lock();
        let [low, high, _, _] = tiny_torch_core::philox::block(state.0, state.1, 0);
        state.1 = state.1.wrapping_add(1);
        u64::from(low) | (u64::from(high) << 32)
    }

    /// Runs `fill(seed, offset)` at the current position and, when it succeeds, advances the
    /// offset by `numel`.
    fn fill<R>(&self, numel: usize, fill: impl FnOnce(u64, u64) -> Result<R>) -> Result<R> {
        let mut state = self.lock();
        let out = fill(state.0, state.1)?;
        state.1 = state.1.wrapping_add(numel as u64);
        Ok(out)
    }
}

impl Default for Generator {
    fn default() -> Self {
        Generator::new(DEFAULT_SEED)
    }
}

/// An independent generator at the same position.
impl Clone for Generator {
    fn clone(&self) -> Self {
        Generator {
            state: Mutex::new(self.state()),
        }
    }
}

impl fmt::Debug for Generator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (seed, offset) = self.state();
        f.debug_struct("Generator")
            .field("seed", &seed)
            .field("offset", &offset)
            .finish()
    }
}

/// Errors unless `dtype` is floating point (uniform and normal samples).
fn check_float_dtype(op: &'static str, dtype: DType) -> Result<()> {
    if dtype.is_float() {
        return Ok(());
    }
    Err(Error::DType {
        op,
        expected: "a floating-point dtype".into(),
        got: dtype,
    })
}

/// PyTorch's `uniform_` checks: a finite `[low, high)` whose ends and width fit `dtype` (a
/// width past the dtype's largest value would make every sample inf or NaN).
fn check_uniform(op: &'static str, low: f64, high: f64, dtype: DType) -> Result<()> {
    if !(low.is_finite() && high.is_finite() && low <= high) {
        return Err(Error::invalid(
            op,
            format!("expects to return a [from, to) range, but found from={low} > to={high}"),
        ));
    }
    let max = match dtype {
        DType::F16 => f64::from(half::f16::MAX),
        DType::BF16 => f64::from(half::bf16::MAX),
        DType::F32 => f64::from(f32::MAX),
        _ => f64::MAX,
    };
    // (`high - low` is finite here for every dtype but f64, where it may overflow to inf.)
    if low.abs() > max || high.abs() > max || high - low > max {
        return Err(Error::invalid(
            op,
            format!(
                "expects from, to and to - from within the range of {dtype}, but found \
                 from={low}, to={high}"
            ),
        ));
    }
    Ok(())
}

fn check_normal(op: &'static str, mean: f64, std: f64) -> Result<()> {
    if !(mean.is_finite() && std.is_finite() && std >= 0.0) {
        return Err(Error::invalid(
            op,
            format!("expects a finite mean and std >= 0.0, but found mean {mean} and std {std}"),
        ));
    }
    Ok(())
}

impl<B: Backend> Tensor<B> {
    /// One `Backend::random` fill of a new tensor from `generator`.
    fn random(
        shape: &[usize],
        dtype: DType,
        backend: &B,
        distribution: Distribution,
        generator: &Generator,
    ) -> Result<Self> {
        Tensor::build(shape, dtype, backend, |dst| {
            generator.fill(dst.layout.numel(), |seed, offset| {
                backend.random(dst, distribution, seed, offset)
            })
        })
    }

    /// Uniform samples on `[0, 1)` (`torch.rand`), from the default generator.
    pub fn rand(shape: &[usize], dtype: DType, backend: &B) -> Result<Self> {
        Self::rand_with(shape, dtype, backend, default_generator())
    }

    pub fn rand_with(
        shape: &[usize],
        dtype: DType,
        backend: &B,
        generator: &Generator,
    ) -> Result<Self> {
        check_float_dtype("rand", dtype)?;
        Self::uniform_with(0.0, 1.0, shape, dtype, backend, generator)
    }

    /// Standard normal samples (`torch.randn`), from the default generator.
    pub fn randn(shape: &[usize], dtype: DType, backend: &B) -> Result<Self> {
        Self::randn_with(shape, dtype, backend, default_generator())
    }

    pub fn randn_with(
        shape: &[usize],
        dtype: DType,
        backend: &B,
        generator: &Generator,
    ) -> Result<Self> {
        check_float_dtype("randn", dtype)?;
        Self::normal_with(0.0, 1.0, shape, dtype, backend, generator)
    }

    /// Integers uniform on `[low, high)` as int64 (`torch.randint`), from the default generator.
    pub fn randint(low: i64, high: i64, shape: &[usize], backend: &B) -> Result<Self> {
        Self::randint_with(low, high, shape, backend, default_generator())
    }

    pub fn randint_with(
        low: i64,
        high: i64,
        shape: &[usize],
        backend: &B,
        generator: &Generator,
    ) -> Result<Self> {
        if low >= high {
            return Err(Error::invalid(
                "randint",
                format!("expects 'from' to be less than 'to', but got from={low} >= to={high}"),
            ));
        }
        let distribution = Distribution::RandInt { low, high };
        Self::random(shape, DType::I64, backend, distribution, generator)
    }

    /// Normal samples with `mean` and `std` (`torch.normal`), from the default generator.
    pub fn normal(mean: f64, std: f64, shape: &[usize], dtype: DType, backend: &B) -> Result<Self> {
        Self::normal_with(mean, std, shape, dtype, backend, default_generator())
    }

    pub fn normal_with(
        mean: f64,
        std: f64,
        shape: &[usize],
        dtype: DType,
        backend: &B,
        generator: &Generator,
    ) -> Result<Self> {
        check_float_dtype("normal", dtype)?;
        check_normal("normal", mean, std)?;
        let distribution = Distribution::Normal { mean, std };
        Self::random(shape, dtype, backend, distribution, generator)
    }

    /// Uniform samples on `[low, high)` (`torch.empty(...).uniform_(low, high)`), from the
    /// default generator.
    pub fn uniform(
        low: f64,
        high: f64,
        shape: &[usize],
        dtype: DType,
        backend: &B,
    ) -> Result<Self> {
        Self::uniform_with(low, high, shape, dtype, backend, default_generator())
    }

    pub fn uniform_with(
        low: f64,
        high: f64,
        shape: &[usize],
        dtype: DType,
        backend: &B,
        generator: &Generator,
    ) -> Result<Self> {
        check_float_dtype("uniform", dtype)?;
        check_uniform("uniform", low, high, dtype)?;
        let distribution = Distribution::Uniform { low, high };
        Self::random(shape, dtype, backend, distribution, generator)
    }

    /// `torch.bernoulli(self)`: 1 with probability `self[i]`, else 0, in this dtype, from the
    /// default generator.
    pub fn bernoulli(&self) -> Result<Self> {
        self.bernoulli_with(default_generator())
    }

    /// `bernoulli` from `generator`: element `i` is `u_i < p_i` with `u` the uniform stream (the
    /// same counters a scalar-`p` Bernoulli fill uses). Probabilities are not range-checked
    /// (that would synchronize the device): below 0 gives 0, above 1 gives 1.
    pub fn bernoulli_with(&self, generator: &Generator) -> Result<Self> {
        check_float_dtype("bernoulli", self.dtype())?;
        let compare = if self.dtype() == DType::F64 {
            DType::F64
        } else {
            DType::F32
        };
        let u = Self::rand_with(self.dims(), compare, self.backend(), generator)?;
        u.lt(&self.to_dtype(compare)?)?.to_dtype(self.dtype())
    }

    /// Uniform samples on `[0, 1)` of this tensor's shape, dtype and device.
    pub fn rand_like(&self) -> Result<Self> {
        Self::rand(self.dims(), self.dtype(), self.backend())
    }

    /// Standard normal samples of this tensor's shape, dtype and device.
    pub fn randn_like(&self) -> Result<Self> {
        Self::randn(self.dims(), self.dtype(), self.backend())
    }
}
