use crate::{Cuda, CudaStorage};
use tiny_torch_core::{BackendStorage, Error, ReduceOp, Result, View};
pub(crate) fn reduce(_: &Cuda, op: ReduceOp, s: View<'_, CudaStorage>, _: &[usize]) -> Result<CudaStorage> { Err(Error::unsupported(op.name(), s.storage.dtype(), "cuda")) }
