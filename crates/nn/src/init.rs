//! `torch.nn.init`: fills a tensor in place, under `no_grad`, from a seeded [`Generator`]
//! (`None` = the default generator, which [`tiny_torch_tensor::manual_seed`] seeds).
//!
//! Fans follow PyTorch: for a weight `[out, in, k...]`, `fan_in = in * prod(k)` and
//! `fan_out = out * prod(k)`.

use tiny_torch_core::{Backend, Error, Result};
use tiny_torch_tensor::autograd::no_grad;
use tiny_torch_tensor::{Generator, Tensor, default_generator};

/// Which fan scales a kaiming init (`mode=` in PyTorch).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FanMode {
    #[default]
    FanIn,
    FanOut,
}

/// `nn.init.calculate_gain(nonlinearity, param)`: `"linear"`, `"conv*"`, `"sigmoid"` → 1,
/// `"tanh"` → 5/3, `"relu"` → √2, `"leaky_relu"` → √(2 / (1 + slope²)) (slope = `param`,
/// default 0.01), `"selu"` → 3/4.
pub fn calculate_gain(nonlinearity: &str, param: Option<f64>) -> Result<f64> {
    Ok(match nonlinearity {
        "linear" | "conv1d" | "conv2d" | "conv3d" | "conv_transpose1d" | "conv_transpose2d"
        | "conv_transpose3d" | "sigmoid" => 1.0,
        "tanh" => 5.0 / 3.0,
        "relu" => 2f64.sqrt(),
        "leaky_relu" => {
            let slope = param.unwrap_or(0.01);
            (2.0 / (1.0 + slope * slope)).sqrt()
        }
        "selu" => 0.75,
        other => {
            return Err(Error::invalid(
                "calculate_gain",
                format!("unsupported nonlinearity {other}"),
            ));
        }
    })
}

/// `(fan_in, fan_out)` of a weight of at least 2 dims.
pub fn calculate_fan_in_and_fan_out<B: Backend>(t: &Tensor<B>) -> Result<(usize, usize)> {
    let dims = t.dims();
    if dims.len() < 2 {
        return Err(Error::shape(
            "init",
            format!(
                "fan in and fan out can not be computed for tensor with fewer than 2 \
                 dimensions (shape {})",
                t.shape()
            ),
        ));
    }
    let receptive: usize = dims[2..].iter().product();
    Ok((dims[1] * receptive, dims[0] * receptive))
}

fn fan<B: Backend>(t: &Tensor<B>, mode: FanMode) -> Result<usize> {
    let (fan_in, fan_out) = calculate_fan_in_and_fan_out(t)?;
    Ok(match mode {
        FanMode::FanIn => fan_in,
        FanMode::FanOut => fan_out,
    })
}

/// Writes `values` into `t` without recording history.
fn fill<B: Backend>(t: &Tensor<B>, values: &Tensor<B>) -> Result<()> {
    let _guard = no_grad();
    t.copy_(values)
}

/// `nn.init.uniform_(t, a, b)`.
pub fn uniform_<B: Backend>(
    t: &Tensor<B>,
    a: f64,
    b: f64,
    generator: Option<&Generator>,
) -> Result<()> {
    let generator = generator.unwrap_or(default_generator());
    let values = Tensor::uniform_with(a, b, t.dims(), t.dtype(), t.backend(), generator)?;
    fill(t, &values)
}

/// `nn.init.normal_(t, mean, std)`.
pub fn normal_<B: Backend>(
    t: &Tensor<B>,
    mean: f64,
    std: f64,
    generator: Option<&Generator>,
) -> Result<()> {
    let generator = generator.unwrap_or(default_generator());
    let values = Tensor::normal_with(mean, std, t.dims(), t.dtype(), t.backend(), generator)?;
    fill(t, &values)
}

/// `nn.init.constant_(t, value)`.
pub fn constant_<B: Backend>(t: &Tensor<B>, value: f64) -> Result<()> {
    fill(t, &t.detach().full_like(value)?)
}

/// `nn.init.zeros_(t)`.
pub fn zeros_<B: Backend>(t: &Tensor<B>) -> Result<()> {
    constant_(t, 0.0)
}

/// `nn.init.ones_(t)`.
pub fn ones_<B: Backend>(t: &Tensor<B>) -> Result<()> {
    constant_(t, 1.0)
}

/// `nn.init.kaiming_uniform_(t, a, mode, nonlinearity)`: U(-bound, bound) with
/// `bound = gain * √(3 / fan)` and `gain = calculate_gain(nonlinearity, a)`.
pub fn kaiming_uniform_<B: Backend>(
    t: &Tensor<B>,
    a: f64,
    mode: FanMode,
    nonlinearity: &str,
    generator: Option<&Generator>,
) -> Result<()> {
    if t.numel() == 0 {
        return Ok(()); // nothing to draw (and a zero fan), as PyTorch's no-op
    }
    let gain = calculate_gain(nonlinearity, Some(a))?;
    let std = gain / (fan(t, mode)? as f64).sqrt();
    let bound = 3f64.sqrt() * std;
    uniform_(t, -bound, bound, generator)
}

/// `nn.init.kaiming_normal_(t, a, mode, nonlinearity)`: N(0, (gain / √fan)²).
pub fn kaiming_normal_<B: Backend>(
    t: &Tensor<B>,
    a: f64,
    mode: FanMode,
    nonlinearity: &str,
    generator: Option<&Generator>,
) -> Result<()> {
    if t.numel() == 0 {
        return Ok(()); // nothing to draw (and a zero fan), as PyTorch's no-op
    }
    let gain = calculate_gain(nonlinearity, Some(a))?;
    let std = gain / (fan(t, mode)? as f64).sqrt();
    normal_(t, 0.0, std, generator)
}

/// `nn.init.xavier_uniform_(t, gain)`: U(-a, a) with `a = gain * √(6 / (fan_in + fan_out))`.
pub fn xavier_uniform_<B: Backend>(
    t: &Tensor<B>,
    gain: f64,
    generator: Option<&Generator>,
) -> Result<()> {
    let (fan_in, fan_out) = calculate_fan_in_and_fan_out(t)?;
    let a = gain * (6.0 / (fan_in + fan_out) as f64).sqrt();
    uniform_(t, -a, a, generator)
}

/// `nn.init.xavier_normal_(t, gain)`: N(0, gain² * 2 / (fan_in + fan_out)).
pub fn xavier_normal_<B: Backend>(
    t: &Tensor<B>,
    gain: f64,
    generator: Option<&Generator>,
) -> Result<()> {
    let (fan_in, fan_out) = calculate_fan_in_and_fan_out(t)?;
    let std = gain * (2.0 / (fan_in + fan_out) as f64).sqrt();
    normal_(t, 0.0, std, generator)
}
