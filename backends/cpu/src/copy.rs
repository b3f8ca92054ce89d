//! Memory ops: buffers from and to host bytes, `fill`, and the strided copy with dtype
//! conversion behind `contiguous`, `to_dtype`, `cat` and slice assignment.
//!
//! Conversions follow PyTorch: float to integer truncates toward zero, anything to bool is
//! `!= 0` (NaN is true), integers wrap.

use crate::map;
use crate::num::{Convert, cast};
use crate::storage::{CpuStorage, Native, alloc_typed, dispatch};
use crate::strided::{Walk, check_extent, same_dims};
use tiny_torch_core::{BackendStorage, DType, Error, Layout, Result, Scalar, View, ViewMut};

/// A buffer holding `bytes`: little-endian elements of `dtype`, bool as one byte.
pub(crate) fn from_bytes(dtype: DType, bytes: &[u8]) -> Result<CpuStorage> {
    let size = dtype.size_in_bytes();
    if !bytes.len().is_multiple_of(size) {
        return Err(Error::invalid(
            "from_bytes",
            format!(
                "{} bytes is not a whole number of {dtype} elements ({size} bytes each)",
                bytes.len()
            ),
        ));
    }
    let n = bytes.len() / size;
    dispatch!(dtype, T => {
        let mut out = alloc_typed::<T>(n)?;
        T::decode(bytes, out.data_mut::<T>("from_bytes")?);
        Ok(out)
    })
}

/// Little-endian byte encoding per element type.
trait Decode: Sized {
    /// Decodes `bytes` into `out` (same element count).
    fn decode(bytes: &[u8], out: &mut [Self]);
    fn encode(data: &[Self]) -> Vec<u8>;
}

macro_rules! pod_decode {
    ($($t:ty),*) => {$(
        impl Decode for $t {
            fn decode(bytes: &[u8], out: &mut [Self]) {
                // Element-wise from chunks: `bytes` need not be aligned for `$t`.
                const S: usize = std::mem::size_of::<$t>();
                for (o, c) in out.iter_mut().zip(bytes.chunks_exact(S)) {
                    let mut a = [0u8; S];
                    a.copy_from_slice(c);
                    *o = bytemuck::cast(a);
                }
            }
            fn encode(data: &[Self]) -> Vec<u8> {
                bytemuck::cast_slice(data).to_vec()
            }
        }
    )*};
}
pod_decode!(u8, i32, i64, half::f16, half::bf16, f32, f64);

impl Decode for bool {
    fn decode(bytes: &[u8], out: &mut [Self]) {
        for (o, &b) in out.iter_mut().zip(bytes) {
            *o = b != 0;
        }
    }
    fn encode(data: &[Self]) -> Vec<u8> {
        data.iter().map(|&b| b as u8).collect()
    }
}

/// The elements of `src` in row-major order as little-endian bytes.
pub(crate) fn to_bytes(src: View<'_, CpuStorage>) -> Result<Vec<u8>> {
    dispatch!(src.storage.dtype(), T => {
        let data = src.storage.data::<T>("to_bytes")?;
        let layout = src.layout;
        check_extent("to_bytes", layout, data.len())?;
        if let Some(range) = layout.contiguous_range() {
            return Ok(T::encode(&data[range]));
        }
        Ok(T::encode(&gather_elements(data, layout)))
    })
}

/// The elements of a strided layout, in row-major order (extent checked by the caller).
fn gather_elements<T: Copy>(data: &[T], layout: &Layout) -> Vec<T> {
    let walk = Walk::new([layout]);
    let [inner] = walk.inner();
    let mut out = Vec::with_capacity(layout.numel());
    walk.runs(0, walk.numel(), |[o], len| {
        if inner == 1 {
            out.extend_from_slice(&data[o..o + len]);
        } else {
            out.extend((0..len).map(|i| data[o + i * inner]));
        }
    });
    out
}

/// Writes `value`, converted to `dst`'s dtype, into every element of `dst`.
pub(crate) fn fill(dst: ViewMut<'_, CpuStorage>, value: Scalar) -> Result<()> {
    dispatch!(dst.storage.dtype(), T => {
        let v: T = scalar_to(value);
        map::inplace("fill", (dst.storage.data_mut::<T>("fill")?, dst.layout), move |_| v)
    })
}

/// A host scalar converted with the cast rules.
pub(crate) fn scalar_to<T: Convert>(value: Scalar) -> T {
    match value {
        Scalar::Float(f) => T::from_float(f),
        Scalar::Int(i) => T::from_int(i),
        Scalar::Bool(b) => T::from_int(b as i64),
    }
}

/// Strided copy with conversion.
pub(crate) fn copy(src: View<'_, CpuStorage>, dst: ViewMut<'_, CpuStorage>) -> Result<()> {
    same_dims("copy", &[dst.layout, src.layout])?;
    let (sd, dd) = (src.storage.dtype(), dst.storage.dtype());
    dispatch!(sd, S => dispatch!(dd, D => copy_typed::<S, D>(src, dst)))
}

fn copy_typed<S: Convert + Sync, D: Convert + Send>(
    src: View<'_, CpuStorage>,
    dst: ViewMut<'_, CpuStorage>,
) -> Result<()> {
    let s = src.storage.data::<S>("copy")?;
    let d = dst.storage.data_mut::<D>("copy")?;
    if S::DTYPE == D::DTYPE
        && let (Some(sr), Some(dr)) = (src.layout.contiguous_range(), dst.layout.contiguous_range())
    {
        check_extent("copy", src.layout, s.len())?;
        check_extent("copy", dst.layout, d.len())?;
        // Same type and both contiguous: a memcpy, in parallel chunks when large.
        let s: &[D] = bytemuck_same(&s[sr]);
        parallel_copy(s, &mut d[dr]);
        return Ok(());
    }
    map::unary("copy", (s, src.layout), (d, dst.layout), cast::<S, D>)
}

/// `src` as a slice of `D` when `S` and `D` are the same type (checked by dtype).
fn bytemuck_same<S: Native, D: Native>(src: &[S]) -> &[D] {
    debug_assert_eq!(S::DTYPE, D::DTYPE);
    // SAFETY: the dtypes are equal, and each dtype has exactly one Rust type, so S == D.
    unsafe { std::slice::from_raw_parts(src.as_ptr() as *const D, src.len()) }
}

fn parallel_copy<T: Copy + Send + Sync>(src: &[T], dst: &mut [T]) {
    use rayon::prelude::*;
    const CHUNK: usize = 1 << 18;
    if src.len() < 4 * CHUNK {
        dst.copy_from_slice(src);
    } else {
        dst.par_chunks_mut(CHUNK)
            .zip(src.par_chunks(CHUNK))
            .for_each(|(d, s)| d.copy_from_slice(s));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::from_vec;
    use half::{bf16, f16};

    fn view<'a>(s: &'a CpuStorage, l: &'a Layout) -> View<'a, CpuStorage> {
        View::new(s, l)
    }

    #[test]
    fn bytes_round_trip_every_dtype() {
        for dtype in DType::ALL {
            let n = 5;
            let bytes: Vec<u8> = (0..n * dtype.size_in_bytes())
                .map(|i| {
                    if dtype == DType::Bool {
                        (i % 2) as u8
                    } else {
                        (i * 7) as u8
                    }
                })
                .collect();
            // avoid NaN payload questions: use small exponent bytes for floats
            let s = from_bytes(dtype, &bytes).unwrap();
            assert_eq!((s.len(), s.dtype()), (n, dtype));
            let l = Layout::contiguous([n]);
            assert_eq!(to_bytes(view(&s, &l)).unwrap(), bytes, "{dtype}");
        }
        assert!(from_bytes(DType::F32, &[0u8; 7]).is_err());
        let b = from_bytes(DType::Bool, &[0, 2, 1]).unwrap();
        assert_eq!(
            to_bytes(view(&b, &Layout::contiguous([3]))).unwrap(),
            vec![0, 1, 1]
        );
    }

    #[test]
    fn to_bytes_of_a_transpose_is_row_major() {
        let s = from_vec((0..6).collect::<Vec<i32>>());
        let l = Layout::contiguous([2, 3]).transpose(0, 1).unwrap();
        let bytes = to_bytes(view(&s, &l)).unwrap();
        let got: Vec<i32> = bytemuck::pod_collect_to_vec(&bytes);
        assert_eq!(got, vec![0, 3, 1, 4, 2, 5]);
    }

    #[test]
    fn copy_converts_like_pytorch() {
        let src = from_vec(vec![-2.7f32, -0.5, 0.0, 0.5, 2.7, f32::NAN, 300.0, -1.0]);
        let l = Layout::contiguous([8]);
        let mut ints = from_vec(vec![0i64; 8]);
        copy(view(&src, &l), ViewMut::new(&mut ints, &l)).unwrap();
        assert_eq!(ints.slice::<i64>().unwrap(), &[-2, 0, 0, 0, 2, 0, 300, -1]);
        let mut bools = from_vec(vec![false; 8]);
        copy(view(&src, &l), ViewMut::new(&mut bools, &l)).unwrap();
        assert_eq!(
            bools.slice::<bool>().unwrap(),
            &[true, true, false, true, true, true, true, true]
        );
        let mut bytes = from_vec(vec![0u8; 8]);
        copy(view(&src, &l), ViewMut::new(&mut bytes, &l)).unwrap();
        assert_eq!(bytes.slice::<u8>().unwrap(), &[254, 0, 0, 0, 2, 0, 44, 255]);
        let mut halves = from_vec(vec![f16::ZERO; 8]);
        copy(view(&src, &l), ViewMut::new(&mut halves, &l)).unwrap();
        assert_eq!(halves.slice::<f16>().unwrap()[0], f16::from_f32(-2.7));
        let mut b16 = from_vec(vec![bf16::ZERO; 8]);
        copy(view(&halves, &l), ViewMut::new(&mut b16, &l)).unwrap();
        assert_eq!(b16.slice::<bf16>().unwrap()[6], bf16::from_f64(300.0));
        // int -> float and bool -> int
        let i = from_vec(vec![i64::MAX, -3]);
        let l2 = Layout::contiguous([2]);
        let mut f = from_vec(vec![0f64; 2]);
        copy(view(&i, &l2), ViewMut::new(&mut f, &l2)).unwrap();
        assert_eq!(f.slice::<f64>().unwrap(), &[i64::MAX as f64, -3.0]);
        let b = from_vec(vec![true, false]);
        let mut i32s = from_vec(vec![9i32; 2]);
        copy(view(&b, &l2), ViewMut::new(&mut i32s, &l2)).unwrap();
        assert_eq!(i32s.slice::<i32>().unwrap(), &[1, 0]);
    }

    #[test]
    fn strided_copy_into_a_strided_destination() {
        // dst[:, ::2] = src.T for a [3, 2] source
        let src = from_vec((0..6).map(|i| i as f64).collect::<Vec<_>>());
        let sl = Layout::contiguous([3, 2]).transpose(0, 1).unwrap(); // [2, 3]
        let mut dst = from_vec(vec![-1f64; 12]);
        let dl = Layout::contiguous([2, 6]).slice(1, 0, 6, 2).unwrap(); // [2, 3]
        copy(view(&src, &sl), ViewMut::new(&mut dst, &dl)).unwrap();
        assert_eq!(
            dst.slice::<f64>().unwrap(),
            &[0., -1., 2., -1., 4., -1., 1., -1., 3., -1., 5., -1.]
        );
        // broadcast source (stride 0) and a same-dtype contiguous memcpy, large
        let n = 1 << 20;
        let big = from_vec((0..n).map(|i| i as f32).collect::<Vec<_>>());
        let l = Layout::contiguous([n]);
        let mut out = alloc_typed::<f32>(n).unwrap();
        copy(view(&big, &l), ViewMut::new(&mut out, &l)).unwrap();
        assert!(
            out.slice::<f32>()
                .unwrap()
                .iter()
                .enumerate()
                .all(|(i, &v)| v == i as f32)
        );
        let one = from_vec(vec![7u8]);
        let bl = Layout::contiguous([1]).expand(&[n]).unwrap();
        let mut out = alloc_typed::<u8>(n).unwrap();
        copy(view(&one, &bl), ViewMut::new(&mut out, &l)).unwrap();
        assert!(out.slice::<u8>().unwrap().iter().all(|&v| v == 7));
        // mismatched shapes and out-of-bounds layouts are errors
        let short = from_vec(vec![0f32; 3]);
        let mut d = from_vec(vec![0f32; 4]);
        let l4 = Layout::contiguous([4]);
        assert!(copy(view(&short, &l4), ViewMut::new(&mut d, &l4)).is_err());
        assert!(
            copy(
                view(&short, &Layout::contiguous([3])),
                ViewMut::new(&mut d, &l4)
            )
            .is_err()
        );
    }

    #[test]
    fn fill_converts_the_scalar() {
        let mut s = from_vec(vec![0i32; 6]);
        let l = Layout::contiguous([2, 3]).slice(1, 1, 3, 1).unwrap();
        fill(ViewMut::new(&mut s, &l), Scalar::Float(-2.9)).unwrap();
        assert_eq!(s.slice::<i32>().unwrap(), &[0, -2, -2, 0, -2, -2]);
        let mut b = from_vec(vec![false; 2]);
        fill(
            ViewMut::new(&mut b, &Layout::contiguous([2])),
            Scalar::Float(0.1),
        )
        .unwrap();
        assert_eq!(b.slice::<bool>().unwrap(), &[true, true]);
        let mut h = from_vec(vec![bf16::ZERO; 2]);
        fill(
            ViewMut::new(&mut h, &Layout::contiguous([2])),
            Scalar::Int(3),
        )
        .unwrap();
        assert_eq!(h.slice::<bf16>().unwrap(), &[bf16::from_f32(3.0); 2]);
    }
}
