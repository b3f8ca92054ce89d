// Batch normalization of [N, C, *] over every dim but the channels, forward and backward. Rust
// side: backends/cuda/src/batch_norm.rs; the conventions are the CPU backend's
// (backends/cpu/src/batch_norm.rs): statistics in f64 in two passes (the mean, then the squared
// deviations from it), the biased variance to normalize with and the unbiased one for the
// running update, saved mean and inverse standard deviation in the compute type (f32, or f64
// for f64 inputs), output `x * alpha + beta` with per-channel alpha = invstd * weight and
// beta = bias - mean * alpha in the compute type.
//
// Channel c of the input is the view x.select(1, c): `other` is the layout of the dims other
// than 1 (merged where strides allow) and `cstride` the stride of dim 1. Reductions run on a
// grid of (splits, channels) blocks: block (k, c) sums a fixed contiguous chunk of channel c in
// a fixed order and writes one partial; the finishing kernels add the partials in order, so
// results are reproducible run to run.
//
// NVRTC contracts `a * b + c` into an FMA by default, which rounds once where the CPU (Rust
// never contracts) rounds twice. Every product that meets a sum or difference here goes through
// bn_mul / bn_add / bn_sub (explicit round-to-nearest intrinsics, never contracted), in the
// CPU's order of operations.

#define BN_BLOCK 256

template <typename C> __device__ __forceinline__ C bn_mul(C a, C b);
template <> __device__ __forceinline__ float bn_mul<float>(float a, float b) { return __fmul_rn(a, b); }
template <> __device__ __forceinline__ double bn_mul<double>(double a, double b) { return __dmul_rn(a, b); }
template <typename C> __device__ __forceinline__ C bn_add(C a, C b);
template <> __device__ __forceinline__ float bn_add<float>(float a, float b) { return __fadd_rn(a, b); }
template <> __device__ __forceinline__ double bn_add<double>(double a, double b) { return __dadd_rn(a, b); }
template <typename C> __device__ __forceinline__ C bn_sub(C a, C b);
template <> __device__ __forceinline__ float bn_sub<float>(float a, float b) { return __fsub_rn(a, b); }
template <> __device__ __forceinline__ double bn_sub<double>(double a, double b) { return __dsub_rn(a, b); }

__device__ __forceinline__ i64 bn_offset(const Layout& l, i64 j) {
    return l.ndim == 1 ? l.offset + j * l.strides[0] : layout_offset(l, j);
}

// Sums (a, b) over the block (blockDim.x == BN_BLOCK); thread 0 gets the totals.
__device__ __forceinline__ void bn_block_sum2(double& a, double& b) {
    __shared__ double sa[BN_BLOCK / 32];
    __shared__ double sb[BN_BLOCK / 32];
    for (int off = 16; off > 0; off /= 2) {
        a += __shfl_down_sync(0xffffffffu, a, off);
        b += __shfl_down_sync(0xffffffffu, b, off);
    }
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    __syncthreads();  // the previous channel's reads of sa/sb are done
    if (lane == 0) {
        sa[warp] = a;
        sb[warp] = b;
    }
    __syncthreads();
    if (warp == 0) {
        a = lane < BN_BLOCK / 32 ? sa[lane] : 0.0;
        b = lane < BN_BLOCK / 32 ? sb[lane] : 0.0;
        for (int off = 16; off > 0; off /= 2) {
            a += __shfl_down_sync(0xffffffffu, a, off);
            b += __shfl_down_sync(0xffffffffu, b, off);
        }
    }
}

// Partial sums over chunk blockIdx.x (of `chunk` elements) of each channel, into
// partial[(c * gridDim.x + blockIdx.x) * 2 + {0, 1}]:
//   mode 0: Σ x                     (the mean)
//   mode 1: Σ (x - mean)²           (the biased variance)
//   mode 2: Σ g, Σ (x - mean) g     (the backward pass; g read through `gother`)
template <typename T>
__device__ __forceinline__ void bn_reduce_body(const T* x, const Layout& other, i64 cstride, const T* g,
                                               const Layout& gother, i64 gcstride, const double* mean,
                                               i64 channels, i64 m, i64 chunk, int mode, double* partial) {
    const i64 begin = (i64)blockIdx.x * chunk;
    const i64 end = begin + chunk < m ? begin + chunk : m;
    for (i64 c = blockIdx.y; c < channels; c += gridDim.y) {
        const double mu = mode == 0 ? 0.0 : mean[c];
        double s0 = 0.0, s1 = 0.0;
        for (i64 j = begin + threadIdx.x; j < end; j += blockDim.x) {
            const double xv = (double)load_acc<T>(x[bn_offset(other, j) + c * cstride]);
            if (mode == 0) {
                s0 += xv;
            } else if (mode == 1) {
                const double d = xv - mu;
                s0 = bn_add(s0, bn_mul(d, d));
            } else {
                const double gv = (double)load_acc<T>(g[bn_offset(gother, j) + c * gcstride]);
                s0 += gv;
                s1 = bn_add(s1, bn_mul(bn_sub(xv, mu), gv));
            }
        }
        bn_block_sum2(s0, s1);
        if (threadIdx.x == 0) {
            double* p = partial + (c * gridDim.x + blockIdx.x) * 2;
            p[0] = s0;
            p[1] = s1;
        }
    }
}

// Σ over the splits of partial component `k` of channel c, in split order.
__device__ __forceinline__ double bn_total(const double* partial, i64 splits, i64 c, int k) {
    double s = 0.0;
    for (i64 i = 0; i < splits; ++i) s += partial[(c * splits + i) * 2 + k];
    return s;
}

// A [C] parameter (input dtype, any stride) as f64, or `fallback` when absent (ptr null).
template <typename T>
__device__ __forceinline__ double bn_param(const T* p, i64 off, i64 stride, i64 c, double fallback) {
    return p ? (double)load_acc<T>(p[off + c * stride]) : fallback;
}

// The batch mean of each channel (training, m > 0).
extern "C" __global__ void batch_norm_mean(const double* partial, i64 splits, i64 channels, i64 m,
                                           double* mean) {
    FOR_EACH_INDEX(c, channels) { mean[c] = m > 0 ? bn_total(partial, splits, c, 0) / (double)m : 0.0; }
}

// Per channel: the statistics to normalize with (batch or running), the running update, the
// saved statistics and the coefficients coef[c] = alpha, coef[C + c] = beta. One thread each.
template <typename T>
__device__ __forceinline__ void bn_stats_body(const double* partial, i64 splits, i64 channels, i64 m,
                                              int training, double eps, double momentum,
                                              const double* batch_mean, T* rm, i64 rm_off,
                                              i64 rm_stride, T* rv, i64 rv_off, i64 rv_stride,
                                              const T* w, i64 w_off, i64 w_stride, const T* b,
                                              i64 b_off, i64 b_stride, typename Acc<T>::type* saved_mean,
                                              typename Acc<T>::type* saved_invstd,
                                              typename Acc<T>::type* coef) {
    typedef typename Acc<T>::type C;
    FOR_EACH_INDEX(c, channels) {
        double mean, var;
        if (training) {
            if (m == 0) {
                mean = 0.0;
                var = 0.0;
            } else {
                mean = batch_mean[c];
                var = bn_total(partial, splits, c, 0) / (double)m;
            }
        } else {
            // Checked on the host: evaluation has both running statistics.
            mean = bn_param<T>(rm, rm_off, rm_stride, c, 0.0);
            var = bn_param<T>(rv, rv_off, rv_stride, c, 1.0);
        }
        const double invstd = 1.0 / sqrt(var + eps);
        const double alpha = invstd * bn_param<T>(w, w_off, w_stride, c, 1.0);
        const double beta = bn_sub(bn_param<T>(b, b_off, b_stride, c, 0.0), bn_mul(mean, alpha));
        coef[c] = (C)alpha;
        coef[channels + c] = (C)beta;
        if (training && m > 0) {
            // running = (1 - momentum) * running + momentum * batch, the variance unbiased.
            const double unbiased = (double)m / ((double)m - 1.0);
            if (rm) {
                const double old = (double)load_acc<T>(rm[rm_off + c * rm_stride]);
                rm[rm_off + c * rm_stride] =
                    from_f64<T>(bn_add(bn_mul(momentum, mean), bn_mul(1.0 - momentum, old)));
            }
            if (rv) {
                const double old = (double)load_acc<T>(rv[rv_off + c * rv_stride]);
                rv[rv_off + c * rv_stride] = from_f64<T>(
                    bn_add(bn_mul(momentum, var * unbiased), bn_mul(1.0 - momentum, old)));
            }
        }
        saved_mean[c] = (C)mean;
        saved_invstd[c] = (training && m == 0) ? (C)0 : (C)invstd;
    }
}

// out[i] = x * alpha[c] + beta[c] for the contiguous output index i, c = (i / inner) % C.
template <typename T>
__device__ __forceinline__ void bn_apply_body(const T* x, const Layout& xl, i64 total, i64 channels,
                                              i64 inner, const typename Acc<T>::type* coef, T* out) {
    typedef typename Acc<T>::type C;
    FOR_EACH_INDEX(i, total) {
        const i64 c = (i / inner) % channels;
        const C v = load_acc<T>(x[bn_offset(xl, i)]);
        out[i] = store_acc<T>(bn_add(bn_mul(v, coef[c]), coef[channels + c]));
    }
}

// Per channel, from the mode-2 partials: grad_weight = Σ (x - mean) g * invstd, grad_bias = Σ g
// (input dtype, contiguous [C]) and the coefficients of dx: coef[0..4][C] = mean, k, the mean of
// g, invstd * weight (k = Σ (x - mean) g * invstd² / M).
template <typename T>
__device__ __forceinline__ void bn_backward_coef_body(const double* partial, i64 splits, i64 channels,
                                                      i64 m, const typename Acc<T>::type* saved_mean,
                                                      const typename Acc<T>::type* saved_invstd,
                                                      const T* w, i64 w_off, i64 w_stride,
                                                      T* grad_weight, T* grad_bias,
                                                      typename Acc<T>::type* coef) {
    typedef typename Acc<T>::type C;
    FOR_EACH_INDEX(c, channels) {
        const double sum = bn_total(partial, splits, c, 0);
        const double dot = bn_total(partial, splits, c, 1);
        const double mean = (double)saved_mean[c];
        const double invstd = (double)saved_invstd[c];
        const double mm = (double)m;
        grad_weight[c] = from_f64<T>(dot * invstd);
        grad_bias[c] = from_f64<T>(sum);
        coef[c] = (C)mean;
        coef[channels + c] = (C)(dot * invstd * invstd / mm);
        coef[2 * channels + c] = (C)(sum / mm);
        coef[3 * channels + c] = (C)(invstd * bn_param<T>(w, w_off, w_stride, c, 1.0));
    }
}

// dx for the contiguous index i: training (g - mean(g) - (x - mean) k) * scale; evaluation
// (constant statistics) g * scale.
template <typename T>
__device__ __forceinline__ void bn_backward_apply_body(const T* x, const Layout& xl, const T* g,
                                                       const Layout& gl, i64 total, i64 channels,
                                                       i64 inner, int training,
                                                       const typename Acc<T>::type* coef, T* dx) {
    typedef typename Acc<T>::type C;
    FOR_EACH_INDEX(i, total) {
        const i64 c = (i / inner) % channels;
        const C gv = load_acc<T>(g[bn_offset(gl, i)]);
        const C scale = coef[3 * channels + c];
        if (training) {
            const C xv = load_acc<T>(x[bn_offset(xl, i)]);
            const C mu = coef[c], k = coef[channels + c], gm = coef[2 * channels + c];
            dx[i] = store_acc<T>(bn_mul(bn_sub(bn_sub(gv, gm), bn_mul(bn_sub(xv, mu), k)), scale));
        } else {
            dx[i] = store_acc<T>(gv * scale);
        }
    }
}

#define BATCH_NORM_KERNELS(sfx, T)                                                                    \
    extern "C" __global__ void __launch_bounds__(BN_BLOCK) batch_norm_reduce_##sfx(                   \
        const T* x, Layout other, i64 cstride, const T* g, Layout gother, i64 gcstride,               \
        const double* mean, i64 channels, i64 m, i64 chunk, i32 mode, double* partial) {              \
        bn_reduce_body<T>(x, other, cstride, g, gother, gcstride, mean, channels, m, chunk, mode,     \
                          partial);                                                                   \
    }                                                                                                 \
    extern "C" __global__ void batch_norm_stats_##sfx(                                                \
        const double* partial, i64 splits, i64 channels, i64 m, i32 training, double eps,             \
        double momentum, const double* batch_mean, T* rm, i64 rm_off, i64 rm_stride, T* rv,           \
        i64 rv_off, i64 rv_stride, const T* w, i64 w_off, i64 w_stride, const T* b, i64 b_off,        \
        i64 b_stride, Acc<T>::type* saved_mean, Acc<T>::type* saved_invstd, Acc<T>::type* coef) {     \
        bn_stats_body<T>(partial, splits, channels, m, training, eps, momentum, batch_mean, rm,       \
                         rm_off, rm_stride, rv, rv_off, rv_stride, w, w_off, w_stride, b, b_off,      \
                         b_stride, saved_mean, saved_invstd, coef);                                   \
    }                                                                                                 \
    extern "C" __global__ void batch_norm_apply_##sfx(const T* x, Layout xl, i64 total, i64 channels, \
                                                      i64 inner, const Acc<T>::type* coef, T* out) {  \
        bn_apply_body<T>(x, xl, total, channels, inner, coef, out);                                   \
    }                                                                                                 \
    extern "C" __global__ void batch_norm_backward_coef_##sfx(                                        \
        const double* partial, i64 splits, i64 channels, i64 m, const Acc<T>::type* saved_mean,       \
        const Acc<T>::type* saved_invstd, const T* w, i64 w_off, i64 w_stride, T* grad_weight,        \
        T* grad_bias, Acc<T>::type* coef) {                                                           \
        bn_backward_coef_body<T>(partial, splits, channels, m, saved_mean, saved_invstd, w, w_off,    \
                                 w_stride, grad_weight, grad_bias, coef);                             \
    }                                                                                                 \
    extern "C" __global__ void batch_norm_backward_apply_##sfx(                                       \
        const T* x, Layout xl, const T* g, Layout gl, i64 total, i64 channels, i64 inner,             \
        i32 training, const Acc<T>::type* coef, T* dx) {                                              \
        bn_backward_apply_body<T>(x, xl, g, gl, total, channels, inner, training, coef, dx);          \
    }
FOR_FLOAT_DTYPES(BATCH_NORM_KERNELS)
