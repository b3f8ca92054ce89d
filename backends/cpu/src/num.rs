//! Numeric traits over the element types, so that each kernel is written once.
//!
//! - [`Real`]: the two types floats compute in, `f32` and `f64` (`f16` and `bf16` compute in
//!   `f32`, as PyTorch's CPU kernels do);
//! - [`FloatStore`]: a stored float type and the [`Real`] it computes in;
//! - [`Int`]: the integer types, with PyTorch's wrapping arithmetic;
//! - [`Convert`]: conversion between any two element types with PyTorch's cast rules (float to
//!   integer truncates toward zero, anything to bool is `!= 0`).

use crate::math;
use crate::storage::Native;
use half::{bf16, f16};
use std::ops::{Add, Div, Mul, Neg, Sub};
use tiny_torch_core::f64_to_f32_round_odd;

/// `f32` or `f64`.
pub(crate) trait Real:
    Copy
    + Send
    + Sync
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + 'static
{
    const ZERO: Self;
    const ONE: Self;
    const INFINITY: Self;
    fn of(v: f64) -> Self;
    fn f64(self) -> f64;
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn ln_1p(self) -> Self;
    fn sqrt(self) -> Self;
    fn sin(self) -> Self;
    fn cos(self) -> Self;
    fn abs(self) -> Self;
    fn powf(self, e: Self) -> Self;
    fn atan2(self, x: Self) -> Self;
    fn is_nan(self) -> bool;
    /// `exp` in straight-line code that vectorizes (`f32`), or the library's (`f64`).
    fn fast_exp(self) -> Self;
    /// `tanh`, vectorizable for `f32`.
    fn fast_tanh(self) -> Self;
    /// Exact GELU `x Φ(x)`: vectorizable for `f32`, through `erf` for `f64`.
    fn gelu(self) -> Self;
}

macro_rules! real {
    ($t:ident, $fast_exp:path, $fast_tanh:path, $gelu:path) => {
        impl Real for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const INFINITY: Self = $t::INFINITY;
            #[inline(always)]
            fn of(v: f64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn exp(self) -> Self {
                $t::exp(self)
            }
            #[inline(always)]
            fn ln(self) -> Self {
                $t::ln(self)
            }
            #[inline(always)]
            fn ln_1p(self) -> Self {
                $t::ln_1p(self)
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                $t::sqrt(self)
            }
            #[inline(always)]
            fn sin(self) -> Self {
                $t::sin(self)
            }
            #[inline(always)]
            fn cos(self) -> Self {
                $t::cos(self)
            }
            #[inline(always)]
            fn abs(self) -> Self {
                $t::abs(self)
            }
            #[inline(always)]
            fn powf(self, e: Self) -> Self {
                $t::powf(self, e)
            }
            #[inline(always)]
            fn atan2(self, x: Self) -> Self {
                $t::atan2(self, x)
            }
            #[inline(always)]
            fn is_nan(self) -> bool {
                $t::is_nan(self)
            }
            #[inline(always)]
            fn fast_exp(self) -> Self {
                $fast_exp(self)
            }
            #[inline(always)]
            fn fast_tanh(self) -> Self {
                $fast_tanh(self)
            }
            #[inline(always)]
            fn gelu(self) -> Self {
                $gelu(self)
            }
        }
    };
}
real!(f32, math::exp_f32, math::tanh_f32, math::gelu_f32);
real!(f64, f64::exp, f64::tanh, gelu_f64);

/// `0.5 x (1 + erf(x / √2))` in `f64`.
fn gelu_f64(x: f64) -> f64 {
    0.5 * x * (1.0 + math::erf(x * std::f64::consts::FRAC_1_SQRT_2))
}

/// A stored float type and the type it computes in.
pub(crate) trait FloatStore: Native {
    type C: Real;
    fn up(self) -> Self::C;
    fn down(c: Self::C) -> Self;
}

impl FloatStore for f32 {
    type C = f32;
    #[inline(always)]
    fn up(self) -> f32 {
        self
    }
    #[inline(always)]
    fn down(c: f32) -> Self {
        c
    }
}

impl FloatStore for f64 {
    type C = f64;
    #[inline(always)]
    fn up(self) -> f64 {
        self
    }
    #[inline(always)]
    fn down(c: f64) -> Self {
        c
    }
}

impl FloatStore for f16 {
    type C = f32;
    #[inline(always)]
    fn up(self) -> f32 {
        self.to_f32()
    }
    #[inline(always)]
    fn down(c: f32) -> Self {
        f16::from_f32(c)
    }
}

impl FloatStore for bf16 {
    type C = f32;
    #[inline(always)]
    fn up(self) -> f32 {
        self.to_f32()
    }
    #[inline(always)]
    fn down(c: f32) -> Self {
        bf16::from_f32(c)
    }
}

/// `u8`, `i32` or `i64`, with wrapping arithmetic as in PyTorch.
pub(crate) trait Int: Native + Ord + Eq {
    const ZERO: Self;
    const ONE: Self;
    const MIN: Self;
    const MAX: Self;
    const SIGNED: bool;
    fn wadd(self, o: Self) -> Self;
    fn wsub(self, o: Self) -> Self;
    fn wmul(self, o: Self) -> Self;
    /// Division truncating toward zero; `None` for a zero divisor.
    fn tdiv(self, o: Self) -> Option<Self>;
    fn wneg(self) -> Self;
    fn wabs(self) -> Self;
    fn i64(self) -> i64;
}

macro_rules! int {
    ($t:ident, $signed:expr) => {
        impl Int for $t {
            const ZERO: Self = 0;
            const ONE: Self = 1;
            const MIN: Self = $t::MIN;
            const MAX: Self = $t::MAX;
            const SIGNED: bool = $signed;
            #[inline(always)]
            fn wadd(self, o: Self) -> Self {
                self.wrapping_add(o)
            }
            #[inline(always)]
            fn wsub(self, o: Self) -> Self {
                self.wrapping_sub(o)
            }
            #[inline(always)]
            fn wmul(self, o: Self) -> Self {
                self.wrapping_mul(o)
            }
            #[inline(always)]
            fn tdiv(self, o: Self) -> Option<Self> {
                if o == 0 {
                    None
                } else {
                    Some(self.wrapping_div(o))
                }
            }
            #[inline(always)]
            fn wneg(self) -> Self {
                self.wrapping_neg()
            }
            #[inline(always)]
            fn wabs(self) -> Self {
                #[allow(unused_comparisons)]
                if self < 0 { self.wrapping_neg() } else { self }
            }
            #[inline(always)]
            fn i64(self) -> i64 {
                self as i64
            }
        }
    };
}
int!(u8, false);
int!(i32, true);
int!(i64, true);

/// Integer power with PyTorch's rules: `e < 0` gives 1 for base 1, ±1 for base -1, else 0.
pub(crate) fn int_pow<T: Int>(base: T, e: i64) -> T {
    if e < 0 {
        return if base == T::ONE {
            T::ONE
        } else if T::SIGNED && base.i64() == -1 {
            if e % 2 == 0 { T::ONE } else { base }
        } else {
            T::ZERO
        };
    }
    let (mut result, mut b, mut e) = (T::ONE, base, e as u64);
    while e > 0 {
        if e & 1 == 1 {
            result = result.wmul(b);
        }
        b = b.wmul(b);
        e >>= 1;
    }
    result
}

/// Conversion between element types.
pub(crate) trait Convert: Native {
    const IS_FLOAT: bool;
    /// The value as `f64` (exact for all but `i64` beyond 2^53).
    fn as_f64(self) -> f64;
    /// The value as `i64` (floats truncate toward zero, saturating; bool is 0 or 1).
    fn as_i64(self) -> i64;
    fn nonzero(self) -> bool;
    /// Whether the value is a float NaN (never for integers and bool).
    fn is_nan(self) -> bool {
        Self::IS_FLOAT && self.as_f64().is_nan()
    }
    /// From a float: rounds to nearest for floats, truncates toward zero for integers (wrapping
    /// through `i64` as PyTorch does on x86), `!= 0` for bool.
    fn from_float(v: f64) -> Self;
    /// From an integer: wraps for integers, rounds for floats, `!= 0` for bool.
    fn from_int(v: i64) -> Self;
}

/// `x` converted to `U` with PyTorch's cast rules.
#[inline(always)]
pub(crate) fn cast<T: Convert, U: Convert>(x: T) -> U {
    if T::IS_FLOAT {
        U::from_float(x.as_f64())
    } else {
        U::from_int(x.as_i64())
    }
}

macro_rules! convert_int {
    ($t:ident) => {
        impl Convert for $t {
            const IS_FLOAT: bool = false;
            #[inline(always)]
            fn as_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn as_i64(self) -> i64 {
                self as i64
            }
            #[inline(always)]
            fn nonzero(self) -> bool {
                self != 0
            }
            #[inline(always)]
            fn from_float(v: f64) -> Self {
                v as i64 as $t
            }
            #[inline(always)]
            fn from_int(v: i64) -> Self {
                v as $t
            }
        }
    };
}
convert_int!(u8);
convert_int!(i32);
convert_int!(i64);

impl Convert for bool {
    const IS_FLOAT: bool = false;
    #[inline(always)]
    fn as_f64(self) -> f64 {
        self as u8 as f64
    }
    #[inline(always)]
    fn as_i64(self) -> i64 {
        self as i64
    }
    #[inline(always)]
    fn nonzero(self) -> bool {
        self
    }
    #[inline(always)]
    fn from_float(v: f64) -> Self {
        v != 0.0
    }
    #[inline(always)]
    fn from_int(v: i64) -> Self {
        v != 0
    }
}

impl Convert for f32 {
    const IS_FLOAT: bool = true;
    #[inline(always)]
    fn as_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn as_i64(self) -> i64 {
        self as i64
    }
    #[inline(always)]
    fn nonzero(self) -> bool {
        self != 0.0
    }
    #[inline(always)]
    fn from_float(v: f64) -> Self {
        v as f32
    }
    #[inline(always)]
    fn from_int(v: i64) -> Self {
        v as f32
    }
}

impl Convert for f64 {
    const IS_FLOAT: bool = true;
    #[inline(always)]
    fn as_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn as_i64(self) -> i64 {
        self as i64
    }
    #[inline(always)]
    fn nonzero(self) -> bool {
        self != 0.0
    }
    #[inline(always)]
    fn from_float(v: f64) -> Self {
        v
    }
    #[inline(always)]
    fn from_int(v: i64) -> Self {
        v as f64
    }
}

/// `i` rounded to `f64` with round-to-odd (see [`tiny_torch_core::f64_to_f32_round_odd`]).
fn i64_to_f64_odd(i: i64) -> f64 {
    let r = i as f64;
    let (ri, wide) = (r as i128, i as i128);
    if ri == wide {
        return r;
    }
    let bits = r.to_bits();
    let toward_zero = if ri.abs() > wide.abs() {
        bits - 1
    } else {
        bits
    };
    f64::from_bits(toward_zero | 1)
}

macro_rules! convert_half {
    ($t:ident) => {
        impl Convert for $t {
            const IS_FLOAT: bool = true;
            #[inline(always)]
            fn as_f64(self) -> f64 {
                self.to_f64()
            }
            #[inline(always)]
            fn as_i64(self) -> i64 {
                self.to_f32() as i64
            }
            #[inline(always)]
            fn nonzero(self) -> bool {
                self.to_f32() != 0.0
            }
            #[inline(always)]
            fn from_float(v: f64) -> Self {
                $t::from_f32(f64_to_f32_round_odd(v))
            }
            #[inline(always)]
            fn from_int(v: i64) -> Self {
                $t::from_f32(f64_to_f32_round_odd(i64_to_f64_odd(v)))
            }
        }
    };
}
convert_half!(f16);
convert_half!(bf16);

/// Runs `$body` with the type alias `$T` set to the Rust type of the float dtype `$dtype`;
/// other dtypes are `Unsupported` for `$op` (the nn kernels, which are defined for floats only).
macro_rules! float_dispatch {
    ($dtype:expr, $op:expr, $T:ident => $body:expr) => {
        match $dtype {
            tiny_torch_core::DType::F32 => {
                type $T = f32;
                $body
            }
            tiny_torch_core::DType::F64 => {
                type $T = f64;
                $body
            }
            tiny_torch_core::DType::F16 => {
                type $T = half::f16;
                $body
            }
            tiny_torch_core::DType::BF16 => {
                type $T = half::bf16;
                $body
            }
            other => Err(tiny_torch_core::Error::unsupported($op, other, "cpu")),
        }
    };
}
pub(crate) use float_dispatch;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_to_halves_round_correctly() {
        // 1 + 2^-8 + 2^-30 is just above a bf16 tie: it must round up (half's from_f64 does not).
        let v = 1.0 + 2f64.powi(-8) + 2f64.powi(-30);
        assert_eq!(
            <bf16 as Convert>::from_float(v),
            bf16::from_f32(1.0 + 2f32.powi(-7))
        );
        let tie = 1.0 + 2f64.powi(-8);
        assert_eq!(<bf16 as Convert>::from_float(tie), bf16::ONE);
        let v = 1.0 + 2f64.powi(-11) + 2f64.powi(-40);
        assert_eq!(
            <f16 as Convert>::from_float(v),
            f16::from_f32(1.0 + 2f32.powi(-10))
        );
        // 2^62 + 2^54 + 1 lies above a bf16 tie; f64 alone would round it onto the tie.
        let i = (1i64 << 62) + (1 << 54) + 1;
        assert_eq!(
            <bf16 as Convert>::from_int(i),
            bf16::from_f32(2f32.powi(62) + 2f32.powi(55))
        );
        assert_eq!(<f16 as Convert>::from_int(70_000), f16::INFINITY);
        assert_eq!(<f16 as Convert>::from_int(-3), f16::from_f32(-3.0));
        assert!(<bf16 as Convert>::from_float(f64::NAN).is_nan());
        assert_eq!(<f16 as Convert>::from_float(1e300), f16::INFINITY);
        assert_eq!(<f16 as Convert>::from_float(-1e-300), f16::from_f32(-0.0));
        assert_eq!(cast::<f32, bf16>(1.5), bf16::from_f32(1.5));
    }
}
