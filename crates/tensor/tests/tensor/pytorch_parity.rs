//! Points where PyTorch's rules are easy to miss, each checked against the value PyTorch 2.15
//! returns for the same call (recorded beside each case): half-precision arithmetic with
//! scalars, in-place ops across dtypes, range checks of stored values, integer `arange` and
//! `linspace`, `all`/`any` of uint8, `logsumexp` of integers, and the errors PyTorch raises.

use crate::common::{T, cpu, tensor};
use tiny_torch_tensor::{BinaryOp, DType, Tensor};

fn values(t: &T) -> Vec<f64> {
    t.to_f64_vec().unwrap()
}

const HALF_VALUES: [f64; 5] = [1000.0, 3.0, 0.001, 60000.0, -7.25];

/// f16/bf16 add, sub, mul and div compute in float with the scalar as a float and round once:
/// a scalar the half type cannot hold is not rounded to it first.
#[test]
fn half_arithmetic_takes_the_scalar_as_a_float() {
    let h = tensor(&HALF_VALUES, &[5], DType::F16);
    // (h / 65536).tolist(): 65536 is inf in f16.
    let quotient = [
        0.0152587890625,
        4.57763671875e-05,
        0.0,
        0.91552734375,
        -0.000110626220703125,
    ];
    assert_eq!(values(&h.div(65536.0).unwrap()), quotient);
    // h * 1e-3
    let product = [
        1.0,
        0.0030002593994140625,
        1.0132789611816406e-06,
        60.0,
        -0.007251739501953125,
    ];
    let scaled = h.mul(1e-3).unwrap();
    assert_eq!(scaled.dtype(), DType::F16);
    assert_eq!(values(&scaled), product);
    // torch.mul(h, 1e-3, out=o) for an f16 `o`
    let out = Tensor::zeros(&[5], DType::F16, &cpu()).unwrap();
    h.binary_op_out(BinaryOp::Mul, 1e-3, &out).unwrap();
    assert_eq!(values(&out), product);
    // f16 [0.001] * 1e5: 1e5 is inf in f16.
    let small = tensor(&[0.001], &[1], DType::F16);
    assert_eq!(values(&small.mul(1e5).unwrap()), [100.0625]);
    // 0.1 - h
    let difference = [-1000.0, -2.900390625, 0.0989990234375, -60000.0, 7.3515625];
    assert_eq!(values(&(0.1 - &h).unwrap()), difference);
    // Comparisons convert the scalar to the half type, as PyTorch's: f16(0.1) == 0.1.
    let tenth = tensor(&[0.1], &[1], DType::F16);
    assert_eq!(values(&tenth.eq(0.1).unwrap()), [1.0]);

    let b = tensor(&HALF_VALUES, &[5], DType::BF16);
    // b + 1e-3, b * 1.1
    assert_eq!(
        values(&b.add(1e-3).unwrap()),
        [1000.0, 3.0, 0.0019989013671875, 59904.0, -7.25]
    );
    assert_eq!(
        values(&b.mul(1.1).unwrap()),
        [1104.0, 3.296875, 0.0010986328125, 66048.0, -7.96875]
    );
}

/// In place, PyTorch computes in the promoted dtype (or in float for a half tensor and an
/// inexact scalar) and casts on the store.
#[test]
fn inplace_ops_compute_in_the_promoted_dtype() {
    // x = f16 [0.001, 2]; x.mul_(1e5)
    let x = tensor(&[0.001, 2.0], &[2], DType::F16);
    x.mul_(1e5).unwrap();
    assert_eq!(values(&x), [100.0625, f64::INFINITY]);
    // x.mul_(torch.tensor([1e5, 3.3])): an f32 right-hand side.
    let x = tensor(&[0.001, 2.0], &[2], DType::F16);
    x.mul_(&tensor(&[1e5, 3.3], &[2], DType::F32)).unwrap();
    assert_eq!(values(&x), [100.0625, 6.6015625]);
    assert_eq!(x.dtype(), DType::F16);
    // i32 [5, -7] += i64 [2^33 + 1, 3]: computed in i64, wrapped on the store.
    let i = tensor(&[5.0, -7.0], &[2], DType::I32);
    i.add_(&tensor(&[8_589_934_593.0, 3.0], &[2], DType::I64))
        .unwrap();
    assert_eq!(values(&i), [6.0, -4.0]);
    // Recorded by autograd too (l = f16 [0.001, 2] leaf; y = l * 1.0; y.mul_(1e-3);
    // y.sum().backward()).
    let leaf = tensor(&[0.001, 2.0], &[2], DType::F16)
        .requires_grad_(true)
        .unwrap();
    let y = leaf.mul(1.0).unwrap();
    y.mul_(1e-3).unwrap();
    assert_eq!(values(&y), [1.0132789611816406e-06, 0.0020008087158203125]);
    y.sum().unwrap().backward().unwrap();
    assert_eq!(values(&leaf.grad().unwrap()), [0.0010004043579101562; 2]);
}

#[test]
fn integer_pow_of_a_negative_scalar_is_an_error() {
    // torch.tensor([2, 1]).pow(-1): "Integers to negative integer powers are not allowed."
    let i = tensor(&[2.0, 1.0], &[2], DType::I64);
    for err in [i.pow(-1i64).unwrap_err(), i.pow_(-1i64).unwrap_err()] {
        assert!(err.to_string().contains("negative integer powers"), "{err}");
    }
    assert_eq!(values(&i.pow(0i64).unwrap()), [1.0, 1.0]);
    // A tensor exponent is computed as is: tensor([0, 1]).pow(tensor([-1, -1])) is [0, 1].
    let base = tensor(&[0.0, 1.0], &[2], DType::I64);
    let minus_one = tensor(&[-1.0, -1.0], &[2], DType::I64);
    assert_eq!(values(&base.pow(&minus_one).unwrap()), [0.0, 1.0]);
}

/// `full` and `masked_fill` store the value as is and refuse one the dtype cannot hold
/// ("value cannot be converted to type uint8_t without overflow"; PyTorch 2.15's bounds, case
/// by case); arithmetic wraps.
#[test]
fn stored_values_must_fit_the_dtype() {
    let c = cpu();
    for (value, dtype) in [
        (300.0, DType::U8),
        (256.0, DType::U8),
        (-0.5, DType::U8),
        (1e20, DType::I64),
        (2f64.powi(63), DType::I64),
        (f64::NAN, DType::I64),
        (f64::INFINITY, DType::I32),
        (-2_147_483_648.5, DType::I32),
        (1e39, DType::F32),
    ] {
        let err = Tensor::full(&[2], value, dtype, &c)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("without overflow"),
            "{value} as {dtype}: {err}"
        );
    }
    let err = Tensor::full(&[1], 300i64, DType::U8, &c).unwrap_err();
    assert!(err.to_string().contains("uint8"), "{err}");
    // Accepted, with PyTorch's values: 2.7 truncates, infinities are floats' own, and the
    // integer -1 as uint8 is 255.
    for (value, dtype, want) in [
        (2.7, DType::U8, 2.0),
        (255.99, DType::U8, 255.0),
        (2_147_483_647.5, DType::I32, 2_147_483_647.0),
        (f64::INFINITY, DType::F16, f64::INFINITY),
        (65504.0, DType::F16, 65504.0),
        // `full` converts into f16 and bf16 without a check: 1e5 is inf in f16.
        (1e5, DType::F16, f64::INFINITY),
        (1e5, DType::BF16, 99840.0),
    ] {
        let t = Tensor::full(&[1], value, dtype, &c).unwrap();
        assert_eq!(values(&t), [want], "{value} as {dtype}");
    }
    let as_u8 = Tensor::full(&[1], -1i64, DType::U8, &c).unwrap();
    assert_eq!(values(&as_u8), [255.0]);
    let mask = tensor(&[1.0, 0.0], &[2], DType::Bool);
    let bytes = Tensor::zeros(&[2], DType::U8, &c).unwrap();
    assert!(bytes.masked_fill(&mask, 300i64).is_err());
    // masked_fill checks f16 too (65519 would round to 65504, but is past it).
    let halves = Tensor::zeros(&[2], DType::F16, &c).unwrap();
    assert!(halves.masked_fill(&mask, 65519.0).is_err());
    assert!(halves.masked_fill(&mask, 1e5).is_err());
    assert_eq!(values(&bytes.masked_fill(&mask, 2.5).unwrap()), [2.0, 0.0]);
    // Arithmetic wraps: uint8 [1] + 300 is 45.
    let one = tensor(&[1.0], &[1], DType::U8);
    assert_eq!(values(&one.add(300i64).unwrap()), [45.0]);
}

#[test]
fn integer_arange_and_linspace_truncate_their_ends_first() {
    let c = cpu();
    let arange =
        |start, end, step, dtype| values(&Tensor::arange(start, end, step, dtype, &c).unwrap());
    // torch.arange(-1.5, 3, 1, dtype=torch.int64) etc.
    assert_eq!(
        arange(-1.5, 3.0, 1.0, DType::I64),
        [-1.0, 0.0, 1.0, 2.0, 3.0]
    );
    assert_eq!(arange(0.0, 5.0, 1.5, DType::I64), [0.0, 1.0, 2.0, 3.0]);
    assert_eq!(arange(0.5, 3.7, 0.9, DType::I32), [0.0; 4]);
    assert_eq!(
        arange(-3.7, 4.2, 1.6, DType::I64),
        [-3.0, -2.0, -1.0, 0.0, 1.0]
    );
    assert_eq!(arange(10.0, 0.0, -2.5, DType::I64), [10.0, 8.0, 6.0, 4.0]);
    // Floats keep the f64 computation.
    assert_eq!(
        arange(-1.5, 3.0, 1.0, DType::F32),
        [-1.5, -0.5, 0.5, 1.5, 2.5]
    );

    let linspace =
        |start, end, steps, dtype| values(&Tensor::linspace(start, end, steps, dtype, &c).unwrap());
    // torch.linspace(-0.5, 10., 3, dtype=torch.int64) etc.
    assert_eq!(linspace(-0.5, 10.0, 3, DType::I64), [0.0, 5.0, 10.0]);
    assert_eq!(linspace(0.7, 9.9, 4, DType::I64), [0.0, 3.0, 6.0, 9.0]);
    assert_eq!(linspace(0.0, 10.0, 4, DType::I64), [0.0, 3.0, 6.0, 10.0]);
    assert_eq!(
        linspace(-7.9, 3.2, 5, DType::I64),
        [-7.0, -4.0, -2.0, 0.0, 3.0]
    );
    assert_eq!(
        linspace(0.0, -10.0, 4, DType::I32),
        [0.0, -3.0, -6.0, -10.0]
    );
    // torch.linspace(-5, 10, 4, dtype=torch.uint8): -5 is 251 first.
    assert_eq!(
        linspace(-5.0, 10.0, 4, DType::U8),
        [251.0, 170.0, 90.0, 10.0]
    );
}

#[test]
fn reductions_keep_pytorchs_dtypes() {
    // torch.tensor([1, 0], dtype=torch.uint8).all() is tensor(0, dtype=torch.uint8).
    let bytes = tensor(&[1.0, 0.0], &[2], DType::U8);
    for (t, want) in [
        (bytes.all().unwrap(), 0.0),
        (bytes.any().unwrap(), 1.0),
        (bytes.any_dim(0, false).unwrap(), 1.0),
    ] {
        assert_eq!(t.dtype(), DType::U8);
        assert_eq!(values(&t), [want]);
    }
    assert_eq!(
        tensor(&[1.0, 0.0], &[2], DType::I64).all().unwrap().dtype(),
        DType::Bool
    );
    // torch.logsumexp(torch.tensor([1, 2]), 0) is 2.3133 (float32).
    let ints = tensor(&[1.0, 2.0], &[2], DType::I64);
    let lse = ints.logsumexp(&[0], false).unwrap();
    assert_eq!(lse.dtype(), DType::F32);
    let want = (1f64.exp() + 2f64.exp()).ln();
    assert!((values(&lse)[0] - want).abs() < 1e-6);
    // argmax(): does not support bool input
    let flags = tensor(&[0.0, 1.0], &[2], DType::Bool);
    assert!(flags.argmax(None, false).is_err());
    assert!(flags.argmin(Some(0), false).is_err());
}

#[test]
fn shapes_past_memory_are_refused_even_with_a_zero_dim() {
    let c = cpu();
    let huge = 1usize << 40;
    assert!(Tensor::zeros(&[huge, huge, 0], DType::F32, &c).is_err());
    assert!(Tensor::zeros(&[huge, 0], DType::F32, &c).is_ok());
    let t = Tensor::zeros(&[10, 2], DType::F32, &c).unwrap();
    // One element: its stride is never used, and no longer overflows.
    let first = t.slice(0, 0, 10, 1 << 63).unwrap();
    assert_eq!(first.dims(), &[1, 2]);
    assert_eq!(values(&first), [0.0, 0.0]);
}

#[test]
fn uniform_bounds_must_fit_the_dtype() {
    let c = cpu();
    // uniform_ expects to-from <= std::numeric_limits<Float>::max()
    assert!(Tensor::uniform(-3e38, 3e38, &[2], DType::F32, &c).is_err());
    assert!(Tensor::uniform(-1e308, 1e308, &[2], DType::F64, &c).is_err());
    // to is out of bounds for c10::Half
    assert!(Tensor::uniform(0.0, 1e5, &[2], DType::F16, &c).is_err());
    let u = Tensor::uniform(-1e38, 1e38, &[64], DType::F32, &c).unwrap();
    assert!(values(&u).iter().all(|v| v.is_finite()));
}

/// gather/scatter as PyTorch: a 0-dim tensor counts as 1-D, an empty index skips the shape
/// checks, and int32 indices are taken as int64.
#[test]
fn gather_and_scatter_take_what_pytorch_takes() {
    let c = cpu();
    // torch.tensor(1.5).gather(0, torch.tensor([0])) is tensor([1.5]).
    let scalar = Tensor::full(&[], 1.5, DType::F32, &c).unwrap();
    let zero = tensor(&[0.0], &[1], DType::I64);
    let picked = scalar.gather(0, &zero).unwrap();
    assert_eq!((picked.dims(), values(&picked)), (&[1][..], vec![1.5]));
    // torch.tensor(2.).scatter_add(0, tensor([0]), tensor([5.])) is tensor(7.).
    let two = Tensor::full(&[], 2.0, DType::F32, &c).unwrap();
    let five = tensor(&[5.0], &[1], DType::F32);
    let sum = two.scatter_add(0, &zero, &five).unwrap();
    assert_eq!((sum.dims(), values(&sum)), (&[][..], vec![7.0]));
    // zeros(3).scatter_add(0, zeros(0, 2), ones(2, 2)) is zeros(3).
    let none = Tensor::zeros(&[0, 2], DType::I64, &c).unwrap();
    let ones = Tensor::ones(&[2, 2], DType::F32, &c).unwrap();
    let z = Tensor::zeros(&[3], DType::F32, &c).unwrap();
    assert_eq!(values(&z.scatter_add(0, &none, &ones).unwrap()), [0.0; 3]);
    // zeros(3).gather(0, zeros(0, 5)) is an empty (0, 5) tensor.
    let empty_pick = z.gather(0, &Tensor::zeros(&[0, 5], DType::I64, &c).unwrap());
    assert_eq!(empty_pick.unwrap().dims(), &[0, 5]);
    // tensor([[1., 2], [3, 4]]).gather(1, tensor([[1], [0]], dtype=torch.int32)) is [[2], [3]].
    let m = tensor(&[1.0, 2.0, 3.0, 4.0], &[2, 2], DType::F32);
    let i32_index = tensor(&[1.0, 0.0], &[2, 1], DType::I32);
    assert_eq!(values(&m.gather(1, &i32_index).unwrap()), [2.0, 3.0]);
    let scattered = m.scatter(
        1,
        &i32_index,
        &Tensor::zeros(&[2, 1], DType::F32, &c).unwrap(),
    );
    assert_eq!(values(&scattered.unwrap()), [1.0, 0.0, 0.0, 4.0]);
}

#[test]
fn permute_and_cat_edge_cases() {
    let c = cpu();
    let scalar = Tensor::full(&[], 1.0, DType::F32, &c).unwrap();
    // torch.tensor(1.).permute(0): "number of dimensions ... does not match"
    assert!(scalar.permute(&[0]).is_err());
    assert_eq!(scalar.permute(&[]).unwrap().dims(), &[] as &[usize]);
    // torch.cat([empty(0), empty(0)], 1) is empty(0): legacy empty tensors skip the dim check.
    let empty = Tensor::zeros(&[0], DType::F32, &c).unwrap();
    let joined = Tensor::cat(&[&empty, &empty], 1).unwrap();
    assert_eq!(joined.dims(), &[0]);
}
