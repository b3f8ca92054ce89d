//! Device buffers and the stream-ordered caching allocator.
//!
//! As in PyTorch's CUDACachingAllocator, freed blocks are kept and reused instead of returned to
//! the driver (`cuMemAlloc`/`cuMemFree` are slow and `cuMemFree` synchronizes the device). Every
//! op of a device runs on its one stream, so a block freed by the host can be handed to the next
//! op at once: that op is queued after every op that used the block. Sizes are rounded to a
//! class (8 classes per power of two, at least 512 bytes) so blocks are found by exact class.

use crate::compile::backend_error;
use crate::device::{CudaDevice, lock};
use cudarc::driver::{result, sys};
use std::collections::BTreeMap;
use std::sync::Arc;
use tiny_torch_core::{BackendStorage, DType, Result};

/// A CUDA buffer of `len` elements of one dtype. Returns its block to the pool on drop.
pub struct CudaStorage {
    ptr: sys::CUdeviceptr,
    block_bytes: usize,
    dtype: DType,
    len: usize,
    device: Arc<CudaDevice>,
}

impl std::fmt::Debug for CudaStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CudaStorage(cuda:{}, {}, {} elements)",
            self.device.ordinal, self.dtype, self.len
        )
    }
}

impl BackendStorage for CudaStorage {
    fn dtype(&self) -> DType {
        self.dtype
    }
    fn len(&self) -> usize {
        self.len
    }
}

impl CudaStorage {
    /// Device address of element `index` (for cuBLAS and byte copies).
    pub(crate) fn ptr_at(&self, index: usize) -> sys::CUdeviceptr {
        self.ptr + (index * self.dtype.size_in_bytes()) as u64
    }

    /// Device address of element 0 (kernels add the layout's offset themselves).
    pub(crate) fn ptr(&self) -> sys::CUdeviceptr {
        self.ptr
    }
}

impl Drop for CudaStorage {
    fn drop(&mut self) {
        lock(&self.device.pool).release(self.ptr, self.block_bytes);
    }
}

/// Allocation statistics, as `torch.cuda.memory_stats` names them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryStats {
    /// Bytes in blocks held by live storages.
    pub allocated: usize,
    /// Bytes obtained from the driver: allocated plus cached.
    pub reserved: usize,
    /// The most `allocated` has been since the last reset.
    pub max_allocated: usize,
}

/// The free lists and counters of one device.
#[derive(Default)]
pub(crate) struct Pool {
    free: BTreeMap<usize, Vec<sys::CUdeviceptr>>,
    pub(crate) stats: MemoryStats,
}

impl Pool {
    fn take(&mut self, class: usize) -> Option<sys::CUdeviceptr> {
        let ptr = self.free.get_mut(&class)?.pop()?;
        self.note_allocated(class);
        Some(ptr)
    }

    fn note_allocated(&mut self, bytes: usize) {
        self.stats.allocated += bytes;
        self.stats.max_allocated = self.stats.max_allocated.max(self.stats.allocated);
    }

    fn release(&mut self, ptr: sys::CUdeviceptr, class: usize) {
        self.stats.allocated -= class;
        self.free.entry(class).or_default().push(ptr);
    }

    /// Returns every cached block to the driver. The caller has synchronized the stream.
    fn free_cached(&mut self) {
        for (class, ptrs) in std::mem::take(&mut self.free) {
            for ptr in ptrs {
                // SAFETY: cached blocks belong to no storage and the stream is idle.
                unsafe {
                    let _ = result::free_sync(ptr);
                }
                self.stats.reserved -= class;
            }
        }
    }
}

/// The block size a request of `bytes` is served from.
pub(crate) fn size_class(bytes: usize) -> usize {
    if bytes <= 512 {
        return 512;
    }
    let step = (bytes.next_power_of_two() / 8).max(512);
    bytes.div_ceil(step) * step
}

/// A buffer of `len` elements of `dtype`, from the cache when a block of its class is free.
/// Out of memory: the cache is emptied and the allocation retried once before the error.
pub(crate) fn alloc(device: &Arc<CudaDevice>, dtype: DType, len: usize) -> Result<CudaStorage> {
    let bytes = len * dtype.size_in_bytes();
    let class = size_class(bytes);
    let mut pool = lock(&device.pool);
    let ptr = match pool.take(class) {
        Some(ptr) => ptr,
        None => {
            device.bind()?;
            // SAFETY: a plain device allocation on the bound context.
            let ptr = match unsafe { result::malloc_sync(class) } {
                Ok(ptr) => ptr,
                Err(_) => {
                    device
                        .stream
                        .synchronize()
                        .map_err(|e| backend_error(format!("synchronizing before a retry: {e}")))?;
                    pool.free_cached();
                    // SAFETY: as above.
                    unsafe { result::malloc_sync(class) }.map_err(|e| {
                        backend_error(format!(
                            "out of memory on cuda:{}: tried to allocate {} bytes ({} allocated, \
                             {} reserved after emptying the cache): {e}",
                            device.ordinal, class, pool.stats.allocated, pool.stats.reserved
                        ))
                    })?
                }
            };
            pool.stats.reserved += class;
            pool.note_allocated(class);
            ptr
        }
    };
    drop(pool);
    Ok(CudaStorage {
        ptr,
        block_bytes: class,
        dtype,
        len,
        device: device.clone(),
    })
}

pub(crate) fn memory_stats(device: &CudaDevice) -> MemoryStats {
    lock(&device.pool).stats
}

pub(crate) fn reset_peak(device: &CudaDevice) {
    let mut pool = lock(&device.pool);
    pool.stats.max_allocated = pool.stats.allocated;
}

/// `torch.cuda.empty_cache()`: waits for the stream, then frees every cached block (and the
/// idle pinned host blocks).
pub(crate) fn empty_cache(device: &CudaDevice) -> Result<()> {
    device.bind()?;
    device
        .stream
        .synchronize()
        .map_err(|e| backend_error(format!("synchronizing: {e}")))?;
    lock(&device.pool).free_cached();
    lock(&device.pinned).free_idle();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::size_class;

    #[test]
    fn size_classes_waste_at_most_an_eighth() {
        assert_eq!(size_class(0), 512);
        assert_eq!(size_class(513), 1024);
        assert_eq!(size_class(4096), 4096);
        assert_eq!(size_class(4097), 4096 + 1024);
        assert_eq!(size_class(3 << 20), 3 << 20);
        for bytes in [1000, 70_000, 1 << 20, (1 << 20) + 1, 123_456_789] {
            let class = size_class(bytes);
            assert!(class >= bytes && (class - bytes) * 8 <= bytes.next_power_of_two());
        }
    }
}
