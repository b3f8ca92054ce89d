// Element-wise ops of one input (UnaryOp). Rust side: backends/cuda/src/unary.rs.
//
// - `unary_<dtype>` (floats and integers): every UnaryOp but logical_not, the op chosen by a code
//   (UNARY_* below) with its scalars (clamp bounds, leaky_relu slope, pow exponent) in
//   UnaryParams. One kernel per dtype rather than per (op, dtype), which keeps the names, the
//   launches and NVRTC's work small; its hot path still runs a loop per op (unary_kernel).
// - `logical_not_<dtype>` (every dtype): output bool.
//
// Semantics are the CPU backend's (backends/cpu/src/unary.rs): f16/bf16 compute in f32, integer
// ops wrap, NaN passes through relu and clamp, softplus returns x above 20.

// The operand-walking machinery (paths, packs, grid loops) is kernels/elementwise.cuh, which
// the host prepends to this file and to binary.cu.

// What the strided path loads per element: the input, and where its result goes.
template <typename T> struct Strided1 { T value; i64 dst_offset; };

// Storage offsets of element `i` of src and dst on the strided path.
template <typename I>
__device__ __forceinline__ void strided_offsets(I i, const Layout& src_layout, const Layout& dst_layout,
                                                i64& s, i64& d) {
    s = src_layout.offset;
    d = dst_layout.offset;
    for_each_coordinate(i, dst_layout, [&](int dim, I c) {
        s += (i64)c * src_layout.strides[dim];
        d += (i64)c * dst_layout.strides[dim];
    });
}

// dst = f(src) elementwise on the vectorized path, N elements a pack.
template <int N, typename In, typename Out, typename F>
__device__ __forceinline__ void map_unary_vectorized(const In* src, const Layout& src_layout,
                                                     Out* dst, const Layout& dst_layout, F f) {
    const RowReader<In> in(src, src_layout);
    const RowWriter<Out> out(dst, dst_layout);
    for_each_pack<N>(
        RowShape(dst_layout),
        [&](u32 r, u32 c) {
            const Pack<In, N> x = in.template pack<N>(r, c);
            Pack<Out, N> y;
#pragma unroll
            for (int k = 0; k < N; ++k) y.v[k] = f(x.v[k]);
            out.store(r, c, y);
        },
        [&](u32 i) { out.at(i) = f(in.at(i)); });
}

// dst = f(src) elementwise on the strided path.
template <typename In, typename Out, typename F>
__device__ __forceinline__ void map_unary_strided(const In* src, const Layout& src_layout, Out* dst,
                                                  const Layout& dst_layout, i64 n, F f) {
    if (n > 0x7fffffffLL) {
        // Beyond 2^31 elements, 64-bit indices, one element at a time (rare enough not to unroll).
        grid_stride(n, [&](i64 i) {
            i64 s, d;
            strided_offsets(i, src_layout, dst_layout, s, d);
            dst[d] = f(src[s]);
        });
        return;
    }
    unrolled_loop(
        (u32)n,
        [&](u32 i) {
            i64 s, d;
            strided_offsets(i, src_layout, dst_layout, s, d);
            return Strided1<In>{src[s], d};
        },
        [&](u32, const Strided1<In>& x) { dst[x.dst_offset] = f(x.value); });
}

template <int N, typename In, typename Out, typename F>
__device__ __forceinline__ void map_unary(const In* src, const Layout& src_layout, Out* dst,
                                          const Layout& dst_layout, i64 n, i32 path, F f) {
    if (path == PATH_VECTORIZED) {
        map_unary_vectorized<N>(src, src_layout, dst, dst_layout, f);
    } else {
        map_unary_strided(src, src_layout, dst, dst_layout, n, f);
    }
}

// ------------------------------------------------------------------ the ops

// Op codes of `unary_<dtype>`; `unary_op_code` in unary.rs sends the same numbers.
#define UNARY_NEG 0
#define UNARY_ABS 1
#define UNARY_EXP 2
#define UNARY_LOG 3
#define UNARY_SQRT 4
#define UNARY_RSQRT 5
#define UNARY_SIN 6
#define UNARY_COS 7
#define UNARY_TANH 8
#define UNARY_SIGMOID 9
#define UNARY_RELU 10
#define UNARY_GELU 11
#define UNARY_GELU_TANH 12
#define UNARY_SILU 13
#define UNARY_SOFTPLUS 14
#define UNARY_LEAKY_RELU 15
#define UNARY_SQUARE 16
#define UNARY_POW 17
#define UNARY_CLAMP 18

// The op's scalars. Floats read `real` (leaky_relu: slope; pow: exponent; clamp: min, max with
// absent bounds as -inf, +inf); integers read `integer` (pow: exponent; clamp: min, max already
// rounded into the dtype's range), since an i64 bound does not fit a double exactly.
struct UnaryParams {
    double real[2];
    i64 integer[2];
};

// The math library by overload (NVRTC's built-ins are the C names, one per type).
__device__ __forceinline__ float math_abs(float x) { return fabsf(x); }
__device__ __forceinline__ double math_abs(double x) { return fabs(x); }
__device__ __forceinline__ float math_exp(float x) { return expf(x); }
__device__ __forceinline__ double math_exp(double x) { return exp(x); }
__device__ __forceinline__ float math_log(float x) { return logf(x); }
__device__ __forceinline__ double math_log(double x) { return log(x); }
__device__ __forceinline__ float math_log1p(float x) { return log1pf(x); }
__device__ __forceinline__ double math_log1p(double x) { return log1p(x); }
__device__ __forceinline__ float math_sqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double math_sqrt(double x) { return sqrt(x); }
__device__ __forceinline__ float math_sin(float x) { return sinf(x); }
__device__ __forceinline__ double math_sin(double x) { return sin(x); }
__device__ __forceinline__ float math_cos(float x) { return cosf(x); }
__device__ __forceinline__ double math_cos(double x) { return cos(x); }
__device__ __forceinline__ float math_tanh(float x) { return tanhf(x); }
__device__ __forceinline__ double math_tanh(double x) { return tanh(x); }
__device__ __forceinline__ float math_erfc(float x) { return erfcf(x); }
__device__ __forceinline__ double math_erfc(double x) { return erfc(x); }
__device__ __forceinline__ float math_pow(float x, float e) { return powf(x, e); }
__device__ __forceinline__ double math_pow(double x, double e) { return pow(x, e); }

// A float op in C (float, or double for f64). `a` and `b` are the op's real scalars.
template <typename C>
__device__ __forceinline__ C float_unary(i32 op, C x, C a, C b) {
    const C zero = 0, one = 1, half = 0.5;
    switch (op) {
    case UNARY_NEG: return -x;
    case UNARY_ABS: return math_abs(x);
    case UNARY_EXP: return math_exp(x);
    case UNARY_LOG: return math_log(x);
    case UNARY_SQRT: return math_sqrt(x);
    // Two correctly rounded steps, as the CPU computes it (rsqrtf is up to 2 ulp off).
    case UNARY_RSQRT: return one / math_sqrt(x);
    case UNARY_SIN: return math_sin(x);
    case UNARY_COS: return math_cos(x);
    case UNARY_TANH: return math_tanh(x);
    case UNARY_SIGMOID: return one / (one + math_exp(-x));
    case UNARY_RELU: return x < zero ? zero : x;  // NaN passes through
    // x Φ(x) = x erfc(-x/√2) / 2: the same function as x (1 + erf(x/√2)) / 2, without the
    // cancellation of 1 + erf for negative x (the CPU's f32 kernel avoids it the same way).
    case UNARY_GELU: return half * x * math_erfc(-x * (C)0.70710678118654752440);
    case UNARY_GELU_TANH: {
        const C k = (C)0.79788456080286535588;  // sqrt(2 / pi)
        return half * x * (one + math_tanh(k * (x + (C)0.044715 * x * x * x)));
    }
    case UNARY_SILU: return x / (one + math_exp(-x));
    case UNARY_SOFTPLUS: return x > (C)20 ? x : math_log1p(math_exp(x));
    case UNARY_LEAKY_RELU: return x > zero ? x : x * a;
    case UNARY_SQUARE: return x * x;
    case UNARY_POW: return math_pow(x, a);
    case UNARY_CLAMP: {
        // A NaN bound gives NaN; a NaN input stays NaN (it fails both comparisons).
        C y = x;
        if (y < a || a != a) y = a;
        if (y > b || b != b) y = b;
        return y;
    }
    }
    return x;  // not reached: the host sends only the codes above
}

// `x < 0`, written so that u8 compiles without a "pointless comparison" warning.
template <typename T> __device__ __forceinline__ bool is_negative(T x) {
    if constexpr ((T)-1 < (T)0) {
        return x < (T)0;
    } else {
        return false;
    }
}

// Wrapping integer arithmetic through u64 (signed overflow would be undefined in C++).
template <typename T> __device__ __forceinline__ T wrapping_neg(T x) { return (T)(0ull - (u64)x); }
template <typename T> __device__ __forceinline__ T wrapping_mul(T a, T b) { return (T)((u64)a * (u64)b); }

// torch.pow on integers (the CPU's int_pow): e < 0 gives 1 for base 1, ±1 for base -1, else 0.
template <typename T>
__device__ __forceinline__ T int_pow(T base, i64 e) {
    if (e < 0) {
        if (base == (T)1) return (T)1;
        if (is_negative(base) && base == (T)-1) return (e % 2 == 0) ? (T)1 : base;
        return (T)0;
    }
    T result = 1;
    for (u64 k = (u64)e; k > 0; k >>= 1) {
        if (k & 1) result = wrapping_mul(result, base);
        base = wrapping_mul(base, base);
    }
    return result;
}

// An integer op. `a` and `b` are the op's integer scalars.
template <typename T>
__device__ __forceinline__ T int_unary(i32 op, T x, i64 a, i64 b) {
    switch (op) {
    case UNARY_NEG: return wrapping_neg(x);
    case UNARY_ABS: return is_negative(x) ? wrapping_neg(x) : x;
    case UNARY_RELU: return is_negative(x) ? (T)0 : x;
    case UNARY_SQUARE: return wrapping_mul(x, x);
    case UNARY_POW: return int_pow(x, a);
    case UNARY_CLAMP: {
        T y = x;
        if (y < (T)a) y = (T)a;
        if (y > (T)b) y = (T)b;
        return y;
    }
    }
    return x;  // not reached: the host rejects the other ops for integers
}

// The per-element function of `unary_<dtype>`: floats compute in their Acc type (f32 for
// f16/bf16), with the scalars converted once, as the CPU converts them (`as f32`). Built with a
// constant `op`, it inlines to that op alone.
template <typename T, bool Float = IsFloat<T>::value> struct UnaryFn;

template <typename T> struct UnaryFn<T, true> {
    typedef typename Acc<T>::type C;
    i32 op;
    C a, b;
    __device__ UnaryFn(i32 op, const UnaryParams& p) : op(op), a((C)p.real[0]), b((C)p.real[1]) {}
    __device__ __forceinline__ T operator()(T x) const {
        return store_acc<T>(float_unary<C>(op, load_acc(x), a, b));
    }
};

template <typename T> struct UnaryFn<T, false> {
    i32 op;
    i64 a, b;
    __device__ UnaryFn(i32 op, const UnaryParams& p) : op(op), a(p.integer[0]), b(p.integer[1]) {}
    __device__ __forceinline__ T operator()(T x) const { return int_unary<T>(op, x, a, b); }
};

// Non-zero is true; NaN is non-zero.
template <typename T> __device__ __forceinline__ bool nonzero(T x) { return load_acc(x) != 0; }

template <typename T> struct LogicalNotFn {
    __device__ __forceinline__ bool operator()(T x) const { return !nonzero(x); }
};

// ------------------------------------------------------------------ kernels

// The ops each kind of dtype has (the host sends no others).
#define UNARY_FLOAT_OPS(CASE) \
    CASE(UNARY_NEG) CASE(UNARY_ABS) CASE(UNARY_EXP) CASE(UNARY_LOG) CASE(UNARY_SQRT) \
    CASE(UNARY_RSQRT) CASE(UNARY_SIN) CASE(UNARY_COS) CASE(UNARY_TANH) CASE(UNARY_SIGMOID) \
    CASE(UNARY_RELU) CASE(UNARY_GELU) CASE(UNARY_GELU_TANH) CASE(UNARY_SILU) \
    CASE(UNARY_SOFTPLUS) CASE(UNARY_LEAKY_RELU) CASE(UNARY_SQUARE) CASE(UNARY_POW) \
    CASE(UNARY_CLAMP)
#define UNARY_INT_OPS(CASE) \
    CASE(UNARY_NEG) CASE(UNARY_ABS) CASE(UNARY_RELU) CASE(UNARY_SQUARE) CASE(UNARY_POW) \
    CASE(UNARY_CLAMP)

// The vectorized path runs a loop per op (the switch picks one, once): a switch per element
// measured 3-80% slower there on an H200, most for f16/bf16 and the transcendental ops. The
// strided path, where the coordinates cost more than the dispatch, shares one loop among the
// ops, which keeps the code (and NVRTC's time) small.
template <typename T>
__device__ __forceinline__ void unary_kernel(const T* src, const Layout& src_layout, T* dst,
                                             const Layout& dst_layout, i64 n, i32 path, i32 op,
                                             const UnaryParams& params) {
    if (path == PATH_VECTORIZED) {
#define UNARY_CASE(OP) \
    case OP: \
        map_unary_vectorized<PackLen<T>::value>(src, src_layout, dst, dst_layout, UnaryFn<T>(OP, params)); \
        return;
        if constexpr (IsFloat<T>::value) {
            switch (op) { UNARY_FLOAT_OPS(UNARY_CASE) }
        } else {
            switch (op) { UNARY_INT_OPS(UNARY_CASE) }
        }
#undef UNARY_CASE
    }
    map_unary_strided(src, src_layout, dst, dst_layout, n, UnaryFn<T>(op, params));
}

#define UNARY(name, T) \
    extern "C" __global__ void unary_##name(const T* src, Layout src_layout, T* dst, Layout dst_layout, \
                                            i64 n, i32 path, i32 op, UnaryParams params) { \
        unary_kernel<T>(src, src_layout, dst, dst_layout, n, path, op, params); \
    }
FOR_FLOAT_DTYPES(UNARY)
UNARY(i64, i64) UNARY(i32, i32) UNARY(u8, u8)

#define LOGICAL_NOT(name, T) \
    extern "C" __global__ void logical_not_##name(const T* src, Layout src_layout, bool* dst, Layout dst_layout, \
                                                  i64 n, i32 path) { \
        map_unary<PackLen<T>::value>(src, src_layout, dst, dst_layout, n, path, LogicalNotFn<T>()); \
    }
FOR_ALL_DTYPES(LOGICAL_NOT)
