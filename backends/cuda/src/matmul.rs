//! Batched matrix products on cuBLAS (`cublasGemmStridedBatchedEx`).
//!
//! cuBLAS is column-major; our matrices are row-major logical views with arbitrary strides. A
//! row-major `C = A B` is the column-major `Cᵀ = Bᵀ Aᵀ`, and a row-major matrix read as
//! column-major *is* its transpose, so each operand is passed as is, with `N` when its rows are
//! contiguous and `T` when its columns are: transposed views never need a copy. Only operands
//! with neither unit stride are packed first.

use crate::Cuda;
use crate::compile::backend_error;
use crate::copy;
use crate::device::allow_tf32;
use crate::storage::{self, CudaStorage};
use cudarc::cublas::result::gemm_strided_batched_ex;
use cudarc::cublas::sys::{
    cublasComputeType_t, cublasGemmAlgo_t, cublasOperation_t, cudaDataType_t,
};
use std::ffi::c_void;
use tiny_torch_core::{
    BackendStorage, DType, Error, Layout, Result, Scalar, View, ViewMut, check_extent,
};

/// How a row-major logical `[rows, cols]` matrix lies in memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MatrixOrder {
    /// Rows contiguous, `ld` elements apart.
    RowMajor { ld: usize },
    /// Columns contiguous, `ld` elements apart.
    ColMajor { ld: usize },
}

/// The order cuBLAS can read a matrix in without a copy, if any. Strides of size-1 dims are
/// free, so they are replaced by the tightest valid leading dimension.
fn matrix_order(
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
) -> Option<MatrixOrder> {
    if (cols == 1 || col_stride == 1) && (rows == 1 || row_stride >= cols.max(1)) {
        let ld = if rows == 1 { cols.max(1) } else { row_stride };
        return Some(MatrixOrder::RowMajor { ld });
    }
    if (rows == 1 || row_stride == 1) && (cols == 1 || col_stride >= rows.max(1)) {
        let ld = if cols == 1 { rows.max(1) } else { col_stride };
        return Some(MatrixOrder::ColMajor { ld });
    }
    None
}

/// An operand ready for cuBLAS: its storage (the input or a packed copy), first element,
/// batch stride and order.
struct Operand<'a> {
    packed: Option<CudaStorage>,
    storage: &'a CudaStorage,
    offset: usize,
    batch_stride: usize,
    order: MatrixOrder,
}

impl<'a> Operand<'a> {
    fn new(cuda: &Cuda, view: View<'a, CudaStorage>) -> Result<Self> {
        let (dims, strides) = (view.layout.dims(), view.layout.strides());
        let batch_stride = if dims[0] == 1 { 0 } else { strides[0] };
        if let Some(order) = matrix_order(dims[1], dims[2], strides[1], strides[2]) {
            return Ok(Operand {
                packed: None,
                storage: view.storage,
                offset: view.layout.offset(),
                batch_stride,
                order,
            });
        }
        let packed = copy::contiguous(cuda, view)?;
        Ok(Operand {
            packed: Some(packed),
            storage: view.storage,
            offset: 0,
            batch_stride: dims[1] * dims[2],
            order: MatrixOrder::RowMajor { ld: dims[2].max(1) },
        })
    }

    fn ptr(&self) -> *const c_void {
        let storage = self.packed.as_ref().unwrap_or(self.storage);
        storage.ptr_at(self.offset) as usize as *const c_void
    }
}

fn to_i32(op: &'static str, value: usize) -> Result<i32> {
    i32::try_from(value)
        .map_err(|_| Error::invalid(op, format!("size {value} exceeds cuBLAS's 32-bit limit")))
}

/// The CPU backend's checks, before cuBLAS reads anything through the layouts: one dtype,
/// `[b, m, k] @ [b, k, n]` (a batch of 1 broadcasts), both views inside their storages.
fn check_operands(lhs: View<'_, CudaStorage>, rhs: View<'_, CudaStorage>) -> Result<()> {
    let dtype = lhs.storage.dtype();
    tiny_torch_core::check_matmul_dtypes(dtype, rhs.storage.dtype())?;
    let (ld, rd) = (lhs.layout.dims(), rhs.layout.dims());
    let batches_agree = |a: usize, b: usize| a == b || a == 1 || b == 1;
    if ld.len() != 3 || rd.len() != 3 || !batches_agree(ld[0], rd[0]) || ld[2] != rd[1] {
        return Err(Error::shape(
            "matmul",
            format!(
                "expected [b, m, k] and [b, k, n] operands, got shapes {ld:?} and {rd:?} \
                 (the backend expects batch dims broadcast and flattened)"
            ),
        ));
    }
    check_extent("matmul", lhs.layout, lhs.storage.len())?;
    check_extent("matmul", rhs.layout, rhs.storage.len())
}

pub(crate) fn matmul(
    cuda: &Cuda,
    lhs: View<'_, CudaStorage>,
    rhs: View<'_, CudaStorage>,
) -> Result<CudaStorage> {
    let dtype = lhs.storage.dtype();
    check_operands(lhs, rhs)?;
    let (data_type, compute_type) = match dtype {
        DType::F32 if allow_tf32() => (
            cudaDataType_t::CUDA_R_32F,
            cublasComputeType_t::CUBLAS_COMPUTE_32F_FAST_TF32,
        ),
        DType::F32 => (
            cudaDataType_t::CUDA_R_32F,
            cublasComputeType_t::CUBLAS_COMPUTE_32F,
        ),
        DType::F64 => (
            cudaDataType_t::CUDA_R_64F,
            cublasComputeType_t::CUBLAS_COMPUTE_64F,
        ),
        DType::F16 => (
            cudaDataType_t::CUDA_R_16F,
            cublasComputeType_t::CUBLAS_COMPUTE_32F,
        ),
        DType::BF16 => (
            cudaDataType_t::CUDA_R_16BF,
            cublasComputeType_t::CUBLAS_COMPUTE_32F,
        ),
        _ => return Err(Error::unsupported("matmul", dtype, "cuda")),
    };
    let (ld, rd) = (lhs.layout.dims(), rhs.layout.dims());
    let (batch, m, k, n) = (ld[0].max(rd[0]), ld[1], ld[2], rd[2]);
    let out_len = batch
        .checked_mul(m)
        .and_then(|v| v.checked_mul(n))
        .ok_or_else(|| Error::shape("matmul", format!("output [{batch}, {m}, {n}] overflows")))?;
    let device = cuda.device();
    let mut out = storage::alloc(device, dtype, out_len)?;
    if out_len == 0 {
        return Ok(out);
    }
    if k == 0 {
        let layout = Layout::contiguous([batch, m, n]);
        copy::fill(cuda, ViewMut::new(&mut out, &layout), Scalar::Float(0.0))?;
        return Ok(out);
    }
    let a = Operand::new(cuda, lhs)?;
    let b = Operand::new(cuda, rhs)?;
    // Cᵀ (n × m, column-major, ld n) = op(B) op(A), where B's memory read column-major is Bᵀ
    // when B is row-major (no transpose needed) and B when column-major (transpose).
    let (trans_b, ld_b) = match b.order {
        MatrixOrder::RowMajor { ld } => (cublasOperation_t::CUBLAS_OP_N, ld),
        MatrixOrder::ColMajor { ld } => (cublasOperation_t::CUBLAS_OP_T, ld),
    };
    let (trans_a, ld_a) = match a.order {
        MatrixOrder::RowMajor { ld } => (cublasOperation_t::CUBLAS_OP_N, ld),
        MatrixOrder::ColMajor { ld } => (cublasOperation_t::CUBLAS_OP_T, ld),
    };
    let (alpha32, beta32, alpha64, beta64) = (1.0f32, 0.0f32, 1.0f64, 0.0f64);
    let (alpha, beta): (*const c_void, *const c_void) = if dtype == DType::F64 {
        (&alpha64 as *const f64 as _, &beta64 as *const f64 as _)
    } else {
        (&alpha32 as *const f32 as _, &beta32 as *const f32 as _)
    };
    let op = "matmul";
    let blas = device.blas()?;
    let handle = *blas
        .as_ref()
        .map(|b| b.handle())
        .ok_or_else(|| backend_error("no cuBLAS handle"))?;
    device.bind()?;
    // SAFETY: every pointer addresses a live storage of this device, with the extents the
    // sizes, leading dimensions and batch strides describe; alpha/beta outlive the call (the
    // host scalars are read at launch).
    unsafe {
        gemm_strided_batched_ex(
            handle,
            trans_b,
            trans_a,
            to_i32(op, n)?,
            to_i32(op, m)?,
            to_i32(op, k)?,
            alpha,
            b.ptr(),
            data_type,
            to_i32(op, ld_b)?,
            b.batch_stride as i64,
            a.ptr(),
            data_type,
            to_i32(op, ld_a)?,
            a.batch_stride as i64,
            beta,
            out.ptr() as usize as *mut c_void,
            data_type,
            to_i32(op, n)?,
            (m * n) as i64,
            to_i32(op, batch)?,
            compute_type,
            cublasGemmAlgo_t::CUBLAS_GEMM_DFALT,
        )
    }
    .map_err(|e| {
        backend_error(format!(
            "cuBLAS gemm [{batch}, {m}, {k}] x [{batch}, {k}, {n}] {dtype}: {e}"
        ))
    })?;
    drop(blas);
    // The packed copies may be freed now: later ops are queued after the product.
    drop((a, b));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{MatrixOrder::*, matrix_order};

    #[test]
    fn orders_from_strides() {
        assert_eq!(matrix_order(3, 4, 4, 1), Some(RowMajor { ld: 4 }));
        // A transposed [4, 3] contiguous matrix: columns contiguous.
        assert_eq!(matrix_order(3, 4, 1, 3), Some(ColMajor { ld: 3 }));
        // A row of a larger matrix: leading dimension is free.
        assert_eq!(matrix_order(1, 4, 7, 1), Some(RowMajor { ld: 4 }));
        // Every other element: no order cuBLAS can read.
        assert_eq!(matrix_order(3, 4, 8, 2), None);
        // Padded rows are fine.
        assert_eq!(matrix_order(3, 4, 6, 1), Some(RowMajor { ld: 6 }));
    }
}
