//! Golden gradients: PyTorch's `grad_inputs` for a given `grad_output`, per case.

use super::{Case, Golden};
use super::{
    CaseResult, Outcome, Report, check_tensors, download, host_tensor, ops, panic_message, upload,
};
use crate::{Backend, Error, Result};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Runs the gradient check of every case of `golden` that has gradients, on `backend`.
pub fn run_gradients<B: Backend>(golden: &Golden, backend: &B) -> Report {
    let cases = golden
        .cases
        .iter()
        .filter(|case| case.grad_output.is_some())
        .map(|case| CaseResult {
            name: case.name.clone(),
            op: case.op.clone(),
            outcome: run_gradient_case(golden, case, backend),
        })
        .collect();
    Report {
        backend: backend.name().to_string(),
        device: backend.device(),
        cases,
    }
}

/// Backpropagates the case's `grad_output` through its op and compares the inputs' gradients
/// with PyTorch's (`NotRun` for an op this runner does not know or a case without gradients).
pub fn run_gradient_case<B: Backend>(golden: &Golden, case: &Case, backend: &B) -> Outcome {
    let (Some(kind), Some(grad_key)) = (ops::lookup(&case.op), &case.grad_output) else {
        return Outcome::NotRun;
    };
    let computed = catch_unwind(AssertUnwindSafe(|| -> Result<Vec<_>> {
        let inputs = case
            .inputs
            .iter()
            .zip(&case.grad_inputs)
            .map(|(key, grad)| {
                let t = upload(host_tensor(golden, case, key)?, backend)?;
                if grad.is_some() && t.dtype().is_float() {
                    t.requires_grad_(true)
                } else {
                    Ok(t)
                }
            })
            .collect::<Result<Vec<_>>>()?;
        let outputs = ops::eval(kind, &case.args, &inputs)?;
        let output = outputs.first().ok_or_else(|| {
            Error::invalid("conformance", format!("case {} has no output", case.name))
        })?;
        let grad_output = upload(host_tensor(golden, case, grad_key)?, backend)?;
        output.backward_with(&grad_output)?;
        inputs
            .iter()
            .zip(&case.grad_inputs)
            .filter(|(_, key)| key.is_some())
            .map(|(t, _)| match t.grad() {
                Some(g) => download(&g),
                None => download(&t.zeros_like()?),
            })
            .collect()
    }));
    match computed {
        Err(payload) => Outcome::Failed(super::Failure::Panic(panic_message(payload.as_ref()))),
        Ok(Err(e @ Error::Unsupported { .. })) => Outcome::Unsupported(e.to_string()),
        Ok(Err(e)) => Outcome::Failed(super::Failure::Error(e.to_string())),
        Ok(Ok(ours)) => {
            let keys: Vec<String> = case.grad_inputs.iter().flatten().cloned().collect();
            check_tensors(golden, case, &keys, &ours, "grad_in")
        }
    }
}
