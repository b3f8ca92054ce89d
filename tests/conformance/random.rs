//! The random stream: `manual_seed(s)` + `randn`/`rand`/`randint`/`normal`/`uniform`/`bernoulli`
//! give exactly the values recomputed here from `tiny_torch_core::philox` (the same on every
//! backend); generators advance by `numel` per fill and save/restore their state.

use crate::common::*;
use tiny_torch::core::philox;
use tiny_torch::{Backend, DType, Generator, Tensor, default_generator, manual_seed};

pub fn check_random<B: Backend>(b: &B) {
    run_checks(
        "random",
        b,
        &[
            ("randn_matches_philox", randn_matches_philox::<B>),
            (
                "rand_and_uniform_match_philox",
                rand_and_uniform_match_philox::<B>,
            ),
            ("randint_matches_philox", randint_matches_philox::<B>),
            (
                "normal_and_f64_match_philox",
                normal_and_f64_match_philox::<B>,
            ),
            ("bernoulli_matches_philox", bernoulli_matches_philox::<B>),
            ("generators_and_state", generators_and_state::<B>),
            ("statistics", statistics::<B>),
        ],
    );
}

/// Locks the global default generator for the duration of a check.
fn global_rng() -> std::sync::MutexGuard<'static, ()> {
    GLOBAL_RNG.lock().unwrap_or_else(|p| p.into_inner())
}

fn philox_normal_f32(seed: u64, offset: u64, n: usize) -> Vec<f64> {
    (0..n as u64)
        .map(|i| {
            let w = philox::block(seed, offset, i);
            philox::normal_from_words(w[0], w[1]) as f64
        })
        .collect()
}

fn philox_uniform_f32(seed: u64, offset: u64, n: usize) -> Vec<f64> {
    (0..n as u64)
        .map(|i| philox::uniform_from_word(philox::block(seed, offset, i)[0]) as f64)
        .collect()
}

fn randn_matches_philox<B: Backend>(b: &B) {
    let _guard = global_rng();
    for seed in [0u64, 42, 0x1234_5678_9abc_def0] {
        manual_seed(seed);
        assert_eq!(
            default_generator().state(),
            (seed, 0),
            "manual_seed resets the offset"
        );
        let x = Tensor::randn(&[7, 11], DType::F32, b).unwrap();
        assert_exact(
            &format!("randn seed {seed}"),
            &x,
            &philox_normal_f32(seed, 0, 77),
            &[7, 11],
            DType::F32,
        );
        // The next fill continues at offset 77.
        let y = Tensor::randn(&[1000], DType::F32, b).unwrap();
        assert_exact(
            &format!("second randn seed {seed}"),
            &y,
            &philox_normal_f32(seed, 77, 1000),
            &[1000],
            DType::F32,
        );
        assert_eq!(default_generator().offset(), 1077);
    }
    // Same seed, same tensor.
    manual_seed(7);
    let a = host(&Tensor::randn(&[64], DType::F32, b).unwrap());
    manual_seed(7);
    let c = host(&Tensor::randn(&[64], DType::F32, b).unwrap());
    assert_eq!(a, c, "manual_seed(7) twice gives the same randn");
    // randn_like draws from the same stream.
    manual_seed(9);
    let z = Tensor::zeros(&[3, 3], DType::F32, b)
        .unwrap()
        .randn_like()
        .unwrap();
    assert_exact(
        "randn_like",
        &z,
        &philox_normal_f32(9, 0, 9),
        &[3, 3],
        DType::F32,
    );
}

fn rand_and_uniform_match_philox<B: Backend>(b: &B) {
    let _guard = global_rng();
    manual_seed(3);
    let x = Tensor::rand(&[5, 13], DType::F32, b).unwrap();
    assert_exact(
        "rand",
        &x,
        &philox_uniform_f32(3, 0, 65),
        &[5, 13],
        DType::F32,
    );
    let (low, high) = (-2.0, 5.0);
    let u = Tensor::uniform(low, high, &[100], DType::F32, b).unwrap();
    let want: Vec<f64> = philox_uniform_f32(3, 65, 100)
        .iter()
        .map(|u| low + u * (high - low))
        .collect();
    assert_close("uniform(-2, 5)", &u, &want, &[100], DType::F32, 1e-6, 1e-6);
    let h = host(&u);
    assert!(
        h.iter().all(|&v| (low..high).contains(&v)),
        "uniform samples in [low, high)"
    );
    let u = Tensor::rand(&[10], DType::F64, b).unwrap();
    assert_exact(
        "rand f64",
        &u,
        &philox_uniform_f32(3, 165, 10),
        &[10],
        DType::F64,
    );
    // f16 and bf16 keep their own significant bits of the word, so that `u < 1` survives the
    // rounding to the dtype (24 bits would give 1.0 for 0.2 % of bf16 draws).
    for dtype in [DType::F16, DType::BF16] {
        manual_seed(5);
        let n = 1 << 16;
        let x = Tensor::rand(&[n], dtype, b).unwrap();
        let digits = philox::uniform_digits(dtype);
        let want: Vec<f64> = (0..n as u64)
            .map(|i| philox::uniform_from_word_digits(philox::block(5, 0, i)[0], digits) as f64)
            .collect();
        assert_exact(&format!("rand {dtype}"), &x, &want, &[n], dtype);
        assert!(
            host(&x).iter().all(|&v| (0.0..1.0).contains(&v)),
            "rand {dtype} in [0, 1)"
        );
    }
}

fn randint_matches_philox<B: Backend>(b: &B) {
    let _guard = global_rng();
    manual_seed(11);
    let (low, high) = (-3i64, 17i64);
    let x = Tensor::randint(low, high, &[4, 25], b).unwrap();
    let want: Vec<f64> = (0..100)
        .map(|i| {
            let w = philox::block(11, 0, i);
            philox::randint_from_words(w[0], w[1], low, high) as f64
        })
        .collect();
    assert_exact("randint(-3, 17)", &x, &want, &[4, 25], DType::I64);
}

fn normal_and_f64_match_philox<B: Backend>(b: &B) {
    let _guard = global_rng();
    manual_seed(5);
    let x = Tensor::randn(&[50], DType::F64, b).unwrap();
    let want: Vec<f64> = (0..50)
        .map(|i| {
            let w = philox::block(5, 0, i);
            philox::normal_from_words_f64(w[0], w[1])
        })
        .collect();
    assert_exact("randn f64", &x, &want, &[50], DType::F64);
    let (mean, std) = (3.0, 0.5);
    let y = Tensor::normal(mean, std, &[40], DType::F32, b).unwrap();
    let want: Vec<f64> = philox_normal_f32(5, 50, 40)
        .iter()
        .map(|z| mean + std * z)
        .collect();
    assert_close("normal(3, 0.5)", &y, &want, &[40], DType::F32, 1e-6, 1e-6);
    let h = Tensor::randn(&[16], DType::F16, b).unwrap();
    let want: Vec<f64> = philox_normal_f32(5, 90, 16)
        .iter()
        .map(|&z| round_to(DType::F16, z))
        .collect();
    assert_close(
        "randn f16",
        &h,
        &want,
        &[16],
        DType::F16,
        2.0f64.powi(-10),
        0.0,
    );
}

fn bernoulli_matches_philox<B: Backend>(b: &B) {
    let _guard = global_rng();
    let p: Vec<f64> = (0..60).map(|i| (i % 6) as f64 / 5.0).collect(); // 0, 0.2, ..., 1
    let tp = f32_tensor(&p, &[60], b);
    manual_seed(21);
    let x = tp.bernoulli().unwrap();
    let u = philox_uniform_f32(21, 0, 60);
    let want: Vec<f64> = u
        .iter()
        .zip(&p)
        .map(|(u, &p)| ((*u as f32) < p as f32) as u8 as f64)
        .collect();
    assert_exact("bernoulli", &x, &want, &[60], DType::F32);
    let h = host(&x);
    assert!(
        h.iter().zip(&p).all(|(&v, &p)| if p == 0.0 {
            v == 0.0
        } else if p == 1.0 {
            v == 1.0
        } else {
            true
        }),
        "p = 0 gives 0 and p = 1 gives 1"
    );
}

fn generators_and_state<B: Backend>(b: &B) {
    // A private generator does not touch the global one.
    let g = Generator::new(99);
    let x = Tensor::randn_with(&[6], DType::F32, b, &g).unwrap();
    assert_exact(
        "randn_with",
        &x,
        &philox_normal_f32(99, 0, 6),
        &[6],
        DType::F32,
    );
    assert_eq!(g.offset(), 6);
    assert_eq!(g.seed(), 99);
    let state = g.state();
    let a = host(&Tensor::rand_with(&[8], DType::F32, b, &g).unwrap());
    assert_eq!(
        g.state(),
        (99, 14),
        "every fill advances the offset by numel"
    );
    g.set_state(state);
    let c = host(&Tensor::rand_with(&[8], DType::F32, b, &g).unwrap());
    assert_eq!(a, c, "set_state replays the stream");
    let twin = g.clone();
    let a = host(&Tensor::randn_with(&[4], DType::F32, b, &g).unwrap());
    let c = host(&Tensor::randn_with(&[4], DType::F32, b, &twin).unwrap());
    assert_eq!(
        a, c,
        "a cloned generator is an independent copy at the same position"
    );
    g.manual_seed(1);
    assert_eq!(g.state(), (1, 0));
    let r = Tensor::randint_with(0, 10, &[5], b, &g).unwrap();
    assert_eq!(r.dtype(), DType::I64);
    let u = Tensor::uniform_with(1.0, 2.0, &[3], DType::F32, b, &g).unwrap();
    let want: Vec<f64> = philox_uniform_f32(1, 5, 3)
        .iter()
        .map(|u| 1.0 + u)
        .collect();
    assert_close(
        "uniform_with after randint_with",
        &u,
        &want,
        &[3],
        DType::F32,
        1e-7,
        0.0,
    );
    let bern = f32_tensor(&[0.5; 4], &[4], b).bernoulli_with(&g).unwrap();
    let want: Vec<f64> = philox_uniform_f32(1, 8, 4)
        .iter()
        .map(|&u| (u < 0.5) as u8 as f64)
        .collect();
    assert_exact("bernoulli_with", &bern, &want, &[4], DType::F32);
    // An empty fill draws nothing.
    let e = Tensor::randn_with(&[0, 3], DType::F32, b, &g).unwrap();
    assert_eq!(e.dims(), [0, 3]);
    assert_eq!(g.offset(), 12);
}

fn statistics<B: Backend>(b: &B) {
    let g = Generator::new(2024);
    let n = 1 << 16;
    let z = host(&Tensor::randn_with(&[n], DType::F32, b, &g).unwrap());
    let mean = z.iter().sum::<f64>() / n as f64;
    let var = z.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n as f64;
    assert!(
        mean.abs() < 0.02 && (var - 1.0).abs() < 0.03,
        "randn: mean {mean}, var {var}"
    );
    assert!(z.iter().all(|v| v.is_finite()));
    let u = host(&Tensor::rand_with(&[n], DType::F32, b, &g).unwrap());
    let mean = u.iter().sum::<f64>() / n as f64;
    assert!(
        (mean - 0.5).abs() < 0.01 && u.iter().all(|&v| (0.0..1.0).contains(&v)),
        "rand: mean {mean}"
    );
    let r = host(&Tensor::randint_with(0, 7, &[4096], b, &g).unwrap());
    let mut seen = [0usize; 7];
    for v in r {
        assert!((0.0..7.0).contains(&v), "randint out of range: {v}");
        seen[v as usize] += 1;
    }
    assert!(
        seen.iter().all(|&c| c > 450),
        "randint(0, 7) hits every value about equally: {seen:?}"
    );
}
