//! Random tensors: the Philox stream computed by hand, generator state, statistics, errors.

use crate::common::*;
use tiny_torch_tensor::philox::{
    block, normal_from_words, normal_from_words_f64, randint_from_words, uniform_from_word,
};
use tiny_torch_tensor::{DType, Generator, Tensor, default_generator, manual_seed};

#[test]
fn rand_follows_the_philox_stream_and_advances_the_offset() {
    let g = Generator::new(42);
    let x = Tensor::rand_with(&[2, 3], DType::F32, &cpu(), &g).unwrap();
    assert_eq!(g.offset(), 6);
    let want: Vec<f64> = (0..6)
        .map(|i| uniform_from_word(block(42, 0, i)[0]) as f64)
        .collect();
    assert_tensor(&x, &[2, 3], DType::F32, &want, 0.0);
    // the next fill starts at offset 6
    let y = Tensor::rand_with(&[4], DType::F64, &cpu(), &g).unwrap();
    let want: Vec<f64> = (0..4)
        .map(|i| uniform_from_word(block(42, 6, i)[0]) as f64)
        .collect();
    assert_tensor(&y, &[4], DType::F64, &want, 0.0);
    assert_eq!(g.state(), (42, 10));
}

#[test]
fn same_seed_same_values() {
    let a = Tensor::randn_with(&[100], DType::F32, &cpu(), &Generator::new(7)).unwrap();
    let b = Tensor::randn_with(&[100], DType::F32, &cpu(), &Generator::new(7)).unwrap();
    let c = Tensor::randn_with(&[100], DType::F32, &cpu(), &Generator::new(8)).unwrap();
    assert_eq!(values(&a), values(&b));
    assert_ne!(values(&a), values(&c));
}

#[test]
fn generator_state_round_trips() {
    let g = Generator::new(3);
    g.manual_seed(11);
    assert_eq!((g.seed(), g.offset()), (11, 0));
    Tensor::rand_with(&[5], DType::F32, &cpu(), &g).unwrap();
    let saved = g.state();
    let first = Tensor::randn_with(&[8], DType::F32, &cpu(), &g).unwrap();
    assert_eq!(g.offset(), 13);
    g.set_state(saved);
    let again = Tensor::randn_with(&[8], DType::F32, &cpu(), &g).unwrap();
    assert_eq!(values(&first), values(&again));
    let copy = g.clone();
    let from_copy = Tensor::rand_with(&[3], DType::F32, &cpu(), &copy).unwrap();
    let from_original = Tensor::rand_with(&[3], DType::F32, &cpu(), &g).unwrap();
    assert_eq!(values(&from_copy), values(&from_original));
    assert_eq!(format!("{g:?}"), "Generator { seed: 11, offset: 16 }");
}

#[test]
fn normal_uniform_randint_match_philox_by_hand() {
    let g = Generator::new(1234);
    let n = Tensor::normal_with(1.5, 2.0, &[5], DType::F32, &cpu(), &g).unwrap();
    let want: Vec<f64> = (0..5)
        .map(|i| {
            let w = block(1234, 0, i);
            (normal_from_words(w[0], w[1]) * 2.0 + 1.5) as f64
        })
        .collect();
    assert_tensor(&n, &[5], DType::F32, &want, 1e-6);
    let n64 = Tensor::randn_with(&[5], DType::F64, &cpu(), &g).unwrap();
    let want: Vec<f64> = (0..5)
        .map(|i| {
            let w = block(1234, 5, i);
            normal_from_words_f64(w[0], w[1])
        })
        .collect();
    assert_tensor(&n64, &[5], DType::F64, &want, 1e-12);
    let u = Tensor::uniform_with(-2.0, 6.0, &[5], DType::F64, &cpu(), &g).unwrap();
    let want: Vec<f64> = (0..5)
        .map(|i| -2.0 + 8.0 * uniform_from_word(block(1234, 10, i)[0]) as f64)
        .collect();
    assert_tensor(&u, &[5], DType::F64, &want, 1e-12);
    let r = Tensor::randint_with(-3, 10, &[6], &cpu(), &g).unwrap();
    let want: Vec<f64> = (0..6)
        .map(|i| {
            let w = block(1234, 15, i);
            randint_from_words(w[0], w[1], -3, 10) as f64
        })
        .collect();
    assert_tensor(&r, &[6], DType::I64, &want, 0.0);
    assert_eq!(g.offset(), 21);
}

#[test]
fn bernoulli_compares_the_uniform_stream_with_each_probability() {
    let g = Generator::new(99);
    let p = Tensor::new([0.0f32, 0.25, 0.5, 0.75, 1.0, 0.9], &cpu()).unwrap();
    let draws = p.bernoulli_with(&g).unwrap();
    let ps = [0.0, 0.25, 0.5, 0.75, 1.0, 0.9];
    let want: Vec<f64> = (0..6)
        .map(|i| {
            let u = uniform_from_word(block(99, 0, i as u64)[0]) as f64;
            if u < ps[i] { 1.0 } else { 0.0 }
        })
        .collect();
    assert_tensor(&draws, &[6], DType::F32, &want, 0.0);
    assert_eq!(g.offset(), 6);
    // frequency check
    let many = Tensor::full(&[20_000], 0.3, DType::F64, &cpu()).unwrap();
    let freq = many
        .bernoulli_with(&g)
        .unwrap()
        .mean()
        .unwrap()
        .item::<f64>()
        .unwrap();
    assert!((freq - 0.3).abs() < 0.02, "frequency {freq}");
}

#[test]
fn randn_and_rand_have_the_right_moments() {
    let g = Generator::new(2024);
    let n = 200_000usize;
    let x = Tensor::randn_with(&[n], DType::F32, &cpu(), &g).unwrap();
    let v = values(&x);
    let mean = v.iter().sum::<f64>() / n as f64;
    let std = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
    // 5 standard errors
    assert!(mean.abs() < 5.0 / (n as f64).sqrt(), "mean {mean}");
    assert!(
        (std - 1.0).abs() < 5.0 * (0.5 / n as f64).sqrt(),
        "std {std}"
    );
    let u = values(&Tensor::rand_with(&[n], DType::F32, &cpu(), &g).unwrap());
    assert!(u.iter().all(|&x| (0.0..1.0).contains(&x)));
    let mean = u.iter().sum::<f64>() / n as f64;
    assert!(
        (mean - 0.5).abs() < 5.0 * (1.0 / 12.0 / n as f64).sqrt(),
        "mean {mean}"
    );
    let r = values(&Tensor::randint_with(0, 4, &[n], &cpu(), &g).unwrap());
    for k in 0..4 {
        let count = r.iter().filter(|&&x| x == k as f64).count() as f64 / n as f64;
        assert!((count - 0.25).abs() < 0.01, "value {k}: frequency {count}");
    }
}

/// The only test that touches the global default generator (tests run in parallel).
#[test]
fn manual_seed_reseeds_the_default_generator() {
    manual_seed(5);
    assert_eq!(default_generator().state(), (5, 0));
    let a = Tensor::rand(&[3], DType::F32, &cpu()).unwrap();
    let b = Tensor::randn(&[2, 2], DType::F64, &cpu()).unwrap();
    let like = a.randn_like().unwrap();
    assert_eq!((like.dims(), like.dtype()), (&[3][..], DType::F32));
    let r = a.rand_like().unwrap();
    let coin = r.bernoulli().unwrap();
    let i = Tensor::randint(0, 10, &[4], &cpu()).unwrap();
    let n = Tensor::normal(0.0, 1.0, &[2], DType::F32, &cpu()).unwrap();
    let u = Tensor::uniform(0.0, 1.0, &[2], DType::F32, &cpu()).unwrap();
    assert_eq!(default_generator().offset(), 3 + 4 + 3 + 3 + 3 + 4 + 2 + 2);
    manual_seed(5);
    assert_eq!(
        values(&a),
        values(&Tensor::rand(&[3], DType::F32, &cpu()).unwrap())
    );
    assert_eq!(
        values(&b),
        values(&Tensor::randn(&[2, 2], DType::F64, &cpu()).unwrap())
    );
    let g = Generator::new(5);
    let want = Tensor::rand_with(&[3], DType::F32, &cpu(), &g).unwrap();
    assert_eq!(values(&a), values(&want));
    for t in [coin, i, n, u] {
        assert!(values(&t).iter().all(|x| x.is_finite()));
    }
}

#[test]
fn random_argument_errors() {
    let b = cpu();
    let g = Generator::new(0);
    assert_err(
        Tensor::rand_with(&[2], DType::I64, &b, &g),
        &["rand", "floating-point", "int64"],
    );
    assert_err(
        Tensor::randn_with(&[2], DType::Bool, &b, &g),
        &["randn", "bool"],
    );
    assert_err(
        Tensor::randint_with(3, 3, &[2], &b, &g),
        &["randint", "from=3", "to=3"],
    );
    assert_err(
        Tensor::normal_with(0.0, -1.0, &[2], DType::F32, &b, &g),
        &["normal", "std -1"],
    );
    assert_err(
        Tensor::uniform_with(2.0, 1.0, &[2], DType::F32, &b, &g),
        &["uniform", "from=2", "to=1"],
    );
    let ints = Tensor::new([1i64], &b).unwrap();
    assert_err(ints.bernoulli_with(&g), &["bernoulli", "int64"]);
    assert_eq!(g.offset(), 0, "failed calls draw nothing");
    let e = Tensor::rand_with(&[0, 3], DType::F32, &b, &g).unwrap();
    assert_eq!((e.dims(), g.offset()), (&[0, 3][..], 0));
}
