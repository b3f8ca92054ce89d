// Random fills from the Philox 4x32-10 stream of crates/core/src/philox.rs, bit for bit.
// Rust side: backends/wgpu/src/random.rs.
//
// Element i uses block(seed, offset + i). The normal transform repeats the operations of
// crates/core/src/philox/math.rs (IEEE-exact: +, -, *, /, fma, bit manipulation) in the same
// order, so it gives the same bits as the CPU. Host header: `D` (output storage type),
// `fn cvt_f(x: f32) -> D`, `fn cvt_i(x: i32) -> D`; flag I64OUT for randint into i64.

struct Params {
    dst: Layout,
    seed: vec2<u32>,
    offset: vec2<u32>,
    low: vec2<u32>,
    range: u32,
    threshold: u32,
    a: f32,
    b: f32,
    mode: u32,
    // The bits of a word a uniform draw keeps (`philox::uniform_digits` of the dtype).
    digits: u32,
}

const MODE_UNIFORM: u32 = 0u;
const MODE_NORMAL: u32 = 1u;
const MODE_BERNOULLI: u32 = 2u;
const MODE_RANDINT: u32 = 3u;

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<D>;

// The high and low words of a * b, from 16-bit halves (no 64-bit integers needed).
fn mul_hi_lo(a: u32, b: u32) -> vec2<u32> {
    let a0 = a & 0xffffu;
    let a1 = a >> 16u;
    let b0 = b & 0xffffu;
    let b1 = b >> 16u;
    let p00 = a0 * b0;
    let p10 = a1 * b0;
    let p01 = a0 * b1;
    let p11 = a1 * b1;
    let mid = (p00 >> 16u) + (p10 & 0xffffu) + p01;
    let hi = p11 + (p10 >> 16u) + (mid >> 16u);
    let lo = (mid << 16u) | (p00 & 0xffffu);
    return vec2<u32>(hi, lo);
}

fn philox(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    var c = counter;
    var k = key;
    for (var round = 0u; round < 10u; round++) {
        if round > 0u {
            k = k + vec2<u32>(0x9E3779B9u, 0xBB67AE85u);
        }
        let p0 = mul_hi_lo(0xD2511F53u, c.x);
        let p1 = mul_hi_lo(0xCD9E8D57u, c.z);
        c = vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
    }
    return c;
}

fn uniform_from_word(w: u32) -> f32 {
    return f32(w >> 8u) * (1.0 / 16777216.0);
}

// `philox::uniform_from_word_digits`: the top `digits` bits as an f32 in [0, 1) (exact; the
// scale 2^-digits is built from its exponent bits).
fn uniform_from_word_digits(w: u32, digits: u32) -> f32 {
    return f32(w >> (32u - digits)) * bitcast<f32>((127u - digits) << 23u);
}

// ln_f32 of philox/math.rs.
fn ln_f32(x: f32) -> f32 {
    let bits = bitcast<u32>(x);
    let k = bitcast<i32>(bits - 0x3f3504f3u) >> 23u;
    let m = bitcast<f32>(bits - (bitcast<u32>(k) << 23u));
    let f = m - 1.0;
    let s = f / (2.0 + f);
    let z = s * s;
    let q = fma(fma(0.29870695, z, 0.39977586), z, 0.66666776);
    let r = z * q;
    let half_f2 = 0.5 * f * f;
    let half_f2_err = fma(0.5 * f, f, -half_f2);
    let kf = f32(k);
    let k_ln2_hi = kf * 0.69314575;
    let hi = k_ln2_hi + f;
    let hi_err = (k_ln2_hi - hi) + f;
    let tail = fma(s, half_f2 + r, fma(kf, 1.4286068e-6, hi_err - half_f2_err));
    return hi + (tail - half_f2);
}

// cos_2pi_f32 of philox/math.rs.
fn cos_2pi_f32(u: f32) -> f32 {
    let t = 4.0 * u;
    // round() is to nearest, ties to even, as the CPU's (t + 1.5 * 2^23) - 1.5 * 2^23 (which a
    // compiler may fold away).
    let nf = round(t);
    let r = t - nf;
    let n = i32(nf);
    let z = r * r;
    let c = fma(z, fma(fma(fma(0.0008944864, z, -0.020855596), z, 0.25366855), z, -1.2337005), 1.0);
    let low = fma(z, fma(fma(-0.004603732, z, 0.07968108), z, -0.6459636), -4.371139e-8);
    let s = fma(r, 1.5707964, r * low);
    var v = c;
    if (n & 1) != 0 {
        v = s;
    }
    if ((n + 1) & 2) != 0 {
        v = -v;
    }
    return v;
}

fn normal_from_words(w0: u32, w1: u32) -> f32 {
    let u0 = uniform_from_word(w0);
    let u1 = uniform_from_word(w1);
    let radius = sqrt(-2.0 * ln_f32(1.0 - u0));
    return radius * cos_2pi_f32(u1);
}

// (w1 * 2^32 + w0) mod m for 0 < m <= 2^31, one bit at a time.
fn mod64(w0: u32, w1: u32, m: u32) -> u32 {
    var x = 0u;
    for (var b = 0u; b < 64u; b++) {
        var bit: u32;
        if b < 32u {
            bit = (w1 >> (31u - b)) & 1u;
        } else {
            bit = (w0 >> (63u - b)) & 1u;
        }
        x = x * 2u + bit;
        if x >= m {
            x -= m;
        }
    }
    return x;
}

@compute @workgroup_size(256)
fn random(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wg, nwg, lid, 256u);
    if i >= P.dst.numel {
        return;
    }
    let lo = P.offset.x + i;
    let hi = P.offset.y + select(0u, 1u, lo < i);
    let w = philox(vec4<u32>(lo, hi, 0u, 0u), P.seed);
    let o = offset_of(P.dst, i);
    switch P.mode {
        case MODE_UNIFORM: {
            dst[o] = cvt_f(P.a + P.b * uniform_from_word_digits(w.x, P.digits));
        }
        case MODE_NORMAL: {
            dst[o] = cvt_f(normal_from_words(w.x, w.y) * P.b + P.a);
        }
        case MODE_BERNOULLI: {
            dst[o] = cvt_i(select(0, 1, (w.x >> 8u) < P.threshold));
        }
        default: {
            let m = mod64(w.x, w.y, P.range);
//#if I64OUT
            let low = (i64(bitcast<i32>(P.low.y)) << 32u) | i64(P.low.x);
            dst[o] = low + i64(m);
//#else
            dst[o] = cvt_i(bitcast<i32>(P.low.x + m));
//#endif
        }
    }
}
