//! # mesh-testkit
//!
//! What the workspace's tests share, in one place (dev-only, never published):
//!
//! * [`data`]: deterministic, incompressible content, so DAGs have distinct leaves.
//! * [`MemNet`]: mesh engines connected by libp2p's in-memory transport and driven in virtual
//!   time (libp2p-swarm-test style): the test owns the clock, runs the network until it is
//!   idle, and answers the engines' origin requests itself. No sockets, no sleeps.
//! * [`init_tracing`]: logs to the test output when `RUST_LOG` is set.

mod net;

pub use net::{MemNet, NodeId, TestNode};

use bytes::Bytes;

/// `len` deterministic pseudo-random bytes (xorshift64) from `seed`.
pub fn data(len: usize, seed: u64) -> Bytes {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect::<Vec<u8>>()
        .into()
}

/// Logs to the test output when `RUST_LOG` is set.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}
