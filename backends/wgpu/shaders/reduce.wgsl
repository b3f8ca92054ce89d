// Reductions over a set of dims (ReduceOp). Rust side: backends/wgpu/src/reduce.rs.
//
// One workgroup per output element: each invocation folds a strided share of the reduced
// elements into an accumulator, then the workgroup merges the accumulators as a tree in
// workgroup memory. Element (o, r) of the input lives at offset_of(outer, o) +
// offset_of(inner, r): `outer` walks the kept dims, `inner` the reduced ones.
//
// Host header: `S`/`SC` (input), `A` (accumulator type), `D` (output storage), and
// `fn acc_init() -> Acc`, `fn acc_merge(a: Acc, b: Acc) -> Acc` (b from later elements),
// `fn acc_feed(a: Acc, x: SC, r: u32) -> Acc`, `fn acc_finish(a: Acc, n: u32) -> D`.
// Flag TWOPASS (var, logsumexp): a second sweep with `fn center(a: Acc, n: u32) -> A`,
// `fn feed2(a: Acc, x: SC, c: A) -> Acc`, `fn finish2(a: Acc, c: A, n: u32) -> D`, merging with
// `fn merge2(a: Acc, b: Acc) -> Acc`.

struct Params {
    outer: Layout,
    inner: Layout,
    n_out: u32,
    n_red: u32,
    pad0: u32,
    pad1: u32,
    correction: A,
}

struct Acc {
    v: A,
    i: u32,
}

// The index of an accumulator that has seen no element yet.
const EMPTY: u32 = 0xffffffffu;
const WGR: u32 = 128u;

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> src: array<S>;
@group(0) @binding(2) var<storage, read_write> dst: array<D>;

var<workgroup> shared_acc: array<Acc, 128>;

fn tree_merge(a: Acc, lid: u32, second: bool) -> Acc {
    shared_acc[lid] = a;
    workgroupBarrier();
    for (var s = WGR / 2u; s > 0u; s >>= 1u) {
        if lid < s {
            if second {
                shared_acc[lid] = merge2(shared_acc[lid], shared_acc[lid + s]);
            } else {
                shared_acc[lid] = acc_merge(shared_acc[lid], shared_acc[lid + s]);
            }
        }
        workgroupBarrier();
    }
    let r = shared_acc[0];
    workgroupBarrier();
    return r;
}

//#if !TWOPASS
fn merge2(a: Acc, b: Acc) -> Acc {
    return a;
}
//#endif

@compute @workgroup_size(128)
fn reduce(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let o = wg.y * nwg.x + wg.x;
    if o >= P.n_out {
        return;
    }
    let base = offset_of(P.outer, o);
    var a = acc_init();
    for (var r = lid; r < P.n_red; r += WGR) {
        a = acc_feed(a, SC(src[base + offset_of(P.inner, r)]), r);
    }
    a = tree_merge(a, lid, false);
//#if TWOPASS
    let c = center(a, P.n_red);
    var b = acc_init();
    for (var r = lid; r < P.n_red; r += WGR) {
        b = feed2(b, SC(src[base + offset_of(P.inner, r)]), c);
    }
    b = tree_merge(b, lid, true);
    if lid == 0u {
        dst[o] = finish2(b, c, P.n_red);
    }
//#else
    if lid == 0u {
        dst[o] = acc_finish(a, P.n_red);
    }
//#endif
}
