// conv2d and its two backward passes as implicit GEMMs. Rust side: backends/wgpu/src/conv.rs.
//
// Each pass is a product C[M x NC] = A[M x K] B[K x NC] per group (workgroup z), computed with
// the tiling of matmul.wgsl (64x64 output tiles, 16x16 invocations with 4x4 register tiles,
// 16-deep slices of A and B staged in workgroup memory), but A and B are never materialized:
// `load_a` / `load_b` compute each element's address in the NCHW tensors (any strides) on the
// fly, with zeros for padding (im2col without the copy). Per flag:
//
// - FWD: A = weight [Og x (Cg kh kw)], B = input patches [(Cg kh kw) x (N Ho Wo)], + bias.
// - BWD_INPUT: A = weight^T [Cg x (Og kh kw)], B = grad_output gathered at the output
//   positions each input position feeds [(Og kh kw) x (N H W)].
// - BWD_WEIGHT: A = grad_output [Og x (N Ho Wo)], B = input patches^T [(N Ho Wo) x (Cg kh kw)].
//
// `wa` is the tensor A is read from, `xb` the one B is read from. Host header: `S`/`SC`, `C`
// (accumulator type), `fn cvt(x: C) -> S`.

struct Params {
    a_off: u32,
    a_s0: u32,
    a_s1: u32,
    a_s2: u32,
    a_s3: u32,
    b_off: u32,
    b_s0: u32,
    b_s1: u32,
    b_s2: u32,
    b_s3: u32,
    n: u32,
    c: u32,
    h: u32,
    w: u32,
    o: u32,
    kh: u32,
    kw: u32,
    ho: u32,
    wo: u32,
    sh: u32,
    sw: u32,
    ph: u32,
    pw: u32,
    dh: u32,
    dw: u32,
    cg: u32,
    og: u32,
    m: u32,
    nc: u32,
    k: u32,
    has_bias: u32,
    pad: u32,
}

const BM: u32 = 64u;
const BN: u32 = 64u;
const BK: u32 = 16u;

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> xb: array<S>;
@group(0) @binding(2) var<storage, read> wa: array<S>;
@group(0) @binding(3) var<storage, read> bias: array<S>;
@group(0) @binding(4) var<storage, read_write> dst: array<S>;

var<workgroup> tile_a: array<C, 1024>;
var<workgroup> tile_b: array<C, 1024>;

// Element (m, k) of A for group g.
fn load_a(g: u32, m: u32, k: u32) -> C {
//#if FWD
    let khw = P.kh * P.kw;
    let c = k / khw;
    let r = k % khw;
    let i = (g * P.og + m) * P.a_s0 + c * P.a_s1 + (r / P.kw) * P.a_s2 + (r % P.kw) * P.a_s3;
    return C(SC(wa[P.a_off + i]));
//#endif
//#if BWD_INPUT
    let khw = P.kh * P.kw;
    let oc = k / khw;
    let r = k % khw;
    let i = (g * P.og + oc) * P.a_s0 + m * P.a_s1 + (r / P.kw) * P.a_s2 + (r % P.kw) * P.a_s3;
    return C(SC(wa[P.a_off + i]));
//#endif
//#if BWD_WEIGHT
    let hw = P.ho * P.wo;
    let n = k / hw;
    let t = k % hw;
    let i = n * P.a_s0 + (g * P.og + m) * P.a_s1 + (t / P.wo) * P.a_s2 + (t % P.wo) * P.a_s3;
    return C(SC(wa[P.a_off + i]));
//#endif
}

// The input element feeding output position (oh, ow) through kernel tap (i, j) of channel
// `ch`, or zero in the padding.
fn input_at(n: u32, ch: u32, oh: u32, ow: u32, i: u32, j: u32) -> C {
    let h = i32(oh * P.sh + i * P.dh) - i32(P.ph);
    let w = i32(ow * P.sw + j * P.dw) - i32(P.pw);
    if h < 0 || w < 0 || h >= i32(P.h) || w >= i32(P.w) {
        return C(0);
    }
    let idx = n * P.b_s0 + ch * P.b_s1 + u32(h) * P.b_s2 + u32(w) * P.b_s3;
    return C(SC(xb[P.b_off + idx]));
}

// Element (k, col) of B for group g.
fn load_b(g: u32, k: u32, col: u32) -> C {
//#if FWD
    let khw = P.kh * P.kw;
    let c = k / khw;
    let r = k % khw;
    let hw = P.ho * P.wo;
    let t = col % hw;
    return input_at(col / hw, g * P.cg + c, t / P.wo, t % P.wo, r / P.kw, r % P.kw);
//#endif
//#if BWD_INPUT
    let khw = P.kh * P.kw;
    let oc = k / khw;
    let r = k % khw;
    let i = r / P.kw;
    let j = r % P.kw;
    let hw = P.h * P.w;
    let n = col / hw;
    let t = col % hw;
    // The output position whose tap (i, j) reads input (h, w), if any.
    let th = i32(t / P.w + P.ph) - i32(i * P.dh);
    let tw = i32(t % P.w + P.pw) - i32(j * P.dw);
    if th < 0 || tw < 0 || u32(th) % P.sh != 0u || u32(tw) % P.sw != 0u {
        return C(0);
    }
    let oh = u32(th) / P.sh;
    let ow = u32(tw) / P.sw;
    if oh >= P.ho || ow >= P.wo {
        return C(0);
    }
    let idx = n * P.b_s0 + (g * P.og + oc) * P.b_s1 + oh * P.b_s2 + ow * P.b_s3;
    return C(SC(xb[P.b_off + idx]));
//#endif
//#if BWD_WEIGHT
    let hw = P.ho * P.wo;
    let t = k % hw;
    let khw = P.kh * P.kw;
    let c = col / khw;
    let r = col % khw;
    return input_at(k / hw, g * P.cg + c, t / P.wo, t % P.wo, r / P.kw, r % P.kw);
//#endif
}

fn store(g: u32, m: u32, col: u32, v: C) {
//#if FWD
    var x = v;
    if P.has_bias != 0u {
        x += C(SC(bias[g * P.og + m]));
    }
    let hw = P.ho * P.wo;
    let n = col / hw;
    dst[(n * P.o + g * P.og + m) * hw + col % hw] = cvt(x);
//#endif
//#if BWD_INPUT
    let hw = P.h * P.w;
    let n = col / hw;
    dst[(n * P.c + g * P.cg + m) * hw + col % hw] = cvt(v);
//#endif
//#if BWD_WEIGHT
    dst[(g * P.og + m) * P.nc + col] = cvt(v);
//#endif
}

@compute @workgroup_size(16, 16, 1)
fn conv(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let row0 = wg.y * BM;
    let col0 = wg.x * BN;
    let g = wg.z;
    let tr = lid3.y * 4u;
    let tc = lid3.x * 4u;
    var acc: array<C, 16>;
    for (var i = 0u; i < 16u; i++) {
        acc[i] = C(0);
    }
    for (var k0 = 0u; k0 < P.k; k0 += BK) {
        for (var e = lid; e < BM * BK; e += 256u) {
            let r = e / BK;
            let kk = e % BK;
            var v = C(0);
            if row0 + r < P.m && k0 + kk < P.k {
                v = load_a(g, row0 + r, k0 + kk);
            }
            tile_a[kk * BM + r] = v;
        }
        for (var e = lid; e < BK * BN; e += 256u) {
            let kk = e / BN;
            let c = e % BN;
            var v = C(0);
            if k0 + kk < P.k && col0 + c < P.nc {
                v = load_b(g, k0 + kk, col0 + c);
            }
            tile_b[kk * BN + c] = v;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            var a: array<C, 4>;
            var b: array<C, 4>;
            for (var i = 0u; i < 4u; i++) {
                a[i] = tile_a[kk * BM + tr + i];
                b[i] = tile_b[kk * BN + tc + i];
            }
            for (var i = 0u; i < 4u; i++) {
                for (var j = 0u; j < 4u; j++) {
                    acc[i * 4u + j] += a[i] * b[j];
                }
            }
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < 4u; i++) {
        let r = row0 + tr + i;
        for (var j = 0u; j < 4u; j++) {
            let c = col0 + tc + j;
            if r < P.m && c < P.nc {
                store(g, r, c, acc[i * 4u + j]);
            }
        }
    }
}
