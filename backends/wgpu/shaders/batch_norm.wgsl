// Batch normalization of [N, C, *] over every dim but the channels, forward and backward.
// Rust side: backends/wgpu/src/batch_norm.rs.
//
// One workgroup per channel. Its element e (of N * R, R the product of the trailing dims) is
// x[x_off + n x_s0 + c x_s1 + rest(r)] with n = e / R, r = e % R, `rest` the trailing dims'
// layout, so NCHW, channels-last and other strides need no copy; outputs are contiguous. Sums
// are tree reductions in workgroup memory, in `C` (f32, or f64 for f64). The forward takes two
// passes in training (the mean, then the squared deviations from it). Host header: `S`/`SC`,
// `C`, `fn cvt(x: C) -> S`; flag BWD for the backward pass.

struct Params {
    xr: Layout,
    gr: Layout,
    x_off: u32,
    x_s0: u32,
    x_s1: u32,
    g_off: u32,
    g_s0: u32,
    g_s1: u32,
    n: u32,
    c: u32,
    r: u32,
    training: u32,
    has_weight: u32,
    has_bias: u32,
    has_running: u32,
    w_off: u32,
    w_s: u32,
    b_off: u32,
    b_s: u32,
    rm_off: u32,
    rm_s: u32,
    rv_off: u32,
    rv_s: u32,
    pad0: u32,
    eps: C,
    momentum: C,
}

const WGB: u32 = 128u;

@group(0) @binding(0) var<uniform> P: Params;
//#if BWD
@group(0) @binding(1) var<storage, read> go: array<S>;
@group(0) @binding(2) var<storage, read> x: array<S>;
@group(0) @binding(3) var<storage, read> weight: array<S>;
@group(0) @binding(4) var<storage, read> saved_mean: array<C>;
@group(0) @binding(5) var<storage, read> saved_invstd: array<C>;
@group(0) @binding(6) var<storage, read_write> dx: array<S>;
@group(0) @binding(7) var<storage, read_write> dweight: array<S>;
@group(0) @binding(8) var<storage, read_write> dbias: array<S>;
//#else
@group(0) @binding(1) var<storage, read> x: array<S>;
@group(0) @binding(2) var<storage, read> weight: array<S>;
@group(0) @binding(3) var<storage, read> bias: array<S>;
@group(0) @binding(4) var<storage, read_write> running_mean: array<S>;
@group(0) @binding(5) var<storage, read_write> running_var: array<S>;
@group(0) @binding(6) var<storage, read_write> dst: array<S>;
@group(0) @binding(7) var<storage, read_write> saved_mean: array<C>;
@group(0) @binding(8) var<storage, read_write> saved_invstd: array<C>;
//#endif

var<workgroup> part: array<vec2<C>, 128>;

fn x_at(c: u32, e: u32) -> C {
    let n = e / P.r;
    let i = P.x_off + n * P.x_s0 + c * P.x_s1 + offset_of(P.xr, e % P.r);
    return C(SC(x[i]));
}

// The workgroup's sum of `v` (both lanes), in every invocation.
fn workgroup_sum(v: vec2<C>, lid: u32) -> vec2<C> {
    part[lid] = v;
    workgroupBarrier();
    for (var s = WGB / 2u; s > 0u; s >>= 1u) {
        if lid < s {
            part[lid] += part[lid + s];
        }
        workgroupBarrier();
    }
    let r = part[0];
    workgroupBarrier();
    return r;
}

fn weight_at(c: u32) -> C {
    if P.has_weight != 0u {
        return C(SC(weight[P.w_off + c * P.w_s]));
    }
    return C(1);
}

//#if !BWD
@compute @workgroup_size(128)
fn batch_norm(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let c = wg.x;
    let m = P.n * P.r;
    var mean = C(0);
    var var_ = C(1);
    if P.training != 0u {
        // Summed relative to the channel's first element, so that a mean large next to the
        // spread keeps its digits (the sum is of small numbers).
        var shift = C(0);
        if m > 0u {
            shift = x_at(c, 0u);
        }
        var s = vec2<C>(C(0), C(0));
        for (var e = lid; e < m; e += WGB) {
            s.x += x_at(c, e) - shift;
        }
        mean = shift + workgroup_sum(s, lid).x / C(max(m, 1u));
        var d = vec2<C>(C(0), C(0));
        for (var e = lid; e < m; e += WGB) {
            let v = x_at(c, e) - mean;
            d.x += v * v;
        }
        var_ = workgroup_sum(d, lid).x / C(max(m, 1u));
    } else {
        mean = C(SC(running_mean[P.rm_off + c * P.rm_s]));
        var_ = C(SC(running_var[P.rv_off + c * P.rv_s]));
    }
    var invstd = C(1) / sqrt(var_ + P.eps);
    if P.training != 0u && m == 0u {
        invstd = C(0);
    }
    let alpha = invstd * weight_at(c);
    var beta = C(0);
    if P.has_bias != 0u {
        beta = C(SC(bias[P.b_off + c * P.b_s]));
    }
    // (x - mean) first: x * alpha + (bias - mean * alpha) would cancel digits of a large mean.
    for (var e = lid; e < m; e += WGB) {
        let n = e / P.r;
        dst[(n * P.c + c) * P.r + e % P.r] = cvt((x_at(c, e) - mean) * alpha + beta);
    }
    if lid == 0u {
        saved_mean[c] = mean;
        saved_invstd[c] = invstd;
        // has_running: bit 0 running_mean given, bit 1 running_var given (each is updated
        // on its own, as on the CPU).
        if P.training != 0u && m > 0u {
            let k = P.momentum;
            if (P.has_running & 1u) != 0u {
                let im = P.rm_off + c * P.rm_s;
                running_mean[im] = cvt(k * mean + (C(1) - k) * C(SC(running_mean[im])));
            }
            if (P.has_running & 2u) != 0u {
                let unbiased = C(m) / (C(m) - C(1));
                let iv = P.rv_off + c * P.rv_s;
                running_var[iv] = cvt(k * var_ * unbiased + (C(1) - k) * C(SC(running_var[iv])));
            }
        }
    }
}
//#else
fn go_at(c: u32, e: u32) -> C {
    let n = e / P.r;
    let i = P.g_off + n * P.g_s0 + c * P.g_s1 + offset_of(P.gr, e % P.r);
    return C(SC(go[i]));
}

@compute @workgroup_size(128)
fn batch_norm_backward(@builtin(workgroup_id) wg: vec3<u32>,
                       @builtin(local_invocation_index) lid: u32) {
    let c = wg.x;
    let m = P.n * P.r;
    let mean = saved_mean[c];
    let invstd = saved_invstd[c];
    // (sum of g, sum of (x - mean) g)
    var s = vec2<C>(C(0), C(0));
    for (var e = lid; e < m; e += WGB) {
        let g = go_at(c, e);
        s += vec2<C>(g, (x_at(c, e) - mean) * g);
    }
    s = workgroup_sum(s, lid);
    let scale = invstd * weight_at(c);
    let mf = C(max(m, 1u));
    let k = s.y * invstd * invstd / mf;
    let grad_mean = s.x / mf;
    for (var e = lid; e < m; e += WGB) {
        let n = e / P.r;
        let g = go_at(c, e);
        var v = g * scale;
        if P.training != 0u {
            v = (g - grad_mean - (x_at(c, e) - mean) * k) * scale;
        }
        dx[(n * P.c + c) * P.r + e % P.r] = cvt(v);
    }
    if lid == 0u {
        dweight[c] = cvt(s.y * invstd);
        dbias[c] = cvt(s.x);
    }
}
//#endif
