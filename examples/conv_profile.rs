// Temporary profiling helper (not to be committed).
use std::time::Instant;
use tiny_torch::prelude::*;
use tiny_torch::core::Conv2dParams;

fn time<T>(f: impl Fn() -> T) -> f64 {
    let _ = f();
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        let _ = std::hint::black_box(f());
        best = best.min(t.elapsed().as_secs_f64() * 1e3);
    }
    best
}

fn main() -> Result<()> {
    let _g = no_grad();
    let a = Tensor::randn(&[512, 512], DType::F32, &Cpu)?;
    let ms = time(|| a.matmul(&a).unwrap());
    println!("matmul512 {:.2} ms {:.1} GFLOP/s", ms, 2.0 * 512f64.powi(3) / ms / 1e6);
    for (name, xs, cout, k, s, p) in [
        ("stem", [8usize, 3, 224, 224], 64usize, 7usize, 2usize, 3usize),
        ("3x3", [8, 64, 56, 56], 64, 3, 1, 1),
        ("1x1s2", [8, 256, 56, 56], 512, 1, 2, 0),
    ] {
        let [n, cin, h, w] = xs;
        let (ho, wo) = ((h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1);
        let flop = 2.0 * (n * cout * ho * wo * cin * k * k) as f64;
        let x = Tensor::randn(&xs, DType::F32, &Cpu)?;
        let wt = Tensor::randn(&[cout, cin, k, k], DType::F32, &Cpu)?;
        let gy = Tensor::randn(&[n, cout, ho, wo], DType::F32, &Cpu)?;
        let prm = Conv2dParams { stride: [s, s], padding: [p, p], dilation: [1, 1], groups: 1 };
        let f = time(|| x.conv2d_with(&wt, None, &prm).unwrap());
        let bi = time(|| gy.conv2d_backward_input(&wt, xs, &prm).unwrap());
        let bw = time(|| gy.conv2d_backward_weight(&x, [cout, cin, k, k], &prm).unwrap());
        println!("{name}: fwd {f:.1} ms ({:.0} GF/s)  bwd_in {bi:.1} ms ({:.0})  bwd_w {bw:.1} ms ({:.0})",
            flop / f / 1e6, flop / bi / 1e6, flop / bw / 1e6);
    }
    Ok(())
}
