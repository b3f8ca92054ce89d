// Prepended to unary.cu and binary.cu (after common.cuh): the machinery that walks the operands
// of an element-wise op. Host side: `Elementwise` / `AccessPath` in backends/cuda/src/unary.rs.

// The host merges dims and picks a path (`AccessPath` in unary.rs):
// - PATH_VECTORIZED: fewer than 2^31 elements (32-bit indices) in rows, 1-D (one row) or 2-D,
//   that every input reads with stride 1 or broadcasts (stride 0: a scalar, a bias row, a
//   per-row statistic) and the output writes with stride 1, in whole aligned packs (below);
//   a 1-D row may end in a partial pack.
// - PATH_STRIDED: anything else, by coordinates of the merged dims.
#define PATH_STRIDED 0
#define PATH_VECTORIZED 1

// On the vectorized path each thread moves 16 bytes of the kernel's dtype per operand per step:
// one wide load keeps enough bytes in flight to saturate HBM, where 4-byte (let alone 2-byte)
// loads leave it idle. Narrower operands (bool outputs, where's condition) move the same number
// of elements.
#define PACK_BYTES 16
template <typename T, int N> struct alignas(sizeof(T) * N) Pack { T v[N]; };
template <typename T> struct PackLen { static const int value = PACK_BYTES / sizeof(T); };

// Elements a thread takes per step on the strided path, all loaded before any is computed, for
// the same reason (`STRIDED_UNROLL` in unary.rs).
#define UNROLL 4

// Grid-stride loop over [0, n).
template <typename I, typename Body>
__device__ __forceinline__ void grid_stride(I n, Body body) {
    const I step = (I)blockDim.x * gridDim.x;
    for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += step) {
        body(i);
    }
}

// Grid-stride loop over tiles of UNROLL * blockDim.x indices: in each tile a thread loads its
// UNROLL elements (t, t + blockDim.x, ...: coalesced) with `load(i)`, then hands each loaded
// item to `store(i, item)`, so that UNROLL loads per operand are in flight at once.
template <typename I, typename Load, typename Store>
__device__ __forceinline__ void unrolled_loop(I n, Load load, Store store) {
    typedef decltype(load(I(0))) Item;
    const I tile = (I)blockDim.x * UNROLL;
    for (I first = (I)blockIdx.x * tile + threadIdx.x; first < n; first += tile * gridDim.x) {
        Item items[UNROLL];
#pragma unroll
        for (int k = 0; k < UNROLL; ++k) {
            const I i = first + (I)k * blockDim.x;
            if (i < n) items[k] = load(i);
        }
#pragma unroll
        for (int k = 0; k < UNROLL; ++k) {
            const I i = first + (I)k * blockDim.x;
            if (i < n) store(i, items[k]);
        }
    }
}

// Calls visit(dim, coordinate) for each dim of the row-major index `linear` in `shape`. The
// coordinates are computed once for all operands (their layouts share the merged dims), and the
// outermost needs no division (what is left of `linear` is it), so a 1-D layout costs none.
template <typename I, typename Visit>
__device__ __forceinline__ void for_each_coordinate(I linear, const Layout& shape, Visit visit) {
    for (int d = shape.ndim - 1; d > 0; --d) {
        const I size = (I)shape.sizes[d];
        const I rest = linear / size;
        visit(d, linear - rest * size);
        linear = rest;
    }
    visit(0, linear);
}

// The row shape of the vectorized path, from the output's (1-D or 2-D) layout.
struct RowShape {
    u32 rows, cols;
    __device__ __forceinline__ explicit RowShape(const Layout& l)
        : rows(l.ndim == 2 ? (u32)l.sizes[0] : 1u), cols((u32)l.sizes[l.ndim - 1]) {}
};

// An input on the vectorized path: row r starts at `start + r * row_stride`, and is read
// along (inner stride 1) or broadcast (inner stride 0: every element is its first).
template <typename T> struct RowReader {
    const T* start;
    i64 row_stride;
    bool broadcast;
    __device__ __forceinline__ RowReader(const T* data, const Layout& l)
        : start(data + l.offset),
          row_stride(l.ndim == 2 ? l.strides[0] : 0),
          broadcast(l.strides[l.ndim - 1] == 0) {}
    // Element i of a 1-D operand.
    __device__ __forceinline__ T at(u32 i) const { return start[broadcast ? 0u : i]; }
    // Elements c .. c + N of row r (c a multiple of N: the host checked the alignment).
    template <int N> __device__ __forceinline__ Pack<T, N> pack(u32 r, u32 c) const {
        const T* row = start + (i64)r * row_stride;
        Pack<T, N> x;
        if (broadcast) {
#pragma unroll
            for (int k = 0; k < N; ++k) x.v[k] = row[0];
        } else {
            x = *reinterpret_cast<const Pack<T, N>*>(row + c);
        }
        return x;
    }
};

// The output on the vectorized path (inner stride 1).
template <typename T> struct RowWriter {
    T* start;
    i64 row_stride;
    __device__ __forceinline__ RowWriter(T* data, const Layout& l)
        : start(data + l.offset), row_stride(l.ndim == 2 ? l.strides[0] : 0) {}
    __device__ __forceinline__ T& at(u32 i) const { return start[i]; }
    template <int N> __device__ __forceinline__ void store(u32 r, u32 c, const Pack<T, N>& x) const {
        *reinterpret_cast<Pack<T, N>*>(start + (i64)r * row_stride + c) = x;
    }
};

// Calls body(r, c) for every pack of N elements (row r, columns c .. c + N) of `shape`, then
// tail(i) for the last cols % N elements of a 1-D shape (2-D rows hold whole packs).
template <int N, typename Body, typename Tail>
__device__ __forceinline__ void for_each_pack(RowShape shape, Body body, Tail tail) {
    const u32 packs_per_row = shape.cols / N;
    grid_stride(shape.rows * packs_per_row, [&](u32 p) {
        const u32 r = shape.rows == 1 ? 0u : p / packs_per_row;
        body(r, (p - r * packs_per_row) * N);
    });
    const u32 done = packs_per_row * N;
    grid_stride(shape.cols - done, [&](u32 i) { tail(done + i); });
}
