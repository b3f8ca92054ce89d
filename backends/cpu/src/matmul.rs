//! Batched matrix product `[b, m, k] x [b, k, n] -> [b, m, n]` over strided layouts.
//!
//! `f32` and `f64` go to the `gemm` crate (packed, cache-blocked, AVX2/AVX-512/FMA micro-kernels
//! chosen at run time), which takes row and column strides directly, so transposed operands and
//! stride-0 batches need no copies. `f16` and `bf16` are converted to `f32`, multiplied with
//! `f32` accumulation, and rounded back once. Integers use a plain row-times-matrix loop
//! with wrapping arithmetic, parallel over rows. Bool is unsupported (as in PyTorch).
//!
//! Large products use `gemm`'s rayon parallelism inside each matrix; many small ones run
//! matrices in parallel instead.

use crate::num::{Convert, FloatStore, Int};
use crate::storage::{CpuStorage, Native, alloc_typed};
use crate::strided::{PAR_THRESHOLD, SendPtr, check_extent};
use gemm::Parallelism;
use half::{bf16, f16};
use rayon::prelude::*;
use tiny_torch_core::{BackendStorage, DType, Error, Layout, Result, View};

/// Products with at least this many multiply-adds per matrix use threads inside `gemm`...
const GEMM_PARALLEL_MACS: usize = 48 * 48 * 48;
/// ...unless there are enough matrices of at most this size to give each thread whole ones.
const GEMM_BATCH_PARALLEL_MACS: usize = 256 * 256 * 256;

/// Sizes and strides of one batched product.
#[derive(Clone, Copy)]
struct Dims {
    b: usize,
    m: usize,
    k: usize,
    n: usize,
    /// Batch, row and column strides of the left operand.
    l: [usize; 3],
    r: [usize; 3],
    l_off: usize,
    r_off: usize,
}

impl Dims {
    /// Elements of the `[b, m, n]` output.
    fn out_len(&self) -> Result<usize> {
        self.b
            .checked_mul(self.m)
            .and_then(|v| v.checked_mul(self.n))
            .ok_or_else(|| {
                Error::shape(
                    "matmul",
                    format!("output [{}, {}, {}] overflows", self.b, self.m, self.n),
                )
            })
    }
}

fn dims(lhs: &Layout, rhs: &Layout) -> Result<Dims> {
    let (ld, rd) = (lhs.dims(), rhs.dims());
    if ld.len() != 3 || rd.len() != 3 || ld[0] != rd[0] || ld[2] != rd[1] {
        return Err(Error::shape(
            "matmul",
            format!(
                "expected [b, m, k] and [b, k, n] operands, got shapes {ld:?} and {rd:?} \
                 (the backend expects batch dims broadcast and flattened)"
            ),
        ));
    }
    let s = |l: &Layout| [l.strides()[0], l.strides()[1], l.strides()[2]];
    Ok(Dims {
        b: ld[0],
        m: ld[1],
        k: ld[2],
        n: rd[2],
        l: s(lhs),
        r: s(rhs),
        l_off: lhs.offset(),
        r_off: rhs.offset(),
    })
}

/// `lhs @ rhs` into a new contiguous `[b, m, n]` buffer.
pub(crate) fn matmul(lhs: View<'_, CpuStorage>, rhs: View<'_, CpuStorage>) -> Result<CpuStorage> {
    let dtype = lhs.storage.dtype();
    tiny_torch_core::check_matmul_dtypes(dtype, rhs.storage.dtype())?;
    let d = dims(lhs.layout, rhs.layout)?;
    match dtype {
        DType::F32 => float::<f32>(d, lhs, rhs),
        DType::F64 => float::<f64>(d, lhs, rhs),
        DType::F16 => via_f32::<f16>(d, lhs, rhs),
        DType::BF16 => via_f32::<bf16>(d, lhs, rhs),
        DType::I64 => int::<i64>(d, lhs, rhs),
        DType::I32 => int::<i32>(d, lhs, rhs),
        DType::U8 => int::<u8>(d, lhs, rhs),
        DType::Bool => Err(Error::unsupported("matmul", dtype, "cpu")),
    }
}

fn inputs<'a, T: Native>(
    lhs: View<'a, CpuStorage>,
    rhs: View<'a, CpuStorage>,
) -> Result<(&'a [T], &'a [T])> {
    let a = lhs.storage.data::<T>("matmul")?;
    let b = rhs.storage.data::<T>("matmul")?;
    check_extent("matmul", lhs.layout, a.len())?;
    check_extent("matmul", rhs.layout, b.len())?;
    Ok((a, b))
}

/// `gemm` for `f32` and `f64`.
fn float<T: Native + Convert>(
    d: Dims,
    lhs: View<'_, CpuStorage>,
    rhs: View<'_, CpuStorage>,
) -> Result<CpuStorage> {
    let (a, b) = inputs::<T>(lhs, rhs)?;
    let mut out = alloc_typed::<T>(d.out_len()?)?;
    let o = out.data_mut::<T>("matmul")?;
    if o.is_empty() {
        return Ok(out);
    }
    if d.k == 0 {
        o.fill(T::from_int(0));
        return Ok(out);
    }
    let threads = rayon::current_num_threads();
    let macs = d.m.saturating_mul(d.n).saturating_mul(d.k);
    let dst = SendPtr::new(o);
    let (zero, one) = (T::from_int(0), T::from_int(1));
    let one_matrix = |batch: usize, par: Parallelism| {
        // SAFETY: the operands' layouts were checked to lie inside their buffers, so every
        // element `gemm` reads (offset + i * row stride + j * column stride, i < rows, j <
        // columns) is in bounds; the output matrix `batch` is the disjoint contiguous range
        // `batch * m * n .. (batch + 1) * m * n`. `T` is f32 or f64 (`gemm` panics on others).
        unsafe {
            gemm::gemm(
                d.m,
                d.n,
                d.k,
                dst.get().add(batch * d.m * d.n),
                1,
                d.n as isize,
                false,
                a.as_ptr().add(d.l_off + batch * d.l[0]),
                d.l[2] as isize,
                d.l[1] as isize,
                b.as_ptr().add(d.r_off + batch * d.r[0]),
                d.r[2] as isize,
                d.r[1] as isize,
                zero,
                one,
                false,
                false,
                false,
                par,
            )
        }
    };
    let many = d.b >= 2 * threads && macs <= GEMM_BATCH_PARALLEL_MACS;
    if macs >= GEMM_PARALLEL_MACS && threads > 1 && !many {
        for batch in 0..d.b {
            one_matrix(batch, Parallelism::Rayon(threads));
        }
    } else if d.b > 1 && d.b.saturating_mul(macs) >= PAR_THRESHOLD && threads > 1 {
        (0..d.b)
            .into_par_iter()
            .for_each(|batch| one_matrix(batch, Parallelism::None));
    } else {
        for batch in 0..d.b {
            one_matrix(batch, Parallelism::None);
        }
    }
    Ok(out)
}

/// Gathers a strided `[b, rows, cols]` operand into a contiguous `f32` buffer.
fn to_f32<T: FloatStore<C = f32>>(data: &[T], layout: &Layout) -> Vec<f32> {
    layout.offsets().map(|o| data[o].up()).collect()
}

/// `f16` and `bf16` through `f32`: exact widening, one `f32` product (accumulated in `f32` over
/// the whole of `k`), one rounding back. (`gemm`'s own `f16` kernel rounds its output to `f16`
/// between blocks of `k`.)
fn via_f32<T: FloatStore<C = f32>>(
    d: Dims,
    lhs: View<'_, CpuStorage>,
    rhs: View<'_, CpuStorage>,
) -> Result<CpuStorage> {
    let (a, b) = inputs::<T>(lhs, rhs)?;
    let a32 = crate::storage::from_vec(to_f32(a, lhs.layout));
    let b32 = crate::storage::from_vec(to_f32(b, rhs.layout));
    let (la, lb) = (
        Layout::contiguous([d.b, d.m, d.k]),
        Layout::contiguous([d.b, d.k, d.n]),
    );
    let c = matmul(View::new(&a32, &la), View::new(&b32, &lb))?;
    let c = c.data::<f32>("matmul")?;
    let mut out = alloc_typed::<T>(c.len())?;
    for (o, &v) in out.data_mut::<T>("matmul")?.iter_mut().zip(c) {
        *o = T::down(v);
    }
    Ok(out)
}

/// Integer product with wrapping arithmetic: each output row accumulates `a[i, p] * b[p, :]`.
fn int<T: Int + Convert>(
    d: Dims,
    lhs: View<'_, CpuStorage>,
    rhs: View<'_, CpuStorage>,
) -> Result<CpuStorage> {
    let (a, b) = inputs::<T>(lhs, rhs)?;
    let mut out = alloc_typed::<T>(d.out_len()?)?;
    let o = out.data_mut::<T>("matmul")?;
    if o.is_empty() {
        return Ok(out);
    }
    let row = |r: usize, out_row: &mut [T]| {
        let (batch, i) = (r / d.m, r % d.m);
        out_row.fill(T::ZERO);
        let a0 = d.l_off + batch * d.l[0] + i * d.l[1];
        let b0 = d.r_off + batch * d.r[0];
        for p in 0..d.k {
            let x = a[a0 + p * d.l[2]];
            let brow = b0 + p * d.r[1];
            if d.r[2] == 1 {
                for (acc, &y) in out_row.iter_mut().zip(&b[brow..brow + d.n]) {
                    *acc = acc.wadd(x.wmul(y));
                }
            } else {
                for (j, acc) in out_row.iter_mut().enumerate() {
                    *acc = acc.wadd(x.wmul(b[brow + j * d.r[2]]));
                }
            }
        }
    };
    if o.len().saturating_mul(d.k.max(1)) >= PAR_THRESHOLD {
        o.par_chunks_mut(d.n)
            .enumerate()
            .for_each(|(r, out_row)| row(r, out_row));
    } else {
        for (r, out_row) in o.chunks_mut(d.n).enumerate() {
            row(r, out_row);
        }
    }
    Ok(out)
}
