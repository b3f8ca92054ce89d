// Batched matrix product [b, m, k] x [b, k, n] -> contiguous [b, m, n]. Rust side:
// backends/wgpu/src/matmul.rs.
//
// Tiled: a 16x16 workgroup computes a 64x64 block of the output, each invocation a 4x4
// register tile. Per step of 16 along k, the workgroup stages a 64x16 tile of the left operand
// and a 16x64 tile of the right one in workgroup memory (read through the operands' strides:
// transposed and batch-broadcast views need no copies), then every invocation accumulates
// its 4x4 outer products from there. Host header: `S`/`SC`, `C` (accumulator type), `D` and
// `fn cvt(x: C) -> D`.

struct Params {
    m: u32,
    n: u32,
    k: u32,
    batch: u32,
    a_off: u32,
    a_sb: u32,
    a_sm: u32,
    a_sk: u32,
    b_off: u32,
    b_sb: u32,
    b_sk: u32,
    b_sn: u32,
}

const BM: u32 = 64u;
const BN: u32 = 64u;
const BK: u32 = 16u;

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> lhs: array<S>;
@group(0) @binding(2) var<storage, read> rhs: array<S>;
@group(0) @binding(3) var<storage, read_write> dst: array<D>;

// [BK][BM] and [BK][BN]: a k-slice of each tile is contiguous.
var<workgroup> tile_a: array<C, 1024>;
var<workgroup> tile_b: array<C, 1024>;

@compute @workgroup_size(16, 16, 1)
fn matmul(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let row0 = wg.y * BM;
    let col0 = wg.x * BN;
    let bz = wg.z;
    let a_base = P.a_off + bz * P.a_sb;
    let b_base = P.b_off + bz * P.b_sb;
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
            let gr = row0 + r;
            let gk = k0 + kk;
            var v = C(0);
            if gr < P.m && gk < P.k {
                v = C(SC(lhs[a_base + gr * P.a_sm + gk * P.a_sk]));
            }
            tile_a[kk * BM + r] = v;
        }
        for (var e = lid; e < BK * BN; e += 256u) {
            let kk = e / BN;
            let c = e % BN;
            let gk = k0 + kk;
            let gc = col0 + c;
            var v = C(0);
            if gk < P.k && gc < P.n {
                v = C(SC(rhs[b_base + gk * P.b_sk + gc * P.b_sn]));
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
    let out_base = bz * P.m * P.n;
    for (var i = 0u; i < 4u; i++) {
        let r = row0 + tr + i;
        for (var j = 0u; j < 4u; j++) {
            let c = col0 + tc + j;
            if r < P.m && c < P.n {
                dst[out_base + r * P.n + c] = cvt(acc[i * 4u + j]);
            }
        }
    }
}
