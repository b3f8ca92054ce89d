// Random fills from the Philox 4x32-10 stream, bit for bit as the CPU backend
// (crates/core/src/philox.rs, backends/cpu/src/random.rs). Rust side: backends/cuda/src/random.rs.
//
// Element i (row-major) of a fill at generator position (seed, offset) uses the Philox block of
// counter `offset + i`, whatever the distribution, so one thread per element gives the CPU's
// stream exactly.
//
// Bit-exact normals. Box-Muller needs a logarithm and a cosine, and neither the C library's
// (which the CPU would get from Rust's f32::ln and f32::cos, and which differ between glibc,
// musl, macOS and Windows) nor CUDA's (which differ from all of them) is the same everywhere. So
// the project defines its own in crates/core/src/philox/math.rs, from exactly specified IEEE
// operations only, and the section below repeats them operation for operation.

// ------------------------------------------------------------------ Philox 4x32-10

struct PhiloxBlock {
    u32 w[4];
};

// `philox::block(seed, offset, index)`: ten rounds on counter `offset + index` (wrapping), key
// `seed`.
__device__ __forceinline__ PhiloxBlock philox_block(u64 seed, u64 offset, u64 index) {
    const u64 n = offset + index;
    u32 c0 = (u32)n, c1 = (u32)(n >> 32), c2 = 0, c3 = 0;
    u32 k0 = (u32)seed, k1 = (u32)(seed >> 32);
#pragma unroll
    for (int round = 0; round < 10; ++round) {
        if (round > 0) {
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        // The 64-bit products M0 * c0 and M1 * c2, as high and low words.
        const u32 hi0 = __umulhi(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
        const u32 hi1 = __umulhi(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
        const u32 next0 = hi1 ^ c1 ^ k0, next2 = hi0 ^ c3 ^ k1;
        c0 = next0;
        c1 = lo1;
        c2 = next2;
        c3 = lo0;
    }
    PhiloxBlock b = {{c0, c1, c2, c3}};
    return b;
}

// `philox::uniform_from_word`: the top 24 bits as a float in [0, 1) (exact).
__device__ __forceinline__ float uniform_from_word(u32 word) {
    return __fmul_rn(__uint2float_rn(word >> 8), 0x1p-24f);
}

// BOX_MULLER_BEGIN: plain C but for the intrinsics, so that this section also builds for the
// host (intrinsics as plain operations and C's fma, -ffp-contract=off) to be compared with Rust.
// ------------------------------------------------------------------ Box-Muller's ln and cos
//
// These are crates/core/src/philox/math.rs operation for operation: `ln_f32`, `ln_f64`,
// `cos_2pi_f32` and `cos_2pi_f64` (bm_ln_f32 ... here), with the same constants, written here as
// hex literals (the CUDA crate's tests check each against the Rust value). Every multiply, add,
// divide and fused multiply-add is an explicit round-to-nearest intrinsic, so NVRTC can neither
// contract a * b + c into an FMA nor reorder anything; conversions and bit operations are exact.
// Change both files together. The comments in math.rs say why each step is there.

// `ln_f32`: ln x for positive normal x, x = 2^k m with m in [sqrt(1/2), sqrt(2)),
// ln(1 + f) = f - f^2/2 + s (f^2/2 + z Q(z)) with f = m - 1, s = f / (2 + f), z = s^2.
__device__ __forceinline__ float bm_ln_f32(float x) {
    const u32 bits = __float_as_uint(x);
    const i32 k = (i32)(bits - 0x3f3504f3u) >> 23;  // arithmetic shift
    const float m = __uint_as_float(bits - ((u32)k << 23));
    const float f = __fsub_rn(m, 1.0f);
    const float s = __fdiv_rn(f, __fadd_rn(2.0f, f));
    const float z = __fmul_rn(s, s);
    // LN_Q_F32
    const float q = __fmaf_rn(__fmaf_rn(0x1.31e03cp-2f, z, 0x1.995ed8p-2f), z, 0x1.55557ap-1f);
    const float r = __fmul_rn(z, q);
    const float half_f2 = __fmul_rn(__fmul_rn(0.5f, f), f);
    const float half_f2_err = __fmaf_rn(__fmul_rn(0.5f, f), f, -half_f2);
    // LN2_F32: k ln2_hi is exact; hi + hi_err = k ln2_hi + f exactly.
    const float kf = __int2float_rn(k);
    const float k_ln2_hi = __fmul_rn(kf, 0x1.62e4p-1f);
    const float hi = __fadd_rn(k_ln2_hi, f);
    const float hi_err = __fadd_rn(__fsub_rn(k_ln2_hi, hi), f);
    const float tail = __fmaf_rn(s, __fadd_rn(half_f2, r),
                                 __fmaf_rn(kf, 0x1.7f7d1cp-20f, __fsub_rn(hi_err, half_f2_err)));
    return __fadd_rn(hi, __fsub_rn(tail, half_f2));
}

// `ln_f64`: the same steps in double with a longer polynomial.
__device__ __forceinline__ double bm_ln_f64(double x) {
    const u64 bits = (u64)__double_as_longlong(x);
    const i64 k = (i64)(bits - 0x3fe6a09e667f3bcdull) >> 52;  // arithmetic shift
    const double m = __longlong_as_double((i64)(bits - ((u64)k << 52)));
    const double f = __dsub_rn(m, 1.0);
    const double s = __ddiv_rn(f, __dadd_rn(2.0, f));
    const double z = __dmul_rn(s, s);
    // LN_Q_F64
    double q = 0x1.2f0250929b0ep-3;
    q = __fma_rn(q, z, 0x1.39a20bb87454p-3);
    q = __fma_rn(q, z, 0x1.74663ba2b4923p-3);
    q = __fma_rn(q, z, 0x1.c71c521a1b60ap-3);
    q = __fma_rn(q, z, 0x1.24924941db47ap-2);
    q = __fma_rn(q, z, 0x1.999999997ff63p-2);
    q = __fma_rn(q, z, 0x1.5555555555592p-1);
    const double r = __dmul_rn(z, q);
    const double half_f2 = __dmul_rn(__dmul_rn(0.5, f), f);
    const double half_f2_err = __fma_rn(__dmul_rn(0.5, f), f, -half_f2);
    // LN2_F64
    const double kf = __ll2double_rn(k);
    const double k_ln2_hi = __dmul_rn(kf, 0x1.62e42fefa38p-1);
    const double hi = __dadd_rn(k_ln2_hi, f);
    const double hi_err = __dadd_rn(__dsub_rn(k_ln2_hi, hi), f);
    const double tail = __fma_rn(s, __dadd_rn(half_f2, r),
                                 __fma_rn(kf, 0x1.ef35793c7673p-45, __dsub_rn(hi_err, half_f2_err)));
    return __dadd_rn(hi, __dsub_rn(tail, half_f2));
}

// `cos_2pi_f32`: cos(2 pi u) for |u| < 2^20. In quarter turns 4u = n + r exactly (n the nearest
// integer, |r| <= 1/2), and cos(2 pi u) is +-cos(pi r / 2) or +-sin(pi r / 2) by n mod 4.
__device__ __forceinline__ float bm_cos_2pi_f32(float u) {
    const float t = __fmul_rn(4.0f, u);
    const float nf = __fsub_rn(__fadd_rn(t, 0x1.8p23f), 0x1.8p23f);  // ROUND_F32
    const float r = __fsub_rn(t, nf);
    const int n = __float2int_rn(nf);  // exact: nf is an integer
    const float z = __fmul_rn(r, r);
    // COS_C_F32
    float c = 0x1.d4f7eep-11f;
    c = __fmaf_rn(c, z, -0x1.55b2b6p-6f);
    c = __fmaf_rn(c, z, 0x1.03c1bp-2f);
    c = __fmaf_rn(c, z, -0x1.3bd3ccp+0f);
    const float cos_r = __fmaf_rn(z, c, 1.0f);
    // SIN_T_F32 and HALF_PI_F32
    float st = -0x1.2db5cep-8f;
    st = __fmaf_rn(st, z, 0x1.465facp-4f);
    st = __fmaf_rn(st, z, -0x1.4abbbep-1f);
    const float low = __fmaf_rn(z, st, -0x1.777a5cp-25f);
    const float sin_r = __fmaf_rn(r, 0x1.921fb6p+0f, __fmul_rn(r, low));
    // n mod 4 = 0, 1, 2, 3: cos, -sin, -cos, sin.
    const float v = (n & 1) == 0 ? cos_r : sin_r;
    return ((n + 1) & 2) == 0 ? v : -v;
}

// `cos_2pi_f64`: the same steps in double with longer polynomials, for |u| < 2^49.
__device__ __forceinline__ double bm_cos_2pi_f64(double u) {
    const double t = __dmul_rn(4.0, u);
    const double nf = __dsub_rn(__dadd_rn(t, 0x1.8p52), 0x1.8p52);  // ROUND_F64
    const double r = __dsub_rn(t, nf);
    const i64 n = __double2ll_rn(nf);
    const double z = __dmul_rn(r, r);
    // COS_C_F64
    double c = -0x1.b0345e6dcb18bp-28;
    c = __fma_rn(c, z, 0x1.f9c4adbfe28f6p-22);
    c = __fma_rn(c, z, -0x1.a6d1e238edfe3p-16);
    c = __fma_rn(c, z, 0x1.e1f50675b20c6p-11);
    c = __fma_rn(c, z, -0x1.55d3c7e3bfe56p-6);
    c = __fma_rn(c, z, 0x1.03c1f081b5a52p-2);
    c = __fma_rn(c, z, -0x1.3bd3cc9be45dep+0);
    const double cos_r = __fma_rn(z, c, 1.0);
    // SIN_T_F64 and HALF_PI_F64
    double st = 0x1.e3fbe3fca4aafp-25;
    st = __fma_rn(st, z, -0x1.e3008fada3c3dp-19);
    st = __fma_rn(st, z, 0x1.5078300347457p-13);
    st = __fma_rn(st, z, -0x1.32d2cce31bf05p-8);
    st = __fma_rn(st, z, 0x1.466bc67758c4cp-4);
    st = __fma_rn(st, z, -0x1.4abbce625be46p-1);
    const double low = __fma_rn(z, st, 0x1.1a62633145c07p-54);
    const double sin_r = __fma_rn(r, 0x1.921fb54442d18p+0, __dmul_rn(r, low));
    const double v = (n & 1) == 0 ? cos_r : sin_r;
    return ((n + 1) & 2) == 0 ? v : -v;
}
// BOX_MULLER_END

// ------------------------------------------------------------------ the distributions

// `philox::normal_from_words`: Box-Muller in f32, sqrt(-2 ln(1 - u0)) cos(2 pi u1).
__device__ __forceinline__ float normal_from_words(u32 w0, u32 w1) {
    const float u0 = uniform_from_word(w0);
    const float u1 = uniform_from_word(w1);
    const float radius = __fsqrt_rn(__fmul_rn(-2.0f, bm_ln_f32(__fsub_rn(1.0f, u0))));
    return __fmul_rn(radius, bm_cos_2pi_f32(u1));
}

// `philox::normal_from_words_f64`: the same words, in f64.
__device__ __forceinline__ double normal_from_words_f64(u32 w0, u32 w1) {
    const double u0 = (double)uniform_from_word(w0);
    const double u1 = (double)uniform_from_word(w1);
    const double radius = __dsqrt_rn(__dmul_rn(-2.0, bm_ln_f64(__dsub_rn(1.0, u0))));
    return __dmul_rn(radius, bm_cos_2pi_f64(u1));
}

// An integer to any dtype as the CPU's `from_int`: f16 and bf16 round once, through f64 and f32
// both rounded to odd (a plain i64 -> f64 conversion would round twice above 2^53).
template <typename T> __device__ __forceinline__ T random_from_i64(i64 x) { return from_i64<T>(x); }
__device__ __forceinline__ float i64_to_f32_round_odd(i64 x) {
    double d = __ll2double_rz(x);
    if (__double2ll_rz(d) != x) {
        d = __longlong_as_double(__double_as_longlong(d) | 1);
    }
    return f64_to_f32_round_odd(d);
}
template <> __device__ __forceinline__ f16 random_from_i64<f16>(i64 x) {
    return f32_to_f16(i64_to_f32_round_odd(x));
}
template <> __device__ __forceinline__ bf16 random_from_i64<bf16>(i64 x) {
    return f32_to_bf16(i64_to_f32_round_odd(x));
}

// `philox::uniform_digits`: the bits of a word a uniform draw of the dtype keeps (its
// significant digits), so that `u < 1` survives rounding to the dtype.
template <typename T> __device__ __forceinline__ int uniform_digits() { return 24; }
template <> __device__ __forceinline__ int uniform_digits<f16>() { return 11; }
template <> __device__ __forceinline__ int uniform_digits<bf16>() { return 8; }

// `philox::uniform_from_word_digits`: the top `digits` bits as a float in [0, 1) (exact).
__device__ __forceinline__ float uniform_from_word_digits(u32 word, int digits) {
    // 2^-digits, built from its exponent bits (exact).
    return __fmul_rn(__uint2float_rn(word >> (32 - digits)), __int_as_float((127 - digits) << 23));
}

// Uniform on [low, high) for f32, f16 and bf16: `low + range * u` in f32 (no FMA), then rounded
// to the dtype. `low` and `range = high - low` arrive as the CPU's f32 values.
template <typename T>
__device__ void uniform_impl(T* dst, Layout layout, i64 n, u64 seed, u64 offset, float low, float range) {
    FOR_EACH_INDEX(i, n) {
        const float u = uniform_from_word_digits(philox_block(seed, offset, (u64)i).w[0], uniform_digits<T>());
        dst[layout_offset(layout, i)] = store_acc<T>(__fadd_rn(low, __fmul_rn(range, u)));
    }
}

template <typename T>
__device__ void normal_impl(T* dst, Layout layout, i64 n, u64 seed, u64 offset, float mean, float std) {
    FOR_EACH_INDEX(i, n) {
        const PhiloxBlock b = philox_block(seed, offset, (u64)i);
        const float z = normal_from_words(b.w[0], b.w[1]);
        dst[layout_offset(layout, i)] = store_acc<T>(__fadd_rn(__fmul_rn(z, std), mean));
    }
}

// 1 where `u < p` (compared in f64, as the CPU), else 0, in any dtype.
template <typename T>
__device__ void bernoulli_impl(T* dst, Layout layout, i64 n, u64 seed, u64 offset, double p) {
    FOR_EACH_INDEX(i, n) {
        const double u = (double)uniform_from_word(philox_block(seed, offset, (u64)i).w[0]);
        dst[layout_offset(layout, i)] = random_from_i64<T>(u < p ? 1 : 0);
    }
}

// `philox::randint_from_words`: `low + (w1:w0 as u64) % range` wrapping; `range` (>= 1) is
// `high - low` as u64.
template <typename T>
__device__ void randint_impl(T* dst, Layout layout, i64 n, u64 seed, u64 offset, i64 low, u64 range) {
    FOR_EACH_INDEX(i, n) {
        const PhiloxBlock b = philox_block(seed, offset, (u64)i);
        const u64 word = ((u64)b.w[1] << 32) | b.w[0];
        dst[layout_offset(layout, i)] = random_from_i64<T>((i64)((u64)low + word % range));
    }
}

// ------------------------------------------------------------------ kernels

#define HALF_FLOAT_KERNELS(name, T) \
    extern "C" __global__ void uniform_##name(T* dst, Layout layout, i64 n, u64 seed, u64 offset, float low, float range) { \
        uniform_impl<T>(dst, layout, n, seed, offset, low, range); \
    } \
    extern "C" __global__ void normal_##name(T* dst, Layout layout, i64 n, u64 seed, u64 offset, float mean, float std) { \
        normal_impl<T>(dst, layout, n, seed, offset, mean, std); \
    }
HALF_FLOAT_KERNELS(f32, float)
HALF_FLOAT_KERNELS(f16, f16)
HALF_FLOAT_KERNELS(bf16, bf16)

// F64 computes in f64 from the same words: `low + range * u`, `z * std + mean`.
extern "C" __global__ void uniform_f64(double* dst, Layout layout, i64 n, u64 seed, u64 offset, double low, double range) {
    FOR_EACH_INDEX(i, n) {
        const double u = (double)uniform_from_word(philox_block(seed, offset, (u64)i).w[0]);
        dst[layout_offset(layout, i)] = __dadd_rn(low, __dmul_rn(range, u));
    }
}
extern "C" __global__ void normal_f64(double* dst, Layout layout, i64 n, u64 seed, u64 offset, double mean, double std) {
    FOR_EACH_INDEX(i, n) {
        const PhiloxBlock b = philox_block(seed, offset, (u64)i);
        const double z = normal_from_words_f64(b.w[0], b.w[1]);
        dst[layout_offset(layout, i)] = __dadd_rn(__dmul_rn(z, std), mean);
    }
}

#define DISCRETE_KERNELS(name, T) \
    extern "C" __global__ void bernoulli_##name(T* dst, Layout layout, i64 n, u64 seed, u64 offset, double p) { \
        bernoulli_impl<T>(dst, layout, n, seed, offset, p); \
    } \
    extern "C" __global__ void randint_##name(T* dst, Layout layout, i64 n, u64 seed, u64 offset, i64 low, u64 range) { \
        randint_impl<T>(dst, layout, n, seed, offset, low, range); \
    }
FOR_ALL_DTYPES(DISCRETE_KERNELS)
