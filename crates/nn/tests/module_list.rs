//! ModuleList: children named by index, parameters and train/eval reach every module.

use tiny_torch_core::DType;
use tiny_torch_cpu::Cpu;
use tiny_torch_nn::{Dropout, Linear, Module, ModuleList};
use tiny_torch_tensor::Tensor;

#[test]
fn modules_are_registered_by_index() {
    let mut list = ModuleList::<Cpu>::default();
    list.push(Linear::new(3, 4, true, &Cpu).unwrap());
    list.push(Dropout::new(0.5));
    list.insert(1, Linear::new(4, 4, false, &Cpu).unwrap())
        .unwrap();
    assert!(list.insert(9, Dropout::new(0.1)).is_err());
    let names: Vec<String> = list.state_dict().into_iter().map(|(k, _)| k).collect();
    assert_eq!(names, ["0.weight", "0.bias", "1.weight"]);
    assert_eq!(list.num_parameters(), 3 * 4 + 4 + 16);
    list.eval();
    assert!(list.iter().all(|m| !m.is_training()));
    // Calling the modules by hand (a ModuleList itself has no forward).
    let x = Tensor::ones(&[2, 3], DType::F32, &Cpu).unwrap();
    let mut y = x.clone();
    for m in list.iter() {
        y = m.forward(&y).unwrap();
    }
    assert_eq!(y.dims(), &[2, 4]);
    assert!(
        list.forward(&x)
            .unwrap_err()
            .to_string()
            .contains("ModuleList")
    );
}

/// A weight held by two modules (tied weights) is one parameter: listed once, under its first
/// name, so an optimizer steps it once; the state dict still names both places, as PyTorch's.
#[test]
fn tied_parameters_are_listed_once() {
    let first = Linear::new(4, 4, true, &Cpu).unwrap();
    let mut second = Linear::new(4, 4, true, &Cpu).unwrap();
    second.weight = first.weight.clone();
    let mut list = ModuleList::<Cpu>::default();
    list.push(first);
    list.push(second);
    let names: Vec<String> = list
        .named_parameters()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(names, ["0.weight", "0.bias", "1.bias"]);
    assert_eq!(list.num_parameters(), 16 + 4 + 4);
    let keys: Vec<String> = list.state_dict().into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["0.weight", "0.bias", "1.weight", "1.bias"]);
}
