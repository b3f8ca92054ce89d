// Element-wise ops of one input (UnaryOp). Rust side: backends/wgpu/src/unary.rs.
//
// Host header: `S`/`SC` (input storage/compute types), `D` (output storage type), the op as
// `fn op(x: SC) -> SC` (it may call the helpers below) and `fn cvt(x: SC) -> D`. Flags:
// INPLACE (the output is the input, one binding), F32MATH (the f32 helpers, for float ops).
// The op's scalars (leaky_relu slope, pow exponent, clamp bounds) are `P.a` and `P.b`.

struct Params {
    src: Layout,
    dst: Layout,
    a: SC,
    b: SC,
}

@group(0) @binding(0) var<uniform> P: Params;
//#if INPLACE
@group(0) @binding(1) var<storage, read_write> dst: array<D>;
//#else
@group(0) @binding(1) var<storage, read> src: array<S>;
@group(0) @binding(2) var<storage, read_write> dst: array<D>;
//#endif

//#if F32MATH
// erfc to about 1.2e-7 relative everywhere (Numerical Recipes' erfcc, Chebyshev fit).
fn erfc_f32(x: f32) -> f32 {
    let z = abs(x);
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t * exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418
        + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587
        + t * (-0.82215223 + t * 0.17087277)))))))));
    return select(2.0 - r, r, x >= 0.0);
}

// tanh without the inf / inf of exp-based formulas at large |x| (NaN stays NaN).
fn tanh_f32(x: f32) -> f32 {
    if abs(x) > 15.0 {
        return sign(x);
    }
    return tanh(x);
}

// log(1 + y) accurate for small y (Goldberg's trick).
fn log1p_f32(y: f32) -> f32 {
    let u = 1.0 + y;
    if u == 1.0 {
        return y;
    }
    return log(u) * (y / (u - 1.0));
}

// x^e with the real-valued semantics of powf: negative bases to integer powers are defined.
fn pow_f32(x: f32, e: f32) -> f32 {
    if e == 0.0 {
        return 1.0;
    }
    if e == 1.0 {
        return x;
    }
    if e == 2.0 {
        return x * x;
    }
    if e == 0.5 {
        return sqrt(x);
    }
    let r = pow(abs(x), e);
    if x < 0.0 {
        if floor(e) != e {
            return sqrt(x); // NaN, as powf of a negative base to a fraction
        }
        if floor(e * 0.5) != e * 0.5 {
            return -r;
        }
    }
    return r;
}
//#endif

@compute @workgroup_size(256)
fn unary(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wg, nwg, lid, 256u);
    if i >= P.dst.numel {
        return;
    }
    let o = offset_of(P.dst, i);
//#if INPLACE
    dst[o] = cvt(op(SC(dst[o])));
//#else
    dst[o] = cvt(op(SC(src[offset_of(P.src, i)])));
//#endif
}
