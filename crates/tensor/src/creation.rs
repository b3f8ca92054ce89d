//! Creating tensors: from host data (slices, nested arrays), filled, ranges, identity, `*_like`.
//!
//! Host data goes to the device in one `Backend::from_bytes`; filled tensors are one
//! `Backend::fill`. Sizes and range arguments are checked here, with errors naming the op.

use crate::Tensor;
use crate::tensor::checked_numel;
use half::{bf16, f16};
use tiny_torch_core::{Backend, DType, Element, Error, Layout, Result, Scalar, ViewMut};

/// Host data that [`Tensor::new`] accepts: a scalar element (0-dim tensor) or arrays of arrays
/// of elements, `[T; N]`, `[[T; N]; M]`, ... (every level rectangular by construction).
///
/// Unsuffixed float literals are `f64` in Rust, so `Tensor::new([1.0, 2.0], &b)` is a float64
/// tensor; write `1.0f32` for float32.
pub trait NestedArray {
    type Elem: Element;
    /// Appends the sizes of the nesting levels, outermost first.
    fn push_dims(dims: &mut Vec<usize>);
    /// Appends the elements in row-major order.
    fn push_elems(&self, out: &mut Vec<Self::Elem>);
}

macro_rules! nested_scalar {
    ($($t:ty),*) => {$(
        impl NestedArray for $t {
            type Elem = $t;
            fn push_dims(_: &mut Vec<usize>) {}
            fn push_elems(&self, out: &mut Vec<$t>) {
                out.push(*self);
            }
        }
    )*};
}
nested_scalar!(f32, f64, f16, bf16, i64, i32, u8, bool);

impl<A: NestedArray, const N: usize> NestedArray for [A; N] {
    type Elem = A::Elem;
    fn push_dims(dims: &mut Vec<usize>) {
        dims.push(N);
        A::push_dims(dims);
    }
    fn push_elems(&self, out: &mut Vec<A::Elem>) {
        for a in self {
            a.push_elems(out);
        }
    }
}

/// The number of elements of `torch.arange(start, end, step)`, checked as PyTorch checks it.
fn arange_len(start: f64, end: f64, step: f64) -> Result<usize> {
    if !(start.is_finite() && end.is_finite() && step.is_finite()) {
        return Err(Error::invalid(
            "arange",
            format!("unsupported range: {start} -> {end} with step {step} (must be finite)"),
        ));
    }
    if step == 0.0 {
        return Err(Error::invalid("arange", "step must be nonzero"));
    }
    if (step > 0.0 && end < start) || (step < 0.0 && end > start) {
        return Err(Error::invalid(
            "arange",
            format!(
                "upper bound and larger bound inconsistent with step sign (start {start}, end \
                 {end}, step {step})"
            ),
        ));
    }
    let len = ((end - start) / step).ceil();
    if len >= usize::MAX as f64 {
        return Err(Error::invalid(
            "arange",
            format!("range {start} -> {end} with step {step} has too many elements"),
        ));
    }
    Ok(len as usize)
}

/// `torch.linspace` values, computed from both ends as PyTorch does so that the last value is
/// exactly `end`.
fn linspace_values(start: f64, end: f64, steps: usize, out: &mut Vec<f64>) {
    if steps <= 1 {
        out.extend((0..steps).map(|_| start));
        return;
    }
    let step = (end - start) / (steps - 1) as f64;
    let half = steps / 2;
    out.extend((0..steps).map(|i| {
        if i < half {
            start + step * i as f64
        } else {
            end - step * (steps - 1 - i) as f64
        }
    }));
}

/// `v` converted to integer `dtype` as a scalar is (truncated, then wrapped), back as `f64`.
fn integer_in(v: f64, dtype: DType) -> f64 {
    let t = v as i64;
    match dtype {
        DType::U8 => t as u8 as f64,
        DType::I32 => t as i32 as f64,
        _ => t as f64,
    }
}

/// An empty host vector with room for `len` values, or an error naming `op` when the memory
/// cannot be had (instead of aborting the process).
fn host_buffer<T>(op: &'static str, len: usize) -> Result<Vec<T>> {
    let mut values = Vec::new();
    values
        .try_reserve_exact(len)
        .map_err(|_| Error::invalid(op, format!("cannot allocate host memory for {len} values")))?;
    Ok(values)
}

impl<B: Backend> Tensor<B> {
    /// A tensor of `shape` holding `data` in row-major order.
    pub fn from_vec<T: Element>(data: Vec<T>, shape: &[usize], backend: &B) -> Result<Self> {
        Self::from_slice(&data, shape, backend)
    }

    /// A tensor of `shape` and `dtype` from little-endian element bytes (`bool` as one byte 0
    /// or 1), the format of safetensors files and of [`Tensor::to_le_bytes`].
    pub fn from_le_bytes(bytes: &[u8], dtype: DType, shape: &[usize], backend: &B) -> Result<Self> {
        let numel = checked_numel("from_le_bytes", shape)?;
        let needed = numel.checked_mul(dtype.size_in_bytes());
        if needed != Some(bytes.len()) {
            return Err(Error::shape(
                "from_le_bytes",
                format!(
                    "shape {shape:?} of {dtype} needs {} bytes, but {} were given",
                    needed.map_or("more than fit in memory".into(), |n| n.to_string()),
                    bytes.len()
                ),
            ));
        }
        if dtype == DType::Bool && bytes.iter().any(|&b| b > 1) {
            return Err(Error::invalid(
                "from_le_bytes",
                "bool elements must be the bytes 0 or 1",
            ));
        }
        let storage = backend.from_bytes(dtype, bytes)?;
        Ok(Tensor::from_storage(storage, shape, backend))
    }

    /// A tensor of `shape` holding a copy of `data` in row-major order.
    pub fn from_slice<T: Element>(data: &[T], shape: &[usize], backend: &B) -> Result<Self> {
        let numel = checked_numel("from_slice", shape)?;
        if numel != data.len() {
            return Err(Error::shape(
                "from_slice",
                format!(
                    "shape {shape:?} holds {numel} elements, but {} were given",
                    data.len()
                ),
            ));
        }
        let storage = backend.from_bytes(T::DTYPE, &T::to_bytes(data))?;
        Ok(Tensor::from_storage(storage, shape, backend))
    }

    /// `torch.tensor(data)` from a scalar or nested arrays: `Tensor::new([[1f32, 2.], [3., 4.]], &b)`.
    pub fn new<A: NestedArray>(data: A, backend: &B) -> Result<Self> {
        let mut dims = Vec::new();
        A::push_dims(&mut dims);
        let mut elems = Vec::new();
        data.push_elems(&mut elems);
        Self::from_slice(&elems, &dims, backend)
    }

    /// A new tensor of `shape` and `dtype` on `backend`, with unspecified contents.
    pub fn empty(shape: &[usize], dtype: DType, backend: &B) -> Result<Self> {
        let len = checked_numel("empty", shape)?;
        Ok(Tensor::from_storage(
            backend.alloc(dtype, len)?,
            shape,
            backend,
        ))
    }

    /// A tensor of `shape` filled with `value` converted to `dtype` (`torch.full`).
    pub fn full(
        shape: &[usize],
        value: impl Into<Scalar>,
        dtype: DType,
        backend: &B,
    ) -> Result<Self> {
        let value = value.into();
        // PyTorch's `full` range-checks every dtype but f16 and bf16, which it fills through a
        // float conversion (1e5 becomes inf in f16); `masked_fill` checks those too.
        if !matches!(dtype, DType::F16 | DType::BF16) {
            value.check_fits("full", dtype)?;
        }
        Tensor::build(shape, dtype, backend, |dst| backend.fill(dst, value))
    }

    pub fn zeros(shape: &[usize], dtype: DType, backend: &B) -> Result<Self> {
        Self::full(shape, 0, dtype, backend)
    }

    pub fn ones(shape: &[usize], dtype: DType, backend: &B) -> Result<Self> {
        Self::full(shape, 1, dtype, backend)
    }

    /// `torch.arange(start, end, step, dtype=dtype)`: `start, start + step, ...` below `end`
    /// (above it for a negative step). The length comes from the `f64` range. Float values
    /// are computed in `f64`, then converted; for an integer dtype, as in PyTorch, `start` and
    /// `step` are truncated to integers first and the values computed in `i64`
    /// (`arange(-1.5, 3.0, 1.0, I64)` is `[-1, 0, 1, 2, 3]`).
    pub fn arange(start: f64, end: f64, step: f64, dtype: DType, backend: &B) -> Result<Self> {
        let len = arange_len(start, end, step)?;
        if !dtype.is_float() && dtype != DType::Bool {
            let (first, stride) = (start as i64, step as i64);
            let mut values = host_buffer("arange", len)?;
            values.extend((0..len as i64).map(|i| first.wrapping_add(stride.wrapping_mul(i))));
            return Self::from_slice(&values, &[len], backend)?.to_dtype(dtype);
        }
        let mut values = host_buffer("arange", len)?;
        values.extend((0..len).map(|i| start + step * i as f64));
        Self::from_slice(&values, &[len], backend)?.to_dtype(dtype)
    }

    /// `torch.linspace(start, end, steps, dtype=dtype)`: `steps` evenly spaced values from
    /// `start` to `end` inclusive. For an integer dtype the ends are converted to it first, as
    /// in PyTorch (`linspace(-0.5, 10.0, 3, I64)` is `[0, 5, 10]`; in uint8, -5 is 251).
    pub fn linspace(start: f64, end: f64, steps: usize, dtype: DType, backend: &B) -> Result<Self> {
        let (start, end) = if !dtype.is_float() && dtype != DType::Bool {
            (integer_in(start, dtype), integer_in(end, dtype))
        } else {
            (start, end)
        };
        let mut values = host_buffer("linspace", steps)?;
        linspace_values(start, end, steps, &mut values);
        Self::from_slice(&values, &[steps], backend)?.to_dtype(dtype)
    }

    /// The `n x n` identity matrix: zeros, then a fill of the diagonal through a stride-`n + 1`
    /// view.
    pub fn eye(n: usize, dtype: DType, backend: &B) -> Result<Self> {
        let out = Self::zeros(&[n, n], dtype, backend)?;
        let diagonal = Layout::new(vec![n], vec![n + 1], 0)?;
        backend.fill(
            ViewMut::new(&mut out.storage_mut(), &diagonal),
            Scalar::Int(1),
        )?;
        Ok(out)
    }

    /// Zeros of this tensor's shape, dtype and device.
    pub fn zeros_like(&self) -> Result<Self> {
        Self::zeros(self.dims(), self.dtype(), self.backend())
    }

    /// Ones of this tensor's shape, dtype and device.
    pub fn ones_like(&self) -> Result<Self> {
        Self::ones(self.dims(), self.dtype(), self.backend())
    }

    /// `value` in this tensor's shape, dtype and device.
    pub fn full_like(&self, value: impl Into<Scalar>) -> Result<Self> {
        Self::full(self.dims(), value, self.dtype(), self.backend())
    }
}
