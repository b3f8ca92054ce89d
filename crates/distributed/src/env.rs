//! The torchrun environment: `RANK`, `WORLD_SIZE`, `LOCAL_RANK`, `LOCAL_WORLD_SIZE`,
//! `MASTER_ADDR`, `MASTER_PORT` (what `tiny-torch run` sets for every rank it starts).

use tiny_torch_core::{Error, Result};

/// Where this process stands in the job, read from the environment (PyTorch's `env://`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DistEnv {
    pub rank: usize,
    pub world_size: usize,
    /// The rank among the processes of this node (the GPU it should use).
    pub local_rank: usize,
    pub local_world_size: usize,
    /// The host of rank 0, which serves the rendezvous store.
    pub master_addr: String,
    pub master_port: u16,
}

impl DistEnv {
    /// Reads the variables; a missing or malformed one is an error that names it.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Whether this process was started by a torchrun-like launcher (`WORLD_SIZE` is set).
    pub fn is_set() -> bool {
        std::env::var_os("WORLD_SIZE").is_some()
    }

    /// [`DistEnv::from_env`] over any variable source (for tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let number = |name: &str, default: Option<usize>| -> Result<usize> {
            match lookup(name) {
                Some(text) => text.trim().parse().map_err(|_| {
                    Error::distributed(
                        "init_process_group(env://)",
                        format!(
                            "environment variable {name}={text:?} is not a non-negative integer"
                        ),
                    )
                }),
                None => default.ok_or_else(|| {
                    Error::distributed(
                        "init_process_group(env://)",
                        format!(
                            "environment variable {name} is not set (start the ranks with \
                             `tiny-torch run --nproc-per-node N -- PROGRAM`, or set RANK, \
                             WORLD_SIZE, MASTER_ADDR and MASTER_PORT)"
                        ),
                    )
                }),
            }
        };
        let rank = number("RANK", None)?;
        let world_size = number("WORLD_SIZE", None)?;
        let local_rank = number("LOCAL_RANK", Some(rank))?;
        let local_world_size = number("LOCAL_WORLD_SIZE", Some(world_size))?;
        let master_addr = lookup("MASTER_ADDR").unwrap_or_else(|| "127.0.0.1".to_string());
        let master_port = number("MASTER_PORT", None)?;
        let master_port = u16::try_from(master_port).map_err(|_| {
            Error::distributed(
                "init_process_group(env://)",
                format!("MASTER_PORT={master_port} is not a TCP port"),
            )
        })?;
        if world_size == 0 || rank >= world_size {
            return Err(Error::distributed(
                "init_process_group(env://)",
                format!("RANK={rank} must be below WORLD_SIZE={world_size}"),
            ));
        }
        if local_rank >= local_world_size {
            return Err(Error::distributed(
                "init_process_group(env://)",
                format!(
                    "LOCAL_RANK={local_rank} must be below LOCAL_WORLD_SIZE={local_world_size}"
                ),
            ));
        }
        Ok(DistEnv {
            rank,
            world_size,
            local_rank,
            local_world_size,
            master_addr,
            master_port,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Result<DistEnv> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        DistEnv::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn reads_torchrun_variables() {
        let e = env(&[
            ("RANK", "3"),
            ("WORLD_SIZE", "4"),
            ("LOCAL_RANK", "1"),
            ("LOCAL_WORLD_SIZE", "2"),
            ("MASTER_ADDR", "node0"),
            ("MASTER_PORT", "29500"),
        ])
        .unwrap();
        assert_eq!(
            (e.rank, e.world_size, e.local_rank, e.local_world_size),
            (3, 4, 1, 2)
        );
        assert_eq!((e.master_addr.as_str(), e.master_port), ("node0", 29500));
    }

    #[test]
    fn errors_name_the_variable() {
        let missing = env(&[("RANK", "0"), ("MASTER_PORT", "1")]).unwrap_err();
        assert!(
            missing.to_string().contains("WORLD_SIZE is not set"),
            "{missing}"
        );
        let bad = env(&[("RANK", "x"), ("WORLD_SIZE", "2"), ("MASTER_PORT", "1")]).unwrap_err();
        assert!(bad.to_string().contains("RANK=\"x\""), "{bad}");
        let high = env(&[("RANK", "2"), ("WORLD_SIZE", "2"), ("MASTER_PORT", "1")]).unwrap_err();
        assert!(high.to_string().contains("below WORLD_SIZE=2"), "{high}");
        let port = env(&[("RANK", "0"), ("WORLD_SIZE", "1"), ("MASTER_PORT", "70000")]);
        assert!(port.unwrap_err().to_string().contains("not a TCP port"));
    }
}
