//! Page-locked ("pinned") host memory for host-to-device copies, after PyTorch's
//! CachingHostAllocator.
//!
//! A copy from ordinary (pageable) host memory cannot be left to run on the stream: the caller
//! may free the bytes as soon as the call returns, and the driver stages pageable copies
//! through its own buffers, waiting for the stream to reach them. So such a copy waits for
//! every kernel queued before it, and an input batch uploaded at the start of a training step
//! waits for the whole previous step. Here the bytes are copied (by the CPU) into a pinned
//! block, the DMA transfer out of it is queued on the device's stream, and the call returns at
//! once; an event recorded after the transfer says when the block may be reused.
//!
//! Blocks are kept and reused: sizes are powers of two of at least 64 KiB, and a copy takes an
//! idle block of exactly its size (so a small upload never holds a large block), up to
//! [`PINNED_CAP`] bytes per device. At the cap the idle blocks are freed and the allocation
//! tried again; if that is not enough, or the driver refuses to pin memory (then not asked
//! again until `empty_cache`), the copy goes the pageable, waiting way. `empty_cache` frees the
//! idle blocks.

use crate::compile::backend_error;
use crate::device::{CudaDevice, lock};
use cudarc::driver::{result, sys};
use tiny_torch_core::Result;

/// The most pinned bytes a device keeps (two ImageNet batches of 256 in f32, 147 MiB each, in
/// flight at once take two 256 MiB blocks).
pub(crate) const PINNED_CAP: usize = 1 << 30;

/// The smallest block: small copies share a few blocks instead of allocating many.
const MIN_BLOCK: usize = 64 << 10;

/// What a block is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Idle,
    /// Being filled by a host thread (not yet on the stream).
    Filling,
    /// Its transfer is queued; idle once `event` has completed.
    InFlight,
}

struct Block {
    ptr: *mut u8,
    bytes: usize,
    /// Recorded on the stream after the transfer out of the block.
    event: sys::CUevent,
    state: State,
}

/// One device's pinned blocks.
#[derive(Default)]
pub(crate) struct PinnedPool {
    blocks: Vec<Block>,
    reserved: usize,
    /// The driver refused to pin memory: copies go the pageable way until `empty_cache`.
    refused: bool,
}

// SAFETY: the blocks are host allocations owned by the pool, used under the device's mutex
// (a `Filling` block by the one thread that took it).
unsafe impl Send for PinnedPool {}

/// Where a copy of some bytes is staged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Staging {
    /// The idle block at this index.
    Reuse(usize),
    /// A new block of this many bytes.
    Allocate(usize),
    /// None: copy from the caller's memory and wait.
    Pageable,
}

/// The size of the block a copy of `bytes` gets.
pub(crate) fn block_size(bytes: usize) -> usize {
    bytes.max(MIN_BLOCK).next_power_of_two()
}

/// Where to stage `bytes`, given each block's `(size, idle)` and the bytes reserved: an idle
/// block of its size, else a new one if it stays within `cap`.
pub(crate) fn choose(
    blocks: &[(usize, bool)],
    reserved: usize,
    bytes: usize,
    cap: usize,
) -> Staging {
    let size = block_size(bytes);
    if let Some(i) = blocks.iter().position(|&b| b == (size, true)) {
        return Staging::Reuse(i);
    }
    if reserved + size <= cap {
        Staging::Allocate(size)
    } else {
        Staging::Pageable
    }
}

impl PinnedPool {
    /// Marks the in-flight blocks whose transfer has completed idle.
    fn refresh(&mut self) {
        for block in &mut self.blocks {
            // SAFETY: a live event (a transfer recorded it; NOT_READY while it runs).
            if block.state == State::InFlight
                && unsafe { result::event::query(block.event) }.is_ok()
            {
                block.state = State::Idle;
            }
        }
    }

    fn choose(&self, bytes: usize) -> Staging {
        let sizes: Vec<(usize, bool)> = self
            .blocks
            .iter()
            .map(|b| (b.bytes, b.state == State::Idle))
            .collect();
        choose(&sizes, self.reserved, bytes, PINNED_CAP)
    }

    /// Takes a block for `bytes` (marked `Filling`), allocating one if needed: its address and
    /// event, or `None` when the copy should go the pageable way (cap reached, or pinning
    /// refused). The caller has bound the device's context.
    fn take(&mut self, bytes: usize) -> Option<(*mut u8, sys::CUevent)> {
        if self.refused {
            return None;
        }
        self.refresh();
        let mut staging = self.choose(bytes);
        if staging == Staging::Pageable {
            // At the cap: the idle blocks (of other sizes) make room.
            self.free_idle();
            staging = self.choose(bytes);
        }
        let index = match staging {
            Staging::Reuse(i) => i,
            Staging::Allocate(size) => {
                // SAFETY: a plain page-locked host allocation on the bound context.
                let Ok(ptr) = (unsafe { result::malloc_host(size, 0) }) else {
                    self.refused = true;
                    return None;
                };
                let ptr = ptr as *mut u8;
                let event = match result::event::create(sys::CUevent_flags::CU_EVENT_DISABLE_TIMING)
                {
                    Ok(event) => event,
                    Err(_) => {
                        // SAFETY: allocated just above, used by nothing.
                        unsafe {
                            let _ = result::free_host(ptr.cast());
                        }
                        return None;
                    }
                };
                self.reserved += size;
                self.blocks.push(Block {
                    ptr,
                    bytes: size,
                    event,
                    state: State::Idle,
                });
                self.blocks.len() - 1
            }
            Staging::Pageable => return None,
        };
        let block = &mut self.blocks[index];
        block.state = State::Filling;
        Some((block.ptr, block.event))
    }

    /// Sets the state of the block at `ptr` (taken by [`take`](Self::take)).
    fn set_state(&mut self, ptr: *mut u8, state: State) {
        if let Some(block) = self.blocks.iter_mut().find(|b| b.ptr == ptr) {
            block.state = state;
        }
    }

    /// Frees every idle block (those whose transfer has completed; `empty_cache` synchronizes
    /// the stream first, so there that is all but those other threads queue meanwhile), and
    /// lets pinning be tried again.
    pub(crate) fn free_idle(&mut self) {
        self.refused = false;
        self.refresh();
        let reserved = &mut self.reserved;
        self.blocks.retain(|block| {
            if block.state != State::Idle {
                return true;
            }
            // SAFETY: an idle block belongs to no transfer; its event was recorded at most by
            // a completed one.
            unsafe {
                let _ = result::event::destroy(block.event);
                let _ = result::free_host(block.ptr.cast());
            }
            *reserved -= block.bytes;
            false
        });
    }

    pub(crate) fn reserved(&self) -> usize {
        self.reserved
    }
}

/// Copies `bytes` to device address `dst` (a block that holds them), queued on the device's
/// stream: through a pinned block without waiting, or, when none can be had, directly and
/// waiting for the stream.
pub(crate) fn copy_to_device(
    device: &CudaDevice,
    dst: sys::CUdeviceptr,
    bytes: &[u8],
) -> Result<()> {
    device.bind()?;
    let stream = device.stream.cu_stream();
    let taken = lock(&device.pinned).take(bytes.len());
    let Some((ptr, event)) = taken else {
        // SAFETY: `dst` holds `bytes.len()` bytes; the stream is synchronized before `bytes`
        // may be freed by the caller.
        unsafe { result::memcpy_htod_async(dst, bytes, stream) }
            .map_err(|e| backend_error(format!("copying to cuda:{}: {e}", device.ordinal)))?;
        return device
            .stream
            .synchronize()
            .map_err(|e| backend_error(format!("synchronizing: {e}")));
    };
    // SAFETY: the block holds at least `bytes.len()` bytes and is `Filling`: this thread's
    // alone until its state changes below (`free_idle` keeps it).
    let staged = unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), ptr, bytes.len());
        std::slice::from_raw_parts(ptr, bytes.len())
    };
    // SAFETY: `dst` holds the bytes; the block stays allocated and untouched until `event`,
    // recorded after the transfer, has completed.
    let queued = unsafe {
        result::memcpy_htod_async(dst, staged, stream)
            .and_then(|()| result::event::record(event, stream))
    };
    match queued {
        Ok(()) => {
            lock(&device.pinned).set_state(ptr, State::InFlight);
            Ok(())
        }
        Err(e) => {
            // A transfer may have been queued without its event: wait for the stream before
            // the block is handed out again.
            let _ = device.stream.synchronize();
            lock(&device.pinned).set_state(ptr, State::Idle);
            Err(backend_error(format!(
                "copying to cuda:{}: {e}",
                device.ordinal
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_powers_of_two_of_at_least_64_kib() {
        assert_eq!(block_size(0), 64 << 10);
        assert_eq!(block_size(1), 64 << 10);
        assert_eq!(block_size(64 << 10), 64 << 10);
        assert_eq!(block_size((64 << 10) + 1), 128 << 10);
        // One ImageNet batch of 256 in f32: 147 MiB in a 256 MiB block.
        assert_eq!(block_size(256 * 3 * 224 * 224 * 4), 256 << 20);
    }

    #[test]
    fn an_idle_block_of_the_copy_s_size_is_reused() {
        let blocks = [
            (1 << 20, true),
            (256 << 10, false),
            (256 << 10, true),
            (64 << 10, true),
        ];
        // 200 KiB: the busy 256 KiB block is passed over for the idle one.
        assert_eq!(choose(&blocks, 0, 200 << 10, 1 << 30), Staging::Reuse(2));
        assert_eq!(choose(&blocks, 0, 10, 1 << 30), Staging::Reuse(3));
        assert_eq!(choose(&blocks, 0, 1 << 20, 1 << 30), Staging::Reuse(0));
        // 300 KiB: no idle 512 KiB block (the 1 MiB one is not taken): a new block, if the
        // cap allows.
        assert_eq!(
            choose(&blocks, 2 << 20, 300 << 10, 4 << 20),
            Staging::Allocate(512 << 10)
        );
        assert_eq!(
            choose(&blocks, 3 << 20, (1 << 20) + 1, 4 << 20),
            Staging::Pageable
        );
        assert_eq!(choose(&[], 0, 0, 1 << 30), Staging::Allocate(64 << 10));
    }
}
