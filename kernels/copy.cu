// Fill and strided copy with a dtype conversion (`contiguous`, `to_dtype`, `cat`, slice
// assignment). Rust side: backends/cuda/src/copy.rs.

template <typename T>
__device__ void fill_impl(T* dst, Layout dst_layout, i64 n, T value) {
    FOR_EACH_INDEX(i, n) { dst[layout_offset(dst_layout, i)] = value; }
}

template <typename D, typename S>
__device__ void copy_impl(const S* src, Layout src_layout, D* dst, Layout dst_layout, i64 n) {
    FOR_EACH_INDEX(i, n) {
        dst[layout_offset(dst_layout, i)] = cast<D>(src[layout_offset(src_layout, i)]);
    }
}

// The fill value arrives as the dtype's little-endian bits in the low bytes of a u64 (converted
// on the host with the cast rules).
#define FILL(name, T) \
    extern "C" __global__ void fill_##name(T* dst, Layout dst_layout, i64 n, u64 bits) { \
        fill_impl<T>(dst, dst_layout, n, *reinterpret_cast<const T*>(&bits)); \
    }
FOR_ALL_DTYPES(FILL)

#define COPY_FROM(dname, D, sname, S) \
    extern "C" __global__ void copy_##sname##_to_##dname(const S* src, Layout src_layout, D* dst, Layout dst_layout, i64 n) { \
        copy_impl<D, S>(src, src_layout, dst, dst_layout, n); \
    }
#define COPY_TO(dname, D) \
    COPY_FROM(dname, D, f32, float) COPY_FROM(dname, D, f64, double) COPY_FROM(dname, D, f16, f16) \
    COPY_FROM(dname, D, bf16, bf16) COPY_FROM(dname, D, i64, i64) COPY_FROM(dname, D, i32, i32) \
    COPY_FROM(dname, D, u8, u8) COPY_FROM(dname, D, bool, bool)
FOR_ALL_DTYPES(COPY_TO)
