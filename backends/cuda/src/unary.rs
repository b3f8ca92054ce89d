//! Element-wise ops of one input ([`UnaryOp`]), out of place and in place (`kernels/unary.cu`),
//! and what every element-wise launch shares ([`Elementwise`], also used by `binary`).
//!
//! Semantics and dtype support are the CPU backend's: floats take every op (`f16`/`bf16`
//! computing in `f32`), integers the ops that stay integral (neg and abs wrap, relu, square,
//! clamp to the integers inside real bounds, integral non-negative powers), bool only
//! `logical_not`; anything else is `Error::Unsupported`. The kernels are one per dtype, the op
//! passed as a code (`UNARY_*` in unary.cu) with its scalars in [`UnaryParams`].

use crate::Cuda;
use crate::launch::{KernelLayout, dtype_suffix, elementwise_config, launch_error, merge_dims};
use crate::storage::CudaStorage;
use cudarc::driver::{DeviceRepr, LaunchConfig, PushKernelArg};
use tiny_torch_core::{
    BackendStorage, DType, Error, Layout, Result, UnaryOp, View, ViewMut, check_extent,
    check_same_dims,
};

/// How an element-wise kernel walks its operands (`PATH_*` in unary.cu and binary.cu).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AccessPath {
    /// Any layouts, by coordinates of the merged dims, [`STRIDED_UNROLL`] elements per thread
    /// per step.
    Strided = 0,
    /// Fewer than 2^31 elements in rows (merged dims 1-D, or 2-D with whole packs per row) that
    /// every input reads with stride 1 or broadcasts (stride 0) and the output writes with
    /// stride 1, every pack aligned: 16-byte loads and stores, 32-bit indices.
    Vectorized = 1,
}

/// Bytes of the kernel's dtype a thread moves per operand per step on the vectorized path
/// (`PACK_BYTES` in the kernels).
const PACK_BYTES: usize = 16;

/// Elements a thread takes per step on the strided path (`UNROLL` in the kernels).
const STRIDED_UNROLL: usize = 4;

/// Whether the vectorized path can take operands of merged `dims` and `strides` (the output
/// last) whose first elements are at device addresses `starts`, with packs of `pack_len`
/// elements (`element_sizes` bytes each per operand).
fn vectorizable(
    dims: &[usize],
    strides: &[Vec<usize>],
    starts: &[u64],
    element_sizes: &[usize],
    pack_len: usize,
) -> bool {
    let numel: usize = dims.iter().product();
    if numel > i32::MAX as usize {
        return false;
    }
    if numel == 1 {
        return true; // dims [1], strides [0]: element 0 is all there is
    }
    let cols = match *dims {
        [_] => None,
        [_, cols] => Some(cols),
        _ => return false,
    };
    // 2-D rows must hold whole packs (a 1-D row may end in a partial one).
    if cols.is_some_and(|c| !c.is_multiple_of(pack_len)) {
        return false;
    }
    let output = strides.len() - 1;
    strides.iter().enumerate().all(|(k, s)| {
        let inner = s[s.len() - 1];
        if inner == 0 && k != output {
            return true; // broadcast along the row: read one element, any alignment
        }
        let pack_bytes = (pack_len * element_sizes[k]) as u64;
        let row_stride = if s.len() == 2 { s[0] } else { 0 };
        inner == 1 && starts[k].is_multiple_of(pack_bytes) && row_stride.is_multiple_of(pack_len)
    })
}

/// One element-wise launch, prepared: operands checked, dims merged together, the access path
/// and the grid chosen.
pub(crate) struct Elementwise {
    /// The operands' layouts in the order given, all of the merged dims.
    pub layouts: Vec<KernelLayout>,
    /// `AccessPath as i32`, as the kernels take it.
    pub path: i32,
    pub numel: usize,
    pub config: LaunchConfig,
}

impl Elementwise {
    /// `operands` (inputs, then the output) must have one shape and lie inside their storages.
    /// `dtype` is the one the kernel is instantiated for: it sets the vectorized path's pack
    /// length, `PACK_BYTES / size` elements of every operand. `None`: no elements, no launch.
    pub(crate) fn new(
        cuda: &Cuda,
        op: &'static str,
        operands: &[(&CudaStorage, &Layout)],
        dtype: DType,
    ) -> Result<Option<Self>> {
        let layouts: Vec<&Layout> = operands.iter().map(|&(_, l)| l).collect();
        check_same_dims(op, &layouts)?;
        // A kernel reading past a storage would read (or write) another tensor's memory.
        for &(storage, layout) in operands {
            check_extent(op, layout, storage.len())?;
        }
        let dims = operands[0].1.dims();
        let numel = operands[0].1.numel();
        if numel == 0 {
            return Ok(None);
        }
        let strides: Vec<&[usize]> = operands.iter().map(|(_, l)| l.strides()).collect();
        let (merged_dims, merged_strides) = merge_dims(dims, &strides);
        let layouts = operands
            .iter()
            .zip(&merged_strides)
            .map(|((_, l), s)| KernelLayout::new(op, &merged_dims, s, l.offset()))
            .collect::<Result<Vec<_>>>()?;

        let pack_len = PACK_BYTES / dtype.size_in_bytes();
        // Storages start on allocator blocks (aligned far beyond 16 bytes), but an offset view
        // may start anywhere.
        let starts: Vec<u64> = operands
            .iter()
            .map(|(st, l)| st.ptr_at(l.offset()))
            .collect();
        let element_sizes: Vec<usize> = operands
            .iter()
            .map(|(st, _)| st.dtype().size_in_bytes())
            .collect();
        let device = cuda.device();
        let (path, config) = if vectorizable(
            &merged_dims,
            &merged_strides,
            &starts,
            &element_sizes,
            pack_len,
        ) {
            (
                AccessPath::Vectorized,
                elementwise_config(device, numel.div_ceil(pack_len)),
            )
        } else if numel <= i32::MAX as usize {
            (
                AccessPath::Strided,
                elementwise_config(device, numel.div_ceil(STRIDED_UNROLL)),
            )
        } else {
            // Beyond 2^31 elements the strided path takes one element per thread per step.
            (AccessPath::Strided, elementwise_config(device, numel))
        };
        Ok(Some(Elementwise {
            layouts,
            path: path as i32,
            numel,
            config,
        }))
    }
}

/// `struct UnaryParams` of unary.cu: the op's scalars. Floats read `real`, integers `integer`
/// (an `i64` clamp bound does not fit an `f64` exactly).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct UnaryParams {
    real: [f64; 2],
    integer: [i64; 2],
}

// SAFETY: a plain `repr(C)` struct of numbers, the same layout as unary.cu's `UnaryParams`.
unsafe impl DeviceRepr for UnaryParams {}

/// Op codes of `unary_<dtype>` (`UNARY_*` in unary.cu).
mod code {
    pub const NEG: i32 = 0;
    pub const ABS: i32 = 1;
    pub const EXP: i32 = 2;
    pub const LOG: i32 = 3;
    pub const SQRT: i32 = 4;
    pub const RSQRT: i32 = 5;
    pub const SIN: i32 = 6;
    pub const COS: i32 = 7;
    pub const TANH: i32 = 8;
    pub const SIGMOID: i32 = 9;
    pub const RELU: i32 = 10;
    pub const GELU: i32 = 11;
    pub const GELU_TANH: i32 = 12;
    pub const SILU: i32 = 13;
    pub const SOFTPLUS: i32 = 14;
    pub const LEAKY_RELU: i32 = 15;
    pub const SQUARE: i32 = 16;
    pub const POW: i32 = 17;
    pub const CLAMP: i32 = 18;
}

/// The op code and scalars `unary_<dtype>` takes for `op` on `dtype`, or the error the CPU
/// backend returns for that combination. `logical_not` has kernels of its own.
fn unary_op_code(op: UnaryOp, dtype: DType) -> Result<(i32, UnaryParams)> {
    use UnaryOp::*;
    let unsupported = || Error::unsupported(op.name(), dtype, "cuda");
    let mut params = UnaryParams::default();
    if dtype.is_float() {
        let code = match op {
            Neg => code::NEG,
            Abs => code::ABS,
            Exp => code::EXP,
            Log => code::LOG,
            Sqrt => code::SQRT,
            Rsqrt => code::RSQRT,
            Sin => code::SIN,
            Cos => code::COS,
            Tanh => code::TANH,
            Sigmoid => code::SIGMOID,
            Relu => code::RELU,
            Gelu => code::GELU,
            GeluTanh => code::GELU_TANH,
            Silu => code::SILU,
            Softplus => code::SOFTPLUS,
            LeakyRelu(slope) => {
                params.real[0] = slope;
                code::LEAKY_RELU
            }
            Square => code::SQUARE,
            PowScalar(exponent) => {
                params.real[0] = exponent;
                code::POW
            }
            Clamp { min, max } => {
                // An absent bound clamps nothing, as an infinite one (NaN bounds stay NaN).
                params.real = [
                    min.unwrap_or(f64::NEG_INFINITY),
                    max.unwrap_or(f64::INFINITY),
                ];
                code::CLAMP
            }
            LogicalNot => return Err(unsupported()),
        };
        return Ok((code, params));
    }
    let (type_min, type_max) = match dtype {
        DType::U8 => (u8::MIN as i64, u8::MAX as i64),
        DType::I32 => (i32::MIN as i64, i32::MAX as i64),
        DType::I64 => (i64::MIN, i64::MAX),
        _ => return Err(unsupported()), // bool: only logical_not
    };
    let code = match op {
        Neg => code::NEG,
        Abs => code::ABS,
        Relu => code::RELU,
        Square => code::SQUARE,
        PowScalar(exponent) => {
            if exponent.fract() != 0.0 || !exponent.is_finite() {
                return Err(unsupported());
            }
            if exponent < 0.0 {
                return Err(Error::invalid(
                    "pow",
                    "Integers to negative integer powers are not allowed.",
                ));
            }
            params.integer[0] = exponent as i64;
            code::POW
        }
        Clamp { min, max } => {
            if min.is_some_and(f64::is_nan) || max.is_some_and(f64::is_nan) {
                return Err(Error::invalid("clamp", "a clamp bound is NaN"));
            }
            // Clamping integers to real bounds: to the integers inside them, saturated to the
            // dtype's range (`as i64` saturates i64's upper end, 2^63 as an f64).
            let (lo, hi) = (type_min as f64, type_max as f64);
            let to_int = |v: f64| v.clamp(lo, hi) as i64;
            params.integer = [
                min.map_or(type_min, |m| to_int(m.ceil())),
                max.map_or(type_max, |m| to_int(m.floor())),
            ];
            code::CLAMP
        }
        _ => return Err(unsupported()),
    };
    Ok((code, params))
}

/// `dst = op(src)`.
pub(crate) fn unary(
    cuda: &Cuda,
    op: UnaryOp,
    src: View<'_, CudaStorage>,
    dst: ViewMut<'_, CudaStorage>,
) -> Result<()> {
    let dtype = src.storage.dtype();
    let name = op.name();
    let dst_storage: &CudaStorage = dst.storage;
    op.check_dtypes(dtype, dst_storage.dtype())?;
    if op == UnaryOp::LogicalNot {
        return launch_logical_not(cuda, (src.storage, src.layout), (dst_storage, dst.layout));
    }
    let (code, params) = unary_op_code(op, dtype)?;
    launch_unary(
        cuda,
        name,
        code,
        params,
        (src.storage, src.layout),
        (dst_storage, dst.layout),
    )
}

/// `dst = op(dst)`: the kernel reads and writes the same elements.
pub(crate) fn unary_inplace(cuda: &Cuda, op: UnaryOp, dst: ViewMut<'_, CudaStorage>) -> Result<()> {
    let dtype = dst.storage.dtype();
    let name = op.name();
    let storage: &CudaStorage = dst.storage;
    // In place, the result must fit the destination: logical not only on bool.
    op.check_dtypes(dtype, dtype)?;
    if op == UnaryOp::LogicalNot {
        return launch_logical_not(cuda, (storage, dst.layout), (storage, dst.layout));
    }
    let (code, params) = unary_op_code(op, dtype)?;
    launch_unary(
        cuda,
        name,
        code,
        params,
        (storage, dst.layout),
        (storage, dst.layout),
    )
}

/// Launches `unary_<dtype>`; `dst` has `src`'s dtype and may be `src` itself.
fn launch_unary(
    cuda: &Cuda,
    op: &'static str,
    code: i32,
    params: UnaryParams,
    src: (&CudaStorage, &Layout),
    dst: (&CudaStorage, &Layout),
) -> Result<()> {
    let dtype = src.0.dtype();
    let Some(launch) = Elementwise::new(cuda, op, &[src, dst], dtype)? else {
        return Ok(());
    };
    let device = cuda.device();
    let name = format!("unary_{}", dtype_suffix(dtype));
    let func = device.function("unary", &name)?;
    let (src_ptr, dst_ptr, n) = (src.0.ptr(), dst.0.ptr(), launch.numel as i64);
    let mut args = device.stream.launch_builder(&func);
    args.arg(&src_ptr)
        .arg(&launch.layouts[0])
        .arg(&dst_ptr)
        .arg(&launch.layouts[1])
        .arg(&n)
        .arg(&launch.path)
        .arg(&code)
        .arg(&params);
    // SAFETY: the arguments match `unary_*` in unary.cu (const T*, Layout, T*, Layout, i64 n,
    // i32 path, i32 op, UnaryParams); both layouts were checked to lie inside their storages.
    unsafe { args.launch(launch.config) }.map_err(|e| launch_error(&name, e))?;
    Ok(())
}

/// Launches `logical_not_<dtype>` of `src`'s dtype; `dst` is bool (and may be `src` itself).
fn launch_logical_not(
    cuda: &Cuda,
    src: (&CudaStorage, &Layout),
    dst: (&CudaStorage, &Layout),
) -> Result<()> {
    let dtype = src.0.dtype();
    let Some(launch) = Elementwise::new(cuda, "logical_not", &[src, dst], dtype)? else {
        return Ok(());
    };
    let device = cuda.device();
    let name = format!("logical_not_{}", dtype_suffix(dtype));
    let func = device.function("unary", &name)?;
    let (src_ptr, dst_ptr, n) = (src.0.ptr(), dst.0.ptr(), launch.numel as i64);
    let mut args = device.stream.launch_builder(&func);
    args.arg(&src_ptr)
        .arg(&launch.layouts[0])
        .arg(&dst_ptr)
        .arg(&launch.layouts[1])
        .arg(&n)
        .arg(&launch.path);
    // SAFETY: the arguments match `logical_not_*` in unary.cu (const T*, Layout, bool*, Layout,
    // i64 n, i32 path); both layouts were checked to lie inside their storages.
    unsafe { args.launch(launch.config) }.map_err(|e| launch_error(&name, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_codes_follow_the_cpu_dtype_table() {
        assert!(unary_op_code(UnaryOp::Exp, DType::BF16).is_ok());
        assert!(unary_op_code(UnaryOp::LeakyRelu(0.1), DType::F64).is_ok());
        assert!(matches!(
            unary_op_code(UnaryOp::Exp, DType::I32),
            Err(Error::Unsupported { .. })
        ));
        assert!(matches!(
            unary_op_code(UnaryOp::LeakyRelu(0.1), DType::I64),
            Err(Error::Unsupported { .. })
        ));
        assert!(matches!(
            unary_op_code(UnaryOp::Neg, DType::Bool),
            Err(Error::Unsupported { .. })
        ));
        assert!(matches!(
            unary_op_code(UnaryOp::PowScalar(0.5), DType::I64),
            Err(Error::Unsupported { .. })
        ));
        assert!(matches!(
            unary_op_code(UnaryOp::PowScalar(-2.0), DType::I32),
            Err(Error::InvalidArgument { .. })
        ));
        let (code, params) = unary_op_code(UnaryOp::PowScalar(3.0), DType::U8).unwrap();
        assert_eq!((code, params.integer[0]), (code::POW, 3));
    }

    #[test]
    fn vectorized_path_takes_rows_of_aligned_packs() {
        // f32 packs of 4; operands (input, output) at aligned addresses unless stated.
        let ok = |dims: &[usize], strides: &[&[usize]], starts: &[u64]| {
            let strides: Vec<Vec<usize>> = strides.iter().map(|s| s.to_vec()).collect();
            vectorizable(dims, &strides, starts, &vec![4; starts.len()], 4)
        };
        assert!(ok(&[10], &[&[1], &[1]], &[256, 512]));
        assert!(!ok(&[10], &[&[1], &[1]], &[260, 512]), "misaligned input");
        assert!(
            ok(&[10], &[&[0], &[1]], &[260, 512]),
            "a broadcast input may be anywhere"
        );
        assert!(!ok(&[10], &[&[1], &[0]], &[256, 512]), "a broadcast output");
        assert!(!ok(&[10], &[&[2], &[1]], &[256, 512]), "a stepped input");
        // Bias add [3, 8] + [8]: rows of two packs.
        assert!(ok(&[3, 8], &[&[8, 1], &[0, 1], &[8, 1]], &[0, 0, 0]));
        assert!(
            !ok(&[3, 6], &[&[6, 1], &[0, 1], &[6, 1]], &[0, 0, 0]),
            "partial packs"
        );
        assert!(
            !ok(&[3, 8], &[&[10, 1], &[8, 1]], &[0, 0]),
            "rows 10 apart break packs"
        );
        // Per-row statistic [3, 8] - [3, 1].
        assert!(ok(&[3, 8], &[&[8, 1], &[1, 0], &[8, 1]], &[0, 4, 0]));
        assert!(!ok(&[2, 3, 8], &[&[48, 8, 1], &[48, 8, 1]], &[0, 0]), "3-D");
        assert!(ok(&[1], &[&[0], &[0]], &[3, 5]), "one element");
    }

    #[test]
    fn integer_clamp_bounds_are_the_integers_inside() {
        let clamp = |min, max, dtype| unary_op_code(UnaryOp::Clamp { min, max }, dtype);
        let (_, p) = clamp(Some(-0.5), Some(4.7), DType::I32).unwrap();
        assert_eq!(p.integer, [0, 4]);
        let (_, p) = clamp(None, Some(1e300), DType::I64).unwrap();
        assert_eq!(p.integer, [i64::MIN, i64::MAX]);
        let (_, p) = clamp(Some(-3.0), Some(300.0), DType::U8).unwrap();
        assert_eq!(p.integer, [0, 255]);
        assert!(matches!(
            clamp(Some(f64::NAN), None, DType::U8),
            Err(Error::InvalidArgument { .. })
        ));
        let (_, p) = clamp(None, Some(0.5), DType::F32).unwrap();
        assert_eq!(p.real, [f64::NEG_INFINITY, 0.5]);
    }
}
