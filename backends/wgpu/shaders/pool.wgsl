// Max, average and adaptive average pooling over the H x W planes of [N, C, H, W] views,
// forward and backward. Rust side: backends/wgpu/src/pool.rs.
//
// Windows are clipped exactly as PyTorch's (and the CPU backend's) kernels clip them. Forward
// passes and the average backward run one invocation per output (input) element; the max
// backward runs one invocation per plane, adding its gradients in output order, so overlapping
// windows add up deterministically and need no atomics. Inputs are read through their strides
// (channels-last included); outputs are contiguous NCHW. Host header: `S`/`SC`, `fn cvt(x: f32)
// -> S` (floats compute in f32, f64 in f64: `C`), `fn neg_inf() -> C`; one of the flags MAX, AVG,
// MAX_BWD, AVG_BWD.

struct Params {
    off: u32,
    s0: u32,
    s1: u32,
    s2: u32,
    n: u32,
    c: u32,
    h: u32,
    w: u32,
    ho: u32,
    wo: u32,
    kh: u32,
    kw: u32,
    sh: u32,
    sw: u32,
    ph: u32,
    pw: u32,
    dh: u32,
    dw: u32,
    // 0: max / avg windows, 1: adaptive windows.
    adaptive: u32,
    count_include_pad: u32,
    // 0: none.
    divisor_override: u32,
    s3: u32,
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<uniform> P: Params;
//#if MAX
@group(0) @binding(1) var<storage, read> src: array<S>;
@group(0) @binding(2) var<storage, read_write> dst: array<S>;
@group(0) @binding(3) var<storage, read_write> indices: array<i64>;
//#endif
//#if AVG
@group(0) @binding(1) var<storage, read> src: array<S>;
@group(0) @binding(2) var<storage, read_write> dst: array<S>;
//#endif
//#if MAX_BWD
@group(0) @binding(1) var<storage, read> src: array<S>;
@group(0) @binding(2) var<storage, read> indices: array<i64>;
@group(0) @binding(3) var<storage, read_write> dst: array<S>;
//#endif
//#if AVG_BWD
@group(0) @binding(1) var<storage, read> src: array<S>;
@group(0) @binding(2) var<storage, read_write> dst: array<S>;
//#endif

// A window along one dim: positions start, start + step, ... below end; `padded` is the
// count_include_pad length.
struct Window {
    start: i32,
    end: i32,
    padded: i32,
}

fn max_window(o: u32, input: u32, k: u32, s: u32, p: u32, d: u32) -> Window {
    var start = i32(o * s) - i32(p);
    let end = min(start + i32((k - 1u) * d + 1u), i32(input));
    while start < 0 {
        start += i32(d);
    }
    return Window(start, max(end, start), 0);
}

fn avg_window(o: u32, input: u32, out: u32, k: u32, s: u32, p: u32) -> Window {
    if P.adaptive != 0u {
        let start = i32(o * input / out);
        let end = i32(((o + 1u) * input + out - 1u) / out);
        return Window(start, end, end - start);
    }
    var start = i32(o * s) - i32(p);
    var end = min(start + i32(k), i32(input + p));
    let padded = end - start;
    start = max(start, 0);
    end = min(end, i32(input));
    return Window(start, max(end, start), padded);
}

fn avg_divisor(wh: Window, ww: Window) -> C {
    if P.divisor_override != 0u {
        return C(P.divisor_override);
    }
    if P.count_include_pad != 0u && P.adaptive == 0u {
        return C(wh.padded * ww.padded);
    }
    return C((wh.end - wh.start) * (ww.end - ww.start));
}

fn src_at(plane: u32, h: u32, w: u32) -> C {
    let n = plane / P.c;
    let c = plane % P.c;
    return C(SC(src[P.off + n * P.s0 + c * P.s1 + h * P.s2 + w * P.s3]));
}

//#if MAX
@compute @workgroup_size(256)
fn max_pool(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let e = linear_index(wg, nwg, lid, 256u);
    let per = P.ho * P.wo;
    if e >= P.n * P.c * per {
        return;
    }
    let plane = e / per;
    let oh = (e % per) / P.wo;
    let ow = e % P.wo;
    let wh = max_window(oh, P.h, P.kh, P.sh, P.ph, P.dh);
    let ww = max_window(ow, P.w, P.kw, P.sw, P.pw, P.dw);
    // PyTorch's rule: the last NaN, else the first maximum; a window of -inf keeps its first.
    var best = C(0);
    var at = u32(wh.start) * P.w + u32(ww.start);
    var first = true;
    var seen_nan = false;
    for (var h = wh.start; h < wh.end; h += i32(P.dh)) {
        for (var w = ww.start; w < ww.end; w += i32(P.dw)) {
            let v = src_at(plane, u32(h), u32(w));
            let i = u32(h) * P.w + u32(w);
            if nan_C(v) {
                best = v;
                at = i;
                seen_nan = true;
            } else if !seen_nan && (first || v > best) {
                best = v;
                at = i;
            }
            first = false;
        }
    }
    if first {
        best = neg_inf(); // a window of padding only (dilation can skip the whole input)
    }
    dst[e] = cvt(best);
    indices[e] = i64(at);
}
//#endif

//#if AVG
@compute @workgroup_size(256)
fn avg_pool(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let e = linear_index(wg, nwg, lid, 256u);
    let per = P.ho * P.wo;
    if e >= P.n * P.c * per {
        return;
    }
    let plane = e / per;
    let oh = (e % per) / P.wo;
    let ow = e % P.wo;
    let wh = avg_window(oh, P.h, P.ho, P.kh, P.sh, P.ph);
    let ww = avg_window(ow, P.w, P.wo, P.kw, P.sw, P.pw);
    var sum = C(0);
    for (var h = wh.start; h < wh.end; h++) {
        for (var w = ww.start; w < ww.end; w++) {
            sum += src_at(plane, u32(h), u32(w));
        }
    }
    dst[e] = cvt(sum / avg_divisor(wh, ww));
}
//#endif

//#if AVG_BWD
// One invocation per input element: the sum over the windows that contain it. `src` is the
// gradient of the output ([N, C, Ho, Wo] through its strides).
@compute @workgroup_size(256)
fn avg_pool_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) lid: u32) {
    let e = linear_index(wg, nwg, lid, 256u);
    let per = P.h * P.w;
    if e >= P.n * P.c * per {
        return;
    }
    let plane = e / per;
    let h = i32((e % per) / P.w);
    let w = i32(e % P.w);
    var sum = C(0);
    for (var oh = 0u; oh < P.ho; oh++) {
        let wh = avg_window(oh, P.h, P.ho, P.kh, P.sh, P.ph);
        if h < wh.start || h >= wh.end {
            continue;
        }
        for (var ow = 0u; ow < P.wo; ow++) {
            let ww = avg_window(ow, P.w, P.wo, P.kw, P.sw, P.pw);
            if w < ww.start || w >= ww.end {
                continue;
            }
            sum += src_at(plane, oh, ow) / avg_divisor(wh, ww);
        }
    }
    dst[e] = cvt(sum);
}
//#endif

//#if MAX_BWD
// One invocation per plane: zero it, then add each output's gradient at its recorded index,
// in output order. An index outside the plane marks a window that covered only padding and is
// skipped, as on the CPU.
@compute @workgroup_size(64)
fn max_pool_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) lid: u32) {
    let plane = linear_index(wg, nwg, lid, 64u);
    if plane >= P.n * P.c {
        return;
    }
    let per = P.h * P.w;
    for (var i = 0u; i < per; i++) {
        dst[plane * per + i] = cvt(C(0));
    }
    let out_per = P.ho * P.wo;
    for (var o = 0u; o < out_per; o++) {
        let idx = indices[plane * out_per + o];
        if idx < i64(0) || idx >= i64(per) {
            continue; // a window of padding only: no input element gets its gradient
        }
        let d = plane * per + u32(idx);
        dst[d] = cvt(C(SC(dst[d])) + src_at(plane, o / P.wo, o % P.wo));
    }
}
//#endif
