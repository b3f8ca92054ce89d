// Fused softmax / log-softmax along one dim. Rust side: backends/wgpu/src/softmax.rs.
//
// One workgroup per row (the elements along `dim` for one index of the other dims): the row's
// max and its sum of exp(x - max) are tree reductions in workgroup memory, then every element
// is written; the input is read three times and never copied. Host header: `S`/`SC` (input,
// computed in SC: f32, or f64), `D` (output), `fn cvt(x: SC) -> D`, `fn neg_inf() -> SC` and
// `fn sexp(x: SC) -> SC`, `fn slog(x: SC) -> SC`; flag LOG for log_softmax.

struct Params {
    outer: Layout,
    rows: u32,
    n: u32,
    stride: u32,
    post: u32,
}

const WGS: u32 = 128u;

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> src: array<S>;
@group(0) @binding(2) var<storage, read_write> dst: array<D>;

var<workgroup> part: array<SC, 128>;

// max that propagates NaN.
fn max_nan(a: SC, b: SC) -> SC {
    return select(b, a, nan_S(a) || a > b);
}

@compute @workgroup_size(128)
fn softmax(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let o = wg.y * nwg.x + wg.x;
    if o >= P.rows {
        return;
    }
    let base = offset_of(P.outer, o);
    var m = neg_inf();
    for (var r = lid; r < P.n; r += WGS) {
        m = max_nan(m, SC(src[base + r * P.stride]));
    }
    part[lid] = m;
    workgroupBarrier();
    for (var s = WGS / 2u; s > 0u; s >>= 1u) {
        if lid < s {
            part[lid] = max_nan(part[lid], part[lid + s]);
        }
        workgroupBarrier();
    }
    m = part[0];
    workgroupBarrier();
    var sum = SC(0);
    for (var r = lid; r < P.n; r += WGS) {
        sum += sexp(SC(src[base + r * P.stride]) - m);
    }
    part[lid] = sum;
    workgroupBarrier();
    for (var s = WGS / 2u; s > 0u; s >>= 1u) {
        if lid < s {
            part[lid] += part[lid + s];
        }
        workgroupBarrier();
    }
    sum = part[0];
    // Output row-major: [o / post, r, o % post] of [.., n, post].
    let out_base = (o / P.post) * P.n * P.post + o % P.post;
//#if LOG
    let log_sum = slog(sum);
//#endif
    for (var r = lid; r < P.n; r += WGS) {
        let x = SC(src[base + r * P.stride]) - m;
//#if LOG
        dst[out_base + r * P.post] = cvt(x - log_sum);
//#else
        dst[out_base + r * P.post] = cvt(sexp(x) / sum);
//#endif
    }
}
