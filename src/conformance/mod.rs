//! Checks a backend against PyTorch's golden outputs.
//!
//! A golden directory holds `ops.json` (cases: an op name, `args`, input and output tensor
//! names, tolerances) and `ops.safetensors` (the tensors), as described in the reference README.
//! [`Golden::load`] reads and validates both; [`run`] computes every case's forward pass on a
//! backend and compares each output with PyTorch's: same dtype, same shape, and
//! `|ours - theirs| <= atol + rtol * |theirs|` (exact for integer and bool outputs).
//!
//! Each case ends in one [`Outcome`]: passed, failed (an error, a panic, a wrong dtype, shape
//! or value), not run (an op this runner does not know yet: see [`SUPPORTED_OPS`]; never counted
//! as passed) or unsupported (the backend said so with `Error::Unsupported`).
//!
//! [`run_gradients`] checks the gradient fields: for every case with a `grad_output`, the
//! floating-point inputs that have a `grad_inputs` entry are made leaves that require grad, the
//! op runs, its first output is backpropagated with `grad_output`, and each input's `.grad` is
//! compared with PyTorch's.
//!
//! ```no_run
//! # #[cfg(feature = "cpu")]
//! # fn main() -> tiny_torch::Result<()> {
//! use tiny_torch::conformance::{Golden, run};
//! let golden = Golden::load("tests/data/golden")?;
//! let report = run(&golden, &tiny_torch::Cpu);
//! print!("{}", report.table());
//! assert!(report.is_success());
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "cpu"))]
//! # fn main() {}
//! ```
//!
//! Only [`run`], [`run_case`] and the op mapping are generic over the backend; loading,
//! comparison and reporting are host code compiled once.

mod compare;
mod golden;
mod gradients;
mod ops;
mod report;

pub use compare::compare;
pub use golden::{CASES_FILE, Case, Golden, HostTensor, TENSORS_FILE, dtype_from_safetensors};
pub use gradients::{run_gradient_case, run_gradients};
pub use ops::SUPPORTED_OPS;
pub use report::{CaseResult, Failure, OpSummary, Outcome, Report, Totals, Worst};

use crate::{Backend, DType, Element, Error, Result, Tensor, bf16, f16};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Whether this runner knows how to compute golden op `op`.
pub fn is_supported(op: &str) -> bool {
    ops::lookup(op).is_some()
}

/// Runs every case of `golden` on `backend`.
pub fn run<B: Backend>(golden: &Golden, backend: &B) -> Report {
    let cases = golden
        .cases
        .iter()
        .map(|case| CaseResult {
            name: case.name.clone(),
            op: case.op.clone(),
            outcome: run_case(golden, case, backend),
        })
        .collect();
    Report {
        backend: backend.name().to_string(),
        device: backend.device(),
        cases,
    }
}

/// Runs one case of `golden` on `backend`.
pub fn run_case<B: Backend>(golden: &Golden, case: &Case, backend: &B) -> Outcome {
    let Some(kind) = ops::lookup(&case.op) else {
        return Outcome::NotRun;
    };
    let computed = catch_unwind(AssertUnwindSafe(|| -> Result<Vec<HostTensor>> {
        let inputs = case
            .inputs
            .iter()
            .map(|key| upload(host_tensor(golden, case, key)?, backend))
            .collect::<Result<Vec<_>>>()?;
        let outputs = ops::eval(kind, &case.args, &inputs)?;
        outputs.iter().map(download).collect()
    }));
    match computed {
        Err(payload) => Outcome::Failed(Failure::Panic(panic_message(payload.as_ref()))),
        Ok(Err(e @ Error::Unsupported { .. })) => Outcome::Unsupported(e.to_string()),
        Ok(Err(e)) => Outcome::Failed(Failure::Error(e.to_string())),
        Ok(Ok(ours)) => check_outputs(golden, case, &ours),
    }
}

/// Compares our outputs with the case's expected ones (host code).
fn check_outputs(golden: &Golden, case: &Case, ours: &[HostTensor]) -> Outcome {
    check_tensors(golden, case, &case.outputs, ours, "out")
}

/// Compares `ours` with the case's tensors `keys`, naming them `{label}{i}` in failures.
fn check_tensors(
    golden: &Golden,
    case: &Case,
    keys: &[String],
    ours: &[HostTensor],
    label: &str,
) -> Outcome {
    if ours.len() != keys.len() {
        return Outcome::Failed(Failure::OutputCount {
            ours: ours.len(),
            theirs: keys.len(),
        });
    }
    let mut max_abs_err: f64 = 0.0;
    for (i, (key, ours)) in keys.iter().zip(ours).enumerate() {
        let theirs = match host_tensor(golden, case, key) {
            Ok(t) => t,
            Err(e) => return Outcome::Failed(Failure::Error(e.to_string())),
        };
        match compare(&format!("{label}{i}"), ours, theirs, case.rtol, case.atol) {
            Ok(err) => max_abs_err = max_abs_err.max(err),
            Err(failure) => return Outcome::Failed(failure),
        }
    }
    Outcome::Passed { max_abs_err }
}

fn host_tensor<'g>(golden: &'g Golden, case: &Case, key: &str) -> Result<&'g HostTensor> {
    golden.tensor(key).ok_or_else(|| {
        Error::file(
            golden.dir.join(TENSORS_FILE),
            format!("tensor '{key}' of case '{}' is missing", case.name),
        )
    })
}

/// A host tensor on `backend`, through the public creation API.
fn upload<B: Backend>(t: &HostTensor, backend: &B) -> Result<Tensor<B>> {
    fn make<T: Element, B: Backend>(t: &HostTensor, backend: &B) -> Result<Tensor<B>> {
        Tensor::from_vec(T::from_bytes(&t.bytes), &t.shape, backend)
    }
    match t.dtype {
        DType::Bool => make::<bool, B>(t, backend),
        DType::U8 => make::<u8, B>(t, backend),
        DType::I32 => make::<i32, B>(t, backend),
        DType::I64 => make::<i64, B>(t, backend),
        DType::F16 => make::<f16, B>(t, backend),
        DType::BF16 => make::<bf16, B>(t, backend),
        DType::F32 => make::<f32, B>(t, backend),
        DType::F64 => make::<f64, B>(t, backend),
    }
}

/// A tensor's elements on the host, in its own dtype (no conversion on the device).
fn download<B: Backend>(t: &Tensor<B>) -> Result<HostTensor> {
    fn bytes<T: Element, B: Backend>(t: &Tensor<B>) -> Result<Vec<u8>> {
        Ok(T::to_bytes(&t.to_vec::<T>()?))
    }
    let bytes = match t.dtype() {
        DType::Bool => bytes::<bool, B>(t)?,
        DType::U8 => bytes::<u8, B>(t)?,
        DType::I32 => bytes::<i32, B>(t)?,
        DType::I64 => bytes::<i64, B>(t)?,
        DType::F16 => bytes::<f16, B>(t)?,
        DType::BF16 => bytes::<bf16, B>(t)?,
        DType::F32 => bytes::<f32, B>(t)?,
        DType::F64 => bytes::<f64, B>(t)?,
    };
    Ok(HostTensor {
        dtype: t.dtype(),
        shape: t.dims().to_vec(),
        bytes,
    })
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".to_string()
    }
}
