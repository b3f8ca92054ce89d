// Strided copies with dtype conversion, and fill. Rust side: backends/wgpu/src/copy.rs.
//
// Host header: `S`/`SC` (source storage/compute types), `D` (destination storage type) and
// `fn cvt(x: SC) -> D` with the cast rules of `Backend::copy`.

struct Params {
    src: Layout,
    dst: Layout,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> src: array<S>;
@group(0) @binding(2) var<storage, read_write> dst: array<D>;

// dst[i] = cvt(src[i]) through both layouts.
@compute @workgroup_size(256)
fn copy(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wg, nwg, lid, 256u);
    if i >= P.dst.numel {
        return;
    }
    dst[offset_of(P.dst, i)] = cvt(SC(src[offset_of(P.src, i)]));
}

// dst[i] = src[0]: the value, already converted on the host, is the source's one element.
@compute @workgroup_size(256)
fn fill(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wg, nwg, lid, 256u);
    if i >= P.dst.numel {
        return;
    }
    dst[offset_of(P.dst, i)] = cvt(SC(src[0]));
}
