//! The launcher behind `tiny-torch run` (PyTorch's `torchrun`, static rendezvous):
//!
//! ```text
//! tiny-torch run --nproc-per-node N [--nnodes M --node-rank R --master-addr A --master-port P]
//!                -- PROGRAM ARGS...
//! ```
//!
//! It starts `N` copies of `PROGRAM` on this node with `RANK`, `WORLD_SIZE`, `LOCAL_RANK`,
//! `LOCAL_WORLD_SIZE`, `GROUP_RANK`, `MASTER_ADDR` and `MASTER_PORT` set (the global rank of
//! local process `l` on node `R` is `R * N + l`), forwards each line they print with a
//! `[rankK]: ` prefix, and waits. When one rank fails, the launcher stops the others on this
//! node at once and reports which rank failed and how; the other nodes' ranks then fail too,
//! by timeout (their collectives or the store), and their launchers stop theirs.
//!
//! As torchrun, each rank runs in a process group of its own, and stopping a rank stops its
//! group (a rank's shell script and the program it started alike): `SIGTERM`, then after a
//! grace period `SIGKILL`. A `SIGINT`, `SIGTERM` or `SIGHUP` sent to the launcher (Ctrl-C
//! included: the ranks' own groups do not get the terminal's) is passed on to every rank, which
//! is then stopped the same way, and the launcher returns an error naming the signal.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tiny_torch_core::{Error, Result};

/// What `tiny-torch run` was asked to start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaunchConfig {
    pub nproc_per_node: usize,
    pub nnodes: usize,
    pub node_rank: usize,
    pub master_addr: String,
    /// 0 picks a free port (single node only).
    pub master_port: u16,
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Extra environment variables for every rank.
    pub env: Vec<(String, String)>,
}

/// The usage of `tiny-torch run`.
pub const USAGE: &str = "\
tiny-torch run [OPTIONS] -- PROGRAM [ARGS...]

Starts PROGRAM once per process of this node with the torchrun variables set (RANK,
WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, GROUP_RANK, MASTER_ADDR, MASTER_PORT), prefixes
their output with [rankK]:, and stops every rank of this node when one fails.

Options:
  --nproc-per-node N   processes on this node (default 1)
  --nnodes M           number of nodes (default 1)
  --node-rank R        this node's index, 0..M (default 0)
  --master-addr A      host of rank 0 (default 127.0.0.1)
  --master-port P      port of the rendezvous store on rank 0's host (default 29500;
                       0 picks a free one on a single node)
";

impl LaunchConfig {
    /// A single-node job of `nproc_per_node` copies of `program`.
    pub fn new(nproc_per_node: usize, program: impl Into<PathBuf>, args: Vec<String>) -> Self {
        LaunchConfig {
            nproc_per_node,
            nnodes: 1,
            node_rank: 0,
            master_addr: "127.0.0.1".into(),
            master_port: 29500,
            program: program.into(),
            args,
            env: Vec::new(),
        }
    }

    /// Parses the arguments of `tiny-torch run` (see [`USAGE`]).
    pub fn from_args(args: &[String]) -> Result<Self> {
        let split = args.iter().position(|a| a == "--");
        let (options, command) = match split {
            Some(i) => (&args[..i], &args[i + 1..]),
            None => (args, &[][..]),
        };
        let Some((program, program_args)) = command.split_first() else {
            return Err(Error::invalid(
                "tiny-torch run",
                "no program given: tiny-torch run [OPTIONS] -- PROGRAM [ARGS...]",
            ));
        };
        let mut config = LaunchConfig::new(1, program, program_args.to_vec());
        let mut iter = options.iter();
        while let Some(arg) = iter.next() {
            let (name, inline) = match arg.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (arg.as_str(), None),
            };
            let value = inline
                .or_else(|| iter.next().cloned())
                .ok_or_else(|| Error::invalid("tiny-torch run", format!("{name} needs a value")))?;
            let number = |value: &str| -> Result<usize> {
                value.parse().map_err(|_| {
                    Error::invalid(
                        "tiny-torch run",
                        format!("{name} expects a number, got {value:?}"),
                    )
                })
            };
            match name {
                "--nproc-per-node" | "--nproc_per_node" => config.nproc_per_node = number(&value)?,
                "--nnodes" => config.nnodes = number(&value)?,
                "--node-rank" | "--node_rank" => config.node_rank = number(&value)?,
                "--master-addr" | "--master_addr" => config.master_addr = value,
                "--master-port" | "--master_port" => {
                    config.master_port = u16::try_from(number(&value)?).map_err(|_| {
                        Error::invalid(
                            "tiny-torch run",
                            format!("--master-port {value} is not a TCP port"),
                        )
                    })?
                }
                other => {
                    return Err(Error::invalid(
                        "tiny-torch run",
                        format!("unknown option {other}"),
                    ));
                }
            }
        }
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<()> {
        if self.nproc_per_node == 0 || self.nnodes == 0 {
            return Err(Error::invalid(
                "tiny-torch run",
                "--nproc-per-node and --nnodes must be at least 1",
            ));
        }
        // Bounds no real job reaches, so that a typo neither overflows the world size nor
        // forks processes without end.
        const MAX_PER_NODE: usize = 4096;
        const MAX_WORLD: usize = 1 << 20;
        if self.nproc_per_node > MAX_PER_NODE
            || self
                .nproc_per_node
                .checked_mul(self.nnodes)
                .is_none_or(|w| w > MAX_WORLD)
        {
            return Err(Error::invalid(
                "tiny-torch run",
                format!(
                    "--nproc-per-node {} and --nnodes {} ask for too many processes (at most \
                     {MAX_PER_NODE} per node and {MAX_WORLD} in all)",
                    self.nproc_per_node, self.nnodes
                ),
            ));
        }
        if self.node_rank >= self.nnodes {
            return Err(Error::invalid(
                "tiny-torch run",
                format!(
                    "--node-rank {} must be below --nnodes {}",
                    self.node_rank, self.nnodes
                ),
            ));
        }
        if self.master_port == 0 && self.nnodes > 1 {
            return Err(Error::invalid(
                "tiny-torch run",
                "--master-port 0 (a free port) works on one node only: give every node the same port",
            ));
        }
        Ok(())
    }

    pub fn world_size(&self) -> usize {
        self.nproc_per_node * self.nnodes
    }
}

/// Which stream a forwarded line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Receives each line a rank prints: `(global rank, stream, line without the newline)`.
pub type LineSink = Arc<dyn Fn(usize, Stream, &str) + Send + Sync>;

/// Runs the job, printing the ranks' lines with a `[rankK]: ` prefix on this process's stdout
/// and stderr. `Ok` when every rank exited with status 0.
pub fn launch(config: &LaunchConfig) -> Result<()> {
    launch_with(
        config,
        // `writeln!`, not `println!`: a closed stdout (`| head`) must not panic the forwarder.
        Arc::new(|rank, stream, line| match stream {
            Stream::Stdout => {
                let _ = writeln!(std::io::stdout().lock(), "[rank{rank}]: {line}");
            }
            Stream::Stderr => {
                let _ = writeln!(std::io::stderr().lock(), "[rank{rank}]: {line}");
            }
        }),
    )
}

/// [`launch`] with the lines handed to `sink`.
pub fn launch_with(config: &LaunchConfig, sink: LineSink) -> Result<()> {
    config.validate()?;
    let port = match config.master_port {
        0 => free_port()?,
        port => port,
    };
    let world_size = config.world_size();
    // Ranks share the cores of the node: split rayon's threads unless the user chose.
    let threads_per_rank = std::thread::available_parallelism()
        .map(|n| (n.get() / config.nproc_per_node).max(1))
        .unwrap_or(1);
    let mut ranks: Vec<(usize, Child)> = Vec::new();
    let mut forwarders = Vec::new();
    for local_rank in 0..config.nproc_per_node {
        let rank = config.node_rank * config.nproc_per_node + local_rank;
        let mut command = Command::new(&config.program);
        command
            .args(&config.args)
            .env("RANK", rank.to_string())
            .env("WORLD_SIZE", world_size.to_string())
            .env("LOCAL_RANK", local_rank.to_string())
            .env("LOCAL_WORLD_SIZE", config.nproc_per_node.to_string())
            .env("GROUP_RANK", config.node_rank.to_string())
            .env("MASTER_ADDR", &config.master_addr)
            .env("MASTER_PORT", port.to_string())
            .envs(config.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if std::env::var_os("RAYON_NUM_THREADS").is_none() {
            command.env("RAYON_NUM_THREADS", threads_per_rank.to_string());
        }
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            command.process_group(0);
        }
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                stop_all(&mut ranks);
                return Err(Error::distributed(
                    "tiny-torch run",
                    format!(
                        "cannot start {} for rank {rank}: {e}",
                        config.program.display()
                    ),
                ));
            }
        };
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        forwarders.push(forward(rank, Stream::Stdout, stdout, sink.clone()));
        forwarders.push(forward(rank, Stream::Stderr, stderr, sink.clone()));
        ranks.push((rank, child));
    }
    let failure = monitor(&mut ranks);
    signals::restore();
    // The ranks have exited; their last lines are in the pipes. A process a rank started and
    // left behind may hold a pipe open: wait a little, not for it.
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    for forwarder in forwarders {
        while !forwarder.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if forwarder.is_finished() {
            let _ = forwarder.join();
        }
    }
    match failure {
        None => Ok(()),
        Some(Failure::Rank(rank, status)) => Err(Error::distributed(
            "tiny-torch run",
            format!(
                "rank {rank} failed ({}); stopped the other ranks of this node",
                describe(status)
            ),
        )),
        Some(Failure::Signal(signal)) => Err(Error::distributed(
            "tiny-torch run",
            format!("interrupted by signal {signal}; passed it on and stopped every rank"),
        )),
    }
}

/// Why a launch ended early.
enum Failure {
    /// This rank exited unsuccessfully.
    Rank(usize, ExitStatus),
    /// The launcher got this signal.
    Signal(i32),
}

/// Waits for every rank; at the first failure, or a signal to the launcher, stops them all.
fn monitor(ranks: &mut [(usize, Child)]) -> Option<Failure> {
    signals::install();
    let mut running: Vec<bool> = vec![true; ranks.len()];
    loop {
        if let Some(signal) = signals::received() {
            for (_, child) in ranks.iter() {
                signal_group(child, signal);
            }
            stop_all(ranks);
            return Some(Failure::Signal(signal));
        }
        for (i, (rank, child)) in ranks.iter_mut().enumerate() {
            if !running[i] {
                continue;
            }
            match child.try_wait() {
                Ok(Some(status)) => {
                    running[i] = false;
                    if !status.success() {
                        let rank = *rank;
                        stop_all(ranks);
                        return Some(Failure::Rank(rank, status));
                    }
                }
                Ok(None) => {}
                Err(_) => running[i] = false,
            }
        }
        if !running.iter().any(|&r| r) {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How long stopped ranks get between `SIGTERM` and `SIGKILL`.
const GRACE: Duration = Duration::from_secs(5);

/// Stops every rank's process group: `SIGTERM`, up to [`GRACE`] to exit, then `SIGKILL`; and
/// reaps the ranks.
fn stop_all(ranks: &mut [(usize, Child)]) {
    #[cfg(unix)]
    let term = libc::SIGTERM;
    #[cfg(not(unix))]
    let term = 15;
    for (_, child) in ranks.iter_mut() {
        signal_group(child, term);
    }
    let deadline = std::time::Instant::now() + GRACE;
    while std::time::Instant::now() < deadline
        && ranks
            .iter_mut()
            .any(|(_, child)| matches!(child.try_wait(), Ok(None)))
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    for (_, child) in ranks.iter_mut() {
        #[cfg(unix)]
        signal_group(child, libc::SIGKILL);
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Sends `signal` to the process group a rank leads (the rank and whatever it started).
fn signal_group(child: &Child, signal: i32) {
    #[cfg(unix)]
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill(2) with a negative pid signals that process group; it has no other
        // effect on this process.
        unsafe {
            libc::kill(-pid, signal);
        }
    }
    #[cfg(not(unix))]
    let _ = (child, signal);
}

/// The launcher's handlers for `SIGINT`, `SIGTERM` and `SIGHUP`: they record the signal (an
/// atomic store, all a handler may do), and the monitor loop passes it on to the ranks.
mod signals {
    use std::sync::atomic::{AtomicI32, Ordering};

    static RECEIVED: AtomicI32 = AtomicI32::new(0);

    #[cfg(unix)]
    const SIGNALS: [i32; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

    #[cfg(unix)]
    extern "C" fn record(signal: libc::c_int) {
        RECEIVED.store(signal, Ordering::SeqCst);
    }

    /// Installs the handlers (the launcher's own default would end it and orphan the ranks).
    pub(super) fn install() {
        RECEIVED.store(0, Ordering::SeqCst);
        #[cfg(unix)]
        for signal in SIGNALS {
            // SAFETY: `record` is async-signal-safe (one atomic store).
            unsafe {
                libc::signal(signal, record as *const () as libc::sighandler_t);
            }
        }
    }

    /// Puts the default handlers back.
    pub(super) fn restore() {
        #[cfg(unix)]
        for signal in SIGNALS {
            // SAFETY: restores the default disposition.
            unsafe {
                libc::signal(signal, libc::SIG_DFL);
            }
        }
    }

    /// The signal received since `install`, if any.
    pub(super) fn received() -> Option<i32> {
        match RECEIVED.load(Ordering::SeqCst) {
            0 => None,
            signal => Some(signal),
        }
    }
}

fn describe(status: ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("killed by signal {signal}");
        }
    }
    match status.code() {
        Some(code) => format!("exit code {code}"),
        None => status.to_string(),
    }
}

fn forward(
    rank: usize,
    stream: Stream,
    pipe: impl Read + Send + 'static,
    sink: LineSink,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut line = Vec::new();
        while let Ok(n) = reader.read_until(b'\n', &mut line) {
            if n == 0 {
                break;
            }
            let text = String::from_utf8_lossy(&line);
            sink(rank, stream, text.trim_end_matches(['\n', '\r']));
            line.clear();
        }
    })
}

fn free_port() -> Result<u16> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| Error::distributed("tiny-torch run", format!("cannot find a free port: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_torchrun_style_options() {
        let config = LaunchConfig::from_args(&args(
            "--nproc-per-node 4 --nnodes=2 --node-rank 1 --master-addr node0 --master-port 1234 -- train --lr 0.1",
        ))
        .unwrap();
        assert_eq!(config.nproc_per_node, 4);
        assert_eq!((config.nnodes, config.node_rank), (2, 1));
        assert_eq!(
            (config.master_addr.as_str(), config.master_port),
            ("node0", 1234)
        );
        assert_eq!(config.program, PathBuf::from("train"));
        assert_eq!(config.args, args("--lr 0.1"));
        assert_eq!(config.world_size(), 8);
    }

    #[test]
    fn bad_options_are_errors() {
        for (text, needle) in [
            ("--nproc-per-node 2", "no program given"),
            ("--nproc-per-node x -- p", "expects a number"),
            ("--nnodes 2 --node-rank 2 -- p", "must be below --nnodes 2"),
            ("--bogus 1 -- p", "unknown option --bogus"),
            ("--nnodes 2 --master-port 0 -- p", "one node only"),
            ("--nproc-per-node 0 -- p", "at least 1"),
        ] {
            let err = LaunchConfig::from_args(&args(text))
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }
}
