//! Gradients at the points where PyTorch defines them specially (a constant slice for `std`,
//! NaN in `max`/`maximum`, a zero base in `pow`), checked against values PyTorch 2.15.0 gives
//! in float64 (`torch.tensor(x, dtype=torch.float64, requires_grad=True)`, the same
//! expression, `.backward()`), and `log_sigmoid` against float64 math.

use crate::common::{T, assert_close, leaf, to_vec};
use tiny_torch_tensor::DType;

/// Gradients of `f(inputs).backward()` for each input.
fn grads(inputs: &[&[f64]], f: impl Fn(&[T]) -> T) -> Vec<Vec<f64>> {
    let leaves: Vec<T> = inputs.iter().map(|v| leaf(v, &[v.len()])).collect();
    f(&leaves).backward().unwrap();
    leaves.iter().map(|l| to_vec(&l.grad().unwrap())).collect()
}

/// Equal, with infinities and NaN matching exactly.
fn assert_same(what: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let ok = if w.is_finite() {
            (g - w).abs() <= 1e-9 * (1.0 + w.abs())
        } else {
            g == w || (g.is_nan() && w.is_nan())
        };
        assert!(ok, "{what}, element {i}: got {g}, PyTorch gives {w}");
    }
}

#[test]
fn std_of_a_constant_slice_has_zero_gradient() {
    // x.std() of [1, 1, 1]: PyTorch [0, 0, 0] (0 * inf would be NaN).
    let g = grads(&[&[1.0, 1.0, 1.0]], |x| x[0].std(&[], 1.0, false).unwrap());
    assert_same("std of a constant", &g[0], &[0.0; 3]);
    // x.std(dim=1).sum() of [[1, 1, 1], [1, 2, 4]]: the constant row gets 0, the other row
    // the usual gradient.
    let x = leaf(&[1.0, 1.0, 1.0, 1.0, 2.0, 4.0], &[2, 3]);
    x.std(&[1], 1.0, false)
        .unwrap()
        .sum()
        .unwrap()
        .backward()
        .unwrap();
    let want = [0.0, 0.0, 0.0, -0.4364357805, -0.1091089451, 0.5455447256];
    assert_close(&to_vec(&x.grad().unwrap()), &want, 1e-9);
}

#[test]
fn var_without_degrees_of_freedom() {
    // x.var(correction=2) and (correction=3) of [0, 1]: [inf, inf]; of [1, 1]: [nan, nan].
    let inf = f64::INFINITY;
    for correction in [2.0, 3.0] {
        let g = grads(&[&[0.0, 1.0]], |x| {
            x[0].var(&[], correction, false).unwrap()
        });
        assert_same(&format!("correction {correction}"), &g[0], &[inf, inf]);
    }
    let g = grads(&[&[1.0, 1.0]], |x| x[0].var(&[], 2.0, false).unwrap());
    assert_same("equal values", &g[0], &[f64::NAN, f64::NAN]);
}

#[test]
fn pow_with_a_zero_base() {
    // (a ** b).sum() at a = [0, 0, 2], b = [-1, 2, 3]: d/da [-inf, 0, 12],
    // d/db [-inf, 0, 8 ln 2] (0^b ln 0 is masked to 0 only for b >= 0).
    let g = grads(&[&[0.0, 0.0, 2.0], &[-1.0, 2.0, 3.0]], |x| {
        x[0].pow(&x[1]).unwrap().sum().unwrap()
    });
    assert_same("d/da", &g[0], &[f64::NEG_INFINITY, 0.0, 12.0]);
    assert_same("d/db", &g[1], &[f64::NEG_INFINITY, 0.0, 5.5451774445]);
}

#[test]
fn nan_in_max_and_maximum() {
    let nan = f64::NAN;
    // [1, nan, 3].max() / .min(): the NaN element takes the gradient: [0, 1, 0].
    let g = grads(&[&[1.0, nan, 3.0]], |x| x[0].max().unwrap());
    assert_same("max", &g[0], &[0.0, 1.0, 0.0]);
    let g = grads(&[&[1.0, nan, 3.0]], |x| x[0].min().unwrap());
    assert_same("min", &g[0], &[0.0, 1.0, 0.0]);
    // maximum / minimum of [nan, 1, 2] and [1, nan, 2]: a NaN on either side sends the whole
    // gradient to both, a tie half to each: [1, 1, 0.5] for both inputs.
    for name in ["maximum", "minimum"] {
        let g = grads(&[&[nan, 1.0, 2.0], &[1.0, nan, 2.0]], |x| {
            let m = if name == "maximum" {
                x[0].maximum(&x[1])
            } else {
                x[0].minimum(&x[1])
            };
            m.unwrap().sum().unwrap()
        });
        assert_same(name, &g[0], &[1.0, 1.0, 0.5]);
        assert_same(name, &g[1], &[1.0, 1.0, 0.5]);
    }
}

#[test]
fn neg_in_place_on_a_graph_tensor() {
    // y = x * 2; y.neg_(); y.sum().backward(): [-2, -2] (neg saves nothing to overwrite).
    let x = leaf(&[1.0, 2.0], &[2]);
    let y = x.mul(2.0).unwrap();
    y.neg_().unwrap();
    y.sum().unwrap().backward().unwrap();
    assert_same("neg_", &to_vec(&x.grad().unwrap()), &[-2.0, -2.0]);
}

#[test]
fn log_sigmoid_is_stable_and_smooth() {
    let x = [-800.0, -30.0, -1.5, 0.0, 0.25, 30.0, 800.0];
    let g = grads(&[&x], |t| t[0].log_sigmoid().unwrap().sum().unwrap());
    let leaf_x = leaf(&x, &[7]);
    let got = to_vec(&leaf_x.log_sigmoid().unwrap());
    for (i, &v) in x.iter().enumerate() {
        // log(sigmoid(v)) = min(v, 0) - ln(1 + e^-|v|), and its derivative sigmoid(-v).
        let want = v.min(0.0) - (-v.abs()).exp().ln_1p();
        assert!(
            (got[i] - want).abs() <= 1e-15 * (1.0 + want.abs()),
            "value at {v}: {} vs {want}",
            got[i]
        );
        let d = 1.0 / (1.0 + v.exp());
        assert!(
            (g[0][i] - d).abs() <= 1e-15,
            "gradient at {v}: {} vs {d}",
            g[0][i]
        );
    }
}

#[test]
fn an_inf_gradient_outside_a_clamp_or_off_the_max_gives_zero_not_nan() {
    let sqrt_sum = |t: T| t.sqrt().unwrap().sum().unwrap();
    // x.clamp_max(0).sqrt().sum() at [5]: sqrt'(0) = inf meets the clamp's zero. PyTorch [0].
    let g = grads(&[&[5.0]], |x| sqrt_sum(x[0].clamp_max(0.0).unwrap()));
    assert_same("clamp_max then sqrt", &g[0], &[0.0]);
    // x.clamp_min(0).sqrt().sum() at [-1e-7]: PyTorch [0].
    let g = grads(&[&[-1e-7]], |x| sqrt_sum(x[0].clamp_min(0.0).unwrap()));
    assert_same("clamp_min then sqrt", &g[0], &[0.0]);
    // x.max().sqrt() at [-1, 0, -2]: PyTorch [0, inf, 0].
    let g = grads(&[&[-1.0, 0.0, -2.0]], |x| {
        x[0].max().unwrap().sqrt().unwrap()
    });
    assert_same("max then sqrt", &g[0], &[0.0, f64::INFINITY, 0.0]);
    // amax keeps PyTorch's `grad * mask / count`: [nan, inf, nan].
    let g = grads(&[&[-1.0, 0.0, -2.0]], |x| {
        x[0].amax(&[], false).unwrap().sqrt().unwrap()
    });
    assert_same(
        "amax then sqrt",
        &g[0],
        &[f64::NAN, f64::INFINITY, f64::NAN],
    );
}

/// Values, dtype, PyTorch 2.15's norm, its gradient for g = 1, and for g = 3.
type NormCase = (&'static [f64], DType, f64, &'static [f64], &'static [f64]);

#[test]
fn half_precision_norm_does_not_overflow_and_rounds_as_pytorch() {
    let cases: [NormCase; 4] = [
        // 300² overflows f16: summed in f32.
        (
            &[300.0, 300.0],
            DType::F16,
            424.25,
            &[0.70703125; 2],
            &[2.12109375; 2],
        ),
        (
            &[300.0, 300.0],
            DType::BF16,
            424.0,
            &[0.70703125; 2],
            &[2.125; 2],
        ),
        // g * (x / norm) in the dtype, with the rounded norm.
        (
            &[1.0, 2.0, 3.0],
            DType::F16,
            3.7421875,
            &[0.267333984375, 0.53466796875, 0.8017578125],
            &[0.8017578125, 1.603515625, 2.40625],
        ),
        (
            &[1.0, 2.0, 3.0],
            DType::BF16,
            3.734375,
            &[0.267578125, 0.53515625, 0.8046875],
            &[0.8046875, 1.609375, 2.40625],
        ),
    ];
    for (values, dtype, norm, grad_1, grad_3) in cases {
        for (scale, want) in [(1.0, grad_1), (3.0, grad_3)] {
            let x = leaf(values, &[values.len()])
                .detach()
                .to_dtype(dtype)
                .unwrap()
                .requires_grad_(true)
                .unwrap();
            let n = x.norm().unwrap();
            assert_eq!(to_vec(&n), [norm], "{dtype:?} norm of {values:?}");
            n.mul(scale).unwrap().backward().unwrap();
            assert_eq!(
                to_vec(&x.grad().unwrap()),
                want,
                "{dtype:?} {values:?} g = {scale}"
            );
        }
    }
}
