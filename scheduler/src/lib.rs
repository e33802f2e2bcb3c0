//! The Airlock scheduler: everything that moves task instances and DAG runs forward without a
//! task asking.
//!
//! * [`pass`]: one pass over the store (runs, timed transitions, trigger rules), in one
//!   transaction, restart-safe.
//! * [`rules`]: trigger rules and retry delays, pure functions.

pub mod pass;
pub mod rules;
mod runs;
mod timed;

pub use pass::{PassReport, SchedulerSettings, schedule};
