//! Element-wise drivers: apply a per-element function over strided operands of one shape.
//!
//! Each driver checks that the layouts agree and stay inside their buffers, walks them with
//! [`Walk`] in parallel chunks, and picks the inner loop by the inner strides: contiguous slices
//! (compiled for AVX2 when available, so simple closures vectorize, or a hand-written kernel of
//! `simd_f32` that the caller passes to the `_with` variants), a broadcast scalar, or a
//! strided loop; when an input is transposed relative to the destination, the walk goes in
//! square tiles instead ([`Walk::tiles`]). The destination is written through a raw pointer from parallel chunks; that is
//! sound because its elements are checked to be in bounds and, when the chunks run in parallel,
//! pairwise distinct ([`non_overlapping`]). Element functions are plain closures, monomorphized
//! per op and dtype by the callers.

use crate::math::simd;
use crate::strided::{SendPtr, Walk, check_extent, non_overlapping, par_ranges, same_dims};
use tiny_torch_core::{Layout, Result};

/// A hand-written vector kernel for one contiguous run of [`unary_with`]: `dst[i] = f(src[i])`
/// over two slices of one length.
pub(crate) type RunKernel<T, U> = fn(&[T], &mut [U]);

/// `dst[i] = f(src[i])`.
pub(crate) fn unary<T: Copy + Sync, U: Copy + Send>(
    op: &'static str,
    src: (&[T], &Layout),
    dst: (&mut [U], &Layout),
    f: impl Fn(T) -> U + Sync,
) -> Result<()> {
    unary_with(op, src, dst, f, None)
}

/// [`unary`], with `contiguous(src_run, dst_run)` (a hand-written vector kernel computing the
/// same as `f`) in place of the compiled loop over contiguous runs, when given.
pub(crate) fn unary_with<T: Copy + Sync, U: Copy + Send>(
    op: &'static str,
    src: (&[T], &Layout),
    dst: (&mut [U], &Layout),
    f: impl Fn(T) -> U + Sync,
    contiguous: Option<RunKernel<T, U>>,
) -> Result<()> {
    let ((s, sl), (d, dl)) = (src, dst);
    same_dims(op, &[dl, sl])?;
    check_extent(op, sl, s.len())?;
    check_extent(op, dl, d.len())?;
    let walk = Walk::new([dl, sl]);
    let [di, si] = walk.inner();
    let out = SendPtr::new(d);
    let serial = !non_overlapping(dl);
    if let Some(tiles) = walk.tiles() {
        // SAFETY: as below (the destination's column stride is 1).
        let [_, sc] = tiles.col_stride();
        tiles.run(serial, |[od, os], len| {
            let d = unsafe { std::slice::from_raw_parts_mut(out.get().add(od), len) };
            for (c, o) in d.iter_mut().enumerate() {
                *o = f(s[os + c * sc]);
            }
        });
        return Ok(());
    }
    par_ranges(walk.numel(), serial, |start, end| {
        walk.runs(start, end, |[od, os], len| {
            let p = out.get();
            // SAFETY: `od + i * di` for `i < len` are elements of `dl`, checked in bounds; chunks
            // running in parallel write disjoint elements.
            unsafe {
                if di == 1 && si == 1 {
                    let d = std::slice::from_raw_parts_mut(p.add(od), len);
                    let s = &s[os..os + len];
                    if let Some(kernel) = contiguous {
                        kernel(s, d);
                    } else {
                        simd!(for (o, &x) in d.iter_mut().zip(s) {
                            *o = f(x);
                        });
                    }
                } else if si == 0 {
                    let v = f(s[os]);
                    for i in 0..len {
                        *p.add(od + i * di) = v;
                    }
                } else {
                    for i in 0..len {
                        *p.add(od + i * di) = f(s[os + i * si]);
                    }
                }
            }
        })
    });
    Ok(())
}

/// `dst[i] = f(dst[i])`.
pub(crate) fn inplace<T: Copy + Send>(
    op: &'static str,
    dst: (&mut [T], &Layout),
    f: impl Fn(T) -> T + Sync,
) -> Result<()> {
    inplace_with(op, dst, f, None)
}

/// [`inplace`], with `contiguous(run)` (a hand-written vector kernel computing the same as `f`)
/// in place of the compiled loop over contiguous runs, when given.
pub(crate) fn inplace_with<T: Copy + Send>(
    op: &'static str,
    dst: (&mut [T], &Layout),
    f: impl Fn(T) -> T + Sync,
    contiguous: Option<fn(&mut [T])>,
) -> Result<()> {
    let (d, dl) = dst;
    check_extent(op, dl, d.len())?;
    let walk = Walk::new([dl]);
    let [di] = walk.inner();
    let out = SendPtr::new(d);
    par_ranges(walk.numel(), !non_overlapping(dl), |start, end| {
        walk.runs(start, end, |[od], len| {
            let p = out.get();
            // SAFETY: as in `unary`.
            unsafe {
                if di == 1
                    && let Some(kernel) = contiguous
                {
                    kernel(std::slice::from_raw_parts_mut(p.add(od), len));
                } else if di == 1 {
                    let d = std::slice::from_raw_parts_mut(p.add(od), len);
                    // Computed into a block on the stack, then stored whole: written as
                    // `*o = f(*o)`, ops that return their input on one branch (relu, clamp)
                    // compile to masked stores, several times slower on AMD than plain ones.
                    const BLOCK: usize = 64;
                    simd!({
                        let mut chunks = d.chunks_exact_mut(BLOCK);
                        for chunk in &mut chunks {
                            let mut block: [T; BLOCK] = [chunk[0]; BLOCK];
                            for (b, &x) in block.iter_mut().zip(chunk.iter()) {
                                *b = f(x);
                            }
                            chunk.copy_from_slice(&block);
                        }
                        for o in chunks.into_remainder() {
                            *o = f(*o);
                        }
                    });
                } else {
                    for i in 0..len {
                        let q = p.add(od + i * di);
                        *q = f(*q);
                    }
                }
            }
        })
    });
    Ok(())
}

/// `dst[i] = f(lhs[i], rhs[i])`.
pub(crate) fn binary<T: Copy + Sync, U: Copy + Send>(
    op: &'static str,
    lhs: (&[T], &Layout),
    rhs: (&[T], &Layout),
    dst: (&mut [U], &Layout),
    f: impl Fn(T, T) -> U + Sync,
) -> Result<()> {
    let ((a, al), (b, bl), (d, dl)) = (lhs, rhs, dst);
    same_dims(op, &[dl, al, bl])?;
    check_extent(op, al, a.len())?;
    check_extent(op, bl, b.len())?;
    check_extent(op, dl, d.len())?;
    let walk = Walk::new([dl, al, bl]);
    let [di, ai, bi] = walk.inner();
    let out = SendPtr::new(d);
    let serial = !non_overlapping(dl);
    if let Some(tiles) = walk.tiles() {
        // SAFETY: as below (the destination's column stride is 1).
        let [_, ac, bc] = tiles.col_stride();
        tiles.run(serial, |[od, oa, ob], len| {
            let d = unsafe { std::slice::from_raw_parts_mut(out.get().add(od), len) };
            for (c, o) in d.iter_mut().enumerate() {
                *o = f(a[oa + c * ac], b[ob + c * bc]);
            }
        });
        return Ok(());
    }
    par_ranges(walk.numel(), serial, |start, end| {
        walk.runs(start, end, |[od, oa, ob], len| {
            let p = out.get();
            // SAFETY: as in `unary`.
            unsafe {
                if di == 1 && ai == 1 && bi == 1 {
                    let d = std::slice::from_raw_parts_mut(p.add(od), len);
                    let (a, b) = (&a[oa..oa + len], &b[ob..ob + len]);
                    simd!(for ((o, &x), &y) in d.iter_mut().zip(a).zip(b) {
                        *o = f(x, y);
                    });
                } else if di == 1 && ai == 1 && bi == 0 {
                    let d = std::slice::from_raw_parts_mut(p.add(od), len);
                    let (a, y) = (&a[oa..oa + len], b[ob]);
                    simd!(for (o, &x) in d.iter_mut().zip(a) {
                        *o = f(x, y);
                    });
                } else if di == 1 && ai == 0 && bi == 1 {
                    let d = std::slice::from_raw_parts_mut(p.add(od), len);
                    let (x, b) = (a[oa], &b[ob..ob + len]);
                    simd!(for (o, &y) in d.iter_mut().zip(b) {
                        *o = f(x, y);
                    });
                } else {
                    for i in 0..len {
                        *p.add(od + i * di) = f(a[oa + i * ai], b[ob + i * bi]);
                    }
                }
            }
        })
    });
    Ok(())
}

/// `dst[i] = f(dst[i], rhs[i])`.
pub(crate) fn binary_inplace<T: Copy + Send + Sync>(
    op: &'static str,
    dst: (&mut [T], &Layout),
    rhs: (&[T], &Layout),
    f: impl Fn(T, T) -> T + Sync,
) -> Result<()> {
    let ((d, dl), (b, bl)) = (dst, rhs);
    same_dims(op, &[dl, bl])?;
    check_extent(op, bl, b.len())?;
    check_extent(op, dl, d.len())?;
    let walk = Walk::new([dl, bl]);
    let [di, bi] = walk.inner();
    let out = SendPtr::new(d);
    let serial = !non_overlapping(dl);
    if let Some(tiles) = walk.tiles() {
        // SAFETY: as below (the destination's column stride is 1).
        let [_, bc] = tiles.col_stride();
        tiles.run(serial, |[od, ob], len| {
            let d = unsafe { std::slice::from_raw_parts_mut(out.get().add(od), len) };
            for (c, o) in d.iter_mut().enumerate() {
                *o = f(*o, b[ob + c * bc]);
            }
        });
        return Ok(());
    }
    par_ranges(walk.numel(), serial, |start, end| {
        walk.runs(start, end, |[od, ob], len| {
            let p = out.get();
            // SAFETY: as in `unary`.
            unsafe {
                if di == 1 && bi == 1 {
                    let d = std::slice::from_raw_parts_mut(p.add(od), len);
                    let b = &b[ob..ob + len];
                    simd!(for (o, &y) in d.iter_mut().zip(b) {
                        *o = f(*o, y);
                    });
                } else if di == 1 && bi == 0 {
                    let d = std::slice::from_raw_parts_mut(p.add(od), len);
                    let y = b[ob];
                    simd!(for o in d.iter_mut() {
                        *o = f(*o, y);
                    });
                } else {
                    for i in 0..len {
                        let q = p.add(od + i * di);
                        *q = f(*q, b[ob + i * bi]);
                    }
                }
            }
        })
    });
    Ok(())
}

/// `dst[i] = if cond[i] { on_true[i] } else { on_false[i] }`.
pub(crate) fn select<T: Copy + Send + Sync>(
    op: &'static str,
    cond: (&[bool], &Layout),
    on_true: (&[T], &Layout),
    on_false: (&[T], &Layout),
    dst: (&mut [T], &Layout),
) -> Result<()> {
    let ((c, cl), (a, al), (b, bl), (d, dl)) = (cond, on_true, on_false, dst);
    same_dims(op, &[dl, cl, al, bl])?;
    check_extent(op, cl, c.len())?;
    check_extent(op, al, a.len())?;
    check_extent(op, bl, b.len())?;
    check_extent(op, dl, d.len())?;
    let walk = Walk::new([dl, cl, al, bl]);
    let [di, ci, ai, bi] = walk.inner();
    let out = SendPtr::new(d);
    par_ranges(walk.numel(), !non_overlapping(dl), |start, end| {
        walk.runs(start, end, |[od, oc, oa, ob], len| {
            let p = out.get();
            // SAFETY: as in `unary`.
            unsafe {
                if di == 1 && ci == 1 && ai == 1 && bi == 1 {
                    let d = std::slice::from_raw_parts_mut(p.add(od), len);
                    let (c, a, b) = (&c[oc..oc + len], &a[oa..oa + len], &b[ob..ob + len]);
                    for (((o, &k), &x), &y) in d.iter_mut().zip(c).zip(a).zip(b) {
                        *o = if k { x } else { y };
                    }
                } else {
                    for i in 0..len {
                        let k = c[oc + i * ci];
                        *p.add(od + i * di) = if k { a[oa + i * ai] } else { b[ob + i * bi] };
                    }
                }
            }
        })
    });
    Ok(())
}

/// `dst[i] = f(i)` for generators cheaper by the batch (SIMD Philox): `fill(first, values)`
/// computes the elements of row-major indices `first..first + values.len()`, at most `BATCH`
/// at a time, and they are then stored along `dst`'s layout.
pub(crate) fn generate_batched<T: Copy + Default + Send, const BATCH: usize>(
    op: &'static str,
    dst: (&mut [T], &Layout),
    fill: impl Fn(usize, &mut [T]) + Sync,
) -> Result<()> {
    let (d, dl) = dst;
    check_extent(op, dl, d.len())?;
    let walk = Walk::new([dl]);
    let [di] = walk.inner();
    let out = SendPtr::new(d);
    par_ranges(walk.numel(), !non_overlapping(dl), |start, end| {
        let mut pos = start;
        // Strided runs are generated here first, then stored element by element.
        let mut values = [T::default(); BATCH];
        walk.runs(start, end, |[od], len| {
            let p = out.get();
            for done in (0..len).step_by(BATCH) {
                let n = (len - done).min(BATCH);
                if di == 1 {
                    // SAFETY: as in `unary`: this run's elements lie in `dst`, and no other
                    // chunk writes them.
                    fill(pos + done, unsafe {
                        std::slice::from_raw_parts_mut(p.add(od + done), n)
                    });
                    continue;
                }
                fill(pos + done, &mut values[..n]);
                for (k, &v) in values[..n].iter().enumerate() {
                    // SAFETY: as in `unary`: element `done + k` of this run lies in `dst`.
                    unsafe { *p.add(od + (done + k) * di) = v };
                }
            }
            pos += len;
        })
    });
    Ok(())
}
