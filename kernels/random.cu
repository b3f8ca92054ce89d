// Random fills from the Philox 4x32-10 stream, bit for bit as the CPU backend
// (crates/core/src/philox.rs, backends/cpu/src/random.rs). Rust side: backends/cuda/src/random.rs.
//
// Element i (row-major) of a fill at generator position (seed, offset) uses the Philox block of
// counter `offset + i`, whatever the distribution, so one thread per element gives the CPU's
// stream exactly.
//
// Bit-exact normals. The CPU computes Box-Muller with Rust's `f32::ln` / `f32::cos` (`f64::ln` /
// `f64::cos` for F64), which are the C library's logf, cosf, log and cos: glibc's on Linux. Those
// are not correctly rounded (on the inputs Box-Muller reaches they differ from the correctly
// rounded value for about 1% of the f32 and 0.1% of the f64 arguments), and CUDA's own functions
// differ from both. So the functions in the section below reproduce glibc's algorithms operation
// for operation: the same tables and polynomials, with a fused multiply-add exactly where glibc's
// x86-64 FMA build (the variant its ifunc picks on any CPU with FMA) has one, read off the machine
// code of glibc 2.36. Every other multiply and add is an explicit round-to-nearest intrinsic,
// because NVRTC would otherwise contract `a * b + c` into an FMA and change the last bits.
//
// These functions are written for the arguments Box-Muller gives them only: log and logf get
// `1 - u` with u = k / 2^24 (so x in [2^-24, 1]), cos and cosf get `TAU * u` (so x in [0, 2 pi)).
// Subnormal, negative, huge and non-finite arguments take glibc paths that are not reproduced.
// They were checked bit for bit against glibc 2.36 (Debian 12) and 2.39 (Ubuntu 24.04) on every
// one of those 2^24 arguments each, and the kernels against the CPU backend on an H200.

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

// GLIBC_EMULATION_BEGIN: plain C but for the intrinsics, so this section builds for the host
// (intrinsics as plain operations and fma(), -ffp-contract=off) to be compared with libm.
// ------------------------------------------------------------------ glibc's logf (e_logf.c)

// {1/c, log(c)} for the 16 subintervals of [0x3f330000, 2 * 0x3f330000) (__logf_data.tab).
__device__ const double GLIBC_LOGF_TAB[16][2] = {
    {0x1.661ec79f8f3bep+0, -0x1.57bf7808caadep-2},
    {0x1.571ed4aaf883dp+0, -0x1.2bef0a7c06ddbp-2},
    {0x1.49539f0f010b0p+0, -0x1.01eae7f513a67p-2},
    {0x1.3c995b0b80385p+0, -0x1.b31d8a68224e9p-3},
    {0x1.30d190c8864a5p+0, -0x1.6574f0ac07758p-3},
    {0x1.25e227b0b8ea0p+0, -0x1.1aa2bc79c8100p-3},
    {0x1.1bb4a4a1a343fp+0, -0x1.a4e76ce8c0e5ep-4},
    {0x1.12358f08ae5bap+0, -0x1.1973c5a611cccp-4},
    {0x1.0953f419900a7p+0, -0x1.252f438e10c1ep-5},
    {0x1.0000000000000p+0, 0x0.0p+0},
    {0x1.e608cfd9a47acp-1, 0x1.aa5aa5df25984p-5},
    {0x1.ca4b31f026aa0p-1, 0x1.c5e53aa362eb4p-4},
    {0x1.b2036576afce6p-1, 0x1.526e57720db08p-3},
    {0x1.9c2d163a1aa2dp-1, 0x1.bc2860d224770p-3},
    {0x1.886e6037841edp-1, 0x1.1058bc8a07ee1p-2},
    {0x1.767dcf5534862p-1, 0x1.4043057b6ee09p-2},
};

// logf(x) for x in [2^-24, 1]: x = 2^k z, log(x) = log1p(z / c - 1) + log(c) + k ln2.
__device__ __forceinline__ float glibc_logf(float x) {
    const double LN2 = 0x1.62e42fefa39efp-1;
    const double A0 = -0x1.00ea348b88334p-2, A1 = 0x1.5575b0be00b6ap-2, A2 = -0x1.ffffef20a4123p-2;
    const u32 ix = __float_as_uint(x);
    if (ix == 0x3f800000u) {
        return 0.0f;
    }
    const u32 tmp = ix - 0x3f330000u;
    const int i = (tmp >> 19) & 15;
    const int k = (i32)tmp >> 23;  // arithmetic shift
    const u32 iz = ix - (tmp & 0xff800000u);
    const double invc = GLIBC_LOGF_TAB[i][0], logc = GLIBC_LOGF_TAB[i][1];
    const double z = (double)__uint_as_float(iz);
    const double r = __fma_rn(z, invc, -1.0);
    const double y0 = __fma_rn((double)k, LN2, logc);
    const double r2 = __dmul_rn(r, r);
    double y = __fma_rn(A1, r, A2);
    y = __fma_rn(A0, r2, y);
    y = __fma_rn(y, r2, __dadd_rn(y0, r));
    return __double2float_rn(y);
}

// ------------------------------------------------------------------ glibc's cosf (s_cosf.c)

// cosf(y) for y in [0, 120): a polynomial in double on y reduced to [-pi/4, pi/4].
__device__ __forceinline__ float glibc_cosf(float y) {
    // __sincosf_table[0].
    const double C0 = 1.0, C1 = -0x1.ffffffd0c621cp-2, C2 = 0x1.55553e1068f19p-5,
                 C3 = -0x1.6c087e89a359dp-10, C4 = 0x1.99343027bf8c3p-16;
    const double S1 = -0x1.555545995a603p-3, S2 = 0x1.1107605230bc4p-7, S3 = -0x1.994eb3774cf24p-13;
    const double HPI_INV = 0x1.45F306DC9C883p+23;  // 2/pi, prescaled by 2^24
    const double HPI = 0x1.921FB54442D18p0;
    double x = (double)y;
    // abstop12: the top 12 bits of the float without its sign.
    const u32 top = (__float_as_uint(y) >> 20) & 0x7ff;
    double sign = 1.0;  // the table's sign[n & 3] of the sine quadrant
    int n = 0;
    if (top < 0x3f4) {  // |y| < pi/4
        if (top < 0x398) {  // |y| < 2^-12
            return 1.0f;
        }
    } else {
        // reduce_fast: the quadrant n in bits 24..31 of y * 2/pi * 2^24, then x = y - n pi/2.
        const double r = __dmul_rn(x, HPI_INV);
        n = (__double2int_rz(r) + 0x800000) >> 24;
        x = __fma_rn(-(double)n, HPI, x);
        sign = ((n & 3) == 1 || (n & 3) == 2) ? -1.0 : 1.0;
    }
    const double x2 = __dmul_rn(x, x);
    double result;
    if (n & 1) {
        // The sine polynomial on x * sign.
        const double xs = __dmul_rn(x, sign);
        const double s1 = __fma_rn(x2, S3, S2);
        const double x3 = __dmul_rn(x2, xs);
        const double x7 = __dmul_rn(x2, x3);
        const double s = __fma_rn(x3, S1, xs);
        result = __fma_rn(s1, x7, s);
    } else {
        // The cosine polynomial. glibc uses table[1], whose cosine coefficients are negated,
        // when n & 2; round to nearest is symmetric, so negating the result is the same.
        const double x4 = __dmul_rn(x2, x2);
        const double c1 = __fma_rn(x2, C1, C0);
        const double c2 = __fma_rn(x2, C4, C3);
        const double x6 = __dmul_rn(x2, x4);
        const double c = __fma_rn(x4, C2, c1);
        result = __fma_rn(c2, x6, c);
        if (n & 2) {
            result = -result;
        }
    }
    return __double2float_rn(result);
}

// ------------------------------------------------------------------ glibc's log (e_log.c)

// {1/c, log(c)} for the 128 subintervals of [0x3fe6000000000000, 2 * that) (__log_data.tab).
__device__ const double GLIBC_LOG_TAB[128][2] = {
    {0x1.734f0c3e0de9fp+0, -0x1.7cc7f79e69000p-2},
    {0x1.713786a2ce91fp+0, -0x1.76feec20d0000p-2},
    {0x1.6f26008fab5a0p+0, -0x1.713e31351e000p-2},
    {0x1.6d1a61f138c7dp+0, -0x1.6b85b38287800p-2},
    {0x1.6b1490bc5b4d1p+0, -0x1.65d5590807800p-2},
    {0x1.69147332f0cbap+0, -0x1.602d076180000p-2},
    {0x1.6719f18224223p+0, -0x1.5a8ca86909000p-2},
    {0x1.6524f99a51ed9p+0, -0x1.54f4356035000p-2},
    {0x1.63356aa8f24c4p+0, -0x1.4f637c36b4000p-2},
    {0x1.614b36b9ddc14p+0, -0x1.49da7fda85000p-2},
    {0x1.5f66452c65c4cp+0, -0x1.445923989a800p-2},
    {0x1.5d867b5912c4fp+0, -0x1.3edf439b0b800p-2},
    {0x1.5babccb5b90dep+0, -0x1.396ce448f7000p-2},
    {0x1.59d61f2d91a78p+0, -0x1.3401e17bda000p-2},
    {0x1.5805612465687p+0, -0x1.2e9e2ef468000p-2},
    {0x1.56397cee76bd3p+0, -0x1.2941b3830e000p-2},
    {0x1.54725e2a77f93p+0, -0x1.23ec58cda8800p-2},
    {0x1.52aff42064583p+0, -0x1.1e9e129279000p-2},
    {0x1.50f22dbb2bddfp+0, -0x1.1956d2b48f800p-2},
    {0x1.4f38f4734ded7p+0, -0x1.141679ab9f800p-2},
    {0x1.4d843cfde2840p+0, -0x1.0edd094ef9800p-2},
    {0x1.4bd3ec078a3c8p+0, -0x1.09aa518db1000p-2},
    {0x1.4a27fc3e0258ap+0, -0x1.047e65263b800p-2},
    {0x1.4880524d48434p+0, -0x1.feb224586f000p-3},
    {0x1.46dce1b192d0bp+0, -0x1.f474a7517b000p-3},
    {0x1.453d9d3391854p+0, -0x1.ea4443d103000p-3},
    {0x1.43a2744b4845ap+0, -0x1.e020d44e9b000p-3},
    {0x1.420b54115f8fbp+0, -0x1.d60a22977f000p-3},
    {0x1.40782da3ef4b1p+0, -0x1.cc00104959000p-3},
    {0x1.3ee8f5d57fe8fp+0, -0x1.c202956891000p-3},
    {0x1.3d5d9a00b4ce9p+0, -0x1.b81178d811000p-3},
    {0x1.3bd60c010c12bp+0, -0x1.ae2c9ccd3d000p-3},
    {0x1.3a5242b75dab8p+0, -0x1.a45402e129000p-3},
    {0x1.38d22cd9fd002p+0, -0x1.9a877681df000p-3},
    {0x1.3755bc5847a1cp+0, -0x1.90c6d69483000p-3},
    {0x1.35dce49ad36e2p+0, -0x1.87120a645c000p-3},
    {0x1.34679984dd440p+0, -0x1.7d68fb4143000p-3},
    {0x1.32f5cceffcb24p+0, -0x1.73cb83c627000p-3},
    {0x1.3187775a10d49p+0, -0x1.6a39a9b376000p-3},
    {0x1.301c8373e3990p+0, -0x1.60b3154b7a000p-3},
    {0x1.2eb4ebb95f841p+0, -0x1.5737d76243000p-3},
    {0x1.2d50a0219a9d1p+0, -0x1.4dc7b8fc23000p-3},
    {0x1.2bef9a8b7fd2ap+0, -0x1.4462c51d20000p-3},
    {0x1.2a91c7a0c1babp+0, -0x1.3b08abc830000p-3},
    {0x1.293726014b530p+0, -0x1.31b996b490000p-3},
    {0x1.27dfa5757a1f5p+0, -0x1.2875490a44000p-3},
    {0x1.268b39b1d3bbfp+0, -0x1.1f3b9f879a000p-3},
    {0x1.2539d838ff5bdp+0, -0x1.160c8252ca000p-3},
    {0x1.23eb7aac9083bp+0, -0x1.0ce7f57f72000p-3},
    {0x1.22a012ba940b6p+0, -0x1.03cdc49fea000p-3},
    {0x1.2157996cc4132p+0, -0x1.f57bdbc4b8000p-4},
    {0x1.201201dd2fc9bp+0, -0x1.e370896404000p-4},
    {0x1.1ecf4494d480bp+0, -0x1.d17983ef94000p-4},
    {0x1.1d8f5528f6569p+0, -0x1.bf9674ed8a000p-4},
    {0x1.1c52311577e7cp+0, -0x1.adc79202f6000p-4},
    {0x1.1b17c74cb26e9p+0, -0x1.9c0c3e7288000p-4},
    {0x1.19e010c2c1ab6p+0, -0x1.8a646b372c000p-4},
    {0x1.18ab07bb670bdp+0, -0x1.78d01b3ac0000p-4},
    {0x1.1778a25efbcb6p+0, -0x1.674f145380000p-4},
    {0x1.1648d354c31dap+0, -0x1.55e0e6d878000p-4},
    {0x1.151b990275fddp+0, -0x1.4485cdea1e000p-4},
    {0x1.13f0ea432d24cp+0, -0x1.333d94d6aa000p-4},
    {0x1.12c8b7210f9dap+0, -0x1.22079f8c56000p-4},
    {0x1.11a3028ecb531p+0, -0x1.10e4698622000p-4},
    {0x1.107fbda8434afp+0, -0x1.ffa6c6ad20000p-5},
    {0x1.0f5ee0f4e6bb3p+0, -0x1.dda8d4a774000p-5},
    {0x1.0e4065d2a9fcep+0, -0x1.bbcece4850000p-5},
    {0x1.0d244632ca521p+0, -0x1.9a1894012c000p-5},
    {0x1.0c0a77ce2981ap+0, -0x1.788583302c000p-5},
    {0x1.0af2f83c636d1p+0, -0x1.5715e67d68000p-5},
    {0x1.09ddb98a01339p+0, -0x1.35c8a49658000p-5},
    {0x1.08cabaf52e7dfp+0, -0x1.149e364154000p-5},
    {0x1.07b9f2f4e28fbp+0, -0x1.e72c082eb8000p-6},
    {0x1.06ab58c358f19p+0, -0x1.a55f152528000p-6},
    {0x1.059eea5ecf92cp+0, -0x1.63d62cf818000p-6},
    {0x1.04949cdd12c90p+0, -0x1.228fb8caa0000p-6},
    {0x1.038c6c6f0ada9p+0, -0x1.c317b20f90000p-7},
    {0x1.02865137932a9p+0, -0x1.419355daa0000p-7},
    {0x1.0182427ea7348p+0, -0x1.81203c2ec0000p-8},
    {0x1.008040614b195p+0, -0x1.0040979240000p-9},
    {0x1.fe01ff726fa1ap-1, 0x1.feff384900000p-9},
    {0x1.fa11cc261ea74p-1, 0x1.7dc41353d0000p-7},
    {0x1.f6310b081992ep-1, 0x1.3cea3c4c28000p-6},
    {0x1.f25f63ceeadcdp-1, 0x1.b9fc114890000p-6},
    {0x1.ee9c8039113e7p-1, 0x1.1b0d8ce110000p-5},
    {0x1.eae8078cbb1abp-1, 0x1.58a5bd001c000p-5},
    {0x1.e741aa29d0c9bp-1, 0x1.95c8340d88000p-5},
    {0x1.e3a91830a99b5p-1, 0x1.d276aef578000p-5},
    {0x1.e01e009609a56p-1, 0x1.07598e598c000p-4},
    {0x1.dca01e577bb98p-1, 0x1.253f5e30d2000p-4},
    {0x1.d92f20b7c9103p-1, 0x1.42edd8b380000p-4},
    {0x1.d5cac66fb5ccep-1, 0x1.606598757c000p-4},
    {0x1.d272caa5ede9dp-1, 0x1.7da76356a0000p-4},
    {0x1.cf26e3e6b2ccdp-1, 0x1.9ab434e1c6000p-4},
    {0x1.cbe6da2a77902p-1, 0x1.b78c7bb0d6000p-4},
    {0x1.c8b266d37086dp-1, 0x1.d431332e72000p-4},
    {0x1.c5894bd5d5804p-1, 0x1.f0a3171de6000p-4},
    {0x1.c26b533bb9f8cp-1, 0x1.067152b914000p-3},
    {0x1.bf583eeece73fp-1, 0x1.147858292b000p-3},
    {0x1.bc4fd75db96c1p-1, 0x1.2266ecdca3000p-3},
    {0x1.b951e0c864a28p-1, 0x1.303d7a6c55000p-3},
    {0x1.b65e2c5ef3e2cp-1, 0x1.3dfc33c331000p-3},
    {0x1.b374867c9888bp-1, 0x1.4ba366b7a8000p-3},
    {0x1.b094b211d304ap-1, 0x1.5933928d1f000p-3},
    {0x1.adbe885f2ef7ep-1, 0x1.66acd2418f000p-3},
    {0x1.aaf1d31603da2p-1, 0x1.740f8ec669000p-3},
    {0x1.a82e63fd358a7p-1, 0x1.815c0f51af000p-3},
    {0x1.a5740ef09738bp-1, 0x1.8e92954f68000p-3},
    {0x1.a2c2a90ab4b27p-1, 0x1.9bb3602f84000p-3},
    {0x1.a01a01393f2d1p-1, 0x1.a8bed1c2c0000p-3},
    {0x1.9d79f24db3c1bp-1, 0x1.b5b515c01d000p-3},
    {0x1.9ae2505c7b190p-1, 0x1.c2967ccbcc000p-3},
    {0x1.9852ef297ce2fp-1, 0x1.cf635d5486000p-3},
    {0x1.95cbaeea44b75p-1, 0x1.dc1bd3446c000p-3},
    {0x1.934c69de74838p-1, 0x1.e8c01b8cfe000p-3},
    {0x1.90d4f2f6752e6p-1, 0x1.f5509c0179000p-3},
    {0x1.8e6528effd79dp-1, 0x1.00e6c121fb800p-2},
    {0x1.8bfce9fcc007cp-1, 0x1.071b80e93d000p-2},
    {0x1.899c0dabec30ep-1, 0x1.0d46b9e867000p-2},
    {0x1.87427aa2317fbp-1, 0x1.13687334bd000p-2},
    {0x1.84f00acb39a08p-1, 0x1.1980d67234800p-2},
    {0x1.82a49e8653e55p-1, 0x1.1f8ffe0cc8000p-2},
    {0x1.8060195f40260p-1, 0x1.2595fd7636800p-2},
    {0x1.7e22563e0a329p-1, 0x1.2b9300914a800p-2},
    {0x1.7beb377dcb5adp-1, 0x1.3187210436000p-2},
    {0x1.79baa679725c2p-1, 0x1.377266dec1800p-2},
    {0x1.77907f2170657p-1, 0x1.3d54ffbaf3000p-2},
    {0x1.756cadbd6130cp-1, 0x1.432eee32fe000p-2},
};

// log(x) for x in [2^-24, 1].
__device__ __forceinline__ double glibc_log(double x) {
    const u64 ix = (u64)__double_as_longlong(x);
    // Close to 1 (1 - 2^-4 <= x < 1 + 0x1.09p-4): a polynomial in r = x - 1 with r^2 / 2 split
    // into exact parts.
    if (ix - 0x3fee000000000000ull < 0x3ff1090000000000ull - 0x3fee000000000000ull) {
        if (ix == 0x3ff0000000000000ull) {
            return 0.0;
        }
        const double B0 = -0x1p-1, B1 = 0x1.5555555555577p-2, B2 = -0x1.ffffffffffdcbp-3,
                     B3 = 0x1.999999995dd0cp-3, B4 = -0x1.55555556745a7p-3,
                     B5 = 0x1.24924a344de30p-3, B6 = -0x1.fffffa4423d65p-4,
                     B7 = 0x1.c7184282ad6cap-4, B8 = -0x1.999eb43b068ffp-4,
                     B9 = 0x1.78182f7afd085p-4, B10 = -0x1.5521375d145cdp-4;
        const double r = __dsub_rn(x, 1.0);
        const double r2 = __dmul_rn(r, r);
        const double r3 = __dmul_rn(r, r2);
        const double p1 = __fma_rn(r2, B3, __fma_rn(r, B2, B1));
        const double p4 = __fma_rn(r2, B6, __fma_rn(r, B5, B4));
        double p7 = __fma_rn(r2, B9, __fma_rn(r, B8, B7));
        p7 = __fma_rn(r3, B10, p7);
        const double poly = __fma_rn(__fma_rn(p7, r3, p4), r3, p1);
        // rhi = r + w - w with w = r * 2^27: r rounded to 26 bits, so rhi * rhi is exact.
        const double rhi = __fma_rn(-0x1p27, r, __fma_rn(r, 0x1p27, r));
        const double rlo = __dsub_rn(r, rhi);
        const double w = __dmul_rn(rhi, rhi);  // times B0 = -1/2 inside the FMAs below
        const double hi = __fma_rn(w, B0, r);
        double lo = __fma_rn(w, B0, __dsub_rn(r, hi));
        lo = __fma_rn(__dmul_rn(B0, rlo), __dadd_rn(r, rhi), lo);
        return __dadd_rn(hi, __fma_rn(poly, r3, lo));
    }
    const double LN2HI = 0x1.62e42fefa3800p-1, LN2LO = 0x1.ef35793c76730p-45;
    const double A0 = -0x1.0000000000001p-1, A1 = 0x1.555555551305bp-2, A2 = -0x1.fffffffeb4590p-3,
                 A3 = 0x1.999b324f10111p-3, A4 = -0x1.55575e506c89fp-3;
    // x = 2^k z with z in [0x3fe6000000000000, 2 * that); log(x) = log1p(z / c - 1) + log(c) + k ln2.
    const u64 tmp = ix - 0x3fe6000000000000ull;
    const int i = (int)((tmp >> 45) & 127);
    const double kd = (double)((i64)tmp >> 52);  // arithmetic shift
    const u64 iz = ix - (tmp & 0xfff0000000000000ull);
    const double invc = GLIBC_LOG_TAB[i][0], logc = GLIBC_LOG_TAB[i][1];
    const double z = __longlong_as_double((i64)iz);
    const double r = __fma_rn(z, invc, -1.0);
    const double w = __fma_rn(kd, LN2HI, logc);
    const double hi = __dadd_rn(r, w);
    const double lo = __fma_rn(kd, LN2LO, __dadd_rn(__dsub_rn(w, hi), r));
    const double r2 = __dmul_rn(r, r);
    const double r3 = __dmul_rn(r, r2);
    const double poly = __fma_rn(__fma_rn(r, A4, A3), r2, __fma_rn(r, A2, A1));
    const double y = __fma_rn(r3, poly, __fma_rn(r2, A0, lo));
    return __dadd_rn(y, hi);
}

// ------------------------------------------------------------------ glibc's cos (s_sin.c)

// sin(x), ssin, cos(x), ccos for x = k / 128, k = 0..109 (__sincostab): sin and cos split into
// a double and a correction.
__device__ const double GLIBC_SINCOSTAB[440] = {
    0x0.0p+0, 0x0.0p+0, 0x1.0000000000000p+0, 0x0.0p+0,
    0x1.fffeaaaaeeeefp-8, -0x1.e45e2ec67b77cp-62, 0x1.fffc000155552p-1, 0x1.f4a01a0196daep-55,
    0x1.fffaaaaeeeed5p-7, -0x1.2ab639a9f0777p-63, 0x1.fff000155549fp-1, 0x1.28a28a03a5ef3p-55,
    0x1.7ff7001033255p-6, 0x1.efe2b51527336p-64, 0x1.ffdc006bff7e6p-1, 0x1.ae6dae86977bdp-55,
    0x1.ffeaaaeeee86fp-6, -0x1.cd406fb224ae2p-60, 0x1.ffc00155527d3p-1, -0x1.3b54492d89b5bp-55,
    0x1.3feb2b12d45d5p-5, 0x1.4ec54203d1c11p-60, 0x1.ff9c03414a7bap-1, 0x1.991f4be6c59bfp-57,
    0x1.7fdc01032fba9p-5, -0x1.599bdf46e997ap-59, 0x1.ff7006bfdf99fp-1, -0x1.8b3b560648d5fp-56,
    0x1.bfc6d78586dacp-5, 0x1.8e4fd03dbf236p-62, 0x1.ff3c0c8103a31p-1, 0x1.4856dbddc0e66p-56,
    0x1.ffaaaeeed4edbp-5, -0x1.2d16d32684b69p-59, 0x1.ff0015549f4d3p-1, 0x1.328387b99426fp-55,
    0x1.1fc343d808befp-4, -0x1.f3d32e6f3be4fp-58, 0x1.febc222a8ef9fp-1, 0x1.7934934f54c77p-58,
    0x1.3facb12d1755bp-4, -0x1.921915299468cp-58, 0x1.fe7034129ef6fp-1, -0x1.cbf4337c96f97p-57,
    0x1.5f911fd10b737p-4, -0x1.0184f02be9102p-58, 0x1.fe1c4c3c873ebp-1, -0x1.5a9c9057c4a02p-60,
    0x1.7f701032550e4p-4, 0x1.afc2d1800501ap-60, 0x1.fdc06bf7e6b9bp-1, 0x1.31902b535f8dbp-55,
    0x1.9f4902d55d1f9p-4, 0x1.2696d7eac1dc1p-58, 0x1.fd5c94b43e000p-1, -0x1.2e768cb4f92f9p-57,
    0x1.bf1b78568391dp-4, 0x1.e91841dea4cc8p-58, 0x1.fcf0c800e99b1p-1, 0x1.ea3d786d186acp-57,
    0x1.dee6f16c1cce6p-4, -0x1.50f8e2fb71673p-59, 0x1.fc7d078d1bc88p-1, 0x1.075d2447db685p-55,
    0x1.feaaeee86ee36p-4, -0x1.afcb2bcc6f03bp-59, 0x1.fc015527d5bd3p-1, 0x1.b68f35094efb8p-55,
    0x1.0f3378ddd71d1p-3, 0x1.d8468724f0f9ep-57, 0x1.fb7db2bfe0695p-1, 0x1.21dadf4f65ab1p-55,
    0x1.1f0d3d7afceafp-3, -0x1.6ef95099769a5p-57, 0x1.faf22263c4bd3p-1, -0x1.52ace133a2769p-58,
    0x1.2ee285e4ab88fp-3, -0x1.e4d0f05dee058p-57, 0x1.fa5ea641c36f2p-1, 0x1.04da6ed17cc7cp-59,
    0x1.3eb312c5d66cbp-3, 0x1.47d666b66cb91p-57, 0x1.f9c340a7cc428p-1, 0x1.c5b6b063b7462p-55,
    0x1.4e7ea4dc5f27bp-3, 0x1.949db2ac072fcp-58, 0x1.f91ff40374d01p-1, -0x1.7d03f4d3a9e4cp-57,
    0x1.5e44fcfa126f3p-3, -0x1.6f443063f89b6p-57, 0x1.f874c2e1eecf6p-1, -0x1.c6514e1332b16p-55,
    0x1.6e05dc05a4d4cp-3, -0x1.32c5c8b81c940p-66, 0x1.f7c1afeffde24p-1, -0x1.8f55bc47540b1p-56,
    0x1.7dc102fbaf2b5p-3, 0x1.5ab50e23c97c3p-59, 0x1.f706bdf9ece1cp-1, -0x1.698c80c36dcb4p-55,
    0x1.8d7632efaa944p-3, -0x1.20fa262cbb953p-57, 0x1.f643efeb82acdp-1, 0x1.6b00ac1fe28acp-56,
    0x1.9d252d0cec312p-3, 0x1.9c43d80b1137dp-58, 0x1.f57948cff6797p-1, 0x1.e3a0d3e03b1d5p-57,
    0x1.accdb297a0765p-3, -0x1.9883b57d6cdebp-58, 0x1.f4a6cbd1e3a79p-1, 0x1.13df0edaebb57p-55,
    0x1.bc6f84edc6199p-3, 0x1.9c1a56a7b0cabp-57, 0x1.f3cc7c3b3d16ep-1, -0x1.21a3ad28a3494p-57,
    0x1.cc0a6588289a3p-3, -0x1.868d09bc87c6bp-57, 0x1.f2ea5d753ffedp-1, 0x1.cc4215f56d583p-55,
    0x1.db9e15fb5a5d0p-3, -0x1.32e20d6cc6fc2p-57, 0x1.f20073086649fp-1, 0x1.b940416c1984bp-56,
    0x1.eb2a57f8ae5a3p-3, -0x1.0be06af572cebp-57, 0x1.f10ec09c5873bp-1, 0x1.d9072762c1283p-55,
    0x1.faaeed4f31577p-3, -0x1.15d88508e32b8p-57, 0x1.f01549f7deea1p-1, 0x1.d3c1e99e5cafdp-55,
    0x1.0515cbf65155cp-2, -0x1.9b8c29dfd8ec8p-56, 0x1.ef141300d2f26p-1, -0x1.2aa1b08ded372p-55,
    0x1.0cd00cef36436p-2, -0x1.9fb0a0c93e2b5p-56, 0x1.ee0b1fbc0f11cp-1, -0x1.bfd2380bbc3b1p-59,
    0x1.14861aa94ddebp-2, -0x1.be881b5b615a4p-57, 0x1.ecfa744d5efa1p-1, -0x1.56d0a4af541d0p-58,
    0x1.1c37d64c6b876p-2, 0x1.46076fe0dcff5p-56, 0x1.ebe214f76efa8p-1, -0x1.02f9f12ba543ep-55,
    0x1.23e52111aaf36p-2, -0x1.4f080334eff18p-56, 0x1.eac2061bbaf4fp-1, 0x1.2c1d53e94658dp-57,
    0x1.2b8ddc43eb49fp-2, 0x1.1553899f2d807p-57, 0x1.e99a4c3a7cd83p-1, -0x1.2264b1bc53ce8p-55,
    0x1.3331e94049f87p-2, 0x1.e0cb6b40c302cp-56, 0x1.e86aebf29a9edp-1, 0x1.9397afdbb58a7p-55,
    0x1.3ad129769d3d8p-2, 0x1.03d5504878398p-63, 0x1.e733ea0193d40p-1, -0x1.6428b3546ce13p-55,
    0x1.426b7e69ee697p-2, -0x1.f09c75705c59fp-56, 0x1.e5f54b436e9d0p-1, 0x1.7eb0fd02fc8bcp-55,
    0x1.4a00c9b0f3d20p-2, 0x1.823ba6bb08eadp-56, 0x1.e4af14b2a449cp-1, -0x1.68ca02e8a6833p-55,
    0x1.5190ecf68a77ap-2, 0x1.b357155eef0f3p-56, 0x1.e3614b680d6a5p-1, -0x1.27793aa015237p-56,
    0x1.591bc9fa2f597p-2, 0x1.7c74bac3fe0cbp-57, 0x1.e20bf49acd6c1p-1, -0x1.660aec7ef636cp-58,
    0x1.60a1429078775p-2, 0x1.b1fd80ba89133p-58, 0x1.e0af15a03dbcep-1, 0x1.fe8e702771ae6p-58,
    0x1.682138a38d7f7p-2, -0x1.d889202444aadp-56, 0x1.df4ab3ebd875ep-1, -0x1.e2d8a7e6736c4p-55,
    0x1.6f9b8e33a0255p-2, 0x1.42bc14ee9da0dp-56, 0x1.ddded50f228d6p-1, -0x1.e80c8d42ba2bfp-57,
    0x1.7710255764214p-2, -0x1.6ead7314bb6cep-57, 0x1.dc6b7eb995912p-1, 0x1.4b364776dcd35p-58,
    0x1.7e7ee03c86d4ep-2, -0x1.b63bcdabf5af2p-56, 0x1.daf0b6b888e83p-1, 0x1.a249e2b5e5ceap-55,
    0x1.85e7a12826949p-2, 0x1.8a40e9b5face0p-56, 0x1.d96e82f71a9dcp-1, 0x1.ff61bd5d2039dp-55,
    0x1.8d4a4a774992fp-2, 0x1.44a02ea766326p-56, 0x1.d7e4e97e17b4ap-1, -0x1.3b770352bed94p-57,
    0x1.94a6be9f546c5p-2, -0x1.69ce13e683f58p-56, 0x1.d653f073e4040p-1, -0x1.76236434bec37p-55,
    0x1.9bfce02e80510p-2, 0x1.09e39a320b0a4p-56, 0x1.d4bb9e1c619e0p-1, 0x1.f34bb77858f61p-55,
    0x1.a34c91cc50ccap-2, -0x1.a310e3b50cecdp-58, 0x1.d31bf8d8d7c06p-1, 0x1.e60dd3089cbddp-56,
    0x1.aa95b63a09277p-2, -0x1.6293eb13c0381p-57, 0x1.d1750727d94f0p-1, 0x1.0d52b1ec1a48ep-55,
    0x1.b1d8305321617p-2, -0x1.ae242cb99f519p-56, 0x1.cfc6cfa52ad9fp-1, 0x1.8b5b5508f2a0dp-55,
    0x1.b913e30dbac43p-2, -0x1.e38ad2f6c3ff1p-56, 0x1.ce115909a82e5p-1, 0x1.1f139bb31109ap-55,
    0x1.c048b17b140a3p-2, 0x1.19fe6757e9fa7p-57, 0x1.cc54aa2b2972ep-1, 0x1.4ee162ba83a98p-57,
    0x1.c7767ec7fd19ep-2, -0x1.eb14d1a3d5826p-58, 0x1.ca90c9fc67d0bp-1, -0x1.46a81485e3462p-57,
    0x1.ce9d2e3d4a51fp-2, -0x1.2fc8a12dae298p-57, 0x1.c8c5bf8ce1a84p-1, 0x1.ab3d1a1590123p-56,
    0x1.d5bca34047661p-2, 0x1.28a44a75fc29cp-56, 0x1.c6f39208be53bp-1, -0x1.741dbfbaadb42p-55,
    0x1.dcd4c15329c9ap-2, 0x1.0d4c6e171fd9ap-56, 0x1.c51a48b8b175ep-1, -0x1.1bbb43b9aa880p-57,
    0x1.e3e56c1582a69p-2, -0x1.0a4821099f88fp-58, 0x1.c339eb01ddd81p-1, -0x1.caaf5ee82c5c0p-55,
    0x1.eaee8744b05f0p-2, -0x1.789b43c9b027dp-58, 0x1.c1528065b7d50p-1, -0x1.892111312e828p-55,
    0x1.f1eff6bc4f97bp-2, 0x1.17212f8a7525cp-56, 0x1.bf641081e7536p-1, 0x1.b7bd71628a9a1p-55,
    0x1.f8e99e76abc97p-2, 0x1.9d950af2d00a3p-58, 0x1.bd6ea310294f5p-1, 0x1.31bbcc88c109dp-56,
    0x1.ffdb628d2f57ap-2, 0x1.f4a992e905b6ap-57, 0x1.bb723fe630f32p-1, 0x1.72bd2452d0a39p-56,
    0x1.0362939c69955p-1, -0x1.2d8cd78397b01p-55, 0x1.b96eeef58840ep-1, 0x1.45a3cc78fade0p-58,
    0x1.06d3686946e5bp-1, 0x1.3f5ae4538ff1bp-55, 0x1.b764b84b704c2p-1, -0x1.f5848c21b389bp-55,
    0x1.0a4021e9e1001p-1, -0x1.6f643a13914f6p-55, 0x1.b553a410c104ep-1, 0x1.8ff7947027a16p-58,
    0x1.0da8b26b5672ep-1, -0x1.a58def0bee909p-55, 0x1.b33bba89c8948p-1, 0x1.ea6a51d1f6ca9p-55,
    0x1.110d0c4b69c3bp-1, 0x1.d918998809981p-55, 0x1.b11d04162a4c6p-1, 0x1.1dd561efbc0c2p-56,
    0x1.146d21f8b7f82p-1, 0x1.bf9535e2739a8p-56, 0x1.aef78930bd275p-1, -0x1.f836279746f94p-56,
    0x1.17c8e5f2eedb0p-1, 0x1.35e57102e2488p-57, 0x1.accb526f69de5p-1, 0x1.8fb6a8dd6b6ccp-55,
    0x1.1b204acb02fddp-1, -0x1.f190c70cbb5ffp-58, 0x1.aa98688308913p-1, -0x1.b83d607cd5070p-63,
    0x1.1e7343236574cp-1, 0x1.22a3fa4f41d5ap-56, 0x1.a85ed4373e02dp-1, 0x1.9be06385ec792p-57,
    0x1.21c1c1b0394cfp-1, 0x1.e5b324b23aa31p-58, 0x1.a61e9e72586afp-1, 0x1.58330e2fd453fp-55,
    0x1.250bb93788bbbp-1, 0x1.ea3d02457bccep-56, 0x1.a3d7d0352bdcfp-1, -0x1.68dbaeca19669p-55,
    0x1.28511c917a067p-1, -0x1.01df1d9a16b70p-55, 0x1.a18a729aee445p-1, 0x1.95e25736c0358p-60,
    0x1.2b91dea88421ep-1, -0x1.fa371db216ab0p-55, 0x1.9f368ed912f85p-1, -0x1.1d200c5791606p-55,
    0x1.2ecdf279a3082p-1, 0x1.d3557e0e7e37ep-55, 0x1.9cdc2e3f25e5cp-1, 0x1.3f99112993f62p-55,
    0x1.32054b148bc4fp-1, 0x1.f6b42095a135bp-55, 0x1.9a7b5a36a6514p-1, 0x1.722cfcc9fa7a9p-55,
    0x1.3537db9be0367p-1, 0x1.b327e7af040f0p-57, 0x1.98141c42e1310p-1, 0x1.d1ff80488f08dp-55,
    0x1.386597456282bp-1, -0x1.10fada93b07a8p-56, 0x1.95a67e00cb1fdp-1, -0x1.0befda21f862dp-55,
    0x1.3b8e715a2840ap-1, -0x1.97653a7d2f07bp-56, 0x1.93328926d9e92p-1, -0x1.bb77003600cdap-55,
    0x1.3eb25d36cd53ap-1, -0x1.be570e1570fc0p-58, 0x1.90b84784ddaf7p-1, -0x1.0feb10ab93b87p-56,
    0x1.41d14e4ba6790p-1, 0x1.4608fd287ecf5p-55, 0x1.8e37c303d9ad1p-1, -0x1.463a4b53d4bf8p-57,
    0x1.44eb381cf386bp-1, -0x1.3ed6c1e6a5505p-55, 0x1.8bb105a5dc900p-1, 0x1.863e03e9474c1p-55,
    0x1.48000e431159fp-1, -0x1.b194a7463ed10p-55, 0x1.89241985d871fp-1, 0x1.c48d9c413ed84p-55,
    0x1.4b0fc46aab761p-1, 0x1.0da05738cc59ap-61, 0x1.869108d77a6c6p-1, 0x1.338ffe2bfe9ddp-56,
    0x1.4e1a4e54ed51bp-1, -0x1.a492f89b7c76ap-55, 0x1.83f7dde701ca0p-1, -0x1.152cf609bc6e8p-59,
    0x1.511f9fd7b351cp-1, -0x1.5c0e861c48831p-55, 0x1.8158a31916d5dp-1, -0x1.de8b90b8228dep-57,
    0x1.541facddbb724p-1, 0x1.232c28520d391p-56, 0x1.7eb362eaa1488p-1, 0x1.a1d65a4a5959fp-58,
    0x1.571a6966d59b3p-1, 0x1.c843b4d0fb198p-58, 0x1.7c0827f09e54fp-1, -0x1.c73d6d72aee68p-57,
    0x1.5a0fc98813a12p-1, -0x1.d82e2b7d4227bp-55, 0x1.7956fcd7f6543p-1, -0x1.ab276e9d45ae4p-55,
    0x1.5cffc16bf8f0dp-1, 0x1.96cb370eb578ap-55, 0x1.769fec655211fp-1, -0x1.827d5cf8c68c5p-57,
    0x1.5fea4552a9e57p-1, 0x1.0b6cef7ee20b7p-55, 0x1.73e30174efba1p-1, -0x1.5d3ae3d94ad5fp-57,
    0x1.62cf49921ac79p-1, -0x1.edd9855b6241ap-55, 0x1.712046fa77678p-1, 0x1.425b0a5029c81p-55,
    0x1.65aec2963e755p-1, 0x1.126f96b71053cp-55, 0x1.6e57c800cf55ep-1, 0x1.60286dedbd0a6p-55,
    0x1.6888a4e134b2fp-1, -0x1.6b7d37644d5e6p-55, 0x1.6b898fa9efb5dp-1, 0x1.15ac786ccf4b2p-56,
    0x1.6b5ce50b7821ap-1, -0x1.5d5158f702e0fp-57, 0x1.68b5a92eb6253p-1, -0x1.9a91ad985f89cp-55,
    0x1.6e2b77c40bde1p-1, -0x1.0e729857fad53p-56, 0x1.65dc1fdeb8cbap-1, -0x1.97c1b47337c77p-58,
    0x1.70f451d0a8c40p-1, 0x1.97ede3885770dp-57, 0x1.62fcff20191c7p-1, 0x1.d9143895756efp-57,
    0x1.73b7680dea578p-1, -0x1.2248306dc12a2p-56, 0x1.6018526f563dfp-1, 0x1.46ca5e0e432d0p-55,
    0x1.7674af6f7b524p-1, 0x1.e9d3f94ac84a8p-56, 0x1.5d2e255f1f17ap-1, 0x1.0314104c8892bp-55,
    0x1.792c1d0041d52p-1, -0x1.abf05eeb354ebp-55, 0x1.5a3e839824077p-1, 0x1.428aa2759be62p-55,
    0x1.7bdda5e28b3c2p-1, 0x1.ad1197ccd0393p-59, 0x1.574978d8e83f2p-1, 0x1.f4714af282d23p-55,
    0x1.7e893f5037959p-1, 0x1.0eefbaa650c4cp-55, 0x1.544f10f592ca5p-1, -0x1.e7ae8e6c7a62fp-55,
    0x1.812ede9ae4ba4p-1, -0x1.7830adf402ddap-55, 0x1.514f57d7bf3dap-1, 0x1.47a108073c259p-56,
};

// 1.5 * 2^45: adding it rounds |x| to a multiple of 2^-7 whose index is in the low word.
#define GLIBC_SINCOS_BIG 0x1.8p45
#define GLIBC_SN3 -0x1.5555555555515p-3
#define GLIBC_SN5 0x1.11110e829872fp-7
#define GLIBC_CS2 0x1p-1
#define GLIBC_CS4 -0x1.5555555555535p-5
#define GLIBC_CS6 0x1.6c16bedd9e239p-10

// do_cos: cos(x + dx) from the table entry nearest |x| and short polynomials.
__device__ __forceinline__ double glibc_do_cos(double x, double dx) {
    if (x < 0) {
        dx = -dx;
    }
    const double ax = fabs(x);
    const double u = __dadd_rn(ax, GLIBC_SINCOS_BIG);
    const int k = __double2loint(u) << 2;
    x = __dadd_rn(__dsub_rn(ax, __dsub_rn(u, GLIBC_SINCOS_BIG)), dx);
    const double xx = __dmul_rn(x, x);
    const double s = __fma_rn(__dmul_rn(x, xx), __fma_rn(xx, GLIBC_SN5, GLIBC_SN3), x);
    const double c =
        __dmul_rn(xx, __fma_rn(xx, __fma_rn(xx, GLIBC_CS6, GLIBC_CS4), GLIBC_CS2));
    const double sn = GLIBC_SINCOSTAB[k], ssn = GLIBC_SINCOSTAB[k + 1];
    const double cs = GLIBC_SINCOSTAB[k + 2], ccs = GLIBC_SINCOSTAB[k + 3];
    const double cor = __fma_rn(-s, sn, __fma_rn(-c, cs, __fma_rn(-s, ssn, ccs)));
    return __dadd_rn(cs, cor);
}

// do_sin: sin(x + dx); a Taylor polynomial below 0.126, else the table.
__device__ __forceinline__ double glibc_do_sin(double x, double dx) {
    if (fabs(x) < 0.126) {
        const double S1 = -0x1.5555555555555p-3, S2 = 0x1.1111111110ecep-7,
                     S3 = -0x1.a01a019db08b8p-13, S4 = 0x1.71de27b9a7ed9p-19,
                     S5 = -0x1.addffc2fcdf59p-26;
        const double xx = __dmul_rn(x, x);
        const double p = __fma_rn(__fma_rn(__fma_rn(__fma_rn(S5, xx, S4), xx, S3), xx, S2), xx, S1);
        const double t = __fma_rn(xx, __fma_rn(p, x, -__dmul_rn(0.5, dx)), dx);
        return __dadd_rn(x, t);
    }
    const double xold = x;
    if (x <= 0) {
        dx = -dx;
    }
    const double ax = fabs(x);
    const double u = __dadd_rn(ax, GLIBC_SINCOS_BIG);
    const int k = __double2loint(u) << 2;
    x = __dsub_rn(ax, __dsub_rn(u, GLIBC_SINCOS_BIG));
    const double xx = __dmul_rn(x, x);
    const double s =
        __dadd_rn(x, __fma_rn(__dmul_rn(x, xx), __fma_rn(xx, GLIBC_SN5, GLIBC_SN3), dx));
    const double c = __fma_rn(
        x, dx, __dmul_rn(xx, __fma_rn(xx, __fma_rn(xx, GLIBC_CS6, GLIBC_CS4), GLIBC_CS2)));
    const double sn = GLIBC_SINCOSTAB[k], ssn = GLIBC_SINCOSTAB[k + 1];
    const double cs = GLIBC_SINCOSTAB[k + 2], ccs = GLIBC_SINCOSTAB[k + 3];
    const double cor = __fma_rn(s, cs, __fma_rn(-c, sn, __fma_rn(s, ccs, ssn)));
    return copysign(__dadd_rn(sn, cor), xold);
}

// cos(x) for x in [0, 2 pi).
__device__ __forceinline__ double glibc_cos(double x) {
    const double HP0 = 0x1.921fb54442d18p+0, HP1 = 0x1.1a62633145c07p-54;  // pi/2 = HP0 + HP1
    const int k = __double2hiint(x) & 0x7fffffff;
    if (k < 0x3e400000) {  // |x| < 2^-27
        return 1.0;
    }
    if (k < 0x3feb6000) {  // |x| < 0.855469
        return glibc_do_cos(x, 0.0);
    }
    if (k < 0x400368fd) {  // |x| < 2.426265: cos(x) = sin(pi/2 - |x|)
        const double y = __dsub_rn(HP0, fabs(x));
        const double a = __dadd_rn(y, HP1);
        const double da = __dadd_rn(__dsub_rn(y, a), HP1);
        return glibc_do_sin(a, da);
    }
    // reduce_sincos: x - n pi/2 as a + da with pi/2 in four parts, n the quadrant.
    const double HPINV = 0x1.45f306dc9c883p-1, TOINT = 0x1.8p52;
    const double MP1 = 0x1.921fb58000000p+0, MP2 = -0x1.dde973c000000p-27;
    const double PP3 = -0x1.cb3b398000000p-55, PP4 = -0x1.d747f23e32ed7p-83;
    const double t = __fma_rn(x, HPINV, TOINT);
    const double xn = __dsub_rn(t, TOINT);
    const int n = (__double2loint(t) & 3) + 1;  // cos is sin one quadrant on
    const double y = __fma_rn(-xn, MP2, __fma_rn(-xn, MP1, x));
    const double t2 = __fma_rn(-xn, PP3, y);
    double da = __fma_rn(-xn, PP3, __dsub_rn(y, t2));
    const double a = __fma_rn(-xn, PP4, t2);
    da = __dadd_rn(da, __fma_rn(-xn, PP4, __dsub_rn(t2, a)));
    const double r = (n & 1) ? glibc_do_cos(a, da) : glibc_do_sin(a, da);
    return (n & 2) ? -r : r;
}
// GLIBC_EMULATION_END

// ------------------------------------------------------------------ the distributions

// `philox::normal_from_words`: Box-Muller in f32 as the CPU computes it.
__device__ __forceinline__ float normal_from_words(u32 w0, u32 w1) {
    const float u0 = uniform_from_word(w0);
    const float u1 = uniform_from_word(w1);
    const float radius = __fsqrt_rn(__fmul_rn(-2.0f, glibc_logf(__fsub_rn(1.0f, u0))));
    const float tau = 0x1.921fb6p+2f;  // std::f32::consts::TAU
    return __fmul_rn(radius, glibc_cosf(__fmul_rn(tau, u1)));
}

// `philox::normal_from_words_f64`: the same words, in f64.
__device__ __forceinline__ double normal_from_words_f64(u32 w0, u32 w1) {
    const double u0 = (double)uniform_from_word(w0);
    const double u1 = (double)uniform_from_word(w1);
    const double radius = __dsqrt_rn(__dmul_rn(-2.0, glibc_log(__dsub_rn(1.0, u0))));
    const double tau = 0x1.921fb54442d18p+2;  // std::f64::consts::TAU
    return __dmul_rn(radius, glibc_cos(__dmul_rn(tau, u1)));
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

// Uniform on [low, high) for f32, f16 and bf16: `low + range * u` in f32 (no FMA), then rounded
// to the dtype. `low` and `range = high - low` arrive as the CPU's f32 values.
template <typename T>
__device__ void uniform_impl(T* dst, Layout layout, i64 n, u64 seed, u64 offset, float low, float range) {
    FOR_EACH_INDEX(i, n) {
        const float u = uniform_from_word(philox_block(seed, offset, (u64)i).w[0]);
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
