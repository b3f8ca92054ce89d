// Element-wise ops of two inputs (BinaryOp) and `where`. Rust side: backends/wgpu/src/binary.rs.
//
// Host header: `S`/`SC` (input storage/compute types), `D` (output storage type),
// `fn op(a: SC, b: SC) -> SC` and `fn cvt(x: SC) -> D`. Flags: INPLACE (the output is the
// left operand, one binding), SCALED (the uniform carries scaled_add's alpha and beta),
// DIVCHECK (integer division: a zero divisor sets the error record), F32MATH (the f32
// helpers), WHERE (the `where_cond` entry point and its bindings instead).

struct Params {
    a: Layout,
    b: Layout,
    dst: Layout,
    c: Layout,
//#if SCALED
    // scaled_add's coefficients (its `op` is `alpha * a + beta * b`), in the compute type.
    alpha: SC,
    beta: SC,
//#endif
}

@group(0) @binding(0) var<uniform> P: Params;
//#if WHERE
@group(0) @binding(1) var<storage, read> cond: array<u32>;
@group(0) @binding(2) var<storage, read> lhs: array<S>;
@group(0) @binding(3) var<storage, read> rhs: array<S>;
@group(0) @binding(4) var<storage, read_write> dst: array<D>;
//#else
//#if INPLACE
@group(0) @binding(1) var<storage, read_write> dst: array<D>;
@group(0) @binding(2) var<storage, read> rhs: array<S>;
//#else
@group(0) @binding(1) var<storage, read> lhs: array<S>;
@group(0) @binding(2) var<storage, read> rhs: array<S>;
@group(0) @binding(3) var<storage, read_write> dst: array<D>;
//#endif
//#if DIVCHECK
//#if INPLACE
@group(0) @binding(3) var<storage, read_write> errors: array<atomic<u32>, 8>;
//#else
@group(0) @binding(4) var<storage, read_write> errors: array<atomic<u32>, 8>;
//#endif

fn div_checked(a: SC, b: SC) -> SC {
    if b == SC(0) {
        atomicOr(&errors[0], 2u);
        return SC(0);
    }
    return a / b;
}
//#endif
//#endif

//#if F32MATH
// atan on [0, inf) to about 1 ulp (Cephes' atanf): WGSL's built-in may be several ulps off.
fn atan_pos_f32(t: f32) -> f32 {
    var x = t;
    var y = 0.0;
    if x > 2.414213562373095 {
        y = 1.5707963267948966;
        x = -1.0 / x;
    } else if x > 0.4142135623730950 {
        y = 0.7853981633974483;
        x = (x - 1.0) / (x + 1.0);
    }
    let z = x * x;
    return y + ((((8.05374449538e-2 * z - 1.38776856032e-1) * z + 1.99777106478e-1) * z
        - 3.33329491539e-1) * z * x + x);
}

// atan2 with the quadrant and signed-zero rules of C's atan2f.
fn atan2_f32(y: f32, x: f32) -> f32 {
    if nan_S(y) || nan_S(x) {
        return y + x;
    }
    let negative_y = (bitcast<u32>(y) >> 31u) == 1u;
    let negative_x = (bitcast<u32>(x) >> 31u) == 1u;
    var r: f32;
    if y == 0.0 {
        r = select(0.0, 3.141592653589793, negative_x);
    } else if x == 0.0 {
        r = 1.5707963267948966;
    } else {
        let ax = abs(x);
        let ay = abs(y);
        if bitcast<u32>(ax) == 0x7f800000u && bitcast<u32>(ay) == 0x7f800000u {
            r = select(0.7853981633974483, 2.356194490192345, negative_x);
        } else {
            let a = atan_pos_f32(ay / ax);
            r = select(a, 3.141592653589793 - a, negative_x);
        }
    }
    return select(r, -r, negative_y);
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

//#if WHERE
@compute @workgroup_size(256)
fn where_cond(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wg, nwg, lid, 256u);
    if i >= P.dst.numel {
        return;
    }
    let c = cond[offset_of(P.c, i)];
    var v: S;
    if c != 0u {
        v = lhs[offset_of(P.a, i)];
    } else {
        v = rhs[offset_of(P.b, i)];
    }
    dst[offset_of(P.dst, i)] = v;
}
//#else
@compute @workgroup_size(256)
fn binary(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wg, nwg, lid, 256u);
    if i >= P.dst.numel {
        return;
    }
    let o = offset_of(P.dst, i);
//#if INPLACE
    let a = SC(dst[o]);
//#else
    let a = SC(lhs[offset_of(P.a, i)]);
//#endif
    let b = SC(rhs[offset_of(P.b, i)]);
    dst[o] = cvt(op(a, b));
}
//#endif
