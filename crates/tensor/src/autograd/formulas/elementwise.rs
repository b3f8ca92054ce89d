//! Backward formulas of element-wise ops (`ops/elementwise.rs`). Gradients of broadcast inputs
//! are summed back to their shapes by the engine.

use crate::Tensor;
use crate::autograd::record;
use tiny_torch_core::{Backend, BinaryOp, Result, UnaryOp};

/// `1.0` where `cond` holds, else `0.0`, in `like`'s dtype.
fn mask<B: Backend>(cond: Tensor<B>, like: &Tensor<B>) -> Result<Tensor<B>> {
    cond.to_dtype(like.dtype())
}

/// `sign(x)` as a float tensor (0 at 0, as PyTorch's `abs` backward uses).
fn sign<B: Backend>(x: &Tensor<B>) -> Result<Tensor<B>> {
    mask(x.gt(0.0)?, x)?.sub(&mask(x.lt(0.0)?, x)?)
}

/// The gradient of `op` at `x` for the incoming gradient `g`: `g` times the derivative, or
/// one fused op where there is one.
fn unary_grad<B: Backend>(op: UnaryOp, x: &Tensor<B>, g: &Tensor<B>) -> Result<Tensor<B>> {
    use UnaryOp::*;
    let derivative = match op {
        Neg | LogicalNot => return g.neg(),
        // One pass (PyTorch's threshold_backward) rather than `g * (x > 0)`.
        Relu => return g.relu_backward(x),
        Abs => sign(x)?,
        Exp => x.exp()?,
        Log => x.ones_like()?.div(x)?,
        Sqrt => x.sqrt()?.mul(2.0)?.ones_like_div()?,
        Rsqrt => x.rsqrt()?.div(x)?.mul(-0.5)?,
        Sin => x.cos()?,
        Cos => x.sin()?.neg()?,
        Tanh => (1.0 - x.tanh()?.square()?)?,
        Sigmoid => {
            let s = x.sigmoid()?;
            s.mul(&(1.0 - &s)?)?
        }
        Gelu => {
            // Φ(x) + x φ(x), with Φ(x) = gelu(x) / x (0.5 at 0: there is no erf op).
            let zero = x.eq(0.0)?;
            let safe = x.masked_fill(&zero, 1.0)?;
            let cdf = x.gelu()?.div(&safe)?.masked_fill(&zero, 0.5)?;
            let pdf = x
                .square()?
                .mul(-0.5)?
                .exp()?
                .mul(1.0 / (2.0 * std::f64::consts::PI).sqrt())?;
            cdf.add(&x.mul(&pdf)?)?
        }
        GeluTanh => {
            let k = (2.0 / std::f64::consts::PI).sqrt();
            let c = 0.044_715;
            let inner = x.add(&x.pow(3.0)?.mul(c)?)?.mul(k)?;
            let t = inner.tanh()?;
            let left = (1.0 + &t)?.mul(0.5)?;
            let dinner = (1.0 + &x.square()?.mul(3.0 * c)?)?.mul(k)?;
            let right = x.mul(0.5)?.mul(&(1.0 - &t.square()?)?)?.mul(&dinner)?;
            left.add(&right)?
        }
        Silu => {
            let s = x.sigmoid()?;
            s.mul(&(1.0 + &x.mul(&(1.0 - &s)?)?)?)?
        }
        Softplus => {
            // PyTorch's threshold: softplus(x) = x above 20.
            let above = x.gt(20.0)?;
            x.sigmoid()?.masked_fill(&above, 1.0)?
        }
        LeakyRelu(slope) => {
            let positive = mask(x.gt(0.0)?, x)?;
            positive.mul(1.0 - slope)?.add(slope)?
        }
        Square => x.mul(2.0)?,
        PowScalar(0.0) => x.zeros_like()?,
        PowScalar(p) => x.pow(p - 1.0)?.mul(p)?,
        Clamp { min, max } => {
            // The gradient passes where `min <= x <= max` (not NaN), and is zero elsewhere
            // even where it is inf (PyTorch's `where`; a mask multiplied in gave inf * 0 = NaN).
            let zero = g.zeros_like()?;
            let mut passed = g.clone();
            if let Some(min) = min {
                passed = Tensor::where_cond(&x.ge(min)?, &passed, &zero)?;
            }
            if let Some(max) = max {
                passed = Tensor::where_cond(&x.le(max)?, &passed, &zero)?;
            }
            return Ok(passed);
        }
    };
    g.mul(&derivative)
}

impl<B: Backend> Tensor<B> {
    /// `1 / self`.
    fn ones_like_div(&self) -> Result<Self> {
        self.ones_like()?.div(self)
    }
}

/// Records `out = op(input)`.
pub(crate) fn record_unary<B: Backend>(
    op: UnaryOp,
    input: &Tensor<B>,
    out: Tensor<B>,
) -> Tensor<B> {
    // neg's gradient needs no input, and saving none lets `neg_` run in place on a graph
    // tensor (it writes the input it would have saved).
    let saved: &[&Tensor<B>] = if op == UnaryOp::Neg { &[] } else { &[input] };
    record(op.name(), out, &[input], saved, move |ctx, g| {
        if op == UnaryOp::Neg {
            return Ok(vec![Some(g.neg()?)]);
        }
        Ok(vec![Some(unary_grad(op, ctx.saved(0), g)?)])
    })
}

/// Records `out = log_sigmoid(input)`: `g * sigmoid(-input)`.
pub(crate) fn record_log_sigmoid<B: Backend>(input: &Tensor<B>, out: Tensor<B>) -> Tensor<B> {
    record("log_sigmoid", out, &[input], &[input], move |ctx, g| {
        Ok(vec![Some(g.mul(&ctx.saved(0).neg()?.sigmoid()?)?)])
    })
}

/// Records the per-element `binary_cross_entropy(x, y)`: PyTorch's gradients, `g (x - y) /
/// max(x (1 - x), 1e-12)` for `x` and `g (log(1 - x) - log(x))` (clamped logs) for `y`.
pub(crate) fn record_binary_cross_entropy<B: Backend>(
    x: &Tensor<B>,
    y: &Tensor<B>,
    out: Tensor<B>,
) -> Tensor<B> {
    record(
        "binary_cross_entropy",
        out,
        &[x, y],
        &[x, y],
        move |ctx, g| {
            let (x, y) = (ctx.saved(0), ctx.saved(1));
            let gx = ctx.grad_if(0, || {
                let spread = x.mul(&x.neg()?.add(1.0)?)?.clamp_min(1e-12)?;
                g.mul(&x.sub(y)?)?.div(&spread)
            })?;
            let gy = ctx.grad_if(1, || {
                let (log_p, log_q) = crate::ops::clamped_logs(x)?;
                g.mul(&log_q.sub(&log_p)?)
            })?;
            Ok(vec![gx, gy])
        },
    )
}

/// Records `out = op(lhs, rhs)` (inputs already promoted; broadcasting is undone by the
/// engine).
pub(crate) fn record_binary<B: Backend>(
    op: BinaryOp,
    lhs: &Tensor<B>,
    rhs: &Tensor<B>,
    out: Tensor<B>,
) -> Tensor<B> {
    use BinaryOp::*;
    let both = [lhs, rhs];
    let saved: &[&Tensor<B>] = if matches!(op, Add | Sub) { &[] } else { &both };
    record(op.name(), out, &[lhs, rhs], saved, move |ctx, g| {
        let (ga, gb) = match op {
            Add => (
                ctx.grad_if(0, || Ok(g.clone()))?,
                ctx.grad_if(1, || Ok(g.clone()))?,
            ),
            Sub => (
                ctx.grad_if(0, || Ok(g.clone()))?,
                ctx.grad_if(1, || g.neg())?,
            ),
            _ => {
                let (a, b) = (ctx.saved(0), ctx.saved(1));
                binary_grads(op, ctx, a, b, g)?
            }
        };
        Ok(vec![ga, gb])
    })
}

type GradPair<B> = (Option<Tensor<B>>, Option<Tensor<B>>);

fn binary_grads<B: Backend>(
    op: BinaryOp,
    ctx: &crate::autograd::Ctx<'_, B>,
    a: &Tensor<B>,
    b: &Tensor<B>,
    g: &Tensor<B>,
) -> Result<GradPair<B>> {
    use BinaryOp::*;
    Ok(match op {
        Mul => (ctx.grad_if(0, || g.mul(b))?, ctx.grad_if(1, || g.mul(a))?),
        Div => (
            ctx.grad_if(0, || g.div(b))?,
            ctx.grad_if(1, || g.mul(a)?.div(&b.square()?)?.neg())?,
        ),
        Pow => (
            ctx.grad_if(0, || {
                // b * a^(b-1), 0 where b == 0 (avoids 0 * inf at a == 0).
                let d = b.mul(&a.pow(&b.sub(1.0)?)?)?;
                g.mul(&d.masked_fill(&b.eq(0.0)?, 0.0)?)
            })?,
            ctx.grad_if(1, || {
                // a^b * log(a), 0 where a == 0 and b >= 0 (the limit; PyTorch's mask), so
                // 0^b with b < 0 gives inf * -inf = -inf there, as in PyTorch.
                let limit = a.eq(0.0)?.logical_and(&b.ge(0.0)?)?;
                let d = a.pow(b)?.mul(&a.log()?)?.masked_fill(&limit, 0.0)?;
                g.mul(&d)
            })?,
        ),
        Maximum | Minimum => {
            // PyTorch's formula: ties split the gradient evenly, the side that loses gets
            // none, and where a NaN makes every comparison false both sides get all of it.
            let (loses_a, loses_b) = if op == Maximum {
                (a.lt(b)?, a.gt(b)?)
            } else {
                (a.gt(b)?, a.lt(b)?)
            };
            let split = Tensor::where_cond(&a.eq(b)?, &g.mul(0.5)?, g)?;
            (
                ctx.grad_if(0, || split.masked_fill(&loses_a, 0.0))?,
                ctx.grad_if(1, || split.masked_fill(&loses_b, 0.0))?,
            )
        }
        // `a` is relu's incoming gradient, `b` its input: linear in `a`, piecewise constant in
        // `b` (no gradient, as PyTorch's threshold_backward).
        ReluBackward => (ctx.grad_if(0, || g.relu_backward(b))?, None),
        Atan2 => {
            let denom = a.square()?.add(&b.square()?)?;
            (
                ctx.grad_if(0, || g.mul(b)?.div(&denom))?,
                ctx.grad_if(1, || g.mul(a)?.div(&denom)?.neg())?,
            )
        }
        // Add and Sub are handled by the caller; the rest return bool and are not recorded.
        _ => (None, None),
    })
}
