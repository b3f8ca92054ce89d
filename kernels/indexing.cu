// Indexing along one dim with an index tensor: index_select, gather, scatter and scatter_add.
// Rust side: backends/cuda/src/indexing.rs; the semantics are the CPU backend's
// (backends/cpu/src/indexing.rs).
//
// Every operand is read (and scatter's destination written) in place through its layout. Index
// values are I64 or I32. A value outside [0, size) of the indexed dim is never wrapped: a GPU
// cannot return an error without a host sync, so the kernel records it (raise_index_error: the
// first such value, with the op, dim and size, for the CPU's error message), skips that element,
// and the next synchronizing call reports it.
//
// With duplicate indices, scatter keeps one of the values (which one is unspecified, as in
// PyTorch on CUDA) and scatter_add accumulates with atomics, so float sums may round in any
// order; the CPU runs in index order.

// Storage offsets of logical element `linear` (row-major) in layouts that share `a`'s sizes
// (merged together on the Rust side).
__device__ __forceinline__ void layout_offset2(const Layout& a, const Layout& b, i64 linear,
                                               i64& oa, i64& ob) {
    oa = a.offset;
    ob = b.offset;
    for (int d = a.ndim - 1; d >= 0; --d) {
        const i64 size = a.sizes[d];
        const i64 i = linear % size;
        oa += i * a.strides[d];
        ob += i * b.strides[d];
        linear /= size;
    }
}

__device__ __forceinline__ void layout_offset3(const Layout& a, const Layout& b, const Layout& c,
                                               i64 linear, i64& oa, i64& ob, i64& oc) {
    oa = a.offset;
    ob = b.offset;
    oc = c.offset;
    for (int d = a.ndim - 1; d >= 0; --d) {
        const i64 size = a.sizes[d];
        const i64 i = linear % size;
        oa += i * a.strides[d];
        ob += i * b.strides[d];
        oc += i * c.strides[d];
        linear /= size;
    }
}

// Where an index value is checked: the op (ERROR_OP_*), the dim it indexes and that dim's size.
struct IndexCheck {
    u32 op;
    i64 dim;
    i64 size;
};

// The index value stored at `at`, or -1 (recorded as an error) when it lies outside [0, size).
template <typename I>
__device__ __forceinline__ i64 checked_index(const I* index, i64 at, IndexCheck check, u32* flags) {
    const i64 v = (i64)index[at];
    if (v < 0 || v >= check.size) {
        raise_index_error(flags, check.op, v, check.dim, check.size);
        return -1;
    }
    return v;
}

// ------------------------------------------------------------------ atomic accumulation
// scatter_add's `slot = slot + v` with the CPU's arithmetic: floats in their compute type (f16
// and bf16 add in f32 and round once), integers wrapping, bool as logical or.

__device__ __forceinline__ void atomic_accumulate(float* p, float v) { atomicAdd(p, v); }
__device__ __forceinline__ void atomic_accumulate(double* p, double v) { atomicAdd(p, v); }
__device__ __forceinline__ void atomic_accumulate(i32* p, i32 v) { atomicAdd(p, v); }
// Two's complement: an unsigned 64-bit add wraps exactly as i64's wrapping_add.
__device__ __forceinline__ void atomic_accumulate(i64* p, i64 v) {
    atomicAdd((unsigned long long*)p, (unsigned long long)v);
}

// Replaces the 1- or 2-byte element at `p` by `update(its bits)` atomically, with a CAS loop on
// the aligned 32-bit word that holds it (there are no 8- or 16-bit atomics for these updates).
// Storages are allocated in blocks of a multiple of 512 bytes, so that word lies inside the block.
template <typename F>
__device__ __forceinline__ void atomic_update_subword(void* p, int bytes, F update) {
    const u64 addr = (u64)p;
    u32* word = (u32*)(addr & ~3ull);
    const u32 shift = (u32)(addr & 3) * 8;
    const u32 mask = (bytes == 1 ? 0xffu : 0xffffu) << shift;
    u32 old = *word, assumed;
    do {
        assumed = old;
        const u32 bits = (update((assumed & mask) >> shift) << shift) & mask;
        old = atomicCAS(word, assumed, (assumed & ~mask) | bits);
    } while (old != assumed);
}

__device__ __forceinline__ void atomic_accumulate(f16* p, f16 v) {
    const float add = f16_to_f32(v);
    atomic_update_subword(p, 2, [add](u32 bits) {
        f16 h;
        h.bits = (unsigned short)bits;
        return (u32)f32_to_f16(__fadd_rn(f16_to_f32(h), add)).bits;
    });
}
__device__ __forceinline__ void atomic_accumulate(bf16* p, bf16 v) {
    const float add = bf16_to_f32(v);
    atomic_update_subword(p, 2, [add](u32 bits) {
        bf16 h;
        h.bits = (unsigned short)bits;
        return (u32)f32_to_bf16(__fadd_rn(bf16_to_f32(h), add)).bits;
    });
}
__device__ __forceinline__ void atomic_accumulate(u8* p, u8 v) {
    atomic_update_subword(p, 1, [v](u32 bits) { return (bits + v) & 0xffu; });
}
// Or-ing a 1 into the byte is the logical or (bool bytes are 0 or 1).
__device__ __forceinline__ void atomic_accumulate(bool* p, bool v) {
    if (v) {
        const u64 addr = (u64)p;
        atomicOr((u32*)(addr & ~3ull), 1u << ((u32)(addr & 3) * 8));
    }
}

// ------------------------------------------------------------------ the ops
// `dim_stride` is the stride of the indexed dim in the indexed operand; `dim` and `dim_size`
// name that dim and its size (index values must lie in [0, dim_size)).

// index_select into a contiguous output of src's shape with dim `dim` resized to the index's
// length: output element o is (p, j, q) with p over the dims before `dim` (`outer`, which carries
// src's offset), j over the index, q over the dims after `dim` (`inner`).
template <typename T, typename I>
__device__ void index_select_impl(const T* src, Layout outer, Layout inner, i64 inner_n,
                                  i64 dim_stride, IndexCheck check, const I* index,
                                  Layout index_layout, i64 index_n, T* out, i64 n, u32* flags) {
    FOR_EACH_INDEX(o, n) {
        const i64 q = o % inner_n;
        const i64 t = o / inner_n;
        const i64 j = t % index_n;
        const i64 p = t / index_n;
        const i64 v = checked_index(index, layout_offset(index_layout, j), check, flags);
        if (v < 0) {
            continue;
        }
        out[o] = src[layout_offset(outer, p) + v * dim_stride + layout_offset(inner, q)];
    }
}

// gather: output element k (of the index's shape) reads src at the index's position with the
// coordinate along `dim` replaced by the index value. `src_sel` is src's layout over the index's
// sizes with the stride of `dim` set to 0.
template <typename T, typename I>
__device__ void gather_impl(const T* src, Layout src_sel, i64 dim_stride, IndexCheck check,
                            const I* index, Layout index_layout, T* out, i64 n, u32* flags) {
    FOR_EACH_INDEX(k, n) {
        i64 s, x;
        layout_offset2(src_sel, index_layout, k, s, x);
        const i64 v = checked_index(index, x, check, flags);
        if (v < 0) {
            continue;
        }
        out[k] = src[s + v * dim_stride];
    }
}

// scatter / scatter_add: element k of the index writes src at the index's position into dst at
// that position with the coordinate along `dim` replaced by the index value. `dst_sel` is dst's
// layout over the index's sizes with the stride of `dim` set to 0; `src_sel` is src's layout
// over the index's sizes.
template <typename T, typename I, bool ADD>
__device__ void scatter_impl(T* dst, Layout dst_sel, i64 dim_stride, IndexCheck check,
                             const I* index, Layout index_layout, const T* src, Layout src_sel,
                             i64 n, u32* flags) {
    FOR_EACH_INDEX(k, n) {
        i64 d, x, s;
        layout_offset3(dst_sel, index_layout, src_sel, k, d, x, s);
        const i64 v = checked_index(index, x, check, flags);
        if (v < 0) {
            continue;
        }
        T* slot = dst + d + v * dim_stride;
        if (ADD) {
            atomic_accumulate(slot, src[s]);
        } else {
            *slot = src[s];
        }
    }
}

// ------------------------------------------------------------------ kernels: `{op}_{dtype}_{index dtype}`

#define INDEXING_KERNELS_FOR(name, T, iname, I) \
    extern "C" __global__ void index_select_##name##_##iname( \
        const T* src, Layout outer, Layout inner, i64 inner_n, i64 dim_stride, i64 dim, \
        i64 dim_size, const I* index, Layout index_layout, i64 index_n, T* out, i64 n, \
        u32* flags) { \
        const IndexCheck check = {ERROR_OP_INDEX_SELECT, dim, dim_size}; \
        index_select_impl<T, I>(src, outer, inner, inner_n, dim_stride, check, index, \
                                index_layout, index_n, out, n, flags); \
    } \
    extern "C" __global__ void gather_##name##_##iname( \
        const T* src, Layout src_sel, i64 dim_stride, i64 dim, i64 dim_size, const I* index, \
        Layout index_layout, T* out, i64 n, u32* flags) { \
        const IndexCheck check = {ERROR_OP_GATHER, dim, dim_size}; \
        gather_impl<T, I>(src, src_sel, dim_stride, check, index, index_layout, out, n, flags); \
    } \
    extern "C" __global__ void scatter_##name##_##iname( \
        T* dst, Layout dst_sel, i64 dim_stride, i64 dim, i64 dim_size, const I* index, \
        Layout index_layout, const T* src, Layout src_sel, i64 n, u32* flags) { \
        const IndexCheck check = {ERROR_OP_SCATTER, dim, dim_size}; \
        scatter_impl<T, I, false>(dst, dst_sel, dim_stride, check, index, index_layout, src, \
                                  src_sel, n, flags); \
    } \
    extern "C" __global__ void scatter_add_##name##_##iname( \
        T* dst, Layout dst_sel, i64 dim_stride, i64 dim, i64 dim_size, const I* index, \
        Layout index_layout, const T* src, Layout src_sel, i64 n, u32* flags) { \
        const IndexCheck check = {ERROR_OP_SCATTER_ADD, dim, dim_size}; \
        scatter_impl<T, I, true>(dst, dst_sel, dim_stride, check, index, index_layout, src, \
                                 src_sel, n, flags); \
    }
#define INDEXING_KERNELS(name, T) \
    INDEXING_KERNELS_FOR(name, T, i64, i64) INDEXING_KERNELS_FOR(name, T, i32, i32)
FOR_ALL_DTYPES(INDEXING_KERNELS)

// Only checks the index values: an index_select whose output is empty still rejects an index
// out of range, as the CPU does.
#define CHECK_INDEX(iname, I) \
    extern "C" __global__ void check_index_##iname(const I* index, Layout index_layout, i64 n, \
                                                   i64 dim, i64 dim_size, u32* flags) { \
        const IndexCheck check = {ERROR_OP_INDEX_SELECT, dim, dim_size}; \
        FOR_EACH_INDEX(k, n) { checked_index(index, layout_offset(index_layout, k), check, flags); } \
    }
CHECK_INDEX(i64, i64)
CHECK_INDEX(i32, i32)
