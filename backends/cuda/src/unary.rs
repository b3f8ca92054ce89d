use crate::{Cuda, CudaStorage};
use tiny_torch_core::{BackendStorage, Error, Result, UnaryOp, View, ViewMut};
pub(crate) fn unary(_: &Cuda, op: UnaryOp, src: View<'_, CudaStorage>, _: ViewMut<'_, CudaStorage>) -> Result<()> { Err(Error::unsupported(op.name(), src.storage.dtype(), "cuda")) }
pub(crate) fn unary_inplace(_: &Cuda, op: UnaryOp, dst: ViewMut<'_, CudaStorage>) -> Result<()> { Err(Error::unsupported(op.name(), dst.storage.dtype(), "cuda")) }
