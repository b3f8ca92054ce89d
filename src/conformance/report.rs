//! Results of a conformance run: per case, per op, in total, and as a printable table.

use crate::{DType, Device};
use std::fmt;

/// The element that is furthest out of (or closest to) tolerance.
#[derive(Clone, Debug, PartialEq)]
pub struct Worst {
    /// Multi-index of the element in the output.
    pub index: Vec<usize>,
    pub ours: f64,
    pub theirs: f64,
    pub abs_err: f64,
    /// `atol + rtol * |theirs|` (0 for exact dtypes).
    pub allowed: f64,
}

impl Worst {
    /// `abs_err / allowed`: above 1 is out of tolerance.
    pub fn ratio(&self) -> f64 {
        if self.abs_err == 0.0 {
            0.0
        } else if self.allowed == 0.0 || !self.abs_err.is_finite() {
            f64::INFINITY
        } else {
            self.abs_err / self.allowed
        }
    }
}

/// Why a case failed.
#[derive(Clone, Debug, PartialEq)]
pub enum Failure {
    /// The op returned an error.
    Error(String),
    /// The op panicked (a bug: library code must return errors).
    Panic(String),
    OutputCount {
        ours: usize,
        theirs: usize,
    },
    DType {
        output: String,
        ours: DType,
        theirs: DType,
    },
    Shape {
        output: String,
        ours: Vec<usize>,
        theirs: Vec<usize>,
    },
    /// `bad` of `numel` elements out of tolerance; `worst` is the one furthest out.
    Values {
        output: String,
        bad: usize,
        numel: usize,
        worst: Worst,
    },
}

impl Failure {
    /// How bad the failure is, to pick the worst per op: the error ratio for value
    /// mismatches, infinity for everything else.
    pub fn severity(&self) -> f64 {
        match self {
            Failure::Values { worst, .. } => worst.ratio(),
            _ => f64::INFINITY,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Error(msg) => write!(f, "error: {msg}"),
            Failure::Panic(msg) => write!(f, "panicked: {msg}"),
            Failure::OutputCount { ours, theirs } => {
                write!(f, "{ours} outputs, expected {theirs}")
            }
            Failure::DType {
                output,
                ours,
                theirs,
            } => write!(f, "{output}: dtype {ours}, expected {theirs}"),
            Failure::Shape {
                output,
                ours,
                theirs,
            } => write!(f, "{output}: shape {ours:?}, expected {theirs:?}"),
            Failure::Values {
                output,
                bad,
                numel,
                worst,
            } => write!(
                f,
                "{output}{:?}: got {}, expected {} (|err| {:.3e} > tol {:.3e}); {bad} of {numel} \
                 elements out of tolerance",
                worst.index, worst.ours, worst.theirs, worst.abs_err, worst.allowed
            ),
        }
    }
}

/// The result of one case.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Every output within tolerance; `max_abs_err` over all float outputs.
    Passed {
        max_abs_err: f64,
    },
    Failed(Failure),
    /// The op is unknown to this runner (a later issue adds it).
    NotRun,
    /// The backend reported that it does not support this op or dtype (`Error::Unsupported`).
    Unsupported(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct CaseResult {
    pub name: String,
    pub op: String,
    pub outcome: Outcome,
}

/// The cases of one op, summed up.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OpSummary {
    pub op: String,
    pub cases: usize,
    pub passed: usize,
    pub failed: usize,
    pub not_run: usize,
    pub unsupported: usize,
    /// The largest error among passed cases.
    pub max_abs_err: f64,
    /// The worst failure: case name and what went wrong.
    pub worst_failure: Option<(String, Failure)>,
    /// The first unsupported message.
    pub unsupported_reason: Option<String>,
}

/// Counts over all cases.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub cases: usize,
    pub passed: usize,
    pub failed: usize,
    pub not_run: usize,
    pub unsupported: usize,
}

/// The result of running a golden directory on one backend.
#[derive(Clone, Debug)]
pub struct Report {
    /// The backend's name (`cpu`, `cuda`, `wgpu`).
    pub backend: String,
    pub device: Device,
    /// Every case, in the golden file's order.
    pub cases: Vec<CaseResult>,
}

impl Report {
    /// Per-op summaries, in order of first appearance in the golden file.
    pub fn ops(&self) -> Vec<OpSummary> {
        let mut ops: Vec<OpSummary> = Vec::new();
        for case in &self.cases {
            let i = match ops.iter().position(|s| s.op == case.op) {
                Some(i) => i,
                None => {
                    ops.push(OpSummary {
                        op: case.op.clone(),
                        ..OpSummary::default()
                    });
                    ops.len() - 1
                }
            };
            let summary = &mut ops[i];
            summary.cases += 1;
            match &case.outcome {
                Outcome::Passed { max_abs_err } => {
                    summary.passed += 1;
                    summary.max_abs_err = summary.max_abs_err.max(*max_abs_err);
                }
                Outcome::Failed(failure) => {
                    summary.failed += 1;
                    let worse = summary
                        .worst_failure
                        .as_ref()
                        .is_none_or(|(_, w)| failure.severity() > w.severity());
                    if worse {
                        summary.worst_failure = Some((case.name.clone(), failure.clone()));
                    }
                }
                Outcome::NotRun => summary.not_run += 1,
                Outcome::Unsupported(reason) => {
                    summary.unsupported += 1;
                    summary
                        .unsupported_reason
                        .get_or_insert_with(|| reason.clone());
                }
            }
        }
        ops
    }

    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for case in &self.cases {
            t.cases += 1;
            match case.outcome {
                Outcome::Passed { .. } => t.passed += 1,
                Outcome::Failed(_) => t.failed += 1,
                Outcome::NotRun => t.not_run += 1,
                Outcome::Unsupported(_) => t.unsupported += 1,
            }
        }
        t
    }

    /// Ops of which at least one case was not run, in file order.
    pub fn not_run_ops(&self) -> Vec<String> {
        self.ops_where(|o| matches!(o, Outcome::NotRun))
    }

    /// Ops of which at least one case failed, in file order.
    pub fn failed_ops(&self) -> Vec<String> {
        self.ops_where(|o| matches!(o, Outcome::Failed(_)))
    }

    /// Ops of which at least one case was unsupported by the backend, in file order.
    pub fn unsupported_ops(&self) -> Vec<String> {
        self.ops_where(|o| matches!(o, Outcome::Unsupported(_)))
    }

    fn ops_where(&self, pred: impl Fn(&Outcome) -> bool) -> Vec<String> {
        let mut ops: Vec<String> = Vec::new();
        for case in self.cases.iter().filter(|c| pred(&c.outcome)) {
            if !ops.contains(&case.op) {
                ops.push(case.op.clone());
            }
        }
        ops
    }

    /// Every failed case with its failure.
    pub fn failures(&self) -> impl Iterator<Item = (&CaseResult, &Failure)> {
        self.cases.iter().filter_map(|c| match &c.outcome {
            Outcome::Failed(f) => Some((c, f)),
            _ => None,
        })
    }

    /// No case failed (cases not run or unsupported do not count as failures).
    pub fn is_success(&self) -> bool {
        self.failures().next().is_none()
    }

    /// The per-op table and the totals, as the `tiny-torch conformance` command prints them.
    pub fn table(&self) -> String {
        let ops = self.ops();
        let width = ops.iter().map(|s| s.op.len()).max().unwrap_or(0).max(5);
        let mut out = format!(
            "{:<width$}  {:>5}  {:>6}  {:>6}  {:>7}  {:>11}  notes\n",
            "op", "cases", "passed", "failed", "not run", "unsupported"
        );
        let row = |out: &mut String, name: &str, t: Totals, notes: &str| {
            out.push_str(&format!(
                "{name:<width$}  {:>5}  {:>6}  {:>6}  {:>7}  {:>11}  {notes}",
                t.cases, t.passed, t.failed, t.not_run, t.unsupported
            ));
            out.push('\n');
        };
        for s in &ops {
            let notes = if let Some((case, failure)) = &s.worst_failure {
                format!("worst: {case}: {failure}")
            } else if s.unsupported > 0 {
                s.unsupported_reason.clone().unwrap_or_default()
            } else if s.not_run > 0 {
                "not implemented by this runner".to_string()
            } else {
                format!("max |err| {:.1e}", s.max_abs_err)
            };
            let t = Totals {
                cases: s.cases,
                passed: s.passed,
                failed: s.failed,
                not_run: s.not_run,
                unsupported: s.unsupported,
            };
            row(&mut out, &s.op, t, &notes);
        }
        out.push_str(&format!("{}\n", "-".repeat(width + 50)));
        let t = self.totals();
        row(
            &mut out,
            "total",
            t,
            &format!("{} ops on {}", ops.len(), self.device),
        );
        out
    }
}
