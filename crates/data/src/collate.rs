//! Collate functions: how the samples of a batch become one batch (`collate_fn`).

use crate::image::{Image, Pixels};
use tiny_torch_core::{Backend, Error, Result};
use tiny_torch_tensor::Tensor;

/// Turns the samples of a batch into a batch. Runs in the loader's workers.
///
/// Any `Fn(Vec<I>) -> Result<O> + Send + Sync` closure is a collate function.
pub trait Collate<I>: Send + Sync {
    type Batch: Send + 'static;

    fn collate(&self, items: Vec<I>) -> Result<Self::Batch>;
}

impl<I, O, F> Collate<I> for F
where
    O: Send + 'static,
    F: Fn(Vec<I>) -> Result<O> + Send + Sync,
{
    type Batch = O;
    fn collate(&self, items: Vec<I>) -> Result<O> {
        self(items)
    }
}

/// `default_collate`: stacks the samples along a new first dim into tensors on `backend`.
///
/// - `(Image, i64)` → `(images [N, C, H, W], labels [N] int64)`; images `uint8` or `float32` as
///   the samples are (all of one dtype and one shape);
/// - `Image` → `[N, C, H, W]`;
/// - `Vec<Tensor<B>>` (a [`crate::TensorDataset`] sample) → one stacked tensor per field;
/// - `(Vec<f32>, i64)` → `(features [N, F] float32, labels [N] int64)`.
///
/// The tensors are created in the worker thread that collates. For a device backend, collate on
/// the CPU and move each batch with `to_device` in the training loop if the backend must be
/// used from one thread.
#[derive(Clone, Debug)]
pub struct DefaultCollate<B: Backend> {
    backend: B,
}

impl<B: Backend> DefaultCollate<B> {
    pub fn new(backend: B) -> Self {
        DefaultCollate { backend }
    }

    pub fn backend(&self) -> &B {
        &self.backend
    }
}

fn check_not_empty<T>(items: &[T]) -> Result<()> {
    if items.is_empty() {
        return Err(Error::invalid(
            "default_collate",
            "a batch needs at least one sample",
        ));
    }
    Ok(())
}

/// `[N, C, H, W]` from images of one shape and dtype.
fn stack_images<'a, B: Backend>(
    images: impl ExactSizeIterator<Item = &'a Image>,
    backend: &B,
) -> Result<Tensor<B>> {
    let n = images.len();
    let mut images = images.enumerate().peekable();
    let first = images
        .peek()
        .map(|(_, im)| *im)
        .ok_or_else(|| Error::invalid("default_collate", "a batch needs at least one sample"))?;
    let shape = first.shape();
    let per = shape.iter().product::<usize>();
    let mismatch = |i: usize, im: &Image| {
        Error::shape(
            "default_collate",
            format!(
                "stack expects each tensor to be equal size, but got {:?} ({}) at entry 0 and \
                 {:?} ({}) at entry {i}",
                shape,
                first.pixels().dtype_name(),
                im.shape(),
                im.pixels().dtype_name()
            ),
        )
    };
    let dims = [n, shape[0], shape[1], shape[2]];
    match first.pixels() {
        Pixels::U8(_) => {
            let mut data = Vec::with_capacity(n * per);
            for (i, im) in images {
                match im.pixels() {
                    Pixels::U8(v) if im.shape() == shape => data.extend_from_slice(v),
                    _ => return Err(mismatch(i, im)),
                }
            }
            Tensor::from_vec(data, &dims, backend)
        }
        Pixels::F32(_) => {
            let mut data = Vec::with_capacity(n * per);
            for (i, im) in images {
                match im.pixels() {
                    Pixels::F32(v) if im.shape() == shape => data.extend_from_slice(v),
                    _ => return Err(mismatch(i, im)),
                }
            }
            Tensor::from_vec(data, &dims, backend)
        }
    }
}

impl<B: Backend> Collate<(Image, i64)> for DefaultCollate<B> {
    type Batch = (Tensor<B>, Tensor<B>);
    fn collate(&self, items: Vec<(Image, i64)>) -> Result<Self::Batch> {
        check_not_empty(&items)?;
        let images = stack_images(items.iter().map(|(im, _)| im), &self.backend)?;
        let labels: Vec<i64> = items.iter().map(|(_, l)| *l).collect();
        let n = labels.len();
        Ok((images, Tensor::from_vec(labels, &[n], &self.backend)?))
    }
}

impl<B: Backend> Collate<Image> for DefaultCollate<B> {
    type Batch = Tensor<B>;
    fn collate(&self, items: Vec<Image>) -> Result<Tensor<B>> {
        check_not_empty(&items)?;
        stack_images(items.iter(), &self.backend)
    }
}

impl<B: Backend> Collate<(Vec<f32>, i64)> for DefaultCollate<B> {
    type Batch = (Tensor<B>, Tensor<B>);
    fn collate(&self, items: Vec<(Vec<f32>, i64)>) -> Result<Self::Batch> {
        check_not_empty(&items)?;
        let f = items[0].0.len();
        let mut data = Vec::with_capacity(items.len() * f);
        for (i, (x, _)) in items.iter().enumerate() {
            if x.len() != f {
                return Err(Error::shape(
                    "default_collate",
                    format!(
                        "stack expects each tensor to be equal size, but got [{f}] at entry 0 and \
                         [{}] at entry {i}",
                        x.len()
                    ),
                ));
            }
            data.extend_from_slice(x);
        }
        let labels: Vec<i64> = items.iter().map(|(_, l)| *l).collect();
        let n = labels.len();
        Ok((
            Tensor::from_vec(data, &[n, f], &self.backend)?,
            Tensor::from_vec(labels, &[n], &self.backend)?,
        ))
    }
}

impl<B: Backend> Collate<Vec<Tensor<B>>> for DefaultCollate<B> {
    type Batch = Vec<Tensor<B>>;
    fn collate(&self, items: Vec<Vec<Tensor<B>>>) -> Result<Vec<Tensor<B>>> {
        check_not_empty(&items)?;
        let fields = items[0].len();
        if let Some((i, s)) = items.iter().enumerate().find(|(_, s)| s.len() != fields) {
            return Err(Error::invalid(
                "default_collate",
                format!(
                    "each element in list of batch should be of equal size: entry 0 has {fields} \
                     fields, entry {i} has {}",
                    s.len()
                ),
            ));
        }
        (0..fields)
            .map(|f| {
                let column: Vec<&Tensor<B>> = items.iter().map(|s| &s[f]).collect();
                Tensor::stack(&column, 0)
            })
            .collect()
    }
}
