//! Creation and conversion: from host data, filled tensors, ranges, eye, *_like, dtype
//! conversions, to_device, item, metadata, printing.

use crate::common::*;
use tiny_torch::{Backend, DType, Tensor, bf16, f16};

pub fn check_creation<B: Backend>(b: &B) {
    run_checks(
        "creation",
        b,
        &[
            ("from_host_data", from_host_data::<B>),
            ("filled", filled::<B>),
            ("ranges_and_eye", ranges_and_eye::<B>),
            ("like", like::<B>),
            ("dtype_conversions", dtype_conversions::<B>),
            ("device_item_metadata", device_item_metadata::<B>),
            ("display", display::<B>),
        ],
    );
}

fn from_host_data<B: Backend>(b: &B) {
    let t = Tensor::from_vec(vec![1.5f32, -2.0, 3.25, 4.0, 5.0, 6.0], &[2, 3], b).unwrap();
    assert_exact(
        "from_vec f32",
        &t,
        &[1.5, -2.0, 3.25, 4.0, 5.0, 6.0],
        &[2, 3],
        DType::F32,
    );
    let t = Tensor::from_slice(&[1i64, -2, 3], &[3, 1], b).unwrap();
    assert_exact("from_slice i64", &t, &[1.0, -2.0, 3.0], &[3, 1], DType::I64);
    let t = Tensor::new([[1.0f64, 2.0], [3.0, 4.0], [5.0, 6.0]], b).unwrap();
    assert_exact(
        "new 2-D f64",
        &t,
        &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        &[3, 2],
        DType::F64,
    );
    let t = Tensor::new([[[1i32, 2], [3, 4]], [[5, 6], [7, 8]]], b).unwrap();
    assert_exact(
        "new 3-D i32",
        &t,
        &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
        &[2, 2, 2],
        DType::I32,
    );
    let t = Tensor::new(2.5f32, b).unwrap();
    assert_exact("new 0-dim", &t, &[2.5], &[], DType::F32);
    let t = Tensor::new([true, false, true], b).unwrap();
    assert_exact("new bool", &t, &[1.0, 0.0, 1.0], &[3], DType::Bool);
    let t = Tensor::new([1u8, 255], b).unwrap();
    assert_exact("new u8", &t, &[1.0, 255.0], &[2], DType::U8);
    let t = Tensor::new([f16::from_f32(0.5), f16::from_f32(-1.0)], b).unwrap();
    assert_exact("new f16", &t, &[0.5, -1.0], &[2], DType::F16);
    let t = Tensor::new([bf16::from_f32(3.0)], b).unwrap();
    assert_exact("new bf16", &t, &[3.0], &[1], DType::BF16);
    let t = Tensor::from_vec(Vec::<f32>::new(), &[0, 4], b).unwrap();
    assert_exact("from_vec empty", &t, &[], &[0, 4], DType::F32);
}

fn filled<B: Backend>(b: &B) {
    for dtype in DType::ALL {
        let z = Tensor::zeros(&[2, 3], dtype, b).unwrap();
        assert_exact(&format!("zeros {dtype}"), &z, &[0.0; 6], &[2, 3], dtype);
        let o = Tensor::ones(&[4], dtype, b).unwrap();
        assert_exact(&format!("ones {dtype}"), &o, &[1.0; 4], &[4], dtype);
        let e = Tensor::empty(&[3, 0, 2], dtype, b).unwrap();
        assert_eq!(
            (e.dims(), e.dtype()),
            (&[3usize, 0, 2][..], dtype),
            "empty {dtype}"
        );
        let e = Tensor::empty(&[5], dtype, b).unwrap();
        assert_eq!((e.numel(), e.dtype()), (5, dtype), "empty {dtype}");
    }
    assert_exact(
        "full 7 f32",
        &Tensor::full(&[2, 2], 7, DType::F32, b).unwrap(),
        &[7.0; 4],
        &[2, 2],
        DType::F32,
    );
    assert_exact(
        "full 2.5 f64",
        &Tensor::full(&[3], 2.5, DType::F64, b).unwrap(),
        &[2.5; 3],
        &[3],
        DType::F64,
    );
    assert_exact(
        "full -3 i32",
        &Tensor::full(&[2], -3i64, DType::I32, b).unwrap(),
        &[-3.0; 2],
        &[2],
        DType::I32,
    );
    assert_exact(
        "full true f32",
        &Tensor::full(&[2], true, DType::F32, b).unwrap(),
        &[1.0; 2],
        &[2],
        DType::F32,
    );
    assert_exact(
        "full 1 bool",
        &Tensor::full(&[2], 1, DType::Bool, b).unwrap(),
        &[1.0; 2],
        &[2],
        DType::Bool,
    );
    assert_exact(
        "full 0.1 f16",
        &Tensor::full(&[1], 0.1, DType::F16, b).unwrap(),
        &[f16::from_f64(0.1).to_f64()],
        &[1],
        DType::F16,
    );
    assert_exact(
        "full 0-dim",
        &Tensor::full(&[], -1.25, DType::F32, b).unwrap(),
        &[-1.25],
        &[],
        DType::F32,
    );
    let big = 1i64 << 53;
    assert_eq!(
        Tensor::full(&[1], big + 1, DType::I64, b)
            .unwrap()
            .to_vec::<i64>()
            .unwrap(),
        [big + 1],
        "full keeps int64 exact"
    );
}

fn ranges_and_eye<B: Backend>(b: &B) {
    assert_exact(
        "arange(0, 5, 1)",
        &Tensor::arange(0.0, 5.0, 1.0, DType::I64, b).unwrap(),
        &[0.0, 1.0, 2.0, 3.0, 4.0],
        &[5],
        DType::I64,
    );
    assert_exact(
        "arange(1, 2, 0.25)",
        &Tensor::arange(1.0, 2.0, 0.25, DType::F32, b).unwrap(),
        &[1.0, 1.25, 1.5, 1.75],
        &[4],
        DType::F32,
    );
    assert_exact(
        "arange(5, 0, -2)",
        &Tensor::arange(5.0, 0.0, -2.0, DType::I64, b).unwrap(),
        &[5.0, 3.0, 1.0],
        &[3],
        DType::I64,
    );
    let t = Tensor::arange(0.0, 1.0, 0.1, DType::F32, b).unwrap();
    let want: Vec<f64> = (0..10).map(|i| (i as f64 * 0.1) as f32 as f64).collect();
    assert_close(
        "arange(0, 1, 0.1)",
        &t,
        &want,
        &[10],
        DType::F32,
        1e-7,
        1e-7,
    );
    assert_eq!(
        Tensor::arange(3.0, 3.0, 1.0, DType::F32, b).unwrap().dims(),
        [0],
        "empty arange"
    );
    assert_exact(
        "linspace(0, 1, 5)",
        &Tensor::linspace(0.0, 1.0, 5, DType::F32, b).unwrap(),
        &[0.0, 0.25, 0.5, 0.75, 1.0],
        &[5],
        DType::F32,
    );
    assert_exact(
        "linspace(-1, 1, 3) f64",
        &Tensor::linspace(-1.0, 1.0, 3, DType::F64, b).unwrap(),
        &[-1.0, 0.0, 1.0],
        &[3],
        DType::F64,
    );
    assert_exact(
        "linspace(2, 2, 1)",
        &Tensor::linspace(2.0, 5.0, 1, DType::F32, b).unwrap(),
        &[2.0],
        &[1],
        DType::F32,
    );
    assert_exact(
        "linspace(0, 1, 0)",
        &Tensor::linspace(0.0, 1.0, 0, DType::F32, b).unwrap(),
        &[],
        &[0],
        DType::F32,
    );
    let t = Tensor::linspace(0.0, 1.0, 7, DType::F32, b).unwrap();
    let want: Vec<f64> = (0..7).map(|i| i as f64 / 6.0).collect();
    assert_close("linspace(0, 1, 7)", &t, &want, &[7], DType::F32, 1e-6, 1e-7);
    let want: Vec<f64> = (0..9).map(|i| (i % 4 == 0) as u8 as f64).collect();
    assert_exact(
        "eye(3)",
        &Tensor::eye(3, DType::F32, b).unwrap(),
        &want,
        &[3, 3],
        DType::F32,
    );
    assert_exact(
        "eye(2) i64",
        &Tensor::eye(2, DType::I64, b).unwrap(),
        &[1.0, 0.0, 0.0, 1.0],
        &[2, 2],
        DType::I64,
    );
    assert_eq!(Tensor::eye(0, DType::F32, b).unwrap().dims(), [0, 0]);
}

fn like<B: Backend>(b: &B) {
    let x = f32_tensor(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2], b)
        .t()
        .unwrap();
    assert_exact(
        "zeros_like",
        &x.zeros_like().unwrap(),
        &[0.0; 6],
        &[2, 3],
        DType::F32,
    );
    assert_exact(
        "ones_like",
        &x.ones_like().unwrap(),
        &[1.0; 6],
        &[2, 3],
        DType::F32,
    );
    assert_exact(
        "full_like",
        &x.full_like(-2).unwrap(),
        &[-2.0; 6],
        &[2, 3],
        DType::F32,
    );
    let i = tensor(&[1.0, 2.0], &[2], DType::I32, b);
    assert_exact(
        "full_like i32",
        &i.full_like(9).unwrap(),
        &[9.0; 2],
        &[2],
        DType::I32,
    );
    let r = x.rand_like().unwrap();
    assert_eq!(
        (r.dims(), r.dtype()),
        (&[2usize, 3][..], DType::F32),
        "rand_like"
    );
}

fn dtype_conversions<B: Backend>(b: &B) {
    let x = [-1.7, -0.5, 0.0, 0.5, 2.9, 100.25];
    let t = f32_tensor(&x, &[6], b);
    // Float to integer truncates toward zero; anything to bool is != 0.
    assert_exact(
        "f32 -> i64",
        &t.to_dtype(DType::I64).unwrap(),
        &[-1.0, 0.0, 0.0, 0.0, 2.0, 100.0],
        &[6],
        DType::I64,
    );
    assert_exact(
        "f32 -> i32",
        &t.to_dtype(DType::I32).unwrap(),
        &[-1.0, 0.0, 0.0, 0.0, 2.0, 100.0],
        &[6],
        DType::I32,
    );
    // Out of range: as Rust's `as i64 as i32` / `as u8` (truncate, saturate at i64's range,
    // NaN to 0, keep the low bits), the CPU's rule, on every backend.
    let wide = [
        3e9,
        -3e9,
        1e19,
        -1e19,
        4294967296.0 + 7.0 * 256.0,
        -2.5e9,
        255.9,
        -1.5,
    ];
    let special = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY];
    for dtype in [DType::F32, DType::F64] {
        let values: Vec<f64> = wide
            .iter()
            .chain(&special)
            .map(|&v| round_to(dtype, v))
            .collect();
        let t = tensor(&values, &[values.len()], dtype, b);
        let as_i32: Vec<f64> = values.iter().map(|&v| f64::from(v as i64 as i32)).collect();
        let as_u8: Vec<f64> = values.iter().map(|&v| f64::from(v as i64 as u8)).collect();
        let n = [values.len()];
        let what = format!("{dtype} -> i32 out of range");
        assert_exact(
            &what,
            &t.to_dtype(DType::I32).unwrap(),
            &as_i32,
            &n,
            DType::I32,
        );
        let what = format!("{dtype} -> u8 out of range");
        assert_exact(
            &what,
            &t.to_dtype(DType::U8).unwrap(),
            &as_u8,
            &n,
            DType::U8,
        );
    }
    assert_exact(
        "f32 -> bool",
        &t.to_dtype(DType::Bool).unwrap(),
        &[1.0, 1.0, 0.0, 1.0, 1.0, 1.0],
        &[6],
        DType::Bool,
    );
    assert_exact(
        "f32 -> f64",
        &t.to_dtype(DType::F64).unwrap(),
        &x.map(|v| v as f32 as f64),
        &[6],
        DType::F64,
    );
    let want: Vec<f64> = x.iter().map(|&v| f16::from_f64(v).to_f64()).collect();
    assert_exact(
        "f32 -> f16 rounds to nearest",
        &t.to_dtype(DType::F16).unwrap(),
        &want,
        &[6],
        DType::F16,
    );
    let want: Vec<f64> = x
        .iter()
        .map(|&v| bf16::from_f32(v as f32).to_f64())
        .collect();
    assert_exact(
        "f32 -> bf16 rounds to nearest",
        &t.to_dtype(DType::BF16).unwrap(),
        &want,
        &[6],
        DType::BF16,
    );
    let third = f32_tensor(&[1.0 / 3.0], &[1], b)
        .to_dtype(DType::F16)
        .unwrap();
    assert_exact(
        "1/3 -> f16",
        &third,
        &[f16::from_f32(1.0 / 3.0).to_f64()],
        &[1],
        DType::F16,
    );
    let bools = tensor(&[1.0, 0.0, 1.0], &[3], DType::Bool, b);
    assert_exact(
        "bool -> f32",
        &bools.to_dtype(DType::F32).unwrap(),
        &[1.0, 0.0, 1.0],
        &[3],
        DType::F32,
    );
    assert_exact(
        "bool -> i64",
        &bools.to_dtype(DType::I64).unwrap(),
        &[1.0, 0.0, 1.0],
        &[3],
        DType::I64,
    );
    let ints = tensor(&[-3.0, 0.0, 200.0], &[3], DType::I64, b);
    assert_exact(
        "i64 -> f32",
        &ints.to_dtype(DType::F32).unwrap(),
        &[-3.0, 0.0, 200.0],
        &[3],
        DType::F32,
    );
    assert_exact(
        "i64 -> i32",
        &ints.to_dtype(DType::I32).unwrap(),
        &[-3.0, 0.0, 200.0],
        &[3],
        DType::I32,
    );
    assert_exact(
        "i64 -> bool",
        &ints.to_dtype(DType::Bool).unwrap(),
        &[1.0, 0.0, 1.0],
        &[3],
        DType::Bool,
    );
    let u8s = tensor(&[0.0, 255.0], &[2], DType::U8, b);
    assert_exact(
        "u8 -> i32",
        &u8s.to_dtype(DType::I32).unwrap(),
        &[0.0, 255.0],
        &[2],
        DType::I32,
    );
    let big = Tensor::from_vec(vec![(1i64 << 53) + 1, -(1i64 << 62)], &[2], b).unwrap();
    assert_eq!(
        big.to_dtype(DType::I64).unwrap().to_vec::<i64>().unwrap(),
        [(1i64 << 53) + 1, -(1i64 << 62)]
    );
    // A strided source converts in logical order.
    let m = f32_tensor(&[1.5, 2.5, 3.5, 4.5], &[2, 2], b).t().unwrap();
    assert_exact(
        "convert a transpose",
        &m.to_dtype(DType::I64).unwrap(),
        &[1.0, 3.0, 2.0, 4.0],
        &[2, 2],
        DType::I64,
    );
    // to_dtype to the same dtype is the tensor itself.
    assert!(t.to_dtype(DType::F32).unwrap().shares_storage_with(&t));
}

fn device_item_metadata<B: Backend>(b: &B) {
    let t = f32_tensor(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3], b);
    assert_eq!(t.device(), b.device());
    let moved = t.t().unwrap().to_device(b).unwrap();
    assert_exact(
        "to_device of a transpose",
        &moved,
        &[1.0, 4.0, 2.0, 5.0, 3.0, 6.0],
        &[3, 2],
        DType::F32,
    );
    assert!(!moved.shares_storage_with(&t));
    assert_eq!((t.ndim(), t.numel()), (2, 6));
    assert_eq!(t.size(-1).unwrap(), 3);
    assert_eq!(t.size(0).unwrap(), 2);
    assert_eq!(t.strides(), [3, 1]);
    assert!(t.is_contiguous());
    assert_eq!(t.shape().dims(), [2, 3]);
    assert_eq!(Tensor::new(4.5f32, b).unwrap().item::<f32>().unwrap(), 4.5);
    assert_eq!(
        tensor(&[7.0], &[1, 1], DType::I64, b)
            .item::<i64>()
            .unwrap(),
        7
    );
    assert_eq!(
        t.select(1, 2)
            .unwrap()
            .select(0, 1)
            .unwrap()
            .item::<f32>()
            .unwrap(),
        6.0
    );
    assert_eq!(t.to_vec::<f32>().unwrap(), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    assert_eq!(t.to_f64_vec().unwrap(), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
}

fn display<B: Backend>(b: &B) {
    // As PyTorch prints with its default options.
    let cases: Vec<(Tensor<B>, &str)> = vec![
        (
            Tensor::new([[1.0f32, 2.0], [3.0, 4.0]], b).unwrap(),
            "tensor([[1., 2.],\n        [3., 4.]])",
        ),
        (
            Tensor::new([1.5f32, -2.0], b).unwrap(),
            "tensor([ 1.5000, -2.0000])",
        ),
        (Tensor::new([1i64, 2, 3], b).unwrap(), "tensor([1, 2, 3])"),
        (
            Tensor::new([1i32, -20], b).unwrap(),
            "tensor([  1, -20], dtype=torch.int32)",
        ),
        (
            Tensor::new([0.25f64], b).unwrap(),
            "tensor([0.2500], dtype=torch.float64)",
        ),
        (Tensor::new(2.5f32, b).unwrap(), "tensor(2.5000)"),
        (
            Tensor::new([true, false], b).unwrap(),
            "tensor([ True, False])",
        ),
    ];
    for (t, want) in cases {
        assert_eq!(t.to_string(), with_device(want, b.device()));
    }
}

/// PyTorch's text off the CPU: `device='...'` before the dtype (or the closing parenthesis).
fn with_device(want: &str, device: tiny_torch::Device) -> String {
    if device == tiny_torch::Device::Cpu {
        return want.to_string();
    }
    let at = want.find(", dtype=").unwrap_or(want.len() - 1);
    format!("{}, device='{device}'{}", &want[..at], &want[at..])
}
