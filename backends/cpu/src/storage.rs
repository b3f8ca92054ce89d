//! `CpuStorage`: one host buffer of one dtype, and the caching allocator behind it.
//!
//! A storage is a `Vec` of the dtype's Rust type (`bool` is Rust's `bool`, one byte holding 0 or
//! 1, so the byte format of the `Backend` copies is its memory image). Large buffers are not
//! returned to the operating system when a storage is dropped: they go to a process-wide pool,
//! keyed by dtype and length class, which `alloc` draws from. Taking fresh pages from the OS costs
//! a page fault and a zeroing per 4 KiB, which for a 64 MiB output is more than the op itself;
//! PyTorch's CPU allocator and CUDA caching allocator exist for the same reason. The pool is
//! bounded ([`POOL_LIMIT_BYTES`]) and guarded by a mutex; [`empty_cache`] releases it.

use half::{bf16, f16};
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use tiny_torch_core::{BackendStorage, DType, Element, Error, Result};

/// Buffers smaller than this are left to the system allocator (fast for small sizes).
const POOL_MIN_BYTES: usize = 64 * 1024;
/// The pool never holds more than this many bytes of free buffers.
pub const POOL_LIMIT_BYTES: usize = 1 << 30;

/// The typed contents of a storage. Pooled buffers may be longer than the storage.
#[derive(Debug)]
pub(crate) enum Buffer {
    Bool(Vec<bool>),
    U8(Vec<u8>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    F16(Vec<f16>),
    BF16(Vec<bf16>),
    F32(Vec<f32>),
    F64(Vec<f64>),
}

impl Buffer {
    fn dtype(&self) -> DType {
        match self {
            Buffer::Bool(_) => DType::Bool,
            Buffer::U8(_) => DType::U8,
            Buffer::I32(_) => DType::I32,
            Buffer::I64(_) => DType::I64,
            Buffer::F16(_) => DType::F16,
            Buffer::BF16(_) => DType::BF16,
            Buffer::F32(_) => DType::F32,
            Buffer::F64(_) => DType::F64,
        }
    }

    fn capacity_len(&self) -> usize {
        match self {
            Buffer::Bool(v) => v.len(),
            Buffer::U8(v) => v.len(),
            Buffer::I32(v) => v.len(),
            Buffer::I64(v) => v.len(),
            Buffer::F16(v) => v.len(),
            Buffer::BF16(v) => v.len(),
            Buffer::F32(v) => v.len(),
            Buffer::F64(v) => v.len(),
        }
    }
}

/// One host buffer of `len` elements of one dtype.
#[derive(Debug)]
pub struct CpuStorage {
    buf: Buffer,
    len: usize,
}

impl BackendStorage for CpuStorage {
    fn dtype(&self) -> DType {
        self.buf.dtype()
    }

    fn len(&self) -> usize {
        self.len
    }
}

impl CpuStorage {
    /// The elements as a slice of `T`, or `None` when `T` is not this storage's type.
    pub(crate) fn slice<T: Native>(&self) -> Option<&[T]> {
        T::buf(&self.buf).map(|v| &v[..self.len])
    }

    pub(crate) fn slice_mut<T: Native>(&mut self) -> Option<&mut [T]> {
        let len = self.len;
        T::buf_mut(&mut self.buf).map(|v| &mut v[..len])
    }

    /// The elements as `T`, or an internal error naming `op` (dtypes are matched before).
    pub(crate) fn data<T: Native>(&self, op: &str) -> Result<&[T]> {
        let dtype = self.dtype();
        self.slice().ok_or_else(|| mismatch(op, T::DTYPE, dtype))
    }

    pub(crate) fn data_mut<T: Native>(&mut self, op: &str) -> Result<&mut [T]> {
        let dtype = self.dtype();
        self.slice_mut()
            .ok_or_else(|| mismatch(op, T::DTYPE, dtype))
    }
}

fn mismatch(op: &str, want: DType, got: DType) -> Error {
    Error::Backend {
        backend: "cpu",
        msg: format!("{op}: internal dtype mismatch (expected a {want} buffer, found {got})"),
    }
}

impl Drop for CpuStorage {
    fn drop(&mut self) {
        let buf = std::mem::replace(&mut self.buf, Buffer::U8(Vec::new()));
        let bytes = buf.capacity_len() * buf.dtype().size_in_bytes();
        if bytes >= POOL_MIN_BYTES {
            pool().put(buf, bytes);
        }
    }
}

/// The Rust types a `CpuStorage` can hold.
pub(crate) trait Native: Element + bytemuck::Zeroable + Default {
    fn buf(b: &Buffer) -> Option<&Vec<Self>>;
    fn buf_mut(b: &mut Buffer) -> Option<&mut Vec<Self>>;
    fn wrap(v: Vec<Self>) -> Buffer;
}

macro_rules! native {
    ($t:ty, $variant:ident) => {
        impl Native for $t {
            fn buf(b: &Buffer) -> Option<&Vec<Self>> {
                match b {
                    Buffer::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn buf_mut(b: &mut Buffer) -> Option<&mut Vec<Self>> {
                match b {
                    Buffer::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn wrap(v: Vec<Self>) -> Buffer {
                Buffer::$variant(v)
            }
        }
    };
}
native!(bool, Bool);
native!(u8, U8);
native!(i32, I32);
native!(i64, I64);
native!(f16, F16);
native!(bf16, BF16);
native!(f32, F32);
native!(f64, F64);

/// Runs `$body` with the type alias `$T` set to the Rust type of `$dtype`.
macro_rules! dispatch {
    ($dtype:expr, $T:ident => $body:expr) => {
        match $dtype {
            tiny_torch_core::DType::Bool => {
                type $T = bool;
                $body
            }
            tiny_torch_core::DType::U8 => {
                type $T = u8;
                $body
            }
            tiny_torch_core::DType::I32 => {
                type $T = i32;
                $body
            }
            tiny_torch_core::DType::I64 => {
                type $T = i64;
                $body
            }
            tiny_torch_core::DType::F16 => {
                type $T = half::f16;
                $body
            }
            tiny_torch_core::DType::BF16 => {
                type $T = half::bf16;
                $body
            }
            tiny_torch_core::DType::F32 => {
                type $T = f32;
                $body
            }
            tiny_torch_core::DType::F64 => {
                type $T = f64;
                $body
            }
        }
    };
}
pub(crate) use dispatch;

/// A storage of `len` elements of `T` whose contents are unspecified (zeros or a reused buffer).
pub(crate) fn alloc_typed<T: Native>(len: usize) -> Result<CpuStorage> {
    keep_freed_memory();
    crate::threads::join_main_thread_to_pool();
    let size = std::mem::size_of::<T>();
    let bytes = len
        .checked_mul(size)
        .filter(|&b| b <= isize::MAX as usize)
        .ok_or_else(|| too_big(T::DTYPE, len))?;
    if bytes < POOL_MIN_BYTES {
        return Ok(CpuStorage {
            buf: T::wrap(zeroed_vec::<T>(len)?),
            len,
        });
    }
    let class = class_len(len);
    if let Some(buf) = pool().take(T::DTYPE, class) {
        return Ok(CpuStorage { buf, len });
    }
    let vec = zeroed_vec::<T>(class).or_else(|_| {
        // The pool may hold memory the system needs back: release it and try once more.
        empty_cache();
        zeroed_vec::<T>(class)
    })?;
    advise_huge_pages(vec.as_ptr().cast(), class * size);
    Ok(CpuStorage {
        buf: T::wrap(vec),
        len,
    })
}

/// A storage holding exactly the elements of `data`.
pub(crate) fn from_vec<T: Native>(data: Vec<T>) -> CpuStorage {
    let len = data.len();
    CpuStorage {
        buf: T::wrap(data),
        len,
    }
}

/// Allocates `len` elements of `dtype` (see [`alloc_typed`]).
pub(crate) fn alloc(dtype: DType, len: usize) -> Result<CpuStorage> {
    dispatch!(dtype, T => alloc_typed::<T>(len))
}

fn too_big(dtype: DType, len: usize) -> Error {
    Error::Backend {
        backend: "cpu",
        msg: format!("cannot allocate {len} elements of {dtype}: the size overflows"),
    }
}

/// Tells glibc's `malloc` to keep freed memory for reuse rather than hand it back to the
/// system at once, as it does by default after each large `free`. Allocations outside the pool
/// (the GEMM library's packing buffers, made and freed on every call; small buffers) then
/// stop faulting in fresh zeroed pages. glibc's default thresholds adapt to the sizes freed so
/// far, so the cost varies from run to run: runs of the ResNet-18 32x32 training bench took
/// 126-337 K page faults by default and 118-129 K with these settings. Blocks under 32 MiB
/// come from the heap instead of their own `mmap`, and the heap is trimmed once 256 MiB at its
/// top are free. Left alone when the user has tuned `malloc` through the environment
/// (`GLIBC_TUNABLES`, `MALLOC_*_`); glibc only.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            let tuned = std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("malloc"))
                || std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_some()
                || std::env::var_os("MALLOC_TRIM_THRESHOLD_").is_some();
            if !tuned {
                // SAFETY: `mallopt` only changes thresholds of the allocator's policy; it is
                // safe to call at any time, from any thread.
                unsafe {
                    libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
                    libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
                }
            }
        });
    }
}

/// Asks Linux to back the 2 MiB-aligned part of a fresh buffer of `bytes` bytes at `ptr` with
/// transparent huge pages (`MADV_HUGEPAGE`; hosts set to `madvise` mode, as this one is, give
/// them only on request). Streaming kernels over large tensors then take one TLB entry per
/// 2 MiB instead of per 4 KiB: relu and sum over 64 MiB ran 5-10 % faster with them here. The
/// buffer is zeroed by `alloc_zeroed` without being touched when its pages come fresh from the
/// system (always for 32 MiB and more, see [`keep_freed_memory`]), so the first writes fault in
/// huge pages. Advice only: a refusal changes nothing but speed.
fn advise_huge_pages(ptr: *const u8, bytes: usize) {
    const HUGE: usize = 2 << 20;
    #[cfg(target_os = "linux")]
    {
        let start = (ptr as usize).next_multiple_of(HUGE);
        let end = (ptr as usize + bytes) / HUGE * HUGE;
        if end > start {
            // SAFETY: [start, end) lies inside the live allocation; MADV_HUGEPAGE changes how
            // its pages are backed, never their contents.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (ptr, bytes, HUGE);
}

/// `len` zero elements from `alloc_zeroed` (lazily zeroed pages for large sizes), or an error
/// when the system is out of memory.
fn zeroed_vec<T: Native>(len: usize) -> Result<Vec<T>> {
    if len == 0 || std::mem::size_of::<T>() == 0 {
        return Ok(Vec::new());
    }
    let layout = std::alloc::Layout::array::<T>(len).map_err(|_| too_big(T::DTYPE, len))?;
    // SAFETY: `layout` has non-zero size; all-zero bytes are a valid `T` (`Zeroable`); the
    // pointer comes from the global allocator with the layout `Vec<T>` uses for `len` elements.
    unsafe {
        let ptr = std::alloc::alloc_zeroed(layout) as *mut T;
        if ptr.is_null() {
            return Err(Error::Backend {
                backend: "cpu",
                msg: format!(
                    "out of memory allocating {} bytes for {len} elements of {}",
                    layout.size(),
                    T::DTYPE
                ),
            });
        }
        Ok(Vec::from_raw_parts(ptr, len, len))
    }
}

/// The pooled length of a buffer of `len` elements: rounded up to 1/8 of its power of two, so
/// that nearby sizes share buffers while wasting at most 12.5%.
fn class_len(len: usize) -> usize {
    let log2 = usize::BITS - 1 - len.max(1).leading_zeros();
    let granule = 1usize << log2.saturating_sub(3);
    len.div_ceil(granule).saturating_mul(granule)
}

struct Pool {
    free: BTreeMap<(DType, usize), Vec<Buffer>>,
    bytes: usize,
}

struct PoolHandle(MutexGuard<'static, Pool>);

static POOL: Mutex<Pool> = Mutex::new(Pool {
    free: BTreeMap::new(),
    bytes: 0,
});

fn pool() -> PoolHandle {
    PoolHandle(POOL.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
}

impl PoolHandle {
    fn take(&mut self, dtype: DType, class: usize) -> Option<Buffer> {
        let buf = self.0.free.get_mut(&(dtype, class))?.pop()?;
        self.0.bytes -= class * dtype.size_in_bytes();
        Some(buf)
    }

    fn put(&mut self, buf: Buffer, bytes: usize) {
        let class = buf.capacity_len();
        // Only exact class lengths can be handed out again.
        if class != class_len(class) || self.0.bytes + bytes > POOL_LIMIT_BYTES {
            return;
        }
        self.0.bytes += bytes;
        self.0
            .free
            .entry((buf.dtype(), class))
            .or_default()
            .push(buf);
    }
}

/// Frees every buffer the pool holds (as `torch.cuda.empty_cache` does for the CUDA cache).
pub fn empty_cache() {
    let mut pool = pool();
    pool.0.free.clear();
    pool.0.bytes = 0;
}

/// Bytes of free buffers the pool holds now.
pub fn cached_bytes() -> usize {
    pool().0.bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_round_up_by_at_most_an_eighth() {
        for len in [
            1usize,
            7,
            8,
            9,
            1000,
            4097,
            1 << 20,
            (1 << 20) + 1,
            3_000_001,
        ] {
            let c = class_len(len);
            assert!(c >= len && c - len <= len / 8 + 1, "{len} -> {c}");
            assert_eq!(class_len(c), c);
        }
    }

    #[test]
    fn large_buffers_are_reused() {
        let len = 1 << 20;
        let a = alloc_typed::<f64>(len + 3).unwrap();
        assert_eq!((a.len(), a.dtype()), (len + 3, DType::F64));
        let ptr = a.slice::<f64>().unwrap().as_ptr();
        drop(a);
        // Another test may take it in between; retry a few times to see reuse at least once.
        let reused = (0..4).any(|_| {
            let b = alloc_typed::<f64>(len + 5).unwrap();
            b.slice::<f64>().unwrap().as_ptr() == ptr
        });
        assert!(reused);
        assert!(alloc_typed::<f32>(usize::MAX / 2).is_err());
    }
}
