//! Running a test body as several processes: the test re-executes its own binary (filtered to
//! itself) under a launcher, with an environment variable that makes the body play one rank.

#![allow(dead_code)]

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Set in the processes that play a rank.
pub const WORKER_ENV: &str = "TINY_TORCH_TEST_WORKER";

/// Whether this process is one rank of a test (not the test runner).
pub fn is_worker() -> bool {
    std::env::var_os(WORKER_ENV).is_some()
}

/// What a launched job did.
#[derive(Debug)]
pub struct Outcome {
    pub success: bool,
    pub output: String,
    pub elapsed: Duration,
}

/// Whether `tool` is required by `TINY_TORCH_REQUIRE` (CI), so that a missing one fails.
pub fn required(tool: &str) -> bool {
    std::env::var("TINY_TORCH_REQUIRE")
        .map(|v| v.split(',').any(|t| t.trim() == tool))
        .unwrap_or(false)
}

/// The arguments that make this test binary run only `test` and show its output.
pub fn self_args(test: &str) -> Vec<String> {
    vec![
        test.to_string(),
        "--exact".into(),
        "--nocapture".into(),
        "--test-threads=1".into(),
    ]
}

/// Runs `command` to completion or kills it after `limit` (then the outcome says so).
pub fn run_with_limit(mut command: Command, limit: Duration) -> Outcome {
    let start = Instant::now();
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the job");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the job") {
            break Some(status);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let elapsed = start.elapsed();
    let mut output = out.join().unwrap_or_default();
    output.push_str(&err.join().unwrap_or_default());
    if status.is_none() {
        output.push_str(&format!("\n[killed by the test after {limit:?}]"));
    }
    Outcome {
        success: status.is_some_and(|s| s.success()),
        output,
        elapsed,
    }
}
