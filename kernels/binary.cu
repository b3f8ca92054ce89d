// Element-wise ops of two inputs (BinaryOp) and `where`. Rust side: backends/cuda/src/binary.rs.
//
// - `binary_<dtype>` (every dtype): add, sub, mul, div, pow, maximum, minimum, atan2, the op
//   chosen by a code (BINARY_* below), and relu_backward for floats. One kernel per dtype rather
//   than per (op, dtype), which keeps the names, the launches and NVRTC's work small; its hot
//   path still runs a loop per op (binary_kernel).
// - `compare_<dtype>` (every dtype): comparisons and logical and/or/xor (COMPARE_*), output bool.
// - `where_<dtype>` (every dtype): dst = cond ? on_true : on_false.
// - `scaled_add_<dtype>` (float dtypes): dst = alpha * dst + beta * src, in place.
// - `scaled_add_foreach_<dtype>` (float dtypes): the same over a list of contiguous pairs.
//
// Semantics are the CPU backend's (backends/cpu/src/binary.rs): f16/bf16 compute in f32, integer
// arithmetic wraps, integer division truncates toward zero (a zero divisor raises
// ERROR_INTEGER_DIVISION_BY_ZERO and gives 0), integer pow follows torch.pow, maximum/minimum
// propagate NaN, bool add/maximum are `or` and mul/minimum `and`, logical ops read `!= 0`.

// The operand-walking machinery (paths, packs, grid loops) is kernels/elementwise.cuh, which
// the host prepends to this file and to unary.cu.

// What the strided path loads per element: the inputs, and where the result goes.
template <typename A, typename B> struct Strided2 { A a; B b; i64 dst_offset; };
template <typename T> struct Strided3 { bool cond; T on_true, on_false; i64 dst_offset; };

// Storage offsets of element `i` of three or four operands on the strided path.
template <typename I>
__device__ __forceinline__ void strided_offsets(I i, const Layout& l0, const Layout& l1,
                                                const Layout& l2, i64& o0, i64& o1, i64& o2) {
    o0 = l0.offset;
    o1 = l1.offset;
    o2 = l2.offset;
    for_each_coordinate(i, l2, [&](int dim, I c) {
        o0 += (i64)c * l0.strides[dim];
        o1 += (i64)c * l1.strides[dim];
        o2 += (i64)c * l2.strides[dim];
    });
}
template <typename I>
__device__ __forceinline__ void strided_offsets(I i, const Layout& l0, const Layout& l1,
                                                const Layout& l2, const Layout& l3, i64& o0,
                                                i64& o1, i64& o2, i64& o3) {
    o0 = l0.offset;
    o1 = l1.offset;
    o2 = l2.offset;
    o3 = l3.offset;
    for_each_coordinate(i, l3, [&](int dim, I c) {
        o0 += (i64)c * l0.strides[dim];
        o1 += (i64)c * l1.strides[dim];
        o2 += (i64)c * l2.strides[dim];
        o3 += (i64)c * l3.strides[dim];
    });
}

// dst = f(a, b) elementwise on the vectorized path, N elements a pack.
template <int N, typename A, typename B, typename Out, typename F>
__device__ __forceinline__ void map_binary_vectorized(const A* a, const Layout& a_layout, const B* b,
                                                      const Layout& b_layout, Out* dst,
                                                      const Layout& dst_layout, F f) {
    const RowReader<A> x(a, a_layout);
    const RowReader<B> y(b, b_layout);
    const RowWriter<Out> out(dst, dst_layout);
    for_each_pack<N>(
        RowShape(dst_layout),
        [&](u32 r, u32 c) {
            const Pack<A, N> xs = x.template pack<N>(r, c);
            const Pack<B, N> ys = y.template pack<N>(r, c);
            Pack<Out, N> zs;
#pragma unroll
            for (int k = 0; k < N; ++k) zs.v[k] = f(xs.v[k], ys.v[k]);
            out.store(r, c, zs);
        },
        [&](u32 i) { out.at(i) = f(x.at(i), y.at(i)); });
}

// dst = f(a, b) elementwise on the strided path.
template <typename A, typename B, typename Out, typename F>
__device__ __forceinline__ void map_binary_strided(const A* a, const Layout& a_layout, const B* b,
                                                   const Layout& b_layout, Out* dst,
                                                   const Layout& dst_layout, i64 n, F f) {
    if (n > 0x7fffffffLL) {
        // Beyond 2^31 elements, 64-bit indices, one element at a time (rare enough not to unroll).
        grid_stride(n, [&](i64 i) {
            i64 ia, ib, id;
            strided_offsets(i, a_layout, b_layout, dst_layout, ia, ib, id);
            dst[id] = f(a[ia], b[ib]);
        });
        return;
    }
    unrolled_loop(
        (u32)n,
        [&](u32 i) {
            i64 ia, ib, id;
            strided_offsets(i, a_layout, b_layout, dst_layout, ia, ib, id);
            return Strided2<A, B>{a[ia], b[ib], id};
        },
        [&](u32, const Strided2<A, B>& e) { dst[e.dst_offset] = f(e.a, e.b); });
}

// dst = cond ? on_true : on_false elementwise, the values copied as they are (no arithmetic).
template <typename T>
__device__ __forceinline__ void map_where(const bool* cond, const Layout& cond_layout,
                                          const T* on_true, const Layout& true_layout,
                                          const T* on_false, const Layout& false_layout, T* dst,
                                          const Layout& dst_layout, i64 n, i32 path) {
    if (path == PATH_VECTORIZED) {
        const int N = PackLen<T>::value;
        const RowReader<bool> c(cond, cond_layout);
        const RowReader<T> x(on_true, true_layout);
        const RowReader<T> y(on_false, false_layout);
        const RowWriter<T> out(dst, dst_layout);
        for_each_pack<N>(
            RowShape(dst_layout),
            [&](u32 r, u32 col) {
                const Pack<bool, N> cs = c.template pack<N>(r, col);
                const Pack<T, N> xs = x.template pack<N>(r, col);
                const Pack<T, N> ys = y.template pack<N>(r, col);
                Pack<T, N> zs;
#pragma unroll
                for (int k = 0; k < N; ++k) zs.v[k] = cs.v[k] ? xs.v[k] : ys.v[k];
                out.store(r, col, zs);
            },
            [&](u32 i) { out.at(i) = c.at(i) ? x.at(i) : y.at(i); });
        return;
    }
    if (n > 0x7fffffffLL) {
        // Beyond 2^31 elements, 64-bit indices, one element at a time (rare enough not to unroll).
        grid_stride(n, [&](i64 i) {
            i64 ic, it, iff, id;
            strided_offsets(i, cond_layout, true_layout, false_layout, dst_layout, ic, it, iff, id);
            dst[id] = cond[ic] ? on_true[it] : on_false[iff];
        });
        return;
    }
    unrolled_loop(
        (u32)n,
        [&](u32 i) {
            i64 ic, it, iff, id;
            strided_offsets(i, cond_layout, true_layout, false_layout, dst_layout, ic, it, iff, id);
            return Strided3<T>{cond[ic], on_true[it], on_false[iff], id};
        },
        [&](u32, const Strided3<T>& e) { dst[e.dst_offset] = e.cond ? e.on_true : e.on_false; });
}

// ------------------------------------------------------------------ the ops

// Op codes of `binary_<dtype>`; `arithmetic` in binary.rs holds the same numbers.
#define BINARY_ADD 0
#define BINARY_SUB 1
#define BINARY_MUL 2
#define BINARY_DIV 3
#define BINARY_POW 4
#define BINARY_MAXIMUM 5
#define BINARY_MINIMUM 6
#define BINARY_ATAN2 7
#define BINARY_RELU_BACKWARD 8

// Op codes of `compare_<dtype>`; `compare` in binary.rs holds the same numbers.
#define COMPARE_EQ 0
#define COMPARE_NE 1
#define COMPARE_LT 2
#define COMPARE_LE 3
#define COMPARE_GT 4
#define COMPARE_GE 5
#define COMPARE_AND 6
#define COMPARE_OR 7
#define COMPARE_XOR 8

// The math library by overload (NVRTC's built-ins are the C names, one per type).
__device__ __forceinline__ float math_pow(float x, float e) { return powf(x, e); }
__device__ __forceinline__ double math_pow(double x, double e) { return pow(x, e); }
__device__ __forceinline__ float math_atan2(float y, float x) { return atan2f(y, x); }
__device__ __forceinline__ double math_atan2(double y, double x) { return atan2(y, x); }

// A float op in C (float, or double for f64).
template <typename C>
__device__ __forceinline__ C float_binary(i32 op, C a, C b) {
    switch (op) {
    case BINARY_ADD: return a + b;
    case BINARY_SUB: return a - b;
    case BINARY_MUL: return a * b;
    case BINARY_DIV: return a / b;
    case BINARY_POW: return math_pow(a, b);
    // `a != a` is NaN: the first NaN wins, and a NaN `b` fails `a > b`, so NaN propagates.
    case BINARY_MAXIMUM: return (a != a || a > b) ? a : b;
    case BINARY_MINIMUM: return (a != a || a < b) ? a : b;
    case BINARY_ATAN2: return math_atan2(a, b);
    // PyTorch's threshold_backward(grad, x, 0): a NaN `b` fails `b <= 0` and passes `a`.
    case BINARY_RELU_BACKWARD: return b <= (C)0 ? (C)0 : a;
    }
    return a;  // not reached: the host sends only the codes above
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
template <typename T> __device__ __forceinline__ T wrapping_add(T a, T b) { return (T)((u64)a + (u64)b); }
template <typename T> __device__ __forceinline__ T wrapping_sub(T a, T b) { return (T)((u64)a - (u64)b); }
template <typename T> __device__ __forceinline__ T wrapping_mul(T a, T b) { return (T)((u64)a * (u64)b); }
template <typename T> __device__ __forceinline__ T wrapping_neg(T x) { return (T)(0ull - (u64)x); }

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

// Division truncating toward zero. A zero divisor flags the error (reported by the next
// synchronizing call) and gives 0; MIN / -1 wraps to MIN as on the CPU (the hardware division
// would overflow).
template <typename T>
__device__ __forceinline__ T int_div(T a, T b, u32* error_flags) {
    if (b == (T)0) {
        raise_error(error_flags, ERROR_INTEGER_DIVISION_BY_ZERO);
        return (T)0;
    }
    if (is_negative(b) && b == (T)-1) return wrapping_neg(a);
    return a / b;
}

template <typename T>
__device__ __forceinline__ T int_binary(i32 op, T a, T b, u32* error_flags) {
    switch (op) {
    case BINARY_ADD: return wrapping_add(a, b);
    case BINARY_SUB: return wrapping_sub(a, b);
    case BINARY_MUL: return wrapping_mul(a, b);
    case BINARY_DIV: return int_div(a, b, error_flags);
    case BINARY_POW: return int_pow(a, (i64)b);
    case BINARY_MAXIMUM: return a > b ? a : b;
    case BINARY_MINIMUM: return a < b ? a : b;
    }
    return a;  // not reached: the host rejects atan2 for integers
}

__device__ __forceinline__ bool bool_binary(i32 op, bool a, bool b) {
    switch (op) {
    case BINARY_ADD:
    case BINARY_MAXIMUM: return a || b;
    case BINARY_MUL:
    case BINARY_MINIMUM: return a && b;
    }
    return a;  // not reached: the host rejects the other ops for bool
}

template <typename T> struct IsBool { static const bool value = false; };
template <> struct IsBool<bool> { static const bool value = true; };

// The per-element function of `binary_<dtype>`: floats compute in their Acc type (f32 for
// f16/bf16) and round once.
template <typename T> struct BinaryFn {
    i32 op;
    u32* error_flags;
    __device__ __forceinline__ T operator()(T a, T b) const {
        if constexpr (IsFloat<T>::value) {
            typedef typename Acc<T>::type C;
            return store_acc<T>(float_binary<C>(op, load_acc(a), load_acc(b)));
        } else if constexpr (IsBool<T>::value) {
            return bool_binary(op, a, b);
        } else {
            return int_binary<T>(op, a, b, error_flags);
        }
    }
};

// Comparisons in the Acc type (exact for f16/bf16); logical ops read `!= 0` (NaN is true).
template <typename T> struct CompareFn {
    i32 op;
    __device__ __forceinline__ bool operator()(T x, T y) const {
        const auto a = load_acc(x);
        const auto b = load_acc(y);
        switch (op) {
        case COMPARE_EQ: return a == b;
        case COMPARE_NE: return a != b;
        case COMPARE_LT: return a < b;
        case COMPARE_LE: return a <= b;
        case COMPARE_GT: return a > b;
        case COMPARE_GE: return a >= b;
        case COMPARE_AND: return a != 0 && b != 0;
        case COMPARE_OR: return a != 0 || b != 0;
        case COMPARE_XOR: return (a != 0) != (b != 0);
        }
        return false;  // not reached: the host sends only the codes above
    }
};

// ------------------------------------------------------------------ kernels

// The ops each kind of dtype has (the host sends no others).
#define BINARY_FLOAT_OPS(CASE) \
    CASE(BINARY_ADD) CASE(BINARY_SUB) CASE(BINARY_MUL) CASE(BINARY_DIV) CASE(BINARY_POW) \
    CASE(BINARY_MAXIMUM) CASE(BINARY_MINIMUM) CASE(BINARY_ATAN2) CASE(BINARY_RELU_BACKWARD)
#define BINARY_INT_OPS(CASE) \
    CASE(BINARY_ADD) CASE(BINARY_SUB) CASE(BINARY_MUL) CASE(BINARY_DIV) CASE(BINARY_POW) \
    CASE(BINARY_MAXIMUM) CASE(BINARY_MINIMUM)
#define BINARY_BOOL_OPS(CASE) CASE(BINARY_ADD) CASE(BINARY_MUL) CASE(BINARY_MAXIMUM) CASE(BINARY_MINIMUM)
#define COMPARE_OPS(CASE) \
    CASE(COMPARE_EQ) CASE(COMPARE_NE) CASE(COMPARE_LT) CASE(COMPARE_LE) CASE(COMPARE_GT) \
    CASE(COMPARE_GE) CASE(COMPARE_AND) CASE(COMPARE_OR) CASE(COMPARE_XOR)

// The vectorized path runs a loop per op (the switch picks one, once): a switch per element
// measured 3-80% slower there on an H200, most for f16/bf16. The strided path, where the
// coordinates cost more than the dispatch, shares one loop among the ops, which keeps the code
// (and NVRTC's time) small.
template <typename T>
__device__ __forceinline__ void binary_kernel(const T* lhs, const Layout& lhs_layout, const T* rhs,
                                              const Layout& rhs_layout, T* dst,
                                              const Layout& dst_layout, i64 n, i32 path, i32 op,
                                              u32* error_flags) {
    if (path == PATH_VECTORIZED) {
#define BINARY_CASE(OP) \
    case OP: \
        map_binary_vectorized<PackLen<T>::value>(lhs, lhs_layout, rhs, rhs_layout, dst, dst_layout, \
                                                 BinaryFn<T>{OP, error_flags}); \
        return;
        if constexpr (IsFloat<T>::value) {
            switch (op) { BINARY_FLOAT_OPS(BINARY_CASE) }
        } else if constexpr (IsBool<T>::value) {
            switch (op) { BINARY_BOOL_OPS(BINARY_CASE) }
        } else {
            switch (op) { BINARY_INT_OPS(BINARY_CASE) }
        }
#undef BINARY_CASE
    }
    map_binary_strided(lhs, lhs_layout, rhs, rhs_layout, dst, dst_layout, n, BinaryFn<T>{op, error_flags});
}

template <typename T>
__device__ __forceinline__ void compare_kernel(const T* lhs, const Layout& lhs_layout, const T* rhs,
                                               const Layout& rhs_layout, bool* dst,
                                               const Layout& dst_layout, i64 n, i32 path, i32 op) {
    if (path == PATH_VECTORIZED) {
#define COMPARE_CASE(OP) \
    case OP: \
        map_binary_vectorized<PackLen<T>::value>(lhs, lhs_layout, rhs, rhs_layout, dst, dst_layout, \
                                                 CompareFn<T>{OP}); \
        return;
        switch (op) { COMPARE_OPS(COMPARE_CASE) }
#undef COMPARE_CASE
    }
    map_binary_strided(lhs, lhs_layout, rhs, rhs_layout, dst, dst_layout, n, CompareFn<T>{op});
}

#define BINARY(name, T) \
    extern "C" __global__ void binary_##name(const T* lhs, Layout lhs_layout, const T* rhs, Layout rhs_layout, \
                                             T* dst, Layout dst_layout, i64 n, i32 path, i32 op, \
                                             u32* error_flags) { \
        binary_kernel<T>(lhs, lhs_layout, rhs, rhs_layout, dst, dst_layout, n, path, op, error_flags); \
    }
FOR_ALL_DTYPES(BINARY)

// dst = alpha * dst + beta * src (Backend::scaled_add, an optimizer's update) in the Acc type,
// rounded once; float dtypes only. lhs and dst are the same buffer.
template <typename T> struct ScaledAddFn {
    typedef typename Acc<T>::type C;
    C alpha, beta;
    __device__ __forceinline__ T operator()(T d, T s) const {
        return store_acc<T>(alpha * load_acc(d) + beta * load_acc(s));
    }
};

#define SCALED_ADD(name, T) \
    extern "C" __global__ void scaled_add_##name(const T* lhs, Layout lhs_layout, const T* src, \
                                                 Layout src_layout, T* dst, Layout dst_layout, i64 n, \
                                                 i32 path, double alpha, double beta) { \
        const ScaledAddFn<T> f{(typename Acc<T>::type)alpha, (typename Acc<T>::type)beta}; \
        if (path == PATH_VECTORIZED) { \
            map_binary_vectorized<PackLen<T>::value>(lhs, lhs_layout, src, src_layout, dst, dst_layout, f); \
        } else { \
            map_binary_strided(lhs, lhs_layout, src, src_layout, dst, dst_layout, n, f); \
        } \
    }
FOR_FLOAT_DTYPES(SCALED_ADD)

// scaled_add over a list of contiguous (dst, src) pairs in one launch
// (Backend::scaled_add_foreach, PyTorch's multi_tensor_apply): block b updates chunk
// `chunk_of_block[b]` (FOREACH_CHUNK elements) of pair `tensor_of_block[b]`. The host fills
// `ForeachPairs` (backends/cuda/src/foreach.rs, the same limits) so that the kernel's
// arguments stay within the 4 KiB every driver takes. The same ScaledAddFn as scaled_add_*, so
// a pair's result is the one a launch of its own gives.
#define FOREACH_TENSORS 64
#define FOREACH_BLOCKS 256
#define FOREACH_CHUNK 65536
#define FOREACH_ILP 4
#define FOREACH_THREADS 512
struct ForeachPairs {
    u64 dst[FOREACH_TENSORS];
    u64 src[FOREACH_TENSORS];
    i64 len[FOREACH_TENSORS];
    i32 tensor_of_block[FOREACH_BLOCKS];
    i32 chunk_of_block[FOREACH_BLOCKS];
};

template <typename T>
__device__ __forceinline__ void foreach_scaled_add(const ForeachPairs& pairs, double alpha,
                                                   double beta) {
    const ScaledAddFn<T> f{(typename Acc<T>::type)alpha, (typename Acc<T>::type)beta};
    const int t = pairs.tensor_of_block[blockIdx.x];
    const i64 start = (i64)pairs.chunk_of_block[blockIdx.x] * FOREACH_CHUNK;
    const int n = (int)min((i64)FOREACH_CHUNK, pairs.len[t] - start);
    T* __restrict__ dst = reinterpret_cast<T*>(pairs.dst[t]) + start;
    const T* __restrict__ src = reinterpret_cast<const T*>(pairs.src[t]) + start;
    constexpr int N = PackLen<T>::value;
    typedef Pack<T, N> P;
    int done = 0;
    // Chunks start at multiples of FOREACH_CHUNK elements, so a pair whose buffers start on
    // 16 bytes has every chunk aligned: whole packs, FOREACH_ILP of them loaded at once.
    if (((pairs.dst[t] | pairs.src[t]) % PACK_BYTES) == 0) {
        const int packs = n / N;
        for (int first = threadIdx.x; first < packs; first += blockDim.x * FOREACH_ILP) {
            P d[FOREACH_ILP], s[FOREACH_ILP];
#pragma unroll
            for (int k = 0; k < FOREACH_ILP; ++k) {
                const int p = first + k * blockDim.x;
                if (p < packs) {
                    d[k] = reinterpret_cast<const P*>(dst)[p];
                    s[k] = reinterpret_cast<const P*>(src)[p];
                }
            }
#pragma unroll
            for (int k = 0; k < FOREACH_ILP; ++k) {
                const int p = first + k * blockDim.x;
                if (p < packs) {
#pragma unroll
                    for (int e = 0; e < N; ++e) d[k].v[e] = f(d[k].v[e], s[k].v[e]);
                    reinterpret_cast<P*>(dst)[p] = d[k];
                }
            }
        }
        done = packs * N;
    }
    for (int i = done + threadIdx.x; i < n; i += blockDim.x) dst[i] = f(dst[i], src[i]);
}

#define SCALED_ADD_FOREACH(name, T) \
    extern "C" __global__ void __launch_bounds__(FOREACH_THREADS) scaled_add_foreach_##name( \
        ForeachPairs pairs, double alpha, double beta) { \
        foreach_scaled_add<T>(pairs, alpha, beta); \
    }
FOR_FLOAT_DTYPES(SCALED_ADD_FOREACH)

#define COMPARE(name, T) \
    extern "C" __global__ void compare_##name(const T* lhs, Layout lhs_layout, const T* rhs, Layout rhs_layout, \
                                              bool* dst, Layout dst_layout, i64 n, i32 path, i32 op) { \
        compare_kernel<T>(lhs, lhs_layout, rhs, rhs_layout, dst, dst_layout, n, path, op); \
    }
FOR_ALL_DTYPES(COMPARE)

#define WHERE(name, T) \
    extern "C" __global__ void where_##name(const bool* cond, Layout cond_layout, const T* on_true, \
                                            Layout true_layout, const T* on_false, Layout false_layout, \
                                            T* dst, Layout dst_layout, i64 n, i32 path) { \
        map_where<T>(cond, cond_layout, on_true, true_layout, on_false, false_layout, dst, dst_layout, n, path); \
    }
FOR_ALL_DTYPES(WHERE)
