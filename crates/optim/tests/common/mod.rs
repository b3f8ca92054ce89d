//! Helpers shared by the optim tests: tensors from slices, and the golden files written by
//! `tests/data/gen_golden.py` from PyTorch.

#![allow(dead_code)] // each test file uses a part

use std::collections::HashMap;
use tiny_torch_cpu::Cpu;
use tiny_torch_optim::Schedulable;
use tiny_torch_tensor::Tensor;

/// A float64 leaf parameter of shape `[n]`.
pub fn param(values: &[f64]) -> Tensor<Cpu> {
    Tensor::from_slice(values, &[values.len()], &Cpu)
        .unwrap()
        .requires_grad_(true)
        .unwrap()
}

/// A float32 leaf parameter of shape `shape`.
pub fn param_f32(values: &[f32], shape: &[usize]) -> Tensor<Cpu> {
    Tensor::from_slice(values, shape, &Cpu)
        .unwrap()
        .requires_grad_(true)
        .unwrap()
}

pub fn set_grad(p: &Tensor<Cpu>, g: &[f64]) {
    let g = Tensor::from_slice(g, &[g.len()], &Cpu)
        .unwrap()
        .to_dtype(p.dtype())
        .unwrap()
        .reshape(&p.dims().iter().map(|&d| d as isize).collect::<Vec<_>>())
        .unwrap();
    p.set_grad(Some(g)).unwrap();
}

/// `got` equals `want` to `rtol` relative to `1 + |want|`.
pub fn assert_close(got: &[f64], want: &[f64], rtol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= rtol * (1.0 + w.abs()),
            "{what}[{i}]: got {g}, want {w}"
        );
    }
}

/// The learning rate and momentum of group `g`.
pub fn lr_and_momentum(opt: &dyn Schedulable, g: usize) -> (f64, Option<f64>) {
    let s = opt.group_schedule(g).unwrap();
    (s.lr, s.momentum)
}

/// A golden file: `<case> <series> <values...>` per line, `#` comments.
pub struct Golden(HashMap<(String, String), Vec<f64>>);

impl Golden {
    pub fn parse(text: &str) -> Golden {
        let mut map = HashMap::new();
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let mut words = line.split_whitespace();
            let case = words.next().unwrap().to_string();
            let series = words.next().unwrap().to_string();
            let values = words.map(|w| w.parse::<f64>().unwrap()).collect();
            map.insert((case, series), values);
        }
        Golden(map)
    }

    pub fn get(&self, case: &str, series: &str) -> &[f64] {
        self.0
            .get(&(case.to_string(), series.to_string()))
            .unwrap_or_else(|| panic!("no golden series {case} {series}"))
    }

    pub fn has(&self, case: &str, series: &str) -> bool {
        self.0.contains_key(&(case.to_string(), series.to_string()))
    }
}
