// Max, average and adaptive average pooling over the H x W planes of [N, C, H, W] views, forward
// and backward. Rust side: backends/cuda/src/pool.rs; the semantics are those of the CPU backend
// (backends/cpu/src/pool.rs), window for window.
//
// Inputs are read through a 4-D strided view (`View4`: offset and one stride per dim, so NCHW,
// channels-last and sliced views need no copy); outputs are contiguous NCHW. One thread per
// output element (forward) or per input element (the gradients of the average pools, which
// gather from the windows that contain the element, adding in the CPU's output order so the
// sums are the same). The max-pool gradient knows only the recorded indices, so it scatters
// with atomic adds into a zeroed buffer of the compute type. f16/bf16 compute in f32.

struct View4 {
    i64 offset;
    i64 strides[4];
};

// The geometry of one pooling (`PoolGeom` in pool.rs).
struct PoolGeom {
    i64 n, c, h, w;      // input
    i64 oh, ow;          // output
    i64 kh, kw, sh, sw, ph, pw, dh, dw;
    i64 divisor;         // avg: divisor_override, 0 for none
    i32 count_include_pad;
    i32 _pad;
};

template <typename C> __device__ __forceinline__ C pool_neg_inf();
template <> __device__ __forceinline__ float pool_neg_inf<float>() { return __int_as_float(0xff800000); }
template <> __device__ __forceinline__ double pool_neg_inf<double>() {
    return __longlong_as_double((i64)0xfff0000000000000ULL);
}

__device__ __forceinline__ i64 imin(i64 a, i64 b) { return a < b ? a : b; }
__device__ __forceinline__ i64 imax(i64 a, i64 b) { return a > b ? a : b; }

// ------------------------------------------------------------------ max pooling

// One output per thread. The window (as the CPU's `max_windows`): starts at o * s - p, ends at
// start + (k - 1) d + 1 cut at the input's end, positions in the left padding skipped in steps
// of the dilation. PyTorch's choice of index: the last NaN if any (and the value NaN), else the
// first maximum in window order; a window of -inf keeps its first element.
template <typename T>
__device__ __forceinline__ void max_pool_body(const T* x, const View4& xv, const PoolGeom& g, T* out,
                                              i64* idx) {
    typedef typename Acc<T>::type C;
    const i64 total = g.n * g.c * g.oh * g.ow;
    FOR_EACH_INDEX(i, total) {
        const i64 ow = i % g.ow;
        i64 t = i / g.ow;
        const i64 oh = t % g.oh;
        t /= g.oh;
        const i64 ch = t % g.c;
        const i64 n = t / g.c;
        const T* plane = x + xv.offset + n * xv.strides[0] + ch * xv.strides[1];

        i64 hs = oh * g.sh - g.ph;
        const i64 he = imin(hs + (g.kh - 1) * g.dh + 1, g.h);
        while (hs < 0) hs += g.dh;
        i64 ws = ow * g.sw - g.pw;
        const i64 we = imin(ws + (g.kw - 1) * g.dw + 1, g.w);
        while (ws < 0) ws += g.dw;

        C best = pool_neg_inf<C>();
        i64 at = hs * g.w + ws;
        bool nan = false;
        for (i64 ih = hs; ih < he; ih += g.dh) {
            for (i64 iw = ws; iw < we; iw += g.dw) {
                const C v = load_acc<T>(plane[ih * xv.strides[2] + iw * xv.strides[3]]);
                if (v != v) {
                    nan = true;
                    best = v;
                    at = ih * g.w + iw;
                } else if (!nan && v > best) {
                    best = v;
                    at = ih * g.w + iw;
                }
            }
        }
        out[i] = store_acc<T>(best);
        idx[i] = at;
    }
}

// Adds each gradient to the element its window's maximum came from: `dx` is a zeroed
// contiguous [N, C, H, W] buffer of the compute type. An index outside the plane marks a window
// that covered only padding (value -inf; PyTorch records a position past the plane) and is
// skipped, as on the CPU.
template <typename T>
__device__ __forceinline__ void max_pool_backward_body(const T* grad, const View4& gv, const i64* index,
                                                       const View4& iv, i64 n, i64 c, i64 oh, i64 ow,
                                                       i64 hw, typename Acc<T>::type* dx) {
    const i64 total = n * c * oh * ow;
    FOR_EACH_INDEX(i, total) {
        const i64 w = i % ow;
        i64 t = i / ow;
        const i64 h = t % oh;
        t /= oh;
        const i64 ch = t % c;
        const i64 b = t / c;
        const i64 j = index[iv.offset + b * iv.strides[0] + ch * iv.strides[1] + h * iv.strides[2] +
                            w * iv.strides[3]];
        if (j < 0 || j >= hw) {
            continue;  // a window of padding only: no input element gets its gradient
        }
        const T gval = grad[gv.offset + b * gv.strides[0] + ch * gv.strides[1] + h * gv.strides[2] +
                            w * gv.strides[3]];
        atomicAdd(&dx[(b * c + ch) * hw + j], load_acc<T>(gval));
    }
}

// ------------------------------------------------------------------ average pooling

// The window of output `o` along one dim, as the CPU's `avg_windows`: [start, end) inside the
// input and the length cut at the end of the right padding (the count_include_pad divisor).
struct AvgWindow {
    i64 start, end, padded;
};

__device__ __forceinline__ AvgWindow avg_window(i64 o, i64 input, i64 k, i64 s, i64 p) {
    AvgWindow win;
    const i64 start = o * s - p;
    const i64 end = imin(start + k, input + p);
    win.padded = end - start;
    win.start = imax(start, 0);
    win.end = imax(imin(end, input), win.start);
    return win;
}

__device__ __forceinline__ i64 avg_divisor(const PoolGeom& g, const AvgWindow& h, const AvgWindow& w) {
    if (g.divisor > 0) return g.divisor;
    if (g.count_include_pad) return h.padded * w.padded;
    return (h.end - h.start) * (w.end - w.start);
}

template <typename T>
__device__ __forceinline__ void avg_pool_body(const T* x, const View4& xv, const PoolGeom& g, T* out) {
    typedef typename Acc<T>::type C;
    const i64 total = g.n * g.c * g.oh * g.ow;
    FOR_EACH_INDEX(i, total) {
        const i64 ow = i % g.ow;
        i64 t = i / g.ow;
        const i64 oh = t % g.oh;
        t /= g.oh;
        const i64 ch = t % g.c;
        const i64 n = t / g.c;
        const T* plane = x + xv.offset + n * xv.strides[0] + ch * xv.strides[1];
        const AvgWindow hw = avg_window(oh, g.h, g.kh, g.sh, g.ph);
        const AvgWindow ww = avg_window(ow, g.w, g.kw, g.sw, g.pw);
        C sum = (C)0;
        for (i64 ih = hw.start; ih < hw.end; ++ih) {
            for (i64 iw = ww.start; iw < ww.end; ++iw) {
                sum = sum + load_acc<T>(plane[ih * xv.strides[2] + iw * xv.strides[3]]);
            }
        }
        const bool empty = hw.end == hw.start || ww.end == ww.start;
        out[i] = store_acc<T>(empty ? (C)0 : sum / (C)avg_divisor(g, hw, ww));
    }
}

// One input element per thread: the outputs whose windows hold row `ih` are those with
// o * s - p <= ih < o * s - p + k, i.e. o in [floor((ih + p - k) / s) + 1, floor((ih + p) / s)].
__device__ __forceinline__ void avg_range(i64 i, i64 k, i64 s, i64 p, i64 out, i64* lo, i64* hi) {
    const i64 a = i + p - k;
    *lo = a < 0 ? 0 : a / s + 1;
    *hi = imin((i + p) / s, out - 1);
}

template <typename T>
__device__ __forceinline__ void avg_pool_backward_body(const T* grad, const View4& gv, const PoolGeom& g,
                                                       T* dx) {
    typedef typename Acc<T>::type C;
    const i64 total = g.n * g.c * g.h * g.w;
    FOR_EACH_INDEX(i, total) {
        const i64 iw = i % g.w;
        i64 t = i / g.w;
        const i64 ih = t % g.h;
        t /= g.h;
        const i64 ch = t % g.c;
        const i64 n = t / g.c;
        const T* plane = grad + gv.offset + n * gv.strides[0] + ch * gv.strides[1];
        i64 oh0, oh1, ow0, ow1;
        avg_range(ih, g.kh, g.sh, g.ph, g.oh, &oh0, &oh1);
        avg_range(iw, g.kw, g.sw, g.pw, g.ow, &ow0, &ow1);
        C acc = (C)0;
        for (i64 oh = oh0; oh <= oh1; ++oh) {
            const AvgWindow hw = avg_window(oh, g.h, g.kh, g.sh, g.ph);
            if (ih < hw.start || ih >= hw.end) continue;
            for (i64 ow = ow0; ow <= ow1; ++ow) {
                const AvgWindow ww = avg_window(ow, g.w, g.kw, g.sw, g.pw);
                if (iw < ww.start || iw >= ww.end) continue;
                const C v = load_acc<T>(plane[oh * gv.strides[2] + ow * gv.strides[3]]);
                acc = acc + v / (C)avg_divisor(g, hw, ww);
            }
        }
        dx[i] = store_acc<T>(acc);
    }
}

// ------------------------------------------------------------------ adaptive average pooling
// Window `o` of a dim spans [floor(o * in / out), ceil((o + 1) * in / out)); the sum is divided
// by each window dim in turn, as on the CPU. `g.oh`/`g.ow` are the output size; the kernel
// fields of `g` are unused.

__device__ __forceinline__ i64 adaptive_start(i64 o, i64 in, i64 out) { return o * in / out; }
__device__ __forceinline__ i64 adaptive_end(i64 o, i64 in, i64 out) { return ((o + 1) * in + out - 1) / out; }

template <typename T>
__device__ __forceinline__ void adaptive_pool_body(const T* x, const View4& xv, const PoolGeom& g, T* out) {
    typedef typename Acc<T>::type C;
    const i64 total = g.n * g.c * g.oh * g.ow;
    FOR_EACH_INDEX(i, total) {
        const i64 ow = i % g.ow;
        i64 t = i / g.ow;
        const i64 oh = t % g.oh;
        t /= g.oh;
        const i64 ch = t % g.c;
        const i64 n = t / g.c;
        const T* plane = x + xv.offset + n * xv.strides[0] + ch * xv.strides[1];
        const i64 hs = adaptive_start(oh, g.h, g.oh), he = adaptive_end(oh, g.h, g.oh);
        const i64 ws = adaptive_start(ow, g.w, g.ow), we = adaptive_end(ow, g.w, g.ow);
        C sum = (C)0;
        for (i64 ih = hs; ih < he; ++ih) {
            for (i64 iw = ws; iw < we; ++iw) {
                sum = sum + load_acc<T>(plane[ih * xv.strides[2] + iw * xv.strides[3]]);
            }
        }
        const bool empty = he <= hs || we <= ws;
        out[i] = store_acc<T>(empty ? (C)0 : sum / (C)(he - hs) / (C)(we - ws));
    }
}

// One input element per thread: output `o` holds row `i` exactly when
// floor(i * out / in) <= o < ceil((i + 1) * out / in); each candidate is checked again.
template <typename T>
__device__ __forceinline__ void adaptive_pool_backward_body(const T* grad, const View4& gv, const PoolGeom& g,
                                                            T* dx) {
    typedef typename Acc<T>::type C;
    const i64 total = g.n * g.c * g.h * g.w;
    FOR_EACH_INDEX(i, total) {
        const i64 iw = i % g.w;
        i64 t = i / g.w;
        const i64 ih = t % g.h;
        t /= g.h;
        const i64 ch = t % g.c;
        const i64 n = t / g.c;
        const T* plane = grad + gv.offset + n * gv.strides[0] + ch * gv.strides[1];
        const i64 oh0 = ih * g.oh / g.h, oh1 = imin(((ih + 1) * g.oh + g.h - 1) / g.h, g.oh);
        const i64 ow0 = iw * g.ow / g.w, ow1 = imin(((iw + 1) * g.ow + g.w - 1) / g.w, g.ow);
        C acc = (C)0;
        for (i64 oh = oh0; oh < oh1; ++oh) {
            const i64 hs = adaptive_start(oh, g.h, g.oh), he = adaptive_end(oh, g.h, g.oh);
            if (ih < hs || ih >= he) continue;
            for (i64 ow = ow0; ow < ow1; ++ow) {
                const i64 ws = adaptive_start(ow, g.w, g.ow), we = adaptive_end(ow, g.w, g.ow);
                if (iw < ws || iw >= we) continue;
                const C v = load_acc<T>(plane[oh * gv.strides[2] + ow * gv.strides[3]]);
                acc = acc + v / (C)(he - hs) / (C)(we - ws);
            }
        }
        dx[i] = store_acc<T>(acc);
    }
}

#define POOL_KERNELS(sfx, T)                                                                          \
    extern "C" __global__ void pool_max_##sfx(const T* x, View4 xv, PoolGeom g, T* out, i64* idx) {   \
        max_pool_body<T>(x, xv, g, out, idx);                                                         \
    }                                                                                                 \
    extern "C" __global__ void pool_max_backward_##sfx(const T* grad, View4 gv, const i64* index,     \
                                                       View4 iv, i64 n, i64 c, i64 oh, i64 ow, i64 hw, \
                                                       Acc<T>::type* dx) {                            \
        max_pool_backward_body<T>(grad, gv, index, iv, n, c, oh, ow, hw, dx);                         \
    }                                                                                                 \
    extern "C" __global__ void pool_avg_##sfx(const T* x, View4 xv, PoolGeom g, T* out) {             \
        avg_pool_body<T>(x, xv, g, out);                                                              \
    }                                                                                                 \
    extern "C" __global__ void pool_avg_backward_##sfx(const T* grad, View4 gv, PoolGeom g, T* dx) {  \
        avg_pool_backward_body<T>(grad, gv, g, dx);                                                   \
    }                                                                                                 \
    extern "C" __global__ void pool_adaptive_##sfx(const T* x, View4 xv, PoolGeom g, T* out) {        \
        adaptive_pool_body<T>(x, xv, g, out);                                                         \
    }                                                                                                 \
    extern "C" __global__ void pool_adaptive_backward_##sfx(const T* grad, View4 gv, PoolGeom g,      \
                                                            T* dx) {                                  \
        adaptive_pool_backward_body<T>(grad, gv, g, dx);                                              \
    }
FOR_FLOAT_DTYPES(POOL_KERNELS)
