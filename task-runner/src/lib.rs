//! The task side of the supervisor channel, for runner processes (no async runtime needed).
//!
//! * [`SupervisorComms`]: read `StartupDetails` from fd 0, then send requests and block for their
//!   responses, one at a time.
//! * [`TaskLogger`]: structured log lines to the descriptor in `AIRLOCK_LOG_FD` (stderr if unset).

mod comms;
mod logger;

pub use comms::{CommsError, SupervisorComms, request_socket_fd};
pub use logger::{Level, TaskLogger};
