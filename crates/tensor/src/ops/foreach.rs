//! Multi-tensor ("foreach") ops: one op over lists of tensors, PyTorch's `torch._foreach_*`.
//!
//! An optimizer step applies the same few element-wise updates to every parameter. Where a
//! launch costs more than a small tensor's work (CUDA: a ResNet-50 has 161 parameters, most of
//! them a few thousand elements), one launch per list rather than one per tensor is most of
//! the step's time, which is why PyTorch's optimizers default to their foreach forms on GPUs.

use crate::Tensor;
use std::collections::{HashMap, HashSet};
use std::sync::{RwLockReadGuard, RwLockWriteGuard};
use tiny_torch_core::{Backend, DType, Device, Error, Result, View, ViewMut};

impl<B: Backend> Tensor<B> {
    /// `dst = alpha * dst + beta * src` in place for each pair of `dsts` and `srcs`: what
    /// `dst.scaled_add_(alpha, src, beta)` does for each pair in turn, PyTorch's
    /// `torch._foreach_mul_(dsts, alpha)` then `torch._foreach_add_(dsts, srcs, alpha=beta)`.
    ///
    /// Every pair's devices, shapes, writability and autograd state are checked before any
    /// tensor changes (a dtype that cannot hold its update, such as an integer destination
    /// with a fractional `alpha`, fails only when its pair runs, as `scaled_add_` would).
    ///
    /// Pairs of one float dtype and one shape, outside autograd, whose storages no other pair
    /// writes, go to the backend's fused `scaled_add_foreach`, one call per device and dtype
    /// (CUDA: one launch for up to 64 tensors). The rest, and every pair on a backend without
    /// a fused update, run as `scaled_add_`, in list order.
    pub fn foreach_scaled_add_(
        dsts: &[Tensor<B>],
        alpha: f64,
        srcs: &[Tensor<B>],
        beta: f64,
    ) -> Result<()> {
        const NAME: &str = "foreach_scaled_add_";
        if dsts.len() != srcs.len() {
            return Err(Error::invalid(
                NAME,
                format!(
                    "expected as many sources as destinations, got {} destinations and {} \
                     sources",
                    dsts.len(),
                    srcs.len()
                ),
            ));
        }
        let mut fusable = Vec::with_capacity(dsts.len());
        for (dst, src) in dsts.iter().zip(srcs) {
            dst.check_same_device(NAME, src)?;
            dst.check_writable(NAME)?;
            src.layout().expand(dst.dims()).map_err(|_| {
                Error::shape(
                    NAME,
                    format!(
                        "source of shape {} doesn't broadcast to its destination's shape {}",
                        src.shape(),
                        dst.shape()
                    ),
                )
            })?;
            let recorded = dst.check_inplace(NAME, &[src])?;
            fusable.push(
                !recorded
                    && dst.dtype().is_float()
                    && src.dtype() == dst.dtype()
                    && src.dims() == dst.dims(),
            );
        }
        // A storage that one pair writes and another pair reads or writes stays out of the
        // fused call: it would hold that storage's lock twice, and `scaled_add_` copies an
        // operand that shares its destination's storage first.
        let mut writers: HashMap<usize, usize> = HashMap::new();
        for dst in dsts {
            *writers.entry(dst.storage_id()).or_default() += 1;
        }
        let read: HashSet<usize> = srcs.iter().map(Tensor::storage_id).collect();
        let mut groups: Vec<((Device, DType), Vec<usize>)> = Vec::new();
        let mut one_by_one = Vec::new();
        for (i, (dst, src)) in dsts.iter().zip(srcs).enumerate() {
            let alone = writers[&dst.storage_id()] == 1
                && !read.contains(&dst.storage_id())
                && !writers.contains_key(&src.storage_id());
            if !(fusable[i] && alone) {
                one_by_one.push(i);
                continue;
            }
            let key = (dst.device(), dst.dtype());
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, members)) => members.push(i),
                None => groups.push((key, vec![i])),
            }
        }
        for (_, members) in groups {
            match fused_scaled_add(dsts, alpha, srcs, beta, &members) {
                // No fused update on this backend: the pairs go one by one.
                Err(Error::Unsupported { .. }) => one_by_one.extend(members),
                done => done?,
            }
        }
        one_by_one.sort_unstable();
        for i in one_by_one {
            dsts[i].scaled_add_(alpha, &srcs[i], beta)?;
        }
        Ok(())
    }
}

/// One `Backend::scaled_add_foreach` call for the pairs `members` (one device and dtype, each
/// destination's storage written by no other pair and read by none).
fn fused_scaled_add<B: Backend>(
    dsts: &[Tensor<B>],
    alpha: f64,
    srcs: &[Tensor<B>],
    beta: f64,
    members: &[usize],
) -> Result<()> {
    let mut written: Vec<RwLockWriteGuard<'_, B::Storage>> =
        members.iter().map(|&i| dsts[i].storage_mut()).collect();
    // Sources may share storages among themselves (views of one buffer): one read lock each.
    let mut read: Vec<RwLockReadGuard<'_, B::Storage>> = Vec::new();
    let mut slot_of: HashMap<usize, usize> = HashMap::new();
    let slots: Vec<usize> = members
        .iter()
        .map(|&i| {
            *slot_of.entry(srcs[i].storage_id()).or_insert_with(|| {
                read.push(srcs[i].storage());
                read.len() - 1
            })
        })
        .collect();
    let pairs = written
        .iter_mut()
        .zip(members.iter().zip(slots))
        .map(|(storage, (&i, slot))| {
            (
                ViewMut::new(&mut **storage, dsts[i].layout()),
                View::new(&*read[slot], srcs[i].layout()),
            )
        })
        .collect();
    dsts[members[0]]
        .backend()
        .scaled_add_foreach(pairs, alpha, beta)
}
