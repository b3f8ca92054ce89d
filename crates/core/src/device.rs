//! A device descriptor that every backend can report and compare.

use std::fmt;

/// Where a tensor lives: cheap to copy, comparable, printable as PyTorch prints it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Device {
    Cpu,
    /// A CUDA device by ordinal.
    Cuda(usize),
    /// A wgpu adapter by index in the adapter list.
    Wgpu(usize),
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => write!(f, "cpu"),
            Device::Cuda(ordinal) => write!(f, "cuda:{ordinal}"),
            Device::Wgpu(index) => write!(f, "wgpu:{index}"),
        }
    }
}
