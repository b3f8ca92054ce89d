//! Tiny-Torch: a deep-learning framework in Rust built the way PyTorch is built.
pub use tiny_torch_core as core;
pub use tiny_torch_tensor as tensor;
