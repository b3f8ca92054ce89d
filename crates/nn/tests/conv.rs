//! Conv2d and ConvTranspose2d: PyTorch's parameter shapes, names and initialisation bounds,
//! output shapes, the functional forms they call, and constructor errors. (The convolution
//! numbers themselves are checked against direct loops in tests/conformance/conv.rs.)

use tiny_torch_core::DType;
use tiny_torch_cpu::Cpu;
use tiny_torch_nn::{
    Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig, F, Module, Padding, Relu,
    Sequential,
};
use tiny_torch_tensor::{Generator, Tensor};

fn max_abs(t: &Tensor<Cpu>) -> f64 {
    t.to_f64_vec()
        .unwrap()
        .iter()
        .fold(0.0, |m, v| m.max(v.abs()))
}

#[test]
fn conv2d_parameters_follow_pytorch() {
    let config = Conv2dConfig::default().groups(2);
    let conv =
        Conv2d::new_with(4, 6, [3, 5], config, DType::F32, &Cpu, &Generator::new(1)).unwrap();
    assert_eq!(conv.weight.dims(), &[6, 2, 3, 5]);
    assert_eq!(conv.bias.as_ref().unwrap().dims(), &[6]);
    let names: Vec<String> = conv
        .named_parameters()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(names, ["weight", "bias"]);
    // kaiming_uniform(a=√5) and the bias both give U(±1/√fan_in), fan_in = 2 * 3 * 5.
    let bound = 1.0 / 30f64.sqrt();
    assert!(max_abs(&conv.weight) <= bound && max_abs(&conv.weight) > 0.8 * bound);
    assert!(max_abs(conv.bias.as_ref().unwrap()) <= bound);
    // Seeded: the same generator seed gives the same parameters.
    let again =
        Conv2d::new_with(4, 6, [3, 5], config, DType::F32, &Cpu, &Generator::new(1)).unwrap();
    assert_eq!(
        conv.weight.to_f64_vec().unwrap(),
        again.weight.to_f64_vec().unwrap()
    );
    let no_bias = Conv2d::with_config(3, 8, 1, Conv2dConfig::default().bias(false), &Cpu).unwrap();
    assert!(no_bias.bias.is_none());
    assert_eq!(no_bias.num_parameters(), 24);
}

#[test]
fn conv2d_forward_is_the_functional_form() {
    let config = Conv2dConfig::default()
        .stride(2)
        .padding(1)
        .dilation([1, 2])
        .groups(1);
    let conv = Conv2d::with_config(3, 4, 3, config, &Cpu).unwrap();
    let x = Tensor::randn(&[2, 3, 9, 10], DType::F32, &Cpu).unwrap();
    let y = conv.forward(&x).unwrap();
    // H: (9 + 2 - 3) / 2 + 1 = 5; W: (10 + 2 - 5) / 2 + 1 = 4
    assert_eq!(y.dims(), &[2, 4, 5, 4]);
    let f = F::conv2d(&x, &conv.weight, conv.bias.as_ref(), 2, 1, [1, 2], 1).unwrap();
    assert_eq!(y.to_f64_vec().unwrap(), f.to_f64_vec().unwrap());
    // Gradients reach both parameters.
    y.sum().unwrap().backward().unwrap();
    assert!(conv.parameters().iter().all(|p| p.grad().is_some()));
}

#[test]
fn padding_same_keeps_the_size() {
    for k in [1, 2, 3, 4, 5] {
        let config = Conv2dConfig::default().padding(Padding::Same).dilation(2);
        let conv = Conv2d::with_config(2, 3, k, config, &Cpu).unwrap();
        let x = Tensor::randn(&[1, 2, 7, 6], DType::F32, &Cpu).unwrap();
        assert_eq!(
            conv.forward(&x).unwrap().dims(),
            &[1, 3, 7, 6],
            "kernel {k}"
        );
    }
    let valid = Conv2dConfig::default().padding(Padding::parse("valid").unwrap());
    let conv = Conv2d::with_config(2, 3, 3, valid, &Cpu).unwrap();
    let x = Tensor::randn(&[2, 7, 6], DType::F32, &Cpu).unwrap(); // unbatched
    assert_eq!(conv.forward(&x).unwrap().dims(), &[3, 5, 4]);
    assert!(Padding::parse("full").is_err());
}

#[test]
fn conv_transpose2d_parameters_and_output_size() {
    let config = ConvTranspose2dConfig::default()
        .stride(2)
        .padding(1)
        .output_padding(1)
        .groups(2);
    let up =
        ConvTranspose2d::new_with(4, 6, 3, config, DType::F32, &Cpu, &Generator::new(2)).unwrap();
    // weight [in, out / groups, kh, kw]; fan_in = weight.size(1) * kh * kw, as in PyTorch.
    assert_eq!(up.weight.dims(), &[4, 3, 3, 3]);
    assert_eq!(up.bias.as_ref().unwrap().dims(), &[6]);
    assert!(max_abs(&up.weight) <= 1.0 / 27f64.sqrt());
    let x = Tensor::randn(&[2, 4, 5, 7], DType::F32, &Cpu).unwrap();
    let y = up.forward(&x).unwrap();
    // (5 - 1) * 2 - 2 + 3 + 1 = 10, (7 - 1) * 2 - 2 + 3 + 1 = 14
    assert_eq!(y.dims(), &[2, 6, 10, 14]);
    let f = F::conv_transpose2d(&x, &up.weight, up.bias.as_ref(), 2, 1, 1, 2, 1).unwrap();
    assert_eq!(y.to_f64_vec().unwrap(), f.to_f64_vec().unwrap());
    y.sum().unwrap().backward().unwrap();
    assert!(up.parameters().iter().all(|p| p.grad().is_some()));
}

#[test]
fn dotted_names_in_a_network() {
    let net = Sequential::new(vec![])
        .append(Conv2d::with_config(3, 8, 3, Conv2dConfig::default().bias(false), &Cpu).unwrap())
        .append(Relu)
        .append(ConvTranspose2d::new(8, 2, 2, &Cpu).unwrap());
    let names: Vec<String> = net.state_dict().into_iter().map(|(k, _)| k).collect();
    assert_eq!(names, ["0.weight", "2.weight", "2.bias"]);
}

#[test]
fn constructor_errors_are_pytorchs() {
    let err = |r: tiny_torch_core::Result<Conv2d<Cpu>>| r.err().expect("an error").to_string();
    let groups = Conv2dConfig::default().groups(2);
    assert!(
        err(Conv2d::with_config(3, 4, 3, groups, &Cpu))
            .contains("in_channels must be divisible by groups")
    );
    assert!(
        err(Conv2d::with_config(4, 3, 3, groups, &Cpu))
            .contains("out_channels must be divisible by groups")
    );
    let zero = Conv2dConfig::default().groups(0);
    assert!(
        err(Conv2d::with_config(4, 4, 3, zero, &Cpu)).contains("groups must be a positive integer")
    );
    let same = Conv2dConfig::default().padding(Padding::Same).stride(2);
    assert!(err(Conv2d::with_config(4, 4, 3, same, &Cpu)).contains("padding='same'"));
}
