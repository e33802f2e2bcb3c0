//! The `airlock` command's building blocks.
//!
//! * [`bundles`]: asks bundle executables for their DAGs and registers them.
//! * [`executor`]: the local executor, a bounded pool of `supervisor run` processes.
//! * [`metrics`]: the executor's metrics.
//! * [`worker`]: bundle sync plus the executor (`airlock worker`); the server's scheduler
//!   decides what runs.
//!
//! The command line itself (`airlock standalone`, `airlock dags ...`) is in the binary.

pub mod bundles;
pub mod executor;
pub mod metrics;
pub mod worker;
