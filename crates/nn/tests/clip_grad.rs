//! `nn::utils` gradient clipping against PyTorch 2.15's `torch.nn.utils.clip_grad_norm_` and
//! `clip_grad_value_` on the same gradients (values printed by PyTorch, `repr` digits).

use tiny_torch_core::DType;
use tiny_torch_cpu::Cpu;
use tiny_torch_nn::utils::{clip_grad_norm_, clip_grad_value_};
use tiny_torch_tensor::Tensor;

const A: [f64; 4] = [0.5, -1.5, 2.0, 0.25];
const B: [f64; 3] = [3.0, -0.75, 0.1];

/// Parameters `a` [2, 2] and `b` [3] of `dtype` with gradients `A` and `B`, and `c` [1] with
/// none (PyTorch skips it).
fn params(dtype: DType) -> Vec<Tensor<Cpu>> {
    let make = |values: &[f64], dims: &[usize], grad: bool| {
        let p = Tensor::<Cpu>::zeros(dims, dtype, &Cpu)
            .unwrap()
            .requires_grad_(true)
            .unwrap();
        if grad {
            let g = Tensor::from_slice(values, dims, &Cpu)
                .unwrap()
                .to_dtype(dtype)
                .unwrap();
            p.set_grad(Some(g)).unwrap();
        }
        p
    };
    vec![
        make(&A, &[2, 2], true),
        make(&B, &[3], true),
        make(&[0.0], &[1], false),
    ]
}

fn grads(params: &[Tensor<Cpu>]) -> Vec<f64> {
    params
        .iter()
        .filter_map(Tensor::grad)
        .flat_map(|g| g.to_f64_vec().unwrap())
        .collect()
}

#[test]
fn clip_grad_norm_matches_pytorch_for_each_order_and_dtype() {
    // (dtype, norm_type, max_norm, PyTorch's total, PyTorch's gradients after)
    let cases: [(DType, f64, f64, f64, [f64; 7]); 9] = [
        (
            DType::F64,
            2.0,
            1.0,
            4.016839553678987,
            [
                0.12447593906660163,
                -0.3734278171998049,
                0.49790375626640654,
                0.06223796953330082,
                0.7468556343996098,
                -0.18671390859990245,
                0.024895187813320327,
            ],
        ),
        (
            DType::F64,
            1.0,
            1.0,
            8.1,
            [
                0.06172838744093983,
                -0.18518516232281948,
                0.24691354976375932,
                0.030864193720469914,
                0.37037032464563896,
                -0.09259258116140974,
                0.012345677488187967,
            ],
        ),
        (
            DType::F64,
            f64::INFINITY,
            1.0,
            3.0,
            [
                0.16666661111112963,
                -0.4999998333333889,
                0.6666664444445185,
                0.08333330555556481,
                0.9999996666667778,
                -0.24999991666669444,
                0.033333322222225924,
            ],
        ),
        (
            DType::F64,
            3.0,
            1.0,
            3.389427945344773,
            [
                0.14751747508580385,
                -0.44255242525741156,
                0.5900699003432154,
                0.07375873754290192,
                0.8851048505148231,
                -0.22127621262870578,
                0.02950349501716077,
            ],
        ),
        (
            DType::F64,
            0.0,
            1.0,
            2.0,
            [
                0.2499998750000625,
                -0.7499996250001875,
                0.99999950000025,
                0.12499993750003124,
                1.499999250000375,
                -0.37499981250009373,
                0.0499999750000125,
            ],
        ),
        // Below max_norm: unchanged.
        (
            DType::F64,
            2.0,
            100.0,
            4.016839553678987,
            [0.5, -1.5, 2.0, 0.25, 3.0, -0.75, 0.1],
        ),
        (
            DType::F32,
            2.0,
            1.0,
            4.016839504241943,
            [
                0.12447594106197357,
                -0.3734278082847595,
                0.4979037642478943,
                0.062237970530986786,
                0.746855616569519,
                -0.18671390414237976,
                0.024895189329981804,
            ],
        ),
        (
            DType::F16,
            2.0,
            1.0,
            4.015625,
            [
                0.12451171875,
                -0.37353515625,
                0.498046875,
                0.062255859375,
                0.7470703125,
                -0.186767578125,
                0.02490234375,
            ],
        ),
        (
            DType::BF16,
            2.0,
            1.0,
            4.03125,
            [
                0.1240234375,
                -0.37109375,
                0.49609375,
                0.06201171875,
                0.7421875,
                -0.185546875,
                0.0247802734375,
            ],
        ),
    ];
    for (dtype, norm_type, max_norm, total, after) in cases {
        let params = params(dtype);
        let got = clip_grad_norm_(&params, max_norm, norm_type, false).unwrap();
        assert_eq!(got.dtype(), dtype);
        let what = format!("{dtype:?}, norm_type {norm_type}, max_norm {max_norm}");
        // f64/f32: the same operations in the same order; at most a last-bit difference.
        let close = |a: f64, b: f64| (a - b).abs() <= 4.0 * f64::EPSILON * b.abs().max(1.0);
        let total_got = got.to_f64_vec().unwrap()[0];
        assert!(
            close(total_got, total),
            "{what}: total {total_got}, PyTorch {total}"
        );
        for (i, (g, w)) in grads(&params).iter().zip(after).enumerate() {
            let ok = match dtype {
                DType::F64 => close(*g, w),
                DType::F32 => (g - w).abs() <= 2.0 * f32::EPSILON as f64 * w.abs(),
                _ => *g == w,
            };
            assert!(ok, "{what}: gradient {i} is {g}, PyTorch {w}");
        }
    }
}

#[test]
fn a_non_finite_total_is_an_error_on_request_and_scales_otherwise() {
    let with_inf = || {
        let p = Tensor::<Cpu>::zeros(&[2], DType::F32, &Cpu)
            .unwrap()
            .requires_grad_(true)
            .unwrap();
        p.set_grad(Some(
            Tensor::from_slice(&[f32::INFINITY, 1.0], &[2], &Cpu).unwrap(),
        ))
        .unwrap();
        vec![p]
    };
    let params = with_inf();
    let err = clip_grad_norm_(&params, 1.0, 2.0, true).unwrap_err();
    assert!(err.to_string().contains("non-finite"), "{err}");
    assert_eq!(grads(&params)[0], f64::INFINITY, "scaled despite the error");
    // PyTorch: total inf, gradients [nan, 0].
    let params = with_inf();
    let total = clip_grad_norm_(&params, 1.0, 2.0, false).unwrap();
    assert_eq!(total.to_f64_vec().unwrap(), [f64::INFINITY]);
    let after = grads(&params);
    assert!(after[0].is_nan() && after[1] == 0.0, "{after:?}");
}

#[test]
fn no_gradients_give_a_zero_norm() {
    let params = params(DType::F32);
    params[0].set_grad(None).unwrap();
    params[1].set_grad(None).unwrap();
    let total = clip_grad_norm_(&params, 1.0, 2.0, false).unwrap();
    assert_eq!(total.to_f64_vec().unwrap(), [0.0]);
    assert!(clip_grad_norm_::<Cpu>(&[], 1.0, 2.0, false).is_err());
}

#[test]
fn clip_grad_value_clamps_in_place() {
    // PyTorch: [0.5, -0.6, 0.6, 0.25] and [0.6, -0.6, 0.1].
    let params = params(DType::F64);
    clip_grad_value_(&params, 0.6).unwrap();
    assert_eq!(grads(&params), [0.5, -0.6, 0.6, 0.25, 0.6, -0.6, 0.1]);
}
