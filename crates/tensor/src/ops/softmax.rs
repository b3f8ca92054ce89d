//! `softmax` and `log_softmax` along one dim: one fused, numerically stable backend call
//! (`Backend::softmax`), on floating-point inputs as in PyTorch.

use crate::Tensor;
use crate::autograd::formulas::softmax::record_softmax;
use tiny_torch_core::{Backend, Error, Result, View, normalize_dim};

impl<B: Backend> Tensor<B> {
    fn softmax_impl(&self, op: &'static str, dim: isize, log: bool) -> Result<Self> {
        if !self.dtype().is_float() {
            return Err(Error::DType {
                op,
                expected: format!("a floating-point input (shape {})", self.shape()),
                got: self.dtype(),
            });
        }
        let d = normalize_dim(op, dim, self.ndim())?;
        let layout = self.layout_at_least_1d()?;
        let storage = Tensor::read([self], |[s]| {
            self.backend().softmax(View::new(s, &layout), d, log)
        })?;
        let out = Tensor::from_storage(storage, self.dims(), self.backend());
        Ok(record_softmax(op, self, dim, log, out))
    }

    /// `torch.softmax(self, dim)`: `exp(x) / sum(exp(x))` along `dim`.
    pub fn softmax(&self, dim: isize) -> Result<Self> {
        self.softmax_impl("softmax", dim, false)
    }

    /// `torch.log_softmax(self, dim)`: `x - logsumexp(x)` along `dim`.
    pub fn log_softmax(&self, dim: isize) -> Result<Self> {
        self.softmax_impl("log_softmax", dim, true)
    }
}
