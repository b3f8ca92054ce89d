use crate::{Cuda, CudaStorage};
use tiny_torch_core::{BackendStorage, Error, Result, ScatterReduce, View, ViewMut};
pub(crate) fn index_select(_: &Cuda, s: View<'_, CudaStorage>, _: usize, _: View<'_, CudaStorage>) -> Result<CudaStorage> { Err(Error::unsupported("index_select", s.storage.dtype(), "cuda")) }
pub(crate) fn gather(_: &Cuda, s: View<'_, CudaStorage>, _: usize, _: View<'_, CudaStorage>) -> Result<CudaStorage> { Err(Error::unsupported("gather", s.storage.dtype(), "cuda")) }
pub(crate) fn scatter(_: &Cuda, d: ViewMut<'_, CudaStorage>, _: usize, _: View<'_, CudaStorage>, _: View<'_, CudaStorage>, _: ScatterReduce) -> Result<()> { Err(Error::unsupported("scatter", d.storage.dtype(), "cuda")) }
