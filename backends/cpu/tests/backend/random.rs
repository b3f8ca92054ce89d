//! Random fills against the Philox reference functions of `tiny_torch_core::philox`.

use crate::common::*;
use tiny_torch_core::philox::{
    block, normal_from_words, normal_from_words_f64, randint_from_words, uniform_digits,
    uniform_from_word, uniform_from_word_digits,
};
use tiny_torch_core::{Backend, DType, Distribution};

fn fill(dtype: DType, n: usize, d: Distribution, seed: u64, offset: u64) -> Vec<f64> {
    let mut s = empty(dtype, n);
    let l = contiguous(&[n]);
    cpu().random(view_mut(&mut s, &l), d, seed, offset).unwrap();
    read_all(&s)
}

#[test]
fn uniform_and_normal_follow_the_stream_bit_for_bit() {
    let n = 100_003; // parallel chunks must not change the stream
    let (seed, offset) = (0x1234_5678_9abc, 77);
    let u = Distribution::Uniform {
        low: -2.0,
        high: 3.0,
    };
    let want64: Vec<f64> = (0..n as u64)
        .map(|i| -2.0 + 5.0 * uniform_from_word(block(seed, offset, i)[0]) as f64)
        .collect();
    assert_same(&fill(DType::F64, n, u, seed, offset), &want64, "fill");
    let want32: Vec<f64> = (0..n as u64)
        .map(|i| (-2.0f32 + 5.0f32 * uniform_from_word(block(seed, offset, i)[0])) as f64)
        .collect();
    assert_same(&fill(DType::F32, n, u, seed, offset), &want32, "fill");
    // bf16 and f16 draw their own significant bits of the word (8 and 11), then compute as f32.
    for dtype in [DType::BF16, DType::F16] {
        let digits = uniform_digits(dtype);
        let want: Vec<f64> = (0..n as u64)
            .map(|i| {
                let u = uniform_from_word_digits(block(seed, offset, i)[0], digits);
                (-2.0f32 + 5.0f32 * u) as f64
            })
            .collect();
        assert_same(
            &fill(dtype, n, u, seed, offset),
            &rounded(&want, dtype),
            "fill",
        );
    }
    let nd = Distribution::Normal {
        mean: 1.5,
        std: 2.0,
    };
    let want: Vec<f64> = (0..n as u64)
        .map(|i| {
            let w = block(seed, offset, i);
            (normal_from_words(w[0], w[1]) * 2.0 + 1.5) as f64
        })
        .collect();
    assert_same(&fill(DType::F32, n, nd, seed, offset), &want, "fill");
    assert_same(
        &fill(DType::F16, n, nd, seed, offset),
        &rounded(&want, DType::F16),
        "fill",
    );
    let want: Vec<f64> = (0..n as u64)
        .map(|i| {
            let w = block(seed, offset, i);
            normal_from_words_f64(w[0], w[1]) * 2.0 + 1.5
        })
        .collect();
    assert_same(&fill(DType::F64, n, nd, seed, offset), &want, "fill");
}

#[test]
fn bernoulli_and_randint_fill_any_dtype() {
    let (seed, offset) = (9, 1 << 40);
    let n = 1000;
    let p = 0.3;
    let want: Vec<f64> = (0..n as u64)
        .map(|i| ((uniform_from_word(block(seed, offset, i)[0]) as f64) < p) as u8 as f64)
        .collect();
    for dtype in tiny_torch_core::DType::ALL {
        assert_same(
            &fill(dtype, n, Distribution::Bernoulli { p }, seed, offset),
            &want,
            &format!("{dtype}"),
        );
    }
    let want: Vec<f64> = (0..n as u64)
        .map(|i| {
            let w = block(seed, offset, i);
            randint_from_words(w[0], w[1], -5, 100) as f64
        })
        .collect();
    for dtype in [DType::I64, DType::I32, DType::F32, DType::F64] {
        let d = Distribution::RandInt { low: -5, high: 100 };
        assert_same(&fill(dtype, n, d, seed, offset), &want, &format!("{dtype}"));
    }
    let bits = fill(
        DType::Bool,
        n,
        Distribution::RandInt { low: 0, high: 2 },
        seed,
        offset,
    );
    assert!(bits.iter().all(|&b| b == 0.0 || b == 1.0));
    assert!(
        cpu()
            .random(
                view_mut(&mut empty(DType::I64, 2), &contiguous(&[2])),
                Distribution::RandInt { low: 3, high: 3 },
                0,
                0
            )
            .is_err()
    );
}

#[test]
fn continuous_fills_of_integers_are_unsupported() {
    for dtype in [DType::I64, DType::I32, DType::U8, DType::Bool] {
        let mut s = empty(dtype, 3);
        let l = contiguous(&[3]);
        assert_unsupported(
            cpu().random(
                view_mut(&mut s, &l),
                Distribution::Uniform {
                    low: 0.0,
                    high: 1.0,
                },
                0,
                0,
            ),
            "uniform",
            dtype,
        );
        assert_unsupported(
            cpu().random(
                view_mut(&mut s, &l),
                Distribution::Normal {
                    mean: 0.0,
                    std: 1.0,
                },
                0,
                0,
            ),
            "normal",
            dtype,
        );
    }
    // an empty fill draws nothing and succeeds
    let mut e = empty(DType::F32, 0);
    cpu()
        .random(
            view_mut(&mut e, &contiguous(&[0])),
            Distribution::Normal {
                mean: 0.0,
                std: 1.0,
            },
            0,
            0,
        )
        .unwrap();
}
