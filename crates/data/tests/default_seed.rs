//! A loader built without `.seed(s)` draws its seed from the default generator, as PyTorch's
//! loaders draw theirs. In a test binary of its own: the default generator is process-wide.

use tiny_torch_core::philox::philox4x32_10;
use tiny_torch_cpu::Cpu;
use tiny_torch_data::{DataLoader, DefaultCollate, TensorDataset};
use tiny_torch_tensor::Tensor;

fn loader() -> DataLoader<TensorDataset<Cpu>, DefaultCollate<Cpu>> {
    let x = Tensor::<Cpu>::from_vec((0..8).map(|v| v as f32).collect(), &[8], &Cpu).unwrap();
    DataLoader::builder(TensorDataset::new(vec![x]).unwrap())
        .shuffle(true)
        .build(DefaultCollate::new(Cpu))
        .unwrap()
}

/// Words 0 and 1 of the Philox block at `counter` of the stream of `seed`, as one u64.
fn philox_u64(seed: u64, counter: u32) -> u64 {
    let w = philox4x32_10([counter, 0, 0, 0], [seed as u32, (seed >> 32) as u32]);
    u64::from(w[0]) | (u64::from(w[1]) << 32)
}

#[test]
fn loaders_draw_their_seeds_from_the_default_generator() {
    tiny_torch_tensor::manual_seed(1234);
    let (first, second) = (loader(), loader());
    assert_eq!(first.seed(), philox_u64(1234, 0));
    assert_eq!(second.seed(), philox_u64(1234, 1));
    // Two loaders shuffle differently (8! orders: equal only by a 1-in-40320 chance, and
    // these two seeds are fixed).
    assert_ne!(first.batches(0), second.batches(0));
    // manual_seed fixes them again.
    tiny_torch_tensor::manual_seed(1234);
    assert_eq!(loader().batches(0), first.batches(0));
}
