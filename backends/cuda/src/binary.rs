//! Element-wise ops of two inputs ([`BinaryOp`]), out of place and in place, and `where`
//! (`kernels/binary.cu`).
//!
//! Semantics and dtype support are the CPU backend's: integer arithmetic wraps, integer division
//! truncates toward zero, `pow` of integers follows `torch.pow`, `maximum`/`minimum` propagate
//! NaN, `add`/`mul`/`maximum`/`minimum` of bools are or/and/or/and, comparisons and logical ops
//! return bool for every dtype. Bool has no `sub`, `div`, `pow` or `atan2`; integers have no
//! `atan2`. One difference, forced by asynchrony: an integer division by zero is not an error
//! of the call itself; the kernel flags it on the device (and writes 0), and the next
//! synchronizing call (`synchronize`, `to_bytes`) returns the error.

use crate::Cuda;
use crate::launch::{dtype_suffix, launch_error};
use crate::storage::CudaStorage;
use crate::unary::Elementwise;
use cudarc::driver::PushKernelArg;
use tiny_torch_core::{
    BackendStorage, BinaryOp, DType, Error, Layout, Result, View, ViewMut, check_scaled_add_dtypes,
    check_where_dtypes,
};

/// Op codes of `binary_<dtype>` (`BINARY_*` in binary.cu).
mod arithmetic {
    pub const ADD: i32 = 0;
    pub const SUB: i32 = 1;
    pub const MUL: i32 = 2;
    pub const DIV: i32 = 3;
    pub const POW: i32 = 4;
    pub const MAXIMUM: i32 = 5;
    pub const MINIMUM: i32 = 6;
    pub const ATAN2: i32 = 7;
    pub const RELU_BACKWARD: i32 = 8;
}

/// Op codes of `compare_<dtype>` (`COMPARE_*` in binary.cu).
mod compare {
    pub const EQ: i32 = 0;
    pub const NE: i32 = 1;
    pub const LT: i32 = 2;
    pub const LE: i32 = 3;
    pub const GT: i32 = 4;
    pub const GE: i32 = 5;
    pub const AND: i32 = 6;
    pub const OR: i32 = 7;
    pub const XOR: i32 = 8;
}

/// The kernel (and op code or scalars) that computes a binary op on `[lhs, rhs, dst]`.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kernel {
    /// `binary_<dtype>`: output of the inputs' dtype.
    Arithmetic(i32),
    /// `compare_<dtype>`: comparisons and logical ops, output bool.
    Compare(i32),
    /// `scaled_add_<dtype>`: `dst = alpha * lhs + beta * rhs` (lhs is dst), float dtypes.
    ScaledAdd { alpha: f64, beta: f64 },
}

/// The kernel for `op` on inputs of `dtype`, or the CPU backend's error for that combination.
fn kernel_for(op: BinaryOp, dtype: DType) -> Result<Kernel> {
    use BinaryOp::*;
    let code = match (op, dtype) {
        // Every dtype compares (logical ops read `!= 0`).
        (Eq, _) => return Ok(Kernel::Compare(compare::EQ)),
        (Ne, _) => return Ok(Kernel::Compare(compare::NE)),
        (Lt, _) => return Ok(Kernel::Compare(compare::LT)),
        (Le, _) => return Ok(Kernel::Compare(compare::LE)),
        (Gt, _) => return Ok(Kernel::Compare(compare::GT)),
        (Ge, _) => return Ok(Kernel::Compare(compare::GE)),
        (LogicalAnd, _) => return Ok(Kernel::Compare(compare::AND)),
        (LogicalOr, _) => return Ok(Kernel::Compare(compare::OR)),
        (LogicalXor, _) => return Ok(Kernel::Compare(compare::XOR)),
        // Bool: or, and, or, and.
        (Add, _) => arithmetic::ADD,
        (Mul, _) => arithmetic::MUL,
        (Maximum, _) => arithmetic::MAXIMUM,
        (Minimum, _) => arithmetic::MINIMUM,
        (Sub, d) if d != DType::Bool => arithmetic::SUB,
        (Div, d) if d != DType::Bool => arithmetic::DIV,
        (Pow, d) if d != DType::Bool => arithmetic::POW,
        (Atan2, d) if d.is_float() => arithmetic::ATAN2,
        (ReluBackward, d) if d.is_float() => arithmetic::RELU_BACKWARD,
        _ => return Err(Error::unsupported(op.name(), dtype, "cuda")),
    };
    Ok(Kernel::Arithmetic(code))
}

/// `dst = op(lhs, rhs)`.
pub(crate) fn binary(
    cuda: &Cuda,
    op: BinaryOp,
    lhs: View<'_, CudaStorage>,
    rhs: View<'_, CudaStorage>,
    dst: ViewMut<'_, CudaStorage>,
) -> Result<()> {
    let dtype = lhs.storage.dtype();
    let name = op.name();
    let dst_storage: &CudaStorage = dst.storage;
    op.check_dtypes(dtype, rhs.storage.dtype(), dst_storage.dtype())?;
    let operands = [
        (lhs.storage, lhs.layout),
        (rhs.storage, rhs.layout),
        (dst_storage, dst.layout),
    ];
    launch_binary(cuda, name, kernel_for(op, dtype)?, &operands)
}

/// `dst = op(dst, rhs)`: the kernel reads and writes the same elements of `dst`.
pub(crate) fn binary_inplace(
    cuda: &Cuda,
    op: BinaryOp,
    dst: ViewMut<'_, CudaStorage>,
    rhs: View<'_, CudaStorage>,
) -> Result<()> {
    let dtype = dst.storage.dtype();
    let name = op.name();
    // In place, a bool result needs a bool destination (and so bool inputs).
    op.check_dtypes(dtype, rhs.storage.dtype(), dtype)?;
    let dst_storage: &CudaStorage = dst.storage;
    let operands = [
        (dst_storage, dst.layout),
        (rhs.storage, rhs.layout),
        (dst_storage, dst.layout),
    ];
    launch_binary(cuda, name, kernel_for(op, dtype)?, &operands)
}

/// `dst = alpha * dst + beta * src` in one launch (`scaled_add_<dtype>` in binary.cu, float
/// dtypes): an optimizer's update, which the trait's default would spread over five launches.
pub(crate) fn scaled_add(
    cuda: &Cuda,
    dst: ViewMut<'_, CudaStorage>,
    src: View<'_, CudaStorage>,
    alpha: f64,
    beta: f64,
) -> Result<()> {
    check_scaled_add_dtypes(dst.storage.dtype(), src.storage.dtype(), "cuda")?;
    let dst_storage: &CudaStorage = dst.storage;
    let operands = [
        (dst_storage, dst.layout),
        (src.storage, src.layout),
        (dst_storage, dst.layout),
    ];
    launch_binary(
        cuda,
        "scaled_add",
        Kernel::ScaledAdd { alpha, beta },
        &operands,
    )
}

/// Launches `kernel` of the inputs' dtype on `[lhs, rhs, dst]`.
fn launch_binary(
    cuda: &Cuda,
    op: &'static str,
    kernel: Kernel,
    operands: &[(&CudaStorage, &Layout); 3],
) -> Result<()> {
    let [lhs, rhs, dst] = *operands;
    let dtype = lhs.0.dtype();
    let Some(launch) = Elementwise::new(cuda, op, operands, dtype)? else {
        return Ok(());
    };
    let device = cuda.device();
    let family = match kernel {
        Kernel::Arithmetic(_) => "binary",
        Kernel::Compare(_) => "compare",
        Kernel::ScaledAdd { .. } => "scaled_add",
    };
    let name = format!("{family}_{}", dtype_suffix(dtype));
    let func = device.function("binary", &name)?;
    let (lhs_ptr, rhs_ptr, dst_ptr) = (lhs.0.ptr(), rhs.0.ptr(), dst.0.ptr());
    let n = launch.numel as i64;
    // Where integer division by zero is flagged (only `binary_*` takes it).
    let error_flags = device.error_flags();
    let mut args = device.stream.launch_builder(&func);
    args.arg(&lhs_ptr)
        .arg(&launch.layouts[0])
        .arg(&rhs_ptr)
        .arg(&launch.layouts[1])
        .arg(&dst_ptr)
        .arg(&launch.layouts[2])
        .arg(&n)
        .arg(&launch.path);
    match &kernel {
        Kernel::Arithmetic(code) => args.arg(code).arg(&error_flags),
        Kernel::Compare(code) => args.arg(code),
        Kernel::ScaledAdd { alpha, beta } => args.arg(alpha).arg(beta),
    };
    // SAFETY: the arguments match `binary_*` (const T*, Layout, const T*, Layout, T*, Layout,
    // i64 n, i32 path, i32 op, u32* error_flags), `compare_*` (the same with a bool* output and
    // no error flags) and `scaled_add_*` (the same as `binary_*` up to `path`, then double
    // alpha, double beta) in binary.cu; every layout was checked to lie inside its storage,
    // and element-wise kernels may read and write the same elements (in place).
    unsafe { args.launch(launch.config) }.map_err(|e| launch_error(&name, e))?;
    Ok(())
}

/// `dst = cond ? on_true : on_false`.
pub(crate) fn where_cond(
    cuda: &Cuda,
    cond: View<'_, CudaStorage>,
    on_true: View<'_, CudaStorage>,
    on_false: View<'_, CudaStorage>,
    dst: ViewMut<'_, CudaStorage>,
) -> Result<()> {
    let dtype = on_true.storage.dtype();
    check_where_dtypes(
        cond.storage.dtype(),
        dtype,
        on_false.storage.dtype(),
        dst.storage.dtype(),
    )?;
    let dst_storage: &CudaStorage = dst.storage;
    let Some(launch) = Elementwise::new(
        cuda,
        "where",
        &[
            (cond.storage, cond.layout),
            (on_true.storage, on_true.layout),
            (on_false.storage, on_false.layout),
            (dst_storage, dst.layout),
        ],
        dtype,
    )?
    else {
        return Ok(());
    };
    let device = cuda.device();
    let name = format!("where_{}", dtype_suffix(dtype));
    let func = device.function("binary", &name)?;
    let (cond_ptr, true_ptr, false_ptr, dst_ptr) = (
        cond.storage.ptr(),
        on_true.storage.ptr(),
        on_false.storage.ptr(),
        dst_storage.ptr(),
    );
    let n = launch.numel as i64;
    let mut args = device.stream.launch_builder(&func);
    args.arg(&cond_ptr)
        .arg(&launch.layouts[0])
        .arg(&true_ptr)
        .arg(&launch.layouts[1])
        .arg(&false_ptr)
        .arg(&launch.layouts[2])
        .arg(&dst_ptr)
        .arg(&launch.layouts[3])
        .arg(&n)
        .arg(&launch.path);
    // SAFETY: the arguments match `where_*` in binary.cu (const bool*, Layout, const T*, Layout,
    // const T*, Layout, T*, Layout, i64 n, i32 path); every layout was checked to lie inside its
    // storage.
    unsafe { args.launch(launch.config) }.map_err(|e| launch_error(&name, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_follow_the_cpu_dtype_table() {
        use BinaryOp::*;
        let arithmetic = |op, dtype| matches!(kernel_for(op, dtype), Ok(Kernel::Arithmetic(_)));
        for dtype in DType::ALL {
            for op in [Add, Mul, Maximum, Minimum] {
                assert!(arithmetic(op, dtype), "{op:?} {dtype}");
            }
            for op in [Sub, Div, Pow] {
                assert_eq!(
                    arithmetic(op, dtype),
                    dtype != DType::Bool,
                    "{op:?} {dtype}"
                );
            }
            assert_eq!(arithmetic(Atan2, dtype), dtype.is_float(), "atan2 {dtype}");
            let relu_backward = arithmetic(ReluBackward, dtype);
            assert_eq!(relu_backward, dtype.is_float(), "relu_backward {dtype}");
            for op in [Eq, Ne, Lt, Le, Gt, Ge, LogicalAnd, LogicalOr, LogicalXor] {
                assert!(matches!(kernel_for(op, dtype), Ok(Kernel::Compare(_))));
            }
        }
        assert!(matches!(
            kernel_for(Sub, DType::Bool),
            Err(Error::Unsupported { .. })
        ));
        assert!(matches!(
            kernel_for(Atan2, DType::I64),
            Err(Error::Unsupported { .. })
        ));
    }
}
