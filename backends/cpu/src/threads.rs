//! The CPU backend's threads: rayon's global pool, with the program's main thread in it.
//!
//! A thread outside rayon's pool that starts parallel work hands it to the pool's workers and
//! sleeps until they finish; each of a training step's ~500 parallel regions then costs a
//! hand-off, a wake-up of the workers and one of the caller, and the caller's core runs
//! nothing meanwhile. PyTorch's OpenMP regions instead run on a team that includes the calling
//! thread. So, when the first CPU buffer is allocated on the program's main thread (Linux) and
//! the pool is to have two threads or more, the backend builds rayon's global pool with the
//! main thread as one of its workers (`ThreadPoolBuilder::use_current_thread`): `RAYON_NUM_THREADS`
//! = 2 then means the main thread and one more, and the main thread runs its share of every
//! parallel region. On the ResNet-18 32x32 training step (2 threads): 35 K context switches per
//! run fell to 4 K, CPU time by 15 %, and the step went from 65-70 to 61-63 ms in four of five
//! alternations.
//!
//! Never with one thread: other threads' parallel work (data-loader workers, say) must always
//! find a worker that is not the main thread, which may be blocked waiting for them. A program
//! that configures the global pool itself before its first CPU op keeps its own, and
//! `TINY_TORCH_MAIN_THREAD_IN_POOL=0` turns this off.

/// Builds rayon's global pool with the calling thread in it, once per process, when the
/// caller is the main thread (see the module documentation); does nothing otherwise.
pub(crate) fn join_main_thread_to_pool() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let opted_out = std::env::var("TINY_TORCH_MAIN_THREAD_IN_POOL").is_ok_and(|v| v == "0");
        if main_thread_should_join(on_main_thread(), pool_threads(), opted_out) {
            // An error means the global pool already exists: whoever built it chose its shape.
            let _ = rayon::ThreadPoolBuilder::new()
                .use_current_thread()
                .build_global();
        }
    });
}

/// Whether the main thread joins the pool: on it, not opted out, and with another worker
/// left for the other threads' work.
fn main_thread_should_join(on_main: bool, threads: usize, opted_out: bool) -> bool {
    on_main && threads >= 2 && !opted_out
}

/// The size rayon gives its global pool by default: `RAYON_NUM_THREADS` when it is a positive
/// number, else the available parallelism.
fn pool_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Whether the calling thread is the process's main thread (its thread id is the process id).
fn on_main_thread() -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: both calls only read the calling thread's and process's ids.
        unsafe { libc::gettid() == libc::getpid() }
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_main_thread_joins_and_never_alone() {
        assert!(main_thread_should_join(true, 2, false));
        assert!(main_thread_should_join(true, 16, false));
        assert!(!main_thread_should_join(true, 1, false));
        assert!(!main_thread_should_join(false, 2, false));
        assert!(!main_thread_should_join(true, 2, true));
        let main_thread = std::thread::spawn(on_main_thread).join().unwrap();
        assert!(!main_thread);
    }
}
