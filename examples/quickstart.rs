//! A first tour of Tiny-Torch: tensors on a backend, views, broadcasting, reductions, matmul,
//! seeded randomness and printing, ending with a linear regression fitted by gradient descent,
//! its gradients computed by autograd and checked against the closed form.
//!
//! Run: `cargo run --release --example quickstart`

use tiny_torch::prelude::*;

fn main() -> Result<()> {
    let cpu = Cpu;

    // Tensors from nested arrays, printed as PyTorch prints them.
    let a = Tensor::new([[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]], &cpu)?;
    println!("a =\n{a}");

    // Views share storage: a transpose copies nothing, and its strides show it.
    let at = a.t()?;
    println!(
        "a.t() has shape {:?} and strides {:?}",
        at.dims(),
        at.strides()
    );

    // Broadcasting and type promotion follow PyTorch: [2, 3] + [3] -> [2, 3].
    let bias = Tensor::new([10.0f32, 20.0, 30.0], &cpu)?;
    println!("a + bias =\n{}", (&a + &bias)?);
    let ints = Tensor::new([1i64, 2, 3], &cpu)?;
    println!(
        "int64 tensor * 0.5 = {}  (promoted to float32)",
        (&ints * 0.5)?
    );

    // Reductions over dims, softmax, matmul.
    println!("a.sum_dim([1]) = {}", a.sum_dim(&[1], false)?);
    println!("a.softmax(-1) =\n{}", a.softmax(-1)?);
    println!("a @ a.t() =\n{}", a.matmul(&at)?);

    // A seeded generator gives the same stream on every backend (Philox 4x32-10).
    manual_seed(0);
    let x = Tensor::randn(&[256, 3], DType::F32, &cpu)?;
    let true_w = Tensor::new([[2.0f32], [-3.0], [0.5]], &cpu)?;
    let noise = (&Tensor::randn(&[256, 1], DType::F32, &cpu)? * 0.1)?;
    let y = (&x.matmul(&true_w)? + &noise)?;

    // Least squares by gradient descent; autograd computes d(mse)/dw.
    let n = x.size(0)? as f64;
    let w = Tensor::zeros(&[3, 1], DType::F32, &cpu)?.requires_grad_(true)?;
    for step in 0..=100 {
        let residual = (&x.matmul(&w)? - &y)?;
        let loss = residual.square()?.mean()?;
        loss.backward()?;
        let grad = w
            .grad()
            .ok_or_else(|| Error::invalid("quickstart", "w has no gradient"))?;
        if step % 20 == 0 {
            // The closed form, 2/N · Xᵀ(Xw − y), computed without recording a graph.
            let _no_grad = autograd::no_grad();
            let by_hand = (&x.t()?.matmul(&residual)? * (2.0 / n))?;
            let gap = (&grad - &by_hand)?.abs()?.max()?.item::<f32>()?;
            println!(
                "step {step:3}  mse {:.5}  |autograd - closed form| {gap:.1e}",
                loss.item::<f32>()?
            );
        }
        let _no_grad = autograd::no_grad(); // the update itself is not part of the graph
        w.sub_(&(&grad * 0.1)?)?;
        w.clear_grad();
    }
    println!(
        "fitted w = {}  (true: [2, -3, 0.5])",
        w.detach().reshape(&[-1])?
    );
    Ok(())
}
