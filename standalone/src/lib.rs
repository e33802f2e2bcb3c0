//! The `airlock` command's building blocks.
//!
//! * [`bundles`]: asks bundle executables for their DAGs and registers them.
//! * [`executor`]: the local executor, a bounded pool of `supervisor run` processes.
//! * [`scheduler`]: the scheduler process: bundle sync plus the executor, whose ticks drive the
//!   server's scheduling passes.
//!
//! The command line itself (`airlock standalone`, `airlock dags ...`) is in the binary.

pub mod bundles;
pub mod executor;
pub mod scheduler;
