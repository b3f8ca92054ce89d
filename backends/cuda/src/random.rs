use crate::{Cuda, CudaStorage};
use tiny_torch_core::{BackendStorage, Distribution, Error, Result, ViewMut};
pub(crate) fn random(_: &Cuda, d: ViewMut<'_, CudaStorage>, _: Distribution, _: u64, _: u64) -> Result<()> { Err(Error::unsupported("random", d.storage.dtype(), "cuda")) }
