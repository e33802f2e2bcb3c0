//! The Airlock supervisor: the trusted half of a task try.
//!
//! `supervisor run <ti-uuid>` ([`run::run`]) reads what it needs from the Execution API, starts
//! the untrusted runner ([`spawn`]) over a socketpair, answers its requests ([`proxy`]) by calling
//! the API, heartbeats ([`heartbeat`]), captures its logs ([`logs`]), enforces its timeout, and
//! reports how it ended ([`outcome`]), and, when asked, traces the try ([`trace`]). The runner never sees the API token ([`secrets`]) nor, with
//! Landlock, the paths it is told to hide ([`sandbox`]).

pub mod cgroup;
pub mod channel;
pub mod config;
pub mod heartbeat;
pub mod logs;
pub mod outcome;
pub mod proxy;
pub mod run;
pub mod sandbox;
pub mod secrets;
pub mod ship;
pub mod spawn;
pub mod trace;

pub use config::SupervisorConfig;
pub use run::{RunReport, SupervisorError, run};
