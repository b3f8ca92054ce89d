//! [`BatchNorm1d`] and [`BatchNorm2d`]: PyTorch's `_BatchNorm` with its parameters (`weight`
//! ones, `bias` zeros, when `affine`), its buffers (`running_mean` zeros, `running_var` ones,
//! `num_batches_tracked` an `int64` scalar, when `track_running_stats`), their state-dict names,
//! and its forward:
//!
//! - training with running statistics: normalize with the batch statistics, update the running
//!   ones with `momentum` (or, with `momentum = None`, the cumulative average
//!   `1 / num_batches_tracked`), count the batch;
//! - evaluation: normalize with the running statistics (with the batch statistics when there
//!   are none, `track_running_stats = false`).
//!
//! The two types differ only in the inputs they accept (`[N, C]` / `[N, C, L]`, or
//! `[N, C, H, W]`); both dereference to [`BatchNorm`], which holds the state.

use crate::module::{Module, TrainingFlag};
use std::ops::Deref;
use tiny_torch_core::{Backend, DType, Error, Result};
use tiny_torch_tensor::Tensor;
use tiny_torch_tensor::autograd::no_grad;

/// The keyword arguments of `nn.BatchNorm2d` after `num_features`, with PyTorch's defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNormOptions {
    pub eps: f64,
    /// The weight of each new batch in the running statistics; `None` for a cumulative
    /// average.
    pub momentum: Option<f64>,
    pub affine: bool,
    pub track_running_stats: bool,
}

impl Default for BatchNormOptions {
    fn default() -> Self {
        BatchNormOptions {
            eps: 1e-5,
            momentum: Some(0.1),
            affine: true,
            track_running_stats: true,
        }
    }
}

/// The state and forward shared by [`BatchNorm1d`] and [`BatchNorm2d`].
pub struct BatchNorm<B: Backend> {
    pub num_features: usize,
    pub eps: f64,
    pub momentum: Option<f64>,
    pub weight: Option<Tensor<B>>,
    pub bias: Option<Tensor<B>>,
    pub running_mean: Option<Tensor<B>>,
    pub running_var: Option<Tensor<B>>,
    pub num_batches_tracked: Option<Tensor<B>>,
    training: TrainingFlag,
}

impl<B: Backend> BatchNorm<B> {
    /// A layer of `dtype` (parameters and running statistics; the counter is `int64`).
    pub fn new_with(
        num_features: usize,
        options: BatchNormOptions,
        dtype: DType,
        backend: &B,
    ) -> Result<Self> {
        let shape = [num_features];
        let (weight, bias) = if options.affine {
            (
                Some(Tensor::ones(&shape, dtype, backend)?.requires_grad_(true)?),
                Some(Tensor::zeros(&shape, dtype, backend)?.requires_grad_(true)?),
            )
        } else {
            (None, None)
        };
        let (running_mean, running_var, num_batches_tracked) = if options.track_running_stats {
            (
                Some(Tensor::zeros(&shape, dtype, backend)?),
                Some(Tensor::ones(&shape, dtype, backend)?),
                Some(Tensor::zeros(&[], DType::I64, backend)?),
            )
        } else {
            (None, None, None)
        };
        Ok(BatchNorm {
            num_features,
            eps: options.eps,
            momentum: options.momentum,
            weight,
            bias,
            running_mean,
            running_var,
            num_batches_tracked,
            training: TrainingFlag::default(),
        })
    }

    /// `_BatchNorm.forward` on an input whose dims the wrapper checked.
    fn forward_checked(&self, x: &Tensor<B>) -> Result<Tensor<B>> {
        let training = self.training.get();
        let tracked = self.num_batches_tracked.as_ref().filter(|_| training);
        // The batch about to be counted, for the cumulative average.
        let factor = match (self.momentum, tracked) {
            (Some(m), _) => m,
            (None, Some(count)) => 1.0 / (count.item::<i64>()? + 1) as f64,
            (None, None) => 0.0,
        };
        // Without running statistics, evaluation normalizes with the batch's, as training does.
        let use_batch_stats =
            training || (self.running_mean.is_none() && self.running_var.is_none());
        let y = x.batch_norm(
            self.running_mean.as_ref(),
            self.running_var.as_ref(),
            self.weight.as_ref(),
            self.bias.as_ref(),
            use_batch_stats,
            factor,
            self.eps,
        )?;
        // Counted after the op succeeded, so that a failed forward changes nothing.
        if let Some(count) = tracked {
            let _guard = no_grad();
            count.add_(1i64)?;
        }
        Ok(y)
    }

    fn parameters(&self) -> Vec<(String, Tensor<B>)> {
        named(&[("weight", &self.weight), ("bias", &self.bias)])
    }

    fn buffers(&self) -> Vec<(String, Tensor<B>)> {
        named(&[
            ("running_mean", &self.running_mean),
            ("running_var", &self.running_var),
            ("num_batches_tracked", &self.num_batches_tracked),
        ])
    }

    /// `bn.reset_running_stats()`: running mean 0, variance 1, no batches counted.
    pub fn reset_running_stats(&self) -> Result<()> {
        let _guard = no_grad();
        for (t, value) in [
            (&self.running_mean, 0.0),
            (&self.running_var, 1.0),
            (&self.num_batches_tracked, 0.0),
        ] {
            if let Some(t) = t {
                t.copy_(&t.full_like(value)?)?;
            }
        }
        Ok(())
    }
}

fn named<B: Backend>(entries: &[(&str, &Option<Tensor<B>>)]) -> Vec<(String, Tensor<B>)> {
    entries
        .iter()
        .filter_map(|(name, t)| t.as_ref().map(|t| (name.to_string(), t.clone())))
        .collect()
}

macro_rules! batch_norm_layer {
    ($(#[$doc:meta])* $name:ident, $ok:expr, $expected:literal) => {
        $(#[$doc])*
        pub struct $name<B: Backend>(BatchNorm<B>);

        impl<B: Backend> $name<B> {
            /// A float32 layer with PyTorch's defaults (eps 1e-5, momentum 0.1, affine,
            /// tracking running statistics).
            pub fn new(num_features: usize, backend: &B) -> Result<Self> {
                Self::new_with(num_features, BatchNormOptions::default(), DType::F32, backend)
            }

            pub fn new_with(
                num_features: usize,
                options: BatchNormOptions,
                dtype: DType,
                backend: &B,
            ) -> Result<Self> {
                BatchNorm::new_with(num_features, options, dtype, backend).map($name)
            }
        }

        impl<B: Backend> Deref for $name<B> {
            type Target = BatchNorm<B>;

            fn deref(&self) -> &BatchNorm<B> {
                &self.0
            }
        }

        impl<B: Backend> Module<B> for $name<B> {
            fn forward(&self, x: &Tensor<B>) -> Result<Tensor<B>> {
                let ok: fn(usize) -> bool = $ok;
                if !ok(x.ndim()) {
                    return Err(Error::shape(
                        stringify!($name),
                        format!(
                            concat!("expected ", $expected, " input (got {}D input)"),
                            x.ndim()
                        ),
                    ));
                }
                self.0.forward_checked(x)
            }

            fn local_parameters(&self) -> Vec<(String, Tensor<B>)> {
                self.0.parameters()
            }

            fn local_buffers(&self) -> Vec<(String, Tensor<B>)> {
                self.0.buffers()
            }

            fn training_flag(&self) -> Option<&TrainingFlag> {
                Some(&self.0.training)
            }
        }
    };
}

batch_norm_layer!(
    /// `nn.BatchNorm1d(num_features, eps=1e-5, momentum=0.1, affine=True,
    /// track_running_stats=True)` on `[N, C]` or `[N, C, L]`.
    BatchNorm1d,
    |nd| nd == 2 || nd == 3,
    "2D or 3D"
);

batch_norm_layer!(
    /// `nn.BatchNorm2d(num_features, eps=1e-5, momentum=0.1, affine=True,
    /// track_running_stats=True)` on `[N, C, H, W]`.
    BatchNorm2d,
    |nd| nd == 4,
    "4D"
);
