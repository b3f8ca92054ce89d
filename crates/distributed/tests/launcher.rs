//! The launcher (`tiny-torch run`): ranks get the torchrun environment, meet at rank 0's store,
//! their output comes back prefixed, and a rank that fails or hangs ends the job quickly.
//! Each test launches its own binary (filtered to itself) as the program of every rank.

mod common;

use common::{WORKER_ENV, is_worker, self_args};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tiny_torch_distributed::launch::{LaunchConfig, Stream, launch_with};
use tiny_torch_distributed::{DistEnv, TcpStore};

/// The rank's store client (rank 0 serves it).
fn rendezvous(timeout: Duration) -> (DistEnv, TcpStore) {
    let env = DistEnv::from_env().expect("the launcher's environment");
    let store = if env.rank == 0 {
        TcpStore::serve(env.master_port, timeout).expect("serve the store")
    } else {
        TcpStore::connect(&env.master_addr, env.master_port, timeout).expect("reach the store")
    };
    (env, store)
}

/// Launches test `name` on `ranks` processes; returns the result, the lines and the time.
fn run(name: &str, ranks: usize) -> (Result<(), String>, Vec<(usize, String)>, Duration) {
    let mut config = LaunchConfig::new(ranks, std::env::current_exe().unwrap(), self_args(name));
    config.master_port = 0;
    config.env.push((WORKER_ENV.into(), "1".into()));
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink_lines = lines.clone();
    let start = Instant::now();
    let result = launch_with(
        &config,
        Arc::new(move |rank, _stream: Stream, line: &str| {
            sink_lines.lock().unwrap().push((rank, line.to_string()))
        }),
    );
    let lines = lines.lock().unwrap().clone();
    (result.map_err(|e| e.to_string()), lines, start.elapsed())
}

#[test]
fn ranks_get_the_torchrun_environment_and_meet_at_the_store() {
    if is_worker() {
        let (env, store) = rendezvous(Duration::from_secs(30));
        store
            .set(&format!("rank/{}", env.rank), &[env.rank as u8 * 10])
            .unwrap();
        store.barrier(env.world_size).unwrap();
        let seen: Vec<u8> = (0..env.world_size)
            .map(|r| store.get(&format!("rank/{r}")).unwrap()[0])
            .collect();
        println!(
            "rank {} of {} (local {} of {}) saw {seen:?}",
            env.rank, env.world_size, env.local_rank, env.local_world_size
        );
        store.barrier(env.world_size).unwrap(); // rank 0 serves until everyone has read
        return;
    }
    let (result, lines, _) = run(
        "ranks_get_the_torchrun_environment_and_meet_at_the_store",
        3,
    );
    result.unwrap_or_else(|e| panic!("{e}\n{lines:#?}"));
    for rank in 0..3 {
        let expected = format!("rank {rank} of 3 (local {rank} of 3) saw [0, 10, 20]");
        assert!(
            lines
                .iter()
                .any(|(r, l)| *r == rank && l.ends_with(&expected)),
            "missing {expected:?} from rank {rank} in {lines:#?}"
        );
    }
}

#[test]
fn a_failing_rank_stops_the_others() {
    if is_worker() {
        let (env, store) = rendezvous(Duration::from_secs(120));
        store.barrier(env.world_size).unwrap();
        if env.rank == 1 {
            eprintln!("rank 1 fails on purpose");
            std::process::exit(3);
        }
        // The others wait for something that never comes: the launcher must stop them.
        let _ = store.get("never");
        return;
    }
    let (result, lines, elapsed) = run("a_failing_rank_stops_the_others", 3);
    let err = result.expect_err("the job fails");
    assert!(err.contains("rank 1 failed (exit code 3)"), "{err}");
    assert!(
        lines
            .iter()
            .any(|(r, l)| *r == 1 && l.ends_with("rank 1 fails on purpose")),
        "{lines:#?}"
    );
    assert!(elapsed < Duration::from_secs(60), "took {elapsed:?}");
}

#[test]
fn a_hanging_rank_is_a_timeout_not_a_hang() {
    if is_worker() {
        let (env, store) = rendezvous(Duration::from_secs(2));
        store.barrier(env.world_size).unwrap();
        if env.rank == 1 {
            std::thread::sleep(Duration::from_secs(120));
            return;
        }
        let err = store
            .barrier(env.world_size)
            .expect_err("rank 1 never arrives");
        eprintln!("rank 0: {err}");
        std::process::exit(1);
    }
    let (result, lines, elapsed) = run("a_hanging_rank_is_a_timeout_not_a_hang", 2);
    let err = result.expect_err("the job fails");
    assert!(err.contains("rank 0 failed (exit code 1)"), "{err}");
    assert!(
        lines
            .iter()
            .any(|(r, l)| *r == 0 && l.contains("was not set within 2s")),
        "{lines:#?}"
    );
    assert!(elapsed < Duration::from_secs(60), "took {elapsed:?}");
}
