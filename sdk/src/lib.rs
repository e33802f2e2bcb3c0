//! Write Airlock tasks in Rust.
//!
//! ```no_run
//! use airlock_sdk::{Bundle, Context, Dag, Task, TaskResult};
//! use serde_json::json;
//!
//! fn extract(_ctx: &mut Context<'_>) -> TaskResult {
//!     Ok(json!([1, 2, 3]))
//! }
//!
//! fn load(ctx: &mut Context<'_>) -> TaskResult {
//!     let rows: Vec<i64> = ctx.xcom_pull("extract")?.unwrap_or_default();
//!     ctx.log().info(&format!("loading {} rows", rows.len()));
//!     Ok(json!(rows.len()))
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     let etl = Dag::new("etl")
//!         .task(Task::new("extract", extract).retries(2))
//!         .task(Task::new("load", load).after(["extract"]));
//!     Bundle::new("my-bundle").dag(etl).main()
//! }
//! ```
//!
//! A task method returns a JSON value (pushed as its `return_value` XCom) or a [`TaskError`]:
//! `?` turns any error into a failure; [`TaskError::skip`], [`TaskError::retry`],
//! [`TaskError::reschedule_at`] and [`TaskError::defer`] end it otherwise. Operators that
//! defer implement [`Operator::resume`].

mod bundle;
mod context;
mod dag;
mod error;
mod operator;
mod runtime;
pub mod testing;
pub mod triggers;

pub use airlock_protocol::api::ConnectionResponse;
pub use airlock_protocol::dag::CallbackEvent;
pub use airlock_protocol::dag::{NotifierDefinition as Notifier, TriggerRule};
pub use airlock_task_runner::{Level, TaskLogger};
pub use bundle::Bundle;
pub use context::{Callback, Context, RETURN_VALUE};
pub use dag::{Dag, Task};
pub use error::{Deferral, TaskError, TaskResult};
pub use operator::Operator;
pub use triggers::{HttpPoll, ResponseCondition, Trigger};
