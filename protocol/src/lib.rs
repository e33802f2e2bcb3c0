//! Wire types shared by every Airlock component.
//!
//! * [`state`]: task-instance and DAG-run states and the transitions between them.
//! * [`api`]: request and response bodies of the Task Execution API (Airflow 3.3, version
//!   [`API_VERSION`]). With the `schema` feature they also derive `utoipa::ToSchema`.
//! * [`comms`]: the supervisor ⇄ task-runner frames and messages.
//! * [`logs`]: where task logs live.
//! * [`time`]: how datetimes and durations travel (RFC 3339 in JSON, msgpack timestamps in frames).
//! * [`triggers`]: trigger class paths and the HTTP poll trigger's arguments.
//!
//! This crate depends on no other workspace crate, so every component can share it.

pub mod api;
pub mod comms;
pub mod dag;
pub mod ids;
pub mod logs;
pub mod state;
pub mod time;
pub mod triggers;

/// The Execution API version Airlock implements (the `airflow-api-version` request header).
pub const API_VERSION: &str = "2026-06-30";

/// The request header that carries [`API_VERSION`].
pub const API_VERSION_HEADER: &str = "airflow-api-version";

/// The response header that carries a renewed execution token.
pub const REFRESHED_TOKEN_HEADER: &str = "refreshed-api-token";
