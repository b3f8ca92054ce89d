//! Times `all_reduce` of f32 tensors through the MPI process group (host staging included):
//!
//! ```text
//! cargo build --release -p tiny-torch-distributed --features mpi --example allreduce_bench
//! mpirun -n 2 target/release/examples/allreduce_bench
//! ```
//!
//! Not a criterion bench on purpose: criterion chooses its iteration counts per process, and
//! ranks that run different numbers of collectives wait for each other forever. Every rank
//! here runs the same fixed schedule (3 warm-up rounds, then 20 timed), and rank 0 prints the
//! median and the fastest round per size.

use std::time::{Duration, Instant};
use tiny_torch_core::{DType, Result};
use tiny_torch_cpu::Cpu;
use tiny_torch_distributed::{DistBackend, ReduceOp, init_process_group};
use tiny_torch_tensor::Tensor;

fn main() -> Result<()> {
    let group = init_process_group(DistBackend::Mpi, &Cpu, Duration::from_secs(120))?;
    let (rank, world) = (group.rank(), group.world_size());
    if rank == 0 {
        println!("all_reduce(sum) of f32 through MPI, {world} ranks; 20 rounds after 3 warm-up");
        println!(
            "{:>12} {:>12} {:>12} {:>14}",
            "elements", "median ms", "best ms", "GB/s (median)"
        );
    }
    for n in [1usize << 10, 1 << 16, 1 << 20, 1 << 24] {
        let t = Tensor::ones(&[n], DType::F32, &Cpu)?;
        let mut times = Vec::new();
        for round in 0..23 {
            group.barrier()?;
            let start = Instant::now();
            group.all_reduce(&t, ReduceOp::Sum)?;
            if round >= 3 {
                times.push(start.elapsed().as_secs_f64() * 1e3);
            }
        }
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        if rank == 0 {
            let gb_per_s = (n * 4) as f64 / (median * 1e-3) / 1e9;
            println!("{n:>12} {median:>12.3} {:>12.3} {gb_per_s:>14.2}", times[0]);
        }
    }
    Ok(())
}
