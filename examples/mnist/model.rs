//! PyTorch's examples/mnist network, with its attribute names, so that the state dict has
//! PyTorch's keys (`conv1.weight`, ..., `fc2.bias`) and `model.safetensors` loads into
//! `Net().load_state_dict(safetensors.torch.load_file(...))` there.
//!
//! ```python
//! class Net(nn.Module):
//!     def __init__(self):
//!         super().__init__()
//!         self.conv1 = nn.Conv2d(1, 32, 3, 1)
//!         self.conv2 = nn.Conv2d(32, 64, 3, 1)
//!         self.dropout1 = nn.Dropout(0.25)
//!         self.dropout2 = nn.Dropout(0.5)
//!         self.fc1 = nn.Linear(9216, 128)
//!         self.fc2 = nn.Linear(128, 10)
//!
//!     def forward(self, x):
//!         x = F.relu(self.conv1(x))
//!         x = F.relu(self.conv2(x))
//!         x = self.dropout1(F.max_pool2d(x, 2))
//!         x = self.fc2(self.dropout2(F.relu(self.fc1(torch.flatten(x, 1)))))
//!         return F.log_softmax(x, dim=1)
//! ```

use tiny_torch::nn::{Conv2d, Dropout, F, Linear, MaxPool2d, Module};
use tiny_torch::{Backend, Result, Tensor};

pub struct Net<B: Backend> {
    pub conv1: Conv2d<B>,
    pub conv2: Conv2d<B>,
    pub pool: MaxPool2d,
    pub dropout1: Dropout,
    pub dropout2: Dropout,
    pub fc1: Linear<B>,
    pub fc2: Linear<B>,
}

impl<B: Backend> Net<B> {
    /// PyTorch's default initialisation, from the default generator (in PyTorch's order:
    /// conv1, conv2, fc1, fc2).
    pub fn new(backend: &B) -> Result<Self> {
        Ok(Net {
            conv1: Conv2d::new(1, 32, 3, backend)?,
            conv2: Conv2d::new(32, 64, 3, backend)?,
            pool: MaxPool2d::new(2),
            dropout1: Dropout::new(0.25),
            dropout2: Dropout::new(0.5),
            fc1: Linear::new(9216, 128, true, backend)?,
            fc2: Linear::new(128, 10, true, backend)?,
        })
    }
}

impl<B: Backend> Module<B> for Net<B> {
    /// `[N, 1, 28, 28]` images → `[N, 10]` log-probabilities.
    fn forward(&self, x: &Tensor<B>) -> Result<Tensor<B>> {
        let x = self.conv1.forward(x)?.relu()?;
        let x = self.conv2.forward(&x)?.relu()?;
        let x = self.dropout1.forward(&self.pool.forward(&x)?)?;
        let x = self.fc1.forward(&x.flatten(1, -1)?)?.relu()?;
        let x = self.fc2.forward(&self.dropout2.forward(&x)?)?;
        F::log_softmax(&x, 1)
    }

    fn children(&self) -> Vec<(String, &dyn Module<B>)> {
        vec![
            ("conv1".to_string(), &self.conv1 as &dyn Module<B>),
            ("conv2".to_string(), &self.conv2),
            ("dropout1".to_string(), &self.dropout1),
            ("dropout2".to_string(), &self.dropout2),
            ("fc1".to_string(), &self.fc1),
            ("fc2".to_string(), &self.fc2),
        ]
    }
}
