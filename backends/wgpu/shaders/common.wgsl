// Prepended to every shader of this folder (after the type aliases and helper functions that
// the host generates per dtype: see backends/wgpu/src/shader.rs).
//
// A `Layout` is a strided view as the host merged it (backends/wgpu/src/launch.rs): up to 8
// dims, sizes and strides in elements (a stride of 0 broadcasts), an offset, the element count,
// and a flag for "one dim of stride 1" so that contiguous operands skip the index arithmetic.
// Arrays of a uniform struct need a 16-byte stride, hence the vec4s.

struct Layout {
    ndim: u32,
    offset: u32,
    numel: u32,
    contiguous: u32,
    sizes: array<vec4<u32>, 2>,
    strides: array<vec4<u32>, 2>,
}

fn layout_size(l: Layout, d: u32) -> u32 {
    return l.sizes[d / 4u][d % 4u];
}

fn layout_stride(l: Layout, d: u32) -> u32 {
    return l.strides[d / 4u][d % 4u];
}

// Storage offset of logical element `i` (row-major) of `l`.
fn offset_of(l: Layout, i: u32) -> u32 {
    if l.contiguous != 0u {
        return l.offset + i;
    }
    var rem = i;
    var off = l.offset;
    var d = l.ndim;
    loop {
        if d == 0u {
            break;
        }
        d -= 1u;
        let s = layout_size(l, d);
        off += (rem % s) * layout_stride(l, d);
        rem /= s;
    }
    return off;
}

// The element an invocation handles in a 1-D problem dispatched as a 2-D grid of workgroups
// (the host splits more than 65535 workgroups into rows).
fn linear_index(wg: vec3<u32>, nwg: vec3<u32>, lid: u32, wg_size: u32) -> u32 {
    return (wg.y * nwg.x + wg.x) * wg_size + lid;
}
