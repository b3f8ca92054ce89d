// index_select, gather, scatter and scatter_add. Rust side: backends/wgpu/src/indexing.rs.
//
// Every index value is checked against the size of the indexed dim; one outside [0, size) is
// recorded in the calling thread's error record (code 1: op, index, dim, size; the first one
// wins) and reported by the next synchronizing call, and the element is skipped (reads give 0).
// scatter walks each line along `dim` in index order in one invocation, so duplicate indices
// resolve as on the CPU (the last write wins, sums in index order) and need no atomics.
//
// Host header: `I` (index storage type), `S`/`SC` (data storage/compute types),
// `fn cvt(x: SC) -> S`, `fn index_lo(v: I) -> u32` and `fn index_hi(v: I) -> u32`.

struct Params {
    a: Layout,
    b: Layout,
    c: Layout,
    size: u32,
    stride: u32,
    n: u32,
    op: u32,
    dim: u32,
    istride: u32,
    sstride: u32,
    count: u32,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> index: array<I>;
@group(0) @binding(2) var<storage, read> src: array<S>;
@group(0) @binding(3) var<storage, read_write> dst: array<S>;
@group(0) @binding(4) var<storage, read_write> errors: array<atomic<u32>, 8>;

// Whether `v` is a valid index; records the first bad one.
fn check_index(v: I) -> bool {
    if v >= I(0) && v < I(P.size) {
        return true;
    }
    if atomicCompareExchangeWeak(&errors[0], 0u, 1u).exchanged {
        atomicStore(&errors[1], P.op);
        atomicStore(&errors[2], index_lo(v));
        atomicStore(&errors[3], index_hi(v));
        atomicStore(&errors[4], P.dim);
        atomicStore(&errors[5], P.size);
    }
    return false;
}

//#if !SCATTER
// Output [outer, n, inner]: element (o, j, r) = src[outer(o) + index[j] * stride + inner(r)].
@compute @workgroup_size(256)
fn index_select(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let e = linear_index(wg, nwg, lid, 256u);
    if e >= P.count {
        return;
    }
    let inner_n = P.b.numel;
    let r = e % inner_n;
    let t = e / inner_n;
    let j = t % P.n;
    let o = t / P.n;
    let v = index[offset_of(P.c, j)];
    var x = S(0);
    if check_index(v) {
        x = src[offset_of(P.a, o) + u32(v) * P.stride + offset_of(P.b, r)];
    }
    dst[e] = x;
}

// Output of the index's shape: element e = src[sel(e) + index[e] * stride], where `sel` is the
// source restricted to the index's shape with stride 0 along dim.
@compute @workgroup_size(256)
fn gather(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let e = linear_index(wg, nwg, lid, 256u);
    if e >= P.count {
        return;
    }
    let v = index[offset_of(P.a, e)];
    var x = S(0);
    if check_index(v) {
        x = src[offset_of(P.b, e) + u32(v) * P.stride];
    }
    dst[e] = x;
}
//#else
// One invocation per line along dim of the index: a = index lines, b = src lines, c = dst
// lines (dim's stride 0), walked k = 0..n in order.
@compute @workgroup_size(256)
fn scatter(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let l = linear_index(wg, nwg, lid, 256u);
    if l >= P.count {
        return;
    }
    let ib = offset_of(P.a, l);
    let sb = offset_of(P.b, l);
    let db = offset_of(P.c, l);
    for (var k = 0u; k < P.n; k++) {
        let v = index[ib + k * P.istride];
        if check_index(v) {
            let d = db + u32(v) * P.stride;
            let x = src[sb + k * P.sstride];
//#if ADD
            dst[d] = cvt(SC(dst[d]) + SC(x));
//#else
            dst[d] = x;
//#endif
        }
    }
}
//#endif
