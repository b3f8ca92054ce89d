// Reductions over a set of dims: sum, mean, prod, max, min, argmax, argmin, var, logsumexp,
// all, any. Rust side: backends/cuda/src/reduce.rs, which chooses the geometry below.
//
// Geometry. The host splits the input's dims into kept dims (the `kept` layout, at the input's
// offset: output `o` starts at `offset_of(kept, o)`) and reduced dims (the `red` layout, offset
// 0); output `o` reduces the `inner` elements at `offset_of(kept, o) + offset_of(red, j)`.
//
// Threads. Each output is reduced by a *group* of `lanes` threads; a block holds `slots`
// groups. Both are powers of two, lanes * slots <= MAX_BLOCK.
// - `lanes_on_x`: the lanes of a group are consecutive threads (block = lanes x slots), so a
//   warp reads consecutive elements when the reduced dims are contiguous (a row sum). Groups
//   combine with warp shuffles (and shared memory above 32 lanes).
// - otherwise the groups are consecutive threads (block = slots x lanes), so a warp reads 32
//   adjacent outputs' elements at once when the kept dims are contiguous (a column sum).
//   Groups combine through a tree in shared memory.
// Few outputs with many elements each split their range across `gridDim.y` blocks of `chunk`
// elements: those blocks write their accumulators to `partial` ([split][out_n]) and
// `reduce_*_partials` merges them in a fixed order. No atomics: results are deterministic.
//
// Accumulation: f16/bf16/f32 in f32, f64 in f64 (as PyTorch on GPU); each thread keeps four
// accumulators (four loads in flight, and four times shorter running sums), merged as a tree.

#define MAX_BLOCK 512
// Bytes the host reserves per accumulator of `partial` (backends/cuda/src/reduce.rs).
#define MAX_STATE_BYTES 32

// ------------------------------------------------------------------ helpers

// Offset of element `i` of a layout. Most layouts reach the kernel merged to one dim, which
// skips layout_offset's 64-bit divisions.
__device__ __forceinline__ i64 offset_of(const Layout& l, i64 i) {
    return l.ndim == 1 ? l.offset + i * l.strides[0] : layout_offset(l, i);
}

// The threads of this thread's warp that exist: all 32, except in a block smaller than a warp.
__device__ __forceinline__ u32 warp_mask() {
    const int threads = blockDim.x * blockDim.y;
    const int first = (int)(threadIdx.y * blockDim.x + threadIdx.x) & ~31;
    const int n = threads - first;
    return n >= 32 ? 0xffffffffu : ((1u << n) - 1u);
}

__device__ __forceinline__ float shfl_down(u32 mask, float v, int off, int width) {
    return __shfl_down_sync(mask, v, off, width);
}
__device__ __forceinline__ double shfl_down(u32 mask, double v, int off, int width) {
    return __shfl_down_sync(mask, v, off, width);
}
__device__ __forceinline__ i64 shfl_down(u32 mask, i64 v, int off, int width) {
    return __shfl_down_sync(mask, v, off, width);
}
__device__ __forceinline__ bool shfl_down(u32 mask, bool v, int off, int width) {
    return __shfl_down_sync(mask, (int)v, off, width) != 0;
}

template <typename C> __device__ __forceinline__ C pos_inf();
template <> __device__ __forceinline__ float pos_inf<float>() { return __int_as_float(0x7f800000); }
template <> __device__ __forceinline__ double pos_inf<double>() {
    return __longlong_as_double(0x7ff0000000000000LL);
}
// Finite: x - x is 0, but NaN for +-inf and NaN.
template <typename C> __device__ __forceinline__ bool finite(C x) { return x - x == (C)0; }
__device__ __forceinline__ float exp_c(float x) { return expf(x); }
__device__ __forceinline__ double exp_c(double x) { return exp(x); }
__device__ __forceinline__ float log_c(float x) { return logf(x); }
__device__ __forceinline__ double log_c(double x) { return log(x); }

// ------------------------------------------------------------------ reducers
// A reducer: `State` (the accumulator), `init`, `feed` (one element and its index along the
// reduced range), `merge` (two accumulators of disjoint elements), `shfl` (a warp shuffle of a
// State), `finish` (the output from the State and the element count), `start` (sees the first
// element of the output's range before any feed; only var uses it) and `make(param)`.

struct NoStart {
    template <typename T> __device__ __forceinline__ void start(T) {}
};

// Sum of floats in the accumulation type, or the mean (param 1: divided in f64 at the end).
template <typename T> struct FloatSum : NoStart {
    typedef typename Acc<T>::type State;
    typedef T Out;
    bool mean;
    static __device__ FloatSum make(double param) {
        FloatSum r;
        r.mean = param != 0.0;
        return r;
    }
    __device__ State init() const { return (State)0; }
    __device__ void feed(State& s, T x, i64) const { s += load_acc<T>(x); }
    __device__ State merge(State a, State b) const { return a + b; }
    __device__ State shfl(u32 mask, State s, int off, int w) const {
        return shfl_down(mask, s, off, w);
    }
    __device__ Out finish(State s, i64 n) const {
        // Mean of nothing is 0 / 0 = NaN, as on the CPU.
        return mean ? from_f64<T>((double)s / (double)n) : store_acc<T>(s);
    }
};

// Sum of integers or bools into i64, wrapping (in u64: signed overflow is undefined in C++).
template <typename T> struct IntSum : NoStart {
    typedef i64 State;
    typedef i64 Out;
    static __device__ IntSum make(double) { return IntSum(); }
    __device__ State init() const { return 0; }
    __device__ void feed(State& s, T x, i64) const { s = (i64)((u64)s + (u64)to_i64<T>(x)); }
    __device__ State merge(State a, State b) const { return (i64)((u64)a + (u64)b); }
    __device__ State shfl(u32 mask, State s, int off, int w) const {
        return shfl_down(mask, s, off, w);
    }
    __device__ Out finish(State s, i64) const { return s; }
};

template <typename T> struct FloatProd : NoStart {
    typedef typename Acc<T>::type State;
    typedef T Out;
    static __device__ FloatProd make(double) { return FloatProd(); }
    __device__ State init() const { return (State)1; }
    __device__ void feed(State& s, T x, i64) const { s *= load_acc<T>(x); }
    __device__ State merge(State a, State b) const { return a * b; }
    __device__ State shfl(u32 mask, State s, int off, int w) const {
        return shfl_down(mask, s, off, w);
    }
    __device__ Out finish(State s, i64) const { return store_acc<T>(s); }
};

// Product of integers or bools into i64, wrapping.
template <typename T> struct IntProd : NoStart {
    typedef i64 State;
    typedef i64 Out;
    static __device__ IntProd make(double) { return IntProd(); }
    __device__ State init() const { return 1; }
    __device__ void feed(State& s, T x, i64) const { s = (i64)((u64)s * (u64)to_i64<T>(x)); }
    __device__ State merge(State a, State b) const { return (i64)((u64)a * (u64)b); }
    __device__ State shfl(u32 mask, State s, int off, int w) const {
        return shfl_down(mask, s, off, w);
    }
    __device__ Out finish(State s, i64) const { return s; }
};

// How max/min/argmax/argmin compare a dtype: floats in their accumulation type (exact, and
// `v != v` finds NaN), integers and bool as i64 (where `v != v` is always false).
template <typename T, bool F = IsFloat<T>::value> struct Ord;
template <typename T> struct Ord<T, true> {
    typedef typename Acc<T>::type V;
    static __device__ V load(T x) { return load_acc<T>(x); }
    static __device__ V lowest() { return -pos_inf<V>(); }
    static __device__ V highest() { return pos_inf<V>(); }
    static __device__ T store(V v) { return store_acc<T>(v); }
};
template <typename T> struct Ord<T, false> {
    typedef i64 V;
    static __device__ V load(T x) { return to_i64<T>(x); }
    static __device__ V lowest() { return (i64)0x8000000000000000ULL; }
    static __device__ V highest() { return (i64)0x7fffffffffffffffULL; }
    static __device__ T store(V v) { return from_i64<T>(v); }
};

// Max (param 1) or min (param 0). A NaN wins and stays, as on the CPU. The identity (-inf,
// or the lowest integer) never reaches an output: max of nothing is rejected on the host.
template <typename T> struct Extremum : NoStart {
    typedef typename Ord<T>::V State;
    typedef T Out;
    bool max;
    static __device__ Extremum make(double param) {
        Extremum r;
        r.max = param != 0.0;
        return r;
    }
    __device__ State init() const { return max ? Ord<T>::lowest() : Ord<T>::highest(); }
    __device__ State pick(State a, State b) const {
        return (b != b || (max ? b > a : b < a)) ? b : a;
    }
    __device__ void feed(State& s, T x, i64) const { s = pick(s, Ord<T>::load(x)); }
    __device__ State merge(State a, State b) const { return pick(a, b); }
    __device__ State shfl(u32 mask, State s, int off, int w) const {
        return shfl_down(mask, s, off, w);
    }
    __device__ Out finish(State s, i64) const { return Ord<T>::store(s); }
};

// A candidate of argmax/argmin: its value and index along the reduced dim (-1: none yet).
template <typename V> struct Candidate {
    V v;
    i64 i;
};

// Index of the first max (param 1) or min (param 0); the first NaN beats everything, as on
// the CPU. Every candidate carries its index, so merges need no order: ties go to the smaller
// index.
template <typename T> struct ArgExtremum : NoStart {
    typedef typename Ord<T>::V V;
    typedef Candidate<V> State;
    typedef i64 Out;
    bool max;
    static __device__ ArgExtremum make(double param) {
        ArgExtremum r;
        r.max = param != 0.0;
        return r;
    }
    __device__ State init() const {
        State s;
        s.v = (V)0;
        s.i = -1;
        return s;
    }
    // Not inlined (nor are var's and logsumexp's merges): merges run once per thread and tree
    // step, and a dozen inlined copies per kernel make the module slow to compile and load.
    __device__ __noinline__ State pick(State a, State b) const {
        if (a.i < 0) return b;
        if (b.i < 0) return a;
        const bool a_nan = a.v != a.v, b_nan = b.v != b.v;
        if (a_nan || b_nan) {
            if (a_nan && b_nan) return a.i < b.i ? a : b;
            return a_nan ? a : b;
        }
        if (max ? b.v > a.v : b.v < a.v) return b;
        if (max ? a.v > b.v : a.v < b.v) return a;
        return a.i < b.i ? a : b;
    }
    // One State is fed in increasing j: take x if there is no candidate yet, or if the
    // candidate is no NaN and x is a NaN or strictly better (a tie keeps the earlier one).
    __device__ void feed(State& s, T x, i64 j) const {
        const V v = Ord<T>::load(x);
        if (s.i < 0 || (s.v == s.v && (v != v || (max ? v > s.v : v < s.v)))) {
            s.v = v;
            s.i = j;
        }
    }
    __device__ State merge(State a, State b) const { return pick(a, b); }
    __device__ State shfl(u32 mask, State s, int off, int w) const {
        s.v = shfl_down(mask, s.v, off, w);
        s.i = shfl_down(mask, s.i, off, w);
        return s;
    }
    __device__ Out finish(State s, i64) const { return s.i; }
};

// Count, mean and sum of squared deviations (Welford per element, Chan et al. to merge).
template <typename C> struct Moments {
    C n, mean, m2;
};

// Variance dividing by max(N - correction, 0). The elements are shifted by the output's first
// element before accumulating: the variance is the same, and the running means stay of the
// size of the spread, so a large common offset (values near 1e4, say) costs no digits.
template <typename T> struct Variance {
    typedef typename Acc<T>::type C;
    typedef Moments<C> State;
    typedef T Out;
    double correction;
    C shift;
    static __device__ Variance make(double correction) {
        Variance v;
        v.correction = correction;
        v.shift = (C)0;
        return v;
    }
    __device__ void start(T first) { shift = load_acc<T>(first); }
    __device__ State init() const {
        State s;
        s.n = s.mean = s.m2 = (C)0;
        return s;
    }
    __device__ void feed(State& s, T x, i64) const {
        const C v = load_acc<T>(x) - shift;
        s.n += (C)1;
        const C d = v - s.mean;
        s.mean += d / s.n;
        s.m2 += d * (v - s.mean);
    }
    __device__ __noinline__ State merge(State a, State b) const {
        if (a.n == (C)0) return b;
        if (b.n == (C)0) return a;
        State s;
        s.n = a.n + b.n;
        const C d = b.mean - a.mean;
        const C f = b.n / s.n;
        s.mean = a.mean + d * f;
        s.m2 = a.m2 + b.m2 + d * d * a.n * f;
        return s;
    }
    __device__ State shfl(u32 mask, State s, int off, int w) const {
        s.n = shfl_down(mask, s.n, off, w);
        s.mean = shfl_down(mask, s.mean, off, w);
        s.m2 = shfl_down(mask, s.m2, off, w);
        return s;
    }
    __device__ Out finish(State s, i64 n) const {
        // As the CPU: (n - correction).max(0.0), so 0 / 0 = NaN for one element, unbiased.
        const double div = (double)n - correction;
        return from_f64<T>((double)s.m2 / (div > 0.0 ? div : 0.0));
    }
};

// The running max and the sum of exp(x - max) of logsumexp.
template <typename C> struct MaxSum {
    C m, s;
};

// log(sum(exp(x))) as max + log(sum(exp(x - max))), with the CPU's special cases: a NaN gives
// NaN, an infinite max (+inf, or -inf for nothing / all -inf) is the result itself.
template <typename T> struct LogSumExp : NoStart {
    typedef typename Acc<T>::type C;
    typedef MaxSum<C> State;
    typedef T Out;
    static __device__ LogSumExp make(double) { return LogSumExp(); }
    __device__ State init() const {
        State s;
        s.m = -pos_inf<C>();
        s.s = (C)0;
        return s;
    }
    __device__ void feed(State& s, T x, i64) const {
        const C v = load_acc<T>(x);
        if (v != v) {
            s.m = v;  // NaN: sticky, since no comparison with it is true
            return;
        }
        // -inf adds nothing (and its exp(-inf - -inf) would be NaN while the max is -inf).
        if (v == -pos_inf<C>()) return;
        // One exp either way: exp(-|v - m|) is exp(v - m) below the max, and the factor that
        // rescales the sum to a new max v above it (0 while the sum is empty: m = -inf).
        const C d = v - s.m;
        const C e = exp_c(d > (C)0 ? -d : d);
        if (v > s.m) {
            s.s = s.s * e + (C)1;
            s.m = v;
        } else {
            s.s += e;
        }
    }
    __device__ __noinline__ State merge(State a, State b) const {
        State r;
        if (a.m != a.m || b.m != b.m) {
            r.m = a.m != a.m ? a.m : b.m;
            r.s = (C)0;
            return r;
        }
        if (a.m < b.m) {
            const State t = a;
            a = b;
            b = t;
        }
        // Now a holds the max.
        r.m = a.m;
        r.s = finite(r.m) ? a.s + b.s * exp_c(b.m - a.m) : (C)0;
        return r;
    }
    __device__ State shfl(u32 mask, State s, int off, int w) const {
        s.m = shfl_down(mask, s.m, off, w);
        s.s = shfl_down(mask, s.s, off, w);
        return s;
    }
    __device__ Out finish(State s, i64) const {
        return store_acc<T>(finite(s.m) ? s.m + log_c(s.s) : s.m);
    }
};

// Logical all (param 1) or any (param 0) of `x != 0` (a NaN is non-zero).
template <typename T> struct Logical : NoStart {
    typedef bool State;
    typedef bool Out;
    bool all;
    static __device__ Logical make(double param) {
        Logical r;
        r.all = param != 0.0;
        return r;
    }
    __device__ State init() const { return all; }
    __device__ void feed(State& s, T x, i64) const { s = merge(s, cast<bool>(x)); }
    // (Bitwise: no short-circuit branches.)
    __device__ State merge(State a, State b) const { return all ? (a & b) : (a | b); }
    __device__ State shfl(u32 mask, State s, int off, int w) const {
        return shfl_down(mask, s, off, w);
    }
    __device__ Out finish(State s, i64) const { return s; }
};

// ------------------------------------------------------------------ what a pass reads
// `load` an item, then `take` it into a State; split so that the loop issues its loads first.

// The input elements (first pass).
template <typename T> struct Elements {
    typedef T Item;
    const T* data;
    // The kernel's parameters themselves: a copy would go to local memory, as layout_offset
    // indexes its arrays with a variable.
    const Layout& kept;
    const Layout& red;
    __device__ i64 base(i64 o) const { return offset_of(kept, o); }
    template <class R> __device__ void start(R& r, i64 base) const { r.start(data[base]); }
    // Whether element j is at base + j * step (the reduced dims merged to one).
    __device__ bool strided(i64& step) const {
        step = red.strides[0];
        return red.ndim == 1;
    }
    __device__ Item load(i64 base, i64 j) const { return data[base + layout_offset(red, j)]; }
    __device__ Item load_strided(i64 base, i64 j, i64 step) const { return data[base + j * step]; }
    template <class R>
    __device__ void take(const R& r, typename R::State& s, Item x, i64 j) const { r.feed(s, x, j); }
};

// The accumulators of a split first pass, [split][out_n] (second pass), merged in a fixed order.
template <class R> struct Partials {
    typedef typename R::State Item;
    const Item* data;
    i64 out_n;
    __device__ i64 base(i64 o) const { return o; }
    __device__ void start(R&, i64) const {}
    __device__ bool strided(i64& step) const {
        step = out_n;
        return true;
    }
    __device__ Item load(i64 base, i64 j) const { return data[j * out_n + base]; }
    __device__ Item load_strided(i64 base, i64 j, i64 step) const { return data[base + j * step]; }
    __device__ void take(const R& r, typename R::State& s, Item x, i64) const { s = r.merge(s, x); }
};

// ------------------------------------------------------------------ the kernel body

// Merges the States of each group; the group's lane 0 returns the result (other lanes return
// partial values). Every thread of the block calls it (it may synchronize the block).
template <class R>
__device__ typename R::State group_reduce(const R& r, typename R::State s, bool lanes_on_x,
                                          typename R::State* smem) {
    if (lanes_on_x) {
        const int lanes = blockDim.x, lane = threadIdx.x;
        const u32 mask = warp_mask();
        const int width = lanes < 32 ? lanes : 32;
        #pragma unroll 1
        for (int off = width / 2; off > 0; off /= 2) s = r.merge(s, r.shfl(mask, s, off, width));
        if (lanes > 32) {
            // Then the group's warps meet in shared memory; its first warp merges them.
            const int warps = lanes / 32;
            __syncthreads();  // the previous output's reads of smem are done
            if ((lane & 31) == 0) smem[threadIdx.y * warps + lane / 32] = s;
            __syncthreads();
            if (lane < 32) {
                s = lane < warps ? smem[threadIdx.y * warps + lane] : r.init();
                #pragma unroll 1
                for (int off = 16; off > 0; off /= 2) {
                    s = r.merge(s, r.shfl(0xffffffffu, s, off, 32));
                }
            }
        }
        return s;
    }
    // Lanes along y: a tree over y in shared memory, one column per group.
    const int slots = blockDim.x, lanes = blockDim.y;
    const int t = threadIdx.y * slots + threadIdx.x;
    __syncthreads();  // the previous output's reads of smem are done
    smem[t] = s;
    __syncthreads();
    #pragma unroll 1
    for (int h = lanes / 2; h > 0; h /= 2) {
        if ((int)threadIdx.y < h) smem[t] = r.merge(smem[t], smem[t + h * slots]);
        __syncthreads();
    }
    return smem[threadIdx.x];
}

// One pass: block (blockIdx.x + k * gridDim.x) reduces the outputs of group `g`, over the
// elements [blockIdx.y * chunk, min((blockIdx.y + 1) * chunk, inner)). With `partial` the
// States go there, else the finished outputs (`count` elements each) go to `out`.
template <class R, class Src>
__device__ __forceinline__ void reduce_body(const R& proto, const Src& src, i64 out_n, i64 inner,
                                            i64 chunk, i64 count, bool lanes_on_x,
                                            typename R::State* partial, typename R::Out* out) {
    typedef typename R::State State;
    static_assert(sizeof(State) <= MAX_STATE_BYTES, "the host reserves MAX_STATE_BYTES per State");
    // (States are plain structs without constructors, as shared variables must be.)
    __shared__ State smem[MAX_BLOCK];
    const i64 lanes = lanes_on_x ? blockDim.x : blockDim.y;
    const i64 slots = lanes_on_x ? blockDim.y : blockDim.x;
    const i64 lane = lanes_on_x ? threadIdx.x : threadIdx.y;
    const i64 slot = lanes_on_x ? threadIdx.y : threadIdx.x;
    const i64 begin = (i64)blockIdx.y * chunk;
    const i64 end = begin + chunk < inner ? begin + chunk : inner;
    const i64 groups = (out_n + slots - 1) / slots;
    #pragma unroll 1
    for (i64 g = blockIdx.x; g < groups; g += gridDim.x) {
        const i64 o = g * slots + slot;
        State s = proto.init();
        if (o < out_n) {
            R r = proto;  // var keeps the output's shift in it
            const i64 base = src.base(o);
            if (inner > 0) src.start(r, base);
            State s1 = r.init(), s2 = r.init(), s3 = r.init();
            i64 j = begin + lane, step;
            if (src.strided(step)) {
                #pragma unroll 1
                for (; j + 3 * lanes < end; j += 4 * lanes) {
                    const typename Src::Item x0 = src.load_strided(base, j, step);
                    const typename Src::Item x1 = src.load_strided(base, j + lanes, step);
                    const typename Src::Item x2 = src.load_strided(base, j + 2 * lanes, step);
                    const typename Src::Item x3 = src.load_strided(base, j + 3 * lanes, step);
                    src.take(r, s, x0, j);
                    src.take(r, s1, x1, j + lanes);
                    src.take(r, s2, x2, j + 2 * lanes);
                    src.take(r, s3, x3, j + 3 * lanes);
                }
                #pragma unroll 1
                for (; j < end; j += lanes) src.take(r, s, src.load_strided(base, j, step), j);
            } else {
                // Reduced dims that do not merge: a plain loop, the offsets cost divisions anyway
                // (and one copy of that code per kernel keeps the module small).
                #pragma unroll 1
                for (; j < end; j += lanes) src.take(r, s, src.load(base, j), j);
            }
            s = r.merge(r.merge(s, s1), r.merge(s2, s3));
        }
        s = group_reduce(proto, s, lanes_on_x, smem);
        if (lane == 0 && o < out_n) {
            if (partial) {
                partial[(i64)blockIdx.y * out_n + o] = s;
            } else {
                out[o] = proto.finish(s, count);
            }
        }
    }
}

// reduce_<family>_<dtype>: the first pass (the only one without a split; `partial` is null
// then). reduce_<family>_<dtype>_partials: merges `splits` States per output and finishes.
// `param`: var's correction; 1 for mean (family sum), max (extremum, arg_extremum) and all
// (logical), 0 for sum, min and any.
#define REDUCE(family, Red, sfx, T)                                                               \
    extern "C" __global__ void __launch_bounds__(MAX_BLOCK) reduce_##family##_##sfx(              \
        const T* src, Layout kept, Layout red, i64 out_n, i64 inner, i64 chunk, i32 lanes_on_x,  \
        double param, Red<T>::State* partial, Red<T>::Out* out) {                                 \
        Elements<T> elements = {src, kept, red};                                                  \
        reduce_body(Red<T>::make(param), elements, out_n, inner, chunk, inner, lanes_on_x != 0,   \
                    partial, out);                                                                \
    }                                                                                             \
    extern "C" __global__ void __launch_bounds__(MAX_BLOCK) reduce_##family##_##sfx##_partials(   \
        const Red<T>::State* partial, i64 out_n, i64 splits, i64 count, i32 lanes_on_x,           \
        double param, Red<T>::Out* out) {                                                         \
        Partials<Red<T> > parts = {partial, out_n};                                               \
        reduce_body(Red<T>::make(param), parts, out_n, splits, splits, count, lanes_on_x != 0,    \
                    (Red<T>::State*)0, out);                                                      \
    }

#define REDUCE_ORDERED(sfx, T)                                                                    \
    REDUCE(extremum, Extremum, sfx, T)                                                            \
    REDUCE(arg_extremum, ArgExtremum, sfx, T)                                                     \
    REDUCE(logical, Logical, sfx, T)
#define REDUCE_FLOAT(sfx, T)                                                                      \
    REDUCE(sum, FloatSum, sfx, T)                                                                 \
    REDUCE(prod, FloatProd, sfx, T)                                                               \
    REDUCE(var, Variance, sfx, T)                                                                 \
    REDUCE(logsumexp, LogSumExp, sfx, T)                                                          \
    REDUCE_ORDERED(sfx, T)
#define REDUCE_INT(sfx, T)                                                                        \
    REDUCE(sum, IntSum, sfx, T)                                                                   \
    REDUCE(prod, IntProd, sfx, T)                                                                 \
    REDUCE_ORDERED(sfx, T)

FOR_FLOAT_DTYPES(REDUCE_FLOAT)
REDUCE_INT(i64, i64)
REDUCE_INT(i32, i32)
REDUCE_INT(u8, u8)
REDUCE_INT(bool, bool)
