//! Errors and edge cases: shape mismatches, dims and indices out of range, incompatible dtypes,
//! empty and zero-size tensors, non-contiguous and overlapping inputs. Every error must be an
//! `Err` (never a panic) whose message names the op, as PyTorch's messages do.

use crate::common::*;
use tiny_torch::{Backend, DType, Layout, Result, Scalar, Tensor, View, ViewMut};

pub fn check_errors<B: Backend>(b: &B) {
    run_checks(
        "errors",
        b,
        &[
            ("shape_mismatch", shape_mismatch::<B>),
            ("dim_out_of_range", dim_out_of_range::<B>),
            ("index_out_of_range", index_out_of_range::<B>),
            ("incompatible_dtypes", incompatible_dtypes::<B>),
            ("empty_and_zero_size", empty_and_zero_size::<B>),
            (
                "non_contiguous_and_overlapping",
                non_contiguous_and_overlapping::<B>,
            ),
            ("views_past_their_storage", views_past_their_storage::<B>),
        ],
    );
}

fn unit<T>(r: Result<T>) -> Result<()> {
    r.map(|_| ())
}

/// Asserts each (what, result, words): an error whose message contains all the words.
#[track_caller]
fn expect_errors(cases: Vec<(&str, Result<()>, &[&str])>) {
    let mut failures = Vec::new();
    for (what, result, words) in cases {
        match result {
            Ok(()) => failures.push(format!(
                "{what}: expected an error mentioning {words:?}, got Ok"
            )),
            Err(e) => {
                let msg = e.to_string();
                let missing: Vec<&&str> = words.iter().filter(|w| !msg.contains(**w)).collect();
                if !missing.is_empty() {
                    failures.push(format!(
                        "{what}: error {msg:?} does not mention {missing:?}"
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} error checks failed:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

fn zeros<B: Backend>(shape: &[usize], b: &B) -> Tensor<B> {
    Tensor::zeros(shape, DType::F32, b).unwrap()
}

fn idx<B: Backend>(v: &[i64], b: &B) -> Tensor<B> {
    Tensor::from_vec(v.to_vec(), &[v.len()], b).unwrap()
}

fn shape_mismatch<B: Backend>(b: &B) {
    let a = zeros(&[2, 3], b);
    expect_errors(vec![
        (
            "add [2,3] + [4]",
            unit(a.add(&zeros(&[4], b))),
            &["add", "[2, 3]", "[4]"],
        ),
        (
            "mul [2,3] * [3,3]",
            unit(a.mul(&zeros(&[3, 3], b))),
            &["mul"],
        ),
        (
            "matmul [2,3] x [4,5]",
            unit(a.matmul(&zeros(&[4, 5], b))),
            &["matmul", "[2, 3]", "[4, 5]"],
        ),
        (
            "matmul batch [2,2,3] x [3,3,1]",
            unit(zeros(&[2, 2, 3], b).matmul(&zeros(&[3, 3, 1], b))),
            &["matmul"],
        ),
        (
            "matmul of a 0-dim",
            unit(zeros(&[], b).matmul(&a)),
            &["matmul"],
        ),
        (
            "mm of 3-D",
            unit(zeros(&[2, 2, 3], b).mm(&zeros(&[3, 2], b))),
            &["mm"],
        ),
        ("bmm of 2-D", unit(a.bmm(&zeros(&[3, 2], b))), &["bmm"]),
        (
            "bmm batch sizes",
            unit(zeros(&[2, 2, 3], b).bmm(&zeros(&[3, 3, 2], b))),
            &["bmm"],
        ),
        ("view [2,3] as [4,-1]", unit(a.view(&[4, -1])), &["view"]),
        ("view with two -1", unit(a.view(&[-1, -1])), &["view"]),
        ("reshape [2,3] as [5]", unit(a.reshape(&[5])), &["reshape"]),
        (
            "cat [2,3] and [3,4] on dim 1",
            unit(Tensor::cat(&[&a, &zeros(&[3, 4], b)], 1)),
            &["cat"],
        ),
        ("cat of nothing", unit(Tensor::<B>::cat(&[], 0)), &["cat"]),
        (
            "cat 2-D and 1-D",
            unit(Tensor::cat(&[&a, &zeros(&[3], b)], 0)),
            &["cat"],
        ),
        (
            "stack [2,3] and [3,2]",
            unit(Tensor::stack(&[&a, &zeros(&[3, 2], b)], 0)),
            &["stack"],
        ),
        (
            "expand [2,3] to [2,2]",
            unit(a.expand(&[2, 2])),
            &["expand"],
        ),
        ("expand to fewer dims", unit(a.expand(&[3])), &["expand"]),
        (
            "from_vec 5 values as [2,3]",
            unit(Tensor::from_vec(vec![0f32; 5], &[2, 3], b)),
            &["from_", "[2, 3]", "5"],
        ),
        (
            "where cond [4] with [2,3]",
            unit(Tensor::where_cond(
                &Tensor::zeros(&[4], DType::Bool, b).unwrap(),
                &a,
                &a,
            )),
            &["where"],
        ),
        (
            "masked_fill mask [4] on [2,3]",
            unit(a.masked_fill(&Tensor::zeros(&[4], DType::Bool, b).unwrap(), 1.0)),
            &["masked_fill"],
        ),
        (
            "gather index of other ndim",
            unit(a.gather(1, &idx(&[0, 1], b))),
            &["gather"],
        ),
        (
            "index_select with a 2-D index",
            unit(a.index_select(0, &Tensor::zeros(&[1, 1], DType::I64, b).unwrap())),
            &["index_select"],
        ),
        (
            "scatter_add src smaller than index",
            unit(a.scatter_add(
                0,
                &Tensor::zeros(&[2, 3], DType::I64, b).unwrap(),
                &zeros(&[1, 1], b),
            )),
            &["scatter_add"],
        ),
        (
            "copy_ [4] into [2,3]",
            unit(a.copy_(&zeros(&[4], b))),
            &["copy_"],
        ),
        (
            "add_ broadcasting self [3] to [2,3]",
            unit(zeros(&[3], b).add_(&a)),
            &["add_"],
        ),
        (
            "add_out into a wrong shape",
            unit(a.add_out(&a, &zeros(&[3, 2], b))),
            &["add"],
        ),
        (
            "split_with_sizes not summing to the size",
            unit(a.split_with_sizes(&[1, 1], 1)),
            &["split_with_sizes"],
        ),
        (
            "unflatten sizes not matching",
            unit(a.unflatten(1, &[2, 2])),
            &["unflatten"],
        ),
        ("t() of 3-D", unit(zeros(&[2, 2, 2], b).t()), &["t"]),
        ("chunk(0)", unit(a.chunk(0, 0)), &["chunk"]),
        (
            "arange with a zero step",
            unit(Tensor::arange(0.0, 1.0, 0.0, DType::F32, b)),
            &["arange"],
        ),
    ]);
}

fn dim_out_of_range<B: Backend>(b: &B) {
    let a = zeros(&[2, 3], b);
    let range = "dimension out of range";
    expect_errors(vec![
        (
            "sum_dim [2]",
            unit(a.sum_dim(&[2], false)),
            &["sum", range, "2"],
        ),
        (
            "sum_dim [-3]",
            unit(a.sum_dim(&[-3], false)),
            &["sum", range, "-3"],
        ),
        (
            "sum_dim repeated dims",
            unit(a.sum_dim(&[1, -1], false)),
            &["sum"],
        ),
        (
            "mean_dim [5]",
            unit(a.mean_dim(&[5], false)),
            &["mean", range],
        ),
        ("max_dim 2", unit(a.max_dim(2, false)), &["max", range]),
        (
            "argmax Some(2)",
            unit(a.argmax(Some(2), false)),
            &["argmax", range],
        ),
        ("var [2]", unit(a.var(&[2], 1.0, false)), &["var", range]),
        (
            "logsumexp [3]",
            unit(a.logsumexp(&[3], false)),
            &["logsumexp", range],
        ),
        ("softmax 2", unit(a.softmax(2)), &["softmax", range]),
        (
            "log_softmax -3",
            unit(a.log_softmax(-3)),
            &["log_softmax", range],
        ),
        (
            "transpose 0, 2",
            unit(a.transpose(0, 2)),
            &["transpose", range],
        ),
        ("permute [0, 2]", unit(a.permute(&[0, 2])), &["permute"]),
        ("permute [0, 0]", unit(a.permute(&[0, 0])), &["permute"]),
        ("permute [0]", unit(a.permute(&[0])), &["permute"]),
        ("narrow dim 2", unit(a.narrow(2, 0, 1)), &["narrow", range]),
        ("select dim -3", unit(a.select(-3, 0)), &["select", range]),
        ("slice dim 2", unit(a.slice(2, 0, 1, 1)), &["slice", range]),
        ("unsqueeze 3", unit(a.unsqueeze(3)), &["unsqueeze", range]),
        ("squeeze_dim 2", unit(a.squeeze_dim(2)), &["squeeze", range]),
        ("flatten 0..2", unit(a.flatten(0, 2)), &["flatten", range]),
        (
            "cat dim 2",
            unit(Tensor::cat(&[&a, &a], 2)),
            &["cat", range],
        ),
        (
            "stack dim 3",
            unit(Tensor::stack(&[&a, &a], 3)),
            &["stack", range],
        ),
        (
            "index_select dim 2",
            unit(a.index_select(2, &idx(&[0], b))),
            &["index_select", range],
        ),
        (
            "gather dim 2",
            unit(a.gather(2, &Tensor::zeros(&[2, 3], DType::I64, b).unwrap())),
            &["gather", range],
        ),
        ("chunk dim 2", unit(a.chunk(2, 2)), &["chunk", range]),
        ("size(2)", unit(a.size(2)), &[range]),
        ("slice step 0", unit(a.slice(0, 0, 1, 0)), &["slice"]),
    ]);
}

fn index_out_of_range<B: Backend>(b: &B) {
    let a = zeros(&[4, 6], b);
    let oob = "out of bounds";
    expect_errors(vec![
        (
            "index_select 4 of 4",
            unit(
                a.index_select(0, &idx(&[0, 4], b))
                    .and_then(|t| t.to_vec::<f32>()),
            ),
            &["index_select", oob, "4"],
        ),
        (
            "index_select -1",
            unit(
                a.index_select(0, &idx(&[-1], b))
                    .and_then(|t| t.to_vec::<f32>()),
            ),
            &["index_select"],
        ),
        (
            "gather 6 of 6",
            unit(
                a.gather(1, &Tensor::full(&[4, 1], 6, DType::I64, b).unwrap())
                    .and_then(|t| t.to_vec::<f32>()),
            ),
            &["gather", oob],
        ),
        (
            "scatter_add 4 of 4",
            unit(
                a.scatter_add(
                    0,
                    &Tensor::full(&[1, 6], 4, DType::I64, b).unwrap(),
                    &zeros(&[1, 6], b),
                )
                .and_then(|t| t.to_vec::<f32>()),
            ),
            &["scatter_add", oob],
        ),
        (
            "scatter_ -7 of 6",
            unit(
                a.scatter_(
                    1,
                    &Tensor::full(&[1, 1], -7, DType::I64, b).unwrap(),
                    &zeros(&[1, 1], b),
                )
                .and_then(|_| a.to_vec::<f32>()),
            ),
            &["scatter"],
        ),
        ("select 4 of 4", unit(a.select(0, 4)), &["select", "4"]),
        ("select -7 of 6", unit(a.select(1, -7)), &["select", "-7"]),
        ("narrow 3 + 4 > 6", unit(a.narrow(1, 3, 4)), &["narrow"]),
        ("item of 24 elements", unit(a.item::<f32>()), &["item"]),
        (
            "stack of nothing",
            unit(Tensor::<B>::stack(&[], 0)),
            &["stack"],
        ),
    ]);
}

fn incompatible_dtypes<B: Backend>(b: &B) {
    let a = zeros(&[2, 3], b);
    let ints = Tensor::zeros(&[2, 3], DType::I64, b).unwrap();
    let bools = Tensor::zeros(&[2, 3], DType::Bool, b).unwrap();
    expect_errors(vec![
        (
            "masked_fill with a float mask",
            unit(a.masked_fill(&a, 1.0)),
            &["masked_fill"],
        ),
        (
            "where with a float cond",
            unit(Tensor::where_cond(&a, &a, &a)),
            &["where"],
        ),
        (
            "index_select with a float index",
            unit(a.index_select(0, &zeros(&[1], b))),
            &["index_select"],
        ),
        (
            "gather with a float index",
            unit(a.gather(1, &Tensor::zeros(&[2, 1], DType::F32, b).unwrap())),
            &["gather", "float32"],
        ),
        (
            "scatter_add with a float index",
            unit(a.scatter_add(0, &a, &a)),
            &["scatter_add"],
        ),
        (
            "scatter_add src of another dtype",
            unit(a.scatter_add(0, &ints, &ints)),
            &["scatter_add"],
        ),
        ("mean of int64", unit(ints.mean()), &["mean", "int64"]),
        (
            "mean_dim of int64",
            unit(ints.mean_dim(&[0], false)),
            &["mean", "int64"],
        ),
        (
            "var of int64",
            unit(ints.var(&[0], 1.0, false)),
            &["var", "int64"],
        ),
        (
            "std of bool",
            unit(bools.std(&[0], 1.0, false)),
            &["std", "bool"],
        ),
        (
            "argmax of bool",
            unit(ints.ne(0i64).unwrap().argmax(None, false)),
            &["argmax", "bool"],
        ),
        ("norm of int64", unit(ints.norm()), &["norm", "int64"]),
        ("i64.add_(2.5)", unit(ints.add_(2.5)), &["add_"]),
        ("i64.mul_(f32 tensor)", unit(ints.mul_(&a)), &["mul_"]),
        ("bool.add_(1)", unit(bools.add_(1i64)), &["add_"]),
        ("bool - bool", unit(bools.sub(&bools)), &["sub"]),
        (
            "matmul f32 @ f64",
            unit(a.matmul(&Tensor::zeros(&[3, 2], DType::F64, b).unwrap())),
            &["matmul"],
        ),
        (
            "add_out of floats into an int64 out",
            unit(a.add_out(&a, &ints)),
            &["add"],
        ),
        (
            "randn int64",
            unit(Tensor::randn_with(
                &[2],
                DType::I64,
                b,
                &tiny_torch::Generator::new(0),
            )),
            &["int64"],
        ),
        (
            "rand bool",
            unit(Tensor::rand_with(
                &[2],
                DType::Bool,
                b,
                &tiny_torch::Generator::new(0),
            )),
            &["bool"],
        ),
        (
            "bernoulli of int64",
            unit(ints.bernoulli_with(&tiny_torch::Generator::new(0))),
            &["bernoulli"],
        ),
        (
            "to_vec::<f64> of f32",
            unit(a.to_vec::<f64>()),
            &["to_vec", "float32"],
        ),
        (
            "item::<i64> of f32",
            unit(zeros(&[1], b).item::<i64>()),
            &["float32"],
        ),
        (
            "randint low >= high",
            unit(Tensor::randint_with(
                3,
                3,
                &[2],
                b,
                &tiny_torch::Generator::new(0),
            )),
            &["randint"],
        ),
        (
            "normal std < 0",
            unit(Tensor::normal_with(
                0.0,
                -1.0,
                &[2],
                DType::F32,
                b,
                &tiny_torch::Generator::new(0),
            )),
            &["normal"],
        ),
    ]);
}

fn empty_and_zero_size<B: Backend>(b: &B) {
    let e = zeros(&[0], b);
    let z = zeros(&[0, 3], b);
    // Reductions over nothing: sum 0, prod 1, mean NaN (as PyTorch); max/argmax need elements.
    assert_exact("sum of []", &e.sum().unwrap(), &[0.0], &[], DType::F32);
    assert_exact("prod of []", &e.prod().unwrap(), &[1.0], &[], DType::F32);
    assert_exact(
        "mean of []",
        &e.mean().unwrap(),
        &[f64::NAN],
        &[],
        DType::F32,
    );
    assert_exact(
        "sum_dim(0) of [0,3]",
        &z.sum_dim(&[0], false).unwrap(),
        &[0.0; 3],
        &[3],
        DType::F32,
    );
    assert_exact(
        "sum_dim(1) of [0,3]",
        &z.sum_dim(&[1], true).unwrap(),
        &[],
        &[0, 1],
        DType::F32,
    );
    assert_exact(
        "max_dim(1) of [0,3]",
        &z.max_dim(1, false).unwrap().0,
        &[],
        &[0],
        DType::F32,
    );
    assert_exact("any of []", &e.any().unwrap(), &[0.0], &[], DType::Bool);
    assert_exact("all of []", &e.all().unwrap(), &[1.0], &[], DType::Bool);
    // Element-wise, softmax, views and copies of zero-size tensors.
    assert_exact(
        "[0,3] + [3]",
        &z.add(&zeros(&[3], b)).unwrap(),
        &[],
        &[0, 3],
        DType::F32,
    );
    assert_exact("exp of [0,3]", &z.exp().unwrap(), &[], &[0, 3], DType::F32);
    assert_exact(
        "softmax of [0,3]",
        &z.softmax(1).unwrap(),
        &[],
        &[0, 3],
        DType::F32,
    );
    assert_exact(
        "softmax(0) of [0,3]",
        &z.softmax(0).unwrap(),
        &[],
        &[0, 3],
        DType::F32,
    );
    assert_exact(
        "t() of [0,3]",
        &z.t().unwrap().contiguous().unwrap(),
        &[],
        &[3, 0],
        DType::F32,
    );
    assert_exact(
        "reshape [0,3] to [3,0,1]",
        &z.reshape(&[3, 0, 1]).unwrap(),
        &[],
        &[3, 0, 1],
        DType::F32,
    );
    assert_exact(
        "cat of [0,3] and [2,3]",
        &Tensor::cat(&[&z, &zeros(&[2, 3], b)], 0).unwrap(),
        &[0.0; 6],
        &[2, 3],
        DType::F32,
    );
    assert_exact(
        "[0] to i64",
        &e.to_dtype(DType::I64).unwrap(),
        &[],
        &[0],
        DType::I64,
    );
    assert!(e.to_vec::<f32>().unwrap().is_empty());
    let dst = zeros(&[0, 3], b);
    dst.add_(1.0).unwrap();
    dst.copy_(&zeros(&[3], b)).unwrap();
    expect_errors(vec![
        ("max of []", unit(e.max()), &["max"]),
        ("min of []", unit(e.min()), &["min"]),
        ("argmax of []", unit(e.argmax(None, false)), &["argmax"]),
        ("max_dim(0) of [0,3]", unit(z.max_dim(0, false)), &["max"]),
        ("amax(0) of [0,3]", unit(z.amax(&[0], false)), &["amax"]),
        ("item of []", unit(e.item::<f32>()), &["item"]),
        (
            "reshape [0,3] to [-1,0]",
            unit(z.reshape(&[-1, 0])),
            &["reshape"],
        ),
    ]);
}

fn non_contiguous_and_overlapping<B: Backend>(b: &B) {
    let a = f32_tensor(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3], b);
    let at = a.t().unwrap();
    let row = f32_tensor(&[1.0, 2.0, 3.0], &[1, 3], b);
    let expanded = row.expand(&[4, 3]).unwrap();
    expect_errors(vec![
        // view needs compatible strides; reshape copies instead.
        ("view of a transpose", unit(at.view(&[6])), &["view"]),
        // Writing into an expanded tensor would write one element several times.
        (
            "add_ into an expanded tensor",
            unit(expanded.add_(1.0)),
            &["add_"],
        ),
        (
            "relu_ of an expanded tensor",
            unit(expanded.relu_()),
            &["relu"],
        ),
        (
            "copy_ into an expanded tensor",
            unit(expanded.copy_(&zeros(&[4, 3], b))),
            &["copy_"],
        ),
        (
            "scatter_ into an expanded tensor",
            unit(expanded.scatter_(
                0,
                &Tensor::zeros(&[1, 1], DType::I64, b).unwrap(),
                &zeros(&[1, 1], b),
            )),
            &["scatter_"],
        ),
        (
            "add_out into an expanded tensor",
            unit(a.add_out(&a, &zeros(&[1, 3], b).expand(&[2, 3]).unwrap())),
            &["add"],
        ),
    ]);
    // ...and the reads of the failed writes left the data alone.
    assert_exact(
        "the expanded source is unchanged",
        &row,
        &[1.0, 2.0, 3.0],
        &[1, 3],
        DType::F32,
    );
    // Non-contiguous inputs are accepted everywhere (they are only read).
    assert_exact(
        "reshape of a transpose",
        &at.reshape(&[6]).unwrap(),
        &[1.0, 4.0, 2.0, 5.0, 3.0, 6.0],
        &[6],
        DType::F32,
    );
    assert_exact(
        "expanded + transpose",
        &expanded
            .narrow(0, 0, 3)
            .unwrap()
            .add(&at.expand(&[3, 2]).unwrap().sum_dim(&[1], true).unwrap())
            .unwrap(),
        &[6.0, 7.0, 8.0, 8.0, 9.0, 10.0, 10.0, 11.0, 12.0],
        &[3, 3],
        DType::F32,
    );
}

/// The backend API takes any layout: one that runs past its storage is an error naming the
/// op on every backend (a GPU buffer is rounded up, so reading past the end would return
/// stale memory instead of failing).
fn views_past_their_storage<B: Backend>(b: &B) {
    let mut four = b.alloc(DType::F32, 4).unwrap();
    let mut other = b.alloc(DType::F32, 4).unwrap();
    let past = Layout::new([4], vec![1], 10).unwrap();
    let fits = Layout::contiguous([4]);
    expect_errors(vec![
        (
            "fill",
            b.fill(ViewMut::new(&mut four, &past), Scalar::from(1.0)),
            &["fill"],
        ),
        (
            "copy from",
            b.copy(View::new(&four, &past), ViewMut::new(&mut other, &fits)),
            &["copy"],
        ),
        (
            "copy into",
            b.copy(View::new(&other, &fits), ViewMut::new(&mut four, &past)),
            &["copy"],
        ),
        (
            "to_bytes",
            unit(b.to_bytes(View::new(&four, &past))),
            &["to_bytes"],
        ),
    ]);
    // matmul's operands: [1, 2, 2] from 4 elements fits, from an offset of 10 does not; the
    // inner sizes and the dtypes must agree.
    let square = Layout::contiguous([1, 2, 2]);
    let square_past = Layout::new([1, 2, 2], vec![4, 2, 1], 10).unwrap();
    let tall = Layout::contiguous([1, 4, 1]);
    let f64s = b.alloc(DType::F64, 4).unwrap();
    expect_errors(vec![
        (
            "matmul lhs past its storage",
            unit(b.matmul(View::new(&four, &square_past), View::new(&other, &square))),
            &["matmul"],
        ),
        (
            "matmul rhs past its storage",
            unit(b.matmul(View::new(&four, &square), View::new(&other, &square_past))),
            &["matmul"],
        ),
        (
            "matmul inner sizes",
            unit(b.matmul(View::new(&four, &square), View::new(&other, &tall))),
            &["matmul"],
        ),
        (
            "matmul dtypes",
            unit(b.matmul(View::new(&four, &square), View::new(&f64s, &square))),
            &["matmul"],
        ),
    ]);
}
