use crate::{Cuda, CudaStorage};
use tiny_torch_core::{BackendStorage, BinaryOp, Error, Result, View, ViewMut};
pub(crate) fn binary(_: &Cuda, op: BinaryOp, l: View<'_, CudaStorage>, _: View<'_, CudaStorage>, _: ViewMut<'_, CudaStorage>) -> Result<()> { Err(Error::unsupported(op.name(), l.storage.dtype(), "cuda")) }
pub(crate) fn binary_inplace(_: &Cuda, op: BinaryOp, d: ViewMut<'_, CudaStorage>, _: View<'_, CudaStorage>) -> Result<()> { Err(Error::unsupported(op.name(), d.storage.dtype(), "cuda")) }
pub(crate) fn where_cond(_: &Cuda, _: View<'_, CudaStorage>, t: View<'_, CudaStorage>, _: View<'_, CudaStorage>, _: ViewMut<'_, CudaStorage>) -> Result<()> { Err(Error::unsupported("where", t.storage.dtype(), "cuda")) }
