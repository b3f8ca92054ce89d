//! Element-wise ops of two inputs ([`BinaryOp`]), out of place and in place, and `where`.
//!
//! Semantics follow PyTorch: integer arithmetic wraps, integer division truncates toward zero
//! and a zero divisor is an error, `maximum`/`minimum` propagate NaN, `pow` of integers follows
//! `torch.pow` (negative exponents give 0 except for bases ±1), `add`/`mul`/`maximum`/`minimum`
//! of bools are or/and/or/and, comparisons and logical ops return bool (logical ops read any
//! dtype as `!= 0`). Bool has no `sub`, `div`, `pow` or `atan2`; integers have no `atan2`.

use crate::map;
use crate::num::{Convert, FloatStore, Int, Real, float_dispatch, int_pow};
use crate::storage::{CpuStorage, Native, dispatch};
use crate::unary::expect_dtype;
use half::{bf16, f16};
use std::sync::atomic::{AtomicBool, Ordering};
use tiny_torch_core::{
    BackendStorage, BinaryOp, DType, Error, Layout, Result, View, ViewMut, check_scaled_add_dtypes,
};

/// Where a kernel's per-element function is applied: out of place or in place.
trait Sink<T> {
    fn run(self, f: impl Fn(T, T) -> T + Sync) -> Result<()>;
}

struct OutOfPlace<'a, T> {
    op: &'static str,
    lhs: (&'a [T], &'a Layout),
    rhs: (&'a [T], &'a Layout),
    dst: (&'a mut [T], &'a Layout),
}

impl<T: Copy + Send + Sync> Sink<T> for OutOfPlace<'_, T> {
    fn run(self, f: impl Fn(T, T) -> T + Sync) -> Result<()> {
        map::binary(self.op, self.lhs, self.rhs, self.dst, f)
    }
}

struct InPlace<'a, T> {
    op: &'static str,
    dst: (&'a mut [T], &'a Layout),
    rhs: (&'a [T], &'a Layout),
}

impl<T: Copy + Send + Sync> Sink<T> for InPlace<'_, T> {
    fn run(self, f: impl Fn(T, T) -> T + Sync) -> Result<()> {
        map::binary_inplace(self.op, self.dst, self.rhs, f)
    }
}

fn same_input_dtypes(op: BinaryOp, lhs: DType, rhs: DType) -> Result<()> {
    if lhs == rhs {
        return Ok(());
    }
    Err(Error::DType {
        op: op.name(),
        expected: format!("both operands of dtype {lhs}"),
        got: rhs,
    })
}

/// `dst = op(lhs, rhs)`.
pub(crate) fn binary(
    op: BinaryOp,
    lhs: View<'_, CpuStorage>,
    rhs: View<'_, CpuStorage>,
    dst: ViewMut<'_, CpuStorage>,
) -> Result<()> {
    let dtype = lhs.storage.dtype();
    let name = op.name();
    same_input_dtypes(op, dtype, rhs.storage.dtype())?;
    if op.returns_bool() {
        expect_dtype(name, dst.storage.dtype(), DType::Bool)?;
        return dispatch!(dtype, T => compare::<T>(op, ToBool {
            op: name,
            lhs: (lhs.storage.data::<T>(name)?, lhs.layout),
            rhs: (rhs.storage.data::<T>(name)?, rhs.layout),
            dst: (dst.storage.data_mut::<bool>(name)?, dst.layout),
        }));
    }
    expect_dtype(name, dst.storage.dtype(), dtype)?;
    dispatch!(dtype, T => T::apply(op, OutOfPlace {
        op: name,
        lhs: (lhs.storage.data::<T>(name)?, lhs.layout),
        rhs: (rhs.storage.data::<T>(name)?, rhs.layout),
        dst: (dst.storage.data_mut::<T>(name)?, dst.layout),
    }))
}

/// `dst = op(dst, rhs)`.
pub(crate) fn binary_inplace(
    op: BinaryOp,
    dst: ViewMut<'_, CpuStorage>,
    rhs: View<'_, CpuStorage>,
) -> Result<()> {
    let dtype = dst.storage.dtype();
    let name = op.name();
    same_input_dtypes(op, dtype, rhs.storage.dtype())?;
    if op.returns_bool() {
        // In place, a bool result needs a bool destination (and so bool inputs).
        expect_dtype(name, dtype, DType::Bool)?;
        return compare::<bool>(
            op,
            InPlace {
                op: name,
                dst: (dst.storage.data_mut::<bool>(name)?, dst.layout),
                rhs: (rhs.storage.data::<bool>(name)?, rhs.layout),
            },
        );
    }
    dispatch!(dtype, T => T::apply(op, InPlace {
        op: name,
        dst: (dst.storage.data_mut::<T>(name)?, dst.layout),
        rhs: (rhs.storage.data::<T>(name)?, rhs.layout),
    }))
}

/// Where a comparison's per-element function is applied.
trait BoolSink<T> {
    fn run(self, f: impl Fn(T, T) -> bool + Sync) -> Result<()>;
}

struct ToBool<'a, T> {
    op: &'static str,
    lhs: (&'a [T], &'a Layout),
    rhs: (&'a [T], &'a Layout),
    dst: (&'a mut [bool], &'a Layout),
}

impl<T: Copy + Send + Sync> BoolSink<T> for ToBool<'_, T> {
    fn run(self, f: impl Fn(T, T) -> bool + Sync) -> Result<()> {
        map::binary(self.op, self.lhs, self.rhs, self.dst, f)
    }
}

impl BoolSink<bool> for InPlace<'_, bool> {
    fn run(self, f: impl Fn(bool, bool) -> bool + Sync) -> Result<()> {
        map::binary_inplace(self.op, self.dst, self.rhs, f)
    }
}

/// Comparisons and logical ops.
fn compare<T: Convert>(op: BinaryOp, sink: impl BoolSink<T>) -> Result<()> {
    use BinaryOp::*;
    match op {
        Eq => sink.run(|a: T, b| a == b),
        Ne => sink.run(|a: T, b| a != b),
        Lt => sink.run(|a: T, b| a < b),
        Le => sink.run(|a: T, b| a <= b),
        Gt => sink.run(|a: T, b| a > b),
        Ge => sink.run(|a: T, b| a >= b),
        LogicalAnd => sink.run(|a: T, b| a.nonzero() && b.nonzero()),
        LogicalOr => sink.run(|a: T, b| a.nonzero() || b.nonzero()),
        LogicalXor => sink.run(|a: T, b| a.nonzero() != b.nonzero()),
        _ => Err(unsupported(op, T::DTYPE)),
    }
}

fn unsupported(op: BinaryOp, dtype: DType) -> Error {
    Error::unsupported(op.name(), dtype, "cpu")
}

/// The arithmetic kernels of one element type.
trait BinaryKernels: Native {
    fn apply(op: BinaryOp, sink: impl Sink<Self>) -> Result<()>;
}

fn float_apply<T: FloatStore>(op: BinaryOp, sink: impl Sink<T>) -> Result<()> {
    use BinaryOp::*;
    macro_rules! run {
        (|$a:ident, $b:ident| $e:expr) => {
            sink.run(
                #[inline(always)]
                |x: T, y: T| {
                    let ($a, $b) = (x.up(), y.up());
                    T::down($e)
                },
            )
        };
    }
    match op {
        Add => run!(|a, b| a + b),
        Sub => run!(|a, b| a - b),
        Mul => run!(|a, b| a * b),
        Div => run!(|a, b| a / b),
        Pow => run!(|a, b| a.powf(b)),
        // `a != a` is NaN: the first NaN wins, as torch.maximum propagates NaN.
        #[allow(clippy::eq_op)]
        Maximum => run!(|a, b| if a != a || a > b { a } else { b }),
        #[allow(clippy::eq_op)]
        Minimum => run!(|a, b| if a != a || a < b { a } else { b }),
        Atan2 => run!(|a, b| a.atan2(b)),
        // `!(b > 0)` would also stop NaN; PyTorch's threshold_backward lets it through.
        ReluBackward => run!(|a, b| if b <= Real::ZERO { Real::ZERO } else { a }),
        _ => Err(unsupported(op, T::DTYPE)),
    }
}

fn int_apply<T: Int>(op: BinaryOp, sink: impl Sink<T>) -> Result<()> {
    use BinaryOp::*;
    match op {
        Add => sink.run(|a: T, b| a.wadd(b)),
        Sub => sink.run(|a: T, b| a.wsub(b)),
        Mul => sink.run(|a: T, b| a.wmul(b)),
        Div => {
            let by_zero = AtomicBool::new(false);
            sink.run(|a: T, b| {
                a.tdiv(b).unwrap_or_else(|| {
                    by_zero.store(true, Ordering::Relaxed);
                    T::ZERO
                })
            })?;
            if by_zero.load(Ordering::Relaxed) {
                return Err(Error::invalid(
                    "div",
                    format!("integer division by zero ({})", T::DTYPE),
                ));
            }
            Ok(())
        }
        Pow => sink.run(|a: T, b: T| int_pow(a, b.i64())),
        Maximum => sink.run(|a: T, b| a.max(b)),
        Minimum => sink.run(|a: T, b| a.min(b)),
        _ => Err(unsupported(op, T::DTYPE)),
    }
}

macro_rules! kernels {
    ($f:ident: $($t:ty),*) => {$(
        impl BinaryKernels for $t {
            fn apply(op: BinaryOp, sink: impl Sink<Self>) -> Result<()> {
                $f::<$t>(op, sink)
            }
        }
    )*};
}
kernels!(float_apply: f32, f64, f16, bf16);
kernels!(int_apply: u8, i32, i64);

impl BinaryKernels for bool {
    fn apply(op: BinaryOp, sink: impl Sink<Self>) -> Result<()> {
        use BinaryOp::*;
        match op {
            Add | Maximum => sink.run(|a: bool, b| a | b),
            Mul | Minimum => sink.run(|a: bool, b| a & b),
            _ => Err(unsupported(op, DType::Bool)),
        }
    }
}

/// `dst = alpha * dst + beta * src` in one pass (`Backend::scaled_add`, an optimizer's update),
/// in the compute type (`f32`, or `f64` for `f64`) and rounded once, as the CUDA kernel. Memory
/// bound: one read of each operand and one write, where `mul_` then `add_` walk `dst` twice.
pub(crate) fn scaled_add(
    dst: ViewMut<'_, CpuStorage>,
    src: View<'_, CpuStorage>,
    alpha: f64,
    beta: f64,
) -> Result<()> {
    let op = "scaled_add";
    let dtype = dst.storage.dtype();
    check_scaled_add_dtypes(dtype, src.storage.dtype(), "cpu")?;
    float_dispatch!(dtype, op, T => {
        let (alpha, beta) = (<T as FloatStore>::C::of(alpha), <T as FloatStore>::C::of(beta));
        map::binary_inplace(
            op,
            (dst.storage.data_mut::<T>(op)?, dst.layout),
            (src.storage.data::<T>(op)?, src.layout),
            #[inline(always)]
            move |d: T, s: T| T::down(alpha * d.up() + beta * s.up()),
        )
    })
}

/// `dst = cond ? on_true : on_false`.
pub(crate) fn where_cond(
    cond: View<'_, CpuStorage>,
    on_true: View<'_, CpuStorage>,
    on_false: View<'_, CpuStorage>,
    dst: ViewMut<'_, CpuStorage>,
) -> Result<()> {
    if cond.storage.dtype() != DType::Bool {
        return Err(Error::DType {
            op: "where",
            expected: "a condition of dtype bool".into(),
            got: cond.storage.dtype(),
        });
    }
    let dtype = on_true.storage.dtype();
    if on_false.storage.dtype() != dtype {
        return Err(Error::DType {
            op: "where",
            expected: format!("on_false of dtype {dtype}"),
            got: on_false.storage.dtype(),
        });
    }
    expect_dtype("where", dst.storage.dtype(), dtype)?;
    let c = cond.storage.data::<bool>("where")?;
    dispatch!(dtype, T => map::select(
        "where",
        (c, cond.layout),
        (on_true.storage.data::<T>("where")?, on_true.layout),
        (on_false.storage.data::<T>("where")?, on_false.layout),
        (dst.storage.data_mut::<T>("where")?, dst.layout),
    ))
}
