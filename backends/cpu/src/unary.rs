//! Element-wise ops of one input ([`UnaryOp`]), out of place and in place.
//!
//! Floats compute in `f32` (`f16`, `bf16`, `f32`) or `f64`, with PyTorch's definitions: exact
//! GELU (`x Φ(x)`, through `erf` for `f64`), softplus with threshold 20, NaN passing through
//! `relu` and `clamp`. For `f32`, `exp`, `tanh`, `sigmoid`, `silu` and both GELUs use the
//! branch-free functions of `math` (a few ulp), so that their loops vectorize as PyTorch's
//! SLEEF kernels do; `f64` uses the standard library. Integers take the ops that stay integral (neg and abs wrap, relu, square, clamp,
//! integral powers); bool takes only `logical_not`. Anything else is `Unsupported`.

use crate::map;
use crate::num::{Convert, FloatStore, Int, Real, int_pow};
use crate::simd_f32::{self, SliceKernels};
use crate::storage::{CpuStorage, Native, dispatch};
use half::{bf16, f16};
use tiny_torch_core::{BackendStorage, DType, Error, Layout, Result, UnaryOp, View, ViewMut};

/// Where a kernel's per-element function is applied: out of place or in place.
trait Sink<T>: Sized {
    /// Applies `f`, through `kernels` (hand-written vector code computing the same) on
    /// contiguous runs when given.
    fn run_with(self, f: impl Fn(T) -> T + Sync, kernels: Option<SliceKernels<T>>) -> Result<()>;

    fn run(self, f: impl Fn(T) -> T + Sync) -> Result<()> {
        self.run_with(f, None)
    }
}

struct OutOfPlace<'a, T> {
    op: &'static str,
    src: (&'a [T], &'a Layout),
    dst: (&'a mut [T], &'a Layout),
}

impl<T: Copy + Send + Sync> Sink<T> for OutOfPlace<'_, T> {
    fn run_with(self, f: impl Fn(T) -> T + Sync, kernels: Option<SliceKernels<T>>) -> Result<()> {
        map::unary_with(self.op, self.src, self.dst, f, kernels.map(|k| k.map))
    }
}

struct InPlace<'a, T> {
    op: &'static str,
    dst: (&'a mut [T], &'a Layout),
}

impl<T: Copy + Send + Sync> Sink<T> for InPlace<'_, T> {
    fn run_with(self, f: impl Fn(T) -> T + Sync, kernels: Option<SliceKernels<T>>) -> Result<()> {
        map::inplace_with(self.op, self.dst, f, kernels.map(|k| k.inplace))
    }
}

/// `dst = op(src)`.
pub(crate) fn unary(
    op: UnaryOp,
    src: View<'_, CpuStorage>,
    dst: ViewMut<'_, CpuStorage>,
) -> Result<()> {
    let dtype = src.storage.dtype();
    let name = op.name();
    if op == UnaryOp::LogicalNot {
        expect_dtype(name, dst.storage.dtype(), DType::Bool)?;
        return dispatch!(dtype, T => {
            let s = src.storage.data::<T>(name)?;
            let d = dst.storage.data_mut::<bool>(name)?;
            map::unary(name, (s, src.layout), (d, dst.layout), |x: T| !x.nonzero())
        });
    }
    expect_dtype(name, dst.storage.dtype(), dtype)?;
    dispatch!(dtype, T => T::apply(op, OutOfPlace {
        op: name,
        src: (src.storage.data::<T>(name)?, src.layout),
        dst: (dst.storage.data_mut::<T>(name)?, dst.layout),
    }))
}

/// `dst = op(dst)`.
pub(crate) fn unary_inplace(op: UnaryOp, dst: ViewMut<'_, CpuStorage>) -> Result<()> {
    let dtype = dst.storage.dtype();
    let name = op.name();
    if op == UnaryOp::LogicalNot {
        // In place, the result must fit the destination: only bool.
        expect_dtype(name, dtype, DType::Bool)?;
        let d = dst.storage.data_mut::<bool>(name)?;
        return map::inplace(name, (d, dst.layout), |x: bool| !x);
    }
    dispatch!(dtype, T => T::apply(op, InPlace {
        op: name,
        dst: (dst.storage.data_mut::<T>(name)?, dst.layout),
    }))
}

pub(crate) fn expect_dtype(op: &'static str, got: DType, want: DType) -> Result<()> {
    if got == want {
        return Ok(());
    }
    Err(Error::DType {
        op,
        expected: format!("an output of dtype {want}"),
        got,
    })
}

fn unsupported(op: UnaryOp, dtype: DType) -> Error {
    Error::unsupported(op.name(), dtype, "cpu")
}

/// The unary kernels of one element type.
trait UnaryKernels: Native {
    fn apply(op: UnaryOp, sink: impl Sink<Self>) -> Result<()>;
}

fn float_apply<T: FloatStore>(op: UnaryOp, sink: impl Sink<T>) -> Result<()> {
    use UnaryOp::*;
    macro_rules! run {
        (|$x:ident| $e:expr) => {
            run!(|$x| $e, None)
        };
        // `kernels`: hand-written vector code for contiguous runs, computing exactly `$e`.
        (|$x:ident| $e:expr, $kernels:expr) => {
            // Always inlined into the (AVX2-compiled) loop, however large: a call per element
            // would stop vectorization and lose the FMA target feature.
            sink.run_with(
                #[inline(always)]
                move |v: T| {
                    let $x = v.up();
                    T::down($e)
                },
                $kernels,
            )
        };
    }
    let c = <T::C as Real>::of;
    let (zero, one) = (<T::C as Real>::ZERO, <T::C as Real>::ONE);
    match op {
        Neg => run!(|x| -x),
        Abs => run!(|x| x.abs()),
        Exp => run!(|x| x.fast_exp()),
        Log => run!(|x| x.ln()),
        Sqrt => run!(|x| x.sqrt()),
        Rsqrt => run!(|x| one / x.sqrt()),
        Sin => run!(|x| x.sin()),
        Cos => run!(|x| x.cos()),
        Tanh => run!(|x| x.fast_tanh()),
        Sigmoid => run!(|x| one / (one + (-x).fast_exp())),
        // `relu(-0.0) = -0.0` and NaN passes; the `f32` vector kernels keep both.
        Relu => run!(
            |x| if x < zero { zero } else { x },
            simd_f32::relu_kernels::<T>()
        ),
        Gelu => run!(|x| x.gelu()),
        GeluTanh => {
            let k = c((2.0 / std::f64::consts::PI).sqrt());
            let (a, half) = (c(0.044715), c(0.5));
            run!(|x| half * x * (one + (k * (x + a * x * x * x)).fast_tanh()))
        }
        Silu => run!(|x| x / (one + (-x).fast_exp())),
        Softplus => {
            let threshold = c(20.0);
            run!(|x| if x > threshold { x } else { x.exp().ln_1p() })
        }
        LeakyRelu(slope) => {
            let s = c(slope);
            run!(|x| if x > zero { x } else { x * s })
        }
        Square => run!(|x| x * x),
        PowScalar(e) => {
            let e = c(e);
            run!(|x| x.powf(e))
        }
        Clamp { min, max } => {
            let (lo, hi) = (min.map(c), max.map(c));
            run!(|x| {
                let mut y = x;
                if let Some(l) = lo
                    && (y < l || l.is_nan())
                {
                    y = l;
                }
                if let Some(h) = hi
                    && (y > h || h.is_nan())
                {
                    y = h;
                }
                y
            })
        }
        LogicalNot => Err(unsupported(op, T::DTYPE)),
    }
}

fn int_apply<T: Int + Convert>(op: UnaryOp, sink: impl Sink<T>) -> Result<()> {
    use UnaryOp::*;
    match op {
        Neg => sink.run(|x: T| x.wneg()),
        Abs => sink.run(|x: T| x.wabs()),
        Relu => sink.run(|x: T| if x < T::ZERO { T::ZERO } else { x }),
        Square => sink.run(|x: T| x.wmul(x)),
        PowScalar(e) => {
            if e.fract() != 0.0 || !e.is_finite() {
                return Err(unsupported(op, T::DTYPE));
            }
            if e < 0.0 {
                return Err(Error::invalid(
                    "pow",
                    "Integers to negative integer powers are not allowed.",
                ));
            }
            let e = e as i64;
            sink.run(move |x: T| int_pow(x, e))
        }
        Clamp { min, max } => {
            if min.is_some_and(f64::is_nan) || max.is_some_and(f64::is_nan) {
                return Err(Error::invalid("clamp", "a clamp bound is NaN"));
            }
            let range = (T::MIN.i64() as f64, T::MAX.i64() as f64);
            let to_t = |v: f64| T::from_int(v.clamp(range.0, range.1) as i64);
            // Clamping integers to real bounds: to the integers inside them.
            let lo = min.map(|m| to_t(m.ceil()));
            let hi = max.map(|m| to_t(m.floor()));
            sink.run(move |x: T| {
                let mut y = x;
                if let Some(l) = lo
                    && y < l
                {
                    y = l;
                }
                if let Some(h) = hi
                    && y > h
                {
                    y = h;
                }
                y
            })
        }
        _ => Err(unsupported(op, T::DTYPE)),
    }
}

macro_rules! kernels {
    ($f:ident: $($t:ty),*) => {$(
        impl UnaryKernels for $t {
            fn apply(op: UnaryOp, sink: impl Sink<Self>) -> Result<()> {
                $f::<$t>(op, sink)
            }
        }
    )*};
}
kernels!(float_apply: f32, f64, f16, bf16);
kernels!(int_apply: u8, i32, i64);

impl UnaryKernels for bool {
    fn apply(op: UnaryOp, _sink: impl Sink<Self>) -> Result<()> {
        // `logical_not` is handled before dispatch; nothing else is defined on bool.
        Err(unsupported(op, DType::Bool))
    }
}
