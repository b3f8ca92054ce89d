//! Cross entropy with class-probability targets (against a float64 hand computation and the
//! class-index form), and Embedding's padding_idx (zero row, no gradient).

use tiny_torch_core::DType;
use tiny_torch_cpu::Cpu;
use tiny_torch_nn::functional::{
    self as F, CrossEntropyOptions, Reduction, cross_entropy, cross_entropy_with,
};
use tiny_torch_nn::{Embedding, Module};
use tiny_torch_tensor::Tensor;

fn logits() -> Vec<f64> {
    vec![
        0.2, -1.0, 0.5, 1.5, 0.0, -0.3, 2.0, 0.1, -0.7, 0.4, 0.9, -1.2,
    ]
}

/// -Σ_c w_c t'_c log softmax(x)_c per row, t' = t (1 - ls) + ls / C.
fn reference(x: &[f64], t: &[f64], w: Option<&[f64]>, ls: f64, c: usize) -> Vec<f64> {
    x.chunks(c)
        .zip(t.chunks(c))
        .map(|(row, trow)| {
            let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let lse = m + row.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
            -(0..c)
                .map(|j| {
                    let tj = trow[j] * (1.0 - ls) + ls / c as f64;
                    w.map_or(1.0, |w| w[j]) * tj * (row[j] - lse)
                })
                .sum::<f64>()
        })
        .collect()
}

/// uint8 class indices, as PyTorch takes "Long or Byte" (`F.cross_entropy(x, tensor([0, 1, 2],
/// dtype=torch.uint8))` is the int64 loss); a class of 156 is not taken for `ignore_index`
/// -100 (which wraps to 156 in uint8).
#[test]
fn uint8_class_indices_are_taken_as_int64() {
    let c = 160;
    let x: Vec<f64> = (0..2 * c).map(|i| ((i * 37) % 11) as f64 / 7.0).collect();
    let x = Tensor::from_slice(&x, &[2, c], &Cpu).unwrap();
    let labels = [156.0, 3.0];
    let as_i64 = Tensor::from_slice(&labels, &[2], &Cpu)
        .unwrap()
        .to_dtype(DType::I64)
        .unwrap();
    let as_u8 = as_i64.to_dtype(DType::U8).unwrap();
    let want = cross_entropy(&x, &as_i64).unwrap().to_f64_vec().unwrap();
    let got = cross_entropy(&x, &as_u8).unwrap().to_f64_vec().unwrap();
    assert_eq!(got, want);
    let flags = as_i64.ne(0i64).unwrap();
    assert!(cross_entropy(&x, &flags).is_err());
}

#[test]
fn probability_targets_match_the_formula() {
    let (n, c) = (3, 4);
    let x = logits();
    let t: Vec<f64> = vec![
        0.1, 0.2, 0.3, 0.4, 1.0, 0.0, 0.0, 0.0, 0.25, 0.25, 0.25, 0.25,
    ];
    let w = [0.5, 1.0, 2.0, 1.5];
    let input = Tensor::from_vec(x.clone(), &[n, c], &Cpu).unwrap();
    let target = Tensor::from_vec(t.clone(), &[n, c], &Cpu).unwrap();
    for (weight, ls) in [
        (None, 0.0),
        (Some(&w[..]), 0.0),
        (Some(&w[..]), 0.1),
        (None, 0.2),
    ] {
        let per = reference(&x, &t, weight, ls, c);
        for (reduction, want) in [
            (Reduction::None, per.clone()),
            (Reduction::Sum, vec![per.iter().sum()]),
            (Reduction::Mean, vec![per.iter().sum::<f64>() / n as f64]),
        ] {
            let options = CrossEntropyOptions {
                weight: weight.map(|w| Tensor::from_vec(w.to_vec(), &[c], &Cpu).unwrap()),
                label_smoothing: ls,
                reduction,
                ..Default::default()
            };
            let got = cross_entropy_with(&input, &target, &options)
                .unwrap()
                .to_f64_vec()
                .unwrap();
            assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() < 1e-12, "{reduction:?} ls {ls}: {g} vs {w}");
            }
        }
    }
    // One-hot probabilities give the class-index loss.
    let onehot: Vec<f32> = [2usize, 0, 3]
        .iter()
        .flat_map(|&k| (0..c).map(move |j| (j == k) as u8 as f32))
        .collect();
    let input32 = input.to_dtype(DType::F32).unwrap();
    let soft = cross_entropy(&input32, &Tensor::from_vec(onehot, &[n, c], &Cpu).unwrap()).unwrap();
    let hard = cross_entropy(
        &input32,
        &Tensor::from_vec(vec![2i64, 0, 3], &[n], &Cpu).unwrap(),
    )
    .unwrap();
    assert!((soft.item::<f32>().unwrap() - hard.item::<f32>().unwrap()).abs() < 1e-6);
    // A target of another shape is an error naming both shapes.
    let bad = Tensor::zeros(&[n, c + 1], DType::F64, &Cpu).unwrap();
    let err = cross_entropy(&input, &bad).unwrap_err().to_string();
    assert!(
        err.contains("cross_entropy") && err.contains("[3, 5]"),
        "{err}"
    );
}

#[test]
fn padding_idx_row_is_zero_and_gets_no_gradient() {
    let emb = Embedding::new(5, 3, &Cpu).unwrap().padding_idx(-1).unwrap(); // row 4
    assert_eq!(emb.padding_idx, Some(4));
    let w = emb.weight.to_f64_vec().unwrap();
    assert!(w[12..15].iter().all(|&v| v == 0.0));
    assert!(w[..12].iter().any(|&v| v != 0.0));
    // Make the padding row non-zero (as a user may): its gradient must still be zero.
    tiny_torch_nn::init::constant_(&emb.weight.narrow(0, 4, 1).unwrap(), 0.5).unwrap();
    let w = emb.weight.to_f64_vec().unwrap();
    let idx = Tensor::from_vec(vec![4i64, 1, 4, 2, 1], &[5], &Cpu).unwrap();
    let out = emb.forward(&idx).unwrap();
    assert_eq!(out.dims(), &[5, 3]);
    // Forward returns the rows as they are.
    let o = out.to_f64_vec().unwrap();
    assert_eq!(&o[3..6], &w[3..6]);
    assert_eq!(&o[0..3], &[0.5, 0.5, 0.5]);
    out.mul(&out).unwrap().sum().unwrap().backward().unwrap();
    let g = emb.weight.grad().unwrap().to_f64_vec().unwrap();
    // d(sum of squares)/dw = 2 w per occurrence: row 1 twice, row 2 once, row 4 (padding) none.
    for j in 0..3 {
        assert!((g[3 + j] - 4.0 * w[3 + j]).abs() < 1e-6);
        assert!((g[6 + j] - 2.0 * w[6 + j]).abs() < 1e-6);
        assert_eq!(g[12 + j], 0.0);
        assert_eq!(g[j], 0.0);
    }
    assert!(Embedding::new(5, 3, &Cpu).unwrap().padding_idx(5).is_err());

    // An inf row stays inf (PyTorch: weight [[1, 2], [inf, 3]], indices [1, 0], padding_idx 0
    // gives [[inf, 3], [1, 2]]); a 0/1 mask product would make it NaN.
    let weight = Tensor::from_vec(vec![1.0f32, 2.0, f32::INFINITY, 3.0], &[2, 2], &Cpu).unwrap();
    let idx = Tensor::from_vec(vec![1i64, 0], &[2], &Cpu).unwrap();
    let rows = F::embedding_with_padding(&idx, &weight, Some(0)).unwrap();
    assert_eq!(rows.to_f64_vec().unwrap(), [f64::INFINITY, 3.0, 1.0, 2.0]);
}
