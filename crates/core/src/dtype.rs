//! Element types, host-side element conversion, and PyTorch's type promotion.

use crate::{Error, Result};
use half::{bf16, f16};
use std::fmt;

/// The element type of a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    Bool,
    U8,
    I32,
    I64,
    F16,
    BF16,
    F32,
    F64,
}

impl DType {
    pub const ALL: [DType; 8] = [
        DType::Bool,
        DType::U8,
        DType::I32,
        DType::I64,
        DType::F16,
        DType::BF16,
        DType::F32,
        DType::F64,
    ];

    /// Bytes per element (`bool` is stored as one byte holding 0 or 1).
    pub fn size_in_bytes(self) -> usize {
        match self {
            DType::Bool | DType::U8 => 1,
            DType::F16 | DType::BF16 => 2,
            DType::I32 | DType::F32 => 4,
            DType::I64 | DType::F64 => 8,
        }
    }

    pub fn is_float(self) -> bool {
        matches!(self, DType::F16 | DType::BF16 | DType::F32 | DType::F64)
    }

    pub fn is_int(self) -> bool {
        matches!(self, DType::U8 | DType::I32 | DType::I64)
    }

    /// PyTorch's name, as printed in `dtype=torch.float32`.
    pub fn torch_name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::U8 => "uint8",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::F16 => "float16",
            DType::BF16 => "bfloat16",
            DType::F32 => "float32",
            DType::F64 => "float64",
        }
    }

    /// The safetensors / NumPy-style short name (`F32`, `I64`, `BOOL`, ...).
    pub fn short_name(self) -> &'static str {
        match self {
            DType::Bool => "BOOL",
            DType::U8 => "U8",
            DType::I32 => "I32",
            DType::I64 => "I64",
            DType::F16 => "F16",
            DType::BF16 => "BF16",
            DType::F32 => "F32",
            DType::F64 => "F64",
        }
    }

    fn category(self) -> u8 {
        match self {
            DType::Bool => 0,
            DType::U8 | DType::I32 | DType::I64 => 1,
            _ => 2,
        }
    }

    /// `torch.promote_types`: the smallest dtype to which both can be converted without losing
    /// their category (bool < integer < floating point).
    pub fn promote(self, other: DType) -> DType {
        use DType::*;
        if self == other {
            return self;
        }
        match (self.category(), other.category()) {
            (a, b) if a > b => self,
            (a, b) if a < b => other,
            // Same category, different types.
            (1, _) => self.max(other), // u8 < i32 < i64, all representable upward
            _ => match (self, other) {
                (F16, BF16) | (BF16, F16) => F32,
                _ => self.max(other), // f16/bf16 < f32 < f64
            },
        }
    }

    /// The float dtype an integer or bool input becomes for ops such as `exp` or true division
    /// (PyTorch's default dtype, float32); float dtypes are kept.
    pub fn to_float(self) -> DType {
        if self.is_float() { self } else { DType::F32 }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.torch_name())
    }
}

/// A Rust type that can be the element of a tensor.
pub trait Element: Copy + Send + Sync + PartialOrd + fmt::Debug + 'static {
    const DTYPE: DType;
    fn to_f64(self) -> f64;
    fn from_f64(v: f64) -> Self;
    /// Little-endian bytes of `data`, in the format the `Backend` byte copies use.
    fn to_bytes(data: &[Self]) -> Vec<u8>;
    /// Decodes little-endian bytes; `bytes.len()` must be a multiple of the element size.
    fn from_bytes(bytes: &[u8]) -> Vec<Self>;
}

macro_rules! pod_element {
    ($t:ty, $dtype:expr, $to:expr, $from:expr) => {
        impl Element for $t {
            const DTYPE: DType = $dtype;
            fn to_f64(self) -> f64 {
                $to(self)
            }
            fn from_f64(v: f64) -> Self {
                $from(v)
            }
            fn to_bytes(data: &[Self]) -> Vec<u8> {
                bytemuck::cast_slice(data).to_vec()
            }
            fn from_bytes(bytes: &[u8]) -> Vec<Self> {
                bytemuck::pod_collect_to_vec(bytes)
            }
        }
    };
}

pod_element!(f32, DType::F32, |v: f32| v as f64, |v: f64| v as f32);
pod_element!(f64, DType::F64, |v: f64| v, |v: f64| v);
pod_element!(f16, DType::F16, |v: f16| v.to_f64(), |v| f16::from_f32(
    f64_to_f32_round_odd(v)
));
pod_element!(bf16, DType::BF16, |v: bf16| v.to_f64(), |v| bf16::from_f32(
    f64_to_f32_round_odd(v)
));

/// `v` rounded to `f32` with round-to-odd: a second rounding to a float of at most 22 significant
/// bits (`f16`, `bf16`) then gives exactly the correctly rounded result, which converting through
/// a plain `f32` (double rounding) or `half`'s `from_f64` (it drops the low mantissa bits before
/// rounding) can miss on values just above a tie.
pub fn f64_to_f32_round_odd(v: f64) -> f32 {
    let r = v as f32;
    if !r.is_finite() || r as f64 == v {
        return r;
    }
    let bits = r.to_bits();
    let toward_zero = if (r as f64).abs() > v.abs() {
        bits - 1
    } else {
        bits
    };
    f32::from_bits(toward_zero | 1)
}
pod_element!(i64, DType::I64, |v: i64| v as f64, |v: f64| v as i64);
pod_element!(i32, DType::I32, |v: i32| v as f64, |v: f64| v as i32);
pod_element!(u8, DType::U8, |v: u8| v as f64, |v: f64| v as u8);

impl Element for bool {
    const DTYPE: DType = DType::Bool;
    fn to_f64(self) -> f64 {
        self as u8 as f64
    }
    fn from_f64(v: f64) -> Self {
        v != 0.0
    }
    fn to_bytes(data: &[Self]) -> Vec<u8> {
        data.iter().map(|&b| b as u8).collect()
    }
    fn from_bytes(bytes: &[u8]) -> Vec<Self> {
        bytes.iter().map(|&b| b != 0).collect()
    }
}

/// A host scalar, as in `x + 2.5` or `full(&[2], 7)`: its kind takes part in type promotion as a
/// Python number does in PyTorch (an int tensor plus a float scalar gives a float tensor).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scalar {
    Bool(bool),
    Int(i64),
    Float(f64),
}

impl Scalar {
    pub fn to_f64(self) -> f64 {
        match self {
            Scalar::Bool(b) => b as u8 as f64,
            Scalar::Int(i) => i as f64,
            Scalar::Float(f) => f,
        }
    }

    pub fn to_i64(self) -> i64 {
        match self {
            Scalar::Bool(b) => b as i64,
            Scalar::Int(i) => i,
            Scalar::Float(f) => f as i64,
        }
    }

    /// PyTorch's `checked_convert` for a value stored as is (`torch.full`, `masked_fill`):
    /// converting to `dtype` must keep the value in the dtype's range. Floats may hold
    /// infinities and NaN; integers take neither; an unsigned dtype takes small negative
    /// integers as two's complement (`-1` in `uint8` is 255), as in PyTorch. (Arithmetic with
    /// a scalar wraps instead: `uint8 + 300` is `uint8 + 44`.)
    pub fn check_fits(self, op: &'static str, dtype: DType) -> Result<()> {
        let fits = match (self, dtype) {
            (Scalar::Bool(_), _) | (_, DType::Bool) => true,
            (Scalar::Int(i), _) if !dtype.is_float() => {
                let (lowest, max) = integer_range(dtype);
                let lowest = if dtype == DType::U8 { -max } else { lowest };
                (lowest..=max).contains(&(i as i128))
            }
            (Scalar::Float(f), _) if !dtype.is_float() => {
                let (lowest, max) = integer_range(dtype);
                // PyTorch's bounds: below the lowest value is out, and so is anything that
                // truncates past the largest (255.9 fits uint8, -0.5 does not). (`max + 1` is
                // exact for uint8 and int32, and 2^63 for int64.)
                f.is_finite() && f >= lowest as f64 && f < max as f64 + 1.0
            }
            (value, _) => {
                let v = value.to_f64();
                let max = match dtype {
                    DType::F16 => f64::from(f16::MAX),
                    DType::BF16 => f64::from(bf16::MAX),
                    DType::F32 => f64::from(f32::MAX),
                    _ => f64::MAX,
                };
                !v.is_finite() || v.abs() <= max
            }
        };
        if fits {
            return Ok(());
        }
        let shown = match self {
            Scalar::Bool(b) => b.to_string(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
        };
        Err(Error::invalid(
            op,
            format!("value {shown} cannot be converted to type {dtype} without overflow"),
        ))
    }

    /// The dtype a tensor made from this scalar alone gets (`torch.tensor(2.5)` is float32).
    pub fn default_dtype(self) -> DType {
        match self {
            Scalar::Bool(_) => DType::Bool,
            Scalar::Int(_) => DType::I64,
            Scalar::Float(_) => DType::F32,
        }
    }
}

/// The smallest and largest values of an integer dtype.
fn integer_range(dtype: DType) -> (i128, i128) {
    match dtype {
        DType::U8 => (0, u8::MAX.into()),
        DType::I32 => (i32::MIN.into(), i32::MAX.into()),
        _ => (i64::MIN.into(), i64::MAX.into()),
    }
}

macro_rules! scalar_from {
    ($($t:ty => $variant:ident as $as:ty),*) => {$(
        impl From<$t> for Scalar {
            fn from(v: $t) -> Self {
                Scalar::$variant(v as $as)
            }
        }
    )*};
}
scalar_from!(f64 => Float as f64, f32 => Float as f64, i64 => Int as i64, i32 => Int as i64,
    u8 => Int as i64, usize => Int as i64);

impl From<bool> for Scalar {
    fn from(v: bool) -> Self {
        Scalar::Bool(v)
    }
}

/// One operand of an op, as PyTorch's `result_type` sees it: tensors with dimensions outrank
/// zero-dimensional tensors, which outrank Python scalars, unless a lower rank brings a higher
/// category (an int tensor times a float scalar is float).
#[derive(Clone, Copy, Debug)]
pub enum Operand {
    Tensor { dtype: DType, ndim: usize },
    Scalar(Scalar),
}

/// `torch.result_type` over any number of operands.
pub fn result_type(operands: &[Operand]) -> DType {
    let mut dim_result: Option<DType> = None;
    let mut zero_dim_result: Option<DType> = None;
    let mut scalar_result: Option<DType> = None;
    let join = |acc: &mut Option<DType>, d: DType| {
        *acc = Some(acc.map_or(d, |a| a.promote(d)));
    };
    for op in operands {
        match *op {
            Operand::Tensor { dtype, ndim: 0 } => join(&mut zero_dim_result, dtype),
            Operand::Tensor { dtype, .. } => join(&mut dim_result, dtype),
            Operand::Scalar(s) => join(&mut scalar_result, s.default_dtype()),
        }
    }
    let lower = combine_categories(zero_dim_result, scalar_result);
    combine_categories(dim_result, lower).unwrap_or(DType::F32)
}

/// PyTorch's `combine_categories`: the higher-priority result wins unless the lower one is of a
/// higher category, in which case they are promoted.
fn combine_categories(higher: Option<DType>, lower: Option<DType>) -> Option<DType> {
    match (higher, lower) {
        (None, l) => l,
        (h, None) => h,
        (Some(h), Some(l)) => {
            if h.is_float() {
                Some(h)
            } else if h == DType::Bool || l.is_float() {
                Some(h.promote(l))
            } else {
                Some(h)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DType::*;

    #[test]
    fn promotion_follows_torch_promote_types() {
        assert_eq!(U8.promote(I32), I32);
        assert_eq!(I64.promote(F16), F16);
        assert_eq!(F16.promote(BF16), F32);
        assert_eq!(F32.promote(F64), F64);
        assert_eq!(Bool.promote(U8), U8);
        assert_eq!(BF16.promote(I64), BF16);
    }

    #[test]
    fn half_conversions_round_correctly_just_above_a_tie() {
        // 1 + 2^-11 is the tie between 1 and the next f16; anything above it rounds up.
        let above_tie = 1.0 + 2f64.powi(-11) + 2f64.powi(-40);
        assert_eq!(
            f16::from_f64_elem(above_tie),
            f16::from_f32(1.0 + 2f32.powi(-10))
        );
        assert_eq!(f16::from_f64_elem(1.0 + 2f64.powi(-11)), f16::ONE); // the tie itself: to even
        let above_bf16_tie = 1.0 + 2f64.powi(-8) + 2f64.powi(-30);
        assert_eq!(
            bf16::from_f64_elem(above_bf16_tie),
            bf16::from_f32(1.0 + 2f32.powi(-7))
        );
        assert!(f16::from_f64_elem(f64::NAN).is_nan());
        assert_eq!(f16::from_f64_elem(1e300), f16::INFINITY);
    }

    /// `Element::from_f64` by another name, so the test reads unambiguously next to `half`'s own.
    trait FromF64Elem: Element {
        fn from_f64_elem(v: f64) -> Self {
            <Self as Element>::from_f64(v)
        }
    }
    impl<T: Element> FromF64Elem for T {}

    #[test]
    fn result_type_ranks_scalars_below_tensors() {
        let t = |dtype, ndim| Operand::Tensor { dtype, ndim };
        assert_eq!(
            result_type(&[t(F16, 2), Operand::Scalar(Scalar::Float(2.5))]),
            F16
        );
        assert_eq!(
            result_type(&[t(I32, 2), Operand::Scalar(Scalar::Float(2.5))]),
            F32
        );
        assert_eq!(
            result_type(&[t(I32, 2), Operand::Scalar(Scalar::Int(3))]),
            I32
        );
        assert_eq!(result_type(&[t(F16, 1), t(F64, 0)]), F16);
        assert_eq!(result_type(&[t(I64, 1), t(F64, 0)]), F64);
        assert_eq!(
            result_type(&[t(Bool, 1), Operand::Scalar(Scalar::Int(1))]),
            I64
        );
    }
}
