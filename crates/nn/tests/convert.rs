//! Moving a model to another dtype (or backend): Rust modules are typed by their backend, so a
//! model is built for the target (`new_with(.., dtype, backend, ..)`) and filled from the source
//! with `load_state_dict`, which converts dtype and device (PyTorch's `model.to(...)`).

use tiny_torch_core::DType;
use tiny_torch_cpu::Cpu;
use tiny_torch_nn::{Linear, Module};
use tiny_torch_tensor::Generator;

#[test]
fn load_state_dict_converts_dtypes() {
    let src = Linear::new(4, 3, true, &Cpu).unwrap();
    for dtype in [DType::F64, DType::F16, DType::BF16] {
        let dst = Linear::new_with(4, 3, true, dtype, &Cpu, &Generator::new(5)).unwrap();
        dst.load_state_dict(&src.state_dict(), true).unwrap();
        assert_eq!(dst.weight.dtype(), dtype);
        let (s, d) = (
            src.weight.to_f64_vec().unwrap(),
            dst.weight.to_f64_vec().unwrap(),
        );
        // f64 holds f32 exactly; f16/bf16 round to nearest (relative error ≤ 2^-11 / 2^-8).
        let tol = match dtype {
            DType::F64 => 0.0,
            DType::F16 => 2f64.powi(-11),
            _ => 2f64.powi(-8),
        };
        for (a, b) in s.iter().zip(&d) {
            assert!((a - b).abs() <= tol * a.abs(), "{dtype}: {a} vs {b}");
        }
        // The converted parameters still train.
        assert!(dst.weight.requires_grad());
    }
}
