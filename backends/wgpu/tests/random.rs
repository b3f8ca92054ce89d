//! The Philox stream on the device is the CPU's, bit for bit (`tiny_torch_core::philox`).

use tiny_torch_core::philox::{block, normal_from_words, normal_from_words_f64, uniform_from_word};
use tiny_torch_core::{Backend, DType, Distribution, Layout, View, ViewMut};
use tiny_torch_wgpu::Wgpu;

/// The first adapter, or `None` (printed) without one unless `TINY_TORCH_REQUIRE` names wgpu.
fn wgpu_or_skip() -> Option<Wgpu> {
    match Wgpu::try_default() {
        Ok(w) => Some(w),
        Err(e) => {
            let required = std::env::var("TINY_TORCH_REQUIRE")
                .unwrap_or_default()
                .split(',')
                .any(|s| s.trim() == "wgpu");
            assert!(!required, "TINY_TORCH_REQUIRE names wgpu, but: {e}");
            eprintln!("skipping: {e}");
            None
        }
    }
}

fn draw(w: &Wgpu, d: Distribution, n: usize, seed: u64, offset: u64) -> Vec<f32> {
    let mut s = w.alloc(DType::F32, n).unwrap();
    let l = Layout::contiguous(vec![n]);
    w.random(ViewMut::new(&mut s, &l), d, seed, offset).unwrap();
    bytemuck::pod_collect_to_vec(&w.to_bytes(View::new(&s, &l)).unwrap())
}

#[test]
fn uniform_matches_the_cpu_bit_for_bit() {
    let Some(w) = wgpu_or_skip() else { return };
    let (n, seed, offset) = (4096, 0x1234_5678_9abc, (1u64 << 32) - 100);
    let u = draw(
        &w,
        Distribution::Uniform {
            low: 0.0,
            high: 1.0,
        },
        n,
        seed,
        offset,
    );
    let mut bad = Vec::new();
    for (i, &got) in u.iter().enumerate() {
        let want = uniform_from_word(block(seed, offset, i as u64)[0]);
        if got.to_bits() != want.to_bits() {
            bad.push((i, got, want));
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {n} differ: {:?}",
        bad.len(),
        &bad[..bad.len().min(5)]
    );
}

#[test]
fn normal_matches_the_cpu_bit_for_bit_in_f32_and_f64() {
    let Some(w) = wgpu_or_skip() else { return };
    let (n, seed, offset) = (1000, 42, 7);
    let z = draw(
        &w,
        Distribution::Normal {
            mean: 0.0,
            std: 1.0,
        },
        n,
        seed,
        offset,
    );
    for (i, &got) in z.iter().enumerate() {
        let b = block(seed, offset, i as u64);
        assert_eq!(
            got.to_bits(),
            normal_from_words(b[0], b[1]).to_bits(),
            "element {i}"
        );
    }
    if w.supports_dtype(DType::F64) {
        let mut s = w.alloc(DType::F64, n).unwrap();
        let l = Layout::contiguous(vec![n]);
        let d = Distribution::Normal {
            mean: 1.0,
            std: 2.0,
        };
        w.random(ViewMut::new(&mut s, &l), d, seed, offset).unwrap();
        let got: Vec<f64> = bytemuck::pod_collect_to_vec(&w.to_bytes(View::new(&s, &l)).unwrap());
        for (i, &g) in got.iter().enumerate() {
            let b = block(seed, offset, i as u64);
            assert_eq!(
                g,
                normal_from_words_f64(b[0], b[1]) * 2.0 + 1.0,
                "f64 element {i}"
            );
        }
    }
}
