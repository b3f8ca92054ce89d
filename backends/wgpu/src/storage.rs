//! Buffers and the caching buffer pool.
//!
//! Creating a wgpu buffer costs a driver allocation (and zeroing), so freed buffers are kept
//! by size class and reused, as the CUDA backend's caching allocator does. That is safe without
//! waiting for the device: every op of an adapter goes through its one queue in order, and wgpu
//! inserts the barriers between a queued reader of a buffer and its next writer. Sizes are
//! rounded to a class (8 classes per power of two, at least 256 bytes), found by exact class.
//! Uniform buffers (the per-dispatch parameters) are pooled the same way in their own lists.

use crate::device::{WgpuDevice, backend_error, lock};
use crate::shader::device_size;
use std::collections::BTreeMap;
use std::sync::Arc;
use tiny_torch_core::{BackendStorage, DType, Result};

/// What a pooled buffer is for (its usage flags).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum BufferKind {
    Storage,
    Uniform,
}

impl BufferKind {
    fn usage(self) -> wgpu::BufferUsages {
        match self {
            BufferKind::Storage => {
                wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_SRC
                    | wgpu::BufferUsages::COPY_DST
            }
            BufferKind::Uniform => wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        }
    }
}

/// A pooled buffer; returns to its pool on drop.
pub(crate) struct PooledBuffer {
    buffer: Option<wgpu::Buffer>,
    kind: BufferKind,
    class: u64,
    device: Arc<WgpuDevice>,
}

impl PooledBuffer {
    pub(crate) fn buffer(&self) -> &wgpu::Buffer {
        self.buffer
            .as_ref()
            .expect("a pooled buffer is only taken on drop")
    }
}

impl Drop for PooledBuffer {
    fn drop(&mut self) {
        if let Some(buffer) = self.buffer.take() {
            lock(&self.device.pool).release(self.kind, self.class, buffer);
        }
    }
}

/// A wgpu buffer of `len` elements of one dtype (stored as `shader::storage_type` says).
pub struct WgpuStorage {
    block: PooledBuffer,
    dtype: DType,
    len: usize,
}

impl std::fmt::Debug for WgpuStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "WgpuStorage(wgpu:{}, {}, {} elements)",
            self.block.device.index, self.dtype, self.len
        )
    }
}

impl BackendStorage for WgpuStorage {
    fn dtype(&self) -> DType {
        self.dtype
    }
    fn len(&self) -> usize {
        self.len
    }
}

impl WgpuStorage {
    pub(crate) fn buffer(&self) -> &wgpu::Buffer {
        self.block.buffer()
    }

    /// Bytes of the underlying buffer (at least the elements', rounded up to a class).
    pub(crate) fn capacity(&self) -> u64 {
        self.block.class
    }
}

/// Pool statistics, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryStats {
    /// Bytes in buffers held by live storages (and in-flight parameter buffers).
    pub in_use: usize,
    /// Bytes in freed buffers kept for reuse.
    pub cached: usize,
    /// The most `in_use` has been since the last reset.
    pub max_in_use: usize,
}

/// The free lists and counters of one adapter.
#[derive(Default)]
pub(crate) struct Pool {
    free: BTreeMap<(BufferKind, u64), Vec<wgpu::Buffer>>,
    pub(crate) stats: MemoryStats,
}

impl Pool {
    fn take(&mut self, kind: BufferKind, class: u64) -> Option<wgpu::Buffer> {
        let buffer = self.free.get_mut(&(kind, class))?.pop()?;
        self.stats.cached -= class as usize;
        self.note_in_use(class);
        Some(buffer)
    }

    fn note_in_use(&mut self, bytes: u64) {
        self.stats.in_use += bytes as usize;
        self.stats.max_in_use = self.stats.max_in_use.max(self.stats.in_use);
    }

    fn release(&mut self, kind: BufferKind, class: u64, buffer: wgpu::Buffer) {
        self.stats.in_use -= class as usize;
        self.stats.cached += class as usize;
        self.free.entry((kind, class)).or_default().push(buffer);
    }

    /// Drops every cached buffer (wgpu frees each once the queue no longer uses it).
    pub(crate) fn clear(&mut self) {
        self.free.clear();
        self.stats.cached = 0;
    }
}

/// The buffer size a request of `bytes` is served from.
pub(crate) fn size_class(bytes: u64) -> u64 {
    if bytes <= 256 {
        return 256;
    }
    let step = (bytes.next_power_of_two() / 8).max(256);
    bytes.div_ceil(step) * step
}

pub(crate) fn alloc_buffer(
    device: &Arc<WgpuDevice>,
    kind: BufferKind,
    bytes: usize,
) -> Result<PooledBuffer> {
    let class = size_class(bytes as u64);
    let max = match kind {
        BufferKind::Storage => device.limits.max_storage_buffer_binding_size,
        BufferKind::Uniform => device.limits.max_uniform_buffer_binding_size,
    }
    .min(device.limits.max_buffer_size);
    if class > max {
        return Err(backend_error(format!(
            "a buffer of {bytes} bytes exceeds what adapter wgpu:{} ({}) can bind ({max} bytes)",
            device.index, device.info.name
        )));
    }
    let mut pool = lock(&device.pool);
    let buffer = match pool.take(kind, class) {
        Some(b) => b,
        None => {
            pool.note_in_use(class);
            drop(pool);
            device.device.create_buffer(&wgpu::BufferDescriptor {
                label: None,
                size: class,
                usage: kind.usage(),
                mapped_at_creation: false,
            })
        }
    };
    Ok(PooledBuffer {
        buffer: Some(buffer),
        kind,
        class,
        device: device.clone(),
    })
}

/// A storage of `len` elements of `dtype`, contents unspecified.
pub(crate) fn alloc(device: &Arc<WgpuDevice>, dtype: DType, len: usize) -> Result<WgpuStorage> {
    device.check("alloc", &[dtype])?;
    let block = alloc_buffer(device, BufferKind::Storage, len * device_size(dtype))?;
    Ok(WgpuStorage { block, dtype, len })
}

#[cfg(test)]
mod tests {
    use super::size_class;

    #[test]
    fn size_classes_waste_at_most_an_eighth() {
        assert_eq!(size_class(0), 256);
        assert_eq!(size_class(257), 512);
        assert_eq!(size_class(4096), 4096);
        assert_eq!(size_class(4097), 4096 + 1024);
        for bytes in [1000, 70_000, 1 << 20, (1 << 20) + 1, 123_456_789] {
            let class = size_class(bytes);
            assert!(class >= bytes && (class - bytes) * 8 <= bytes.next_power_of_two());
        }
    }
}
