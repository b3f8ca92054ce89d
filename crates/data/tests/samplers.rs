//! Samplers and random_split, against indices computed by hand with PyTorch's rules.

use std::collections::BTreeSet;
use tiny_torch_data::{
    BatchSampler, Dataset, DistributedSampler, RandomSampler, Sampler, SequentialSampler,
    SubsetRandomSampler, random_split, random_split_fractions, split_lengths,
};

fn ranks(n: usize, replicas: usize, shuffle: bool, drop_last: bool, epoch: u64) -> Vec<Vec<usize>> {
    (0..replicas)
        .map(|r| {
            DistributedSampler::new(n, replicas, r)
                .unwrap()
                .shuffle(shuffle)
                .seed(3)
                .drop_last(drop_last)
                .indices(epoch)
        })
        .collect()
}

#[test]
fn distributed_sampler_pads_by_repeating_the_first_indices() {
    // n = 10, 3 replicas: num_samples = ceil(10 / 3) = 4, total 12,
    // indices = [0..10] + [0, 1]; rank r takes indices[r::3].
    assert_eq!(
        ranks(10, 3, false, false, 0),
        vec![vec![0, 3, 6, 9], vec![1, 4, 7, 0], vec![2, 5, 8, 1]]
    );
    // drop_last: num_samples = ceil((10 - 3) / 3) = 3, total 9: the tail (index 9) is cut.
    assert_eq!(
        ranks(10, 3, false, true, 0),
        vec![vec![0, 3, 6], vec![1, 4, 7], vec![2, 5, 8]]
    );
    // Padding longer than the data: n = 2, 5 replicas, total 5:
    // [0, 1] + ([0, 1] * ceil(3 / 2))[:3] = [0, 1, 0, 1, 0].
    assert_eq!(
        ranks(2, 5, false, false, 0),
        vec![vec![0], vec![1], vec![0], vec![1], vec![0]]
    );
    // n = 2, 5 replicas, drop_last: ceil((2 - 5) / 5) -> 0 samples each.
    assert!(ranks(2, 5, false, true, 0).iter().all(|r| r.is_empty()));
    // Divisible: no padding either way.
    assert_eq!(
        ranks(6, 2, false, false, 0),
        vec![vec![0, 2, 4], vec![1, 3, 5]]
    );
    assert_eq!(
        ranks(6, 2, false, true, 0),
        vec![vec![0, 2, 4], vec![1, 3, 5]]
    );
    let s = DistributedSampler::new(10, 3, 1).unwrap();
    assert_eq!((s.len(), s.total_size()), (4, 12));
}

#[test]
fn distributed_sampler_shuffles_one_permutation_for_all_ranks() {
    for (n, replicas) in [(10, 3), (17, 4), (8, 8), (5, 2)] {
        for epoch in 0..3 {
            let parts = ranks(n, replicas, true, false, epoch);
            let count = n.div_ceil(replicas);
            assert!(parts.iter().all(|p| p.len() == count));
            // Interleaving the ranks back gives the padded permutation: its first n entries
            // cover the data set once, the padding repeats its head.
            let mut all = vec![0; count * replicas];
            for (r, p) in parts.iter().enumerate() {
                for (k, &i) in p.iter().enumerate() {
                    all[k * replicas + r] = i;
                }
            }
            let head: BTreeSet<usize> = all[..n].iter().copied().collect();
            assert_eq!(head, (0..n).collect());
            assert_eq!(&all[n..], &all[..all.len() - n]);
        }
        assert_ne!(
            ranks(n, replicas, true, false, 0),
            ranks(n, replicas, true, false, 1)
        );
    }
    // set_epoch: the epoch of current_indices; seed + epoch is what counts.
    let mut s = DistributedSampler::new(20, 2, 0).unwrap().seed(3);
    s.set_epoch(2);
    assert_eq!(s.current_indices(), s.indices(2));
    let t = DistributedSampler::new(20, 2, 0).unwrap().seed(4);
    assert_eq!(s.indices(2), t.indices(1));
    assert!(DistributedSampler::new(10, 3, 3).is_err());
    assert!(DistributedSampler::new(10, 0, 0).is_err());
}

#[test]
fn random_samplers() {
    let s = RandomSampler::new(30, 1);
    let a = s.indices(0);
    let mut sorted = a.clone();
    sorted.sort();
    assert_eq!(sorted, (0..30).collect::<Vec<_>>());
    assert_eq!(a, RandomSampler::new(30, 1).indices(0));
    assert_ne!(a, s.indices(1));

    let r = RandomSampler::with_replacement(5, 100, 2);
    let draws = r.indices(0);
    assert_eq!((draws.len(), r.len()), (100, 100));
    assert!(draws.iter().all(|&i| i < 5));
    assert_eq!(draws.iter().copied().collect::<BTreeSet<_>>().len(), 5);

    let m = RandomSampler::with_num_samples(4, 10, 0).indices(0);
    assert_eq!(m.len(), 10);
    for chunk in m[..8].chunks(4) {
        let mut c = chunk.to_vec();
        c.sort();
        assert_eq!(c, vec![0, 1, 2, 3]);
    }

    let sub = SubsetRandomSampler::new(vec![10, 20, 30, 40], 9);
    let mut got = sub.indices(0);
    got.sort();
    assert_eq!(got, vec![10, 20, 30, 40]);
    assert_eq!(SequentialSampler::new(3).indices(5), vec![0, 1, 2]);
}

#[test]
fn batch_sampler() {
    let b = BatchSampler::new(SequentialSampler::new(7), 3, false).unwrap();
    assert_eq!(b.len(), 3);
    assert_eq!(b.batches(0), vec![vec![0, 1, 2], vec![3, 4, 5], vec![6]]);
    let b = BatchSampler::new(SequentialSampler::new(7), 3, true).unwrap();
    assert_eq!(b.len(), 2);
    assert_eq!(b.batches(0), vec![vec![0, 1, 2], vec![3, 4, 5]]);
    assert!(BatchSampler::new(SequentialSampler::new(7), 0, true).is_err());
}

#[test]
fn random_split_sizes_and_disjointness() {
    let data: Vec<i64> = (0..50).collect();
    let parts = random_split(data.clone(), &[30, 15, 5], 11).unwrap();
    assert_eq!(
        parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
        vec![30, 15, 5]
    );
    let mut seen = BTreeSet::new();
    for p in &parts {
        for i in 0..p.len() {
            assert!(seen.insert(p.get(i).unwrap()), "sample in two splits");
        }
    }
    assert_eq!(seen, (0..50).collect());
    // Reproducible by seed, different with another seed.
    let again = random_split(data.clone(), &[30, 15, 5], 11).unwrap();
    assert_eq!(parts[0].indices(), again[0].indices());
    let other = random_split(data.clone(), &[30, 15, 5], 12).unwrap();
    assert_ne!(parts[0].indices(), other[0].indices());
    // Lengths that do not add up.
    let e = random_split(data.clone(), &[30, 10], 0).err().unwrap();
    assert!(e.to_string().contains("does not equal"), "{e}");
    // Lengths whose sum wraps around usize to the dataset's length: an error, not a panic.
    let e = random_split(data.clone(), &[usize::MAX, 51], 0)
        .err()
        .unwrap();
    assert!(e.to_string().contains("more than fits"), "{e}");
    // Fractions: floor each, then the remainder round-robin from the first split:
    // 11 * [0.5, 0.3, 0.2] = [5.5, 3.3, 2.2] -> [5, 3, 2] + 1 -> [6, 3, 2].
    assert_eq!(split_lengths(11, &[0.5, 0.3, 0.2]).unwrap(), vec![6, 3, 2]);
    // 10 * [1/3; 3] -> [3, 3, 3] + 1 -> [4, 3, 3].
    assert_eq!(
        split_lengths(10, &[1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0]).unwrap(),
        vec![4, 3, 3]
    );
    assert!(split_lengths(10, &[0.5, 0.4]).is_err());
    let parts = random_split_fractions((0..11).collect::<Vec<i64>>(), &[0.5, 0.3, 0.2], 0).unwrap();
    assert_eq!(
        parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
        vec![6, 3, 2]
    );
    assert!(parts[0].get(6).is_err());
}
