//! DataLoader: order, determinism whatever the worker count, shuffle, drop_last, collate,
//! errors, bounded prefetch and shutdown.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tiny_torch_core::{DType, Error, Result};
use tiny_torch_cpu::Cpu;
use tiny_torch_data::transforms::{Compose, RandomCrop, RandomHorizontalFlip, ToTensor};
use tiny_torch_data::{
    DataLoader, Dataset, DefaultCollate, Image, IterableDataLoader, IterableDataset, SampleRng,
    Sampler, TensorDataset, WorkerInfo,
};
use tiny_torch_tensor::Tensor;

/// `n` distinct 1x4x4 images (pixel values encode the index), label `i % 10`.
fn images(n: usize) -> Vec<(Image, i64)> {
    (0..n)
        .map(|i| {
            let data = (0..16).map(|p| ((i * 16 + p) % 251) as u8).collect();
            (Image::from_chw_u8(data, 1, 4, 4).unwrap(), (i % 10) as i64)
        })
        .collect()
}

type Batch = (Vec<usize>, Vec<f32>, Vec<i64>);

fn collect(batches: impl Iterator<Item = Result<(Tensor<Cpu>, Tensor<Cpu>)>>) -> Vec<Batch> {
    batches
        .map(|b| {
            let (x, y) = b.unwrap();
            (
                x.dims().to_vec(),
                x.to_dtype(DType::F32).unwrap().to_vec::<f32>().unwrap(),
                y.to_vec::<i64>().unwrap(),
            )
        })
        .collect()
}

fn random_pipeline() -> impl Dataset<Item = (Image, i64)> {
    images(23).with_transform(
        Compose::new()
            .then(RandomCrop::new(4).padding(1))
            .then(RandomHorizontalFlip::new(0.5))
            .then(ToTensor),
    )
}

#[test]
fn identical_batches_with_0_1_and_3_workers() {
    let run = |workers: usize| {
        let loader = DataLoader::builder(random_pipeline())
            .batch_size(4)
            .shuffle(true)
            .seed(42)
            .num_workers(workers)
            .prefetch_factor(2)
            .build(DefaultCollate::new(Cpu))
            .unwrap();
        assert_eq!(loader.len(), 6);
        let e0 = collect(loader.iter());
        let e1 = collect(loader.iter());
        (e0, e1)
    };
    let (a0, a1) = run(0);
    assert_eq!(a0.len(), 6);
    assert_eq!(a0.last().unwrap().0, vec![3, 1, 4, 4]);
    for workers in [1, 3] {
        let (b0, b1) = run(workers);
        assert_eq!(a0, b0, "epoch 0 with {workers} workers");
        assert_eq!(a1, b1, "epoch 1 with {workers} workers");
    }
    // The random transforms did something, and differently in the two epochs.
    assert_ne!(a0, a1);
}

#[test]
fn sequential_order_without_shuffle() {
    for workers in [0, 2] {
        let loader = DataLoader::builder(images(10))
            .batch_size(3)
            .num_workers(workers)
            .build(DefaultCollate::new(Cpu))
            .unwrap();
        let labels: Vec<i64> = collect(loader.iter())
            .into_iter()
            .flat_map(|b| b.2)
            .collect();
        assert_eq!(labels, (0..10).collect::<Vec<i64>>());
        let batches = loader.batches(0);
        assert_eq!(
            batches,
            vec![vec![0, 1, 2], vec![3, 4, 5], vec![6, 7, 8], vec![9]]
        );
    }
}

#[test]
fn drop_last_drops_only_the_short_batch() {
    let build = |drop_last| {
        DataLoader::builder(images(10))
            .batch_size(4)
            .drop_last(drop_last)
            .num_workers(2)
            .build(DefaultCollate::new(Cpu))
            .unwrap()
    };
    let keep = build(false);
    let drop = build(true);
    assert_eq!(keep.len(), 3);
    assert_eq!(drop.len(), 2);
    let sizes: Vec<usize> = collect(keep.iter()).iter().map(|b| b.0[0]).collect();
    assert_eq!(sizes, vec![4, 4, 2]);
    let sizes: Vec<usize> = collect(drop.iter()).iter().map(|b| b.0[0]).collect();
    assert_eq!(sizes, vec![4, 4]);
    // Divisible: nothing dropped.
    let exact = DataLoader::builder(images(8))
        .batch_size(4)
        .drop_last(true)
        .build(DefaultCollate::new(Cpu))
        .unwrap();
    assert_eq!(exact.iter().count(), 2);
}

fn shuffled_order(seed: u64, epoch: u64) -> Vec<i64> {
    // Labels 0..20 identify the samples.
    let data: Vec<(Vec<f32>, i64)> = (0..20).map(|i| (vec![i as f32], i)).collect();
    let loader = DataLoader::builder(data)
        .batch_size(6)
        .shuffle(true)
        .seed(seed)
        .build(DefaultCollate::new(Cpu))
        .unwrap();
    loader.set_epoch(epoch);
    loader
        .iter()
        .flat_map(|b| b.unwrap().1.to_vec::<i64>().unwrap())
        .collect()
}

#[test]
fn shuffle_is_reproducible_by_seed_and_new_each_epoch() {
    let a = shuffled_order(7, 0);
    assert_eq!(a, shuffled_order(7, 0));
    let mut sorted = a.clone();
    sorted.sort();
    assert_eq!(sorted, (0..20).collect::<Vec<i64>>());
    assert_ne!(a, (0..20).collect::<Vec<i64>>());
    assert_ne!(a, shuffled_order(7, 1), "a new order each epoch");
    assert_ne!(a, shuffled_order(8, 0), "another seed, another order");

    // `iter()` moves on to the next epoch by itself; `set_epoch` goes back.
    let data: Vec<(Vec<f32>, i64)> = (0..20).map(|i| (vec![i as f32], i)).collect();
    let loader = DataLoader::builder(data)
        .batch_size(20)
        .shuffle(true)
        .seed(7)
        .build(DefaultCollate::new(Cpu))
        .unwrap();
    let labels = |it: tiny_torch_data::DataLoaderIter<_, _>| -> Vec<i64> {
        it.flat_map(|b: Result<(Tensor<Cpu>, Tensor<Cpu>)>| b.unwrap().1.to_vec::<i64>().unwrap())
            .collect()
    };
    let e0 = labels(loader.iter());
    let e1 = labels(loader.iter());
    assert_eq!(e0, a);
    assert_eq!(e1, shuffled_order(7, 1));
    loader.set_epoch(0);
    assert_eq!(labels(loader.iter()), a);
}

#[test]
fn custom_collate_closure() {
    let loader = DataLoader::builder(images(7))
        .batch_size(3)
        .num_workers(2)
        .build(|items: Vec<(Image, i64)>| -> Result<(usize, i64)> {
            Ok((items.len(), items.iter().map(|(_, l)| l).sum()))
        })
        .unwrap();
    let out: Vec<(usize, i64)> = loader.iter().map(|b| b.unwrap()).collect();
    assert_eq!(out, vec![(3, 3), (3, 12), (1, 6)]);
}

/// A dataset whose sample `bad` fails and sample `panics` panics.
struct Faulty {
    n: usize,
    bad: usize,
    panics: usize,
}

impl Dataset for Faulty {
    type Item = (Vec<f32>, i64);
    fn len(&self) -> usize {
        self.n
    }
    fn get(&self, index: usize) -> Result<Self::Item> {
        if index == self.bad {
            return Err(Error::invalid(
                "Faulty",
                format!("sample {index} is broken"),
            ));
        }
        if index == self.panics {
            panic!("sample {index} panicked");
        }
        Ok((vec![index as f32], index as i64))
    }
}

#[test]
fn errors_and_panics_become_err_items_and_later_batches_still_come() {
    for workers in [0, 1, 3] {
        let loader = DataLoader::builder(Faulty {
            n: 10,
            bad: 4,
            panics: if workers == 0 { usize::MAX } else { 8 },
        })
        .batch_size(2)
        .num_workers(workers)
        .build(DefaultCollate::new(Cpu))
        .unwrap();
        let out: Vec<Result<(Tensor<Cpu>, Tensor<Cpu>)>> = loader.iter().collect();
        assert_eq!(out.len(), 5);
        for (k, item) in out.iter().enumerate() {
            match (k, item) {
                (2, Err(e)) => assert!(e.to_string().contains("sample 4 is broken"), "{e}"),
                (4, Err(e)) if workers > 0 => {
                    assert!(e.to_string().contains("a worker panicked"), "{e}")
                }
                (_, Ok((_, y))) => {
                    assert_eq!(
                        y.to_vec::<i64>().unwrap(),
                        vec![2 * k as i64, 2 * k as i64 + 1]
                    )
                }
                (k, Err(e)) => panic!("batch {k} failed with {workers} workers: {e}"),
            }
        }
    }
}

/// Counts the samples read.
struct Counting {
    n: usize,
    reads: Arc<AtomicUsize>,
}

impl Dataset for Counting {
    type Item = (Vec<f32>, i64);
    fn len(&self) -> usize {
        self.n
    }
    fn get(&self, index: usize) -> Result<Self::Item> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        Ok((vec![index as f32], index as i64))
    }
}

#[test]
fn prefetch_is_bounded_and_drop_shuts_the_workers_down() {
    let reads = Arc::new(AtomicUsize::new(0));
    let dataset = Arc::new(Counting {
        n: 1000,
        reads: reads.clone(),
    });
    let loader = DataLoader::builder(dataset.clone())
        .batch_size(5)
        .num_workers(2)
        .prefetch_factor(3)
        .build(DefaultCollate::new(Cpu))
        .unwrap();
    let strong_before = Arc::strong_count(&dataset);
    let mut it = loader.iter();
    std::thread::sleep(Duration::from_millis(300));
    // 2 workers x 3 batches x 5 samples at most were read ahead.
    let ahead = reads.load(Ordering::SeqCst);
    assert!(ahead <= 2 * 3 * 5, "{ahead} samples read ahead");
    let first = it.next().unwrap().unwrap();
    assert_eq!(first.1.to_vec::<i64>().unwrap(), vec![0, 1, 2, 3, 4]);
    std::thread::sleep(Duration::from_millis(100));
    assert!(reads.load(Ordering::SeqCst) <= (2 * 3 + 1) * 5);
    drop(it); // joins the workers
    assert_eq!(Arc::strong_count(&dataset), strong_before);
    let after = reads.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        reads.load(Ordering::SeqCst),
        after,
        "no worker still running"
    );
    // The loader is still usable.
    assert_eq!(loader.iter().take(3).count(), 3);
}

#[test]
fn bad_options_are_errors() {
    let e = DataLoader::builder(images(3))
        .batch_size(0)
        .build(DefaultCollate::new(Cpu))
        .err()
        .unwrap();
    assert!(e.to_string().contains("batch_size"), "{e}");
    let e = DataLoader::builder(images(3))
        .shuffle(true)
        .sampler(tiny_torch_data::SequentialSampler::new(3))
        .build(DefaultCollate::new(Cpu))
        .err()
        .unwrap();
    assert!(e.to_string().contains("mutually exclusive"), "{e}");
    // Images of different sizes cannot be stacked.
    let mut data = images(2);
    data.push((Image::from_chw_u8(vec![0; 9], 1, 3, 3).unwrap(), 0));
    let loader = DataLoader::builder(data)
        .batch_size(3)
        .build(DefaultCollate::new(Cpu))
        .unwrap();
    let e = loader.iter().next().unwrap().err().unwrap();
    assert!(e.to_string().contains("entry 2"), "{e}");
}

#[test]
fn tensor_dataset_with_default_collate() -> Result<()> {
    let x = Tensor::from_vec((0..12).map(|v| v as f32).collect(), &[6, 2], &Cpu)?;
    let y = Tensor::from_vec((0..6).map(|v| v as i64).collect(), &[6], &Cpu)?;
    let ds = TensorDataset::new(vec![x, y])?;
    assert_eq!(ds.len(), 6);
    let loader = DataLoader::builder(ds)
        .batch_size(4)
        .num_workers(2)
        .build(DefaultCollate::new(Cpu))?;
    let batches: Vec<Vec<Tensor<Cpu>>> = loader.iter().collect::<Result<_>>()?;
    assert_eq!(batches.len(), 2);
    assert_eq!(batches[0][0].dims(), &[4, 2]);
    assert_eq!(batches[1][0].to_vec::<f32>()?, vec![8.0, 9.0, 10.0, 11.0]);
    assert_eq!(batches[1][1].to_vec::<i64>()?, vec![4, 5]);
    let bad = TensorDataset::new(vec![
        Tensor::<Cpu>::zeros(&[3, 2], DType::F32, &Cpu)?,
        Tensor::<Cpu>::zeros(&[4], DType::F32, &Cpu)?,
    ]);
    assert!(bad.is_err());
    Ok(())
}

#[test]
fn random_transforms_depend_on_sample_epoch_and_seed_only() {
    // The loader's stream for sample i in epoch e is SampleRng::for_sample(seed, e, i).
    let ds = random_pipeline();
    let loader = DataLoader::builder(random_pipeline())
        .batch_size(1)
        .seed(5)
        .num_workers(2)
        .build(DefaultCollate::new(Cpu))
        .unwrap();
    loader.set_epoch(3);
    for (i, batch) in loader.iter().enumerate() {
        let (x, _) = batch.unwrap();
        let (expected, _) = ds.get_with(i, &mut SampleRng::for_sample(5, 3, i)).unwrap();
        assert_eq!(x.to_vec::<f32>().unwrap(), expected.to_f32_vec());
    }
}

/// Numbers 0..n; each worker takes every `num_workers`-th one.
struct Numbers {
    n: i64,
}

impl IterableDataset for Numbers {
    type Item = (Vec<f32>, i64);
    fn iter(&self, w: WorkerInfo) -> Box<dyn Iterator<Item = Result<Self::Item>> + Send> {
        let (id, k) = (w.id as i64, w.num_workers as i64);
        Box::new(
            (0..self.n)
                .filter(move |i| i % k == id)
                .map(|i| Ok((vec![i as f32], i))),
        )
    }
}

#[test]
fn iterable_dataset_loader() {
    let labels = |workers: usize, drop_last: bool| -> Vec<Vec<i64>> {
        let loader = IterableDataLoader::builder(Numbers { n: 11 })
            .batch_size(3)
            .drop_last(drop_last)
            .num_workers(workers)
            .build(DefaultCollate::new(Cpu))
            .unwrap();
        loader
            .iter()
            .map(|b| b.unwrap().1.to_vec::<i64>().unwrap())
            .collect()
    };
    assert_eq!(
        labels(0, false),
        vec![vec![0, 1, 2], vec![3, 4, 5], vec![6, 7, 8], vec![9, 10]]
    );
    assert_eq!(labels(0, true).len(), 3);
    // Two workers: 0,2,4,6,8,10 and 1,3,5,7,9, batched per worker, taken in turn.
    assert_eq!(
        labels(2, false),
        vec![vec![0, 2, 4], vec![1, 3, 5], vec![6, 8, 10], vec![7, 9]]
    );
    assert_eq!(
        labels(2, true),
        vec![vec![0, 2, 4], vec![1, 3, 5], vec![6, 8, 10]]
    );
}

/// 0..n with an error in place of `bad`.
struct NumbersWithError {
    n: i64,
    bad: i64,
}

impl IterableDataset for NumbersWithError {
    type Item = (Vec<f32>, i64);
    fn iter(&self, _: WorkerInfo) -> Box<dyn Iterator<Item = Result<Self::Item>> + Send> {
        let bad = self.bad;
        Box::new((0..self.n).map(move |i| {
            if i == bad {
                Err(Error::invalid("NumbersWithError", format!("item {i}")))
            } else {
                Ok((vec![i as f32], i))
            }
        }))
    }
}

#[test]
fn iterable_errors_keep_the_samples_around_them() {
    let loader = IterableDataLoader::builder(NumbersWithError { n: 11, bad: 4 })
        .batch_size(3)
        .build(DefaultCollate::new(Cpu))
        .unwrap();
    let out: Vec<std::result::Result<Vec<i64>, String>> = loader
        .iter()
        .map(|b| {
            b.map(|(_, y)| y.to_vec::<i64>().unwrap())
                .map_err(|e| e.to_string())
        })
        .collect();
    assert_eq!(
        out,
        vec![
            Ok(vec![0, 1, 2]),
            Err("NumbersWithError: item 4".to_string()),
            Ok(vec![3, 5, 6]),
            Ok(vec![7, 8, 9]),
            Ok(vec![10]),
        ]
    );
}

/// Each sample is its index and the first word of the random stream the loader gave it.
struct Draws(usize);

impl Dataset for Draws {
    type Item = (usize, u32);
    fn len(&self) -> usize {
        self.0
    }
    fn get(&self, index: usize) -> Result<(usize, u32)> {
        self.get_with(index, &mut SampleRng::new(0))
    }
    fn get_with(&self, index: usize, rng: &mut SampleRng) -> Result<(usize, u32)> {
        Ok((index, rng.next_u32()))
    }
}

/// A sampler that repeats indices, as one with replacement does.
struct Repeats;

impl Sampler for Repeats {
    fn len(&self) -> usize {
        5
    }
    fn indices(&self, _epoch: u64) -> Vec<usize> {
        vec![0, 0, 1, 0, 2]
    }
}

/// A second draw of an index in one epoch gets its own transforms (PyTorch draws afresh at
/// each fetch); the first keeps the sample's stream; the worker count changes nothing.
#[test]
fn each_copy_of_a_repeated_index_draws_its_own_stream() {
    let first_word = |mut rng: SampleRng| rng.next_u32();
    for workers in [0, 2] {
        let loader = DataLoader::builder(Draws(3))
            .sampler(Repeats)
            .batch_size(2)
            .num_workers(workers)
            .seed(9)
            .build(|items: Vec<(usize, u32)>| -> Result<Vec<(usize, u32)>> { Ok(items) })
            .unwrap();
        let draws: Vec<(usize, u32)> = loader.iter_epoch(4).flat_map(|b| b.unwrap()).collect();
        let indices: Vec<usize> = draws.iter().map(|d| d.0).collect();
        assert_eq!(indices, [0, 0, 1, 0, 2]);
        assert_eq!(draws[0].1, first_word(SampleRng::for_sample(9, 4, 0)));
        assert_eq!(draws[2].1, first_word(SampleRng::for_sample(9, 4, 1)));
        assert_eq!(draws[4].1, first_word(SampleRng::for_sample(9, 4, 2)));
        assert_eq!(draws[1].1, first_word(SampleRng::for_copy(9, 4, 0, 1)));
        assert_eq!(draws[3].1, first_word(SampleRng::for_copy(9, 4, 0, 2)));
        let copies_of_zero = [draws[0].1, draws[1].1, draws[3].1];
        assert!(
            copies_of_zero[0] != copies_of_zero[1]
                && copies_of_zero[1] != copies_of_zero[2]
                && copies_of_zero[0] != copies_of_zero[2],
            "{copies_of_zero:?}"
        );
    }
}

/// A worker's queue is allocated when an epoch starts: an absurd prefetch_factor is an error,
/// not an abort; a large one is cut to the batches a worker has.
#[test]
fn prefetch_factor_is_bounded() {
    let err = DataLoader::builder(images(5))
        .prefetch_factor(usize::MAX)
        .num_workers(2)
        .build(DefaultCollate::new(Cpu))
        .err()
        .expect("prefetch_factor usize::MAX was accepted");
    assert!(err.to_string().contains("prefetch_factor"), "{err}");
    let loader = DataLoader::builder(images(5))
        .batch_size(2)
        .prefetch_factor(1 << 16)
        .num_workers(2)
        .build(DefaultCollate::new(Cpu))
        .unwrap();
    assert_eq!(loader.iter().filter(|b| b.is_ok()).count(), 3);
}
