// Softmax and log-softmax along one dim. Rust side: backends/cuda/src/softmax.rs.
//
// The input is a set of *rows*: one per position of the other dims (`rows` layout, at the
// input's offset), each `size` elements `stride` apart. Row `l` is written to the contiguous
// output at `(l / inner) * size * inner + l % inner`, elements `inner` apart (inner = the
// product of the dims after `dim`).
//
// Each row is handled by a *group* of `lanes` threads, `slots` groups per block (powers of
// two), laid out as in reduce.cu: with `lanes_on_x` the lanes are consecutive threads (rows
// along a contiguous dim: a warp reads consecutive elements), otherwise the groups are (rows
// along a strided dim whose neighbours are contiguous: a warp reads 32 rows' elements at once).
// Fused, two reads and one write per element: the lanes keep a running (max, sum of exp(x -
// max)), merged across the group and shared with every lane, then each lane writes its
// elements. f16/bf16 compute in f32, f64 in f64.
//
// As on the CPU: a NaN anywhere in a row, or a row of all -inf, gives a NaN row; -inf entries
// get probability 0 (log-probability -inf).

#define MAX_BLOCK 512

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

template <typename C> __device__ __forceinline__ C neg_inf();
template <> __device__ __forceinline__ float neg_inf<float>() { return __int_as_float(0xff800000); }
template <> __device__ __forceinline__ double neg_inf<double>() {
    return __longlong_as_double((i64)0xfff0000000000000ULL);
}
__device__ __forceinline__ float exp_c(float x) { return expf(x); }
__device__ __forceinline__ double exp_c(double x) { return exp(x); }
__device__ __forceinline__ float log_c(float x) { return logf(x); }
__device__ __forceinline__ double log_c(double x) { return log(x); }

// A running max `m` and sum `s` of exp(x - m).
template <typename C> struct Stats {
    C m, s;
};

template <typename C> __device__ __forceinline__ Stats<C> stats_init() {
    Stats<C> st;
    st.m = neg_inf<C>();
    st.s = (C)0;
    return st;
}

template <typename C> __device__ __forceinline__ void stats_feed(Stats<C>& st, C v) {
    if (v != v) {
        st.m = v;  // NaN: sticky, since no comparison with it is true
    } else if (v > st.m) {
        // Rescale the sum to the new max. `v - v + 1` is 1, but NaN for v = +inf, where the
        // CPU's exp(inf - inf) makes the row NaN too.
        st.s = st.s * exp_c(st.m - v) + (v - v + (C)1);
        st.m = v;
    } else if (v != neg_inf<C>()) {
        // (-inf adds nothing; skipping it keeps a lane that saw only -inf at s = 0, not NaN.)
        st.s += exp_c(v - st.m);
    }
}

template <typename C> __device__ __forceinline__ Stats<C> stats_merge(Stats<C> a, Stats<C> b) {
    Stats<C> r;
    r.m = (b.m != b.m || b.m > a.m) ? b.m : a.m;  // NaN wins
    if (r.m == neg_inf<C>()) {
        r.s = a.s + b.s;  // both empty or all -inf: 0
    } else {
        r.s = a.s * exp_c(a.m - r.m) + b.s * exp_c(b.m - r.m);
    }
    return r;
}

template <typename C>
__device__ __forceinline__ Stats<C> stats_shfl_down(u32 mask, Stats<C> st, int off, int width) {
    st.m = __shfl_down_sync(mask, st.m, off, width);
    st.s = __shfl_down_sync(mask, st.s, off, width);
    return st;
}

// Merges the Stats of each group and returns the group's total to every lane of it. Every
// thread of the block calls it (it may synchronize the block).
template <typename C>
__device__ Stats<C> group_stats(Stats<C> st, bool lanes_on_x, Stats<C>* smem) {
    if (lanes_on_x) {
        const int lanes = blockDim.x, lane = threadIdx.x;
        const u32 mask = warp_mask();
        const int width = lanes < 32 ? lanes : 32;
        for (int off = width / 2; off > 0; off /= 2) {
            st = stats_merge(st, stats_shfl_down(mask, st, off, width));
        }
        if (lanes <= 32) {
            // Lane 0 of each group holds the total; hand it to the group's other lanes.
            st.m = __shfl_sync(mask, st.m, 0, width);
            st.s = __shfl_sync(mask, st.s, 0, width);
            return st;
        }
        // The group's warps meet in shared memory; its first warp merges them.
        const int warps = lanes / 32;
        Stats<C>* mine = smem + threadIdx.y * warps;
        __syncthreads();  // the previous row's reads of smem are done
        if ((lane & 31) == 0) mine[lane / 32] = st;
        __syncthreads();
        if (lane < 32) {
            st = lane < warps ? mine[lane] : stats_init<C>();
            for (int off = 16; off > 0; off /= 2) {
                st = stats_merge(st, stats_shfl_down(0xffffffffu, st, off, 32));
            }
        }
        __syncthreads();  // every read of mine[] is done before lane 0 overwrites mine[0]
        if (lane == 0) mine[0] = st;
        __syncthreads();
        return mine[0];
    }
    // Lanes along y: a tree over y in shared memory, one column per group.
    const int slots = blockDim.x, lanes = blockDim.y;
    const int t = threadIdx.y * slots + threadIdx.x;
    __syncthreads();  // the previous row's reads of smem are done
    smem[t] = st;
    __syncthreads();
    for (int h = lanes / 2; h > 0; h /= 2) {
        if ((int)threadIdx.y < h) smem[t] = stats_merge(smem[t], smem[t + h * slots]);
        __syncthreads();
    }
    return smem[threadIdx.x];
}

template <typename T>
__device__ __forceinline__ void softmax_body(const T* src, const Layout& rows, i64 n_rows, i64 size,
                                             i64 stride, i64 inner, bool lanes_on_x, bool take_log,
                                             T* out) {
    typedef typename Acc<T>::type C;
    __shared__ Stats<C> smem[MAX_BLOCK];
    const i64 lanes = lanes_on_x ? blockDim.x : blockDim.y;
    const i64 slots = lanes_on_x ? blockDim.y : blockDim.x;
    const i64 lane = lanes_on_x ? threadIdx.x : threadIdx.y;
    const i64 slot = lanes_on_x ? threadIdx.y : threadIdx.x;
    const i64 groups = (n_rows + slots - 1) / slots;
    for (i64 g = blockIdx.x; g < groups; g += gridDim.x) {
        const i64 l = g * slots + slot;
        const bool live = l < n_rows;
        const i64 base = live ? offset_of(rows, l) : 0;
        Stats<C> st = stats_init<C>();
        if (live) {
            // Two running stats per lane: two loads in flight.
            Stats<C> st1 = stats_init<C>();
            i64 k = lane;
            for (; k + lanes < size; k += 2 * lanes) {
                const C v0 = load_acc<T>(src[base + k * stride]);
                const C v1 = load_acc<T>(src[base + (k + lanes) * stride]);
                stats_feed(st, v0);
                stats_feed(st1, v1);
            }
            if (k < size) stats_feed(st, load_acc<T>(src[base + k * stride]));
            st = stats_merge(st, st1);
        }
        st = group_stats(st, lanes_on_x, smem);
        if (live) {
            const i64 out_base = (l / inner) * size * inner + l % inner;
            const C m = st.m;
            if (take_log) {
                // (x - max) - log(sum), in that order as on the CPU: x - max is exact nearby.
                const C lse = log_c(st.s);
                for (i64 k = lane; k < size; k += lanes) {
                    const C v = load_acc<T>(src[base + k * stride]);
                    out[out_base + k * inner] = store_acc<T>((v - m) - lse);
                }
            } else {
                const C inv = (C)1 / st.s;
                for (i64 k = lane; k < size; k += lanes) {
                    const C v = load_acc<T>(src[base + k * stride]);
                    out[out_base + k * inner] = store_acc<T>(exp_c(v - m) * inv);
                }
            }
        }
    }
}

// Rows of at most 32 * WARP_ITEMS elements that run along a stride-1 dim and are written
// whole (`inner == 1`): PyTorch's "persistent" softmax. One warp per row, element
// `lane + 32 * k` in the lane's register k: the row is read once, all its loads in flight at
// once (coalesced: a warp's k-th load is 32 consecutive elements), then the max and the sum
// go through warp shuffles with no shared memory or block barrier, and the outputs come from
// the registers. `items` (a power of two, 32 * items >= size) picks the unrolled variant.
#define WARP_ITEMS 32
#define WARP_BLOCK 128

// The larger of a and b, NaN if either is (max over a row propagates NaN, as on the CPU).
template <typename C> __device__ __forceinline__ C nan_max(C a, C b) {
    return (a != a || a > b) ? a : b;
}

template <typename T, int ITEMS>
__device__ __forceinline__ void softmax_warp_rows(const T* src, const Layout& rows, i64 n_rows,
                                                  int size, bool take_log, T* out) {
    typedef typename Acc<T>::type C;
    const int lane = threadIdx.x & 31;
    const i64 warps = blockDim.x / 32;
    for (i64 row = blockIdx.x * warps + threadIdx.x / 32; row < n_rows; row += gridDim.x * warps) {
        const T* in = src + offset_of(rows, row);
        C v[ITEMS];
#pragma unroll
        for (int k = 0; k < ITEMS; ++k) {
            const int i = lane + 32 * k;
            v[k] = i < size ? load_acc<T>(in[i]) : neg_inf<C>();
        }
        C m = v[0];
#pragma unroll
        for (int k = 1; k < ITEMS; ++k) m = nan_max(m, v[k]);
#pragma unroll
        for (int off = 16; off > 0; off /= 2) m = nan_max(m, __shfl_xor_sync(0xffffffffu, m, off));
        // A NaN max, an all -inf row (-inf - -inf) or a +inf entry (inf - inf) makes the sum
        // NaN and so the whole row, as on the CPU; -inf entries add exp(-inf) = 0.
        C sum = (C)0;
#pragma unroll
        for (int k = 0; k < ITEMS; ++k) {
            if (lane + 32 * k < size) {
                v[k] = take_log ? v[k] - m : exp_c(v[k] - m);
                sum += take_log ? exp_c(v[k]) : v[k];
            }
        }
#pragma unroll
        for (int off = 16; off > 0; off /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, off);
        T* o = out + row * size;
        if (take_log) {
            // (x - max) - log(sum), in that order as on the CPU.
            const C lse = log_c(sum);
#pragma unroll
            for (int k = 0; k < ITEMS; ++k) {
                const int i = lane + 32 * k;
                if (i < size) o[i] = store_acc<T>(v[k] - lse);
            }
        } else {
            const C inv = (C)1 / sum;
#pragma unroll
            for (int k = 0; k < ITEMS; ++k) {
                const int i = lane + 32 * k;
                if (i < size) o[i] = store_acc<T>(v[k] * inv);
            }
        }
    }
}

#define SOFTMAX_WARP(sfx, T)                                                                    \
    extern "C" __global__ void __launch_bounds__(WARP_BLOCK) softmax_warp_##sfx(                \
        const T* src, Layout rows, i64 n_rows, i32 size, i32 items, i32 take_log, T* out) {     \
        const bool lg = take_log != 0;                                                          \
        switch (items) {                                                                        \
            case 1: softmax_warp_rows<T, 1>(src, rows, n_rows, size, lg, out); break;           \
            case 2: softmax_warp_rows<T, 2>(src, rows, n_rows, size, lg, out); break;           \
            case 4: softmax_warp_rows<T, 4>(src, rows, n_rows, size, lg, out); break;           \
            case 8: softmax_warp_rows<T, 8>(src, rows, n_rows, size, lg, out); break;           \
            case 16: softmax_warp_rows<T, 16>(src, rows, n_rows, size, lg, out); break;         \
            default: softmax_warp_rows<T, WARP_ITEMS>(src, rows, n_rows, size, lg, out); break; \
        }                                                                                       \
    }
FOR_FLOAT_DTYPES(SOFTMAX_WARP)

#define SOFTMAX(sfx, T)                                                                         \
    extern "C" __global__ void __launch_bounds__(MAX_BLOCK) softmax_##sfx(                      \
        const T* src, Layout rows, i64 n_rows, i64 size, i64 stride, i64 inner, i32 lanes_on_x, \
        i32 take_log, T* out) {                                                                 \
        softmax_body<T>(src, rows, n_rows, size, stride, inner, lanes_on_x != 0, take_log != 0, \
                        out);                                                                   \
    }
FOR_FLOAT_DTYPES(SOFTMAX)
