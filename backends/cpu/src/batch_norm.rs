//! Batch normalization of `[N, C, *]` over every dim but the channels, forward and backward.
//!
//! Channels are independent: they run in parallel (rayon), one channel per task, and each
//! channel's sums are accumulated in `f64` in a fixed order, so results do not depend on the
//! number of threads. The batch statistics take two passes (the mean, then the squared
//! deviations from it), which stays accurate when the mean is large next to the spread. Inputs
//! are read through their layouts: channel `c` is the view `x.select(1, c)`, walked in runs
//! ([`Walk`]), so NCHW, channels-last and other strides need no copy; the output is contiguous.
//!
//! Per element, the output is `x * alpha + beta` with the per-channel `alpha = invstd * weight`
//! and `beta = bias - mean * alpha` (as PyTorch's CPU kernel), in the compute type (`f32` for
//! `f16`/`bf16`/`f32`). The saved mean and inverse standard deviation are `[C]` storages of the
//! compute type (`f32`, or `f64` for `f64` inputs), as PyTorch keeps them in `float` for half
//! inputs.
//!
//! Contiguous inputs take blocks of channels per task instead ([`dense`]): small planes make
//! short runs, and walking them one channel at a time costs more than the arithmetic.

mod dense;

use crate::math::simd;
use crate::num::{FloatStore, Real, float_dispatch};
use crate::storage::{CpuStorage, Native, alloc_typed, from_vec};
use crate::strided::{PAR_THRESHOLD, SendPtr, Walk};
use dense::{Dense, coefficients};
use rayon::prelude::*;
use tiny_torch_core::{
    BackendStorage, BatchNormSaved, DType, Layout, Result, View, ViewMut, check_batch_norm,
    check_batch_norm_backward,
};

/// The channel views of an `[N, C, *]` input and of its contiguous output.
struct Channels {
    dims: Vec<usize>,
    /// Elements per channel (`N * prod(*)`).
    count: usize,
}

impl Channels {
    /// The channels of an input already checked to be `[N, C, *]` (`check_batch_norm*`).
    fn of(layout: &Layout) -> Self {
        let dims = layout.dims().to_vec();
        let count = layout.numel().checked_div(dims[1]).unwrap_or(0);
        Channels { dims, count }
    }

    fn channels(&self) -> usize {
        self.dims[1]
    }

    /// A walk over channel `c` of `layouts` (all of the input's shape), in the same order.
    fn walk<const K: usize>(&self, layouts: [&Layout; K], c: usize) -> Result<Walk<K>> {
        let selected: Vec<Layout> = layouts
            .iter()
            .map(|l| l.select(1, c))
            .collect::<Result<_>>()?;
        Ok(Walk::new(std::array::from_fn(|k| &selected[k])))
    }
}

/// Runs `f(c)` for every channel, in parallel unless the work is small; results in order.
fn per_channel<R: Send>(
    channels: usize,
    work: usize,
    f: impl Fn(usize) -> Result<R> + Sync + Send,
) -> Result<Vec<R>> {
    if work < PAR_THRESHOLD {
        (0..channels).map(f).collect()
    } else {
        (0..channels).into_par_iter().map(f).collect()
    }
}

/// A `[C]` parameter: its `c`-th element as `f64`, or `default` when absent.
fn param<T: Native>(p: Option<&(&[T], &Layout)>, c: usize, default: f64) -> f64 {
    p.map_or(default, |(data, l)| {
        data[l.offset() + c * l.strides()[0]].to_f64()
    })
}

/// A `[C]` storage of the compute type of `T` holding `values` (the saved statistics).
fn saved_storage<T: FloatStore>(values: &[f64]) -> CpuStorage {
    if T::DTYPE == DType::F64 {
        from_vec(values.to_vec())
    } else {
        from_vec(values.iter().map(|&v| v as f32).collect::<Vec<f32>>())
    }
}

/// The values of a saved `[C]` statistic (checked by `BatchNormSaved::check`) as `f64`.
fn saved_values(op: &'static str, s: &CpuStorage) -> Result<Vec<f64>> {
    if s.dtype() == DType::F32 {
        Ok(s.data::<f32>(op)?.iter().map(|&v| v as f64).collect())
    } else {
        Ok(s.data::<f64>(op)?.to_vec())
    }
}

/// `Σ f(x)` over one contiguous run, in 8 `f64` lanes (vectorizes; a fixed order).
#[inline(always)]
fn run_sum<T: FloatStore>(xs: &[T], f: impl Fn(f64) -> f64) -> f64 {
    let mut lanes = [0f64; 8];
    let chunks = xs.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for (l, &x) in lanes.iter_mut().zip(c) {
            *l += f(x.up().f64());
        }
    }
    lanes.iter().sum::<f64>() + rest.iter().map(|&x| f(x.up().f64())).sum::<f64>()
}

/// `Σ f(x)` over a channel.
#[inline(always)]
fn channel_sum<T: FloatStore>(data: &[T], walk: &Walk<1>, f: impl Fn(f64) -> f64 + Copy) -> f64 {
    let [s] = walk.inner();
    let mut total = 0.0;
    walk.runs(0, walk.numel(), |[o], len| {
        total += if s == 1 {
            run_sum(&data[o..o + len], f)
        } else {
            (0..len).map(|j| f(data[o + j * s].up().f64())).sum::<f64>()
        };
    });
    total
}

/// `(Σ g, Σ (x - mean) g)` over one contiguous run, in 8 `f64` lanes (a fixed order).
#[inline(always)]
fn run_grad_sums<T: FloatStore>(xs: &[T], gs: &[T], mean: f64) -> (f64, f64) {
    let mut lanes = [[0f64; 2]; 8];
    let (xc, gc) = (xs.chunks_exact(8), gs.chunks_exact(8));
    let (xr, gr) = (xc.remainder(), gc.remainder());
    for (xa, ga) in xc.zip(gc) {
        for ((l, &xv), &gv) in lanes.iter_mut().zip(xa).zip(ga) {
            let gv = gv.up().f64();
            l[0] += gv;
            l[1] += (xv.up().f64() - mean) * gv;
        }
    }
    let (mut sum, mut dot) = (0.0, 0.0);
    for l in lanes {
        sum += l[0];
        dot += l[1];
    }
    for (&xv, &gv) in xr.iter().zip(gr) {
        let gv = gv.up().f64();
        sum += gv;
        dot += (xv.up().f64() - mean) * gv;
    }
    (sum, dot)
}

/// `(Σ g, Σ (x - mean) g)` over a channel (walk operands: output, input, gradient).
#[inline(always)]
fn channel_grad_sums<T: FloatStore>(x: &[T], g: &[T], walk: &Walk<3>, mean: f64) -> (f64, f64) {
    let [_, sx, sg] = walk.inner();
    let (mut sum, mut dot) = (0.0, 0.0);
    walk.runs(0, walk.numel(), |[_, ox, og], len| {
        if sx == 1 && sg == 1 {
            let (s, d) = run_grad_sums(&x[ox..ox + len], &g[og..og + len], mean);
            sum += s;
            dot += d;
        } else {
            for j in 0..len {
                let gv = g[og + j * sg].up().f64();
                sum += gv;
                dot += (x[ox + j * sx].up().f64() - mean) * gv;
            }
        }
    });
    (sum, dot)
}

/// `out[o] = f(a[i])` over a channel (walk operands: the contiguous output, an input). The
/// output's channel view has stride 1 along its runs for `[N, C, *]` with non-empty `*`, and
/// stride `C` for `[N, C]`.
#[inline(always)]
fn channel_map<T: FloatStore>(
    out: SendPtr<T>,
    a: &[T],
    walk: &Walk<2>,
    f: impl Fn(T::C) -> T::C + Copy,
) {
    let [so, sa] = walk.inner();
    walk.runs(0, walk.numel(), |[o, i], len| {
        let p = out.get();
        // SAFETY (both branches): the elements `o + k * so`, `k < len`, lie inside the output
        // (the walk is over one channel view of it) and belong to this channel, which only
        // this task writes.
        if so == 1 && sa == 1 {
            let dst = unsafe { std::slice::from_raw_parts_mut(p.add(o), len) };
            for (d, &x) in dst.iter_mut().zip(&a[i..i + len]) {
                *d = T::down(f(x.up()));
            }
        } else {
            for k in 0..len {
                unsafe { *p.add(o + k * so) = T::down(f(a[i + k * sa].up())) };
            }
        }
    });
}

/// `out[o] = f(a[i], b[j])` over a channel (walk operands: the contiguous output, two inputs).
#[inline(always)]
fn channel_map2<T: FloatStore>(
    out: SendPtr<T>,
    a: &[T],
    b: &[T],
    walk: &Walk<3>,
    f: impl Fn(T::C, T::C) -> T::C + Copy,
) {
    let [so, sa, sb] = walk.inner();
    walk.runs(0, walk.numel(), |[o, i, j], len| {
        let p = out.get();
        // SAFETY: as in `channel_map`.
        if so == 1 && sa == 1 && sb == 1 {
            let dst = unsafe { std::slice::from_raw_parts_mut(p.add(o), len) };
            for ((d, &x), &y) in dst.iter_mut().zip(&a[i..i + len]).zip(&b[j..j + len]) {
                *d = T::down(f(x.up(), y.up()));
            }
        } else {
            for k in 0..len {
                let v = f(a[i + k * sa].up(), b[j + k * sb].up());
                unsafe { *p.add(o + k * so) = T::down(v) };
            }
        }
    });
}

// ---------------------------------------------------------------- forward

/// `batch_norm`: see [`tiny_torch_core::Backend::batch_norm`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn batch_norm(
    input: View<'_, CpuStorage>,
    weight: Option<View<'_, CpuStorage>>,
    bias: Option<View<'_, CpuStorage>>,
    running_mean: Option<ViewMut<'_, CpuStorage>>,
    running_var: Option<ViewMut<'_, CpuStorage>>,
    training: bool,
    momentum: f64,
    eps: f64,
) -> Result<(CpuStorage, BatchNormSaved<CpuStorage>)> {
    let op = "batch_norm";
    check_batch_norm(
        input,
        weight,
        bias,
        running_mean.as_ref().map(ViewMut::as_view),
        running_var.as_ref().map(ViewMut::as_view),
        training,
    )?;
    let ch = Channels::of(input.layout);
    let dtype = input.storage.dtype();
    float_dispatch!(dtype, op, T => forward::<T>(
        &ch, input, weight, bias, running_mean, running_var, training, momentum, eps,
    ))
}

#[allow(clippy::too_many_arguments)]
fn forward<T: FloatStore>(
    ch: &Channels,
    input: View<'_, CpuStorage>,
    weight: Option<View<'_, CpuStorage>>,
    bias: Option<View<'_, CpuStorage>>,
    running_mean: Option<ViewMut<'_, CpuStorage>>,
    running_var: Option<ViewMut<'_, CpuStorage>>,
    training: bool,
    momentum: f64,
    eps: f64,
) -> Result<(CpuStorage, BatchNormSaved<CpuStorage>)> {
    let op = "batch_norm";
    let c = ch.channels();
    let x = input.storage.data::<T>(op)?;
    let weight = match &weight {
        Some(v) => Some((v.storage.data::<T>(op)?, v.layout)),
        None => None,
    };
    let bias = match &bias {
        Some(v) => Some((v.storage.data::<T>(op)?, v.layout)),
        None => None,
    };
    let mut running_mean = running_mean;
    let mut running_var = running_var;
    // The running statistics as read before the update (eval mode normalizes with them).
    let running = |v: &Option<ViewMut<'_, CpuStorage>>| -> Result<Option<Vec<f64>>> {
        let Some(v) = v else { return Ok(None) };
        let data = v.storage.data::<T>(op)?;
        let (off, s) = (v.layout.offset(), v.layout.strides()[0]);
        Ok(Some((0..c).map(|i| data[off + i * s].to_f64()).collect()))
    };
    let old_mean = running(&running_mean)?;
    let old_var = running(&running_var)?;

    let total = input.layout.numel();
    let mut out = alloc_typed::<T>(total)?;
    let dst = SendPtr::new(out.data_mut::<T>(op)?);
    let out_layout = Layout::contiguous(ch.dims.as_slice());
    let m = ch.count;
    // Eval mode normalizes with the running statistics (checked above: both present).
    let running_stats = |i: usize| {
        let mean = old_mean.as_ref().map_or(0.0, |v| v[i]);
        let var = old_var.as_ref().map_or(1.0, |v| v[i]);
        (mean, var)
    };
    // `out = x * alpha + beta` for channel `i` normalized with (mean, biased variance).
    let affine = |i: usize, (mean, var): (f64, f64)| {
        let invstd = 1.0 / (var + eps).sqrt();
        let alpha = invstd * param(weight.as_ref(), i, 1.0);
        let beta = param(bias.as_ref(), i, 0.0) - mean * alpha;
        (alpha, beta)
    };
    let stats = if let Some(dense) = Dense::of(&ch.dims, &[input.layout]) {
        let x = &x[input.layout.offset()..];
        dense.per_block(|block| {
            let stats: Vec<(f64, f64)> = if training {
                let sums = simd!(dense.sums(x, &block, |_, v| v));
                let means: Vec<f64> = sums.iter().map(|s| s / m as f64).collect();
                let squares = simd!(dense.sums(x, &block, |j, v| (v - means[j]) * (v - means[j])));
                let vars = squares.iter().map(|s| s / m as f64);
                means.iter().copied().zip(vars).collect()
            } else {
                block.clone().map(running_stats).collect()
            };
            let (alpha, beta): (Vec<f64>, Vec<f64>) = block
                .clone()
                .zip(&stats)
                .map(|(i, &s)| affine(i, s))
                .unzip();
            let (alpha, beta) = (coefficients::<T::C>(alpha), coefficients::<T::C>(beta));
            // SAFETY: `dst` holds the whole contiguous output; blocks are disjoint.
            simd!(unsafe {
                dense.map(dst, x, x, &block, |j| {
                    let (alpha, beta) = (alpha[j], beta[j]);
                    move |v, _| v * alpha + beta
                })
            });
            stats
        })
    } else {
        // Per channel: the statistics it normalizes with, then the output.
        per_channel(c, total, |i| -> Result<(f64, f64)> {
            let (mean, var) = if !training {
                running_stats(i)
            } else if m == 0 {
                (0.0, 0.0)
            } else {
                let walk = ch.walk([input.layout], i)?;
                let mean = simd!(channel_sum(x, &walk, |v| v)) / m as f64;
                let var = simd!(channel_sum(x, &walk, |v| (v - mean) * (v - mean))) / m as f64;
                (mean, var)
            };
            let (alpha, beta) = affine(i, (mean, var));
            let (alpha, beta) = (<T::C as Real>::of(alpha), <T::C as Real>::of(beta));
            let walk = ch.walk([&out_layout, input.layout], i)?;
            simd!(channel_map(dst, x, &walk, |v| v * alpha + beta));
            Ok((mean, var))
        })?
    };

    if training && m > 0 {
        // running = (1 - momentum) * running + momentum * batch, the variance unbiased.
        let unbiased = m as f64 / (m as f64 - 1.0);
        for (target, old, batch) in [
            (&mut running_mean, &old_mean, 0usize),
            (&mut running_var, &old_var, 1),
        ] {
            if let (Some(v), Some(old)) = (target.as_mut(), old) {
                let (off, s) = (v.layout.offset(), v.layout.strides()[0]);
                let data = v.storage.data_mut::<T>(op)?;
                for (i, &(mean, var)) in stats.iter().enumerate() {
                    let value = if batch == 0 { mean } else { var * unbiased };
                    data[off + i * s] = T::from_f64(momentum * value + (1.0 - momentum) * old[i]);
                }
            }
        }
    }
    let means: Vec<f64> = stats.iter().map(|s| s.0).collect();
    let invstds: Vec<f64> = stats
        .iter()
        .map(|&(_, var)| {
            if training && m == 0 {
                0.0
            } else {
                1.0 / (var + eps).sqrt()
            }
        })
        .collect();
    Ok((
        out,
        BatchNormSaved {
            mean: saved_storage::<T>(&means),
            invstd: saved_storage::<T>(&invstds),
            eps,
        },
    ))
}

// ---------------------------------------------------------------- backward

/// `batch_norm_backward`: see [`tiny_torch_core::Backend::batch_norm_backward`]. In training
/// (PyTorch's formula through the batch statistics), with `M` elements per channel,
/// `k = Σ (x - mean) g * invstd² / M` and
/// `dx = (g - Σ g / M - (x - mean) k) * invstd * weight`; in evaluation the statistics are
/// constants and `dx = g * invstd * weight`. Always `dweight = Σ (x - mean) g * invstd` and
/// `dbias = Σ g`.
pub(crate) fn batch_norm_backward(
    grad_output: View<'_, CpuStorage>,
    input: View<'_, CpuStorage>,
    weight: Option<View<'_, CpuStorage>>,
    saved: &BatchNormSaved<CpuStorage>,
    training: bool,
) -> Result<(CpuStorage, CpuStorage, CpuStorage)> {
    let op = "batch_norm_backward";
    check_batch_norm_backward(grad_output, input, weight, saved)?;
    let ch = Channels::of(input.layout);
    let dtype = input.storage.dtype();
    let mean = saved_values(op, &saved.mean)?;
    let invstd = saved_values(op, &saved.invstd)?;
    float_dispatch!(dtype, op, T => backward::<T>(
        &ch, grad_output, input, weight, &mean, &invstd, training,
    ))
}

fn backward<T: FloatStore>(
    ch: &Channels,
    grad_output: View<'_, CpuStorage>,
    input: View<'_, CpuStorage>,
    weight: Option<View<'_, CpuStorage>>,
    mean: &[f64],
    invstd: &[f64],
    training: bool,
) -> Result<(CpuStorage, CpuStorage, CpuStorage)> {
    let op = "batch_norm_backward";
    let c = ch.channels();
    let x = input.storage.data::<T>(op)?;
    let g = grad_output.storage.data::<T>(op)?;
    let weight = match &weight {
        Some(v) => Some((v.storage.data::<T>(op)?, v.layout)),
        None => None,
    };
    let total = input.layout.numel();
    let mut grad_input = alloc_typed::<T>(total)?;
    let dst = SendPtr::new(grad_input.data_mut::<T>(op)?);
    let out_layout = Layout::contiguous(ch.dims.as_slice());
    let m = ch.count as f64;
    let dense = Dense::of(&ch.dims, &[input.layout, grad_output.layout]);
    let sums = if let Some(dense) = dense {
        let (x, g) = (
            &x[input.layout.offset()..],
            &g[grad_output.layout.offset()..],
        );
        dense.per_block(|block| {
            let means = &mean[block.clone()];
            let sums = simd!(dense.grad_sums(x, g, &block, means));
            let scale = block
                .clone()
                .map(|i| invstd[i] * param(weight.as_ref(), i, 1.0));
            let scale = coefficients::<T::C>(scale);
            if training {
                let k = block
                    .clone()
                    .zip(&sums)
                    .map(|(i, &(_, dot))| dot * invstd[i] * invstd[i] / m);
                let k = coefficients::<T::C>(k);
                let grad_mean = coefficients::<T::C>(sums.iter().map(|&(sum, _)| sum / m));
                let mu = coefficients::<T::C>(means.iter().copied());
                // SAFETY: `dst` holds the whole contiguous gradient; blocks are disjoint.
                simd!(unsafe {
                    dense.map(dst, x, g, &block, |j| {
                        let (grad_mean, mu, k, scale) = (grad_mean[j], mu[j], k[j], scale[j]);
                        move |xv, gv| (gv - grad_mean - (xv - mu) * k) * scale
                    })
                });
            } else {
                // SAFETY: as above.
                simd!(unsafe {
                    dense.map(dst, g, g, &block, |j| {
                        let scale = scale[j];
                        move |gv, _| gv * scale
                    })
                });
            }
            sums
        })
    } else {
        per_channel(c, total, |i| -> Result<(f64, f64)> {
            let walk = ch.walk([&out_layout, input.layout, grad_output.layout], i)?;
            let (sum, dot) = simd!(channel_grad_sums(x, g, &walk, mean[i]));
            let scale = invstd[i] * param(weight.as_ref(), i, 1.0);
            if training {
                let k = <T::C as Real>::of(dot * invstd[i] * invstd[i] / m);
                let grad_mean = <T::C as Real>::of(sum / m);
                let (mu, scale) = (<T::C as Real>::of(mean[i]), <T::C as Real>::of(scale));
                simd!(channel_map2(dst, x, g, &walk, |xv, gv| {
                    (gv - grad_mean - (xv - mu) * k) * scale
                }));
            } else {
                let scale = <T::C as Real>::of(scale);
                let walk = ch.walk([&out_layout, grad_output.layout], i)?;
                simd!(channel_map(dst, g, &walk, |gv| gv * scale));
            }
            Ok((sum, dot))
        })?
    };
    let grad_weight: Vec<T> = sums
        .iter()
        .zip(invstd)
        .map(|(&(_, dot), &s)| T::from_f64(dot * s))
        .collect();
    let grad_bias: Vec<T> = sums.iter().map(|&(sum, _)| T::from_f64(sum)).collect();
    Ok((grad_input, from_vec(grad_weight), from_vec(grad_bias)))
}
