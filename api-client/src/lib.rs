//! A typed client for the Task Execution API and Airlock's control API, used by the supervisor,
//! the triggerer, the scheduler and the `airlock` CLI.
//!
//! * Every request carries `airflow-api-version`, a `correlation-id` and the current bearer
//!   token; every response's `Refreshed-API-Token` replaces that token (this is how a workload
//!   token becomes an execution token, and how execution tokens stay fresh).
//! * Network errors and 5xx answers are retried with exponential backoff and jitter through an
//!   outage of up to the configured budget ([`RetryPolicy`]); 4xx answers are returned at once as
//!   [`ClientError::Status`] with the server's JSON `detail`.

mod client;
mod control;
mod error;
mod operate;
mod routes;

pub use airlock_process::backoff::{Backoff, DEFAULT_OUTAGE_BUDGET, RetryPolicy};
pub use client::{ApiClient, CallObserver, CallRecord, ClientConfig};
pub use error::ClientError;
pub use routes::TiQuery;
