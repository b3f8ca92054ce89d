//! `Backend::scaled_add_foreach`: `dst = alpha * dst + beta * src` over a list of pairs in a
//! few launches (`scaled_add_foreach_<dtype>` in kernels/binary.cu), as PyTorch's
//! `multi_tensor_apply` runs its foreach optimizers.
//!
//! A ResNet-50 SGD step updates 161 parameters, most of them a few thousand elements: one
//! launch each costs microseconds of host and launch time for nanoseconds of work. Here a
//! launch carries up to [`FOREACH_TENSORS`] pairs, split into chunks of [`FOREACH_CHUNK`]
//! elements, one block per chunk, up to [`FOREACH_BLOCKS`] blocks; the table of addresses,
//! lengths and chunks travels in the kernel's arguments (3.5 KiB, under the 4 KiB every driver
//! accepts), so a launch needs no copy. Pairs that are not both contiguous go to `scaled_add`,
//! one launch each.

use crate::Cuda;
use crate::binary::scaled_add;
use crate::launch::{dtype_suffix, launch_error};
use crate::storage::CudaStorage;
use cudarc::driver::{DeviceRepr, LaunchConfig, PushKernelArg};
use tiny_torch_core::{
    BackendStorage, Error, Result, ScaledAddPair, check_extent, check_scaled_add_dtypes,
};

/// Pairs one launch carries (`FOREACH_TENSORS` in binary.cu).
const FOREACH_TENSORS: usize = 64;
/// Blocks of one launch (`FOREACH_BLOCKS`).
const FOREACH_BLOCKS: usize = 256;
/// Elements one block updates (`FOREACH_CHUNK`): PyTorch's chunk size.
const FOREACH_CHUNK: usize = 65536;
/// Threads of a block (`FOREACH_THREADS`): with 16-byte packs and 4 packs in flight per
/// thread, a chunk of f32 is eight steps of the block.
const THREADS: u32 = 512;

/// `struct ForeachPairs` of binary.cu, passed by value.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
struct ForeachPairs {
    dst: [u64; FOREACH_TENSORS],
    src: [u64; FOREACH_TENSORS],
    len: [i64; FOREACH_TENSORS],
    tensor_of_block: [i32; FOREACH_BLOCKS],
    chunk_of_block: [i32; FOREACH_BLOCKS],
}

// SAFETY: a plain `repr(C)` struct of integers, the same layout as binary.cu's `ForeachPairs`.
unsafe impl DeviceRepr for ForeachPairs {}

/// One contiguous pair: the device addresses of their first elements, and their length.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Span {
    dst: u64,
    src: u64,
    len: usize,
}

/// A launch being filled: its table and how many pairs and blocks it holds.
#[derive(Clone, Debug, PartialEq)]
struct Launch {
    pairs: ForeachPairs,
    tensors: usize,
    blocks: usize,
}

impl Launch {
    fn empty() -> Self {
        Launch {
            pairs: ForeachPairs {
                dst: [0; FOREACH_TENSORS],
                src: [0; FOREACH_TENSORS],
                len: [0; FOREACH_TENSORS],
                tensor_of_block: [0; FOREACH_BLOCKS],
                chunk_of_block: [0; FOREACH_BLOCKS],
            },
            tensors: 0,
            blocks: 0,
        }
    }

    fn add_pair(&mut self, span: Span) {
        let t = self.tensors;
        self.pairs.dst[t] = span.dst;
        self.pairs.src[t] = span.src;
        self.pairs.len[t] = span.len as i64;
        self.tensors += 1;
    }
}

/// The launches that update `spans`: every chunk of every non-empty span in exactly one block.
/// A span whose chunks do not fit in one launch's blocks continues in the next, whose table
/// lists it again.
fn plan(spans: &[Span]) -> Vec<Launch> {
    let mut launches = Vec::new();
    let mut current = Launch::empty();
    for &span in spans.iter().filter(|s| s.len > 0) {
        if current.tensors == FOREACH_TENSORS {
            launches.push(std::mem::replace(&mut current, Launch::empty()));
        }
        current.add_pair(span);
        for chunk in 0..span.len.div_ceil(FOREACH_CHUNK) {
            if current.blocks == FOREACH_BLOCKS {
                launches.push(std::mem::replace(&mut current, Launch::empty()));
                current.add_pair(span);
            }
            let b = current.blocks;
            current.pairs.tensor_of_block[b] = (current.tensors - 1) as i32;
            current.pairs.chunk_of_block[b] = chunk as i32;
            current.blocks += 1;
        }
    }
    if current.blocks > 0 {
        launches.push(current);
    }
    launches
}

/// `dst = alpha * dst + beta * src` for every pair (one float dtype; the tensor layer groups
/// pairs by dtype and device and keeps overlapping ones out).
pub(crate) fn scaled_add_foreach(
    cuda: &Cuda,
    pairs: Vec<ScaledAddPair<'_, CudaStorage>>,
    alpha: f64,
    beta: f64,
) -> Result<()> {
    let Some((first, _)) = pairs.first() else {
        return Ok(());
    };
    let dtype = first.storage.dtype();
    for (dst, src) in &pairs {
        check_scaled_add_dtypes(dst.storage.dtype(), src.storage.dtype(), "cuda")?;
        if dst.storage.dtype() != dtype {
            return Err(Error::DType {
                op: "scaled_add_foreach",
                expected: format!("every pair of the first pair's dtype {dtype}"),
                got: dst.storage.dtype(),
            });
        }
    }
    // The kernel first: an error here must come before any pair is updated (the tensor
    // layer runs the pairs one by one after an `Unsupported`).
    let device = cuda.device();
    let name = format!("scaled_add_foreach_{}", dtype_suffix(dtype));
    let func = device.function("binary", &name)?;
    let mut spans = Vec::with_capacity(pairs.len());
    for (dst, src) in pairs {
        let dense = dst.layout.is_contiguous()
            && src.layout.is_contiguous()
            && dst.layout.dims() == src.layout.dims();
        if !dense {
            scaled_add(cuda, dst, src, alpha, beta)?;
            continue;
        }
        check_extent("scaled_add_foreach", dst.layout, dst.storage.len())?;
        check_extent("scaled_add_foreach", src.layout, src.storage.len())?;
        spans.push(Span {
            dst: dst.storage.ptr_at(dst.layout.offset()),
            src: src.storage.ptr_at(src.layout.offset()),
            len: dst.layout.numel(),
        });
    }
    for launch in plan(&spans) {
        let config = LaunchConfig {
            grid_dim: (launch.blocks as u32, 1, 1),
            block_dim: (THREADS, 1, 1),
            shared_mem_bytes: 0,
        };
        let mut args = device.stream.launch_builder(&func);
        args.arg(&launch.pairs).arg(&alpha).arg(&beta);
        // SAFETY: the arguments match `scaled_add_foreach_*` in binary.cu (ForeachPairs,
        // double alpha, double beta); each listed span lies inside its storage (checked
        // above), blocks name only listed spans and chunks inside them (`plan`), and no
        // destination overlaps another operand (the trait's contract).
        unsafe { args.launch(config) }.map_err(|e| launch_error(&name, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(i: u64, len: usize) -> Span {
        Span {
            dst: 1000 * i,
            src: 1000 * i + 1,
            len,
        }
    }

    /// Every chunk of every span exactly once, within each launch's limits, and each block's
    /// table entry names its span's addresses and length.
    fn check_cover(spans: &[Span], launches: &[Launch]) {
        let mut seen: Vec<Vec<usize>> = spans
            .iter()
            .map(|s| vec![0; s.len.div_ceil(FOREACH_CHUNK)])
            .collect();
        for launch in launches {
            assert!(launch.tensors <= FOREACH_TENSORS && launch.blocks <= FOREACH_BLOCKS);
            assert!(launch.blocks > 0);
            for b in 0..launch.blocks {
                let t = launch.pairs.tensor_of_block[b] as usize;
                assert!(t < launch.tensors);
                let i = spans
                    .iter()
                    .position(|s| s.dst == launch.pairs.dst[t])
                    .unwrap();
                assert_eq!(launch.pairs.src[t], spans[i].src);
                assert_eq!(launch.pairs.len[t], spans[i].len as i64);
                seen[i][launch.pairs.chunk_of_block[b] as usize] += 1;
            }
        }
        for (i, chunks) in seen.iter().enumerate() {
            assert!(chunks.iter().all(|&n| n == 1), "span {i}: {chunks:?}");
        }
    }

    #[test]
    fn small_lists_take_one_launch() {
        let spans: Vec<Span> = (1..=3).map(|i| span(i, 10 * i as usize)).collect();
        let launches = plan(&spans);
        assert_eq!(launches.len(), 1);
        assert_eq!((launches[0].tensors, launches[0].blocks), (3, 3));
        check_cover(&spans, &launches);
    }

    #[test]
    fn empty_spans_take_no_block() {
        let spans = [span(1, 0), span(2, 5), span(3, 0)];
        let launches = plan(&spans);
        assert_eq!((launches[0].tensors, launches[0].blocks), (1, 1));
        assert!(plan(&[span(1, 0)]).is_empty());
        assert!(plan(&[]).is_empty());
    }

    #[test]
    fn the_tensor_limit_starts_a_new_launch() {
        let spans: Vec<Span> = (1..=150).map(|i| span(i, 7)).collect();
        let launches = plan(&spans);
        let tensors: Vec<usize> = launches.iter().map(|l| l.tensors).collect();
        assert_eq!(tensors, [64, 64, 22]);
        check_cover(&spans, &launches);
    }

    #[test]
    fn a_span_continues_across_the_block_limit() {
        // 300 chunks of one span, then a small one: 256 blocks, then 44 + 1.
        let spans = [
            span(1, 300 * FOREACH_CHUNK - 3),
            span(2, FOREACH_CHUNK + 1),
            span(3, 1),
        ];
        let launches = plan(&spans);
        let shape: Vec<(usize, usize)> = launches.iter().map(|l| (l.tensors, l.blocks)).collect();
        assert_eq!(shape, [(1, 256), (3, 47)]);
        check_cover(&spans, &launches);
    }

    #[test]
    fn mixed_lists_fill_their_launches() {
        // Sizes as in a ResNet's parameters (biases, 1x1 and 3x3 weights), 161 of them: a new
        // launch starts only when one of the two limits is reached.
        let sizes = [
            64, 4096, 36864, 256, 147456, 65536, 589824, 512, 2359296, 1048576,
        ];
        let spans: Vec<Span> = (0..161)
            .map(|i| span(i as u64 + 1, sizes[i % sizes.len()]))
            .collect();
        let launches = plan(&spans);
        check_cover(&spans, &launches);
        for launch in &launches[..launches.len() - 1] {
            assert!(launch.tensors == FOREACH_TENSORS || launch.blocks == FOREACH_BLOCKS);
        }
        let blocks: usize = spans.iter().map(|s| s.len.div_ceil(FOREACH_CHUNK)).sum();
        assert!(
            launches.len() <= blocks.div_ceil(FOREACH_BLOCKS) + 161usize.div_ceil(FOREACH_TENSORS)
        );
    }

    #[test]
    fn the_table_fits_the_launch_argument_limit() {
        assert!(std::mem::size_of::<ForeachPairs>() + 16 <= 4096);
    }
}
