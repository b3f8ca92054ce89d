//! Smoke tests of the wgpu backend on its own (the conformance suite in the facade checks every
//! op family against f64 references). Skipped, with the reason printed, without an adapter
//! unless `TINY_TORCH_REQUIRE` names `wgpu`.

use tiny_torch_core::{Backend, BinaryOp, DType, Error, Layout, Scalar, UnaryOp, View, ViewMut};
use tiny_torch_wgpu::Wgpu;

fn wgpu_or_skip() -> Option<Wgpu> {
    match Wgpu::try_default() {
        Ok(w) => Some(w),
        Err(e) => {
            let required = std::env::var("TINY_TORCH_REQUIRE")
                .unwrap_or_default()
                .split(',')
                .any(|s| s.trim() == "wgpu");
            assert!(!required, "TINY_TORCH_REQUIRE names wgpu, but: {e}");
            eprintln!("skipping: {e}");
            None
        }
    }
}

fn f32s(w: &Wgpu, s: &tiny_torch_wgpu::WgpuStorage, l: &Layout) -> Vec<f32> {
    bytemuck::pod_collect_to_vec(&w.to_bytes(View::new(s, l)).unwrap())
}

#[test]
fn bytes_round_trip_in_every_supported_dtype() {
    let Some(w) = wgpu_or_skip() else { return };
    for dtype in DType::ALL {
        let n = 7;
        let bytes: Vec<u8> = (0..n * dtype.size_in_bytes())
            .map(|i| {
                if dtype == DType::Bool {
                    (i % 2) as u8
                } else {
                    (i * 7 % 251) as u8
                }
            })
            .collect();
        match w.from_bytes(dtype, &bytes) {
            Ok(s) => {
                let l = Layout::contiguous(vec![n]);
                assert_eq!(w.to_bytes(View::new(&s, &l)).unwrap(), bytes, "{dtype}");
                // An odd offset (2-byte f16 elements start mid-word).
                let tail = Layout::new(vec![n - 1], vec![1], 1).unwrap();
                let got = w.to_bytes(View::new(&s, &tail)).unwrap();
                assert_eq!(got, bytes[dtype.size_in_bytes()..], "{dtype} from offset 1");
            }
            Err(Error::Unsupported { backend, .. }) => {
                assert_eq!(backend, "wgpu");
                assert!(!w.supports_dtype(dtype));
            }
            Err(e) => panic!("{dtype}: {e}"),
        }
    }
}

#[test]
fn strided_copy_fill_and_cast() {
    let Some(w) = wgpu_or_skip() else { return };
    let data: Vec<f32> = (0..6).map(|i| i as f32 - 2.5).collect();
    let src = w
        .from_bytes(DType::F32, bytemuck::cast_slice(&data))
        .unwrap();
    // The transpose of a [2, 3] matrix, cast to i32.
    let t = Layout::new(vec![3, 2], vec![1, 3], 0).unwrap();
    let mut dst = w.alloc(DType::I32, 6).unwrap();
    let c = Layout::contiguous(vec![3, 2]);
    w.copy(View::new(&src, &t), ViewMut::new(&mut dst, &c))
        .unwrap();
    let got: Vec<i32> = bytemuck::pod_collect_to_vec(&w.to_bytes(View::new(&dst, &c)).unwrap());
    assert_eq!(got, vec![-2, 0, -1, 1, 0, 2]);
    let mut f = w.alloc(DType::F32, 4).unwrap();
    let l = Layout::contiguous(vec![4]);
    w.fill(ViewMut::new(&mut f, &l), Scalar::Float(1.5))
        .unwrap();
    assert_eq!(f32s(&w, &f, &l), vec![1.5; 4]);
    let stats = w.memory_stats();
    assert!(stats.in_use > 0, "{stats:?}");
}

#[test]
fn unary_and_broadcast_binary() {
    let Some(w) = wgpu_or_skip() else { return };
    let a: Vec<f32> = vec![1.0, -2.0, 3.0, -4.0, 5.0, -6.0];
    let b: Vec<f32> = vec![10.0, 20.0, 30.0];
    let sa = w.from_bytes(DType::F32, bytemuck::cast_slice(&a)).unwrap();
    let sb = w.from_bytes(DType::F32, bytemuck::cast_slice(&b)).unwrap();
    let la = Layout::contiguous(vec![2, 3]);
    let lb = Layout::new(vec![2, 3], vec![0, 1], 0).unwrap();
    let mut out = w.alloc(DType::F32, 6).unwrap();
    w.binary(
        BinaryOp::Add,
        View::new(&sa, &la),
        View::new(&sb, &lb),
        ViewMut::new(&mut out, &la),
    )
    .unwrap();
    assert_eq!(f32s(&w, &out, &la), vec![11.0, 18.0, 33.0, 6.0, 25.0, 24.0]);
    w.unary_inplace(UnaryOp::Relu, ViewMut::new(&mut out, &la))
        .unwrap();
    assert_eq!(f32s(&w, &out, &la), vec![11.0, 18.0, 33.0, 6.0, 25.0, 24.0]);
    let mut e = w.alloc(DType::F32, 6).unwrap();
    w.unary(UnaryOp::Abs, View::new(&sa, &la), ViewMut::new(&mut e, &la))
        .unwrap();
    assert_eq!(f32s(&w, &e, &la), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
}

#[test]
fn integer_division_by_zero_is_reported_at_the_next_sync() {
    let Some(w) = wgpu_or_skip() else { return };
    let a = w
        .from_bytes(DType::I32, bytemuck::cast_slice(&[7i32, -7]))
        .unwrap();
    let b = w
        .from_bytes(DType::I32, bytemuck::cast_slice(&[2i32, 0]))
        .unwrap();
    let l = Layout::contiguous(vec![2]);
    let mut out = w.alloc(DType::I32, 2).unwrap();
    w.binary(
        BinaryOp::Div,
        View::new(&a, &l),
        View::new(&b, &l),
        ViewMut::new(&mut out, &l),
    )
    .unwrap();
    let err = w.synchronize().unwrap_err().to_string();
    assert!(err.contains("division by zero"), "{err}");
    w.synchronize().unwrap();
}
