//! The Airlock scheduler: everything that moves task instances and DAG runs forward without a
//! task asking.
//!
//! * [`pass`]: one pass over the store: runs, timed transitions, trigger rules, admission.
//! * [`rules`]: trigger rules and retry delays, pure functions.
//! * [`service`]: the [`Scheduler`] service: leadership, and when passes run.
//! * [`timetable`]: the data intervals of scheduled DAGs (cron with time zones, intervals).

mod admission;
pub mod backfill;
mod callbacks;
pub mod creation;
mod due;
pub mod pass;
pub mod rules;
mod runs;
pub mod service;
mod timed;
pub mod timetable;

pub use pass::{PassReport, SchedulerSettings, schedule};
pub use service::{PassObserver, Scheduler};
