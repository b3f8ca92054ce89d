//! `gradcheck` on every op that records a backward, and a coverage check: every name in
//! `autograd::BACKWARD_OPS` must appear in the graph of at least one case here.

use crate::common::{T, index, input, positive};
use std::collections::BTreeSet;
use tiny_torch_tensor::{Conv2dParams, DType, Padding, Result, Tensor, autograd};

type F = Box<dyn Fn(&[T]) -> Result<T>>;

struct Case {
    name: &'static str,
    f: F,
    inputs: Vec<T>,
    eps: f64,
    atol: f64,
}

fn case(name: &'static str, inputs: Vec<T>, f: impl Fn(&[T]) -> Result<T> + 'static) -> Case {
    Case {
        name,
        f: Box::new(f),
        inputs,
        eps: 1e-6,
        atol: 1e-6,
    }
}

/// `d/dx f(x)` with a graph, so that gradcheck differentiates it again (a Hessian).
fn gradient_of(x: &T, f: impl Fn(&T) -> Result<T>) -> Result<T> {
    let _guard = autograd::enable_grad();
    let x = if x.requires_grad() {
        x.clone()
    } else {
        x.detach().requires_grad_(true)?
    };
    let y = f(&x)?;
    Ok(autograd::grad(&[&y], &[&x], None, true, true)?[0]
        .clone()
        .expect("depends on x"))
}

/// The geometry of the `conv2d` case: stride [2, 1], padding [1, 0], dilation [1, 2], 2 groups.
fn conv_params() -> Conv2dParams {
    Conv2dParams {
        stride: [2, 1],
        padding: [1, 0],
        dilation: [1, 2],
        groups: 2,
    }
}

fn b4() -> T {
    input(&[4], 52)
}

fn cases() -> Vec<Case> {
    let a = || input(&[2, 3], 1);
    let b = || input(&[3], 2);
    let p = || positive(&[2, 3], 3);
    let mut cases = vec![
        // unary
        case("neg", vec![a()], |x| x[0].neg()),
        case("abs", vec![a()], |x| x[0].abs()),
        case("exp", vec![a()], |x| x[0].exp()),
        case("log", vec![p()], |x| x[0].log()),
        case("sqrt", vec![p()], |x| x[0].sqrt()),
        case("rsqrt", vec![p()], |x| x[0].rsqrt()),
        case("sin", vec![a()], |x| x[0].sin()),
        case("cos", vec![a()], |x| x[0].cos()),
        case("tanh", vec![a()], |x| x[0].tanh()),
        case("sigmoid", vec![a()], |x| x[0].sigmoid()),
        case("relu", vec![a()], |x| x[0].relu()),
        case("gelu", vec![a()], |x| x[0].gelu()),
        case("gelu_tanh", vec![a()], |x| x[0].gelu_tanh()),
        case("silu", vec![a()], |x| x[0].silu()),
        case("softplus", vec![a()], |x| x[0].mul(12.0)?.softplus()),
        case("log_sigmoid", vec![a()], |x| x[0].mul(12.0)?.log_sigmoid()),
        // Probabilities in (0, 1) and targets in [0, 1], both differentiated.
        case("binary_cross_entropy", vec![a(), input(&[2, 3], 3)], |x| {
            x[0].sigmoid()?.binary_cross_entropy(&x[1].sigmoid()?)
        }),
        case("leaky_relu", vec![a()], |x| x[0].leaky_relu(0.1)),
        case("square", vec![a()], |x| x[0].square()),
        case("pow_scalar", vec![p()], |x| x[0].pow(2.5)),
        case("pow_scalar_zero", vec![p()], |x| x[0].pow(0.0)),
        case("clamp", vec![a()], |x| x[0].clamp(Some(-0.5), Some(0.7))),
        case("clamp_min", vec![a()], |x| x[0].clamp_min(0.1)),
        // binary, with broadcasting
        case("add", vec![a(), b()], |x| x[0].add(&x[1])),
        case("add_scalar", vec![a()], |x| x[0].add(2.0)),
        case("sub", vec![a(), b()], |x| x[0].sub(&x[1])),
        case("rsub_scalar", vec![a()], |x| 1.0 - &x[0]),
        case("mul", vec![a(), b()], |x| x[0].mul(&x[1])),
        case("div", vec![a(), positive(&[3], 4)], |x| x[0].div(&x[1])),
        case("rdiv_scalar", vec![p()], |x| 2.0 / &x[0]),
        case("pow_tensor", vec![p(), b()], |x| x[0].pow(&x[1])),
        case("maximum", vec![a(), b()], |x| x[0].maximum(&x[1])),
        case("minimum", vec![a(), b()], |x| x[0].minimum(&x[1])),
        case("atan2", vec![a(), b()], |x| x[0].atan2(&x[1])),
        // relu's gradient, differentiated in the incoming gradient (x: no gradient, the kinks
        // stay away from the samples).
        case("relu_backward", vec![a(), b()], |x| {
            x[0].relu_backward(&x[1])
        }),
        // indexing
        case("where", vec![a(), b()], |x| {
            Tensor::where_cond(&x[0].gt(0.0)?, &x[0], &x[1])
        }),
        case("masked_fill", vec![a()], |x| {
            x[0].masked_fill(&x[0].lt(0.0)?, 1.5)
        }),
        case("index_select", vec![input(&[4, 3], 5)], |x| {
            x[0].index_select(0, &index(&[2, 0, 2], &[3]))
        }),
        case("index_select_dim1", vec![input(&[4, 3], 5)], |x| {
            x[0].index_select(1, &index(&[1, 1], &[2]))
        }),
        case("gather", vec![input(&[3, 4], 6)], |x| {
            x[0].gather(1, &index(&[0, 3, 1, 1, 2, 0], &[3, 2]))
        }),
        case("scatter", vec![input(&[3, 4], 7), input(&[3, 2], 8)], |x| {
            x[0].scatter(1, &index(&[0, 3, 1, 2, 2, 0], &[3, 2]), &x[1])
        }),
        case(
            "scatter_small_index",
            vec![input(&[3, 4], 7), input(&[3, 3], 8)],
            |x| x[0].scatter(1, &index(&[0, 3, 1, 2], &[2, 2]), &x[1]),
        ),
        case(
            "scatter_add",
            vec![input(&[3, 4], 9), input(&[2, 4], 10)],
            |x| x[0].scatter_add(0, &index(&[0, 1, 2, 0, 0, 1, 0, 2], &[2, 4]), &x[1]),
        ),
        // reductions
        case("sum", vec![a()], |x| x[0].sum()),
        case("sum_dim", vec![a()], |x| x[0].sum_dim(&[0], false)),
        case("sum_dims_keepdim", vec![input(&[2, 3, 2], 11)], |x| {
            x[0].sum_dim(&[0, 2], true)
        }),
        case("mean", vec![a()], |x| x[0].mean()),
        case("mean_dim", vec![a()], |x| x[0].mean_dim(&[-1], false)),
        case("prod", vec![a()], |x| x[0].prod()),
        case("prod_dim", vec![a()], |x| x[0].prod_dim(1, true)),
        case(
            "prod_with_zeros",
            vec![
                crate::common::leaf(&[0.0, 2.0, -1.5, 0.0, 0.0, 3.0, 1.2, 0.5, 0.7], &[3, 3])
                    .detach(),
            ],
            |x| x[0].prod_dim(1, false),
        ),
        case(
            "prod_all_one_zero",
            vec![crate::common::leaf(&[0.5, 2.0, 0.0, -1.5], &[2, 2]).detach()],
            |x| x[0].prod(),
        ),
        case("max", vec![a()], |x| x[0].max()),
        case("min", vec![a()], |x| x[0].min()),
        case("amax", vec![a()], |x| x[0].amax(&[1], false)),
        case("amin", vec![a()], |x| x[0].amin(&[0], true)),
        case("max_dim", vec![a()], |x| Ok(x[0].max_dim(1, false)?.0)),
        case("min_dim", vec![a()], |x| Ok(x[0].min_dim(0, true)?.0)),
        case("var", vec![a()], |x| x[0].var(&[1], 1.0, false)),
        case("var_all", vec![a()], |x| x[0].var(&[], 0.0, true)),
        case("std", vec![a()], |x| x[0].std(&[0], 1.0, false)),
        case("logsumexp", vec![a()], |x| x[0].logsumexp(&[1], false)),
        case("norm", vec![a()], |x| x[0].norm()),
        // linear algebra
        case("matmul_2d", vec![a(), input(&[3, 4], 12)], |x| {
            x[0].matmul(&x[1])
        }),
        case("matmul_1d_1d", vec![b(), input(&[3], 13)], |x| {
            x[0].matmul(&x[1])
        }),
        case("matmul_1d_2d", vec![b(), input(&[3, 2], 14)], |x| {
            x[0].matmul(&x[1])
        }),
        case("matmul_2d_1d", vec![a(), b()], |x| x[0].matmul(&x[1])),
        case(
            "matmul_batched_broadcast",
            vec![input(&[2, 2, 3], 15), input(&[3, 2], 16)],
            |x| x[0].matmul(&x[1]),
        ),
        case(
            "matmul_broadcast_lhs",
            vec![a(), input(&[2, 3, 2], 17)],
            |x| x[0].matmul(&x[1]),
        ),
        case("matmul_1d_batched", vec![b(), input(&[2, 3, 2], 18)], |x| {
            x[0].matmul(&x[1])
        }),
        case("mm", vec![a(), input(&[3, 2], 19)], |x| x[0].mm(&x[1])),
        case(
            "bmm",
            vec![input(&[2, 2, 3], 20), input(&[2, 3, 2], 21)],
            |x| x[0].bmm(&x[1]),
        ),
        case(
            "matmul_transposed",
            vec![input(&[3, 2], 22), input(&[3, 2], 23)],
            |x| x[0].t()?.matmul(&x[1]),
        ),
        case("softmax", vec![a()], |x| x[0].softmax(1)),
        case("softmax_dim0", vec![a()], |x| x[0].softmax(0)),
        case("log_softmax", vec![a()], |x| x[0].log_softmax(-1)),
        // convolution: groups, stride, padding and dilation differing per dim
        case(
            "conv2d",
            vec![input(&[2, 4, 5, 4], 40), input(&[4, 2, 3, 2], 41), b4()],
            |x| x[0].conv2d(&x[1], Some(&x[2]), [2, 1], [1, 0], [1, 2], 2),
        ),
        case(
            "conv2d_same_even_kernel",
            vec![input(&[1, 2, 4, 5], 42), input(&[3, 2, 2, 4], 43)],
            |x| x[0].conv2d(&x[1], None, 1, Padding::Same, 1, 1),
        ),
        case(
            "conv2d_backward_input",
            vec![input(&[2, 4, 3, 2], 44), input(&[4, 2, 3, 2], 45)],
            |x| x[0].conv2d_backward_input(&x[1], [2, 4, 5, 4], &conv_params()),
        ),
        case(
            "conv2d_backward_weight",
            vec![input(&[2, 4, 3, 2], 46), input(&[2, 4, 5, 4], 47)],
            |x| x[0].conv2d_backward_weight(&x[1], [4, 2, 3, 2], &conv_params()),
        ),
        case(
            "conv_transpose2d",
            vec![input(&[1, 4, 3, 2], 48), input(&[4, 2, 3, 3], 49), b4()],
            |x| x[0].conv_transpose2d(&x[1], Some(&x[2]), 2, 1, 1, 2, 1),
        ),
        // the double backward of conv2d, in both operands
        case(
            "conv2d_second_order",
            vec![input(&[1, 2, 4, 4], 50), input(&[2, 2, 3, 3], 51)],
            |x| {
                let w = x[1].clone();
                gradient_of(&x[0], move |x| {
                    x.conv2d(&w, None, 1, 1, 1, 1)?.square()?.sum()
                })
            },
        ),
        // pooling (values spaced by more than eps, so no window has a tie within eps)
        case("max_pool2d", vec![input(&[2, 2, 5, 5], 60)], |x| {
            x[0].max_pool2d(3, 2, 1, 1, true)
        }),
        case("max_pool2d_dilated", vec![input(&[1, 2, 6, 5], 61)], |x| {
            x[0].max_pool2d([2, 3], [1, 2], [1, 0], [2, 1], false)
        }),
        case(
            "max_pool2d_second_order",
            vec![input(&[1, 2, 4, 4], 62)],
            |x| gradient_of(&x[0], |x| x.max_pool2d(2, 1, 0, 1, false)?.square()?.sum()),
        ),
        case("avg_pool2d", vec![input(&[2, 2, 5, 5], 63)], |x| {
            x[0].avg_pool2d(3, 2, 1, true, false, None)
        }),
        case("avg_pool2d_divisor", vec![input(&[1, 2, 5, 4], 64)], |x| {
            x[0].avg_pool2d([2, 3], [2, 1], [1, 1], false, true, Some(5))
        }),
        case(
            "avg_pool2d_second_order",
            vec![input(&[1, 2, 4, 4], 65)],
            |x| {
                gradient_of(&x[0], |x| {
                    x.avg_pool2d(3, 1, 1, false, true, None)?.pow(3.0)?.sum()
                })
            },
        ),
        case("adaptive_avg_pool2d", vec![input(&[1, 2, 7, 5], 66)], |x| {
            x[0].adaptive_avg_pool2d([3, 2])
        }),
        case(
            "adaptive_avg_pool2d_second_order",
            vec![input(&[1, 1, 5, 4], 67)],
            |x| gradient_of(&x[0], |x| x.adaptive_avg_pool2d(3)?.pow(3.0)?.sum()),
        ),
        // batch norm: training (through the batch statistics) and evaluation
        case(
            "batch_norm_train",
            vec![
                input(&[3, 2, 2, 2], 70),
                positive(&[2], 71),
                input(&[2], 72),
            ],
            |x| {
                let rm = Tensor::zeros(&[2], DType::F64, x[0].backend())?;
                let rv = Tensor::ones(&[2], DType::F64, x[0].backend())?;
                x[0].batch_norm(
                    Some(&rm),
                    Some(&rv),
                    Some(&x[1]),
                    Some(&x[2]),
                    true,
                    0.1,
                    1e-5,
                )
            },
        ),
        case(
            "batch_norm_train_2d_no_affine",
            vec![input(&[4, 3], 73)],
            |x| x[0].batch_norm(None, None, None, None, true, 0.1, 1e-5),
        ),
        case(
            "batch_norm_eval",
            vec![input(&[2, 3, 4], 74), input(&[3], 75), input(&[3], 76)],
            |x| {
                let rm = input(&[3], 77);
                let rv = positive(&[3], 78);
                x[0].batch_norm(
                    Some(&rm),
                    Some(&rv),
                    Some(&x[1]),
                    Some(&x[2]),
                    false,
                    0.1,
                    1e-5,
                )
            },
        ),
        case(
            "batch_norm_second_order",
            vec![input(&[3, 2, 3], 79), positive(&[2], 80)],
            |x| {
                let (w, r) = (x[1].clone(), input(&[3, 2, 3], 81));
                gradient_of(&x[0], move |x| {
                    x.batch_norm(None, None, Some(&w), None, true, 0.1, 1e-5)?
                        .mul(&r)?
                        .square()?
                        .sum()
                })
            },
        ),
        // views
        case("view", vec![a()], |x| x[0].view(&[3, 2])),
        case("reshape_noncontig", vec![a()], |x| x[0].t()?.reshape(&[-1])),
        case("flatten", vec![input(&[2, 3, 2], 24)], |x| {
            x[0].flatten(1, 2)
        }),
        case("unflatten", vec![input(&[2, 6], 25)], |x| {
            x[0].unflatten(1, &[3, 2])
        }),
        case("permute", vec![input(&[2, 3, 2], 26)], |x| {
            x[0].permute(&[2, 0, 1])
        }),
        case("transpose", vec![a()], |x| x[0].transpose(0, 1)),
        case("narrow", vec![input(&[4, 3], 27)], |x| x[0].narrow(0, 1, 2)),
        case("select", vec![a()], |x| x[0].select(1, -1)),
        case("slice_step", vec![input(&[7, 2], 28)], |x| {
            x[0].slice(0, 1, 6, 2)
        }),
        case("expand", vec![b()], |x| x[0].unsqueeze(0)?.expand(&[4, -1])),
        case("squeeze", vec![input(&[2, 1, 3], 29)], |x| x[0].squeeze()),
        case("squeeze_dim", vec![input(&[2, 1, 3], 30)], |x| {
            x[0].squeeze_dim(1)
        }),
        case("unsqueeze", vec![a()], |x| x[0].unsqueeze(1)),
        case("chunk", vec![input(&[5, 2], 31)], |x| {
            let parts = x[0].chunk(2, 0)?;
            parts[0].sum()?.add(&parts[1].square()?.sum()?)
        }),
        case("split", vec![input(&[2, 5], 32)], |x| {
            let parts = x[0].split(2, 1)?;
            Tensor::cat(&[&parts[2], &parts[0].exp()?], 1)
        }),
        // joins and copies
        case("cat", vec![a(), input(&[1, 3], 33)], |x| {
            Tensor::cat(&[&x[0], &x[1]], 0)
        }),
        case("stack", vec![a(), input(&[2, 3], 34)], |x| {
            Tensor::stack(&[&x[0], &x[1]], 1)
        }),
        case("clone", vec![a()], |x| x[0].t()?.contiguous()),
        // view_backward: the second derivative through narrow, select and slice.
        case("view_backward", vec![input(&[5, 2], 35)], |x| {
            gradient_of(&x[0], |x| {
                let picked = x.narrow(0, 1, 3)?.slice(0, 0, 3, 2)?.select(1, 0)?;
                picked.pow(3.0)?.sum()
            })
        }),
        // higher order through a small network
        case("hessian_of_mlp_piece", vec![input(&[2, 3], 36)], |x| {
            gradient_of(&x[0], |x| {
                x.matmul(&input(&[3, 2], 37))?.tanh()?.log_softmax(1)?.sum()
            })
        }),
    ];
    let mut to_dtype = case("to_dtype", vec![a()], |x| {
        x[0].to_dtype(DType::F32)?.to_dtype(DType::F64)?.square()
    });
    to_dtype.eps = 1e-2;
    to_dtype.atol = 1e-3;
    cases.push(to_dtype);
    cases
}

#[test]
fn every_op_with_a_backward_passes_gradcheck() {
    let mut failures = Vec::new();
    for c in cases() {
        if let Err(e) = autograd::gradcheck(&c.f, &c.inputs, c.eps, c.atol, 1e-4) {
            failures.push(format!("{}: {e}", c.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_op_with_a_backward_has_a_gradcheck_case() {
    let mut covered = BTreeSet::new();
    for c in cases() {
        let inputs: Vec<T> = c
            .inputs
            .iter()
            .map(|t| t.detach().requires_grad_(true).unwrap())
            .collect();
        let out = (c.f)(&inputs).unwrap();
        covered.extend(autograd::recorded_ops(&out));
    }
    let missing: Vec<&&str> = autograd::BACKWARD_OPS
        .iter()
        .filter(|op| !covered.contains(**op))
        .collect();
    assert!(
        missing.is_empty(),
        "ops with a backward but no gradcheck case: {missing:?}"
    );
    let unknown: Vec<&&str> = covered
        .iter()
        .filter(|op| !autograd::BACKWARD_OPS.contains(op))
        .collect();
    assert!(unknown.is_empty(), "recorded ops not listed: {unknown:?}");
}
