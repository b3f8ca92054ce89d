// Prepended to every kernel file before NVRTC compiles it (see backends/cuda/src/compile.rs).
//
// It needs no CUDA header: f16 and bf16 are stored as 16-bit structs and converted with PTX
// `cvt` (f16) or bit arithmetic (bf16), so NVRTC alone compiles the kernels on any machine.

typedef long long i64;
typedef unsigned long long u64;
typedef int i32;
typedef unsigned int u32;
typedef unsigned char u8;

struct f16 { unsigned short bits; };
struct bf16 { unsigned short bits; };

// ------------------------------------------------------------------ f16 / bf16 conversions

__device__ __forceinline__ float f16_to_f32(f16 h) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h.bits));
    return f;
}
__device__ __forceinline__ f16 f32_to_f16(float f) {
    f16 h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h.bits) : "f"(f));
    return h;
}
__device__ __forceinline__ float bf16_to_f32(bf16 h) {
    return __uint_as_float(((u32)h.bits) << 16);
}
// Round to nearest even; NaN stays a (quiet) NaN.
__device__ __forceinline__ bf16 f32_to_bf16(float f) {
    u32 u = __float_as_uint(f);
    bf16 h;
    if ((u & 0x7fffffffu) > 0x7f800000u) {
        h.bits = (unsigned short)((u >> 16) | 0x40u);
    } else {
        u += 0x7fffu + ((u >> 16) & 1u);
        h.bits = (unsigned short)(u >> 16);
    }
    return h;
}
// f64 -> f32 rounding to odd: a second rounding to f16/bf16 is then exact (as on the CPU).
__device__ __forceinline__ float f64_to_f32_round_odd(double d) {
    float r = __double2float_rz(d);
    if ((double)r != d && d == d) {
        r = __uint_as_float(__float_as_uint(r) | 1u);
    }
    return r;
}

// ------------------------------------------------------------------ the accumulation type
// Arithmetic on f16/bf16 happens in f32, as in PyTorch; every other type computes in itself.

template <typename T> struct Acc { typedef T type; };
template <> struct Acc<f16> { typedef float type; };
template <> struct Acc<bf16> { typedef float type; };

template <typename T> __device__ __forceinline__ typename Acc<T>::type load_acc(T x) { return x; }
template <> __device__ __forceinline__ float load_acc<f16>(f16 x) { return f16_to_f32(x); }
template <> __device__ __forceinline__ float load_acc<bf16>(bf16 x) { return bf16_to_f32(x); }

template <typename T> __device__ __forceinline__ T store_acc(typename Acc<T>::type x) { return x; }
template <> __device__ __forceinline__ f16 store_acc<f16>(float x) { return f32_to_f16(x); }
template <> __device__ __forceinline__ bf16 store_acc<bf16>(float x) { return f32_to_bf16(x); }

// ------------------------------------------------------------------ casts between any two dtypes
// Integers travel through i64, floats through f64 (exact for every float dtype); float to
// integer truncates toward zero; anything to bool is `!= 0`.

template <typename T> struct IsFloat { static const bool value = false; };
template <> struct IsFloat<float> { static const bool value = true; };
template <> struct IsFloat<double> { static const bool value = true; };
template <> struct IsFloat<f16> { static const bool value = true; };
template <> struct IsFloat<bf16> { static const bool value = true; };

template <typename T> __device__ __forceinline__ double to_f64(T x) { return (double)x; }
template <> __device__ __forceinline__ double to_f64<f16>(f16 x) { return (double)f16_to_f32(x); }
template <> __device__ __forceinline__ double to_f64<bf16>(bf16 x) { return (double)bf16_to_f32(x); }

template <typename T> __device__ __forceinline__ i64 to_i64(T x) { return (i64)x; }

// Float to integer goes through i64 (saturating, NaN to 0, as Rust's `as` does), then wraps.
template <typename T> __device__ __forceinline__ T from_f64(double x) { return (T)(i64)x; }
template <> __device__ __forceinline__ double from_f64<double>(double x) { return x; }
template <> __device__ __forceinline__ float from_f64<float>(double x) { return (float)x; }
template <> __device__ __forceinline__ bool from_f64<bool>(double x) { return x != 0.0; }
template <> __device__ __forceinline__ f16 from_f64<f16>(double x) { return f32_to_f16(f64_to_f32_round_odd(x)); }
template <> __device__ __forceinline__ bf16 from_f64<bf16>(double x) { return f32_to_bf16(f64_to_f32_round_odd(x)); }

template <typename T> __device__ __forceinline__ T from_i64(i64 x) { return (T)x; }
template <> __device__ __forceinline__ bool from_i64<bool>(i64 x) { return x != 0; }
template <> __device__ __forceinline__ f16 from_i64<f16>(i64 x) { return f32_to_f16(f64_to_f32_round_odd((double)x)); }
template <> __device__ __forceinline__ bf16 from_i64<bf16>(i64 x) { return f32_to_bf16(f64_to_f32_round_odd((double)x)); }

template <typename D, typename S, bool SrcFloat = IsFloat<S>::value> struct Cast;
template <typename D, typename S> struct Cast<D, S, true> {
    static __device__ __forceinline__ D apply(S x) { return from_f64<D>(to_f64<S>(x)); }
};
template <typename D, typename S> struct Cast<D, S, false> {
    static __device__ __forceinline__ D apply(S x) { return from_i64<D>(to_i64<S>(x)); }
};
// float -> bool is `!= 0` (a truncation would turn 0.5 into false).
template <typename S> struct Cast<bool, S, true> {
    static __device__ __forceinline__ bool apply(S x) { return to_f64<S>(x) != 0.0; }
};
template <typename D, typename S> __device__ __forceinline__ D cast(S x) { return Cast<D, S>::apply(x); }

// ------------------------------------------------------------------ strided layouts
// The Rust side (backends/cuda/src/launch.rs) merges dims first, so most layouts arrive 1-D.

#define MAX_DIMS 8

struct Layout {
    i32 ndim;
    i32 _pad;
    i64 offset;
    i64 sizes[MAX_DIMS];
    i64 strides[MAX_DIMS];
};

// Storage offset of the element with row-major logical index `linear`.
__device__ __forceinline__ i64 layout_offset(const Layout& l, i64 linear) {
    i64 off = l.offset;
    for (int d = l.ndim - 1; d >= 0; --d) {
        i64 size = l.sizes[d];
        off += (linear % size) * l.strides[d];
        linear /= size;
    }
    return off;
}

// Grid-stride loop over `n` logical elements.
#define FOR_EACH_INDEX(i, n) \
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (i64)blockDim.x * gridDim.x)

// Device-side error flags, read back at the next synchronizing call (see device.rs).
#define ERROR_INDEX_OUT_OF_RANGE 1u
#define ERROR_INTEGER_DIVISION_BY_ZERO 2u

__device__ __forceinline__ void raise_error(u32* flags, u32 code) { atomicOr(flags, code); }

// Instantiates MACRO(suffix, type) for every dtype.
#define FOR_ALL_DTYPES(MACRO) \
    MACRO(f32, float) MACRO(f64, double) MACRO(f16, f16) MACRO(bf16, bf16) \
    MACRO(i64, i64) MACRO(i32, i32) MACRO(u8, u8) MACRO(bool, bool)
#define FOR_FLOAT_DTYPES(MACRO) \
    MACRO(f32, float) MACRO(f64, double) MACRO(f16, f16) MACRO(bf16, bf16)

// ------------------------------------------------------------------ index errors with details
// The error word is the first field of a record; the first index error also stores which op,
// index, dim and size, so the host can report it as the CPU does ("index_select: index 4 is out
// of bounds for dimension 0 with size 4").

struct ErrorRecord {
    u32 code;
    u32 op;
    i64 index;
    i64 dim;
    i64 size;
};

// `op` values (named in backends/cuda/src/device.rs).
#define ERROR_OP_INDEX_SELECT 1u
#define ERROR_OP_GATHER 2u
#define ERROR_OP_SCATTER 3u
#define ERROR_OP_SCATTER_ADD 4u

__device__ __forceinline__ void raise_index_error(u32* flags, u32 op, i64 index, i64 dim, i64 size) {
    ErrorRecord* record = reinterpret_cast<ErrorRecord*>(flags);
    if (atomicCAS(&record->code, 0u, ERROR_INDEX_OUT_OF_RANGE) == 0u) {
        record->op = op;
        record->index = index;
        record->dim = dim;
        record->size = size;
    }
}
